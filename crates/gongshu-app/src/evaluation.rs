//! Performance evaluation (绩效评价, SD-OPEN §5, SX-BIGDATA §24, requirements R8.2): an
//! authority computes, for a period, every indicator of every provider of its region and
//! of the regions one level below, from the recorded history; reviews the draft; and
//! releases it, which puts the report on the portal ("公布评估报告"). A computed
//! evaluation is frozen: its figures never change, whatever happens later.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use gongshu_core::authz::Principal;
use gongshu_core::calendar::{Calendar, china_date, china_day_start};
use gongshu_core::catalog::DatasetDraft;
use gongshu_core::evaluation::{Dimension, Indicator, Responses, Scheme, Scored, Tally, score};
use gongshu_core::region::{RegionCode, RegionLevel};
use gongshu_core::types::OpenType;
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{
    ApplicationEventFact, CaseType, EvaluationFacts, EvaluationQuery, EvaluationRow, NewEvaluation,
    ProviderCount,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{App, Result, store_error};

/// The longest period one evaluation covers.
pub const MAX_PERIOD_DAYS: i64 = 3 * 366;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluationInput {
    /// The region evaluated: its providers, and the regions one level below.
    pub region_code: String,
    /// First day of the period (China Standard Time).
    pub from: NaiveDate,
    /// Last day of the period, not after today.
    pub to: NaiveDate,
}

/// One provider or region, its counts and its scores.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EvaluatedUnit {
    /// The provider organisation (none for a region).
    pub org_id: Option<i64>,
    pub region_code: String,
    pub name: String,
    pub name_en: String,
    pub tally: Tally,
    pub scored: Scored,
}

impl EvaluatedUnit {
    pub fn display_name(&self, zh: bool) -> &str {
        if zh || self.name_en.is_empty() {
            &self.name
        } else {
            &self.name_en
        }
    }
}

/// What an evaluation computed, as kept.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EvaluationDoc {
    pub region_name: String,
    pub scheme: Scheme,
    /// Ranked, best first.
    pub providers: Vec<EvaluatedUnit>,
    /// The regions one level below (and the region's own providers as one unit), ranked.
    pub regions: Vec<EvaluatedUnit>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvaluationView {
    pub id: i64,
    pub region_code: String,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    /// `draft` or `released`.
    pub state: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub released_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(flatten)]
    pub doc: EvaluationDoc,
    /// The caller may release this draft.
    pub may_release: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvaluationSummary {
    pub id: i64,
    pub region_code: String,
    pub region_name: String,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub state: String,
    pub released_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Mean total score of the providers.
    pub mean_total: f64,
}

/// The region a provider counts in, one level below the evaluated region (or the region
/// itself for its own providers).
fn unit_region(evaluated: &RegionCode, org_region: &str) -> String {
    let Some(org) = RegionCode::parse(org_region) else {
        return evaluated.as_str().to_owned();
    };
    match (evaluated.level(), org.level()) {
        (RegionLevel::Province, RegionLevel::City) => org.as_str().to_owned(),
        (RegionLevel::Province, RegionLevel::County) => org
            .parent()
            .map_or_else(|| evaluated.as_str().to_owned(), |c| c.as_str().to_owned()),
        (RegionLevel::City, RegionLevel::County) => org.as_str().to_owned(),
        _ => evaluated.as_str().to_owned(),
    }
}

/// Response cases of the applications and sharing requests: each spell with the
/// provider (from entering `with_provider` to leaving it) is one case. A withdrawal by
/// the applicant ends the spell without counting it.
fn application_responses(
    events: &[ApplicationEventFact],
    cal: &Calendar,
    from: NaiveDate,
    to: NaiveDate,
    tallies: &mut HashMap<i64, Tally>,
) {
    struct Spell {
        received: NaiveDate,
        due: Option<NaiveDate>,
    }
    let mut open: HashMap<i64, Spell> = HashMap::new();
    let mut close = |e: &ApplicationEventFact, spell: Spell, answered: Option<NaiveDate>| {
        if spell.received < from || spell.received > to {
            return;
        }
        let t = tallies.entry(e.provider_id).or_default();
        let r = if e.share {
            &mut t.share_requests
        } else {
            &mut t.applications
        };
        let answered = answered.map(|day| (day, cal.working_days_between(spell.received, day)));
        r.record(spell.due, answered, to);
    };
    let mut last: HashMap<i64, &ApplicationEventFact> = HashMap::new();
    for e in events {
        last.insert(e.application_id, e);
        let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
        let field = |k: &str| detail.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let day = china_date(e.at);
        // The spell ends on any move out of `with_provider`; a withdrawal is not an answer.
        if field("from").as_deref() == Some("with_provider")
            && let Some(spell) = open.remove(&e.application_id)
            && e.action != "withdrawn"
        {
            close(e, spell, Some(day));
        }
        if field("to").as_deref() == Some("with_provider") {
            open.insert(
                e.application_id,
                Spell {
                    received: day,
                    due: field("due_on").and_then(|d| d.parse().ok()),
                },
            );
        }
    }
    for (id, spell) in open {
        if let Some(e) = last.get(&id) {
            close(e, spell, None);
        }
    }
}

/// Every provider's counts over the period, from the recorded facts.
pub fn tally(
    facts: &EvaluationFacts,
    cal: &Calendar,
    from: NaiveDate,
    to: NaiveDate,
) -> HashMap<i64, Tally> {
    let mut tallies: HashMap<i64, Tally> = facts
        .providers
        .iter()
        .map(|p| (p.id, Tally::default()))
        .collect();
    let end = china_day_start(to.succ_opt().unwrap_or(to));
    let mut cycles = HashMap::new();
    for entry in &facts.entries {
        let Ok(doc) = serde_json::from_str::<DatasetDraft>(&entry.doc) else {
            continue;
        };
        let t = tallies.entry(entry.provider_id).or_default();
        t.entries += 1;
        match doc.open_type {
            OpenType::Unconditional => t.unconditional += 1,
            OpenType::Conditional => t.conditional += 1,
            OpenType::None => t.not_open += 1,
        }
        t.metadata_quality_sum += f64::from(doc.metadata_quality().score);
        t.metadata_quality_n += 1;
        cycles.insert(entry.dataset_id, (entry.provider_id, doc.update_cycle));
    }
    for r in &facts.resources {
        let Some((provider, cycle)) = cycles.get(&r.dataset_id) else {
            continue;
        };
        let Some(days) = cycle.max_age_days() else {
            continue;
        };
        let t = tallies.entry(*provider).or_default();
        t.resources_with_cycle += 1;
        if r.last_published
            .is_some_and(|at| end - at <= chrono::Duration::days(i64::from(days)))
        {
            t.resources_on_time += 1;
        }
    }
    for q in &facts.quality {
        let t = tallies.entry(q.provider_id).or_default();
        t.data_quality_sum += q.score as f64;
        t.data_quality_n += 1;
    }
    application_responses(&facts.application_events, cal, from, to, &mut tallies);
    for c in &facts.cases {
        let (Some(provider), Some(received)) = (c.provider_id, c.received_on) else {
            continue;
        };
        let t = tallies.entry(provider).or_default();
        let r: &mut Responses = match c.case_type {
            CaseType::Objection => &mut t.objections,
            CaseType::Demand => &mut t.demands,
            _ => continue,
        };
        // An answer after the period is, at the period's end, no answer yet.
        let answered = c
            .answered_on
            .filter(|d| *d <= to)
            .map(|d| (d, cal.working_days_between(received, d)));
        r.record(c.due_on, answered, to);
    }
    for u in &facts.usage {
        let t = tallies.entry(u.provider_id).or_default();
        t.downloads += u.downloads.max(0) as u64;
        t.api_calls += u.api_calls.max(0) as u64;
    }
    type Counter = fn(&mut Tally) -> &mut u64;
    let counted: [(&[ProviderCount], Counter); 4] = [
        (&facts.reuses, |t| &mut t.reuses),
        (&facts.sandbox_runs, |t| &mut t.sandbox_runs),
        (&facts.alerts, |t| &mut t.alerts),
        (&facts.incidents, |t| &mut t.incidents),
    ];
    for (counts, field) in counted {
        for c in counts {
            *field(tallies.entry(c.provider_id).or_default()) += c.count.max(0) as u64;
        }
    }
    tallies
}

fn ranked(mut units: Vec<EvaluatedUnit>) -> Vec<EvaluatedUnit> {
    units.sort_by(|a, b| {
        a.scored
            .rank
            .cmp(&b.scored.rank)
            .then_with(|| a.region_code.cmp(&b.region_code))
            .then_with(|| a.org_id.cmp(&b.org_id))
    });
    units
}

impl App {
    /// The weights a region's authority set, or the default.
    pub async fn evaluation_scheme(&self, region: &str) -> Result<Scheme> {
        match self
            .store
            .evaluation_scheme(region)
            .await
            .map_err(store_error)?
        {
            Some(doc) => serde_json::from_str(&doc).map_err(|_| Error::internal()),
            None => Ok(Scheme::default()),
        }
    }

    pub async fn put_evaluation_scheme(
        &self,
        caller: &Principal,
        region: &str,
        scheme: Scheme,
    ) -> Result<Scheme> {
        self.known_region(region).await?;
        if !caller.is_authority_over(region) {
            return Err(Error::forbidden());
        }
        let problems = scheme.problems();
        if !problems.is_empty() {
            return Err(Error::validation(problems));
        }
        let doc = serde_json::to_string(&scheme).map_err(|_| Error::internal())?;
        self.store
            .put_evaluation_scheme(region, &doc, caller.user_id, self.now())
            .await
            .map_err(store_error)?;
        Ok(scheme)
    }

    /// The name of a region, or 404.
    pub(crate) async fn known_region(&self, code: &str) -> Result<String> {
        match self.store.get_region(code).await.map_err(store_error)? {
            Some(r) => Ok(r.name),
            None => Err(Error::not_found("地区", "region")),
        }
    }

    /// Computes the evaluation of a region over a period and keeps it as a draft.
    pub async fn compute_evaluation(
        &self,
        caller: &Principal,
        input: EvaluationInput,
    ) -> Result<EvaluationView> {
        let region_name = self.known_region(&input.region_code).await?;
        if !caller.is_authority_over(&input.region_code) {
            return Err(Error::forbidden());
        }
        let today = china_date(self.now());
        let mut problems = Vec::new();
        if input.from > input.to {
            problems.push(FieldError::new(
                "from",
                "range",
                "开始日期不能晚于结束日期",
                "the period must start before it ends",
            ));
        }
        if input.to > today {
            problems.push(FieldError::new(
                "to",
                "range",
                "结束日期不能晚于今天",
                "the period cannot end after today",
            ));
        }
        if (input.to - input.from).num_days() > MAX_PERIOD_DAYS {
            problems.push(FieldError::new(
                "from",
                "range",
                "评价周期不能超过三年",
                "a period is at most three years",
            ));
        }
        if !problems.is_empty() {
            return Err(Error::validation(problems));
        }
        let evaluated = RegionCode::parse(&input.region_code)
            .ok_or_else(|| Error::not_found("地区", "region"))?;
        let scheme = self.evaluation_scheme(&input.region_code).await?;
        // Use counted in memory and not yet written belongs to the period too.
        self.flush_use().await;
        let facts = self
            .store
            .evaluation_facts(evaluated.prefix(), input.from, input.to)
            .await
            .map_err(store_error)?;
        let cal = self.calendar().await?;
        let mut tallies = tally(&facts, &cal, input.from, input.to);
        let providers: Vec<_> = facts
            .providers
            .iter()
            .map(|p| (p, tallies.remove(&p.id).unwrap_or_default()))
            .collect();
        let scored = score(
            &providers.iter().map(|(_, t)| t).collect::<Vec<_>>(),
            &scheme,
        );
        let mut by_region: BTreeMap<String, Tally> = BTreeMap::new();
        for (p, t) in &providers {
            by_region
                .entry(unit_region(&evaluated, &p.region_code))
                .or_default()
                .merge(t);
        }
        let provider_units = providers
            .into_iter()
            .zip(scored)
            .map(|((p, tally), scored)| EvaluatedUnit {
                org_id: Some(p.id),
                region_code: p.region_code.clone(),
                name: p.name.clone(),
                name_en: p.name_en.clone(),
                tally,
                scored,
            })
            .collect();
        let region_scores = score(&by_region.values().collect::<Vec<_>>(), &scheme);
        let mut region_units = Vec::new();
        for ((code, tally), scored) in by_region.into_iter().zip(region_scores) {
            let name = if code == input.region_code {
                format!("{region_name}（本级）")
            } else {
                self.store
                    .get_region(&code)
                    .await
                    .map_err(store_error)?
                    .map_or_else(|| code.clone(), |r| r.name)
            };
            let name_en = if code == input.region_code {
                format!("{code} (own level)")
            } else {
                code.clone()
            };
            region_units.push(EvaluatedUnit {
                org_id: None,
                region_code: code,
                name,
                name_en,
                tally,
                scored,
            });
        }
        let doc = EvaluationDoc {
            region_name,
            scheme,
            providers: ranked(provider_units),
            regions: ranked(region_units),
        };
        let text = serde_json::to_string(&doc).map_err(|_| Error::internal())?;
        let row = self
            .store
            .insert_evaluation(&NewEvaluation {
                region_code: &input.region_code,
                period_from: input.from,
                period_to: input.to,
                doc: &text,
                created_by: caller.user_id,
                at: self.now(),
            })
            .await
            .map_err(store_error)?;
        self.evaluation_view(Some(caller), &row)
    }

    fn evaluation_view(
        &self,
        caller: Option<&Principal>,
        row: &EvaluationRow,
    ) -> Result<EvaluationView> {
        let doc: EvaluationDoc = serde_json::from_str(&row.doc).map_err(|_| Error::internal())?;
        Ok(EvaluationView {
            id: row.id,
            region_code: row.region_code.clone(),
            period_from: row.period_from,
            period_to: row.period_to,
            state: row.state.clone(),
            created_at: row.created_at,
            released_at: row.released_at,
            doc,
            may_release: row.state == "draft"
                && caller.is_some_and(|c| c.is_authority_over(&row.region_code)),
        })
    }

    /// A released evaluation to anyone; a draft to the authorities and auditors over it.
    pub async fn evaluation(&self, caller: Option<&Principal>, id: i64) -> Result<EvaluationView> {
        let row = self
            .store
            .get_evaluation(id)
            .await
            .map_err(store_error)?
            .filter(|r| {
                r.state == "released" || caller.is_some_and(|c| c.oversees_region(&r.region_code))
            })
            .ok_or_else(|| Error::not_found("评价报告", "evaluation"))?;
        self.evaluation_view(caller, &row)
    }

    /// Released evaluations, and the drafts the caller oversees; newest period first.
    pub async fn evaluations(
        &self,
        caller: Option<&Principal>,
        region: Option<&str>,
    ) -> Result<Vec<EvaluationSummary>> {
        let rows = self
            .store
            .list_evaluations(&EvaluationQuery {
                draft_regions: caller
                    .map(|c| {
                        c.oversight_regions()
                            .iter()
                            .map(|r| crate::applications::region_prefix_of(r))
                            .collect()
                    })
                    .unwrap_or_default(),
                region: region.map(str::to_owned),
                limit: 200,
            })
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|r| {
                let doc: EvaluationDoc =
                    serde_json::from_str(&r.doc).map_err(|_| Error::internal())?;
                let n = doc.providers.len().max(1) as f64;
                let mean = doc.providers.iter().map(|p| p.scored.total).sum::<f64>() / n;
                Ok(EvaluationSummary {
                    id: r.id,
                    region_code: r.region_code.clone(),
                    region_name: doc.region_name,
                    period_from: r.period_from,
                    period_to: r.period_to,
                    state: r.state.clone(),
                    released_at: r.released_at,
                    mean_total: (mean * 100.0).round() / 100.0,
                })
            })
            .collect()
    }

    /// Publishes a draft on the portal and tells the evaluated providers.
    pub async fn release_evaluation(&self, caller: &Principal, id: i64) -> Result<EvaluationView> {
        let row = self.evaluation(Some(caller), id).await?;
        if !caller.is_authority_over(&row.region_code) {
            return Err(Error::forbidden());
        }
        if row.state != "draft" {
            return Err(Error::new(
                ErrorCode::InvalidState,
                "该评价报告已经发布",
                "this evaluation is released already",
            ));
        }
        let released = self
            .store
            .release_evaluation(id, caller.user_id, self.now())
            .await
            .map_err(store_error)?;
        let mut recipients = Vec::new();
        for p in &row.doc.providers {
            if let Some(org) = p.org_id {
                recipients.extend(self.provider_admins(org).await?);
            }
        }
        self.notify(
            &recipients,
            "evaluation_released",
            &format!(
                "绩效评价报告已发布：{}（{} 至 {}）",
                row.doc.region_name, row.period_from, row.period_to
            ),
            "评价结果与各项指标已在门户公布。",
            &crate::links::evaluation(id),
        )
        .await?;
        self.evaluation_view(Some(caller), &released)
    }

    /// Earlier released evaluations of the same region, oldest first: the trend.
    pub async fn evaluation_trend(&self, view: &EvaluationView) -> Result<Vec<EvaluationSummary>> {
        let mut all = self.evaluations(None, Some(&view.region_code)).await?;
        all.retain(|e| e.state == "released" && e.period_to <= view.period_to);
        all.reverse();
        Ok(all)
    }
}

/// Every figure of an evaluation as rows: one per provider and per region, with the
/// counts, the indicator values and scores, the dimension scores, total and rank.
pub fn evaluation_table(view: &EvaluationView, zh: bool) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = [
        if zh { "类别" } else { "Kind" },
        if zh { "排名" } else { "Rank" },
        if zh { "名称" } else { "Name" },
        if zh {
            "行政区划代码"
        } else {
            "Region code"
        },
        if zh { "总分" } else { "Total" },
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for d in Dimension::ALL {
        header.push(d.label(zh).to_owned());
    }
    let counts: [(&str, &str); 14] = [
        ("编目数量", "Entries"),
        ("无条件开放", "Open without conditions"),
        ("有条件开放", "Open on conditions"),
        ("不予开放", "Not open"),
        ("元数据完整度", "Metadata completeness"),
        ("数据质量均分", "Data quality"),
        ("有更新周期的资源", "Resources with a cycle"),
        ("按时更新的资源", "Resources updated on time"),
        ("下载量", "Downloads"),
        ("接口调用量", "API calls"),
        ("沙箱与模型使用量", "Sandbox and model runs"),
        ("利用成果", "Reuse records"),
        ("监测告警", "Alerts"),
        ("安全事件", "Incidents"),
    ];
    header.extend(
        counts
            .iter()
            .map(|(z, e)| (if zh { *z } else { *e }).to_owned()),
    );
    let kinds: [(&str, &str); 4] = [
        ("共享申请", "Sharing requests"),
        ("开放申请", "Applications"),
        ("异议", "Objections"),
        ("需求", "Demands"),
    ];
    for (z, e) in kinds {
        let k = if zh { z } else { e };
        for (fz, fe) in [
            ("件数", "cases"),
            ("按时", "on time"),
            ("逾期", "overdue"),
            ("未到期", "pending"),
            ("中位工作日", "median working days"),
            ("最长工作日", "worst working days"),
        ] {
            header.push(format!(
                "{k}{}",
                if zh { fz.to_owned() } else { format!(" {fe}") }
            ));
        }
    }
    for i in Indicator::ALL {
        header.push(format!(
            "{}{}",
            i.label(zh),
            if zh { "得分" } else { " score" }
        ));
    }
    let num = |v: Option<f64>| v.map(|v| format!("{:.2}", v)).unwrap_or_default();
    let mut rows = Vec::new();
    for (kind, units) in [
        (if zh { "单位" } else { "Provider" }, &view.doc.providers),
        (if zh { "地区" } else { "Region" }, &view.doc.regions),
    ] {
        for u in units {
            let t = &u.tally;
            let mut row = vec![
                kind.to_owned(),
                u.scored.rank.to_string(),
                u.display_name(zh).to_owned(),
                u.region_code.clone(),
                format!("{:.2}", u.scored.total),
            ];
            for d in Dimension::ALL {
                row.push(num(u.scored.dimensions.get(&d).copied()));
            }
            row.extend(
                [t.entries, t.unconditional, t.conditional, t.not_open]
                    .iter()
                    .map(u64::to_string),
            );
            row.push(num(t.metadata_quality()));
            row.push(num(t.data_quality()));
            row.extend(
                [
                    t.resources_with_cycle,
                    t.resources_on_time,
                    t.downloads,
                    t.api_calls,
                    t.sandbox_runs,
                    t.reuses,
                    t.alerts,
                    t.incidents,
                ]
                .iter()
                .map(u64::to_string),
            );
            for r in [
                &t.share_requests,
                &t.applications,
                &t.objections,
                &t.demands,
            ] {
                row.push(r.cases().to_string());
                row.push(r.on_time.to_string());
                row.push(r.overdue.to_string());
                row.push(r.pending.to_string());
                row.push(num(r.median_days()));
                row.push(r.worst_days().map(|d| d.to_string()).unwrap_or_default());
            }
            for i in Indicator::ALL {
                row.push(num(u.scored.scores.get(&i).copied()));
            }
            rows.push(row);
        }
    }
    (header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_count_in_the_region_one_level_below() {
        let province = RegionCode::parse("370000").unwrap();
        assert_eq!(unit_region(&province, "370000"), "370000");
        assert_eq!(unit_region(&province, "370100"), "370100");
        assert_eq!(unit_region(&province, "370102"), "370100");
        let city = RegionCode::parse("370100").unwrap();
        assert_eq!(unit_region(&city, "370100"), "370100");
        assert_eq!(unit_region(&city, "370102"), "370102");
    }
}
