//! Issue 6: the portal and the console as people use them, in headless Chromium driven
//! through chromedriver (Debian's `chromium` and `chromium-driver`, which `.ci/run`
//! installs). Each test starts its own platform and its own chromedriver on loopback.
//!
//! The pages it passes through are photographed. Set `GONGSHU_SCREENSHOTS=docs/screenshots`
//! to keep them (that is how the README's pictures are made); otherwise they go to a
//! temporary directory and are only checked to be real PNG images.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{DEMO_PASSWORD, TestApp, spawn};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::json;

/// chromedriver, killed when the test ends however it ends.
struct Driver {
    child: Child,
}

impl Drop for Driver {
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

/// Where the pictures go: `GONGSHU_SCREENSHOTS` (relative to the workspace root) or a
/// directory that lives as long as the test.
struct Shots {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    /// The HTML of every page photographed, for the W3C validator.
    pages: tempfile::TempDir,
    /// What axe-core found wrong on each page photographed (WCAG 2.1 A and AA).
    accessibility: std::sync::Mutex<Vec<String>>,
}

impl Shots {
    fn new() -> Self {
        match std::env::var_os("GONGSHU_SCREENSHOTS") {
            Some(d) => {
                let root = Path::new(&manifest_dir()).join("../..");
                let dir = root.join(d);
                std::fs::create_dir_all(&dir).unwrap();
                Self {
                    dir,
                    _temp: None,
                    pages: tempfile::tempdir().unwrap(),
                    accessibility: std::sync::Mutex::new(Vec::new()),
                }
            }
            None => {
                let t = tempfile::tempdir().unwrap();
                Self {
                    dir: t.path().to_owned(),
                    _temp: Some(t),
                    pages: tempfile::tempdir().unwrap(),
                    accessibility: std::sync::Mutex::new(Vec::new()),
                }
            }
        }
    }

    async fn take(&self, c: &Client, name: &str) {
        let png = c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{name}");
        std::fs::write(self.dir.join(format!("{name}.png")), png).unwrap();
        // The page as the browser holds it (pages reached by posting a form cannot be
        // fetched again); the serialisation leaves out the doctype.
        let html = format!("<!DOCTYPE html>\n{}", c.source().await.unwrap());
        std::fs::write(self.pages.path().join(format!("{name}.html")), html).unwrap();
        let found = accessibility_problems(c).await;
        if !found.is_empty() {
            self.accessibility
                .lock()
                .unwrap()
                .push(format!("{name}: {}", found.join("; ")));
        }
    }

    /// Every page photographed is valid HTML5, as the browser received it, and passes
    /// axe-core's WCAG 2.1 A and AA rules (labels, contrast, landmarks, names …).
    fn validate(&self) {
        common::assert_valid_html(self.pages.path());
        let problems = self.accessibility.lock().unwrap();
        assert!(
            problems.is_empty(),
            "accessibility:\n{}",
            problems.join("\n")
        );
    }
}

/// axe-core (npm), which `.ci/run` installs under `~/.cache/gongshu-axe`; the test only
/// injects it into pages it checks, the platform never serves it.
fn axe_source() -> String {
    let path = std::env::var_os("GONGSHU_AXE_JS").map_or_else(
        || {
            Path::new(&std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/gongshu-axe/node_modules/axe-core/axe.min.js")
        },
        PathBuf::from,
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing at {} ({e}): `npm install --prefix ~/.cache/gongshu-axe axe-core@4` \
             (.ci/run does), or set GONGSHU_AXE_JS",
            path.display()
        )
    })
}

/// The WCAG 2.1 A/AA violations axe-core finds on the current page: rule and count.
async fn accessibility_problems(c: &Client) -> Vec<String> {
    c.execute(&format!("{}\nreturn true;", axe_source()), vec![])
        .await
        .unwrap();
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
               .then(r => done(r.violations.map(v => v.id + ' (' + v.nodes.length + '): ' +
                 v.nodes.slice(0, 2).map(n => n.target.join(' ')).join(', '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .unwrap();
    found
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn browser() -> (Driver, Client) {
    let driver = std::env::var("GONGSHU_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = free_port();
    let child = Command::new(&driver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start `{driver}` ({e}): install Debian's chromium and chromium-driver \
                 (.ci/run does), or set GONGSHU_CHROMEDRIVER"
            )
        });
    let guard = Driver { child };
    let mut caps = serde_json::Map::new();
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1100",
        "--lang=zh-CN",
    ];
    if std::env::var_os("GONGSHU_SCREENSHOTS").is_some() {
        args.push("--hide-scrollbars");
    }
    let mut chrome = json!({ "args": args });
    if let Ok(bin) = std::env::var("CHROME_BIN") {
        chrome["binary"] = json!(bin);
    }
    caps.insert("goog:chromeOptions".into(), chrome);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let url = format!("http://127.0.0.1:{port}");
    // chromedriver takes a moment to listen.
    for _ in 0..200 {
        if let Ok(c) = ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            c.set_window_size(1280, 1100).await.unwrap();
            return (guard, c);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver at {url} did not start a browser session");
}

async fn css(c: &Client, selector: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("no `{selector}`: {e}"))
}

async fn link(c: &Client, text: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::LinkText(text))
        .await
        .unwrap_or_else(|e| panic!("no link `{text}`: {e}"))
}

/// Clicks something that loads another page and waits until the old page is gone, so the
/// next lookup cannot find an element of the page being left.
async fn follow(c: &Client, el: fantoccini::elements::Element) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    el.click().await.unwrap();
    for _ in 0..400 {
        if old.tag_name().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the click did not lead to another page");
}

/// `follow` the element `selector` finds.
async fn go(c: &Client, selector: &str) {
    follow(c, css(c, selector).await).await;
}

/// `follow` the link with this text.
async fn go_link(c: &Client, text: &str) {
    follow(c, link(c, text).await).await;
}

async fn fill(c: &Client, selector: &str, text: &str) {
    let el = css(c, selector).await;
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

/// The main content's text. A click that navigates can replace the page between finding
/// `main` and reading it: then read the new one.
async fn page_text(c: &Client) -> String {
    for _ in 0..50 {
        if let Ok(text) = css(c, "main").await.text().await {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never settled");
}

async fn sign_in(c: &Client, t: &TestApp, username: &str) {
    c.goto(&t.url("/login")).await.unwrap();
    fill(c, "#username", username).await;
    fill(c, "#password", DEMO_PASSWORD).await;
    go(c, "form.login button[type=submit]").await;
    css(c, "form[action='/logout']").await;
}

async fn sign_out(c: &Client) {
    go(c, "form[action='/logout'] button").await;
    link(c, "登录").await;
}

/// The browser's session cookie, to fetch what a link points at as that user.
async fn session_cookie(c: &Client) -> Option<String> {
    c.get_named_cookie("gongshu_session")
        .await
        .ok()
        .map(|k| format!("gongshu_session={}", k.value()))
}

async fn fetch(t: &TestApp, href: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let url = if href.starts_with("http") {
        href.to_owned()
    } else {
        t.url(href)
    };
    let mut req = t.client.get(url);
    if let Some(k) = cookie {
        req = req.header("cookie", k);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

const REGISTRY_CSV: &str = "企业名称,统一社会信用代码,企业类型,成立日期,注册资本\n\
济南明湖科技有限公司,91370102MA3C4FQX1R,有限责任公司,2019-05-12,500\n\
青岛海岸贸易有限公司,91370202MA3DE1QH7B,有限责任公司,2020-11-03,1200\n";

/// Puts data on a published entry through the API, as its provider would have.
async fn with_data(t: &TestApp, title: &str, provider_user: &str) -> i64 {
    let (_, list) = t
        .get(
            &format!("/api/v1/datasets?q={}&per_page=5", urlencode(title)),
            None,
        )
        .await;
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["title"] == title)
        .unwrap_or_else(|| panic!("{title} not in {list}"))
        .clone();
    let id = item["id"].as_i64().unwrap();
    let token = t.token(provider_user).await;
    let job = common::ingest(t, id, &token, "registry.csv", REGISTRY_CSV.as_bytes(), &[]).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    id
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A citizen searches in Chinese, narrows by a facet, opens the entry and downloads it.
#[tokio::test]
async fn a_visitor_searches_narrows_by_a_facet_opens_an_entry_and_downloads_it() {
    let t = spawn().await;
    with_data(&t, "山东省企业登记注册信息", "demo-provider").await;
    let shots = Shots::new();
    let (_driver, c) = browser().await;

    c.goto(&t.base).await.unwrap();
    assert!(c.title().await.unwrap().contains("公数"));
    let home = page_text(&c).await;
    assert!(
        home.contains("重点开放领域") && home.contains("市场监管"),
        "{home}"
    );
    shots.take(&c, "home").await;
    // Words run together, as people type Chinese.
    fill(&c, "#q", "企业登记信息").await;
    go(&c, "form.search button").await;
    css(&c, "nav.facets").await;
    shots.take(&c, "search").await;
    let before = page_text(&c).await;
    assert!(before.contains("山东省企业登记注册信息"), "{before}");

    // Narrow to entries open without conditions: the facet link becomes the current one.
    go(&c, "nav.facets a[href*='open_type=unconditional']").await;
    css(&c, "nav.facets a[aria-current]").await;
    let url = c.current_url().await.unwrap();
    assert!(url.as_str().contains("open_type=unconditional"), "{url}");

    go_link(&c, "山东省企业登记注册信息").await;
    css(&c, ".preview table").await;
    let page = page_text(&c).await;
    assert!(
        page.contains("济南明湖科技有限公司") && page.contains("信息资源代码"),
        "{page}"
    );
    // A chart of a numeric column by month, drawn on the server, with its numbers as a
    // table; and the API examples with this platform's address.
    let caption = css(&c, "figure.chart figcaption")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        caption.contains("注册资本") && caption.contains("成立日期"),
        "{caption}"
    );
    assert_eq!(
        c.find_all(Locator::Css("figure.chart svg rect"))
            .await
            .unwrap()
            .len(),
        2
    );
    let api = css(&c, "details.api").await.html(false).await.unwrap();
    assert!(
        api.contains(&format!("{}/api/v1/resources/", t.base)) && api.contains("import requests"),
        "{api}"
    );
    shots.take(&c, "dataset").await;

    let csv = link(&c, "CSV").await;
    let href = csv.attr("href").await.unwrap().unwrap();
    let (status, body) = fetch(&t, &href, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("青岛海岸贸易有限公司"), "{body}");

    // The whole portal reads in English too.
    go_link(&c, "English").await;
    css(&c, "html[lang=en]").await;
    assert!(page_text(&c).await.contains("Data items"));
    c.close().await.unwrap();
    shots.validate();
}

/// A provider writes an entry in the editor (and is told what is wrong next to the
/// field), uploads its data, submits it; the authority finds it in the review queue and
/// approves it; the public then finds it.
#[tokio::test]
async fn a_provider_catalogs_uploads_and_submits_and_the_authority_approves() {
    let t = spawn().await;
    let shots = Shots::new();
    let (_driver, c) = browser().await;
    sign_in(&c, &t, "demo-provider").await;

    c.goto(&t.url("/console/datasets")).await.unwrap();
    go_link(&c, "新建目录").await;
    css(&c, "form.editor").await;
    // A first save without a title: refused, with the reason beside the field and
    // everything typed kept.
    fill(&c, "#summary", "全省电梯使用单位及维保单位的登记信息。").await;
    fill(&c, "#cat_item", "02").await;
    fill(&c, "#cat_catalog", "009").await;
    css(&c, "input[name=domains][value=market_regulation]")
        .await
        .click()
        .await
        .unwrap();
    fill(&c, "input[name=item_name]", "企业名称").await;
    fill(&c, "input[name=item_description]", "使用单位全称").await;
    go(&c, "form.editor button[type=submit]:not([name])").await;
    let error = css(&c, "#title-error").await.text().await.unwrap();
    assert!(!error.is_empty());
    assert_eq!(
        css(&c, "#title").await.attr("aria-invalid").await.unwrap(),
        Some("true".into())
    );
    assert_eq!(
        css(&c, "#summary").await.prop("value").await.unwrap(),
        Some("全省电梯使用单位及维保单位的登记信息。".into())
    );
    shots.take(&c, "editor-error").await;

    // More rows for the data items, without losing what is typed.
    go(&c, "button[name=add_rows]").await;
    let rows = c
        .find_all(Locator::Css("input[name=item_name]"))
        .await
        .unwrap();
    assert!(rows.len() >= 4, "{}", rows.len());
    rows[1].send_keys("统一社会信用代码").await.unwrap();
    c.find_all(Locator::Css("input[name=item_description]"))
        .await
        .unwrap()[1]
        .send_keys("18位代码")
        .await
        .unwrap();
    // 一数一源: this provider is the source of the credit codes it registers.
    c.find_all(Locator::Css("select[name=item_source]"))
        .await
        .unwrap()[1]
        .select_by_value("1")
        .await
        .unwrap();
    fill(&c, "#title", "山东省电梯使用登记信息").await;
    fill(&c, "#keywords", "电梯，特种设备").await;
    shots.take(&c, "editor").await;
    go(&c, "form.editor button[type=submit]:not([name])").await;
    css(&c, "form.upload").await;
    let page = page_text(&c).await;
    assert!(
        page.contains("山东省电梯使用登记信息") && page.contains("草稿"),
        "{page}"
    );
    let entry_url = c.current_url().await.unwrap();
    let id: i64 = entry_url
        .path()
        .trim_start_matches("/console/datasets/")
        .parse()
        .unwrap();

    // Upload: the progress script posts the form and lands on the job's page, which
    // refreshes itself until the file is read.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("电梯.csv");
    std::fs::write(
        &file,
        "企业名称,统一社会信用代码\n济南明湖科技有限公司,91370102MA3C4FQX1R\n",
    )
    .unwrap();
    css(&c, "#file")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    css(&c, "form.upload button").await.click().await.unwrap();
    let done = c
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(".badge.job-succeeded"))
        .await;
    assert!(done.is_ok(), "{}", page_text(&c).await);
    shots.take(&c, "upload-result").await;
    go_link(&c, "返回目录").await;
    go(&c, "button[data-step=submit]").await;
    css(&c, ".badge.status-submitted").await;
    sign_out(&c).await;

    // The authority's queue.
    sign_in(&c, &t, "demo-authority").await;
    c.goto(&t.url("/console/datasets?status=submitted"))
        .await
        .unwrap();
    shots.take(&c, "review-queue").await;
    go_link(&c, "山东省电梯使用登记信息").await;
    go(&c, "button[data-step=approve]").await;
    css(&c, ".badge.status-published").await;
    sign_out(&c).await;

    let (status, body) = t.get(&format!("/api/v1/datasets/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["items"][1]["source"], true, "{body}");
    assert_eq!(body["items"][0].get("source"), None, "{body}");
    c.goto(&t.url(&format!("/datasets/{id}"))).await.unwrap();
    let page = page_text(&c).await;
    assert!(page.contains("济南明湖科技有限公司"), "{page}");
    c.close().await.unwrap();
    shots.validate();
}

/// A registered user applies for conditionally open data; the authority passes the
/// formal check, the provider approves, both accept the agreement, and the user can then
/// download what was closed to them.
#[tokio::test]
async fn a_user_applies_for_conditional_data_and_downloads_it_once_approved() {
    let t = spawn().await;
    let (_, list) = t
        .get("/api/v1/datasets?open_type=conditional&per_page=100", None)
        .await;
    let entry = list["items"][0].clone();
    let (dataset, title) = (
        entry["id"].as_i64().unwrap(),
        entry["title"].as_str().unwrap().to_owned(),
    );
    let org = entry["provider"]["id"].as_i64().unwrap();
    t.user_with_role("browser-provider", "provider_admin", Some(org), None)
        .await;
    with_data(&t, &title, "browser-provider").await;
    let shots = Shots::new();
    let (_driver, c) = browser().await;

    sign_in(&c, &t, "demo-user").await;
    c.goto(&t.url(&format!("/datasets/{dataset}")))
        .await
        .unwrap();
    assert!(c.find(Locator::LinkText("CSV")).await.is_err());
    go_link(&c, "申请使用").await;
    fill(&c, "#purpose", "研究企业分布").await;
    fill(&c, "#scenario", "学术论文").await;
    fill(&c, "#security_measures", "专机存放，不外传").await;
    if let Ok(duty) = c.find(Locator::Css("#legal_duty")).await {
        duty.send_keys("无").await.unwrap();
    }
    css(&c, "input[name=mode][value=download]")
        .await
        .click()
        .await
        .unwrap();
    fill(&c, "#period_days", "90").await;
    css(&c, "input[name=pledge]").await.click().await.unwrap();
    shots.take(&c, "apply").await;
    go(&c, "form button[type=submit]:not(.inline *)").await;
    css(&c, "input[name=agreement_hash], .ok").await;
    let app_url = c.current_url().await.unwrap();
    let app_path = app_url.path().to_owned();
    sign_out(&c).await;

    let act = |action: &'static str| format!("form:has(input[name=action][value={action}]) button");
    sign_in(&c, &t, "demo-authority").await;
    c.goto(&t.url(&app_path)).await.unwrap();
    go(&c, &act("pass_check")).await;
    css(&c, ".ok").await;
    sign_out(&c).await;

    sign_in(&c, &t, "browser-provider").await;
    c.goto(&t.url(&app_path)).await.unwrap();
    go(&c, &act("approve")).await;
    fill(&c, "#accept-password", DEMO_PASSWORD).await;
    go(&c, "form[action$='/accept'] button").await;
    css(&c, ".ok").await;
    sign_out(&c).await;

    sign_in(&c, &t, "demo-user").await;
    c.goto(&t.url(&app_path)).await.unwrap();
    fill(&c, "#accept-password", DEMO_PASSWORD).await;
    go(&c, "form[action$='/accept'] button").await;
    css(&c, "a[href^='/console/grants/']").await;
    shots.take(&c, "application").await;

    c.goto(&t.url(&format!("/datasets/{dataset}")))
        .await
        .unwrap();
    let href = link(&c, "CSV").await.attr("href").await.unwrap().unwrap();
    let cookie = session_cookie(&c).await.unwrap();
    let (status, body) = fetch(&t, &href, Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("济南明湖科技有限公司"), "{body}");
    // Nobody else can.
    let (status, _) = fetch(&t, &href, None).await;
    assert_ne!(status, StatusCode::OK);
    c.close().await.unwrap();
    shots.validate();
}

/// The console's other pages, as their users reach them, pass the same checks: W3C
/// validity and axe-core's WCAG 2.1 A/AA rules, in Chinese and in English.
#[tokio::test]
async fn the_console_and_portal_pages_pass_the_accessibility_rules() {
    let t = spawn().await;
    let id = with_data(&t, "山东省企业登记注册信息", "demo-provider").await;
    let (_, resources) = t
        .get(&format!("/api/v1/datasets/{id}/resources"), None)
        .await;
    let rid = resources[0]["id"].as_str().unwrap().to_owned();
    // A sandbox query over it, and its verification offered, for their pages.
    let provider = t.token("demo-provider").await;
    let table = resources[0]["table_name"].as_str().unwrap();
    let (s, query) = t
        .post(
            "/api/v1/sandbox/queries",
            Some(&provider),
            serde_json::json!({ "sql": format!("SELECT COUNT(*) AS n FROM {table}") }),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{query}");
    let column = resources[0]["columns"][0]["name"].as_str().unwrap();
    let (s, offered) = t
        .put(
            &format!("/api/v1/resources/{rid}/verification"),
            Some(&provider),
            serde_json::json!({ "enabled": true, "key_columns": [column] }),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{offered}");
    // A released evaluation of the province, to read as the public does.
    let authority = t.token("demo-authority").await;
    let today = chrono::Utc::now().date_naive();
    let (_, computed) = t
        .post(
            "/api/v1/evaluations",
            Some(&authority),
            serde_json::json!({"region_code": "370000",
                "from": today - chrono::Duration::days(90), "to": today}),
        )
        .await;
    let evaluation = computed["id"].as_i64().unwrap();
    let (s, _) = t
        .post(
            &format!("/api/v1/evaluations/{evaluation}/release"),
            Some(&authority),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK);
    let shots = Shots::new();
    let (_driver, c) = browser().await;
    for (name, path) in [
        ("regions", "/regions".to_owned()),
        ("region", "/regions/370100".to_owned()),
        ("negative-list", "/lists/negative/open".to_owned()),
        ("developers", "/developers".to_owned()),
        ("register", "/register".to_owned()),
        ("organizations", "/organizations".to_owned()),
        ("demands", "/demands".to_owned()),
        ("supply-demand", "/supply-demand".to_owned()),
        ("reuses", "/reuses".to_owned()),
        ("evaluations", "/evaluations".to_owned()),
        ("evaluation", format!("/evaluations/{evaluation}")),
        ("security-notices", "/security-notices".to_owned()),
    ] {
        c.goto(&t.url(&path)).await.unwrap();
        css(&c, "main h1").await;
        shots.take(&c, name).await;
    }
    sign_in(&c, &t, "demo-provider").await;
    for (name, path) in [
        ("console", "/console".to_owned()),
        ("workbench", "/console/datasets".to_owned()),
        ("entry", format!("/console/datasets/{id}")),
        ("protection", format!("/console/resources/{rid}/protection")),
        ("quality", format!("/console/resources/{rid}/quality")),
        ("tokens", "/console/tokens".to_owned()),
        ("incidents", "/console/incidents".to_owned()),
        ("calendar", "/console/calendar".to_owned()),
        ("grading", "/console/grading".to_owned()),
        // Who used the provider's entry: its audit records.
        ("audit", format!("/console/audit?dataset={id}")),
        ("objection-new", format!("/datasets/{id}/objection")),
        ("objections", "/console/objections".to_owned()),
        ("demand-new", "/demands/new".to_owned()),
        ("reuse-new", format!("/reuses/new?dataset={id}")),
        ("source-conflicts", "/console/source-conflicts".to_owned()),
        ("sandbox", "/sandbox".to_owned()),
        ("sandbox-query", format!("/sandbox/queries/{}", query["id"])),
        ("verify", format!("/verify/{rid}")),
    ] {
        c.goto(&t.url(&path)).await.unwrap();
        css(&c, "main h1").await;
        shots.take(&c, name).await;
    }
    go_link(&c, "English").await;
    css(&c, "html[lang=en]").await;
    c.goto(&t.url(&format!("/console/datasets/{id}/edit")))
        .await
        .unwrap();
    css(&c, "form.editor").await;
    shots.take(&c, "editor-en").await;
    // The authority's harvesting and federation pages, with their forms.
    c.delete_all_cookies().await.unwrap();
    sign_in(&c, &t, "demo-authority").await;
    for (name, path) in [
        ("harvest", "/console/harvest"),
        ("federation", "/console/federation"),
    ] {
        c.goto(&t.url(path)).await.unwrap();
        css(&c, "main h1").await;
        shots.take(&c, name).await;
    }
    c.close().await.unwrap();
    shots.validate();
}

/// The package's directory when the test runs. Cargo sets it for the run as well as for
/// the build; the build's value can name another checkout that shared the target
/// directory, since cargo does not rebuild a test for having moved.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .expect("run by cargo, which sets CARGO_MANIFEST_DIR")
        .into()
}
