//! The analytics database: a libSQL file of its own (`<data_dir>/analytics.db`), so event
//! ingest never waits for, or slows, gameplay writes. One writer connection behind a
//! mutex; each batch is one transaction (`synchronous=NORMAL`: a power cut may lose the
//! last batches, never corrupt the file). Also the analytics rows that live in the main
//! database (consent, A/B tests).
//!
//! With a remote primary (`storage.database_url`), the analytics tables live on a libSQL
//! server too, so every origin of a cluster counts into one place: the database of
//! `storage.analytics_database_url`, or the main database when that is empty.

use std::time::Duration;

use crate::db::Connection;
use libsql::{params, Builder, Database};

use aethex_protocol::analytics::Experiment;
use aethex_protocol::teams::Tier;

use crate::config::StorageConfig;
use crate::db::{DbError, DbResult, Reader};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    game_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT,
    event_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    client_ts TEXT,
    received_ms INTEGER NOT NULL,
    properties TEXT,
    device TEXT
);
CREATE INDEX IF NOT EXISTS events_by_time ON events(game_id, received_ms);
CREATE INDEX IF NOT EXISTS events_by_type ON events(game_id, event_type, received_ms);
-- A player's events: conversions after an exposure, exports and erasure.
CREATE INDEX IF NOT EXISTS events_by_user ON events(user_id, game_id, event_type, received_ms);
CREATE TABLE IF NOT EXISTS daily_usage (
    game_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (game_id, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS crash_reports (
    report_id TEXT PRIMARY KEY,
    game_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    user_id TEXT NOT NULL,
    game_version TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    message TEXT,
    stack_trace TEXT NOT NULL,
    logs_tail TEXT,
    client_ts TEXT,
    session_id TEXT,
    device TEXT
);
CREATE INDEX IF NOT EXISTS crash_reports_by_group ON crash_reports(game_id, signature, received_ms);
CREATE INDEX IF NOT EXISTS crash_reports_by_user ON crash_reports(user_id);
CREATE TABLE IF NOT EXISTS crash_groups (
    game_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    title TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    PRIMARY KEY (game_id, signature)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS crash_groups_by_count ON crash_groups(game_id, count);
CREATE TABLE IF NOT EXISTS crash_versions (
    game_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    game_version TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (game_id, signature, game_version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS active_users (
    game_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (game_id, day, user_id)
) WITHOUT ROWID;
";

/// One validated event, ready to store.
pub struct EventRow {
    pub event_id: String,
    pub session_id: Option<String>,
    pub event_type: String,
    pub kind: &'static str,
    pub client_ts: Option<String>,
    pub properties: Option<String>,
    pub device: Option<String>,
}

pub struct AnalyticsDb {
    db: Database,
    writer: tokio::sync::Mutex<libsql::Connection>,
    /// The shared reader of the local file; `None` on a server (a connection per read).
    reader: Option<Connection>,
    remote: bool,
}

impl AnalyticsDb {
    /// Opens the analytics database `cfg` names (see the module's documentation).
    pub async fn open(cfg: &StorageConfig) -> DbResult<Self> {
        let url = if cfg.analytics_database_url.is_empty() { &cfg.database_url } else { &cfg.analytics_database_url };
        let remote = !url.is_empty();
        if remote {
            crate::db::READ_ANSWERS_TO_THE_END.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let db = if remote {
            Builder::new_remote(url.clone(), cfg.database_auth_token.expose().to_string()).build().await?
        } else {
            std::fs::create_dir_all(&cfg.data_dir)?;
            Builder::new_local(cfg.data_dir.join("analytics.db")).build().await?
        };
        let writer = db.connect()?;
        let mut reader = None;
        if !remote {
            writer.query("PRAGMA journal_mode=WAL", ()).await?;
            writer.execute_batch("PRAGMA synchronous=NORMAL;").await?;
            writer.busy_timeout(Duration::from_secs(10))?;
            let r = db.connect()?;
            r.busy_timeout(Duration::from_secs(10))?;
            reader = Some(Connection::cached(r));
        }
        writer.execute_batch(SCHEMA).await?;
        Ok(Self { db, writer: tokio::sync::Mutex::new(writer), reader, remote })
    }

    fn reader(&self) -> Reader<'_> {
        match &self.reader {
            Some(c) => Reader::Shared(c),
            None => Reader::own(&self.db),
        }
    }

    /// Events stored for `game` on `day` (Unix days) so far.
    pub async fn used(&self, game: &str, day: i64) -> DbResult<u64> {
        let rows = self.reader().query("SELECT events FROM daily_usage WHERE game_id = ?1 AND day = ?2", params![game, day]).await?;
        Ok(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0) as u64)
    }

    /// Stores a player's events in one transaction; returns (stored, already there).
    pub async fn ingest(&self, game: &str, user: &str, received_ms: i64, events: &[EventRow]) -> DbResult<(u32, u32)> {
        let day = received_ms.div_euclid(86_400_000);
        let w = self.writer.lock().await;
        let tx = &*w;
        crate::db::immediate(&Connection::from(tx.clone()), self.remote, || async {
        let (mut stored, mut dup) = (0u32, 0u32);
        {
            let insert = tx
                .prepare(
                    "INSERT OR IGNORE INTO events (event_id, game_id, user_id, session_id, event_type, kind, client_ts, received_ms, properties, device)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .await?;
            for e in events {
                let n = insert
                    .execute(params![
                        e.event_id.clone(),
                        game,
                        user,
                        e.session_id.clone(),
                        e.event_type.clone(),
                        e.kind,
                        e.client_ts.clone(),
                        received_ms,
                        e.properties.clone(),
                        e.device.clone()
                    ])
                    .await?;
                insert.reset();
                if n > 0 {
                    stored += 1;
                } else {
                    dup += 1;
                }
            }
        }
        if stored > 0 {
            tx.execute(
                "INSERT INTO daily_usage (game_id, day, events) VALUES (?1, ?2, ?3) ON CONFLICT (game_id, day) DO UPDATE SET events = events + excluded.events",
                params![game, day, i64::from(stored)],
            )
            .await?;
            tx.execute("INSERT OR IGNORE INTO active_users (game_id, day, user_id) VALUES (?1, ?2, ?3)", params![game, day, user]).await?;
        }
        Ok((stored, dup))
        })
        .await
    }

    /// Event counts per bucket (`bucket_ms` wide) and type in `[from_ms, to_ms)`.
    pub async fn counts(&self, game: &str, event_type: Option<&str>, from_ms: i64, to_ms: i64, bucket_ms: i64) -> DbResult<Vec<(i64, String, u64)>> {
        let mut rows = self
            .reader()
            .query(
                "SELECT (received_ms / ?5) * ?5 AS b, event_type, COUNT(*) FROM events
                 WHERE game_id = ?1 AND received_ms >= ?2 AND received_ms < ?3 AND (?4 IS NULL OR event_type = ?4)
                 GROUP BY b, event_type ORDER BY b, event_type",
                params![game, from_ms, to_ms, event_type, bucket_ms],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push((r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<i64>(2)? as u64));
        }
        Ok(out)
    }

    /// Samples of metric `name` per bucket: (bucket start, count, avg, min, max).
    pub async fn metric(&self, game: &str, name: &str, from_ms: i64, to_ms: i64, bucket_ms: i64) -> DbResult<Vec<(i64, u64, f64, f64, f64)>> {
        let mut rows = self
            .reader()
            .query(
                "SELECT (received_ms / ?5) * ?5 AS b, COUNT(v), AVG(v), MIN(v), MAX(v) FROM (
                   SELECT received_ms, CAST(json_extract(properties, '$.value') AS REAL) AS v FROM events
                   WHERE game_id = ?1 AND event_type = ?2 AND kind = 'metric' AND received_ms >= ?3 AND received_ms < ?4
                     AND json_type(properties, '$.value') IN ('integer', 'real'))
                 GROUP BY b ORDER BY b",
                params![game, name, from_ms, to_ms, bucket_ms],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push((r.get::<i64>(0)?, r.get::<i64>(1)? as u64, r.get::<f64>(2)?, r.get::<f64>(3)?, r.get::<f64>(4)?));
        }
        Ok(out)
    }

    /// Screens viewed in `[from_ms, to_ms)`: (screen, views, distinct players), most first.
    pub async fn screens(&self, game: &str, from_ms: i64, to_ms: i64) -> DbResult<Vec<(String, u64, u64)>> {
        let mut rows = self
            .reader()
            .query(
                "SELECT json_extract(properties, '$.screen') AS s, COUNT(*), COUNT(DISTINCT user_id) FROM events
                 WHERE game_id = ?1 AND kind = 'screen' AND received_ms >= ?2 AND received_ms < ?3 AND json_type(properties, '$.screen') = 'text'
                 GROUP BY s ORDER BY 2 DESC, s LIMIT 100",
                params![game, from_ms, to_ms],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push((r.get::<String>(0)?, r.get::<i64>(1)? as u64, r.get::<i64>(2)? as u64));
        }
        Ok(out)
    }

    /// Each player's latest value (the last stored) of user property `name`, counted: (value as JSON text,
    /// players), most common first.
    pub async fn user_property(&self, game: &str, name: &str) -> DbResult<Vec<(String, u64)>> {
        let mut rows = self
            .reader()
            .query(
                "SELECT v, COUNT(*) FROM (
                   SELECT user_id, properties -> '$.value' AS v, MAX(rowid) FROM events
                   WHERE game_id = ?1 AND kind = 'user_property' AND json_extract(properties, '$.name') = ?2
                   GROUP BY user_id)
                 WHERE v IS NOT NULL GROUP BY v ORDER BY 2 DESC, v LIMIT 100",
                params![game, name],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push((r.get::<String>(0)?, r.get::<i64>(1)? as u64));
        }
        Ok(out)
    }

    /// (players active on `day`, distinct players over the 30 days ending with it).
    pub async fn active(&self, game: &str, day: i64) -> DbResult<(u64, u64)> {
        let one = |sql: &'static str| {
            let reader = self.reader();
            async move {
                let rows = reader.query(sql, params![game, day]).await?;
                Ok::<u64, crate::db::DbError>(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0) as u64)
            }
        };
        let dau = one("SELECT COUNT(*) FROM active_users WHERE game_id = ?1 AND day = ?2").await?;
        let mau = one("SELECT COUNT(DISTINCT user_id) FROM active_users WHERE game_id = ?1 AND day BETWEEN ?2 - 29 AND ?2").await?;
        Ok((dau, mau))
    }

    /// A player's events (in `game` only, when given), oldest first, for an export.
    pub async fn events_of(&self, user: &str, game: Option<&str>) -> DbResult<Vec<serde_json::Value>> {
        let mut rows = self
            .reader()
            .query(
                "SELECT event_id, game_id, session_id, event_type, kind, client_ts, received_ms, properties, device FROM events
                 WHERE user_id = ?1 AND (?2 IS NULL OR game_id = ?2) ORDER BY received_ms, event_id",
                params![user, game],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            let obj = |t: Option<String>| t.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()).unwrap_or(serde_json::Value::Null);
            out.push(serde_json::json!({
                "event_id": r.get::<String>(0)?, "game_id": r.get::<String>(1)?, "session_id": r.get::<Option<String>>(2)?,
                "event_type": r.get::<String>(3)?, "kind": r.get::<String>(4)?, "timestamp": r.get::<Option<String>>(5)?,
                "received_ms": r.get::<i64>(6)?, "properties": obj(r.get(7)?), "device": obj(r.get(8)?),
            }));
        }
        Ok(out)
    }

    /// A player's crash reports (in `game` only, when given), for an export.
    pub async fn crashes_of(&self, user: &str, game: Option<&str>) -> DbResult<Vec<serde_json::Value>> {
        let mut rows = self
            .reader()
            .query(
                "SELECT report_id, game_id, signature, game_version, received_ms, message, stack_trace, logs_tail, client_ts FROM crash_reports
                 WHERE user_id = ?1 AND (?2 IS NULL OR game_id = ?2) ORDER BY received_ms",
                params![user, game],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push(serde_json::json!({
                "report_id": r.get::<String>(0)?, "game_id": r.get::<String>(1)?, "signature": r.get::<String>(2)?,
                "game_version": r.get::<String>(3)?, "received_ms": r.get::<i64>(4)?, "message": r.get::<Option<String>>(5)?,
                "stack_trace": r.get::<String>(6)?, "logs_tail": r.get::<Option<String>>(7)?, "timestamp": r.get::<Option<String>>(8)?,
            }));
        }
        Ok(out)
    }

    /// Deletes a player's events and activity (in `game` only, when given). Returns the
    /// events deleted.
    pub async fn erase(&self, user: &str, game: Option<&str>) -> DbResult<u64> {
        let w = self.writer.lock().await;
        let n = w.execute("DELETE FROM events WHERE user_id = ?1 AND (?2 IS NULL OR game_id = ?2)", params![user, game]).await?;
        // Crash reports go; the groups' counts (anonymous aggregates) stay.
        w.execute("DELETE FROM crash_reports WHERE user_id = ?1 AND (?2 IS NULL OR game_id = ?2)", params![user, game]).await?;
        w.execute("DELETE FROM active_users WHERE user_id = ?1 AND (?2 IS NULL OR game_id = ?2)", params![user, game]).await?;
        Ok(n)
    }

    /// Stores a crash report and counts it in its group and version; `false` when the
    /// report was stored before.
    #[allow(clippy::too_many_arguments)]
    pub async fn crash(
        &self,
        game: &str,
        user: &str,
        signature: &str,
        title: &str,
        r: &aethex_protocol::analytics::CrashReport,
        device: Option<String>,
        received_ms: i64,
    ) -> DbResult<bool> {
        let w = self.writer.lock().await;
        let tx = &*w;
        crate::db::immediate(&Connection::from(tx.clone()), self.remote, || async {
        let n = tx
            .execute(
                "INSERT OR IGNORE INTO crash_reports (report_id, game_id, signature, user_id, game_version, received_ms, message, stack_trace, logs_tail,
                   client_ts, session_id, device) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    r.report_id.clone(),
                    game,
                    signature,
                    user,
                    r.game_version.clone(),
                    received_ms,
                    r.message.clone(),
                    r.stack_trace.clone(),
                    r.logs_tail.clone(),
                    r.timestamp.clone(),
                    r.session_id.clone(),
                    device
                ],
            )
            .await?;
        if n > 0 {
            tx.execute(
                "INSERT INTO crash_groups (game_id, signature, title, count, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?3, 1, ?4, ?4)
                 ON CONFLICT (game_id, signature) DO UPDATE SET count = count + 1, last_seen_ms = MAX(last_seen_ms, excluded.last_seen_ms)",
                params![game, signature, title, received_ms],
            )
            .await?;
            tx.execute(
                "INSERT INTO crash_versions (game_id, signature, game_version, count) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (game_id, signature, game_version) DO UPDATE SET count = count + 1",
                params![game, signature, r.game_version.clone()],
            )
            .await?;
        }
        Ok(n > 0)
        })
        .await
    }

    /// The game's crash groups, most reports first (or the one `signature`).
    pub async fn crash_groups(&self, game: &str, signature: Option<&str>, limit: u32) -> DbResult<Vec<aethex_protocol::analytics::CrashGroup>> {
        let mut rows = self
            .reader()
            .query(
                "SELECT signature, title, count, first_seen_ms, last_seen_ms FROM crash_groups WHERE game_id = ?1 AND (?2 IS NULL OR signature = ?2)
                 ORDER BY count DESC, last_seen_ms DESC LIMIT ?3",
                params![game, signature, i64::from(limit)],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push(aethex_protocol::analytics::CrashGroup {
                signature: r.get(0)?,
                title: r.get(1)?,
                count: r.get::<i64>(2)? as u64,
                first_seen: crate::clock::ts_ms(r.get(3)?),
                last_seen: crate::clock::ts_ms(r.get(4)?),
                versions: Vec::new(),
            });
        }
        drop(rows);
        for g in &mut out {
            let mut v = self
                .reader()
                .query(
                    "SELECT game_version, count FROM crash_versions WHERE game_id = ?1 AND signature = ?2 ORDER BY count DESC, game_version",
                    params![game, g.signature.clone()],
                )
                .await?;
            while let Some(r) = v.next().await? {
                g.versions.push(aethex_protocol::analytics::VersionCount { game_version: r.get(0)?, count: r.get::<i64>(1)? as u64 });
            }
        }
        Ok(out)
    }

    /// Per variant: players exposed to the experiment, and those of them with a
    /// `conversion` event at or after their first exposure.
    pub async fn experiment_results(&self, game: &str, experiment: &str, conversion: &str) -> DbResult<Vec<(String, u64, u64)>> {
        let mut rows = self
            .reader()
            .query(
                "WITH exposed AS (
                   SELECT user_id, json_extract(properties, '$.variant') AS variant, MIN(received_ms) AS first_ms FROM events
                   WHERE game_id = ?1 AND event_type = ?4 AND json_extract(properties, '$.experiment_id') = ?2
                   GROUP BY user_id)
                 SELECT variant, COUNT(*),
                   SUM(EXISTS (SELECT 1 FROM events c WHERE c.user_id = exposed.user_id AND c.game_id = ?1 AND c.event_type = ?3 AND c.received_ms >= exposed.first_ms))
                 FROM exposed WHERE variant IS NOT NULL GROUP BY variant ORDER BY variant",
                params![game, experiment, conversion, aethex_protocol::analytics::EXPOSURE_EVENT],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push((r.get::<String>(0)?, r.get::<i64>(1)? as u64, r.get::<i64>(2)? as u64));
        }
        Ok(out)
    }

    /// (cohort size, retained on each of `days` after) for players first active on `day`.
    pub async fn retention(&self, game: &str, day: i64, days: &[u32]) -> DbResult<(u64, Vec<u64>)> {
        let cohort = "SELECT user_id FROM active_users WHERE game_id = ?1 GROUP BY user_id HAVING MIN(day) = ?2";
        let rows = self.reader().query(&format!("SELECT COUNT(*) FROM ({cohort})"), params![game, day]).await?;
        let size = crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0) as u64;
        let mut out = Vec::with_capacity(days.len());
        for n in days {
            let rows = self
                .reader()
                .query(
                    &format!(
                        "SELECT COUNT(*) FROM ({cohort}) c WHERE EXISTS (SELECT 1 FROM active_users a WHERE a.game_id = ?1 AND a.day = ?3 AND a.user_id = c.user_id)"
                    ),
                    params![game, day, day + i64::from(*n)],
                )
                .await?;
            out.push(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0) as u64);
        }
        Ok((size, out))
    }

    /// Players reaching each step of `steps` in order within `[from_ms, to_ms)`: a step
    /// counts at the player's first occurrence after the previous step's.
    pub async fn funnel(&self, game: &str, steps: &[String], from_ms: i64, to_ms: i64) -> DbResult<Vec<u64>> {
        let mut reached: Option<std::collections::HashMap<String, i64>> = None;
        let mut out = Vec::with_capacity(steps.len());
        for step in steps {
            let mut rows = self
                .reader()
                .query(
                    "SELECT user_id, received_ms FROM events WHERE game_id = ?1 AND event_type = ?2 AND received_ms >= ?3 AND received_ms < ?4
                     ORDER BY user_id, received_ms",
                    params![game, step.clone(), from_ms, to_ms],
                )
                .await?;
            let mut next = std::collections::HashMap::new();
            while let Some(r) = rows.next().await? {
                let (user, at) = (r.get::<String>(0)?, r.get::<i64>(1)?);
                if next.contains_key(&user) {
                    continue;
                }
                let after = match &reached {
                    None => true,
                    Some(prev) => prev.get(&user).is_some_and(|t| at >= *t),
                };
                if after {
                    next.insert(user, at);
                }
            }
            out.push(next.len() as u64);
            reached = Some(next);
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------
// In the main database: consent (replicated to edges) and A/B tests.

/// A player's effective consent in a game (off in a COPPA game) and the game's tier, in
/// one read; an unknown game is (false, free).
pub async fn game_consent(c: &Connection, game: &str, user: &str) -> DbResult<(bool, Tier)> {
    let rows = c
        .query(
            "SELECT g.tier, g.coppa, COALESCE(c.analytics, 0) FROM games g
             LEFT JOIN analytics_consent c ON c.game_id = g.id AND c.user_id = ?2 WHERE g.id = ?1",
            params![game, user],
        )
        .await?;
    let Some(r) = crate::db::first_row(rows).await? else { return Ok((false, Tier::Free)) };
    let tier = Tier::parse(&r.get::<String>(0)?).unwrap_or(Tier::Free);
    Ok((r.get::<i64>(1)? == 0 && r.get::<i64>(2)? != 0, tier))
}

pub async fn set_consent(c: &Connection, game: &str, user: &str, analytics: bool) -> DbResult<()> {
    c.execute(
        "INSERT INTO analytics_consent (game_id, user_id, analytics, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (game_id, user_id) DO UPDATE SET analytics = excluded.analytics, updated_at = excluded.updated_at",
        params![game, user, analytics as i64, crate::clock::now()],
    )
    .await?;
    Ok(())
}

fn experiment_of(r: &crate::db::Row) -> DbResult<Experiment> {
    let variants: String = r.get(2)?;
    Ok(Experiment {
        game_id: r.get(0)?,
        experiment_id: r.get(1)?,
        variants: serde_json::from_str(&variants).map_err(|e| DbError::Corrupt(e.to_string()))?,
        conversion_event: r.get(3)?,
        active: r.get::<i64>(4)? != 0,
        updated_at: r.get(5)?,
    })
}

/// The game's experiments (only `only`, when given), by id.
pub async fn experiments(c: &Connection, game: &str, only: Option<&str>) -> DbResult<Vec<Experiment>> {
    let mut rows = c
        .query(
            "SELECT game_id, experiment_id, variants, conversion_event, active, updated_at FROM experiments
             WHERE game_id = ?1 AND (?2 IS NULL OR experiment_id = ?2) ORDER BY experiment_id",
            params![game, only],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(experiment_of(&r)?);
    }
    Ok(out)
}

/// Defines or changes an experiment (`variants`: its JSON).
pub async fn put_experiment(c: &Connection, game: &str, id: &str, variants: &str, conversion_event: &str, active: bool, now: &str) -> DbResult<()> {
    c.execute(
        "INSERT INTO experiments (game_id, experiment_id, variants, conversion_event, active, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (game_id, experiment_id) DO UPDATE SET variants = excluded.variants, conversion_event = excluded.conversion_event,
           active = excluded.active, updated_at = excluded.updated_at",
        params![game, id, variants, conversion_event, active as i64, now],
    )
    .await?;
    Ok(())
}
