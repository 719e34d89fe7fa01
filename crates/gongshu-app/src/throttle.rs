//! Brute-force protection for sign-in: failures are counted per account and per client
//! address over a window; past the limit, that account (or address) is refused for a
//! while whatever the password, and the caller is told when to try again.
//!
//! The counts are in the store (`signin_failures`), so every node of an installation
//! counts the same failures and honours the same locks.

use std::time::Duration;

use crate::{App, Result, store_error};

/// Failures an account may have within `WINDOW` before it is locked.
pub const ACCOUNT_FAILURES: i64 = 10;
/// Failures one address may have within `WINDOW` (several accounts behind one office
/// gateway share it).
pub const ADDRESS_FAILURES: i64 = 50;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const LOCK: Duration = Duration::from_secs(15 * 60);

fn account_key(username: &str) -> String {
    format!("user:{}", username.trim().to_lowercase())
}

fn keys_of(username: &str, client: Option<std::net::IpAddr>) -> Vec<(String, i64)> {
    let mut keys = vec![(account_key(username), ACCOUNT_FAILURES)];
    if let Some(ip) = client {
        keys.push((format!("addr:{ip}"), ADDRESS_FAILURES));
    }
    keys
}

fn span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl App {
    /// How long the caller must wait, if the account or the address is locked.
    pub(crate) async fn signin_locked(
        &self,
        username: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<Option<Duration>> {
        let now = self.now();
        let keys: Vec<String> = keys_of(username, client)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let until = self
            .store
            .signin_locked_until(&keys, now)
            .await
            .map_err(store_error)?;
        Ok(until.and_then(|u| (u - now).to_std().ok()))
    }

    /// Counts a failure; locks what passed its limit.
    pub(crate) async fn signin_failed(
        &self,
        username: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<()> {
        let now = self.now();
        for (key, limit) in keys_of(username, client) {
            self.store
                .signin_failed(&key, limit, now - span(WINDOW), now + span(LOCK), now)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    /// A successful sign-in clears the account's failures (not the address's).
    pub(crate) async fn signin_succeeded(&self, username: &str) -> Result<()> {
        self.store
            .signin_cleared(&account_key(username))
            .await
            .map_err(store_error)
    }
}
