//! Which channels were destroyed, for a device about to write its key backup
//! (docs/PROTOCOL.md §10.6): a destruction it was offline for reaches its keys too.
//!
//! Any logged-in account may ask, for any ids: a channel id is a random UUID, and all
//! the answer tells whoever already knows one is that the channel no longer exists,
//! which a former member learns anyway from the channel list.

use passerelle_shared::protocol::v1::channels::{
    DestroyedChannels, DestroyedQuery, MAX_DESTROYED_QUERY,
};
use serde_json::json;

use crate::auth::CurrentUser;
use crate::db;
use crate::error::{ApiError, Result};
use crate::state::AppState;

/// Those of the ids asked for whose channel is destroyed or being destroyed. More than
/// [`MAX_DESTROYED_QUERY`] ids, or an id too long to be one, is refused and logged.
pub async fn destroyed_among(
    state: &AppState,
    user: &CurrentUser,
    query: DestroyedQuery,
) -> Result<DestroyedChannels> {
    let malformed = query
        .channel_ids
        .iter()
        .any(|id| id.is_empty() || id.len() > 64);
    if query.channel_ids.len() > MAX_DESTROYED_QUERY || malformed {
        state
            .record_denial(
                user.actor(),
                "destroyed_channels_read",
                None,
                json!({ "reason": "invalid_query", "count": query.channel_ids.len() }),
            )
            .await;
        return Err(ApiError::Unprocessable("invalid_destroyed_query"));
    }
    let ids: Vec<String> = query.channel_ids.iter().map(ToString::to_string).collect();
    let destroyed = db::channels::destroyed_among(&state.db, &ids).await?;
    Ok(DestroyedChannels {
        destroyed: destroyed.into_iter().map(Into::into).collect(),
    })
}
