//! S3-compatible object storage (issue 10): the platform keeps its data versions in an
//! S3 bucket (here moto's S3 server, from PyPI, started by the test on loopback) and
//! reads them back for the row API and downloads, also after a restart.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PASSWORD: &str = "demo-password-1";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_server() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("GONGSHU_MOTO_SERVER") {
        return p.into();
    }
    let venv = std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
        .join(".cache/gongshu-st-venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    "moto_server".into()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts moto's S3 server and makes a bucket in it; returns its endpoint.
fn s3(http: &Client) -> (Killed, String) {
    let port = free_port();
    let server = Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "moto_server (PyPI `moto[server]`) is needed: .ci/run installs it into \
                 ~/.cache/gongshu-st-venv ({e})"
            )
        });
    let server = Killed(server);
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if http
            .put(format!("{endpoint}/gongshu"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        assert!(Instant::now() < deadline, "moto's S3 server did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    (server, endpoint)
}

fn serve(dir: &std::path::Path, endpoint: &str, demo: bool) -> (Killed, String) {
    let mut c = common::gongshu();
    c.args(["serve", "--addr", "127.0.0.1:0"])
        .args(["--object-store-url", "s3://gongshu"])
        .args([
            "--admin-password",
            PASSWORD,
            "--demo-password",
            PASSWORD,
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .arg("--key-file")
        .arg(dir.join("master.key"))
        .env("AWS_ENDPOINT", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
    if demo {
        c.arg("--demo");
    }
    let (child, addr) = common::start(c);
    (Killed(child), format!("http://{addr}"))
}

#[test]
fn data_versions_live_in_an_s3_bucket() {
    let http = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let (_s3, endpoint) = s3(&http);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("master.key"), "24".repeat(32)).unwrap();
    let (node, base) = serve(dir.path(), &endpoint, true);

    let token = |user: &str| {
        let t: Value = http
            .post(format!("{base}/api/v1/auth/token"))
            .json(&json!({"username": user, "password": PASSWORD}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        t["token"].as_str().unwrap().to_owned()
    };
    let provider = token("demo-provider");
    let (_, work): (StatusCode, Value) = {
        let r = http
            .get(format!("{base}/api/v1/workbench/datasets?per_page=100"))
            .bearer_auth(&provider)
            .send()
            .unwrap();
        (r.status(), r.json().unwrap())
    };
    let dataset = work["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["status"] == "published" && d["open_type"] == "unconditional")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let boundary = "----gongshu-s3";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s3.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice("站点,PM25\n新区,35\n老城,41\n河东,28\n".as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let resp = http
        .post(format!("{base}/api/v1/datasets/{dataset}/resources"))
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
    let mut done = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        done = http
            .get(format!(
                "{base}/api/v1/jobs/{}",
                job["id"].as_str().unwrap()
            ))
            .bearer_auth(&provider)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if !matches!(done["state"].as_str(), Some("queued" | "running")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(done["state"], "succeeded", "{done}");
    let resource = done["resource_id"].as_str().unwrap().to_owned();

    // The version is in the bucket: the original, the Parquet and the manifest.
    let listing = http
        .get(format!(
            "{endpoint}/gongshu?list-type=2&prefix=resources/{resource}/"
        ))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(listing.contains("data.parquet"), "{listing}");
    assert!(listing.contains("manifest.json"), "{listing}");
    assert!(!dir.path().join("data/objects/resources").exists());

    let read = |base: &str| {
        let rows: Value = http
            .get(format!("{base}/api/v1/resources/{resource}/rows"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let csv = http
            .get(format!(
                "{base}/api/v1/resources/{resource}/download?format=csv"
            ))
            .send()
            .unwrap()
            .text()
            .unwrap();
        (rows["rows"].as_array().map(Vec::len), csv, rows)
    };
    let (rows, csv, body) = read(&base);
    assert_eq!(rows, Some(3), "{body}");
    assert!(csv.contains("老城"), "{csv}");

    // Stopped and started again, the platform reads the same data from the bucket.
    drop(node);
    let (_node, base) = serve(dir.path(), &endpoint, false);
    let (rows, csv, body) = read(&base);
    assert_eq!(rows, Some(3), "{body}");
    assert!(csv.contains("河东"), "{csv}");
}
