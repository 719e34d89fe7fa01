//! Performance evaluation (绩效评价, SD-OPEN §5, SX-BIGDATA §24): what each provider and
//! region did over a period, as indicators, scores and a ranking.
//!
//! The indicator set follows the structure of the Fudan open-data index (中国开放数林指数:
//! supply of data, the platform's service, interaction with users, use) and the items
//! DB37/T 3523.3 evaluates (amount and ratio opened, timeliness, quality, response to
//! applications, use). The default weights are this platform's reading of both, not a
//! copy of either; the authority sets its own.
//!
//! Everything here is arithmetic over [`Tally`]s, which the application fills from the
//! recorded history; nothing is typed in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;

/// The four groups of indicators.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// 数据供给: how much is catalogued and opened, and how good it is.
    Supply,
    /// 平台服务: timely updates, answers to sharing requests and applications, security.
    Platform,
    /// 互动回应: answers to objections and demands.
    Interaction,
    /// 开发利用: downloads, API calls, reuse.
    Use,
}

impl Dimension {
    pub const ALL: [Self; 4] = [Self::Supply, Self::Platform, Self::Interaction, Self::Use];

    pub fn label(self, zh: bool) -> &'static str {
        match (self, zh) {
            (Self::Supply, true) => "数据供给",
            (Self::Platform, true) => "平台服务",
            (Self::Interaction, true) => "互动回应",
            (Self::Use, true) => "开发利用",
            (Self::Supply, false) => "Supply",
            (Self::Platform, false) => "Platform service",
            (Self::Interaction, false) => "Interaction",
            (Self::Use, false) => "Use",
        }
    }
}

/// How a raw figure becomes a score out of 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// A share: the percentage itself.
    Ratio,
    /// A count: against the best of the cohort, on a log scale (use is heavy-tailed, and
    /// a provider with a tenth of the leader's downloads is not a tenth as good).
    RelativeCount,
    /// Security events: 100 less the penalties, not below 0.
    Penalty,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    /// 编目数量: entries in the catalog at the end of the period.
    Entries,
    /// 开放数量: entries open unconditionally or conditionally.
    OpenEntries,
    /// 开放率: open entries over entries.
    OpenRatio,
    /// 数据质量: metadata completeness and the kept quality of the serving versions.
    Quality,
    /// 按时更新率: resources updated within their update cycle at the end.
    OnTimeUpdates,
    /// 共享申请按时答复率: sharing requests answered by their deadline.
    ShareResponse,
    /// 开放申请按时答复率: applications for conditional data answered by their deadline.
    ApplicationResponse,
    /// 安全事件: incidents and monitoring alerts on the provider's data.
    Security,
    /// 异议按时处理率.
    ObjectionResponse,
    /// 需求按时答复率.
    DemandResponse,
    /// 下载量.
    Downloads,
    /// 接口调用量.
    ApiCalls,
    /// 沙箱与模型使用量: queries run in the analysis sandbox (models included) over the
    /// provider's data.
    SandboxRuns,
    /// 利用成果: approved reuse records built on the data.
    Reuses,
}

impl Indicator {
    pub const ALL: [Self; 14] = [
        Self::Entries,
        Self::OpenEntries,
        Self::OpenRatio,
        Self::Quality,
        Self::OnTimeUpdates,
        Self::ShareResponse,
        Self::ApplicationResponse,
        Self::Security,
        Self::ObjectionResponse,
        Self::DemandResponse,
        Self::Downloads,
        Self::ApiCalls,
        Self::SandboxRuns,
        Self::Reuses,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entries => "entries",
            Self::OpenEntries => "open_entries",
            Self::OpenRatio => "open_ratio",
            Self::Quality => "quality",
            Self::OnTimeUpdates => "on_time_updates",
            Self::ShareResponse => "share_response",
            Self::ApplicationResponse => "application_response",
            Self::Security => "security",
            Self::ObjectionResponse => "objection_response",
            Self::DemandResponse => "demand_response",
            Self::Downloads => "downloads",
            Self::ApiCalls => "api_calls",
            Self::SandboxRuns => "sandbox_runs",
            Self::Reuses => "reuses",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == s)
    }

    pub fn dimension(self) -> Dimension {
        match self {
            Self::Entries | Self::OpenEntries | Self::OpenRatio | Self::Quality => {
                Dimension::Supply
            }
            Self::OnTimeUpdates
            | Self::ShareResponse
            | Self::ApplicationResponse
            | Self::Security => Dimension::Platform,
            Self::ObjectionResponse | Self::DemandResponse => Dimension::Interaction,
            Self::Downloads | Self::ApiCalls | Self::SandboxRuns | Self::Reuses => Dimension::Use,
        }
    }

    fn scale(self) -> Scale {
        match self {
            Self::Entries
            | Self::OpenEntries
            | Self::Downloads
            | Self::ApiCalls
            | Self::SandboxRuns
            | Self::Reuses => Scale::RelativeCount,
            Self::Security => Scale::Penalty,
            _ => Scale::Ratio,
        }
    }

    /// The default weight, out of 100 in all.
    pub fn default_weight(self) -> f64 {
        match self {
            Self::Entries => 8.0,
            Self::OpenEntries => 7.0,
            Self::OpenRatio => 10.0,
            Self::Quality => 10.0,
            Self::OnTimeUpdates => 10.0,
            Self::ShareResponse => 6.0,
            Self::ApplicationResponse => 6.0,
            Self::Security => 8.0,
            Self::ObjectionResponse => 8.0,
            Self::DemandResponse => 7.0,
            Self::Downloads => 5.0,
            Self::ApiCalls => 5.0,
            Self::SandboxRuns => 2.0,
            Self::Reuses => 8.0,
        }
    }

    pub fn label(self, zh: bool) -> &'static str {
        match (self, zh) {
            (Self::Entries, true) => "编目数量",
            (Self::OpenEntries, true) => "开放数量",
            (Self::OpenRatio, true) => "开放率",
            (Self::Quality, true) => "数据质量",
            (Self::OnTimeUpdates, true) => "按时更新率",
            (Self::ShareResponse, true) => "共享申请按时答复率",
            (Self::ApplicationResponse, true) => "开放申请按时答复率",
            (Self::Security, true) => "安全事件",
            (Self::ObjectionResponse, true) => "异议按时处理率",
            (Self::DemandResponse, true) => "需求按时答复率",
            (Self::Downloads, true) => "下载量",
            (Self::ApiCalls, true) => "接口调用量",
            (Self::SandboxRuns, true) => "沙箱与模型使用量",
            (Self::Reuses, true) => "利用成果",
            (Self::Entries, false) => "Entries catalogued",
            (Self::OpenEntries, false) => "Entries opened",
            (Self::OpenRatio, false) => "Open ratio",
            (Self::Quality, false) => "Quality",
            (Self::OnTimeUpdates, false) => "Updated on time",
            (Self::ShareResponse, false) => "Sharing requests answered on time",
            (Self::ApplicationResponse, false) => "Applications answered on time",
            (Self::Security, false) => "Security events",
            (Self::ObjectionResponse, false) => "Objections handled on time",
            (Self::DemandResponse, false) => "Demands answered on time",
            (Self::Downloads, false) => "Downloads",
            (Self::ApiCalls, false) => "API calls",
            (Self::SandboxRuns, false) => "Sandbox and model runs",
            (Self::Reuses, false) => "Reuse records",
        }
    }
}

/// The authority's indicator weights and security penalties. An indicator with weight 0
/// (or left out) is not part of the evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scheme {
    /// Weight of each indicator (0–100; they need not add up to 100, scores are
    /// weighted means).
    #[schema(value_type = BTreeMap<String, f64>)]
    pub weights: BTreeMap<Indicator, f64>,
    /// Points off the security score for each incident.
    pub incident_penalty: f64,
    /// Points off the security score for each monitoring alert.
    pub alert_penalty: f64,
}

impl Default for Scheme {
    fn default() -> Self {
        Self {
            weights: Indicator::ALL
                .into_iter()
                .map(|i| (i, i.default_weight()))
                .collect(),
            incident_penalty: 20.0,
            alert_penalty: 5.0,
        }
    }
}

impl Scheme {
    pub fn weight(&self, i: Indicator) -> f64 {
        self.weights.get(&i).copied().unwrap_or(0.0)
    }

    pub fn problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        for (i, w) in &self.weights {
            if !w.is_finite() || !(0.0..=100.0).contains(w) {
                problems.push(FieldError::new(
                    format!("weights.{}", i.as_str()),
                    "range",
                    "权重应在0至100之间",
                    "a weight must be between 0 and 100",
                ));
            }
        }
        if problems.is_empty() && self.weights.values().sum::<f64>() <= 0.0 {
            problems.push(FieldError::new(
                "weights",
                "required",
                "至少一项指标的权重应大于0",
                "at least one indicator needs a weight above 0",
            ));
        }
        for (field, v) in [
            ("incident_penalty", self.incident_penalty),
            ("alert_penalty", self.alert_penalty),
        ] {
            if !v.is_finite() || !(0.0..=100.0).contains(&v) {
                problems.push(FieldError::new(
                    field,
                    "range",
                    "扣分应在0至100之间",
                    "a penalty must be between 0 and 100",
                ));
            }
        }
        problems
    }
}

/// Cases that must be answered by a deadline: how they went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Responses {
    /// Working days each answered case took, from the day it was received.
    pub answered_days: Vec<u32>,
    /// Answered by the deadline.
    pub on_time: u64,
    /// Answered after the deadline, or still waiting past it at the end of the period.
    pub overdue: u64,
    /// Still waiting at the end of the period, not yet due.
    pub pending: u64,
}

impl Responses {
    /// One case: its deadline, and the day it was answered (if it was).
    pub fn record(
        &mut self,
        due: Option<chrono::NaiveDate>,
        answered: Option<(chrono::NaiveDate, u32)>,
        end: chrono::NaiveDate,
    ) {
        match (answered, due) {
            (Some((day, days)), due) => {
                self.answered_days.push(days);
                if due.is_some_and(|d| day > d) {
                    self.overdue += 1;
                } else {
                    self.on_time += 1;
                }
            }
            (None, Some(due)) if due < end => self.overdue += 1,
            (None, _) => self.pending += 1,
        }
    }

    /// Cases received in the period.
    pub fn cases(&self) -> u64 {
        self.on_time + self.overdue + self.pending
    }

    /// Of the cases decided either way (answered, or late), the share on time; none if
    /// there were none.
    pub fn on_time_ratio(&self) -> Option<f64> {
        let decided = self.on_time + self.overdue;
        (decided > 0).then(|| self.on_time as f64 / decided as f64)
    }

    pub fn median_days(&self) -> Option<f64> {
        let mut d = self.answered_days.clone();
        if d.is_empty() {
            return None;
        }
        d.sort_unstable();
        let n = d.len();
        Some(if n % 2 == 1 {
            f64::from(d[n / 2])
        } else {
            (f64::from(d[n / 2 - 1]) + f64::from(d[n / 2])) / 2.0
        })
    }

    pub fn worst_days(&self) -> Option<u32> {
        self.answered_days.iter().copied().max()
    }

    fn merge(&mut self, o: &Self) {
        self.answered_days.extend_from_slice(&o.answered_days);
        self.on_time += o.on_time;
        self.overdue += o.overdue;
        self.pending += o.pending;
    }
}

/// The raw counts of one provider (or, merged, one region) over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tally {
    pub entries: u64,
    /// 无条件开放.
    pub unconditional: u64,
    /// 有条件开放.
    pub conditional: u64,
    /// 不予开放.
    pub not_open: u64,
    /// Sum and count of the entries' metadata completeness scores.
    pub metadata_quality_sum: f64,
    pub metadata_quality_n: u64,
    /// Sum and count of the quality scores kept for the serving versions.
    pub data_quality_sum: f64,
    pub data_quality_n: u64,
    /// Resources whose entry has a regular update cycle, and those updated within it.
    pub resources_with_cycle: u64,
    pub resources_on_time: u64,
    pub share_requests: Responses,
    pub applications: Responses,
    pub objections: Responses,
    pub demands: Responses,
    pub downloads: u64,
    pub api_calls: u64,
    /// Sandbox queries and model runs over the provider's data.
    pub sandbox_runs: u64,
    pub reuses: u64,
    pub alerts: u64,
    pub incidents: u64,
}

impl Tally {
    pub fn merge(&mut self, o: &Self) {
        self.entries += o.entries;
        self.unconditional += o.unconditional;
        self.conditional += o.conditional;
        self.not_open += o.not_open;
        self.metadata_quality_sum += o.metadata_quality_sum;
        self.metadata_quality_n += o.metadata_quality_n;
        self.data_quality_sum += o.data_quality_sum;
        self.data_quality_n += o.data_quality_n;
        self.resources_with_cycle += o.resources_with_cycle;
        self.resources_on_time += o.resources_on_time;
        self.share_requests.merge(&o.share_requests);
        self.applications.merge(&o.applications);
        self.objections.merge(&o.objections);
        self.demands.merge(&o.demands);
        self.downloads += o.downloads;
        self.api_calls += o.api_calls;
        self.sandbox_runs += o.sandbox_runs;
        self.reuses += o.reuses;
        self.alerts += o.alerts;
        self.incidents += o.incidents;
    }

    pub fn open_entries(&self) -> u64 {
        self.unconditional + self.conditional
    }

    fn mean(sum: f64, n: u64) -> Option<f64> {
        (n > 0).then(|| sum / n as f64)
    }

    pub fn metadata_quality(&self) -> Option<f64> {
        Self::mean(self.metadata_quality_sum, self.metadata_quality_n)
    }

    pub fn data_quality(&self) -> Option<f64> {
        Self::mean(self.data_quality_sum, self.data_quality_n)
    }

    /// The indicator's raw value: a count, a share (0–1), a score (0–100) or, for
    /// security, the number of events. None when it does not apply (no cases, no
    /// entries).
    pub fn value(&self, i: Indicator) -> Option<f64> {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        match i {
            Indicator::Entries => Some(self.entries as f64),
            Indicator::OpenEntries => Some(self.open_entries() as f64),
            Indicator::OpenRatio => ratio(self.open_entries(), self.entries),
            Indicator::Quality => match (self.metadata_quality(), self.data_quality()) {
                (Some(m), Some(d)) => Some((m + d) / 2.0),
                (m, d) => m.or(d),
            },
            Indicator::OnTimeUpdates => ratio(self.resources_on_time, self.resources_with_cycle),
            Indicator::ShareResponse => self.share_requests.on_time_ratio(),
            Indicator::ApplicationResponse => self.applications.on_time_ratio(),
            Indicator::ObjectionResponse => self.objections.on_time_ratio(),
            Indicator::DemandResponse => self.demands.on_time_ratio(),
            Indicator::Security => Some((self.incidents + self.alerts) as f64),
            Indicator::Downloads => Some(self.downloads as f64),
            Indicator::ApiCalls => Some(self.api_calls as f64),
            Indicator::SandboxRuns => Some(self.sandbox_runs as f64),
            Indicator::Reuses => Some(self.reuses as f64),
        }
    }
}

/// One evaluated provider or region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Scored {
    /// Score of each indicator the scheme weighs and that applies (0–100).
    #[schema(value_type = BTreeMap<String, f64>)]
    pub scores: BTreeMap<Indicator, f64>,
    #[schema(value_type = BTreeMap<String, f64>)]
    pub dimensions: BTreeMap<Dimension, f64>,
    /// Weighted mean of the indicator scores (0–100).
    pub total: f64,
    /// 1 for the best; equal totals share a rank.
    pub rank: u32,
}

fn weighted_mean(parts: impl Iterator<Item = (f64, f64)>) -> Option<f64> {
    let (mut sum, mut weights) = (0.0, 0.0);
    for (w, s) in parts {
        sum += w * s;
        weights += w;
    }
    (weights > 0.0).then(|| sum / weights)
}

/// Scores a cohort (the providers of a region, or its sub-regions) under a scheme.
/// Counts are scored against the cohort's best; an indicator that does not apply to one
/// member is left out of that member's mean, so its weight falls on the others.
pub fn score(tallies: &[&Tally], scheme: &Scheme) -> Vec<Scored> {
    let best: BTreeMap<Indicator, f64> = Indicator::ALL
        .into_iter()
        .map(|i| {
            let max = tallies
                .iter()
                .filter_map(|t| t.value(i))
                .fold(0.0, f64::max);
            (i, max)
        })
        .collect();
    let mut scored: Vec<Scored> = tallies
        .iter()
        .map(|t| {
            let scores: BTreeMap<Indicator, f64> = Indicator::ALL
                .into_iter()
                .filter(|i| scheme.weight(*i) > 0.0)
                .filter_map(|i| {
                    let v = t.value(i)?;
                    let s = match i.scale() {
                        Scale::Ratio if i == Indicator::Quality => v,
                        Scale::Ratio => v * 100.0,
                        Scale::RelativeCount => {
                            let max = best[&i];
                            if max > 0.0 {
                                100.0 * (1.0 + v).ln() / (1.0 + max).ln()
                            } else {
                                0.0
                            }
                        }
                        Scale::Penalty => (100.0
                            - scheme.incident_penalty * t.incidents as f64
                            - scheme.alert_penalty * t.alerts as f64)
                            .max(0.0),
                    };
                    Some((i, round2(s.clamp(0.0, 100.0))))
                })
                .collect();
            let dimensions = Dimension::ALL
                .into_iter()
                .filter_map(|d| {
                    weighted_mean(
                        scores
                            .iter()
                            .filter(|(i, _)| i.dimension() == d)
                            .map(|(i, s)| (scheme.weight(*i), *s)),
                    )
                    .map(|m| (d, round2(m)))
                })
                .collect();
            let total = weighted_mean(scores.iter().map(|(i, s)| (scheme.weight(*i), *s)))
                .map_or(0.0, round2);
            Scored {
                scores,
                dimensions,
                total,
                rank: 0,
            }
        })
        .collect();
    let totals: Vec<f64> = scored.iter().map(|s| s.total).collect();
    for s in &mut scored {
        s.rank = 1 + totals.iter().filter(|t| **t > s.total).count() as u32;
    }
    scored
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_weights_add_up_to_100_in_four_dimensions() {
        let s = Scheme::default();
        assert!(s.problems().is_empty());
        assert_eq!(s.weights.values().sum::<f64>(), 100.0);
        let by_dimension = |d| {
            Indicator::ALL
                .into_iter()
                .filter(|i| i.dimension() == d)
                .map(Indicator::default_weight)
                .sum::<f64>()
        };
        assert_eq!(by_dimension(Dimension::Supply), 35.0);
        assert_eq!(by_dimension(Dimension::Platform), 30.0);
        assert_eq!(by_dimension(Dimension::Interaction), 15.0);
        assert_eq!(by_dimension(Dimension::Use), 20.0);
        for i in Indicator::ALL {
            assert_eq!(Indicator::parse(i.as_str()), Some(i));
        }
    }

    #[test]
    fn bad_schemes_are_refused() {
        let mut s = Scheme::default();
        s.weights.insert(Indicator::Reuses, -1.0);
        s.alert_penalty = f64::NAN;
        let p = s.problems();
        assert_eq!(p.len(), 2, "{p:?}");
        let zero = Scheme {
            weights: Indicator::ALL.into_iter().map(|i| (i, 0.0)).collect(),
            ..Scheme::default()
        };
        assert_eq!(zero.problems()[0].field, "weights");
    }

    #[test]
    fn responses_count_on_time_late_and_waiting() {
        let end = day("2026-06-30");
        let mut r = Responses::default();
        r.record(Some(day("2026-03-10")), Some((day("2026-03-05"), 3)), end);
        r.record(Some(day("2026-03-10")), Some((day("2026-03-12"), 12)), end);
        r.record(Some(day("2026-06-01")), None, end);
        r.record(Some(day("2026-07-05")), None, end);
        r.record(None, Some((day("2026-04-01"), 5)), end);
        assert_eq!((r.on_time, r.overdue, r.pending), (2, 2, 1));
        assert_eq!(r.cases(), 5);
        assert_eq!(r.on_time_ratio(), Some(0.5));
        assert_eq!(r.median_days(), Some(5.0));
        assert_eq!(r.worst_days(), Some(12));
        assert_eq!(Responses::default().on_time_ratio(), None);
        assert_eq!(Responses::default().median_days(), None);
    }

    #[test]
    fn scores_are_weighted_means_with_missing_indicators_left_out() {
        let mut a = Tally {
            entries: 10,
            unconditional: 6,
            conditional: 2,
            not_open: 2,
            metadata_quality_sum: 800.0,
            metadata_quality_n: 10,
            downloads: 99,
            incidents: 1,
            alerts: 2,
            ..Tally::default()
        };
        a.objections
            .record(None, Some((day("2026-01-02"), 1)), day("2026-02-01"));
        let b = Tally {
            entries: 1,
            unconditional: 0,
            conditional: 0,
            not_open: 1,
            downloads: 9,
            ..Tally::default()
        };
        let scheme = Scheme::default();
        let scored = score(&[&a, &b], &scheme);
        let (sa, sb) = (&scored[0], &scored[1]);
        assert_eq!(sa.scores[&Indicator::Entries], 100.0);
        assert_eq!(
            sb.scores[&Indicator::Entries],
            round2(100.0 * 2f64.ln() / 11f64.ln())
        );
        assert_eq!(sa.scores[&Indicator::OpenRatio], 80.0);
        assert_eq!(sb.scores[&Indicator::OpenRatio], 0.0);
        assert_eq!(sa.scores[&Indicator::Quality], 80.0);
        assert!(
            !sb.scores.contains_key(&Indicator::Quality),
            "no entry quality known"
        );
        assert_eq!(sa.scores[&Indicator::Downloads], 100.0);
        assert_eq!(sb.scores[&Indicator::Downloads], 50.0);
        assert_eq!(sa.scores[&Indicator::Security], 70.0);
        assert_eq!(sb.scores[&Indicator::Security], 100.0);
        assert_eq!(sa.scores[&Indicator::ObjectionResponse], 100.0);
        assert!(!sa.scores.contains_key(&Indicator::DemandResponse));
        // The interaction dimension of `a` is its one applicable indicator.
        assert_eq!(sa.dimensions[&Dimension::Interaction], 100.0);
        assert!(!sb.dimensions.contains_key(&Dimension::Interaction));
        let expected: f64 = {
            let parts: Vec<(f64, f64)> = sa
                .scores
                .iter()
                .map(|(i, s)| (scheme.weight(*i), *s))
                .collect();
            parts.iter().map(|(w, s)| w * s).sum::<f64>() / parts.iter().map(|p| p.0).sum::<f64>()
        };
        assert_eq!(sa.total, round2(expected));
        assert_eq!((sa.rank, sb.rank), (1, 2));
        // Equal tallies share a rank.
        let tied = score(&[&b, &b.clone()], &scheme);
        assert_eq!((tied[0].rank, tied[1].rank), (1, 1));
    }

    #[test]
    fn tallies_merge_into_a_region() {
        let mut a = Tally {
            entries: 2,
            unconditional: 1,
            ..Tally::default()
        };
        a.demands
            .record(Some(day("2026-01-10")), None, day("2026-02-01"));
        let mut b = Tally {
            entries: 3,
            conditional: 3,
            ..Tally::default()
        };
        b.demands.record(
            Some(day("2026-01-10")),
            Some((day("2026-01-05"), 2)),
            day("2026-02-01"),
        );
        a.merge(&b);
        assert_eq!(a.entries, 5);
        assert_eq!(a.value(Indicator::OpenRatio), Some(0.8));
        assert_eq!(a.demands.on_time_ratio(), Some(0.5));
    }
}
