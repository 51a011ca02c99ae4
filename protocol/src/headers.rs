//! Header names shared by every part.

/// Identifies the game a player's build belongs to (the game's public client key).
pub const CLIENT_KEY: &str = "x-aethex-client-key";
/// Request id, echoed on every response and carried in logs.
pub const REQUEST_ID: &str = "x-request-id";
/// Replication position produced by a write (read-your-writes at the edge).
pub const POSITION: &str = "x-aethex-position";
