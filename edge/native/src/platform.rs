//! The edge core's platform on a native host: reqwest for outbound HTTP, an in-memory
//! cache, the system clock.

use std::time::Duration;

use aethex_edge::{FetchError, Headers, MemoryCache, Outbound, Platform, Response};

pub struct NativePlatform {
    http: reqwest::Client,
    /// Small answers: signing keys, leaderboard pages, save bytes.
    cache: MemoryCache,
    /// DLC chunks (kept for a year): apart, so a stream of chunks never pushes the small
    /// answers out.
    chunks: MemoryCache,
}

/// Cache keys of DLC chunks (`edge/core/src/delivery.rs`).
const CHUNK_KEY_PREFIX: &str = "aethex:chunk:";

impl NativePlatform {
    pub fn new() -> Self {
        let http = aethex_runtime::tls::http_client()
            .user_agent(concat!("aethex-edge/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            // Redirects (an OAuth callback's 303) are for the client, as on every edge.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        Self {
            http,
            cache: MemoryCache::new(20_000, 4 * 1024 * 1024).with_max_total_bytes(64 * 1024 * 1024),
            chunks: MemoryCache::new(100_000, 5 * 1024 * 1024).with_max_total_bytes(512 * 1024 * 1024),
        }
    }
}

impl NativePlatform {
    fn cache_for(&self, key: &str) -> &MemoryCache {
        if key.starts_with(CHUNK_KEY_PREFIX) {
            &self.chunks
        } else {
            &self.cache
        }
    }
}

impl Default for NativePlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl Platform for NativePlatform {
    async fn fetch(&self, req: Outbound) -> Result<Response, FetchError> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|e| FetchError(e.to_string()))?;
        let mut b = self.http.request(method, &req.url);
        for (k, v) in req.headers.iter() {
            b = b.header(k, v);
        }
        if !req.body.is_empty() {
            b = b.body(req.body);
        }
        let resp = b.send().await.map_err(|e| FetchError(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers: Headers = resp.headers().iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string()))).collect();
        let body = resp.bytes().await.map_err(|e| FetchError(e.to_string()))?.to_vec();
        Ok(Response { status, headers, body })
    }

    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    async fn cache_get(&self, key: &str) -> Option<Response> {
        self.cache_for(key).get(key, self.now_ms())
    }

    async fn cache_put(&self, key: &str, resp: &Response, ttl_secs: u64) {
        self.cache_for(key).put(key, resp, ttl_secs, self.now_ms())
    }
}
