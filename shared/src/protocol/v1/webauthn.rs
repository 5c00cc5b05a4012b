//! Passkeys and security keys (WebAuthn, CHARTER.md C15).
//!
//! Every ceremony has two requests: the server answers `begin` with the options the
//! browser hands to `navigator.credentials.create()` or `.get()` (as JSON, in the shape
//! the WebAuthn JSON serialisation defines) and a ceremony id; `finish` brings back the
//! ceremony id and the browser's answer. A ceremony serves once and expires.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The answer to a `begin`: what to pass to the browser, and the id to bring back.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WebauthnCeremony {
    /// The id of this ceremony, for the `finish` request.
    pub ceremony_id: String,
    /// `{"publicKey": …}`: the creation or request options, binary fields in base64url.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// When the ceremony expires (unix milliseconds).
    pub expires_at: i64,
}

/// `POST /api/v1/me/security-keys/register`: begins registering a key.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterKeyRequest {
    /// A name to tell the key apart, e.g. « Clé USB bleue ».
    pub name: String,
    /// Ask the authenticator to keep the account on it (a passkey), so that it can sign
    /// in without the password.
    #[serde(default)]
    pub passwordless: bool,
}

/// `POST /api/v1/me/security-keys/register/finish`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRegistrationRequest {
    /// The ceremony id of the `begin` answer.
    pub ceremony_id: String,
    /// The browser's `PublicKeyCredential` (attestation), JSON-serialised.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// `POST /api/v1/auth/webauthn`: the second step with a key, after the password.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebauthnLoginRequest {
    /// The challenge of the password step.
    pub challenge: String,
    /// The ceremony id the password step answered.
    pub ceremony_id: String,
    /// The browser's `PublicKeyCredential` (assertion), JSON-serialised.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// As in the TOTP step: the token in the body, for programs.
    #[serde(default)]
    pub bearer: bool,
}

/// `POST /api/v1/auth/passwordless/finish`: sign-in with a passkey alone.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordlessLoginRequest {
    /// The ceremony id of `POST /api/v1/auth/passwordless`.
    pub ceremony_id: String,
    /// The browser's `PublicKeyCredential` (assertion), JSON-serialised.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// As in the TOTP step: the token in the body, for programs.
    #[serde(default)]
    pub bearer: bool,
}

/// One of the caller's keys: `GET /api/v1/me/security-keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecurityKey {
    /// The credential id (base64url).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it signs in without the password (a passkey kept on the authenticator).
    pub passwordless: bool,
    /// The authenticator model it declared (AAGUID), all zeros when it declared none.
    pub aaguid: String,
    /// When it was registered (unix milliseconds).
    pub created_at: i64,
    /// When it last signed in, if ever.
    pub last_used_at: Option<i64>,
}

/// `PATCH /api/v1/me/security-keys/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameKeyRequest {
    /// The new name.
    pub name: String,
}
