//! [`aethex_edge::Platform`] on Spin / WASI HTTP P3: outbound HTTP through
//! `wasi:http/client`, the WASI wall clock, and a cache (per-instance memory, plus Spin's
//! key-value store with the `spin-kv` feature).

use std::time::{SystemTime, UNIX_EPOCH};

use aethex_edge::{EdgeConfig, FetchError, MemoryCache, Outbound, Platform, Response};
use spin_sdk::wasip3::http::types::{self, Method, Scheme};

use aethex_edge::body::declared_length;

use crate::{body_of, fields_of, headers_of, read_body};

/// Entries kept in the per-instance cache, and the largest one.
const MEMORY_ENTRIES: usize = 512;
const MEMORY_ENTRY_BYTES: usize = 1024 * 1024;

/// The cache is per instance (plus Spin's key-value store with `spin-kv`). Origin's key
/// set can be given as `AETHEX_JWKS`, which the core preloads, so a fresh instance
/// verifies tokens without a fetch.
pub struct SpinPlatform {
    memory: MemoryCache,
}

impl SpinPlatform {
    pub fn new(_config: &EdgeConfig) -> Self {
        Self { memory: MemoryCache::new(MEMORY_ENTRIES, MEMORY_ENTRY_BYTES) }
    }
}

impl Platform for SpinPlatform {
    async fn fetch(&self, req: Outbound) -> Result<Response, FetchError> {
        send(req).await
    }

    fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    async fn cache_get(&self, key: &str) -> Option<Response> {
        let now = self.now_ms();
        if let Some(hit) = self.memory.get(key, now) {
            return Some(hit);
        }
        #[cfg(feature = "spin-kv")]
        if let Some((resp, expires)) = kv::get(key, now).await {
            let ttl = expires.saturating_sub(now) / 1000;
            self.memory.put(key, &resp, ttl, now);
            return Some(resp);
        }
        None
    }

    async fn cache_put(&self, key: &str, resp: &Response, ttl_secs: u64) {
        let now = self.now_ms();
        self.memory.put(key, resp, ttl_secs, now);
        #[cfg(feature = "spin-kv")]
        kv::put(key, resp, ttl_secs, now).await;
    }
}

/// The parts of an absolute URL a `wasi:http` request is built from.
struct Target<'a> {
    scheme: &'a str,
    authority: &'a str,
    path_and_query: String,
}

fn split_url(url: &str) -> Option<Target<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(end);
    if scheme.is_empty() || authority.is_empty() {
        return None;
    }
    Some(Target {
        scheme,
        authority,
        path_and_query: if path_and_query.starts_with('/') { path_and_query.to_string() } else { format!("/{path_and_query}") },
    })
}

fn method_of(m: &str) -> Method {
    match m {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    }
}

fn scheme_of(s: &str) -> Scheme {
    match s.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_string()),
    }
}

/// Sends `req` through the host's outgoing handler; any HTTP answer is a success.
async fn send(req: Outbound) -> Result<Response, FetchError> {
    let (method, url) = (req.method, req.url);
    let fail = |what: &str| FetchError(format!("{method} {url}: {what}"));
    let target = split_url(&url).ok_or_else(|| fail("not an absolute URL"))?;
    let mut headers = req.headers;
    if !req.body.is_empty() {
        headers.set("content-length", req.body.len().to_string());
    }
    let (contents, trailers) = body_of(req.body);
    let (out, _sent) = types::Request::new(fields_of(&headers), Some(contents), trailers, None);
    out.set_method(&method_of(&method)).map_err(|()| fail("method refused"))?;
    out.set_scheme(Some(&scheme_of(target.scheme))).map_err(|()| fail("scheme refused"))?;
    out.set_authority(Some(target.authority)).map_err(|()| fail("authority refused"))?;
    out.set_path_with_query(Some(&target.path_and_query)).map_err(|()| fail("path refused"))?;
    let resp = spin_sdk::wasip3::http::client::send(out).await.map_err(|e| fail(&format!("{e:?}")))?;
    let status = resp.get_status_code();
    let headers = headers_of(resp.get_headers().copy_all());
    let declared = declared_length(headers.get("content-length"));
    let body = read_body(resp, declared).await.map_err(|e| fail(&format!("response {e}")))?;
    Ok(Response { status, headers, body })
}

/// Spin's key-value store (`default` label) as a second cache level. Values carry their
/// expiry (the store has none of its own); keys over Spin's 255-byte limit are not cached.
#[cfg(feature = "spin-kv")]
mod kv {
    use aethex_edge::{Headers, Response};
    use spin_sdk::key_value::Store;

    const MAX_KEY_BYTES: usize = 255;
    const MAX_VALUE_BYTES: usize = 1024 * 1024;

    pub async fn get(key: &str, now: u64) -> Option<(Response, u64)> {
        if key.len() > MAX_KEY_BYTES {
            return None;
        }
        let store = Store::open_default().await.ok()?;
        let raw = store.get(key).await.ok()??;
        match decode(&raw) {
            Some((resp, expires)) if expires > now => Some((resp, expires)),
            _ => {
                let _ = store.delete(key).await;
                None
            }
        }
    }

    pub async fn put(key: &str, resp: &Response, ttl_secs: u64, now: u64) {
        if key.len() > MAX_KEY_BYTES || ttl_secs == 0 || resp.body.len() > MAX_VALUE_BYTES {
            return;
        }
        let expires = now.saturating_add(ttl_secs.saturating_mul(1000));
        if let Ok(store) = Store::open_default().await {
            let _ = store.set(key, encode(resp, expires)).await;
        }
    }

    /// `expires_ms u64 | status u16 | n u32 | n x (len u32, name, len u32, value) | body`,
    /// big-endian.
    fn encode(resp: &Response, expires: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(resp.body.len() + 64);
        out.extend_from_slice(&expires.to_be_bytes());
        out.extend_from_slice(&resp.status.to_be_bytes());
        out.extend_from_slice(&(resp.headers.len() as u32).to_be_bytes());
        for (k, v) in resp.headers.iter() {
            for part in [k.as_bytes(), v.as_bytes()] {
                out.extend_from_slice(&(part.len() as u32).to_be_bytes());
                out.extend_from_slice(part);
            }
        }
        out.extend_from_slice(&resp.body);
        out
    }

    fn decode(raw: &[u8]) -> Option<(Response, u64)> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = raw.get(at..at.checked_add(n)?)?;
            at += n;
            Some(s)
        };
        let expires = u64::from_be_bytes(take(8)?.try_into().ok()?);
        let status = u16::from_be_bytes(take(2)?.try_into().ok()?);
        let n = u32::from_be_bytes(take(4)?.try_into().ok()?);
        let mut headers = Headers::new();
        for _ in 0..n {
            let mut part = || -> Option<String> {
                let len = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
                String::from_utf8(take(len)?.to_vec()).ok()
            };
            let k = part()?;
            let v = part()?;
            headers.append(&k, v);
        }
        let body = raw.get(at..)?.to_vec();
        Some((Response { status, headers, body }, expires))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn entries_round_trip() {
            let mut r = Response::new(200).with_header("x-a", "b");
            r.body = b"hello".to_vec();
            let (back, exp) = decode(&encode(&r, 42)).unwrap();
            assert_eq!((back, exp), (r, 42));
            assert!(decode(&[1, 2, 3]).is_none());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        let t = split_url("http://127.0.0.1:8080/api/v1/x?a=1").unwrap();
        assert_eq!((t.scheme, t.authority, t.path_and_query.as_str()), ("http", "127.0.0.1:8080", "/api/v1/x?a=1"));
        let t = split_url("https://db.example?x").unwrap();
        assert_eq!((t.authority, t.path_and_query.as_str()), ("db.example", "/?x"));
        assert!(split_url("127.0.0.1/x").is_none());
        assert_eq!(split_url("http://h").unwrap().path_and_query, "/");
    }
}
