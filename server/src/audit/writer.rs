//! The writer: the only code that appends to the chain.
//!
//! In a process, every append, checkpoint and purge goes through one task, which drains
//! whatever is queued into one transaction (group commit): under load many events share
//! one `fsync`, and each caller is answered only once its event is durable. Across
//! processes (server nodes on one PostgreSQL, `passerelle admin` beside a running server),
//! each transaction first takes the database's writer lock (the `audit_writer` row) and
//! reads the chain's head under it. Either way two events can never claim the same
//! predecessor: the chain cannot fork.

use std::sync::Arc;

use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseTransaction, EntityTrait, TransactionTrait,
};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::chain::{self, Fields, GENESIS_HASH};
use super::merkle::{self, Frontier};
use super::note::CheckpointBody;
use super::query::{Anchor, Checkpoint, BATCH};
use super::signing::{signed_message, ANCHOR_DOMAIN, CHECKPOINT_DOMAIN};
use super::store::{self, anchor, checkpoint, event, leaf, tree_head};
use super::{Actor, AuditError, Event, Outcome, Shared};

/// Most events committed in one transaction; bounds a transaction's size and a caller's wait.
const MAX_BATCH: usize = 512;
/// Longest stored actor field or target, in bytes; longer values (only a hostile client
/// sends them, e.g. as a login) are cut at a character boundary.
const MAX_FIELD: usize = 256;
/// Longest stored details text, in bytes; larger details are replaced by their size.
const MAX_DETAILS: usize = 16 * 1024;

/// The chain's last event (or the anchor, or genesis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// Its sequence number (0 before the first event).
    pub(crate) seq: u64,
    /// Its hash.
    pub(crate) hash: [u8; 32],
    /// Its time: the next event is never dated earlier.
    pub(crate) time_ms: i64,
}

/// What the writer is asked to do.
pub(crate) enum Command {
    /// Append one event; answers its sequence number.
    Record {
        event: Event,
        reply: oneshot::Sender<Result<u64, AuditError>>,
    },
    /// Sign a checkpoint of the head if there are events since the last one and either
    /// `force` is set or the checkpoint interval has passed.
    Checkpoint {
        force: bool,
        reply: oneshot::Sender<Result<Option<Checkpoint>, AuditError>>,
    },
    /// Answer the head as it is after every earlier command.
    Head { reply: oneshot::Sender<Head> },
    /// Store a signed anchor for event `up_to_seq`, delete the events and checkpoints up to
    /// it, and record that the purge happened.
    Purge {
        up_to_seq: u64,
        cutoff_ms: i64,
        reply: oneshot::Sender<Result<Anchor, AuditError>>,
    },
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Command>,
    /// The head as this process last saw it: what verification expects to find again.
    head: Head,
    /// The Merkle tree of the leaves up to `head`, kept so that signing a checkpoint
    /// never rereads the log.
    frontier: Frontier,
}

/// The chain's state as read under the writer lock.
struct ChainState {
    head: Head,
    anchor_seq: u64,
    last_checkpoint_seq: u64,
    /// When the last checkpoint was signed (or, before the first, when the first event
    /// after the anchor was recorded): the time-based checkpoint counts from there.
    last_checkpoint_ms: i64,
}

/// Reads the chain's head: the last event, else the latest anchor, else genesis.
async fn read_state(db: &impl ConnectionTrait, now_ms: i64) -> Result<ChainState, AuditError> {
    let anchor = store::latest_anchor(db).await?;
    let anchor_seq = anchor.as_ref().map_or(0, |a| store::from_db(a.seq));
    let malformed = |seq: i64| {
        AuditError::Malformed(format!(
            "the hash at seq {seq} is not 64 hexadecimal digits"
        ))
    };
    let head = match (store::last_event(db).await?, &anchor) {
        (Some(row), _) => Head {
            seq: store::from_db(row.seq),
            hash: chain::parse_hash(&row.hash).ok_or_else(|| malformed(row.seq))?,
            time_ms: row.time_ms,
        },
        (None, Some(anchor)) => Head {
            seq: anchor_seq,
            hash: chain::parse_hash(&anchor.hash).ok_or_else(|| malformed(anchor.seq))?,
            time_ms: anchor.time_ms,
        },
        (None, None) => Head {
            seq: 0,
            hash: GENESIS_HASH,
            time_ms: i64::MIN,
        },
    };
    let (last_checkpoint_seq, last_checkpoint_ms) = match store::last_checkpoint(db).await? {
        Some(cp) => (store::from_db(cp.seq), cp.time_ms),
        None => {
            let first = store::events_after(db, store::to_db(anchor_seq), i64::MAX, 1).await?;
            (anchor_seq, first.first().map_or(now_ms, |row| row.time_ms))
        }
    };
    Ok(ChainState {
        head,
        anchor_seq,
        last_checkpoint_seq,
        last_checkpoint_ms,
    })
}

impl Writer {
    /// Reads where the chain stands, and warns at once if it ends before its last signed
    /// checkpoint (events were deleted from the end).
    pub(crate) async fn load(
        shared: Arc<Shared>,
        rx: mpsc::Receiver<Command>,
    ) -> anyhow::Result<Writer> {
        let state = read_state(&shared.db, shared.clock.now_ms()).await?;
        if state.last_checkpoint_seq > state.head.seq {
            // Appending still goes on, and every verification reports the missing events.
            tracing::error!(
                last_event = state.head.seq,
                last_checkpoint = state.last_checkpoint_seq,
                "the access log ends before its last signed checkpoint: events were deleted"
            );
        }
        let mut writer = Writer {
            shared,
            rx,
            head: state.head,
            frontier: Frontier::new(),
        };
        let db = writer.shared.db.clone();
        if let Err(err) = writer.sync_frontier(&db, state.head.seq).await {
            // Opening still succeeds so that verification can say where the damage is;
            // appending retries the tree and fails until the log is repaired.
            tracing::error!(error = %err, "the access log's Merkle tree cannot be rebuilt");
        }
        Ok(writer)
    }

    /// Brings the cached tree up to `size` leaves (another process may have appended),
    /// rebuilding it if the log is now shorter than the cache.
    async fn sync_frontier(
        &mut self,
        db: &impl ConnectionTrait,
        size: u64,
    ) -> Result<(), AuditError> {
        if self.frontier.size() > size {
            self.frontier = Frontier::new();
        }
        while self.frontier.size() < size {
            let after = self.frontier.size();
            let rows = store::leaves_after(db, store::to_db(after), BATCH).await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let seq = store::from_db(row.seq);
                if seq > size {
                    break;
                }
                let hash = chain::parse_hash(&row.hash).filter(|_| seq == self.frontier.size() + 1);
                let Some(hash) = hash else {
                    return Err(AuditError::Malformed(format!(
                        "the Merkle leaf at seq {} is missing or malformed",
                        self.frontier.size() + 1
                    )));
                };
                self.frontier.push(merkle::leaf_hash(&hash));
            }
        }
        if self.frontier.size() != size {
            return Err(AuditError::Malformed(format!(
                "the Merkle leaves stop at seq {} but the log reaches seq {size}",
                self.frontier.size()
            )));
        }
        Ok(())
    }

    /// Opens a transaction holding the writer lock and reads the chain's state under it:
    /// whatever another process appended is seen, and nobody appends until commit.
    async fn begin_locked(&self) -> Result<(DatabaseTransaction, ChainState), AuditError> {
        let txn = self.shared.db.begin().await?;
        store::take_writer_lock(&txn).await?;
        let state = read_state(&txn, self.shared.clock.now_ms()).await?;
        Ok((txn, state))
    }

    /// Serves commands until every [`super::AuditLog`] handle is dropped.
    pub(crate) async fn run(mut self) {
        while let Some(first) = self.rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            self.handle(batch).await;
        }
    }

    async fn handle(&mut self, batch: Vec<Command>) {
        let mut records = Vec::new();
        for command in batch {
            match command {
                Command::Record { event, reply } => records.push((event, reply)),
                other => {
                    // Keep the callers' order: pending appends first.
                    self.flush(std::mem::take(&mut records)).await;
                    self.handle_other(other).await;
                }
            }
        }
        self.flush(records).await;
    }

    async fn handle_other(&mut self, command: Command) {
        match command {
            Command::Record { event, reply } => self.flush(vec![(event, reply)]).await,
            Command::Head { reply } => {
                let _ = reply.send(self.head);
            }
            Command::Checkpoint { force, reply } => {
                let _ = reply.send(self.checkpoint(force).await);
            }
            Command::Purge {
                up_to_seq,
                cutoff_ms,
                reply,
            } => {
                let _ = reply.send(self.purge(up_to_seq, cutoff_ms).await);
            }
        }
    }

    /// Appends `records` in one transaction, with the checkpoints that fall due among them.
    async fn flush(&mut self, records: Vec<(Event, oneshot::Sender<Result<u64, AuditError>>)>) {
        if records.is_empty() {
            return;
        }
        let (events, replies): (Vec<Event>, Vec<_>) = records.into_iter().unzip();
        match self.append(events).await {
            Ok(seqs) => {
                for (reply, seq) in replies.into_iter().zip(seqs) {
                    // A caller that stopped waiting still has its event recorded.
                    let _ = reply.send(Ok(seq));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "could not append to the access log");
                let err = Arc::new(err);
                for reply in replies {
                    let _ = reply.send(Err(AuditError::Write(err.clone())));
                }
            }
        }
    }

    async fn append(&mut self, events: Vec<Event>) -> Result<Vec<u64>, AuditError> {
        let (txn, state) = self.begin_locked().await?;
        self.sync_frontier(&txn, state.head.seq).await?;
        let mut frontier = self.frontier.clone();
        let mut head = state.head;
        let mut last_checkpoint = state.last_checkpoint_seq;
        let mut seqs = Vec::with_capacity(events.len());
        let mut rows = Vec::with_capacity(events.len());
        let mut leaves = Vec::with_capacity(events.len());
        let mut checkpoints = Vec::new();
        let mut heads = Vec::new();
        for event in events {
            rows.push(self.next_row(&mut head, event));
            leaves.push(leaf_row(&head));
            frontier.push(merkle::leaf_hash(&head.hash));
            seqs.push(head.seq);
            if head.seq.saturating_sub(last_checkpoint) >= self.shared.checkpoint_every {
                checkpoints.push(checkpoint_row(&self.sign_checkpoint(&head)?));
                heads.push(self.sign_tree_head(&head, &frontier));
                last_checkpoint = head.seq;
            }
        }
        insert_rows(&txn, rows).await?;
        insert_leaves(&txn, leaves).await?;
        if !checkpoints.is_empty() {
            checkpoint::Entity::insert_many(checkpoints)
                .exec_without_returning(&txn)
                .await?;
            tree_head::Entity::insert_many(heads)
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        if last_checkpoint > state.last_checkpoint_seq {
            self.shared.cosign_wakeup.notify_one();
        }
        self.head = head;
        self.frontier = frontier;
        Ok(seqs)
    }

    /// Signs the C2SP checkpoint of the tree `frontier` (whose last leaf is `head`).
    fn sign_tree_head(&self, head: &Head, frontier: &Frontier) -> tree_head::ActiveModel {
        let root = frontier.root();
        let body = CheckpointBody {
            origin: self.shared.origin.clone(),
            size: frontier.size(),
            root,
        }
        .to_text();
        let note = format!("{body}\n{}", self.shared.log_signer.sign(&body));
        tree_head::ActiveModel {
            size: Set(store::to_db(frontier.size())),
            root: Set(chain::to_hex(&root)),
            time_ms: Set(self.shared.clock.now_ms().max(head.time_ms)),
            note: Set(note),
        }
    }

    /// Builds the row of the next event and moves `head` onto it.
    fn next_row(&self, head: &mut Head, event: Event) -> event::ActiveModel {
        let seq = head.seq + 1;
        // Never earlier than the previous event, so that periods and retention cut the
        // chain into prefixes even if the system clock steps back.
        let time_ms = self.shared.clock.now_ms().max(head.time_ms);
        let Actor {
            user_id,
            login,
            institution_id,
            session_id,
            ip,
        } = event.actor;
        let user_id = user_id.map(bounded);
        let login = login.map(bounded);
        let institution_id = institution_id.map(bounded);
        let session_id = session_id.map(bounded);
        let ip = ip.map(|ip| ip.to_string());
        let target = event.target.map(bounded);
        let action = bounded(event.action.to_owned());
        let outcome = event.outcome.as_str();
        let details = bounded_details(&event.details);
        let hash = chain::event_hash(
            &head.hash,
            seq,
            &Fields {
                time_ms,
                user_id: user_id.as_deref(),
                login: login.as_deref(),
                institution_id: institution_id.as_deref(),
                session_id: session_id.as_deref(),
                ip: ip.as_deref(),
                action: &action,
                target: target.as_deref(),
                outcome,
                details: &details,
            },
        );
        let row = event::ActiveModel {
            seq: Set(store::to_db(seq)),
            time_ms: Set(time_ms),
            actor_user_id: Set(user_id),
            actor_login: Set(login),
            actor_institution_id: Set(institution_id),
            actor_session_id: Set(session_id),
            actor_ip: Set(ip),
            action: Set(action),
            target: Set(target),
            outcome: Set(outcome.to_owned()),
            details: Set(details),
            prev_hash: Set(chain::to_hex(&head.hash)),
            hash: Set(chain::to_hex(&hash)),
        };
        *head = Head { seq, hash, time_ms };
        row
    }

    fn sign_checkpoint(&self, head: &Head) -> Result<Checkpoint, AuditError> {
        let time_ms = self.shared.clock.now_ms().max(head.time_ms);
        let message = signed_message(CHECKPOINT_DOMAIN, head.seq, &head.hash, time_ms);
        Ok(Checkpoint {
            seq: head.seq,
            hash: chain::to_hex(&head.hash),
            time_ms,
            key_id: self.shared.signer.key_id().to_owned(),
            signature: self.shared.signer.sign(&message)?,
        })
    }

    async fn checkpoint(&mut self, force: bool) -> Result<Option<Checkpoint>, AuditError> {
        let (txn, state) = self.begin_locked().await?;
        self.head = state.head;
        let now = self.shared.clock.now_ms();
        let due =
            now.saturating_sub(state.last_checkpoint_ms) >= self.shared.checkpoint_interval_ms;
        if state.head.seq <= state.last_checkpoint_seq || !(force || due) {
            txn.rollback().await?;
            return Ok(None);
        }
        self.sync_frontier(&txn, state.head.seq).await?;
        let cp = self.sign_checkpoint(&state.head)?;
        checkpoint::Entity::insert(checkpoint_row(&cp))
            .exec_without_returning(&txn)
            .await?;
        tree_head::Entity::insert(self.sign_tree_head(&state.head, &self.frontier))
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        self.shared.cosign_wakeup.notify_one();
        Ok(Some(cp))
    }

    async fn purge(&mut self, up_to_seq: u64, cutoff_ms: i64) -> Result<Anchor, AuditError> {
        let (txn, state) = self.begin_locked().await?;
        if state.anchor_seq >= up_to_seq {
            // Another node purged first.
            txn.rollback().await?;
            return Err(AuditError::NothingToPurge);
        }
        let row = store::event_at(&txn, up_to_seq)
            .await?
            .ok_or(AuditError::NothingToPurge)?;
        let hash = chain::parse_hash(&row.hash).ok_or(AuditError::NothingToPurge)?;
        let time_ms = self.shared.clock.now_ms();
        let signature =
            self.shared
                .signer
                .sign(&signed_message(ANCHOR_DOMAIN, up_to_seq, &hash, time_ms))?;
        let anchor = Anchor {
            seq: up_to_seq,
            hash: row.hash.clone(),
            time_ms,
            key_id: self.shared.signer.key_id().to_owned(),
            signature,
        };
        anchor::Entity::insert(anchor::ActiveModel {
            seq: Set(store::to_db(anchor.seq)),
            hash: Set(anchor.hash.clone()),
            time_ms: Set(anchor.time_ms),
            key_id: Set(anchor.key_id.clone()),
            signature: Set(anchor.signature.clone()),
        })
        .exec_without_returning(&txn)
        .await?;
        let deleted = store::delete_up_to(&txn, up_to_seq).await?;
        // The purge itself is an event, in the same transaction: the log shows who removed
        // what (the server, by retention), and the chain goes on from the anchor.
        self.sync_frontier(&txn, state.head.seq).await?;
        let mut frontier = self.frontier.clone();
        let mut head = state.head;
        let row = self.next_row(
            &mut head,
            Event {
                actor: Actor::default(),
                action: "audit_purged",
                target: None,
                outcome: Outcome::Success,
                details: json!({ "up_to_seq": up_to_seq, "events": deleted, "cutoff_ms": cutoff_ms }),
            },
        );
        insert_rows(&txn, vec![row]).await?;
        insert_leaves(&txn, vec![leaf_row(&head)]).await?;
        frontier.push(merkle::leaf_hash(&head.hash));
        txn.commit().await?;
        self.head = head;
        self.frontier = frontier;
        Ok(anchor)
    }
}

fn checkpoint_row(cp: &Checkpoint) -> checkpoint::ActiveModel {
    checkpoint::ActiveModel {
        seq: Set(store::to_db(cp.seq)),
        hash: Set(cp.hash.clone()),
        time_ms: Set(cp.time_ms),
        key_id: Set(cp.key_id.clone()),
        signature: Set(cp.signature.clone()),
    }
}

/// The Merkle leaf of the event `head` now points at.
fn leaf_row(head: &Head) -> leaf::ActiveModel {
    leaf::ActiveModel {
        seq: Set(store::to_db(head.seq)),
        hash: Set(chain::to_hex(&head.hash)),
    }
}

async fn insert_leaves(
    txn: &DatabaseTransaction,
    rows: Vec<leaf::ActiveModel>,
) -> Result<(), sea_orm::DbErr> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(256).collect();
        leaf::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

async fn insert_rows(
    txn: &DatabaseTransaction,
    rows: Vec<event::ActiveModel>,
) -> Result<(), sea_orm::DbErr> {
    // 13 columns a row: 64 rows stay far below every backend's bound-parameter limit.
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(64).collect();
        event::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Cuts a string to [`MAX_FIELD`] bytes at a character boundary.
fn bounded(mut value: String) -> String {
    if value.len() > MAX_FIELD {
        let mut end = MAX_FIELD;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
    }
    value
}

/// The canonical details text, or a note of its size if it is too large to keep.
fn bounded_details(details: &Value) -> String {
    let text = chain::canonical_json(details);
    if text.len() > MAX_DETAILS {
        return chain::canonical_json(&json!({ "details_truncated": true, "bytes": text.len() }));
    }
    text
}
