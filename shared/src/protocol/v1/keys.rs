//! The key directory (docs/PROTOCOL.md §4–§6): identity keys, devices and the encrypted
//! key backup. The server verifies every signature it is given and holds no secret.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::{
    DeviceCertificate, DeviceCertificateRequest, IdentityPublicKey, SignedPrekey, WrappedEpochKey,
};
use crate::ids::UserId;

/// `PUT /api/v1/keys/identity`: publish one's identity key.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PublishIdentity {
    /// The identity public key (uncompressed SEC1 P-256, base64url).
    #[schema(value_type = String)]
    pub identity_key: IdentityPublicKey,
}

/// `POST /api/v1/keys/devices`: register a device certified by one's identity key.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisterDevice {
    /// The certificate: device keys, self-signature and identity signature.
    #[schema(value_type = Object)]
    pub certificate: DeviceCertificate,
    /// A name the user recognises (« Ordinateur du bureau »).
    pub name: String,
}

/// A registered device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceInfo {
    /// Its certificate, for clients to verify against the identity key themselves.
    #[schema(value_type = Object)]
    pub certificate: DeviceCertificate,
    /// Its name.
    pub name: String,
    /// Registered at (unix ms).
    pub created_at: i64,
    /// Revoked at (unix ms), if revoked.
    pub revoked_at: Option<i64>,
    /// Its current signed prekey (docs/PROTOCOL.md §23), once it published one: new
    /// epoch keys are wrapped to it, after checking its signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub prekey: Option<SignedPrekey>,
}

/// `PUT /api/v1/keys/devices/{id}/prekey`: the device's new signed prekey
/// (docs/PROTOCOL.md §23). Its serial must be above the one stored.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishPrekey {
    /// The prekey, signed by the device's signing key.
    #[schema(value_type = Object)]
    pub prekey: SignedPrekey,
}

/// `GET /api/v1/keys/users/{user_id}`: a colleague's identity and devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserKeys {
    /// Account id.
    pub user_id: UserId,
    /// Their identity key, once published.
    #[schema(value_type = Option<String>)]
    pub identity_key: Option<IdentityPublicKey>,
    /// How many times the identity key was replaced: a client that saw another value
    /// warns that the key changed.
    pub identity_version: i64,
    /// Their devices, revoked ones included (so clients can explain withheld keys).
    pub devices: Vec<DeviceInfo>,
}

/// `GET /api/v1/keys/backup`: the encrypted key backup (the ETag header carries its version).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyBackupBody {
    /// Version, incremented at every write.
    pub version: i64,
    /// The encrypted backup (docs/PROTOCOL.md §9), opaque to the server.
    pub data: serde_json::Value,
}

/// `PUT /api/v1/keys/backup` with `If-Match: "<version>"` (or `If-None-Match: *` for
/// the first one), so that two devices cannot overwrite each other.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PutKeyBackup {
    /// The encrypted backup.
    pub data: serde_json::Value,
}

/// `PUT /api/v1/keys/backup/head` with `If-Match: "<version>"` (or `If-None-Match: *`):
/// the head of a paged key backup (docs/PROTOCOL.md §10.8), naming pages already stored.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutKeyBackupHead {
    /// The head, for this user.
    #[schema(value_type = Object)]
    pub head: crate::crypto::KeyBackupHead,
}

/// What `PUT /api/v1/keys/backup/head` did: the new version (also in the ETag) and how
/// many pages no head names any more were deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyBackupHeadWritten {
    /// The backup's version after the write.
    pub version: i64,
    /// Pages deleted because the new head does not name them.
    pub pages_deleted: u64,
}

/// `PUT /api/v1/keys/backup/pages/{hash}`: one page, stored under the SHA-256 of its
/// `nonce ‖ ciphertext`, which must be `{hash}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutKeyBackupPage {
    /// The page, for this user.
    #[schema(value_type = Object)]
    pub page: crate::crypto::KeyBackupPage,
}

/// `GET /api/v1/keys/backup/pages/{hash}`: one stored page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyBackupPageBody {
    /// The page, as uploaded.
    #[schema(value_type = Object)]
    pub page: crate::crypto::KeyBackupPage,
}

/// `POST /api/v1/keys/reset`: new keys for the account in one step (docs/PROTOCOL.md
/// §5.6): the identity key, the first device certified by it and the first key backup
/// sealed under the new recovery code. Used at enrolment (with `enrol`) and when the
/// recovery code is lost; allowed only while the account has no live device. Either all
/// of it is stored (the new backup replacing the old) or nothing is, so no device is left
/// orphaned and no identity is left without a device and a backup.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetKeys {
    /// The new identity public key (uncompressed SEC1 P-256, base64url).
    #[schema(value_type = String)]
    pub identity_key: IdentityPublicKey,
    /// The first device's certificate, signed by the new identity key.
    #[schema(value_type = Object)]
    pub certificate: DeviceCertificate,
    /// The device's name.
    pub name: String,
    /// The first key backup under the new recovery code (§10.4), for this user.
    #[schema(value_type = Object)]
    pub backup: crate::crypto::KeyBackup,
    /// A first enrolment, not a reset: refused (409 `identity_exists`) if the account
    /// already has an identity key, so that a client that believes it is the first never
    /// replaces an identity another device published (docs/PROTOCOL.md §5.5).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enrol: bool,
}

/// What `POST /api/v1/keys/reset` stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeysReset {
    /// The identity key's version (0 for the first, one more at every reset).
    pub identity_version: i64,
    /// The key backup's version (its ETag) after the reset.
    pub backup_version: i64,
    /// The device registered.
    pub device: DeviceInfo,
}

/// How long a link request waits for an existing device (docs/PROTOCOL.md §5.5.1).
pub const LINK_REQUEST_TTL_SECONDS: u64 = 600;

/// Most wraps in one `POST /api/v1/keys/devices/{id}/epoch-keys`.
pub const MAX_REWRAPPED_KEYS: usize = 1_000;

/// `POST /api/v1/keys/link-requests`: a new device asks to join its user's account.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateLinkRequest {
    /// The device's self-signed certificate request (§5.2).
    #[schema(value_type = Object)]
    pub request: DeviceCertificateRequest,
    /// A name the user recognises (« Téléphone »).
    pub name: String,
}

/// Where a link request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// Waiting for an existing device.
    Pending,
    /// Certified by an existing device: the new device is registered.
    Linked,
    /// Refused or cancelled by one of the devices.
    Refused,
    /// Nobody answered in time.
    Expired,
}

/// A link request, as relayed to the user's devices (`link_request` frame) and polled by
/// the new device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LinkRequest {
    /// Its id.
    pub id: String,
    /// The new device's certificate request: the existing device computes the link code
    /// (§6.2) from it and certifies it.
    #[schema(value_type = Object)]
    pub request: DeviceCertificateRequest,
    /// The new device's name.
    pub name: String,
    /// Where it stands.
    pub status: LinkStatus,
    /// Made at (unix ms).
    pub created_at: i64,
    /// Expires at (unix ms).
    pub expires_at: i64,
}

/// `GET /api/v1/keys/link-requests`: the caller's pending requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LinkRequestList {
    /// Pending, newest first.
    pub requests: Vec<LinkRequest>,
}

/// `POST /api/v1/keys/link-requests/{id}/approve`: the certificate of the request, made by
/// a device holding the identity key after the user compared the link codes.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApproveLink {
    /// The certificate: the request plus the identity signature.
    #[schema(value_type = Object)]
    pub certificate: DeviceCertificate,
}

/// `POST /api/v1/keys/devices/{id}/epoch-keys`: past epoch keys re-wrapped for a newly
/// linked device of the same user (§7.6).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RewrappedKeys {
    /// The wraps, all for that device.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<WrappedEpochKey>,
}

/// The answer to [`RewrappedKeys`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredKeys {
    /// How many wraps were new (the others were already held).
    pub stored: usize,
}
