//! Epochs: when a channel needs a new key, publishing it for exactly the current member
//! devices, and each device's wrapped keys.

use std::collections::HashSet;

use passerelle_shared::crypto::{DeviceSigningPublicKey, WithheldReason, WrappedEpochKey};
use passerelle_shared::protocol::v1::channels::{
    DeviceKeysPage, DeviceRef, EpochState, PublishEpoch, WithheldEpoch,
};
use passerelle_shared::protocol::v1::ws::ServerFrame;
use serde_json::json;

use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::bus::BusEvent;
use crate::db::{self, entities::channel};
use crate::error::{ApiError, Result};
use crate::messages::{EpochOutcome, EpochWrite};
use crate::policy::{self, Access};
use crate::state::AppState;

use super::{frame_text, open_channel};

/// The devices that must receive a channel's next epoch key: every live device of
/// every current member.
pub(crate) async fn required_devices(state: &AppState, channel_id: &str) -> Result<Vec<DeviceRef>> {
    let members: Vec<String> = db::members::of_channel(&state.db, channel_id)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let mut devices: Vec<DeviceRef> = db::keys::key_recipients(&state.db, members)
        .await?
        .into_iter()
        .map(|d| DeviceRef {
            user_id: d.user_id.into(),
            device_id: d.id.into(),
        })
        .collect();
    devices.sort();
    Ok(devices)
}

/// The epoch in force and the devices a new one must cover.
pub async fn epoch_state(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
) -> Result<EpochState> {
    let (channel, _) = open_channel(state, user, channel_id, "epoch_read", Access::Read).await?;
    Ok(EpochState {
        channel_id: channel.id.clone().into(),
        epoch: u64::try_from(channel.epoch).unwrap_or_default(),
        rotation_required: needs_rotation(&channel, state.now_ms()),
        devices: required_devices(state, channel_id).await?,
    })
}

/// Whether the next message needs a new epoch (membership or devices changed, 100
/// messages, or a week).
pub(crate) fn needs_rotation(channel: &channel::Model, now_ms: i64) -> bool {
    let week_ms =
        i64::try_from(passerelle_shared::crypto::MAX_EPOCH_AGE_SECONDS).unwrap_or(i64::MAX) * 1000;
    channel.rotation_required
        || channel.epoch == 0
        || u64::try_from(channel.epoch_messages).unwrap_or(u64::MAX)
            >= passerelle_shared::crypto::MAX_MESSAGES_PER_EPOCH
        || now_ms - channel.epoch_started_at >= week_ms
}

/// Publishes a new epoch's key, wrapped for exactly the current member devices and
/// signed by one of the caller's devices. The first complete set wins; a racing
/// publisher gets `epoch_conflict` and uses the winner's key.
pub async fn publish_epoch(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    mut request: PublishEpoch,
) -> Result<()> {
    let (channel, _) =
        open_channel(state, user, channel_id, "epoch_publish", Access::Write).await?;
    let deny = |reason: &'static str| async move {
        state
            .record_denial(
                user.actor(),
                "epoch_publish",
                Some(channel_id.to_owned()),
                json!({ "reason": reason }),
            )
            .await;
    };
    let expected_epoch = u64::try_from(channel.epoch).unwrap_or_default() + 1;
    if request.epoch != expected_epoch {
        deny("wrong_epoch").await;
        return Err(ApiError::Conflict("epoch_conflict"));
    }
    let required: HashSet<String> = required_devices(state, channel_id)
        .await?
        .into_iter()
        .map(|d| d.device_id.into_string())
        .collect();
    let covered: HashSet<String> = request
        .keys
        .iter()
        .map(|k| k.recipient_device.clone())
        .collect();
    let senders: HashSet<&str> = request
        .keys
        .iter()
        .map(|k| k.sender_device.as_str())
        .collect();
    let commitments: HashSet<[u8; 32]> = request
        .keys
        .iter()
        .map(|k| *k.commitment.as_bytes())
        .collect();
    // Devices the sender could not verify are listed, not skipped (§7.5): wraps and
    // withheld entries together cover the required devices exactly, each once.
    let withheld: HashSet<String> = request
        .withheld
        .iter()
        .map(|w| w.device_id.to_string())
        .collect();
    let sender_reasons = request.withheld.iter().all(|w| {
        matches!(
            w.reason,
            WithheldReason::UnverifiedDevice | WithheldReason::RevokedDevice
        )
    });
    let well_formed = covered.is_disjoint(&withheld)
        && covered.union(&withheld).cloned().collect::<HashSet<_>>() == required
        && covered.len() == request.keys.len()
        && withheld.len() == request.withheld.len()
        && sender_reasons
        && senders.len() == 1
        && commitments.len() == 1
        && request
            .keys
            .iter()
            .all(|k| k.channel_id == channel_id && k.epoch == request.epoch);
    if !well_formed {
        deny("devices_or_fields_mismatch").await;
        return Err(ApiError::Unprocessable("invalid_epoch_keys"));
    }
    let sender_id = senders.into_iter().next().unwrap_or_default().to_owned();
    let sender = db::keys::find_device(&state.db, &sender_id)
        .await?
        .filter(|d| d.user_id == user.user_id && d.revoked_at.is_none());
    let Some(sender) = sender else {
        deny("sender_device_not_callers").await;
        return Err(ApiError::Unprocessable("invalid_epoch_keys"));
    };
    if !covered.contains(&sender_id) {
        deny("sender_device_not_covered").await;
        return Err(ApiError::Unprocessable("invalid_epoch_keys"));
    }
    let signing_key =
        passerelle_shared::crypto::DeviceSigningPublicKey::from_base64url(&sender.signing_key)
            .map_err(ApiError::internal)?;
    let (keys, all_signed) = verify_wraps(request.keys, signing_key).await;
    request.keys = keys;
    if !all_signed {
        deny("bad_signature").await;
        return Err(ApiError::Unprocessable("invalid_epoch_keys"));
    }
    let now = state.now_ms();
    let epoch =
        i64::try_from(request.epoch).map_err(|_| ApiError::Unprocessable("invalid_epoch_keys"))?;
    let rows = request
        .keys
        .iter()
        .map(|k| {
            Ok(db::entities::epoch_key::Model {
                channel_id: channel_id.to_owned(),
                epoch,
                recipient_device: k.recipient_device.clone(),
                sender_device: k.sender_device.clone(),
                wrapped: serde_json::to_string(k).map_err(ApiError::internal)?,
                created_at: now,
                delivered_at: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let withheld_rows = request
        .withheld
        .iter()
        .map(|w| {
            Ok(db::entities::withheld_key::Model {
                channel_id: channel_id.to_owned(),
                epoch,
                device_id: w.device_id.to_string(),
                reason: serde_json::to_value(w.reason)
                    .map_err(ApiError::internal)?
                    .as_str()
                    .unwrap_or("other")
                    .to_owned(),
                created_at: now,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Stored in the message writer's next transaction (group commit, `messages`), which
    // re-checks the epoch and the device set there.
    let outcome = state
        .messages
        .store_epoch(EpochWrite {
            channel_id: channel_id.to_owned(),
            epoch,
            devices: covered.union(&withheld).cloned().collect(),
            keys: rows,
            withheld: withheld_rows,
        })
        .await;
    match outcome {
        EpochOutcome::Stored => {}
        EpochOutcome::LostRace => {
            deny("lost_race").await;
            return Err(ApiError::Conflict("epoch_conflict"));
        }
        // The device set may have changed between the check above and the writer's
        // transaction.
        EpochOutcome::DevicesChanged => {
            deny("devices_changed").await;
            return Err(ApiError::Unprocessable("invalid_epoch_keys"));
        }
        EpochOutcome::Unavailable => {
            return Err(ApiError::internal(anyhow::anyhow!(
                "the message writer could not store an epoch publication"
            )));
        }
    }
    state
        .record(
            user.actor(),
            "epoch_keys_distributed",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({
                "epoch": request.epoch,
                "devices": request.keys.len(),
                "withheld": request.withheld.iter().map(|w| json!({ "device": w.device_id, "reason": w.reason })).collect::<Vec<_>>(),
                "sender_device": sender_id
            }),
        )
        .await?;
    for entry in &request.withheld {
        let frame = frame_text(&ServerFrame::KeyWithheld {
            channel_id: channel_id.into(),
            epoch: request.epoch,
            reason: entry.reason,
        })?;
        state.bus.publish(BusEvent::Device {
            device_id: entry.device_id.to_string(),
            frame,
        });
    }
    for key in request.keys {
        let frame = frame_text(&ServerFrame::Keys {
            channel_id: channel_id.into(),
            epoch: request.epoch,
            keys: vec![key.clone()],
        })?;
        state.bus.publish(BusEvent::Device {
            device_id: key.recipient_device,
            frame,
        });
    }
    Ok(())
}

/// Whether the sender signed every wrap, checked on the blocking pool in one chunk per
/// core, and the wraps given back in their order. A publication carries one wrap per
/// member device: for a 100-member channel, 100 P-256 verifications, several
/// milliseconds of CPU that, on the runtime's threads, held up the relay of every
/// connection they served (issue 22, docs/BENCH.md).
async fn verify_wraps(
    keys: Vec<WrappedEpochKey>,
    signing_key: DeviceSigningPublicKey,
) -> (Vec<WrappedEpochKey>, bool) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let per_chunk = keys.len().div_ceil(cores).max(WRAPS_PER_CHUNK_AT_LEAST);
    let mut rest = keys;
    let mut chunks = Vec::new();
    while !rest.is_empty() {
        let tail = rest.split_off(per_chunk.min(rest.len()));
        chunks.push(std::mem::replace(&mut rest, tail));
    }
    let checks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let signing_key = signing_key.clone();
            tokio::task::spawn_blocking(move || {
                let signed = chunk
                    .iter()
                    .all(|k| k.verify_signature(&signing_key).is_ok());
                (chunk, signed)
            })
        })
        .collect();
    let mut keys = Vec::new();
    let mut all_signed = true;
    for check in checks {
        match check.await {
            Ok((chunk, signed)) => {
                keys.extend(chunk);
                all_signed &= signed;
            }
            // A verification that panicked verified nothing.
            Err(_) => all_signed = false,
        }
    }
    (keys, all_signed)
}

/// Wraps below which a publication is verified in one chunk: a hop to the blocking pool
/// costs more than a few verifications.
const WRAPS_PER_CHUNK_AT_LEAST: usize = 8;

/// A device's wrapped keys of a channel, from the epoch its user joined at, and the
/// epochs whose key was withheld from it.
pub async fn device_keys(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    device_id: &str,
) -> Result<DeviceKeysPage> {
    let (_, membership) = open_channel(state, user, channel_id, "keys_read", Access::Read).await?;
    let device = db::keys::find_device(&state.db, device_id)
        .await?
        .filter(|d| d.user_id == user.user_id);
    let Some(device) = device else {
        state
            .record_denial(
                user.actor(),
                "keys_read",
                Some(channel_id.to_owned()),
                json!({ "reason": "not_own_device" }),
            )
            .await;
        return Err(ApiError::NotFound);
    };
    // A revoked device gets nothing more, not even the keys it was once given (C3).
    if device.revoked_at.is_some() {
        state
            .record_denial(
                user.actor(),
                "keys_read",
                Some(channel_id.to_owned()),
                json!({ "reason": "device_revoked", "device": device.id }),
            )
            .await;
        return Err(ApiError::Blocked(policy::Refusal::DeviceRevoked));
    }
    let keys =
        db::epoch_keys::for_device(&state.db, channel_id, device_id, membership.joined_epoch)
            .await?
            .iter()
            .map(|row| serde_json::from_str(&row.wrapped).map_err(ApiError::internal))
            .collect::<Result<Vec<WrappedEpochKey>>>()?;
    let withheld =
        db::epoch_keys::withheld_for(&state.db, channel_id, device_id, membership.joined_epoch)
            .await?
            .into_iter()
            .map(|row| WithheldEpoch {
                epoch: u64::try_from(row.epoch).unwrap_or_default(),
                reason: serde_json::from_value(serde_json::Value::String(row.reason))
                    .unwrap_or(WithheldReason::Other),
            })
            .collect();
    Ok(DeviceKeysPage { keys, withheld })
}

#[cfg(test)]
mod tests {
    use super::*;
    use passerelle_shared::crypto::{
        DeviceCertificateRequest, DeviceKeys, EpochKey, IdentityKeyPair,
    };

    /// `count` wraps of one epoch key, signed by one sender device, and its signing key.
    fn signed_wraps(count: usize) -> (Vec<WrappedEpochKey>, DeviceSigningPublicKey) {
        let identity = IdentityKeyPair::generate().unwrap();
        let sender = DeviceKeys::generate().unwrap();
        let key = EpochKey::generate().unwrap();
        let wraps = (0..count)
            .map(|i| {
                let device = DeviceKeys::generate().unwrap();
                let request = DeviceCertificateRequest::new(
                    "membre",
                    &format!("appareil-{i}"),
                    identity.public_key(),
                    &device,
                )
                .unwrap();
                let certificate = identity.certify(&request).unwrap();
                key.wrap("canal", 2, "expediteur", &sender, &certificate)
                    .unwrap()
            })
            .collect();
        (wraps, sender.public_keys().signing.clone())
    }

    #[tokio::test]
    async fn a_publication_checked_in_chunks_keeps_its_order_and_fails_for_any_one_bad_wrap() {
        let count = 3 * WRAPS_PER_CHUNK_AT_LEAST + 1;
        let (wraps, signing) = signed_wraps(count);
        let recipients = |wraps: &[WrappedEpochKey]| {
            wraps
                .iter()
                .map(|w| w.recipient_device.clone())
                .collect::<Vec<_>>()
        };
        let (back, signed) = verify_wraps(wraps.clone(), signing.clone()).await;
        assert!(signed);
        assert_eq!(recipients(&back), recipients(&wraps));
        // A signature moved from another wrap is valid, but not for this one: whichever
        // chunk holds it, the publication is refused.
        for bad in [0, count / 2, count - 1] {
            let mut tampered = wraps.clone();
            tampered[bad].signature = wraps[(bad + 1) % count].signature.clone();
            let (_, signed) = verify_wraps(tampered, signing.clone()).await;
            assert!(!signed, "wrap {bad} was not signed for its recipient");
        }
    }
}
