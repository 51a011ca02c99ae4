//! AeThex Cloud native edge: the edge core (`aethex-edge`) hosted by axum on any VM,
//! with a libSQL replica file kept current from origin's outbox.
//!
//! - [`boards`]: the leaderboards in rank order in memory (around-me without SQL ranking).
//! - [`store`]: the replica file (read model + applied position), applied in transactions.
//! - [`replicator`]: pulls changes (long-poll) and snapshots from origin.
//! - [`replica`]: the core's `Replica` on local libSQL connections (origin uses it too).
//! - [`hrana_server`]: a read-only Hrana v3 endpoint, so wasm edges read the replica over
//!   libSQL's wire protocol.
//! - [`server`]: the node (`EdgeNode`) and its routes; [`config`]: its settings.

pub mod boards;
pub mod config;
pub mod hrana_server;
pub mod platform;
pub mod replica;
pub mod replicator;
pub mod server;
pub mod store;

pub use config::NodeConfig;
pub use replica::LibsqlReplica;
pub use server::{EdgeNode, NodeError};
