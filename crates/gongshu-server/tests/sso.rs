//! Issue 7: single sign-on through the province's identity system (OpenID Connect,
//! authorisation code + PKCE), against a small identity provider started here that checks
//! what a real one checks (client credentials, the PKCE verifier, the redirect) and can be
//! told to misbehave.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use common::{TestApp, spawn_boot};
use gongshu_app::sso::SsoSettings;
use gongshu_server::Bootstrap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use sha2::Digest as _;

/// A P-256 key made for this test and nothing else.
const TEST_ONLY_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRgr205NeoFlsX9qS
5c1c/x5lVXvg3Gn/ewb896Tm4GWhRANCAARosGirqpU1wbOVdsHsfMXQnMYTyxJe
guYJV9Ne660WpELByYCH/gjsljUm4/vfcrK1mlz4zSg1OBiPisAKyix2
-----END PRIVATE KEY-----
";
const CLIENT_ID: &str = "gongshu-portal";
const CLIENT_SECRET: &str = "idp-client-secret";

/// How the provider should (mis)behave in its next ID token.
#[derive(Clone, Default)]
struct Twist {
    audience: Option<String>,
    nonce: Option<String>,
}

/// What the provider remembers of a code: the PKCE challenge, the nonce, the redirect.
type Issued = (String, String, String);

#[derive(Clone)]
struct Idp {
    issuer: String,
    codes: Arc<Mutex<HashMap<String, Issued>>>,
    subject: Arc<Mutex<(String, String, String)>>,
    twist: Arc<Mutex<Twist>>,
}

fn key() -> EncodingKey {
    EncodingKey::from_ec_pem(TEST_ONLY_KEY.as_bytes()).unwrap()
}

async fn discovery(State(idp): State<Idp>) -> Json<Value> {
    Json(json!({
        "issuer": idp.issuer,
        "authorization_endpoint": format!("{}/authorize", idp.issuer),
        "token_endpoint": format!("{}/token", idp.issuer),
        "jwks_uri": format!("{}/jwks", idp.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks() -> Json<Value> {
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key(), Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("test-key".into());
    Json(json!({"keys": [jwk]}))
}

async fn authorize(State(idp): State<Idp>, Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("response_type").map(String::as_str) != Some("code")
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
        || !q
            .get("scope")
            .is_some_and(|s| s.split(' ').any(|x| x == "openid"))
    {
        return (AxumStatus::BAD_REQUEST, "bad authorisation request").into_response();
    }
    let code = format!("code-{}", idp.codes.lock().unwrap().len());
    idp.codes.lock().unwrap().insert(
        code.clone(),
        (
            q["code_challenge"].clone(),
            q["nonce"].clone(),
            q["redirect_uri"].clone(),
        ),
    );
    let back = format!(
        "{}?code={code}&state={}",
        q["redirect_uri"],
        url::form_urlencoded::byte_serialize(q["state"].as_bytes()).collect::<String>()
    );
    Redirect::to(&back).into_response()
}

async fn token(
    State(idp): State<Idp>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return (
            AxumStatus::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    // A code is good once, for the redirect it was issued to, with the verifier whose
    // hash was the challenge.
    let Some((challenge, nonce, redirect)) = idp.codes.lock().unwrap().remove(&f["code"]) else {
        return (
            AxumStatus::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let hashed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(f["code_verifier"].as_bytes()));
    if hashed != challenge
        || f["redirect_uri"] != redirect
        || f["grant_type"] != "authorization_code"
    {
        return (
            AxumStatus::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let twist = idp.twist.lock().unwrap().clone();
    let (sub, name, org) = idp.subject.lock().unwrap().clone();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": idp.issuer,
        "sub": sub,
        "aud": twist.audience.unwrap_or_else(|| CLIENT_ID.into()),
        "iat": now,
        "exp": now + 300,
        "nonce": twist.nonce.unwrap_or(nonce),
        "name": name,
        "org_credit_code": org,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("test-key".into());
    let id_token = jsonwebtoken::encode(&header, &claims, &key()).unwrap();
    Json(json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token}))
        .into_response()
}

async fn start_idp() -> Idp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let idp = Idp {
        issuer: format!("http://{}", listener.local_addr().unwrap()),
        codes: Arc::default(),
        subject: Arc::new(Mutex::new((
            "zhang.san@sso".into(),
            "张三".into(),
            String::new(),
        ))),
        twist: Arc::default(),
    };
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(idp.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    idp
}

/// The browser's trip: the platform → the provider → back; returns the callback's answer.
async fn sign_in(t: &TestApp) -> reqwest::Response {
    let start = t.client.get(t.url("/login/sso")).send().await.unwrap();
    assert_eq!(
        start.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        start.text().await
    );
    let to_idp = start.headers()[LOCATION].to_str().unwrap().to_owned();
    let back = t.client.get(&to_idp).send().await.unwrap();
    assert!(
        back.status().is_redirection(),
        "{}",
        back.text().await.unwrap()
    );
    let callback = back.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&t.url("/login/sso/callback?")),
        "{callback}"
    );
    t.client.get(&callback).send().await.unwrap()
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gongshu_session=") && !v.starts_with("gongshu_session=;"))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

async fn me(t: &TestApp, cookie: &str) -> Value {
    t.client
        .get(t.url("/api/v1/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn staff_sign_in_through_the_identity_system_and_bad_tokens_are_refused() {
    let idp = start_idp().await;
    let t = spawn_boot(Bootstrap {
        sso: Some(SsoSettings {
            issuer: idp.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            org_claim: "org_credit_code".into(),
        }),
        ..Bootstrap::default()
    })
    .await;
    let health = t.org_id("山东省卫生健康委员会").await;
    let (_, org) = t
        .get(&format!("/api/v1/organizations/{health}"), None)
        .await;
    idp.subject.lock().unwrap().2 = org["credit_code"].as_str().unwrap().to_owned();

    // The sign-in page offers it.
    let page = t.text("/login").await;
    assert!(page.contains("href=\"/login/sso\"") && page.contains("统一身份认证登录"));

    // First sign-in: an account linked to the identity, staff of the organisation named.
    let done = sign_in(&t).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], "/");
    let cookie = session_cookie(&done).expect("a session");
    let who = me(&t, &cookie).await;
    assert_eq!(who["display_name"], "张三", "{who}");
    assert!(
        who["username"].as_str().unwrap().starts_with("sso-"),
        "{who}"
    );
    assert_eq!(who["roles"][0]["role"], "dept_user", "{who}");
    assert_eq!(who["roles"][0]["org_id"], health, "{who}");
    let first_id = who["id"].clone();
    // The account has no password: it cannot sign in any other way.
    let (s, _) = t
        .post(
            "/api/v1/auth/token",
            None,
            json!({"username": who["username"], "password": ""}),
        )
        .await;
    assert!(s.is_client_error());

    // Again: the same account, not a second one.
    let again = sign_in(&t).await;
    let cookie = session_cookie(&again).expect("a session");
    assert_eq!(me(&t, &cookie).await["id"], first_id);

    // A state used once, or never issued, is refused.
    let start = t.client.get(t.url("/login/sso")).send().await.unwrap();
    let to_idp = start.headers()[LOCATION].to_str().unwrap().to_owned();
    let back = t.client.get(&to_idp).send().await.unwrap();
    let callback = back.headers()[LOCATION].to_str().unwrap().to_owned();
    let used = t.client.get(&callback).send().await.unwrap();
    assert_eq!(used.status(), StatusCode::SEE_OTHER);
    let replay = t.client.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&replay).is_none());
    let forged = t
        .client
        .get(t.url("/login/sso/callback?code=code-0&state=made-up"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let denied = t
        .client
        .get(t.url("/login/sso/callback?error=access_denied&state=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::BAD_REQUEST);

    // An ID token for another client, or with another nonce, signs nobody in.
    *idp.twist.lock().unwrap() = Twist {
        audience: Some("another-client".into()),
        nonce: None,
    };
    let r = sign_in(&t).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&r).is_none());
    *idp.twist.lock().unwrap() = Twist {
        audience: None,
        nonce: Some("replayed-nonce".into()),
    };
    let r = sign_in(&t).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&r).is_none());
    *idp.twist.lock().unwrap() = Twist::default();

    // Someone the province knows but whose organisation is not registered here is an
    // ordinary registered user.
    *idp.subject.lock().unwrap() = ("li.si@sso".into(), "李四".into(), "not-a-code".into());
    let r = sign_in(&t).await;
    let cookie = session_cookie(&r).expect("a session");
    let who = me(&t, &cookie).await;
    assert_eq!(who["roles"][0]["role"], "registered", "{who}");

    // Each sign-in is in the audit log.
    let auditor = t.token("demo-auditor").await;
    let (_, entries) = t
        .get("/api/v1/audit/entries?action=auth.sso", Some(&auditor))
        .await;
    assert_eq!(entries["total"], 4, "{entries}");
}

#[tokio::test]
async fn without_an_identity_system_there_is_no_sso_button_and_the_route_says_so() {
    let t = common::spawn().await;
    assert!(!t.text("/login").await.contains("/login/sso"));
    let r = t.client.get(t.url("/login/sso")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
