//! Serving the outbox to edges: changes after a position (long-poll), consistent
//! snapshots, pruning, and keeping replicated `games` rows in step with the quota settings.

use std::time::Duration;

use crate::db::Connection;
use aethex_protocol::replica::{Change, ChangesResponse, SnapshotHeader, SnapshotTrailer, SCHEMA_VERSION};
use aethex_protocol::teams::Tier;
use libsql::params;
use serde_json::{Map, Value};

use super::rows;
use super::store::{changes_after, epoch, head, meta, pruned_upto, set_meta};
use crate::db::{DbError, DbResult};
use crate::state::AppState;

/// Most changes one pull returns.
pub const MAX_BATCH: u32 = 1000;
/// Longest a pull waits for new changes.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// The edge asked for changes the outbox no longer keeps (or a position this database
    /// never had): it must bootstrap from a snapshot.
    #[error("position {after} is not in the outbox (kept: after {pruned_upto}, up to {head}); bootstrap from a snapshot")]
    Gone { after: i64, pruned_upto: i64, head: i64 },
    #[error(transparent)]
    Core(#[from] crate::error::CoreError),
}

crate::error::core_errors!(ReplicationError);

/// How often a long-poll reads the database again without being woken: several origins
/// on one primary and no Redis to tell each other of commits.
const RECHECK: Duration = Duration::from_secs(1);
/// The same with Redis, as a safety net only.
const RECHECK_WITH_CLUSTER: Duration = Duration::from_secs(10);

/// Changes after `after`, waiting up to `wait` for some to be written.
pub async fn changes(app: &AppState, after: i64, limit: u32, wait: Duration) -> Result<ChangesResponse, ReplicationError> {
    let conn_guard = app.db.reader().await;
    let conn = &*conn_guard;
    let limit = limit.clamp(1, MAX_BATCH);
    let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
    let mut head_rx = app.db.head();
    loop {
        let pruned = pruned_upto(conn).await?;
        let head_now = head(conn).await?;
        if after < pruned || after > head_now {
            return Err(ReplicationError::Gone { after, pruned_upto: pruned, head: head_now });
        }
        let changes = changes_after(conn, after, limit).await?;
        if !changes.is_empty() || tokio::time::Instant::now() >= deadline {
            let position = changes.last().map(|c| c.position).unwrap_or(after);
            return Ok(ChangesResponse { epoch: app.replication_epoch.clone(), changes, position, head: head_now.max(position) });
        }
        // Woken by a commit of this origin, or of another one that told the cluster (Redis);
        // the periodic re-check covers other origins when there is no Redis to tell through,
        // and messages lost while Redis was unreachable.
        let recheck = if app.config.cluster.redis_url.expose().is_empty() { RECHECK } else { RECHECK_WITH_CLUSTER };
        let _ = tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + recheck), head_rx.changed()).await;
    }
}

fn value_json(v: libsql::Value) -> Value {
    match v {
        libsql::Value::Null => Value::Null,
        libsql::Value::Integer(i) => Value::from(i),
        libsql::Value::Real(f) => Value::from(f),
        libsql::Value::Text(s) => Value::String(s),
        libsql::Value::Blob(_) => Value::Null,
    }
}

/// Streams a snapshot as NDJSON lines into `tx`: a [`SnapshotHeader`], one upsert
/// [`Change`] per row, then a [`SnapshotTrailer`]. Everything is read in one read
/// transaction, so the rows are exactly the state at the header's position.
pub async fn snapshot(app: &AppState, tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>) -> DbResult<()> {
    let conn = app.db.dedicated_connection()?;
    conn.execute("BEGIN", ()).await?;
    let result = snapshot_in(app, &conn, &tx).await;
    let _ = conn.execute("COMMIT", ()).await;
    if let Err(e) = &result {
        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
    }
    result
}

async fn snapshot_in(app: &AppState, conn: &Connection, tx: &tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>) -> DbResult<()> {
    // The position must be read inside the transaction, before any row.
    let header = SnapshotHeader { epoch: epoch(conn).await?, position: head(conn).await?, schema_version: SCHEMA_VERSION };
    if tx.send(Ok(line(&header))).await.is_err() {
        return Ok(());
    }
    let mut count = 0u64;
    for (name, sql) in rows::snapshot_queries() {
        let table = rows::table(name);
        let mut rs = conn.query(sql, ()).await?;
        while let Some(r) = rs.next().await? {
            let row = if name == "games" {
                let tier: String = r.get(1)?;
                let tier = Tier::parse(&tier).ok_or_else(|| DbError::Corrupt(format!("game tier {tier}")))?;
                rows::game(&app.config.saves, &r.get::<String>(0)?, tier, r.get::<i64>(2)? != 0)
            } else {
                let mut m = Map::new();
                for (i, col) in table.columns.iter().enumerate() {
                    m.insert((*col).to_string(), value_json(r.get_value(i as i32)?));
                }
                m
            };
            count += 1;
            if tx.send(Ok(line(&Change::upsert(table, row)))).await.is_err() {
                return Ok(()); // the edge went away
            }
        }
    }
    let _ = tx.send(Ok(line(&SnapshotTrailer { end: true, rows: count }))).await;
    Ok(())
}

/// One NDJSON line.
fn line<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// Deletes outbox entries older than `retention` (always keeping the newest) and records
/// how far it pruned; edges behind that bootstrap from a snapshot.
pub async fn prune(app: &AppState, retention: Duration) -> DbResult<u64> {
    let cutoff = crate::clock::ts(chrono::Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(7)));
    app.db
        .write(move |c| async move {
            let rows = c
                .query(
                    "SELECT MAX(position), COUNT(*) FROM replication_outbox
                     WHERE created_at < ?1 AND position < (SELECT MAX(position) FROM replication_outbox)",
                    params![cutoff],
                )
                .await?;
            let row = crate::db::first_row(rows).await?.ok_or_else(|| DbError::Corrupt("no row".into()))?;
            let (upto, n): (Option<i64>, i64) = (
                match row.get_value(0)? {
                    libsql::Value::Integer(v) => Some(v),
                    _ => None,
                },
                row.get(1)?,
            );
            let Some(upto) = upto else { return Ok(0) };
            c.execute("DELETE FROM replication_outbox WHERE position <= ?1", params![upto]).await?;
            set_meta(&c, "pruned_upto", &upto.to_string()).await?;
            Ok::<u64, DbError>(n as u64)
        })
        .await
}

/// Re-sends every game's row when the quota settings changed since they were sent (the
/// quota a tier gives is part of the replicated row).
pub async fn reconcile_games(app: &AppState) -> DbResult<()> {
    let cfg = app.config.saves.clone();
    app.db
        .write_replicated(move |c, out| async move {
            let sig = rows::quota_signature(&cfg);
            if meta(&c, "games_quota").await?.as_deref() == Some(sig.as_str()) {
                return Ok(());
            }
            let mut rs = c.query("SELECT id, tier, coppa FROM games", ()).await?;
            let mut games = Vec::new();
            while let Some(r) = rs.next().await? {
                games.push((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<i64>(2)? != 0));
            }
            drop(rs);
            for (id, tier, coppa) in games {
                let tier = Tier::parse(&tier).ok_or_else(|| DbError::Corrupt(format!("game tier {tier}")))?;
                out.upsert(&c, rows::table("games"), rows::game(&cfg, &id, tier, coppa)).await?;
            }
            set_meta(&c, "games_quota", &sig).await?;
            Ok::<(), DbError>(())
        })
        .await
}

/// Prunes the outbox every ten minutes (or every half retention, if shorter) while the
/// app lives.
pub fn spawn_pruner(app: std::sync::Weak<crate::state::App>, retention: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval((retention / 2).clamp(Duration::from_millis(500), Duration::from_secs(600)));
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade().map(AppState) else { return };
            match prune(&app, retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(entries = n, "pruned the replication outbox"),
                Err(e) => tracing::warn!(error = %e, "pruning the replication outbox failed"),
            }
        }
    });
}
