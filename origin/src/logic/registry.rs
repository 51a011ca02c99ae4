//! The components this origin has loaded: per game, the active version's pool of instances.
//!
//! A hook asks [`Registry::pool`] on every write; the answer comes from memory and is
//! checked against the database at most every `logic.refresh_ms`. A deploy or rollback
//! forgets the game here at once and, through the cluster's Redis when there is one, on
//! every other origin ([`crate::cluster::bus::GAME_LOGIC`]): the next call loads the new
//! version, and calls already running finish on the old one. Nothing restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use aethex_logic_host::{Limits, LogicEngine, Pool};

use super::{store, LogicError, LogicResult, RunError};
use crate::state::{App, AppState};

/// What this origin knows of one game's logic.
#[derive(Clone)]
struct Known {
    /// The active version (none: the game runs no logic).
    version: Option<i64>,
    /// Loaded, or why it could not be (answered until the next check).
    loaded: Result<Option<Arc<Pool>>, RunError>,
    checked: Instant,
}

pub struct Registry {
    engine: LogicEngine,
    games: Mutex<HashMap<String, Known>>,
    /// One load at a time per game (the first caller loads, the others wait for it).
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    refresh: Duration,
    cluster: Option<crate::cluster::Redis>,
}

impl Registry {
    pub fn new(config: &crate::config::LogicConfig, cluster: Option<crate::cluster::Redis>) -> Result<Self, RunError> {
        if config.max_component_bytes > super::service::MAX_COMPONENT_BODY {
            let why = format!("logic.max_component_bytes is at most {}", super::service::MAX_COMPONENT_BODY);
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
        })
    }

    pub fn engine(&self) -> &LogicEngine {
        &self.engine
    }

    fn fresh(&self, game: &str) -> Option<Known> {
        let games = self.games.lock().unwrap_or_else(|p| p.into_inner());
        games.get(game).filter(|k| k.checked.elapsed() < self.refresh).cloned()
    }

    /// What memory says of the game, when fresh: `Some(None)` when it runs no logic (or its
    /// logic failed to load), `None` when it must be asked for with [`Registry::pool`].
    pub fn cached(&self, game: &str) -> Option<Option<Arc<Pool>>> {
        self.fresh(game).map(|k| k.loaded.ok().flatten())
    }

    /// The pool of the game's active component, or `None` when it runs no logic.
    pub async fn pool(&self, app: &AppState, game: &str) -> LogicResult<Option<Arc<Pool>>> {
        if let Some(k) = self.fresh(game) {
            return k.loaded.map_err(LogicError::Failed);
        }
        let lock = self.loading.lock().unwrap_or_else(|p| p.into_inner()).entry(game.to_string()).or_default().clone();
        let _one = lock.lock().await;
        if let Some(k) = self.fresh(game) {
            return k.loaded.map_err(LogicError::Failed);
        }
        let version = store::active(&*app.db.reader().await, game).await?;
        let known = self.games.lock().unwrap_or_else(|p| p.into_inner()).get(game).cloned();
        let loaded = match known {
            Some(k) if k.version == version => k.loaded,
            _ => match version {
                None => Ok(None),
                Some(v) => self.load(app, game, v).await?,
            },
        };
        let k = Known { version, loaded: loaded.clone(), checked: Instant::now() };
        self.games.lock().unwrap_or_else(|p| p.into_inner()).insert(game.to_string(), k);
        loaded.map_err(LogicError::Failed)
    }

    async fn load(&self, app: &AppState, game: &str, version: i64) -> LogicResult<Result<Option<Arc<Pool>>, RunError>> {
        let Some(wasm) = store::wasm(&*app.db.reader().await, game, version).await? else {
            return Err(LogicError::NotFound(format!("version {version} of the game's logic is not kept")));
        };
        let started = Instant::now();
        let program = match self.engine.load(wasm).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(game, version, error = %e, "the game's active logic does not load");
                return Ok(Err(e));
            }
        };
        metrics::histogram!("aethex_logic_load_seconds").record(started.elapsed().as_secs_f64());
        tracing::info!(game, version, ms = started.elapsed().as_millis() as u64, "loaded the game's logic");
        let host = Arc::new(super::host::OriginHost::new(Arc::downgrade(&app.0), game));
        Ok(Ok(Some(Arc::new(Pool::new(program, host)))))
    }

    /// Forgets one game (this process only): its next call reads the active version again.
    pub fn forget(&self, game: &str) {
        self.games.lock().unwrap_or_else(|p| p.into_inner()).remove(game);
    }

    /// Forgets every game (this process only): after a lost cluster connection.
    pub fn forget_all(&self) {
        self.games.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The game's active version changed: forget it here and tell the other origins.
    pub async fn changed(&self, game: &str) {
        self.forget(game);
        if let Some(redis) = &self.cluster {
            redis.tell(crate::cluster::bus::GAME_LOGIC, game).await;
        }
    }
}

/// A weak handle for the host: components must not keep the origin alive.
pub type AppRef = Weak<App>;
