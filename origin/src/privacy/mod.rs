//! Privacy (GDPR): a player's data as one JSON document, and erasure of the account and
//! everything linked to it with a recorded receipt; for a game's admins, the same for the
//! player's data in their game.

pub mod routes;
pub mod service;
pub mod store;

use aethex_protocol::rpc::ErrorCode;

use crate::error::{ApiError, CoreError};
use crate::teams::TeamError;

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("no such player")]
    NoPlayer,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Team(#[from] TeamError),
    #[error("{0}")]
    Saves(String),
    /// Bad input or the database: [`CoreError`].
    #[error(transparent)]
    Core(#[from] CoreError),
}

crate::error::core_errors!(PrivacyError);

impl From<PrivacyError> for ApiError {
    fn from(e: PrivacyError) -> Self {
        match e {
            PrivacyError::Core(e) => e.into(),
            PrivacyError::NoPlayer => ApiError::not_found("user_id", "no such player"),
            PrivacyError::Conflict(why) => ApiError::new(ErrorCode::CONFLICT, "Conflict").field("user_id", why),
            PrivacyError::Team(t) => t.into(),
            PrivacyError::Saves(why) => ApiError::internal(why),
        }
    }
}
