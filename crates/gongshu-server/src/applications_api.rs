//! Applications for conditionally open data under `/api/v1/applications` (SD-OPEN §14).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router, routing::get, routing::post};
use bytes::Bytes;
use gongshu_app::applications::{AcceptInput, ActionInput, ApplicationDetail, ApplicationView};
use gongshu_core::apply::{ApplicationAction, ApplicationInput};
use gongshu_core::{Error, ErrorCode};

use crate::AppState;
use crate::api::json_body;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/applications", get(list).post(submit))
        .route("/applications/{id}", get(detail))
        .route("/applications/{id}/accept", post(accept))
        .route("/applications/{id}/{action}", post(act))
}

/// Apply for a conditionally open entry (registered users): purpose, scenario, security
/// measures, items, modes, period, and the signed security pledge.
#[utoipa::path(post, path = "/api/v1/applications", tag = "applications", request_body = ApplicationInput,
    security(("bearer" = [])),
    responses((status = 201, body = ApplicationView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn submit(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ApplicationView>)> {
    let p = ctx.principal()?;
    let input: ApplicationInput = json_body(&ctx, &headers, &body)?;
    let view = s
        .app
        .submit_application(p, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The applications the caller takes part in (applicant, provider, authority, auditor),
/// each with the deadline of its current step and whether it is overdue.
#[utoipa::path(get, path = "/api/v1/applications", tag = "applications", security(("bearer" = [])),
    responses((status = 200, body = [ApplicationView])))]
async fn list(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<Vec<ApplicationView>>> {
    let p = ctx.principal()?;
    Ok(Json(s.app.applications(p).await.map_err(|e| ctx.fail(e))?))
}

/// One application with its history.
#[utoipa::path(get, path = "/api/v1/applications/{id}", tag = "applications", security(("bearer" = [])),
    responses((status = 200, body = ApplicationDetail), (status = 404, body = ErrorBody)))]
async fn detail(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<ApplicationDetail>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.application(p, id).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// `pass_check` / `return_check` (the authority), `approve` / `refuse` (the provider,
/// reasons required to refuse; quotas on approval), `withdraw` (the applicant).
#[utoipa::path(post, path = "/api/v1/applications/{id}/{action}", tag = "applications",
    request_body = ActionInput, security(("bearer" = [])),
    responses((status = 200, body = ApplicationView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn act(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, action)): Path<(i64, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ApplicationView>> {
    let p = ctx.principal()?;
    let Ok(action) = serde_json::from_value::<ApplicationAction>(serde_json::Value::String(action))
    else {
        return Err(ctx.fail(Error::not_found("操作", "Action")));
    };
    let input: ActionInput = if body.is_empty() {
        ActionInput::default()
    } else {
        json_body(&ctx, &headers, &body)?
    };
    Ok(Json(
        s.app
            .act_on_application(p, id, action, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// Accept the open-use agreement: the password again, and the hash of the text read.
/// When both sides have accepted, the grant is in force.
#[utoipa::path(post, path = "/api/v1/applications/{id}/accept", tag = "applications",
    request_body = AcceptInput, security(("bearer" = [])),
    responses((status = 200, body = ApplicationView), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn accept(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ApplicationView>> {
    let p = ctx.principal()?;
    let input: AcceptInput = json_body(&ctx, &headers, &body).map_err(|_| {
        ctx.fail(Error::new(
            ErrorCode::Validation,
            "请提供密码和协议摘要",
            "Send the password and the agreement's hash",
        ))
    })?;
    Ok(Json(
        s.app
            .accept_agreement(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(submit, list, detail, act, accept),
    components(schemas(ApplicationInput, ApplicationView, ApplicationDetail, ActionInput, AcceptInput)),
    tags((name = "applications"))
)]
pub(crate) struct ApplicationsApiDoc;
