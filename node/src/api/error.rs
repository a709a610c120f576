//! API errors: `{"code", "message"}` with the status the design assigns
//! (400 bad input, 403 role, 404 unknown id, 409 duplicate, 413 too large,
//! 422 rule broken, 503 not ready).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use charity_ledger::TxError;
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable snake_case code.
    pub code: String,
    /// What went wrong, naming the values.
    pub message: String,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 500, for a store that could not be read.
    pub fn internal(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
    }
}

impl From<TxError> for ApiError {
    fn from(e: TxError) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<charity_ledger::kv::KvError> for ApiError {
    fn from(e: charity_ledger::kv::KvError) -> Self {
        ApiError::internal(e.code(), e.to_string())
    }
}

impl From<charity_ledger::StoreError> for ApiError {
    fn from(e: charity_ledger::StoreError) -> Self {
        use charity_ledger::StoreError::*;
        let status = match &e {
            NotFound(_) => StatusCode::NOT_FOUND,
            BadRequest(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response()
    }
}
