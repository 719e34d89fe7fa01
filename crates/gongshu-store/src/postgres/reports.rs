//! Security incidents and performance evaluations: the records authorities keep about the
//! platform's conduct, and the one read that gathers a region's history for evaluation.

use chrono::{DateTime, NaiveDate, Utc};
use gongshu_core::calendar::china_day_start;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use super::{PgStore, corrupt, insert_event, org_row};
use crate::model::*;
use crate::{Result, StoreError};

fn incident_row(r: &PgRow) -> Result<IncidentRow> {
    let datasets: Option<String> = r.try_get("dataset_ids")?;
    let dataset_ids = datasets
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| corrupt("dataset_ids", s)))
        .collect::<Result<Vec<i64>>>()?;
    Ok(IncidentRow {
        id: r.try_get("id")?,
        region_code: r.try_get("region_code")?,
        severity: r.try_get("severity")?,
        kind: r.try_get("kind")?,
        state: r.try_get("state")?,
        occurred_on: r.try_get("occurred_on")?,
        discovered_on: r.try_get("discovered_on")?,
        doc: r.try_get("doc")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        closed_at: r.try_get("closed_at")?,
        version: r.try_get("version")?,
        dataset_ids,
    })
}

const INCIDENT_SELECT: &str = "SELECT i.*, (SELECT string_agg(x.dataset_id::text, ',' \
     ORDER BY x.dataset_id) FROM incident_datasets x WHERE x.incident_id = i.id) \
     AS dataset_ids FROM incidents i";

fn evaluation_row(r: &PgRow) -> Result<EvaluationRow> {
    Ok(EvaluationRow {
        id: r.try_get("id")?,
        region_code: r.try_get("region_code")?,
        period_from: r.try_get("period_from")?,
        period_to: r.try_get("period_to")?,
        state: r.try_get("state")?,
        doc: r.try_get("doc")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        released_by: r.try_get("released_by")?,
        released_at: r.try_get("released_at")?,
    })
}

fn provider_count(r: &PgRow) -> Result<ProviderCount> {
    Ok(ProviderCount {
        provider_id: r.try_get(0)?,
        count: r.try_get(1)?,
    })
}

impl PgStore {
    pub(super) async fn insert_incident_impl(&self, new: &NewIncident<'_>) -> Result<IncidentRow> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO incidents (region_code, severity, kind, state, occurred_on, \
             discovered_on, doc, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(new.region_code)
        .bind(new.severity)
        .bind(new.kind)
        .bind(new.occurred_on)
        .bind(new.discovered_on)
        .bind(new.doc)
        .bind(new.created_by)
        .bind(new.at)
        .bind(new.at)
        .fetch_one(&mut *tx)
        .await?;
        for dataset in new.dataset_ids {
            sqlx::query(
                "INSERT INTO incident_datasets (incident_id, dataset_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(dataset)
            .execute(&mut *tx)
            .await?;
        }
        insert_event(
            &mut tx,
            &NewEvent {
                at: new.at,
                actor_id: Some(new.created_by),
                object_type: "incident",
                object_id: &id.to_string(),
                action: "recorded",
                reason: "",
                detail: serde_json::json!({
                    "severity": new.severity, "kind": new.kind, "datasets": new.dataset_ids,
                })
                .to_string(),
            },
        )
        .await?;
        let row = sqlx::query(&format!("{INCIDENT_SELECT} WHERE i.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        incident_row(&row)
    }

    pub(super) async fn get_incident_impl(&self, id: i64) -> Result<Option<IncidentRow>> {
        let sql = format!("{INCIDENT_SELECT} WHERE i.id = $1");
        self.optional(sqlx::query(&sql).bind(id), incident_row)
            .await
    }

    pub(super) async fn list_incidents_impl(&self, q: &IncidentQuery) -> Result<Page<IncidentRow>> {
        let filter = |b: &mut QueryBuilder<'_, Postgres>| {
            b.push(" WHERE (FALSE");
            for prefix in &q.region_prefixes {
                b.push(" OR i.region_code LIKE ")
                    .push_bind(format!("{prefix}%"));
            }
            if !q.provider_ids.is_empty() {
                b.push(
                    " OR EXISTS (SELECT 1 FROM incident_datasets x JOIN datasets d \
                     ON d.id = x.dataset_id WHERE x.incident_id = i.id AND d.provider_id IN (",
                );
                let mut list = b.separated(", ");
                for id in &q.provider_ids {
                    list.push_bind(*id);
                }
                b.push("))");
            }
            b.push(")");
        };
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM incidents i");
        filter(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut page = QueryBuilder::<Postgres>::new(INCIDENT_SELECT);
        filter(&mut page);
        page.push(" ORDER BY i.id DESC LIMIT ")
            .push_bind(q.limit.clamp(1, 500))
            .push(" OFFSET ")
            .push_bind(q.offset.max(0));
        let items = page
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(incident_row)
            .collect::<Result<_>>()?;
        Ok(Page { items, total })
    }

    pub(super) async fn save_incident_impl(
        &self,
        row: &IncidentRow,
        event: &NewEvent<'_>,
    ) -> Result<IncidentRow> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE incidents SET severity = $1, kind = $2, state = $3, doc = $4, updated_at = $5, \
             closed_at = $6, version = version + 1 WHERE id = $7 AND version = $8",
        )
        .bind(&row.severity)
        .bind(&row.kind)
        .bind(&row.state)
        .bind(&row.doc)
        .bind(event.at)
        .bind(row.closed_at)
        .bind(row.id)
        .bind(row.version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::VersionConflict);
        }
        insert_event(&mut tx, event).await?;
        let saved = sqlx::query(&format!("{INCIDENT_SELECT} WHERE i.id = $1"))
            .bind(row.id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        incident_row(&saved)
    }

    pub(super) async fn evaluation_scheme_impl(&self, region: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT doc FROM evaluation_schemes WHERE region_code = $1")
                .bind(region)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(super) async fn put_evaluation_scheme_impl(
        &self,
        region: &str,
        doc: &str,
        by: i64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO evaluation_schemes (region_code, doc, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (region_code) DO UPDATE SET doc = excluded.doc, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(region)
        .bind(doc)
        .bind(by)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        insert_event(
            &mut tx,
            &NewEvent {
                at,
                actor_id: Some(by),
                object_type: "evaluation_scheme",
                object_id: region,
                action: "updated",
                reason: "",
                detail: doc.to_owned(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn insert_evaluation_impl(
        &self,
        new: &NewEvaluation<'_>,
    ) -> Result<EvaluationRow> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO evaluations (region_code, period_from, period_to, state, doc, \
             created_by, created_at) VALUES ($1, $2, $3, 'draft', $4, $5, $6) RETURNING *",
        )
        .bind(new.region_code)
        .bind(new.period_from)
        .bind(new.period_to)
        .bind(new.doc)
        .bind(new.created_by)
        .bind(new.at)
        .fetch_one(&mut *tx)
        .await?;
        let created = evaluation_row(&row)?;
        insert_event(
            &mut tx,
            &NewEvent {
                at: new.at,
                actor_id: Some(new.created_by),
                object_type: "evaluation",
                object_id: &created.id.to_string(),
                action: "computed",
                reason: "",
                detail: serde_json::json!({
                    "region": new.region_code,
                    "from": new.period_from, "to": new.period_to,
                })
                .to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    pub(super) async fn get_evaluation_impl(&self, id: i64) -> Result<Option<EvaluationRow>> {
        self.optional(
            sqlx::query("SELECT * FROM evaluations WHERE id = $1").bind(id),
            evaluation_row,
        )
        .await
    }

    pub(super) async fn list_evaluations_impl(
        &self,
        q: &EvaluationQuery,
    ) -> Result<Vec<EvaluationRow>> {
        let mut b =
            QueryBuilder::<Postgres>::new("SELECT * FROM evaluations WHERE (state = 'released'");
        for prefix in &q.draft_regions {
            b.push(" OR region_code LIKE ")
                .push_bind(format!("{prefix}%"));
        }
        b.push(")");
        if let Some(region) = &q.region {
            b.push(" AND region_code = ").push_bind(region.clone());
        }
        b.push(" ORDER BY period_to DESC, id DESC LIMIT ")
            .push_bind(q.limit.clamp(1, 500));
        b.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(evaluation_row)
            .collect()
    }

    pub(super) async fn release_evaluation_impl(
        &self,
        id: i64,
        by: i64,
        at: DateTime<Utc>,
    ) -> Result<EvaluationRow> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE evaluations SET state = 'released', released_by = $1, released_at = $2 \
             WHERE id = $3 AND state = 'draft' RETURNING *",
        )
        .bind(by)
        .bind(at)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM evaluations WHERE id = $1)")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            return Err(if exists {
                StoreError::VersionConflict
            } else {
                StoreError::NotFound
            });
        };
        insert_event(
            &mut tx,
            &NewEvent {
                at,
                actor_id: Some(by),
                object_type: "evaluation",
                object_id: &id.to_string(),
                action: "released",
                reason: "",
                detail: "{}".to_owned(),
            },
        )
        .await?;
        tx.commit().await?;
        evaluation_row(&row)
    }

    pub(super) async fn set_version_quality_impl(
        &self,
        resource_id: &str,
        version: i64,
        quality: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE resource_versions SET quality = $1 WHERE resource_id = $2 AND version = $3",
        )
        .bind(quality)
        .bind(resource_id)
        .bind(version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn version_quality_impl(
        &self,
        resource_id: &str,
        version: i64,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT quality FROM resource_versions WHERE resource_id = $1 AND version = $2",
        )
        .bind(resource_id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }

    pub(super) async fn source_claims_impl(&self, region_prefix: &str) -> Result<Vec<SourceClaim>> {
        let rows = sqlx::query(
            "SELECT p.id, p.code, p.title, p.provider_id, o.name AS provider_name, \
             p.region_code, i.value ->> 'name' AS item \
             FROM published_datasets p JOIN organizations o ON o.id = p.provider_id \
             CROSS JOIN LATERAL jsonb_array_elements(CASE \
                 WHEN jsonb_typeof(p.doc::jsonb -> 'items') = 'array' THEN p.doc::jsonb -> 'items' \
                 ELSE '[]'::jsonb END) AS i(value) \
             WHERE i.value -> 'source' IN ('true'::jsonb, '1'::jsonb) \
             AND starts_with(p.region_code, $1) \
             ORDER BY (i.value ->> 'name') COLLATE \"C\", p.provider_id, p.id",
        )
        .bind(region_prefix)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SourceClaim {
                    dataset_id: r.try_get("id")?,
                    code: r.try_get("code")?,
                    title: r.try_get("title")?,
                    provider_id: r.try_get("provider_id")?,
                    provider_name: r.try_get("provider_name")?,
                    region_code: r.try_get("region_code")?,
                    item: r.try_get("item")?,
                })
            })
            .collect()
    }

    pub(super) async fn evaluation_facts_impl(
        &self,
        region_prefix: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<EvaluationFacts> {
        let like = format!("{region_prefix}%");
        let start = china_day_start(from);
        let end = china_day_start(to.succ_opt().unwrap_or(to));
        let (from_day, to_day) = (from, to);
        let providers = self
            .all(
                sqlx::query(
                    "SELECT * FROM organizations WHERE kind = 'provider' AND region_code LIKE $1 \
                     ORDER BY region_code, id",
                )
                .bind(&like),
                org_row,
            )
            .await?;
        // An entry is in the catalog at the end when, of its revisions up to then that
        // published or withdrew it, the last one published it.
        let entries = self
            .all(
                sqlx::query(
                    "WITH last AS (SELECT r.dataset_id, MAX(r.version) AS v \
                     FROM dataset_revisions r JOIN datasets d ON d.id = r.dataset_id \
                     WHERE d.region_code LIKE $1 AND r.created_at < $2 \
                     AND (r.published OR r.status = 'withdrawn') GROUP BY r.dataset_id) \
                     SELECT r.dataset_id, d.provider_id, r.doc FROM last \
                     JOIN dataset_revisions r ON r.dataset_id = last.dataset_id AND r.version = last.v \
                     JOIN datasets d ON d.id = r.dataset_id WHERE r.published \
                     ORDER BY r.dataset_id",
                )
                .bind(&like)
                .bind(end),
                |r| {
                    Ok(EntryFact {
                        dataset_id: r.try_get(0)?,
                        provider_id: r.try_get(1)?,
                        doc: r.try_get(2)?,
                    })
                },
            )
            .await?;
        let resources = self
            .all(
                sqlx::query(
                    "SELECT res.id, res.dataset_id, (SELECT MAX(v.published_at) \
                     FROM resource_versions v WHERE v.resource_id = res.id \
                     AND v.published_at IS NOT NULL AND v.published_at < $1) \
                     FROM resources res JOIN datasets d ON d.id = res.dataset_id \
                     WHERE d.region_code LIKE $2 AND res.created_at < $3 ORDER BY res.id",
                )
                .bind(end)
                .bind(&like)
                .bind(end),
                |r| {
                    Ok(ResourceFact {
                        resource_id: r.try_get(0)?,
                        dataset_id: r.try_get(1)?,
                        last_published: r.try_get(2)?,
                    })
                },
            )
            .await?;
        let quality = self
            .all(
                sqlx::query(
                    "SELECT d.provider_id, trunc((v.quality::jsonb ->> 'score')::numeric)::BIGINT \
                     FROM resources res JOIN datasets d ON d.id = res.dataset_id \
                     JOIN resource_versions v ON v.resource_id = res.id AND v.version = \
                     (SELECT MAX(w.version) FROM resource_versions w WHERE w.resource_id = res.id \
                      AND w.published_at IS NOT NULL AND w.published_at < $1) \
                     WHERE d.region_code LIKE $2 AND v.quality IS NOT NULL ORDER BY res.id",
                )
                .bind(end)
                .bind(&like),
                |r| {
                    Ok(QualityFact {
                        provider_id: r.try_get(0)?,
                        score: r.try_get(1)?,
                    })
                },
            )
            .await?;
        let application_events = self
            .all(
                sqlx::query(
                    "SELECT a.id, d.provider_id, a.requester_org_id IS NOT NULL, e.at, e.action, \
                     e.detail FROM applications a JOIN datasets d ON d.id = a.dataset_id \
                     JOIN events e ON e.object_type = 'application' \
                     AND e.object_id = a.id::text \
                     WHERE d.region_code LIKE $1 AND e.at < $2 ORDER BY a.id, e.id",
                )
                .bind(&like)
                .bind(end),
                |r| {
                    Ok(ApplicationEventFact {
                        application_id: r.try_get(0)?,
                        provider_id: r.try_get(1)?,
                        share: r.try_get(2)?,
                        at: r.try_get(3)?,
                        action: r.try_get(4)?,
                        detail: r.try_get(5)?,
                    })
                },
            )
            .await?;
        let cases = self
            .all(
                sqlx::query(
                    "SELECT f.case_type, f.provider_id, f.received_on, f.due_on, f.answered_on \
                     FROM feedback f JOIN organizations o ON o.id = f.provider_id \
                     WHERE f.case_type IN ('objection', 'demand') AND o.region_code LIKE $1 \
                     AND f.received_on BETWEEN $2 AND $3 ORDER BY f.id",
                )
                .bind(&like)
                .bind(from_day)
                .bind(to_day),
                |r| {
                    let case: String = r.try_get(0)?;
                    Ok(CaseFact {
                        case_type: CaseType::parse(&case)
                            .ok_or_else(|| corrupt("case_type", &case))?,
                        provider_id: r.try_get(1)?,
                        received_on: r.try_get("received_on")?,
                        due_on: r.try_get("due_on")?,
                        answered_on: r.try_get("answered_on")?,
                    })
                },
            )
            .await?;
        let usage = self
            .all(
                sqlx::query(
                    "SELECT d.provider_id, SUM(u.downloads)::BIGINT, SUM(u.api_calls)::BIGINT \
                     FROM dataset_usage u \
                     JOIN datasets d ON d.id = u.dataset_id WHERE d.region_code LIKE $1 \
                     AND u.day BETWEEN $2 AND $3 GROUP BY d.provider_id ORDER BY d.provider_id",
                )
                .bind(&like)
                .bind(from_day)
                .bind(to_day),
                |r| {
                    Ok(UsageFact {
                        provider_id: r.try_get(0)?,
                        downloads: r.try_get(1)?,
                        api_calls: r.try_get(2)?,
                    })
                },
            )
            .await?;
        let reuses = self
            .all(
                sqlx::query(
                    "SELECT d.provider_id, COUNT(DISTINCT f.id) FROM feedback f \
                     JOIN feedback_datasets x ON x.feedback_id = f.id \
                     JOIN datasets d ON d.id = x.dataset_id \
                     WHERE f.case_type = 'reuse' AND f.state = 'approved' \
                     AND d.region_code LIKE $1 AND f.created_at >= $2 AND f.created_at < $3 \
                     GROUP BY d.provider_id ORDER BY d.provider_id",
                )
                .bind(&like)
                .bind(start)
                .bind(end),
                provider_count,
            )
            .await?;
        let sandbox_runs = self
            .all(
                sqlx::query(
                    "SELECT q.provider_id, COUNT(*) FROM sandbox_queries q \
                     JOIN organizations o ON o.id = q.provider_id WHERE o.region_code LIKE $1 \
                     AND q.created_at >= $2 AND q.created_at < $3 \
                     GROUP BY q.provider_id ORDER BY q.provider_id",
                )
                .bind(&like)
                .bind(start)
                .bind(end),
                provider_count,
            )
            .await?;
        let alerts = self
            .all(
                sqlx::query(
                    "SELECT d.provider_id, COUNT(*) FROM alerts a JOIN datasets d \
                     ON d.id = a.dataset_id WHERE d.region_code LIKE $1 \
                     AND a.created_at >= $2 AND a.created_at < $3 \
                     GROUP BY d.provider_id ORDER BY d.provider_id",
                )
                .bind(&like)
                .bind(start)
                .bind(end),
                provider_count,
            )
            .await?;
        let incidents = self
            .all(
                sqlx::query(
                    "SELECT d.provider_id, COUNT(DISTINCT i.id) FROM incidents i \
                     JOIN incident_datasets x ON x.incident_id = i.id \
                     JOIN datasets d ON d.id = x.dataset_id WHERE d.region_code LIKE $1 \
                     AND i.occurred_on BETWEEN $2 AND $3 GROUP BY d.provider_id ORDER BY d.provider_id",
                )
                .bind(&like)
                .bind(from_day)
                .bind(to_day),
                provider_count,
            )
            .await?;
        Ok(EvaluationFacts {
            providers,
            entries,
            resources,
            application_events,
            cases,
            usage,
            reuses,
            sandbox_runs,
            alerts,
            incidents,
            quality,
        })
    }
}
