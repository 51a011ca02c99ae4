//! SQL for DLC: keys, chunks, releases, channels, entitlements.

use std::collections::HashSet;

use crate::db::Connection;
use libsql::params;

use aethex_protocol::dlc::{Compression, Entitlement, ManifestKey, Release};

use crate::db::{opt_text, DbError, DbResult};

pub async fn insert_key(conn: &Connection, k: &ManifestKey) -> Result<(), libsql::Error> {
    conn.execute(
        "INSERT INTO manifest_keys (game_id, key_id, name, public_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![k.game_id.clone(), k.key_id.clone(), k.name.clone(), k.public_key.clone(), k.created_at.clone()],
    )
    .await?;
    Ok(())
}

pub async fn public_key(conn: &Connection, game: &str, key_id: &str) -> DbResult<Option<String>> {
    let rows = conn.query("SELECT public_key FROM manifest_keys WHERE game_id = ?1 AND key_id = ?2", params![game, key_id]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<String>(0)).transpose()?)
}

/// The uploaded chunks among `ids`: id -> (plain size, stored size, encoding).
pub async fn chunk_rows(conn: &Connection, game: &str, ids: &[String]) -> DbResult<std::collections::HashMap<String, (u64, u64, Compression)>> {
    let mut out = std::collections::HashMap::new();
    for part in ids.chunks(500) {
        let marks: Vec<String> = (0..part.len()).map(|i| format!("?{}", i + 2)).collect();
        let sql = format!("SELECT id, size, stored_size, compression FROM chunks WHERE game_id = ?1 AND id IN ({})", marks.join(", "));
        let mut args = vec![libsql::Value::Text(game.to_string())];
        args.extend(part.iter().map(|id| libsql::Value::Text(id.clone())));
        let mut rows = conn.query(&sql, args).await?;
        while let Some(r) = rows.next().await? {
            let c: String = r.get(3)?;
            let compression = Compression::parse(&c).ok_or_else(|| DbError::Corrupt(format!("chunk compression {c}")))?;
            out.insert(r.get::<String>(0)?, (r.get::<i64>(1)? as u64, r.get::<i64>(2)? as u64, compression));
        }
    }
    Ok(out)
}

pub async fn delete_key(conn: &Connection, game: &str, key_id: &str) -> DbResult<u64> {
    Ok(conn.execute("DELETE FROM manifest_keys WHERE game_id = ?1 AND key_id = ?2", params![game, key_id]).await?)
}

/// Which of `ids` the game already has.
pub async fn existing_chunks(conn: &Connection, game: &str, ids: &[String]) -> DbResult<HashSet<String>> {
    let mut have = HashSet::new();
    for part in ids.chunks(500) {
        let marks: Vec<String> = (0..part.len()).map(|i| format!("?{}", i + 2)).collect();
        let sql = format!("SELECT id FROM chunks WHERE game_id = ?1 AND id IN ({})", marks.join(", "));
        let mut args = vec![libsql::Value::Text(game.to_string())];
        args.extend(part.iter().map(|id| libsql::Value::Text(id.clone())));
        let mut rows = conn.query(&sql, args).await?;
        while let Some(r) = rows.next().await? {
            have.insert(r.get::<String>(0)?);
        }
    }
    Ok(have)
}

pub async fn insert_chunk(conn: &Connection, game: &str, id: &str, size: u64, stored_size: u64, compression: Compression) -> DbResult<()> {
    conn.execute(
        "INSERT INTO chunks (game_id, id, size, stored_size, compression, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (game_id, id) DO NOTHING",
        params![game, id, size as i64, stored_size as i64, compression.as_str(), crate::clock::now()],
    )
    .await?;
    Ok(())
}

/// How a stored chunk is encoded, if the game has it.
pub async fn chunk_compression(conn: &Connection, game: &str, id: &str) -> DbResult<Option<Compression>> {
    let rows = conn.query("SELECT compression FROM chunks WHERE game_id = ?1 AND id = ?2", params![game, id]).await?;
    match crate::db::first_row(rows).await? {
        Some(r) => {
            let c: String = r.get(0)?;
            Ok(Some(Compression::parse(&c).ok_or_else(|| DbError::Corrupt(format!("chunk compression {c}")))?))
        }
        None => Ok(None),
    }
}

pub async fn release_exists(conn: &Connection, game: &str, channel: &str, version: &str) -> DbResult<bool> {
    let rows = conn.query("SELECT 1 FROM releases WHERE game_id = ?1 AND channel = ?2 AND version = ?3", params![game, channel, version]).await?;
    Ok(crate::db::first_row(rows).await?.is_some())
}

/// A stored release: everything but the chunk list (the read model's row).
pub type ReleaseRecord = aethex_edge::readmodel::ReleaseRow;

pub async fn insert_release(conn: &Connection, r: &ReleaseRecord, chunk_ids: &[String]) -> DbResult<()> {
    conn.execute(
        "INSERT INTO releases (game_id, channel, version, manifest, signature, key_id, entitlement, download_bytes, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            r.game_id.clone(),
            r.channel.clone(),
            r.version.clone(),
            r.manifest.clone(),
            r.signature.clone(),
            r.key_id.clone(),
            crate::db::nullable(r.entitlement.as_deref()),
            r.download_bytes,
            r.created_at.clone()
        ],
    )
    .await?;
    for part in chunk_ids.chunks(200) {
        let marks: Vec<String> = (0..part.len()).map(|i| format!("(?1, ?2, ?3, ?{})", i + 4)).collect();
        let sql = format!("INSERT OR IGNORE INTO release_chunks (game_id, channel, version, chunk_id) VALUES {}", marks.join(", "));
        let mut args = vec![libsql::Value::Text(r.game_id.clone()), libsql::Value::Text(r.channel.clone()), libsql::Value::Text(r.version.clone())];
        args.extend(part.iter().map(|id| libsql::Value::Text(id.clone())));
        conn.execute(&sql, args).await?;
    }
    Ok(())
}

/// Chunks a release names that the game does not have.
pub async fn release_chunks_missing(conn: &Connection, game: &str, channel: &str, version: &str) -> DbResult<i64> {
    let rows = conn
        .query(
            "SELECT COUNT(*) FROM release_chunks rc WHERE rc.game_id = ?1 AND rc.channel = ?2 AND rc.version = ?3
             AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.game_id = rc.game_id AND c.id = rc.chunk_id)",
            params![game, channel, version],
        )
        .await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0))
}

pub async fn release_record(conn: &Connection, game: &str, channel: &str, version: &str) -> DbResult<Option<ReleaseRecord>> {
    let rows = conn
        .query(
            "SELECT game_id, channel, version, manifest, signature, key_id, entitlement, download_bytes, created_at FROM releases
             WHERE game_id = ?1 AND channel = ?2 AND version = ?3",
            params![game, channel, version],
        )
        .await?;
    let Some(r) = crate::db::first_row(rows).await? else { return Ok(None) };
    Ok(Some(ReleaseRecord {
        game_id: r.get(0)?,
        channel: r.get(1)?,
        version: r.get(2)?,
        manifest: r.get(3)?,
        signature: r.get(4)?,
        key_id: r.get(5)?,
        entitlement: opt_text(&r, 6)?,
        download_bytes: r.get(7)?,
        created_at: r.get(8)?,
    }))
}

/// The chunk ids a release uses.
pub async fn chunk_ids_of(conn: &Connection, game: &str, channel: &str, version: &str) -> DbResult<Vec<String>> {
    let mut rows = conn
        .query("SELECT chunk_id FROM release_chunks WHERE game_id = ?1 AND channel = ?2 AND version = ?3", params![game, channel, version])
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(r.get(0)?);
    }
    Ok(out)
}

pub async fn set_channel(conn: &Connection, game: &str, channel: &str, version: &str, at: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO channels (game_id, channel, version, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (game_id, channel) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
        params![game, channel, version, at],
    )
    .await?;
    Ok(())
}

pub async fn channel_version(conn: &Connection, game: &str, channel: &str) -> DbResult<Option<String>> {
    let rows = conn.query("SELECT version FROM channels WHERE game_id = ?1 AND channel = ?2", params![game, channel]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<String>(0)).transpose()?)
}

/// The release of `channel` made just before `version`.
pub async fn release_before(conn: &Connection, game: &str, channel: &str, version: &str) -> DbResult<Option<String>> {
    let rows = conn
        .query(
            "SELECT r.version FROM releases r, releases cur
             WHERE cur.game_id = ?1 AND cur.channel = ?2 AND cur.version = ?3
               AND r.game_id = ?1 AND r.channel = ?2 AND (r.created_at, r.version) < (cur.created_at, cur.version)
             ORDER BY r.created_at DESC, r.version DESC LIMIT 1",
            params![game, channel, version],
        )
        .await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<String>(0)).transpose()?)
}

pub async fn releases(conn: &Connection, game: &str, channel: Option<&str>) -> DbResult<Vec<Release>> {
    let mut rows = conn
        .query(
            "SELECT r.game_id, r.channel, r.version, r.key_id, r.entitlement, r.created_at, r.manifest,
                    (c.version IS NOT NULL) AS current
             FROM releases r LEFT JOIN channels c ON c.game_id = r.game_id AND c.channel = r.channel AND c.version = r.version
             WHERE r.game_id = ?1 AND (?2 IS NULL OR r.channel = ?2)
             ORDER BY r.channel, r.created_at DESC, r.version DESC",
            params![game, crate::db::nullable(channel)],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        let manifest: String = r.get(6)?;
        let totals = serde_json::from_str::<aethex_protocol::dlc::Manifest>(&manifest).map(|m| m.totals).unwrap_or_default();
        out.push(Release {
            game_id: r.get(0)?,
            channel: r.get(1)?,
            version: r.get(2)?,
            key_id: r.get(3)?,
            entitlement: opt_text(&r, 4)?,
            created_at: r.get(5)?,
            totals,
            current: r.get::<i64>(7)? != 0,
        });
    }
    Ok(out)
}

pub async fn delete_release(conn: &Connection, game: &str, channel: &str, version: &str) -> DbResult<u64> {
    Ok(conn.execute("DELETE FROM releases WHERE game_id = ?1 AND channel = ?2 AND version = ?3", params![game, channel, version]).await?)
}

/// Chunks older than `cutoff` that no release uses.
pub async fn unreferenced_chunks(conn: &Connection, cutoff: &str, limit: i64) -> DbResult<Vec<(String, String)>> {
    let mut rows = conn
        .query(
            "SELECT c.game_id, c.id FROM chunks c WHERE c.created_at < ?1
             AND NOT EXISTS (SELECT 1 FROM release_chunks rc WHERE rc.game_id = c.game_id AND rc.chunk_id = c.id)
             LIMIT ?2",
            params![cutoff, limit],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push((r.get(0)?, r.get(1)?));
    }
    Ok(out)
}

pub async fn delete_chunk_row(conn: &Connection, game: &str, id: &str) -> DbResult<()> {
    conn.execute("DELETE FROM chunks WHERE game_id = ?1 AND id = ?2", params![game, id]).await?;
    Ok(())
}

pub async fn grant(conn: &Connection, e: &Entitlement) -> DbResult<()> {
    conn.execute(
        "INSERT INTO entitlements (game_id, user_id, entitlement, granted_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (game_id, user_id, entitlement) DO NOTHING",
        params![e.game_id.clone(), e.user_id.clone(), e.entitlement.clone(), e.granted_at.clone()],
    )
    .await?;
    Ok(())
}

pub async fn revoke(conn: &Connection, game: &str, user: &str, entitlement: &str) -> DbResult<u64> {
    Ok(conn.execute("DELETE FROM entitlements WHERE game_id = ?1 AND user_id = ?2 AND entitlement = ?3", params![game, user, entitlement]).await?)
}

pub async fn entitlements_of(conn: &Connection, game: &str, user: &str) -> DbResult<Vec<Entitlement>> {
    let mut rows = conn
        .query(
            "SELECT game_id, user_id, entitlement, granted_at FROM entitlements WHERE game_id = ?1 AND user_id = ?2 ORDER BY entitlement",
            params![game, user],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(Entitlement { game_id: r.get(0)?, user_id: r.get(1)?, entitlement: r.get(2)?, granted_at: r.get(3)? });
    }
    Ok(out)
}
