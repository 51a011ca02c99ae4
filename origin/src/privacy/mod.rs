//! Privacy (GDPR): a player's data as one JSON document, and erasure of the account and
//! everything linked to it with a recorded receipt; for a game's admins, the same for the
//! player's data in their game.

pub mod routes;
pub mod service;

use aethex_protocol::rpc::ErrorCode;
use aethex_protocol::validate::Invalid;

use crate::db::DbError;
use crate::error::ApiError;
use crate::teams::TeamError;

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("no such player")]
    NoPlayer,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Team(#[from] TeamError),
    #[error("{0}")]
    Saves(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<libsql::Error> for PrivacyError {
    fn from(e: libsql::Error) -> Self {
        PrivacyError::Db(DbError::Sql(e))
    }
}

impl From<PrivacyError> for ApiError {
    fn from(e: PrivacyError) -> Self {
        match e {
            PrivacyError::Invalid(i) => i.into(),
            PrivacyError::NoPlayer => ApiError::not_found("user_id", "no such player"),
            PrivacyError::Conflict(why) => ApiError::new(ErrorCode::CONFLICT, "Conflict").field("user_id", why),
            PrivacyError::Team(t) => t.into(),
            PrivacyError::Saves(why) => ApiError::internal(why),
            PrivacyError::Db(e) => ApiError::internal(e),
        }
    }
}
