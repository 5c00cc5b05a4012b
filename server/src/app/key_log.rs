//! The key transparency log (docs/PROTOCOL.md §25), as clients read it: the signed head,
//! consistency proofs between heads, pages of the whole log (which clients audit, §25.4),
//! and a user's entries with inclusion proofs (kept for programs that check one user).
//! The entries are appended by `db::keys` in the transaction of each key change.
//!
//! Proofs are computed from every leaf: linear in the log's size, a few thousand entries
//! at a CLSPD's scale (one per identity, device and revocation), so milliseconds.

use passerelle_shared::crypto::merkle::{self, Hash};
use passerelle_shared::crypto::{encode_hash, Checkpoint};
use passerelle_shared::protocol::v1::key_log::{
    KeyLogConsistency, KeyLogEntries, KeyLogHeadBody, KeyLogProof, KeyLogRecord, UserKeyLog,
    KEY_LOG_PAGE_MAX,
};
use serde_json::json;

use crate::app::keys;
use crate::auth::CurrentUser;
use crate::db;
use crate::error::{ApiError, Result};
use crate::state::AppState;

async fn leaves(state: &AppState, size: u64) -> Result<Vec<Hash>> {
    db::key_log::entries(&state.db, size)
        .await?
        .iter()
        .map(|row| db::key_log::parse(row).map(|e| e.leaf_hash()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(ApiError::internal)
}

/// The latest head, signed. Open to every signed-in account: it reveals only a count.
pub async fn head(state: &AppState) -> Result<KeyLogHeadBody> {
    let size = db::key_log::size(&state.db).await?;
    let leaves = leaves(state, size).await?;
    let body = Checkpoint {
        origin: state.audit.key_log_origin().to_owned(),
        size,
        root: merkle::root(&leaves),
    }
    .to_text();
    Ok(KeyLogHeadBody {
        checkpoint: state.audit.sign_key_log(&body),
        verifier_key: state.audit.key_log_verifier_key(),
        size,
    })
}

/// The consistency proof from the tree of `from` entries to the tree of `to`.
pub async fn consistency(
    state: &AppState,
    user: &CurrentUser,
    from: u64,
    to: u64,
) -> Result<KeyLogConsistency> {
    let size = db::key_log::size(&state.db).await?;
    if from > to || to > size {
        state
            .record_denial(
                user.actor(),
                "key_log_read",
                None,
                json!({ "reason": "out_of_range", "from": from, "to": to }),
            )
            .await;
        return Err(ApiError::Unprocessable("invalid_log_range"));
    }
    let leaves = leaves(state, to).await?;
    let proof = usize::try_from(from)
        .ok()
        .and_then(|from| merkle::consistency_proof(from, &leaves))
        .ok_or(ApiError::Unprocessable("invalid_log_range"))?;
    Ok(KeyLogConsistency {
        from,
        to,
        proof: proof.iter().map(encode_hash).collect(),
    })
}

/// The entries `start..end` (at most [`KEY_LOG_PAGE_MAX`], within the log). Open to
/// every signed-in account, like the head: a client proves the log complete only by
/// reading all of it (PROTOCOL.md §25.4; what that shows, §25.6).
pub async fn entries(
    state: &AppState,
    user: &CurrentUser,
    start: u64,
    end: u64,
) -> Result<KeyLogEntries> {
    let size = db::key_log::size(&state.db).await?;
    if start > end || end > size || end - start > KEY_LOG_PAGE_MAX {
        state
            .record_denial(
                user.actor(),
                "key_log_read",
                None,
                json!({ "reason": "out_of_range", "start": start, "end": end }),
            )
            .await;
        return Err(ApiError::Unprocessable("invalid_log_range"));
    }
    let mut entries = Vec::new();
    for row in db::key_log::entries_between(&state.db, start, end).await? {
        entries.push(KeyLogRecord {
            index: u64::try_from(row.idx).map_err(ApiError::internal)?,
            entry: db::key_log::parse(&row).map_err(ApiError::internal)?,
            at: row.at,
        });
    }
    Ok(KeyLogEntries {
        start,
        end,
        entries,
    })
}

/// Every entry of `user_id` in the tree of `size` entries (default: the whole log), with
/// its inclusion proof. Visible to whoever may read the user's keys (`keys::user_keys`).
pub async fn user_entries(
    state: &AppState,
    viewer: &CurrentUser,
    user_id: &str,
    size: Option<u64>,
) -> Result<UserKeyLog> {
    // The same visibility as the key directory (and its logged refusal).
    keys::user_keys(state, viewer, user_id).await?;
    let current = db::key_log::size(&state.db).await?;
    let size = size.unwrap_or(current);
    if size > current {
        state
            .record_denial(
                viewer.actor(),
                "key_log_read",
                Some(user_id.to_owned()),
                json!({ "reason": "out_of_range", "size": size }),
            )
            .await;
        return Err(ApiError::Unprocessable("invalid_log_range"));
    }
    let leaves = leaves(state, size).await?;
    let mut entries = Vec::new();
    for row in db::key_log::entries_of(&state.db, user_id, size).await? {
        let index = u64::try_from(row.idx).map_err(ApiError::internal)?;
        let proof = usize::try_from(index)
            .ok()
            .and_then(|i| merkle::inclusion_proof(i, &leaves))
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("key log index outside the tree")))?;
        entries.push(KeyLogProof {
            index,
            entry: db::key_log::parse(&row).map_err(ApiError::internal)?,
            at: row.at,
            proof: proof.iter().map(encode_hash).collect(),
        });
    }
    Ok(UserKeyLog {
        user_id: user_id.into(),
        size,
        entries,
    })
}
