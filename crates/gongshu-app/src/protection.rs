//! Protection of personal information (issue 5): what each column of a resource holds,
//! as detected at ingest and as the provider confirmed it (PIPL §28 sensitive kinds
//! among them).

use chrono::{DateTime, Utc};
use gongshu_core::authz::{Principal, can_edit_entry, can_view_working_copy};
use gongshu_core::deident::{ColumnRule, Rule, RuleSet, suggested_rule};
use gongshu_core::pii::{ColumnProposal, PiiKind};
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_data::deident::Secrets;
use gongshu_data::detect::{ColumnFinding, scan_table};
use gongshu_data::{Manifest, OpenTable};
use gongshu_store::{ColumnClassRow, DatasetRow, ResourceRow, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::catalog::scope;
use crate::{App, Result, store_error};

/// What a column of a resource version holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ColumnClassView {
    pub column: String,
    /// The detector's proposal, if it found personal information.
    pub proposed: Option<ColumnProposal>,
    /// Over the whole column: the share of values that passed the proposed kind's check
    /// (absent for kinds told by the header alone).
    pub confirmed_share: Option<f64>,
    /// What the provider confirmed: a kind's wire name, or `none`. Absent until then.
    pub confirmed: Option<String>,
    /// The confirmed kind is sensitive personal information (PIPL §28).
    pub sensitive: bool,
    pub confirmed_by: Option<i64>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// The columns of one version of a resource.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ColumnClasses {
    pub resource_id: String,
    pub version: i64,
    pub columns: Vec<ColumnClassView>,
    /// Columns with a proposal the provider has not confirmed or corrected yet.
    pub unconfirmed: Vec<String>,
}

/// The provider's confirmation: each named column's kind (`resident_id`, `name` …) or
/// `none` when it holds no personal information.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfirmation {
    pub version: i64,
    #[schema(value_type = Object)]
    pub columns: std::collections::BTreeMap<String, String>,
}

/// The detector's evidence as stored with the proposal.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredProposal {
    proposal: Option<ColumnProposal>,
    confirmed_share: Option<f64>,
    values_checked: u64,
}

fn view(r: &ColumnClassRow) -> ColumnClassView {
    let stored: Option<StoredProposal> = serde_json::from_str(&r.proposal).ok();
    let confirmed_kind = r.confirmed_kind.as_deref().and_then(PiiKind::parse);
    ColumnClassView {
        column: r.column_name.clone(),
        proposed: stored.as_ref().and_then(|s| s.proposal),
        confirmed_share: stored.and_then(|s| s.confirmed_share),
        confirmed: r.confirmed_kind.clone(),
        sensitive: confirmed_kind.is_some_and(PiiKind::is_sensitive),
        confirmed_by: r.confirmed_by,
        confirmed_at: r.confirmed_at,
    }
}

impl App {
    /// Reads a freshly staged table once and records what each column seems to hold.
    /// Returns the columns with a proposal.
    pub(crate) async fn detect_columns(
        &self,
        resource_id: &str,
        manifest: &Manifest,
    ) -> std::result::Result<Vec<ColumnFinding>, String> {
        let internal = |what: &str, e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, resource = %resource_id, "{what}");
            "内部错误，已记录 (internal error, logged)".to_owned()
        };
        let findings = scan_table(&self.data.versions, resource_id, manifest)
            .await
            .map_err(|e| internal("detecting personal information", &e))?;
        let rows: Vec<ColumnClassRow> = findings
            .iter()
            .map(|f| ColumnClassRow {
                resource_id: resource_id.to_owned(),
                version: manifest.version as i64,
                column_name: f.column.clone(),
                proposed_kind: f.proposal.map(|p| p.kind.as_str().to_owned()),
                proposal: serde_json::to_string(&StoredProposal {
                    proposal: f.proposal,
                    confirmed_share: f.confirmed_share,
                    values_checked: f.values_checked,
                })
                .unwrap_or_else(|_| "{}".into()),
                confirmed_kind: None,
                confirmed_by: None,
                confirmed_at: None,
            })
            .collect();
        self.store
            .put_column_proposals(&rows)
            .await
            .map_err(|e| internal("recording column classes", &e))?;
        Ok(findings
            .into_iter()
            .filter(|f| f.proposal.is_some())
            .collect())
    }

    /// What the columns of a resource hold: the latest version unless one is named. For
    /// the entry's provider, the authority and auditors of its region.
    pub async fn column_classes(
        &self,
        caller: &Principal,
        resource_id: &str,
        version: Option<i64>,
    ) -> Result<ColumnClasses> {
        let (resource, dataset) = self.resource_and_entry(resource_id).await?;
        if !can_view_working_copy(caller, scope(&dataset)) {
            return Err(Error::not_found("资源", "Resource"));
        }
        let version = match version {
            Some(v) => v,
            None => self
                .store
                .list_resource_versions(&resource.id)
                .await
                .map_err(store_error)?
                .first()
                .map(|v| v.version)
                .ok_or_else(|| Error::not_found("版本", "Version"))?,
        };
        let rows = self
            .store
            .column_classes(&resource.id, version)
            .await
            .map_err(store_error)?;
        let columns: Vec<ColumnClassView> = rows.iter().map(view).collect();
        Ok(ColumnClasses {
            resource_id: resource.id,
            version,
            unconfirmed: columns
                .iter()
                .filter(|c| c.proposed.is_some() && c.confirmed.is_none())
                .map(|c| c.column.clone())
                .collect(),
            columns,
        })
    }

    /// The provider's data administrators confirm or correct what columns hold; the
    /// confirmation is recorded with who and when.
    pub async fn confirm_columns(
        &self,
        caller: &Principal,
        resource_id: &str,
        input: ColumnConfirmation,
    ) -> Result<ColumnClasses> {
        let (resource, dataset) = self.administered_resource(caller, resource_id).await?;
        let mut problems = Vec::new();
        if input.columns.is_empty() {
            problems.push(FieldError::new(
                "columns",
                "required",
                "请至少确认一列",
                "Confirm at least one column",
            ));
        }
        for (column, kind) in &input.columns {
            if kind != "none" && PiiKind::parse(kind).is_none() {
                problems.push(FieldError::new(
                    format!("columns.{column}"),
                    "unknown_kind",
                    format!("未知的个人信息类别：{kind}"),
                    format!("Unknown kind of personal information: {kind}"),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::validation(problems));
        }
        let confirmed: Vec<(String, String)> = input.columns.into_iter().collect();
        self.store
            .confirm_column_classes(
                &resource.id,
                input.version,
                &confirmed,
                caller.user_id,
                self.now(),
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::validation(vec![FieldError::new(
                    "columns",
                    "unknown_column",
                    "该版本没有这一列",
                    "That version has no such column",
                )]),
                other => store_error(other),
            })?;
        // What the columns hold decides the rules in force: the open version follows.
        self.refresh_open_version(&resource, &dataset).await?;
        self.column_classes(caller, &resource.id, Some(input.version))
            .await
    }
}

/// An open version as recorded: its table, and the smallest equivalence class over the
/// quasi-identifiers when the provider named them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredOpen {
    #[serde(flatten)]
    table: OpenTable,
    #[serde(default)]
    smallest_class: Option<u64>,
    /// The k-anonymity report over the rules' quasi-identifiers, made with the open
    /// version and kept with it: the record of the assessment behind publication
    /// (PIPL §55).
    #[serde(default)]
    report: Option<gongshu_data::deident::KReport>,
}

/// The rules the open version of a table is computed with.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EffectiveRules {
    pub resource_id: String,
    pub version: i64,
    /// The rules the provider set, as it set them.
    pub explicit: RuleSet,
    /// Every rule in force: the provider's, and for each column holding personal
    /// information without one, the rule suggested for its kind.
    pub effective: RuleSet,
    /// Columns holding personal information (confirmed, or proposed and not yet
    /// confirmed) with their kind.
    #[schema(value_type = Object)]
    pub personal: std::collections::BTreeMap<String, String>,
    /// Names the rules in force; the open version is stored under it.
    pub rules_hash: String,
    /// What the rule in force leaves of each personal column (PIPL §73).
    #[schema(value_type = Object)]
    pub effects: std::collections::BTreeMap<String, gongshu_core::deident::Effect>,
    /// The open version judged by its weakest personal column: `identified`,
    /// `deidentified` (去标识化: reversible or linkable with the key) or
    /// `anonymisation_candidate` (to be confirmed with the k-anonymity report).
    pub processing: gongshu_core::deident::Processing,
}

/// The provider's rules for a resource, with the reason recorded.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesInput {
    pub rules: RuleSet,
    pub reason: String,
}

impl App {
    /// The per-dataset secrets: derived from the master key, so datasets do not link.
    fn secrets_for(&self, dataset_id: i64) -> Secrets {
        let key = &self.settings.master_key;
        Secrets::new(
            key.derive(&format!("gongshu/pseudonym/v1/dataset/{dataset_id}")),
            key.derive(&format!("gongshu/fpe/v1/dataset/{dataset_id}")),
        )
    }

    /// The rules the open version of `version` is computed with: the provider's, plus
    /// the suggested rule for each personal column without one. A column confirmed as
    /// holding nothing personal gets no rule of its own.
    pub(crate) async fn effective_rules(
        &self,
        resource_id: &str,
        version: i64,
        columns: &[String],
    ) -> Result<EffectiveRules> {
        let explicit: RuleSet = match self
            .store
            .resource_rules(resource_id)
            .await
            .map_err(store_error)?
        {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                tracing::error!(resource = %resource_id, error = %e, "stored rules unreadable");
                Error::internal()
            })?,
            None => RuleSet::default(),
        };
        self.rules_in_force(resource_id, version, columns, explicit)
            .await
    }

    /// What `explicit` puts in force on this version: the provider's rules for the
    /// columns it has, and the suggested rule for each column holding personal
    /// information that has none.
    async fn rules_in_force(
        &self,
        resource_id: &str,
        version: i64,
        columns: &[String],
        explicit: RuleSet,
    ) -> Result<EffectiveRules> {
        let classes = self
            .store
            .column_classes(resource_id, version)
            .await
            .map_err(store_error)?;
        let mut personal = std::collections::BTreeMap::new();
        for c in &classes {
            let kind = match c.confirmed_kind.as_deref() {
                Some("none") => None,
                Some(k) => PiiKind::parse(k),
                None => c.proposed_kind.as_deref().and_then(PiiKind::parse),
            };
            if let Some(kind) = kind {
                personal.insert(c.column_name.clone(), kind);
            }
        }
        // Rules for columns this version no longer has are kept for later versions but
        // do not apply here.
        let mut effective: Vec<ColumnRule> = explicit
            .columns
            .iter()
            .filter(|r| columns.contains(&r.column))
            .cloned()
            .collect();
        for (column, kind) in &personal {
            if explicit.rule_for(column).is_none() && columns.contains(column) {
                effective.push(ColumnRule {
                    column: column.clone(),
                    rule: suggested_rule(*kind),
                });
            }
        }
        effective.sort_by(|a, b| a.column.cmp(&b.column));
        let quasi_identifiers = explicit
            .quasi_identifiers
            .iter()
            .filter(|q| columns.contains(q))
            .cloned()
            .collect();
        let effective = RuleSet {
            columns: effective,
            quasi_identifiers,
        };
        let canonical = serde_json::to_string(&effective).map_err(|_| Error::internal())?;
        let digest = Sha256::digest(
            format!("{}\n{canonical}", self.settings.master_key.fingerprint()).as_bytes(),
        );
        let effects = personal
            .keys()
            .map(|c| {
                let effect = effective
                    .rule_for(c)
                    .map_or(gongshu_core::deident::Effect::Identifying, Rule::effect);
                (c.clone(), effect)
            })
            .collect();
        let processing =
            gongshu_core::deident::Processing::of(&effective, personal.keys().map(String::as_str));
        Ok(EffectiveRules {
            resource_id: resource_id.to_owned(),
            version,
            explicit,
            effective,
            personal: personal
                .into_iter()
                .map(|(c, k)| (c, k.as_str().to_owned()))
                .collect(),
            rules_hash: hex::encode(&digest[..8]),
            effects,
            processing,
        })
    }

    /// The open version of a table version under the rules in force now, computed
    /// and stored the first time it is asked for; `None` when no rule applies (no
    /// column holds personal information), so the open version is the table itself.
    /// With `strict` (the grade's cap or the entry requires de-identification), a
    /// personal column the provider chose to keep as it is refuses the whole table.
    pub(crate) async fn open_table(
        &self,
        resource: &ResourceRow,
        dataset: &DatasetRow,
        manifest: &Manifest,
        strict: bool,
    ) -> Result<Option<(OpenTable, String)>> {
        let columns: Vec<String> = manifest.columns.iter().map(|c| c.name.clone()).collect();
        let rules = self
            .effective_rules(&resource.id, manifest.version as i64, &columns)
            .await?;
        // A credit code names an organisation (public by law); every other personal
        // column must be transformed where de-identification is required.
        if strict
            && let Some(kept) = rules.personal.iter().find_map(|(c, kind)| {
                (kind != PiiKind::Uscc.as_str()
                    && matches!(rules.effective.rule_for(c), None | Some(Rule::Keep)))
                .then_some(c)
            })
        {
            return Err(Error::new(
                ErrorCode::Forbidden,
                format!("该数据须脱敏后提供，但“{kept}”列未设置脱敏规则"),
                format!(
                    "This data is provided de-identified only, and column “{kept}” has no de-identification rule"
                ),
            ));
        }
        let k = u64::from(self.grade_caps().await?.k_threshold);
        match self
            .open_version(resource, dataset, manifest, &rules)
            .await?
        {
            Some((stored, _))
                if stored
                    .smallest_class
                    .is_some_and(|n| n < k && stored.table.rows > 0) =>
            {
                let smallest = stored.smallest_class.unwrap_or_default();
                Err(Error::new(
                    ErrorCode::Forbidden,
                    format!(
                        "公开版本未达到 k-匿名要求（最小等价类 {smallest} 条，应不少于 {k} 条），提供单位须进一步泛化准标识符"
                    ),
                    format!(
                        "The open version is not {k}-anonymous (its smallest class holds {smallest} records): the provider must generalise its quasi-identifiers further"
                    ),
                ))
            }
            Some((stored, hash)) => Ok(Some((stored.table, hash))),
            None => Ok(None),
        }
    }

    /// The open version under the rules in force, made and recorded the first time it
    /// is asked for, with its smallest class over the quasi-identifiers; `None` when
    /// it would be the table itself. The k threshold is not applied here.
    async fn open_version(
        &self,
        resource: &ResourceRow,
        dataset: &DatasetRow,
        manifest: &Manifest,
        rules: &EffectiveRules,
    ) -> Result<Option<(StoredOpen, String)>> {
        let quasi = &rules.effective.quasi_identifiers;
        if quasi.is_empty() && rules.effective.columns.iter().all(|c| c.rule == Rule::Keep) {
            return Ok(None);
        }
        if let Some(stored) = self
            .store
            .open_version(&resource.id, manifest.version as i64, &rules.rules_hash)
            .await
            .map_err(store_error)?
            .and_then(|json| serde_json::from_str::<StoredOpen>(&json).ok())
        {
            return Ok(Some((stored, rules.rules_hash.clone())));
        }
        let seal = self.seal_for(dataset).await?;
        let table = self
            .data
            .versions
            .write_open(
                &resource.id,
                manifest,
                &rules.effective,
                &self.secrets_for(dataset.id),
                &rules.rules_hash,
                &self.data.tmp_dir,
                seal,
            )
            .await
            .map_err(|e| {
                tracing::error!(resource = %resource.id, error = %e, "computing the open version");
                Error::new(
                    ErrorCode::Internal,
                    "生成脱敏版本失败，已记录",
                    "The open version could not be computed; this was logged",
                )
            })?;
        // Measured once, when the open version is made: readers only compare.
        let report = if quasi.is_empty() {
            None
        } else {
            let path = gongshu_data::Versions::open_path(
                &resource.id,
                manifest.version,
                &rules.rules_hash,
            );
            let open_manifest = Manifest {
                rows: table.rows,
                columns: table.columns.clone(),
                parquet: Some(table.file.clone()),
                ..manifest.clone()
            };
            let report = self
                .k_report_of(
                    &path,
                    &open_manifest,
                    quasi,
                    self.grade_caps().await?.k_threshold as usize,
                    None,
                )
                .await?;
            Some(report)
        };
        let stored = StoredOpen {
            table,
            smallest_class: report.as_ref().map(|r| r.smallest_class),
            report,
        };
        let json = serde_json::to_string(&stored).map_err(|_| Error::internal())?;
        self.store
            .put_open_version(
                &resource.id,
                manifest.version as i64,
                &rules.rules_hash,
                &json,
                self.now(),
            )
            .await
            .map_err(store_error)?;
        Ok(Some((stored, rules.rules_hash.clone())))
    }

    /// A resource the caller administers as its provider's data administrator: refused
    /// for those who only read the entry's working copy, missing for anyone else.
    async fn administered_resource(
        &self,
        caller: &Principal,
        resource_id: &str,
    ) -> Result<(ResourceRow, DatasetRow)> {
        let (resource, dataset) = self.resource_and_entry(resource_id).await?;
        if !can_edit_entry(caller, scope(&dataset)) {
            return Err(if can_view_working_copy(caller, scope(&dataset)) {
                Error::forbidden()
            } else {
                Error::not_found("资源", "Resource")
            });
        }
        Ok((resource, dataset))
    }

    /// The rules of a resource's latest version: the provider's and those in force.
    pub async fn resource_rules(
        &self,
        caller: &Principal,
        resource_id: &str,
    ) -> Result<EffectiveRules> {
        let (resource, dataset) = self.resource_and_entry(resource_id).await?;
        if !can_view_working_copy(caller, scope(&dataset)) {
            return Err(Error::not_found("资源", "Resource"));
        }
        let (version, columns) = self.latest_columns(&resource).await?;
        self.effective_rules(&resource.id, version, &columns).await
    }

    /// The provider's data administrators set a resource's de-identification rules; the
    /// open version of the serving version is computed again at once.
    pub async fn set_resource_rules(
        &self,
        caller: &Principal,
        resource_id: &str,
        input: RulesInput,
    ) -> Result<EffectiveRules> {
        let (resource, dataset) = self.administered_resource(caller, resource_id).await?;
        let (version, columns) = self.latest_columns(&resource).await?;
        let mut problems = rule_problems(&input.rules, &columns);
        let reason = input.reason.trim();
        problems.extend(crate::missing_reason(reason));
        if !problems.is_empty() {
            return Err(Error::validation(problems));
        }
        let json = serde_json::to_string(&input.rules).map_err(|_| Error::internal())?;
        self.store
            .put_resource_rules(&resource.id, &json, caller.user_id, reason, self.now())
            .await
            .map_err(store_error)?;
        self.refresh_open_version(&resource, &dataset).await?;
        self.effective_rules(&resource.id, version, &columns).await
    }

    /// Computes the serving version's open version under the rules now in force, so
    /// the first reader after a change does not wait for it.
    pub(crate) async fn refresh_open_version(
        &self,
        resource: &ResourceRow,
        dataset: &DatasetRow,
    ) -> Result<()> {
        let Some(manifest) = resource
            .current_manifest
            .as_deref()
            .and_then(|m| serde_json::from_str::<Manifest>(m).ok())
            .filter(|m| m.parquet.is_some())
        else {
            return Ok(());
        };
        // Made now, whether or not it passes the k threshold: readers are refused, the
        // provider reads the report that says why.
        let columns: Vec<String> = manifest.columns.iter().map(|c| c.name.clone()).collect();
        let rules = self
            .effective_rules(&resource.id, manifest.version as i64, &columns)
            .await?;
        self.open_version(resource, dataset, &manifest, &rules)
            .await
            .map(|_| ())
    }

    /// The latest version of a resource and its columns.
    async fn latest_columns(&self, resource: &ResourceRow) -> Result<(i64, Vec<String>)> {
        let latest = self
            .store
            .list_resource_versions(&resource.id)
            .await
            .map_err(store_error)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found("版本", "Version"))?;
        let manifest: Manifest =
            serde_json::from_str(&latest.manifest).map_err(|_| Error::internal())?;
        Ok((
            latest.version,
            manifest.columns.into_iter().map(|c| c.name).collect(),
        ))
    }
}

/// What is wrong with `rules` for a table with these columns, each field under `rules.`.
fn rule_problems(rules: &RuleSet, columns: &[String]) -> Vec<FieldError> {
    let names: Vec<&str> = columns.iter().map(String::as_str).collect();
    rules
        .problems(&names)
        .into_iter()
        .map(|mut f| {
            f.field = format!("rules.{}", f.field);
            f
        })
        .collect()
}

/// Sample rows before and after de-identification, for the provider choosing rules.
#[derive(Debug, Clone)]
pub struct RulesPreview {
    /// The first rows of the serving version as the provider holds them.
    pub raw: Vec<arrow_array::RecordBatch>,
    /// The same rows as the public would get them under the rules.
    pub open: Vec<arrow_array::RecordBatch>,
    /// The rules previewed, with the suggested ones for columns the provider left out.
    pub rules: EffectiveRules,
}

/// Rows a rules preview shows.
const PREVIEW_SAMPLE: usize = 8;

impl App {
    /// The first rows of a table before and after `rules` (the rules stored when none),
    /// computed in memory and stored nowhere. The raw side is the provider's own data:
    /// only the provider's data administrators see it.
    pub async fn rules_preview(
        &self,
        caller: &Principal,
        resource_id: &str,
        rules: Option<RuleSet>,
    ) -> Result<RulesPreview> {
        let (resource, dataset) = self.administered_resource(caller, resource_id).await?;
        // The sample is read through the access gate, like any read, and only from the
        // raw table it hands the provider.
        let (readable, page) = self
            .preview(Some(caller), resource_id, PREVIEW_SAMPLE)
            .await?;
        if readable.path
            != gongshu_data::Versions::parquet_path(&resource.id, readable.manifest.version)
        {
            return Err(Error::forbidden());
        }
        let columns: Vec<String> = readable
            .manifest
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let version = readable.manifest.version as i64;
        let rules = match rules {
            Some(explicit) => {
                let problems = rule_problems(&explicit, &columns);
                if !problems.is_empty() {
                    return Err(Error::validation(problems));
                }
                self.rules_in_force(&resource.id, version, &columns, explicit)
                    .await?
            }
            None => {
                self.effective_rules(&resource.id, version, &columns)
                    .await?
            }
        };
        let deidentifier = gongshu_data::deident::Deidentifier::new(
            &page.schema,
            &rules.effective,
            &self.secrets_for(dataset.id),
        )
        .map_err(|e| {
            Error::new(
                ErrorCode::Validation,
                format!("规则不适用于此表：{e}"),
                format!("The rules do not fit this table: {e}"),
            )
        })?;
        let open = page
            .batches
            .iter()
            .map(|b| deidentifier.apply(b))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::new(
                    ErrorCode::Validation,
                    format!("规则无法应用：{e}"),
                    format!("The rules could not be applied: {e}"),
                )
            })?;
        Ok(RulesPreview {
            raw: page.batches,
            open,
            rules,
        })
    }
}

/// Rows a k-anonymity report reads on demand; a larger table wants a batch job.
const K_REPORT_MAX_ROWS: u64 = 5_000_000;

/// What a k-anonymity report is asked about.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct KReportQuery {
    /// Quasi-identifiers, comma-separated (e.g. 街道,年龄段,性别). Empty: the report kept
    /// with the open version, over the quasi-identifiers named in the rules.
    #[serde(default)]
    pub quasi: String,
    /// The threshold (the province's policy by default).
    pub k: Option<usize>,
    /// A sensitive column, for l-diversity.
    pub sensitive: Option<String>,
}

impl App {
    /// The re-identification risk of the open version the public would get, over the
    /// quasi-identifiers the provider picks (GB/T 37964 K-匿名, with l-diversity). For
    /// the entry's provider, the authority and auditors of its region.
    pub async fn k_anonymity_report(
        &self,
        caller: &Principal,
        resource_id: &str,
        q: KReportQuery,
    ) -> Result<gongshu_data::deident::KReport> {
        let (resource, dataset) = self.resource_and_entry(resource_id).await?;
        if !can_view_working_copy(caller, scope(&dataset)) {
            return Err(Error::not_found("资源", "Resource"));
        }
        let raw: Manifest = resource
            .current_manifest
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .filter(|m: &Manifest| m.parquet.is_some())
            .ok_or_else(|| Error::not_found("数据表", "Table"))?;
        let quasi: Vec<String> = q
            .quasi
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let columns: Vec<String> = raw.columns.iter().map(|c| c.name.clone()).collect();
        let rules = self
            .effective_rules(&resource.id, raw.version as i64, &columns)
            .await?;
        let stored = self.open_version(&resource, &dataset, &raw, &rules).await?;
        if quasi.is_empty() {
            return stored.and_then(|(s, _)| s.report).ok_or_else(|| {
                Error::validation(vec![FieldError::new(
                    "quasi",
                    "required",
                    "规则中未指定准标识符：请在 quasi 参数中列出",
                    "The rules name no quasi-identifiers: list them in `quasi`",
                )])
            });
        }
        let (manifest, path) = match stored {
            Some((StoredOpen { table: open, .. }, hash)) => (
                Manifest {
                    rows: open.rows,
                    columns: open.columns,
                    parquet: Some(open.file),
                    ..raw.clone()
                },
                gongshu_data::Versions::open_path(&resource.id, raw.version, &hash),
            ),
            None => (
                raw.clone(),
                gongshu_data::Versions::parquet_path(&resource.id, raw.version),
            ),
        };
        let wanted: Vec<&String> = quasi.iter().chain(q.sensitive.iter()).collect();
        let known: Vec<&str> = manifest.columns.iter().map(|c| c.name.as_str()).collect();
        if quasi.is_empty() || wanted.iter().any(|c| !known.contains(&c.as_str())) {
            return Err(Error::validation(vec![FieldError::new(
                "quasi",
                "unknown_column",
                "请选择公开版本中存在的准标识符列",
                "Pick quasi-identifiers among the open version's columns",
            )]));
        }
        if manifest.rows > K_REPORT_MAX_ROWS {
            return Err(Error::new(
                ErrorCode::BadRequest,
                format!("数据超过 {K_REPORT_MAX_ROWS} 行，无法即时计算"),
                format!("More than {K_REPORT_MAX_ROWS} rows: too many for a report on demand"),
            ));
        }
        self.k_report_of(
            &path,
            &manifest,
            &quasi,
            match q.k {
                Some(k) => k,
                None => self.grade_caps().await?.k_threshold as usize,
            },
            q.sensitive.as_deref(),
        )
        .await
    }

    /// The k-anonymity report of the table at `path`, reading only the columns it needs.
    async fn k_report_of(
        &self,
        path: &gongshu_data::ObjectPath,
        manifest: &Manifest,
        quasi: &[String],
        k: usize,
        sensitive: Option<&str>,
    ) -> Result<gongshu_data::deident::KReport> {
        use futures::StreamExt as _;
        let wanted: Vec<&str> = quasi.iter().map(String::as_str).chain(sensitive).collect();
        let mut stream = self
            .data
            .versions
            .stream_parquet(path, manifest, 65_536)
            .await
            .map_err(|e| {
                tracing::error!(path = %path, error = %e, "reading for a k-anonymity report");
                Error::internal()
            })?;
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|_| Error::internal())?;
            // Only the columns the report needs stay in memory.
            let indices: Vec<usize> = wanted
                .iter()
                .filter_map(|c| batch.schema().index_of(c).ok())
                .collect();
            batches.push(batch.project(&indices).map_err(|_| Error::internal())?);
        }
        gongshu_data::deident::k_anonymity(&batches, &wanted[..quasi.len()], k.max(1), sensitive)
            .map_err(|e| {
                tracing::warn!(path = %path, error = %e, "k-anonymity report");
                Error::new(
                    ErrorCode::BadRequest,
                    "无法计算该报告",
                    "The report cannot be computed",
                )
            })
    }
}

/// The grade → cap table as the province's authority set it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GradeCapsView {
    #[schema(value_type = Object)]
    pub caps: gongshu_core::catalog::GradeCapPolicy,
    /// `platform` for the table that ships, `authority` once edited.
    pub source: String,
    pub history: Vec<crate::views::EventView>,
}

/// A new grade → cap table, with the reason recorded.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GradeCapsInput {
    #[schema(value_type = Object)]
    pub caps: gongshu_core::catalog::GradeCapPolicy,
    pub reason: String,
}

/// The province's authority (an authority of a region ending in 0000) or a system
/// administrator: the grade → cap table is one for the whole province.
pub fn may_set_grade_caps(caller: &Principal) -> bool {
    caller.has_role(gongshu_core::types::Role::SystemAdmin)
        || caller
            .authority_regions()
            .iter()
            .any(|r| r.len() == 6 && r.ends_with("0000"))
}

impl App {
    /// The grade → cap table in force: the authority's, or the default that ships. Read
    /// from the store each time, so every node applies an edit at once.
    pub(crate) async fn grade_caps(&self) -> Result<gongshu_core::catalog::GradeCapPolicy> {
        match self.store.grade_caps().await.map_err(store_error)? {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                tracing::error!(error = %e, "stored grade caps unreadable");
                Error::internal()
            }),
            None => Ok(gongshu_core::catalog::GradeCapPolicy::default()),
        }
    }

    /// The table in force and its history. Public: it says what may be opened at all.
    pub async fn grade_caps_view(&self) -> Result<GradeCapsView> {
        let edited = self
            .store
            .grade_caps()
            .await
            .map_err(store_error)?
            .is_some();
        Ok(GradeCapsView {
            caps: self.grade_caps().await?,
            source: if edited { "authority" } else { "platform" }.into(),
            history: self.history("grade_caps", "province").await?,
        })
    }

    /// The province's authority (an authority administrator of a province-level region)
    /// or a system administrator edits the table, with a reason. It applies on catalog
    /// edits, attribute changes and at access time from the next request on.
    pub async fn set_grade_caps(
        &self,
        caller: &Principal,
        input: GradeCapsInput,
    ) -> Result<GradeCapsView> {
        if !may_set_grade_caps(caller) {
            return Err(Error::forbidden());
        }
        let mut problems = input.caps.problems();
        let reason = input.reason.trim();
        problems.extend(crate::missing_reason(reason));
        if !problems.is_empty() {
            return Err(Error::validation(problems));
        }
        let json = serde_json::to_string(&input.caps).map_err(|_| Error::internal())?;
        self.store
            .put_grade_caps(&json, caller.user_id, reason, self.now())
            .await
            .map_err(store_error)?;
        self.grade_caps_view().await
    }
}

/// An entry in the important-data catalog (重要数据目录): graded important or core, or
/// holding a data item so graded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportantEntry {
    pub dataset_id: i64,
    pub code: String,
    pub title: String,
    pub provider_id: i64,
    pub region_code: String,
    pub status: gongshu_core::types::DatasetStatus,
    pub grade: gongshu_core::types::Grade,
    /// The items graded important or core, with their grade.
    #[schema(value_type = Object)]
    pub items: Vec<(String, gongshu_core::types::Grade)>,
    /// Resources holding the entry's data, and the rows of their serving versions: the
    /// quantities a risk assessment reports (数据安全法 §30).
    pub resources: u64,
    pub rows: u64,
}

impl App {
    /// The important-data catalog of the regions the caller oversees (authorities and
    /// auditors; every region for a system administrator): working copies included,
    /// since important data must be known before it is ever published (SD-BIGDATA §34,
    /// 数据安全法 §21).
    pub async fn important_data(&self, caller: &Principal) -> Result<Vec<ImportantEntry>> {
        use gongshu_core::types::Grade;
        let mut prefixes: Vec<String> = caller
            .oversight_regions()
            .iter()
            .filter_map(|r| gongshu_core::region::RegionCode::parse(r))
            .map(|r| r.prefix().to_owned())
            .collect();
        if caller.has_role(gongshu_core::types::Role::SystemAdmin) {
            prefixes = vec![String::new()];
        }
        if prefixes.is_empty() {
            return Err(Error::forbidden());
        }
        let important = |g: Grade| g >= Grade::Important;
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .store
                .list_working(&gongshu_store::WorkingQuery {
                    provider_ids: Vec::new(),
                    region_prefixes: prefixes.clone(),
                    status: None,
                    limit: 500,
                    offset,
                })
                .await
                .map_err(store_error)?;
            let n = page.items.len() as i64;
            for d in page.items {
                let items: Vec<(String, Grade)> = d
                    .doc
                    .items
                    .iter()
                    .filter(|i| important(i.grade))
                    .map(|i| (i.name.clone(), i.grade))
                    .collect();
                if important(d.doc.grade) || !items.is_empty() {
                    let resources = self.store.list_resources(d.id).await.map_err(store_error)?;
                    let rows = resources
                        .iter()
                        .filter_map(|r| r.current_manifest.as_deref())
                        .filter_map(|m| serde_json::from_str::<Manifest>(m).ok())
                        .map(|m| m.rows)
                        .sum();
                    out.push(ImportantEntry {
                        resources: resources.len() as u64,
                        rows,
                        dataset_id: d.id,
                        code: d.code.clone(),
                        title: d.doc.title.clone(),
                        provider_id: d.provider_id,
                        region_code: d.region_code.clone(),
                        status: d.status,
                        grade: d.doc.grade,
                        items,
                    });
                }
            }
            if n < 500 {
                return Ok(out);
            }
            offset += n;
        }
    }
}
