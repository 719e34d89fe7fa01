//! The working-day calendar: the State Council's holiday notices in the store, deadlines
//! computed over them, and the system administrator's entries for new years.

use chrono::{DateTime, NaiveDate, Utc};
use gongshu_core::authz::Principal;
use gongshu_core::calendar::{Calendar, Deadline, YearSchedule, official_schedules};
use gongshu_core::types::Role;
use gongshu_core::{Error, FieldError};
use gongshu_store::{HolidayScheduleRow, NewEvent, ScheduleSource};
use serde::Serialize;
use utoipa::ToSchema;

use crate::views::EventView;
use crate::{App, Result, store_error};

/// The object type of calendar years in the event record.
const EVENT_OBJECT: &str = "calendar_year";

/// One year of the calendar, without its days.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct YearView {
    pub year: i32,
    /// `official`: shipped with the platform; `admin`: entered by an administrator.
    pub source: String,
    pub papers: Vec<String>,
    /// Rest days the notice lists (holidays and the days moved next to them).
    pub rest_days: usize,
    /// Weekend days worked in exchange (调休上班).
    pub make_up_days: usize,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<i64>,
}

/// One year with its days and the history of its entries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct YearDetail {
    #[serde(flatten)]
    pub summary: YearView,
    pub schedule: YearSchedule,
    pub history: Vec<EventView>,
}

impl From<&HolidayScheduleRow> for YearView {
    fn from(r: &HolidayScheduleRow) -> Self {
        let off = r.schedule.days.iter().filter(|d| d.is_off_day).count();
        Self {
            year: r.schedule.year,
            source: match r.source {
                ScheduleSource::Official => "official",
                ScheduleSource::Admin => "admin",
            }
            .to_owned(),
            papers: r.schedule.papers.clone(),
            rest_days: off,
            make_up_days: r.schedule.days.len() - off,
            updated_at: r.updated_at,
            updated_by: r.updated_by,
        }
    }
}

impl App {
    /// Copies the shipped notices into the store for the years it does not hold yet;
    /// returns how many years were added. A year an administrator entered stays.
    pub async fn seed_calendar(&self) -> Result<usize> {
        let mut added = 0;
        for schedule in official_schedules() {
            if self
                .store
                .seed_holiday_schedule(&schedule, self.now())
                .await
                .map_err(store_error)?
            {
                added += 1;
            }
        }
        Ok(added)
    }

    /// The calendar as the store holds it now. It is read for every use rather than
    /// cached, so an administrator's entry counts from the next request on.
    pub async fn calendar(&self) -> Result<Calendar> {
        let rows = self
            .store
            .list_holiday_schedules()
            .await
            .map_err(store_error)?;
        Ok(Calendar::new(rows.into_iter().map(|r| r.schedule)))
    }

    /// The last day of a period of `days` working days that starts on `start`.
    pub async fn deadline(&self, start: NaiveDate, days: u32) -> Result<Deadline> {
        self.calendar()
            .await?
            .deadline(start, days)
            .map_err(|e| Error::validation(vec![e]))
    }

    pub async fn calendar_years(&self) -> Result<Vec<YearView>> {
        let rows = self
            .store
            .list_holiday_schedules()
            .await
            .map_err(store_error)?;
        Ok(rows.iter().map(YearView::from).collect())
    }

    pub async fn calendar_year(&self, year: i32) -> Result<YearDetail> {
        let rows = self
            .store
            .list_holiday_schedules()
            .await
            .map_err(store_error)?;
        let row = rows
            .iter()
            .find(|r| r.schedule.year == year)
            .ok_or_else(|| {
                Error::not_found("该年度的节假日安排", "The holiday schedule of this year")
            })?;
        let history = self
            .store
            .list_events(EVENT_OBJECT, &year.to_string())
            .await
            .map_err(store_error)?
            .into_iter()
            .map(EventView::from)
            .collect();
        Ok(YearDetail {
            summary: YearView::from(row),
            schedule: row.schedule.clone(),
            history,
        })
    }

    /// Enters (or corrects) a year's notice: system administrators only, with a reason.
    /// The old days and the new are both kept in the event, so the history shows what
    /// every deadline computed before the change was based on.
    pub async fn put_calendar_year(
        &self,
        caller: &Principal,
        year: i32,
        schedule: YearSchedule,
        reason: &str,
    ) -> Result<YearView> {
        if !caller.has_role(Role::SystemAdmin) {
            return Err(Error::forbidden());
        }
        self.enter_year(Some(caller.user_id), None, year, schedule, reason)
            .await
    }

    /// As `put_calendar_year`, by the operator at the server's console (`gongshu calendar
    /// import`), who is named in the event instead of a user.
    pub async fn import_calendar_year(
        &self,
        operator: &str,
        schedule: YearSchedule,
        reason: &str,
    ) -> Result<YearView> {
        let year = schedule.year;
        self.enter_year(None, Some(operator), year, schedule, reason)
            .await
    }

    async fn enter_year(
        &self,
        actor_id: Option<i64>,
        operator: Option<&str>,
        year: i32,
        schedule: YearSchedule,
        reason: &str,
    ) -> Result<YearView> {
        let mut problems = schedule.problems();
        if schedule.year != year {
            problems.push(FieldError::new(
                "year",
                "mismatch",
                format!("日程年份 {} 与地址中的年份 {year} 不一致", schedule.year),
                format!(
                    "the schedule is for {}, the address names {year}",
                    schedule.year
                ),
            ));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            problems.push(FieldError::new(
                "reason",
                "required",
                "请说明录入或修改的原因（不超过500字），例如国务院通知的文号",
                "give the reason (at most 500 characters), e.g. the notice's reference",
            ));
        }
        if !problems.is_empty() {
            return Err(Error::validation(problems));
        }
        let before = self
            .store
            .list_holiday_schedules()
            .await
            .map_err(store_error)?
            .into_iter()
            .find(|r| r.schedule.year == year)
            .map(|r| r.schedule);
        let object_id = year.to_string();
        let detail = serde_json::json!({
            "before": before,
            "after": &schedule,
            "operator": operator,
        })
        .to_string();
        let row = self
            .store
            .put_holiday_schedule(
                &schedule,
                &NewEvent {
                    at: self.now(),
                    actor_id,
                    object_type: EVENT_OBJECT,
                    object_id: &object_id,
                    action: if before.is_some() {
                        "replaced"
                    } else {
                        "entered"
                    },
                    reason,
                    detail,
                },
            )
            .await
            .map_err(store_error)?;
        tracing::info!(year, user = actor_id, operator, "holiday schedule entered");
        Ok(YearView::from(&row))
    }
}
