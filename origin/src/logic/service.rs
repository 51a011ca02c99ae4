//! Deploying a game's component, its versions and rollback, and custom RPCs. Deploying and
//! rolling back take the game's server key or a developer of its organization; reading the
//! versions a viewer. Knows nothing of HTTP.

use serde_json::Value;

use aethex_logic_host::Hook;
use aethex_protocol::logic::{LogicRegistration, LogicVersion, LogicVersionList, WIT_VERSION};
use aethex_protocol::teams::Role;
use aethex_protocol::validate::{GameSlug, Invalid};

use super::hooks::{context, By};
use super::store::{self, VersionRow};
use super::{LogicError, LogicResult};
use crate::auth::caller::Caller;
use crate::state::AppState;

/// Largest custom RPC payload (JSON text).
pub const MAX_RPC_PAYLOAD_BYTES: usize = 64 * 1024;
/// Largest answer a custom RPC may give (JSON text).
pub const MAX_RPC_ANSWER_BYTES: usize = 1024 * 1024;

fn game_slug(raw: &str) -> LogicResult<String> {
    Ok(GameSlug::parse(raw)?.into_inner())
}

async fn require_access(app: &AppState, caller: &Caller, game: &str, needed: Role) -> LogicResult<()> {
    Ok(crate::teams::service::require_game_caller(app, caller, game, needed).await?)
}

fn created_by(caller: &Caller) -> String {
    match caller {
        Caller::Server(s) => format!("server:{}", s.key_id),
        Caller::Player(p) => format!("user:{}", p.user_id),
    }
}

pub fn hook_name(h: Hook) -> &'static str {
    match h {
        Hook::BeforeSave => "before_save",
        Hook::BeforeScore => "before_score",
        Hook::BeforeAchievement => "before_achievement",
        Hook::BeforeTicket => "before_ticket",
        Hook::AfterEvents => "after_events",
    }
}

fn view(row: VersionRow, active: Option<i64>) -> LogicVersion {
    let registration = serde_json::from_str(&row.registration).unwrap_or_default();
    LogicVersion {
        active: active == Some(row.version),
        game_id: row.game_id,
        version: row.version,
        hash: row.hash,
        size_bytes: row.size_bytes,
        registration,
        created_by: row.created_by,
        created_at: row.created_at,
    }
}

/// Checks a component (it must load: built for this WIT version, exporting the world, its
/// init answering within bounds), stores it as the game's next version and runs it.
pub async fn deploy(app: &AppState, caller: &Caller, game: &str, wasm: Vec<u8>) -> LogicResult<LogicVersion> {
    let game = game_slug(game)?;
    require_access(app, caller, &game, Role::Developer).await?;
    let limit = app.config.logic.max_component_bytes;
    if wasm.len() > limit {
        return Err(LogicError::TooLarge { limit });
    }
    if wasm.is_empty() {
        return Err(Invalid::new("component", "the body must be a WebAssembly component (application/wasm)").into());
    }
    let hash = blake3::hash(&wasm).to_hex().to_string();
    let program = app.logic.engine().load(wasm.clone()).await.map_err(LogicError::Refused)?;
    let r = program.registration();
    let registration = LogicRegistration { hooks: r.hooks.iter().map(|h| hook_name(*h).to_string()).collect(), rpcs: r.rpcs.clone(), rooms: r.rooms };
    let mut row = VersionRow {
        game_id: game.clone(),
        version: 0,
        hash,
        size_bytes: wasm.len() as i64,
        registration: serde_json::to_string(&registration).unwrap_or_default(),
        created_by: created_by(caller),
        created_at: crate::clock::now(),
    };
    let (r2, keep) = (row.clone(), app.config.logic.versions_kept);
    let version = app
        .db
        .write(move |c| async move {
            let version = store::insert_version(&c, &r2, wasm).await?;
            store::set_active(&c, &r2.game_id, Some(version), &r2.created_at).await?;
            store::prune(&c, &r2.game_id, keep).await?;
            Ok::<_, LogicError>(version)
        })
        .await?;
    super::loader::install(app, &game, version, program).await;
    metrics::counter!("aethex_logic_deploys_total").increment(1);
    tracing::info!(game, version, hash = %row.hash, by = %row.created_by, "deployed game logic");
    row.version = version;
    Ok(view(row, Some(version)))
}

/// Kept versions, newest first, and the active one (viewer+ or the server key).
pub async fn list(app: &AppState, caller: &Caller, game: &str) -> LogicResult<LogicVersionList> {
    let game = game_slug(game)?;
    require_access(app, caller, &game, Role::Viewer).await?;
    let reader = app.db.reader().await;
    let active = store::active(&reader, &game).await?;
    let versions = store::versions(&reader, &game).await?.into_iter().map(|r| view(r, active)).collect();
    Ok(LogicVersionList { game_id: game, active_version: active, versions, wit_version: WIT_VERSION.to_string() })
}

/// Runs a kept version (a rollback or roll forward), or no logic (`None`).
pub async fn activate(app: &AppState, caller: &Caller, game: &str, version: Option<i64>) -> LogicResult<LogicVersionList> {
    let game = game_slug(game)?;
    require_access(app, caller, &game, Role::Developer).await?;
    let g = game.clone();
    app.db
        .write(move |c| async move {
            if let Some(v) = version {
                if store::version(&c, &g, v).await?.is_none() {
                    return Err(LogicError::NotFound(format!("version {v} is not kept")));
                }
            }
            store::set_active(&c, &g, version, &crate::clock::now()).await?;
            Ok(())
        })
        .await?;
    super::loader::changed(app, &game).await;
    tracing::info!(game, ?version, by = %created_by(caller), "activated game logic");
    list(app, caller, &game).await
}

/// A custom RPC of the game: by one of its players (their own token) or its server key.
pub async fn call_rpc(app: &AppState, caller: &Caller, game: &str, name: &str, payload: &Value) -> LogicResult<Value> {
    let game = game_slug(game)?;
    match caller {
        Caller::Player(p) if p.game()? == game => {
            app.logic.take_rpc(&game, &p.user_id).map_err(|retry_after| LogicError::RateLimited { retry_after })?;
        }
        Caller::Server(s) if s.game_id == game => {}
        _ => return Err(LogicError::Forbidden("this token or key is for another game".into())),
    }
    if !aethex_logic_host::valid_rpc_name(name) {
        return Err(Invalid::new("name", "RPC names are 1 to 64 of a-z, 0-9, _ and -").into());
    }
    let payload = serde_json::to_string(payload).unwrap_or_default();
    if payload.len() > MAX_RPC_PAYLOAD_BYTES {
        return Err(Invalid::new("payload", format!("the payload is at most {MAX_RPC_PAYLOAD_BYTES} bytes of JSON")).into());
    }
    let Some(pool) = super::loader::pool(app, &game).await?.filter(|p| p.program().has_rpc(name)) else {
        return Err(LogicError::NotFound(format!("the game has no RPC named {name:?}")));
    };
    let started = std::time::Instant::now();
    let answer = super::hooks::finish(&game, "rpc", started, pool.rpc(&context(&game, &By::of(caller)), name, &payload).await)?;
    match answer {
        Err(reason) => Err(LogicError::RpcRefused(reason.chars().take(super::hooks::MAX_REASON_CHARS).collect())),
        Ok(text) if text.len() > MAX_RPC_ANSWER_BYTES => Err(LogicError::Failed(aethex_logic_host::LogicError::Trap {
            export: "rpc",
            message: format!("its answer is larger than {MAX_RPC_ANSWER_BYTES} bytes"),
        })),
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| LogicError::Failed(aethex_logic_host::LogicError::Trap { export: "rpc", message: format!("its answer is not JSON: {e}") })),
    }
}
