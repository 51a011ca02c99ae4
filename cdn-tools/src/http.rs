//! HTTP plumbing shared by the patching client and the publish client: URL checks, error
//! answers turned into [`Error::Api`] (origin's JSON-RPC error envelope:
//! `{"jsonrpc":"2.0","id":..,"error":{"code":..,"message":..,"data":{"field":..,"reason":..}}}`),
//! and bodies read with a size cap so a misbehaving server cannot exhaust memory.

use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Largest error body read (the envelope is small; the rest is dropped).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A client with connect and idle timeouts but no overall timeout (a chunk over a slow
/// link may take a while; stalls are caught by the read timeout).
pub fn client() -> Result<Client> {
    trusting_client(&[])
}

/// The variable naming a PEM file of CA certificates trusted besides the web PKI's roots
/// (a studio's own CA in front of origin or a CDN). Certificates are always verified.
pub const EXTRA_CA_ENV: &str = "AETHEX_EXTRA_CA_FILE";

/// [`client`], also trusting `extra` and the certificates in `$AETHEX_EXTRA_CA_FILE`.
pub fn trusting_client(extra: &[reqwest::Certificate]) -> Result<Client> {
    let mut builder = Client::builder();
    for c in extra {
        builder = builder.add_root_certificate(c.clone());
    }
    if let Some(path) = std::env::var_os(EXTRA_CA_ENV).filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path).map_err(|e| Error::Invalid(format!("{EXTRA_CA_ENV} {}: {e}", path.to_string_lossy())))?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| Error::Invalid(format!("{EXTRA_CA_ENV} {}: {e}", path.to_string_lossy())))?;
        if certs.is_empty() {
            return Err(Error::Invalid(format!("{EXTRA_CA_ENV} {} holds no PEM certificate", path.to_string_lossy())));
        }
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    builder
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("aethex-cdn/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Invalid(format!("HTTP client: {e}")))
}

/// Checks a base URL (http or https, no query) and returns it without a trailing `/`.
pub fn base_url(raw: &str) -> Result<String> {
    let u = reqwest::Url::parse(raw.trim()).map_err(|e| Error::Invalid(format!("URL {raw:?}: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(Error::Invalid(format!("URL {raw:?}: must be http:// or https:// with a host")));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(Error::Invalid(format!("URL {raw:?}: must not have a query or fragment")));
    }
    Ok(u.as_str().trim_end_matches('/').to_string())
}

/// Sends a request; a non-2xx answer becomes [`Error::Api`] with the server's message.
pub async fn send(req: RequestBuilder, method: &Method, url: &str) -> Result<Response> {
    let resp = req.send().await.map_err(|e| Error::Transport { url: url.to_string(), source: e })?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let body = read_capped(resp, MAX_ERROR_BODY, url, true).await.unwrap_or_default();
    Err(api_error(method, url, status.as_u16(), &body))
}

/// [`Error::Api`] from an error answer's body: the JSON-RPC error object when it is one,
/// else the status's reason and the start of the body.
pub fn api_error(method: &Method, url: &str, status: u16, body: &[u8]) -> Error {
    let v: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let err = v.as_ref().and_then(|v| v.get("error"));
    let s = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
    let message = s(err.and_then(|e| e.get("message"))).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_string();
        let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("error");
        if text.is_empty() {
            reason.to_string()
        } else {
            format!("{reason}: {text}")
        }
    });
    let data = err.and_then(|e| e.get("data"));
    Error::Api(Box::new(crate::error::ApiError {
        method: method.to_string(),
        url: url.to_string(),
        status,
        code: err.and_then(|e| e.get("code")).and_then(|c| c.as_i64()),
        message,
        field: s(data.and_then(|d| d.get("field"))),
        reason: s(data.and_then(|d| d.get("reason"))),
    }))
}

/// Reads a body up to `cap` bytes; more is an error (or, with `truncate`, dropped).
pub async fn read_capped(mut resp: Response, cap: usize, url: &str, truncate: bool) -> Result<Vec<u8>> {
    if let Some(len) = resp.content_length() {
        if len as usize > cap && !truncate {
            return Err(Error::Invalid(format!("{url}: answer is {len} bytes, more than the {cap} expected")));
        }
    }
    let mut out = Vec::new();
    while let Some(c) = resp.chunk().await.map_err(|e| Error::Transport { url: url.to_string(), source: e })? {
        if out.len() + c.len() > cap {
            if truncate {
                out.extend_from_slice(&c[..cap - out.len()]);
                return Ok(out);
            }
            return Err(Error::Invalid(format!("{url}: answer is more than the {cap} bytes expected")));
        }
        out.extend_from_slice(&c);
    }
    Ok(out)
}

/// Sends a request and parses a JSON answer (at most `cap` bytes).
pub async fn send_json<T: DeserializeOwned>(req: RequestBuilder, method: &Method, url: &str, cap: usize) -> Result<T> {
    let resp = send(req, method, url).await?;
    let body = read_capped(resp, cap, url, false).await?;
    serde_json::from_slice(&body).map_err(|e| Error::json(format!("answer of {method} {url}"), e))
}

/// Runs an idempotent request, retrying transient failures ([`Error::is_retryable`]) with
/// [`backoff`].
pub async fn retry<T, F: std::future::Future<Output = Result<T>>>(retries: u32, base: Duration, mut f: impl FnMut() -> F) -> Result<T> {
    let mut attempt = 0;
    loop {
        match f().await {
            Err(e) if e.is_retryable() && attempt < retries => {
                tokio::time::sleep(backoff(base, attempt)).await;
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// Backoff before attempt `attempt + 1`: base * 2^attempt, capped at 10 s, with +-25 %
/// jitter so many clients retrying after one edge hiccup do not come back in step.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let d = base.saturating_mul(1u32 << attempt.min(16)).min(Duration::from_secs(10));
    let jitter = 0.75 + rand::random::<f64>() * 0.5;
    d.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_error_envelopes_surface_message_and_reason() {
        let body = br#"{"jsonrpc":"2.0","id":"req-1","error":{"code":-32010,"message":"conflict","data":{"field":"version","reason":"1.2.3 is already released on stable"}}}"#;
        let e = api_error(&Method::POST, "http://o/api/v1/games/g/releases", 409, body);
        let text = e.to_string();
        assert!(text.contains("HTTP 409") && text.contains("conflict") && text.contains("version: 1.2.3 is already released on stable"), "{text}");
        assert!(matches!(&e, Error::Api(a) if a.code == Some(-32010) && a.status == 409));
        assert!(!e.is_retryable());
        // Not an envelope: the status and the start of the body.
        let e = api_error(&Method::GET, "http://o/x", 502, b"<html>bad gateway</html>");
        assert!(e.to_string().contains("Bad Gateway: <html>bad gateway"), "{e}");
        assert!(e.is_retryable());
        assert!(api_error(&Method::GET, "u", 429, b"").is_retryable());
        assert!(!api_error(&Method::GET, "u", 404, b"").is_retryable());
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(base_url("https://edge.example.com/").unwrap(), "https://edge.example.com");
        assert_eq!(base_url("http://127.0.0.1:8081/prefix/").unwrap(), "http://127.0.0.1:8081/prefix");
        for bad in ["ftp://x", "not a url", "http://x/?q=1", "/relative"] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Duration::from_millis(100);
        assert!(backoff(b, 0) <= Duration::from_millis(125) && backoff(b, 0) >= Duration::from_millis(75));
        assert!(backoff(b, 3) >= Duration::from_millis(600));
        assert!(backoff(b, 30) <= Duration::from_millis(12_500));
    }
}
