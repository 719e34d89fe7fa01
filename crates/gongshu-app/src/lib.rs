//! Gongshu's use cases: what a person can do on the platform, whoever calls it (the HTTP
//! server or the CLI). Each use case asks the rules in `gongshu-core` and then the store;
//! it knows nothing of HTTP.

pub mod applications;
pub mod at_rest;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod calendar;
pub mod catalog;
pub(crate) mod catalog_cache;
pub mod catalog_updates;
pub mod changes;
pub mod data;
pub mod dcat;
pub mod delivery;
pub mod demo;
pub mod directory;
pub mod evaluation;
pub mod federation;
pub mod feedback;
pub mod grant_use;
pub mod grants;
pub mod harvest;
pub mod incidents;
pub mod links;
pub mod models;
pub mod monitor;
pub mod policies;
pub mod privacy;
pub mod protection;
pub mod quality;
pub mod reuse;
pub mod sandbox;
pub mod search;
pub mod sources;
pub mod sso;
pub mod throttle;
pub mod verification;
pub mod views;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gongshu_core::Error;
use gongshu_store::{Store, StoreError};

pub use gongshu_audit;
pub use gongshu_core;
pub use gongshu_search;
pub use gongshu_store;

/// Everything a use case needs: the store and the province's policies.
#[derive(Debug, Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub settings: Settings,
    /// Bounds concurrent password verifications: each argon2id run takes ~19 MiB and a
    /// core, so a flood of logins must queue instead of exhausting the machine.
    pub(crate) hashing: Arc<tokio::sync::Semaphore>,
    pub data: data::DataPlane,
    /// The catalog search index, derived from the store.
    pub search: Arc<gongshu_search::SearchIndex>,
    /// Entries used since their place in the index was last refreshed: their download
    /// counts (an ordering and the home page's "most used") are brought in periodically,
    /// not on every download.
    pub(crate) used_since_indexed: Arc<std::sync::Mutex<std::collections::BTreeSet<i64>>>,
    /// Use counted since the last write to the store: (entry, day) → (downloads, calls).
    pub(crate) pending_use: Arc<std::sync::Mutex<PendingUse>>,
    /// Held while counted use moves from memory to the store, so that no reader sees it
    /// in neither.
    pub(crate) use_flush: Arc<tokio::sync::Mutex<()>>,
    /// The audit log's key and proof tree.
    pub(crate) audit: Arc<audit::AuditState>,
    /// The monitoring rules' windows, and one run at a time.
    pub(crate) detector: monitor::SharedDetector,
    pub(crate) monitor: Arc<tokio::sync::Mutex<()>>,
    /// Sign-ins under way through the identity provider.
    pub(crate) sso: Arc<sso::SsoState>,
    /// The catalog generation the last push to the province saw, and how many pushes
    /// were skipped since (a federation member).
    pub(crate) pushed_generation: Arc<std::sync::Mutex<(i64, u32)>>,
    /// The gate's catalog reads, kept while the store's catalog generation stands.
    pub(crate) catalog_cache: Arc<catalog_cache::CatalogCache>,
    /// Sandbox queries running in the background on this node, to cancel them.
    pub(crate) sandbox_jobs: sandbox::Jobs,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub session_ttl: chrono::Duration,
    pub token_ttl: chrono::Duration,
    /// The platform's public address, for citations (SD-OPEN §15); relative when unset.
    pub public_url: String,
    /// Applications for conditionally open data pass the authority's formal check first.
    pub formal_check: bool,
    /// Working days for the formal check (鲁数发〔2025〕1号: 5).
    pub formal_check_days: u32,
    /// Working days for the provider's decision (鲁数发〔2025〕1号: 10).
    pub decision_days: u32,
    /// Working days before a deadline at which the one who must act is reminded.
    pub remind_days: u32,
    /// Sharing requests go through the authority, which forwards them to the provider
    /// (SD-EGOV §23 lets a region choose); otherwise straight to the provider.
    pub share_via_authority: bool,
    /// The mail server for e-mail notifications; none sends no e-mail.
    pub smtp: Option<delivery::SmtpSettings>,
    /// Working days a provider has to answer an objection or a demand (10 by default).
    pub feedback_days: u32,
    /// The disclosure control applied to sandbox results (`standard` by default).
    pub disclosure_profile: gongshu_core::disclosure::ProfileName,
    /// Days a sandbox result is kept before its figures are dropped (90 by default);
    /// the record of the query and the audited hash stay.
    pub sandbox_retention_days: u32,
    /// Calendar days between re-evaluations of a 有条件共享 entry (SX-BIGDATA §28).
    pub share_review_days: u32,
    /// The key every per-dataset secret is derived from (pseudonyms, format-preserving
    /// encryption); it lives outside the data directory.
    pub master_key: MasterKey,
    /// The audit log's hash: SHA-256, or SM3 (国密) by configuration. A log keeps the
    /// hash it was started with.
    pub audit_hash: gongshu_audit::HashAlg,
    /// How checkpoints are signed: Ed25519, or SM2 (国密) by configuration. Choose it when
    /// the log starts: checkpoints signed before a change verify with the earlier key.
    pub audit_signature: gongshu_audit::SigAlg,
    /// A signed checkpoint every this many audit entries (and every minute).
    pub audit_checkpoint_entries: u64,
    /// The monitoring rules' thresholds.
    pub monitor: monitor::Thresholds,
    /// Single sign-on through the province's identity system; none keeps local sign-in
    /// only.
    pub sso: Option<sso::SsoSettings>,
}

/// The platform's master key. Per-dataset keys are derived from it with HMAC-SHA-256 and
/// a label, so no dataset secret is ever stored, and datasets do not link to one another.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key for this process only: what it derives does not survive a restart.
    pub fn ephemeral() -> Self {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        Self(bytes)
    }

    /// Reads a key written as 64 hex digits or as base64 of 32 bytes.
    pub fn parse(text: &str) -> Option<Self> {
        use base64::Engine as _;
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())?;
        bytes.try_into().ok().map(Self)
    }

    pub(crate) fn derive(&self, label: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Names the key without revealing it, so that what one key derived is never taken
    /// for what another would.
    pub(crate) fn fingerprint(&self) -> String {
        hex::encode(&self.derive("gongshu/fingerprint/v1")[..4])
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_ttl: chrono::Duration::hours(8),
            token_ttl: chrono::Duration::days(30),
            public_url: String::new(),
            formal_check: true,
            formal_check_days: 5,
            decision_days: 10,
            remind_days: 2,
            share_via_authority: false,
            share_review_days: 365,
            feedback_days: 10,
            disclosure_profile: gongshu_core::disclosure::ProfileName::Standard,
            sandbox_retention_days: 90,
            smtp: None,
            master_key: MasterKey::ephemeral(),
            audit_hash: gongshu_audit::HashAlg::Sha256,
            audit_signature: gongshu_audit::SigAlg::Ed25519,
            audit_checkpoint_entries: 1000,
            monitor: monitor::Thresholds::default(),
            sso: None,
        }
    }
}

type PendingUse = std::collections::HashMap<(i64, chrono::NaiveDate), (i64, i64)>;

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        settings: Settings,
        data: data::DataPlane,
        search: Arc<gongshu_search::SearchIndex>,
    ) -> Self {
        Self {
            data,
            search,
            store,
            hashing: Arc::new(tokio::sync::Semaphore::new(4)),
            used_since_indexed: Arc::default(),
            pending_use: Arc::default(),
            use_flush: Arc::default(),
            detector: Arc::new(std::sync::Mutex::new(monitor::Detector::new(
                settings.monitor.clone(),
            ))),
            monitor: Arc::default(),
            sso: Arc::default(),
            pushed_generation: Arc::new(std::sync::Mutex::new((-1, 0))),
            catalog_cache: Arc::default(),
            sandbox_jobs: Arc::default(),
            audit: Arc::new(audit::AuditState::new(
                &settings.master_key,
                &settings.public_url,
                (settings.audit_hash, settings.audit_signature),
                settings.audit_checkpoint_entries,
            )),
            settings,
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The reason an editor of a rule or setting must give: present, at most 2000 characters.
pub(crate) fn missing_reason(reason: &str) -> Option<gongshu_core::FieldError> {
    let reason = reason.trim();
    (reason.is_empty() || reason.chars().count() > 2000).then(|| {
        gongshu_core::FieldError::new(
            "reason",
            "required",
            "请说明理由（不超过2000字）",
            "State the reason (at most 2000 characters)",
        )
    })
}

/// Maps a store failure to what a user may be told; the details of a backend failure are
/// logged here and never shown.
pub(crate) fn store_error(e: StoreError) -> Error {
    use gongshu_core::ErrorCode;
    match e {
        StoreError::NotFound => Error::not_found("记录", "Record"),
        StoreError::VersionConflict => Error::version_conflict(),
        StoreError::SequenceExhausted => Error::new(
            ErrorCode::InvalidState,
            "该分类的六位顺序码已用尽，请使用新的分类",
            "Every sequence number of this category is taken; use another category",
        ),
        StoreError::Duplicate(what) => Error::new(
            ErrorCode::Duplicate,
            format!("已存在相同的{}", duplicate_zh(what)),
            format!("A record with the same {what} already exists"),
        ),
        other => {
            tracing::error!(error = %other, "store failure");
            Error::internal()
        }
    }
}

/// The code prefix that selects a region and everything below it, for list filters; a
/// malformed code is a validation error rather than an empty list.
pub fn region_prefix(code: &str) -> Result<String> {
    gongshu_core::region::RegionCode::parse(code)
        .map(|r| r.prefix().to_owned())
        .ok_or_else(|| {
            Error::validation(vec![gongshu_core::FieldError::new(
                "region",
                "format",
                "行政区划代码无效",
                "invalid region code (GB/T 2260)",
            )])
        })
}

fn duplicate_zh(what: &str) -> &'static str {
    match what {
        "code" => "信息资源代码",
        "username" => "用户名",
        "credit_code" => "统一社会信用代码",
        "role grant" => "角色授权",
        _ => "记录",
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
