//! Performance evaluations (issue 8: SD-OPEN §5, SX-BIGDATA §24) and security incidents
//! (issue 7: SD-EGOV §31, 数据安全法 §29) under `/api/v1`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Json, Router, routing::get, routing::post};
use bytes::Bytes;
use gongshu_app::evaluation::{
    EvaluatedUnit, EvaluationDoc, EvaluationInput, EvaluationSummary, EvaluationView,
    evaluation_table,
};
use gongshu_app::incidents::{
    IncidentDataset, IncidentInput, IncidentKind, IncidentReport, IncidentUpdate, IncidentView,
    Measure, SecurityNotice, Severity, SubjectNotice,
};
use gongshu_app::sources::{SourceClaimView, SourceConflict, SourceConflicts};
use gongshu_app::views::PageView;
use gongshu_core::evaluation::{Responses, Scheme, Scored, Tally};

use crate::AppState;
use crate::api::json_body;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/evaluations", get(list).post(compute))
        .route("/evaluations/{id}", get(one))
        .route("/evaluations/{id}/release", post(release))
        .route("/evaluations/{id}/export", get(export))
        .route("/evaluation-schemes/{region}", get(scheme).put(put_scheme))
        .route("/incidents", get(incidents).post(record_incident))
        .route("/incidents/{id}", get(incident))
        .route("/incidents/{id}/updates", post(update_incident))
        .route("/security-notices", get(security_notices))
        .route("/source-conflicts", get(source_conflicts))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct RegionFilter {
    /// Only this region's evaluations.
    region: Option<String>,
}

/// Released evaluations, and the drafts of the regions the caller oversees; newest
/// period first.
#[utoipa::path(get, path = "/api/v1/evaluations", tag = "evaluation", params(RegionFilter),
    responses((status = 200, body = Vec<EvaluationSummary>)))]
async fn list(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<RegionFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<EvaluationSummary>>> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    Ok(Json(
        s.app
            .evaluations(ctx.caller.as_ref(), q.region.as_deref())
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The authority over a region computes its evaluation for a period, from the recorded
/// history, under its scheme. The result is a draft until released.
#[utoipa::path(post, path = "/api/v1/evaluations", tag = "evaluation", request_body = EvaluationInput,
    security(("bearer" = [])),
    responses((status = 201, body = EvaluationView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn compute(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<EvaluationView>)> {
    let p = ctx.principal()?;
    let input: EvaluationInput = json_body(&ctx, &headers, &body)?;
    let view = s
        .app
        .compute_evaluation(p, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One evaluation with every figure: released ones to anyone, drafts to those who
/// oversee the region.
#[utoipa::path(get, path = "/api/v1/evaluations/{id}", tag = "evaluation",
    responses((status = 200, body = EvaluationView), (status = 404, body = ErrorBody)))]
async fn one(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<EvaluationView>> {
    Ok(Json(
        s.app
            .evaluation(ctx.caller.as_ref(), id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// Publishes a draft on the portal (公布评估报告) and tells the providers.
#[utoipa::path(post, path = "/api/v1/evaluations/{id}/release", tag = "evaluation",
    security(("bearer" = [])),
    responses((status = 200, body = EvaluationView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn release(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<EvaluationView>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .release_evaluation(p, id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ExportFormat {
    /// `csv` (default) or `xlsx`.
    format: Option<String>,
}

/// Every figure of an evaluation, one row per provider and per region, as CSV or XLSX,
/// in the caller's language.
#[utoipa::path(get, path = "/api/v1/evaluations/{id}/export", tag = "evaluation", params(ExportFormat),
    responses((status = 200, description = "The table of figures"), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn export(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    q: Result<Query<ExportFormat>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    let view = s
        .app
        .evaluation(ctx.caller.as_ref(), id)
        .await
        .map_err(|e| ctx.fail(e))?;
    evaluation_file(&ctx, &view, q.format.as_deref().unwrap_or("csv"))
}

/// The export of an evaluation as a download, for the API and the report page.
pub(crate) fn evaluation_file(
    ctx: &Ctx,
    view: &EvaluationView,
    format: &str,
) -> ApiResult<Response> {
    let zh = ctx.lang == gongshu_core::error::Lang::Zh;
    let (header, rows) = evaluation_table(view, zh);
    let stem = format!(
        "evaluation-{}-{}-{}",
        view.region_code, view.period_from, view.period_to
    );
    crate::data_api::table_file(ctx, ("evaluation", &header, &rows), format, &stem).unwrap_or_else(
        || {
            Err(ctx.fail(gongshu_core::Error::validation(vec![
                gongshu_core::FieldError::new(
                    "format",
                    "unknown",
                    "格式应为 csv 或 xlsx",
                    "format must be csv or xlsx",
                ),
            ])))
        },
    )
}

/// The indicator weights of a region: its authority's, or the default.
#[utoipa::path(get, path = "/api/v1/evaluation-schemes/{region}", tag = "evaluation",
    responses((status = 200, body = Scheme)))]
async fn scheme(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(region): Path<String>,
) -> ApiResult<Json<Scheme>> {
    Ok(Json(
        s.app
            .evaluation_scheme(&region)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The authority sets its region's weights (0 leaves an indicator out) and security
/// penalties.
#[utoipa::path(put, path = "/api/v1/evaluation-schemes/{region}", tag = "evaluation", request_body = Scheme,
    security(("bearer" = [])),
    responses((status = 200, body = Scheme), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_scheme(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(region): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Scheme>> {
    let p = ctx.principal()?;
    let scheme: Scheme = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .put_evaluation_scheme(p, &region, scheme)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct Paging {
    page: Option<i64>,
    per_page: Option<i64>,
}

/// Incidents in the regions the caller oversees and those touching its entries.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "security", params(Paging),
    security(("bearer" = [])),
    responses((status = 200, body = PageView<IncidentView>), (status = 401, body = ErrorBody)))]
async fn incidents(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<Paging>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<PageView<IncidentView>>> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .incidents(p, q.page.unwrap_or(1), q.per_page.unwrap_or(20))
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The authority over a region records a security incident; its providers are told.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "security", request_body = IncidentInput,
    security(("bearer" = [])),
    responses((status = 201, body = IncidentView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_incident(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<IncidentView>)> {
    let p = ctx.principal()?;
    let input: IncidentInput = json_body(&ctx, &headers, &body)?;
    let view = s
        .app
        .record_incident(p, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One incident record: the report.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "security", security(("bearer" = [])),
    responses((status = 200, body = IncidentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn incident(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<IncidentView>> {
    let p = ctx.principal()?;
    Ok(Json(s.app.incident(p, id).await.map_err(|e| ctx.fail(e))?))
}

/// Adds measures, reports, the notice to the people affected, a public warning, or the
/// conclusion that closes the record.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/updates", tag = "security", request_body = IncidentUpdate,
    security(("bearer" = [])),
    responses((status = 200, body = IncidentView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn update_incident(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<IncidentView>> {
    let p = ctx.principal()?;
    let input: IncidentUpdate = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .update_incident(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// Public warnings about security incidents (向社会发布的警示信息).
#[utoipa::path(get, path = "/api/v1/security-notices", tag = "security",
    responses((status = 200, body = Vec<SecurityNotice>)))]
async fn security_notices(
    State(s): State<AppState>,
    ctx: Ctx,
) -> ApiResult<Json<Vec<SecurityNotice>>> {
    Ok(Json(
        s.app.security_notices().await.map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, compute, one, release, export, scheme, put_scheme, incidents, record_incident,
        incident, update_incident, security_notices, source_conflicts),
    components(schemas(EvaluationInput, EvaluationView, EvaluationSummary, EvaluationDoc,
        EvaluatedUnit, Scheme, Scored, Tally, Responses, IncidentInput, IncidentView,
        IncidentUpdate, IncidentReport, SubjectNotice, Measure, IncidentDataset, IncidentKind,
        Severity, SecurityNotice, SourceConflicts, SourceConflict, SourceClaimView)),
    tags((name = "evaluation", description = "Performance evaluation (SD-OPEN §5, SX-BIGDATA §24)"),
        (name = "security", description = "Security incidents and public warnings"),
        (name = "quality", description = "Data quality and 一数一源"))
)]
pub(crate) struct GovernanceApiDoc;

/// 一数一源: the data items of the region's published catalog that more than one
/// provider claims as its own source. The authority or auditor over the region sees all
/// of them (default: the widest region they oversee); a provider's staff see those their
/// organisation is party to.
#[utoipa::path(get, path = "/api/v1/source-conflicts", tag = "quality", params(RegionFilter),
    security(("bearer" = [])),
    responses((status = 200, body = SourceConflicts), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn source_conflicts(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<RegionFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<SourceConflicts>> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .source_conflicts(p, q.region.as_deref())
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}
