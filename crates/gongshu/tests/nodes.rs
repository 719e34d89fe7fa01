//! Two nodes of one platform (issue 10): two `serve` processes on one PostgreSQL and one
//! object store (a directory both mount), as behind a load balancer. A session made on
//! one works on the other; an entry written on one and approved on the other is found
//! by both nodes' search; a file uploaded through one is read through the other; a
//! scheduled harvest runs exactly once between them.

mod common;

use common::{eventually, get, post};

use std::process::Child;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PASSWORD: &str = "demo-password-1";

struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node(dir: &std::path::Path, name: &str, database: &str, objects: &str, demo: bool) -> Node {
    let mut c = common::gongshu();
    c.args(["serve", "--addr", "127.0.0.1:0"])
        .args(["--database-url", database, "--object-store-url", objects])
        .args(["--admin-password", PASSWORD, "--demo-password", PASSWORD])
        .args(["--harvest-check-secs", "1", "--key-file"])
        .arg(dir.join("master.key"))
        .arg("--data-dir")
        .arg(dir.join(name));
    if demo {
        c.arg("--demo");
    }
    let (child, addr) = common::start(c);
    Node {
        child,
        base: format!("http://{addr}"),
    }
}

fn finds(http: &Client, base: &str, title: &str) -> bool {
    let q: String = url_encode(title);
    let (_, page) = get(
        http,
        &format!("{base}/api/v1/datasets?q={q}&per_page=50"),
        None,
    );
    page["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|d| d["title"] == title))
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn two_nodes_share_one_database_and_one_object_store() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let database = runtime.block_on(gongshu_store::testing::pg_url());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("master.key"), "42".repeat(32)).unwrap();
    let objects_dir = dir.path().join("shared-objects");
    std::fs::create_dir_all(&objects_dir).unwrap();
    let objects = format!("file://{}", objects_dir.display());
    let a = node(dir.path(), "node-a", &database, &objects, true);
    let b = node(dir.path(), "node-b", &database, &objects, false);
    let http = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    // A token issued by one node is a session of the platform, good on the other.
    let (s, t) = post(
        &http,
        &format!("{}/api/v1/auth/token", a.base),
        None,
        json!({"username": "demo-provider", "password": PASSWORD}),
    );
    assert_eq!(s, StatusCode::OK, "{t}");
    let provider = t["token"].as_str().unwrap().to_owned();
    let (s, me) = get(&http, &format!("{}/api/v1/me", b.base), Some(&provider));
    assert_eq!(s, StatusCode::OK, "{me}");
    let (_, t) = post(
        &http,
        &format!("{}/api/v1/auth/token", b.base),
        None,
        json!({"username": "demo-authority", "password": PASSWORD}),
    );
    let authority = t["token"].as_str().unwrap().to_owned();

    // Written on A, approved on B, found by both nodes' search.
    let title = "两节点共享的目录条目";
    let (s, d) = post(
        &http,
        &format!("{}/api/v1/datasets", a.base),
        Some(&provider),
        json!({
            "title": title, "summary": "写在一个节点、在另一个节点审核。",
            "category": {"class": "department", "item": "27", "catalog": "001"},
            "format": "spreadsheet", "file_formats": ["csv"],
            "items": [{"name": "区县", "type": "character", "length": 20, "grade": "general1"},
                      {"name": "户数", "type": "numeric", "length": 10, "grade": "general1"}],
            "share_type": "unconditional", "share_method": "platform_interface",
            "open_type": "unconditional", "update_cycle": "monthly",
            "domains": ["market_regulation"], "grade": "general1"
        }),
    );
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let id = d["id"].as_i64().unwrap();
    let (s, d) = post(
        &http,
        &format!("{}/api/v1/datasets/{id}/submit", b.base),
        Some(&provider),
        json!({"version": d["version"]}),
    );
    assert_eq!(s, StatusCode::OK, "{d}");
    let (s, d) = post(
        &http,
        &format!("{}/api/v1/datasets/{id}/approve", b.base),
        Some(&authority),
        json!({"version": d["version"]}),
    );
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(
        get(&http, &format!("{}/api/v1/datasets/{id}", a.base), None).0,
        StatusCode::OK
    );
    eventually("node B's search finds the entry", || {
        finds(&http, &b.base, title)
    });
    eventually("node A's search finds the entry approved on B", || {
        finds(&http, &a.base, title)
    });

    // Uploaded through A, read through B.
    let boundary = "----gongshu-nodes";
    let csv = "区县,户数\n张店区,1200\n淄川区,800\n".as_bytes();
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"h.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(csv);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let resp = http
        .post(format!("{}/api/v1/datasets/{id}/resources", a.base))
        .bearer_auth(&provider)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let job: Value = resp.json().unwrap();
    let job_id = job["id"].as_str().unwrap().to_owned();
    let mut done = Value::Null;
    eventually("the upload's job ends, seen from B", || {
        let (_, j) = get(
            &http,
            &format!("{}/api/v1/jobs/{job_id}", b.base),
            Some(&provider),
        );
        done = j.clone();
        !matches!(j["state"].as_str(), Some("queued" | "running"))
    });
    assert_eq!(done["state"], "succeeded", "{done}");
    let resource = done["resource_id"].as_str().unwrap().to_owned();
    let (s, rows) = get(
        &http,
        &format!("{}/api/v1/resources/{resource}/rows", b.base),
        None,
    );
    assert_eq!(s, StatusCode::OK, "{rows}");
    assert_eq!(rows["rows"].as_array().map(Vec::len), Some(2), "{rows}");
    let download = http
        .get(format!(
            "{}/api/v1/resources/{resource}/download?format=csv",
            b.base
        ))
        .send()
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert!(download.text().unwrap().contains("张店区"));

    // A harvest source due now: both nodes' schedulers look every second; one runs it.
    let (_, me) = get(&http, &format!("{}/api/v1/me", a.base), Some(&provider));
    let org = me["roles"]
        .as_array()
        .or_else(|| me["grants"].as_array())
        .and_then(|g| g.iter().find_map(|g| g["org_id"].as_i64()))
        .unwrap();
    let (s, source) = post(
        &http,
        &format!("{}/api/v1/harvest/sources", b.base),
        Some(&authority),
        json!({"name": "本平台自身", "kind": "gongshu", "url": a.base, "provider_id": org,
            "interval_hours": 24,
            "defaults": {"category": {"class": "department", "item": "27", "catalog": "001"}}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{source}");
    let runs_url = format!("{}/api/v1/harvest/sources/{}/runs", a.base, source["id"]);
    eventually("the scheduled run finishes", || {
        let (_, runs) = get(&http, &runs_url, Some(&authority));
        runs[0]["state"] == "finished"
    });
    // Both schedulers have looked several times since.
    std::thread::sleep(Duration::from_secs(3));
    let (_, runs) = get(&http, &runs_url, Some(&authority));
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    drop(a);
    drop(b);
}
