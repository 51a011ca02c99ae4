//! The edge core's [`Replica`] on local libSQL connections (the native edge's replica
//! file, or origin's own database, whose read-model tables have the same shape).

use std::sync::atomic::{AtomicUsize, Ordering};

use aethex_edge::{Replica, ReplicaError, Rows, Stmt, Value};
use libsql::Connection;

/// Reads through a small set of connections, in turn.
pub struct LibsqlReplica {
    conns: Vec<Connection>,
    next: AtomicUsize,
}

impl LibsqlReplica {
    pub fn new(conns: Vec<Connection>) -> Self {
        assert!(!conns.is_empty(), "at least one connection");
        Self { conns, next: AtomicUsize::new(0) }
    }

    /// The next connection in turn.
    pub fn connection(&self) -> &Connection {
        &self.conns[self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len()]
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

/// Runs one statement and collects its rows (at most `max_rows`).
pub async fn query_rows(conn: &Connection, stmt: &Stmt, max_rows: usize) -> Result<Rows, ReplicaError> {
    let args: Vec<libsql::Value> = stmt.args.iter().map(to_libsql).collect();
    let mut rows = conn.query(&stmt.sql, args).await.map_err(|e| ReplicaError::Sql(e.to_string()))?;
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

impl Replica for LibsqlReplica {
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<Vec<Rows>, ReplicaError> {
        let conn = self.connection();
        let mut out = Vec::with_capacity(stmts.len());
        for s in &stmts {
            out.push(query_rows(conn, s, 100_000).await?);
        }
        Ok(out)
    }
}
