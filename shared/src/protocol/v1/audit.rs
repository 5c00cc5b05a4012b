//! The auditor API's answers (`/api/v1/audit/...`, CHARTER.md C12): events, pages, daily
//! counts, checkpoints, verification results and proofs. Shared so that programs (the Rust
//! SDK, an auditor's own tools) read them with the types the server writes them with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::ids::{InstitutionId, UserId};

/// The acting side of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditActorDto {
    /// Account id.
    pub user_id: Option<UserId>,
    /// Login used.
    pub login: Option<String>,
    /// Institution id.
    pub institution_id: Option<InstitutionId>,
    /// Session id (never the token).
    pub session_id: Option<String>,
    /// Client address.
    pub ip: Option<String>,
}

/// One event of the access log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEventDto {
    /// Position in the chain.
    pub seq: u64,
    /// RFC 3339, UTC.
    pub time: String,
    /// Unix milliseconds.
    pub time_ms: i64,
    /// Who.
    pub actor: AuditActorDto,
    /// What.
    pub action: String,
    /// On what: an id or a case reference.
    pub target: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Reason codes, counts.
    #[schema(value_type = Object)]
    pub details: Value,
    /// Previous event's hash (hex).
    pub prev_hash: String,
    /// This event's chain hash (hex).
    pub hash: String,
}

/// A page of events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEventPage {
    /// The events, in sequence order (newest first with `order=desc`).
    pub events: Vec<AuditEventDto>,
    /// Pass as `after_seq` for the next page; absent on the last page.
    pub next_after_seq: Option<u64>,
    /// With `order=desc`: pass as `before_seq` for the next, older, page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before_seq: Option<u64>,
    /// How many events match the filter in all.
    pub total: u64,
    /// What the ids of this page stand for, for people: accounts (their names),
    /// institutions and channels (their names, a case's reference). Read from the main
    /// database when the page is served: the log itself keeps only ids.
    pub names: BTreeMap<String, String>,
}

/// Events per day, for the auditor's chart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditDailyCounts {
    /// The latest days that have matching events (at most a year of them), oldest first.
    pub days: Vec<AuditDay>,
}

/// One UTC day of the access log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditDay {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// Events matching the filters that day.
    pub count: u64,
}

/// A signed checkpoint or retention anchor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedPointDto {
    /// Sequence number of the event it vouches for.
    pub seq: u64,
    /// That event's chain hash (hex).
    pub hash: String,
    /// When it was signed (RFC 3339).
    pub time: String,
    /// Unix milliseconds.
    pub time_ms: i64,
    /// Id of the signing key.
    pub key_id: String,
    /// ECDSA P-256 SHA-256, fixed r‖s, base64url.
    pub signature: String,
}

/// The checkpoints and the anchor the chain starts from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckpointList {
    /// Checkpoints, in sequence order.
    pub checkpoints: Vec<SignedPointDto>,
    /// Pass as `after_seq` for the next page; absent on the last page.
    pub next_after_seq: Option<u64>,
    /// The retention anchor, if the log was ever purged.
    pub anchor: Option<SignedPointDto>,
}

/// Where the log first breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChainBreakDto {
    /// The first broken sequence number.
    pub seq: u64,
    /// `edited`, `deleted`, `inserted`, `reordered`, `rewritten` or `bad_signature`.
    pub kind: String,
    /// An explanation for people (English, for the operator's report).
    pub detail: String,
}

/// The result of a verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifyResult {
    /// Nothing was found wrong.
    pub intact: bool,
    /// Events checked.
    pub events_checked: u64,
    /// Checkpoints checked.
    pub checkpoints_checked: u64,
    /// First event checked.
    pub first_seq: Option<u64>,
    /// Last event checked.
    pub last_seq: Option<u64>,
    /// The retention anchor the check started from.
    pub anchor: Option<SignedPointDto>,
    /// The last valid checkpoint.
    pub last_checkpoint: Option<SignedPointDto>,
    /// The server's current public key (base64url, uncompressed SEC1).
    pub public_key: String,
    /// Its key id.
    pub key_id: String,
    /// Where the log first breaks.
    pub first_break: Option<ChainBreakDto>,
}

/// The key checkpoints are signed with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicKeyDto {
    /// `ECDSA_P256_SHA256_FIXED`: ECDSA on P-256 with SHA-256, signatures as 64-byte r‖s.
    pub algorithm: String,
    /// Uncompressed SEC1 point, base64url without padding.
    pub public_key: String,
    /// First 8 bytes of the key's SHA-256, hex: checkpoints name their key by it.
    pub key_id: String,
    /// Ids of every key verification trusts (the current one and retired ones).
    pub trusted_key_ids: Vec<String>,
}

/// The log's latest signed checkpoint, for an auditor to keep apart from the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeadDto {
    /// The log's origin (its name in checkpoints).
    pub origin: String,
    /// The verifier key of the log's checkpoints (C2SP vkey).
    pub log_key: String,
    /// Tree size: events 1 to `size`; absent before the first checkpoint.
    pub size: Option<u64>,
    /// When it was signed (RFC 3339).
    pub time: Option<String>,
    /// The signed note with the witnesses' cosignatures: save it as `head.txt` for
    /// `passerelle audit verify --against head.txt`.
    pub note: Option<String>,
    /// Witnesses whose cosignature is stored.
    pub witnesses: Vec<String>,
}

/// An inclusion proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InclusionProofDto {
    /// The event.
    pub seq: u64,
    /// The tree size.
    pub size: u64,
    /// The event's chain hash (hex); the leaf is SHA-256(0x00 ‖ raw chain hash).
    pub chain_hash: String,
    /// The root at `size` (base64, as in checkpoints).
    pub root: String,
    /// The audit path (base64), leaf to root.
    pub proof: Vec<String>,
}

/// A consistency proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProofDto {
    /// Earlier size.
    pub old_size: u64,
    /// Later size.
    pub new_size: u64,
    /// Root at `old_size` (base64).
    pub old_root: String,
    /// Root at `new_size` (base64).
    pub new_root: String,
    /// The proof (base64).
    pub proof: Vec<String>,
}
