//! `gongshu`: the one binary of the platform.
//!
//! Options come from flags, then `GONGSHU_*` environment variables, then the TOML file
//! given by `--config`, then defaults; all four share the definitions below.

// This is the command line: it talks to its operator on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use gongshu_app::demo::DEFAULT_DEMO_PASSWORD;
use gongshu_core::types::Role;
use gongshu_server::{Bootstrap, ServerConfig};
use serde::Deserialize;

// The row API allocates and frees many small buffers per request on two threads;
// glibc's allocator spent an eighth of the server's time on them (perf, 2026-11-23).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A secret option: usable as a string, never shown by `Debug`.
#[derive(Clone, Default)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "gongshu",
    version,
    about = "公数 Gongshu — the unified public-data platform"
)]
struct Cli {
    /// TOML file with any of the options below (snake_case keys).
    #[arg(long, global = true, env = "GONGSHU_CONFIG")]
    config: Option<PathBuf>,
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(
        long,
        global = true,
        env = "GONGSHU_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform: portal, console and API.
    Serve(Box<ServeArgs>),
    /// Create or upgrade the metadata database, then exit.
    Migrate(DataArgs),
    /// Rebuild the catalog search index from the published catalog (with the server
    /// stopped: it holds the index open), then exit.
    Reindex(DataArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Print the OpenAPI document of the API.
    Openapi,
    /// Upload a file to a catalog entry as a new resource (or a new version of one), as
    /// the operator at this machine; shows progress and prints what was stored.
    Import(ImportArgs),
    /// The working-day calendar: holiday notices and deadlines.
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a backup (database snapshot, stored objects, checksummed manifest) into a new
    /// directory; safe while the platform serves.
    Backup {
        /// The directory to create.
        dest: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Restore a backup into an empty data directory, after checking every checksum.
    Restore {
        /// The backup's directory.
        src: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Subcommand)]
enum CalendarCommand {
    /// Enter a year's holiday notice from a file in holiday-cn's JSON shape (as the
    /// shipped ones), replacing what the platform holds for that year.
    Import {
        file: PathBuf,
        /// Why: e.g. the notice's reference (国办发明电〔…〕号).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// The last day of a period of working days received on START (YYYY-MM-DD).
    Deadline {
        start: chrono::NaiveDate,
        days: u32,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The entry: its resource code (e.g. 102001/000001) or its numeric id.
    #[arg(long)]
    dataset: String,
    /// CSV/TSV, XLSX/XLS/ODS, JSON/NDJSON/GeoJSON, Parquet, or any other file.
    file: PathBuf,
    /// Title of the new resource (the file name by default).
    #[arg(long)]
    name: Option<String>,
    /// Add a version to this resource instead of creating one.
    #[arg(long)]
    resource: Option<String>,
    /// The sheet of a workbook to read (the first non-empty one by default).
    #[arg(long)]
    sheet: Option<String>,
    /// Publish even if some rows were rejected (they are listed either way).
    #[arg(long)]
    publish_with_rejections: bool,
    /// Print the result as JSON on standard output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
struct DataArgs {
    /// Where the platform keeps its data.
    #[arg(long, env = "GONGSHU_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// The master key every per-dataset secret (pseudonyms, format-preserving
    /// encryption) is derived from: a file holding 64 hex digits or base64 of 32 bytes,
    /// kept outside the data directory. GONGSHU_MASTER_KEY may hold the key itself.
    #[arg(long, env = "GONGSHU_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// The keys that encrypt important and core data at rest: a TOML file outside the
    /// data directory (see the README). GONGSHU_AT_REST_KEYRING may hold its text
    /// instead. Without keys, uploads to entries graded important or core are refused.
    #[arg(long, env = "GONGSHU_AT_REST_KEYS")]
    at_rest_keys: Option<PathBuf>,
    /// Scratch space for uploads and tables being written (`DATA_DIR/tmp` by default).
    /// An upload is in the clear there until it is stored; put it on tmpfs or an
    /// encrypted volume where important data is uploaded.
    #[arg(long, env = "GONGSHU_TMP_DIR")]
    tmp_dir: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://user:password@host/db`): the metadata store that
    /// several nodes share. Without it, SQLite in the data directory.
    #[arg(long, env = "GONGSHU_DATABASE_URL")]
    database_url: Option<String>,
    /// The object store that several nodes share: `file:///path` on shared storage, or
    /// `s3://bucket` (a bucket of its own; credentials and endpoint from the AWS_* variables). Without
    /// it, DATA_DIR/objects.
    #[arg(long, env = "GONGSHU_OBJECT_STORE_URL")]
    object_store_url: Option<String>,
}

impl DataArgs {
    fn at_rest_keys(&self) -> Option<gongshu_app::at_rest::KeySource> {
        use gongshu_app::at_rest::KeySource;
        match (&self.at_rest_keys, std::env::var("GONGSHU_AT_REST_KEYRING")) {
            (Some(path), _) => Some(KeySource::File(path.clone())),
            (None, Ok(text)) => Some(KeySource::Text(text)),
            (None, Err(_)) => None,
        }
    }

    /// The master key from `--key-file` or GONGSHU_MASTER_KEY; none when neither is set.
    fn master_key(&self) -> Result<Option<gongshu_app::MasterKey>> {
        let text = match (&self.key_file, std::env::var("GONGSHU_MASTER_KEY")) {
            (Some(path), _) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the key file {}", path.display()))?,
            (None, Ok(key)) => key,
            (None, Err(_)) => return Ok(None),
        };
        gongshu_app::MasterKey::parse(&text)
            .map(Some)
            .ok_or_else(|| {
                anyhow::anyhow!("the master key must be 64 hex digits or base64 of 32 bytes")
            })
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GONGSHU_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(flatten)]
    data: DataArgs,
    /// Load the demo province (山东省) into an empty platform.
    #[arg(long, env = "GONGSHU_DEMO")]
    demo: bool,
    /// Password of every demo account.
    #[arg(long, env = "GONGSHU_DEMO_PASSWORD", default_value = DEFAULT_DEMO_PASSWORD, hide_default_value = true)]
    demo_password: Secret,
    /// With --demo, also generate this many published catalog entries across the
    /// province's cities and counties when the demo is first loaded (to try it at scale).
    #[arg(
        long,
        env = "GONGSHU_DEMO_SCALE",
        default_value_t = 0,
        requires = "demo"
    )]
    demo_scale: usize,
    /// Password of `admin`, used when it is first created; generated and printed once if unset.
    #[arg(long, env = "GONGSHU_ADMIN_PASSWORD")]
    admin_password: Option<Secret>,
    /// Mark cookies Secure (set when served over HTTPS).
    #[arg(long, env = "GONGSHU_COOKIE_SECURE")]
    cookie_secure: bool,
    /// Largest request body in bytes.
    #[arg(long, env = "GONGSHU_BODY_LIMIT", default_value_t = 2 * 1024 * 1024)]
    body_limit: usize,
    /// Largest uploaded data file in bytes.
    #[arg(long, env = "GONGSHU_UPLOAD_LIMIT", default_value_t = 2 * 1024 * 1024 * 1024)]
    upload_limit: u64,
    /// The platform's public address (e.g. https://data.sd.gov.cn), used in citations.
    #[arg(long, env = "GONGSHU_PUBLIC_URL")]
    public_url: Option<String>,
    /// Mail server for e-mail notifications: smtps://user:pass@host:465 (TLS),
    /// smtp://user:pass@host:587?tls=required (STARTTLS) or smtp://relay:25 (plain, for an
    /// intranet relay); unset sends no e-mail.
    #[arg(long, env = "GONGSHU_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// Sender of e-mail notifications.
    #[arg(
        long,
        env = "GONGSHU_MAIL_FROM",
        default_value = "公数平台 <noreply@localhost>"
    )]
    mail_from: String,
    /// The audit log's hash: sha256, or sm3 (国密). A log keeps the hash it started with.
    #[arg(long, env = "GONGSHU_AUDIT_HASH", default_value = "sha256", value_parser = parse_audit_hash)]
    audit_hash: gongshu_app::gongshu_audit::HashAlg,
    /// How audit checkpoints are signed: ed25519, or sm2 (国密 SM2). Choose it when the
    /// log starts: checkpoints signed before a change verify with the earlier key.
    #[arg(long, env = "GONGSHU_AUDIT_SIGNATURE", default_value = "ed25519", value_parser = parse_audit_signature)]
    audit_signature: gongshu_app::gongshu_audit::SigAlg,
    /// Requests a second per anonymous client address (signed-in accounts get twice as
    /// many); 0 turns rate limiting off (benchmarks).
    #[arg(long, env = "GONGSHU_RATE_LIMIT", default_value_t = 30)]
    rate_limit: u32,
    /// Bursts allowed above the rate.
    #[arg(long, env = "GONGSHU_RATE_BURST", default_value_t = 120)]
    rate_burst: u32,
    /// Single sign-on: the OpenID Connect issuer of the province's unified identity
    /// system (统一身份认证), e.g. https://sso.example.gov.cn; unset keeps password
    /// sign-in only.
    #[arg(long, env = "GONGSHU_OIDC_ISSUER")]
    oidc_issuer: Option<String>,
    /// The platform's client id at the identity provider.
    #[arg(long, env = "GONGSHU_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    oidc_client_id: Option<String>,
    /// The client secret (better given by the environment than on the command line).
    #[arg(long, env = "GONGSHU_OIDC_CLIENT_SECRET", hide_env_values = true)]
    oidc_client_secret: Option<Secret>,
    /// The ID-token claim holding the person's organisation's credit code.
    #[arg(
        long,
        env = "GONGSHU_OIDC_ORG_CLAIM",
        default_value = "org_credit_code"
    )]
    oidc_org_claim: String,
    /// Monitoring thresholds, any of: bulk_downloads=100, window_minutes=10,
    /// login_addresses=5, login_window_minutes=60, login_failures=20, verify_misses=50.
    #[arg(long, env = "GONGSHU_MONITOR", default_value = "", value_parser = gongshu_app::monitor::Thresholds::parse)]
    monitor: gongshu_app::monitor::Thresholds,
    /// The analysis sandbox's disclosure control: `standard` (groups under 10 withheld,
    /// dominance (2, 85 %), counts rounded to 5) or `strict` (groups of 7 or fewer withheld).
    #[arg(long, env = "GONGSHU_DISCLOSURE_PROFILE", default_value = "standard", value_parser = parse_profile)]
    disclosure_profile: gongshu_core::disclosure::ProfileName,
    /// Days a sandbox result is kept before its figures are dropped (1–3650); the record
    /// of the query and its audited hash stay.
    #[arg(long, env = "GONGSHU_SANDBOX_RETENTION_DAYS", default_value_t = 90)]
    sandbox_retention_days: u32,
    /// Sign an audit checkpoint every this many seconds (when the log grew) …
    #[arg(long, env = "GONGSHU_AUDIT_CHECKPOINT_SECS", default_value_t = 60)]
    audit_checkpoint_secs: u64,
    /// On a member (city) platform enrolled with its province, push catalog changes
    /// every this many seconds.
    #[arg(long, env = "GONGSHU_FEDERATION_SYNC_SECS", default_value_t = 30)]
    federation_sync_secs: u64,
    /// Look for harvest sources due every this many seconds.
    #[arg(long, env = "GONGSHU_HARVEST_CHECK_SECS", default_value_t = 60)]
    harvest_check_secs: u64,
    /// … and every this many entries.
    #[arg(long, env = "GONGSHU_AUDIT_CHECKPOINT_ENTRIES", default_value_t = 1000)]
    audit_checkpoint_entries: u64,
    /// Working days a provider has to answer an objection or a data demand (1–60).
    #[arg(long, env = "GONGSHU_FEEDBACK_DAYS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=60))]
    feedback_days: u32,
}

fn parse_audit_signature(s: &str) -> Result<gongshu_app::gongshu_audit::SigAlg, String> {
    gongshu_app::gongshu_audit::SigAlg::parse(s.trim())
        .ok_or_else(|| format!("{s:?}: use ed25519 or sm2"))
}

fn parse_audit_hash(s: &str) -> Result<gongshu_app::gongshu_audit::HashAlg, String> {
    gongshu_app::gongshu_audit::HashAlg::parse(s).ok_or_else(|| format!("{s:?}: use sha256 or sm3"))
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the whole audit log offline and check it against its signed checkpoints;
    /// exits non-zero on any alteration, removal, reordering or truncation.
    Verify {
        /// The Ed25519 public key of the checkpoints (hex, as `/api/v1/audit/checkpoint`
        /// publishes it); derived from the master key when not given.
        #[arg(long)]
        public_key: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from standard input (one line), or from
    /// GONGSHU_USER_PASSWORD, or generated and printed.
    Add {
        username: String,
        #[arg(long, default_value = "")]
        display_name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Set a new password (read like `add`); ends the user's sessions and tokens.
    Passwd {
        username: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Grant a role: system_admin, authority_admin, provider_admin, provider_reviewer,
    /// dept_user, auditor, registered.
    Grant {
        username: String,
        #[arg(long)]
        role: String,
        /// Organisation id the role acts for.
        #[arg(long)]
        org: Option<i64>,
        /// Region (GB/T 2260) for auditors.
        #[arg(long)]
        region: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// The `--config` file. Every key is optional and loses to a flag or variable.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    addr: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    demo: Option<bool>,
    demo_password: Option<String>,
    admin_password: Option<String>,
    cookie_secure: Option<bool>,
    body_limit: Option<usize>,
    upload_limit: Option<u64>,
    public_url: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    audit_hash: Option<String>,
    audit_signature: Option<String>,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    oidc_org_claim: Option<String>,
    audit_checkpoint_secs: Option<u64>,
    federation_sync_secs: Option<u64>,
    audit_checkpoint_entries: Option<u64>,
    feedback_days: Option<u32>,
    rate_limit: Option<u32>,
    rate_burst: Option<u32>,
    monitor: Option<String>,
    disclosure_profile: Option<String>,
    sandbox_retention_days: Option<u32>,
    log_format: Option<String>,
    key_file: Option<PathBuf>,
    at_rest_keys: Option<PathBuf>,
    tmp_dir: Option<PathBuf>,
}

/// The data options of the file, taken out before the others are moved out of it.
#[derive(Debug)]
struct DataFile {
    data_dir: Option<PathBuf>,
    key_file: Option<PathBuf>,
    at_rest_keys: Option<PathBuf>,
    tmp_dir: Option<PathBuf>,
}

/// The data options from the file, where neither a flag nor a variable set them.
fn apply_data_file(d: &mut DataArgs, file: &DataFile, data_dir_default: bool) {
    if let (Some(v), true) = (&file.data_dir, data_dir_default) {
        d.data_dir = v.clone();
    }
    d.key_file = d.key_file.take().or_else(|| file.key_file.clone());
    d.at_rest_keys = d.at_rest_keys.take().or_else(|| file.at_rest_keys.clone());
    d.tmp_dir = d.tmp_dir.take().or_else(|| file.tmp_dir.clone());
}

/// Whether the option still holds its default, so the file may set it.
fn defaulted(m: &ArgMatches, id: &str) -> bool {
    matches!(m.value_source(id), None | Some(ValueSource::DefaultValue))
}

fn apply_file(cli: &mut Cli, matches: &ArgMatches) -> Result<()> {
    let Some(path) = &cli.config else {
        return Ok(());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let mut file: FileConfig =
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))?;
    let data_file = DataFile {
        data_dir: file.data_dir.take(),
        key_file: file.key_file.take(),
        at_rest_keys: file.at_rest_keys.take(),
        tmp_dir: file.tmp_dir.take(),
    };
    if let (Some(v), true) = (file.log_format, defaulted(matches, "log_format")) {
        cli.log_format = v;
    }
    // The options of `user add` live on `add`, not on `user`: take the innermost command.
    let mut sub = matches.subcommand().map(|(_, m)| m);
    while let Some(inner) = sub.and_then(|m| m.subcommand()).map(|(_, m)| m) {
        sub = Some(inner);
    }
    let data_dir_default =
        sub.is_none_or(|m| !m.ids().any(|id| id == "data_dir") || defaulted(m, "data_dir"));
    match &mut cli.command {
        Command::Serve(s) => {
            let m = sub.context("serve arguments")?;
            if let (Some(v), true) = (file.addr, defaulted(m, "addr")) {
                s.addr = v;
            }
            if let (Some(v), true) = (file.demo, defaulted(m, "demo")) {
                s.demo = v;
            }
            if let (Some(v), true) = (file.demo_password, defaulted(m, "demo_password")) {
                s.demo_password = Secret(v);
            }
            if let (Some(v), true) = (file.admin_password, defaulted(m, "admin_password")) {
                s.admin_password = Some(Secret(v));
            }
            if let (Some(v), true) = (file.cookie_secure, defaulted(m, "cookie_secure")) {
                s.cookie_secure = v;
            }
            if let (Some(v), true) = (file.body_limit, defaulted(m, "body_limit")) {
                s.body_limit = v;
            }
            if let (Some(v), true) = (file.upload_limit, defaulted(m, "upload_limit")) {
                s.upload_limit = v;
            }
            if let (Some(v), true) = (file.public_url, defaulted(m, "public_url")) {
                s.public_url = Some(v);
            }
            if let (Some(v), true) = (file.smtp_url, defaulted(m, "smtp_url")) {
                s.smtp_url = Some(v);
            }
            if let (Some(v), true) = (file.mail_from, defaulted(m, "mail_from")) {
                s.mail_from = v;
            }
            if let (Some(v), true) = (file.audit_hash, defaulted(m, "audit_hash")) {
                s.audit_hash = parse_audit_hash(&v).map_err(anyhow::Error::msg)?;
            }
            if let (Some(v), true) = (file.audit_signature, defaulted(m, "audit_signature")) {
                s.audit_signature = parse_audit_signature(&v).map_err(anyhow::Error::msg)?;
            }
            if let (Some(v), true) = (
                file.audit_checkpoint_secs,
                defaulted(m, "audit_checkpoint_secs"),
            ) {
                s.audit_checkpoint_secs = v;
            }
            if let (Some(v), true) = (
                file.federation_sync_secs,
                defaulted(m, "federation_sync_secs"),
            ) {
                s.federation_sync_secs = v;
            }
            if let (Some(v), true) = (
                file.audit_checkpoint_entries,
                defaulted(m, "audit_checkpoint_entries"),
            ) {
                s.audit_checkpoint_entries = v;
            }
            if let (Some(v), true) = (file.feedback_days, defaulted(m, "feedback_days")) {
                s.feedback_days = v;
            }
            if let (Some(v), true) = (file.oidc_issuer, defaulted(m, "oidc_issuer")) {
                s.oidc_issuer = Some(v);
            }
            if let (Some(v), true) = (file.oidc_client_id, defaulted(m, "oidc_client_id")) {
                s.oidc_client_id = Some(v);
            }
            if let (Some(v), true) = (file.oidc_org_claim, defaulted(m, "oidc_org_claim")) {
                s.oidc_org_claim = v;
            }
            if let (Some(v), true) = (file.rate_limit, defaulted(m, "rate_limit")) {
                s.rate_limit = v;
            }
            if let (Some(v), true) = (file.rate_burst, defaulted(m, "rate_burst")) {
                s.rate_burst = v;
            }
            if let (Some(v), true) = (file.monitor, defaulted(m, "monitor")) {
                s.monitor =
                    gongshu_app::monitor::Thresholds::parse(&v).map_err(anyhow::Error::msg)?;
            }
            if let (Some(v), true) = (file.disclosure_profile, defaulted(m, "disclosure_profile")) {
                s.disclosure_profile = parse_profile(&v).map_err(anyhow::Error::msg)?;
            }
            if let (Some(v), true) = (
                file.sandbox_retention_days,
                defaulted(m, "sandbox_retention_days"),
            ) {
                s.sandbox_retention_days = v;
            }
            apply_data_file(&mut s.data, &data_file, data_dir_default);
        }
        Command::Migrate(d)
        | Command::Reindex(d)
        | Command::User(
            UserCommand::Add { data: d, .. }
            | UserCommand::Passwd { data: d, .. }
            | UserCommand::Grant { data: d, .. },
        )
        | Command::Import(ImportArgs { data: d, .. })
        | Command::Calendar(
            CalendarCommand::Import { data: d, .. } | CalendarCommand::Deadline { data: d, .. },
        )
        | Command::Audit(AuditCommand::Verify { data: d, .. })
        | Command::Backup { data: d, .. }
        | Command::Restore { data: d, .. } => {
            apply_data_file(d, &data_file, data_dir_default);
        }
        Command::Openapi => {}
    }
    Ok(())
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GONGSHU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resident memory of this process in MiB (Linux), for the start-up log.
fn resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn serve(args: ServeArgs) -> Result<()> {
    let started = Instant::now();
    // In the demo the administrator shares the documented demo password unless one is set.
    let admin_password = args
        .admin_password
        .clone()
        .map(|s| s.0)
        .or_else(|| args.demo.then(|| args.demo_password.0.clone()));
    let boot = Bootstrap {
        create_admin: true,
        admin_password,
        demo_password: args.demo.then(|| args.demo_password.0.clone()),
        demo_scale: args.demo_scale,
        recover_jobs: true,
        maintain_search: true,
        upload_limit: Some(args.upload_limit),
        public_url: args.public_url.clone(),
        smtp: args
            .smtp_url
            .clone()
            .map(|url| gongshu_app::delivery::SmtpSettings {
                url,
                from: args.mail_from.clone(),
            }),
        master_key: args.data.master_key()?,
        at_rest_keys: args.data.at_rest_keys(),
        tmp_dir: args.data.tmp_dir.clone(),
        database_url: args.data.database_url.clone(),
        object_store_url: args.data.object_store_url.clone(),
        audit_hash: Some(args.audit_hash),
        audit_signature: Some(args.audit_signature),
        audit_checkpoint_entries: Some(args.audit_checkpoint_entries),
        feedback_days: Some(args.feedback_days),
        monitor: Some(args.monitor.clone()),
        disclosure_profile: Some(args.disclosure_profile),
        sandbox_retention_days: Some(args.sandbox_retention_days),
        sso: match (&args.oidc_issuer, &args.oidc_client_id) {
            (Some(issuer), Some(client_id)) => Some(gongshu_app::sso::SsoSettings {
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                client_secret: args
                    .oidc_client_secret
                    .clone()
                    .map(|s| s.0)
                    .unwrap_or_default(),
                org_claim: args.oidc_org_claim.clone(),
            }),
            (Some(_), None) => anyhow::bail!("--oidc-issuer needs --oidc-client-id"),
            _ => None,
        },
    };
    let (app, what) = gongshu_server::open_app(&args.data.data_dir, &boot).await?;
    if let Some(p) = &what.generated_admin_password {
        println!("Created the system administrator `admin` with password: {p}");
        println!("It is shown only this once; change it with `gongshu user passwd admin`.");
    }
    if let Some(d) = what.demo {
        tracing::info!(
            organizations = d.organizations,
            datasets = d.datasets,
            published = d.published,
            accounts = d.accounts,
            "demo province loaded"
        );
    }
    let config = ServerConfig {
        cookie_secure: args.cookie_secure,
        body_limit: args.body_limit,
        rate_limit: args.rate_limit,
        rate_burst: args.rate_burst,
        ..ServerConfig::default()
    };
    if !args.cookie_secure && !args.addr.ip().is_loopback() {
        tracing::warn!(
            "serving beyond this machine without --cookie-secure: put the platform behind HTTPS and set it"
        );
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("listening on {}", args.addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        startup_ms = started.elapsed().as_millis() as u64,
        rss_mib = resident_mib().unwrap_or(0.0),
        data_dir = %args.data.data_dir.display(),
        "Gongshu is serving at http://{addr}"
    );
    // Deadline reminders and escalations; each notice is claimed in the store, so a
    // restart or a second node does not send it again.
    let notices = app.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            every.tick().await;
            match notices.send_deadline_notices().await {
                Ok((0, 0)) => {}
                Ok((reminders, escalations)) => {
                    tracing::info!(reminders, escalations, "deadline notices sent");
                }
                Err(e) => tracing::warn!(error = %e, "deadline notices failed"),
            }
            match notices.send_share_review_reminders().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(reminders = n, "share review reminders sent"),
                Err(e) => tracing::warn!(error = %e, "share review reminders failed"),
            }
        }
    });
    app.clone()
        .spawn_usage_refresh(std::time::Duration::from_secs(60));
    app.clone()
        .spawn_sandbox_retention(std::time::Duration::from_secs(3600));
    // Harvest sources due are claimed on their row, so one node runs each.
    app.clone()
        .spawn_harvest_scheduler(std::time::Duration::from_secs(
            args.harvest_check_secs.max(1),
        ));
    // Nodes sharing a database keep their own search index in step with the others'
    // changes through the catalog's change feed.
    if args.data.database_url.is_some() {
        app.clone()
            .spawn_search_follower(std::time::Duration::from_secs(1));
    }
    // A member platform pushes only what changed; enrolled or not, the task is cheap.
    app.clone()
        .spawn_federation_sync(std::time::Duration::from_secs(
            args.federation_sync_secs.max(1),
        ));
    // The monitoring rules read what the audit log gained every half minute.
    app.clone()
        .spawn_monitor(std::time::Duration::from_secs(30));
    // A quiet log is still signed within a minute of its last entry.
    app.clone()
        .spawn_audit_checkpoints(std::time::Duration::from_secs(
            args.audit_checkpoint_secs.max(1),
        ));
    // E-mail and webhooks: claimed per notification in the store, so several nodes can
    // run this side by side.
    let delivery = app.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            every.tick().await;
            match delivery.deliver_notifications().await {
                Ok((0, 0)) => {}
                Ok((sent, failed)) => tracing::info!(sent, failed, "notifications delivered"),
                Err(e) => tracing::warn!(error = %e, "notification delivery failed"),
            }
        }
    });
    // Encryption at rest: a sweep at start and every hour brings stored files to the
    // active key; a rotation (the API, or SIGHUP after editing the key file) and grading
    // an entry up start one at once.
    let sweeps = app.clone();
    tokio::spawn(async move {
        sweeps
            .run_seal_sweeps(std::time::Duration::from_secs(3600))
            .await;
    });
    #[cfg(unix)]
    {
        let reload = app.clone();
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    if let Err(e) = reload.reload_at_rest_keys(None).await {
                        tracing::error!(error = %e.message_en, "SIGHUP: the at-rest keys were not reloaded");
                    }
                }
            });
        }
    }
    gongshu_server::serve(
        listener,
        gongshu_server::router(app.clone(), config),
        shutdown_signal(),
    )
    .await?;
    // Use counted since the last write, then what was recorded since the last
    // checkpoint, are kept before the platform stops.
    app.flush_use().await;
    match app.checkpoint_audit().await {
        Ok(Some(c)) => tracing::info!(size = c.size, "audit log checkpoint signed at shutdown"),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e.message_en, "audit checkpoint at shutdown failed"),
    }
    Ok(())
}

fn read_password() -> Result<(String, bool)> {
    use std::io::IsTerminal;
    if let Ok(p) = std::env::var("GONGSHU_USER_PASSWORD") {
        return Ok((p, false));
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if !line.is_empty() {
            return Ok((line, false));
        }
    }
    Ok((gongshu_app::auth::random_secret(), true))
}

async fn open(data: &DataArgs) -> Result<gongshu_app::App> {
    let boot = Bootstrap {
        master_key: data.master_key()?,
        at_rest_keys: data.at_rest_keys(),
        tmp_dir: data.tmp_dir.clone(),
        database_url: data.database_url.clone(),
        object_store_url: data.object_store_url.clone(),
        ..Bootstrap::default()
    };
    let (app, _) = gongshu_server::open_app(&data.data_dir, &boot).await?;
    Ok(app)
}

async fn audit_verify(public_key: Option<String>, data: DataArgs) -> Result<()> {
    use gongshu_app::gongshu_audit::VerifyingKey;
    let app = open(&data).await?;
    let key = match public_key {
        Some(hex_key) => {
            let bytes = hex::decode(hex_key.trim())
                .context("--public-key is hexadecimal, as /api/v1/audit/checkpoint publishes it")?;
            VerifyingKey::from_bytes(&bytes).context(
                "--public-key is not an Ed25519 (64 hexadecimal digits) or SM2 (130 hexadecimal digits) key",
            )?
        }
        None if data.master_key()?.is_some() => app
            .audit_verifying_key_of_log()
            .await
            .map_err(|e| anyhow::anyhow!(e.message_en))?,
        None => anyhow::bail!(
            "give --public-key (as /api/v1/audit/checkpoint publishes it) or the master key \
             (--key-file or GONGSHU_MASTER_KEY) the checkpoints were signed with"
        ),
    };
    let result = app
        .verify_audit(&key)
        .await
        .map_err(|e| anyhow::anyhow!(e.message_en))?;
    match result {
        Ok(v) => {
            println!(
                "audit log verified: {} entries, {} signed checkpoints, {} entries after the last checkpoint",
                v.entries, v.checkpoints, v.unsigned_tail
            );
            Ok(())
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("audit log: {p}");
            }
            anyhow::bail!(
                "the audit log failed verification ({} problems)",
                problems.len()
            )
        }
    }
}

async fn user(cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::Add {
            username,
            display_name,
            data,
        } => {
            let app = open(&data).await?;
            let (password, generated) = read_password()?;
            let user = app
                .create_user_unchecked(gongshu_app::directory::NewUserInput {
                    username,
                    display_name,
                    password: password.clone(),
                    kind: gongshu_core::types::UserKind::Staff,
                })
                .await
                .map_err(explain)?;
            println!("created user {} (id {})", user.username, user.id);
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Passwd { username, data } => {
            let app = open(&data).await?;
            let user = app.user_by_name(&username).await.map_err(explain)?;
            let (password, generated) = read_password()?;
            app.set_password(user.id, &password)
                .await
                .map_err(explain)?;
            println!(
                "password of {} changed; its sessions and tokens are revoked",
                user.username
            );
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Grant {
            username,
            role,
            org,
            region,
            data,
        } => {
            let Some(role) = Role::parse(&role) else {
                bail!(
                    "unknown role {role:?}; expected one of {}",
                    Role::expected()
                );
            };
            let app = open(&data).await?;
            let user = app.user_by_name(&username).await.map_err(explain)?;
            app.grant_role(None, user.id, role, org, region)
                .await
                .map_err(explain)?;
            println!("granted {role} to {}", user.username);
        }
    }
    Ok(())
}

async fn calendar(cmd: CalendarCommand) -> Result<()> {
    match cmd {
        CalendarCommand::Import { file, reason, data } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let schedule: gongshu_core::calendar::YearSchedule = serde_json::from_str(&text)
                .with_context(|| {
                    format!(
                        "{} is not a holiday notice in holiday-cn's shape",
                        file.display()
                    )
                })?;
            let app = open(&data).await?;
            let operator = std::env::var("USER").unwrap_or_else(|_| "operator".into());
            let view = app
                .import_calendar_year(&operator, schedule, &reason)
                .await
                .map_err(explain)?;
            println!(
                "{}: {} rest days, {} make-up working days",
                view.year, view.rest_days, view.make_up_days
            );
            Ok(())
        }
        CalendarCommand::Deadline { start, days, data } => {
            let app = open(&data).await?;
            let d = app.deadline(start, days).await.map_err(explain)?;
            println!(
                "{}{}",
                d.deadline,
                if d.provisional {
                    "  (provisional: a year on the way has no holiday notice yet)"
                } else {
                    ""
                }
            );
            Ok(())
        }
    }
}

/// A use case's refusal, with every field it names, for the operator.
fn explain(e: gongshu_core::Error) -> anyhow::Error {
    let mut text = e.message_en.clone();
    for f in &e.fields {
        text.push_str(&format!("\n  {}: {}", f.field, f.message_en));
    }
    anyhow::anyhow!(text)
}

async fn import(args: ImportArgs) -> Result<()> {
    use gongshu_app::data::{OnReject, Upload, Uploader};
    let app = open(&args.data).await?;
    let dataset_id = match args.dataset.parse::<i64>() {
        Ok(id) => id,
        Err(_) => app
            .store
            .get_published_by_code(&args.dataset)
            .await?
            .map(|d| d.id)
            .ok_or_else(|| anyhow::anyhow!("no published entry with code {}", args.dataset))?,
    };
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload".into());
    let size = std::fs::metadata(&args.file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?
        .len();
    if size > app.data.upload_limit {
        bail!(
            "the file is larger than the upload limit ({} bytes)",
            app.data.upload_limit
        );
    }
    let operator = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    let uploader = Uploader::Operator(&operator);
    let upload = Upload {
        file: args.file.clone(),
        temp: None,
        file_name,
        name: args.name.clone(),
        resource_id: args.resource.clone(),
        sheet: args.sheet.clone(),
        on_reject: if args.publish_with_rejections {
            OnReject::Publish
        } else {
            OnReject::Hold
        },
    };
    let job = app
        .start_upload(uploader, dataset_id, &upload)
        .await
        .map_err(explain)?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let progress_bar = bar.clone();
    let progress: std::sync::Arc<dyn Fn(u64, u64) + Send + Sync> =
        std::sync::Arc::new(move |rows, rejected| {
            let rate = rows as f64 / started.elapsed().as_secs_f64().max(0.001);
            progress_bar.set_message(format!(
                "{rows} rows read, {rejected} rejected ({rate:.0} rows/s)"
            ));
        });
    let job = app
        .run_upload(job, upload, uploader.label(), Some(progress))
        .await;
    bar.finish_and_clear();
    let view = gongshu_app::App::job_view(&job);
    let resource = app.store.get_resource(&view.resource_id).await?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let out = serde_json::json!({
            "job_id": view.id,
            "state": view.state,
            "resource_id": view.resource_id,
            "table_name": resource.as_ref().map(|r| r.table_name.clone()),
            "version": view.version,
            "rows": view.rows_read,
            "rejected": view.rows_rejected,
            "rejected_rows": view.rejected.iter().take(100).collect::<Vec<_>>(),
            "source": view.source,
            "personal_columns": view.personal_columns,
            "timings": view.timings,
            "error": view.error,
            "seconds": seconds,
        });
        println!("{out}");
    } else {
        println!(
            "{}: resource {} version {} — {} rows, {} rejected, {:.1} s ({})",
            view.state,
            view.resource_id,
            view.version.map_or("-".into(), |v| v.to_string()),
            view.rows_read,
            view.rows_rejected,
            seconds,
            view.source.as_deref().unwrap_or("")
        );
        for r in view.rejected.iter().take(20) {
            println!("  line {}: {}", r.line, r.reason);
        }
        if let Some(e) = &view.error {
            println!("error: {e}");
        }
    }
    match view.state.as_str() {
        "succeeded" => Ok(()),
        "needs_decision" => bail!(
            "rows were rejected, so version {} was stored but not published: fix the file, or \
             publish it with POST /api/v1/jobs/{}/publish, or import again with \
             --publish-with-rejections",
            view.version.unwrap_or_default(),
            view.id
        ),
        _ => bail!("the import failed"),
    }
}

fn main() -> Result<()> {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches)?;
    apply_file(&mut cli, &matches)?;
    init_logging(&cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(*args).await,
            Command::Migrate(data) => {
                open(&data).await?;
                println!(
                    "metadata store at {} is up to date",
                    data.data_dir.display()
                );
                Ok(())
            }
            Command::Reindex(data) => {
                let app = open(&data).await?;
                let n = app
                    .rebuild_search()
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message_en))?;
                println!("search index rebuilt: {n} published entries");
                Ok(())
            }
            Command::User(cmd) => user(cmd).await,
            Command::Import(args) => import(args).await,
            Command::Calendar(cmd) => calendar(cmd).await,
            Command::Audit(AuditCommand::Verify { public_key, data }) => {
                audit_verify(public_key, data).await
            }
            Command::Backup { dest, data } => {
                let app = open(&data).await?;
                let m = app
                    .backup(&dest)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message_en))?;
                let bytes: u64 = m.objects.iter().map(|o| o.bytes).sum::<u64>() + m.database.bytes;
                println!(
                    "backup written to {}: database and {} stored objects, {} bytes; audit log {} entries, signed head {} at size {}",
                    dest.display(),
                    m.objects.len(),
                    bytes,
                    m.audit_entries,
                    m.audit_checkpoint_root,
                    m.audit_checkpoint_size
                );
                Ok(())
            }
            Command::Restore { src, data } => {
                let m = gongshu_app::backup::restore(&src, &data.data_dir)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message_en))?;
                // Opening brings the database up to this release's schema.
                open(&data).await?;
                println!(
                    "restored {} (taken {}): database and {} stored objects into {}; check the audit log with `gongshu audit verify`",
                    src.display(),
                    m.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    m.objects.len(),
                    data.data_dir.display()
                );
                Ok(())
            }
            Command::Openapi => {
                println!("{}", gongshu_server::openapi_json());
                Ok(())
            }
        }
    })
}

fn parse_profile(s: &str) -> Result<gongshu_core::disclosure::ProfileName, String> {
    gongshu_core::disclosure::ProfileName::parse(s.trim())
        .ok_or_else(|| format!("{s:?}: expected standard or strict"))
}
