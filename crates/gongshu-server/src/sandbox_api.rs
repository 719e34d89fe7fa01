//! The analysis sandbox under `/api/v1/sandbox` (issue 9): run an aggregate query under a
//! sandbox grant, read its released result, and the provider's two-reviewer release.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router, routing::get, routing::post};
use bytes::Bytes;
use gongshu_app::models::{ModelInput, ModelParam, ModelRun, ModelView, ParamType};
use gongshu_app::privacy::{PrivacySettings, PrivacyView};
use gongshu_app::sandbox::PrivacyUse;
use gongshu_app::sandbox::{
    DifferencingFlag, ReviewRecord, SandboxInput, SandboxQueryView, SandboxResult, SandboxReview,
    WithheldGroup,
};
use gongshu_core::disclosure::{Mechanism, ProfileName, Withheld};

use crate::AppState;
use crate::api::json_body;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sandbox/queries", get(list).post(run))
        .route("/sandbox/queries/{id}", get(one).delete(cancel))
        .route("/sandbox/queries/{id}/reviews", post(review))
        .route("/sandbox/queries/{id}/download", get(download))
        .route("/grants/{id}/privacy", get(privacy).put(set_privacy))
        .route("/datasets/{id}/models", get(models))
        .route("/models", post(create_model))
        .route("/models/{id}", get(model).delete(retire_model))
        .route("/models/{id}/runs", post(run_model))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(run, list, one, cancel, review, download, privacy, set_privacy, models, create_model, model, retire_model, run_model),
    components(schemas(SandboxInput, SandboxQueryView, SandboxResult, SandboxReview,
        WithheldGroup, ReviewRecord, DifferencingFlag, ProfileName, Withheld,
        ModelInput, ModelParam, ModelRun, ModelView, ParamType, PrivacySettings, PrivacyView,
        PrivacyUse, Mechanism)),
    tags((name = "sandbox", description = "Analysis sandbox: aggregates under disclosure control (SD-OPEN §11(三))"))
)]
pub(crate) struct SandboxApiDoc;

/// Runs one aggregate SELECT over tables the caller's sandbox grant covers. The result
/// is released at once when the disclosure control withholds nothing and no
/// differencing is suspected (`state` = `released`); otherwise it waits for two
/// reviewers of the provider (`review`). With `background`, 202 and `state` = `running`:
/// read the query again for how it went.
#[utoipa::path(post, path = "/api/v1/sandbox/queries", tag = "sandbox", request_body = SandboxInput,
    security(("bearer" = [])),
    responses((status = 201, body = SandboxQueryView), (status = 202, body = SandboxQueryView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 504, body = ErrorBody)))]
async fn run(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<SandboxQueryView>)> {
    let p = ctx.principal()?;
    let input: SandboxInput = json_body(&ctx, &headers, &body)?;
    let view = s.app.run_sandbox(p, input).await.map_err(|e| ctx.fail(e))?;
    let status = if view.state == "running" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(view)))
}

/// The requester cancels a query still running in the background.
#[utoipa::path(delete, path = "/api/v1/sandbox/queries/{id}", tag = "sandbox",
    security(("bearer" = [])),
    responses((status = 200, body = SandboxQueryView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn cancel(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<SandboxQueryView>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.cancel_sandbox(p, id).await.map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct StateFilter {
    /// `released`, `review` or `rejected`.
    state: Option<String>,
}

/// The caller's queries and, for a provider's reviewers, the queries over its data.
#[utoipa::path(get, path = "/api/v1/sandbox/queries", tag = "sandbox", params(StateFilter),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<SandboxQueryView>), (status = 401, body = ErrorBody)))]
async fn list(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<StateFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<SandboxQueryView>>> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .sandbox_queries(p, q.state.as_deref())
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[utoipa::path(get, path = "/api/v1/sandbox/queries/{id}", tag = "sandbox",
    security(("bearer" = [])),
    responses((status = 200, body = SandboxQueryView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn one(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<SandboxQueryView>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.sandbox_query(p, id).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// A reviewer of the provider (not the requester) approves or rejects a held result;
/// two approvals by different reviewers release it.
#[utoipa::path(post, path = "/api/v1/sandbox/queries/{id}/reviews", tag = "sandbox",
    request_body = SandboxReview, security(("bearer" = [])),
    responses((status = 200, body = SandboxQueryView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn review(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<SandboxQueryView>> {
    let p = ctx.principal()?;
    let input: SandboxReview = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .review_sandbox(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The active models the provider published over an entry (R7.2).
/// A grant's differential-privacy mode and budget (`null` when never set): for its
/// holder and the entry's provider.
#[utoipa::path(get, path = "/api/v1/grants/{id}/privacy", tag = "sandbox",
    security(("bearer" = [])),
    responses((status = 200, body = Option<PrivacyView>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn privacy(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Option<PrivacyView>>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.grant_privacy(p, id).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// The entry's provider puts the grant's sandbox queries in the differential-privacy
/// mode (or changes or ends it): mechanism, ε budget and per query, declared bounds of
/// the columns that may be summed, rows per person. What was spent stays spent.
#[utoipa::path(put, path = "/api/v1/grants/{id}/privacy", tag = "sandbox",
    request_body = PrivacySettings, security(("bearer" = [])),
    responses((status = 200, body = PrivacyView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_privacy(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<PrivacyView>> {
    let p = ctx.principal()?;
    let input: PrivacySettings = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .set_grant_privacy(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct DownloadFormat {
    /// `csv` (default), `xlsx` or `json`.
    format: Option<String>,
}

/// A released result as a file, with the citation of its sources: CSV or XLSX (the
/// figures, then the sources under them) or JSON (the result as `GET` gives it).
#[utoipa::path(get, path = "/api/v1/sandbox/queries/{id}/download", tag = "sandbox",
    params(DownloadFormat), security(("bearer" = [])),
    responses((status = 200, description = "The result as a file"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn download(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    q: Result<Query<DownloadFormat>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<axum::response::Response> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    let p = ctx.principal()?;
    let view = s.app.sandbox_query(p, id).await.map_err(|e| ctx.fail(e))?;
    result_file(&ctx, &view, q.format.as_deref().unwrap_or("csv"))
}

/// A query's released result as a download, for the API and the query's page.
pub(crate) fn result_file(
    ctx: &Ctx,
    view: &SandboxQueryView,
    format: &str,
) -> ApiResult<axum::response::Response> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let result = match (&view.result, view.state.as_str()) {
        (Some(r), "released") => r,
        _ => {
            return Err(ctx.fail(gongshu_core::Error::new(
                gongshu_core::ErrorCode::InvalidState,
                "该查询的结果尚未发布",
                "This query's result is not released",
            )));
        }
    };
    if format == "json" {
        let mut response = Json(result).into_response();
        response.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            crate::data_api::disposition(&format!("sandbox-{}.json", view.id)),
        );
        return Ok(response);
    }
    let (head, rows) = result.table_with_sources();
    crate::data_api::table_file(
        ctx,
        ("result", &head, &rows),
        format,
        &format!("sandbox-{}", view.id),
    )
    .unwrap_or_else(|| {
        Err(ctx.fail(gongshu_core::Error::validation(vec![
            gongshu_core::FieldError::new(
                "format",
                "unknown",
                "格式应为 csv、xlsx 或 json",
                "format must be csv, xlsx or json",
            ),
        ])))
    })
}

#[utoipa::path(get, path = "/api/v1/datasets/{id}/models", tag = "sandbox",
    responses((status = 200, body = Vec<ModelView>), (status = 404, body = ErrorBody)))]
async fn models(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<ModelView>>> {
    Ok(Json(
        s.app
            .models(ctx.caller.as_ref(), id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The provider publishes a model: an aggregate query over the entry's tables with
/// `:name` parameters, checked by the sandbox's guard with every parameter at its default.
#[utoipa::path(post, path = "/api/v1/models", tag = "sandbox", request_body = ModelInput,
    security(("bearer" = [])),
    responses((status = 201, body = ModelView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_model(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ModelView>)> {
    let p = ctx.principal()?;
    let input: ModelInput = json_body(&ctx, &headers, &body)?;
    let view = s
        .app
        .create_model(p, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/api/v1/models/{id}", tag = "sandbox",
    responses((status = 200, body = ModelView), (status = 404, body = ErrorBody)))]
async fn model(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<ModelView>> {
    Ok(Json(
        s.app
            .model(ctx.caller.as_ref(), id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The provider retires a model; it is no longer listed or run.
#[utoipa::path(delete, path = "/api/v1/models/{id}", tag = "sandbox",
    security(("bearer" = [])),
    responses((status = 200, body = ModelView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn retire_model(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<ModelView>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.retire_model(p, id).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// Runs a model with the caller's parameter values (absent ones take their default).
/// The result passes disclosure control and is released without review, unless it
/// looks like differencing.
#[utoipa::path(post, path = "/api/v1/models/{id}/runs", tag = "sandbox", request_body = ModelRun,
    security(("bearer" = [])),
    responses((status = 201, body = SandboxQueryView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 504, body = ErrorBody)))]
async fn run_model(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<SandboxQueryView>)> {
    let p = ctx.principal()?;
    let input: ModelRun = json_body(&ctx, &headers, &body)?;
    let view = s
        .app
        .run_model(p, id, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(view)))
}
