//! Harvesting (采集, SD-OPEN §7: the open-data channels a region already runs are merged
//! into the unified platform). A source is another catalog — a CKAN portal, a DCAT
//! catalog in Turtle, JSON-LD or RDF/XML, or another Gongshu — read on a schedule into
//! one provider's catalog. Each remote record becomes one local entry, found again by
//! its remote id on every later run (`harvest_records`), so a re-run never makes a
//! duplicate; a record whose content did not change is left alone; a record that left
//! its source is withdrawn here; what could not be taken is reported per record and the
//! rest of the run goes on. A run is claimed on the source's row, so among several nodes
//! exactly one runs it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use gongshu_core::authz::{self, Principal};
use gongshu_core::catalog::{Category, DatasetDraft};
use gongshu_core::types::{
    DatasetStatus, Domain, Grade, OpenType, OrgKind, ResourceFormat, ShareMethod, ShareType,
    UpdateCycle,
};
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{
    DatasetChange, HarvestClaim, HarvestRecordRow, HarvestRunRow, HarvestSourceRow, NewDataset,
    NewEvent, Publication,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::{App, Result, store_error};

/// The most a source's answers may weigh, each (a page of a listing, a DCAT document).
const MAX_DOCUMENT_BYTES: usize = 64 << 20;
/// The most records one run takes from a source.
const MAX_RECORDS: usize = 100_000;
/// The most pages a run follows.
const MAX_PAGES: usize = 2_000;
/// The most problems a report keeps word for word (all are counted).
const MAX_PROBLEMS: usize = 1_000;
/// A run that has not finished after this long is taken as dead (its node stopped).
const STALE_RUN_HOURS: i64 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A CKAN portal, through its Action API v3 (`package_search`).
    Ckan,
    /// A DCAT catalog (DCAT-AP), in Turtle, JSON-LD or RDF/XML, paged with Hydra.
    Dcat,
    /// Another Gongshu platform, through its catalog API (`/api/v1/datasets`).
    Gongshu,
    /// A member platform of this province's federation, which pushes its catalog
    /// (`federation.rs`); never registered or run as a harvest source.
    Federation,
}

impl SourceKind {
    /// The kinds a harvest source may be registered as.
    pub const ALL: &'static [Self] = &[Self::Ckan, Self::Dcat, Self::Gongshu];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ckan => "ckan",
            Self::Dcat => "dcat",
            Self::Gongshu => "gongshu",
            Self::Federation => "federation",
        }
    }

    pub fn label(self, lang: impl std::borrow::Borrow<gongshu_core::error::Lang>) -> &'static str {
        let zh = matches!(lang.borrow(), gongshu_core::error::Lang::Zh);
        match (self, zh) {
            (Self::Ckan, _) => "CKAN",
            (Self::Dcat, true) => "DCAT 目录",
            (Self::Dcat, false) => "DCAT catalog",
            (Self::Gongshu, true) => "公数平台",
            (Self::Gongshu, false) => "Gongshu platform",
            (Self::Federation, true) => "下级平台",
            (Self::Federation, false) => "Member platform",
        }
    }
}

/// What a source's records lack and the catalog requires: the entries' category (which
/// decides their codes), domains, grade and, when the source says nothing, update cycle,
/// licence and contact. A Gongshu source carries its own and ignores these but the
/// category of records that have none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HarvestDefaults {
    pub category: Category,
    #[serde(default)]
    pub domains: Vec<Domain>,
    #[serde(default = "general1")]
    pub grade: Grade,
    #[serde(default = "irregular")]
    pub update_cycle: UpdateCycle,
    #[serde(default)]
    pub license: String,
    #[serde(default)]
    pub contact: String,
}

fn general1() -> Grade {
    Grade::General1
}

fn irregular() -> UpdateCycle {
    UpdateCycle::Irregular
}

/// A source as an authority writes it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HarvestSourceInput {
    pub name: String,
    pub kind: SourceKind,
    /// The source's address: a CKAN site's root, a DCAT document, a Gongshu site's root.
    pub url: String,
    /// The provider whose catalog the entries join.
    pub provider_id: i64,
    /// Hours between scheduled runs (1 to 720).
    #[serde(default = "daily")]
    pub interval_hours: i64,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub defaults: HarvestDefaults,
}

fn daily() -> i64 {
    24
}

fn yes() -> bool {
    true
}

/// What the store keeps of a source as its `doc`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SourceDoc {
    name: String,
    kind: SourceKind,
    url: String,
    interval_hours: i64,
    defaults: HarvestDefaults,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HarvestSourceView {
    pub id: i64,
    pub name: String,
    pub kind: SourceKind,
    pub url: String,
    pub provider_id: i64,
    pub provider_name: String,
    pub interval_hours: i64,
    pub enabled: bool,
    pub next_run_at: DateTime<Utc>,
    pub running: bool,
    pub defaults: HarvestDefaults,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<HarvestRunView>,
}

/// One record a run could not take, and why.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct HarvestProblem {
    pub remote_id: String,
    pub title: String,
    pub message_zh: String,
    pub message_en: String,
}

/// A run's report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct HarvestReport {
    /// Records the source listed.
    pub fetched: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub withdrawn: usize,
    /// Records that could not be taken (each in `problems`, up to 1000).
    pub errors: usize,
    #[serde(default)]
    pub problems: Vec<HarvestProblem>,
    /// Why the whole run failed (the source could not be read); nothing was withdrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HarvestRunView {
    pub id: i64,
    pub source_id: i64,
    /// `running`, `finished` or `failed`.
    pub state: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub report: HarvestReport,
}

/// Where a harvested entry came from, shown on its page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HarvestOrigin {
    pub source_id: i64,
    pub source_name: String,
    pub kind: SourceKind,
    /// The record's page at its source.
    #[serde(default)]
    pub landing_url: Option<String>,
    /// The source's own download addresses.
    #[serde(default)]
    pub downloads: Vec<RemoteDownload>,
    /// When the source last changed the record, as it says.
    #[serde(default)]
    pub modified: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemoteDownload {
    pub name: String,
    pub url: String,
    pub format: String,
}

/// A remote record turned into a draft, with what the source said of its addresses.
#[derive(Debug, Clone)]
pub(crate) struct RemoteRecord {
    pub(crate) remote_id: String,
    pub(crate) draft: DatasetDraft,
    /// The code the entry keeps (a federation member's); `None` lets the store assign one.
    pub(crate) code: Option<String>,
    pub(crate) landing_url: Option<String>,
    pub(crate) downloads: Vec<RemoteDownload>,
    pub(crate) modified: Option<String>,
}

/// What the store keeps per record besides its entry: the addresses, for the entry's page.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordDoc {
    #[serde(default)]
    landing_url: Option<String>,
    #[serde(default)]
    downloads: Vec<RemoteDownload>,
    #[serde(default)]
    modified: Option<String>,
}

pub(crate) enum Outcome {
    Created,
    Updated,
    Unchanged,
}

fn invalid(field: &str, code: &'static str, zh: &str, en: &str) -> Error {
    Error::validation(vec![FieldError::new(field, code, zh, en)])
}

pub(crate) fn problem(r: &RemoteRecord, e: &Error) -> HarvestProblem {
    let detail = |zh: bool| {
        e.fields
            .iter()
            .map(|f| {
                let m = if zh { &f.message_zh } else { &f.message_en };
                format!("{}: {m}", f.field)
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let join = |head: &str, tail: String| {
        if tail.is_empty() {
            head.to_owned()
        } else {
            format!("{head} ({tail})")
        }
    };
    HarvestProblem {
        remote_id: r.remote_id.clone(),
        title: r.draft.title.clone(),
        message_zh: join(&e.message_zh, detail(true)),
        message_en: join(&e.message_en, detail(false)),
    }
}

pub(crate) fn source_doc_json(
    name: &str,
    kind: SourceKind,
    url: &str,
    defaults: HarvestDefaults,
) -> Result<String> {
    serde_json::to_string(&SourceDoc {
        name: name.to_owned(),
        kind,
        url: url.to_owned(),
        interval_hours: 24,
        defaults,
    })
    .map_err(|_| Error::internal())
}

fn source_doc(row: &HarvestSourceRow) -> Result<SourceDoc> {
    serde_json::from_str(&row.doc).map_err(|e| {
        tracing::error!(source = row.id, error = %e, "a harvest source's settings do not parse");
        Error::internal()
    })
}

fn report_of(run: &HarvestRunRow) -> HarvestReport {
    serde_json::from_str(&run.doc).unwrap_or_default()
}

fn run_view(run: HarvestRunRow) -> HarvestRunView {
    HarvestRunView {
        report: report_of(&run),
        id: run.id,
        source_id: run.source_id,
        state: run.state,
        started_at: run.started_at,
        finished_at: run.finished_at,
    }
}

/// An address a page may link to: http or https only, so a source cannot plant a
/// `javascript:` link on an entry's page.
pub(crate) fn web_url(raw: &str) -> Option<String> {
    let u = url::Url::parse(raw.trim()).ok()?;
    (matches!(u.scheme(), "http" | "https") && u.as_str().len() <= 2000).then(|| u.to_string())
}

/// The part of a text before `max` characters, for titles and summaries of records that
/// run on.
fn clip(s: &str, max: usize) -> String {
    s.trim().chars().take(max).collect()
}

fn check_input(input: &HarvestSourceInput) -> Result<()> {
    let mut errors = Vec::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new(
            "name",
            "length",
            "名称须为1至100个字符",
            "the name must have 1 to 100 characters",
        ));
    }
    match url::Url::parse(input.url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => errors.push(FieldError::new(
            "url",
            "format",
            "地址须为 http 或 https 网址",
            "the address must be an http or https URL",
        )),
    }
    if input.kind == SourceKind::Federation {
        errors.push(FieldError::new(
            "kind",
            "federation",
            "下级平台通过联邦注册接入，不作为采集源登记",
            "member platforms join through federation, not as harvest sources",
        ));
    }
    if !(1..=720).contains(&input.interval_hours) {
        errors.push(FieldError::new(
            "interval_hours",
            "range",
            "采集间隔须为1至720小时",
            "the interval must be 1 to 720 hours",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(errors))
    }
}

impl App {
    async fn harvest_provider(
        &self,
        caller: &Principal,
        provider_id: i64,
    ) -> Result<gongshu_store::OrgRow> {
        let provider = self
            .store
            .get_org(provider_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                invalid(
                    "provider_id",
                    "unknown",
                    "没有这个提供单位",
                    "no such provider",
                )
            })?;
        if !authz::can_manage_orgs_in(caller, &provider.region_code) {
            return Err(Error::forbidden());
        }
        if provider.kind != OrgKind::Provider {
            return Err(invalid(
                "provider_id",
                "kind",
                "采集的目录须归入一个提供单位",
                "harvested entries must join a provider's catalog",
            ));
        }
        Ok(provider)
    }

    /// The source, if the caller may manage it (its provider is in the caller's region).
    async fn managed_source(&self, caller: &Principal, id: i64) -> Result<HarvestSourceRow> {
        let row = self
            .store
            .get_harvest_source(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("采集源", "Harvest source"))?;
        // A federation member's source is managed as the member, not here.
        let provider = self
            .source_provider(&row)
            .await?
            .ok_or_else(|| Error::not_found("采集源", "Harvest source"))?;
        if !authz::can_manage_orgs_in(caller, &provider.region_code) {
            return Err(Error::not_found("采集源", "Harvest source"));
        }
        Ok(row)
    }

    async fn source_provider(
        &self,
        row: &HarvestSourceRow,
    ) -> Result<Option<gongshu_store::OrgRow>> {
        match row.provider_id {
            Some(id) => self.store.get_org(id).await.map_err(store_error),
            None => Ok(None),
        }
    }

    async fn source_view(&self, row: HarvestSourceRow) -> Result<HarvestSourceView> {
        let doc = source_doc(&row)?;
        let provider = self.source_provider(&row).await?;
        let provider_name = provider.map(|o| o.name).unwrap_or_default();
        let last_run = self
            .store
            .list_harvest_runs(row.id, 1)
            .await
            .map_err(store_error)?
            .pop()
            .map(run_view);
        Ok(HarvestSourceView {
            id: row.id,
            name: doc.name,
            kind: doc.kind,
            url: doc.url,
            provider_id: row.provider_id.unwrap_or_default(),
            provider_name,
            interval_hours: doc.interval_hours,
            enabled: row.enabled,
            next_run_at: row.next_run_at,
            running: row.running_run.is_some(),
            defaults: doc.defaults,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_run,
        })
    }

    fn source_settings(input: &HarvestSourceInput) -> Result<String> {
        let doc = SourceDoc {
            name: input.name.trim().to_owned(),
            kind: input.kind,
            url: input.url.trim().to_owned(),
            interval_hours: input.interval_hours,
            defaults: input.defaults.clone(),
        };
        serde_json::to_string(&doc).map_err(|_| Error::internal())
    }

    /// Registers a source; its first scheduled run is due at once.
    pub async fn create_harvest_source(
        &self,
        caller: &Principal,
        input: HarvestSourceInput,
    ) -> Result<HarvestSourceView> {
        check_input(&input)?;
        let provider = self.harvest_provider(caller, input.provider_id).await?;
        let now = self.now();
        let row = self
            .store
            .insert_harvest_source(
                Some(provider.id),
                &Self::source_settings(&input)?,
                input.enabled,
                now,
                Some(caller.user_id),
                now,
            )
            .await
            .map_err(store_error)?;
        self.harvest_event(caller.user_id, row.id, "created", &input.name)
            .await?;
        self.source_view(row).await
    }

    /// Replaces a source's settings if it is still at `version`.
    pub async fn update_harvest_source(
        &self,
        caller: &Principal,
        id: i64,
        version: i64,
        input: HarvestSourceInput,
    ) -> Result<HarvestSourceView> {
        let current = self.managed_source(caller, id).await?;
        check_input(&input)?;
        let provider = self.harvest_provider(caller, input.provider_id).await?;
        let old = source_doc(&current)?;
        // A new interval counts from now, not from the last run.
        let next_run_at = if old.interval_hours == input.interval_hours {
            current.next_run_at
        } else {
            self.now() + chrono::Duration::hours(input.interval_hours)
        };
        let row = self
            .store
            .update_harvest_source(
                id,
                version,
                provider.id,
                &Self::source_settings(&input)?,
                input.enabled,
                next_run_at,
                self.now(),
            )
            .await
            .map_err(store_error)?;
        self.harvest_event(caller.user_id, id, "updated", &input.name)
            .await?;
        self.source_view(row).await
    }

    async fn harvest_event(
        &self,
        actor: i64,
        source_id: i64,
        action: &str,
        detail: &str,
    ) -> Result<()> {
        self.store
            .insert_event(&NewEvent {
                at: self.now(),
                actor_id: Some(actor),
                object_type: "harvest_source",
                object_id: &source_id.to_string(),
                action,
                reason: "",
                detail: serde_json::json!({ "name": detail }).to_string(),
            })
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// The sources the caller manages.
    pub async fn harvest_sources(&self, caller: &Principal) -> Result<Vec<HarvestSourceView>> {
        let rows = self
            .store
            .list_harvest_sources()
            .await
            .map_err(store_error)?;
        let mut out = Vec::new();
        for row in rows {
            let Some(provider) = self.source_provider(&row).await? else {
                continue;
            };
            if authz::can_manage_orgs_in(caller, &provider.region_code) {
                out.push(self.source_view(row).await?);
            }
        }
        Ok(out)
    }

    pub async fn harvest_source(&self, caller: &Principal, id: i64) -> Result<HarvestSourceView> {
        let row = self.managed_source(caller, id).await?;
        self.source_view(row).await
    }

    /// A source's last 50 runs, newest first.
    pub async fn harvest_runs(&self, caller: &Principal, id: i64) -> Result<Vec<HarvestRunView>> {
        self.managed_source(caller, id).await?;
        Ok(self
            .store
            .list_harvest_runs(id, 50)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(run_view)
            .collect())
    }

    pub async fn harvest_run(&self, caller: &Principal, run_id: i64) -> Result<HarvestRunView> {
        let run = self
            .store
            .get_harvest_run(run_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("采集记录", "Harvest run"))?;
        self.managed_source(caller, run.source_id).await?;
        Ok(run_view(run))
    }

    /// Starts a run now, in the background, unless one is under way (409).
    pub async fn start_harvest(&self, caller: &Principal, id: i64) -> Result<HarvestRunView> {
        let source = self.managed_source(caller, id).await?;
        let doc = source_doc(&source)?;
        let now = self.now();
        let claim = HarvestClaim {
            source_id: id,
            due_at: None,
            stale_before: now - chrono::Duration::hours(STALE_RUN_HOURS),
            next_run_at: now + chrono::Duration::hours(doc.interval_hours),
            at: now,
        };
        let run_id = self
            .store
            .claim_harvest_source(&claim)
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidState,
                    "该采集源正在采集",
                    "This source is being harvested already",
                )
            })?;
        let app = self.clone();
        tokio::spawn(async move { app.execute_harvest(id, run_id).await });
        let run = self
            .store
            .get_harvest_run(run_id)
            .await
            .map_err(store_error)?
            .ok_or_else(Error::internal)?;
        Ok(run_view(run))
    }

    /// Runs every source that is due, one after another; how many ran here. A source
    /// another node claimed first is skipped.
    pub async fn harvest_due(&self) -> Result<usize> {
        let now = self.now();
        let due = self
            .store
            .due_harvest_sources(now)
            .await
            .map_err(store_error)?;
        let mut ran = 0;
        for id in due {
            let Some(source) = self
                .store
                .get_harvest_source(id)
                .await
                .map_err(store_error)?
            else {
                continue;
            };
            let doc = source_doc(&source)?;
            let now = self.now();
            let claim = HarvestClaim {
                source_id: id,
                due_at: Some(now),
                stale_before: now - chrono::Duration::hours(STALE_RUN_HOURS),
                next_run_at: now + chrono::Duration::hours(doc.interval_hours),
                at: now,
            };
            if let Some(run_id) = self
                .store
                .claim_harvest_source(&claim)
                .await
                .map_err(store_error)?
            {
                self.execute_harvest(id, run_id).await;
                ran += 1;
            }
        }
        Ok(ran)
    }

    /// Runs the schedule every `period`.
    pub fn spawn_harvest_scheduler(self, period: std::time::Duration) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                match self.harvest_due().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(sources = n, "harvest sources run"),
                    Err(e) => tracing::warn!(error = %e.message_en, "scheduled harvest failed"),
                }
            }
        });
    }

    /// Where a harvested entry came from, if it was harvested.
    pub async fn harvest_origin(&self, dataset_id: i64) -> Result<Option<HarvestOrigin>> {
        let Some(record) = self
            .store
            .harvest_record_of(dataset_id)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let Some(source) = self
            .store
            .get_harvest_source(record.source_id)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let doc = source_doc(&source)?;
        let rec: RecordDoc = serde_json::from_str(&record.doc).unwrap_or(RecordDoc {
            landing_url: None,
            downloads: Vec::new(),
            modified: None,
        });
        Ok(Some(HarvestOrigin {
            source_id: source.id,
            source_name: doc.name,
            kind: doc.kind,
            landing_url: rec.landing_url,
            downloads: rec.downloads,
            modified: rec.modified,
        }))
    }

    /// Runs a claimed run to its end and records its report; never fails (a failure is
    /// the report's).
    async fn execute_harvest(&self, source_id: i64, run_id: i64) {
        let report = match self.harvest_once(source_id).await {
            Ok(report) => report,
            Err(e) => HarvestReport {
                failure: Some(e.message_zh.clone()),
                ..HarvestReport::default()
            },
        };
        let failed = report.failure.is_some();
        tracing::info!(
            source = source_id,
            run = run_id,
            created = report.created,
            updated = report.updated,
            unchanged = report.unchanged,
            withdrawn = report.withdrawn,
            errors = report.errors,
            failed,
            "harvest run ended"
        );
        let doc = serde_json::to_string(&report).unwrap_or_else(|_| "{}".into());
        if let Err(e) = self
            .store
            .finish_harvest_run(run_id, failed, &doc, self.now())
            .await
        {
            tracing::error!(run = run_id, error = %e, "a harvest run's report was not recorded");
        }
        let event = NewEvent {
            at: self.now(),
            actor_id: None,
            object_type: "harvest_source",
            object_id: &source_id.to_string(),
            action: if failed { "run_failed" } else { "run_finished" },
            reason: "",
            detail: serde_json::json!({
                "run": run_id,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "withdrawn": report.withdrawn,
                "errors": report.errors,
            })
            .to_string(),
        };
        if let Err(e) = self.store.insert_event(&event).await {
            tracing::warn!(run = run_id, error = %e, "a harvest run's event was not recorded");
        }
    }

    async fn harvest_once(&self, source_id: i64) -> Result<HarvestReport> {
        let source = self
            .store
            .get_harvest_source(source_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("采集源", "Harvest source"))?;
        let doc = source_doc(&source)?;
        let provider = self.source_provider(&source).await?.ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidState,
                "联邦成员平台的目录由其推送，不采集",
                "A federation member pushes its catalog; it is not harvested",
            )
        })?;
        let mut report = HarvestReport::default();
        let fetched = match fetch(&doc).await {
            Ok(records) => records,
            Err(message) => {
                report.failure = Some(message);
                return Ok(report);
            }
        };
        report.fetched = fetched.len();
        let known: HashMap<String, HarvestRecordRow> = self
            .store
            .harvest_records(source_id)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|r| (r.remote_id.clone(), r))
            .collect();
        let caps = self.grade_caps().await?;
        let mut seen = HashSet::new();
        let mut touched = Vec::new();
        let note_problem = |report: &mut HarvestReport, p: HarvestProblem| {
            report.errors += 1;
            if report.problems.len() < MAX_PROBLEMS {
                report.problems.push(p);
            }
        };
        for mut record in fetched {
            if !seen.insert(record.remote_id.clone()) {
                let e = Error::new(
                    ErrorCode::InvalidState,
                    "来源中此标识出现了不止一次，只采集第一次",
                    "The source lists this identifier more than once; only the first was taken",
                );
                note_problem(&mut report, problem(&record, &e));
                continue;
            }
            record.draft.normalize();
            if let Err(e) = record.draft.validate(&caps) {
                note_problem(&mut report, problem(&record, &e));
                continue;
            }
            match self
                .harvest_record(&source, &provider, &record, known.get(&record.remote_id))
                .await
            {
                Ok((Outcome::Created, id)) => {
                    report.created += 1;
                    touched.push(id);
                }
                Ok((Outcome::Updated, id)) => {
                    report.updated += 1;
                    touched.push(id);
                }
                Ok((Outcome::Unchanged, _)) => report.unchanged += 1,
                Err(e) => note_problem(&mut report, problem(&record, &e)),
            }
        }
        // Only a listing read whole says what left the source.
        for (remote_id, record) in &known {
            if seen.contains(remote_id) || record.withdrawn {
                continue;
            }
            match self.withdraw_harvested(record).await {
                Ok(true) => {
                    report.withdrawn += 1;
                    touched.push(record.dataset_id);
                }
                Ok(false) => {}
                Err(e) => {
                    let stub = RemoteRecord {
                        remote_id: remote_id.clone(),
                        code: None,
                        draft: placeholder_draft(&doc.defaults),
                        landing_url: None,
                        downloads: Vec::new(),
                        modified: None,
                    };
                    note_problem(&mut report, problem(&stub, &e));
                }
            }
        }
        for id in touched {
            self.refresh_search_entry(id).await;
        }
        Ok(report)
    }

    /// Brings one remote record in: creates its entry, or updates it when its content
    /// changed, and publishes it.
    pub(crate) async fn harvest_record(
        &self,
        source: &HarvestSourceRow,
        provider: &gongshu_store::OrgRow,
        record: &RemoteRecord,
        known: Option<&HarvestRecordRow>,
    ) -> Result<(Outcome, i64)> {
        let record_doc = RecordDoc {
            landing_url: record.landing_url.clone(),
            downloads: record.downloads.clone(),
            modified: record.modified.clone(),
        };
        let hash = {
            let bytes =
                serde_json::to_vec(&(&record.draft, &record_doc)).map_err(|_| Error::internal())?;
            hex::encode(Sha256::digest(bytes))
        };
        let now = self.now();
        let note = format!("采集自 {}", source_doc(source)?.name);
        let (outcome, dataset_id) = match known {
            Some(k) if k.content_hash == hash && !k.withdrawn => {
                return Ok((Outcome::Unchanged, k.dataset_id));
            }
            Some(k) => {
                let d = self
                    .store
                    .get_dataset(k.dataset_id)
                    .await
                    .map_err(store_error)?
                    .ok_or_else(Error::internal)?;
                if d.status == DatasetStatus::Withdrawn && !k.withdrawn {
                    return Err(Error::new(
                        ErrorCode::InvalidState,
                        "此目录已在本平台撤销，采集不再更新它",
                        "This entry was withdrawn on this platform; the harvest no longer updates it",
                    ));
                }
                if d.doc.category.code() != record.draft.category.code() {
                    return Err(invalid(
                        "category",
                        "immutable",
                        "信息资源分类决定资源代码，不能更改；请删除后重新采集",
                        "The category determines the code and cannot change",
                    ));
                }
                self.publish_harvested(d.id, d.version, Some(&record.draft), &note)
                    .await?;
                (Outcome::Updated, d.id)
            }
            None => {
                let row = self
                    .store
                    .create_dataset(&NewDataset {
                        code: record.code.as_deref(),
                        category_code: &record.draft.category.code(),
                        provider_id: provider.id,
                        region_code: &provider.region_code,
                        doc: &record.draft,
                        actor_id: None,
                        at: now,
                    })
                    .await
                    .map_err(store_error)?;
                self.publish_harvested(row.id, row.version, None, &note)
                    .await?;
                (Outcome::Created, row.id)
            }
        };
        self.store
            .put_harvest_record(&HarvestRecordRow {
                source_id: source.id,
                remote_id: record.remote_id.clone(),
                dataset_id,
                content_hash: hash,
                withdrawn: false,
                doc: serde_json::to_string(&record_doc).map_err(|_| Error::internal())?,
                updated_at: now,
            })
            .await
            .map_err(store_error)?;
        Ok((outcome, dataset_id))
    }

    /// Publishes a harvested entry's revision (with new content, or as it is), by no
    /// person: the harvest's note says where it came from.
    async fn publish_harvested(
        &self,
        id: i64,
        version: i64,
        doc: Option<&DatasetDraft>,
        note: &str,
    ) -> Result<()> {
        self.store
            .save_dataset(&DatasetChange {
                id,
                expected_version: version,
                status: DatasetStatus::Published,
                doc,
                note: Some(note),
                review: false,
                publication: Publication::Publish,
                actor_id: None,
                at: self.now(),
            })
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Withdraws an entry whose record left its source; `false` if it was not published.
    pub(crate) async fn withdraw_harvested(&self, record: &HarvestRecordRow) -> Result<bool> {
        let d = self
            .store
            .get_dataset(record.dataset_id)
            .await
            .map_err(store_error)?
            .ok_or_else(Error::internal)?;
        let published = d.status == DatasetStatus::Published;
        if published {
            self.store
                .save_dataset(&DatasetChange {
                    id: d.id,
                    expected_version: d.version,
                    status: DatasetStatus::Withdrawn,
                    doc: None,
                    note: Some("来源已不再发布此数据，采集撤销"),
                    review: true,
                    publication: Publication::Unpublish,
                    actor_id: None,
                    at: self.now(),
                })
                .await
                .map_err(store_error)?;
        }
        self.store
            .put_harvest_record(&HarvestRecordRow {
                withdrawn: true,
                updated_at: self.now(),
                ..record.clone()
            })
            .await
            .map_err(store_error)?;
        Ok(published)
    }
}

/// A draft with nothing but the source's defaults, for reporting a record only its id
/// is known of.
pub(crate) fn placeholder_draft(defaults: &HarvestDefaults) -> DatasetDraft {
    draft_from(defaults, String::new(), String::new())
}

/// Defaults that say nothing, for a source whose records bring their own (a federation
/// member's).
pub(crate) fn blank_defaults() -> HarvestDefaults {
    HarvestDefaults {
        category: Category {
            class: gongshu_core::types::CategoryClass::Department,
            item: "00".into(),
            catalog: "000".into(),
            detail: None,
        },
        domains: Vec::new(),
        grade: Grade::General1,
        update_cycle: UpdateCycle::Irregular,
        license: String::new(),
        contact: String::new(),
    }
}

/// An entry as an open portal's record makes it: opened and shared without conditions
/// (what an open portal publishes is open data), the source's defaults for the rest.
fn draft_from(defaults: &HarvestDefaults, title: String, summary: String) -> DatasetDraft {
    DatasetDraft {
        title,
        summary,
        category: defaults.category.clone(),
        format: ResourceFormat::ElectronicFile,
        file_formats: Vec::new(),
        items: Vec::new(),
        share_type: ShareType::Unconditional,
        share_condition: String::new(),
        share_method: ShareMethod::PlatformInterface,
        open_type: OpenType::Unconditional,
        open_condition: String::new(),
        legal_basis: String::new(),
        update_cycle: defaults.update_cycle,
        related_codes: Vec::new(),
        domains: defaults.domains.clone(),
        keywords: Vec::new(),
        grade: defaults.grade,
        contact: defaults.contact.clone(),
        license: defaults.license.clone(),
        classified: false,
        deidentify: false,
    }
}

/// The catalog's kind of resource from the formats a record's files come in.
fn resource_format(formats: &[String]) -> ResourceFormat {
    let has = |set: &[&str]| formats.iter().any(|f| set.contains(&f.as_str()));
    if has(&["csv", "xls", "xlsx", "ods", "tsv"]) {
        ResourceFormat::Spreadsheet
    } else if has(&["json", "xml", "geojson", "rdf", "ttl", "jsonld"]) {
        ResourceFormat::SelfDescribing
    } else if has(&[
        "api",
        "wms",
        "wfs",
        "esri rest",
        "arcgis geoservices rest api",
    ]) {
        ResourceFormat::ServiceInterface
    } else if has(&["png", "jpg", "jpeg", "tif", "tiff", "gif", "svg"]) {
        ResourceFormat::Image
    } else {
        ResourceFormat::ElectronicFile
    }
}

/// A file format as the catalog writes it: lower case, short, letters and digits.
fn file_format(raw: &str) -> Option<String> {
    let f = raw
        .trim()
        .rsplit(['/', '#'])
        .next()
        .unwrap_or("")
        .trim_start_matches('.')
        .to_lowercase();
    let f = match f.as_str() {
        "text/csv" | "csv" => "csv".to_owned(),
        "vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx".to_owned(),
        "vnd.ms-excel" => "xls".to_owned(),
        "ld+json" => "jsonld".to_owned(),
        _ => f,
    };
    (!f.is_empty() && f.len() <= 20 && f.chars().all(|c| c.is_ascii_alphanumeric())).then_some(f)
}

/// An update cycle from a frequency a source gives: the EU frequency vocabulary's
/// names, CKAN's common words, or Chinese.
fn cycle_from(raw: &str) -> Option<UpdateCycle> {
    let key = raw
        .trim()
        .rsplit(['/', '#'])
        .next()
        .unwrap_or("")
        .to_uppercase();
    Some(match key.as_str() {
        "CONT" | "UPDATE_CONT" | "CONTINUOUS" | "REALTIME" | "REAL-TIME" | "实时" => {
            UpdateCycle::Realtime
        }
        "DAILY" | "每日" | "每天" => UpdateCycle::Daily,
        "WEEKLY" | "每周" => UpdateCycle::Weekly,
        "MONTHLY" | "每月" => UpdateCycle::Monthly,
        "QUARTERLY" | "每季度" => UpdateCycle::Quarterly,
        "ANNUAL_2" | "SEMIANNUAL" | "BIANNUAL" | "每半年" => UpdateCycle::Semiannual,
        "ANNUAL" | "YEARLY" | "每年" => UpdateCycle::Annual,
        "IRREG" | "IRREGULAR" | "不定期" => UpdateCycle::Irregular,
        _ => return None,
    })
}

/// Formats and the catalog kind a record's downloads make.
fn formats_of(downloads: &[RemoteDownload]) -> (Vec<String>, ResourceFormat) {
    let mut formats: Vec<String> = Vec::new();
    for d in downloads {
        if let Some(f) = file_format(&d.format)
            && !formats.contains(&f)
        {
            formats.push(f);
        }
    }
    let kind = resource_format(&formats);
    (formats, kind)
}

async fn fetch(doc: &SourceDoc) -> std::result::Result<Vec<RemoteRecord>, String> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("Gongshu-harvester/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP 客户端无法建立：{e}"))?;
    match doc.kind {
        SourceKind::Ckan => fetch_ckan(&http, doc).await,
        SourceKind::Dcat => fetch_dcat(&http, doc).await,
        SourceKind::Gongshu => fetch_gongshu(&http, doc).await,
        SourceKind::Federation => Err("联邦成员平台的目录由其推送，不采集".into()),
    }
}

/// Reads one document, refusing an error status and anything past the size limit.
async fn get(
    http: &reqwest::Client,
    url: &str,
    accept: &str,
) -> std::result::Result<(Vec<u8>, String), String> {
    let mut response = http
        .get(url)
        .header(reqwest::header::ACCEPT, accept)
        .send()
        .await
        .map_err(|e| format!("无法读取 {url}：{e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} 答复 HTTP {}", response.status().as_u16()));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("读取 {url} 时中断：{e}"))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("{url} 的答复超过 {} MiB", MAX_DOCUMENT_BYTES >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, content_type))
}

async fn get_json(
    http: &reqwest::Client,
    url: &str,
) -> std::result::Result<serde_json::Value, String> {
    let (body, _) = get(http, url, "application/json").await?;
    serde_json::from_slice(&body).map_err(|e| format!("{url} 的答复不是 JSON：{e}"))
}

fn text(v: &serde_json::Value, key: &str) -> String {
    v.get(key)
        .and_then(|s| s.as_str())
        .unwrap_or("")
        .trim()
        .to_owned()
}

async fn fetch_ckan(
    http: &reqwest::Client,
    doc: &SourceDoc,
) -> std::result::Result<Vec<RemoteRecord>, String> {
    let base = doc.url.trim_end_matches('/');
    let mut out = Vec::new();
    let rows = 100;
    for page in 0..MAX_PAGES {
        let url = format!(
            "{base}/api/3/action/package_search?rows={rows}&start={}&sort=id%20asc",
            page * rows
        );
        let answer = get_json(http, &url).await?;
        // The answer itself is not repeated in the report: an address inside the
        // intranet must not become a way to read other services through the report.
        if answer.get("success").and_then(|s| s.as_bool()) != Some(true) {
            return Err(format!("{url} 不是成功的 CKAN 答复（success 不为 true）"));
        }
        let result = &answer["result"];
        let count = result["count"].as_u64().unwrap_or(0) as usize;
        let packages = result["results"]
            .as_array()
            .ok_or_else(|| format!("{url} 的答复没有 results"))?;
        for p in packages {
            out.push(ckan_record(base, &doc.defaults, p)?);
        }
        if packages.is_empty() || out.len() >= count {
            return Ok(out);
        }
        if out.len() >= MAX_RECORDS {
            return Err(format!("来源的记录超过 {MAX_RECORDS} 条"));
        }
    }
    Err(format!("来源的分页超过 {MAX_PAGES} 页"))
}

fn ckan_record(
    base: &str,
    defaults: &HarvestDefaults,
    p: &serde_json::Value,
) -> std::result::Result<RemoteRecord, String> {
    let remote_id = text(p, "id");
    if remote_id.is_empty() {
        return Err("CKAN 数据集缺少 id".into());
    }
    let name = text(p, "name");
    let title = Some(text(p, "title"))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| name.clone());
    let notes = text(p, "notes");
    let summary = if notes.is_empty() {
        title.clone()
    } else {
        notes
    };
    let mut draft = draft_from(defaults, clip(&title, 200), clip(&summary, 4000));
    draft.keywords = p["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    let d = text(t, "display_name");
                    if d.is_empty() { text(t, "name") } else { d }
                })
                .filter(|t| !t.is_empty())
                .map(|t| clip(&t, 50))
                .take(20)
                .collect()
        })
        .unwrap_or_default();
    let downloads: Vec<RemoteDownload> = p["resources"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| {
                    Some(RemoteDownload {
                        name: clip(&text(r, "name"), 200),
                        url: web_url(&text(r, "url"))?,
                        format: clip(&text(r, "format"), 40),
                    })
                })
                .take(100)
                .collect()
        })
        .unwrap_or_default();
    (draft.file_formats, draft.format) = formats_of(&downloads);
    let license = text(p, "license_title");
    if !license.is_empty() {
        draft.license = clip(&license, 200);
    }
    let contact = [text(p, "maintainer_email"), text(p, "author_email")]
        .into_iter()
        .find(|c| !c.is_empty());
    if let Some(c) = contact {
        draft.contact = clip(&c, 200);
    }
    if let Some(extras) = p["extras"].as_array() {
        for e in extras {
            let key = text(e, "key").to_lowercase();
            if matches!(
                key.as_str(),
                "frequency" | "update_frequency" | "accrual_periodicity" | "update_cycle"
            ) && let Some(c) = cycle_from(&text(e, "value"))
            {
                draft.update_cycle = c;
            }
        }
    }
    let modified = Some(text(p, "metadata_modified")).filter(|m| !m.is_empty());
    Ok(RemoteRecord {
        remote_id,
        code: None,
        draft,
        landing_url: (!name.is_empty())
            .then(|| web_url(&format!("{base}/dataset/{name}")))
            .flatten(),
        downloads,
        modified,
    })
}

async fn fetch_gongshu(
    http: &reqwest::Client,
    doc: &SourceDoc,
) -> std::result::Result<Vec<RemoteRecord>, String> {
    let base = doc.url.trim_end_matches('/');
    let per_page = crate::catalog::MAX_PER_PAGE;
    let mut out = Vec::new();
    for page in 1..=MAX_PAGES {
        let url = format!("{base}/api/v1/datasets?page={page}&per_page={per_page}&sort=code");
        let answer = get_json(http, &url).await?;
        let items = answer["items"]
            .as_array()
            .ok_or_else(|| format!("{url} 的答复没有 items"))?;
        for item in items {
            out.push(gongshu_record(base, item)?);
        }
        let total = answer["total"].as_i64().unwrap_or(0);
        if items.is_empty() || out.len() as i64 >= total {
            return Ok(out);
        }
        if out.len() >= MAX_RECORDS {
            return Err(format!("来源的记录超过 {MAX_RECORDS} 条"));
        }
    }
    Err(format!("来源的分页超过 {MAX_PAGES} 页"))
}

/// The fields of a Gongshu dataset view that are the platform's, not the entry's.
const VIEW_FIELDS: &[&str] = &[
    "id",
    "code",
    "provider",
    "region_code",
    "status",
    "version",
    "published_at",
    "updated_at",
    "review_note",
];

fn gongshu_record(
    base: &str,
    item: &serde_json::Value,
) -> std::result::Result<RemoteRecord, String> {
    let code = text(item, "code");
    if code.is_empty() {
        return Err("公数目录缺少资源代码".into());
    }
    let mut fields = item.as_object().cloned().unwrap_or_default();
    let id = fields.get("id").and_then(|v| v.as_i64());
    let modified = fields
        .get("updated_at")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    for f in VIEW_FIELDS {
        fields.remove(*f);
    }
    let draft: DatasetDraft = serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| format!("目录 {code} 不符合公数的目录格式：{e}"))?;
    Ok(RemoteRecord {
        // The code is the entry's name for as long as it exists, on every platform.
        remote_id: code,
        code: None,
        draft,
        landing_url: id.and_then(|id| web_url(&format!("{base}/datasets/{id}"))),
        downloads: Vec::new(),
        modified,
    })
}

mod rdf {
    //! The few RDF terms harvesting reads.
    pub(super) const TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
    pub(super) const DATASET: &str = "http://www.w3.org/ns/dcat#Dataset";
    pub(super) const CATALOG: &str = "http://www.w3.org/ns/dcat#Catalog";
    pub(super) const DISTRIBUTION: &str = "http://www.w3.org/ns/dcat#distribution";
    pub(super) const KEYWORD: &str = "http://www.w3.org/ns/dcat#keyword";
    pub(super) const LANDING: &str = "http://www.w3.org/ns/dcat#landingPage";
    pub(super) const DOWNLOAD: &str = "http://www.w3.org/ns/dcat#downloadURL";
    pub(super) const ACCESS: &str = "http://www.w3.org/ns/dcat#accessURL";
    pub(super) const MEDIA_TYPE: &str = "http://www.w3.org/ns/dcat#mediaType";
    pub(super) const CONTACT: &str = "http://www.w3.org/ns/dcat#contactPoint";
    pub(super) const TITLE: &str = "http://purl.org/dc/terms/title";
    pub(super) const DESCRIPTION: &str = "http://purl.org/dc/terms/description";
    pub(super) const IDENTIFIER: &str = "http://purl.org/dc/terms/identifier";
    pub(super) const MODIFIED: &str = "http://purl.org/dc/terms/modified";
    pub(super) const FORMAT: &str = "http://purl.org/dc/terms/format";
    pub(super) const LICENSE: &str = "http://purl.org/dc/terms/license";
    pub(super) const FREQUENCY: &str = "http://purl.org/dc/terms/accrualPeriodicity";
    pub(super) const ACCESS_RIGHTS: &str = "http://purl.org/dc/terms/accessRights";
    pub(super) const HYDRA_NEXT: &str = "http://www.w3.org/ns/hydra/core#next";
    pub(super) const HYDRA_NEXT_PAGE: &str = "http://www.w3.org/ns/hydra/core#nextPage";
    pub(super) const VCARD_EMAIL: &str = "http://www.w3.org/2006/vcard/ns#hasEmail";
}

/// A graph read into subject → (predicate → objects), enough to walk DCAT.
#[derive(Default)]
struct Graph {
    by_subject: BTreeMap<String, BTreeMap<String, Vec<oxrdf::Term>>>,
}

impl Graph {
    fn objects(&self, subject: &str, predicate: &str) -> &[oxrdf::Term] {
        self.by_subject
            .get(subject)
            .and_then(|p| p.get(predicate))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Literal values of a property, those in Chinese first.
    fn literals(&self, subject: &str, predicate: &str) -> Vec<String> {
        let mut found: Vec<(u8, String)> = self
            .objects(subject, predicate)
            .iter()
            .filter_map(|t| match t {
                oxrdf::Term::Literal(l) => {
                    let rank = match l.language() {
                        Some(lang) if lang.starts_with("zh") => 0,
                        None => 1,
                        Some(_) => 2,
                    };
                    Some((rank, l.value().trim().to_owned()))
                }
                _ => None,
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        found.sort_by_key(|(rank, _)| *rank);
        found.into_iter().map(|(_, v)| v).collect()
    }

    fn literal(&self, subject: &str, predicate: &str) -> Option<String> {
        self.literals(subject, predicate).into_iter().next()
    }

    /// IRIs (or, for a property that may hold either, literal values) of a property.
    fn iri_or_text(&self, subject: &str, predicate: &str) -> Option<String> {
        self.objects(subject, predicate)
            .iter()
            .find_map(|t| match t {
                oxrdf::Term::NamedNode(n) => Some(n.as_str().to_owned()),
                oxrdf::Term::Literal(l) => Some(l.value().to_owned()),
                _ => None,
            })
    }

    /// The node a property points to, as the key `by_subject` uses.
    fn nodes(&self, subject: &str, predicate: &str) -> Vec<String> {
        self.objects(subject, predicate)
            .iter()
            .filter_map(node_key)
            .collect()
    }
}

fn node_key(t: &oxrdf::Term) -> Option<String> {
    match t {
        oxrdf::Term::NamedNode(n) => Some(n.as_str().to_owned()),
        oxrdf::Term::BlankNode(b) => Some(format!("_:{}", b.as_str())),
        _ => None,
    }
}

fn subject_key(s: &oxrdf::NamedOrBlankNode) -> String {
    match s {
        oxrdf::NamedOrBlankNode::NamedNode(n) => n.as_str().to_owned(),
        oxrdf::NamedOrBlankNode::BlankNode(b) => format!("_:{}", b.as_str()),
    }
}

/// The RDF syntax of a document, from its media type or else its address.
fn rdf_format(content_type: &str, url: &str) -> oxrdfio::RdfFormat {
    let media = content_type.split(';').next().unwrap_or("").trim();
    if let Some(f) = oxrdfio::RdfFormat::from_media_type(media) {
        return f;
    }
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit('.').next().unwrap_or("");
    oxrdfio::RdfFormat::from_extension(ext).unwrap_or(oxrdfio::RdfFormat::Turtle)
}

fn parse_rdf(
    graph: &mut Graph,
    body: &[u8],
    content_type: &str,
    url: &str,
) -> std::result::Result<(), String> {
    let format = rdf_format(content_type, url);
    let parser = oxrdfio::RdfParser::from_format(format)
        .with_base_iri(url)
        .map_err(|e| format!("{url} 不是有效的基准地址：{e}"))?;
    for quad in parser.for_slice(body) {
        let quad = quad.map_err(|e| format!("{url} 不是有效的 {format}：{e}"))?;
        graph
            .by_subject
            .entry(subject_key(&quad.subject))
            .or_default()
            .entry(quad.predicate.as_str().to_owned())
            .or_default()
            .push(quad.object);
    }
    Ok(())
}

async fn fetch_dcat(
    http: &reqwest::Client,
    doc: &SourceDoc,
) -> std::result::Result<Vec<RemoteRecord>, String> {
    const ACCEPT: &str = "text/turtle, application/ld+json;q=0.9, application/rdf+xml;q=0.8";
    let mut graph = Graph::default();
    let mut next = Some(doc.url.clone());
    let mut visited = HashSet::new();
    while let Some(url) = next.take() {
        if !visited.insert(url.clone()) {
            break;
        }
        if visited.len() > MAX_PAGES {
            return Err(format!("来源的分页超过 {MAX_PAGES} 页"));
        }
        let (body, content_type) = get(http, &url, ACCEPT).await?;
        let before: HashSet<String> = graph.by_subject.keys().cloned().collect();
        parse_rdf(&mut graph, &body, &content_type, &url)?;
        // The page this document names as next, among the subjects it added.
        next = graph
            .by_subject
            .keys()
            .filter(|s| !before.contains(*s))
            .find_map(|s| {
                graph
                    .nodes(s, rdf::HYDRA_NEXT)
                    .into_iter()
                    .chain(graph.nodes(s, rdf::HYDRA_NEXT_PAGE))
                    .find(|n| !n.starts_with("_:") && !visited.contains(n))
            });
    }
    let typed = |class: &str| -> Vec<String> {
        graph
            .by_subject
            .iter()
            .filter(|(_, props)| {
                props.get(rdf::TYPE).is_some_and(|types| {
                    types
                        .iter()
                        .any(|t| matches!(t, oxrdf::Term::NamedNode(n) if n.as_str() == class))
                })
            })
            .map(|(s, _)| s.clone())
            .collect()
    };
    let datasets = typed(rdf::DATASET);
    // A document that is no catalog at all (a wrong address, an error page in JSON)
    // must not read as an empty catalog, which would withdraw everything.
    if datasets.is_empty() && typed(rdf::CATALOG).is_empty() {
        return Err(format!(
            "{} 中没有 DCAT 目录（dcat:Catalog）或数据集（dcat:Dataset）",
            doc.url
        ));
    }
    if datasets.len() > MAX_RECORDS {
        return Err(format!("来源的记录超过 {MAX_RECORDS} 条"));
    }
    Ok(datasets
        .iter()
        .filter_map(|s| dcat_record(&graph, &doc.defaults, s))
        .collect())
}

/// A dcat:Dataset as a record; `None` for one whose access rights say it is not public.
fn dcat_record(graph: &Graph, defaults: &HarvestDefaults, s: &str) -> Option<RemoteRecord> {
    let rights = graph.iri_or_text(s, rdf::ACCESS_RIGHTS).unwrap_or_default();
    if rights.ends_with("NON_PUBLIC") {
        return None;
    }
    let title = graph.literal(s, rdf::TITLE).unwrap_or_default();
    let summary = graph
        .literal(s, rdf::DESCRIPTION)
        .unwrap_or_else(|| title.clone());
    let mut draft = draft_from(defaults, clip(&title, 200), clip(&summary, 4000));
    if rights.ends_with("RESTRICTED") {
        // Restricted at its source: never opened here without conditions; the run
        // reports it until the provider states the conditions and their basis.
        draft.open_type = OpenType::Conditional;
    }
    let mut keywords = graph.literals(s, rdf::KEYWORD);
    keywords.dedup();
    draft.keywords = keywords
        .into_iter()
        .map(|k| clip(&k, 50))
        .take(20)
        .collect();
    if let Some(c) = graph
        .iri_or_text(s, rdf::FREQUENCY)
        .and_then(|f| cycle_from(&f))
    {
        draft.update_cycle = c;
    }
    if let Some(l) = graph.iri_or_text(s, rdf::LICENSE) {
        draft.license = clip(&l, 200);
    }
    if let Some(email) = graph
        .nodes(s, rdf::CONTACT)
        .iter()
        .find_map(|c| graph.iri_or_text(c, rdf::VCARD_EMAIL))
    {
        draft.contact = clip(email.trim_start_matches("mailto:"), 200);
    }
    let downloads: Vec<RemoteDownload> = graph
        .nodes(s, rdf::DISTRIBUTION)
        .iter()
        .filter_map(|d| {
            let url = graph
                .iri_or_text(d, rdf::DOWNLOAD)
                .or_else(|| graph.iri_or_text(d, rdf::ACCESS))
                .and_then(|u| web_url(&u))?;
            let format = graph
                .iri_or_text(d, rdf::FORMAT)
                .or_else(|| graph.iri_or_text(d, rdf::MEDIA_TYPE))
                .unwrap_or_default();
            Some(RemoteDownload {
                name: clip(&graph.literal(d, rdf::TITLE).unwrap_or_default(), 200),
                url,
                format: clip(format.rsplit(['/', '#']).next().unwrap_or(""), 40),
            })
        })
        .take(100)
        .collect();
    (draft.file_formats, draft.format) = formats_of(&downloads);
    // dct:identifier names the record across re-publications; the node's IRI does too.
    let remote_id = graph
        .literal(s, rdf::IDENTIFIER)
        .unwrap_or_else(|| s.to_owned());
    let landing_url = graph
        .iri_or_text(s, rdf::LANDING)
        .or_else(|| (!s.starts_with("_:")).then(|| s.to_owned()))
        .and_then(|u| web_url(&u));
    Some(RemoteRecord {
        remote_id: clip(&remote_id, 500),
        code: None,
        draft,
        landing_url,
        downloads,
        modified: graph.literal(s, rdf::MODIFIED),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> HarvestDefaults {
        serde_json::from_value(serde_json::json!({
            "category": {"class": "department", "item": "01", "catalog": "002"},
            "domains": ["health"],
        }))
        .unwrap()
    }

    #[test]
    fn formats_and_cycles_are_read_in_the_forms_sources_write_them() {
        assert_eq!(file_format("CSV").as_deref(), Some("csv"));
        assert_eq!(
            file_format("http://publications.europa.eu/resource/authority/file-type/CSV")
                .as_deref(),
            Some("csv")
        );
        assert_eq!(file_format(".XLSX").as_deref(), Some("xlsx"));
        assert_eq!(file_format("<script>"), None);
        assert_eq!(web_url("javascript:alert(1)"), None);
        assert_eq!(web_url("data:text/html,x"), None);
        assert_eq!(
            web_url(" https://example.org/a b ").as_deref(),
            Some("https://example.org/a%20b")
        );
        assert_eq!(
            cycle_from("http://publications.europa.eu/resource/authority/frequency/ANNUAL_2"),
            Some(UpdateCycle::Semiannual)
        );
        assert_eq!(cycle_from("每月"), Some(UpdateCycle::Monthly));
        assert_eq!(cycle_from("sometimes"), None);
    }

    #[test]
    fn a_dcat_document_becomes_records_and_non_public_ones_are_left_out() {
        let ttl = r#"
@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
<https://example.org/ds/1> a dcat:Dataset ;
    dct:identifier "ds-1" ;
    dct:title "Hospitals"@en, "医院名录"@zh ;
    dct:description "全市医院"@zh ;
    dcat:keyword "医院"@zh, "医疗"@zh ;
    dct:accrualPeriodicity <http://publications.europa.eu/resource/authority/frequency/MONTHLY> ;
    dcat:distribution [ a dcat:Distribution ;
        dcat:downloadURL <https://example.org/files/1.csv> ;
        dct:format <http://publications.europa.eu/resource/authority/file-type/CSV> ] .
<https://example.org/ds/2> a dcat:Dataset ;
    dct:title "内部"@zh ;
    dct:accessRights <http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC> .
"#;
        let mut g = Graph::default();
        parse_rdf(
            &mut g,
            ttl.as_bytes(),
            "text/turtle",
            "https://example.org/catalog.ttl",
        )
        .unwrap();
        let ds = "https://example.org/ds/1";
        let r = dcat_record(&g, &defaults(), ds).unwrap();
        assert_eq!(r.remote_id, "ds-1");
        assert_eq!(r.draft.title, "医院名录");
        assert_eq!(r.draft.update_cycle, UpdateCycle::Monthly);
        assert_eq!(r.draft.file_formats, ["csv"]);
        assert_eq!(r.draft.format, ResourceFormat::Spreadsheet);
        assert_eq!(r.downloads[0].url, "https://example.org/files/1.csv");
        assert!(dcat_record(&g, &defaults(), "https://example.org/ds/2").is_none());
        let mut bad = Graph::default();
        assert!(
            parse_rdf(
                &mut bad,
                b"<a> <b> .",
                "text/turtle",
                "https://example.org/x.ttl"
            )
            .is_err()
        );
    }
}
