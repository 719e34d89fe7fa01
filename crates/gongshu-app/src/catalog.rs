//! The catalog use cases (requirements §2): create, edit, submit, review, publish, version,
//! withdraw; the public catalog, master catalogs, open lists and negative lists.

use gongshu_core::access::{AccessMode, EntryFacts, Held, View, decide};
use gongshu_core::authz::{self, EntryScope, Principal};
use gongshu_core::catalog::{DatasetDraft, Step, is_resource_code, next_status};
use gongshu_core::diff::{FieldChange, diff};
use gongshu_core::region::RegionCode;
use gongshu_core::types::{DatasetStatus, OpenType, OrgKind, ShareType};
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{
    DatasetChange, DatasetRow, NewDataset, OrgRow, Publication, PublishedQuery, WorkingQuery,
};

use crate::views::{DatasetView, MasterCatalogView, PageView, RegionTally, RevisionView};
use crate::{App, Result, store_error};

pub const MAX_PER_PAGE: i64 = 100;

fn not_found() -> Error {
    Error::not_found("数据目录", "Dataset")
}

/// Which list to read a negative list (负面清单, SX-BIGDATA §28, §31) from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegativeList {
    Share,
    Open,
}

pub(crate) fn scope(d: &DatasetRow) -> EntryScope<'_> {
    EntryScope {
        provider_org_id: d.provider_id,
        provider_region: &d.region_code,
    }
}

/// Page arithmetic shared by every list: page from 1, per_page capped.
pub fn paging(page: Option<i64>, per_page: Option<i64>) -> (i64, i64, i64) {
    let page = page.unwrap_or(1).clamp(1, 1_000_000);
    let per_page = per_page.unwrap_or(20).clamp(1, MAX_PER_PAGE);
    (page, per_page, (page - 1) * per_page)
}

impl App {
    async fn provider(&self, id: i64) -> Result<OrgRow> {
        self.store
            .get_org(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Error::not_found("单位", "Organisation"))
    }

    async fn load(&self, id: i64) -> Result<DatasetRow> {
        self.store
            .get_dataset(id)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)
    }

    /// Whether the caller takes part in the entry and so sees its unpublished state: the
    /// access gate's metadata decision on the entry as if it were unpublished.
    fn sees_working_copy(&self, caller: Option<&Principal>, d: &DatasetRow) -> bool {
        let facts = EntryFacts {
            scope: scope(d),
            published: false,
            open_type: d.doc.open_type,
            share_type: d.doc.share_type,
            grade: d.doc.grade,
            deidentify: d.doc.deidentify,
        };
        !matches!(
            decide(
                caller,
                facts,
                AccessMode::Metadata,
                // The metadata decision on an unpublished entry never reaches the cap.
                &gongshu_core::catalog::GradeCapPolicy::default(),
                Held::nothing(self.now()),
            ),
            View::Denied(_)
        )
    }

    /// The working copy, if the caller may see it. Otherwise a published entry answers
    /// 403 (its existence is public) and an unpublished one 404, so that drafts do not
    /// reveal even that they exist.
    pub(crate) async fn working_copy(
        &self,
        caller: Option<&Principal>,
        id: i64,
    ) -> Result<DatasetRow> {
        let d = self.load(id).await?;
        if self.sees_working_copy(caller, &d) {
            Ok(d)
        } else if d.published_version.is_some() {
            Err(Error::forbidden())
        } else {
            Err(not_found())
        }
    }

    /// Who may read an entry's history: those who take part in it read every revision
    /// (`true`); anyone else only the published revisions of an entry that is published
    /// now (`false`). A withdrawn or never-published entry answers exactly as a missing
    /// one, so its history neither leaks nor reveals that it exists.
    async fn history_access(&self, caller: Option<&Principal>, id: i64) -> Result<bool> {
        let d = self.load(id).await?;
        if self.sees_working_copy(caller, &d) {
            Ok(true)
        } else if d.published_version.is_some() {
            Ok(false)
        } else {
            Err(not_found())
        }
    }

    /// Creates a draft in the caller's provider catalog. `provider_id` is needed only when
    /// the caller administers several providers; `code` only to carry over an existing code.
    pub async fn create_dataset(
        &self,
        caller: &Principal,
        provider_id: Option<i64>,
        code: Option<&str>,
        mut draft: DatasetDraft,
    ) -> Result<DatasetView> {
        let provider_id = match provider_id {
            Some(id) => id,
            None => match caller.provider_orgs().as_slice() {
                [only] => *only,
                [] => return Err(Error::forbidden()),
                _ => {
                    return Err(Error::validation(vec![FieldError::new(
                        "provider_id",
                        "required",
                        "您管理多个单位，请选择提供单位",
                        "You administer several providers: choose one",
                    )]));
                }
            },
        };
        let provider = self.provider(provider_id).await?;
        let scope = EntryScope {
            provider_org_id: provider.id,
            provider_region: &provider.region_code,
        };
        if provider.kind != OrgKind::Provider || !authz::can_edit_entry(caller, scope) {
            return Err(Error::forbidden());
        }
        draft.normalize();
        draft.validate(&self.grade_caps().await?)?;
        let category_code = draft.category.code();
        if let Some(code) = code
            && (!is_resource_code(code) || !code.starts_with(&format!("{category_code}/")))
        {
            return Err(Error::validation(vec![FieldError::new(
                "code",
                "format",
                format!("信息资源代码应为“{category_code}/六位顺序码”"),
                format!("the code must be '{category_code}/' and six digits"),
            )]));
        }
        let row = self
            .store
            .create_dataset(&NewDataset {
                code,
                category_code: &category_code,
                provider_id: provider.id,
                region_code: &provider.region_code,
                doc: &draft,
                actor_id: Some(caller.user_id),
                at: self.now(),
            })
            .await
            .map_err(store_error)?;
        Ok(DatasetView::working(row, &provider))
    }

    /// Replaces the working copy if it is still at `version` (409 otherwise).
    pub async fn update_dataset(
        &self,
        caller: &Principal,
        id: i64,
        version: i64,
        mut draft: DatasetDraft,
    ) -> Result<DatasetView> {
        let d = self.working_copy(Some(caller), id).await?;
        if !authz::can_edit_entry(caller, scope(&d)) {
            return Err(Error::forbidden());
        }
        let status = next_status(d.status, Step::Edit)?;
        draft.normalize();
        draft.validate(&self.grade_caps().await?)?;
        if let Some(published) = self.store.get_published(id).await.map_err(store_error)?
            && !crate::changes::same_attributes(&published.doc, &draft)
        {
            return Err(Error::validation(vec![FieldError::new(
                "open_type",
                "attribute_change",
                "已发布目录的开放、共享类型及其条件须通过属性变更调整（向更不开放方向须经主管部门批准）",
                "A published entry changes its open or share type and conditions only by an \
                 attribute change (toward less open, with the authority's approval)",
            )]));
        }
        if draft.category.code() != d.doc.category.code() {
            return Err(Error::validation(vec![FieldError::new(
                "category",
                "immutable",
                "信息资源分类决定资源代码，发布后不可更改；请新建条目",
                "The category determines the code and cannot change; create a new entry",
            )]));
        }
        self.save(
            caller,
            &d,
            version,
            status,
            Some(&draft),
            None,
            false,
            Publication::Keep,
        )
        .await
    }

    /// A workflow step other than editing: submit, recall, approve, reject, withdraw.
    pub async fn step_dataset(
        &self,
        caller: &Principal,
        id: i64,
        version: i64,
        step: Step,
        note: Option<&str>,
    ) -> Result<DatasetView> {
        let d = self.working_copy(Some(caller), id).await?;
        let s = scope(&d);
        let allowed = match step {
            Step::Edit => authz::can_edit_entry(caller, s),
            Step::Submit | Step::Recall => authz::can_submit_entry(caller, s),
            Step::Approve | Step::Reject => authz::can_review_entry(caller, s),
            Step::Withdraw => authz::can_withdraw_entry(caller, s, d.first_published_at.is_some()),
        };
        if !allowed {
            return Err(Error::forbidden());
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if matches!(step, Step::Reject | Step::Withdraw) && note.is_none() {
            return Err(Error::validation(vec![FieldError::new(
                "note",
                "required",
                "退回或撤销须说明理由",
                "A rejection or withdrawal must state its reasons",
            )]));
        }
        if note.is_some_and(|n| n.chars().count() > 2000) {
            return Err(Error::validation(vec![FieldError::new(
                "note",
                "too_long",
                "说明不得超过2000个字符",
                "at most 2000 characters",
            )]));
        }
        let status = next_status(d.status, step)?;
        if step == Step::Approve {
            // Nobody approves what they submitted themselves, whatever roles they hold.
            let submitted = self
                .store
                .get_revision(d.id, d.version)
                .await
                .map_err(store_error)?;
            if submitted.is_some_and(|r| r.actor_id == Some(caller.user_id)) {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    "不能审核自己提交的目录",
                    "You cannot approve an entry you submitted yourself",
                ));
            }
            // The policy may have tightened since the draft was written.
            d.doc.validate(&self.grade_caps().await?)?;
        }
        let review = matches!(step, Step::Approve | Step::Reject | Step::Withdraw);
        let publication = match step {
            Step::Approve => Publication::Publish,
            Step::Withdraw => Publication::Unpublish,
            _ => Publication::Keep,
        };
        self.save(caller, &d, version, status, None, note, review, publication)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn save(
        &self,
        caller: &Principal,
        d: &DatasetRow,
        version: i64,
        status: DatasetStatus,
        doc: Option<&DatasetDraft>,
        note: Option<&str>,
        review: bool,
        publication: Publication,
    ) -> Result<DatasetView> {
        let graded_up = match doc {
            Some(doc) => self.check_grading_up(d, doc).await?,
            None => false,
        };
        // The store checks `version` in the same statement that writes.
        let row = self
            .store
            .save_dataset(&DatasetChange {
                id: d.id,
                expected_version: version,
                status,
                doc,
                note,
                review,
                publication,
                actor_id: Some(caller.user_id),
                at: self.now(),
            })
            .await
            .map_err(store_error)?;
        if graded_up {
            self.start_seal_sweep();
        }
        // Only publishing and withdrawing change what the public (and so the index)
        // sees; editing a working copy does not, and a commit per draft save would be
        // wasted on the index.
        if publication != Publication::Keep {
            self.refresh_search_entry(d.id).await;
        }
        let provider = self.provider(row.provider_id).await?;
        Ok(DatasetView::working(row, &provider))
    }

    /// The published entry, as anyone may read it.
    pub async fn public_dataset(&self, id: i64) -> Result<DatasetView> {
        self.store
            .get_published(id)
            .await
            .map_err(store_error)?
            .map(DatasetView::published)
            .ok_or_else(not_found)
    }

    pub async fn public_dataset_by_code(&self, code: &str) -> Result<DatasetView> {
        self.store
            .get_published_by_code(code)
            .await
            .map_err(store_error)?
            .map(DatasetView::published)
            .ok_or_else(not_found)
    }

    /// The working copy, for those who take part in it.
    pub async fn working_dataset(&self, caller: &Principal, id: i64) -> Result<DatasetView> {
        let d = self.working_copy(Some(caller), id).await?;
        let provider = self.provider(d.provider_id).await?;
        Ok(DatasetView::working(d, &provider))
    }

    /// The public catalog. Reads only published copies: drafts cannot appear.
    pub async fn list_public(
        &self,
        query: PublishedQuery,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<PageView<DatasetView>> {
        let (page, per_page, offset) = paging(page, per_page);
        let mut found = self.list_public_at(query.clone(), offset, per_page).await?;
        found.page = page;
        Ok(found)
    }

    /// The public catalog from an offset (`page` is the page that offset falls in), as
    /// clients that count rows rather than pages ask for it (CKAN's `start`/`rows`).
    pub async fn list_public_at(
        &self,
        mut query: PublishedQuery,
        offset: i64,
        limit: i64,
    ) -> Result<PageView<DatasetView>> {
        let per_page = limit.clamp(1, MAX_PER_PAGE.max(1000));
        let page = offset / per_page + 1;
        query.limit = per_page;
        query.offset = offset.max(0);
        if let Some(q) = &query.q
            && q.chars().count() > 200
        {
            return Err(Error::validation(vec![FieldError::new(
                "q",
                "too_long",
                "检索词不得超过200个字符",
                "at most 200 characters",
            )]));
        }
        let (found, facets, partial_match) = match (&query.q, query.sort) {
            // Words and filters go to the search index (Chinese segmentation, partial
            // words, ranking, facets; a filtered listing of 100,000 entries is a scan in
            // the store); ordering by title or code stays with the store.
            (
                _,
                gongshu_store::PublishedSort::Relevance
                | gongshu_store::PublishedSort::Updated
                | gongshu_store::PublishedSort::Downloads,
            ) => {
                let (page, facets, relaxed) = self.search_published(&query).await?;
                (page, Some(facets), relaxed)
            }
            // The facets of what the store lists come from the index, which holds the
            // same published entries.
            _ => {
                let page = self
                    .store
                    .list_published(&query)
                    .await
                    .map_err(store_error)?;
                let facets = if query.q.is_none() {
                    let counting = PublishedQuery {
                        limit: 1,
                        offset: 0,
                        ..query.clone()
                    };
                    Some(self.search_published(&counting).await?.1)
                } else {
                    None
                };
                (page, facets, false)
            }
        };
        Ok(PageView {
            items: found
                .items
                .into_iter()
                .map(DatasetView::published)
                .collect(),
            total: found.total,
            page,
            per_page,
            facets,
            partial_match,
        })
    }

    /// The caller's workbench: their providers' entries in every state, and for an
    /// authority or auditor the entries of its region.
    pub async fn list_workbench(
        &self,
        caller: &Principal,
        status: Option<DatasetStatus>,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<PageView<DatasetView>> {
        let (page, per_page, offset) = paging(page, per_page);
        let region_prefixes = caller
            .oversight_regions()
            .iter()
            .filter_map(|r| RegionCode::parse(r))
            .map(|r| r.prefix().to_owned())
            .collect();
        let found = self
            .store
            .list_working(&WorkingQuery {
                provider_ids: caller.provider_orgs(),
                region_prefixes,
                status,
                limit: per_page,
                offset,
            })
            .await
            .map_err(store_error)?;
        // A page is mostly one provider's entries: look each provider up once.
        let mut providers = std::collections::HashMap::new();
        let mut items = Vec::with_capacity(found.items.len());
        for d in found.items {
            let id = d.provider_id;
            if let std::collections::hash_map::Entry::Vacant(slot) = providers.entry(id) {
                slot.insert(self.provider(id).await?);
            }
            items.push(DatasetView::working(d, &providers[&id]));
        }
        Ok(PageView {
            items,
            total: found.total,
            page,
            per_page,
            facets: None,
            partial_match: false,
        })
    }

    /// The history of an entry. The public sees only its published versions; those who
    /// take part in it see every revision.
    pub async fn revisions(
        &self,
        caller: Option<&Principal>,
        id: i64,
    ) -> Result<Vec<RevisionView>> {
        let full = self.history_access(caller, id).await?;
        let revs = self.store.list_revisions(id).await.map_err(store_error)?;
        Ok(revs
            .iter()
            .filter(|r| full || r.published)
            .map(RevisionView::from)
            .map(|mut v| {
                if !full {
                    v.actor = None;
                }
                v
            })
            .collect())
    }

    /// One version's metadata, under the same visibility as `revisions`.
    pub async fn revision(
        &self,
        caller: Option<&Principal>,
        id: i64,
        version: i64,
    ) -> Result<DatasetDraft> {
        let full = self.history_access(caller, id).await?;
        let rev = self
            .store
            .get_revision(id, version)
            .await
            .map_err(store_error)?
            .filter(|r| full || r.published)
            .ok_or_else(not_found)?;
        Ok(rev.doc)
    }

    pub async fn diff_versions(
        &self,
        caller: Option<&Principal>,
        id: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<FieldChange>> {
        let a = self.revision(caller, id, from).await?;
        let b = self.revision(caller, id, to).await?;
        Ok(diff(&a, &b))
    }

    /// The published catalog at a glance (the home page): totals and entries per domain.
    pub async fn catalog_summary(&self) -> Result<gongshu_store::PublishedSummary> {
        self.store.published_summary().await.map_err(store_error)
    }

    /// A region's master catalog (总目录, SD-EGOV §15): its providers' published entries and
    /// those of every region below, tallied per direct sub-region.
    pub async fn master_catalog(&self, region_code: &str) -> Result<MasterCatalogView> {
        let region =
            RegionCode::parse(region_code).ok_or_else(|| Error::not_found("行政区划", "Region"))?;
        let regions = self.store.list_regions().await.map_err(store_error)?;
        let name_of = |code: &str| {
            regions
                .iter()
                .find(|r| r.code == code)
                .map(|r| r.name.clone())
                .unwrap_or_default()
        };
        if !regions.iter().any(|r| r.code == region_code) {
            return Err(Error::not_found("行政区划", "Region"));
        }
        let counts = self
            .store
            .published_counts(region.prefix())
            .await
            .map_err(store_error)?;
        let mut top = RegionTally {
            region_code: region_code.to_owned(),
            region_name: name_of(region_code),
            ..Default::default()
        };
        let mut subs: Vec<RegionTally> = regions
            .iter()
            .filter_map(|r| RegionCode::parse(&r.code))
            .filter(|r| r.parent() == Some(region))
            .map(|r| RegionTally {
                region_code: r.to_string(),
                region_name: name_of(r.as_str()),
                ..Default::default()
            })
            .collect();
        for c in &counts {
            let child = subs.iter_mut().find(|s| {
                RegionCode::parse(&s.region_code).is_some_and(|s| {
                    RegionCode::parse(&c.region_code).is_some_and(|r| s.contains(&r))
                })
            });
            for t in std::iter::once(&mut top).chain(child) {
                t.total += c.count;
                *match c.open_type {
                    OpenType::Unconditional => &mut t.open_unconditional,
                    OpenType::Conditional => &mut t.open_conditional,
                    OpenType::None => &mut t.open_none,
                } += c.count;
                *match c.share_type {
                    ShareType::Unconditional => &mut t.share_unconditional,
                    ShareType::Conditional => &mut t.share_conditional,
                    ShareType::None => &mut t.share_none,
                } += c.count;
            }
        }
        for t in std::iter::once(&mut top).chain(subs.iter_mut()) {
            if t.total > 0 {
                t.open_ratio = (t.open_unconditional + t.open_conditional) as f64 / t.total as f64;
            }
        }
        Ok(MasterCatalogView {
            region: top,
            subregions: subs,
        })
    }

    /// A provider's open list (公共数据开放清单, SD-OPEN §10): its published entries that
    /// are open with or without conditions.
    pub async fn open_list(
        &self,
        provider_id: i64,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<PageView<DatasetView>> {
        self.provider(provider_id).await?;
        let query = PublishedQuery {
            provider_id: Some(provider_id),
            open_types: vec![OpenType::Unconditional, OpenType::Conditional],
            sort: gongshu_store::PublishedSort::Code,
            ..Default::default()
        };
        self.list_public(query, page, per_page).await
    }

    /// A negative list (负面清单): entries not shared or not opened, with their legal basis.
    pub async fn negative_list(
        &self,
        kind: NegativeList,
        region: Option<&str>,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<PageView<DatasetView>> {
        let region_prefix = region.map(crate::region_prefix).transpose()?;
        let mut query = PublishedQuery {
            region_prefix,
            sort: gongshu_store::PublishedSort::Code,
            ..Default::default()
        };
        match kind {
            NegativeList::Share => query.share_type = Some(ShareType::None),
            NegativeList::Open => query.open_types = vec![OpenType::None],
        }
        self.list_public(query, page, per_page).await
    }
}
