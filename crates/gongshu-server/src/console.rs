//! The console (我的事务): the pages where applicants, providers, authorities and the
//! system administrator read and act on applications, agreements, grants, attribute
//! changes and the working-day calendar. Each form carries the session's CSRF token and
//! calls the same use case as the JSON API, so a page can do nothing the API refuses.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use gongshu_app::applications::{AcceptInput, ActionInput, ApplicationDetail};
use gongshu_app::catalog_updates::{
    CatalogUpdateClose, CatalogUpdateDetail, CatalogUpdateInput, UpdateCause,
};
use gongshu_app::changes::{AttributeChangeDetail, ChangeAction, ChangeDecision};
use gongshu_app::grant_use::{UseReportInput, UseReportView};
use gongshu_app::grants::GrantDetail;
use gongshu_app::policies::{EffectivePolicy, RegionPolicy, RegionPolicyInput};
use gongshu_app::views::{DatasetView, EventView};
use gongshu_core::access::{GrantKind, GrantMode};
use gongshu_core::apply::{ApplicationAction, ApplicationInput, ApplicationState, needs_reason};
use gongshu_core::authz::Principal;
use gongshu_core::calendar::{Deadline, SpecialDay, YearSchedule, china_time};
use gongshu_core::change::ChangeState;
use gongshu_core::error::Lang;
use gongshu_core::types::{Grade, OpenType, Role, ShareType};
use gongshu_core::{Error, ErrorCode, FieldError};
use serde::Deserialize;
use std::collections::HashMap;

use crate::AppState;
use crate::ctx::{Ctx, same_secret};
use crate::error::status_of;
use crate::pages::{error_page, render};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(overview))
        .route("/console/apply", get(apply_form).post(apply))
        .route("/console/applications/{id}", get(application))
        .route("/console/applications/{id}/act", post(act_on_application))
        .route("/console/applications/{id}/accept", post(accept_agreement))
        .route("/console/attribute-changes/{id}", get(attribute_change))
        .route("/console/attribute-changes/{id}/act", post(act_on_change))
        .route("/console/grants/{id}", get(grant))
        .route("/console/grants/{id}/terminate", post(terminate_grant))
        .route("/console/grants/{id}/reports", post(file_report))
        .route(
            "/console/regions/{code}/policy",
            get(region_policy).post(put_region_policy),
        )
        .route("/console/catalog-updates", post(record_update))
        .route("/console/catalog-updates/new", get(new_update))
        .route("/console/catalog-updates/{id}", get(catalog_update))
        .route("/console/catalog-updates/{id}/close", post(close_update))
        .route("/console/resources/{id}/protection", get(protection))
        .route("/console/resources/{id}/columns", post(confirm_columns))
        .route("/console/resources/{id}/rules", post(set_rules))
        .route("/console/grading", get(grading).post(put_grading))
        .route("/console/at-rest/rotate", post(rotate_keys))
        .route("/console/calendar", get(calendar))
        .route(
            "/console/calendar/{year}",
            get(calendar_year).post(enter_year),
        )
}

/// The signed-in caller of a console page, or the response that sends them away: to the
/// login page when nobody is signed in, a refusal for a token scoped to one grant (which
/// reads that grant's data and sees nothing else).
pub(crate) fn signed_in(ctx: &Ctx) -> Result<&Principal, Box<Response>> {
    match ctx.caller.as_ref() {
        None => Err(Box::new(Redirect::to("/login").into_response())),
        Some(p) if p.grant_scope.is_some() => Err(Box::new(error_page(ctx, &Error::forbidden()))),
        Some(p) => Ok(p),
    }
}

/// A form that changes state must carry the session's CSRF token: a page of another site
/// cannot post it, because it cannot read the token.
pub(crate) fn checked<'a>(ctx: &'a Ctx, sent: &str) -> Result<&'a Principal, Box<Response>> {
    let p = signed_in(ctx)?;
    if ctx.csrf.as_deref().is_some_and(|c| same_secret(c, sent)) {
        Ok(p)
    } else {
        Err(Box::new(error_page(
            ctx,
            &Error::new(
                ErrorCode::Forbidden,
                "缺少或错误的CSRF令牌，请刷新页面后重试",
                "Missing or wrong CSRF token: reload the page and try again",
            ),
        )))
    }
}

/// What a refused form shows above the form: the message and each field's problem.
pub(crate) fn problem_text(e: &Error, lang: Lang) -> String {
    let mut text = e.message(lang).to_owned();
    for f in &e.fields {
        text.push('；');
        text.push_str(match lang {
            Lang::Zh => &f.message_zh,
            Lang::En => &f.message_en,
        });
    }
    text
}

/// The page of one object for a signed-in viewer, with the banner of an action just done
/// (`?done=1`).
macro_rules! object_page {
    ($name:ident, $page:ident) => {
        async fn $name(
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
            $page(&s, &ctx, p, id, Banner::from(&ctx, &q), StatusCode::OK).await
        }
    };
}

/// A page with the status it answers with: a refused form is not a 200.
/// A field of a form read as pairs (for forms whose field names carry data), empty
/// when absent.
fn form_field(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

pub(crate) fn with_status(mut r: Response, status: StatusCode) -> Response {
    *r.status_mut() = status;
    r
}

/// After an action, back to the object's page (303, so a reload does not post again).
pub(crate) fn done(link: String) -> Response {
    Redirect::to(&format!("{link}?done=1")).into_response()
}

#[derive(Deserialize, Default)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

/// The banner of a page: what happened, or why the form was refused.
pub(crate) struct Banner {
    pub(crate) ok: bool,
    pub(crate) text: String,
}

impl Banner {
    pub(crate) fn from(ctx: &Ctx, q: &DoneQuery) -> Option<Self> {
        q.done.as_ref().map(|_| Self {
            ok: true,
            text: ctx.t("已办理。", "Done.").into(),
        })
    }

    pub(crate) fn refused(ctx: &Ctx, e: &Error) -> Option<Self> {
        Some(Self {
            ok: false,
            text: problem_text(e, ctx.lang),
        })
    }
}

/// An instant as pages show it: China Standard Time, to the minute.
pub(crate) fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    china_time(*t).format("%Y-%m-%d %H:%M").to_string()
}

/// The China date of an instant.
pub(crate) fn day(t: &chrono::DateTime<chrono::Utc>) -> String {
    china_time(*t).format("%Y-%m-%d").to_string()
}

/// A history line with the actor's name.
pub(crate) struct HistoryLine {
    pub(crate) at: String,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) reason: String,
}

/// Staff (providers, authorities, auditors, administrators) see which official acted;
/// members of the public see their own name and "staff" for everyone else's act.
fn is_staff(p: &Principal) -> bool {
    p.has_role(Role::SystemAdmin)
        || !p.oversight_regions().is_empty()
        || !p.provider_orgs().is_empty()
}

pub(crate) async fn history_lines(
    s: &AppState,
    ctx: &Ctx,
    events: &[EventView],
) -> Vec<HistoryLine> {
    let viewer = ctx.caller.as_ref();
    let staff = viewer.is_some_and(is_staff);
    let shown: Vec<i64> = events
        .iter()
        .filter_map(|e| e.actor_id)
        .filter(|id| staff || viewer.is_some_and(|v| v.user_id == *id))
        .collect();
    let names = s.app.display_names(shown).await.unwrap_or_default();
    events
        .iter()
        .map(|e| HistoryLine {
            at: when(&e.at),
            actor: match e.actor_id {
                Some(id) => names
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| ctx.t("工作人员", "staff").into()),
                // Not recorded, or not shown to this viewer.
                None if !staff => "—".into(),
                None => ctx.t("平台", "the platform").into(),
            },
            action: event_label(&e.action, ctx.lang),
            reason: e.reason.clone(),
        })
        .collect()
}

fn event_label(action: &str, lang: Lang) -> String {
    let (zh, en) = match action {
        "submitted" => ("提交申请", "submitted"),
        "formal_check_passed" => ("通过形式审查", "passed the formal check"),
        "returned" => ("退回", "returned"),
        "approved" => ("同意", "approved"),
        "refused" => ("不予同意", "refused"),
        "withdrawn" => ("撤回", "withdrawn"),
        "disputed" => ("提出异议", "disputed"),
        "refusal_upheld" => ("维持拒绝", "refusal upheld"),
        "refusal_overturned" => ("撤销拒绝", "refusal overturned"),
        "agreement_accepted_by_applicant" => {
            ("申请方确认协议", "the applicant accepted the agreement")
        }
        "agreement_accepted_by_provider" => {
            ("提供单位确认协议", "the provider accepted the agreement")
        }
        "in_force" => ("生效", "in force"),
        "granted" => ("授权生效", "granted"),
        "terminated" => ("终止授权", "terminated"),
        "use_reported" => ("报告利用情况", "use reported"),
        "requested" => ("提出变更", "requested"),
        "applied" => ("变更生效", "applied"),
        "entered" => ("录入", "entered"),
        "replaced" => ("更正", "corrected"),
        "recorded" => ("登记", "recorded"),
        "closed" => ("办结", "closed"),
        _ => return action.to_owned(),
    };
    if lang == Lang::Zh { zh } else { en }.to_owned()
}

pub(crate) fn application_state(s: ApplicationState, lang: Lang) -> &'static str {
    let (zh, en) = match s {
        ApplicationState::FormalCheck => ("待形式审查", "formal check"),
        ApplicationState::WithProvider => ("待提供单位决定", "with the provider"),
        ApplicationState::Approved => ("已同意，待确认协议", "approved, agreement to accept"),
        ApplicationState::InForce => ("已生效", "in force"),
        ApplicationState::Refused => ("未获同意", "refused"),
        ApplicationState::Returned => ("已退回", "returned"),
        ApplicationState::Withdrawn => ("已撤回", "withdrawn"),
        ApplicationState::Disputed => ("异议待裁决", "disputed"),
        ApplicationState::Upheld => ("维持拒绝", "refusal upheld"),
    };
    if lang == Lang::Zh { zh } else { en }
}

fn change_state(s: ChangeState, lang: Lang) -> &'static str {
    let (zh, en) = match s {
        ChangeState::Pending => ("待审批", "pending"),
        ChangeState::Applied => ("已生效", "applied"),
        ChangeState::Refused => ("未获批准", "refused"),
        ChangeState::Withdrawn => ("已撤回", "withdrawn"),
    };
    if lang == Lang::Zh { zh } else { en }
}

fn grant_state(s: &str, lang: Lang) -> String {
    let (zh, en) = match s {
        "active" => ("有效", "active"),
        "not_yet_valid" => ("尚未生效", "not yet valid"),
        "expired" => ("已到期", "expired"),
        "terminated" => ("已终止", "terminated"),
        "out_of_quota" => ("今日额度已用完", "out of today's quota"),
        other => return other.to_owned(),
    };
    if lang == Lang::Zh { zh } else { en }.to_owned()
}

/// One action button of an application, with what it asks for.
struct ActionForm {
    action: &'static str,
    label: &'static str,
    reason_required: bool,
    quotas: bool,
}

fn action_form(a: ApplicationAction, lang: Lang) -> ActionForm {
    let (action, zh, en) = match a {
        ApplicationAction::PassCheck => ("pass_check", "通过形式审查", "Pass the formal check"),
        ApplicationAction::ReturnCheck => ("return_check", "退回申请", "Return"),
        ApplicationAction::Approve => ("approve", "同意", "Approve"),
        ApplicationAction::Refuse => ("refuse", "不予同意", "Refuse"),
        ApplicationAction::Withdraw => ("withdraw", "撤回申请", "Withdraw"),
        ApplicationAction::Dispute => ("dispute", "提出异议", "Dispute the refusal"),
        ApplicationAction::Uphold => ("uphold", "维持拒绝", "Uphold the refusal"),
        ApplicationAction::Overturn => ("overturn", "撤销拒绝并共享", "Overturn: share"),
    };
    ActionForm {
        action,
        label: if lang == Lang::Zh { zh } else { en },
        reason_required: needs_reason(a),
        quotas: matches!(a, ApplicationAction::Approve | ApplicationAction::Overturn),
    }
}

async fn title_of(s: &AppState, dataset_id: i64) -> String {
    match s.app.public_dataset(dataset_id).await {
        Ok(d) => d.metadata.title,
        Err(_) => format!("#{dataset_id}"),
    }
}

// ---------------------------------------------------------------- overview

/// One line of the overview's tables.
struct WorkRow {
    what: String,
    link: String,
    title: String,
    action: String,
    state: String,
    agreement: String,
    due: String,
    overdue: bool,
}

struct GrantLine {
    what: String,
    link: String,
    title: String,
    purpose: String,
    state: String,
    until: String,
    calls: String,
}

#[derive(Template)]
#[template(path = "console.html")]
struct ConsolePage<'a> {
    ctx: &'a Ctx,
    todo: Vec<WorkRow>,
    mine: Vec<WorkRow>,
    grants: Vec<GrantLine>,
    changes: Vec<WorkRow>,
    updates: Vec<WorkRow>,
    inbox: Vec<gongshu_app::grants::NotificationView>,
    is_admin: bool,
    /// The regions whose settings the caller keeps (authority administrators).
    regions: Vec<String>,
    may_record: bool,
    /// Reads the whole audit log (auditors, the province's authority).
    reads_audit: bool,
}

/// The signed-in user's work: what waits for them with its deadline, their applications
/// and agreements, their grants, attribute changes they take part in, and the inbox.
async fn overview(State(s): State<AppState>, ctx: Ctx) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let result = async {
        let apps = s.app.applications(p).await?;
        let grants = s.app.my_grants(p).await?;
        let changes = s.app.attribute_changes(p, None, false).await?;
        let inbox = s.app.inbox(p, false).await?;
        let updates = s.app.catalog_updates(p, false).await?;
        Ok::<_, Error>((apps, grants, changes, inbox, updates))
    }
    .await;
    let (apps, grants, changes, inbox, updates) = match result {
        Ok(r) => r,
        Err(e) => return error_page(&ctx, &e),
    };
    let mut titles = HashMap::new();
    let ids = apps
        .iter()
        .map(|a| a.dataset_id)
        .chain(grants.iter().map(|g| g.dataset_id))
        .chain(changes.iter().map(|c| c.dataset_id));
    for id in ids {
        if let std::collections::hash_map::Entry::Vacant(slot) = titles.entry(id) {
            slot.insert(title_of(&s, id).await);
        }
    }
    let title = |id: i64| titles.get(&id).cloned().unwrap_or_default();
    let lang = ctx.lang;
    let t = |zh: &str, en: &str| ctx.t(zh, en).to_owned();
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let oversees = !p.authority_regions().is_empty();
    // Decisions and agreements are the provider's data administrators' (reviewers only
    // submit entries); the lists hold only the caller's own providers' applications.
    let provides = p.has_role(Role::ProviderAdmin);
    let (mut todo, mut mine) = (Vec::new(), Vec::new());
    for a in apps.iter().take(200) {
        let own = a.applicant_id == p.user_id;
        let action = match a.state {
            ApplicationState::FormalCheck if oversees && !own => {
                Some(t("形式审查", "Formal check"))
            }
            ApplicationState::Disputed if oversees && !own => {
                Some(t("裁决异议", "Rule on the dispute"))
            }
            ApplicationState::WithProvider if provides && !own => Some(t("作出决定", "Decide")),
            ApplicationState::Approved if own && a.applicant_accepted_at.is_none() => {
                Some(t("确认协议", "Accept the agreement"))
            }
            ApplicationState::Approved if !own && provides && a.provider_accepted_at.is_none() => {
                Some(t("确认协议", "Accept the agreement"))
            }
            _ => None,
        };
        let row = |action: String| WorkRow {
            what: format!("{} #{}", ctx.t("申请", "Application"), a.id),
            link: gongshu_app::links::application(a.id),
            title: title(a.dataset_id),
            action,
            state: application_state(a.state, lang).to_owned(),
            agreement: match (
                &a.agreement,
                a.applicant_accepted_at,
                a.provider_accepted_at,
            ) {
                (None, _, _) => String::new(),
                (Some(_), Some(_), Some(_)) => t("双方已确认", "accepted by both"),
                (Some(_), _, _) => t("待确认", "awaiting acceptance"),
            },
            due: date(a.due_on),
            overdue: a.overdue,
        };
        if let Some(action) = action {
            todo.push(row(action));
        }
        if own {
            mine.push(row(String::new()));
        }
    }
    let mut change_rows = Vec::new();
    for c in changes.iter().take(200) {
        let pending = c.state == ChangeState::Pending;
        let row = WorkRow {
            what: format!("{} #{}", ctx.t("变更", "Change"), c.id),
            link: gongshu_app::links::attribute_change(c.id),
            title: title(c.dataset_id),
            action: format!(
                "{} → {}；{} → {}",
                c.from_open.label(lang),
                c.to_open.label(lang),
                c.from_share.label(lang),
                c.to_share.label(lang)
            ),
            state: change_state(c.state, lang).to_owned(),
            agreement: String::new(),
            due: if pending {
                date(c.due_on)
            } else {
                String::new()
            },
            overdue: c.overdue,
        };
        if pending && oversees && c.requested_by != Some(p.user_id) {
            todo.push(WorkRow {
                action: t("审批属性变更", "Decide the change"),
                what: row.what.clone(),
                link: row.link.clone(),
                title: row.title.clone(),
                state: row.state.clone(),
                agreement: String::new(),
                due: row.due.clone(),
                overdue: row.overdue,
            });
        }
        change_rows.push(row);
    }
    let mut update_rows = Vec::new();
    for u in updates.iter().take(200) {
        let open = u.state == "open";
        let row = WorkRow {
            what: format!("{} #{}", ctx.t("目录更新", "Catalog update"), u.id),
            link: gongshu_app::links::catalog_update(u.id),
            title: u.basis.chars().take(60).collect(),
            action: t("更新目录", "Update the catalog"),
            state: if open {
                t("待办结", "open")
            } else {
                t("已办结", "closed")
            },
            agreement: String::new(),
            due: if open {
                u.due_on.to_string()
            } else {
                String::new()
            },
            overdue: u.overdue,
        };
        let administers = p
            .grants
            .iter()
            .any(|g| g.role == Role::ProviderAdmin && g.org_id == Some(u.provider_id));
        if open && administers {
            todo.push(WorkRow {
                what: row.what.clone(),
                link: row.link.clone(),
                title: row.title.clone(),
                action: row.action.clone(),
                state: row.state.clone(),
                agreement: String::new(),
                due: row.due.clone(),
                overdue: row.overdue,
            });
        }
        update_rows.push(row);
    }
    // Objections and demands waiting for this person: answers for a provider's data
    // administrators, routing for the authority.
    let waiting = |state: &str| gongshu_app::feedback::CaseFilter {
        state: Some(state.to_owned()),
        per_page: Some(100),
        ..Default::default()
    };
    let mut objections = Vec::new();
    let mut demands = Vec::new();
    for state in ["open", "reopened"] {
        if let Ok(page) = s.app.objections(p, &waiting(state)).await {
            objections.extend(page.items);
        }
    }
    for state in ["open", "routing"] {
        if let Ok(page) = s.app.demands(Some(p), &waiting(state)).await {
            demands.extend(page.items);
        }
    }
    let administers = |org: i64| {
        p.grants
            .iter()
            .any(|g| g.role == Role::ProviderAdmin && g.org_id == Some(org))
    };
    for o in objections {
        if matches!(o.state.as_str(), "open" | "reopened") && administers(o.provider_id) {
            todo.push(WorkRow {
                what: format!("{} #{}", ctx.t("数据异议", "Objection"), o.id),
                link: gongshu_app::links::objection(o.id),
                title: o.dataset_title.clone(),
                action: t("答复异议", "Answer the objection"),
                state: String::new(),
                agreement: String::new(),
                due: date(o.due_on),
                overdue: o.overdue,
            });
        }
    }
    for d in demands {
        let action = match (d.state.as_str(), d.provider_id) {
            ("open", Some(org)) if administers(org) => t("答复开放需求", "Answer the demand"),
            ("routing", _)
                if p.authority_regions()
                    .iter()
                    .any(|r| gongshu_core::region::region_contains(r, &d.region_code)) =>
            {
                t("指定提供单位", "Route to a provider")
            }
            _ => continue,
        };
        todo.push(WorkRow {
            what: format!("{} #{}", ctx.t("开放需求", "Demand"), d.id),
            link: gongshu_app::links::demand(d.id),
            title: d.title.clone(),
            action,
            state: String::new(),
            agreement: String::new(),
            due: date(d.due_on),
            overdue: d.overdue,
        });
    }
    // The most urgent first: overdue, then by due date.
    todo.sort_by(|a, b| b.overdue.cmp(&a.overdue).then(a.due.cmp(&b.due)));
    let grant_lines = grants
        .iter()
        .map(|g| GrantLine {
            what: format!("{} #{}", ctx.t("授权", "Grant"), g.id),
            link: gongshu_app::links::grant(g.id),
            title: title(g.dataset_id),
            purpose: g.purpose.clone(),
            state: grant_state(&g.state, lang),
            until: g.valid_until.format("%Y-%m-%d").to_string(),
            calls: match (g.calls_today, g.quota_calls_per_day) {
                (Some(n), Some(q)) => format!("{n} / {q}"),
                (Some(n), None) => n.to_string(),
                _ => String::new(),
            },
        })
        .collect();
    render(&ConsolePage {
        ctx: &ctx,
        todo,
        mine,
        grants: grant_lines,
        changes: change_rows,
        updates: update_rows,
        inbox: inbox.into_iter().take(20).collect(),
        is_admin: p.has_role(Role::SystemAdmin),
        regions: p.authority_regions(),
        may_record: may_record_updates(p),
        reads_audit: gongshu_core::authz::can_read_whole_audit(p),
    })
}

// ---------------------------------------------------------------- applying

#[derive(Template)]
#[template(path = "apply.html")]
struct ApplyPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    d: DatasetView,
    kind: GrantKind,
    banner: Option<Banner>,
    form: ApplyFields,
}

/// What the form last held, so a refused form comes back filled in.
#[derive(Default)]
struct ApplyFields {
    items: Vec<String>,
    modes: Vec<String>,
    purpose: String,
    scenario: String,
    security_measures: String,
    legal_duty: String,
    period_days: String,
}

impl ApplicationPage<'_> {
    fn state(&self) -> &'static str {
        application_state(self.a.application.state, self.ctx.lang)
    }
}

impl ApplyFields {
    fn has_mode(&self, mode: &str) -> bool {
        self.modes.iter().any(|m| m == mode)
    }
}

#[derive(Deserialize)]
struct ApplyQuery {
    dataset: i64,
}

/// A department user asks for 有条件共享 data for their department; anyone else
/// applies to use 有条件开放 data.
fn kind_for(p: &Principal, d: &DatasetView) -> GrantKind {
    if p.has_role(Role::DeptUser)
        && d.metadata.share_type == ShareType::Conditional
        && d.metadata.open_type != OpenType::Conditional
    {
        GrantKind::Share
    } else {
        GrantKind::Open
    }
}

async fn apply_form(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<ApplyQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Ok(Query(q)) = q else {
        return error_page(&ctx, &Error::not_found("数据", "Dataset"));
    };
    match s.app.public_dataset(q.dataset).await {
        Ok(d) => render(&ApplyPage {
            ctx: &ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            kind: kind_for(p, &d),
            d,
            banner: None,
            form: ApplyFields {
                period_days: "365".into(),
                ..ApplyFields::default()
            },
        }),
        Err(e) => error_page(&ctx, &e),
    }
}

async fn apply(
    State(s): State<AppState>,
    ctx: Ctx,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| form_field(&pairs, name);
    let all = |name: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let p = match checked(&ctx, &field("_csrf")) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Ok(dataset_id) = field("dataset_id").parse::<i64>() else {
        return error_page(&ctx, &Error::not_found("数据", "Dataset"));
    };
    let d = match s.app.public_dataset(dataset_id).await {
        Ok(d) => d,
        Err(e) => return error_page(&ctx, &e),
    };
    let kind = kind_for(p, &d);
    let form = ApplyFields {
        items: all("item"),
        modes: all("mode"),
        purpose: field("purpose"),
        scenario: field("scenario"),
        security_measures: field("security_measures"),
        legal_duty: field("legal_duty"),
        period_days: field("period_days"),
    };
    let modes: Option<Vec<GrantMode>> = form
        .modes
        .iter()
        .map(|m| GrantMode::ALL.into_iter().find(|g| g.as_str() == m))
        .collect();
    let refused = |e: Error, form: ApplyFields, d: DatasetView| {
        let mut r = render(&ApplyPage {
            ctx: &ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            kind,
            banner: Banner::refused(&ctx, &e),
            d,
            form,
        });
        *r.status_mut() = status_of(e.code);
        r
    };
    let period_days = match form.period_days.trim().parse::<u32>() {
        Ok(n) => n,
        Err(_) => {
            let e = Error::validation(vec![FieldError::new(
                "period_days",
                "format",
                "使用期限应为天数",
                "The period is a number of days",
            )]);
            return refused(e, form, d);
        }
    };
    let Some(modes) = modes else {
        let e = Error::validation(vec![FieldError::new(
            "modes",
            "unknown",
            "使用方式不可识别",
            "A way of access is not recognised",
        )]);
        return refused(e, form, d);
    };
    let input = ApplicationInput {
        kind,
        dataset_id,
        items: form.items.clone(),
        purpose: form.purpose.clone(),
        scenario: form.scenario.clone(),
        security_measures: form.security_measures.clone(),
        modes,
        period_days,
        pledge_accepted: field("pledge") == "yes",
        legal_duty: form.legal_duty.clone(),
    };
    match s.app.submit_application(p, input).await {
        Ok(view) => done(gongshu_app::links::application(view.id)),
        Err(e) => refused(e, form, d),
    }
}

// ---------------------------------------------------------------- applications

#[derive(Template)]
#[template(path = "application.html")]
struct ApplicationPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    a: ApplicationDetail,
    title: String,
    forms: Vec<ActionForm>,
    history: Vec<HistoryLine>,
    banner: Option<Banner>,
}

async fn application_page(
    s: &AppState,
    ctx: &Ctx,
    p: &Principal,
    id: i64,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let a = match s.app.application(p, id).await {
        Ok(a) => a,
        Err(e) => return error_page(ctx, &e),
    };
    let title = title_of(s, a.application.dataset_id).await;
    let history = history_lines(s, ctx, &a.history).await;
    let forms = a
        .actions
        .iter()
        .map(|&x| action_form(x, ctx.lang))
        .collect();
    with_status(
        render(&ApplicationPage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            a,
            title,
            forms,
            history,
            banner,
        }),
        status,
    )
}

object_page!(application, application_page);

#[derive(Deserialize)]
struct ActForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    quota_calls_per_day: String,
    #[serde(default)]
    quota_rows_per_day: String,
}

/// An empty quota field means no quota.
fn optional_number(v: &str, field: &str) -> Result<Option<i64>, Error> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| {
        Error::validation(vec![FieldError::new(
            field,
            "format",
            "额度应为正整数",
            "A quota is a positive whole number",
        )])
    })
}

async fn act_on_application(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<ActForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let result = async {
        let action = serde_json::from_value::<ApplicationAction>(serde_json::Value::String(
            f.action.clone(),
        ))
        .map_err(|_| Error::not_found("操作", "Action"))?;
        let input = ActionInput {
            reason: f.reason.clone(),
            quota_calls_per_day: optional_number(&f.quota_calls_per_day, "quota_calls_per_day")?,
            quota_rows_per_day: optional_number(&f.quota_rows_per_day, "quota_rows_per_day")?,
        };
        s.app.act_on_application(p, id, action, input).await
    }
    .await;
    match result {
        Ok(_) => done(gongshu_app::links::application(id)),
        Err(e) => {
            application_page(
                &s,
                &ctx,
                p,
                id,
                Banner::refused(&ctx, &e),
                status_of(e.code),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct AcceptForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    password: String,
    agreement_hash: String,
}

async fn accept_agreement(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<AcceptForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let input = AcceptInput {
        password: f.password,
        agreement_hash: f.agreement_hash,
    };
    match s.app.accept_agreement(p, id, input).await {
        Ok(_) => done(gongshu_app::links::application(id)),
        Err(e) => {
            application_page(
                &s,
                &ctx,
                p,
                id,
                Banner::refused(&ctx, &e),
                status_of(e.code),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- attribute changes

#[derive(Template)]
#[template(path = "attribute_change.html")]
struct ChangePage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    c: AttributeChangeDetail,
    title: String,
    history: Vec<HistoryLine>,
    banner: Option<Banner>,
}

impl ChangePage<'_> {
    fn may(&self, action: &str) -> bool {
        self.c.actions.iter().any(|a| {
            matches!(
                (a, action),
                (ChangeAction::Approve, "approve")
                    | (ChangeAction::Refuse, "refuse")
                    | (ChangeAction::Withdraw, "withdraw")
            )
        })
    }

    fn state(&self) -> &'static str {
        change_state(self.c.change.state, self.ctx.lang)
    }
}

async fn change_page(
    s: &AppState,
    ctx: &Ctx,
    p: &Principal,
    id: i64,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let c = match s.app.attribute_change(p, id).await {
        Ok(c) => c,
        Err(e) => return error_page(ctx, &e),
    };
    let title = title_of(s, c.change.dataset_id).await;
    let history = history_lines(s, ctx, &c.history).await;
    with_status(
        render(&ChangePage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            c,
            title,
            history,
            banner,
        }),
        status,
    )
}

object_page!(attribute_change, change_page);

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    action: String,
    #[serde(default)]
    reason: String,
}

async fn act_on_change(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<ChangeForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let result = async {
        let action =
            serde_json::from_value::<ChangeAction>(serde_json::Value::String(f.action.clone()))
                .map_err(|_| Error::not_found("操作", "Action"))?;
        s.app
            .act_on_attribute_change(p, id, action, ChangeDecision { reason: f.reason })
            .await
    }
    .await;
    match result {
        Ok(_) => done(gongshu_app::links::attribute_change(id)),
        Err(e) => {
            change_page(
                &s,
                &ctx,
                p,
                id,
                Banner::refused(&ctx, &e),
                status_of(e.code),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- grants

#[derive(Template)]
#[template(path = "grant.html")]
struct GrantPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    g: GrantDetail,
    title: String,
    state: String,
    modes: String,
    reports: Vec<UseReportView>,
    history: Vec<HistoryLine>,
    banner: Option<Banner>,
    today: String,
    /// The grant's differential-privacy mode and budget, if the provider set one.
    privacy: Option<gongshu_app::privacy::PrivacyView>,
}

async fn grant_page(
    s: &AppState,
    ctx: &Ctx,
    p: &Principal,
    id: i64,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let found = async {
        let g = s.app.grant(p, id).await?;
        let reports = s.app.use_reports(p, id).await?;
        Ok::<_, Error>((g, reports))
    }
    .await;
    let (g, reports) = match found {
        Ok(r) => r,
        Err(e) => return error_page(ctx, &e),
    };
    let title = title_of(s, g.grant.dataset_id).await;
    let history = history_lines(s, ctx, &g.history).await;
    let privacy = s.app.grant_privacy(p, id).await.ok().flatten();
    with_status(
        render(&GrantPage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            state: grant_state(&g.grant.state, ctx.lang),
            modes: g
                .grant
                .modes
                .iter()
                .map(|m| m.label(ctx.lang))
                .collect::<Vec<_>>()
                .join("、"),
            g,
            title,
            reports,
            history,
            banner,
            today: gongshu_core::calendar::china_date(chrono::Utc::now()).to_string(),
            privacy,
        }),
        status,
    )
}

object_page!(grant, grant_page);

#[derive(Deserialize)]
struct TerminateForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn terminate_grant(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<TerminateForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.terminate_grant(p, id, &f.reason).await {
        Ok(_) => done(gongshu_app::links::grant(id)),
        Err(e) => {
            grant_page(
                &s,
                &ctx,
                p,
                id,
                Banner::refused(&ctx, &e),
                status_of(e.code),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct ReportForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    period_from: String,
    period_to: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    outputs: String,
    #[serde(default)]
    incidents: String,
}

fn form_date(v: &str, field: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| {
        Error::validation(vec![FieldError::new(
            field,
            "format",
            "日期格式应为 YYYY-MM-DD",
            "A date is written YYYY-MM-DD",
        )])
    })
}

async fn file_report(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<ReportForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let result = async {
        let input = UseReportInput {
            period_from: form_date(&f.period_from, "period_from")?,
            period_to: form_date(&f.period_to, "period_to")?,
            summary: f.summary,
            outputs: f.outputs,
            incidents: f.incidents,
        };
        s.app.file_use_report(p, id, input).await
    }
    .await;
    match result {
        Ok(_) => done(gongshu_app::links::grant(id)),
        Err(e) => {
            grant_page(
                &s,
                &ctx,
                p,
                id,
                Banner::refused(&ctx, &e),
                status_of(e.code),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- calendar

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage<'a> {
    ctx: &'a Ctx,
    years: Vec<gongshu_app::calendar::YearView>,
    start: String,
    days: String,
    answer: Option<Deadline>,
    banner: Option<Banner>,
    is_admin: bool,
}

#[derive(Deserialize, Default)]
struct DeadlineQuery {
    start: Option<String>,
    days: Option<String>,
}

/// The years the calendar holds and a deadline calculator, for everyone signed in; the
/// system administrator enters a year from here.
async fn calendar(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<DeadlineQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let years = match s.app.calendar_years().await {
        Ok(y) => y,
        Err(e) => return error_page(&ctx, &e),
    };
    let (mut answer, mut banner) = (None, None);
    let start = q.start.unwrap_or_default();
    let days = q.days.unwrap_or_default();
    if !start.is_empty() || !days.is_empty() {
        let asked = async {
            let from = form_date(&start, "start")?;
            let n = days.trim().parse::<u32>().map_err(|_| {
                Error::validation(vec![FieldError::new(
                    "days",
                    "format",
                    "工作日数应为非负整数",
                    "Working days are a whole number",
                )])
            })?;
            s.app.deadline(from, n).await
        }
        .await;
        match asked {
            Ok(d) => answer = Some(d),
            Err(e) => banner = Banner::refused(&ctx, &e),
        }
    }
    render(&CalendarPage {
        ctx: &ctx,
        years,
        start,
        days,
        answer,
        banner,
        is_admin: p.has_role(Role::SystemAdmin),
    })
}

#[derive(Template)]
#[template(path = "calendar_year.html")]
struct YearPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    year: i32,
    source: String,
    papers: String,
    days: String,
    history: Vec<HistoryLine>,
    banner: Option<Banner>,
    is_admin: bool,
}

/// A year's days as the form shows them: one line each, `date 休|班 name`.
fn day_lines(schedule: &YearSchedule) -> String {
    schedule
        .days
        .iter()
        .map(|d| {
            format!(
                "{} {} {}",
                d.date,
                if d.is_off_day { "休" } else { "班" },
                d.name
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads the form's lines back; a line that does not read names its number. The same
/// text may instead be the JSON of a notice in the shipped shape, pasted whole.
fn parse_year(year: i32, papers: &str, days: &str) -> Result<YearSchedule, Error> {
    if days.trim_start().starts_with('{') {
        return serde_json::from_str(days.trim()).map_err(|e| {
            Error::validation(vec![FieldError::new(
                "days",
                "format",
                format!("JSON 无法读取：{e}"),
                format!("The JSON does not read: {e}"),
            )])
        });
    }
    let mut out = Vec::new();
    for (n, line) in days.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (date, kind) = (parts.next(), parts.next());
        let name = parts.collect::<Vec<_>>().join(" ");
        let date = date.and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let off = match kind {
            Some("休" | "off") => Some(true),
            Some("班" | "work") => Some(false),
            _ => None,
        };
        match (date, off) {
            (Some(date), Some(is_off_day)) if !name.is_empty() => out.push(SpecialDay {
                name,
                date,
                is_off_day,
            }),
            _ => {
                return Err(Error::validation(vec![FieldError::new(
                    "days",
                    "format",
                    format!(
                        "第 {} 行“{line}”应写作“日期 休|班 名称”，如 2027-02-06 休 春节",
                        n + 1
                    ),
                    format!(
                        "Line {} '{line}' should read 'date off|work name', \
                         e.g. 2027-02-06 off Spring Festival",
                        n + 1
                    ),
                )]));
            }
        }
    }
    Ok(YearSchedule {
        year,
        papers: papers
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        days: out,
    })
}

async fn year_page(
    s: &AppState,
    ctx: &Ctx,
    p: &Principal,
    year: i32,
    typed: Option<(String, String)>,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let (source, papers, days, history) = match s.app.calendar_year(year).await {
        Ok(y) => (
            y.summary.source.clone(),
            y.summary.papers.join("\n"),
            day_lines(&y.schedule),
            history_lines(s, ctx, &y.history).await,
        ),
        Err(e) if e.code == ErrorCode::NotFound => {
            (String::new(), String::new(), String::new(), Vec::new())
        }
        Err(e) => return error_page(ctx, &e),
    };
    let (papers, days) = typed.unwrap_or((papers, days));
    with_status(
        render(&YearPage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            year,
            source,
            papers,
            days,
            history,
            banner,
            is_admin: p.has_role(Role::SystemAdmin),
        }),
        status,
    )
}

async fn calendar_year(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(year): Path<i32>,
    q: Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    year_page(
        &s,
        &ctx,
        p,
        year,
        None,
        Banner::from(&ctx, &q),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct YearForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    papers: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    reason: String,
}

async fn enter_year(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(year): Path<i32>,
    Form(f): Form<YearForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let result = async {
        let schedule = parse_year(year, &f.papers, &f.days)?;
        s.app.put_calendar_year(p, year, schedule, &f.reason).await
    }
    .await;
    match result {
        Ok(_) => done(format!("/console/calendar/{year}")),
        Err(e) => {
            year_page(
                &s,
                &ctx,
                p,
                year,
                Some((f.papers, f.days)),
                Banner::refused(&ctx, &e),
                status_of(e.code),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- region settings

#[derive(Template)]
#[template(path = "region_policy.html")]
struct PolicyPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    p: EffectivePolicy,
    form: PolicyForm,
    history: Vec<HistoryLine>,
    banner: Option<Banner>,
    may_edit: bool,
}

impl PolicyPage<'_> {
    /// Where a setting in force comes from, as a reader says it.
    fn source(&self, field: &str) -> String {
        match self.p.sources.get(field).map(String::as_str) {
            None | Some("platform") => self.ctx.t("平台默认", "platform default").to_owned(),
            Some(code) if code == self.p.region_code => {
                self.ctx.t("本地区", "this region").to_owned()
            }
            Some(code) => format!("{} {code}", self.ctx.t("上级", "inherited from")),
        }
    }
}

/// The form as typed: an empty field or "inherit" leaves the setting to the region above.
#[derive(Deserialize, Default)]
struct PolicyForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    formal_check: String,
    #[serde(default)]
    formal_check_days: String,
    #[serde(default)]
    decision_days: String,
    #[serde(default)]
    share_via_authority: String,
    #[serde(default)]
    agreement_template: String,
    #[serde(default)]
    reason: String,
}

impl PolicyForm {
    fn of(own: &RegionPolicy) -> Self {
        let flag = |b: Option<bool>| match b {
            Some(true) => "yes".to_owned(),
            Some(false) => "no".to_owned(),
            None => String::new(),
        };
        let days = |d: Option<u32>| d.map(|d| d.to_string()).unwrap_or_default();
        Self {
            csrf: String::new(),
            formal_check: flag(own.formal_check),
            formal_check_days: days(own.formal_check_days),
            decision_days: days(own.decision_days),
            share_via_authority: flag(own.share_via_authority),
            agreement_template: own.agreement_template.clone().unwrap_or_default(),
            reason: String::new(),
        }
    }

    fn policy(&self) -> Result<RegionPolicy, Error> {
        let flag = |v: &str| match v {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        };
        let days = |v: &str, field: &str| -> Result<Option<u32>, Error> {
            let v = v.trim();
            if v.is_empty() {
                return Ok(None);
            }
            v.parse().map(Some).map_err(|_| {
                Error::validation(vec![FieldError::new(
                    field,
                    "format",
                    "期限应为工作日数",
                    "A deadline is a number of working days",
                )])
            })
        };
        let template = self.agreement_template.trim();
        Ok(RegionPolicy {
            formal_check: flag(&self.formal_check),
            formal_check_days: days(&self.formal_check_days, "policy.formal_check_days")?,
            decision_days: days(&self.decision_days, "policy.decision_days")?,
            share_via_authority: flag(&self.share_via_authority),
            agreement_template: (!template.is_empty()).then(|| self.agreement_template.clone()),
        })
    }
}

async fn policy_page(
    s: &AppState,
    ctx: &Ctx,
    p: &Principal,
    code: &str,
    typed: Option<PolicyForm>,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let policy = match s.app.region_policy(Some(p), code).await {
        Ok(policy) => policy,
        Err(e) => return error_page(ctx, &e),
    };
    let history = history_lines(s, ctx, &policy.history).await;
    let form = typed.unwrap_or_else(|| PolicyForm::of(&policy.own));
    with_status(
        render(&PolicyPage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            may_edit: gongshu_app::policies::may_set_region_policy(p, code),
            p: policy,
            form,
            history,
            banner,
        }),
        status,
    )
}

async fn region_policy(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    q: Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    policy_page(
        &s,
        &ctx,
        p,
        &code,
        None,
        Banner::from(&ctx, &q),
        StatusCode::OK,
    )
    .await
}

async fn put_region_policy(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    Form(f): Form<PolicyForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let result = async {
        let input = RegionPolicyInput {
            policy: f.policy()?,
            reason: f.reason.clone(),
        };
        s.app.put_region_policy(p, &code, input).await
    }
    .await;
    match result {
        Ok(_) => done(format!("/console/regions/{code}/policy")),
        Err(e) => {
            let status = status_of(e.code);
            policy_page(
                &s,
                &ctx,
                p,
                &code,
                Some(f),
                Banner::refused(&ctx, &e),
                status,
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- catalog updates

#[derive(Template)]
#[template(path = "catalog_update.html")]
struct UpdatePage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    u: CatalogUpdateDetail,
    provider: String,
    history: Vec<HistoryLine>,
    banner: Option<Banner>,
}

async fn update_page(
    s: &AppState,
    ctx: &Ctx,
    p: &Principal,
    id: i64,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let u = match s.app.catalog_update(p, id).await {
        Ok(u) => u,
        Err(e) => return error_page(ctx, &e),
    };
    let provider = s
        .app
        .org(u.update.provider_id)
        .await
        .map(|o| o.name)
        .unwrap_or_default();
    let history = history_lines(s, ctx, &u.history).await;
    with_status(
        render(&UpdatePage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            u,
            provider,
            history,
            banner,
        }),
        status,
    )
}

object_page!(catalog_update, update_page);

#[derive(Deserialize)]
struct CloseForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    note: String,
}

async fn close_update(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<CloseForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s
        .app
        .close_catalog_update(p, id, CatalogUpdateClose { note: f.note })
        .await
    {
        Ok(_) => done(gongshu_app::links::catalog_update(id)),
        Err(e) => {
            update_page(
                &s,
                &ctx,
                p,
                id,
                Banner::refused(&ctx, &e),
                status_of(e.code),
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "catalog_update_new.html")]
struct NewUpdatePage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    providers: Vec<gongshu_app::views::OrgView>,
    form: NewUpdateForm,
    today: String,
    banner: Option<Banner>,
}

#[derive(Deserialize, Default)]
struct NewUpdateForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    provider_id: String,
    #[serde(default)]
    cause: String,
    #[serde(default)]
    basis: String,
    #[serde(default)]
    received_on: String,
}

async fn new_update_page(
    s: &AppState,
    ctx: &Ctx,
    form: NewUpdateForm,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let providers = match s
        .app
        .orgs(None, Some(gongshu_core::types::OrgKind::Provider))
        .await
    {
        Ok(o) => o,
        Err(e) => return error_page(ctx, &e),
    };
    with_status(
        render(&NewUpdatePage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            providers,
            form,
            today: gongshu_core::calendar::china_date(chrono::Utc::now()).to_string(),
            banner,
        }),
        status,
    )
}

/// The authority, or a provider's data administrator, records a catalog update.
fn may_record_updates(p: &Principal) -> bool {
    !p.authority_regions().is_empty() || p.has_role(Role::ProviderAdmin)
}

async fn new_update(State(s): State<AppState>, ctx: Ctx) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    if !may_record_updates(p) {
        return error_page(&ctx, &Error::forbidden());
    }
    new_update_page(&s, &ctx, NewUpdateForm::default(), None, StatusCode::OK).await
}

async fn record_update(
    State(s): State<AppState>,
    ctx: Ctx,
    Form(f): Form<NewUpdateForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let result = async {
        let provider_id = f
            .provider_id
            .parse()
            .map_err(|_| Error::not_found("提供单位", "Provider"))?;
        let cause =
            serde_json::from_value::<UpdateCause>(serde_json::Value::String(f.cause.clone()))
                .map_err(|_| {
                    Error::validation(vec![FieldError::new(
                        "cause",
                        "unknown",
                        "请选择原因：法律法规或职能变化",
                        "Choose a cause: a law or the duties changed",
                    )])
                })?;
        let received_on = if f.received_on.trim().is_empty() {
            None
        } else {
            Some(form_date(&f.received_on, "received_on")?)
        };
        s.app
            .record_catalog_update(
                p,
                CatalogUpdateInput {
                    provider_id,
                    cause,
                    basis: f.basis.clone(),
                    received_on,
                },
            )
            .await
    }
    .await;
    match result {
        Ok(u) => done(gongshu_app::links::catalog_update(u.id)),
        Err(e) => {
            let status = status_of(e.code);
            new_update_page(&s, &ctx, f, Banner::refused(&ctx, &e), status).await
        }
    }
}

// ---------------------------------------------------------------- protection

#[derive(Template)]
#[template(path = "protection.html")]
struct ProtectionPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    resource_id: String,
    columns: gongshu_app::protection::ColumnClasses,
    rules: gongshu_app::protection::EffectiveRules,
    /// The provider's rules as JSON, as the form shows them.
    rules_json: String,
    banner: Option<Banner>,
    /// The first rows before and after the rules, for those who may set them.
    preview: Option<RulesPreviewView>,
    preview_error: String,
}

/// A rules preview as text cells, the platform's row number left out.
struct RulesPreviewView {
    columns: Vec<String>,
    raw: Vec<Vec<String>>,
    open_columns: Vec<String>,
    open: Vec<Vec<String>>,
}

fn text_table(batches: &[arrow_array::RecordBatch]) -> (Vec<String>, Vec<Vec<String>>) {
    let Some(first) = batches.first() else {
        return (Vec::new(), Vec::new());
    };
    let keep: Vec<usize> = first
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.name() != gongshu_data::ROW_COLUMN)
        .map(|(i, _)| i)
        .collect();
    let columns = keep
        .iter()
        .map(|i| first.schema().field(*i).name().clone())
        .collect();
    let rows = crate::pages::text_rows(batches)
        .into_iter()
        .map(|r| keep.iter().filter_map(|i| r.get(*i).cloned()).collect())
        .collect();
    (columns, rows)
}

impl ProtectionPage<'_> {
    fn kinds(&self) -> Vec<(&'static str, &'static str)> {
        gongshu_core::pii::PiiKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.label(self.ctx.lang)))
            .collect()
    }

    fn proposed(&self, c: &gongshu_app::protection::ColumnClassView) -> String {
        match &c.proposed {
            None => "—".into(),
            Some(p) => match c.confirmed_share {
                Some(share) => format!("{}（{:.1}%）", p.kind.label(self.ctx.lang), share * 100.0),
                None => p.kind.label(self.ctx.lang).to_owned(),
            },
        }
    }

    /// What the column is taken to hold: the confirmation, else the proposal.
    fn current(&self, c: &gongshu_app::protection::ColumnClassView) -> String {
        c.confirmed
            .clone()
            .or_else(|| c.proposed.map(|p| p.kind.as_str().to_owned()))
            .unwrap_or_else(|| "none".into())
    }

    fn rule_of(&self, column: &str) -> String {
        match self.rules.effective.rule_for(column) {
            None => self.ctx.t("原样", "as it is").to_owned(),
            Some(rule) => serde_json::to_string(rule).unwrap_or_default(),
        }
    }

    /// What the rule leaves of a personal column, in PIPL §73's terms.
    fn effect_of(&self, column: &str) -> &'static str {
        use gongshu_core::deident::Effect;
        match self.rules.effects.get(column) {
            None => "",
            Some(Effect::Identifying) => self
                .ctx
                .t("可识别（原样公开）", "identifying (published as it is)"),
            Some(Effect::Reversible) => self.ctx.t("可用密钥还原", "reversible with the key"),
            Some(Effect::Linkable) => self.ctx.t(
                "同一人可关联，不可还原",
                "links one person's records, not reversible",
            ),
            Some(Effect::Reduced) => self.ctx.t("保留部分信息", "partly kept"),
            Some(Effect::Removed) => self.ctx.t("已去除", "removed"),
        }
    }

    fn processing(&self) -> &'static str {
        use gongshu_core::deident::Processing;
        match self.rules.processing {
            Processing::Identified => self.ctx.t(
                "开放版本仍含可识别的个人信息：有个人信息列原样公开。",
                "The open version still identifies people: a personal column is published as it is.",
            ),
            Processing::Deidentified => self.ctx.t(
                "开放版本属于去标识化（个人信息保护法第七十三条）：借助密钥或其他信息仍可识别或关联到个人，仍是个人信息。",
                "The open version is de-identified (PIPL §73): with the key or other information people can still be identified or linked, so it is still personal information.",
            ),
            Processing::AnonymisationCandidate => self.ctx.t(
                "各个人信息列均不可还原、不可关联：可作为匿名化候选，请用 k-匿名报告确认准标识符组合不能识别个人。",
                "No personal column is reversible or linkable: a candidate for anonymisation; confirm with the k-anonymity report that the quasi-identifiers do not single people out.",
            ),
        }
    }
}

async fn protection_page(
    s: &AppState,
    ctx: &Ctx,
    p: &Principal,
    id: &str,
    typed_rules: Option<String>,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let found = async {
        let columns = s.app.column_classes(p, id, None).await?;
        let rules = s.app.resource_rules(p, id).await?;
        Ok::<_, Error>((columns, rules))
    }
    .await;
    let (columns, rules) = match found {
        Ok(r) => r,
        Err(e) => return error_page(ctx, &e),
    };
    // The preview of the rules typed (when they read) or of those stored; only for those
    // who may set rules, since one side is the raw data.
    let typed = match typed_rules.as_deref().map(serde_json::from_str) {
        None => Ok(None),
        Some(Ok(rules)) => Ok(Some(rules)),
        Some(Err(e)) => Err(e),
    };
    let previewed = match typed {
        Ok(typed) => s.app.rules_preview(p, id, typed).await,
        Err(e) => Err(Error::new(
            ErrorCode::Validation,
            format!("规则无法读取，无法预览：{e}"),
            format!("The rules do not read, so there is no preview: {e}"),
        )),
    };
    let (preview, preview_error) = match previewed {
        Ok(pv) => {
            let (columns, raw) = text_table(&pv.raw);
            let (open_columns, open) = text_table(&pv.open);
            (
                Some(RulesPreviewView {
                    columns,
                    raw,
                    open_columns,
                    open,
                }),
                String::new(),
            )
        }
        Err(e) if e.code == gongshu_core::ErrorCode::Validation => {
            (None, problem_text(&e, ctx.lang))
        }
        Err(_) => (None, String::new()),
    };
    let rules_json = typed_rules
        .unwrap_or_else(|| serde_json::to_string_pretty(&rules.explicit).unwrap_or_default());
    with_status(
        render(&ProtectionPage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            resource_id: id.to_owned(),
            columns,
            rules,
            rules_json,
            banner,
            preview,
            preview_error,
        }),
        status,
    )
}

async fn protection(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    q: Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    protection_page(
        &s,
        &ctx,
        p,
        &id,
        None,
        Banner::from(&ctx, &q),
        StatusCode::OK,
    )
    .await
}

async fn confirm_columns(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| form_field(&pairs, name);
    let p = match checked(&ctx, &field("_csrf")) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let columns = pairs
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("col:").map(|c| (c.to_owned(), v.clone())))
        .collect();
    let input = gongshu_app::protection::ColumnConfirmation {
        version: field("version").parse().unwrap_or_default(),
        columns,
    };
    match s.app.confirm_columns(p, &id, input).await {
        Ok(_) => done(format!("/console/resources/{id}/protection")),
        Err(e) => {
            let status = status_of(e.code);
            protection_page(&s, &ctx, p, &id, None, Banner::refused(&ctx, &e), status).await
        }
    }
}

#[derive(Deserialize)]
struct RulesForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    rules: String,
    #[serde(default)]
    reason: String,
    /// Show what the typed rules would do, without saving them.
    #[serde(default)]
    preview: Option<String>,
}

async fn set_rules(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<RulesForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    if f.preview.is_some() {
        return protection_page(&s, &ctx, p, &id, Some(f.rules), None, StatusCode::OK).await;
    }
    let result = async {
        let rules = serde_json::from_str(&f.rules).map_err(|e| {
            Error::validation(vec![FieldError::new(
                "rules",
                "format",
                format!("规则无法读取：{e}"),
                format!("The rules do not read: {e}"),
            )])
        })?;
        s.app
            .set_resource_rules(
                p,
                &id,
                gongshu_app::protection::RulesInput {
                    rules,
                    reason: f.reason.clone(),
                },
            )
            .await
    }
    .await;
    match result {
        Ok(_) => done(format!("/console/resources/{id}/protection")),
        Err(e) => {
            let status = status_of(e.code);
            protection_page(
                &s,
                &ctx,
                p,
                &id,
                Some(f.rules),
                Banner::refused(&ctx, &e),
                status,
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- grading and protection

/// One row of the grade → cap table as the page shows and edits it.
struct CapRow {
    grade: Grade,
    max_open: OpenType,
    deidentify: bool,
}

#[derive(Template)]
#[template(path = "grading.html")]
struct GradingPage<'a> {
    ctx: &'a Ctx,
    csrf: &'a str,
    rows: Vec<CapRow>,
    k_threshold: String,
    reason: String,
    source: String,
    may_edit: bool,
    history: Vec<HistoryLine>,
    important: Option<Vec<gongshu_app::protection::ImportantEntry>>,
    at_rest: Option<gongshu_app::at_rest::AtRestView>,
    may_rotate: bool,
    banner: Option<Banner>,
}

impl GradingPage<'_> {
    fn grade_label(&self, g: &Grade) -> &'static str {
        if self.ctx.lang == Lang::Zh {
            g.label_zh()
        } else {
            g.label_en()
        }
    }

    fn open_label(&self, o: &OpenType) -> &'static str {
        if self.ctx.lang == Lang::Zh {
            o.label_zh()
        } else {
            o.label_en()
        }
    }

    fn open_types(&self) -> &'static [OpenType] {
        OpenType::ALL
    }
}

/// What was typed into the table, kept when a save is refused.
struct GradingTyped {
    rows: Vec<CapRow>,
    k_threshold: String,
    reason: String,
}

async fn grading_page(
    s: &AppState,
    ctx: &Ctx,
    p: &Principal,
    typed: Option<GradingTyped>,
    banner: Option<Banner>,
    status: StatusCode,
) -> Response {
    let view = match s.app.grade_caps_view().await {
        Ok(v) => v,
        Err(e) => return error_page(ctx, &e),
    };
    // The catalog and the keys are for those who oversee; others see the table only.
    let important = s.app.important_data(p).await.ok();
    let at_rest = s.app.at_rest_view(p).await.ok();
    let history = history_lines(s, ctx, &view.history).await;
    let typed = typed.unwrap_or_else(|| GradingTyped {
        rows: view
            .caps
            .caps
            .iter()
            .map(|(g, c)| CapRow {
                grade: *g,
                max_open: c.max_open,
                deidentify: c.deidentify,
            })
            .collect(),
        k_threshold: view.caps.k_threshold.to_string(),
        reason: String::new(),
    });
    with_status(
        render(&GradingPage {
            ctx,
            csrf: ctx.csrf.as_deref().unwrap_or(""),
            rows: typed.rows,
            k_threshold: typed.k_threshold,
            reason: typed.reason,
            source: view.source,
            may_edit: gongshu_app::protection::may_set_grade_caps(p),
            history,
            important,
            at_rest,
            may_rotate: p.has_role(Role::SystemAdmin),
            banner,
        }),
        status,
    )
}

async fn grading(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    grading_page(&s, &ctx, p, None, Banner::from(&ctx, &q), StatusCode::OK).await
}

async fn put_grading(
    State(s): State<AppState>,
    ctx: Ctx,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| form_field(&pairs, name);
    let p = match checked(&ctx, &field("_csrf")) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    // An unknown open type is kept as closed, which the table's own checks then judge.
    let rows: Vec<CapRow> = Grade::ALL
        .iter()
        .map(|g| CapRow {
            grade: *g,
            max_open: OpenType::parse(&field(&format!("max_open.{}", g.as_str())))
                .unwrap_or(OpenType::None),
            deidentify: !field(&format!("deidentify.{}", g.as_str())).is_empty(),
        })
        .collect();
    let typed = GradingTyped {
        rows,
        k_threshold: field("k_threshold"),
        reason: field("reason"),
    };
    let result = async {
        let k_threshold = typed.k_threshold.trim().parse().map_err(|_| {
            Error::validation(vec![FieldError::new(
                "k_threshold",
                "format",
                "k 值应为整数",
                "k is a whole number",
            )])
        })?;
        let caps = gongshu_core::catalog::GradeCapPolicy {
            caps: typed
                .rows
                .iter()
                .map(|r| {
                    (
                        r.grade,
                        gongshu_core::catalog::GradeCap {
                            max_open: r.max_open,
                            deidentify: r.deidentify,
                        },
                    )
                })
                .collect(),
            k_threshold,
        };
        s.app
            .set_grade_caps(
                p,
                gongshu_app::protection::GradeCapsInput {
                    caps,
                    reason: typed.reason.clone(),
                },
            )
            .await
    }
    .await;
    match result {
        Ok(_) => done("/console/grading".into()),
        Err(e) => {
            let status = status_of(e.code);
            grading_page(&s, &ctx, p, Some(typed), Banner::refused(&ctx, &e), status).await
        }
    }
}

/// A form that carries nothing but the session's CSRF token (a button).
#[derive(Deserialize, Default)]
pub(crate) struct CsrfOnly {
    #[serde(rename = "_csrf", default)]
    pub(crate) csrf: String,
}

async fn rotate_keys(State(s): State<AppState>, ctx: Ctx, Form(f): Form<CsrfOnly>) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.rotate_at_rest_keys(p).await {
        Ok(_) => done("/console/grading".into()),
        Err(e) => {
            let status = status_of(e.code);
            grading_page(&s, &ctx, p, None, Banner::refused(&ctx, &e), status).await
        }
    }
}
