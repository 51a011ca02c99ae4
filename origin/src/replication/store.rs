//! The outbox as stored: replication metadata (epoch, pruned position), the head, and
//! the changes after a position.

use crate::db::Connection;
use aethex_protocol::replica::{Change, Op};
use libsql::params;
use serde_json::{Map, Value};

use crate::db::{DbError, DbResult};
pub(crate) async fn meta(conn: &Connection, key: &str) -> DbResult<Option<String>> {
    let rows = conn.query("SELECT value FROM replication_meta WHERE key = ?1", params![key]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<String>(0)).transpose()?)
}

pub(crate) async fn set_meta(conn: &Connection, key: &str, value: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO replication_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .await?;
    Ok(())
}

/// This database's epoch (made by the migration).
pub async fn epoch(conn: &Connection) -> DbResult<String> {
    meta(conn, "epoch").await?.ok_or_else(|| DbError::Corrupt("replication epoch missing".into()))
}

pub(crate) async fn pruned_upto(conn: &Connection) -> DbResult<i64> {
    Ok(meta(conn, "pruned_upto").await?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Newest position in the database (also when the outbox has been pruned empty).
pub(crate) async fn head(conn: &Connection) -> DbResult<i64> {
    let rows = conn.query("SELECT MAX(position) FROM replication_outbox", ()).await?;
    let max: Option<i64> = match crate::db::first_row(rows).await? {
        Some(r) => match r.get_value(0)? {
            libsql::Value::Integer(v) => Some(v),
            _ => None,
        },
        None => None,
    };
    Ok(match max {
        Some(m) => m,
        None => pruned_upto(conn).await?,
    })
}

fn parse_change(position: i64, table: String, op: &str, row: &str) -> DbResult<Change> {
    let op = match op {
        "upsert" => Op::Upsert,
        "delete" => Op::Delete,
        other => return Err(DbError::Corrupt(format!("outbox op {other}"))),
    };
    let row: Map<String, Value> = serde_json::from_str(row).map_err(|e| DbError::Corrupt(format!("outbox row {position}: {e}")))?;
    Ok(Change { position, table, op, row })
}

pub(crate) async fn changes_after(conn: &Connection, after: i64, limit: u32) -> DbResult<Vec<Change>> {
    let mut rows = conn
        .query(
            "SELECT position, tbl, op, row FROM replication_outbox WHERE position > ?1 ORDER BY position LIMIT ?2",
            params![after, i64::from(limit)],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(parse_change(r.get(0)?, r.get(1)?, &r.get::<String>(2)?, &r.get::<String>(3)?)?);
    }
    Ok(out)
}
