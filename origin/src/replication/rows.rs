//! Edge-visible rows: how origin's tables map onto the edge read model
//! (`aethex_protocol::replica`). The outbox and snapshots both build rows here, so a row
//! looks the same whichever way it reaches an edge.

use aethex_protocol::replica::{self, Table};
use aethex_protocol::teams::Tier;
use serde_json::{json, Map, Value};

use crate::config::SavesConfig;
use crate::saves::store::SaveRow;

pub fn table(name: &str) -> &'static Table {
    replica::table(name).expect("table of the replica schema")
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A save version's metadata (never its bytes).
pub fn save(r: &SaveRow) -> Map<String, Value> {
    obj(json!({
        "save_id": r.id, "user_id": r.user_id, "game_id": r.game_id, "slot_name": r.slot_name,
        "version": r.version, "created_at": r.created_at, "size_bytes": r.size_bytes,
        "stored_bytes": r.stored_bytes, "checksum": r.checksum, "compressed": r.compressed as i64,
        "content_type": r.content_type, "metadata": r.metadata,
    }))
}

pub fn save_key(save_id: &str) -> Map<String, Value> {
    obj(json!({ "save_id": save_id }))
}

pub fn slot_filter(user_id: &str, game_id: &str, slot: &str) -> Map<String, Value> {
    obj(json!({ "user_id": user_id, "game_id": game_id, "slot_name": slot }))
}

pub fn quota_bytes(cfg: &SavesConfig, tier: Tier) -> i64 {
    match tier {
        Tier::Free => cfg.quota_free_bytes,
        Tier::Pro => cfg.quota_pro_bytes,
        Tier::Enterprise => cfg.quota_enterprise_bytes,
    }
}

/// A game as edges need it: its tier, the save quota that tier gives, and its COPPA flag.
pub fn game(cfg: &SavesConfig, game_id: &str, tier: Tier, coppa: bool) -> Map<String, Value> {
    obj(json!({ "game_id": game_id, "tier": tier.as_str(), "quota_bytes": quota_bytes(cfg, tier), "coppa": coppa as i64 }))
}

pub fn consent(game_id: &str, user_id: &str, analytics: bool) -> Map<String, Value> {
    obj(json!({ "game_id": game_id, "user_id": user_id, "analytics": analytics as i64 }))
}

/// An experiment as edges need it to assign variants (`variants` is its JSON text).
pub fn experiment(game_id: &str, experiment_id: &str, variants: &str, active: bool) -> Map<String, Value> {
    obj(json!({ "game_id": game_id, "experiment_id": experiment_id, "variants": variants, "active": active as i64 }))
}

pub fn achievement(a: &aethex_protocol::achievements::Achievement) -> Map<String, Value> {
    obj(json!({
        "game_id": a.game_id, "achievement_id": a.achievement_id, "name": a.name, "description": a.description,
        "hidden": a.hidden as i64, "progress_target": a.progress_target as i64, "icon_url": a.icon_url, "updated_at": a.updated_at,
    }))
}

pub fn player_achievement(game_id: &str, user_id: &str, achievement_id: &str, progress: u64, unlocked_at: Option<&str>) -> Map<String, Value> {
    obj(json!({ "game_id": game_id, "user_id": user_id, "achievement_id": achievement_id, "progress": progress as i64, "unlocked_at": unlocked_at }))
}

/// A delete filter on the named columns.
pub fn filter(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), Value::String((*v).to_string()))).collect()
}

/// A fingerprint of the quota settings the replicated `games` rows were made with.
pub fn quota_signature(cfg: &SavesConfig) -> String {
    format!("{}/{}/{}", cfg.quota_free_bytes, cfg.quota_pro_bytes, cfg.quota_enterprise_bytes)
}

pub fn leaderboard(game_id: &str, id: &str, name: &str, sort_order: &str, operator: &str) -> Map<String, Value> {
    obj(json!({ "game_id": game_id, "leaderboard_id": id, "name": name, "sort_order": sort_order, "operator": operator }))
}

/// A leaderboard entry, in the column order of the replica table.
#[derive(Debug, Clone)]
pub struct EntryRow {
    pub game_id: String,
    pub leaderboard_id: String,
    pub user_id: String,
    pub username: String,
    pub score: i64,
    pub rank_score: i64,
    pub metadata: Option<String>,
    pub updated_at: String,
}

pub fn entry(e: &EntryRow) -> Map<String, Value> {
    obj(json!({
        "game_id": e.game_id, "leaderboard_id": e.leaderboard_id, "user_id": e.user_id, "username": e.username,
        "score": e.score, "rank_score": e.rank_score, "metadata": e.metadata, "updated_at": e.updated_at,
    }))
}

pub fn region(name: &str, url: &str, ping_url: &str, capacity: u32, load: u32, last_seen_ms: i64) -> Map<String, Value> {
    obj(json!({ "name": name, "url": url, "ping_url": ping_url, "capacity": capacity, "load": load, "last_seen_ms": last_seen_ms }))
}

pub fn manifest_key(k: &aethex_protocol::dlc::ManifestKey) -> Map<String, Value> {
    obj(json!({ "game_id": k.game_id, "key_id": k.key_id, "name": k.name, "public_key": k.public_key, "created_at": k.created_at }))
}

pub fn manifest_key_id(game_id: &str, key_id: &str) -> Map<String, Value> {
    obj(json!({ "game_id": game_id, "key_id": key_id }))
}

pub fn release(r: &crate::dlc::store::ReleaseRecord) -> Map<String, Value> {
    obj(json!({
        "game_id": r.game_id, "channel": r.channel, "version": r.version, "manifest": r.manifest, "signature": r.signature,
        "key_id": r.key_id, "entitlement": r.entitlement, "download_bytes": r.download_bytes, "created_at": r.created_at,
    }))
}

pub fn release_key(game_id: &str, channel: &str, version: &str) -> Map<String, Value> {
    obj(json!({ "game_id": game_id, "channel": channel, "version": version }))
}

pub fn channel(game_id: &str, channel: &str, version: &str, updated_at: &str) -> Map<String, Value> {
    obj(json!({ "game_id": game_id, "channel": channel, "version": version, "updated_at": updated_at }))
}

pub fn entitlement(e: &aethex_protocol::dlc::Entitlement) -> Map<String, Value> {
    obj(json!({ "game_id": e.game_id, "user_id": e.user_id, "entitlement": e.entitlement, "granted_at": e.granted_at }))
}

pub fn entitlement_key(game_id: &str, user_id: &str, entitlement: &str) -> Map<String, Value> {
    obj(json!({ "game_id": game_id, "user_id": user_id, "entitlement": entitlement }))
}

/// For each replicated table, the query that reads all of its rows from origin's own
/// tables, with the columns in the replica's order (snapshots).
pub fn snapshot_queries() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "saves",
            "SELECT id, user_id, game_id, slot_name, version, created_at, size_bytes, stored_bytes, checksum, compressed, content_type, metadata FROM cloud_saves",
        ),
        ("games", "SELECT id, tier, coppa FROM games"),
        ("analytics_consent", "SELECT game_id, user_id, analytics FROM analytics_consent"),
        ("experiments", "SELECT game_id, experiment_id, variants, active FROM experiments"),
        (
            "achievements",
            "SELECT game_id, achievement_id, name, description, hidden, progress_target, icon_url, updated_at FROM achievements",
        ),
        ("player_achievements", "SELECT game_id, user_id, achievement_id, progress, unlocked_at FROM player_achievements"),
        ("leaderboards", "SELECT game_id, leaderboard_id, name, sort_order, operator FROM leaderboards"),
        (
            "leaderboard_entries",
            "SELECT game_id, leaderboard_id, user_id, username, score, rank_score, metadata, updated_at FROM leaderboard_entries",
        ),
        ("manifest_keys", "SELECT game_id, key_id, name, public_key, created_at FROM manifest_keys"),
        (
            "releases",
            "SELECT game_id, channel, version, manifest, signature, key_id, entitlement, download_bytes, created_at FROM releases",
        ),
        ("channels", "SELECT game_id, channel, version, updated_at FROM channels"),
        ("entitlements", "SELECT game_id, user_id, entitlement, granted_at FROM entitlements"),
        ("regions", "SELECT name, url, ping_url, capacity, load, last_seen_ms FROM regions"),
    ]
}
