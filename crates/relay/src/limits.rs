//! Token-bucket rate limits (`governor`), per account and per IP address.
//!
//! They are per relay node: a client spread over several nodes gets each node's budget.
//! What must hold across nodes (open ceremonies per account) is counted by the backend.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Rate;

/// How many checks between sweeps of idle keys, so the maps stay bounded by the keys
/// active in the last burst period rather than every key ever seen.
const SWEEP_EVERY: u32 = 4_096;

/// One keyed token bucket.
pub(crate) struct Limiter<K: Hash + Eq + Clone> {
    inner: DefaultKeyedRateLimiter<K>,
    checks: AtomicU32,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(rate: Rate) -> Limiter<K> {
        let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.burst).unwrap_or(per_second);
        Limiter {
            inner: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            checks: AtomicU32::new(0),
        }
    }

    /// Takes one token for `key`; `false` when its bucket is empty.
    pub(crate) fn allow(&self, key: &K) -> bool {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.inner.retain_recent();
        }
        self.inner.check_key(key).is_ok()
    }
}

/// The node's limiters.
pub(crate) struct Limits {
    /// Client messages per account.
    pub(crate) account: Limiter<String>,
    /// Upgrades and result requests per IP address.
    pub(crate) ip: Limiter<IpAddr>,
}

impl Limits {
    pub(crate) fn new(account: Rate, ip: Rate) -> Limits {
        Limits { account: Limiter::new(account), ip: Limiter::new(ip) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refused_per_key() {
        let l = Limiter::<u8>::new(Rate { per_second: 1, burst: 3 });
        assert!((0..3).all(|_| l.allow(&1)));
        assert!(!l.allow(&1));
        assert!(l.allow(&2), "another key has its own bucket");
    }
}
