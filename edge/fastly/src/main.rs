//! AeThex Cloud edge on Fastly Compute.
//!
//! A thin adapter: every decision is made by [`aethex_edge::Edge`]. This file converts the
//! client request to [`aethex_edge::Request`], drives the core's future to completion
//! (the platform's futures never wait: Fastly's API is synchronous) and converts the
//! answer back. [`platform`] implements [`aethex_edge::Platform`] on Fastly: named
//! backends `origin` and `replica`, the Core Cache API, the system clock.
//!
//! Settings come from the config store `aethex` (the `AETHEX_*` names of
//! [`aethex_edge::EdgeConfig::from_lookup`]); `AETHEX_EDGE_KEY` from the secret store
//! `aethex_secrets` (the config store is the fallback, for local runs only).

#[cfg(target_arch = "wasm32")]
mod platform;

#[cfg(target_arch = "wasm32")]
use aethex_edge::{Edge, EdgeConfig};
#[cfg(target_arch = "wasm32")]
use aethex_protocol::rpc::{ErrorCode, RpcError};

/// Config store with the `AETHEX_*` settings.
#[cfg(target_arch = "wasm32")]
const CONFIG_STORE: &str = "aethex";
/// Secret store with `AETHEX_EDGE_KEY`.
#[cfg(target_arch = "wasm32")]
const SECRET_STORE: &str = "aethex_secrets";
#[cfg(target_arch = "wasm32")]
const EDGE_KEY: &str = "AETHEX_EDGE_KEY";

#[cfg(target_arch = "wasm32")]
#[fastly::main]
fn main(mut req: fastly::Request) -> Result<fastly::Response, fastly::Error> {
    let config = match load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aethex edge: bad configuration: {e}");
            return Ok(platform::to_fastly(error(ErrorCode::UNAVAILABLE, "Service unavailable", "edge is misconfigured")));
        }
    };
    let core_req = match to_core(&mut req) {
        Ok(r) => r,
        Err(refusal) => return Ok(platform::to_fastly(refusal)),
    };
    let edge = Edge::new(platform::FastlyPlatform::new(&config), config);
    let resp = platform::complete(edge.handle_over_hrana(core_req))
        .unwrap_or_else(|| error(ErrorCode::INTERNAL, "Internal error", "edge request did not complete"));
    Ok(platform::to_fastly(resp))
}

/// The client request as the core sees it, or the answer refusing it.
#[cfg(target_arch = "wasm32")]
fn to_core(req: &mut fastly::Request) -> Result<aethex_edge::Request, aethex_edge::Response> {
    let declared = platform::declared_length(req.get_header(fastly::http::header::CONTENT_LENGTH));
    let body = platform::read_body(req.take_body(), declared).map_err(|e| aethex_edge::Response::error(e.to_rpc(), None))?;
    Ok(aethex_edge::Request {
        method: req.get_method_str().to_ascii_uppercase(),
        path: req.get_path().to_string(),
        query: req.get_query_str().unwrap_or_default().to_string(),
        headers: req.get_headers().map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect(),
        body,
        client_ip: req.get_client_ip_addr().map(|ip| ip.to_string()),
    })
}

/// Reads the settings: the config store, and the edge key from the secret store.
#[cfg(target_arch = "wasm32")]
fn load_config() -> Result<EdgeConfig, aethex_edge::config::ConfigError> {
    let store = fastly::ConfigStore::try_open(CONFIG_STORE).ok();
    let secrets = fastly::SecretStore::open(SECRET_STORE).ok();
    EdgeConfig::from_lookup(|name| {
        if name == EDGE_KEY {
            let secret = secrets.as_ref().and_then(|s| s.try_get(name).ok().flatten()).and_then(|s| s.try_plaintext().ok());
            if let Some(bytes) = secret {
                return String::from_utf8(bytes.to_vec()).ok();
            }
        }
        store.as_ref().and_then(|s| s.try_get(name).ok().flatten())
    })
}

/// An error in the platform's JSON envelope, answered by the adapter itself.
#[cfg(target_arch = "wasm32")]
fn error(code: ErrorCode, message: &str, reason: &str) -> aethex_edge::Response {
    aethex_edge::Response::error(RpcError::new(code, message).with_reason(reason), None)
}

/// On the host this crate is only a stub: the adapter exists for `wasm32-wasip1`.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("aethex-edge-fastly runs on Fastly Compute: build it with --target wasm32-wasip1 (scripts/build-edge-fastly.sh)");
    std::process::exit(2);
}
