//! Invitations by one-time link: the admin issues the link, the invited person uses it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::invitations::{AcceptInvitation, InvitationLink};
use passerelle_shared::protocol::v1::routes;
use zeroize::Zeroizing;

use crate::app::invitations;
use crate::auth::{ClientInfo, CurrentUser};
use crate::error::Result;
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::ACCOUNT_INVITE, create)
        .endpoint(routes::INVITATION_ACCEPT, accept)
}

/// # `POST /api/v1/admin/users/{id}/invitation`
///
/// A link that lets the person choose their password, once, within a week; it replaces
/// any unused one. Shown once: the admin (or the coordinator of one of the person's
/// working groups) sends it to the person.
#[utoipa::path(post, path = routes::ACCOUNT_INVITE.documented(),
    responses((status = 200, body = InvitationLink), (status = 403), (status = 404), (status = 422)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<InvitationLink>> {
    invitations::invite(&state, &user, &id).await.map(Json)
}

/// # `POST /api/v1/invitations/accept`
///
/// Without a session: the link's token is the proof. Sets the chosen password; the
/// second factor is enrolled at the first login.
#[utoipa::path(post, path = routes::INVITATION_ACCEPT.documented(), request_body = AcceptInvitation,
    responses((status = 204), (status = 400), (status = 422)))]
pub(crate) async fn accept(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<AcceptInvitation>,
) -> Result<StatusCode> {
    invitations::accept(
        &state,
        &client,
        Zeroizing::new(request.token),
        Zeroizing::new(request.new_password),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
