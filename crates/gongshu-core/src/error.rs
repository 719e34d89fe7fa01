//! The one table of error codes. Each code has a stable machine name; the server maps
//! each to an HTTP status in exactly one place.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request could not be read (malformed JSON, wrong content type).
    BadRequest,
    /// The request was read but a field is invalid; `fields` says which.
    Validation,
    /// No or bad credentials.
    Unauthenticated,
    /// Authenticated, but the role or region does not allow it.
    Forbidden,
    NotFound,
    /// Would create a duplicate (code, username, credit code …).
    Duplicate,
    /// The entry changed since the caller read it (optimistic version check).
    VersionConflict,
    /// The workflow does not allow this step from the current state.
    InvalidState,
    PayloadTooLarge,
    /// The work took longer than the platform allows (a query, a conversion).
    Timeout,
    RateLimited,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Validation => "validation_failed",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Duplicate => "duplicate",
            Self::VersionConflict => "version_conflict",
            Self::InvalidState => "invalid_state",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Timeout => "timeout",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
        }
    }
}

/// A problem with one field of an input, in both languages of the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON path of the field, e.g. `items[2].name`.
    pub field: String,
    /// Stable machine code, e.g. `required`, `too_long`, `check_digit`.
    pub code: &'static str,
    pub message_zh: String,
    pub message_en: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: &'static str,
        zh: impl Into<String>,
        en: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code,
            message_zh: zh.into(),
            message_en: en.into(),
        }
    }
}

/// A domain error: what went wrong, said to a user in Chinese and English. Internal
/// details never go in here; they are logged where they happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message_en}")]
pub struct Error {
    pub code: ErrorCode,
    pub message_zh: String,
    pub message_en: String,
    pub fields: Vec<FieldError>,
    /// For `RateLimited`: seconds until the caller may try again.
    pub retry_after: Option<u64>,
}

impl Error {
    pub fn new(code: ErrorCode, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            code,
            message_zh: zh.into(),
            message_en: en.into(),
            fields: Vec::new(),
            retry_after: None,
        }
    }

    /// Too many requests; the caller may try again after `seconds`.
    pub fn rate_limited(seconds: u64, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            retry_after: Some(seconds.max(1)),
            ..Self::new(ErrorCode::RateLimited, zh, en)
        }
    }

    pub fn validation(fields: Vec<FieldError>) -> Self {
        Self {
            fields,
            ..Self::new(
                ErrorCode::Validation,
                "输入有误，请检查标出的字段",
                "Some fields are invalid",
            )
        }
    }

    pub fn not_found(what_zh: &str, what_en: &str) -> Self {
        Self::new(
            ErrorCode::NotFound,
            format!("{what_zh}不存在"),
            format!("{what_en} not found"),
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            ErrorCode::Forbidden,
            "无权执行此操作",
            "You are not allowed to do this",
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            ErrorCode::Unauthenticated,
            "请先登录",
            "Authentication required",
        )
    }

    pub fn version_conflict() -> Self {
        Self::new(
            ErrorCode::VersionConflict,
            "该条目已被他人修改，请刷新后重试",
            "The entry was changed by someone else; reload and retry",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            ErrorCode::Internal,
            "服务器内部错误",
            "Internal server error",
        )
    }

    pub fn message(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.message_zh,
            Lang::En => &self.message_en,
        }
    }
}

/// The two languages of the interface; Simplified Chinese is the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// Picks the language from an `Accept-Language` header or a `lang` parameter: English
    /// only when asked for before any Chinese.
    pub fn from_tag(tag: &str) -> Self {
        for part in tag.split(',') {
            let t = part.trim().to_ascii_lowercase();
            if t.starts_with("zh") {
                return Self::Zh;
            }
            if t.starts_with("en") {
                return Self::En;
            }
        }
        Self::Zh
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_negotiation_defaults_to_chinese() {
        for (tag, want) in [
            ("", Lang::Zh),
            ("en-US,en;q=0.9", Lang::En),
            ("zh-CN,zh;q=0.9,en;q=0.8", Lang::Zh),
            ("fr, en", Lang::En),
            ("de", Lang::Zh),
        ] {
            assert_eq!(Lang::from_tag(tag), want, "{tag}");
        }
    }
}
