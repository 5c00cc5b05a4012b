//! WebSocket frames at `/api/v1/ws` (docs/ARCHITECTURE.md): JSON text objects tagged by `type`,
//! one enum each way, parsed once at the edge.

use serde::{Deserialize, Serialize};

use super::channels::{Channel, Cursors, DeviceRef, MembershipEvent, StoredMessage};
use super::keys::LinkRequest;
use crate::crypto::{Envelope, WrappedEpochKey};
use crate::ids::{ChannelId, UserId};

/// Largest frame a client may send, in bytes.
pub const MAX_CLIENT_FRAME_BYTES: usize = 256 * 1024;

/// A frame from a client.
// `Send` carries the envelope inline (with its version-2 order since PROTOCOL.md §8.7):
// a frame lives for one message, and boxing would cost an allocation per message sent.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Send a message; acknowledged by `ack` once committed.
    Send {
        /// Must equal the envelope's channel.
        channel_id: ChannelId,
        /// The sealed, signed message.
        envelope: Envelope,
    },
    /// Ask for everything after these cursors; answered by `message` frames then `synced`.
    Sync {
        /// Last sequence number held, per channel; channels left out start from the beginning.
        cursors: Cursors,
    },
    /// Mark a channel read up to `seq`.
    Read {
        /// Channel.
        channel_id: ChannelId,
        /// Last read sequence number.
        seq: u64,
    },
    /// Tell the channel one is typing.
    Typing {
        /// Channel.
        channel_id: ChannelId,
    },
    /// Keep-alive.
    Ping,
}

/// A frame from the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// A sent message is committed.
    Ack {
        /// The sender's id for it.
        client_msg_id: String,
        /// Channel.
        channel_id: ChannelId,
        /// Its sequence number.
        seq: u64,
        /// Stored at (unix ms).
        ts: i64,
    },
    /// A message of a channel one belongs to.
    Message(StoredMessage),
    /// A refused frame.
    Error {
        /// The `client_msg_id` or channel the error is about, when there is one.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none", default)]
        reference: Option<String>,
        /// Stable code.
        code: String,
        /// French message.
        message: String,
    },
    /// Membership changed.
    Member {
        /// Channel.
        channel_id: ChannelId,
        /// Who.
        user_id: UserId,
        /// `added` or `removed` (leaving is `removed` here, for clients that predate
        /// `event`).
        change: String,
        /// The stored event, with the actor and where it falls among the messages
        /// (docs/PROTOCOL.md §21). Absent from servers before it was added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event: Option<MembershipEvent>,
    },
    /// A new epoch is needed before sending.
    EpochRequired {
        /// The `client_msg_id` of the `send` this answers: the sender re-seals that
        /// message for the new epoch and sends it again. Absent from servers before it was
        /// added, so a client must not count on it to find the send it answers.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none", default)]
        reference: Option<String>,
        /// Channel.
        channel_id: ChannelId,
        /// The epoch to create.
        epoch: u64,
        /// Exactly the devices to wrap its key for.
        devices: Vec<DeviceRef>,
    },
    /// New wrapped epoch keys for this device.
    Keys {
        /// Channel.
        channel_id: ChannelId,
        /// Epoch; the latest when the frame carries several (past epochs re-wrapped for a
        /// linked device): each wrap names its own.
        epoch: u64,
        /// The wraps for this device.
        keys: Vec<WrappedEpochKey>,
    },
    /// This device gets no key for an epoch, and why (docs/PROTOCOL.md §7.5): messages of
    /// that epoch stay unreadable here, with this explanation.
    KeyWithheld {
        /// Channel.
        channel_id: ChannelId,
        /// Epoch.
        epoch: u64,
        /// Why.
        reason: crate::crypto::WithheldReason,
    },
    /// Someone read up to `seq`.
    Receipt {
        /// Channel.
        channel_id: ChannelId,
        /// Reader.
        user_id: UserId,
        /// Last read sequence number.
        seq: u64,
    },
    /// Someone is typing.
    Typing {
        /// Channel.
        channel_id: ChannelId,
        /// Who.
        user_id: UserId,
    },
    /// Channel metadata changed, or one was added to a channel.
    Channel(Channel),
    /// The channel was destroyed at the end of its retention: drop its keys.
    ChannelDestroyed {
        /// Channel.
        channel_id: ChannelId,
    },
    /// A new charter version was published: until it is accepted
    /// (`POST /api/v1/charter/accept`), confidential channels are closed to this user.
    CharterRequired {
        /// The version to accept.
        version: u64,
    },
    /// New internal rules apply to a channel: until they are accepted
    /// (`POST /api/v1/channels/{id}/rules/accept`), the channel is closed to this user.
    RulesRequired {
        /// The channel (a working group, or a case or session that follows its rules).
        channel_id: ChannelId,
        /// The version to accept.
        version: u64,
    },
    /// Messages up to `up_to_seq` reached the end of their retention and were deleted,
    /// with the keys of the epochs before `below_epoch`: drop them too (CHARTER.md C11).
    HistoryPurged {
        /// Channel.
        channel_id: ChannelId,
        /// The last deleted sequence number.
        up_to_seq: u64,
        /// Keys of the epochs below this one were deleted.
        below_epoch: u64,
    },
    /// A device asks to join this account, or such a request changed (docs/PROTOCOL.md
    /// §5.5.1): show it while `pending`, with its link code; dismiss it otherwise.
    LinkRequest(LinkRequest),
    /// Answer to `ping`.
    Pong,
    /// The sync is complete up to these cursors.
    Synced {
        /// Last sequence number per channel.
        cursors: Cursors,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_charter_and_purge_frames_round_trip_with_their_type_tags() {
        for (frame, tag) in [
            (
                ServerFrame::CharterRequired { version: 2 },
                "charter_required",
            ),
            (
                ServerFrame::RulesRequired {
                    channel_id: "c".into(),
                    version: 1,
                },
                "rules_required",
            ),
            (
                ServerFrame::HistoryPurged {
                    channel_id: "c".into(),
                    up_to_seq: 10,
                    below_epoch: 3,
                },
                "history_purged",
            ),
            (
                ServerFrame::ChannelDestroyed {
                    channel_id: "c".into(),
                },
                "channel_destroyed",
            ),
        ] {
            let json = serde_json::to_value(&frame).unwrap_or_default();
            assert_eq!(json["type"], tag);
            assert_eq!(
                serde_json::from_value::<ServerFrame>(json).ok(),
                Some(frame)
            );
        }
    }
}
