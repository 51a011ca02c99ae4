//! The region registry's SQL: one row per region, written by its relay's heartbeats.

use aethex_protocol::regions::Region;
use libsql::{params, Connection};

use crate::db::DbResult;

/// Inserts a region or records its heartbeat, with the fingerprint of the relay key it
/// presented.
pub async fn upsert(c: &Connection, r: &Region, key_fingerprint: &str) -> DbResult<()> {
    c.execute(
        "INSERT INTO regions (name, url, ping_url, capacity, load, last_seen_ms, key_fingerprint) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (name) DO UPDATE SET url = excluded.url, ping_url = excluded.ping_url, capacity = excluded.capacity,
           load = excluded.load, last_seen_ms = excluded.last_seen_ms, key_fingerprint = excluded.key_fingerprint",
        params![r.name.clone(), r.url.clone(), r.ping_url.clone(), r.capacity, r.load, r.last_seen_ms, key_fingerprint.to_string()],
    )
    .await?;
    Ok(())
}

/// The fingerprint of the relay key a region registered with, if it is known.
pub async fn key_fingerprint(c: &Connection, region: &str) -> DbResult<Option<String>> {
    let rows = c.query("SELECT key_fingerprint FROM regions WHERE name = ?1", params![region]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<Option<String>>(0)).transpose()?.flatten())
}
