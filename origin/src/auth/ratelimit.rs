//! Rate limits on auth routes, per client IP and per account, with governor's GCRA.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct RateLimits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

/// Seconds to wait before retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RateLimits {
    pub fn new(per_ip_per_minute: u32, per_account_per_minute: u32) -> Self {
        let q = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("max(1) is non-zero"));
        Self {
            per_ip: RateLimiter::keyed(q(per_ip_per_minute)),
            per_account: RateLimiter::keyed(q(per_account_per_minute)),
            clock: DefaultClock::default(),
        }
    }

    pub fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), RetryAfter> {
        let Some(ip) = ip else { return Ok(()) };
        self.per_ip.check_key(&ip).map_err(|nu| RetryAfter(nu.wait_time_from(self.clock.now()).as_secs().max(1)))
    }

    /// `account` is a normalised email or a user id.
    pub fn check_account(&self, account: &str) -> Result<(), RetryAfter> {
        self.per_account.check_key(&account.to_string()).map_err(|nu| RetryAfter(nu.wait_time_from(self.clock.now()).as_secs().max(1)))
    }

    /// Forgets idle keys so memory stays bounded; call periodically.
    pub fn sweep(&self) {
        self.per_ip.retain_recent();
        self.per_account.retain_recent();
        self.per_ip.shrink_to_fit();
        self.per_account.shrink_to_fit();
    }
}

/// Runs [`RateLimits::sweep`] every minute for as long as the limits live.
pub fn spawn_sweeper(limits: std::sync::Weak<RateLimits>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match limits.upgrade() {
                Some(limits) => limits.sweep(),
                None => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key() {
        let l = RateLimits::new(3, 2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check_ip(Some(ip)).is_ok());
        }
        assert!(l.check_ip(Some(ip)).is_err());
        assert!(l.check_ip(Some("10.0.0.2".parse().unwrap())).is_ok());
        assert!(l.check_account("a@x.io").is_ok());
        assert!(l.check_account("a@x.io").is_ok());
        let RetryAfter(secs) = l.check_account("a@x.io").unwrap_err();
        assert!((1..=60).contains(&secs));
    }
}
