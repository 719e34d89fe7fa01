//! Verification services (核验, issue 9, R7.3): a provider lets callers check values they
//! already hold against a resource (a credit code and a company name, an ID number and a
//! name) and answers yes or no, and, if the provider chooses, which of the values
//! matched. Nothing of the table is ever returned.
//!
//! The gate admits a verification only under a grant with the verification mode (or for
//! opened data, and for departments sharing it). Each grant, or each person where no
//! grant is needed, has a daily number of checks per resource, taken before the lookup
//! runs. Every request is audited with how many checks it made and how many matched:
//! many misses in a short time are what enumeration looks like, and monitoring raises an
//! alert on them (`verification_enumeration`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use gongshu_core::access::AccessMode;
use gongshu_core::authz::{self, Principal};
use gongshu_core::calendar::china_date;
use gongshu_core::catalog::item_key;
use gongshu_core::{Error, ErrorCode};
use gongshu_data::verify::MAX_KEYS;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::AuditEvent;
use crate::catalog::scope;
use crate::data::query_error;
use crate::{App, Result, store_error};

/// Records one batch may hold.
pub const MAX_BATCH: usize = 10_000;
/// A value longer than this is no key of anything.
const MAX_VALUE_CHARS: usize = 200;
const DEFAULT_DAILY_CHECKS: u32 = 1_000;
const MAX_DAILY_CHECKS: u32 = 1_000_000;

/// What a verification answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerificationAnswer {
    /// Yes or no: some record has every value.
    #[default]
    Match,
    /// Also, per key column, whether a record found by the first key has that value.
    Fields,
}

fn default_daily_checks() -> u32 {
    DEFAULT_DAILY_CHECKS
}

/// A provider's settings of the verification service on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationSettings {
    pub enabled: bool,
    /// The columns matched, 1 to 4; the first one locates the records (统一社会信用代码,
    /// 身份证号码), the others are checked against them (企业名称, 姓名).
    pub key_columns: Vec<String>,
    #[serde(default)]
    pub answer: VerificationAnswer,
    /// Checks one grant (or one person, where no grant is needed) may make a day on
    /// this resource; default 1000.
    #[serde(default = "default_daily_checks")]
    pub daily_checks: u32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerificationService {
    pub resource_id: String,
    pub dataset_id: i64,
    #[serde(flatten)]
    pub settings: VerificationSettings,
    pub updated_at: DateTime<Utc>,
}

/// One record to check: each key column's value.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyInput {
    pub values: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyAnswer {
    /// In a batch, the record's line in the caller's file (the header is line 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Some record has every value given.
    #[serde(rename = "match")]
    pub matched: bool,
    /// Per key column, whether it matched (only where the provider answers so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, bool>>,
}

/// The answers to a batch, in the order of its records.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyBatch {
    pub key_columns: Vec<String>,
    pub answers: Vec<VerifyAnswer>,
    /// Checks left today for this grant (or person) on this resource.
    pub checks_left_today: i64,
}

fn refuse(zh: &str, en: &str) -> Error {
    Error::new(ErrorCode::Validation, zh, en)
}

/// Reads a batch file: a header row naming the key columns (width, case and spacing
/// ignored; other columns are ignored), then one record per row. UTF-8 or GBK.
/// Each record comes with its line in the file.
pub fn read_batch(bytes: &[u8], key_columns: &[String]) -> Result<Vec<(u64, Vec<String>)>> {
    let encoding = gongshu_data::encoding::detect(bytes);
    if gongshu_data::encoding::looks_binary(bytes, encoding) {
        return Err(refuse(
            "批量核验文件须为 CSV 文本文件",
            "A batch file must be a CSV text file",
        ));
    }
    let text = gongshu_data::encoding::decode_sample(bytes, encoding);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|_| refuse("无法读取 CSV 表头", "The CSV header could not be read"))?;
    let positions = key_columns
        .iter()
        .map(|k| {
            let key = item_key(k);
            header
                .iter()
                .position(|h| item_key(h) == key)
                .ok_or_else(|| {
                    refuse(
                        &format!("文件缺少核验列“{k}”"),
                        &format!("The file has no column {k:?}"),
                    )
                })
        })
        .collect::<Result<Vec<usize>>>()?;
    let mut records = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            refuse(
                &format!("第{line}行无法读取"),
                &format!("Line {line} could not be read"),
            )
        })?;
        let line = row.position().map_or(0, |p| p.line());
        if row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if records.len() == MAX_BATCH {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                format!("一次批量核验至多{MAX_BATCH}条"),
                format!("A batch holds at most {MAX_BATCH} records"),
            ));
        }
        records.push((
            line,
            positions
                .iter()
                .map(|&p| row.get(p).unwrap_or_default().to_owned())
                .collect(),
        ));
    }
    Ok(records)
}

/// The answers as a table: the line in the caller's file, then the answers.
pub fn batch_table(batch: &VerifyBatch) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = vec!["行号 (row)".to_owned(), "核验结果 (match)".to_owned()];
    if batch.answers.iter().any(|a| a.fields.is_some()) {
        header.extend(batch.key_columns.iter().map(|k| format!("{k}一致")));
    }
    let yes = |b: bool| if b { "是" } else { "否" }.to_owned();
    let rows = batch
        .answers
        .iter()
        .enumerate()
        .map(|(n, a)| {
            let line = a
                .line
                .map_or_else(|| (n + 2).to_string(), |l| l.to_string());
            let mut row = vec![line, yes(a.matched)];
            if let Some(f) = &a.fields {
                row.extend(
                    batch
                        .key_columns
                        .iter()
                        .map(|k| yes(f.get(k).copied().unwrap_or(false))),
                );
            }
            row
        })
        .collect();
    (header, rows)
}

impl App {
    async fn verification_doc(&self, resource_id: &str) -> Result<Option<VerificationService>> {
        let Some(row) = self
            .store
            .get_verification_service(resource_id)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let settings = serde_json::from_str(&row.doc).map_err(|_| Error::internal())?;
        let resource = self
            .store
            .get_resource(resource_id)
            .await
            .map_err(store_error)?
            .ok_or_else(Error::internal)?;
        Ok(Some(VerificationService {
            resource_id: row.resource_id,
            dataset_id: resource.dataset_id,
            settings,
            updated_at: row.updated_at,
        }))
    }

    /// A resource's verification service, for whoever may see the entry.
    pub async fn verification_service(
        &self,
        caller: Option<&Principal>,
        resource_id: &str,
    ) -> Result<Option<VerificationService>> {
        self.readable(caller, resource_id, AccessMode::Metadata)
            .await?;
        self.verification_doc(resource_id).await
    }

    /// Whether the caller is the resource's provider, who sets its verification.
    pub async fn manages_resource(&self, caller: &Principal, resource_id: &str) -> Result<bool> {
        let Some(resource) = self
            .store
            .get_resource(resource_id)
            .await
            .map_err(store_error)?
        else {
            return Ok(false);
        };
        let dataset = self.dataset_row(resource.dataset_id).await?;
        Ok(authz::can_edit_entry(caller, scope(&dataset)))
    }

    /// The provider enables, changes or stops verification on a resource.
    pub async fn set_verification(
        &self,
        caller: &Principal,
        resource_id: &str,
        mut settings: VerificationSettings,
    ) -> Result<VerificationService> {
        let resource = self
            .store
            .get_resource(resource_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("资源", "resource"))?;
        let dataset = self.dataset_row(resource.dataset_id).await?;
        if !authz::can_edit_entry(caller, scope(&dataset)) {
            return Err(if authz::can_view_working_copy(caller, scope(&dataset)) {
                Error::forbidden()
            } else {
                Error::not_found("资源", "resource")
            });
        }
        let columns: Vec<String> = crate::data::manifest_of(&resource)
            .filter(|m| m.parquet.is_some())
            .map(|m| m.columns.into_iter().map(|c| c.name).collect())
            .ok_or_else(|| {
                refuse(
                    "该资源尚无已发布的表格版本，无法提供核验",
                    "This resource has no published table to verify against",
                )
            })?;
        settings.key_columns = settings
            .key_columns
            .iter()
            .map(|k| k.trim().to_owned())
            .collect();
        if settings.key_columns.is_empty() || settings.key_columns.len() > MAX_KEYS {
            return Err(refuse(
                &format!("核验列须为1至{MAX_KEYS}列"),
                &format!("Verification matches 1 to {MAX_KEYS} columns"),
            ));
        }
        for (i, k) in settings.key_columns.iter().enumerate() {
            if !columns.contains(k) {
                return Err(refuse(
                    &format!("资源中没有列“{k}”"),
                    &format!("The resource has no column {k:?}"),
                ));
            }
            if settings.key_columns[..i].contains(k) {
                return Err(refuse(
                    &format!("核验列“{k}”重复"),
                    &format!("Column {k:?} is named twice"),
                ));
            }
        }
        if !(1..=MAX_DAILY_CHECKS).contains(&settings.daily_checks) {
            return Err(refuse(
                &format!("每日核验次数须为1至{MAX_DAILY_CHECKS}"),
                &format!("Daily checks must be 1 to {MAX_DAILY_CHECKS}"),
            ));
        }
        let doc = serde_json::to_string(&settings).map_err(|_| Error::internal())?;
        self.store
            .put_verification_service(resource_id, &doc, caller.user_id, self.now())
            .await
            .map_err(store_error)?;
        self.audit(
            Some(caller),
            AuditEvent {
                action: if settings.enabled {
                    "verification.enable"
                } else {
                    "verification.disable"
                }
                .into(),
                object: format!("resource:{resource_id}"),
                dataset: Some(dataset.id),
                outcome: "ok",
                ..AuditEvent::default()
            },
        )
        .await?;
        self.verification_doc(resource_id)
            .await?
            .ok_or_else(Error::internal)
    }

    /// One record checked.
    pub async fn verify_one(
        &self,
        caller: &Principal,
        resource_id: &str,
        input: VerifyInput,
    ) -> Result<VerifyAnswer> {
        let service = self.enabled_verification(resource_id).await?;
        let keys = &service.settings.key_columns;
        let mut given: BTreeMap<String, String> = input
            .values
            .into_iter()
            .map(|(k, v)| (item_key(&k), v))
            .collect();
        let record = keys
            .iter()
            .map(|k| {
                given.remove(&item_key(k)).ok_or_else(|| {
                    refuse(&format!("缺少“{k}”的值"), &format!("No value for {k:?}"))
                })
            })
            .collect::<Result<Vec<String>>>()?;
        if let Some(extra) = given.keys().next() {
            return Err(refuse(
                &format!("“{extra}”不是该资源的核验列"),
                &format!("{extra:?} is not a verified column of this resource"),
            ));
        }
        let mut batch = self
            .verify_records(caller, &service, vec![record], None)
            .await?;
        batch.answers.pop().ok_or_else(Error::internal)
    }

    /// A batch of records (a grantee's file) checked.
    pub async fn verify_file(
        &self,
        caller: &Principal,
        resource_id: &str,
        bytes: &[u8],
    ) -> Result<VerifyBatch> {
        let service = self.enabled_verification(resource_id).await?;
        let (lines, records): (Vec<u64>, Vec<Vec<String>>) =
            read_batch(bytes, &service.settings.key_columns)?
                .into_iter()
                .unzip();
        if records.is_empty() {
            return Err(refuse("文件中没有记录", "The file holds no records"));
        }
        self.verify_records(caller, &service, records, Some(lines))
            .await
    }

    async fn enabled_verification(&self, resource_id: &str) -> Result<VerificationService> {
        self.verification_doc(resource_id)
            .await?
            .filter(|s| s.settings.enabled)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    "该资源未提供核验服务",
                    "This resource offers no verification",
                )
            })
    }

    async fn verify_records(
        &self,
        caller: &Principal,
        service: &VerificationService,
        records: Vec<Vec<String>>,
        lines: Option<Vec<u64>>,
    ) -> Result<VerifyBatch> {
        let resource_id = service.resource_id.as_str();
        // The gate first: a caller without the right learns nothing of the settings.
        let readable = self
            .readable(Some(caller), resource_id, AccessMode::Verification)
            .await?;
        if !readable.is_table() {
            return Err(Error::internal());
        }
        // A batch's records are told by their line in the file.
        let at = |n: usize| lines.as_ref().map_or(n as u64 + 1, |l| l[n]);
        for (n, record) in records.iter().enumerate() {
            for v in record {
                let v = v.trim();
                if v.is_empty()
                    || v.chars().count() > MAX_VALUE_CHARS
                    || v.chars().any(char::is_control)
                {
                    return Err(refuse(
                        &format!("第{}条记录的值为空、过长或含控制字符", at(n)),
                        &format!(
                            "Record {} has an empty value, one over {MAX_VALUE_CHARS} characters, or control characters",
                            at(n)
                        ),
                    ));
                }
            }
        }
        let settings = &service.settings;
        let who = match readable.grant {
            Some(g) => format!("grant:{g}"),
            None => format!("user:{}", caller.user_id),
        };
        let n = records.len() as i64;
        let limit = i64::from(settings.daily_checks);
        let Some(used) = self
            .store
            .take_verification_checks(&who, resource_id, china_date(self.now()), n, limit)
            .await
            .map_err(store_error)?
        else {
            return Err(Error::rate_limited(
                seconds_to_china_midnight(self.now()),
                format!("今日核验次数不足：每日至多{limit}次"),
                format!("Not enough checks left today: at most {limit} a day"),
            ));
        };
        let verdicts = self
            .data()
            .engine
            .verify(&readable.table(), &settings.key_columns, &records)
            .await
            .map_err(query_error)?;
        let matched = verdicts.iter().filter(|v| v.matched).count();
        self.audit(
            Some(caller),
            AuditEvent {
                action: "verify.check".into(),
                object: format!("resource:{resource_id};checks={n};matched={matched}"),
                dataset: Some(service.dataset_id),
                grant: readable.grant,
                outcome: "ok",
                ..AuditEvent::default()
            },
        )
        .await?;
        let answers = verdicts
            .into_iter()
            .enumerate()
            .map(|(n, v)| VerifyAnswer {
                line: lines.as_ref().map(|l| l[n]),
                matched: v.matched,
                fields: (settings.answer == VerificationAnswer::Fields)
                    .then(|| settings.key_columns.iter().cloned().zip(v.fields).collect()),
            })
            .collect();
        Ok(VerifyBatch {
            key_columns: settings.key_columns.clone(),
            answers,
            checks_left_today: limit - used,
        })
    }
}

/// Seconds until the next midnight in China, when the daily checks start again.
fn seconds_to_china_midnight(now: DateTime<Utc>) -> u64 {
    let tomorrow = china_date(now).succ_opt().unwrap_or(china_date(now));
    let next = gongshu_core::calendar::china_day_start(tomorrow);
    (next - now).num_seconds().max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_files_are_read_by_their_header_in_either_encoding() {
        let keys = ["统一社会信用代码".to_owned(), "企业名称".to_owned()];
        let csv =
            "序号,企业名称,统一社会信用代码\n1,甲公司,91370100MA3C00001X\n,,\n2,乙公司,９１３７\n";
        let records = read_batch(csv.as_bytes(), &keys).unwrap();
        assert_eq!(
            records,
            [
                (
                    2,
                    vec!["91370100MA3C00001X".to_owned(), "甲公司".to_owned()]
                ),
                (4, vec!["９１３７".to_owned(), "乙公司".to_owned()]),
            ]
        );
        let missing = read_batch("企业名称\n甲\n".as_bytes(), &keys).unwrap_err();
        assert!(missing.message_en.contains("统一社会信用代码"));
        assert!(read_batch(b"\x00\x01\x02\xff\xfe", &keys).is_err());
    }
}
