//! Achievements and player statistics per game: definitions (developers), unlocks and
//! monotonic progress (players, or the game's server key for a named player), a player's
//! achievements with progress, statistics as named counters per player (incremented or
//! set atomically), and a game's statistics aggregated over its players.

pub mod routes;
pub mod service;
pub mod store;

use aethex_protocol::rpc::ErrorCode;

use crate::error::{ApiError, CoreError};
use crate::teams::TeamError;

#[derive(Debug, thiserror::Error)]
pub enum AchievementError {
    #[error("no achievement {0:?} in this game")]
    NotFound(String),
    #[error(transparent)]
    NoGame(#[from] crate::auth::NoGame),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Limit(String),
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

crate::error::core_errors!(AchievementError);

impl From<AchievementError> for ApiError {
    fn from(e: AchievementError) -> Self {
        match e {
            AchievementError::Core(e) => e.into(),
            AchievementError::Logic(e) => e.into(),
            AchievementError::NotFound(id) => ApiError::not_found("achievement_id", format!("no achievement {id:?} in this game")),
            AchievementError::NoGame(e) => e.into(),
            AchievementError::Forbidden(why) => ApiError::forbidden(why),
            AchievementError::Limit(why) => ApiError::new(ErrorCode::CONFLICT, "Conflict").field("limit", why),
            AchievementError::Team(t) => t.into(),
            AchievementError::Read(e) => ApiError::internal(e),
        }
    }
}
