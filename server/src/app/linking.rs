//! Admitting a device from an existing device (docs/PROTOCOL.md §5.5, §5.5.1): the server
//! relays the new device's certificate request to the user's other devices and registers
//! the certificate one of them makes, after the user compared the link codes. The server
//! never certifies anything itself: it holds no identity key.
//!
//! Then re-wrapping (§7.6): the existing device gives the new one the past epoch keys it
//! holds, which the server accepts only for epochs the user is entitled to and with the
//! commitment already stored for them, so no key can be substituted.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use passerelle_shared::crypto::{DeviceSigningPublicKey, IdentityPublicKey, WrappedEpochKey};
use passerelle_shared::protocol::v1::keys::{
    ApproveLink, CreateLinkRequest, DeviceInfo, LinkRequest, LinkStatus, RegisterDevice,
    LINK_REQUEST_TTL_SECONDS, MAX_REWRAPPED_KEYS,
};
use passerelle_shared::protocol::v1::ws::ServerFrame;
use serde_json::json;

use crate::app::channels::frame_text;
use crate::app::keys;
use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::bus::BusEvent;
use crate::db::{self, entities::device_link};
use crate::error::{ApiError, Result};
use crate::policy::Lifecycle;
use crate::state::AppState;

const LINKED: &str = "linked";
/// Requests one account may make within [`LINK_REQUEST_TTL_SECONDS`]: enough for a few
/// attempts, not a flood of rows.
const MAX_REQUESTS_PER_TTL: u64 = 10;
const REFUSED: &str = "refused";

/// The wire form of a stored request, its status as of `now_ms`.
fn link_request(row: &device_link::Model, now_ms: i64) -> Result<LinkRequest> {
    let status = match row.status.as_str() {
        db::links::PENDING if row.expires_at <= now_ms => LinkStatus::Expired,
        db::links::PENDING => LinkStatus::Pending,
        LINKED => LinkStatus::Linked,
        _ => LinkStatus::Refused,
    };
    Ok(LinkRequest {
        id: row.id.clone(),
        request: serde_json::from_str(&row.request).map_err(ApiError::internal)?,
        name: row.name.clone(),
        status,
        created_at: row.created_at,
        expires_at: row.expires_at,
    })
}

/// Tells every connection of the user that a request appeared or changed.
fn relay(state: &AppState, user_id: &str, request: LinkRequest) -> Result<()> {
    let frame = frame_text(&ServerFrame::LinkRequest(request))?;
    state.bus.publish(BusEvent::User {
        user_id: user_id.to_owned(),
        frame,
    });
    Ok(())
}

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

/// A new device asks to join the caller's account. Its request must be for the caller
/// and self-signed against the caller's current identity key; it replaces any request
/// still pending, so one account has one open request at a time.
pub async fn create(
    state: &AppState,
    user: &CurrentUser,
    body: CreateLinkRequest,
) -> Result<LinkRequest> {
    const ACTION: &str = "device_link_request";
    let request = body.request;
    if request.user_id != user.user_id {
        deny(
            state,
            user,
            ACTION,
            &request.device_id,
            "request_for_another_user",
        )
        .await;
        return Err(ApiError::Unprocessable("invalid_link_request"));
    }
    let Some(identity) = db::keys::find_identity(&state.db, &user.user_id).await? else {
        deny(state, user, ACTION, &request.device_id, "no_identity_key").await;
        return Err(ApiError::Conflict("identity_missing"));
    };
    let identity =
        IdentityPublicKey::from_base64url(&identity.public_key).map_err(ApiError::internal)?;
    if request.verify_self_signature(&identity).is_err() {
        deny(
            state,
            user,
            ACTION,
            &request.device_id,
            "bad_self_signature",
        )
        .await;
        return Err(ApiError::Unprocessable("invalid_link_request"));
    }
    let now = state.now_ms();
    let ttl_ms = i64::try_from(LINK_REQUEST_TTL_SECONDS * 1000).map_err(ApiError::internal)?;
    if db::links::made_since(&state.db, &user.user_id, now - ttl_ms).await? >= MAX_REQUESTS_PER_TTL
    {
        deny(state, user, ACTION, &request.device_id, "too_many_requests").await;
        return Err(ApiError::TooManyAttempts);
    }
    db::links::forget_expired(&state.db, &user.user_id, now - ttl_ms).await?;
    if db::keys::find_device(&state.db, &request.device_id)
        .await?
        .is_some()
        || db::links::device_id_claimed(&state.db, &request.device_id, now).await?
    {
        deny(state, user, ACTION, &request.device_id, "device_exists").await;
        return Err(ApiError::Conflict("device_exists"));
    }
    let name = body.name.trim().chars().take(100).collect::<String>();
    let row = device_link::Model {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.user_id.clone(),
        device_id: request.device_id.clone(),
        request: serde_json::to_string(&request).map_err(ApiError::internal)?,
        name: if name.is_empty() {
            "Nouvel appareil".into()
        } else {
            name
        },
        status: db::links::PENDING.into(),
        created_at: now,
        expires_at: now + ttl_ms,
    };
    let replaced = db::links::close_all_pending(&state.db, &user.user_id, REFUSED).await?;
    let row = db::links::insert(&state.db, row).await?;
    state
        .record(
            user.actor(),
            "device_link_requested",
            Some(row.device_id.clone()),
            Outcome::Success,
            json!({ "request": row.id, "replaced": replaced.len() }),
        )
        .await?;
    for old in replaced {
        let refused = device_link::Model {
            status: REFUSED.into(),
            ..old
        };
        relay(state, &user.user_id, link_request(&refused, now)?)?;
    }
    let created = link_request(&row, now)?;
    relay(state, &user.user_id, created.clone())?;
    Ok(created)
}

/// The caller's pending requests, for a device that connects after one was made.
pub async fn pending(state: &AppState, user: &CurrentUser) -> Result<Vec<LinkRequest>> {
    let now = state.now_ms();
    db::links::pending_of(&state.db, &user.user_id, now)
        .await?
        .iter()
        .map(|row| link_request(row, now))
        .collect()
}

/// One of the caller's requests; another user's is "not found", and recorded.
async fn own(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    action: &'static str,
) -> Result<device_link::Model> {
    match db::links::find(&state.db, id).await? {
        Some(row) if row.user_id == user.user_id => Ok(row),
        _ => {
            deny(state, user, action, id, "not_owner").await;
            Err(ApiError::NotFound)
        }
    }
}

/// Where one of the caller's requests stands (the new device polls it).
pub async fn get(state: &AppState, user: &CurrentUser, id: &str) -> Result<LinkRequest> {
    let row = own(state, user, id, "device_link_read").await?;
    link_request(&row, state.now_ms())
}

/// Registers the certificate an existing device made for a pending request. It must be
/// the request itself plus a valid identity signature: nothing of the request may change.
pub async fn approve(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    body: ApproveLink,
) -> Result<DeviceInfo> {
    const ACTION: &str = "device_link_approve";
    let row = own(state, user, id, ACTION).await?;
    let now = state.now_ms();
    let current = link_request(&row, now)?;
    if current.status != LinkStatus::Pending {
        deny(state, user, ACTION, id, "link_closed").await;
        return Err(ApiError::Conflict("link_closed"));
    }
    let certificate = body.certificate;
    let request = &current.request;
    let same = certificate.user_id == request.user_id
        && certificate.device_id == request.device_id
        && certificate.keys == request.keys
        && certificate.self_signature == request.self_signature;
    if !same {
        deny(state, user, ACTION, id, "certificate_differs_from_request").await;
        return Err(ApiError::Unprocessable("invalid_certificate"));
    }
    let device = keys::register_device(
        state,
        user,
        RegisterDevice {
            certificate,
            name: row.name.clone(),
        },
    )
    .await?;
    db::links::close(&state.db, id, LINKED).await?;
    state
        .record(
            user.actor(),
            "device_linked",
            Some(row.device_id.clone()),
            Outcome::Success,
            json!({ "request": id }),
        )
        .await?;
    relay(
        state,
        &user.user_id,
        LinkRequest {
            status: LinkStatus::Linked,
            ..current
        },
    )?;
    Ok(device)
}

/// Refuses (existing device) or cancels (new device) a pending request.
pub async fn refuse(state: &AppState, user: &CurrentUser, id: &str) -> Result<()> {
    const ACTION: &str = "device_link_refuse";
    let row = own(state, user, id, ACTION).await?;
    let now = state.now_ms();
    if link_request(&row, now)?.status != LinkStatus::Pending
        || !db::links::close(&state.db, id, REFUSED).await?
    {
        deny(state, user, ACTION, id, "link_closed").await;
        return Err(ApiError::Conflict("link_closed"));
    }
    state
        .record(
            user.actor(),
            "device_link_refused",
            Some(row.device_id.clone()),
            Outcome::Success,
            json!({ "request": id }),
        )
        .await?;
    let refused = device_link::Model {
        status: REFUSED.into(),
        ..row
    };
    relay(state, &user.user_id, link_request(&refused, now)?)
}

/// Stores past epoch keys re-wrapped by one of the caller's devices for another of them
/// (§7.6). All or nothing: one wrap that fails a check refuses the batch. Wraps the
/// device already holds are skipped, so a replayed batch changes nothing.
pub async fn store_rewrapped(
    state: &AppState,
    user: &CurrentUser,
    device_id: &str,
    wraps: Vec<WrappedEpochKey>,
) -> Result<usize> {
    const ACTION: &str = "epoch_keys_rewrap";
    if wraps.len() > MAX_REWRAPPED_KEYS {
        deny(state, user, ACTION, device_id, "too_many_keys").await;
        return Err(ApiError::PayloadTooLarge);
    }
    let recipient = db::keys::find_device(&state.db, device_id)
        .await?
        .filter(|d| d.user_id == user.user_id && d.revoked_at.is_none());
    if recipient.is_none() {
        deny(state, user, ACTION, device_id, "not_own_live_device").await;
        return Err(ApiError::NotFound);
    }
    match check_rewrapped(state, user, device_id, &wraps).await? {
        Err(reason) => {
            deny(state, user, ACTION, device_id, reason).await;
            Err(ApiError::Unprocessable("invalid_epoch_keys"))
        }
        Ok(()) => {
            // Held already, or earlier in this batch: skipped (a replay changes nothing).
            let mut held: HashSet<(String, i64)> = db::links::wraps_held_by(&state.db, device_id)
                .await?
                .into_iter()
                .collect();
            let now = state.now_ms();
            let mut rows = Vec::new();
            let mut fresh = Vec::new();
            for wrap in wraps {
                let epoch = i64::try_from(wrap.epoch)
                    .map_err(|_| ApiError::Unprocessable("invalid_epoch_keys"))?;
                if !held.insert((wrap.channel_id.clone(), epoch)) {
                    continue;
                }
                rows.push(db::entities::epoch_key::Model {
                    channel_id: wrap.channel_id.clone(),
                    epoch,
                    recipient_device: device_id.to_owned(),
                    sender_device: wrap.sender_device.clone(),
                    wrapped: serde_json::to_string(&wrap).map_err(ApiError::internal)?,
                    created_at: now,
                    delivered_at: None,
                });
                fresh.push(wrap);
            }
            db::epoch_keys::insert(&state.db, rows).await?;
            let channels: BTreeSet<&str> = fresh.iter().map(|w| w.channel_id.as_str()).collect();
            state
                .record(
                    user.actor(),
                    "epoch_keys_rewrapped",
                    Some(device_id.to_owned()),
                    Outcome::Success,
                    json!({ "stored": fresh.len(), "channels": channels.len() }),
                )
                .await?;
            let stored = fresh.len();
            // One frame per channel, not per wrap: a long history must not fill the new
            // device's queue (each wrap names its own epoch).
            let mut by_channel: BTreeMap<String, Vec<WrappedEpochKey>> = BTreeMap::new();
            for wrap in fresh {
                by_channel
                    .entry(wrap.channel_id.clone())
                    .or_default()
                    .push(wrap);
            }
            for (channel_id, keys) in by_channel {
                let epoch = keys.iter().map(|k| k.epoch).max().unwrap_or_default();
                let frame = frame_text(&ServerFrame::Keys {
                    channel_id: channel_id.into(),
                    epoch,
                    keys,
                })?;
                state.bus.publish(BusEvent::Device {
                    device_id: device_id.to_owned(),
                    frame,
                });
            }
            Ok(stored)
        }
    }
}

/// The checks of [`store_rewrapped`]; `Ok(Err(reason))` names the first one that failed.
async fn check_rewrapped(
    state: &AppState,
    user: &CurrentUser,
    device_id: &str,
    wraps: &[WrappedEpochKey],
) -> Result<std::result::Result<(), &'static str>> {
    let mut senders: HashMap<String, Option<DeviceSigningPublicKey>> = HashMap::new();
    let mut epochs: HashMap<(String, u64), Option<[u8; 32]>> = HashMap::new();
    let mut channels: HashMap<String, Option<(u64, u64)>> = HashMap::new();
    for wrap in wraps {
        if wrap.recipient_device != device_id || wrap.sender_device == device_id {
            return Ok(Err("wrong_recipient_or_sender"));
        }
        if !senders.contains_key(&wrap.sender_device) {
            let key = db::keys::find_device(&state.db, &wrap.sender_device)
                .await?
                .filter(|d| d.user_id == user.user_id && d.revoked_at.is_none())
                .map(|d| DeviceSigningPublicKey::from_base64url(&d.signing_key))
                .transpose()
                .map_err(ApiError::internal)?;
            senders.insert(wrap.sender_device.clone(), key);
        }
        let Some(Some(sender)) = senders.get(&wrap.sender_device) else {
            return Ok(Err("sender_not_callers_device"));
        };
        if wrap.verify_signature(sender).is_err() {
            return Ok(Err("bad_signature"));
        }
        if !channels.contains_key(&wrap.channel_id) {
            let channel = db::channels::find(&state.db, &wrap.channel_id).await?;
            let membership = db::members::find(&state.db, &wrap.channel_id, &user.user_id).await?;
            let range = match (channel, membership) {
                (Some(channel), Some(membership))
                    if Lifecycle::parse(&channel.status) != Lifecycle::Gone =>
                {
                    Some((
                        u64::try_from(membership.joined_epoch).unwrap_or(u64::MAX),
                        u64::try_from(channel.epoch).unwrap_or_default(),
                    ))
                }
                _ => None,
            };
            channels.insert(wrap.channel_id.clone(), range);
        }
        let Some(Some((first, current))) = channels.get(&wrap.channel_id) else {
            return Ok(Err("not_member"));
        };
        if wrap.epoch < *first || wrap.epoch > *current {
            return Ok(Err("epoch_not_entitled"));
        }
        let slot = (wrap.channel_id.clone(), wrap.epoch);
        if !epochs.contains_key(&slot) {
            let epoch = i64::try_from(wrap.epoch).unwrap_or(i64::MAX);
            let commitment =
                match db::links::any_wrap_of_epoch(&state.db, &wrap.channel_id, epoch).await? {
                    // A delivered wrap keeps its commitment only (§23.3).
                    Some(row) => Some(
                        db::epoch_keys::commitment_of(&row.wrapped)
                            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("stored wrap")))?,
                    ),
                    None => None,
                };
            epochs.insert(slot.clone(), commitment);
        }
        match epochs.get(&slot) {
            Some(Some(commitment)) if commitment == wrap.commitment.as_bytes() => {}
            Some(Some(_)) => return Ok(Err("commitment_mismatch")),
            _ => return Ok(Err("epoch_unknown")),
        }
    }
    Ok(Ok(()))
}
