//! Meetings of the cellule de veille and of the programmes' groups (issue 21, item 2).
//!
//! **Confidentiality (CHARTER.md C8).** An agenda names cases by their random reference
//! only; the notes and the minutes travel end-to-end encrypted for the group.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::meetings::{
    ChangeAgenda, DecideSituation, Meeting, RecordAttendance, ScheduleMeeting, WriteMinutes,
};
use passerelle_shared::protocol::v1::routes;

use crate::app::meetings;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::MEETING_SCHEDULE, schedule)
        .endpoint(routes::MEETINGS, list)
        .endpoint(routes::MEETING, get_meeting)
        .endpoint(routes::MEETING_ATTENDANCE, attendance)
        .endpoint(routes::MEETING_DECISIONS, decide)
        .endpoint(routes::MEETING_MINUTES, minutes)
        .endpoint(routes::MEETING_CLOSE, close)
        .endpoint(routes::MEETING_AGENDA, agenda)
        .endpoint(routes::MEETING_CANCEL, cancel)
}

/// # `POST /api/v1/meetings`
///
/// A member of a working group schedules a meeting with its agenda of situations.
#[utoipa::path(post, path = routes::MEETING_SCHEDULE.documented(), operation_id = "schedule_meeting",
    request_body = ScheduleMeeting,
    responses((status = 201, body = Meeting), (status = 403), (status = 409), (status = 422)))]
pub(crate) async fn schedule(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<ScheduleMeeting>,
) -> Result<(StatusCode, Json<Meeting>)> {
    let meeting = meetings::schedule(&state, &user, request).await?;
    Ok((StatusCode::CREATED, Json(meeting)))
}

/// # `GET /api/v1/meetings`
///
/// The meetings of the caller's working groups, soonest first.
#[utoipa::path(get, path = routes::MEETINGS.documented(), operation_id = "list_meetings",
    responses((status = 200, body = [Meeting]), (status = 403)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<Meeting>>> {
    meetings::list(&state, &user).await.map(Json)
}

/// # `GET /api/v1/meetings/{id}`
///
/// One meeting, for the members of its group.
#[utoipa::path(get, path = routes::MEETING.documented(), operation_id = "get_meeting",
    responses((status = 200, body = Meeting), (status = 403), (status = 404)))]
pub(crate) async fn get_meeting(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Meeting>> {
    meetings::get(&state, &user, &id).await.map(Json)
}

/// # `POST /api/v1/meetings/{id}/attendance`
///
/// Records who attended, until the meeting is held.
#[utoipa::path(post, path = routes::MEETING_ATTENDANCE.documented(), operation_id = "record_meeting_attendance",
    request_body = RecordAttendance,
    responses((status = 200, body = Meeting), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn attendance(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<RecordAttendance>,
) -> Result<Json<Meeting>> {
    meetings::record_attendance(&state, &user, &id, request)
        .await
        .map(Json)
}

/// # `POST /api/v1/meetings/{id}/decisions`
///
/// Records the decision about one situation, its sealed note and the next review.
#[utoipa::path(post, path = routes::MEETING_DECISIONS.documented(), operation_id = "decide_meeting_situation",
    request_body = DecideSituation,
    responses((status = 200, body = Meeting), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn decide(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<DecideSituation>,
) -> Result<Json<Meeting>> {
    meetings::decide(&state, &user, &id, request)
        .await
        .map(Json)
}

/// # `POST /api/v1/meetings/{id}/minutes`
///
/// Records the minutes, sealed for the group.
#[utoipa::path(post, path = routes::MEETING_MINUTES.documented(), operation_id = "write_meeting_minutes",
    request_body = WriteMinutes,
    responses((status = 200, body = Meeting), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn minutes(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<WriteMinutes>,
) -> Result<Json<Meeting>> {
    meetings::write_minutes(&state, &user, &id, request)
        .await
        .map(Json)
}

/// # `POST /api/v1/meetings/{id}/close`
///
/// Closes the meeting: its decisions are frozen and counted by the annual report.
#[utoipa::path(post, path = routes::MEETING_CLOSE.documented(), operation_id = "close_meeting",
    responses((status = 200, body = Meeting), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Meeting>> {
    meetings::close(&state, &user, &id).await.map(Json)
}

/// # `POST /api/v1/meetings/{id}/agenda`
///
/// Changes the agenda of a meeting not held yet; decided situations stay on it.
#[utoipa::path(post, path = routes::MEETING_AGENDA.documented(), operation_id = "change_meeting_agenda",
    request_body = ChangeAgenda,
    responses((status = 200, body = Meeting), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn agenda(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ChangeAgenda>,
) -> Result<Json<Meeting>> {
    meetings::change_agenda(&state, &user, &id, request)
        .await
        .map(Json)
}

/// # `POST /api/v1/meetings/{id}/cancel`
///
/// Cancels a meeting nothing was decided in yet: it is deleted.
#[utoipa::path(post, path = routes::MEETING_CANCEL.documented(), operation_id = "cancel_meeting",
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    meetings::cancel(&state, &user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
