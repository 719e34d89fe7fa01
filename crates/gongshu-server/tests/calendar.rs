//! The working-day calendar over HTTP: deadlines from the shipped notices, and a system
//! administrator entering the next year's notice, with its history.

mod common;

use common::spawn;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn deadline(t: &common::TestApp, start: &str, days: &str) -> (StatusCode, Value) {
    t.get(
        &format!("/api/v1/calendar/deadline?start={start}&days={days}"),
        None,
    )
    .await
}

#[tokio::test]
async fn deadlines_follow_the_notices() {
    let t = spawn().await;
    // Spring Festival 2026: 02-15..02-23 off, Saturday 02-28 worked.
    let (s, body) = deadline(&t, "2026-02-13", "10").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"start": "2026-02-13", "days": 10, "deadline": "2026-03-05", "provisional": false})
    );
    // Into 2027, whose notice is not out: weekends only, flagged.
    let (_, body) = deadline(&t, "2026-12-25", "10").await;
    assert_eq!(body["deadline"], "2027-01-08");
    assert_eq!(body["provisional"], true);

    // Bad input: a clear error naming the field, nothing computed.
    for (start, days, field) in [
        ("2026-02-30", "1", "start"),
        ("20260213", "1", "start"),
        ("2026-02-13", "-1", "days"),
        ("2026-02-13", "ten", "days"),
        ("2026-02-13", "0", "days"),
        ("2026-02-13", "1001", "days"),
        ("2026-02-13", "99999999999", "days"),
    ] {
        let (s, body) = deadline(&t, start, days).await;
        assert_eq!(
            s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{start} {days}: {body}"
        );
        assert_eq!(body["error"]["fields"][0]["field"], field, "{body}");
    }
    let (s, _) = t
        .get("/api/v1/calendar/deadline?start=2026-02-13", None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

fn notice_2027() -> Value {
    // Not the real 2027 notice, which was not out when this was written: a plausible
    // New Year's Day and Spring Festival, enough to move deadlines.
    json!({
        "$schema": "https://raw.githubusercontent.com/NateScarlet/holiday-cn/master/schema.json",
        "year": 2027,
        "papers": ["https://www.gov.cn/zhengce/example-2027"],
        "days": [
            {"name": "元旦", "date": "2027-01-01", "isOffDay": true},
            {"name": "春节", "date": "2027-02-06", "isOffDay": false},
            {"name": "春节", "date": "2027-02-08", "isOffDay": true},
            {"name": "春节", "date": "2027-02-09", "isOffDay": true},
        ]
    })
}

#[tokio::test]
async fn the_administrator_enters_a_new_year() {
    let t = spawn().await;
    let (s, years) = t.get("/api/v1/calendar/years", None).await;
    assert_eq!(s, StatusCode::OK);
    let listed: Vec<i64> = years
        .as_array()
        .unwrap()
        .iter()
        .map(|y| y["year"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, (2019..=2026).collect::<Vec<_>>());
    assert_eq!(years[7]["source"], "official");
    let (s, _) = t.get("/api/v1/calendar/years/2027", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let admin = t.token("admin").await;
    let provider = t.token("demo-provider").await;
    let path = "/api/v1/calendar/years/2027?reason=国办发明电〔2026〕号通知";

    // Only the system administrator; a provider and an anonymous caller change nothing.
    let (s, _) = t.put(path, Some(&provider), notice_2027()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = t.put(path, None, notice_2027()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Malformed notices are refused with the fields named.
    let mut wrong_year = notice_2027();
    wrong_year["days"][0]["date"] = json!("2025-01-01");
    wrong_year["days"][1]["date"] = json!("2027-02-08");
    let (s, body) = t.put(path, Some(&admin), wrong_year).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        common::error_fields(&body),
        ["days[0].date", "days[2].date"]
    );
    let (s, _) = t
        .put(
            "/api/v1/calendar/years/2028?reason=x",
            Some(&admin),
            notice_2027(),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, body) = t
        .put("/api/v1/calendar/years/2027", Some(&admin), notice_2027())
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["fields"][0]["field"], "reason");
    let (s, _) = t
        .put(path, Some(&admin), json!({"year": 2027, "days": "soon"}))
        .await;
    assert!(s.is_client_error(), "{s}");
    let (s, _) = t.get("/api/v1/calendar/years/2027", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was stored");

    // Before the notice: New Year's Day 2027 counts as a working day, provisionally.
    let (_, before) = deadline(&t, "2026-12-31", "1").await;
    assert_eq!(
        (&before["deadline"], &before["provisional"]),
        (&json!("2027-01-01"), &json!(true))
    );

    let (s, view) = t.put(path, Some(&admin), notice_2027()).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(
        (&view["source"], &view["rest_days"], &view["make_up_days"]),
        (&json!("admin"), &json!(3), &json!(1))
    );

    // From the next request on, deadlines use it and are no longer provisional.
    let (_, after) = deadline(&t, "2026-12-31", "1").await;
    assert_eq!(
        (&after["deadline"], &after["provisional"]),
        (&json!("2027-01-04"), &json!(false))
    );
    // Saturday 2027-02-06 is worked; 02-08 and 02-09 are not.
    let (_, spring) = deadline(&t, "2027-02-05", "2").await;
    assert_eq!(spring["deadline"], "2027-02-10");

    // A correction replaces it; the history keeps both, with who and why.
    let mut corrected = notice_2027();
    corrected["days"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "春节", "date": "2027-02-10", "isOffDay": true}));
    let (s, _) = t
        .put(
            "/api/v1/calendar/years/2027?reason=更正：补录2月10日",
            Some(&admin),
            corrected,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, year) = t.get("/api/v1/calendar/years/2027", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(year["schedule"]["days"].as_array().unwrap().len(), 5);
    let history = year["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["action"], "entered");
    assert_eq!(history[0]["detail"]["before"], Value::Null);
    assert_eq!(history[1]["action"], "replaced");
    assert_eq!(history[1]["reason"], "更正：补录2月10日");
    assert_eq!(
        history[1]["detail"]["before"]["days"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert!(history[1]["actor_id"].is_i64());
}

/// A year the administrator entered survives restarts: the shipped notices never
/// overwrite it, and events cannot be edited away.
#[tokio::test]
async fn entries_survive_a_restart_and_events_are_append_only() {
    use gongshu_server::{Bootstrap, open_app};
    let dir = tempfile::tempdir().unwrap();
    let boot = Bootstrap {
        create_admin: true,
        admin_password: Some(common::ADMIN_PASSWORD.into()),
        ..Bootstrap::default()
    };
    let (app, _) = open_app(dir.path(), &boot).await.unwrap();
    let user = app.login("admin", common::ADMIN_PASSWORD).await.unwrap();
    let admin = app.principal_of(&user).await.unwrap();
    let mut schedule = app.calendar_year(2026).await.unwrap().schedule;
    schedule.days.retain(|d| d.name != "国庆节");
    app.put_calendar_year(&admin, 2026, schedule, "测试：删去国庆节")
        .await
        .unwrap();
    drop(app);

    let (app, _) = open_app(dir.path(), &boot).await.unwrap();
    let year = app.calendar_year(2026).await.unwrap();
    assert_eq!(year.summary.source, "admin");
    assert!(year.schedule.days.iter().all(|d| d.name != "国庆节"));
    assert_eq!(year.history.len(), 1);

    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("gongshu.db").display()
    ))
    .await
    .unwrap();
    for sql in ["UPDATE events SET reason = 'nothing'", "DELETE FROM events"] {
        let err = sqlx::query(sql).execute(&db).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}
