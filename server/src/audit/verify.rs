//! Verification: recompute the chain from the anchor (or genesis), check every signature,
//! and when something is wrong, say where and what.
//!
//! The walk goes through the events in sequence order, one page at a time, and stops at
//! the first anomaly. It then looks around that position (who links to the last good
//! event? does the row hash correctly at another position?) to tell an edit from a
//! deletion, an insertion or a reordering. Those look-ups scan the table, which is fine:
//! they run once, when the log is already known to be broken.

use std::fmt;

use sea_orm::DatabaseConnection;
use serde::Serialize;

use super::chain::{self, Fields, GENESIS_HASH};
use super::query::{Anchor, Checkpoint, BATCH};
use super::signing::{signed_message, TrustedKeys, ANCHOR_DOMAIN, CHECKPOINT_DOMAIN};
use super::store::{self, checkpoint, event};
use super::writer::Head;
use super::AuditError;

/// What kind of damage was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakKind {
    /// An event's content no longer matches its hash (or was rehashed, so that its
    /// successor no longer links to it).
    Edited,
    /// Events are missing: a gap in the sequence, a renumbered tail, or events the server
    /// wrote (or signed a checkpoint for) that are no longer there.
    Deleted,
    /// An event that the server did not write sits in the chain.
    Inserted,
    /// Genuine events are in the wrong order.
    Reordered,
    /// The events hash consistently but disagree with a signed checkpoint or with the
    /// head the running server wrote: a stretch was rewritten and rehashed.
    Rewritten,
    /// A checkpoint or anchor signature is invalid or made by an unknown key.
    BadSignature,
    /// Events are not under a signed (or, with witnesses, cosigned) checkpoint, or
    /// checkpoints that were due are missing.
    Uncovered,
}

impl BreakKind {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Edited => "edited",
            BreakKind::Deleted => "deleted",
            BreakKind::Inserted => "inserted",
            BreakKind::Reordered => "reordered",
            BreakKind::Rewritten => "rewritten",
            BreakKind::BadSignature => "bad_signature",
            BreakKind::Uncovered => "uncovered",
        }
    }
}

/// The first place where the log is not what the server wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The first broken sequence number.
    pub seq: u64,
    /// What happened there.
    pub kind: BreakKind,
    /// A sentence for the operator.
    pub detail: String,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seq {} ({}): {}",
            self.seq,
            self.kind.as_str(),
            self.detail
        )
    }
}

/// The outcome of a verification.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Nothing was found wrong.
    pub intact: bool,
    /// Events whose hash and link were checked before the walk ended.
    pub events_checked: u64,
    /// Checkpoints whose signature and hash were checked.
    pub checkpoints_checked: u64,
    /// The first event checked.
    pub first_seq: Option<u64>,
    /// The last event checked.
    pub last_seq: Option<u64>,
    /// The retention anchor the walk started from, if the log was ever purged.
    pub anchor: Option<Anchor>,
    /// The last checkpoint found valid.
    pub last_checkpoint: Option<Checkpoint>,
    /// The server's current public key (base64url), which auditors compare with the one
    /// they were given.
    pub public_key: String,
    /// Its key id.
    pub key_id: String,
    /// Where the log first breaks, if it does.
    pub first_break: Option<ChainBreak>,
    /// The Merkle log: tree size, checkpoints and cosignatures checked.
    pub tree: super::tree::TreeReport,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Access log verification")?;
        writeln!(
            f,
            "  signing key:  {} (id {})",
            self.public_key, self.key_id
        )?;
        match &self.anchor {
            Some(anchor) => writeln!(
                f,
                "  starts from:  retention anchor at seq {} (signed {}, key {})",
                anchor.seq,
                super::query::format_time(anchor.time_ms),
                anchor.key_id
            )?,
            None => writeln!(f, "  starts from:  genesis")?,
        }
        match (self.first_seq, self.last_seq) {
            (Some(first), Some(last)) => writeln!(
                f,
                "  events:       {} checked, seq {first} to {last}",
                self.events_checked
            )?,
            _ => writeln!(f, "  events:       none checked")?,
        }
        writeln!(f, "  checkpoints:  {} valid", self.checkpoints_checked)?;
        if let Some(cp) = &self.last_checkpoint {
            writeln!(
                f,
                "  last signed:  seq {} at {}",
                cp.seq,
                super::query::format_time(cp.time_ms)
            )?;
        }
        write!(f, "{}", self.tree)?;
        match &self.first_break {
            None => writeln!(f, "INTACT: the chain and every signature verify."),
            Some(broken) => {
                writeln!(f, "BROKEN at seq {}: {}", broken.seq, broken.kind.as_str())?;
                writeln!(f, "  {}", broken.detail)
            }
        }
    }
}

/// Whether `row`, placed at `seq`, hashes to its stored hash.
fn hashes_at(row: &event::Model, seq: u64) -> bool {
    let Some(prev) = chain::parse_hash(&row.prev_hash) else {
        return false;
    };
    let hash = chain::event_hash(
        &prev,
        seq,
        &Fields {
            time_ms: row.time_ms,
            user_id: row.actor_user_id.as_deref(),
            login: row.actor_login.as_deref(),
            institution_id: row.actor_institution_id.as_deref(),
            session_id: row.actor_session_id.as_deref(),
            ip: row.actor_ip.as_deref(),
            action: &row.action,
            target: row.target.as_deref(),
            outcome: &row.outcome,
            details: &row.details,
        },
    );
    chain::to_hex(&hash) == row.hash
}

/// Whether a stored signature over (seq, hash, time) verifies with a trusted key.
fn signature_problem(
    keys: &TrustedKeys,
    domain: &[u8],
    seq: u64,
    hash: &str,
    time_ms: i64,
    key_id: &str,
    signature: &str,
) -> Option<String> {
    let Some(public_key) = keys.get(key_id) else {
        return Some(format!(
            "signed by key {key_id}, which is not a trusted key"
        ));
    };
    let Some(hash) = chain::parse_hash(hash) else {
        return Some("the signed hash is malformed".into());
    };
    let message = signed_message(domain, seq, &hash, time_ms);
    if super::signing::signature_is_valid(public_key, &message, signature) {
        None
    } else {
        Some(format!("the signature does not verify with key {key_id}"))
    }
}

/// Whether `cp` is a valid checkpoint signed by `public_key` (uncompressed SEC1).
pub fn checkpoint_signature_is_valid(public_key: &[u8], cp: &Checkpoint) -> bool {
    let keys = TrustedKeys::new([public_key.to_vec()]);
    signature_problem(
        &keys,
        CHECKPOINT_DOMAIN,
        cp.seq,
        &cp.hash,
        cp.time_ms,
        &cp.key_id,
        &cp.signature,
    )
    .is_none()
}

fn broken(seq: u64, kind: BreakKind, detail: String) -> ChainBreak {
    ChainBreak { seq, kind, detail }
}

/// Checkpoints in sequence order, fetched a page at a time.
struct Checkpoints {
    page: std::collections::VecDeque<checkpoint::Model>,
    after: i64,
    exhausted: bool,
}

impl Checkpoints {
    fn after(seq: u64) -> Checkpoints {
        Checkpoints {
            page: Default::default(),
            after: store::to_db(seq),
            exhausted: false,
        }
    }

    async fn peek_seq(&mut self, db: &DatabaseConnection) -> Result<Option<u64>, AuditError> {
        if self.page.is_empty() && !self.exhausted {
            let rows = store::checkpoints_after(db, self.after, BATCH).await?;
            match rows.last() {
                Some(last) => self.after = last.seq,
                None => self.exhausted = true,
            }
            self.page.extend(rows);
        }
        Ok(self.page.front().map(|cp| store::from_db(cp.seq)))
    }

    fn pop(&mut self) -> Option<checkpoint::Model> {
        self.page.pop_front()
    }
}

/// Verifies the whole log. With `head` (the last event this process saw), also checks that
/// this event is still there, unchanged.
pub(crate) async fn verify_chain(
    db: &DatabaseConnection,
    keys: &TrustedKeys,
    head: Option<Head>,
) -> Result<VerifyReport, AuditError> {
    let mut report = VerifyReport::default();
    let problem = walk(db, keys, head, &mut report).await?;
    report.intact = problem.is_none();
    report.first_break = problem;
    Ok(report)
}

async fn walk(
    db: &DatabaseConnection,
    keys: &TrustedKeys,
    head: Option<Head>,
    report: &mut VerifyReport,
) -> Result<Option<ChainBreak>, AuditError> {
    // Where the chain starts: the latest signed anchor, or genesis.
    let mut expected: u64 = 1;
    let mut prev_hash = GENESIS_HASH;
    if let Some(anchor) = store::latest_anchor(db).await? {
        let anchor = Anchor::from(anchor);
        if let Some(problem) = signature_problem(
            keys,
            ANCHOR_DOMAIN,
            anchor.seq,
            &anchor.hash,
            anchor.time_ms,
            &anchor.key_id,
            &anchor.signature,
        ) {
            return Ok(Some(broken(
                anchor.seq,
                BreakKind::BadSignature,
                format!("the retention anchor at seq {}: {problem}", anchor.seq),
            )));
        }
        if let Some(seq) = store::first_at_or_below(db, anchor.seq).await? {
            return Ok(Some(broken(
                store::from_db(seq),
                BreakKind::Inserted,
                format!(
                    "event {seq} lies before the retention anchor (seq {}), where no event may remain",
                    anchor.seq
                ),
            )));
        }
        expected = anchor.seq + 1;
        // The signature covered the parsed hash, so it parses.
        prev_hash = chain::parse_hash(&anchor.hash).unwrap_or(GENESIS_HASH);
        report.anchor = Some(anchor);
    }
    let start = expected - 1;
    let mut checkpoints = Checkpoints::after(start);
    // The last verified event: (seq, its prev_hash), used to recognise an insertion.
    let mut last_good: Option<(u64, String)> = None;
    let mut after = store::to_db(start);
    loop {
        let rows = store::events_after(db, after, i64::MAX, BATCH).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            after = row.seq;
            let linked = row.prev_hash == chain::to_hex(&prev_hash);
            if store::from_db(row.seq) != expected || !linked || !hashes_at(&row, expected) {
                return diagnose(db, expected, &prev_hash, last_good.as_ref(), &row)
                    .await
                    .map(Some);
            }
            if let Some(head) = head.filter(|head| head.seq == expected) {
                if chain::to_hex(&head.hash) != row.hash {
                    return Ok(Some(broken(
                        expected,
                        BreakKind::Rewritten,
                        format!("event {expected} is not the one this server recorded: the chain was rewritten"),
                    )));
                }
            }
            report.events_checked += 1;
            report.first_seq.get_or_insert(expected);
            report.last_seq = Some(expected);
            while let Some(cp_seq) = checkpoints.peek_seq(db).await? {
                if cp_seq > expected {
                    break;
                }
                let Some(cp) = checkpoints.pop() else { break };
                if let Some(problem) = checkpoint_problem(keys, &cp) {
                    return Ok(Some(broken(cp_seq, BreakKind::BadSignature, problem)));
                }
                if cp.hash != row.hash {
                    let since = report
                        .last_checkpoint
                        .as_ref()
                        .map_or(start, |last| last.seq);
                    return Ok(Some(broken(
                        cp_seq,
                        BreakKind::Rewritten,
                        format!(
                            "the signed checkpoint at seq {cp_seq} does not match the chain: events after \
                             seq {since} up to {cp_seq} were rewritten and their hashes recomputed"
                        ),
                    )));
                }
                report.checkpoints_checked += 1;
                report.last_checkpoint = Some(cp.into());
            }
            // Hashes at the expected position, so the stored hash is well-formed.
            prev_hash = chain::parse_hash(&row.hash).unwrap_or(GENESIS_HASH);
            last_good = Some((expected, row.prev_hash));
            expected += 1;
        }
    }
    let last = expected - 1;
    // A checkpoint beyond the last event proves that events were removed from the end,
    // unless the log grew while this walk ran: the server recorded the next event and
    // signed a checkpoint after the walk's last page. That next event is then stored; a
    // removed tail leaves nothing at that position.
    if checkpoints.peek_seq(db).await?.is_some() && store::event_at(db, expected).await?.is_some() {
        return Ok(None);
    }
    if let Some(cp_seq) = checkpoints.peek_seq(db).await? {
        if let Some(cp) = checkpoints.pop() {
            if let Some(problem) = checkpoint_problem(keys, &cp) {
                return Ok(Some(broken(cp_seq, BreakKind::BadSignature, problem)));
            }
        }
        return Ok(Some(broken(
            expected,
            BreakKind::Deleted,
            format!("the log ends at seq {last} but a signed checkpoint covers seq {cp_seq}"),
        )));
    }
    if let Some(head) = head.filter(|head| last < head.seq) {
        return Ok(Some(broken(
            expected,
            BreakKind::Deleted,
            format!(
                "the log ends at seq {last} but this server saw it reach seq {}",
                head.seq
            ),
        )));
    }
    Ok(None)
}

fn checkpoint_problem(keys: &TrustedKeys, cp: &checkpoint::Model) -> Option<String> {
    let seq = store::from_db(cp.seq);
    signature_problem(
        keys,
        CHECKPOINT_DOMAIN,
        seq,
        &cp.hash,
        cp.time_ms,
        &cp.key_id,
        &cp.signature,
    )
    .map(|problem| format!("checkpoint at seq {seq}: {problem}"))
}

/// Explains why `row` does not continue the verified chain at position `expected`, whose
/// predecessor's hash is `prev_hash`.
async fn diagnose(
    db: &DatabaseConnection,
    expected: u64,
    prev_hash: &[u8; 32],
    last_good: Option<&(u64, String)>,
    row: &event::Model,
) -> Result<ChainBreak, AuditError> {
    let e = expected;
    let prev_hex = chain::to_hex(prev_hash);
    let row_seq = store::from_db(row.seq);
    // The genuine successor of the last good event, wherever it now sits.
    let successor = store::successor_of(db, &prev_hex, e).await?;

    if row_seq > e {
        if let Some(genuine) = successor.as_ref().filter(|s| hashes_at(s, e)) {
            return Ok(broken(
                e,
                BreakKind::Reordered,
                format!("event {e} was moved to seq {}", genuine.seq),
            ));
        }
        let missing = if row_seq - 1 == e {
            format!("event {e} is missing")
        } else {
            format!("events {e} to {} are missing", row_seq - 1)
        };
        return Ok(broken(e, BreakKind::Deleted, missing));
    }

    if row.prev_hash == prev_hex {
        // Linked correctly but does not hash: changed in place, unless the genuine event
        // was pushed further down to make room for this one.
        if let Some(genuine) = successor.as_ref().filter(|s| hashes_at(s, e)) {
            return Ok(broken(
                e,
                BreakKind::Inserted,
                format!("event {e} was not written by the server; the genuine event {e} now sits at seq {}", genuine.seq),
            ));
        }
        return Ok(broken(
            e,
            BreakKind::Edited,
            format!("event {e} was changed after it was recorded: it no longer matches its hash"),
        ));
    }

    // Not linked to the last good event.
    if let Some((good_seq, good_prev)) = last_good {
        if &row.prev_hash == good_prev {
            return Ok(broken(
                *good_seq,
                BreakKind::Inserted,
                format!(
                    "event {good_seq} was not written by the server: the next event links to the one before it"
                ),
            ));
        }
    }
    if let Some(genuine) = successor {
        let genuine_seq = store::from_db(genuine.seq);
        if hashes_at(row, genuine_seq) {
            return Ok(broken(
                e,
                BreakKind::Reordered,
                format!("events {e} and {genuine_seq} were swapped"),
            ));
        }
        if hashes_at(&genuine, e) {
            return Ok(broken(
                e,
                BreakKind::Inserted,
                format!("event {e} was not written by the server; the genuine event {e} now sits at seq {genuine_seq}"),
            ));
        }
        return Ok(broken(
            e,
            BreakKind::Reordered,
            format!("the event that follows {} sits at seq {genuine_seq}", e - 1),
        ));
    }
    if hashes_at(row, e) {
        // The row is self-consistent but its predecessor changed under it.
        return Ok(match last_good {
            Some((good_seq, _)) => broken(
                *good_seq,
                BreakKind::Edited,
                format!("event {good_seq} was changed and its hash recomputed: event {e} no longer links to it"),
            ),
            None => broken(
                e,
                BreakKind::Edited,
                format!("event {e} no longer links to the start of the chain"),
            ),
        });
    }
    if hashes_at(row, e + 1) {
        return Ok(broken(
            e,
            BreakKind::Deleted,
            format!("event {e} was deleted and the following events renumbered"),
        ));
    }
    Ok(broken(
        e,
        BreakKind::Edited,
        format!("event {e} matches neither its hash nor its predecessor"),
    ))
}

/// Checks the events after `from` (0 at start-up: all of them, since the retention
/// anchor) before the server signs anything over them: each event hashes to its stored
/// hash, links to the one before, and is the Merkle leaf at its position; no leaf lies
/// beyond the last event, and no event beyond the last leaf. The leaves themselves are
/// vouched for by the witnesses' check of the root.
pub(crate) async fn check_tail(
    db: &DatabaseConnection,
    from: u64,
) -> Result<Option<ChainBreak>, AuditError> {
    let anchor = store::latest_anchor(db).await?.map(Anchor::from);
    let anchor_seq = anchor.as_ref().map_or(0, |a| a.seq);
    let start = from.max(anchor_seq);
    // What the first event after `start` must link to.
    let mut prev = if start == 0 {
        GENESIS_HASH
    } else {
        let leaf = store::leaves_after(db, store::to_db(start - 1), 1)
            .await?
            .into_iter()
            .next()
            .filter(|l| store::from_db(l.seq) == start)
            .and_then(|l| chain::parse_hash(&l.hash));
        match (leaf, &anchor) {
            (Some(hash), _) => hash,
            (None, Some(anchor)) if anchor.seq == start => {
                chain::parse_hash(&anchor.hash).unwrap_or(GENESIS_HASH)
            }
            (None, _) => {
                return Ok(Some(broken(
                    start,
                    BreakKind::Deleted,
                    format!("the Merkle leaf of event {start}, under a signed head, is missing"),
                )))
            }
        }
    };
    let mut expected = start + 1;
    let mut after = store::to_db(start);
    loop {
        let events = store::events_after(db, after, i64::MAX, BATCH).await?;
        let Some(last) = events.last() else { break };
        let up_to = last.seq;
        let leaves = store::leaves_after(db, after, BATCH).await?;
        let mut leaves = leaves.into_iter().filter(|l| l.seq <= up_to).peekable();
        for row in &events {
            let seq = store::from_db(row.seq);
            if seq != expected {
                return Ok(Some(broken(
                    expected,
                    BreakKind::Deleted,
                    format!("event {expected} is missing (the next one is {seq})"),
                )));
            }
            if !hashes_at(row, seq) {
                return Ok(Some(broken(
                    seq,
                    BreakKind::Edited,
                    format!("event {seq} does not hash to its stored hash"),
                )));
            }
            if row.prev_hash != chain::to_hex(&prev) {
                return Ok(Some(broken(
                    seq,
                    BreakKind::Rewritten,
                    format!("event {seq} does not link to the event before it"),
                )));
            }
            match leaves.next() {
                Some(leaf) if store::from_db(leaf.seq) == seq && leaf.hash == row.hash => {}
                Some(leaf) if store::from_db(leaf.seq) == seq => {
                    return Ok(Some(broken(
                        seq,
                        BreakKind::Rewritten,
                        format!(
                            "event {seq} is not the Merkle leaf at its position: it was rewritten"
                        ),
                    )))
                }
                _ => {
                    return Ok(Some(broken(
                        seq,
                        BreakKind::Inserted,
                        format!("event {seq} has no Merkle leaf: the server did not write it"),
                    )))
                }
            }
            prev = chain::parse_hash(&row.hash).unwrap_or(GENESIS_HASH);
            expected = seq + 1;
        }
        after = up_to;
    }
    if let Some(leaf) = store::leaves_after(db, store::to_db(expected - 1), 1)
        .await?
        .into_iter()
        .next()
    {
        let seq = store::from_db(leaf.seq);
        // On a cluster another node may have appended it (event and leaf in one
        // transaction) since the events were read: then the event is there now.
        if store::event_at(db, seq).await?.is_some() {
            return Ok(None);
        }
        return Ok(Some(broken(
            seq,
            BreakKind::Deleted,
            format!("the Merkle leaf of event {seq} remains but the event is gone: the tail was truncated"),
        )));
    }
    Ok(None)
}
