//! Login, logout and the caller's sessions.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::auth::{
    LoginChallenge, LoginRequest, SessionInfo, SessionOpened, TotpRequest,
};
use passerelle_shared::protocol::v1::routes;
use serde_json::json;

use crate::app::exclusion::{self, Exclusion, Sessions};
use crate::audit::Outcome;
use crate::auth::{login, session, ClientInfo, CurrentUser};
use crate::bus::AccessReason;
use crate::db;
use crate::error::{ApiError, Result};
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::LOGIN, password_step)
        .endpoint(routes::LOGIN_TOTP, totp_step)
        .endpoint(routes::LOGOUT, logout)
        .endpoint(routes::SESSIONS, list_sessions)
        .endpoint(routes::SESSION_REVOKE, revoke_session)
}

/// # `POST /api/v1/auth/login`
#[utoipa::path(post, path = routes::LOGIN.documented(), request_body = LoginRequest,
    responses((status = 200, body = LoginChallenge), (status = 401, body = passerelle_shared::protocol::v1::error::ErrorBody)))]
pub(crate) async fn password_step(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginChallenge>> {
    login::password_step(&state, &client, request)
        .await
        .map(Json)
}

/// # `POST /api/v1/auth/totp`
///
/// Browsers get the token in an HttpOnly cookie; programs that ask for `bearer` get it
/// in the body.
#[utoipa::path(post, path = routes::LOGIN_TOTP.documented(), request_body = TotpRequest,
    responses((status = 200, body = SessionOpened), (status = 401, body = passerelle_shared::protocol::v1::error::ErrorBody)))]
pub(crate) async fn totp_step(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<TotpRequest>,
) -> Result<impl IntoResponse> {
    let bearer = request.bearer;
    let (mut opened, token) = login::totp_step(&state, &client, request).await?;
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

/// # `POST /api/v1/auth/logout`
#[utoipa::path(post, path = routes::LOGOUT.documented(), responses((status = 204)))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<impl IntoResponse> {
    // An exclusion of this session (CHARTER.md C3): its live connections close too.
    exclusion::exclude(
        &state,
        Exclusion::EndSessions {
            user_id: user.user_id.clone(),
            sessions: Sessions::One(user.session_id.clone()),
            reason: AccessReason::LoggedOut,
        },
    )
    .await?;
    state
        .record(
            user.actor(),
            "logout",
            Some(user.session_id.clone()),
            Outcome::Success,
            json!({}),
        )
        .await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session::clear_cookie())],
    ))
}

/// # `GET /api/v1/auth/sessions`
#[utoipa::path(get, path = routes::SESSIONS.documented(), responses((status = 200, body = [SessionInfo])))]
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<SessionInfo>>> {
    let now = state.now_ms();
    let sessions = db::sessions::list_for_user(&state.db, &user.user_id).await?;
    Ok(Json(
        sessions
            .into_iter()
            .filter(|s| s.expires_at > now)
            .map(|s| SessionInfo {
                current: s.id == user.session_id,
                id: s.id,
                kind: s.kind,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.expires_at,
                ip: s.ip,
                user_agent: s.user_agent,
            })
            .collect(),
    ))
}

/// # `DELETE /api/v1/auth/sessions/{id}`
///
/// Revokes one of the caller's own sessions (a forgotten computer).
#[utoipa::path(delete, path = routes::SESSION_REVOKE.documented(), responses((status = 204), (status = 404)))]
pub(crate) async fn revoke_session(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let ended = exclusion::exclude(
        &state,
        Exclusion::EndSessions {
            user_id: user.user_id.clone(),
            sessions: Sessions::One(id.clone()),
            reason: AccessReason::SessionRevoked,
        },
    )
    .await?;
    if !ended.changed {
        state
            .record_denial(
                user.actor(),
                "session_revoke",
                Some(id),
                json!({ "reason": "not_own_live_session" }),
            )
            .await;
        return Err(ApiError::NotFound);
    }
    state
        .record(
            user.actor(),
            "session_revoked",
            Some(id),
            Outcome::Success,
            json!({}),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
