//! Federation of a province's and its cities' platforms (issue 10: SD-EGOV §10, §15;
//! SD-BIGDATA §12) under `/api/v1/federation`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router, routing::get, routing::post};
use bytes::Bytes;
use gongshu_app::federation::{
    EnrollAnswer, EnrollRequest, FederatedEntry, FederatedEvaluation, MEMBER_HEADER, MemberCreated,
    MemberInput, MemberView, SIGNATURE_HEADER, SyncConflict, SyncReport, SyncRequest,
    TIMESTAMP_HEADER, UpstreamInput, UpstreamView,
};
use gongshu_core::{Error, ErrorCode};

use crate::AppState;
use crate::api::json_body;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/federation/members", get(members).post(register))
        .route("/federation/enroll", post(enroll))
        .route("/federation/sync", post(sync))
        .route("/federation/upstream", get(upstream).put(set_upstream))
        .route("/federation/upstream/push", post(push))
}

/// The member platforms (cities) of this province's federation that the caller
/// oversees, with each one's last push.
#[utoipa::path(get, path = "/api/v1/federation/members", tag = "federation", security(("bearer" = [])),
    responses((status = 200, body = Vec<MemberView>), (status = 401, body = ErrorBody)))]
async fn members(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<Vec<MemberView>>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app.federation_members(p).await.map_err(|e| ctx.fail(e))?,
    ))
}

/// The province's system administrator or authority registers a member platform; the
/// answer carries the one-time token the member enrols with.
#[utoipa::path(post, path = "/api/v1/federation/members", tag = "federation", request_body = MemberInput,
    security(("bearer" = [])),
    responses((status = 201, body = MemberCreated), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn register(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<MemberCreated>)> {
    let p = ctx.principal()?;
    let input: MemberInput = json_body(&ctx, &headers, &body)?;
    let created = s
        .app
        .create_federation_member(p, input)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A member platform enrols with its one-time token and its Ed25519 public key.
#[utoipa::path(post, path = "/api/v1/federation/enroll", tag = "federation", request_body = EnrollRequest,
    responses((status = 200, body = EnrollAnswer), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn enroll(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<EnrollAnswer>> {
    let req: EnrollRequest = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .enroll_federation_member(req)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// A member's push: entries new or changed since its last push, and the codes it no
/// longer publishes. Signed with the member's key over the member id, the timestamp
/// and the body's SHA-256 (headers `x-gongshu-member`, `x-gongshu-timestamp`,
/// `x-gongshu-signature`); the sequence number must move forward.
#[utoipa::path(post, path = "/api/v1/federation/sync", tag = "federation", request_body = SyncRequest,
    params(("x-gongshu-member" = i64, Header, description = "The member's id"),
        ("x-gongshu-timestamp" = i64, Header, description = "Unix seconds, within 5 minutes"),
        ("x-gongshu-signature" = String, Header, description = "Base64 Ed25519 signature")),
    responses((status = 200, body = SyncReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn sync(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<SyncReport>> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                ctx.fail(Error::new(
                    ErrorCode::Unauthenticated,
                    format!("缺少签名头 {name}"),
                    format!("the signature header {name} is missing"),
                ))
            })
    };
    let member = header(MEMBER_HEADER)?;
    let member: i64 = member.trim().parse().map_err(|_| {
        ctx.fail(Error::new(
            ErrorCode::Unauthenticated,
            "成员编号无效",
            "bad member id",
        ))
    })?;
    let timestamp = header(TIMESTAMP_HEADER)?;
    let signature = header(SIGNATURE_HEADER)?;
    Ok(Json(
        s.app
            .federation_push(member, &timestamp, &signature, &body)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The province this platform reports to (its system administrators and auditors).
#[utoipa::path(get, path = "/api/v1/federation/upstream", tag = "federation", security(("bearer" = [])),
    responses((status = 200, body = UpstreamView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn upstream(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<UpstreamView>> {
    let p = ctx.principal()?;
    Ok(Json(
        s.app
            .federation_upstream(p)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The system administrator enrols this platform with its province, with the token the
/// province gave; the catalog is then pushed on schedule.
#[utoipa::path(put, path = "/api/v1/federation/upstream", tag = "federation", request_body = UpstreamInput,
    security(("bearer" = [])),
    responses((status = 200, body = UpstreamView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_upstream(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<UpstreamView>> {
    let p = ctx.principal()?;
    if !p.has_role(gongshu_core::types::Role::SystemAdmin) {
        return Err(ctx.fail(Error::forbidden()));
    }
    let input: UpstreamInput = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .set_federation_upstream(p, input)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Pushed {
    /// Entries and withdrawals sent.
    pushed: usize,
}

/// Pushes what changed now instead of at the next scheduled push.
#[utoipa::path(post, path = "/api/v1/federation/upstream/push", tag = "federation", security(("bearer" = [])),
    responses((status = 200, body = Pushed), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn push(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<Pushed>> {
    let p = ctx.principal()?;
    // Only who may enrol may push, and only once enrolled.
    s.app
        .federation_upstream(p)
        .await
        .map_err(|e| ctx.fail(e))?;
    if !p.has_role(gongshu_core::types::Role::SystemAdmin) {
        return Err(ctx.fail(Error::forbidden()));
    }
    let pushed = s.app.push_to_province().await.map_err(|e| ctx.fail(e))?;
    Ok(Json(Pushed { pushed }))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(members, register, enroll, sync, upstream, set_upstream, push),
    components(schemas(MemberInput, MemberView, MemberCreated, EnrollRequest, EnrollAnswer,
        SyncRequest, FederatedEntry, FederatedEvaluation, SyncReport, SyncConflict, UpstreamInput, UpstreamView, Pushed)),
    tags((name = "federation", description = "Federation of province and city platforms (SD-EGOV §10, §15)"))
)]
pub(crate) struct FederationApiDoc;
