//! Save rules: who may touch which saves, limits, versioning and conflicts. Called by
//! REST routes and JSON-RPC alike; knows nothing of HTTP.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use aethex_protocol::saves::{
    canonical_json, ConflictPolicy, DeleteResponse, LoadResponse, MergePrefer, SaveHistory, SaveList, SaveListEntry, SaveMetadata, SaveRequest,
    SaveResponse,
};
use aethex_protocol::teams::Tier;
use aethex_protocol::validate::{Invalid, SlotName};

use super::codec::{self, Sealed};
use super::merge::merge3;
use super::store::{self, SaveRow};
use super::SaveError;
use crate::auth::caller::Caller;
use crate::logic::{self, hooks::By};
use crate::replication;
use crate::state::AppState;

pub type SaveResult<T> = Result<T, SaveError>;

/// Whose saves, in which game, under which quota.
#[derive(Debug, Clone)]
pub struct SaveActor {
    pub user_id: String,
    pub game_id: String,
    pub quota_bytes: i64,
    /// Who asks, for the game's hooks (none: the platform itself, which runs no hooks).
    pub by: Option<By>,
}

/// Path segment meaning "the caller".
pub const ME: &str = "me";

/// Resolves whose saves a request touches. Players reach only their own saves in the
/// game their token was issued for; a game's server key reaches any player's saves in
/// that game.
pub async fn actor_for(app: &AppState, caller: &Caller, requested_user: Option<&str>) -> SaveResult<SaveActor> {
    let (user_id, game_id) = match caller {
        Caller::Player(p) => {
            if let Some(u) = requested_user {
                if u != ME && u != p.user_id {
                    return Err(SaveError::Forbidden("players can only reach their own saves"));
                }
            }
            (p.user_id.clone(), p.game()?.to_string())
        }
        Caller::Server(s) => {
            let u = requested_user.filter(|u| *u != ME).ok_or(Invalid::new("user_id", "a server key must name the player (user_id)"))?;
            if uuid::Uuid::parse_str(u).is_err() || !store::user_exists(&*app.db.reader().await, u).await? {
                return Err(Invalid::new("user_id", "no such player").into());
            }
            (u.to_string(), s.game_id.clone())
        }
    };
    let game = crate::teams::store::game_by_id(&*app.db.reader().await, &game_id)
        .await?
        .ok_or(SaveError::Forbidden("the game of this token no longer exists"))?;
    let cfg = &app.config.saves;
    let quota_bytes = match game.tier {
        Tier::Free => cfg.quota_free_bytes,
        Tier::Pro => cfg.quota_pro_bytes,
        Tier::Enterprise => cfg.quota_enterprise_bytes,
    };
    Ok(SaveActor { user_id, game_id, quota_bytes, by: Some(By::of(caller)) })
}

/// A save's plain content before it is sealed.
struct Plain {
    bytes: Vec<u8>,
    content_type: &'static str,
    /// Client metadata as JSON text.
    metadata: Option<String>,
}

fn metadata_of(row: &SaveRow) -> SaveMetadata {
    SaveMetadata {
        save_id: row.id.clone(),
        user_id: row.user_id.clone(),
        game_id: row.game_id.clone(),
        slot_name: row.slot_name.clone(),
        version: row.version,
        timestamp: row.created_at.clone(),
        size_bytes: row.size_bytes,
        stored_bytes: row.stored_bytes,
        checksum: row.checksum.clone(),
        compressed: row.compressed,
        content_type: row.content_type.clone(),
        engine_version: None,
        game_version: None,
        metadata: Value::Null,
    }
    .with_client_metadata(row.metadata.as_deref())
}

fn open_row(app: &AppState, row: &SaveRow) -> SaveResult<Vec<u8>> {
    let blob = row.blob.as_deref().ok_or_else(|| SaveError::Corrupt("row read without its data".into()))?;
    codec::open(&app.save_cipher, &row.key_id, blob, row.compressed, row.size_bytes, &row.checksum, &codec::aad(&row.id, &row.user_id, &row.game_id))
        .map_err(|e| {
            tracing::error!(save_id = %row.id, error = %e, "stored save failed verification");
            SaveError::Corrupt(e)
        })
}

fn load_response(app: &AppState, row: &SaveRow) -> SaveResult<LoadResponse> {
    let plain = open_row(app, row)?;
    let metadata = metadata_of(row);
    if row.content_type == "json" {
        let data: Value = serde_json::from_slice(&plain).map_err(|e| SaveError::Corrupt(format!("stored JSON: {e}")))?;
        Ok(LoadResponse { metadata, data: Some(data), data_base64: None })
    } else {
        Ok(LoadResponse { metadata, data: None, data_base64: Some(STANDARD.encode(plain)) })
    }
}

fn parse_slot(raw: &str) -> SaveResult<SlotName> {
    Ok(SlotName::parse(raw)?)
}

/// Validates a save request into plain bytes (without touching the database).
fn plain_of(app: &AppState, req: &SaveRequest) -> SaveResult<Plain> {
    let limit = app.config.saves.max_save_bytes;
    let (bytes, content_type) = match (&req.data, &req.data_base64) {
        (Some(v), None) => (canonical_json(v), "json"),
        (None, Some(b64)) => {
            // Reject before decoding when the text alone implies an oversize save.
            if b64.len() / 4 * 3 > limit + 3 {
                return Err(SaveError::TooLarge { limit });
            }
            let bytes = STANDARD.decode(b64.trim()).map_err(|e| Invalid::new("data_base64", format!("not valid base64: {e}")))?;
            (bytes, "binary")
        }
        (None, None) => return Err(Invalid::new("data", "give data (JSON) or data_base64 (binary)").into()),
        (Some(_), Some(_)) => return Err(Invalid::new("data", "give only one of data and data_base64").into()),
    };
    if bytes.len() > limit {
        return Err(SaveError::TooLarge { limit });
    }
    let metadata = match &req.metadata {
        None | Some(Value::Null) => None,
        Some(m @ Value::Object(obj)) => {
            for key in ["engine_version", "game_version"] {
                if let Some(v) = obj.get(key) {
                    match v.as_str() {
                        Some(s) if s.len() <= 64 => {}
                        _ => return Err(Invalid::new("metadata", format!("{key} must be a string of at most 64 characters")).into()),
                    }
                }
            }
            let text = String::from_utf8(canonical_json(m)).map_err(|e| SaveError::Corrupt(e.to_string()))?;
            if text.len() > app.config.saves.max_metadata_bytes {
                return Err(Invalid::new("metadata", format!("metadata must be at most {} bytes", app.config.saves.max_metadata_bytes)).into());
            }
            Some(text)
        }
        Some(_) => return Err(Invalid::new("metadata", "metadata must be a JSON object").into()),
    };
    if let Some(sum) = &req.checksum {
        let computed = codec::checksum(&bytes);
        if !sum.eq_ignore_ascii_case(&computed) {
            return Err(SaveError::ChecksumMismatch { computed });
        }
    }
    Ok(Plain { bytes, content_type, metadata })
}

/// Seals off the async runtime when the save is big enough for it to matter.
async fn seal_plain(app: &AppState, plain: &[u8], aad: Vec<u8>) -> SaveResult<Sealed> {
    let level = app.config.saves.zstd_level;
    if plain.len() < 256 * 1024 {
        return Ok(codec::seal(&app.save_cipher, plain, level, &aad));
    }
    let app2 = app.clone();
    let owned = plain.to_vec();
    tokio::task::spawn_blocking(move || codec::seal(&app2.save_cipher, &owned, level, &aad))
        .await
        .map_err(|e| SaveError::Corrupt(format!("sealing task failed: {e}")))
}

pub async fn save(app: &AppState, actor: &SaveActor, req: SaveRequest) -> SaveResult<SaveResponse> {
    let slot = parse_slot(&req.slot_name)?;
    if matches!(req.base_version, Some(v) if v < 0) {
        return Err(Invalid::new("base_version", "base_version must be 0 or more").into());
    }
    let mut plain = plain_of(app, &req)?;
    let policy = req.on_conflict.unwrap_or_default();
    if policy == ConflictPolicy::Merge && plain.content_type != "json" {
        return Err(Invalid::new("on_conflict", "merge works on JSON saves only").into());
    }
    if let Some(by) = &actor.by {
        let write = logic::SaveWrite {
            user_id: actor.user_id.clone(),
            slot_name: slot.as_str().to_string(),
            content_type: plain.content_type.to_string(),
            data: plain.bytes.clone(),
            metadata: plain.metadata.clone(),
        };
        if let Some(data) = logic::hooks::before_save(app, &actor.game_id, by, write).await? {
            plain.bytes = rewritten(app, plain.content_type, data)?;
        }
    }
    let resp = write_version(app, actor, slot.as_str(), plain, req.base_version, policy, req.merge_prefer).await?;
    if let Some(by) = &actor.by {
        let m = &resp.metadata;
        let event = logic::Saved { user_id: m.user_id.clone(), slot_name: m.slot_name.clone(), version: m.version, size_bytes: m.size_bytes };
        logic::hooks::after(app, &actor.game_id, by.clone(), logic::Event::SaveWritten(event));
    }
    Ok(resp)
}

/// Data a before-save hook wrote instead: within the size limit, and still JSON (made
/// canonical) for a JSON save.
fn rewritten(app: &AppState, content_type: &str, data: Vec<u8>) -> SaveResult<Vec<u8>> {
    let limit = app.config.saves.max_save_bytes;
    if data.len() > limit {
        return Err(SaveError::TooLarge { limit });
    }
    if content_type != "json" {
        return Ok(data);
    }
    let value: Value = serde_json::from_slice(&data).map_err(|e| {
        logic::LogicError::Failed(logic::RunError::Trap {
            export: "before-save",
            message: format!("it rewrote a JSON save into bytes that are not JSON: {e}"),
        })
    })?;
    Ok(canonical_json(&value))
}

/// Writes the next version of a slot (or of a conflict copy), enforcing concurrency,
/// slot and quota limits, and pruning old versions, all in one transaction.
async fn write_version(
    app: &AppState,
    actor: &SaveActor,
    slot: &str,
    mut plain: Plain,
    base_version: Option<i64>,
    policy: ConflictPolicy,
    prefer: Option<MergePrefer>,
) -> SaveResult<SaveResponse> {
    let save_id = uuid::Uuid::new_v4().to_string();
    let aad = codec::aad(&save_id, &actor.user_id, &actor.game_id);
    let mut sealed = seal_plain(app, &plain.bytes, aad.clone()).await?;

    let (a, actor2, slot2) = (app.clone(), actor.clone(), slot.to_string());
    let resp = app
        .db
        .write_replicated(move |tx, out| async move {
            let (app, actor, slot) = (&a, &actor2, slot2.as_str());
            let current = store::latest(&tx, &actor.user_id, &actor.game_id, slot, false).await?;
            let current_version = current.as_ref().map(|c| c.version).unwrap_or(0);
            let mut target_slot = slot.to_string();
            let mut merged = false;
            let mut conflicts = Vec::new();

            if let Some(base) = base_version {
                if base != current_version {
                    match policy {
                        ConflictPolicy::Reject => {
                            let current = match &current {
                                Some(c) => {
                                    let full = store::version(&tx, &actor.user_id, &actor.game_id, slot, c.version).await?;
                                    Some(Box::new(load_response(app, full.as_ref().ok_or(SaveError::NotFound)?)?))
                                }
                                None => None,
                            };
                            metrics::counter!("aethex_save_conflicts_total", "outcome" => "rejected").increment(1);
                            return Err(SaveError::Conflict { current });
                        }
                        ConflictPolicy::Overwrite => {}
                        ConflictPolicy::KeepBoth => {
                            target_slot = free_conflict_slot(&tx, actor, slot).await?;
                        }
                        ConflictPolicy::Merge => {
                            let Some(cur) = &current else { return Err(SaveError::Conflict { current: None }) };
                            let server_row =
                                store::version(&tx, &actor.user_id, &actor.game_id, slot, cur.version).await?.ok_or(SaveError::NotFound)?;
                            let base_row = store::version(&tx, &actor.user_id, &actor.game_id, slot, base).await?.ok_or(SaveError::BaseGone(base))?;
                            let server_resp = load_response(app, &server_row)?;
                            let base_resp = load_response(app, &base_row)?;
                            let (Some(server_v), Some(base_v)) = (&server_resp.data, &base_resp.data) else {
                                return Err(Invalid::new("on_conflict", "merge works on JSON saves only").into());
                            };
                            let client_v: Value = serde_json::from_slice(&plain.bytes).map_err(|e| SaveError::Corrupt(e.to_string()))?;
                            let m = merge3(base_v, &client_v, server_v, prefer.unwrap_or(MergePrefer::Client));
                            if !m.conflicts.is_empty() && prefer.is_none() {
                                metrics::counter!("aethex_save_conflicts_total", "outcome" => "merge_conflict").increment(1);
                                return Err(SaveError::MergeConflict { current: Box::new(server_resp), conflicts: m.conflicts, proposed: m.value });
                            }
                            plain.bytes = canonical_json(&m.value);
                            if plain.bytes.len() > app.config.saves.max_save_bytes {
                                return Err(SaveError::TooLarge { limit: app.config.saves.max_save_bytes });
                            }
                            sealed = codec::seal(&app.save_cipher, &plain.bytes, app.config.saves.zstd_level, &aad);
                            merged = true;
                            conflicts = m.conflicts;
                        }
                    }
                    metrics::counter!("aethex_save_conflicts_total", "outcome" => "resolved").increment(1);
                }
            }

            let (prev_version, new_slot) = if target_slot == slot { (current_version, current.is_none()) } else { (0, true) };
            let cfg = &app.config.saves;
            if new_slot && store::slot_count(&tx, &actor.user_id, &actor.game_id).await? >= cfg.max_slots as i64 {
                return Err(SaveError::SlotLimit { limit: cfg.max_slots });
            }
            let version = prev_version + 1;
            let prune_upto = version - cfg.versions_kept.max(1) as i64;
            let used = store::used_bytes(&tx, &actor.user_id, &actor.game_id).await?;
            let freed = if prune_upto > 0 { store::bytes_upto(&tx, &actor.user_id, &actor.game_id, &target_slot, prune_upto).await? } else { 0 };
            if used - freed + sealed.stored_bytes > actor.quota_bytes {
                return Err(SaveError::Quota { used, quota: actor.quota_bytes, needed: sealed.stored_bytes });
            }
            let row = SaveRow {
                id: save_id,
                user_id: actor.user_id.clone(),
                game_id: actor.game_id.clone(),
                slot_name: target_slot.clone(),
                version,
                created_at: crate::clock::now(),
                size_bytes: plain.bytes.len() as i64,
                stored_bytes: sealed.stored_bytes,
                checksum: codec::checksum(&plain.bytes),
                compressed: sealed.compressed,
                content_type: plain.content_type.to_string(),
                key_id: sealed.key_id,
                metadata: plain.metadata.take(),
                blob: Some(sealed.blob),
            };
            store::insert(&tx, &row).await?;
            let saves = replication::rows::table("saves");
            out.upsert(&tx, saves, replication::rows::save(&row)).await?;
            if prune_upto > 0 {
                for id in store::ids_upto(&tx, &actor.user_id, &actor.game_id, &target_slot, prune_upto).await? {
                    out.delete(&tx, saves, replication::rows::save_key(&id)).await?;
                }
                store::prune_upto(&tx, &actor.user_id, &actor.game_id, &target_slot, prune_upto).await?;
            }
            Ok(SaveResponse { metadata: metadata_of(&row), merged, conflicts })
        })
        .await?;
    metrics::counter!("aethex_saves_written_total").increment(1);
    metrics::counter!("aethex_save_bytes_written_total").increment(resp.metadata.size_bytes as u64);
    Ok(resp)
}

/// `<slot>.conflict-<n>` for the first free n (the name shortened to fit the limit).
async fn free_conflict_slot(conn: &crate::db::Connection, actor: &SaveActor, slot: &str) -> SaveResult<String> {
    for n in 1..=100 {
        let suffix = format!(".conflict-{n}");
        let keep = SlotName::MAX_LEN - suffix.len();
        let base: String = slot.chars().take(keep).collect();
        let candidate = format!("{base}{suffix}");
        if store::latest(conn, &actor.user_id, &actor.game_id, &candidate, false).await?.is_none() {
            return Ok(candidate);
        }
    }
    Err(Invalid::new("slot_name", "too many conflict copies of this slot; delete some").into())
}

/// Loads a slot's newest version, a given version, or a version by save id.
pub async fn load(app: &AppState, actor: &SaveActor, slot_or_id: &str, version: Option<i64>) -> SaveResult<LoadResponse> {
    let conn_guard = app.db.reader().await;
    let conn = &*conn_guard;
    let row = if uuid::Uuid::parse_str(slot_or_id).is_ok() {
        store::by_id(conn, &actor.user_id, &actor.game_id, slot_or_id).await?
    } else {
        let slot = parse_slot(slot_or_id)?;
        match version {
            Some(v) => store::version(conn, &actor.user_id, &actor.game_id, slot.as_str(), v).await?,
            None => store::latest(conn, &actor.user_id, &actor.game_id, slot.as_str(), true).await?,
        }
    };
    let row = row.ok_or(SaveError::NotFound)?;
    load_response(app, &row)
}

pub async fn list(app: &AppState, actor: &SaveActor) -> SaveResult<SaveList> {
    let conn_guard = app.db.reader().await;
    let conn = &*conn_guard;
    let rows = store::list_latest(conn, &actor.user_id, &actor.game_id).await?;
    let used_bytes = store::used_bytes(conn, &actor.user_id, &actor.game_id).await?;
    let saves = rows
        .iter()
        .map(|r| {
            let metadata = metadata_of(r);
            SaveListEntry { name: r.slot_name.clone(), size: r.size_bytes, metadata }
        })
        .collect();
    Ok(SaveList { saves, used_bytes, quota_bytes: actor.quota_bytes })
}

pub async fn history(app: &AppState, actor: &SaveActor, slot: Option<&str>) -> SaveResult<SaveHistory> {
    let slot = slot.map(parse_slot).transpose()?;
    let rows = store::history(&*app.db.reader().await, &actor.user_id, &actor.game_id, slot.as_ref().map(|s| s.as_str())).await?;
    Ok(SaveHistory { versions: rows.iter().map(metadata_of).collect() })
}

/// Deletes a slot and all its versions. `slot_or_id`: the slot's name, or the save id of
/// any of its versions (the seed's `DELETE /api/v1/saves/:user_id/:save_id`).
pub async fn delete(app: &AppState, actor: &SaveActor, slot_or_id: &str) -> SaveResult<DeleteResponse> {
    let slot = if uuid::Uuid::parse_str(slot_or_id).is_ok() {
        let row = store::by_id(&*app.db.reader().await, &actor.user_id, &actor.game_id, slot_or_id).await?.ok_or(SaveError::NotFound)?;
        parse_slot(&row.slot_name)?
    } else {
        parse_slot(slot_or_id)?
    };
    let (u, g, sl) = (actor.user_id.clone(), actor.game_id.clone(), slot.as_str().to_string());
    let n = app
        .db
        .write_replicated(move |c, out| async move {
            let n = store::delete_slot(&c, &u, &g, &sl).await?;
            if n > 0 {
                out.delete(&c, replication::rows::table("saves"), replication::rows::slot_filter(&u, &g, &sl)).await?;
            }
            Ok::<u64, SaveError>(n)
        })
        .await?;
    if n == 0 {
        return Err(SaveError::NotFound);
    }
    Ok(DeleteResponse { slot_name: slot.into_inner(), versions_deleted: n })
}

/// A version's plain bytes by save id, whoever owns it (for edges, which check the
/// owner against their replica before asking).
pub async fn plain_by_id(app: &AppState, save_id: &str) -> SaveResult<(SaveRow, Vec<u8>)> {
    if uuid::Uuid::parse_str(save_id).is_err() {
        return Err(Invalid::new("save_id", "save_id must be a UUID").into());
    }
    let row = store::by_id_any_owner(&*app.db.reader().await, save_id).await?.ok_or(SaveError::NotFound)?;
    let bytes = open_row(app, &row)?;
    Ok((row, bytes))
}

/// Writes a kept version's data (and metadata) as the slot's next version.
pub async fn restore(app: &AppState, actor: &SaveActor, slot: &str, version: i64) -> SaveResult<SaveResponse> {
    let slot = parse_slot(slot)?;
    let row = store::version(&*app.db.reader().await, &actor.user_id, &actor.game_id, slot.as_str(), version).await?.ok_or(SaveError::NotFound)?;
    let bytes = open_row(app, &row)?;
    let content_type = if row.content_type == "json" { "json" } else { "binary" };
    let plain = Plain { bytes, content_type, metadata: row.metadata.clone() };
    write_version(app, actor, slot.as_str(), plain, None, ConflictPolicy::Overwrite, None).await
}
