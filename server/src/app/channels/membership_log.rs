//! A channel's signed membership log (docs/PROTOCOL.md §22): reading it, starting it, and
//! checking the record that accompanies each addition or removal before it is stored.
//!
//! The server runs the clients' own rules (`crypto::MembershipState`) on what it stores,
//! so that it never relays a record an honest client would refuse: a record must extend
//! the stored chain and name the channel's current epoch (otherwise 409
//! `membership_log_conflict`: another change or epoch came first), be signed by a live
//! device of the caller, and say exactly the change it accompanies (otherwise 422
//! `invalid_membership_record`). The server cannot forge one
//! (it holds no device key); clients verify the chain themselves and derive the members.

use std::collections::BTreeSet;

use passerelle_shared::crypto::{
    DeviceSigningPublicKey, MembershipRecord, MembershipState, LOG_REFERENT, LOG_SERVER_REMOVAL,
};
use passerelle_shared::protocol::v1::channels::MembershipLog;
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde_json::json;

use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::db::{self, entities::channel};
use crate::error::{ApiError, Result};
use crate::policy::Access;
use crate::state::AppState;

use super::open_channel;

/// The change a record must describe.
pub(crate) enum Expected<'a> {
    /// The log's first record: the channel's current members, all of them.
    Genesis(&'a BTreeSet<String>),
    /// The addition of this account.
    Added(&'a str),
    /// The removal of this member by a coordinator.
    Removed(&'a str),
    /// A coordinator's ratification of the server's own removal of this former member.
    ServerRemoved(&'a str),
    /// The caller's own departure.
    Left,
    /// A case's referent named (PROTOCOL.md §19, §22.1: `role_changed`, role `referent`).
    Referent(&'a str),
    /// This member's role in the log becoming `role` (a group's coordinators, §20).
    RoleChanged(&'a str, &'a str),
}

/// The stored log, checked again as it is read (a row the server wrote itself is still
/// parsed strictly), and the state it leads to.
pub(crate) async fn stored(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<(Vec<MembershipRecord>, MembershipState)> {
    let mut state = MembershipState::empty(channel_id);
    let mut records = Vec::new();
    for row in db::membership_log::all(db, channel_id).await? {
        let record: MembershipRecord =
            serde_json::from_str(&row.record).map_err(ApiError::internal)?;
        state
            .apply_unsigned(&record)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored membership log: {e}")))?;
        records.push(record);
    }
    Ok((records, state))
}

/// Checks `record` against the stored log, the caller and the change, then appends it.
/// Runs inside the transaction of the change (or right after it, for a removal), after
/// the channel's row is locked.
pub(crate) async fn check_and_append(
    db: &impl ConnectionTrait,
    user: &CurrentUser,
    channel: &channel::Model,
    record: &MembershipRecord,
    expected: Expected<'_>,
    now_ms: i64,
) -> Result<u64> {
    db::membership_log::lock_channel(db, &channel.id).await?;
    let (_, mut log) = stored(db, &channel.id).await?;
    if record.channel_id != channel.id || record.seq != log.seq + 1 || record.prev != log.head {
        return Err(ApiError::Conflict("membership_log_conflict"));
    }
    let invalid = ApiError::Unprocessable("invalid_membership_record");
    let describes = match expected {
        Expected::Genesis(members) => {
            record.kind == "genesis"
                && record.subjects.iter().cloned().collect::<BTreeSet<_>>() == *members
        }
        Expected::Added(who) => record.kind == "added" && record.subjects == [who],
        Expected::Removed(who) => {
            record.kind == "removed" && record.reason == "coordinator" && record.subjects == [who]
        }
        Expected::ServerRemoved(who) => {
            record.kind == "removed"
                && record.reason == LOG_SERVER_REMOVAL
                && record.subjects == [who]
        }
        Expected::Left => record.kind == "left",
        Expected::Referent(who) => {
            record.kind == "role_changed" && record.role == LOG_REFERENT && record.subjects == [who]
        }
        Expected::RoleChanged(who, role) => {
            record.kind == "role_changed" && record.subjects == [who] && record.role == role
        }
    };
    let epoch = u64::try_from(channel.epoch).unwrap_or_default();
    if !describes || record.actor != user.user_id || record.epoch > epoch {
        return Err(invalid);
    }
    // Signed before a new epoch was published: another change came first, as for a
    // stale chain, and the client signs again on the state as it is now.
    if record.epoch < epoch {
        return Err(ApiError::Conflict("membership_log_conflict"));
    }
    let signing = db::keys::find_device(db, &record.actor_device)
        .await?
        .filter(|d| d.user_id == user.user_id && d.revoked_at.is_none())
        .and_then(|d| DeviceSigningPublicKey::from_base64url(&d.signing_key).ok())
        .ok_or(ApiError::Unprocessable("invalid_membership_record"))?;
    log.apply(record, &signing)
        .map_err(|_| ApiError::Unprocessable("invalid_membership_record"))?;
    let text = serde_json::to_string(record).map_err(ApiError::internal)?;
    let seq = i64::try_from(record.seq).map_err(ApiError::internal)?;
    db::membership_log::append(db, &channel.id, seq, text, now_ms).await?;
    Ok(record.seq)
}

/// `GET /channels/{id}/membership-log`: the whole log, for a member (the gate of the
/// history). Every member reads it from its first record, since that is where a client
/// starts verifying: it names who was a member before them, not what was said.
pub async fn membership_log(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
) -> Result<MembershipLog> {
    const ACTION: &str = "membership_log_read";
    open_channel(state, user, channel_id, ACTION, Access::Read).await?;
    let (records, _) = stored(&state.db, channel_id).await?;
    state
        .record(
            user.actor(),
            ACTION,
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({ "count": records.len() }),
        )
        .await?;
    Ok(MembershipLog { records })
}

/// `POST /channels/{id}/membership-log`: a member starts the channel's log with a genesis
/// naming exactly its current members: right after creating it, or, for a channel created
/// before the log existed, before its first signed change (PROTOCOL.md §22.4). The same
/// route takes a coordinator's `removed` record with reason `server`, which ratifies a
/// removal the server made by itself ([`ratify_server_removal`]).
pub async fn start_membership_log(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    record: &MembershipRecord,
) -> Result<()> {
    if record.kind != "genesis" {
        return ratify_server_removal(state, user, channel_id, record).await;
    }
    const ACTION: &str = "membership_log_start";
    let (channel, _) = open_channel(state, user, channel_id, ACTION, Access::Write).await?;
    let txn = db::begin_write(&state.db).await?;
    let members: BTreeSet<String> = db::members::of_channel(&txn, channel_id)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let outcome = check_and_append(
        &txn,
        user,
        &channel,
        record,
        Expected::Genesis(&members),
        state.now_ms(),
    )
    .await;
    let done = (
        "membership_log_started",
        json!({ "members": members.len() }),
    );
    commit_or_refuse(state, user, channel_id, txn, outcome, ACTION, done).await
}

/// A coordinator's `removed` record (reason `server`) for someone the log still names but
/// the server removed by itself (a regime lost, §15.2): the server cannot sign for its own
/// removals, so the first coordinator whose client sees one signs it (PROTOCOL.md §22.3).
/// Accepted only if that person is no longer a member and the channel's stored history
/// says the server removed them last (their latest event: `removed`, no actor); otherwise
/// 422 `invalid_membership_record`, logged, nothing stored. The record's own checks
/// (chain, coordinator, signature, epoch) are the usual ones.
async fn ratify_server_removal(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    record: &MembershipRecord,
) -> Result<()> {
    const ACTION: &str = "membership_log_ratify";
    let (channel, _) = open_channel(state, user, channel_id, ACTION, Access::Write).await?;
    let txn = db::begin_write(&state.db).await?;
    let outcome = async {
        let [subject] = record.subjects.as_slice() else {
            return Err(ApiError::Unprocessable("invalid_membership_record"));
        };
        let still_member = db::members::of_channel(&txn, channel_id)
            .await?
            .iter()
            .any(|m| m.user_id == *subject);
        let by_server = db::membership_events::last_of_member(&txn, channel_id, subject)
            .await?
            .is_some_and(|e| e.change == "removed" && e.actor_id.is_none());
        if still_member || !by_server {
            return Err(ApiError::Unprocessable("invalid_membership_record"));
        }
        check_and_append(
            &txn,
            user,
            &channel,
            record,
            Expected::ServerRemoved(subject),
            state.now_ms(),
        )
        .await
    }
    .await;
    let done = (
        "membership_log_ratified",
        json!({ "subject": record.subjects.first() }),
    );
    commit_or_refuse(state, user, channel_id, txn, outcome, ACTION, done).await
}

/// Commits the record `outcome` appended in `txn` and logs `done` (its action and
/// details); or, when it was refused, stores nothing and logs the denial under `action`.
async fn commit_or_refuse(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    txn: DatabaseTransaction,
    outcome: Result<u64>,
    action: &'static str,
    done: (&'static str, serde_json::Value),
) -> Result<()> {
    if let Err(error) = outcome {
        drop(txn);
        refused(state, user, channel_id, action, &error).await;
        return Err(error);
    }
    txn.commit().await?;
    let (done_action, details) = done;
    state
        .record(
            user.actor(),
            done_action,
            Some(channel_id.to_owned()),
            Outcome::Success,
            details,
        )
        .await
}

/// Logs a refused record (its code only: a record names people, not content).
pub(crate) async fn refused(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    action: &'static str,
    error: &ApiError,
) {
    let code = match error {
        ApiError::Conflict(code) | ApiError::Unprocessable(code) => *code,
        _ => return,
    };
    state
        .record_denial(
            user.actor(),
            action,
            Some(channel_id.to_owned()),
            json!({ "reason": code }),
        )
        .await;
}
