//! SQL of achievements and statistics.

use std::collections::BTreeMap;

use crate::db::Connection;
use libsql::params;

use aethex_protocol::achievements::{Achievement, DefineAchievementRequest, StatSummary};

use crate::db::DbResult;

/// A definition and (for a player) their progress row.
pub struct Row {
    pub def: Achievement,
    pub progress: u64,
    pub unlocked_at: Option<String>,
}

const DEF_COLS: &str = "a.game_id, a.achievement_id, a.name, a.description, a.hidden, a.progress_target, a.icon_url, a.updated_at";

fn def_of(r: &crate::db::Row) -> DbResult<Achievement> {
    Ok(Achievement {
        game_id: r.get(0)?,
        achievement_id: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        hidden: r.get::<i64>(4)? != 0,
        progress_target: r.get::<i64>(5)? as u64,
        icon_url: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

/// Inserts or replaces a definition; `false` when the game is at its limit of definitions
/// (an existing one may always change).
pub async fn upsert(conn: &Connection, game: &str, id: &str, d: &DefineAchievementRequest, now: &str, max: u32) -> DbResult<bool> {
    let n = conn
        .execute(
            "INSERT INTO achievements (game_id, achievement_id, name, description, hidden, progress_target, icon_url, created_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8
             WHERE EXISTS (SELECT 1 FROM achievements WHERE game_id = ?1 AND achievement_id = ?2)
                OR (SELECT COUNT(*) FROM achievements WHERE game_id = ?1) < ?9
             ON CONFLICT (game_id, achievement_id) DO UPDATE SET name = excluded.name, description = excluded.description,
               hidden = excluded.hidden, progress_target = excluded.progress_target, icon_url = excluded.icon_url, updated_at = excluded.updated_at",
            params![
                game,
                id,
                d.name.clone(),
                d.description.clone(),
                d.hidden as i64,
                d.progress_target as i64,
                d.icon_url.clone(),
                now,
                i64::from(max)
            ],
        )
        .await?;
    Ok(n > 0)
}

pub async fn delete(conn: &Connection, game: &str, id: &str) -> DbResult<bool> {
    Ok(conn.execute("DELETE FROM achievements WHERE game_id = ?1 AND achievement_id = ?2", params![game, id]).await? > 0)
}

pub async fn definitions(conn: &Connection, game: &str) -> DbResult<Vec<Achievement>> {
    let mut rows =
        conn.query(&format!("SELECT {DEF_COLS} FROM achievements a WHERE a.game_id = ?1 ORDER BY a.achievement_id"), params![game]).await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(def_of(&r)?);
    }
    Ok(out)
}

/// Every definition of the game with the player's progress (0 / locked when none).
pub async fn of_player(conn: &Connection, game: &str, user: &str, only: Option<&str>) -> DbResult<Vec<Row>> {
    let mut rows = conn
        .query(
            &format!(
                "SELECT {DEF_COLS}, COALESCE(p.progress, 0), p.unlocked_at FROM achievements a
                 LEFT JOIN player_achievements p ON p.game_id = a.game_id AND p.achievement_id = a.achievement_id AND p.user_id = ?2
                 WHERE a.game_id = ?1 AND (?3 IS NULL OR a.achievement_id = ?3) ORDER BY a.achievement_id"
            ),
            params![game, user, only],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(Row { def: def_of(&r)?, progress: r.get::<i64>(8)? as u64, unlocked_at: r.get(9)? });
    }
    Ok(out)
}

/// Stores the player's progress (already made monotonic by the caller).
pub async fn set_progress(conn: &Connection, game: &str, id: &str, user: &str, progress: u64, unlocked_at: Option<&str>, now: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO player_achievements (game_id, achievement_id, user_id, progress, unlocked_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (game_id, user_id, achievement_id) DO UPDATE SET progress = excluded.progress,
           unlocked_at = COALESCE(player_achievements.unlocked_at, excluded.unlocked_at), updated_at = excluded.updated_at",
        params![game, id, user, progress as i64, unlocked_at, now],
    )
    .await?;
    Ok(())
}

pub async fn stats(conn: &Connection, game: &str, user: &str) -> DbResult<BTreeMap<String, i64>> {
    let mut rows = conn.query("SELECT stat, value FROM player_stats WHERE game_id = ?1 AND user_id = ?2", params![game, user]).await?;
    let mut out = BTreeMap::new();
    while let Some(r) = rows.next().await? {
        out.insert(r.get::<String>(0)?, r.get::<i64>(1)?);
    }
    Ok(out)
}

pub async fn write_stat(conn: &Connection, game: &str, user: &str, stat: &str, value: i64, now: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO player_stats (game_id, user_id, stat, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (game_id, user_id, stat) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![game, user, stat, value, now],
    )
    .await?;
    Ok(())
}

pub async fn summary(conn: &Connection, game: &str) -> DbResult<Vec<StatSummary>> {
    let mut rows = conn
        .query(
            "SELECT stat, COUNT(*), TOTAL(value), MIN(value), MAX(value), AVG(value) FROM player_stats WHERE game_id = ?1 GROUP BY stat ORDER BY stat",
            params![game],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(StatSummary {
            stat: r.get(0)?,
            players: r.get::<i64>(1)? as u64,
            // TOTAL: a float, so a sum past i64 saturates instead of failing the query.
            sum: r.get::<f64>(2)? as i64,
            min: r.get(3)?,
            max: r.get(4)?,
            avg: r.get(5)?,
        });
    }
    Ok(out)
}
