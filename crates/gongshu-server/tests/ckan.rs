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
    let help = status["help"]
        .as_str()
        .unwrap()
        .replace("/api/3/action/", "");
    let (s, helped) = action(&t, &help).await;
    assert_eq!(s, StatusCode::OK, "{helped}");
    assert!(helped["result"].as_str().unwrap().contains("CKAN version"));
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

/// `datastore_search` and `datastore_search_sql` read a table through the gate: CKAN's
/// filters, text search, fields, sort and paging; values cannot become SQL; data open on
/// conditions is refused.
#[tokio::test]
async fn the_datastore_actions_read_tables_through_the_gate() {
    let t = spawn().await;
    let token = t.token("demo-provider").await;
    let dataset = common::published_entry(&t, &token, common::entry("CKAN数据存储测试表")).await;
    let mut csv = String::from("企业名称,区县,注册资本\n");
    for n in 0..30 {
        let district = ["历下区", "市中区", "槐荫区"][n % 3];
        csv.push_str(&format!("济南测试企业{n:02},{district},{}\n", 100 + n));
    }
    let job = common::ingest_ok(&t, dataset, &token, "c.csv", csv.as_bytes(), &[]).await;
    let rid = job["resource_id"].as_str().unwrap().to_owned();
    let search = |body: Value| {
        let t = &t;
        async move { t.post("/api/3/action/datastore_search", None, body).await }
    };

    let (s, all) = search(json!({ "resource_id": rid, "limit": 5 })).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let result = &all["result"];
    assert_eq!(result["total"], 30);
    assert_eq!(result["records"].as_array().unwrap().len(), 5);
    assert_eq!(result["fields"][0]["id"], "_id");
    assert!(
        result["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "注册资本" && f["type"] != "text"),
        "{result}"
    );
    let (_, filtered) = search(json!({ "resource_id": rid, "filters": { "区县": "市中区" },
        "fields": ["企业名称", "注册资本"], "sort": "注册资本 desc", "limit": 3, "offset": 1 }))
    .await;
    let r = &filtered["result"];
    assert_eq!(r["total"], 10, "{filtered}");
    let names: Vec<&str> = r["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["企业名称"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["济南测试企业25", "济南测试企业22", "济南测试企业19"]
    );
    let (_, found) = search(json!({ "resource_id": rid, "q": "企业07" })).await;
    assert_eq!(found["result"]["total"], 1, "{found}");
    let (_, any) =
        search(json!({ "resource_id": rid, "filters": { "区县": ["历下区", "槐荫区"] } })).await;
    assert_eq!(any["result"]["total"], 20, "{any}");

    // Hostile input is data, or refused.
    let (_, sneaky) =
        search(json!({ "resource_id": rid, "filters": { "区县": "x' OR '1'='1" } })).await;
    assert_eq!(sneaky["result"]["total"], 0, "{sneaky}");
    for bad in [
        json!({ "resource_id": rid, "fields": ["企业名称\" FROM x --"] }),
        json!({ "resource_id": rid, "sort": "注册资本; DROP TABLE x" }),
        json!({ "resource_id": rid, "filters": { "无此列": "1" } }),
        json!({ "resource_id": rid, "filters": "not json" }),
        json!({ "resource_id": rid, "filters": { "区县": [] } }),
    ] {
        let (s, body) = search(bad).await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
    }
    let (s, _) = search(json!({ "resource_id": "no-such-resource" })).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // SQL, as the SQL endpoint runs it.
    let (_, resource) = t.get(&format!("/api/v1/resources/{rid}"), None).await;
    let table = resource["table_name"].as_str().unwrap();
    let (s, sql) = t
        .get(
            &format!(
                "/api/3/action/datastore_search_sql?sql=SELECT%20COUNT(*)%20AS%20n%20FROM%20{table}"
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{sql}");
    assert_eq!(sql["result"]["records"][0]["n"], 30);
    let (s, _) = t
        .get(
            "/api/3/action/datastore_search_sql?sql=DROP%20TABLE%20x",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Data open on conditions: refused to whoever holds no grant.
    let conditional =
        common::published_entry(&t, &token, common::conditional_entry("CKAN有条件开放表")).await;
    let job = common::ingest_ok(&t, conditional, &token, "d.csv", csv.as_bytes(), &[]).await;
    let (s, refused) = search(json!({ "resource_id": job["resource_id"] })).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["__type"], "Authorization Error");
}

/// The official DCAT-AP 3.0.1 shapes (SEMIC's `shapes.ttl` and `range.ttl`), kept as test
/// data beside this file.
fn dcat_shapes() -> PathBuf {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"));
    root.join("tests/data/dcat-ap-3.0.1")
}

/// DCAT-AP 3: the catalog's pages and a dataset, in Turtle, JSON-LD and RDF/XML, conform
/// to the official
/// DCAT-AP 3.0.1 SHACL shapes (checked with pyshacl), with the Chinese metadata mapped.
#[tokio::test]
async fn the_catalog_in_dcat_ap_conforms_to_its_shapes() {
    let t = spawn().await;
    let token = t.token("demo-provider").await;
    let mut entry = common::entry("DCAT导出测试表 \"引号\" <尖括号>");
    entry["legal_basis"] = json!("《山东省公共数据开放办法》第十条");
    let dataset = common::published_entry(&t, &token, entry).await;
    common::ingest_ok(
        &t,
        dataset,
        &token,
        "d.csv",
        "名称,数量\n甲,1\n".as_bytes(),
        &[],
    )
    .await;

    let fetch = |path: String| {
        let t = &t;
        async move {
            let resp = t.client.get(t.url(&path)).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
            let expected = match path.split('?').next().unwrap().rsplit('.').next() {
                Some("ttl") => "text/turtle",
                Some("jsonld") => "application/ld+json",
                _ => "application/rdf+xml",
            };
            assert!(kind.starts_with(expected), "{path}: {kind}");
            resp.text().await.unwrap()
        }
    };
    let one = fetch(format!("/datasets/{dataset}/dcat.ttl")).await;
    assert!(one.contains("access-right/PUBLIC"), "{one}");
    assert!(one.contains("dcatap:applicableLegislation"), "{one}");
    assert!(one.contains("\\\"引号\\\""), "{one}");
    let page = fetch("/catalog.ttl?per_page=50".to_owned()).await;
    assert!(
        page.contains("hydra:next") && page.contains("hydra:totalItems"),
        "{page}"
    );
    let last = fetch("/catalog.ttl?per_page=50&page=1000".to_owned()).await;
    assert!(last.contains("hydra:previous"), "{last}");
    let json_ld = fetch(format!("/datasets/{dataset}/dcat.jsonld")).await;
    let parsed: Value = serde_json::from_str(&json_ld).unwrap();
    assert!(
        parsed
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["@type"][0] == "http://www.w3.org/ns/dcat#Dataset")
    );
    let rdf_xml = fetch(format!("/datasets/{dataset}/dcat.rdf")).await;
    assert!(
        rdf_xml.contains("&quot;引号&quot; &lt;尖括号&gt;"),
        "{rdf_xml}"
    );
    let catalog_ld = fetch("/catalog.jsonld?per_page=20".to_owned()).await;
    let (s, _) = t.get("/catalog.pdf", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let pyshacl = PathBuf::from(std::env::var("HOME").unwrap_or_default())
        .join(".cache/gongshu-st-venv/bin/pyshacl");
    assert!(
        pyshacl.exists(),
        "pyshacl is not installed: .ci/run installs it, or `~/.cache/gongshu-st-venv/bin/pip install pyshacl`"
    );
    let dir = tempfile::tempdir().unwrap();
    let shapes = dir.path().join("shapes.ttl");
    let mut combined = String::new();
    for file in ["shapes.ttl", "range.ttl"] {
        combined.push_str(&std::fs::read_to_string(dcat_shapes().join(file)).unwrap());
        combined.push('\n');
    }
    std::fs::write(&shapes, combined).unwrap();
    for (name, body, format) in [
        ("dataset", &one, "turtle"),
        ("catalog", &page, "turtle"),
        ("dataset-ld", &json_ld, "json-ld"),
        ("dataset-xml", &rdf_xml, "xml"),
        ("catalog-ld", &catalog_ld, "json-ld"),
    ] {
        let data = dir.path().join(name);
        std::fs::write(&data, body).unwrap();
        let out = Command::new(&pyshacl)
            .args(["-s"])
            .arg(&shapes)
            .args(["-sf", "turtle", "-df", format])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name} does not conform:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
