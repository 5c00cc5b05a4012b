//! The coordinators a working group names (CHARTER.md C1).

use axum::extract::{Path, State};
use axum::{Json, Router};
use passerelle_shared::protocol::v1::channels::{GroupCoordinators, SetGroupCoordinators};
use passerelle_shared::protocol::v1::routes;

use crate::app::group_coordinators;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::CHANNEL_COORDINATORS, list)
        .endpoint(routes::CHANNEL_COORDINATORS_SET, set)
}

/// # `GET /api/v1/channels/{id}/coordinators`
///
/// A working group's named coordinators, for its members and the admin.
#[utoipa::path(get, path = routes::CHANNEL_COORDINATORS.documented(), operation_id = "list_group_coordinators",
    responses((status = 200, body = GroupCoordinators), (status = 404)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<GroupCoordinators>> {
    group_coordinators::list(&state, &user, &id).await.map(Json)
}

/// # `PUT /api/v1/channels/{id}/coordinators`
///
/// An admin or a coordinator of the group names its coordinators among its members.
#[utoipa::path(put, path = routes::CHANNEL_COORDINATORS_SET.documented(), operation_id = "set_group_coordinators", request_body = SetGroupCoordinators,
    responses((status = 200, body = GroupCoordinators), (status = 403), (status = 404), (status = 422)))]
pub(crate) async fn set(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SetGroupCoordinators>,
) -> Result<Json<GroupCoordinators>> {
    group_coordinators::set(&state, &user, &id, request)
        .await
        .map(Json)
}
