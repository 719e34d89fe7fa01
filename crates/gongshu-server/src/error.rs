//! The HTTP face of `gongshu_core::Error`: the one table from error code to status, and
//! the body `{"error": {"code", "message", "fields"}}` in the caller's language.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gongshu_core::error::Lang;
use gongshu_core::{Error, ErrorCode};
use serde::Serialize;
use utoipa::ToSchema;

pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::Validation => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Duplicate | ErrorCode::VersionConflict | ErrorCode::InvalidState => {
            StatusCode::CONFLICT
        }
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Timeout => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error on its way to an API client.
#[derive(Debug)]
pub struct ApiError {
    pub error: Error,
    pub lang: Lang,
}

impl ApiError {
    pub(crate) fn new(error: Error, lang: Lang) -> Self {
        Self { error, lang }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code, e.g. `validation_failed`, `version_conflict`.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldProblem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub code: String,
    pub message: String,
}

pub(crate) fn error_body(e: &Error, lang: Lang) -> ErrorBody {
    ErrorBody {
        error: ErrorDetail {
            code: e.code.as_str().to_owned(),
            message: e.message(lang).to_owned(),
            fields: e
                .fields
                .iter()
                .map(|f| FieldProblem {
                    field: f.field.clone(),
                    code: f.code.to_owned(),
                    message: match lang {
                        Lang::Zh => f.message_zh.clone(),
                        Lang::En => f.message_en.clone(),
                    },
                })
                .collect(),
        },
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.error.code);
        let mut r = (status, axum::Json(error_body(&self.error, self.lang))).into_response();
        retry_after(&mut r, &self.error);
        r
    }
}

/// A 429 says when to come back (RFC 9110 §10.2.3): the error's own wait, or a minute.
pub(crate) fn retry_after(r: &mut Response, e: &Error) {
    if e.code == ErrorCode::RateLimited {
        let seconds = e.retry_after.unwrap_or(60);
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(seconds),
        );
    }
}
