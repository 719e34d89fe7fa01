//! Monitoring (R9.2): rules over the audit log's stream of accesses raise alerts to the
//! provider and the authority, with the entries that are the evidence.
//!
//! The detector is pure (entries in, findings out) and keeps sliding windows in memory;
//! the app feeds it what was appended since its last run and records what it finds. A
//! restart forgets the windows, not the alerts.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use gongshu_audit::Entry;
use gongshu_core::authz::{self, Principal};
use gongshu_core::types::Role;
use gongshu_core::{Error, ErrorCode};
use gongshu_store::{AlertQuery, AlertRow, NewAlert, Page};
use serde::Serialize;

use crate::{App, Result, store_error};

/// The rules' thresholds; the province sets them (`--monitor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// Whole downloads by one account (or one anonymous address) within `window` …
    pub bulk_downloads: usize,
    pub window: Duration,
    /// … sign-ins of one account from this many addresses within `login_window` …
    pub login_addresses: usize,
    pub login_window: Duration,
    /// … failed sign-ins from one address within `window` …
    pub login_failures: usize,
    /// … verification checks that matched nothing, by one account within `window`.
    pub verify_misses: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            bulk_downloads: 100,
            window: Duration::minutes(10),
            login_addresses: 5,
            login_window: Duration::hours(1),
            login_failures: 20,
            verify_misses: 50,
        }
    }
}

impl Thresholds {
    /// `bulk_downloads=100,window_minutes=10,login_addresses=5,login_window_minutes=60,
    /// login_failures=20,verify_misses=50`, any subset, in any order.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut t = Self::default();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?}: expected name=number"))?;
            let n: u32 = v
                .trim()
                .parse()
                .map_err(|_| format!("{pair:?}: not a number"))?;
            if n == 0 {
                return Err(format!("{pair:?}: must be at least 1"));
            }
            match k.trim() {
                "bulk_downloads" => t.bulk_downloads = n as usize,
                "window_minutes" => t.window = Duration::minutes(n.into()),
                "login_addresses" => t.login_addresses = n as usize,
                "login_window_minutes" => t.login_window = Duration::minutes(n.into()),
                "login_failures" => t.login_failures = n as usize,
                "verify_misses" => t.verify_misses = n.into(),
                other => return Err(format!("{other:?}: no such threshold")),
            }
        }
        Ok(t)
    }
}

/// What a rule found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    /// `user:7` or `client:<pseudonym>`.
    pub subject: String,
    pub dataset: Option<i64>,
    pub evidence: Vec<i64>,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub summary_zh: String,
    pub summary_en: String,
}

/// Recent entries of one subject: time, entry number, and what the rule keeps of it.
type Window<T> = VecDeque<(DateTime<Utc>, i64, T)>;

#[derive(Debug, Default)]
pub struct Detector {
    thresholds: Thresholds,
    downloads: HashMap<String, Window<Option<i64>>>,
    logins: HashMap<i64, Window<String>>,
    failures: HashMap<String, VecDeque<(DateTime<Utc>, i64)>>,
    /// Misses of each account's verification requests.
    misses: HashMap<String, Window<u64>>,
    /// When each (rule, subject) last fired: one alert per window, not one per entry.
    fired: HashMap<(&'static str, String), DateTime<Utc>>,
}

fn who(e: &Entry) -> Option<String> {
    match (e.actor, &e.client) {
        (Some(a), _) => Some(format!("user:{a}")),
        (None, Some(c)) => Some(format!("client:{c}")),
        (None, None) => None,
    }
}

fn trim<T>(q: &mut Window<T>, since: DateTime<Utc>) {
    while q.front().is_some_and(|(t, _, _)| *t < since) {
        q.pop_front();
    }
}

fn is_sign_in(action: &str) -> bool {
    matches!(
        action,
        "auth.login" | "auth.token" | "auth.sso" | "POST /login" | "POST /api/v1/auth/token"
    )
}

/// The checks and matches a `verify.check` entry records in its object
/// (`resource:…;checks=N;matched=M`).
fn verification_counts(object: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        object
            .split(';')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
    };
    Some((field("checks")?, field("matched")?))
}

fn reads_data(action: &str) -> bool {
    action.starts_with("data.")
        || action.starts_with("GET /api/v1/resources/{id}/")
        || action == "POST /api/v1/sql"
}

impl Detector {
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            ..Self::default()
        }
    }

    /// Whether (rule, subject) may fire now; records it if so.
    fn may_fire(&mut self, rule: &'static str, subject: &str, at: DateTime<Utc>) -> bool {
        let quiet = self.thresholds.window.max(self.thresholds.login_window);
        let key = (rule, subject.to_owned());
        if self.fired.get(&key).is_some_and(|t| at - *t < quiet) {
            return false;
        }
        self.fired.insert(key, at);
        true
    }

    /// Takes one audit entry; returns what it completes.
    pub fn observe(&mut self, seq: i64, e: &Entry) -> Vec<Finding> {
        let Ok(at) = DateTime::parse_from_rfc3339(&e.time).map(|t| t.with_timezone(&Utc)) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let t = self.thresholds.clone();
        let Some(subject) = who(e) else {
            return found;
        };

        if e.action == "data.download" && e.outcome == "ok" {
            let q = self.downloads.entry(subject.clone()).or_default();
            q.push_back((at, seq, e.dataset));
            trim(q, at - t.window);
            if q.len() >= t.bulk_downloads {
                let evidence: Vec<i64> = q.iter().map(|(_, s, _)| *s).collect();
                let first_at = q.front().map_or(at, |(t, _, _)| *t);
                let datasets: std::collections::BTreeSet<i64> =
                    q.iter().filter_map(|(_, _, d)| *d).collect();
                let dataset = (datasets.len() == 1)
                    .then(|| datasets.into_iter().next())
                    .flatten();
                let n = evidence.len();
                let minutes = t.window.num_minutes();
                q.clear();
                if self.may_fire("bulk_download", &subject, at) {
                    found.push(Finding {
                        rule: "bulk_download",
                        subject: subject.clone(),
                        dataset,
                        evidence,
                        first_at,
                        last_at: at,
                        summary_zh: format!("{minutes}分钟内批量下载{n}次"),
                        summary_en: format!("{n} whole downloads within {minutes} minutes"),
                    });
                }
            }
        }

        if matches!(
            e.action.as_str(),
            "data.denied.grant_expired"
                | "data.denied.grant_not_yet_valid"
                | "data.denied.grant_terminated"
        ) && self.may_fire("outside_grant", &subject, at)
        {
            found.push(Finding {
                rule: "outside_grant",
                subject: subject.clone(),
                dataset: e.dataset,
                evidence: vec![seq],
                first_at: at,
                last_at: at,
                summary_zh: "在授权有效期之外（或授权终止后）访问数据".into(),
                summary_en: "Read data outside its grant's period, or after the grant ended".into(),
            });
        }

        // The sandbox flags a query whose groups differ by a few people from an earlier
        // one of the same shape (issue 9): a differencing attempt, to be looked at.
        if e.action == "sandbox.differencing" && self.may_fire("sandbox_differencing", &subject, at)
        {
            found.push(Finding {
                rule: "sandbox_differencing",
                subject: subject.clone(),
                dataset: e.dataset,
                evidence: vec![seq],
                first_at: at,
                last_at: at,
                summary_zh: "沙箱中提交了与先前查询仅差少数人的近似查询（差分攻击嫌疑）".into(),
                summary_en: "Sent a sandbox query that differs from an earlier one by a few people (suspected differencing)".into(),
            });
        }

        // Verification that mostly misses is someone trying values until one matches
        // (enumeration of ID numbers or credit codes), not someone checking what they
        // hold: misses are summed over the window.
        if e.action == "verify.check"
            && let Some((checks, matched)) = verification_counts(&e.object)
        {
            let q = self.misses.entry(subject.clone()).or_default();
            q.push_back((at, seq, checks.saturating_sub(matched)));
            trim(q, at - t.window);
            let misses: u64 = q.iter().map(|(_, _, m)| m).sum();
            if misses >= t.verify_misses {
                let evidence: Vec<i64> = q.iter().map(|(_, s, _)| *s).collect();
                let first_at = q.front().map_or(at, |(t, _, _)| *t);
                let minutes = t.window.num_minutes();
                q.clear();
                if self.may_fire("verification_enumeration", &subject, at) {
                    found.push(Finding {
                        rule: "verification_enumeration",
                        subject: subject.clone(),
                        dataset: e.dataset,
                        evidence,
                        first_at,
                        last_at: at,
                        summary_zh: format!("{minutes}分钟内核验未通过{misses}次（疑似枚举）"),
                        summary_en: format!(
                            "{misses} verification checks without a match within {minutes} minutes (suspected enumeration)"
                        ),
                    });
                }
            }
        }

        let past_quota =
            e.action == "data.denied.quota" || (e.status == Some(429) && reads_data(&e.action));
        if past_quota && self.may_fire("quota_exceeded", &subject, at) {
            found.push(Finding {
                rule: "quota_exceeded",
                subject: subject.clone(),
                dataset: e.dataset,
                evidence: vec![seq],
                first_at: at,
                last_at: at,
                summary_zh: "超出调用限额后仍继续访问数据".into(),
                summary_en: "Kept reading data past its quota".into(),
            });
        }

        if is_sign_in(&e.action)
            && e.outcome == "ok"
            && let (Some(actor), Some(client)) = (e.actor, &e.client)
        {
            let q = self.logins.entry(actor).or_default();
            q.push_back((at, seq, client.clone()));
            trim(q, at - t.login_window);
            let addresses: std::collections::BTreeSet<&str> =
                q.iter().map(|(_, _, c)| c.as_str()).collect();
            if addresses.len() >= t.login_addresses {
                let n = addresses.len();
                let evidence: Vec<i64> = q.iter().map(|(_, s, _)| *s).collect();
                let first_at = q.front().map_or(at, |(t, _, _)| *t);
                let minutes = t.login_window.num_minutes();
                q.clear();
                if self.may_fire("login_many_addresses", &subject, at) {
                    found.push(Finding {
                        rule: "login_many_addresses",
                        subject: subject.clone(),
                        dataset: None,
                        evidence,
                        first_at,
                        last_at: at,
                        summary_zh: format!("{minutes}分钟内从{n}个不同地址登录"),
                        summary_en: format!(
                            "Signed in from {n} addresses within {minutes} minutes"
                        ),
                    });
                }
            }
        }

        if is_sign_in(&e.action)
            && e.outcome == "denied"
            && let Some(client) = &e.client
        {
            let key = format!("client:{client}");
            let q = self.failures.entry(key.clone()).or_default();
            q.push_back((at, seq));
            while q.front().is_some_and(|(t0, _)| *t0 < at - t.window) {
                q.pop_front();
            }
            if q.len() >= t.login_failures {
                let n = q.len();
                let evidence: Vec<i64> = q.iter().map(|(_, s)| *s).collect();
                let first_at = q.front().map_or(at, |(t, _)| *t);
                let minutes = t.window.num_minutes();
                q.clear();
                if self.may_fire("login_failures", &key, at) {
                    found.push(Finding {
                        rule: "login_failures",
                        subject: key,
                        dataset: None,
                        evidence,
                        first_at,
                        last_at: at,
                        summary_zh: format!("同一地址{minutes}分钟内登录失败{n}次"),
                        summary_en: format!(
                            "{n} failed sign-ins from one address within {minutes} minutes"
                        ),
                    });
                }
            }
        }
        found
    }
}

/// An alert as its readers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    pub id: i64,
    /// `bulk_download`, `quota_exceeded`, `outside_grant`, `login_many_addresses`,
    /// `login_failures`, `sandbox_differencing`, `verification_enumeration`.
    pub rule: String,
    pub subject: String,
    pub dataset_id: Option<i64>,
    pub summary: String,
    /// Audit entry numbers.
    pub evidence: Vec<i64>,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl AlertView {
    pub fn of(a: AlertRow, lang: gongshu_core::error::Lang) -> Self {
        Self {
            id: a.id,
            rule: a.rule,
            subject: a.subject,
            dataset_id: a.dataset_id,
            summary: match lang {
                gongshu_core::error::Lang::Zh => a.summary_zh,
                gongshu_core::error::Lang::En => a.summary_en,
            },
            evidence: a.evidence,
            first_at: a.first_at,
            last_at: a.last_at,
            created_at: a.created_at,
        }
    }
}

impl App {
    /// Reads the audit entries appended since the last run through the rules; records
    /// and sends each alert. Returns how many were raised.
    pub async fn run_monitor(&self) -> Result<usize> {
        let _one_at_a_time = self.monitor.lock().await;
        let mut raised = 0;
        loop {
            let after = self.store.monitor_cursor().await.map_err(store_error)?;
            let batch = self
                .store
                .audit_entries(after, 1000)
                .await
                .map_err(store_error)?;
            let Some(last) = batch.last().map(|r| r.seq) else {
                break;
            };
            let findings: Vec<Finding> = {
                let mut detector = self.detector.lock().unwrap_or_else(|e| e.into_inner());
                batch
                    .iter()
                    .filter_map(|r| Some((r.seq, serde_json::from_str::<Entry>(&r.entry).ok()?)))
                    .flat_map(|(seq, e)| detector.observe(seq, &e))
                    .collect()
            };
            for f in &findings {
                self.raise(f).await?;
                raised += 1;
            }
            self.store
                .set_monitor_cursor(last)
                .await
                .map_err(store_error)?;
        }
        Ok(raised)
    }

    async fn raise(&self, f: &Finding) -> Result<()> {
        let alert = self
            .store
            .insert_alert(&NewAlert {
                rule: f.rule,
                subject: &f.subject,
                dataset_id: f.dataset,
                summary_zh: &f.summary_zh,
                summary_en: &f.summary_en,
                evidence: &f.evidence,
                first_at: f.first_at,
                last_at: f.last_at,
                created_at: self.now(),
            })
            .await
            .map_err(store_error)?;
        metrics::counter!("gongshu_alerts_total", "rule" => f.rule).increment(1);
        tracing::warn!(rule = f.rule, subject = %f.subject, alert = alert.id, "monitoring alert");
        // The entry's provider and the authorities over it; for an account or address,
        // the province's authority and the system administrators.
        let mut recipients = Vec::new();
        let region = match f.dataset {
            Some(d) => match self.store.get_dataset(d).await.map_err(store_error)? {
                Some(row) => {
                    recipients.extend(self.provider_admins(row.provider_id).await?);
                    row.region_code
                }
                None => String::new(),
            },
            None => String::new(),
        };
        if region.is_empty() {
            recipients.extend(
                self.users_with(Role::AuthorityAdmin, |g| {
                    g.region_code
                        .as_deref()
                        .is_some_and(|r| r.ends_with("0000"))
                })
                .await?,
            );
            recipients.extend(self.users_with(Role::SystemAdmin, |_| true).await?);
        } else {
            recipients.extend(self.authorities_over(&region).await?);
        }
        let link = format!("/console/audit?alert={}", alert.id);
        self.notify(
            &recipients,
            "security_alert",
            &format!("安全告警：{}（{}）", f.summary_zh, f.subject),
            &format!("{} — {}", f.summary_en, f.subject),
            &link,
        )
        .await
    }

    /// Runs the monitor every `period` for as long as the runtime lasts.
    pub fn spawn_monitor(self, period: std::time::Duration) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                if let Err(e) = self.run_monitor().await {
                    tracing::error!(error = %e.message_en, "monitoring run failed");
                }
            }
        });
    }

    /// Alerts, newest first: all of them for those who read the whole audit log; a
    /// provider's administrators see those about their own entries.
    pub async fn alerts(
        &self,
        caller: &Principal,
        limit: i64,
        offset: i64,
    ) -> Result<Page<AlertRow>> {
        let provider_ids = if authz::can_read_whole_audit(caller) {
            None
        } else {
            let own: Vec<i64> = caller
                .grants
                .iter()
                .filter(|g| g.role == Role::ProviderAdmin)
                .filter_map(|g| g.org_id)
                .collect();
            if own.is_empty() {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    "告警仅对审计员、主管部门和数据提供单位开放",
                    "Alerts are for auditors, authorities and data providers",
                ));
            }
            Some(own)
        };
        self.store
            .list_alerts(&AlertQuery {
                provider_ids,
                limit: limit.clamp(1, 200),
                offset: offset.max(0),
            })
            .await
            .map_err(store_error)
    }
}

impl App {
    /// An alert its reader may see: a provider's administrators only those about their
    /// own entries.
    pub async fn alert(&self, caller: &Principal, id: i64) -> Result<AlertRow> {
        let not_found = || Error::not_found("告警", "Alert");
        let alert = self
            .store
            .get_alert(id)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        if authz::can_read_whole_audit(caller) {
            return Ok(alert);
        }
        let dataset = match alert.dataset_id {
            Some(d) => self.store.get_dataset(d).await.map_err(store_error)?,
            None => None,
        }
        .ok_or_else(not_found)?;
        let scope = authz::EntryScope {
            provider_org_id: dataset.provider_id,
            provider_region: &dataset.region_code,
        };
        if authz::can_read_entry_audit(caller, scope) {
            Ok(alert)
        } else {
            Err(not_found())
        }
    }
}

/// The detector's state shared by the app's clones.
pub(crate) type SharedDetector = Arc<std::sync::Mutex<Detector>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str, actor: Option<i64>, client: &str, outcome: &str, second: u32) -> Entry {
        Entry {
            action: action.into(),
            actor,
            client: Some(client.into()),
            dataset: Some(9),
            outcome: outcome.into(),
            status: Some(if outcome == "ok" { 200 } else { 401 }),
            time: format!("2026-11-23T10:{:02}:{:02}.000Z", second / 60, second % 60),
            ..Entry::default()
        }
    }

    fn small() -> Thresholds {
        Thresholds {
            bulk_downloads: 3,
            window: Duration::minutes(1),
            login_addresses: 3,
            login_window: Duration::minutes(10),
            login_failures: 4,
            verify_misses: 20,
        }
    }

    #[test]
    fn verification_that_mostly_misses_is_enumeration() {
        let mut d = Detector::new(small());
        let check = |checks: u64, matched: u64, second: u32| Entry {
            object: format!("resource:r1;checks={checks};matched={matched}"),
            ..entry("verify.check", Some(7), "c", "ok", second)
        };
        // Someone checking the records they hold: mostly matches.
        assert!(d.observe(1, &check(100, 95, 0)).is_empty());
        assert!(d.observe(2, &check(10, 0, 10)).is_empty());
        // Someone trying numbers until one fits.
        let found = d.observe(3, &check(12, 1, 20));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, "verification_enumeration");
        assert_eq!(found[0].evidence, vec![1, 2, 3]);
        // Misses outside the window are forgotten.
        assert!(d.observe(4, &check(19, 0, 200)).is_empty());
        assert_eq!(verification_counts("resource:x;checks=3"), None);
        assert_eq!(
            Thresholds::parse("verify_misses=7").unwrap().verify_misses,
            7
        );
    }

    #[test]
    fn bulk_downloads_fire_once_per_window_with_their_evidence() {
        let mut d = Detector::new(small());
        let mut found = Vec::new();
        for (i, s) in [0, 10, 20, 25, 30, 40].iter().enumerate() {
            found.extend(d.observe(
                i as i64 + 1,
                &entry("data.download", Some(7), "c", "ok", *s),
            ));
        }
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, "bulk_download");
        assert_eq!(found[0].subject, "user:7");
        assert_eq!(found[0].evidence, vec![1, 2, 3]);
        assert_eq!(found[0].dataset, Some(9));
        // Spread out beyond the window, nothing fires.
        let mut d = Detector::new(small());
        let slow: Vec<Finding> = [0, 70, 140, 210]
            .iter()
            .enumerate()
            .flat_map(|(i, s)| d.observe(i as i64, &entry("data.download", Some(7), "c", "ok", *s)))
            .collect();
        assert!(slow.is_empty(), "{slow:?}");
        // Anonymous downloads count per address.
        let mut d = Detector::new(small());
        let anon: Vec<Finding> = (0..3)
            .flat_map(|i| d.observe(i, &entry("data.download", None, "abc", "ok", i as u32)))
            .collect();
        assert_eq!(anon[0].subject, "client:abc");
    }

    #[test]
    fn sign_ins_from_many_addresses_and_failure_bursts_fire() {
        let mut d = Detector::new(small());
        let many: Vec<Finding> = ["a", "b", "a", "c"]
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                d.observe(i as i64, &entry("auth.login", Some(3), c, "ok", i as u32))
            })
            .collect();
        assert_eq!(many.len(), 1);
        assert_eq!(many[0].rule, "login_many_addresses");
        assert_eq!(many[0].evidence.len(), 4);

        let mut d = Detector::new(small());
        let failures: Vec<Finding> = (0..4)
            .flat_map(|i| {
                d.observe(
                    i,
                    &entry("POST /api/v1/auth/token", None, "x", "denied", i as u32),
                )
            })
            .collect();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].rule, "login_failures");
        assert_eq!(failures[0].subject, "client:x");
    }

    #[test]
    fn data_past_its_quota_fires() {
        let mut d = Detector::new(small());
        let mut e = entry(
            "GET /api/v1/resources/{id}/rows",
            Some(5),
            "c",
            "rejected",
            0,
        );
        e.status = Some(429);
        assert_eq!(d.observe(1, &e)[0].rule, "quota_exceeded");
        // Once per window.
        assert!(d.observe(2, &e).is_empty());
    }

    #[test]
    fn reading_outside_a_grants_period_fires() {
        let mut d = Detector::new(small());
        let e = entry("data.denied.grant_expired", Some(5), "c", "denied", 0);
        let found = d.observe(1, &e);
        assert_eq!(found[0].rule, "outside_grant");
        assert_eq!(found[0].dataset, Some(9));
        let quota = entry("data.denied.quota", Some(6), "c", "denied", 0);
        assert_eq!(d.observe(2, &quota)[0].rule, "quota_exceeded");
    }

    #[test]
    fn thresholds_parse_and_refuse_nonsense() {
        let t = Thresholds::parse("bulk_downloads=5, login_window_minutes=30").unwrap();
        assert_eq!(t.bulk_downloads, 5);
        assert_eq!(t.login_window, Duration::minutes(30));
        assert_eq!(t.login_failures, 20);
        assert!(Thresholds::parse("bulk_downloads=0").is_err());
        assert!(Thresholds::parse("nonsense=3").is_err());
        assert!(Thresholds::parse("bulk_downloads").is_err());
    }
}
