//! Referrals of the intervenant social au commissariat (issue 21, item 1).
//!
//! **Minimisation (CHARTER.md C7, C8).** A referral carries closed-list values and
//! institution and account ids, never the person; what the referrer writes travels
//! end-to-end encrypted.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::referrals::{
    AcceptReferral, AdvanceReferral, DeclineReferral, OpenReferral, Referral, ReferralList,
};
use passerelle_shared::protocol::v1::routes;

use crate::app::referrals;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::REFERRAL_OPEN, open)
        .endpoint(routes::REFERRALS, list)
        .endpoint(routes::REFERRAL, get_referral)
        .endpoint(routes::REFERRAL_ACCEPT, accept)
        .endpoint(routes::REFERRAL_DECLINE, decline)
        .endpoint(routes::REFERRAL_STATUS, advance)
}

/// # `POST /api/v1/referrals`
///
/// A referrer (the intervenant social au commissariat) refers a person to another
/// institution.
#[utoipa::path(post, path = routes::REFERRAL_OPEN.documented(), operation_id = "open_referral",
    request_body = OpenReferral,
    responses((status = 201, body = Referral), (status = 403), (status = 409), (status = 422)))]
pub(crate) async fn open(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<OpenReferral>,
) -> Result<(StatusCode, Json<Referral>)> {
    let referral = referrals::open(&state, &user, request).await?;
    Ok((StatusCode::CREATED, Json(referral)))
}

/// # `GET /api/v1/referrals`
///
/// The referrals sent by the caller, those addressed to their institution, and for the
/// coordinator every one.
#[utoipa::path(get, path = routes::REFERRALS.documented(), operation_id = "list_referrals",
    responses((status = 200, body = ReferralList), (status = 403)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<ReferralList>> {
    referrals::list(&state, &user).await.map(Json)
}

/// # `GET /api/v1/referrals/{id}`
///
/// One referral, for its referrer, the target institution and the coordinator.
#[utoipa::path(get, path = routes::REFERRAL.documented(), operation_id = "get_referral",
    responses((status = 200, body = Referral), (status = 404)))]
pub(crate) async fn get_referral(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Referral>> {
    referrals::get(&state, &user, &id).await.map(Json)
}

/// # `POST /api/v1/referrals/{id}/accept`
///
/// A professional of the target institution (or the coordinator) accepts: a case opens
/// with the referent.
#[utoipa::path(post, path = routes::REFERRAL_ACCEPT.documented(), operation_id = "accept_referral",
    request_body = AcceptReferral,
    responses((status = 200, body = Referral), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn accept(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<AcceptReferral>,
) -> Result<Json<Referral>> {
    referrals::accept(&state, &user, &id, request)
        .await
        .map(Json)
}

/// # `POST /api/v1/referrals/{id}/decline`
///
/// A professional of the target institution (or the coordinator) declines, with a reason.
#[utoipa::path(post, path = routes::REFERRAL_DECLINE.documented(), operation_id = "decline_referral",
    request_body = DeclineReferral,
    responses((status = 200, body = Referral), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn decline(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<DeclineReferral>,
) -> Result<Json<Referral>> {
    referrals::decline(&state, &user, &id, request)
        .await
        .map(Json)
}

/// # `POST /api/v1/referrals/{id}/status`
///
/// The referent (or the coordinator) records that the follow-up started, then closes the
/// referral.
#[utoipa::path(post, path = routes::REFERRAL_STATUS.documented(), operation_id = "advance_referral",
    request_body = AdvanceReferral,
    responses((status = 200, body = Referral), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn advance(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<AdvanceReferral>,
) -> Result<Json<Referral>> {
    referrals::advance(&state, &user, &id, request)
        .await
        .map(Json)
}
