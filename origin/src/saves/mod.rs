//! Cloud saves per (user, game, slot): versioned, compressed when it helps, checksummed
//! (blake3), encrypted at rest, with optimistic concurrency and a JSON three-way merge.

pub mod codec;
pub mod merge;
pub mod routes;
pub mod service;
pub mod store;

use serde_json::Value;

use aethex_protocol::rpc::ErrorCode;
use aethex_protocol::saves::{LoadResponse, MergeConflict};

use crate::error::{ApiError, CoreError};

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("save not found")]
    NotFound,
    #[error("slot has moved on")]
    Conflict { current: Option<Box<LoadResponse>> },
    #[error("merge has conflicts")]
    MergeConflict { current: Box<LoadResponse>, conflicts: Vec<MergeConflict>, proposed: Value },
    #[error("base version {0} is no longer kept")]
    BaseGone(i64),
    #[error("save too large")]
    TooLarge { limit: usize },
    #[error("slot limit reached")]
    SlotLimit { limit: u32 },
    #[error("storage quota exceeded")]
    Quota { used: i64, quota: i64, needed: i64 },
    #[error("checksum mismatch")]
    ChecksumMismatch { computed: String },
    #[error("{0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    NoGame(#[from] crate::auth::NoGame),
    #[error("stored save is corrupt: {0}")]
    Corrupt(String),
    /// The game's logic refused the write or failed.
    #[error(transparent)]
    Logic(#[from] crate::logic::LogicError),
    /// Bad input or the database: [`CoreError`].
    #[error(transparent)]
    Core(#[from] CoreError),
}

crate::error::core_errors!(SaveError);

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl From<SaveError> for ApiError {
    fn from(e: SaveError) -> Self {
        use SaveError::*;
        match e {
            Core(e) => e.into(),
            Logic(e) => e.into(),
            NotFound => ApiError::not_found("slot_name", "no such save"),
            Conflict { current } => {
                let reason = match &current {
                    Some(c) => format!("slot is at version {}; load it, or retry with on_conflict", c.metadata.version),
                    None => "slot no longer exists".to_string(),
                };
                ApiError::new(ErrorCode::CONFLICT, "Conflict")
                    .field("base_version", reason)
                    .detail("current", current.map(|c| to_value(&*c)).unwrap_or(Value::Null))
            }
            MergeConflict { current, conflicts, proposed } => ApiError::new(ErrorCode::CONFLICT, "Conflict")
                .field("data", "merge_conflict: both sides changed the same paths; retry with merge_prefer, or overwrite")
                .detail("conflicts", to_value(&conflicts))
                .detail("proposed", proposed)
                .detail("current", to_value(&*current)),
            BaseGone(v) => ApiError::new(ErrorCode::CONFLICT, "Conflict")
                .field("base_version", format!("version {v} is no longer kept, so it cannot be merged from")),
            TooLarge { limit } => ApiError::new(ErrorCode::PAYLOAD_TOO_LARGE, "Payload too large")
                .field("data", format!("save is larger than the limit of {limit} bytes")),
            SlotLimit { limit } => {
                ApiError::new(ErrorCode::FORBIDDEN, "Forbidden").field("slot_name", format!("slot limit reached ({limit} slots per player per game)"))
            }
            Quota { used, quota, needed } => ApiError::new(ErrorCode::FORBIDDEN, "Forbidden")
                .field("data", format!("storage quota exceeded: {used} of {quota} bytes used, this save needs {needed}"))
                .detail("used_bytes", used.into())
                .detail("quota_bytes", quota.into()),
            ChecksumMismatch { computed } => {
                ApiError::invalid_params("checksum", "checksum does not match the data").detail("computed", computed.into())
            }
            Forbidden(reason) => ApiError::forbidden(reason),
            NoGame(e) => e.into(),
            Corrupt(e) => ApiError::internal(format!("corrupt save: {e}")),
        }
    }
}
