//! One exclusion path (CHARTER.md C3). Every event that takes away someone's right to
//! read — an account disabled, a session ended, a device revoked, a member removed from a
//! channel or no longer eligible for its regime — goes through [`exclude`], which in
//! **one transaction** records the change, requires a new epoch on every channel
//! concerned (the devices concerned are out of key distribution from that commit:
//! `db::keys::key_recipients`), and appends the change to the access feed. After the
//! commit it publishes the change on the bus, so that every node closes the matching
//! connections at once.
//!
//! The bus is only the fast path. The feed is durable and ordered, and every node reads
//! it by itself (`crate::feed::Follower`): an exclusion reaches every node whatever Redis did, and a
//! node that cannot read the feed closes its connections rather than serve them blind.
//! A crash after the commit loses nothing either: the sessions and devices are revoked in
//! the database, so reconnecting is refused, and the feed is read by the other nodes.
//!
//! Ending sessions changes no key: the devices stay their owner's, and a new epoch
//! wrapped for the same devices would protect nothing. It closes the connections opened
//! with those sessions, and their tokens are dead.

use crate::bus::{AccessChange, AccessReason, AccessScope, Bus, BusEvent};
use crate::db::{self, entities::membership_event, membership_events::NewEvent};
use crate::error::Result;
use crate::state::AppState;

/// Which sessions of an account end.
#[derive(Clone, Debug)]
pub enum Sessions {
    /// This one (logout, or revoked from the session list).
    One(String),
    /// All but this one (the caller's own, after changing their password).
    AllBut(String),
    /// Every one (password or second factor reset by an admin).
    All,
}

/// An event that takes away someone's right to read.
#[derive(Clone, Debug)]
pub enum Exclusion {
    /// An admin disables the account: every session ends, every device leaves key
    /// distribution, every channel rotates.
    DisableAccount {
        /// The account.
        user_id: String,
    },
    /// Sessions of an account end; their connections close.
    EndSessions {
        /// The account.
        user_id: String,
        /// Which.
        sessions: Sessions,
        /// Why (one of the session reasons).
        reason: AccessReason,
    },
    /// A device is revoked: the sessions bound to it end, and every channel of its owner
    /// rotates without it.
    RevokeDevice {
        /// Its owner.
        user_id: String,
        /// The device.
        device_id: String,
    },
    /// A member leaves channels (removed, left, or no longer eligible): those channels
    /// rotate and stop being delivered to them.
    LeaveChannels {
        /// The member.
        user_id: String,
        /// The channels.
        channel_ids: Vec<String>,
        /// Why (`MemberRemoved`, `MemberLeft`, `RegimeLost`).
        reason: AccessReason,
        /// Who made the change, for the channel's membership history: the coordinator,
        /// the member who left, or `None` when the server removed them (`RegimeLost`).
        by: Option<String>,
    },
}

/// What an exclusion did, for the access log.
#[derive(Clone, Debug, Default)]
pub struct Excluded {
    /// Whether anything changed (false when it was done already: exclusion is idempotent).
    pub changed: bool,
    /// Sessions ended.
    pub sessions_closed: usize,
    /// Channels that need a new epoch before the next message.
    pub channels_rotated: usize,
    /// Channels left (for [`Exclusion::LeaveChannels`]).
    pub channels_left: Vec<String>,
    /// The membership events stored for them, one per channel left, to announce.
    pub(crate) membership_events: Vec<membership_event::Model>,
}

/// Applies an exclusion: one transaction, then the fan-out of its changes.
pub async fn exclude(state: &AppState, exclusion: Exclusion) -> Result<Excluded> {
    let (excluded, changes) = commit(state, exclusion).await?;
    announce(state.bus.as_ref(), changes);
    Ok(excluded)
}

/// The transaction of an exclusion, without the fan-out: what a node that crashes right
/// after the commit leaves behind. The access feed still carries the changes to every
/// node (tests use this to show it).
pub async fn commit(
    state: &AppState,
    exclusion: Exclusion,
) -> Result<(Excluded, Vec<AccessChange>)> {
    let now = state.now_ms();
    let mut outcome = Excluded::default();
    let mut rotate: Vec<String> = Vec::new();
    let mut changes: Vec<(String, AccessScope, AccessReason)> = Vec::new();
    // Takes turns with the message writer for SQLite's write lock (see `write_turn`).
    let turn = state.messages.write_turn().await;
    let txn = db::begin_write(&state.db).await?;
    db::access::lock_for_append(&txn).await?;
    match exclusion {
        Exclusion::DisableAccount { user_id } => {
            outcome.changed = db::accounts::set_disabled(&txn, &user_id, true).await?;
            let closed = db::sessions::revoke_all(&txn, &user_id, now).await?;
            outcome.sessions_closed = usize::try_from(closed).unwrap_or(usize::MAX);
            if outcome.changed {
                rotate = channels_of(&txn, &user_id).await?;
                changes.push((user_id, AccessScope::Account, AccessReason::AccountDisabled));
            }
        }
        Exclusion::EndSessions {
            user_id,
            sessions,
            reason,
        } => match sessions {
            Sessions::All => {
                let closed = db::sessions::revoke_all(&txn, &user_id, now).await?;
                outcome.sessions_closed = usize::try_from(closed).unwrap_or(usize::MAX);
                outcome.changed = closed > 0;
                if outcome.changed {
                    changes.push((user_id, AccessScope::Account, reason));
                }
            }
            Sessions::One(session_id) => {
                if db::sessions::revoke(&txn, &user_id, &session_id, now).await? {
                    outcome.changed = true;
                    outcome.sessions_closed = 1;
                    changes.push((user_id, AccessScope::Session(session_id), reason));
                }
            }
            Sessions::AllBut(keep) => {
                for session in db::sessions::list_for_user(&txn, &user_id).await? {
                    if session.id != keep
                        && db::sessions::revoke(&txn, &user_id, &session.id, now).await?
                    {
                        outcome.changed = true;
                        outcome.sessions_closed += 1;
                        changes.push((user_id.clone(), AccessScope::Session(session.id), reason));
                    }
                }
            }
        },
        Exclusion::RevokeDevice { user_id, device_id } => {
            outcome.changed = db::keys::revoke_device(&txn, &device_id, now).await?;
            let sessions = db::sessions::revoke_for_device(&txn, &device_id, now).await?;
            outcome.sessions_closed = sessions.len();
            if outcome.changed {
                rotate = channels_of(&txn, &user_id).await?;
                changes.push((
                    user_id.clone(),
                    AccessScope::Device(device_id),
                    AccessReason::DeviceRevoked,
                ));
            }
            // A session bound to the device may have opened connections for another one.
            for session_id in sessions {
                changes.push((
                    user_id.clone(),
                    AccessScope::Session(session_id),
                    AccessReason::DeviceRevoked,
                ));
            }
        }
        Exclusion::LeaveChannels {
            user_id,
            channel_ids,
            reason,
            by,
        } => {
            let (change, category) = match reason {
                AccessReason::MemberLeft => ("left", None),
                AccessReason::RegimeLost => ("removed", Some("regime_lost")),
                _ => ("removed", Some("coordinator")),
            };
            for channel_id in channel_ids {
                if db::members::delete(&txn, &channel_id, &user_id).await? {
                    let event = NewEvent {
                        channel_id: &channel_id,
                        change,
                        member_id: &user_id,
                        actor_id: by.as_deref(),
                        reason: category,
                        role: None,
                        device_id: None,
                    };
                    outcome
                        .membership_events
                        .push(db::membership_events::append(&txn, event, now).await?);
                    rotate.push(channel_id.clone());
                    outcome.channels_left.push(channel_id.clone());
                    changes.push((user_id.clone(), AccessScope::Channel(channel_id), reason));
                }
            }
            outcome.changed = !outcome.channels_left.is_empty();
        }
    }
    outcome.channels_rotated = rotate.len();
    if !rotate.is_empty() {
        db::channels::require_rotation(&txn, rotate).await?;
    }
    let mut appended = Vec::with_capacity(changes.len());
    for (user_id, scope, reason) in changes {
        appended.push(append(&txn, user_id, scope, reason, now).await?);
    }
    txn.commit().await?;
    drop(turn);
    Ok((outcome, appended))
}

/// Closes channels to members without excluding them (a new charter or rules version
/// they have not accepted, C2; a destroyed channel, C13): their connections stop
/// receiving those channels on every node. No key changes: they are still members.
pub async fn close_channels(
    state: &AppState,
    closures: Vec<(String, String)>,
    reason: AccessReason,
) -> Result<()> {
    if closures.is_empty() {
        return Ok(());
    }
    let now = state.now_ms();
    let turn = state.messages.write_turn().await;
    let txn = db::begin_write(&state.db).await?;
    db::access::lock_for_append(&txn).await?;
    let mut appended = Vec::with_capacity(closures.len());
    for (user_id, channel_id) in closures {
        appended.push(append(&txn, user_id, AccessScope::Channel(channel_id), reason, now).await?);
    }
    txn.commit().await?;
    drop(turn);
    announce(state.bus.as_ref(), appended);
    Ok(())
}

async fn channels_of(db: &impl sea_orm::ConnectionTrait, user_id: &str) -> Result<Vec<String>> {
    Ok(db::members::of_user(db, user_id)
        .await?
        .into_iter()
        .map(|m| m.channel_id)
        .collect())
}

async fn append(
    db: &impl sea_orm::ConnectionTrait,
    user_id: String,
    scope: AccessScope,
    reason: AccessReason,
    now_ms: i64,
) -> Result<AccessChange> {
    let (scope_name, target) = match &scope {
        AccessScope::Account => ("account", None),
        AccessScope::Session(id) => ("session", Some(id.clone())),
        AccessScope::Device(id) => ("device", Some(id.clone())),
        AccessScope::Channel(id) => ("channel", Some(id.clone())),
    };
    let id = db::access::append(db, scope_name, reason.as_str(), &user_id, target, now_ms).await?;
    Ok(AccessChange {
        id,
        user_id,
        scope,
        reason,
    })
}

fn announce(bus: &dyn Bus, changes: Vec<AccessChange>) {
    for change in changes {
        bus.publish(BusEvent::Access { change });
    }
}
