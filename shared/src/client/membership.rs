//! A channel's membership: the history of §21 (the server's word, for display) and the
//! signed membership log of §22, which the SDK verifies and derives the members from
//! before it encrypts for anyone (docs/PROTOCOL.md §22), and which it extends when it
//! adds or removes a member.

use std::collections::BTreeMap;

use super::device::Device;
use super::{decode, Client, ClientError, Result};
use crate::crypto::{
    verify_log, DeviceSigningPublicKey, MembershipRecord, MembershipState, RecordBody,
};
use crate::protocol::v1::channels::{
    AddMember, ChannelDetail, MembershipLog, MembershipPage, RemoveMember, StartMembershipLog,
};
use crate::protocol::v1::{routes, Role};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
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
            return Ok(None);
        }
        let mut keys: BTreeMap<(String, String), DeviceSigningPublicKey> = BTreeMap::new();
        let mut actors: Vec<&str> = log.records.iter().map(|r| r.actor.as_str()).collect();
        actors.sort_unstable();
        actors.dedup();
        for actor in actors {
            if let Some((identity, devices)) = self.user_keys(actor).await? {
                for (certificate, _revoked) in devices {
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
        Ok(Some(state))
    }

    /// Signs the record that extends the channel's log with `fill` (kind, subjects, …),
    /// starting the log first with a genesis of the current members if it has none.
    pub(crate) async fn next_record(
        &mut self,
        device: &Device,
        channel_id: &str,
        fill: impl FnOnce(RecordBody) -> RecordBody,
    ) -> Result<MembershipRecord> {
        let state = match self.verified_membership(channel_id).await? {
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
    /// (and, among them, those whose account is a coordinator's), signed by this device.
    pub async fn start_membership_log(
        &mut self,
        device: &Device,
        channel_id: &str,
    ) -> Result<MembershipState> {
        let detail: ChannelDetail = self.call(routes::CHANNEL, [channel_id]).await?;
        let mut coordinators: Vec<String> = detail
            .members
            .iter()
            .filter(|m| m.role == Role::Coordinator || m.user_id == self.me.id)
            .map(|m| m.user_id.clone())
            .collect();
        coordinators.sort();
        let empty = MembershipState::empty(channel_id);
        let record = RecordBody {
            kind: "genesis".into(),
            subjects: detail.members.iter().map(|m| m.user_id.clone()).collect(),
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
                user_id: user_id.to_owned(),
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

impl From<crate::crypto::LogError> for ClientError {
    fn from(err: crate::crypto::LogError) -> Self {
        ClientError::MembershipLog(err)
    }
}
