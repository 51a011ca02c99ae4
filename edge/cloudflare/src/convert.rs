//! The platform-neutral half of the adapter: cache keys, what is stored in and read back
//! from the Workers Cache API, header clean-up and error answers. No workers-rs here, so
//! it builds and is tested on the host.

use aethex_edge::{Headers, Response};
use aethex_protocol::headers::REQUEST_ID;
use aethex_protocol::rpc::{ErrorCode, RpcError};

/// Host of the synthetic URLs the core's cache keys are stored under in the Cache API,
/// unless `AETHEX_CACHE_HOST` names another (Cloudflare recommends the worker's own
/// hostname for Cache API keys).
pub const CACHE_HOST: &str = "aethex-edge-cache.internal";

/// The response's own `cache-control` while it sits in the Cache API (which needs a
/// public `max-age` to store anything; `private` responses are never stored).
pub const ORIGINAL_CACHE_CONTROL: &str = "x-aethex-edge-cache-control";

/// Headers about one transfer: the body the core works on is always the plain bytes.
const TRANSFER_HEADERS: &[&str] = &["content-length", "content-encoding", "transfer-encoding"];

/// Headers the Cache API adds to a stored answer.
const CACHE_ADDED_HEADERS: &[&str] = &["cf-cache-status", "age", "expires"];

/// The Cache API URL of a core cache key.
pub fn cache_url(host: &str, key: &str) -> String {
    format!("https://{host}/{}", aethex_edge::http::percent_encode(key))
}

/// The cache host to use for the `AETHEX_CACHE_HOST` setting: a plain host name (with
/// an optional port), else the default.
pub fn cache_host(setting: Option<&str>) -> String {
    match setting.map(str::trim) {
        Some(h) if !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':')) => h.to_ascii_lowercase(),
        _ => CACHE_HOST.to_string(),
    }
}

/// Whether the Cache API can store `status` (`put` throws on 206 and on bodies of
/// null-body statuses; the core only caches 200s anyway).
pub fn cacheable_status(status: u16) -> bool {
    (200..300).contains(&status) && !(204..=206).contains(&status)
}

/// The copy of `resp` put into the Cache API for `ttl_secs`.
pub fn for_cache(resp: &Response, ttl_secs: u64) -> Response {
    let mut r = resp.clone();
    for h in TRANSFER_HEADERS.iter().chain(CACHE_ADDED_HEADERS) {
        r.headers.remove(h);
    }
    // The Cache API refuses `Vary: *`, honours other Vary headers against the bare
    // lookup request, and never stores responses with Set-Cookie.
    r.headers.remove("vary");
    r.headers.remove("set-cookie");
    r.headers.remove(ORIGINAL_CACHE_CONTROL);
    if let Some(cc) = resp.header("cache-control").map(str::to_string) {
        r.headers.set(ORIGINAL_CACHE_CONTROL, cc);
    }
    r.headers.set("cache-control", format!("max-age={ttl_secs}"));
    r
}

/// A response read back from the Cache API, as it was before [`for_cache`].
pub fn from_cache(mut resp: Response) -> Response {
    for h in TRANSFER_HEADERS.iter().chain(CACHE_ADDED_HEADERS) {
        resp.headers.remove(h);
    }
    match resp.header(ORIGINAL_CACHE_CONTROL).map(str::to_string) {
        Some(cc) => resp.headers.set("cache-control", cc),
        None => resp.headers.remove("cache-control"),
    }
    resp.headers.remove(ORIGINAL_CACHE_CONTROL);
    resp
}

/// Headers of an upstream answer whose body has been read: workerd hands out the decoded
/// bytes, so the encoding and length headers no longer describe them.
pub fn upstream_headers(pairs: impl IntoIterator<Item = (String, String)>) -> Headers {
    pairs.into_iter().filter(|(k, _)| !TRANSFER_HEADERS.iter().any(|t| k.eq_ignore_ascii_case(t))).collect()
}

/// Statuses whose responses must not have a body (the JS `Response` constructor throws).
pub fn null_body_status(status: u16) -> bool {
    matches!(status, 101 | 204 | 205 | 304)
}

/// Whether a `Response` can carry `status` (the JS constructor takes 200..=599 only).
pub fn valid_status(status: u16) -> bool {
    (200..=599).contains(&status)
}

/// The client's request id, if usable (as the core accepts it).
pub fn request_id(headers: &Headers) -> Option<&str> {
    headers.get(REQUEST_ID).filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
}

/// A JSON error in the usual envelope.
pub fn error(code: ErrorCode, message: &str, reason: impl Into<String>, request_id: Option<&str>) -> Response {
    error_answer(RpcError::new(code, message).with_reason(reason), request_id)
}

/// The seed's error answer, with the request id in its header too.
pub fn error_answer(e: RpcError, request_id: Option<&str>) -> Response {
    let mut r = Response::error(e, request_id);
    if let Some(id) = request_id {
        r.headers.set(REQUEST_ID, id);
    }
    r
}

/// The answer when the worker's settings cannot be read.
pub fn misconfigured(reason: impl Into<String>) -> Response {
    error(ErrorCode::INTERNAL, "Edge misconfigured", reason, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_urls_are_percent_encoded() {
        assert_eq!(cache_url(CACHE_HOST, "aethex:jwks"), "https://aethex-edge-cache.internal/aethex%3Ajwks");
        assert_eq!(cache_url("edge.example.com", "aethex:lb:g:b:10:a/b c"), "https://edge.example.com/aethex%3Alb%3Ag%3Ab%3A10%3Aa%2Fb%20c");
        assert_eq!(cache_host(None), CACHE_HOST);
        assert_eq!(cache_host(Some(" Edge.Example.com ")), "edge.example.com");
        assert_eq!(cache_host(Some("evil.com/x?")), CACHE_HOST);
        assert_eq!(cache_host(Some("")), CACHE_HOST);
    }

    #[test]
    fn cached_copies_round_trip_their_cache_control() {
        let original = Response::json(200, &serde_json::json!({"a": 1}))
            .with_header("cache-control", "private, max-age=60")
            .with_header("vary", "origin")
            .with_header("x-aethex-position", "7");
        let stored = for_cache(&original, 60);
        assert_eq!(stored.header("cache-control"), Some("max-age=60"));
        assert_eq!(stored.header("vary"), None);
        let mut hit = stored.clone();
        hit.headers.set("cf-cache-status", "HIT");
        hit.headers.set("content-length", "7");
        let back = from_cache(hit);
        assert_eq!(back.header("cache-control"), Some("private, max-age=60"));
        assert_eq!(back.header(ORIGINAL_CACHE_CONTROL), None);
        assert_eq!(back.header("cf-cache-status"), None);
        assert_eq!(back.header("x-aethex-position"), Some("7"));
        assert_eq!(back.body, original.body);

        let bare = Response::new(200).with_header("x-aethex-fetched-ms", "5");
        let back = from_cache(for_cache(&bare, 300));
        assert_eq!(back.header("cache-control"), None);
        assert_eq!(back.header("x-aethex-fetched-ms"), Some("5"));
    }

    #[test]
    fn transfer_headers_are_dropped_and_errors_are_enveloped() {
        let h = upstream_headers(vec![
            ("Content-Encoding".to_string(), "gzip".to_string()),
            ("content-length".to_string(), "3".to_string()),
            ("set-cookie".to_string(), "a=1".to_string()),
            ("set-cookie".to_string(), "b=2".to_string()),
        ]);
        assert_eq!(h.len(), 2);
        assert_eq!(h.get("content-encoding"), None);

        let r = misconfigured("AETHEX_ORIGIN_URL: required");
        assert_eq!(r.status, 500);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["message"], "Edge misconfigured");
        let mut h = Headers::new();
        h.set("x-request-id", "abc");
        let r = error(ErrorCode::UNAVAILABLE, "Service unavailable", "x", request_id(&h));
        assert_eq!(r.status, 503);
        assert_eq!(r.header("x-request-id"), Some("abc"));
        h.set("x-request-id", "a b");
        assert_eq!(request_id(&h), None);
        assert!(cacheable_status(200) && !cacheable_status(206) && !cacheable_status(404));
        assert!(null_body_status(204) && !valid_status(101) && valid_status(599));
    }
}
