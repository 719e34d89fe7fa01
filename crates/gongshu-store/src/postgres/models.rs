//! Models providers publish over their data (R7.2): saved, parameterised aggregate queries.

use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PgStore;
use crate::Result;
use crate::model::SandboxModelRow;

fn model_row(r: &PgRow) -> Result<SandboxModelRow> {
    Ok(SandboxModelRow {
        id: r.try_get("id")?,
        dataset_id: r.try_get("dataset_id")?,
        provider_id: r.try_get("provider_id")?,
        public: r.try_get("public")?,
        state: r.try_get("state")?,
        doc: r.try_get("doc")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl PgStore {
    pub(super) async fn insert_sandbox_model_impl(
        &self,
        row: &SandboxModelRow,
    ) -> Result<SandboxModelRow> {
        let saved = sqlx::query(
            "INSERT INTO sandbox_models (dataset_id, provider_id, public, state, doc, \
             created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING *",
        )
        .bind(row.dataset_id)
        .bind(row.provider_id)
        .bind(row.public)
        .bind(&row.state)
        .bind(&row.doc)
        .bind(row.created_by)
        .bind(row.created_at)
        .bind(row.updated_at)
        .fetch_one(&self.pool)
        .await?;
        model_row(&saved)
    }

    pub(super) async fn get_sandbox_model_impl(&self, id: i64) -> Result<Option<SandboxModelRow>> {
        sqlx::query("SELECT * FROM sandbox_models WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(model_row)
            .transpose()
    }

    pub(super) async fn list_sandbox_models_impl(
        &self,
        dataset_id: i64,
    ) -> Result<Vec<SandboxModelRow>> {
        sqlx::query(
            "SELECT * FROM sandbox_models WHERE dataset_id = $1 AND state = 'active' ORDER BY id",
        )
        .bind(dataset_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(model_row)
        .collect()
    }

    pub(super) async fn save_sandbox_model_impl(&self, row: &SandboxModelRow) -> Result<()> {
        sqlx::query(
            "UPDATE sandbox_models SET public = $1, state = $2, doc = $3, updated_at = $4 \
             WHERE id = $5",
        )
        .bind(row.public)
        .bind(&row.state)
        .bind(&row.doc)
        .bind(row.updated_at)
        .bind(row.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl PgStore {
    pub(super) async fn get_grant_privacy_impl(
        &self,
        grant_id: i64,
    ) -> Result<Option<crate::model::GrantPrivacyRow>> {
        let row = sqlx::query(
            "SELECT grant_id, doc, budget, spent, updated_at FROM grant_privacy \
             WHERE grant_id = $1",
        )
        .bind(grant_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(crate::model::GrantPrivacyRow {
                grant_id: r.try_get("grant_id")?,
                doc: r.try_get("doc")?,
                budget: r.try_get("budget")?,
                spent: r.try_get("spent")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    pub(super) async fn put_grant_privacy_impl(
        &self,
        grant_id: i64,
        doc: &str,
        budget: f64,
        by: i64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO grant_privacy (grant_id, doc, budget, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (grant_id) DO UPDATE SET doc = excluded.doc, \
             budget = excluded.budget, updated_by = excluded.updated_by, \
             updated_at = excluded.updated_at",
        )
        .bind(grant_id)
        .bind(doc)
        .bind(budget)
        .bind(by)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn spend_privacy_impl(
        &self,
        grant_id: i64,
        epsilon: f64,
    ) -> Result<Option<f64>> {
        // A little slack so that a budget spent in equal parts is not refused its last
        // part by rounding. Concurrent spenders queue on the row and each sees the
        // others' spending before its condition is checked.
        let spent: Option<f64> = sqlx::query_scalar(
            "UPDATE grant_privacy SET spent = spent + $1 \
             WHERE grant_id = $2 AND spent + $1 <= budget * (1 + 1e-9) RETURNING spent",
        )
        .bind(epsilon)
        .bind(grant_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(spent)
    }
}
