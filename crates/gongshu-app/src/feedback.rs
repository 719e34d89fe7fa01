//! Citizens talk back (issue 8, requirements R5.5, R5.6, R8.3).
//!
//! - **Objections** (异议/纠错, SD-OPEN §13, SD-BIGDATA §18, SX-BIGDATA §27) on a published
//!   entry, one of its resources, a row or a data item. The provider answers within
//!   `Settings::feedback_days` working days, linking the correcting version when there
//!   is one; the reporter may re-open once. A report of infringed privacy or secrets goes
//!   to the authority at once, and the provider or the authority may withhold the
//!   entry's data until the authority has reviewed it.
//! - **Demands** (开放需求, SD-OPEN §12, §20(二)) for data not yet open, routed to a
//!   provider (by the requester, or by the authority), answered within the same
//!   deadline: will open (by a date), already open, open on conditions, or cannot (with
//!   the legal basis). Public demands and their answers are the supply-and-demand list
//!   (供需对接, R8.3).
//! - **Ratings** of entries.
//!
//! Every piece of public text passes `gongshu_core::feedback::text_problem`, and each
//! person may file a bounded number of cases a day: a provider's inbox is not a spam
//! folder.

use chrono::{DateTime, NaiveDate, Utc};
use gongshu_core::authz::{EntryScope, Principal, can_edit_entry, can_review_entry};
use gongshu_core::calendar::china_date;
use gongshu_core::feedback::{DemandAnswerKind, ObjectionKind, text_problem};
use gongshu_core::types::OrgKind;
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{
    CaseType, FeedbackQuery, FeedbackRow, NewEvent, NewFeedback, PublishedRow, StoreError,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use object_store::ObjectStoreExt as _;

use crate::applications::region_prefix_of;
use crate::views::{EventView, PageView};
use crate::{App, Result, store_error};

/// Cases one person may file in 24 hours, of each type.
pub const DAILY_CASES: usize = 10;
/// Largest evidence file.
pub const EVIDENCE_LIMIT: usize = 10 * 1024 * 1024;

// ---- wire types ---------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectionInput {
    pub dataset_id: i64,
    /// The resource (table or file) concerned, if one.
    pub resource_id: Option<String>,
    /// The row concerned: its number (`_row`) or its key as the reporter sees it.
    pub row: Option<String>,
    /// The data item (column) concerned, by name.
    pub item: Option<String>,
    pub kind: ObjectionKind,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    pub name: String,
    pub content_type: String,
    pub bytes: u64,
    pub sha256: String,
}

/// The objection's own document, stored with the case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ObjectionDoc {
    kind: Option<ObjectionKind>,
    description: String,
    resource_id: Option<String>,
    row: Option<String>,
    item: Option<String>,
    evidence: Option<Evidence>,
    reply: Option<String>,
    correcting_version: Option<i64>,
    answered_by: Option<i64>,
    reopen_reason: Option<String>,
    reopened: bool,
    offline_reason: Option<String>,
    review_note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ObjectionView {
    pub id: i64,
    pub dataset_id: i64,
    pub dataset_title: String,
    pub provider_id: i64,
    pub kind: ObjectionKind,
    pub description: String,
    pub resource_id: Option<String>,
    pub row: Option<String>,
    pub item: Option<String>,
    /// `open`, `answered` or `reopened`.
    pub state: String,
    #[schema(value_type = Option<String>, format = Date)]
    pub received_on: Option<NaiveDate>,
    #[schema(value_type = Option<String>, format = Date)]
    pub due_on: Option<NaiveDate>,
    pub overdue: bool,
    pub reply: Option<String>,
    /// The version of the resource that corrects what was reported.
    pub correcting_version: Option<i64>,
    #[schema(value_type = Option<String>, format = Date)]
    pub answered_on: Option<NaiveDate>,
    pub reopened: bool,
    pub reopen_reason: Option<String>,
    /// The entry's data is withheld pending the authority's review.
    pub offline: bool,
    pub offline_reason: Option<String>,
    pub review_note: Option<String>,
    pub evidence: Option<Evidence>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ObjectionDetail {
    #[serde(flatten)]
    pub objection: ObjectionView,
    pub history: Vec<EventView>,
    pub may_reply: bool,
    pub may_reopen: bool,
    pub may_add_evidence: bool,
    pub may_take_offline: bool,
    pub may_restore: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectionReply {
    pub reply: String,
    /// The resource version that corrects the data, if one was published.
    pub correcting_version: Option<i64>,
}

/// A reason (re-opening, withholding) or a review's note.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemandInput {
    /// What data is wanted.
    pub title: String,
    pub description: String,
    /// What it is for.
    pub purpose: String,
    /// The provider, when the requester knows it.
    pub provider_id: Option<i64>,
    /// A provider named in words, for the authority to route by.
    pub provider_hint: Option<String>,
    /// The region whose authority routes the demand (the province when unset).
    pub region_code: Option<String>,
    /// Shown on the public board (default: yes).
    pub public: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemandAnswer {
    pub kind: DemandAnswerKind,
    /// The answer in words: what will be opened, how to apply, why not.
    pub text: String,
    /// For `will_open`: by when.
    #[schema(value_type = Option<String>, format = Date)]
    pub open_by: Option<NaiveDate>,
    /// For `already_open` and `conditional`: the entry that answers the demand.
    pub dataset_id: Option<i64>,
    /// For `cannot`: the law or rule that keeps the data closed.
    pub legal_basis: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DemandDoc {
    title: String,
    description: String,
    purpose: String,
    provider_hint: Option<String>,
    answer: Option<DemandAnswer>,
    answered_by: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DemandView {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub purpose: String,
    pub provider_id: Option<i64>,
    pub provider_name: Option<String>,
    pub provider_hint: Option<String>,
    pub region_code: String,
    /// `routing` (the authority picks a provider), `open` or `answered`.
    pub state: String,
    pub public: bool,
    #[schema(value_type = Option<String>, format = Date)]
    pub due_on: Option<NaiveDate>,
    pub overdue: bool,
    pub answer: Option<DemandAnswer>,
    /// The answering entry's title, for the supply-and-demand list.
    pub answer_dataset_title: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub answered_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DemandDetail {
    #[serde(flatten)]
    pub demand: DemandView,
    /// For participants (the requester, the provider, the authority); empty otherwise.
    pub history: Vec<EventView>,
    pub may_route: bool,
    pub may_answer: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteInput {
    pub provider_id: i64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingInput {
    /// 1 to 5.
    pub stars: i64,
}

/// What the public may know of an entry's feedback.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedbackSummary {
    pub objections: i64,
    pub objections_answered: i64,
    pub ratings: i64,
    pub rating_average: Option<f64>,
    /// The caller's own rating.
    pub own_rating: Option<i64>,
    /// The entry's data is withheld pending review of an infringement report.
    pub offline: bool,
}

/// Which cases a list shows.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CaseFilter {
    pub state: Option<String>,
    pub dataset_id: Option<i64>,
    /// Words in the text.
    pub q: Option<String>,
    /// Only the caller's own.
    pub mine: Option<bool>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

// ---- helpers ------------------------------------------------------------------------

fn entry_scope(provider_id: i64, region: &str) -> EntryScope<'_> {
    EntryScope {
        provider_org_id: provider_id,
        provider_region: region,
    }
}

fn case_scope(row: &FeedbackRow) -> Option<EntryScope<'_>> {
    row.provider_id.map(|p| entry_scope(p, &row.region_code))
}

pub(crate) fn bad_doc(e: serde_json::Error) -> Error {
    tracing::error!(error = %e, "a feedback document is unreadable");
    Error::internal()
}

pub(crate) fn moved_on(state: &str) -> Error {
    Error::new(
        ErrorCode::InvalidState,
        format!("当前状态为“{state}”，不能执行此操作"),
        format!("The case is {state}: this action is not possible now"),
    )
}

fn conflict(e: StoreError) -> Error {
    match e {
        StoreError::VersionConflict => Error::version_conflict(),
        other => store_error(other),
    }
}

pub(crate) fn checked(errors: &mut Vec<FieldError>, problem: Option<FieldError>) {
    errors.extend(problem);
}

pub(crate) fn optional_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    text: Option<&str>,
    max: usize,
) -> Option<String> {
    let text = text.map(str::trim).filter(|t| !t.is_empty())?;
    checked(errors, text_problem(field, text, 1, max));
    Some(text.to_owned())
}

fn page_of(filter: &CaseFilter) -> (i64, i64) {
    let per_page = filter.per_page.unwrap_or(20).clamp(1, 100);
    let page = filter.page.unwrap_or(1).max(1);
    (page, per_page)
}

/// The list of cases a caller reads: their own; unless `mine`, also those of the
/// providers they act for and the regions they oversee, and with `public`, the public
/// ones. The filter's page becomes the query's window.
pub(crate) fn case_query(
    caller: Option<&Principal>,
    case: CaseType,
    filter: &CaseFilter,
    public: bool,
) -> FeedbackQuery {
    let (page, per_page) = page_of(filter);
    let mine = filter.mine.unwrap_or(false);
    let others = caller.filter(|_| !mine);
    FeedbackQuery {
        case_type: Some(case),
        author: caller.map(|p| p.user_id),
        provider_ids: others.map(Principal::provider_orgs).unwrap_or_default(),
        region_prefixes: others
            .map(|p| {
                p.oversight_regions()
                    .iter()
                    .map(|r| region_prefix_of(r))
                    .collect()
            })
            .unwrap_or_default(),
        public: public && !mine,
        dataset: filter.dataset_id,
        // An empty choice in a form's filter is no filter.
        states: filter
            .state
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect(),
        q: filter.q.clone(),
        limit: per_page,
        offset: (page - 1) * per_page,
    }
}

/// A page of cases as the API shows it.
pub(crate) fn case_page_view<T>(items: Vec<T>, total: i64, query: &FeedbackQuery) -> PageView<T> {
    PageView {
        items,
        total,
        page: query.offset / query.limit.max(1) + 1,
        per_page: query.limit,
        facets: None,
        partial_match: false,
    }
}

impl App {
    /// Saves a case's change with its event, if nobody changed the case meanwhile.
    pub(crate) async fn save_case(
        &self,
        caller: &Principal,
        row: &FeedbackRow,
        action: &str,
        reason: &str,
        detail: serde_json::Value,
    ) -> Result<FeedbackRow> {
        let id = row.id.to_string();
        let event = NewEvent {
            at: self.now(),
            actor_id: Some(caller.user_id),
            object_type: row.case_type.as_str(),
            object_id: &id,
            action,
            reason,
            detail: detail.to_string(),
        };
        self.store
            .save_feedback(row, &event)
            .await
            .map_err(conflict)
    }

    /// Refuses a person's case past the day's allowance, or the same text filed again.
    pub(crate) async fn check_allowance(
        &self,
        caller: &Principal,
        case: CaseType,
        text: &str,
    ) -> Result<()> {
        let recent = self
            .store
            .list_feedback(&FeedbackQuery {
                case_type: Some(case),
                author: Some(caller.user_id),
                limit: DAILY_CASES as i64,
                ..FeedbackQuery::default()
            })
            .await
            .map_err(store_error)?;
        let since = self.now() - chrono::Duration::hours(24);
        let today: Vec<&FeedbackRow> = recent
            .items
            .iter()
            .filter(|r| r.created_at > since)
            .collect();
        if today.len() >= DAILY_CASES {
            let oldest = today.last().map_or(since, |r| r.created_at);
            let wait = (oldest - since).num_seconds().max(60) as u64;
            return Err(Error::rate_limited(
                wait,
                format!("每人每天最多提交{DAILY_CASES}件，请明天再试"),
                format!("At most {DAILY_CASES} a day per person: please try again tomorrow"),
            ));
        }
        // Every kind of case keeps its main text as `description`; the same text is a
        // duplicate, a shorter text that an earlier one happens to contain is not.
        let same_text = |r: &FeedbackRow| {
            serde_json::from_str::<serde_json::Value>(&r.doc)
                .is_ok_and(|doc| doc["description"].as_str().map(str::trim) == Some(text.trim()))
        };
        if today.iter().any(|r| same_text(r)) {
            return Err(Error::validation(vec![FieldError::new(
                "description",
                "duplicate",
                "您今天已提交过相同内容",
                "You filed the same text today already",
            )]));
        }
        Ok(())
    }

    /// A published entry the public may see, or "not found".
    pub(crate) async fn public_entry(&self, id: i64) -> Result<PublishedRow> {
        self.store
            .get_published(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("信息资源", "Dataset"))
    }

    // ---- objections -----------------------------------------------------------------

    fn objection_view(&self, row: &FeedbackRow, title: String) -> Result<ObjectionView> {
        let doc: ObjectionDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        let waiting = matches!(row.state.as_str(), "open" | "reopened");
        Ok(ObjectionView {
            id: row.id,
            dataset_id: row.dataset_id.unwrap_or_default(),
            dataset_title: title,
            provider_id: row.provider_id.unwrap_or_default(),
            kind: doc.kind.unwrap_or(ObjectionKind::Other),
            description: doc.description,
            resource_id: doc.resource_id,
            row: doc.row,
            item: doc.item,
            state: row.state.clone(),
            received_on: row.received_on,
            due_on: row.due_on,
            overdue: waiting && row.due_on.is_some_and(|d| china_date(self.now()) > d),
            reply: doc.reply,
            correcting_version: doc.correcting_version,
            answered_on: row.answered_on,
            reopened: doc.reopened,
            reopen_reason: doc.reopen_reason,
            offline: row.offline,
            offline_reason: doc.offline_reason,
            review_note: doc.review_note,
            evidence: doc.evidence,
            created_at: row.created_at,
        })
    }

    async fn title_of(&self, dataset_id: Option<i64>) -> Result<String> {
        let Some(id) = dataset_id else {
            return Ok(String::new());
        };
        Ok(
            match self.store.get_published(id).await.map_err(store_error)? {
                Some(p) => p.doc.title,
                None => self
                    .store
                    .get_dataset(id)
                    .await
                    .map_err(store_error)?
                    .map(|d| d.doc.title)
                    .unwrap_or_default(),
            },
        )
    }

    /// Anyone signed in reports a problem with a published entry. An infringement
    /// report goes to the authority over the provider's region at once.
    pub async fn file_objection(
        &self,
        caller: &Principal,
        input: ObjectionInput,
    ) -> Result<ObjectionView> {
        let entry = self.public_entry(input.dataset_id).await?;
        let mut e = Vec::new();
        checked(
            &mut e,
            text_problem("description", &input.description, 5, 4000),
        );
        let row = optional_text(&mut e, "row", input.row.as_deref(), 200);
        let item = optional_text(&mut e, "item", input.item.as_deref(), 200);
        if let Some(item) = &item
            && !entry.doc.items.iter().any(|i| &i.name == item)
        {
            e.push(FieldError::new(
                "item",
                "unknown",
                "该数据项不在此目录中",
                "This entry has no such data item",
            ));
        }
        let resource_id = input
            .resource_id
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if let Some(r) = resource_id {
            let found = self.store.get_resource(r).await.map_err(store_error)?;
            if found.is_none_or(|r| r.dataset_id != entry.id || r.current_version.is_none()) {
                e.push(FieldError::new(
                    "resource_id",
                    "unknown",
                    "该资源不属于此目录",
                    "This resource does not belong to the entry",
                ));
            }
        }
        if !e.is_empty() {
            return Err(Error::validation(e));
        }
        let description = input.description.trim().to_owned();
        self.check_allowance(caller, CaseType::Objection, &description)
            .await?;
        let today = china_date(self.now());
        let due = self.deadline(today, self.settings.feedback_days).await?;
        let doc = ObjectionDoc {
            kind: Some(input.kind),
            description,
            resource_id: resource_id.map(str::to_owned),
            row,
            item,
            ..ObjectionDoc::default()
        };
        let doc = serde_json::to_string(&doc).map_err(bad_doc)?;
        let created = self
            .store
            .insert_feedback(&NewFeedback {
                case_type: CaseType::Objection,
                dataset_id: Some(entry.id),
                provider_id: Some(entry.provider_id),
                region_code: &entry.region_code,
                author_id: caller.user_id,
                state: "open",
                public: false,
                received_on: Some(today),
                due_on: Some(due.deadline),
                due_provisional: due.provisional,
                doc: &doc,
                at: self.now(),
            })
            .await
            .map_err(store_error)?;
        let title = &entry.doc.title;
        let mut to = self.provider_admins(entry.provider_id).await?;
        let (kind, subject) = if input.kind == ObjectionKind::Infringement {
            to.extend(self.authorities_over(&entry.region_code).await?);
            (
                "objection_infringement",
                format!("收到侵权举报，请立即核查：{title}"),
            )
        } else {
            ("objection_received", format!("收到数据异议：{title}"))
        };
        self.notify(
            &to,
            kind,
            &subject,
            &format!(
                "第 {} 号异议（{}）请于 {} 前处理并答复。",
                created.id,
                input.kind.label_zh(),
                due.deadline
            ),
            &crate::links::objection(created.id),
        )
        .await?;
        self.objection_view(&created, entry.doc.title)
    }

    async fn visible_objection(&self, caller: &Principal, id: i64) -> Result<FeedbackRow> {
        let not_found = || Error::not_found("异议", "Objection");
        let row = self
            .store
            .get_feedback(id)
            .await
            .map_err(store_error)?
            .filter(|r| r.case_type == CaseType::Objection)
            .ok_or_else(not_found)?;
        let staff =
            case_scope(&row).is_some_and(|s| gongshu_core::authz::can_view_working_copy(caller, s));
        if row.author_id == caller.user_id || staff {
            Ok(row)
        } else {
            Err(not_found())
        }
    }

    pub async fn objection(&self, caller: &Principal, id: i64) -> Result<ObjectionDetail> {
        let row = self.visible_objection(caller, id).await?;
        let scope = case_scope(&row);
        let doc: ObjectionDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        let waiting = matches!(row.state.as_str(), "open" | "reopened");
        let provider = scope.is_some_and(|s| can_edit_entry(caller, s));
        let authority = scope.is_some_and(|s| can_review_entry(caller, s));
        Ok(ObjectionDetail {
            may_reply: waiting && provider,
            may_reopen: row.state == "answered" && !doc.reopened && row.author_id == caller.user_id,
            may_add_evidence: waiting && row.author_id == caller.user_id && doc.evidence.is_none(),
            may_take_offline: !row.offline
                && doc.kind == Some(ObjectionKind::Infringement)
                && (provider || authority),
            may_restore: row.offline && authority,
            history: self.history("objection", id).await?,
            objection: self.objection_view(&row, self.title_of(row.dataset_id).await?)?,
        })
    }

    /// The caller's own objections, and those of the entries the caller provides or
    /// oversees.
    pub async fn objections(
        &self,
        caller: &Principal,
        filter: &CaseFilter,
    ) -> Result<PageView<ObjectionView>> {
        self.case_page(caller, CaseType::Objection, filter, |app, row, title| {
            app.objection_view(row, title)
        })
        .await
    }

    async fn case_page<T>(
        &self,
        caller: &Principal,
        case: CaseType,
        filter: &CaseFilter,
        view: impl Fn(&Self, &FeedbackRow, String) -> Result<T>,
    ) -> Result<PageView<T>> {
        let query = case_query(Some(caller), case, filter, false);
        let rows = self
            .store
            .list_feedback(&query)
            .await
            .map_err(store_error)?;
        let mut items = Vec::with_capacity(rows.items.len());
        for row in &rows.items {
            items.push(view(self, row, self.title_of(row.dataset_id).await?)?);
        }
        Ok(case_page_view(items, rows.total, &query))
    }

    /// The reporter adds one evidence file while the objection waits.
    pub async fn add_objection_evidence(
        &self,
        caller: &Principal,
        id: i64,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<ObjectionView> {
        let mut row = self.visible_objection(caller, id).await?;
        let mut doc: ObjectionDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        if row.author_id != caller.user_id {
            return Err(Error::forbidden());
        }
        if !matches!(row.state.as_str(), "open" | "reopened") || doc.evidence.is_some() {
            return Err(moved_on(&row.state));
        }
        if bytes.len() > EVIDENCE_LIMIT {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                "证明材料不能超过 10 MiB",
                "Evidence is at most 10 MiB",
            ));
        }
        let Some(content_type) = evidence_type(&bytes) else {
            return Err(Error::validation(vec![FieldError::new(
                "evidence",
                "type",
                "证明材料须为 PDF、PNG、JPEG 图片或 UTF-8 文本",
                "Evidence is a PDF, a PNG or JPEG image, or UTF-8 text",
            )]));
        };
        let name: String = name
            .chars()
            .filter(|c| !c.is_control() && !matches!(c, '/' | '\\'))
            .take(120)
            .collect();
        let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        let evidence = Evidence {
            name: if name.trim().is_empty() {
                "evidence".into()
            } else {
                name
            },
            content_type: content_type.to_owned(),
            bytes: bytes.len() as u64,
            sha256,
        };
        // The file first: a case never names evidence that is not stored.
        self.data
            .versions
            .store()
            .put(&evidence_path(id), bytes.into())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "evidence not stored");
                Error::internal()
            })?;
        doc.evidence = Some(evidence.clone());
        row.doc = serde_json::to_string(&doc).map_err(bad_doc)?;
        let detail = serde_json::json!({ "evidence": evidence });
        let saved = self.save_case(caller, &row, "evidence", "", detail).await?;
        self.objection_view(&saved, self.title_of(saved.dataset_id).await?)
    }

    /// The evidence file, for the reporter, the provider and the authority.
    pub async fn objection_evidence(
        &self,
        caller: &Principal,
        id: i64,
    ) -> Result<(Evidence, Vec<u8>)> {
        let row = self.visible_objection(caller, id).await?;
        let doc: ObjectionDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        let evidence = doc
            .evidence
            .ok_or_else(|| Error::not_found("证明材料", "Evidence"))?;
        let bytes = self
            .data
            .versions
            .store()
            .get(&evidence_path(id))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "evidence unreadable");
                Error::internal()
            })?
            .bytes()
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "evidence unreadable");
                Error::internal()
            })?;
        Ok((evidence, bytes.to_vec()))
    }

    /// The provider answers, naming the correcting version when there is one; the
    /// reporter is told.
    pub async fn reply_objection(
        &self,
        caller: &Principal,
        id: i64,
        input: ObjectionReply,
    ) -> Result<ObjectionView> {
        let mut row = self.visible_objection(caller, id).await?;
        if !case_scope(&row).is_some_and(|s| can_edit_entry(caller, s)) {
            return Err(Error::forbidden());
        }
        if !matches!(row.state.as_str(), "open" | "reopened") {
            return Err(moved_on(&row.state));
        }
        let mut e = Vec::new();
        checked(&mut e, text_problem("reply", &input.reply, 2, 4000));
        let mut doc: ObjectionDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        if let Some(v) = input.correcting_version {
            let resource = match &doc.resource_id {
                Some(r) => self.store.get_resource(r).await.map_err(store_error)?,
                None => None,
            };
            if resource.is_none_or(|r| r.current_version.is_none_or(|c| v < 1 || v > c)) {
                e.push(FieldError::new(
                    "correcting_version",
                    "unknown",
                    "所报资源没有这个已发布的版本",
                    "The reported resource has no such published version",
                ));
            }
        }
        if !e.is_empty() {
            return Err(Error::validation(e));
        }
        doc.reply = Some(input.reply.trim().to_owned());
        doc.correcting_version = input.correcting_version;
        doc.answered_by = Some(caller.user_id);
        row.state = "answered".into();
        row.answered_on = Some(china_date(self.now()));
        row.doc = serde_json::to_string(&doc).map_err(bad_doc)?;
        let detail = serde_json::json!({ "correcting_version": input.correcting_version });
        let reply = doc.reply.clone().unwrap_or_default();
        let saved = self
            .save_case(caller, &row, "answered", &reply, detail)
            .await?;
        let title = self.title_of(saved.dataset_id).await?;
        self.notify(
            &[saved.author_id],
            "objection_answered",
            &format!("您的异议已答复：{title}"),
            &format!("第 {id} 号异议的答复：{reply}"),
            &crate::links::objection(id),
        )
        .await?;
        self.objection_view(&saved, title)
    }

    /// The reporter, not satisfied, re-opens an answered objection once; it gets a new
    /// deadline.
    pub async fn reopen_objection(
        &self,
        caller: &Principal,
        id: i64,
        input: ReasonInput,
    ) -> Result<ObjectionView> {
        let mut row = self.visible_objection(caller, id).await?;
        let mut doc: ObjectionDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        if row.author_id != caller.user_id {
            return Err(Error::forbidden());
        }
        if row.state != "answered" || doc.reopened {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "只能对已答复的异议重新提出一次",
                "An answered objection may be re-opened once",
            ));
        }
        if let Some(p) = text_problem("reason", &input.reason, 5, 4000) {
            return Err(Error::validation(vec![p]));
        }
        let today = china_date(self.now());
        let due = self.deadline(today, self.settings.feedback_days).await?;
        doc.reopened = true;
        doc.reopen_reason = Some(input.reason.trim().to_owned());
        row.state = "reopened".into();
        row.received_on = Some(today);
        row.due_on = Some(due.deadline);
        row.due_provisional = due.provisional;
        row.answered_on = None;
        row.doc = serde_json::to_string(&doc).map_err(bad_doc)?;
        let reason = input.reason.trim();
        let detail = serde_json::json!({ "due_on": due.deadline });
        let saved = self
            .save_case(caller, &row, "reopened", reason, detail)
            .await?;
        if let Some(provider) = saved.provider_id {
            let to = self.provider_admins(provider).await?;
            self.notify(
                &to,
                "objection_reopened",
                "异议被重新提出",
                &format!(
                    "第 {id} 号异议的提出人对答复有异议，请于 {} 前再次处理：{reason}",
                    due.deadline
                ),
                &crate::links::objection(id),
            )
            .await?;
        }
        self.objection_view(&saved, self.title_of(saved.dataset_id).await?)
    }

    /// The provider or the authority withholds the entry's data while an infringement
    /// report is reviewed. Everyone but the provider's own staff is refused its data
    /// from the next request; the metadata stays visible, saying why.
    pub async fn take_offline(
        &self,
        caller: &Principal,
        id: i64,
        input: ReasonInput,
    ) -> Result<ObjectionView> {
        let mut row = self.visible_objection(caller, id).await?;
        let scope = case_scope(&row);
        if !scope.is_some_and(|s| can_edit_entry(caller, s) || can_review_entry(caller, s)) {
            return Err(Error::forbidden());
        }
        let mut doc: ObjectionDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        if doc.kind != Some(ObjectionKind::Infringement) || row.offline {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "只有尚未下线的侵权举报可以暂停提供数据",
                "Only an infringement report not yet acted on can withhold the data",
            ));
        }
        if let Some(p) = text_problem("reason", &input.reason, 2, 2000) {
            return Err(Error::validation(vec![p]));
        }
        doc.offline_reason = Some(input.reason.trim().to_owned());
        row.offline = true;
        row.doc = serde_json::to_string(&doc).map_err(bad_doc)?;
        let reason = input.reason.trim();
        let detail = serde_json::json!({ "dataset_id": row.dataset_id });
        let saved = self
            .save_case(caller, &row, "offline", reason, detail)
            .await?;
        let mut to = self.authorities_over(&saved.region_code).await?;
        if let Some(p) = saved.provider_id {
            to.extend(self.provider_admins(p).await?);
        }
        self.notify(
            &to,
            "objection_offline",
            "数据已暂停提供，待主管部门审核",
            &format!("因第 {id} 号侵权举报，该目录的数据暂停提供：{reason}"),
            &crate::links::objection(id),
        )
        .await?;
        self.objection_view(&saved, self.title_of(saved.dataset_id).await?)
    }

    /// The authority ends the review: the data is provided again (with its note on
    /// what was found or changed).
    pub async fn restore_online(
        &self,
        caller: &Principal,
        id: i64,
        input: ReasonInput,
    ) -> Result<ObjectionView> {
        let mut row = self.visible_objection(caller, id).await?;
        if !case_scope(&row).is_some_and(|s| can_review_entry(caller, s)) {
            return Err(Error::forbidden());
        }
        if !row.offline {
            return Err(moved_on(&row.state));
        }
        if let Some(p) = text_problem("reason", &input.reason, 2, 2000) {
            return Err(Error::validation(vec![p]));
        }
        let mut doc: ObjectionDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        doc.review_note = Some(input.reason.trim().to_owned());
        row.offline = false;
        row.doc = serde_json::to_string(&doc).map_err(bad_doc)?;
        let reason = input.reason.trim();
        let detail = serde_json::json!({ "dataset_id": row.dataset_id });
        let saved = self
            .save_case(caller, &row, "restored", reason, detail)
            .await?;
        let mut to = vec![saved.author_id];
        if let Some(p) = saved.provider_id {
            to.extend(self.provider_admins(p).await?);
        }
        self.notify(
            &to,
            "objection_restored",
            "审核完成，数据恢复提供",
            &format!("第 {id} 号侵权举报已审核：{reason}"),
            &crate::links::objection(id),
        )
        .await?;
        self.objection_view(&saved, self.title_of(saved.dataset_id).await?)
    }

    /// Whether an infringement report withholds the entry's data; read through the
    /// gate's cache.
    pub(crate) async fn entry_offline(
        &self,
        at: crate::catalog_cache::Generation,
        dataset_id: i64,
    ) -> Result<bool> {
        self.catalog_cache
            .get_or_load(at, crate::catalog_cache::Key::Offline(dataset_id), async {
                self.store
                    .dataset_offline(dataset_id)
                    .await
                    .map_err(store_error)
            })
            .await
    }

    /// What anyone may know of an entry's feedback.
    pub async fn feedback_summary(
        &self,
        caller: Option<&Principal>,
        dataset_id: i64,
    ) -> Result<FeedbackSummary> {
        let entry = self.public_entry(dataset_id).await?;
        let (objections, objections_answered) = self
            .store
            .objection_counts(entry.id)
            .await
            .map_err(store_error)?;
        let (n, sum, own) = self
            .store
            .rating_summary(entry.id, caller.map(|p| p.user_id))
            .await
            .map_err(store_error)?;
        Ok(FeedbackSummary {
            objections,
            objections_answered,
            ratings: n,
            rating_average: (n > 0).then(|| (sum as f64 / n as f64 * 10.0).round() / 10.0),
            own_rating: own,
            offline: self
                .store
                .dataset_offline(entry.id)
                .await
                .map_err(store_error)?,
        })
    }

    /// A signed-in user rates a published entry (again, to change it).
    pub async fn rate(
        &self,
        caller: &Principal,
        dataset_id: i64,
        input: RatingInput,
    ) -> Result<FeedbackSummary> {
        let entry = self.public_entry(dataset_id).await?;
        if !(1..=5).contains(&input.stars) {
            return Err(Error::validation(vec![FieldError::new(
                "stars",
                "range",
                "评分为1至5星",
                "A rating is 1 to 5 stars",
            )]));
        }
        self.store
            .put_rating(entry.id, caller.user_id, input.stars, self.now())
            .await
            .map_err(store_error)?;
        self.feedback_summary(Some(caller), entry.id).await
    }

    // ---- demands --------------------------------------------------------------------

    async fn demand_view(&self, row: &FeedbackRow) -> Result<DemandView> {
        let doc: DemandDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        let provider_name = match row.provider_id {
            Some(id) => self
                .store
                .get_org(id)
                .await
                .map_err(store_error)?
                .map(|o| o.name),
            None => None,
        };
        let answer_dataset_title = match doc.answer.as_ref().and_then(|a| a.dataset_id) {
            Some(id) => self
                .store
                .get_published(id)
                .await
                .map_err(store_error)?
                .map(|p| p.doc.title),
            None => None,
        };
        let waiting = row.state == "open";
        Ok(DemandView {
            id: row.id,
            title: doc.title,
            description: doc.description,
            purpose: doc.purpose,
            provider_id: row.provider_id,
            provider_name,
            provider_hint: doc.provider_hint,
            region_code: row.region_code.clone(),
            state: row.state.clone(),
            public: row.public,
            due_on: row.due_on,
            overdue: waiting && row.due_on.is_some_and(|d| china_date(self.now()) > d),
            answer: doc.answer,
            answer_dataset_title,
            answered_on: row.answered_on,
            created_at: row.created_at,
        })
    }

    /// Where a demand naming no provider goes: the highest region with an authority on
    /// this platform (the province's big-data bureau on a province's platform).
    pub(crate) async fn root_region(&self) -> Result<String> {
        let authorities = self
            .store
            .list_orgs(&gongshu_store::OrgFilter {
                region_prefix: None,
                kind: Some(OrgKind::Authority),
            })
            .await
            .map_err(store_error)?;
        authorities
            .iter()
            .map(|o| o.region_code.clone())
            .min_by_key(|code| code.trim_end_matches('0').len())
            .ok_or_else(|| Error::not_found("大数据工作主管部门", "Authority"))
    }

    /// Anyone signed in asks for data not yet open. Named to a provider, the demand
    /// waits for its answer; otherwise the authority of the region picks one first.
    pub async fn file_demand(&self, caller: &Principal, input: DemandInput) -> Result<DemandView> {
        let mut e = Vec::new();
        checked(&mut e, text_problem("title", &input.title, 2, 200));
        checked(
            &mut e,
            text_problem("description", &input.description, 5, 4000),
        );
        checked(&mut e, text_problem("purpose", &input.purpose, 2, 2000));
        let hint = optional_text(&mut e, "provider_hint", input.provider_hint.as_deref(), 200);
        let provider = match input.provider_id {
            Some(id) => {
                let org = self
                    .store
                    .get_org(id)
                    .await
                    .map_err(store_error)?
                    .filter(|o| o.kind == OrgKind::Provider);
                if org.is_none() {
                    e.push(FieldError::new(
                        "provider_id",
                        "unknown",
                        "没有这个提供单位",
                        "There is no such provider",
                    ));
                }
                org
            }
            None => None,
        };
        let region = match (&provider, input.region_code.as_deref()) {
            (Some(org), _) => org.region_code.clone(),
            (None, Some(code)) => {
                if self
                    .store
                    .get_region(code)
                    .await
                    .map_err(store_error)?
                    .is_none()
                {
                    e.push(FieldError::new(
                        "region_code",
                        "unknown",
                        "没有这个行政区划",
                        "There is no such region",
                    ));
                }
                code.to_owned()
            }
            (None, None) => self.root_region().await?,
        };
        if !e.is_empty() {
            return Err(Error::validation(e));
        }
        self.check_allowance(caller, CaseType::Demand, input.description.trim())
            .await?;
        let today = china_date(self.now());
        let due = match &provider {
            Some(_) => Some(self.deadline(today, self.settings.feedback_days).await?),
            None => None,
        };
        let doc = DemandDoc {
            title: input.title.trim().to_owned(),
            description: input.description.trim().to_owned(),
            purpose: input.purpose.trim().to_owned(),
            provider_hint: hint,
            ..DemandDoc::default()
        };
        let doc = serde_json::to_string(&doc).map_err(bad_doc)?;
        let created = self
            .store
            .insert_feedback(&NewFeedback {
                case_type: CaseType::Demand,
                dataset_id: None,
                provider_id: provider.as_ref().map(|o| o.id),
                region_code: &region,
                author_id: caller.user_id,
                state: if provider.is_some() {
                    "open"
                } else {
                    "routing"
                },
                public: input.public.unwrap_or(true),
                received_on: Some(today),
                due_on: due.as_ref().map(|d| d.deadline),
                due_provisional: due.as_ref().is_some_and(|d| d.provisional),
                doc: &doc,
                at: self.now(),
            })
            .await
            .map_err(store_error)?;
        self.announce_demand(&created, input.title.trim()).await?;
        self.demand_view(&created).await
    }

    /// Tells whoever must act on a demand now: its provider, or the authority that
    /// routes it.
    async fn announce_demand(&self, row: &FeedbackRow, title: &str) -> Result<()> {
        let id = row.id;
        match (row.provider_id, row.due_on) {
            (Some(provider), Some(due)) => {
                let to = self.provider_admins(provider).await?;
                self.notify(
                    &to,
                    "demand_received",
                    &format!("收到数据开放需求：{title}"),
                    &format!("第 {id} 号开放需求请于 {due} 前答复。"),
                    &crate::links::demand(id),
                )
                .await
            }
            _ => {
                let to = self.authorities_over(&row.region_code).await?;
                self.notify(
                    &to,
                    "demand_routing",
                    &format!("开放需求待分派：{title}"),
                    &format!("第 {id} 号开放需求未指明提供单位，请指定提供单位。"),
                    &crate::links::demand(id),
                )
                .await
            }
        }
    }

    fn may_see_demand(&self, caller: Option<&Principal>, row: &FeedbackRow) -> bool {
        row.public
            || caller.is_some_and(|p| {
                p.user_id == row.author_id
                    || case_scope(row)
                        .is_some_and(|s| gongshu_core::authz::can_view_working_copy(p, s))
                    || p.oversight_regions()
                        .iter()
                        .any(|r| gongshu_core::region::region_contains(r, &row.region_code))
            })
    }

    async fn visible_demand(&self, caller: Option<&Principal>, id: i64) -> Result<FeedbackRow> {
        let not_found = || Error::not_found("开放需求", "Demand");
        let row = self
            .store
            .get_feedback(id)
            .await
            .map_err(store_error)?
            .filter(|r| r.case_type == CaseType::Demand)
            .ok_or_else(not_found)?;
        if self.may_see_demand(caller, &row) {
            Ok(row)
        } else {
            Err(not_found())
        }
    }

    fn routes_demand(caller: &Principal, row: &FeedbackRow) -> bool {
        caller.is_authority_over(&row.region_code)
    }

    pub async fn demand(&self, caller: Option<&Principal>, id: i64) -> Result<DemandDetail> {
        let row = self.visible_demand(caller, id).await?;
        let participant = caller.is_some_and(|p| {
            p.user_id == row.author_id
                || Self::routes_demand(p, &row)
                || case_scope(&row)
                    .is_some_and(|s| gongshu_core::authz::can_view_working_copy(p, s))
        });
        Ok(DemandDetail {
            may_route: row.state == "routing"
                && caller.is_some_and(|p| Self::routes_demand(p, &row)),
            may_answer: row.state == "open"
                && caller.is_some_and(|p| case_scope(&row).is_some_and(|s| can_edit_entry(p, s))),
            history: if participant {
                self.history("demand", id).await?
            } else {
                Vec::new()
            },
            demand: self.demand_view(&row).await?,
        })
    }

    /// The public board (public demands), with the caller's own and, for providers and
    /// authorities, the demands addressed to them.
    pub async fn demands(
        &self,
        caller: Option<&Principal>,
        filter: &CaseFilter,
    ) -> Result<PageView<DemandView>> {
        let query = case_query(caller, CaseType::Demand, filter, true);
        let rows = self
            .store
            .list_feedback(&query)
            .await
            .map_err(store_error)?;
        let mut items = Vec::with_capacity(rows.items.len());
        for row in &rows.items {
            items.push(self.demand_view(row).await?);
        }
        Ok(case_page_view(items, rows.total, &query))
    }

    /// The authority picks the provider a demand goes to; its deadline starts.
    pub async fn route_demand(
        &self,
        caller: &Principal,
        id: i64,
        input: RouteInput,
    ) -> Result<DemandView> {
        let mut row = self.visible_demand(Some(caller), id).await?;
        if !Self::routes_demand(caller, &row) {
            return Err(Error::forbidden());
        }
        if row.state != "routing" {
            return Err(moved_on(&row.state));
        }
        let org = self
            .store
            .get_org(input.provider_id)
            .await
            .map_err(store_error)?
            .filter(|o| o.kind == OrgKind::Provider)
            .ok_or_else(|| Error::not_found("提供单位", "Provider"))?;
        let today = china_date(self.now());
        let due = self.deadline(today, self.settings.feedback_days).await?;
        row.provider_id = Some(org.id);
        row.region_code = org.region_code.clone();
        row.state = "open".into();
        row.received_on = Some(today);
        row.due_on = Some(due.deadline);
        row.due_provisional = due.provisional;
        let detail = serde_json::json!({ "provider_id": org.id, "due_on": due.deadline });
        let saved = self.save_case(caller, &row, "routed", "", detail).await?;
        let doc: DemandDoc = serde_json::from_str(&saved.doc).map_err(bad_doc)?;
        self.announce_demand(&saved, &doc.title).await?;
        self.demand_view(&saved).await
    }

    /// The provider answers a demand; the requester is told, and a public demand's
    /// answer joins the supply-and-demand list.
    pub async fn answer_demand(
        &self,
        caller: &Principal,
        id: i64,
        answer: DemandAnswer,
    ) -> Result<DemandView> {
        let mut row = self.visible_demand(Some(caller), id).await?;
        let Some(provider) = row
            .provider_id
            .filter(|_| case_scope(&row).is_some_and(|s| can_edit_entry(caller, s)))
        else {
            return Err(Error::forbidden());
        };
        if row.state != "open" {
            return Err(moved_on(&row.state));
        }
        let mut e = Vec::new();
        checked(&mut e, text_problem("text", &answer.text, 2, 4000));
        let today = china_date(self.now());
        match answer.kind {
            DemandAnswerKind::WillOpen => {
                if answer.open_by.is_none_or(|d| d < today) {
                    e.push(FieldError::new(
                        "open_by",
                        "required",
                        "请给出不早于今天的开放日期",
                        "Give the date by which it will be open, today or later",
                    ));
                }
            }
            DemandAnswerKind::AlreadyOpen | DemandAnswerKind::Conditional => {
                let entry = match answer.dataset_id {
                    Some(d) => self.store.get_published(d).await.map_err(store_error)?,
                    None => None,
                };
                if entry.is_none() {
                    e.push(FieldError::new(
                        "dataset_id",
                        "required",
                        "请指明回应该需求的已发布目录",
                        "Name the published entry that answers the demand",
                    ));
                }
            }
            DemandAnswerKind::Cannot => {
                let basis = answer.legal_basis.as_deref().unwrap_or("");
                checked(&mut e, text_problem("legal_basis", basis, 2, 1000));
            }
        }
        if !e.is_empty() {
            return Err(Error::validation(e));
        }
        let mut doc: DemandDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        let answer = DemandAnswer {
            text: answer.text.trim().to_owned(),
            legal_basis: answer
                .legal_basis
                .map(|b| b.trim().to_owned())
                .filter(|b| !b.is_empty()),
            ..answer
        };
        doc.answer = Some(answer.clone());
        doc.answered_by = Some(caller.user_id);
        row.state = "answered".into();
        row.answered_on = Some(today);
        row.dataset_id = answer.dataset_id;
        row.doc = serde_json::to_string(&doc).map_err(bad_doc)?;
        let detail = serde_json::json!({ "answer": answer, "provider_id": provider });
        let saved = self
            .save_case(caller, &row, "answered", &answer.text, detail)
            .await?;
        self.notify(
            &[saved.author_id],
            "demand_answered",
            &format!("您的开放需求已答复：{}", doc.title),
            &format!("{}：{}", answer.kind.label_zh(), answer.text),
            &crate::links::demand(id),
        )
        .await?;
        self.demand_view(&saved).await
    }

    /// Reminders and escalations of objections and demands waiting past or near their
    /// deadline: (reminders, escalations).
    pub(crate) async fn send_feedback_notices(
        &self,
        calendar: &gongshu_core::calendar::Calendar,
        today: NaiveDate,
    ) -> Result<(usize, usize)> {
        let mut sent = (0, 0);
        for row in self.store.waiting_feedback().await.map_err(store_error)? {
            let id = row.id;
            let outcome: Result<()> = async {
                let Some(provider) = row.provider_id else {
                    return Ok(());
                };
                let Some((due, overdue)) = self
                    .claim_notice(
                        calendar,
                        today,
                        gongshu_store::DeadlineOf::Feedback,
                        id,
                        row.due_on,
                    )
                    .await?
                else {
                    return Ok(());
                };
                let (what, link) = match row.case_type {
                    CaseType::Demand => ("开放需求", crate::links::demand(id)),
                    _ => ("异议", crate::links::objection(id)),
                };
                let mut to = self.provider_admins(provider).await?;
                let kind = if overdue {
                    to.extend(self.authorities_over(&row.region_code).await?);
                    sent.1 += 1;
                    format!("{}_overdue", row.case_type.as_str())
                } else {
                    sent.0 += 1;
                    format!("{}_due_soon", row.case_type.as_str())
                };
                let subject = if overdue {
                    format!("{what}答复已逾期")
                } else {
                    format!("{what}即将到期")
                };
                self.notify(
                    &to,
                    &kind,
                    &subject,
                    &format!("第 {id} 号{what}应于 {due} 前答复。"),
                    &link,
                )
                .await
            }
            .await;
            if let Err(e) = outcome {
                tracing::warn!(item = id, error = %e.message_en, "deadline notice not sent");
            }
        }
        Ok(sent)
    }
}

/// The key a case's evidence is stored under.
fn evidence_path(id: i64) -> object_store::path::Path {
    object_store::path::Path::from(format!("feedback/{id}/evidence"))
}

/// The media type of an evidence file, from its first bytes; `None` for anything not
/// accepted. What a browser will be served back is what was sniffed, never what the
/// uploader claimed.
pub(crate) fn evidence_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if !bytes.is_empty() && std::str::from_utf8(bytes).is_ok_and(|t| !t.contains('\0')) {
        Some("text/plain; charset=utf-8")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_is_recognised_by_its_bytes() {
        assert_eq!(evidence_type(b"%PDF-1.7 ..."), Some("application/pdf"));
        assert_eq!(evidence_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(evidence_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(
            evidence_type("截图说明".as_bytes()),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(evidence_type(b"<svg onload=alert(1)>\0"), None);
        assert_eq!(evidence_type(b"MZ\x90\x00\x03"), None);
        assert_eq!(evidence_type(b""), None);
    }
}
