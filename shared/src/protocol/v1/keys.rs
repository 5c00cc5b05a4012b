//! The key directory (docs/PROTOCOL.md §4–§6): identity keys, devices and the encrypted
//! key backup. The server verifies every signature it is given and holds no secret.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::{DeviceCertificate, IdentityPublicKey};

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
}

/// `GET /api/v1/keys/users/{user_id}`: a colleague's identity and devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserKeys {
    /// Account id.
    pub user_id: String,
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
