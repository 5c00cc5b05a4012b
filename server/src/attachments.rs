//! Encrypted attachments: opaque blobs stored as files of the data directory, readable
//! by the channel's members only, deleted with their channel.

use std::path::PathBuf;

use axum::body::Bytes;
use passerelle_shared::protocol::v1::channels::AttachmentUploaded;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::channels::member_channel;
use crate::db;
use crate::error::{ApiError, Result};
use crate::state::AppState;

/// Largest attachment, in bytes of ciphertext.
pub const MAX_ATTACHMENT_BYTES: usize = 25 * 1024 * 1024;

/// The folder of a channel's blobs.
pub fn channel_dir(state: &AppState, channel_id: &str) -> PathBuf {
    state.config.data_dir.join("attachments").join(channel_id)
}

/// Stores a blob for a channel the caller belongs to.
pub async fn upload(
    state: &AppState,
    user: &CurrentUser,
    channel_id: &str,
    body: Bytes,
) -> Result<AttachmentUploaded> {
    let (channel, _) = member_channel(state, user, channel_id, "attachment_upload").await?;
    if channel.status != "active" {
        return Err(ApiError::Forbidden);
    }
    if body.is_empty() {
        return Err(ApiError::BadRequest("pièce jointe vide".into()));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let dir = channel_dir(state, channel_id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(ApiError::internal)?;
    let path = dir.join(&id);
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(ApiError::internal)?;
    file.write_all(&body).await.map_err(ApiError::internal)?;
    file.sync_all().await.map_err(ApiError::internal)?;
    let size = i64::try_from(body.len()).map_err(ApiError::internal)?;
    db::channels::insert_attachment(
        &state.db,
        db::entities::attachment::Model {
            id: id.clone(),
            channel_id: channel_id.to_owned(),
            uploaded_by: user.user_id.clone(),
            size,
            created_at: state.now_ms(),
        },
    )
    .await?;
    state
        .record(
            user.actor(),
            "attachment_uploaded",
            Some(channel_id.to_owned()),
            Outcome::Success,
            json!({ "attachment": id, "size": size }),
        )
        .await?;
    Ok(AttachmentUploaded {
        id,
        size: u64::try_from(size).unwrap_or_default(),
    })
}

/// Reads a blob of a channel the caller belongs to; each download is logged.
pub async fn download(state: &AppState, user: &CurrentUser, id: &str) -> Result<Vec<u8>> {
    let Some(attachment) = db::channels::find_attachment(&state.db, id).await? else {
        state
            .record_denial(
                user.actor(),
                "attachment_download",
                None,
                json!({ "reason": "unknown", "attachment": id }),
            )
            .await;
        return Err(ApiError::NotFound);
    };
    member_channel(state, user, &attachment.channel_id, "attachment_download").await?;
    let bytes = tokio::fs::read(channel_dir(state, &attachment.channel_id).join(&attachment.id))
        .await
        .map_err(ApiError::internal)?;
    state
        .record(
            user.actor(),
            "attachment_downloaded",
            Some(attachment.channel_id.clone()),
            Outcome::Success,
            json!({ "attachment": attachment.id }),
        )
        .await?;
    Ok(bytes)
}
