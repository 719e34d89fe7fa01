//! What the API and the pages show: catalog entries with their provider, lists, history.

use chrono::{DateTime, Utc};
use gongshu_core::catalog::DatasetDraft;
use gongshu_core::types::{DatasetStatus, OrgKind};
use gongshu_store::{DatasetRow, OrgRow, PublishedRow, RevisionRow};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderRef {
    pub id: i64,
    pub name: String,
    /// 统一社会信用代码.
    pub credit_code: String,
}

/// A catalog entry as clients see it: the platform-assigned fields and the 13 national
/// core metadata elements with the extras (flattened from the draft).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DatasetView {
    pub id: i64,
    /// 信息资源代码 = 分类码/顺序码.
    pub code: String,
    pub provider: ProviderRef,
    pub region_code: String,
    pub status: DatasetStatus,
    pub version: i64,
    /// 发布日期: when the entry was first published.
    pub published_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    #[serde(flatten)]
    pub metadata: DatasetDraft,
    /// The reviewer's last remark (working copies only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_note: Option<String>,
}

impl DatasetView {
    pub fn published(p: PublishedRow) -> Self {
        Self {
            id: p.id,
            code: p.code,
            provider: ProviderRef {
                id: p.provider_id,
                name: p.provider_name,
                credit_code: p.provider_credit_code,
            },
            region_code: p.region_code,
            status: DatasetStatus::Published,
            version: p.version,
            published_at: Some(p.published_at),
            updated_at: p.updated_at,
            metadata: p.doc,
            review_note: None,
        }
    }

    pub fn working(d: DatasetRow, provider: &OrgRow) -> Self {
        Self {
            id: d.id,
            code: d.code,
            provider: ProviderRef {
                id: provider.id,
                name: provider.name.clone(),
                credit_code: provider.credit_code.clone(),
            },
            region_code: d.region_code,
            status: d.status,
            version: d.version,
            published_at: d.first_published_at,
            updated_at: d.updated_at,
            metadata: d.doc,
            review_note: d.review_note,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PageView<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    /// For each dimension (domain, provider, region, open_type, share_type, format,
    /// update_cycle, grade), the values among everything the listing matches (not only
    /// this page) with their counts, most frequent first. Absent for the store-only
    /// orders of a text query (title, code).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub facets: Option<std::collections::BTreeMap<String, Vec<FacetCount>>>,
    /// No entry matched every word of the text query: these match some of them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial_match: bool,
}

/// One value of a facet and how many matches have it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FacetCount {
    /// What to filter by (a provider's id, a region's code, a domain's code …).
    pub value: String,
    /// The name to show, where the value is not one (a provider's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgView {
    pub id: i64,
    pub name: String,
    pub name_en: String,
    pub kind: OrgKind,
    pub region_code: String,
    pub credit_code: String,
    pub contact: String,
}

impl From<OrgRow> for OrgView {
    fn from(o: OrgRow) -> Self {
        Self {
            id: o.id,
            name: o.name,
            name_en: o.name_en,
            kind: o.kind,
            region_code: o.region_code,
            credit_code: o.credit_code,
            contact: o.contact,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevisionView {
    pub version: i64,
    pub status: DatasetStatus,
    pub published: bool,
    pub actor: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&RevisionRow> for RevisionView {
    fn from(r: &RevisionRow) -> Self {
        Self {
            version: r.version,
            status: r.status,
            published: r.published,
            actor: r.actor_name.clone(),
            note: r.note.clone(),
            created_at: r.created_at,
        }
    }
}

/// One region's line in a master catalog (总目录): its own and its sub-regions' entries.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct RegionTally {
    pub region_code: String,
    pub region_name: String,
    pub total: i64,
    pub open_unconditional: i64,
    pub open_conditional: i64,
    pub open_none: i64,
    pub share_unconditional: i64,
    pub share_conditional: i64,
    pub share_none: i64,
    /// Share of entries open in some form: "开放为原则，不开放为例外" (SD-OPEN §8).
    pub open_ratio: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MasterCatalogView {
    pub region: RegionTally,
    /// One line per direct sub-region, each rolled up over the regions below it.
    pub subregions: Vec<RegionTally>,
}

/// One recorded state change of a governed object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The user who acted; none for the platform itself.
    pub actor_id: Option<i64>,
    pub action: String,
    pub reason: String,
    /// What changed, in the object's own terms.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<gongshu_store::EventRow> for EventView {
    fn from(e: gongshu_store::EventRow) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor_id: e.actor_id,
            action: e.action,
            reason: e.reason,
            detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
        }
    }
}
