//! The web console (`/console`) and the developer routes it needs beyond the rest of the
//! API: a game's players (search, ban), a player's saves, live rooms on the relays, the
//! game's experiments, and the audit log of changes made through the developer API.

pub mod actor;
pub mod assets;
pub mod audit;
pub mod routes;
pub mod service;
pub mod store;
