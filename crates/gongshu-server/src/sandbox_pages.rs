//! The pages of the analysis sandbox and of verification (issue 9): a grantee writes an
//! aggregate query and reads its released result; the provider's reviewers work through
//! the held ones; a grantee checks a record or a file against a resource; the provider
//! sets the resource's verification service.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use gongshu_app::models::{ModelInput, ModelParam, ModelRun, ParamType};
use gongshu_app::sandbox::{SandboxInput, SandboxQueryView, SandboxReview};
use gongshu_app::verification::{
    VerificationAnswer, VerificationService, VerificationSettings, VerifyAnswer, VerifyInput,
};
use gongshu_core::error::Lang;
use gongshu_core::{Error, ErrorCode};
use serde::Deserialize;

use crate::AppState;
use crate::console::{Banner, DoneQuery, checked, done, signed_in, with_status};
use crate::ctx::Ctx;
use crate::error::status_of;
use crate::pages::{error_page, render};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sandbox", get(sandbox).post(run))
        .route("/sandbox/queries/{id}", get(query).post(review))
        .route("/sandbox/queries/{id}/cancel", post(cancel))
        .route("/verify/{id}", get(verify_page).post(verify_one))
        .route(
            "/verify/{id}/batch",
            post(verify_batch).layer(DefaultBodyLimit::max(2 * 1024 * 1024 + 64 * 1024)),
        )
        .route("/verify/{id}/settings", post(settings))
        .route("/models", post(create_model))
        .route("/models/{id}/run", post(run_model))
        .route("/models/{id}/retire", post(retire_model))
}

fn csrf(ctx: &Ctx) -> &str {
    ctx.csrf.as_deref().unwrap_or("")
}

// ---- the sandbox ----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "sandbox.html")]
struct SandboxPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    banner: Option<Banner>,
    sql: String,
    mine: Vec<SandboxQueryView>,
    to_review: Vec<SandboxQueryView>,
    profile: &'static str,
    /// The caller works for a provider: the form to publish a model, as last sent.
    model_form: Option<ModelForm>,
}

#[derive(Deserialize, Default)]
struct SandboxQuery {
    /// A table to start a query from (the dataset page links here).
    table: Option<String>,
}

async fn sandbox_page(
    s: &AppState,
    ctx: &Ctx,
    sql: String,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    sandbox_page_with(s, ctx, sql, None, banner, status).await
}

async fn sandbox_page_with(
    s: &AppState,
    ctx: &Ctx,
    sql: String,
    model_form: Option<ModelForm>,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let Some(p) = ctx.caller.as_ref() else {
        return Redirect::to("/login").into_response();
    };
    let all = match s.app.sandbox_queries(p, None).await {
        Ok(all) => all,
        Err(e) => return error_page(ctx, &e),
    };
    let (mine, others): (Vec<_>, Vec<_>) = all.into_iter().partition(|q| q.user_id == p.user_id);
    let to_review = others
        .into_iter()
        .filter(|q| {
            q.state == "review" && !q.reviews.iter().flatten().any(|r| r.user_id == p.user_id)
        })
        .collect();
    let profile = match s.app.settings.disclosure_profile {
        gongshu_core::disclosure::ProfileName::Standard => ctx.t(
            "标准：分组少于10人不公开，合计不得由一至两个个体主导（85%），人数取整到5",
            "standard: groups under 10 withheld, no total dominated by one or two contributors (85 %), counts rounded to 5",
        ),
        gongshu_core::disclosure::ProfileName::Strict => ctx.t(
            "严格：分组不超过7人不公开，人数取整到5，合计不得由一至两个个体主导（85%）",
            "strict: groups of 7 or fewer withheld, counts rounded to 5, no total dominated by one or two contributors (85 %)",
        ),
    };
    with_status(
        render(&SandboxPage {
            ctx,
            csrf: csrf(ctx),
            banner,
            sql,
            mine,
            to_review,
            profile,
            model_form: (!p.provider_orgs().is_empty()).then(|| model_form.unwrap_or_default()),
        }),
        status,
    )
}

async fn sandbox(State(s): State<AppState>, ctx: Ctx, Query(q): Query<SandboxQuery>) -> Response {
    if let Err(r) = signed_in(&ctx) {
        return *r;
    }
    let sql = q
        .table
        .filter(|t| t.len() <= 64 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|t| format!("SELECT COUNT(*) AS n FROM {t}"))
        .unwrap_or_default();
    sandbox_page(&s, &ctx, sql, None, StatusCode::OK).await
}

#[derive(Deserialize, Default)]
struct RunForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    sql: String,
    #[serde(default)]
    background: Option<String>,
}

async fn run(State(s): State<AppState>, ctx: Ctx, Form(f): Form<RunForm>) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s
        .app
        .run_sandbox(
            p,
            SandboxInput {
                sql: f.sql.clone(),
                background: f.background.is_some(),
            },
        )
        .await
    {
        Ok(q) => Redirect::to(&gongshu_app::links::sandbox_query(q.id)).into_response(),
        Err(e) => {
            let status = status_of(e.code);
            sandbox_page(&s, &ctx, f.sql, Banner::refused(&ctx, &e), status).await
        }
    }
}

#[derive(Template)]
#[template(path = "sandbox_query.html")]
struct QueryPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    banner: Option<Banner>,
    q: SandboxQueryView,
    rows: Vec<Vec<String>>,
    withheld: Vec<(String, &'static str)>,
    may_review: bool,
    /// The requester may cancel it while it runs.
    may_cancel: bool,
}

async fn query_page(
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
    let q = match s.app.sandbox_query(p, id).await {
        Ok(q) => q,
        Err(e) => return error_page(ctx, &e),
    };
    let rows = q.result.as_ref().map(|r| r.cells()).unwrap_or_default();
    let withheld = q
        .withheld
        .iter()
        .flatten()
        .map(|w| (w.keys.join(" · "), w.reason.label(ctx.lang)))
        .collect();
    let may_review = q.state == "review"
        && q.user_id != p.user_id
        && q.reviews
            .as_ref()
            .is_some_and(|r| !r.iter().any(|r| r.user_id == p.user_id));
    let may_cancel = q.state == "running" && q.user_id == p.user_id;
    with_status(
        render(&QueryPage {
            ctx,
            csrf: csrf(ctx),
            banner,
            q,
            rows,
            withheld,
            may_review,
            may_cancel,
        }),
        status,
    )
}

async fn query(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Query(d): Query<DoneQuery>,
) -> Response {
    query_page(&s, &ctx, id, Banner::from(&ctx, &d), StatusCode::OK).await
}

#[derive(Deserialize, Default)]
struct ReviewForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

async fn review(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<ReviewForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let input = SandboxReview {
        approve: f.decision == "approve",
        note: f.note,
    };
    match s.app.review_sandbox(p, id, input).await {
        Ok(_) => done(gongshu_app::links::sandbox_query(id)),
        Err(e) => {
            let status = status_of(e.code);
            query_page(&s, &ctx, id, Banner::refused(&ctx, &e), status).await
        }
    }
}

async fn cancel(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<crate::console::CsrfOnly>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.cancel_sandbox(p, id).await {
        Ok(_) => done(gongshu_app::links::sandbox_query(id)),
        Err(e) => {
            let status = status_of(e.code);
            query_page(&s, &ctx, id, Banner::refused(&ctx, &e), status).await
        }
    }
}

// ---- verification ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    banner: Option<Banner>,
    resource_id: String,
    resource_name: String,
    dataset_id: i64,
    service: Option<VerificationService>,
    /// The values asked, and the answer, after a check.
    asked: Vec<String>,
    answer: Option<VerifyAnswer>,
    /// For the provider: the table's columns, to choose the key columns from.
    columns: Option<Vec<String>>,
}

impl VerifyPage<'_> {
    fn keys(&self) -> Vec<String> {
        self.service
            .as_ref()
            .map(|s| s.settings.key_columns.clone())
            .unwrap_or_default()
    }

    fn is_key(&self, column: &str) -> bool {
        self.keys().iter().any(|k| k == column)
    }

    fn field_matched(&self, column: &str) -> Option<bool> {
        self.answer
            .as_ref()
            .and_then(|a| a.fields.as_ref())
            .and_then(|f| f.get(column).copied())
    }

    fn answers_fields(&self) -> bool {
        self.service
            .as_ref()
            .is_some_and(|s| s.settings.answer == VerificationAnswer::Fields)
    }

    fn daily_checks(&self) -> u32 {
        self.service
            .as_ref()
            .map_or(1000, |s| s.settings.daily_checks)
    }

    fn enabled(&self) -> bool {
        self.service.as_ref().is_some_and(|s| s.settings.enabled)
    }
}

struct Verified {
    asked: Vec<String>,
    answer: Option<VerifyAnswer>,
}

async fn verify_view(
    s: &AppState,
    ctx: &Ctx,
    id: &str,
    banner: Option<Banner>,
    verified: Verified,
    status: StatusCode,
) -> Response {
    let caller = ctx.caller.as_ref();
    let resource = match s.app.resource(caller, id).await {
        Ok(r) => r,
        Err(e) => return error_page(ctx, &e),
    };
    let service = match s.app.verification_service(caller, id).await {
        Ok(v) => v,
        Err(e) => return error_page(ctx, &e),
    };
    let manages = match caller {
        Some(p) => s.app.manages_resource(p, id).await.unwrap_or(false),
        None => false,
    };
    let columns = manages.then(|| resource.columns.iter().map(|c| c.name.clone()).collect());
    with_status(
        render(&VerifyPage {
            ctx,
            csrf: csrf(ctx),
            banner,
            resource_id: resource.id.clone(),
            resource_name: resource.name.clone(),
            dataset_id: resource.dataset_id,
            service,
            asked: verified.asked,
            answer: verified.answer,
            columns,
        }),
        status,
    )
}

/// The page again, saying why the form was refused.
async fn verify_refused(s: &AppState, ctx: &Ctx, id: &str, e: Error) -> Response {
    let nothing = Verified {
        asked: Vec::new(),
        answer: None,
    };
    let status = status_of(e.code);
    verify_view(s, ctx, id, Banner::refused(ctx, &e), nothing, status).await
}

async fn verify_page(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(d): Query<DoneQuery>,
) -> Response {
    let nothing = Verified {
        asked: Vec::new(),
        answer: None,
    };
    verify_view(
        &s,
        &ctx,
        &id,
        Banner::from(&ctx, &d),
        nothing,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize, Default)]
struct CheckForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    v0: String,
    #[serde(default)]
    v1: String,
    #[serde(default)]
    v2: String,
    #[serde(default)]
    v3: String,
}

async fn verify_one(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<CheckForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let keys = match s.app.verification_service(Some(p), &id).await {
        Ok(Some(v)) => v.settings.key_columns,
        Ok(None) => Vec::new(),
        Err(e) => return error_page(&ctx, &e),
    };
    let asked: Vec<String> = [f.v0, f.v1, f.v2, f.v3]
        .into_iter()
        .take(keys.len())
        .collect();
    let input = VerifyInput {
        values: keys.iter().cloned().zip(asked.iter().cloned()).collect(),
    };
    match s.app.verify_one(p, &id, input).await {
        Ok(answer) => {
            let verified = Verified {
                asked,
                answer: Some(answer),
            };
            verify_view(&s, &ctx, &id, None, verified, StatusCode::OK).await
        }
        Err(e) => {
            let verified = Verified {
                asked,
                answer: None,
            };
            let status = status_of(e.code);
            verify_view(&s, &ctx, &id, Banner::refused(&ctx, &e), verified, status).await
        }
    }
}

async fn verify_batch(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: Multipart,
) -> Response {
    let Some((sent, file)) = crate::feedback_pages::csrf_and_file(form).await else {
        return verify_refused(
            &s,
            &ctx,
            &id,
            Error::new(
                ErrorCode::PayloadTooLarge,
                "文件过大或上传不完整（不超过 2 MiB）",
                "The file is too large or arrived incomplete (at most 2 MiB)",
            ),
        )
        .await;
    };
    let p = match checked(&ctx, &sent) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Some((_, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return verify_refused(
            &s,
            &ctx,
            &id,
            Error::new(
                ErrorCode::Validation,
                "请选择要核验的 CSV 文件",
                "Choose a CSV file to verify",
            ),
        )
        .await;
    };
    match s.app.verify_file(p, &id, &bytes).await {
        Ok(batch) => match crate::verify_api::batch_file(&ctx, &id, &batch) {
            Ok(r) => r,
            Err(_) => verify_refused(&s, &ctx, &id, Error::internal()).await,
        },
        Err(e) => verify_refused(&s, &ctx, &id, e).await,
    }
}

#[derive(Deserialize, Default)]
struct SettingsForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    enabled: Option<String>,
    /// The key columns, in order, one per line (the form's list).
    #[serde(default)]
    keys: String,
    #[serde(default)]
    answer: String,
    #[serde(default)]
    daily_checks: String,
}

async fn settings(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<SettingsForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let input = VerificationSettings {
        enabled: f.enabled.is_some(),
        key_columns: f
            .keys
            .split(['\n', ',', '，'])
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect(),
        answer: if f.answer == "fields" {
            VerificationAnswer::Fields
        } else {
            VerificationAnswer::Match
        },
        daily_checks: f.daily_checks.trim().parse().unwrap_or(0),
    };
    match s.app.set_verification(p, &id, input).await {
        Ok(_) => done(format!("/verify/{id}")),
        Err(e) => verify_refused(&s, &ctx, &id, e).await,
    }
}

// ---- models ---------------------------------------------------------------------------

/// The form to publish a model; parameters one per line, `name|label|type|default|a,b`.
#[derive(Deserialize, Default, Clone)]
struct ModelForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    dataset_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    sql: String,
    #[serde(default)]
    params: String,
    #[serde(default)]
    public: Option<String>,
}

fn param_lines(text: &str) -> Result<Vec<ModelParam>, Error> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let parts: Vec<&str> = line.split('|').map(str::trim).collect();
            let param_type = match parts.get(2).copied() {
                Some("integer") => ParamType::Integer,
                Some("number") => ParamType::Number,
                Some("date") => ParamType::Date,
                Some("text") => ParamType::Text,
                _ => {
                    return Err(Error::new(
                        ErrorCode::Validation,
                        format!("参数行“{line}”应为 名称|说明|类型(integer/number/text/date)|默认值|可选值(逗号分隔，可省)"),
                        format!("Parameter line {line:?} should be name|label|type (integer/number/text/date)|default|choices (comma-separated, optional)"),
                    ));
                }
            };
            Ok(ModelParam {
                name: parts[0].to_owned(),
                label: parts.get(1).copied().unwrap_or_default().to_owned(),
                param_type,
                default: parts.get(3).copied().unwrap_or_default().to_owned(),
                choices: parts
                    .get(4)
                    .map(|c| {
                        c.split(',')
                            .map(str::trim)
                            .filter(|c| !c.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                min: None,
                max: None,
            })
        })
        .collect()
}

async fn create_model(State(s): State<AppState>, ctx: Ctx, Form(f): Form<ModelForm>) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let refused = |e: Error| {
        let status = status_of(e.code);
        let banner = Banner::refused(&ctx, &e);
        let form = f.clone();
        let s = s.clone();
        let ctx = &ctx;
        async move { sandbox_page_with(&s, ctx, String::new(), Some(form), banner, status).await }
    };
    let params = match param_lines(&f.params) {
        Ok(p) => p,
        Err(e) => return refused(e).await,
    };
    let Ok(dataset_id) = f.dataset_id.trim().parse::<i64>() else {
        return refused(Error::new(
            ErrorCode::Validation,
            "请填写数据集编号",
            "Give the dataset's number",
        ))
        .await;
    };
    let input = ModelInput {
        dataset_id,
        name: f.name.clone(),
        description: f.description.clone(),
        sql: f.sql.clone(),
        params,
        public: f.public.is_some(),
    };
    match s.app.create_model(p, input).await {
        Ok(m) => Redirect::to(&format!("/datasets/{}#models", m.dataset_id)).into_response(),
        Err(e) => refused(e).await,
    }
}

async fn run_model(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let sent = f
        .iter()
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let p = match checked(&ctx, &sent) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let run = ModelRun {
        params: f.into_iter().filter(|(k, _)| k != "_csrf").collect(),
    };
    match s.app.run_model(p, id, run).await {
        Ok(q) => Redirect::to(&gongshu_app::links::sandbox_query(q.id)).into_response(),
        Err(e) => error_page(&ctx, &e),
    }
}

async fn retire_model(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<crate::console::CsrfOnly>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.retire_model(p, id).await {
        Ok(m) => Redirect::to(&format!("/datasets/{}#models", m.dataset_id)).into_response(),
        Err(e) => error_page(&ctx, &e),
    }
}
