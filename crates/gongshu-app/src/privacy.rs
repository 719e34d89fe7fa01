//! The sandbox's differential-privacy mode, per grant (issue 9): the provider puts a
//! grant in it, with a mechanism, an ε budget, the ε each query spends, the declared
//! bounds of the columns that may be summed and the rows one person has at most. The
//! grant's sandbox queries are then answered with noise (`gongshu_data::dp`), released
//! at once, and each spends its ε from the budget; an exhausted budget refuses.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use gongshu_core::authz::{Principal, can_edit_entry};
use gongshu_core::disclosure::Mechanism;
use gongshu_core::{Error, ErrorCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::AuditEvent;
use crate::{App, Result, store_error};

fn default_delta() -> f64 {
    1e-6
}

fn one() -> u32 {
    1
}

/// The provider's settings of a grant's differential-privacy mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    pub enabled: bool,
    pub mechanism: Mechanism,
    /// The ε the grant may spend in all (0 < budget ≤ 100).
    pub epsilon_budget: f64,
    /// The ε each query spends, split over its figures (0 < ε ≤ budget).
    pub epsilon_per_query: f64,
    /// δ of the Gaussian mechanism (0 < δ ≤ 0.001; 1e-6 by default).
    #[serde(default = "default_delta")]
    pub delta: f64,
    /// Each column that may be summed or averaged, with its bounds: values are clamped
    /// to them.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, Vec<f64>>)]
    pub bounds: BTreeMap<String, [f64; 2]>,
    /// The most rows one person has in the data (1 for a register of people).
    #[serde(default = "one")]
    pub max_rows_per_person: u32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PrivacyView {
    pub grant_id: i64,
    #[serde(flatten)]
    pub settings: PrivacySettings,
    /// ε spent by the grant's queries so far.
    pub spent: f64,
    pub remaining: f64,
    pub updated_at: DateTime<Utc>,
}

fn invalid(zh: impl Into<String>, en: impl Into<String>) -> Error {
    Error::new(ErrorCode::Validation, zh, en)
}

impl PrivacySettings {
    fn problems(&self) -> Option<Error> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.epsilon_budget) || self.epsilon_budget > 100.0 {
            return Some(invalid(
                "ε 总预算须大于0且不超过100",
                "The ε budget must be above 0 and at most 100",
            ));
        }
        if !positive(self.epsilon_per_query) || self.epsilon_per_query > self.epsilon_budget {
            return Some(invalid(
                "每次查询的 ε 须大于0且不超过总预算",
                "The ε per query must be above 0 and at most the budget",
            ));
        }
        if !positive(self.delta) || self.delta > 1e-3 {
            return Some(invalid(
                "δ 须大于0且不超过0.001",
                "δ must be above 0 and at most 0.001",
            ));
        }
        if !(1..=1000).contains(&self.max_rows_per_person) {
            return Some(invalid(
                "每人最多行数须为1至1000",
                "Rows per person must be 1 to 1000",
            ));
        }
        if self.bounds.len() > 100 {
            return Some(invalid("取值范围至多100列", "At most 100 bounded columns"));
        }
        for (column, [lo, hi]) in &self.bounds {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Some(invalid(
                    format!("列“{column}”的取值范围须为有限的下限 < 上限"),
                    format!("Column {column:?} needs finite bounds, lower < upper"),
                ));
            }
        }
        None
    }

    /// The bounds as the engine takes them.
    pub(crate) fn bounds_map(&self) -> HashMap<String, (f64, f64)> {
        self.bounds
            .iter()
            .map(|(k, [lo, hi])| (k.clone(), (*lo, *hi)))
            .collect()
    }
}

impl App {
    /// The grant's privacy settings, if it is in the differential-privacy mode.
    pub(crate) async fn private_mode(&self, grant_id: i64) -> Result<Option<PrivacySettings>> {
        Ok(self
            .privacy_view(grant_id)
            .await?
            .map(|v| v.settings)
            .filter(|s| s.enabled))
    }

    /// Spends a query's ε, or refuses when the budget does not hold it.
    pub(crate) async fn spend_privacy(&self, grant_id: i64, epsilon: f64) -> Result<f64> {
        self.store
            .spend_privacy(grant_id, epsilon)
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::Forbidden,
                    "该授权的隐私预算（ε）已用完，不能再查询",
                    "This grant's privacy budget (ε) is spent: no more queries",
                )
            })
    }

    async fn privacy_view(&self, grant_id: i64) -> Result<Option<PrivacyView>> {
        let Some(row) = self
            .store
            .get_grant_privacy(grant_id)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        Ok(Some(PrivacyView {
            grant_id,
            settings: serde_json::from_str(&row.doc).map_err(|_| Error::internal())?,
            spent: row.spent,
            remaining: (row.budget - row.spent).max(0.0),
            updated_at: row.updated_at,
        }))
    }

    /// A grant's privacy mode and budget: for its holder and the entry's provider (and
    /// whoever else may see the grant).
    pub async fn grant_privacy(
        &self,
        caller: &Principal,
        grant_id: i64,
    ) -> Result<Option<PrivacyView>> {
        self.visible_grant(caller, grant_id).await?;
        self.privacy_view(grant_id).await
    }

    /// The entry's provider puts a grant in the differential-privacy mode, changes it,
    /// or takes it out. What was spent stays spent.
    pub async fn set_grant_privacy(
        &self,
        caller: &Principal,
        grant_id: i64,
        settings: PrivacySettings,
    ) -> Result<PrivacyView> {
        let grant = self.visible_grant(caller, grant_id).await?;
        let dataset = self.dataset_of_grant(&grant).await?;
        if !can_edit_entry(caller, crate::catalog::scope(&dataset)) {
            return Err(Error::forbidden());
        }
        if let Some(e) = settings.problems() {
            return Err(e);
        }
        let doc = serde_json::to_string(&settings).map_err(|_| Error::internal())?;
        self.store
            .put_grant_privacy(
                grant_id,
                &doc,
                settings.epsilon_budget,
                caller.user_id,
                self.now(),
            )
            .await
            .map_err(store_error)?;
        self.audit(
            Some(caller),
            AuditEvent {
                action: "grant.privacy".into(),
                object: format!("grant:{grant_id}"),
                dataset: Some(dataset.id),
                grant: Some(grant_id),
                outcome: "ok",
                ..AuditEvent::default()
            },
        )
        .await?;
        self.privacy_view(grant_id)
            .await?
            .ok_or_else(Error::internal)
    }
}
