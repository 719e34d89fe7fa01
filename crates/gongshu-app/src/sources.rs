//! 一数一源 (one item, one source; SD-BIGDATA §20, requirements R8.1): providers mark the
//! data items whose values they are the authoritative source of, and the platform flags
//! an item that several providers claim, for the authority to settle.

use gongshu_core::Error;
use gongshu_core::authz::Principal;
use gongshu_core::catalog::item_key;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{App, Result, store_error};

/// One entry's claim to be the source of an item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceClaimView {
    pub dataset_id: i64,
    pub code: String,
    pub title: String,
    pub provider_id: i64,
    pub provider_name: String,
    pub region_code: String,
    /// The item's name as this entry writes it.
    pub item: String,
}

/// An item claimed as their own by more than one provider.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceConflict {
    /// The item's name as the first claim writes it.
    pub item: String,
    /// How many providers claim it.
    pub providers: usize,
    pub claims: Vec<SourceClaimView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceConflicts {
    pub region_code: String,
    pub region_name: String,
    /// Items claimed as a source by anyone in the region, conflicting or not.
    pub claimed_items: usize,
    pub conflicts: Vec<SourceConflict>,
}

/// Groups the claims by item and keeps the items with more than one provider.
fn conflicts_of(claims: Vec<SourceClaimView>) -> (usize, Vec<SourceConflict>) {
    let mut by_item: std::collections::BTreeMap<String, Vec<SourceClaimView>> =
        std::collections::BTreeMap::new();
    for c in claims {
        by_item.entry(item_key(&c.item)).or_default().push(c);
    }
    let claimed = by_item.len();
    let conflicts = by_item
        .into_values()
        .filter_map(|claims| {
            let mut providers: Vec<i64> = claims.iter().map(|c| c.provider_id).collect();
            providers.sort_unstable();
            providers.dedup();
            (providers.len() > 1).then(|| SourceConflict {
                item: claims[0].item.clone(),
                providers: providers.len(),
                claims,
            })
        })
        .collect();
    (claimed, conflicts)
}

impl App {
    /// The items of a region's published catalog that several providers claim as their
    /// own source. The authority or auditor over the region sees them all; a provider's
    /// staff see the ones their organisation is party to, across the platform.
    pub async fn source_conflicts(
        &self,
        caller: &Principal,
        region: Option<&str>,
    ) -> Result<SourceConflicts> {
        let own = caller.provider_orgs();
        let region = match region {
            Some(r) => r.to_owned(),
            None => match caller
                .oversight_regions()
                .into_iter()
                .min_by_key(String::len)
            {
                Some(r) => r,
                None => self.root_region().await?,
            },
        };
        let region_name = self.known_region(&region).await?;
        let overseer = caller.oversees_region(&region);
        if !overseer && own.is_empty() {
            return Err(Error::forbidden());
        }
        let prefix = gongshu_core::region::RegionCode::parse(&region)
            .map(|r| r.prefix().to_owned())
            .unwrap_or(region.clone());
        let claims = self
            .store
            .source_claims(&prefix)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|c| SourceClaimView {
                dataset_id: c.dataset_id,
                code: c.code,
                title: c.title,
                provider_id: c.provider_id,
                provider_name: c.provider_name,
                region_code: c.region_code,
                item: c.item,
            })
            .collect();
        let (claimed_items, mut conflicts) = conflicts_of(claims);
        if !overseer {
            conflicts.retain(|c| c.claims.iter().any(|x| own.contains(&x.provider_id)));
        }
        Ok(SourceConflicts {
            region_code: region,
            region_name,
            claimed_items,
            conflicts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(provider_id: i64, dataset_id: i64, item: &str) -> SourceClaimView {
        SourceClaimView {
            dataset_id,
            code: String::new(),
            title: String::new(),
            provider_id,
            provider_name: String::new(),
            region_code: "370000".into(),
            item: item.into(),
        }
    }

    #[test]
    fn only_items_of_several_providers_conflict() {
        let (claimed, conflicts) = conflicts_of(vec![
            claim(1, 10, "统一社会信用代码"),
            claim(1, 11, "统一社会信用代码"),
            claim(2, 20, "统一社会信用代码 "),
            claim(1, 12, "企业名称"),
            claim(1, 13, "企业名称"),
            claim(3, 30, "ＩＤ"),
            claim(4, 40, "i d"),
        ]);
        assert_eq!(claimed, 3);
        assert_eq!(conflicts.len(), 2);
        let credit = conflicts
            .iter()
            .find(|c| c.item == "统一社会信用代码")
            .unwrap();
        assert_eq!((credit.providers, credit.claims.len()), (2, 3));
        assert!(
            conflicts
                .iter()
                .any(|c| c.item == "ＩＤ" && c.providers == 2)
        );
    }
}
