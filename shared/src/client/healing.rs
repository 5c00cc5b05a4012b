//! The rotation bounds, enforced by this client whatever the server says
//! (docs/PROTOCOL.md §7.7, §23.4): a new epoch after 100 messages of the current one seen
//! here, after a week of holding its key, or after a member left the member list this
//! client checked. A server that hides the need to rotate (or a stale flag) no longer
//! keeps a channel on one key. An [`Agent`](super::Agent) keeps what was seen in its
//! store ([`StoredRotation`]), so that a restart resets neither the count nor the age.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::Client;
use crate::crypto::{MAX_EPOCH_AGE_SECONDS, MAX_MESSAGES_PER_EPOCH};

/// What this client has seen of one epoch.
#[derive(Clone, Copy)]
pub(crate) struct EpochUse {
    /// When this client first used or received its key (unix ms).
    first_held_ms: u64,
    /// Messages of the epoch sealed or opened here.
    messages: u64,
}

/// Per channel and epoch, what was seen; per channel, a removal seen since.
#[derive(Default)]
pub(crate) struct RotationWatch {
    epochs: HashMap<(String, u64), EpochUse>,
    removals: HashSet<String>,
}

/// What the rotation watch keeps across restarts: per channel, its newest epoch seen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRotation {
    /// The newest epoch seen per channel, with what was seen of it.
    #[serde(default)]
    pub epochs: Vec<StoredEpochUse>,
    /// Channels where a member left since this client last opened an epoch.
    #[serde(default)]
    pub removals: Vec<String>,
}

/// One channel's newest epoch as seen here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEpochUse {
    /// Channel.
    pub channel_id: String,
    /// Epoch.
    pub epoch: u64,
    /// When its key was first used or received here (unix ms).
    pub first_held_ms: u64,
    /// Messages of it sealed or opened here.
    pub messages: u64,
}

impl StoredRotation {
    /// Nothing seen yet.
    pub fn is_empty(&self) -> bool {
        self.epochs.is_empty() && self.removals.is_empty()
    }
}

impl RotationWatch {
    /// What to store: the newest epoch of each channel (older ones never need a new
    /// epoch of their own), and the removals seen.
    pub(crate) fn export(&self) -> StoredRotation {
        let mut newest: HashMap<&str, (u64, EpochUse)> = HashMap::new();
        for ((channel, epoch), seen) in &self.epochs {
            let slot = newest.entry(channel).or_insert((*epoch, *seen));
            if *epoch > slot.0 {
                *slot = (*epoch, *seen);
            }
        }
        let mut epochs: Vec<StoredEpochUse> = newest
            .into_iter()
            .map(|(channel, (epoch, seen))| StoredEpochUse {
                channel_id: channel.to_owned(),
                epoch,
                first_held_ms: seen.first_held_ms,
                messages: seen.messages,
            })
            .collect();
        epochs.sort_by(|a, b| a.channel_id.cmp(&b.channel_id));
        let mut removals: Vec<String> = self.removals.iter().cloned().collect();
        removals.sort();
        StoredRotation { epochs, removals }
    }

    /// The watch back from the store.
    pub(crate) fn import(stored: &StoredRotation) -> Self {
        let epochs = stored
            .epochs
            .iter()
            .map(|e| {
                (
                    (e.channel_id.clone(), e.epoch),
                    EpochUse {
                        first_held_ms: e.first_held_ms,
                        messages: e.messages,
                    },
                )
            })
            .collect();
        Self {
            epochs,
            removals: stored.removals.iter().cloned().collect(),
        }
    }

    /// A message of this epoch was sealed or opened here.
    pub(crate) fn message(&mut self, channel_id: &str, epoch: u64, now_ms: u64) {
        self.epochs
            .entry((channel_id.to_owned(), epoch))
            .or_insert(EpochUse {
                first_held_ms: now_ms,
                messages: 0,
            })
            .messages += 1;
    }

    /// This client opened the epoch itself.
    pub(crate) fn opened(&mut self, channel_id: &str, epoch: u64, now_ms: u64) {
        self.epochs.insert(
            (channel_id.to_owned(), epoch),
            EpochUse {
                first_held_ms: now_ms,
                messages: 0,
            },
        );
        self.removals.remove(channel_id);
    }

    /// The member list checked here lost someone.
    pub(crate) fn removal(&mut self, channel_id: &str) {
        self.removals.insert(channel_id.to_owned());
    }

    /// Whether this client must open a new epoch before sending in `epoch`.
    pub(crate) fn requires_rotation(&self, channel_id: &str, epoch: u64, now_ms: u64) -> bool {
        if self.removals.contains(channel_id) {
            return true;
        }
        self.epochs
            .get(&(channel_id.to_owned(), epoch))
            .is_some_and(|seen| {
                seen.messages >= MAX_MESSAGES_PER_EPOCH
                    || now_ms.saturating_sub(seen.first_held_ms) >= MAX_EPOCH_AGE_SECONDS * 1000
            })
    }
}

impl Client {
    /// Whether this client's own bounds require a new epoch of `channel_id` before
    /// sending in `epoch` at `now_ms` (§23.4).
    pub fn requires_rotation(&self, channel_id: &str, epoch: u64, now_ms: u64) -> bool {
        self.rotation_watch
            .requires_rotation(channel_id, epoch, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_seen_survives_a_store_round_trip() {
        let mut watch = RotationWatch::default();
        watch.opened("c", 1, 0);
        watch.opened("c", 2, 5);
        for _ in 0..100 {
            watch.message("c", 2, 10);
        }
        watch.message("d", 4, 1_000);
        watch.removal("e");
        let stored: StoredRotation =
            serde_json::from_value(serde_json::to_value(watch.export()).unwrap()).unwrap();
        assert_eq!(
            stored.epochs.len(),
            2,
            "only the newest epoch of each channel"
        );
        let again = RotationWatch::import(&stored);
        assert!(again.requires_rotation("c", 2, 10));
        assert!(!again.requires_rotation("d", 4, 1_000));
        assert!(again.requires_rotation("d", 4, 1_000 + MAX_EPOCH_AGE_SECONDS * 1000));
        assert!(again.requires_rotation("e", 1, 0));
    }

    #[test]
    fn an_epoch_must_rotate_after_100_messages_a_week_or_a_removal_seen_here() {
        let mut watch = RotationWatch::default();
        watch.opened("c", 3, 0);
        for _ in 0..99 {
            watch.message("c", 3, 10);
        }
        assert!(!watch.requires_rotation("c", 3, 10));
        watch.message("c", 3, 10);
        assert!(watch.requires_rotation("c", 3, 10));

        watch.message("c", 4, 1_000);
        assert!(!watch.requires_rotation("c", 4, 1_000 + MAX_EPOCH_AGE_SECONDS * 1000 - 1));
        assert!(watch.requires_rotation("c", 4, 1_000 + MAX_EPOCH_AGE_SECONDS * 1000));

        watch.message("d", 1, 0);
        watch.removal("d");
        assert!(watch.requires_rotation("d", 1, 0));
        watch.opened("d", 2, 5);
        assert!(!watch.requires_rotation("d", 2, 5));
    }
}
