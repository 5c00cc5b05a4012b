//! A channel's membership: the history of §21 (the server's word, for display) and the
//! signed membership log of §22, which the SDK verifies and derives the members from
//! before it encrypts for anyone (docs/PROTOCOL.md §22), and which it extends when it
//! adds or removes a member.

use std::collections::{BTreeMap, HashMap};

use super::device::Device;
use super::{decode, Client, ClientError, Result};
use crate::crypto::{
    check_contains, verify_log, DeviceSigningPublicKey, LogError, LogHead, MembershipRecord,
    MembershipState, RecordBody, RecordHash, LOG_SERVER_REMOVAL,
};
use crate::protocol::v1::channels::{
    AddMember, ChannelDetail, GroupCoordinators, LeaveChannel, MembershipChange, MembershipEvent,
    MembershipLog, MembershipPage, RemoveMember, SetGroupCoordinators, StartMembershipLog,
};
use crate::protocol::v1::{routes, Role};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Most heads kept per channel from members' messages, waiting for a log that shows them
/// (each is a member's signed word; a member who sends many only blocks the channel).
const MAX_CLAIMS: usize = 16;

/// What this client knows of each channel's membership log beyond one reading
/// (docs/PROTOCOL.md §22.6): the head it verified last (kept between runs), the hashes of
/// the log it read last (in memory), and heads members' messages named that no log
/// served here has shown yet (kept between runs).
#[derive(Debug, Default)]
pub(crate) struct HeadWatch {
    /// Per channel, the head of the log verified last.
    pub(crate) heads: BTreeMap<String, LogHead>,
    /// Per channel, heads named by members' messages, not yet seen in a served log.
    pub(crate) claims: BTreeMap<String, Vec<LogHead>>,
    /// Per channel, the hash of each record of the log verified last, in order.
    hashes: HashMap<String, Vec<RecordHash>>,
    /// Per channel, a refusal found while reading a message, for the agent to report.
    alerts: BTreeMap<String, LogError>,
}

impl HeadWatch {
    /// The refusal found for `channel_id` since the last call, if any.
    pub(crate) fn take_alert(&mut self, channel_id: &str) -> Option<LogError> {
        self.alerts.remove(channel_id)
    }

    fn claim(&mut self, channel_id: &str, head: LogHead) {
        let claims = self.claims.entry(channel_id.to_owned()).or_default();
        if !claims.contains(&head) {
            if claims.len() >= MAX_CLAIMS {
                claims.remove(0);
            }
            claims.push(head);
        }
    }

    /// Checks a log just verified against what was seen before; on success it becomes
    /// what is remembered.
    fn accept(
        &mut self,
        channel_id: &str,
        records: &[MembershipRecord],
        state: Option<&MembershipState>,
    ) -> Result<(), LogError> {
        if let Some(known) = self.heads.get(channel_id) {
            check_contains(records, known, LogError::RolledBack)?;
        }
        for claim in self.claims.get(channel_id).into_iter().flatten() {
            check_contains(records, claim, LogError::Hidden)?;
        }
        self.claims.remove(channel_id);
        if let Some(head) = state.and_then(MembershipState::log_head) {
            self.heads.insert(channel_id.to_owned(), head);
        }
        self.hashes.insert(
            channel_id.to_owned(),
            records.iter().map(MembershipRecord::hash).collect(),
        );
        Ok(())
    }

    /// Whether `head` is already known to be in the channel's log (`Some(true)`), known
    /// to contradict it (`Some(false)`: another record at that position), or beyond what
    /// was read here (`None`).
    fn knows(&self, channel_id: &str, head: &LogHead) -> Option<bool> {
        if self.heads.get(channel_id) == Some(head) {
            return Some(true);
        }
        let hashes = self.hashes.get(channel_id)?;
        let index = usize::try_from(head.seq.checked_sub(1)?).ok()?;
        hashes.get(index).map(|hash| *hash == head.hash)
    }
}

impl Client {
    /// The membership events of a channel after event `after` (0: from the first one the
    /// caller may read), at most `limit` of them; `has_more` says whether to ask again from
    /// the last one's `seq`.
    pub async fn membership_events(
        &self,
        channel_id: &str,
        after: u64,
        limit: u64,
    ) -> Result<MembershipPage> {
        let query = [("after", after), ("limit", limit)];
        decode(
            self.endpoint(routes::CHANNEL_MEMBERSHIP, [channel_id])
                .query(&query)
                .send()
                .await?,
        )
        .await
    }

    /// The channel's signed membership log, verified from its genesis under the
    /// certificates of its actors' devices checked against their pinned identities.
    /// `None` for a channel that has no log yet (created before it, §22.4).
    pub async fn verified_membership(
        &mut self,
        channel_id: &str,
    ) -> Result<Option<MembershipState>> {
        let log: MembershipLog = self
            .call(routes::CHANNEL_MEMBERSHIP_LOG, [channel_id])
            .await?;
        if log.records.is_empty() {
            // No log, for a channel whose log was seen here or named by a member.
            self.membership.accept(channel_id, &[], None)?;
            return Ok(None);
        }
        let mut keys: BTreeMap<(String, String), DeviceSigningPublicKey> = BTreeMap::new();
        let mut actors: Vec<&str> = log.records.iter().map(|r| r.actor.as_str()).collect();
        actors.sort_unstable();
        actors.dedup();
        for actor in actors {
            if let Some((current, devices)) = self.user_keys(actor).await? {
                for (certificate, _revoked) in devices {
                    // A device of an identity the actor has reset since, as the key log
                    // shows it: its records were hers when it signed them (§22.2 point 5).
                    let (identity, _) = self.certifying_identity(&certificate.device_id, &current);
                    if certificate.verify(&identity).is_ok() {
                        keys.insert(
                            (actor.to_owned(), certificate.device_id.clone()),
                            certificate.keys.signing.clone(),
                        );
                    }
                }
            }
        }
        let state = verify_log(channel_id, &log.records, |user, device| {
            keys.get(&(user.to_owned(), device.to_owned())).cloned()
        })?;
        // A valid log may still be a prefix or another branch of one seen before.
        self.membership
            .accept(channel_id, &log.records, Some(&state))?;
        Ok(Some(state))
    }

    /// What this client remembers of the channels' membership logs, to keep between runs:
    /// per channel the head verified last, and the heads members' messages named that no
    /// log served here has shown yet (docs/PROTOCOL.md §22.6).
    pub fn membership_memory(&self) -> (BTreeMap<String, LogHead>, BTreeMap<String, Vec<LogHead>>) {
        (
            self.membership.heads.clone(),
            self.membership.claims.clone(),
        )
    }

    /// Puts back what an earlier run remembered ([`Client::membership_memory`]), so that
    /// a server that serves an older log, another branch or none after a restart is caught.
    pub fn restore_membership_memory(
        &mut self,
        (heads, claims): (BTreeMap<String, LogHead>, BTreeMap<String, Vec<LogHead>>),
    ) {
        self.membership.heads = heads;
        self.membership.claims = claims;
    }

    /// The head of the channel's membership log this client verified last (kept between
    /// runs), which it puts in the content of each message it seals there.
    pub fn membership_head(&self, channel_id: &str) -> Option<LogHead> {
        self.membership.heads.get(channel_id).copied()
    }

    /// Compares the head a member's message named with the log as verified here
    /// (docs/PROTOCOL.md §22.6). A head beyond it is kept, and the log read again: a log
    /// that still does not contain it is refused ([`LogError::Hidden`]) until one does,
    /// so nothing is encrypted for the channel meanwhile; another record at its
    /// position is a fork ([`LogError::Forked`]). The refusal is kept for the agent's
    /// [`super::Event::MembershipLogRefused`].
    pub(crate) async fn note_membership_head(&mut self, channel_id: &str, head: LogHead) {
        match self.membership.knows(channel_id, &head) {
            Some(true) => return,
            Some(false) => {
                self.membership.claim(channel_id, head);
                self.membership
                    .alerts
                    .insert(channel_id.to_owned(), LogError::Forked);
                return;
            }
            None => self.membership.claim(channel_id, head),
        }
        // Another failure (the server not reachable now) keeps the claim for the next
        // reading.
        if let Err(ClientError::MembershipLog(refusal)) = self.verified_membership(channel_id).await
        {
            self.membership
                .alerts
                .insert(channel_id.to_owned(), refusal);
        }
    }

    /// Signs the `removed` records (reason `server`) of the members the verified log still
    /// names but the server removed by itself (a regime lost, §15.2), when this account
    /// coordinates the channel by the log (docs/PROTOCOL.md §22.3): the server cannot sign
    /// for its own removals. Someone counts as removed by the server when they are not in
    /// the server's member list and their latest membership event is a `removed` with no
    /// actor. Another coordinator ratifying first (409) is fine: the log is read again.
    /// Returns the log as it stands after, `None` for a channel without one.
    pub async fn ratify_server_removals(
        &mut self,
        device: &Device,
        channel_id: &str,
    ) -> Result<Option<MembershipState>> {
        let Some(mut state) = self.verified_membership(channel_id).await? else {
            return Ok(None);
        };
        if !state.coordinators.contains(self.me.id.as_str()) {
            return Ok(Some(state));
        }
        let detail: ChannelDetail = self.call(routes::CHANNEL, [channel_id]).await?;
        let gone: Vec<String> = state
            .members
            .iter()
            .filter(|id| !detail.members.iter().any(|m| &m.user_id == *id))
            .cloned()
            .collect();
        if gone.is_empty() {
            return Ok(Some(state));
        }
        // Each former member's latest event, from the history this account may read.
        let mut last: BTreeMap<String, MembershipEvent> = BTreeMap::new();
        let mut after = 0;
        loop {
            let page = self.membership_events(channel_id, after, 500).await?;
            let Some(end) = page.events.last().map(|e| e.seq) else {
                break;
            };
            for event in page.events {
                last.insert(event.member.user_id.to_string(), event);
            }
            if !page.has_more {
                break;
            }
            after = end;
        }
        for user_id in gone {
            let by_server = last
                .get(&user_id)
                .is_some_and(|e| e.change == MembershipChange::Removed && e.actor.is_none());
            if !by_server {
                continue;
            }
            let record = RecordBody {
                kind: "removed".into(),
                subjects: vec![user_id],
                reason: LOG_SERVER_REMOVAL.into(),
                ..state.next_body(
                    detail.channel.epoch,
                    &self.me.id,
                    &device.device_id,
                    now_ms(),
                )
            }
            .sign(device.keys())?;
            let posted = self
                .call_with_no_answer(
                    routes::CHANNEL_MEMBERSHIP_LOG_START,
                    [channel_id],
                    &StartMembershipLog {
                        record: record.clone(),
                    },
                )
                .await;
            match posted {
                Ok(()) => state.apply(&record, &device.certificate.keys.signing)?,
                Err(err) if err.code() == Some("membership_log_conflict") => {
                    return self.verified_membership(channel_id).await;
                }
                Err(err) => return Err(err),
            }
        }
        Ok(Some(state))
    }

    /// Brings the channel's log up to date as a coordinator's client does when it first
    /// works with a channel (docs/PROTOCOL.md §22.4): a channel without a log (one the
    /// server made: a referral accepted, a meeting's group, the demo) gets its genesis
    /// when this account is a coordinator of it (its account role, as the member list
    /// shows it) and the channel is not archived; a channel with one gets the server's
    /// own removals ratified ([`Client::ratify_server_removals`]). A log refused here
    /// (it does not verify, or does not extend a head seen before) is returned as the
    /// error and nothing is signed: a genesis would only hide what the server withdrew.
    pub async fn ensure_membership_log(
        &mut self,
        device: &Device,
        channel_id: &str,
    ) -> Result<Option<MembershipState>> {
        if self.verified_membership(channel_id).await?.is_some() {
            return self.ratify_server_removals(device, channel_id).await;
        }
        let detail: ChannelDetail = self.call(routes::CHANNEL, [channel_id]).await?;
        let coordinator = detail
            .members
            .iter()
            .any(|m| m.user_id == self.me.id && m.role == Role::Coordinator);
        if !coordinator || detail.channel.status == "archived" {
            return Ok(None);
        }
        match self.start_membership_log(device, channel_id).await {
            Ok(state) => Ok(Some(state)),
            // Another coordinator started it meanwhile.
            Err(err) if err.code() == Some("membership_log_conflict") => {
                self.verified_membership(channel_id).await
            }
            Err(err) => Err(err),
        }
    }

    /// Makes sure this client holds a verified membership log for the channel before it
    /// wraps an epoch key for anyone there or seals a message there (docs/PROTOCOL.md
    /// §22.4): without one, the member list is only the server's word, and a server that
    /// hides the log, or made the channel itself, could list any device. A log verified
    /// here before (a head kept, between runs too) is enough: reading it again
    /// ([`Client::refresh_roster`]) refuses one the server withdrew since. Otherwise the
    /// log is read; a channel without one gets its genesis from a coordinator's client
    /// ([`Client::ensure_membership_log`], so coordinators never notice), and anyone
    /// else gets [`ClientError::MembershipLogMissing`]: nothing is wrapped nor sent.
    pub async fn require_membership_log(
        &mut self,
        device: &Device,
        channel_id: &str,
    ) -> Result<()> {
        if self.membership.heads.contains_key(channel_id) {
            return Ok(());
        }
        if self.verified_membership(channel_id).await?.is_some() {
            return Ok(());
        }
        match self.ensure_membership_log(device, channel_id).await? {
            Some(_) if self.membership.heads.contains_key(channel_id) => Ok(()),
            _ => Err(ClientError::MembershipLogMissing(channel_id.to_owned())),
        }
    }

    /// Signs the record that extends the channel's log with `fill` (kind, subjects, …),
    /// starting the log first with a genesis of the current members if it has none.
    /// Removals the server made by itself are ratified first, so that the change extends
    /// a log whose members are the channel's.
    pub(crate) async fn next_record(
        &mut self,
        device: &Device,
        channel_id: &str,
        fill: impl FnOnce(RecordBody) -> RecordBody,
    ) -> Result<MembershipRecord> {
        let state = match self.ratify_server_removals(device, channel_id).await? {
            Some(state) => state,
            None => self.start_membership_log(device, channel_id).await?,
        };
        let detail: ChannelDetail = self.call(routes::CHANNEL, [channel_id]).await?;
        let body = state.next_body(
            detail.channel.epoch,
            &self.me.id,
            &device.device_id,
            now_ms(),
        );
        Ok(fill(body).sign(device.keys())?)
    }

    /// Starts the log of a channel that has none: a genesis naming its current members
    /// and, among them, its coordinators — those whose account is a coordinator's, the
    /// members its working group names as coordinators (§20: they coordinate its cases
    /// and sessions), and this signer — signed by this device, as the browser does.
    pub async fn start_membership_log(
        &mut self,
        device: &Device,
        channel_id: &str,
    ) -> Result<MembershipState> {
        let detail: ChannelDetail = self.call(routes::CHANNEL, [channel_id]).await?;
        let mut named: Vec<String> = Vec::new();
        if let Some(group_id) = &detail.channel.group_id {
            let group: Result<GroupCoordinators> = self
                .call(routes::CHANNEL_COORDINATORS, [group_id.as_str()])
                .await;
            // A group this account cannot read names nobody here.
            if let Ok(group) = group {
                named = group
                    .coordinators
                    .into_iter()
                    .map(|c| c.user_id.to_string())
                    .collect();
            }
        }
        let mut coordinators: Vec<String> = detail
            .members
            .iter()
            .filter(|m| {
                m.role == Role::Coordinator
                    || m.user_id == self.me.id
                    || named.iter().any(|n| n.as_str() == m.user_id.as_str())
            })
            .map(|m| m.user_id.to_string())
            .collect();
        coordinators.sort();
        let empty = MembershipState::empty(channel_id);
        let record = RecordBody {
            kind: "genesis".into(),
            subjects: detail
                .members
                .iter()
                .map(|m| m.user_id.to_string())
                .collect(),
            coordinators,
            ..empty.next_body(
                detail.channel.epoch,
                &self.me.id,
                &device.device_id,
                now_ms(),
            )
        }
        .sign(device.keys())?;
        self.call_with_no_answer(
            routes::CHANNEL_MEMBERSHIP_LOG_START,
            [channel_id],
            &StartMembershipLog {
                record: record.clone(),
            },
        )
        .await?;
        let mut state = empty;
        state.apply(&record, &device.certificate.keys.signing)?;
        // Its head is kept as for a log read: a server that withdraws it later is caught.
        self.membership
            .accept(channel_id, std::slice::from_ref(&record), Some(&state))?;
        Ok(state)
    }

    /// Adds a member with the signed record of the addition (`as_coordinator`: they may
    /// add and remove members in turn, as the log sees it).
    pub async fn add_member(
        &mut self,
        device: &Device,
        channel_id: &str,
        user_id: &str,
        as_coordinator: bool,
    ) -> Result<()> {
        let record = self
            .next_record(device, channel_id, |body| RecordBody {
                kind: "added".into(),
                subjects: vec![user_id.to_owned()],
                role: if as_coordinator {
                    "coordinator".into()
                } else {
                    String::new()
                },
                ..body
            })
            .await?;
        self.call_with_no_answer(
            routes::CHANNEL_MEMBER_ADD,
            [channel_id],
            &AddMember {
                user_id: user_id.into(),
                record: Some(record),
            },
        )
        .await
    }

    /// Removes a member with the signed record of the removal; `reason` (the motif, in a
    /// few words) goes to the access log only, the record carries its category.
    pub async fn remove_member(
        &mut self,
        device: &Device,
        channel_id: &str,
        user_id: &str,
        reason: &str,
    ) -> Result<()> {
        let record = self
            .next_record(device, channel_id, |body| RecordBody {
                kind: "removed".into(),
                subjects: vec![user_id.to_owned()],
                reason: "coordinator".into(),
                ..body
            })
            .await?;
        self.call_with_no_answer(
            routes::CHANNEL_MEMBER_REMOVE,
            [channel_id, user_id],
            &RemoveMember {
                reason: reason.to_owned(),
                record: Some(record),
            },
        )
        .await
    }
}

impl Client {
    /// Leaves a channel; once it has a signed log, with the `left` record this device
    /// signs (docs/PROTOCOL.md §22), which the server requires.
    pub async fn leave_channel(&mut self, device: &Device, channel_id: &str) -> Result<()> {
        let record = match self.verified_membership(channel_id).await? {
            Some(state) => {
                let detail: ChannelDetail = self.call(routes::CHANNEL, [channel_id]).await?;
                let body = state.next_body(
                    detail.channel.epoch,
                    &self.me.id,
                    &device.device_id,
                    now_ms(),
                );
                Some(
                    RecordBody {
                        kind: "left".into(),
                        subjects: vec![self.me.id.to_string()],
                        ..body
                    }
                    .sign(device.keys())?,
                )
            }
            None => None,
        };
        self.call_with_no_answer(
            routes::CHANNEL_LEAVE,
            [channel_id],
            &LeaveChannel { record },
        )
        .await
    }
}

impl Client {
    /// Names a working group's coordinators (docs/PROTOCOL.md §20); once the group has a
    /// signed log that names this account, with the `role_changed` records of each change
    /// signed by this device (§22): each newly named member, then each no longer named
    /// one, both in the order of their ids.
    pub async fn set_group_coordinators(
        &mut self,
        device: &Device,
        group_id: &str,
        user_ids: &[String],
    ) -> Result<GroupCoordinators> {
        let current: GroupCoordinators =
            self.call(routes::CHANNEL_COORDINATORS, [group_id]).await?;
        let before: Vec<String> = current
            .coordinators
            .into_iter()
            .map(|c| c.user_id.into_string())
            .collect();
        let mut named: Vec<&String> = user_ids.iter().filter(|id| !before.contains(id)).collect();
        named.sort();
        named.dedup();
        let mut unnamed: Vec<&String> = before.iter().filter(|id| !user_ids.contains(id)).collect();
        unnamed.sort();
        let changes = named
            .into_iter()
            .map(|id| (id, "coordinator"))
            .chain(unnamed.into_iter().map(|id| (id, "member")));
        let mut records = Vec::new();
        if let Some(mut state) = self.verified_membership(group_id).await? {
            if state.is_member(&self.me.id) {
                let detail: ChannelDetail = self.call(routes::CHANNEL, [group_id]).await?;
                for (id, role) in changes {
                    let record = RecordBody {
                        kind: "role_changed".into(),
                        subjects: vec![id.clone()],
                        role: role.into(),
                        ..state.next_body(
                            detail.channel.epoch,
                            &self.me.id,
                            &device.device_id,
                            now_ms(),
                        )
                    }
                    .sign(device.keys())?;
                    state.apply(&record, &device.certificate.keys.signing)?;
                    records.push(record);
                }
            }
        }
        self.call_with(
            routes::CHANNEL_COORDINATORS_SET,
            [group_id],
            &SetGroupCoordinators {
                user_ids: user_ids.iter().map(Into::into).collect(),
                records,
            },
        )
        .await
    }
}

impl From<crate::crypto::LogError> for ClientError {
    fn from(err: crate::crypto::LogError) -> Self {
        ClientError::MembershipLog(err)
    }
}
