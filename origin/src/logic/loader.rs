//! Which version of a game's logic runs on this origin, and loading it.
//!
//! A hook asks [`pool`] on every write; the answer comes from memory (the [`Registry`]).
//! Every `logic.refresh_ms`, and at once when another origin deploys or rolls back (the
//! cluster's Redis, [`crate::cluster::bus::GAME_LOGIC`]), a task of its own reads the
//! active version and compiles it if it changed; until it is ready, calls keep the version
//! they had, so no request waits for a compile (a large component takes seconds). The
//! origin that takes a deploy installs the program it compiled to check it, at once. Calls
//! already running finish on the version they started with. Nothing restarts. Only the
//! first call of a game on an origin that never loaded it waits for its load.
//!
//! [`Registry`]: super::registry::Registry

use std::sync::Arc;
use std::time::Instant;

use aethex_logic_host::{Pool, Program};

use super::registry::Known;
use super::{store, LogicError, LogicResult, RunError};
use crate::state::AppState;

/// The pool of the game's active component, or `None` when it runs no logic.
pub async fn pool(app: &AppState, game: &str) -> LogicResult<Option<Arc<Pool>>> {
    if let Some(k) = app.logic.fresh(game) {
        return k.loaded.map_err(LogicError::Failed);
    }
    if let Some(k) = app.logic.known(game) {
        // Known but due for a check: check in the background, answer what we have.
        refresh_later(app, game);
        return k.loaded.map_err(LogicError::Failed);
    }
    refresh(app, game).await
}

/// [`refresh`] in a task of its own (none when one is running for the game already).
pub fn refresh_later(app: &AppState, game: &str) {
    if app.logic.load_lock(game).try_lock().is_err() {
        return;
    }
    let (app, game) = (app.clone(), game.to_string());
    tokio::spawn(async move {
        if let Err(e) = refresh(&app, &game).await {
            tracing::warn!(game, error = %e, "could not check the game's logic version");
        }
    });
}

/// Reads the game's active version and loads it if it is not the one held.
async fn refresh(app: &AppState, game: &str) -> LogicResult<Option<Arc<Pool>>> {
    let lock = app.logic.load_lock(game);
    let _one = lock.lock().await;
    if let Some(k) = app.logic.fresh(game) {
        return k.loaded.map_err(LogicError::Failed);
    }
    let version = store::active(&*app.db.reader().await, game).await?;
    let loaded = match app.logic.known(game) {
        Some(k) if k.version == version => k.loaded,
        _ => match version {
            None => Ok(None),
            Some(v) => load(app, game, v).await?,
        },
    };
    app.logic.set(game, Known { version, loaded: loaded.clone(), checked: Instant::now() });
    loaded.map_err(LogicError::Failed)
}

async fn load(app: &AppState, game: &str, version: i64) -> LogicResult<Result<Option<Arc<Pool>>, RunError>> {
    let Some(wasm) = store::wasm(&*app.db.reader().await, game, version).await? else {
        return Err(LogicError::NotFound(format!("version {version} of the game's logic is not kept")));
    };
    let started = Instant::now();
    let program = match app.logic.engine().load(wasm).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(game, version, error = %e, "the game's active logic does not load");
            return Ok(Err(e));
        }
    };
    metrics::histogram!("aethex_logic_load_seconds").record(started.elapsed().as_secs_f64());
    tracing::info!(game, version, ms = started.elapsed().as_millis() as u64, "loaded the game's logic");
    Ok(Ok(Some(pool_of(app, game, program))))
}

fn pool_of(app: &AppState, game: &str, program: Arc<Program>) -> Arc<Pool> {
    let host = Arc::new(super::host::OriginHost::new(Arc::downgrade(&app.0), game));
    Arc::new(Pool::new(program, host))
}

/// Runs `program` as the game's `version` on this origin now (the deploy that compiled
/// it), and tells the other origins.
pub async fn install(app: &AppState, game: &str, version: i64, program: Arc<Program>) {
    let known = Known { version: Some(version), loaded: Ok(Some(pool_of(app, game, program))), checked: Instant::now() };
    app.logic.set(game, known);
    app.logic.tell_others(game).await;
}

/// Another origin changed the game's active version: check it now (in the background).
pub fn told(app: &AppState, game: &str) {
    app.logic.mark_stale(game);
    refresh_later(app, game);
}

/// The game's active version changed here (a rollback): load it now, then tell the others.
pub async fn changed(app: &AppState, game: &str) {
    app.logic.mark_stale(game);
    if let Err(e) = refresh(app, game).await {
        tracing::warn!(game, error = %e, "could not load the game's new logic version");
    }
    app.logic.tell_others(game).await;
}
