//! Server-rendered pages in Simplified Chinese (English on request). Plain HTML forms, no
//! script, every asset served by the binary.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use gongshu_app::gongshu_store::{PublishedQuery, PublishedSort};
use gongshu_app::views::{DatasetView, OrgView};
use gongshu_core::Error;
use gongshu_core::error::Lang;
use gongshu_core::types::{Domain, OpenType, UpdateCycle};
use serde::Deserialize;

use crate::AppState;
use crate::api::{DatasetQuery, published_query};
use crate::ctx::{Ctx, LANG_COOKIE, LOGIN_CSRF_COOKIE, SESSION_COOKIE, cookie, same_secret};
use crate::error::status_of;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/datasets", get(datasets))
        .route("/datasets/{id}", get(dataset))
        .route("/organizations", get(organizations))
        .route("/organizations/{id}", get(organization))
        .route("/login", get(login_form).post(login))
        .route("/register", get(register_form).post(register))
        .route("/logout", axum::routing::post(logout))
        .route("/login/sso", get(sso_start))
        .route("/login/sso/callback", get(sso_callback))
        .route("/lang", get(set_lang))
        .route("/static/gongshu.css", get(css))
        .route("/static/upload.js", get(upload_js))
        .fallback(not_found)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    ctx: &'a Ctx,
    message: &'a str,
}

pub(crate) fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

pub(crate) fn error_page(ctx: &Ctx, e: &Error) -> Response {
    let mut r = render(&ErrorPage {
        ctx,
        message: e.message(ctx.lang),
    });
    *r.status_mut() = status_of(e.code);
    crate::error::retry_after(&mut r, e);
    r
}

async fn not_found(ctx: Ctx) -> Response {
    error_page(&ctx, &Error::not_found("页面", "Page"))
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/gongshu.css"),
    )
}

async fn upload_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/upload.js"),
    )
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    ctx: &'a Ctx,
    total: i64,
    providers: i64,
    open_ratio: String,
    domains: Vec<(Domain, i64)>,
    datasets: Vec<DatasetView>,
    /// The most downloaded entries, with their download counts; none before any download.
    most_used: Vec<(DatasetView, i64)>,
}

async fn home(State(s): State<AppState>, ctx: Ctx) -> Response {
    let result = async {
        let recent = s
            .app
            .list_public(PublishedQuery::default(), Some(1), Some(8))
            .await?;
        let providers = s
            .app
            .org_count(gongshu_core::types::OrgKind::Provider)
            .await?;
        let popular = s
            .app
            .list_public(
                PublishedQuery {
                    sort: PublishedSort::Downloads,
                    ..PublishedQuery::default()
                },
                Some(1),
                Some(6),
            )
            .await?
            .items;
        let ids: Vec<i64> = popular.iter().map(|d| d.id).collect();
        let mut used = s.app.usage(&ids).await?;
        let most_used = popular
            .into_iter()
            .filter_map(|d| {
                let n = used.remove(&d.id).map_or(0, |u| u.downloads);
                (n > 0).then_some((d, n))
            })
            .collect();
        Ok::<_, Error>((recent, providers, most_used))
    }
    .await;
    match result {
        Ok((recent, providers, most_used)) => {
            // The figures are the listing's facets over the whole published catalog,
            // counted by the index, not a scan of the store.
            let facets = recent.facets.clone().unwrap_or_default();
            let count = |dimension: &str, value: &str| {
                facets
                    .get(dimension)
                    .and_then(|v| v.iter().find(|c| c.value == value))
                    .map_or(0, |c| c.count as i64)
            };
            let total = recent.total;
            let opened = total - count("open_type", OpenType::None.as_str());
            // Every priority domain of SD-OPEN §9, an empty one too.
            let domains: Vec<(Domain, i64)> = Domain::ALL
                .iter()
                .map(|d| (*d, count("domain", d.as_str())))
                .collect();
            render(&HomePage {
                ctx: &ctx,
                total,
                providers,
                open_ratio: if total > 0 {
                    format!("{:.0}%", opened as f64 * 100.0 / total as f64)
                } else {
                    "—".into()
                },
                domains,
                datasets: recent.items,
                most_used,
            })
        }
        Err(e) => error_page(&ctx, &e),
    }
}

#[derive(Template)]
#[template(path = "datasets.html")]
struct DatasetsPage<'a> {
    ctx: &'a Ctx,
    q: String,
    domain: Option<Domain>,
    open_type: Option<OpenType>,
    all_domains: &'static [Domain],
    all_open: &'static [OpenType],
    datasets: Vec<DatasetView>,
    total: i64,
    page: i64,
    pages: i64,
    prev_link: String,
    next_link: String,
    /// With a text query: the matches' facets as links that narrow the search.
    facets: Vec<FacetGroup>,
    /// No entry holds every word: the page says these are partial matches.
    partial_match: bool,
    /// The orderings offered (value, label) and the one in force.
    sorts: Vec<(&'static str, &'static str)>,
    sort: &'static str,
    /// Filters chosen by facet links, kept when the form is sent again.
    hidden: Vec<(String, String)>,
}

struct FacetGroup {
    title: &'static str,
    links: Vec<FacetLink>,
}

struct FacetLink {
    label: String,
    count: u64,
    href: String,
    active: bool,
}

/// The facets the page offers, with the query parameter each narrows by.
const PAGE_FACETS: [(&str, &str, &str, &str); 8] = [
    ("domain", "domain", "领域", "Domain"),
    ("open_type", "open_type", "开放类型", "Open type"),
    ("region", "region", "地区", "Region"),
    ("provider", "provider", "提供单位", "Provider"),
    ("format", "format", "文件格式", "File format"),
    ("update_cycle", "update_cycle", "更新周期", "Update cycle"),
    ("share_type", "share_type", "共享类型", "Share type"),
    ("grade", "grade", "安全级别", "Security grade"),
];

fn facet_groups(
    ctx: &Ctx,
    kept: &[(String, String)],
    facets: &std::collections::BTreeMap<String, Vec<gongshu_app::views::FacetCount>>,
) -> Vec<FacetGroup> {
    PAGE_FACETS
        .iter()
        .filter_map(|(dimension, param, zh, en)| {
            let counts = facets.get(*dimension)?;
            let links: Vec<FacetLink> = counts
                .iter()
                .map(|c| {
                    let label = match *dimension {
                        "domain" => Domain::parse(&c.value).map(|d| d.label(ctx.lang).to_owned()),
                        "open_type" => {
                            OpenType::parse(&c.value).map(|o| o.label(ctx.lang).to_owned())
                        }
                        "update_cycle" => {
                            UpdateCycle::parse(&c.value).map(|u| u.label(ctx.lang).to_owned())
                        }
                        "share_type" => gongshu_core::types::ShareType::parse(&c.value)
                            .map(|u| u.label(ctx.lang).to_owned()),
                        "grade" => gongshu_core::types::Grade::parse(&c.value)
                            .map(|u| u.label(ctx.lang).to_owned()),
                        "format" => Some(c.value.to_uppercase()),
                        _ => c.label.clone(),
                    }
                    .unwrap_or_else(|| c.value.clone());
                    let active = kept.iter().any(|(k, v)| k == param && *v == c.value);
                    let mut params: Vec<(String, String)> = kept
                        .iter()
                        .filter(|(k, _)| k != "page" && k != param)
                        .cloned()
                        .collect();
                    if !active {
                        params.push(((*param).to_owned(), c.value.clone()));
                    }
                    FacetLink {
                        label,
                        count: c.count,
                        href: format!(
                            "/datasets?{}",
                            serde_urlencoded::to_string(&params).unwrap_or_default()
                        ),
                        active,
                    }
                })
                .collect();
            (!links.is_empty()).then(|| FacetGroup {
                title: ctx.t(zh, en),
                links,
            })
        })
        .collect()
}

async fn datasets(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(raw): Query<Vec<(String, String)>>,
) -> Response {
    let kept: Vec<(String, String)> = raw.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    let encoded = serde_urlencoded::to_string(&kept).unwrap_or_default();
    let q: DatasetQuery = match serde_urlencoded::from_str(&encoded) {
        Ok(q) => q,
        Err(_) => {
            return error_page(
                &ctx,
                &Error::new(
                    gongshu_core::ErrorCode::Validation,
                    "查询参数有误",
                    "Invalid query",
                ),
            );
        }
    };
    let query = match published_query(&ctx, &q) {
        Ok(query) => query,
        Err(e) => return error_page(&ctx, &e.error),
    };
    let sort = match query.sort {
        PublishedSort::Relevance => "relevance",
        PublishedSort::Updated => "updated",
        PublishedSort::Downloads => "downloads",
        PublishedSort::Title => "title",
        PublishedSort::Code => "code",
    };
    let mut sorts = vec![
        ("updated", ctx.t("最近更新", "Recently updated")),
        ("downloads", ctx.t("下载最多", "Most downloaded")),
        ("title", ctx.t("名称", "Title")),
        ("code", ctx.t("目录代码", "Code")),
    ];
    if query.q.is_some() {
        sorts.insert(0, ("relevance", ctx.t("最相关", "Best match")));
    }
    let found = match s.app.list_public(query, q.page, q.per_page).await {
        Ok(f) => f,
        Err(e) => return error_page(&ctx, &e),
    };
    let pages = ((found.total + found.per_page - 1) / found.per_page).max(1);
    let link = |page: i64| {
        let mut params: Vec<(String, String)> =
            kept.iter().filter(|(k, _)| k != "page").cloned().collect();
        params.push(("page".into(), page.to_string()));
        format!(
            "/datasets?{}",
            serde_urlencoded::to_string(&params).unwrap_or_default()
        )
    };
    render(&DatasetsPage {
        ctx: &ctx,
        q: q.q.clone().unwrap_or_default(),
        domain: q.domain,
        open_type: q.open_type,
        all_domains: Domain::ALL,
        all_open: OpenType::ALL,
        total: found.total,
        page: found.page,
        pages,
        prev_link: link(found.page - 1),
        next_link: link(found.page + 1),
        facets: found
            .facets
            .as_ref()
            .map(|f| facet_groups(&ctx, &kept, f))
            .unwrap_or_default(),
        partial_match: found.partial_match,
        sorts,
        sort,
        hidden: kept
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "q" | "domain" | "open_type" | "sort" | "page"))
            .cloned()
            .collect(),
        datasets: found.items,
    })
}

#[derive(Template)]
#[template(path = "dataset.html")]
struct DatasetPage<'a> {
    ctx: &'a Ctx,
    /// The platform's address for the copy-paste API examples.
    base: String,
    d: DatasetView,
    resources: Vec<ResourceBlock>,
    /// The viewer administers the provider's data: links to each resource's protection.
    manages: bool,
    downloads: i64,
    api_calls: i64,
    /// Objections, ratings and whether the data is withheld; the page shows without it
    /// if it cannot be read.
    feedback: Option<gongshu_app::feedback::FeedbackSummary>,
    /// Approved reuse records naming the entry.
    reuses: Vec<gongshu_app::reuse::ReuseView>,
    /// The provider's published models over the entry (R7.2).
    models: Vec<gongshu_app::models::ModelView>,
    /// schema.org `Dataset` JSON-LD, for search engines and dataset search.
    json_ld: String,
    /// Where a harvested entry came from (SD-OPEN §7).
    origin: Option<gongshu_app::harvest::HarvestOrigin>,
    csrf: &'a str,
}

/// A resource on the dataset page: its facts, and for tables the caller may read, the
/// first rows with the column types and a ready-made citation.
struct ResourceBlock {
    r: gongshu_app::data::ResourceView,
    readable: bool,
    columns: Vec<(String, String)>,
    rows: Vec<Vec<String>>,
    citation: String,
    chart: Option<crate::chart::Chart>,
    /// The provider offers verification (核验) on it.
    verifiable: bool,
}

const PREVIEW_ROWS: usize = 10;

pub(crate) fn text_rows(batches: &[arrow_array::RecordBatch]) -> Vec<Vec<String>> {
    let options = arrow_cast::display::FormatOptions::default().with_null("");
    let mut out = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .filter_map(|c| arrow_cast::display::ArrayFormatter::try_new(c.as_ref(), &options).ok())
            .collect();
        for row in 0..b.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

async fn resource_blocks(s: &AppState, ctx: &Ctx, dataset_id: i64) -> Vec<ResourceBlock> {
    let Ok(resources) = s.app.list_resources(ctx.caller.as_ref(), dataset_id).await else {
        return Vec::new();
    };
    let mut blocks = Vec::new();
    for r in resources {
        let readable = matches!(
            r.access,
            gongshu_core::access::View::Raw
                | gongshu_core::access::View::Open
                | gongshu_core::access::View::Deidentified
        ) && r.current_version.is_some();
        let mut block = ResourceBlock {
            columns: r
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.column_type.clone()))
                .collect(),
            r,
            readable,
            rows: Vec::new(),
            citation: String::new(),
            chart: None,
            verifiable: false,
        };
        block.verifiable = s
            .app
            .verification_service(ctx.caller.as_ref(), &block.r.id)
            .await
            .ok()
            .flatten()
            .is_some_and(|v| v.settings.enabled);
        if readable && block.r.kind.as_deref() == Some("table") {
            if let Ok((readable, page)) = s
                .app
                .preview(ctx.caller.as_ref(), &block.r.id, PREVIEW_ROWS)
                .await
            {
                // The row API puts `_row` first; the page shows the user's columns.
                let rows = text_rows(&page.batches);
                let skip = usize::from(
                    page.schema
                        .fields()
                        .first()
                        .is_some_and(|f| f.name() == gongshu_data::ROW_COLUMN),
                );
                block.rows = rows
                    .into_iter()
                    .map(|r| r.into_iter().skip(skip).collect())
                    .collect();
                block.citation = readable.attribution.citation();
            }
            block.chart = s
                .charts
                .chart(s, ctx.caller.as_ref(), &block.r, ctx.lang == Lang::Zh)
                .await;
        } else if readable
            && let Ok(readable) = s
                .app
                .readable(
                    ctx.caller.as_ref(),
                    &block.r.id,
                    gongshu_core::access::AccessMode::Preview,
                )
                .await
        {
            block.citation = readable.attribution.citation();
        }
        blocks.push(block);
    }
    blocks
}

/// The address people reach the platform at: the configured public address, or the host
/// this request came to.
pub(crate) fn public_base(s: &AppState, headers: &HeaderMap) -> String {
    let configured = s.app.settings.public_url.trim_end_matches('/');
    if !configured.is_empty() {
        return configured.to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("127.0.0.1:8080");
    format!("http://{host}")
}

async fn dataset(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(ctx).await;
    };
    match s.app.public_dataset(id).await {
        Ok(d) => {
            let resources = resource_blocks(&s, &ctx, id).await;
            let manages = ctx.caller.as_ref().is_some_and(|p| {
                p.grants.iter().any(|g| {
                    g.role == gongshu_core::types::Role::ProviderAdmin
                        && g.org_id == Some(d.provider.id)
                })
            });
            // The tally is a statistic: the page shows without it if it cannot be read.
            let used = s
                .app
                .usage(&[id])
                .await
                .ok()
                .and_then(|mut u| u.remove(&id))
                .unwrap_or_default();
            let base = public_base(&s, &headers);
            let json_ld = schema_org(&base, &d, &resources);
            render(&DatasetPage {
                ctx: &ctx,
                base,
                json_ld,
                d,
                resources,
                manages,
                downloads: used.downloads,
                api_calls: used.api_calls,
                feedback: s.app.feedback_summary(ctx.caller.as_ref(), id).await.ok(),
                reuses: s.app.reuses_of(id).await.unwrap_or_default(),
                models: s
                    .app
                    .models(ctx.caller.as_ref(), id)
                    .await
                    .unwrap_or_default(),
                origin: s.app.harvest_origin(id).await.ok().flatten(),
                csrf: ctx.csrf.as_deref().unwrap_or(""),
            })
        }
        Err(e) => error_page(&ctx, &e),
    }
}

/// The entry as a schema.org `Dataset`, in JSON-LD, safe inside a `<script>` element
/// (no `</` or `<!--` survives serialisation).
fn schema_org(base: &str, d: &DatasetView, resources: &[ResourceBlock]) -> String {
    let m = &d.metadata;
    let base = base.trim_end_matches('/');
    let distribution: Vec<serde_json::Value> = resources
        .iter()
        .filter(|b| b.r.current_version.is_some())
        .map(|b| {
            let table = b.r.kind.as_deref() == Some("table");
            serde_json::json!({
                "@type": "DataDownload",
                "name": b.r.name,
                "encodingFormat": if table { "text/csv" } else { "application/octet-stream" },
                "contentUrl": format!(
                    "{base}/api/v1/resources/{}/download?format={}",
                    b.r.id,
                    if table { "csv" } else { "original" }
                ),
            })
        })
        .collect();
    let provider = serde_json::json!({
        "@type": "GovernmentOrganization",
        "name": d.provider.name,
        "identifier": d.provider.credit_code,
    });
    let mut doc = serde_json::json!({
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": m.title,
        "description": m.summary,
        "identifier": d.code,
        "url": format!("{base}/datasets/{}", d.id),
        "keywords": m.keywords,
        "creator": provider,
        "publisher": provider,
        "dateModified": d.updated_at.to_rfc3339(),
        "isAccessibleForFree": true,
        "inLanguage": "zh-CN",
        "distribution": distribution,
    });
    if let Some(p) = d.published_at {
        doc["datePublished"] = serde_json::json!(p.to_rfc3339());
    }
    if !m.license.is_empty() {
        doc["license"] = serde_json::json!(m.license);
    }
    if !m.open_condition.is_empty() {
        doc["conditionsOfAccess"] = serde_json::json!(m.open_condition);
    }
    doc.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[derive(Template)]
#[template(path = "organizations.html")]
struct OrganizationsPage<'a> {
    ctx: &'a Ctx,
    orgs: Vec<OrgView>,
}

async fn organizations(State(s): State<AppState>, ctx: Ctx) -> Response {
    match s.app.orgs(None, None).await {
        Ok(orgs) => render(&OrganizationsPage { ctx: &ctx, orgs }),
        Err(e) => error_page(&ctx, &e),
    }
}

#[derive(Template)]
#[template(path = "organization.html")]
struct OrganizationPage<'a> {
    ctx: &'a Ctx,
    org: OrgView,
    total: i64,
    datasets: Vec<DatasetView>,
}

async fn organization(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(ctx).await;
    };
    let found = async {
        Ok::<_, Error>((
            s.app.org(id).await?,
            s.app.open_list(id, Some(1), Some(100)).await?,
        ))
    }
    .await;
    match found {
        Ok((org, list)) => render(&OrganizationPage {
            ctx: &ctx,
            org,
            total: list.total,
            datasets: list.items,
        }),
        Err(e) => error_page(&ctx, &e),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    ctx: &'a Ctx,
    csrf: String,
    message: String,
    /// The province's identity system is set up: offer it.
    sso: bool,
}

fn cookie_header(s: &AppState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if s.config.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The login form carries a one-off token that must match a cookie set with it (double
/// submit), so another site cannot log a visitor in to an account of its choosing.
fn login_page(s: &AppState, ctx: &Ctx, message: String, status: StatusCode) -> Response {
    with_form_token(s, status, |csrf| {
        render(&LoginPage {
            ctx,
            csrf,
            message,
            sso: s.app.settings.sso.is_some(),
        })
    })
}

/// A page with a form that signs in: a fresh one-off token in the form and in a cookie
/// (double submit), since nobody is signed in yet to tie it to.
fn with_form_token(
    s: &AppState,
    status: StatusCode,
    page: impl FnOnce(String) -> Response,
) -> Response {
    let csrf = gongshu_app::auth::random_secret();
    let mut r = page(csrf.clone());
    *r.status_mut() = status;
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(s, LOGIN_CSRF_COOKIE, &csrf, 3600),
    );
    r
}

/// Where the identity provider sends the browser back.
fn sso_return(s: &AppState, headers: &HeaderMap) -> String {
    format!("{}/login/sso/callback", public_base(s, headers))
}

/// `/login/sso`: off to the province's identity system (统一身份认证).
async fn sso_start(State(s): State<AppState>, ctx: Ctx, headers: HeaderMap) -> Response {
    match s.app.sso_start(&sso_return(&s, &headers)).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => error_page(&ctx, &e),
    }
}

#[derive(Deserialize)]
struct SsoReturn {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `/login/sso/callback`: the provider's answer; a session on success.
async fn sso_callback(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    q: Result<Query<SsoReturn>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (code, state) = match q {
        Ok(Query(SsoReturn {
            code: Some(code),
            state: Some(state),
            error: None,
        })) => (code, state),
        _ => {
            return login_page(
                &s,
                &ctx,
                ctx.t(
                    "统一身份认证未完成登录，请重试或使用账号密码登录",
                    "The identity system did not sign you in; try again, or use your password",
                )
                .into(),
                StatusCode::BAD_REQUEST,
            );
        }
    };
    let user = match s.app.sso_finish(&code, &state).await {
        Ok(u) => u,
        Err(e) => {
            return login_page(
                &s,
                &ctx,
                e.message(ctx.lang).to_owned(),
                crate::error::status_of(e.code),
            );
        }
    };
    // A fresh session, as with a password: the browser's previous one ends.
    if let Some(old) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = s.app.revoke(old).await
    {
        return error_page(&ctx, &e);
    }
    crate::audit::AuditNote::login("auth.sso", &user)
        .attach(start_session(&s, &ctx, &user, "/").await)
}

async fn login_form(State(s): State<AppState>, ctx: Ctx) -> Response {
    login_page(&s, &ctx, String::new(), StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

async fn login(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return login_page(
            &s,
            &ctx,
            ctx.t("请填写用户名和密码", "Enter a username and password")
                .into(),
            StatusCode::BAD_REQUEST,
        );
    };
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !same_secret(expected, &form.csrf) {
        return login_page(
            &s,
            &ctx,
            ctx.t(
                "页面已过期，请重新提交",
                "The form expired; please submit it again",
            )
            .into(),
            StatusCode::FORBIDDEN,
        );
    }
    let user = match s
        .app
        .login_from(&form.username, &form.password, ctx.client)
        .await
    {
        Ok(u) => u,
        Err(e) => {
            let mut r = login_page(
                &s,
                &ctx,
                e.message(ctx.lang).to_owned(),
                crate::error::status_of(e.code),
            );
            crate::error::retry_after(&mut r, &e);
            return r;
        }
    };
    // A fresh session on every login: the browser's previous one (whoever it was) ends.
    if let Some(old) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = s.app.revoke(old).await
    {
        return error_page(&ctx, &e);
    }
    tracing::info!(user = %user.username, "signed in");
    crate::audit::AuditNote::login("auth.login", &user)
        .attach(start_session(&s, &ctx, &user, "/").await)
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage<'a> {
    ctx: &'a Ctx,
    csrf: String,
    message: String,
    username: String,
    display_name: String,
    kind: String,
}

#[derive(Deserialize, Default)]
struct RegisterForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// The registration form, with a fresh double-submit token as the login form has.
fn register_page(
    s: &AppState,
    ctx: &Ctx,
    f: &RegisterForm,
    message: String,
    status: StatusCode,
) -> Response {
    with_form_token(s, status, |csrf| {
        render(&RegisterPage {
            ctx,
            csrf,
            message,
            username: f.username.clone(),
            display_name: f.display_name.clone(),
            kind: f.kind.clone(),
        })
    })
}

async fn register_form(State(s): State<AppState>, ctx: Ctx) -> Response {
    register_page(
        &s,
        &ctx,
        &RegisterForm::default(),
        String::new(),
        StatusCode::OK,
    )
}

async fn register(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    form: Result<Form<RegisterForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !same_secret(expected, &f.csrf) {
        let message = ctx.t(
            "页面已过期，请重新提交",
            "The form expired; please submit it again",
        );
        return register_page(&s, &ctx, &f, message.into(), StatusCode::FORBIDDEN);
    }
    if f.password != f.password2 {
        let message = ctx.t("两次输入的密码不一致", "The two passwords differ");
        return register_page(
            &s,
            &ctx,
            &f,
            message.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let kind = gongshu_core::types::UserKind::parse(&f.kind)
        .unwrap_or(gongshu_core::types::UserKind::NaturalPerson);
    let input = gongshu_app::directory::NewUserInput {
        username: f.username.trim().to_owned(),
        display_name: f.display_name.clone(),
        password: f.password.clone(),
        kind,
    };
    let user = match s.app.register(input).await {
        Ok(u) => u,
        Err(e) => {
            let message = crate::console::problem_text(&e, ctx.lang);
            return register_page(&s, &ctx, &f, message, status_of(e.code));
        }
    };
    tracing::info!(user = %user.username, "registered");
    start_session(&s, &ctx, &user, "/console").await
}

/// A new session for `user`, its cookie set and the form token spent, then on to `to`.
async fn start_session(
    s: &AppState,
    ctx: &Ctx,
    user: &gongshu_app::gongshu_store::UserRow,
    to: &str,
) -> Response {
    match s.app.start_session(user).await {
        Ok(session) => {
            let max_age = (session.expires_at - chrono::Utc::now()).num_seconds();
            let mut r = Redirect::to(to).into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(s, SESSION_COOKIE, &session.secret, max_age),
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(s, LOGIN_CSRF_COOKIE, "", 0),
            );
            r
        }
        Err(e) => error_page(ctx, &e),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

async fn logout(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let sent = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if !ctx.csrf.as_deref().is_some_and(|c| same_secret(c, &sent)) {
        return error_page(
            &ctx,
            &Error::new(
                gongshu_core::ErrorCode::Forbidden,
                "缺少或错误的CSRF令牌",
                "Missing or wrong CSRF token",
            ),
        );
    }
    if let Some(secret) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = s.app.revoke(secret).await
    {
        return error_page(&ctx, &e);
    }
    let mut r = Redirect::to("/").into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, cookie_header(&s, SESSION_COOKIE, "", 0));
    r
}

#[derive(Deserialize)]
struct LangQuery {
    set: String,
}

async fn set_lang(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<LangQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let lang = q.map(|Query(q)| Lang::from_tag(&q.set)).unwrap_or_default();
    // Go back where the visitor was, but only to a page of this site.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        })
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/".into());
    let mut r = Redirect::to(&back).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&s, LANG_COOKIE, lang.code(), 365 * 86400),
    );
    r
}
