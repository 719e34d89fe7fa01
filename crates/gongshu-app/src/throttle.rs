//! Brute-force protection for sign-in: failures are counted per account and per client
//! address over a window; past the limit, that account (or address) is refused for a
//! while whatever the password, and the caller is told when to try again.
//!
//! Kept in memory: a restart forgives, and each node counts its own (issue 10 moves the
//! counts to the shared database).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures an account may have within `WINDOW` before it is locked.
pub const ACCOUNT_FAILURES: u32 = 10;
/// Failures one address may have within `WINDOW` (several accounts behind one office
/// gateway share it).
pub const ADDRESS_FAILURES: u32 = 50;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const LOCK: Duration = Duration::from_secs(15 * 60);
/// Above this many tracked keys, stale ones are dropped on the next failure.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    keys: Mutex<HashMap<String, Failures>>,
}

fn keys_of(username: &str, client: Option<std::net::IpAddr>) -> Vec<(String, u32)> {
    let mut keys = vec![(
        format!("user:{}", username.trim().to_lowercase()),
        ACCOUNT_FAILURES,
    )];
    if let Some(ip) = client {
        keys.push((format!("addr:{ip}"), ADDRESS_FAILURES));
    }
    keys
}

impl LoginThrottle {
    /// How long the caller must wait, if the account or the address is locked.
    pub fn locked(&self, username: &str, client: Option<std::net::IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys_of(username, client)
            .iter()
            .filter_map(|(k, _)| keys.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Counts a failure; locks what passed its limit.
    pub fn failed(&self, username: &str, client: Option<std::net::IpAddr>) {
        let now = Instant::now();
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() > MAX_KEYS {
            keys.retain(|_, f| {
                now.duration_since(f.first) < WINDOW || f.locked_until.is_some_and(|u| u > now)
            });
        }
        for (key, limit) in keys_of(username, client) {
            let f = keys.entry(key).or_insert(Failures {
                count: 0,
                first: now,
                locked_until: None,
            });
            if now.duration_since(f.first) >= WINDOW && f.locked_until.is_none_or(|u| u <= now) {
                *f = Failures {
                    count: 0,
                    first: now,
                    locked_until: None,
                };
            }
            f.count += 1;
            if f.count >= limit {
                f.locked_until = Some(now + LOCK);
            }
        }
    }

    /// A successful sign-in clears the account's failures (not the address's).
    pub fn succeeded(&self, username: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.remove(&format!("user:{}", username.trim().to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_locks_after_its_limit_and_a_success_clears_it() {
        let t = LoginThrottle::default();
        let ip = Some("10.0.0.1".parse().unwrap());
        for _ in 0..ACCOUNT_FAILURES - 1 {
            t.failed("Alice", ip);
        }
        assert_eq!(t.locked("alice", ip), None);
        t.succeeded("alice");
        for _ in 0..ACCOUNT_FAILURES {
            t.failed("alice", ip);
        }
        let wait = t.locked("ALICE", None).unwrap();
        assert!(wait > LOCK - Duration::from_secs(5) && wait <= LOCK);
        // Another account from another address is not affected.
        assert_eq!(t.locked("bob", Some("10.0.0.2".parse().unwrap())), None);
    }

    #[test]
    fn an_address_trying_many_accounts_locks() {
        let t = LoginThrottle::default();
        let ip = Some("10.0.0.9".parse().unwrap());
        for i in 0..ADDRESS_FAILURES {
            t.failed(&format!("user{i}"), ip);
        }
        assert!(t.locked("someone-else", ip).is_some());
        assert_eq!(t.locked("someone-else", None), None);
    }
}
