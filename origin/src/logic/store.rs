//! SQL for game logic: component versions, the active version, and key-value storage.

use libsql::params;

use crate::db::{first_row, Connection, DbError, DbResult};

/// A kept version, without its bytes.
#[derive(Debug, Clone)]
pub struct VersionRow {
    pub game_id: String,
    pub version: i64,
    pub hash: String,
    pub size_bytes: i64,
    /// JSON.
    pub registration: String,
    pub created_by: String,
    pub created_at: String,
}

const VERSION_COLS: &str = "game_id, version, hash, size_bytes, registration, created_by, created_at";

fn version_from_row(r: &crate::db::Row) -> DbResult<VersionRow> {
    Ok(VersionRow {
        game_id: r.get(0)?,
        version: r.get(1)?,
        hash: r.get(2)?,
        size_bytes: r.get(3)?,
        registration: r.get(4)?,
        created_by: r.get(5)?,
        created_at: r.get(6)?,
    })
}

/// Stores the next version of the game's component and returns its number.
pub async fn insert_version(conn: &Connection, row: &VersionRow, wasm: Vec<u8>) -> DbResult<i64> {
    let rows = conn.query("SELECT COALESCE(MAX(version), 0) + 1 FROM game_logic_versions WHERE game_id = ?1", params![row.game_id.clone()]).await?;
    let version: i64 = first_row(rows).await?.ok_or_else(|| DbError::Corrupt("no next logic version".into()))?.get(0)?;
    conn.execute(
        "INSERT INTO game_logic_versions (game_id, version, hash, size_bytes, wasm, registration, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            row.game_id.clone(),
            version,
            row.hash.clone(),
            row.size_bytes,
            wasm,
            row.registration.clone(),
            row.created_by.clone(),
            row.created_at.clone()
        ],
    )
    .await?;
    Ok(version)
}

pub async fn versions(conn: &Connection, game: &str) -> DbResult<Vec<VersionRow>> {
    let mut rows =
        conn.query(&format!("SELECT {VERSION_COLS} FROM game_logic_versions WHERE game_id = ?1 ORDER BY version DESC"), params![game]).await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(version_from_row(&r)?);
    }
    Ok(out)
}

pub async fn version(conn: &Connection, game: &str, version: i64) -> DbResult<Option<VersionRow>> {
    let rows =
        conn.query(&format!("SELECT {VERSION_COLS} FROM game_logic_versions WHERE game_id = ?1 AND version = ?2"), params![game, version]).await?;
    first_row(rows).await?.map(|r| version_from_row(&r)).transpose()
}

pub async fn wasm(conn: &Connection, game: &str, version: i64) -> DbResult<Option<Vec<u8>>> {
    let rows = conn.query("SELECT wasm FROM game_logic_versions WHERE game_id = ?1 AND version = ?2", params![game, version]).await?;
    first_row(rows).await?.map(|r| r.get::<Vec<u8>>(0)).transpose().map_err(Into::into)
}

/// The version the game runs, if any.
pub async fn active(conn: &Connection, game: &str) -> DbResult<Option<i64>> {
    let rows = conn.query("SELECT version FROM game_logic_active WHERE game_id = ?1", params![game]).await?;
    Ok(first_row(rows).await?.map(|r| r.get::<Option<i64>>(0)).transpose()?.flatten())
}

pub async fn set_active(conn: &Connection, game: &str, version: Option<i64>, now: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO game_logic_active (game_id, version, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (game_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
        params![game, version, now],
    )
    .await?;
    Ok(())
}

/// Deletes all but the newest `keep` versions, never the active one.
pub async fn prune(conn: &Connection, game: &str, keep: u32) -> DbResult<u64> {
    conn.execute(
        "DELETE FROM game_logic_versions WHERE game_id = ?1
           AND version NOT IN (SELECT version FROM game_logic_versions WHERE game_id = ?1 ORDER BY version DESC LIMIT ?2)
           AND version IS NOT (SELECT version FROM game_logic_active WHERE game_id = ?1)",
        params![game, i64::from(keep.max(1))],
    )
    .await
    .map_err(Into::into)
}

pub async fn kv_get(conn: &Connection, game: &str, key: &str) -> DbResult<Option<Vec<u8>>> {
    let rows = conn.query("SELECT value FROM game_kv WHERE game_id = ?1 AND key = ?2", params![game, key]).await?;
    first_row(rows).await?.map(|r| r.get::<Vec<u8>>(0)).transpose().map_err(Into::into)
}

/// Writes a key. A new key is refused (`Ok(false)`) when the game already holds `max_keys`.
pub async fn kv_set(conn: &Connection, game: &str, key: &str, value: Vec<u8>, max_keys: i64, now: &str) -> DbResult<bool> {
    let changed = conn
        .execute("UPDATE game_kv SET value = ?3, updated_at = ?4 WHERE game_id = ?1 AND key = ?2", params![game, key, value.clone(), now])
        .await?;
    if changed > 0 {
        return Ok(true);
    }
    let inserted = conn
        .execute(
            "INSERT INTO game_kv (game_id, key, value, updated_at)
             SELECT ?1, ?2, ?3, ?4 WHERE (SELECT COUNT(*) FROM game_kv WHERE game_id = ?1) < ?5",
            params![game, key, value, now, max_keys],
        )
        .await?;
    Ok(inserted > 0)
}

pub async fn kv_delete(conn: &Connection, game: &str, key: &str) -> DbResult<bool> {
    Ok(conn.execute("DELETE FROM game_kv WHERE game_id = ?1 AND key = ?2", params![game, key]).await? > 0)
}

/// Whether the user has ever signed in to the game (a session of it, live or not): the
/// players a game's logic may look up.
pub async fn plays(conn: &Connection, game: &str, user: &str) -> DbResult<bool> {
    let rows = conn.query("SELECT 1 FROM sessions WHERE user_id = ?1 AND game_id = ?2 LIMIT 1", params![user, game]).await?;
    Ok(first_row(rows).await?.is_some())
}
