//! The data of catalog entries: uploads become versions through background jobs, and
//! every read of data — preview, download, row API, SQL — asks the access gate first.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use gongshu_core::access::{
    AccessMode, DenyReason, EntryFacts, GrantFacts, GrantState, Held, View, decide,
};
use gongshu_core::authz::{self, EntryScope, Principal};
use gongshu_core::calendar::china_date;
use gongshu_core::catalog::DatasetDraft;
use gongshu_core::types::ItemType;

use crate::grants::departments;
use gongshu_core::{Error, ErrorCode};
use gongshu_data::query::{
    Engine, QueryError, QueryLimits, RowPage, RowQuery, SqlResult, TableRef,
};
use gongshu_data::{
    DataError, Declared, DeclaredType, IngestOptions, Manifest, Prepared, VersionError, Versions,
};
use gongshu_store::{DatasetRow, JobRow, NewResource, ResourceRow, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog_cache::{Generation, Key};
use crate::{App, Result, store_error};

/// Where data lives and how it is read.
#[derive(Debug, Clone)]
pub struct DataPlane {
    pub versions: Versions,
    pub engine: Engine,
    /// Uploads and Parquet being written wait here; same disk as the store, so moving a
    /// finished file costs nothing.
    pub tmp_dir: PathBuf,
    /// Largest upload accepted, in bytes.
    pub upload_limit: u64,
    /// Ingests running at once: each keeps a core busy reading and one encoding.
    ingests: Arc<tokio::sync::Semaphore>,
    /// Keys and sweeps of encryption at rest.
    pub at_rest: Arc<crate::at_rest::AtRest>,
}

impl DataPlane {
    /// The embedded default: object store and temporary files under the data directory.
    pub fn local(data_dir: &Path) -> Result<Self, VersionError> {
        Self::with_versions(data_dir, Versions::local(&data_dir.join("objects"))?)
    }

    /// The data plane over an object store several nodes share (`file:///…` on shared
    /// storage, or another `object_store` URL), with scratch space in `data_dir`.
    pub fn shared(data_dir: &Path, url: &str) -> Result<Self, VersionError> {
        let parsed = url::Url::parse(url).map_err(|e| {
            VersionError::Store(object_store::Error::Generic {
                store: "url",
                source: Box::new(e),
            })
        })?;
        let store: Arc<dyn object_store::ObjectStore> = match parsed.scheme() {
            "file" => {
                let path = parsed.to_file_path().map_err(|()| {
                    VersionError::Store(object_store::Error::Generic {
                        store: "url",
                        source: format!("not a local path: {url}").into(),
                    })
                })?;
                return Self::with_versions(data_dir, Versions::local(&path)?);
            }
            // S3 or an S3-compatible store (MinIO, Ceph, the clouds' own): credentials,
            // region and endpoint from the AWS_* variables; a bucket of its own.
            // (object_store 0.13's PrefixStore answers reads with the prefixed path,
            // which the query engine then prefixes again, so a path is refused.)
            "s3" | "s3a" => {
                if !parsed.path().trim_matches('/').is_empty() {
                    return Err(VersionError::Store(object_store::Error::Generic {
                        store: "url",
                        source: format!(
                            "give the platform a bucket of its own (s3://bucket), not a path in one: {url}"
                        )
                        .into(),
                    }));
                }
                Arc::new(
                    object_store::aws::AmazonS3Builder::from_env()
                        .with_url(url)
                        .build()
                        .map_err(VersionError::Store)?,
                )
            }
            other => {
                return Err(VersionError::Store(object_store::Error::Generic {
                    store: "url",
                    source: format!("object stores are file:// or s3://, not {other}://").into(),
                }));
            }
        };
        Self::with_versions(data_dir, Versions::new(store))
    }

    fn with_versions(data_dir: &Path, versions: Versions) -> Result<Self, VersionError> {
        let tmp_dir = data_dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir)
            .map_err(|e| VersionError::Store(gongshu_data::versions::io_error(e)))?;
        let engine = Engine::new(versions.store(), QueryLimits::default());
        Ok(Self {
            versions,
            engine,
            tmp_dir,
            upload_limit: 2 * 1024 * 1024 * 1024,
            ingests: Arc::new(tokio::sync::Semaphore::new(1)),
            at_rest: Arc::default(),
        })
    }
}

/// Who uploads: a signed-in user, or the operator at the machine's command line.
#[derive(Debug, Clone, Copy)]
pub enum Uploader<'a> {
    User(&'a Principal),
    Operator(&'a str),
}

impl Uploader<'_> {
    pub fn label(&self) -> String {
        match self {
            Self::User(p) => p.username.clone(),
            Self::Operator(who) => format!("cli:{who}"),
        }
    }

    fn user_id(&self) -> Option<i64> {
        match self {
            Self::User(p) => Some(p.user_id),
            Self::Operator(_) => None,
        }
    }
}

/// What to do when some rows do not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnReject {
    /// Stage the version and wait for the provider to publish it or discard it.
    #[default]
    Hold,
    /// Publish without the rejected rows.
    Publish,
}

impl OnReject {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hold" => Some(Self::Hold),
            "publish" => Some(Self::Publish),
            _ => None,
        }
    }
}

/// An uploaded file waiting on disk, and what the uploader asked for.
#[derive(Debug)]
pub struct Upload {
    pub file: PathBuf,
    /// Removes the file when the upload is done with, if it was a temporary copy.
    pub temp: Option<tempfile::TempPath>,
    pub file_name: String,
    /// Title of a new resource; the file name when unset.
    pub name: Option<String>,
    /// Upload a new version of this resource instead of creating one.
    pub resource_id: Option<String>,
    pub sheet: Option<String>,
    pub on_reject: OnReject,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RejectedRow {
    pub line: u64,
    pub reason: String,
}

/// What a job found, kept with it as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct JobDetail {
    file_name: String,
    on_reject: OnReject,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    rejected: Vec<RejectedRow>,
    #[serde(default)]
    missing_declared: Vec<String>,
    #[serde(default)]
    personal_columns: Vec<DetectedColumn>,
    #[serde(default)]
    timings: Option<IngestTimings>,
}

/// How long each stage of an ingest took, in milliseconds: for the operator, and for
/// the benchmark that holds protection to its share of ingest time.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
pub struct IngestTimings {
    /// Reading, checking and encoding the table, and staging the version.
    pub read_ms: u64,
    /// Detecting personal information over the whole table.
    pub detect_ms: u64,
    /// Publishing the version, with its open (de-identified) version computed.
    pub publish_ms: u64,
}

/// A column the detector found personal information in; the provider confirms or
/// corrects it (`PUT /api/v1/resources/{id}/columns`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct DetectedColumn {
    pub column: String,
    /// The proposed kind's wire name (`resident_id`, `name` …).
    pub kind: String,
    /// Sensitive personal information (PIPL §28).
    pub sensitive: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    /// queued, running, needs_decision, succeeded, failed, discarded
    pub state: String,
    pub dataset_id: i64,
    pub resource_id: String,
    pub file_name: String,
    /// How the file was read: encoding, delimiter, sheet.
    pub source: Option<String>,
    pub rows_read: i64,
    pub rows_rejected: i64,
    /// The first rejected rows (at most 1000) with their line and reason.
    pub rejected: Vec<RejectedRow>,
    /// Data items the catalog declares that no column carries.
    pub missing_declared: Vec<String>,
    /// Columns that seem to hold personal information, for the provider to confirm.
    pub personal_columns: Vec<DetectedColumn>,
    /// How long each stage took, once the job has finished.
    pub timings: Option<IngestTimings>,
    pub error: Option<String>,
    pub version: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl JobView {
    fn of(job: &JobRow) -> Self {
        let detail: JobDetail = serde_json::from_str(&job.detail).unwrap_or_default();
        Self {
            id: job.id.clone(),
            kind: job.kind.clone(),
            state: job.state.clone(),
            dataset_id: job.dataset_id,
            resource_id: job.resource_id.clone(),
            file_name: detail.file_name,
            source: detail.source,
            rows_read: job.rows_read,
            rows_rejected: job.rows_rejected,
            rejected: detail.rejected,
            missing_declared: detail.missing_declared,
            personal_columns: detail.personal_columns,
            timings: detail.timings,
            error: job.error.clone(),
            version: job.version,
            created_at: job.created_at,
            updated_at: job.updated_at,
        }
    }

    pub fn finished(&self) -> bool {
        !matches!(self.state.as_str(), "queued" | "running")
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ColumnView {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResourceView {
    pub id: String,
    pub dataset_id: i64,
    pub name: String,
    /// The name to use for this table in SQL.
    pub table_name: String,
    /// `table` (rows API, SQL, every download format) or `file` (downloaded as it is).
    pub kind: Option<String>,
    pub current_version: Option<i64>,
    pub rows: Option<u64>,
    pub columns: Vec<ColumnView>,
    pub original_name: Option<String>,
    pub original_bytes: Option<u64>,
    pub sha256: Option<String>,
    /// When a version was last published (timeliness against the update cycle).
    pub updated_at: Option<DateTime<Utc>>,
    /// When the next update is due under the entry's declared update cycle (none for
    /// irregular updates or before the first version).
    pub update_due: Option<DateTime<Utc>>,
    /// The due date has passed without a new version (SD-OPEN §20(一)).
    pub overdue: bool,
    pub created_at: DateTime<Utc>,
    /// Whether the caller may download and query it, and if not, why.
    pub access: View,
}

/// SD-OPEN §15: whoever uses opened data cites its source.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attribution {
    pub provider: String,
    pub dataset: String,
    pub code: String,
    pub url: String,
    pub retrieved_at: DateTime<Utc>,
}

impl Attribution {
    /// A ready-made citation, in Chinese as the portal shows it.
    pub fn citation(&self) -> String {
        format!(
            "{provider}.《{dataset}》(资源代码 {code}). {url}. 获取时间: {at}.",
            provider = self.provider,
            dataset = self.dataset,
            code = self.code,
            url = self.url,
            at = self.retrieved_at.format("%Y-%m-%d %H:%M UTC"),
        )
    }
}

/// A resource the gate let through, with what the response must carry.
#[derive(Debug, Clone)]
pub struct Readable {
    pub resource: ResourceRow,
    pub manifest: Manifest,
    pub attribution: Attribution,
    /// The grant the caller read under, whose daily use is counted.
    pub grant: Option<i64>,
    /// The table this reader gets: the raw Parquet, or the open version's.
    pub path: gongshu_data::ObjectPath,
    /// The original file as uploaded may be served: only to readers of the raw data.
    pub original_allowed: bool,
}

impl Readable {
    pub fn table(&self) -> TableRef {
        TableRef {
            name: self.resource.table_name.clone(),
            path: self.path.clone(),
            rows: self.manifest.rows,
        }
    }

    pub fn is_table(&self) -> bool {
        self.manifest.parquet.is_some()
    }
}

fn declared_type(t: ItemType) -> DeclaredType {
    match t {
        ItemType::Integer => DeclaredType::Integer,
        ItemType::Numeric | ItemType::Currency | ItemType::Double | ItemType::Float => {
            DeclaredType::Number
        }
        ItemType::Date => DeclaredType::Date,
        ItemType::Logical => DeclaredType::Boolean,
        // Date-times stay text until the platform stores timestamps; text loses nothing.
        ItemType::Datetime | ItemType::Character | ItemType::Memo | ItemType::General => {
            DeclaredType::Text
        }
    }
}

fn declared(doc: &DatasetDraft) -> Vec<Declared> {
    doc.items
        .iter()
        .map(|i| Declared {
            name: i.name.clone(),
            kind: declared_type(i.item_type),
        })
        .collect()
}

/// A file that cannot be read at all, said in both languages.
fn data_error_message(e: &DataError) -> String {
    let zh = match e {
        DataError::Empty => "文件为空".to_owned(),
        DataError::Binary => "这是二进制文件，不是文本表格".to_owned(),
        DataError::NoHeader(n) => format!("前{n}行中找不到表头"),
        DataError::TooManyColumns { found, max } => format!("共{found}列，超过上限{max}列"),
        DataError::LineTooLong(n) => format!("有一行超过{n}字节，文件可能不是表格或缺少换行"),
        DataError::Spreadsheet(_) => "无法读取该文件".to_owned(),
        DataError::Io(_) => "读取文件失败，文件可能已截断或损坏".to_owned(),
        DataError::Arrow(_) => "无法转换该表格".to_owned(),
    };
    format!("{zh} ({e})")
}

pub(crate) fn query_error(e: QueryError) -> Error {
    match e {
        QueryError::BadRequest(m) => Error::new(ErrorCode::BadRequest, m.clone(), m),
        QueryError::Timeout => Error::new(
            ErrorCode::Timeout,
            "查询超时，请缩小范围或增加筛选条件",
            "The query took too long; narrow it down",
        ),
        QueryError::TooLarge => Error::new(
            ErrorCode::PayloadTooLarge,
            "查询所需内存超过上限，请缩小范围",
            "The query needs more memory than allowed; narrow it down",
        ),
        QueryError::Engine(m) => {
            tracing::error!(error = %m, "query engine failure");
            Error::internal()
        }
    }
}

fn not_found() -> Error {
    Error::not_found("数据资源", "Resource")
}

fn scope(d: &DatasetRow) -> EntryScope<'_> {
    EntryScope {
        provider_org_id: d.provider_id,
        provider_region: &d.region_code,
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// SQL table names come from the entry's code, so that people can guess them from the
/// catalog: `ds_` and the code's digits.
fn table_prefix(code: &str) -> String {
    let digits: String = code
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("ds_{digits}")
}

pub(crate) fn manifest_of(r: &ResourceRow) -> Option<Manifest> {
    r.current_manifest
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
}

impl App {
    pub(crate) fn data(&self) -> &DataPlane {
        &self.data
    }

    /// The catalog's generation now: what the gate's kept reads are valid for.
    pub(crate) async fn catalog_generation(&self) -> Result<Generation> {
        self.catalog_cache.generation(self.store.as_ref()).await
    }

    pub(crate) async fn dataset_row(&self, id: i64) -> Result<DatasetRow> {
        self.store
            .get_dataset(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("信息资源", "Dataset"))
    }

    /// Adds rows delivered under a grant to its daily use (the row quota).
    pub async fn count_rows(&self, readable: &Readable, rows: u64) -> Result<()> {
        if let Some(id) = readable.grant {
            self.store
                .record_grant_use(
                    id,
                    china_date(self.now()),
                    0,
                    i64::try_from(rows).unwrap_or(i64::MAX),
                )
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    /// The gate for data: the decision on the entry, from its published copy where there
    /// is one (what the public was promised), else its working copy.
    async fn gate(
        &self,
        at: Generation,
        caller: Option<&Principal>,
        dataset: &DatasetRow,
        mode: AccessMode,
    ) -> Result<(View, Attribution, Option<i64>)> {
        let now = self.now();
        let mut held = match caller {
            Some(p) if mode != AccessMode::Metadata => self
                .store
                .grants_held(dataset.id, p.user_id, &departments(p), china_date(now))
                .await
                .map_err(store_error)?,
            _ => Vec::new(),
        };
        // A token scoped to one grant reads under that grant alone.
        if let Some(scope) = caller.and_then(|p| p.grant_scope) {
            held.retain(|h| h.grant.id == scope);
        }
        let grants: Vec<GrantFacts<'_>> = held.iter().map(grant_facts).collect();
        let published = self
            .catalog_cache
            .get_or_load(at, Key::Published(dataset.id), async {
                self.store
                    .get_published(dataset.id)
                    .await
                    .map_err(store_error)
            })
            .await?;
        let doc = published.as_ref().map_or(&dataset.doc, |p| &p.doc);
        let caps = self
            .catalog_cache
            .get_or_load(at, Key::GradeCaps, self.grade_caps())
            .await?;
        let facts = EntryFacts {
            scope: scope(dataset),
            published: published.is_some(),
            open_type: doc.open_type,
            share_type: doc.share_type,
            grade: doc.grade,
            deidentify: doc.deidentify,
        };
        let view = decide(
            caller,
            facts,
            mode,
            &caps,
            Held {
                grants: &grants,
                now,
            },
        );
        // The grant that let the caller in, if it took one: its use is counted.
        let allows = |v: View| !matches!(v, View::Denied(_));
        let used = (allows(view)
            && !allows(decide(caller, facts, mode, &caps, Held::nothing(now))))
        .then(|| {
            let wanted = mode.grant_mode()?;
            held.iter()
                .zip(&grants)
                .find(|(_, g)| g.state(now) == GrantState::Active && g.modes.contains(&wanted))
                .map(|(h, _)| h.grant.id)
        })
        .flatten();
        tracing::info!(
            target: "access",
            user = caller.map(|p| p.user_id),
            dataset = dataset.id,
            mode = ?mode,
            view = ?view,
            grant = used,
            "access decision"
        );
        // The published copy already carries its provider's name: one query fewer on
        // every public data request.
        let provider = match &published {
            Some(p) => p.provider_name.clone(),
            None => {
                self.catalog_cache
                    .get_or_load(at, Key::OrgName(dataset.provider_id), async {
                        Ok(self
                            .store
                            .get_org(dataset.provider_id)
                            .await
                            .map_err(store_error)?
                            .map(|o| o.name)
                            .unwrap_or_default())
                    })
                    .await?
            }
        };
        let attribution = Attribution {
            provider,
            dataset: doc.title.clone(),
            code: dataset.code.clone(),
            url: format!("{}/datasets/{}", self.settings.public_url, dataset.id),
            retrieved_at: now,
        };
        Ok((view, attribution, used))
    }

    /// The resource's current version, if the gate lets the caller have its data in the
    /// given way: the raw table for the provider and sharing departments, the open
    /// version (de-identified by the resource's rules) for everyone who reads it opened.
    pub async fn readable(
        &self,
        caller: Option<&Principal>,
        resource_id: &str,
        mode: AccessMode,
    ) -> Result<Readable> {
        let at = self.catalog_generation().await?;
        let resource = self
            .catalog_cache
            .get_or_load(at, Key::Resource(resource_id.to_owned()), async {
                self.store
                    .get_resource(resource_id)
                    .await
                    .map_err(store_error)
            })
            .await?
            .ok_or_else(not_found)?;
        let dataset = self
            .catalog_cache
            .get_or_load(at, Key::Dataset(resource.dataset_id), async {
                self.dataset_row(resource.dataset_id).await
            })
            .await?;
        let (view, attribution, grant) = self.gate(at, caller, &dataset, mode).await?;
        match view {
            View::Raw | View::Open | View::Deidentified => {}
            // Only the sandbox asks for this view, and it releases aggregates only; only
            // verification asks for the other, and it answers yes or no.
            View::AggregateOnly
                if matches!(mode, AccessMode::Sandbox | AccessMode::PublicModel) => {}
            View::VerifyOnly if mode == AccessMode::Verification => {}
            View::Denied(DenyReason::NotVisible) => return Err(not_found()),
            View::Denied(DenyReason::NeedsGrant) => {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    "该数据为有条件开放或有条件共享，须提交申请并获得授权后使用",
                    "This data is open or shared on conditions: apply, and use it once granted",
                ));
            }
            View::Denied(
                reason @ (DenyReason::GrantNotYetValid
                | DenyReason::GrantExpired
                | DenyReason::GrantTerminated
                | DenyReason::QuotaExhausted
                | DenyReason::ModeNotGranted),
            ) => {
                let (zh, en) = match reason {
                    DenyReason::GrantNotYetValid => {
                        ("您的授权尚未生效", "Your grant is not in force yet")
                    }
                    DenyReason::GrantExpired => ("您的授权已过期", "Your grant has expired"),
                    DenyReason::GrantTerminated => {
                        ("您的授权已被终止", "Your grant has been terminated")
                    }
                    DenyReason::QuotaExhausted => (
                        "您的授权今日额度已用完",
                        "Today's quota of your grant is used up",
                    ),
                    _ => (
                        "您的授权不包含此种使用方式",
                        "Your grant does not cover this way of access",
                    ),
                };
                // A grant holder reaching past the grant is what monitoring watches for
                // (access outside the grant's period, past its quota): the gate's reason
                // goes into the audit log beside the request's refusal.
                let action = match reason {
                    DenyReason::GrantNotYetValid => "data.denied.grant_not_yet_valid",
                    DenyReason::GrantExpired => "data.denied.grant_expired",
                    DenyReason::GrantTerminated => "data.denied.grant_terminated",
                    DenyReason::QuotaExhausted => "data.denied.quota",
                    _ => "data.denied.mode",
                };
                let event = crate::audit::AuditEvent {
                    action: action.to_owned(),
                    object: format!("resource:{}", resource.id),
                    dataset: Some(dataset.id),
                    grant,
                    outcome: "denied",
                    ..crate::audit::AuditEvent::default()
                };
                if let Err(e) = self.audit(caller, event).await {
                    tracing::error!(error = %e.message_en, "the gate's refusal was not audited");
                }
                return Err(Error::new(ErrorCode::Forbidden, zh, en));
            }
            View::Denied(DenyReason::Closed) | View::AggregateOnly | View::VerifyOnly => {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    "该数据不予开放",
                    "This data is not open",
                ));
            }
        }
        // An infringement report under review withholds the data from everyone but the
        // provider's own staff, who must be able to correct it (SD-BIGDATA §18).
        if self.entry_offline(at, dataset.id).await?
            && !caller.is_some_and(|p| authz::can_edit_entry(p, scope(&dataset)))
        {
            return Err(Error::new(
                ErrorCode::Forbidden,
                "该数据收到侵权举报，正在核查，暂停提供",
                "This data is withheld while a report that it infringes privacy or secrets is reviewed",
            ));
        }
        let raw = manifest_of(&resource).ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                "该资源尚无已发布的版本",
                "This resource has no published version yet",
            )
        })?;
        // The gate saw today's use before this call; taking the call is what holds the
        // quota when several requests arrive together.
        if let Some(id) = grant
            && !self
                .store
                .take_grant_call(id, china_date(self.now()))
                .await
                .map_err(store_error)?
        {
            return Err(Error::new(
                ErrorCode::Forbidden,
                "您的授权今日额度已用完",
                "Today's quota of your grant is used up",
            ));
        }
        // Whoever reads opened data reads the open version; the raw table and the
        // original file stay with the provider and sharing departments.
        let (manifest, path, original_allowed) = match view {
            View::Open | View::Deidentified if raw.parquet.is_some() => {
                let strict = view == View::Deidentified;
                let key = Key::Open(resource.id.clone(), raw.version as i64, strict);
                let open = self
                    .catalog_cache
                    .get_or_load(at, key, async {
                        self.open_table(&resource, &dataset, &raw, strict).await
                    })
                    .await?;
                match open {
                    Some((open, hash)) => {
                        let path = Versions::open_path(&resource.id, raw.version, &hash);
                        let manifest = Manifest {
                            rows: open.rows,
                            columns: open.columns,
                            parquet: Some(open.file),
                            ..raw
                        };
                        (manifest, path, false)
                    }
                    // No column holds personal information: the table is its own open
                    // version, and the original file holds nothing more.
                    None => {
                        let path = Versions::parquet_path(&resource.id, raw.version);
                        (raw, path, true)
                    }
                }
            }
            // A file that is not a table has no columns to de-identify: opened, it is
            // served as uploaded, and where de-identification is required, not at all.
            View::Deidentified => {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    "该文件须脱敏后提供，无法开放原始文件",
                    "This file may be provided de-identified only, so it is not opened as it is",
                ));
            }
            _ => {
                let path = Versions::parquet_path(&resource.id, raw.version);
                let as_held = !matches!(view, View::AggregateOnly | View::VerifyOnly);
                (raw, path, as_held)
            }
        };
        Ok(Readable {
            resource,
            manifest,
            path,
            original_allowed,
            attribution,
            grant,
        })
    }

    /// The resources of an entry whose metadata the caller may see, each saying whether
    /// the caller may have its data.
    pub async fn list_resources(
        &self,
        caller: Option<&Principal>,
        dataset_id: i64,
    ) -> Result<Vec<ResourceView>> {
        let dataset = self.dataset_row(dataset_id).await?;
        let at = self.catalog_generation().await?;
        let (meta, _, _) = self
            .gate(at, caller, &dataset, AccessMode::Metadata)
            .await?;
        if matches!(meta, View::Denied(_)) {
            return Err(Error::not_found("信息资源", "Dataset"));
        }
        let (access, _, _) = self
            .gate(at, caller, &dataset, AccessMode::Download)
            .await?;
        let rows = self
            .store
            .list_resources(dataset_id)
            .await
            .map_err(store_error)?;
        let manages = caller.is_some_and(|p| authz::can_edit_entry(p, scope(&dataset)));
        let cycle = dataset.doc.update_cycle;
        let now = self.now();
        Ok(rows
            .iter()
            // The public sees only resources that have a published version.
            .filter(|r| manages || r.current_version.is_some())
            .map(|r| {
                let mut v = resource_view(r, access);
                v.update_due = cycle
                    .max_age_days()
                    .zip(r.updated_at)
                    .map(|(days, at)| at + chrono::Duration::days(i64::from(days)));
                v.overdue = v.update_due.is_some_and(|due| due < now);
                v
            })
            .collect())
    }

    /// A resource and the catalog entry it belongs to; "not found" for either.
    pub(crate) async fn resource_and_entry(&self, id: &str) -> Result<(ResourceRow, DatasetRow)> {
        let resource = self
            .store
            .get_resource(id)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        let dataset = self.dataset_row(resource.dataset_id).await?;
        Ok((resource, dataset))
    }

    pub async fn resource(&self, caller: Option<&Principal>, id: &str) -> Result<ResourceView> {
        let resource = self
            .store
            .get_resource(id)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        self.list_resources(caller, resource.dataset_id)
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(not_found)
    }

    /// Registers an upload as a job; `run_upload` does the work.
    pub async fn start_upload(
        &self,
        uploader: Uploader<'_>,
        dataset_id: i64,
        upload: &Upload,
    ) -> Result<JobRow> {
        let dataset = self.dataset_row(dataset_id).await?;
        if let Uploader::User(p) = uploader
            && !authz::can_edit_entry(p, scope(&dataset))
        {
            let at = self.catalog_generation().await?;
            let (meta, _, _) = self
                .gate(at, Some(p), &dataset, AccessMode::Metadata)
                .await?;
            return Err(if matches!(meta, View::Denied(_)) {
                Error::not_found("信息资源", "Dataset")
            } else {
                Error::forbidden()
            });
        }
        let now = self.now();
        let resource = match &upload.resource_id {
            Some(id) => self
                .store
                .get_resource(id)
                .await
                .map_err(store_error)?
                .filter(|r| r.dataset_id == dataset_id)
                .ok_or_else(not_found)?,
            None => {
                let name = upload
                    .name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(&upload.file_name);
                let name: String = name.chars().take(200).collect();
                self.store
                    .create_resource(&NewResource {
                        id: &new_id(),
                        dataset_id,
                        name: &name,
                        table_prefix: &table_prefix(&dataset.code),
                        created_by: uploader.user_id(),
                        at: now,
                    })
                    .await
                    .map_err(store_error)?
            }
        };
        let detail = JobDetail {
            file_name: gongshu_data::versions::file_name(&upload.file_name),
            on_reject: upload.on_reject,
            ..JobDetail::default()
        };
        let job = JobRow {
            id: uuid::Uuid::new_v4().simple().to_string(),
            kind: "ingest".into(),
            dataset_id,
            resource_id: resource.id,
            state: "queued".into(),
            rows_read: 0,
            rows_rejected: 0,
            detail: serde_json::to_string(&detail).unwrap_or_default(),
            error: None,
            version: None,
            created_by: uploader.user_id(),
            created_at: now,
            updated_at: now,
        };
        self.store.insert_job(&job).await.map_err(store_error)?;
        Ok(job)
    }

    async fn save_job(&self, job: &mut JobRow) {
        job.updated_at = self.now();
        if let Err(e) = self.store.update_job(job).await {
            tracing::error!(error = %e, job = %job.id, "could not record the job's progress");
        }
        if job.state != "running" {
            metrics::counter!(
                "gongshu_jobs_total",
                "kind" => job.kind.clone(),
                "state" => job.state.clone(),
            )
            .increment(1);
        }
        if job.state == "succeeded" {
            metrics::counter!("gongshu_ingest_rows_total")
                .increment(u64::try_from(job.rows_read).unwrap_or(0));
        }
    }

    /// Reads the upload, stores it as a new version and publishes it unless rows were
    /// rejected and the uploader asked to decide. Progress is recorded on the job as it
    /// goes and handed to `progress` (the CLI's bar). Never fails: the job says how it
    /// ended.
    pub async fn run_upload(
        &self,
        mut job: JobRow,
        upload: Upload,
        uploader_label: String,
        progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
    ) -> JobRow {
        let _permit = self.data().ingests.acquire().await;
        if let Ok(m) = std::fs::metadata(&upload.file) {
            metrics::counter!("gongshu_ingest_bytes_total").increment(m.len());
        }
        job.state = "running".into();
        self.save_job(&mut job).await;
        let mut detail: JobDetail = serde_json::from_str(&job.detail).unwrap_or_default();
        match self
            .ingest(&mut job, &mut detail, &upload, &uploader_label, progress)
            .await
        {
            Ok(()) => {}
            Err(message) => {
                job.state = "failed".into();
                job.error = Some(message);
            }
        }
        job.detail = serde_json::to_string(&detail).unwrap_or_default();
        self.save_job(&mut job).await;
        job
    }

    async fn ingest(
        &self,
        job: &mut JobRow,
        detail: &mut JobDetail,
        upload: &Upload,
        uploader: &str,
        progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
    ) -> std::result::Result<(), String> {
        let job_id = job.id.clone();
        let internal = |what: &str, e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, job = %job_id, "{what}");
            "内部错误，已记录 (internal error, logged)".to_owned()
        };
        let dataset = self
            .dataset_row(job.dataset_id)
            .await
            .map_err(|e| e.message_en)?;
        // Decided before reading, so important data without a key is refused at once.
        let seal = self
            .seal_for(&dataset)
            .await
            .map_err(|e| format!("{} ({})", e.message_zh, e.message_en))?;
        let mut options = IngestOptions {
            sheet: upload.sheet.clone(),
            ..IngestOptions::default()
        };
        options.csv.declared = declared(&dataset.doc);
        let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let started = std::time::Instant::now();
        let reading = {
            let counts = counts.clone();
            let path = upload.file.to_path_buf();
            let name = upload.file_name.clone();
            let tmp = self.data().tmp_dir.clone();
            tokio::task::spawn_blocking(move || {
                gongshu_data::prepare(&path, &name, &options, &tmp, &mut |rows, rejected| {
                    counts.0.store(rows, Ordering::Relaxed);
                    counts.1.store(rejected, Ordering::Relaxed);
                    if let Some(p) = &progress {
                        p(rows, rejected);
                    }
                })
            })
        };
        tokio::pin!(reading);
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        let prepared = loop {
            tokio::select! {
                done = &mut reading => break done,
                _ = tick.tick() => {
                    job.rows_read = counts.0.load(Ordering::Relaxed) as i64;
                    job.rows_rejected = counts.1.load(Ordering::Relaxed) as i64;
                    self.save_job(job).await;
                }
            }
        };
        let prepared = match prepared {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(data_error_message(&e)),
            Err(e) => return Err(internal("the reader panicked", &e)),
        };
        if let Prepared::Table(t) = &prepared {
            job.rows_read = t.summary.rows as i64;
            job.rows_rejected = t.summary.rejected_rows as i64;
            detail.source = Some(t.summary.source.describe());
            detail.rejected = t
                .summary
                .rejected
                .iter()
                .map(|r| RejectedRow {
                    line: r.line,
                    reason: r.reason.clone(),
                })
                .collect();
            detail.missing_declared = t.summary.missing_declared.clone();
        } else {
            detail.source = Some("file".into());
        }
        let latest = self
            .store
            .list_resource_versions(&job.resource_id)
            .await
            .map_err(|e| internal("listing versions", &e))?
            .first()
            .map_or(0, |v| v.version as u64);
        let manifest = self
            .data()
            .versions
            .stage(
                &job.resource_id,
                &upload.file,
                &upload.file_name,
                &prepared,
                uploader,
                latest,
                seal,
            )
            .await
            .map_err(|e| internal("staging a version", &e))?;
        drop(prepared);
        let version = manifest.version as i64;
        let manifest_json =
            serde_json::to_string(&manifest).map_err(|e| internal("manifest", &e))?;
        self.store
            .add_resource_version(
                &job.resource_id,
                version,
                &manifest_json,
                job.created_by,
                self.now(),
            )
            .await
            .map_err(|e| internal("recording a version", &e))?;
        job.version = Some(version);
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut timings = IngestTimings {
            read_ms: ms(started.elapsed()),
            ..IngestTimings::default()
        };
        let detecting = std::time::Instant::now();
        if manifest.parquet.is_some() {
            detail.personal_columns = self
                .detect_columns(&job.resource_id, &manifest)
                .await?
                .into_iter()
                .filter_map(|f| {
                    f.proposal.map(|p| DetectedColumn {
                        column: f.column,
                        kind: p.kind.as_str().to_owned(),
                        sensitive: p.kind.is_sensitive(),
                    })
                })
                .collect();
        }
        timings.detect_ms = ms(detecting.elapsed());
        detail.timings = Some(timings);
        if manifest.rejected_rows > 0 && detail.on_reject == OnReject::Hold {
            job.state = "needs_decision".into();
            return Ok(());
        }
        let publishing = std::time::Instant::now();
        let published = self.publish_version(job).await;
        timings.publish_ms = ms(publishing.elapsed());
        detail.timings = Some(timings);
        published
    }

    async fn publish_version(&self, job: &mut JobRow) -> std::result::Result<(), String> {
        let version = job.version.unwrap_or_default();
        match self
            .store
            .publish_resource_version(&job.resource_id, version, self.now())
            .await
        {
            Ok(resource) => {
                job.state = "succeeded".into();
                // The open version is computed now, so the first reader does not wait;
                // should this fail, the first reader computes it (or is refused).
                if let Ok(dataset) = self.dataset_row(resource.dataset_id).await
                    && let Err(e) = self.refresh_open_version(&resource, &dataset).await
                {
                    tracing::warn!(resource = %resource.id, error = %e.message_en, "open version not computed");
                }
                if let Err(e) = self.keep_published_quality(&resource.id).await {
                    tracing::warn!(resource = %resource.id, error = %e.message_en, "quality not counted");
                }
                Ok(())
            }
            Err(StoreError::VersionConflict) => Err(
                "已有更新的版本发布，本版本未发布 (a newer version was published first; this one was not)"
                    .into(),
            ),
            Err(e) => {
                tracing::error!(error = %e, job = %job.id, "publishing a version");
                Err("内部错误，已记录 (internal error, logged)".into())
            }
        }
    }

    /// A job the caller may see: its creator's, or one of an entry the caller edits.
    async fn visible_job(&self, caller: &Principal, id: &str) -> Result<JobRow> {
        let job = self
            .store
            .get_job(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("任务", "Job"))?;
        let dataset = self.dataset_row(job.dataset_id).await?;
        if job.created_by == Some(caller.user_id) || authz::can_edit_entry(caller, scope(&dataset))
        {
            Ok(job)
        } else {
            Err(Error::not_found("任务", "Job"))
        }
    }

    pub async fn job(&self, caller: &Principal, id: &str) -> Result<JobView> {
        Ok(JobView::of(&self.visible_job(caller, id).await?))
    }

    /// The provider's choice on a version that had rejected rows: publish it without
    /// them, or discard it and fix the file.
    pub async fn decide_job(&self, caller: &Principal, id: &str, publish: bool) -> Result<JobView> {
        let mut job = self.visible_job(caller, id).await?;
        let dataset = self.dataset_row(job.dataset_id).await?;
        if !authz::can_edit_entry(caller, scope(&dataset)) {
            return Err(Error::forbidden());
        }
        if job.state != "needs_decision" {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "该任务无需确认",
                "This job is not waiting for a decision",
            ));
        }
        if publish {
            if let Err(m) = self.publish_version(&mut job).await {
                job.state = "failed".into();
                job.error = Some(m);
            }
        } else {
            let version = job.version.unwrap_or_default();
            self.store
                .discard_resource_version(&job.resource_id, version)
                .await
                .map_err(store_error)?;
            job.state = "discarded".into();
        }
        self.save_job(&mut job).await;
        Ok(JobView::of(&job))
    }

    pub fn job_view(job: &JobRow) -> JobView {
        JobView::of(job)
    }

    pub async fn rows(
        &self,
        caller: Option<&Principal>,
        resource_id: &str,
        pairs: &[(String, String)],
    ) -> Result<(Readable, RowPage)> {
        self.rows_as(caller, resource_id, pairs, AccessMode::Api)
            .await
    }

    /// The first rows of a table for the dataset page.
    pub async fn preview(
        &self,
        caller: Option<&Principal>,
        resource_id: &str,
        rows: usize,
    ) -> Result<(Readable, RowPage)> {
        let pairs = [("_size".to_owned(), rows.to_string())];
        self.rows_as(caller, resource_id, &pairs, AccessMode::Preview)
            .await
    }

    async fn rows_as(
        &self,
        caller: Option<&Principal>,
        resource_id: &str,
        pairs: &[(String, String)],
        mode: AccessMode,
    ) -> Result<(Readable, RowPage)> {
        let query = RowQuery::from_pairs(pairs).map_err(query_error)?;
        let readable = self.readable(caller, resource_id, mode).await?;
        if !readable.is_table() {
            return Err(not_a_table());
        }
        let page = self
            .data()
            .engine
            .rows(&readable.table(), &query)
            .await
            .map_err(query_error)?;
        let delivered: usize = page.batches.iter().map(|b| b.num_rows()).sum();
        self.count_rows(&readable, delivered as u64).await?;
        Ok((readable, page))
    }

    /// Read-only SQL over the tables it names that the caller may read. A table the
    /// caller may not read is simply absent, as if it did not exist.
    pub async fn sql(
        &self,
        caller: Option<&Principal>,
        sql: &str,
    ) -> Result<(Vec<Readable>, SqlResult)> {
        if sql.len() > 64 * 1024 {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                "SQL 语句过长",
                "The SQL text is too long",
            ));
        }
        let mut readable = Vec::new();
        for name in crate::sandbox::named_tables(sql) {
            let Some(r) = self
                .store
                .get_resource_by_table(&name)
                .await
                .map_err(store_error)?
            else {
                continue;
            };
            if let Ok(ok) = self.readable(caller, &r.id, AccessMode::Sql).await
                && ok.is_table()
            {
                readable.push(ok);
            }
        }
        let tables: Vec<TableRef> = readable.iter().map(Readable::table).collect();
        let result = self
            .data()
            .engine
            .sql(&tables, sql)
            .await
            .map_err(query_error)?;
        Ok((readable, result))
    }
}

fn not_a_table() -> Error {
    Error::new(
        ErrorCode::BadRequest,
        "该资源是文件而非表格，只能原样下载",
        "This resource is a file, not a table: it can only be downloaded as it is",
    )
}

fn resource_view(r: &ResourceRow, access: View) -> ResourceView {
    let manifest = manifest_of(r);
    ResourceView {
        id: r.id.clone(),
        dataset_id: r.dataset_id,
        name: r.name.clone(),
        table_name: r.table_name.clone(),
        kind: manifest.as_ref().map(|m| m.kind.clone()),
        current_version: r.current_version,
        rows: manifest.as_ref().map(|m| m.rows),
        columns: manifest
            .as_ref()
            .map(|m| {
                m.columns
                    .iter()
                    .map(|c| ColumnView {
                        name: c.name.clone(),
                        column_type: c.data_type.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        original_name: manifest.as_ref().map(|m| m.original.name.clone()),
        original_bytes: manifest.as_ref().map(|m| m.original.bytes),
        sha256: manifest.as_ref().map(|m| m.original.sha256.clone()),
        updated_at: r.updated_at,
        update_due: None,
        overdue: false,
        created_at: r.created_at,
        access,
    }
}

/// The gate's view of a stored grant and today's use of it.
pub(crate) fn grant_facts(h: &gongshu_store::HeldGrant) -> GrantFacts<'_> {
    let quota = |allowed: Option<i64>, used: i64| {
        allowed.map(|a| {
            (
                u64::try_from(a).unwrap_or(0),
                u64::try_from(used).unwrap_or(0),
            )
        })
    };
    GrantFacts {
        kind: h.grant.kind,
        modes: &h.grant.modes,
        valid_from: h.grant.valid_from,
        valid_until: h.grant.valid_until,
        terminated: h.grant.terminated_at.is_some(),
        calls: quota(h.grant.quota_calls_per_day, h.calls_today),
        rows: quota(h.grant.quota_rows_per_day, h.rows_today),
    }
}
