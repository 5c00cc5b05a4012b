//! Cases and their lifecycle (CHARTER.md C7, C8, C11, C13).
//!
//! **Minimisation (C8).** Cases are described by closed lists. The only free text is short
//! (280 characters for a note, 500 for the reason to read an archive) and must contain no
//! name, no offence and no health data. The person's identity is never sent to these
//! routes: if it is recorded at all, it goes end-to-end encrypted into the case channel.
//! There is no route that lists, searches or exports cases (C10).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::cases::{
    ArchiveAccess, ArchiveCase, CaseView, CreateCase, InformationRecord, NoticeTemplate,
    OpenArchived, UpdateCase,
};
use passerelle_shared::protocol::v1::routes;
use passerelle_shared::protocol::v1::sealed_meta::SealNote;

use crate::app::cases;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::CASE_CREATE, create)
        .endpoint(routes::CASE_NOTICE_TEMPLATES, notice_templates)
        .endpoint(routes::CASE, get_case)
        .endpoint(routes::CASE_UPDATE, update)
        .endpoint(routes::CASE_INFORMATION, record_information)
        .endpoint(routes::CASE_NOTE_RESEAL, reseal_note)
        .endpoint(routes::CASE_ARCHIVE, archive)
        .endpoint(routes::CASE_OPEN_ARCHIVED, open_archived)
}

/// # `POST /api/v1/cases`
///
/// A coordinator opens a case, named by a random case reference. Closed lists only; no
/// field for the person's identity (minimisation, CHARTER.md C7–C8).
#[utoipa::path(post, path = routes::CASE_CREATE.documented(), operation_id = "create_case", request_body = CreateCase,
    responses((status = 201, body = CaseView), (status = 403), (status = 422)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<CreateCase>,
) -> Result<(StatusCode, Json<CaseView>)> {
    let case = cases::create(&state, &user, request).await?;
    Ok((StatusCode::CREATED, Json(case)))
}

/// # `GET /api/v1/cases/notice-templates`
///
/// Model texts, in French, to inform the person or their guardians (CHARTER.md C13).
#[utoipa::path(get, path = routes::CASE_NOTICE_TEMPLATES.documented(), responses((status = 200, body = [NoticeTemplate])))]
pub(crate) async fn notice_templates(_user: CurrentUser) -> Json<Vec<NoticeTemplate>> {
    Json(cases::notice_templates())
}

/// # `GET /api/v1/cases/{id}`
///
/// A case's record, for its members; an archived case only after `open-archived`.
#[utoipa::path(get, path = routes::CASE.documented(), responses((status = 200, body = CaseView), (status = 403), (status = 404)))]
pub(crate) async fn get_case(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<CaseView>> {
    cases::get(&state, &user, &id).await.map(Json)
}

/// # `PATCH /api/v1/cases/{id}`
///
/// Follow-up status, referent, or an earlier destruction limit (the coordinator or the
/// referent).
#[utoipa::path(patch, path = routes::CASE_UPDATE.documented(), request_body = UpdateCase,
    responses((status = 200, body = CaseView), (status = 403), (status = 404), (status = 422)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateCase>,
) -> Result<Json<CaseView>> {
    cases::update(&state, &user, &id, request).await.map(Json)
}

/// # `PUT /api/v1/cases/{id}/information`
///
/// When, how and by whom the person was informed, or the documented reason for not
/// informing them (CHARTER.md C13). The note is short (280 characters) and holds no name,
/// no offence and no health data.
#[utoipa::path(put, path = routes::CASE_INFORMATION.documented(), request_body = InformationRecord,
    responses((status = 200, body = CaseView), (status = 403), (status = 404), (status = 422)))]
pub(crate) async fn record_information(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<InformationRecord>,
) -> Result<Json<CaseView>> {
    cases::record_information(&state, &user, &id, request)
        .await
        .map(Json)
}

/// # `PUT /api/v1/cases/{id}/note`
///
/// A member seals the case's note again, unchanged, under the current epoch, so that the
/// members who joined since read it (docs/PROTOCOL.md §24).
#[utoipa::path(put, path = routes::CASE_NOTE_RESEAL.documented(), operation_id = "reseal_case_note", request_body = SealNote,
    responses((status = 200, body = CaseView), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn reseal_note(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SealNote>,
) -> Result<Json<CaseView>> {
    cases::reseal_note(&state, &user, &id, request)
        .await
        .map(Json)
}

/// # `POST /api/v1/channels/{id}/archive`
///
/// The coordinator ends the follow-up: the case becomes read-only and is destroyed at the
/// earlier of three years after `end_date` and the limit given (CHARTER.md C11).
#[utoipa::path(post, path = routes::CASE_ARCHIVE.documented(), request_body = ArchiveCase,
    responses((status = 200, body = CaseView), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn archive(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ArchiveCase>,
) -> Result<Json<CaseView>> {
    cases::archive(&state, &user, &id, request).await.map(Json)
}

/// # `POST /api/v1/channels/{id}/open-archived`
///
/// Opens an archived case to the caller for a limited time, on a written reason (10 to
/// 500 characters, logged in the access log: say why, not about whom).
#[utoipa::path(post, path = routes::CASE_OPEN_ARCHIVED.documented(), request_body = OpenArchived,
    responses((status = 200, body = ArchiveAccess), (status = 403), (status = 404), (status = 422)))]
pub(crate) async fn open_archived(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<OpenArchived>,
) -> Result<Json<ArchiveAccess>> {
    cases::open_archived(&state, &user, &id, &request.reason)
        .await
        .map(Json)
}
