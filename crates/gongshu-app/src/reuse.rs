//! The reuse showcase (利用成果, SD-OPEN §15-17, requirements R5.10): people register the
//! applications, studies and products they built on the data, naming the entries used.
//! The authority moderates each record before it is shown, on the showcase and on the
//! page of every entry it names.

use gongshu_core::authz::Principal;
use gongshu_core::calendar::china_date;
use gongshu_core::feedback::text_problem;
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{CaseType, FeedbackRow, NewFeedback};
use object_store::ObjectStoreExt as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::feedback::{
    CaseFilter, bad_doc, case_page_view, case_query, checked, evidence_type, moved_on,
    optional_text,
};
use crate::views::PageView;
use crate::{App, Result, store_error};

/// Screenshots a record may carry, and the size of each.
pub const SCREENSHOTS: usize = 3;
pub const SCREENSHOT_LIMIT: usize = 2 * 1024 * 1024;

/// What was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReuseKind {
    /// 应用 (app, website, mini-program).
    App,
    /// 研究成果 (paper, report).
    Research,
    /// 产品或服务.
    Product,
    /// 数据可视化.
    Visualization,
    Other,
}

impl ReuseKind {
    pub fn label(self, zh: bool) -> &'static str {
        match (self, zh) {
            (Self::App, true) => "应用",
            (Self::Research, true) => "研究成果",
            (Self::Product, true) => "产品或服务",
            (Self::Visualization, true) => "数据可视化",
            (Self::Other, true) => "其他",
            (Self::App, false) => "Application",
            (Self::Research, false) => "Research",
            (Self::Product, false) => "Product or service",
            (Self::Visualization, false) => "Visualisation",
            (Self::Other, false) => "Other",
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReuseInput {
    pub name: String,
    pub kind: ReuseKind,
    pub description: String,
    /// Where to see it (https only).
    pub link: Option<String>,
    /// The published entries it uses (at least one).
    pub dataset_ids: Vec<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ReuseDoc {
    name: String,
    kind: Option<ReuseKind>,
    description: String,
    link: Option<String>,
    /// Media types of the screenshots, in order.
    screenshots: Vec<String>,
    moderation_note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReuseView {
    pub id: i64,
    pub name: String,
    pub kind: ReuseKind,
    pub description: String,
    pub link: Option<String>,
    pub datasets: Vec<ReuseDataset>,
    /// How many screenshots, at `/api/v1/reuses/{id}/screenshots/{n}` (n from 1).
    pub screenshots: usize,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    pub moderation_note: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The caller may moderate it now.
    pub may_moderate: bool,
    /// The caller may add screenshots.
    pub may_add_screenshot: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReuseDataset {
    pub id: i64,
    pub title: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModerationInput {
    pub approve: bool,
    /// Why, shown to the author (required to reject).
    #[serde(default)]
    pub note: String,
}

impl App {
    fn moderates(caller: &Principal, row: &FeedbackRow) -> bool {
        caller.is_authority_over(&row.region_code)
    }

    async fn reuse_view(&self, caller: Option<&Principal>, row: &FeedbackRow) -> Result<ReuseView> {
        let doc: ReuseDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        let mut datasets = Vec::new();
        for id in self
            .store
            .feedback_datasets(row.id)
            .await
            .map_err(store_error)?
        {
            if let Some(p) = self.store.get_published(id).await.map_err(store_error)? {
                datasets.push(ReuseDataset {
                    id,
                    title: p.doc.title,
                });
            }
        }
        let author = caller.is_some_and(|p| p.user_id == row.author_id);
        Ok(ReuseView {
            id: row.id,
            name: doc.name,
            kind: doc.kind.unwrap_or(ReuseKind::Other),
            description: doc.description,
            link: doc.link,
            datasets,
            screenshots: doc.screenshots.len(),
            state: row.state.clone(),
            moderation_note: doc.moderation_note,
            created_at: row.created_at,
            may_moderate: row.state == "pending" && caller.is_some_and(|p| Self::moderates(p, row)),
            may_add_screenshot: author
                && row.state == "pending"
                && doc.screenshots.len() < SCREENSHOTS,
        })
    }

    /// Anyone signed in registers what they built; it waits for the authority.
    pub async fn register_reuse(&self, caller: &Principal, input: ReuseInput) -> Result<ReuseView> {
        let mut e = Vec::new();
        checked(&mut e, text_problem("name", &input.name, 2, 100));
        checked(
            &mut e,
            text_problem("description", &input.description, 10, 4000),
        );
        let link = optional_text(&mut e, "link", input.link.as_deref(), 500);
        if let Some(l) = &link
            && (!l.starts_with("https://") || l.contains(char::is_whitespace))
        {
            e.push(FieldError::new(
                "link",
                "url",
                "链接须为 https:// 开头的网址",
                "The link is an https:// address",
            ));
        }
        let mut ids = input.dataset_ids.clone();
        ids.sort_unstable();
        ids.dedup();
        let mut unknown = ids.is_empty() || ids.len() > 20;
        for id in &ids {
            if self
                .store
                .get_published(*id)
                .await
                .map_err(store_error)?
                .is_none()
            {
                unknown = true;
            }
        }
        if unknown {
            e.push(FieldError::new(
                "dataset_ids",
                "unknown",
                "请列出所用的已发布目录（1至20个）",
                "List the published entries used (1 to 20)",
            ));
        }
        if !e.is_empty() {
            return Err(Error::validation(e));
        }
        self.check_allowance(caller, CaseType::Reuse, input.description.trim())
            .await?;
        let doc = ReuseDoc {
            name: input.name.trim().to_owned(),
            kind: Some(input.kind),
            description: input.description.trim().to_owned(),
            link,
            ..ReuseDoc::default()
        };
        let region = self.root_region().await?;
        let row = self
            .store
            .insert_feedback(&NewFeedback {
                case_type: CaseType::Reuse,
                dataset_id: ids.first().copied(),
                provider_id: None,
                region_code: &region,
                author_id: caller.user_id,
                state: "pending",
                public: false,
                received_on: Some(china_date(self.now())),
                due_on: None,
                due_provisional: false,
                doc: &serde_json::to_string(&doc).map_err(bad_doc)?,
                at: self.now(),
            })
            .await
            .map_err(store_error)?;
        self.store
            .set_feedback_datasets(row.id, &ids)
            .await
            .map_err(store_error)?;
        let to = self.authorities_over(&region).await?;
        self.notify(
            &to,
            "reuse_pending",
            &format!("利用成果待审核：{}", doc.name),
            &format!("第 {} 号利用成果等待审核后公开展示。", row.id),
            &crate::links::reuse(row.id),
        )
        .await?;
        self.reuse_view(Some(caller), &row).await
    }

    async fn visible_reuse(&self, caller: Option<&Principal>, id: i64) -> Result<FeedbackRow> {
        let not_found = || Error::not_found("利用成果", "Reuse record");
        let row = self
            .store
            .get_feedback(id)
            .await
            .map_err(store_error)?
            .filter(|r| r.case_type == CaseType::Reuse)
            .ok_or_else(not_found)?;
        let sees = row.public
            || caller.is_some_and(|p| {
                p.user_id == row.author_id
                    || Self::moderates(p, &row)
                    || p.oversight_regions()
                        .iter()
                        .any(|r| gongshu_core::region::region_contains(r, &row.region_code))
            });
        if sees { Ok(row) } else { Err(not_found()) }
    }

    pub async fn reuse(&self, caller: Option<&Principal>, id: i64) -> Result<ReuseView> {
        let row = self.visible_reuse(caller, id).await?;
        self.reuse_view(caller, &row).await
    }

    /// The showcase (approved records), with the caller's own and, for the authority,
    /// those waiting for moderation.
    pub async fn reuses(
        &self,
        caller: Option<&Principal>,
        filter: &CaseFilter,
    ) -> Result<PageView<ReuseView>> {
        let query = case_query(caller, CaseType::Reuse, filter, true);
        let rows = self
            .store
            .list_feedback(&query)
            .await
            .map_err(store_error)?;
        let mut items = Vec::with_capacity(rows.items.len());
        for row in &rows.items {
            items.push(self.reuse_view(caller, row).await?);
        }
        Ok(case_page_view(items, rows.total, &query))
    }

    /// Approved records naming this entry, for its page.
    pub async fn reuses_of(&self, dataset_id: i64) -> Result<Vec<ReuseView>> {
        let rows = self
            .store
            .public_feedback_for(CaseType::Reuse, dataset_id, 20)
            .await
            .map_err(store_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.reuse_view(None, row).await?);
        }
        Ok(out)
    }

    /// The authority approves (shown from now on) or rejects (with a note) a record.
    pub async fn moderate_reuse(
        &self,
        caller: &Principal,
        id: i64,
        input: ModerationInput,
    ) -> Result<ReuseView> {
        let mut row = self.visible_reuse(Some(caller), id).await?;
        if !Self::moderates(caller, &row) {
            return Err(Error::forbidden());
        }
        if row.state != "pending" {
            return Err(moved_on(&row.state));
        }
        let note = input.note.trim();
        if !input.approve && note.chars().count() < 2 {
            return Err(Error::validation(vec![FieldError::new(
                "note",
                "required",
                "不予展示时须说明理由",
                "Say why when a record is not shown",
            )]));
        }
        let mut doc: ReuseDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        doc.moderation_note = Some(note.to_owned()).filter(|n| !n.is_empty());
        row.state = if input.approve {
            "approved"
        } else {
            "rejected"
        }
        .into();
        row.public = input.approve;
        row.answered_on = Some(china_date(self.now()));
        row.doc = serde_json::to_string(&doc).map_err(bad_doc)?;
        let action = if input.approve {
            "approved"
        } else {
            "rejected"
        };
        let saved = self
            .save_case(caller, &row, action, note, serde_json::json!({}))
            .await?;
        let (subject, body) = if input.approve {
            (
                "您的利用成果已公开展示",
                format!("“{}”已通过审核。", doc.name),
            )
        } else {
            (
                "您的利用成果未予展示",
                format!("“{}”未通过审核：{note}", doc.name),
            )
        };
        self.notify(
            &[saved.author_id],
            &format!("reuse_{action}"),
            subject,
            &body,
            &crate::links::reuse(id),
        )
        .await?;
        self.reuse_view(Some(caller), &saved).await
    }

    /// The author adds a screenshot (PNG or JPEG, ≤ 2 MiB, three at most) while the
    /// record waits for moderation.
    pub async fn add_reuse_screenshot(
        &self,
        caller: &Principal,
        id: i64,
        bytes: Vec<u8>,
    ) -> Result<ReuseView> {
        let mut row = self.visible_reuse(Some(caller), id).await?;
        if row.author_id != caller.user_id {
            return Err(Error::forbidden());
        }
        let mut doc: ReuseDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        if row.state != "pending" || doc.screenshots.len() >= SCREENSHOTS {
            return Err(Error::new(
                ErrorCode::InvalidState,
                format!("审核前最多可上传{SCREENSHOTS}张截图"),
                format!("At most {SCREENSHOTS} screenshots, before moderation"),
            ));
        }
        if bytes.len() > SCREENSHOT_LIMIT {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                "截图不能超过 2 MiB",
                "A screenshot is at most 2 MiB",
            ));
        }
        let Some(media) = evidence_type(&bytes).filter(|t| t.starts_with("image/")) else {
            return Err(Error::validation(vec![FieldError::new(
                "screenshot",
                "type",
                "截图须为 PNG 或 JPEG 图片",
                "A screenshot is a PNG or JPEG image",
            )]));
        };
        let n = doc.screenshots.len() + 1;
        self.data
            .versions
            .store()
            .put(&screenshot_path(id, n), bytes.into())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "screenshot not stored");
                Error::internal()
            })?;
        doc.screenshots.push(media.to_owned());
        row.doc = serde_json::to_string(&doc).map_err(bad_doc)?;
        let saved = self
            .save_case(
                caller,
                &row,
                "screenshot",
                "",
                serde_json::json!({ "n": n }),
            )
            .await?;
        self.reuse_view(Some(caller), &saved).await
    }

    /// A screenshot, to whoever may see the record: (media type, bytes).
    pub async fn reuse_screenshot(
        &self,
        caller: Option<&Principal>,
        id: i64,
        n: usize,
    ) -> Result<(String, Vec<u8>)> {
        let row = self.visible_reuse(caller, id).await?;
        let doc: ReuseDoc = serde_json::from_str(&row.doc).map_err(bad_doc)?;
        let media = n
            .checked_sub(1)
            .and_then(|i| doc.screenshots.get(i))
            .ok_or_else(|| Error::not_found("截图", "Screenshot"))?;
        let read = |e: object_store::Error| {
            tracing::error!(error = %e, "screenshot unreadable");
            Error::internal()
        };
        let bytes = self
            .data
            .versions
            .store()
            .get(&screenshot_path(id, n))
            .await
            .map_err(read)?
            .bytes()
            .await
            .map_err(read)?;
        Ok((media.clone(), bytes.to_vec()))
    }
}

fn screenshot_path(id: i64, n: usize) -> object_store::path::Path {
    object_store::path::Path::from(format!("feedback/{id}/screenshot-{n}"))
}
