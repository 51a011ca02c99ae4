//! The edge core's [`Replica`] on local libSQL connections (the native edge's replica
//! file, or origin's own database, whose read-model tables have the same shape).
//!
//! Each connection keeps its prepared statements (the read model asks the same few
//! queries again and again; preparing them was a quarter of an edge read's CPU), and a
//! batch of several statements runs in one read transaction: one snapshot for the whole
//! answer, and one WAL read lock instead of one per statement.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aethex_edge::{Replica, ReplicaError, Rows, Stmt, Value};
use libsql::{Connection, Statement};

use crate::boards::BoardIndex;

/// Most statements one connection keeps prepared.
const MAX_PREPARED: usize = 64;

struct Slot {
    conn: Connection,
    prepared: HashMap<String, Statement>,
}

impl Slot {
    async fn statement(&mut self, sql: &str) -> Result<&Statement, ReplicaError> {
        if !self.prepared.contains_key(sql) {
            if self.prepared.len() >= MAX_PREPARED {
                self.prepared.clear();
            }
            let st = self.conn.prepare(sql).await.map_err(|e| ReplicaError::Sql(e.to_string()))?;
            self.prepared.insert(sql.to_string(), st);
        }
        Ok(&self.prepared[sql])
    }

    async fn run(&mut self, stmt: &Stmt, max_rows: usize) -> Result<Rows, ReplicaError> {
        let st = self.statement(&stmt.sql).await?;
        st.reset();
        let args: Vec<libsql::Value> = stmt.args.iter().map(to_libsql).collect();
        let rows = st.query(args).await.map_err(|e| ReplicaError::Sql(e.to_string()));
        let out = match rows {
            Ok(rows) => collect(rows, max_rows).await,
            Err(e) => Err(e),
        };
        st.reset();
        out
    }
}

/// Reads through a small set of connections, in turn; each serves one batch at a time.
pub struct LibsqlReplica {
    slots: Vec<tokio::sync::Mutex<Slot>>,
    next: AtomicUsize,
    /// The leaderboards in memory, kept by the replica's store (around-me reads).
    boards: Option<Arc<BoardIndex>>,
}

impl LibsqlReplica {
    pub fn new(conns: Vec<Connection>) -> Self {
        assert!(!conns.is_empty(), "at least one connection");
        let slots = conns.into_iter().map(|conn| tokio::sync::Mutex::new(Slot { conn, prepared: HashMap::new() })).collect();
        Self { slots, next: AtomicUsize::new(0), boards: None }
    }

    /// The leaderboards in memory it answers around-me reads from, if any.
    pub fn boards(&self) -> Option<&Arc<BoardIndex>> {
        self.boards.as_ref()
    }

    /// Answers around-me reads from `boards` while it is valid.
    pub fn with_boards(mut self, boards: Option<Arc<BoardIndex>>) -> Self {
        self.boards = boards;
        self
    }
}

pub fn to_libsql(v: &Value) -> libsql::Value {
    match v {
        Value::Null => libsql::Value::Null,
        Value::Integer(i) => libsql::Value::Integer(*i),
        Value::Real(f) => libsql::Value::Real(*f),
        Value::Text(s) => libsql::Value::Text(s.clone()),
        Value::Blob(b) => libsql::Value::Blob(b.clone()),
    }
}

pub fn from_libsql(v: libsql::Value) -> Value {
    match v {
        libsql::Value::Null => Value::Null,
        libsql::Value::Integer(i) => Value::Integer(i),
        libsql::Value::Real(f) => Value::Real(f),
        libsql::Value::Text(s) => Value::Text(s),
        libsql::Value::Blob(b) => Value::Blob(b),
    }
}

async fn collect(mut rows: libsql::Rows, max_rows: usize) -> Result<Rows, ReplicaError> {
    let n = rows.column_count();
    let columns = (0..n).map(|i| rows.column_name(i).unwrap_or_default().to_string()).collect();
    let mut out = Vec::new();
    while let Some(row) = rows.next().await.map_err(|e| ReplicaError::Sql(e.to_string()))? {
        if out.len() >= max_rows {
            return Err(ReplicaError::Sql(format!("result has more than {max_rows} rows")));
        }
        let mut vals = Vec::with_capacity(n as usize);
        for i in 0..n {
            vals.push(from_libsql(row.get_value(i).map_err(|e| ReplicaError::Sql(e.to_string()))?));
        }
        out.push(vals);
    }
    Ok(Rows { columns, rows: out })
}

/// Runs one statement (prepared afresh) and collects its rows (at most `max_rows`).
pub async fn query_rows(conn: &Connection, stmt: &Stmt, max_rows: usize) -> Result<Rows, ReplicaError> {
    let args: Vec<libsql::Value> = stmt.args.iter().map(to_libsql).collect();
    let rows = conn.query(&stmt.sql, args).await.map_err(|e| ReplicaError::Sql(e.to_string()))?;
    collect(rows, max_rows).await
}

impl Replica for LibsqlReplica {
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<Vec<Rows>, ReplicaError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        let snapshot = stmts.len() > 1;
        if snapshot {
            slot.run(&Stmt::new("BEGIN", vec![]), 0).await?;
        }
        let mut out = Vec::with_capacity(stmts.len());
        let mut failed = None;
        for s in &stmts {
            match slot.run(s, 100_000).await {
                Ok(rows) => out.push(rows),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if snapshot {
            // Ends the read transaction either way (nothing was written).
            slot.run(&Stmt::new("COMMIT", vec![]), 0).await?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn around(&self, game: &str, board: &str, user: &str, limit: u32) -> Option<(Option<aethex_protocol::leaderboards::LeaderboardPage>, i64)> {
        self.boards.as_ref()?.around(game, board, user, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_reuse_statements_and_survive_errors() {
        let db = libsql::Builder::new_local(":memory:").build().await.unwrap();
        let c = db.connect().unwrap();
        c.execute_batch("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1), (2), (3);").await.unwrap();
        let r = LibsqlReplica::new(vec![c]);
        for _ in 0..3 {
            let res = r
                .batch(vec![
                    Stmt::new("SELECT COUNT(*) FROM t", vec![]),
                    Stmt::new("SELECT a FROM t WHERE a > ?1 ORDER BY a", vec![Value::Integer(1)]),
                ])
                .await
                .unwrap();
            assert_eq!(res[0].rows, vec![vec![Value::Integer(3)]]);
            assert_eq!(res[1].rows, vec![vec![Value::Integer(2)], vec![Value::Integer(3)]]);
        }
        assert!(r.batch(vec![Stmt::new("SELECT 1", vec![]), Stmt::new("SELECT nope FROM t", vec![])]).await.is_err());
        // The failed batch left no transaction open.
        let res = r.batch(vec![Stmt::new("SELECT 1", vec![]), Stmt::new("SELECT 2", vec![])]).await.unwrap();
        assert_eq!(res[1].rows, vec![vec![Value::Integer(2)]]);
    }
}
