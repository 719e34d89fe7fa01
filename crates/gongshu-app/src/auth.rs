//! Identity: local accounts with argon2id passwords, web sessions with a CSRF token, and
//! API tokens for programs. Only a SHA-256 of a session or token secret is stored.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use chrono::{DateTime, Utc};
use gongshu_core::authz::Principal;
use gongshu_core::types::Role;
use gongshu_core::{Error, ErrorCode};
use gongshu_store::{CredentialKind, NewCredential, UserRow};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{App, Result, store_error};

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A fresh random secret, URL-safe.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex characters of a token's hash that name it on the tokens page.
const TOKEN_ID_CHARS: usize = 16;

/// An API token as its owner sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The one grant a grant-scoped token reads under.
    pub grant_id: Option<i64>,
}

pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Passwords tried first by every guessing tool (the top of the public leak lists, and
/// the ones Chinese users favour); NIST SP 800-63B asks that such be refused.
const COMMON_PASSWORDS: &[&str] = &[
    "12345678",
    "123456789",
    "1234567890",
    "87654321",
    "11111111",
    "88888888",
    "66666666",
    "00000000",
    "12341234",
    "11223344",
    "123123123",
    "password",
    "password1",
    "passw0rd",
    "qwertyui",
    "qwerty123",
    "1qaz2wsx",
    "1q2w3e4r",
    "qwe12345",
    "abc12345",
    "abcd1234",
    "a1234567",
    "a12345678",
    "aa123456",
    "asdf1234",
    "iloveyou",
    "woaini1314",
    "5201314520",
    "admin123",
    "admin1234",
    "root1234",
    "welcome1",
    "changeme",
    "gongshu123",
    "demo-password",
];

pub fn check_password_policy(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::new(
            ErrorCode::Validation,
            format!("密码长度应为{MIN_PASSWORD_CHARS}至{MAX_PASSWORD_BYTES}个字符"),
            format!("A password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_BYTES} characters"),
        ));
    }
    let lower = password.to_lowercase();
    let one_character = password.chars().all(|c| password.starts_with(c));
    if one_character || COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err(Error::new(
            ErrorCode::Validation,
            "该密码过于常见，容易被猜中，请换一个",
            "This password is too common to be safe; choose another",
        ));
    }
    Ok(())
}

/// Hashes with argon2id off the async runtime: it is deliberately slow.
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|_| Error::internal())?
    .map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        Error::internal()
    })
}

async fn verify_password(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

fn bad_login() -> Error {
    Error::new(
        ErrorCode::Unauthenticated,
        "用户名或密码错误",
        "Wrong username or password",
    )
}

/// A session of the web interface.
#[derive(Clone)]
pub struct Session {
    pub secret: String,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Checks a username and password. A missing user costs the same hashing time as a
    /// wrong password, so the answer does not tell which accounts exist.
    pub async fn login(&self, username: &str, password: &str) -> Result<UserRow> {
        self.login_from(username, password, None).await
    }

    /// As `login`, from a client address: failures count against the account and the
    /// address, and past the limit both are refused for a while, whatever the password
    /// (the answer says when to try again).
    pub async fn login_from(
        &self,
        username: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<UserRow> {
        if let Some(wait) = self.signin_locked(username, client).await? {
            let minutes = wait.as_secs().div_ceil(60);
            return Err(Error::rate_limited(
                wait.as_secs(),
                format!("登录失败次数过多，请{minutes}分钟后再试"),
                format!("Too many failed sign-ins; try again in {minutes} minutes"),
            ));
        }
        let result = self.check_login(username, password).await;
        match &result {
            Ok(u) => self.signin_succeeded(&u.username).await?,
            Err(e) if e.code == ErrorCode::Unauthenticated => {
                self.signin_failed(username, client).await?;
            }
            Err(_) => {}
        }
        result
    }

    async fn check_login(&self, username: &str, password: &str) -> Result<UserRow> {
        if password.len() > MAX_PASSWORD_BYTES || username.len() > 200 {
            return Err(bad_login());
        }
        let user = self
            .store
            .get_user_by_name(username)
            .await
            .map_err(store_error)?;
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| Error::internal())?;
        // Every failure costs one verification, so timing tells nothing about accounts.
        let hash = user
            .as_ref()
            .filter(|u| !u.disabled)
            .and_then(|u| u.password_hash.as_deref())
            .unwrap_or(DUMMY_HASH);
        let matches = verify_password(password, hash).await;
        match user {
            Some(u) if matches && !u.disabled && u.password_hash.is_some() => Ok(u),
            _ => Err(bad_login()),
        }
    }

    /// The caller's own API tokens (a prefix of each one's hash names it; the secret is
    /// shown once, when made).
    pub async fn my_tokens(&self, caller: &Principal) -> Result<Vec<TokenView>> {
        let rows = self
            .store
            .list_api_tokens(caller.user_id, self.now())
            .await
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|r| TokenView {
                id: r.token_hash.chars().take(TOKEN_ID_CHARS).collect(),
                created_at: r.created_at,
                expires_at: r.expires_at,
                grant_id: r.grant_id,
            })
            .collect())
    }

    /// A new personal API token for the signed-in caller.
    pub async fn issue_my_token(&self, caller: &Principal) -> Result<(String, DateTime<Utc>)> {
        if caller.grant_scope.is_some() {
            return Err(Error::forbidden());
        }
        let expires_at = self.now() + self.settings.token_ttl;
        let secret = self
            .insert_api_token(caller.user_id, None, expires_at)
            .await?;
        Ok((secret, expires_at))
    }

    /// Revokes one of the caller's own tokens, named as `my_tokens` names it.
    pub async fn revoke_my_token(&self, caller: &Principal, id: &str) -> Result<()> {
        let deleted = id.len() == TOKEN_ID_CHARS
            && self
                .store
                .delete_api_token(caller.user_id, id)
                .await
                .map_err(store_error)?;
        if deleted {
            Ok(())
        } else {
            Err(Error::not_found("令牌", "Token"))
        }
    }

    pub async fn issue_api_token(&self, user: &UserRow) -> Result<(String, DateTime<Utc>)> {
        let expires_at = self.now() + self.settings.token_ttl;
        let secret = self.insert_api_token(user.id, None, expires_at).await?;
        Ok((secret, expires_at))
    }

    /// A new API token of `user_id`, scoped to one grant when `grant_id` is given.
    pub(crate) async fn insert_api_token(
        &self,
        user_id: i64,
        grant_id: Option<i64>,
        expires_at: DateTime<Utc>,
    ) -> Result<String> {
        let secret = format!("gst_{}", random_secret());
        let now = self.now();
        self.store
            .insert_credential(&NewCredential {
                token_hash: token_hash(&secret),
                kind: CredentialKind::Api,
                user_id,
                csrf: None,
                created_at: now,
                expires_at,
                grant_id,
            })
            .await
            .map_err(store_error)?;
        Ok(secret)
    }

    pub async fn start_session(&self, user: &UserRow) -> Result<Session> {
        let secret = random_secret();
        let csrf = random_secret();
        let now = self.now();
        let expires_at = now + self.settings.session_ttl;
        self.store
            .insert_credential(&NewCredential {
                token_hash: token_hash(&secret),
                kind: CredentialKind::Session,
                user_id: user.id,
                csrf: Some(csrf.clone()),
                created_at: now,
                expires_at,
                grant_id: None,
            })
            .await
            .map_err(store_error)?;
        Ok(Session {
            secret,
            csrf,
            expires_at,
        })
    }

    /// Revokes a session or an API token.
    pub async fn revoke(&self, secret: &str) -> Result<()> {
        self.store
            .delete_credential(&token_hash(secret))
            .await
            .map_err(store_error)
    }

    /// The person behind a session or token, with their roles, and the session's CSRF token.
    pub async fn authenticate(
        &self,
        secret: &str,
        kind: CredentialKind,
    ) -> Result<Option<(Principal, Option<String>)>> {
        if secret.len() > 200 {
            return Ok(None);
        }
        let Some(cred) = self
            .store
            .get_credential(&token_hash(secret), kind, self.now())
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let Some(user) = self
            .store
            .get_user(cred.user_id)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let mut principal = self.principal_of(&user).await?;
        if let Some(grant) = cred.grant_id {
            // A token scoped to one grant acts for nothing else: no administrative role,
            // and the gate weighs that grant alone. Department membership stays, because
            // a sharing grant is held by the department.
            principal.grants.retain(|g| g.role == Role::DeptUser);
            principal.grant_scope = Some(grant);
        }
        Ok(Some((principal, cred.csrf)))
    }

    pub async fn principal_of(&self, user: &UserRow) -> Result<Principal> {
        Ok(Principal {
            user_id: user.id,
            username: user.username.clone(),
            grants: self.store.grants(user.id).await.map_err(store_error)?,
            grant_scope: None,
        })
    }
}

/// A valid argon2id hash of a random string, verified against when the user does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3JtwUGW3qG7TThp1Cz4FvSsmjbVNrGMSqPJjsPa9bGQ";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2id_round_trip() {
        let h = hash_password("correct horse").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h).await);
        assert!(!verify_password("wrong horse", &h).await);
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn password_policy() {
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy("长密码长密码长密码").is_ok());
        assert!(check_password_policy(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn secrets_are_random_and_hashes_stable() {
        assert_ne!(random_secret(), random_secret());
        assert_eq!(token_hash("a"), token_hash("a"));
        assert_eq!(token_hash("a").len(), 64);
    }
}
