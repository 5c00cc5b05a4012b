//! The charter and the working groups' internal rules (CHARTER.md C2).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::charter::{
    Accept, CharterStatus, CharterVersion, PublishText, RulesStatus, RulesVersion,
};
use passerelle_shared::protocol::v1::routes;

use crate::app::charter;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::CHARTER_PUBLISH, publish_charter)
        .endpoint(routes::CHARTER, charter_status)
        .endpoint(routes::CHARTER_ACCEPT, accept_charter)
        .endpoint(routes::CHANNEL_RULES, rules_status)
        .endpoint(routes::CHANNEL_RULES_PUBLISH, publish_rules)
        .endpoint(routes::CHANNEL_RULES_ACCEPT, accept_rules)
}

/// # `POST /api/v1/admin/charters`
///
/// The admin publishes a new version (French Markdown). Every confidential channel closes
/// to every user until they accept it.
#[utoipa::path(post, path = routes::CHARTER_PUBLISH.documented(), request_body = PublishText,
    responses((status = 201, body = CharterVersion), (status = 403), (status = 409), (status = 422)))]
pub(crate) async fn publish_charter(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<PublishText>,
) -> Result<(StatusCode, Json<CharterVersion>)> {
    let version = charter::publish_charter_as(&state, &user, &request.text).await?;
    Ok((StatusCode::CREATED, Json(version)))
}

/// # `GET /api/v1/charter`
///
/// The charter in force (absent until the admin publishes one: confidential channels are
/// closed until then), the caller's latest acceptance, and the internal rules of their
/// channels they must still accept.
#[utoipa::path(get, path = routes::CHARTER.documented(), responses((status = 200, body = CharterStatus)))]
pub(crate) async fn charter_status(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<CharterStatus>> {
    charter::charter_status(&state, &user).await.map(Json)
}

/// # `POST /api/v1/charter/accept`
///
/// Accepts the version in force (recorded with its time and logged); an older version
/// answers `409 version_outdated`.
#[utoipa::path(post, path = routes::CHARTER_ACCEPT.documented(), request_body = Accept,
    responses((status = 204), (status = 409), (status = 422)))]
pub(crate) async fn accept_charter(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<Accept>,
) -> Result<StatusCode> {
    charter::accept_charter(&state, &user, request.version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `GET /api/v1/channels/{id}/rules`
///
/// The internal rules that apply to a channel (its working group's for a case or a
/// session), for its members.
#[utoipa::path(get, path = routes::CHANNEL_RULES.documented(), responses((status = 200, body = RulesStatus), (status = 404)))]
pub(crate) async fn rules_status(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<RulesStatus>> {
    charter::rules_status(&state, &user, &id).await.map(Json)
}

/// # `POST /api/v1/channels/{id}/rules`
///
/// A coordinator of the working group publishes a new version of its internal rules;
/// the group and the cases and sessions that follow it close until each member accepts.
#[utoipa::path(post, path = routes::CHANNEL_RULES_PUBLISH.documented(), request_body = PublishText,
    responses((status = 201, body = RulesVersion), (status = 403), (status = 404), (status = 422)))]
pub(crate) async fn publish_rules(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<PublishText>,
) -> Result<(StatusCode, Json<RulesVersion>)> {
    let version = charter::publish_rules(&state, &user, &id, &request.text).await?;
    Ok((StatusCode::CREATED, Json(version)))
}

/// # `POST /api/v1/channels/{id}/rules/accept`
#[utoipa::path(post, path = routes::CHANNEL_RULES_ACCEPT.documented(), request_body = Accept,
    responses((status = 204), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn accept_rules(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<Accept>,
) -> Result<StatusCode> {
    charter::accept_rules(&state, &user, &id, request.version).await?;
    Ok(StatusCode::NO_CONTENT)
}
