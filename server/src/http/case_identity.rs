//! The person's identity on a case (CHARTER.md C7; docs/PROTOCOL.md §19): sealed by the
//! client for the case's coordinators and referent only; the server stores ciphertext
//! and wrapped keys, and logs every opening.

use axum::extract::{Path, State};
use axum::{Json, Router};
use passerelle_shared::protocol::v1::case_identity::{
    IdentityReaders, IdentityStatus, SealIdentity, SealedIdentity,
};
use passerelle_shared::protocol::v1::routes;
use serde::Deserialize;

use crate::app::case_identity;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::http::json::{ApiJson, ApiQuery};
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::CASE_IDENTITY, open)
        .endpoint(routes::CASE_IDENTITY_SEAL, seal)
        .endpoint(routes::CASE_IDENTITY_READERS, readers)
}

/// Query of `GET /api/v1/cases/{id}/identity`.
#[derive(Debug, Deserialize)]
pub(crate) struct OpenQuery {
    device_id: String,
}

/// # `GET /api/v1/cases/{id}/identity?device_id=`
///
/// The sealed identity and the key wrapped for the caller's device, for the case's
/// coordinators and referent only (`403 identity_restricted` for anyone else). Every
/// opening is logged (`case_identity_opened`).
#[utoipa::path(get, path = routes::CASE_IDENTITY.documented(),
    responses((status = 200, body = SealedIdentity), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn open(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OpenQuery>,
) -> Result<Json<SealedIdentity>> {
    case_identity::open(&state, &user, &id, &query.device_id)
        .await
        .map(Json)
}

/// # `PUT /api/v1/cases/{id}/identity`
///
/// A coordinator or the referent records the identity, or seals it again for the current
/// readers (after a referent change or a new device): the record key wrapped for exactly
/// their live devices, the next version.
#[utoipa::path(put, path = routes::CASE_IDENTITY_SEAL.documented(), request_body = SealIdentity,
    responses((status = 200, body = IdentityStatus), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn seal(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SealIdentity>,
) -> Result<Json<IdentityStatus>> {
    case_identity::seal(&state, &user, &id, request)
        .await
        .map(Json)
}

/// # `GET /api/v1/cases/{id}/identity/readers`
///
/// Whom the next version must be sealed for: the case's coordinators and referent and
/// their live devices (the client checks each device against its owner's identity key).
#[utoipa::path(get, path = routes::CASE_IDENTITY_READERS.documented(),
    responses((status = 200, body = IdentityReaders), (status = 403), (status = 404)))]
pub(crate) async fn readers(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<IdentityReaders>> {
    case_identity::readers_of(&state, &user, &id)
        .await
        .map(Json)
}
