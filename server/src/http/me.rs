//! The logged-in account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::auth::{ChangePasswordRequest, Me};
use passerelle_shared::protocol::v1::notices::{NoticeSettings, UpdateNoticeSettings};
use passerelle_shared::protocol::v1::routes;
use serde_json::json;
use zeroize::Zeroizing;

use crate::app::exclusion::{self, Exclusion, Sessions};
use crate::audit::Outcome;
use crate::auth::{lockout, login, password, CurrentUser};
use crate::bus::AccessReason;
use crate::db;
use crate::error::{ApiError, Result};
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::ME, me)
        .endpoint(routes::PASSWORD_CHANGE, change_password)
        .endpoint(routes::NOTICES, notices)
        .endpoint(routes::NOTICES_SET, set_notices)
}

/// # `GET /api/v1/me`
#[utoipa::path(get, path = routes::ME.documented(), responses((status = 200, body = Me), (status = 401)))]
pub(crate) async fn me(State(state): State<AppState>, user: CurrentUser) -> Result<Json<Me>> {
    let account = db::accounts::find_user(&state.db, &user.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    login::me_of(&state, &account).await.map(Json)
}

/// # `POST /api/v1/me/password`
///
/// Changes one's own password; the other sessions are closed.
#[utoipa::path(post, path = routes::PASSWORD_CHANGE.documented(), request_body = ChangePasswordRequest, responses((status = 204), (status = 401), (status = 422)))]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode> {
    let current = Zeroizing::new(request.current_password);
    let new = Zeroizing::new(request.new_password);
    let mut account = db::accounts::find_user(&state.db, &user.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    // Guessing the current password through a session is guessing a password: it counts
    // towards the login's lock-out, and a locked login may not try.
    let now = state.now_ms();
    let key = lockout::login_key(&state, &account.login);
    if lockout::locked_until(&state, &key, now).await?.is_some() {
        state
            .record_denial(
                user.actor(),
                "password_change",
                None,
                json!({ "reason": "account_locked" }),
            )
            .await;
        return Err(ApiError::AccountLocked);
    }
    if !password::verify(Some(account.password_hash.clone()), current)
        .await
        .map_err(ApiError::internal)?
    {
        state
            .record_denial(
                user.actor(),
                "password_change",
                None,
                json!({ "reason": "bad_current_password" }),
            )
            .await;
        state.metrics.logins_failed.inc();
        lockout::count_failure(&state, &user.actor(), &key, Some(&user.user_id), now).await?;
        return Err(ApiError::InvalidCredentials);
    }
    if new.chars().count() < password::MIN_PASSWORD_CHARS {
        return Err(ApiError::Unprocessable("weak_password"));
    }
    // A provisional password kept as it is would stay known to the administrator.
    if password::verify(Some(account.password_hash.clone()), new.clone())
        .await
        .map_err(ApiError::internal)?
    {
        return Err(ApiError::Unprocessable("same_password"));
    }
    let was_provisional = account.password_change_required;
    account.password_hash = password::hash(new).await.map_err(ApiError::internal)?;
    account.password_change_required = false;
    db::accounts::update_user(&state.db, account).await?;
    // The other sessions end, and their live connections close (CHARTER.md C3).
    let ended = exclusion::exclude(
        &state,
        Exclusion::EndSessions {
            user_id: user.user_id.clone(),
            sessions: Sessions::AllBut(user.session_id.clone()),
            reason: AccessReason::PasswordChanged,
        },
    )
    .await?;
    state
        .record(
            user.actor(),
            "password_changed",
            Some(user.user_id.clone()),
            Outcome::Success,
            json!({
                "sessions_closed": ended.sessions_closed,
                "was_provisional": was_provisional,
            }),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `GET /api/v1/me/notices`
///
/// Whether the server may e-mail the caller when messages wait while they are away, and
/// where: the account page shows it.
#[utoipa::path(get, path = routes::NOTICES.documented(), responses((status = 200, body = NoticeSettings), (status = 401)))]
pub(crate) async fn notices(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<NoticeSettings>> {
    crate::app::notices::preferences::settings_of(&state, &user)
        .await
        .map(Json)
}

/// # `PUT /api/v1/me/notices`
///
/// Turns one's own offline notices on or off.
#[utoipa::path(put, path = routes::NOTICES_SET.documented(), request_body = UpdateNoticeSettings,
    responses((status = 200, body = NoticeSettings), (status = 400), (status = 401)))]
pub(crate) async fn set_notices(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<UpdateNoticeSettings>,
) -> Result<Json<NoticeSettings>> {
    crate::app::notices::preferences::set_enabled(&state, &user, request.enabled)
        .await
        .map(Json)
}
