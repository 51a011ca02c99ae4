//! Request id, tracing span, metrics, and error-shape normalisation for responses that
//! axum or tower produce on their own (unknown route, wrong method, body limit).

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use aethex_protocol::headers::REQUEST_ID as REQUEST_ID_HEADER;
use aethex_protocol::rpc::ErrorCode;

use crate::error::{ApiError, REQUEST_ID};

/// Gives every request an id (the client's `X-Request-Id` when it is sane, else a new
/// UUID), runs it inside a span and the task-local used by error bodies, echoes the id,
/// and records request metrics.
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id, %method, route = %route);
    let started = Instant::now();
    let (mut resp, position) = REQUEST_ID.scope(id.clone(), crate::db::position::track(normalise(next.run(req)).instrument(span.clone()))).await;
    // The replication position a write produced: sent back on reads, it lets an edge
    // answer from its replica only once the replica has this write (read-your-writes).
    if position > 0 {
        resp.headers_mut().insert(aethex_protocol::headers::POSITION, HeaderValue::from(position));
    }
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    // One line per request is an access log: at `debug` (a filter such as
    // `aethex_origin::http=debug` turns it on); answers that failed on our side always show.
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if status >= 500 {
        span.in_scope(|| tracing::warn!(status, latency_ms, "handled"));
    } else {
        span.in_scope(|| tracing::debug!(status, latency_ms, "handled"));
    }
    let labels = [("route", route), ("method", method.to_string()), ("status", status.to_string())];
    metrics::counter!("aethex_http_requests_total", &labels).increment(1);
    metrics::histogram!("aethex_http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

/// Rewrites error responses that carry no JSON body into the seed's error object.
async fn normalise(fut: impl std::future::Future<Output = Response>) -> Response {
    let resp = fut.await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    // Only bodies axum and tower make themselves (none, or plain text) are rewritten;
    // JSON errors are ours already and HTML pages (the OAuth callback) are for browsers.
    let keep = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| !v.starts_with("text/plain")).unwrap_or(false);
    if keep {
        return resp;
    }
    let err = match status {
        StatusCode::NOT_FOUND => ApiError::new(ErrorCode::METHOD_NOT_FOUND, "Not found").reason("no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(ErrorCode::METHOD_NOT_FOUND, "Method not allowed")
            .reason("this route does not accept that HTTP method")
            .status(StatusCode::METHOD_NOT_ALLOWED),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(ErrorCode::PAYLOAD_TOO_LARGE, "Payload too large").field("body", "request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(ErrorCode::INVALID_REQUEST, "Invalid request").field("content-type", "unsupported content type").status(status)
        }
        s if s.is_server_error() => ApiError::new(ErrorCode::INTERNAL, "Internal error").status(s),
        s => ApiError::new(ErrorCode::INVALID_REQUEST, "Invalid request").reason(s.canonical_reason().unwrap_or("bad request")).status(s),
    };
    let mut new = err.into_response();
    for (k, v) in resp.headers() {
        if k != CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            new.headers_mut().insert(k.clone(), v.clone());
        }
    }
    new
}

/// Fallback for unknown routes.
pub async fn not_found() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}
