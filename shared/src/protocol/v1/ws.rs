//! WebSocket frames at `/api/v1/ws` (DESIGN.md §4): JSON text objects tagged by `type`,
//! one enum each way, parsed once at the edge.

use serde::{Deserialize, Serialize};

use super::channels::{Channel, Cursors, DeviceRef, StoredMessage};
use crate::crypto::{Envelope, WrappedEpochKey};

/// Largest frame a client may send, in bytes.
pub const MAX_CLIENT_FRAME_BYTES: usize = 256 * 1024;

/// A frame from a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Send a message; acknowledged by `ack` once committed.
    Send {
        /// Must equal the envelope's channel.
        channel_id: String,
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
        channel_id: String,
        /// Last read sequence number.
        seq: u64,
    },
    /// Tell the channel one is typing.
    Typing {
        /// Channel.
        channel_id: String,
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
        channel_id: String,
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
        channel_id: String,
        /// Who.
        user_id: String,
        /// `added` or `removed`.
        change: String,
    },
    /// A new epoch is needed before sending.
    EpochRequired {
        /// Channel.
        channel_id: String,
        /// The epoch to create.
        epoch: u64,
        /// Exactly the devices to wrap its key for.
        devices: Vec<DeviceRef>,
    },
    /// New wrapped epoch keys for this device.
    Keys {
        /// Channel.
        channel_id: String,
        /// Epoch.
        epoch: u64,
        /// The wraps for this device.
        keys: Vec<WrappedEpochKey>,
    },
    /// Someone read up to `seq`.
    Receipt {
        /// Channel.
        channel_id: String,
        /// Reader.
        user_id: String,
        /// Last read sequence number.
        seq: u64,
    },
    /// Someone is typing.
    Typing {
        /// Channel.
        channel_id: String,
        /// Who.
        user_id: String,
    },
    /// Channel metadata changed, or one was added to a channel.
    Channel(Channel),
    /// The channel was destroyed at the end of its retention: drop its keys.
    ChannelDestroyed {
        /// Channel.
        channel_id: String,
    },
    /// Answer to `ping`.
    Pong,
    /// The sync is complete up to these cursors.
    Synced {
        /// Last sequence number per channel.
        cursors: Cursors,
    },
}
