//! The access gate's catalog reads, kept in memory while the catalog stands still.
//!
//! Every data request passes the gate, and the gate reads the resource, its entry, the
//! published copy, the provider, the grade caps and the open version's rules: half a
//! dozen queries, each a hand-off to SQLite's worker thread, which under load cost more
//! than reading the rows themselves. The store keeps a generation counter that every
//! change to those tables moves forward in the same transaction (migration 0022). A
//! request reads the counter once and may use what was loaded at that generation.
//!
//! Why this is safe: whatever a request loads after reading generation `g` is at least
//! as new as `g`, so an entry filed under `g` is never older than the state `g` names;
//! a change commits a higher generation, and the first request to read it drops the lot.
//! Grants and their daily use are not kept here: they change with every call.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use gongshu_store::Store;

use crate::{Result, store_error};

/// Entries kept before the cache starts afresh; a province's busiest tables fit many
/// times over, and a crawler walking every resource cannot grow it without bound.
const CAPACITY: usize = 8192;

/// The catalog's generation a request reads under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generation(i64);

/// What is kept. Each key names one kind of value, so a lookup knows its type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Resource(String),
    Dataset(i64),
    Published(i64),
    OrgName(i64),
    GradeCaps,
    /// Whether an infringement report withholds the entry's data.
    Offline(i64),
    /// The open version of a resource's version, strict or not.
    Open(String, i64, bool),
}

type Value = Arc<dyn Any + Send + Sync>;

#[derive(Debug, Default)]
pub(crate) struct CatalogCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    generation: i64,
    entries: HashMap<Key, Value>,
}

impl CatalogCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves at worst a missing entry behind.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the store's generation; a newer one than the cache's drops what it holds.
    pub(crate) async fn generation(&self, store: &dyn Store) -> Result<Generation> {
        let n = store.catalog_generation().await.map_err(store_error)?;
        let mut inner = self.lock();
        if n > inner.generation {
            inner.entries.clear();
            inner.generation = n;
        }
        Ok(Generation(n))
    }

    /// The value under `key` at generation `at`, loaded by `load` when it is not kept.
    /// A request that read an older generation than the cache's neither uses nor files
    /// anything: its view of the catalog is older than what is kept.
    pub(crate) async fn get_or_load<T, F>(&self, at: Generation, key: Key, load: F) -> Result<T>
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T>>,
    {
        {
            let inner = self.lock();
            if inner.generation == at.0
                && let Some(v) = inner.entries.get(&key).and_then(|v| v.downcast_ref::<T>())
            {
                return Ok(v.clone());
            }
        }
        let value = load.await?;
        let mut inner = self.lock();
        if inner.generation == at.0 {
            if inner.entries.len() >= CAPACITY {
                inner.entries.clear();
            }
            inner.entries.insert(key, Arc::new(value.clone()));
        }
        Ok(value)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(n: i64) -> Generation {
        Generation(n)
    }

    async fn load(cache: &CatalogCache, g: Generation, value: i64) -> i64 {
        cache
            .get_or_load(g, Key::Dataset(1), async { Ok(value) })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn keeps_a_value_while_the_generation_stands() {
        let cache = CatalogCache::default();
        assert_eq!(load(&cache, at(0), 7).await, 7);
        // The second load is not run: the kept value answers.
        assert_eq!(load(&cache, at(0), 8).await, 7);
    }

    #[tokio::test]
    async fn a_newer_generation_drops_everything_and_an_older_one_files_nothing() {
        let cache = CatalogCache::default();
        load(&cache, at(0), 7).await;
        // What `generation` does on reading a newer counter.
        {
            let mut inner = cache.lock();
            inner.entries.clear();
            inner.generation = 1;
        }
        assert_eq!(load(&cache, at(1), 8).await, 8);
        // A request still at generation 0 loads for itself and leaves the cache alone.
        assert_eq!(load(&cache, at(0), 9).await, 9);
        assert_eq!(load(&cache, at(1), 10).await, 8);
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn a_failed_load_is_not_kept() {
        let cache = CatalogCache::default();
        let failed: Result<i64> = cache
            .get_or_load(at(0), Key::GradeCaps, async {
                Err(gongshu_core::Error::internal())
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(cache.len(), 0);
    }
}
