//! The console's harvesting and federation pages (issue 10): an authority's harvest
//! sources with their runs' reports, a form to add one and a button to run it; the
//! province's member platforms with their last push, and a city's enrolment with its
//! province. Each form calls the same use case as the API.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use gongshu_app::federation::{MemberInput, MemberView, UpstreamInput, UpstreamView};
use gongshu_app::harvest::{HarvestRunView, HarvestSourceInput, HarvestSourceView, SourceKind};
use gongshu_core::authz::Principal;
use gongshu_core::catalog::Category;
use gongshu_core::error::Lang;
use gongshu_core::types::{CategoryClass, Domain, Grade, OrgKind, Role, UpdateCycle};
use gongshu_core::{Error, FieldError};
use serde::Deserialize;

use crate::AppState;
use crate::console::{Banner, CsrfOnly, DoneQuery, checked, done, signed_in, with_status};
use crate::ctx::Ctx;
use crate::error::status_of;
use crate::pages::{error_page, render};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/harvest", get(sources).post(add_source))
        .route("/console/harvest/{id}", get(source))
        .route("/console/harvest/{id}/run", post(run))
        .route("/console/federation", get(federation))
        .route("/console/federation/members", post(register))
        .route("/console/federation/upstream", post(enrol))
}

#[derive(Deserialize, Default)]
struct SourceForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    provider_id: String,
    #[serde(default)]
    interval_hours: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    item: String,
    #[serde(default)]
    catalog: String,
    #[serde(default)]
    domain: String,
}

#[derive(Template)]
#[template(path = "harvest.html")]
struct SourcesPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    sources: Vec<HarvestSourceView>,
    providers: Vec<(i64, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    classes: Vec<(&'static str, &'static str)>,
    domains: Vec<(&'static str, &'static str)>,
    form: SourceForm,
    banner: Option<Banner>,
}

#[derive(Template)]
#[template(path = "harvest_source.html")]
struct SourcePage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    source: HarvestSourceView,
    runs: Vec<HarvestRunView>,
    banner: Option<Banner>,
}

#[derive(Template)]
#[template(path = "federation.html")]
struct FederationPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    members: Vec<MemberView>,
    /// The regions the caller may register members in.
    regions: Vec<String>,
    upstream: Option<UpstreamView>,
    admin: bool,
    /// A member just registered: its one-time token, shown once.
    token: Option<(String, String)>,
    banner: Option<Banner>,
}

async fn providers_of(s: &AppState, p: &Principal) -> Vec<(i64, String)> {
    let regions = p.authority_regions();
    s.app
        .orgs(None, Some(OrgKind::Provider))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|o| {
            p.has_role(Role::SystemAdmin)
                || regions
                    .iter()
                    .any(|r| gongshu_core::region::region_contains(r, &o.region_code))
        })
        .map(|o| (o.id, o.name))
        .collect()
}

async fn sources_page(
    s: &AppState,
    ctx: &Ctx,
    form: SourceForm,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let p = match signed_in(ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let zh = ctx.lang == Lang::Zh;
    match s.app.harvest_sources(p).await {
        Ok(sources) => with_status(
            render(&SourcesPage {
                ctx,
                csrf: ctx.csrf.as_deref().unwrap_or(""),
                sources,
                providers: providers_of(s, p).await,
                kinds: SourceKind::ALL
                    .iter()
                    .map(|k| (k.as_str(), k.label(ctx.lang)))
                    .collect(),
                classes: CategoryClass::ALL
                    .iter()
                    .map(|c| (c.as_str(), if zh { c.label_zh() } else { c.label_en() }))
                    .collect(),
                domains: Domain::ALL
                    .iter()
                    .map(|d| (d.as_str(), if zh { d.label_zh() } else { d.label_en() }))
                    .collect(),
                form,
                banner,
            }),
            status,
        ),
        Err(e) => error_page(ctx, &e),
    }
}

async fn sources(State(s): State<AppState>, ctx: Ctx, Query(q): Query<DoneQuery>) -> Response {
    let banner = Banner::from(&ctx, &q);
    sources_page(&s, &ctx, SourceForm::default(), banner, StatusCode::OK).await
}

fn number(field: &str, value: &str, problems: &mut Vec<FieldError>) -> i64 {
    value.trim().parse().unwrap_or_else(|_| {
        problems.push(FieldError::new(field, "format", "应为数字", "a number"));
        0
    })
}

async fn add_source(State(s): State<AppState>, ctx: Ctx, Form(f): Form<SourceForm>) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let mut problems = Vec::new();
    let provider_id = number("provider_id", &f.provider_id, &mut problems);
    let interval_hours = number("interval_hours", &f.interval_hours, &mut problems);
    let kind = SourceKind::ALL
        .iter()
        .copied()
        .find(|k| k.as_str() == f.kind);
    let class = CategoryClass::parse(&f.class);
    if kind.is_none() {
        problems.push(FieldError::new(
            "kind",
            "required",
            "请选择来源类型",
            "choose a kind",
        ));
    }
    if class.is_none() {
        problems.push(FieldError::new(
            "class",
            "required",
            "请选择分类",
            "choose a class",
        ));
    }
    let result = match (kind, class) {
        (Some(kind), Some(class)) if problems.is_empty() => {
            let input = HarvestSourceInput {
                name: f.name.clone(),
                kind,
                url: f.url.clone(),
                provider_id,
                interval_hours,
                enabled: true,
                defaults: gongshu_app::harvest::HarvestDefaults {
                    category: Category {
                        class,
                        item: f.item.trim().to_owned(),
                        catalog: f.catalog.trim().to_owned(),
                        detail: None,
                    },
                    domains: Domain::parse(&f.domain).into_iter().collect(),
                    grade: Grade::General1,
                    update_cycle: UpdateCycle::Irregular,
                    license: String::new(),
                    contact: String::new(),
                },
            };
            s.app.create_harvest_source(p, input).await
        }
        _ => Err(Error::validation(problems)),
    };
    match result {
        Ok(created) => done(format!("/console/harvest/{}", created.id)),
        Err(e) => {
            let status = status_of(e.code);
            let banner = Banner::refused(&ctx, &e);
            sources_page(&s, &ctx, f, banner, status).await
        }
    }
}

async fn source_page(s: &AppState, ctx: &Ctx, id: i64, banner: Option<Banner>) -> Response {
    let p = match signed_in(ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let found = match s.app.harvest_source(p, id).await {
        Ok(source) => s.app.harvest_runs(p, id).await.map(|runs| (source, runs)),
        Err(e) => Err(e),
    };
    match found {
        Ok((source, runs)) => render(&SourcePage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            source,
            runs,
            banner,
        }),
        Err(e) => error_page(ctx, &e),
    }
}

async fn source(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let banner = Banner::from(&ctx, &q);
    source_page(&s, &ctx, id, banner).await
}

async fn run(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.start_harvest(p, id).await {
        Ok(_) => done(format!("/console/harvest/{id}")),
        Err(e) => {
            let banner = Banner::refused(&ctx, &e);
            with_status(source_page(&s, &ctx, id, banner).await, status_of(e.code))
        }
    }
}

async fn federation_page(
    s: &AppState,
    ctx: &Ctx,
    token: Option<(String, String)>,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let p = match signed_in(ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let members = match s.app.federation_members(p).await {
        Ok(m) => m,
        Err(e) => return error_page(ctx, &e),
    };
    let admin = p.has_role(Role::SystemAdmin);
    let mut regions = p.authority_regions();
    if admin {
        regions = s
            .app
            .regions()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.code)
            .collect();
    }
    with_status(
        render(&FederationPage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            members,
            regions,
            upstream: s.app.federation_upstream(p).await.ok(),
            admin,
            token,
            banner,
        }),
        status,
    )
}

async fn federation(State(s): State<AppState>, ctx: Ctx, Query(q): Query<DoneQuery>) -> Response {
    let banner = Banner::from(&ctx, &q);
    federation_page(&s, &ctx, None, banner, StatusCode::OK).await
}

#[derive(Deserialize)]
struct MemberForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    region_code: String,
    #[serde(default)]
    url: String,
}

async fn register(State(s): State<AppState>, ctx: Ctx, Form(f): Form<MemberForm>) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let input = MemberInput {
        name: f.name,
        region_code: f.region_code,
        url: f.url,
    };
    match s.app.create_federation_member(p, input).await {
        Ok(created) => {
            let token = Some((created.member.name, created.enrollment_token));
            federation_page(&s, &ctx, token, None, StatusCode::CREATED).await
        }
        Err(e) => {
            let banner = Banner::refused(&ctx, &e);
            federation_page(&s, &ctx, None, banner, status_of(e.code)).await
        }
    }
}

#[derive(Deserialize)]
struct UpstreamForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    province_url: String,
    #[serde(default)]
    token: String,
}

async fn enrol(State(s): State<AppState>, ctx: Ctx, Form(f): Form<UpstreamForm>) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let input = UpstreamInput {
        province_url: f.province_url,
        token: f.token,
        url: None,
    };
    match s.app.set_federation_upstream(p, input).await {
        Ok(_) => done("/console/federation".into()),
        Err(e) => {
            let banner = Banner::refused(&ctx, &e);
            federation_page(&s, &ctx, None, banner, status_of(e.code)).await
        }
    }
}
