//! Rotating agreement keys (docs/PROTOCOL.md §23): a device's signed prekeys, served with
//! the device list, and the deletion of the wraps a device has fetched and stored.
//!
//! The server checks a prekey's signature against the device's registered certificate
//! and keeps only the newest per device (a higher serial than the stored one); it holds
//! no secret. A wrap's ciphertext is deleted once its device acknowledges it, or by the
//! retention job after `retention.wrap_retention_days`, so that a later copy of the
//! database holds nothing a later-stolen device key opens.

use std::collections::HashMap;

use passerelle_shared::crypto::{DeviceCertificate, SignedPrekey};
use passerelle_shared::protocol::v1::channels::KeysDelivered;
use passerelle_shared::protocol::v1::keys::PublishPrekey;
use serde_json::json;

use crate::app::channels::open_channel;
use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::db::{self, entities::device_prekey};
use crate::error::{ApiError, Result};
use crate::policy::Access;
use crate::state::AppState;

/// Most epochs one acknowledgement may name.
pub const MAX_DELIVERED_EPOCHS: usize = 1000;

async fn deny(
    state: &AppState,
    user: &CurrentUser,
    action: &'static str,
    target: &str,
    reason: &str,
) {
    state
        .record_denial(
            user.actor(),
            action,
            Some(target.to_owned()),
            json!({ "reason": reason }),
        )
        .await;
}

/// Stores the caller's device's new signed prekey: its own live device, a valid
/// signature by that device's signing key, a serial above the stored one.
pub async fn publish(
    state: &AppState,
    user: &CurrentUser,
    device_id: &str,
    request: PublishPrekey,
) -> Result<()> {
    const ACTION: &str = "prekey_publish";
    let prekey = request.prekey;
    let device = db::keys::find_device(&state.db, device_id)
        .await?
        .filter(|d| d.user_id == user.user_id && d.revoked_at.is_none());
    let Some(device) = device else {
        deny(state, user, ACTION, device_id, "not_own_live_device").await;
        return Err(ApiError::NotFound);
    };
    let certificate: DeviceCertificate =
        serde_json::from_str(&device.certificate).map_err(ApiError::internal)?;
    if let Err(err) = prekey.verify(&certificate) {
        deny(state, user, ACTION, device_id, &format!("{err:?}")).await;
        return Err(ApiError::Unprocessable("invalid_prekey"));
    }
    let serial =
        i64::try_from(prekey.serial).map_err(|_| ApiError::Unprocessable("invalid_prekey"))?;
    // Takes turns with the message writer for SQLite's write lock (see `write_turn`).
    let turn = state.messages.write_turn().await;
    let txn = db::begin_write(&state.db).await?;
    let stored = db::prekeys::replace_if_newer(
        &txn,
        device_prekey::Model {
            device_id: device.id.clone(),
            serial,
            prekey: serde_json::to_string(&prekey).map_err(ApiError::internal)?,
            published_at: state.now_ms(),
        },
    )
    .await?;
    if !stored {
        txn.rollback().await?;
        drop(turn);
        deny(state, user, ACTION, device_id, "replayed_or_older").await;
        return Err(ApiError::Conflict("prekey_outdated"));
    }
    txn.commit().await?;
    drop(turn);
    state
        .record(
            user.actor(),
            "prekey_published",
            Some(device.id),
            Outcome::Success,
            json!({ "serial": prekey.serial }),
        )
        .await?;
    Ok(())
}

/// The current prekeys of these devices, by device id, as stored (each was verified
/// when published; clients verify again).
pub(crate) async fn current_of(
    state: &AppState,
    device_ids: Vec<String>,
) -> Result<HashMap<String, SignedPrekey>> {
    db::prekeys::of_devices(&state.db, device_ids)
        .await?
        .into_iter()
        .map(|row| {
            let prekey = serde_json::from_str(&row.prekey).map_err(ApiError::internal)?;
            Ok((row.device_id, prekey))
        })
        .collect()
}

/// Deletes the caller's device's wraps of these epochs of a channel: the device says it
/// has stored their keys. A replayed acknowledgement changes nothing.
pub async fn delivered(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    request: KeysDelivered,
) -> Result<()> {
    const ACTION: &str = "keys_delivered";
    open_channel(state, user, channel_id, ACTION, Access::Read).await?;
    if request.epochs.is_empty() || request.epochs.len() > MAX_DELIVERED_EPOCHS {
        deny(state, user, ACTION, channel_id, "epoch_count").await;
        return Err(ApiError::Unprocessable("invalid_epochs"));
    }
    let Ok(epochs) = request
        .epochs
        .iter()
        .map(|e| i64::try_from(*e))
        .collect::<Result<Vec<i64>, _>>()
    else {
        deny(state, user, ACTION, channel_id, "epoch_out_of_range").await;
        return Err(ApiError::Unprocessable("invalid_epochs"));
    };
    let own = db::keys::find_device(&state.db, &request.device_id)
        .await?
        .is_some_and(|d| d.user_id == user.user_id && d.revoked_at.is_none());
    if !own {
        deny(state, user, ACTION, channel_id, "not_own_live_device").await;
        return Err(ApiError::NotFound);
    }
    let turn = state.messages.write_turn().await;
    let deleted = db::epoch_keys::mark_delivered(
        &state.db,
        channel_id,
        &request.device_id,
        epochs,
        state.now_ms(),
    )
    .await?;
    drop(turn);
    if deleted > 0 {
        state
            .record(
                user.actor(),
                "epoch_keys_delivered",
                Some(channel_id.to_owned()),
                Outcome::Success,
                json!({ "device": request.device_id, "wraps_deleted": deleted }),
            )
            .await?;
    }
    Ok(())
}
