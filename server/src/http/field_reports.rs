//! Field reports of the public-tranquillity mediators (issue 21, item 3).
//!
//! **Minimisation (CHARTER.md C8).** A report names a place and a category, never a
//! person; what was seen travels end-to-end encrypted for the addressed group.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::field_reports::{
    FieldReport, FileFieldReport, UpdateFieldReport,
};
use passerelle_shared::protocol::v1::routes;

use crate::app::field_reports;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::FIELD_REPORT_FILE, file)
        .endpoint(routes::FIELD_REPORTS, list)
        .endpoint(routes::FIELD_REPORT, get_report)
        .endpoint(routes::FIELD_REPORT_STATUS, update)
}

/// # `POST /api/v1/field-reports`
///
/// A mediator files a report to one of their working groups; the description is sealed
/// for the group.
#[utoipa::path(post, path = routes::FIELD_REPORT_FILE.documented(), operation_id = "file_field_report",
    request_body = FileFieldReport,
    responses((status = 201, body = FieldReport), (status = 403), (status = 409), (status = 422)))]
pub(crate) async fn file(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<FileFieldReport>,
) -> Result<(StatusCode, Json<FieldReport>)> {
    let report = field_reports::file(&state, &user, request).await?;
    Ok((StatusCode::CREATED, Json(report)))
}

/// # `GET /api/v1/field-reports`
///
/// A mediator's own reports; for a member of groups, the reports addressed to them.
#[utoipa::path(get, path = routes::FIELD_REPORTS.documented(), operation_id = "list_field_reports",
    responses((status = 200, body = [FieldReport]), (status = 403)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<FieldReport>>> {
    field_reports::list(&state, &user).await.map(Json)
}

/// # `GET /api/v1/field-reports/{id}`
///
/// One report, for its author or a member of the addressed group.
#[utoipa::path(get, path = routes::FIELD_REPORT.documented(), operation_id = "get_field_report",
    responses((status = 200, body = FieldReport), (status = 403), (status = 404)))]
pub(crate) async fn get_report(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<FieldReport>> {
    field_reports::get(&state, &user, &id).await.map(Json)
}

/// # `POST /api/v1/field-reports/{id}/status`
///
/// A member of the addressed group takes the report in charge, then closes it with a
/// sealed answer.
#[utoipa::path(post, path = routes::FIELD_REPORT_STATUS.documented(), operation_id = "update_field_report",
    request_body = UpdateFieldReport,
    responses((status = 200, body = FieldReport), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateFieldReport>,
) -> Result<Json<FieldReport>> {
    field_reports::update(&state, &user, &id, request)
        .await
        .map(Json)
}
