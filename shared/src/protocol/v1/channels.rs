//! Channels, membership, epochs and history (docs/ARCHITECTURE.md§6).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::InstitutionRef;
use super::Role;
use crate::crypto::{Envelope, MembershipRecord, WithheldReason, WrappedEpochKey};
use crate::ids::{ChannelId, DeviceId, InstitutionId, UserId};

/// What a channel is for (docs/ARCHITECTURE.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A thematic working group of the CLSPD.
    WorkingGroup,
    /// One individual situation, named by a random case reference only.
    Case,
    /// An *analyse de pratiques* session: anonymous, time-bound, short retention.
    PracticeSession,
    /// Two people.
    Direct,
}

impl ChannelKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::WorkingGroup => "working_group",
            ChannelKind::Case => "case",
            ChannelKind::PracticeSession => "practice_session",
            ChannelKind::Direct => "direct",
        }
    }

    /// Parses the stable name.
    pub fn parse(name: &str) -> Option<ChannelKind> {
        [
            ChannelKind::WorkingGroup,
            ChannelKind::Case,
            ChannelKind::PracticeSession,
            ChannelKind::Direct,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// Under which legal regime a channel shares (CHARTER.md C5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegalRegime {
    /// CSI L132-5: the CLSPD's confidential exchanges.
    ClspdConfidential,
    /// CASF L121-6-2: shared secrecy between social-action professionals.
    SharedSecretSocial,
    /// CASF L226-2-2: child protection, professionals bound by secrecy only.
    ChildProtection,
}

impl LegalRegime {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            LegalRegime::ClspdConfidential => "clspd_confidential",
            LegalRegime::SharedSecretSocial => "shared_secret_social",
            LegalRegime::ChildProtection => "child_protection",
        }
    }

    /// Parses the stable name.
    pub fn parse(name: &str) -> Option<LegalRegime> {
        [
            LegalRegime::ClspdConfidential,
            LegalRegime::SharedSecretSocial,
            LegalRegime::ChildProtection,
        ]
        .into_iter()
        .find(|regime| regime.as_str() == name)
    }
}

/// `POST /api/v1/channels`: working groups and direct conversations. Cases are opened
/// with `POST /api/v1/cases` and practice sessions with `POST /api/v1/practice-sessions`,
/// which ask for what those kinds need.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateChannel {
    /// Kind.
    pub kind: ChannelKind,
    /// A working group's institutional name, in clear (never a person's). Empty for a
    /// direct conversation, whose title, if any, is sealed (docs/PROTOCOL.md §24).
    #[serde(default)]
    pub name: String,
    /// Legal regime.
    pub regime: LegalRegime,
    /// Institutions whose professionals may be members (the allow-list).
    #[serde(default)]
    pub institutions: Vec<InstitutionId>,
    /// Initial members besides the creator (account ids).
    #[serde(default)]
    pub members: Vec<UserId>,
}

/// A channel as its members see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Channel {
    /// Channel id.
    pub id: ChannelId,
    /// Kind.
    pub kind: ChannelKind,
    /// A working group's name, or the random reference of a case or a practice session
    /// (`DOS-…`, `SEA-…`), whose title is in `title`, sealed.
    pub name: String,
    /// Legal regime.
    pub regime: LegalRegime,
    /// `active`, `archived` or `destroyed`.
    pub status: String,
    /// The institution allow-list.
    pub institutions: Vec<InstitutionId>,
    /// The current epoch (0 before the first key is published).
    pub epoch: u64,
    /// The last sequence number.
    pub last_seq: u64,
    /// Created at (unix ms).
    pub created_at: i64,
    /// The working group whose internal rules apply to this case or practice session;
    /// absent for a working group (its own rules) and a direct channel (none).
    #[serde(default)]
    pub group_id: Option<ChannelId>,
    /// A practice session's start (unix ms).
    #[serde(default)]
    pub starts_at: Option<i64>,
    /// A practice session's end (unix ms): read-only from then on (CHARTER.md C9).
    #[serde(default)]
    pub ends_at: Option<i64>,
    /// End of a case's follow-up (unix ms), once archived.
    #[serde(default)]
    pub ended_at: Option<i64>,
    /// When the server destroys the whole channel (unix ms): a case's limit, a practice
    /// session's end plus its retention. Absent for working groups and direct channels,
    /// whose old messages are purged as they age instead (CHARTER.md C11).
    #[serde(default)]
    pub destroy_by: Option<i64>,
    /// The caller's own read cursor (the last `seq` they marked read), in the caller's
    /// channel list only: a client counts what is unread since its last visit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_seq: Option<u64>,
    /// The title its members typed, sealed for them (docs/PROTOCOL.md §24); `name` is
    /// then the random reference shown to whoever cannot open it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<super::sealed_meta::SealedTitle>,
}

/// A member of a channel, shown grouped by institution (CHARTER.md C1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// Account id.
    pub user_id: UserId,
    /// Name.
    pub display_name: String,
    /// Institution.
    pub institution: InstitutionRef,
    /// Account role.
    pub role: Role,
    /// Added at (unix ms).
    pub added_at: i64,
    /// The last message they marked read (the same position `receipt` frames carry), so
    /// a conversation opened later shows who read what.
    #[serde(default)]
    pub read_seq: u64,
}

/// `GET /api/v1/channels/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChannelDetail {
    /// The channel.
    pub channel: Channel,
    /// Its current members.
    pub members: Vec<Member>,
}

/// Most channel ids in one `POST /api/v1/channels/destroyed`.
pub const MAX_DESTROYED_QUERY: usize = 1_000;

/// `POST /api/v1/channels/destroyed`: which of these channels were destroyed (or are
/// being destroyed). A device asks for the channels it holds keys of before it writes the
/// key backup, so that a destruction it was offline for is shredded too
/// (docs/PROTOCOL.md §10.6).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestroyedQuery {
    /// Channel ids, at most [`MAX_DESTROYED_QUERY`].
    pub channel_ids: Vec<ChannelId>,
}

/// The answer to [`DestroyedQuery`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DestroyedChannels {
    /// Those of the ids asked for whose channel is destroyed or being destroyed.
    pub destroyed: Vec<ChannelId>,
}

/// `POST /api/v1/channels/{id}/members`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AddMember {
    /// Account id.
    pub user_id: UserId,
    /// The signed record of this addition (PROTOCOL.md §22), extending the channel's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub record: Option<MembershipRecord>,
}

/// `DELETE /api/v1/channels/{id}/members/{user_id}`: the reason is logged (CHARTER.md C3).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RemoveMember {
    /// Why, in a few words.
    pub reason: String,
    /// The signed record of this removal (PROTOCOL.md §22), extending the channel's log;
    /// it carries the reason's category, never these words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub record: Option<MembershipRecord>,
}

/// `POST /api/v1/channels/{id}/leave`: the body is optional until the channel has a signed
/// membership log; from then on it carries the leaver's `left` record (PROTOCOL.md §22).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaveChannel {
    /// The signed record of this departure, by one of the leaver's devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub record: Option<MembershipRecord>,
}

/// `GET /api/v1/channels/{id}/membership-log`: the channel's whole signed membership log
/// (PROTOCOL.md §22), from its first record; empty for a channel that has none yet.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MembershipLog {
    /// The records, in order.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<MembershipRecord>,
}

/// `POST /api/v1/channels/{id}/membership-log`: the first record of a channel's log (the
/// `genesis`, carrying its current members), by one of them; or a coordinator's `removed`
/// record with reason `server`, ratifying a removal the server made by itself (§22.3).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartMembershipLog {
    /// The genesis record, or the ratification of a server's removal.
    #[schema(value_type = Object)]
    pub record: MembershipRecord,
}

/// A device that must receive the key of the next epoch.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub struct DeviceRef {
    /// Owner.
    pub user_id: UserId,
    /// Device id.
    pub device_id: DeviceId,
}

/// `GET /api/v1/channels/{id}/epoch`: the epoch in force and whether a new one is needed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EpochState {
    /// Channel id.
    pub channel_id: ChannelId,
    /// The current epoch (0: none yet).
    pub epoch: u64,
    /// Whether the next sender must create epoch `epoch + 1` first.
    pub rotation_required: bool,
    /// The devices the next epoch's key must be wrapped for, exactly.
    pub devices: Vec<DeviceRef>,
}

/// `POST /api/v1/channels/{id}/epochs`: the key of a new epoch, wrapped for every device
/// but those the sender could not verify, which it lists as withheld (docs/PROTOCOL.md §7.5).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PublishEpoch {
    /// The new epoch: the current one plus one.
    pub epoch: u64,
    /// One wrap per device of [`EpochState::devices`], signed by the sending device.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<WrappedEpochKey>,
    /// The devices of [`EpochState::devices`] left out, with the sender's reason
    /// (`unverified_device` or `revoked_device`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<WithheldKey>,
}

/// A device left out of an epoch, and why (docs/PROTOCOL.md §7.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WithheldKey {
    /// The device.
    pub device_id: DeviceId,
    /// Why.
    #[schema(value_type = String)]
    pub reason: WithheldReason,
}

/// An epoch whose key a device did not receive, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WithheldEpoch {
    /// The epoch.
    pub epoch: u64,
    /// Why.
    #[schema(value_type = String)]
    pub reason: WithheldReason,
}

/// `GET /api/v1/channels/{id}/keys?device_id=`: a device's wrapped keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceKeysPage {
    /// The wraps, by epoch.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<WrappedEpochKey>,
    /// The epochs (from the caller's joining on) whose key was withheld from this device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<WithheldEpoch>,
}

/// `POST /api/v1/channels/{id}/keys/delivered`: the device stored these epochs' keys;
/// the server deletes its wraps of them (docs/PROTOCOL.md §23.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeysDelivered {
    /// The device that fetched and stored the keys: the caller's.
    pub device_id: DeviceId,
    /// The epochs whose wraps it no longer needs.
    pub epochs: Vec<u64>,
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredMessage {
    /// Channel id.
    pub channel_id: ChannelId,
    /// Dense per-channel sequence number.
    pub seq: u64,
    /// Sender account id.
    pub sender: UserId,
    /// The envelope, verified by the server, opaque to it.
    #[schema(value_type = Object)]
    pub envelope: Envelope,
    /// Stored at (unix ms).
    pub ts: i64,
}

/// `GET /api/v1/channels/{id}/messages?after_seq=&limit=`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryPage {
    /// Messages in order.
    pub messages: Vec<StoredMessage>,
    /// Whether more follow.
    pub has_more: bool,
}

/// What changed in a channel's membership (docs/PROTOCOL.md §21).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MembershipChange {
    /// The channel was created; `member` is its creator.
    Created,
    /// `member` was added (at creation or later) by `actor`.
    Added,
    /// `member` was removed, by `actor` or by the server (`actor` absent); see `reason`.
    Removed,
    /// `member` left of their own accord.
    Left,
    /// `member`'s role in the channel changed (see `role`).
    RoleChanged,
    /// `member` certified a new device (see `device_id`): it receives the keys of the
    /// next epoch on.
    DeviceAdded,
}

impl MembershipChange {
    /// Stable name (the stored form).
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipChange::Created => "created",
            MembershipChange::Added => "added",
            MembershipChange::Removed => "removed",
            MembershipChange::Left => "left",
            MembershipChange::RoleChanged => "role_changed",
            MembershipChange::DeviceAdded => "device_added",
        }
    }

    /// Parses the stored form.
    pub fn parse(value: &str) -> Option<Self> {
        [
            MembershipChange::Created,
            MembershipChange::Added,
            MembershipChange::Removed,
            MembershipChange::Left,
            MembershipChange::RoleChanged,
            MembershipChange::DeviceAdded,
        ]
        .into_iter()
        .find(|change| change.as_str() == value)
    }
}

/// Why a member was removed: a closed list, never the coordinator's free-text motif
/// (that one stays in the access log only, CHARTER.md C3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// A coordinator removed them; the motif they typed is in the access log.
    Coordinator,
    /// They lost a role or attribute the channel's legal regime requires (CHARTER.md C5):
    /// the server removed them.
    RegimeLost,
}

impl RemovalReason {
    /// Stable name (the stored form).
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalReason::Coordinator => "coordinator",
            RemovalReason::RegimeLost => "regime_lost",
        }
    }

    /// Parses the stored form.
    pub fn parse(value: &str) -> Option<Self> {
        [RemovalReason::Coordinator, RemovalReason::RegimeLost]
            .into_iter()
            .find(|reason| reason.as_str() == value)
    }
}

/// A role a member holds in one channel, for `role_changed` events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelRole {
    /// Named one of a working group's coordinators (CHARTER.md C1).
    Coordinator,
    /// No longer one of them: an ordinary member.
    Member,
}

impl ChannelRole {
    /// Stable name (the stored form).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelRole::Coordinator => "coordinator",
            ChannelRole::Member => "member",
        }
    }

    /// Parses the stored form.
    pub fn parse(value: &str) -> Option<Self> {
        [ChannelRole::Coordinator, ChannelRole::Member]
            .into_iter()
            .find(|role| role.as_str() == value)
    }
}

/// A person an event names, with their display name when the server resolved it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PersonRef {
    /// Account id.
    pub user_id: UserId,
    /// Name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// One change of a channel's membership, in the channel's order (docs/PROTOCOL.md §21).
/// The server's word: nothing signs it until the signed membership log (issue #17).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MembershipEvent {
    /// Channel.
    pub channel_id: ChannelId,
    /// Position in the channel's membership history: 1, 2, 3, … (dense when nothing aged
    /// out).
    pub seq: u64,
    /// The channel's last message `seq` when the change happened: the note goes right
    /// after that message (0: before the first).
    pub after_seq: u64,
    /// What changed.
    pub change: MembershipChange,
    /// The member concerned.
    pub member: PersonRef,
    /// Who made the change; absent when the server made it (e.g. `regime_lost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<PersonRef>,
    /// For `removed`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RemovalReason>,
    /// For `role_changed`: the member's new role in the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<ChannelRole>,
    /// For `device_added`: the new device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    /// When (unix ms).
    pub at: i64,
}

/// `GET /api/v1/channels/{id}/membership?after=&limit=`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MembershipPage {
    /// Events in order.
    pub events: Vec<MembershipEvent>,
    /// Whether more follow.
    pub has_more: bool,
}

/// Per-channel cursors: the last sequence number a client has.
pub type Cursors = BTreeMap<ChannelId, u64>;

/// `POST /api/v1/channels/{id}/attachments` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttachmentUploaded {
    /// Attachment id, to put in the message's content.
    pub id: String,
    /// Size in bytes.
    pub size: u64,
}

/// One colleague in the directory (`GET /api/v1/directory`): who can be added to a
/// channel. External participants may not browse it (CHARTER.md C6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryEntry {
    /// Account id.
    pub user_id: UserId,
    /// Name.
    pub display_name: String,
    /// Institution.
    pub institution: InstitutionRef,
    /// Account role.
    pub role: Role,
    /// Bound by professional secrecy (may join `child_protection` channels).
    pub bound_by_professional_secrecy: bool,
    /// A social-action professional (may join `shared_secret_social` channels).
    pub social_action_professional: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_without_the_lifecycle_fields_still_parses() {
        let json = r#"{"id":"c","kind":"working_group","name":"G","regime":"clspd_confidential",
            "status":"active","institutions":[],"epoch":0,"last_seq":0,"created_at":1}"#;
        let channel: Channel = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(channel.destroy_by, None);
        let back = serde_json::to_string(&channel).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Channel>(&back).ok(), Some(channel));
    }
}

/// One coordinator a working group names (CHARTER.md C1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupCoordinator {
    /// Account id.
    pub user_id: UserId,
    /// Name shown to colleagues.
    pub display_name: String,
}

/// `GET /api/v1/channels/{id}/coordinators`: a working group's own coordinators. They may
/// do, for the group and its cases and sessions, what a coordinator may; the CLSPD's
/// coordinators keep their powers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupCoordinators {
    /// The group.
    pub group_id: ChannelId,
    /// Its named coordinators.
    pub coordinators: Vec<GroupCoordinator>,
    /// Whether the caller may change the list (an admin, a coordinator of the group).
    pub can_edit: bool,
}

/// `PUT /api/v1/channels/{id}/coordinators`: the new list, members of the group only.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetGroupCoordinators {
    /// Account ids, each a member (not external) of the group; at most 20.
    pub user_ids: Vec<UserId>,
    /// Once the group has a signed membership log (PROTOCOL.md §22), one `role_changed`
    /// record per person named or no longer named, chained in that order, signed by the
    /// caller's device: `coordinator` for each newly named one (in the order of their
    /// ids), then `member` for each no longer named (likewise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<MembershipRecord>,
}

/// Most coordinators a group names.
pub const MAX_GROUP_COORDINATORS: usize = 20;
