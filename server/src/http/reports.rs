//! The annual report.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use passerelle_shared::protocol::v1::routes;
use serde::Deserialize;

use crate::app::reports::{self, AnnualReport};
use crate::auth::CurrentUser;
use crate::error::{ApiError, Result};
use crate::http::json::ApiQuery;
use crate::http::routing::Endpoints;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().endpoint(routes::ANNUAL_REPORT, annual)
}

/// Query of `GET /api/v1/reports/annual`.
#[derive(Debug, Deserialize)]
pub(crate) struct AnnualQuery {
    year: i32,
    #[serde(default)]
    format: Option<String>,
}

/// # `GET /api/v1/reports/annual?year=&format=json|csv`
///
/// Coordinators and admins; anonymous counts only.
#[utoipa::path(get, path = routes::ANNUAL_REPORT.documented(), responses((status = 200, body = AnnualReport), (status = 403)))]
pub(crate) async fn annual(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<AnnualQuery>,
) -> Result<Response> {
    let report = reports::annual(&state, &user, query.year).await?;
    match query.format.as_deref() {
        None | Some("json") => Ok(Json(report).into_response()),
        Some("csv") => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"rapport-annuel-{}.csv\"", query.year),
                ),
            ],
            reports::to_csv(&report),
        )
            .into_response()),
        Some(_) => Err(ApiError::BadRequest("format : json ou csv".into())),
    }
}
