//! Each sender's order, checked by the receivers ([PROTOCOL.md §8.8]).
//!
//! The server numbers a channel's messages (`seq`) and dates them (`ts`); neither is
//! signed. A version-2 envelope carries, under its sender's signature, the sending
//! device's own counter in the channel, the hash of its previous envelope there and its
//! clock ([`MessageOrder`]). [`check_order`] reads a contiguous run of loaded messages in
//! the server's order and says where the server dropped, replayed or reordered a
//! sender's messages, served a version-1 envelope from a device that already sent
//! version 2, or re-dated a message. It is a pure function of the run and of the
//! [`OrderMark`]s the receiver kept from earlier runs (persisted across reloads), so the
//! browser (`web-client/js/crypto/order.js`) and the SDK apply exactly the same rules;
//! `shared/vectors/message_order.json` fixes their outcomes.
//!
//! Only messages whose signature verified may be given to it: a mark is what the
//! sender signed, never what the server claims.
//!
//! [PROTOCOL.md §8.8]: ../../../docs/PROTOCOL.md#88-checking-the-order

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::encoding::b64_array;
use super::envelope::{Envelope, MessageOrder};

/// How far (ms) a sender's clock may be from the server's date of the message before
/// the receiver shows the sender's time: five minutes, beyond any honest clock drift and
/// delivery delay of a message that was sent while online.
pub const CLOCK_TOLERANCE_MS: u64 = 5 * 60 * 1000;

/// What a receiver keeps of one sender device in one channel, across reloads: the
/// highest counter it saw verified, that envelope's hash, and the `seq` the server gave
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderMark {
    /// The highest counter seen from the device in the channel.
    pub counter: u64,
    /// [`Envelope::order_hash`] of that envelope.
    #[serde(with = "b64_array")]
    pub hash: [u8; 32],
    /// Where the server placed it.
    pub seq: u64,
    /// For a reader of every message in order (`follows_marks`), the counters it found
    /// missing: one served later is then out of order, not a replay. At most
    /// [`MAX_MISSING_KEPT`], the highest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<u64>,
}

/// How many missing counters a mark remembers per sender device: a server that skips
/// millions of counters must not make the receiver's store grow with them.
pub const MAX_MISSING_KEPT: usize = 64;

/// A received message as the check sees it: its place in the server's order, the
/// server's date and what its (verified) envelope says of its sender's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The server's sequence number.
    pub seq: u64,
    /// The server's timestamp (ms).
    pub ts: u64,
    /// The sending device.
    pub sender_device: String,
    /// The envelope's order fields, `None` for a version-1 envelope.
    pub order: Option<MessageOrder>,
    /// [`Envelope::order_hash`] (unused for version 1).
    pub hash: [u8; 32],
}

impl Arrival {
    /// The arrival of a verified envelope the server placed at `seq` and dated `ts`.
    pub fn of(envelope: &Envelope, seq: u64, ts: u64) -> Self {
        Self {
            seq,
            ts,
            sender_device: envelope.sender_device.clone(),
            order: envelope.order,
            hash: envelope.order_hash(),
        }
    }
}

/// What the check found wrong with one sender's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderAnomaly {
    /// At least `count` messages of the sender are missing before this one (a gap in
    /// its counters) or at the end of the channel (the server rolled back or dropped the
    /// sender's newest messages).
    Missing {
        /// How many counters are missing (at least).
        count: u64,
    },
    /// An envelope whose counter was already seen (the same envelope served twice, or
    /// another envelope in the place of one seen), or one that does not follow the
    /// envelope seen before it.
    Replayed,
    /// The counter goes backwards in the server's order: a message served after a later
    /// one of the same sender.
    Reordered,
    /// A version-1 envelope, without order, from a device that already sent version 2.
    Downgraded,
    /// The sender's clock says `sent_at` (ms), far from the server's date.
    ClockSkew {
        /// The sender's time.
        sent_at: u64,
    },
}

impl OrderAnomaly {
    /// The stable code of the anomaly (shared vectors, the browser's notices).
    pub fn code(&self) -> &'static str {
        match self {
            OrderAnomaly::Missing { .. } => "missing",
            OrderAnomaly::Replayed => "replayed",
            OrderAnomaly::Reordered => "reordered",
            OrderAnomaly::Downgraded => "downgraded",
            OrderAnomaly::ClockSkew { .. } => "clock",
        }
    }
}

/// One anomaly, where it shows: before the message at `seq` (for a tail that is
/// missing, the run's last seq), from `sender_device`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderNotice {
    /// The message it concerns, or the end of the run for a missing tail.
    pub seq: u64,
    /// The sender device whose order is broken.
    pub sender_device: String,
    /// What is wrong.
    pub anomaly: OrderAnomaly,
}

/// What [`check_order`] returns: the notices, in the run's order, and the marks to keep
/// (the given ones, advanced by the run, never moved back).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderReport {
    /// What is wrong, in the order of the run.
    pub notices: Vec<OrderNotice>,
    /// The marks to persist.
    pub marks: BTreeMap<String, OrderMark>,
}

#[derive(Default)]
struct Seen {
    /// Highest counter of the run so far, and its hash.
    last: Option<(u64, [u8; 32])>,
    /// Every counter of the run, with its hash.
    counters: HashMap<u64, [u8; 32]>,
    /// The seq of the first version-2 envelope of the run.
    first_v2_seq: Option<u64>,
    /// The seq of the envelope with the highest counter.
    last_seq: u64,
    /// Counters found missing in this run (reader of every message only).
    skipped: Vec<u64>,
    /// Counters of the mark's `missing` that arrived in this run.
    filled: Vec<u64>,
}

/// Checks a contiguous run of verified messages of one channel, in the server's `seq`
/// order, against the marks kept from earlier runs. `reaches_end`: the run ends at the
/// channel's newest message, so a mark beyond it means the server dropped its sender's
/// newest messages. `follows_marks`: the run comes right after the messages the marks
/// were made from (a reader that reads every message once, in order, as the SDK's
/// agent does), so a device's first counter in the run must follow its mark; a reader
/// that loads a page of history (the browser) passes `false`, since the messages
/// between an old mark and the page are not loaded.
///
/// Rules, per sender device (PROTOCOL.md §8.8): a counter already seen in the run is
/// `replayed`; a counter lower than the run's highest is `reordered`; a counter that
/// skips is `missing`; the next counter must name the previous envelope's hash
/// (`replayed` otherwise); the device's first envelope of the run must come after its
/// mark when the mark lies before the run; a version-1 envelope after a version-2 one of
/// the same device is `downgraded`; a sender's clock further than
/// [`CLOCK_TOLERANCE_MS`] from the server's date is shown (`clock`). At the end, a mark
/// inside the run must be found there with its hash, and with `reaches_end` a mark
/// beyond the run is `missing`.
pub fn check_order(
    marks: &BTreeMap<String, OrderMark>,
    run: &[Arrival],
    reaches_end: bool,
    follows_marks: bool,
) -> OrderReport {
    let mut notices = Vec::new();
    let mut seen: HashMap<&str, Seen> = HashMap::new();
    let first_seq = run.first().map_or(0, |a| a.seq);
    let last_seq = run.last().map_or(0, |a| a.seq);
    let mut note = |seq: u64, device: &str, anomaly| {
        notices.push(OrderNotice {
            seq,
            sender_device: device.to_owned(),
            anomaly,
        })
    };

    for arrival in run {
        let device = arrival.sender_device.as_str();
        let mark = marks.get(device);
        let state = seen.entry(device).or_default();
        let Some(order) = arrival.order else {
            let after_v2 = state.first_v2_seq.is_some_and(|s| s < arrival.seq)
                || mark.is_some_and(|m| m.seq < arrival.seq);
            if after_v2 {
                note(arrival.seq, device, OrderAnomaly::Downgraded);
            }
            continue;
        };
        state.first_v2_seq.get_or_insert(arrival.seq);
        let (counter, hash) = (order.counter, arrival.hash);
        if order.sent_at.abs_diff(arrival.ts) > CLOCK_TOLERANCE_MS {
            note(
                arrival.seq,
                device,
                OrderAnomaly::ClockSkew {
                    sent_at: order.sent_at,
                },
            );
        }
        if state.counters.contains_key(&counter) {
            note(arrival.seq, device, OrderAnomaly::Replayed);
            continue;
        }
        state.counters.insert(counter, hash);
        let previous = match state.last {
            Some(last) => Some(last),
            // The device's first envelope of the run follows its mark when the mark lies
            // before the run; otherwise nothing before it is loaded to compare with.
            None => mark
                .filter(|m| m.seq < first_seq)
                .map(|m| (m.counter, m.hash)),
        };
        match previous {
            Some((last, _)) if counter <= last => {
                let was_missing = mark.is_some_and(|m| m.missing.contains(&counter));
                if was_missing {
                    state.filled.push(counter);
                }
                state.skipped.retain(|c| *c != counter);
                let anomaly = if state.last.is_some() || (follows_marks && was_missing) {
                    OrderAnomaly::Reordered
                } else {
                    // Below the mark, after it in the server's order, and never found
                    // missing: an old envelope served again.
                    OrderAnomaly::Replayed
                };
                note(arrival.seq, device, anomaly);
                continue;
            }
            Some((last, last_hash)) if counter == last + 1 && order.prev != last_hash => {
                note(arrival.seq, device, OrderAnomaly::Replayed);
            }
            Some((last, _)) if counter == last + 1 => {}
            Some((last, _)) if state.last.is_some() || follows_marks => {
                note(
                    arrival.seq,
                    device,
                    OrderAnomaly::Missing {
                        count: counter - last - 1,
                    },
                );
                if follows_marks {
                    state
                        .skipped
                        .extend((last + 1..counter).rev().take(MAX_MISSING_KEPT));
                }
            }
            // After a mark that lies before a page of history, the messages in between
            // are not loaded: a higher counter proves nothing.
            _ => {}
        }
        if state.last.is_none_or(|(last, _)| counter > last) {
            state.last = Some((counter, hash));
            state.last_seq = arrival.seq;
        }
    }

    // What the marks say must still be there.
    for (device, mark) in marks {
        let state = seen.get(device.as_str());
        let inside = first_seq <= mark.seq && mark.seq <= last_seq && !run.is_empty();
        let beyond = reaches_end && mark.seq > last_seq;
        if !inside && !beyond {
            continue;
        }
        let highest = state.and_then(|s| s.last).map_or(0, |(c, _)| c);
        match state.and_then(|s| s.counters.get(&mark.counter)) {
            Some(hash) if *hash != mark.hash => {
                note(last_seq, device, OrderAnomaly::Replayed);
            }
            Some(_) => {}
            None if inside || highest < mark.counter => {
                let count = if highest == 0 || highest >= mark.counter {
                    1
                } else {
                    mark.counter - highest
                };
                note(last_seq, device, OrderAnomaly::Missing { count });
            }
            None => {}
        }
    }

    let mut kept = marks.clone();
    for (device, state) in &seen {
        let before = marks.get(*device);
        let mut missing: Vec<u64> = before
            .map(|m| m.missing.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|c| !state.filled.contains(c))
            .chain(&state.skipped)
            .copied()
            .collect();
        missing.sort_unstable();
        missing.dedup();
        missing.drain(..missing.len().saturating_sub(MAX_MISSING_KEPT));
        let advanced = state
            .last
            .filter(|(counter, _)| before.is_none_or(|m| *counter > m.counter));
        let mark = match (advanced, before) {
            (Some((counter, hash)), _) => OrderMark {
                counter,
                hash,
                seq: state.last_seq,
                missing,
            },
            (None, Some(before)) => OrderMark {
                missing,
                ..before.clone()
            },
            // Only version-1 envelopes from this device: nothing to keep.
            (None, None) => continue,
        };
        kept.insert((*device).to_owned(), mark);
    }
    OrderReport {
        notices,
        marks: kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(seq: u64, device: &str, counter: u64, prev: u8, hash: u8) -> Arrival {
        Arrival {
            seq,
            ts: 1_000_000,
            sender_device: device.into(),
            order: Some(MessageOrder {
                counter,
                prev: [prev; 32],
                sent_at: 1_000_000,
            }),
            hash: [hash; 32],
        }
    }

    fn codes(report: &OrderReport) -> Vec<(u64, &'static str)> {
        report
            .notices
            .iter()
            .map(|n| (n.seq, n.anomaly.code()))
            .collect()
    }

    #[test]
    fn an_unbroken_chain_says_nothing_and_marks_its_last_envelope() {
        let run = [
            v2(1, "a", 1, 0, 1),
            v2(2, "b", 1, 0, 9),
            v2(3, "a", 2, 1, 2),
        ];
        let report = check_order(&BTreeMap::new(), &run, true, false);
        assert!(report.notices.is_empty());
        assert_eq!(
            report.marks["a"],
            OrderMark {
                counter: 2,
                hash: [2; 32],
                seq: 3,
                missing: Vec::new(),
            }
        );
    }

    #[test]
    fn a_gap_a_replay_and_a_reorder_are_each_named() {
        let gap = [v2(1, "a", 1, 0, 1), v2(2, "a", 3, 2, 3)];
        assert_eq!(
            codes(&check_order(&BTreeMap::new(), &gap, true, false)),
            [(2, "missing")]
        );
        let replay = [
            v2(1, "a", 1, 0, 1),
            v2(2, "a", 2, 1, 2),
            v2(3, "a", 1, 0, 1),
        ];
        assert_eq!(
            codes(&check_order(&BTreeMap::new(), &replay, true, false)),
            [(3, "replayed")]
        );
        let reorder = [
            v2(1, "a", 1, 0, 1),
            v2(2, "a", 3, 2, 3),
            v2(3, "a", 2, 1, 2),
        ];
        assert_eq!(
            codes(&check_order(&BTreeMap::new(), &reorder, true, false)),
            [(2, "missing"), (3, "reordered")]
        );
    }

    #[test]
    fn a_tail_dropped_after_a_reload_is_missing() {
        let first = [v2(1, "a", 1, 0, 1), v2(2, "a", 2, 1, 2)];
        let marks = check_order(&BTreeMap::new(), &first, true, false).marks;
        // The server now serves only the first message.
        let report = check_order(&marks, &first[..1], true, false);
        assert_eq!(codes(&report), [(1, "missing")]);
        assert_eq!(report.marks["a"].counter, 2, "a mark never moves back");
    }

    #[test]
    fn a_version_1_envelope_after_version_2_is_a_downgrade_but_not_before() {
        let mut old = v2(1, "a", 1, 0, 1);
        old.order = None;
        let mut late = old.clone();
        late.seq = 3;
        let run = [old, v2(2, "a", 1, 0, 1), late];
        assert_eq!(
            codes(&check_order(&BTreeMap::new(), &run, true, false)),
            [(3, "downgraded")]
        );
    }

    #[test]
    fn a_far_sender_clock_is_shown() {
        let mut a = v2(1, "a", 1, 0, 1);
        a.ts += CLOCK_TOLERANCE_MS + 1;
        let report = check_order(&BTreeMap::new(), &[a], true, false);
        assert_eq!(
            report.notices[0].anomaly,
            OrderAnomaly::ClockSkew { sent_at: 1_000_000 }
        );
    }
}

#[cfg(test)]
mod vector_tests {
    use super::*;
    use crate::crypto::DeviceSigningPublicKey;
    use serde_json::Value;

    /// `message_order.json`: every recorded envelope verifies under its sender's key and
    /// has the recorded hash; every case gives the recorded notices and marks.
    #[test]
    fn the_message_order_vectors_are_reproduced() {
        let v: Value =
            serde_json::from_str(include_str!("../../vectors/message_order.json")).unwrap();
        let mut envelopes = BTreeMap::new();
        for (name, entry) in v["envelopes"].as_object().unwrap() {
            let envelope: Envelope = serde_json::from_value(entry["envelope"].clone()).unwrap();
            let key: DeviceSigningPublicKey =
                serde_json::from_value(v["senders"][&envelope.sender_device].clone()).unwrap();
            envelope.verify_signature(&key).unwrap();
            assert_eq!(
                crate::crypto::to_base64url(&envelope.order_hash()),
                entry["order_hash"].as_str().unwrap(),
                "{name}"
            );
            envelopes.insert(name.clone(), envelope);
        }
        for case in v["cases"].as_array().unwrap() {
            let marks: BTreeMap<String, OrderMark> =
                serde_json::from_value(case["marks"].clone()).unwrap();
            let run: Vec<Arrival> = case["run"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    Arrival::of(
                        &envelopes[a["envelope"].as_str().unwrap()],
                        a["seq"].as_u64().unwrap(),
                        a["ts"].as_u64().unwrap(),
                    )
                })
                .collect();
            let report = check_order(
                &marks,
                &run,
                case["reaches_end"].as_bool().unwrap(),
                case["follows_marks"].as_bool().unwrap(),
            );
            let why = case["why"].as_str().unwrap();
            let expected = case["notices"].as_array().unwrap();
            assert_eq!(report.notices.len(), expected.len(), "{why}");
            for (notice, want) in report.notices.iter().zip(expected) {
                assert_eq!(notice.seq, want["seq"].as_u64().unwrap(), "{why}");
                assert_eq!(
                    notice.anomaly.code(),
                    want["code"].as_str().unwrap(),
                    "{why}"
                );
                assert_eq!(
                    notice.sender_device,
                    want["sender_device"].as_str().unwrap()
                );
            }
            assert_eq!(
                serde_json::to_value(&report.marks).unwrap(),
                case["marks_after"],
                "{why}"
            );
        }
    }
}
