//! The library's one error type. Every variant says where (a path, a URL, a chunk id) so a
//! message printed as is tells the user what to fix.

use std::path::{Path, PathBuf};

use aethex_protocol::dlc::BadManifest;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file of a build folder that cannot go into a manifest (symlink, bad name, ...).
    #[error("{path}: {reason}")]
    Refused { path: String, reason: String },
    #[error(transparent)]
    BadManifest(#[from] BadManifest),
    /// The signed manifest did not verify against the trusted keys.
    #[error("manifest signature: {0}")]
    Signature(String),
    #[error("the manifest is for game {found:?}, not {expected:?}")]
    WrongGame { expected: String, found: String },
    /// A key file or public key that cannot be used.
    #[error("key: {0}")]
    Key(String),
    /// Origin or an edge answered with an error (its JSON-RPC error object when it sent one).
    #[error(transparent)]
    Api(Box<ApiError>),
    #[error("{url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A chunk whose bytes are not what its id says (corrupted in transit or on disk).
    #[error("chunk {id}: {reason}")]
    BadChunk { id: String, reason: String },
    /// A file whose bytes are not what the manifest says.
    #[error("{path}: {reason}")]
    Integrity { path: String, reason: String },
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// An argument that is not valid (game id, channel, version, URL, option).
    #[error("{0}")]
    Invalid(String),
    /// The progress callback asked to stop. What was downloaded so far is kept.
    #[error("stopped before the end (what was downloaded is kept; run again to resume)")]
    Aborted,
}

/// An error answer from origin or an edge: the request, the status, and the JSON-RPC
/// error object's `code`, `message`, `data.field` and `data.reason` when it sent one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{method} {url}: HTTP {status}: {}", self.text())]
pub struct ApiError {
    pub method: String,
    pub url: String,
    pub status: u16,
    pub code: Option<i64>,
    pub message: String,
    pub field: Option<String>,
    pub reason: Option<String>,
}

impl ApiError {
    /// The message, with the field and reason when they add something.
    pub fn text(&self) -> String {
        let m = &self.message;
        match (&self.reason, &self.field) {
            (Some(r), Some(f)) if r != m => format!("{m} ({f}: {r})"),
            (Some(r), None) if r != m => format!("{m} ({r})"),
            _ => m.clone(),
        }
    }
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    pub(crate) fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Json { what: what.into(), source }
    }

    /// Whether trying again later may succeed: network failures, 408/429/5xx answers and
    /// chunks that arrived corrupted. 4xx answers (bad token, not entitled, not found) are
    /// final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::BadChunk { .. } => true,
            Error::Api(e) => e.status == 408 || e.status == 429 || e.status >= 500,
            _ => false,
        }
    }

    /// The HTTP status when origin or an edge answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            _ => None,
        }
    }
}

/// Adds the path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

/// An I/O error whose path the caller adds (see `Chunker::stream`'s callers).
impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io { path: PathBuf::new(), source }
    }
}
