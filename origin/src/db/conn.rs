//! The connection the stores use: a libSQL connection to the local file, or a kept Hrana
//! stream to a remote primary ([`super::remote`]). Same calls either way (`query`,
//! `execute`, rows read with `next`, columns with `get`), so a store never asks which.
//!
//! A connection to the local file keeps its prepared statements ([`Prepared`]): the
//! stores ask the same few statements again and again, and compiling them (a device
//! login's view trigger above all) was a third of the writer thread's time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use libsql::params::{IntoParams, Params};

use super::remote::{self, Later, Reads, Stream};

#[derive(Clone)]
pub enum Connection {
    /// A libSQL connection, with the statements it keeps prepared (none for a connection
    /// made for one read, or one to a remote database through libSQL's client).
    Local(libsql::Connection, Option<Arc<Prepared>>),
    /// A stream of its own (the writer's, a snapshot's).
    Remote(Arc<Stream>),
    /// Reads sent together with other callers' (see [`Reads`]); each statement on its own.
    Reads(Arc<Reads>),
}

impl From<libsql::Connection> for Connection {
    fn from(c: libsql::Connection) -> Self {
        Connection::Local(c, None)
    }
}

/// Most distinct statements one connection keeps prepared, and most copies of one (a
/// shared reader runs the same statement for several requests at once).
const MAX_KEPT_STATEMENTS: usize = 256;
const MAX_COPIES: usize = 8;
/// A statement that ran with an argument larger than this is not kept: it would hold a
/// copy of that argument (a save's bytes) until it is bound again.
const MAX_KEPT_ARGUMENT_BYTES: usize = 64 * 1024;

/// The prepared statements of one local connection, by SQL text. A statement is taken
/// out while it runs (and while its rows are read), so nobody else binds or steps it
/// meanwhile, and put back reset when done. (A kept statement holds its last arguments
/// until it is bound again: at most [`MAX_COPIES`] sets per statement.)
#[derive(Default)]
pub struct Prepared {
    kept: Mutex<HashMap<Arc<str>, Vec<libsql::Statement>>>,
}

impl Prepared {
    fn take(&self, sql: &str) -> Option<(Arc<str>, Option<libsql::Statement>)> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(stmt) = kept.get_mut(sql).map(Vec::pop) {
            let key = kept.get_key_value(sql).map(|(k, _)| k.clone())?;
            return Some((key, stmt));
        }
        if kept.len() >= MAX_KEPT_STATEMENTS {
            return None;
        }
        let key: Arc<str> = Arc::from(sql);
        kept.insert(key.clone(), Vec::new());
        Some((key, None))
    }

    fn give(&self, key: &Arc<str>, stmt: libsql::Statement) {
        stmt.reset();
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(copies) = kept.get_mut(key) {
            if copies.len() < MAX_COPIES {
                copies.push(stmt);
            }
        }
    }
}

/// A statement taken out of [`Prepared`]; put back (reset) when dropped.
pub struct Checkout {
    prepared: Arc<Prepared>,
    key: Arc<str>,
    stmt: Option<libsql::Statement>,
    /// Finalized when done instead of kept (it was bound to a large argument).
    discard: bool,
}

impl Checkout {
    /// The statement for `sql` with `params` bound, from `prepared` (compiled on first
    /// use). `None` when it should run uncached: the cache is full, or the arguments do
    /// not fill its parameters exactly (a reused statement keeps its earlier bindings).
    async fn get(c: &libsql::Connection, prepared: &Arc<Prepared>, sql: &str, params: &Params) -> Result<Option<Checkout>, libsql::Error> {
        let Some((key, stmt)) = prepared.take(sql) else { return Ok(None) };
        let stmt = match stmt {
            Some(s) => s,
            None => c.prepare(sql).await?,
        };
        let count = match params {
            Params::None => 0,
            Params::Positional(v) => v.len(),
            Params::Named(_) => usize::MAX,
        };
        let large = |v: &libsql::Value| match v {
            libsql::Value::Text(t) => t.len() > MAX_KEPT_ARGUMENT_BYTES,
            libsql::Value::Blob(b) => b.len() > MAX_KEPT_ARGUMENT_BYTES,
            _ => false,
        };
        let discard = matches!(params, Params::Positional(v) if v.iter().any(large));
        let out = Checkout { prepared: prepared.clone(), key, stmt: Some(stmt), discard };
        Ok((out.statement().parameter_count() == count).then_some(out))
    }

    fn statement(&self) -> &libsql::Statement {
        self.stmt.as_ref().expect("a checked-out statement is there until dropped")
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let Some(stmt) = self.stmt.take() {
            if !self.discard {
                self.prepared.give(&self.key, stmt);
            }
        }
    }
}

impl Connection {
    /// A connection to the local file that keeps its prepared statements.
    pub fn cached(c: libsql::Connection) -> Self {
        Connection::Local(c, Some(Arc::default()))
    }

    /// Runs a statement that answers rows.
    pub async fn query(&self, sql: &str, params: impl IntoParams) -> Result<Rows, libsql::Error> {
        match self {
            Connection::Local(c, Some(prepared)) => {
                let params = params.into_params()?;
                match Checkout::get(c, prepared, sql, &params).await? {
                    Some(stmt) => {
                        let rows = stmt.statement().query(params).await?;
                        Ok(Rows::Kept { rows, _stmt: stmt })
                    }
                    None => Ok(Rows::Local(c.query(sql, params).await?)),
                }
            }
            Connection::Local(c, None) => Ok(Rows::Local(c.query(sql, params).await?)),
            Connection::Remote(s) => {
                let r = s.execute(remote::statement(sql, params.into_params()?), true).await?;
                Ok(Rows::remote(r))
            }
            Connection::Reads(r) => {
                let mut stmt = remote::statement(sql, params.into_params()?);
                stmt.want_rows = Some(true);
                Ok(Rows::remote(r.run(stmt).await?))
            }
        }
    }

    /// Runs a statement; returns the number of rows it changed.
    pub async fn execute(&self, sql: &str, params: impl IntoParams) -> Result<u64, libsql::Error> {
        match self {
            Connection::Local(c, Some(prepared)) => {
                let params = params.into_params()?;
                match Checkout::get(c, prepared, sql, &params).await? {
                    Some(stmt) => stmt.statement().execute(params).await.map(|n| n as u64),
                    None => c.execute(sql, params).await,
                }
            }
            Connection::Local(c, None) => c.execute(sql, params).await,
            Connection::Remote(s) => Ok(s.execute(remote::statement(sql, params.into_params()?), false).await?.affected_row_count),
            Connection::Reads(r) => Ok(r.run(remote::statement(sql, params.into_params()?)).await?.affected_row_count),
        }
    }

    /// Runs a write whose only answer that matters is success: inside a group commit on a
    /// remote primary it is sent with the commit's next request (its failure fails the
    /// job then); elsewhere it runs at once.
    pub async fn defer(&self, sql: &str, params: impl IntoParams) -> Result<(), libsql::Error> {
        match self {
            Connection::Local(..) => self.execute(sql, params).await.map(|_| ()),
            Connection::Remote(s) => s.defer(remote::statement(sql, params.into_params()?)).await,
            Connection::Reads(r) => r.run(remote::statement(sql, params.into_params()?)).await.map(|_| ()),
        }
    }

    /// Runs a write that answers rows (`… RETURNING`) whose rows its job does not need
    /// before it ends: like [`Connection::defer`], inside a group commit on a remote
    /// primary it goes with the commit's next request. The rows are in the answer once the
    /// statement ran: read them with [`Later::rows`] after the write returned.
    pub async fn query_later(&self, sql: &str, params: impl IntoParams) -> Result<Later, libsql::Error> {
        let later = Later::default();
        match self {
            Connection::Local(..) => {
                let mut rows = self.query(sql, params).await?;
                let n = rows.column_count();
                let mut all = Vec::new();
                while let Some(row) = rows.next().await? {
                    all.push((0..n).map(|i| row.get_value(i)).collect::<Result<Vec<_>, _>>()?);
                }
                later.set(all);
            }
            Connection::Remote(s) => s.defer_query(remote::statement(sql, params.into_params()?), &later).await?,
            Connection::Reads(r) => {
                let mut stmt = remote::statement(sql, params.into_params()?);
                stmt.want_rows = Some(true);
                later.set_wire(r.run(stmt).await?);
            }
        }
        Ok(later)
    }

    /// Runs several `;`-separated statements without arguments.
    pub async fn execute_batch(&self, sql: &str) -> Result<(), libsql::Error> {
        match self {
            Connection::Local(c, _) => c.execute_batch(sql).await.map(|_| ()),
            Connection::Remote(s) => s.sequence(sql).await,
            Connection::Reads(r) => r.pool().take().sequence(sql).await,
        }
    }

    /// After a failure: a remote stream is dropped (the next statement opens a new one).
    pub async fn reset(&self) {
        match self {
            Connection::Local(c, _) => c.reset().await,
            Connection::Remote(s) => s.reset().await,
            Connection::Reads(_) => {}
        }
    }
}

/// The rows a query answered: read from the local file as they are stepped, or already
/// all here from a remote server.
pub enum Rows {
    Local(libsql::Rows),
    /// Rows of a kept statement: each row is copied out as it is read (a local row is a
    /// view of its statement, which goes back to be reused once these rows are dropped).
    Kept {
        rows: libsql::Rows,
        _stmt: Checkout,
    },
    Remote {
        cols: Vec<String>,
        rows: std::vec::IntoIter<libsql_hrana::proto::Row>,
    },
}

impl From<libsql::Rows> for Rows {
    fn from(r: libsql::Rows) -> Self {
        Rows::Local(r)
    }
}

impl Rows {
    fn remote(r: libsql_hrana::proto::StmtResult) -> Self {
        Rows::Remote { cols: r.cols.into_iter().map(|c| c.name.unwrap_or_default()).collect(), rows: r.rows.into_iter() }
    }

    pub async fn next(&mut self) -> Result<Option<Row>, libsql::Error> {
        match self {
            Rows::Local(r) => Ok(r.next().await?.map(Row::Local)),
            Rows::Kept { rows, .. } => {
                let n = rows.column_count();
                match rows.next().await? {
                    Some(row) => Ok(Some(Row::Remote((0..n).map(|i| row.get_value(i)).collect::<Result<_, _>>()?))),
                    None => Ok(None),
                }
            }
            Rows::Remote { rows, .. } => Ok(rows.next().map(|r| Row::Remote(r.values.into_iter().map(remote::from_wire).collect()))),
        }
    }

    pub fn column_count(&self) -> i32 {
        match self {
            Rows::Local(r) | Rows::Kept { rows: r, .. } => r.column_count(),
            Rows::Remote { cols, .. } => cols.len() as i32,
        }
    }

    pub fn column_name(&self, idx: i32) -> Option<&str> {
        match self {
            Rows::Local(r) | Rows::Kept { rows: r, .. } => r.column_name(idx),
            Rows::Remote { cols, .. } => usize::try_from(idx).ok().and_then(|i| cols.get(i)).map(String::as_str),
        }
    }

    /// Whether the rest of the answer is already read (a remote one always is).
    pub(super) fn is_remote(&self) -> bool {
        matches!(self, Rows::Remote { .. })
    }
}

impl Later {
    /// The rows, each read like a query's; `None` when the statement did not run.
    pub fn rows(&self) -> Option<Vec<Row>> {
        self.take().map(|rows| rows.into_iter().map(Row::Remote).collect())
    }
}

#[derive(Debug)]
pub enum Row {
    Local(libsql::Row),
    Remote(Vec<libsql::Value>),
}

impl Row {
    pub fn get<T: FromColumn>(&self, idx: i32) -> Result<T, libsql::Error> {
        T::from_column(self.get_value(idx)?)
    }

    pub fn get_value(&self, idx: i32) -> Result<libsql::Value, libsql::Error> {
        match self {
            Row::Local(r) => r.get_value(idx),
            Row::Remote(v) => usize::try_from(idx).ok().and_then(|i| v.get(i)).cloned().ok_or(libsql::Error::InvalidColumnIndex),
        }
    }
}

/// A column's value as a Rust type (NULL is an error except for `Option`; an integer is
/// read as a float when a float is asked for).
pub trait FromColumn: Sized {
    fn from_column(v: libsql::Value) -> Result<Self, libsql::Error>;
}

fn not_null<T>(v: libsql::Value, f: impl FnOnce(libsql::Value) -> Option<T>) -> Result<T, libsql::Error> {
    match v {
        libsql::Value::Null => Err(libsql::Error::NullValue),
        v => f(v).ok_or(libsql::Error::InvalidColumnType),
    }
}

impl FromColumn for i64 {
    fn from_column(v: libsql::Value) -> Result<Self, libsql::Error> {
        not_null(v, |v| match v {
            libsql::Value::Integer(i) => Some(i),
            _ => None,
        })
    }
}

impl FromColumn for f64 {
    fn from_column(v: libsql::Value) -> Result<Self, libsql::Error> {
        not_null(v, |v| match v {
            libsql::Value::Real(f) => Some(f),
            libsql::Value::Integer(i) => Some(i as f64),
            _ => None,
        })
    }
}

impl FromColumn for String {
    fn from_column(v: libsql::Value) -> Result<Self, libsql::Error> {
        not_null(v, |v| match v {
            libsql::Value::Text(s) => Some(s),
            _ => None,
        })
    }
}

impl FromColumn for Vec<u8> {
    fn from_column(v: libsql::Value) -> Result<Self, libsql::Error> {
        not_null(v, |v| match v {
            libsql::Value::Blob(b) => Some(b),
            _ => None,
        })
    }
}

impl<T: FromColumn> FromColumn for Option<T> {
    fn from_column(v: libsql::Value) -> Result<Self, libsql::Error> {
        match v {
            libsql::Value::Null => Ok(None),
            v => T::from_column(v).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let db = libsql::Builder::new_local(dir.path().join("t.db")).build().await.unwrap();
        let c = Connection::cached(db.connect().unwrap());
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)", ()).await.unwrap();
        for (id, v) in [(1, "one"), (2, "two"), (3, "three")] {
            c.execute("INSERT INTO t (id, v) VALUES (?1, ?2)", libsql::params![id, v]).await.unwrap();
        }
        (dir, c)
    }

    fn kept(c: &Connection, sql: &str) -> usize {
        let Connection::Local(_, Some(p)) = c else { panic!("a cached connection") };
        p.kept.lock().unwrap().get(sql).map_or(0, Vec::len)
    }

    const BY_ID: &str = "SELECT v FROM t WHERE id >= ?1 ORDER BY id";

    #[tokio::test]
    async fn kept_statements_are_reused_and_rows_outlive_their_statement() {
        let (_dir, c) = open().await;
        assert_eq!(kept(&c, "INSERT INTO t (id, v) VALUES (?1, ?2)"), 1, "three inserts, one statement");
        // A row read from a kept statement stays valid after the statement ran again
        // with other arguments (a local row is a view of its statement).
        let first = crate::db::first_row(c.query(BY_ID, libsql::params![2]).await.unwrap()).await.unwrap().unwrap();
        let again = crate::db::first_row(c.query(BY_ID, libsql::params![1]).await.unwrap()).await.unwrap().unwrap();
        assert_eq!(first.get::<String>(0).unwrap(), "two");
        assert_eq!(again.get::<String>(0).unwrap(), "one");
        assert_eq!(kept(&c, BY_ID), 1);
    }

    #[tokio::test]
    async fn the_same_statement_runs_twice_at_once_and_wrong_arguments_are_not_kept() {
        let (_dir, c) = open().await;
        let mut outer = c.query(BY_ID, libsql::params![1]).await.unwrap();
        let mut seen = Vec::new();
        while let Some(row) = outer.next().await.unwrap() {
            // Same SQL while the outer rows are being read: another copy is prepared.
            let mut inner = c.query(BY_ID, libsql::params![3]).await.unwrap();
            let v: String = inner.next().await.unwrap().unwrap().get(0).unwrap();
            seen.push((row.get::<String>(0).unwrap(), v));
        }
        drop(outer);
        assert_eq!(seen, [("one".into(), "three".into()), ("two".into(), "three".into()), ("three".into(), "three".into())]);
        assert_eq!(kept(&c, BY_ID), 2, "the outer and the inner copy are both kept");
        // Too few arguments: run as libSQL runs them (unbound is NULL), never with the
        // kept statement's earlier bindings.
        let rows = c.query("SELECT ?1, ?2", libsql::params![5, 6]).await.unwrap();
        drop(rows);
        let row = crate::db::first_row(c.query("SELECT ?1, ?2", libsql::params![7]).await.unwrap()).await.unwrap().unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 7);
        assert_eq!(row.get::<Option<i64>>(1).unwrap(), None);
    }

    #[tokio::test]
    async fn a_statement_bound_to_a_large_argument_is_not_kept() {
        let (_dir, c) = open().await;
        let sql = "INSERT INTO t (id, v) VALUES (?1, ?2)";
        let before = kept(&c, sql);
        c.execute(sql, libsql::params![10, "x".repeat(MAX_KEPT_ARGUMENT_BYTES + 1)]).await.unwrap();
        assert_eq!(kept(&c, sql), before - 1, "the copy that held 64 KiB is finalized, not kept");
        c.execute(sql, libsql::params![11, "small"]).await.unwrap();
        assert_eq!(kept(&c, sql), before);
    }
}
