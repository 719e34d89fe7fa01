//! Harvest sources, their runs and the records they keep (issue 10).

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::model::{HarvestClaim, HarvestRecordRow, HarvestRunRow, HarvestSourceRow};
use crate::{Result, StoreError};

const SOURCE_COLUMNS: &str = "id, provider_id, doc, enabled, next_run_at, running_run, \
     created_by, created_at, updated_at, version";

fn source_row(r: &SqliteRow) -> Result<HarvestSourceRow> {
    Ok(HarvestSourceRow {
        id: r.try_get("id")?,
        provider_id: r.try_get("provider_id")?,
        doc: r.try_get("doc")?,
        enabled: r.try_get("enabled")?,
        next_run_at: r.try_get("next_run_at")?,
        running_run: r.try_get("running_run")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        version: r.try_get("version")?,
    })
}

fn run_row(r: &SqliteRow) -> Result<HarvestRunRow> {
    Ok(HarvestRunRow {
        id: r.try_get("id")?,
        source_id: r.try_get("source_id")?,
        state: r.try_get("state")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        doc: r.try_get("doc")?,
    })
}

fn record_row(r: &SqliteRow) -> Result<HarvestRecordRow> {
    Ok(HarvestRecordRow {
        source_id: r.try_get("source_id")?,
        remote_id: r.try_get("remote_id")?,
        dataset_id: r.try_get("dataset_id")?,
        content_hash: r.try_get("content_hash")?,
        withdrawn: r.try_get("withdrawn")?,
        doc: r.try_get("doc")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl SqliteStore {
    pub(super) async fn insert_harvest_source_impl(
        &self,
        provider_id: Option<i64>,
        doc: &str,
        enabled: bool,
        next_run_at: DateTime<Utc>,
        by: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<HarvestSourceRow> {
        let row = sqlx::query(&format!(
            "INSERT INTO harvest_sources (provider_id, doc, enabled, next_run_at, created_by, \
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {SOURCE_COLUMNS}"
        ))
        .bind(provider_id)
        .bind(doc)
        .bind(enabled)
        .bind(next_run_at)
        .bind(by)
        .bind(at)
        .bind(at)
        .fetch_one(&self.pool)
        .await?;
        source_row(&row)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn update_harvest_source_impl(
        &self,
        id: i64,
        expected_version: i64,
        provider_id: i64,
        doc: &str,
        enabled: bool,
        next_run_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<HarvestSourceRow> {
        let row = sqlx::query(&format!(
            "UPDATE harvest_sources SET provider_id = ?, doc = ?, enabled = ?, next_run_at = ?, \
             updated_at = ?, version = version + 1 WHERE id = ? AND version = ? \
             RETURNING {SOURCE_COLUMNS}"
        ))
        .bind(provider_id)
        .bind(doc)
        .bind(enabled)
        .bind(next_run_at)
        .bind(at)
        .bind(id)
        .bind(expected_version)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => source_row(&r),
            None => match self.get_harvest_source_impl(id).await? {
                Some(_) => Err(StoreError::VersionConflict),
                None => Err(StoreError::NotFound),
            },
        }
    }

    pub(super) async fn get_harvest_source_impl(
        &self,
        id: i64,
    ) -> Result<Option<HarvestSourceRow>> {
        let row = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM harvest_sources WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(source_row).transpose()
    }

    pub(super) async fn list_harvest_sources_impl(&self) -> Result<Vec<HarvestSourceRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM harvest_sources ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(source_row).collect()
    }

    pub(super) async fn due_harvest_sources_impl(&self, now: DateTime<Utc>) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM harvest_sources WHERE enabled = 1 AND next_run_at <= ? \
             AND running_run IS NULL ORDER BY next_run_at",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(super) async fn claim_harvest_source_impl(&self, c: &HarvestClaim) -> Result<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        // The run row is written first so the transaction holds SQLite's write lock
        // before it reads the source; it is rolled back if the claim does not hold.
        let run_id: i64 = sqlx::query_scalar(
            "INSERT INTO harvest_runs (source_id, state, started_at) VALUES (?, 'running', ?) \
             RETURNING id",
        )
        .bind(c.source_id)
        .bind(c.at)
        .fetch_one(&mut *tx)
        .await?;
        let claimed = sqlx::query(
            "UPDATE harvest_sources SET running_run = ?, running_since = ?, next_run_at = ? \
             WHERE id = ? AND (running_run IS NULL OR running_since < ?) \
             AND (? IS NULL OR (enabled = 1 AND next_run_at <= ?))",
        )
        .bind(run_id)
        .bind(c.at)
        .bind(c.next_run_at)
        .bind(c.source_id)
        .bind(c.stale_before)
        .bind(c.due_at)
        .bind(c.due_at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            tx.rollback().await?;
            return Ok(None);
        }
        // A run replaced as stale is failed, so it never shows as running for ever.
        sqlx::query(
            "UPDATE harvest_runs SET state = 'failed', finished_at = ? \
             WHERE source_id = ? AND state = 'running' AND id <> ?",
        )
        .bind(c.at)
        .bind(c.source_id)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(run_id))
    }

    pub(super) async fn finish_harvest_run_impl(
        &self,
        run_id: i64,
        failed: bool,
        doc: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE harvest_runs SET state = ?, finished_at = ?, doc = ? \
             WHERE id = ? AND state = 'running'",
        )
        .bind(if failed { "failed" } else { "finished" })
        .bind(at)
        .bind(doc)
        .bind(run_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(StoreError::VersionConflict);
        }
        sqlx::query(
            "UPDATE harvest_sources SET running_run = NULL, running_since = NULL \
             WHERE running_run = ?",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn get_harvest_run_impl(&self, id: i64) -> Result<Option<HarvestRunRow>> {
        let row = sqlx::query("SELECT * FROM harvest_runs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_row).transpose()
    }

    pub(super) async fn list_harvest_runs_impl(
        &self,
        source_id: i64,
        limit: i64,
    ) -> Result<Vec<HarvestRunRow>> {
        let rows =
            sqlx::query("SELECT * FROM harvest_runs WHERE source_id = ? ORDER BY id DESC LIMIT ?")
                .bind(source_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(run_row).collect()
    }

    pub(super) async fn harvest_records_impl(
        &self,
        source_id: i64,
    ) -> Result<Vec<HarvestRecordRow>> {
        let rows =
            sqlx::query("SELECT * FROM harvest_records WHERE source_id = ? ORDER BY remote_id")
                .bind(source_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(record_row).collect()
    }

    pub(super) async fn put_harvest_record_impl(&self, r: &HarvestRecordRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO harvest_records (source_id, remote_id, dataset_id, content_hash, \
             withdrawn, doc, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (source_id, remote_id) DO UPDATE SET dataset_id = excluded.dataset_id, \
             content_hash = excluded.content_hash, withdrawn = excluded.withdrawn, \
             doc = excluded.doc, updated_at = excluded.updated_at",
        )
        .bind(r.source_id)
        .bind(&r.remote_id)
        .bind(r.dataset_id)
        .bind(&r.content_hash)
        .bind(r.withdrawn)
        .bind(&r.doc)
        .bind(r.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn harvest_record_of_impl(
        &self,
        dataset_id: i64,
    ) -> Result<Option<HarvestRecordRow>> {
        let row = sqlx::query("SELECT * FROM harvest_records WHERE dataset_id = ?")
            .bind(dataset_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record_row).transpose()
    }
}
