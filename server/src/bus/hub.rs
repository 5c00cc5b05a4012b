//! The hub: who is connected, to which channels, and the fan-out to their queues.
//!
//! Each connection has a bounded queue of serialised frames. Fan-out clones an `Frame`
//! per recipient and never waits: a full queue means the client does not read, and it is
//! disconnected (it loses nothing; it re-syncs from its cursors). The locks guard maps
//! only and are never held across an `.await` or a socket write.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::{mpsc, watch};

use crate::bus::{AccessChange, AccessReason, AccessScope, BusEvent, Frame};

/// Identifies one WebSocket connection.
pub type ConnId = u64;

/// Why the server closes a connection (sent as the close frame's reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Still open.
    Open,
    /// The client does not read fast enough.
    SlowConsumer,
    /// Its account, session or device lost the right to read (CHARTER.md C3).
    Excluded(AccessReason),
    /// This node cannot read the access feed: it cannot tell whether the connection may
    /// still be served, so it does not serve it.
    Unverifiable,
    /// The connection broke the protocol's rules, or went silent: closed once the frames
    /// already queued for it (its last error frame) are written.
    Protocol(ProtocolClose),
}

/// Why the connection's own loop ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolClose {
    /// Nothing received for too long.
    IdleTimeout,
    /// A flood of frames went on.
    RateLimited,
    /// Too many malformed frames.
    TooManyMalformed,
    /// A frame over the size limit (RFC 6455 1009).
    FrameTooLarge,
    /// A text frame that is not UTF-8 (RFC 6455 1007).
    InvalidUtf8,
}

impl CloseReason {
    /// The close frame's code and reason (docs/PROTOCOL.md §15.1); `None` while open.
    pub fn close_frame(self) -> Option<(u16, &'static str)> {
        match self {
            CloseReason::Open => None,
            CloseReason::SlowConsumer => Some((4001, "slow_consumer")),
            CloseReason::Excluded(why) => Some((why.close_code(), why.as_str())),
            CloseReason::Unverifiable => Some((4011, "access_unverifiable")),
            CloseReason::Protocol(ProtocolClose::IdleTimeout) => Some((4008, "idle_timeout")),
            CloseReason::Protocol(ProtocolClose::RateLimited) => Some((1008, "rate_limited")),
            CloseReason::Protocol(ProtocolClose::TooManyMalformed) => {
                Some((1008, "too_many_malformed_frames"))
            }
            CloseReason::Protocol(ProtocolClose::FrameTooLarge) => Some((1009, "frame_too_large")),
            CloseReason::Protocol(ProtocolClose::InvalidUtf8) => Some((1007, "invalid_utf8")),
        }
    }
}

/// What the hub keeps of a connection.
struct Connection {
    user_id: String,
    device_id: String,
    /// The login session the connection was opened with: it ends with it.
    session_id: String,
    queue: mpsc::Sender<Frame>,
    close: watch::Sender<CloseReason>,
    /// Set with the first close request: fan-out skips the connection from then on, so
    /// that nothing committed after an exclusion is queued before the close is written.
    closing: AtomicBool,
    /// Between registration and activation: channels the user was removed from meanwhile,
    /// which the membership list read from the database may still contain.
    removed_while_pending: Option<HashSet<String>>,
}

impl Connection {
    /// Asks the connection's writer to close it; the first reason wins.
    fn request_close(&self, reason: CloseReason) {
        if !self.closing.swap(true, Ordering::Relaxed) {
            let _ = self.close.send(reason);
        }
    }
}

#[derive(Default)]
struct Maps {
    connections: HashMap<ConnId, Connection>,
    by_user: HashMap<String, HashSet<ConnId>>,
    /// Connections of each device: an epoch publication sends one `keys` frame per member
    /// device, which must not cost a scan of every connection of the node.
    by_device: HashMap<String, HashSet<ConnId>>,
    /// Connected members of each channel; only users with a live connection appear.
    channel_users: HashMap<String, HashSet<String>>,
    user_channels: HashMap<String, HashSet<String>>,
}

/// Which access changes this node has applied: every change below `position`, and the
/// ones above it in `ahead` (received on the bus before the feed reached them). A change
/// is applied once, so that a late copy cannot undo what came after it (a removal read
/// from the feed after the re-addition that followed it).
#[derive(Default)]
struct Applied {
    position: i64,
    ahead: BTreeSet<i64>,
}

/// The local connections of this node.
#[derive(Default)]
pub struct Hub {
    maps: RwLock<Maps>,
    next_id: AtomicU64,
    applied: Mutex<Applied>,
}

/// A registered connection; unregisters itself when dropped.
pub struct Registration {
    hub: Arc<Hub>,
    /// Its id.
    pub id: ConnId,
    /// Frames to write to the socket, until the task that writes them takes it (an
    /// `Option` rather than a placeholder queue swapped in: a queue allocates a block of
    /// 32 slots, 1 KiB per connection for nothing).
    pub queue: Option<mpsc::Receiver<Frame>>,
    /// The same queue, for the connection's own answers (acks, errors, sync pages).
    pub sender: mpsc::Sender<Frame>,
    /// Set when the server wants the connection closed.
    pub close: watch::Receiver<CloseReason>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    fn read(&self) -> RwLockReadGuard<'_, Maps> {
        self.maps
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Maps> {
        self.maps
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Open connections of a user.
    pub fn connections_of(&self, user_id: &str) -> usize {
        self.read().by_user.get(user_id).map_or(0, HashSet::len)
    }

    /// The accounts with at least one open connection on this node.
    pub fn connected_users(&self) -> Vec<String> {
        self.read().by_user.keys().cloned().collect()
    }

    /// Open connections in all.
    pub fn connection_count(&self) -> usize {
        self.read().connections.len()
    }

    /// Registers a connection of `user_id` from `device_id` with a queue of `capacity`
    /// frames. It receives no channel until [`Hub::activate`]: the caller reads the
    /// memberships from the database in between, and removals that happen meanwhile are
    /// remembered so that a stale read cannot resubscribe a removed member (CHARTER.md C3).
    pub fn register(
        self: &Arc<Self>,
        user_id: &str,
        device_id: &str,
        session_id: &str,
        capacity: usize,
    ) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (queue_tx, queue_rx) = mpsc::channel(capacity);
        let (close_tx, close_rx) = watch::channel(CloseReason::Open);
        let mut maps = self.write();
        maps.connections.insert(
            id,
            Connection {
                user_id: user_id.to_owned(),
                device_id: device_id.to_owned(),
                session_id: session_id.to_owned(),
                queue: queue_tx.clone(),
                close: close_tx,
                closing: AtomicBool::new(false),
                removed_while_pending: Some(HashSet::new()),
            },
        );
        maps.by_user
            .entry(user_id.to_owned())
            .or_default()
            .insert(id);
        maps.by_device
            .entry(device_id.to_owned())
            .or_default()
            .insert(id);
        Registration {
            hub: self.clone(),
            id,
            queue: Some(queue_rx),
            sender: queue_tx,
            close: close_rx,
        }
    }

    /// Subscribes a registered connection to the channels its user belongs to, as read
    /// from the database after registration.
    pub fn activate(&self, id: ConnId, channels: Vec<String>) {
        let mut maps = self.write();
        let Some(connection) = maps.connections.get_mut(&id) else {
            return;
        };
        let removed = connection.removed_while_pending.take().unwrap_or_default();
        let user = connection.user_id.clone();
        for channel in channels.into_iter().filter(|c| !removed.contains(c)) {
            maps.channel_users
                .entry(channel.clone())
                .or_default()
                .insert(user.clone());
            maps.user_channels
                .entry(user.clone())
                .or_default()
                .insert(channel);
        }
    }

    fn unregister(&self, id: ConnId) {
        let mut maps = self.write();
        let Some(connection) = maps.connections.remove(&id) else {
            return;
        };
        if let Some(ids) = maps.by_device.get_mut(&connection.device_id) {
            ids.remove(&id);
            if ids.is_empty() {
                maps.by_device.remove(&connection.device_id);
            }
        }
        let user = connection.user_id;
        let last = match maps.by_user.get_mut(&user) {
            Some(ids) => {
                ids.remove(&id);
                ids.is_empty()
            }
            None => true,
        };
        if last {
            maps.by_user.remove(&user);
            for channel in maps.user_channels.remove(&user).unwrap_or_default() {
                if let Some(users) = maps.channel_users.get_mut(&channel) {
                    users.remove(&user);
                    if users.is_empty() {
                        maps.channel_users.remove(&channel);
                    }
                }
            }
        }
    }

    /// Whether `user_id` currently receives `channel_id` on this node.
    pub fn receives(&self, user_id: &str, channel_id: &str) -> bool {
        self.read()
            .channel_users
            .get(channel_id)
            .is_some_and(|users| users.contains(user_id))
    }

    /// Applies a bus event to the local connections.
    pub fn apply(&self, event: &BusEvent) {
        match event {
            BusEvent::Channel { channel_id, frame } => {
                let maps = self.read();
                let Some(users) = maps.channel_users.get(channel_id) else {
                    return;
                };
                let targets = users
                    .iter()
                    .flat_map(|user| maps.by_user.get(user).into_iter().flatten());
                deliver(&maps, targets, frame);
            }
            BusEvent::User { user_id, frame } => {
                let maps = self.read();
                deliver(
                    &maps,
                    maps.by_user.get(user_id).into_iter().flatten(),
                    frame,
                );
            }
            BusEvent::Device { device_id, frame } => {
                let maps = self.read();
                deliver(
                    &maps,
                    maps.by_device.get(device_id).into_iter().flatten(),
                    frame,
                );
            }
            BusEvent::MemberAdded {
                channel_id,
                user_id,
            } => {
                let mut maps = self.write();
                if maps.by_user.contains_key(user_id) {
                    maps.channel_users
                        .entry(channel_id.clone())
                        .or_default()
                        .insert(user_id.clone());
                    maps.user_channels
                        .entry(user_id.clone())
                        .or_default()
                        .insert(channel_id.clone());
                }
            }
            BusEvent::Access { change } => {
                self.apply_access(change);
            }
        }
    }

    /// The position of the access feed this node has applied up to (set at start-up to
    /// the feed's end: connections opened after it read the database as it is).
    pub fn access_position(&self) -> i64 {
        self.applied_lock().position
    }

    /// Every change up to `position` has been read from the feed: forget the ones
    /// remembered above it that are now below.
    pub fn advance_access(&self, position: i64) {
        let mut applied = self.applied_lock();
        if position > applied.position {
            applied.position = position;
            applied.ahead = applied.ahead.split_off(&(position + 1));
        }
    }

    fn applied_lock(&self) -> std::sync::MutexGuard<'_, Applied> {
        self.applied
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies an access change once: from the bus or from the feed, whichever comes
    /// first. Returns whether it was new here.
    pub fn apply_access(&self, change: &AccessChange) -> bool {
        {
            let mut applied = self.applied_lock();
            if change.id <= applied.position || !applied.ahead.insert(change.id) {
                return false;
            }
        }
        match &change.scope {
            AccessScope::Channel(channel_id) => self.unsubscribe(&change.user_id, channel_id),
            scope => {
                let maps = self.read();
                for id in maps.by_user.get(&change.user_id).into_iter().flatten() {
                    let Some(connection) = maps.connections.get(id) else {
                        continue;
                    };
                    let concerned = match scope {
                        AccessScope::Session(session) => &connection.session_id == session,
                        AccessScope::Device(device) => &connection.device_id == device,
                        _ => true,
                    };
                    if concerned {
                        connection.request_close(CloseReason::Excluded(change.reason));
                    }
                }
            }
        }
        true
    }

    /// Stops delivering `channel_id` to the connections of `user_id` at once.
    fn unsubscribe(&self, user_id: &str, channel_id: &str) {
        let mut maps = self.write();
        for connection in maps
            .connections
            .values_mut()
            .filter(|c| c.user_id == user_id)
        {
            if let Some(removed) = connection.removed_while_pending.as_mut() {
                removed.insert(channel_id.to_owned());
            }
        }
        if let Some(users) = maps.channel_users.get_mut(channel_id) {
            users.remove(user_id);
        }
        if let Some(channels) = maps.user_channels.get_mut(user_id) {
            channels.remove(channel_id);
        }
    }

    /// Closes one connection.
    pub fn close(&self, id: ConnId, reason: CloseReason) {
        if let Some(connection) = self.read().connections.get(&id) {
            connection.request_close(reason);
        }
    }

    /// Closes every connection of this node (it cannot verify access any more).
    pub fn close_all(&self, reason: CloseReason) {
        let maps = self.read();
        for connection in maps.connections.values() {
            connection.request_close(reason);
        }
    }
}

/// Queues `frame` on each target without waiting; a full queue closes that connection.
fn deliver<'a>(maps: &Maps, targets: impl Iterator<Item = &'a ConnId>, frame: &Frame) {
    for id in targets {
        let Some(connection) = maps.connections.get(id) else {
            continue;
        };
        if connection.closing.load(Ordering::Relaxed) {
            continue;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = connection.queue.try_send(frame.clone()) {
            connection.request_close(CloseReason::SlowConsumer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Registration {
        fn try_recv(&mut self) -> Result<Frame, mpsc::error::TryRecvError> {
            match self.queue.as_mut() {
                Some(queue) => queue.try_recv(),
                None => Err(mpsc::error::TryRecvError::Disconnected),
            }
        }
    }

    fn connect(hub: &Arc<Hub>, user: &str, channel: &str, capacity: usize) -> Registration {
        let registration = hub.register(
            user,
            &format!("{user}-device"),
            &format!("{user}-session"),
            capacity,
        );
        hub.activate(registration.id, vec![channel.to_owned()]);
        registration
    }

    fn removal(id: i64, user: &str, channel: &str) -> BusEvent {
        BusEvent::Access {
            change: AccessChange {
                id,
                user_id: user.into(),
                scope: AccessScope::Channel(channel.into()),
                reason: AccessReason::MemberRemoved,
            },
        }
    }

    fn exclusion(id: i64, user: &str, scope: AccessScope, reason: AccessReason) -> AccessChange {
        AccessChange {
            id,
            user_id: user.into(),
            scope,
            reason,
        }
    }

    #[test]
    fn an_exclusion_closes_exactly_the_connections_of_its_scope() {
        let hub = Hub::new();
        let phone = hub.register("alice", "phone", "s-phone", 8);
        let laptop = hub.register("alice", "laptop", "s-laptop", 8);
        let laptop_tab = hub.register("alice", "laptop", "s-laptop-2", 8);
        let bob = hub.register("bob", "b1", "s-bob", 8);
        let open = |r: &Registration| *r.close.borrow() == CloseReason::Open;

        hub.apply_access(&exclusion(
            1,
            "alice",
            AccessScope::Session("s-laptop-2".into()),
            AccessReason::LoggedOut,
        ));
        assert!(open(&phone) && open(&laptop) && open(&bob));
        assert_eq!(
            *laptop_tab.close.borrow(),
            CloseReason::Excluded(AccessReason::LoggedOut)
        );

        hub.apply_access(&exclusion(
            2,
            "alice",
            AccessScope::Device("laptop".into()),
            AccessReason::DeviceRevoked,
        ));
        assert!(open(&phone) && open(&bob));
        assert_eq!(
            *laptop.close.borrow(),
            CloseReason::Excluded(AccessReason::DeviceRevoked)
        );

        hub.apply_access(&exclusion(
            3,
            "alice",
            AccessScope::Account,
            AccessReason::AccountDisabled,
        ));
        assert_eq!(
            *phone.close.borrow(),
            CloseReason::Excluded(AccessReason::AccountDisabled)
        );
        assert!(open(&bob), "another account is untouched");
    }

    #[test]
    fn a_change_is_applied_once_whether_it_comes_from_the_bus_or_the_feed() {
        let hub = Hub::new();
        let bob = connect(&hub, "bob", "c", 8);
        // The removal arrives on the bus, then the re-addition; the feed's copy of the
        // removal, read later, must not undo the re-addition.
        assert!(hub.apply_access(&exclusion(
            5,
            "bob",
            AccessScope::Channel("c".into()),
            AccessReason::MemberRemoved,
        )));
        hub.apply(&BusEvent::MemberAdded {
            channel_id: "c".into(),
            user_id: "bob".into(),
        });
        assert!(!hub.apply_access(&exclusion(
            5,
            "bob",
            AccessScope::Channel("c".into()),
            AccessReason::MemberRemoved,
        )));
        assert!(hub.receives("bob", "c"));
        hub.advance_access(5);
        assert_eq!(hub.access_position(), 5);
        assert!(!hub.apply_access(&exclusion(
            4,
            "bob",
            AccessScope::Account,
            AccessReason::AccountDisabled,
        )));
        assert_eq!(*bob.close.borrow(), CloseReason::Open);
    }

    #[test]
    fn a_removal_during_registration_is_not_undone_by_a_stale_membership_read() {
        let hub = Hub::new();
        let mut bob = hub.register("bob", "b1", "s1", 8);
        // The membership list was read before the removal committed…
        let stale = vec!["c".to_owned()];
        hub.apply(&removal(1, "bob", "c"));
        hub.activate(bob.id, stale);
        hub.apply(&BusEvent::Channel {
            channel_id: "c".into(),
            frame: Frame::from_static("x"),
        });
        assert!(bob.try_recv().is_err());
        assert!(!hub.receives("bob", "c"));
    }

    #[test]
    fn a_frame_reaches_connected_members_only_and_removal_is_immediate() {
        let hub = Hub::new();
        let mut alice = connect(&hub, "alice", "c", 8);
        let mut bob = connect(&hub, "bob", "c", 8);
        let mut carol = connect(&hub, "carol", "other", 8);
        let frame: Frame = Frame::from_static("{\"type\":\"pong\"}");
        hub.apply(&BusEvent::Channel {
            channel_id: "c".into(),
            frame: frame.clone(),
        });
        assert!(alice.try_recv().is_ok());
        assert!(bob.try_recv().is_ok());
        assert!(carol.try_recv().is_err());

        hub.apply(&removal(1, "bob", "c"));
        hub.apply(&BusEvent::Channel {
            channel_id: "c".into(),
            frame,
        });
        assert!(alice.try_recv().is_ok());
        assert!(bob.try_recv().is_err(), "removed member still received");
    }

    #[test]
    fn a_channel_frame_is_one_buffer_shared_by_every_recipient() {
        let hub = Hub::new();
        let mut members: Vec<Registration> = ["alice", "bob", "carol", "dan"]
            .into_iter()
            .map(|user| connect(&hub, user, "c", 8))
            .collect();
        let mut outsider = connect(&hub, "eve", "other", 8);
        let text = r#"{"type":"message","channel_id":"c","seq":1}"#;
        hub.apply(&BusEvent::Channel {
            channel_id: "c".into(),
            frame: Frame::from(text.to_owned()),
        });
        let received: Vec<Frame> = members.iter_mut().map(|m| m.try_recv().unwrap()).collect();
        for frame in &received {
            assert_eq!(frame.as_str(), text);
            // The same allocation: serialised once, never copied per recipient.
            assert_eq!(frame.as_str().as_ptr(), received[0].as_str().as_ptr());
        }
        assert!(outsider.try_recv().is_err());
    }

    #[test]
    fn a_frame_for_one_device_or_one_user_never_reaches_another() {
        let hub = Hub::new();
        let mut alice_phone = hub.register("alice", "a-phone", "s1", 8);
        let mut alice_laptop = hub.register("alice", "a-laptop", "s2", 8);
        let mut bob = hub.register("bob", "b-phone", "s3", 8);
        hub.activate(alice_phone.id, vec!["c".into()]);
        hub.activate(alice_laptop.id, vec!["c".into()]);
        hub.activate(bob.id, vec!["c".into()]);
        hub.apply(&BusEvent::Device {
            device_id: "a-phone".into(),
            frame: Frame::from_static("keys for a-phone"),
        });
        hub.apply(&BusEvent::User {
            user_id: "bob".into(),
            frame: Frame::from_static("for bob"),
        });
        assert_eq!(alice_phone.try_recv().unwrap().as_str(), "keys for a-phone");
        assert!(alice_laptop.try_recv().is_err());
        assert_eq!(bob.try_recv().unwrap().as_str(), "for bob");
        assert!(alice_phone.try_recv().is_err());
        assert!(bob.try_recv().is_err());
    }

    #[test]
    fn a_full_queue_closes_that_connection_only() {
        let hub = Hub::new();
        let slow = connect(&hub, "slow", "c", 2);
        let mut fast = connect(&hub, "fast", "c", 8);
        for _ in 0..3 {
            hub.apply(&BusEvent::Channel {
                channel_id: "c".into(),
                frame: Frame::from_static("x"),
            });
            assert!(fast.try_recv().is_ok());
        }
        assert_eq!(*slow.close.borrow(), CloseReason::SlowConsumer);
        assert_eq!(*fast.close.borrow(), CloseReason::Open);
    }

    #[test]
    fn a_device_frame_reaches_the_connections_of_that_device_only() {
        let hub = Hub::new();
        let mut first = hub.register("alice", "a1", "s1", 8);
        let mut second = hub.register("alice", "a1", "s2", 8);
        let mut other = hub.register("alice", "a2", "s3", 8);
        hub.apply(&BusEvent::Device {
            device_id: "a1".into(),
            frame: Frame::from_static("k"),
        });
        assert!(first.try_recv().is_ok());
        assert!(second.try_recv().is_ok());
        assert!(other.try_recv().is_err());
        drop(first);
        drop(second);
        hub.apply(&BusEvent::Device {
            device_id: "a1".into(),
            frame: Frame::from_static("k"),
        });
        assert!(other.try_recv().is_err());
        assert!(
            !hub.read().by_device.contains_key("a1"),
            "device index forgotten"
        );
    }

    #[test]
    fn dropping_the_last_connection_forgets_the_user() {
        let hub = Hub::new();
        let first = connect(&hub, "alice", "c", 8);
        let second = connect(&hub, "alice", "c", 8);
        assert_eq!(hub.connections_of("alice"), 2);
        drop(first);
        assert!(hub.receives("alice", "c"));
        drop(second);
        assert!(!hub.receives("alice", "c"));
        assert_eq!(hub.connection_count(), 0);
    }
}
