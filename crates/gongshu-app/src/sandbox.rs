//! The analysis sandbox's use cases (issue 9, SD-OPEN §11(三), 数据二十条 "原始数据不出域、
//! 数据可用不可见"): a grantee submits SQL over the tables its sandbox grant covers; the
//! gate admits the tables aggregate-only, the engine's guard admits the query, the
//! disclosure control decides what of the result may leave.
//!
//! A result with nothing withheld, and no sign of differencing, is released at once. Any
//! other waits for two different reviewers of the provider, neither of them the
//! requester, who see the query, the protected result and what was withheld (never the
//! unprotected figures). Every run and every release is audited, a release with the
//! query and the SHA-256 of the released result.
//!
//! Differencing: the queries of a grant (or a person) that compute the same thing with a
//! different filter are compared group by group; a group whose size differs by fewer
//! than the profile's minimum would let the difference be read off, so the query is
//! held for review, and the audit entry `sandbox.differencing` raises an alert.

use chrono::{DateTime, Utc};
use gongshu_core::access::AccessMode;
use gongshu_core::authz::Principal;
use gongshu_core::disclosure::{ProfileName, Withheld};
use gongshu_core::{Error, ErrorCode};
use gongshu_data::sandbox::{SandboxLimits, SandboxTable, prepare};
use gongshu_store::SandboxQueryRow;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::audit::AuditEvent;
use crate::data::{Readable, query_error};
use crate::{App, Result, store_error};

/// Queries of the same shape compared for differencing.
const COMPARED: i64 = 50;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxInput {
    /// One aggregate SELECT over tables the caller's sandbox grant covers, named by
    /// their `table_name`.
    pub sql: String,
    /// Run it in the background (long queries, up to 5 minutes): the answer comes at
    /// once with `state` = `running`; read the query again for its result, or cancel it.
    #[serde(default)]
    pub background: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxReview {
    pub approve: bool,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WithheldGroup {
    /// The group's grouping values.
    pub keys: Vec<String>,
    pub reason: Withheld,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewRecord {
    pub user_id: i64,
    pub username: String,
    pub approve: bool,
    pub note: String,
    pub at: DateTime<Utc>,
}

/// A likely differencing pair: the earlier query and the groups whose sizes differ by
/// a small amount.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DifferencingFlag {
    pub earlier_query: i64,
    pub groups: Vec<String>,
}

/// The query's record, owned here and kept as the store's `doc`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SandboxDoc {
    sql: String,
    canonical: String,
    filter: String,
    profile: ProfileName,
    columns: Vec<String>,
    /// The protected result: row objects, keys in column order.
    rows: serde_json::Value,
    truncated: bool,
    withheld: Vec<WithheldGroup>,
    /// Every group's exact size, for the differencing check; never shown.
    group_sizes: Vec<(String, u64)>,
    flag: Option<DifferencingFlag>,
    reviews: Vec<ReviewRecord>,
    attribution: Vec<String>,
    /// The provider's model this run came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<i64>,
    /// The figures were dropped after the retention period.
    #[serde(default)]
    expired: bool,
    /// Answered in the differential-privacy mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    privacy: Option<PrivacyUse>,
    /// Why a background query failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// How a query in the differential-privacy mode was answered.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct PrivacyUse {
    pub mechanism: gongshu_core::disclosure::Mechanism,
    /// The ε the query spent.
    pub epsilon: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SandboxResult {
    pub columns: Vec<String>,
    /// Row objects, keys in column order.
    #[schema(value_type = Vec<Object>)]
    pub rows: serde_json::Value,
    pub truncated: bool,
    /// SHA-256 of the released result, as audited.
    pub sha256: String,
    /// The citation of every dataset the result was computed from (SD-OPEN §15).
    pub attribution: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SandboxQueryView {
    pub id: i64,
    /// `running` (in the background), `released`, `review` (waiting for two reviewers),
    /// `rejected`, `failed` or `cancelled`.
    pub state: String,
    pub user_id: i64,
    pub grant_id: Option<i64>,
    pub dataset_ids: Vec<i64>,
    pub sql: String,
    pub profile: ProfileName,
    /// Groups withheld by the disclosure control.
    pub withheld_groups: usize,
    pub created_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
    /// The result, once released (to the provider's reviewers, also before).
    pub result: Option<SandboxResult>,
    /// For the provider's reviewers: what was withheld and why, the differencing flag,
    /// and the reviews so far.
    pub withheld: Option<Vec<WithheldGroup>>,
    pub flag: Option<DifferencingFlag>,
    pub reviews: Option<Vec<ReviewRecord>>,
    /// The provider's model the query was run from, if any.
    pub model: Option<i64>,
    /// The result's figures were dropped after the retention period (the audited
    /// SHA-256 of what was released stays in the audit log).
    pub expired: bool,
    /// Answered with noise in the differential-privacy mode, and the ε it spent.
    pub privacy: Option<PrivacyUse>,
    /// Why a background query failed.
    pub error: Option<String>,
}

impl SandboxResult {
    /// The result as text cells, in column order; a withheld or empty figure is "—".
    pub fn cells(&self) -> Vec<Vec<String>> {
        let cell = |v: Option<&serde_json::Value>| match v {
            None | Some(serde_json::Value::Null) => "—".to_owned(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        self.rows
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| self.columns.iter().map(|c| cell(row.get(c))).collect())
            .collect()
    }

    /// The result as a downloadable table: the figures, then a blank line and the
    /// citation of every source (SD-OPEN §15), as government spreadsheets carry them.
    pub fn table_with_sources(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let width = self.columns.len().max(1);
        let line = |first: String| {
            let mut row = vec![String::new(); width];
            row[0] = first;
            row
        };
        let mut rows = self.cells();
        rows.push(line(String::new()));
        rows.extend(
            self.attribution
                .iter()
                .map(|a| line(format!("数据来源 (source)：{a}"))),
        );
        rows.push(line(format!("SHA-256：{}", self.sha256)));
        (self.columns.clone(), rows)
    }
}

/// How long a background query may run.
const BACKGROUND_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);
/// How often a background query looks whether it was cancelled on another node.
const CANCEL_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// The background queries of this node, by query number.
pub(crate) type Jobs =
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<i64, tokio::task::AbortHandle>>>;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The registry holds abort handles only; one left by a panicking task still works.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a query computes, and how its result is protected.
enum Work {
    Controlled(Box<gongshu_data::sandbox::Prepared>),
    Private(
        Box<gongshu_data::dp::DpPlan>,
        gongshu_data::dp::DpParams,
        PrivacyUse,
    ),
}

/// A query the gate and the guard admitted, ready to run.
struct Planned {
    sql: String,
    model: Option<(i64, bool)>,
    dataset_ids: Vec<i64>,
    provider_id: i64,
    grant_id: Option<i64>,
    attribution: Vec<String>,
    refs: Vec<gongshu_data::query::TableRef>,
    profile: gongshu_core::disclosure::Profile,
    canonical: String,
    fingerprint: String,
    filter: String,
    work: Work,
}

impl Planned {
    fn doc(
        &self,
        columns: Vec<String>,
        rows: serde_json::Value,
        truncated: bool,
        withheld: Vec<WithheldGroup>,
        group_sizes: Vec<(String, u64)>,
        flag: Option<DifferencingFlag>,
    ) -> SandboxDoc {
        SandboxDoc {
            sql: self.sql.clone(),
            canonical: self.canonical.clone(),
            filter: self.filter.clone(),
            profile: self.profile.name,
            columns,
            rows,
            truncated,
            withheld,
            group_sizes,
            flag,
            reviews: Vec::new(),
            attribution: self.attribution.clone(),
            model: self.model.map(|(id, _)| id),
            expired: false,
            privacy: match &self.work {
                Work::Private(_, _, used) => Some(*used),
                Work::Controlled(_) => None,
            },
            error: None,
        }
    }
}

fn result_hash(columns: &[String], rows: &serde_json::Value) -> String {
    let body = serde_json::json!({ "columns": columns, "rows": rows });
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

/// The audit log names the query by its number and the SHA-256 of its text and, once
/// released, of its result: the log holds no SQL (its literals could be personal), yet
/// proves which query and which result went out.
fn audited_object(id: i64, sql: &str, result: Option<&String>) -> String {
    let query = hex::encode(Sha256::digest(sql.as_bytes()));
    match result {
        Some(r) => format!("sandbox_query:{id};query={query};result={r}"),
        None => format!("sandbox_query:{id};query={query}"),
    }
}

fn doc_of(row: &SandboxQueryRow) -> Result<SandboxDoc> {
    serde_json::from_str(&row.doc).map_err(|_| Error::internal())
}

/// The names in a SQL text that look like table names (`ds_…`), lower-cased, at most 16.
pub(crate) fn named_tables(sql: &str) -> Vec<String> {
    let mut names: Vec<String> = sql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.len() > 3 && w[..3].eq_ignore_ascii_case("ds_"))
        .map(str::to_ascii_lowercase)
        .collect();
    names.sort();
    names.dedup();
    names.truncate(16);
    names
}

/// Groups whose size differs from an earlier same-shape query's by 1 to `below - 1`.
fn close_groups(now: &[(String, u64)], before: &[(String, u64)], below: u64) -> Vec<String> {
    let earlier: std::collections::HashMap<&str, u64> =
        before.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    now.iter()
        .filter_map(|(k, n)| {
            let m = *earlier.get(k.as_str())?;
            let d = n.abs_diff(m);
            (d > 0 && d < below).then(|| k.clone())
        })
        .collect()
}

impl App {
    /// Drops the figures of results older than the retention period; returns how many.
    pub async fn expire_sandbox_results(&self) -> Result<u64> {
        let days = i64::from(self.settings.sandbox_retention_days.max(1));
        self.store
            .expire_sandbox_results(self.now() - chrono::Duration::days(days))
            .await
            .map_err(store_error)
    }

    /// Runs `expire_sandbox_results` every `period`.
    pub fn spawn_sandbox_retention(self, period: std::time::Duration) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                match self.expire_sandbox_results().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(results = n, "sandbox results past retention dropped"),
                    Err(e) => tracing::warn!(error = %e, "sandbox retention failed"),
                }
            }
        });
    }

    /// The table's columns classed as personal information, proposed at upload or
    /// confirmed by the provider: the sandbox only counts them or joins on them.
    pub(crate) async fn identifying_columns(&self, r: &Readable) -> Result<Vec<String>> {
        let classes = self
            .store
            .column_classes(&r.resource.id, r.manifest.version as i64)
            .await
            .map_err(store_error)?;
        Ok(classes
            .into_iter()
            .filter(|c| {
                c.confirmed_kind
                    .as_deref()
                    .or(c.proposed_kind.as_deref())
                    .is_some_and(|k| !k.is_empty() && k != "none")
            })
            .map(|c| c.column_name)
            .collect())
    }

    fn is_reviewer_of(caller: &Principal, provider_id: i64) -> bool {
        caller.provider_orgs().contains(&provider_id)
    }

    /// Runs a sandbox query for the caller, under the sandbox grant of the tables it names.
    pub async fn run_sandbox(
        &self,
        caller: &Principal,
        input: SandboxInput,
    ) -> Result<SandboxQueryView> {
        if input.background {
            return self.start_sandbox(caller, input).await;
        }
        self.run_sandbox_sql(caller, input, None).await
    }

    /// Runs a query; for a provider's model, `model` is its id and whether it is public.
    /// A model's run passes without review (the provider approved the query when it
    /// published it: withheld groups are left out), unless it looks like differencing.
    pub(crate) async fn run_sandbox_sql(
        &self,
        caller: &Principal,
        input: SandboxInput,
        model: Option<(i64, bool)>,
    ) -> Result<SandboxQueryView> {
        let planned = self.plan_sandbox(caller, input, model).await?;
        let outcome = self.execute_sandbox(&planned, None).await;
        self.conclude_sandbox(caller, planned, outcome, None).await
    }

    /// Starts a query in the background (for long ones): the gate and the guard answer
    /// at once; the query runs for up to `BACKGROUND_LIMIT` and its record says how it
    /// went (`running`, then `released`, `review` or `failed`); its requester may cancel.
    pub async fn start_sandbox(
        &self,
        caller: &Principal,
        input: SandboxInput,
    ) -> Result<SandboxQueryView> {
        let planned = self.plan_sandbox(caller, input, None).await?;
        let doc = planned.doc(
            Vec::new(),
            serde_json::json!([]),
            false,
            Vec::new(),
            Vec::new(),
            None,
        );
        let row = SandboxQueryRow {
            id: 0,
            user_id: caller.user_id,
            grant_id: planned.grant_id,
            provider_id: planned.provider_id,
            dataset_ids: planned.dataset_ids.clone(),
            state: "running".into(),
            fingerprint: planned.fingerprint.clone(),
            doc: serde_json::to_string(&doc).map_err(|_| Error::internal())?,
            result_hash: None,
            created_at: self.now(),
            released_at: None,
            version: 0,
        };
        let running = self
            .store
            .insert_sandbox_query(&row)
            .await
            .map_err(store_error)?;
        let id = running.id;
        let app = self.clone();
        let who = caller.clone();
        let view = self.sandbox_view(caller, &running)?;
        let jobs = self.sandbox_jobs.clone();
        let mut registry = lock(&jobs);
        let task = tokio::spawn(async move {
            // A cancel may reach another node, which can only mark the record: the
            // record is watched, and the query dropped (its engine task aborted) when it
            // says cancelled.
            let outcome = tokio::select! {
                outcome = app.execute_sandbox(&planned, Some(BACKGROUND_LIMIT)) => outcome,
                () = app.cancelled_elsewhere(id) => {
                    lock(&app.sandbox_jobs).remove(&id);
                    return;
                }
            };
            if let Err(e) = app
                .conclude_sandbox(&who, planned, outcome, Some(running))
                .await
                && e.code != ErrorCode::InvalidState
            {
                tracing::warn!(query = id, error = %e.message_en, "background sandbox query");
            }
            lock(&app.sandbox_jobs).remove(&id);
        });
        registry.insert(id, task.abort_handle());
        Ok(view)
    }

    /// Resolves once the query's record no longer says `running` (cancelled on any node).
    async fn cancelled_elsewhere(&self, id: i64) {
        let mut every = tokio::time::interval(CANCEL_POLL);
        loop {
            every.tick().await;
            if let Ok(Some(row)) = self.store.get_sandbox_query(id).await
                && row.state != "running"
            {
                return;
            }
        }
    }

    /// The requester cancels a query still running in the background.
    pub async fn cancel_sandbox(&self, caller: &Principal, id: i64) -> Result<SandboxQueryView> {
        let mut row = self.sandbox_row(caller, id).await?;
        if row.user_id != caller.user_id {
            return Err(Error::forbidden());
        }
        if row.state != "running" {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "该查询已结束，不能取消",
                "This query has ended and cannot be cancelled",
            ));
        }
        if let Some(task) = lock(&self.sandbox_jobs).remove(&id) {
            task.abort();
        }
        row.state = "cancelled".into();
        let saved = match self.store.save_sandbox_query(&row).await {
            Err(gongshu_store::StoreError::VersionConflict) => {
                return Err(Error::new(
                    ErrorCode::InvalidState,
                    "该查询已结束，不能取消",
                    "This query has ended and cannot be cancelled",
                ));
            }
            other => other.map_err(store_error)?,
        };
        self.audit(
            Some(caller),
            AuditEvent {
                action: "sandbox.cancel".into(),
                object: audited_object(id, &doc_of(&saved)?.sql, None),
                dataset: saved.dataset_ids.first().copied(),
                grant: saved.grant_id,
                outcome: "ok",
                ..AuditEvent::default()
            },
        )
        .await?;
        self.sandbox_view(caller, &saved)
    }

    /// Everything decided before a query runs: the gate for every table it names, the
    /// guard, and in the private mode the ε it spends.
    async fn plan_sandbox(
        &self,
        caller: &Principal,
        input: SandboxInput,
        model: Option<(i64, bool)>,
    ) -> Result<Planned> {
        let mode = match model {
            Some((_, true)) => AccessMode::PublicModel,
            _ => AccessMode::Sandbox,
        };
        let limits = SandboxLimits::default();
        if input.sql.len() > limits.max_sql_bytes {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                "SQL 语句过长",
                "The SQL text is too long",
            ));
        }
        let mut readable: Vec<Readable> = Vec::new();
        for name in named_tables(&input.sql) {
            let Some(r) = self
                .store
                .get_resource_by_table(&name)
                .await
                .map_err(store_error)?
            else {
                continue;
            };
            match self.readable(Some(caller), &r.id, mode).await {
                Ok(ok) if ok.is_table() => readable.push(ok),
                Ok(_) => {}
                // A table the caller may not use in the sandbox stays unknown to it, as
                // the guard will say; but a grant that exists and refuses says why.
                Err(e) if e.code == ErrorCode::Forbidden => return Err(e),
                Err(_) => {}
            }
        }
        let Some(first) = readable.first() else {
            return Err(Error::new(
                ErrorCode::BadRequest,
                "查询中没有您可在沙箱中使用的表",
                "The query names no table you may use in the sandbox",
            ));
        };
        let entry = self.dataset_row(first.resource.dataset_id).await?;
        let provider_id = entry.provider_id;
        let mut dataset_ids = Vec::new();
        for r in &readable {
            let d = self.dataset_row(r.resource.dataset_id).await?;
            if d.provider_id != provider_id {
                return Err(Error::new(
                    ErrorCode::BadRequest,
                    "一次沙箱查询只能使用同一提供单位的数据",
                    "One sandbox query uses one provider's data",
                ));
            }
            dataset_ids.push(d.id);
        }
        dataset_ids.sort_unstable();
        dataset_ids.dedup();
        let grant_id = readable.iter().find_map(|r| r.grant);

        let mut tables = Vec::new();
        for r in &readable {
            tables.push(SandboxTable {
                table: r.table(),
                identifying: self.identifying_columns(r).await?,
            });
        }
        let profile = self.settings.disclosure_profile.profile();
        let refs: Vec<_> = tables.iter().map(|t| t.table.clone()).collect();
        // A grant in the differential-privacy mode is answered with noise, and each
        // query spends its ε; otherwise the disclosure control decides.
        let private = match grant_id {
            Some(g) => self.private_mode(g).await?.map(|p| (g, p)),
            None => None,
        };
        let (canonical, fingerprint, filter, work) = match &private {
            Some((g, p)) => {
                let plan =
                    gongshu_data::dp::prepare_dp(&input.sql, &tables, &limits, &p.bounds_map())
                        .map_err(query_error)?;
                self.spend_privacy(*g, p.epsilon_per_query).await?;
                let params = gongshu_data::dp::DpParams {
                    mechanism: p.mechanism,
                    epsilon: p.epsilon_per_query,
                    delta: p.delta,
                    max_rows_per_person: p.max_rows_per_person,
                    min_group: profile.min_group,
                };
                let used = PrivacyUse {
                    mechanism: p.mechanism,
                    epsilon: p.epsilon_per_query,
                };
                (
                    plan.canonical.clone(),
                    plan.fingerprint.clone(),
                    plan.filter.clone(),
                    Work::Private(Box::new(plan), params, used),
                )
            }
            None => {
                let prepared = prepare(&input.sql, &tables, &limits).map_err(query_error)?;
                (
                    prepared.canonical.clone(),
                    prepared.fingerprint.clone(),
                    prepared.filter.clone(),
                    Work::Controlled(Box::new(prepared)),
                )
            }
        };
        Ok(Planned {
            sql: input.sql,
            model,
            dataset_ids,
            provider_id,
            grant_id,
            attribution: readable.iter().map(|r| r.attribution.citation()).collect(),
            refs,
            profile,
            canonical,
            fingerprint,
            filter,
            work,
        })
    }

    async fn execute_sandbox(
        &self,
        p: &Planned,
        timeout: Option<std::time::Duration>,
    ) -> std::result::Result<gongshu_data::sandbox::SandboxOutcome, gongshu_data::query::QueryError>
    {
        let engine = &self.data().engine;
        match &p.work {
            Work::Private(plan, params, _) => {
                engine.sandbox_dp(&p.refs, plan, params, timeout).await
            }
            Work::Controlled(prepared) => {
                engine.sandbox(&p.refs, prepared, &p.profile, timeout).await
            }
        }
    }

    /// Records how a query went: its protected result released or held for review, or
    /// its failure. `running` is the record of a background query, updated in place.
    async fn conclude_sandbox(
        &self,
        caller: &Principal,
        p: Planned,
        outcome: std::result::Result<
            gongshu_data::sandbox::SandboxOutcome,
            gongshu_data::query::QueryError,
        >,
        running: Option<SandboxQueryRow>,
    ) -> Result<SandboxQueryView> {
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                let event = AuditEvent {
                    action: "sandbox.query".into(),
                    object: format!("dataset:{}", p.dataset_ids[0]),
                    dataset: Some(p.dataset_ids[0]),
                    grant: p.grant_id,
                    outcome: "failed",
                    ..AuditEvent::default()
                };
                self.audit(Some(caller), event).await?;
                let e = query_error(e);
                let Some(mut row) = running else {
                    return Err(e);
                };
                let mut doc = doc_of(&row)?;
                doc.error = Some(e.message_zh.clone());
                row.state = "failed".into();
                row.doc = serde_json::to_string(&doc).map_err(|_| Error::internal())?;
                let saved = self
                    .store
                    .save_sandbox_query(&row)
                    .await
                    .map_err(store_error)?;
                return self.sandbox_view(caller, &saved);
            }
        };
        let rows_json = gongshu_data::export::json_rows(&outcome.result.batches)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| serde_json::json!([]));
        let columns: Vec<String> = outcome
            .result
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();

        let private = matches!(p.work, Work::Private(..));
        let mut flag = None;
        // Noise answers differencing in the private mode.
        if !private {
            let earlier = self
                .store
                .same_shape_queries(&p.fingerprint, caller.user_id, p.grant_id, COMPARED)
                .await
                .map_err(store_error)?;
            for q in earlier {
                let Ok(d) = doc_of(&q) else { continue };
                if d.filter == p.filter || running.as_ref().is_some_and(|r| r.id == q.id) {
                    continue;
                }
                let groups =
                    close_groups(&outcome.group_sizes, &d.group_sizes, p.profile.min_group);
                if !groups.is_empty() {
                    flag = Some(DifferencingFlag {
                        earlier_query: q.id,
                        groups,
                    });
                    break;
                }
            }
        }
        let withheld: Vec<WithheldGroup> = outcome
            .withheld
            .into_iter()
            .map(|(keys, reason)| WithheldGroup { keys, reason })
            .collect();
        let state = if (withheld.is_empty() || p.model.is_some()) && flag.is_none() {
            "released"
        } else {
            "review"
        };
        let hash = result_hash(&columns, &rows_json);
        let doc = p.doc(
            columns,
            rows_json,
            outcome.result.truncated,
            withheld,
            outcome.group_sizes,
            flag.clone(),
        );
        let now = self.now();
        let doc = serde_json::to_string(&doc).map_err(|_| Error::internal())?;
        let result_hash_kept = (state == "released").then(|| hash.clone());
        let saved = match running {
            Some(mut row) => {
                row.state = state.to_owned();
                row.doc = doc;
                row.result_hash = result_hash_kept;
                row.released_at = (state == "released").then_some(now);
                // A cancelled query stays cancelled: its version moved on.
                match self.store.save_sandbox_query(&row).await {
                    Err(gongshu_store::StoreError::VersionConflict) => {
                        return Err(Error::new(
                            ErrorCode::InvalidState,
                            "该查询已取消",
                            "This query was cancelled",
                        ));
                    }
                    other => other.map_err(store_error)?,
                }
            }
            None => {
                let row = SandboxQueryRow {
                    id: 0,
                    user_id: caller.user_id,
                    grant_id: p.grant_id,
                    provider_id: p.provider_id,
                    dataset_ids: p.dataset_ids.clone(),
                    state: state.to_owned(),
                    fingerprint: p.fingerprint.clone(),
                    doc,
                    result_hash: result_hash_kept,
                    created_at: now,
                    released_at: None,
                    version: 0,
                };
                self.store
                    .insert_sandbox_query(&row)
                    .await
                    .map_err(store_error)?
            }
        };
        let object = audited_object(saved.id, &p.sql, (state == "released").then_some(&hash));
        let audit = |action: &str, outcome: &'static str| AuditEvent {
            action: action.to_owned(),
            object: object.clone(),
            dataset: Some(p.dataset_ids[0]),
            grant: p.grant_id,
            outcome,
            ..AuditEvent::default()
        };
        if flag.is_some() {
            self.audit(Some(caller), audit("sandbox.differencing", "held"))
                .await?;
        }
        if state == "released" {
            self.audit(Some(caller), audit("sandbox.release", "ok"))
                .await?;
        } else {
            self.audit(Some(caller), audit("sandbox.query", "held"))
                .await?;
            let provider_id = p.provider_id;
            let reviewers = self
                .users_with(gongshu_core::types::Role::ProviderReviewer, |g| {
                    g.org_id == Some(provider_id)
                })
                .await?
                .into_iter()
                .chain(
                    self.users_with(gongshu_core::types::Role::ProviderAdmin, |g| {
                        g.org_id == Some(provider_id)
                    })
                    .await?,
                )
                .filter(|u| *u != caller.user_id)
                .collect::<Vec<_>>();
            self.notify(
                &reviewers,
                "sandbox_review",
                "沙箱查询结果待审核 (a sandbox result waits for review)",
                "一项沙箱查询的结果未能自动通过统计披露控制，须由本单位两名审核人审核后发布。",
                &crate::links::sandbox_query(saved.id),
            )
            .await?;
        }
        self.sandbox_view(caller, &saved)
    }

    fn sandbox_view(&self, caller: &Principal, row: &SandboxQueryRow) -> Result<SandboxQueryView> {
        let doc = doc_of(row)?;
        let reviewer = Self::is_reviewer_of(caller, row.provider_id);
        let released = row.state == "released";
        let result = ((released || reviewer) && !doc.expired).then(|| SandboxResult {
            sha256: result_hash(&doc.columns, &doc.rows),
            columns: doc.columns.clone(),
            rows: doc.rows.clone(),
            truncated: doc.truncated,
            attribution: doc.attribution.clone(),
        });
        Ok(SandboxQueryView {
            id: row.id,
            state: row.state.clone(),
            user_id: row.user_id,
            grant_id: row.grant_id,
            dataset_ids: row.dataset_ids.clone(),
            sql: doc.sql,
            profile: doc.profile,
            withheld_groups: doc.withheld.len(),
            created_at: row.created_at,
            released_at: row.released_at,
            result,
            withheld: reviewer.then_some(doc.withheld),
            flag: if reviewer { doc.flag } else { None },
            reviews: reviewer.then_some(doc.reviews),
            model: doc.model,
            expired: doc.expired,
            privacy: doc.privacy,
            error: doc.error,
        })
    }

    async fn sandbox_row(&self, caller: &Principal, id: i64) -> Result<SandboxQueryRow> {
        let row = self
            .store
            .get_sandbox_query(id)
            .await
            .map_err(store_error)?
            .filter(|r| r.user_id == caller.user_id || Self::is_reviewer_of(caller, r.provider_id))
            .ok_or_else(|| Error::not_found("沙箱查询", "sandbox query"))?;
        Ok(row)
    }

    /// One query: for the person who ran it and the provider's reviewers.
    pub async fn sandbox_query(&self, caller: &Principal, id: i64) -> Result<SandboxQueryView> {
        let row = self.sandbox_row(caller, id).await?;
        self.sandbox_view(caller, &row)
    }

    /// The caller's own queries and, for a provider's reviewers, those over its data.
    pub async fn sandbox_queries(
        &self,
        caller: &Principal,
        state: Option<&str>,
    ) -> Result<Vec<SandboxQueryView>> {
        let rows = self
            .store
            .list_sandbox_queries(Some(caller.user_id), &caller.provider_orgs(), state, 100)
            .await
            .map_err(store_error)?;
        rows.iter().map(|r| self.sandbox_view(caller, r)).collect()
    }

    /// A reviewer of the provider approves or rejects a held result. Two approvals by
    /// different reviewers, neither the requester, release it; one rejection ends it.
    pub async fn review_sandbox(
        &self,
        caller: &Principal,
        id: i64,
        review: SandboxReview,
    ) -> Result<SandboxQueryView> {
        let mut row = self.sandbox_row(caller, id).await?;
        if !Self::is_reviewer_of(caller, row.provider_id) {
            return Err(Error::forbidden());
        }
        if row.user_id == caller.user_id {
            return Err(Error::new(
                ErrorCode::Forbidden,
                "不能审核自己提交的查询",
                "You may not review your own query",
            ));
        }
        if row.state != "review" {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "该查询不在待审核状态",
                "This query is not waiting for review",
            ));
        }
        let mut doc = doc_of(&row)?;
        if doc.reviews.iter().any(|r| r.user_id == caller.user_id) {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "您已审核过该查询，须由另一名审核人审核",
                "You have reviewed this query; a second reviewer must",
            ));
        }
        if review.note.chars().count() > 1000 {
            return Err(Error::new(
                ErrorCode::BadRequest,
                "审核意见不超过1000字",
                "The note is at most 1000 characters",
            ));
        }
        doc.reviews.push(ReviewRecord {
            user_id: caller.user_id,
            username: caller.username.clone(),
            approve: review.approve,
            note: review.note,
            at: self.now(),
        });
        let approvals = doc.reviews.iter().filter(|r| r.approve).count();
        let hash = result_hash(&doc.columns, &doc.rows);
        if !review.approve {
            row.state = "rejected".into();
        } else if approvals >= 2 {
            row.state = "released".into();
            row.released_at = Some(self.now());
            row.result_hash = Some(hash.clone());
        }
        row.doc = serde_json::to_string(&doc).map_err(|_| Error::internal())?;
        let saved = self
            .store
            .save_sandbox_query(&row)
            .await
            .map_err(store_error)?;
        let action = match saved.state.as_str() {
            "released" => "sandbox.release",
            "rejected" => "sandbox.review.reject",
            _ => "sandbox.review.approve",
        };
        self.audit(
            Some(caller),
            AuditEvent {
                action: action.to_owned(),
                object: audited_object(
                    saved.id,
                    &doc.sql,
                    (saved.state == "released").then_some(&hash),
                ),
                dataset: saved.dataset_ids.first().copied(),
                grant: saved.grant_id,
                outcome: "ok",
                ..AuditEvent::default()
            },
        )
        .await?;
        if saved.state != "review" {
            let (zh, en) = if saved.state == "released" {
                ("沙箱查询结果已审核发布", "your sandbox result is released")
            } else {
                (
                    "沙箱查询结果未获发布",
                    "your sandbox result was not released",
                )
            };
            self.notify(
                &[saved.user_id],
                "sandbox_decided",
                &format!("{zh} ({en})"),
                zh,
                &crate::links::sandbox_query(saved.id),
            )
            .await?;
        }
        self.sandbox_view(caller, &saved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_differences_between_same_groups_are_found() {
        let before = vec![("a".to_owned(), 40), ("b".to_owned(), 25)];
        let now = vec![
            ("a".to_owned(), 39),
            ("b".to_owned(), 25),
            ("c".to_owned(), 3),
        ];
        assert_eq!(close_groups(&now, &before, 10), ["a"]);
        let far = vec![("a".to_owned(), 60)];
        assert!(close_groups(&far, &before, 10).is_empty());
    }

    #[test]
    fn table_names_are_found_in_the_text() {
        assert_eq!(
            named_tables("SELECT COUNT(*) FROM DS_a JOIN ds_b ON x JOIN ds_a"),
            ["ds_a", "ds_b"]
        );
    }
}
