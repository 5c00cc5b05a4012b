//! The WebSocket endpoint `/api/v1/ws`: authentication at the upgrade, then one
//! [`connection`] per WebSocket, fed by the hub ([`crate::bus::hub`]).

pub mod connection;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::Router;
use passerelle_shared::crypto::DeviceSigningPublicKey;
use passerelle_shared::protocol::v1::routes;
use passerelle_shared::protocol::v1::ws::MAX_CLIENT_FRAME_BYTES;
use serde::Deserialize;
use serde_json::json;

use crate::audit::Outcome;
use crate::auth::{self, session as tokens, ClientInfo};
use crate::db;
use crate::error::{ApiError, Result, WebauthnRefusal};
use crate::http::json::ApiQuery;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// Connections one account may hold at once (several devices and tabs, not a flood).
pub const MAX_CONNECTIONS_PER_USER: usize = 16;

/// `/api/v1/ws`.
pub fn router() -> Router<AppState> {
    Router::new().endpoint(routes::WEBSOCKET, upgrade)
}

/// Query of the upgrade request.
#[derive(Debug, Deserialize)]
pub(crate) struct WsQuery {
    device_id: String,
}

/// # `GET /api/v1/ws?device_id=`
///
/// Browsers authenticate with the session cookie and must come from the public origin;
/// programs send `Authorization: Bearer`. The device must be one of the account's live
/// devices: its key verifies every envelope sent on this connection.
async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    ApiQuery(query): ApiQuery<WsQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response> {
    let user = auth::authenticate(&state, &Method::GET, &headers, client.clone()).await;
    let user = match user {
        Ok(user) => user,
        Err(err) => {
            state
                .record_denial(
                    client.anonymous_actor(),
                    "ws_connect",
                    None,
                    json!({ "reason": err.code() }),
                )
                .await;
            return Err(err);
        }
    };
    // A session that must first register a key has no access to messages yet.
    if user.must_register_security_key {
        state
            .record_denial(
                user.actor(),
                "ws_connect",
                None,
                json!({ "reason": "webauthn_registration_required" }),
            )
            .await;
        return Err(ApiError::Webauthn(WebauthnRefusal::RegistrationRequired));
    }
    // A provisional password opens no connection: it must be changed first.
    if user.password_change_required {
        auth::provisional::refuse(&state, &user, "/api/v1/ws").await;
        return Err(ApiError::PasswordChangeRequired);
    }
    // A cookie is sent by the browser whatever page opens the socket: only our own
    // pages may use it (cross-site WebSocket hijacking).
    if tokens::bearer_token(&headers).is_none()
        && !auth::origin_matches(&headers, &state.config.browser_origins())
    {
        state
            .record_denial(
                user.actor(),
                "ws_connect",
                None,
                json!({ "reason": "bad_origin" }),
            )
            .await;
        return Err(ApiError::BadOrigin);
    }
    // A node that cannot read the access feed cannot tell whether this person was
    // excluded meanwhile (CHARTER.md C3): it serves no connection until it can.
    if !state.access.ready() {
        state
            .record_denial(
                user.actor(),
                "ws_connect",
                None,
                json!({ "reason": "access_unverifiable" }),
            )
            .await;
        return Err(ApiError::Unavailable);
    }
    let device = db::keys::find_device(&state.db, &query.device_id)
        .await?
        .filter(|d| d.user_id == user.user_id && d.revoked_at.is_none());
    let Some(device) = device else {
        state
            .record_denial(
                user.actor(),
                "ws_connect",
                Some(query.device_id.clone()),
                json!({ "reason": "unknown_or_revoked_device" }),
            )
            .await;
        return Err(ApiError::Forbidden);
    };
    // Counted across the cluster's nodes (a lease in Redis), this node's alone otherwise.
    let local = state.hub.connections_of(&user.user_id);
    let Some(lease) = state
        .bus
        .admit(&user.user_id, local, MAX_CONNECTIONS_PER_USER)
        .await
    else {
        state
            .record_denial(
                user.actor(),
                "ws_connect",
                None,
                json!({ "reason": "too_many_connections" }),
            )
            .await;
        return Err(ApiError::TooManyAttempts);
    };
    let signing_key =
        DeviceSigningPublicKey::from_base64url(&device.signing_key).map_err(ApiError::internal)?;
    // The session works for this device from now on: revoking it ends the session.
    db::sessions::bind_device(&state.db, &user.session_id, &device.id).await?;
    state
        .record(
            user.actor(),
            "ws_connected",
            Some(device.id.clone()),
            Outcome::Success,
            json!({}),
        )
        .await?;
    // Not smaller than 4 KiB: with 1 KiB (tried for memory per connection), a frame
    // larger than the buffer ended the connection in release builds (tungstenite reads
    // into a full buffer, apparently, and takes the 0 bytes read for EOF).
    Ok(upgrade
        .read_buffer_size(4096)
        .write_buffer_size(4096)
        .max_message_size(MAX_CLIENT_FRAME_BYTES)
        .max_frame_size(MAX_CLIENT_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            // The delay before an offline notice counts from the end of the last
            // connection, on whichever node it was.
            let user_id = user.user_id.clone();
            let notices = state.clone();
            crate::app::notices::seen_online(&notices, &user_id).await;
            connection::run(state, user, device.id, signing_key, socket, lease).await;
            crate::app::notices::seen_online(&notices, &user_id).await;
        }))
}
