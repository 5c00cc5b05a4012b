//! Fan-out between server nodes (DESIGN.md §8). The hub publishes what was committed;
//! every node's subscriber hands it to its own connections.
//!
//! A single node uses [`LocalBus`], which delivers in-process. A lost notification is
//! never a lost message: clients repair gaps from their sequence cursors.

use std::sync::Arc;

use crate::ws::hub::Hub;

/// A serialised server frame. Cloning shares the bytes, so a message is serialised once
/// and handed to every recipient by reference.
pub type Frame = axum::extract::ws::Utf8Bytes;

/// What travels on the bus. Frames are serialised once, by the publisher.
#[derive(Clone, Debug)]
pub enum BusEvent {
    /// A frame for every connected member of a channel.
    Channel {
        /// Channel.
        channel_id: String,
        /// The serialised server frame.
        frame: Frame,
    },
    /// A frame for every connection of one user.
    User {
        /// Account.
        user_id: String,
        /// The serialised server frame.
        frame: Frame,
    },
    /// A frame for the connections of one device.
    Device {
        /// Device.
        device_id: String,
        /// The serialised server frame.
        frame: Frame,
    },
    /// A user joined a channel: their connections start receiving it.
    MemberAdded {
        /// Channel.
        channel_id: String,
        /// Account.
        user_id: String,
    },
    /// A user left or was removed: their connections stop receiving it at once.
    MemberRemoved {
        /// Channel.
        channel_id: String,
        /// Account.
        user_id: String,
    },
    /// A device was revoked, or an account disabled: close their connections.
    Disconnect {
        /// Account.
        user_id: String,
        /// Only this device, or every device of the account.
        device_id: Option<String>,
        /// Close reason shown to the client.
        reason: &'static str,
    },
}

/// Publishes events to every node, this one included.
pub trait Bus: Send + Sync + 'static {
    /// Publishes; never blocks on slow subscribers.
    fn publish(&self, event: BusEvent);
}

/// The single-node bus: events go straight to this node's hub.
pub struct LocalBus {
    hub: Arc<Hub>,
}

impl LocalBus {
    /// A bus delivering to `hub`.
    pub fn new(hub: Arc<Hub>) -> LocalBus {
        LocalBus { hub }
    }
}

impl Bus for LocalBus {
    fn publish(&self, event: BusEvent) {
        self.hub.apply(&event);
    }
}
