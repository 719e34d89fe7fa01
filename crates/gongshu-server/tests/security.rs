//! Issue 7: the defences a public government site needs — rate limits with
//! `Retry-After`, sign-in lockout, security headers, password hashing and policy.

mod common;

use common::{DEMO_PASSWORD, spawn, spawn_configured};
use gongshu_server::{Bootstrap, ServerConfig};
use reqwest::StatusCode;
use serde_json::json;

async fn status_and_retry(
    t: &common::TestApp,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Option<u64>) {
    let mut req = t.client.get(t.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (resp.status(), retry)
}

#[tokio::test]
async fn callers_over_their_rate_get_429_with_retry_after() {
    let t = spawn_configured(
        Bootstrap::default(),
        ServerConfig {
            rate_limit: 1,
            rate_burst: 3,
            ..ServerConfig::default()
        },
    )
    .await;
    // A signed-in account has its own budget (twice the address's), so take the token
    // before the address's budget is spent.
    let token = t.token("demo-user").await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(status_and_retry(&t, "/api/v1/datasets?per_page=1", None).await);
    }
    let limited: Vec<_> = codes
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(!limited.is_empty(), "{codes:?}");
    assert!(
        limited
            .iter()
            .all(|(_, r)| r.is_some_and(|s| (1..=5).contains(&s))),
        "{codes:?}"
    );
    let (s, body) = t.get("/api/v1/datasets", None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "rate_limited");
    // The account is not held to the address's budget.
    let (s, _) = status_and_retry(&t, "/api/v1/me", Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    // Health and readiness are never limited: a load balancer must see them.
    let (s, _) = status_and_retry(&t, "/healthz", None).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn repeated_failed_sign_ins_lock_the_account_for_a_while() {
    let t = spawn().await;
    for _ in 0..gongshu_app::throttle::ACCOUNT_FAILURES {
        let (s, _) = t
            .post(
                "/api/v1/auth/token",
                None,
                json!({"username": "demo-provider", "password": "not-the-password"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused, with the time to wait.
    let resp = t
        .client
        .post(t.url("/api/v1/auth/token"))
        .json(&json!({"username": "demo-provider", "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 60 && wait <= 15 * 60, "{wait}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("登录失败次数过多"),
        "{body}"
    );
    // The sign-in page says the same.
    let (s, _) = t
        .post(
            "/api/v1/auth/token",
            None,
            json!({"username": "DEMO-PROVIDER", "password": DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "case does not dodge the lock"
    );
    // Another account is untouched.
    let (s, _) = t
        .post(
            "/api/v1/auth/token",
            None,
            json!({"username": "demo-user", "password": DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn security_headers_and_hsts_behind_https() {
    let t = spawn().await;
    let resp = t.client.get(t.url("/")).send().await.unwrap();
    let h = resp.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(
        h.get("strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );

    let https = spawn_configured(
        Bootstrap::default(),
        ServerConfig {
            cookie_secure: true,
            rate_limit: 0,
            ..ServerConfig::default()
        },
    )
    .await;
    let resp = https.client.get(https.url("/")).send().await.unwrap();
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
}

#[tokio::test]
async fn passwords_are_argon2id_at_owasp_parameters_and_common_ones_are_refused() {
    let t = spawn().await;
    // An account with a password on every guessing list is refused.
    let admin = t.token("admin").await;
    for weak in ["12345678", "Password1", "aaaaaaaaaa", "woaini1314"] {
        let (s, body) = t
            .post(
                "/api/v1/users",
                Some(&admin),
                json!({"username": "weak-user", "display_name": "弱", "password": weak}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{weak}: {body}");
    }
    let (s, body) = t
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"username": "strong-user", "display_name": "强", "password": "长城-Sunrise-2026"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    // Stored hashes are argon2id with OWASP's baseline: 19 MiB, 2 passes, 1 lane.
    let db = t.data_dir().join("gongshu.db");
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let hashes: Vec<(String,)> =
        sqlx::query_as("SELECT password_hash FROM users WHERE password_hash IS NOT NULL")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert!(!hashes.is_empty());
    for (h,) in hashes {
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
    }
}
