//! Relay regions: relays register and send heartbeats (with a relay key); players list
//! the live ones. The list is part of the edge read model.

pub mod routes;
pub mod service;
pub mod store;
