//! Each region's settings under `/api/v1/regions/{code}/policy`: routing of applications
//! and sharing requests, deadlines, and the open-use agreement template.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Json, Router, routing::get};
use bytes::Bytes;
use gongshu_app::policies::{EffectivePolicy, RegionPolicy, RegionPolicyInput};

use crate::AppState;
use crate::api::json_body;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/regions/{code}/policy", get(show).put(update))
}

/// The settings in force in a region, where each comes from (the region, a region above
/// it, or the platform), the region's own settings and their history. Public; who made
/// each change is shown to staff only.
#[utoipa::path(get, path = "/api/v1/regions/{code}/policy", tag = "regions",
    responses((status = 200, body = EffectivePolicy), (status = 404, body = ErrorBody)))]
async fn show(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<Json<EffectivePolicy>> {
    Ok(Json(
        s.app
            .region_policy(ctx.caller.as_ref(), &code)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// Replace a region's own settings (its authority, or a system administrator), with a
/// reason. Absent fields are inherited; a template must name every required fact.
#[utoipa::path(put, path = "/api/v1/regions/{code}/policy", tag = "regions",
    request_body = RegionPolicyInput, security(("bearer" = [])),
    responses((status = 200, body = EffectivePolicy), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn update(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<EffectivePolicy>> {
    let p = ctx.principal()?;
    let input: RegionPolicyInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .put_region_policy(p, &code, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(show, update),
    components(schemas(EffectivePolicy, RegionPolicy, RegionPolicyInput))
)]
pub(crate) struct PoliciesApiDoc;
