//! Authentication: the password step, the TOTP step, sessions and the current account.
//!
//! Logging in takes two requests (CHARTER.md C15): `POST /api/v1/auth/login` checks the
//! password and answers a short-lived challenge; `POST /api/v1/auth/totp` checks the TOTP
//! code against it and opens a session. An account without TOTP enrols during that first
//! login: the password step answers the `otpauth://` URI and its QR code.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Attributes, Role};

/// `POST /api/v1/auth/login`.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
pub struct LoginRequest {
    /// The account's login.
    pub login: String,
    /// The password; never logged.
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What the client must do after a correct password.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NextStep {
    /// Type the current code of the authenticator app.
    Totp,
    /// Scan the QR code, then type the first code.
    TotpEnrolment,
    /// Use a passkey or security key with the options of `webauthn` (a TOTP code is
    /// accepted instead unless the account's role requires a key).
    Webauthn,
}

/// The answer to a correct password.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginChallenge {
    /// Opaque, short-lived proof that the password step succeeded.
    pub challenge: String,
    /// What comes next.
    pub next: NextStep,
    /// Present when `next` is `totp_enrolment`.
    pub enrolment: Option<TotpEnrolment>,
    /// Present when `next` is `webauthn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webauthn: Option<super::webauthn::WebauthnCeremony>,
}

/// What a user needs to add Passerelle to an authenticator app.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpEnrolment {
    /// The `otpauth://totp/…` URI.
    pub otpauth_uri: String,
    /// The secret in base32, for typing by hand.
    pub secret_base32: String,
    /// The URI as a QR code, an SVG image.
    pub qr_svg: String,
}

/// `POST /api/v1/auth/totp`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpRequest {
    /// The challenge of the password step.
    pub challenge: String,
    /// The 6-digit code.
    pub code: String,
    /// `true` for programs (the SDK): the token is returned in the body for use as
    /// `Authorization: Bearer`. Browsers leave it out and get an HttpOnly cookie.
    #[serde(default)]
    pub bearer: bool,
}

/// A session was opened.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionOpened {
    /// The session's id (not its token).
    pub session_id: String,
    /// The bearer token, only when asked for; never stored by the server.
    pub token: Option<String>,
    /// When the session ends at the latest (unix milliseconds).
    pub expires_at: i64,
    /// Who is logged in.
    pub me: Me,
}

impl std::fmt::Debug for SessionOpened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOpened")
            .field("session_id", &self.session_id)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("expires_at", &self.expires_at)
            .field("me", &self.me)
            .finish()
    }
}

/// The logged-in account: `GET /api/v1/me`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// Account id.
    pub id: String,
    /// Login.
    pub login: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// The one institution of the account.
    pub institution: InstitutionRef,
    /// The one role of the account.
    pub role: Role,
    /// Attributes checked by legal regimes.
    pub attributes: Attributes,
    /// The role requires a passkey or security key and the account has none: until one is
    /// registered, the session can do nothing else.
    #[serde(default)]
    pub must_register_security_key: bool,
}

/// An institution, as shown next to a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InstitutionRef {
    /// Institution id.
    pub id: String,
    /// Its name, e.g. « Police municipale ».
    pub name: String,
}

/// One of the caller's sessions: `GET /api/v1/auth/sessions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// Session id.
    pub id: String,
    /// `browser` (cookie) or `bearer` (SDK).
    pub kind: String,
    /// Opened at (unix ms).
    pub created_at: i64,
    /// Last used at (unix ms).
    pub last_seen_at: i64,
    /// Ends at the latest (unix ms).
    pub expires_at: i64,
    /// Client address at opening.
    pub ip: Option<String>,
    /// Browser or program, as it described itself.
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// `POST /api/v1/me/password`.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
pub struct ChangePasswordRequest {
    /// The current password.
    pub current_password: String,
    /// The new one: 12 characters at least.
    pub new_password: String,
}

impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePasswordRequest { <redacted> }")
    }
}
