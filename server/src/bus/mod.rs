//! Fan-out between server nodes (DESIGN.md §8). The hub publishes what was committed;
//! every node's subscriber hands it to its own connections.
//!
//! A single node uses [`LocalBus`], which delivers in-process. A cluster uses
//! [`redis::RedisBus`]: each node delivers to its own connections at once and publishes
//! the event on Redis pub/sub for the others. A lost notification is never a lost
//! message: clients repair gaps from their sequence cursors.

pub mod redis;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::Config;
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

/// The bus this node's configuration asks for: Redis pub/sub when `redis_url` is set
/// (the subscription is up before this returns), in-process otherwise.
pub async fn start(config: &Config, hub: Arc<Hub>) -> anyhow::Result<Arc<dyn Bus>> {
    match &config.redis_url {
        Some(url) => {
            let key = redis::BusKey::from_secret_file(&config.secret_key_path())?;
            let bus = redis::RedisBus::connect(url, &config.redis_prefix, hub, key).await?;
            Ok(Arc::new(bus))
        }
        None => Ok(Arc::new(LocalBus::new(hub))),
    }
}

/// The serialisable form of a [`BusEvent`], as it travels between nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WireEvent {
    /// [`BusEvent::Channel`].
    Channel {
        /// Channel.
        channel_id: String,
        /// The serialised server frame.
        frame: String,
    },
    /// [`BusEvent::User`].
    User {
        /// Account.
        user_id: String,
        /// The serialised server frame.
        frame: String,
    },
    /// [`BusEvent::Device`].
    Device {
        /// Device.
        device_id: String,
        /// The serialised server frame.
        frame: String,
    },
    /// [`BusEvent::MemberAdded`].
    MemberAdded {
        /// Channel.
        channel_id: String,
        /// Account.
        user_id: String,
    },
    /// [`BusEvent::MemberRemoved`].
    MemberRemoved {
        /// Channel.
        channel_id: String,
        /// Account.
        user_id: String,
    },
    /// [`BusEvent::Disconnect`].
    Disconnect {
        /// Account.
        user_id: String,
        /// Only this device, or every device of the account.
        device_id: Option<String>,
        /// Close reason shown to the client.
        reason: String,
    },
}

/// Close reasons a node may send another; anything else arrives as `"revoked"`, so that
/// a close reason is always one of a known, static set.
const DISCONNECT_REASONS: &[&str] = &[
    "device_revoked",
    "account_disabled",
    "session_revoked",
    "password_changed",
];

fn static_reason(reason: &str) -> &'static str {
    DISCONNECT_REASONS
        .iter()
        .find(|known| **known == reason)
        .copied()
        .unwrap_or("revoked")
}

impl From<&BusEvent> for WireEvent {
    fn from(event: &BusEvent) -> WireEvent {
        match event {
            BusEvent::Channel { channel_id, frame } => WireEvent::Channel {
                channel_id: channel_id.clone(),
                frame: frame.as_str().to_owned(),
            },
            BusEvent::User { user_id, frame } => WireEvent::User {
                user_id: user_id.clone(),
                frame: frame.as_str().to_owned(),
            },
            BusEvent::Device { device_id, frame } => WireEvent::Device {
                device_id: device_id.clone(),
                frame: frame.as_str().to_owned(),
            },
            BusEvent::MemberAdded {
                channel_id,
                user_id,
            } => WireEvent::MemberAdded {
                channel_id: channel_id.clone(),
                user_id: user_id.clone(),
            },
            BusEvent::MemberRemoved {
                channel_id,
                user_id,
            } => WireEvent::MemberRemoved {
                channel_id: channel_id.clone(),
                user_id: user_id.clone(),
            },
            BusEvent::Disconnect {
                user_id,
                device_id,
                reason,
            } => WireEvent::Disconnect {
                user_id: user_id.clone(),
                device_id: device_id.clone(),
                reason: (*reason).to_owned(),
            },
        }
    }
}

impl From<WireEvent> for BusEvent {
    fn from(event: WireEvent) -> BusEvent {
        match event {
            WireEvent::Channel { channel_id, frame } => BusEvent::Channel {
                channel_id,
                frame: Frame::from(frame),
            },
            WireEvent::User { user_id, frame } => BusEvent::User {
                user_id,
                frame: Frame::from(frame),
            },
            WireEvent::Device { device_id, frame } => BusEvent::Device {
                device_id,
                frame: Frame::from(frame),
            },
            WireEvent::MemberAdded {
                channel_id,
                user_id,
            } => BusEvent::MemberAdded {
                channel_id,
                user_id,
            },
            WireEvent::MemberRemoved {
                channel_id,
                user_id,
            } => BusEvent::MemberRemoved {
                channel_id,
                user_id,
            },
            WireEvent::Disconnect {
                user_id,
                device_id,
                reason,
            } => BusEvent::Disconnect {
                user_id,
                device_id,
                reason: static_reason(&reason),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(event: &BusEvent) -> BusEvent {
        let text = serde_json::to_string(&WireEvent::from(event)).unwrap_or_default();
        let wire: WireEvent = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}"));
        BusEvent::from(wire)
    }

    #[test]
    fn every_event_survives_the_wire_unchanged() {
        let events = [
            BusEvent::Channel {
                channel_id: "c".into(),
                frame: Frame::from_static(r#"{"type":"pong"}"#),
            },
            BusEvent::User {
                user_id: "u".into(),
                frame: Frame::from_static(r#"{"type":"member"}"#),
            },
            BusEvent::Device {
                device_id: "d".into(),
                frame: Frame::from_static(r#"{"type":"keys"}"#),
            },
            BusEvent::MemberAdded {
                channel_id: "c".into(),
                user_id: "u".into(),
            },
            BusEvent::MemberRemoved {
                channel_id: "c".into(),
                user_id: "u".into(),
            },
            BusEvent::Disconnect {
                user_id: "u".into(),
                device_id: Some("d".into()),
                reason: "device_revoked",
            },
        ];
        for event in &events {
            assert_eq!(format!("{:?}", round_trip(event)), format!("{event:?}"));
        }
    }

    #[test]
    fn an_unknown_close_reason_arrives_as_a_generic_one() {
        let wire = WireEvent::Disconnect {
            user_id: "u".into(),
            device_id: None,
            reason: "anything a forger likes".into(),
        };
        match BusEvent::from(wire) {
            BusEvent::Disconnect { reason, .. } => assert_eq!(reason, "revoked"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
