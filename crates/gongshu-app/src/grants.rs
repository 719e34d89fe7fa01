//! Grants as people see them: the holder's "my grants", the provider's grants on its
//! entries with their use today, termination on breach (SD-OPEN §14), and the in-site
//! inbox that tells the people concerned.

use chrono::{DateTime, Utc};
use gongshu_core::access::{GrantKind, GrantMode, GrantState};
use gongshu_core::authz::{Principal, can_edit_entry, can_view_working_copy};
use gongshu_core::calendar::china_date;
use gongshu_core::region::region_contains;
use gongshu_core::types::Role;
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{DatasetRow, GrantRow, HeldGrant, NewNotification, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::views::EventView;
use crate::{App, Result, store_error};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantView {
    pub id: i64,
    pub kind: GrantKind,
    pub dataset_id: i64,
    /// The registered user who holds it (opening), or none.
    pub holder_user_id: Option<i64>,
    /// The department that holds it (sharing), or none.
    pub holder_org_id: Option<i64>,
    pub modes: Vec<GrantMode>,
    pub purpose: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub quota_calls_per_day: Option<i64>,
    pub quota_rows_per_day: Option<i64>,
    /// `active`, `not_yet_valid`, `expired`, `terminated` or `out_of_quota`, now.
    pub state: String,
    pub terminated_at: Option<DateTime<Utc>>,
    pub terminated_reason: Option<String>,
    /// Use today (China Standard Time), where the caller may see it.
    pub calls_today: Option<i64>,
    pub rows_today: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantDetail {
    #[serde(flatten)]
    pub grant: GrantView,
    pub history: Vec<EventView>,
    /// The caller holds it: may take grant tokens and file use reports.
    pub is_holder: bool,
    /// The caller may terminate it now (the entry's provider, while it is not ended).
    pub may_terminate: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub link: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

fn state_name(s: GrantState) -> &'static str {
    match s {
        GrantState::Active => "active",
        GrantState::NotYetValid => "not_yet_valid",
        GrantState::Expired => "expired",
        GrantState::Terminated => "terminated",
        GrantState::OutOfQuota => "out_of_quota",
    }
}

impl App {
    fn grant_view(&self, held: &HeldGrant) -> GrantView {
        let g = &held.grant;
        let state = crate::data::grant_facts(held).state(self.now());
        GrantView {
            id: g.id,
            kind: g.kind,
            dataset_id: g.dataset_id,
            holder_user_id: g.holder_user_id,
            holder_org_id: g.holder_org_id,
            modes: g.modes.clone(),
            purpose: g.purpose.clone(),
            valid_from: g.valid_from,
            valid_until: g.valid_until,
            quota_calls_per_day: g.quota_calls_per_day,
            quota_rows_per_day: g.quota_rows_per_day,
            state: state_name(state).to_owned(),
            terminated_at: g.terminated_at,
            terminated_reason: g.terminated_reason.clone(),
            calls_today: Some(held.calls_today),
            rows_today: Some(held.rows_today),
            created_at: g.created_at,
        }
    }

    /// The grants on an entry with today's use: for its provider, and the authority and
    /// auditors of its region.
    pub async fn entry_grants(
        &self,
        caller: &Principal,
        dataset_id: i64,
    ) -> Result<Vec<GrantView>> {
        let dataset = self.grant_entry(caller, dataset_id).await?;
        let held = self
            .store
            .grants_on(dataset.id, china_date(self.now()))
            .await
            .map_err(store_error)?;
        Ok(held.iter().map(|h| self.grant_view(h)).collect())
    }

    /// The grants the caller holds, personally or through their department.
    pub async fn my_grants(&self, caller: &Principal) -> Result<Vec<GrantView>> {
        let held = self
            .store
            .grants_of(caller.user_id, &departments(caller), china_date(self.now()))
            .await
            .map_err(store_error)?;
        Ok(held.iter().map(|h| self.grant_view(h)).collect())
    }

    /// One grant with its history: for its holder, the entry's provider, the authority
    /// and auditors of the provider's region. Anyone else is told it does not exist.
    pub async fn grant(&self, caller: &Principal, id: i64) -> Result<GrantDetail> {
        let g = self.visible_grant(caller, id).await?;
        let is_holder = holds(caller, &g);
        let may_terminate = g.terminated_at.is_none()
            && can_edit_entry(
                caller,
                crate::catalog::scope(&self.dataset_of_grant(&g).await?),
            );
        Ok(GrantDetail {
            grant: self.held_view(g).await?,
            history: self.history("grant", id).await?,
            is_holder,
            may_terminate,
        })
    }

    /// The recorded state changes of a governed object, oldest first.
    pub(crate) async fn history(
        &self,
        object_type: &str,
        id: impl std::fmt::Display,
    ) -> Result<Vec<EventView>> {
        Ok(self
            .store
            .list_events(object_type, &id.to_string())
            .await
            .map_err(store_error)?
            .into_iter()
            .map(EventView::from)
            .collect())
    }

    /// Ends a grant at once (a breach, or the agreement ended): the entry's provider
    /// administrators only, with a reason. The holder and the authority of the
    /// provider's region are told; the grant stops working on the next request.
    pub async fn terminate_grant(
        &self,
        caller: &Principal,
        id: i64,
        reason: &str,
    ) -> Result<GrantView> {
        let g = self.visible_grant(caller, id).await?;
        let dataset = self.dataset_of_grant(&g).await?;
        if !can_edit_entry(caller, crate::catalog::scope(&dataset)) {
            return Err(Error::forbidden());
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 2000 {
            return Err(Error::validation(vec![FieldError::new(
                "reason",
                "required",
                "终止授权须说明理由（不超过2000字）",
                "give the reason for terminating (at most 2000 characters)",
            )]));
        }
        let ended = match self
            .store
            .terminate_grant(id, Some(caller.user_id), reason, self.now())
            .await
        {
            Err(StoreError::VersionConflict) => {
                return Err(Error::new(
                    ErrorCode::InvalidState,
                    "该授权已终止",
                    "This grant has already been terminated",
                ));
            }
            other => other.map_err(store_error)?,
        };
        let mut recipients = match (ended.holder_user_id, ended.holder_org_id) {
            (Some(user), _) => vec![user],
            (None, Some(org)) => {
                self.users_with(Role::DeptUser, |g| g.org_id == Some(org))
                    .await?
            }
            (None, None) => Vec::new(),
        };
        let region = dataset.region_code.clone();
        recipients.extend(
            self.users_with(Role::AuthorityAdmin, |g| {
                g.region_code
                    .as_deref()
                    .is_some_and(|scope| region_contains(scope, &region))
            })
            .await?,
        );
        let subject = format!("授权已终止：{}", dataset.doc.title);
        let body = format!(
            "“{}”的第 {id} 号授权已由提供单位终止。理由：{reason}",
            dataset.doc.title
        );
        self.notify(
            &recipients,
            "grant_terminated",
            &subject,
            &body,
            &crate::links::grant(id),
        )
        .await?;
        tracing::info!(grant = id, user = caller.user_id, "grant terminated");
        self.held_view(ended).await
    }

    pub async fn inbox(
        &self,
        caller: &Principal,
        unread_only: bool,
    ) -> Result<Vec<NotificationView>> {
        Ok(self
            .store
            .list_notifications(caller.user_id, unread_only, 200)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|n| NotificationView {
                id: n.id,
                kind: n.kind,
                subject: n.subject,
                body: n.body,
                link: n.link,
                created_at: n.created_at,
                read_at: n.read_at,
            })
            .collect())
    }

    pub async fn mark_read(&self, caller: &Principal, id: i64) -> Result<()> {
        if self
            .store
            .mark_notification_read(id, caller.user_id, self.now())
            .await
            .map_err(store_error)?
        {
            Ok(())
        } else {
            Err(Error::not_found("通知", "Notification"))
        }
    }

    /// Puts a message in each recipient's inbox (once per person).
    pub async fn notify(
        &self,
        recipients: &[i64],
        kind: &str,
        subject: &str,
        body: &str,
        link: &str,
    ) -> Result<()> {
        let mut users = recipients.to_vec();
        users.sort_unstable();
        users.dedup();
        let at = self.now();
        let notes: Vec<NewNotification<'_>> = users
            .iter()
            .map(|&user_id| NewNotification {
                user_id,
                kind,
                subject,
                body,
                link,
                at,
            })
            .collect();
        self.store
            .insert_notifications(&notes)
            .await
            .map_err(store_error)
    }

    pub(crate) async fn users_with(
        &self,
        role: Role,
        scope: impl Fn(&gongshu_core::authz::RoleGrant) -> bool,
    ) -> Result<Vec<i64>> {
        Ok(self
            .store
            .role_holders(role)
            .await
            .map_err(store_error)?
            .into_iter()
            .filter(|(_, g)| scope(g))
            .map(|(user, _)| user)
            .collect())
    }

    async fn held_view(&self, g: GrantRow) -> Result<GrantView> {
        let held = self
            .store
            .grants_on(g.dataset_id, china_date(self.now()))
            .await
            .map_err(store_error)?
            .into_iter()
            .find(|h| h.grant.id == g.id)
            .unwrap_or(HeldGrant {
                grant: g,
                calls_today: 0,
                rows_today: 0,
            });
        Ok(self.grant_view(&held))
    }

    pub(crate) async fn dataset_of_grant(&self, g: &GrantRow) -> Result<DatasetRow> {
        self.store
            .get_dataset(g.dataset_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("授权", "Grant"))
    }

    /// The entry, if the caller oversees its grants (provider, authority, auditor).
    async fn grant_entry(&self, caller: &Principal, dataset_id: i64) -> Result<DatasetRow> {
        let dataset = self
            .store
            .get_dataset(dataset_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("信息资源", "Dataset"))?;
        if can_view_working_copy(caller, crate::catalog::scope(&dataset)) {
            Ok(dataset)
        } else {
            Err(Error::forbidden())
        }
    }

    pub(crate) async fn visible_grant(&self, caller: &Principal, id: i64) -> Result<GrantRow> {
        let not_found = || Error::not_found("授权", "Grant");
        let g = self
            .store
            .get_grant(id)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        if holds(caller, &g) {
            return Ok(g);
        }
        let dataset = self.dataset_of_grant(&g).await?;
        if can_view_working_copy(caller, crate::catalog::scope(&dataset)) {
            Ok(g)
        } else {
            Err(not_found())
        }
    }
}

/// Whether the caller holds the grant: its user, or a department user of its department.
pub(crate) fn holds(caller: &Principal, g: &GrantRow) -> bool {
    g.holder_user_id == Some(caller.user_id)
        || g.holder_org_id
            .is_some_and(|org| departments(caller).contains(&org))
}

/// The departments the caller works for as a department user.
pub(crate) fn departments(p: &Principal) -> Vec<i64> {
    p.grants
        .iter()
        .filter(|g| g.role == Role::DeptUser)
        .filter_map(|g| g.org_id)
        .collect()
}
