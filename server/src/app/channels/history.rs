//! Reading a channel's history, recorded per range and not per message.

use passerelle_shared::protocol::v1::channels::{HistoryPage, StoredMessage};
use serde_json::json;

use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::db::{self};
use crate::error::{ApiError, Result};
use crate::policy::Access;
use crate::state::AppState;

use super::open_channel;

/// Largest history page.
pub const MAX_PAGE: u64 = 500;

/// Converts stored rows to wire messages.
pub(crate) fn stored_messages(
    rows: Vec<db::entities::message::Model>,
) -> Result<Vec<StoredMessage>> {
    rows.into_iter()
        .map(|row| {
            Ok(StoredMessage {
                channel_id: row.channel_id.into(),
                seq: u64::try_from(row.seq).unwrap_or_default(),
                sender: row.sender_user.into(),
                envelope: serde_json::from_str(&row.envelope).map_err(ApiError::internal)?,
                ts: row.created_at,
            })
        })
        .collect()
}

/// A page of history after `after_seq` (never before the caller joined). Recorded in
/// the access log per channel and range, not per message.
pub async fn history(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    after_seq: u64,
    limit: u64,
) -> Result<HistoryPage> {
    let (_, membership) =
        open_channel(state, user, channel_id, "history_read", Access::Read).await?;
    let limit = limit.clamp(1, MAX_PAGE);
    let after = i64::try_from(after_seq)
        .unwrap_or(i64::MAX)
        .max(membership.joined_seq);
    let mut rows = db::messages::after(&state.db, channel_id, after, limit + 1).await?;
    let has_more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let messages = stored_messages(rows)?;
    state
        .record(
            user.actor(),
            "history_read",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({
                "after_seq": after,
                "from_seq": messages.first().map(|m| m.seq),
                "to_seq": messages.last().map(|m| m.seq),
                "count": messages.len()
            }),
        )
        .await?;
    Ok(HistoryPage { messages, has_more })
}
