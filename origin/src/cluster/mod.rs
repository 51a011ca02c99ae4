//! Coordination between the origins of a cluster, through Redis when `[cluster]
//! redis_url` is set (one process needs none of it: each piece has an in-process form).
//!
//! [`Redis`] is a connection that reconnects by itself. A call that cannot reach Redis
//! returns an error; each caller decides what a lost coordinator means for it (the auth
//! rate limits, say, fall back to counting in this process and say so in the log and in
//! `aethex_cluster_redis_errors_total`).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Failures to reach or use Redis.
#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct ClusterError(#[from] redis::RedisError);

/// A shared Redis connection (cheap to clone; requests are pipelined on it).
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redis")
    }
}

/// How long one Redis call may take before it counts as failed.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);

impl Redis {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`), failing if Redis does
    /// not answer at start-up: a configured coordinator that is missing is a setup error.
    pub async fn connect(url: &str) -> Result<Self, ClusterError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(CALL_TIMEOUT)
            .set_number_of_retries(2)
            .set_max_delay(1000);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        let mut r = Self { conn };
        let _: String = redis::cmd("PING").query_async(&mut r.conn).await?;
        Ok(r)
    }

    /// Runs a Lua script atomically.
    pub async fn run<T: redis::FromRedisValue>(&self, script: &redis::Script, keys: &[&str], args: &[i64]) -> Result<T, ClusterError> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(*a);
        }
        let mut conn = self.conn.clone();
        Ok(inv.invoke_async(&mut conn).await?)
    }
}
