//! DLC and asset delivery at origin: manifest signing keys, chunk uploads (checked by
//! blake3 before they are stored), releases on channels (promote, roll back), player
//! entitlements, the player routes edges also serve, and garbage collection of chunks no
//! release uses.

pub mod routes;
pub mod service;
pub mod store;

use aethex_protocol::rpc::ErrorCode;

use crate::blobs::BlobError;
use crate::error::{ApiError, CoreError};
use crate::teams::TeamError;

#[derive(Debug, thiserror::Error)]
pub enum DlcError {
    #[error("bad manifest: {0}")]
    BadManifest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("chunk too large")]
    TooLarge,
    #[error("range not satisfiable: the file has {0} bytes")]
    Unsatisfiable(u64),
    #[error(transparent)]
    Team(#[from] TeamError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("read model: {0}")]
    Read(#[from] aethex_edge::ReplicaError),
    /// The garbage-collection lock (shared by the cluster's origins) was not taken.
    #[error(transparent)]
    Lock(#[from] crate::cluster::LockError),
    /// Bad input or the database: [`CoreError`].
    #[error(transparent)]
    Core(#[from] CoreError),
}

crate::error::core_errors!(DlcError);

impl From<DlcError> for ApiError {
    fn from(e: DlcError) -> Self {
        match e {
            DlcError::Core(e) => e.into(),
            DlcError::BadManifest(why) => ApiError::invalid_params("manifest", why),
            DlcError::NotFound(why) => ApiError::new(ErrorCode::NOT_FOUND, "Not found").reason(why),
            DlcError::Conflict(why) => ApiError::new(ErrorCode::CONFLICT, "Conflict").reason(why),
            DlcError::Forbidden(why) => ApiError::forbidden(why),
            DlcError::TooLarge => ApiError::new(ErrorCode::PAYLOAD_TOO_LARGE, "Payload too large")
                .field("body", format!("a chunk is at most {} bytes", aethex_protocol::dlc::MAX_CHUNK_BYTES)),
            DlcError::Unsatisfiable(size) => {
                ApiError::new(ErrorCode(-32016), "Range not satisfiable").field("range", format!("the file has {size} bytes"))
            }
            DlcError::Team(t) => t.into(),
            DlcError::Blob(e) => ApiError::internal(e),
            DlcError::Read(e) => ApiError::internal(e),
            DlcError::Lock(e) => ApiError::internal(e),
        }
    }
}
