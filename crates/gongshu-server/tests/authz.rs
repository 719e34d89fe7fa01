//! Issue 7: every route — each one the server's source declares, API and HTML alike — is
//! called as each kind of caller, and must allow exactly whom the table below says. A
//! route missing from the table, or a table row for a route that no longer exists, fails
//! the test: no route can be left out.
//!
//! "Allowed" means the caller got past authorisation: anything but 401, 403 or a
//! redirect to the sign-in page (a 404 for a made-up id, or a 422 for an empty body, is
//! still allowed). "Denied" means no success: 401, 403, a redirect to sign in, or a 4xx
//! that refuses before looking (never a 2xx or a redirect elsewhere).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{DEMO_PASSWORD, TestApp, hidden_csrf, ingest, spawn};
use reqwest::StatusCode;
use serde_json::json;

/// The callers, in the order of the table's columns.
const ROLES: [&str; 8] = [
    "anonymous",
    "registered user",
    "department user",
    "provider (owner)",
    "provider of another organisation",
    "authority of another region",
    "province auditor",
    "system administrator",
];

/// Who may call each route: one letter per caller in `ROLES` order, `y` allowed, `n`
/// denied.
const TABLE: &[(&str, &str, &str)] = &[
    // Public API.
    ("GET", "/api/v1/openapi.json", "yyyyyyyy"),
    ("POST", "/api/v1/auth/token", "yyyyyyyy"),
    ("DELETE", "/api/v1/auth/token", "nyyyyyyy"),
    ("GET", "/api/v1/me", "nyyyyyyy"),
    ("GET", "/api/v1/regions", "yyyyyyyy"),
    ("POST", "/api/v1/regions", "nnnnnnny"),
    ("GET", "/api/v1/regions/{code}/catalog", "yyyyyyyy"),
    ("GET", "/api/v1/organizations", "yyyyyyyy"),
    ("POST", "/api/v1/organizations", "nnnnnyny"),
    ("GET", "/api/v1/organizations/{id}", "yyyyyyyy"),
    ("GET", "/api/v1/organizations/{id}/open-list", "yyyyyyyy"),
    ("GET", "/api/v1/negative-lists/{kind}", "yyyyyyyy"),
    ("GET", "/api/v1/datasets", "yyyyyyyy"),
    ("POST", "/api/v1/datasets", "nnnyynnn"),
    ("GET", "/api/v1/datasets/{id}", "yyyyyyyy"),
    ("PUT", "/api/v1/datasets/{id}", "nnnynnnn"),
    ("POST", "/api/v1/datasets/{id}/{step}", "nnnynnnn"),
    ("GET", "/api/v1/datasets/{id}/attribute-changes", "nnnynnyn"),
    (
        "POST",
        "/api/v1/datasets/{id}/attribute-changes",
        "nnnynnnn",
    ),
    ("GET", "/api/v1/datasets/{id}/share-review", "nnnynnyn"),
    ("POST", "/api/v1/datasets/{id}/share-review", "nnnynnnn"),
    ("GET", "/api/v1/datasets/{id}/versions", "yyyyyyyy"),
    // Feedback: anyone signed in files; who may act on a case is decided by the case
    // (tests/feedback.rs), and a made-up case is "not found" to everyone signed in.
    ("GET", "/api/v1/objections", "nyyyyyyy"),
    ("POST", "/api/v1/objections", "nyyyyyyy"),
    ("GET", "/api/v1/objections/{id}", "nyyyyyyy"),
    ("GET", "/api/v1/objections/{id}/evidence", "nyyyyyyy"),
    ("POST", "/api/v1/objections/{id}/evidence", "nyyyyyyy"),
    ("POST", "/api/v1/objections/{id}/reply", "nyyyyyyy"),
    ("POST", "/api/v1/objections/{id}/reopen", "nyyyyyyy"),
    ("POST", "/api/v1/objections/{id}/offline", "nyyyyyyy"),
    ("POST", "/api/v1/objections/{id}/restore", "nyyyyyyy"),
    ("GET", "/api/v1/demands", "yyyyyyyy"),
    ("POST", "/api/v1/demands", "nyyyyyyy"),
    ("GET", "/api/v1/demands/{id}", "yyyyyyyy"),
    ("POST", "/api/v1/demands/{id}/route", "nyyyyyyy"),
    ("POST", "/api/v1/demands/{id}/answer", "nyyyyyyy"),
    ("GET", "/api/v1/supply-demand", "yyyyyyyy"),
    ("GET", "/api/v1/datasets/{id}/feedback", "yyyyyyyy"),
    ("GET", "/api/v1/datasets/{id}/quality", "yyyyyyyy"),
    ("GET", "/api/v1/resources/{id}/quality", "nnnynnyn"),
    ("POST", "/api/v1/datasets/{id}/rating", "nyyyyyyy"),
    ("GET", "/api/v1/evaluations", "yyyyyyyy"),
    ("POST", "/api/v1/evaluations", "nyyyyyyy"),
    ("GET", "/api/v1/evaluations/{id}", "yyyyyyyy"),
    ("POST", "/api/v1/evaluations/{id}/release", "nyyyyyny"),
    ("GET", "/api/v1/evaluations/{id}/export", "yyyyyyyy"),
    ("GET", "/api/v1/evaluation-schemes/{region}", "yyyyyyyy"),
    ("PUT", "/api/v1/evaluation-schemes/{region}", "nyyyyyyy"),
    ("GET", "/api/v1/incidents", "nyyyyyyy"),
    ("POST", "/api/v1/incidents", "nyyyyyyy"),
    ("GET", "/api/v1/incidents/{id}", "nyyyyyyy"),
    ("POST", "/api/v1/incidents/{id}/updates", "nyynyyny"),
    ("GET", "/api/v1/security-notices", "yyyyyyyy"),
    ("GET", "/api/v1/source-conflicts", "nnnyyyyn"),
    ("GET", "/api/v1/sandbox/queries", "nyyyyyyy"),
    ("POST", "/api/v1/sandbox/queries", "nyyyyyyy"),
    ("GET", "/api/v1/sandbox/queries/{id}", "nyyyyyyy"),
    ("DELETE", "/api/v1/sandbox/queries/{id}", "nyyyyyyy"),
    ("POST", "/api/v1/sandbox/queries/{id}/reviews", "nyyyyyyy"),
    ("GET", "/api/v1/sandbox/queries/{id}/download", "nyyyyyyy"),
    // A grant's privacy mode: as the grant itself (holder, provider, authority and
    // auditors of the region); set by the provider only.
    ("GET", "/api/v1/grants/{id}/privacy", "nyyyyyyy"),
    ("PUT", "/api/v1/grants/{id}/privacy", "nyyyyyyy"),
    // Models: listed to whoever sees the entry; the provider publishes and retires them
    // (a made-up one is "not found" to everyone signed in); runs pass the gate
    // (tests/sandbox.rs).
    ("GET", "/api/v1/datasets/{id}/models", "yyyyyyyy"),
    ("POST", "/api/v1/models", "nyyyyyyy"),
    ("GET", "/api/v1/models/{id}", "yyyyyyyy"),
    ("DELETE", "/api/v1/models/{id}", "nyyyyyyy"),
    ("POST", "/api/v1/models/{id}/runs", "nyyyyyyy"),
    // Verification: the settings are public, set by the provider; anyone signed in may
    // ask, and the gate decides by the grant (tests/sandbox.rs).
    ("GET", "/api/v1/resources/{id}/verification", "yyyyyyyy"),
    ("PUT", "/api/v1/resources/{id}/verification", "nnnynnnn"),
    ("POST", "/api/v1/verify/{id}", "nyyyyyyy"),
    ("POST", "/api/v1/verify/{id}/batch", "nyyyyyyy"),
    // Harvest sources: anyone signed in may ask; each sees only the sources of the
    // regions they administer (tests/harvest.rs), a made-up one is "not found".
    ("GET", "/api/v1/harvest/sources", "nyyyyyyy"),
    ("POST", "/api/v1/harvest/sources", "nyyyyyyy"),
    ("GET", "/api/v1/harvest/sources/{id}", "nyyyyyyy"),
    ("PUT", "/api/v1/harvest/sources/{id}", "nyyyyyyy"),
    ("GET", "/api/v1/harvest/sources/{id}/runs", "nyyyyyyy"),
    ("POST", "/api/v1/harvest/sources/{id}/runs", "nyyyyyyy"),
    ("GET", "/api/v1/harvest/runs/{id}", "nyyyyyyy"),
    // Federation: members are listed to whoever signs in (each sees the regions they
    // administer); enrolment answers to its token and pushes to their signature (none
    // here: refused to all); the upstream is the system administrator's, and auditors
    // read it (tests/federation.rs in the gongshu crate).
    ("GET", "/api/v1/federation/members", "nyyyyyyy"),
    ("POST", "/api/v1/federation/members", "nyyyyyyy"),
    ("POST", "/api/v1/federation/enroll", "yyyyyyyy"),
    ("POST", "/api/v1/federation/sync", "nnnnnnnn"),
    ("GET", "/api/v1/federation/upstream", "nnnnnnyy"),
    ("PUT", "/api/v1/federation/upstream", "nnnnnnny"),
    ("POST", "/api/v1/federation/upstream/push", "nnnnnnny"),
    ("GET", "/api/v1/reuses", "yyyyyyyy"),
    ("POST", "/api/v1/reuses", "nyyyyyyy"),
    ("GET", "/api/v1/reuses/{id}", "yyyyyyyy"),
    ("POST", "/api/v1/reuses/{id}/moderate", "nyyyyyyy"),
    ("POST", "/api/v1/reuses/{id}/screenshots", "nyyyyyyy"),
    ("GET", "/api/v1/reuses/{id}/screenshots/{n}", "yyyyyyyy"),
    (
        "GET",
        "/api/v1/datasets/{id}/versions/{version}",
        "nnnynnyy",
    ),
    ("GET", "/api/v1/datasets/{id}/diff", "nnnynnyy"),
    ("GET", "/api/v1/workbench/datasets", "nyyyyyyy"),
    ("GET", "/api/v1/workbench/datasets/{id}", "nnnynnyn"),
    ("GET", "/api/v1/users", "nnnnnnny"),
    ("POST", "/api/v1/users", "nnnnnyny"),
    ("POST", "/api/v1/users/{id}/roles", "nnnnnyny"),
    // Applications, attribute changes, catalog updates.
    ("GET", "/api/v1/applications", "nyyyyyyy"),
    ("POST", "/api/v1/applications", "nyyyyyyy"),
    ("GET", "/api/v1/applications/{id}", "nnnnnnyy"),
    ("POST", "/api/v1/applications/{id}/accept", "nnnnnnnn"),
    ("POST", "/api/v1/applications/{id}/{action}", "nnnnnnnn"),
    ("GET", "/api/v1/attribute-changes", "nyyyyyyy"),
    ("GET", "/api/v1/attribute-changes/{id}", "nnnynnyy"),
    (
        "POST",
        "/api/v1/attribute-changes/{id}/{action}",
        "nnnynnnn",
    ),
    ("GET", "/api/v1/catalog-updates", "nyyyyyyy"),
    ("POST", "/api/v1/catalog-updates", "nnnyyynn"),
    ("GET", "/api/v1/catalog-updates/{id}", "nnnyyyyy"),
    ("POST", "/api/v1/catalog-updates/{id}/close", "nnnyyyny"),
    // Calendar.
    ("GET", "/api/v1/calendar/deadline", "yyyyyyyy"),
    ("GET", "/api/v1/calendar/years", "yyyyyyyy"),
    ("GET", "/api/v1/calendar/years/{year}", "yyyyyyyy"),
    ("PUT", "/api/v1/calendar/years/{year}", "nnnnnnny"),
    // Data.
    ("GET", "/api/v1/datasets/{id}/resources", "yyyyyyyy"),
    ("GET", "/api/v1/resources/{id}", "yyyyyyyy"),
    ("GET", "/api/v1/resources/{id}/rows", "yyyyyyyy"),
    ("GET", "/api/v1/resources/{id}/download", "yyyyyyyy"),
    ("GET", "/api/v1/resources/{id}/columns", "nnnynnyy"),
    ("PUT", "/api/v1/resources/{id}/columns", "nnnynnnn"),
    ("GET", "/api/v1/resources/{id}/rules", "nnnynnyy"),
    ("PUT", "/api/v1/resources/{id}/rules", "nnnynnnn"),
    ("GET", "/api/v1/resources/{id}/k-anonymity", "nnnynnyy"),
    ("POST", "/api/v1/sql", "yyyyyyyy"),
    ("POST", "/api/v1/datasets/{id}/resources", "nnnynnnn"),
    ("GET", "/api/v1/jobs/{id}", "nnnynnnn"),
    ("POST", "/api/v1/jobs/{id}/{decision}", "nnnynnnn"),
    // Grants and the inbox.
    ("GET", "/api/v1/me/grants", "nyyyyyyy"),
    ("GET", "/api/v1/datasets/{id}/grants", "nnnynnyn"),
    ("GET", "/api/v1/grants/{id}", "nnnnnnnn"),
    ("POST", "/api/v1/grants/{id}/terminate", "nnnnnnnn"),
    ("POST", "/api/v1/grants/{id}/tokens", "nnnnnnnn"),
    ("GET", "/api/v1/grants/{id}/reports", "nnnnnnnn"),
    ("POST", "/api/v1/grants/{id}/reports", "nnnnnnnn"),
    ("GET", "/api/v1/inbox", "nyyyyyyy"),
    ("POST", "/api/v1/inbox/{id}/read", "nyyyyyyy"),
    ("GET", "/api/v1/me/channels", "nyyyyyyy"),
    ("PUT", "/api/v1/me/channels", "nyyyyyyy"),
    // Regions' settings, grading, at rest.
    ("GET", "/api/v1/regions/{code}/policy", "yyyyyyyy"),
    ("PUT", "/api/v1/regions/{code}/policy", "nnnnnnny"),
    ("GET", "/api/v1/grade-caps", "yyyyyyyy"),
    ("PUT", "/api/v1/grade-caps", "nnnnnnny"),
    ("GET", "/api/v1/important-data", "nnnnnyyy"),
    ("GET", "/api/v1/at-rest", "nnnnnnyy"),
    ("POST", "/api/v1/at-rest/rotate", "nnnnnnny"),
    // The audit log.
    ("GET", "/api/v1/audit/checkpoint", "yyyyyyyy"),
    ("GET", "/api/v1/audit/proof/inclusion", "yyyyyyyy"),
    ("GET", "/api/v1/audit/proof/consistency", "yyyyyyyy"),
    ("GET", "/api/v1/audit/entries", "nnnnnnyy"),
    ("GET", "/api/v1/alerts", "nnnyynyy"),
    // Operations.
    ("GET", "/healthz", "yyyyyyyy"),
    ("GET", "/readyz", "yyyyyyyy"),
    ("GET", "/metrics", "yyyyyyyy"),
    // Portal pages.
    ("GET", "/", "yyyyyyyy"),
    ("GET", "/datasets", "yyyyyyyy"),
    ("GET", "/datasets/{id}", "yyyyyyyy"),
    ("GET", "/organizations", "yyyyyyyy"),
    ("GET", "/organizations/{id}", "yyyyyyyy"),
    ("GET", "/login", "yyyyyyyy"),
    ("POST", "/login", "yyyyyyyy"),
    // Single sign-on is not set up in this test: every caller gets "not set up" (404),
    // which passes authorisation.
    ("GET", "/login/sso", "yyyyyyyy"),
    ("GET", "/login/sso/callback", "yyyyyyyy"),
    ("GET", "/register", "yyyyyyyy"),
    // Registration checks the token of its own form's cookie, which no caller here has
    // (the form is walked in web.rs).
    ("POST", "/register", "nnnnnnnn"),
    ("POST", "/logout", "nyyyyyyy"),
    ("GET", "/lang", "yyyyyyyy"),
    ("GET", "/static/gongshu.css", "yyyyyyyy"),
    ("GET", "/static/upload.js", "yyyyyyyy"),
    ("GET", "/regions", "yyyyyyyy"),
    ("GET", "/regions/{code}", "yyyyyyyy"),
    ("GET", "/lists/negative/{kind}", "yyyyyyyy"),
    ("GET", "/developers", "yyyyyyyy"),
    // Console pages.
    ("GET", "/console", "nyyyyyyy"),
    ("GET", "/console/apply", "nyyyyyyy"),
    ("POST", "/console/apply", "nyyyyyyy"),
    ("GET", "/console/applications/{id}", "nnnnnnyy"),
    ("POST", "/console/applications/{id}/act", "nnnnnnnn"),
    ("POST", "/console/applications/{id}/accept", "nnnnnnnn"),
    ("GET", "/console/attribute-changes/{id}", "nnnynnyy"),
    ("POST", "/console/attribute-changes/{id}/act", "nnnynnnn"),
    ("GET", "/console/grants/{id}", "nnnnnnnn"),
    ("POST", "/console/grants/{id}/terminate", "nnnnnnnn"),
    ("POST", "/console/grants/{id}/reports", "nnnnnnnn"),
    ("POST", "/console/catalog-updates", "nnnyyynn"),
    ("GET", "/console/catalog-updates/new", "nnnyyynn"),
    ("GET", "/console/catalog-updates/{id}", "nnnyyyyy"),
    ("POST", "/console/catalog-updates/{id}/close", "nnnyyyny"),
    ("GET", "/console/resources/{id}/protection", "nnnynnyy"),
    ("POST", "/console/resources/{id}/columns", "nnnynnnn"),
    ("POST", "/console/resources/{id}/rules", "nnnynnnn"),
    ("GET", "/console/grading", "nyyyyyyy"),
    ("POST", "/console/grading", "nnnnnnny"),
    ("POST", "/console/at-rest/rotate", "nnnnnnny"),
    ("GET", "/console/calendar", "nyyyyyyy"),
    ("GET", "/console/calendar/{year}", "nyyyyyyy"),
    ("POST", "/console/calendar/{year}", "nnnnnnny"),
    ("GET", "/console/regions/{code}/policy", "nyyyyyyy"),
    ("POST", "/console/regions/{code}/policy", "nnnnnnny"),
    ("GET", "/console/datasets", "nyyyyyyy"),
    ("POST", "/console/datasets", "nnnyynnn"),
    ("GET", "/console/datasets/new", "nnnyynnn"),
    ("GET", "/console/datasets/{id}", "nnnynnyn"),
    ("GET", "/console/datasets/{id}/edit", "nnnynnnn"),
    ("POST", "/console/datasets/{id}/edit", "nnnynnnn"),
    ("POST", "/console/datasets/{id}/step", "nnnynnnn"),
    ("POST", "/console/datasets/{id}/upload", "nnnynnnn"),
    ("GET", "/console/tokens", "nyyyyyyy"),
    ("POST", "/console/tokens", "nyyyyyyy"),
    ("POST", "/console/tokens/{id}/revoke", "nyyyyyyy"),
    ("GET", "/console/jobs/{id}", "nnnynnnn"),
    ("POST", "/console/jobs/{id}/decide", "nnnynnnn"),
    ("GET", "/console/audit", "nnnnnnyy"),
    // Feedback pages: as their API.
    ("GET", "/datasets/{id}/objection", "nyyyyyyy"),
    ("POST", "/datasets/{id}/objection", "nyyyyyyy"),
    ("POST", "/datasets/{id}/rating", "nyyyyyyy"),
    ("GET", "/evaluations", "yyyyyyyy"),
    ("POST", "/evaluations", "nyyyyyyy"),
    ("GET", "/evaluations/{id}", "yyyyyyyy"),
    ("POST", "/evaluations/{id}", "nyyyyyny"),
    ("GET", "/evaluations/{id}/export.{format}", "yyyyyyyy"),
    ("GET", "/console/incidents", "nyyyyyyy"),
    ("POST", "/console/incidents", "nyyyyyyy"),
    ("GET", "/console/incidents/{id}", "nyyyyyyy"),
    ("POST", "/console/incidents/{id}", "nyynyyny"),
    ("GET", "/security-notices", "yyyyyyyy"),
    ("GET", "/console/source-conflicts", "nnnyyyyn"),
    // Harvesting and federation pages: as their API (each sees what they administer;
    // made-up sources are "not found"); enrolling with a province is the system
    // administrator's.
    ("GET", "/console/harvest", "nyyyyyyy"),
    ("POST", "/console/harvest", "nyyyyyyy"),
    ("GET", "/console/harvest/{id}", "nyyyyyyy"),
    ("POST", "/console/harvest/{id}/run", "nyyyyyyy"),
    ("GET", "/console/federation", "nyyyyyyy"),
    ("POST", "/console/federation/members", "nyyyyyyy"),
    ("POST", "/console/federation/upstream", "nnnnnnny"),
    ("GET", "/console/objections", "nyyyyyyy"),
    ("GET", "/console/objections/{id}", "nyyyyyyy"),
    ("POST", "/console/objections/{id}/evidence", "nyyyyyyy"),
    ("POST", "/console/objections/{id}/{action}", "nyyyyyyy"),
    ("GET", "/demands", "yyyyyyyy"),
    ("POST", "/demands", "nyyyyyyy"),
    ("GET", "/demands/new", "nyyyyyyy"),
    ("GET", "/demands/{id}", "yyyyyyyy"),
    ("POST", "/demands/{id}/{action}", "nyyyyyyy"),
    ("GET", "/supply-demand", "yyyyyyyy"),
    ("GET", "/console/resources/{id}/quality", "nnnynnyn"),
    ("GET", "/reuses", "yyyyyyyy"),
    ("POST", "/reuses", "nyyyyyyy"),
    ("GET", "/reuses/new", "nyyyyyyy"),
    ("GET", "/reuses/{id}", "yyyyyyyy"),
    ("POST", "/reuses/{id}/moderate", "nyyyyyyy"),
    ("POST", "/reuses/{id}/screenshot", "nyyyyyyy"),
    // The sandbox's pages: anyone signed in writes queries (the gate decides by the
    // grant); a query is shown to its author and the provider's reviewers only
    // (tests/web.rs), so a made-up one is "not found" to everyone signed in.
    ("GET", "/sandbox", "nyyyyyyy"),
    ("POST", "/sandbox", "nyyyyyyy"),
    ("GET", "/sandbox/queries/{id}", "nyyyyyyy"),
    ("POST", "/sandbox/queries/{id}", "nyyyyyyy"),
    ("POST", "/sandbox/queries/{id}/cancel", "nyyyyyyy"),
    // Verification: the page is public; checks need a signed-in caller and the gate;
    // the settings are the provider's.
    // The CKAN Action API: the public catalog, to everyone (an unknown action is a 400).
    ("GET", "/api/3/action/{name}", "yyyyyyyy"),
    ("POST", "/api/3/action/{name}", "yyyyyyyy"),
    ("GET", "/api/action/{name}", "yyyyyyyy"),
    // DCAT-AP: the public catalog, to everyone.
    ("GET", "/catalog.{format}", "yyyyyyyy"),
    ("GET", "/datasets/{id}/dcat.{format}", "yyyyyyyy"),
    ("POST", "/api/action/{name}", "yyyyyyyy"),
    ("POST", "/models", "nyyyyyyy"),
    ("POST", "/models/{id}/run", "nyyyyyyy"),
    ("POST", "/models/{id}/retire", "nyyyyyyy"),
    ("GET", "/verify/{id}", "yyyyyyyy"),
    ("POST", "/verify/{id}", "nyyyyyyy"),
    ("POST", "/verify/{id}/batch", "nyyyyyyy"),
    ("POST", "/verify/{id}/settings", "nnnynnnn"),
];

/// Files whose routes are nested under `/api/v1` (but for console pages kept there).
const API_FILES: [&str; 14] = [
    "api.rs",
    "applications_api.rs",
    "audit.rs",
    "calendar_api.rs",
    "changes_api.rs",
    "data_api.rs",
    "feedback_api.rs",
    "governance_api.rs",
    "harvest_api.rs",
    "federation_api.rs",
    "grants_api.rs",
    "policies_api.rs",
    "sandbox_api.rs",
    "verify_api.rs",
];

/// Every (method, path) the server's source declares with `.route(…)`.
fn declared_routes() -> BTreeSet<(String, String)> {
    let dir = std::path::Path::new(&manifest_dir()).join("src");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        let mut rest = source.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            // The call's arguments, to its closing parenthesis.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(rest.len(), |(i, _)| i);
            let args = &rest[..end];
            let Some(route) = args.split('"').nth(1) else {
                continue;
            };
            let nested = API_FILES.contains(&name.as_str()) && !route.starts_with("/console")
                || (name == "lib.rs" && route == "/openapi.json");
            let full = if nested {
                format!("/api/v1{route}")
            } else {
                route.to_owned()
            };
            for method in ["get", "post", "put", "delete", "patch"] {
                let call = format!("{method}(");
                let found = args.match_indices(&call).any(|(i, _)| {
                    i == 0
                        || !args.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && args.as_bytes()[i - 1] != b'_'
                });
                if found {
                    out.insert((method.to_uppercase(), full.clone()));
                }
            }
        }
    }
    out
}

/// The ids and values that fill a route's parameters.
struct Fixture {
    ids: BTreeMap<&'static str, String>,
}

impl Fixture {
    fn path(&self, route: &str) -> String {
        let mut out = Vec::new();
        let parts: Vec<&str> = route.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let value = match *part {
                "{id}" => {
                    let owner = parts[..i]
                        .iter()
                        .rev()
                        .find(|p| !p.starts_with('{'))
                        .unwrap();
                    self.ids
                        .get(owner)
                        .cloned()
                        .unwrap_or_else(|| "999999".to_owned())
                }
                "{code}" | "{region}" => "370000".to_owned(),
                "{kind}" => "open".to_owned(),
                "{version}" | "{n}" => "1".to_owned(),
                "{year}" => "2026".to_owned(),
                "{step}" => "submit".to_owned(),
                "{action}" => "approve".to_owned(),
                "{decision}" => "publish".to_owned(),
                other => other.to_owned(),
            };
            out.push(value);
        }
        let path = out.join("/");
        match route {
            "/api/v1/audit/proof/inclusion" => format!("{path}?index=0&size=1"),
            "/api/v1/audit/proof/consistency" => format!("{path}?first=1&size=1"),
            "/api/v1/calendar/deadline" => format!("{path}?start=2026-11-23&days=5"),
            "/api/v1/datasets/{id}/diff" => format!("{path}?from=1&to=2"),
            "/lang" => format!("{path}?to=en"),
            _ => path,
        }
    }
}

/// A caller: their bearer token (API) and session with its CSRF token (pages).
struct Caller {
    token: Option<String>,
    cookie: Option<String>,
    csrf: String,
}

async fn caller(t: &TestApp, username: Option<&str>, password: &str) -> Caller {
    let Some(username) = username else {
        return Caller {
            token: None,
            cookie: None,
            csrf: String::new(),
        };
    };
    let (s, body) = t
        .post(
            "/api/v1/auth/token",
            None,
            json!({"username": username, "password": password}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{username}: {body}");
    let cookie = t.session_with(username, password).await;
    let page = t
        .client
        .get(t.url("/console/tokens"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Caller {
        token: Some(body["token"].as_str().unwrap().to_owned()),
        cookie: Some(cookie),
        csrf: hidden_csrf(&page),
    }
}

/// Calls a route as `who`; returns whether it got past authorisation, and the status.
async fn call(t: &TestApp, who: &Caller, method: &str, path: &str) -> (bool, StatusCode, String) {
    let api = path.starts_with("/api/");
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = t.client.request(m, t.url(path));
    if api {
        if let Some(token) = &who.token {
            req = req.bearer_auth(token);
        }
        if method != "GET" {
            req = req.json(&json!({}));
        }
    } else {
        if let Some(cookie) = &who.cookie {
            req = req.header("cookie", cookie);
        }
        if method == "POST" {
            req = req.form(&[("_csrf", who.csrf.as_str())]);
        }
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp.text().await.unwrap_or_default();
    let to_login = status.is_redirection() && location.starts_with("/login");
    let refused = matches!(status.as_u16(), 401 | 403) || to_login;
    (!refused, status, body.chars().take(200).collect())
}

#[tokio::test]
async fn every_route_allows_exactly_whom_the_table_says() {
    // The table and the source agree on which routes exist.
    let declared = declared_routes();
    let tabled: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = declared.difference(&tabled).collect();
    let stale: Vec<_> = tabled.difference(&declared).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "routes without a row: {missing:?}; rows without a route: {stale:?}"
    );
    assert_eq!(tabled.len(), TABLE.len(), "a route has two rows");

    let t = spawn().await;
    // The OpenAPI document describes every API route, and no other.
    let (_, doc) = t.get("/api/v1/openapi.json", None).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|k| matches!(k.as_str(), "get" | "post" | "put" | "delete" | "patch"))
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let api: BTreeSet<(String, String)> = declared
        .iter()
        .filter(|(_, p)| p.starts_with("/api/v1/") && p != "/api/v1/openapi.json")
        .cloned()
        .collect();
    let undocumented: Vec<_> = api.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "API routes missing from OpenAPI: {undocumented:?}"
    );

    // The objects the routes act on: the owner's entry with a table, its job.
    let provider_token = t.token("demo-provider").await;
    let (_, work) = t
        .get(
            "/api/v1/workbench/datasets?per_page=100",
            Some(&provider_token),
        )
        .await;
    let dataset = work["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["status"] == "published" && d["open_type"] == "unconditional")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let job = ingest(&t, dataset, &provider_token, "a.csv", b"a,b\n1,2\n", &[]).await;
    let mut ids = BTreeMap::new();
    ids.insert("datasets", dataset.to_string());
    ids.insert("resources", job["resource_id"].as_str().unwrap().to_owned());
    ids.insert("verify", job["resource_id"].as_str().unwrap().to_owned());
    ids.insert("jobs", job["id"].as_str().unwrap().to_owned());
    let (_, orgs) = t.get("/api/v1/organizations", None).await;
    ids.insert("organizations", orgs["items"][0]["id"].to_string());
    let (_, users) = t.get("/api/v1/users", Some(&t.token("admin").await)).await;
    ids.insert("users", users["items"][0]["id"].to_string());
    // A draft evaluation of the province and an incident touching the entry.
    let authority = t.token("demo-authority").await;
    let today = chrono::Utc::now().date_naive();
    let (s, evaluation) = t
        .post(
            "/api/v1/evaluations",
            Some(&authority),
            json!({"region_code": "370000", "from": today - chrono::Duration::days(30),
                   "to": today - chrono::Duration::days(1)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{evaluation}");
    ids.insert("evaluations", evaluation["id"].to_string());
    let (s, incident) = t
        .post(
            "/api/v1/incidents",
            Some(&authority),
            json!({"region_code": "370000", "severity": "general", "kind": "attack",
                   "title": "接口遭受扫描", "occurred_on": today - chrono::Duration::days(1),
                   "discovered_on": today - chrono::Duration::days(1),
                   "description": "大量异常请求", "dataset_ids": [dataset]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{incident}");
    ids.insert("incidents", incident["id"].to_string());
    let fixture = Fixture { ids };

    let other_org = t.org_id("山东省自然资源厅").await;
    t.user_with_role("other-provider", "provider_admin", Some(other_org), None)
        .await;
    let qingdao = t.org_id("青岛市大数据局").await;
    t.user_with_role(
        "qingdao-authority",
        "authority_admin",
        Some(qingdao),
        Some("370200"),
    )
    .await;
    let callers = [
        caller(&t, None, "").await,
        caller(&t, Some("demo-user"), DEMO_PASSWORD).await,
        caller(&t, Some("demo-dept"), DEMO_PASSWORD).await,
        caller(&t, Some("demo-provider"), DEMO_PASSWORD).await,
        caller(&t, Some("other-provider"), DEMO_PASSWORD).await,
        caller(&t, Some("qingdao-authority"), DEMO_PASSWORD).await,
        caller(&t, Some("demo-auditor"), DEMO_PASSWORD).await,
        caller(&t, Some("admin"), common::ADMIN_PASSWORD).await,
    ];

    let mut wrong = Vec::new();
    // Reads first, then changes; signing out and revoking come last, since they end
    // the caller's credentials.
    let mut order: Vec<&(&str, &str, &str)> = TABLE.iter().collect();
    order.sort_by_key(|(m, p, _)| {
        (
            *p == "/logout" || (*p == "/api/v1/auth/token" && *m == "DELETE"),
            *m != "GET",
        )
    });
    for (method, route, expected) in order {
        let path = fixture.path(route);
        for (i, who) in callers.iter().enumerate() {
            let (allowed, status, body) = call(&t, who, method, &path).await;
            let want = expected.as_bytes()[i] == b'y';
            // Denied means no success at all.
            let ok = !status.is_server_error()
                && if want {
                    allowed
                } else {
                    !allowed || !(status.is_success() || status.is_redirection())
                };
            if !ok {
                let body: String = body
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(120)
                    .collect();
                wrong.push(format!(
                    "{method} {route} as {}: {status} (expected {}) {body}",
                    ROLES[i],
                    if want { "allowed" } else { "denied" }
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_route_inventory_reads_the_source() {
    let declared = declared_routes();
    for (m, p) in [
        ("GET", "/api/v1/datasets/{id}"),
        ("PUT", "/api/v1/datasets/{id}"),
        ("POST", "/logout"),
        ("GET", "/console/audit"),
        ("GET", "/api/v1/audit/entries"),
        ("GET", "/healthz"),
    ] {
        assert!(
            declared.contains(&(m.to_owned(), p.to_owned())),
            "{m} {p} not found in {declared:?}"
        );
    }
    // Nothing but paths is taken for a route.
    assert!(
        declared
            .iter()
            .all(|(_, p)| p.starts_with('/') && !p.contains(' ')),
        "{declared:?}"
    );
}

/// The package's directory when the test runs. Cargo sets it for the run as well as for
/// the build; the build's value can name another checkout that shared the target
/// directory, since cargo does not rebuild a test for having moved.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .expect("run by cargo, which sets CARGO_MANIFEST_DIR")
        .into()
}
