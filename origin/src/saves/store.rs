//! SQL for save versions.

use crate::db::Connection;
use libsql::params;

use crate::db::{flag, opt_text, DbResult};

/// One stored version (with or without its blob).
#[derive(Debug, Clone)]
pub struct SaveRow {
    pub id: String,
    pub user_id: String,
    pub game_id: String,
    pub slot_name: String,
    pub version: i64,
    pub created_at: String,
    pub size_bytes: i64,
    pub stored_bytes: i64,
    pub checksum: String,
    pub compressed: bool,
    pub content_type: String,
    pub key_id: String,
    pub metadata: Option<String>,
    /// Present when the query asked for it.
    pub blob: Option<Vec<u8>>,
}

const META_COLS: &str =
    "id, user_id, game_id, slot_name, version, created_at, size_bytes, stored_bytes, checksum, compressed, content_type, key_id, metadata";

fn row_to_save(row: &crate::db::Row, with_blob: bool) -> DbResult<SaveRow> {
    Ok(SaveRow {
        id: row.get(0)?,
        user_id: row.get(1)?,
        game_id: row.get(2)?,
        slot_name: row.get(3)?,
        version: row.get(4)?,
        created_at: row.get(5)?,
        size_bytes: row.get(6)?,
        stored_bytes: row.get(7)?,
        checksum: row.get(8)?,
        compressed: flag(row, 9)?,
        content_type: row.get(10)?,
        key_id: row.get(11)?,
        metadata: opt_text(row, 12)?,
        blob: if with_blob { Some(row.get::<Vec<u8>>(13)?) } else { None },
    })
}

async fn collect(mut rows: crate::db::Rows, with_blob: bool) -> DbResult<Vec<SaveRow>> {
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(row_to_save(&row, with_blob)?);
    }
    Ok(out)
}

fn cols(with_blob: bool) -> String {
    if with_blob {
        format!("{META_COLS}, data")
    } else {
        META_COLS.to_string()
    }
}

/// The newest version of a slot.
pub async fn latest(conn: &Connection, user: &str, game: &str, slot: &str, with_blob: bool) -> DbResult<Option<SaveRow>> {
    let rows = conn
        .query(
            &format!(
                "SELECT {} FROM cloud_saves WHERE user_id = ?1 AND game_id = ?2 AND slot_name = ?3 ORDER BY version DESC LIMIT 1",
                cols(with_blob)
            ),
            params![user, game, slot],
        )
        .await?;
    Ok(collect(rows, with_blob).await?.pop())
}

pub async fn version(conn: &Connection, user: &str, game: &str, slot: &str, version: i64) -> DbResult<Option<SaveRow>> {
    let rows = conn
        .query(
            &format!("SELECT {} FROM cloud_saves WHERE user_id = ?1 AND game_id = ?2 AND slot_name = ?3 AND version = ?4", cols(true)),
            params![user, game, slot, version],
        )
        .await?;
    Ok(collect(rows, true).await?.pop())
}

/// A version by its save id, only if it belongs to this user and game.
pub async fn by_id(conn: &Connection, user: &str, game: &str, save_id: &str) -> DbResult<Option<SaveRow>> {
    let rows = conn
        .query(&format!("SELECT {} FROM cloud_saves WHERE id = ?1 AND user_id = ?2 AND game_id = ?3", cols(true)), params![save_id, user, game])
        .await?;
    Ok(collect(rows, true).await?.pop())
}

/// A version by its save id, whoever owns it.
pub async fn by_id_any_owner(conn: &Connection, save_id: &str) -> DbResult<Option<SaveRow>> {
    let rows = conn.query(&format!("SELECT {} FROM cloud_saves WHERE id = ?1", cols(true)), params![save_id]).await?;
    Ok(collect(rows, true).await?.pop())
}

/// The newest version of every slot of a user in a game.
pub async fn list_latest(conn: &Connection, user: &str, game: &str) -> DbResult<Vec<SaveRow>> {
    let rows = conn
        .query(
            &format!(
                "SELECT {META_COLS} FROM cloud_saves c WHERE user_id = ?1 AND game_id = ?2
                 AND version = (SELECT MAX(version) FROM cloud_saves m
                                WHERE m.user_id = c.user_id AND m.game_id = c.game_id AND m.slot_name = c.slot_name)
                 ORDER BY slot_name"
            ),
            params![user, game],
        )
        .await?;
    collect(rows, false).await
}

/// Kept versions, newest first; one slot or all.
pub async fn history(conn: &Connection, user: &str, game: &str, slot: Option<&str>) -> DbResult<Vec<SaveRow>> {
    let rows = match slot {
        Some(s) => {
            conn.query(
                &format!(
                    "SELECT {META_COLS} FROM cloud_saves WHERE user_id = ?1 AND game_id = ?2 AND slot_name = ?3 ORDER BY version DESC LIMIT 1000"
                ),
                params![user, game, s],
            )
            .await?
        }
        None => {
            conn.query(
                &format!("SELECT {META_COLS} FROM cloud_saves WHERE user_id = ?1 AND game_id = ?2 ORDER BY slot_name, version DESC LIMIT 1000"),
                params![user, game],
            )
            .await?
        }
    };
    collect(rows, false).await
}

pub async fn used_bytes(conn: &Connection, user: &str, game: &str) -> DbResult<i64> {
    let rows = conn.query("SELECT COALESCE(SUM(stored_bytes), 0) FROM cloud_saves WHERE user_id = ?1 AND game_id = ?2", params![user, game]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0))
}

pub async fn slot_count(conn: &Connection, user: &str, game: &str) -> DbResult<i64> {
    let rows = conn.query("SELECT COUNT(DISTINCT slot_name) FROM cloud_saves WHERE user_id = ?1 AND game_id = ?2", params![user, game]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0))
}

/// Bytes held by versions at or below `upto` (the ones the next prune removes).
pub async fn bytes_upto(conn: &Connection, user: &str, game: &str, slot: &str, upto: i64) -> DbResult<i64> {
    let rows = conn
        .query(
            "SELECT COALESCE(SUM(stored_bytes), 0) FROM cloud_saves WHERE user_id = ?1 AND game_id = ?2 AND slot_name = ?3 AND version <= ?4",
            params![user, game, slot, upto],
        )
        .await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0))
}

pub async fn insert(conn: &Connection, r: &SaveRow) -> DbResult<()> {
    conn.execute(
        "INSERT INTO cloud_saves (id, user_id, game_id, slot_name, data, metadata, version, checksum, size_bytes,
                                  created_at, updated_at, content_type, compressed, stored_bytes, key_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14)",
        params![
            r.id.clone(),
            r.user_id.clone(),
            r.game_id.clone(),
            r.slot_name.clone(),
            r.blob.clone().unwrap_or_default(),
            crate::db::nullable(r.metadata.as_deref()),
            r.version,
            r.checksum.clone(),
            r.size_bytes,
            r.created_at.clone(),
            r.content_type.clone(),
            r.compressed as i64,
            r.stored_bytes,
            r.key_id.clone()
        ],
    )
    .await?;
    Ok(())
}

/// Save ids of the versions at or below `upto` (the ones the next prune removes).
pub async fn ids_upto(conn: &Connection, user: &str, game: &str, slot: &str, upto: i64) -> DbResult<Vec<String>> {
    let mut rows = conn
        .query("SELECT id FROM cloud_saves WHERE user_id = ?1 AND game_id = ?2 AND slot_name = ?3 AND version <= ?4", params![user, game, slot, upto])
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(r.get(0)?);
    }
    Ok(out)
}

pub async fn prune_upto(conn: &Connection, user: &str, game: &str, slot: &str, upto: i64) -> DbResult<u64> {
    Ok(conn
        .execute("DELETE FROM cloud_saves WHERE user_id = ?1 AND game_id = ?2 AND slot_name = ?3 AND version <= ?4", params![user, game, slot, upto])
        .await?)
}

pub async fn delete_slot(conn: &Connection, user: &str, game: &str, slot: &str) -> DbResult<u64> {
    Ok(conn.execute("DELETE FROM cloud_saves WHERE user_id = ?1 AND game_id = ?2 AND slot_name = ?3", params![user, game, slot]).await?)
}

pub async fn user_exists(conn: &Connection, user: &str) -> DbResult<bool> {
    let rows = conn.query("SELECT 1 FROM users WHERE id = ?1", params![user]).await?;
    Ok(crate::db::first_row(rows).await?.is_some())
}
