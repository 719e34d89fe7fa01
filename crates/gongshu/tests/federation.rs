//! Federation between two real platforms (issue 10: SD-EGOV §10, §15): a province (the
//! demo) and a city started empty, each its own process. The city enrols with the
//! province's one-time token and pushes its catalog in signed requests; the province
//! shows the city's entries with their origin, follows their changes and withdrawals,
//! and keeps its own entry when the city pushes one with the same code.

mod common;

use common::{eventually, get, post, send};

use std::process::Child;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const ADMIN: &str = "admin-password-1";
const DEMO: &str = "demo-password-1";

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(demo: bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut c = common::gongshu();
    c.args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &format!("http://127.0.0.1:{port}/")])
        .args(["--admin-password", ADMIN, "--demo-password", DEMO])
        .args(["--federation-sync-secs", "1", "--data-dir"])
        .arg(dir.path().join("data"));
    if demo {
        c.arg("--demo");
    }
    let (child, addr) = common::start(c);
    Server {
        child,
        base: format!("http://{addr}"),
        _dir: dir,
    }
}

fn token(http: &Client, base: &str, user: &str, password: &str) -> String {
    let (s, b) = post(
        http,
        &format!("{base}/api/v1/auth/token"),
        None,
        json!({"username": user, "password": password}),
    );
    assert_eq!(s, StatusCode::OK, "{user}: {b}");
    b["token"].as_str().unwrap().to_owned()
}

/// The province's published entry with this code, if any.
fn at_province(http: &Client, province: &str, code: &str) -> Option<Value> {
    let (_, page) = get(
        http,
        &format!("{province}/api/v1/datasets?region=370300&per_page=100&sort=updated"),
        None,
    );
    page["items"]
        .as_array()?
        .iter()
        .find(|d| d["code"] == code)
        .cloned()
}

fn entry(title: &str, category: &Value) -> Value {
    json!({
        "title": title,
        "summary": "淄博市级平台发布的目录。",
        "category": category,
        "format": "spreadsheet",
        "file_formats": ["csv"],
        "items": [{"name": "监测点", "type": "character", "length": 50, "grade": "general1"}],
        "share_type": "unconditional",
        "share_method": "platform_interface",
        "open_type": "unconditional",
        "update_cycle": "monthly",
        "domains": ["ecology"],
        "keywords": ["空气质量"],
        "grade": "general1"
    })
}

/// Creates an entry as the city's provider and has the city's authority publish it.
fn publish(http: &Client, city: &str, provider: &str, authority: &str, body: Value) -> Value {
    let (s, d) = post(
        http,
        &format!("{city}/api/v1/datasets"),
        Some(provider),
        body,
    );
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let id = d["id"].as_i64().unwrap();
    let (s, d) = post(
        http,
        &format!("{city}/api/v1/datasets/{id}/submit"),
        Some(provider),
        json!({"version": d["version"]}),
    );
    assert_eq!(s, StatusCode::OK, "{d}");
    let (s, d) = post(
        http,
        &format!("{city}/api/v1/datasets/{id}/approve"),
        Some(authority),
        json!({"version": d["version"]}),
    );
    assert_eq!(s, StatusCode::OK, "{d}");
    d
}

#[test]
fn a_city_platform_federates_with_its_province() {
    let province = start(true);
    let city = start(false);
    let (p, c) = (province.base.as_str(), city.base.as_str());
    let http = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    // The province registers the city and gets its one-time token.
    let p_admin = token(&http, p, "admin", ADMIN);
    let (s, member) = post(
        &http,
        &format!("{p}/api/v1/federation/members"),
        Some(&p_admin),
        json!({"name": "淄博市公共数据平台", "region_code": "370300", "url": c}),
    );
    assert_eq!(s, StatusCode::CREATED, "{member}");
    let enrollment = member["enrollment_token"].as_str().unwrap().to_owned();
    // Only who administers the region may register a member.
    let p_provider = token(&http, p, "demo-provider", DEMO);
    let (s, _) = post(
        &http,
        &format!("{p}/api/v1/federation/members"),
        Some(&p_provider),
        json!({"name": "x", "region_code": "370300", "url": c}),
    );
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The city: its regions, a provider that is the same organisation as the
    // province's (by credit code), an authority, their administrators.
    let c_admin = token(&http, c, "admin", ADMIN);
    for (code, name) in [("370000", "山东省"), ("370300", "淄博市")] {
        let (s, b) = post(
            &http,
            &format!("{c}/api/v1/regions"),
            Some(&c_admin),
            json!({"code": code, "name": name}),
        );
        assert!(s.is_success(), "{b}");
    }
    let (_, orgs) = get(
        &http,
        &format!("{p}/api/v1/organizations?region=370300"),
        None,
    );
    let orgs = orgs.as_array().cloned().unwrap_or_default();
    let credit = |name: &str| {
        orgs.iter().find(|o| o["name"] == name).unwrap()["credit_code"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut org_ids = Vec::new();
    for (name, kind) in [
        ("淄博市生态环境局", "provider"),
        ("淄博市大数据局", "authority"),
    ] {
        let (s, o) = post(
            &http,
            &format!("{c}/api/v1/organizations"),
            Some(&c_admin),
            json!({"name": name, "kind": kind, "region_code": "370300", "credit_code": credit(name)}),
        );
        assert_eq!(s, StatusCode::CREATED, "{o}");
        org_ids.push(o["id"].as_i64().unwrap());
    }
    for (user, role, org, region) in [
        ("zb-provider", "provider_admin", org_ids[0], None),
        (
            "zb-authority",
            "authority_admin",
            org_ids[1],
            Some("370300"),
        ),
    ] {
        let (s, u) = post(
            &http,
            &format!("{c}/api/v1/users"),
            Some(&c_admin),
            json!({"username": user, "password": DEMO}),
        );
        assert_eq!(s, StatusCode::CREATED, "{u}");
        let (s, b) = post(
            &http,
            &format!("{c}/api/v1/users/{}/roles", u["id"]),
            Some(&c_admin),
            json!({"role": role, "org_id": org, "region_code": region}),
        );
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    }
    let provider = token(&http, c, "zb-provider", DEMO);
    let authority = token(&http, c, "zb-authority", DEMO);
    let category = json!({"class": "department", "item": "41", "catalog": "003"});
    let air = publish(
        &http,
        c,
        &provider,
        &authority,
        entry("淄博市空气质量监测点位", &category),
    );
    let air_code = air["code"].as_str().unwrap().to_owned();

    // An entry whose code the province already uses for one of its own.
    let (_, theirs) = get(&http, &format!("{p}/api/v1/datasets?per_page=1"), None);
    let theirs = theirs["items"][0].clone();
    let mut clash = entry("与省级目录同码的目录", &theirs["category"]);
    clash["code"] = theirs["code"].clone();
    clash["domains"] = json!(["ecology"]);
    publish(&http, c, &provider, &authority, clash);

    // The city's authority releases an evaluation of its providers.
    let today = chrono::Utc::now().date_naive();
    let (s, evaluation) = post(
        &http,
        &format!("{c}/api/v1/evaluations"),
        Some(&authority),
        json!({"region_code": "370300", "from": today - chrono::Duration::days(30),
               "to": today - chrono::Duration::days(1)}),
    );
    assert_eq!(s, StatusCode::CREATED, "{evaluation}");
    let (s, b) = post(
        &http,
        &format!("{c}/api/v1/evaluations/{}/release", evaluation["id"]),
        Some(&authority),
        json!({}),
    );
    assert_eq!(s, StatusCode::OK, "{b}");

    // The city enrols; a token works once.
    let (s, up) = send(
        &http,
        reqwest::Method::PUT,
        &format!("{c}/api/v1/federation/upstream"),
        Some(&c_admin),
        Some(json!({"province_url": p, "token": enrollment})),
    );
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(up["member_id"], member["id"]);
    let (s, _) = post(
        &http,
        &format!("{p}/api/v1/federation/enroll"),
        None,
        json!({"token": enrollment, "public_key": up["public_key"], "url": c}),
    );
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Its entry reaches the province by the scheduled push, with its origin.
    eventually("the city's entry at the province", || {
        at_province(&http, p, &air_code).is_some()
    });
    let mirrored = at_province(&http, p, &air_code).unwrap();
    assert_eq!(mirrored["title"], "淄博市空气质量监测点位");
    assert_eq!(mirrored["region_code"], "370300");
    assert_eq!(mirrored["provider"]["name"], "淄博市生态环境局");
    let page = http
        .get(format!("{p}/datasets/{}", mirrored["id"]))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("淄博市公共数据平台"),
        "the origin is not shown"
    );
    assert!(
        page.contains(&format!("{c}/datasets/{}", air["id"])),
        "no link to the city's page"
    );
    // The province's own entry with the same code stays its own; the member says why.
    let (_, own) = get(
        &http,
        &format!("{p}/api/v1/datasets/{}", theirs["id"]),
        None,
    );
    assert_eq!(own["title"], theirs["title"]);
    let (_, members) = get(
        &http,
        &format!("{p}/api/v1/federation/members"),
        Some(&p_admin),
    );
    let report = &members[0]["last_report"];
    assert_eq!(members[0]["enrolled"], true, "{members}");
    assert!(
        report["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["code"] == theirs["code"]),
        "{members}"
    );

    // So do its released evaluations, once.
    let evaluations_at_province = || {
        get(
            &http,
            &format!("{p}/api/v1/evaluations?region=370300"),
            None,
        )
        .1
    };
    eventually("the city's evaluation at the province", || {
        evaluations_at_province()
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x["state"] == "released"))
    });
    let rolled = evaluations_at_province();
    assert_eq!(rolled.as_array().unwrap().len(), 1, "{rolled}");
    assert_eq!(rolled[0]["period_from"], evaluation["period_from"]);

    // A change at the city follows.
    let (_, work) = get(
        &http,
        &format!("{c}/api/v1/workbench/datasets/{}", air["id"]),
        Some(&provider),
    );
    let mut edited = entry("淄博市空气质量监测点位（含区县）", &category);
    edited["version"] = work["version"].clone();
    let (s, d) = send(
        &http,
        reqwest::Method::PUT,
        &format!("{c}/api/v1/datasets/{}", air["id"]),
        Some(&provider),
        Some(edited),
    );
    assert_eq!(s, StatusCode::OK, "{d}");
    let (_, d) = post(
        &http,
        &format!("{c}/api/v1/datasets/{}/submit", air["id"]),
        Some(&provider),
        json!({"version": d["version"]}),
    );
    let (s, d) = post(
        &http,
        &format!("{c}/api/v1/datasets/{}/approve", air["id"]),
        Some(&authority),
        json!({"version": d["version"]}),
    );
    assert_eq!(s, StatusCode::OK, "{d}");
    eventually("the change at the province", || {
        at_province(&http, p, &air_code)
            .is_some_and(|d| d["title"] == "淄博市空气质量监测点位（含区县）")
    });
    assert_eq!(
        at_province(&http, p, &air_code).unwrap()["id"],
        mirrored["id"],
        "the same entry, not a second one"
    );

    // A withdrawal at the city withdraws it at the province.
    let (s, d) = post(
        &http,
        &format!("{c}/api/v1/datasets/{}/withdraw", air["id"]),
        Some(&authority),
        json!({"version": d["version"], "note": "监测点位调整"}),
    );
    assert_eq!(s, StatusCode::OK, "{d}");
    eventually("the withdrawal at the province", || {
        get(
            &http,
            &format!("{p}/api/v1/datasets/{}", mirrored["id"]),
            None,
        )
        .0 == StatusCode::NOT_FOUND
    });

    // Pushes not signed by the member are refused.
    let body =
        json!({"member_id": member["id"], "seq": 999_999, "upserts": [], "deletions": [air_code]});
    let (s, _) = post(
        &http,
        &format!("{p}/api/v1/federation/sync"),
        None,
        body.clone(),
    );
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let forged = http
        .post(format!("{p}/api/v1/federation/sync"))
        .header("x-gongshu-member", member["id"].to_string())
        .header("x-gongshu-timestamp", chrono_now().to_string())
        .header("x-gongshu-signature", "A".repeat(88))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    // The city's upstream shows what it last pushed.
    let (_, up) = get(
        &http,
        &format!("{c}/api/v1/federation/upstream"),
        Some(&c_admin),
    );
    assert!(up["seq"].as_i64().unwrap() >= 3, "{up}");
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
