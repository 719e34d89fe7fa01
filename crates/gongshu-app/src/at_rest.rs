//! Encryption at rest of important and core data (数据安全法 §21, §27; requirements
//! R6.1): which resources are sealed, the keys they are sealed with, and the sweep that
//! brings every stored file to the active key — after a rotation, after an entry is
//! graded up, and at start — while the platform keeps serving.

use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use gongshu_core::authz::Principal;
use gongshu_core::catalog::DatasetDraft;
use gongshu_core::types::{Grade, Role};
use gongshu_core::{Error, ErrorCode};
use gongshu_data::sealed::{Census, Keyring};
use gongshu_store::{DatasetRow, NewEvent, WorkingQuery};
use serde::Serialize;

use crate::{App, Result, store_error};

/// Where the keyring comes from: re-read on every rotation, so a rotation is "edit the
/// file, then ask the platform to re-read it".
#[derive(Debug, Clone)]
pub enum KeySource {
    File(PathBuf),
    /// The key file's text itself, from the environment; it cannot change while the
    /// process runs, so rotating needs a restart with the new text.
    Text(String),
}

impl KeySource {
    pub fn load(&self, data_dir: Option<&std::path::Path>) -> std::result::Result<Keyring, String> {
        match self {
            Self::File(path) => Keyring::load(path, data_dir).map_err(|e| e.to_string()),
            Self::Text(text) => Keyring::parse(text).map_err(|e| e.to_string()),
        }
    }
}

/// What the last sweep did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SweepReport {
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Resources whose files were looked at.
    pub resources: u64,
    /// Files rewritten under the active key.
    pub rewritten: u64,
    /// Files that could not be rewritten, with why (they stay as they were).
    pub errors: Vec<String>,
}

#[derive(Debug, Default)]
pub struct AtRest {
    source: Option<KeySource>,
    data_dir: Option<PathBuf>,
    last: Mutex<SweepReport>,
    /// One sweep at a time in this process; a second waits for the first, then goes
    /// round again with what changed meanwhile.
    sweeping: tokio::sync::Mutex<()>,
}

impl AtRest {
    /// Loads the keyring now, so that a wrong key file stops the start instead of the
    /// first upload of important data.
    pub fn new(
        source: Option<KeySource>,
        data_dir: Option<PathBuf>,
        sealed: &gongshu_data::sealed::SealedStore,
    ) -> std::result::Result<Self, String> {
        let keyring = match &source {
            Some(s) => Some(s.load(data_dir.as_deref())?),
            None => None,
        };
        sealed.set_keyring(keyring);
        Ok(Self {
            source,
            data_dir,
            ..Self::default()
        })
    }

    pub fn configured(&self) -> bool {
        self.source.is_some()
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AtRestView {
    /// Whether a keyring is configured; without one, important data cannot be stored.
    pub configured: bool,
    pub active_key: Option<String>,
    /// `aes-256-gcm` or `sm4-gcm`.
    pub algorithm: Option<String>,
    pub key_ids: Vec<String>,
    /// Stored files by the key that seals them (`plain` counts files in the clear: data
    /// of general grades, manifests).
    #[schema(value_type = Object)]
    pub census: Census,
    pub last_sweep: SweepReport,
    pub sweeping: bool,
}

/// The grades whose data is sealed.
fn sealed_grade(g: Grade) -> bool {
    g >= Grade::Important
}

/// Whether an entry (or one of its data items) is graded important or core.
pub(crate) fn holds_important_data(doc: &DatasetDraft) -> bool {
    sealed_grade(doc.grade) || doc.items.iter().any(|i| sealed_grade(i.grade))
}

impl App {
    pub(crate) fn at_rest(&self) -> &AtRest {
        &self.data.at_rest
    }

    /// Whether files of this entry's resources must be sealed, and if so that they can
    /// be: storing important data in the clear is refused, not done quietly.
    pub(crate) async fn seal_for(&self, dataset: &DatasetRow) -> Result<bool> {
        // The working copy or what the public sees: either graded up is enough.
        let mut important = holds_important_data(&dataset.doc);
        if !important
            && let Some(p) = self
                .store
                .get_published(dataset.id)
                .await
                .map_err(store_error)?
        {
            important = holds_important_data(&p.doc);
        }
        if important && self.data.versions.sealed().keyring().is_none() {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "该目录为重要数据，须加密存储，但平台未配置静态加密密钥（--at-rest-keys），请联系系统管理员",
                "This entry holds important data, which must be encrypted at rest, and no at-rest key is configured (--at-rest-keys); ask the system administrator",
            ));
        }
        Ok(important)
    }

    /// Before an entry is graded up to important or core: its stored files will be
    /// sealed by the sweep, which needs a key. Refused without one, rather than leave
    /// important data in the clear.
    pub(crate) async fn check_grading_up(
        &self,
        before: &DatasetRow,
        after: &DatasetDraft,
    ) -> Result<bool> {
        let up = holds_important_data(after) && !holds_important_data(&before.doc);
        if up
            && self.data.versions.sealed().keyring().is_none()
            && !self
                .store
                .list_resources(before.id)
                .await
                .map_err(store_error)?
                .is_empty()
        {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "定为重要数据后，已存数据须加密存储，但平台未配置静态加密密钥（--at-rest-keys），请联系系统管理员",
                "Graded important, the stored data must be encrypted at rest, and no at-rest key is configured (--at-rest-keys); ask the system administrator",
            ));
        }
        Ok(up)
    }

    /// Re-reads the keyring and sweeps every stored file to its active key, in the
    /// background: the system administrator's rotation, without a restart.
    pub async fn rotate_at_rest_keys(&self, caller: &Principal) -> Result<AtRestView> {
        if !caller.has_role(Role::SystemAdmin) {
            return Err(Error::forbidden());
        }
        self.reload_at_rest_keys(Some(caller.user_id)).await?;
        self.at_rest_view(caller).await
    }

    /// The rotation itself, also run on SIGHUP (`actor` none): the keyring is replaced
    /// only if the file reads as a whole, so a half-edited file changes nothing.
    pub async fn reload_at_rest_keys(&self, actor: Option<i64>) -> Result<()> {
        let at_rest = self.at_rest();
        let Some(source) = &at_rest.source else {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "平台未配置静态加密密钥文件",
                "No at-rest key file is configured",
            ));
        };
        let keyring = source.load(at_rest.data_dir.as_deref()).map_err(|e| {
            Error::new(
                ErrorCode::Validation,
                format!("密钥文件无效：{e}"),
                format!("The key file is not valid: {e}"),
            )
        })?;
        let active = keyring.active().id().to_owned();
        let ids: Vec<String> = keyring.ids().map(str::to_owned).collect();
        self.data.versions.sealed().set_keyring(Some(keyring));
        let detail = serde_json::json!({ "active": active, "keys": ids }).to_string();
        self.store
            .insert_event(&NewEvent {
                at: self.now(),
                actor_id: actor,
                object_type: "at_rest_keys",
                object_id: "platform",
                action: "rotated",
                reason: "",
                detail,
            })
            .await
            .map_err(store_error)?;
        // Through the API the request is audited; a signal has no request.
        if actor.is_none() {
            self.audit_system("at_rest.keys_reloaded", format!("key:{active}"), None)
                .await;
        }
        tracing::info!(active = %active, "at-rest keyring re-read; re-sealing in the background");
        self.start_seal_sweep();
        Ok(())
    }

    /// The keys, what each seals and the last sweep: for the system administrator and
    /// auditors.
    pub async fn at_rest_view(&self, caller: &Principal) -> Result<AtRestView> {
        let auditor = caller.grants.iter().any(|g| g.role == Role::Auditor);
        if !(caller.has_role(Role::SystemAdmin) || auditor) {
            return Err(Error::forbidden());
        }
        let sealed = self.data.versions.sealed();
        let keyring = sealed.keyring();
        let census = sealed
            .census(&gongshu_data::ObjectPath::from("resources"))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "counting sealed files");
                Error::internal()
            })?;
        let at_rest = self.at_rest();
        Ok(AtRestView {
            configured: keyring.is_some(),
            active_key: keyring.as_ref().map(|k| k.active().id().to_owned()),
            algorithm: keyring
                .as_ref()
                .map(|k| k.active().algorithm().label().to_owned()),
            key_ids: keyring
                .as_ref()
                .map(|k| k.ids().map(str::to_owned).collect())
                .unwrap_or_default(),
            census,
            last_sweep: at_rest
                .last
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            sweeping: at_rest.sweeping.try_lock().is_err(),
        })
    }

    /// Brings every stored file to the active key: all files of entries graded
    /// important or core, and files of other entries that are sealed under an older key
    /// (once sealed, a file stays sealed). One file failing does not stop the others.
    pub async fn seal_sweep(&self) -> Result<SweepReport> {
        let at_rest = self.at_rest();
        let _one = at_rest.sweeping.lock().await;
        let mut report = SweepReport {
            started_at: Some(self.now()),
            ..SweepReport::default()
        };
        if self.data.versions.sealed().keyring().is_none() {
            report.finished_at = Some(self.now());
            return Ok(report);
        }
        let mut offset = 0;
        loop {
            let page = self
                .store
                .list_working(&WorkingQuery {
                    provider_ids: Vec::new(),
                    region_prefixes: vec![String::new()],
                    status: None,
                    limit: 200,
                    offset,
                })
                .await
                .map_err(store_error)?;
            let n = page.items.len() as i64;
            for dataset in page.items {
                let important = match self.seal_for(&dataset).await {
                    Ok(v) => v,
                    Err(e) => {
                        report
                            .errors
                            .push(format!("{}: {}", dataset.code, e.message_en));
                        continue;
                    }
                };
                let resources = self
                    .store
                    .list_resources(dataset.id)
                    .await
                    .map_err(store_error)?;
                for r in resources {
                    report.resources += 1;
                    match self.data.versions.reseal_resource(&r.id, important).await {
                        Ok(k) => report.rewritten += k,
                        Err(e) => {
                            tracing::error!(resource = %r.id, error = %e, "re-sealing failed");
                            report.errors.push(format!("{}: {e}", r.id));
                        }
                    }
                }
            }
            if n < 200 {
                break;
            }
            offset += n;
        }
        report.finished_at = Some(self.now());
        // Files rewritten under another key change what a stolen disk would reveal.
        if report.rewritten > 0 || !report.errors.is_empty() {
            self.audit_system(
                "at_rest.sweep",
                format!("files:{}:errors:{}", report.rewritten, report.errors.len()),
                None,
            )
            .await;
        }
        *at_rest.last.lock().unwrap_or_else(|e| e.into_inner()) = report.clone();
        Ok(report)
    }

    /// A sweep in the background, now: after a rotation or a grading up.
    pub(crate) fn start_seal_sweep(&self) {
        let app = self.clone();
        tokio::spawn(async move {
            if let Err(e) = app.seal_sweep().await {
                tracing::warn!(error = %e, "at-rest sweep failed");
            }
        });
    }

    /// Runs sweeps for as long as the process lives: at start, then every `every`, to
    /// catch what a sweep started by an event missed (a node that was down).
    pub async fn run_seal_sweeps(&self, every: std::time::Duration) {
        loop {
            match self.seal_sweep().await {
                Ok(r) if r.rewritten > 0 || !r.errors.is_empty() => tracing::info!(
                    rewritten = r.rewritten,
                    errors = r.errors.len(),
                    "at-rest sweep done"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "at-rest sweep failed"),
            }
            tokio::time::sleep(every).await;
        }
    }
}
