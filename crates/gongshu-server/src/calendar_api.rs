//! The working-day calendar under `/api/v1/calendar`: deadlines for the console and API
//! clients, and the holiday notices the system administrator maintains.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::{Json, Router, routing::get};
use bytes::Bytes;
use chrono::NaiveDate;
use gongshu_app::calendar::{YearDetail, YearView};
use gongshu_core::calendar::{Deadline, YearSchedule};
use gongshu_core::{Error, FieldError};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::api::{json_body, query_error};
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/calendar/deadline", get(deadline))
        .route("/calendar/years", get(list_years))
        .route("/calendar/years/{year}", get(get_year).put(put_year))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct DeadlineQuery {
    /// The day the request was received, `YYYY-MM-DD` (not counted).
    start: String,
    /// Working days allowed, 1 to 1000.
    days: String,
}

/// The last day of a period of working days (民法典 §201: counting starts the day after
/// receipt; weekends and holidays skipped, 调休 days counted). `provisional` is true when
/// the period reaches a year whose holiday notice is not entered yet.
#[utoipa::path(get, path = "/api/v1/calendar/deadline", tag = "calendar", params(DeadlineQuery),
    responses((status = 200, body = Deadline), (status = 422, body = ErrorBody)))]
async fn deadline(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<DeadlineQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Deadline>> {
    let Query(q) = q.map_err(|e| query_error(&ctx, &e))?;
    let mut problems = Vec::new();
    let start = NaiveDate::parse_from_str(q.start.trim(), "%Y-%m-%d")
        .map_err(|_| {
            problems.push(FieldError::new(
                "start",
                "format",
                "开始日期应为 YYYY-MM-DD 格式的有效日期",
                "start must be a valid date as YYYY-MM-DD",
            ));
        })
        .ok();
    let days = q
        .days
        .trim()
        .parse::<u32>()
        .map_err(|_| {
            problems.push(FieldError::new(
                "days",
                "format",
                "工作日天数应为正整数",
                "days must be a positive whole number",
            ));
        })
        .ok();
    let (Some(start), Some(days)) = (start, days) else {
        return Err(ctx.fail(Error::validation(problems)));
    };
    Ok(Json(
        s.app.deadline(start, days).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// The years whose holiday notice the platform holds.
#[utoipa::path(get, path = "/api/v1/calendar/years", tag = "calendar",
    responses((status = 200, body = [YearView])))]
async fn list_years(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<Vec<YearView>>> {
    Ok(Json(s.app.calendar_years().await.map_err(|e| ctx.fail(e))?))
}

/// One year's notice: its days, and the history of its entries.
#[utoipa::path(get, path = "/api/v1/calendar/years/{year}", tag = "calendar",
    responses((status = 200, body = YearDetail), (status = 404, body = ErrorBody)))]
async fn get_year(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(year): Path<i32>,
) -> ApiResult<Json<YearDetail>> {
    Ok(Json(
        s.app.calendar_year(year).await.map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct PutYearQuery {
    /// Why the year is entered or changed, e.g. the notice's reference (国办发明电〔…〕).
    reason: Option<String>,
}

/// Enter or correct a year's holiday notice (system administrator). The body is the
/// notice in holiday-cn's JSON shape, the same as the files the platform ships.
#[utoipa::path(put, path = "/api/v1/calendar/years/{year}", tag = "calendar", params(PutYearQuery),
    request_body = YearSchedule, security(("bearer" = [])),
    responses((status = 200, body = YearView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_year(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(year): Path<i32>,
    q: Result<Query<PutYearQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<YearView>> {
    let p = ctx.principal()?;
    let Query(q) = q.map_err(|e| query_error(&ctx, &e))?;
    let schedule: YearSchedule = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .put_calendar_year(p, year, schedule, q.reason.as_deref().unwrap_or(""))
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(deadline, list_years, get_year, put_year),
    components(schemas(Deadline, YearView, YearDetail, YearSchedule)),
    tags((name = "calendar"))
)]
pub(crate) struct CalendarApiDoc;
