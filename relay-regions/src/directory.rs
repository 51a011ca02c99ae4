//! The private rooms of a region's relays, in the Redis they share (`relay.redis_url`):
//! room code -> the WebSocket URL of the relay that holds the room. A relay lists each of
//! its private rooms when it is made, again on every heartbeat (the entries last three
//! heartbeats, so a dead relay's rooms drop out), and unlists it when it closes. A relay
//! asked for a code it does not hold looks it up here and sends the player to the right
//! relay (`redirect`).
//!
//! Redis being away only narrows codes to the relay that made them (logged, and counted
//! in `aethex_relay_directory_errors_total`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Removes an entry if it is still this relay's. KEYS: entry; ARGV: our URL.
static UNLIST: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

pub struct Directory {
    conn: ConnectionManager,
    /// Failed calls (the relay's `aethex_relay_directory_errors_total`).
    errors: Arc<AtomicU64>,
    region: String,
    /// This relay's WebSocket URL (what players are sent to).
    url: String,
    ttl: Duration,
}

impl Directory {
    /// Connects (failing if Redis does not answer: a configured directory that is missing
    /// is a setup error).
    pub async fn connect(redis_url: &str, region: &str, url: &str, ttl: Duration, errors: Arc<AtomicU64>) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(redis_url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_millis(500))
            .set_number_of_retries(2);
        let mut conn = ConnectionManager::new_with_config(client, config).await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(Self { conn, errors, region: region.to_string(), url: url.to_string(), ttl })
    }

    /// Logs and counts a failed call.
    pub fn failed(&self, what: &str, e: &redis::RedisError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %e, what, "the room directory (Redis) failed; private room codes resolve on this relay only meanwhile");
    }

    fn key(&self, code: &str) -> String {
        format!("aethex:relay:{}:room:{code}", self.region)
    }

    /// Lists (or keeps listing) `codes` as this relay's.
    pub async fn list(&self, codes: &[String]) -> Result<(), redis::RedisError> {
        if codes.is_empty() {
            return Ok(());
        }
        let ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX).max(1000);
        let mut pipe = redis::pipe();
        for code in codes {
            pipe.cmd("SET").arg(self.key(code)).arg(&self.url).arg("PX").arg(ms).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await
    }

    /// Takes a closed room's code out (if it is still ours).
    pub async fn unlist(&self, code: &str) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        let mut inv = UNLIST.key(self.key(code));
        inv.arg(&self.url);
        inv.invoke_async::<i64>(&mut conn).await.map(|_| ())
    }

    /// The WebSocket URL of the relay holding `code`, unless it is this one or none.
    pub async fn lookup(&self, code: &str) -> Result<Option<String>, redis::RedisError> {
        let mut conn = self.conn.clone();
        let url: Option<String> = redis::cmd("GET").arg(self.key(code)).query_async(&mut conn).await?;
        Ok(url.filter(|u| *u != self.url))
    }
}
