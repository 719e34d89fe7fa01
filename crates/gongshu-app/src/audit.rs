//! The audit log as the platform keeps it: entries appended as things happen, signed
//! checkpoints every so many entries or seconds, proofs for auditors, and the entries
//! themselves for the auditors and providers entitled to them.
//!
//! The signing key is derived from the master key, so it is never stored and survives a
//! restart; its public half is published with every checkpoint.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use gongshu_audit::{Checkpoint, CompactRange, Entry, HashAlg, MerkleTree, SigningKey};
use gongshu_core::authz::{self, Principal};
use gongshu_core::types::Role;
use gongshu_core::{Error, ErrorCode};
use gongshu_store::{AuditCheckpointRow, AuditQuery, Page};
use serde::Serialize;

use crate::{App, MasterKey, Result, store_error};

/// What the platform keeps of the log besides the store: its key, and a copy of the tree
/// for proofs, brought up to date when asked.
#[derive(Debug)]
pub struct AuditState {
    key: SigningKey,
    /// The key of the client-address pseudonyms, derived once.
    client_key: [u8; 32],
    origin: String,
    alg: HashAlg,
    /// A checkpoint every this many entries (and by the clock; see `spawn_checkpoints`).
    every: u64,
    /// Serialises checkpointing, and holds the tree proofs are made from (loaded at the
    /// first proof asked for: 64 bytes per entry).
    tree: tokio::sync::Mutex<Option<MerkleTree>>,
    checkpointing: tokio::sync::Mutex<()>,
    /// Entries waiting to be written, each with who waits for its number: concurrent
    /// requests share one transaction (group commit) instead of one each.
    queue: tokio::sync::Mutex<Vec<Queued>>,
}

type Queued = (
    String,
    tokio::sync::oneshot::Sender<std::result::Result<i64, String>>,
);

/// At most this many entries in one transaction.
const GROUP: usize = 512;

/// The checkpoint key of an algorithm, derived from the master key: never stored.
fn checkpoint_key(master: &MasterKey, sig: gongshu_audit::SigAlg) -> SigningKey {
    let label = match sig {
        gongshu_audit::SigAlg::Ed25519 => "gongshu/audit-checkpoint/ed25519/v1",
        gongshu_audit::SigAlg::Sm2 => "gongshu/audit-checkpoint/sm2/v1",
    };
    SigningKey::derive(sig, &master.derive(label))
}

impl AuditState {
    pub fn new(
        master: &MasterKey,
        origin: &str,
        (alg, sig): (HashAlg, gongshu_audit::SigAlg),
        every: u64,
    ) -> Self {
        Self {
            key: checkpoint_key(master, sig),
            client_key: master.derive("gongshu/audit-client/v1"),
            origin: if origin.is_empty() {
                "gongshu".to_owned()
            } else {
                origin.to_owned()
            },
            alg,
            every: every.max(1),
            tree: tokio::sync::Mutex::new(None),
            checkpointing: tokio::sync::Mutex::new(()),
            queue: tokio::sync::Mutex::new(Vec::new()),
        }
    }

    /// The public key that verifies the checkpoints, hex.
    pub fn public_key(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }
}

/// One thing to record. The app fills in the time; the server the request's facts.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    pub action: String,
    pub object: String,
    pub dataset: Option<i64>,
    pub grant: Option<i64>,
    pub outcome: &'static str,
    pub status: Option<u16>,
    /// The client's address, pseudonymised before it is written.
    pub client_addr: Option<std::net::IpAddr>,
    pub request_id: Option<String>,
}

/// A checkpoint as published: the signed statement, and the key that verifies it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckpointView {
    pub origin: String,
    pub size: u64,
    /// The tree head, hex.
    pub root: String,
    pub time: i64,
    /// `sha256` or `sm3`.
    pub hash: String,
    pub key_id: String,
    /// `ed25519` or `sm2` (国密 SM2, GB/T 32918.2, identity `1234567812345678`).
    pub sig: String,
    /// The signature over `body`, base64 (SM2: r ‖ s, 64 bytes).
    pub signature: String,
    /// The signed text: origin, size, base64 head, `time …`, `hash …` (and `sig sm2`),
    /// one per line.
    pub body: String,
    /// The public key, hex: 32 bytes for Ed25519, the 65-byte uncompressed point for SM2.
    pub public_key: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProofView {
    /// The leaf's index (entry number − 1) or the first tree's size.
    pub from: u64,
    pub size: u64,
    /// The leaf hash, for an inclusion proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf: Option<String>,
    /// Hashes, hex, in RFC 9162 order.
    pub proof: Vec<String>,
    pub hash: String,
}

/// An entry as an auditor reads it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    pub seq: i64,
    #[schema(value_type = Object)]
    pub entry: serde_json::Value,
}

fn view(c: &Checkpoint, public_key: String) -> CheckpointView {
    CheckpointView {
        origin: c.origin.clone(),
        size: c.size,
        root: c.root.clone(),
        time: c.time,
        hash: c.hash.name().to_owned(),
        key_id: c.key_id.clone(),
        sig: c.sig.name().to_owned(),
        signature: c.signature.clone(),
        body: c.body(),
        public_key,
    }
}

fn corrupt(what: &str) -> Error {
    tracing::error!(what, "the audit log's stored form is not readable");
    Error::internal()
}

/// UTC with milliseconds, as every entry writes its time.
pub fn audit_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl App {
    fn audit_state(&self) -> &Arc<AuditState> {
        &self.audit
    }

    /// The key that verifies this platform's checkpoints.
    pub fn audit_verifying_key(&self) -> gongshu_audit::VerifyingKey {
        self.audit_state().key.verifying_key()
    }

    /// The key that verifies the log's stored checkpoints, derived from the master key
    /// for the algorithm its latest checkpoint was signed with (the configured one when
    /// there is none yet).
    pub async fn audit_verifying_key_of_log(&self) -> Result<gongshu_audit::VerifyingKey> {
        let latest = self
            .store
            .audit_checkpoints()
            .await
            .map_err(store_error)?
            .last()
            .map(|row| serde_json::from_str::<Checkpoint>(&row.checkpoint))
            .transpose()
            .map_err(|_| corrupt("checkpoint"))?;
        let sig = latest.map_or(self.settings.audit_signature, |c| c.sig);
        Ok(checkpoint_key(&self.settings.master_key, sig).verifying_key())
    }

    /// Recomputes the whole log from the store and checks it against every stored
    /// checkpoint with `key` (see `gongshu_audit::verify_log`). Entries are read in
    /// batches as the verifier walks them.
    pub async fn verify_audit(
        &self,
        key: &gongshu_audit::VerifyingKey,
    ) -> Result<std::result::Result<gongshu_audit::Verified, Vec<gongshu_audit::LogProblem>>> {
        let checkpoints: Vec<Checkpoint> = self
            .store
            .audit_checkpoints()
            .await
            .map_err(store_error)?
            .iter()
            .map(|row| serde_json::from_str(&row.checkpoint))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| corrupt("checkpoint"))?;
        let store = self.store.clone();
        let key = key.clone();
        let handle = tokio::runtime::Handle::current();
        let failed = Arc::new(std::sync::Mutex::new(None));
        let failure = failed.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut after = 0i64;
            let mut batch = std::collections::VecDeque::new();
            let entries = std::iter::from_fn(move || {
                if batch.is_empty() {
                    match handle.block_on(store.audit_entries(after, 10_000)) {
                        Ok(rows) => batch.extend(rows),
                        Err(e) => {
                            *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                            return None;
                        }
                    }
                }
                let row = batch.pop_front()?;
                after = row.seq;
                Some((row.seq as u64, row.entry.into_bytes()))
            });
            gongshu_audit::verify_log(entries, &checkpoints, &key)
        })
        .await
        .map_err(|_| Error::internal())?;
        // A log that could not be read to its end has not been verified.
        if let Some(e) = failed.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(store_error(e));
        }
        Ok(result)
    }

    /// A keyed pseudonym of a client address: the same address always gives the same
    /// one, and without the master key it cannot be turned back into the address.
    fn client_pseudonym(&self, addr: std::net::IpAddr) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.audit_state().client_key)
            .expect("HMAC takes any key");
        mac.update(addr.to_string().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..12])
    }

    /// Appends to the audit log what `caller` did. An entry that cannot be written is an
    /// error: the caller decides whether what it records may then go ahead.
    /// An event the platform produces on its own (a deadline passing, a reminder, a key
    /// sweep): no actor, no request. A scheduled task goes on when its entry cannot be
    /// written, and says so in the log; there is no response to withhold.
    pub async fn audit_system(&self, action: &str, object: String, dataset: Option<i64>) {
        let event = AuditEvent {
            action: action.to_owned(),
            object,
            dataset,
            outcome: "ok",
            ..AuditEvent::default()
        };
        if let Err(e) = self.audit(None, event).await {
            tracing::error!(action, error = %e.message_en, "a scheduled event was not audited");
        }
    }

    pub async fn audit(&self, caller: Option<&Principal>, event: AuditEvent) -> Result<i64> {
        let (role, org) = caller
            .and_then(|p| {
                p.grants
                    .iter()
                    .find(|g| g.role != Role::Registered)
                    .or(p.grants.first())
            })
            .map_or((None, None), |g| {
                (Some(g.role.as_str().to_owned()), g.org_id)
            });
        let entry = Entry {
            action: event.action,
            actor: caller.map(|p| p.user_id),
            client: event.client_addr.map(|a| self.client_pseudonym(a)),
            dataset: event.dataset,
            grant: event.grant,
            object: event.object,
            org,
            outcome: event.outcome.to_owned(),
            request: event.request_id,
            role,
            status: event.status,
            time: audit_time(self.now()),
        };
        let seq = self.append_grouped(entry.canonical()).await?;
        metrics::counter!("gongshu_audit_entries_total").increment(1);
        if (seq as u64).is_multiple_of(self.audit_state().every) {
            let app = self.clone();
            tokio::spawn(async move {
                if let Err(e) = app.checkpoint_audit().await {
                    tracing::error!(error = %e.message_en, "audit checkpoint failed");
                }
            });
        }
        Ok(seq)
    }

    /// Writes an entry and returns its number once it is committed. Entries queued
    /// together share one transaction (group commit). The writing runs in a task of its
    /// own, started by whoever finds the queue empty: a request cancelled while it waits
    /// (a client gone) must not leave the queue without a writer.
    async fn append_grouped(&self, entry: String) -> Result<i64> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let start_writer = {
            let mut queue = self.audit_state().queue.lock().await;
            queue.push((entry, tx));
            queue.len() == 1
        };
        if start_writer {
            let app = self.clone();
            tokio::spawn(async move { app.write_audit_queue().await });
        }
        match rx.await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "audit entries not written");
                Err(Error::internal())
            }
            Err(_) => Err(Error::internal()),
        }
    }

    /// Writes what is queued, a transaction per batch, until the queue is empty. A failed
    /// transaction fails all of its entries.
    async fn write_audit_queue(&self) {
        // Let the requests running alongside join the first transaction.
        tokio::task::yield_now().await;
        loop {
            let batch: Vec<Queued> = {
                let mut queue = self.audit_state().queue.lock().await;
                let n = queue.len().min(GROUP);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                return;
            }
            let (entries, waiters): (Vec<String>, Vec<_>) = batch.into_iter().unzip();
            match self.store.append_audit(&entries).await {
                Ok(seqs) => {
                    for (w, seq) in waiters.into_iter().zip(seqs) {
                        let _ = w.send(Ok(seq));
                    }
                }
                Err(e) => {
                    for w in waiters {
                        let _ = w.send(Err(e.to_string()));
                    }
                }
            }
        }
    }

    /// Signs a checkpoint of the log as it stands, if it grew since the last one; returns
    /// the latest checkpoint. Continues from the last checkpoint's compact range, so it
    /// reads only the entries appended since.
    pub async fn checkpoint_audit(&self) -> Result<Option<CheckpointView>> {
        let state = self.audit_state();
        let _one_at_a_time = state.checkpointing.lock().await;
        let last = self
            .store
            .latest_audit_checkpoint()
            .await
            .map_err(store_error)?;
        let (mut range, alg, last_checkpoint) = match &last {
            Some(row) => {
                let c: Checkpoint =
                    serde_json::from_str(&row.checkpoint).map_err(|_| corrupt("checkpoint"))?;
                let range: CompactRange =
                    serde_json::from_str(&row.frontier).map_err(|_| corrupt("frontier"))?;
                // A log keeps the hash it started with, whatever the setting says now.
                (range, c.hash, Some(c))
            }
            None => (CompactRange::default(), state.alg, None),
        };
        loop {
            let batch = self
                .store
                .audit_entries(range.size as i64, 10_000)
                .await
                .map_err(store_error)?;
            if batch.is_empty() {
                break;
            }
            for row in &batch {
                range.push(alg, alg.leaf(row.entry.as_bytes()));
            }
        }
        if last_checkpoint
            .as_ref()
            .is_some_and(|c| c.size == range.size)
            || range.size == 0
        {
            return Ok(last_checkpoint.map(|c| view(&c, state.public_key())));
        }
        let now = self.now();
        let checkpoint = Checkpoint::sign(
            &state.key,
            &state.origin,
            range.size,
            &range.root(alg),
            now.timestamp(),
            alg,
        );
        self.store
            .insert_audit_checkpoint(
                &AuditCheckpointRow {
                    size: range.size as i64,
                    checkpoint: serde_json::to_string(&checkpoint).unwrap_or_default(),
                    frontier: serde_json::to_string(&range).unwrap_or_default(),
                },
                now,
            )
            .await
            .map_err(store_error)?;
        Ok(Some(view(&checkpoint, state.public_key())))
    }

    /// Checkpoints every `period` for as long as the runtime lasts (besides every so
    /// many entries), so that a quiet log is still signed soon after its last entry.
    pub fn spawn_audit_checkpoints(self, period: std::time::Duration) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                if let Err(e) = self.checkpoint_audit().await {
                    tracing::error!(error = %e.message_en, "audit checkpoint failed");
                }
            }
        });
    }

    /// The latest signed checkpoint (the empty log's when nothing is recorded yet).
    pub async fn latest_checkpoint(&self) -> Result<CheckpointView> {
        let state = self.audit_state();
        match self
            .store
            .latest_audit_checkpoint()
            .await
            .map_err(store_error)?
        {
            Some(row) => {
                let c: Checkpoint =
                    serde_json::from_str(&row.checkpoint).map_err(|_| corrupt("checkpoint"))?;
                Ok(view(&c, state.public_key()))
            }
            None => Ok(view(
                &Checkpoint::sign(
                    &state.key,
                    &state.origin,
                    0,
                    &state.alg.empty(),
                    self.now().timestamp(),
                    state.alg,
                ),
                state.public_key(),
            )),
        }
    }

    /// The tree up to the log's current size, for proofs.
    async fn with_tree<T>(&self, f: impl FnOnce(&MerkleTree) -> T) -> Result<T> {
        let state = self.audit_state();
        let mut slot = state.tree.lock().await;
        let alg = match self
            .store
            .latest_audit_checkpoint()
            .await
            .map_err(store_error)?
        {
            Some(row) => {
                serde_json::from_str::<Checkpoint>(&row.checkpoint)
                    .map_err(|_| corrupt("checkpoint"))?
                    .hash
            }
            None => state.alg,
        };
        let tree = slot.get_or_insert_with(|| MerkleTree::new(alg));
        loop {
            let batch = self
                .store
                .audit_entries(tree.len() as i64, 10_000)
                .await
                .map_err(store_error)?;
            if batch.is_empty() {
                break;
            }
            for row in &batch {
                tree.push(alg.leaf(row.entry.as_bytes()));
            }
        }
        Ok(f(tree))
    }

    /// That entry `index` (its number − 1) is in the tree of `size` entries.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<ProofView> {
        let found = self
            .with_tree(|t| {
                let (i, n) = (usize::try_from(index).ok()?, usize::try_from(size).ok()?);
                Some((t.leaf(i)?, t.inclusion_proof(i, n)?, t.alg()))
            })
            .await?;
        let (leaf, proof, alg) = found.ok_or_else(|| out_of_range(index, size))?;
        Ok(ProofView {
            from: index,
            size,
            leaf: Some(hex::encode(leaf)),
            proof: proof.iter().map(hex::encode).collect(),
            hash: alg.name().to_owned(),
        })
    }

    /// That the tree of `first` entries is a prefix of the tree of `size` entries.
    pub async fn consistency_proof(&self, first: u64, size: u64) -> Result<ProofView> {
        let found = self
            .with_tree(|t| {
                let (m, n) = (usize::try_from(first).ok()?, usize::try_from(size).ok()?);
                Some((t.consistency_proof(m, n)?, t.alg()))
            })
            .await?;
        let (proof, alg) = found.ok_or_else(|| out_of_range(first, size))?;
        Ok(ProofView {
            from: first,
            size,
            leaf: None,
            proof: proof.iter().map(hex::encode).collect(),
            hash: alg.name().to_owned(),
        })
    }

    /// The entries an auditor browses: an auditor or authority administrator reads every
    /// entry; a provider administrator only those about its own catalog entries (who
    /// used its data, when, under which grant).
    pub async fn audit_entries(
        &self,
        caller: &Principal,
        mut query: AuditQuery,
    ) -> Result<Page<AuditEntryView>> {
        if !authz::can_read_whole_audit(caller) {
            let refused = || {
                Error::new(
                    ErrorCode::Forbidden,
                    "审计日志仅对审计员和主管部门开放；提供单位可查看本单位信息资源的访问记录",
                    "The audit log is open to auditors and authorities; a provider may read \
                     the accesses to its own catalog entries",
                )
            };
            let dataset = query.dataset.ok_or_else(refused)?;
            let d = self
                .store
                .get_dataset(dataset)
                .await
                .map_err(store_error)?
                .ok_or_else(refused)?;
            let scope = authz::EntryScope {
                provider_org_id: d.provider_id,
                provider_region: &d.region_code,
            };
            if !authz::can_read_entry_audit(caller, scope) {
                return Err(refused());
            }
        }
        query.seqs = None;
        self.audit_page(query).await
    }

    /// The entries that are an alert's evidence, for whoever may read the alert.
    pub async fn alert_evidence(
        &self,
        caller: &Principal,
        alert: i64,
        mut query: AuditQuery,
    ) -> Result<Page<AuditEntryView>> {
        let alert = self.alert(caller, alert).await?;
        query = AuditQuery {
            seqs: Some(alert.evidence),
            limit: query.limit,
            offset: query.offset,
            ..AuditQuery::default()
        };
        self.audit_page(query).await
    }

    async fn audit_page(&self, mut query: AuditQuery) -> Result<Page<AuditEntryView>> {
        query.limit = query.limit.clamp(1, 200);
        let page = self.store.search_audit(&query).await.map_err(store_error)?;
        Ok(Page {
            total: page.total,
            items: page
                .items
                .into_iter()
                .map(|r| AuditEntryView {
                    seq: r.seq,
                    entry: serde_json::from_str(&r.entry).unwrap_or(serde_json::Value::Null),
                })
                .collect(),
        })
    }
}

fn out_of_range(from: u64, size: u64) -> Error {
    Error::new(
        ErrorCode::Validation,
        format!("审计日志没有这样的位置：{from} / {size}"),
        format!("The log has no such position: {from} of {size}"),
    )
}
