//! Fan-out between server nodes (docs/ARCHITECTURE.md). The hub publishes what was
//! committed; every node's subscriber hands it to its own connections.
//!
//! A single node uses [`LocalBus`], which delivers in-process. A cluster uses
//! [`redis::RedisBus`]: each node delivers to its own connections at once and publishes
//! the event on Redis pub/sub for the others. A lost notification is never a lost
//! message: clients repair gaps from their sequence cursors. A lost access change is
//! never a lost exclusion either: every [`AccessChange`] is also a row of the database's
//! access feed, which each node reads by itself (`crate::feed::Follower`).

pub mod hub;
pub mod presence;
pub mod redis;

use std::sync::Arc;

use futures_util::future::BoxFuture;

pub use presence::Lease;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::metrics::Metrics;
use hub::Hub;

/// A serialised server frame. Cloning shares the bytes, so a message is serialised once
/// and handed to every recipient by reference.
pub type Frame = axum::extract::ws::Utf8Bytes;

/// Why someone's access ended (CHARTER.md C3), or why a channel stopped being delivered
/// to them. The string forms are the close reasons clients see (docs/PROTOCOL.md §9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessReason {
    /// An admin disabled the account.
    AccountDisabled,
    /// The user (or an admin) revoked this login session.
    SessionRevoked,
    /// The user logged out.
    LoggedOut,
    /// The user changed their password: their other sessions end.
    PasswordChanged,
    /// An admin reset the password: every session ends.
    PasswordReset,
    /// An admin reset the second factor: every session ends.
    MfaReset,
    /// The session reached its idle or absolute limit.
    SessionExpired,
    /// The device was revoked by its owner or an admin.
    DeviceRevoked,
    /// A coordinator removed the member from the channel.
    MemberRemoved,
    /// The member left the channel.
    MemberLeft,
    /// The member lost an attribute the channel's legal regime requires (C5).
    RegimeLost,
    /// A new charter or rules version closes the channel until accepted (C2).
    GateClosed,
    /// The channel was destroyed (retention, C13).
    ChannelDestroyed,
}

impl AccessReason {
    /// The stable string form (close reason, feed column).
    pub fn as_str(self) -> &'static str {
        match self {
            AccessReason::AccountDisabled => "account_disabled",
            AccessReason::SessionRevoked => "session_revoked",
            AccessReason::LoggedOut => "logged_out",
            AccessReason::PasswordChanged => "password_changed",
            AccessReason::PasswordReset => "password_reset",
            AccessReason::MfaReset => "mfa_reset",
            AccessReason::SessionExpired => "session_expired",
            AccessReason::DeviceRevoked => "device_revoked",
            AccessReason::MemberRemoved => "member_removed",
            AccessReason::MemberLeft => "member_left",
            AccessReason::RegimeLost => "regime_lost",
            AccessReason::GateClosed => "gate_closed",
            AccessReason::ChannelDestroyed => "channel_destroyed",
        }
    }

    /// The reason whose string form is `text`.
    pub fn parse(text: &str) -> Option<AccessReason> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    }

    /// The WebSocket close code of a connection this reason ends: 4003 the account,
    /// 4004 the session, 4005 the device (docs/PROTOCOL.md §9.3).
    pub fn close_code(self) -> u16 {
        match self {
            AccessReason::AccountDisabled => 4003,
            AccessReason::DeviceRevoked => 4005,
            _ => 4004,
        }
    }
}

/// Whose live connections an access change concerns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", content = "target", rename_all = "snake_case")]
pub enum AccessScope {
    /// Every connection of the account: closed.
    Account,
    /// The connections opened with one login session: closed.
    Session(String),
    /// The connections of one device: closed.
    Device(String),
    /// One channel stops being delivered to the account's connections.
    Channel(String),
}

/// One row of the access feed: an exclusion, or a channel closed to someone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessChange {
    /// Its position in the feed (increasing in commit order).
    pub id: i64,
    /// The account concerned.
    pub user_id: String,
    /// Which of its connections or subscriptions.
    #[serde(flatten)]
    pub scope: AccessScope,
    /// Why.
    pub reason: AccessReason,
}

/// What travels on the bus. Frames are serialised once, by the publisher.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BusEvent {
    /// A frame for every connected member of a channel.
    Channel {
        /// Channel.
        channel_id: String,
        /// The serialised server frame.
        #[serde(with = "frame_text")]
        frame: Frame,
    },
    /// A frame for every connection of one user.
    User {
        /// Account.
        user_id: String,
        /// The serialised server frame.
        #[serde(with = "frame_text")]
        frame: Frame,
    },
    /// A frame for the connections of one device.
    Device {
        /// Device.
        device_id: String,
        /// The serialised server frame.
        #[serde(with = "frame_text")]
        frame: Frame,
    },
    /// A user may read a channel (joined it, or accepted its charter or rules): their
    /// connections start receiving it.
    MemberAdded {
        /// Channel.
        channel_id: String,
        /// Account.
        user_id: String,
    },
    /// An access change committed to the feed: connections close, or a channel stops
    /// being delivered, at once.
    Access {
        /// The feed row.
        change: AccessChange,
    },
}

/// A [`Frame`] travels between nodes as the JSON string it is.
mod frame_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Frame;

    pub(super) fn serialize<S: Serializer>(
        frame: &Frame,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(frame.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Frame, D::Error> {
        String::deserialize(deserializer).map(Frame::from)
    }
}

/// Publishes events to every node, this one included.
pub trait Bus: Send + Sync + 'static {
    /// Publishes; never blocks on slow subscribers.
    fn publish(&self, event: BusEvent);

    /// Counts a new connection of `user_id` (who holds `local` on this node) against the
    /// per-account `limit`, across every node; `None` when the account is at the limit.
    /// The connection keeps the lease for its life.
    fn admit<'a>(
        &'a self,
        user_id: &'a str,
        local: usize,
        limit: usize,
    ) -> BoxFuture<'a, Option<Lease>>;
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

    fn admit<'a>(
        &'a self,
        _user_id: &'a str,
        local: usize,
        limit: usize,
    ) -> BoxFuture<'a, Option<Lease>> {
        Box::pin(async move { (local < limit).then(Lease::local) })
    }
}

/// The bus this node's configuration asks for: Redis pub/sub when `redis_url` is set
/// (the subscription is up before this returns), in-process otherwise.
pub async fn start(
    config: &Config,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Arc<dyn Bus>> {
    match &config.redis_url {
        Some(url) => {
            let key = redis::BusKey::from_secret_file(&config.secret_key_path())?;
            let window_ms = i64::from(config.bus_replay_window_secs) * 1000;
            let bus =
                redis::RedisBus::connect(url, &config.redis_prefix, window_ms, hub, key, metrics)
                    .await?;
            Ok(Arc::new(bus))
        }
        None => Ok(Arc::new(LocalBus::new(hub))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(event: &BusEvent) -> BusEvent {
        let text = serde_json::to_string(event).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}: {text}"))
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
            BusEvent::Access {
                change: AccessChange {
                    id: 7,
                    user_id: "u".into(),
                    scope: AccessScope::Device("d".into()),
                    reason: AccessReason::DeviceRevoked,
                },
            },
            BusEvent::Access {
                change: AccessChange {
                    id: 8,
                    user_id: "u".into(),
                    scope: AccessScope::Account,
                    reason: AccessReason::AccountDisabled,
                },
            },
        ];
        for event in &events {
            assert_eq!(format!("{:?}", round_trip(event)), format!("{event:?}"));
        }
    }

    #[test]
    fn an_unknown_close_reason_is_refused_rather_than_guessed() {
        let forged = r#"{"kind":"access","change":{"id":1,"user_id":"u","scope":"account","reason":"anything a forger likes"}}"#;
        assert!(serde_json::from_str::<BusEvent>(forged).is_err());
    }

    #[test]
    fn each_reason_has_one_string_and_a_close_code_by_scope() {
        for reason in [
            AccessReason::AccountDisabled,
            AccessReason::SessionRevoked,
            AccessReason::LoggedOut,
            AccessReason::PasswordChanged,
            AccessReason::PasswordReset,
            AccessReason::MfaReset,
            AccessReason::SessionExpired,
            AccessReason::DeviceRevoked,
            AccessReason::MemberRemoved,
            AccessReason::MemberLeft,
            AccessReason::RegimeLost,
            AccessReason::GateClosed,
            AccessReason::ChannelDestroyed,
        ] {
            assert_eq!(AccessReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(AccessReason::AccountDisabled.close_code(), 4003);
        assert_eq!(AccessReason::LoggedOut.close_code(), 4004);
        assert_eq!(AccessReason::DeviceRevoked.close_code(), 4005);
    }
}
