//! The console's catalog pages: a provider's entries in every state, the entry editor with
//! its data-item table, uploads with their results, and the authority's review queue.
//! Plain forms that work without script; `upload.js` only adds a progress bar.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gongshu_app::data::{JobView, OnReject, Upload};
use gongshu_app::views::DatasetView;
use gongshu_core::authz::{self, EntryScope};
use gongshu_core::catalog::{Category, DataItem, DatasetDraft, Step, next_status};
use gongshu_core::error::{FieldError, Lang};
use gongshu_core::types::*;
use gongshu_core::{Error, ErrorCode};
use serde::Deserialize;

use crate::AppState;
use crate::console::{Banner, DoneQuery, checked, done, signed_in, with_status};
use crate::ctx::{Ctx, same_secret};
use crate::pages::{error_page, render};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/datasets", get(workbench).post(create))
        .route("/console/datasets/new", get(new_form))
        .route("/console/datasets/{id}", get(entry))
        .route("/console/datasets/{id}/edit", get(edit_form).post(update))
        .route("/console/datasets/{id}/step", post(step))
        .route("/console/tokens", get(tokens).post(new_token))
        .route("/console/tokens/{id}/revoke", post(revoke_token))
        .route("/console/jobs/{id}", get(job))
        .route("/console/jobs/{id}/decide", post(decide))
}

/// Uploads read large bodies for as long as they take, like the API's bulk routes.
pub(crate) fn upload_routes(limit: u64) -> Router<AppState> {
    Router::new()
        .route("/console/datasets/{id}/upload", post(upload))
        .layer(axum::extract::DefaultBodyLimit::max(
            usize::try_from(limit)
                .unwrap_or(usize::MAX)
                .saturating_add(64 * 1024),
        ))
}

// --- the workbench -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console_datasets.html")]
struct WorkbenchPage<'a> {
    ctx: &'a Ctx,
    status: Option<DatasetStatus>,
    tabs: Vec<(String, String, bool)>,
    datasets: Vec<DatasetView>,
    total: i64,
    page: i64,
    pages: i64,
    may_create: bool,
    reviews: bool,
}

#[derive(Deserialize, Default)]
struct WorkbenchQuery {
    status: Option<String>,
    page: Option<i64>,
}

async fn workbench(
    State(s): State<AppState>,
    ctx: Ctx,
    q: Result<Query<WorkbenchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let status = q.status.as_deref().and_then(DatasetStatus::parse);
    let found = match s.app.list_workbench(p, status, q.page, Some(50)).await {
        Ok(f) => f,
        Err(e) => return error_page(&ctx, &e),
    };
    let mut tabs = vec![(
        "/console/datasets".to_owned(),
        ctx.t("全部", "All").to_owned(),
        status.is_none(),
    )];
    for st in DatasetStatus::ALL {
        tabs.push((
            format!("/console/datasets?status={}", st.as_str()),
            st.label(ctx.lang).to_owned(),
            status == Some(*st),
        ));
    }
    render(&WorkbenchPage {
        ctx: &ctx,
        status,
        tabs,
        total: found.total,
        page: found.page,
        pages: ((found.total + found.per_page - 1) / found.per_page).max(1),
        datasets: found.items,
        may_create: !p.provider_orgs().is_empty(),
        reviews: !p.oversight_regions().is_empty(),
    })
}

// --- the editor ----------------------------------------------------------------------

/// One `<option>`.
#[derive(Clone)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices<T: Copy + PartialEq>(
    all: &[T],
    chosen: &[T],
    value: fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
) -> Vec<Choice> {
    all.iter()
        .map(|v| Choice {
            value: value(*v).to_owned(),
            label: label(*v).to_owned(),
            selected: chosen.contains(v),
        })
        .collect()
}

/// A row of the data-item table as typed.
#[derive(Default, Clone)]
struct ItemRow {
    name: String,
    item_type: String,
    length: String,
    description: String,
    grade: String,
    /// 值域 as typed, codes separated by 、 or commas.
    codes: String,
    /// "1" when the provider is the item's authoritative source (一数一源).
    source: String,
}

/// The editor's fields as typed, so a refused form comes back as the user left it.
#[derive(Default, Clone)]
struct EditorForm {
    title: String,
    summary: String,
    class: String,
    cat_item: String,
    cat_catalog: String,
    cat_detail: String,
    format: String,
    file_formats: String,
    share_type: String,
    share_condition: String,
    share_method: String,
    open_type: String,
    open_condition: String,
    legal_basis: String,
    update_cycle: String,
    related_codes: String,
    domains: Vec<String>,
    keywords: String,
    grade: String,
    contact: String,
    license: String,
    provider_id: String,
    version: String,
    items: Vec<ItemRow>,
}

/// Blank rows offered below the items, and added by "more rows".
const BLANK_ROWS: usize = 3;

impl EditorForm {
    fn from_draft(d: &DatasetDraft) -> Self {
        Self {
            title: d.title.clone(),
            summary: d.summary.clone(),
            class: d.category.class.as_str().to_owned(),
            cat_item: d.category.item.clone(),
            cat_catalog: d.category.catalog.clone(),
            cat_detail: d.category.detail.clone().unwrap_or_default(),
            format: d.format.as_str().to_owned(),
            file_formats: d.file_formats.join(", "),
            share_type: d.share_type.as_str().to_owned(),
            share_condition: d.share_condition.clone(),
            share_method: d.share_method.as_str().to_owned(),
            open_type: d.open_type.as_str().to_owned(),
            open_condition: d.open_condition.clone(),
            legal_basis: d.legal_basis.clone(),
            update_cycle: d.update_cycle.as_str().to_owned(),
            related_codes: d.related_codes.join(", "),
            domains: d.domains.iter().map(|x| x.as_str().to_owned()).collect(),
            keywords: d.keywords.join("，"),
            grade: d.grade.as_str().to_owned(),
            contact: d.contact.clone(),
            license: d.license.clone(),
            provider_id: String::new(),
            version: String::new(),
            items: d
                .items
                .iter()
                .map(|i| ItemRow {
                    name: i.name.clone(),
                    item_type: i.item_type.as_str().to_owned(),
                    length: i.length.to_string(),
                    description: i.description.clone(),
                    grade: i.grade.as_str().to_owned(),
                    codes: i.codes.join("、"),
                    source: if i.source { "1" } else { "" }.to_owned(),
                })
                .collect(),
        }
    }

    fn blank() -> Self {
        Self {
            class: CategoryClass::ALL[0].as_str().to_owned(),
            format: ResourceFormat::ALL[0].as_str().to_owned(),
            share_type: ShareType::Unconditional.as_str().to_owned(),
            share_method: ShareMethod::ALL[0].as_str().to_owned(),
            open_type: OpenType::Unconditional.as_str().to_owned(),
            update_cycle: UpdateCycle::ALL[0].as_str().to_owned(),
            grade: Grade::ALL[0].as_str().to_owned(),
            license: "政府数据开放许可（署名）".into(),
            ..Self::default()
        }
    }

    /// Reads the posted pairs: repeated item fields in order make the rows, and blank
    /// rows are dropped.
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut f = Self::default();
        let mut columns: HashMap<&str, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            let v = v.clone();
            match k.as_str() {
                "title" => f.title = v,
                "summary" => f.summary = v,
                "class" => f.class = v,
                "cat_item" => f.cat_item = v,
                "cat_catalog" => f.cat_catalog = v,
                "cat_detail" => f.cat_detail = v,
                "format" => f.format = v,
                "file_formats" => f.file_formats = v,
                "share_type" => f.share_type = v,
                "share_condition" => f.share_condition = v,
                "share_method" => f.share_method = v,
                "open_type" => f.open_type = v,
                "open_condition" => f.open_condition = v,
                "legal_basis" => f.legal_basis = v,
                "update_cycle" => f.update_cycle = v,
                "related_codes" => f.related_codes = v,
                "domains" => f.domains.push(v),
                "keywords" => f.keywords = v,
                "grade" => f.grade = v,
                "contact" => f.contact = v,
                "license" => f.license = v,
                "provider_id" => f.provider_id = v,
                "version" => f.version = v,
                "item_name" | "item_type" | "item_length" | "item_description" | "item_grade"
                | "item_codes" | "item_source" => {
                    columns.entry(k.as_str()).or_default().push(v);
                }
                _ => {}
            }
        }
        let rows = columns.values().map(Vec::len).max().unwrap_or(0);
        let cell = |name: &str, i: usize| {
            columns
                .get(name)
                .and_then(|c| c.get(i))
                .cloned()
                .unwrap_or_default()
        };
        f.items = (0..rows)
            .map(|i| ItemRow {
                name: cell("item_name", i),
                item_type: cell("item_type", i),
                length: cell("item_length", i),
                description: cell("item_description", i),
                grade: cell("item_grade", i),
                codes: cell("item_codes", i),
                source: cell("item_source", i),
            })
            .filter(|r| !(r.name.trim().is_empty() && r.description.trim().is_empty()))
            .collect();
        f
    }

    /// The draft, or each field's problem (vocabulary and numbers; the catalog rules are
    /// checked by the application).
    fn draft(&self) -> Result<DatasetDraft, Vec<FieldError>> {
        let mut errors = Vec::new();
        fn pick<T>(
            errors: &mut Vec<FieldError>,
            field: &str,
            value: &str,
            parse: fn(&str) -> Option<T>,
        ) -> Option<T> {
            let v = parse(value);
            if v.is_none() {
                errors.push(FieldError::new(
                    field,
                    "choice",
                    "请从列表中选择",
                    "Choose a value from the list",
                ));
            }
            v
        }
        let list = |s: &str| -> Vec<String> {
            s.split([',', '，', '、', ';', '；', '\n'])
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let class = pick(
            &mut errors,
            "category.class",
            &self.class,
            CategoryClass::parse,
        );
        let format = pick(&mut errors, "format", &self.format, ResourceFormat::parse);
        let share_type = pick(
            &mut errors,
            "share_type",
            &self.share_type,
            ShareType::parse,
        );
        let share_method = pick(
            &mut errors,
            "share_method",
            &self.share_method,
            ShareMethod::parse,
        );
        let open_type = pick(&mut errors, "open_type", &self.open_type, OpenType::parse);
        let update_cycle = pick(
            &mut errors,
            "update_cycle",
            &self.update_cycle,
            UpdateCycle::parse,
        );
        let grade = pick(&mut errors, "grade", &self.grade, Grade::parse);
        let mut domains = Vec::new();
        for d in &self.domains {
            if let Some(d) = pick(&mut errors, "domains", d, Domain::parse) {
                domains.push(d);
            }
        }
        let mut items = Vec::new();
        for (i, r) in self.items.iter().enumerate() {
            let field = |s: &str| format!("items[{i}].{s}");
            let item_type = pick(&mut errors, &field("type"), &r.item_type, ItemType::parse);
            let item_grade = pick(&mut errors, &field("grade"), &r.grade, Grade::parse);
            let length = if r.length.trim().is_empty() {
                Some(0)
            } else {
                let n = r.length.trim().parse::<u32>().ok();
                if n.is_none() {
                    errors.push(FieldError::new(
                        field("length"),
                        "format",
                        "长度应为非负整数",
                        "The length is a whole number",
                    ));
                }
                n
            };
            if let (Some(item_type), Some(grade), Some(length)) = (item_type, item_grade, length) {
                items.push(DataItem {
                    name: r.name.clone(),
                    item_type,
                    length,
                    description: r.description.clone(),
                    grade,
                    source: r.source == "1",
                    codes: list(&r.codes),
                });
            }
        }
        let (
            Some(class),
            Some(format),
            Some(share_type),
            Some(share_method),
            Some(open_type),
            Some(update_cycle),
            Some(grade),
            true,
        ) = (
            class,
            format,
            share_type,
            share_method,
            open_type,
            update_cycle,
            grade,
            errors.is_empty(),
        )
        else {
            return Err(errors);
        };
        Ok(DatasetDraft {
            title: self.title.clone(),
            summary: self.summary.clone(),
            category: Category {
                class,
                item: self.cat_item.trim().to_owned(),
                catalog: self.cat_catalog.trim().to_owned(),
                detail: Some(self.cat_detail.trim().to_owned()).filter(|d| !d.is_empty()),
            },
            format,
            file_formats: list(&self.file_formats),
            items,
            share_type,
            share_condition: self.share_condition.clone(),
            share_method,
            open_type,
            open_condition: self.open_condition.clone(),
            legal_basis: self.legal_basis.clone(),
            update_cycle,
            related_codes: list(&self.related_codes),
            domains,
            keywords: list(&self.keywords),
            grade,
            contact: self.contact.clone(),
            license: self.license.clone(),
            classified: false,
            deidentify: false,
        })
    }
}

/// A data-item row as the template shows it, with its select lists and problems.
struct ItemRowView {
    row: ItemRow,
    types: Vec<Choice>,
    grades: Vec<Choice>,
    name_error: String,
    type_error: String,
    length_error: String,
    description_error: String,
    grade_error: String,
    codes_error: String,
}

#[derive(Template)]
#[template(path = "dataset_editor.html")]
struct EditorPage<'a> {
    ctx: &'a Ctx,
    heading: String,
    action: String,
    f: EditorForm,
    banner: Option<Banner>,
    errors: HashMap<String, String>,
    classes: Vec<Choice>,
    formats: Vec<Choice>,
    share_types: Vec<Choice>,
    share_methods: Vec<Choice>,
    open_types: Vec<Choice>,
    cycles: Vec<Choice>,
    grades: Vec<Choice>,
    domains: Vec<Choice>,
    providers: Vec<Choice>,
    rows: Vec<ItemRowView>,
    cancel: String,
}

impl EditorPage<'_> {
    /// The problem with a field, empty when there is none.
    fn err(&self, field: &str) -> &str {
        self.errors.get(field).map(String::as_str).unwrap_or("")
    }
}

/// The chosen value of a single select, as `choices` takes it.
fn one<T>(value: &str, parse: fn(&str) -> Option<T>) -> Vec<T> {
    parse(value).into_iter().collect()
}

fn grade_choices(lang: Lang, chosen: &str) -> Vec<Choice> {
    let chosen: Vec<Grade> = Grade::parse(chosen).into_iter().collect();
    choices(Grade::ALL, &chosen, Grade::as_str, |g| g.label(lang))
}

#[allow(clippy::too_many_arguments)]
fn editor_page(
    ctx: &Ctx,
    heading: String,
    action: String,
    cancel: String,
    f: EditorForm,
    extra_rows: usize,
    providers: Vec<Choice>,
    problem: Option<&Error>,
) -> Response {
    let lang = ctx.lang;
    let mut errors = HashMap::new();
    if let Some(e) = problem {
        for fe in &e.fields {
            let text = match lang {
                Lang::Zh => fe.message_zh.clone(),
                Lang::En => fe.message_en.clone(),
            };
            errors
                .entry(fe.field.clone())
                .and_modify(|t: &mut String| {
                    t.push('；');
                    t.push_str(&text);
                })
                .or_insert(text);
        }
    }
    let mut rows: Vec<ItemRow> = f.items.clone();
    rows.extend(std::iter::repeat_n(
        ItemRow {
            item_type: ItemType::ALL[0].as_str().to_owned(),
            grade: f.grade.clone(),
            ..ItemRow::default()
        },
        BLANK_ROWS + extra_rows,
    ));
    let row_err = |i: usize, s: &str| {
        errors
            .get(&format!("items[{i}].{s}"))
            .cloned()
            .unwrap_or_default()
    };
    let rows = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| ItemRowView {
            types: choices(
                ItemType::ALL,
                &one(&row.item_type, ItemType::parse),
                ItemType::as_str,
                |t| t.label(lang),
            ),
            grades: grade_choices(lang, &row.grade),
            name_error: row_err(i, "name"),
            type_error: row_err(i, "type"),
            length_error: row_err(i, "length"),
            description_error: row_err(i, "description"),
            grade_error: row_err(i, "grade"),
            codes_error: row_err(i, "codes"),
            row,
        })
        .collect();
    let chosen_domains: Vec<Domain> = f.domains.iter().filter_map(|d| Domain::parse(d)).collect();
    // A select list of one vocabulary with the typed value chosen.
    macro_rules! select {
        ($vocab:ident, $value:expr) => {
            choices(
                $vocab::ALL,
                &one($value, $vocab::parse),
                $vocab::as_str,
                |c| c.label(lang),
            )
        };
    }
    let page = EditorPage {
        ctx,
        heading,
        action,
        banner: problem.map(|e| Banner {
            ok: false,
            text: e.message(lang).to_owned(),
        }),
        classes: select!(CategoryClass, &f.class),
        formats: select!(ResourceFormat, &f.format),
        share_types: select!(ShareType, &f.share_type),
        share_methods: select!(ShareMethod, &f.share_method),
        open_types: select!(OpenType, &f.open_type),
        cycles: select!(UpdateCycle, &f.update_cycle),
        grades: grade_choices(lang, &f.grade),
        domains: choices(Domain::ALL, &chosen_domains, Domain::as_str, |c| {
            c.label(lang)
        }),
        providers,
        rows,
        errors,
        cancel,
        f,
    };
    let status = match problem {
        None => StatusCode::OK,
        Some(e) => crate::error::status_of(e.code),
    };
    with_status(render(&page), status)
}

/// The providers the caller may catalog for, when there is more than one to choose from.
async fn provider_choices(
    s: &AppState,
    p: &gongshu_core::authz::Principal,
    chosen: &str,
) -> Vec<Choice> {
    let ids = p.provider_orgs();
    if ids.len() < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for id in ids {
        if let Ok(org) = s.app.org(id).await {
            out.push(Choice {
                value: id.to_string(),
                label: org.name,
                selected: chosen == id.to_string(),
            });
        }
    }
    out
}

async fn new_form(State(s): State<AppState>, ctx: Ctx) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    if p.provider_orgs().is_empty() {
        return error_page(&ctx, &Error::forbidden());
    }
    let providers = provider_choices(&s, p, "").await;
    editor_page(
        &ctx,
        ctx.t("新建目录", "New catalog entry").to_owned(),
        "/console/datasets".into(),
        "/console/datasets".into(),
        EditorForm::blank(),
        0,
        providers,
        None,
    )
}

/// The form's CSRF token and whether it asked for more blank rows rather than to save.
fn form_control(pairs: &[(String, String)]) -> (String, bool) {
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    (csrf, pairs.iter().any(|(k, _)| k == "add_rows"))
}

async fn create(
    State(s): State<AppState>,
    ctx: Ctx,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> Response {
    let (csrf, more) = form_control(&pairs);
    let p = match checked(&ctx, &csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let f = EditorForm::from_pairs(&pairs);
    let providers = provider_choices(&s, p, &f.provider_id).await;
    let again = |f: EditorForm, extra, e: Option<&Error>| {
        editor_page(
            &ctx,
            ctx.t("新建目录", "New catalog entry").to_owned(),
            "/console/datasets".into(),
            "/console/datasets".into(),
            f,
            extra,
            providers.clone(),
            e,
        )
    };
    if more {
        return again(f, BLANK_ROWS, None);
    }
    let draft = match f.draft() {
        Ok(d) => d,
        Err(fields) => return again(f, 0, Some(&Error::validation(fields))),
    };
    let provider_id = f.provider_id.parse().ok();
    match s.app.create_dataset(p, provider_id, None, draft).await {
        Ok(d) => done(format!("/console/datasets/{}", d.id)),
        Err(e) => again(f, 0, Some(&e)),
    }
}

async fn edit_form(State(s): State<AppState>, ctx: Ctx, Path(id): Path<i64>) -> Response {
    let p = match signed_in(&ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.working_dataset(p, id).await {
        // Those who may read the working copy but not write it (reviewers, auditors)
        // read it on the entry's page, not in an editor they cannot save.
        Ok(d)
            if !authz::can_edit_entry(
                p,
                EntryScope {
                    provider_org_id: d.provider.id,
                    provider_region: &d.region_code,
                },
            ) =>
        {
            error_page(&ctx, &Error::forbidden())
        }
        Ok(d) => {
            let mut f = EditorForm::from_draft(&d.metadata);
            f.version = d.version.to_string();
            editor_page(
                &ctx,
                format!("{} · {}", ctx.t("编辑目录", "Edit entry"), d.metadata.title),
                format!("/console/datasets/{id}/edit"),
                format!("/console/datasets/{id}"),
                f,
                0,
                Vec::new(),
                None,
            )
        }
        Err(e) => error_page(&ctx, &e),
    }
}

async fn update(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> Response {
    let (csrf, more) = form_control(&pairs);
    let p = match checked(&ctx, &csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let f = EditorForm::from_pairs(&pairs);
    let again = |f: EditorForm, extra, e: Option<&Error>| {
        editor_page(
            &ctx,
            ctx.t("编辑目录", "Edit entry").to_owned(),
            format!("/console/datasets/{id}/edit"),
            format!("/console/datasets/{id}"),
            f,
            extra,
            Vec::new(),
            e,
        )
    };
    if more {
        return again(f, BLANK_ROWS, None);
    }
    let Ok(version) = f.version.parse::<i64>() else {
        return again(
            f,
            0,
            Some(&Error::new(
                ErrorCode::Validation,
                "表单缺少版本号，请重新打开编辑页",
                "The form has no version: open the editor again",
            )),
        );
    };
    let draft = match f.draft() {
        Ok(d) => d,
        Err(fields) => return again(f, 0, Some(&Error::validation(fields))),
    };
    match s.app.update_dataset(p, id, version, draft).await {
        Ok(_) => done(format!("/console/datasets/{id}")),
        Err(e) => again(f, 0, Some(&e)),
    }
}

// --- one entry: its state, steps and data ----------------------------------------------

struct StepButton {
    step: &'static str,
    label: &'static str,
    note_required: bool,
}

#[derive(Template)]
#[template(path = "console_dataset.html")]
struct EntryPage<'a> {
    ctx: &'a Ctx,
    d: DatasetView,
    banner: Option<Banner>,
    steps: Vec<StepButton>,
    may_edit: bool,
    /// Data goes up by the provider's data administrators, whatever the entry's state.
    may_upload: bool,
    resources: Vec<gongshu_app::data::ResourceView>,
}

fn allowed_steps(
    p: &gongshu_core::authz::Principal,
    d: &DatasetView,
    lang: Lang,
) -> Vec<StepButton> {
    let scope = EntryScope {
        provider_org_id: d.provider.id,
        provider_region: &d.region_code,
    };
    let t = |zh, en| if lang == Lang::Zh { zh } else { en };
    [
        (
            Step::Submit,
            "submit",
            t("提交审核", "Submit for review"),
            false,
        ),
        (
            Step::Recall,
            "recall",
            t("撤回提交", "Recall the submission"),
            false,
        ),
        (
            Step::Approve,
            "approve",
            t("审核通过并发布", "Approve and publish"),
            false,
        ),
        (Step::Reject, "reject", t("退回修改", "Send back"), true),
        (
            Step::Withdraw,
            "withdraw",
            t("撤销目录", "Withdraw the entry"),
            true,
        ),
    ]
    .into_iter()
    .filter(|(step, ..)| next_status(d.status, *step).is_ok())
    .filter(|(step, ..)| match step {
        Step::Submit | Step::Recall => authz::can_submit_entry(p, scope),
        Step::Approve | Step::Reject => authz::can_review_entry(p, scope),
        Step::Withdraw => authz::can_withdraw_entry(p, scope, d.published_at.is_some()),
        Step::Edit => false,
    })
    .map(|(_, step, label, note_required)| StepButton {
        step,
        label,
        note_required,
    })
    .collect()
}

async fn entry_page(
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
    let d = match s.app.working_dataset(p, id).await {
        Ok(d) => d,
        Err(e) => return error_page(ctx, &e),
    };
    let resources = s.app.list_resources(Some(p), id).await.unwrap_or_default();
    let scope = EntryScope {
        provider_org_id: d.provider.id,
        provider_region: &d.region_code,
    };
    let may_upload = authz::can_edit_entry(p, scope);
    let may_edit = may_upload && next_status(d.status, Step::Edit).is_ok();
    with_status(
        render(&EntryPage {
            ctx,
            steps: allowed_steps(p, &d, ctx.lang),
            may_edit,
            may_upload,
            resources,
            banner,
            d,
        }),
        status,
    )
}

async fn entry(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    q: Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    entry_page(&s, &ctx, id, Banner::from(&ctx, &q), StatusCode::OK).await
}

#[derive(Deserialize)]
struct StepForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    step: String,
    version: i64,
    #[serde(default)]
    note: String,
}

async fn step(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<StepForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let step = match f.step.as_str() {
        "submit" => Step::Submit,
        "recall" => Step::Recall,
        "approve" => Step::Approve,
        "reject" => Step::Reject,
        "withdraw" => Step::Withdraw,
        _ => return error_page(&ctx, &Error::not_found("操作", "Step")),
    };
    match s
        .app
        .step_dataset(p, id, f.version, step, Some(&f.note))
        .await
    {
        Ok(_) => done(format!("/console/datasets/{id}")),
        Err(e) => {
            let status = crate::error::status_of(e.code);
            let banner = Some(Banner {
                ok: false,
                text: crate::console::problem_text(&e, ctx.lang),
            });
            entry_page(&s, &ctx, id, banner, status).await
        }
    }
}

// --- uploads and their results ---------------------------------------------------------

async fn upload(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    mut multipart: Multipart,
) -> Response {
    let fail = |e: Error| {
        let status = crate::error::status_of(e.code);
        (status, e)
    };
    let result: Result<String, (StatusCode, Error)> = async {
        let mut principal = None;
        let (mut name, mut resource_id, mut sheet) = (None, None, None);
        let mut on_reject = OnReject::Hold;
        let mut file = None;
        while let Some(mut field) = multipart.next_field().await.map_err(|e| {
            fail(Error::new(
                ErrorCode::Validation,
                format!("无法读取上传内容：{e}"),
                format!("The upload could not be read: {e}"),
            ))
        })? {
            let field_name = field.name().unwrap_or("").to_owned();
            if field_name == "file" {
                // The token comes first in the form: nothing is stored for a forged post.
                if principal.is_none() {
                    return Err(fail(Error::new(
                        ErrorCode::Forbidden,
                        "缺少CSRF令牌，请刷新页面后重试",
                        "Missing CSRF token: reload the page and try again",
                    )));
                }
                let file_name = field.file_name().unwrap_or("upload").to_owned();
                let path = crate::data_api::receive_file(
                    &ctx,
                    &mut field,
                    &s.app.data.tmp_dir,
                    s.app.data.upload_limit,
                )
                .await
                .map_err(|e| fail(e.error))?;
                file = Some((path, file_name));
                continue;
            }
            let value = field.text().await.map_err(|_| {
                fail(Error::new(
                    ErrorCode::Validation,
                    "表单字段无法读取",
                    "A form field could not be read",
                ))
            })?;
            match field_name.as_str() {
                "_csrf" => {
                    let p = signed_in(&ctx).map_err(|_| fail(Error::unauthenticated()))?;
                    if !ctx.csrf.as_deref().is_some_and(|c| same_secret(c, &value)) {
                        return Err(fail(Error::new(
                            ErrorCode::Forbidden,
                            "缺少或错误的CSRF令牌，请刷新页面后重试",
                            "Missing or wrong CSRF token: reload the page and try again",
                        )));
                    }
                    principal = Some(p.clone());
                }
                "name" => name = Some(value).filter(|v| !v.trim().is_empty()),
                "resource_id" => resource_id = Some(value).filter(|v| !v.is_empty()),
                "sheet" => sheet = Some(value).filter(|v| !v.trim().is_empty()),
                "on_reject" => on_reject = OnReject::parse(&value).unwrap_or(OnReject::Hold),
                _ => {}
            }
        }
        let (Some(p), Some((path, file_name))) = (principal, file) else {
            return Err(fail(Error::new(
                ErrorCode::Validation,
                "请选择要上传的文件",
                "Choose a file to upload",
            )));
        };
        let upload = Upload {
            file: path.to_path_buf(),
            temp: Some(path),
            file_name,
            name,
            resource_id,
            sheet,
            on_reject,
        };
        let job = crate::data_api::start_upload(&s, &p, id, upload)
            .await
            .map_err(fail)?;
        let job_id = job.id;
        Ok(job_id)
    }
    .await;
    match result {
        Ok(job_id) => Redirect::to(&format!("/console/jobs/{job_id}")).into_response(),
        Err((status, e)) => {
            let banner = Some(Banner {
                ok: false,
                text: e.message(ctx.lang).to_owned(),
            });
            entry_page(&s, &ctx, id, banner, status).await
        }
    }
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage<'a> {
    ctx: &'a Ctx,
    j: JobView,
    finished: bool,
    banner: Option<Banner>,
}

impl JobPage<'_> {
    fn state_label(&self) -> &'static str {
        let (zh, en) = match self.j.state.as_str() {
            "queued" => ("排队中", "Queued"),
            "running" => ("处理中", "Running"),
            "needs_decision" => ("待决定", "Waiting for your decision"),
            "succeeded" => ("已完成", "Done"),
            "discarded" => ("已放弃", "Discarded"),
            _ => ("失败", "Failed"),
        };
        self.ctx.t(zh, en)
    }
}

async fn job(
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
    match s.app.job(p, &id).await {
        Ok(j) => render(&JobPage {
            ctx: &ctx,
            finished: !matches!(j.state.as_str(), "queued" | "running"),
            banner: Banner::from(&ctx, &q),
            j,
        }),
        Err(e) => error_page(&ctx, &e),
    }
}

#[derive(Deserialize)]
struct DecideForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    decision: String,
}

async fn decide(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<DecideForm>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.decide_job(p, &id, f.decision == "publish").await {
        Ok(_) => done(format!("/console/jobs/{id}")),
        Err(e) => error_page(&ctx, &e),
    }
}

// --- the caller's API tokens ---------------------------------------------------------

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage<'a> {
    ctx: &'a Ctx,
    banner: Option<Banner>,
    tokens: Vec<gongshu_app::auth::TokenView>,
    /// A token just made: its secret, shown on this answer only.
    new_token: Option<String>,
    base: String,
}

async fn tokens_page(
    s: &AppState,
    ctx: &Ctx,
    headers: &axum::http::HeaderMap,
    new_token: Option<String>,
    banner: Option<Banner>,
) -> Response {
    let p = match signed_in(ctx) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.my_tokens(p).await {
        Ok(tokens) => {
            let mut r = render(&TokensPage {
                ctx,
                banner,
                tokens,
                new_token,
                base: crate::pages::public_base(s, headers),
            });
            // The page with a secret on it is not kept by the browser or a proxy.
            r.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            r
        }
        Err(e) => error_page(ctx, &e),
    }
}

async fn tokens(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    q: Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    tokens_page(&s, &ctx, &headers, None, Banner::from(&ctx, &q)).await
}

async fn new_token(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    axum::Form(f): axum::Form<crate::console::CsrfOnly>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.issue_my_token(p).await {
        // Shown in the answer to the post itself, never behind a link.
        Ok((secret, _)) => tokens_page(&s, &ctx, &headers, Some(secret), None).await,
        Err(e) => error_page(&ctx, &e),
    }
}

async fn revoke_token(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<crate::console::CsrfOnly>,
) -> Response {
    let p = match checked(&ctx, &f.csrf) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match s.app.revoke_my_token(p, &id).await {
        Ok(()) => done("/console/tokens".into()),
        Err(e) => error_page(&ctx, &e),
    }
}
