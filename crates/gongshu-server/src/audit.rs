//! Every request that changes something, reads data or is refused goes into the audit
//! log, from one layer, so that no handler can forget it; and the auditors' endpoints
//! (checkpoint, proofs, entries).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gongshu_app::audit::{AuditEntryView, AuditEvent, CheckpointView, ProofView};
use gongshu_app::gongshu_store::AuditQuery;
use gongshu_app::views::PageView;
use gongshu_core::authz::Principal;
use gongshu_core::error::Lang;
use gongshu_core::{Error, ErrorCode};
use serde::Deserialize;

use crate::AppState;
use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorBody};

type ApiResult<T> = Result<T, ApiError>;

/// Filled by the `Ctx` extractor: who the caller turned out to be, and the route matched.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditSlot(Arc<Mutex<SlotFacts>>);

#[derive(Debug, Default)]
struct SlotFacts {
    caller: Option<Principal>,
    route: Option<String>,
}

impl AuditSlot {
    pub(crate) fn set_caller(&self, caller: Option<Principal>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).caller = caller;
    }

    pub(crate) fn set_route(&self, route: Option<String>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).route = route;
    }
}

/// A handler's account of a data access, attached to its response: what was read, of
/// which catalog entry, under which grant. A response carrying one is always audited,
/// and is not sent if its entry cannot be written.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditNote {
    pub(crate) action: &'static str,
    pub(crate) object: String,
    pub(crate) dataset: Option<i64>,
    pub(crate) grant: Option<i64>,
    /// The one who acted, when the request itself was anonymous (a login).
    pub(crate) actor: Option<Principal>,
}

/// The notes a response carries: one per catalog entry a query read.
#[derive(Debug, Clone, Default)]
struct AuditNotes(Vec<AuditNote>);

impl AuditNote {
    /// A sign-in: the user is the actor, though the request came without credentials.
    pub(crate) fn login(action: &'static str, user: &gongshu_app::gongshu_store::UserRow) -> Self {
        Self {
            action,
            object: format!("user:{}", user.id),
            actor: Some(Principal {
                user_id: user.id,
                username: user.username.clone(),
                grants: Vec::new(),
                grant_scope: None,
            }),
            ..Self::default()
        }
    }

    pub(crate) fn attach(self, mut response: Response) -> Response {
        match response.extensions_mut().get_mut::<AuditNotes>() {
            Some(notes) => notes.0.push(self),
            None => {
                response.extensions_mut().insert(AuditNotes(vec![self]));
            }
        }
        response
    }
}

/// The catalog entry a route acts on, when it names one (`…/datasets/{id}…`), so that
/// its provider finds the change among the entry's audit records.
fn dataset_of(route: &str, path: &str) -> Option<i64> {
    let route: Vec<&str> = route.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    route
        .windows(2)
        .position(|w| w == ["datasets", "{id}"])
        .and_then(|i| path.get(i + 1))
        .and_then(|id| id.parse().ok())
}

fn outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => "denied",
        400..=499 => "rejected",
        500..=599 => "failed",
        _ => "ok",
    }
}

/// The layer: runs the request, then writes its entry when the request changed state
/// (any method but GET/HEAD/OPTIONS), read data (a handler attached an `AuditNote`), or
/// was refused for want of rights.
pub(crate) async fn record(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let client_addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let slot = AuditSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status();
    let facts = std::mem::take(&mut *slot.0.lock().unwrap_or_else(|e| e.into_inner()));
    // Routes the caller's extractor did not see (assets, health) are counted together.
    crate::metrics::observe(
        method.as_str(),
        facts.route.as_deref().unwrap_or("(other)"),
        status,
        started.elapsed(),
    );
    let notes = response
        .extensions()
        .get::<AuditNotes>()
        .map(|n| n.0.clone())
        .unwrap_or_default();
    let changes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let refused = matches!(status.as_u16(), 401 | 403);
    if notes.is_empty() && !changes && !refused {
        return response;
    }
    let route = facts.route.unwrap_or_else(|| path.clone());
    let common = AuditEvent {
        outcome: outcome(status),
        status: Some(status.as_u16()),
        client_addr,
        request_id,
        ..AuditEvent::default()
    };
    // What a handler accounted for (data read, a sign-in) is not handed out unrecorded.
    let withhold = status.is_success() && !notes.is_empty();
    let entries: Vec<(Option<Principal>, AuditEvent)> = if notes.is_empty() {
        vec![(
            facts.caller,
            AuditEvent {
                action: format!("{method} {route}"),
                dataset: dataset_of(&route, &path),
                object: path,
                ..common
            },
        )]
    } else {
        notes
            .into_iter()
            .map(|n| {
                (
                    n.actor.or_else(|| facts.caller.clone()),
                    AuditEvent {
                        action: n.action.to_owned(),
                        object: n.object,
                        dataset: n.dataset,
                        grant: n.grant,
                        ..common.clone()
                    },
                )
            })
            .collect()
    };
    for (caller, event) in entries {
        if let Err(e) = s.app.audit(caller.as_ref(), event).await {
            if withhold {
                tracing::error!(error = %e.message_en, "audit entry not written: the data is withheld");
                return ApiError::new(
                    Error::new(
                        ErrorCode::Internal,
                        "审计日志暂不可用，数据暂不提供，请稍后重试",
                        "The audit log is unavailable, so no data is served; try again later",
                    ),
                    Lang::Zh,
                )
                .into_response();
            }
            // A change already made is reported as made.
            tracing::error!(error = %e.message_en, %status, "audit entry not written");
        }
    }
    response
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit/checkpoint", get(checkpoint))
        .route("/audit/proof/inclusion", get(inclusion))
        .route("/audit/proof/consistency", get(consistency))
        .route("/audit/entries", get(entries))
        .route("/alerts", get(alerts))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    page: Option<i64>,
    per_page: Option<i64>,
}

/// Monitoring alerts, newest first, with the audit entries that are their evidence: all
/// of them for auditors and the province's authority, a provider's for its own entries.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "audit", params(AlertsQuery),
    responses((status = 200, body = PageView<gongshu_app::monitor::AlertView>), (status = 403, body = ErrorBody)))]
async fn alerts(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<AlertsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<PageView<gongshu_app::monitor::AlertView>>> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    let caller = ctx.principal()?;
    let per_page = q.per_page.unwrap_or(50).clamp(1, 200);
    let page = q.page.unwrap_or(1).max(1);
    let found = s
        .app
        .alerts(caller, per_page, (page - 1).saturating_mul(per_page))
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(Json(PageView {
        items: found
            .items
            .into_iter()
            .map(|a| gongshu_app::monitor::AlertView::of(a, ctx.lang))
            .collect(),
        total: found.total,
        page,
        per_page,
        facets: None,
        partial_match: false,
    }))
}

pub(crate) fn page_routes() -> Router<AppState> {
    Router::new().route("/console/audit", get(page))
}

/// The latest signed checkpoint of the audit log, with the public key that verifies it.
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "audit",
    responses((status = 200, body = CheckpointView)))]
async fn checkpoint(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<CheckpointView>> {
    Ok(Json(
        s.app.latest_checkpoint().await.map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    /// The entry's index: its number − 1.
    index: u64,
    /// The size of the tree (a checkpoint's).
    size: u64,
}

/// That an entry is in the log as of a checkpoint: the RFC 9162 audit path.
#[utoipa::path(get, path = "/api/v1/audit/proof/inclusion", tag = "audit", params(InclusionQuery),
    responses((status = 200, body = ProofView), (status = 422, body = ErrorBody)))]
async fn inclusion(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ProofView>> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    Ok(Json(
        s.app
            .inclusion_proof(q.index, q.size)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    /// The earlier checkpoint's size.
    first: u64,
    /// The later checkpoint's size.
    size: u64,
}

/// That a later checkpoint's log extends an earlier one's: the RFC 9162 consistency proof.
#[utoipa::path(get, path = "/api/v1/audit/proof/consistency", tag = "audit", params(ConsistencyQuery),
    responses((status = 200, body = ProofView), (status = 422, body = ErrorBody)))]
async fn consistency(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ProofView>> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    Ok(Json(
        s.app
            .consistency_proof(q.first, q.size)
            .await
            .map_err(|e| ctx.fail(e))?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntriesQuery {
    /// Actions starting with this: `data.`, `POST /api/v1/datasets`.
    pub(crate) action: Option<String>,
    /// A user id.
    pub(crate) actor: Option<i64>,
    /// A catalog entry's id: who used it, when, under which grant.
    pub(crate) dataset: Option<i64>,
    /// From this time (RFC 3339, UTC).
    pub(crate) from: Option<String>,
    /// Before this time.
    pub(crate) until: Option<String>,
    /// The entries that are this alert's evidence (the other filters are ignored).
    pub(crate) alert: Option<i64>,
    pub(crate) page: Option<i64>,
    pub(crate) per_page: Option<i64>,
}

impl EntriesQuery {
    pub(crate) fn store_query(&self) -> (AuditQuery, i64, i64) {
        let per_page = self.per_page.unwrap_or(50).clamp(1, 200);
        let page = self.page.unwrap_or(1).max(1);
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        (
            AuditQuery {
                action_prefix: nonempty(&self.action),
                actor: self.actor,
                dataset: self.dataset,
                from: nonempty(&self.from),
                until: nonempty(&self.until),
                seqs: None,
                limit: per_page,
                offset: (page - 1).saturating_mul(per_page),
            },
            page,
            per_page,
        )
    }
}

/// Audit entries, newest first: all of them for auditors and the province's authority;
/// a provider's administrators read those about their own entries (`dataset=`).
#[utoipa::path(get, path = "/api/v1/audit/entries", tag = "audit", params(EntriesQuery),
    responses((status = 200, body = PageView<AuditEntryView>), (status = 403, body = ErrorBody)))]
async fn entries(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<EntriesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| crate::api::query_error(&ctx, &e))?;
    let caller = ctx.principal()?;
    let (query, page, per_page) = q.store_query();
    let found = read_entries(&s, caller, q.alert, query)
        .await
        .map_err(|e| ctx.fail(e))?;
    let response = Json(PageView {
        items: found.items,
        total: found.total,
        page,
        per_page,
        facets: None,
        partial_match: false,
    })
    .into_response();
    // Reading the log is itself recorded.
    Ok(AuditNote {
        action: "audit.read",
        object: "audit:entries".into(),
        dataset: q.dataset,
        ..AuditNote::default()
    }
    .attach(response))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(checkpoint, inclusion, consistency, entries, alerts),
    components(schemas(CheckpointView, ProofView, AuditEntryView, gongshu_app::monitor::AlertView)),
    tags((name = "audit", description = "The tamper-evident audit log (RFC 9162)"))
)]
pub(crate) struct AuditApiDoc;

// --- the console page --------------------------------------------------------------

#[derive(askama::Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    ctx: &'a Ctx,
    q: EntriesQuery,
    rows: Vec<AuditRowView>,
    total: i64,
    page: i64,
    pages: i64,
    prev_link: String,
    next_link: String,
    checkpoint: Option<CheckpointView>,
    alerts: Vec<gongshu_app::monitor::AlertView>,
    /// The alert whose evidence is shown.
    alert: Option<gongshu_app::monitor::AlertView>,
}

/// One entry as a row of the page.
struct AuditRowView {
    seq: i64,
    time: String,
    action: String,
    object: String,
    actor: String,
    role: String,
    dataset: Option<i64>,
    grant: Option<i64>,
    outcome: String,
    status: String,
    client: String,
    request: String,
}

fn row_view(v: AuditEntryView) -> AuditRowView {
    let e = &v.entry;
    let text = |k: &str| e[k].as_str().unwrap_or("").to_owned();
    let number = |k: &str| e[k].as_i64();
    AuditRowView {
        seq: v.seq,
        time: text("time")
            .replace('T', " ")
            .trim_end_matches('Z')
            .to_owned(),
        action: text("action"),
        object: text("object"),
        actor: number("actor").map_or_else(|| "—".to_owned(), |a| a.to_string()),
        role: text("role"),
        dataset: number("dataset"),
        grant: number("grant"),
        outcome: text("outcome"),
        status: number("status").map_or_else(String::new, |s| s.to_string()),
        client: text("client"),
        request: text("request"),
    }
}

/// The log's entries, or one alert's evidence.
async fn read_entries(
    s: &AppState,
    caller: &Principal,
    alert: Option<i64>,
    query: AuditQuery,
) -> Result<gongshu_app::gongshu_store::Page<AuditEntryView>, Error> {
    match alert {
        Some(id) => s.app.alert_evidence(caller, id, query).await,
        None => s.app.audit_entries(caller, query).await,
    }
}

/// `/console/audit`: auditors and the province's authority browse and filter the log; a
/// provider's administrators read the entries of one of their catalog entries.
pub(crate) async fn page(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(raw): Query<Vec<(String, String)>>,
) -> Response {
    let p = match crate::console::signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let kept: Vec<(String, String)> = raw.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    let encoded = serde_urlencoded::to_string(&kept).unwrap_or_default();
    let Ok(q) = serde_urlencoded::from_str::<EntriesQuery>(&encoded) else {
        return crate::pages::error_page(
            &ctx,
            &Error::new(ErrorCode::Validation, "查询参数有误", "Invalid query"),
        );
    };
    let (query, page, per_page) = q.store_query();
    let alert = match q.alert {
        Some(id) => match s.app.alert(p, id).await {
            Ok(a) => Some(gongshu_app::monitor::AlertView::of(a, ctx.lang)),
            Err(e) => return crate::pages::error_page(&ctx, &e),
        },
        None => None,
    };
    let found = match read_entries(&s, p, q.alert, query).await {
        Ok(f) => f,
        Err(e) => return crate::pages::error_page(&ctx, &e),
    };
    let checkpoint = s.app.latest_checkpoint().await.ok();
    // The latest alerts the reader may see, above the log.
    let alerts = s
        .app
        .alerts(p, 20, 0)
        .await
        .map(|page| {
            page.items
                .into_iter()
                .map(|a| gongshu_app::monitor::AlertView::of(a, ctx.lang))
                .collect()
        })
        .unwrap_or_default();
    let link = |page: i64| {
        let mut params: Vec<(String, String)> =
            kept.iter().filter(|(k, _)| k != "page").cloned().collect();
        params.push(("page".into(), page.to_string()));
        format!(
            "/console/audit?{}",
            serde_urlencoded::to_string(&params).unwrap_or_default()
        )
    };
    let response = crate::pages::render(&AuditPage {
        ctx: &ctx,
        total: found.total,
        page,
        pages: ((found.total + per_page - 1) / per_page).max(1),
        prev_link: link(page - 1),
        next_link: link(page + 1),
        rows: found.items.into_iter().map(row_view).collect(),
        checkpoint,
        alerts,
        alert,
        q,
    });
    AuditNote {
        action: "audit.read",
        object: "audit:entries".into(),
        ..AuditNote::default()
    }
    .attach(response)
}
