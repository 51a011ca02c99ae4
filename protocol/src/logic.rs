//! Game logic: a game's WebAssembly components (`POST /api/v1/games/{game}/logic`), the
//! version that runs, rollback, and custom RPCs (`POST /api/v1/games/{game}/rpc/{name}`,
//! JSON-RPC `custom.{name}`). The component's interface is the WIT package in
//! `protocol/wit/logic.wit` (`aethex:logic@0.1.0`).

use serde::{Deserialize, Serialize};

/// The WIT package version servers run; a component built for another is refused.
pub const WIT_VERSION: &str = "0.1.0";
/// JSON-RPC methods `custom.{name}` call the custom RPC `name`.
pub const CUSTOM_RPC_PREFIX: &str = "custom.";
/// Content type of a component upload.
pub const WASM_CONTENT_TYPE: &str = "application/wasm";

/// What a component's `init` registered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogicRegistration {
    /// Hooks it handles: `before_save`, `before_score`, `before_achievement`, `before_ticket`,
    /// `after_events`.
    pub hooks: Vec<String>,
    /// Its custom RPC names.
    pub rpcs: Vec<String>,
    /// Whether rooms may be bound to it.
    pub rooms: bool,
}

/// One deployed version of a game's component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogicVersion {
    pub game_id: String,
    /// 1, 2, ... per game.
    pub version: i64,
    /// blake3 of the component, hex.
    pub hash: String,
    pub size_bytes: i64,
    pub registration: LogicRegistration,
    /// `server:<key id>` or `user:<user id>`.
    pub created_by: String,
    pub created_at: String,
    /// Whether this is the version that runs.
    pub active: bool,
}

/// `GET /api/v1/games/{game}/logic`: kept versions, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogicVersionList {
    pub game_id: String,
    /// The version that runs (none: the game runs no logic).
    pub active_version: Option<i64>,
    pub versions: Vec<LogicVersion>,
    /// The WIT package version components must be built for.
    pub wit_version: String,
}

/// `POST /api/v1/games/{game}/logic/activate`: run a kept version (a rollback), or none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ActivateLogicRequest {
    /// A kept version; `null` turns the game's logic off. Required (`{}` is refused).
    #[serde(deserialize_with = "Option::deserialize")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub version: Option<i64>,
}

/// Header of `GET /api/v1/games/{game}/logic/room`'s answer: the version it holds. A relay
/// sends it back in `If-None-Match` (as `"<version>"`) and gets 304 while it is current.
pub const LOGIC_VERSION_HEADER: &str = "x-aethex-logic-version";

/// A host call of an authoritative room's component (`aethex:logic/host`), which a relay
/// sends to origin: `POST /api/v1/games/{game_id}/logic/host` with its relay key. Byte
/// values travel as standard base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum RoomHostCall {
    KvGet { key: String },
    KvSet { key: String, value: String },
    KvDelete { key: String },
    KvCompareAndSet { key: String, expected: Option<String>, new: Option<String> },
    PlayerProfile { user_id: String },
    PlayerStats { user_id: String },
    SubmitScore { board_id: String, user_id: String, score: i64 },
    UnlockAchievement { achievement_id: String, user_id: String },
}

/// The answer to a [`RoomHostCall`] (200 either way): `{"ok": value}` or `{"err": reason}`,
/// the reason the component sees. Values: `kv_get` a base64 string or null, `kv_set` null,
/// `kv_delete` and `kv_compare_and_set` a bool, `player_profile` an object (`user_id`,
/// `username`, `avatar_url`, `created_at`) or null, `player_stats` `[{name, value}]`,
/// `submit_score` the stored score, `unlock_achievement` whether this call unlocked it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomHostAnswer {
    Ok(serde_json::Value),
    Err(String),
}

/// Largest body of a [`RoomHostCall`] (a 64 KiB value in base64, twice for compare-and-set).
pub const MAX_ROOM_HOST_CALL_BYTES: usize = 256 * 1024;
