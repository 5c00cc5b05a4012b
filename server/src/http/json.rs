//! JSON body and query-string extractors whose refusals are [`ApiError`]s and are logged.
//!
//! serde's messages can quote the offending value (a password, say), so the client gets
//! a generic French message and the access log gets the kind of error, never the body.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::auth::ClientInfo;
use crate::error::ApiError;
use crate::state::AppState;

/// `Json<T>` with Passerelle's errors.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let client = ClientInfo::from_parts(&parts, &state.config);
        let path = parts.uri.path().to_owned();
        let request = Request::from_parts(parts, body);
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => {
                let (kind, error) = classify(&rejection);
                state
                    .record_denial(
                        client.anonymous_actor(),
                        "request_malformed",
                        None,
                        json!({ "reason": kind, "path": path }),
                    )
                    .await;
                Err(error)
            }
        }
    }
}

/// An optional JSON body: a request without `Content-Type` has none (`None`); one with it
/// is read as [`ApiJson`] (refused and logged the same way).
#[derive(Debug)]
pub struct OptionalApiJson<T>(pub Option<T>);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for OptionalApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !request
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
        {
            return Ok(OptionalApiJson(None));
        }
        ApiJson::<T>::from_request(request, state)
            .await
            .map(|ApiJson(value)| OptionalApiJson(Some(value)))
    }
}

fn classify(rejection: &JsonRejection) -> (&'static str, ApiError) {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => (
            "content_type",
            ApiError::BadRequest(
                "le contenu doit être du JSON (Content-Type: application/json)".into(),
            ),
        ),
        JsonRejection::JsonSyntaxError(_) => {
            ("syntax", ApiError::BadRequest("JSON mal formé".into()))
        }
        JsonRejection::JsonDataError(_) => (
            "fields",
            ApiError::BadRequest("champ manquant ou de type incorrect".into()),
        ),
        JsonRejection::BytesRejection(bytes) if bytes.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ("too_large", ApiError::PayloadTooLarge)
        }
        _ => (
            "unreadable",
            ApiError::BadRequest("corps de requête illisible".into()),
        ),
    }
}

/// A raw body (an attachment) with Passerelle's errors: a body over the route's limit is
/// answered 413 in French and recorded, like an oversized JSON body.
#[derive(Debug)]
pub struct ApiBytes(pub Bytes);

impl FromRequest<AppState> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let client = ClientInfo::from_parts(&parts, &state.config);
        let path = parts.uri.path().to_owned();
        let request = Request::from_parts(parts, body);
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(ApiBytes(bytes)),
            Err(rejection) => {
                let (kind, error) = match &rejection {
                    BytesRejection::FailedToBufferBody(_)
                        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
                    {
                        ("too_large", ApiError::PayloadTooLarge)
                    }
                    _ => (
                        "unreadable",
                        ApiError::BadRequest("corps de requête illisible".into()),
                    ),
                };
                state
                    .record_denial(
                        client.anonymous_actor(),
                        "request_malformed",
                        None,
                        json!({ "reason": kind, "path": path }),
                    )
                    .await;
                Err(error)
            }
        }
    }
}

/// `Query<T>` with Passerelle's errors: a malformed query string is answered in French
/// and recorded, like a malformed body.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match Query::<T>::try_from_uri(&parts.uri) {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(_) => {
                let client = ClientInfo::from_parts(parts, &state.config);
                state
                    .record_denial(
                        client.anonymous_actor(),
                        "request_malformed",
                        None,
                        json!({ "reason": "query", "path": parts.uri.path() }),
                    )
                    .await;
                Err(ApiError::BadRequest("paramètres de l'adresse".into()))
            }
        }
    }
}
