//! The console's SQL: the players of a game, bans, A/B tests and the audit log.

use crate::db::Connection;
use libsql::params;
use serde_json::{json, Value};

use crate::db::DbResult;

/// Whether `user` is banned from `game`.
pub async fn is_banned(c: &Connection, game: &str, user: &str) -> DbResult<bool> {
    let rows = c.query("SELECT 1 FROM game_bans WHERE game_id = ?1 AND user_id = ?2", params![game, user]).await?;
    Ok(crate::db::first_row(rows).await?.is_some())
}

/// The game's players, newest activity first: those whose username or email is LIKE
/// `pattern` (`\` escapes), or whose id is `id`; every player without a pattern.
pub async fn players(c: &Connection, game: &str, pattern: Option<&str>, id: &str, limit: i64) -> DbResult<Vec<Value>> {
    let mut rows = c
        .query(
            "SELECT u.id, u.username, u.email, u.created_at, MAX(COALESCE(s.last_used_at, s.created_at)) AS seen,
                    (SELECT reason FROM game_bans b WHERE b.game_id = ?1 AND b.user_id = u.id)
             FROM users u JOIN sessions s ON s.user_id = u.id AND s.game_id = ?1
             WHERE ?2 IS NULL OR u.username LIKE ?2 ESCAPE '\\' OR u.email LIKE ?2 ESCAPE '\\' OR u.id = ?3
             GROUP BY u.id ORDER BY seen DESC LIMIT ?4",
            params![game, pattern, id, limit],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        let ban: Option<String> = r.get(5)?;
        out.push(json!({
            "user_id": r.get::<String>(0)?,
            "username": r.get::<String>(1)?,
            "email": r.get::<Option<String>>(2)?,
            "created_at": r.get::<String>(3)?,
            "last_seen": r.get::<Option<String>>(4)?,
            "banned": ban.is_some(),
            "ban_reason": ban,
        }));
    }
    Ok(out)
}

/// Bans a player from a game and revokes their sessions of it, in one write.
pub async fn ban(c: &Connection, game: &str, user: &str, reason: &str, by: &str, now: &str) -> DbResult<()> {
    c.execute(
        "INSERT INTO game_bans (game_id, user_id, reason, banned_by, banned_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (game_id, user_id) DO UPDATE SET reason = excluded.reason, banned_by = excluded.banned_by, banned_at = excluded.banned_at",
        params![game, user, reason, by, now],
    )
    .await?;
    c.execute(
        "UPDATE sessions SET revoked_at = ?3, revoked_reason = 'banned' WHERE game_id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        params![game, user, now],
    )
    .await?;
    Ok(())
}

/// Lifts a ban; the number of bans removed (0 or 1).
pub async fn unban(c: &Connection, game: &str, user: &str) -> DbResult<u64> {
    Ok(c.execute("DELETE FROM game_bans WHERE game_id = ?1 AND user_id = ?2", params![game, user]).await?)
}

/// The game's A/B tests.
pub async fn experiments(c: &Connection, game: &str) -> DbResult<Vec<Value>> {
    let mut rows = c
        .query(
            "SELECT experiment_id, variants, conversion_event, active, updated_at FROM experiments WHERE game_id = ?1 ORDER BY experiment_id",
            params![game],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(json!({
            "experiment_id": r.get::<String>(0)?,
            "variants": serde_json::from_str::<Value>(&r.get::<String>(1)?).unwrap_or(Value::Null),
            "conversion_event": r.get::<String>(2)?,
            "active": r.get::<i64>(3)? != 0,
            "updated_at": r.get::<String>(4)?,
        }));
    }
    Ok(out)
}

/// Audit entries of the game and its organization with ids below `before`, newest first.
pub async fn audit(c: &Connection, game: &str, org: &str, before: i64, limit: i64) -> DbResult<Vec<Value>> {
    let mut rows = c
        .query(
            "SELECT id, at, actor_id, actor_name, org_id, game_id, method, path, status, request_id FROM audit_log
             WHERE (game_id = ?1 OR org_id = ?2) AND id < ?3 ORDER BY id DESC LIMIT ?4",
            params![game, org, before, limit],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        let text = |i: i32| r.get::<Option<String>>(i);
        out.push(json!({
            "id": r.get::<i64>(0)?, "at": text(1)?, "actor_id": text(2)?, "actor_name": text(3)?,
            "org_id": text(4)?, "game_id": text(5)?, "method": text(6)?, "path": text(7)?,
            "status": r.get::<i64>(8)?, "request_id": text(9)?,
        }));
    }
    Ok(out)
}
