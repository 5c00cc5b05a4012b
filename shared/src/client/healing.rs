//! The rotation bounds, enforced by this client whatever the server says
//! (docs/PROTOCOL.md §7.7, §23.4): a new epoch after 100 messages of the current one seen
//! here, after a week of holding its key, or after a member left the member list this
//! client checked. A server that hides the need to rotate (or a stale flag) no longer
//! keeps a channel on one key.

use std::collections::{HashMap, HashSet};

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

impl RotationWatch {
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
