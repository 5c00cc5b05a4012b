//! The Merkle log over the events: signed tree heads, proofs for auditors, submission to
//! witnesses, the start-up check against them, and the Merkle part of verification.
//!
//! The hash chain says in which order events were written; the tree lets a third party
//! hold a 32-byte root and later check, with a short proof, that an event is under it
//! (inclusion) or that today's log extends the one it saw (consistency). Witnesses keep
//! the roots; the server keeps the leaves.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait};
use serde::Serialize;

use super::chain;
use super::merkle::{self, Frontier, Hash};
use super::note::{self, CheckpointBody, Note, NoteVerifier};
use super::query::BATCH;
use super::store::{self, cosignature};
use super::verify::{BreakKind, ChainBreak};
use super::AuditError;

/// A witness the log submits its checkpoints to.
#[derive(Clone, Debug)]
pub struct Witness {
    /// Base URL (`/add-checkpoint`, `/latest`, `/checkpoints` are under it).
    pub url: String,
    /// Its cosignature key.
    pub verifier: NoteVerifier,
}

/// A signed tree head as stored, with the cosignatures gathered so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TreeHead {
    /// Tree size: events 1 to `size`.
    pub size: u64,
    /// Root, hex.
    pub root: String,
    /// When it was signed (unix ms).
    pub time_ms: i64,
    /// The signed note, cosignature lines included.
    pub note: String,
    /// Names of the witnesses whose cosignature is stored.
    pub witnesses: Vec<String>,
}

/// The chain hashes of events 1 to `size`, from the leaves table; an error if one is
/// missing (the tree cannot be recomputed).
pub(crate) async fn chain_hashes(
    db: &impl ConnectionTrait,
    size: u64,
) -> Result<Vec<Hash>, AuditError> {
    let mut out = Vec::new();
    let mut after = 0u64;
    while after < size {
        let rows = store::leaves_after(db, store::to_db(after), BATCH).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let seq = store::from_db(row.seq);
            if seq > size {
                break;
            }
            match chain::parse_hash(&row.hash).filter(|_| seq == after + 1) {
                Some(hash) => out.push(hash),
                None => {
                    return Err(AuditError::Malformed(format!(
                        "the Merkle leaf at seq {} is missing or malformed",
                        after + 1
                    )))
                }
            }
            after = seq;
        }
    }
    if after < size {
        return Err(AuditError::Malformed(format!(
            "the Merkle leaves stop at seq {after}, before {size}"
        )));
    }
    Ok(out)
}

/// The leaf hashes of events 1 to `size`.
pub(crate) async fn leaf_hashes(
    db: &impl ConnectionTrait,
    size: u64,
) -> Result<Vec<Hash>, AuditError> {
    Ok(chain_hashes(db, size)
        .await?
        .iter()
        .map(|h| merkle::leaf_hash(h))
        .collect())
}

/// How many leaves the tree has (the highest leaf's seq).
pub(crate) async fn tree_size(db: &impl ConnectionTrait) -> Result<u64, AuditError> {
    use sea_orm::{QueryOrder, QuerySelect};
    let top: Option<i64> = store::leaf::Entity::find()
        .select_only()
        .column(store::leaf::Column::Seq)
        .order_by_desc(store::leaf::Column::Seq)
        .into_tuple()
        .one(db)
        .await?;
    Ok(top.map_or(0, store::from_db))
}

/// The latest signed tree head, its stored cosignature lines appended.
pub(crate) async fn latest_head(db: &DatabaseConnection) -> Result<Option<TreeHead>, AuditError> {
    let Some(row) = store::last_tree_head(db).await? else {
        return Ok(None);
    };
    let cosignatures = store::cosignatures_of(db, row.size).await?;
    let mut note = row.note;
    let mut witnesses = Vec::new();
    for cosignature in cosignatures {
        if !note.contains(cosignature.line.trim_end()) {
            note.push_str(&cosignature.line);
        }
        witnesses.push(cosignature.witness);
    }
    Ok(Some(TreeHead {
        size: store::from_db(row.size),
        root: row.root,
        time_ms: row.time_ms,
        note,
        witnesses,
    }))
}

/// An inclusion proof for an auditor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InclusionProof {
    /// The event.
    pub seq: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The event's chain hash (hex): the leaf is `SHA-256(0x00 ‖ raw chain hash)`.
    pub chain_hash: String,
    /// The tree's root at `size` (base64, as in checkpoints).
    pub root: String,
    /// The audit path, base64, leaf to root.
    pub proof: Vec<String>,
}

/// A consistency proof for an auditor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsistencyProof {
    /// The earlier size.
    pub old_size: u64,
    /// The later size.
    pub new_size: u64,
    /// Root at `old_size` (base64).
    pub old_root: String,
    /// Root at `new_size` (base64).
    pub new_root: String,
    /// The proof, base64.
    pub proof: Vec<String>,
}

/// The inclusion proof of event `seq` in the tree of `size` events; `None` if out of range.
pub(crate) async fn inclusion(
    db: &DatabaseConnection,
    seq: u64,
    size: u64,
) -> Result<Option<InclusionProof>, AuditError> {
    if seq == 0 || seq > size || size > tree_size(db).await? {
        return Ok(None);
    }
    let chain = chain_hashes(db, size).await?;
    let leaves: Vec<Hash> = chain.iter().map(|h| merkle::leaf_hash(h)).collect();
    let index = usize::try_from(seq - 1).map_err(|_| AuditError::Malformed("seq".into()))?;
    let Some(proof) = merkle::inclusion_proof(index, &leaves) else {
        return Ok(None);
    };
    Ok(Some(InclusionProof {
        seq,
        size,
        chain_hash: chain::to_hex(&chain[index]),
        root: note::encode_hash(&merkle::root(&leaves)),
        proof: proof.iter().map(note::encode_hash).collect(),
    }))
}

/// The consistency proof from `old_size` to `new_size`; `None` if out of range.
pub(crate) async fn consistency(
    db: &DatabaseConnection,
    old_size: u64,
    new_size: u64,
) -> Result<Option<ConsistencyProof>, AuditError> {
    if old_size > new_size || new_size > tree_size(db).await? {
        return Ok(None);
    }
    let leaves = leaf_hashes(db, new_size).await?;
    let old = usize::try_from(old_size).map_err(|_| AuditError::Malformed("size".into()))?;
    let Some(proof) = merkle::consistency_proof(old, &leaves) else {
        return Ok(None);
    };
    Ok(Some(ConsistencyProof {
        old_size,
        new_size,
        old_root: note::encode_hash(&merkle::root(&leaves[..old])),
        new_root: note::encode_hash(&merkle::root(&leaves)),
        proof: proof.iter().map(note::encode_hash).collect(),
    }))
}

/// An HTTP client for witnesses: short timeouts, so that an unreachable witness delays a
/// checkpoint by seconds, not minutes.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

/// Why a witness did not cosign.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The witness could not be reached or answered garbage.
    #[error("witness {0} unreachable or malformed answer: {1}")]
    Unreachable(String, String),
    /// The witness refused the checkpoint (status and its body).
    #[error("witness {0} refused the checkpoint ({1}): {2}")]
    Refused(String, u16, String),
    /// The witness has a head this log cannot extend.
    #[error("witness {name} holds size {size}, which this log ({ours} events) cannot extend")]
    Ahead {
        /// The witness.
        name: String,
        /// Its size.
        size: u64,
        /// Ours.
        ours: u64,
    },
    /// The log itself failed.
    #[error(transparent)]
    Log(#[from] AuditError),
}

/// Submits the latest signed tree head to `witness` (C2SP tlog-witness `add-checkpoint`,
/// see docs/AUDIT.md) and stores its cosignature. Answers the size it cosigned, or `None`
/// if it had already cosigned the latest head.
pub(crate) async fn submit(
    db: &DatabaseConnection,
    client: &reqwest::Client,
    witness: &Witness,
    now_ms: i64,
) -> Result<Option<u64>, SubmitError> {
    let name = witness.verifier.name().to_owned();
    let Some(head) = store::last_tree_head(db).await.map_err(AuditError::from)? else {
        return Ok(None);
    };
    let size = store::from_db(head.size);
    let mut old = store::last_cosigned_by(db, &name)
        .await
        .map_err(AuditError::from)?
        .map_or(0, store::from_db);
    if old == size {
        return Ok(None);
    }
    let leaves = leaf_hashes(db, size).await?;
    for _attempt in 0..2 {
        let old_index = usize::try_from(old).unwrap_or(usize::MAX);
        let Some(proof) = merkle::consistency_proof(old_index, &leaves) else {
            return Err(SubmitError::Ahead {
                name,
                size: old,
                ours: size,
            });
        };
        let mut body = format!("old {old}\n");
        for hash in &proof {
            body.push_str(&note::encode_hash(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&head.note);
        let url = format!("{}/add-checkpoint", witness.url.trim_end_matches('/'));
        let response = client
            .post(&url)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|err| SubmitError::Unreachable(name.clone(), err.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|err| SubmitError::Unreachable(name.clone(), err.to_string()))?;
        match status {
            200 => {
                let checkpoint = Note::parse(&head.note)
                    .ok_or_else(|| AuditError::Malformed("stored checkpoint".into()))?;
                let line = text
                    .split_inclusive('\n')
                    .filter_map(note::parse_signature_line)
                    .find(|line| witness.verifier.check(&checkpoint.body, line).is_some())
                    .ok_or_else(|| {
                        SubmitError::Unreachable(name.clone(), "no valid cosignature".into())
                    })?;
                cosignature::Entity::insert(cosignature::ActiveModel {
                    size: Set(head.size),
                    witness: Set(name.clone()),
                    line: Set(line.text),
                    time_ms: Set(now_ms),
                })
                .exec_without_returning(db)
                .await
                .map_err(AuditError::from)?;
                return Ok(Some(size));
            }
            409 => {
                // The witness's head differs from what we stored: prove from its size.
                let theirs = text.trim().parse::<u64>().map_err(|_| {
                    SubmitError::Unreachable(name.clone(), "malformed 409 answer".into())
                })?;
                if theirs > size {
                    return Err(SubmitError::Ahead {
                        name,
                        size: theirs,
                        ours: size,
                    });
                }
                old = theirs;
            }
            _ => return Err(SubmitError::Refused(name, status, text.trim().to_owned())),
        }
    }
    Err(SubmitError::Refused(
        name,
        409,
        "the witness's size kept changing".into(),
    ))
}

/// The cosigned checkpoints a witness holds for `origin` (its append-only record).
pub(crate) async fn witness_checkpoints(
    client: &reqwest::Client,
    witness: &Witness,
    origin: &str,
) -> Result<Vec<String>, String> {
    #[derive(serde::Deserialize)]
    struct List {
        checkpoints: Vec<String>,
    }
    let url = format!("{}/checkpoints", witness.url.trim_end_matches('/'));
    let response = client
        .get(&url)
        .query(&[("origin", origin)])
        .send()
        .await
        .map_err(|err| err.to_string())?;
    if response.status().as_u16() == 404 {
        return Ok(Vec::new());
    }
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let list: List = response.json().await.map_err(|err| err.to_string())?;
    Ok(list.checkpoints)
}

/// A checkpoint as the verifier checks it: where it comes from and what signed it.
#[derive(Clone, Debug)]
struct Seen {
    body: CheckpointBody,
    /// Valid cosignatures, by witness name.
    cosigned_by: Vec<String>,
    /// Found in the log's own table (else only at a witness or in an exported head).
    local: bool,
    /// Where it came from, for the report.
    source: String,
}

/// What the Merkle part of a verification needs.
pub(crate) struct TreeCheck<'a> {
    pub(crate) origin: &'a str,
    pub(crate) log_keys: &'a [NoteVerifier],
    pub(crate) witnesses: &'a [Witness],
    pub(crate) min_cosignatures: usize,
    pub(crate) checkpoint_every: u64,
    /// …and at least this often (ms) while events are recorded.
    pub(crate) checkpoint_interval_ms: i64,
    /// Checkpoints from outside the log: witnesses' records, an exported head.
    pub(crate) external: Vec<(String, String)>,
    /// Require every event to be under a signed (and, with witnesses, cosigned)
    /// checkpoint: what `audit verify` does on a log at rest.
    pub(crate) strict: bool,
}

/// What the Merkle part found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TreeReport {
    /// Leaves in the tree.
    pub tree_size: u64,
    /// Signed checkpoints checked (the log's and the witnesses').
    pub tree_heads_checked: u64,
    /// The largest size cosigned by enough witnesses.
    pub cosigned_size: Option<u64>,
    /// Notes that were not checked (a witness unreachable…), for the report.
    pub warnings: Vec<String>,
}

impl fmt::Display for TreeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  merkle tree:  {} leaves", self.tree_size)?;
        writeln!(
            f,
            "  tree heads:   {} signed checkpoints checked",
            self.tree_heads_checked
        )?;
        match self.cosigned_size {
            Some(size) => writeln!(f, "  cosigned:     up to seq {size}")?,
            None => writeln!(f, "  cosigned:     nothing")?,
        }
        for warning in &self.warnings {
            writeln!(f, "  warning:      {warning}")?;
        }
        Ok(())
    }
}

fn broken(seq: u64, kind: BreakKind, detail: String) -> ChainBreak {
    ChainBreak { seq, kind, detail }
}

/// Checks the Merkle log against the events (`first_event..=last_event` are present) and
/// every signed checkpoint, local and external.
pub(crate) async fn check(
    db: &DatabaseConnection,
    spec: &TreeCheck<'_>,
    first_event: u64,
    last_event: u64,
    report: &mut TreeReport,
) -> Result<Option<ChainBreak>, AuditError> {
    // 1. The leaves: dense from 1, and equal to the events' hashes where events remain.
    let mut chain_hashes: Vec<Hash> = Vec::new();
    let mut after = 0i64;
    loop {
        let rows = store::leaves_after(db, after, BATCH).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        let events =
            store::events_after(db, rows.first().map_or(0, |r| r.seq) - 1, last.seq, BATCH).await?;
        let events: BTreeMap<i64, String> = events.into_iter().map(|e| (e.seq, e.hash)).collect();
        for row in rows {
            let expected = chain_hashes.len() as u64 + 1;
            let seq = store::from_db(row.seq);
            let Some(hash) = chain::parse_hash(&row.hash).filter(|_| seq == expected) else {
                return Ok(Some(broken(
                    expected,
                    BreakKind::Deleted,
                    format!("the Merkle leaf of event {expected} is missing or malformed"),
                )));
            };
            if (first_event..=last_event).contains(&seq) && events.get(&row.seq) != Some(&row.hash)
            {
                return Ok(Some(broken(
                    seq,
                    BreakKind::Edited,
                    format!("event {seq} no longer matches its Merkle leaf: it was changed and rehashed"),
                )));
            }
            chain_hashes.push(hash);
        }
    }
    let mut size = chain_hashes.len() as u64;
    // The log may have grown since the chain was walked (the server kept recording while
    // an auditor verified): leaves beyond the walk whose events exist now are judged at
    // the next verification, not taken for a truncated tail.
    let grown = size > last_event && store::event_at(db, last_event + 1).await?.is_some();
    if grown {
        chain_hashes.truncate(usize::try_from(last_event).unwrap_or(usize::MAX));
        size = last_event;
    }
    report.tree_size = size;
    if size < last_event {
        return Ok(Some(broken(
            size + 1,
            BreakKind::Inserted,
            format!(
                "event {} is not in the Merkle tree: it was added behind the server's back",
                size + 1
            ),
        )));
    }
    if size > last_event {
        return Ok(Some(broken(
            last_event + 1,
            BreakKind::Deleted,
            format!(
                "the log ends at seq {last_event} but the Merkle tree holds {size} events: events were deleted"
            ),
        )));
    }

    // 2. Every checkpoint: the log's own and those held outside it.
    let mut seen: Vec<Seen> = Vec::new();
    let mut after = 0i64;
    loop {
        let rows = store::tree_heads_after(db, after, BATCH).await?;
        let Some(last) = rows.last() else { break };
        after = last.size;
        for row in rows {
            let mut text = row.note.clone();
            for cosignature in store::cosignatures_of(db, row.size).await? {
                text.push_str(&cosignature.line);
            }
            match parse_checkpoint(spec, &text, store::from_db(row.size), true, "the log")? {
                Ok(checkpoint) => seen.push(checkpoint),
                Err(problem) => return Ok(Some(problem)),
            }
        }
    }
    let local_sizes: std::collections::BTreeSet<u64> = seen.iter().map(|s| s.body.size).collect();
    for (source, text) in &spec.external {
        match parse_checkpoint(spec, text, 0, false, source)? {
            Ok(checkpoint) => seen.push(checkpoint),
            Err(problem) => return Ok(Some(problem)),
        }
    }
    if grown {
        seen.retain(|checkpoint| checkpoint.body.size <= size);
    }
    seen.sort_by_key(|s| (s.body.size, !s.local));

    // 3. Recompute the root at every checkpointed size.
    let mut frontier = Frontier::new();
    let mut leaves = chain_hashes.iter();
    let mut last_good_cosigned = 0u64;
    let mut removed: Option<ChainBreak> = None;
    for checkpoint in &seen {
        let at = checkpoint.body.size;
        if at > size {
            return Ok(Some(broken(
                size + 1,
                BreakKind::Deleted,
                format!(
                    "the log ends at seq {size} but a checkpoint from {} (cosigned by {}) covers seq {at}: events {}..{at} were deleted",
                    checkpoint.source,
                    names(&checkpoint.cosigned_by),
                    size + 1
                ),
            )));
        }
        while frontier.size() < at {
            match leaves.next() {
                Some(hash) => frontier.push(merkle::leaf_hash(hash)),
                None => break,
            }
        }
        if frontier.root() != checkpoint.body.root {
            return Ok(Some(broken(
                last_good_cosigned + 1,
                BreakKind::Rewritten,
                format!(
                    "the checkpoint at seq {at} from {} (cosigned by {}) does not match the log: events between seq {} and {at} were rewritten, removed or renumbered",
                    checkpoint.source,
                    names(&checkpoint.cosigned_by),
                    last_good_cosigned + 1
                ),
            )));
        }
        if !checkpoint.local
            && !checkpoint.cosigned_by.is_empty()
            && !local_sizes.contains(&at)
            && removed.is_none()
        {
            // Reported only if nothing worse is found further on: removing a checkpoint
            // usually goes with rewriting what it covered.
            removed = Some(broken(
                at,
                BreakKind::Deleted,
                format!(
                    "the checkpoint at seq {at}, cosigned by {}, was removed from the log's checkpoints",
                    names(&checkpoint.cosigned_by)
                ),
            ));
        }
        report.tree_heads_checked += 1;
        if checkpoint.cosigned_by.len() >= spec.min_cosignatures.max(1) {
            last_good_cosigned = last_good_cosigned.max(at);
            report.cosigned_size = Some(last_good_cosigned);
        }
    }

    if removed.is_some() {
        return Ok(removed);
    }

    // 4. Coverage, for a log at rest.
    if spec.strict {
        let mut previous = 0u64;
        for at in &local_sizes {
            if at - previous > spec.checkpoint_every && previous > 0 {
                return Ok(Some(broken(
                    previous + 1,
                    BreakKind::Uncovered,
                    format!(
                        "no signed checkpoint between seq {previous} and {at}, although one is due every {} events: checkpoints were deleted",
                        spec.checkpoint_every
                    ),
                )));
            }
            previous = *at;
        }
        // A checkpoint is due `checkpoint_interval` after the first event it covers: the
        // events under one checkpoint (or after the last) span at most that, plus the
        // background task's period and a grace. A server that crashed leaves a shorter
        // tail, signed as soon as it starts again.
        let grace = (spec.checkpoint_interval_ms / 4).clamp(1_000, 15_000) + TIME_GRACE_MS;
        let allowed = spec.checkpoint_interval_ms.saturating_add(grace);
        let mut previous = 0u64;
        for at in local_sizes.iter().copied().chain(std::iter::once(size)) {
            if at <= previous {
                continue;
            }
            let first = store::event_at(db, previous + 1).await?;
            let last = store::event_at(db, at).await?;
            if let (Some(first), Some(last)) = (first, last) {
                if last.time_ms - first.time_ms > allowed {
                    return Ok(Some(broken(
                        previous + 1,
                        BreakKind::Uncovered,
                        format!(
                            "events {}..{at} span {} s without a signed checkpoint, although one is due every {} s: checkpoints were deleted",
                            previous + 1,
                            (last.time_ms - first.time_ms) / 1000,
                            spec.checkpoint_interval_ms / 1000
                        ),
                    )));
                }
            }
            previous = at;
        }
        let signed = seen.iter().map(|s| s.body.size).max().unwrap_or(0);
        if signed < size && spec.min_cosignatures == 0 {
            // Without a witness an unsigned tail proves nothing either way (a crash leaves
            // one too): said, not failed.
            report.warnings.push(format!(
                "events {}..{size} are not under a signed checkpoint yet",
                signed + 1
            ));
        } else if signed < size {
            return Ok(Some(broken(
                signed + 1,
                BreakKind::Uncovered,
                format!(
                    "events {}..{size} are not under any signed checkpoint: they were appended after the last one (or the server stopped before signing them)",
                    signed + 1
                ),
            )));
        }
        if spec.min_cosignatures > 0 && last_good_cosigned < size {
            return Ok(Some(broken(
                last_good_cosigned + 1,
                BreakKind::Uncovered,
                format!(
                    "events {}..{size} are not under a checkpoint cosigned by {} witness(es): a checkpoint signed with the server's key alone proves nothing against the operator",
                    last_good_cosigned + 1,
                    spec.min_cosignatures
                ),
            )));
        }
    }
    Ok(None)
}

/// Added to the checkpoint interval (and the background task's period) before events
/// left unsigned count as checkpoints removed: a loaded server signs a little late.
const TIME_GRACE_MS: i64 = 60_000;

fn names(witnesses: &[String]) -> String {
    if witnesses.is_empty() {
        "no witness".into()
    } else {
        witnesses.join(", ")
    }
}

/// Parses and checks the signatures of one checkpoint. The outer error is the database's;
/// the inner one, the break to report.
fn parse_checkpoint(
    spec: &TreeCheck<'_>,
    text: &str,
    stored_size: u64,
    local: bool,
    source: &str,
) -> Result<Result<Seen, ChainBreak>, AuditError> {
    let bad = |detail: String| broken(stored_size.max(1), BreakKind::BadSignature, detail);
    let Some(note) = Note::parse(text) else {
        return Ok(Err(bad(format!(
            "a checkpoint from {source} is not a signed note"
        ))));
    };
    let Some(body) = CheckpointBody::parse(&note.body) else {
        return Ok(Err(bad(format!("a checkpoint from {source} is malformed"))));
    };
    let at = body.size;
    if (local && at != stored_size) || body.origin != spec.origin {
        return Ok(Err(broken(
            at.max(1),
            BreakKind::BadSignature,
            format!(
                "the checkpoint at seq {at} from {source} names another log ({}) or size",
                body.origin
            ),
        )));
    }
    if !spec
        .log_keys
        .iter()
        .any(|key| key.check_note(&note).is_some())
    {
        return Ok(Err(broken(
            at.max(1),
            BreakKind::BadSignature,
            format!("the checkpoint at seq {at} from {source} is not signed by the log's key"),
        )));
    }
    let mut cosigned_by = Vec::new();
    for witness in spec.witnesses {
        if witness.verifier.check_note(&note).is_some() {
            cosigned_by.push(witness.verifier.name().to_owned());
        } else if note
            .signatures
            .iter()
            .any(|line| line.name == witness.verifier.name())
        {
            return Ok(Err(broken(
                at.max(1),
                BreakKind::BadSignature,
                format!(
                    "the checkpoint at seq {at} from {source} carries a cosignature of {} that does not verify: it was re-signed",
                    witness.verifier.name()
                ),
            )));
        }
    }
    Ok(Ok(Seen {
        body,
        cosigned_by,
        local,
        source: source.to_owned(),
    }))
}

/// An inconsistency between the log and what a witness cosigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    /// The witness.
    pub witness: String,
    /// The size it cosigned.
    pub witness_size: u64,
    /// The log's size.
    pub log_size: u64,
    /// What is wrong.
    pub detail: String,
}

/// Compares the log with the latest head each witness cosigned. Unreachable witnesses
/// are reported as warnings (their outage must not stop the service; `audit verify`
/// asks them again).
pub(crate) async fn check_against_witnesses(
    db: &DatabaseConnection,
    origin: &str,
    log_key: &NoteVerifier,
    witnesses: &[Witness],
) -> Result<(Vec<Incident>, Vec<String>), AuditError> {
    let client = http_client();
    let mut incidents = Vec::new();
    let mut warnings = Vec::new();
    let size = tree_size(db).await?;
    for witness in witnesses {
        let name = witness.verifier.name().to_owned();
        let notes = match witness_checkpoints(&client, witness, origin).await {
            Ok(notes) => notes,
            Err(err) => {
                warnings.push(format!("witness {name} unreachable: {err}"));
                continue;
            }
        };
        // Its latest valid cosigned head.
        let latest = notes
            .iter()
            .filter_map(|text| Note::parse(text))
            .filter(|n| log_key.check_note(n).is_some() && witness.verifier.check_note(n).is_some())
            .filter_map(|n| CheckpointBody::parse(&n.body))
            .filter(|b| b.origin == origin)
            .max_by_key(|b| b.size);
        let Some(latest) = latest else { continue };
        if latest.size > size {
            incidents.push(Incident {
                witness: name,
                witness_size: latest.size,
                log_size: size,
                detail: format!(
                    "the witness cosigned {} events but the log has {size}: events were deleted",
                    latest.size
                ),
            });
            continue;
        }
        let leaves = leaf_hashes(db, latest.size).await?;
        if merkle::root(&leaves) != latest.root {
            incidents.push(Incident {
                witness: name,
                witness_size: latest.size,
                log_size: size,
                detail: format!(
                    "the log's first {} events are not those the witness cosigned: the log was rewritten",
                    latest.size
                ),
            });
        }
    }
    Ok((incidents, warnings))
}
