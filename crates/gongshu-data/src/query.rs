//! Querying stored versions with DataFusion: the row API (filters, one sort column,
//! keyset paging) and read-only SQL over the tables a caller may read.
//!
//! Every stored table starts with `_row`, the row's position in the upload, strictly
//! increasing through the Parquet file. Paging is keyset paging on `(sort column, _row)`,
//! so a deep page costs what the first one does: `_row > r` prunes row groups and pages
//! through the Parquet statistics instead of skipping rows one by one.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, SortOptions};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use datafusion::catalog::Session;
use datafusion::catalog::TableProvider;
use datafusion::common::Statistics;
use datafusion::common::config::TableParquetOptions;
use datafusion::common::{DataFusionError, ScalarValue, TableReference};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::FileScanConfigBuilder;
use datafusion::execution::SessionState;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::object_store::{
    DefaultObjectStoreRegistry, ObjectStoreRegistry, ObjectStoreUrl,
};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::TableProviderFilterPushDown;
use datafusion::logical_expr::expr::Like;
use datafusion::logical_expr::{Expr, SortExpr, cast, ident, lit};
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::infer::{parse_bool, parse_date, parse_decimal, parse_integer};

/// The column every stored table starts with: the row's position in the upload.
pub const ROW: &str = "_row";

/// Where the engine finds stored files. Any store works: the scheme is ours, not a
/// real one, so no URL a user writes can reach another store through it.
const STORE_URL: &str = "gongshu://data/";

#[derive(Debug, Clone)]
pub struct QueryLimits {
    pub sql_timeout: Duration,
    pub sql_memory_bytes: usize,
    pub sql_max_rows: usize,
    pub max_page: usize,
    pub default_page: usize,
    /// Filtered counts look at this many rows at most; beyond, the total is estimated.
    pub exact_count_rows: u64,
    /// Threads that run caller SQL, apart from the threads serving requests.
    pub sql_threads: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            sql_timeout: Duration::from_secs(10),
            sql_memory_bytes: 256 * 1024 * 1024,
            sql_max_rows: 10_000,
            max_page: 10_000,
            default_page: 100,
            exact_count_rows: 1_000_000,
            sql_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// One stored version as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// The name SQL knows the table by, e.g. `t_3701_000123_1`.
    pub name: String,
    pub path: Path,
    /// Rows in the version, from its manifest.
    pub rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The caller's fault; the message is bilingual, "中文 (English)".
    #[error("{0}")]
    BadRequest(String),
    #[error("查询超时 (the query took too long)")]
    Timeout,
    #[error("查询所需内存超出限制 (the query needs more memory than allowed)")]
    TooLarge,
    #[error("查询引擎错误 (query engine error): {0}")]
    Engine(String),
}

fn bad(msg: impl Into<String>) -> QueryError {
    QueryError::BadRequest(msg.into())
}

/// Errors of the row API: its expressions are built here, so whatever DataFusion
/// refuses is ours, except for memory.
fn engine_error(e: DataFusionError) -> QueryError {
    match e.find_root() {
        DataFusionError::ResourcesExhausted(_) => QueryError::TooLarge,
        _ => QueryError::Engine(e.to_string()),
    }
}

/// Errors of caller-written SQL: planning and evaluation errors are the caller's to fix;
/// storage and internal errors are not.
fn sql_error(e: DataFusionError) -> QueryError {
    let root = e.find_root();
    match root {
        DataFusionError::ResourcesExhausted(_) => QueryError::TooLarge,
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Execution(_)
        | DataFusionError::ArrowError(..) => bad(format!(
            "SQL 有误 (invalid SQL): {}",
            root.strip_backtrace()
        )),
        _ => QueryError::Engine(e.to_string()),
    }
}

/// A page of rows: `_row` first, then the requested columns.
#[derive(Debug, Clone)]
pub struct RowPage {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// The `_next` token for the following page; `None` on the last page.
    pub next: Option<String>,
    /// Rows matching the filters (all pages, not this one).
    pub total: u64,
    /// `total` was extrapolated from the first `exact_count_rows` rows.
    pub total_estimated: bool,
}

#[derive(Debug, Clone)]
pub struct SqlResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// The query had more than `sql_max_rows` rows; only those were kept.
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Contains,
    StartsWith,
    IsNull,
}

impl Op {
    fn from_suffix(s: &str) -> Option<Self> {
        Some(match s {
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "in" => Op::In,
            "contains" => Op::Contains,
            "startswith" => Op::StartsWith,
            "isnull" => Op::IsNull,
            _ => return None,
        })
    }
}

/// What a page continues from: the last row's sort key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Token {
    /// Sort column; absent for the default `_row` order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    d: bool,
    /// The sort column's value, in `encode_key`'s form; absent when null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<serde_json::Value>,
    r: i64,
}

impl Token {
    fn encode(&self) -> String {
        // Serialising a struct of strings and numbers cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(s: &str) -> Result<Self, QueryError> {
        let invalid = || bad("翻页标记无效 (invalid _next token)");
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }
}

/// A row request, parsed from the URL's query pairs. Filters are checked against the
/// table's columns only when it is run, since only then are the columns known.
#[derive(Debug, Clone, Default)]
pub struct RowQuery {
    cols: Option<Vec<String>>,
    /// Sort column and whether descending; `None` is `_row` ascending.
    sort: Option<(String, bool)>,
    size: Option<usize>,
    next: Option<Token>,
    filters: Vec<(String, String)>,
}

impl RowQuery {
    /// From the URL query pairs, e.g. `[("企业名称__contains","科技"),("_size","50")]`.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        let mut q = RowQuery::default();
        for (key, value) in pairs {
            match key.as_str() {
                "_cols" => {
                    let cols = value
                        .split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned);
                    q.cols.get_or_insert_with(Vec::new).extend(cols);
                }
                "_sort" | "_sort_desc" => {
                    if q.sort.is_some() {
                        return Err(bad(
                            "只能按一列排序 (only one _sort or _sort_desc is allowed)",
                        ));
                    }
                    if value.is_empty() {
                        return Err(bad("排序列为空 (_sort needs a column name)"));
                    }
                    q.sort = Some((value.clone(), key == "_sort_desc"));
                }
                "_size" => {
                    let size = value.trim().parse::<usize>().ok().filter(|n| *n > 0);
                    q.size = Some(size.ok_or_else(|| {
                        bad(format!(
                            "_size 须为正整数 (_size must be a positive integer, got {value:?})"
                        ))
                    })?);
                }
                "_next" => {
                    if !value.is_empty() {
                        q.next = Some(Token::decode(value)?);
                    }
                }
                // Output formats are the HTTP layer's business.
                "_format" | "_shape" => {}
                _ => q.filters.push((key.clone(), value.clone())),
            }
        }
        Ok(q)
    }
}

/// A small map that forgets its least recently used entry when full.
#[derive(Debug)]
struct Lru<K, V> {
    map: HashMap<K, (V, u64)>,
    tick: u64,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            tick: 0,
            capacity,
        }
    }

    fn get(&mut self, key: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(key).map(|(v, used)| {
            *used = tick;
            v.clone()
        })
    }

    fn insert(&mut self, key: K, value: V) {
        self.tick += 1;
        if self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            // A linear scan is fine at these sizes and only happens when full.
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.map.remove(&oldest);
            }
        }
        self.map.insert(key, (value, self.tick));
    }
}

const TABLE_CACHE: usize = 512;
const COUNT_CACHE: usize = 4096;

/// Shared by all requests; cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    /// The row API's context: the plans it runs are built here, never from caller SQL.
    ctx: SessionContext,
    runtime: Arc<RuntimeEnv>,
    limits: QueryLimits,
    /// Providers keep the file's schema, statistics and footer, read once per version.
    tables: Mutex<Lru<Path, Arc<dyn TableProvider>>>,
    /// Filtered counts by (file, normalised filters); versions never change, so entries
    /// never go stale.
    counts: Mutex<Lru<(Path, String), (u64, bool)>>,
    sql_runtime: SqlRuntime,
}

/// A Tokio runtime of its own for caller SQL. Some operators (a nested loop join over
/// two large tables) compute for seconds without yielding; on the request threads that
/// would stall every request and the timeout's own timer. Here it stalls only other SQL,
/// and the caller's timeout still fires on time.
#[derive(Debug)]
struct SqlRuntime {
    handle: tokio::runtime::Handle,
    /// Dropped with the engine, which ends the runtime's thread.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl SqlRuntime {
    fn start(threads: usize) -> Self {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // The runtime lives on a plain thread because a runtime may not be dropped from
        // async code, and engines are dropped there.
        std::thread::Builder::new()
            .name("gongshu-sql".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads.max(1))
                    .thread_name("gongshu-sql")
                    .enable_all()
                    .build()
                    .expect("SQL runtime starts");
                let _ = handle_tx.send(runtime.handle().clone());
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // A query still computing must not hold up the engine's drop.
                runtime.shutdown_background();
            })
            .expect("SQL thread starts");
        let handle = handle_rx.recv().expect("SQL runtime handle");
        Self {
            handle,
            _stop: stop,
        }
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// One stored version's Parquet file as a table. Versions never change, so what a
/// listing table would look up on every scan (the object's size and date, the footer,
/// the statistics) is looked up once, when the version is first read.
#[derive(Debug)]
struct VersionTable {
    schema: SchemaRef,
    file: PartitionedFile,
    statistics: Statistics,
    format: Arc<ParquetFormat>,
    /// Rows are stored in `_row` order, so reading in that order needs no sort.
    ordering: LexOrdering,
}

impl VersionTable {
    async fn open(
        state: &SessionState,
        runtime: &RuntimeEnv,
        path: &Path,
    ) -> Result<Self, DataFusionError> {
        let store = runtime.object_store(store_url())?;
        let meta = store.head(path).await?;
        // The session's Parquet options (filter pushdown, page index) reach a scan only
        // through its format, not through the session.
        let format = Arc::new(ParquetFormat::default().with_options(TableParquetOptions {
            global: state.config_options().execution.parquet.clone(),
            ..TableParquetOptions::default()
        }));
        let schema = format
            .infer_schema(state, &store, std::slice::from_ref(&meta))
            .await?;
        let statistics = format
            .infer_stats(state, &store, Arc::clone(&schema), &meta)
            .await?;
        let row = schema.index_of(ROW)?;
        let ordering = LexOrdering::new(vec![PhysicalSortExpr::new(
            Arc::new(PhysicalColumn::new(ROW, row)),
            SortOptions {
                descending: false,
                nulls_first: false,
            },
        )])
        .ok_or_else(|| DataFusionError::Internal("empty ordering".into()))?;
        let file = PartitionedFile::from(meta)
            .with_statistics(Arc::new(statistics.clone()))
            .with_ordering(Some(ordering.clone()));
        Ok(Self {
            schema,
            file,
            statistics,
            format,
            ordering,
        })
    }
}

type PlanFuture<'a> = std::pin::Pin<
    Box<dyn Future<Output = Result<Arc<dyn ExecutionPlan>, DataFusionError>> + Send + 'a>,
>;

// `scan` is written out as the boxed future `async_trait` would generate, since this
// crate does not depend on `async_trait`.
impl TableProvider for VersionTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn statistics(&self) -> Option<Statistics> {
        Some(self.statistics.clone())
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>, DataFusionError> {
        // Inexact: the filter stays in the plan, and the physical optimiser moves it
        // into the Parquet scan, where it prunes row groups and pages and filters rows.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    fn scan<'a, 'b, 'c, 'd, 'f>(
        &'a self,
        state: &'b dyn Session,
        projection: Option<&'c Vec<usize>>,
        _filters: &'d [Expr],
        limit: Option<usize>,
    ) -> PlanFuture<'f>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        'd: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let source = self.format.file_source(Arc::clone(&self.schema).into());
            let config = FileScanConfigBuilder::new(store_url(), source)
                .with_file(self.file.clone())
                .with_statistics(self.statistics.clone())
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .with_output_ordering(vec![self.ordering.clone()])
                .build();
            self.format.create_physical_plan(state, config).await
        })
    }
}

fn store_url() -> ObjectStoreUrl {
    // A constant that parses; checked by the tests.
    ObjectStoreUrl::parse(STORE_URL).expect("valid store URL")
}

fn base_config() -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_information_schema(false)
        .with_create_default_catalog_and_schema(true);
    let opts = config.options_mut();
    // Late materialisation: filters are evaluated while decoding, so other columns are
    // decoded only for matching rows, and page-index pruning narrows what is read.
    opts.execution.parquet.pushdown_filters = true;
    opts.execution.parquet.reorder_filters = true;
    config
}

impl Engine {
    pub fn new(store: Arc<dyn ObjectStore>, limits: QueryLimits) -> Self {
        let registry = DefaultObjectStoreRegistry::new();
        // Only the platform's store is reachable; without this the local file system
        // would be registered under file://.
        let _ = registry.deregister_store(ObjectStoreUrl::local_filesystem().as_ref());
        registry.register_store(store_url().as_ref(), store);
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(registry))
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .expect("runtime without disk manager builds");
        // One partition: a page needs a few thousand rows read in order, and on a small
        // machine parallelism belongs to concurrent requests, not to one request.
        // Batches of one Parquet page (ingest writes 1024-row pages): a page of 100 rows
        // then decodes one small page per column, not 8192 rows of each (measured: the
        // default made snappy and UTF-8 checks of unused rows half of a request's time).
        let config = base_config()
            .with_target_partitions(1)
            .with_batch_size(1024);
        let ctx = SessionContext::new_with_config_rt(config, Arc::clone(&runtime));
        Self {
            inner: Arc::new(Inner {
                ctx,
                runtime,
                tables: Mutex::new(Lru::new(TABLE_CACHE)),
                counts: Mutex::new(Lru::new(COUNT_CACHE)),
                sql_runtime: SqlRuntime::start(limits.sql_threads),
                limits,
            }),
        }
    }

    pub fn limits(&self) -> &QueryLimits {
        &self.inner.limits
    }

    async fn provider(&self, path: &Path) -> Result<Arc<dyn TableProvider>, QueryError> {
        if let Some(p) = lock(&self.inner.tables).get(path) {
            return Ok(p);
        }
        let state = self.inner.ctx.state();
        let table: Arc<dyn TableProvider> = Arc::new(
            VersionTable::open(&state, &self.inner.runtime, path)
                .await
                .map_err(engine_error)?,
        );
        if table.schema().field_with_name(ROW).is_err() {
            return Err(QueryError::Engine(format!("{path} has no {ROW} column")));
        }
        lock(&self.inner.tables).insert(path.clone(), Arc::clone(&table));
        Ok(table)
    }

    /// The row API.
    pub async fn rows(&self, table: &TableRef, query: &RowQuery) -> Result<RowPage, QueryError> {
        let limits = &self.inner.limits;
        let size = query.size.unwrap_or(limits.default_page);
        if size > limits.max_page {
            return Err(bad(format!(
                "_size 不能超过 {max} (_size must be at most {max})",
                max = limits.max_page
            )));
        }
        let provider = self.provider(&table.path).await?;
        let schema = provider.schema();

        let mut filters = Vec::with_capacity(query.filters.len());
        for (key, value) in &query.filters {
            filters.push(filter_expr(&schema, key, value)?);
        }

        let sort = match &query.sort {
            Some((c, desc)) if c == ROW => (*desc).then(|| (ROW.to_owned(), true)),
            Some((c, desc)) => {
                let field = schema.field_with_name(c).map_err(|_| unknown_column(c))?;
                if !sortable(field.data_type()) {
                    return Err(bad(format!(
                        "不能按列 {c} 排序 (cannot sort by column {c:?} of type {})",
                        field.data_type()
                    )));
                }
                Some((c.clone(), *desc))
            }
            None => None,
        };

        let mut predicate = filters.clone();
        if let Some(token) = &query.next {
            let sort_name = sort.as_ref().map(|(c, _)| c.as_str());
            let desc = sort.as_ref().is_some_and(|(_, d)| *d);
            if token.s.as_deref() != sort_name || token.d != desc {
                return Err(bad(
                    "翻页标记与当前排序不符 (the _next token belongs to a different sort order)",
                ));
            }
            predicate.push(continuation(&schema, sort.as_ref(), token)?);
        }

        let mut order: Vec<SortExpr> = Vec::with_capacity(2);
        match &sort {
            Some((c, desc)) if c == ROW => order.push(ident(ROW).sort(!desc, false)),
            Some((c, desc)) => {
                order.push(ident(c).sort(!desc, false));
                order.push(ident(ROW).sort(true, false));
            }
            None => order.push(ident(ROW).sort(true, false)),
        }

        let mut out: Vec<String> = vec![ROW.to_owned()];
        match &query.cols {
            Some(cols) => {
                for c in cols {
                    schema.field_with_name(c).map_err(|_| unknown_column(c))?;
                    if !out.contains(c) {
                        out.push(c.clone());
                    }
                }
            }
            None => out.extend(
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .filter(|n| n != ROW),
            ),
        }
        let shown = out.len();
        // The sort key goes into the token even when the caller did not ask for it.
        let key_at = match &sort {
            Some((c, _)) => match out.iter().position(|o| o == c) {
                Some(i) => Some(i),
                None => {
                    out.push(c.clone());
                    Some(out.len() - 1)
                }
            },
            None => None,
        };

        // Counted alongside the page, unless the page turns out to hold every match.
        let total = self.start_count(table, &provider, &filters);
        let mut df = self.inner.ctx.read_table(provider).map_err(engine_error)?;
        if let Some(p) = and_all(predicate) {
            df = df.filter(p).map_err(engine_error)?;
        }
        let df = df
            .sort(order)
            .and_then(|df| df.limit(0, Some(size + 1)))
            .and_then(|df| df.select(out.iter().map(ident)))
            .map_err(engine_error)?;
        let plan = df.create_physical_plan().await.map_err(engine_error)?;
        tracing::debug!(
            plan = %datafusion::physical_plan::displayable(plan.as_ref()).indent(true),
            "row API plan"
        );
        let batches = datafusion::physical_plan::collect(plan, self.inner.ctx.task_ctx())
            .await
            .map_err(engine_error)?;

        let fetched: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let (batches, last) = take_rows(batches, size);
        let next = match last {
            Some(last) if fetched > size => Some(next_token(&last, key_at, sort.as_ref())?),
            _ => None,
        };

        let (total, total_estimated) = if query.next.is_none() && fetched <= size {
            total.abort();
            let exact = fetched as u64;
            if !filters.is_empty() {
                lock(&self.inner.counts).insert(count_key(table, &filters), (exact, false));
            }
            (exact, false)
        } else {
            let (n, estimated) = total.get().await?;
            // An estimate must not claim fewer rows than the first page showed.
            let seen = if query.next.is_none() {
                fetched as u64
            } else {
                0
            };
            (n.max(seen), estimated)
        };

        let out_schema = Arc::new(project_schema(&batches, &schema, &out[..shown]));
        let batches = batches
            .iter()
            .map(|b| plain_batch(&out_schema, &b.columns()[..shown]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RowPage {
            schema: out_schema,
            batches,
            next,
            total,
            total_estimated,
        })
    }

    /// The number of rows matching `filters`: free without filters, cached, or counted
    /// in a task of its own while the page is fetched.
    fn start_count(
        &self,
        table: &TableRef,
        provider: &Arc<dyn TableProvider>,
        filters: &[Expr],
    ) -> PendingCount {
        if filters.is_empty() {
            return PendingCount::Ready(table.rows, false);
        }
        let key = count_key(table, filters);
        if let Some((n, est)) = lock(&self.inner.counts).get(&key) {
            return PendingCount::Ready(n, est);
        }
        let limit = self.inner.limits.exact_count_rows;
        let rows = table.rows;
        let mut predicate = filters.to_vec();
        // The first rows are a fair sample for filters on the data, not for filters on
        // the position itself: `_row > n` alone is counted exactly, which the `_row`
        // statistics make cheap.
        let position_only = filters
            .iter()
            .all(|f| f.column_refs().iter().all(|c| c.name == ROW));
        let sampled = rows > limit && !position_only;
        if sampled {
            predicate.push(ident(ROW).lt_eq(lit(i64::try_from(limit).unwrap_or(i64::MAX))));
        }
        let df = self
            .inner
            .ctx
            .read_table(Arc::clone(provider))
            .and_then(|df| match and_all(predicate) {
                Some(p) => df.filter(p),
                None => Ok(df),
            });
        let engine = self.clone();
        let task = tokio::spawn(async move {
            let matched = df
                .map_err(engine_error)?
                .count()
                .await
                .map_err(engine_error)? as u64;
            let result = if sampled {
                let est = u128::from(matched) * u128::from(rows) / u128::from(limit.max(1));
                (u64::try_from(est).unwrap_or(u64::MAX), true)
            } else {
                (matched, false)
            };
            lock(&engine.inner.counts).insert(key, result);
            Ok(result)
        });
        PendingCount::Running(AbortOnDrop(task))
    }

    /// Read-only SQL over exactly the given tables (the caller has already decided which
    /// tables this user may read; nothing else may be reachable).
    pub async fn sql(&self, tables: &[TableRef], sql: &str) -> Result<SqlResult, QueryError> {
        let statement = parse_select(sql)?;
        self.run_limited(tables.to_vec(), statement, None).await
    }

    /// Runs a checked statement on the SQL threads, within the time limit (the SQL
    /// endpoint's, unless `timeout` says otherwise).
    pub(crate) async fn run_limited(
        &self,
        tables: Vec<TableRef>,
        statement: DfStatement,
        timeout: Option<Duration>,
    ) -> Result<SqlResult, QueryError> {
        self.on_sql_threads_for(
            timeout.unwrap_or(self.inner.limits.sql_timeout),
            move |engine| async move { engine.run_statement(&tables, statement).await },
        )
        .await
    }

    /// Runs `work` on the SQL threads, where it may be killed: past the time limit it is
    /// aborted as it is dropped, and stops at its next yield.
    pub(crate) async fn on_sql_threads<T, F, Fut>(&self, work: F) -> Result<T, QueryError>
    where
        F: FnOnce(Engine) -> Fut,
        Fut: std::future::Future<Output = Result<T, QueryError>> + Send + 'static,
        T: Send + 'static,
    {
        self.on_sql_threads_for(self.inner.limits.sql_timeout, work)
            .await
    }

    async fn on_sql_threads_for<T, F, Fut>(
        &self,
        timeout: Duration,
        work: F,
    ) -> Result<T, QueryError>
    where
        F: FnOnce(Engine) -> Fut,
        Fut: std::future::Future<Output = Result<T, QueryError>> + Send + 'static,
        T: Send + 'static,
    {
        let mut task = AbortOnDrop(self.inner.sql_runtime.handle.spawn(work(self.clone())));
        match tokio::time::timeout(timeout, &mut task.0).await {
            Err(_) => Err(QueryError::Timeout),
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(QueryError::Engine(format!("SQL task: {e}"))),
        }
    }

    /// A context of its own for one query: its catalog holds only `tables`, and its
    /// memory pool bounds this query alone. Spilling is off, so running out of memory is
    /// an error instead of disk traffic.
    pub(crate) async fn limited_context(
        &self,
        tables: &[TableRef],
    ) -> Result<SessionContext, QueryError> {
        let limits = &self.inner.limits;
        let runtime = RuntimeEnvBuilder::from_runtime_env(&self.inner.runtime)
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(limits.sql_memory_bytes)))
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .map_err(engine_error)?;
        let state = SessionStateBuilder::new()
            .with_config(base_config().with_target_partitions(limits.sql_threads.max(1)))
            .with_runtime_env(runtime)
            .with_default_features()
            .build();
        let ctx = SessionContext::new_with_state(state);
        register_code_checks(&ctx);
        ctx.register_udaf(crate::sandbox::top_two_udaf());
        for t in tables {
            let provider = self.provider(&t.path).await?;
            ctx.register_table(TableReference::bare(t.name.as_str()), provider)
                .map_err(engine_error)?;
        }
        Ok(ctx)
    }

    async fn run_statement(
        &self,
        tables: &[TableRef],
        statement: DfStatement,
    ) -> Result<SqlResult, QueryError> {
        let limits = &self.inner.limits;
        let ctx = self.limited_context(tables).await?;
        let plan = ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(sql_error)?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| {
                bad(format!(
                    "只允许 SELECT 查询 (only SELECT queries are allowed): {}",
                    e.strip_backtrace()
                ))
            })?;
        let df = ctx.execute_logical_plan(plan).await.map_err(sql_error)?;
        // One row past the limit tells whether there were more, without computing them.
        let df = df
            .limit(0, Some(limits.sql_max_rows.saturating_add(1)))
            .map_err(sql_error)?;
        let schema = Arc::new(plain_schema(df.schema().as_arrow()));
        let batches = df.collect().await.map_err(sql_error)?;
        let fetched: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let (batches, _) = take_rows(batches, limits.sql_max_rows);
        let batches = batches
            .iter()
            .map(|b| plain_batch(&schema, b.columns()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SqlResult {
            schema,
            batches,
            truncated: fetched > limits.sql_max_rows,
        })
    }
}

/// The first gate of the SQL sandbox on its own: whether `sql` is exactly one query
/// statement (for the fuzzer; `Engine::sql` applies it and every later check).
pub fn check_sql(sql: &str) -> Result<(), QueryError> {
    parse_select(sql).map(|_| ())
}

/// Exactly one query statement; everything else is refused before planning.
pub(crate) fn parse_select(sql: &str) -> Result<DfStatement, QueryError> {
    let mut statements = DFParserBuilder::new(sql)
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| bad(format!("SQL 语法错误 (SQL syntax error): {e}")))?;
    if statements.len() != 1 {
        return Err(bad(
            "只能执行一条 SELECT 语句 (exactly one SELECT statement is allowed)",
        ));
    }
    let statement = statements.pop_front().expect("one statement");
    match &statement {
        DfStatement::Statement(s) if matches!(**s, SqlStatement::Query(_)) => Ok(statement),
        _ => Err(bad("只允许 SELECT 查询 (only SELECT queries are allowed)")),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The caches hold plain values; one left by a panicking thread is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unknown_column(name: &str) -> QueryError {
    bad(format!("没有名为 {name} 的列 (unknown column {name:?})"))
}

fn count_key(table: &TableRef, filters: &[Expr]) -> (Path, String) {
    // Debug, not Display: it quotes names and values, so different filters never collide.
    let mut parts: Vec<String> = filters.iter().map(|e| format!("{e:?}")).collect();
    parts.sort_unstable();
    parts.dedup();
    (table.path.clone(), parts.join("\u{1}"))
}

fn and_all(exprs: Vec<Expr>) -> Option<Expr> {
    exprs.into_iter().reduce(Expr::and)
}

#[derive(Debug)]
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug)]
enum PendingCount {
    Ready(u64, bool),
    Running(AbortOnDrop<Result<(u64, bool), QueryError>>),
}

impl PendingCount {
    fn abort(self) {
        drop(self);
    }

    async fn get(self) -> Result<(u64, bool), QueryError> {
        match self {
            PendingCount::Ready(n, e) => Ok((n, e)),
            PendingCount::Running(mut task) => match (&mut task.0).await {
                Ok(r) => r,
                Err(e) => Err(QueryError::Engine(format!("count task: {e}"))),
            },
        }
    }
}

/// `column[__op]=value` as an expression. A key that names a column is an equality even
/// if it contains `__`, so columns with such names stay reachable.
fn filter_expr(schema: &Schema, key: &str, value: &str) -> Result<Expr, QueryError> {
    let (field, op) = match schema.field_with_name(key) {
        Ok(f) => (f, Op::Eq),
        Err(_) => {
            let (name, op) = key
                .rsplit_once("__")
                .and_then(|(name, op)| Some((name, Op::from_suffix(op)?)))
                .unwrap_or((key, Op::Eq));
            (
                schema
                    .field_with_name(name)
                    .map_err(|_| unknown_column(name))?,
                op,
            )
        }
    };
    let name = field.name();
    let c = ident(name);
    let value_of = |v: &str| parse_value(field, v).map(lit);
    Ok(match op {
        Op::Eq => c.eq(value_of(value)?),
        Op::Ne => c.not_eq(value_of(value)?),
        Op::Gt => c.gt(value_of(value)?),
        Op::Gte => c.gt_eq(value_of(value)?),
        Op::Lt => c.lt(value_of(value)?),
        Op::Lte => c.lt_eq(value_of(value)?),
        Op::In => {
            let list = value
                .split(',')
                .map(|v| value_of(v.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            c.in_list(list, false)
        }
        Op::Contains | Op::StartsWith => {
            let text = if is_text(field.data_type()) {
                c
            } else {
                cast(c, DataType::Utf8)
            };
            let escaped = escape_like(value);
            let pattern = match op {
                Op::Contains => format!("%{escaped}%"),
                _ => format!("{escaped}%"),
            };
            Expr::Like(Like::new(
                false,
                Box::new(text),
                Box::new(lit(pattern)),
                Some('\\'),
                false,
            ))
        }
        Op::IsNull => match parse_flag(value) {
            Some(true) => c.is_null(),
            Some(false) => c.is_not_null(),
            None => {
                return Err(bad(format!(
                    "{name}__isnull 的值须为 1 或 0 ({name}__isnull takes 1/0/true/false, got {value:?})"
                )));
            }
        },
    })
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn parse_flag(v: &str) -> Option<bool> {
    match v.trim() {
        "1" => Some(true),
        "0" => Some(false),
        other => parse_bool(other),
    }
}

/// A filter value read the way uploads are read, then typed as the column is.
fn parse_value(field: &Field, raw: &str) -> Result<ScalarValue, QueryError> {
    let name = field.name();
    let dt = field.data_type();
    let fail = || {
        bad(format!(
            "列 {name} 的值 {raw:?} 无效 (invalid value {raw:?} for column {name:?} of type {dt})"
        ))
    };
    let v = raw.trim();
    let scalar = match dt {
        DataType::Utf8 => ScalarValue::Utf8(Some(raw.to_owned())),
        DataType::LargeUtf8 => ScalarValue::LargeUtf8(Some(raw.to_owned())),
        DataType::Utf8View => ScalarValue::Utf8View(Some(raw.to_owned())),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            let i = parse_integer(v)
                .or_else(|| v.parse::<i64>().ok())
                .ok_or_else(fail)?;
            ScalarValue::Int64(Some(i))
                .cast_to(dt)
                .map_err(|_| fail())?
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let f = v.replace(',', "").parse::<f64>().map_err(|_| fail())?;
            ScalarValue::Float64(Some(f))
                .cast_to(dt)
                .map_err(|_| fail())?
        }
        DataType::Decimal128(p, s) => {
            let scale = u8::try_from(*s).map_err(|_| fail())?;
            // "1.50" is 1.5 even in a column with one decimal place.
            let trimmed = match v.split_once('.') {
                Some((int, frac)) => {
                    let frac = frac.trim_end_matches('0');
                    if frac.is_empty() {
                        int.to_owned()
                    } else {
                        format!("{int}.{frac}")
                    }
                }
                None => v.to_owned(),
            };
            let d = parse_decimal(&trimmed, scale).ok_or_else(fail)?;
            ScalarValue::Decimal128(Some(d), *p, *s)
        }
        DataType::Date32 => {
            let d = parse_date(v, true).ok_or_else(fail)?;
            ScalarValue::Date32(Some(days_since_epoch(d)))
        }
        DataType::Boolean => ScalarValue::Boolean(Some(parse_flag(v).ok_or_else(fail)?)),
        DataType::Date64 | DataType::Timestamp(..) => {
            match ScalarValue::try_from_string(v.to_owned(), dt) {
                Ok(s) => s,
                Err(_) => {
                    let d = parse_date(v, true).ok_or_else(fail)?;
                    ScalarValue::Date32(Some(days_since_epoch(d)))
                        .cast_to(dt)
                        .map_err(|_| fail())?
                }
            }
        }
        _ => ScalarValue::try_from_string(v.to_owned(), dt).map_err(|_| fail())?,
    };
    Ok(scalar)
}

fn days_since_epoch(d: chrono::NaiveDate) -> i32 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    // Dates parse_date accepts are within a few thousand years of 1970.
    i32::try_from((d - epoch).num_days()).unwrap_or(i32::MAX)
}

/// Types whose values survive the trip through a token.
fn sortable(t: &DataType) -> bool {
    t.is_integer()
        || t.is_floating()
        || is_text(t)
        || matches!(
            t,
            DataType::Boolean
                | DataType::Decimal128(..)
                | DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(..)
                | DataType::Time32(_)
                | DataType::Time64(_)
                | DataType::Duration(_)
        )
}

/// A sort key for a token. Numbers and temporal values travel as their exact stored
/// integer (as a string, since JSON numbers lose precision past 2^53), text as text.
fn encode_key(v: &ScalarValue) -> Result<Option<serde_json::Value>, QueryError> {
    use serde_json::Value;
    if v.is_null() {
        return Ok(None);
    }
    let dt = v.data_type();
    let out = match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Value::String(s.clone()),
        ScalarValue::Boolean(Some(b)) => Value::Bool(*b),
        ScalarValue::Decimal128(Some(d), ..) => Value::String(d.to_string()),
        ScalarValue::Float16(_) | ScalarValue::Float32(_) | ScalarValue::Float64(_) => {
            match v.cast_to(&DataType::Float64) {
                Ok(ScalarValue::Float64(Some(f))) => Value::String(format!("{:?}", f.to_bits())),
                _ => return Err(QueryError::Engine(format!("cannot encode {dt} key"))),
            }
        }
        _ if dt.is_unsigned_integer() => match v.cast_to(&DataType::UInt64) {
            Ok(ScalarValue::UInt64(Some(u))) => Value::String(u.to_string()),
            _ => return Err(QueryError::Engine(format!("cannot encode {dt} key"))),
        },
        _ => match raw_integer(v) {
            Some(i) => Value::String(i.to_string()),
            None => return Err(QueryError::Engine(format!("cannot encode {dt} key"))),
        },
    };
    Ok(Some(out))
}

/// The integer a signed-integer or temporal value is stored as.
fn raw_integer(v: &ScalarValue) -> Option<i64> {
    Some(match v {
        ScalarValue::Int8(Some(i)) => i64::from(*i),
        ScalarValue::Int16(Some(i)) => i64::from(*i),
        ScalarValue::Int32(Some(i)) => i64::from(*i),
        ScalarValue::Int64(Some(i)) => *i,
        ScalarValue::Date32(Some(i)) | ScalarValue::Time32Second(Some(i)) => i64::from(*i),
        ScalarValue::Time32Millisecond(Some(i)) => i64::from(*i),
        ScalarValue::Date64(Some(i))
        | ScalarValue::Time64Microsecond(Some(i))
        | ScalarValue::Time64Nanosecond(Some(i))
        | ScalarValue::TimestampSecond(Some(i), _)
        | ScalarValue::TimestampMillisecond(Some(i), _)
        | ScalarValue::TimestampMicrosecond(Some(i), _)
        | ScalarValue::TimestampNanosecond(Some(i), _)
        | ScalarValue::DurationSecond(Some(i))
        | ScalarValue::DurationMillisecond(Some(i))
        | ScalarValue::DurationMicrosecond(Some(i))
        | ScalarValue::DurationNanosecond(Some(i)) => *i,
        _ => return None,
    })
}

/// The inverse of `encode_key` for a column of type `dt`.
fn decode_key(v: &serde_json::Value, dt: &DataType) -> Option<ScalarValue> {
    use serde_json::Value;
    let s = match v {
        Value::String(s) => s.as_str(),
        Value::Bool(b) if *dt == DataType::Boolean => return Some(ScalarValue::Boolean(Some(*b))),
        _ => return None,
    };
    Some(match dt {
        DataType::Utf8 => ScalarValue::Utf8(Some(s.to_owned())),
        DataType::LargeUtf8 => ScalarValue::LargeUtf8(Some(s.to_owned())),
        DataType::Utf8View => ScalarValue::Utf8View(Some(s.to_owned())),
        DataType::Decimal128(p, sc) => ScalarValue::Decimal128(Some(s.parse().ok()?), *p, *sc),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            ScalarValue::Float64(Some(f64::from_bits(s.parse().ok()?)))
                .cast_to(dt)
                .ok()?
        }
        _ if dt.is_unsigned_integer() => ScalarValue::UInt64(Some(s.parse().ok()?))
            .cast_to(dt)
            .ok()?,
        _ if dt.is_signed_integer() => {
            ScalarValue::Int64(Some(s.parse().ok()?)).cast_to(dt).ok()?
        }
        _ => {
            let i: i64 = s.parse().ok()?;
            let small = || i32::try_from(i).ok();
            match dt {
                DataType::Date32 => ScalarValue::Date32(Some(small()?)),
                DataType::Date64 => ScalarValue::Date64(Some(i)),
                DataType::Time32(arrow_schema::TimeUnit::Second) => {
                    ScalarValue::Time32Second(Some(small()?))
                }
                DataType::Time32(_) => ScalarValue::Time32Millisecond(Some(small()?)),
                DataType::Time64(arrow_schema::TimeUnit::Microsecond) => {
                    ScalarValue::Time64Microsecond(Some(i))
                }
                DataType::Time64(_) => ScalarValue::Time64Nanosecond(Some(i)),
                DataType::Timestamp(unit, tz) => {
                    use arrow_schema::TimeUnit::*;
                    let tz = tz.clone();
                    match unit {
                        Second => ScalarValue::TimestampSecond(Some(i), tz),
                        Millisecond => ScalarValue::TimestampMillisecond(Some(i), tz),
                        Microsecond => ScalarValue::TimestampMicrosecond(Some(i), tz),
                        Nanosecond => ScalarValue::TimestampNanosecond(Some(i), tz),
                    }
                }
                DataType::Duration(unit) => {
                    use arrow_schema::TimeUnit::*;
                    match unit {
                        Second => ScalarValue::DurationSecond(Some(i)),
                        Millisecond => ScalarValue::DurationMillisecond(Some(i)),
                        Microsecond => ScalarValue::DurationMicrosecond(Some(i)),
                        Nanosecond => ScalarValue::DurationNanosecond(Some(i)),
                    }
                }
                _ => return None,
            }
        }
    })
}

/// Rows after the token's row in the order `(sort column NULLS LAST, _row)`.
fn continuation(
    schema: &Schema,
    sort: Option<&(String, bool)>,
    token: &Token,
) -> Result<Expr, QueryError> {
    let invalid = || bad("翻页标记无效 (invalid _next token)");
    let r = ident(ROW);
    let after = lit(token.r);
    Ok(match sort {
        None => r.gt(after),
        Some((c, desc)) if c == ROW => {
            if *desc {
                r.lt(after)
            } else {
                r.gt(after)
            }
        }
        Some((c, desc)) => {
            let dt = schema
                .field_with_name(c)
                .map_err(|_| invalid())?
                .data_type();
            let k = ident(c);
            match &token.v {
                None => k.is_null().and(r.gt(after)),
                Some(v) => {
                    let v = lit(decode_key(v, dt).ok_or_else(invalid)?);
                    let beyond = if *desc {
                        k.clone().lt(v.clone())
                    } else {
                        k.clone().gt(v.clone())
                    };
                    beyond.or(k.clone().eq(v).and(r.gt(after))).or(k.is_null())
                }
            }
        }
    })
}

fn next_token(
    last: &RecordBatch,
    key_at: Option<usize>,
    sort: Option<&(String, bool)>,
) -> Result<String, QueryError> {
    let row = last.num_rows() - 1;
    let rows = last
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .ok_or_else(|| QueryError::Engine(format!("{ROW} is not Int64")))?;
    let r = rows.value(row);
    let (s, d, v) = match (sort, key_at) {
        (Some((c, desc)), _) if c == ROW => (Some(ROW.to_owned()), *desc, None),
        (Some((c, desc)), Some(i)) => {
            let value =
                ScalarValue::try_from_array(last.column(i).as_ref(), row).map_err(engine_error)?;
            (Some(c.clone()), *desc, encode_key(&value)?)
        }
        _ => (None, false, None),
    };
    Ok(Token { s, d, v, r }.encode())
}

/// The first `n` rows, and the batch holding the last of them.
fn take_rows(batches: Vec<RecordBatch>, n: usize) -> (Vec<RecordBatch>, Option<RecordBatch>) {
    let mut out = Vec::with_capacity(batches.len());
    let mut left = n;
    for b in batches {
        if left == 0 {
            break;
        }
        if b.num_rows() == 0 {
            continue;
        }
        let b = if b.num_rows() > left {
            b.slice(0, left)
        } else {
            b
        };
        left -= b.num_rows();
        out.push(b);
    }
    let last = out.last().cloned();
    (out, last)
}

/// The schema of the shown columns, keeping the table's field metadata.
fn project_schema(batches: &[RecordBatch], table: &Schema, names: &[String]) -> Schema {
    let fields: Vec<Field> = names
        .iter()
        .enumerate()
        .map(|(i, n)| match table.field_with_name(n) {
            Ok(f) => plain_field(f),
            Err(_) => batches
                .first()
                .map(|b| plain_field(b.schema().field(i)))
                .unwrap_or_else(|| Field::new(n, DataType::Null, true)),
        })
        .collect();
    Schema::new(fields)
}

/// DataFusion reads text as views, which is faster to scan; callers get the types
/// tables are stored with, so that writers of JSON, CSV or Excel see one text type.
fn plain_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        other => other.clone(),
    }
}

fn plain_field(f: &Field) -> Field {
    f.clone().with_data_type(plain_type(f.data_type()))
}

fn plain_schema(s: &Schema) -> Schema {
    Schema::new_with_metadata(
        s.fields()
            .iter()
            .map(|f| plain_field(f))
            .collect::<Vec<_>>(),
        s.metadata().clone(),
    )
}

fn plain_batch(schema: &SchemaRef, columns: &[ArrayRef]) -> Result<RecordBatch, QueryError> {
    let columns = columns
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(Arc::clone(c))
            } else {
                arrow_cast::cast(c, f.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| QueryError::Engine(e.to_string()))?;
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| QueryError::Engine(e.to_string()))
}

/// `gs_valid_uscc(text)`, `gs_valid_resident_id(text)`, `gs_valid_region_code(text)`,
/// `gs_valid_date(text)` and `gs_valid_number(text)`: whether a value is a well-formed
/// unified social credit code (GB 32100) or resident ID number (GB 11643) with its check
/// character right, a GB/T 2260 region code under a real province, a date (or date and
/// time) as Chinese tables write them, or a number; NULL for NULL. Quality checks count
/// invalid values with them, and anyone's SQL may use them.
fn register_code_checks(ctx: &SessionContext) {
    use datafusion::arrow::array::{Array, BooleanArray, StringArray};
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};

    fn check(
        args: &[ColumnarValue],
        valid: fn(&str) -> bool,
    ) -> datafusion::error::Result<ColumnarValue> {
        let array = match &args[0] {
            ColumnarValue::Array(a) => Arc::clone(a),
            ColumnarValue::Scalar(v) => v.to_array()?,
        };
        let text = datafusion::arrow::compute::cast(&array, &DataType::Utf8)?;
        let text = text
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| DataFusionError::Internal("text expected".into()))?;
        let out: BooleanArray = text.iter().map(|v| v.map(|v| valid(v.trim()))).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
    type Check = fn(&str) -> bool;
    let checks: [(&str, Check); 5] = [
        ("gs_valid_uscc", |v| {
            gongshu_core::validate::check_uscc(v).is_ok()
        }),
        ("gs_valid_resident_id", |v| {
            gongshu_core::validate::check_resident_id(v).is_ok()
        }),
        ("gs_valid_region_code", |v| {
            gongshu_core::region::RegionCode::parse(v).is_some()
        }),
        ("gs_valid_date", crate::infer::is_date_or_datetime),
        ("gs_valid_number", crate::infer::is_number),
    ];
    for (name, valid) in checks {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Utf8],
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| check(args, valid)),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_url_parses() {
        let _ = store_url();
    }

    #[test]
    fn keys_round_trip() {
        let cases = [
            ScalarValue::Int64(Some(-5)),
            ScalarValue::UInt64(Some(u64::MAX)),
            ScalarValue::Float64(Some(0.1)),
            ScalarValue::Decimal128(Some(12345), 38, 2),
            ScalarValue::Date32(Some(19000)),
            ScalarValue::Boolean(Some(true)),
            ScalarValue::Utf8(Some("企业".into())),
            ScalarValue::TimestampMicrosecond(Some(1_700_000_000_000_000), Some("+08:00".into())),
        ];
        for v in cases {
            let encoded = encode_key(&v).unwrap().unwrap();
            assert_eq!(
                decode_key(&encoded, &v.data_type()),
                Some(v.clone()),
                "{v:?}"
            );
        }
    }

    #[test]
    fn like_escaping() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn lru_forgets_oldest() {
        let mut l = Lru::new(2);
        l.insert(1, 'a');
        l.insert(2, 'b');
        assert_eq!(l.get(&1), Some('a'));
        l.insert(3, 'c');
        assert_eq!(l.get(&2), None);
        assert_eq!(l.get(&1), Some('a'));
        assert_eq!(l.get(&3), Some('c'));
    }
}
