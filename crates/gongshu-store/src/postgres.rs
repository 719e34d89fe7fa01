//! PostgreSQL, for deployments that run several nodes against one database.
//!
//! The queries mirror the SQLite implementation. Where SQLite's single writer made a
//! read-then-write correct, the PostgreSQL version locks what it reads (`FOR UPDATE`, a
//! table lock for gap-free numbering) or folds the read into the write.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gongshu_core::access::GrantKind;
use gongshu_core::apply::ApplicationState;
use gongshu_core::authz::RoleGrant;
use gongshu_core::calendar::YearSchedule;
use gongshu_core::catalog::DatasetDraft;
use gongshu_core::types::{DatasetStatus, Domain, OpenType, OrgKind, Role, ShareType, UserKind};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row};

use crate::model::*;
use crate::{Result, Store, StoreError};

mod federation;
mod harvest;
mod models;
mod reports;
mod sandbox;
mod verification;

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    url: String,
}

/// Leaves the password out: the store is logged with `{:?}` in places.
impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("pool", &self.pool)
            .field("url", &redacted(&self.url))
            .finish()
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

impl PgStore {
    /// Runs a query for at most one row and maps it.
    async fn optional<T>(
        &self,
        query: PgQuery<'_>,
        map: fn(&PgRow) -> Result<T>,
    ) -> Result<Option<T>> {
        query
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(map)
            .transpose()
    }

    /// Runs a query and maps every row.
    async fn all<T>(&self, query: PgQuery<'_>, map: fn(&PgRow) -> Result<T>) -> Result<Vec<T>> {
        query.fetch_all(&self.pool).await?.iter().map(map).collect()
    }

    /// Why a guarded update touched no row: the application is gone, or someone acted first.
    async fn missing_or_conflict(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        id: i64,
    ) -> StoreError {
        match sqlx::query_scalar::<_, i64>("SELECT id FROM applications WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
        {
            Ok(Some(_)) => StoreError::VersionConflict,
            Ok(None) => StoreError::NotFound,
            Err(e) => e.into(),
        }
    }

    /// Connects to the database at `url` (`postgres://…`) and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        let store = Self {
            pool,
            url: url.to_owned(),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Runs blocking work on a thread of its own and waits for it without blocking the executor.
async fn off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    use std::sync::{Arc, Mutex};
    use std::task::{Poll, Waker};
    type Slot<T> = Arc<Mutex<(Option<T>, Option<Waker>)>>;
    let slot: Slot<T> = Arc::new(Mutex::new((None, None)));
    let theirs = Arc::clone(&slot);
    std::thread::spawn(move || {
        let out = work();
        let mut s = theirs.lock().unwrap_or_else(|e| e.into_inner());
        s.0 = Some(out);
        if let Some(w) = s.1.take() {
            w.wake();
        }
    });
    std::future::poll_fn(move |cx| {
        let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
        match s.0.take() {
            Some(out) => Poll::Ready(out),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}

/// A row limit as SQLite takes it: a negative one means none (PostgreSQL refuses those;
/// `LIMIT NULL` is its "no limit"). Negative offsets are bound as 0 for the same reason.
fn limit(n: i64) -> Option<i64> {
    (n >= 0).then_some(n)
}

/// The URL without its password and its parameters (which may hold one too), for logs.
fn redacted(url: &str) -> String {
    let (url, _) = without_password(url);
    match url.find('?') {
        Some(q) => format!("{}?…", &url[..q]),
        None => url,
    }
}

/// The URL without its password, and the password (percent-decoded) if it had one.
fn without_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_owned(), None);
    };
    let rest = &url[scheme_end..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return (url.to_owned(), None);
    };
    let Some(colon) = authority[..at].find(':') else {
        return (url.to_owned(), None);
    };
    let encoded = &authority[colon + 1..at];
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        let hex = encoded
            .get(i + 1..i + 3)
            .filter(|_| encoded.as_bytes()[i] == b'%')
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                bytes.push(b);
                i += 3;
            }
            None => {
                bytes.push(encoded.as_bytes()[i]);
                i += 1;
            }
        }
    }
    let password = String::from_utf8_lossy(&bytes).into_owned();
    let stripped = format!(
        "{}{}{}",
        &url[..scheme_end],
        &authority[..colon],
        &url[scheme_end + at..]
    );
    (stripped, Some(password))
}

/// `pg_dump` on the PATH, or else the newest one of the Debian packages.
fn pg_dump_binary() -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("pg_dump"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| {
                let e = e.ok()?;
                let major: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin/pg_dump");
                bin.is_file().then_some((major, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin)
    })
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

fn vocab<T>(row: &PgRow, col: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    let s: String = row.try_get(col)?;
    parse(&s).ok_or_else(|| corrupt(col, &s))
}

fn doc(row: &PgRow) -> Result<DatasetDraft> {
    let s: String = row.try_get("doc")?;
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("doc: {e}")))
}

fn doc_json(d: &DatasetDraft) -> Result<String> {
    serde_json::to_string(d).map_err(|e| StoreError::Corrupt(format!("doc: {e}")))
}

/// Turns a unique-constraint violation into `Duplicate`, naming what was duplicated.
fn unique(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(what),
        _ => StoreError::Backend(e),
    }
}

fn region_row(r: &PgRow) -> Result<RegionRow> {
    Ok(RegionRow {
        code: r.try_get("code")?,
        name: r.try_get("name")?,
    })
}

fn org_row(r: &PgRow) -> Result<OrgRow> {
    Ok(OrgRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        name_en: r.try_get("name_en")?,
        kind: vocab(r, "kind", OrgKind::parse)?,
        region_code: r.try_get("region_code")?,
        credit_code: r.try_get("credit_code")?,
        contact: r.try_get("contact")?,
        created_at: r.try_get("created_at")?,
    })
}

fn user_row(r: &PgRow) -> Result<UserRow> {
    Ok(UserRow {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        kind: vocab(r, "kind", UserKind::parse)?,
        password_hash: r.try_get("password_hash")?,
        disabled: r.try_get("disabled")?,
        created_at: r.try_get("created_at")?,
    })
}

fn dataset_row(r: &PgRow) -> Result<DatasetRow> {
    Ok(DatasetRow {
        id: r.try_get("id")?,
        code: r.try_get("code")?,
        provider_id: r.try_get("provider_id")?,
        region_code: r.try_get("region_code")?,
        status: vocab(r, "status", DatasetStatus::parse)?,
        version: r.try_get("version")?,
        doc: doc(r)?,
        review_note: r.try_get("review_note")?,
        published_version: r.try_get("published_version")?,
        first_published_at: r.try_get("first_published_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn revision_row(r: &PgRow) -> Result<RevisionRow> {
    Ok(RevisionRow {
        dataset_id: r.try_get("dataset_id")?,
        version: r.try_get("version")?,
        status: vocab(r, "status", DatasetStatus::parse)?,
        doc: doc(r)?,
        actor_id: r.try_get("actor_id")?,
        actor_name: r.try_get("actor_name")?,
        note: r.try_get("note")?,
        published: r.try_get("published")?,
        created_at: r.try_get("created_at")?,
    })
}

fn published_row(r: &PgRow) -> Result<PublishedRow> {
    Ok(PublishedRow {
        id: r.try_get("id")?,
        code: r.try_get("code")?,
        provider_id: r.try_get("provider_id")?,
        provider_name: r.try_get("provider_name")?,
        provider_credit_code: r.try_get("provider_credit_code")?,
        region_code: r.try_get("region_code")?,
        version: r.try_get("version")?,
        doc: doc(r)?,
        published_at: r.try_get("published_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Escapes LIKE wildcards so user text matches literally.
fn alert_row(r: &PgRow) -> Result<AlertRow> {
    let evidence: String = r.try_get("evidence")?;
    Ok(AlertRow {
        id: r.try_get("id")?,
        rule: r.try_get("rule")?,
        subject: r.try_get("subject")?,
        dataset_id: r.try_get("dataset_id")?,
        summary_zh: r.try_get("summary_zh")?,
        summary_en: r.try_get("summary_en")?,
        evidence: serde_json::from_str(&evidence).unwrap_or_default(),
        first_at: r.try_get("first_at")?,
        last_at: r.try_get("last_at")?,
        created_at: r.try_get("created_at")?,
    })
}

fn like_pattern(word: &str) -> String {
    format!("%{}", like_prefix(word))
}

/// `LIKE 'text%'` with `text` taken literally (escape character `\`).
fn like_prefix(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The text a plain catalog query matches against (a real index comes with gongshu-search).
fn search_text(code: &str, provider_name: &str, d: &DatasetDraft) -> String {
    let mut s = format!("{code} {provider_name} {} {}", d.title, d.summary);
    for k in &d.keywords {
        s.push(' ');
        s.push_str(k);
    }
    for i in &d.items {
        s.push(' ');
        s.push_str(&i.name);
    }
    s.to_lowercase()
}

const PUBLISHED_SELECT: &str = "SELECT p.id, p.code, p.provider_id, o.name AS provider_name, \
     o.credit_code AS provider_credit_code, p.region_code, p.version, p.doc, p.published_at, \
     p.updated_at FROM published_datasets p JOIN organizations o ON o.id = p.provider_id";

fn push_published_filters(b: &mut QueryBuilder<'_, Postgres>, q: &PublishedQuery) {
    b.push(" WHERE 1 = 1");
    if let Some(text) = &q.q {
        for word in text.to_lowercase().split_whitespace().take(16) {
            b.push(" AND p.search_text LIKE ")
                .push_bind(like_pattern(word))
                .push(" ESCAPE '\\'");
        }
    }
    if let Some(d) = q.domain {
        b.push(" AND p.domains LIKE ")
            .push_bind(format!("%,{},%", d.as_str()));
    }
    if let Some(p) = q.provider_id {
        b.push(" AND p.provider_id = ").push_bind(p);
    }
    if let Some(prefix) = &q.region_prefix {
        b.push(" AND p.region_code LIKE ")
            .push_bind(format!("{prefix}%"));
    }
    if !q.open_types.is_empty() {
        b.push(" AND p.open_type IN (");
        let mut sep = b.separated(", ");
        for t in &q.open_types {
            sep.push_bind(t.as_str());
        }
        b.push(")");
    }
    if let Some(s) = q.share_type {
        b.push(" AND p.share_type = ").push_bind(s.as_str());
    }
    if let Some(c) = q.update_cycle {
        b.push(" AND p.update_cycle = ").push_bind(c.as_str());
    }
    if let Some(g) = q.grade {
        b.push(" AND p.grade = ").push_bind(g.as_str());
    }
    if let Some(f) = &q.format {
        b.push(
            " AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(p.doc::jsonb -> 'file_formats') \
             AS f(value) WHERE f.value = ",
        )
        .push_bind(f.clone())
        .push(")");
    }
}

fn push_working_filters(b: &mut QueryBuilder<'_, Postgres>, q: &WorkingQuery) {
    b.push(" WHERE (0 = 1");
    for id in &q.provider_ids {
        b.push(" OR provider_id = ").push_bind(*id);
    }
    for prefix in &q.region_prefixes {
        b.push(" OR region_code LIKE ")
            .push_bind(format!("{prefix}%"));
    }
    b.push(")");
    if let Some(s) = q.status {
        b.push(" AND status = ").push_bind(s.as_str());
    }
}

const RESOURCE_SELECT: &str = "SELECT id, dataset_id, ordinal, name, table_name, current_version, \
     current_manifest, created_by, created_at, updated_at FROM resources";

fn resource_row(r: &PgRow) -> Result<ResourceRow> {
    Ok(ResourceRow {
        id: r.try_get("id")?,
        dataset_id: r.try_get("dataset_id")?,
        ordinal: r.try_get("ordinal")?,
        name: r.try_get("name")?,
        table_name: r.try_get("table_name")?,
        current_version: r.try_get("current_version")?,
        current_manifest: r.try_get("current_manifest")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn resource_version_row(r: &PgRow) -> Result<ResourceVersionRow> {
    Ok(ResourceVersionRow {
        resource_id: r.try_get("resource_id")?,
        version: r.try_get("version")?,
        manifest: r.try_get("manifest")?,
        state: vocab(r, "state", VersionState::parse)?,
        uploaded_by: r.try_get("uploaded_by")?,
        created_at: r.try_get("created_at")?,
        published_at: r.try_get("published_at")?,
    })
}

const JOB_SELECT: &str = "SELECT id, kind, dataset_id, resource_id, state, rows_read, rows_rejected, \
     detail, error, version, created_by, created_at, updated_at FROM jobs";

/// `(held by this user or by one of these departments)`.
fn push_holder(b: &mut QueryBuilder<'_, Postgres>, user_id: i64, org_ids: &[i64]) {
    b.push("(holder_user_id = ").push_bind(user_id);
    if !org_ids.is_empty() {
        b.push(" OR holder_org_id IN (");
        let mut list = b.separated(", ");
        for id in org_ids {
            list.push_bind(*id);
        }
        b.push(")");
    }
    b.push(")");
}

/// Inserts a grant and its `granted` event inside the caller's transaction.
async fn insert_grant_in(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    g: &NewGrant<'_>,
) -> Result<i64> {
    let modes =
        serde_json::to_string(g.modes).map_err(|e| StoreError::Corrupt(format!("modes: {e}")))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO grants (kind, dataset_id, holder_user_id, holder_org_id, modes, purpose, \
         valid_from, valid_until, quota_calls_per_day, quota_rows_per_day, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(grant_kind_str(g.kind))
    .bind(g.dataset_id)
    .bind(g.holder_user_id)
    .bind(g.holder_org_id)
    .bind(modes)
    .bind(g.purpose)
    .bind(g.valid_from)
    .bind(g.valid_until)
    .bind(g.quota_calls_per_day)
    .bind(g.quota_rows_per_day)
    .bind(g.created_by)
    .bind(g.at)
    .fetch_one(&mut **tx)
    .await?;
    let object_id = id.to_string();
    insert_event(
        tx,
        &NewEvent {
            at: g.at,
            actor_id: g.created_by,
            object_type: "grant",
            object_id: &object_id,
            action: "granted",
            reason: g.reason,
            detail: "{}".into(),
        },
    )
    .await?;
    Ok(id)
}

const APPLICATION_COLUMNS: &str = "applications.id, applications.dataset_id, applicant_id, \
     requester_org_id, \
     state, content, content_hash, submitted_at, due_on, due_provisional, decided_at, \
     decided_by, decision_reason, quota_calls_per_day, quota_rows_per_day, agreement, \
     agreement_hash, applicant_accepted_at, \
     provider_accepted_at, provider_accepted_by, grant_id, applications.updated_at";

fn application_row(r: &PgRow) -> Result<ApplicationRow> {
    Ok(ApplicationRow {
        id: r.try_get("id")?,
        dataset_id: r.try_get("dataset_id")?,
        applicant_id: r.try_get("applicant_id")?,
        requester_org_id: r.try_get("requester_org_id")?,
        state: vocab(r, "state", ApplicationState::parse)?,
        content: r.try_get("content")?,
        content_hash: r.try_get("content_hash")?,
        submitted_at: r.try_get("submitted_at")?,
        due_on: naive_date(r, "due_on")?,
        due_provisional: r.try_get("due_provisional")?,
        decided_at: r.try_get("decided_at")?,
        decided_by: r.try_get("decided_by")?,
        decision_reason: r.try_get("decision_reason")?,
        quota_calls_per_day: r.try_get("quota_calls_per_day")?,
        quota_rows_per_day: r.try_get("quota_rows_per_day")?,
        agreement: r.try_get("agreement")?,
        agreement_hash: r.try_get("agreement_hash")?,
        applicant_accepted_at: r.try_get("applicant_accepted_at")?,
        provider_accepted_at: r.try_get("provider_accepted_at")?,
        provider_accepted_by: r.try_get("provider_accepted_by")?,
        grant_id: r.try_get("grant_id")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Grants with their use on a day, which the caller binds next.
fn held_grant_select() -> String {
    format!(
        "SELECT {GRANT_COLUMNS}, COALESCE(u.calls, 0) AS calls_today, \
         COALESCE(u.rows, 0) AS rows_today FROM grants \
         LEFT JOIN grant_usage u ON u.grant_id = grants.id AND u.day ="
    )
}

const GRANT_COLUMNS: &str = "grants.id, kind, dataset_id, holder_user_id, holder_org_id, \
     modes, purpose, valid_from, valid_until, quota_calls_per_day, quota_rows_per_day, \
     terminated_at, terminated_reason, created_by, created_at";

fn grant_kind_str(k: GrantKind) -> &'static str {
    match k {
        GrantKind::Open => "open",
        GrantKind::Share => "share",
    }
}

fn grant_row(r: &PgRow) -> Result<GrantRow> {
    let modes: String = r.try_get("modes")?;
    Ok(GrantRow {
        id: r.try_get("id")?,
        kind: vocab(r, "kind", |s| match s {
            "open" => Some(GrantKind::Open),
            "share" => Some(GrantKind::Share),
            _ => None,
        })?,
        dataset_id: r.try_get("dataset_id")?,
        holder_user_id: r.try_get("holder_user_id")?,
        holder_org_id: r.try_get("holder_org_id")?,
        modes: serde_json::from_str(&modes)
            .map_err(|e| StoreError::Corrupt(format!("modes: {e}")))?,
        purpose: r.try_get("purpose")?,
        valid_from: r.try_get("valid_from")?,
        valid_until: r.try_get("valid_until")?,
        quota_calls_per_day: r.try_get("quota_calls_per_day")?,
        quota_rows_per_day: r.try_get("quota_rows_per_day")?,
        terminated_at: r.try_get("terminated_at")?,
        terminated_reason: r.try_get("terminated_reason")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
    })
}

fn held_grant_row(r: &PgRow) -> Result<HeldGrant> {
    Ok(HeldGrant {
        grant: grant_row(r)?,
        calls_today: r.try_get("calls_today")?,
        rows_today: r.try_get("rows_today")?,
    })
}

fn schedule_json(s: &YearSchedule) -> Result<String> {
    serde_json::to_string(s).map_err(|e| StoreError::Corrupt(format!("schedule: {e}")))
}

fn holiday_schedule_row(r: &PgRow) -> Result<HolidayScheduleRow> {
    let json: String = r.try_get("schedule")?;
    Ok(HolidayScheduleRow {
        schedule: serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("schedule: {e}")))?,
        source: vocab(r, "source", ScheduleSource::parse)?,
        updated_by: r.try_get("updated_by")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Makes `doc` (revision `version`) what the public sees of the entry.
async fn publish_in(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    entry: &DatasetRow,
    d: &DatasetDraft,
    version: i64,
    doc: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let provider_name: String = sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
        .bind(entry.provider_id)
        .fetch_one(&mut **tx)
        .await?;
    let domains: String = d.domains.iter().fold(",".to_owned(), |mut s, x| {
        s.push_str(x.as_str());
        s.push(',');
        s
    });
    sqlx::query(
        "INSERT INTO published_datasets (id, code, provider_id, region_code, version, title, \
            open_type, share_type, update_cycle, grade, domains, search_text, doc, published_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (id) DO UPDATE SET code = excluded.code, provider_id = excluded.provider_id, \
            region_code = excluded.region_code, version = excluded.version, title = excluded.title, \
            open_type = excluded.open_type, share_type = excluded.share_type, \
            update_cycle = excluded.update_cycle, grade = excluded.grade, domains = excluded.domains, \
            search_text = excluded.search_text, doc = excluded.doc, \
            published_at = excluded.published_at, updated_at = excluded.updated_at",
    )
    .bind(entry.id)
    .bind(&entry.code)
    .bind(entry.provider_id)
    .bind(&entry.region_code)
    .bind(version)
    .bind(&d.title)
    .bind(d.open_type.as_str())
    .bind(d.share_type.as_str())
    .bind(d.update_cycle.as_str())
    .bind(d.grade.as_str())
    .bind(domains)
    .bind(search_text(&entry.code, &provider_name, d))
    .bind(doc)
    .bind(entry.first_published_at.unwrap_or(at))
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn naive_date(r: &PgRow, col: &str) -> Result<Option<chrono::NaiveDate>> {
    Ok(r.try_get(col)?)
}

/// How a calendar day is bound: the columns holding days are `DATE`.
fn day(d: chrono::NaiveDate) -> chrono::NaiveDate {
    d
}

fn change_row(r: &PgRow) -> Result<AttributeChangeRow> {
    use gongshu_core::change::{ChangeRoute, ChangeState};
    Ok(AttributeChangeRow {
        id: r.try_get("id")?,
        dataset_id: r.try_get("dataset_id")?,
        requested_by: r.try_get("requested_by")?,
        state: vocab(r, "state", ChangeState::parse)?,
        route: vocab(r, "route", ChangeRoute::parse)?,
        content: r.try_get("content")?,
        from_open: vocab(r, "from_open", OpenType::parse)?,
        to_open: vocab(r, "to_open", OpenType::parse)?,
        from_share: vocab(r, "from_share", ShareType::parse)?,
        to_share: vocab(r, "to_share", ShareType::parse)?,
        due_on: naive_date(r, "due_on")?,
        due_provisional: r.try_get("due_provisional")?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get("decided_at")?,
        decision_reason: r.try_get("decision_reason")?,
        created_at: r.try_get("created_at")?,
    })
}

fn column_class_row(r: &PgRow) -> Result<ColumnClassRow> {
    Ok(ColumnClassRow {
        resource_id: r.try_get("resource_id")?,
        version: r.try_get("version")?,
        column_name: r.try_get("column_name")?,
        proposed_kind: r.try_get("proposed_kind")?,
        proposal: r.try_get("proposal")?,
        confirmed_kind: r.try_get("confirmed_kind")?,
        confirmed_by: r.try_get("confirmed_by")?,
        confirmed_at: r.try_get("confirmed_at")?,
    })
}

const CATALOG_UPDATE_SELECT: &str = "SELECT u.*, o.region_code FROM catalog_updates u \
     JOIN organizations o ON o.id = u.provider_id";

fn catalog_update_row(r: &PgRow) -> Result<CatalogUpdateRow> {
    let date = |column: &str| -> Result<chrono::NaiveDate> {
        naive_date(r, column)?.ok_or_else(|| StoreError::Corrupt(format!("{column} is empty")))
    };
    Ok(CatalogUpdateRow {
        id: r.try_get("id")?,
        provider_id: r.try_get("provider_id")?,
        region_code: r.try_get("region_code")?,
        cause: r.try_get("cause")?,
        basis: r.try_get("basis")?,
        received_on: date("received_on")?,
        due_on: date("due_on")?,
        due_provisional: r.try_get("due_provisional")?,
        state: r.try_get("state")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        closed_by: r.try_get("closed_by")?,
        closed_at: r.try_get("closed_at")?,
        close_note: r.try_get("close_note")?,
    })
}

fn feedback_row(r: &PgRow) -> Result<FeedbackRow> {
    let case: String = r.try_get("case_type")?;
    Ok(FeedbackRow {
        id: r.try_get("id")?,
        case_type: CaseType::parse(&case).ok_or_else(|| corrupt("case_type", &case))?,
        dataset_id: r.try_get("dataset_id")?,
        provider_id: r.try_get("provider_id")?,
        region_code: r.try_get("region_code")?,
        author_id: r.try_get("author_id")?,
        state: r.try_get("state")?,
        public: r.try_get("public")?,
        offline: r.try_get("offline")?,
        received_on: naive_date(r, "received_on")?,
        due_on: naive_date(r, "due_on")?,
        due_provisional: r.try_get("due_provisional")?,
        answered_on: naive_date(r, "answered_on")?,
        doc: r.try_get("doc")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        version: r.try_get("version")?,
    })
}

fn share_review_one_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| format!("{SHARE_REVIEW_SELECT} AND p.id = $1"))
}

fn region_policy_row(r: &PgRow) -> Result<RegionPolicyRow> {
    Ok(RegionPolicyRow {
        region_code: r.try_get("region_code")?,
        policy: r.try_get("policy")?,
        updated_by: r.try_get("updated_by")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// `OR` the entry (joined as `d`) is one of these providers' or lies in these regions.
fn push_party_filters(
    b: &mut QueryBuilder<'_, Postgres>,
    provider_ids: &[i64],
    region_prefixes: &[String],
) {
    if !provider_ids.is_empty() {
        b.push(" OR d.provider_id IN (");
        let mut list = b.separated(", ");
        for id in provider_ids {
            list.push_bind(*id);
        }
        b.push(")");
    }
    for prefix in region_prefixes {
        b.push(" OR d.region_code LIKE ")
            .push_bind(format!("{prefix}%"));
    }
}

fn notification_row(r: &PgRow) -> Result<NotificationRow> {
    Ok(NotificationRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        kind: r.try_get("kind")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        link: r.try_get("link")?,
        created_at: r.try_get("created_at")?,
        read_at: r.try_get("read_at")?,
    })
}

fn channels_row(r: &PgRow) -> Result<ChannelsRow> {
    Ok(ChannelsRow {
        email: r.try_get("email")?,
        webhook_url: r.try_get("webhook_url")?,
        webhook_secret: r.try_get("webhook_secret")?,
    })
}

fn share_review_row(r: &PgRow) -> Result<ShareReviewRow> {
    Ok(ShareReviewRow {
        dataset_id: r.try_get("id")?,
        provider_id: r.try_get("provider_id")?,
        region_code: r.try_get("region_code")?,
        title: r.try_get("title")?,
        published_at: r.try_get("published_at")?,
        due_on: naive_date(r, "due_on")?,
        reviewed_at: r.try_get("reviewed_at")?,
        reviewed_by: r.try_get("reviewed_by")?,
        note: r.try_get("note")?,
    })
}

const SHARE_REVIEW_SELECT: &str = "SELECT p.id, p.provider_id, p.region_code, p.title, \
     p.published_at, r.due_on, r.reviewed_at, r.reviewed_by, r.note \
     FROM published_datasets p LEFT JOIN share_reviews r ON r.dataset_id = p.id \
     WHERE p.share_type = 'conditional'";

async fn insert_change_in(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    n: &NewAttributeChange<'_>,
    state: gongshu_core::change::ChangeState,
) -> Result<AttributeChangeRow> {
    let row = sqlx::query(
        "INSERT INTO attribute_changes (dataset_id, requested_by, state, route, content, \
         from_open, to_open, from_share, to_share, due_on, due_provisional, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *"
    )
    .bind(n.dataset_id)
    .bind(n.requested_by)
    .bind(state.as_str())
    .bind(n.route.as_str())
    .bind(n.content)
    .bind(n.from_open.as_str())
    .bind(n.to_open.as_str())
    .bind(n.from_share.as_str())
    .bind(n.to_share.as_str())
    .bind(n.due_on.map(day))
    .bind(n.due_provisional)
    .bind(n.at)
    .bind(n.at)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| unique(e, "pending change"))?;
    let change = change_row(&row)?;
    insert_event(
        tx,
        &NewEvent {
            at: n.at,
            actor_id: Some(n.requested_by),
            object_type: "attribute_change",
            object_id: &change.id.to_string(),
            action: "requested",
            reason: n.reason,
            detail: serde_json::json!({
                "dataset_id": n.dataset_id,
                "open_type": [n.from_open.as_str(), n.to_open.as_str()],
                "share_type": [n.from_share.as_str(), n.to_share.as_str()],
                "route": n.route.as_str(),
            })
            .to_string(),
        },
    )
    .await?;
    Ok(change)
}

struct Revision<'a> {
    dataset_id: i64,
    version: i64,
    status: DatasetStatus,
    doc: &'a str,
    actor_id: Option<i64>,
    note: Option<&'a str>,
    published: bool,
    at: DateTime<Utc>,
}

async fn insert_revision_in(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    r: &Revision<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO dataset_revisions (dataset_id, version, status, doc, actor_id, note, published, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(r.dataset_id)
    .bind(r.version)
    .bind(r.status.as_str())
    .bind(r.doc)
    .bind(r.actor_id)
    .bind(r.note)
    .bind(r.published)
    .bind(r.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_event(tx: &mut sqlx::Transaction<'_, Postgres>, e: &NewEvent<'_>) -> Result<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO events (at, actor_id, object_type, object_id, action, reason, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(e.at)
    .bind(e.actor_id)
    .bind(e.object_type)
    .bind(e.object_id)
    .bind(e.action)
    .bind(e.reason)
    .bind(&e.detail)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

fn event_row(r: &PgRow) -> Result<EventRow> {
    Ok(EventRow {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        actor_id: r.try_get("actor_id")?,
        object_type: r.try_get("object_type")?,
        object_id: r.try_get("object_id")?,
        action: r.try_get("action")?,
        reason: r.try_get("reason")?,
        detail: r.try_get("detail")?,
    })
}

fn job_row(r: &PgRow) -> Result<JobRow> {
    Ok(JobRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        dataset_id: r.try_get("dataset_id")?,
        resource_id: r.try_get("resource_id")?,
        state: r.try_get("state")?,
        rows_read: r.try_get("rows_read")?,
        rows_rejected: r.try_get("rows_rejected")?,
        detail: r.try_get("detail")?,
        error: r.try_get("error")?,
        version: r.try_get("version")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[async_trait]
impl Store for PgStore {
    async fn health(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn snapshot(&self, to: &Path) -> Result<()> {
        // pg_dump reads the whole database in one repeatable-read transaction of its own.
        let missing = || {
            StoreError::Backend(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "pg_dump not found (neither on PATH nor under /usr/lib/postgresql/*/bin)",
            )))
        };
        let bin = pg_dump_binary().ok_or_else(missing)?;
        // The password goes in the environment, not on a command line others can list.
        let (url, password) = without_password(&self.url);
        let to = to.to_owned();
        let output = off_thread(move || {
            let mut command = std::process::Command::new(bin);
            command
                .arg("--format=custom")
                .arg("--no-password")
                .arg("--file")
                .arg(&to)
                .arg("--dbname")
                .arg(&url)
                .stdin(std::process::Stdio::null());
            if let Some(password) = password {
                command.env("PGPASSWORD", password);
            }
            command.output()
        })
        .await
        .map_err(|e| StoreError::Backend(sqlx::Error::Io(e)))?;
        if !output.status.success() {
            let message = String::from_utf8_lossy(&output.stderr);
            return Err(StoreError::Backend(sqlx::Error::Io(std::io::Error::other(
                format!("pg_dump failed ({}): {}", output.status, message.trim()),
            ))));
        }
        Ok(())
    }

    async fn upsert_region(&self, code: &str, name: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO regions (code, name) VALUES ($1, $2) \
             ON CONFLICT(code) DO UPDATE SET name = excluded.name",
        )
        .bind(code)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_regions(&self) -> Result<Vec<RegionRow>> {
        self.all(
            sqlx::query("SELECT code, name FROM regions ORDER BY code"),
            region_row,
        )
        .await
    }

    async fn get_region(&self, code: &str) -> Result<Option<RegionRow>> {
        self.optional(
            sqlx::query("SELECT code, name FROM regions WHERE code = $1").bind(code),
            region_row,
        )
        .await
    }

    async fn insert_org(&self, org: &NewOrg, at: DateTime<Utc>) -> Result<OrgRow> {
        let row = sqlx::query(
            "INSERT INTO organizations (name, name_en, kind, region_code, credit_code, contact, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        )
        .bind(&org.name)
        .bind(&org.name_en)
        .bind(org.kind.as_str())
        .bind(&org.region_code)
        .bind(&org.credit_code)
        .bind(&org.contact)
        .bind(at)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| unique(e, "credit_code"))?;
        org_row(&row)
    }

    async fn get_org(&self, id: i64) -> Result<Option<OrgRow>> {
        self.optional(
            sqlx::query("SELECT * FROM organizations WHERE id = $1").bind(id),
            org_row,
        )
        .await
    }

    async fn list_orgs(&self, filter: &OrgFilter) -> Result<Vec<OrgRow>> {
        let mut b = QueryBuilder::<Postgres>::new("SELECT * FROM organizations WHERE 1 = 1");
        if let Some(prefix) = &filter.region_prefix {
            b.push(" AND region_code LIKE ")
                .push_bind(format!("{prefix}%"));
        }
        if let Some(kind) = filter.kind {
            b.push(" AND kind = ").push_bind(kind.as_str());
        }
        b.push(" ORDER BY region_code, kind DESC, id");
        b.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(org_row)
            .collect()
    }

    async fn count_orgs(&self, kind: OrgKind) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM organizations WHERE kind = $1")
                .bind(kind.as_str())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn insert_user(&self, user: &NewUser, at: DateTime<Utc>) -> Result<UserRow> {
        let row = sqlx::query(
            "INSERT INTO users (username, display_name, kind, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING *",
        )
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(user.kind.as_str())
        .bind(&user.password_hash)
        .bind(at)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| unique(e, "username"))?;
        user_row(&row)
    }

    async fn get_user(&self, id: i64) -> Result<Option<UserRow>> {
        self.optional(
            sqlx::query("SELECT * FROM users WHERE id = $1").bind(id),
            user_row,
        )
        .await
    }

    async fn get_user_by_name(&self, username: &str) -> Result<Option<UserRow>> {
        self.optional(
            sqlx::query("SELECT * FROM users WHERE username = $1").bind(username),
            user_row,
        )
        .await
    }

    async fn list_users(&self) -> Result<Vec<UserRow>> {
        self.all(sqlx::query("SELECT * FROM users ORDER BY id"), user_row)
            .await
    }

    async fn set_password(&self, user_id: i64, hash: &str) -> Result<()> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn add_grant(&self, user_id: i64, grant: &RoleGrant) -> Result<()> {
        sqlx::query(
            "INSERT INTO role_grants (user_id, role, org_id, region_code) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(grant.role.as_str())
        .bind(grant.org_id)
        .bind(&grant.region_code)
        .execute(&self.pool)
        .await
        .map_err(|e| unique(e, "role grant"))?;
        Ok(())
    }

    async fn grants(&self, user_id: i64) -> Result<Vec<RoleGrant>> {
        sqlx::query(
            // In the order they were granted, as SQLite's rowid gives it (`ord`, 0002).
            "SELECT role, org_id, region_code FROM role_grants WHERE user_id = $1 ORDER BY ord",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(RoleGrant {
                role: vocab(r, "role", Role::parse)?,
                org_id: r.try_get("org_id")?,
                region_code: r.try_get("region_code")?,
            })
        })
        .collect()
    }

    async fn insert_credential(&self, c: &NewCredential) -> Result<()> {
        sqlx::query(
            "INSERT INTO credentials (token_hash, kind, user_id, csrf, created_at, expires_at, grant_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&c.token_hash)
        .bind(c.kind.as_str())
        .bind(c.user_id)
        .bind(&c.csrf)
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.grant_id)
        .execute(&self.pool)
        .await
        .map_err(|e| unique(e, "token"))?;
        Ok(())
    }

    async fn get_credential(
        &self,
        token_hash: &str,
        kind: CredentialKind,
        now: DateTime<Utc>,
    ) -> Result<Option<CredentialRow>> {
        let row = sqlx::query(
            "SELECT c.user_id, c.csrf, c.expires_at, c.grant_id FROM credentials c JOIN users u ON u.id = c.user_id \
             WHERE c.token_hash = $1 AND c.kind = $2 AND c.expires_at > $3 AND NOT u.disabled",
        )
        .bind(token_hash)
        .bind(kind.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(CredentialRow {
                user_id: r.try_get("user_id")?,
                csrf: r.try_get("csrf")?,
                expires_at: r.try_get("expires_at")?,
                grant_id: r.try_get("grant_id")?,
            })
        })
        .transpose()
    }

    async fn list_api_tokens(&self, user_id: i64, now: DateTime<Utc>) -> Result<Vec<ApiTokenRow>> {
        let rows = sqlx::query(
            "SELECT token_hash, created_at, expires_at, grant_id FROM credentials \
             WHERE user_id = $1 AND kind = 'api' AND expires_at > $2 ORDER BY created_at DESC",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiTokenRow {
                    token_hash: r.try_get("token_hash")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    grant_id: r.try_get("grant_id")?,
                })
            })
            .collect()
    }

    async fn delete_api_token(&self, user_id: i64, hash_prefix: &str) -> Result<bool> {
        if hash_prefix.len() < 16 || !hash_prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        let done = sqlx::query(
            "DELETE FROM credentials WHERE user_id = $1 AND kind = 'api' \
             AND substr(token_hash, 1, $2::INTEGER) = $3",
        )
        .bind(user_id)
        .bind(hash_prefix.len() as i64)
        .bind(hash_prefix.to_ascii_lowercase())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_credential(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM credentials WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_user_credentials(&self, user_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM credentials WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_dataset(&self, new: &NewDataset<'_>) -> Result<DatasetRow> {
        let mut tx = self.pool.begin().await?;
        let code = match new.code {
            Some(code) => {
                // Keep the sequence ahead of carried-over codes so it never hands one out again.
                let seq: i64 = code
                    .rsplit('/')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| corrupt("code", code))?;
                sqlx::query(
                    "INSERT INTO code_sequences (category_code, next) VALUES ($1, $2) \
                     ON CONFLICT (category_code) DO UPDATE \
                     SET next = GREATEST(code_sequences.next, excluded.next)",
                )
                .bind(new.category_code)
                .bind(seq + 1)
                .execute(&mut *tx)
                .await?;
                code.to_owned()
            }
            None => loop {
                let seq: i64 = sqlx::query_scalar(
                    "INSERT INTO code_sequences (category_code, next) VALUES ($1, 2) \
                     ON CONFLICT (category_code) DO UPDATE SET next = code_sequences.next + 1 RETURNING next - 1",
                )
                .bind(new.category_code)
                .fetch_one(&mut *tx)
                .await?;
                if seq > 999_999 {
                    return Err(StoreError::SequenceExhausted);
                }
                let code = gongshu_core::catalog::resource_code(new.category_code, seq as u32);
                let taken: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM datasets WHERE code = $1)")
                        .bind(&code)
                        .fetch_one(&mut *tx)
                        .await?;
                if !taken {
                    break code;
                }
            },
        };
        let doc = doc_json(new.doc)?;
        let row = sqlx::query(
            "INSERT INTO datasets (code, provider_id, region_code, status, version, title, doc, created_at, updated_at) \
             VALUES ($1, $2, $3, 'draft', 1, $4, $5, $6, $7) RETURNING *",
        )
        .bind(&code)
        .bind(new.provider_id)
        .bind(new.region_code)
        .bind(&new.doc.title)
        .bind(&doc)
        .bind(new.at)
        .bind(new.at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique(e, "code"))?;
        let created = dataset_row(&row)?;
        sqlx::query(
            "INSERT INTO dataset_revisions (dataset_id, version, status, doc, actor_id, created_at) \
             VALUES ($1, 1, 'draft', $2, $3, $4)",
        )
        .bind(created.id)
        .bind(&doc)
        .bind(new.actor_id)
        .bind(new.at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_dataset(&self, id: i64) -> Result<Option<DatasetRow>> {
        self.optional(
            sqlx::query("SELECT * FROM datasets WHERE id = $1").bind(id),
            dataset_row,
        )
        .await
    }

    async fn save_dataset(&self, c: &DatasetChange<'_>) -> Result<DatasetRow> {
        let publish = c.publication == Publication::Publish;
        let new_doc = c.doc.map(doc_json).transpose()?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE datasets SET status = $1, version = version + 1, \
                doc = COALESCE($2, doc), title = COALESCE($3, title), review_note = CASE WHEN $4 THEN $5 ELSE review_note END, updated_at = $6, \
                published_version = CASE WHEN $7 THEN version + 1 WHEN $8 THEN NULL ELSE published_version END, \
                first_published_at = CASE WHEN $9 THEN COALESCE(first_published_at, $10) ELSE first_published_at END \
             WHERE id = $11 AND version = $12",
        )
        .bind(c.status.as_str())
        .bind(&new_doc)
        .bind(c.doc.map(|d| d.title.as_str()))
        .bind(c.review)
        .bind(c.note)
        .bind(c.at)
        .bind(publish)
        .bind(c.publication == Publication::Unpublish)
        .bind(publish)
        .bind(c.at)
        .bind(c.id)
        .bind(c.expected_version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM datasets WHERE id = $1)")
                    .bind(c.id)
                    .fetch_one(&mut *tx)
                    .await?;
            return Err(if exists {
                StoreError::VersionConflict
            } else {
                StoreError::NotFound
            });
        }
        let row = sqlx::query("SELECT * FROM datasets WHERE id = $1")
            .bind(c.id)
            .fetch_one(&mut *tx)
            .await?;
        let saved = dataset_row(&row)?;
        let doc: String = row.try_get("doc")?;
        insert_revision_in(
            &mut tx,
            &Revision {
                dataset_id: saved.id,
                version: saved.version,
                status: saved.status,
                doc: &doc,
                actor_id: c.actor_id,
                note: c.note,
                published: publish,
                at: c.at,
            },
        )
        .await?;
        match c.publication {
            Publication::Keep => {}
            Publication::Unpublish => {
                sqlx::query("DELETE FROM published_datasets WHERE id = $1")
                    .bind(saved.id)
                    .execute(&mut *tx)
                    .await?;
            }
            Publication::Publish => {
                publish_in(&mut tx, &saved, &saved.doc, saved.version, &doc, c.at).await?;
            }
        }
        tx.commit().await?;
        Ok(saved)
    }

    async fn list_working(&self, q: &WorkingQuery) -> Result<Page<DatasetRow>> {
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM datasets");
        push_working_filters(&mut count, q);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut b = QueryBuilder::<Postgres>::new("SELECT * FROM datasets");
        push_working_filters(&mut b, q);
        b.push(" ORDER BY updated_at DESC, id DESC LIMIT ")
            .push_bind(limit(q.limit))
            .push(" OFFSET ")
            .push_bind(q.offset.max(0));
        let items = b
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(dataset_row)
            .collect::<Result<_>>()?;
        Ok(Page { items, total })
    }

    async fn list_revisions(&self, dataset_id: i64) -> Result<Vec<RevisionRow>> {
        sqlx::query(
            "SELECT r.*, u.username AS actor_name FROM dataset_revisions r \
             LEFT JOIN users u ON u.id = r.actor_id WHERE r.dataset_id = $1 ORDER BY r.version",
        )
        .bind(dataset_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(revision_row)
        .collect()
    }

    async fn get_revision(&self, dataset_id: i64, version: i64) -> Result<Option<RevisionRow>> {
        sqlx::query(
            "SELECT r.*, u.username AS actor_name FROM dataset_revisions r \
             LEFT JOIN users u ON u.id = r.actor_id WHERE r.dataset_id = $1 AND r.version = $2",
        )
        .bind(dataset_id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(revision_row)
        .transpose()
    }

    async fn get_published(&self, id: i64) -> Result<Option<PublishedRow>> {
        self.optional(
            sqlx::query(&format!("{PUBLISHED_SELECT} WHERE p.id = $1")).bind(id),
            published_row,
        )
        .await
    }

    async fn get_published_many(&self, ids: &[i64]) -> Result<Vec<PublishedRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut b = QueryBuilder::<Postgres>::new(PUBLISHED_SELECT);
        b.push(" WHERE p.id IN (");
        let mut list = b.separated(", ");
        for id in ids.iter().take(1000) {
            list.push_bind(*id);
        }
        b.push(")");
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter().map(published_row).collect()
    }

    async fn get_published_by_code(&self, code: &str) -> Result<Option<PublishedRow>> {
        self.optional(
            sqlx::query(&format!("{PUBLISHED_SELECT} WHERE p.code = $1")).bind(code),
            published_row,
        )
        .await
    }

    async fn list_published(&self, q: &PublishedQuery) -> Result<Page<PublishedRow>> {
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM published_datasets p");
        push_published_filters(&mut count, q);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut b = QueryBuilder::<Postgres>::new(PUBLISHED_SELECT);
        push_published_filters(&mut b, q);
        b.push(match q.sort {
            PublishedSort::Updated | PublishedSort::Relevance | PublishedSort::Downloads => {
                " ORDER BY p.updated_at DESC, p.id DESC"
            }
            PublishedSort::Title => " ORDER BY p.title, p.id",
            PublishedSort::Code => " ORDER BY p.code",
        });
        b.push(" LIMIT ")
            .push_bind(limit(q.limit))
            .push(" OFFSET ")
            .push_bind(q.offset.max(0));
        let items = b
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(published_row)
            .collect::<Result<_>>()?;
        Ok(Page { items, total })
    }

    async fn published_summary(&self) -> Result<PublishedSummary> {
        let mut b = QueryBuilder::<Postgres>::new(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE open_type <> 'none')",
        );
        for d in Domain::ALL {
            b.push(", COUNT(*) FILTER (WHERE domains LIKE ")
                .push_bind(format!("%,{},%", d.as_str()))
                .push(")");
        }
        b.push(" FROM published_datasets");
        let row = b.build().fetch_one(&self.pool).await?;
        let by_domain = Domain::ALL
            .iter()
            .enumerate()
            .map(|(i, d)| Ok((*d, row.try_get::<i64, _>(i + 2)?)))
            .collect::<Result<_>>()?;
        Ok(PublishedSummary {
            total: row.try_get(0)?,
            opened: row.try_get(1)?,
            by_domain,
        })
    }

    async fn published_counts(&self, region_prefix: &str) -> Result<Vec<CountRow>> {
        sqlx::query(
            "SELECT region_code, open_type, share_type, COUNT(*) AS n FROM published_datasets \
             WHERE region_code LIKE $1 GROUP BY region_code, open_type, share_type ORDER BY region_code",
        )
        .bind(format!("{region_prefix}%"))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(CountRow {
                region_code: r.try_get("region_code")?,
                open_type: vocab(r, "open_type", OpenType::parse)?,
                share_type: vocab(r, "share_type", ShareType::parse)?,
                count: r.try_get("n")?,
            })
        })
        .collect()
    }

    async fn create_resource(&self, new: &NewResource<'_>) -> Result<ResourceRow> {
        let mut tx = self.pool.begin().await?;
        // The entry's row is locked first, so resources added to it at once take turns
        // reading the largest ordinal.
        sqlx::query("SELECT id FROM datasets WHERE id = $1 FOR UPDATE")
            .bind(new.dataset_id)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO resources (id, dataset_id, ordinal, name, table_name, created_by, created_at) \
             VALUES ($1, $2, -1, $3, $4, $5, $6)",
        )
        .bind(new.id)
        .bind(new.dataset_id)
        .bind(new.name)
        .bind(format!("{}_pending_{}", new.table_prefix, new.id))
        .bind(new.created_by)
        .bind(new.at)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique(e, "resource"))?;
        let ordinal: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(ordinal), 0) + 1 FROM resources WHERE dataset_id = $1 AND ordinal > 0",
        )
        .bind(new.dataset_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE resources SET ordinal = $1, table_name = $2 WHERE id = $3")
            .bind(ordinal)
            .bind(format!("{}_{ordinal}", new.table_prefix))
            .bind(new.id)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique(e, "table_name"))?;
        let row = sqlx::query(&format!("{RESOURCE_SELECT} WHERE id = $1"))
            .bind(new.id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        resource_row(&row)
    }

    async fn get_resource(&self, id: &str) -> Result<Option<ResourceRow>> {
        self.optional(
            sqlx::query(&format!("{RESOURCE_SELECT} WHERE id = $1")).bind(id),
            resource_row,
        )
        .await
    }

    async fn get_resource_by_table(&self, table_name: &str) -> Result<Option<ResourceRow>> {
        self.optional(
            sqlx::query(&format!("{RESOURCE_SELECT} WHERE table_name = $1")).bind(table_name),
            resource_row,
        )
        .await
    }

    async fn list_resources(&self, dataset_id: i64) -> Result<Vec<ResourceRow>> {
        self.all(
            sqlx::query(&format!(
                "{RESOURCE_SELECT} WHERE dataset_id = $1 ORDER BY ordinal"
            ))
            .bind(dataset_id),
            resource_row,
        )
        .await
    }

    async fn add_resource_version(
        &self,
        resource_id: &str,
        version: i64,
        manifest: &str,
        uploaded_by: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO resource_versions (resource_id, version, manifest, state, uploaded_by, created_at) \
             VALUES ($1, $2, $3, 'staged', $4, $5)",
        )
        .bind(resource_id)
        .bind(version)
        .bind(manifest)
        .bind(uploaded_by)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(|e| unique(e, "version"))?;
        Ok(())
    }

    async fn publish_resource_version(
        &self,
        resource_id: &str,
        version: i64,
        at: DateTime<Utc>,
    ) -> Result<ResourceRow> {
        let mut tx = self.pool.begin().await?;
        let staged = sqlx::query(
            "UPDATE resource_versions SET state = 'published', published_at = $1 \
             WHERE resource_id = $2 AND version = $3 AND state = 'staged'",
        )
        .bind(at)
        .bind(resource_id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if staged.rows_affected() != 1 {
            return Err(StoreError::VersionConflict);
        }
        // An older version finishing late must not replace a newer one.
        let moved = sqlx::query(
            "UPDATE resources SET current_version = $1, updated_at = $2, current_manifest = \
             (SELECT manifest FROM resource_versions WHERE resource_id = $3 AND version = $4) \
             WHERE id = $5 AND (current_version IS NULL OR current_version < $6)",
        )
        .bind(version)
        .bind(at)
        .bind(resource_id)
        .bind(version)
        .bind(resource_id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::VersionConflict);
        }
        let row = sqlx::query(&format!("{RESOURCE_SELECT} WHERE id = $1"))
            .bind(resource_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        resource_row(&row)
    }

    async fn discard_resource_version(&self, resource_id: &str, version: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE resource_versions SET state = 'discarded' \
             WHERE resource_id = $1 AND version = $2 AND state = 'staged'",
        )
        .bind(resource_id)
        .bind(version)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::VersionConflict)
        }
    }

    async fn list_resource_versions(&self, resource_id: &str) -> Result<Vec<ResourceVersionRow>> {
        self.all(
            sqlx::query(
                "SELECT resource_id, version, manifest, state, uploaded_by, created_at, published_at \
                 FROM resource_versions WHERE resource_id = $1 ORDER BY version DESC",
            )
            .bind(resource_id),
            resource_version_row,
        )
        .await
    }

    async fn insert_job(&self, job: &JobRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO jobs (id, kind, dataset_id, resource_id, state, rows_read, rows_rejected, \
             detail, error, version, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&job.id)
        .bind(&job.kind)
        .bind(job.dataset_id)
        .bind(&job.resource_id)
        .bind(&job.state)
        .bind(job.rows_read)
        .bind(job.rows_rejected)
        .bind(&job.detail)
        .bind(&job.error)
        .bind(job.version)
        .bind(job.created_by)
        .bind(job.created_at)
        .bind(job.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| unique(e, "job"))?;
        Ok(())
    }

    async fn update_job(&self, job: &JobRow) -> Result<()> {
        let done = sqlx::query(
            "UPDATE jobs SET state = $1, rows_read = $2, rows_rejected = $3, detail = $4, error = $5, \
             version = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(&job.state)
        .bind(job.rows_read)
        .bind(job.rows_rejected)
        .bind(&job.detail)
        .bind(&job.error)
        .bind(job.version)
        .bind(job.updated_at)
        .bind(&job.id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn get_job(&self, id: &str) -> Result<Option<JobRow>> {
        self.optional(
            sqlx::query(&format!("{JOB_SELECT} WHERE id = $1")).bind(id),
            job_row,
        )
        .await
    }

    async fn list_holiday_schedules(&self) -> Result<Vec<HolidayScheduleRow>> {
        self.all(
            sqlx::query(
                "SELECT schedule, source, updated_by, updated_at FROM holiday_schedules \
                 ORDER BY year",
            ),
            holiday_schedule_row,
        )
        .await
    }

    async fn seed_holiday_schedule(
        &self,
        schedule: &YearSchedule,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO holiday_schedules (year, schedule, source, updated_by, updated_at) \
             VALUES ($1, $2, 'official', NULL, $3) ON CONFLICT (year) DO NOTHING",
        )
        .bind(schedule.year)
        .bind(schedule_json(schedule)?)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn put_holiday_schedule(
        &self,
        schedule: &YearSchedule,
        event: &NewEvent<'_>,
    ) -> Result<HolidayScheduleRow> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO holiday_schedules (year, schedule, source, updated_by, updated_at) \
             VALUES ($1, $2, 'admin', $3, $4) \
             ON CONFLICT (year) DO UPDATE SET schedule = excluded.schedule, source = 'admin', \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at \
             RETURNING schedule, source, updated_by, updated_at",
        )
        .bind(schedule.year)
        .bind(schedule_json(schedule)?)
        .bind(event.actor_id)
        .bind(event.at)
        .fetch_one(&mut *tx)
        .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        holiday_schedule_row(&row)
    }

    async fn insert_event(&self, event: &NewEvent<'_>) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let id = insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn insert_attribute_change(
        &self,
        new: &NewAttributeChange<'_>,
    ) -> Result<AttributeChangeRow> {
        let mut tx = self.pool.begin().await?;
        let change =
            insert_change_in(&mut tx, new, gongshu_core::change::ChangeState::Pending).await?;
        tx.commit().await?;
        Ok(change)
    }

    async fn apply_attribute_change(&self, a: &AttributeApply<'_>) -> Result<AttributeChangeRow> {
        use gongshu_core::change::ChangeState;
        let mut tx = self.pool.begin().await?;
        let (change, event) = match &a.target {
            ChangeTarget::New(n) => (
                insert_change_in(&mut tx, n, ChangeState::Applied).await?,
                "applied",
            ),
            ChangeTarget::Pending { id } => {
                let row = sqlx::query(
                    "UPDATE attribute_changes SET state = 'applied', decided_by = $1, decided_at = $2, \
                     decision_reason = $3, updated_at = $4 WHERE id = $5 AND state = 'pending' \
                     RETURNING *"
                )
                .bind(a.actor_id)
                .bind(a.at)
                .bind(a.reason)
                .bind(a.at)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::VersionConflict)?;
                (change_row(&row)?, "approved")
            }
        };
        let row = sqlx::query(
            "SELECT * FROM datasets WHERE id = $1 AND version = $2 AND published_version IS NOT NULL \
             FOR UPDATE",
        )
        .bind(a.dataset_id)
        .bind(a.expected_version)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::VersionConflict)?;
        let entry = dataset_row(&row)?;
        let published_doc = doc_json(a.published)?;
        let note = format!("属性变更（第 {} 号）：{}", change.id, a.reason);
        let published_version = entry.version + 1;
        let published = Revision {
            dataset_id: entry.id,
            version: published_version,
            status: DatasetStatus::Published,
            doc: &published_doc,
            actor_id: a.actor_id,
            note: Some(&note),
            published: true,
            at: a.at,
        };
        insert_revision_in(&mut tx, &published).await?;
        // An edit in progress follows as the next revision, carrying the same change, so
        // that approving it later does not undo this one.
        let carried = match (entry.status, a.carried_draft) {
            (DatasetStatus::Published, _) | (_, None) => None,
            (status, Some(draft)) => Some((status, draft, doc_json(draft)?)),
        };
        let working = match &carried {
            None => Revision { ..published },
            Some((status, _, json)) => {
                let r = Revision {
                    version: published_version + 1,
                    status: *status,
                    doc: json,
                    published: false,
                    ..published
                };
                insert_revision_in(&mut tx, &r).await?;
                r
            }
        };
        let title = carried
            .as_ref()
            .map_or(&a.published.title, |(_, d, _)| &d.title);
        sqlx::query(
            "UPDATE datasets SET version = $1, status = $2, doc = $3, title = $4, published_version = $5, \
             updated_at = $6 WHERE id = $7",
        )
        .bind(working.version)
        .bind(working.status.as_str())
        .bind(working.doc)
        .bind(title)
        .bind(published_version)
        .bind(a.at)
        .bind(entry.id)
        .execute(&mut *tx)
        .await?;
        publish_in(
            &mut tx,
            &entry,
            a.published,
            published_version,
            &published_doc,
            a.at,
        )
        .await?;
        if let Some(due) = a.share_review_due {
            sqlx::query(
                "INSERT INTO share_reviews (dataset_id, due_on) VALUES ($1, $2) \
                 ON CONFLICT (dataset_id) DO UPDATE SET due_on = excluded.due_on",
            )
            .bind(entry.id)
            .bind(day(due))
            .execute(&mut *tx)
            .await?;
        }
        if let ChangeTarget::Pending { .. } = a.target {
            insert_event(
                &mut tx,
                &NewEvent {
                    at: a.at,
                    actor_id: a.actor_id,
                    object_type: "attribute_change",
                    object_id: &change.id.to_string(),
                    action: event,
                    reason: a.reason,
                    detail: serde_json::json!({ "dataset_version": published_version }).to_string(),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(change)
    }

    async fn move_attribute_change(&self, m: &ChangeMove<'_>) -> Result<AttributeChangeRow> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE attribute_changes SET state = $1, updated_at = $2, \
             decided_by = CASE WHEN $3 THEN $4 ELSE decided_by END, \
             decided_at = CASE WHEN $5 THEN $6 ELSE decided_at END, \
             decision_reason = CASE WHEN $7 THEN $8 ELSE decision_reason END \
             WHERE id = $9 AND state = 'pending' RETURNING *",
        )
        .bind(m.to.as_str())
        .bind(m.at)
        .bind(m.decision)
        .bind(m.actor_id)
        .bind(m.decision)
        .bind(m.at)
        .bind(m.decision)
        .bind(m.reason)
        .bind(m.id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM attribute_changes WHERE id = $1)")
                    .bind(m.id)
                    .fetch_one(&mut *tx)
                    .await?;
            return Err(if exists {
                StoreError::VersionConflict
            } else {
                StoreError::NotFound
            });
        };
        let change = change_row(&row)?;
        insert_event(
            &mut tx,
            &NewEvent {
                at: m.at,
                actor_id: Some(m.actor_id),
                object_type: "attribute_change",
                object_id: &m.id.to_string(),
                action: m.action,
                reason: m.reason,
                detail: "{}".into(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(change)
    }

    async fn get_attribute_change(&self, id: i64) -> Result<Option<AttributeChangeRow>> {
        self.optional(
            sqlx::query("SELECT * FROM attribute_changes WHERE id = $1").bind(id),
            change_row,
        )
        .await
    }

    async fn list_attribute_changes(&self, q: &ChangeQuery) -> Result<Vec<AttributeChangeRow>> {
        let mut b = QueryBuilder::<Postgres>::new(
            "SELECT c.* FROM attribute_changes c \
             JOIN datasets d ON d.id = c.dataset_id WHERE (0 = 1",
        );
        if let Some(id) = q.dataset_id {
            b.push(" OR c.dataset_id = ").push_bind(id);
        }
        push_party_filters(&mut b, &q.provider_ids, &q.region_prefixes);
        b.push(")");
        if q.pending_only {
            b.push(" AND c.state = 'pending'");
        }
        b.push(" ORDER BY c.id DESC LIMIT 1000");
        b.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(change_row)
            .collect()
    }

    async fn share_reviews(&self) -> Result<Vec<ShareReviewRow>> {
        self.all(sqlx::query(SHARE_REVIEW_SELECT), share_review_row)
            .await
    }

    async fn share_review(&self, dataset_id: i64) -> Result<Option<ShareReviewRow>> {
        self.optional(
            sqlx::query(share_review_one_sql()).bind(dataset_id),
            share_review_row,
        )
        .await
    }

    async fn schedule_share_review(
        &self,
        dataset_id: i64,
        due_on: chrono::NaiveDate,
        reviewed: Option<(i64, &str)>,
        at: DateTime<Utc>,
    ) -> Result<ShareReviewRow> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO share_reviews (dataset_id, due_on, reviewed_at, reviewed_by, note) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dataset_id) DO UPDATE SET due_on = $2, \
             reviewed_at = COALESCE($3, share_reviews.reviewed_at), \
             reviewed_by = COALESCE($4, share_reviews.reviewed_by), \
             note = COALESCE($5, share_reviews.note)",
        )
        .bind(dataset_id)
        .bind(day(due_on))
        .bind(reviewed.map(|_| at))
        .bind(reviewed.map(|(by, _)| by))
        .bind(reviewed.map(|(_, note)| note))
        .execute(&mut *tx)
        .await?;
        if let Some((by, note)) = reviewed {
            insert_event(
                &mut tx,
                &NewEvent {
                    at,
                    actor_id: Some(by),
                    object_type: "dataset",
                    object_id: &dataset_id.to_string(),
                    action: "share_reviewed",
                    reason: note,
                    detail: serde_json::json!({ "next_review": due_on.to_string() }).to_string(),
                },
            )
            .await?;
        }
        let row = sqlx::query(share_review_one_sql())
            .bind(dataset_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let review = share_review_row(&row)?;
        tx.commit().await?;
        Ok(review)
    }

    async fn claim_share_review_reminder(
        &self,
        dataset_id: i64,
        due_on: chrono::NaiveDate,
    ) -> Result<bool> {
        let due = day(due_on);
        let done = sqlx::query(
            "UPDATE share_reviews SET reminded_for = $1 WHERE dataset_id = $2 AND due_on = $1 \
             AND (reminded_for IS NULL OR reminded_for <> $1)",
        )
        .bind(due)
        .bind(dataset_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn region_policies(&self, codes: &[String]) -> Result<Vec<RegionPolicyRow>> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let mut b =
            QueryBuilder::<Postgres>::new("SELECT * FROM region_policies WHERE region_code IN (");
        let mut list = b.separated(", ");
        for code in codes {
            list.push_bind(code);
        }
        b.push(")");
        b.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(region_policy_row)
            .collect()
    }

    async fn put_region_policy(
        &self,
        region_code: &str,
        policy: &str,
        actor_id: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<RegionPolicyRow> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO region_policies (region_code, policy, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (region_code) DO UPDATE SET policy = $2, \
             updated_by = $3, updated_at = $4 RETURNING *",
        )
        .bind(region_code)
        .bind(policy)
        .bind(actor_id)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::NotFound,
            other => other.into(),
        })?;
        insert_event(
            &mut tx,
            &NewEvent {
                at,
                actor_id: Some(actor_id),
                object_type: "region_policy",
                object_id: region_code,
                action: "updated",
                reason,
                detail: policy.to_owned(),
            },
        )
        .await?;
        tx.commit().await?;
        region_policy_row(&row)
    }

    async fn channels(&self, user_id: i64) -> Result<ChannelsRow> {
        let row = sqlx::query(
            "SELECT email, webhook_url, webhook_secret FROM notification_channels WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map_or(Ok(ChannelsRow::default()), |r| channels_row(&r))
    }

    async fn put_channels(&self, user_id: i64, c: &ChannelsRow, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO notification_channels (user_id, email, webhook_url, webhook_secret, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET email = $2, \
             webhook_url = $3, webhook_secret = $4, updated_at = $5",
        )
        .bind(user_id)
        .bind(&c.email)
        .bind(&c.webhook_url)
        .bind(&c.webhook_secret)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE notifications SET delivery = 'sending', claimed_until = $1 WHERE id IN \
             (SELECT id FROM notifications WHERE delivery IN ('pending', 'sending') \
              AND (claimed_until IS NULL OR claimed_until < $2) ORDER BY id LIMIT $3 \
              FOR UPDATE SKIP LOCKED) RETURNING id",
        )
        .bind(lease_until)
        .bind(now)
        .bind(self::limit(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut ids = ids;
        ids.sort_unstable();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let r = sqlx::query(
                "SELECT n.id, n.user_id, n.kind, n.subject, n.body, n.link, n.created_at, n.read_at, \
                 n.attempts, n.email_sent_at, n.webhook_sent_at, c.email, c.webhook_url, c.webhook_secret \
                 FROM notifications n LEFT JOIN notification_channels c ON c.user_id = n.user_id \
                 WHERE n.id = $1",
            )
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
            let email_sent: Option<DateTime<Utc>> = r.try_get("email_sent_at")?;
            let webhook_sent: Option<DateTime<Utc>> = r.try_get("webhook_sent_at")?;
            out.push(Delivery {
                note: notification_row(&r)?,
                channels: channels_row(&r)?,
                email_sent: email_sent.is_some(),
                webhook_sent: webhook_sent.is_some(),
                attempts: r.try_get("attempts")?,
            });
        }
        Ok(out)
    }

    async fn finish_delivery(&self, o: &DeliveryOutcome<'_>) -> Result<()> {
        sqlx::query(
            "UPDATE notifications SET delivery = $1, claimed_until = NULL, \
             email_sent_at = CASE WHEN $2 THEN COALESCE(email_sent_at, $4) ELSE email_sent_at END, \
             webhook_sent_at = CASE WHEN $3 THEN COALESCE(webhook_sent_at, $4) ELSE webhook_sent_at END, \
             attempts = attempts + CASE WHEN $5 IS NULL THEN 0 ELSE 1 END, last_error = $5 \
             WHERE id = $6",
        )
        .bind(o.delivery)
        .bind(o.email_sent)
        .bind(o.webhook_sent)
        .bind(o.at)
        .bind(o.error)
        .bind(o.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_events(&self, object_type: &str, object_id: &str) -> Result<Vec<EventRow>> {
        self.all(
            sqlx::query(
                "SELECT id, at, actor_id, object_type, object_id, action, reason, detail \
                 FROM events WHERE object_type = $1 AND object_id = $2 ORDER BY id",
            )
            .bind(object_type)
            .bind(object_id),
            event_row,
        )
        .await
    }

    async fn append_audit(&self, entries: &[String]) -> Result<Vec<i64>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // The schema numbers rows from 1 without gaps, in commit order and in the order of
        // the batch (a trigger takes a lock and continues from the largest number so far).
        let mut seqs: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO audit_log (entry) \
             SELECT t.entry FROM unnest($1::TEXT[]) WITH ORDINALITY AS t(entry, ord) \
             ORDER BY t.ord RETURNING seq",
        )
        .bind(entries)
        .fetch_all(&self.pool)
        .await?;
        seqs.sort_unstable();
        Ok(seqs)
    }

    async fn audit_entries(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, entry FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(self::limit(limit))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, entry)| AuditRow { seq, entry })
            .collect())
    }

    async fn audit_size(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM audit_log")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn insert_feedback(&self, new: &NewFeedback<'_>) -> Result<FeedbackRow> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO feedback (case_type, dataset_id, provider_id, region_code, author_id, \
             state, public, received_on, due_on, due_provisional, doc, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *",
        )
        .bind(new.case_type.as_str())
        .bind(new.dataset_id)
        .bind(new.provider_id)
        .bind(new.region_code)
        .bind(new.author_id)
        .bind(new.state)
        .bind(new.public)
        .bind(new.received_on.map(day))
        .bind(new.due_on.map(day))
        .bind(new.due_provisional)
        .bind(new.doc)
        .bind(new.at)
        .bind(new.at)
        .fetch_one(&mut *tx)
        .await?;
        let created = feedback_row(&row)?;
        insert_event(
            &mut tx,
            &NewEvent {
                at: new.at,
                actor_id: Some(new.author_id),
                object_type: new.case_type.as_str(),
                object_id: &created.id.to_string(),
                action: "created",
                reason: "",
                detail: serde_json::json!({
                    "dataset_id": new.dataset_id, "provider_id": new.provider_id,
                    "due_on": new.due_on,
                })
                .to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_feedback(&self, id: i64) -> Result<Option<FeedbackRow>> {
        self.optional(
            sqlx::query("SELECT * FROM feedback WHERE id = $1").bind(id),
            feedback_row,
        )
        .await
    }

    async fn list_feedback(&self, q: &FeedbackQuery) -> Result<Page<FeedbackRow>> {
        let filter = |b: &mut QueryBuilder<'_, Postgres>| {
            b.push(" WHERE ((0 = 1");
            if let Some(author) = q.author {
                b.push(" OR author_id = ").push_bind(author);
            }
            if !q.provider_ids.is_empty() {
                b.push(" OR provider_id IN (");
                let mut list = b.separated(", ");
                for id in &q.provider_ids {
                    list.push_bind(*id);
                }
                b.push(")");
            }
            for prefix in &q.region_prefixes {
                b.push(" OR region_code LIKE ")
                    .push_bind(format!("{prefix}%"));
            }
            if q.public {
                b.push(" OR public");
            }
            b.push(")");
            if let Some(case) = q.case_type {
                b.push(" AND case_type = ").push_bind(case.as_str());
            }
            if let Some(dataset) = q.dataset {
                b.push(" AND dataset_id = ").push_bind(dataset);
            }
            if !q.states.is_empty() {
                b.push(" AND state IN (");
                let mut list = b.separated(", ");
                for state in &q.states {
                    list.push_bind(state.clone());
                }
                b.push(")");
            }
            if let Some(text) = q.q.as_deref().filter(|t| !t.trim().is_empty()) {
                b.push(" AND strpos(doc, ")
                    .push_bind(text.trim().to_owned())
                    .push(") > 0");
            }
            b.push(")");
        };
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM feedback");
        filter(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut page = QueryBuilder::<Postgres>::new("SELECT * FROM feedback");
        filter(&mut page);
        page.push(" ORDER BY id DESC LIMIT ")
            .push_bind(q.limit.clamp(1, 500))
            .push(" OFFSET ")
            .push_bind(q.offset.max(0));
        let items = page
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(feedback_row)
            .collect::<Result<_>>()?;
        Ok(Page { items, total })
    }

    async fn save_feedback(&self, row: &FeedbackRow, event: &NewEvent<'_>) -> Result<FeedbackRow> {
        let mut tx = self.pool.begin().await?;
        let saved = sqlx::query(
            "UPDATE feedback SET dataset_id = $1, provider_id = $2, region_code = $3, state = $4, \
             public = $5, offline = $6, received_on = $7, due_on = $8, due_provisional = $9, \
             answered_on = $10, doc = $11, updated_at = $12, version = version + 1 \
             WHERE id = $13 AND version = $14 RETURNING *",
        )
        .bind(row.dataset_id)
        .bind(row.provider_id)
        .bind(&row.region_code)
        .bind(&row.state)
        .bind(row.public)
        .bind(row.offline)
        .bind(row.received_on.map(day))
        .bind(row.due_on.map(day))
        .bind(row.due_provisional)
        .bind(row.answered_on.map(day))
        .bind(&row.doc)
        .bind(event.at)
        .bind(row.id)
        .bind(row.version)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::VersionConflict)?;
        let saved = feedback_row(&saved)?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(saved)
    }

    async fn waiting_feedback(&self) -> Result<Vec<FeedbackRow>> {
        self.all(
            sqlx::query(
                "SELECT * FROM feedback WHERE state IN ('open', 'reopened') \
                 AND due_on IS NOT NULL ORDER BY id",
            ),
            feedback_row,
        )
        .await
    }

    async fn set_feedback_datasets(&self, feedback_id: i64, dataset_ids: &[i64]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Two replacements of the same list take turns, so the last one stands whole.
        sqlx::query("SELECT id FROM feedback WHERE id = $1 FOR UPDATE")
            .bind(feedback_id)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM feedback_datasets WHERE feedback_id = $1")
            .bind(feedback_id)
            .execute(&mut *tx)
            .await?;
        for id in dataset_ids {
            sqlx::query(
                "INSERT INTO feedback_datasets (feedback_id, dataset_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(feedback_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn feedback_datasets(&self, feedback_id: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT dataset_id FROM feedback_datasets WHERE feedback_id = $1 ORDER BY dataset_id",
        )
        .bind(feedback_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn public_feedback_for(
        &self,
        case_type: CaseType,
        dataset_id: i64,
        limit: i64,
    ) -> Result<Vec<FeedbackRow>> {
        self.all(
            sqlx::query(
                "SELECT f.* FROM feedback f JOIN feedback_datasets d ON d.feedback_id = f.id \
                 WHERE d.dataset_id = $1 AND f.case_type = $2 AND f.public \
                 ORDER BY f.id DESC LIMIT $3",
            )
            .bind(dataset_id)
            .bind(case_type.as_str())
            .bind(limit.clamp(1, 100)),
            feedback_row,
        )
        .await
    }

    async fn objection_counts(&self, dataset_id: i64) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE state = 'answered') AS answered \
             FROM feedback WHERE dataset_id = $1 AND case_type = 'objection'",
        )
        .bind(dataset_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("n")?, row.try_get("answered")?))
    }

    async fn dataset_offline(&self, dataset_id: i64) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM feedback WHERE dataset_id = $1 AND offline)",
        )
        .bind(dataset_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn put_rating(
        &self,
        dataset_id: i64,
        user_id: i64,
        stars: i64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO ratings (dataset_id, user_id, stars, at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (dataset_id, user_id) DO UPDATE SET stars = excluded.stars, at = excluded.at",
        )
        .bind(dataset_id)
        .bind(user_id)
        .bind(stars)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn rating_summary(
        &self,
        dataset_id: i64,
        user_id: Option<i64>,
    ) -> Result<(i64, i64, Option<i64>)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(stars), 0)::BIGINT AS total, \
             (SELECT stars FROM ratings WHERE dataset_id = $1 AND user_id = $2) AS own \
             FROM ratings WHERE dataset_id = $1",
        )
        .bind(dataset_id)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((
            row.try_get("n")?,
            row.try_get("total")?,
            row.try_get("own")?,
        ))
    }

    async fn catalog_generation(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT n FROM catalog_generation WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn search_audit(&self, q: &AuditQuery) -> Result<Page<AuditRow>> {
        fn filters(b: &mut QueryBuilder<'_, Postgres>, q: &AuditQuery) {
            b.push(" WHERE 1 = 1");
            if let Some(a) = &q.action_prefix {
                b.push(" AND action ILIKE ")
                    .push_bind(like_prefix(a))
                    .push(" ESCAPE '\\'");
            }
            if let Some(a) = q.actor {
                b.push(" AND actor = ").push_bind(a);
            }
            if let Some(d) = q.dataset {
                b.push(" AND dataset = ").push_bind(d);
            }
            if let Some(t) = &q.from {
                b.push(" AND at >= ").push_bind(t.clone());
            }
            if let Some(t) = &q.until {
                b.push(" AND at < ").push_bind(t.clone());
            }
            if let Some(seqs) = &q.seqs {
                b.push(" AND seq IN (NULL");
                for s in seqs.iter().take(1000) {
                    b.push(", ").push_bind(*s);
                }
                b.push(")");
            }
        }
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM audit_log");
        filters(&mut count, q);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut b = QueryBuilder::<Postgres>::new("SELECT seq, entry FROM audit_log");
        filters(&mut b, q);
        b.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(limit(q.limit))
            .push(" OFFSET ")
            .push_bind(q.offset.max(0));
        let rows: Vec<(i64, String)> = b.build_query_as().fetch_all(&self.pool).await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(|(seq, entry)| AuditRow { seq, entry })
                .collect(),
            total,
        })
    }

    async fn insert_audit_checkpoint(
        &self,
        row: &AuditCheckpointRow,
        at: DateTime<Utc>,
    ) -> Result<()> {
        // Two nodes signing the same size sign the same head: the first one stands.
        sqlx::query(
            "INSERT INTO audit_checkpoints (size, checkpoint, frontier, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING",
        )
        .bind(row.size)
        .bind(&row.checkpoint)
        .bind(&row.frontier)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn latest_audit_checkpoint(&self) -> Result<Option<AuditCheckpointRow>> {
        let row: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT size, checkpoint, frontier FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(size, checkpoint, frontier)| AuditCheckpointRow {
            size,
            checkpoint,
            frontier,
        }))
    }

    async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpointRow>> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT size, checkpoint, frontier FROM audit_checkpoints ORDER BY size",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(size, checkpoint, frontier)| AuditCheckpointRow {
                size,
                checkpoint,
                frontier,
            })
            .collect())
    }

    async fn insert_alert(&self, a: &NewAlert<'_>) -> Result<AlertRow> {
        let evidence = serde_json::to_string(a.evidence).unwrap_or_else(|_| "[]".into());
        let row = sqlx::query(
            "INSERT INTO alerts (rule, subject, dataset_id, summary_zh, summary_en, evidence, \
             first_at, last_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
        )
        .bind(a.rule)
        .bind(a.subject)
        .bind(a.dataset_id)
        .bind(a.summary_zh)
        .bind(a.summary_en)
        .bind(evidence)
        .bind(a.first_at)
        .bind(a.last_at)
        .bind(a.created_at)
        .fetch_one(&self.pool)
        .await?;
        alert_row(&row)
    }

    async fn list_alerts(&self, q: &AlertQuery) -> Result<Page<AlertRow>> {
        fn filters(b: &mut QueryBuilder<'_, Postgres>, q: &AlertQuery) {
            if let Some(providers) = &q.provider_ids {
                b.push(" WHERE dataset_id IN (SELECT id FROM datasets WHERE provider_id IN (NULL");
                for p in providers {
                    b.push(", ").push_bind(*p);
                }
                b.push("))");
            }
        }
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM alerts");
        filters(&mut count, q);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut b = QueryBuilder::<Postgres>::new("SELECT * FROM alerts");
        filters(&mut b, q);
        b.push(" ORDER BY id DESC LIMIT ")
            .push_bind(limit(q.limit))
            .push(" OFFSET ")
            .push_bind(q.offset.max(0));
        let rows = b.build().fetch_all(&self.pool).await?;
        Ok(Page {
            items: rows.iter().map(alert_row).collect::<Result<_>>()?,
            total,
        })
    }

    async fn get_alert(&self, id: i64) -> Result<Option<AlertRow>> {
        self.optional(
            sqlx::query("SELECT * FROM alerts WHERE id = $1").bind(id),
            alert_row,
        )
        .await
    }

    async fn sso_user(&self, issuer: &str, subject: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM sso_identities WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn link_sso(
        &self,
        issuer: &str,
        subject: &str,
        user_id: i64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sso_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(issuer)
        .bind(subject)
        .bind(user_id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn monitor_cursor(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(last_seq), 0) FROM monitor_state")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn set_monitor_cursor(&self, seq: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO monitor_state (id, last_seq) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET last_seq = GREATEST(monitor_state.last_seq, excluded.last_seq)",
        )
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_grant(&self, g: &NewGrant<'_>) -> Result<GrantRow> {
        let mut tx = self.pool.begin().await?;
        let id = insert_grant_in(&mut tx, g).await?;
        let row = sqlx::query(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        grant_row(&row)
    }

    async fn get_grant(&self, id: i64) -> Result<Option<GrantRow>> {
        self.optional(
            sqlx::query(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1")).bind(id),
            grant_row,
        )
        .await
    }

    async fn grants_held(
        &self,
        dataset_id: i64,
        user_id: i64,
        org_ids: &[i64],
        day: chrono::NaiveDate,
    ) -> Result<Vec<HeldGrant>> {
        let mut b = QueryBuilder::<Postgres>::new(format!("{} ", held_grant_select()));
        b.push_bind(day);
        b.push(" WHERE dataset_id = ").push_bind(dataset_id);
        b.push(" AND ");
        push_holder(&mut b, user_id, org_ids);
        b.push(" ORDER BY grants.id");
        b.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(held_grant_row)
            .collect()
    }

    async fn terminate_grant(
        &self,
        id: i64,
        actor_id: Option<i64>,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<GrantRow> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE grants SET terminated_at = $1, terminated_reason = $2 \
             WHERE id = $3 AND terminated_at IS NULL RETURNING {GRANT_COLUMNS}"
        ))
        .bind(at)
        .bind(reason)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM grants WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            return Err(if exists.is_some() {
                StoreError::VersionConflict
            } else {
                StoreError::NotFound
            });
        };
        let object_id = id.to_string();
        insert_event(
            &mut tx,
            &NewEvent {
                at,
                actor_id,
                object_type: "grant",
                object_id: &object_id,
                action: "terminated",
                reason,
                detail: "{}".into(),
            },
        )
        .await?;
        tx.commit().await?;
        grant_row(&row)
    }

    async fn grants_on(&self, dataset_id: i64, day: chrono::NaiveDate) -> Result<Vec<HeldGrant>> {
        sqlx::query(&format!(
            "{} $1 WHERE dataset_id = $2 ORDER BY grants.id",
            held_grant_select()
        ))
        .bind(day)
        .bind(dataset_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(held_grant_row)
        .collect()
    }

    async fn grants_of(
        &self,
        user_id: i64,
        org_ids: &[i64],
        day: chrono::NaiveDate,
    ) -> Result<Vec<HeldGrant>> {
        let mut b = QueryBuilder::<Postgres>::new(format!("{} ", held_grant_select()));
        b.push_bind(day);
        b.push(" WHERE ");
        push_holder(&mut b, user_id, org_ids);
        b.push(" ORDER BY grants.id DESC");
        b.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(held_grant_row)
            .collect()
    }

    async fn role_holders(&self, role: Role) -> Result<Vec<(i64, RoleGrant)>> {
        sqlx::query("SELECT user_id, org_id, region_code FROM role_grants WHERE role = $1")
            .bind(role.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("user_id")?,
                    RoleGrant {
                        role,
                        org_id: r.try_get("org_id")?,
                        region_code: r.try_get("region_code")?,
                    },
                ))
            })
            .collect()
    }

    async fn insert_notifications(&self, notes: &[NewNotification<'_>]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for n in notes {
            sqlx::query(
                "INSERT INTO notifications (user_id, kind, subject, body, link, created_at, delivery) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending')",
            )
            .bind(n.user_id)
            .bind(n.kind)
            .bind(n.subject)
            .bind(n.body)
            .bind(n.link)
            .bind(n.at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_notifications(
        &self,
        user_id: i64,
        unread_only: bool,
        limit: i64,
    ) -> Result<Vec<NotificationRow>> {
        self.all(
            sqlx::query(
                "SELECT id, user_id, kind, subject, body, link, created_at, read_at \
                 FROM notifications WHERE user_id = $1 AND (NOT $2 OR read_at IS NULL) \
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(user_id)
            .bind(unread_only)
            .bind(self::limit(limit)),
            notification_row,
        )
        .await
    }

    async fn mark_notification_read(
        &self,
        id: i64,
        user_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE notifications SET read_at = COALESCE(read_at, $1) WHERE id = $2 AND user_id = $3",
        )
        .bind(at)
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_application(&self, new: &NewApplication) -> Result<ApplicationRow> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO applications (dataset_id, applicant_id, requester_org_id, state, content, \
             content_hash, submitted_at, due_on, due_provisional, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {APPLICATION_COLUMNS}"
        ))
        .bind(new.dataset_id)
        .bind(new.applicant_id)
        .bind(new.requester_org_id)
        .bind(new.state.as_str())
        .bind(&new.content)
        .bind(&new.content_hash)
        .bind(new.at)
        .bind(new.due_on.map(day))
        .bind(new.due_provisional)
        .bind(new.at)
        .fetch_one(&mut *tx)
        .await?;
        let app = application_row(&row)?;
        let id = app.id.to_string();
        insert_event(
            &mut tx,
            &NewEvent {
                at: new.at,
                actor_id: Some(new.applicant_id),
                object_type: "application",
                object_id: &id,
                action: "submitted",
                reason: "",
                detail: serde_json::json!({
                    "content_hash": new.content_hash,
                    "to": new.state.as_str(),
                    "due_on": new.due_on,
                })
                .to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(app)
    }

    async fn get_application(&self, id: i64) -> Result<Option<ApplicationRow>> {
        self.optional(
            sqlx::query(&format!(
                "SELECT {APPLICATION_COLUMNS} FROM applications WHERE id = $1"
            ))
            .bind(id),
            application_row,
        )
        .await
    }

    async fn list_applications(&self, q: &ApplicationQuery) -> Result<Vec<ApplicationRow>> {
        let mut b = QueryBuilder::<Postgres>::new(format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications \
             JOIN datasets d ON d.id = applications.dataset_id WHERE 0 = 1"
        ));
        if let Some(user) = q.applicant_id {
            b.push(" OR applications.applicant_id = ").push_bind(user);
        }
        push_party_filters(&mut b, &q.provider_ids, &q.region_prefixes);
        b.push(" ORDER BY applications.id DESC LIMIT 1000");
        b.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(application_row)
            .collect()
    }

    async fn move_application(&self, m: &ApplicationMove<'_>) -> Result<ApplicationRow> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE applications SET state = $1, due_on = $2, due_provisional = $3, updated_at = $4, \
             decided_at = CASE WHEN $5 THEN $6 ELSE decided_at END, \
             decided_by = CASE WHEN $7 THEN $8 ELSE decided_by END, \
             decision_reason = CASE WHEN $9 THEN $10 ELSE decision_reason END, \
             agreement = COALESCE($11, agreement), agreement_hash = COALESCE($12, agreement_hash), \
             quota_calls_per_day = COALESCE($13, quota_calls_per_day), \
             quota_rows_per_day = COALESCE($14, quota_rows_per_day) \
             WHERE id = $15 AND state = $16 RETURNING {APPLICATION_COLUMNS}"
        ))
        .bind(m.to.as_str())
        .bind(m.due_on.map(day))
        .bind(m.due_provisional)
        .bind(m.at)
        .bind(m.decision)
        .bind(m.at)
        .bind(m.decision)
        .bind(m.actor_id)
        .bind(m.decision)
        .bind(m.reason)
        .bind(m.agreement.map(|(text, _)| text))
        .bind(m.agreement.map(|(_, hash)| hash))
        .bind(m.quotas.0)
        .bind(m.quotas.1)
        .bind(m.id)
        .bind(m.from.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(self.missing_or_conflict(&mut tx, m.id).await);
        };
        let id = m.id.to_string();
        insert_event(
            &mut tx,
            &NewEvent {
                at: m.at,
                actor_id: m.actor_id,
                object_type: "application",
                object_id: &id,
                action: m.action,
                reason: m.reason,
                detail: serde_json::json!({
                    "from": m.from.as_str(),
                    "to": m.to.as_str(),
                    "agreement_hash": m.agreement.map(|(_, hash)| hash),
                    "due_on": m.due_on,
                })
                .to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        application_row(&row)
    }

    async fn accept_agreement(
        &self,
        id: i64,
        side: AgreementSide,
        agreement_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<ApplicationRow> {
        let (set, actor) = match side {
            AgreementSide::Applicant => ("applicant_accepted_at = $1", None),
            AgreementSide::Provider { user_id } => (
                "provider_accepted_at = $1, provider_accepted_by = $4",
                Some(user_id),
            ),
        };
        let unset = match side {
            AgreementSide::Applicant => "applicant_accepted_at IS NULL",
            AgreementSide::Provider { .. } => "provider_accepted_at IS NULL",
        };
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE applications SET {set}, updated_at = $1 \
             WHERE id = $2 AND state = 'approved' AND agreement_hash = $3 AND {unset} \
             RETURNING {APPLICATION_COLUMNS}"
        );
        let mut query = sqlx::query(&sql).bind(at).bind(id).bind(agreement_hash);
        if let Some(user) = actor {
            query = query.bind(user);
        }
        let row = query.fetch_optional(&mut *tx).await?;
        let Some(row) = row else {
            return Err(self.missing_or_conflict(&mut tx, id).await);
        };
        let app = application_row(&row)?;
        let object_id = id.to_string();
        insert_event(
            &mut tx,
            &NewEvent {
                at,
                actor_id: actor.or(Some(app.applicant_id)),
                object_type: "application",
                object_id: &object_id,
                action: match side {
                    AgreementSide::Applicant => "agreement_accepted_by_applicant",
                    AgreementSide::Provider { .. } => "agreement_accepted_by_provider",
                },
                reason: "",
                detail: serde_json::json!({ "agreement_hash": agreement_hash }).to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(app)
    }

    async fn activate_application(&self, a: &Activation<'_>) -> Result<ApplicationRow> {
        let Activation {
            id,
            from,
            needs_acceptance,
            actor_id,
            action,
            reason,
            grant,
        } = *a;
        let mut tx = self.pool.begin().await?;
        // The state moves first: of two concurrent activations one finds nothing to move
        // and rolls back, so an application never gets two grants.
        let accepted = if needs_acceptance {
            " AND applicant_accepted_at IS NOT NULL AND provider_accepted_at IS NOT NULL"
        } else {
            ""
        };
        let moved = sqlx::query(&format!(
            "UPDATE applications SET state = 'in_force', due_on = NULL, updated_at = $1, \
             decided_at = COALESCE(decided_at, $2), decided_by = COALESCE(decided_by, $3) \
             WHERE id = $4 AND state = $5{accepted}"
        ))
        .bind(grant.at)
        .bind(grant.at)
        .bind(actor_id)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Err(self.missing_or_conflict(&mut tx, id).await);
        }
        let grant_id = insert_grant_in(&mut tx, grant).await?;
        let row = sqlx::query(&format!(
            "UPDATE applications SET grant_id = $1 WHERE id = $2 RETURNING {APPLICATION_COLUMNS}"
        ))
        .bind(grant_id)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let object_id = id.to_string();
        insert_event(
            &mut tx,
            &NewEvent {
                at: grant.at,
                actor_id,
                object_type: "application",
                object_id: &object_id,
                action,
                reason,
                detail: serde_json::json!({
                    "grant_id": grant_id, "from": from.as_str(), "to": "in_force",
                })
                .to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        application_row(&row)
    }

    async fn applications_with_deadlines(&self) -> Result<Vec<ApplicationRow>> {
        self.all(
            sqlx::query(&format!(
                "SELECT {APPLICATION_COLUMNS} FROM applications \
                 WHERE due_on IS NOT NULL AND state IN ('formal_check', 'with_provider', 'disputed') \
                 ORDER BY id"
            )),
            application_row,
        )
        .await
    }

    async fn attribute_changes_with_deadlines(&self) -> Result<Vec<AttributeChangeRow>> {
        self.all(
            sqlx::query(
                "SELECT * FROM attribute_changes \
                 WHERE due_on IS NOT NULL AND state = 'pending' ORDER BY id",
            ),
            change_row,
        )
        .await
    }

    async fn insert_catalog_update(&self, new: &NewCatalogUpdate<'_>) -> Result<CatalogUpdateRow> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO catalog_updates (provider_id, cause, basis, received_on, due_on, \
             due_provisional, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(new.provider_id)
        .bind(new.cause)
        .bind(new.basis)
        .bind(day(new.received_on))
        .bind(day(new.due_on))
        .bind(new.due_provisional)
        .bind(new.created_by)
        .bind(new.at)
        .fetch_one(&mut *tx)
        .await?;
        insert_event(
            &mut tx,
            &NewEvent {
                at: new.at,
                actor_id: Some(new.created_by),
                object_type: "catalog_update",
                object_id: &id.to_string(),
                action: "recorded",
                reason: new.basis,
                detail: serde_json::json!({
                    "provider_id": new.provider_id, "cause": new.cause,
                    "received_on": new.received_on, "due_on": new.due_on,
                })
                .to_string(),
            },
        )
        .await?;
        let row = sqlx::query(&format!("{CATALOG_UPDATE_SELECT} WHERE u.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let update = catalog_update_row(&row)?;
        tx.commit().await?;
        Ok(update)
    }

    async fn get_catalog_update(&self, id: i64) -> Result<Option<CatalogUpdateRow>> {
        self.optional(
            sqlx::query(&format!("{CATALOG_UPDATE_SELECT} WHERE u.id = $1")).bind(id),
            catalog_update_row,
        )
        .await
    }

    async fn list_catalog_updates(
        &self,
        provider_ids: &[i64],
        region_prefixes: &[String],
        open_only: bool,
    ) -> Result<Vec<CatalogUpdateRow>> {
        let mut b = QueryBuilder::<Postgres>::new(format!("{CATALOG_UPDATE_SELECT} WHERE ((0 = 1"));
        if !provider_ids.is_empty() {
            b.push(" OR u.provider_id IN (");
            let mut list = b.separated(", ");
            for id in provider_ids {
                list.push_bind(*id);
            }
            b.push(")");
        }
        for prefix in region_prefixes {
            b.push(" OR o.region_code LIKE ")
                .push_bind(format!("{prefix}%"));
        }
        b.push("))");
        if open_only {
            b.push(" AND u.state = 'open'");
        }
        b.push(" ORDER BY u.id DESC LIMIT 1000");
        b.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(catalog_update_row)
            .collect()
    }

    async fn close_catalog_update(
        &self,
        id: i64,
        actor_id: i64,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<CatalogUpdateRow> {
        let mut tx = self.pool.begin().await?;
        let closed = sqlx::query(
            "UPDATE catalog_updates SET state = 'done', closed_by = $1, closed_at = $2, close_note = $3 \
             WHERE id = $4 AND state = 'open'",
        )
        .bind(actor_id)
        .bind(at)
        .bind(note)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if closed.rows_affected() == 0 {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM catalog_updates WHERE id = $1)")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            return Err(if exists {
                StoreError::VersionConflict
            } else {
                StoreError::NotFound
            });
        }
        insert_event(
            &mut tx,
            &NewEvent {
                at,
                actor_id: Some(actor_id),
                object_type: "catalog_update",
                object_id: &id.to_string(),
                action: "closed",
                reason: note,
                detail: "{}".into(),
            },
        )
        .await?;
        let row = sqlx::query(&format!("{CATALOG_UPDATE_SELECT} WHERE u.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let update = catalog_update_row(&row)?;
        tx.commit().await?;
        Ok(update)
    }

    async fn open_catalog_updates(&self) -> Result<Vec<CatalogUpdateRow>> {
        self.all(
            sqlx::query(&format!(
                "{CATALOG_UPDATE_SELECT} WHERE u.state = 'open' ORDER BY u.id"
            )),
            catalog_update_row,
        )
        .await
    }

    async fn claim_deadline_notice(
        &self,
        of: DeadlineOf,
        id: i64,
        due_on: chrono::NaiveDate,
        escalation: bool,
    ) -> Result<bool> {
        let column = if escalation {
            "escalated_for"
        } else {
            "reminded_for"
        };
        // Only while the item still waits: one decided meanwhile gets no notice.
        let (table, waiting) = match of {
            DeadlineOf::Application => (
                "applications",
                "state IN ('formal_check', 'with_provider', 'disputed')",
            ),
            DeadlineOf::AttributeChange => ("attribute_changes", "state = 'pending'"),
            DeadlineOf::CatalogUpdate => ("catalog_updates", "state = 'open'"),
            DeadlineOf::Feedback => ("feedback", "state IN ('open', 'reopened')"),
        };
        let due = day(due_on);
        let done = sqlx::query(&format!(
            "UPDATE {table} SET {column} = $1 WHERE id = $2 AND due_on = $1 AND {waiting} \
             AND ({column} IS NULL OR {column} <> $1)"
        ))
        .bind(due)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn put_column_proposals(&self, rows: &[ColumnClassRow]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for r in rows {
            // The latest earlier confirmation of a column of this name carries over.
            sqlx::query(
                "INSERT INTO column_classes (resource_id, version, column_name, proposed_kind, \
                 proposal, confirmed_kind, confirmed_by, confirmed_at) \
                 SELECT $1, $2, $3, $4, $5, p.confirmed_kind, p.confirmed_by, p.confirmed_at \
                 FROM (SELECT 1) AS one LEFT JOIN (SELECT confirmed_kind, confirmed_by, confirmed_at \
                   FROM column_classes WHERE resource_id = $1 AND column_name = $3 \
                   AND version < $2 AND confirmed_kind IS NOT NULL \
                   ORDER BY version DESC LIMIT 1) p ON true \
                 WHERE true \
                 ON CONFLICT (resource_id, version, column_name) DO UPDATE SET \
                 proposed_kind = excluded.proposed_kind, proposal = excluded.proposal",
            )
            .bind(&r.resource_id)
            .bind(r.version)
            .bind(&r.column_name)
            .bind(&r.proposed_kind)
            .bind(&r.proposal)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // In the order of the first proposal, as SQLite's rowid gives it (`ord`, 0002).
    async fn column_classes(&self, resource_id: &str, version: i64) -> Result<Vec<ColumnClassRow>> {
        self.all(
            sqlx::query(
                "SELECT * FROM column_classes WHERE resource_id = $1 AND version = $2 ORDER BY ord",
            )
            .bind(resource_id)
            .bind(version),
            column_class_row,
        )
        .await
    }

    async fn confirm_column_classes(
        &self,
        resource_id: &str,
        version: i64,
        confirmed: &[(String, String)],
        actor_id: i64,
        at: DateTime<Utc>,
    ) -> Result<Vec<ColumnClassRow>> {
        let mut tx = self.pool.begin().await?;
        for (column, kind) in confirmed {
            let done = sqlx::query(
                "UPDATE column_classes SET confirmed_kind = $1, confirmed_by = $2, confirmed_at = $3 \
                 WHERE resource_id = $4 AND version = $5 AND column_name = $6",
            )
            .bind(kind)
            .bind(actor_id)
            .bind(at)
            .bind(resource_id)
            .bind(version)
            .bind(column)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        let detail: serde_json::Map<String, serde_json::Value> = confirmed
            .iter()
            .map(|(c, k)| (c.clone(), serde_json::Value::String(k.clone())))
            .collect();
        insert_event(
            &mut tx,
            &NewEvent {
                at,
                actor_id: Some(actor_id),
                object_type: "resource",
                object_id: resource_id,
                action: "columns_confirmed",
                reason: "",
                detail: serde_json::json!({ "version": version, "columns": detail }).to_string(),
            },
        )
        .await?;
        let rows = sqlx::query(
            "SELECT * FROM column_classes WHERE resource_id = $1 AND version = $2 ORDER BY ord",
        )
        .bind(resource_id)
        .bind(version)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(column_class_row)
        .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn grade_caps(&self) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT caps FROM grade_caps WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_grade_caps(
        &self,
        caps: &str,
        actor_id: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO grade_caps (id, caps, updated_by, updated_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET caps = excluded.caps, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(caps)
        .bind(actor_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        insert_event(
            &mut tx,
            &NewEvent {
                at,
                actor_id: Some(actor_id),
                object_type: "grade_caps",
                object_id: "province",
                action: "updated",
                reason,
                detail: caps.to_owned(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn resource_rules(&self, resource_id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT rules FROM resource_rules WHERE resource_id = $1")
                .bind(resource_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_resource_rules(
        &self,
        resource_id: &str,
        rules: &str,
        actor_id: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO resource_rules (resource_id, rules, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (resource_id) DO UPDATE SET rules = excluded.rules, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(resource_id)
        .bind(rules)
        .bind(actor_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        insert_event(
            &mut tx,
            &NewEvent {
                at,
                actor_id: Some(actor_id),
                object_type: "resource",
                object_id: resource_id,
                action: "rules_set",
                reason,
                detail: rules.to_owned(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn open_version(
        &self,
        resource_id: &str,
        version: i64,
        rules_hash: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT open_table FROM open_versions \
             WHERE resource_id = $1 AND version = $2 AND rules_hash = $3",
        )
        .bind(resource_id)
        .bind(version)
        .bind(rules_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn put_open_version(
        &self,
        resource_id: &str,
        version: i64,
        rules_hash: &str,
        open_table: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO open_versions (resource_id, version, rules_hash, open_table, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(resource_id)
        .bind(version)
        .bind(rules_hash)
        .bind(open_table)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_grant_call(&self, grant_id: i64, day: chrono::NaiveDate) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO grant_usage (grant_id, day, calls, rows) \
             SELECT g.id, $2, 1, 0 FROM grants g \
             WHERE g.id = $1 AND (g.quota_calls_per_day IS NULL OR g.quota_calls_per_day >= 1) \
             ON CONFLICT (grant_id, day) DO UPDATE SET calls = grant_usage.calls + 1 \
             WHERE grant_usage.calls < COALESCE( \
                 (SELECT quota_calls_per_day FROM grants WHERE id = excluded.grant_id), \
                 9223372036854775807)",
        )
        .bind(grant_id)
        .bind(day)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_grant_use(
        &self,
        grant_id: i64,
        day: chrono::NaiveDate,
        calls: i64,
        rows: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO grant_usage (grant_id, day, calls, rows) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (grant_id, day) DO UPDATE SET calls = grant_usage.calls + excluded.calls, \
             rows = grant_usage.rows + excluded.rows",
        )
        .bind(grant_id)
        .bind(day)
        .bind(calls)
        .bind(rows)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_dataset_use(
        &self,
        dataset_id: i64,
        day: chrono::NaiveDate,
        downloads: i64,
        api_calls: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO dataset_usage (dataset_id, day, downloads, api_calls) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (dataset_id, day) DO UPDATE SET \
             downloads = dataset_usage.downloads + excluded.downloads, \
             api_calls = dataset_usage.api_calls + excluded.api_calls",
        )
        .bind(dataset_id)
        .bind(day)
        .bind(downloads)
        .bind(api_calls)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn usage_totals(&self, ids: &[i64]) -> Result<Vec<UsageTotals>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut b = QueryBuilder::<Postgres>::new(
            "SELECT dataset_id, SUM(downloads)::BIGINT, SUM(api_calls)::BIGINT FROM dataset_usage \
             WHERE dataset_id IN (",
        );
        let mut list = b.separated(", ");
        for id in ids.iter().take(1000) {
            list.push_bind(*id);
        }
        b.push(") GROUP BY dataset_id");
        let rows: Vec<(i64, i64, i64)> = b.build_query_as().fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|(dataset_id, downloads, api_calls)| UsageTotals {
                dataset_id,
                downloads,
                api_calls,
            })
            .collect())
    }

    async fn fail_unfinished_jobs(&self, reason: &str, at: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'failed', error = $1, updated_at = $2 \
             WHERE state IN ('queued', 'running')",
        )
        .bind(reason)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn insert_incident(&self, new: &NewIncident<'_>) -> Result<IncidentRow> {
        self.insert_incident_impl(new).await
    }

    async fn get_incident(&self, id: i64) -> Result<Option<IncidentRow>> {
        self.get_incident_impl(id).await
    }

    async fn list_incidents(&self, q: &IncidentQuery) -> Result<Page<IncidentRow>> {
        self.list_incidents_impl(q).await
    }

    async fn save_incident(&self, row: &IncidentRow, event: &NewEvent<'_>) -> Result<IncidentRow> {
        self.save_incident_impl(row, event).await
    }

    async fn evaluation_scheme(&self, region: &str) -> Result<Option<String>> {
        self.evaluation_scheme_impl(region).await
    }

    async fn put_evaluation_scheme(
        &self,
        region: &str,
        doc: &str,
        by: i64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.put_evaluation_scheme_impl(region, doc, by, at).await
    }

    async fn insert_evaluation(&self, new: &NewEvaluation<'_>) -> Result<EvaluationRow> {
        self.insert_evaluation_impl(new).await
    }

    async fn get_evaluation(&self, id: i64) -> Result<Option<EvaluationRow>> {
        self.get_evaluation_impl(id).await
    }

    async fn list_evaluations(&self, q: &EvaluationQuery) -> Result<Vec<EvaluationRow>> {
        self.list_evaluations_impl(q).await
    }

    async fn release_evaluation(
        &self,
        id: i64,
        by: i64,
        at: DateTime<Utc>,
    ) -> Result<EvaluationRow> {
        self.release_evaluation_impl(id, by, at).await
    }

    async fn evaluation_facts(
        &self,
        region_prefix: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<EvaluationFacts> {
        self.evaluation_facts_impl(region_prefix, from, to).await
    }

    async fn set_version_quality(
        &self,
        resource_id: &str,
        version: i64,
        quality: &str,
    ) -> Result<()> {
        self.set_version_quality_impl(resource_id, version, quality)
            .await
    }

    async fn version_quality(&self, resource_id: &str, version: i64) -> Result<Option<String>> {
        self.version_quality_impl(resource_id, version).await
    }

    async fn source_claims(&self, region_prefix: &str) -> Result<Vec<SourceClaim>> {
        self.source_claims_impl(region_prefix).await
    }

    async fn insert_sandbox_query(&self, row: &SandboxQueryRow) -> Result<SandboxQueryRow> {
        self.insert_sandbox_query_impl(row).await
    }

    async fn get_sandbox_query(&self, id: i64) -> Result<Option<SandboxQueryRow>> {
        self.get_sandbox_query_impl(id).await
    }

    async fn same_shape_queries(
        &self,
        fingerprint: &str,
        user_id: i64,
        grant_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SandboxQueryRow>> {
        self.same_shape_queries_impl(fingerprint, user_id, grant_id, limit)
            .await
    }

    async fn list_sandbox_queries(
        &self,
        user_id: Option<i64>,
        provider_ids: &[i64],
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SandboxQueryRow>> {
        self.list_sandbox_queries_impl(user_id, provider_ids, state, limit)
            .await
    }

    async fn save_sandbox_query(&self, row: &SandboxQueryRow) -> Result<SandboxQueryRow> {
        self.save_sandbox_query_impl(row).await
    }

    async fn fail_running_sandbox_queries(&self, reason: &str) -> Result<u64> {
        self.fail_running_sandbox_queries_impl(reason).await
    }

    async fn expire_sandbox_results(&self, before: DateTime<Utc>) -> Result<u64> {
        self.expire_sandbox_results_impl(before).await
    }

    async fn insert_sandbox_model(&self, row: &SandboxModelRow) -> Result<SandboxModelRow> {
        self.insert_sandbox_model_impl(row).await
    }

    async fn get_sandbox_model(&self, id: i64) -> Result<Option<SandboxModelRow>> {
        self.get_sandbox_model_impl(id).await
    }

    async fn list_sandbox_models(&self, dataset_id: i64) -> Result<Vec<SandboxModelRow>> {
        self.list_sandbox_models_impl(dataset_id).await
    }

    async fn save_sandbox_model(&self, row: &SandboxModelRow) -> Result<()> {
        self.save_sandbox_model_impl(row).await
    }

    async fn get_grant_privacy(&self, grant_id: i64) -> Result<Option<GrantPrivacyRow>> {
        self.get_grant_privacy_impl(grant_id).await
    }

    async fn put_grant_privacy(
        &self,
        grant_id: i64,
        doc: &str,
        budget: f64,
        by: i64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.put_grant_privacy_impl(grant_id, doc, budget, by, at)
            .await
    }

    async fn spend_privacy(&self, grant_id: i64, epsilon: f64) -> Result<Option<f64>> {
        self.spend_privacy_impl(grant_id, epsilon).await
    }

    async fn get_verification_service(
        &self,
        resource_id: &str,
    ) -> Result<Option<VerificationServiceRow>> {
        self.get_verification_service_impl(resource_id).await
    }

    async fn put_verification_service(
        &self,
        resource_id: &str,
        doc: &str,
        by: i64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.put_verification_service_impl(resource_id, doc, by, at)
            .await
    }

    async fn take_verification_checks(
        &self,
        who: &str,
        resource_id: &str,
        day: chrono::NaiveDate,
        checks: i64,
        limit: i64,
    ) -> Result<Option<i64>> {
        self.take_verification_checks_impl(who, resource_id, day, checks, limit)
            .await
    }
    async fn insert_harvest_source(
        &self,
        provider_id: Option<i64>,
        doc: &str,
        enabled: bool,
        next_run_at: DateTime<Utc>,
        by: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<HarvestSourceRow> {
        self.insert_harvest_source_impl(provider_id, doc, enabled, next_run_at, by, at)
            .await
    }

    async fn update_harvest_source(
        &self,
        id: i64,
        expected_version: i64,
        provider_id: i64,
        doc: &str,
        enabled: bool,
        next_run_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<HarvestSourceRow> {
        self.update_harvest_source_impl(
            id,
            expected_version,
            provider_id,
            doc,
            enabled,
            next_run_at,
            at,
        )
        .await
    }

    async fn get_harvest_source(&self, id: i64) -> Result<Option<HarvestSourceRow>> {
        self.get_harvest_source_impl(id).await
    }

    async fn list_harvest_sources(&self) -> Result<Vec<HarvestSourceRow>> {
        self.list_harvest_sources_impl().await
    }

    async fn due_harvest_sources(&self, now: DateTime<Utc>) -> Result<Vec<i64>> {
        self.due_harvest_sources_impl(now).await
    }

    async fn claim_harvest_source(&self, claim: &HarvestClaim) -> Result<Option<i64>> {
        self.claim_harvest_source_impl(claim).await
    }

    async fn finish_harvest_run(
        &self,
        run_id: i64,
        failed: bool,
        doc: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.finish_harvest_run_impl(run_id, failed, doc, at).await
    }

    async fn get_harvest_run(&self, id: i64) -> Result<Option<HarvestRunRow>> {
        self.get_harvest_run_impl(id).await
    }

    async fn list_harvest_runs(&self, source_id: i64, limit: i64) -> Result<Vec<HarvestRunRow>> {
        self.list_harvest_runs_impl(source_id, limit).await
    }

    async fn harvest_records(&self, source_id: i64) -> Result<Vec<HarvestRecordRow>> {
        self.harvest_records_impl(source_id).await
    }

    async fn put_harvest_record(&self, record: &HarvestRecordRow) -> Result<()> {
        self.put_harvest_record_impl(record).await
    }

    async fn harvest_record_of(&self, dataset_id: i64) -> Result<Option<HarvestRecordRow>> {
        self.harvest_record_of_impl(dataset_id).await
    }

    async fn insert_federation_member(
        &self,
        source_id: i64,
        region_code: &str,
        doc: &str,
        enroll_token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<FederationMemberRow> {
        self.insert_federation_member_impl(source_id, region_code, doc, enroll_token_hash, at)
            .await
    }

    async fn list_federation_members(&self) -> Result<Vec<FederationMemberRow>> {
        self.list_federation_members_impl().await
    }

    async fn get_federation_member(&self, id: i64) -> Result<Option<FederationMemberRow>> {
        self.get_federation_member_impl(id).await
    }

    async fn enroll_federation_member(
        &self,
        enroll_token_hash: &str,
        public_key: &str,
    ) -> Result<Option<FederationMemberRow>> {
        self.enroll_federation_member_impl(enroll_token_hash, public_key)
            .await
    }

    async fn claim_federation_seq(&self, id: i64, seq: i64, at: DateTime<Utc>) -> Result<bool> {
        self.claim_federation_seq_impl(id, seq, at).await
    }

    async fn put_federation_report(&self, id: i64, report: &str) -> Result<()> {
        self.put_federation_report_impl(id, report).await
    }

    async fn get_federation_upstream(&self) -> Result<Option<FederationUpstreamRow>> {
        self.get_federation_upstream_impl().await
    }

    async fn put_federation_upstream(&self, row: &FederationUpstreamRow) -> Result<()> {
        self.put_federation_upstream_impl(row).await
    }

    async fn next_federation_seq(&self) -> Result<i64> {
        self.next_federation_seq_impl().await
    }

    async fn put_upstream_report(&self, report: &str, at: DateTime<Utc>) -> Result<()> {
        self.put_upstream_report_impl(report, at).await
    }

    async fn federation_sent(&self) -> Result<Vec<(String, String)>> {
        self.federation_sent_impl().await
    }

    async fn put_federation_sent(&self, sent: &[(String, Option<String>)]) -> Result<()> {
        self.put_federation_sent_impl(sent).await
    }

    async fn catalog_changes(&self, after: i64, limit: i64) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT seq, dataset_id FROM catalog_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("dataset_id")?)))
            .collect()
    }

    async fn signin_failed(
        &self,
        key: &str,
        limit: i64,
        window_start: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // One statement: concurrent failures on several nodes each count.
        sqlx::query(
            "INSERT INTO signin_failures (key, count, first_at, locked_until) \
             VALUES ($1, 1, $5, CASE WHEN 1 >= $2 THEN $4 ELSE NULL END) \
             ON CONFLICT (key) DO UPDATE SET \
             count = CASE WHEN signin_failures.first_at < $3 AND \
                 (signin_failures.locked_until IS NULL OR signin_failures.locked_until <= $5) \
                 THEN 1 ELSE signin_failures.count + 1 END, \
             first_at = CASE WHEN signin_failures.first_at < $3 AND \
                 (signin_failures.locked_until IS NULL OR signin_failures.locked_until <= $5) \
                 THEN $5 ELSE signin_failures.first_at END, \
             locked_until = CASE WHEN (CASE WHEN signin_failures.first_at < $3 AND \
                 (signin_failures.locked_until IS NULL OR signin_failures.locked_until <= $5) \
                 THEN 1 ELSE signin_failures.count + 1 END) >= $2 \
                 THEN $4 ELSE signin_failures.locked_until END",
        )
        .bind(key)
        .bind(limit)
        .bind(window_start)
        .bind(lock_until)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn signin_locked_until(
        &self,
        keys: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let mut latest: Option<DateTime<Utc>> = None;
        for key in keys {
            let until: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
                "SELECT locked_until FROM signin_failures WHERE key = $1 AND locked_until > $2",
            )
            .bind(key)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(Some(u)) = until {
                latest = Some(latest.map_or(u, |l| l.max(u)));
            }
        }
        Ok(latest)
    }

    async fn signin_cleared(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM signin_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn the_password_leaves_the_url() {
        assert_eq!(
            without_password("postgres://gs:p%40ss:w@db:5432/gongshu?sslmode=require"),
            (
                "postgres://gs@db:5432/gongshu?sslmode=require".to_owned(),
                Some("p@ss:w".to_owned())
            )
        );
        assert_eq!(
            super::redacted("postgres://gs:secret@db/gongshu?password=x"),
            "postgres://gs@db/gongshu?…"
        );
        assert_eq!(
            without_password("postgres://gs@db/gongshu"),
            ("postgres://gs@db/gongshu".to_owned(), None)
        );
        assert_eq!(
            without_password("postgresql:///gongshu?host=/run/postgresql"),
            (
                "postgresql:///gongshu?host=/run/postgresql".to_owned(),
                None
            )
        );
    }
}
