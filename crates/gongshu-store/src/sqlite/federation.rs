//! Federation (issue 10): a province's members, and a member's upstream.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::Result;
use crate::model::{FederationMemberRow, FederationUpstreamRow};

const MEMBER_COLUMNS: &str = "id, source_id, region_code, doc, public_key, last_seq, \
     last_sync_at, report, created_at";

fn member_row(r: &SqliteRow) -> Result<FederationMemberRow> {
    Ok(FederationMemberRow {
        id: r.try_get("id")?,
        source_id: r.try_get("source_id")?,
        region_code: r.try_get("region_code")?,
        doc: r.try_get("doc")?,
        public_key: r.try_get("public_key")?,
        last_seq: r.try_get("last_seq")?,
        last_sync_at: r.try_get("last_sync_at")?,
        report: r.try_get("report")?,
        created_at: r.try_get("created_at")?,
    })
}

impl SqliteStore {
    pub(super) async fn insert_federation_member_impl(
        &self,
        source_id: i64,
        region_code: &str,
        doc: &str,
        enroll_token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<FederationMemberRow> {
        let row = sqlx::query(&format!(
            "INSERT INTO federation_members (source_id, region_code, doc, enroll_token_hash, \
             created_at) VALUES (?, ?, ?, ?, ?) RETURNING {MEMBER_COLUMNS}"
        ))
        .bind(source_id)
        .bind(region_code)
        .bind(doc)
        .bind(enroll_token_hash)
        .bind(at)
        .fetch_one(&self.pool)
        .await?;
        member_row(&row)
    }

    pub(super) async fn list_federation_members_impl(&self) -> Result<Vec<FederationMemberRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM federation_members ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(member_row).collect()
    }

    pub(super) async fn get_federation_member_impl(
        &self,
        id: i64,
    ) -> Result<Option<FederationMemberRow>> {
        let row = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM federation_members WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(member_row).transpose()
    }

    pub(super) async fn enroll_federation_member_impl(
        &self,
        enroll_token_hash: &str,
        public_key: &str,
    ) -> Result<Option<FederationMemberRow>> {
        let row = sqlx::query(&format!(
            "UPDATE federation_members SET public_key = ?, enroll_token_hash = NULL \
             WHERE enroll_token_hash = ? RETURNING {MEMBER_COLUMNS}"
        ))
        .bind(public_key)
        .bind(enroll_token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(member_row).transpose()
    }

    pub(super) async fn claim_federation_seq_impl(
        &self,
        id: i64,
        seq: i64,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE federation_members SET last_seq = ?, last_sync_at = ? \
             WHERE id = ? AND last_seq < ?",
        )
        .bind(seq)
        .bind(at)
        .bind(id)
        .bind(seq)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    pub(super) async fn put_federation_report_impl(&self, id: i64, report: &str) -> Result<()> {
        sqlx::query("UPDATE federation_members SET report = ? WHERE id = ?")
            .bind(report)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn get_federation_upstream_impl(
        &self,
    ) -> Result<Option<FederationUpstreamRow>> {
        let row = sqlx::query("SELECT * FROM federation_upstream WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(FederationUpstreamRow {
                province_url: r.try_get("province_url")?,
                member_id: r.try_get("member_id")?,
                seq: r.try_get("seq")?,
                last_sync_at: r.try_get("last_sync_at")?,
                report: r.try_get("report")?,
                enrolled_at: r.try_get("enrolled_at")?,
            })
        })
        .transpose()
    }

    pub(super) async fn put_federation_upstream_impl(
        &self,
        u: &FederationUpstreamRow,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO federation_upstream (id, province_url, member_id, seq, last_sync_at, \
             report, enrolled_at) VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET \
             province_url = excluded.province_url, member_id = excluded.member_id, \
             seq = excluded.seq, last_sync_at = excluded.last_sync_at, \
             report = excluded.report, enrolled_at = excluded.enrolled_at",
        )
        .bind(&u.province_url)
        .bind(u.member_id)
        .bind(u.seq)
        .bind(u.last_sync_at)
        .bind(&u.report)
        .bind(u.enrolled_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM federation_sent")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn next_federation_seq_impl(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "UPDATE federation_upstream SET seq = seq + 1 WHERE id = 1 RETURNING seq",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    pub(super) async fn put_upstream_report_impl(
        &self,
        report: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE federation_upstream SET report = ?, last_sync_at = ? WHERE id = 1")
            .bind(report)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn federation_sent_impl(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT code, content_hash FROM federation_sent ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("code")?, r.try_get("content_hash")?)))
            .collect()
    }

    pub(super) async fn put_federation_sent_impl(
        &self,
        sent: &[(String, Option<String>)],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (code, hash) in sent {
            match hash {
                Some(h) => {
                    sqlx::query(
                        "INSERT INTO federation_sent (code, content_hash) VALUES (?, ?) \
                         ON CONFLICT (code) DO UPDATE SET content_hash = excluded.content_hash",
                    )
                    .bind(code)
                    .bind(h)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM federation_sent WHERE code = ?")
                        .bind(code)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
