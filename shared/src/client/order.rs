//! This device's place in each channel's sequence of its own messages, and what it
//! checked of the others' (docs/PROTOCOL.md §8.7, §8.8).
//!
//! Sending: each channel has a *tip*, the last envelope this device sealed there that
//! the server did not refuse. A new message is sealed at the tip's counter + 1, naming
//! the tip's hash; a message sealed again under the same `client_msg_id` (for a new
//! epoch) takes the place it had; a message the server refused for good gives its place
//! back when it is still the tip ([`Client::refused`]), so a refusal leaves no false gap.
//!
//! Receiving: [`Client::check_arrival`] runs [`check_order`] on each verified message,
//! in the server's order, against the marks kept per (channel, sender device), which
//! the agent stores with its state so that they survive restarts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Client;
use crate::crypto::{check_order, Arrival, Envelope, MessageOrder, OrderMark, OrderNotice};
use crate::protocol::v1::channels::StoredMessage;

/// The last envelope this device sealed in a channel and did not see refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentTip {
    /// Its id: sealing again under it takes the same place.
    pub client_msg_id: String,
    /// Its counter.
    pub counter: u64,
    /// The hash it named (its predecessor's): where a refusal rolls back to.
    pub prev: [u8; 32],
    /// Its own hash, which the next envelope names.
    pub hash: [u8; 32],
}

impl Client {
    /// The order fields of a message about to be sealed in `channel_id` at `now` (ms).
    pub(crate) fn next_order(
        &self,
        channel_id: &str,
        client_msg_id: &str,
        now: u64,
    ) -> MessageOrder {
        match self.sent_tips.get(channel_id) {
            // Sealed again (a new epoch): the same place.
            Some(tip) if tip.client_msg_id == client_msg_id => MessageOrder {
                counter: tip.counter,
                prev: tip.prev,
                sent_at: now,
            },
            Some(tip) => MessageOrder {
                counter: tip.counter + 1,
                prev: tip.hash,
                sent_at: now,
            },
            None => MessageOrder {
                counter: 1,
                prev: [0; 32],
                sent_at: now,
            },
        }
    }

    /// Records a version-2 envelope just sealed as the channel's tip.
    pub(crate) fn sealed(&mut self, envelope: &Envelope) {
        if let Some(order) = envelope.order {
            self.sent_tips.insert(
                envelope.channel_id.clone(),
                SentTip {
                    client_msg_id: envelope.client_msg_id.clone(),
                    counter: order.counter,
                    prev: order.prev,
                    hash: envelope.order_hash(),
                },
            );
        }
    }

    /// The server refused the message `client_msg_id` for good: if it is the tip, its
    /// place goes back to the next message.
    pub fn refused(&mut self, channel_id: &str, client_msg_id: &str) {
        let Some(tip) = self.sent_tips.get(channel_id) else {
            return;
        };
        if tip.client_msg_id != client_msg_id {
            return;
        }
        if tip.counter <= 1 {
            self.sent_tips.remove(channel_id);
        } else {
            let tip = SentTip {
                // The predecessor's own id is not needed: only a re-seal compares ids.
                client_msg_id: String::new(),
                counter: tip.counter - 1,
                prev: [0; 32],
                hash: tip.prev,
            };
            self.sent_tips.insert(channel_id.to_owned(), tip);
        }
    }

    /// Checks a verified message's place in its sender's order against what this client
    /// saw before, and remembers it. The messages of a channel must be given in the
    /// server's order, each once, as the agent hands them out.
    pub fn check_arrival(&mut self, message: &StoredMessage) -> Vec<OrderNotice> {
        let marks = self
            .order_marks
            .entry(message.channel_id.to_string())
            .or_default();
        let ts = u64::try_from(message.ts).unwrap_or(0);
        let arrival = Arrival::of(&message.envelope, message.seq, ts);
        let report = check_order(marks, std::slice::from_ref(&arrival), false, true);
        *marks = report.marks;
        report.notices
    }

    /// The senders whose newest message seen in `channel_id` lies after `end_seq`, where
    /// the server now says the channel ends: each is `missing` (a rollback, or a tail
    /// withheld), noted at `end_seq`. The marks are not moved back.
    pub fn check_tail(&self, channel_id: &str, end_seq: u64) -> Vec<OrderNotice> {
        self.order_marks
            .get(channel_id)
            .into_iter()
            .flatten()
            .filter(|(_, mark)| mark.seq > end_seq)
            .map(|(device, _)| OrderNotice {
                seq: end_seq,
                sender_device: device.clone(),
                anomaly: crate::crypto::OrderAnomaly::Missing { count: 1 },
            })
            .collect()
    }

    /// The marks kept, per channel and sender device: what an application that keeps
    /// its own store saves (the agent stores them in its state).
    pub fn order_marks(&self) -> &BTreeMap<String, BTreeMap<String, OrderMark>> {
        &self.order_marks
    }

    /// Puts back the marks an earlier run kept ([`Client::order_marks`]), so that a
    /// server that dropped or replayed messages meanwhile is seen after a restart.
    pub fn restore_order_marks(&mut self, marks: BTreeMap<String, BTreeMap<String, OrderMark>>) {
        self.order_marks = marks;
    }
}
