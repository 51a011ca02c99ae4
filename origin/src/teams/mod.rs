//! Organizations (teams) own games; members have roles (owner > admin > developer >
//! viewer) checked on every management route; games have a public client key and
//! secret server keys.

pub mod keycache;
pub mod routes;
pub mod server_key;
pub mod service;
pub mod store;

use aethex_protocol::rpc::ErrorCode;
use aethex_protocol::teams::Role;

use crate::error::{ApiError, CoreError};

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("needs role {needed:?}")]
    Forbidden { needed: Role },
    #[error("{0}")]
    Conflict(&'static str),
    #[error("invalid server key")]
    BadServerKey,
    #[error("this server key is for another game")]
    OtherGameKey,
    /// Bad input or the database: [`CoreError`].
    #[error(transparent)]
    Core(#[from] CoreError),
}

crate::error::core_errors!(TeamError);

impl From<TeamError> for ApiError {
    fn from(e: TeamError) -> Self {
        match e {
            TeamError::Core(e) => e.into(),
            TeamError::NotFound(what) => ApiError::not_found(what, format!("{what} not found")),
            TeamError::Forbidden { needed } => ApiError::forbidden(format!("this needs the {} role or higher in the organization", needed.as_str())),
            TeamError::Conflict(reason) => ApiError::new(ErrorCode::CONFLICT, "Conflict").reason(reason),
            TeamError::BadServerKey => ApiError::unauthorized("server key is not valid"),
            TeamError::OtherGameKey => ApiError::forbidden("this server key is for another game"),
        }
    }
}
