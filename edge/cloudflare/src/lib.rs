//! AeThex Cloud edge on Cloudflare Workers (workers-rs 0.8, `wasm32-unknown-unknown`).
//!
//! A thin adapter over [`aethex_edge`]: the `fetch` handler turns the incoming request
//! into an [`aethex_edge::Request`], lets [`aethex_edge::Edge::handle_over_hrana`] answer
//! it (the replica is read over Hrana v3 at `AETHEX_REPLICA_URL`: a native edge's
//! endpoint, or a Turso / sqld database) and turns the [`aethex_edge::Response`] back.
//! [`CloudflarePlatform`] gives the core `fetch`, the Workers Cache API and the clock.
//!
//! Settings are the core's `AETHEX_*` names, read from the worker's `[vars]` and secrets
//! (`AETHEX_EDGE_KEY` is a secret in production: `wrangler secret put AETHEX_EDGE_KEY`),
//! plus one of this adapter's own: `AETHEX_CACHE_HOST`, the host name of the Cache API
//! keys (default [`convert::CACHE_HOST`]; set it to the worker's own domain in production).
//!
//! The [`aethex_edge::Edge`] is kept for the life of the isolate, so origin's signing
//! keys stay in memory between requests; it is rebuilt when the settings change.
//!
//! Nothing here panics on client input or missing bindings: unreadable requests and
//! configuration errors become JSON error responses in the usual envelope.
//!
//! Only [`convert`] builds for the host (its tests run with the workspace's); the rest is
//! wasm32-only.

pub mod convert;

#[cfg(target_arch = "wasm32")]
mod platform;
#[cfg(target_arch = "wasm32")]
pub use platform::CloudflarePlatform;

#[cfg(target_arch = "wasm32")]
mod worker_entry {
    use std::cell::RefCell;
    use std::rc::Rc;

    use aethex_edge::{Edge, EdgeConfig, Headers};
    use aethex_protocol::rpc::ErrorCode;
    use worker::{console_error, event, web_sys, Context, Env};

    use crate::convert;
    use crate::platform::{js_response, js_text, CloudflarePlatform};
    use aethex_edge::body::{declared_length, BodyBuffer};

    thread_local! {
        /// The edge of this isolate (workerd runs one thread per isolate and may interleave
        /// several requests on it; the core's state is safe for that).
        static EDGE: RefCell<Option<Rc<Edge<CloudflarePlatform>>>> = const { RefCell::new(None) };
    }

    /// The isolate's edge for these settings, built again when they differ.
    fn edge_for(config: EdgeConfig, cache_host: String) -> Rc<Edge<CloudflarePlatform>> {
        EDGE.with(|slot| {
            let mut slot = slot.borrow_mut();
            match slot.as_ref() {
                Some(edge) if edge.config == config && edge.platform.cache_host == cache_host => edge.clone(),
                _ => {
                    let edge = Rc::new(Edge::new(CloudflarePlatform::new(&config, cache_host), config));
                    *slot = Some(edge.clone());
                    edge
                }
            }
        })
    }

    /// A setting from `[vars]` or a secret (both are plain strings to the worker).
    fn setting(env: &Env, name: &str) -> Option<String> {
        env.var(name).or_else(|_| env.secret(name)).ok().map(|v| v.to_string())
    }

    #[event(fetch)]
    async fn main(req: worker::Request, env: Env, _ctx: Context) -> worker::Result<web_sys::Response> {
        let resp = respond(req, &env).await;
        match js_response(resp) {
            Ok(r) => Ok(r),
            Err(e) => {
                console_error!("response: {}", js_text(&e));
                js_response(convert::error(ErrorCode::INTERNAL, "Internal error", "the answer could not be sent", None))
                    .map_err(|e| worker::Error::JsError(js_text(&e)))
            }
        }
    }

    async fn respond(mut req: worker::Request, env: &Env) -> aethex_edge::Response {
        let config = match EdgeConfig::from_lookup(|name| setting(env, name)) {
            Ok(c) => c,
            Err(e) => {
                console_error!("edge settings: {e}");
                return convert::misconfigured(e.to_string());
            }
        };
        let core_req = match core_request(&mut req).await {
            Ok(r) => r,
            Err(resp) => return resp.with_header("x-aethex-edge", config.name),
        };
        let cache_host = convert::cache_host(setting(env, "AETHEX_CACHE_HOST").as_deref());
        let edge = edge_for(config, cache_host);
        edge.handle_over_hrana(core_req).await
    }

    /// The incoming request as the core sees it, or the error answer.
    async fn core_request(req: &mut worker::Request) -> Result<aethex_edge::Request, Box<aethex_edge::Response>> {
        // Kept as sent (a compressed request body stays compressed); the core drops the
        // per-hop ones when it forwards.
        let headers: Headers = req.headers().entries().collect();
        let rid = convert::request_id(&headers).map(str::to_string);
        let fail = |code, message: &str, reason: String| Box::new(convert::error(code, message, reason, rid.as_deref()));
        let url = req.url().map_err(|e| fail(ErrorCode::INTERNAL, "Internal error", format!("request URL: {e}")))?;
        let refuse = |e: aethex_edge::body::BodyError| Box::new(convert::error_answer(e.to_rpc(), rid.as_deref()));
        let declared = declared_length(headers.get("content-length"));
        // Refused on the declared length before the body is read, then on what arrives.
        let mut buffer = BodyBuffer::new(declared).map_err(refuse)?;
        let read = req.bytes().await.map_err(|e| fail(ErrorCode::INTERNAL, "Internal error", format!("request body: {e}")))?;
        buffer.push(&read).map_err(refuse)?;
        let body = buffer.finish();
        let path = match url.path() {
            "" => "/".to_string(),
            p => p.to_string(),
        };
        Ok(aethex_edge::Request {
            method: req.inner().method().to_ascii_uppercase(),
            path,
            query: url.query().unwrap_or_default().to_string(),
            client_ip: headers.get("cf-connecting-ip").map(str::to_string),
            headers,
            body,
        })
    }
}
