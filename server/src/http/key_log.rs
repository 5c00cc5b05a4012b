//! The key transparency log (docs/PROTOCOL.md §25): head, consistency, pages of the
//! whole log, and a user's entries with inclusion proofs.

use axum::extract::{Path, State};
use axum::{Json, Router};
use passerelle_shared::protocol::v1::key_log::{
    KeyLogConsistency, KeyLogEntries, KeyLogHeadBody, UserKeyLog,
};
use passerelle_shared::protocol::v1::routes;
use serde::Deserialize;

use crate::app::key_log;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::http::json::ApiQuery;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::KEY_LOG_HEAD, head)
        .endpoint(routes::KEY_LOG_CONSISTENCY, consistency)
        .endpoint(routes::KEY_LOG_USER, user_entries)
        .endpoint(routes::KEY_LOG_ENTRIES, entries)
}

/// # `GET /api/v1/keys/log/head`
///
/// The key log's latest checkpoint, signed, and the log's verifier key.
#[utoipa::path(get, path = routes::KEY_LOG_HEAD.documented(), operation_id = "key_log_head",
    responses((status = 200, body = KeyLogHeadBody), (status = 401)))]
pub(crate) async fn head(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Json<KeyLogHeadBody>> {
    key_log::head(&state).await.map(Json)
}

/// Query of `GET /api/v1/keys/log/consistency`.
#[derive(Debug, Deserialize)]
pub(crate) struct ConsistencyQuery {
    from: u64,
    to: u64,
}

/// # `GET /api/v1/keys/log/consistency?from=&to=`
///
/// Proves that the tree of `to` entries extends the tree of `from` entries.
#[utoipa::path(get, path = routes::KEY_LOG_CONSISTENCY.documented(), operation_id = "key_log_consistency",
    params(("from" = u64, Query, description = "The earlier tree size"),
        ("to" = u64, Query, description = "The later tree size, at most the log's")),
    responses((status = 200, body = KeyLogConsistency), (status = 400), (status = 422)))]
pub(crate) async fn consistency(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<ConsistencyQuery>,
) -> Result<Json<KeyLogConsistency>> {
    key_log::consistency(&state, &user, query.from, query.to)
        .await
        .map(Json)
}

/// Query of `GET /api/v1/keys/log/entries`.
#[derive(Debug, Deserialize)]
pub(crate) struct EntriesQuery {
    start: u64,
    end: u64,
}

/// # `GET /api/v1/keys/log/entries?start=&end=`
///
/// The entries `start..end` of the log (at most 1000), for clients that audit all of it.
#[utoipa::path(get, path = routes::KEY_LOG_ENTRIES.documented(), operation_id = "key_log_entries",
    params(("start" = u64, Query, description = "The first index"),
        ("end" = u64, Query, description = "One past the last index: at most the log's size, and at most 1000 after `start`")),
    responses((status = 200, body = KeyLogEntries), (status = 400), (status = 422)))]
pub(crate) async fn entries(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<EntriesQuery>,
) -> Result<Json<KeyLogEntries>> {
    key_log::entries(&state, &user, query.start, query.end)
        .await
        .map(Json)
}

/// Query of `GET /api/v1/keys/log/users/{user_id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct UserQuery {
    size: Option<u64>,
}

/// # `GET /api/v1/keys/log/users/{user_id}?size=`
///
/// Every entry of a user (identities past and present, devices and their revocations)
/// in the tree of `size` entries (default: the whole log), with inclusion proofs.
#[utoipa::path(get, path = routes::KEY_LOG_USER.documented(), operation_id = "key_log_user",
    params(("user_id" = String, Path, description = "The user"),
        ("size" = Option<u64>, Query, description = "Tree size the proofs are for (default: the log's)")),
    responses((status = 200, body = UserKeyLog), (status = 404), (status = 422)))]
pub(crate) async fn user_entries(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(user_id): Path<String>,
    ApiQuery(query): ApiQuery<UserQuery>,
) -> Result<Json<UserKeyLog>> {
    key_log::user_entries(&state, &user, &user_id, query.size)
        .await
        .map(Json)
}
