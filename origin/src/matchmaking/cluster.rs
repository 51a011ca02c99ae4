//! Matchmaking across the origins of a cluster (`[cluster] redis_url` set).
//!
//! One origin at a time runs the queue: the holder of a lease in Redis
//! (`aethex:mm:leader`, renewed every second, lost after [`LEASE`]). It keeps the queue in
//! memory (the same [`Matchmaker`] as one process) and writes every change to Redis
//! (`aethex:mm:tickets`, `aethex:mm:matches`) before it answers, with a script that
//! refuses the write unless the lease is still its own: a deposed leader can neither
//! acknowledge nor overwrite anything. The other origins pass each queue operation to the
//! leader (`POST /internal/v1/matchmaking`, authenticated by a key derived from the shared
//! signing keys) after doing their own validation and database checks. When the leader
//! dies, another origin takes the lease within [`LEASE`] plus a second, loads the queue
//! from Redis and carries on; requests meanwhile wait (up to [`WAIT_FOR_LEADER`]) for it.
//!
//! What a failover loses: placements in flight (their tickets are queued again; the room
//! the old leader opened stays empty and the relay drops it), long-polls on the old
//! leader (their clients poll again), and region back-offs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use aethex_protocol::matchmaking::{ModeConfig, Ticket};

use super::queue::{Changes, Matchmaker, NewTicket, StoredMatch, StoredTicket, Viewer};
use super::{BackfillResponse, MatchmakingError};
use crate::cluster::{ClusterError, Redis};

/// How long the lease lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often the leader renews it (and the others try to take it).
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// A leader that could not renew for this long stops serving (before its lease can
/// pass to another origin).
const STEP_DOWN_AFTER: Duration = Duration::from_secs(3);
/// How long a request waits for a leader to appear.
pub const WAIT_FOR_LEADER: Duration = Duration::from_secs(10);

const LEADER_KEY: &str = "aethex:mm:leader";
const TICKETS_KEY: &str = "aethex:mm:tickets";
const MATCHES_KEY: &str = "aethex:mm:matches";
/// Where the cluster's origins pass queue operations to the one that runs the queue (not
/// part of the public API; refused without the cluster key).
pub const INTERNAL_PATH: &str = "/internal/v1/matchmaking";
/// The header that carries the cluster key on internal requests.
pub const CLUSTER_KEY_HEADER: &str = "x-aethex-cluster-key";
/// Marks a request passed on once (never passed on again).
pub const PASSED_ON_HEADER: &str = "x-aethex-passed-on";

/// Renews the lease if it is still ours. KEYS: leader; ARGV: our value, lease (ms).
static RENEW: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
",
    )
});

/// Writes changes if the lease is ours. KEYS: leader, tickets, matches; ARGV: our value,
/// then triples (kind `t` or `m`, id, JSON or "" to delete). Answers 1 or 0 (not ours).
static PERSIST: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local i = 2
while i + 2 <= #ARGV do
  local h = KEYS[3]
  if ARGV[i] == 't' then h = KEYS[2] end
  if ARGV[i + 2] == '' then redis.call('HDEL', h, ARGV[i + 1]) else redis.call('HSET', h, ARGV[i + 1], ARGV[i + 2]) end
  i = i + 3
end
return 1
",
    )
});

/// A queue operation, as one origin passes it to the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Submit {
        ticket: NewTicket,
        config: ModeConfig,
        max_queued: usize,
        server: bool,
    },
    /// Read a ticket, waiting up to `wait_ms` while it is queued or pending.
    Read {
        id: String,
        viewer: Viewer,
        as_user: Option<String>,
        wait_ms: u64,
    },
    Cancel {
        id: String,
        viewer: Viewer,
    },
    Accept {
        id: String,
        user: String,
        game: String,
    },
    TicketsOf {
        user: String,
        game: String,
    },
    Backfill {
        game: String,
        match_id: String,
        room_id: String,
        region: String,
        open_seats: u32,
    },
    SetConfig {
        game: String,
        mode: String,
        config: ModeConfig,
    },
}

impl Op {
    /// Whether the operation changes the queue (and must be stored before it answers).
    pub fn writes(&self) -> bool {
        !matches!(self, Op::Read { .. } | Op::TicketsOf { .. })
    }
}

/// The leader's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Ticket(Box<Ticket>),
    Tickets(Vec<Ticket>),
    Backfill(BackfillResponse),
    Done,
    Error(WireError),
}

/// A [`MatchmakingError`] as it crosses between origins.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireError {
    ModeNotFound(String),
    TicketNotFound,
    MatchNotFound,
    ActiveTicket { user: String, ticket_id: Option<String> },
    Conflict(String),
    Forbidden(String),
    QueueFull,
    Invalid { field: String, reason: String },
    Unavailable(String),
}

/// Field names a queue operation may name in an invalid-input answer.
const FIELDS: &[&str] = &["user_id", "open_seats", "party", "mode", "regions", "ticket_id", "match_id"];

impl WireError {
    pub fn from_error(e: MatchmakingError) -> Self {
        match e {
            MatchmakingError::ModeNotFound(m) => WireError::ModeNotFound(m),
            MatchmakingError::TicketNotFound => WireError::TicketNotFound,
            MatchmakingError::MatchNotFound => WireError::MatchNotFound,
            MatchmakingError::ActiveTicket { user, ticket_id } => WireError::ActiveTicket { user, ticket_id },
            MatchmakingError::Conflict(why) => WireError::Conflict(why),
            MatchmakingError::Forbidden(why) => WireError::Forbidden(why),
            MatchmakingError::QueueFull => WireError::QueueFull,
            MatchmakingError::Core(crate::error::CoreError::Invalid(i)) => WireError::Invalid { field: i.field.to_string(), reason: i.reason },
            MatchmakingError::Unavailable(why) => WireError::Unavailable(why),
            other => WireError::Unavailable(format!("the matchmaking origin failed: {other}")),
        }
    }

    pub fn into_error(self) -> MatchmakingError {
        match self {
            WireError::ModeNotFound(m) => MatchmakingError::ModeNotFound(m),
            WireError::TicketNotFound => MatchmakingError::TicketNotFound,
            WireError::MatchNotFound => MatchmakingError::MatchNotFound,
            WireError::ActiveTicket { user, ticket_id } => MatchmakingError::ActiveTicket { user, ticket_id },
            WireError::Conflict(why) => MatchmakingError::Conflict(why),
            WireError::Forbidden(why) => MatchmakingError::Forbidden(why),
            WireError::QueueFull => MatchmakingError::QueueFull,
            WireError::Invalid { field, reason } => {
                let field = FIELDS.iter().find(|f| **f == field).copied().unwrap_or("request");
                aethex_protocol::validate::Invalid::new(field, reason).into()
            }
            WireError::Unavailable(why) => MatchmakingError::Unavailable(why),
        }
    }
}

/// This origin's part in the cluster's matchmaking.
pub struct Leadership {
    redis: Redis,
    /// Our lease value: a random id and the URL the others reach us at.
    me: String,
    state: Mutex<State>,
    /// Held from a change of the queue until it is stored, so no answer goes out before
    /// the change it reports is in Redis.
    writing: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Follower,
    Leader { renewed: Instant },
}

impl Leadership {
    pub fn new(redis: Redis, advertise_url: &str) -> Self {
        Self {
            redis,
            me: format!("{} {}", uuid::Uuid::new_v4(), advertise_url.trim_end_matches('/')),
            state: Mutex::new(State::Follower),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> State {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_state(&self, s: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// Whether this origin runs the queue now.
    pub fn is_leader(&self) -> bool {
        matches!(self.state(), State::Leader { renewed } if renewed.elapsed() < STEP_DOWN_AFTER)
    }

    /// The leader's URL (from the lease), unless it is us or there is none.
    pub async fn leader_url(&self) -> Result<Option<String>, ClusterError> {
        let value: Option<String> = self.redis.get(LEADER_KEY).await?;
        Ok(value.filter(|v| *v != self.me).and_then(|v| v.split_once(' ').map(|(_, url)| url.to_string())))
    }

    /// Renews or takes the lease; on taking it, loads the queue from Redis into `queue`.
    /// Called every [`RENEW_EVERY`].
    pub async fn tick(&self, queue: &Matchmaker) {
        let lease_ms = LEASE.as_millis().to_string();
        match self.state() {
            State::Leader { renewed } => match self.redis.run::<i64, _>(&RENEW, &[LEADER_KEY], &[self.me.as_str(), lease_ms.as_str()]).await {
                Ok(1) => self.set_state(State::Leader { renewed: Instant::now() }),
                Ok(_) => self.step_down(queue, "another origin holds the matchmaking lease"),
                Err(e) => {
                    metrics::counter!("aethex_cluster_redis_errors_total", "use" => "matchmaking").increment(1);
                    if renewed.elapsed() >= STEP_DOWN_AFTER {
                        self.step_down(queue, &format!("could not renew the matchmaking lease: {e}"));
                    }
                }
            },
            State::Follower => {
                let taken = match self.redis.set_nx_px(LEADER_KEY, &self.me, LEASE).await {
                    Ok(taken) => taken,
                    Err(e) => {
                        metrics::counter!("aethex_cluster_redis_errors_total", "use" => "matchmaking").increment(1);
                        tracing::warn!(error = %e, "could not reach Redis for the matchmaking lease");
                        return;
                    }
                };
                if !taken {
                    return;
                }
                match self.load(queue).await {
                    Ok((tickets, matches)) => {
                        self.set_state(State::Leader { renewed: Instant::now() });
                        tracing::info!(tickets, matches, "this origin now runs the cluster's matchmaking queue");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "took the matchmaking lease but could not load the queue; giving it back");
                        let _ = self.redis.run::<i64, _>(&RENEW, &[LEADER_KEY], &[self.me.as_str(), "1"]).await;
                    }
                }
            }
        }
    }

    fn step_down(&self, queue: &Matchmaker, why: &str) {
        tracing::warn!(reason = why, "this origin no longer runs the matchmaking queue");
        self.set_state(State::Follower);
        queue.clear();
    }

    async fn load(&self, queue: &Matchmaker) -> Result<(usize, usize), ClusterError> {
        let tickets: Vec<(String, String)> = self.redis.hgetall(TICKETS_KEY).await?;
        let matches: Vec<(String, String)> = self.redis.hgetall(MATCHES_KEY).await?;
        let mut ts = Vec::with_capacity(tickets.len());
        for (id, json) in tickets {
            match serde_json::from_str::<StoredTicket>(&json) {
                Ok(t) => ts.push(t),
                Err(e) => tracing::warn!(ticket = %id, error = %e, "a stored ticket could not be read; skipped"),
            }
        }
        let mut ms = Vec::with_capacity(matches.len());
        for (id, json) in matches {
            match serde_json::from_str::<StoredMatch>(&json) {
                Ok(m) => ms.push((id, m)),
                Err(e) => tracing::warn!(match_id = %id, error = %e, "a stored match could not be read; skipped"),
            }
        }
        let counts = (ts.len(), ms.len());
        queue.restore(ts, ms, Instant::now());
        Ok(counts)
    }

    /// Runs `change` on the queue while this origin leads, then stores what it changed,
    /// one change at a time (no answer goes out before its change is in Redis). `None`:
    /// not the leader (nothing ran). Else the change's output and whether it was stored.
    pub async fn change<T>(&self, queue: &Matchmaker, change: impl std::future::Future<Output = T>) -> Option<(T, Result<(), MatchmakingError>)> {
        let _writing = self.writing.lock().await;
        if !self.is_leader() {
            return None;
        }
        let out = change.await;
        let stored = self.store(queue, queue.take_changes(Instant::now())).await;
        Some((out, stored))
    }

    /// Stores the queue's changes, if the lease is still ours (else they are marked to be
    /// stored again with the next change).
    async fn store(&self, queue: &Matchmaker, changes: Changes) -> Result<(), MatchmakingError> {
        if changes.is_empty() {
            return Ok(());
        }
        let result = self.write_changes(&changes).await;
        if result.is_err() {
            queue.mark_changed(&changes);
        }
        result
    }

    async fn write_changes(&self, changes: &Changes) -> Result<(), MatchmakingError> {
        let mut args: Vec<String> = Vec::with_capacity(1 + 3 * (changes.tickets.len() + changes.matches.len()));
        args.push(self.me.clone());
        let json = |v: Option<String>| v.unwrap_or_default();
        for (id, t) in &changes.tickets {
            args.extend(["t".to_string(), id.clone(), json(t.as_ref().and_then(|t| serde_json::to_string(t).ok()))]);
        }
        for (id, m) in &changes.matches {
            args.extend(["m".to_string(), id.clone(), json(m.as_ref().and_then(|m| serde_json::to_string(m).ok()))]);
        }
        match self.redis.run::<i64, _>(&PERSIST, &[LEADER_KEY, TICKETS_KEY, MATCHES_KEY], &args).await {
            Ok(1) => Ok(()),
            Ok(_) => {
                self.set_state(State::Follower);
                Err(MatchmakingError::Unavailable("this origin lost the matchmaking lease; try again".into()))
            }
            Err(e) => {
                metrics::counter!("aethex_cluster_redis_errors_total", "use" => "matchmaking").increment(1);
                Err(MatchmakingError::Unavailable(format!("could not store the matchmaking change: {e}")))
            }
        }
    }
}
