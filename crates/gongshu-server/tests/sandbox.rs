//! Issue 9: the analysis sandbox end to end. A grantee computes aggregates over raw data
//! it may not read; what leaves passes disclosure control, or two reviewers of the
//! provider; hostile queries are refused and the server stays healthy.

mod common;

use common::{conditional_entry, grant, ingest_ok, published_entry, spawn};
use gongshu_app::gongshu_core::access::{GrantKind, GrantMode};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// 40 people in 历下区, 27 in 市中区, 3 in 槐荫区; one 市中区 income dwarfs the rest
/// only when asked for alone.
fn people_csv() -> String {
    let mut csv = String::from("身份证号,姓名,区县,年龄,收入\n");
    let mut n = 0u32;
    for (district, people) in [("历下区", 40), ("市中区", 27), ("槐荫区", 3)] {
        for _ in 0..people {
            n += 1;
            let body = format!("37010219900101{:03}", n % 1000);
            let check = "0123456789X"
                .chars()
                .find(|c| {
                    gongshu_app::gongshu_core::validate::check_resident_id(&format!("{body}{c}"))
                        .is_ok()
                })
                .unwrap();
            csv.push_str(&format!(
                "{body}{check},居民{n},{district},{},{}\n",
                20 + n % 40,
                3000 + 10 * n
            ));
        }
    }
    csv
}

async fn run(t: &common::TestApp, token: &str, sql: &str) -> (StatusCode, Value) {
    t.post(
        "/api/v1/sandbox/queries",
        Some(token),
        json!({ "sql": sql }),
    )
    .await
}

/// A published conditional entry holding `people_csv`, and a registered researcher:
/// (app, provider token, dataset id, resource id, table name, researcher token, id).
async fn published_people(
    title: &str,
    researcher: &str,
) -> (common::TestApp, String, i64, String, String, String, i64) {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let dataset = published_entry(&t, &provider, conditional_entry(title)).await;
    let job = ingest_ok(
        &t,
        dataset,
        &provider,
        "p.csv",
        people_csv().as_bytes(),
        &[],
    )
    .await;
    let rid = job["resource_id"].as_str().unwrap().to_owned();
    let (_, resource) = t
        .get(&format!("/api/v1/resources/{rid}"), Some(&provider))
        .await;
    let table = resource["table_name"].as_str().unwrap().to_owned();
    let token = t.user_with_role(researcher, "registered", None, None).await;
    let (_, me) = t.get("/api/v1/me", Some(&token)).await;
    let id = me["id"].as_i64().unwrap();
    (t, provider, dataset, rid, table, token, id)
}

/// A sandbox grant on the entry for the user, in force from an hour ago for a day.
async fn sandbox_grant(t: &common::TestApp, dataset: i64, user: i64) -> i64 {
    let (_, id) = grant(
        t,
        GrantKind::Open,
        dataset,
        (Some(user), None),
        &[GrantMode::Sandbox],
        (-1, 24),
        None,
    )
    .await;
    id
}

#[tokio::test]
async fn a_grantee_gets_aggregates_that_single_no_one_out() {
    let (t, provider, dataset, rid, table, researcher, researcher_id) =
        published_people("沙箱测试人员表", "sandbox-researcher").await;
    let by_district = format!(
        "SELECT 区县, COUNT(*) AS 人数, AVG(收入) AS 平均收入 FROM {table} GROUP BY 区县 ORDER BY 区县"
    );

    // No grant: refused. A grant for the API only: refused for the sandbox.
    let (s, body) = run(&t, &researcher, &by_district).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    grant(
        &t,
        GrantKind::Open,
        dataset,
        (Some(researcher_id), None),
        &[GrantMode::Api],
        (-1, 24),
        None,
    )
    .await;
    let (s, body) = run(&t, &researcher, &by_district).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    // A sandbox grant reads no rows.
    sandbox_grant(&t, dataset, researcher_id).await;
    let (s, _) = t
        .get(&format!("/api/v1/resources/{rid}/rows"), Some(&researcher))
        .await;
    assert_eq!(s, StatusCode::OK, "the API grant is still in force");

    // Released at once: no group is small, no mean is dominated.
    let (s, clean) = run(
        &t,
        &researcher,
        &format!(
            "SELECT COUNT(*) AS 人数, AVG(年龄) AS 平均年龄 FROM {table} WHERE 区县 <> '槐荫区'"
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{clean}");
    assert_eq!(clean["state"], "released", "{clean}");
    assert_eq!(clean["result"]["rows"][0]["人数"], 65, "67 rounded to 5");
    assert!(
        clean["result"]["attribution"][0]
            .as_str()
            .unwrap()
            .contains("沙箱测试人员表")
    );
    assert!(clean.get("withheld").is_none_or(Value::is_null), "{clean}");
    // The released result downloads with its sources, in three formats.
    let download = |format: &str| {
        format!(
            "/api/v1/sandbox/queries/{}/download?format={format}",
            clean["id"]
        )
    };
    let resp = reqwest::Client::new()
        .get(t.url(&download("csv")))
        .bearer_auth(&researcher)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines[0], "人数,平均年龄", "{csv}");
    assert!(lines[1].starts_with("65,"), "{csv}");
    assert!(
        csv.contains("数据来源") && csv.contains("沙箱测试人员表"),
        "{csv}"
    );
    let resp = reqwest::Client::new()
        .get(t.url(&download("xlsx")))
        .bearer_auth(&researcher)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let xlsx = resp.bytes().await.unwrap();
    assert_eq!(&xlsx[..2], b"PK", "an XLSX file is a zip");
    let (s, json) = t.get(&download("json"), Some(&researcher)).await;
    assert_eq!(
        (s, &json["sha256"]),
        (StatusCode::OK, &clean["result"]["sha256"])
    );
    let (s, _) = t.get(&download("pdf"), Some(&researcher)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Past the retention period the figures go; the record stays.
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        t.data_dir().join("gongshu.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE sandbox_queries SET created_at = '2020-01-01T00:00:00Z' WHERE id = ?")
        .bind(clean["id"].as_i64().unwrap())
        .execute(&db)
        .await
        .unwrap();
    let mut expired = Value::Null;
    for _ in 0..100 {
        let (_, q) = t
            .get(
                &format!("/api/v1/sandbox/queries/{}", clean["id"]),
                Some(&researcher),
            )
            .await;
        if q["expired"] == true {
            expired = q;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(expired["result"].is_null(), "{expired}");
    assert_eq!(expired["state"], "released");
    let (s, _) = t.get(&download("csv"), Some(&researcher)).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // By district: 槐荫区 is too small, so it and the next smallest are withheld, and
    // the result waits for two reviewers.
    let (s, held) = run(&t, &researcher, &by_district).await;
    assert_eq!(s, StatusCode::CREATED, "{held}");
    assert_eq!(held["state"], "review", "{held}");
    assert_eq!(held["withheld_groups"], 2);
    let (s, _) = t
        .get(
            &format!("/api/v1/sandbox/queries/{}/download", held["id"]),
            Some(&researcher),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "a held result is not downloaded");
    assert!(
        held["result"].is_null(),
        "nothing leaves before review: {held}"
    );
    let id = held["id"].as_i64().unwrap();
    let path = format!("/api/v1/sandbox/queries/{id}");
    let (_, mine) = t.get(&path, Some(&researcher)).await;
    assert!(mine["result"].is_null());

    // Reviewers: the provider's, not the requester, two different people.
    let (_, reviewer_view) = t.get(&path, Some(&provider)).await;
    let rows = reviewer_view["result"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{reviewer_view}");
    assert_eq!(rows[0]["区县"], "历下区");
    assert_eq!(reviewer_view["withheld"].as_array().unwrap().len(), 2);
    let reviews = format!("{path}/reviews");
    let (s, _) = t
        .post(&reviews, Some(&researcher), json!({"approve": true}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "the requester cannot review");
    let org = t.org_id("山东省市场监督管理局").await;
    let second = t
        .user_with_role("amr-reviewer", "provider_reviewer", Some(org), None)
        .await;
    let (s, one) = t
        .post(&reviews, Some(&provider), json!({"approve": true}))
        .await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["state"], "review");
    let (s, _) = t
        .post(&reviews, Some(&provider), json!({"approve": true}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "one reviewer counts once");
    let (s, done) = t
        .post(
            &reviews,
            Some(&second),
            json!({"approve": true, "note": "已核"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "released");
    let (_, mine) = t.get(&path, Some(&researcher)).await;
    assert_eq!(
        mine["result"]["rows"].as_array().unwrap().len(),
        1,
        "{mine}"
    );
    let sha = mine["result"]["sha256"].as_str().unwrap().to_owned();

    // The release is in the audit log with the result's hash; no raw value is anywhere.
    let auditor = t.token("demo-auditor").await;
    let (_, log) = t
        .get(
            "/api/v1/audit/entries?action=sandbox.release",
            Some(&auditor),
        )
        .await;
    assert!(log.to_string().contains(&sha), "{log}");
    for leak in ["居民", "370102199001"] {
        assert!(!mine.to_string().contains(leak), "{mine}");
        assert!(!log.to_string().contains(leak), "{log}");
    }

    // Differencing: the same count with one person filtered out differs by one.
    let (s, first) = run(
        &t,
        &researcher,
        &format!("SELECT COUNT(*) FROM {table} WHERE 年龄 > 25"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(first["state"], "released", "{first}");
    let (s, second_q) = run(
        &t,
        &researcher,
        &format!("SELECT COUNT(*) FROM {table} WHERE 年龄 > 25 AND 收入 <> 3100"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(second_q["state"], "review", "{second_q}");
    let (_, flagged) = t
        .get(
            &format!("/api/v1/sandbox/queries/{}", second_q["id"]),
            Some(&provider),
        )
        .await;
    assert_eq!(flagged["flag"]["earlier_query"], first["id"], "{flagged}");
    let (_, log) = t
        .get(
            "/api/v1/audit/entries?action=sandbox.differencing",
            Some(&auditor),
        )
        .await;
    assert!(log.to_string().contains("sandbox.differencing"), "{log}");
}

#[tokio::test]
async fn hostile_queries_are_refused_and_the_server_stays_healthy() {
    let (t, _, dataset, _, table, researcher, researcher_id) =
        published_people("沙箱攻击测试", "sandbox-attacker").await;
    sandbox_grant(&t, dataset, researcher_id).await;
    let attacks = [
        format!("SELECT * FROM {table}"),
        format!("SELECT 姓名, COUNT(*) FROM {table} GROUP BY 姓名"),
        format!("SELECT MAX(身份证号) FROM {table}"),
        format!("SELECT SUM(CASE WHEN 姓名 = '居民1' THEN 收入 END) FROM {table}"),
        format!("SELECT COUNT(*) FROM {table} a CROSS JOIN {table} b"),
        format!("SELECT COUNT(*) FROM (SELECT * FROM {table}) s"),
        format!("SELECT 区县, COUNT(*) OVER () FROM {table}"),
        "SELECT COUNT(*) FROM read_parquet('/etc/passwd')".to_owned(),
        format!("DROP TABLE {table}"),
        format!("SET datafusion.execution.batch_size = 1; SELECT COUNT(*) FROM {table}"),
        format!(
            "SELECT COUNT(*) FROM {table} WHERE 年龄 IN ({})",
            vec!["1"; 5000].join(",")
        ),
        format!(
            "SELECT COUNT(*) FROM {table} WHERE {}1=1{}",
            "(".repeat(500),
            ")".repeat(500)
        ),
    ];
    for sql in &attacks {
        let (s, body) = run(&t, &researcher, sql).await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::PAYLOAD_TOO_LARGE,
            "{sql}: {s} {body}"
        );
    }
    // Row extraction by a unique column: every group is one person, nothing leaves.
    let (s, body) = run(
        &t,
        &researcher,
        &format!("SELECT 年龄, 收入, COUNT(*) FROM {table} GROUP BY 年龄, 收入"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "review");
    assert!(body["result"].is_null());
    // A cartesian explosion is stopped by the limits, and the server still answers.
    let (s, body) = run(
        &t,
        &researcher,
        &format!(
            "SELECT COUNT(*) FROM {table} a JOIN {table} b ON a.区县 = b.区县 JOIN {table} c ON b.区县 = c.区县 \
             JOIN {table} d ON c.区县 = d.区县 JOIN {table} e ON d.区县 = e.区县"
        ),
    )
    .await;
    assert!(
        s.is_client_error() || s.is_server_error() || s == StatusCode::CREATED,
        "{s} {body}"
    );
    let (s, _) = t.get("/healthz", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, ok) = run(&t, &researcher, &format!("SELECT COUNT(*) FROM {table}")).await;
    assert_eq!(s, StatusCode::CREATED, "{ok}");
}

/// Verification (核验): the provider enables it on two columns; a grantee checks what it
/// holds and learns yes or no, never a value; the daily checks hold; a file of guesses
/// raises the enumeration alert.
#[tokio::test]
async fn verification_answers_yes_or_no_under_its_grant() {
    let (t, provider, dataset, rid, _table, researcher, researcher_id) =
        published_people("核验测试人员表", "verify-researcher").await;
    let csv = people_csv();
    let first: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let (id_number, name) = (first[0], first[1]);
    let settings = format!("/api/v1/resources/{rid}/verification");
    let check = format!("/api/v1/verify/{rid}");

    // Not offered yet; only the provider may offer it, on columns the table has.
    let (s, none) = t.get(&settings, Some(&researcher)).await;
    assert_eq!((s, &none), (StatusCode::OK, &Value::Null));
    let offer = json!({ "enabled": true, "key_columns": ["身份证号", "姓名"],
        "answer": "fields", "daily_checks": 80 });
    let (s, _) = t.put(&settings, Some(&researcher), offer.clone()).await;
    assert!(
        matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{s}"
    );
    let (s, body) = t
        .put(
            &settings,
            Some(&provider),
            json!({ "enabled": true, "key_columns": ["身份证号", "住址"] }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, body) = t.put(&settings, Some(&provider), offer).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["daily_checks"], 80);

    // A grant with another mode does not verify.
    let one = json!({ "values": { "身份证号": id_number, "姓名": name } });
    let (s, body) = t.post(&check, Some(&researcher), one.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    grant(
        &t,
        GrantKind::Open,
        dataset,
        (Some(researcher_id), None),
        &[GrantMode::Verification],
        (-1, 24),
        None,
    )
    .await;
    let (s, _) = t
        .get(&format!("/api/v1/resources/{rid}/rows"), Some(&researcher))
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "a verification grant reads no rows"
    );

    let (s, yes) = t.post(&check, Some(&researcher), one).await;
    assert_eq!(s, StatusCode::OK, "{yes}");
    assert_eq!(
        yes,
        json!({ "match": true, "fields": { "身份证号": true, "姓名": true } })
    );
    // Full-width digits, a lower-case check character and spaces are the same value.
    let wide: String = id_number
        .chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 + 0xfee0).unwrap(),
            'X' => 'x',
            c => c,
        })
        .collect();
    let (_, same) = t
        .post(
            &check,
            Some(&researcher),
            json!({ "values": { "身份证号": format!(" {wide} "), "姓名": name } }),
        )
        .await;
    assert_eq!(same["match"], true, "{same}");
    let (_, wrong_name) = t
        .post(
            &check,
            Some(&researcher),
            json!({ "values": { "身份证号": id_number, "姓名": "别人" } }),
        )
        .await;
    assert_eq!(
        wrong_name,
        json!({ "match": false, "fields": { "身份证号": true, "姓名": false } })
    );
    // Missing, extra and hostile input.
    for bad in [
        json!({ "values": { "身份证号": id_number } }),
        json!({ "values": { "身份证号": id_number, "姓名": name, "收入": "1" } }),
        json!({ "values": { "身份证号": id_number, "姓名": "" } }),
        json!({ "values": { "身份证号": "x".repeat(500), "姓名": name } }),
    ] {
        let (s, body) = t.post(&check, Some(&researcher), bad).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }

    // A batch file answered as CSV, by the line in the file.
    let resp = reqwest::Client::new()
        .post(t.url(&format!("/api/v1/verify/{rid}/batch")))
        .bearer_auth(&researcher)
        .body(format!(
            "身份证号,姓名\n{id_number},{name}\n{id_number},别人\n"
        ))
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
    let answers = resp.text().await.unwrap();
    let lines: Vec<&str> = answers.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines,
        [
            "行号 (row),核验结果 (match),身份证号一致,姓名一致",
            "2,是,是,是",
            "3,否,是,否"
        ]
    );

    // A batch file (GBK): answers by line, nothing of the table in them.
    let mut file = String::from("序号,姓名,身份证号\n");
    file.push_str(&format!("1,{name},{id_number}\n"));
    for k in 0..60 {
        file.push_str(&format!("{},某人,1100001990010{k:05}\n", k + 2));
    }
    let (gbk, _, _) = encoding_rs::GBK.encode(&file);
    let resp = reqwest::Client::new()
        .post(t.url(&format!("/api/v1/verify/{rid}/batch?format=json")))
        .bearer_auth(&researcher)
        .header("content-type", "text/csv")
        .body(gbk.into_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let batch: Value = resp.json().await.unwrap();
    let answers = batch["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 61);
    assert_eq!(answers[0]["line"], 2);
    assert_eq!(answers[0]["match"], true);
    assert!(answers[1..].iter().all(|a| a["match"] == false));
    assert_eq!(batch["checks_left_today"], 80 - 3 - 2 - 61);
    let text = batch.to_string();
    for row in csv.lines().skip(2).take(10) {
        let other_name = row.split(',').nth(1).unwrap();
        assert!(!text.contains(other_name), "a value of the table leaked");
    }

    // The day's checks run out: 14 left, a batch of 61 is refused whole.
    let resp = reqwest::Client::new()
        .post(t.url(&format!("/api/v1/verify/{rid}/batch")))
        .bearer_auth(&researcher)
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));

    // 60 misses in a minute: the enumeration alert, for the provider to see.
    let mut rules = Vec::new();
    for _ in 0..100 {
        let (_, page) = t.get("/api/v1/alerts", Some(&provider)).await;
        rules = page["items"]
            .as_array()
            .map(|a| a.iter().map(|x| x["rule"].clone()).collect())
            .unwrap_or_default();
        if rules.contains(&json!("verification_enumeration")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        rules.contains(&json!("verification_enumeration")),
        "{rules:?}"
    );
}

/// Models (R7.2): the provider publishes a parameterised aggregate; its grantees, or
/// everyone for a public model, run it with their values and get the protected result
/// without review; a value cannot escape its literal; a run that differs from an earlier
/// one by a person is held; a retired model no longer runs.
#[tokio::test]
async fn providers_publish_models_that_grantees_run_without_review() {
    let (t, provider, dataset, _rid, table, researcher, researcher_id) =
        published_people("模型测试人员表", "model-researcher").await;
    let by_district = format!(
        "SELECT 区县, COUNT(*) AS 人数, AVG(收入) AS 平均收入 FROM {table} \
         WHERE 年龄 >= :min_age GROUP BY 区县 ORDER BY 区县"
    );
    let age = json!({ "name": "min_age", "label": "最低年龄", "type": "integer",
        "default": "20", "min": 0, "max": 120 });
    let model = |sql: &str, public: bool| {
        json!({ "dataset_id": dataset, "name": "各区县人数与平均收入",
            "description": "按区县汇总", "sql": sql, "params": [age.clone()], "public": public })
    };

    // Only the provider publishes, and only what the sandbox would run.
    let (s, _) = t
        .post(
            "/api/v1/models",
            Some(&researcher),
            model(&by_district, false),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = t
        .post(
            "/api/v1/models",
            Some(&provider),
            model(
                &format!("SELECT 姓名 FROM {table} WHERE 年龄 >= :min_age"),
                false,
            ),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, body) = t
        .post(
            "/api/v1/models",
            Some(&provider),
            model(
                &format!("SELECT COUNT(*) FROM {table} WHERE 年龄 >= :nope"),
                false,
            ),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, created) = t
        .post(
            "/api/v1/models",
            Some(&provider),
            model(&by_district, false),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (_, listed) = t
        .get(&format!("/api/v1/datasets/{dataset}/models"), None)
        .await;
    assert_eq!(listed[0]["id"], id, "{listed}");
    let runs = format!("/api/v1/models/{id}/runs");

    // A grantee's model: refused without a sandbox grant.
    let (s, body) = t.post(&runs, Some(&researcher), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    sandbox_grant(&t, dataset, researcher_id).await;
    // Released at once: 槐荫区 is withheld, and no reviewer is needed.
    let (s, first) = t.post(&runs, Some(&researcher), json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["state"], "released", "{first}");
    assert_eq!(first["model"], id);
    let rows = first["result"]["rows"].as_array().unwrap();
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r["区县"] != "槐荫区"),
        "{first}"
    );
    assert!(first["withheld_groups"].as_u64().unwrap() >= 1, "{first}");
    // Values that are not of the parameter's type, or out of its range, are refused.
    for bad in ["20 OR 1=1", "200", "二十"] {
        let (s, body) = t
            .post(
                &runs,
                Some(&researcher),
                json!({ "params": { "min_age": bad } }),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (s, _) = t
        .post(
            &runs,
            Some(&researcher),
            json!({ "params": { "other": "1" } }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // One year more leaves one person out of 历下区: held as differencing.
    let (s, second) = t
        .post(
            &runs,
            Some(&researcher),
            json!({ "params": { "min_age": "21" } }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    assert_eq!(second["state"], "review", "{second}");

    // A public model runs for anyone signed in, with no grant.
    let (_, public) = t
        .post("/api/v1/models", Some(&provider), model(&by_district, true))
        .await;
    let stranger = t
        .user_with_role("model-stranger", "registered", None, None)
        .await;
    let public_runs = format!("/api/v1/models/{}/runs", public["id"]);
    let (s, ran) = t.post(&public_runs, Some(&stranger), json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{ran}");
    assert_eq!(ran["state"], "released", "{ran}");
    let (s, _) = t.post(&runs, Some(&stranger), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "the other model is for grantees");

    // Retired: no longer listed or run.
    let (s, _) = t
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/models/{id}"),
            Some(&researcher),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, retired) = t
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/models/{id}"),
            Some(&provider),
            None,
        )
        .await;
    assert_eq!((s, &retired["state"]), (StatusCode::OK, &json!("retired")));
    let (s, _) = t.post(&runs, Some(&researcher), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, listed) = t
        .get(&format!("/api/v1/datasets/{dataset}/models"), None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

/// The differential-privacy mode: the provider puts a grant in it; its queries are
/// answered at once with noisy figures, refused unless they fit what noise can answer,
/// and each spends its ε until the budget is gone.
#[tokio::test]
async fn a_private_grant_answers_with_noise_and_spends_its_budget() {
    let (t, provider, dataset, _rid, table, researcher, researcher_id) =
        published_people("差分隐私测试人员表", "dp-researcher").await;
    let g = sandbox_grant(&t, dataset, researcher_id).await;
    let path = format!("/api/v1/grants/{g}/privacy");
    let settings = json!({ "enabled": true, "mechanism": "laplace", "epsilon_budget": 1.0,
        "epsilon_per_query": 0.5, "bounds": { "收入": [0, 10000] }, "max_rows_per_person": 1 });
    let (s, _) = t.put(&path, Some(&researcher), settings.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "only the provider sets it");
    let mut greedy = settings.clone();
    greedy["epsilon_per_query"] = json!(2.0);
    let (s, body) = t.put(&path, Some(&provider), greedy).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, body) = t.put(&path, Some(&provider), settings).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, seen) = t.get(&path, Some(&researcher)).await;
    assert_eq!(
        (seen["spent"].as_f64(), seen["remaining"].as_f64()),
        (Some(0.0), Some(1.0))
    );

    // What noise cannot answer is refused before anything is spent.
    for sql in [
        format!("SELECT SUM(年龄) FROM {table}"),
        format!("SELECT MEDIAN(收入) FROM {table}"),
        format!("SELECT COUNT(*) FROM {table} a JOIN {table} b ON a.身份证号 = b.身份证号"),
        format!("SELECT 姓名 FROM {table}"),
    ] {
        let (s, body) = run(&t, &researcher, &sql).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{sql}: {body}");
    }
    let (_, seen) = t.get(&path, Some(&researcher)).await;
    assert_eq!(seen["spent"].as_f64(), Some(0.0), "{seen}");

    // Answered at once, with noise: 历下区 has 40 people; the noise's scale is 4, so
    // being off by 30 has a chance under 1 in 2,000.
    let by_district =
        format!("SELECT 区县, COUNT(*) AS 人数, AVG(收入) AS 平均收入 FROM {table} GROUP BY 区县");
    let (s, first) = run(&t, &researcher, &by_district).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["state"], "released", "{first}");
    assert_eq!(first["privacy"]["epsilon"], 0.5, "{first}");
    let rows = first["result"]["rows"].as_array().unwrap();
    let lixia = rows
        .iter()
        .find(|r| r["区县"] == "历下区")
        .unwrap_or_else(|| panic!("{first}"));
    let n = lixia["人数"].as_i64().unwrap();
    assert!((10..=70).contains(&n), "{first}");
    let mean = lixia["平均收入"].as_f64().unwrap();
    assert!(
        (0.0..=10000.0).contains(&mean),
        "clamped to the bounds: {first}"
    );
    // The second query spends the rest; the third is refused.
    let (s, _) = run(&t, &researcher, &by_district).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, body) = run(&t, &researcher, &by_district).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("隐私预算"), "{body}");
    let (_, seen) = t.get(&path, Some(&provider)).await;
    assert_eq!(
        (seen["spent"].as_f64(), seen["remaining"].as_f64()),
        (Some(1.0), Some(0.0))
    );
    // The holder sees the budget on the grant's page, and the noise on the query's.
    let cookie = t.session_with("dp-researcher", common::DEMO_PASSWORD).await;
    for (page, shown) in [
        (format!("/console/grants/{g}"), "差分隐私"),
        (format!("/sandbox/queries/{}", first["id"]), "随机噪声"),
    ] {
        let html = t
            .client
            .get(t.url(&page))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(shown), "{page}: {html}");
    }
}

/// Background queries: answered at once with `running`, then released; one that fails
/// says so; a runaway one is cancelled by its requester, and only by them.
#[tokio::test]
async fn long_queries_run_in_the_background_and_can_be_cancelled() {
    let (t, _provider, dataset, _rid, table, researcher, researcher_id) =
        published_people("后台查询测试人员表", "background-researcher").await;
    sandbox_grant(&t, dataset, researcher_id).await;
    let start = |sql: String| {
        let t = &t;
        let researcher = &researcher;
        async move {
            t.post(
                "/api/v1/sandbox/queries",
                Some(researcher),
                json!({ "sql": sql, "background": true }),
            )
            .await
        }
    };
    let wait = |id: i64| {
        let t = &t;
        let researcher = &researcher;
        async move {
            for _ in 0..200 {
                let (_, q) = t
                    .get(&format!("/api/v1/sandbox/queries/{id}"), Some(researcher))
                    .await;
                if q["state"] != "running" {
                    return q;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("query {id} still running");
        }
    };
    let (s, started) = start(format!(
        "SELECT COUNT(*) AS n FROM {table} WHERE 区县 <> '槐荫区'"
    ))
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["state"], "running");
    let done = wait(started["id"].as_i64().unwrap()).await;
    assert_eq!(done["state"], "released", "{done}");
    assert_eq!(done["result"]["rows"][0]["n"], 65, "{done}");
    // The guard still answers at once.
    let (s, _) = start(format!("SELECT 姓名 FROM {table}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A query that fails as it runs says so, without the data's values.
    let (_, failing) = start(format!("SELECT SUM(CAST(区县 AS INT)) AS x FROM {table}")).await;
    let failed = wait(failing["id"].as_i64().unwrap()).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        !failed["error"].as_str().unwrap_or("").contains("历下区"),
        "{failed}"
    );

    // A runaway join: cancelled by its requester, not by anyone else.
    let (s, runaway) = start(format!(
        "SELECT COUNT(*) AS n FROM {table} a JOIN {table} b ON a.区县 = b.区县 \
         JOIN {table} c ON b.区县 = c.区县 JOIN {table} d ON c.区县 = d.区县 \
         JOIN {table} e ON d.区县 = e.区县 JOIN {table} f ON e.区县 = f.区县"
    ))
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{runaway}");
    let path = format!("/api/v1/sandbox/queries/{}", runaway["id"]);
    let other = t
        .user_with_role("background-other", "registered", None, None)
        .await;
    let (s, _) = t
        .call(reqwest::Method::DELETE, &path, Some(&other), None)
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another's query is not theirs to see"
    );
    let (s, cancelled) = t
        .call(reqwest::Method::DELETE, &path, Some(&researcher), None)
        .await;
    if s == StatusCode::OK {
        assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
        let (_, again) = t
            .call(reqwest::Method::DELETE, &path, Some(&researcher), None)
            .await;
        assert_eq!(again["error"]["code"], "invalid_state", "{again}");
    } else {
        // The limits stopped it first: it ended, and cannot be cancelled.
        assert_eq!(s, StatusCode::CONFLICT, "{cancelled}");
    }
    let (s, _) = t.get("/healthz", None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, q) = t.get(&path, Some(&researcher)).await;
    assert_ne!(q["state"], "running", "{q}");
}
