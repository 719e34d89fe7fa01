//! Working days (工作日) for the deadlines the regulations set: 10 working days for a
//! sharing request (SD-EGOV §23), 5 for the authority's formal check, 10 for the provider's
//! decision on an opening application (SD-OPEN §14).
//!
//! Counting follows the Civil Code (民法典 §201): the day a request is received is not
//! counted; counting starts the next day. Weekends are rest days. The State Council's
//! yearly notice names the holidays, and the weekend days worked in exchange (调休). A
//! make-up Saturday counts as a working day. No notice is guessed: a deadline that reaches
//! into a year without one is counted on weekends alone and marked provisional.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;

/// The longest deadline the platform computes, in working days (about four years).
pub const MAX_WORKING_DAYS: u32 = 1000;

/// One year's schedule in the shape the holiday-cn project publishes the State Council's
/// notices (`{"year", "papers", "days": [{"name", "date", "isOffDay"}]}`). Other keys, such
/// as `$schema`, are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct YearSchedule {
    pub year: i32,
    /// The notices the schedule comes from (addresses of the State Council's texts).
    #[serde(default)]
    pub papers: Vec<String>,
    /// The days that differ from the plain week: holidays, and weekend days worked in
    /// exchange.
    pub days: Vec<SpecialDay>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SpecialDay {
    /// The holiday, e.g. 春节.
    pub name: String,
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// `true`: a rest day (休); `false`: a working day (班), usually a weekend day.
    #[serde(rename = "isOffDay")]
    pub is_off_day: bool,
}

impl YearSchedule {
    /// Problems that make the schedule unusable, as field errors; empty when it is sound.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        if !(1949..=2200).contains(&self.year) {
            out.push(FieldError::new(
                "year",
                "range",
                "年份应在1949至2200之间",
                "the year must be between 1949 and 2200",
            ));
        }
        if self.days.is_empty() {
            out.push(FieldError::new(
                "days",
                "required",
                "日程至少应有一天（国务院通知尚未发布的年份无需录入）",
                "a schedule has at least one day (leave a year without a notice unentered)",
            ));
        }
        if self.days.len() > 366 {
            out.push(FieldError::new(
                "days",
                "length",
                "日程天数不能超过366天",
                "a schedule has at most 366 days",
            ));
        }
        if self.papers.len() > 20 || self.papers.iter().any(|p| p.chars().count() > 500) {
            out.push(FieldError::new(
                "papers",
                "length",
                "依据文件最多20个，每个不超过500字",
                "at most 20 notices of at most 500 characters each",
            ));
        }
        let mut seen = HashSet::new();
        for (i, d) in self.days.iter().enumerate() {
            let field = format!("days[{i}]");
            // A notice may move days at the edges of the neighbouring years (the 2019
            // notice lists 2018-12-29 to 2018-12-31), but not further.
            let near = NaiveDate::from_ymd_opt(self.year, 1, 1)
                .zip(NaiveDate::from_ymd_opt(self.year, 12, 31))
                .is_some_and(|(first, last)| {
                    (first - d.date).num_days() <= 31 && (d.date - last).num_days() <= 31
                });
            if !near {
                out.push(FieldError::new(
                    format!("{field}.date"),
                    "year",
                    format!("日期 {} 不在 {} 年内或其前后一个月", d.date, self.year),
                    format!("{} is not in {} or within a month of it", d.date, self.year),
                ));
            }
            if !seen.insert(d.date) {
                out.push(FieldError::new(
                    format!("{field}.date"),
                    "duplicate",
                    format!("日期 {} 重复", d.date),
                    format!("{} appears twice", d.date),
                ));
            }
            let name = d.name.trim();
            if name.is_empty() || name.chars().count() > 32 {
                out.push(FieldError::new(
                    format!("{field}.name"),
                    "length",
                    "节日名称应为1至32个字",
                    "the holiday's name has 1 to 32 characters",
                ));
            }
        }
        out
    }
}

/// The State Council's schedules that ship with the platform (`data/holiday-cn`), as
/// `(year, file)`. A year whose notice was not out yet has no days.
const OFFICIAL: [(i32, &str); 9] = [
    (2019, include_str!("../data/holiday-cn/2019.json")),
    (2020, include_str!("../data/holiday-cn/2020.json")),
    (2021, include_str!("../data/holiday-cn/2021.json")),
    (2022, include_str!("../data/holiday-cn/2022.json")),
    (2023, include_str!("../data/holiday-cn/2023.json")),
    (2024, include_str!("../data/holiday-cn/2024.json")),
    (2025, include_str!("../data/holiday-cn/2025.json")),
    (2026, include_str!("../data/holiday-cn/2026.json")),
    (2027, include_str!("../data/holiday-cn/2027.json")),
];

/// The shipped schedules that have a notice behind them.
pub fn official_schedules() -> Vec<YearSchedule> {
    OFFICIAL
        .iter()
        .map(|(year, json)| {
            let s: YearSchedule = serde_json::from_str(json).expect("shipped schedule parses");
            assert_eq!(s.year, *year, "shipped schedule of {year} names its year");
            s
        })
        .filter(|s| !s.days.is_empty())
        .collect()
}

/// What kind of day a date is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    Workday,
    Weekend,
    /// A statutory holiday (法定节假日), or a rest day moved next to one.
    Holiday,
    /// A weekend day worked in exchange for a rest day (调休上班).
    MakeUpWorkday,
}

impl DayKind {
    pub fn is_working(self) -> bool {
        matches!(self, Self::Workday | Self::MakeUpWorkday)
    }
}

/// A computed deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Deadline {
    #[schema(value_type = String, format = Date)]
    pub start: NaiveDate,
    pub days: u32,
    /// The last day to act, a working day.
    #[schema(value_type = String, format = Date)]
    pub deadline: NaiveDate,
    /// The count crossed a year whose holiday notice is not entered: weekends alone were
    /// skipped there, and the date may move once the notice is in.
    pub provisional: bool,
}

/// The official schedules of the years that have one.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    years: BTreeSet<i32>,
    /// Every listed day. A notice may reach into the neighbouring year: the 2019 notice
    /// moves 2018-12-29 to 2018-12-31.
    special: HashMap<NaiveDate, bool>,
}

impl Calendar {
    pub fn new(schedules: impl IntoIterator<Item = YearSchedule>) -> Self {
        let mut schedules: Vec<_> = schedules.into_iter().collect();
        // Where two notices list the same day, the later year's notice is the newer text.
        schedules.sort_by_key(|s| s.year);
        let mut cal = Self::default();
        for s in schedules {
            cal.years.insert(s.year);
            cal.special
                .extend(s.days.iter().map(|d| (d.date, d.is_off_day)));
        }
        cal
    }

    pub fn has_schedule(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.iter().copied()
    }

    /// The kind of day, and whether a notice covers it (`false`: weekends only).
    pub fn day(&self, date: NaiveDate) -> (DayKind, bool) {
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let listed = self.special.get(&date).copied();
        let kind = match (listed, weekend) {
            (Some(true), _) => DayKind::Holiday,
            (Some(false), true) => DayKind::MakeUpWorkday,
            (Some(false), false) | (None, false) => DayKind::Workday,
            (None, true) => DayKind::Weekend,
        };
        (kind, listed.is_some() || self.has_schedule(date.year()))
    }

    /// The `days`-th working day after `start` (the start day itself is not counted).
    pub fn deadline(&self, start: NaiveDate, days: u32) -> Result<Deadline, FieldError> {
        if days == 0 || days > MAX_WORKING_DAYS {
            return Err(FieldError::new(
                "days",
                "range",
                format!("工作日天数应在1至{MAX_WORKING_DAYS}之间"),
                format!("days must be between 1 and {MAX_WORKING_DAYS}"),
            ));
        }
        let mut date = start;
        let mut left = days;
        let mut provisional = false;
        while left > 0 {
            date = date.succ_opt().ok_or_else(out_of_range)?;
            let (kind, known) = self.day(date);
            provisional |= !known;
            if kind.is_working() {
                left -= 1;
            }
        }
        Ok(Deadline {
            start,
            days,
            deadline: date,
            provisional,
        })
    }

    /// Working days after `start` up to and including `end`: how long an answer given on
    /// `end` to a request received on `start` took, counted as deadlines are.
    pub fn working_days_between(&self, start: NaiveDate, end: NaiveDate) -> u32 {
        start
            .iter_days()
            .skip(1)
            .take_while(|d| *d <= end)
            .filter(|d| self.day(*d).0.is_working())
            .count() as u32
    }

    /// The `days`-th working day before `deadline`: when to remind someone that a
    /// deadline is `days` working days away.
    pub fn working_days_before(&self, deadline: NaiveDate, days: u32) -> Option<NaiveDate> {
        let mut date = deadline;
        let mut left = days;
        while left > 0 {
            date = date.pred_opt()?;
            if self.day(date).0.is_working() {
                left -= 1;
            }
        }
        Some(date)
    }
}

fn out_of_range() -> FieldError {
    FieldError::new(
        "start",
        "range",
        "日期超出可计算范围",
        "the date is out of range",
    )
}

/// The date in China Standard Time (UTC+8, no daylight saving) of an instant: the day a
/// request counts as received.
pub fn china_date(at: DateTime<Utc>) -> NaiveDate {
    china_time(at).date_naive()
}

/// The first instant of a China Standard Time day: where a period of China dates begins.
pub fn china_day_start(day: NaiveDate) -> DateTime<Utc> {
    (day.and_time(chrono::NaiveTime::MIN) - chrono::Duration::hours(8)).and_utc()
}

/// An instant in China Standard Time, as pages show it.
pub fn china_time(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    let cst = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    at.with_timezone(&cst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn schedule(year: i32, days: &[(&str, &str, bool)]) -> YearSchedule {
        YearSchedule {
            year,
            papers: vec![],
            days: days
                .iter()
                .map(|(name, date, off)| SpecialDay {
                    name: (*name).into(),
                    date: d(date),
                    is_off_day: *off,
                })
                .collect(),
        }
    }

    /// Deadlines over the shipped notices, checked by hand against the calendar:
    /// (received, working days, deadline, provisional).
    #[test]
    fn deadlines_over_the_official_schedules() {
        let cal = Calendar::new(official_schedules());
        let cases = [
            // Spring Festival 2024: 02-10..02-17 off, Sunday 02-04 and 02-18 worked.
            ("2024-02-03", 1, "2024-02-04", false),
            ("2024-02-08", 1, "2024-02-09", false),
            ("2024-02-09", 1, "2024-02-18", false),
            ("2024-02-09", 2, "2024-02-19", false),
            // Ten working days from the eve of the holiday.
            ("2024-02-08", 10, "2024-02-28", false),
            // Spring Festival 2025: 01-28..02-04 off, Sunday 01-26 and Saturday 02-08 worked.
            ("2025-01-24", 1, "2025-01-26", false),
            ("2025-01-27", 1, "2025-02-05", false),
            ("2025-02-07", 1, "2025-02-08", false),
            // Spring Festival 2026: 02-15..02-23 off, Saturdays 02-14 and 02-28 worked.
            ("2026-02-13", 1, "2026-02-14", false),
            ("2026-02-14", 1, "2026-02-24", false),
            ("2026-02-13", 10, "2026-03-05", false),
            // National Day 2025: 10-01..10-08 off, Sunday 09-28 and Saturday 10-11 worked.
            ("2025-09-26", 1, "2025-09-28", false),
            ("2025-09-30", 1, "2025-10-09", false),
            ("2025-09-30", 5, "2025-10-14", false),
            // National Day 2026: 10-01..10-07 off, Saturday 10-10 worked.
            ("2026-09-30", 1, "2026-10-08", false),
            ("2026-09-30", 3, "2026-10-10", false),
            // Year ends: 2024 → 2025 (New Year's Day off), 2025 → 2026 (01-01..01-03 off,
            // Sunday 01-04 worked).
            ("2024-12-31", 1, "2025-01-02", false),
            ("2025-12-31", 1, "2026-01-04", false),
            ("2025-12-30", 3, "2026-01-05", false),
            // 2026 → 2027: no notice for 2027 yet, so weekends alone, flagged.
            ("2026-12-30", 1, "2026-12-31", false),
            ("2026-12-31", 1, "2027-01-01", true),
            ("2026-12-25", 10, "2027-01-08", true),
            // A request received on a holiday starts counting the next day all the same.
            ("2026-10-03", 1, "2026-10-08", false),
            // 2019's notice reaches back: 2018-12-29 (Saturday) worked, 12-31 off.
            ("2018-12-28", 1, "2018-12-29", false),
            ("2018-12-29", 1, "2019-01-02", false),
            // 2020: the Spring Festival holiday extended to 02-02 by the second notice.
            ("2020-01-23", 1, "2020-02-03", false),
        ];
        for (start, days, want, provisional) in cases {
            let dl = cal.deadline(d(start), days).unwrap();
            assert_eq!(
                (dl.deadline, dl.provisional),
                (d(want), provisional),
                "{days} working days from {start}"
            );
            // Counting back over the same span gives the same number of days.
            assert_eq!(cal.working_days_between(d(start), d(want)), days, "{start}");
        }
        assert_eq!(
            cal.working_days_between(d("2026-03-05"), d("2026-03-05")),
            0
        );
        assert_eq!(
            cal.working_days_between(d("2026-03-05"), d("2026-03-01")),
            0
        );
        assert_eq!(
            cal.years().collect::<Vec<_>>(),
            (2019..=2026).collect::<Vec<_>>()
        );
        for s in official_schedules() {
            assert!(s.problems().is_empty(), "{}: {:?}", s.year, s.problems());
        }
    }

    #[test]
    fn weekends_only_without_a_notice() {
        let cal = Calendar::default();
        // 2030-01-04 is a Friday: next Monday is the first working day.
        let dl = cal.deadline(d("2030-01-04"), 1).unwrap();
        assert_eq!((dl.deadline, dl.provisional), (d("2030-01-07"), true));
        assert_eq!(cal.day(d("2030-01-05")), (DayKind::Weekend, false));
    }

    #[test]
    fn make_up_days_count_and_holidays_do_not() {
        let cal = Calendar::new([schedule(
            2026,
            &[
                ("国庆节", "2026-10-01", true),
                ("国庆节", "2026-10-02", true),
                ("国庆节", "2026-10-10", false),
            ],
        )]);
        assert_eq!(cal.day(d("2026-10-10")), (DayKind::MakeUpWorkday, true));
        assert_eq!(cal.day(d("2026-10-01")), (DayKind::Holiday, true));
        // Received Wednesday 09-30: Thu 10-01 and Fri 10-02 are holidays, then the weekend.
        let dl = cal.deadline(d("2026-09-30"), 1).unwrap();
        assert_eq!((dl.deadline, dl.provisional), (d("2026-10-05"), false));
        // Received Friday 10-09: Saturday 10-10 is a working day.
        assert_eq!(
            cal.deadline(d("2026-10-09"), 1).unwrap().deadline,
            d("2026-10-10")
        );
    }

    #[test]
    fn bounds() {
        let cal = Calendar::default();
        assert!(cal.deadline(d("2026-01-01"), 0).is_err());
        assert!(cal.deadline(d("2026-01-01"), MAX_WORKING_DAYS + 1).is_err());
        assert!(cal.deadline(NaiveDate::MAX, 1).is_err());
        assert!(cal.deadline(d("2026-01-01"), MAX_WORKING_DAYS).is_ok());
    }

    #[test]
    fn schedules_are_checked() {
        let good = schedule(2026, &[("元旦", "2026-01-01", true)]);
        assert!(good.problems().is_empty());
        let bad = schedule(
            2026,
            &[
                ("元旦", "2025-11-30", true),
                ("", "2026-01-01", true),
                ("元旦", "2026-01-01", true),
            ],
        );
        let codes: Vec<_> = bad.problems().into_iter().map(|p| p.code).collect();
        assert_eq!(codes, ["year", "length", "duplicate"]);
        assert!(!schedule(2026, &[]).problems().is_empty());
    }

    #[test]
    fn china_date_is_utc_plus_eight() {
        let at = DateTime::parse_from_rfc3339("2026-01-31T16:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(china_date(at), d("2026-02-01"));
    }

    #[test]
    fn reminders_count_back_in_working_days() {
        let cal = Calendar::new([schedule(2026, &[("国庆节", "2026-10-01", true)])]);
        // Two working days before Friday 10-02: Thursday is a holiday, so Tue and Wed.
        assert_eq!(
            cal.working_days_before(d("2026-10-02"), 2),
            Some(d("2026-09-29"))
        );
    }
}
