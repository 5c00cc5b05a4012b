//! The message writer: one task per database that stores sends in batches (group
//! commit), so that durability (`synchronous=FULL`, one fsync per transaction) does not
//! cost throughput. A send is acknowledged only after its transaction has committed; the
//! committed message is then published on the bus, serialised once.
//!
//! Inside the transaction the writer checks what may have changed since the connection
//! verified the envelope: membership (a removal commits, the next send is refused),
//! the device's revocation, and that the envelope's epoch is the channel's current one.

use std::collections::HashMap;
use std::sync::Arc;

use passerelle_shared::crypto::{Envelope, MAX_EPOCH_AGE_SECONDS, MAX_MESSAGES_PER_EPOCH};
use passerelle_shared::protocol::v1::channels::StoredMessage;
use passerelle_shared::protocol::v1::ws::ServerFrame;
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use crate::bus::{Bus, BusEvent, Frame};
use crate::clock::Clock;
use crate::db::{self, entities::message};

/// Largest number of sends stored in one transaction.
const MAX_BATCH: usize = 512;
/// Sends waiting for the writer before senders wait too (backpressure).
const QUEUE: usize = 4096;

/// A verified send, waiting to be stored.
pub struct SendRequest {
    /// The sender's account.
    pub sender_user: String,
    /// The envelope, whose signature the connection verified against `sender_device`.
    pub envelope: Envelope,
    /// Where to answer.
    pub reply: oneshot::Sender<SendOutcome>,
}

/// What became of a send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Stored (or already stored: an idempotent resend gets the same answer).
    Committed {
        /// Sequence number.
        seq: u64,
        /// Stored at (unix ms).
        ts: i64,
    },
    /// The sender is not (or no longer) a member.
    NotMember,
    /// The sending device is revoked.
    DeviceRevoked,
    /// The channel is not active.
    ChannelClosed,
    /// A new epoch must be created first; the current one is given.
    EpochRequired {
        /// The channel's current epoch.
        current: u64,
    },
    /// Storage failed; nothing was stored, the client may resend.
    Unavailable,
}

/// The handle connections send through.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<SendRequest>,
}

impl Writer {
    /// Starts the writer task.
    pub fn start(db: DatabaseConnection, bus: Arc<dyn Bus>, clock: Arc<dyn Clock>) -> Writer {
        let (queue, requests) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, bus, clock, requests));
        Writer { queue }
    }

    /// Stores a send and waits for its commit.
    pub async fn send(&self, sender_user: String, envelope: Envelope) -> SendOutcome {
        let (reply, answer) = oneshot::channel();
        let request = SendRequest {
            sender_user,
            envelope,
            reply,
        };
        if self.queue.send(request).await.is_err() {
            return SendOutcome::Unavailable;
        }
        answer.await.unwrap_or(SendOutcome::Unavailable)
    }
}

async fn run(
    db: DatabaseConnection,
    bus: Arc<dyn Bus>,
    clock: Arc<dyn Clock>,
    mut requests: mpsc::Receiver<SendRequest>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let now = clock.now_ms();
        let pending: Vec<SendRequest> = std::mem::take(&mut batch);
        match store(&db, &pending, now).await {
            Ok(outcomes) => {
                for (request, (outcome, fresh)) in pending.into_iter().zip(outcomes) {
                    if let (true, SendOutcome::Committed { seq, ts }) = (fresh, &outcome) {
                        publish(bus.as_ref(), &request, *seq, *ts);
                    }
                    let _ = request.reply.send(outcome);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "storing a batch of messages failed");
                for request in pending {
                    let _ = request.reply.send(SendOutcome::Unavailable);
                }
            }
        }
    }
}

fn publish(bus: &dyn Bus, request: &SendRequest, seq: u64, ts: i64) {
    let frame = ServerFrame::Message(StoredMessage {
        channel_id: request.envelope.channel_id.clone(),
        seq,
        sender: request.sender_user.clone(),
        envelope: request.envelope.clone(),
        ts,
    });
    match serde_json::to_string(&frame) {
        Ok(text) => bus.publish(BusEvent::Channel {
            channel_id: request.envelope.channel_id.clone(),
            frame: Frame::from(text),
        }),
        Err(err) => tracing::error!(error = %err, "cannot serialise a message frame"),
    }
}

/// Stores a batch in one transaction. Returns each request's outcome and whether it is
/// new (to publish) or an idempotent repeat.
async fn store(
    db: &DatabaseConnection,
    batch: &[SendRequest],
    now: i64,
) -> Result<Vec<(SendOutcome, bool)>, DbErr> {
    let txn = db.begin().await?;
    if db::is_sqlite(db) {
        // Take SQLite's write lock with the first statement, in effect `BEGIN IMMEDIATE`.
        // A transaction that reads first and writes later fails at its first write with
        // SQLITE_BUSY_SNAPSHOT when another connection (an epoch publication, a login)
        // committed in between, and the whole batch was answered `unavailable`; a first
        // write instead waits for the lock (busy timeout) and then reads the latest state.
        // The statement changes no row.
        db::channels::require_rotation(&txn, Vec::new()).await?;
    }
    // On PostgreSQL several nodes write at once: lock the batch's channels first, so that
    // a removal or an epoch change committed by another transaction cannot slip between
    // the checks below and the insert (SQLite has one writer at a time anyway).
    let mut channel_ids: Vec<&str> = batch
        .iter()
        .map(|r| r.envelope.channel_id.as_str())
        .collect();
    channel_ids.sort_unstable();
    channel_ids.dedup();
    db::channels::lock_for_update(&txn, &channel_ids).await?;
    let mut outcomes: Vec<Option<(SendOutcome, bool)>> = vec![None; batch.len()];
    // Accepted requests per channel, in arrival order.
    let mut accepted: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut channel_state: HashMap<String, Option<db::entities::channel::Model>> = HashMap::new();
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    let mut device_live: HashMap<String, bool> = HashMap::new();
    // Membership of (channel, sender) within this transaction: read once per batch.
    let mut membership: HashMap<(&str, &str), bool> = HashMap::new();

    for (index, request) in batch.iter().enumerate() {
        let envelope = &request.envelope;
        if let Some(existing) =
            db::channels::find_sent(&txn, &envelope.sender_device, &envelope.client_msg_id).await?
        {
            outcomes[index] = Some((
                SendOutcome::Committed {
                    seq: u64::try_from(existing.seq).unwrap_or_default(),
                    ts: existing.created_at,
                },
                false,
            ));
            continue;
        }
        let key = (
            envelope.sender_device.as_str(),
            envelope.client_msg_id.as_str(),
        );
        if seen.contains_key(&key) {
            // Resolved after the seqs are known: same answer as the first copy.
            continue;
        }
        let live = match device_live.get(&envelope.sender_device) {
            Some(live) => *live,
            None => {
                let live = db::keys::find_device(&txn, &envelope.sender_device)
                    .await?
                    .is_some_and(|d| d.revoked_at.is_none() && d.user_id == request.sender_user);
                device_live.insert(envelope.sender_device.clone(), live);
                live
            }
        };
        if !live {
            outcomes[index] = Some((SendOutcome::DeviceRevoked, false));
            continue;
        }
        let member_key = (envelope.channel_id.as_str(), request.sender_user.as_str());
        let is_member = match membership.get(&member_key) {
            Some(known) => *known,
            None => {
                let found =
                    db::channels::membership(&txn, &envelope.channel_id, &request.sender_user)
                        .await?
                        .is_some();
                membership.insert(member_key, found);
                found
            }
        };
        if !is_member {
            outcomes[index] = Some((SendOutcome::NotMember, false));
            continue;
        }
        if !channel_state.contains_key(&envelope.channel_id) {
            let channel = db::channels::find(&txn, &envelope.channel_id).await?;
            channel_state.insert(envelope.channel_id.clone(), channel);
        }
        let Some(Some(channel)) = channel_state.get(&envelope.channel_id) else {
            outcomes[index] = Some((SendOutcome::NotMember, false));
            continue;
        };
        if channel.status != "active" {
            outcomes[index] = Some((SendOutcome::ChannelClosed, false));
            continue;
        }
        let already = accepted
            .get(envelope.channel_id.as_str())
            .map_or(0, Vec::len);
        let epoch_full = u64::try_from(channel.epoch_messages).unwrap_or(u64::MAX) + already as u64
            >= MAX_MESSAGES_PER_EPOCH;
        let epoch_old = now - channel.epoch_started_at
            >= i64::try_from(MAX_EPOCH_AGE_SECONDS).unwrap_or(i64::MAX) * 1000;
        let current = u64::try_from(channel.epoch).unwrap_or_default();
        if channel.rotation_required || epoch_full || epoch_old || envelope.epoch != current {
            outcomes[index] = Some((SendOutcome::EpochRequired { current }, false));
            continue;
        }
        seen.insert(key, index);
        accepted
            .entry(envelope.channel_id.as_str())
            .or_default()
            .push(index);
    }

    let mut rows = Vec::new();
    for (channel_id, indexes) in &accepted {
        let count = i64::try_from(indexes.len()).unwrap_or(i64::MAX);
        let last = db::channels::reserve_seqs(&txn, channel_id, count).await?;
        for (offset, index) in indexes.iter().enumerate() {
            let seq = last - count + 1 + i64::try_from(offset).unwrap_or_default();
            let request = &batch[*index];
            let envelope = &request.envelope;
            rows.push(message::Model {
                channel_id: envelope.channel_id.clone(),
                seq,
                sender_user: request.sender_user.clone(),
                sender_device: envelope.sender_device.clone(),
                client_msg_id: envelope.client_msg_id.clone(),
                epoch: i64::try_from(envelope.epoch).unwrap_or_default(),
                envelope: serde_json::to_string(envelope)
                    .map_err(|e| DbErr::Custom(e.to_string()))?,
                created_at: now,
            });
            outcomes[*index] = Some((
                SendOutcome::Committed {
                    seq: u64::try_from(seq).unwrap_or_default(),
                    ts: now,
                },
                true,
            ));
        }
    }
    db::channels::insert_messages(&txn, rows).await?;
    txn.commit().await?;

    // In-batch duplicates get their first copy's answer, without a second publication.
    Ok(batch
        .iter()
        .enumerate()
        .map(|(index, request)| {
            outcomes[index].clone().unwrap_or_else(|| {
                let key = (
                    request.envelope.sender_device.as_str(),
                    request.envelope.client_msg_id.as_str(),
                );
                let first = seen.get(&key).and_then(|i| outcomes[*i].clone());
                match first {
                    Some((outcome, _)) => (outcome, false),
                    None => (SendOutcome::Unavailable, false),
                }
            })
        })
        .collect())
}
