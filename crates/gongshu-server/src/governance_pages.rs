//! The pages of the evaluation (issue 8) and of security incidents (issue 7): released
//! reports on the portal with their charts, the authority's forms to compute and
//! release, the incident records of the console, and the public security notices.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use gongshu_app::evaluation::{EvaluationInput, EvaluationSummary, EvaluationView};
use gongshu_app::incidents::{
    IncidentInput, IncidentKind, IncidentReport, IncidentUpdate, IncidentView, SecurityNotice,
    Severity, SubjectNotice,
};
use gongshu_app::sources::SourceConflicts;
use gongshu_app::views::PageView;
use gongshu_core::error::Lang;
use gongshu_core::evaluation::{Dimension, Indicator};
use gongshu_core::{Error, ErrorCode, FieldError};
use serde::Deserialize;

use crate::AppState;
use crate::chart::{Point, draw};
use crate::console::{Banner, DoneQuery, checked, done, signed_in, with_status};
use crate::ctx::Ctx;
use crate::error::status_of;
use crate::pages::{error_page, render};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/evaluations", get(evaluations).post(compute))
        .route("/evaluations/{id}", get(evaluation).post(release))
        .route("/evaluations/{id}/export.{format}", get(export))
        .route("/console/incidents", get(incidents).post(record))
        .route("/console/incidents/{id}", get(incident).post(update))
        .route("/security-notices", get(notices))
        .route("/console/source-conflicts", get(source_conflicts))
}

fn banner_for(ctx: &Ctx, e: &Error) -> Option<Banner> {
    Banner::refused(ctx, e)
}

/// A date from a form field; a blank or malformed one is a field error, not a crash.
fn date_field(
    name: &str,
    value: &str,
    problems: &mut Vec<FieldError>,
) -> Option<chrono::NaiveDate> {
    match value.trim().parse() {
        Ok(d) => Some(d),
        Err(_) => {
            problems.push(FieldError::new(
                name,
                "format",
                "请填写日期（年-月-日）",
                "give a date (YYYY-MM-DD)",
            ));
            None
        }
    }
}

// ---- evaluations --------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct ComputeForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    region_code: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

#[derive(Template)]
#[template(path = "evaluations.html")]
struct EvaluationsPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    items: Vec<EvaluationSummary>,
    /// The regions the caller evaluates (an authority), for the form.
    regions: Vec<String>,
    form: ComputeForm,
    banner: Option<Banner>,
}

async fn evaluations_page(
    s: &AppState,
    ctx: &Ctx,
    form: ComputeForm,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    match s.app.evaluations(ctx.caller.as_ref(), None).await {
        Ok(items) => with_status(
            render(&EvaluationsPage {
                ctx,
                csrf: ctx.csrf.as_deref().unwrap_or(""),
                items,
                regions: ctx
                    .caller
                    .as_ref()
                    .map(|c| c.authority_regions())
                    .unwrap_or_default(),
                form,
                banner,
            }),
            status,
        ),
        Err(e) => error_page(ctx, &e),
    }
}

async fn evaluations(State(s): State<AppState>, ctx: Ctx) -> Response {
    evaluations_page(&s, &ctx, ComputeForm::default(), None, StatusCode::OK).await
}

async fn compute(State(s): State<AppState>, ctx: Ctx, Form(f): Form<ComputeForm>) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let mut problems = Vec::new();
    let from = date_field("from", &f.from, &mut problems);
    let to = date_field("to", &f.to, &mut problems);
    let outcome = match (from, to) {
        (Some(from), Some(to)) => {
            s.app
                .compute_evaluation(
                    p,
                    EvaluationInput {
                        region_code: f.region_code.trim().to_owned(),
                        from,
                        to,
                    },
                )
                .await
        }
        _ => Err(Error::validation(problems)),
    };
    match outcome {
        Ok(view) => Redirect::to(&gongshu_app::links::evaluation(view.id)).into_response(),
        Err(e) => {
            let status = status_of(e.code);
            evaluations_page(&s, &ctx, f, banner_for(&ctx, &e), status).await
        }
    }
}

/// One row of the ranking table.
struct RankRow {
    rank: u32,
    name: String,
    total: String,
    dimensions: Vec<String>,
}

/// One row of the figures table: an indicator's value and score per provider.
struct FigureRow {
    label: &'static str,
    weight: String,
    cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "evaluation.html")]
struct EvaluationPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    e: EvaluationView,
    dimensions: Vec<&'static str>,
    providers: Vec<RankRow>,
    regions: Vec<RankRow>,
    provider_names: Vec<String>,
    figures: Vec<FigureRow>,
    ranking_svg: String,
    region_svg: String,
    trend_svg: Option<String>,
    trend: Vec<(String, String)>,
    banner: Option<Banner>,
}

fn rank_rows(units: &[gongshu_app::evaluation::EvaluatedUnit], zh: bool) -> Vec<RankRow> {
    units
        .iter()
        .map(|u| RankRow {
            rank: u.scored.rank,
            name: u.display_name(zh).to_owned(),
            total: format!("{:.2}", u.scored.total),
            dimensions: Dimension::ALL
                .iter()
                .map(|d| {
                    u.scored
                        .dimensions
                        .get(d)
                        .map_or_else(|| "—".to_owned(), |v| format!("{v:.2}"))
                })
                .collect(),
        })
        .collect()
}

/// The raw figure of an indicator, as a person reads it.
fn figure(t: &gongshu_core::evaluation::Tally, i: Indicator) -> String {
    match t.value(i) {
        None => "—".to_owned(),
        Some(v) => match i {
            Indicator::OpenRatio
            | Indicator::OnTimeUpdates
            | Indicator::ShareResponse
            | Indicator::ApplicationResponse
            | Indicator::ObjectionResponse
            | Indicator::DemandResponse => format!("{:.1}%", v * 100.0),
            Indicator::Quality => format!("{v:.1}"),
            _ => format!("{v:.0}"),
        },
    }
}

async fn evaluation_page(
    s: &AppState,
    ctx: &Ctx,
    id: i64,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let e = match s.app.evaluation(ctx.caller.as_ref(), id).await {
        Ok(e) => e,
        Err(e) => return error_page(ctx, &e),
    };
    let zh = ctx.lang == Lang::Zh;
    let points = |units: &[gongshu_app::evaluation::EvaluatedUnit]| -> Vec<Point> {
        units
            .iter()
            .map(|u| Point {
                label: u.display_name(zh).to_owned(),
                value: u.scored.total,
            })
            .collect()
    };
    let ranking_svg = draw(
        ctx.t("各单位总分", "Total score by provider"),
        &points(&e.doc.providers),
        false,
        zh,
    );
    let region_svg = draw(
        ctx.t("各地区总分", "Total score by region"),
        &points(&e.doc.regions),
        false,
        zh,
    );
    let trend = match s.app.evaluation_trend(&e).await {
        Ok(t) => t,
        Err(err) => return error_page(ctx, &err),
    };
    let trend_points: Vec<Point> = trend
        .iter()
        .map(|t| Point {
            label: format!("{}—{}", t.period_from, t.period_to),
            value: t.mean_total,
        })
        .collect();
    let trend_svg = (trend_points.len() >= 2).then(|| {
        draw(
            ctx.t("历次评价平均分", "Mean score over the released evaluations"),
            &trend_points,
            true,
            zh,
        )
    });
    let figures = Indicator::ALL
        .iter()
        .map(|i| FigureRow {
            label: i.label(zh),
            weight: format!("{}", e.doc.scheme.weight(*i)),
            cells: e
                .doc
                .providers
                .iter()
                .map(|u| {
                    let score = u
                        .scored
                        .scores
                        .get(i)
                        .map_or_else(String::new, |s| format!("（{s:.1}）"));
                    format!("{}{score}", figure(&u.tally, *i))
                })
                .collect(),
        })
        .collect();
    let page = EvaluationPage {
        ctx,
        csrf: ctx.csrf.as_deref().unwrap_or(""),
        dimensions: Dimension::ALL.iter().map(|d| d.label(zh)).collect(),
        providers: rank_rows(&e.doc.providers, zh),
        regions: rank_rows(&e.doc.regions, zh),
        provider_names: e
            .doc
            .providers
            .iter()
            .map(|u| u.display_name(zh).to_owned())
            .collect(),
        figures,
        ranking_svg,
        region_svg,
        trend_svg,
        trend: trend
            .iter()
            .map(|t| {
                (
                    format!("{} — {}", t.period_from, t.period_to),
                    format!("{:.2}", t.mean_total),
                )
            })
            .collect(),
        e,
        banner,
    };
    with_status(render(&page), status)
}

async fn evaluation(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    q: Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    evaluation_page(&s, &ctx, id, Banner::from(&ctx, &q), StatusCode::OK).await
}

async fn release(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<crate::console::CsrfOnly>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.release_evaluation(p, id).await {
        Ok(_) => done(gongshu_app::links::evaluation(id)),
        Err(e) => {
            let status = status_of(e.code);
            evaluation_page(&s, &ctx, id, banner_for(&ctx, &e), status).await
        }
    }
}

async fn export(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, format)): Path<(i64, String)>,
) -> Response {
    let view = match s.app.evaluation(ctx.caller.as_ref(), id).await {
        Ok(v) => v,
        Err(e) => return error_page(&ctx, &e),
    };
    match crate::governance_api::evaluation_file(&ctx, &view, &format) {
        Ok(r) => r,
        Err(_) => error_page(
            &ctx,
            &Error::new(ErrorCode::NotFound, "没有这种格式", "No such format"),
        ),
    }
}

// ---- incidents ----------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct IncidentForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    region_code: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    occurred_on: String,
    #[serde(default)]
    discovered_on: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    affected_data: String,
    /// Entry numbers, separated by commas or spaces.
    #[serde(default)]
    datasets: String,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    page: PageView<IncidentView>,
    regions: Vec<String>,
    severities: Vec<(&'static str, &'static str)>,
    kinds: Vec<(&'static str, &'static str)>,
    form: IncidentForm,
    banner: Option<Banner>,
}

impl IncidentsPage<'_> {
    fn severity(&self, s: &Severity) -> &'static str {
        s.label(self.ctx.lang == Lang::Zh)
    }
}

fn severities(zh: bool) -> Vec<(&'static str, &'static str)> {
    Severity::ALL
        .iter()
        .map(|s| (s.as_str(), s.label(zh)))
        .collect()
}

fn incident_kinds(zh: bool) -> Vec<(&'static str, &'static str)> {
    IncidentKind::ALL
        .iter()
        .map(|k| (k.as_str(), k.label(zh)))
        .collect()
}

async fn incidents_page(
    s: &AppState,
    ctx: &Ctx,
    form: IncidentForm,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let p = match signed_in(ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let zh = ctx.lang == Lang::Zh;
    match s.app.incidents(p, 1, 100).await {
        Ok(page) => with_status(
            render(&IncidentsPage {
                ctx,
                csrf: ctx.csrf.as_deref().unwrap_or(""),
                page,
                regions: p.authority_regions(),
                severities: severities(zh),
                kinds: incident_kinds(zh),
                form,
                banner,
            }),
            status,
        ),
        Err(e) => error_page(ctx, &e),
    }
}

async fn incidents(State(s): State<AppState>, ctx: Ctx) -> Response {
    incidents_page(&s, &ctx, IncidentForm::default(), None, StatusCode::OK).await
}

async fn record(State(s): State<AppState>, ctx: Ctx, Form(f): Form<IncidentForm>) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let mut problems = Vec::new();
    let occurred = date_field("occurred_on", &f.occurred_on, &mut problems);
    let discovered = date_field("discovered_on", &f.discovered_on, &mut problems);
    let mut dataset_ids = Vec::new();
    for (n, word) in f
        .datasets
        .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        match word.parse() {
            Ok(id) => dataset_ids.push(id),
            Err(_) => problems.push(FieldError::new(
                format!("dataset_ids[{n}]"),
                "format",
                "目录编号应为数字",
                "entry numbers are digits",
            )),
        }
    }
    let severity = Severity::parse(&f.severity);
    let kind = IncidentKind::parse(&f.kind);
    if severity.is_none() {
        problems.push(FieldError::new(
            "severity",
            "required",
            "请选择事件分级",
            "choose a severity",
        ));
    }
    if kind.is_none() {
        problems.push(FieldError::new(
            "kind",
            "required",
            "请选择事件类型",
            "choose a kind",
        ));
    }
    let outcome = match (occurred, discovered, severity, kind, problems.is_empty()) {
        (Some(occurred_on), Some(discovered_on), Some(severity), Some(kind), true) => {
            s.app
                .record_incident(
                    p,
                    IncidentInput {
                        region_code: f.region_code.trim().to_owned(),
                        severity,
                        kind,
                        title: f.title.clone(),
                        occurred_on,
                        discovered_on,
                        description: f.description.clone(),
                        affected_data: f.affected_data.clone(),
                        affected_people: None,
                        dataset_ids,
                    },
                )
                .await
        }
        _ => Err(Error::validation(problems)),
    };
    match outcome {
        Ok(view) => done(gongshu_app::links::incident(view.id)),
        Err(e) => {
            let status = status_of(e.code);
            incidents_page(&s, &ctx, f, banner_for(&ctx, &e), status).await
        }
    }
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    i: IncidentView,
    severity: &'static str,
    kind: &'static str,
    banner: Option<Banner>,
}

async fn incident_page(
    s: &AppState,
    ctx: &Ctx,
    id: i64,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let p = match signed_in(ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let zh = ctx.lang == Lang::Zh;
    match s.app.incident(p, id).await {
        Ok(i) => with_status(
            render(&IncidentPage {
                ctx,
                csrf: ctx.csrf.as_deref().unwrap_or(""),
                severity: i.severity.label(zh),
                kind: i.kind.label(zh),
                i,
                banner,
            }),
            status,
        ),
        Err(e) => error_page(ctx, &e),
    }
}

async fn incident(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    q: Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    incident_page(&s, &ctx, id, Banner::from(&ctx, &q), StatusCode::OK).await
}

#[derive(Debug, Default, Deserialize)]
struct UpdateForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    measure: String,
    #[serde(default)]
    report_to: String,
    #[serde(default)]
    report_on: String,
    #[serde(default)]
    report_reference: String,
    #[serde(default)]
    notified_on: String,
    #[serde(default)]
    notified_how: String,
    #[serde(default)]
    public_warning: String,
    #[serde(default)]
    conclusion: String,
}

fn given(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

async fn update(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<UpdateForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let mut problems = Vec::new();
    let report = match given(&f.report_to) {
        Some(to) => date_field("report.on", &f.report_on, &mut problems).map(|on| IncidentReport {
            to,
            on,
            reference: f.report_reference.trim().to_owned(),
        }),
        None => None,
    };
    let subjects_notified = match given(&f.notified_how) {
        Some(how) => date_field("subjects_notified.on", &f.notified_on, &mut problems)
            .map(|on| SubjectNotice { on, how }),
        None => None,
    };
    let outcome = if problems.is_empty() {
        s.app
            .update_incident(
                p,
                id,
                IncidentUpdate {
                    measure: given(&f.measure),
                    report,
                    subjects_notified,
                    public_warning: given(&f.public_warning),
                    conclusion: given(&f.conclusion),
                },
            )
            .await
    } else {
        Err(Error::validation(problems))
    };
    match outcome {
        Ok(_) => done(gongshu_app::links::incident(id)),
        Err(e) => {
            let status = status_of(e.code);
            incident_page(&s, &ctx, id, banner_for(&ctx, &e), status).await
        }
    }
}

#[derive(Template)]
#[template(path = "security_notices.html")]
struct NoticesPage<'a> {
    ctx: &'a Ctx,
    notices: Vec<SecurityNotice>,
}

async fn notices(State(s): State<AppState>, ctx: Ctx) -> Response {
    match s.app.security_notices().await {
        Ok(notices) => render(&NoticesPage { ctx: &ctx, notices }),
        Err(e) => error_page(&ctx, &e),
    }
}

#[derive(Template)]
#[template(path = "source_conflicts.html")]
struct SourceConflictsPage<'a> {
    ctx: &'a Ctx,
    found: SourceConflicts,
}

#[derive(Deserialize)]
struct RegionQuery {
    region: Option<String>,
}

/// 一数一源: the items several providers claim as their own source.
async fn source_conflicts(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<RegionQuery>,
) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let region = q.region.filter(|r| !r.is_empty());
    match s.app.source_conflicts(p, region.as_deref()).await {
        Ok(found) => render(&SourceConflictsPage { ctx: &ctx, found }),
        Err(e) => error_page(&ctx, &e),
    }
}
