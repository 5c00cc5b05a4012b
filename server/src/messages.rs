//! The message writer: one task per database that stores sends in batches (group
//! commit), so that durability (`synchronous=FULL`, one fsync per transaction) does not
//! cost throughput. A send is acknowledged only after its transaction has committed; the
//! committed message is then published on the bus, serialised once.
//!
//! Epoch publications ride in the same transactions ([`Writer::store_epoch`]): a
//! publication is as frequent as one message in a hundred per channel, and when each
//! committed on its own, hundreds of channels rotating at once queued their commits (one
//! fsync each) behind and between the message batches (issue 22: publication p50 876 ms
//! with 200 small channels). A publication is checked by its service first; the writer
//! only re-checks, inside the batch's transaction, what may have changed meanwhile.
//!
//! Inside the transaction the writer checks what may have changed since the connection
//! verified the envelope: membership (a removal commits, the next send is refused),
//! the device's revocation, that the envelope's epoch is the channel's current one, and
//! the charter gate for writing (charter and rules accepted, regime and allow-list against
//! the latest account row, an archived channel, a practice session's opening hours),
//! which the connection no longer asks before a send to a channel the hub delivers to
//! its user (see `ws::connection`). Each of these reads is one query per batch, whatever
//! the number of messages in it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use passerelle_shared::crypto::{Envelope, MAX_EPOCH_AGE_SECONDS, MAX_MESSAGES_PER_EPOCH};
use passerelle_shared::protocol::v1::channels::StoredMessage;
use passerelle_shared::protocol::v1::ws::ServerFrame;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use tokio::sync::{mpsc, oneshot, Mutex, OwnedMutexGuard};

use crate::bus::{Bus, BusEvent, Frame};
use crate::clock::Clock;
use crate::db::{
    self,
    entities::{epoch_key, message, withheld_key},
};
use crate::facts::BatchGate;
use crate::policy::Refusal;

/// Largest number of sends stored in one transaction.
const MAX_BATCH: usize = 512;
/// Sends waiting for the writer before senders wait too (backpressure).
const QUEUE: usize = 4096;

/// Where a send's outcome goes: called by the writer's task once the send's transaction
/// has committed (or failed), after a new message was published on the bus. It must not
/// block: it pushes a frame, or spawns what needs to wait. A connection answers an
/// acknowledgement this way without a task of its own per send (issue 22: a spawned task
/// and a oneshot per message were two wake-ups of the message's path). A send the writer
/// drops without answering (only when it stops with sends still queued) gets no frame:
/// it was not stored, and its client, never acknowledged, still holds it.
pub type Answer = Box<dyn FnOnce(SendOutcome) + Send + Sync>;

/// A verified send, waiting to be stored.
pub struct SendRequest {
    /// The sender's account.
    pub sender_user: String,
    /// The envelope, whose signature the connection verified against `sender_device`.
    pub envelope: Envelope,
    /// Where to answer.
    pub answer: Answer,
}

/// A verified epoch publication (docs/PROTOCOL.md §7.4), waiting to be stored: its
/// service checked the wraps against the member devices it read; the writer re-checks
/// the epoch and the device set inside its transaction.
pub struct EpochWrite {
    /// The channel.
    pub channel_id: String,
    /// The new epoch (the channel's current one plus one).
    pub epoch: i64,
    /// Every device the wraps and the withheld entries cover, which must still be
    /// exactly the live devices of the current members.
    pub devices: HashSet<String>,
    /// One wrapped key per covered device.
    pub keys: Vec<epoch_key::Model>,
    /// The devices the sender could not verify.
    pub withheld: Vec<withheld_key::Model>,
}

/// What became of an epoch publication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochOutcome {
    /// Stored: the channel is at the new epoch.
    Stored,
    /// Another device published this epoch first.
    LostRace,
    /// The member devices changed since the service checked the wraps.
    DevicesChanged,
    /// Storage failed; nothing was stored.
    Unavailable,
}

/// One job of the writer's queue.
enum Job {
    Send(SendRequest),
    Epoch(EpochWrite, oneshot::Sender<EpochOutcome>),
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
    /// The charter gate refuses it at commit time, with the stable code of the refusal
    /// (`charter_not_accepted`, `rules_not_accepted`, `regime_not_met`, `channel_closed`
    /// for an archive, `session_ended`, …).
    Blocked(Refusal),
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
    queue: mpsc::Sender<Job>,
    turn: Option<Arc<Mutex<()>>>,
}

impl Writer {
    /// Starts the writer task.
    pub fn start(db: DatabaseConnection, bus: Arc<dyn Bus>, clock: Arc<dyn Clock>) -> Writer {
        let (queue, requests) = mpsc::channel(QUEUE);
        let turn = db::is_sqlite(&db).then(|| Arc::new(Mutex::new(())));
        tokio::spawn(run(db, bus, clock, requests, turn.clone()));
        Writer { queue, turn }
    }

    /// On SQLite, waits for the writer's turn to write, to be held for the length of
    /// another frequent write transaction (an epoch publication). SQLite lets one
    /// transaction write at a time, and one that finds the lock taken waits in SQLite's
    /// busy handler, which sleeps 1 to 100 ms between tries: under load a publication
    /// took 20 ms to 1 s, and a batch of messages could sleep behind it. Taking turns
    /// here hands the lock over without sleeping, in arrival order. `None` on
    /// PostgreSQL, whose row locks queue writers without sleeping.
    pub async fn write_turn(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.turn {
            Some(turn) => Some(turn.clone().lock_owned().await),
            None => None,
        }
    }

    /// Queues a send; `answer` gets its outcome once its transaction has committed. Waits
    /// only while the writer's queue is full (backpressure).
    pub async fn submit(&self, sender_user: String, envelope: Envelope, answer: Answer) {
        let request = SendRequest {
            sender_user,
            envelope,
            answer,
        };
        if let Err(mpsc::error::SendError(Job::Send(request))) =
            self.queue.send(Job::Send(request)).await
        {
            (request.answer)(SendOutcome::Unavailable);
        }
    }

    /// Stores an epoch publication in the writer's next transaction and waits for its
    /// commit.
    pub async fn store_epoch(&self, write: EpochWrite) -> EpochOutcome {
        let (reply, answer) = oneshot::channel();
        if self.queue.send(Job::Epoch(write, reply)).await.is_err() {
            return EpochOutcome::Unavailable;
        }
        answer.await.unwrap_or(EpochOutcome::Unavailable)
    }
}

async fn run(
    db: DatabaseConnection,
    bus: Arc<dyn Bus>,
    clock: Arc<dyn Clock>,
    mut requests: mpsc::Receiver<Job>,
    turn: Option<Arc<Mutex<()>>>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while requests.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let mut pending = Vec::with_capacity(jobs.len());
        let mut epochs = Vec::new();
        let mut epoch_replies = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Send(request) => pending.push(request),
                Job::Epoch(write, reply) => {
                    epochs.push(write);
                    epoch_replies.push(reply);
                }
            }
        }
        let stored = {
            let _turn = match &turn {
                Some(turn) => Some(turn.lock().await),
                None => None,
            };
            let now = clock.now_ms();
            store(&db, &epochs, &pending, now).await
        };
        match stored {
            Ok((epoch_outcomes, outcomes)) => {
                for (reply, outcome) in epoch_replies.into_iter().zip(epoch_outcomes) {
                    let _ = reply.send(outcome);
                }
                for (request, (outcome, fresh)) in pending.into_iter().zip(outcomes) {
                    if let (true, SendOutcome::Committed { seq, ts }) = (fresh, &outcome) {
                        publish(bus.as_ref(), &request, *seq, *ts);
                    }
                    (request.answer)(outcome);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "storing a batch of messages failed");
                for reply in epoch_replies {
                    let _ = reply.send(EpochOutcome::Unavailable);
                }
                for request in pending {
                    (request.answer)(SendOutcome::Unavailable);
                }
            }
        }
    }
}

fn publish(bus: &dyn Bus, request: &SendRequest, seq: u64, ts: i64) {
    let frame = ServerFrame::Message(StoredMessage {
        channel_id: request.envelope.channel_id.clone().into(),
        seq,
        sender: request.sender_user.clone().into(),
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

/// What a batch's own checks read from the database, inside its transaction; the charter
/// gate's facts are [`crate::facts::BatchGate`].
struct BatchFacts {
    /// (sender device, client message id) already stored: their seq and time.
    sent: HashMap<(String, String), (i64, i64)>,
    /// The live (not revoked) devices among the senders, with their owner.
    devices: HashMap<String, String>,
    /// The (channel, sender) pairs that are memberships.
    members: HashSet<(String, String)>,
    /// The gate's facts for the batch's channels and senders.
    gate: BatchGate,
}

impl BatchFacts {
    async fn read(txn: &impl ConnectionTrait, batch: &[SendRequest]) -> Result<BatchFacts, DbErr> {
        let mut sent_keys = Vec::with_capacity(batch.len());
        let mut device_ids = Vec::new();
        let mut member_keys = Vec::new();
        for request in batch {
            let envelope = &request.envelope;
            sent_keys.push((
                envelope.sender_device.clone(),
                envelope.client_msg_id.clone(),
            ));
            device_ids.push(envelope.sender_device.clone());
            member_keys.push((envelope.channel_id.clone(), request.sender_user.clone()));
        }
        for list in [&mut sent_keys, &mut member_keys] {
            list.sort_unstable();
            list.dedup();
        }
        device_ids.sort_unstable();
        device_ids.dedup();
        let sent = db::messages::find_sent_many(txn, &sent_keys)
            .await?
            .into_iter()
            .map(|m| ((m.sender_device, m.client_msg_id), (m.seq, m.created_at)))
            .collect();
        let members = db::members::find_many(txn, &member_keys)
            .await?
            .into_iter()
            .map(|m| (m.channel_id, m.user_id))
            .collect();
        let devices = db::keys::sending_devices(txn, &device_ids)
            .await?
            .into_iter()
            .filter(|d| d.revoked_at.is_none())
            .map(|d| (d.id, d.user_id))
            .collect();
        let gate = BatchGate::read(txn, &member_keys).await?;
        Ok(BatchFacts {
            sent,
            devices,
            members,
            gate,
        })
    }
}

/// The charter gate for writing, on the batch's facts: a channel being destroyed answers
/// as if the sender were not a member, as the gate does.
fn writable(
    facts: &BatchFacts,
    channel: &db::entities::channel::Model,
    sender_user: &str,
    now: i64,
) -> Result<(), SendOutcome> {
    match facts.gate.writable(channel, sender_user, now) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Refusal::NotFound | Refusal::NotMember)) => Err(SendOutcome::NotMember),
        Ok(Err(refusal)) => Err(SendOutcome::Blocked(refusal)),
        Err(err) => {
            tracing::error!(error = %err, "the charter gate cannot decide on a channel");
            Err(SendOutcome::Unavailable)
        }
    }
}

/// Stores a batch in one transaction: the epoch publications first (a send of the same
/// batch is checked against the epoch they leave), then the sends. Returns each
/// publication's outcome, and each send's with whether it is new (to publish) or an
/// idempotent repeat.
async fn store(
    db: &DatabaseConnection,
    epochs: &[EpochWrite],
    batch: &[SendRequest],
    now: i64,
) -> Result<(Vec<EpochOutcome>, Vec<(SendOutcome, bool)>), DbErr> {
    // The write lock first: a batch that read first failed whole with SQLITE_BUSY when
    // another connection (an epoch publication, a login) committed in between.
    let txn = db::begin_write(db).await?;
    // On PostgreSQL several nodes write at once: lock the batch's channels first, so that
    // a removal or an epoch change committed by another transaction cannot slip between
    // the checks below and the insert (SQLite has one writer at a time anyway).
    let mut channel_ids: Vec<&str> = batch
        .iter()
        .map(|r| r.envelope.channel_id.as_str())
        .chain(epochs.iter().map(|e| e.channel_id.as_str()))
        .collect();
    channel_ids.sort_unstable();
    channel_ids.dedup();
    db::channels::lock_for_update(&txn, &channel_ids).await?;
    let mut epoch_outcomes = Vec::with_capacity(epochs.len());
    for write in epochs {
        epoch_outcomes.push(store_epoch(&txn, write, now).await?);
    }
    if batch.is_empty() {
        txn.commit().await?;
        return Ok((epoch_outcomes, Vec::new()));
    }
    let mut outcomes: Vec<Option<(SendOutcome, bool)>> = vec![None; batch.len()];
    // Accepted requests per channel, in arrival order.
    let mut accepted: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    // What the checks below need, read once per batch (one query each, whatever the
    // number of messages) inside the transaction, so after any removal, revocation or
    // epoch change that committed before it.
    let facts = BatchFacts::read(&txn, batch).await?;

    for (index, request) in batch.iter().enumerate() {
        let envelope = &request.envelope;
        let key = (
            envelope.sender_device.as_str(),
            envelope.client_msg_id.as_str(),
        );
        let stored_key = (
            envelope.sender_device.clone(),
            envelope.client_msg_id.clone(),
        );
        if let Some(&(seq, ts)) = facts.sent.get(&stored_key) {
            outcomes[index] = Some((
                SendOutcome::Committed {
                    seq: u64::try_from(seq).unwrap_or_default(),
                    ts,
                },
                false,
            ));
            continue;
        }
        if seen.contains_key(&key) {
            // Resolved after the seqs are known: same answer as the first copy.
            continue;
        }
        let live = facts
            .devices
            .get(envelope.sender_device.as_str())
            .is_some_and(|owner| *owner == request.sender_user);
        if !live {
            outcomes[index] = Some((SendOutcome::DeviceRevoked, false));
            continue;
        }
        let member_key = (envelope.channel_id.clone(), request.sender_user.clone());
        if !facts.members.contains(&member_key) {
            outcomes[index] = Some((SendOutcome::NotMember, false));
            continue;
        }
        let Some(channel) = facts.gate.channels.get(envelope.channel_id.as_str()) else {
            outcomes[index] = Some((SendOutcome::NotMember, false));
            continue;
        };
        if let Err(refusal) = writable(&facts, channel, &request.sender_user, now) {
            outcomes[index] = Some((refusal, false));
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

    let counts: Vec<(&str, i64)> = accepted
        .iter()
        .map(|(channel_id, indexes)| {
            (
                *channel_id,
                i64::try_from(indexes.len()).unwrap_or(i64::MAX),
            )
        })
        .collect();
    let reserved = db::channels::reserve_seqs_many(&txn, &counts).await?;
    let mut rows = Vec::new();
    for (channel_id, indexes) in &accepted {
        let count = i64::try_from(indexes.len()).unwrap_or(i64::MAX);
        let last = reserved
            .get(*channel_id)
            .copied()
            .ok_or_else(|| DbErr::RecordNotFound(format!("channel {channel_id}")))?;
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
    db::messages::insert(&txn, rows).await?;
    txn.commit().await?;

    // In-batch duplicates get their first copy's answer, without a second publication.
    let outcomes = batch
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
        .collect();
    Ok((epoch_outcomes, outcomes))
}

/// Stores one epoch publication inside the batch's transaction, after checking what may
/// have changed since its service checked it: the device set first (a read), then the
/// epoch (a conditional update), so that a refused publication writes nothing.
async fn store_epoch(
    txn: &impl ConnectionTrait,
    write: &EpochWrite,
    now: i64,
) -> Result<EpochOutcome, DbErr> {
    let members: Vec<String> = db::members::of_channel(txn, &write.channel_id)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let required: HashSet<String> = db::keys::key_recipients(txn, members)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    if required != write.devices {
        return Ok(EpochOutcome::DevicesChanged);
    }
    if !db::channels::advance_epoch(txn, &write.channel_id, write.epoch, now).await? {
        return Ok(EpochOutcome::LostRace);
    }
    db::epoch_keys::insert(txn, write.keys.clone()).await?;
    db::epoch_keys::insert_withheld(txn, write.withheld.clone()).await?;
    Ok(EpochOutcome::Stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use db::entities::{channel, user};

    const HOUR: i64 = 3_600_000;

    fn session(starts_at: i64, ends_at: i64) -> channel::Model {
        channel::Model {
            id: "s".into(),
            kind: "practice_session".into(),
            name: "Séance".into(),
            regime: "clspd_confidential".into(),
            status: "active".into(),
            created_by: "coord".into(),
            created_at: 0,
            last_seq: 0,
            epoch: 1,
            epoch_started_at: 0,
            epoch_messages: 0,
            rotation_required: false,
            group_id: Some("g".into()),
            starts_at: Some(starts_at),
            ends_at: Some(ends_at),
            ended_at: None,
            destroy_by: None,
            destroyed_at: None,
            title: None,
            title_by: None,
        }
    }

    fn account() -> user::Model {
        user::Model {
            id: "alice".into(),
            login: "alice".into(),
            display_name: "Alice".into(),
            institution_id: "mairie".into(),
            role: "member".into(),
            bound_by_professional_secrecy: false,
            social_action_professional: false,
            password_hash: String::new(),
            totp_secret_enc: None,
            totp_pending_enc: None,
            totp_last_step: None,
            failed_logins: 0,
            locked_at: None,
            disabled: false,
            created_at: 0,
            password_change_required: false,
            email: None,
        }
    }

    /// Alice, a member who accepted charter 1 and rules 1 of group `g`.
    fn facts() -> BatchFacts {
        BatchFacts {
            sent: HashMap::new(),
            devices: HashMap::new(),
            members: HashSet::new(),
            gate: BatchGate {
                channels: HashMap::new(),
                institutions: HashMap::from([("s".to_owned(), vec!["mairie".to_owned()])]),
                accounts: HashMap::from([("alice".to_owned(), account())]),
                charter: Some(1),
                charter_accepted: HashSet::from(["alice".to_owned()]),
                rules: HashMap::from([("g".to_owned(), 1)]),
                rules_accepted: HashSet::from([("g".to_owned(), "alice".to_owned(), 1)]),
            },
        }
    }

    fn refusal(facts: &BatchFacts, channel: &channel::Model, now: i64) -> Option<SendOutcome> {
        writable(facts, channel, "alice", now).err()
    }

    #[test]
    fn the_writer_refuses_a_practice_session_outside_its_hours() {
        let channel = session(10 * HOUR, 12 * HOUR);
        let facts = facts();
        assert_eq!(refusal(&facts, &channel, 11 * HOUR), None);
        assert_eq!(
            refusal(&facts, &channel, 9 * HOUR),
            Some(SendOutcome::Blocked(Refusal::SessionNotStarted))
        );
        assert_eq!(
            refusal(&facts, &channel, 12 * HOUR),
            Some(SendOutcome::Blocked(Refusal::SessionEnded))
        );
    }

    #[test]
    fn the_writer_refuses_a_sender_the_gate_would_refuse_even_if_still_subscribed() {
        let channel = session(0, 100 * HOUR);
        let now = HOUR;
        let mut new_charter = facts();
        new_charter.gate.charter = Some(2);
        new_charter.gate.charter_accepted.clear();
        assert_eq!(
            refusal(&new_charter, &channel, now),
            Some(SendOutcome::Blocked(Refusal::CharterNotAccepted))
        );
        let mut new_rules = facts();
        new_rules.gate.rules.insert("g".into(), 2);
        assert_eq!(
            refusal(&new_rules, &channel, now),
            Some(SendOutcome::Blocked(Refusal::RulesNotAccepted))
        );
        let mut disabled = facts();
        if let Some(account) = disabled.gate.accounts.get_mut("alice") {
            account.disabled = true;
        }
        assert_eq!(
            refusal(&disabled, &channel, now),
            Some(SendOutcome::Blocked(Refusal::RoleCannotJoin))
        );
        let mut archived = session(0, 100 * HOUR);
        archived.status = "archived".into();
        assert_eq!(
            refusal(&facts(), &archived, now),
            Some(SendOutcome::Blocked(Refusal::ChannelClosed))
        );
        let mut destroying = session(0, 100 * HOUR);
        destroying.status = "destroying".into();
        assert_eq!(
            refusal(&facts(), &destroying, now),
            Some(SendOutcome::NotMember)
        );
    }
}
