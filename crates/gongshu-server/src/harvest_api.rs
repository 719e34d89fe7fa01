//! Harvest sources and their runs (issue 10: SD-OPEN §7) under `/api/v1/harvest`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router, routing::get};
use bytes::Bytes;
use gongshu_app::harvest::{
    HarvestDefaults, HarvestProblem, HarvestReport, HarvestRunView, HarvestSourceInput,
    HarvestSourceView, SourceKind,
};

use crate::AppState;
use crate::api::{expected_version, json_body};
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/harvest/sources", get(list).post(create))
        .route("/harvest/sources/{id}", get(one).put(update))
        .route("/harvest/sources/{id}/runs", get(runs).post(run))
        .route("/harvest/runs/{id}", get(run_report))
}

/// The harvest sources the caller manages (the authority over their providers' region).
#[utoipa::path(get, path = "/api/v1/harvest/sources", tag = "harvest", security(("bearer" = [])),
    responses((status = 200, body = Vec<HarvestSourceView>), (status = 401, body = ErrorBody)))]
async fn list(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<Vec<HarvestSourceView>>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.harvest_sources(p).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// Registers a source: a CKAN portal, a DCAT catalog or another Gongshu, read into one
/// provider's catalog on a schedule. Its first run is due at once.
#[utoipa::path(post, path = "/api/v1/harvest/sources", tag = "harvest", request_body = HarvestSourceInput,
    security(("bearer" = [])),
    responses((status = 201, body = HarvestSourceView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<HarvestSourceView>)> {
    let p = ctx.principal()?;
    let input: HarvestSourceInput = json_body(&ctx, &headers, &body)?;
    let view = s
        .app
        .create_harvest_source(p, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/api/v1/harvest/sources/{id}", tag = "harvest", security(("bearer" = [])),
    responses((status = 200, body = HarvestSourceView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn one(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<HarvestSourceView>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.harvest_source(p, id).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// Replaces a source's settings. The `version` read before editing is required (a
/// `version` field or `If-Match`); a stale one gives 409.
#[utoipa::path(put, path = "/api/v1/harvest/sources/{id}", tag = "harvest", request_body = HarvestSourceInput,
    security(("bearer" = [])),
    responses((status = 200, body = HarvestSourceView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<HarvestSourceView>> {
    let p = ctx.principal()?;
    let mut value: serde_json::Value = json_body(&ctx, &headers, &body)?;
    let version = value.as_object_mut().and_then(|o| o.remove("version"));
    let version = expected_version(&ctx, &headers, version)?;
    let input: HarvestSourceInput = serde_json::from_value(value).map_err(|e| {
        ctx.fail(gongshu_core::Error::new(
            gongshu_core::ErrorCode::BadRequest,
            format!("请求内容无法解析：{e}"),
            format!("the body could not be read: {e}"),
        ))
    })?;
    Ok(Json(
        s.app
            .update_harvest_source(p, id, version, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// A source's last 50 runs with their reports, newest first.
#[utoipa::path(get, path = "/api/v1/harvest/sources/{id}/runs", tag = "harvest", security(("bearer" = [])),
    responses((status = 200, body = Vec<HarvestRunView>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn runs(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<HarvestRunView>>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.harvest_runs(p, id).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// Starts a run now, in the background (202); poll `/api/v1/harvest/runs/{id}` for its
/// report. 409 while one is under way.
#[utoipa::path(post, path = "/api/v1/harvest/sources/{id}/runs", tag = "harvest", security(("bearer" = [])),
    responses((status = 202, body = HarvestRunView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn run(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Json<HarvestRunView>)> {
    let p = ctx.principal()?;
    let view = s.app.start_harvest(p, id).await.map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// One run: `running`, or `finished` / `failed` with its report (created, updated,
/// unchanged, withdrawn, errors and each record's problem).
#[utoipa::path(get, path = "/api/v1/harvest/runs/{id}", tag = "harvest", security(("bearer" = [])),
    responses((status = 200, body = HarvestRunView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn run_report(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<HarvestRunView>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.harvest_run(p, id).await.map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, create, one, update, runs, run, run_report),
    components(schemas(HarvestSourceInput, HarvestSourceView, HarvestDefaults, HarvestRunView,
        HarvestReport, HarvestProblem, SourceKind)),
    tags((name = "harvest", description = "Harvesting other catalogs (SD-OPEN §7)"))
)]
pub(crate) struct HarvestApiDoc;
