//! Liveness, readiness and metrics, outside `/api/v1`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use sea_orm::ConnectionTrait;

use crate::state::AppState;

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// # `GET /healthz`: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// # `GET /readyz`: the database answers, and this node applies the access feed (an
/// exclusion committed on any node reaches its connections).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if !state.access.ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, "access feed unavailable");
    }
    match state.db.execute_unprepared("SELECT 1").await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(err) => {
            tracing::warn!(error = %err, "database not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// # `GET /metrics`: Prometheus text format, for direct loopback clients only (a scraper on
/// the same host); counts are not for the world.
async fn metrics(State(state): State<AppState>, request: Request) -> impl IntoResponse {
    // A request relayed by a reverse proxy on the same host also comes from loopback; it
    // carries X-Forwarded-For, and is refused.
    let local = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback())
        && !request.headers().contains_key("x-forwarded-for");
    if !local {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain")],
            String::new(),
        );
    }
    match state.metrics.render() {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            String::new(),
        ),
    }
}
