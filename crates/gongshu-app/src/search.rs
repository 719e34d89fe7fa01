//! The catalog search index kept in step with the store: rebuilt at start when it does
//! not hold what is published, refreshed after every change of an entry. The index is
//! derived; an entry it misses or keeps too long is fixed by the next refresh or
//! `gongshu reindex`, and a failure to update it never fails the change itself.

use gongshu_search::{EntryDoc, SearchQuery, SearchResult};
use gongshu_store::{Page, PublishedQuery, PublishedRow, PublishedSort, UsageTotals};

use crate::views::FacetCount;
use crate::{App, Result, store_error};

type Facets = std::collections::BTreeMap<String, Vec<FacetCount>>;

/// What the index holds of a published entry: nothing a draft or a grant could add.
fn entry_doc(row: &PublishedRow, downloads: i64) -> EntryDoc {
    let d = &row.doc;
    EntryDoc {
        id: row.id as u64,
        codes: vec![row.code.clone(), row.provider_credit_code.clone()],
        title: d.title.clone(),
        summary: d.summary.clone(),
        keywords: d.keywords.clone(),
        items: d.items.iter().map(|i| i.name.clone()).collect(),
        provider: row.provider_name.clone(),
        provider_id: row.provider_id as u64,
        domains: d.domains.iter().map(|x| x.as_str().to_owned()).collect(),
        region: row.region_code.clone(),
        open_type: d.open_type.as_str().to_owned(),
        share_type: d.share_type.as_str().to_owned(),
        formats: d.file_formats.clone(),
        update_cycle: d.update_cycle.as_str().to_owned(),
        grade: d.grade.as_str().to_owned(),
        updated_at: row.updated_at.timestamp(),
        downloads: downloads.max(0) as u64,
    }
}

fn index_error(e: &gongshu_search::SearchError) -> gongshu_core::Error {
    tracing::error!(error = %e, "search index");
    gongshu_core::Error::internal()
}

/// What one kind of use adds to an entry's tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A whole table or file.
    Download,
    /// A page of the row API.
    ApiCall,
}

impl App {
    /// The documents of published entries, with their download counts.
    async fn entry_docs(&self, rows: &[PublishedRow]) -> Result<Vec<EntryDoc>> {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let used = self.usage(&ids).await?;
        Ok(rows
            .iter()
            .map(|r| entry_doc(r, used.get(&r.id).map_or(0, |u| u.downloads)))
            .collect())
    }

    /// Counts a use of an entry's data for its tally (the portal's "most used", the
    /// evaluation). Counted in memory and written with the index's periodic refresh, so
    /// that a request does not wait for a write of a statistic (a crash loses at most
    /// one period's counts).
    pub async fn count_use(&self, dataset_id: i64, used: Use) {
        let (downloads, api_calls) = match used {
            Use::Download => (1, 0),
            Use::ApiCall => (0, 1),
        };
        let day = gongshu_core::calendar::china_date(self.now());
        let mut pending = self.pending_use.lock().unwrap_or_else(|e| e.into_inner());
        let counts = pending.entry((dataset_id, day)).or_insert((0, 0));
        counts.0 += downloads;
        counts.1 += api_calls;
    }

    /// Writes the counted use to the store; what cannot be written is kept for the next
    /// time.
    pub async fn flush_use(&self) {
        // Readers wait while counts are between memory and the store, where they would
        // see them in neither.
        let _flushing = self.use_flush.lock().await;
        let taken =
            std::mem::take(&mut *self.pending_use.lock().unwrap_or_else(|e| e.into_inner()));
        for ((dataset_id, day), (downloads, api_calls)) in taken {
            match self
                .store
                .record_dataset_use(dataset_id, day, downloads, api_calls)
                .await
            {
                Ok(()) if downloads > 0 => {
                    self.used_since_indexed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(dataset_id);
                }
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(dataset = dataset_id, error = %e, "use not written yet");
                    let mut pending = self.pending_use.lock().unwrap_or_else(|e| e.into_inner());
                    let counts = pending.entry((dataset_id, day)).or_insert((0, 0));
                    counts.0 += downloads;
                    counts.1 += api_calls;
                }
            }
        }
    }

    /// The use in all of each of the entries `ids` (nothing for an entry never used),
    /// counting what is not written yet.
    pub async fn usage(&self, ids: &[i64]) -> Result<std::collections::HashMap<i64, UsageTotals>> {
        let _not_flushing = self.use_flush.lock().await;
        let mut totals: std::collections::HashMap<i64, UsageTotals> = self
            .store
            .usage_totals(ids)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|u| (u.dataset_id, u))
            .collect();
        let pending = self.pending_use.lock().unwrap_or_else(|e| e.into_inner());
        for ((dataset_id, _), (downloads, api_calls)) in pending.iter() {
            if ids.contains(dataset_id) {
                let t = totals.entry(*dataset_id).or_insert(UsageTotals {
                    dataset_id: *dataset_id,
                    ..UsageTotals::default()
                });
                t.downloads += downloads;
                t.api_calls += api_calls;
            }
        }
        Ok(totals)
    }

    /// Brings the download counts of the entries downloaded since the last call into the
    /// index, in one commit; returns how many entries moved.
    pub async fn refresh_usage_in_search(&self) -> Result<usize> {
        self.flush_use().await;
        let ids: Vec<i64> = std::mem::take(
            &mut *self
                .used_since_indexed
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
        .into_iter()
        .collect();
        let mut moved = 0;
        for chunk in ids.chunks(1000) {
            let rows = self
                .store
                .get_published_many(chunk)
                .await
                .map_err(store_error)?;
            let docs = self.entry_docs(&rows).await?;
            moved += docs.len();
            let search = self.search.clone();
            tokio::task::spawn_blocking(move || search.upsert_many(&docs))
                .await
                .map_err(|_| gongshu_core::Error::internal())?
                .map_err(|e| index_error(&e))?;
        }
        Ok(moved)
    }

    /// Brings download counts into the index every `period`, for as long as the runtime
    /// lasts. A period's delay is fine for an ordering, and one commit per period keeps
    /// the index from churning on each download.
    pub fn spawn_usage_refresh(self, period: std::time::Duration) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                if let Err(e) = self.refresh_usage_in_search().await {
                    tracing::warn!(error = %e, "download counts not brought into the index");
                }
            }
        });
    }

    /// Rebuilds the index from every published entry; returns how many it holds.
    pub async fn rebuild_search(&self) -> Result<u64> {
        let mut docs = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .store
                .list_published(&PublishedQuery {
                    limit: 1000,
                    offset,
                    ..PublishedQuery::default()
                })
                .await
                .map_err(store_error)?;
            let n = page.items.len() as i64;
            docs.extend(self.entry_docs(&page.items).await?);
            if n < 1000 {
                break;
            }
            offset += n;
        }
        let search = self.search.clone();
        tokio::task::spawn_blocking(move || search.rebuild(docs))
            .await
            .map_err(|_| gongshu_core::Error::internal())?
            .map_err(|e| index_error(&e))
    }

    /// Rebuilds the index if it does not hold as many entries as are published (a new
    /// index, one from before a crash, one an older release left).
    pub async fn ensure_search(&self) -> Result<()> {
        let published = self
            .store
            .published_summary()
            .await
            .map_err(store_error)?
            .total;
        if self.search.len() != published as u64 {
            let n = self.rebuild_search().await?;
            tracing::info!(entries = n, "search index rebuilt");
        }
        Ok(())
    }

    /// Follows the catalog's change feed every `period`, refreshing each entry another
    /// node changed (on a database several nodes share, each keeps its own index). The
    /// feed is read from its end at start (the index was brought up to date then). On
    /// PostgreSQL, numbers are taken before commit, so one may appear after a higher one:
    /// each read looks back over the last `LOOK_BACK` numbers and skips those seen.
    pub fn spawn_search_follower(self, period: std::time::Duration) {
        const LOOK_BACK: i64 = 1024;
        const PAGE: i64 = 10_000;
        tokio::spawn(async move {
            let mut cursor = 0;
            loop {
                match self.store.catalog_changes(cursor, PAGE).await {
                    Ok(page) => match page.last() {
                        Some((seq, _)) if page.len() as i64 == PAGE => cursor = *seq,
                        Some((seq, _)) => {
                            cursor = *seq;
                            break;
                        }
                        None => break,
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "the catalog change feed could not be read");
                        tokio::time::sleep(period).await;
                    }
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                let low = (cursor - LOOK_BACK).max(0);
                let changes = match self.store.catalog_changes(low, PAGE).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "the catalog change feed could not be read");
                        continue;
                    }
                };
                let mut ids = std::collections::BTreeSet::new();
                for (seq, id) in changes {
                    if seq > low && seen.insert(seq) {
                        ids.insert(id);
                    }
                    cursor = cursor.max(seq);
                }
                seen = seen.split_off(&(cursor - LOOK_BACK).max(0));
                for id in ids {
                    self.refresh_search_entry(id).await;
                }
            }
        });
    }

    /// Brings one entry's place in the index in line with what the public sees of it.
    pub(crate) async fn refresh_search_entry(&self, id: i64) {
        let result = async {
            let published = self.store.get_published(id).await.map_err(store_error)?;
            let doc = match published {
                Some(row) => self.entry_docs(&[row]).await?.pop(),
                None => None,
            };
            let search = self.search.clone();
            tokio::task::spawn_blocking(move || match doc {
                Some(doc) => search.upsert(&doc),
                None => search.remove(id as u64),
            })
            .await
            .map_err(|_| gongshu_core::Error::internal())?
            .map_err(|e| index_error(&e))
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(dataset = id, error = %e.message_en, "search index not updated; `gongshu reindex` repairs it");
        }
    }

    /// Searches the published catalog.
    pub async fn search_catalog(&self, query: SearchQuery) -> Result<SearchResult> {
        let search = self.search.clone();
        tokio::task::spawn_blocking(move || search.search(&query))
            .await
            .map_err(|_| gongshu_core::Error::internal())?
            .map_err(|e| index_error(&e))
    }

    /// A page of the public catalog for a text query, from the index, as the store would
    /// give it: the same filters, the rows read back from the store in the index's order
    /// (an entry withdrawn since it was indexed is left out).
    pub(crate) async fn search_published(
        &self,
        q: &PublishedQuery,
    ) -> Result<(Page<PublishedRow>, Facets, bool)> {
        let mut filters = std::collections::BTreeMap::new();
        let mut one = |name: &str, value: Option<&str>| {
            if let Some(v) = value {
                filters.insert(name.to_owned(), vec![v.to_owned()]);
            }
        };
        one("domain", q.domain.map(|d| d.as_str()));
        one("share_type", q.share_type.map(|d| d.as_str()));
        one("update_cycle", q.update_cycle.map(|d| d.as_str()));
        one("grade", q.grade.map(|d| d.as_str()));
        one("format", q.format.as_deref());
        if !q.open_types.is_empty() {
            filters.insert(
                "open_type".to_owned(),
                q.open_types.iter().map(|o| o.as_str().to_owned()).collect(),
            );
        }
        let found = self
            .search_catalog(SearchQuery {
                text: q.q.clone().unwrap_or_default(),
                filters,
                provider_id: q.provider_id.map(|p| p as u64),
                region: q.region_prefix.clone(),
                sort: match q.sort {
                    PublishedSort::Updated => gongshu_search::Sort::RecentlyUpdated,
                    PublishedSort::Downloads => gongshu_search::Sort::MostDownloaded,
                    _ => gongshu_search::Sort::Relevance,
                },
                offset: q.offset.max(0) as usize,
                limit: q.limit.max(1) as usize,
                facet_limit: 0,
            })
            .await?;
        let ids: Vec<i64> = found.hits.iter().map(|h| h.id as i64).collect();
        let mut rows: std::collections::HashMap<i64, PublishedRow> = self
            .store
            .get_published_many(&ids)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let items: Vec<PublishedRow> = ids.iter().filter_map(|id| rows.remove(id)).collect();
        // Regions are counted by code; people read their names.
        let region_names: std::collections::HashMap<String, String> =
            if found.facets.get("region").is_some_and(|v| !v.is_empty()) {
                self.store
                    .list_regions()
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .map(|r| (r.code, r.name))
                    .collect()
            } else {
                Default::default()
            };
        let facets = found
            .facets
            .into_iter()
            .map(|(dimension, values)| {
                let counts = values
                    .into_iter()
                    .map(|(value, count)| match value.split_once(':') {
                        // Providers are indexed as id:name.
                        Some((id, name)) if dimension == "provider" => FacetCount {
                            value: id.to_owned(),
                            label: Some(name.to_owned()),
                            count,
                        },
                        _ => FacetCount {
                            label: (dimension == "region")
                                .then(|| region_names.get(&value).cloned())
                                .flatten(),
                            value,
                            count,
                        },
                    })
                    .collect();
                (dimension, counts)
            })
            .collect();
        Ok((
            Page {
                items,
                total: found.total as i64,
            },
            facets,
            found.relaxed,
        ))
    }
}
