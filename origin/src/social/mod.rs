//! Friends: requests, accept, decline, remove, block and unblock, the friend list, and the
//! friends-only leaderboard (`?range=friends`), and friends' online presence from the live
//! relays ([`presence`]), and public share links to a score or achievement ([`share`]).
//! Friendships are between accounts.

pub mod presence;
pub mod routes;
pub mod service;
pub mod share;
pub mod store;

use aethex_protocol::rpc::ErrorCode;

use crate::error::{ApiError, CoreError};

#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    /// No such player, or one who blocked the caller (not told apart).
    #[error("no such player")]
    NoPlayer,
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("social features are off in a game for children (COPPA)")]
    Coppa,
    #[error("{0}")]
    Limit(String),
    /// Not found, naming the field that points at it.
    #[error("{why}")]
    Missing { field: &'static str, why: String },
    #[error("replica read: {0}")]
    Read(#[from] aethex_edge::ReplicaError),
    /// Bad input or the database: [`CoreError`].
    #[error(transparent)]
    Core(#[from] CoreError),
}

crate::error::core_errors!(SocialError);

impl From<SocialError> for ApiError {
    fn from(e: SocialError) -> Self {
        match e {
            SocialError::Core(e) => e.into(),
            SocialError::NoPlayer => ApiError::not_found("user_id", "no such player"),
            SocialError::NotFound(why) => ApiError::not_found("user_id", why),
            SocialError::Coppa => ApiError::forbidden("social features are off in this game: it is for children (COPPA)"),
            SocialError::Missing { field, why } => ApiError::not_found(field, why),
            SocialError::Limit(why) => ApiError::new(ErrorCode::CONFLICT, "Conflict").field("limit", why),
            SocialError::Read(e) => ApiError::internal(e),
            SocialError::Conflict(why) => ApiError::new(ErrorCode::CONFLICT, "Conflict").field("user_id", why),
        }
    }
}
