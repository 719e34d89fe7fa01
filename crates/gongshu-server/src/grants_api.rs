//! Grants and the inbox under `/api/v1`: what a holder was granted, what a provider
//! granted and how much of it was used today, termination on breach, notifications.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router, routing::get, routing::post};
use bytes::Bytes;
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
        .route("/inbox", get(inbox))
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

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(my_grants, entry_grants, get_grant, terminate, inbox, mark_read),
    components(schemas(GrantView, GrantDetail, NotificationView, TerminateInput)),
    tags((name = "grants"))
)]
pub(crate) struct GrantsApiDoc;
