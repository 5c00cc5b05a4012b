//! Encrypted attachments: opaque blobs stored as files of the data directory, readable
//! by the channel's members only (through the charter gate), deleted with their channel
//! or when they age out of its retention (see [`crate::app::retention`]).

use std::path::PathBuf;

use axum::body::Bytes;
use passerelle_shared::protocol::v1::channels::AttachmentUploaded;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::app::channels::open_channel;
use crate::audit::Outcome;
use crate::auth::CurrentUser;
use crate::db;
use crate::error::{ApiError, Result};
use crate::policy::{Access, Lifecycle};
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
    open_channel(state, user, channel_id, "attachment_upload", Access::Write).await?;
    if body.is_empty() {
        state
            .record_denial(
                user.actor(),
                "attachment_upload",
                Some(channel_id.to_owned()),
                json!({ "reason": "empty" }),
            )
            .await;
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
    db::attachments::insert(
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
    // The retention job may have started destroying the channel since the gate: then the
    // blob must not outlive it.
    let still_active = db::channels::find(&state.db, channel_id)
        .await?
        .is_some_and(|c| Lifecycle::parse(&c.status) == Lifecycle::Active);
    if !still_active {
        db::attachments::delete(&state.db, &id).await?;
        remove_blob(&path).await.map_err(ApiError::internal)?;
        return Err(ApiError::NotFound);
    }
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
    let Some(attachment) = db::attachments::find(&state.db, id).await? else {
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
    open_channel(
        state,
        user,
        &attachment.channel_id,
        "attachment_download",
        Access::Read,
    )
    .await?;
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

/// Deletes a blob; one already gone is not an error (a purge resumed after a crash).
pub(crate) async fn remove_blob(path: &std::path::Path) -> std::io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Deletes a channel's folder of blobs; one already gone is not an error.
pub(crate) async fn remove_channel_dir(state: &AppState, channel_id: &str) -> std::io::Result<()> {
    match tokio::fs::remove_dir_all(channel_dir(state, channel_id)).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}
