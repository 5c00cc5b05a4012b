//! Practice-analysis sessions (CHARTER.md C9).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::cases::{CreatePracticeSession, PracticeSession};
use passerelle_shared::protocol::v1::routes;

use crate::app::practice;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::PRACTICE_SESSION_CREATE, create)
        .endpoint(routes::PRACTICE_SESSION, get_session)
}

/// # `POST /api/v1/practice-sessions`
///
/// A facilitator (coordinator) opens a session: anonymous by rule (no name, no birth
/// date, no address, no phone number), writable between `starts_at` and `ends_at`,
/// read-only afterwards, destroyed a few days after its end, never linked to a case.
#[utoipa::path(post, path = routes::PRACTICE_SESSION_CREATE.documented(), operation_id = "create_practice_session", request_body = CreatePracticeSession,
    responses((status = 201, body = PracticeSession), (status = 403), (status = 422)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<CreatePracticeSession>,
) -> Result<(StatusCode, Json<PracticeSession>)> {
    let session = practice::create(&state, &user, request).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// # `GET /api/v1/practice-sessions/{id}`
#[utoipa::path(get, path = routes::PRACTICE_SESSION.documented(), responses((status = 200, body = PracticeSession), (status = 403), (status = 404)))]
pub(crate) async fn get_session(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<PracticeSession>> {
    practice::get(&state, &user, &id).await.map(Json)
}
