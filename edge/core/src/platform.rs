//! What differs per platform, as small traits: outbound HTTP, a response cache and the
//! clock. Adapters implement [`Platform`]; the core never touches a socket itself.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::http::{Outbound, Response};

/// An outbound request that got no HTTP answer at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("upstream request failed: {0}")]
pub struct FetchError(pub String);

#[allow(async_fn_in_trait)]
pub trait Platform {
    /// Sends a request to origin or the replica and returns its answer (any status).
    async fn fetch(&self, req: Outbound) -> Result<Response, FetchError>;

    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// A cached response under `key`, if present and fresh.
    async fn cache_get(&self, key: &str) -> Option<Response>;

    /// Caches `resp` under `key` for `ttl_secs`. Best effort: a platform may drop it.
    async fn cache_put(&self, key: &str, resp: &Response, ttl_secs: u64);
}

/// A bounded in-memory cache with per-entry expiry: the native edge's cache, and the
/// per-instance cache of wasm platforms that keep an instance between requests.
pub struct MemoryCache {
    entries: Mutex<Entries>,
    max_entries: usize,
    max_entry_bytes: usize,
    max_total_bytes: usize,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, (Response, u64)>,
    /// Sum of the cached bodies.
    bytes: usize,
}

impl MemoryCache {
    /// At most `max_entries` entries of at most `max_entry_bytes` each, and (by default)
    /// 256 MiB of bodies in all.
    pub fn new(max_entries: usize, max_entry_bytes: usize) -> Self {
        Self { entries: Mutex::new(Entries::default()), max_entries, max_entry_bytes, max_total_bytes: 256 * 1024 * 1024 }
    }

    /// Bounds the cached bodies' total size.
    pub fn with_max_total_bytes(mut self, max: usize) -> Self {
        self.max_total_bytes = max;
        self
    }

    pub fn get(&self, key: &str, now_ms: u64) -> Option<Response> {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match e.map.get(key) {
            Some((r, expires)) if *expires > now_ms => Some(r.clone()),
            Some(_) => {
                if let Some((r, _)) = e.map.remove(key) {
                    e.bytes -= r.body.len();
                }
                None
            }
            None => None,
        }
    }

    pub fn put(&self, key: &str, resp: &Response, ttl_secs: u64, now_ms: u64) {
        if resp.body.len() > self.max_entry_bytes || resp.body.len() > self.max_total_bytes || ttl_secs == 0 {
            return;
        }
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((old, _)) = e.map.remove(key) {
            e.bytes -= old.body.len();
        }
        if e.map.len() >= self.max_entries || e.bytes + resp.body.len() > self.max_total_bytes {
            // Drop what has expired; if that frees too little, start over (a bounded cache
            // that is sometimes cold beats one that grows without end).
            e.map.retain(|_, (_, exp)| *exp > now_ms);
            e.bytes = e.map.values().map(|(r, _)| r.body.len()).sum();
            if e.map.len() >= self.max_entries || e.bytes + resp.body.len() > self.max_total_bytes {
                e.map.clear();
                e.bytes = 0;
            }
        }
        e.bytes += resp.body.len();
        e.map.insert(key.to_string(), (resp.clone(), now_ms.saturating_add(ttl_secs.saturating_mul(1000))));
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).map.len()
    }

    /// Sum of the cached bodies.
    pub fn bytes(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cache_expires_and_stays_bounded() {
        let c = MemoryCache::new(2, 10);
        let r = Response::new(200);
        c.put("a", &r, 1, 0);
        assert!(c.get("a", 999).is_some());
        assert!(c.get("a", 1000).is_none());
        c.put("a", &r, 10, 0);
        c.put("b", &r, 10, 0);
        c.put("c", &r, 10, 0);
        assert!(c.len() <= 2);
        let mut big = Response::new(200);
        big.body = vec![0; 11];
        c.put("big", &big, 10, 0);
        assert!(c.get("big", 1).is_none());
        // The total size is bounded too.
        let c = MemoryCache::new(100, 10).with_max_total_bytes(25);
        let mut r = Response::new(200);
        r.body = vec![0; 10];
        for k in ["a", "b", "c", "d"] {
            c.put(k, &r, 10, 0);
            assert!(c.bytes() <= 25);
        }
        c.put("d", &r, 10, 0);
        assert!(c.bytes() <= 25 && c.get("d", 1).is_some());
    }
}
