//! Coordination between the origins of a cluster, through Redis when `[cluster]
//! redis_url` is set (one process needs none of it: each piece has an in-process form).
//!
//! [`Redis`] is a connection that reconnects by itself. A call that cannot reach Redis
//! returns an error; each caller decides what a lost coordinator means for it (the auth
//! rate limits, say, fall back to counting in this process and say so in the log and in
//! `aethex_cluster_redis_errors_total`).

pub mod bus;

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
    /// For the subscriptions of [`bus`] (each on a connection of its own).
    client: redis::Client,
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
        let conn = ConnectionManager::new_with_config(client.clone(), config).await?;
        let mut r = Self { conn, client };
        let _: String = redis::cmd("PING").query_async(&mut r.conn).await?;
        Ok(r)
    }

    /// `GET key`.
    pub async fn get(&self, key: &str) -> Result<Option<String>, ClusterError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("GET").arg(key).query_async(&mut conn).await?)
    }

    /// `SET key value NX PX ttl`: whether it was set (the key was free).
    pub async fn set_nx_px(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, ClusterError> {
        let mut conn = self.conn.clone();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let answer: Option<String> = redis::cmd("SET").arg(key).arg(value).arg("NX").arg("PX").arg(ms).query_async(&mut conn).await?;
        Ok(answer.is_some())
    }

    /// `HGETALL key` as (field, value) pairs.
    pub async fn hgetall(&self, key: &str) -> Result<Vec<(String, String)>, ClusterError> {
        let mut conn = self.conn.clone();
        let map: std::collections::HashMap<String, String> = redis::cmd("HGETALL").arg(key).query_async(&mut conn).await?;
        Ok(map.into_iter().collect())
    }

    /// Runs a Lua script atomically (by its hash, sending its text once if Redis lacks it).
    pub async fn run<T: redis::FromRedisValue, A: redis::ToRedisArgs>(
        &self,
        script: &redis::Script,
        keys: &[&str],
        args: &[A],
    ) -> Result<T, ClusterError> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(a);
        }
        let mut conn = self.conn.clone();
        Ok(inv.invoke_async(&mut conn).await?)
    }
}

/// A readers–writer lock that holds across the origins of a cluster when they share a
/// Redis, and within this process in any case. Readers (DLC uploads and releases) run
/// together; a writer (the DLC garbage collector) runs alone, and only one origin's
/// writer at a time. Redis entries carry a lease, so a holder that dies releases them
/// when it runs out. If Redis cannot be reached, the lock holds within this process only
/// (logged, and counted in `aethex_cluster_redis_errors_total`).
pub struct RwLock {
    name: &'static str,
    local: tokio::sync::RwLock<()>,
    redis: Option<Redis>,
}

/// How long a Redis entry of [`RwLock`] lasts without being renewed.
const LEASE_MS: i64 = 600_000;
/// How long a reader or writer waits for the other side before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(300);

/// Enters as a reader unless a writer holds or claimed the lock. KEYS: writer, readers;
/// ARGV: reader id, lease (ms). Answers 1 (entered) or 0 (wait).
static READ_ENTER: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]))
return 1
",
    )
});

/// Claims the lock as writer (new readers then wait) and reports whether readers are
/// still in. KEYS: writer, readers; ARGV: writer id, lease (ms). Answers 0 (another
/// writer holds it), 1 (claimed, readers still in) or 2 (held).
static WRITE_ENTER: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = redis.call('GET', KEYS[1])
if w and w ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) > 0 then return 1 end
return 2
",
    )
});

/// Leaves: a reader's entry, or the writer key if it is still this writer's.
static LEAVE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
if ARGV[2] == 'w' then
  if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
",
    )
});

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another origin holds the {0} lock")]
    HeldElsewhere(&'static str),
    #[error("waited too long for the {0} lock")]
    TimedOut(&'static str),
}

/// A held [`RwLock`]; released when dropped.
pub struct Held<G> {
    _local: G,
    shared: Option<Entry>,
}

/// This process's entry in a lock's Redis keys.
struct Entry {
    redis: Redis,
    writer_key: String,
    readers_key: String,
    id: String,
    /// `"r"` (a reader) or `"w"` (the writer).
    side: &'static str,
}

impl Entry {
    /// Removes the entry in the background (dropping cannot wait; the lease ends the
    /// entry if this never runs).
    fn leave(self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let keys = [self.writer_key.as_str(), self.readers_key.as_str()];
                let _: Result<i64, _> = self.redis.run(&LEAVE, &keys, &[self.id.as_str(), self.side]).await;
            });
        }
    }
}

impl<G> Drop for Held<G> {
    fn drop(&mut self) {
        if let Some(entry) = self.shared.take() {
            entry.leave();
        }
    }
}

impl RwLock {
    pub fn new(name: &'static str, redis: Option<Redis>) -> Self {
        Self { name, local: tokio::sync::RwLock::new(()), redis }
    }

    /// Enters as a reader, waiting (up to 5 minutes) while a writer of any origin holds it.
    pub async fn read(&self) -> Result<Held<tokio::sync::RwLockReadGuard<'_, ()>>, LockError> {
        let local = tokio::time::timeout(LOCK_WAIT, self.local.read()).await.map_err(|_| LockError::TimedOut(self.name))?;
        let shared = self.enter(&READ_ENTER, "r", |answer| answer == 1).await?;
        Ok(Held { _local: local, shared })
    }

    /// Enters as the writer: refused at once if another origin's writer holds it, else
    /// waits (up to 5 minutes) for readers to leave.
    pub async fn write(&self) -> Result<Held<tokio::sync::RwLockWriteGuard<'_, ()>>, LockError> {
        let local = tokio::time::timeout(LOCK_WAIT, self.local.write()).await.map_err(|_| LockError::TimedOut(self.name))?;
        let shared = self.enter(&WRITE_ENTER, "w", |answer| answer == 2).await?;
        Ok(Held { _local: local, shared })
    }

    /// Runs `script` until `done` says the lock is entered. `None`: no Redis, or Redis
    /// failed (the process's own lock still holds).
    async fn enter(&self, script: &redis::Script, side: &'static str, done: impl Fn(i64) -> bool) -> Result<Option<Entry>, LockError> {
        let Some(redis) = &self.redis else { return Ok(None) };
        let writer = side == "w";
        let entry = Entry {
            redis: redis.clone(),
            writer_key: format!("aethex:lock:{}:writer", self.name),
            readers_key: format!("aethex:lock:{}:readers", self.name),
            id: uuid::Uuid::new_v4().to_string(),
            side,
        };
        let keys = [entry.writer_key.as_str(), entry.readers_key.as_str()];
        let lease = LEASE_MS.to_string();
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            match redis.run::<i64, _>(script, &keys, &[entry.id.as_str(), lease.as_str()]).await {
                Ok(answer) if done(answer) => return Ok(Some(entry)),
                Ok(0) if writer => return Err(LockError::HeldElsewhere(self.name)),
                Ok(_) if started.elapsed() < LOCK_WAIT => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
                Ok(_) => {
                    if writer {
                        // Give the claim back so readers are not kept out.
                        entry.leave();
                    }
                    return Err(LockError::TimedOut(self.name));
                }
                Err(e) => {
                    metrics::counter!("aethex_cluster_redis_errors_total", "use" => self.name).increment(1);
                    tracing::warn!(error = %e, lock = self.name, "Redis did not answer; the lock holds in this process only");
                    return Ok(None);
                }
            }
        }
    }
}
