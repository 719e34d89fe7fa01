//! Verification services (核验): each resource's settings, and the checks made per day.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::PgStore;
use crate::Result;
use crate::model::VerificationServiceRow;

impl PgStore {
    pub(super) async fn get_verification_service_impl(
        &self,
        resource_id: &str,
    ) -> Result<Option<VerificationServiceRow>> {
        let row = sqlx::query(
            "SELECT resource_id, doc, updated_by, updated_at FROM verification_services \
             WHERE resource_id = $1",
        )
        .bind(resource_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(VerificationServiceRow {
                resource_id: r.try_get("resource_id")?,
                doc: r.try_get("doc")?,
                updated_by: r.try_get("updated_by")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    pub(super) async fn put_verification_service_impl(
        &self,
        resource_id: &str,
        doc: &str,
        by: i64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO verification_services (resource_id, doc, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (resource_id) DO UPDATE SET \
             doc = excluded.doc, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(resource_id)
        .bind(doc)
        .bind(by)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes `checks` of the day's `limit` at once, or none. The upsert locks the day's
    /// row and re-reads it before the condition, so requests arriving together are
    /// counted one after another and cannot pass the limit between them.
    pub(super) async fn take_verification_checks_impl(
        &self,
        who: &str,
        resource_id: &str,
        day: NaiveDate,
        checks: i64,
        limit: i64,
    ) -> Result<Option<i64>> {
        if checks > limit {
            return Ok(None);
        }
        let used: Option<i64> = sqlx::query_scalar(
            "INSERT INTO verification_usage (who, resource_id, day, checks) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (who, resource_id, day) DO UPDATE \
             SET checks = verification_usage.checks + excluded.checks \
             WHERE verification_usage.checks + excluded.checks <= $5 \
             RETURNING checks",
        )
        .bind(who)
        .bind(resource_id)
        .bind(day)
        .bind(checks)
        .bind(limit)
        .fetch_optional(&self.pool)
        .await?;
        Ok(used)
    }
}
