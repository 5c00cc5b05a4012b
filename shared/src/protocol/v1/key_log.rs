//! The key transparency log (docs/PROTOCOL.md §25): its signed head, consistency proofs
//! between heads, and a user's entries with their inclusion proofs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::KeyLogEntry;
use crate::ids::UserId;

/// `GET /api/v1/keys/log/head`: the log's latest head, signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyLogHeadBody {
    /// The signed checkpoint (C2SP signed note): `<origin>\n<size>\n<base64 root>\n`, a
    /// blank line, then the log's signature line.
    pub checkpoint: String,
    /// The log's verifier key (`<origin>+<key hash>+<key>`), pinned by clients on first use.
    pub verifier_key: String,
    /// Tree size (entries 0 to `size - 1`), as in the checkpoint.
    pub size: u64,
}

/// `GET /api/v1/keys/log/consistency?from=&to=`: the RFC 6962 consistency proof between
/// two tree sizes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyLogConsistency {
    /// The earlier size.
    pub from: u64,
    /// The later size.
    pub to: u64,
    /// The proof's hashes, base64.
    pub proof: Vec<String>,
}

/// One entry with its inclusion proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyLogProof {
    /// Its index (leaf index, from 0).
    pub index: u64,
    /// The entry.
    #[schema(value_type = Object)]
    pub entry: KeyLogEntry,
    /// When it was appended (unix ms): information, not covered by the leaf.
    pub at: i64,
    /// The audit path, base64, leaf to root.
    pub proof: Vec<String>,
}

/// `GET /api/v1/keys/log/users/{user_id}?size=`: every entry of a user in the tree of
/// `size` entries, with inclusion proofs for that size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserKeyLog {
    /// The user.
    pub user_id: UserId,
    /// The tree size the proofs are for.
    pub size: u64,
    /// Their entries, in log order.
    pub entries: Vec<KeyLogProof>,
}

/// The most entries `GET /api/v1/keys/log/entries` answers at once.
pub const KEY_LOG_PAGE_MAX: u64 = 1000;

/// One entry of the log, as a page of the whole log lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyLogRecord {
    /// Its index (leaf index, from 0).
    pub index: u64,
    /// The entry.
    #[schema(value_type = Object)]
    pub entry: KeyLogEntry,
    /// When it was appended (unix ms): information, not covered by the leaf.
    pub at: i64,
}

/// `GET /api/v1/keys/log/entries?start=&end=`: the entries `start..end` of the log, in
/// order, at most [`KEY_LOG_PAGE_MAX`]. A client that recomputes the tree from them and
/// finds the signed root knows it saw every entry (docs/PROTOCOL.md §25.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyLogEntries {
    /// The first index.
    pub start: u64,
    /// One past the last index.
    pub end: u64,
    /// The entries `start..end`.
    pub entries: Vec<KeyLogRecord>,
}
