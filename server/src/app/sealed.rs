//! Sealed texts the server keeps without reading them: a field report's description and
//! answer, a meeting's notes and minutes, a referral's note. Each arrives as a signed
//! envelope; the server checks whose it is, never what it says.

use passerelle_shared::crypto::{DeviceSigningPublicKey, Envelope};

use crate::db::{self, entities::channel};
use crate::error::Result;

/// Whether `envelope` was sealed for `channel`, under an epoch the channel has, by a live
/// device of `user_id`, with a signature that verifies. The services phrase their own
/// refusal, so this only answers yes or no.
pub async fn sealed_by(
    db: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    channel: &channel::Model,
    envelope: &Envelope,
) -> Result<bool> {
    let epoch_known = i64::try_from(envelope.epoch).is_ok_and(|e| e >= 1 && e <= channel.epoch);
    if envelope.channel_id != channel.id || !epoch_known {
        return Ok(false);
    }
    let signing_key = db::keys::find_device(db, &envelope.sender_device)
        .await?
        .filter(|d| d.user_id == user_id && d.revoked_at.is_none())
        .and_then(|d| DeviceSigningPublicKey::from_base64url(&d.signing_key).ok());
    Ok(signing_key.is_some_and(|key| envelope.verify_signature(&key).is_ok()))
}
