//! Channels, membership, epochs, history, attachments and the directory.
//!
//! Reading or writing a channel's content goes through the charter gate: until the caller
//! has accepted the charter and the group's internal rules, these routes answer `403`
//! with `charter_not_accepted` or `rules_not_accepted` (CHARTER.md C2). No route
//! forwards content to another channel or exports it (C4).

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::handler::Handler;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::auth::InstitutionRef;
use passerelle_shared::protocol::v1::channels::{
    AddMember, AttachmentUploaded, Channel, ChannelDetail, CreateChannel, DestroyedChannels,
    DestroyedQuery, DeviceKeysPage, DirectoryEntry, EpochState, HistoryPage, KeysDelivered,
    LeaveChannel, MembershipLog, MembershipPage, PublishEpoch, RemoveMember, StartMembershipLog,
};
use passerelle_shared::protocol::v1::routes;
use serde::Deserialize;

use crate::app::{accounts, attachments, channels};
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::http::json::{ApiBytes, ApiJson, ApiQuery, OptionalApiJson};
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::CHANNELS, list)
        .endpoint(routes::CHANNEL_CREATE, create)
        .endpoint(routes::CHANNEL, detail)
        .endpoint(routes::CHANNELS_DESTROYED, destroyed)
        .endpoint(routes::CHANNEL_MEMBER_ADD, add_member)
        .endpoint(routes::CHANNEL_MEMBER_REMOVE, remove_member)
        .endpoint(routes::CHANNEL_LEAVE, leave)
        .endpoint(routes::CHANNEL_EPOCH, epoch_state)
        .endpoint(routes::CHANNEL_EPOCH_PUBLISH, publish_epoch)
        .endpoint(routes::CHANNEL_DEVICE_KEYS, device_keys)
        .endpoint(routes::CHANNEL_KEYS_DELIVERED, keys_delivered)
        .endpoint(routes::CHANNEL_MESSAGES, history)
        .endpoint(routes::CHANNEL_MEMBERSHIP, membership_events)
        .endpoint(routes::CHANNEL_MEMBERSHIP_LOG, membership_log)
        .endpoint(routes::CHANNEL_MEMBERSHIP_LOG_START, start_membership_log)
        .endpoint(
            routes::ATTACHMENT_UPLOAD,
            upload.layer(DefaultBodyLimit::max(attachments::MAX_ATTACHMENT_BYTES)),
        )
        .endpoint(routes::ATTACHMENT, download)
        .endpoint(routes::DIRECTORY, directory)
        .endpoint(routes::DIRECTORY_INSTITUTIONS, institutions)
}

/// # `POST /api/v1/channels/destroyed`
///
/// Which of the channels a device holds keys of were destroyed (PROTOCOL.md §10.6).
#[utoipa::path(post, path = routes::CHANNELS_DESTROYED.documented(), request_body = DestroyedQuery,
    responses((status = 200, body = DestroyedChannels), (status = 422)))]
pub(crate) async fn destroyed(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(query): ApiJson<DestroyedQuery>,
) -> Result<Json<DestroyedChannels>> {
    channels::destroyed_among(&state, &user, query)
        .await
        .map(Json)
}

/// # `GET /api/v1/directory/institutions`
///
/// Every institution of the CLSPD, by name: the coordinator's reporting institution of a
/// case (which may have no account yet) and the auditor's filter. Any logged-in account:
/// the partner institutions are listed in the CLSPD's own convention.
#[utoipa::path(get, path = routes::DIRECTORY_INSTITUTIONS.documented(), responses((status = 200, body = [InstitutionRef]), (status = 401)))]
pub(crate) async fn institutions(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Json<Vec<InstitutionRef>>> {
    accounts::institution_names(&state).await.map(Json)
}

/// # `GET /api/v1/directory`
///
/// Colleagues who can be added to channels; not for external participants (CHARTER.md C6).
#[utoipa::path(get, path = routes::DIRECTORY.documented(), responses((status = 200, body = [DirectoryEntry]), (status = 403)))]
pub(crate) async fn directory(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<DirectoryEntry>>> {
    channels::directory(&state, &user).await.map(Json)
}

/// # `GET /api/v1/channels`
#[utoipa::path(get, path = routes::CHANNELS.documented(), responses((status = 200, body = [Channel])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<Channel>>> {
    channels::list(&state, &user).await.map(Json)
}

/// # `POST /api/v1/channels`
///
/// Working groups (coordinators) and direct conversations; cases and practice sessions
/// have their own routes (`/cases`, `/practice-sessions`).
#[utoipa::path(post, path = routes::CHANNEL_CREATE.documented(), operation_id = "create_channel", request_body = CreateChannel, responses((status = 201, body = Channel), (status = 403), (status = 422)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<CreateChannel>,
) -> Result<(StatusCode, Json<Channel>)> {
    let channel = channels::create(&state, &user, request).await?;
    Ok((StatusCode::CREATED, Json(channel)))
}

/// # `GET /api/v1/channels/{id}`
#[utoipa::path(get, path = routes::CHANNEL.documented(), responses((status = 200, body = ChannelDetail), (status = 404)))]
pub(crate) async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ChannelDetail>> {
    channels::detail(&state, &user, &id).await.map(Json)
}

/// # `POST /api/v1/channels/{id}/members`
#[utoipa::path(post, path = routes::CHANNEL_MEMBER_ADD.documented(), request_body = AddMember, responses((status = 204), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn add_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<AddMember>,
) -> Result<StatusCode> {
    channels::add_member(
        &state,
        &user,
        &id,
        &request.user_id,
        request.record.as_ref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `DELETE /api/v1/channels/{id}/members/{user_id}`
#[utoipa::path(delete, path = routes::CHANNEL_MEMBER_REMOVE.documented(), request_body = RemoveMember, responses((status = 204), (status = 403), (status = 404)))]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(request): ApiJson<RemoveMember>,
) -> Result<StatusCode> {
    channels::remove_member(
        &state,
        &user,
        &id,
        &user_id,
        &request.reason,
        request.record.as_ref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `POST /api/v1/channels/{id}/leave`
///
/// Once the channel has a signed membership log, the body carries the leaver's `left`
/// record (PROTOCOL.md §22); before, it may be absent.
#[utoipa::path(post, path = routes::CHANNEL_LEAVE.documented(), request_body = LeaveChannel,
    responses((status = 204), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn leave(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    OptionalApiJson(request): OptionalApiJson<LeaveChannel>,
) -> Result<StatusCode> {
    let me = user.user_id.clone();
    let record = request.and_then(|r| r.record);
    channels::remove_member(&state, &user, &id, &me, "", record.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `GET /api/v1/channels/{id}/membership-log`
///
/// The channel's whole signed membership log, for its members (PROTOCOL.md §22).
#[utoipa::path(get, path = routes::CHANNEL_MEMBERSHIP_LOG.documented(), operation_id = "membership_log",
    responses((status = 200, body = MembershipLog), (status = 404)))]
pub(crate) async fn membership_log(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<MembershipLog>> {
    channels::membership_log(&state, &user, &id).await.map(Json)
}

/// # `POST /api/v1/channels/{id}/membership-log`
///
/// Starts the channel's signed membership log with its genesis record, or appends a
/// coordinator's ratification of a removal the server made by itself (PROTOCOL.md §22.3).
#[utoipa::path(post, path = routes::CHANNEL_MEMBERSHIP_LOG_START.documented(), operation_id = "start_membership_log",
    request_body = StartMembershipLog,
    responses((status = 204), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn start_membership_log(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<StartMembershipLog>,
) -> Result<StatusCode> {
    channels::start_membership_log(&state, &user, &id, &request.record).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `GET /api/v1/channels/{id}/epoch`
#[utoipa::path(get, path = routes::CHANNEL_EPOCH.documented(), responses((status = 200, body = EpochState), (status = 404)))]
pub(crate) async fn epoch_state(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<EpochState>> {
    channels::epoch_state(&state, &user, &id).await.map(Json)
}

/// # `POST /api/v1/channels/{id}/epochs`
#[utoipa::path(post, path = routes::CHANNEL_EPOCH_PUBLISH.documented(), request_body = PublishEpoch, responses((status = 204), (status = 409), (status = 422)))]
pub(crate) async fn publish_epoch(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<PublishEpoch>,
) -> Result<StatusCode> {
    channels::publish_epoch(&state, &user, &id, request).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /api/v1/channels/{id}/keys`.
#[derive(Debug, Deserialize)]
pub(crate) struct KeysQuery {
    device_id: String,
}

/// # `GET /api/v1/channels/{id}/keys?device_id=`
#[utoipa::path(get, path = routes::CHANNEL_DEVICE_KEYS.documented(), responses((status = 200, body = DeviceKeysPage), (status = 404)))]
pub(crate) async fn device_keys(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<KeysQuery>,
) -> Result<Json<DeviceKeysPage>> {
    channels::device_keys(&state, &user, &id, &query.device_id)
        .await
        .map(Json)
}

/// # `POST /api/v1/channels/{id}/keys/delivered`
///
/// The caller's device has stored these epochs' keys: the server deletes its wraps of
/// them (docs/PROTOCOL.md §23.3). A replay changes nothing.
#[utoipa::path(post, path = routes::CHANNEL_KEYS_DELIVERED.documented(), request_body = KeysDelivered,
    responses((status = 204), (status = 404), (status = 422)))]
pub(crate) async fn keys_delivered(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<KeysDelivered>,
) -> Result<StatusCode> {
    crate::app::prekeys::delivered(&state, &user, &id, request).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /api/v1/channels/{id}/messages`.
#[derive(Debug, Deserialize)]
pub(crate) struct HistoryQuery {
    #[serde(default)]
    after_seq: u64,
    #[serde(default = "default_limit")]
    limit: u64,
}

fn default_limit() -> u64 {
    100
}

/// # `GET /api/v1/channels/{id}/messages?after_seq=&limit=`
#[utoipa::path(get, path = routes::CHANNEL_MESSAGES.documented(), responses((status = 200, body = HistoryPage), (status = 404)))]
pub(crate) async fn history(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<HistoryPage>> {
    channels::history(&state, &user, &id, query.after_seq, query.limit)
        .await
        .map(Json)
}

/// Query of `GET /api/v1/channels/{id}/membership`.
#[derive(Debug, Deserialize)]
pub(crate) struct MembershipQuery {
    #[serde(default)]
    after: u64,
    #[serde(default = "default_limit")]
    limit: u64,
}

/// # `GET /api/v1/channels/{id}/membership?after=&limit=`
///
/// The channel's membership history after event `after`, for its members (PROTOCOL.md §21).
#[utoipa::path(get, path = routes::CHANNEL_MEMBERSHIP.documented(), operation_id = "membership_events",
    params(("id" = String, Path, description = "Channel"),
        ("after" = Option<u64>, Query, description = "Last event seq the client has (default 0)"),
        ("limit" = Option<u64>, Query, description = "At most this many events (default 100, at most 500)")),
    responses((status = 200, body = MembershipPage), (status = 404)))]
pub(crate) async fn membership_events(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<MembershipQuery>,
) -> Result<Json<MembershipPage>> {
    channels::membership_events(&state, &user, &id, query.after, query.limit)
        .await
        .map(Json)
}

/// # `POST /api/v1/channels/{id}/attachments`
///
/// The body is the encrypted blob (`application/octet-stream`).
#[utoipa::path(post, path = routes::ATTACHMENT_UPLOAD.documented(), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 201, body = AttachmentUploaded), (status = 404), (status = 413)))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiBytes(body): ApiBytes,
) -> Result<(StatusCode, Json<AttachmentUploaded>)> {
    let uploaded = attachments::upload(&state, &user, &id, body).await?;
    Ok((StatusCode::CREATED, Json(uploaded)))
}

/// # `GET /api/v1/attachments/{id}`
#[utoipa::path(get, path = routes::ATTACHMENT.documented(), responses((status = 200), (status = 404)))]
pub(crate) async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    let bytes = attachments::download(&state, &user, &id).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}
