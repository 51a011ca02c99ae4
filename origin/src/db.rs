//! libSQL access: opening the database (a local file, or a remote libSQL primary),
//! the migration runner, and small helpers shared by the domain stores.
//!
//! Writes go through one writer connection behind a mutex: SQLite has one writer at a
//! time anyway, and queuing here instead of in `SQLITE_BUSY` retries keeps latency
//! predictable. Reads use a small set of reader connections (WAL lets them run while a
//! write is in progress).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use libsql::{Builder, Connection, Database, Transaction, TransactionBehavior};
use tokio::sync::{Mutex, MutexGuard};

use crate::config::StorageConfig;

/// Failures of the database layer. Stores return these; services turn them into
/// internal errors (logged, answered with a fixed message).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sql(#[from] libsql::Error),
    #[error("the database schema is at version {found}, newer than this binary knows ({known}); upgrade aethex")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub type DbResult<T> = Result<T, DbError>;

/// Versioned migrations, embedded in the binary, applied in order at start-up.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (2, "accounts", include_str!("../migrations/0002_accounts.sql")),
    (3, "teams", include_str!("../migrations/0003_teams.sql")),
    (4, "saves", include_str!("../migrations/0004_saves.sql")),
];

pub struct Db {
    _database: Database,
    writer: Mutex<Connection>,
    readers: Vec<Connection>,
    next_reader: AtomicUsize,
    remote: bool,
}

const READERS: usize = 4;

impl Db {
    /// Opens the configured database and brings its schema up to date.
    pub async fn open(cfg: &StorageConfig, local_path: &std::path::Path) -> DbResult<Self> {
        let remote = !cfg.database_url.is_empty();
        let database = if remote {
            Builder::new_remote(cfg.database_url.clone(), cfg.database_auth_token.expose().to_string())
                .build()
                .await?
        } else {
            if let Some(dir) = local_path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            Builder::new_local(local_path).build().await?
        };
        let writer = database.connect()?;
        if !remote {
            let sync = match cfg.synchronous.to_ascii_uppercase().as_str() {
                "NORMAL" => "NORMAL",
                "OFF" => "OFF",
                _ => "FULL",
            };
            // journal_mode answers a row, so it is queried rather than executed.
            writer.query("PRAGMA journal_mode=WAL", ()).await?;
            writer.execute_batch(&format!("PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;")).await?;
            writer.busy_timeout(Duration::from_secs(10))?;
        }
        migrate(&writer).await?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..if remote { 1 } else { READERS } {
            let c = database.connect()?;
            if !remote {
                c.execute_batch("PRAGMA foreign_keys=ON;").await?;
                c.busy_timeout(Duration::from_secs(10))?;
            }
            readers.push(c);
        }
        Ok(Self { _database: database, writer: Mutex::new(writer), readers, next_reader: AtomicUsize::new(0), remote })
    }

    /// A connection for reads.
    pub fn reader(&self) -> &Connection {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        &self.readers[i]
    }

    /// The writer connection, held exclusively until the guard drops.
    pub async fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().await
    }

    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// Cheap round trip for readiness checks.
    pub async fn ping(&self) -> DbResult<()> {
        let mut rows = self.reader().query("SELECT 1", ()).await?;
        rows.next().await?;
        Ok(())
    }
}

/// Begins an IMMEDIATE transaction on the writer (takes the write lock up front, so a
/// read-then-write inside it cannot be invalidated by another writer).
pub async fn begin(conn: &Connection) -> DbResult<Transaction> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate).await?)
}

async fn migrate(conn: &Connection) -> DbResult<()> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
        (),
    )
    .await?;
    let mut rows = conn.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", ()).await?;
    let current: i64 = match rows.next().await? {
        Some(row) => row.get(0)?,
        None => 0,
    };
    drop(rows);
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > known {
        return Err(DbError::SchemaTooNew { found: current, known });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = begin(conn).await?;
        tx.execute_batch(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            libsql::params![*version, *name, now()],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "applied migration");
    }
    Ok(())
}

/// Current time as stored: RFC 3339, UTC, milliseconds (sorts as text).
pub fn now() -> String {
    ts(chrono::Utc::now())
}

pub fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `now + secs`, as stored.
pub fn in_secs(secs: u64) -> String {
    ts(chrono::Utc::now() + chrono::Duration::seconds(secs.min(i64::MAX as u64 / 1000) as i64))
}

/// Reads an optional text column.
pub fn opt_text(row: &libsql::Row, idx: i32) -> DbResult<Option<String>> {
    Ok(match row.get_value(idx)? {
        libsql::Value::Null => None,
        libsql::Value::Text(s) => Some(s),
        other => return Err(DbError::Corrupt(format!("column {idx}: expected text, found {other:?}"))),
    })
}

/// Reads a 0/1 column as bool.
pub fn flag(row: &libsql::Row, idx: i32) -> DbResult<bool> {
    Ok(row.get::<i64>(idx)? != 0)
}

/// Maps an optional string to a libSQL value (NULL when absent).
pub fn nullable(v: Option<&str>) -> libsql::Value {
    match v {
        Some(s) => libsql::Value::Text(s.to_string()),
        None => libsql::Value::Null,
    }
}

/// True when the error is a UNIQUE constraint failure.
pub fn is_unique_violation(e: &libsql::Error) -> bool {
    e.to_string().contains("UNIQUE constraint failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_apply_once_and_refuse_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let cfg = StorageConfig::default();
        let db = Db::open(&cfg, &path).await.unwrap();
        drop(db);
        // Re-opening applies nothing new.
        let db = Db::open(&cfg, &path).await.unwrap();
        let mut rows = db.reader().query("SELECT COUNT(*) FROM schema_migrations", ()).await.unwrap();
        let n: i64 = rows.next().await.unwrap().unwrap().get(0).unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
        drop(rows);
        db.writer()
            .await
            .execute("INSERT INTO schema_migrations VALUES (999, 'future', '')", ())
            .await
            .unwrap();
        drop(db);
        match Db::open(&cfg, &path).await {
            Err(DbError::SchemaTooNew { found: 999, .. }) => {}
            Err(other) => panic!("expected SchemaTooNew, got {other}"),
            Ok(_) => panic!("expected SchemaTooNew, got Ok"),
        }
    }
}
