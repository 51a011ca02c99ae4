//! AeThex Cloud edge on Fermyon Spin: a WASI HTTP P3 component (`wasi:http/handler@0.3.0`)
//! built for `wasm32-wasip2` with spin-sdk 7.
//!
//! A thin adapter over [`aethex_edge`]: it turns the incoming `wasi:http` request into an
//! [`aethex_edge::Request`], lets [`aethex_edge::Edge::handle_over_hrana`] answer it (the
//! replica is read over Hrana v3 at `AETHEX_REPLICA_URL`) and turns the
//! [`aethex_edge::Response`] back. Settings come from the component's environment
//! (`wasi:cli/environment`): `[component.*].environment` in spin.toml, `--env` under
//! `wasmtime serve`.
//!
//! The default build imports only WASI interfaces, so it runs on Spin and on any wasi-http
//! P3 host. The `spin-kv` feature adds Spin's key-value store as a cache shared between
//! instances (Spin only).
//!
//! Nothing here panics on client input: unreadable requests and configuration errors
//! become JSON error responses in the usual envelope.

mod platform;

use std::sync::OnceLock;

use aethex_edge::body::{declared_length, BodyBuffer, BodyError};
use aethex_edge::{Edge, EdgeConfig, Headers};
use aethex_protocol::rpc::{ErrorCode, RpcError};
use spin_sdk::http_service;
use spin_sdk::wasip3::http::types::{self, Fields};
use spin_sdk::wasip3::http_compat::{BodyWriter, IncomingMessage};
use spin_sdk::wit_bindgen::StreamResult;

pub use platform::SpinPlatform;

/// The edge of this instance. Hosts may reuse an instance for many (and concurrent)
/// requests (`wasmtime serve` does up to 128 for P3 components, Spin decides for
/// itself), so its signing keys and in-memory cache are kept here between them.
static EDGE: OnceLock<Result<Edge<SpinPlatform>, String>> = OnceLock::new();

fn edge() -> Result<&'static Edge<SpinPlatform>, &'static str> {
    EDGE.get_or_init(|| {
        let config = EdgeConfig::from_lookup(|name| std::env::var(name).ok()).map_err(|e| e.to_string())?;
        let platform = SpinPlatform::new(&config);
        Ok(Edge::new(platform, config))
    })
    .as_ref()
    .map_err(String::as_str)
}

/// The component's entry. The macro converts the `wasi:http` request to
/// `http::Request` first; a request the host accepted always converts.
#[http_service]
async fn handle(req: spin_sdk::http::Request) -> types::Response {
    let head = req.method() == spin_sdk::http::Method::HEAD;
    let mut resp = respond(req).await;
    // A known length instead of chunked transfer; not on answers that carry no body.
    if !head && !matches!(resp.status, 100..=199 | 204 | 304) {
        resp.headers.set("content-length", resp.body.len().to_string());
    }
    into_wasi_response(resp)
}

async fn respond(req: spin_sdk::http::Request) -> aethex_edge::Response {
    let edge = match edge() {
        Ok(e) => e,
        Err(msg) => return aethex_edge::Response::error(RpcError::new(ErrorCode::INTERNAL, "Edge misconfigured").with_reason(msg), None),
    };
    match from_wasi_request(req).await {
        Ok(r) => edge.handle_over_hrana(r).await,
        Err(e) => aethex_edge::Response::error(e, None),
    }
}

/// The incoming request as the core sees it.
async fn from_wasi_request(req: spin_sdk::http::Request) -> Result<aethex_edge::Request, RpcError> {
    let (parts, mut body) = req.into_parts();
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut out = aethex_edge::Request::new(parts.method.as_str(), path_and_query);
    if out.path.is_empty() {
        out.path = "/".into();
    }
    out.headers = parts.headers.iter().map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
    // Spin sets `spin-client-addr` (`ip:port`) itself; plain wasi-http hosts give no address.
    out.client_ip = out.headers.get("spin-client-addr").and_then(client_ip);
    let declared = declared_length(out.headers.get("content-length"));
    let Some(incoming) = body.take_unstarted() else {
        return Err(BodyError::Failed("already consumed".into()).to_rpc());
    };
    out.body = read_body(incoming, declared).await.map_err(|e| e.to_rpc())?;
    Ok(out)
}

/// `1.2.3.4:5678` -> `1.2.3.4`, `[::1]:5678` -> `::1`.
fn client_ip(addr: &str) -> Option<String> {
    let addr = addr.trim();
    let ip = if let Some(rest) = addr.strip_prefix('[') {
        rest.split(']').next()?
    } else if addr.matches(':').count() == 1 {
        addr.split(':').next()?
    } else {
        addr
    };
    (!ip.is_empty()).then(|| ip.to_string())
}

pub(crate) fn headers_of(list: Vec<(String, Vec<u8>)>) -> Headers {
    list.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect()
}

/// A `wasi:http` header set with every header the host accepts; ones it forbids
/// (`host`, `connection`, ...) or finds malformed are left out rather than failing the
/// whole message.
pub(crate) fn fields_of(headers: &Headers) -> Fields {
    let f = Fields::new();
    for (k, v) in headers.iter() {
        let _ = f.append(k, v.as_bytes());
    }
    f
}

/// A body for an outgoing `wasi:http` message: the stream and trailers future to build
/// it with. The bytes are written by a spawned task once the host reads them.
pub(crate) fn body_of(
    body: Vec<u8>,
) -> (spin_sdk::wit_bindgen::StreamReader<u8>, spin_sdk::wit_bindgen::FutureReader<Result<Option<types::Trailers>, types::ErrorCode>>) {
    let (writer, stream, result) = BodyWriter::new();
    spin_sdk::wasip3::spawn(async move {
        let BodyWriter { mut stream_writer, result_writer, .. } = writer;
        let unwritten = if body.is_empty() { Vec::new() } else { stream_writer.write_all(body).await };
        drop(stream_writer);
        let outcome = if unwritten.is_empty() { Ok(None) } else { Err(types::ErrorCode::InternalError(Some("body reader went away".into()))) };
        let _ = result_writer.write(outcome).await;
    });
    (stream, result)
}

fn into_wasi_response(resp: aethex_edge::Response) -> types::Response {
    let (contents, trailers) = body_of(resp.body);
    let (out, _sent) = types::Response::new(fields_of(&resp.headers), Some(contents), trailers);
    if out.set_status_code(resp.status).is_err() {
        let _ = out.set_status_code(502);
    }
    out
}

/// Reads a whole request or response body within the edge core's limit
/// ([`aethex_edge::body`]); `declared` (its `content-length`) is refused at once when over it.
pub(crate) async fn read_body<T: IncomingMessage>(msg: T, declared: Option<u64>) -> Result<Vec<u8>, BodyError> {
    let mut out = BodyBuffer::new(declared)?;
    let (_done, done_rx) = spin_sdk::wasip3::wit_future::new(|| Ok(()));
    let (mut stream, trailers) = msg.consume_body(done_rx);
    loop {
        let (result, chunk) = stream.read(Vec::with_capacity(16 * 1024)).await;
        match result {
            StreamResult::Complete(_) => out.push(&chunk)?,
            StreamResult::Dropped | StreamResult::Cancelled => break,
        }
    }
    drop(stream);
    match trailers.await {
        Ok(_) => Ok(out.finish()),
        Err(e) => Err(BodyError::Failed(format!("{e:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_addresses() {
        assert_eq!(client_ip("1.2.3.4:80").as_deref(), Some("1.2.3.4"));
        assert_eq!(client_ip("[::1]:80").as_deref(), Some("::1"));
        assert_eq!(client_ip("::1").as_deref(), Some("::1"));
        assert_eq!(client_ip(""), None);
    }
}
