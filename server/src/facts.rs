//! The facts the gate decides on (CHARTER.md C2, C5, C9, C11), read from the database:
//! for one viewer and one channel ([`facts`]), or for every sender and channel of a batch
//! of sends at once ([`BatchGate`]). The decision is [`policy::channel_access`]; who asks
//! is [`crate::gate`] (requests and connections) and the message writer (batches).

use std::collections::{HashMap, HashSet};

use passerelle_shared::protocol::v1::channels::{ChannelKind, LegalRegime};
use passerelle_shared::protocol::v1::{Attributes, Role};
use sea_orm::{ConnectionTrait, DbErr};

use crate::db::{self, entities::channel, entities::user};
use crate::policy::{
    self, Access, Candidate, CharterFacts, GateFacts, Lifecycle, Refusal, RulesFacts,
};

/// Who is asking, as the gate sees them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Viewer<'a> {
    /// Account id.
    pub(crate) user_id: &'a str,
    /// What the regimes and the allow-list check.
    pub(crate) candidate: Candidate<'a>,
}

impl<'a> Viewer<'a> {
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
        let accounts = db::accounts::accounts_many(txn, &user_ids)
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
