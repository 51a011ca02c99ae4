//! The keys of the servers that call origin: edges (`x-aethex-edge-key` for their own
//! routes, `x-aethex-forwarded-by-edge` when they forward a client's request) and relays
//! (`x-aethex-relay-key`). Held by the app state; compared in constant time.

use std::path::Path;

use axum::http::HeaderMap;

use aethex_protocol::multiplayer::RELAY_KEY_HEADER;
use aethex_protocol::replica::{EDGE_KEY_HEADER, FORWARDED_BY_EDGE_HEADER};

use crate::config::Secret;
use crate::crypto::same_secret;

pub struct PeerKeys {
    edge: Vec<String>,
    relay: Vec<String>,
}

impl PeerKeys {
    /// Loads the configured keys. A kind with none configured uses (and on first start
    /// creates) `<keys_dir>/edge-key` or `<keys_dir>/relay-key`, which the embedded edge
    /// and relay share.
    pub fn load(edge: &[Secret], relay: &[Secret], keys_dir: &Path) -> std::io::Result<Self> {
        Ok(PeerKeys { edge: load_keys(edge, keys_dir, "edge-key", "aethex_ek_")?, relay: load_keys(relay, keys_dir, "relay-key", "aethex_rk_")? })
    }

    /// The first edge key (the embedded edge's).
    pub fn edge_key(&self) -> &str {
        self.edge.first().map(String::as_str).unwrap_or_default()
    }

    /// The first relay key (the embedded relay's).
    pub fn relay_key(&self) -> &str {
        self.relay.first().map(String::as_str).unwrap_or_default()
    }

    /// The relay key presented in `x-aethex-relay-key`, if it is one.
    pub fn relay_key_in(&self, headers: &HeaderMap) -> Option<&str> {
        let presented = headers.get(RELAY_KEY_HEADER).and_then(|v| v.to_str().ok())?;
        self.relay.iter().find(|k| !presented.is_empty() && same_secret(k, presented)).map(String::as_str)
    }

    /// The relay key with this fingerprint (the one a region registered with).
    pub fn relay_key_by_fingerprint(&self, fingerprint: &str) -> Option<&str> {
        self.relay.iter().find(|k| key_fingerprint(k) == fingerprint).map(String::as_str)
    }

    /// Whether `presented` is one of the edge keys.
    pub fn is_edge_key(&self, presented: &str) -> bool {
        !presented.is_empty() && self.edge.iter().any(|k| same_secret(k, presented))
    }

    /// Whether an edge calls for itself (a valid key in `x-aethex-edge-key`): the edge-only
    /// routes. Edges never forward this header, so clients cannot reach them through one.
    pub fn from_edge(&self, headers: &HeaderMap) -> bool {
        headers.get(EDGE_KEY_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|k| self.is_edge_key(k))
    }

    /// Whether an edge forwarded this request for a client (a valid key in
    /// `x-aethex-forwarded-by-edge`): its client address is trusted.
    pub fn forwarded_by_edge(&self, headers: &HeaderMap) -> bool {
        headers.get(FORWARDED_BY_EDGE_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|k| self.is_edge_key(k))
    }
}

fn load_keys(configured: &[Secret], keys_dir: &Path, file: &str, prefix: &str) -> std::io::Result<Vec<String>> {
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
