//! The catalog over HTTP, as its users use it: providers, authorities, the public.

mod common;

use common::{entry, spawn};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap().to_owned())
        .collect()
}

// SD-BIGDATA §16, SX-BIGDATA §22: draft → submitted → approved by the authority → published.
#[tokio::test]
async fn provider_drafts_authority_publishes_public_sees() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let (_, before) = t.get("/api/v1/datasets?per_page=1", None).await;
    let published_before = before["total"].as_i64().unwrap();

    let (s, created) = t
        .post("/api/v1/datasets", Some(&provider), entry("测试企业名录"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "draft");
    assert_eq!(created["version"], 1);
    assert_eq!(created["provider"]["name"], "山东省市场监督管理局");
    let code = created["code"].as_str().unwrap();
    assert!(code.starts_with("327001/"), "{code}");
    let id = created["id"].as_i64().unwrap();

    // Not visible to the public while a draft or under review.
    assert_eq!(
        t.get(&format!("/api/v1/datasets/{id}"), None).await.0,
        StatusCode::NOT_FOUND
    );

    let (s, submitted) = t
        .post(
            &format!("/api/v1/datasets/{id}/submit"),
            Some(&provider),
            json!({"version": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{submitted}");
    assert_eq!(submitted["status"], "submitted");
    // The provider cannot approve its own entry.
    let (s, _) = t
        .post(
            &format!("/api/v1/datasets/{id}/approve"),
            Some(&provider),
            json!({"version": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The review queue of the authority holds it.
    let (_, queue) = t
        .get(
            "/api/v1/workbench/datasets?status=submitted&per_page=100",
            Some(&authority),
        )
        .await;
    assert!(titles(&queue).contains(&"测试企业名录".to_owned()));

    let (s, approved) = t
        .post(
            &format!("/api/v1/datasets/{id}/approve"),
            Some(&authority),
            json!({"version": 2, "note": "同意"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "published");

    let (s, public) = t.get(&format!("/api/v1/datasets/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(public["code"], code);
    assert!(public["published_at"].is_string());
    let (_, after) = t.get("/api/v1/datasets?per_page=1", None).await;
    assert_eq!(after["total"].as_i64().unwrap(), published_before + 1);
    // Publishing puts it in the search index at once.
    let (_, found) = t.get(&format!("/api/v1/datasets?q={}", code), None).await;
    assert_eq!(found["items"][0]["id"], id, "{found}");
}

// R2.3: a published entry keeps serving while its next version is edited and reviewed;
// every version is kept and diffable, and the public sees only the published ones.
#[tokio::test]
async fn versions_are_kept_and_diffable() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let (_, created) = t
        .post("/api/v1/datasets", Some(&provider), entry("版本测试"))
        .await;
    let id = created["id"].as_i64().unwrap();
    let step =
        |s: &'static str, v: i64| (format!("/api/v1/datasets/{id}/{s}"), json!({"version": v}));
    let (p, b) = step("submit", 1);
    t.post(&p, Some(&provider), b).await;
    let (p, b) = step("approve", 2);
    assert_eq!(t.post(&p, Some(&authority), b).await.0, StatusCode::OK);

    let mut changed = entry("版本测试（第二版）");
    changed["update_cycle"] = json!("weekly");
    changed["version"] = json!(3);
    let (s, edited) = t
        .put(&format!("/api/v1/datasets/{id}"), Some(&provider), changed)
        .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(edited["status"], "draft");
    // The public still sees version 3.
    let (_, public) = t.get(&format!("/api/v1/datasets/{id}"), None).await;
    assert_eq!(public["title"], "版本测试");

    let (_, diff) = t
        .get(
            &format!("/api/v1/datasets/{id}/diff?from=3&to=4"),
            Some(&provider),
        )
        .await;
    let fields: Vec<&str> = diff
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "update_cycle"]);

    let (_, all) = t
        .get(&format!("/api/v1/datasets/{id}/versions"), Some(&provider))
        .await;
    assert_eq!(all.as_array().unwrap().len(), 4);
    let (_, public_versions) = t
        .get(&format!("/api/v1/datasets/{id}/versions"), None)
        .await;
    let pv = public_versions.as_array().unwrap();
    assert_eq!(pv.len(), 1);
    assert_eq!(pv[0]["version"], 3);
    assert!(pv[0]["actor"].is_null());
    // The unpublished version 4 is not readable by the public, nor a diff against it.
    assert_eq!(
        t.get(&format!("/api/v1/datasets/{id}/versions/4"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&format!("/api/v1/datasets/{id}/diff?from=3&to=4"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // Resubmitted and approved, the second version replaces the first for everyone.
    let (p, b) = step("submit", 4);
    t.post(&p, Some(&provider), b).await;
    let (p, b) = step("approve", 5);
    t.post(&p, Some(&authority), b).await;
    let (_, public) = t.get(&format!("/api/v1/datasets/{id}"), None).await;
    assert_eq!(public["title"], "版本测试（第二版）");
    assert_eq!(public["version"], 6);
    let (_, diff) = t
        .get(&format!("/api/v1/datasets/{id}/diff?from=3&to=6"), None)
        .await;
    assert_eq!(diff.as_array().unwrap().len(), 2);
}

// Must hold: drafts never leak through list, detail, search, count, versions or pages.
#[tokio::test]
async fn drafts_never_leak() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let (_, drafts) = t
        .get("/api/v1/workbench/datasets?status=draft", Some(&provider))
        .await;
    let draft = &drafts["items"][0];
    let (id, title) = (
        draft["id"].as_i64().unwrap(),
        draft["title"].as_str().unwrap(),
    );
    let user = t.token("demo-user").await;
    for token in [None, Some(user.as_str())] {
        assert_eq!(
            t.get(&format!("/api/v1/datasets/{id}"), token).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            t.get(&format!("/api/v1/datasets/{id}/versions"), token)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        let draft_probe = t
            .get(&format!("/api/v1/datasets/{id}/versions/1"), token)
            .await;
        let missing_probe = t.get("/api/v1/datasets/999999/versions/1", token).await;
        assert_eq!(
            draft_probe, missing_probe,
            "a draft must answer exactly as a missing entry"
        );
        assert_eq!(draft_probe.0, StatusCode::NOT_FOUND);
        let q = reqwest::Url::parse_with_params("http://x/", [("q", title)]).unwrap();
        let (_, found) = t
            .get(&format!("/api/v1/datasets?{}", q.query().unwrap()), token)
            .await;
        // Nothing holds every word, so the search says it shows partial matches, and the
        // draft is not among them.
        assert!(
            found["total"] == 0 || found["partial_match"] == true,
            "{found}"
        );
        assert!(
            !titles(&found).contains(&title.to_owned()),
            "search found a draft"
        );
        assert!(
            found["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["id"] != id),
            "search found a draft"
        );
        let (_, all) = t.get("/api/v1/datasets?per_page=100", token).await;
        assert!(!titles(&all).contains(&title.to_owned()));
        assert!(
            all["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["status"] == "published")
        );
    }
    let (_, all) = t.get("/api/v1/datasets?per_page=100", None).await;
    assert_eq!(all["total"], 51);
    let page = t
        .client
        .get(t.url(&format!("/datasets/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let html = t
        .client
        .get(t.url("/datasets?per_page=100"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains(title));
    // A department user of another organisation cannot open it from the workbench either.
    let dept = t.token("demo-dept").await;
    assert_eq!(
        t.get(&format!("/api/v1/workbench/datasets/{id}"), Some(&dept))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // The provider's reviewer and the province's auditor can.
    for who in ["demo-reviewer", "demo-auditor", "demo-authority"] {
        let tok = t.token(who).await;
        assert_eq!(
            t.get(&format!("/api/v1/workbench/datasets/{id}"), Some(&tok))
                .await
                .0,
            StatusCode::OK,
            "{who}"
        );
    }
}

// R9.3: every role against the catalog endpoints.
#[tokio::test]
async fn authorisation_per_role() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    // Anonymous: 401 on writes.
    assert_eq!(
        t.post("/api/v1/datasets", None, entry("匿名")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A registered user, a department user, an auditor: no catalog writes.
    for who in ["demo-user", "demo-dept", "demo-auditor", "demo-authority"] {
        let tok = t.token(who).await;
        assert_eq!(
            t.post("/api/v1/datasets", Some(&tok), entry("越权"))
                .await
                .0,
            StatusCode::FORBIDDEN,
            "{who}"
        );
    }
    // The provider edits only its own catalog: another provider's published entry is 403.
    let hc = t.org_id("山东省卫生健康委员会").await;
    let (_, others) = t
        .get(&format!("/api/v1/datasets?provider={hc}"), None)
        .await;
    let other = &others["items"][0];
    let other_id = other["id"].as_i64().unwrap();
    let mut body = other.clone();
    body["title"] = json!("篡改");
    let (s, _) = t
        .put(
            &format!("/api/v1/datasets/{other_id}"),
            Some(&provider),
            body,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Naming another provider explicitly does not help.
    let mut e = entry("冒名");
    e["provider_id"] = json!(hc);
    assert_eq!(
        t.post("/api/v1/datasets", Some(&provider), e).await.0,
        StatusCode::FORBIDDEN
    );

    // An authority approves only inside its region: Jinan's cannot approve a provincial entry.
    let jinan_bdb = t.org_id("济南市大数据局").await;
    let jinan = t
        .user_with_role("jinan-authority", "authority_admin", Some(jinan_bdb), None)
        .await;
    let (_, created) = t
        .post("/api/v1/datasets", Some(&provider), entry("区域测试"))
        .await;
    let id = created["id"].as_i64().unwrap();
    t.post(
        &format!("/api/v1/datasets/{id}/submit"),
        Some(&provider),
        json!({"version": 1}),
    )
    .await;
    let (s, _) = t
        .post(
            &format!("/api/v1/datasets/{id}/approve"),
            Some(&jinan),
            json!({"version": 2}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "outside its region the entry does not exist for it"
    );
    // The auditor reads but cannot approve.
    let auditor = t.token("demo-auditor").await;
    let (s, _) = t
        .post(
            &format!("/api/v1/datasets/{id}/approve"),
            Some(&auditor),
            json!({"version": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Rejection needs reasons, and sends it back to draft.
    let authority = t.token("demo-authority").await;
    let (s, body) = t
        .post(
            &format!("/api/v1/datasets/{id}/reject"),
            Some(&authority),
            json!({"version": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, body) = t
        .post(
            &format!("/api/v1/datasets/{id}/reject"),
            Some(&authority),
            json!({"version": 2, "note": "摘要不完整"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["status"], "draft");
    assert_eq!(body["review_note"], "摘要不完整");
    let mut fixed = entry("区域测试");
    fixed["version"] = json!(3);
    let (_, body) = t
        .put(&format!("/api/v1/datasets/{id}"), Some(&provider), fixed)
        .await;
    assert_eq!(
        body["review_note"], "摘要不完整",
        "the reviewer's remark stays until the next review"
    );
    // Separation of duties: someone holding both roles cannot approve their own submission,
    // and nobody grants roles to themselves.
    let amr = t.org_id("山东省市场监督管理局").await;
    let both = t
        .user_with_role("two-hats", "provider_admin", Some(amr), None)
        .await;
    let admin = t.token("admin").await;
    let (_, me) = t.get("/api/v1/me", Some(&both)).await;
    let two_hats_id = me["id"].as_i64().unwrap();
    let sd_bdb = t.org_id("山东省大数据局").await;
    let (s, _) = t
        .post(
            &format!("/api/v1/users/{two_hats_id}/roles"),
            Some(&admin),
            json!({"role": "authority_admin", "org_id": sd_bdb}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, mine) = t
        .post("/api/v1/datasets", Some(&both), entry("自审测试"))
        .await;
    let mine_id = mine["id"].as_i64().unwrap();
    t.post(
        &format!("/api/v1/datasets/{mine_id}/submit"),
        Some(&both),
        json!({"version": 1}),
    )
    .await;
    let (s, err) = t
        .post(
            &format!("/api/v1/datasets/{mine_id}/approve"),
            Some(&both),
            json!({"version": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{err}");
    let (s, _) = t
        .post(
            &format!("/api/v1/datasets/{mine_id}/approve"),
            Some(&authority),
            json!({"version": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, auth_me) = t.get("/api/v1/me", Some(&authority)).await;
    let auth_id = auth_me["id"].as_i64().unwrap();
    let (s, _) = t
        .post(
            &format!("/api/v1/users/{auth_id}/roles"),
            Some(&authority),
            json!({"role": "provider_admin", "org_id": amr}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Those who cannot grant learn nothing about which accounts exist.
    for target in [auth_id, 999_999] {
        let (s, _) = t
            .post(
                &format!("/api/v1/users/{target}/roles"),
                Some(&provider),
                json!({"role": "registered"}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    // Only the authority withdraws what was published (SD-OPEN §10).
    let (_, mine) = t
        .get(
            "/api/v1/workbench/datasets?status=published&per_page=1",
            Some(&provider),
        )
        .await;
    let pid = mine["items"][0]["id"].as_i64().unwrap();
    let v = mine["items"][0]["version"].as_i64().unwrap();
    let (s, _) = t
        .post(
            &format!("/api/v1/datasets/{pid}/withdraw"),
            Some(&provider),
            json!({"version": v, "note": "不再提供"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = t
        .post(
            &format!("/api/v1/datasets/{pid}/withdraw"),
            Some(&authority),
            json!({"version": v, "note": "职能调整"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        t.get(&format!("/api/v1/datasets/{pid}"), None).await.0,
        StatusCode::NOT_FOUND
    );
    // Withdrawal takes it out of the search index at once.
    let code = mine["items"][0]["code"].as_str().unwrap();
    let (_, found) = t.get(&format!("/api/v1/datasets?q={code}"), None).await;
    assert!(
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"] != pid),
        "{found}"
    );
    // Its history goes with it, version by version and as a diff.
    for path in [
        format!("/api/v1/datasets/{pid}/versions"),
        format!("/api/v1/datasets/{pid}/versions/{v}"),
        format!("/api/v1/datasets/{pid}/diff?from=1&to={v}"),
    ] {
        assert_eq!(t.get(&path, None).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    // Organisations and accounts.
    let org = json!({"name": "测试局", "kind": "provider", "region_code": "370100", "credit_code": "11370100MB0000001X"});
    assert_eq!(
        t.post("/api/v1/organizations", Some(&provider), org)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.get("/api/v1/users", Some(&provider)).await.0,
        StatusCode::FORBIDDEN
    );
}

// Must hold: bad input gets a clear error and changes nothing.
#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let (_, created) = t
        .post("/api/v1/datasets", Some(&provider), entry("坏输入测试"))
        .await;
    let id = created["id"].as_i64().unwrap();

    let raw = |body: &'static str, ct: &'static str| {
        t.client
            .post(t.url("/api/v1/datasets"))
            .bearer_auth(&provider)
            .header("content-type", ct)
            .body(body)
    };
    let r = raw("{\"title\": ", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("请求体无法解析")
    );
    assert_eq!(
        raw("title=x", "application/x-www-form-urlencoded")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        raw("[1,2]", "application/json")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );

    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            {
                let mut e = entry("x");
                e["open_type"] = json!("open");
                e
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            {
                let mut e = entry("x");
                e["colour"] = json!("red");
                e
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            {
                let mut e = entry(&"长".repeat(201));
                e["grade"] = json!("general1");
                e
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            {
                let mut e = entry("x");
                e["grade"] = json!("general4");
                e["legal_basis"] = json!("");
                e
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            {
                let mut e = entry("x");
                e["classified"] = json!(true);
                e
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            {
                let mut e = entry("x");
                e["code"] = json!("999999/000001");
                e
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            {
                let mut e = entry("x");
                e["code"] = json!(created["code"]);
                e
            },
            StatusCode::CONFLICT,
            "duplicate",
        ),
    ];
    for (body, status, code) in cases {
        let (s, err) = t
            .post("/api/v1/datasets", Some(&provider), body.clone())
            .await;
        assert_eq!(
            (s, err["error"]["code"].as_str().unwrap()),
            (status, code),
            "{body} → {err}"
        );
    }
    // Field errors name the field, in Chinese by default and in English on request.
    let mut e = entry(&"长".repeat(201));
    e["open_type"] = json!("conditional");
    let (_, err) = t.post("/api/v1/datasets", Some(&provider), e.clone()).await;
    let fields: Vec<&str> = err["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"title")
            && fields.contains(&"legal_basis")
            && fields.contains(&"open_condition"),
        "{err}"
    );
    assert!(
        err["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    );
    let r = t
        .client
        .post(t.url("/api/v1/datasets"))
        .bearer_auth(&provider)
        .header("accept-language", "en")
        .json(&e)
        .send()
        .await
        .unwrap();
    let err: Value = r.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Some fields")
    );

    // A category whose sequence numbers are used up refuses new codes instead of
    // inventing malformed ones.
    let mut last = entry("顺序码最后一号");
    last["category"] = json!({"class": "department", "item": "27", "catalog": "999"});
    last["code"] = json!("327999/999999");
    assert_eq!(
        t.post("/api/v1/datasets", Some(&provider), last.clone())
            .await
            .0,
        StatusCode::CREATED
    );
    last.as_object_mut().unwrap().remove("code");
    last["title"] = json!("顺序码溢出");
    let (s, err) = t.post("/api/v1/datasets", Some(&provider), last).await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_state")),
        "{err}"
    );

    // Concurrent edits: the second writer with the same version gets 409 and changes nothing.
    let mut a = entry("并发甲");
    a["version"] = json!(1);
    let mut b = entry("并发乙");
    b["version"] = json!(1);
    let path = format!("/api/v1/datasets/{id}");
    let (first, second) = tokio::join!(
        t.put(&path, Some(&provider), a),
        t.put(&path, Some(&provider), b)
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let loser = if first.0 == StatusCode::CONFLICT {
        &first.1
    } else {
        &second.1
    };
    assert_eq!(loser["error"]["code"], "version_conflict");
    let (_, now) = t
        .get(&format!("/api/v1/workbench/datasets/{id}"), Some(&provider))
        .await;
    assert_eq!(now["version"], 2);
    // Without a version an update is refused; If-Match works too.
    let (s, _) = t
        .put(
            &format!("/api/v1/datasets/{id}"),
            Some(&provider),
            entry("无版本"),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let r = t
        .client
        .put(t.url(&format!("/api/v1/datasets/{id}")))
        .bearer_auth(&provider)
        .header("if-match", "\"2\"")
        .json(&entry("带 If-Match"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Workflow steps out of order.
    let (s, err) = t
        .post(
            &format!("/api/v1/datasets/{id}/approve"),
            Some(&t.token("demo-authority").await),
            json!({"version": 3}),
        )
        .await;
    assert_eq!(
        (s, err["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_state"))
    );

    // Oversized bodies.
    let huge = json!({"title": "x".repeat(200_000)});
    assert_eq!(
        t.post("/api/v1/datasets", Some(&provider), huge).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Hostile query text is just text.
    let (s, found) = t
        .get("/api/v1/datasets?q=%25%27%20OR%201%3D1%20--", None)
        .await;
    assert_eq!((s, found["total"].as_i64()), (StatusCode::OK, Some(0)));
    let (s, err) = t.get("/api/v1/datasets?open_type=maybe", None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (s, _) = t
        .get("/api/v1/datasets?page=-5&per_page=100000", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    // A bad token is an error, not a silent downgrade to anonymous.
    let (s, _) = t.get("/api/v1/datasets", Some("gst_forged")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

// GB 32100 on organisations, duplicates, and the authority's regional scope.
#[tokio::test]
async fn organisations_need_valid_credit_codes() {
    let t = spawn().await;
    let admin = t.token("admin").await;
    let org = |code: &str| json!({"name": "济南市测试局", "kind": "provider", "region_code": "370100", "credit_code": code});
    let (s, err) = t
        .post(
            "/api/v1/organizations",
            Some(&admin),
            org("11370100MB0000001X"),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["fields"][0]["field"], "credit_code");
    let valid = "11370100MB0000001"; // check character appended below
    let check = {
        let a = "0123456789ABCDEFGHJKLMNPQRTUWXY";
        let w = [
            1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
        ];
        let sum: usize = valid
            .chars()
            .zip(w)
            .map(|(c, w)| a.find(c).unwrap() * w)
            .sum();
        a.chars().nth((31 - sum % 31) % 31).unwrap()
    };
    let code = format!("{valid}{check}");
    let (s, created) = t
        .post("/api/v1/organizations", Some(&admin), org(&code))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(
        t.post("/api/v1/organizations", Some(&admin), org(&code))
            .await
            .0,
        StatusCode::CONFLICT
    );
    let (s, _) = t
        .post(
            "/api/v1/organizations",
            Some(&admin),
            json!({"name": "x", "kind": "provider", "region_code": "999999", "credit_code": code}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // The province's authority may register organisations in its cities.
    let authority = t.token("demo-authority").await;
    let (s, body) = t
        .post("/api/v1/organizations", Some(&authority), org(&code))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
}

// SD-EGOV §15 (总目录), SD-OPEN §10 (开放清单), SX-BIGDATA §28/§31 (负面清单).
#[tokio::test]
async fn master_catalog_open_lists_and_negative_lists() {
    let t = spawn().await;
    let (s, master) = t.get("/api/v1/regions/370000/catalog", None).await;
    assert_eq!(s, StatusCode::OK);
    let total = master["region"]["total"].as_i64().unwrap();
    assert_eq!(total, 51);
    let subs = master["subregions"].as_array().unwrap();
    let city_sum: i64 = subs.iter().map(|s| s["total"].as_i64().unwrap()).sum();
    let (_, provincial) = t
        .get("/api/v1/datasets?region=370000&per_page=1", None)
        .await;
    assert_eq!(provincial["total"], 51);
    let jinan = subs.iter().find(|s| s["region_code"] == "370100").unwrap();
    assert_eq!(jinan["region_name"], "济南市");
    let (_, jinan_list) = t
        .get("/api/v1/datasets?region=370100&per_page=1", None)
        .await;
    assert_eq!(jinan["total"], jinan_list["total"]);
    assert!(city_sum > 0 && city_sum < total);
    let ratio = master["region"]["open_ratio"].as_f64().unwrap();
    assert!(ratio > 0.5 && ratio < 1.0, "{ratio}");
    let (_, city) = t.get("/api/v1/regions/370100/catalog", None).await;
    assert_eq!(city["region"]["total"], jinan["total"]);
    assert_eq!(
        t.get("/api/v1/regions/999999/catalog", None).await.0,
        StatusCode::NOT_FOUND
    );

    let amr = t.org_id("山东省市场监督管理局").await;
    let (_, list) = t
        .get(&format!("/api/v1/organizations/{amr}/open-list"), None)
        .await;
    let items = list["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|d| d["open_type"] != "none" && d["provider"]["id"] == amr)
    );

    let (_, closed) = t.get("/api/v1/negative-lists/open", None).await;
    let items = closed["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|d| d["open_type"] == "none" && !d["legal_basis"].as_str().unwrap().is_empty())
    );
    let (_, unshared) = t.get("/api/v1/negative-lists/share", None).await;
    assert!(
        unshared["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["share_type"] == "none")
    );
    assert_eq!(
        t.get("/api/v1/negative-lists/other", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn list_filters_and_paging() {
    let t = spawn().await;
    let (_, page1) = t.get("/api/v1/datasets?per_page=10&page=1", None).await;
    let (_, page2) = t.get("/api/v1/datasets?per_page=10&page=2", None).await;
    assert_eq!(page1["items"].as_array().unwrap().len(), 10);
    assert_eq!(page1["total"], page2["total"]);
    assert_ne!(page1["items"][0]["id"], page2["items"][0]["id"]);
    for (query, field, want) in [
        ("domain=meteorology", "domains", "meteorology"),
        ("open_type=conditional", "open_type", "conditional"),
        ("update_cycle=daily", "update_cycle", "daily"),
    ] {
        let (_, found) = t
            .get(&format!("/api/v1/datasets?per_page=100&{query}"), None)
            .await;
        let items = found["items"].as_array().unwrap();
        assert!(!items.is_empty(), "{query}");
        for d in items {
            let v = &d[field];
            assert!(
                v == want || v.as_array().is_some_and(|a| a.iter().any(|x| x == want)),
                "{query}: {v}"
            );
        }
    }
    let (_, search) = t
        .get(
            "/api/v1/datasets?q=%E7%A9%BA%E6%B0%94%E8%B4%A8%E9%87%8F",
            None,
        )
        .await; // 空气质量
    assert!(search["total"].as_i64().unwrap() >= 1);
}

/// Issue 6 (under way): the search index is built at start from the published catalog,
/// finds Chinese words without spaces, and is not rebuilt when it is in step.
#[tokio::test]
async fn the_search_index_is_built_at_start_from_the_published_catalog() {
    use gongshu_app::gongshu_search::SearchQuery;
    let dir = tempfile::tempdir().unwrap();
    let boot = gongshu_server::Bootstrap {
        demo_password: Some("demo-password-1".into()),
        maintain_search: true,
        ..gongshu_server::Bootstrap::default()
    };
    let (app, _) = gongshu_server::open_app(dir.path(), &boot).await.unwrap();
    let published = app.catalog_summary().await.unwrap().total as u64;
    assert!(published > 10);
    assert_eq!(app.search.len(), published);
    let found = app
        .search_catalog(SearchQuery {
            text: "企业登记".into(),
            limit: 5,
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    let first = app.public_dataset(found.hits[0].id as i64).await.unwrap();
    assert!(
        first.metadata.title.contains("企业登记"),
        "{}",
        first.metadata.title
    );
    assert!(
        found.facets["open_type"]
            .iter()
            .map(|(_, n)| n)
            .sum::<u64>()
            >= found.total as u64
    );
    drop(app);
    let (app, _) = gongshu_server::open_app(dir.path(), &gongshu_server::Bootstrap::default())
        .await
        .unwrap();
    assert_eq!(app.search.len(), published);
}

/// Issue 6 (under way): words run together, as people type Chinese, find an entry whose
/// text holds each word somewhere; the store's substring search finds nothing for them.
#[tokio::test]
async fn catalog_search_finds_chinese_words_run_together() {
    let t = spawn().await;
    let (s, page) = t
        .get(
            "/api/v1/datasets?q=%E5%81%A5%E5%BA%B7%E6%A1%A3%E6%A1%88%E6%85%A2%E7%97%85%E7%AE%A1%E7%90%86",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let titles: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.first().is_some_and(|t| t.contains("健康档案")),
        "健康档案慢病管理 → {titles:?}"
    );
    // With facets over all matches: the provider by id, with its name.
    let providers = page["facets"]["provider"].as_array().unwrap();
    assert!(
        providers.iter().any(
            |p| p["label"].as_str().is_some_and(|l| l.contains("卫生健康"))
                && p["value"].as_str().unwrap().parse::<i64>().is_ok()
        ),
        "{page}"
    );
    assert!(page["facets"]["open_type"].as_array().is_some(), "{page}");
    // A listing in another order still comes from the store, with the same filter.
    let (s, page) = t
        .get(
            "/api/v1/datasets?q=%E5%81%A5%E5%BA%B7%E6%A1%A3%E6%A1%88%E6%85%A2%E7%97%85%E7%AE%A1%E7%90%86&sort=title",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(
        page["total"], 0,
        "the substring search does not split words: {page}"
    );
}

/// Issue 6: `serve --demo --demo-scale N` adds N published entries across the province's
/// cities and counties, each by its region's provider; a search for a county and a topic
/// finds that county's entries first among thousands that share the topic.
#[tokio::test]
async fn a_generated_catalog_is_published_and_searchable_by_region_and_topic() {
    let t = common::spawn_boot(gongshu_server::Bootstrap {
        demo_scale: 3000,
        ..gongshu_server::Bootstrap::default()
    })
    .await;
    let (wanted, region) = (1500..3000)
        .map(gongshu_app::demo::synthetic_title)
        .find(|(title, ..)| title.contains("排污许可证"))
        .map(|(title, _, r, _, _)| (title, r))
        .unwrap();
    let county = gongshu_core::region::BUILTIN_SUBREGIONS[region].1;
    let page: serde_json::Value = t
        .client
        .get(format!("{}/api/v1/datasets", t.base))
        .query(&[("q", format!("{county} 排污许可")), ("limit", "5".into())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(page["total"].as_u64().unwrap() >= 1, "{page}");
    let first = page["items"][0]["title"].as_str().unwrap();
    assert!(
        first.starts_with(county) && first.contains("排污许可"),
        "{first} for {county}, wanted like {wanted}"
    );
    let all: serde_json::Value = t
        .client
        .get(format!("{}/api/v1/datasets?limit=1", t.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(all["total"].as_u64().unwrap() >= 3000, "{all}");
}
