//! API errors: one JSON shape, `{"error": code, "message": text}`, where the message says
//! what failed and what to do. Internal details are logged, never returned.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tssw_auth::AuthError;

use crate::store::StoreError;

/// What an API call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 401.
    #[error("{0}")]
    Unauthorized(#[from] AuthError),
    /// 400: the request is malformed; the text says how.
    #[error("{0}")]
    BadRequest(String),
    /// 403: authenticated, but not allowed (e.g. a contribution from an unregistered device).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource for this account (another account's ids are 404 too).
    #[error("not found")]
    NotFound,
    /// 409: the request conflicts with the resource's state; the text says which.
    #[error("{0}")]
    Conflict(String),
    /// 429: over a limit; retry later.
    #[error("{0}")]
    TooManyRequests(String),
    /// 503: a service this server needs is not configured or not answering.
    #[error("{0}")]
    Unavailable(String),
    /// 500, from storage.
    #[error("internal error")]
    Internal(#[from] StoreError),
    /// 500, anything else; the text is logged, not returned.
    #[error("internal error")]
    Bug(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "storage failure");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
            ApiError::Bug(e) => {
                tracing::error!(error = %e, "internal failure");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let message = match &self {
            ApiError::Internal(_) | ApiError::Bug(_) => "internal error; the server log has the details".to_string(),
            other => other.to_string(),
        };
        let mut response = (status, Json(serde_json::json!({"error": code, "message": message}))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
