//! REST handlers under `/api/v1`, one file per resource, each exposing `router()`.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod case_identity;
pub mod cases;
pub mod channels;
pub mod charter;
pub mod coordinators;
pub mod edge;
pub mod field_reports;
pub mod health;
pub mod invitations;
pub mod json;
pub mod key_log;
pub mod keys;
pub mod me;
pub mod meetings;
pub mod openapi;
pub mod practice;
pub mod referrals;
pub mod reports;
pub mod routing;
pub mod titles;
pub mod webauthn;

use axum::Router;

use crate::state::AppState;

/// Every REST route under `/api/v1` (the WebSocket endpoint is merged beside them, in
/// [`crate::app`]).
pub fn api_router() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(me::router())
        .merge(webauthn::router())
        .merge(admin::router())
        .merge(invitations::router())
        .merge(audit::router())
        .merge(keys::router())
        .merge(key_log::router())
        .merge(reports::router())
        .merge(channels::router())
        .merge(charter::router())
        .merge(cases::router())
        .merge(case_identity::router())
        .merge(titles::router())
        .merge(coordinators::router())
        .merge(field_reports::router())
        .merge(meetings::router())
        .merge(practice::router())
        .merge(referrals::router())
        .merge(openapi::router())
}
