//! The identity of a case's person, restricted to its coordinators and referent
//! (CHARTER.md C7; docs/PROTOCOL.md §19).
//!
//! The server stores a sealed record and its key wrapped for each live device of the
//! readers; it checks what it can without reading (the envelope and every wrap are signed
//! by a live device of the caller, name the case's identity scope and the next version,
//! and the wraps go to exactly the readers' live devices) and hands a wrap only to its own
//! device, only while its owner is still a reader. Every opening is logged
//! (`case_identity_opened`). Someone who stops being a reader (a referent replaced, a
//! member removed) loses their wraps at once ([`drop_former_readers`]); the record is then
//! "not up to date" until a reader seals it again under a new key.

use std::collections::{BTreeMap, BTreeSet};

use passerelle_shared::crypto::{DeviceSigningPublicKey, WrappedEpochKey};
use passerelle_shared::protocol::v1::case_identity::{
    identity_scope, IdentityReader, IdentityReaders, IdentityStatus, ReaderDuty, SealIdentity,
    SealedIdentity,
};
use passerelle_shared::protocol::v1::Role;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::app::coordinators;
use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::db::entities::{channel, user};
use crate::db::{self, entities::case_file, entities::case_identity, entities::case_identity_key};
use crate::error::{ApiError, Result};
use crate::gate;
use crate::policy::{self, Access, Refusal};
use crate::state::AppState;

/// A reader of a case's identity: the account and why.
struct Reader {
    account: user::Model,
    duty: ReaderDuty,
}

/// The case's readers now: its members (accounts not disabled) who coordinate it, and its
/// referent.
async fn readers(
    state: &AppState,
    case: &channel::Model,
    record: &case_file::Model,
) -> Result<Vec<Reader>> {
    let ids: Vec<String> = db::members::of_channel(&state.db, &case.id)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let mut readers = Vec::new();
    for account in db::accounts::accounts_many(&state.db, &ids).await? {
        let Some(role) = Role::parse(&account.role) else {
            continue;
        };
        if account.disabled {
            continue;
        }
        let referent = record.referent_user_id.as_deref() == Some(account.id.as_str());
        let coordinates = coordinators::coordinates(state, &account.id, role, case).await?;
        if policy::reads_identity(coordinates, referent) {
            let duty = if coordinates {
                ReaderDuty::Coordinator
            } else {
                ReaderDuty::Referent
            };
            readers.push(Reader { account, duty });
        }
    }
    readers.sort_by(|a, b| a.account.display_name.cmp(&b.account.display_name));
    Ok(readers)
}

/// The case, if the caller is a member the gate lets through for `access` and one of its
/// readers; anyone else's attempt is recorded and answered `403 identity_restricted`.
async fn open_for_reader(
    state: &AppState,
    user: &CurrentUser,
    case_id: &str,
    action: &'static str,
    access: Access,
) -> Result<(channel::Model, case_file::Model, Vec<Reader>)> {
    let (case, _) = gate::member_channel(state, user, case_id, action).await?;
    gate::require(state, user, &case, access, action).await?;
    let record = db::cases::find_case(&state.db, case_id)
        .await?
        .ok_or(ApiError::Unprocessable("not_a_case"))?;
    let readers = readers(state, &case, &record).await?;
    if !readers.iter().any(|r| r.account.id == user.user_id) {
        state
            .record_denial(
                user.actor(),
                action,
                Some(case_id.to_owned()),
                json!({ "reason": Refusal::IdentityRestricted.code() }),
            )
            .await;
        return Err(ApiError::Blocked(Refusal::IdentityRestricted));
    }
    Ok((case, record, readers))
}

/// The live devices of the readers, device id → account id.
async fn reader_devices(
    db: &impl ConnectionTrait,
    readers: &[Reader],
) -> Result<BTreeMap<String, String>> {
    let ids = readers.iter().map(|r| r.account.id.clone()).collect();
    Ok(db::keys::key_recipients(db, ids)
        .await?
        .into_iter()
        .map(|d| (d.id, d.user_id))
        .collect())
}

fn version_of(record: Option<&case_identity::Model>) -> u64 {
    record.map_or(0, |r| u64::try_from(r.version).unwrap_or_default())
}

/// # Whom to seal for
///
/// The readers and their live devices, for a reader about to seal a new version.
pub async fn readers_of(
    state: &AppState,
    user: &CurrentUser,
    case_id: &str,
) -> Result<IdentityReaders> {
    let (_, _, readers) =
        open_for_reader(state, user, case_id, "case_identity_readers", Access::Read).await?;
    let devices = reader_devices(&state.db, &readers).await?;
    let current = db::case_identities::find(&state.db, case_id).await?;
    Ok(IdentityReaders {
        next_version: version_of(current.as_ref()) + 1,
        readers: readers
            .into_iter()
            .map(|r| IdentityReader {
                devices: devices
                    .iter()
                    .filter(|(_, owner)| **owner == r.account.id)
                    .map(|(device, _)| device.as_str().into())
                    .collect(),
                user_id: r.account.id.into(),
                display_name: r.account.display_name,
                duty: r.duty,
            })
            .collect(),
    })
}

/// Records the denial of `action` for `reason` and answers `error`.
async fn refuse(
    state: &AppState,
    user: &CurrentUser,
    action: &'static str,
    case_id: &str,
    reason: &'static str,
    error: ApiError,
) -> ApiError {
    state
        .record_denial(
            user.actor(),
            action,
            Some(case_id.to_owned()),
            json!({ "reason": reason }),
        )
        .await;
    error
}

/// # Recording or replacing the identity
///
/// A reader seals a new version for exactly the readers' live devices; the previous
/// version and all its keys are replaced in one transaction. A replayed or outdated
/// version is refused (`409 identity_version_conflict`) and changes nothing.
pub async fn seal(
    state: &AppState,
    user: &CurrentUser,
    case_id: &str,
    request: SealIdentity,
) -> Result<IdentityStatus> {
    const ACTION: &str = "case_identity_seal";
    let (_, _, readers) = open_for_reader(state, user, case_id, ACTION, Access::Write).await?;
    let scope = identity_scope(case_id);
    let envelope = &request.envelope;
    let version = request.version;
    let current = db::case_identities::find(&state.db, case_id).await?;
    if version != version_of(current.as_ref()) + 1 {
        return Err(refuse(
            state,
            user,
            ACTION,
            case_id,
            "version_conflict",
            ApiError::Conflict("identity_version_conflict"),
        )
        .await);
    }
    let device = db::keys::find_device(&state.db, &envelope.sender_device).await?;
    let signing_key = device
        .filter(|d| d.user_id == user.user_id && d.revoked_at.is_none())
        .and_then(|d| DeviceSigningPublicKey::from_base64url(&d.signing_key).ok());
    let envelope_ok = signing_key.as_ref().is_some_and(|key| {
        envelope.channel_id == scope
            && envelope.epoch == version
            && envelope.verify_signature(key).is_ok()
    });
    let Some(signing_key) = signing_key.filter(|_| envelope_ok) else {
        return Err(refuse(
            state,
            user,
            ACTION,
            case_id,
            "invalid_envelope",
            ApiError::Unprocessable("invalid_identity_envelope"),
        )
        .await);
    };
    let devices = reader_devices(&state.db, &readers).await?;
    let Some(keys) = checked_keys(
        &request.keys,
        &scope,
        version,
        envelope,
        &signing_key,
        &devices,
    ) else {
        return Err(refuse(
            state,
            user,
            ACTION,
            case_id,
            "invalid_keys",
            ApiError::Unprocessable("invalid_identity_keys"),
        )
        .await);
    };
    let now = state.now_ms();
    let stored_version = i64::try_from(version).map_err(ApiError::internal)?;
    let record = case_identity::Model {
        channel_id: case_id.to_owned(),
        version: stored_version,
        envelope: serde_json::to_string(envelope).map_err(ApiError::internal)?,
        sealed_by: user.user_id.clone(),
        sealed_at: now,
    };
    let rows = keys
        .into_iter()
        .map(|(key, owner)| {
            Ok(case_identity_key::Model {
                channel_id: case_id.to_owned(),
                device_id: key.recipient_device.clone(),
                user_id: owner,
                wrap: serde_json::to_string(key).map_err(ApiError::internal)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let txn = db::begin_write(&state.db).await?;
    let previous = current.as_ref().map(|c| c.version);
    if !db::case_identities::replace(&txn, previous, record, rows).await? {
        drop(txn);
        return Err(refuse(
            state,
            user,
            ACTION,
            case_id,
            "replaced_concurrently",
            ApiError::Conflict("identity_version_conflict"),
        )
        .await);
    }
    txn.commit().await?;
    state
        .record(
            user.actor(),
            "case_identity_sealed",
            Some(case_id.to_owned()),
            Outcome::Success,
            json!({ "version": version, "readers": readers.len(), "devices": devices.len() }),
        )
        .await?;
    Ok(IdentityStatus {
        version,
        sealed_by: user.user_id.clone().into(),
        sealed_at: now,
        up_to_date: true,
    })
}

/// The wraps with the account each is for, if they are exactly one per live reader device,
/// all for this scope and version, from the envelope's device, signed by it and carrying
/// one commitment (the same key for everyone).
fn checked_keys<'a>(
    keys: &'a [WrappedEpochKey],
    scope: &str,
    version: u64,
    envelope: &passerelle_shared::crypto::Envelope,
    signing_key: &DeviceSigningPublicKey,
    devices: &BTreeMap<String, String>,
) -> Option<Vec<(&'a WrappedEpochKey, String)>> {
    let first = keys.first()?;
    let recipients: BTreeSet<&str> = keys.iter().map(|k| k.recipient_device.as_str()).collect();
    if recipients.len() != keys.len() || recipients.len() != devices.len() {
        return None;
    }
    keys.iter()
        .map(|key| {
            let owner = devices.get(&key.recipient_device)?;
            let sound = key.channel_id == scope
                && key.epoch == version
                && key.sender_device == envelope.sender_device
                && key.commitment == first.commitment
                && key.verify_signature(signing_key).is_ok();
            sound.then(|| (key, owner.clone()))
        })
        .collect()
}

/// # Opening
///
/// The sealed record and the key wrapped for `device_id` (the caller's own live device),
/// for a reader. Logged every time: who opened whose case identity, and when.
pub async fn open(
    state: &AppState,
    user: &CurrentUser,
    case_id: &str,
    device_id: &str,
) -> Result<SealedIdentity> {
    const ACTION: &str = "case_identity_open";
    open_for_reader(state, user, case_id, ACTION, Access::Read).await?;
    let device = db::keys::find_device(&state.db, device_id)
        .await?
        .filter(|d| d.user_id == user.user_id);
    match device {
        None => {
            return Err(refuse(
                state,
                user,
                ACTION,
                case_id,
                "not_own_device",
                ApiError::NotFound,
            )
            .await)
        }
        Some(d) if d.revoked_at.is_some() => {
            return Err(refuse(
                state,
                user,
                ACTION,
                case_id,
                "device_revoked",
                ApiError::Blocked(Refusal::DeviceRevoked),
            )
            .await)
        }
        Some(_) => {}
    }
    let Some(record) = db::case_identities::find(&state.db, case_id).await? else {
        return Err(refuse(
            state,
            user,
            ACTION,
            case_id,
            "not_recorded",
            ApiError::Unprocessable("identity_not_recorded"),
        )
        .await);
    };
    let Some(key) = db::case_identities::key_for(&state.db, case_id, device_id).await? else {
        return Err(refuse(
            state,
            user,
            ACTION,
            case_id,
            "key_pending",
            ApiError::Conflict("identity_key_pending"),
        )
        .await);
    };
    state
        .record(
            user.actor(),
            "case_identity_opened",
            Some(case_id.to_owned()),
            Outcome::Success,
            json!({ "version": record.version, "device": device_id }),
        )
        .await?;
    Ok(SealedIdentity {
        case_id: case_id.into(),
        version: u64::try_from(record.version).unwrap_or_default(),
        sealed_by: record.sealed_by.into(),
        sealed_at: record.sealed_at,
        envelope: serde_json::from_str(&record.envelope).map_err(ApiError::internal)?,
        key: serde_json::from_str(&key.wrap).map_err(ApiError::internal)?,
    })
}

/// What the case's record shows every member about the identity: recorded or not, and
/// whether every current reader device holds the key. Never the identity itself.
pub(crate) async fn status(
    state: &AppState,
    case: &channel::Model,
    record: &case_file::Model,
) -> Result<Option<IdentityStatus>> {
    let Some(stored) = db::case_identities::find(&state.db, &case.id).await? else {
        return Ok(None);
    };
    let readers = readers(state, case, record).await?;
    let expected: BTreeSet<String> = reader_devices(&state.db, &readers)
        .await?
        .into_keys()
        .collect();
    let held: BTreeSet<String> = db::case_identities::keys_of(&state.db, &case.id)
        .await?
        .into_iter()
        .map(|k| k.device_id)
        .collect();
    Ok(Some(IdentityStatus {
        version: u64::try_from(stored.version).unwrap_or_default(),
        sealed_by: stored.sealed_by.into(),
        sealed_at: stored.sealed_at,
        up_to_date: expected == held,
    }))
}

/// Whether the account `user_id` of `role` coordinates the case, and whether it reads the
/// person's identity.
pub(crate) async fn duties(
    state: &AppState,
    case: &channel::Model,
    record: &case_file::Model,
    user_id: &str,
    role: Role,
) -> Result<(bool, bool)> {
    let coordinates = coordinators::coordinates(state, user_id, role, case).await?;
    let referent = record.referent_user_id.as_deref() == Some(user_id);
    Ok((coordinates, policy::reads_identity(coordinates, referent)))
}

/// Deletes at once the keys of everyone who is no longer a reader of the case (a referent
/// replaced, a coordinator who left): they can open no version from then on, and the
/// record shows "not up to date" until a reader seals it again for the new readers.
pub(crate) async fn drop_former_readers(
    state: &AppState,
    case: &channel::Model,
    record: &case_file::Model,
) -> Result<u64> {
    let readers: Vec<String> = readers(state, case, record)
        .await?
        .into_iter()
        .map(|r| r.account.id)
        .collect();
    Ok(db::case_identities::keep_only_readers(&state.db, &case.id, &readers).await?)
}
