//! Analytics: event ingest in batches (the seed's event format; idempotent by `event_id`;
//! receive time stamped by origin; per-game daily quotas), opt-in consent per player and
//! game, and the query API (event counts by type over time buckets, DAU/MAU). Events live
//! in a database of their own ([`store::AnalyticsDb`]).

pub mod routes;
pub mod service;
pub mod store;

use aethex_protocol::rpc::ErrorCode;

use crate::error::{ApiError, CoreError};
use crate::teams::TeamError;

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error(transparent)]
    NoGame(#[from] crate::auth::NoGame),
    #[error("the game's daily event quota is used up")]
    Quota,
    #[error("analytics are off in a game for children (COPPA)")]
    Coppa,
    #[error(transparent)]
    Team(#[from] TeamError),
    #[error("replica read: {0}")]
    Read(#[from] aethex_edge::ReplicaError),
    /// Bad input or the database: [`CoreError`].
    #[error(transparent)]
    Core(#[from] CoreError),
}

crate::error::core_errors!(AnalyticsError);

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::Core(e) => e.into(),
            AnalyticsError::NoGame(e) => e.into(),
            AnalyticsError::Quota => ApiError::new(ErrorCode::RATE_LIMITED, "Too many requests")
                .field("events", "the game's daily event quota is used up; events are accepted again after 00:00 UTC")
                .retry_after(3600),
            AnalyticsError::Coppa => ApiError::forbidden("analytics are off in this game: it is for children (COPPA)"),
            AnalyticsError::Team(t) => t.into(),
            AnalyticsError::Read(e) => ApiError::internal(e),
        }
    }
}
