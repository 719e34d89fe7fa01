//! Issue 8's evaluation and issue 7's incident records, end to end over HTTP: a known
//! history is seeded in a region of its own (two providers of 泰安), the authority
//! computes the evaluation, and every indicator is checked against that history.

mod common;

use chrono::Duration;
use common::*;
use gongshu_core::calendar::{Calendar, china_date, official_schedules};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CITY: &str = "370900";
const COUNTY: &str = "370902";

async fn provider_org(t: &TestApp, admin: &str, name: &str, region: &str, serial: u32) -> i64 {
    let body = format!("91{region}MA{serial:07}");
    let check = gongshu_core::validate::uscc_check_char(&body).unwrap();
    let (s, org) = t
        .post(
            "/api/v1/organizations",
            Some(admin),
            json!({"name": name, "kind": "provider", "region_code": region,
                   "credit_code": format!("{body}{check}")}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{org}");
    org["id"].as_i64().unwrap()
}

async fn db(t: &TestApp) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        t.data_dir().join("gongshu.db").display()
    ))
    .await
    .unwrap()
}

fn unit<'a>(view: &'a Value, list: &str, key: &str, value: Value) -> &'a Value {
    view[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u[key] == value)
        .unwrap_or_else(|| panic!("{key}={value} not in {list}: {view}"))
}

#[tokio::test]
async fn an_evaluation_derives_every_indicator_from_the_recorded_history() {
    let t = spawn().await;
    let admin = t.token("admin").await;
    let authority = t.token("demo-authority").await;
    let citizen = t
        .user_with_role("eval-citizen", "registered", None, None)
        .await;
    for (code, name) in [(CITY, "泰安市"), (COUNTY, "泰山区")] {
        let (s, reply) = t
            .post(
                "/api/v1/regions",
                Some(&admin),
                json!({"code": code, "name": name}),
            )
            .await;
        assert!(
            s == StatusCode::CREATED || s == StatusCode::CONFLICT,
            "{s} {reply}"
        );
    }
    let org_a = provider_org(&t, &admin, "泰安市测试局", CITY, 1).await;
    let org_b = provider_org(&t, &admin, "泰山区测试局", COUNTY, 2).await;
    let a = t
        .user_with_role("eval-a", "provider_admin", Some(org_a), None)
        .await;
    let b = t
        .user_with_role("eval-b", "provider_admin", Some(org_b), None)
        .await;
    let other_org = t.org_id("山东省教育厅").await;
    let clerk = t
        .user_with_role("eval-clerk", "dept_user", Some(other_org), None)
        .await;

    // Provider A: one entry of each open type; data on the first.
    let a1 = published_entry(&t, &a, entry("泰安市企业名录")).await;
    let a2 = published_entry(&t, &a, conditional_entry("泰安市企业年报")).await;
    let mut shared = entry("泰安市执法检查记录");
    shared["share_type"] = json!("conditional");
    shared["share_condition"] = json!("限履行监管职责使用");
    shared["open_type"] = json!("none");
    shared["legal_basis"] = json!("《山东省电子政务和政务数据管理办法》第二十三条");
    let a3 = published_entry(&t, &a, shared).await;
    // Provider B: one open entry without data.
    let b1 = published_entry(&t, &b, entry("泰山区景区客流")).await;
    let csv = "企业名称,统一社会信用代码\n泰安甲公司,91370900MA3C00001X\n泰安乙公司,\n";
    let job = ingest_ok(&t, a1, &a, "a1.csv", csv.as_bytes(), &[]).await;
    let rid = job["resource_id"].as_str().unwrap().to_owned();

    // Use: one download and one row-API call of A's data.
    let (s, _) = t
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/resources/{rid}/download"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t.get(&format!("/api/v1/resources/{rid}/rows"), None).await;
    assert_eq!(s, StatusCode::OK);
    // And one sandbox query over it (two rows: held for review, still a use).
    let (_, resource) = t.get(&format!("/api/v1/resources/{rid}"), None).await;
    let (s, ran) = t
        .post(
            "/api/v1/sandbox/queries",
            Some(&citizen),
            json!({ "sql": format!("SELECT COUNT(*) AS n FROM {}", resource["table_name"].as_str().unwrap()) }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ran}");

    // An application for A2: checked by the authority, approved by A the same day.
    let (s, app) = t
        .post(
            "/api/v1/applications",
            Some(&citizen),
            json!({"dataset_id": a2, "items": ["企业名称"], "purpose": "研究市场主体活跃度",
                   "scenario": "学术研究", "security_measures": "内网专机", "modes": ["api"],
                   "period_days": 90, "pledge_accepted": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{app}");
    let app_id = app["id"].as_i64().unwrap();
    if app["state"] == "formal_check" {
        let (s, reply) = t
            .post(
                &format!("/api/v1/applications/{app_id}/pass_check"),
                Some(&authority),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{reply}");
    }
    let (s, reply) = t
        .post(
            &format!("/api/v1/applications/{app_id}/approve"),
            Some(&a),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{reply}");
    // A sharing request for A3, approved the same day.
    let (s, share) = t
        .post(
            "/api/v1/applications",
            Some(&clerk),
            json!({"kind": "share", "dataset_id": a3, "purpose": "核查执法记录",
                   "scenario": "年度检查", "security_measures": "政务外网内使用",
                   "legal_duty": "法定监督管理职责", "modes": ["api"], "period_days": 90}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{share}");
    let share_id = share["id"].as_i64().unwrap();
    let (s, reply) = t
        .post(
            &format!("/api/v1/applications/{share_id}/approve"),
            Some(&a),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{reply}");

    // Objections: A answers at once; B's is left past its deadline.
    let (_, oa) = t
        .post(
            "/api/v1/objections",
            Some(&citizen),
            json!({"dataset_id": a1, "kind": "error", "description": "第二行缺少信用代码"}),
        )
        .await;
    let (s, b2) = t
        .post(
            &format!("/api/v1/objections/{}/reply", oa["id"]),
            Some(&a),
            json!({"reply": "已补充"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b2}");
    let (_, ob) = t
        .post(
            "/api/v1/objections",
            Some(&citizen),
            json!({"dataset_id": b1, "kind": "outdated", "description": "客流数据停在去年"}),
        )
        .await;
    // A demand to A, answered after its deadline.
    let (s, demand) = t
        .post(
            "/api/v1/demands",
            Some(&citizen),
            json!({"title": "泰安市企业注销信息", "description": "希望开放泰安市企业注销登记信息",
                   "purpose": "信用研究", "provider_id": org_a}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{demand}");
    let (s, b3) = t
        .post(
            &format!("/api/v1/demands/{}/answer", demand["id"]),
            Some(&a),
            json!({"kind": "already_open", "text": "已开放", "dataset_id": a1}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b3}");
    // A reuse record built on A's data, approved.
    let (_, reuse) = t
        .post(
            "/api/v1/reuses",
            Some(&citizen),
            json!({"name": "泰安企业查询", "kind": "app", "description": "基于泰安市企业名录的查询工具",
                   "link": "https://example.cn/ta", "dataset_ids": [a1, a2]}),
        )
        .await;
    let (s, b4) = t
        .post(
            &format!("/api/v1/reuses/{}/moderate", reuse["id"]),
            Some(&authority),
            json!({"approve": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b4}");
    // An incident touching B's entry.
    let today = china_date(chrono::Utc::now());
    let (s, incident) = t
        .post(
            "/api/v1/incidents",
            Some(&authority),
            json!({"region_code": CITY, "severity": "general", "kind": "leak",
                   "title": "景区客流接口被批量抓取", "occurred_on": today, "discovered_on": today,
                   "description": "监测发现异常批量调用", "dataset_ids": [b1]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{incident}");

    // History the API cannot backdate, seeded in the database: B's objection was received
    // 20 days ago and fell due 6 days ago; the demand came 30 days ago, fell due 16 days
    // ago and was answered 10 days ago; one monitoring alert about A's entry.
    let pool = db(&t).await;
    let day = |n: i64| (today - Duration::days(n)).to_string();
    sqlx::query("UPDATE feedback SET received_on = ?, due_on = ? WHERE id = ?")
        .bind(day(20))
        .bind(day(6))
        .bind(ob["id"].as_i64().unwrap())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE feedback SET received_on = ?, due_on = ?, answered_on = ? WHERE id = ?")
        .bind(day(30))
        .bind(day(16))
        .bind(day(10))
        .bind(demand["id"].as_i64().unwrap())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO alerts (rule, subject, dataset_id, summary_zh, summary_en, evidence, \
         first_at, last_at, created_at) VALUES ('bulk_download', 'user:1', ?, '批量下载', \
         'bulk', '[]', ?, ?, ?)",
    )
    .bind(a1)
    .bind(chrono::Utc::now())
    .bind(chrono::Utc::now())
    .bind(chrono::Utc::now())
    .execute(&pool)
    .await
    .unwrap();

    // What the entries' pages say their quality is.
    let mut metadata = 0.0;
    for id in [a1, a2, a3] {
        let (_, q) = t.get(&format!("/api/v1/datasets/{id}/quality"), None).await;
        metadata += q["score"].as_f64().unwrap();
    }
    let (_, bq) = t.get(&format!("/api/v1/datasets/{b1}/quality"), None).await;
    let (_, rq) = t
        .get(&format!("/api/v1/resources/{rid}/quality"), Some(&a))
        .await;
    let data_score = rq["current"]["score"].as_f64().unwrap();

    // Refusals first: a provider cannot evaluate, a period may not end in the future or
    // run backwards, the region must exist.
    let period = json!({"region_code": CITY, "from": day(60), "to": today});
    let (s, _) = t
        .post("/api/v1/evaluations", Some(&a), period.clone())
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = t
        .post(
            "/api/v1/evaluations",
            Some(&authority),
            json!({"region_code": CITY, "from": today, "to": today + Duration::days(1)}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["to"]);
    let (s, body) = t
        .post(
            "/api/v1/evaluations",
            Some(&authority),
            json!({"region_code": CITY, "from": today, "to": day(1)}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, _) = t
        .post(
            "/api/v1/evaluations",
            Some(&authority),
            json!({"region_code": "379999", "from": day(1), "to": today}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, view) = t
        .post("/api/v1/evaluations", Some(&authority), period.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{view}");
    assert_eq!(view["state"], "draft");
    assert_eq!(
        view["providers"].as_array().unwrap().len(),
        2,
        "only this city's"
    );
    let ua = unit(&view, "providers", "org_id", json!(org_a));
    let ub = unit(&view, "providers", "org_id", json!(org_b));
    let ta = &ua["tally"];
    let tb = &ub["tally"];
    let cal = Calendar::new(official_schedules());
    let late_days =
        cal.working_days_between(today - Duration::days(30), today - Duration::days(10));
    assert_eq!(
        ta,
        &json!({
            "entries": 3, "unconditional": 1, "conditional": 1, "not_open": 1,
            "metadata_quality_sum": metadata, "metadata_quality_n": 3,
            "data_quality_sum": data_score, "data_quality_n": 1,
            "resources_with_cycle": 1, "resources_on_time": 1,
            "share_requests": {"answered_days": [0], "on_time": 1, "overdue": 0, "pending": 0},
            "applications": {"answered_days": [0], "on_time": 1, "overdue": 0, "pending": 0},
            "objections": {"answered_days": [0], "on_time": 1, "overdue": 0, "pending": 0},
            "demands": {"answered_days": [late_days], "on_time": 0, "overdue": 1, "pending": 0},
            "downloads": 1, "api_calls": 1, "sandbox_runs": 1, "reuses": 1, "alerts": 1, "incidents": 0
        }),
        "{ta}"
    );
    assert_eq!(
        tb,
        &json!({
            "entries": 1, "unconditional": 1, "conditional": 0, "not_open": 0,
            "metadata_quality_sum": bq["score"].as_f64().unwrap(), "metadata_quality_n": 1,
            "data_quality_sum": 0.0, "data_quality_n": 0,
            "resources_with_cycle": 0, "resources_on_time": 0,
            "share_requests": {"answered_days": [], "on_time": 0, "overdue": 0, "pending": 0},
            "applications": {"answered_days": [], "on_time": 0, "overdue": 0, "pending": 0},
            "objections": {"answered_days": [], "on_time": 0, "overdue": 1, "pending": 0},
            "demands": {"answered_days": [], "on_time": 0, "overdue": 0, "pending": 0},
            "downloads": 0, "api_calls": 0, "sandbox_runs": 0, "reuses": 0, "alerts": 0, "incidents": 1
        }),
        "{tb}"
    );
    // Scores, by the documented rules.
    let sa = &ua["scored"]["scores"];
    let sb = &ub["scored"]["scores"];
    assert_eq!(sa["entries"], 100.0);
    assert_eq!(sb["entries"], 50.0, "ln 2 / ln 4 of the leader");
    assert_eq!(sa["open_ratio"], 66.67);
    assert_eq!(sb["open_ratio"], 100.0);
    assert_eq!(
        sa["quality"],
        ((metadata / 3.0 + data_score) / 2.0 * 100.0).round() / 100.0
    );
    assert_eq!(sa["on_time_updates"], 100.0);
    assert!(
        sb.get("on_time_updates").is_none(),
        "B has no data to update"
    );
    assert_eq!(sa["share_response"], 100.0);
    assert_eq!(sa["objection_response"], 100.0);
    assert_eq!(sb["objection_response"], 0.0);
    assert_eq!(sa["demand_response"], 0.0);
    assert_eq!(sa["security"], 95.0);
    assert_eq!(sb["security"], 80.0);
    assert_eq!(
        (&sa["downloads"], &sb["downloads"]),
        (&json!(100.0), &json!(0.0))
    );
    assert_eq!((&sa["reuses"], &sb["reuses"]), (&json!(100.0), &json!(0.0)));
    assert_eq!(
        (&sa["sandbox_runs"], &sb["sandbox_runs"]),
        (&json!(100.0), &json!(0.0))
    );
    assert_eq!(ua["scored"]["rank"], 1);
    assert_eq!(ub["scored"]["rank"], 2);
    // Regions: the city's own providers, and the county below it.
    let own = unit(&view, "regions", "region_code", json!(CITY));
    let county = unit(&view, "regions", "region_code", json!(COUNTY));
    assert_eq!(own["tally"], *ta);
    assert_eq!(county["tally"], *tb);
    assert_eq!(county["name"], "泰山区");

    // A draft is the authority's and auditors' only.
    let id = view["id"].as_i64().unwrap();
    let path = format!("/api/v1/evaluations/{id}");
    assert_eq!(t.get(&path, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.get(&path, Some(&a)).await.0, StatusCode::NOT_FOUND);
    let auditor = t.token("demo-auditor").await;
    assert_eq!(t.get(&path, Some(&auditor)).await.0, StatusCode::OK);
    let (_, public) = t.get("/api/v1/evaluations", None).await;
    assert!(
        !public.to_string().contains(&format!("\"id\":{id},")),
        "{public}"
    );
    // Release: the report is public, the providers are told; it cannot be released twice.
    let release = format!("{path}/release");
    assert_eq!(
        t.post(&release, Some(&a), json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, released) = t.post(&release, Some(&authority), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{released}");
    assert_eq!(released["state"], "released");
    assert_eq!(
        t.post(&release, Some(&authority), json!({})).await.0,
        StatusCode::CONFLICT
    );
    let (s, seen) = t.get(&path, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(seen["providers"], view["providers"], "frozen as computed");
    let (_, inbox) = t.get("/api/v1/inbox", Some(&b)).await;
    assert!(inbox.to_string().contains("evaluation_released"), "{inbox}");
    let (_, list) = t
        .get(&format!("/api/v1/evaluations?region={CITY}"), None)
        .await;
    assert_eq!(list[0]["id"], id, "{list}");

    // Every figure as CSV and XLSX.
    let resp = t
        .client
        .get(t.url(&format!("{path}/export?format=csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = String::from_utf8(resp.bytes().await.unwrap().to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("\u{feff}类别,排名,名称"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 5, "two providers, two regions: {text}");
    assert!(lines[1].contains("泰安市测试局"), "{text}");
    let columns = lines[0].split(',').count();
    assert!(lines.iter().all(|l| l.split(',').count() == columns));
    let resp = t
        .client
        .get(t.url(&format!("{path}/export?format=xlsx")))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.bytes().await.unwrap();
    use calamine::Reader as _;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let sheet = book.worksheet_range("evaluation").unwrap();
    assert_eq!(sheet.height(), 5);
    assert_eq!(sheet.get((0, 0)).unwrap().to_string(), "Kind");
    assert_eq!(
        sheet.get((1, 4)).unwrap().to_string(),
        ua["scored"]["total"].as_f64().unwrap().to_string()
    );
    assert_eq!(
        t.get(&format!("{path}/export?format=pdf"), None).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // The authority's own weights: refused when out of range, and used next time.
    let scheme_path = format!("/api/v1/evaluation-schemes/{CITY}");
    let (_, default) = t.get(&scheme_path, None).await;
    assert_eq!(default["weights"]["open_ratio"], 10.0);
    let mut bad = default.clone();
    bad["weights"]["reuses"] = json!(101);
    let (s, body) = t.put(&scheme_path, Some(&authority), bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        t.put(&scheme_path, Some(&a), default.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let only_security =
        json!({"weights": {"security": 1}, "incident_penalty": 50, "alert_penalty": 10});
    let (s, body) = t.put(&scheme_path, Some(&authority), only_security).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, again) = t
        .post("/api/v1/evaluations", Some(&authority), period)
        .await;
    let ua = unit(&again, "providers", "org_id", json!(org_a));
    let ub = unit(&again, "providers", "org_id", json!(org_b));
    assert_eq!(ua["scored"]["total"], 90.0);
    assert_eq!(ub["scored"]["total"], 50.0);
    assert_eq!(ua["scored"]["scores"].as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn incidents_are_recorded_reported_and_closed() {
    let t = spawn().await;
    let authority = t.token("demo-authority").await;
    let provider = t.token("demo-provider").await;
    let auditor = t.token("demo-auditor").await;
    let citizen = t
        .user_with_role("inc-citizen", "registered", None, None)
        .await;
    let dataset = published_entry(&t, &provider, entry("事件关联目录")).await;
    let today = china_date(chrono::Utc::now());
    let record = json!({"region_code": "370000", "severity": "major", "kind": "leak",
        "title": "企业名录接口数据外泄", "occurred_on": today, "discovered_on": today,
        "description": "第三方平台出现本平台企业名录的完整副本", "affected_data": "企业名称、信用代码",
        "affected_people": 0, "dataset_ids": [dataset]});

    // Only the authority records; dates and entries are checked.
    assert_eq!(
        t.post("/api/v1/incidents", Some(&provider), record.clone())
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.post("/api/v1/incidents", None, record.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let mut bad = record.clone();
    bad["occurred_on"] = json!(today + Duration::days(1));
    bad["dataset_ids"] = json!([999_999]);
    bad["title"] = json!("");
    let (s, body) = t.post("/api/v1/incidents", Some(&authority), bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mut fields = error_fields(&body);
    fields.sort_unstable();
    assert_eq!(fields, ["dataset_ids[0]", "occurred_on", "title"]);

    let (s, incident) = t.post("/api/v1/incidents", Some(&authority), record).await;
    assert_eq!(s, StatusCode::CREATED, "{incident}");
    assert_eq!(incident["state"], "open");
    assert_eq!(incident["datasets"][0]["id"], dataset);
    let id = incident["id"].as_i64().unwrap();
    let path = format!("/api/v1/incidents/{id}");
    // The provider whose data it touched is told and reads it; the auditor reads it; a
    // citizen does not.
    let (_, inbox) = t.get("/api/v1/inbox", Some(&provider)).await;
    assert!(inbox.to_string().contains("incident_recorded"), "{inbox}");
    assert_eq!(t.get(&path, Some(&provider)).await.0, StatusCode::OK);
    assert_eq!(t.get(&path, Some(&auditor)).await.0, StatusCode::OK);
    assert_eq!(t.get(&path, Some(&citizen)).await.0, StatusCode::NOT_FOUND);
    let (_, mine) = t.get("/api/v1/incidents", Some(&provider)).await;
    assert_eq!(mine["total"], 1, "{mine}");
    let (_, theirs) = t.get("/api/v1/incidents", Some(&citizen)).await;
    assert_eq!(theirs["total"], 0, "{theirs}");

    // Measures, a report, the notice to the people affected, a public warning.
    let updates = format!("{path}/updates");
    assert_eq!(
        t.post(&updates, Some(&provider), json!({"measure": "x"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, body) = t.post(&updates, Some(&authority), json!({})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, updated) = t
        .post(
            &updates,
            Some(&authority),
            json!({"measure": "已停用相关接口令牌并更换密钥",
                   "report": {"to": "省委网信办", "on": today, "reference": "鲁网信〔2026〕1号"},
                   "subjects_notified": {"on": today, "how": "门户公告"},
                   "public_warning": "请勿轻信来源不明的企业名录数据"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_eq!(updated["measures"].as_array().unwrap().len(), 1);
    assert_eq!(updated["reports"][0]["to"], "省委网信办");
    let (_, notices) = t.get("/api/v1/security-notices", None).await;
    assert_eq!(
        notices[0]["warning"], "请勿轻信来源不明的企业名录数据",
        "{notices}"
    );
    assert_eq!(notices[0]["id"], id);
    // Closed with a conclusion; nothing more after that.
    let (s, closed) = t
        .post(
            &updates,
            Some(&authority),
            json!({"conclusion": "已查明原因并整改"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{closed}");
    assert_eq!(closed["state"], "closed");
    assert!(closed["closed_at"].is_string());
    assert_eq!(
        t.post(&updates, Some(&authority), json!({"measure": "追加"}))
            .await
            .0,
        StatusCode::CONFLICT
    );
}
