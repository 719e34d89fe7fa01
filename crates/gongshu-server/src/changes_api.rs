//! Attribute changes of published entries (SD-OPEN §8, §10, §20(四)) and the periodic
//! review of 有条件共享 entries (SX-BIGDATA §28).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router, routing::get, routing::post};
use bytes::Bytes;
use gongshu_app::changes::{
    AttributeChangeDetail, AttributeChangeView, ChangeAction, ChangeDecision, ShareReviewInput,
    ShareReviewView,
};
use gongshu_core::Error;
use gongshu_core::change::{AttributeChangeInput, OpeningBasis};
use serde::Deserialize;

use crate::AppState;
use crate::api::json_body;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/datasets/{id}/attribute-changes",
            get(of_entry).post(request),
        )
        .route(
            "/datasets/{id}/share-review",
            get(share_review).post(review_sharing),
        )
        .route("/attribute-changes", get(list))
        .route("/attribute-changes/{id}", get(detail))
        .route("/attribute-changes/{id}/{action}", post(act))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ListParams {
    /// Only the changes still waiting for the authority.
    #[serde(default)]
    pending: bool,
}

/// Change the open or share type of a published entry (its provider). Toward more open
/// it applies at once (201, `state: applied`); toward less open or less shared it waits
/// for the authority (201, `state: pending`) and nothing changes until approved.
/// 不予开放 → open needs `opening_basis`; the grade cap holds.
#[utoipa::path(post, path = "/api/v1/datasets/{id}/attribute-changes", tag = "attribute-changes",
    request_body = AttributeChangeInput, security(("bearer" = [])),
    responses((status = 201, body = AttributeChangeView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn request(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<AttributeChangeView>)> {
    let p = ctx.principal()?;
    let input: AttributeChangeInput = json_body(&ctx, &headers, &body)?;
    let view = s
        .app
        .request_attribute_change(p, id, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The attribute changes of one entry, newest first (its provider, the authority and
/// auditors of its region).
#[utoipa::path(get, path = "/api/v1/datasets/{id}/attribute-changes", tag = "attribute-changes",
    params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = [AttributeChangeView]), (status = 403, body = ErrorBody)))]
async fn of_entry(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<ListParams>,
) -> ApiResult<Json<Vec<AttributeChangeView>>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .attribute_changes(p, Some(id), q.pending)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The changes the caller takes part in: its providers' entries, and for an authority
/// or an auditor, its regions' (`pending=true`: the authority's queue).
#[utoipa::path(get, path = "/api/v1/attribute-changes", tag = "attribute-changes",
    params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = [AttributeChangeView])))]
async fn list(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListParams>,
) -> ApiResult<Json<Vec<AttributeChangeView>>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .attribute_changes(p, None, q.pending)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// One change with its history.
#[utoipa::path(get, path = "/api/v1/attribute-changes/{id}", tag = "attribute-changes",
    security(("bearer" = [])),
    responses((status = 200, body = AttributeChangeDetail), (status = 404, body = ErrorBody)))]
async fn detail(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<AttributeChangeDetail>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .attribute_change(p, id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// `approve` / `refuse` (the authority of the provider's region; reasons required to
/// refuse) or `withdraw` (the provider) a pending change.
#[utoipa::path(post, path = "/api/v1/attribute-changes/{id}/{action}", tag = "attribute-changes",
    request_body = ChangeDecision, security(("bearer" = [])),
    responses((status = 200, body = AttributeChangeView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn act(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, action)): Path<(i64, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<AttributeChangeView>> {
    let p = ctx.principal()?;
    let Ok(action) = serde_json::from_value::<ChangeAction>(serde_json::Value::String(action))
    else {
        return Err(ctx.fail(Error::not_found("操作", "Action")));
    };
    let input: ChangeDecision = if body.is_empty() {
        ChangeDecision::default()
    } else {
        json_body(&ctx, &headers, &body)?
    };
    Ok(Json(
        s.app
            .act_on_attribute_change(p, id, action, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// When the entry's 有条件共享 is next re-evaluated, and the last review.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/share-review", tag = "attribute-changes",
    security(("bearer" = [])),
    responses((status = 200, body = ShareReviewView), (status = 409, body = ErrorBody)))]
async fn share_review(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<ShareReviewView>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.share_review(p, id).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// The provider re-evaluates the entry and keeps it 有条件共享, with its reasons; the
/// next review is set. (To share it without conditions, request an attribute change.)
#[utoipa::path(post, path = "/api/v1/datasets/{id}/share-review", tag = "attribute-changes",
    request_body = ShareReviewInput, security(("bearer" = [])),
    responses((status = 200, body = ShareReviewView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn review_sharing(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ShareReviewView>> {
    let p = ctx.principal()?;
    let input: ShareReviewInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .review_sharing(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(request, of_entry, list, detail, act, share_review, review_sharing),
    components(schemas(AttributeChangeInput, OpeningBasis, AttributeChangeView,
        AttributeChangeDetail, ChangeAction, ChangeDecision, ShareReviewInput, ShareReviewView)),
    tags((name = "attribute-changes"))
)]
pub(crate) struct ChangesApiDoc;
