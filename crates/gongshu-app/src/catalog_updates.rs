//! Catalog-update duties (SD-EGOV §16, requirements R2.5): when a law or a department's
//! duties change, the department updates its catalog within 15 working days. The
//! authority (or the provider itself) records the change; the provider is reminded and
//! the authority told when the deadline passes, until the provider closes the duty by
//! saying what it updated.

use chrono::{DateTime, NaiveDate, Utc};
use gongshu_core::authz::{
    EntryScope, Principal, can_edit_entry, can_review_entry, can_view_working_copy,
};
use gongshu_core::calendar::china_date;
use gongshu_core::types::OrgKind;
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{CatalogUpdateRow, NewCatalogUpdate, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::applications::region_prefix_of;
use crate::views::EventView;
use crate::{App, Result, store_error};

/// SD-EGOV §16: the catalog is updated within this many working days.
pub const CATALOG_UPDATE_DAYS: u32 = 15;

/// What set the duty off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateCause {
    /// A law, regulation or rule was made, changed or repealed (法律法规发生变化).
    Law,
    /// The department's statutory duties changed (职能发生变化).
    Duties,
}

impl UpdateCause {
    fn as_str(self) -> &'static str {
        match self {
            Self::Law => "law",
            Self::Duties => "duties",
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogUpdateInput {
    /// The provider whose catalog must follow.
    pub provider_id: i64,
    pub cause: UpdateCause,
    /// Which law or which change of duties, and what it affects.
    pub basis: String,
    /// When the change took effect or was notified (today by default); the 15 working
    /// days run from the day after.
    #[schema(value_type = Option<String>, format = Date)]
    pub received_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogUpdateClose {
    /// What was updated (entries, items, open types), or why nothing needed to change.
    pub note: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogUpdateView {
    pub id: i64,
    pub provider_id: i64,
    pub region_code: String,
    pub cause: String,
    pub basis: String,
    #[schema(value_type = String, format = Date)]
    pub received_on: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub due_on: NaiveDate,
    pub due_provisional: bool,
    /// `open` or `done`.
    pub state: String,
    pub overdue: bool,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub closed_by: Option<i64>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogUpdateDetail {
    #[serde(flatten)]
    pub update: CatalogUpdateView,
    pub history: Vec<EventView>,
    /// The caller may close it now.
    pub may_close: bool,
}

fn scope(r: &CatalogUpdateRow) -> EntryScope<'_> {
    EntryScope {
        provider_org_id: r.provider_id,
        provider_region: &r.region_code,
    }
}

impl App {
    fn update_view(&self, r: &CatalogUpdateRow) -> CatalogUpdateView {
        let today = china_date(self.now());
        CatalogUpdateView {
            id: r.id,
            provider_id: r.provider_id,
            region_code: r.region_code.clone(),
            cause: r.cause.clone(),
            basis: r.basis.clone(),
            received_on: r.received_on,
            due_on: r.due_on,
            due_provisional: r.due_provisional,
            state: r.state.clone(),
            overdue: r.state == "open" && today > r.due_on,
            created_by: r.created_by,
            created_at: r.created_at,
            closed_by: r.closed_by,
            closed_at: r.closed_at,
            close_note: r.close_note.clone(),
        }
    }

    /// The authority over the provider's region, or the provider's data administrators,
    /// record that a law or the provider's duties changed; the provider's administrators
    /// are told, with the deadline.
    pub async fn record_catalog_update(
        &self,
        caller: &Principal,
        input: CatalogUpdateInput,
    ) -> Result<CatalogUpdateView> {
        let org = self
            .store
            .get_org(input.provider_id)
            .await
            .map_err(store_error)?
            .filter(|o| o.kind == OrgKind::Provider)
            .ok_or_else(|| Error::not_found("提供单位", "Provider"))?;
        let s = EntryScope {
            provider_org_id: org.id,
            provider_region: &org.region_code,
        };
        if !(can_review_entry(caller, s) || can_edit_entry(caller, s)) {
            return Err(Error::forbidden());
        }
        let today = china_date(self.now());
        let received_on = input.received_on.unwrap_or(today);
        let mut e = Vec::new();
        let basis = input.basis.trim();
        if basis.is_empty() || basis.chars().count() > 4000 {
            e.push(FieldError::new(
                "basis",
                "required",
                "请写明变化的法律法规或职能（不超过4000字）",
                "Name the law or the change of duties (at most 4000 characters)",
            ));
        }
        if received_on > today || (today - received_on).num_days() > 366 {
            e.push(FieldError::new(
                "received_on",
                "range",
                "日期不能晚于今天，也不能早于一年前",
                "The date is no later than today and within the past year",
            ));
        }
        if !e.is_empty() {
            return Err(Error::validation(e));
        }
        let due = self.deadline(received_on, CATALOG_UPDATE_DAYS).await?;
        let row = self
            .store
            .insert_catalog_update(&NewCatalogUpdate {
                provider_id: org.id,
                cause: input.cause.as_str(),
                basis,
                received_on,
                due_on: due.deadline,
                due_provisional: due.provisional,
                created_by: caller.user_id,
                at: self.now(),
            })
            .await
            .map_err(store_error)?;
        let to = self.provider_admins(org.id).await?;
        self.notify(
            &to,
            "catalog_update_required",
            "请更新政务信息资源目录",
            &format!(
                "因{}，请于 {} 前更新本单位目录（《山东省政务信息资源共享管理办法》第十六条）：{basis}",
                match input.cause {
                    UpdateCause::Law => "法律法规发生变化",
                    UpdateCause::Duties => "部门职能发生变化",
                },
                due.deadline
            ),
            &crate::links::catalog_update(row.id),
        )
        .await?;
        Ok(self.update_view(&row))
    }

    /// The duties the caller's providers must carry out, and those of the providers in
    /// the regions the caller oversees.
    pub async fn catalog_updates(
        &self,
        caller: &Principal,
        open_only: bool,
    ) -> Result<Vec<CatalogUpdateView>> {
        let prefixes: Vec<String> = caller
            .oversight_regions()
            .iter()
            .map(|r| region_prefix_of(r))
            .collect();
        let rows = self
            .store
            .list_catalog_updates(&caller.provider_orgs(), &prefixes, open_only)
            .await
            .map_err(store_error)?;
        Ok(rows.iter().map(|r| self.update_view(r)).collect())
    }

    pub async fn catalog_update(&self, caller: &Principal, id: i64) -> Result<CatalogUpdateDetail> {
        let row = self.visible_update(caller, id).await?;
        Ok(CatalogUpdateDetail {
            may_close: row.state == "open" && can_edit_entry(caller, scope(&row)),
            update: self.update_view(&row),
            history: self.history("catalog_update", id).await?,
        })
    }

    /// The provider's data administrators close the duty with what they updated; the
    /// one who recorded it is told.
    pub async fn close_catalog_update(
        &self,
        caller: &Principal,
        id: i64,
        input: CatalogUpdateClose,
    ) -> Result<CatalogUpdateView> {
        let row = self.visible_update(caller, id).await?;
        if !can_edit_entry(caller, scope(&row)) {
            return Err(Error::forbidden());
        }
        let note = input.note.trim();
        if note.is_empty() || note.chars().count() > 4000 {
            return Err(Error::validation(vec![FieldError::new(
                "note",
                "required",
                "请说明更新了哪些目录内容，或为何无需更新（不超过4000字）",
                "Say what was updated, or why nothing needed to change (at most 4000 characters)",
            )]));
        }
        let closed = self
            .store
            .close_catalog_update(id, caller.user_id, note, self.now())
            .await
            .map_err(|e| match e {
                StoreError::VersionConflict => Error::new(
                    ErrorCode::InvalidState,
                    "该目录更新事项已办结",
                    "This catalog update is already closed",
                ),
                other => store_error(other),
            })?;
        if let Some(by) = closed.created_by.filter(|&by| by != caller.user_id) {
            self.notify(
                &[by],
                "catalog_update_closed",
                "目录更新已办结",
                &format!("第 {id} 号目录更新事项已办结：{note}"),
                &crate::links::catalog_update(id),
            )
            .await?;
        }
        Ok(self.update_view(&closed))
    }

    async fn visible_update(&self, caller: &Principal, id: i64) -> Result<CatalogUpdateRow> {
        let not_found = || Error::not_found("目录更新事项", "Catalog update");
        let row = self
            .store
            .get_catalog_update(id)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        if can_view_working_copy(caller, scope(&row)) {
            Ok(row)
        } else {
            Err(not_found())
        }
    }
}
