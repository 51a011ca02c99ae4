//! The replica file: the edge read model in libSQL plus the position it has applied.
//!
//! Every batch of changes is applied in one transaction together with the new position,
//! so after a crash the file holds exactly the batches that committed, and pulling resumes
//! after the last of them. Changes at or below the stored position are skipped, so a
//! batch delivered twice is applied once.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aethex_protocol::replica::{
    Change, SnapshotHeader, RANK_INDEX_FILL, RANK_INDEX_SCHEMA, RANK_INDEX_SUSPEND, REPLICA_SCHEMA, SCHEMA_VERSION, TABLES,
};
use libsql::{params, Builder, Connection, Database, OpenFlags};

use crate::boards::BoardIndex;
use crate::replica::to_libsql;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("replica database: {0}")]
    Sql(#[from] libsql::Error),
    #[error("{0}")]
    BadChange(#[from] aethex_protocol::replica::BadChange),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What the replica has applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    pub position: i64,
    pub epoch: String,
    pub schema_version: i64,
    /// Changes applied since the last bootstrap (snapshot rows included).
    pub applied: i64,
}

pub struct ReplicaStore {
    _db: Database,
    _ro: Database,
    writer: Connection,
    readers: Vec<Connection>,
    /// The leaderboards in memory, kept in step with every applied batch (`None`: off).
    boards: Option<Arc<BoardIndex>>,
}

const READERS: usize = 4;

impl ReplicaStore {
    /// Opens (creating if needed) the replica file and its schema, with the leaderboards
    /// in memory.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, Some(crate::boards::DEFAULT_MAX_ENTRIES)).await
    }

    /// [`ReplicaStore::open`], keeping up to this many leaderboard entries in memory
    /// ([`BoardIndex`]), or none.
    pub async fn open_with(path: &Path, board_index: Option<usize>) -> StoreResult<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let db = Builder::new_local(path).build().await?;
        let writer = db.connect()?;
        writer.query("PRAGMA journal_mode=WAL", ()).await?;
        // A replica can always pull again: NORMAL is crash-safe for the process (what a
        // kill tests); FULL would add an fsync per batch for power loss only.
        writer.execute_batch("PRAGMA synchronous=NORMAL;").await?;
        writer.busy_timeout(Duration::from_secs(10))?;
        drop_other_schema(&writer).await?;
        writer.execute_batch(REPLICA_SCHEMA).await?;
        writer.execute_batch(RANK_INDEX_SCHEMA).await?;
        // Readers cannot write, whatever they are asked (the Hrana endpoint serves them).
        let ro = Builder::new_local(path).flags(OpenFlags::SQLITE_OPEN_READ_ONLY).build().await?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let c = ro.connect()?;
            c.busy_timeout(Duration::from_secs(10))?;
            c.execute_batch("PRAGMA query_only=1;").await?;
            readers.push(c);
        }
        let store = Self { _db: db, _ro: ro, writer, readers, boards: board_index.map(|max| Arc::new(BoardIndex::new(max))) };
        if let Some(state) = store.state().await? {
            store.load_boards(state.position).await?;
        }
        Ok(store)
    }

    /// The leaderboards in memory, if kept.
    pub fn boards(&self) -> Option<Arc<BoardIndex>> {
        self.boards.clone()
    }

    /// Builds the leaderboards in memory from the file (at `position`).
    async fn load_boards(&self, position: i64) -> StoreResult<()> {
        if let Some(b) = &self.boards {
            b.load(&self.writer, position).await?;
        }
        Ok(())
    }

    /// Read-only connections.
    pub fn readers(&self) -> Vec<Connection> {
        self.readers.clone()
    }

    pub async fn state(&self) -> StoreResult<Option<ReplicaState>> {
        read_state(&self.writer).await
    }

    /// Applies one pulled batch. Returns how many changes were applied (already-applied
    /// ones are skipped). `pause` holds the transaction open that long before committing
    /// (a fault-injection aid for crash tests; zero in production).
    pub async fn apply(&self, epoch: &str, changes: &[Change], pause: Duration) -> StoreResult<usize> {
        let tx = self.writer.transaction_with_behavior(libsql::TransactionBehavior::Immediate).await?;
        let state = read_state(&tx).await?;
        let from = match &state {
            Some(s) if s.epoch == epoch => s.position,
            _ => return Ok(0), // not bootstrapped for this epoch: the caller bootstraps
        };
        let mut applied = 0usize;
        let mut position = from;
        for c in changes.iter().filter(|c| c.position > from) {
            let sql = c.to_sql()?;
            tx.execute(&sql.sql, args(&sql.args)).await?;
            position = position.max(c.position);
            applied += 1;
        }
        if applied == 0 {
            return Ok(0);
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        tx.execute(
            "UPDATE replica_state SET position = ?1, applied = applied + ?2, applied_at = ?3 WHERE id = 1",
            params![position, applied as i64, now()],
        )
        .await?;
        tx.commit().await?;
        // The same step for the leaderboards in memory (the applier is the file's only
        // writer, so a rebuild here reads exactly this position).
        if let Some(b) = &self.boards {
            if !b.apply(changes.iter().filter(|c| c.position > from), position) {
                tracing::warn!(position, "a change could not be mirrored in memory; loading the leaderboards again");
                self.load_boards(position).await?;
            }
        }
        Ok(applied)
    }

    /// Starts replacing the whole read model with a snapshot: rows are added as they
    /// stream in, and nothing is visible (or kept, if the stream breaks off) until
    /// [`Bootstrap::finish`] commits.
    pub async fn begin_bootstrap(&self) -> StoreResult<Bootstrap> {
        let tx = self.writer.transaction_with_behavior(libsql::TransactionBehavior::Immediate).await?;
        // The rank index is rebuilt in one pass at the end, not row by row by its triggers.
        tx.execute_batch(RANK_INDEX_SUSPEND).await?;
        for t in TABLES {
            tx.execute(&format!("DELETE FROM {}", t.name), ()).await?;
        }
        // Built again from the snapshot once it is in (reads use SQL meanwhile).
        if let Some(b) = &self.boards {
            b.invalidate();
        }
        Ok(Bootstrap { tx, rows: 0, boards: self.boards.clone().map(|b| (b, self.writer.clone())) })
    }

    /// A whole snapshot at once (tests, small read models).
    pub async fn bootstrap(&self, header: &SnapshotHeader, rows: &[Change]) -> StoreResult<()> {
        let mut b = self.begin_bootstrap().await?;
        for c in rows {
            b.add(c).await?;
        }
        b.finish(header).await
    }
}

/// A snapshot being applied (one open transaction; rolled back if dropped unfinished).
pub struct Bootstrap {
    tx: libsql::Transaction,
    rows: i64,
    /// The leaderboards in memory to build once committed, and the writer to read from.
    boards: Option<(Arc<BoardIndex>, Connection)>,
}

impl Bootstrap {
    /// Rows added so far.
    pub fn rows(&self) -> u64 {
        self.rows as u64
    }

    pub async fn add(&mut self, c: &Change) -> StoreResult<()> {
        let sql = c.to_sql()?;
        self.tx.execute(&sql.sql, args(&sql.args)).await?;
        self.rows += 1;
        Ok(())
    }

    pub async fn finish(self, header: &SnapshotHeader) -> StoreResult<()> {
        self.tx.execute_batch(RANK_INDEX_FILL).await?;
        self.tx.execute_batch(RANK_INDEX_SCHEMA).await?;
        self.tx
            .execute(
                "INSERT INTO replica_state (id, position, epoch, schema_version, applied, applied_at) VALUES (1, ?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET position = excluded.position, epoch = excluded.epoch,
                   schema_version = excluded.schema_version, applied = excluded.applied, applied_at = excluded.applied_at",
                params![header.position, header.epoch.clone(), SCHEMA_VERSION, self.rows, now()],
            )
            .await?;
        self.tx.commit().await?;
        if let Some((b, writer)) = &self.boards {
            b.load(writer, header.position).await?;
        }
        Ok(())
    }
}

fn args(values: &[serde_json::Value]) -> Vec<libsql::Value> {
    values.iter().map(|v| to_libsql(&aethex_edge::Value::from_json(v))).collect()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A replica file made by another version of the schema is dropped whole (it is derived
/// data): its tables may lack columns, and the edge bootstraps again anyway.
async fn drop_other_schema(conn: &Connection) -> StoreResult<()> {
    let mut rows = conn.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'replica_state'", ()).await?;
    if rows.next().await?.is_none() {
        return Ok(());
    }
    drop(rows);
    let mut rows = conn.query("SELECT schema_version FROM replica_state WHERE id = 1", ()).await?;
    let version = match rows.next().await? {
        Some(r) => Some(r.get::<i64>(0)?),
        None => None,
    };
    drop(rows);
    if version.is_none_or(|v| v == SCHEMA_VERSION) {
        return Ok(());
    }
    tracing::info!(found = ?version, wanted = SCHEMA_VERSION, "replica made by another schema version: dropping it");
    let mut ddl = String::from("BEGIN;\n");
    for t in TABLES.iter().map(|t| t.name).chain(["leaderboard_rank_counts", "leaderboard_rank_levels", "replica_state"]) {
        ddl.push_str(&format!("DROP TABLE IF EXISTS {t};\n"));
    }
    ddl.push_str("COMMIT;");
    conn.execute_batch(&ddl).await?;
    Ok(())
}

async fn read_state(conn: &Connection) -> StoreResult<Option<ReplicaState>> {
    let mut rows = conn.query("SELECT position, epoch, schema_version, applied FROM replica_state WHERE id = 1", ()).await?;
    let Some(r) = rows.next().await? else { return Ok(None) };
    let s = ReplicaState { position: r.get(0)?, epoch: r.get(1)?, schema_version: r.get(2)?, applied: r.get(3)? };
    Ok(if s.schema_version == SCHEMA_VERSION { Some(s) } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aethex_protocol::replica::{table, Change};
    use serde_json::json;

    fn game(pos: i64, id: &str, quota: i64) -> Change {
        let mut c =
            Change::upsert(table("games").unwrap(), json!({"game_id": id, "tier": "free", "quota_bytes": quota}).as_object().unwrap().clone());
        c.position = pos;
        c
    }

    #[tokio::test]
    async fn batches_apply_once_and_resume_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replica.db");
        let store = ReplicaStore::open(&path).await.unwrap();
        assert_eq!(store.state().await.unwrap(), None);
        // Not bootstrapped: nothing is applied.
        assert_eq!(store.apply("e1", &[game(1, "a", 1)], Duration::ZERO).await.unwrap(), 0);
        store.bootstrap(&SnapshotHeader { epoch: "e1".into(), position: 5, schema_version: SCHEMA_VERSION }, &[game(0, "a", 1)]).await.unwrap();
        assert_eq!(store.apply("e1", &[game(4, "old", 1), game(6, "b", 2), game(7, "a", 3)], Duration::ZERO).await.unwrap(), 2);
        // The same batch again changes nothing.
        assert_eq!(store.apply("e1", &[game(6, "b", 2), game(7, "a", 3)], Duration::ZERO).await.unwrap(), 0);
        // Another epoch is refused.
        assert_eq!(store.apply("e2", &[game(8, "c", 1)], Duration::ZERO).await.unwrap(), 0);
        drop(store);
        let store = ReplicaStore::open(&path).await.unwrap();
        let s = store.state().await.unwrap().unwrap();
        assert_eq!((s.position, s.applied), (7, 3));
        let mut rows = store.readers()[0].query("SELECT game_id, quota_bytes FROM games ORDER BY game_id", ()).await.unwrap();
        let mut got = vec![];
        while let Some(r) = rows.next().await.unwrap() {
            got.push((r.get::<String>(0).unwrap(), r.get::<i64>(1).unwrap()));
        }
        assert_eq!(got, vec![("a".to_string(), 3), ("b".to_string(), 2)]);
        // Readers cannot write.
        assert!(store.readers()[0].execute("DELETE FROM games", ()).await.is_err());
    }

    /// A replica file of an older schema (here: `games` without `coppa`) is dropped on
    /// open, so the next bootstrap can write every column of the current schema.
    #[tokio::test]
    async fn a_replica_of_another_schema_version_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replica.db");
        {
            let db = Builder::new_local(&path).build().await.unwrap();
            let c = db.connect().unwrap();
            c.execute_batch(
                "CREATE TABLE replica_state (id INTEGER PRIMARY KEY, position INTEGER NOT NULL, epoch TEXT NOT NULL,
                   schema_version INTEGER NOT NULL, applied INTEGER NOT NULL, applied_at TEXT NOT NULL);
                 INSERT INTO replica_state VALUES (1, 9, 'e0', 3, 1, 'then');
                 CREATE TABLE games (game_id TEXT PRIMARY KEY, tier TEXT NOT NULL, quota_bytes INTEGER NOT NULL);
                 INSERT INTO games VALUES ('old', 'free', 1);",
            )
            .await
            .unwrap();
        }
        let store = ReplicaStore::open(&path).await.unwrap();
        assert_eq!(store.state().await.unwrap(), None);
        let mut g = game(0, "kids", 1);
        g.row.insert("coppa".into(), json!(1));
        store.bootstrap(&SnapshotHeader { epoch: "e1".into(), position: 1, schema_version: SCHEMA_VERSION }, &[g]).await.unwrap();
        let mut rows = store.readers()[0].query("SELECT game_id, coppa FROM games", ()).await.unwrap();
        let r = rows.next().await.unwrap().unwrap();
        assert_eq!((r.get::<String>(0).unwrap(), r.get::<i64>(1).unwrap()), ("kids".to_string(), 1));
        assert!(rows.next().await.unwrap().is_none());
    }

    /// The players of board `main` of game `g` in rank order, as the file sorts them.
    async fn sorted_main(store: &ReplicaStore) -> Vec<String> {
        let mut rows = store.readers()[0]
            .query(
                "SELECT user_id FROM leaderboard_entries WHERE game_id = 'g' AND leaderboard_id = 'main' ORDER BY rank_score, updated_at, user_id",
                (),
            )
            .await
            .unwrap();
        let mut v = Vec::new();
        while let Some(r) = rows.next().await.unwrap() {
            v.push(r.get::<String>(0).unwrap());
        }
        v
    }

    /// Past its bound the index gives up (around-me uses SQL) without being rebuilt on
    /// every batch, and a replica opened again with more entries than allowed starts
    /// without it.
    #[tokio::test]
    async fn leaderboards_in_memory_give_up_past_their_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replica.db");
        let store = ReplicaStore::open_with(&path, Some(50)).await.unwrap();
        store.bootstrap(&SnapshotHeader { epoch: "e1".into(), position: 0, schema_version: SCHEMA_VERSION }, &[]).await.unwrap();
        let boards = store.boards().unwrap();
        let board_row = json!({"game_id": "g", "leaderboard_id": "b", "name": "B", "sort_order": "desc", "operator": "best"});
        let mut changes = vec![Change::upsert(table("leaderboards").unwrap(), board_row.as_object().unwrap().clone())];
        for i in 0..60 {
            let row = json!({"game_id": "g", "leaderboard_id": "b", "user_id": format!("u{i}"), "username": "p", "score": i, "rank_score": -i,
                "metadata": null, "updated_at": "2026-01-01T00:00:00Z"});
            changes.push(Change::upsert(table("leaderboard_entries").unwrap(), row.as_object().unwrap().clone()));
        }
        for (i, c) in changes.iter_mut().enumerate() {
            c.position = i as i64 + 1;
        }
        store.apply("e1", &changes[..40], Duration::ZERO).await.unwrap();
        assert_eq!(boards.around("g", "b", "u5", 1).map(|(p, _)| p.map(|p| p.entries[0].rank)), Some(Some(34)));
        store.apply("e1", &changes[40..], Duration::ZERO).await.unwrap();
        assert!(boards.around("g", "b", "u5", 1).is_none(), "off past 50 entries");
        assert!(boards.gave_up().is_some_and(|w| w.contains("more than 50")));
        drop(boards);
        drop(store);
        let store = ReplicaStore::open_with(&path, Some(50)).await.unwrap();
        assert!(store.boards().unwrap().around("g", "b", "u5", 1).is_none());
        let store = {
            drop(store);
            ReplicaStore::open_with(&path, Some(100)).await.unwrap()
        };
        assert_eq!(store.boards().unwrap().around("g", "b", "u5", 1).map(|(p, at)| (p.map(|p| p.entries[0].rank), at)), Some((Some(55), 61)));
    }

    /// The rank index (triggers over `leaderboard_entries`) gives the same ranks as
    /// counting the board, through inserts, score changes, deletes and a re-bootstrap;
    /// with negative scores, extremes and many ties.
    #[tokio::test]
    async fn the_rank_index_agrees_with_counting_the_board() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReplicaStore::open(&dir.path().join("replica.db")).await.unwrap();
        let boards = store.boards().expect("the leaderboards are kept in memory");
        let header = SnapshotHeader { epoch: "e1".into(), position: 0, schema_version: SCHEMA_VERSION };
        store.bootstrap(&header, &[]).await.unwrap();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let score = |r: u64| -> i64 {
            match r % 6 {
                0 => i64::MIN + (r % 3) as i64,
                1 => i64::MAX - (r % 3) as i64,
                2 => (r % 7) as i64 - 3,
                3 => -((r >> 8) as i64 % 1_000_000_000),
                _ => (r >> 8) as i64 % 1_000_000,
            }
        };
        let entry = |pos: i64, board: &str, user: u64, rank_score: i64, at: u64| {
            let metadata = if at.is_multiple_of(3) { json!(format!("{{\"lvl\":{at}}}")) } else { json!(null) };
            let row = json!({"game_id": "g", "leaderboard_id": board, "user_id": format!("u{user:03}"), "username": format!("p{user}"),
                "score": rank_score.wrapping_neg(), "rank_score": rank_score, "metadata": metadata, "updated_at": format!("2026-01-01T00:00:{:02}Z", at % 60)});
            let mut c = Change::upsert(table("leaderboard_entries").unwrap(), row.as_object().unwrap().clone());
            c.position = pos;
            c
        };
        let mut pos = 0;
        let delete = |pos: &mut i64, filter: serde_json::Value| {
            *pos += 1;
            let mut c = Change::delete(table("leaderboard_entries").unwrap(), filter.as_object().unwrap().clone());
            c.position = *pos;
            c
        };
        for round in 0..6 {
            let mut batch = Vec::new();
            if round == 3 {
                // A whole board emptied (the index mirrors a filter without user_id).
                batch.push(delete(&mut pos, json!({"game_id": "g", "leaderboard_id": "other"})));
            }
            if round == 5 {
                // A filter the index cannot mirror: it is built again from the file.
                batch.push(delete(&mut pos, json!({"game_id": "g", "username": "p7"})));
            }
            for _ in 0..150 {
                pos += 1;
                let r = rnd();
                let board = if r % 5 == 0 { "other" } else { "main" };
                if round > 1 && r % 11 == 0 {
                    let key = json!({"game_id": "g", "leaderboard_id": board, "user_id": format!("u{:03}", (r >> 20) % 200)});
                    let mut c = Change::delete(table("leaderboard_entries").unwrap(), key.as_object().unwrap().clone());
                    c.position = pos;
                    batch.push(c);
                } else {
                    batch.push(entry(pos, board, (r >> 20) % 200, score(r >> 3), r >> 40));
                }
            }
            store.apply("e1", &batch, Duration::ZERO).await.unwrap();
            if round == 4 {
                // A re-bootstrap from the current rows rebuilds the index from scratch.
                let mut rows =
                    store.readers()[0].query("SELECT leaderboard_id, user_id, rank_score, updated_at FROM leaderboard_entries", ()).await.unwrap();
                let mut snapshot = Vec::new();
                while let Some(r) = rows.next().await.unwrap() {
                    let row = json!({"game_id": "g", "leaderboard_id": r.get::<String>(0).unwrap(), "user_id": r.get::<String>(1).unwrap(), "username": "p",
                        "score": r.get::<i64>(2).unwrap(), "rank_score": r.get::<i64>(2).unwrap(), "metadata": "{}", "updated_at": r.get::<String>(3).unwrap()});
                    snapshot.push(Change::upsert(table("leaderboard_entries").unwrap(), row.as_object().unwrap().clone()));
                }
                store.bootstrap(&SnapshotHeader { position: pos, ..header.clone() }, &snapshot).await.unwrap();
            }
            let sql = format!(
                "SELECT e.leaderboard_id, e.user_id, {},
                   (SELECT COUNT(*) FROM leaderboard_entries x WHERE x.game_id = ?1 AND x.leaderboard_id = e.leaderboard_id
                     AND (x.rank_score, x.updated_at, x.user_id) < (e.rank_score, e.updated_at, e.user_id))
                 FROM leaderboard_entries e WHERE e.game_id = ?1 AND e.leaderboard_id = ?2",
                aethex_protocol::replica::entries_ahead_sql("e.rank_score", "e.updated_at", "e.user_id")
            );
            for board in ["main", "other"] {
                let mut rows = store.readers()[0].query(&sql, libsql::params!["g", board]).await.unwrap();
                let mut n = 0;
                while let Some(r) = rows.next().await.unwrap() {
                    let (indexed, counted) = (r.get::<i64>(2).unwrap(), r.get::<i64>(3).unwrap());
                    assert_eq!(indexed, counted, "round {round}, board {board}, user {}", r.get::<String>(1).unwrap());
                    n += 1;
                }
                assert!(n > 10, "board {board} has {n} entries");
            }
            // around-me through the read model is the window of the sorted board.
            pos += 1;
            let board_row = json!({"game_id": "g", "leaderboard_id": "main", "name": "Main", "sort_order": "asc", "operator": "best"});
            let mut c = Change::upsert(table("leaderboards").unwrap(), board_row.as_object().unwrap().clone());
            c.position = pos;
            store.apply("e1", &[c], Duration::ZERO).await.unwrap();
            let sorted = sorted_main(&store).await;
            let replica = crate::replica::LibsqlReplica::new(store.readers());
            let n = sorted.len();
            for idx in (0..n).step_by(7).chain([0, 1, n - 2, n - 1]) {
                for limit in [1u32, 2, 5, 10] {
                    let page = aethex_edge::readmodel::leaderboard_around(&replica, "g", "main", &sorted[idx], limit).await.unwrap().unwrap();
                    let want = (limit as usize).min(n);
                    let start = idx.saturating_sub((want - 1) / 2).min(n - want);
                    let got: Vec<(i64, String)> = page.entries.iter().map(|e| (e.rank, e.user_id.clone())).collect();
                    let expected: Vec<(i64, String)> = (start..start + want).map(|i| (i as i64 + 1, sorted[i].clone())).collect();
                    assert_eq!(got, expected, "round {round}, player at {idx}, limit {limit}");
                    // The leaderboards in memory answer the same page, at the applied position.
                    let (mem, at) = boards.around("g", "main", &sorted[idx], limit).expect("the index is on");
                    assert_eq!((mem.as_ref(), at), (Some(&page), pos), "in memory: round {round}, player at {idx}, limit {limit}");
                }
            }
            let nobody = aethex_edge::readmodel::leaderboard_around(&replica, "g", "main", "nobody", 5).await.unwrap().unwrap();
            assert!(nobody.entries.is_empty());
            assert_eq!(boards.around("g", "main", "nobody", 5), Some((Some(nobody), pos)));
            assert!(aethex_edge::readmodel::leaderboard_around(&replica, "g", "nope", &sorted[0], 5).await.unwrap().is_none());
            assert_eq!(boards.around("g", "nope", &sorted[0], 5), Some((None, pos)));
            let other = boards.stats();
            assert!(other.valid && other.boards == 2, "{other:?}");
            assert_eq!(other.entries as i64, {
                let mut rows = store.readers()[0].query("SELECT COUNT(*) FROM leaderboard_entries", ()).await.unwrap();
                rows.next().await.unwrap().unwrap().get::<i64>(0).unwrap()
            });
        }
        // Opened again, the index is built from the file and answers as SQL does.
        let sorted_main = sorted_main(&store).await;
        drop(boards);
        drop(store);
        let store = ReplicaStore::open(&dir.path().join("replica.db")).await.unwrap();
        let replica = crate::replica::LibsqlReplica::new(store.readers());
        for user in sorted_main.iter().step_by(5) {
            let page = aethex_edge::readmodel::leaderboard_around(&replica, "g", "main", user, 7).await.unwrap();
            assert_eq!(store.boards().unwrap().around("g", "main", user, 7), Some((page, pos)));
        }
        // Nothing is left over in the index once the entries are gone.
        store.bootstrap(&SnapshotHeader { position: pos, ..header }, &[]).await.unwrap();
        let mut rows = store.readers()[0].query("SELECT COUNT(*) FROM leaderboard_rank_counts", ()).await.unwrap();
        assert_eq!(rows.next().await.unwrap().unwrap().get::<i64>(0).unwrap(), 0);
    }
}
