//! Objections, data demands and ratings under `/api/v1` (issue 8: SD-OPEN §12, §13).

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::post};
use bytes::Bytes;
use gongshu_app::feedback::{
    CaseFilter, DemandAnswer, DemandDetail, DemandInput, DemandView, EVIDENCE_LIMIT,
    FeedbackSummary, ObjectionDetail, ObjectionInput, ObjectionReply, ObjectionView, RatingInput,
    ReasonInput, RouteInput,
};
use gongshu_app::reuse::{ModerationInput, ReuseInput, ReuseKind, ReuseView, SCREENSHOT_LIMIT};
use gongshu_app::views::PageView;

use crate::AppState;
use crate::api::json_body;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;
type Filter = Result<Query<CaseFilter>, axum::extract::rejection::QueryRejection>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/objections", get(list_objections).post(file_objection))
        .route("/objections/{id}", get(objection))
        .route(
            "/objections/{id}/evidence",
            get(evidence)
                .post(add_evidence)
                .layer(DefaultBodyLimit::max(EVIDENCE_LIMIT + 1)),
        )
        .route("/objections/{id}/reply", post(reply))
        .route("/objections/{id}/reopen", post(reopen))
        .route("/objections/{id}/offline", post(offline))
        .route("/objections/{id}/restore", post(restore))
        .route("/demands", get(list_demands).post(file_demand))
        .route("/demands/{id}", get(demand))
        .route("/demands/{id}/route", post(route_demand))
        .route("/demands/{id}/answer", post(answer))
        .route("/supply-demand", get(supply_demand))
        .route("/datasets/{id}/feedback", get(summary))
        .route("/datasets/{id}/rating", post(rate))
        .route("/datasets/{id}/quality", get(quality))
        .route("/resources/{id}/quality", get(resource_quality))
        .route("/reuses", get(list_reuses).post(register_reuse))
        .route("/reuses/{id}", get(reuse))
        .route("/reuses/{id}/moderate", post(moderate))
        .route(
            "/reuses/{id}/screenshots",
            post(add_screenshot).layer(DefaultBodyLimit::max(SCREENSHOT_LIMIT + 1)),
        )
        .route("/reuses/{id}/screenshots/{n}", get(screenshot))
}

/// Report a problem with a published entry, one of its resources, a row or a data
/// item (signed in). `infringement` goes to the authority at once.
#[utoipa::path(post, path = "/api/v1/objections", tag = "feedback", request_body = ObjectionInput,
    security(("bearer" = [])),
    responses((status = 201, body = ObjectionView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn file_objection(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ObjectionView>)> {
    let p = ctx.principal()?;
    let input: ObjectionInput = json_body(&ctx, &headers, &body)?;
    let view = s
        .app
        .file_objection(p, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The caller's objections and, for providers and authorities, those addressed to them,
/// newest first. `mine=true` keeps only the caller's own.
#[utoipa::path(get, path = "/api/v1/objections", tag = "feedback", params(CaseFilter),
    security(("bearer" = [])),
    responses((status = 200, body = PageView<ObjectionView>), (status = 401, body = ErrorBody)))]
async fn list_objections(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Filter,
) -> ApiResult<Json<PageView<ObjectionView>>> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    let p = ctx.principal()?;
    Ok(Json(
        s.app.objections(p, &q).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// One objection with its history and what the caller may do with it.
#[utoipa::path(get, path = "/api/v1/objections/{id}", tag = "feedback", security(("bearer" = [])),
    responses((status = 200, body = ObjectionDetail), (status = 404, body = ErrorBody)))]
async fn objection(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<ObjectionDetail>> {
    let p = ctx.principal()?;
    Ok(Json(s.app.objection(p, id).await.map_err(|e| ctx.fail(e))?))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct EvidenceName {
    /// The file's name as the reporter knows it.
    name: Option<String>,
}

/// The reporter attaches one evidence file (PDF, PNG, JPEG or UTF-8 text, ≤ 10 MiB) as
/// the request body while the objection waits.
#[utoipa::path(post, path = "/api/v1/objections/{id}/evidence", tag = "feedback", params(EvidenceName),
    request_body(content = String, content_type = "application/octet-stream"),
    security(("bearer" = [])),
    responses((status = 200, body = ObjectionView), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_evidence(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    q: Result<Query<EvidenceName>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> ApiResult<Json<ObjectionView>> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .add_objection_evidence(p, id, q.name.as_deref().unwrap_or(""), body.to_vec())
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The evidence file, to the reporter, the provider and the authority; served as an
/// attachment of the type its bytes showed.
#[utoipa::path(get, path = "/api/v1/objections/{id}/evidence", tag = "feedback", security(("bearer" = [])),
    responses((status = 200, description = "The file"), (status = 404, body = ErrorBody)))]
async fn evidence(State(s): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> ApiResult<Response> {
    let p = ctx.principal()?;
    let (evidence, bytes) = s
        .app
        .objection_evidence(p, id)
        .await
        .map_err(|e| ctx.fail(e))?;
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&evidence.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CONTENT_DISPOSITION,
        crate::data_api::disposition(&evidence.name),
    );
    Ok(response)
}

/// The provider answers, naming the correcting version of the reported resource when
/// there is one.
#[utoipa::path(post, path = "/api/v1/objections/{id}/reply", tag = "feedback", request_body = ObjectionReply,
    security(("bearer" = [])),
    responses((status = 200, body = ObjectionView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reply(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ObjectionView>> {
    let p = ctx.principal()?;
    let input: ObjectionReply = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .reply_objection(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The reporter re-opens an answered objection, once, saying why.
#[utoipa::path(post, path = "/api/v1/objections/{id}/reopen", tag = "feedback", request_body = ReasonInput,
    security(("bearer" = [])),
    responses((status = 200, body = ObjectionView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reopen(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ObjectionView>> {
    let p = ctx.principal()?;
    let input: ReasonInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .reopen_objection(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The provider or the authority withholds the entry's data while an infringement
/// report is reviewed.
#[utoipa::path(post, path = "/api/v1/objections/{id}/offline", tag = "feedback", request_body = ReasonInput,
    security(("bearer" = [])),
    responses((status = 200, body = ObjectionView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn offline(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ObjectionView>> {
    let p = ctx.principal()?;
    let input: ReasonInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .take_offline(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The authority ends the review and the data is provided again.
#[utoipa::path(post, path = "/api/v1/objections/{id}/restore", tag = "feedback", request_body = ReasonInput,
    security(("bearer" = [])),
    responses((status = 200, body = ObjectionView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn restore(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ObjectionView>> {
    let p = ctx.principal()?;
    let input: ReasonInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .restore_online(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// Ask for data that is not open yet (signed in): what, why, and the provider if known.
#[utoipa::path(post, path = "/api/v1/demands", tag = "feedback", request_body = DemandInput,
    security(("bearer" = [])),
    responses((status = 201, body = DemandView), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn file_demand(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<DemandView>)> {
    let p = ctx.principal()?;
    let input: DemandInput = json_body(&ctx, &headers, &body)?;
    let view = s.app.file_demand(p, input).await.map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The public demand board, with the caller's own demands and, for providers and
/// authorities, those addressed to them. `mine=true` keeps only the caller's own.
#[utoipa::path(get, path = "/api/v1/demands", tag = "feedback", params(CaseFilter),
    responses((status = 200, body = PageView<DemandView>), (status = 422, body = ErrorBody)))]
async fn list_demands(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Filter,
) -> ApiResult<Json<PageView<DemandView>>> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    Ok(Json(
        s.app
            .demands(ctx.caller.as_ref(), &q)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The supply-and-demand list (供需对接): answered public demands and what answered them.
#[utoipa::path(get, path = "/api/v1/supply-demand", tag = "feedback", params(CaseFilter),
    responses((status = 200, body = PageView<DemandView>), (status = 422, body = ErrorBody)))]
async fn supply_demand(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Filter,
) -> ApiResult<Json<PageView<DemandView>>> {
    let Query(mut q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    q.state = Some("answered".into());
    q.mine = None;
    // The public list, whoever asks.
    Ok(Json(
        s.app.demands(None, &q).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// One demand: public ones to anyone; history to its participants.
#[utoipa::path(get, path = "/api/v1/demands/{id}", tag = "feedback",
    responses((status = 200, body = DemandDetail), (status = 404, body = ErrorBody)))]
async fn demand(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<DemandDetail>> {
    Ok(Json(
        s.app
            .demand(ctx.caller.as_ref(), id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The authority sends a demand that names no provider to one; its deadline starts.
#[utoipa::path(post, path = "/api/v1/demands/{id}/route", tag = "feedback", request_body = RouteInput,
    security(("bearer" = [])),
    responses((status = 200, body = DemandView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn route_demand(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<DemandView>> {
    let p = ctx.principal()?;
    let input: RouteInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .route_demand(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The provider answers: `will_open` (with `open_by`), `already_open` or `conditional`
/// (with the answering `dataset_id`), `cannot` (with the `legal_basis`).
#[utoipa::path(post, path = "/api/v1/demands/{id}/answer", tag = "feedback", request_body = DemandAnswer,
    security(("bearer" = [])),
    responses((status = 200, body = DemandView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn answer(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<DemandView>> {
    let p = ctx.principal()?;
    let input: DemandAnswer = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .answer_demand(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// What anyone may know of a published entry's feedback: objections filed and
/// answered, ratings, whether its data is withheld pending review.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/feedback", tag = "feedback",
    responses((status = 200, body = FeedbackSummary), (status = 404, body = ErrorBody)))]
async fn summary(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<FeedbackSummary>> {
    Ok(Json(
        s.app
            .feedback_summary(ctx.caller.as_ref(), id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// Rate a published entry, 1 to 5 stars (signed in; again to change it).
#[utoipa::path(post, path = "/api/v1/datasets/{id}/rating", tag = "feedback", request_body = RatingInput,
    security(("bearer" = [])),
    responses((status = 200, body = FeedbackSummary), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn rate(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<FeedbackSummary>> {
    let p = ctx.principal()?;
    let input: RatingInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app.rate(p, id, input).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// Register an application, study or product built on published entries (signed in);
/// it is shown once the authority approves it.
#[utoipa::path(post, path = "/api/v1/reuses", tag = "feedback", request_body = ReuseInput,
    security(("bearer" = [])),
    responses((status = 201, body = ReuseView), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn register_reuse(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ReuseView>)> {
    let p = ctx.principal()?;
    let input: ReuseInput = json_body(&ctx, &headers, &body)?;
    let view = s
        .app
        .register_reuse(p, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The showcase of approved records (`dataset_id=` for one entry's), with the caller's
/// own and, for the authority, those waiting for moderation (`state=pending`).
#[utoipa::path(get, path = "/api/v1/reuses", tag = "feedback", params(CaseFilter),
    responses((status = 200, body = PageView<ReuseView>), (status = 422, body = ErrorBody)))]
async fn list_reuses(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Filter,
) -> ApiResult<Json<PageView<ReuseView>>> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    Ok(Json(
        s.app
            .reuses(ctx.caller.as_ref(), &q)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// One record: approved ones to anyone, others to the author and the authority.
#[utoipa::path(get, path = "/api/v1/reuses/{id}", tag = "feedback",
    responses((status = 200, body = ReuseView), (status = 404, body = ErrorBody)))]
async fn reuse(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<ReuseView>> {
    Ok(Json(
        s.app
            .reuse(ctx.caller.as_ref(), id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The authority approves or rejects a waiting record (a note is required to reject).
#[utoipa::path(post, path = "/api/v1/reuses/{id}/moderate", tag = "feedback", request_body = ModerationInput,
    security(("bearer" = [])),
    responses((status = 200, body = ReuseView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn moderate(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ReuseView>> {
    let p = ctx.principal()?;
    let input: ModerationInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .moderate_reuse(p, id, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The author adds a screenshot (PNG or JPEG, ≤ 2 MiB, three at most) as the request
/// body, before moderation.
#[utoipa::path(post, path = "/api/v1/reuses/{id}/screenshots", tag = "feedback",
    request_body(content = String, content_type = "application/octet-stream"),
    security(("bearer" = [])),
    responses((status = 200, body = ReuseView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_screenshot(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<Json<ReuseView>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .add_reuse_screenshot(p, id, body.to_vec())
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// A screenshot of a record the caller may see.
#[utoipa::path(get, path = "/api/v1/reuses/{id}/screenshots/{n}", tag = "feedback",
    responses((status = 200, description = "The image"), (status = 404, body = ErrorBody)))]
async fn screenshot(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, n)): Path<(i64, usize)>,
) -> ApiResult<Response> {
    let (media, bytes) = s
        .app
        .reuse_screenshot(ctx.caller.as_ref(), id, n)
        .await
        .map_err(|e| ctx.fail(e))?;
    let mut response = bytes.into_response();
    if let Ok(v) = HeaderValue::from_str(&media) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(response)
}

/// The metadata quality of a published entry (SD-BIGDATA §20, SX-BIGDATA §24): a score
/// out of 100 and each check with its weight and what the entry earns.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/quality", tag = "feedback",
    responses((status = 200, body = gongshu_core::catalog::MetadataQuality), (status = 404, body = ErrorBody)))]
async fn quality(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<gongshu_core::catalog::MetadataQuality>> {
    let entry = s.app.public_dataset(id).await.map_err(|e| ctx.fail(e))?;
    Ok(Json(entry.metadata.metadata_quality()))
}

/// The quality of a resource's current version and the trend of its last versions
/// (completeness, check digits, repeated keys and rows, a sharp drop in rows,
/// timeliness), for its provider and those who oversee it. Counts only, no values.
#[utoipa::path(get, path = "/api/v1/resources/{id}/quality", tag = "feedback", security(("bearer" = [])),
    responses((status = 200, body = gongshu_app::quality::QualityReport), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn resource_quality(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<gongshu_app::quality::QualityReport>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .resource_quality(p, &id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(file_objection, list_objections, objection, add_evidence, evidence, reply, reopen,
        offline, restore, file_demand, list_demands, supply_demand, demand, route_demand,
        answer, summary, rate, register_reuse, list_reuses, reuse, moderate, add_screenshot,
        screenshot, quality, resource_quality),
    components(schemas(ObjectionInput, ObjectionView, ObjectionDetail, ObjectionReply,
        ReasonInput, DemandInput, DemandView, DemandDetail, DemandAnswer, RouteInput,
        RatingInput, FeedbackSummary, ReuseInput, ReuseView, ReuseKind, ModerationInput,
        gongshu_app::reuse::ReuseDataset, gongshu_core::catalog::MetadataQuality,
        gongshu_core::catalog::MetadataCheck, gongshu_app::quality::QualityReport,
        gongshu_app::quality::VersionQuality, gongshu_app::quality::ColumnQuality,
        gongshu_app::quality::QualityProblem, gongshu_app::feedback::Evidence,
        gongshu_core::feedback::ObjectionKind, gongshu_core::feedback::DemandAnswerKind)),
    tags((name = "feedback", description = "Objections, data demands, ratings (SD-OPEN §12, §13)"))
)]
pub(crate) struct FeedbackApiDoc;
