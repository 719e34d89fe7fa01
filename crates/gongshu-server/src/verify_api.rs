//! Verification (核验, issue 9) under `/api/v1`: the provider's settings of a resource's
//! verification service, and the checks themselves, one record as JSON or a batch file.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::post};
use bytes::Bytes;
use gongshu_app::verification::{
    VerificationAnswer, VerificationService, VerificationSettings, VerifyAnswer, VerifyBatch,
    VerifyInput, batch_table,
};

use crate::AppState;
use crate::api::json_body;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/resources/{id}/verification",
            get(settings).put(set_settings),
        )
        .route("/verify/{id}", post(verify))
        .route("/verify/{id}/batch", post(verify_batch))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(settings, set_settings, verify, verify_batch),
    components(schemas(VerificationAnswer, VerificationService, VerificationSettings,
        VerifyAnswer, VerifyBatch, VerifyInput)),
    tags((name = "verification", description = "Verification (核验): yes/no answers about values the caller holds, nothing of the data returned (R7.3)"))
)]
pub(crate) struct VerifyApiDoc;

/// A resource's verification service: which columns are matched and what is answered.
/// `null` when the provider never set one.
#[utoipa::path(get, path = "/api/v1/resources/{id}/verification", tag = "verification",
    responses((status = 200, body = Option<VerificationService>), (status = 404, body = ErrorBody)))]
async fn settings(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Option<VerificationService>>> {
    Ok(Json(
        s.app
            .verification_service(ctx.caller.as_ref(), &id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The provider enables, changes or stops the verification service of a resource.
#[utoipa::path(put, path = "/api/v1/resources/{id}/verification", tag = "verification",
    request_body = VerificationSettings, security(("bearer" = [])),
    responses((status = 200, body = VerificationService), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_settings(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<VerificationService>> {
    let p = ctx.principal()?;
    let input: VerificationSettings = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .set_verification(p, &id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// Checks one record: `{"values": {"统一社会信用代码": "…", "企业名称": "…"}}`. Values are
/// compared with width, case and spacing ignored. Needs a grant with the verification
/// mode (or opened data); counted against the grant's daily checks.
#[utoipa::path(post, path = "/api/v1/verify/{id}", tag = "verification",
    request_body = VerifyInput, security(("bearer" = [])),
    responses((status = 200, body = VerifyAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
async fn verify(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<VerifyAnswer>> {
    let p = ctx.principal()?;
    let input: VerifyInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .verify_one(p, &id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct BatchFormat {
    /// `csv` (default) or `json`.
    format: Option<String>,
}

/// Checks every record of a CSV file (UTF-8 or GBK) whose header names the key columns,
/// at most 10,000 records. Answers as CSV (line in the file, match, and per column where
/// the provider answers so) or, with `format=json`, as JSON.
#[utoipa::path(post, path = "/api/v1/verify/{id}/batch", tag = "verification", params(BatchFormat),
    request_body(content = String, content_type = "text/csv"), security(("bearer" = [])),
    responses((status = 200, body = VerifyBatch, description = "The answers, CSV or JSON"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
async fn verify_batch(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    q: Result<Query<BatchFormat>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    let p = ctx.principal()?;
    let json = match q.format.as_deref() {
        None | Some("csv") => false,
        Some("json") => true,
        Some(_) => {
            return Err(ctx.fail(gongshu_core::Error::validation(vec![
                gongshu_core::FieldError::new(
                    "format",
                    "unknown",
                    "格式应为 csv 或 json",
                    "format must be csv or json",
                ),
            ])));
        }
    };
    let batch = s
        .app
        .verify_file(p, &id, &body)
        .await
        .map_err(|e| ctx.fail(e))?;
    if json {
        return Ok((StatusCode::OK, Json(batch)).into_response());
    }
    batch_file(&ctx, &id, &batch)
}

/// The answers of a batch as a CSV download, for the API and the verification page.
pub(crate) fn batch_file(ctx: &Ctx, resource: &str, batch: &VerifyBatch) -> ApiResult<Response> {
    let (head, rows) = batch_table(batch);
    let stem = format!("verification-{resource}");
    crate::data_api::table_file(ctx, ("verification", &head, &rows), "csv", &stem)
        .unwrap_or_else(|| Err(ctx.fail(gongshu_core::Error::internal())))
}
