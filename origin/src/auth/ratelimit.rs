//! Rate limits on auth routes, per client IP and per account, with GCRA: governor's in
//! this process, or with `[cluster] redis_url` one count in Redis for every origin (a Lua
//! script on Redis's own clock, so the limit holds whichever origin a request reaches).
//! If Redis cannot be reached, the origin counts on its own until it can again.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct RateLimits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    shared: Option<Shared>,
}

/// The cluster-wide counts.
struct Shared {
    redis: crate::cluster::Redis,
    per_ip_per_minute: u32,
    per_account_per_minute: u32,
}

/// GCRA on Redis's clock. KEYS[1]: the key; ARGV[1]: the emission interval (µs);
/// ARGV[2]: the burst. Answers 0 (allowed) or the µs to wait.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then return allow_at - now end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
";

/// Seconds to wait before retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RateLimits {
    /// Limits counted in this process.
    pub fn new(per_ip_per_minute: u32, per_account_per_minute: u32) -> Self {
        let q = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("max(1) is non-zero"));
        Self {
            per_ip: RateLimiter::keyed(q(per_ip_per_minute)),
            per_account: RateLimiter::keyed(q(per_account_per_minute)),
            clock: DefaultClock::default(),
            shared: None,
        }
    }

    /// Limits counted in Redis for every origin of the cluster.
    pub fn shared(per_ip_per_minute: u32, per_account_per_minute: u32, redis: crate::cluster::Redis) -> Self {
        let mut l = Self::new(per_ip_per_minute, per_account_per_minute);
        l.shared = Some(Shared { redis, per_ip_per_minute: per_ip_per_minute.max(1), per_account_per_minute: per_account_per_minute.max(1) });
        l
    }

    pub async fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), RetryAfter> {
        let Some(ip) = ip else { return Ok(()) };
        if let Some(s) = &self.shared {
            if let Some(outcome) = s.check(&format!("aethex:rl:ip:{ip}"), s.per_ip_per_minute).await {
                return outcome;
            }
        }
        self.per_ip.check_key(&ip).map_err(|nu| RetryAfter(nu.wait_time_from(self.clock.now()).as_secs().max(1)))
    }

    /// `account` is a normalised email or a user id.
    pub async fn check_account(&self, account: &str) -> Result<(), RetryAfter> {
        if let Some(s) = &self.shared {
            // Keys name a hash of the account, not the address itself.
            let key = format!("aethex:rl:acct:{}", &blake3::hash(account.as_bytes()).to_hex()[..32]);
            if let Some(outcome) = s.check(&key, s.per_account_per_minute).await {
                return outcome;
            }
        }
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

impl Shared {
    /// The cluster's answer, or `None` when Redis could not give one.
    async fn check(&self, key: &str, per_minute: u32) -> Option<Result<(), RetryAfter>> {
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| redis::Script::new(GCRA));
        let interval_us = 60_000_000 / i64::from(per_minute);
        match self.redis.run::<i64, _>(&SCRIPT, &[key], &[interval_us, i64::from(per_minute)]).await {
            Ok(0) => Some(Ok(())),
            Ok(wait_us) => Some(Err(RetryAfter((wait_us as u64).div_ceil(1_000_000).max(1)))),
            Err(e) => {
                metrics::counter!("aethex_cluster_redis_errors_total", "use" => "rate_limits").increment(1);
                tracing::warn!(error = %e, "rate limits: Redis did not answer; counting in this process");
                None
            }
        }
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
            assert!(futures::executor::block_on(l.check_ip(Some(ip))).is_ok());
        }
        assert!(futures::executor::block_on(l.check_ip(Some(ip))).is_err());
        assert!(futures::executor::block_on(l.check_ip(Some("10.0.0.2".parse().unwrap()))).is_ok());
        assert!(futures::executor::block_on(l.check_account("a@x.io")).is_ok());
        assert!(futures::executor::block_on(l.check_account("a@x.io")).is_ok());
        let RetryAfter(secs) = futures::executor::block_on(l.check_account("a@x.io")).unwrap_err();
        assert!((1..=60).contains(&secs));
    }
}
