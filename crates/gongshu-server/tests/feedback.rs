//! Issue 8: objections (SD-OPEN §13, SD-BIGDATA §18, SX-BIGDATA §27), data demands
//! (SD-OPEN §12, §20(二)), the supply-and-demand list and ratings, over HTTP.

mod common;

use common::{DEMO_PASSWORD, TestApp, entry, error_fields, ingest_ok, published_entry, spawn};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A published entry of the demo provider with one table; (entry, resource).
async fn entry_with_table(t: &TestApp, provider: &str, title: &str) -> (i64, String) {
    let dataset = published_entry(t, provider, entry(title)).await;
    let csv = "企业名称,统一社会信用代码\n济南甲公司,91370100MA3C00001X\n";
    let rid = ingest_ok(t, dataset, provider, "a.csv", csv.as_bytes(), &[]).await["resource_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (dataset, rid)
}

async fn inbox_kinds(t: &TestApp, token: &str) -> Vec<String> {
    let (s, inbox) = t.get("/api/v1/inbox", Some(token)).await;
    assert_eq!(s, StatusCode::OK, "{inbox}");
    inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn post_raw(t: &TestApp, path: &str, token: &str, bytes: &[u8]) -> (StatusCode, Value) {
    let resp = t
        .client
        .post(t.url(path))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn an_objection_is_answered_reopened_once_and_answered_again() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let stranger = t.user_with_role("stranger", "registered", None, None).await;
    let (dataset, rid) = entry_with_table(&t, &provider, "异议测试").await;

    // Refusals first: nothing is filed.
    let (s, _) = t
        .post(
            "/api/v1/objections",
            None,
            json!({"dataset_id": dataset, "kind": "error", "description": "第一行信用代码错误"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, body) = t
        .post(
            "/api/v1/objections",
            Some(&citizen),
            json!({"dataset_id": dataset, "kind": "error", "description": "错",
                   "item": "没有这一项", "resource_id": "nope"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mut fields = error_fields(&body);
    fields.sort_unstable();
    assert_eq!(fields, ["description", "item", "resource_id"]);
    let (s, _) = t
        .post(
            "/api/v1/objections",
            Some(&citizen),
            json!({"dataset_id": 999_999, "kind": "error", "description": "第一行信用代码错误"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = t
        .post(
            "/api/v1/objections",
            Some(&citizen),
            json!({"dataset_id": dataset, "kind": "typo", "description": "第一行信用代码错误"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (s, filed) = t
        .post(
            "/api/v1/objections",
            Some(&citizen),
            json!({"dataset_id": dataset, "resource_id": rid, "row": "1",
                   "item": "统一社会信用代码", "kind": "error",
                   "description": "第1行济南甲公司的统一社会信用代码与营业执照不一致"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{filed}");
    assert_eq!(filed["state"], "open");
    assert!(filed["due_on"].is_string(), "{filed}");
    let id = filed["id"].as_i64().unwrap();
    let path = format!("/api/v1/objections/{id}");

    // The provider has it in its inbox and its list; a stranger does not see it.
    assert!(
        inbox_kinds(&t, &provider)
            .await
            .contains(&"objection_received".to_owned())
    );
    let (_, list) = t
        .get("/api/v1/objections?state=open", Some(&provider))
        .await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == id),
        "{list}"
    );
    assert_eq!(t.get(&path, Some(&stranger)).await.0, StatusCode::NOT_FOUND);
    let (_, theirs) = t.get("/api/v1/objections", Some(&stranger)).await;
    assert_eq!(theirs["total"], 0, "{theirs}");

    // The reporter may not answer; the provider may not re-open.
    let reply = json!({"reply": "已核实并更正，见第1版", "correcting_version": 1});
    assert_eq!(
        t.post(&format!("{path}/reply"), Some(&citizen), reply.clone())
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, body) = t
        .post(
            &format!("{path}/reply"),
            Some(&provider),
            json!({"reply": "已更正", "correcting_version": 7}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["correcting_version"]);
    let (s, answered) = t
        .post(&format!("{path}/reply"), Some(&provider), reply)
        .await;
    assert_eq!(s, StatusCode::OK, "{answered}");
    assert_eq!(answered["state"], "answered");
    assert_eq!(answered["correcting_version"], 1);
    assert!(
        inbox_kinds(&t, &citizen)
            .await
            .contains(&"objection_answered".to_owned())
    );
    let (s, _) = t
        .post(
            &format!("{path}/reply"),
            Some(&provider),
            json!({"reply": "再答一次"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Re-opened once, with a reason and a new deadline; not twice.
    assert_eq!(
        t.post(
            &format!("{path}/reopen"),
            Some(&provider),
            json!({"reason": "提供单位不能重开"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (s, reopened) = t
        .post(
            &format!("{path}/reopen"),
            Some(&citizen),
            json!({"reason": "更正后的代码仍然不对"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{reopened}");
    assert_eq!(reopened["state"], "reopened");
    assert_eq!(reopened["reopened"], true);
    assert!(
        inbox_kinds(&t, &provider)
            .await
            .contains(&"objection_reopened".to_owned())
    );
    let (s, again) = t
        .post(
            &format!("{path}/reply"),
            Some(&provider),
            json!({"reply": "已再次核实，代码以登记机关为准"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    let (s, _) = t
        .post(
            &format!("{path}/reopen"),
            Some(&citizen),
            json!({"reason": "还想再开一次"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (s, detail) = t.get(&path, Some(&citizen)).await;
    assert_eq!(s, StatusCode::OK, "{detail}");
    let actions: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["created", "answered", "reopened", "answered"]);
    assert_eq!(detail["may_reopen"], false);

    // The entry's metadata quality, with what it lacks.
    let (s, quality) = t
        .get(&format!("/api/v1/datasets/{dataset}/quality"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{quality}");
    let score = quality["score"].as_u64().unwrap();
    let earned: u64 = quality["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["earned"].as_u64().unwrap())
        .sum();
    assert_eq!(score, earned);
    assert!(score > 0 && score <= 100, "{quality}");
    assert_eq!(
        t.get("/api/v1/datasets/999999/quality", None).await.0,
        StatusCode::NOT_FOUND
    );

    // The public sees counts, not cases.
    let (s, summary) = t
        .get(&format!("/api/v1/datasets/{dataset}/feedback"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{summary}");
    assert_eq!(summary["objections"], 1);
    assert_eq!(summary["objections_answered"], 1);
    assert_eq!(summary["offline"], false);
}

#[tokio::test]
async fn evidence_is_checked_by_its_bytes_and_shown_only_to_the_parties() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let stranger = t.user_with_role("stranger", "registered", None, None).await;
    let (dataset, _) = entry_with_table(&t, &provider, "证明材料测试").await;
    let (_, filed) = t
        .post(
            "/api/v1/objections",
            Some(&citizen),
            json!({"dataset_id": dataset, "kind": "outdated", "description": "数据停在去年，未按季度更新"}),
        )
        .await;
    let id = filed["id"].as_i64().unwrap();
    let evidence = format!("/api/v1/objections/{id}/evidence?name=截图.pdf");

    let (s, body) = post_raw(&t, &evidence, &citizen, b"MZ\x90\x00\x03\x00\x00\x00").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, _) = post_raw(&t, &evidence, &citizen, &vec![b'%'; 11 * 1024 * 1024]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, _) = post_raw(&t, &evidence, &stranger, b"%PDF-1.7\n").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = post_raw(&t, &evidence, &provider, b"%PDF-1.7\n").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n";
    let (s, view) = post_raw(&t, &evidence, &citizen, pdf).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["evidence"]["content_type"], "application/pdf");
    assert_eq!(view["evidence"]["name"], "截图.pdf");
    assert_eq!(view["evidence"]["bytes"], pdf.len());
    let (s, _) = post_raw(&t, &evidence, &citizen, pdf).await;
    assert_eq!(s, StatusCode::CONFLICT, "one file per objection");

    let get = |token: String| {
        let t = &t;
        async move {
            t.client
                .get(t.url(&format!("/api/v1/objections/{id}/evidence")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let resp = get(provider.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), pdf);
    assert_eq!(get(stranger).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_infringement_report_reaches_the_authority_and_can_withhold_the_data() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let (dataset, rid) = entry_with_table(&t, &provider, "侵权举报测试").await;
    let rows = format!("/api/v1/resources/{rid}/rows");
    assert_eq!(t.get(&rows, None).await.0, StatusCode::OK);

    let (s, filed) = t
        .post(
            "/api/v1/objections",
            Some(&citizen),
            json!({"dataset_id": dataset, "kind": "infringement",
                   "description": "表中公开了我本人的联系方式，侵犯个人隐私"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{filed}");
    let id = filed["id"].as_i64().unwrap();
    assert!(
        inbox_kinds(&t, &authority)
            .await
            .contains(&"objection_infringement".to_owned())
    );

    // Only the provider or the authority may withhold, and only for such a report.
    let offline = format!("/api/v1/objections/{id}/offline");
    let reason = json!({"reason": "核查期间暂停提供"});
    assert_eq!(
        t.post(&offline, Some(&citizen), reason.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, view) = t.post(&offline, Some(&authority), reason.clone()).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["offline"], true);
    assert_eq!(
        t.post(&offline, Some(&authority), reason).await.0,
        StatusCode::CONFLICT
    );

    // Withheld from the public and grant holders, not from the provider's staff.
    let (s, body) = t.get(&rows, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("暂停提供"),
        "{body}"
    );
    assert_eq!(t.get(&rows, Some(&citizen)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(t.get(&rows, Some(&provider)).await.0, StatusCode::OK);
    let (_, summary) = t
        .get(&format!("/api/v1/datasets/{dataset}/feedback"), None)
        .await;
    assert_eq!(summary["offline"], true);
    // The metadata stays visible.
    assert_eq!(
        t.get(&format!("/api/v1/datasets/{dataset}"), None).await.0,
        StatusCode::OK
    );

    // The provider cannot lift it; the authority ends the review.
    let restore = format!("/api/v1/objections/{id}/restore");
    let note = json!({"reason": "已删除联系方式列，恢复提供"});
    assert_eq!(
        t.post(&restore, Some(&provider), note.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, view) = t.post(&restore, Some(&authority), note).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["offline"], false);
    assert_eq!(t.get(&rows, None).await.0, StatusCode::OK);
    assert!(
        inbox_kinds(&t, &citizen)
            .await
            .contains(&"objection_restored".to_owned())
    );
}

#[tokio::test]
async fn demands_are_routed_answered_and_listed_as_supply_and_demand() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let stranger = t.user_with_role("stranger", "registered", None, None).await;
    let answering = published_entry(&t, &provider, entry("供需对接测试数据")).await;
    let (_, detail) = t.get(&format!("/api/v1/datasets/{answering}"), None).await;
    let provider_org = detail["provider"]["id"].as_i64().unwrap();

    let (s, body) = t
        .post(
            "/api/v1/demands",
            Some(&citizen),
            json!({"title": "", "description": "短", "purpose": "研究", "provider_id": 999_999}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mut fields = error_fields(&body);
    fields.sort_unstable();
    assert_eq!(fields, ["description", "provider_id", "title"]);

    // Naming no provider, the demand waits for the authority to route it.
    let (s, demand) = t
        .post(
            "/api/v1/demands",
            Some(&citizen),
            json!({"title": "全省公共充电桩位置", "description": "希望开放全省公共充电桩的位置和接口类型",
                   "purpose": "开发充电导航小程序", "provider_hint": "能源局"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{demand}");
    assert_eq!(demand["state"], "routing");
    assert!(demand["due_on"].is_null());
    let id = demand["id"].as_i64().unwrap();
    assert!(
        inbox_kinds(&t, &authority)
            .await
            .contains(&"demand_routing".to_owned())
    );

    // Public: anyone reads it on the board.
    let (s, board) = t.get("/api/v1/demands", None).await;
    assert_eq!(s, StatusCode::OK, "{board}");
    assert!(
        board["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == id)
    );
    // An empty choice in the board's filter is no filter.
    let (_, all) = t.get("/api/v1/demands?state=&q=", None).await;
    assert_eq!(all["total"], board["total"], "{all}");
    let (s, one) = t.get(&format!("/api/v1/demands/{id}"), None).await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["history"], json!([]), "history is for participants");

    let route = format!("/api/v1/demands/{id}/route");
    assert_eq!(
        t.post(
            &route,
            Some(&provider),
            json!({"provider_id": provider_org})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (s, routed) = t
        .post(
            &route,
            Some(&authority),
            json!({"provider_id": provider_org}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{routed}");
    assert_eq!(routed["state"], "open");
    assert!(routed["due_on"].is_string());
    assert!(
        inbox_kinds(&t, &provider)
            .await
            .contains(&"demand_received".to_owned())
    );

    let answer = format!("/api/v1/demands/{id}/answer");
    assert_eq!(
        t.post(
            &answer,
            Some(&citizen),
            json!({"kind": "cannot", "text": "不行", "legal_basis": "某法"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (s, body) = t
        .post(
            &answer,
            Some(&provider),
            json!({"kind": "cannot", "text": "涉及安全"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["legal_basis"]);
    let (s, body) = t
        .post(
            &answer,
            Some(&provider),
            json!({"kind": "already_open", "text": "已开放"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["dataset_id"]);
    let (s, answered) = t
        .post(
            &answer,
            Some(&provider),
            json!({"kind": "already_open", "text": "该数据已在平台开放，可直接下载", "dataset_id": answering}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{answered}");
    assert_eq!(answered["state"], "answered");
    assert_eq!(answered["answer_dataset_title"], "供需对接测试数据");
    assert!(
        inbox_kinds(&t, &citizen)
            .await
            .contains(&"demand_answered".to_owned())
    );

    let (s, list) = t.get("/api/v1/supply-demand", None).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let row = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(row["answer"]["kind"], "already_open");
    assert_eq!(row["answer"]["dataset_id"], answering);

    // A private demand is the requester's, the provider's and the authority's only.
    let (s, private) = t
        .post(
            "/api/v1/demands",
            Some(&citizen),
            json!({"title": "本单位内部统计口径", "description": "希望了解某项统计的口径与字段定义",
                   "purpose": "内部研究", "provider_id": provider_org, "public": false}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{private}");
    assert_eq!(private["state"], "open");
    let pid = private["id"].as_i64().unwrap();
    assert_eq!(
        t.get(&format!("/api/v1/demands/{pid}"), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&format!("/api/v1/demands/{pid}"), Some(&stranger))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&format!("/api/v1/demands/{pid}"), Some(&provider))
            .await
            .0,
        StatusCode::OK
    );
    let (_, mine) = t.get("/api/v1/demands?mine=true", Some(&citizen)).await;
    assert_eq!(mine["total"], 2, "{mine}");
}

#[tokio::test]
async fn spam_is_held_back_and_ratings_average() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let other = t.user_with_role("other", "registered", None, None).await;
    let dataset = published_entry(&t, &provider, entry("防刷测试")).await;
    let file = |n: usize| json!({"dataset_id": dataset, "kind": "other", "description": format!("第{n}条建议：希望增加字段说明")});

    for n in 0..10 {
        let (s, body) = t.post("/api/v1/objections", Some(&citizen), file(n)).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let (s, body) = t.post("/api/v1/objections", Some(&citizen), file(0)).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (s, body) = t.post("/api/v1/objections", Some(&other), file(0)).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, body) = t.post("/api/v1/objections", Some(&other), file(0)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["description"]);
    // A shorter text that the earlier one contains is not a duplicate.
    let (s, body) = t
        .post(
            "/api/v1/objections",
            Some(&other),
            json!({"dataset_id": dataset, "kind": "other", "description": "希望增加字段说明"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, body) = t
        .post(
            "/api/v1/objections",
            Some(&other),
            json!({"dataset_id": dataset, "kind": "other", "description": "！！！！！！！！！！！！"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let rate = format!("/api/v1/datasets/{dataset}/rating");
    assert_eq!(
        t.post(&rate, None, json!({"stars": 4})).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, body) = t.post(&rate, Some(&citizen), json!({"stars": 6})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    t.post(&rate, Some(&citizen), json!({"stars": 5})).await;
    // Rating again changes the rating rather than adding one.
    let (s, summary) = t.post(&rate, Some(&citizen), json!({"stars": 4})).await;
    assert_eq!(s, StatusCode::OK, "{summary}");
    let (_, summary) = t.post(&rate, Some(&other), json!({"stars": 2})).await;
    assert_eq!(summary["ratings"], 2);
    assert_eq!(summary["rating_average"], 3.0);
    assert_eq!(summary["own_rating"], 2);
}

#[tokio::test]
async fn reuse_records_are_moderated_before_they_are_shown() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let authority = t.token("demo-authority").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let stranger = t.user_with_role("stranger", "registered", None, None).await;
    let dataset = published_entry(&t, &provider, entry("利用成果测试")).await;

    let (s, body) = t
        .post(
            "/api/v1/reuses",
            Some(&citizen),
            json!({"name": "X", "kind": "app", "description": "短", "link": "http://a.cn",
                   "dataset_ids": [999_999]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mut fields = error_fields(&body);
    fields.sort_unstable();
    assert_eq!(fields, ["dataset_ids", "description", "link", "name"]);

    let (s, created) = t
        .post(
            "/api/v1/reuses",
            Some(&citizen),
            json!({"name": "企业信用查询小程序", "kind": "app",
                   "description": "基于企业登记数据，提供信用代码查询与经营状态提醒",
                   "link": "https://example.cn/app", "dataset_ids": [dataset, dataset]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "pending");
    assert_eq!(created["datasets"].as_array().unwrap().len(), 1);
    let id = created["id"].as_i64().unwrap();
    assert!(
        inbox_kinds(&t, &authority)
            .await
            .contains(&"reuse_pending".to_owned())
    );

    // Waiting: the author and the authority see it; the public and strangers do not.
    let path = format!("/api/v1/reuses/{id}");
    assert_eq!(t.get(&path, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.get(&path, Some(&stranger)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.get(&path, Some(&citizen)).await.0, StatusCode::OK);
    let (_, showcase) = t.get("/api/v1/reuses", None).await;
    assert_eq!(showcase["total"], 0, "{showcase}");

    // A screenshot: an image, by its bytes.
    let shots = format!("/api/v1/reuses/{id}/screenshots");
    let (s, _) = post_raw(&t, &shots, &citizen, b"%PDF-1.7\n").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let (s, view) = post_raw(&t, &shots, &citizen, png).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["screenshots"], 1);
    assert_eq!(
        post_raw(&t, &shots, &stranger, png).await.0,
        StatusCode::NOT_FOUND
    );

    // Only the authority moderates; rejecting needs a reason.
    let moderate = format!("/api/v1/reuses/{id}/moderate");
    assert_eq!(
        t.post(&moderate, Some(&citizen), json!({"approve": true}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, body) = t
        .post(&moderate, Some(&authority), json!({"approve": false}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, approved) = t
        .post(
            &moderate,
            Some(&authority),
            json!({"approve": true, "note": "内容属实"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{approved}");
    assert_eq!(approved["state"], "approved");
    assert!(
        inbox_kinds(&t, &citizen)
            .await
            .contains(&"reuse_approved".to_owned())
    );
    assert_eq!(
        t.post(
            &moderate,
            Some(&authority),
            json!({"approve": false, "note": "撤回"})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );

    // Shown: on the showcase, for the entry, with its screenshot to anyone.
    let (_, showcase) = t
        .get(&format!("/api/v1/reuses?dataset_id={dataset}"), None)
        .await;
    assert_eq!(showcase["items"][0]["id"], id, "{showcase}");
    let resp = t
        .client
        .get(t.url(&format!("/api/v1/reuses/{id}/screenshots/1")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), png);
    assert_eq!(
        t.get(&format!("/api/v1/reuses/{id}/screenshots/2"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

/// SD-BIGDATA §20, R8.1: each version's quality from counts over the raw table, the
/// problems named, and the trend across versions.
#[tokio::test]
async fn a_version_quality_report_counts_what_is_wrong_and_follows_the_versions() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let citizen = t.user_with_role("citizen", "registered", None, None).await;
    let dataset = published_entry(&t, &provider, entry("质量测试")).await;
    // Seven rows: one blank name, one credit code with a wrong check character, two
    // companies under one code, and one row that repeats another exactly.
    let code = |n: u32| {
        let body = format!("91370100MA3C{n:05}");
        let check = gongshu_core::validate::uscc_check_char(&body).unwrap();
        format!("{body}{check}")
    };
    let (a, b, c, e) = (code(1), code(2), code(3), code(5));
    let mut wrong = code(4);
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    let first = format!(
        "企业名称,统一社会信用代码\n甲公司,{a}\n,{b}\n丙公司,{c}\n丁公司,{wrong}\n\
         甲公司,{a}\n戊公司,{e}\n戊分公司,{e}\n"
    );
    let rid =
        ingest_ok(&t, dataset, &provider, "q.csv", first.as_bytes(), &[]).await["resource_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let path = format!("/api/v1/resources/{rid}/quality");
    assert_eq!(t.get(&path, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(t.get(&path, Some(&citizen)).await.0, StatusCode::NOT_FOUND);
    let (s, report) = t.get(&path, Some(&provider)).await;
    assert_eq!(s, StatusCode::OK, "{report}");
    let q = &report["current"];
    assert_eq!(q["rows"], 7, "{report}");
    let column = |name: &str| {
        q["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{report}"))
    };
    assert_eq!(column("企业名称")["filled"], 6);
    let code = column("统一社会信用代码");
    assert_eq!(code["checked_as"], "uscc", "{report}");
    assert_eq!(code["invalid"], 1, "{report}");
    assert_eq!(code["repeated"], 2, "{report}");
    assert_eq!(q["duplicate_rows"], 1, "{report}");
    let codes: Vec<&str> = q["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    for expected in [
        "incomplete",
        "invalid_code",
        "duplicate_key",
        "duplicate_rows",
    ] {
        assert!(codes.contains(&expected), "{expected}: {report}");
    }
    let first_score = q["score"].as_u64().unwrap();
    assert!(first_score < 100, "{report}");
    // No value leaves in the report.
    assert!(!report.to_string().contains("91370100MA3C"), "{report}");
    assert_eq!(q["previous_rows"], Value::Null);

    // A second version with one clean row: a sharp drop, and the trend has both.
    let second = format!("企业名称,统一社会信用代码\n甲公司,{a}\n");
    ingest_ok(
        &t,
        dataset,
        &provider,
        "q.csv",
        second.as_bytes(),
        &[("resource_id", &rid)],
    )
    .await;
    let (_, report) = t.get(&path, Some(&provider)).await;
    let q = &report["current"];
    assert_eq!(q["version"], 2, "{report}");
    assert_eq!(q["previous_rows"], 7);
    assert!(
        q["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["code"] == "row_drop" && p["count"] == 6),
        "{report}"
    );
    let trend = report["trend"].as_array().unwrap();
    assert_eq!(trend.len(), 2, "{report}");
    assert_eq!(trend[0][0], 1);
    assert_eq!(trend[0][1], first_score);
}

// SD-BIGDATA §20, SX-BIGDATA §24: values are checked against what the data items
// declare (type, length, code list) and against the national region-code list.
#[tokio::test]
async fn values_are_checked_against_their_declared_items() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let mut body = entry("值域检查");
    body["items"] = json!([
        {"name": "企业名称", "type": "character", "length": 4, "grade": "general1"},
        {"name": "受理时间", "type": "datetime", "grade": "general1"},
        {"name": "登记状态", "type": "character", "codes": [" 存续", "注销", "", "x') OR 1=1 --"], "grade": "general1"},
        {"name": "行政区划代码", "type": "character", "length": 6, "grade": "general1"}
    ]);
    let dataset = published_entry(&t, &provider, body).await;
    let (_, stored) = t.get(&format!("/api/v1/datasets/{dataset}"), None).await;
    assert_eq!(
        stored["items"][2]["codes"],
        json!(["存续", "注销", "x') OR 1=1 --"]),
        "{stored}"
    );
    // Dates and numbers are held to their declared type at ingest already (a row that
    // does not fit waits for the provider's decision); date-times are kept as text, so
    // the quality check is where a bad one shows.
    let csv = "企业名称,受理时间,登记状态,行政区划代码\n\
               甲公司,2020-01-02 08:30,存续,370102\n\
               很长很长的公司,昨天下午,在业,990000\n\
               丙公司,2021年3月4日 17:05:09,注销,370000\n\
               丁公司,,,\n";
    let rid = ingest_ok(&t, dataset, &provider, "v.csv", csv.as_bytes(), &[]).await["resource_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, report) = t
        .get(&format!("/api/v1/resources/{rid}/quality"), Some(&provider))
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    let q = &report["current"];
    let column = |name: &str| {
        q["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{report}"))
    };
    assert_eq!(column("企业名称")["too_long"], 1, "{report}");
    assert_eq!(column("受理时间")["wrong_type"], 1, "{report}");
    assert_eq!(column("登记状态")["outside_codes"], 1, "{report}");
    assert_eq!(column("行政区划代码")["outside_codes"], 1, "{report}");
    for (code, column) in [
        ("too_long", "企业名称"),
        ("wrong_type", "受理时间"),
        ("outside_codes", "登记状态"),
        ("outside_codes", "行政区划代码"),
    ] {
        assert!(
            q["problems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["code"] == code && p["column"] == column && p["count"] == 1),
            "{code} {column}: {report}"
        );
    }
    // Blank cells are counted as incomplete, not as invalid; no value leaves.
    assert!(!report.to_string().contains("在业"), "{report}");
    assert!(q["score"].as_u64().unwrap() < 90, "{report}");
}

// 一数一源 (SD-BIGDATA §20): items several providers claim as their own source are
// flagged for the authority, and for the providers party to the claim.
#[tokio::test]
async fn items_claimed_by_several_providers_are_flagged() {
    let t = spawn().await;
    let provider = t.token("demo-provider").await;
    let health = t.org_id("山东省卫生健康委员会").await;
    let health_admin = t
        .user_with_role("hc-source", "provider_admin", Some(health), None)
        .await;
    let education = t.org_id("山东省教育厅").await;
    let education_admin = t
        .user_with_role("edu-source", "provider_admin", Some(education), None)
        .await;
    let claim = |title: &str, items: Value| {
        let mut body = entry(title);
        body["items"] = items;
        body
    };
    let ours = published_entry(
        &t,
        &provider,
        claim(
            "来源甲",
            json!([
                {"name": "测试专用编码", "type": "character", "grade": "general1", "source": true},
                {"name": "只此一家", "type": "character", "grade": "general1", "source": true},
                {"name": "无人认领", "type": "character", "grade": "general1"}
            ]),
        ),
    )
    .await;
    // The other provider writes the name in full-width letters with a space: the same item.
    let mut theirs = claim(
        "来源乙",
        json!([{"name": "测试专用 编码", "type": "character", "grade": "general1", "source": true},
               {"name": "无人认领", "type": "character", "grade": "general1"}]),
    );
    theirs["category"] = json!({"class": "department", "item": "15", "catalog": "001"});
    let theirs = published_entry(&t, &health_admin, theirs).await;

    let path = "/api/v1/source-conflicts?region=370000";
    assert_eq!(t.get(path, None).await.0, StatusCode::UNAUTHORIZED);
    let citizen = t
        .user_with_role("src-citizen", "registered", None, None)
        .await;
    assert_eq!(t.get(path, Some(&citizen)).await.0, StatusCode::FORBIDDEN);

    let authority = t.token("demo-authority").await;
    let (s, all) = t.get(path, Some(&authority)).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let find = |body: &Value, item: &str| {
        body["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["item"].as_str().unwrap().replace(' ', "") == item)
            .cloned()
    };
    let conflict = find(&all, "测试专用编码").unwrap_or_else(|| panic!("{all}"));
    assert_eq!(conflict["providers"], 2, "{all}");
    let entries: Vec<i64> = conflict["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["dataset_id"].as_i64().unwrap())
        .collect();
    assert_eq!(entries.len(), 2);
    assert!(
        entries.contains(&ours) && entries.contains(&theirs),
        "{all}"
    );
    assert!(find(&all, "只此一家").is_none(), "{all}");
    assert!(find(&all, "无人认领").is_none(), "{all}");

    // A party sees the conflict; a provider not party to it does not.
    let (_, seen) = t.get(path, Some(&health_admin)).await;
    assert!(find(&seen, "测试专用编码").is_some(), "{seen}");
    let (s, unseen) = t.get(path, Some(&education_admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(find(&unseen, "测试专用编码").is_none(), "{unseen}");

    // The console page lists it; the dataset page marks the claimed item.
    let cookie = t.session_with("demo-authority", DEMO_PASSWORD).await;
    let page = |path: String, cookie: Option<String>| {
        let mut req = t.client.get(t.url(&path));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        }
    };
    let (s, html) = page("/console/source-conflicts".into(), Some(cookie)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("来源乙") && html.contains("来源甲"), "{html}");
    let (_, html) = page(format!("/datasets/{ours}"), None).await;
    assert!(html.contains("badge source"), "{html}");
}
