//! Request rate limits: per client address for anonymous callers, per account for
//! signed-in ones (an office's users share one gateway address), answered with 429 and
//! `Retry-After`. GCRA from `governor`, in memory per node.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Tracked keys beyond which idle ones are dropped.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub(crate) struct RateLimits {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<i64>,
}

impl RateLimits {
    /// `per_second` requests a second with bursts of `burst` per address; accounts get
    /// twice both. `None` when `per_second` is 0 (no limits, for benchmarks).
    pub(crate) fn new(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
        let double = |n: NonZeroU32| n.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        Some(Self {
            per_address: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            per_account: RateLimiter::keyed(
                Quota::per_second(double(rate)).allow_burst(double(burst)),
            ),
        })
    }

    /// Seconds to wait, if the caller is over its limit.
    pub(crate) fn check(&self, account: Option<i64>, address: Option<IpAddr>) -> Option<u64> {
        let now = DefaultClock::default().now();
        let wait = match (account, address) {
            (Some(id), _) => {
                if self.per_account.len() > MAX_KEYS {
                    self.per_account.retain_recent();
                }
                self.per_account.check_key(&id).err()?.wait_time_from(now)
            }
            (None, Some(ip)) => {
                if self.per_address.len() > MAX_KEYS {
                    self.per_address.retain_recent();
                }
                self.per_address.check_key(&ip).err()?.wait_time_from(now)
            }
            (None, None) => return None,
        };
        Some(wait.as_secs() + 1)
    }
}
