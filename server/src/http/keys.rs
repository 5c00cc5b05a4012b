//! The key directory and the key backup.

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::handler::Handler;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::keys::{
    ApproveLink, CreateLinkRequest, DeviceInfo, KeyBackupBody, KeyBackupHeadWritten,
    KeyBackupPageBody, KeysReset, LinkRequest, LinkRequestList, PublishIdentity, PublishPrekey,
    PutKeyBackup, PutKeyBackupHead, PutKeyBackupPage, RegisterDevice, ResetKeys, RewrappedKeys,
    StoredKeys, UserKeys,
};
use passerelle_shared::protocol::v1::routes;

use crate::app::keys;
use crate::app::linking;
use crate::auth::CurrentUser;
use crate::error::{ApiError, Result};
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// A request carrying a key backup: the backup and room for the rest of the body.
const BACKUP_REQUEST_LIMIT: usize = keys::MAX_BACKUP_BYTES + 64 * 1024;

/// A request carrying one page of a paged key backup, and room for the rest of the body.
const BACKUP_PAGE_REQUEST_LIMIT: usize = keys::MAX_BACKUP_PAGE_BYTES + 64 * 1024;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::IDENTITY_PUBLISH, publish_identity)
        .endpoint(routes::DEVICE_REGISTER, register_device)
        .endpoint(
            routes::KEYS_RESET,
            reset_keys.layer(DefaultBodyLimit::max(BACKUP_REQUEST_LIMIT)),
        )
        .endpoint(routes::DEVICE_REVOKE, revoke_device)
        .endpoint(routes::USER_KEYS, user_keys)
        .endpoint(routes::DEVICE_PREKEY_PUBLISH, publish_prekey)
        .endpoint(routes::KEY_BACKUP, get_backup)
        .endpoint(
            routes::KEY_BACKUP_PUT,
            put_backup.layer(DefaultBodyLimit::max(BACKUP_REQUEST_LIMIT)),
        )
        .endpoint(routes::KEY_BACKUP_PAGE, get_backup_page)
        .endpoint(
            routes::KEY_BACKUP_PAGE_PUT,
            put_backup_page.layer(DefaultBodyLimit::max(BACKUP_PAGE_REQUEST_LIMIT)),
        )
        .endpoint(
            routes::KEY_BACKUP_HEAD_PUT,
            put_backup_head.layer(DefaultBodyLimit::max(BACKUP_REQUEST_LIMIT)),
        )
        .endpoint(routes::DEVICE_EPOCH_KEYS, rewrapped_keys)
        .endpoint(routes::LINK_REQUEST_CREATE, create_link_request)
        .endpoint(routes::LINK_REQUESTS, pending_link_requests)
        .endpoint(routes::LINK_REQUEST, link_request)
        .endpoint(routes::LINK_REQUEST_REFUSE, refuse_link_request)
        .endpoint(routes::LINK_REQUEST_APPROVE, approve_link_request)
}

/// # `POST /api/v1/keys/link-requests`
///
/// A new device asks to join the account (docs/PROTOCOL.md §5.5.1); relayed to the
/// user's devices as a `link_request` frame.
#[utoipa::path(post, path = routes::LINK_REQUEST_CREATE.documented(), request_body = CreateLinkRequest,
    responses((status = 201, body = LinkRequest), (status = 409), (status = 422)))]
pub(crate) async fn create_link_request(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<CreateLinkRequest>,
) -> Result<(StatusCode, Json<LinkRequest>)> {
    let created = linking::create(&state, &user, request).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// # `GET /api/v1/keys/link-requests`
#[utoipa::path(get, path = routes::LINK_REQUESTS.documented(), responses((status = 200, body = LinkRequestList)))]
pub(crate) async fn pending_link_requests(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<LinkRequestList>> {
    let requests = linking::pending(&state, &user).await?;
    Ok(Json(LinkRequestList { requests }))
}

/// # `GET /api/v1/keys/link-requests/{id}`
#[utoipa::path(get, path = routes::LINK_REQUEST.documented(), responses((status = 200, body = LinkRequest), (status = 404)))]
pub(crate) async fn link_request(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<LinkRequest>> {
    linking::get(&state, &user, &id).await.map(Json)
}

/// # `POST /api/v1/keys/link-requests/{id}/approve`
#[utoipa::path(post, path = routes::LINK_REQUEST_APPROVE.documented(), request_body = ApproveLink,
    responses((status = 201, body = DeviceInfo), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn approve_link_request(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ApproveLink>,
) -> Result<(StatusCode, Json<DeviceInfo>)> {
    let device = linking::approve(&state, &user, &id, request).await?;
    Ok((StatusCode::CREATED, Json(device)))
}

/// # `DELETE /api/v1/keys/link-requests/{id}`
#[utoipa::path(delete, path = routes::LINK_REQUEST_REFUSE.documented(), responses((status = 204), (status = 404), (status = 409)))]
pub(crate) async fn refuse_link_request(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    linking::refuse(&state, &user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `POST /api/v1/keys/devices/{id}/epoch-keys`
///
/// Past epoch keys re-wrapped for a newly linked device of the caller (§7.6).
#[utoipa::path(post, path = routes::DEVICE_EPOCH_KEYS.documented(), request_body = RewrappedKeys,
    responses((status = 200, body = StoredKeys), (status = 404), (status = 413), (status = 422)))]
pub(crate) async fn rewrapped_keys(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<RewrappedKeys>,
) -> Result<Json<StoredKeys>> {
    let stored = linking::store_rewrapped(&state, &user, &id, request.keys).await?;
    Ok(Json(StoredKeys { stored }))
}

/// # `PUT /api/v1/keys/devices/{id}/prekey`
///
/// The caller's device publishes its new signed prekey (docs/PROTOCOL.md §23); an
/// older or equal serial is refused (`prekey_outdated`).
#[utoipa::path(put, path = routes::DEVICE_PREKEY_PUBLISH.documented(), request_body = PublishPrekey,
    responses((status = 204), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn publish_prekey(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<PublishPrekey>,
) -> Result<StatusCode> {
    crate::app::prekeys::publish(&state, &user, &id, request).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `PUT /api/v1/keys/identity`
#[utoipa::path(put, path = routes::IDENTITY_PUBLISH.documented(), request_body = PublishIdentity, responses((status = 200), (status = 409)))]
pub(crate) async fn publish_identity(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<PublishIdentity>,
) -> Result<Json<serde_json::Value>> {
    let version = keys::publish_identity(&state, &user, request.identity_key).await?;
    Ok(Json(serde_json::json!({ "version": version })))
}

/// # `POST /api/v1/keys/devices`
#[utoipa::path(post, path = routes::DEVICE_REGISTER.documented(), request_body = RegisterDevice,
    responses((status = 201, body = DeviceInfo), (status = 409), (status = 422)))]
pub(crate) async fn register_device(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<RegisterDevice>,
) -> Result<(StatusCode, Json<DeviceInfo>)> {
    let device = keys::register_device(&state, &user, request).await?;
    Ok((StatusCode::CREATED, Json(device)))
}

/// # `POST /api/v1/keys/reset`
///
/// The identity key, the first device and the key backup in one step (enrolment, or a
/// lost recovery code once every device is revoked).
#[utoipa::path(post, path = routes::KEYS_RESET.documented(), request_body = ResetKeys,
    responses((status = 201, body = KeysReset), (status = 409), (status = 413), (status = 422)))]
pub(crate) async fn reset_keys(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<ResetKeys>,
) -> Result<(StatusCode, Json<KeysReset>)> {
    let reset = keys::reset_keys(&state, &user, request).await?;
    Ok((StatusCode::CREATED, Json(reset)))
}

/// # `DELETE /api/v1/keys/devices/{id}`
///
/// By the device's owner, or by an admin (a lost or stolen device).
#[utoipa::path(delete, path = routes::DEVICE_REVOKE.documented(), responses((status = 204), (status = 404)))]
pub(crate) async fn revoke_device(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    keys::revoke_device(&state, &user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `GET /api/v1/keys/users/{user_id}`
#[utoipa::path(get, path = routes::USER_KEYS.documented(), responses((status = 200, body = UserKeys), (status = 404)))]
pub(crate) async fn user_keys(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(user_id): Path<String>,
) -> Result<Json<UserKeys>> {
    keys::user_keys(&state, &user, &user_id).await.map(Json)
}

/// # `GET /api/v1/keys/backup`
#[utoipa::path(get, path = routes::KEY_BACKUP.documented(), responses((status = 200, body = KeyBackupBody), (status = 404)))]
pub(crate) async fn get_backup(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<impl IntoResponse> {
    let backup = keys::get_backup(&state, &user).await?;
    let etag = format!("\"{}\"", backup.version);
    Ok(([(header::ETAG, etag)], Json(backup)))
}

/// # `PUT /api/v1/keys/backup`
///
/// `If-Match: "<version>"` replaces that version; `If-None-Match: *` creates the first.
/// Anything else, or a stale version, answers 412 so two devices never overwrite each other.
#[utoipa::path(put, path = routes::KEY_BACKUP_PUT.documented(), request_body = PutKeyBackup, responses((status = 204), (status = 412)))]
pub(crate) async fn put_backup(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiJson(request): ApiJson<PutKeyBackup>,
) -> Result<impl IntoResponse> {
    let expected = expected_version(&headers)?;
    let version = keys::put_backup(&state, &user, expected, request.data).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::ETAG, format!("\"{version}\""))],
    ))
}

/// The version a write replaces: `If-Match: "<version>"`, or `None` for the first
/// (`If-None-Match: *`); anything else is refused so that no write overwrites blindly.
fn expected_version(headers: &HeaderMap) -> Result<Option<i64>> {
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    match (if_match, if_none_match) {
        (Some(tag), _) => {
            Ok(Some(tag.trim().trim_matches('"').parse::<i64>().map_err(
                |_| ApiError::BadRequest("en-tête If-Match invalide".into()),
            )?))
        }
        (None, Some("*")) => Ok(None),
        _ => Err(ApiError::BadRequest(
            "If-Match ou If-None-Match: * est requis".into(),
        )),
    }
}

/// # `GET /api/v1/keys/backup/pages/{hash}`
///
/// One page of the caller's paged key backup (docs/PROTOCOL.md §10.8).
#[utoipa::path(get, path = routes::KEY_BACKUP_PAGE.documented(),
    responses((status = 200, body = KeyBackupPageBody), (status = 404), (status = 422)))]
pub(crate) async fn get_backup_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(hash): Path<String>,
) -> Result<Json<KeyBackupPageBody>> {
    keys::get_backup_page(&state, &user, &hash).await.map(Json)
}

/// # `PUT /api/v1/keys/backup/pages/{hash}`
///
/// Stores one page under `{hash}`, the SHA-256 of its `nonce ‖ ciphertext`; storing the
/// same page again changes nothing.
#[utoipa::path(put, path = routes::KEY_BACKUP_PAGE_PUT.documented(), request_body = PutKeyBackupPage,
    responses((status = 204), (status = 413), (status = 422)))]
pub(crate) async fn put_backup_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(hash): Path<String>,
    ApiJson(request): ApiJson<PutKeyBackupPage>,
) -> Result<StatusCode> {
    keys::put_backup_page(&state, &user, &hash, request.page).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `PUT /api/v1/keys/backup/head`
///
/// Swaps the paged backup's head over the version of `If-Match` (or creates it with
/// `If-None-Match: *`); 409 `backup_page_missing` if it names a page not stored.
#[utoipa::path(put, path = routes::KEY_BACKUP_HEAD_PUT.documented(), request_body = PutKeyBackupHead,
    responses((status = 200, body = KeyBackupHeadWritten), (status = 409), (status = 412), (status = 413)))]
pub(crate) async fn put_backup_head(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiJson(request): ApiJson<PutKeyBackupHead>,
) -> Result<impl IntoResponse> {
    let expected = expected_version(&headers)?;
    let written = keys::put_backup_head(&state, &user, expected, request.head).await?;
    Ok((
        [(header::ETAG, format!("\"{}\"", written.version))],
        Json(written),
    ))
}
