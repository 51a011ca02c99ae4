//! The privacy domain's SQL: every table that holds a player's rows, read for an export
//! (secrets left out) and deleted for an erasure, and the deletion receipts.

use crate::db::Connection;
use libsql::params;
use serde_json::{json, Map, Value};

use crate::db::{DbResult, Outbox};
use crate::replication::rows;

/// Columns never exported (secrets and internal counters).
const SECRET_COLUMNS: &[&str] = &["password", "device_hash", "token_hash", "access_token", "refresh_token", "data", "failed_logins", "locked_until"];

/// (table, column naming the player, column naming the game if the table is per game).
pub const PLAYER_TABLES: &[(&str, &str, Option<&str>)] = &[
    ("oauth_connections", "user_id", None),
    ("sessions", "user_id", None),
    ("org_members", "user_id", None),
    ("cloud_saves", "user_id", Some("game_id")),
    ("leaderboard_entries", "user_id", Some("game_id")),
    ("leaderboard_archive", "user_id", Some("game_id")),
    ("player_achievements", "user_id", Some("game_id")),
    ("player_stats", "user_id", Some("game_id")),
    ("entitlements", "user_id", Some("game_id")),
    ("analytics_consent", "user_id", Some("game_id")),
    ("friend_edges", "user_id", None),
    ("share_links", "user_id", Some("game_id")),
];

fn value_json(v: libsql::Value) -> Value {
    match v {
        libsql::Value::Null => Value::Null,
        libsql::Value::Integer(i) => json!(i),
        libsql::Value::Real(f) => json!(f),
        libsql::Value::Text(t) => serde_json::from_str::<Value>(&t).ok().filter(|v| v.is_object() || v.is_array()).unwrap_or(Value::String(t)),
        libsql::Value::Blob(b) => json!(format!("{} bytes", b.len())),
    }
}

/// The rows of a query as JSON objects, secret columns left out.
pub async fn rows_json(conn: &Connection, sql: &str, args: Vec<libsql::Value>) -> DbResult<Vec<Value>> {
    let mut rows = conn.query(sql, args).await?;
    let names: Vec<String> = (0..rows.column_count()).map(|i| rows.column_name(i).unwrap_or_default().to_string()).collect();
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        let mut obj = Map::new();
        for (i, name) in names.iter().enumerate() {
            if !SECRET_COLUMNS.contains(&name.as_str()) {
                obj.insert(name.clone(), value_json(r.get_value(i as i32)?));
            }
        }
        out.push(Value::Object(obj));
    }
    Ok(out)
}

/// Organizations the account owns (an account that owns any cannot be deleted).
pub async fn owned_orgs(c: &Connection, user: &str) -> DbResult<i64> {
    let rows = c.query("SELECT COUNT(*) FROM org_members WHERE user_id = ?1 AND role = 'owner'", params![user]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0))
}

pub async fn username(c: &Connection, user: &str) -> DbResult<Option<String>> {
    let rows = c.query("SELECT username FROM users WHERE id = ?1", params![user]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<String>(0)).transpose()?)
}

/// Deletes the player's rows (in `game` only, when given; else every row and the
/// account): replicated tables through the outbox too, so edges drop them. Returns the
/// count per table.
pub async fn erase_rows(c: &Connection, out: &Outbox, u: &str, g: Option<&str>) -> DbResult<Map<String, Value>> {
    let mut counts = Map::new();
    let scoped = |t: &str| match g {
        Some(_) => format!("DELETE FROM {t} WHERE user_id = ?1 AND game_id = ?2"),
        None => format!("DELETE FROM {t} WHERE user_id = ?1"),
    };
    let args = || -> Vec<libsql::Value> {
        match g {
            Some(g) => vec![u.into(), g.into()],
            None => vec![u.into()],
        }
    };
    // Replicated rows go through the outbox, so edges drop them too.
    for (table, replica) in [
        ("cloud_saves", "saves"),
        ("leaderboard_entries", "leaderboard_entries"),
        ("entitlements", "entitlements"),
        ("player_achievements", "player_achievements"),
        ("analytics_consent", "analytics_consent"),
    ] {
        let n = c.execute(&scoped(table), args()).await?;
        counts.insert(table.to_string(), json!(n));
        let filter = match g {
            Some(g) => rows::filter(&[("user_id", u), ("game_id", g)]),
            None => rows::filter(&[("user_id", u)]),
        };
        out.delete(c, rows::table(replica), filter).await?;
    }
    for table in ["leaderboard_archive", "player_stats", "share_links", "score_submits"] {
        let n = c.execute(&scoped(table), args()).await?;
        counts.insert(table.to_string(), json!(n));
    }
    if g.is_none() {
        c.execute("DELETE FROM friend_edges WHERE user_id = ?1 OR other_id = ?1", params![u]).await?;
        let n = c.execute("DELETE FROM users WHERE id = ?1", params![u]).await?;
        counts.insert("account".into(), json!(n));
    }
    Ok(counts)
}

/// Keeps an erasure's receipt.
pub async fn insert_receipt(c: &Connection, r: &Value) -> DbResult<()> {
    let field = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    c.execute(
        "INSERT INTO deletion_receipts (receipt_id, subject, scope, requested_by, deleted_at, receipt) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![field("receipt_id"), field("subject"), field("scope"), field("requested_by"), field("deleted_at"), r.to_string()],
    )
    .await?;
    Ok(())
}
