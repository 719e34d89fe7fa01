//! Queries of the analysis sandbox: the record of what each grantee computed, for the
//! provider's reviewers and the differencing check.

use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use super::{PgStore, corrupt};
use crate::model::SandboxQueryRow;
use crate::{Result, StoreError};

fn sandbox_row(r: &PgRow) -> Result<SandboxQueryRow> {
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

impl PgStore {
    pub(super) async fn insert_sandbox_query_impl(
        &self,
        row: &SandboxQueryRow,
    ) -> Result<SandboxQueryRow> {
        let released_at = (row.state == "released").then_some(row.created_at);
        let saved = sqlx::query(
            "INSERT INTO sandbox_queries (user_id, grant_id, provider_id, dataset_ids, state, \
             fingerprint, doc, result_hash, created_at, released_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *",
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
        sqlx::query("SELECT * FROM sandbox_queries WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(sandbox_row)
            .transpose()
    }

    pub(super) async fn same_shape_queries_impl(
        &self,
        fingerprint: &str,
        user_id: i64,
        grant_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SandboxQueryRow>> {
        let rows = sqlx::query(
            "SELECT * FROM sandbox_queries WHERE fingerprint = $1 \
             AND (user_id = $3 OR ($2::BIGINT IS NOT NULL AND grant_id = $2)) \
             ORDER BY id DESC LIMIT $4",
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
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT * FROM sandbox_queries WHERE (FALSE");
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
            "UPDATE sandbox_queries SET state = $1, doc = $2, result_hash = $3, released_at = $4, \
             version = version + 1 WHERE id = $5 AND version = $6 RETURNING *",
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

    /// Drops the rows of results older than `before` from their records (which say so);
    /// a record already expired is left alone.
    pub(super) async fn expire_sandbox_results_impl(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE sandbox_queries \
             SET doc = (doc::jsonb || '{\"rows\": [], \"expired\": true}'::jsonb)::text, \
             version = version + 1 \
             WHERE created_at < $1 \
             AND COALESCE(doc::jsonb -> 'expired', 'false'::jsonb) IN ('false'::jsonb, '0'::jsonb)",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn fail_running_sandbox_queries_impl(&self, reason: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE sandbox_queries SET state = 'failed', \
             doc = jsonb_set(doc::jsonb, '{error}', to_jsonb($1::text))::text, \
             version = version + 1 WHERE state = 'running'",
        )
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
