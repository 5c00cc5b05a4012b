//! The key directory (docs/PROTOCOL.md): identity keys, device certificates verified
//! by the server, device revocation and the encrypted key backup. Every change is
//! recorded in the access log, so that key changes are auditable.

use passerelle_shared::crypto::{
    DeviceCertificate, IdentityPublicKey, KeyBackupHead, KeyBackupPage, PageHash,
};
use passerelle_shared::protocol::v1::keys::{
    DeviceInfo, KeyBackupBody, KeyBackupHeadWritten, KeyBackupPageBody, KeysReset, RegisterDevice,
    ResetKeys, UserKeys,
};
use serde_json::json;

use crate::app::channels;
use crate::app::exclusion::{self, Exclusion};
use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::db::{self, entities::device};
use crate::error::{ApiError, Result};
use crate::policy::{self, Capability};
use crate::state::AppState;

pub use crate::config::{MAX_BACKUP_BYTES, MAX_BACKUP_PAGE_BYTES};

fn device_info(model: &device::Model) -> Result<DeviceInfo> {
    Ok(DeviceInfo {
        certificate: serde_json::from_str(&model.certificate).map_err(ApiError::internal)?,
        name: model.name.clone(),
        created_at: model.created_at,
        revoked_at: model.revoked_at,
        prekey: None,
    })
}

/// Publishes the caller's identity key. Replacing it is allowed only once every device
/// certified by the old one is revoked, and it raises a warning for colleagues.
pub async fn publish_identity(
    state: &AppState,
    user: &CurrentUser,
    key: IdentityPublicKey,
) -> Result<i64> {
    let encoded = key.to_base64url();
    let existing = db::keys::find_identity(&state.db, &user.user_id).await?;
    if let Some(existing) = &existing {
        if existing.public_key == encoded {
            return Ok(existing.version);
        }
        let live = db::keys::devices_of(&state.db, &user.user_id)
            .await?
            .iter()
            .any(|d| d.revoked_at.is_none());
        if live {
            state
                .record_denial(
                    user.actor(),
                    "identity_key_change",
                    Some(user.user_id.clone()),
                    json!({ "reason": "live_devices" }),
                )
                .await;
            return Err(ApiError::Conflict("identity_in_use"));
        }
    }
    // One transaction: the identity row and its key log entry (PROTOCOL.md §25).
    let txn = db::begin_write(&state.db).await?;
    let saved = db::keys::put_identity(&txn, &user.user_id, encoded, state.now_ms()).await?;
    txn.commit().await?;
    let action = if existing.is_some() {
        "identity_key_changed"
    } else {
        "identity_key_published"
    };
    state
        .record(
            user.actor(),
            action,
            Some(user.user_id.clone()),
            Outcome::Success,
            json!({ "version": saved.version }),
        )
        .await?;
    Ok(saved.version)
}

/// New keys for the caller's account in one transaction (docs/PROTOCOL.md §5.5, §5.6):
/// the identity key, the first device and the key backup replacing any older one.
/// Allowed while no device of the account is live (at enrolment, or once the lost devices
/// are revoked), as replacing the identity is; a first enrolment (`enrol`) only while the
/// account has no identity at all. Nothing is stored unless all of it is, so a refused
/// backup can no longer leave a registered device no browser holds, nor an identity
/// without its device and backup.
pub async fn reset_keys(
    state: &AppState,
    user: &CurrentUser,
    request: ResetKeys,
) -> Result<KeysReset> {
    let certificate = request.certificate;
    let enrol = request.enrol;
    let deny = |reason: &'static str| {
        let actor = user.actor();
        let target = user.user_id.clone();
        async move {
            state
                .record_denial(
                    actor,
                    "keys_reset",
                    Some(target),
                    json!({ "reason": reason, "enrol": enrol }),
                )
                .await;
        }
    };
    if certificate.user_id != user.user_id || certificate.verify(&request.identity_key).is_err() {
        deny("bad_certificate").await;
        return Err(ApiError::Unprocessable("invalid_certificate"));
    }
    if request.backup.user_id != user.user_id {
        deny("backup_of_another_user").await;
        return Err(ApiError::Unprocessable("invalid_backup"));
    }
    let data = serde_json::to_string(&request.backup).map_err(ApiError::internal)?;
    if data.len() > state.config.max_backup_bytes {
        deny("backup_too_large").await;
        return Err(ApiError::BackupTooLarge);
    }
    let name = device_name(&request.name);
    let now = state.now_ms();
    let previous = db::keys::find_identity(&state.db, &user.user_id).await?;
    if enrol && previous.is_some() {
        deny("identity_exists").await;
        return Err(ApiError::Conflict("identity_exists"));
    }
    let txn = db::begin_write(&state.db).await?;
    // The identity row first: on PostgreSQL its lock makes two resets take turns.
    let identity = db::keys::put_identity(
        &txn,
        &user.user_id,
        request.identity_key.to_base64url(),
        now,
    )
    .await?;
    if enrol && identity.version != 0 {
        // Another enrolment of this account committed since the check above.
        txn.rollback().await?;
        deny("identity_exists").await;
        return Err(ApiError::Conflict("identity_exists"));
    }
    let live = db::keys::devices_of(&txn, &user.user_id)
        .await?
        .iter()
        .any(|d| d.revoked_at.is_none());
    if live {
        txn.rollback().await?;
        deny("live_devices").await;
        return Err(ApiError::Conflict("identity_in_use"));
    }
    if db::keys::find_device(&txn, &certificate.device_id)
        .await?
        .is_some()
    {
        txn.rollback().await?;
        deny("device_exists").await;
        return Err(ApiError::Conflict("device_exists"));
    }
    let device = db::keys::insert_device(
        &txn,
        device::Model {
            id: certificate.device_id.clone(),
            user_id: user.user_id.clone(),
            certificate: serde_json::to_string(&certificate).map_err(ApiError::internal)?,
            signing_key: certificate.keys.signing.to_base64url(),
            name,
            created_at: now,
            revoked_at: None,
        },
    )
    .await?;
    let backup_version = db::keys::replace_backup(&txn, &user.user_id, data, now).await?;
    // The old backup's pages were sealed under the lost code: none of them is of use.
    db::keys::delete_backup_pages_except(&txn, &user.user_id, &[]).await?;
    let channels = db::members::of_user(&txn, &user.user_id)
        .await?
        .into_iter()
        .map(|m| m.channel_id)
        .collect();
    db::channels::require_rotation(&txn, channels).await?;
    db::sessions::bind_device(&txn, &user.session_id, &device.id).await?;
    let events = channels::record_new_device(&txn, &user.user_id, &device.id, now).await?;
    txn.commit().await?;
    channels::announce_all(state, events).await?;
    let changed = previous.is_some_and(|p| p.public_key != identity.public_key);
    state
        .record(
            user.actor(),
            if changed {
                "identity_key_reset"
            } else {
                "identity_key_published"
            },
            Some(user.user_id.clone()),
            Outcome::Success,
            json!({
                "version": identity.version,
                "device": device.id,
                "backup_version": backup_version,
            }),
        )
        .await?;
    Ok(KeysReset {
        identity_version: identity.version,
        backup_version,
        device: device_info(&device)?,
    })
}

/// The name a device is shown under: trimmed, at most 100 characters, « Appareil » if
/// none was given.
fn device_name(requested: &str) -> String {
    let name = requested.trim().chars().take(100).collect::<String>();
    if name.is_empty() {
        "Appareil".into()
    } else {
        name
    }
}

/// Registers a device after verifying its certificate against the caller's identity key.
pub async fn register_device(
    state: &AppState,
    user: &CurrentUser,
    request: RegisterDevice,
) -> Result<DeviceInfo> {
    let certificate: DeviceCertificate = request.certificate;
    let name = device_name(&request.name);
    let deny = |reason: &'static str| {
        let actor = user.actor();
        let device = certificate.device_id.clone();
        async move {
            state
                .record_denial(
                    actor,
                    "device_register",
                    Some(device),
                    json!({ "reason": reason }),
                )
                .await;
        }
    };
    if certificate.user_id != user.user_id {
        deny("certificate_for_another_user").await;
        return Err(ApiError::Unprocessable("invalid_certificate"));
    }
    let Some(identity) = db::keys::find_identity(&state.db, &user.user_id).await? else {
        deny("no_identity_key").await;
        return Err(ApiError::Conflict("identity_missing"));
    };
    let identity =
        IdentityPublicKey::from_base64url(&identity.public_key).map_err(ApiError::internal)?;
    if certificate.verify(&identity).is_err() {
        deny("bad_signature").await;
        return Err(ApiError::Unprocessable("invalid_certificate"));
    }
    if db::keys::find_device(&state.db, &certificate.device_id)
        .await?
        .is_some()
    {
        deny("device_exists").await;
        return Err(ApiError::Conflict("device_exists"));
    }
    let now = state.now_ms();
    // One transaction: the device, its channels' rotation, its session and the notes of
    // its arrival in each channel (PROTOCOL.md §21) are stored together or not at all.
    let txn = db::begin_write(&state.db).await?;
    let model = db::keys::insert_device(
        &txn,
        device::Model {
            id: certificate.device_id.clone(),
            user_id: user.user_id.clone(),
            certificate: serde_json::to_string(&certificate).map_err(ApiError::internal)?,
            signing_key: certificate.keys.signing.to_base64url(),
            name,
            created_at: now,
            revoked_at: None,
        },
    )
    .await?;
    // A new device must receive the next epoch's key: every channel rotates.
    let channel_ids = db::members::of_user(&txn, &user.user_id)
        .await?
        .into_iter()
        .map(|m| m.channel_id)
        .collect();
    db::channels::require_rotation(&txn, channel_ids).await?;
    // The session that registers a device works for it: revoking the device ends it.
    db::sessions::bind_device(&txn, &user.session_id, &model.id).await?;
    let events = channels::record_new_device(&txn, &user.user_id, &model.id, now).await?;
    txn.commit().await?;
    channels::announce_all(state, events).await?;
    state
        .record(
            user.actor(),
            "device_registered",
            Some(model.id.clone()),
            Outcome::Success,
            json!({}),
        )
        .await?;
    device_info(&model)
}

/// Revokes a device: by its owner, or by an admin (a lost laptop). An exclusion
/// (CHARTER.md C3): in one transaction the device and the sessions bound to it are
/// revoked and every channel of its owner needs a new epoch without it; then its
/// connections close on every node. Revoking it again changes nothing and succeeds.
pub async fn revoke_device(state: &AppState, user: &CurrentUser, device_id: &str) -> Result<()> {
    let device = db::keys::find_device(&state.db, device_id).await?;
    let allowed = device.as_ref().is_some_and(|d| {
        d.user_id == user.user_id || policy::role_can(user.role, Capability::ManageAccounts)
    });
    let Some(device) = device.filter(|_| allowed) else {
        state
            .record_denial(
                user.actor(),
                "device_revoke",
                Some(device_id.to_owned()),
                json!({ "reason": "not_owner" }),
            )
            .await;
        return Err(ApiError::NotFound);
    };
    let excluded = exclusion::exclude(
        state,
        Exclusion::RevokeDevice {
            user_id: device.user_id.clone(),
            device_id: device.id.clone(),
        },
    )
    .await?;
    if !excluded.changed {
        return Ok(());
    }
    state
        .record(
            user.actor(),
            "device_revoked",
            Some(device.id.clone()),
            Outcome::Success,
            json!({
                "owner": device.user_id,
                "by_admin": device.user_id != user.user_id,
                "sessions_closed": excluded.sessions_closed,
                "channels_rotated": excluded.channels_rotated,
            }),
        )
        .await?;
    Ok(())
}

/// A user's identity and devices, for a colleague who shares a channel with them or may
/// browse the directory (external participants may not, CHARTER.md C6).
pub async fn user_keys(state: &AppState, viewer: &CurrentUser, user_id: &str) -> Result<UserKeys> {
    let visible = viewer.user_id == user_id
        || policy::role_can(viewer.role, Capability::BrowseDirectory)
        || shares_a_channel(state, &viewer.user_id, user_id).await?;
    if !visible || db::accounts::find_user(&state.db, user_id).await?.is_none() {
        state
            .record_denial(
                viewer.actor(),
                "keys_read",
                Some(user_id.to_owned()),
                json!({ "reason": "not_visible" }),
            )
            .await;
        return Err(ApiError::NotFound);
    }
    let identity = db::keys::find_identity(&state.db, user_id).await?;
    let models = db::keys::devices_of(&state.db, user_id).await?;
    // Each live device's current signed prekey travels with it (PROTOCOL.md §23).
    let mut prekeys = crate::app::prekeys::current_of(
        state,
        models
            .iter()
            .filter(|d| d.revoked_at.is_none())
            .map(|d| d.id.clone())
            .collect(),
    )
    .await?;
    let devices = models
        .iter()
        .map(|model| {
            device_info(model).map(|info| DeviceInfo {
                prekey: prekeys.remove(&model.id),
                ..info
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(UserKeys {
        user_id: user_id.into(),
        identity_key: identity
            .as_ref()
            .map(|i| IdentityPublicKey::from_base64url(&i.public_key))
            .transpose()
            .map_err(ApiError::internal)?,
        identity_version: identity.map_or(0, |i| i.version),
        devices,
    })
}

async fn shares_a_channel(state: &AppState, a: &str, b: &str) -> Result<bool> {
    let mine: std::collections::HashSet<String> = db::members::of_user(&state.db, a)
        .await?
        .into_iter()
        .map(|m| m.channel_id)
        .collect();
    Ok(db::members::of_user(&state.db, b)
        .await?
        .iter()
        .any(|m| mine.contains(&m.channel_id)))
}

/// The caller's key backup.
pub async fn get_backup(state: &AppState, user: &CurrentUser) -> Result<KeyBackupBody> {
    let backup = db::keys::find_backup(&state.db, &user.user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    state
        .record(
            user.actor(),
            "key_backup_read",
            Some(user.user_id.clone()),
            Outcome::Success,
            json!({ "version": backup.version }),
        )
        .await?;
    Ok(KeyBackupBody {
        version: backup.version,
        data: serde_json::from_str(&backup.data).map_err(ApiError::internal)?,
    })
}

/// Writes the caller's key backup if `expected` is still the stored version.
pub async fn put_backup(
    state: &AppState,
    user: &CurrentUser,
    expected: Option<i64>,
    data: serde_json::Value,
) -> Result<i64> {
    let text = serde_json::to_string(&data).map_err(ApiError::internal)?;
    if let Some(stored) = db::keys::find_backup(&state.db, &user.user_id).await? {
        if is_paged(&stored.data) {
            // A blob over a paged backup would orphan its pages, and with them every key
            // they hold: a client of the first format must be updated (§10.8).
            state
                .record_denial(
                    user.actor(),
                    "key_backup_write",
                    Some(user.user_id.clone()),
                    json!({ "reason": "backup_paged" }),
                )
                .await;
            return Err(ApiError::Conflict("backup_paged"));
        }
    }
    if text.len() > state.config.max_backup_bytes {
        // The backup is full: the writer keeps its keys and must tell its user, who
        // otherwise believes them saved (docs/PROTOCOL.md §10.5).
        state
            .record_denial(
                user.actor(),
                "key_backup_write",
                Some(user.user_id.clone()),
                json!({ "reason": "backup_too_large", "bytes": text.len() }),
            )
            .await;
        return Err(ApiError::BackupTooLarge);
    }
    match db::keys::put_backup(&state.db, &user.user_id, expected, text, state.now_ms()).await? {
        Some(version) => {
            state
                .record(
                    user.actor(),
                    "key_backup_written",
                    Some(user.user_id.clone()),
                    Outcome::Success,
                    json!({ "version": version }),
                )
                .await?;
            Ok(version)
        }
        None => {
            state
                .record_denial(
                    user.actor(),
                    "key_backup_write",
                    Some(user.user_id.clone()),
                    json!({ "reason": "version_conflict" }),
                )
                .await;
            Err(ApiError::PreconditionFailed)
        }
    }
}

/// Whether a stored backup is a paged backup's head (it names its pages) rather than a
/// blob of the first format.
fn is_paged(data: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(data)
        .ok()
        .is_some_and(|value| value.get("pages").is_some())
}

/// Parses a page hash from a path, refusing (and logging) anything but 64 lowercase
/// hexadecimal digits.
async fn page_hash(
    state: &AppState,
    user: &CurrentUser,
    action: &'static str,
    hash: &str,
) -> Result<PageHash> {
    match PageHash::parse(hash) {
        Some(parsed) => Ok(parsed),
        None => {
            state
                .record_denial(
                    user.actor(),
                    action,
                    Some(user.user_id.clone()),
                    json!({ "reason": "bad_hash" }),
                )
                .await;
            Err(ApiError::Unprocessable("backup_page_hash"))
        }
    }
}

/// One page of the caller's paged key backup (docs/PROTOCOL.md §10.8).
pub async fn get_backup_page(
    state: &AppState,
    user: &CurrentUser,
    hash: &str,
) -> Result<KeyBackupPageBody> {
    let hash = page_hash(state, user, "key_backup_page_read", hash).await?;
    let Some(page) =
        db::keys::find_backup_page(&state.db, &user.user_id, &hash.to_string()).await?
    else {
        // Another account's page, one deleted since, or a guess: the same answer, logged.
        state
            .record_denial(
                user.actor(),
                "key_backup_page_read",
                Some(user.user_id.clone()),
                json!({ "reason": "not_found", "hash": hash.to_string() }),
            )
            .await;
        return Err(ApiError::NotFound);
    };
    state
        .record(
            user.actor(),
            "key_backup_page_read",
            Some(user.user_id.clone()),
            Outcome::Success,
            json!({ "hash": page.hash }),
        )
        .await?;
    Ok(KeyBackupPageBody {
        page: serde_json::from_str(&page.data).map_err(ApiError::internal)?,
    })
}

/// Stores one page of the caller's paged key backup under its hash, which must be the
/// SHA-256 of its `nonce ‖ ciphertext`. Bounded per page (`max_backup_page_bytes`) and
/// per account (`max_backup_total_bytes`, counting every page stored, named or not).
/// No head names it until the next head swap; the swap after that deletes it if the
/// head does not.
pub async fn put_backup_page(
    state: &AppState,
    user: &CurrentUser,
    hash: &str,
    page: KeyBackupPage,
) -> Result<()> {
    let hash = page_hash(state, user, "key_backup_page_write", hash).await?;
    let deny = |reason: &'static str, bytes: usize| {
        let actor = user.actor();
        let target = user.user_id.clone();
        async move {
            state
                .record_denial(
                    actor,
                    "key_backup_page_write",
                    Some(target),
                    json!({ "reason": reason, "bytes": bytes }),
                )
                .await;
        }
    };
    let text = serde_json::to_string(&page).map_err(ApiError::internal)?;
    if page.user_id != user.user_id {
        deny("backup_of_another_user", text.len()).await;
        return Err(ApiError::Unprocessable("invalid_backup"));
    }
    if page.hash() != hash {
        deny("hash_mismatch", text.len()).await;
        return Err(ApiError::Unprocessable("backup_page_hash"));
    }
    if text.len() > state.config.max_backup_page_bytes {
        deny("backup_page_too_large", text.len()).await;
        return Err(ApiError::BackupPageTooLarge);
    }
    let hash = hash.to_string();
    let stored = db::keys::backup_pages_of(&state.db, &user.user_id).await?;
    if !stored.iter().any(|(h, _)| *h == hash) {
        let total: u64 = stored
            .iter()
            .map(|(_, bytes)| u64::try_from(*bytes).unwrap_or(0))
            .sum();
        if total + text.len() as u64 > state.config.max_backup_total_bytes {
            deny("backup_total_too_large", text.len()).await;
            return Err(ApiError::BackupTotalTooLarge);
        }
    }
    let bytes = text.len();
    db::keys::insert_backup_page(
        &state.db,
        crate::db::entities::key_backup_page::Model {
            user_id: user.user_id.clone(),
            hash: hash.clone(),
            data: text,
            bytes: i64::try_from(bytes).map_err(ApiError::internal)?,
            created_at: state.now_ms(),
        },
    )
    .await?;
    state
        .record(
            user.actor(),
            "key_backup_page_written",
            Some(user.user_id.clone()),
            Outcome::Success,
            json!({ "hash": hash, "bytes": bytes }),
        )
        .await?;
    Ok(())
}

/// Swaps the head of the caller's paged key backup if `expected` is still the stored
/// version (docs/PROTOCOL.md §10.8): refused, with nothing changed, if it names a page
/// the server does not hold; once swapped, the pages it no longer names are deleted in
/// the same transaction. A backup of the first format is replaced by its first head.
pub async fn put_backup_head(
    state: &AppState,
    user: &CurrentUser,
    expected: Option<i64>,
    head: KeyBackupHead,
) -> Result<KeyBackupHeadWritten> {
    let deny = |reason: &'static str, detail: serde_json::Value| {
        let actor = user.actor();
        let target = user.user_id.clone();
        async move {
            let mut details = json!({ "reason": reason, "format": "paged" });
            if let (Some(map), serde_json::Value::Object(extra)) = (details.as_object_mut(), detail)
            {
                map.extend(extra);
            }
            state
                .record_denial(actor, "key_backup_write", Some(target), details)
                .await;
        }
    };
    if head.user_id != user.user_id {
        deny("backup_of_another_user", json!({})).await;
        return Err(ApiError::Unprocessable("invalid_backup"));
    }
    let text = serde_json::to_string(&head).map_err(ApiError::internal)?;
    if text.len() > state.config.max_backup_bytes {
        deny("backup_too_large", json!({ "bytes": text.len() })).await;
        return Err(ApiError::BackupTooLarge);
    }
    let named: Vec<String> = head.pages.iter().map(|p| p.hash.to_string()).collect();
    let txn = db::begin_write(&state.db).await?;
    let stored: std::collections::BTreeSet<String> = db::keys::backup_pages_of(&txn, &user.user_id)
        .await?
        .into_iter()
        .map(|(hash, _)| hash)
        .collect();
    let missing = named.iter().filter(|h| !stored.contains(*h)).count();
    if missing > 0 {
        txn.rollback().await?;
        deny("page_missing", json!({ "missing": missing })).await;
        return Err(ApiError::Conflict("backup_page_missing"));
    }
    let Some(version) =
        db::keys::put_backup(&txn, &user.user_id, expected, text, state.now_ms()).await?
    else {
        txn.rollback().await?;
        deny("version_conflict", json!({})).await;
        return Err(ApiError::PreconditionFailed);
    };
    let pages_deleted = db::keys::delete_backup_pages_except(&txn, &user.user_id, &named).await?;
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "key_backup_written",
            Some(user.user_id.clone()),
            Outcome::Success,
            json!({
                "version": version,
                "format": "paged",
                "pages": named.len(),
                "pages_deleted": pages_deleted,
            }),
        )
        .await?;
    Ok(KeyBackupHeadWritten {
        version,
        pages_deleted,
    })
}
