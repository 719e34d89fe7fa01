//! What a grantee does with a grant besides reading through it: API tokens scoped to the
//! grant alone (for the system that uses the data), and the use reports the agreement
//! asks for (SD-OPEN §14, 鲁数发〔2025〕1号). Reports are events of the grant, so they
//! join its history and, with issue 7, the tamper-evident log.

use chrono::{DateTime, NaiveDate, Utc};
use gongshu_core::authz::Principal;
use gongshu_core::calendar::china_date;
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::NewEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::grants::holds;
use crate::{App, Result, store_error};

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantTokenInput {
    /// Days the token lives (30 by default, at most 365); never past the grant's end.
    pub days: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct GrantToken {
    /// Shown once; only its hash is kept.
    pub token: String,
    pub grant_id: i64,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for GrantToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantToken")
            .field("token", &"<redacted>")
            .field("grant_id", &self.grant_id)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UseReportInput {
    #[schema(value_type = String, format = Date)]
    pub period_from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub period_to: NaiveDate,
    /// How the data was used in the period.
    pub summary: String,
    /// What was produced (papers, products, services).
    #[serde(default)]
    pub outputs: String,
    /// Security incidents, if any.
    #[serde(default)]
    pub incidents: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UseReportView {
    pub id: i64,
    pub filed_by: Option<i64>,
    pub filed_at: DateTime<Utc>,
    #[serde(flatten)]
    pub report: UseReportInput,
}

const REPORTED: &str = "use_reported";

impl App {
    /// The holder mints an API token that reads under this grant and nothing else. It
    /// stops at the grant's end, and a terminated grant stops it at the next request.
    pub async fn issue_grant_token(
        &self,
        caller: &Principal,
        grant_id: i64,
        input: GrantTokenInput,
    ) -> Result<GrantToken> {
        let g = self.visible_grant(caller, grant_id).await?;
        if !holds(caller, &g) {
            return Err(Error::forbidden());
        }
        let now = self.now();
        if g.terminated_at.is_some() || g.valid_until <= now {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "授权已终止或已到期，不能再签发令牌",
                "The grant is terminated or expired: no token can be issued for it",
            ));
        }
        let days = input.days.unwrap_or(30);
        if !(1..=365).contains(&days) {
            return Err(Error::validation(vec![FieldError::new(
                "days",
                "range",
                "有效期应为1至365天",
                "between 1 and 365 days",
            )]));
        }
        let expires_at = (now + chrono::Duration::days(i64::from(days))).min(g.valid_until);
        let token = self
            .insert_api_token(caller.user_id, Some(g.id), expires_at)
            .await?;
        Ok(GrantToken {
            token,
            grant_id: g.id,
            expires_at,
        })
    }

    /// The holder reports how the data was used; the provider is told.
    pub async fn file_use_report(
        &self,
        caller: &Principal,
        grant_id: i64,
        input: UseReportInput,
    ) -> Result<UseReportView> {
        let g = self.visible_grant(caller, grant_id).await?;
        if !holds(caller, &g) {
            return Err(Error::forbidden());
        }
        let mut e = Vec::new();
        if input.period_from > input.period_to || input.period_to > china_date(self.now()) {
            e.push(FieldError::new(
                "period_to",
                "range",
                "报告期应起止有序，且不晚于今天",
                "The period runs forward and ends no later than today",
            ));
        }
        if input.summary.trim().is_empty() {
            e.push(FieldError::new(
                "summary",
                "required",
                "请填写数据利用情况",
                "Say how the data was used",
            ));
        }
        for (field, text) in [
            ("summary", &input.summary),
            ("outputs", &input.outputs),
            ("incidents", &input.incidents),
        ] {
            if text.chars().count() > 4000 {
                e.push(FieldError::new(
                    field,
                    "too_long",
                    "不得超过4000个字符",
                    "at most 4000 characters",
                ));
            }
        }
        if !e.is_empty() {
            return Err(Error::validation(e));
        }
        let detail = serde_json::to_string(&input).map_err(|_| Error::internal())?;
        let at = self.now();
        let id = self
            .store
            .insert_event(&NewEvent {
                at,
                actor_id: Some(caller.user_id),
                object_type: "grant",
                object_id: &grant_id.to_string(),
                action: REPORTED,
                reason: input.summary.trim(),
                detail,
            })
            .await
            .map_err(store_error)?;
        let dataset = self.dataset_of_grant(&g).await?;
        let to = self.provider_admins(dataset.provider_id).await?;
        self.notify(
            &to,
            "use_reported",
            &format!("数据利用情况报告：{}", dataset.doc.title),
            &format!(
                "第 {grant_id} 号授权的持有方报告了 {} 至 {} 的数据利用情况。",
                input.period_from, input.period_to
            ),
            &crate::links::grant(grant_id),
        )
        .await?;
        Ok(UseReportView {
            id,
            filed_by: Some(caller.user_id),
            filed_at: at,
            report: input,
        })
    }

    /// The use reports of a grant: for its holder, the provider, the authority and
    /// auditors of the provider's region.
    pub async fn use_reports(
        &self,
        caller: &Principal,
        grant_id: i64,
    ) -> Result<Vec<UseReportView>> {
        self.visible_grant(caller, grant_id).await?;
        let events = self
            .store
            .list_events("grant", &grant_id.to_string())
            .await
            .map_err(store_error)?;
        events
            .into_iter()
            .filter(|e| e.action == REPORTED)
            .map(|e| {
                Ok(UseReportView {
                    id: e.id,
                    filed_by: e.actor_id,
                    filed_at: e.at,
                    report: serde_json::from_str(&e.detail).map_err(|_| Error::internal())?,
                })
            })
            .collect()
    }
}
