//! The pages of issue 8's feedback: reporting a problem from a dataset page, the
//! objection pages of the console (reporter, provider, authority), the public demand
//! board with its forms, and the supply-and-demand list. Every form posts to the same
//! use case as the API, with the session's CSRF token.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use gongshu_app::feedback::{
    CaseFilter, DemandAnswer, DemandDetail, DemandInput, DemandView, EVIDENCE_LIMIT,
    ObjectionDetail, ObjectionInput, ObjectionReply, ObjectionView, RatingInput, ReasonInput,
    RouteInput,
};
use gongshu_app::reuse::{ModerationInput, ReuseInput, ReuseKind, ReuseView, SCREENSHOT_LIMIT};
use gongshu_app::views::PageView;
use gongshu_core::authz::Principal;
use gongshu_core::error::Lang;
use gongshu_core::feedback::{DemandAnswerKind, ObjectionKind};
use gongshu_core::{Error, ErrorCode};
use serde::Deserialize;

use crate::AppState;
use crate::console::{
    Banner, DoneQuery, HistoryLine, checked, done, history_lines, signed_in, with_status,
};
use crate::ctx::Ctx;
use crate::error::status_of;
use crate::pages::{error_page, render};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/datasets/{id}/objection",
            get(objection_form).post(file_objection),
        )
        .route("/datasets/{id}/rating", post(rate))
        .route("/console/objections", get(objections))
        .route("/console/objections/{id}", get(objection))
        .route(
            "/console/objections/{id}/evidence",
            post(add_evidence).layer(DefaultBodyLimit::max(EVIDENCE_LIMIT + 64 * 1024)),
        )
        .route("/console/objections/{id}/{action}", post(act_on_objection))
        .route("/demands", get(demands).post(file_demand))
        .route("/demands/new", get(demand_form))
        .route("/demands/{id}", get(demand))
        .route("/demands/{id}/{action}", post(act_on_demand))
        .route("/supply-demand", get(supply_demand))
        .route("/console/resources/{id}/quality", get(quality))
        .route("/reuses", get(reuses).post(register_reuse))
        .route("/reuses/new", get(reuse_form))
        .route("/reuses/{id}", get(reuse))
        .route("/reuses/{id}/moderate", post(moderate_reuse))
        .route(
            "/reuses/{id}/screenshot",
            post(add_screenshot).layer(DefaultBodyLimit::max(SCREENSHOT_LIMIT + 64 * 1024)),
        )
}

fn refused(ctx: &Ctx, e: &Error) -> Option<Banner> {
    Banner::refused(ctx, e)
}

fn kinds(ctx: &Ctx) -> Vec<(&'static str, &'static str)> {
    ObjectionKind::ALL
        .iter()
        .map(|k| {
            let wire = match k {
                ObjectionKind::Error => "error",
                ObjectionKind::Omission => "omission",
                ObjectionKind::Outdated => "outdated",
                ObjectionKind::Infringement => "infringement",
                ObjectionKind::Other => "other",
            };
            (wire, ctx.t(k.label_zh(), k.label_en()))
        })
        .collect()
}

fn kind_label(ctx: &Ctx, k: ObjectionKind) -> &'static str {
    ctx.t(k.label_zh(), k.label_en())
}

fn answer_label(ctx: &Ctx, k: DemandAnswerKind) -> &'static str {
    ctx.t(k.label_zh(), k.label_en())
}

fn state_label(ctx: &Ctx, state: &str) -> &'static str {
    match state {
        "open" => ctx.t("待答复", "waiting for an answer"),
        "reopened" => ctx.t("已重新提出", "re-opened"),
        "answered" => ctx.t("已答复", "answered"),
        "routing" => ctx.t("待分派", "waiting to be routed"),
        _ => ctx.t("其他", "other"),
    }
}

// ---------------------------------------------------------------- objections

#[derive(Debug, Default, Deserialize)]
struct ObjectionForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    resource_id: String,
    #[serde(default)]
    item: String,
    #[serde(default)]
    row: String,
    #[serde(default)]
    description: String,
}

#[derive(Template)]
#[template(path = "objection_new.html")]
struct ObjectionNewPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    dataset_id: i64,
    title: String,
    kinds: Vec<(&'static str, &'static str)>,
    resources: Vec<(String, String)>,
    items: Vec<String>,
    form: ObjectionForm,
    banner: Option<Banner>,
}

async fn objection_new_page(
    s: &AppState,
    ctx: &Ctx,
    id: i64,
    form: ObjectionForm,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let d = match s.app.public_dataset(id).await {
        Ok(d) => d,
        Err(e) => return error_page(ctx, &e),
    };
    let resources = s
        .app
        .list_resources(ctx.caller.as_ref(), id)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    with_status(
        render(&ObjectionNewPage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            dataset_id: id,
            title: d.metadata.title.clone(),
            kinds: kinds(ctx),
            resources,
            items: d.metadata.items.iter().map(|i| i.name.clone()).collect(),
            form,
            banner,
        }),
        status,
    )
}

async fn objection_form(State(s): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Response {
    if let Err(r) = signed_in(&ctx) {
        return *r;
    }
    objection_new_page(
        &s,
        &ctx,
        id,
        ObjectionForm {
            kind: "error".into(),
            ..ObjectionForm::default()
        },
        None,
        StatusCode::OK,
    )
    .await
}

fn some(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

async fn file_objection(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<ObjectionForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let kind = serde_json::from_value::<ObjectionKind>(serde_json::json!(f.kind))
        .unwrap_or(ObjectionKind::Other);
    let input = ObjectionInput {
        dataset_id: id,
        resource_id: some(&f.resource_id),
        row: some(&f.row),
        item: some(&f.item),
        kind,
        description: f.description.clone(),
    };
    match s.app.file_objection(p, input).await {
        Ok(o) => done(gongshu_app::links::objection(o.id)),
        Err(e) => {
            let status = status_of(e.code);
            objection_new_page(&s, &ctx, id, f, refused(&ctx, &e), status).await
        }
    }
}

#[derive(Debug, Deserialize)]
struct RatingForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    stars: i64,
}

async fn rate(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<RatingForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.rate(p, id, RatingInput { stars: f.stars }).await {
        Ok(_) => Redirect::to(&format!("/datasets/{id}?done=1#feedback")).into_response(),
        Err(e) => error_page(&ctx, &e),
    }
}

#[derive(Template)]
#[template(path = "objections.html")]
struct ObjectionsPage<'a> {
    ctx: &'a Ctx,
    page: PageView<ObjectionView>,
    mine: bool,
}

impl ObjectionsPage<'_> {
    fn kind(&self, k: &ObjectionKind) -> &'static str {
        kind_label(self.ctx, *k)
    }

    fn state(&self, s: &str) -> &'static str {
        state_label(self.ctx, s)
    }
}

async fn objections(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<CaseFilter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    match s.app.objections(p, &q).await {
        Ok(page) => render(&ObjectionsPage {
            ctx: &ctx,
            page,
            mine: q.mine.unwrap_or(false),
        }),
        Err(e) => error_page(&ctx, &e),
    }
}

#[derive(Template)]
#[template(path = "objection.html")]
struct ObjectionPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    o: ObjectionDetail,
    history: Vec<HistoryLine>,
    banner: Option<Banner>,
}

impl ObjectionPage<'_> {
    fn kind(&self) -> &'static str {
        kind_label(self.ctx, self.o.objection.kind)
    }

    fn state(&self) -> &'static str {
        state_label(self.ctx, &self.o.objection.state)
    }
}

async fn objection_page(
    s: &AppState,
    ctx: &Ctx,
    p: &Principal,
    id: i64,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let o = match s.app.objection(p, id).await {
        Ok(o) => o,
        Err(e) => return error_page(ctx, &e),
    };
    let history = history_lines(s, ctx, &o.history).await;
    with_status(
        render(&ObjectionPage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            o,
            history,
            banner,
        }),
        status,
    )
}

async fn objection(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    q: Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    objection_page(&s, &ctx, p, id, Banner::from(&ctx, &q), StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
struct ActionForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    correcting_version: String,
}

async fn act_on_objection(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, action)): Path<(i64, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let reason = || ReasonInput {
        reason: f.text.clone(),
    };
    let outcome = match action.as_str() {
        "reply" => {
            let version = f.correcting_version.trim();
            let correcting_version = if version.is_empty() {
                None
            } else {
                match version.parse() {
                    Ok(v) => Some(v),
                    Err(_) => Some(-1),
                }
            };
            s.app
                .reply_objection(
                    p,
                    id,
                    ObjectionReply {
                        reply: f.text.clone(),
                        correcting_version,
                    },
                )
                .await
        }
        "reopen" => s.app.reopen_objection(p, id, reason()).await,
        "offline" => s.app.take_offline(p, id, reason()).await,
        "restore" => s.app.restore_online(p, id, reason()).await,
        _ => Err(Error::not_found("操作", "Action")),
    };
    match outcome {
        Ok(_) => done(gongshu_app::links::objection(id)),
        Err(e) => {
            let status = status_of(e.code);
            objection_page(&s, &ctx, p, id, refused(&ctx, &e), status).await
        }
    }
}

/// The evidence form is multipart: the CSRF field, then the file.
async fn add_evidence(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    form: Multipart,
) -> Response {
    let (csrf, file) = match csrf_and_file(form).await {
        Some(parts) => parts,
        None => return too_large(&ctx),
    };
    let p = match checked(&ctx, &csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        let e = Error::new(
            ErrorCode::Validation,
            "请选择证明材料文件",
            "Choose an evidence file",
        );
        return objection_page(&s, &ctx, p, id, refused(&ctx, &e), StatusCode::BAD_REQUEST).await;
    };
    match s.app.add_objection_evidence(p, id, &name, bytes).await {
        Ok(_) => done(gongshu_app::links::objection(id)),
        Err(e) => {
            let status = status_of(e.code);
            objection_page(&s, &ctx, p, id, refused(&ctx, &e), status).await
        }
    }
}

fn too_large(ctx: &Ctx) -> Response {
    with_status(
        error_page(
            ctx,
            &Error::new(
                ErrorCode::PayloadTooLarge,
                "文件过大或上传不完整（证明材料不超过 10 MiB，截图不超过 2 MiB）",
                "The file is too large or arrived incomplete (evidence up to 10 MiB, screenshots up to 2 MiB)",
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
}

// ---------------------------------------------------------------- demands

#[derive(Template)]
#[template(path = "demands.html")]
struct DemandsPage<'a> {
    ctx: &'a Ctx,
    page: PageView<DemandView>,
    /// The supply-and-demand list rather than the board.
    supply: bool,
    state: String,
}

impl DemandsPage<'_> {
    fn state_of(&self, s: &str) -> &'static str {
        state_label(self.ctx, s)
    }

    fn answer(&self, a: &DemandAnswer) -> &'static str {
        answer_label(self.ctx, a.kind)
    }
}

async fn demand_list(s: &AppState, ctx: &Ctx, mut q: CaseFilter, supply: bool) -> Response {
    let caller = if supply {
        q.state = Some("answered".into());
        None
    } else {
        ctx.caller.as_ref()
    };
    match s.app.demands(caller, &q).await {
        Ok(page) => render(&DemandsPage {
            ctx,
            page,
            supply,
            state: q.state.unwrap_or_default(),
        }),
        Err(e) => error_page(ctx, &e),
    }
}

async fn demands(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<CaseFilter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    demand_list(&s, &ctx, q, false).await
}

async fn supply_demand(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<CaseFilter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    demand_list(&s, &ctx, q, true).await
}

#[derive(Debug, Default, Deserialize)]
struct DemandForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    provider_id: String,
    #[serde(default)]
    provider_hint: String,
    #[serde(default)]
    public: Option<String>,
}

#[derive(Template)]
#[template(path = "demand_new.html")]
struct DemandNewPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    providers: Vec<(i64, String)>,
    form: DemandForm,
    banner: Option<Banner>,
}

async fn demand_new_page(
    s: &AppState,
    ctx: &Ctx,
    form: DemandForm,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let providers = s
        .app
        .orgs(None, Some(gongshu_core::types::OrgKind::Provider))
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    with_status(
        render(&DemandNewPage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            providers,
            form,
            banner,
        }),
        status,
    )
}

#[derive(Debug, Default, Deserialize)]
struct NewDemandQuery {
    provider: Option<String>,
}

async fn demand_form(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<NewDemandQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = signed_in(&ctx) {
        return *r;
    }
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let form = DemandForm {
        provider_id: q.provider.unwrap_or_default(),
        public: Some("on".into()),
        ..DemandForm::default()
    };
    demand_new_page(&s, &ctx, form, None, StatusCode::OK).await
}

async fn file_demand(State(s): State<AppState>, ctx: Ctx, Form(f): Form<DemandForm>) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let input = DemandInput {
        title: f.title.clone(),
        description: f.description.clone(),
        purpose: f.purpose.clone(),
        provider_id: f.provider_id.trim().parse().ok(),
        provider_hint: some(&f.provider_hint),
        region_code: None,
        public: Some(f.public.is_some()),
    };
    match s.app.file_demand(p, input).await {
        Ok(d) => done(gongshu_app::links::demand(d.id)),
        Err(e) => {
            let status = status_of(e.code);
            demand_new_page(&s, &ctx, f, refused(&ctx, &e), status).await
        }
    }
}

#[derive(Template)]
#[template(path = "demand.html")]
struct DemandPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    d: DemandDetail,
    providers: Vec<(i64, String)>,
    history: Vec<HistoryLine>,
    banner: Option<Banner>,
}

impl DemandPage<'_> {
    fn state(&self) -> &'static str {
        state_label(self.ctx, &self.d.demand.state)
    }

    fn answer(&self, a: &DemandAnswer) -> &'static str {
        answer_label(self.ctx, a.kind)
    }
}

async fn demand_page(
    s: &AppState,
    ctx: &Ctx,
    id: i64,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let d = match s.app.demand(ctx.caller.as_ref(), id).await {
        Ok(d) => d,
        Err(e) => return error_page(ctx, &e),
    };
    let providers = if d.may_route {
        s.app
            .orgs(None, Some(gongshu_core::types::OrgKind::Provider))
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect()
    } else {
        Vec::new()
    };
    let history = history_lines(s, ctx, &d.history).await;
    with_status(
        render(&DemandPage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            d,
            providers,
            history,
            banner,
        }),
        status,
    )
}

async fn demand(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    q: Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    demand_page(&s, &ctx, id, Banner::from(&ctx, &q), StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
struct DemandActionForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    provider_id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    open_by: String,
    #[serde(default)]
    dataset_id: String,
    #[serde(default)]
    legal_basis: String,
}

async fn act_on_demand(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, action)): Path<(i64, String)>,
    Form(f): Form<DemandActionForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let outcome = match action.as_str() {
        "route" => {
            let provider_id = f.provider_id.trim().parse().unwrap_or(0);
            s.app.route_demand(p, id, RouteInput { provider_id }).await
        }
        "answer" => {
            let kind = serde_json::from_value::<DemandAnswerKind>(serde_json::json!(f.kind));
            match kind {
                Ok(kind) => {
                    let answer = DemandAnswer {
                        kind,
                        text: f.text.clone(),
                        open_by: f.open_by.trim().parse().ok(),
                        dataset_id: f.dataset_id.trim().parse().ok(),
                        legal_basis: some(&f.legal_basis),
                    };
                    s.app.answer_demand(p, id, answer).await
                }
                Err(_) => Err(Error::new(
                    ErrorCode::Validation,
                    "请选择答复类型",
                    "Choose the kind of answer",
                )),
            }
        }
        _ => Err(Error::not_found("操作", "Action")),
    };
    match outcome {
        Ok(_) => done(gongshu_app::links::demand(id)),
        Err(e) => {
            let status = status_of(e.code);
            demand_page(&s, &ctx, id, refused(&ctx, &e), status).await
        }
    }
}

// ---------------------------------------------------------------- reuse showcase

const REUSE_KINDS: [(&str, ReuseKind); 5] = [
    ("app", ReuseKind::App),
    ("research", ReuseKind::Research),
    ("product", ReuseKind::Product),
    ("visualization", ReuseKind::Visualization),
    ("other", ReuseKind::Other),
];

fn reuse_kind_label(ctx: &Ctx, k: ReuseKind) -> &'static str {
    k.label(ctx.lang == Lang::Zh)
}

#[derive(Template)]
#[template(path = "reuses.html")]
struct ReusesPage<'a> {
    ctx: &'a Ctx,
    page: PageView<ReuseView>,
    pending: bool,
}

impl ReusesPage<'_> {
    fn kind(&self, k: &ReuseKind) -> &'static str {
        reuse_kind_label(self.ctx, *k)
    }
}

async fn reuses(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<CaseFilter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    match s.app.reuses(ctx.caller.as_ref(), &q).await {
        Ok(page) => render(&ReusesPage {
            ctx: &ctx,
            page,
            pending: q.state.as_deref() == Some("pending"),
        }),
        Err(e) => error_page(&ctx, &e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ReuseForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    link: String,
    /// Entry numbers, separated by commas or spaces.
    #[serde(default)]
    datasets: String,
}

#[derive(Template)]
#[template(path = "reuse_new.html")]
struct ReuseNewPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    kinds: Vec<(&'static str, &'static str)>,
    form: ReuseForm,
    banner: Option<Banner>,
}

fn reuse_new_page(
    ctx: &Ctx,
    form: ReuseForm,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    with_status(
        render(&ReuseNewPage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            kinds: REUSE_KINDS
                .iter()
                .map(|(wire, k)| (*wire, reuse_kind_label(ctx, *k)))
                .collect(),
            form,
            banner,
        }),
        status,
    )
}

#[derive(Debug, Default, Deserialize)]
struct NewReuseQuery {
    dataset: Option<String>,
}

async fn reuse_form(
    ctx: Ctx,
    q: Result<Query<NewReuseQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = signed_in(&ctx) {
        return *r;
    }
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let form = ReuseForm {
        kind: "app".into(),
        datasets: q.dataset.unwrap_or_default(),
        ..ReuseForm::default()
    };
    reuse_new_page(&ctx, form, None, StatusCode::OK)
}

async fn register_reuse(State(s): State<AppState>, ctx: Ctx, Form(f): Form<ReuseForm>) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let kind = REUSE_KINDS
        .iter()
        .find(|(wire, _)| *wire == f.kind)
        .map_or(ReuseKind::Other, |(_, k)| *k);
    let input = ReuseInput {
        name: f.name.clone(),
        kind,
        description: f.description.clone(),
        link: some(&f.link),
        dataset_ids: f
            .datasets
            .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
            .filter_map(|n| n.trim().parse().ok())
            .collect(),
    };
    match s.app.register_reuse(p, input).await {
        Ok(r) => done(gongshu_app::links::reuse(r.id)),
        Err(e) => {
            let status = status_of(e.code);
            reuse_new_page(&ctx, f, refused(&ctx, &e), status)
        }
    }
}

#[derive(Template)]
#[template(path = "reuse.html")]
struct ReusePage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    r: ReuseView,
    banner: Option<Banner>,
}

impl ReusePage<'_> {
    fn kind(&self) -> &'static str {
        reuse_kind_label(self.ctx, self.r.kind)
    }
}

async fn reuse_page(
    s: &AppState,
    ctx: &Ctx,
    id: i64,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    match s.app.reuse(ctx.caller.as_ref(), id).await {
        Ok(r) => with_status(
            render(&ReusePage {
                ctx,
                csrf: ctx.csrf.as_deref().unwrap_or(""),
                r,
                banner,
            }),
            status,
        ),
        Err(e) => error_page(ctx, &e),
    }
}

async fn reuse(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    q: Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    reuse_page(&s, &ctx, id, Banner::from(&ctx, &q), StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
struct ModerationForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

async fn moderate_reuse(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<ModerationForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let input = ModerationInput {
        approve: f.decision == "approve",
        note: f.note,
    };
    match s.app.moderate_reuse(p, id, input).await {
        Ok(_) => done(gongshu_app::links::reuse(id)),
        Err(e) => {
            let status = status_of(e.code);
            reuse_page(&s, &ctx, id, refused(&ctx, &e), status).await
        }
    }
}

/// The screenshot form is multipart: the CSRF field, then the image as `file`.
async fn add_screenshot(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    form: Multipart,
) -> Response {
    let (csrf, file) = match csrf_and_file(form).await {
        Some(parts) => parts,
        None => return too_large(&ctx),
    };
    let p = match checked(&ctx, &csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let outcome = match file.filter(|(_, b)| !b.is_empty()) {
        Some((_, bytes)) => s.app.add_reuse_screenshot(p, id, bytes).await,
        None => Err(Error::new(
            ErrorCode::Validation,
            "请选择截图文件",
            "Choose a screenshot",
        )),
    };
    match outcome {
        Ok(_) => done(gongshu_app::links::reuse(id)),
        Err(e) => {
            let status = status_of(e.code);
            reuse_page(&s, &ctx, id, refused(&ctx, &e), status).await
        }
    }
}

/// Reads a multipart form's `_csrf` field and its `file` (name and bytes); `None` when
/// the body is cut off or over its limit.
pub(crate) async fn csrf_and_file(
    mut form: Multipart,
) -> Option<(String, Option<(String, Vec<u8>)>)> {
    let mut csrf = String::new();
    let mut file = None;
    while let Some(field) = form.next_field().await.ok()? {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().unwrap_or("").to_owned();
        let bytes = field.bytes().await.ok()?;
        match name.as_str() {
            "_csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "file" => file = Some((file_name, bytes.to_vec())),
            _ => {}
        }
    }
    Some((csrf, file))
}

// ---------------------------------------------------------------- version quality

#[derive(Template)]
#[template(path = "quality.html")]
struct QualityPage<'a> {
    ctx: &'a Ctx,
    q: gongshu_app::quality::QualityReport,
}

impl QualityPage<'_> {
    fn percent(&self, ratio: &f64) -> String {
        format!("{:.1} %", ratio * 100.0)
    }
}

/// The quality report of a resource's served version, for the provider to work through.
async fn quality(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.resource_quality(p, &id).await {
        Ok(q) => render(&QualityPage { ctx: &ctx, q }),
        Err(e) => error_page(&ctx, &e),
    }
}
