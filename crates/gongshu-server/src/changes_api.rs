//! Attribute changes of published entries (SD-OPEN §8, §10, §20(四)), the periodic
//! review of 有条件共享 entries (SX-BIGDATA §28), and catalog updates after a change of
//! law or duties (SD-EGOV §16).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router, routing::get, routing::post};
use bytes::Bytes;
use gongshu_app::catalog_updates::{
    CatalogUpdateClose, CatalogUpdateDetail, CatalogUpdateInput, CatalogUpdateView, UpdateCause,
};
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
        .route("/catalog-updates", get(updates).post(record_update))
        .route("/catalog-updates/{id}", get(update_detail))
        .route("/catalog-updates/{id}/close", post(close_update))
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct UpdateParams {
    /// Only the duties not yet closed.
    #[serde(default)]
    open: bool,
}

/// Record that a law or a provider's duties changed (the authority over the provider's
/// region, or the provider's data administrators): the provider must update its catalog
/// within 15 working days, is told now, reminded before the deadline, and the authority
/// is told when it passes.
#[utoipa::path(post, path = "/api/v1/catalog-updates", tag = "attribute-changes",
    request_body = CatalogUpdateInput, security(("bearer" = [])),
    responses((status = 201, body = CatalogUpdateView), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn record_update(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<CatalogUpdateView>)> {
    let p = ctx.principal()?;
    let input: CatalogUpdateInput = json_body(&ctx, &headers, &body)?;
    let view = s
        .app
        .record_catalog_update(p, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The catalog-update duties of the caller's providers and of the regions the caller
/// oversees, newest first, with deadlines and overdue flags.
#[utoipa::path(get, path = "/api/v1/catalog-updates", tag = "attribute-changes",
    params(UpdateParams), security(("bearer" = [])),
    responses((status = 200, body = [CatalogUpdateView])))]
async fn updates(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<UpdateParams>,
) -> ApiResult<Json<Vec<CatalogUpdateView>>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .catalog_updates(p, q.open)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[utoipa::path(get, path = "/api/v1/catalog-updates/{id}", tag = "attribute-changes",
    security(("bearer" = [])),
    responses((status = 200, body = CatalogUpdateDetail), (status = 404, body = ErrorBody)))]
async fn update_detail(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<CatalogUpdateDetail>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.catalog_update(p, id).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// Close the duty (the provider's data administrators) with what was updated, or why
/// nothing needed to change.
#[utoipa::path(post, path = "/api/v1/catalog-updates/{id}/close", tag = "attribute-changes",
    request_body = CatalogUpdateClose, security(("bearer" = [])),
    responses((status = 200, body = CatalogUpdateView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn close_update(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<CatalogUpdateView>> {
    let p = ctx.principal()?;
    let input: CatalogUpdateClose = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .close_catalog_update(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(request, of_entry, list, detail, act, share_review, review_sharing, record_update,
        updates, update_detail, close_update),
    components(schemas(AttributeChangeInput, OpeningBasis, AttributeChangeView,
        AttributeChangeDetail, ChangeAction, ChangeDecision, ShareReviewInput, ShareReviewView,
        CatalogUpdateInput, CatalogUpdateClose, CatalogUpdateView, CatalogUpdateDetail,
        UpdateCause)),
    tags((name = "attribute-changes"))
)]
pub(crate) struct ChangesApiDoc;
