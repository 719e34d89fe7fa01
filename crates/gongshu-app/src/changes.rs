//! Changes of a published entry's open and share types (SD-OPEN §8, §10, §20(四);
//! SX-BIGDATA §28, §31), and the periodic review of 有条件共享 entries. Catalog edits
//! cannot change these attributes of a published entry: this is the only way, so a
//! change toward less open without the authority's approval is impossible.

use chrono::{DateTime, NaiveDate, Utc};
use gongshu_core::authz::{Principal, can_edit_entry, can_view_working_copy};
use gongshu_core::calendar::china_date;
use gongshu_core::catalog::DatasetDraft;
use gongshu_core::change::{AttributeChangeInput, ChangeRoute, ChangeState};
use gongshu_core::types::{DatasetStatus, OpenType, ShareType};
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{
    AttributeApply, AttributeChangeRow, ChangeMove, ChangeQuery, ChangeTarget, DatasetRow,
    NewAttributeChange, ShareReviewRow, StoreError,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::applications::region_prefix_of;
use crate::catalog::scope;
use crate::views::EventView;
use crate::{App, Result, store_error};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttributeChangeView {
    pub id: i64,
    pub dataset_id: i64,
    pub state: ChangeState,
    /// `immediate` (toward more open) or `authority` (toward less open or less shared).
    pub route: ChangeRoute,
    /// The request as the provider submitted it.
    pub request: AttributeChangeInput,
    pub from_open: OpenType,
    pub to_open: OpenType,
    pub from_share: ShareType,
    pub to_share: ShareType,
    pub requested_by: Option<i64>,
    pub requested_at: DateTime<Utc>,
    /// The authority's deadline (working days) while the change waits.
    #[schema(value_type = Option<String>, format = Date)]
    pub due_on: Option<NaiveDate>,
    pub due_provisional: bool,
    pub overdue: bool,
    pub decided_by: Option<i64>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttributeChangeDetail {
    #[serde(flatten)]
    pub change: AttributeChangeView,
    pub history: Vec<EventView>,
    /// What the caller may do with it now (`POST …/{action}`).
    pub actions: Vec<ChangeAction>,
}

/// The authority's decision on a pending change, or the provider's withdrawal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    Approve,
    Refuse,
    Withdraw,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeDecision {
    /// Required for a refusal; recorded for every decision.
    #[serde(default)]
    pub reason: String,
}

/// When a 有条件共享 entry's sharing is next re-evaluated (SX-BIGDATA §28).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShareReviewView {
    pub dataset_id: i64,
    pub title: String,
    #[schema(value_type = String, format = Date)]
    pub due_on: NaiveDate,
    pub overdue: bool,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<i64>,
    pub note: Option<String>,
}

/// A provider's re-evaluation that keeps the entry 有条件共享. Moving it to 无条件共享 is
/// an attribute change toward more shared, which applies at once.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareReviewInput {
    /// Why the conditions are still needed.
    pub note: String,
    /// The next review; a year on by default, at most three years on.
    #[schema(value_type = Option<String>, format = Date)]
    pub next_review_on: Option<NaiveDate>,
}

impl App {
    fn change_view(&self, r: &AttributeChangeRow) -> Result<AttributeChangeView> {
        let request = serde_json::from_str(&r.content).map_err(|e| {
            tracing::error!(change = r.id, error = %e, "stored change request unreadable");
            Error::internal()
        })?;
        let today = china_date(self.now());
        Ok(AttributeChangeView {
            id: r.id,
            dataset_id: r.dataset_id,
            state: r.state,
            route: r.route,
            request,
            from_open: r.from_open,
            to_open: r.to_open,
            from_share: r.from_share,
            to_share: r.to_share,
            requested_by: r.requested_by,
            requested_at: r.created_at,
            due_on: r.due_on,
            due_provisional: r.due_provisional,
            overdue: r.state == ChangeState::Pending && r.due_on.is_some_and(|d| today > d),
            decided_by: r.decided_by,
            decided_at: r.decided_at,
            decision_reason: r.decision_reason.clone(),
        })
    }

    /// The published document and, when the provider is editing, the working copy,
    /// with `input` applied to both. The grade cap and every rule are checked on each.
    async fn changed_documents(
        &self,
        d: &DatasetRow,
        input: &AttributeChangeInput,
    ) -> Result<(
        DatasetDraft,
        DatasetDraft,
        ChangeRoute,
        Option<DatasetDraft>,
    )> {
        let published = self
            .store
            .get_published(d.id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidState,
                    "只有已发布的目录才通过属性变更调整开放、共享类型；未发布的草稿直接编辑即可",
                    "Only a published entry changes its open or share type this way; edit a draft directly",
                )
            })?;
        let caps = self.grade_caps().await?;
        let (next, route) = input.apply_to(&published.doc, &caps)?;
        let carried = if d.status == DatasetStatus::Published {
            None
        } else {
            let mut draft = d.doc.clone();
            carry_attributes(&next, &mut draft);
            draft.validate(&caps)?;
            Some(draft)
        };
        Ok((published.doc, next, route, carried))
    }

    /// A provider changes the open or share type of its published entry. Toward more open
    /// it applies at once; toward less open (or less shared) it waits for the authority.
    pub async fn request_attribute_change(
        &self,
        caller: &Principal,
        dataset_id: i64,
        input: AttributeChangeInput,
    ) -> Result<AttributeChangeView> {
        let d = self.working_copy(Some(caller), dataset_id).await?;
        if !can_edit_entry(caller, scope(&d)) {
            return Err(Error::forbidden());
        }
        let (before, next, route, carried) = self.changed_documents(&d, &input).await?;
        let content = serde_json::to_string(&input).map_err(|_| Error::internal())?;
        let reason = input.reason.trim();
        let now = self.now();
        let today = china_date(now);
        let due = match route {
            ChangeRoute::Authority => {
                let days = self.effective_policy(&d.region_code).await?.decision_days;
                Some(self.deadline(today, days).await?)
            }
            ChangeRoute::Immediate => None,
        };
        let new = NewAttributeChange {
            dataset_id: d.id,
            requested_by: caller.user_id,
            route,
            content: &content,
            from_open: before.open_type,
            to_open: next.open_type,
            from_share: before.share_type,
            to_share: next.share_type,
            due_on: due.as_ref().map(|d| d.deadline),
            due_provisional: due.as_ref().is_some_and(|d| d.provisional),
            reason,
            at: now,
        };
        let title = &before.title;
        let authorities = self.authorities_over(&d.region_code).await?;
        let row = match route {
            ChangeRoute::Authority => {
                let row = self
                    .store
                    .insert_attribute_change(&new)
                    .await
                    .map_err(|e| match e {
                        StoreError::Duplicate(_) => Error::new(
                            ErrorCode::InvalidState,
                            "该目录已有一项待审批的属性变更，请等待决定或先撤回",
                            "A change of this entry already waits for the authority: wait or withdraw it first",
                        ),
                        other => store_error(other),
                    })?;
                let due = new.due_on.map(|d| d.to_string()).unwrap_or_default();
                self.notify(
                    &authorities,
                    "attribute_change_requested",
                    &format!("待审批的属性变更：{title}"),
                    &format!(
                        "第 {} 号属性变更（{}），请于 {due} 前审批。理由：{reason}",
                        row.id,
                        transition(&before, &next),
                    ),
                    &crate::links::attribute_change(row.id),
                )
                .await?;
                row
            }
            ChangeRoute::Immediate => {
                let review = self.review_due_after(&before, &next, today);
                let row = self
                    .store
                    .apply_attribute_change(&AttributeApply {
                        target: ChangeTarget::New(new),
                        dataset_id: d.id,
                        expected_version: d.version,
                        published: &next,
                        carried_draft: carried.as_ref(),
                        actor_id: Some(caller.user_id),
                        reason,
                        share_review_due: review,
                        at: now,
                    })
                    .await
                    .map_err(changed_meanwhile)?;
                self.refresh_search_entry(d.id).await;
                self.notify(
                    &authorities,
                    "attribute_change_applied",
                    &format!("属性变更已生效：{title}"),
                    &format!(
                        "第 {} 号属性变更已由提供单位决定并生效（{}）。理由：{reason}",
                        row.id,
                        transition(&before, &next),
                    ),
                    &crate::links::attribute_change(row.id),
                )
                .await?;
                row
            }
        };
        self.change_view(&row)
    }

    /// The authority approves or refuses a pending change; the provider may withdraw it.
    /// An approval applies the change to the entry as it is now, under today's grade cap.
    pub async fn act_on_attribute_change(
        &self,
        caller: &Principal,
        id: i64,
        action: ChangeAction,
        input: ChangeDecision,
    ) -> Result<AttributeChangeView> {
        let (row, d) = self.visible_change(caller, id).await?;
        if !self.may_act_on_change(caller, &d, action) {
            return Err(Error::forbidden());
        }
        if row.state != ChangeState::Pending {
            return Err(settled(row.state));
        }
        let reason = input.reason.trim();
        if (action == ChangeAction::Refuse && reason.is_empty()) || reason.chars().count() > 4000 {
            return Err(Error::validation(vec![FieldError::new(
                "reason",
                "required",
                "不予同意须说明理由（不超过4000字）",
                "A refusal states its reasons (at most 4000 characters)",
            )]));
        }
        if action == ChangeAction::Approve && row.requested_by == Some(caller.user_id) {
            return Err(Error::new(
                ErrorCode::Forbidden,
                "不能审批自己提出的属性变更",
                "You cannot approve a change you requested yourself",
            ));
        }
        let title = &d.doc.title;
        let moved = match action {
            ChangeAction::Approve => {
                let change = self.change_view(&row)?.request;
                let (before, next, _, carried) = self.changed_documents(&d, &change).await?;
                let review = self.review_due_after(&before, &next, china_date(self.now()));
                self.store
                    .apply_attribute_change(&AttributeApply {
                        target: ChangeTarget::Pending { id },
                        dataset_id: d.id,
                        expected_version: d.version,
                        published: &next,
                        carried_draft: carried.as_ref(),
                        actor_id: Some(caller.user_id),
                        reason,
                        share_review_due: review,
                        at: self.now(),
                    })
                    .await
                    .map_err(changed_meanwhile)?
            }
            ChangeAction::Refuse | ChangeAction::Withdraw => self
                .store
                .move_attribute_change(&ChangeMove {
                    id,
                    to: if action == ChangeAction::Refuse {
                        ChangeState::Refused
                    } else {
                        ChangeState::Withdrawn
                    },
                    actor_id: caller.user_id,
                    action: if action == ChangeAction::Refuse {
                        "refused"
                    } else {
                        "withdrawn"
                    },
                    reason,
                    decision: action == ChangeAction::Refuse,
                    at: self.now(),
                })
                .await
                .map_err(|e| match e {
                    StoreError::VersionConflict => settled(ChangeState::Applied),
                    other => store_error(other),
                })?,
        };
        let (to, subject, body) = match action {
            ChangeAction::Approve => (
                self.provider_admins(d.provider_id).await?,
                format!("属性变更已批准并生效：{title}"),
                format!("第 {id} 号属性变更已获主管部门批准并生效。"),
            ),
            ChangeAction::Refuse => (
                self.provider_admins(d.provider_id).await?,
                format!("属性变更未获批准：{title}"),
                format!("第 {id} 号属性变更未获批准，目录保持不变。理由：{reason}"),
            ),
            ChangeAction::Withdraw => (
                self.authorities_over(&d.region_code).await?,
                format!("属性变更已撤回：{title}"),
                format!("第 {id} 号属性变更已由提供单位撤回。"),
            ),
        };
        self.notify(
            &to,
            "attribute_change_decided",
            &subject,
            &body,
            &crate::links::attribute_change(id),
        )
        .await?;
        if action == ChangeAction::Approve {
            self.refresh_search_entry(d.id).await;
        }
        self.change_view(&moved)
    }

    /// Changes of one entry (`dataset_id`), or every change the caller takes part in:
    /// their providers' and, for an authority or auditor, their regions'.
    pub async fn attribute_changes(
        &self,
        caller: &Principal,
        dataset_id: Option<i64>,
        pending_only: bool,
    ) -> Result<Vec<AttributeChangeView>> {
        let query = match dataset_id {
            Some(id) => {
                let d = self.working_copy(Some(caller), id).await?;
                if !can_view_working_copy(caller, scope(&d)) {
                    return Err(Error::forbidden());
                }
                ChangeQuery {
                    dataset_id: Some(id),
                    pending_only,
                    ..ChangeQuery::default()
                }
            }
            None => ChangeQuery {
                dataset_id: None,
                provider_ids: caller.provider_orgs(),
                region_prefixes: caller
                    .oversight_regions()
                    .iter()
                    .map(|r| region_prefix_of(r))
                    .collect(),
                pending_only,
            },
        };
        let rows = self
            .store
            .list_attribute_changes(&query)
            .await
            .map_err(store_error)?;
        rows.iter().map(|r| self.change_view(r)).collect()
    }

    pub async fn attribute_change(
        &self,
        caller: &Principal,
        id: i64,
    ) -> Result<AttributeChangeDetail> {
        let (row, d) = self.visible_change(caller, id).await?;
        let actions = [
            ChangeAction::Approve,
            ChangeAction::Refuse,
            ChangeAction::Withdraw,
        ]
        .into_iter()
        .filter(|&a| row.state == ChangeState::Pending && self.may_act_on_change(caller, &d, a))
        .filter(|&a| !(a == ChangeAction::Approve && row.requested_by == Some(caller.user_id)))
        .collect();
        Ok(AttributeChangeDetail {
            change: self.change_view(&row)?,
            history: self.history("attribute_change", id).await?,
            actions,
        })
    }

    /// The authority of the entry's region decides; its provider may withdraw.
    fn may_act_on_change(&self, caller: &Principal, d: &DatasetRow, action: ChangeAction) -> bool {
        match action {
            ChangeAction::Approve | ChangeAction::Refuse => self.oversees(caller, d),
            ChangeAction::Withdraw => can_edit_entry(caller, scope(d)),
        }
    }

    async fn visible_change(
        &self,
        caller: &Principal,
        id: i64,
    ) -> Result<(AttributeChangeRow, DatasetRow)> {
        let not_found = || Error::not_found("属性变更", "Attribute change");
        let row = self
            .store
            .get_attribute_change(id)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        let d = self
            .store
            .get_dataset(row.dataset_id)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        if !can_view_working_copy(caller, scope(&d)) {
            return Err(not_found());
        }
        Ok((row, d))
    }

    /// The review date a change sets: a new one when the entry becomes 有条件共享.
    fn review_due_after(
        &self,
        before: &DatasetDraft,
        next: &DatasetDraft,
        today: NaiveDate,
    ) -> Option<NaiveDate> {
        (next.share_type == ShareType::Conditional && before.share_type != ShareType::Conditional)
            .then(|| today + chrono::Duration::days(i64::from(self.settings.share_review_days)))
    }

    fn share_review_view(&self, r: &ShareReviewRow) -> ShareReviewView {
        let due_on = r.due_on.unwrap_or_else(|| {
            china_date(r.published_at)
                + chrono::Duration::days(i64::from(self.settings.share_review_days))
        });
        ShareReviewView {
            dataset_id: r.dataset_id,
            title: r.title.clone(),
            due_on,
            overdue: china_date(self.now()) > due_on,
            reviewed_at: r.reviewed_at,
            reviewed_by: r.reviewed_by,
            note: r.note.clone(),
        }
    }

    /// When the entry's 有条件共享 is next re-evaluated.
    pub async fn share_review(
        &self,
        caller: &Principal,
        dataset_id: i64,
    ) -> Result<ShareReviewView> {
        let d = self.working_copy(Some(caller), dataset_id).await?;
        if !can_view_working_copy(caller, scope(&d)) {
            return Err(Error::forbidden());
        }
        let row = self
            .store
            .share_review(dataset_id)
            .await
            .map_err(store_error)?
            .ok_or_else(not_conditionally_shared)?;
        Ok(self.share_review_view(&row))
    }

    /// The provider re-evaluates a 有条件共享 entry and keeps its conditions, saying why.
    pub async fn review_sharing(
        &self,
        caller: &Principal,
        dataset_id: i64,
        input: ShareReviewInput,
    ) -> Result<ShareReviewView> {
        let d = self.working_copy(Some(caller), dataset_id).await?;
        if !can_edit_entry(caller, scope(&d)) {
            return Err(Error::forbidden());
        }
        if self
            .store
            .share_review(dataset_id)
            .await
            .map_err(store_error)?
            .is_none()
        {
            return Err(not_conditionally_shared());
        }
        let today = china_date(self.now());
        let note = input.note.trim();
        let mut problems = Vec::new();
        if note.is_empty() || note.chars().count() > 2000 {
            problems.push(FieldError::new(
                "note",
                "required",
                "请说明仍需设定共享条件的理由（不超过2000字）",
                "Say why the conditions are still needed (at most 2000 characters)",
            ));
        }
        let next = input
            .next_review_on
            .unwrap_or(today + chrono::Duration::days(i64::from(self.settings.share_review_days)));
        if next <= today || next > today + chrono::Duration::days(3 * 366) {
            problems.push(FieldError::new(
                "next_review_on",
                "range",
                "下次评估日期应在今天之后、三年之内",
                "The next review falls after today and within three years",
            ));
        }
        if !problems.is_empty() {
            return Err(Error::validation(problems));
        }
        let row = self
            .store
            .schedule_share_review(dataset_id, next, Some((caller.user_id, note)), self.now())
            .await
            .map_err(store_error)?;
        Ok(self.share_review_view(&row))
    }

    /// 有条件共享 entries whose review falls due within the reminder window (or has
    /// passed): their providers are reminded once per due date. Entries published before
    /// they had a schedule get one here, a review period after their first publication.
    pub async fn send_share_review_reminders(&self) -> Result<usize> {
        let calendar = self.calendar().await?;
        let today = china_date(self.now());
        let mut sent = 0;
        for row in self.store.share_reviews().await.map_err(store_error)? {
            let view = self.share_review_view(&row);
            let due = view.due_on;
            if row.due_on.is_none() {
                self.store
                    .schedule_share_review(row.dataset_id, due, None, self.now())
                    .await
                    .map_err(store_error)?;
            }
            let soon = calendar
                .working_days_before(due, self.settings.remind_days)
                .is_some_and(|from| today >= from);
            if !(soon || view.overdue)
                || !self
                    .store
                    .claim_share_review_reminder(row.dataset_id, due)
                    .await
                    .map_err(store_error)?
            {
                continue;
            }
            let action = if view.overdue {
                "deadline.overdue"
            } else {
                "deadline.reminder"
            };
            self.audit_system(
                action,
                format!("share_review:{}", row.dataset_id),
                Some(row.dataset_id),
            )
            .await;
            let to = self.provider_admins(row.provider_id).await?;
            self.notify(
                &to,
                "share_review_due",
                &format!("有条件共享数据待重新评估：{}", row.title),
                &format!(
                    "该目录的有条件共享应于 {due} 前重新评估：符合条件的请改为无条件共享，否则请说明仍需设定条件的理由（SX-BIGDATA §28）。"
                ),
                &format!("/api/v1/datasets/{}/share-review", row.dataset_id),
            )
            .await?;
            sent += 1;
        }
        Ok(sent)
    }
}

/// Copies the attributes an attribute change sets from `from` into `into`.
pub(crate) fn carry_attributes(from: &DatasetDraft, into: &mut DatasetDraft) {
    into.open_type = from.open_type;
    into.open_condition.clone_from(&from.open_condition);
    into.share_type = from.share_type;
    into.share_condition.clone_from(&from.share_condition);
    into.legal_basis.clone_from(&from.legal_basis);
    into.deidentify = from.deidentify;
}

/// Whether a catalog edit of a published entry leaves the attributes alone.
pub(crate) fn same_attributes(a: &DatasetDraft, b: &DatasetDraft) -> bool {
    let mut carried = b.clone();
    carry_attributes(a, &mut carried);
    // legal_basis may be reworded in an edit; the types, conditions and mark may not.
    carried.legal_basis.clone_from(&b.legal_basis);
    &carried == b
}

/// 开放：A → B；共享：C → D, for notices.
fn transition(before: &DatasetDraft, next: &DatasetDraft) -> String {
    format!(
        "开放：{} → {}；共享：{} → {}",
        before.open_type.label_zh(),
        next.open_type.label_zh(),
        before.share_type.label_zh(),
        next.share_type.label_zh()
    )
}

fn settled(state: ChangeState) -> Error {
    Error::new(
        ErrorCode::InvalidState,
        format!("该属性变更已{}，不能再处理", state_zh(state)),
        format!("This change is already {}", state.as_str()),
    )
}

fn state_zh(state: ChangeState) -> &'static str {
    match state {
        ChangeState::Pending => "待审批",
        ChangeState::Applied => "生效",
        ChangeState::Refused => "被拒绝",
        ChangeState::Withdrawn => "撤回",
    }
}

fn changed_meanwhile(e: StoreError) -> Error {
    match e {
        StoreError::VersionConflict => Error::new(
            ErrorCode::VersionConflict,
            "目录或该变更刚被他人修改或处理，请刷新后重试",
            "The entry or this change was just changed by someone else: reload and try again",
        ),
        other => store_error(other),
    }
}

fn not_conditionally_shared() -> Error {
    Error::new(
        ErrorCode::InvalidState,
        "该目录当前不是已发布的有条件共享目录",
        "This entry is not a published 有条件共享 entry",
    )
}
