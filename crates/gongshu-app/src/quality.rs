//! Quality of a resource's data versions (issue 8: SD-BIGDATA §20, SX-BIGDATA §24,
//! requirements R8.1): completeness per column, check-digit validity of credit codes
//! and ID numbers, validity against the declared data items (type, length, code list,
//! region codes), uniqueness of the keys, duplicate rows, consistency with the
//! previous version, and timeliness against the entry's update cycle. Each version gets
//! a score out of 100 with the problems behind it; the last versions make the trend.
//!
//! Every figure is a count computed by the query engine over the raw table; no value
//! leaves in a report, so the report is the provider's and the overseers' to read, and
//! holds nothing the open version would not.

use gongshu_core::authz::{Principal, can_view_working_copy};
use gongshu_core::catalog::{DataItem, item_key};
use gongshu_core::pii::PiiKind;
use gongshu_core::{Error, ErrorCode};
use gongshu_data::Manifest;
use gongshu_data::query::TableRef;
use gongshu_data::versions::Versions;
use gongshu_store::{ResourceRow, VersionState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::scope;
use crate::{App, Result, store_error};

/// Versions in the trend.
const TREND: usize = 5;
/// A version with fewer than this share of the previous one's rows has dropped sharply.
const DROP_RATIO: f64 = 0.8;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ColumnQuality {
    pub name: String,
    /// Rows with a value (not NULL, not blank).
    pub filled: u64,
    /// `filled` ÷ rows, 0 to 1.
    pub completeness: f64,
    /// `uscc` or `resident_id` when the column's values are checked as such codes.
    pub checked_as: Option<String>,
    /// Values that fail the code's format or check character.
    pub invalid: Option<u64>,
    /// Values that occur more than once (beyond their first), for a code column; none
    /// when the engine could not count them within its memory limit.
    pub repeated: Option<u64>,
    /// Values that are not of the data item's declared type (a date, a number), for a
    /// column stored as text whose item declares another type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrong_type: Option<u64>,
    /// Values longer than the item's declared length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub too_long: Option<u64>,
    /// Values outside the item's declared code list (值域), or region codes that name
    /// no province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside_codes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QualityProblem {
    /// `incomplete`, `invalid_code`, `wrong_type`, `too_long`, `outside_codes`,
    /// `duplicate_key`, `duplicate_rows`, `row_drop`, `overdue`.
    pub code: String,
    pub column: Option<String>,
    pub count: u64,
    pub message_zh: String,
    pub message_en: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionQuality {
    pub version: i64,
    pub rows: u64,
    pub score: u32,
    pub columns: Vec<ColumnQuality>,
    /// Rows identical to an earlier row; none when the engine could not count them
    /// within its memory limit.
    pub duplicate_rows: Option<u64>,
    pub previous_rows: Option<u64>,
    pub problems: Vec<QualityProblem>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QualityReport {
    pub resource_id: String,
    /// The version being served, scored with its timeliness.
    pub current: VersionQuality,
    /// Score by version, oldest first, up to the current one.
    pub trend: Vec<(i64, u32)>,
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Whether a manifest column holds text: the manifest writes `text`
/// (`versions::type_label`); older manifests wrote Arrow's names.
fn is_text(data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    t == "text" || t.contains("utf8") || t.contains("string") || t.contains("char")
}

fn count_at(batches: &[arrow_array::RecordBatch], column: &str) -> u64 {
    use arrow_array::Array;
    batches
        .first()
        .and_then(|b| b.column_by_name(column))
        .and_then(|c| arrow_cast::cast(c, &arrow_schema::DataType::Int64).ok())
        .and_then(|c| {
            c.as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .filter(|a| !a.is_empty() && !a.is_null(0))
                .map(|a| a.value(0))
        })
        .map_or(0, |v| u64::try_from(v).unwrap_or(0))
}

fn engine_failed(e: gongshu_data::query::QueryError) -> Error {
    tracing::error!(error = %e, "quality query failed");
    Error::new(
        ErrorCode::Internal,
        "质量检查未能完成",
        "The quality check could not be completed",
    )
}

/// The data item a column carries: the one of the same name, as 一数一源 compares names
/// (width, case and spacing aside).
fn declared<'a>(items: &'a [DataItem], column: &str) -> Option<&'a DataItem> {
    let key = item_key(column);
    items.iter().find(|i| item_key(&i.name) == key)
}

/// Region codes (行政区划代码) are a national code list; a column so named is checked
/// against it even when no item declares one.
fn is_region_code_column(name: &str) -> bool {
    name.contains("区划代码") || name.contains("行政区划")
}

/// What a column's declared data item lets the quality check verify.
struct DeclaredRules<'a> {
    item: Option<&'a DataItem>,
    /// The engine function a value of the declared type passes, for a text column
    /// whose item declares dates or numbers.
    type_check: Option<&'static str>,
    max_length: Option<u32>,
    /// A predicate over `{v}` true for a value outside the code list.
    outside_codes: Option<String>,
}

impl DeclaredRules<'_> {
    fn any(&self) -> bool {
        self.type_check.is_some() || self.max_length.is_some() || self.outside_codes.is_some()
    }

    fn problem(&self, code: &str, column: &str, n: u64) -> QualityProblem {
        let (zh, en) = match code {
            "wrong_type" => {
                let t = self.item.map(|i| i.item_type);
                (
                    format!(
                        "“{column}”列有 {n} 个值不是声明的{}",
                        t.map_or("", |t| t.label_zh())
                    ),
                    format!(
                        "Column “{column}” holds {n} values that are not of its declared type {}",
                        t.map_or("", |t| t.label_en())
                    ),
                )
            }
            "too_long" => {
                let max = self.max_length.unwrap_or_default();
                (
                    format!("“{column}”列有 {n} 个值超过声明的长度 {max}"),
                    format!("Column “{column}” holds {n} values longer than its declared {max}"),
                )
            }
            _ => (
                format!("“{column}”列有 {n} 个值不在值域（代码表）内"),
                format!("Column “{column}” holds {n} values outside its code list"),
            ),
        };
        QualityProblem {
            code: code.into(),
            column: Some(column.to_owned()),
            count: n,
            message_zh: zh,
            message_en: en,
        }
    }
}

fn declared_rules<'a>(item: Option<&'a DataItem>, column: &str, text: bool) -> DeclaredRules<'a> {
    use gongshu_core::types::ItemType as T;
    let item_type = item.map(|i| i.item_type);
    let type_check = match item_type {
        Some(T::Date | T::Datetime) if text => Some("gs_valid_date"),
        Some(T::Numeric | T::Currency | T::Double | T::Integer | T::Float) if text => {
            Some("gs_valid_number")
        }
        _ => None,
    };
    let max_length = item
        .filter(|i| text && i.length > 0 && matches!(i.item_type, T::Character))
        .map(|i| i.length);
    let codes = item.map(|i| i.codes.as_slice()).unwrap_or_default();
    let outside_codes = if !codes.is_empty() {
        let list: Vec<String> = codes
            .iter()
            .map(|c| format!("'{}'", c.replace('\'', "''")))
            .collect();
        Some(format!("{{v}} NOT IN ({})", list.join(", ")))
    } else if is_region_code_column(column) {
        Some("NOT gs_valid_region_code({v})".to_owned())
    } else {
        None
    };
    DeclaredRules {
        item,
        type_check,
        max_length,
        outside_codes,
    }
}

impl App {
    /// The quality of a resource's current version and the trend of its last versions:
    /// for its provider and those who oversee it.
    pub async fn resource_quality(
        &self,
        caller: &Principal,
        resource_id: &str,
    ) -> Result<QualityReport> {
        let (resource, dataset) = self.resource_and_entry(resource_id).await?;
        if !can_view_working_copy(caller, scope(&dataset)) {
            return Err(Error::not_found("资源", "Resource"));
        }
        let versions = self.published_tables(&resource).await?;
        let start = versions.len().saturating_sub(TREND);
        let mut trend = Vec::new();
        let mut current = None;
        for (i, m) in versions.iter().enumerate().skip(start) {
            let previous = i.checked_sub(1).map(|p| versions[p].rows);
            let last = i + 1 == versions.len();
            // Earlier versions are read as kept; the current one is counted again, since
            // its provider may have confirmed columns as codes since it was published.
            let kept = if last {
                None
            } else {
                self.kept_quality(&resource.id, m.version as i64).await
            };
            let mut q = match kept {
                Some(q) => q,
                None => {
                    let q = self
                        .version_quality(&resource, &dataset.doc.items, m, previous)
                        .await?;
                    self.keep_quality(&resource.id, &q).await;
                    q
                }
            };
            if last {
                self.add_timeliness(&resource, dataset.doc.update_cycle, &mut q);
                current = Some(q.clone());
            }
            trend.push((q.version, q.score));
        }
        let current = current.ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                "该资源尚无已发布的表格版本",
                "This resource has no published table version",
            )
        })?;
        Ok(QualityReport {
            resource_id: resource.id,
            current,
            trend,
        })
    }

    /// The published table versions of a resource up to the one serving, oldest first.
    async fn published_tables(&self, resource: &ResourceRow) -> Result<Vec<Manifest>> {
        let mut versions: Vec<Manifest> = self
            .store
            .list_resource_versions(&resource.id)
            .await
            .map_err(store_error)?
            .into_iter()
            .filter(|v| v.state == VersionState::Published)
            .filter_map(|v| serde_json::from_str::<Manifest>(&v.manifest).ok())
            .filter(|m| m.parquet.is_some())
            .collect();
        versions.sort_by_key(|m| m.version);
        let current = resource.current_version.unwrap_or_default();
        versions.retain(|m| m.version as i64 <= current);
        Ok(versions)
    }

    async fn kept_quality(&self, resource_id: &str, version: i64) -> Option<VersionQuality> {
        let text = self
            .store
            .version_quality(resource_id, version)
            .await
            .ok()??;
        serde_json::from_str(&text).ok()
    }

    /// Keeps a version's report for the trend and the evaluation; a failure only means
    /// it is counted again next time.
    async fn keep_quality(&self, resource_id: &str, q: &VersionQuality) {
        let Ok(text) = serde_json::to_string(q) else {
            return;
        };
        if let Err(e) = self
            .store
            .set_version_quality(resource_id, q.version, &text)
            .await
        {
            tracing::warn!(resource = %resource_id, error = %e, "quality not kept");
        }
    }

    /// Counts the quality of a version just published and keeps it.
    pub(crate) async fn keep_published_quality(&self, resource_id: &str) -> Result<()> {
        let (resource, dataset) = self.resource_and_entry(resource_id).await?;
        let versions = self.published_tables(&resource).await?;
        let Some(m) = versions.last() else {
            return Ok(());
        };
        let previous = versions.len().checked_sub(2).map(|p| versions[p].rows);
        let q = self
            .version_quality(&resource, &dataset.doc.items, m, previous)
            .await?;
        self.keep_quality(&resource.id, &q).await;
        Ok(())
    }

    async fn version_quality(
        &self,
        resource: &ResourceRow,
        items: &[DataItem],
        manifest: &Manifest,
        previous_rows: Option<u64>,
    ) -> Result<VersionQuality> {
        let classes = self
            .store
            .column_classes(&resource.id, manifest.version as i64)
            .await
            .map_err(store_error)?;
        let code_kind = |name: &str| -> Option<PiiKind> {
            let c = classes.iter().find(|c| c.column_name == name)?;
            let kind = match c.confirmed_kind.as_deref() {
                Some(k) => PiiKind::parse(k),
                None => c.proposed_kind.as_deref().and_then(PiiKind::parse),
            }?;
            matches!(kind, PiiKind::Uscc | PiiKind::ResidentId).then_some(kind)
        };
        let columns: Vec<_> = manifest
            .columns
            .iter()
            .filter(|c| c.name != "_row")
            .collect();
        let mut select = vec!["COUNT(*) AS n".to_owned()];
        // What each column's declared item lets us check: read once, for the query and
        // for its counts.
        let column_rules: Vec<DeclaredRules<'_>> = columns
            .iter()
            .map(|c| declared_rules(declared(items, &c.name), &c.name, is_text(&c.data_type)))
            .collect();
        for (i, c) in columns.iter().enumerate() {
            let col = quoted(&c.name);
            select.push(format!("COUNT({col}) AS f{i}"));
            if is_text(&c.data_type) {
                select.push(format!(
                    "SUM(CASE WHEN trim(CAST({col} AS VARCHAR)) = '' THEN 1 ELSE 0 END) AS b{i}"
                ));
            }
            let count_bad = |bad: String, alias: String| {
                format!(
                    "SUM(CASE WHEN {col} IS NULL OR trim(CAST({col} AS VARCHAR)) = '' THEN 0 \
                     WHEN {bad} THEN 1 ELSE 0 END) AS {alias}"
                )
            };
            let text = format!("CAST({col} AS VARCHAR)");
            if let Some(kind) = code_kind(&c.name) {
                let check = match kind {
                    PiiKind::Uscc => "gs_valid_uscc",
                    _ => "gs_valid_resident_id",
                };
                select.push(count_bad(format!("NOT {check}({text})"), format!("v{i}")));
            }
            let rules = &column_rules[i];
            if let Some(check) = rules.type_check {
                select.push(count_bad(format!("NOT {check}({text})"), format!("t{i}")));
            }
            if let Some(max) = rules.max_length {
                select.push(count_bad(
                    format!("character_length(trim({text})) > {max}"),
                    format!("l{i}"),
                ));
            }
            if let Some(outside) = &rules.outside_codes {
                select.push(count_bad(
                    outside.replace("{v}", &format!("trim({text})")),
                    format!("c{i}"),
                ));
            }
        }
        let table = TableRef {
            name: resource.table_name.clone(),
            path: Versions::parquet_path(&resource.id, manifest.version),
            rows: manifest.rows,
        };
        let from = quoted(&table.name);
        let engine = &self.data.engine;
        let counts = engine
            .sql(
                std::slice::from_ref(&table),
                &format!("SELECT {} FROM {from}", select.join(", ")),
            )
            .await
            .map_err(engine_failed)?;
        let b = &counts.batches;
        let rows = count_at(b, "n");
        let names: Vec<String> = columns.iter().map(|c| quoted(&c.name)).collect();
        // Counting distinct whole rows may not fit the engine's memory on a large table;
        // the report then says it does not know rather than fail.
        let duplicate_rows = if names.is_empty() {
            Some(0)
        } else {
            engine
                .sql(
                    std::slice::from_ref(&table),
                    &format!(
                        "SELECT COUNT(*) AS n FROM (SELECT DISTINCT {} FROM {from}) AS d",
                        names.join(", ")
                    ),
                )
                .await
                .ok()
                .map(|d| rows.saturating_sub(count_at(&d.batches, "n")))
        };

        // Distinct counts of the code columns, each on its own: like the duplicate rows,
        // one that does not fit the engine's memory is unknown, not a failed report.
        let mut distinct = std::collections::HashMap::new();
        for c in columns.iter().filter(|c| code_kind(&c.name).is_some()) {
            let sql = format!(
                "SELECT COUNT(DISTINCT {}) AS d FROM {from}",
                quoted(&c.name)
            );
            if let Ok(d) = engine.sql(std::slice::from_ref(&table), &sql).await {
                distinct.insert(c.name.clone(), count_at(&d.batches, "d"));
            }
        }

        let mut problems = Vec::new();
        let mut column_reports = Vec::new();
        let mut completeness_sum = 0.0;
        let (mut checked, mut invalid_total, mut worst_repeat) = (0u64, 0u64, 0.0f64);
        for (i, c) in columns.iter().enumerate() {
            let present = count_at(b, &format!("f{i}"));
            let blank = count_at(b, &format!("b{i}"));
            let filled = present.saturating_sub(blank);
            let completeness = if rows == 0 {
                1.0
            } else {
                filled as f64 / rows as f64
            };
            completeness_sum += completeness;
            let missing = rows.saturating_sub(filled);
            if completeness < 0.95 && missing > 0 {
                problems.push(QualityProblem {
                    code: "incomplete".into(),
                    column: Some(c.name.clone()),
                    count: missing,
                    message_zh: format!("“{}”列有 {missing} 行为空", c.name),
                    message_en: format!("Column “{}” is empty in {missing} rows", c.name),
                });
            }
            let rules = &column_rules[i];
            let declared_count =
                |on: bool, alias: char| on.then(|| count_at(b, &format!("{alias}{i}")));
            let wrong_type = declared_count(rules.type_check.is_some(), 't');
            let too_long = declared_count(rules.max_length.is_some(), 'l');
            let outside_codes = declared_count(rules.outside_codes.is_some(), 'c');
            if rules.any() {
                let bad =
                    wrong_type.unwrap_or(0) + too_long.unwrap_or(0) + outside_codes.unwrap_or(0);
                checked += filled;
                invalid_total += bad.min(filled);
            }
            for (code, count) in [
                ("wrong_type", wrong_type),
                ("too_long", too_long),
                ("outside_codes", outside_codes),
            ] {
                if let Some(n) = count.filter(|n| *n > 0) {
                    problems.push(rules.problem(code, &c.name, n));
                }
            }
            let kind = code_kind(&c.name);
            let (invalid, repeated) = match kind {
                Some(_) => {
                    let invalid = count_at(b, &format!("v{i}"));
                    let repeated = distinct.get(&c.name).map(|d| filled.saturating_sub(*d));
                    checked += filled;
                    invalid_total += invalid;
                    if let Some(repeated) = repeated.filter(|_| filled > 0) {
                        worst_repeat = worst_repeat.max(repeated as f64 / filled as f64);
                    }
                    if invalid > 0 {
                        problems.push(QualityProblem {
                            code: "invalid_code".into(),
                            column: Some(c.name.clone()),
                            count: invalid,
                            message_zh: format!(
                                "“{}”列有 {invalid} 个代码格式或校验位错误",
                                c.name
                            ),
                            message_en: format!(
                                "Column “{}” holds {invalid} codes with a wrong format or check character",
                                c.name
                            ),
                        });
                    }
                    if let Some(repeated) = repeated.filter(|r| *r > 0) {
                        problems.push(QualityProblem {
                            code: "duplicate_key".into(),
                            column: Some(c.name.clone()),
                            count: repeated,
                            message_zh: format!("“{}”列有 {repeated} 个重复值", c.name),
                            message_en: format!("Column “{}” repeats {repeated} values", c.name),
                        });
                    }
                    (Some(invalid), repeated)
                }
                None => (None, None),
            };
            column_reports.push(ColumnQuality {
                name: c.name.clone(),
                filled,
                completeness: (completeness * 1000.0).round() / 1000.0,
                checked_as: kind.map(|k| k.as_str().to_owned()),
                invalid,
                repeated,
                wrong_type,
                too_long,
                outside_codes,
            });
        }
        if let Some(d) = duplicate_rows.filter(|d| *d > 0) {
            problems.push(QualityProblem {
                code: "duplicate_rows".into(),
                column: None,
                count: d,
                message_zh: format!("有 {d} 行与前面的行完全相同"),
                message_en: format!("{d} rows repeat an earlier row exactly"),
            });
        }
        let dropped = previous_rows.is_some_and(|p| p > 0 && (rows as f64) < p as f64 * DROP_RATIO);
        if let (true, Some(p)) = (dropped, previous_rows) {
            problems.push(QualityProblem {
                code: "row_drop".into(),
                column: None,
                count: p - rows,
                message_zh: format!("行数由上一版本的 {p} 骤降至 {rows}"),
                message_en: format!("Rows fell sharply from {p} in the previous version to {rows}"),
            });
        }

        let ratio = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                part as f64 / whole as f64
            }
        };
        let completeness = if columns.is_empty() {
            1.0
        } else {
            completeness_sum / columns.len() as f64
        };
        let penalty = 40.0 * (1.0 - completeness)
            + 25.0 * ratio(invalid_total, checked)
            + 15.0 * worst_repeat
            + 10.0 * ratio(duplicate_rows.unwrap_or(0), rows)
            + if dropped { 10.0 } else { 0.0 };
        Ok(VersionQuality {
            version: manifest.version as i64,
            rows,
            score: (100.0 - penalty).round().clamp(0.0, 100.0) as u32,
            columns: column_reports,
            duplicate_rows,
            previous_rows,
            problems,
        })
    }

    /// The served version is late when the entry's update cycle has passed since it was
    /// published: ten points off, and a problem to act on.
    fn add_timeliness(
        &self,
        resource: &ResourceRow,
        cycle: gongshu_core::types::UpdateCycle,
        q: &mut VersionQuality,
    ) {
        let due = cycle
            .max_age_days()
            .zip(resource.updated_at)
            .map(|(days, at)| at + chrono::Duration::days(i64::from(days)));
        if let Some(due) = due.filter(|d| *d < self.now()) {
            let late = (self.now() - due).num_days().max(0) as u64;
            q.score = q.score.saturating_sub(10);
            q.problems.push(QualityProblem {
                code: "overdue".into(),
                column: None,
                count: late,
                message_zh: format!("已超过更新周期 {late} 天未更新"),
                message_en: format!("Not updated for {late} days past its update cycle"),
            });
        }
    }
}
