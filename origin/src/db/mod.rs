//! libSQL access: opening the database (a local file, or a remote libSQL primary),
//! the migration runner, and small helpers shared by the domain stores.
//!
//! Writes go through [`Db::write`]: one writer thread owns the writer connection and
//! runs write jobs in *group commits*. Jobs queued while a commit is in flight are run
//! together, each inside its own SAVEPOINT (a job that fails is rolled back alone), and
//! made durable by one COMMIT, so many writers share one WAL sync instead of paying one
//! each. A job's result is handed back only after its commit succeeded, so "acknowledged"
//! always means "on disk". SQLite has one writer at a time anyway; queuing here instead
//! of in `SQLITE_BUSY` retries keeps latency predictable.
//!
//! Reads use a small set of reader connections (WAL lets them run beside a write). On a
//! remote primary, reads asked for at the same time go to the server together, in one
//! request on a kept Hrana stream ([`remote::Reads`]).
//!
//! On a remote primary several origins write to one database: a group commit that finds
//! the write lock taken (`SQLITE_BUSY`) waits and tries again, within a bound, and a
//! writer stream that failed is reset before the next batch.
//!
//! A job must not call [`Db::write`] itself (it would wait for its own batch).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt;
use libsql::{Builder, Database};
use tokio::sync::{mpsc, oneshot};

use crate::config::StorageConfig;
mod conn;
pub mod outbox;
pub mod position;
pub mod read_model;
pub mod remote;

pub use conn::{Connection, FromColumn, Row, Rows};
pub use outbox::Outbox;
pub use remote::Later;

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
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("commit failed: {0}")]
    Commit(String),
}

pub type DbResult<T> = Result<T, DbError>;

/// Versioned migrations, embedded in the binary, applied in order at start-up.
pub const MIGRATIONS: &[(i64, &str, &[&str])] = &[
    (1, "initial", &[include_str!("../../migrations/0001_initial.sql")]),
    (2, "accounts", &[include_str!("../../migrations/0002_accounts.sql")]),
    (3, "teams", &[include_str!("../../migrations/0003_teams.sql")]),
    (4, "saves", &[include_str!("../../migrations/0004_saves.sql")]),
    (5, "replication", &[include_str!("../../migrations/0005_replication.sql")]),
    (6, "dlc", &[include_str!("../../migrations/0006_dlc.sql")]),
    (7, "matchmaking", &[include_str!("../../migrations/0007_matchmaking.sql")]),
    // The rank index is shared with the edge replicas (its DDL and its fill for the
    // entries there are already).
    (8, "leaderboard_rank", &[aethex_protocol::replica::RANK_INDEX_SCHEMA, aethex_protocol::replica::RANK_INDEX_FILL]),
    (9, "achievements", &[include_str!("../../migrations/0009_achievements.sql")]),
    (10, "friends", &[include_str!("../../migrations/0010_friends.sql")]),
    (11, "leaderboard_periods", &[include_str!("../../migrations/0011_leaderboard_periods.sql")]),
    (12, "analytics_consent", &[include_str!("../../migrations/0012_analytics_consent.sql")]),
    (13, "deletion_receipts", &[include_str!("../../migrations/0013_deletion_receipts.sql")]),
    (14, "experiments", &[include_str!("../../migrations/0014_experiments.sql")]),
    (15, "coppa", &[include_str!("../../migrations/0015_coppa.sql")]),
    (16, "share_links", &[include_str!("../../migrations/0016_share_links.sql")]),
    (17, "console", &[include_str!("../../migrations/0017_console.sql")]),
    (18, "oauth_binding", &[include_str!("../../migrations/0018_oauth_binding.sql")]),
    (19, "relay_keys", &[include_str!("../../migrations/0019_relay_keys.sql")]),
    (20, "score_submits", &[include_str!("../../migrations/0020_score_submits.sql")]),
    (21, "region_relays", &[include_str!("../../migrations/0021_region_relays.sql")]),
    (22, "device_logins", &[include_str!("../../migrations/0022_device_logins.sql")]),
    (23, "game_logic", &[include_str!("../../migrations/0023_game_logic.sql")]),
    (24, "refresh_tokens_by_session", &[include_str!("../../migrations/0024_refresh_tokens_by_session.sql")]),
];

pub struct Db {
    /// The local file (`None` on a remote primary).
    database: Option<Database>,
    /// Reads on a remote primary (sent together, on kept streams).
    reads: Option<std::sync::Arc<remote::Reads>>,
    jobs: mpsc::Sender<Job>,
    /// The writer thread; joined on drop so that the file is released when `Db` is gone.
    writer: Option<std::thread::JoinHandle<()>>,
    /// Shared reader connections (local file only; empty on a remote primary).
    readers: Vec<Connection>,
    /// The read model's remote reads in flight (a remote primary only).
    remote_reads: std::sync::Arc<tokio::sync::Semaphore>,
    next_reader: AtomicUsize,
    /// Newest replication position known to be written, by this process or (heard through
    /// the cluster) another origin: wakes long-polling edges.
    head: tokio::sync::watch::Sender<i64>,
    /// Newest replication position written by this process (told to the other origins).
    committed: tokio::sync::watch::Sender<i64>,
    stop_checkpoints: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

const READERS: usize = 4;
/// Most jobs one commit takes.
const MAX_BATCH: usize = 128;

/// Raises a watched position to `position` if that is newer (waking its watchers).
fn raise(w: &tokio::sync::watch::Sender<i64>, position: i64) -> bool {
    w.send_if_modified(|h| {
        let newer = position > *h;
        if newer {
            *h = position;
        }
        newer
    })
}

/// Called after the batch's COMMIT with its outcome; hands the job's result to its caller.
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A queued write: runs on the writer connection, says whether it succeeded (kept) or
/// failed (rolled back), and how to deliver its result.
type Job = Box<dyn FnOnce(Connection) -> Pin<Box<dyn Future<Output = (bool, Deliver)> + Send>> + Send>;

impl Db {
    /// Opens the configured database and brings its schema up to date.
    pub async fn open(cfg: &StorageConfig, local_path: &std::path::Path) -> DbResult<Self> {
        let remote = !cfg.database_url.is_empty();
        let (database, reads, writer) = if remote {
            let server = remote::Server::new(&cfg.database_url, cfg.database_auth_token.expose())?;
            let writer = Connection::Remote(std::sync::Arc::new(server.stream()));
            (None, Some(remote::Reads::new(remote::Pool::new(server, cfg.database_max_connections.max(1)))), writer)
        } else {
            if let Some(dir) = local_path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let database = Builder::new_local(local_path).build().await?;
            let writer = database.connect()?;
            let sync = match cfg.synchronous.to_ascii_uppercase().as_str() {
                "NORMAL" => "NORMAL",
                "OFF" => "OFF",
                _ => "FULL",
            };
            // journal_mode answers a row, so it is queried rather than executed.
            writer.query("PRAGMA journal_mode=WAL", ()).await?;
            // Checkpoints run on their own connection (below), not inside the writer's commits.
            // The writer keeps 64 MiB of pages (index leaves of sessions and tokens are
            // touched at random: read again from the file with the default 2 MiB), and its
            // statement journals in memory (a trigger's journal spilled into a temporary
            // file several times a second under load). A WAL file grown past 64 MiB by a
            // burst is cut back to that when it next starts over (see [`spawn_checkpointer`]).
            writer
                .execute_batch(&format!(
                    "PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY; PRAGMA journal_size_limit={WAL_SIZE_LIMIT};"
                ))
                .await?;
            writer.busy_timeout(Duration::from_secs(10))?;
            (Some(database), None, Connection::cached(writer))
        };
        migrate(&writer).await?;
        let head_now = {
            let rows = writer.query("SELECT COALESCE(MAX(position), 0) FROM replication_outbox", ()).await?;
            first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0)
        };
        let (jobs, queue) = mpsc::channel::<Job>(4096);
        let backfilled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer_backfilled = database.is_some().then(|| backfilled.clone());
        let writer_thread = std::thread::Builder::new().name("aethex-db-writer".into()).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(writer_loop(writer, queue, remote, writer_backfilled)),
                Err(e) => tracing::error!(error = %e, "could not start the database writer"),
            }
        })?;
        let mut readers = Vec::with_capacity(READERS);
        let stop_checkpoints = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(database) = &database {
            for _ in 0..READERS {
                let c = database.connect()?;
                c.execute_batch("PRAGMA foreign_keys=ON;").await?;
                c.busy_timeout(Duration::from_secs(10))?;
                readers.push(Connection::cached(c));
            }
            spawn_checkpointer(database.connect()?, stop_checkpoints.clone(), backfilled)?;
        }
        let (head, _) = tokio::sync::watch::channel(head_now);
        let (committed, _) = tokio::sync::watch::channel(head_now);
        let remote_reads = std::sync::Arc::new(tokio::sync::Semaphore::new(cfg.database_max_connections.max(1)));
        Ok(Self {
            database,
            reads,
            jobs,
            writer: Some(writer_thread),
            readers,
            remote_reads,
            next_reader: AtomicUsize::new(0),
            head,
            committed,
            stop_checkpoints,
        })
    }

    /// A connection for reads: a shared one on the local file, a new one (no I/O until
    /// used) on a remote primary.
    pub async fn reader(&self) -> Reader<'_> {
        if let Some(reads) = &self.reads {
            return Reader::Own(Connection::Reads(reads.clone()));
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        Reader::Shared(&self.readers[i])
    }

    /// Runs `job` on the writer connection inside the next group commit and returns its
    /// result once that commit is durable. If the job returns `Err`, everything it wrote
    /// is rolled back (and other jobs of the batch are unaffected). So a job that must
    /// keep a write *and* report a failure (counting a failed login) returns `Ok` with an
    /// outcome the caller turns into the error.
    pub async fn write<T, E, F, Fut>(&self, job: F) -> Result<T, E>
    where
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, E>>();
        let boxed: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = job(conn).await;
                let ok = result.is_ok();
                let deliver: Deliver = Box::new(move |commit| {
                    let out = match (result, commit) {
                        (Ok(v), Ok(())) => Ok(v),
                        (Ok(_), Err(e)) => Err(DbError::Commit(e).into()),
                        (Err(e), _) => Err(e),
                    };
                    let _ = tx.send(out);
                });
                (ok, deliver)
            })
        });
        self.jobs.send(boxed).await.map_err(|_| E::from(DbError::WriterGone))?;
        rx.await.unwrap_or_else(|_| Err(E::from(DbError::WriterGone)))
    }

    /// Like [`Db::write`], for jobs that change edge-visible rows: the job gets an
    /// [`Outbox`] to append its changes to (in the same transaction). Once committed, the
    /// newest position is published to long-polling edges and to the request's
    /// `x-aethex-position` answer header.
    pub async fn write_replicated<T, E, F, Fut>(&self, job: F) -> Result<T, E>
    where
        F: FnOnce(Connection, Outbox) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let outbox = Outbox::default();
        let theirs = outbox.clone();
        let out = self.write(move |c| job(c, theirs)).await?;
        let position = outbox.last();
        if position > 0 {
            raise(&self.committed, position);
            self.advance_head(position);
            position::record(position);
        }
        Ok(out)
    }

    /// Watches the newest replication position known to be written (by any origin that
    /// tells this one, see [`Db::advance_head`]).
    pub fn head(&self) -> tokio::sync::watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// Watches the newest replication position written by this process.
    pub fn committed(&self) -> tokio::sync::watch::Receiver<i64> {
        self.committed.subscribe()
    }

    /// Another origin wrote up to `position` (or a wake-up may have been missed: any
    /// value wakes the waiters when it is newer). Returns whether it was newer.
    pub fn advance_head(&self, position: i64) -> bool {
        raise(&self.head, position)
    }

    /// Wakes every waiter on [`Db::head`] so it reads the database again (a cluster
    /// message may have been missed).
    pub fn wake_head_waiters(&self) {
        self.head.send_modify(|_| {});
    }

    /// The read model's access to this database (see [`read_model`]).
    pub async fn read_model(&self, cfg: &StorageConfig) -> DbResult<read_model::ReadModel> {
        Ok(if self.is_remote() {
            read_model::ReadModel::Remote(
                Builder::new_remote(cfg.database_url.clone(), cfg.database_auth_token.expose().to_string()).build().await?,
                self.remote_reads.clone(),
            )
        } else {
            read_model::ReadModel::Local(aethex_edge_native::LibsqlReplica::new(vec![self.local_connection()?, self.local_connection()?]))
        })
    }

    /// A connection of its own (for a long read transaction such as a snapshot).
    pub fn dedicated_connection(&self) -> DbResult<Connection> {
        match &self.reads {
            Some(reads) => Ok(Connection::Remote(std::sync::Arc::new(reads.pool().server().stream()))),
            None => Ok(Connection::cached(self.local_connection()?)),
        }
    }

    /// A new connection to the local file (not on a remote primary).
    fn local_connection(&self) -> DbResult<libsql::Connection> {
        let Some(database) = &self.database else {
            return Err(DbError::Corrupt("a local connection was asked of a remote primary".into()));
        };
        let c = database.connect()?;
        c.busy_timeout(Duration::from_secs(10))?;
        Ok(c)
    }

    pub fn is_remote(&self) -> bool {
        self.reads.is_some()
    }

    /// Cheap round trip for readiness checks.
    pub async fn ping(&self) -> DbResult<()> {
        let rows = self.reader().await.query("SELECT 1", ()).await?;
        first_row(rows).await?;
        Ok(())
    }
}

/// A connection for reads (see [`Db::reader`]); derefs to the connection.
pub enum Reader<'a> {
    Shared(&'a Connection),
    /// A connection of its own (no I/O until used), or a remote primary's reads.
    Own(Connection),
}

impl Reader<'_> {
    /// A new connection to a libSQL database (for a remote one, connecting makes no request
    /// and cannot fail).
    pub fn own(db: &Database) -> Self {
        match db.connect() {
            Ok(c) => Reader::Own(Connection::from(c)),
            Err(e) => unreachable!("a remote libSQL connection is made without I/O: {e}"),
        }
    }
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            Reader::Shared(c) => c,
            Reader::Own(c) => c,
        }
    }
}

/// Most bytes the WAL file keeps once it starts over (`journal_size_limit`).
const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// Copies the WAL back into the database file every half second (PASSIVE: it never
/// blocks the writer or readers), so commits do not pay for checkpoints. The thread ends
/// when `stop` is set (the `Db` is dropped) or a checkpoint fails.
///
/// The WAL starts over from its beginning only when a write transaction begins with every
/// frame already copied. Under a steady stream of group commits that never happens by
/// itself: the next commit always follows before this thread has copied the last one, and
/// the file grew by every commit for as long as the load lasted (200 MB in 4 s of device
/// logins), each commit allocating new file blocks and its sync writing the new size. So
/// when a checkpoint here copied everything it saw, it sets `backfilled`, and the writer,
/// between two group commits, copies the few frames committed since (see
/// [`writer_loop`]): its next transaction then writes over the start of the same file.
fn spawn_checkpointer(
    conn: libsql::Connection,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    backfilled: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<()> {
    std::thread::Builder::new().name("aethex-db-checkpoint".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            let _ = conn.busy_timeout(Duration::from_millis(100));
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                match checkpoint(&conn).await {
                    Ok((log, copied)) => {
                        metrics::gauge!("aethex_db_wal_frames").set(log as f64);
                        if log > 0 && copied == log {
                            backfilled.store(true, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "checkpointer stops");
                        return;
                    }
                }
            }
        });
    })?;
    Ok(())
}

/// A PASSIVE checkpoint: the frames in the WAL and how many of them are now copied into
/// the database file (fewer while a reader still uses older ones).
async fn checkpoint(conn: &libsql::Connection) -> Result<(i64, i64), libsql::Error> {
    let mut rows = conn.query("PRAGMA wal_checkpoint(PASSIVE)", ()).await?;
    let row = rows.next().await?;
    let counts = match &row {
        Some(r) => (r.get::<i64>(1)?, r.get::<i64>(2)?),
        None => (0, 0),
    };
    while let Ok(Some(_)) = rows.next().await {}
    Ok(counts)
}

impl Drop for Db {
    /// Closes the queue and waits for the writer to finish its batch and close its
    /// connection (queued jobs still run and are answered).
    fn drop(&mut self) {
        self.stop_checkpoints.store(true, Ordering::Relaxed);
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.jobs, closed));
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// Runs the group commits. `backfilled` (a local file only) is set by the checkpointer
/// when it has copied the whole WAL as it saw it: the writer then copies what it committed
/// since, before its next group, so that group's transaction starts the WAL over (see
/// [`spawn_checkpointer`]).
async fn writer_loop(
    conn: Connection,
    mut queue: mpsc::Receiver<Job>,
    remote: bool,
    backfilled: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) {
    while let Some(first) = queue.recv().await {
        if let (Some(flag), Connection::Local(c, _)) = (&backfilled, &conn) {
            if flag.swap(false, Ordering::Relaxed) {
                let started = Instant::now();
                if let Err(e) = checkpoint(c).await {
                    tracing::debug!(error = %e, "the writer's checkpoint failed; the WAL goes on growing until the next one");
                }
                metrics::histogram!("aethex_db_writer_checkpoint_seconds").record(started.elapsed().as_secs_f64());
            }
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let n = batch.len();
        let mut delivers = Vec::with_capacity(n);
        let outcome = run_batch(&conn, batch, &mut delivers).await;
        if let Err(e) = &outcome {
            tracing::error!(error = %e, jobs = n, "group commit failed; rolled back");
            let _ = conn.execute("ROLLBACK", ()).await;
            if remote {
                // The stream may hold a used baton, a canceled flag or a transaction the
                // server gave up on: the next batch starts on a new stream (the server ends
                // the old one's transaction, if any, at its own timeout).
                conn.reset().await;
            }
        }
        metrics::histogram!("aethex_db_commit_batch_jobs").record(n as f64);
        metrics::histogram!("aethex_db_commit_seconds").record(started.elapsed().as_secs_f64());
        for d in delivers {
            d(outcome.clone());
        }
    }
}

/// How long a write waits for the write lock (held by another origin's commit, or by a
/// transaction of a dead origin until the server's own timeout ends it) before it fails.
const LOCK_WAIT: Duration = Duration::from_secs(15);

/// Runs `body` on `conn` inside `BEGIN IMMEDIATE` … `COMMIT` (rolled back when it fails;
/// on a server, the stream is then reset, see [`writer_loop`]). For connections outside the
/// group-commit writer, such as the analytics database's.
pub async fn immediate<T, F, Fut>(conn: &Connection, remote: bool, body: F) -> DbResult<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = DbResult<T>>,
{
    begin_immediate(conn).await?;
    let out = match body().await {
        Ok(v) => conn.execute("COMMIT", ()).await.map(|_| v).map_err(DbError::from),
        Err(e) => Err(e),
    };
    if out.is_err() {
        let _ = conn.execute("ROLLBACK", ()).await;
        if remote {
            conn.reset().await;
        }
    }
    out
}

/// `BEGIN IMMEDIATE`, tried again while the database is locked, for up to [`LOCK_WAIT`].
async fn begin_immediate(conn: &Connection) -> Result<(), libsql::Error> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match conn.execute("BEGIN IMMEDIATE", ()).await {
            Ok(_) => return Ok(()),
            Err(e) if is_busy(&e) && started.elapsed() < LOCK_WAIT => {
                metrics::counter!("aethex_db_lock_waits_total").increment(1);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether the error says the database is locked by another writer.
pub fn is_busy(e: &libsql::Error) -> bool {
    remote::busy_text(&e.to_string())
}

async fn run_batch(conn: &Connection, batch: Vec<Job>, delivers: &mut Vec<Deliver>) -> Result<(), String> {
    if let Connection::Remote(stream) = conn {
        return run_remote_batch(conn, stream, batch, delivers).await;
    }
    begin_immediate(conn).await.map_err(|e| e.to_string())?;
    for job in batch {
        conn.execute("SAVEPOINT job", ()).await.map_err(|e| e.to_string())?;
        let ran = run_job(conn, job).await;
        if !ran.as_ref().is_some_and(|(kept, _)| *kept) {
            conn.execute("ROLLBACK TO job", ()).await.map_err(|e| e.to_string())?;
        }
        delivers.extend(ran.map(|(_, deliver)| deliver));
        conn.execute("RELEASE job", ()).await.map_err(|e| e.to_string())?;
    }
    conn.execute("COMMIT", ()).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Runs one job of a group commit: whether its writes are kept, and how to answer it.
/// `None` when it panicked: its writes are rolled back, and its caller sees "writer gone"
/// (its sender was dropped) while the rest go on.
async fn run_job(conn: &Connection, job: Job) -> Option<(bool, Deliver)> {
    match std::panic::AssertUnwindSafe(job(conn.clone())).catch_unwind().await {
        Ok(ran) => Some(ran),
        Err(_) => {
            tracing::error!("a database write job panicked; its writes were rolled back");
            None
        }
    }
}

/// [`run_batch`] on a remote primary: the jobs' statements are sent together (see
/// [`remote::Stream::begin_group`]); a job whose statement failed on the server gets that
/// error, the others the commit's outcome.
async fn run_remote_batch(conn: &Connection, stream: &remote::Stream, batch: Vec<Job>, delivers: &mut Vec<Deliver>) -> Result<(), String> {
    stream.begin_group();
    let mut jobs = Vec::with_capacity(batch.len());
    for (i, job) in batch.into_iter().enumerate() {
        let id = i as u32;
        stream.start_job(id);
        let ran = run_job(conn, job).await;
        stream.end_job(id, ran.as_ref().is_some_and(|(kept, _)| *kept));
        jobs.extend(ran.map(|(_, deliver)| (id, deliver)));
    }
    match stream.commit_group().await {
        Ok(failed) => {
            for (id, deliver) in jobs {
                match failed.iter().find(|(f, _)| *f == id) {
                    Some((_, e)) => deliver(Err(e.clone())),
                    None => delivers.push(deliver),
                }
            }
            Ok(())
        }
        Err(e) => {
            delivers.extend(jobs.into_iter().map(|(_, d)| d));
            Err(e.to_string())
        }
    }
}

async fn migrate(conn: &Connection) -> DbResult<()> {
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)", ())
        .await?;
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    let found = schema_version(conn).await?;
    if found > known {
        return Err(DbError::SchemaTooNew { found, known });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > found) {
        // Each step reads the schema's version inside its own write transaction: when
        // several origins start together on one database, the write lock lets one apply
        // the step and the others find it done.
        begin_immediate(conn).await?;
        let step = async {
            let current = schema_version(conn).await?;
            if current > known {
                return Err(DbError::SchemaTooNew { found: current, known });
            }
            if current >= *version {
                return Ok(false);
            }
            for piece in sql.iter() {
                conn.execute_batch(piece).await?;
            }
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                libsql::params![*version, *name, crate::clock::now()],
            )
            .await?;
            Ok(true)
        };
        match step.await {
            Ok(applied) => {
                conn.execute("COMMIT", ()).await?;
                if applied {
                    tracing::info!(version, name, "applied migration");
                }
            }
            Err(e) => {
                let _ = conn.execute("ROLLBACK", ()).await;
                return Err(e);
            }
        }
    }
    Ok(())
}

async fn schema_version(conn: &Connection) -> DbResult<i64> {
    let rows = conn.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", ()).await?;
    Ok(match first_row(rows).await? {
        Some(row) => row.get(0)?,
        None => 0,
    })
}

/// The first row of a query's answer, after reading the rest of it. A remote libSQL
/// server cancels a statement whose answer the client stops reading, and the canceled
/// flag then interrupts the next statement prepared on that stream; reading every
/// answer to its end keeps each request whole.
/// (A local file's row is a view of its statement, so there the rest is left unread.)
pub async fn first_row(mut rows: Rows) -> DbResult<Option<Row>> {
    let first = rows.next().await?;
    if first.is_some() && !rows.is_remote() && READ_ANSWERS_TO_THE_END.load(Ordering::Relaxed) {
        while rows.next().await?.is_some() {}
    }
    Ok(first)
}

/// Set when this process opens a remote database through the libsql crate (the analytics
/// database, see [`first_row`]).
pub(crate) static READ_ANSWERS_TO_THE_END: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Reads an optional text column.
pub fn opt_text(row: &Row, idx: i32) -> DbResult<Option<String>> {
    Ok(match row.get_value(idx)? {
        libsql::Value::Null => None,
        libsql::Value::Text(s) => Some(s),
        other => return Err(DbError::Corrupt(format!("column {idx}: expected text, found {other:?}"))),
    })
}

/// Reads a 0/1 column as bool.
pub fn flag(row: &Row, idx: i32) -> DbResult<bool> {
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
        let mut rows = db.reader().await.query("SELECT COUNT(*) FROM schema_migrations", ()).await.unwrap();
        let n: i64 = rows.next().await.unwrap().unwrap().get(0).unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
        drop(rows);
        db.write(|c| async move { c.execute("INSERT INTO schema_migrations VALUES (999, 'future', '')", ()).await.map_err(DbError::from) })
            .await
            .unwrap();
        drop(db);
        match Db::open(&cfg, &path).await {
            Err(DbError::SchemaTooNew { found: 999, .. }) => {}
            Err(other) => panic!("expected SchemaTooNew, got {other}"),
            Ok(_) => panic!("expected SchemaTooNew, got Ok"),
        }
    }

    #[tokio::test]
    async fn a_failed_job_rolls_back_alone_and_concurrent_jobs_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = std::sync::Arc::new(Db::open(&StorageConfig::default(), &dir.path().join("t.db")).await.unwrap());
        db.write(|c| async move { c.execute("CREATE TABLE k (v INTEGER)", ()).await.map_err(DbError::from) }).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..200i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.write(move |c| async move {
                    c.execute("INSERT INTO k VALUES (?1)", libsql::params![i]).await?;
                    if i % 10 == 0 {
                        return Err(DbError::Corrupt("refused".into()));
                    }
                    Ok(i)
                })
                .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 180);
        let mut rows = db.reader().await.query("SELECT COUNT(*), SUM(v % 10 = 0) FROM k", ()).await.unwrap();
        let row = rows.next().await.unwrap().unwrap();
        assert_eq!((row.get::<i64>(0).unwrap(), row.get::<i64>(1).unwrap()), (180, 0), "failed jobs left nothing behind");
    }

    #[tokio::test]
    async fn the_wal_is_checkpointed_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::open(&StorageConfig::default(), &path).await.unwrap();
        db.write(|c| async move { c.execute("CREATE TABLE big (v BLOB)", ()).await.map_err(DbError::from) }).await.unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        for _ in 0..50 {
            db.write(|c| async move { c.execute("INSERT INTO big VALUES (zeroblob(40000))", ()).await.map_err(DbError::from) }).await.unwrap();
        }
        // The writer does not checkpoint (wal_autocheckpoint=0); the checkpointer copies the
        // 2 MB into the database file within a second or so.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::metadata(&path).unwrap().len() < before + 1_500_000 {
            assert!(std::time::Instant::now() < deadline, "the database file did not grow: nothing was checkpointed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Without the writer's own catch-up checkpoint the WAL grew by every commit for as
    /// long as commits kept coming (the background checkpoint never saw it whole).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_a_steady_stream_of_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let wal = dir.path().join("t.db-wal");
        let db = std::sync::Arc::new(Db::open(&StorageConfig::default(), &path).await.unwrap());
        db.write(|c| async move { c.execute("CREATE TABLE big (v BLOB)", ()).await.map_err(DbError::from) }).await.unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(4);
        let writers: Vec<_> = (0..16)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while std::time::Instant::now() < until {
                        db.write(|c| async move { c.execute("INSERT INTO big VALUES (zeroblob(8000))", ()).await.map_err(DbError::from) })
                            .await
                            .unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut largest = 0;
        while std::time::Instant::now() < until {
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut rows_written = 0;
        for w in writers {
            rows_written += w.await.unwrap();
        }
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        let written = rows_written * 8000;
        assert!(written > 8_000_000, "too few writes to tell: {rows_written} rows");
        assert!(largest < written / 2, "the WAL grew to {largest} bytes for {written} bytes written: it never started over");
        drop(db);
        let db = Db::open(&StorageConfig::default(), &path).await.unwrap();
        let mut rows = db.reader().await.query("SELECT COUNT(*) FROM big", ()).await.unwrap();
        assert_eq!(
            rows.next().await.unwrap().unwrap().get::<i64>(0).unwrap() as u64,
            rows_written,
            "every acknowledged row is there after the WAL started over"
        );
    }

    /// A WAL grown past [`WAL_SIZE_LIMIT`] (here: while a reader held an old snapshot, so
    /// nothing could start over) is cut back to the limit once it starts over.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wal_grown_by_a_burst_is_cut_back_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let wal = dir.path().join("t.db-wal");
        let db = Db::open(&StorageConfig::default(), &path).await.unwrap();
        db.write(|c| async move { c.execute("CREATE TABLE big (v BLOB)", ()).await.map_err(DbError::from) }).await.unwrap();
        let reader = db.dedicated_connection().unwrap();
        reader.execute("BEGIN", ()).await.unwrap();
        let mut rows = reader.query("SELECT COUNT(*) FROM big", ()).await.unwrap();
        while rows.next().await.unwrap().is_some() {}
        drop(rows);
        let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        while size() <= WAL_SIZE_LIMIT + 8 * 1024 * 1024 {
            db.write(|c| async move { c.execute("INSERT INTO big VALUES (zeroblob(1000000))", ()).await.map_err(DbError::from) }).await.unwrap();
        }
        reader.execute("COMMIT", ()).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size() > WAL_SIZE_LIMIT {
            assert!(std::time::Instant::now() < deadline, "the WAL stayed at {} bytes", size());
            db.write(|c| async move { c.execute("INSERT INTO big VALUES (zeroblob(1000))", ()).await.map_err(DbError::from) }).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
