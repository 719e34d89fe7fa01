//! What each region's authority decides for its region (SD-EGOV §23 and SX-BIGDATA §29
//! let regions route sharing requests differently; 鲁数发〔2025〕1号 sets the default
//! deadlines): whether applications pass a formal check, whether sharing requests go
//! through the authority, the working-day deadlines, and the agreement template.
//! A county inherits from its city, a city from its province, the province from the
//! platform's settings; each field separately.

use chrono::{DateTime, Utc};
use gongshu_core::agreement::{DEFAULT_TEMPLATE, check_template};
use gongshu_core::authz::Principal;
use gongshu_core::region::{RegionCode, region_contains};
use gongshu_core::types::Role;
use gongshu_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::views::EventView;
use crate::{App, Result, store_error};

/// A region's own settings; an absent field is inherited from the region above.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionPolicy {
    /// Applications for conditionally open data pass the authority's formal check first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formal_check: Option<bool>,
    /// Working days for the formal check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formal_check_days: Option<u32>,
    /// Working days for the provider's decision (and the authority's arbitration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_days: Option<u32>,
    /// Sharing requests go through the authority (SX-BIGDATA §29) instead of straight to
    /// the provider (SD-EGOV §23).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_via_authority: Option<bool>,
    /// The open-use agreement template, with `{{placeholders}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement_template: Option<String>,
}

/// The settings in force in a region, and the region each came from (`platform` for the
/// platform's defaults).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EffectivePolicy {
    pub region_code: String,
    pub formal_check: bool,
    pub formal_check_days: u32,
    pub decision_days: u32,
    pub share_via_authority: bool,
    pub agreement_template: String,
    #[schema(value_type = Object)]
    pub sources: std::collections::BTreeMap<&'static str, String>,
    /// The region's own settings, as its authority wrote them.
    pub own: RegionPolicy,
    pub updated_by: Option<i64>,
    pub updated_at: Option<DateTime<Utc>>,
    pub history: Vec<EventView>,
}

/// A change of a region's settings, with the reason recorded.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionPolicyInput {
    pub policy: RegionPolicy,
    pub reason: String,
}

const PLATFORM: &str = "platform";

/// The authority of the region or of one above it, or a system administrator, sets a
/// region's settings.
pub fn may_set_region_policy(caller: &Principal, region_code: &str) -> bool {
    caller.has_role(Role::SystemAdmin)
        || caller
            .authority_regions()
            .iter()
            .any(|r| region_contains(r, region_code))
}

impl App {
    /// The settings in force for entries of `region_code`.
    pub async fn effective_policy(&self, region_code: &str) -> Result<EffectivePolicy> {
        let mut chain = Vec::new();
        let mut at = RegionCode::parse(region_code);
        while let Some(code) = at {
            chain.push(code.as_str().to_owned());
            at = code.parent();
        }
        if chain.is_empty() {
            chain.push(region_code.to_owned());
        }
        let rows = self
            .store
            .region_policies(&chain)
            .await
            .map_err(store_error)?;
        let s = &self.settings;
        let mut p = EffectivePolicy {
            region_code: region_code.to_owned(),
            formal_check: s.formal_check,
            formal_check_days: s.formal_check_days,
            decision_days: s.decision_days,
            share_via_authority: s.share_via_authority,
            agreement_template: DEFAULT_TEMPLATE.to_owned(),
            sources: [
                "formal_check",
                "formal_check_days",
                "decision_days",
                "share_via_authority",
                "agreement_template",
            ]
            .into_iter()
            .map(|f| (f, PLATFORM.to_owned()))
            .collect(),
            own: RegionPolicy::default(),
            updated_by: None,
            updated_at: None,
            history: Vec::new(),
        };
        // From the province down, so that the nearest region's value wins.
        for code in chain.iter().rev() {
            let Some(row) = rows.iter().find(|r| &r.region_code == code) else {
                continue;
            };
            let own: RegionPolicy = serde_json::from_str(&row.policy).map_err(|e| {
                tracing::error!(region = %code, error = %e, "stored region policy unreadable");
                Error::internal()
            })?;
            let mut take = |field: &'static str| {
                p.sources.insert(field, code.clone());
            };
            if let Some(v) = own.formal_check {
                p.formal_check = v;
                take("formal_check");
            }
            if let Some(v) = own.formal_check_days {
                p.formal_check_days = v;
                take("formal_check_days");
            }
            if let Some(v) = own.decision_days {
                p.decision_days = v;
                take("decision_days");
            }
            if let Some(v) = own.share_via_authority {
                p.share_via_authority = v;
                take("share_via_authority");
            }
            if let Some(v) = &own.agreement_template {
                p.agreement_template.clone_from(v);
                take("agreement_template");
            }
            if code == region_code {
                p.own = own;
                p.updated_by = row.updated_by;
                p.updated_at = Some(row.updated_at);
            }
        }
        Ok(p)
    }

    /// A region's settings in force, its own, and their history. Public: applicants may
    /// read the routing, the deadlines and the agreement they would sign, and why each
    /// setting changed; which official changed it is for staff only.
    pub async fn region_policy(
        &self,
        viewer: Option<&Principal>,
        region_code: &str,
    ) -> Result<EffectivePolicy> {
        self.region(region_code).await?;
        let mut p = self.policy_with_history(region_code).await?;
        let staff = viewer.is_some_and(|v| {
            v.has_role(Role::SystemAdmin)
                || !v.oversight_regions().is_empty()
                || !v.provider_orgs().is_empty()
        });
        if !staff {
            p.updated_by = None;
            for e in &mut p.history {
                e.actor_id = None;
            }
        }
        Ok(p)
    }

    async fn policy_with_history(&self, region_code: &str) -> Result<EffectivePolicy> {
        let mut p = self.effective_policy(region_code).await?;
        p.history = self.history("region_policy", region_code).await?;
        Ok(p)
    }

    /// The authority of a region (or a system administrator) sets its settings.
    pub async fn put_region_policy(
        &self,
        caller: &Principal,
        region_code: &str,
        input: RegionPolicyInput,
    ) -> Result<EffectivePolicy> {
        if !may_set_region_policy(caller, region_code) {
            return Err(Error::forbidden());
        }
        self.region(region_code).await?;
        let mut e = Vec::new();
        let reason = input.reason.trim();
        e.extend(crate::missing_reason(reason));
        for (field, days) in [
            ("policy.formal_check_days", input.policy.formal_check_days),
            ("policy.decision_days", input.policy.decision_days),
        ] {
            if days.is_some_and(|d| !(1..=60).contains(&d)) {
                e.push(FieldError::new(
                    field,
                    "range",
                    "期限应为1至60个工作日",
                    "between 1 and 60 working days",
                ));
            }
        }
        if let Some(t) = &input.policy.agreement_template {
            e.extend(check_template(t).into_iter().map(|mut f| {
                f.field = "policy.agreement_template".into();
                f
            }));
        }
        if !e.is_empty() {
            return Err(Error::validation(e));
        }
        let json = serde_json::to_string(&input.policy).map_err(|_| Error::internal())?;
        self.store
            .put_region_policy(region_code, &json, caller.user_id, reason, self.now())
            .await
            .map_err(store_error)?;
        self.policy_with_history(region_code).await
    }

    async fn region(&self, code: &str) -> Result<()> {
        match self.store.get_region(code).await.map_err(store_error)? {
            Some(_) => Ok(()),
            None => Err(Error::not_found("行政区划", "Region")),
        }
    }
}
