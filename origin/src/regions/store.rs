//! The region registry's SQL: one row per region, written by its relay's heartbeats.

use crate::db::Connection;
use aethex_protocol::regions::Region;
use libsql::params;

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

/// A relay of a region, as its heartbeats describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayInstance {
    /// Its own URL (where origin opens rooms; players of those rooms connect to it).
    pub url: String,
    pub capacity: u32,
    pub load: u32,
    pub last_seen_ms: i64,
    /// The relay key it registered with.
    pub key_fingerprint: String,
}

/// Inserts a relay of a region or records its heartbeat; forgets relays of any region not
/// heard from since `forget_before_ms`.
pub async fn upsert_relay(c: &Connection, region: &str, r: &RelayInstance, forget_before_ms: i64) -> DbResult<()> {
    c.execute(
        "INSERT INTO region_relays (region, url, capacity, load, last_seen_ms, key_fingerprint) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (region, url) DO UPDATE SET capacity = excluded.capacity, load = excluded.load,
           last_seen_ms = excluded.last_seen_ms, key_fingerprint = excluded.key_fingerprint",
        params![region, r.url.clone(), r.capacity, r.load, r.last_seen_ms, r.key_fingerprint.clone()],
    )
    .await?;
    c.execute("DELETE FROM region_relays WHERE last_seen_ms < ?1", params![forget_before_ms]).await?;
    Ok(())
}

/// Capacity and load summed over the relays of `region` heard from since `since_ms`.
pub async fn region_totals(c: &Connection, region: &str, since_ms: i64) -> DbResult<(u32, u32)> {
    let rows = c
        .query(
            "SELECT COALESCE(SUM(capacity), 0), COALESCE(SUM(load), 0) FROM region_relays WHERE region = ?1 AND last_seen_ms >= ?2",
            params![region, since_ms],
        )
        .await?;
    let Some(r) = crate::db::first_row(rows).await? else { return Ok((0, 0)) };
    let clamp = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    Ok((clamp(r.get(0)?), clamp(r.get(1)?)))
}

/// The relays of `region` heard from since `since_ms`, least loaded first.
pub async fn live_relays(c: &Connection, region: &str, since_ms: i64) -> DbResult<Vec<RelayInstance>> {
    let mut rows = c
        .query(
            "SELECT url, capacity, load, last_seen_ms, COALESCE(key_fingerprint, '') FROM region_relays
             WHERE region = ?1 AND last_seen_ms >= ?2 ORDER BY CAST(load AS REAL) / MAX(capacity, 1), url",
            params![region, since_ms],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        let n = |i: i32| -> DbResult<u32> { Ok(u32::try_from(r.get::<i64>(i)?.max(0)).unwrap_or(u32::MAX)) };
        out.push(RelayInstance { url: r.get(0)?, capacity: n(1)?, load: n(2)?, last_seen_ms: r.get(3)?, key_fingerprint: r.get(4)? });
    }
    Ok(out)
}
