//! Gongshu's HTTP server: the axum router, who-is-calling, the API encoders and the pages.
//! Only this crate knows HTTP; it calls use cases in `gongshu-app` for everything else.

mod api;
mod applications_api;
mod audit;
mod calendar_api;
mod changes_api;
mod chart;
mod ckan_api;
mod console;
mod console_catalog;
mod ctx;
mod data_api;
mod dcat_api;
mod error;
mod federation_api;
mod feedback_api;
mod feedback_pages;
mod governance_api;
mod governance_pages;
mod grants_api;
mod harvest_api;
mod harvest_pages;
mod limits;
mod metrics;
mod pages;
mod policies_api;
mod portal;
mod sandbox_api;
mod sandbox_pages;
mod verify_api;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use gongshu_app::gongshu_store::SqliteStore;
use gongshu_app::{App, Settings};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

pub use error::{ApiError, ErrorBody, ErrorDetail, FieldProblem};

/// What the server needs to know beyond the use cases.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Mark cookies `Secure`: set this when the platform is served over HTTPS.
    pub cookie_secure: bool,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// Requests a second per anonymous client address (accounts get twice as many); 0
    /// turns the limits off.
    pub rate_limit: u32,
    /// Bursts allowed above the rate.
    pub rate_burst: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            cookie_secure: false,
            body_limit: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            rate_limit: 30,
            rate_burst: 120,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AppState {
    pub app: App,
    pub config: Arc<ServerConfig>,
    charts: Arc<chart::ChartCache>,
    limits: Option<Arc<limits::RateLimits>>,
}

/// How to start: where the data lives, and what to load into an empty platform.
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    /// Create the system administrator `admin` if it does not exist (what `serve` does).
    pub create_admin: bool,
    /// Password of the `admin` account created on first start; generated when `None`.
    pub admin_password: Option<String>,
    /// Load the demo province with this password for its accounts.
    pub demo_password: Option<String>,
    /// With the demo, also generate this many published entries across the province's
    /// cities and counties when the demo is first loaded (for trying it at scale).
    pub demo_scale: usize,
    /// Mark jobs a stopped server left unfinished as failed: only the server does this,
    /// never a command that may run beside it.
    pub recover_jobs: bool,
    /// Largest uploaded data file in bytes (2 GiB when unset).
    pub upload_limit: Option<u64>,
    /// The platform's public address, for citations; relative links when unset.
    pub public_url: Option<String>,
    /// The mail server for e-mail notifications; none sends no e-mail.
    pub smtp: Option<gongshu_app::delivery::SmtpSettings>,
    /// The master key; none makes one for this process only (and says so).
    pub master_key: Option<gongshu_app::MasterKey>,
    /// The keys that encrypt important data at rest; without them such data is refused.
    pub at_rest_keys: Option<gongshu_app::at_rest::KeySource>,
    /// Scratch space for uploads and tables being written; `DATA_DIR/tmp` when unset.
    pub tmp_dir: Option<std::path::PathBuf>,
    /// Rebuild the search index if it is out of step (what `serve` does): it takes the
    /// index's single writer, which a command run beside the server must not.
    pub maintain_search: bool,
    /// The audit log's hash (SHA-256 when unset); a log keeps the one it started with.
    pub audit_hash: Option<gongshu_app::gongshu_audit::HashAlg>,
    /// How checkpoints are signed (Ed25519 when unset).
    pub audit_signature: Option<gongshu_app::gongshu_audit::SigAlg>,
    /// A signed audit checkpoint every this many entries (1000 when unset).
    pub audit_checkpoint_entries: Option<u64>,
    /// The monitoring rules' thresholds (the defaults when unset).
    pub monitor: Option<gongshu_app::monitor::Thresholds>,
    /// Single sign-on through an OpenID Connect provider.
    pub sso: Option<gongshu_app::sso::SsoSettings>,
    /// Working days to answer an objection or a demand (10 when unset).
    pub feedback_days: Option<u32>,
    /// The sandbox's statistical disclosure control (standard when unset).
    pub disclosure_profile: Option<gongshu_core::disclosure::ProfileName>,
    /// Days sandbox results are kept (90 when unset).
    pub sandbox_retention_days: Option<u32>,
    /// A PostgreSQL URL: the metadata store several nodes share. SQLite in the data
    /// directory when unset.
    pub database_url: Option<String>,
    /// The object store several nodes share (`file:///…` on shared storage, `s3://…`).
    /// `DATA_DIR/objects` when unset.
    pub object_store_url: Option<String>,
}

/// What start-up did, for the operator's log.
#[derive(Debug, Clone, Default)]
pub struct Started {
    pub generated_admin_password: Option<String>,
    pub demo: Option<gongshu_app::demo::DemoSummary>,
}

/// Why the platform could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory: {0}")]
    DataDir(#[from] std::io::Error),
    #[error("metadata store: {0}")]
    Store(#[from] gongshu_app::gongshu_store::StoreError),
    #[error("{}", .0.message_en)]
    Setup(#[from] gongshu_core::Error),
    #[error("at-rest encryption keys: {0}")]
    Keys(String),
}

/// Opens the metadata store in `data_dir` (the one choice of database, made here at
/// start-up), seeds the regions, the administrator and, if asked, the demo.
pub async fn open_app(data_dir: &Path, boot: &Bootstrap) -> Result<(App, Started), StartError> {
    std::fs::create_dir_all(data_dir)?;
    let shared = boot.database_url.is_some();
    let store: Arc<dyn gongshu_app::gongshu_store::Store> = match &boot.database_url {
        Some(url) => Arc::new(gongshu_app::gongshu_store::PgStore::connect(url).await?),
        None => Arc::new(SqliteStore::open(&data_dir.join("gongshu.db")).await?),
    };
    let mut data = match &boot.object_store_url {
        Some(url) => gongshu_app::data::DataPlane::shared(data_dir, url),
        None => gongshu_app::data::DataPlane::local(data_dir),
    }
    .map_err(|e| StartError::DataDir(std::io::Error::other(e.to_string())))?;
    if let Some(limit) = boot.upload_limit {
        data.upload_limit = limit;
    }
    if let Some(dir) = &boot.tmp_dir {
        std::fs::create_dir_all(dir)?;
        data.tmp_dir = dir.clone();
    }
    data.at_rest = Arc::new(
        gongshu_app::at_rest::AtRest::new(
            boot.at_rest_keys.clone(),
            Some(data_dir.to_path_buf()),
            data.versions.sealed(),
        )
        .map_err(StartError::Keys)?,
    );
    let settings = Settings {
        public_url: boot
            .public_url
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/')
            .to_owned(),
        smtp: boot.smtp.clone(),
        master_key: boot.master_key.clone().unwrap_or_else(|| {
            tracing::warn!(
                "no master key (--key-file or GONGSHU_MASTER_KEY): using one for this process \
                 only, so pseudonyms of open versions computed now will differ after a restart"
            );
            gongshu_app::MasterKey::ephemeral()
        }),
        audit_hash: boot.audit_hash.unwrap_or_default(),
        audit_signature: boot.audit_signature.unwrap_or_default(),
        audit_checkpoint_entries: boot.audit_checkpoint_entries.unwrap_or(1000),
        monitor: boot.monitor.clone().unwrap_or_default(),
        sso: boot.sso.clone(),
        feedback_days: boot.feedback_days.unwrap_or(10).clamp(1, 60),
        disclosure_profile: boot.disclosure_profile.unwrap_or_default(),
        sandbox_retention_days: boot.sandbox_retention_days.unwrap_or(90).clamp(1, 3650),
        ..Settings::default()
    };
    // The index is derived: opened (or created) beside the data, rebuilt below when it
    // does not hold what is published.
    let search = gongshu_app::gongshu_search::SearchIndex::open(&data_dir.join("search"))
        .map_err(|e| StartError::DataDir(std::io::Error::other(e.to_string())))?;
    let app = App::new(store, settings, data, Arc::new(search));
    // On a database several nodes share, the jobs and queries left running may be
    // another node's, alive: only a node alone on its database fails them at start.
    if boot.recover_jobs && !shared {
        // Jobs a stopped server left behind will never finish: say so.
        let interrupted = app
            .store
            .fail_unfinished_jobs(
                "平台重启，任务中断，请重新上传 (interrupted by a restart; upload again)",
                chrono::Utc::now(),
            )
            .await?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "jobs interrupted by the last stop were marked failed"
            );
        }
        let queries = app
            .store
            .fail_running_sandbox_queries(
                "平台重启，查询中断，请重新提交 (interrupted by a restart; run it again)",
            )
            .await?;
        if queries > 0 {
            tracing::warn!(
                queries,
                "background sandbox queries interrupted by the last stop"
            );
        }
    }
    app.seed_regions().await?;
    let years = app.seed_calendar().await?;
    if years > 0 {
        tracing::info!(years, "holiday schedules copied into the store");
    }
    let generated_admin_password = if boot.create_admin {
        app.ensure_admin(boot.admin_password.as_deref()).await?
    } else {
        None
    };
    let demo = match &boot.demo_password {
        Some(p) => app.load_demo(p).await?,
        None => None,
    };
    if demo.is_some() && boot.demo_scale > 0 {
        let added = app.load_synthetic_catalog(boot.demo_scale).await?;
        tracing::info!(added, "generated catalog entries added to the demo");
    }
    if boot.maintain_search {
        app.ensure_search().await?;
    }
    Ok((
        app,
        Started {
            generated_admin_password,
            demo,
        },
    ))
}

#[derive(serde::Serialize)]
struct Health {
    status: &'static str,
    store: &'static str,
    version: &'static str,
}

async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    let ok = s.app.store.health().await.is_ok();
    let body = Health {
        status: if ok { "ok" } else { "degraded" },
        store: if ok { "ok" } else { "unavailable" },
        version: env!("CARGO_PKG_VERSION"),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

fn full_openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api::ApiDoc::openapi();
    doc.merge(data_api::DataApiDoc::openapi());
    doc.merge(calendar_api::CalendarApiDoc::openapi());
    doc.merge(grants_api::GrantsApiDoc::openapi());
    doc.merge(applications_api::ApplicationsApiDoc::openapi());
    doc.merge(feedback_api::FeedbackApiDoc::openapi());
    doc.merge(governance_api::GovernanceApiDoc::openapi());
    doc.merge(harvest_api::HarvestApiDoc::openapi());
    doc.merge(federation_api::FederationApiDoc::openapi());
    doc.merge(sandbox_api::SandboxApiDoc::openapi());
    doc.merge(verify_api::VerifyApiDoc::openapi());
    doc.merge(changes_api::ChangesApiDoc::openapi());
    doc.merge(policies_api::PoliciesApiDoc::openapi());
    doc.merge(audit::AuditApiDoc::openapi());
    // A catalog entry's fields are also the flattened tail of every entry the API
    // returns (with id, code, provider …): a closed schema would declare those responses
    // invalid. Requests with unknown fields are still refused, as the description says.
    if let Some(components) = doc.components.as_mut()
        && let Some(utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(draft))) =
            components.schemas.get_mut("DatasetDraft")
    {
        draft.additional_properties = None;
        draft.description = Some(
            "A catalog entry's metadata. A request naming a field not listed here is refused."
                .into(),
        );
    }
    doc
}

async fn openapi() -> impl IntoResponse {
    Json(full_openapi())
}

async fn api_not_found(ctx: ctx::Ctx) -> ApiError {
    ctx.fail(gongshu_core::Error::not_found("接口", "Endpoint"))
}

/// The OpenAPI document, for the CLI and tests.
pub fn openapi_json() -> String {
    full_openapi().to_pretty_json().unwrap_or_default()
}

pub fn router(app: App, config: ServerConfig) -> Router {
    metrics::handle();
    let state = AppState {
        app,
        config: Arc::new(config.clone()),
        charts: Arc::new(chart::ChartCache::default()),
        limits: limits::RateLimits::new(config.rate_limit, config.rate_burst).map(Arc::new),
    };
    let request_id = HeaderName::from_static("x-request-id");
    let upload_limit = state.app.data.upload_limit;
    // Everything but the bulk routes answers within the timeout and reads small bodies.
    let api = api::routes()
        .merge(data_api::routes())
        .merge(calendar_api::routes())
        .merge(grants_api::routes())
        .merge(applications_api::routes())
        .merge(feedback_api::routes())
        .merge(governance_api::routes())
        .merge(harvest_api::routes())
        .merge(federation_api::routes())
        .merge(sandbox_api::routes())
        .merge(verify_api::routes())
        .merge(changes_api::routes())
        .merge(policies_api::routes())
        .merge(audit::routes())
        .route("/openapi.json", get(openapi))
        .layer(axum::extract::DefaultBodyLimit::max(config.body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .merge(data_api::bulk_routes(upload_limit))
        .fallback(api_not_found);
    let site = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(metrics::ready))
        .route("/metrics", get(metrics::render))
        .merge(console::routes())
        .merge(console_catalog::routes())
        .merge(audit::page_routes())
        .merge(feedback_pages::routes())
        .merge(governance_pages::routes())
        .merge(harvest_pages::routes())
        .merge(sandbox_pages::routes())
        .merge(ckan_api::routes())
        .merge(dcat_api::routes())
        .merge(portal::routes())
        .merge(pages::routes())
        .layer(axum::extract::DefaultBodyLimit::max(config.body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ));
    Router::new()
        .nest("/api/v1", api)
        .merge(console_catalog::upload_routes(upload_limit))
        .merge(site)
        .with_state(state.clone())
        // Inside the request-id layers, so that each entry names its request.
        .layer(axum::middleware::from_fn_with_state(state, audit::record))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; form-action 'self'"),
        ))
        // Behind HTTPS, browsers are told to use nothing else for a year.
        .layer(tower::util::option_layer(config.cookie_secure.then(|| {
            SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000; includeSubDomains"),
            )
        })))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
