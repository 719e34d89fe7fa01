//! Harvesting (issue 10, SD-OPEN §7): a CKAN portal, DCAT catalogs in three syntaxes and
//! another Gongshu are read into one provider's catalog; re-runs make no duplicates,
//! changes update, records that leave their source are withdrawn, and every run reports.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

/// A CKAN portal as far as harvesting reads it: `package_search`, paged, answering
/// whatever packages the test puts in it; `fail` makes it answer 500.
#[derive(Clone, Default)]
struct Ckan {
    packages: Arc<Mutex<Vec<Value>>>,
    fail: Arc<Mutex<bool>>,
}

async fn ckan_stub(ckan: Ckan) -> String {
    use axum::extract::{Query, State};
    use axum::response::IntoResponse;
    async fn search(
        State(c): State<Ckan>,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> axum::response::Response {
        // Slow enough that a second run asked for meanwhile finds this one under way.
        tokio::time::sleep(Duration::from_millis(300)).await;
        if *c.fail.lock().unwrap() {
            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
        }
        let rows: usize = q.get("rows").and_then(|r| r.parse().ok()).unwrap_or(10);
        let start: usize = q.get("start").and_then(|r| r.parse().ok()).unwrap_or(0);
        let all = c.packages.lock().unwrap().clone();
        let page: Vec<Value> = all.iter().skip(start).take(rows).cloned().collect();
        axum::Json(json!({
            "help": "http://ckan.example/api/3/action/help_show?name=package_search",
            "success": true,
            "result": {"count": all.len(), "results": page, "sort": "score desc, metadata_modified desc",
                "facets": {}, "search_facets": {}}
        }))
        .into_response()
    }
    let app = axum::Router::new()
        .route("/api/3/action/package_search", axum::routing::get(search))
        .with_state(ckan);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A package as CKAN 2.10 writes it (the fields harvesting reads, and some it ignores).
fn package(id: &str, name: &str, title: &str, formats: &[&str]) -> Value {
    json!({
        "id": id,
        "name": name,
        "title": title,
        "notes": format!("{title}，由原开放平台发布。"),
        "license_title": "Creative Commons Attribution",
        "maintainer_email": "open@example.gov.cn",
        "metadata_created": "2024-01-02T03:04:05.000000",
        "metadata_modified": "2025-06-07T08:09:10.000000",
        "state": "active",
        "type": "dataset",
        "private": false,
        "num_resources": formats.len(),
        "organization": {"name": "zibo-amr", "title": "淄博市市场监督管理局"},
        "tags": [{"name": "market", "display_name": "市场主体"}, {"name": "license", "display_name": "许可"}],
        "extras": [{"key": "frequency", "value": "monthly"}],
        "resources": formats.iter().enumerate().map(|(i, f)| json!({
            "id": format!("{id}-r{i}"),
            "name": format!("{title}（{f}）"),
            "url": format!("http://ckan.example/dataset/{name}/resource/{i}.{}", f.to_lowercase()),
            "format": f,
        })).collect::<Vec<_>>(),
    })
}

fn defaults() -> Value {
    json!({
        "category": {"class": "department", "item": "27", "catalog": "001"},
        "domains": ["market_regulation"],
        "grade": "general1",
        "update_cycle": "irregular",
        "license": "CC BY 4.0"
    })
}

async fn provider_org(t: &common::TestApp) -> i64 {
    let token = t.token("demo-provider").await;
    let (_, me) = t.get("/api/v1/me", Some(&token)).await;
    me["roles"]
        .as_array()
        .or_else(|| me["grants"].as_array())
        .and_then(|g| g.iter().find_map(|g| g["org_id"].as_i64()))
        .unwrap_or_else(|| panic!("no provider org in {me}"))
}

/// Starts a run and waits for its report.
async fn run(t: &common::TestApp, token: &str, source: i64) -> Value {
    let (s, started) = t
        .post(
            &format!("/api/v1/harvest/sources/{source}/runs"),
            Some(token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["state"], "running");
    wait(t, token, started["id"].as_i64().unwrap()).await
}

async fn wait(t: &common::TestApp, token: &str, run: i64) -> Value {
    for _ in 0..600 {
        let (s, r) = t
            .get(&format!("/api/v1/harvest/runs/{run}"), Some(token))
            .await;
        assert_eq!(s, StatusCode::OK, "{r}");
        if r["state"] != "running" {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("harvest run {run} did not end");
}

fn counts(r: &Value) -> [i64; 5] {
    ["created", "updated", "unchanged", "withdrawn", "errors"].map(|k| r[k].as_i64().unwrap())
}

/// How many published entries have exactly this title.
async fn search_total(t: &common::TestApp, title: &str) -> i64 {
    let (_, page) = t
        .get(
            &format!("/api/v1/datasets?q={}&per_page=100", urlencode(title)),
            None,
        )
        .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["title"] == title)
        .count() as i64
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_ckan_portal_is_harvested_incrementally_without_duplicates() {
    let t = common::spawn().await;
    let ckan = Ckan::default();
    let stub = ckan_stub(ckan.clone()).await;
    *ckan.packages.lock().unwrap() = vec![
        package(
            "p-1",
            "market-entities",
            "淄博市市场主体登记信息",
            &["CSV", "XLSX"],
        ),
        package("p-2", "food-licences", "淄博市食品经营许可信息", &["JSON"]),
        package("p-3", "ad-permits", "淄博市户外广告许可", &["CSV"]),
        // No title and no name: the catalog requires a title, so the run reports it.
        package("p-4", "", "", &["CSV"]),
    ];
    let authority = t.token("demo-authority").await;
    let org = provider_org(&t).await;
    let source = json!({
        "name": "淄博市原开放平台", "kind": "ckan", "url": stub, "provider_id": org,
        "interval_hours": 24, "enabled": false, "defaults": defaults()
    });

    // Who may register a source, and what a source must be.
    let (s, _) = t
        .post("/api/v1/harvest/sources", None, source.clone())
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let provider = t.token("demo-provider").await;
    let (s, _) = t
        .post("/api/v1/harvest/sources", Some(&provider), source.clone())
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for (field, bad) in [
        ("url", json!("ftp://example.org/")),
        ("url", json!("javascript:alert(1)")),
        ("interval_hours", json!(0)),
        ("name", json!("")),
    ] {
        let mut body = source.clone();
        body[field] = bad;
        let (s, e) = t
            .post("/api/v1/harvest/sources", Some(&authority), body)
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {e}");
        assert_eq!(e["error"]["fields"][0]["field"], field, "{e}");
    }
    let mut unknown_kind = source.clone();
    unknown_kind["kind"] = json!("oai-pmh");
    let (s, _) = t
        .post("/api/v1/harvest/sources", Some(&authority), unknown_kind)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let (s, created) = t
        .post("/api/v1/harvest/sources", Some(&authority), source.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["kind"], "ckan");
    assert_eq!(created["running"], false);

    // First run: three entries made and published, one record reported.
    let first = run(&t, &authority, id).await;
    assert_eq!(first["state"], "finished", "{first}");
    assert_eq!(first["fetched"], 4);
    assert_eq!(counts(&first), [3, 0, 0, 0, 1], "{first}");
    assert_eq!(first["problems"][0]["remote_id"], "p-4");
    assert!(
        first["problems"][0]["message_zh"]
            .as_str()
            .unwrap()
            .contains("title"),
        "{first}"
    );
    assert_eq!(search_total(&t, "淄博市食品经营许可信息").await, 1);
    let (_, found) = t
        .get(
            &format!("/api/v1/datasets?q={}", urlencode("淄博市食品经营许可信息")),
            None,
        )
        .await;
    let entry = &found["items"][0];
    assert_eq!(entry["title"], "淄博市食品经营许可信息");
    assert_eq!(entry["provider"]["id"], org);
    assert_eq!(entry["open_type"], "unconditional");
    assert_eq!(entry["file_formats"], json!(["json"]));
    assert_eq!(entry["format"], "self_describing");
    assert_eq!(entry["update_cycle"], "monthly");
    assert_eq!(entry["keywords"], json!(["市场主体", "许可"]));
    let entry_id = entry["id"].as_i64().unwrap();
    // The entry's page says where it came from and links the source's own files.
    let page = t.text(&format!("/datasets/{entry_id}")).await;
    assert!(page.contains("淄博市原开放平台"), "origin missing");
    assert!(page.contains("http://ckan.example/dataset/food-licences/resource/0.json"));

    // A run asked for while one is under way is refused.
    let (s, started) = t
        .post(
            &format!("/api/v1/harvest/sources/{id}/runs"),
            Some(&authority),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, busy) = t
        .post(
            &format!("/api/v1/harvest/sources/{id}/runs"),
            Some(&authority),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{busy}");
    // Nothing changed at the source: nothing changes here, and nothing is duplicated.
    let second = wait(&t, &authority, started["id"].as_i64().unwrap()).await;
    assert_eq!(counts(&second), [0, 0, 3, 0, 1], "{second}");
    assert_eq!(search_total(&t, "淄博市食品经营许可信息").await, 1);

    // One record changes, one leaves the source.
    {
        let mut packages = ckan.packages.lock().unwrap();
        packages[0]["title"] = json!("淄博市市场主体登记信息（2025年版）");
        packages.remove(2);
    }
    let third = run(&t, &authority, id).await;
    assert_eq!(counts(&third), [0, 1, 1, 1, 1], "{third}");
    assert_eq!(search_total(&t, "淄博市户外广告许可").await, 0);
    assert_eq!(
        search_total(&t, "淄博市市场主体登记信息（2025年版）").await,
        1
    );
    assert_eq!(search_total(&t, "淄博市市场主体登记信息").await, 0);

    // It comes back: published again, as the same entry.
    ckan.packages.lock().unwrap().push(package(
        "p-3",
        "ad-permits",
        "淄博市户外广告许可",
        &["CSV"],
    ));
    let fourth = run(&t, &authority, id).await;
    assert_eq!(counts(&fourth), [0, 1, 2, 0, 1], "{fourth}");
    assert_eq!(search_total(&t, "淄博市户外广告许可").await, 1);

    // A source that cannot be read fails the run and withdraws nothing.
    *ckan.fail.lock().unwrap() = true;
    let failed = run(&t, &authority, id).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        failed["failure"].as_str().unwrap().contains("500"),
        "{failed}"
    );
    assert_eq!(counts(&failed), [0, 0, 0, 0, 0]);
    assert_eq!(search_total(&t, "淄博市户外广告许可").await, 1);

    // The runs, newest first, and the source's last one.
    let (_, runs) = t
        .get(
            &format!("/api/v1/harvest/sources/{id}/runs"),
            Some(&authority),
        )
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 5);
    assert_eq!(runs[0]["state"], "failed");
    let (_, one) = t
        .get(&format!("/api/v1/harvest/sources/{id}"), Some(&authority))
        .await;
    assert_eq!(one["last_run"]["state"], "failed");
    // Others neither see the source nor its runs.
    let (s, _) = t
        .get(&format!("/api/v1/harvest/sources/{id}"), Some(&provider))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, theirs) = t.get("/api/v1/harvest/sources", Some(&provider)).await;
    assert_eq!(theirs, json!([]));

    // Settings change only from the version read.
    let version = one["version"].as_i64().unwrap();
    let mut edit = source.clone();
    edit["name"] = json!("淄博市旧开放平台");
    edit["version"] = json!(version);
    let (s, edited) = t
        .put(
            &format!("/api/v1/harvest/sources/{id}"),
            Some(&authority),
            edit.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(edited["name"], "淄博市旧开放平台");
    let (s, _) = t
        .put(
            &format!("/api/v1/harvest/sources/{id}"),
            Some(&authority),
            edit,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn another_gongshu_and_its_dcat_catalog_are_harvested() {
    let origin = common::spawn().await;
    let t = common::spawn().await;
    let authority = t.token("demo-authority").await;
    let org = provider_org(&t).await;
    let (_, listing) = origin.get("/api/v1/datasets?per_page=100", None).await;
    let total = listing["total"].as_i64().unwrap();
    assert!(total > 10, "the demo catalog is larger than a page of 10");
    let by_open = |kind: &str| {
        listing["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["open_type"] == kind)
            .count() as i64
    };
    let before = t.get("/api/v1/datasets", None).await.1["total"]
        .as_i64()
        .unwrap();

    let add = |name: &str, kind: &str, url: String| {
        json!({"name": name, "kind": kind, "url": url, "provider_id": org,
            "enabled": false, "defaults": defaults()})
    };
    // Another Gongshu: its entries come whole, with their own category, types and items.
    let (s, gs) = t
        .post(
            "/api/v1/harvest/sources",
            Some(&authority),
            add("淄博市公数平台", "gongshu", origin.base.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{gs}");
    let gs = gs["id"].as_i64().unwrap();
    let report = run(&t, &authority, gs).await;
    assert_eq!(report["fetched"], total, "{report}");
    assert_eq!(
        report["created"].as_i64().unwrap() + report["errors"].as_i64().unwrap(),
        total,
        "{report}"
    );
    assert!(report["created"].as_i64().unwrap() > 0, "{report}");
    let again = run(&t, &authority, gs).await;
    assert_eq!(again["created"], 0, "{again}");
    assert_eq!(again["unchanged"], report["created"], "{again}");

    // Its DCAT catalog in Turtle, followed page by page through Hydra's `next`.
    let (s, dcat) = t
        .post(
            "/api/v1/harvest/sources",
            Some(&authority),
            add(
                "淄博市目录 DCAT",
                "dcat",
                origin.url("/catalog.ttl?per_page=10"),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{dcat}");
    let dcat = dcat["id"].as_i64().unwrap();
    let report = run(&t, &authority, dcat).await;
    assert_eq!(report["state"], "finished", "{report}");
    // Entries not open are not public in DCAT and are left out; those open on
    // conditions arrive without their conditions, so each is reported.
    assert_eq!(
        report["fetched"].as_i64().unwrap(),
        total - by_open("none"),
        "{report}"
    );
    assert_eq!(
        report["created"].as_i64().unwrap(),
        by_open("unconditional"),
        "{report}"
    );
    assert_eq!(
        report["errors"].as_i64().unwrap(),
        by_open("conditional"),
        "{report}"
    );
    let again = run(&t, &authority, dcat).await;
    assert_eq!(counts(&again)[..2], [0, 0], "{again}");

    // One entry's JSON-LD and RDF/XML documents.
    let first_open = listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["open_type"] == "unconditional")
        .unwrap();
    let id = first_open["id"].as_i64().unwrap();
    for ext in ["jsonld", "rdf"] {
        let (s, src) = t
            .post(
                "/api/v1/harvest/sources",
                Some(&authority),
                add(
                    &format!("单条 {ext}"),
                    "dcat",
                    origin.url(&format!("/datasets/{id}/dcat.{ext}")),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{src}");
        let report = run(&t, &authority, src["id"].as_i64().unwrap()).await;
        assert_eq!(counts(&report), [1, 0, 0, 0, 0], "{ext}: {report}");
    }
    let (_, found) = t
        .get(
            &format!(
                "/api/v1/datasets?q={}&per_page=100",
                urlencode(first_open["title"].as_str().unwrap())
            ),
            None,
        )
        .await;
    assert!(found["total"].as_i64().unwrap() >= 4, "{found}");

    // A document that is not RDF fails the run with the reason.
    let (_, bad) = t
        .post(
            "/api/v1/harvest/sources",
            Some(&authority),
            add("不是 RDF", "dcat", origin.url("/api/v1/openapi.json")),
        )
        .await;
    let failed = run(&t, &authority, bad["id"].as_i64().unwrap()).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        failed["failure"].as_str().unwrap().contains("dcat:Dataset"),
        "{failed}"
    );

    let after = t.get("/api/v1/datasets", None).await.1["total"]
        .as_i64()
        .unwrap();
    assert!(after > before);
}

#[tokio::test]
async fn an_enabled_source_runs_on_its_schedule() {
    let t = common::spawn().await;
    let ckan = Ckan::default();
    let stub = ckan_stub(ckan.clone()).await;
    *ckan.packages.lock().unwrap() =
        vec![package("s-1", "scheduled", "按计划采集的数据", &["CSV"])];
    let authority = t.token("demo-authority").await;
    let org = provider_org(&t).await;
    let (s, src) = t
        .post(
            "/api/v1/harvest/sources",
            Some(&authority),
            json!({"name": "按计划", "kind": "ckan", "url": stub, "provider_id": org,
                "interval_hours": 24, "defaults": defaults()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{src}");
    let id = src["id"].as_i64().unwrap();
    // The scheduler claims it without anyone asking; the next run is a day later.
    let mut last = Value::Null;
    for _ in 0..100 {
        let (_, one) = t
            .get(&format!("/api/v1/harvest/sources/{id}"), Some(&authority))
            .await;
        if one["last_run"]["state"] == "finished" {
            last = one;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last["last_run"]["created"], 1, "{last}");
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(last["next_run_at"].clone()).unwrap();
    assert!(next > chrono::Utc::now() + chrono::Duration::hours(23));
    assert_eq!(search_total(&t, "按计划采集的数据").await, 1);
}

async fn page(t: &common::TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let resp = t
        .client
        .get(t.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn form(
    t: &common::TestApp,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    t.client
        .post(t.url(path))
        .header("cookie", cookie)
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// The console: an authority adds a source and runs it through forms, reads the run's
/// report, and registers a member platform, whose token the page shows once; every page
/// is valid HTML in both languages.
#[tokio::test]
async fn the_console_adds_runs_and_reports_sources_and_registers_members() {
    let t = common::spawn().await;
    let ckan = Ckan::default();
    let stub = ckan_stub(ckan.clone()).await;
    *ckan.packages.lock().unwrap() = vec![
        package("c-1", "console", "控制台采集的数据", &["CSV"]),
        package("c-2", "", "", &[]),
    ];
    let org = provider_org(&t).await;
    let cookie = t
        .session_with("demo-authority", common::DEMO_PASSWORD)
        .await;
    let (s, html) = page(&t, &cookie, "/console/harvest").await;
    assert_eq!(s, StatusCode::OK);
    let csrf = common::hidden_csrf(&html);
    let org_s = org.to_string();
    // A form with a bad address comes back with the reason and what was typed.
    let bad = form(
        &t,
        &cookie,
        "/console/harvest",
        &[
            ("_csrf", &csrf),
            ("name", "旧门户"),
            ("kind", "ckan"),
            ("url", "ftp://x"),
            ("provider_id", &org_s),
            ("interval_hours", "24"),
            ("class", "department"),
            ("item", "27"),
            ("catalog", "001"),
            ("domain", "market_regulation"),
        ],
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("旧门户"));
    let added = form(
        &t,
        &cookie,
        "/console/harvest",
        &[
            ("_csrf", &csrf),
            ("name", "旧门户"),
            ("kind", "ckan"),
            ("url", &stub),
            ("provider_id", &org_s),
            ("interval_hours", "24"),
            ("class", "department"),
            ("item", "27"),
            ("catalog", "001"),
            ("domain", "market_regulation"),
        ],
    )
    .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let at = added.headers()["location"].to_str().unwrap().to_owned();
    let path = at.split('?').next().unwrap().to_owned();
    // The scheduler takes it at once (it is due); the page then shows the report.
    let mut shown = String::new();
    for _ in 0..100 {
        let (_, html) = page(&t, &cookie, &path).await;
        if html.contains("控制台采集的数据") || html.contains("finished") {
            shown = html;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shown.contains("finished"), "{shown}");
    assert!(
        shown.contains("c-2"),
        "the record with no title is listed with its reason"
    );
    // Running it again from the page.
    let ran = form(&t, &cookie, &format!("{path}/run"), &[("_csrf", &csrf)]).await;
    assert_eq!(ran.status(), StatusCode::SEE_OTHER);

    // Federation: registering a member shows its token once.
    let (s, _) = page(&t, &cookie, "/console/federation").await;
    assert_eq!(s, StatusCode::OK);
    let registered = form(
        &t,
        &cookie,
        "/console/federation/members",
        &[
            ("_csrf", &csrf),
            ("name", "淄博市公共数据平台"),
            ("region_code", "370300"),
            ("url", "https://zibo.example.gov.cn/"),
        ],
    )
    .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let html = registered.text().await.unwrap();
    assert!(html.contains("一次性注册码"), "{html}");
    let (_, again) = page(&t, &cookie, "/console/federation").await;
    assert!(again.contains("淄博市公共数据平台") && !again.contains("一次性注册码："));
    // A provider may not enrol the platform with a province.
    let provider = t.session_with("demo-provider", common::DEMO_PASSWORD).await;
    let (_, html) = page(&t, &provider, "/console/federation").await;
    let provider_csrf = common::hidden_csrf(&html);
    let refused = form(
        &t,
        &provider,
        "/console/federation/upstream",
        &[
            ("_csrf", &provider_csrf),
            ("province_url", "http://127.0.0.1:9/"),
            ("token", "x"),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let dir = tempfile::tempdir().unwrap();
    for (name, path) in [
        ("harvest", "/console/harvest".to_owned()),
        ("source", path.clone()),
        ("federation", "/console/federation".to_owned()),
    ] {
        for lang in ["zh-CN", "en"] {
            let (s, html) = page(&t, &format!("{cookie}; gongshu_lang={lang}"), &path).await;
            assert_eq!(s, StatusCode::OK, "{path}");
            std::fs::write(dir.path().join(format!("{name}-{lang}.html")), html).unwrap();
        }
    }
    common::assert_valid_html(dir.path());
}
