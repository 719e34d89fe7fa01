//! The catalog search index kept in step with the store: rebuilt at start when it does
//! not hold what is published, refreshed after every change of an entry. The index is
//! derived; an entry it misses or keeps too long is fixed by the next refresh or
//! `gongshu reindex`, and a failure to update it never fails the change itself.

use gongshu_search::{EntryDoc, SearchQuery, SearchResult};
use gongshu_store::{PublishedQuery, PublishedRow};

use crate::{App, Result, store_error};

/// What the index holds of a published entry: nothing a draft or a grant could add.
fn entry_doc(row: &PublishedRow) -> EntryDoc {
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
        downloads: 0,
    }
}

fn index_error(e: &gongshu_search::SearchError) -> gongshu_core::Error {
    tracing::error!(error = %e, "search index");
    gongshu_core::Error::internal()
}

impl App {
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
            docs.extend(page.items.iter().map(entry_doc));
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

    /// Brings one entry's place in the index in line with what the public sees of it.
    pub(crate) async fn refresh_search_entry(&self, id: i64) {
        let result = async {
            let published = self.store.get_published(id).await.map_err(store_error)?;
            let search = self.search.clone();
            tokio::task::spawn_blocking(move || match published {
                Some(row) => search.upsert(&entry_doc(&row)),
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
}
