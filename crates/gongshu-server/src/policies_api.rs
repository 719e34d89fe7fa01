//! Each region's settings under `/api/v1/regions/{code}/policy`: routing of applications
//! and sharing requests, deadlines, and the open-use agreement template.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Json, Router, routing::get};
use bytes::Bytes;
use gongshu_app::at_rest::AtRestView;
use gongshu_app::policies::{EffectivePolicy, RegionPolicy, RegionPolicyInput};
use gongshu_app::protection::{GradeCapsInput, GradeCapsView, ImportantEntry};

use crate::AppState;
use crate::api::json_body;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/regions/{code}/policy", get(show).put(update))
        .route("/grade-caps", get(caps).put(set_caps))
        .route("/important-data", get(important_data))
        .route("/at-rest", get(at_rest))
        .route("/at-rest/rotate", axum::routing::post(rotate_at_rest))
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

/// The grade → cap table (分类分级): for each grade, the most open type allowed and
/// whether opening requires de-identification. Public: it says what may be opened at all.
#[utoipa::path(get, path = "/api/v1/grade-caps", tag = "regions",
    responses((status = 200, body = GradeCapsView)))]
async fn caps(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<GradeCapsView>> {
    Ok(Json(
        s.app.grade_caps_view().await.map_err(|e| ctx.fail(e))?,
    ))
}

/// Replace the table (the province's authority, or a system administrator), with a
/// reason: every grade once, core data never opened, no grade more open than a less
/// sensitive one. It applies from the next request on.
#[utoipa::path(put, path = "/api/v1/grade-caps", tag = "regions",
    request_body = GradeCapsInput, security(("bearer" = [])),
    responses((status = 200, body = GradeCapsView), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn set_caps(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<GradeCapsView>> {
    let p = ctx.principal()?;
    let input: GradeCapsInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .set_grade_caps(p, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The important-data catalog (重要数据目录) of the regions the caller oversees: entries
/// graded important or core, or holding items so graded, working copies included. For
/// authorities and auditors.
#[utoipa::path(get, path = "/api/v1/important-data", tag = "regions",
    security(("bearer" = [])),
    responses((status = 200, body = [ImportantEntry]), (status = 403, body = ErrorBody)))]
async fn important_data(
    State(s): State<AppState>,
    ctx: Ctx,
) -> ApiResult<Json<Vec<ImportantEntry>>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.important_data(p).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// Encryption at rest of important and core data: the keys configured, how many stored
/// files each seals, and the last sweep. For system administrators and auditors.
#[utoipa::path(get, path = "/api/v1/at-rest", tag = "regions",
    security(("bearer" = [])),
    responses((status = 200, body = AtRestView), (status = 403, body = ErrorBody)))]
async fn at_rest(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<AtRestView>> {
    let p = ctx.principal()?;
    Ok(Json(s.app.at_rest_view(p).await.map_err(|e| ctx.fail(e))?))
}

/// Re-read the key file and re-seal every stored file under its active key in the
/// background, while the platform serves (a system administrator). Add the new key to the
/// file and make it active first; remove the old one once `census` shows no file uses it.
#[utoipa::path(post, path = "/api/v1/at-rest/rotate", tag = "regions",
    security(("bearer" = [])),
    responses((status = 200, body = AtRestView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn rotate_at_rest(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<AtRestView>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .rotate_at_rest_keys(p)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(show, update, caps, set_caps, important_data, at_rest, rotate_at_rest),
    components(schemas(
        EffectivePolicy,
        RegionPolicy,
        AtRestView,
        gongshu_app::at_rest::SweepReport,
        RegionPolicyInput,
        GradeCapsView,
        GradeCapsInput
    ))
)]
pub(crate) struct PoliciesApiDoc;
