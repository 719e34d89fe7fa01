//! Protection of personal information (issue 5): what each column of a resource holds,
//! as detected at ingest and as the provider confirmed it (PIPL §28 sensitive kinds
//! among them).

use chrono::{DateTime, Utc};
use gongshu_core::authz::{Principal, can_edit_entry, can_view_working_copy};
use gongshu_core::pii::{ColumnProposal, PiiKind};
use gongshu_core::{Error, FieldError};
use gongshu_data::Manifest;
use gongshu_data::detect::{ColumnFinding, scan};
use gongshu_store::{ColumnClassRow, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::scope;
use crate::{App, Result, store_error};

/// Batches read for detection: large enough to keep the per-batch work small.
const DETECT_BATCH_ROWS: usize = 8192;

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
        let stream = self
            .data
            .versions
            .stream_table(resource_id, manifest, DETECT_BATCH_ROWS)
            .await
            .map_err(|e| internal("reading the table for detection", &e))?;
        let findings = scan(stream)
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
        let (resource, dataset) = self.resource_and_entry(resource_id).await?;
        if !can_edit_entry(caller, scope(&dataset)) {
            return Err(if can_view_working_copy(caller, scope(&dataset)) {
                Error::forbidden()
            } else {
                Error::not_found("资源", "Resource")
            });
        }
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
        self.column_classes(caller, &resource.id, Some(input.version))
            .await
    }
}
