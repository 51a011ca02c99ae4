//! SQL for matchmaking: modes, live regions, and the checks on a ticket's players.

use std::collections::HashMap;

use crate::db::Connection;
use libsql::params;

use aethex_protocol::matchmaking::ModeConfig;

use super::ModeEntry;
use crate::db::{DbError, DbResult};

const MODE_COLS: &str = "game_id, mode, match_size, max_wait_secs, skill_widen_per_sec, skill_window, max_rtt_ms, updated_at";

fn u32_col(r: &crate::db::Row, idx: i32) -> DbResult<u32> {
    let v: i64 = r.get(idx)?;
    u32::try_from(v).map_err(|_| DbError::Corrupt(format!("matchmaking_modes column {idx}: {v}")))
}

fn mode_from_row(r: &crate::db::Row) -> DbResult<ModeEntry> {
    Ok(ModeEntry {
        game_id: r.get(0)?,
        mode: r.get(1)?,
        config: ModeConfig {
            match_size: u32_col(r, 2)?,
            max_wait_secs: u32_col(r, 3)?,
            skill_widen_per_sec: r.get(4)?,
            skill_window: r.get(5)?,
            max_rtt_ms: u32_col(r, 6)?,
        },
        updated_at: r.get(7)?,
    })
}

pub async fn upsert_mode(conn: &Connection, m: &ModeEntry) -> DbResult<()> {
    let c = &m.config;
    conn.execute(
        "INSERT INTO matchmaking_modes (game_id, mode, match_size, max_wait_secs, skill_widen_per_sec, skill_window, max_rtt_ms, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
         ON CONFLICT (game_id, mode) DO UPDATE SET match_size = excluded.match_size, max_wait_secs = excluded.max_wait_secs,
           skill_widen_per_sec = excluded.skill_widen_per_sec, skill_window = excluded.skill_window, max_rtt_ms = excluded.max_rtt_ms,
           updated_at = excluded.updated_at",
        params![m.game_id.clone(), m.mode.clone(), c.match_size, c.max_wait_secs, c.skill_widen_per_sec, c.skill_window, c.max_rtt_ms, m.updated_at.clone()],
    )
    .await?;
    Ok(())
}

pub async fn mode(conn: &Connection, game: &str, mode: &str) -> DbResult<Option<ModeEntry>> {
    let rows = conn.query(&format!("SELECT {MODE_COLS} FROM matchmaking_modes WHERE game_id = ?1 AND mode = ?2"), params![game, mode]).await?;
    crate::db::first_row(rows).await?.map(|r| mode_from_row(&r)).transpose()
}

pub async fn modes_of_game(conn: &Connection, game: &str) -> DbResult<Vec<ModeEntry>> {
    let mut rows = conn.query(&format!("SELECT {MODE_COLS} FROM matchmaking_modes WHERE game_id = ?1 ORDER BY mode"), params![game]).await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(mode_from_row(&r)?);
    }
    Ok(out)
}

/// Regions whose relay sent a heartbeat at or after `since_ms`: name -> relay URL.
pub async fn live_regions(conn: &Connection, since_ms: i64) -> DbResult<HashMap<String, String>> {
    let mut rows = conn.query("SELECT name, url FROM regions WHERE last_seen_ms >= ?1", params![since_ms]).await?;
    let mut out = HashMap::new();
    while let Some(r) = rows.next().await? {
        out.insert(r.get::<String>(0)?, r.get::<String>(1)?);
    }
    Ok(out)
}

/// Whether the account exists and is not disabled.
pub async fn user_active(conn: &Connection, user: &str) -> DbResult<bool> {
    let rows = conn.query("SELECT 1 FROM users WHERE id = ?1 AND is_active = 1", params![user]).await?;
    Ok(crate::db::first_row(rows).await?.is_some())
}

/// Whether the player holds a live session (a token) of `game`.
pub async fn has_game_session(conn: &Connection, user: &str, game: &str) -> DbResult<bool> {
    let rows = conn
        .query(
            "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.user_id = ?1 AND s.game_id = ?2 AND s.revoked_at IS NULL AND s.expires_at > ?3 AND u.is_active = 1 LIMIT 1",
            params![user, game, crate::clock::now()],
        )
        .await?;
    Ok(crate::db::first_row(rows).await?.is_some())
}
