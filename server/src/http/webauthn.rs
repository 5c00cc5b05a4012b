//! Passkeys and security keys: the caller's keys, and the two ways of signing in with
//! one (second step after the password, or passwordless).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::auth::SessionOpened;
use passerelle_shared::protocol::v1::routes;
use passerelle_shared::protocol::v1::webauthn::{
    FinishRegistrationRequest, PasswordlessLoginRequest, RegisterKeyRequest, RenameKeyRequest,
    SecurityKey, WebauthnCeremony, WebauthnLoginRequest,
};
use zeroize::Zeroizing;

use crate::auth::{session, webauthn, ClientInfo, CurrentUser};
use crate::error::{ApiError, Result};
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::LOGIN_WEBAUTHN, login)
        .endpoint(routes::PASSWORDLESS_BEGIN, begin_passwordless)
        .endpoint(routes::PASSWORDLESS_FINISH, finish_passwordless)
        .endpoint(routes::SECURITY_KEYS, list)
        .endpoint(routes::SECURITY_KEY_REGISTER_BEGIN, begin_registration)
        .endpoint(routes::SECURITY_KEY_REGISTER_FINISH, finish_registration)
        .endpoint(routes::SECURITY_KEY_RENAME, rename)
        .endpoint(routes::SECURITY_KEY_REMOVE, remove)
}

/// Answers an opened session as the TOTP step does: a cookie for browsers, the token in
/// the body for programs that asked for it.
fn session_response(
    state: &AppState,
    bearer: bool,
    mut opened: SessionOpened,
    token: Zeroizing<String>,
) -> Result<impl IntoResponse> {
    let mut headers = HeaderMap::new();
    if bearer {
        opened.token = Some(token.to_string());
    } else {
        let max_age = i64::from(state.config.session_absolute_hours) * 3600;
        let cookie = session::set_cookie(&token, max_age).map_err(ApiError::internal)?;
        headers.insert(header::SET_COOKIE, cookie);
    }
    Ok((headers, Json(opened)))
}

/// # `POST /api/v1/auth/webauthn`
///
/// The second step with a key, after the password step answered `next: webauthn`.
#[utoipa::path(post, path = routes::LOGIN_WEBAUTHN.documented(), operation_id = "webauthn_login", request_body = WebauthnLoginRequest,
    responses((status = 200, body = SessionOpened), (status = 401, body = passerelle_shared::protocol::v1::error::ErrorBody)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<WebauthnLoginRequest>,
) -> Result<impl IntoResponse> {
    let bearer = request.bearer;
    let (opened, token) = webauthn::finish_login(&state, &client, request).await?;
    session_response(&state, bearer, opened, token)
}

/// # `POST /api/v1/auth/passwordless`
///
/// Begins a sign-in with a passkey alone: the options for `navigator.credentials.get()`.
#[utoipa::path(post, path = routes::PASSWORDLESS_BEGIN.documented(), operation_id = "begin_passwordless",
    responses((status = 200, body = WebauthnCeremony), (status = 429, body = passerelle_shared::protocol::v1::error::ErrorBody)))]
pub(crate) async fn begin_passwordless(
    State(state): State<AppState>,
    client: ClientInfo,
) -> Result<Json<WebauthnCeremony>> {
    webauthn::begin_passwordless(&state, &client)
        .await
        .map(Json)
}

/// # `POST /api/v1/auth/passwordless/finish`
#[utoipa::path(post, path = routes::PASSWORDLESS_FINISH.documented(), operation_id = "finish_passwordless", request_body = PasswordlessLoginRequest,
    responses((status = 200, body = SessionOpened), (status = 401, body = passerelle_shared::protocol::v1::error::ErrorBody)))]
pub(crate) async fn finish_passwordless(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<PasswordlessLoginRequest>,
) -> Result<impl IntoResponse> {
    let bearer = request.bearer;
    let (opened, token) = webauthn::finish_passwordless(&state, &client, request).await?;
    session_response(&state, bearer, opened, token)
}

/// # `GET /api/v1/me/security-keys`
#[utoipa::path(get, path = routes::SECURITY_KEYS.documented(), operation_id = "list_security_keys",
    responses((status = 200, body = [SecurityKey]), (status = 401)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<SecurityKey>>> {
    webauthn::list(&state, &user).await.map(Json)
}

/// # `POST /api/v1/me/security-keys/register`
///
/// Begins registering a key: the options for `navigator.credentials.create()`.
#[utoipa::path(post, path = routes::SECURITY_KEY_REGISTER_BEGIN.documented(), operation_id = "begin_key_registration", request_body = RegisterKeyRequest,
    responses((status = 200, body = WebauthnCeremony), (status = 401), (status = 422)))]
pub(crate) async fn begin_registration(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<RegisterKeyRequest>,
) -> Result<Json<WebauthnCeremony>> {
    webauthn::begin_registration(&state, &user, request)
        .await
        .map(Json)
}

/// # `POST /api/v1/me/security-keys/register/finish`
#[utoipa::path(post, path = routes::SECURITY_KEY_REGISTER_FINISH.documented(), operation_id = "finish_key_registration", request_body = FinishRegistrationRequest,
    responses((status = 200, body = SecurityKey), (status = 401), (status = 409), (status = 422)))]
pub(crate) async fn finish_registration(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<FinishRegistrationRequest>,
) -> Result<Json<SecurityKey>> {
    webauthn::finish_registration(&state, &user, request)
        .await
        .map(Json)
}

/// # `PATCH /api/v1/me/security-keys/{id}`
#[utoipa::path(patch, path = routes::SECURITY_KEY_RENAME.documented(), operation_id = "rename_security_key", request_body = RenameKeyRequest,
    responses((status = 204), (status = 404), (status = 422)))]
pub(crate) async fn rename(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<RenameKeyRequest>,
) -> Result<StatusCode> {
    webauthn::rename(&state, &user, &id, &request.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `DELETE /api/v1/me/security-keys/{id}`
#[utoipa::path(delete, path = routes::SECURITY_KEY_REMOVE.documented(), operation_id = "remove_security_key",
    responses((status = 204), (status = 404), (status = 422)))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    webauthn::remove(&state, &user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
