//! [`aethex_edge::Platform`] on Cloudflare Workers: outbound HTTP through `fetch`, the
//! Workers Cache API (`caches.default`) and `Date.now()`.

use aethex_edge::{EdgeConfig, FetchError, Outbound, Platform, Response};
use worker::js_sys::{self, Uint8Array};
use worker::wasm_bindgen::JsValue;
use worker::web_sys;
use worker::{console_warn, Cache, Date, Fetch};

use crate::convert;

/// The Workers platform. Holds no JS objects, so it can live across requests.
pub struct CloudflarePlatform {
    /// Host of the Cache API keys (`AETHEX_CACHE_HOST`, see [`convert::cache_host`]).
    pub cache_host: String,
}

impl CloudflarePlatform {
    /// (`AETHEX_JWKS`, when set, is preloaded by the core itself.)
    pub fn new(_config: &EdgeConfig, cache_host: String) -> Self {
        Self { cache_host }
    }
}

impl Platform for CloudflarePlatform {
    async fn fetch(&self, req: Outbound) -> Result<Response, FetchError> {
        send(req).await
    }

    fn now_ms(&self) -> u64 {
        Date::now().as_millis()
    }

    async fn cache_get(&self, key: &str) -> Option<Response> {
        if let Some(cache) = default_cache() {
            match cache.get(convert::cache_url(&self.cache_host, key), false).await {
                Ok(Some(mut hit)) => {
                    let status = hit.status_code();
                    let headers = convert::upstream_headers(hit.headers().entries());
                    match hit.bytes().await {
                        Ok(body) => return Some(convert::from_cache(Response { status, headers, body })),
                        Err(e) => console_warn!("cache read {key}: {e}"),
                    }
                }
                Ok(None) => {}
                Err(e) => console_warn!("cache lookup {key}: {e}"),
            }
        }
        None
    }

    async fn cache_put(&self, key: &str, resp: &Response, ttl_secs: u64) {
        if ttl_secs == 0 || !convert::cacheable_status(resp.status) {
            return;
        }
        let Some(cache) = default_cache() else { return };
        let stored = match js_response(convert::for_cache(resp, ttl_secs)) {
            Ok(r) => r,
            Err(e) => {
                console_warn!("cache put {key}: {}", js_text(&e));
                return;
            }
        };
        if let Err(e) = cache.put(convert::cache_url(&self.cache_host, key), worker::Response::from(stored)).await {
            console_warn!("cache put {key}: {e}");
        }
    }
}

/// `caches.default`, if this runtime has the Cache API (`worker::Cache::default` would
/// panic without it).
fn default_cache() -> Option<Cache> {
    let has = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("caches")).map(|v| v.is_object()).unwrap_or(false);
    has.then(Cache::default)
}

/// Sends `req` with `fetch`, redirects not followed (the client gets origin's 3xx), and
/// reads the whole answer. Only a missing answer is an error.
async fn send(req: Outbound) -> Result<Response, FetchError> {
    let failed = |what: &str, e: JsValue| FetchError(format!("{what} {}: {}", req.url, js_text(&e)));
    let headers = web_sys::Headers::new().map_err(|e| failed("headers for", e))?;
    for (k, v) in req.headers.iter() {
        headers.append(k, v).map_err(|e| failed(&format!("header {k} for"), e))?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(&req.method);
    init.set_headers(&headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if !req.body.is_empty() {
        init.set_body(&Uint8Array::from(req.body.as_slice()));
    }
    let js_req = web_sys::Request::new_with_str_and_init(&req.url, &init).map_err(|e| failed("request", e))?;
    let mut resp =
        Fetch::Request(worker::Request::from(js_req)).send().await.map_err(|e| FetchError(format!("{} {}: {e}", req.upstream.name(), req.url)))?;
    let status = resp.status_code();
    let headers = convert::upstream_headers(resp.headers().entries());
    let body = resp.bytes().await.map_err(|e| FetchError(format!("reading {} answer: {e}", req.upstream.name())))?;
    Ok(Response { status, headers, body })
}

/// A JS `Response` of `resp`. Fails (instead of panicking, as `worker::Response`'s
/// conversion would) on what the constructor refuses.
pub fn js_response(resp: Response) -> Result<web_sys::Response, JsValue> {
    if !convert::valid_status(resp.status) {
        return Err(JsValue::from_str(&format!("status {} cannot be sent", resp.status)));
    }
    let headers = web_sys::Headers::new()?;
    for (k, v) in resp.headers.iter() {
        if let Err(e) = headers.append(k, v) {
            console_warn!("dropping header {k}: {}", js_text(&e));
        }
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(resp.status);
    init.set_headers(&headers);
    if resp.body.is_empty() || convert::null_body_status(resp.status) {
        web_sys::Response::new_with_opt_str_and_init(None, &init)
    } else {
        let body = Uint8Array::from(resp.body.as_slice());
        web_sys::Response::new_with_opt_js_u8_array_and_init(Some(&body), &init)
    }
}

/// The message of a thrown JS value.
pub fn js_text(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        return s;
    }
    js_sys::Reflect::get(v, &JsValue::from_str("message")).ok().and_then(|m| m.as_string()).unwrap_or_else(|| format!("{v:?}"))
}
