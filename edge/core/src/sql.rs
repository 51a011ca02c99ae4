//! SQL values, statements and result rows as the core reads them from a replica,
//! whatever carries them (libSQL directly on a native edge, Hrana over HTTP on wasm).

use std::fmt;

/// One SQL value (SQLite's storage classes).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

impl Value {
    /// Converts a JSON scalar (as carried in a replication change).
    pub fn from_json(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Integer(*b as i64),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Integer(i),
                None => Value::Real(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::Text(s.clone()),
            other => Value::Text(other.to_string()),
        }
    }
}

/// A statement with positional arguments (`?1`, `?2`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub sql: String,
    pub args: Vec<Value>,
}

impl Stmt {
    pub fn new(sql: impl Into<String>, args: Vec<Value>) -> Self {
        Self { sql: sql.into(), args }
    }
}

/// Rows of one statement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Why a replica read failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplicaError {
    /// The replica could not be reached or answered something unreadable.
    #[error("replica unavailable: {0}")]
    Unavailable(String),
    /// The replica refused the statement.
    #[error("replica refused the statement: {0}")]
    Sql(String),
    /// A value had an unexpected type (schema drift).
    #[error("unexpected value in column {column}: {found}")]
    Type { column: usize, found: String },
}

/// Typed access to a row's columns.
pub struct Row<'a>(pub &'a [Value]);

impl<'a> Row<'a> {
    fn get(&self, i: usize) -> Result<&'a Value, ReplicaError> {
        self.0.get(i).ok_or(ReplicaError::Type { column: i, found: "missing column".into() })
    }

    pub fn i64(&self, i: usize) -> Result<i64, ReplicaError> {
        match self.get(i)? {
            Value::Integer(v) => Ok(*v),
            Value::Real(f) if f.fract() == 0.0 => Ok(*f as i64),
            other => Err(ReplicaError::Type { column: i, found: format!("{other}") }),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, ReplicaError> {
        match self.get(i)? {
            Value::Text(s) => Ok(s.clone()),
            other => Err(ReplicaError::Type { column: i, found: format!("{other}") }),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, ReplicaError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            other => Err(ReplicaError::Type { column: i, found: format!("{other}") }),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool, ReplicaError> {
        Ok(self.i64(i)? != 0)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "NULL"),
            Value::Integer(v) => write!(f, "integer {v}"),
            Value::Real(v) => write!(f, "real {v}"),
            Value::Text(_) => write!(f, "text"),
            Value::Blob(b) => write!(f, "blob of {} bytes", b.len()),
        }
    }
}

/// A read-only view of a replica of the edge read model.
///
/// `batch` runs the statements in order and returns one [`Rows`] per statement. Native
/// edges implement it on their libSQL file; wasm edges use [`crate::hrana::HranaReplica`].
#[allow(async_fn_in_trait)]
pub trait Replica {
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<Vec<Rows>, ReplicaError>;

    /// A player's neighbourhood on a board (`limit` entries centred on the player, as
    /// [`crate::readmodel::leaderboard_around`] answers it) from an index the replica
    /// keeps in memory, with the position that index is at. `None` when it keeps none
    /// (wasm edges) or it is being built: the caller ranks through SQL. The inner `None`:
    /// no such board.
    fn around(&self, _game: &str, _board: &str, _user: &str, _limit: u32) -> Option<(Option<aethex_protocol::leaderboards::LeaderboardPage>, i64)> {
        None
    }
}
