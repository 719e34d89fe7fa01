//! Applications for conditionally open data (SD-OPEN §14): a registered user applies,
//! the authority checks the form, the provider decides within its working-day deadline
//! and states reasons for a refusal, both sides accept the open-use agreement
//! (公共数据开放利用协议) after re-entering their password, and the grant comes into force.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use gongshu_core::access::{GrantKind, GrantMode};
use gongshu_core::agreement::render;
use gongshu_core::apply::{
    ApplicationAction, ApplicationInput, ApplicationState, Party, needs_reason, next_state,
};
use gongshu_core::authz::{Principal, can_edit_entry, can_view_working_copy};
use gongshu_core::calendar::china_date;
use gongshu_core::region::region_contains;
use gongshu_core::types::{OpenType, Role, ShareType};
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{
    Activation, AgreementSide, ApplicationMove, ApplicationQuery, ApplicationRow, DatasetRow,
    DeadlineOf, NewApplication, NewGrant, StoreError,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::catalog::scope;
use crate::grants::departments;
use crate::views::EventView;
use crate::{App, Result, store_error};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApplicationView {
    pub id: i64,
    /// `open` (SD-OPEN §14) or `share` (SD-EGOV §23).
    pub kind: GrantKind,
    pub dataset_id: i64,
    pub applicant_id: i64,
    /// The department a sharing request is made for.
    pub requester_org_id: Option<i64>,
    pub state: ApplicationState,
    /// The application as it was submitted; it cannot be changed afterwards.
    pub content: ApplicationInput,
    /// SHA-256 of the submitted content.
    pub content_hash: String,
    pub submitted_at: DateTime<Utc>,
    /// The last day of the current step (working days), and whether it is provisional.
    #[schema(value_type = Option<String>, format = Date)]
    pub due_on: Option<NaiveDate>,
    pub due_provisional: bool,
    /// The current step's deadline has passed.
    pub overdue: bool,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub quota_calls_per_day: Option<i64>,
    pub quota_rows_per_day: Option<i64>,
    pub agreement: Option<String>,
    /// What each side accepts: it must send this hash back.
    pub agreement_hash: Option<String>,
    pub applicant_accepted_at: Option<DateTime<Utc>>,
    pub provider_accepted_at: Option<DateTime<Utc>>,
    pub grant_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApplicationDetail {
    #[serde(flatten)]
    pub application: ApplicationView,
    pub history: Vec<EventView>,
    /// What the caller may do with it now (`POST …/{action}`).
    pub actions: Vec<ApplicationAction>,
    /// The caller may accept the agreement now (`POST …/accept`).
    pub may_accept: bool,
}

/// What the authority or the provider sends with an action.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    /// Required for a refusal or a return; recorded for every action.
    #[serde(default)]
    pub reason: String,
    /// On approval: calls per day the grant allows.
    pub quota_calls_per_day: Option<i64>,
    /// On approval: rows per day the grant allows.
    pub quota_rows_per_day: Option<i64>,
}

/// Accepting the agreement: the password again, and the hash of the text accepted.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInput {
    pub password: String,
    pub agreement_hash: String,
}

impl std::fmt::Debug for AcceptInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptInput")
            .field("password", &"<redacted>")
            .field("agreement_hash", &self.agreement_hash)
            .finish()
    }
}

impl App {
    fn application_view(&self, r: &ApplicationRow) -> Result<ApplicationView> {
        let content: ApplicationInput = serde_json::from_str(&r.content).map_err(|e| {
            tracing::error!(application = r.id, error = %e, "stored application unreadable");
            Error::internal()
        })?;
        let today = china_date(self.now());
        Ok(ApplicationView {
            id: r.id,
            kind: content.kind,
            dataset_id: r.dataset_id,
            applicant_id: r.applicant_id,
            requester_org_id: r.requester_org_id,
            state: r.state,
            content,
            content_hash: r.content_hash.clone(),
            submitted_at: r.submitted_at,
            due_on: r.due_on,
            due_provisional: r.due_provisional,
            overdue: r.state.is_open() && r.due_on.is_some_and(|d| today > d),
            decided_at: r.decided_at,
            decision_reason: r.decision_reason.clone(),
            quota_calls_per_day: r.quota_calls_per_day,
            quota_rows_per_day: r.quota_rows_per_day,
            agreement: r.agreement.clone(),
            agreement_hash: r.agreement_hash.clone(),
            applicant_accepted_at: r.applicant_accepted_at,
            provider_accepted_at: r.provider_accepted_at,
            grant_id: r.grant_id,
        })
    }

    /// A registered user applies for a published, conditionally open entry.
    pub async fn submit_application(
        &self,
        caller: &Principal,
        input: ApplicationInput,
    ) -> Result<ApplicationView> {
        let requester_org_id = match input.kind {
            GrantKind::Open if caller.has_role(Role::Registered) => None,
            GrantKind::Open => {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    "只有注册用户（自然人或法人）可以申请有条件开放数据",
                    "Only registered users (natural or legal persons) apply for conditionally open data",
                ));
            }
            GrantKind::Share => match departments(caller).first() {
                Some(org) => Some(*org),
                None => {
                    return Err(Error::new(
                        ErrorCode::Forbidden,
                        "只有政务部门用户可以申请有条件共享数据",
                        "Only government department users request conditionally shared data",
                    ));
                }
            },
        };
        let mut problems = input.problems();
        let published = self
            .store
            .get_published(input.dataset_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("信息资源", "Dataset"))?;
        let cap = self.grade_caps().await?.cap(published.doc.grade);
        let applicable = match input.kind {
            GrantKind::Open => {
                published.doc.open_type == OpenType::Conditional
                    && cap.max_open.rank() <= OpenType::Conditional.rank()
            }
            GrantKind::Share => published.doc.share_type == ShareType::Conditional,
        };
        if !applicable {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "该数据不是有条件开放（或有条件共享）数据，无需或不能申请",
                "This entry is not open (or shared) on conditions: there is nothing to apply for",
            ));
        }
        for (i, item) in input.items.iter().enumerate() {
            if !published.doc.items.iter().any(|d| &d.name == item) {
                problems.push(FieldError::new(
                    format!("items[{i}]"),
                    "unknown",
                    format!("信息项“{item}”不属于该数据"),
                    format!("{item:?} is not a data item of this entry"),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::validation(problems));
        }
        let content = serde_json::to_string(&input).map_err(|_| Error::internal())?;
        let content_hash = hex::encode(Sha256::digest(content.as_bytes()));
        let policy = self.effective_policy(&published.region_code).await?;
        let through_authority = match input.kind {
            GrantKind::Open => policy.formal_check,
            GrantKind::Share => policy.share_via_authority,
        };
        let (state, days) = if through_authority {
            (ApplicationState::FormalCheck, policy.formal_check_days)
        } else {
            (ApplicationState::WithProvider, policy.decision_days)
        };
        let due = self.deadline(china_date(self.now()), days).await?;
        let row = self
            .store
            .insert_application(&NewApplication {
                dataset_id: published.id,
                applicant_id: caller.user_id,
                requester_org_id,
                state,
                content,
                content_hash,
                at: self.now(),
                due_on: Some(due.deadline),
                due_provisional: due.provisional,
            })
            .await
            .map_err(store_error)?;
        let to = if state == ApplicationState::FormalCheck {
            self.authorities_over(&published.region_code).await?
        } else {
            self.provider_admins(published.provider_id).await?
        };
        self.notify(
            &to,
            "application_submitted",
            &format!("新的开放申请：{}", published.doc.title),
            &format!("第 {} 号申请，请于 {} 前处理。", row.id, due.deadline),
            &crate::links::application(row.id),
        )
        .await?;
        self.application_view(&row)
    }

    /// The applications the caller takes part in: their own, those on their provider's
    /// entries, and those in the regions they oversee.
    pub async fn applications(&self, caller: &Principal) -> Result<Vec<ApplicationView>> {
        let rows = self
            .store
            .list_applications(&ApplicationQuery {
                applicant_id: Some(caller.user_id),
                provider_ids: caller.provider_orgs(),
                region_prefixes: caller
                    .oversight_regions()
                    .iter()
                    .map(|r| region_prefix_of(r))
                    .collect(),
            })
            .await
            .map_err(store_error)?;
        rows.iter().map(|r| self.application_view(r)).collect()
    }

    pub async fn application(&self, caller: &Principal, id: i64) -> Result<ApplicationDetail> {
        let (row, dataset) = self.visible_application(caller, id).await?;
        let history = self.history("application", id).await?;
        let application = self.application_view(&row)?;
        let actions = ApplicationAction::ALL
            .into_iter()
            .filter(|&a| {
                self.party_for(caller, &row, &dataset, a)
                    .is_some_and(|p| next_state(application.kind, row.state, a, p).is_some())
            })
            .collect();
        let may_accept = row.state == ApplicationState::Approved
            && match self.agreement_side(caller, &row, &dataset) {
                Some(AgreementSide::Applicant) => row.applicant_accepted_at.is_none(),
                Some(AgreementSide::Provider { .. }) => row.provider_accepted_at.is_none(),
                None => false,
            };
        Ok(ApplicationDetail {
            application,
            history,
            actions,
            may_accept,
        })
    }

    /// The part the caller plays when taking this action, if any.
    fn party_for(
        &self,
        caller: &Principal,
        row: &ApplicationRow,
        dataset: &DatasetRow,
        action: ApplicationAction,
    ) -> Option<Party> {
        match action {
            ApplicationAction::Withdraw | ApplicationAction::Dispute
                if row.applicant_id == caller.user_id =>
            {
                Some(Party::Applicant)
            }
            ApplicationAction::PassCheck
            | ApplicationAction::ReturnCheck
            | ApplicationAction::Uphold
            | ApplicationAction::Overturn
                if self.oversees(caller, dataset) =>
            {
                Some(Party::Authority)
            }
            ApplicationAction::Approve | ApplicationAction::Refuse
                if can_edit_entry(caller, scope(dataset)) =>
            {
                Some(Party::Provider)
            }
            _ => None,
        }
    }

    /// The side of the agreement the caller accepts for, if any.
    fn agreement_side(
        &self,
        caller: &Principal,
        row: &ApplicationRow,
        dataset: &DatasetRow,
    ) -> Option<AgreementSide> {
        if row.applicant_id == caller.user_id {
            Some(AgreementSide::Applicant)
        } else if can_edit_entry(caller, scope(dataset)) {
            Some(AgreementSide::Provider {
                user_id: caller.user_id,
            })
        } else {
            None
        }
    }

    /// The authority's formal check, the provider's decision, or the applicant's
    /// withdrawal. Acting on a state that has moved on (a second approval, an approval
    /// after a withdrawal) is refused and changes nothing.
    pub async fn act_on_application(
        &self,
        caller: &Principal,
        id: i64,
        action: ApplicationAction,
        input: ActionInput,
    ) -> Result<ApplicationView> {
        let (row, dataset) = self.visible_application(caller, id).await?;
        let kind = self.application_view(&row)?.kind;
        let Some(party) = self.party_for(caller, &row, &dataset, action) else {
            return Err(Error::forbidden());
        };
        let Some(to) = next_state(kind, row.state, action, party) else {
            return Err(moved_on(row.state));
        };
        let reason = input.reason.trim();
        if (needs_reason(action) && reason.is_empty()) || reason.chars().count() > 4000 {
            return Err(Error::validation(vec![FieldError::new(
                "reason",
                "required",
                "退回、不予同意、异议和裁决须说明理由（不超过4000字）",
                "refusals, returns, disputes and rulings state their reasons (at most 4000 characters)",
            )]));
        }
        let quota = |q: Option<i64>, field: &str| match q {
            Some(n) if n < 1 => Err(Error::validation(vec![FieldError::new(
                field,
                "range",
                "额度应为正整数",
                "a quota is a positive whole number",
            )])),
            _ => Ok(q),
        };
        let quotas = if matches!(
            action,
            ApplicationAction::Approve | ApplicationAction::Overturn
        ) {
            (
                quota(input.quota_calls_per_day, "quota_calls_per_day")?,
                quota(input.quota_rows_per_day, "quota_rows_per_day")?,
            )
        } else {
            (None, None)
        };
        if to == ApplicationState::InForce {
            return self
                .share_in_force(caller, &row, &dataset, action, reason, quotas)
                .await;
        }
        let (due_on, due_provisional) = if matches!(
            to,
            ApplicationState::WithProvider | ApplicationState::Disputed
        ) {
            let days = self
                .effective_policy(&dataset.region_code)
                .await?
                .decision_days;
            let due = self.deadline(china_date(self.now()), days).await?;
            (Some(due.deadline), due.provisional)
        } else {
            (None, false)
        };
        let agreement = if to == ApplicationState::Approved {
            let text = self.agreement_text(&row, &dataset, quotas).await?;
            let hash = hex::encode(Sha256::digest(text.as_bytes()));
            Some((text, hash))
        } else {
            None
        };
        let moved = self
            .store
            .move_application(&ApplicationMove {
                id,
                from: row.state,
                to,
                actor_id: Some(caller.user_id),
                action: action_name(action),
                reason,
                at: self.now(),
                due_on,
                due_provisional,
                decision: matches!(
                    action,
                    ApplicationAction::Approve
                        | ApplicationAction::Refuse
                        | ApplicationAction::ReturnCheck
                        | ApplicationAction::Uphold
                ),
                agreement: agreement.as_ref().map(|(t, h)| (t.as_str(), h.as_str())),
                quotas,
            })
            .await
            .map_err(|e| match e {
                StoreError::VersionConflict => moved_on(row.state),
                other => store_error(other),
            })?;
        let title = &dataset.doc.title;
        let link = crate::links::application(id);
        match to {
            ApplicationState::WithProvider => {
                let due = due_on.map(|d| d.to_string()).unwrap_or_default();
                let to = self.provider_admins(dataset.provider_id).await?;
                self.notify(
                    &to,
                    "application_to_decide",
                    &format!("待决定的开放申请：{title}"),
                    &format!("第 {id} 号申请已通过形式审查，请于 {due} 前作出决定。"),
                    &link,
                )
                .await?;
            }
            ApplicationState::Disputed => {
                let due = due_on.map(|d| d.to_string()).unwrap_or_default();
                let to = self.authorities_over(&dataset.region_code).await?;
                self.notify(
                    &to,
                    "sharing_disputed",
                    &format!("共享申请异议待裁决：{title}"),
                    &format!("第 {id} 号共享申请被拒绝后申请方提出异议，请于 {due} 前裁决。理由：{reason}"),
                    &link,
                )
                .await?;
            }
            ApplicationState::Approved
            | ApplicationState::Refused
            | ApplicationState::Returned
            | ApplicationState::Upheld => {
                let (subject, body) = match to {
                    ApplicationState::Approved => (
                        format!("申请已同意：{title}"),
                        format!("第 {id} 号申请已同意，请阅读并确认开放利用协议。"),
                    ),
                    ApplicationState::Refused => (
                        format!("申请未获同意：{title}"),
                        format!("第 {id} 号申请未获同意。理由：{reason}"),
                    ),
                    ApplicationState::Upheld => (
                        format!("异议未获支持：{title}"),
                        format!("主管部门维持对第 {id} 号共享申请的拒绝。理由：{reason}"),
                    ),
                    _ => (
                        format!("申请被退回：{title}"),
                        format!("第 {id} 号申请未通过形式审查。理由：{reason}"),
                    ),
                };
                self.notify(
                    &[row.applicant_id],
                    "application_decided",
                    &subject,
                    &body,
                    &link,
                )
                .await?;
            }
            _ => {}
        }
        self.application_view(&moved)
    }

    /// One side accepts the agreement, with its password again (re-authentication) and
    /// the hash of the text it read. When both have, the grant comes into force and the
    /// authority is told.
    pub async fn accept_agreement(
        &self,
        caller: &Principal,
        id: i64,
        input: AcceptInput,
    ) -> Result<ApplicationView> {
        let (row, dataset) = self.visible_application(caller, id).await?;
        let Some(side) = self.agreement_side(caller, &row, &dataset) else {
            return Err(Error::forbidden());
        };
        let confirmed = self.login(&caller.username, &input.password).await;
        if !matches!(&confirmed, Ok(u) if u.id == caller.user_id) {
            return Err(Error::new(
                ErrorCode::Unauthenticated,
                "密码不正确，未确认协议",
                "Wrong password: the agreement was not accepted",
            ));
        }
        let accepted = self
            .store
            .accept_agreement(id, side, &input.agreement_hash, self.now())
            .await
            .map_err(|e| match e {
                StoreError::VersionConflict => Error::new(
                    ErrorCode::InvalidState,
                    "协议不可确认：申请不在待确认状态、已确认过，或协议内容已变更",
                    "Not accepted: the application is not awaiting acceptance, this side \
                     already accepted, or the agreement is not the one shown",
                ),
                other => store_error(other),
            })?;
        if accepted.applicant_accepted_at.is_none() || accepted.provider_accepted_at.is_none() {
            return self.application_view(&accepted);
        }
        let content: ApplicationInput =
            serde_json::from_str(&accepted.content).map_err(|_| Error::internal())?;
        let now = self.now();
        let reason = format!("开放利用协议（第 {id} 号申请）");
        let modes: Vec<GrantMode> = content.modes.clone();
        let in_force = match self
            .store
            .activate_application(&Activation {
                id,
                from: ApplicationState::Approved,
                needs_acceptance: true,
                actor_id: None,
                action: "in_force",
                reason: "",
                grant: &NewGrant {
                    kind: GrantKind::Open,
                    dataset_id: accepted.dataset_id,
                    holder_user_id: Some(accepted.applicant_id),
                    holder_org_id: None,
                    modes: &modes,
                    purpose: &content.purpose,
                    valid_from: now,
                    valid_until: now + chrono::Duration::days(i64::from(content.period_days)),
                    quota_calls_per_day: accepted.quota_calls_per_day,
                    quota_rows_per_day: accepted.quota_rows_per_day,
                    created_by: None,
                    at: now,
                    reason: &reason,
                },
            })
            .await
        {
            Ok(r) => r,
            // The other side's acceptance activated it a moment before.
            Err(StoreError::VersionConflict) => self
                .store
                .get_application(id)
                .await
                .map_err(store_error)?
                .ok_or_else(|| Error::not_found("申请", "Application"))?,
            Err(e) => return Err(store_error(e)),
        };
        let mut to = vec![in_force.applicant_id];
        to.extend(self.authorities_over(&dataset.region_code).await?);
        to.extend(self.provider_admins(dataset.provider_id).await?);
        self.notify(
            &to,
            "agreement_in_force",
            &format!("开放利用协议生效：{}", dataset.doc.title),
            &format!("第 {id} 号申请的协议已由双方确认，授权生效。"),
            &crate::links::application(id),
        )
        .await?;
        self.application_view(&in_force)
    }

    /// A sharing request approved by the provider, or a disputed refusal overturned by
    /// the authority: in force at once, held by the requesting department.
    async fn share_in_force(
        &self,
        caller: &Principal,
        row: &ApplicationRow,
        dataset: &DatasetRow,
        action: ApplicationAction,
        reason: &str,
        quotas: (Option<i64>, Option<i64>),
    ) -> Result<ApplicationView> {
        let content: ApplicationInput =
            serde_json::from_str(&row.content).map_err(|_| Error::internal())?;
        let now = self.now();
        let grant_reason = format!("共享申请第 {} 号", row.id);
        let in_force = self
            .store
            .activate_application(&Activation {
                id: row.id,
                from: row.state,
                needs_acceptance: false,
                actor_id: Some(caller.user_id),
                action: action_name(action),
                reason,
                grant: &NewGrant {
                    kind: GrantKind::Share,
                    dataset_id: row.dataset_id,
                    holder_user_id: None,
                    holder_org_id: row.requester_org_id,
                    modes: &content.modes,
                    purpose: &content.purpose,
                    valid_from: now,
                    valid_until: now + chrono::Duration::days(i64::from(content.period_days)),
                    quota_calls_per_day: quotas.0,
                    quota_rows_per_day: quotas.1,
                    created_by: Some(caller.user_id),
                    at: now,
                    reason: &grant_reason,
                },
            })
            .await
            .map_err(|e| match e {
                StoreError::VersionConflict => moved_on(row.state),
                other => store_error(other),
            })?;
        let mut to = vec![row.applicant_id];
        if let Some(org) = row.requester_org_id {
            to.extend(
                self.users_with(Role::DeptUser, |g| g.org_id == Some(org))
                    .await?,
            );
        }
        to.extend(self.authorities_over(&dataset.region_code).await?);
        self.notify(
            &to,
            "sharing_in_force",
            &format!("共享申请已同意：{}", dataset.doc.title),
            &format!("第 {} 号共享申请已同意，授权生效。", row.id),
            &crate::links::application(row.id),
        )
        .await?;
        self.application_view(&in_force)
    }

    /// Reminds whoever must act on an application, a pending attribute change or a
    /// catalog update `remind_days` working days before its deadline, and tells the
    /// authority (for a change, also the provider that asked) when it has passed. Each notice
    /// goes once per deadline, however often this runs and on however many nodes.
    /// Returns (reminders, escalations) sent.
    pub async fn send_deadline_notices(&self) -> Result<(usize, usize)> {
        let calendar = self.calendar().await?;
        let today = china_date(self.now());
        let mut sent = (0, 0);
        for row in self
            .store
            .applications_with_deadlines()
            .await
            .map_err(store_error)?
        {
            // One item that fails is logged; the others still get their notices.
            let id = row.id;
            let outcome: Result<()> = async {
                let Some((due, overdue)) = self
                    .claim_notice(
                        &calendar,
                        today,
                        DeadlineOf::Application,
                        row.id,
                        row.due_on,
                    )
                    .await?
                else {
                    return Ok(());
                };
                let Some(dataset) = self
                    .store
                    .get_dataset(row.dataset_id)
                    .await
                    .map_err(store_error)?
                else {
                    return Ok(());
                };
                let mut to = if matches!(
                    row.state,
                    ApplicationState::FormalCheck | ApplicationState::Disputed
                ) {
                    self.authorities_over(&dataset.region_code).await?
                } else {
                    self.provider_admins(dataset.provider_id).await?
                };
                let title = &dataset.doc.title;
                let (kind, subject, body) = if overdue {
                    to.extend(self.authorities_over(&dataset.region_code).await?);
                    sent.1 += 1;
                    (
                        "application_overdue",
                        format!("开放申请已逾期：{title}"),
                        format!("第 {id} 号申请应于 {due} 前处理，现已逾期。"),
                    )
                } else {
                    sent.0 += 1;
                    (
                        "application_due_soon",
                        format!("开放申请即将到期：{title}"),
                        format!("第 {id} 号申请应于 {due} 前处理。"),
                    )
                };
                self.notify(&to, kind, &subject, &body, &crate::links::application(id))
                    .await?;
                Ok(())
            }
            .await;
            if let Err(e) = outcome {
                tracing::warn!(item = id, error = %e.message_en, "deadline notice not sent");
            }
        }
        // Changes toward less open wait for the authority: it is reminded, and once the
        // deadline passes the provider that asked is told too.
        for row in self
            .store
            .attribute_changes_with_deadlines()
            .await
            .map_err(store_error)?
        {
            // One item that fails is logged; the others still get their notices.
            let id = row.id;
            let outcome: Result<()> = async {
                let Some((due, overdue)) = self
                    .claim_notice(
                        &calendar,
                        today,
                        DeadlineOf::AttributeChange,
                        row.id,
                        row.due_on,
                    )
                    .await?
                else {
                    return Ok(());
                };
                let Some(dataset) = self
                    .store
                    .get_dataset(row.dataset_id)
                    .await
                    .map_err(store_error)?
                else {
                    return Ok(());
                };
                let mut to = self.authorities_over(&dataset.region_code).await?;
                let title = &dataset.doc.title;
                let (kind, subject, body) = if overdue {
                    to.extend(self.provider_admins(dataset.provider_id).await?);
                    sent.1 += 1;
                    (
                        "attribute_change_overdue",
                        format!("属性变更审批已逾期：{title}"),
                        format!("第 {id} 号开放、共享属性变更应于 {due} 前审批，现已逾期。"),
                    )
                } else {
                    sent.0 += 1;
                    (
                        "attribute_change_due_soon",
                        format!("属性变更审批即将到期：{title}"),
                        format!("第 {id} 号开放、共享属性变更应于 {due} 前审批。"),
                    )
                };
                self.notify(
                    &to,
                    kind,
                    &subject,
                    &body,
                    &crate::links::attribute_change(id),
                )
                .await?;
                Ok(())
            }
            .await;
            if let Err(e) = outcome {
                tracing::warn!(item = id, error = %e.message_en, "deadline notice not sent");
            }
        }
        // Catalog updates after a change of law or duties (SD-EGOV §16): the provider is
        // reminded; once overdue, the authority is told too.
        for row in self
            .store
            .open_catalog_updates()
            .await
            .map_err(store_error)?
        {
            // One item that fails is logged; the others still get their notices.
            let id = row.id;
            let outcome: Result<()> = async {
                let Some((due, overdue)) = self
                    .claim_notice(
                        &calendar,
                        today,
                        DeadlineOf::CatalogUpdate,
                        row.id,
                        Some(row.due_on),
                    )
                    .await?
                else {
                    return Ok(());
                };
                let mut to = self.provider_admins(row.provider_id).await?;
                let (kind, subject, body) = if overdue {
                    to.extend(self.authorities_over(&row.region_code).await?);
                    sent.1 += 1;
                    (
                        "catalog_update_overdue",
                        "目录更新已逾期",
                        format!(
                            "第 {id} 号目录更新事项应于 {due} 前办结，现已逾期：{}",
                            row.basis
                        ),
                    )
                } else {
                    sent.0 += 1;
                    (
                        "catalog_update_due_soon",
                        "目录更新即将到期",
                        format!("第 {id} 号目录更新事项应于 {due} 前办结：{}", row.basis),
                    )
                };
                self.notify(&to, kind, subject, &body, &crate::links::catalog_update(id))
                    .await?;
                Ok(())
            }
            .await;
            if let Err(e) = outcome {
                tracing::warn!(item = id, error = %e.message_en, "deadline notice not sent");
            }
        }
        let (reminders, escalations) = self.send_feedback_notices(&calendar, today).await?;
        sent.0 += reminders;
        sent.1 += escalations;
        Ok(sent)
    }

    /// Whether a notice is due for this deadline today, claimed so that it goes once:
    /// the deadline and whether it has passed (an escalation) or is near (a reminder).
    pub(crate) async fn claim_notice(
        &self,
        calendar: &gongshu_core::calendar::Calendar,
        today: NaiveDate,
        of: DeadlineOf,
        id: i64,
        due_on: Option<NaiveDate>,
    ) -> Result<Option<(NaiveDate, bool)>> {
        let Some(due) = due_on else { return Ok(None) };
        let overdue = today > due;
        let remind = calendar
            .working_days_before(due, self.settings.remind_days)
            .is_some_and(|from| today >= from);
        if !overdue && !remind {
            return Ok(None);
        }
        let claimed = self
            .store
            .claim_deadline_notice(of, id, due, overdue)
            .await
            .map_err(store_error)?;
        if claimed {
            let kind = match of {
                DeadlineOf::Application => "application",
                DeadlineOf::AttributeChange => "attribute_change",
                DeadlineOf::CatalogUpdate => "catalog_update",
                DeadlineOf::Feedback => "feedback",
            };
            let action = if overdue {
                "deadline.overdue"
            } else {
                "deadline.reminder"
            };
            self.audit_system(action, format!("{kind}:{id}"), None)
                .await;
        }
        Ok(claimed.then_some((due, overdue)))
    }

    async fn agreement_text(
        &self,
        row: &ApplicationRow,
        dataset: &DatasetRow,
        quotas: (Option<i64>, Option<i64>),
    ) -> Result<String> {
        let content: ApplicationInput =
            serde_json::from_str(&row.content).map_err(|_| Error::internal())?;
        let provider = self
            .store
            .get_org(dataset.provider_id)
            .await
            .map_err(store_error)?
            .map(|o| o.name)
            .unwrap_or_default();
        let applicant = self
            .store
            .get_user(row.applicant_id)
            .await
            .map_err(store_error)?
            .map(|u| {
                if u.display_name.is_empty() {
                    u.username
                } else {
                    u.display_name
                }
            })
            .unwrap_or_default();
        let items = if content.items.is_empty() {
            "全部信息项".to_owned()
        } else {
            content.items.join("、")
        };
        let modes = content
            .modes
            .iter()
            .map(|m| match m {
                GrantMode::Download => "下载",
                GrantMode::Api => "接口调用",
                GrantMode::Sandbox => "数据沙箱",
                GrantMode::Verification => "核验",
            })
            .collect::<Vec<_>>()
            .join("、");
        let quota = |q: Option<i64>, unit: &str| {
            q.map_or("不限".to_owned(), |n| format!("每日{n}{unit}"))
        };
        let facts = BTreeMap::from([
            ("provider", provider),
            ("applicant", applicant),
            ("title", dataset.doc.title.clone()),
            ("code", dataset.code.clone()),
            ("items", items),
            ("purpose", content.purpose.trim().to_owned()),
            ("scenario", content.scenario.trim().to_owned()),
            ("modes", modes),
            ("calls", quota(quotas.0, "次")),
            ("rows", quota(quotas.1, "行")),
            ("days", content.period_days.to_string()),
            ("measures", content.security_measures.trim().to_owned()),
            ("application", row.id.to_string()),
            ("hash", row.content_hash.clone()),
        ]);
        // The template of the provider's region at the time of approval: the text, and
        // its hash, are fixed in the application from then on.
        let template = self
            .effective_policy(&dataset.region_code)
            .await?
            .agreement_template;
        Ok(render(&template, &facts))
    }

    pub(crate) async fn visible_application(
        &self,
        caller: &Principal,
        id: i64,
    ) -> Result<(ApplicationRow, DatasetRow)> {
        let not_found = || Error::not_found("申请", "Application");
        let row = self
            .store
            .get_application(id)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        let dataset = self
            .store
            .get_dataset(row.dataset_id)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        if row.applicant_id == caller.user_id || can_view_working_copy(caller, scope(&dataset)) {
            Ok((row, dataset))
        } else {
            Err(not_found())
        }
    }

    pub(crate) fn oversees(&self, caller: &Principal, dataset: &DatasetRow) -> bool {
        caller.is_authority_over(&dataset.region_code)
    }

    pub(crate) async fn authorities_over(&self, region: &str) -> Result<Vec<i64>> {
        let region = region.to_owned();
        self.users_with(Role::AuthorityAdmin, move |g| {
            g.region_code
                .as_deref()
                .is_some_and(|scope| region_contains(scope, &region))
        })
        .await
    }

    pub(crate) async fn provider_admins(&self, org: i64) -> Result<Vec<i64>> {
        self.users_with(Role::ProviderAdmin, move |g| g.org_id == Some(org))
            .await
    }
}

fn moved_on(state: ApplicationState) -> Error {
    Error::new(
        ErrorCode::InvalidState,
        format!("申请当前状态为“{}”，不能执行此操作", state.as_str()),
        format!(
            "The application is {}: this action is not possible now",
            state.as_str()
        ),
    )
}

fn action_name(a: ApplicationAction) -> &'static str {
    match a {
        ApplicationAction::PassCheck => "formal_check_passed",
        ApplicationAction::ReturnCheck => "returned",
        ApplicationAction::Approve => "approved",
        ApplicationAction::Refuse => "refused",
        ApplicationAction::Withdraw => "withdrawn",
        ApplicationAction::Dispute => "disputed",
        ApplicationAction::Uphold => "refusal_upheld",
        ApplicationAction::Overturn => "refusal_overturned",
    }
}

/// The code prefix that selects a region and everything below it.
pub(crate) fn region_prefix_of(code: &str) -> String {
    gongshu_core::region::RegionCode::parse(code)
        .map(|r| r.prefix().to_owned())
        .unwrap_or_else(|| code.to_owned())
}
