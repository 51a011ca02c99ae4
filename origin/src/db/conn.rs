//! The connection the stores use: a libSQL connection to the local file, or a kept Hrana
//! stream to a remote primary ([`super::remote`]). Same calls either way (`query`,
//! `execute`, rows read with `next`, columns with `get`), so a store never asks which.

use std::sync::Arc;

use libsql::params::IntoParams;

use super::remote::{self, Later, Reads, Stream};

#[derive(Clone)]
pub enum Connection {
    Local(libsql::Connection),
    /// A stream of its own (the writer's, a snapshot's).
    Remote(Arc<Stream>),
    /// Reads sent together with other callers' (see [`Reads`]); each statement on its own.
    Reads(Arc<Reads>),
}

impl From<libsql::Connection> for Connection {
    fn from(c: libsql::Connection) -> Self {
        Connection::Local(c)
    }
}

impl Connection {
    /// Runs a statement that answers rows.
    pub async fn query(&self, sql: &str, params: impl IntoParams) -> Result<Rows, libsql::Error> {
        match self {
            Connection::Local(c) => Ok(Rows::Local(c.query(sql, params).await?)),
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
            Connection::Local(c) => c.execute(sql, params).await,
            Connection::Remote(s) => Ok(s.execute(remote::statement(sql, params.into_params()?), false).await?.affected_row_count),
            Connection::Reads(r) => Ok(r.run(remote::statement(sql, params.into_params()?)).await?.affected_row_count),
        }
    }

    /// Runs a write whose only answer that matters is success: inside a group commit on a
    /// remote primary it is sent with the commit's next request (its failure fails the
    /// job then); elsewhere it runs at once.
    pub async fn defer(&self, sql: &str, params: impl IntoParams) -> Result<(), libsql::Error> {
        match self {
            Connection::Local(c) => c.execute(sql, params).await.map(|_| ()),
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
            Connection::Local(c) => {
                let mut rows = c.query(sql, params).await?;
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
            Connection::Local(c) => c.execute_batch(sql).await.map(|_| ()),
            Connection::Remote(s) => s.sequence(sql).await,
            Connection::Reads(r) => r.pool().take().sequence(sql).await,
        }
    }

    /// After a failure: a remote stream is dropped (the next statement opens a new one).
    pub async fn reset(&self) {
        match self {
            Connection::Local(c) => c.reset().await,
            Connection::Remote(s) => s.reset().await,
            Connection::Reads(_) => {}
        }
    }
}

/// The rows a query answered: read from the local file as they are stepped, or already
/// all here from a remote server.
pub enum Rows {
    Local(libsql::Rows),
    Remote { cols: Vec<String>, rows: std::vec::IntoIter<libsql_hrana::proto::Row> },
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
            Rows::Remote { rows, .. } => Ok(rows.next().map(|r| Row::Remote(r.values.into_iter().map(remote::from_wire).collect()))),
        }
    }

    pub fn column_count(&self) -> i32 {
        match self {
            Rows::Local(r) => r.column_count(),
            Rows::Remote { cols, .. } => cols.len() as i32,
        }
    }

    pub fn column_name(&self, idx: i32) -> Option<&str> {
        match self {
            Rows::Local(r) => r.column_name(idx),
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
