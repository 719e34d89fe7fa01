//! Security incidents (数据安全事件: SD-EGOV §31, SD-BIGDATA §38, SX-BIGDATA §69-70,
//! 数据安全法 §29, 个人信息保护法 §57). The authority over a region records what happened
//! and which entries' data it touched; adds the measures taken, the reports made to the
//! authorities (网信部门, 公安机关, the supervising department), the notice to the people
//! affected, and a public warning where one is due; and closes it with a conclusion.
//! The providers of the touched entries are told at once and can read the record; the
//! evaluation counts incidents against them.

use chrono::NaiveDate;
use gongshu_core::authz::Principal;
use gongshu_core::calendar::china_date;
use gongshu_core::feedback::text_problem;
use gongshu_core::region::region_contains;
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{IncidentQuery, IncidentRow, NewEvent, NewIncident};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::views::PageView;
use crate::{App, Result, store_error};

/// 事件分级 (一般、较大、重大、特别重大).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    General,
    Larger,
    Major,
    EspeciallyMajor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// 泄露.
    Leak,
    /// 篡改.
    Tamper,
    /// 丢失或毁损.
    Loss,
    /// 网络攻击.
    Attack,
    /// 违规使用.
    Misuse,
    Other,
}

macro_rules! labelled {
    ($ty:ident { $($v:ident = $s:literal, $zh:literal, $en:literal;)* }) => {
        impl $ty {
            pub const ALL: &'static [Self] = &[$(Self::$v),*];
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)* _ => None }
            }
            pub fn label(self, zh: bool) -> &'static str {
                match (self, zh) { $((Self::$v, true) => $zh, (Self::$v, false) => $en,)* }
            }
        }
    };
}

labelled!(Severity {
    General = "general", "一般", "General";
    Larger = "larger", "较大", "Larger";
    Major = "major", "重大", "Major";
    EspeciallyMajor = "especially_major", "特别重大", "Especially major";
});

labelled!(IncidentKind {
    Leak = "leak", "数据泄露", "Leak";
    Tamper = "tamper", "数据篡改", "Tampering";
    Loss = "loss", "数据丢失或毁损", "Loss or destruction";
    Attack = "attack", "网络攻击", "Attack";
    Misuse = "misuse", "违规使用", "Misuse";
    Other = "other", "其他", "Other";
});

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentInput {
    /// The region whose authority records it.
    pub region_code: String,
    pub severity: Severity,
    pub kind: IncidentKind,
    pub title: String,
    pub occurred_on: NaiveDate,
    pub discovered_on: NaiveDate,
    pub description: String,
    /// What data was affected, in words (no personal data itself).
    #[serde(default)]
    pub affected_data: String,
    /// How many people the data concerns, as estimated.
    #[serde(default)]
    pub affected_people: Option<u64>,
    /// The catalog entries whose data it touched.
    #[serde(default)]
    pub dataset_ids: Vec<i64>,
}

/// What happened next. Each field present is added to the record; the record closes
/// when `conclusion` is given.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentUpdate {
    /// A measure taken (处置措施).
    #[serde(default)]
    pub measure: Option<String>,
    /// A report made to an authority.
    #[serde(default)]
    pub report: Option<IncidentReport>,
    /// The people affected were told, on this day, in this way.
    #[serde(default)]
    pub subjects_notified: Option<SubjectNotice>,
    /// A warning to the public (向社会发布的警示信息), shown on the portal.
    #[serde(default)]
    pub public_warning: Option<String>,
    /// Closes the record with its conclusion.
    #[serde(default)]
    pub conclusion: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentReport {
    /// To whom (e.g. 省委网信办, 公安机关, 主管部门).
    pub to: String,
    pub on: NaiveDate,
    /// The report's reference number, if any.
    #[serde(default)]
    pub reference: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectNotice {
    pub on: NaiveDate,
    /// How (SMS, letter, notice on the portal …).
    pub how: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Measure {
    pub on: NaiveDate,
    pub text: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct IncidentDoc {
    title: String,
    description: String,
    affected_data: String,
    affected_people: Option<u64>,
    measures: Vec<Measure>,
    reports: Vec<IncidentReport>,
    subjects_notified: Option<SubjectNotice>,
    public_warning: Option<String>,
    warning_on: Option<NaiveDate>,
    conclusion: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentDataset {
    pub id: i64,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentView {
    pub id: i64,
    pub region_code: String,
    pub severity: Severity,
    pub kind: IncidentKind,
    /// `open` or `closed`.
    pub state: String,
    pub title: String,
    pub occurred_on: NaiveDate,
    pub discovered_on: NaiveDate,
    pub description: String,
    pub affected_data: String,
    pub affected_people: Option<u64>,
    pub datasets: Vec<IncidentDataset>,
    pub measures: Vec<Measure>,
    pub reports: Vec<IncidentReport>,
    pub subjects_notified: Option<SubjectNotice>,
    pub public_warning: Option<String>,
    pub conclusion: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The caller may add to it.
    pub may_update: bool,
}

/// A public warning, as the portal shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SecurityNotice {
    pub id: i64,
    pub title: String,
    pub warning: String,
    pub on: Option<NaiveDate>,
}

fn required_text(field: &str, text: &str, max: usize, problems: &mut Vec<FieldError>) {
    problems.extend(text_problem(field, text, 1, max));
}

fn optional_text(field: &str, text: &str, max: usize, problems: &mut Vec<FieldError>) {
    if !text.trim().is_empty() {
        required_text(field, text, max, problems);
    }
}

fn not_after(today: NaiveDate, field: &str, day: NaiveDate, problems: &mut Vec<FieldError>) {
    if day > today {
        problems.push(FieldError::new(
            field,
            "range",
            "日期不能晚于今天",
            "the date cannot be after today",
        ));
    }
}

impl App {
    async fn reads_incident(&self, caller: &Principal, row: &IncidentRow) -> Result<bool> {
        if caller.oversees_region(&row.region_code) {
            return Ok(true);
        }
        let orgs = caller.provider_orgs();
        for id in &row.dataset_ids {
            if let Some(d) = self.store.get_dataset(*id).await.map_err(store_error)?
                && orgs.contains(&d.provider_id)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub async fn record_incident(
        &self,
        caller: &Principal,
        input: IncidentInput,
    ) -> Result<IncidentView> {
        self.known_region(&input.region_code).await?;
        if !caller.is_authority_over(&input.region_code) {
            return Err(Error::forbidden());
        }
        let mut problems = Vec::new();
        required_text("title", &input.title, 200, &mut problems);
        required_text("description", &input.description, 5000, &mut problems);
        optional_text("affected_data", &input.affected_data, 2000, &mut problems);
        let today = china_date(self.now());
        if input.occurred_on > input.discovered_on {
            problems.push(FieldError::new(
                "occurred_on",
                "range",
                "发生日期不能晚于发现日期",
                "it cannot occur after it was discovered",
            ));
        }
        not_after(today, "discovered_on", input.discovered_on, &mut problems);
        let mut ids = input.dataset_ids.clone();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() > 100 {
            problems.push(FieldError::new(
                "dataset_ids",
                "too_long",
                "最多关联100个目录",
                "at most 100 entries",
            ));
        }
        let mut providers = Vec::new();
        for (n, id) in ids.iter().enumerate() {
            match self.store.get_dataset(*id).await.map_err(store_error)? {
                Some(d) if region_contains(&input.region_code, &d.region_code) => {
                    providers.push(d.provider_id);
                }
                _ => problems.push(FieldError::new(
                    format!("dataset_ids[{n}]"),
                    "unknown",
                    "本地区没有该目录",
                    "no such entry in this region",
                )),
            }
        }
        if !problems.is_empty() {
            return Err(Error::validation(problems));
        }
        let doc = IncidentDoc {
            title: input.title.trim().to_owned(),
            description: input.description.trim().to_owned(),
            affected_data: input.affected_data.trim().to_owned(),
            affected_people: input.affected_people,
            ..IncidentDoc::default()
        };
        let text = serde_json::to_string(&doc).map_err(|_| Error::internal())?;
        let row = self
            .store
            .insert_incident(&NewIncident {
                region_code: &input.region_code,
                severity: input.severity.as_str(),
                kind: input.kind.as_str(),
                occurred_on: input.occurred_on,
                discovered_on: input.discovered_on,
                doc: &text,
                created_by: caller.user_id,
                at: self.now(),
                dataset_ids: &ids,
            })
            .await
            .map_err(store_error)?;
        providers.sort_unstable();
        providers.dedup();
        let mut to = self.authorities_over(&input.region_code).await?;
        for p in providers {
            to.extend(self.provider_admins(p).await?);
        }
        self.notify(
            &to,
            "incident_recorded",
            &format!(
                "数据安全事件（{}）：{}",
                input.severity.label(true),
                doc.title
            ),
            "请按应急预案处置，并在记录中补充处置措施。",
            &crate::links::incident(row.id),
        )
        .await?;
        self.incident_view(caller, &row).await
    }

    async fn incident_view(&self, caller: &Principal, row: &IncidentRow) -> Result<IncidentView> {
        let doc: IncidentDoc = serde_json::from_str(&row.doc).map_err(|_| Error::internal())?;
        let mut datasets = Vec::new();
        for id in &row.dataset_ids {
            if let Some(d) = self.store.get_dataset(*id).await.map_err(store_error)? {
                datasets.push(IncidentDataset {
                    id: d.id,
                    title: d.doc.title.clone(),
                });
            }
        }
        Ok(IncidentView {
            id: row.id,
            region_code: row.region_code.clone(),
            severity: Severity::parse(&row.severity).unwrap_or(Severity::General),
            kind: IncidentKind::parse(&row.kind).unwrap_or(IncidentKind::Other),
            state: row.state.clone(),
            title: doc.title,
            occurred_on: row.occurred_on,
            discovered_on: row.discovered_on,
            description: doc.description,
            affected_data: doc.affected_data,
            affected_people: doc.affected_people,
            datasets,
            measures: doc.measures,
            reports: doc.reports,
            subjects_notified: doc.subjects_notified,
            public_warning: doc.public_warning,
            conclusion: doc.conclusion,
            created_at: row.created_at,
            closed_at: row.closed_at,
            may_update: row.state == "open" && caller.is_authority_over(&row.region_code),
        })
    }

    async fn readable_incident(&self, caller: &Principal, id: i64) -> Result<IncidentRow> {
        let row = self
            .store
            .get_incident(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("安全事件", "incident"))?;
        if !self.reads_incident(caller, &row).await? {
            return Err(Error::not_found("安全事件", "incident"));
        }
        Ok(row)
    }

    pub async fn incident(&self, caller: &Principal, id: i64) -> Result<IncidentView> {
        let row = self.readable_incident(caller, id).await?;
        self.incident_view(caller, &row).await
    }

    /// Incidents in the regions the caller oversees, and those touching its providers'
    /// entries; newest first.
    pub async fn incidents(
        &self,
        caller: &Principal,
        page: i64,
        per_page: i64,
    ) -> Result<PageView<IncidentView>> {
        let limit = per_page.clamp(1, 100);
        let offset = (page.max(1) - 1) * limit;
        let found = self
            .store
            .list_incidents(&IncidentQuery {
                region_prefixes: caller
                    .oversight_regions()
                    .iter()
                    .map(|r| crate::applications::region_prefix_of(r))
                    .collect(),
                provider_ids: caller.provider_orgs(),
                limit,
                offset,
            })
            .await
            .map_err(store_error)?;
        let mut items = Vec::new();
        for row in &found.items {
            items.push(self.incident_view(caller, row).await?);
        }
        Ok(PageView {
            items,
            total: found.total,
            page: page.max(1),
            per_page: limit,
            facets: None,
            partial_match: false,
        })
    }

    pub async fn update_incident(
        &self,
        caller: &Principal,
        id: i64,
        update: IncidentUpdate,
    ) -> Result<IncidentView> {
        let mut row = self.readable_incident(caller, id).await?;
        if !caller.is_authority_over(&row.region_code) {
            return Err(Error::forbidden());
        }
        if row.state != "open" {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "该事件已结案",
                "this incident is closed",
            ));
        }
        let mut problems = Vec::new();
        let today = china_date(self.now());
        if let Some(m) = &update.measure {
            required_text("measure", m, 2000, &mut problems);
        }
        if let Some(r) = &update.report {
            required_text("report.to", &r.to, 200, &mut problems);
            optional_text("report.reference", &r.reference, 200, &mut problems);
            not_after(today, "report.on", r.on, &mut problems);
        }
        if let Some(n) = &update.subjects_notified {
            required_text("subjects_notified.how", &n.how, 500, &mut problems);
            not_after(today, "subjects_notified.on", n.on, &mut problems);
        }
        if let Some(w) = &update.public_warning {
            required_text("public_warning", w, 2000, &mut problems);
        }
        if let Some(c) = &update.conclusion {
            required_text("conclusion", c, 5000, &mut problems);
        }
        let empty = update.measure.is_none()
            && update.report.is_none()
            && update.subjects_notified.is_none()
            && update.public_warning.is_none()
            && update.conclusion.is_none();
        if empty {
            problems.push(FieldError::new(
                "measure",
                "required",
                "请至少填写一项",
                "give at least one thing to add",
            ));
        }
        if !problems.is_empty() {
            return Err(Error::validation(problems));
        }
        let mut doc: IncidentDoc = serde_json::from_str(&row.doc).map_err(|_| Error::internal())?;
        let mut actions = Vec::new();
        if let Some(m) = update.measure {
            doc.measures.push(Measure {
                on: today,
                text: m.trim().to_owned(),
            });
            actions.push("measure");
        }
        if let Some(r) = update.report {
            doc.reports.push(IncidentReport {
                to: r.to.trim().to_owned(),
                on: r.on,
                reference: r.reference.trim().to_owned(),
            });
            actions.push("reported");
        }
        if let Some(n) = update.subjects_notified {
            doc.subjects_notified = Some(SubjectNotice {
                on: n.on,
                how: n.how.trim().to_owned(),
            });
            actions.push("subjects_notified");
        }
        if let Some(w) = update.public_warning {
            doc.public_warning = Some(w.trim().to_owned());
            doc.warning_on = Some(today);
            actions.push("public_warning");
        }
        if let Some(c) = update.conclusion {
            doc.conclusion = Some(c.trim().to_owned());
            row.state = "closed".to_owned();
            row.closed_at = Some(self.now());
            actions.push("closed");
        }
        row.doc = serde_json::to_string(&doc).map_err(|_| Error::internal())?;
        let object_id = id.to_string();
        let saved = self
            .store
            .save_incident(
                &row,
                &NewEvent {
                    at: self.now(),
                    actor_id: Some(caller.user_id),
                    object_type: "incident",
                    object_id: &object_id,
                    action: if actions.contains(&"closed") {
                        "closed"
                    } else {
                        "updated"
                    },
                    reason: "",
                    detail: serde_json::json!({ "added": actions }).to_string(),
                },
            )
            .await
            .map_err(store_error)?;
        self.incident_view(caller, &saved).await
    }

    /// Public warnings about incidents, newest first (SX-BIGDATA §70, 网络安全法 §55).
    pub async fn security_notices(&self) -> Result<Vec<SecurityNotice>> {
        let page = self
            .store
            .list_incidents(&IncidentQuery {
                region_prefixes: vec![String::new()],
                provider_ids: vec![],
                limit: 500,
                offset: 0,
            })
            .await
            .map_err(store_error)?;
        Ok(page
            .items
            .iter()
            .filter_map(|row| {
                let doc: IncidentDoc = serde_json::from_str(&row.doc).ok()?;
                Some(SecurityNotice {
                    id: row.id,
                    title: doc.title,
                    warning: doc.public_warning?,
                    on: doc.warning_on,
                })
            })
            .take(50)
            .collect())
    }
}
