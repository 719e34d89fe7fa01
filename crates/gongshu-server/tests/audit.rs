//! Issue 7: every decision and data access lands in the tamper-evident audit log; its
//! checkpoints are signed; auditors get inclusion and consistency proofs that verify; the
//! log verified offline catches a changed or removed entry.

mod common;

use std::time::Duration;

use common::{TestApp, ingest, spawn_boot};
use gongshu_app::gongshu_audit::{
    Checkpoint, Entry, HashAlg, LogProblem, SigAlg, VerifyingKey, parse_hash,
};
use gongshu_server::{Bootstrap, open_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

const MASTER_KEY: &str = "8f0c2a61d5e94b7c3a1f6e08b2d4c7a95e3b1f0d6c8a2e4b7d9f1a3c5e7b9d0f";
const OPEN_ENTRY: &str = "山东省企业经营异常名录信息";

fn boot() -> Bootstrap {
    Bootstrap {
        master_key: gongshu_app::MasterKey::parse(MASTER_KEY),
        ..Bootstrap::default()
    }
}

async fn entry_id(t: &TestApp, token: &str, title: &str) -> i64 {
    let (_, page) = t
        .get("/api/v1/workbench/datasets?per_page=100", Some(token))
        .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["title"] == title)
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// The entries about `dataset` as `token` may read them, newest first.
async fn entries(t: &TestApp, token: &str, query: &str) -> (StatusCode, Value) {
    t.get(&format!("/api/v1/audit/entries?{query}"), Some(token))
        .await
}

/// The latest checkpoint once it covers at least `size` entries.
async fn checkpoint_covering(t: &TestApp, size: u64) -> Value {
    for _ in 0..100 {
        let (s, c) = t.get("/api/v1/audit/checkpoint", None).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        if c["size"].as_u64().unwrap() >= size {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, c) = t.get("/api/v1/audit/checkpoint", None).await;
    panic!("no checkpoint covers {size} entries: {c}");
}

fn parsed_checkpoint(c: &Value) -> Checkpoint {
    Checkpoint {
        origin: c["origin"].as_str().unwrap().into(),
        size: c["size"].as_u64().unwrap(),
        root: c["root"].as_str().unwrap().into(),
        time: c["time"].as_i64().unwrap(),
        hash: HashAlg::parse(c["hash"].as_str().unwrap()).unwrap(),
        key_id: c["key_id"].as_str().unwrap().into(),
        signature: c["signature"].as_str().unwrap().into(),
        sig: SigAlg::parse(c["sig"].as_str().unwrap()).unwrap(),
    }
}

fn public_key(c: &Value) -> VerifyingKey {
    VerifyingKey::from_bytes(&hex::decode(c["public_key"].as_str().unwrap()).unwrap()).unwrap()
}

/// 国密: checkpoints signed with SM2 over an SM3 log, verified with the published key
/// (the 65-byte point) by anyone, and with nothing else.
#[tokio::test]
async fn checkpoints_can_be_signed_with_sm2() {
    let t = spawn_boot(Bootstrap {
        audit_hash: Some(HashAlg::Sm3),
        audit_signature: Some(SigAlg::Sm2),
        ..boot()
    })
    .await;
    t.token("demo-provider").await;
    let c = checkpoint_covering(&t, 1).await;
    assert_eq!(
        (c["sig"].as_str(), c["hash"].as_str()),
        (Some("sm2"), Some("sm3"))
    );
    assert_eq!(c["public_key"].as_str().unwrap().len(), 130, "{c}");
    assert!(c["body"].as_str().unwrap().ends_with("sig sm2\n"), "{c}");
    let checkpoint = parsed_checkpoint(&c);
    checkpoint.verify(&public_key(&c)).unwrap();
    let mut forged = checkpoint.clone();
    forged.size += 1;
    assert!(forged.verify(&public_key(&c)).is_err());
    let ed25519 = gongshu_app::gongshu_audit::SigningKey::from_bytes(&[3u8; 32]).verifying_key();
    assert!(checkpoint.verify(&ed25519).is_err());
}

fn hashes(v: &Value) -> Vec<[u8; 32]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| parse_hash(h.as_str().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn decisions_and_data_access_are_audited_and_the_log_proves_itself() {
    let t = spawn_boot(boot()).await;
    let provider = t.token("demo-provider").await;
    let auditor = t.token("demo-auditor").await;
    let id = entry_id(&t, &provider, OPEN_ENTRY).await;
    let job = ingest(
        &t,
        id,
        &provider,
        "a.csv",
        "名称,数量\n甲,1\n乙,2\n".as_bytes(),
        &[],
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let rid = job["resource_id"].as_str().unwrap().to_owned();

    // A download by an anonymous visitor, a refused sign-in, a refused write.
    let download = t
        .client
        .get(t.url(&format!("/api/v1/resources/{rid}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let request_id = download.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let (s, _) = t
        .post(
            "/api/v1/auth/token",
            None,
            json!({"username": "demo-provider", "password": "wrong password 1"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let user = t.token("demo-user").await;
    let (s, _) = t
        .post(
            "/api/v1/datasets",
            Some(&user),
            common::entry("注册用户不能编目"),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The provider reads who used its entry; the download is there, with its request id
    // and a pseudonym for the address, never the address itself.
    let (s, page) = entries(&t, &provider, &format!("dataset={id}")).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    let download_entry = items
        .iter()
        .find(|e| e["entry"]["action"] == "data.download")
        .unwrap_or_else(|| panic!("{page}"));
    let e = &download_entry["entry"];
    assert_eq!(e["object"], format!("resource:{rid}"));
    assert_eq!(e["outcome"], "ok");
    assert_eq!(e["status"], 200);
    assert_eq!(e["actor"], Value::Null);
    assert_eq!(e["request"], request_id);
    let client = e["client"].as_str().unwrap();
    assert_eq!(client.len(), 24);
    assert!(!page.to_string().contains("127.0.0.1"), "{page}");
    // The upload, as a change the provider made.
    assert!(
        items.iter().any(
            |e| e["entry"]["action"] == "POST /api/v1/datasets/{id}/resources"
                && e["entry"]["actor"].is_i64()
                && e["entry"]["role"] == "provider_admin"
        ),
        "{page}"
    );

    // The auditor reads everything: the refused sign-in and the refused write too.
    let (s, all) = entries(&t, &auditor, "per_page=200").await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let actions: Vec<(&str, &str)> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["entry"]["action"].as_str().unwrap(),
                e["entry"]["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("POST /api/v1/auth/token", "denied")),
        "{actions:?}"
    );
    assert!(actions.contains(&("auth.token", "ok")), "{actions:?}");
    assert!(
        actions.contains(&("POST /api/v1/datasets", "denied")),
        "{actions:?}"
    );
    // So does the province's authority.
    let authority = t.token("demo-authority").await;
    let (s, body) = entries(&t, &authority, "per_page=1").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // Filters: by action and by actor.
    let (_, only) = entries(&t, &auditor, "action=data.").await;
    assert!(
        only["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["entry"]["action"].as_str().unwrap().starts_with("data.")),
        "{only}"
    );
    // Others may not read the log: the public, a registered user, a provider asking
    // for the whole log or for another provider's entry.
    let (s, _) = t.get("/api/v1/audit/entries", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = entries(&t, &user, "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = entries(&t, &provider, "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let health = t.org_id("山东省卫生健康委员会").await;
    let other = t
        .user_with_role("hc-admin", "provider_admin", Some(health), None)
        .await;
    let (s, _) = entries(&t, &other, &format!("dataset={id}")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A signed checkpoint covers it all, and verifies with the published key.
    let (_, size_now) = entries(&t, &auditor, "per_page=1").await;
    let size = size_now["total"].as_u64().unwrap();
    let c = checkpoint_covering(&t, size).await;
    let key = public_key(&c);
    let checkpoint = parsed_checkpoint(&c);
    checkpoint.verify(&key).unwrap();
    assert_eq!(c["body"], checkpoint.body());
    assert_eq!(c["hash"], "sha256");

    // The auditor proves the download's entry is in the log, from the entry alone.
    let seq = download_entry["seq"].as_u64().unwrap();
    let (s, proof) = t
        .get(
            &format!(
                "/api/v1/audit/proof/inclusion?index={}&size={}",
                seq - 1,
                checkpoint.size
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{proof}");
    let entry: Entry = serde_json::from_value(download_entry["entry"].clone()).unwrap();
    let leaf = HashAlg::Sha256.leaf(entry.canonical().as_bytes());
    assert_eq!(proof["leaf"], hex::encode(leaf));
    let root = checkpoint.root_hash().unwrap();
    assert!(HashAlg::Sha256.verify_inclusion(
        seq - 1,
        checkpoint.size,
        &leaf,
        &hashes(&proof["proof"]),
        &root
    ));

    // More happens; a later checkpoint extends the earlier one.
    for _ in 0..3 {
        t.client
            .get(t.url(&format!("/api/v1/resources/{rid}/rows")))
            .send()
            .await
            .unwrap();
    }
    let later = parsed_checkpoint(&checkpoint_covering(&t, checkpoint.size + 3).await);
    let (s, proof) = t
        .get(
            &format!(
                "/api/v1/audit/proof/consistency?first={}&size={}",
                checkpoint.size, later.size
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{proof}");
    assert!(HashAlg::Sha256.verify_consistency(
        checkpoint.size,
        later.size,
        &root,
        &later.root_hash().unwrap(),
        &hashes(&proof["proof"])
    ));
    // Positions beyond the log are refused clearly.
    let (s, body) = t
        .get("/api/v1/audit/proof/inclusion?index=5&size=99999999", None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, _) = t
        .get("/api/v1/audit/proof/consistency?first=x&size=2", None)
        .await;
    assert!(s.is_client_error());

    // The whole log verifies offline against its checkpoints …
    let (app, _) = open_app(t.data_dir(), &boot()).await.unwrap();
    let verified = app.verify_audit(&key).await.unwrap().unwrap();
    assert!(verified.entries >= later.size);
    // … until someone with the database file rewrites an entry.
    let db = t.data_dir().join("gongshu.db");
    raw_exec(
        &db,
        &[
            "DROP TRIGGER audit_log_append_only_update",
            "UPDATE audit_log SET entry = replace(entry, '\"outcome\":\"', '\"outcome\":\"x') \
             WHERE seq = 2",
        ],
    )
    .await;
    let problems = app.verify_audit(&key).await.unwrap().unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, LogProblem::RootMismatch { .. })),
        "{problems:?}"
    );
}

async fn raw_exec(path: &std::path::Path, statements: &[&str]) {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for sql in statements {
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
}

/// Monitoring: a burst of downloads of one entry alerts its provider (in the inbox, with
/// the evidence in the audit log); a burst of failed sign-ins alerts the authority, and
/// is not the provider's business.
#[tokio::test]
async fn bursts_raise_alerts_with_their_evidence_to_the_right_people() {
    let t = spawn_boot(Bootstrap {
        monitor: Some(
            gongshu_app::monitor::Thresholds::parse("bulk_downloads=4,login_failures=3").unwrap(),
        ),
        ..boot()
    })
    .await;
    let provider = t.token("demo-provider").await;
    let auditor = t.token("demo-auditor").await;
    let id = entry_id(&t, &provider, OPEN_ENTRY).await;
    let job = ingest(&t, id, &provider, "a.csv", "a,b\n1,2\n".as_bytes(), &[]).await;
    let rid = job["resource_id"].as_str().unwrap().to_owned();
    for _ in 0..4 {
        let r = t
            .client
            .get(t.url(&format!("/api/v1/resources/{rid}/download")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    for _ in 0..3 {
        let (s, _) = t
            .post(
                "/api/v1/auth/token",
                None,
                json!({"username": "nobody", "password": "wrong-password"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let mut all = Value::Null;
    for _ in 0..100 {
        let (s, page) = t.get("/api/v1/alerts", Some(&auditor)).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        if page["total"].as_i64() == Some(2) {
            all = page;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rules: Vec<&str> = all["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no alerts"))
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"bulk_download") && rules.contains(&"login_failures"),
        "{all}"
    );
    // The provider sees the alert about its entry, not the sign-in one.
    let (_, mine) = t.get("/api/v1/alerts", Some(&provider)).await;
    assert_eq!(mine["total"], 1, "{mine}");
    let alert = &mine["items"][0];
    assert_eq!(alert["rule"], "bulk_download");
    assert_eq!(alert["dataset_id"], id);
    assert_eq!(alert["evidence"].as_array().unwrap().len(), 4);
    // … in its inbox too.
    let (_, inbox) = t.get("/api/v1/inbox", Some(&provider)).await;
    assert!(inbox.to_string().contains("security_alert"), "{inbox}");
    // The evidence, through the alert.
    let (s, evidence) = t
        .get(
            &format!("/api/v1/audit/entries?alert={}", alert["id"]),
            Some(&provider),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{evidence}");
    assert_eq!(evidence["total"], 4);
    assert!(
        evidence["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["entry"]["action"] == "data.download")
    );
    let sign_in_alert = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "login_failures")
        .unwrap()["id"]
        .clone();
    let (s, _) = t
        .get(
            &format!("/api/v1/audit/entries?alert={sign_in_alert}"),
            Some(&provider),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A registered user sees no alerts at all.
    let user = t.token("demo-user").await;
    let (s, _) = t.get("/api/v1/alerts", Some(&user)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// Requests given up by their clients while their audit entries wait to be written do
/// not stall the log: later requests are still answered (the writer is not the request).
#[tokio::test]
async fn abandoned_requests_do_not_stall_the_audit_log() {
    let t = spawn_boot(boot()).await;
    let provider = t.token("demo-provider").await;
    let id = entry_id(&t, &provider, OPEN_ENTRY).await;
    let job = ingest(&t, id, &provider, "a.csv", "a,b\n1,2\n".as_bytes(), &[]).await;
    let rows = t.url(&format!(
        "/api/v1/resources/{}/rows",
        job["resource_id"].as_str().unwrap()
    ));
    for _ in 0..5 {
        let mut started = Vec::new();
        for _ in 0..20 {
            let client = t.client.clone();
            let url = rows.clone();
            started.push(tokio::spawn(async move { client.get(&url).send().await }));
        }
        // Give them a moment to reach the server, then abandon them all.
        tokio::time::sleep(Duration::from_millis(2)).await;
        for h in started {
            h.abort();
        }
    }
    let answered = tokio::time::timeout(Duration::from_secs(30), t.client.get(&rows).send())
        .await
        .expect("a read after abandoned ones is answered")
        .unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
}
