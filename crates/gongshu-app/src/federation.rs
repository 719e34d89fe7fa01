//! Federation of the levels (SD-EGOV §10, §15; SD-BIGDATA §12): a city's platform
//! reports its published catalog to the province's, whose master catalog (目录总表) then
//! holds the city's entries with their origin, their providers, their codes and their
//! open types (so the open and negative lists roll up too); people at the province are
//! sent to the city's platform for the data.
//!
//! - The province registers a member (name, region, address) and gets a one-time
//!   enrolment token, which the city's administrator gives their own platform.
//! - The city enrols: it sends the token with its Ed25519 public key (derived from its
//!   master key, never stored) and from then on pushes what changed, in requests signed
//!   over the member, a timestamp and the body's SHA-256, each with a sequence number
//!   that must move forward (a replay is refused).
//! - Each push carries whole entries (new or changed since the last push the province
//!   took) and the codes of entries no longer published. The province applies them as a
//!   harvest of the member's own source (`harvest.rs`): one local entry per code, found
//!   again on every push, withdrawn when the city withdraws it. An entry the province
//!   cannot take — its code used by another of the province's entries, its region
//!   outside the member's, invalid under the province's rules — is a conflict, reported
//!   back and shown on the member; nothing of the province's own is overwritten.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer as _, Verifier as _};
use gongshu_core::authz::{self, Principal};
use gongshu_core::catalog::DatasetDraft;
use gongshu_core::region::region_contains;
use gongshu_core::types::{OrgKind, Role};
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{
    FederationMemberRow, FederationUpstreamRow, HarvestRecordRow, NewEvent, NewOrg, OrgFilter,
    PublishedQuery, PublishedSort,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::harvest::{RemoteRecord, SourceKind, web_url};
use crate::views::DatasetView;
use crate::{App, Result, store_error};

/// What a signature covers besides the body's hash, so it cannot be taken for another's.
const SIGNING_CONTEXT: &str = "gongshu-federation-v1";
/// How far a request's timestamp may be from the province's clock.
const CLOCK_SKEW_SECS: i64 = 300;
/// How a released evaluation is remembered among what was sent (codes never contain a
/// space).
const EVALUATION_KEY: &str = "evaluation ";
/// A push stays under this size, well inside any body limit.
const MAX_PUSH_BYTES: usize = 48 * 1024;

pub const MEMBER_HEADER: &str = "x-gongshu-member";
pub const TIMESTAMP_HEADER: &str = "x-gongshu-timestamp";
pub const SIGNATURE_HEADER: &str = "x-gongshu-signature";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    /// The member platform's name, e.g. 淄博市公共数据平台.
    pub name: String,
    /// The region it serves (inside the province's).
    pub region_code: String,
    /// Its address, where people are sent for the data.
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MemberDoc {
    name: String,
    url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberView {
    pub id: i64,
    pub name: String,
    pub region_code: String,
    pub url: String,
    /// It has enrolled (its key is known).
    pub enrolled: bool,
    pub last_seq: i64,
    pub last_sync_at: Option<DateTime<Utc>>,
    /// What its last push did.
    pub last_report: SyncReport,
    pub created_at: DateTime<Utc>,
}

/// A new member, with the token its administrator enrols with (shown once).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberCreated {
    #[serde(flatten)]
    pub member: MemberView,
    pub enrollment_token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub token: String,
    /// Hex of the member's Ed25519 public key (32 bytes).
    pub public_key: String,
    /// The member's address.
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnrollAnswer {
    pub member_id: i64,
    pub region_code: String,
}

/// A city administrator points their platform at the province.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamInput {
    /// The province platform's address.
    pub province_url: String,
    /// The enrolment token the province gave.
    pub token: String,
    /// This platform's own address, if `--public-url` does not say it.
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpstreamView {
    pub province_url: String,
    pub member_id: i64,
    /// Hex of the key its pushes are signed with.
    pub public_key: String,
    pub seq: i64,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_report: SyncReport,
    pub enrolled_at: DateTime<Utc>,
}

/// An entry as a member pushes it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FederatedEntry {
    pub code: String,
    pub region_code: String,
    pub region_name: String,
    pub provider_name: String,
    /// 统一社会信用代码: the provider is the same organisation at both levels.
    pub provider_credit_code: String,
    /// The entry's page on the member platform.
    pub url: String,
    pub updated_at: DateTime<Utc>,
    pub entry: DatasetDraft,
}

/// A released performance evaluation of the member's region, as it pushes it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FederatedEvaluation {
    pub region_code: String,
    pub period_from: chrono::NaiveDate,
    pub period_to: chrono::NaiveDate,
    #[schema(value_type = Object)]
    pub doc: crate::evaluation::EvaluationDoc,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    pub member_id: i64,
    /// Moves forward with every push; a replayed or overtaken push is refused.
    pub seq: i64,
    #[serde(default)]
    pub upserts: Vec<FederatedEntry>,
    /// Codes no longer published at the member.
    #[serde(default)]
    pub deletions: Vec<String>,
    /// Its released evaluations, new or changed.
    #[serde(default)]
    pub evaluations: Vec<FederatedEvaluation>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SyncConflict {
    pub code: String,
    pub message_zh: String,
    pub message_en: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SyncReport {
    pub seq: i64,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub withdrawn: usize,
    /// Released evaluations taken into the province's.
    #[serde(default)]
    pub evaluations: usize,
    #[serde(default)]
    pub conflicts: Vec<SyncConflict>,
    /// Why the last push failed, on the member's side (the province could not be reached
    /// or refused it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// What a member signs for one request.
pub fn signed_message(member_id: i64, timestamp: i64, body: &[u8]) -> Vec<u8> {
    format!(
        "{SIGNING_CONTEXT}\n{member_id}\n{timestamp}\n{}",
        hex::encode(Sha256::digest(body))
    )
    .into_bytes()
}

/// Checks a push's signature: the member's key over the member, a timestamp within
/// five minutes of `now` and the body.
pub fn verify_push(
    public_key_hex: &str,
    member_id: i64,
    timestamp: &str,
    signature_b64: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> std::result::Result<(), &'static str> {
    use base64::Engine as _;
    let ts: i64 = timestamp.trim().parse().map_err(|_| "bad timestamp")?;
    if (now.timestamp() - ts).abs() > CLOCK_SKEW_SECS {
        return Err("timestamp outside the allowed window");
    }
    let key: [u8; 32] = hex::decode(public_key_hex)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or("bad key")?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| "bad key")?;
    let sig: [u8; 64] = base64::engine::general_purpose::STANDARD
        .decode(signature_b64.trim())
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or("bad signature")?;
    key.verify(
        &signed_message(member_id, ts, body),
        &ed25519_dalek::Signature::from_bytes(&sig),
    )
    .map_err(|_| "signature does not verify")
}

fn invalid(field: &str, zh: &str, en: &str) -> Error {
    Error::validation(vec![FieldError::new(field, "invalid", zh, en)])
}

fn refused() -> Error {
    Error::new(
        ErrorCode::Unauthenticated,
        "联邦请求的签名无效或已过期",
        "The federation request's signature is invalid or stale",
    )
}

fn member_doc(row: &FederationMemberRow) -> MemberDoc {
    serde_json::from_str(&row.doc).unwrap_or(MemberDoc {
        name: String::new(),
        url: String::new(),
    })
}

fn member_view(row: FederationMemberRow) -> MemberView {
    let doc = member_doc(&row);
    MemberView {
        id: row.id,
        name: doc.name,
        region_code: row.region_code,
        url: doc.url,
        enrolled: row.public_key.is_some(),
        last_seq: row.last_seq,
        last_sync_at: row.last_sync_at,
        last_report: serde_json::from_str(&row.report).unwrap_or_default(),
        created_at: row.created_at,
    }
}

impl App {
    fn federation_key(&self) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(
            &self.settings.master_key.derive("gongshu/federation/v1"),
        )
    }

    /// The province registers a member platform; the answer carries its enrolment token.
    pub async fn create_federation_member(
        &self,
        caller: &Principal,
        input: MemberInput,
    ) -> Result<MemberCreated> {
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid(
                "name",
                "名称须为1至100个字符",
                "1 to 100 characters",
            ));
        }
        let url = web_url(&input.url)
            .ok_or_else(|| invalid("url", "地址须为 http 或 https 网址", "an http or https URL"))?;
        let region = self
            .store
            .get_region(&input.region_code)
            .await
            .map_err(store_error)?
            .ok_or_else(|| invalid("region_code", "没有这个行政区划", "no such region"))?;
        if !authz::can_manage_orgs_in(caller, &region.code) {
            return Err(Error::forbidden());
        }
        let doc = MemberDoc {
            name: name.to_owned(),
            url: url.clone(),
        };
        // The member's entries are recorded as a source's, so each shows its origin.
        let source_doc = crate::harvest::source_doc_json(
            name,
            SourceKind::Federation,
            &url,
            crate::harvest::blank_defaults(),
        )?;
        let now = self.now();
        let source = self
            .store
            .insert_harvest_source(None, &source_doc, false, now, Some(caller.user_id), now)
            .await
            .map_err(store_error)?;
        let token = crate::auth::random_secret();
        let row = self
            .store
            .insert_federation_member(
                source.id,
                &region.code,
                &serde_json::to_string(&doc).map_err(|_| Error::internal())?,
                &token_hash(&token),
                now,
            )
            .await
            .map_err(store_error)?;
        self.store
            .insert_event(&NewEvent {
                at: now,
                actor_id: Some(caller.user_id),
                object_type: "federation_member",
                object_id: &row.id.to_string(),
                action: "registered",
                reason: "",
                detail: serde_json::json!({"name": name, "region": region.code, "url": url})
                    .to_string(),
            })
            .await
            .map_err(store_error)?;
        Ok(MemberCreated {
            member: member_view(row),
            enrollment_token: token,
        })
    }

    /// The members the caller oversees.
    pub async fn federation_members(&self, caller: &Principal) -> Result<Vec<MemberView>> {
        Ok(self
            .store
            .list_federation_members()
            .await
            .map_err(store_error)?
            .into_iter()
            .filter(|m| {
                authz::can_manage_orgs_in(caller, &m.region_code)
                    || authz::can_read_whole_audit(caller)
            })
            .map(member_view)
            .collect())
    }

    /// A member platform enrols with its token (once) and its public key.
    pub async fn enroll_federation_member(&self, req: EnrollRequest) -> Result<EnrollAnswer> {
        let key_ok = hex::decode(req.public_key.trim())
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .is_some_and(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).is_ok());
        if !key_ok {
            return Err(invalid(
                "public_key",
                "公钥须为32字节 Ed25519 公钥的十六进制",
                "the key must be a 32-byte Ed25519 public key in hex",
            ));
        }
        // The address people are sent to stays the one the province registered.
        if web_url(&req.url).is_none() {
            return Err(invalid(
                "url",
                "地址须为 http 或 https 网址",
                "an http or https URL",
            ));
        }
        let row = self
            .store
            .enroll_federation_member(
                &token_hash(&req.token),
                &req.public_key.trim().to_lowercase(),
            )
            .await
            .map_err(store_error)?
            .ok_or_else(refused)?;
        Ok(EnrollAnswer {
            member_id: row.id,
            region_code: row.region_code,
        })
    }

    /// Takes a member's signed push and applies it.
    pub async fn federation_push(
        &self,
        member_id: i64,
        timestamp: &str,
        signature: &str,
        body: &[u8],
    ) -> Result<SyncReport> {
        let member = self
            .store
            .get_federation_member(member_id)
            .await
            .map_err(store_error)?
            .ok_or_else(refused)?;
        let key = member.public_key.as_deref().ok_or_else(refused)?;
        verify_push(key, member_id, timestamp, signature, body, self.now()).map_err(|why| {
            tracing::warn!(member = member_id, why, "a federation push was refused");
            refused()
        })?;
        let req: SyncRequest = serde_json::from_slice(body).map_err(|e| {
            Error::new(
                ErrorCode::BadRequest,
                format!("联邦推送无法解析：{e}"),
                format!("the push could not be read: {e}"),
            )
        })?;
        if req.member_id != member_id {
            return Err(refused());
        }
        if !self
            .store
            .claim_federation_seq(member_id, req.seq, self.now())
            .await
            .map_err(store_error)?
        {
            return Err(Error::new(
                ErrorCode::VersionConflict,
                "推送序号未前进（重放或过期的请求）",
                "The push's sequence number did not move forward (a replay or a stale request)",
            ));
        }
        let report = self.apply_push(&member, req).await?;
        let doc = serde_json::to_string(&report).map_err(|_| Error::internal())?;
        self.store
            .put_federation_report(member_id, &doc)
            .await
            .map_err(store_error)?;
        Ok(report)
    }

    async fn apply_push(
        &self,
        member: &FederationMemberRow,
        req: SyncRequest,
    ) -> Result<SyncReport> {
        let source = self
            .store
            .get_harvest_source(member.source_id)
            .await
            .map_err(store_error)?
            .ok_or_else(Error::internal)?;
        let known: HashMap<String, HarvestRecordRow> = self
            .store
            .harvest_records(source.id)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|r| (r.remote_id.clone(), r))
            .collect();
        let caps = self.grade_caps().await?;
        let mut providers: BTreeMap<String, gongshu_store::OrgRow> = self
            .store
            .list_orgs(&OrgFilter {
                region_prefix: None,
                kind: Some(OrgKind::Provider),
            })
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|o| (o.credit_code.clone(), o))
            .collect();
        let mut report = SyncReport {
            seq: req.seq,
            ..SyncReport::default()
        };
        let conflict = |report: &mut SyncReport, code: &str, e: &Error| {
            let p = crate::harvest::problem(
                &RemoteRecord {
                    remote_id: code.to_owned(),
                    draft: placeholder(),
                    code: None,
                    landing_url: None,
                    downloads: Vec::new(),
                    modified: None,
                },
                e,
            );
            report.conflicts.push(SyncConflict {
                code: code.to_owned(),
                message_zh: p.message_zh,
                message_en: p.message_en,
            });
        };
        let mut touched = Vec::new();
        for e in req.upserts {
            if !region_contains(&member.region_code, &e.region_code) {
                conflict(
                    &mut report,
                    &e.code,
                    &Error::new(
                        ErrorCode::Forbidden,
                        format!("目录所属区划 {} 不在本成员平台的区划内", e.region_code),
                        format!(
                            "the entry's region {} is outside the member's",
                            e.region_code
                        ),
                    ),
                );
                continue;
            }
            let provider = match self.mirror_provider(&mut providers, member, &e).await {
                Ok(p) => p,
                Err(err) => {
                    conflict(&mut report, &e.code, &err);
                    continue;
                }
            };
            let mut draft = e.entry.clone();
            draft.normalize();
            if let Err(err) = draft.validate(&caps) {
                conflict(&mut report, &e.code, &err);
                continue;
            }
            let record = RemoteRecord {
                remote_id: e.code.clone(),
                draft,
                code: Some(e.code.clone()),
                landing_url: web_url(&e.url),
                downloads: Vec::new(),
                modified: Some(e.updated_at.to_rfc3339()),
            };
            match self
                .harvest_record(&source, &provider, &record, known.get(&e.code))
                .await
            {
                Ok((crate::harvest::Outcome::Created, id)) => {
                    report.created += 1;
                    touched.push(id);
                }
                Ok((crate::harvest::Outcome::Updated, id)) => {
                    report.updated += 1;
                    touched.push(id);
                }
                Ok((crate::harvest::Outcome::Unchanged, _)) => report.unchanged += 1,
                Err(err) if err.code == ErrorCode::Duplicate => conflict(
                    &mut report,
                    &e.code,
                    &Error::new(
                        ErrorCode::Duplicate,
                        "省级平台已有使用此资源代码的目录，未覆盖",
                        "An entry of the province already uses this code; it was not overwritten",
                    ),
                ),
                Err(err) => conflict(&mut report, &e.code, &err),
            }
        }
        for code in req.deletions {
            let Some(record) = known.get(&code) else {
                continue;
            };
            if record.withdrawn {
                continue;
            }
            match self.withdraw_harvested(record).await {
                Ok(true) => {
                    report.withdrawn += 1;
                    touched.push(record.dataset_id);
                }
                Ok(false) => {}
                Err(err) => conflict(&mut report, &code, &err),
            }
        }
        for ev in req.evaluations {
            let key = format!(
                "evaluation {} {}..{}",
                ev.region_code, ev.period_from, ev.period_to
            );
            match self.take_federated_evaluation(member, &source, ev).await {
                Ok(true) => report.evaluations += 1,
                Ok(false) => {}
                Err(err) => conflict(&mut report, &key, &err),
            }
        }
        for id in touched {
            self.refresh_search_entry(id).await;
        }
        Ok(report)
    }

    /// Keeps a member's released evaluation as a released evaluation of its region, once
    /// per region and period; `false` if the province holds one for them already.
    async fn take_federated_evaluation(
        &self,
        member: &FederationMemberRow,
        source: &gongshu_store::HarvestSourceRow,
        ev: FederatedEvaluation,
    ) -> Result<bool> {
        if !region_contains(&member.region_code, &ev.region_code) {
            return Err(Error::new(
                ErrorCode::Forbidden,
                format!("评价所属区划 {} 不在本成员平台的区划内", ev.region_code),
                format!(
                    "the evaluation's region {} is outside the member's",
                    ev.region_code
                ),
            ));
        }
        let held = self
            .store
            .list_evaluations(&gongshu_store::EvaluationQuery {
                draft_regions: vec![ev.region_code.clone()],
                region: Some(ev.region_code.clone()),
                limit: 1000,
            })
            .await
            .map_err(store_error)?;
        if held
            .iter()
            .any(|e| e.period_from == ev.period_from && e.period_to == ev.period_to)
        {
            return Ok(false);
        }
        // Recorded as made and released by whoever registered the member.
        let by = source.created_by.ok_or_else(Error::internal)?;
        let doc = serde_json::to_string(&ev.doc).map_err(|_| Error::internal())?;
        let row = self
            .store
            .insert_evaluation(&gongshu_store::NewEvaluation {
                region_code: &ev.region_code,
                period_from: ev.period_from,
                period_to: ev.period_to,
                doc: &doc,
                created_by: by,
                at: self.now(),
            })
            .await
            .map_err(store_error)?;
        self.store
            .release_evaluation(row.id, by, self.now())
            .await
            .map_err(store_error)?;
        Ok(true)
    }

    /// The province's record of the entry's provider, the same organisation by its
    /// credit code, registered under the member's region the first time it is seen.
    async fn mirror_provider(
        &self,
        providers: &mut BTreeMap<String, gongshu_store::OrgRow>,
        member: &FederationMemberRow,
        e: &FederatedEntry,
    ) -> Result<gongshu_store::OrgRow> {
        if let Some(org) = providers.get(&e.provider_credit_code) {
            if !region_contains(&member.region_code, &org.region_code) {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    "该统一社会信用代码的单位不在本成员平台的区划内",
                    "The organisation with this credit code is outside the member's region",
                ));
            }
            return Ok(org.clone());
        }
        if self
            .store
            .get_region(&e.region_code)
            .await
            .map_err(store_error)?
            .is_none()
        {
            self.store
                .upsert_region(&e.region_code, &e.region_name)
                .await
                .map_err(store_error)?;
        }
        let org = self
            .store
            .insert_org(
                &NewOrg {
                    name: e.provider_name.clone(),
                    name_en: String::new(),
                    kind: OrgKind::Provider,
                    region_code: e.region_code.clone(),
                    credit_code: e.provider_credit_code.clone(),
                    contact: String::new(),
                },
                self.now(),
            )
            .await
            .map_err(store_error)?;
        providers.insert(org.credit_code.clone(), org.clone());
        Ok(org)
    }

    /// A system administrator of a member platform enrols it with its province.
    pub async fn set_federation_upstream(
        &self,
        caller: &Principal,
        input: UpstreamInput,
    ) -> Result<UpstreamView> {
        if !caller.has_role(Role::SystemAdmin) {
            return Err(Error::forbidden());
        }
        let province = web_url(&input.province_url).ok_or_else(|| {
            invalid(
                "province_url",
                "地址须为 http 或 https 网址",
                "an http or https URL",
            )
        })?;
        let own = input
            .url
            .as_deref()
            .or(Some(self.settings.public_url.as_str()))
            .and_then(web_url)
            .ok_or_else(|| {
                invalid(
                    "url",
                    "请提供本平台的访问地址（或以 --public-url 启动）",
                    "give this platform's address (or start it with --public-url)",
                )
            })?;
        let public_key = hex::encode(self.federation_key().verifying_key().as_bytes());
        let answer: EnrollAnswer = federation_http()?
            .post(format!(
                "{}/api/v1/federation/enroll",
                province.trim_end_matches('/')
            ))
            .json(&EnrollRequest {
                token: input.token.trim().to_owned(),
                public_key: public_key.clone(),
                url: own,
            })
            .send()
            .await
            .map_err(|e| unreachable_province(&e.to_string()))?
            .error_for_status()
            .map_err(|e| {
                Error::new(
                    ErrorCode::Forbidden,
                    format!("省级平台拒绝了注册：{e}"),
                    format!("the province refused the enrolment: {e}"),
                )
            })?
            .json()
            .await
            .map_err(|e| unreachable_province(&e.to_string()))?;
        let now = self.now();
        self.store
            .put_federation_upstream(&FederationUpstreamRow {
                province_url: province.trim_end_matches('/').to_owned(),
                member_id: answer.member_id,
                seq: 0,
                last_sync_at: None,
                report: "{}".into(),
                enrolled_at: now,
            })
            .await
            .map_err(store_error)?;
        // A new province has seen nothing: the next push reads the whole catalog.
        *self
            .pushed_generation
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = (-1, 0);
        self.store
            .insert_event(&NewEvent {
                at: now,
                actor_id: Some(caller.user_id),
                object_type: "federation_upstream",
                object_id: &answer.member_id.to_string(),
                action: "enrolled",
                reason: "",
                detail: serde_json::json!({"province": province}).to_string(),
            })
            .await
            .map_err(store_error)?;
        self.federation_upstream(caller).await
    }

    pub async fn federation_upstream(&self, caller: &Principal) -> Result<UpstreamView> {
        if !caller.has_role(Role::SystemAdmin) && !authz::can_read_whole_audit(caller) {
            return Err(Error::forbidden());
        }
        let u = self
            .store
            .get_federation_upstream()
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("上级平台", "Upstream platform"))?;
        Ok(UpstreamView {
            province_url: u.province_url,
            member_id: u.member_id,
            public_key: hex::encode(self.federation_key().verifying_key().as_bytes()),
            seq: u.seq,
            last_sync_at: u.last_sync_at,
            last_report: serde_json::from_str(&u.report).unwrap_or_default(),
            enrolled_at: u.enrolled_at,
        })
    }

    /// Pushes what changed in the published catalog since the province last took it;
    /// how many entries and withdrawals were sent. Nothing is sent when nothing changed.
    pub async fn push_to_province(&self) -> Result<usize> {
        let Some(upstream) = self
            .store
            .get_federation_upstream()
            .await
            .map_err(store_error)?
        else {
            return Ok(0);
        };
        // Reading the whole catalog to find nothing changed is skipped while the
        // catalog's generation stands, but for one full look in every 20 (evaluations
        // do not move the generation).
        let generation = self.store.catalog_generation().await.map_err(store_error)?;
        {
            let mut last = self
                .pushed_generation
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.0 == generation && last.1 < 20 {
                last.1 += 1;
                return Ok(0);
            }
            *last = (-1, 0);
        }
        let sent: HashMap<String, String> = self
            .store
            .federation_sent()
            .await
            .map_err(store_error)?
            .into_iter()
            .collect();
        let current = self.federated_entries().await?;
        let mut upserts = Vec::new();
        for (entry, hash) in &current {
            if sent.get(&entry.code) != Some(hash) {
                upserts.push((entry, hash));
            }
        }
        let evaluations: Vec<(FederatedEvaluation, String, String)> = self
            .federated_evaluations()
            .await?
            .into_iter()
            .filter(|(_, key, hash)| sent.get(key) != Some(hash))
            .collect();
        let deletions: Vec<String> = sent
            .keys()
            .filter(|code| !code.starts_with(EVALUATION_KEY))
            .filter(|code| !current.iter().any(|(e, _)| &e.code == *code))
            .cloned()
            .collect();
        if upserts.is_empty() && deletions.is_empty() && evaluations.is_empty() {
            *self
                .pushed_generation
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = (generation, 0);
            return Ok(0);
        }
        let mut pending_evaluations = evaluations.into_iter().peekable();
        let http = federation_http()?;
        let mut pushed = 0;
        let mut pending_upserts = upserts.into_iter().peekable();
        let mut pending_deletions = deletions.into_iter().peekable();
        let mut last = SyncReport::default();
        while pending_upserts.peek().is_some()
            || pending_deletions.peek().is_some()
            || pending_evaluations.peek().is_some()
        {
            let mut batch: Vec<(&FederatedEntry, &String)> = Vec::new();
            let mut size = 0;
            while let Some((entry, hash)) = pending_upserts.peek() {
                let len = serde_json::to_vec(entry).map(|v| v.len()).unwrap_or(0);
                if !batch.is_empty() && size + len > MAX_PUSH_BYTES {
                    break;
                }
                size += len;
                batch.push((entry, hash));
                pending_upserts.next();
            }
            let mut gone = Vec::new();
            while size < MAX_PUSH_BYTES
                && let Some(code) = pending_deletions.next()
            {
                size += code.len() + 3;
                gone.push(code);
            }
            let mut evaluations = Vec::new();
            while size < MAX_PUSH_BYTES
                && let Some(ev) = pending_evaluations.next()
            {
                size += serde_json::to_vec(&ev.0).map(|v| v.len()).unwrap_or(0);
                evaluations.push(ev);
            }
            let seq = self
                .store
                .next_federation_seq()
                .await
                .map_err(store_error)?;
            let req = SyncRequest {
                member_id: upstream.member_id,
                seq,
                upserts: batch.iter().map(|(e, _)| (*e).clone()).collect(),
                deletions: gone.clone(),
                evaluations: evaluations.iter().map(|(e, _, _)| e.clone()).collect(),
            };
            match self.send_push(&http, &upstream, &req).await {
                Ok(report) => {
                    let mut marks: Vec<(String, Option<String>)> = batch
                        .iter()
                        .map(|(e, h)| (e.code.clone(), Some((*h).clone())))
                        .collect();
                    marks.extend(gone.into_iter().map(|c| (c, None)));
                    marks.extend(evaluations.into_iter().map(|(_, k, h)| (k, Some(h))));
                    self.store
                        .put_federation_sent(&marks)
                        .await
                        .map_err(store_error)?;
                    pushed += marks.len();
                    last.seq = report.seq;
                    last.created += report.created;
                    last.updated += report.updated;
                    last.unchanged += report.unchanged;
                    last.withdrawn += report.withdrawn;
                    last.evaluations += report.evaluations;
                    last.conflicts.extend(report.conflicts);
                }
                Err(message) => {
                    last.failure = Some(message);
                    break;
                }
            }
        }
        let failed = last.failure.clone();
        if failed.is_none() {
            *self
                .pushed_generation
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = (generation, 0);
        }
        let doc = serde_json::to_string(&last).map_err(|_| Error::internal())?;
        self.store
            .put_upstream_report(&doc, self.now())
            .await
            .map_err(store_error)?;
        if let Some(message) = failed {
            return Err(unreachable_province(&message));
        }
        Ok(pushed)
    }

    async fn send_push(
        &self,
        http: &reqwest::Client,
        upstream: &FederationUpstreamRow,
        req: &SyncRequest,
    ) -> std::result::Result<SyncReport, String> {
        use base64::Engine as _;
        let body = serde_json::to_vec(req).map_err(|e| e.to_string())?;
        let ts = self.now().timestamp();
        let signature = self
            .federation_key()
            .sign(&signed_message(upstream.member_id, ts, &body));
        let response = http
            .post(format!("{}/api/v1/federation/sync", upstream.province_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(MEMBER_HEADER, upstream.member_id.to_string())
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(
                SIGNATURE_HEADER,
                base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(format!(
                "HTTP {}: {}",
                status.as_u16(),
                text.chars().take(300).collect::<String>()
            ));
        }
        response.json().await.map_err(|e| e.to_string())
    }

    /// Every released evaluation, with the key it is remembered as sent by and its hash.
    async fn federated_evaluations(&self) -> Result<Vec<(FederatedEvaluation, String, String)>> {
        let rows = self
            .store
            .list_evaluations(&gongshu_store::EvaluationQuery {
                limit: 1000,
                ..gongshu_store::EvaluationQuery::default()
            })
            .await
            .map_err(store_error)?;
        let mut out = Vec::new();
        for row in rows.into_iter().filter(|r| r.state == "released") {
            let Ok(doc) = serde_json::from_str(&row.doc) else {
                continue;
            };
            let ev = FederatedEvaluation {
                region_code: row.region_code,
                period_from: row.period_from,
                period_to: row.period_to,
                doc,
            };
            let hash = hex::encode(Sha256::digest(
                serde_json::to_vec(&ev).map_err(|_| Error::internal())?,
            ));
            out.push((ev, format!("{EVALUATION_KEY}{}", row.id), hash));
        }
        Ok(out)
    }

    /// Every published entry as the province receives it, with its content hash.
    async fn federated_entries(&self) -> Result<Vec<(FederatedEntry, String)>> {
        let base = self.settings.public_url.trim_end_matches('/').to_owned();
        let mut regions: HashMap<String, String> = HashMap::new();
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .store
                .list_published(&PublishedQuery {
                    sort: PublishedSort::Code,
                    limit: 500,
                    offset,
                    ..PublishedQuery::default()
                })
                .await
                .map_err(store_error)?;
            let n = page.items.len() as i64;
            for row in page.items {
                let view = DatasetView::published(row);
                let region_name = match regions.get(&view.region_code) {
                    Some(n) => n.clone(),
                    None => {
                        let n = self
                            .store
                            .get_region(&view.region_code)
                            .await
                            .map_err(store_error)?
                            .map(|r| r.name)
                            .unwrap_or_default();
                        regions.insert(view.region_code.clone(), n.clone());
                        n
                    }
                };
                let entry = FederatedEntry {
                    url: format!("{base}/datasets/{}", view.id),
                    code: view.code,
                    region_code: view.region_code,
                    region_name,
                    provider_name: view.provider.name,
                    provider_credit_code: view.provider.credit_code,
                    updated_at: view.updated_at,
                    entry: view.metadata,
                };
                // The time of a change is not a change: an entry re-published with the
                // same content is not sent again.
                let hash = {
                    let mut h = entry.clone();
                    h.updated_at = DateTime::<Utc>::UNIX_EPOCH;
                    hex::encode(Sha256::digest(
                        serde_json::to_vec(&h).map_err(|_| Error::internal())?,
                    ))
                };
                out.push((entry, hash));
            }
            offset += n;
            if n == 0 || offset >= page.total {
                break;
            }
        }
        Ok(out)
    }

    /// Pushes every `period`.
    pub fn spawn_federation_sync(self, period: std::time::Duration) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                match self.push_to_province().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(changes = n, "catalog changes pushed to the province"),
                    Err(e) => {
                        tracing::warn!(error = %e.message_en, "pushing to the province failed")
                    }
                }
            }
        });
    }
}

/// The province could not be reached or refused: a state of the federation the
/// administrator must look at, not a fault of this platform.
fn unreachable_province(why: &str) -> Error {
    Error::new(
        ErrorCode::InvalidState,
        format!("无法与省级平台通信：{why}"),
        format!("the province platform could not be reached: {why}"),
    )
}

fn federation_http() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("Gongshu-federation/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| Error::internal())
}

fn placeholder() -> DatasetDraft {
    crate::harvest::placeholder_draft(&crate::harvest::blank_defaults())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_verifies_only_unaltered_recent_and_with_its_key() {
        use base64::Engine as _;
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let public = hex::encode(key.verifying_key().as_bytes());
        let now = Utc::now();
        let ts = now.timestamp();
        let body = br#"{"member_id":3,"seq":1}"#;
        let sign = |member: i64, ts: i64, body: &[u8]| {
            base64::engine::general_purpose::STANDARD
                .encode(key.sign(&signed_message(member, ts, body)).to_bytes())
        };
        let good = sign(3, ts, body);
        assert_eq!(
            verify_push(&public, 3, &ts.to_string(), &good, body, now),
            Ok(())
        );
        // Another body, member or time than signed.
        assert!(
            verify_push(
                &public,
                3,
                &ts.to_string(),
                &good,
                br#"{"member_id":3,"seq":2}"#,
                now
            )
            .is_err()
        );
        assert!(verify_push(&public, 4, &ts.to_string(), &good, body, now).is_err());
        assert!(verify_push(&public, 3, &(ts + 1).to_string(), &good, body, now).is_err());
        // A signature made long ago (or far ahead) is stale even if genuine.
        let old = ts - 3600;
        assert!(verify_push(&public, 3, &old.to_string(), &sign(3, old, body), body, now).is_err());
        // Another key, and garbage.
        let other = hex::encode(
            ed25519_dalek::SigningKey::from_bytes(&[8; 32])
                .verifying_key()
                .as_bytes(),
        );
        assert!(verify_push(&other, 3, &ts.to_string(), &good, body, now).is_err());
        assert!(verify_push(&public, 3, "soon", &good, body, now).is_err());
        assert!(verify_push(&public, 3, &ts.to_string(), "!!", body, now).is_err());
    }
}
