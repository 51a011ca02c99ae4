//! [`aethex_edge::Platform`] on Fastly Compute, and the conversions between Fastly's
//! HTTP types and the core's.

use std::future::Future;
use std::io::{Read, Write};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aethex_edge::body::{BodyBuffer, BodyError};
use aethex_edge::{EdgeConfig, FetchError, Headers, Outbound, Platform, Response};
use fastly::cache::core as cache;
use fastly::http::{HeaderName, HeaderValue, Method, StatusCode, Url};
use fastly::Backend;

/// Runs a future that never waits (Fastly's host calls are synchronous, so every future
/// of [`FastlyPlatform`] is ready when first polled). `None` if it did not complete.
pub fn complete<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// Outbound HTTP through the named backends, the Core Cache API and the system clock.
/// (`AETHEX_JWKS`, when set, is preloaded by the core itself.)
pub struct FastlyPlatform;

impl FastlyPlatform {
    pub fn new(_config: &EdgeConfig) -> Self {
        Self
    }
}

/// Reads a whole body within the edge core's limit ([`aethex_edge::body`]); `declared`
/// (its `content-length`) is refused at once when over it and sizes the buffer.
pub fn read_body(mut body: fastly::Body, declared: Option<u64>) -> Result<Vec<u8>, BodyError> {
    let mut out = BodyBuffer::new(declared)?;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match body.read(&mut chunk) {
            Ok(0) => return Ok(out.finish()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BodyError::Failed(e.to_string())),
        };
        out.push(&chunk[..n])?;
    }
}

/// The `content-length` a message declares, if any.
pub fn declared_length(value: Option<&HeaderValue>) -> Option<u64> {
    aethex_edge::body::declared_length(value?.to_str().ok())
}

impl Platform for FastlyPlatform {
    async fn fetch(&self, out: Outbound) -> Result<Response, FetchError> {
        let backend_name = out.upstream.name();
        let url = Url::parse(&out.url).map_err(|e| FetchError(format!("bad {backend_name} URL {:?}: {e}", out.url)))?;
        let method = Method::from_bytes(out.method.as_bytes()).map_err(|_| FetchError(format!("bad method {:?}", out.method)))?;
        let backend = Backend::from_name(backend_name).map_err(|e| FetchError(format!("backend {backend_name}: {e}")))?;
        let mut req = fastly::Request::new(method, url);
        // The core decides what is cached; Fastly's HTTP cache must not keep API answers.
        req.set_pass(true);
        for (name, value) in out.headers.iter() {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                req.append_header(n, v);
            }
        }
        if !out.body.is_empty() {
            req.set_body(out.body);
        }
        let mut resp = req.send(backend).map_err(|e| FetchError(format!("{backend_name}: {e}")))?;
        let declared = declared_length(resp.get_header(fastly::http::header::CONTENT_LENGTH));
        let body = read_body(resp.take_body(), declared).map_err(|e| FetchError(format!("{backend_name}: response {e}")))?;
        Ok(Response { status: resp.get_status().as_u16(), headers: headers_of(resp.get_headers()), body })
    }

    fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    async fn cache_get(&self, key: &str) -> Option<Response> {
        cache_lookup(key)
    }

    async fn cache_put(&self, key: &str, resp: &Response, ttl_secs: u64) {
        if ttl_secs == 0 {
            return;
        }
        let headers: Vec<(&str, &str)> = resp.headers.iter().collect();
        let Ok(meta) = serde_json::to_vec(&(resp.status, headers)) else { return };
        let writer = cache::insert(cache::CacheKey::copy_from_slice(key.as_bytes()), Duration::from_secs(ttl_secs))
            .user_metadata(meta.into())
            .known_length(resp.body.len() as u64)
            // Save blobs are private: never written to disk at the POP.
            .sensitive_data(true)
            .execute();
        // Best effort: a cache that refuses the entry only costs a later fetch.
        if let Ok(mut w) = writer {
            match w.write_all(&resp.body) {
                Ok(()) => drop(w.finish()),
                Err(_) => drop(w.abandon()),
            }
        }
    }
}

/// A fresh entry of the Fastly cache: status and headers in the user metadata, the
/// body as the object.
fn cache_lookup(key: &str) -> Option<Response> {
    let found = cache::lookup(cache::CacheKey::copy_from_slice(key.as_bytes())).execute().ok()??;
    if !found.is_usable() || found.is_stale() {
        return None;
    }
    let (status, headers): (u16, Vec<(String, String)>) = serde_json::from_slice(&found.user_metadata()).ok()?;
    let body = read_body(found.to_stream().ok()?, found.known_length()).ok()?;
    Some(Response { status, headers: headers.into_iter().collect(), body })
}

fn headers_of<'a>(it: impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)>) -> Headers {
    it.map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}

/// The core's answer as a Fastly response. Headers Fastly would refuse are left out.
pub fn to_fastly(r: Response) -> fastly::Response {
    let status = match StatusCode::from_u16(r.status) {
        Ok(s) if (200..=599).contains(&r.status) => s,
        _ => StatusCode::BAD_GATEWAY,
    };
    let mut resp = fastly::Response::from_status(status);
    for (name, value) in r.headers.iter() {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            resp.append_header(n, v);
        }
    }
    resp.set_body(r.body);
    resp
}
