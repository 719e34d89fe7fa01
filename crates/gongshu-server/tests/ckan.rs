//! Issue 10: the CKAN Action API v3. CKAN's own client, `ckanapi` (PyPI), searches and
//! dumps the demo catalog; the envelope, the errors and the filters are CKAN's; drafts
//! never appear.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::spawn;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `ckanapi`, from `$GONGSHU_CKANAPI` or the virtualenv `.ci/run` installs it into.
fn ckanapi() -> PathBuf {
    if let Ok(p) = std::env::var("GONGSHU_CKANAPI") {
        return PathBuf::from(p);
    }
    PathBuf::from(std::env::var("HOME").unwrap_or_default())
        .join(".cache/gongshu-st-venv/bin/ckanapi")
}

async fn action(t: &common::TestApp, path: &str) -> (StatusCode, Value) {
    t.get(&format!("/api/3/action/{path}"), None).await
}

#[tokio::test]
async fn ckan_clients_read_the_public_catalog() {
    let t = spawn().await;

    // The envelope and CKAN's errors.
    let (s, status) = action(&t, "status_show").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(status["success"], true);
    assert!(status["result"]["ckan_version"].is_string(), "{status}");
    let (s, unknown) = action(&t, "package_create").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(unknown["success"], false);
    assert_eq!(unknown["error"]["__type"], "Bad request");
    let (s, missing) = action(&t, "package_show?id=gs-999999").await;
    assert_eq!(
        (s, &missing["error"]["__type"]),
        (StatusCode::NOT_FOUND, &json!("Not Found Error"))
    );
    let (s, bad) = action(&t, "package_search?rows=many").await;
    assert_eq!(
        (s, &bad["error"]["__type"]),
        (StatusCode::CONFLICT, &json!("Validation Error"))
    );
    let (s, bad) = action(&t, "package_search?fq=secret:1").await;
    assert_eq!(s, StatusCode::CONFLICT, "{bad}");

    // The catalog: every published entry, none else.
    let (_, public) = t.get("/api/v1/datasets?per_page=1", None).await;
    let total = public["total"].as_i64().unwrap();
    let (_, list) = action(&t, "package_list").await;
    let names = list["result"].as_array().unwrap();
    assert_eq!(names.len() as i64, total.min(1000));
    let first = names[0].as_str().unwrap();
    let (s, shown) = action(&t, &format!("package_show?id={first}")).await;
    assert_eq!(s, StatusCode::OK, "{shown}");
    let package = &shown["result"];
    let id = package["id"].as_str().unwrap();
    let (_, ours) = t.get(&format!("/api/v1/datasets/{id}"), None).await;
    assert_eq!(package["title"], ours["title"]);
    assert_eq!(package["organization"]["title"], ours["provider"]["name"]);
    assert!(
        package["extras"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "open_type" && e["value"] == ours["open_type"]),
        "{package}"
    );
    let token = t.token("demo-provider").await;
    let draft = common::entry("尚未发布的草稿目录");
    let (_, created) = t.post("/api/v1/datasets", Some(&token), draft).await;
    let (s, _) = action(&t, &format!("package_show?id=gs-{}", created["id"])).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a draft is not in the catalog");

    // Search with CKAN's paging, filters and facets, by GET and by POST.
    let org = package["owner_org"].as_str().unwrap();
    let (_, by_org) = action(
        &t,
        &format!("package_search?fq=organization:org-{org}&rows=2&facet.field=[\"organization\",\"res_format\"]"),
    )
    .await;
    let result = &by_org["result"];
    assert!(result["count"].as_i64().unwrap() >= 1, "{by_org}");
    assert!(result["results"].as_array().unwrap().len() <= 2);
    assert!(
        result["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["owner_org"] == org),
        "{by_org}"
    );
    assert_eq!(
        result["facets"]["organization"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        [&format!("org-{org}")]
    );
    let (s, posted) = t
        .post(
            "/api/3/action/package_search",
            None,
            json!({ "q": ours["title"], "rows": 5 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{posted}");
    assert!(
        posted["result"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == id),
        "{posted}"
    );
    let (_, orgs) = action(&t, "organization_list?all_fields=true").await;
    assert!(
        orgs["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == format!("org-{org}"))
    );
    let (s, o) = action(&t, &format!("organization_show?id=org-{org}")).await;
    assert_eq!(
        (s, &o["result"]["title"]),
        (StatusCode::OK, &ours["provider"]["name"])
    );

    // CKAN's own client.
    let cli = ckanapi();
    assert!(
        Command::new(&cli)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "ckanapi is not installed ({}): .ci/run installs it, or \
         `~/.cache/gongshu-st-venv/bin/pip install ckanapi`",
        cli.display()
    );
    let url = t.url("");
    let url = url.trim_end_matches('/').to_owned();
    let searched = tokio::task::spawn_blocking({
        let cli = cli.clone();
        let url = url.clone();
        let org = org.to_owned();
        move || {
            Command::new(&cli)
                .args(["action", "package_search", "-r", &url])
                .arg(format!("fq=organization:org-{org}"))
                .arg("rows=3")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        searched.status.success(),
        "{}",
        String::from_utf8_lossy(&searched.stderr)
    );
    let searched: Value = serde_json::from_slice(&searched.stdout).unwrap();
    assert_eq!(searched["count"], result["count"], "{searched}");
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("datasets.jsonl");
    let dumped = tokio::task::spawn_blocking({
        let dump = dump.clone();
        move || {
            // Its workers are `ckanapi` processes found on the PATH.
            let bin = cli.parent().map(PathBuf::from).unwrap_or_default();
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut dirs = vec![bin];
            dirs.extend(std::env::split_paths(&path));
            Command::new(&cli)
                .env("PATH", std::env::join_paths(dirs).unwrap())
                .args(["dump", "datasets", "--all", "-q", "-r", &url, "-O"])
                .arg(&dump)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let lines: Vec<Value> = std::fs::read_to_string(&dump)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), names.len());
    assert!(lines.iter().any(|p| p["id"] == id));
}
