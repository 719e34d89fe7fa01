//! Single sign-on through the province's unified identity system (统一身份认证) with
//! OpenID Connect: the authorisation code flow with PKCE (RFC 7636, S256), a state and a
//! nonce per attempt, and the ID token verified against the provider's published keys
//! (issuer, audience, expiry, nonce; RS256/ES256 only).
//!
//! An identity is the issuer and its subject: the first sign-in makes a local account
//! with no password (it can only sign in this way) and links it; a claim naming an
//! organisation's credit code makes the person a staff member (department user) of that
//! organisation if it is registered. Other roles are granted on the platform, never
//! taken from the identity provider.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use gongshu_core::types::{Role, UserKind};
use gongshu_core::{Error, ErrorCode};
use gongshu_store::{NewUser, OrgFilter, UserRow};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{App, Result, store_error};

/// How the platform knows the identity provider.
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// The issuer; its `/.well-known/openid-configuration` is read at the first sign-in.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The claim holding the person's organisation's unified social credit code.
    pub org_claim: String,
}

/// An attempt between the redirect to the provider and its return.
struct Pending {
    verifier: String,
    nonce: String,
    redirect_uri: String,
    started: Instant,
}

/// What the platform keeps while attempts are under way, and the provider's metadata.
#[derive(Default)]
pub struct SsoState {
    pending: Mutex<HashMap<String, Pending>>,
    provider: tokio::sync::OnceCell<Provider>,
}

impl std::fmt::Debug for SsoState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SsoState")
    }
}

/// An attempt expires after this long.
const ATTEMPT_TTL: Duration = Duration::from_secs(600);
const MAX_PENDING: usize = 10_000;

#[derive(Debug, Clone, Deserialize)]
struct Provider {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    id_token: String,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    nonce: Option<String>,
    name: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

fn refused(why: &str) -> Error {
    tracing::warn!(why, "single sign-on refused");
    Error::new(
        ErrorCode::Unauthenticated,
        "统一身份认证登录未能完成，请重新登录",
        "Sign-in through the unified identity system did not complete; please try again",
    )
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    tracing::error!(what, error = %e, "identity provider unavailable");
    Error::new(
        ErrorCode::Internal,
        "统一身份认证系统暂时无法访问，请稍后再试",
        "The unified identity system cannot be reached; try again later",
    )
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

fn settings(app: &App) -> Result<&SsoSettings> {
    app.settings.sso.as_ref().ok_or_else(|| {
        Error::new(
            ErrorCode::NotFound,
            "本平台未启用统一身份认证",
            "Single sign-on is not set up on this platform",
        )
    })
}

impl App {
    async fn sso_provider(&self) -> Result<&Provider> {
        let sso = settings(self)?;
        self.sso
            .provider
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    sso.issuer.trim_end_matches('/')
                );
                let p: Provider = http()
                    .get(&url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| unavailable("discovery", e))?
                    .json()
                    .await
                    .map_err(|e| unavailable("discovery document", e))?;
                // The document must speak for the issuer configured (OIDC Discovery §4.3).
                if p.issuer.trim_end_matches('/') != sso.issuer.trim_end_matches('/') {
                    return Err(unavailable("discovery", "the issuer does not match"));
                }
                Ok(p)
            })
            .await
    }

    /// Where to send the browser to sign in, for a return to `redirect_uri`.
    pub async fn sso_start(&self, redirect_uri: &str) -> Result<String> {
        let sso = settings(self)?;
        let provider = self.sso_provider().await?;
        let state = crate::auth::random_secret();
        let nonce = crate::auth::random_secret();
        let verifier = crate::auth::random_secret();
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        {
            let mut pending = self.sso.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.retain(|_, p| p.started.elapsed() < ATTEMPT_TTL);
            if pending.len() >= MAX_PENDING {
                return Err(Error::rate_limited(
                    60,
                    "登录请求过多，请稍后再试",
                    "Too many sign-ins under way; try again shortly",
                ));
            }
            pending.insert(
                state.clone(),
                Pending {
                    verifier,
                    nonce: nonce.clone(),
                    redirect_uri: redirect_uri.to_owned(),
                    started: Instant::now(),
                },
            );
        }
        let mut url = url::Url::parse(&provider.authorization_endpoint)
            .map_err(|e| unavailable("authorization endpoint", e))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &sso.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid profile")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Completes a sign-in the provider sent back: exchanges the code, verifies the ID
    /// token, and returns the local account (made at the first sign-in).
    pub async fn sso_finish(&self, code: &str, state: &str) -> Result<UserRow> {
        let sso = settings(self)?;
        let attempt = self
            .sso
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(state)
            .filter(|p| p.started.elapsed() < ATTEMPT_TTL)
            .ok_or_else(|| refused("unknown, used or expired state"))?;
        let provider = self.sso_provider().await?;
        let response = http()
            .post(&provider.token_endpoint)
            .basic_auth(&sso.client_id, Some(&sso.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", attempt.redirect_uri.as_str()),
                ("client_id", sso.client_id.as_str()),
                ("code_verifier", attempt.verifier.as_str()),
            ])
            .send()
            .await
            .map_err(|e| unavailable("token endpoint", e))?;
        if !response.status().is_success() {
            return Err(refused("the token endpoint refused the code"));
        }
        let tokens: TokenResponse = response
            .json()
            .await
            .map_err(|_| refused("the token response is not JSON with an id_token"))?;
        let claims = self
            .verify_id_token(&tokens.id_token, provider, sso)
            .await?;
        if claims.nonce.as_deref() != Some(attempt.nonce.as_str()) {
            return Err(refused("the nonce does not match"));
        }
        self.sso_account(&provider.issuer, sso, claims).await
    }

    async fn verify_id_token(
        &self,
        token: &str,
        provider: &Provider,
        sso: &SsoSettings,
    ) -> Result<IdClaims> {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
        let header = decode_header(token).map_err(|_| refused("the ID token is malformed"))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(refused("the ID token's algorithm is not RS256 or ES256"));
        }
        let jwks: jsonwebtoken::jwk::JwkSet = http()
            .get(&provider.jwks_uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unavailable("keys", e))?
            .json()
            .await
            .map_err(|e| unavailable("key set", e))?;
        let jwk = match &header.kid {
            Some(kid) => jwks.find(kid),
            None => jwks.keys.first(),
        }
        .ok_or_else(|| refused("no published key signed the ID token"))?;
        let key =
            DecodingKey::from_jwk(jwk).map_err(|_| refused("the published key is unusable"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[provider.issuer.as_str()]);
        validation.set_audience(&[sso.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        decode::<IdClaims>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| refused(&format!("the ID token does not verify: {e}")))
    }

    async fn sso_account(
        &self,
        issuer: &str,
        sso: &SsoSettings,
        claims: IdClaims,
    ) -> Result<UserRow> {
        let existing = self
            .store
            .sso_user(issuer, &claims.sub)
            .await
            .map_err(store_error)?;
        let user = match existing {
            Some(id) => self
                .store
                .get_user(id)
                .await
                .map_err(store_error)?
                .ok_or_else(|| refused("the linked account is gone"))?,
            None => {
                // A local name nobody can choose: the issuer and subject, hashed.
                let digest = Sha256::digest(format!("{issuer}\n{}", claims.sub).as_bytes());
                let username = format!("sso-{}", &hex::encode(digest)[..16]);
                let display_name = claims
                    .name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map_or_else(|| username.clone(), |n| n.chars().take(100).collect());
                let user = self
                    .store
                    .insert_user(
                        &NewUser {
                            username,
                            display_name,
                            kind: UserKind::Staff,
                            password_hash: None,
                        },
                        self.now(),
                    )
                    .await
                    .map_err(store_error)?;
                self.store
                    .link_sso(issuer, &claims.sub, user.id, self.now())
                    .await
                    .map_err(store_error)?;
                let credit = claims
                    .rest
                    .get(&sso.org_claim)
                    .and_then(serde_json::Value::as_str)
                    .map(str::trim)
                    .unwrap_or_default()
                    .to_owned();
                let org = if credit.is_empty() {
                    None
                } else {
                    self.store
                        .list_orgs(&OrgFilter::default())
                        .await
                        .map_err(store_error)?
                        .into_iter()
                        .find(|o| o.credit_code.eq_ignore_ascii_case(&credit))
                };
                let role = match &org {
                    Some(_) => Role::DeptUser,
                    None => Role::Registered,
                };
                self.grant_role(None, user.id, role, org.map(|o| o.id), None)
                    .await?;
                tracing::info!(user = user.id, %issuer, "account made at its first single sign-on");
                user
            }
        };
        if user.disabled {
            return Err(refused("the account is disabled"));
        }
        Ok(user)
    }
}
