//! The components this origin has loaded: per game, the active version's pool of instances
//! (memory only; [`super::loader`] reads the database and compiles).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aethex_logic_host::{Limits, LogicEngine, Pool};

use super::RunError;

/// What this origin knows of one game's logic.
#[derive(Clone)]
pub struct Known {
    /// The active version (none: the game runs no logic).
    pub version: Option<i64>,
    /// Loaded, or why it could not be (answered until the next check).
    pub loaded: Result<Option<Arc<Pool>>, RunError>,
    pub checked: Instant,
}

pub struct Registry {
    engine: LogicEngine,
    games: Mutex<HashMap<String, Known>>,
    /// One load at a time per game.
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    refresh: Duration,
    cluster: Option<crate::cluster::Redis>,
    /// Custom RPCs per (game, player) (`logic.rpc_per_player_per_sec`).
    rpc_limit: Option<governor::DefaultKeyedRateLimiter<(String, String)>>,
}

impl Registry {
    pub fn new(config: &crate::config::LogicConfig, cluster: Option<crate::cluster::Redis>) -> Result<Self, RunError> {
        if config.max_component_bytes > super::MAX_COMPONENT_BODY {
            let why = format!("logic.max_component_bytes is at most {}", super::MAX_COMPONENT_BODY);
            return Err(RunError::Invalid(why));
        }
        let limits = Limits {
            fuel_per_call: config.fuel_per_call,
            memory_bytes: config.memory_mib.saturating_mul(1 << 20),
            call_timeout: Duration::from_millis(config.call_timeout_ms),
            max_instances: config.max_instances,
            ..Limits::default()
        };
        Ok(Self {
            engine: LogicEngine::new(limits)?,
            games: Mutex::default(),
            loading: Mutex::default(),
            refresh: Duration::from_millis(config.refresh_ms),
            cluster,
            rpc_limit: std::num::NonZeroU32::new(config.rpc_per_player_per_sec).map(|n| {
                let burst = std::num::NonZeroU32::new(n.get().saturating_mul(2)).unwrap_or(n);
                governor::RateLimiter::keyed(governor::Quota::per_second(n).allow_burst(burst))
            }),
        })
    }

    pub fn engine(&self) -> &LogicEngine {
        &self.engine
    }

    /// What is known of the game, fresh (checked within `logic.refresh_ms`) or not.
    pub fn known(&self, game: &str) -> Option<Known> {
        self.games.lock().unwrap_or_else(|p| p.into_inner()).get(game).cloned()
    }

    pub fn fresh(&self, game: &str) -> Option<Known> {
        self.known(game).filter(|k| k.checked.elapsed() < self.refresh)
    }

    /// What memory says of the game, when fresh: `Some(None)` when it runs no logic (or its
    /// logic failed to load), `None` when it must be asked for with [`super::loader::pool`].
    pub fn cached(&self, game: &str) -> Option<Option<Arc<Pool>>> {
        self.fresh(game).map(|k| k.loaded.ok().flatten())
    }

    pub fn set(&self, game: &str, known: Known) {
        self.games.lock().unwrap_or_else(|p| p.into_inner()).insert(game.to_string(), known);
    }

    /// The lock a game's loads take (one at a time).
    pub fn load_lock(&self, game: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.loading.lock().unwrap_or_else(|p| p.into_inner()).entry(game.to_string()).or_default().clone()
    }

    /// Every game is due for a check (after a lost cluster connection: messages may have
    /// been missed); each is checked on its next call.
    pub fn all_stale(&self) {
        let mut games = self.games.lock().unwrap_or_else(|p| p.into_inner());
        for k in games.values_mut() {
            k.checked = Instant::now() - self.refresh - Duration::from_millis(1);
        }
    }

    pub fn mark_stale(&self, game: &str) {
        if let Some(k) = self.games.lock().unwrap_or_else(|p| p.into_inner()).get_mut(game) {
            k.checked = Instant::now() - self.refresh - Duration::from_millis(1);
        }
    }

    /// Takes one of the player's custom RPC calls in the game; `Err(seconds)` to wait when
    /// they made too many.
    pub fn take_rpc(&self, game: &str, player: &str) -> Result<(), u64> {
        let Some(limit) = &self.rpc_limit else { return Ok(()) };
        if limit.len() > 100_000 {
            limit.retain_recent();
        }
        limit.check_key(&(game.to_string(), player.to_string())).map_err(|not_until| {
            use governor::clock::Clock;
            not_until.wait_time_from(governor::clock::DefaultClock::default().now()).as_secs().max(1)
        })
    }

    /// Tells the cluster's other origins that the game's active version changed.
    pub async fn tell_others(&self, game: &str) {
        if let Some(redis) = &self.cluster {
            redis.tell(crate::cluster::bus::GAME_LOGIC, game).await;
        }
    }
}
