//! Game logic: each game's WebAssembly component (the `aethex:logic` WIT), run by
//! `aethex-logic-host`. Deploying, versions and rollback (`service`, `routes`), the pools of
//! loaded components per game (`registry`), what a component may call (`host`: key-value
//! storage, profiles, scores, achievements), the hooks other domains call before and
//! after their writes (`hooks`), and what relays running authoritative rooms ask for (`rooms`).

pub mod hooks;
pub mod host;
pub mod loader;
pub mod registry;
pub mod rooms;
pub mod routes;
pub mod service;
pub mod store;

use aethex_protocol::rpc::ErrorCode;

use crate::error::{ApiError, CoreError};
use crate::teams::TeamError;

pub use aethex_logic_host::LogicError as RunError;
pub use aethex_logic_host::{AchievementProgress, Advanced, Event, Queued, SaveWrite, Saved, ScoreSubmit, Scored, Ticket};

#[derive(Debug, thiserror::Error)]
pub enum LogicError {
    #[error("{0}")]
    NotFound(String),
    /// A component that cannot be deployed.
    #[error("{0}")]
    Refused(RunError),
    #[error("the component is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The game's component failed (trap, CPU budget, memory limit, time bound).
    #[error("the game's logic failed: {0}")]
    Failed(RunError),
    /// A hook refused the write.
    #[error("{hook} refused: {reason}")]
    Rejected { hook: &'static str, reason: String },
    /// A custom RPC answered an error.
    #[error("{0}")]
    RpcRefused(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("too many custom RPC calls; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error(transparent)]
    NoGame(#[from] crate::auth::NoGame),
    #[error(transparent)]
    Team(#[from] TeamError),
    #[error(transparent)]
    Core(#[from] CoreError),
}

crate::error::core_errors!(LogicError);

pub type LogicResult<T> = Result<T, LogicError>;

/// Body limit of a component upload; `logic.max_component_bytes` may be at most this.
pub const MAX_COMPONENT_BODY: usize = 64 * 1024 * 1024;

impl From<LogicError> for ApiError {
    fn from(e: LogicError) -> Self {
        use LogicError::*;
        match e {
            NotFound(what) => ApiError::not_found("logic", what),
            Refused(e) => ApiError::invalid_params("component", e.to_string()),
            TooLarge { limit } => {
                ApiError::new(ErrorCode::PAYLOAD_TOO_LARGE, "Payload too large").field("component", format!("a component is at most {limit} bytes"))
            }
            Failed(e) => ApiError::new(ErrorCode::INTERNAL, "Game logic failed").reason(e.to_string()),
            Rejected { hook, reason } => {
                ApiError::new(ErrorCode::FORBIDDEN, "Forbidden").reason(reason).detail("hook", serde_json::Value::String(hook.to_string()))
            }
            RpcRefused(reason) => ApiError::new(ErrorCode::INVALID_PARAMS, "Invalid params").reason(reason),
            Forbidden(reason) => ApiError::forbidden(reason),
            RateLimited { retry_after } => {
                ApiError::new(ErrorCode::RATE_LIMITED, "Too many requests").reason("too many custom RPC calls; slow down").retry_after(retry_after)
            }
            NoGame(e) => e.into(),
            Team(e) => e.into(),
            Core(e) => e.into(),
        }
    }
}
