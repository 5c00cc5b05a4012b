//! The gate: who may read or write a channel now (CHARTER.md C2, C3, C5, C9, C11). One
//! module gathers the facts — membership, the charter and rules versions and their
//! acceptances, the regime and the institution allow-list against the latest account row,
//! the channel's lifecycle, an archive's reading reason, a practice session's hours — and
//! [`policy::channel_access`] decides on them. REST handlers ([`require`]), the WebSocket
//! connection ([`for_member`]) and the message writer ([`BatchGate`], once per batch)
//! all ask it, so that "who may write in this channel" has one answer.

use std::collections::{HashMap, HashSet};

use passerelle_shared::protocol::v1::channels::{ChannelKind, LegalRegime};
use passerelle_shared::protocol::v1::{Attributes, Role};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::json;

use crate::auth::CurrentUser;
use crate::bus::BusEvent;
use crate::db::{self, entities::channel, entities::user};
use crate::error::{ApiError, Result};
use crate::policy::{
    self, Access, Candidate, CharterFacts, GateFacts, Lifecycle, Refusal, RulesFacts,
};
use crate::state::AppState;

/// Who is asking, as the gate sees them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Viewer<'a> {
    /// Account id.
    pub(crate) user_id: &'a str,
    /// What the regimes and the allow-list check.
    pub(crate) candidate: Candidate<'a>,
}

impl<'a> Viewer<'a> {
    /// The viewer of an authenticated request.
    pub(crate) fn of_user(user: &'a CurrentUser) -> Viewer<'a> {
        Viewer {
            user_id: &user.user_id,
            candidate: Candidate {
                role: Some(user.role),
                disabled: false,
                institution_id: &user.institution_id,
                attributes: user.attributes,
            },
        }
    }

    /// The viewer of a stored account.
    pub(crate) fn of_account(account: &'a user::Model) -> Viewer<'a> {
        Viewer {
            user_id: &account.id,
            candidate: candidate_of(account),
        }
    }
}

/// What the regimes check in a stored account.
pub(crate) fn candidate_of(account: &user::Model) -> Candidate<'_> {
    Candidate {
        role: Role::parse(&account.role),
        disabled: account.disabled,
        institution_id: &account.institution_id,
        attributes: Attributes {
            bound_by_professional_secrecy: account.bound_by_professional_secrecy,
            social_action_professional: account.social_action_professional,
        },
    }
}

/// The channel whose internal rules apply to `channel`: its working group, or itself.
pub(crate) fn rules_owner(channel: &channel::Model) -> &str {
    channel.group_id.as_deref().unwrap_or(&channel.id)
}

/// Gathers the facts the gate decides on.
pub(crate) async fn facts(
    db: &impl ConnectionTrait,
    viewer: &Viewer<'_>,
    channel: &channel::Model,
    now_ms: i64,
) -> Result<GateFacts, DbErr> {
    let lifecycle = Lifecycle::parse(&channel.status);
    let (Some(kind), Some(regime)) = (
        ChannelKind::parse(&channel.kind),
        LegalRegime::parse(&channel.regime),
    ) else {
        return Err(DbErr::Custom(format!(
            "channel {} is malformed",
            channel.id
        )));
    };
    let institutions = db::channels::institutions_of(db, &channel.id).await?;
    let membership_refusal = policy::join_refusal(&viewer.candidate, regime, &institutions);
    let charter = match db::charter::current_charter_version(db).await? {
        None => CharterFacts::NotPublished,
        Some(version) => CharterFacts::Current {
            accepted: db::charter::charter_accepted(db, viewer.user_id, version).await?,
        },
    };
    let rules = if policy::rules_apply(kind) {
        let owner = rules_owner(channel);
        match db::charter::current_rules_version(db, owner).await? {
            None => RulesFacts::NotPublished,
            Some(version) => RulesFacts::Current {
                accepted: db::charter::rules_accepted(db, owner, viewer.user_id, version).await?,
            },
        }
    } else {
        RulesFacts::NotRequired
    };
    let archive_access = lifecycle == Lifecycle::Archived
        && db::cases::has_archive_access(db, &channel.id, viewer.user_id, now_ms).await?;
    let session = practice_hours(kind, channel);
    Ok(GateFacts {
        kind,
        lifecycle,
        membership_refusal,
        charter,
        rules,
        archive_access,
        session,
    })
}

/// The gate: may `viewer`, a member, read or write `channel` now? The inner `Err` is
/// the refusal's stable code.
pub(crate) async fn check(
    state: &AppState,
    viewer: &Viewer<'_>,
    channel: &channel::Model,
    access: Access,
) -> Result<Result<(), Refusal>, DbErr> {
    let now = state.now_ms();
    let facts = facts(&state.db, viewer, channel, now).await?;
    Ok(policy::channel_access(&facts, access, now))
}

/// The gate for a REST request by a member: a refusal is recorded as a denial of `action`
/// and answered `403` with its code (or `404` when the channel is gone).
pub(crate) async fn require(
    state: &AppState,
    user: &CurrentUser,
    channel: &channel::Model,
    access: Access,
    action: &'static str,
) -> Result<()> {
    let Err(refusal) = check(state, &Viewer::of_user(user), channel, access).await? else {
        return Ok(());
    };
    state
        .record_denial(
            user.actor(),
            action,
            Some(channel.id.clone()),
            json!({ "reason": refusal.code() }),
        )
        .await;
    if refusal == Refusal::NotFound {
        return Err(ApiError::NotFound);
    }
    Err(ApiError::Blocked(refusal))
}

/// Starts delivering `channel` to the connections of `account` if the gate lets them read
/// it (used when they join it, and when they accept a charter or rules).
pub(crate) async fn subscribe_if_open(
    state: &AppState,
    account: &user::Model,
    channel: &channel::Model,
) -> Result<bool> {
    let open = check(state, &Viewer::of_account(account), channel, Access::Read)
        .await?
        .is_ok();
    if open {
        state.bus.publish(BusEvent::MemberAdded {
            channel_id: channel.id.clone(),
            user_id: account.id.clone(),
        });
    }
    Ok(open)
}

/// What the gate says about a channel for one member.
pub(crate) enum Verdict {
    /// Readable (or writable) now.
    Open,
    /// Not a member: refused as before any gate, without saying whether it exists.
    NotMember,
    /// Being destroyed or destroyed.
    Gone,
    /// Closed to this member for now, and why.
    Refused(Refusal),
    /// The database failed.
    Unavailable,
}

/// The gate for one member and one channel, reading its facts now.
pub(crate) async fn for_member(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    access: Access,
) -> Verdict {
    let membership = db::channels::membership(&state.db, channel_id, &user.user_id).await;
    let channel = db::channels::find(&state.db, channel_id).await;
    let (Ok(membership), Ok(channel)) = (membership, channel) else {
        return Verdict::Unavailable;
    };
    let (Some(_), Some(channel)) = (membership, channel) else {
        return Verdict::NotMember;
    };
    match check(state, &Viewer::of_user(user), &channel, access).await {
        Ok(Ok(())) => Verdict::Open,
        Ok(Err(Refusal::NotFound)) => Verdict::Gone,
        Ok(Err(refusal)) => Verdict::Refused(refusal),
        Err(err) => {
            tracing::error!(error = %err, "the charter gate could not read the database");
            Verdict::Unavailable
        }
    }
}

/// The gate's facts for the senders and channels of a batch of sends, read inside the
/// batch's transaction with one query per fact, whatever the number of messages.
pub(crate) struct BatchGate {
    /// The batch's channels that exist.
    pub(crate) channels: HashMap<String, channel::Model>,
    /// Their institution allow-lists.
    pub(crate) institutions: HashMap<String, Vec<String>>,
    /// The senders' accounts.
    pub(crate) accounts: HashMap<String, user::Model>,
    /// The charter version in force, if any.
    pub(crate) charter: Option<i64>,
    /// The senders who accepted it.
    pub(crate) charter_accepted: HashSet<String>,
    /// The rules version in force of each rules owner (working group, or the channel
    /// itself) that has one.
    pub(crate) rules: HashMap<String, i64>,
    /// The rules versions accepted, by (owner, user).
    pub(crate) rules_accepted: HashSet<(String, String, i64)>,
}

impl BatchGate {
    /// Reads the facts for these (channel, sender) pairs.
    pub(crate) async fn read(
        txn: &impl ConnectionTrait,
        sends: &[(String, String)],
    ) -> Result<BatchGate, DbErr> {
        let mut channel_ids: Vec<String> = sends.iter().map(|(c, _)| c.clone()).collect();
        let mut user_ids: Vec<String> = sends.iter().map(|(_, u)| u.clone()).collect();
        for list in [&mut channel_ids, &mut user_ids] {
            list.sort_unstable();
            list.dedup();
        }
        let channels: HashMap<String, channel::Model> = db::channels::find_many(txn, &channel_ids)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let mut institutions: HashMap<String, Vec<String>> = HashMap::new();
        for row in db::channels::institutions_many(txn, &channel_ids).await? {
            institutions
                .entry(row.channel_id)
                .or_default()
                .push(row.institution_id);
        }
        let accounts = db::channels::accounts_many(txn, &user_ids)
            .await?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let charter = db::charter::current_charter_version(txn).await?;
        let charter_accepted = match charter {
            Some(version) => db::charter::charter_accepted_by(txn, version, &user_ids)
                .await?
                .into_iter()
                .collect(),
            None => HashSet::new(),
        };
        let mut owners = Vec::new();
        let mut owner_keys = Vec::new();
        for (channel_id, user_id) in sends {
            if let Some(channel) = channels.get(channel_id) {
                let owner = rules_owner(channel).to_owned();
                owner_keys.push((owner.clone(), user_id.clone()));
                owners.push(owner);
            }
        }
        owners.sort_unstable();
        owners.dedup();
        owner_keys.sort_unstable();
        owner_keys.dedup();
        let rules = db::charter::current_rules_versions(txn, &owners)
            .await?
            .into_iter()
            .collect();
        let rules_accepted = db::charter::rules_accepted_by(txn, &owner_keys)
            .await?
            .into_iter()
            .collect();
        Ok(BatchGate {
            channels,
            institutions,
            accounts,
            charter,
            charter_accepted,
            rules,
            rules_accepted,
        })
    }

    /// May `sender_user`, a member, write in `channel` now? Decided by
    /// [`policy::channel_access`] on the batch's facts, like [`check`] on a request's.
    pub(crate) fn writable(
        &self,
        channel: &channel::Model,
        sender_user: &str,
        now: i64,
    ) -> Result<Result<(), Refusal>, DbErr> {
        let Some(account) = self.accounts.get(sender_user) else {
            return Ok(Err(Refusal::NotMember));
        };
        let (Some(kind), Some(regime)) = (
            ChannelKind::parse(&channel.kind),
            LegalRegime::parse(&channel.regime),
        ) else {
            return Err(DbErr::Custom(format!(
                "channel {} is malformed",
                channel.id
            )));
        };
        let allowed = self
            .institutions
            .get(&channel.id)
            .map_or(&[][..], Vec::as_slice);
        let charter = match self.charter {
            None => CharterFacts::NotPublished,
            Some(_) => CharterFacts::Current {
                accepted: self.charter_accepted.contains(sender_user),
            },
        };
        let rules = if policy::rules_apply(kind) {
            let owner = rules_owner(channel);
            match self.rules.get(owner) {
                None => RulesFacts::NotPublished,
                Some(version) => RulesFacts::Current {
                    accepted: self.rules_accepted.contains(&(
                        owner.to_owned(),
                        sender_user.to_owned(),
                        *version,
                    )),
                },
            }
        } else {
            RulesFacts::NotRequired
        };
        let facts = GateFacts {
            kind,
            lifecycle: Lifecycle::parse(&channel.status),
            membership_refusal: policy::join_refusal(&candidate_of(account), regime, allowed),
            charter,
            rules,
            // Only reading an archive needs a reason; writing to one is refused anyway.
            archive_access: false,
            session: practice_hours(kind, channel),
        };
        Ok(policy::channel_access(&facts, Access::Write, now))
    }
}

/// A practice session's start and end (unix ms).
fn practice_hours(kind: ChannelKind, channel: &channel::Model) -> Option<(i64, i64)> {
    match (kind, channel.starts_at, channel.ends_at) {
        (ChannelKind::PracticeSession, Some(starts_at), Some(ends_at)) => {
            Some((starts_at, ends_at))
        }
        _ => None,
    }
}
