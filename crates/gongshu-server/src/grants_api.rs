//! Grants and the inbox under `/api/v1`: what a holder was granted, what a provider
//! granted and how much of it was used today, termination on breach, notifications.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router, routing::get, routing::post};
use bytes::Bytes;
use gongshu_app::delivery::{ChannelsInput, ChannelsView};
use gongshu_app::grant_use::{GrantToken, GrantTokenInput, UseReportInput, UseReportView};
use gongshu_app::grants::{GrantDetail, GrantView, NotificationView};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::{json_body, query_error};
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/me/grants", get(my_grants))
        .route("/datasets/{id}/grants", get(entry_grants))
        .route("/grants/{id}", get(get_grant))
        .route("/grants/{id}/terminate", post(terminate))
        .route("/grants/{id}/tokens", post(issue_token))
        .route("/grants/{id}/reports", get(reports).post(file_report))
        .route("/inbox", get(inbox))
        .route("/me/channels", get(my_channels).put(set_channels))
        .route("/inbox/{id}/read", post(mark_read))
}

/// The grants the caller holds, personally or through their department.
#[utoipa::path(get, path = "/api/v1/me/grants", tag = "grants", security(("bearer" = [])),
    responses((status = 200, body = [GrantView]), (status = 401, body = ErrorBody)))]
async fn my_grants(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<Vec<GrantView>>> {
    let p = ctx.principal()?;
    Ok(Json(s.app.my_grants(p).await.map_err(|e| ctx.fail(e))?))
}

/// The grants on an entry with today's use (its provider, the authority and auditors).
#[utoipa::path(get, path = "/api/v1/datasets/{id}/grants", tag = "grants", security(("bearer" = [])),
    responses((status = 200, body = [GrantView]), (status = 403, body = ErrorBody)))]
async fn entry_grants(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<GrantView>>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.entry_grants(p, id).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// One grant and its history.
#[utoipa::path(get, path = "/api/v1/grants/{id}", tag = "grants", security(("bearer" = [])),
    responses((status = 200, body = GrantDetail), (status = 404, body = ErrorBody)))]
async fn get_grant(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<GrantDetail>> {
    let p = ctx.principal()?;
    Ok(Json(s.app.grant(p, id).await.map_err(|e| ctx.fail(e))?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TerminateInput {
    /// Why: the breach, or the end of the agreement.
    reason: String,
}

/// End a grant at once (the entry's provider). The holder and the authority are told.
#[utoipa::path(post, path = "/api/v1/grants/{id}/terminate", tag = "grants", request_body = TerminateInput,
    security(("bearer" = [])),
    responses((status = 200, body = GrantView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn terminate(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<GrantView>> {
    let p = ctx.principal()?;
    let input: TerminateInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .terminate_grant(p, id, &input.reason)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct InboxQuery {
    /// Only what is not read yet.
    #[serde(default)]
    unread: bool,
}

/// The caller's in-site notifications, newest first (at most 200).
#[utoipa::path(get, path = "/api/v1/inbox", tag = "grants", params(InboxQuery), security(("bearer" = [])),
    responses((status = 200, body = [NotificationView])))]
async fn inbox(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<InboxQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<NotificationView>>> {
    let p = ctx.principal()?;
    let Query(q) = q.map_err(|e| query_error(&ctx, &e))?;
    Ok(Json(
        s.app.inbox(p, q.unread).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// Mark one notification read.
#[utoipa::path(post, path = "/api/v1/inbox/{id}/read", tag = "grants", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn mark_read(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let p = ctx.principal()?;
    s.app.mark_read(p, id).await.map_err(|e| ctx.fail(e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// An API token that reads under this grant alone (its holder): for the system that
/// uses the data. It can do nothing else, ends with the grant, and stops working at the
/// next request once the grant is terminated. The token is shown once.
#[utoipa::path(post, path = "/api/v1/grants/{id}/tokens", tag = "grants", request_body = GrantTokenInput,
    security(("bearer" = [])),
    responses((status = 201, body = GrantToken), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn issue_token(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<GrantToken>)> {
    let p = ctx.principal()?;
    let input: GrantTokenInput = if body.is_empty() {
        GrantTokenInput::default()
    } else {
        json_body(&ctx, &headers, &body)?
    };
    let token = s
        .app
        .issue_grant_token(p, id, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(token)))
}

/// The holder reports how the data was used in a period; the provider is told.
#[utoipa::path(post, path = "/api/v1/grants/{id}/reports", tag = "grants", request_body = UseReportInput,
    security(("bearer" = [])),
    responses((status = 201, body = UseReportView), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn file_report(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<UseReportView>)> {
    let p = ctx.principal()?;
    let input: UseReportInput = json_body(&ctx, &headers, &body)?;
    let report = s
        .app
        .file_use_report(p, id, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(report)))
}

/// The use reports of a grant (its holder, the provider, the authority, auditors).
#[utoipa::path(get, path = "/api/v1/grants/{id}/reports", tag = "grants", security(("bearer" = [])),
    responses((status = 200, body = [UseReportView]), (status = 404, body = ErrorBody)))]
async fn reports(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<UseReportView>>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.use_reports(p, id).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// Where the caller gets notifications besides the inbox: an e-mail address, and for
/// staff a webhook signed with HMAC-SHA256 (`X-Gongshu-Signature: sha256=…`).
#[utoipa::path(get, path = "/api/v1/me/channels", tag = "grants", security(("bearer" = [])),
    responses((status = 200, body = ChannelsView), (status = 401, body = ErrorBody)))]
async fn my_channels(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<ChannelsView>> {
    let p = ctx.principal()?;
    Ok(Json(s.app.my_channels(p).await.map_err(|e| ctx.fail(e))?))
}

/// Set the e-mail address and webhook (absent or empty: none). A new webhook gets a new
/// signing key, shown in this answer only.
#[utoipa::path(put, path = "/api/v1/me/channels", tag = "grants", request_body = ChannelsInput,
    security(("bearer" = [])),
    responses((status = 200, body = ChannelsView), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn set_channels(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ChannelsView>> {
    let p = ctx.principal()?;
    let input: ChannelsInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .set_channels(p, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(my_grants, entry_grants, get_grant, terminate, issue_token, file_report, reports, inbox, mark_read, my_channels, set_channels),
    components(schemas(GrantView, GrantDetail, NotificationView, TerminateInput, GrantToken,
        GrantTokenInput, UseReportInput, UseReportView, ChannelsInput, ChannelsView)),
    tags((name = "grants"))
)]
pub(crate) struct GrantsApiDoc;
