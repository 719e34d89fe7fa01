//! A generated catalog at province scale, for trying the platform (and measuring search)
//! with as many entries as a real province holds. Every entry is a demo entry restated for
//! a city or county and a year, published by that region's counterpart of the demo
//! provider, so titles, summaries and data items read like a real catalog.

use std::collections::HashMap;

use chrono::{Duration, TimeZone, Utc};
use gongshu_core::region::BUILTIN_SUBREGIONS;
use gongshu_core::types::{DatasetStatus, OrgKind};
use gongshu_core::validate::uscc_check_char;
use gongshu_store::{DatasetChange, NewDataset, Publication};

use super::{bad, data, draft_of};
use crate::directory::NewOrgInput;
use crate::{App, Result, store_error};

/// Prefixes of the demo's titles and names that name its province or city.
const DEMO_PLACES: &[&str] = &["山东省", "济南市", "青岛市", "淄博市", "烟台市"];

/// Each region restates every demo entry once per year and scope: 14 × 3 = 42 variants.
pub const SYNTHETIC_YEARS: std::ops::RangeInclusive<u32> = 2012..=2025;
pub const SYNTHETIC_SCOPES: &[&str] = &["", "（汇总）", "（明细）"];

fn strip_place(s: &str) -> &str {
    DEMO_PLACES
        .iter()
        .find_map(|p| s.strip_prefix(p))
        .unwrap_or(s)
}

/// A city's or county's counterpart of a provincial department: 生态环境厅 → 生态环境局.
fn regional_name(region: &str, department: &str) -> String {
    let dept = strip_place(department);
    match dept.strip_suffix('厅') {
        Some(stem) => format!("{region}{stem}局"),
        None => format!("{region}{dept}"),
    }
}

/// The title of synthetic entry `i`, and the indexes it is made from: (demo entry, region,
/// year, scope). The bench's judged queries are built from the same arithmetic.
pub fn synthetic_title(i: usize) -> (String, usize, usize, u32, &'static str) {
    let templates = data::ENTRIES.len();
    let regions = BUILTIN_SUBREGIONS.len();
    let t = i % templates;
    let r = (i / templates) % regions;
    let v = i / (templates * regions);
    let years = SYNTHETIC_YEARS.clone().count();
    let year = SYNTHETIC_YEARS.start() + (v % years) as u32;
    let scope = SYNTHETIC_SCOPES[(v / years) % SYNTHETIC_SCOPES.len()];
    let title = format!(
        "{}{}年{}{}",
        BUILTIN_SUBREGIONS[r].1,
        year,
        strip_place(data::ENTRIES[t].title),
        scope
    );
    (title, t, r, year, scope)
}

impl App {
    /// Adds `count` published entries (and the regional providers they need) to a platform
    /// holding the demo province. Returns how many entries were added.
    pub async fn load_synthetic_catalog(&self, count: usize) -> Result<usize> {
        let mut providers: HashMap<(usize, &str), (i64, &str)> = HashMap::new();
        let mut next_org = 0u32;
        let base = Utc
            .with_ymd_and_hms(2019, 1, 1, 1, 0, 0)
            .single()
            .ok_or_else(|| bad("date", "2019-01-01"))?;
        let caps = self.grade_caps().await?;
        for i in 0..count {
            let (title, t, r, year, _) = synthetic_title(i);
            let entry = &data::ENTRIES[t];
            let (region_code, region_name) = BUILTIN_SUBREGIONS[r];
            let provider = match providers.get(&(r, entry.provider)) {
                Some(p) => *p,
                None => {
                    let dept = data::ORGS
                        .iter()
                        .find(|o| o.key == entry.provider)
                        .ok_or_else(|| bad("org", entry.provider))?;
                    next_org += 1;
                    // Organisation codes of nine digits, unique per generated provider.
                    let body = format!("12{region_code}{:09}", 700_000_000 + next_org);
                    let check = uscc_check_char(&body).map_err(|_| bad("org", &body))?;
                    let org = self
                        .create_org_unchecked(NewOrgInput {
                            name: regional_name(region_name, dept.name),
                            name_en: String::new(),
                            kind: OrgKind::Provider,
                            region_code: region_code.into(),
                            credit_code: format!("{body}{check}"),
                            contact: dept.contact.into(),
                        })
                        .await?;
                    providers.insert((r, entry.provider), (org.id, region_code));
                    (org.id, region_code)
                }
            };
            let mut draft = draft_of(entry)?;
            draft.title = title;
            draft.summary = format!("{region_name}{year}年度数据。{}", entry.summary);
            draft.normalize();
            draft
                .validate(&caps)
                .map_err(|e| bad("entry", &format!("{}: {:?}", draft.title, e.fields)))?;
            // Spread over six years so "recently updated" has something to sort.
            let at = base + Duration::minutes((i as i64 * 7919) % (6 * 365 * 24 * 60));
            let row = self
                .store
                .create_dataset(&NewDataset {
                    code: None,
                    category_code: &draft.category.code(),
                    provider_id: provider.0,
                    region_code: provider.1,
                    doc: &draft,
                    actor_id: None,
                    at,
                })
                .await
                .map_err(store_error)?;
            self.store
                .save_dataset(&DatasetChange {
                    id: row.id,
                    expected_version: row.version,
                    status: DatasetStatus::Published,
                    doc: None,
                    note: Some("批量生成 (generated)"),
                    review: true,
                    publication: Publication::Publish,
                    actor_id: None,
                    at,
                })
                .await
                .map_err(store_error)?;
        }
        Ok(count)
    }
}
