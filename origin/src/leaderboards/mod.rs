//! Leaderboards per game: definitions (developers), score submission (players), and
//! reads (top N with a cursor, around the player). Reads run the edge read model's
//! queries (`aethex_edge::readmodel`) on origin's own tables, so origin and edges give
//! the same answers; writes append to the replication outbox.

pub mod routes;
pub mod service;
pub mod store;

use aethex_protocol::rpc::ErrorCode;

use crate::error::{ApiError, CoreError};
use crate::teams::TeamError;

#[derive(Debug, thiserror::Error)]
pub enum LeaderboardError {
    #[error("no leaderboard {0:?} in this game")]
    NotFound(String),
    #[error("leaderboard {0:?} already exists")]
    Exists(String),
    #[error(transparent)]
    NoGame(#[from] crate::auth::NoGame),
    #[error("social features are off in a game for children (COPPA)")]
    Coppa,
    #[error("submitting too often to this board")]
    TooOften { retry_after_ms: u64 },
    #[error(transparent)]
    Team(#[from] TeamError),
    #[error("replica read: {0}")]
    Read(#[from] aethex_edge::ReplicaError),
    /// The game's logic refused the write or failed.
    #[error(transparent)]
    Logic(#[from] crate::logic::LogicError),
    /// Bad input or the database: [`CoreError`].
    #[error(transparent)]
    Core(#[from] CoreError),
}

crate::error::core_errors!(LeaderboardError);

impl From<LeaderboardError> for ApiError {
    fn from(e: LeaderboardError) -> Self {
        match e {
            LeaderboardError::Core(e) => e.into(),
            LeaderboardError::Logic(e) => e.into(),
            LeaderboardError::NotFound(id) => ApiError::not_found("leaderboard_id", format!("no leaderboard {id:?} in this game")),
            LeaderboardError::Exists(id) => {
                ApiError::new(ErrorCode::CONFLICT, "Conflict").field("leaderboard_id", format!("leaderboard {id:?} already exists"))
            }
            LeaderboardError::NoGame(e) => e.into(),
            LeaderboardError::Coppa => ApiError::forbidden("friends leaderboards are off in this game: it is for children (COPPA)"),
            LeaderboardError::TooOften { retry_after_ms } => ApiError::new(ErrorCode::RATE_LIMITED, "Too many requests")
                .field("leaderboard_id", format!("this board takes a score from a player every so often; retry in {retry_after_ms} ms"))
                .retry_after(retry_after_ms.div_ceil(1000)),
            LeaderboardError::Team(t) => t.into(),
            LeaderboardError::Read(e) => ApiError::internal(e),
        }
    }
}
