//! Who is calling, in which language: from a Bearer token (programs) or a session cookie
//! (browsers). Requests that change state through a session must carry its CSRF token.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use gongshu_app::gongshu_store::CredentialKind;
use gongshu_core::authz::Principal;
use gongshu_core::error::Lang;
use gongshu_core::{Error, ErrorCode};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

pub(crate) const SESSION_COOKIE: &str = "gongshu_session";
pub(crate) const LOGIN_CSRF_COOKIE: &str = "gongshu_login_csrf";
pub(crate) const LANG_COOKIE: &str = "gongshu_lang";
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Pages are in Simplified Chinese unless the visitor chose English (the switch, which
/// sets a cookie, or `?lang=`): a browser's locale alone does not change a government
/// portal's language. API clients also get their `Accept-Language` honoured in messages.
fn lang_of(parts: &Parts, is_api: bool) -> Lang {
    let from_query = parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "lang")
            .map(|(_, v)| Lang::from_tag(v))
    });
    let from_header = || {
        parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(Lang::from_tag)
    };
    from_query
        .or_else(|| cookie(&parts.headers, LANG_COOKIE).map(Lang::from_tag))
        .or_else(|| if is_api { from_header() } else { None })
        .unwrap_or_default()
}

/// The caller of a request.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) caller: Option<Principal>,
    pub(crate) lang: Lang,
    /// The session's CSRF token when the caller came with a session cookie.
    pub(crate) csrf: Option<String>,
    /// The client's address (the connection's peer).
    pub(crate) client: Option<std::net::IpAddr>,
}

impl Ctx {
    pub(crate) fn fail(&self, e: Error) -> ApiError {
        ApiError::new(e, self.lang)
    }

    /// The authenticated caller, or 401. A token scoped to one grant only reads data
    /// (those routes take `caller` as it is), so it is refused here, where a caller acts.
    pub(crate) fn principal(&self) -> Result<&Principal, ApiError> {
        let p = self
            .caller
            .as_ref()
            .ok_or_else(|| self.fail(Error::unauthenticated()))?;
        match p.grant_scope {
            None => Ok(p),
            Some(grant) => Err(self.fail(Error::new(
                gongshu_core::ErrorCode::Forbidden,
                format!("该令牌仅限按第 {grant} 号授权读取数据"),
                format!("This token only reads data under grant {grant}"),
            ))),
        }
    }

    pub(crate) fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        match self.lang {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

impl<S> FromRequestParts<S> for Ctx
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let slot = parts.extensions.get::<crate::audit::AuditSlot>().cloned();
        if let Some(slot) = &slot {
            slot.set_route(
                parts
                    .extensions
                    .get::<axum::extract::MatchedPath>()
                    .map(|m| m.as_str().to_owned()),
            );
        }
        let client = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let ctx = Self::resolve(parts, &state)
            .await
            .map(|c| Self { client, ..c })?;
        if let Some(slot) = &slot {
            slot.set_caller(ctx.caller.clone());
        }
        if let Some(limits) = &state.limits
            && let Some(wait) = limits.check(ctx.caller.as_ref().map(|p| p.user_id), client)
        {
            return Err(ctx.fail(Error::rate_limited(
                wait,
                format!("请求过于频繁，请{wait}秒后再试"),
                format!("Too many requests; try again in {wait} seconds"),
            )));
        }
        Ok(ctx)
    }
}

impl Ctx {
    async fn resolve(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        // Nested routers see a URI without their prefix: ask for the one the client sent.
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |u| u.0.path().to_owned());
        let is_api = path.starts_with("/api/");
        let lang = lang_of(parts, is_api);
        let fail = |e| ApiError::new(e, lang);

        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            // A program that sends credentials must get an error for bad ones, never a
            // silent downgrade to anonymous.
            let token = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| fail(Error::unauthenticated()))?;
            let found = state
                .app
                .authenticate(token, CredentialKind::Api)
                .await
                .map_err(fail)?;
            return match found {
                Some((p, _)) => Ok(Self {
                    caller: Some(p),
                    lang,
                    csrf: None,
                    client: None,
                }),
                None => Err(fail(Error::new(
                    ErrorCode::Unauthenticated,
                    "令牌无效或已过期",
                    "The token is invalid or has expired",
                ))),
            };
        }

        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(Self {
                caller: None,
                lang,
                csrf: None,
                client: None,
            });
        };
        let found = state
            .app
            .authenticate(secret, CredentialKind::Session)
            .await
            .map_err(fail)?;
        let Some((principal, csrf)) = found else {
            return Ok(Self {
                caller: None,
                lang,
                csrf: None,
                client: None,
            });
        };
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if unsafe_method && is_api {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !csrf.as_deref().is_some_and(|c| same_secret(c, sent)) {
                return Err(fail(Error::new(
                    ErrorCode::Forbidden,
                    "缺少或错误的CSRF令牌",
                    "Missing or wrong CSRF token",
                )));
            }
        }
        Ok(Self {
            caller: Some(principal),
            lang,
            csrf,
            client: None,
        })
    }
}
