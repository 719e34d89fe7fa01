//! Queries of the analysis sandbox: the record of what each grantee computed, for the
//! provider's reviewers and the differencing check.

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{SqliteStore, corrupt};
use crate::model::SandboxQueryRow;
use crate::{Result, StoreError};

fn sandbox_row(r: &SqliteRow) -> Result<SandboxQueryRow> {
    let ids: String = r.try_get("dataset_ids")?;
    let dataset_ids = ids
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| corrupt("dataset_ids", s)))
        .collect::<Result<Vec<i64>>>()?;
    Ok(SandboxQueryRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        grant_id: r.try_get("grant_id")?,
        provider_id: r.try_get("provider_id")?,
        dataset_ids,
        state: r.try_get("state")?,
        fingerprint: r.try_get("fingerprint")?,
        doc: r.try_get("doc")?,
        result_hash: r.try_get("result_hash")?,
        created_at: r.try_get("created_at")?,
        released_at: r.try_get("released_at")?,
        version: r.try_get("version")?,
    })
}

fn joined(ids: &[i64]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl SqliteStore {
    pub(super) async fn insert_sandbox_query_impl(
        &self,
        row: &SandboxQueryRow,
    ) -> Result<SandboxQueryRow> {
        let released_at = (row.state == "released").then_some(row.created_at);
        let saved = sqlx::query(
            "INSERT INTO sandbox_queries (user_id, grant_id, provider_id, dataset_ids, state, \
             fingerprint, doc, result_hash, created_at, released_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(row.user_id)
        .bind(row.grant_id)
        .bind(row.provider_id)
        .bind(joined(&row.dataset_ids))
        .bind(&row.state)
        .bind(&row.fingerprint)
        .bind(&row.doc)
        .bind(&row.result_hash)
        .bind(row.created_at)
        .bind(released_at)
        .fetch_one(&self.pool)
        .await?;
        sandbox_row(&saved)
    }

    pub(super) async fn get_sandbox_query_impl(&self, id: i64) -> Result<Option<SandboxQueryRow>> {
        self.optional(
            sqlx::query("SELECT * FROM sandbox_queries WHERE id = ?").bind(id),
            sandbox_row,
        )
        .await
    }

    pub(super) async fn same_shape_queries_impl(
        &self,
        fingerprint: &str,
        user_id: i64,
        grant_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SandboxQueryRow>> {
        let rows = sqlx::query(
            "SELECT * FROM sandbox_queries WHERE fingerprint = ?1 \
             AND (user_id = ?3 OR (?2 IS NOT NULL AND grant_id = ?2)) \
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(fingerprint)
        .bind(grant_id)
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sandbox_row).collect()
    }

    pub(super) async fn list_sandbox_queries_impl(
        &self,
        user_id: Option<i64>,
        provider_ids: &[i64],
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SandboxQueryRow>> {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT * FROM sandbox_queries WHERE (0");
        if let Some(u) = user_id {
            q.push(" OR user_id = ").push_bind(u);
        }
        if !provider_ids.is_empty() {
            q.push(" OR provider_id IN (");
            let mut sep = q.separated(", ");
            for p in provider_ids {
                sep.push_bind(*p);
            }
            q.push(")");
        }
        q.push(")");
        if let Some(s) = state {
            q.push(" AND state = ").push_bind(s);
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(sandbox_row).collect()
    }

    pub(super) async fn save_sandbox_query_impl(
        &self,
        row: &SandboxQueryRow,
    ) -> Result<SandboxQueryRow> {
        let saved = sqlx::query(
            "UPDATE sandbox_queries SET state = ?, doc = ?, result_hash = ?, released_at = ?, \
             version = version + 1 WHERE id = ? AND version = ? RETURNING *",
        )
        .bind(&row.state)
        .bind(&row.doc)
        .bind(&row.result_hash)
        .bind(row.released_at)
        .bind(row.id)
        .bind(row.version)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::VersionConflict)?;
        sandbox_row(&saved)
    }

    pub(super) async fn expire_sandbox_results_impl(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE sandbox_queries SET doc = json_set(doc, '$.rows', json('[]'), \
             '$.expired', json('true')), version = version + 1 \
             WHERE created_at < ? AND COALESCE(json_extract(doc, '$.expired'), 0) = 0",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn fail_running_sandbox_queries_impl(&self, reason: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE sandbox_queries SET state = 'failed', \
             doc = json_set(doc, '$.error', ?), version = version + 1 WHERE state = 'running'",
        )
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
