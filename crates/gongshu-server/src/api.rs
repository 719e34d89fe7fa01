//! The JSON API under `/api/v1`. Handlers read the request, call one use case and encode
//! the answer; the rules are in `gongshu-core`, the use cases in `gongshu-app`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::post};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use gongshu_app::catalog::NegativeList;
use gongshu_app::directory::{NewOrgInput, NewUserInput, UserView};
use gongshu_app::gongshu_store::{PublishedQuery, PublishedSort};
use gongshu_app::views::{DatasetView, MasterCatalogView, OrgView, PageView, RevisionView};
use gongshu_core::catalog::{DatasetDraft, Step};
use gongshu_core::diff::FieldChange;
use gongshu_core::error::Lang;
use gongshu_core::types::{
    DatasetStatus, Domain, Grade, OpenType, OrgKind, Role, ShareType, UpdateCycle,
};
use gongshu_core::{Error, ErrorCode, FieldError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(issue_token).delete(revoke_token))
        .route("/me", get(me))
        .route("/regions", get(list_regions).post(add_region))
        .route("/regions/{code}/catalog", get(master_catalog))
        .route("/organizations", get(list_orgs).post(create_org))
        .route("/organizations/{id}", get(get_org))
        .route("/organizations/{id}/open-list", get(open_list))
        .route("/negative-lists/{kind}", get(negative_list))
        .route("/datasets", get(list_datasets).post(create_dataset))
        .route("/datasets/{id}", get(get_dataset).put(update_dataset))
        .route("/datasets/{id}/{step}", post(step_dataset))
        .route("/datasets/{id}/versions", get(list_versions))
        .route("/datasets/{id}/versions/{version}", get(get_version))
        .route("/datasets/{id}/diff", get(diff_versions))
        .route("/workbench/datasets", get(workbench))
        .route("/workbench/datasets/{id}", get(workbench_dataset))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}/roles", post(grant_role))
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let mime = v.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
        })
}

pub(crate) fn bad_json(lang: Lang, e: &serde_json::Error) -> ApiError {
    // Well-formed JSON of the wrong shape (unknown field, unknown enum value, wrong type)
    // is a validation failure; anything else is an unreadable request.
    let code = if e.is_data() {
        ErrorCode::Validation
    } else {
        ErrorCode::BadRequest
    };
    ApiError::new(
        Error::new(
            code,
            format!("请求体无法解析：{e}"),
            format!("The request body could not be read: {e}"),
        ),
        lang,
    )
}

/// Reads a JSON body with a precise error, whatever is wrong with it.
pub(crate) fn json_body<T: DeserializeOwned>(
    ctx: &Ctx,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<T> {
    if !is_json(headers) {
        return Err(ctx.fail(Error::new(
            ErrorCode::BadRequest,
            "请求体应为 application/json",
            "The body must be application/json",
        )));
    }
    serde_json::from_slice(body).map_err(|e| bad_json(ctx.lang, &e))
}

/// Fields a client may send back unchanged after reading an entry; the platform assigns
/// them, so they are ignored on input.
const READ_ONLY: &[&str] = &[
    "id",
    "provider",
    "region_code",
    "status",
    "published_at",
    "updated_at",
    "review_note",
];

/// Splits a flat dataset object into the draft and the envelope fields (`version`,
/// `provider_id`, `code`), so clients send one object as they receive one.
fn dataset_body(
    ctx: &Ctx,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<(DatasetDraft, Envelope)> {
    let mut value: serde_json::Value = json_body(ctx, headers, body)?;
    let obj = value.as_object_mut().ok_or_else(|| {
        ctx.fail(Error::new(
            ErrorCode::BadRequest,
            "请求体应为JSON对象",
            "The body must be a JSON object",
        ))
    })?;
    for k in READ_ONLY {
        obj.remove(*k);
    }
    let envelope = Envelope {
        version: obj.remove("version"),
        provider_id: obj.remove("provider_id"),
        code: obj.remove("code"),
    };
    let draft = serde_json::from_value(value).map_err(|e| bad_json(ctx.lang, &e))?;
    Ok((draft, envelope))
}

struct Envelope {
    version: Option<serde_json::Value>,
    provider_id: Option<serde_json::Value>,
    code: Option<serde_json::Value>,
}

fn field_error(ctx: &Ctx, field: &str, zh: &str, en: &str) -> ApiError {
    ctx.fail(Error::validation(vec![FieldError::new(
        field, "type", zh, en,
    )]))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    pub(crate) username: String,
    pub(crate) password: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    pub(crate) token: String,
    pub(crate) expires_at: DateTime<Utc>,
}

// Both carry a secret: keep it out of any log line.
impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Exchange a username and password for an API token.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody)))]
async fn issue_token(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let req: TokenRequest = json_body(&ctx, &headers, &body)?;
    let user = s
        .app
        .login_from(&req.username, &req.password, ctx.client)
        .await
        .map_err(|e| ctx.fail(e))?;
    let (token, expires_at) = s
        .app
        .issue_api_token(&user)
        .await
        .map_err(|e| ctx.fail(e))?;
    tracing::info!(user = %user.username, "api token issued");
    Ok(crate::audit::AuditNote::login("auth.token", &user)
        .attach(Json(TokenResponse { token, expires_at }).into_response()))
}

/// Revoke the token the request was made with.
#[utoipa::path(delete, path = "/api/v1/auth/token", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn revoke_token(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    // A grant-scoped token may revoke itself, though it may do nothing else.
    ctx.caller
        .as_ref()
        .ok_or_else(|| ctx.fail(Error::unauthenticated()))?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ctx.fail(Error::unauthenticated()))?;
    s.app.revoke(token.trim()).await.map_err(|e| ctx.fail(e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller and their roles.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
async fn me(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<UserView>> {
    let p = ctx.principal()?;
    let user = s
        .app
        .user_by_name(&p.username)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(Json(s.app.user_view(user).await.map_err(|e| ctx.fail(e))?))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegionBody {
    /// GB/T 2260 six-digit code.
    pub(crate) code: String,
    pub(crate) name: String,
}

/// All regions (GB/T 2260) the platform knows.
#[utoipa::path(get, path = "/api/v1/regions", tag = "directory", responses((status = 200, body = [RegionBody])))]
async fn list_regions(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<Vec<RegionBody>>> {
    let rows = s.app.regions().await.map_err(|e| ctx.fail(e))?;
    Ok(Json(
        rows.into_iter()
            .map(|r| RegionBody {
                code: r.code,
                name: r.name,
            })
            .collect(),
    ))
}

/// Add a region below an existing one (system administrator).
#[utoipa::path(post, path = "/api/v1/regions", tag = "directory", request_body = RegionBody, security(("bearer" = [])),
    responses((status = 201), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_region(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let p = ctx.principal()?;
    let req: RegionBody = json_body(&ctx, &headers, &body)?;
    s.app
        .add_region(p, &req.code, &req.name)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(StatusCode::CREATED)
}

/// A region's master catalog (总目录): its entries and its sub-regions', rolled up.
#[utoipa::path(get, path = "/api/v1/regions/{code}/catalog", tag = "catalog",
    params(("code" = String, Path, description = "GB/T 2260 code")),
    responses((status = 200, body = MasterCatalogView), (status = 404, body = ErrorBody)))]
async fn master_catalog(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<Json<MasterCatalogView>> {
    Ok(Json(
        s.app.master_catalog(&code).await.map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct OrgQuery {
    /// Only organisations in this region and below.
    pub(crate) region: Option<String>,
    pub(crate) kind: Option<OrgKind>,
}

/// Organisations: data providers and big-data authorities.
#[utoipa::path(get, path = "/api/v1/organizations", tag = "directory", params(OrgQuery),
    responses((status = 200, body = [OrgView])))]
async fn list_orgs(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<OrgQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<OrgView>>> {
    let Query(q) = q.map_err(|e| query_error(&ctx, &e))?;
    Ok(Json(
        s.app
            .orgs(q.region.as_deref(), q.kind)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// Register an organisation (system administrator or the region's authority).
#[utoipa::path(post, path = "/api/v1/organizations", tag = "directory", request_body = NewOrgInput, security(("bearer" = [])),
    responses((status = 201, body = OrgView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_org(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<OrgView>)> {
    let p = ctx.principal()?;
    let req: NewOrgInput = json_body(&ctx, &headers, &body)?;
    let org = s.app.create_org(p, req).await.map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(org)))
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "directory",
    responses((status = 200, body = OrgView), (status = 404, body = ErrorBody)))]
async fn get_org(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<OrgView>> {
    Ok(Json(s.app.org(id).await.map_err(|e| ctx.fail(e))?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub(crate) struct PageQuery {
    pub(crate) page: Option<i64>,
    pub(crate) per_page: Option<i64>,
    pub(crate) region: Option<String>,
}

/// A provider's open list (公共数据开放清单, SD-OPEN §10).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/open-list", tag = "catalog", params(PageQuery),
    responses((status = 200, body = PageView<DatasetView>), (status = 404, body = ErrorBody)))]
async fn open_list(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<PageView<DatasetView>>> {
    let Query(q) = q.map_err(|e| query_error(&ctx, &e))?;
    Ok(Json(
        s.app
            .open_list(id, q.page, q.per_page)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// A negative list (负面清单): `share` for 不予共享, `open` for 不予开放, each with its legal basis.
#[utoipa::path(get, path = "/api/v1/negative-lists/{kind}", tag = "catalog", params(("kind" = String, Path, description = "share | open"), PageQuery),
    responses((status = 200, body = PageView<DatasetView>), (status = 404, body = ErrorBody)))]
async fn negative_list(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(kind): Path<String>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<PageView<DatasetView>>> {
    let Query(q) = q.map_err(|e| query_error(&ctx, &e))?;
    let kind = match kind.as_str() {
        "share" => NegativeList::Share,
        "open" => NegativeList::Open,
        _ => return Err(ctx.fail(Error::not_found("清单", "List"))),
    };
    Ok(Json(
        s.app
            .negative_list(kind, q.region.as_deref(), q.page, q.per_page)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub(crate) struct DatasetQuery {
    /// Words to look for in title, summary, keywords, data items, code and provider.
    pub(crate) q: Option<String>,
    pub(crate) page: Option<i64>,
    pub(crate) per_page: Option<i64>,
    pub(crate) domain: Option<Domain>,
    /// Provider organisation id.
    pub(crate) provider: Option<i64>,
    /// GB/T 2260 code: entries of this region and below.
    pub(crate) region: Option<String>,
    pub(crate) open_type: Option<OpenType>,
    pub(crate) share_type: Option<ShareType>,
    pub(crate) update_cycle: Option<UpdateCycle>,
    pub(crate) grade: Option<Grade>,
    /// A file format the entry is offered in (`csv`, `xlsx`, `json` …).
    pub(crate) format: Option<String>,
    /// `relevance` (the default with `q`), `updated` (the default without), `downloads`,
    /// `title` or `code`.
    pub(crate) sort: Option<String>,
}

pub(crate) fn query_error(ctx: &Ctx, e: &axum::extract::rejection::QueryRejection) -> ApiError {
    ctx.fail(Error::new(
        ErrorCode::Validation,
        format!("查询参数有误：{}", e.body_text()),
        format!("Invalid query parameter: {}", e.body_text()),
    ))
}

pub(crate) fn published_query(ctx: &Ctx, q: &DatasetQuery) -> ApiResult<PublishedQuery> {
    let region_prefix = match q.region.as_deref() {
        Some(r) if !r.is_empty() => Some(gongshu_app::region_prefix(r).map_err(|e| ctx.fail(e))?),
        _ => None,
    };
    let words = q.q.as_deref().is_some_and(|s| !s.trim().is_empty());
    let sort = match q.sort.as_deref() {
        // Words are answered best match first unless another order is asked for.
        None | Some("") if words => PublishedSort::Relevance,
        Some("relevance") => PublishedSort::Relevance,
        None | Some("" | "updated") => PublishedSort::Updated,
        Some("downloads") => PublishedSort::Downloads,
        Some("title") => PublishedSort::Title,
        Some("code") => PublishedSort::Code,
        Some(_) => {
            return Err(field_error(
                ctx,
                "sort",
                "排序方式应为 relevance、updated、downloads、title 或 code",
                "sort is relevance, updated, downloads, title or code",
            ));
        }
    };
    let format = match q.format.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(f) if f.len() <= 20 && f.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Some(f.to_ascii_lowercase())
        }
        Some(_) => {
            return Err(field_error(
                ctx,
                "format",
                "格式应为 csv、xlsx、json 等文件格式名",
                "format is a file format's name: csv, xlsx, json …",
            ));
        }
    };
    Ok(PublishedQuery {
        q: q.q.clone().filter(|s| !s.trim().is_empty()),
        format,
        domain: q.domain,
        provider_id: q.provider,
        region_prefix,
        open_types: q.open_type.into_iter().collect(),
        share_type: q.share_type,
        update_cycle: q.update_cycle,
        grade: q.grade,
        sort,
        limit: 0,
        offset: 0,
    })
}

/// The public catalog: published entries only.
#[utoipa::path(get, path = "/api/v1/datasets", tag = "catalog", params(DatasetQuery),
    responses((status = 200, body = PageView<DatasetView>), (status = 422, body = ErrorBody)))]
async fn list_datasets(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<DatasetQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<PageView<DatasetView>>> {
    let Query(q) = q.map_err(|e| query_error(&ctx, &e))?;
    let query = published_query(&ctx, &q)?;
    Ok(Json(
        s.app
            .list_public(query, q.page, q.per_page)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// Create a draft catalog entry. The body is the entry itself; `provider_id` chooses the
/// provider when the caller administers several, `code` carries over an existing code.
#[utoipa::path(post, path = "/api/v1/datasets", tag = "catalog", request_body = DatasetDraft, security(("bearer" = [])),
    responses((status = 201, body = DatasetView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_dataset(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<DatasetView>)> {
    let p = ctx.principal()?;
    let (draft, env) = dataset_body(&ctx, &headers, &body)?;
    let provider_id =
        match env.provider_id {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(v.as_i64().ok_or_else(|| {
                field_error(&ctx, "provider_id", "应为整数", "must be an integer")
            })?),
        };
    let code = match &env.code {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .ok_or_else(|| field_error(&ctx, "code", "应为字符串", "must be a string"))?,
        ),
    };
    let view = s
        .app
        .create_dataset(p, provider_id, code, draft)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A published entry. Those who take part in an unpublished one read it under `/workbench`.
#[utoipa::path(get, path = "/api/v1/datasets/{id}", tag = "catalog",
    responses((status = 200, body = DatasetView), (status = 404, body = ErrorBody)))]
async fn get_dataset(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<DatasetView>> {
    Ok(Json(
        s.app.public_dataset(id).await.map_err(|e| ctx.fail(e))?,
    ))
}

pub(crate) fn expected_version(
    ctx: &Ctx,
    headers: &HeaderMap,
    body_version: Option<serde_json::Value>,
) -> ApiResult<i64> {
    let from_header = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .parse::<i64>()
        });
    match (body_version, from_header) {
        (Some(v), _) => v.as_i64().ok_or_else(|| {
            field_error(
                ctx,
                "version",
                "版本号应为整数",
                "version must be an integer",
            )
        }),
        (None, Some(Ok(v))) => Ok(v),
        _ => Err(ctx.fail(Error::validation(vec![FieldError::new(
            "version",
            "required",
            "请提供所修改的版本号（version 字段或 If-Match 头）",
            "Send the version you edited (field `version` or header If-Match)",
        )]))),
    }
}

/// Replace the working copy. The `version` read before editing is required (or
/// `If-Match`); a stale one gives 409 and changes nothing.
#[utoipa::path(put, path = "/api/v1/datasets/{id}", tag = "catalog", request_body = DatasetDraft, security(("bearer" = [])),
    responses((status = 200, body = DatasetView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_dataset(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<DatasetView>> {
    let p = ctx.principal()?;
    let (draft, env) = dataset_body(&ctx, &headers, &body)?;
    let version = expected_version(&ctx, &headers, env.version)?;
    Ok(Json(
        s.app
            .update_dataset(p, id, version, draft)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepBody {
    /// The version the step applies to.
    pub(crate) version: i64,
    /// Reasons: required to reject or withdraw.
    #[serde(default)]
    pub(crate) note: Option<String>,
}

/// A workflow step: `submit`, `recall` (provider), `approve`, `reject` (authority), `withdraw`.
#[utoipa::path(post, path = "/api/v1/datasets/{id}/{step}", tag = "catalog", request_body = StepBody, security(("bearer" = [])),
    params(("id" = i64, Path), ("step" = String, Path, description = "submit | recall | approve | reject | withdraw")),
    responses((status = 200, body = DatasetView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn step_dataset(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, step)): Path<(i64, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<DatasetView>> {
    let step = match step.as_str() {
        "submit" => Step::Submit,
        "recall" => Step::Recall,
        "approve" => Step::Approve,
        "reject" => Step::Reject,
        "withdraw" => Step::Withdraw,
        _ => return Err(ctx.fail(Error::not_found("操作", "Step"))),
    };
    let p = ctx.principal()?;
    let req: StepBody = json_body(&ctx, &headers, &body)?;
    Ok(Json(
        s.app
            .step_dataset(p, id, req.version, step, req.note.as_deref())
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The versions of an entry: all of them for those who take part in it, the published ones for everyone else.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/versions", tag = "catalog",
    responses((status = 200, body = [RevisionView]), (status = 404, body = ErrorBody)))]
async fn list_versions(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<RevisionView>>> {
    Ok(Json(
        s.app
            .revisions(ctx.caller.as_ref(), id)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The metadata of one version.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/versions/{version}", tag = "catalog",
    responses((status = 200, body = DatasetDraft), (status = 404, body = ErrorBody)))]
async fn get_version(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, version)): Path<(i64, i64)>,
) -> ApiResult<Json<DatasetDraft>> {
    Ok(Json(
        s.app
            .revision(ctx.caller.as_ref(), id, version)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct DiffQuery {
    pub(crate) from: i64,
    pub(crate) to: i64,
}

/// What changed between two versions, field by field.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/diff", tag = "catalog", params(DiffQuery),
    responses((status = 200, body = [FieldChange]), (status = 404, body = ErrorBody)))]
async fn diff_versions(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    q: Result<Query<DiffQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<FieldChange>>> {
    let Query(q) = q.map_err(|e| query_error(&ctx, &e))?;
    Ok(Json(
        s.app
            .diff_versions(ctx.caller.as_ref(), id, q.from, q.to)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct WorkbenchQuery {
    pub(crate) status: Option<DatasetStatus>,
    pub(crate) page: Option<i64>,
    pub(crate) per_page: Option<i64>,
}

/// The caller's workbench: their providers' entries in every state; for an authority or
/// auditor, those of its region (e.g. `status=submitted` is the review queue).
#[utoipa::path(get, path = "/api/v1/workbench/datasets", tag = "catalog", params(WorkbenchQuery), security(("bearer" = [])),
    responses((status = 200, body = PageView<DatasetView>), (status = 401, body = ErrorBody)))]
async fn workbench(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<WorkbenchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<PageView<DatasetView>>> {
    let p = ctx.principal()?;
    let Query(q) = q.map_err(|e| query_error(&ctx, &e))?;
    Ok(Json(
        s.app
            .list_workbench(p, q.status, q.page, q.per_page)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

/// The working copy of an entry, for those who take part in it.
#[utoipa::path(get, path = "/api/v1/workbench/datasets/{id}", tag = "catalog", security(("bearer" = [])),
    responses((status = 200, body = DatasetView), (status = 404, body = ErrorBody)))]
async fn workbench_dataset(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let p = ctx.principal()?;
    let view = s
        .app
        .working_dataset(p, id)
        .await
        .map_err(|e| ctx.fail(e))?;
    let etag = format!("\"{}\"", view.version);
    Ok(([(header::ETAG, etag)], Json(view)).into_response())
}

/// Accounts (system administrator).
#[utoipa::path(get, path = "/api/v1/users", tag = "directory", security(("bearer" = [])),
    responses((status = 200, body = [UserView]), (status = 403, body = ErrorBody)))]
async fn list_users(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<Vec<UserView>>> {
    let p = ctx.principal()?;
    Ok(Json(s.app.users(p).await.map_err(|e| ctx.fail(e))?))
}

/// Create an account (system administrator).
#[utoipa::path(post, path = "/api/v1/users", tag = "directory", request_body = NewUserInput, security(("bearer" = [])),
    responses((status = 201, body = UserView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_user(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let p = ctx.principal()?;
    let req: NewUserInput = json_body(&ctx, &headers, &body)?;
    Ok((
        StatusCode::CREATED,
        Json(s.app.create_user(p, req).await.map_err(|e| ctx.fail(e))?),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantBody {
    pub(crate) role: Role,
    pub(crate) org_id: Option<i64>,
    /// For auditors: the region they audit.
    pub(crate) region_code: Option<String>,
}

/// Grant a role (system administrator, or an authority inside its region).
#[utoipa::path(post, path = "/api/v1/users/{id}/roles", tag = "directory", request_body = GrantBody, security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn grant_role(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let p = ctx.principal()?;
    let req: GrantBody = json_body(&ctx, &headers, &body)?;
    s.app
        .grant_role(Some(p), id, req.role, req.org_id, req.region_code)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Gongshu (公数) API", description = "The unified public-data platform: catalog, organisations, identity."),
    paths(issue_token, revoke_token, me, list_regions, add_region, master_catalog, list_orgs, create_org, get_org,
        open_list, negative_list, list_datasets, create_dataset, get_dataset, update_dataset, step_dataset,
        list_versions, get_version, diff_versions, workbench, workbench_dataset, list_users, create_user, grant_role),
    components(schemas(ErrorBody, DatasetDraft, DatasetView, OrgView, UserView, RevisionView, FieldChange, MasterCatalogView)),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "catalog"), (name = "directory"))
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
