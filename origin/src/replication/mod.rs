//! Replication to edges: the transactional outbox, the routes edges pull changes and
//! snapshots from, and the edge key that authenticates them.
//!
//! Write jobs that change edge-visible rows run through [`crate::db::Db::write_replicated`]
//! and append [`aethex_protocol::replica::Change`]s to the outbox in the same transaction.
//! The outbox id is the replication position: write answers carry the newest one in
//! `x-aethex-position` (see [`record_position`]), and edges answer a read from their
//! replica only once they have applied the position the client sends back.

pub mod outbox;
pub mod routes;
pub mod rows;
pub mod service;

use std::cell::Cell;
use std::path::Path;

use axum::http::HeaderMap;

use aethex_protocol::replica::{EDGE_KEY_HEADER, FORWARDED_BY_EDGE_HEADER};

use crate::state::AppState;

tokio::task_local! {
    /// Newest replication position written while handling the current request.
    static WRITE_POSITION: Cell<i64>;
}

/// Notes that the current request's write produced `position` (no-op outside a request).
pub fn record_position(position: i64) {
    let _ = WRITE_POSITION.try_with(|p| {
        if position > p.get() {
            p.set(position)
        }
    });
}

/// Runs a request and returns, with its answer, the newest position it wrote (0: none).
pub async fn track_position<F: std::future::Future>(fut: F) -> (F::Output, i64) {
    WRITE_POSITION
        .scope(Cell::new(0), async move {
            let out = fut.await;
            (out, WRITE_POSITION.with(Cell::get))
        })
        .await
}

/// Loads the configured edge keys; without any, uses (and on first start creates)
/// `<keys_dir>/edge-key`, which the embedded edge shares.
pub fn load_edge_keys(configured: &[crate::config::Secret], keys_dir: &Path) -> std::io::Result<Vec<String>> {
    load_keys(configured, keys_dir, "edge-key", "aethex_ek_")
}

/// Loads the configured relay keys; without any, uses (and on first start creates)
/// `<keys_dir>/relay-key`, which the embedded relay shares.
pub fn load_relay_keys(configured: &[crate::config::Secret], keys_dir: &Path) -> std::io::Result<Vec<String>> {
    load_keys(configured, keys_dir, "relay-key", "aethex_rk_")
}

fn load_keys(configured: &[crate::config::Secret], keys_dir: &Path, file: &str, prefix: &str) -> std::io::Result<Vec<String>> {
    let mut keys: Vec<String> = configured.iter().map(|k| k.expose().trim().to_string()).filter(|k| !k.is_empty()).collect();
    if keys.is_empty() {
        let path = keys_dir.join(file);
        let key = match std::fs::read_to_string(&path) {
            Ok(k) if !k.trim().is_empty() => k.trim().to_string(),
            _ => {
                std::fs::create_dir_all(keys_dir)?;
                let k = format!("{prefix}{}", crate::crypto::random_token(32));
                crate::crypto::write_private(&path, k.as_bytes())?;
                tracing::info!(path = %path.display(), "created a key");
                k
            }
        };
        keys.push(key);
    }
    Ok(keys)
}

/// A key's fingerprint: what origin stores to know which key a relay registered with.
pub fn key_fingerprint(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex()[..32].to_string()
}

/// Equality that takes the same time wherever the strings differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (blake3::hash(a.as_bytes()), blake3::hash(b.as_bytes()));
    a == b // blake3::Hash's equality is constant-time
}

impl AppState {
    /// Whether `presented` is one of the edge keys.
    /// The relay key presented in `x-aethex-relay-key`, if it is one.
    pub fn relay_key_in(&self, headers: &HeaderMap) -> Option<&str> {
        let presented = headers.get(aethex_protocol::multiplayer::RELAY_KEY_HEADER).and_then(|v| v.to_str().ok())?;
        self.relay_keys.iter().find(|k| !presented.is_empty() && same_secret(k, presented)).map(String::as_str)
    }

    /// The relay key with this fingerprint (the one a region registered with).
    pub fn relay_key_by_fingerprint(&self, fingerprint: &str) -> Option<&str> {
        self.relay_keys.iter().find(|k| key_fingerprint(k) == fingerprint).map(String::as_str)
    }

    pub fn is_edge_key(&self, presented: &str) -> bool {
        !presented.is_empty() && self.edge_keys.iter().any(|k| same_secret(k, presented))
    }

    /// Whether an edge calls for itself (a valid key in `x-aethex-edge-key`): the edge-only
    /// routes. Edges never forward this header, so clients cannot reach them through one.
    pub fn from_edge(&self, headers: &HeaderMap) -> bool {
        headers.get(EDGE_KEY_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|k| self.is_edge_key(k))
    }

    /// Whether an edge forwarded this request for a client (a valid key in
    /// `x-aethex-forwarded-by-edge`): its verified claims and client address are trusted.
    pub fn forwarded_by_edge(&self, headers: &HeaderMap) -> bool {
        headers.get(FORWARDED_BY_EDGE_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|k| self.is_edge_key(k))
    }
}
