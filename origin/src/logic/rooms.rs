//! What relays ask of origin for authoritative rooms (their relay key; they run the room
//! interface themselves): the component that runs the game's rooms, and the host calls a
//! room's component makes (key-value storage, profiles, statistics, scores, achievements),
//! run here by [`OriginHost`] exactly as for hooks and RPCs. Knows nothing of HTTP.

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use aethex_logic_host::HostApi;
use aethex_protocol::logic::{LogicRegistration, RoomHostAnswer, RoomHostCall};
use aethex_protocol::validate::{GameSlug, Invalid};

use super::host::OriginHost;
use super::{store, LogicError, LogicResult};
use crate::state::AppState;

/// The game's room component as a relay sees it.
pub enum RoomComponent {
    /// The game runs no logic, or its logic does not handle rooms: rooms relay as usual.
    None,
    /// The relay holds the active version already (`If-None-Match`).
    Current(i64),
    /// The active version and its bytes.
    Component(i64, Vec<u8>),
}

/// The active version of the game's logic when it handles rooms; `have` is the version the
/// relay holds.
pub async fn room_component(app: &AppState, game: &str, have: Option<i64>) -> LogicResult<RoomComponent> {
    let game = GameSlug::parse(game)?.into_inner();
    let reader = app.db.reader().await;
    let Some(version) = store::active(&reader, &game).await? else { return Ok(RoomComponent::None) };
    let Some(row) = store::version(&reader, &game, version).await? else { return Ok(RoomComponent::None) };
    let registration: LogicRegistration = serde_json::from_str(&row.registration).unwrap_or_default();
    if !registration.rooms {
        return Ok(RoomComponent::None);
    }
    if have == Some(version) {
        return Ok(RoomComponent::Current(version));
    }
    match store::wasm(&reader, &game, version).await? {
        Some(wasm) => Ok(RoomComponent::Component(version, wasm)),
        None => Ok(RoomComponent::None),
    }
}

fn bytes(field: &'static str, b64: &str) -> Result<Vec<u8>, Invalid> {
    base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| Invalid::new(field, "standard base64"))
}

fn opt_bytes(field: &'static str, b64: Option<&str>) -> Result<Option<Vec<u8>>, Invalid> {
    b64.map(|b| bytes(field, b)).transpose()
}

/// Runs a room component's host call for the game, as origin runs its own components'
/// (404 for a game that runs no logic).
pub async fn host_call(app: &AppState, game: &str, call: RoomHostCall) -> LogicResult<RoomHostAnswer> {
    let game = GameSlug::parse(game)?.into_inner();
    // Only a game that runs logic has rooms that call its host.
    if store::active(&*app.db.reader().await, &game).await?.is_none() {
        return Err(LogicError::NotFound(format!("game {game:?} runs no logic")));
    }
    let host = Arc::new(OriginHost::new(Arc::downgrade(&app.0), &game));
    let b64 = |b: Vec<u8>| Value::String(base64::engine::general_purpose::STANDARD.encode(b));
    let answer: Result<Value, String> = match call {
        RoomHostCall::KvGet { key } => host.kv_get(key).await.map(|v| v.map(b64).unwrap_or(Value::Null)),
        RoomHostCall::KvSet { key, value } => host.kv_set(key, bytes("value", &value)?).await.map(|()| Value::Null),
        RoomHostCall::KvDelete { key } => host.kv_delete(key).await.map(Value::Bool),
        RoomHostCall::KvCompareAndSet { key, expected, new } => {
            let (expected, new) = (opt_bytes("expected", expected.as_deref())?, opt_bytes("new", new.as_deref())?);
            host.kv_compare_and_set(key, expected, new).await.map(Value::Bool)
        }
        RoomHostCall::PlayerProfile { user_id } => host.player_profile(user_id).await.map(|p| match p {
            Some(p) => json!({"user_id": p.user_id, "username": p.username, "avatar_url": p.avatar_url, "created_at": p.created_at}),
            None => Value::Null,
        }),
        RoomHostCall::PlayerStats { user_id } => {
            host.player_stats(user_id).await.map(|stats| Value::Array(stats.into_iter().map(|s| json!({"name": s.name, "value": s.value})).collect()))
        }
        RoomHostCall::SubmitScore { board_id, user_id, score } => host.submit_score(board_id, user_id, score).await.map(|s| json!(s)),
        RoomHostCall::UnlockAchievement { achievement_id, user_id } => host.unlock_achievement(achievement_id, user_id).await.map(Value::Bool),
    };
    Ok(match answer {
        Ok(v) => RoomHostAnswer::Ok(v),
        Err(reason) => RoomHostAnswer::Err(reason),
    })
}
