//! Replication to edges: the transactional outbox, the routes edges pull changes and
//! snapshots from (edges authenticate with their key: [`crate::peer_keys`]).
//!
//! Write jobs that change edge-visible rows run through [`crate::db::Db::write_replicated`]
//! and append [`aethex_protocol::replica::Change`]s to the outbox in the same transaction.
//! The outbox id is the replication position: write answers carry the newest one in
//! `x-aethex-position` (see [`crate::db::position`]), and edges answer a read from their
//! replica only once they have applied the position the client sends back.

pub mod routes;
pub mod rows;
pub mod service;
pub mod store;
pub mod witness;
