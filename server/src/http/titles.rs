//! Sealed channel titles (docs/PROTOCOL.md §24): a member's device seals the title a
//! person typed under the channel's epoch key; the server stores the envelope and shows
//! the random reference.

use axum::extract::{Path, State};
use axum::{Json, Router};
use passerelle_shared::protocol::v1::channels::Channel;
use passerelle_shared::protocol::v1::routes;
use passerelle_shared::protocol::v1::sealed_meta::SealTitle;

use crate::app::channels;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().endpoint(routes::CHANNEL_TITLE_SEAL, seal_title)
}

/// # `PUT /api/v1/channels/{id}/title`
///
/// A member seals the channel's title, changes it, or re-seals it under the current
/// epoch for the members who joined since; answers the channel with its sealed title.
#[utoipa::path(put, path = routes::CHANNEL_TITLE_SEAL.documented(), operation_id = "seal_channel_title", request_body = SealTitle,
    responses((status = 200, body = Channel), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn seal_title(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SealTitle>,
) -> Result<Json<Channel>> {
    channels::seal_title(&state, &user, &id, request)
        .await
        .map(Json)
}
