//! JSON-RPC 2.0 at `POST /api/v1/rpc`: the same operations as the REST routes, through
//! the same service functions. A single call answers with the HTTP status its error
//! implies (200 on success); a batch (at most 50 calls) answers 200 with one response per
//! call that had an id.
//!
//! Each domain's methods live beside its REST routes (`<domain>/routes.rs`: `RPC_METHODS`
//! and `rpc`); this file holds the envelope, batches and the one list of domains a method is looked up in.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use aethex_protocol::rpc::{ErrorCode, ErrorEnvelope, RpcResponse, JSONRPC_VERSION};

use crate::auth::caller::ClientInfo;
use crate::error::ApiError;
use crate::http::extract::json_error;
use crate::state::AppState;

pub const MAX_BATCH: usize = 50;

type RpcFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, ApiError>> + Send + 'a>>;

/// A domain's JSON-RPC methods and the function that runs them (both in its `routes.rs`).
struct Domain {
    methods: &'static [&'static str],
    run: for<'a> fn(&'a AppState, &'a HeaderMap, &'a ClientInfo, &'a str, Map<String, Value>) -> RpcFuture<'a>,
}

/// The one list of domains that answer JSON-RPC: a method goes to the domain that lists it.
const DOMAINS: &[Domain] = &[
    Domain { methods: crate::auth::routes::RPC_METHODS, run: |a, h, c, m, p| Box::pin(crate::auth::routes::rpc(a, h, c, m, p)) },
    Domain { methods: crate::saves::routes::RPC_METHODS, run: |a, h, _, m, p| Box::pin(crate::saves::routes::rpc(a, h, m, p)) },
    Domain { methods: crate::leaderboards::routes::RPC_METHODS, run: |a, h, _, m, p| Box::pin(crate::leaderboards::routes::rpc(a, h, m, p)) },
    Domain { methods: crate::achievements::routes::RPC_METHODS, run: |a, h, _, m, p| Box::pin(crate::achievements::routes::rpc(a, h, m, p)) },
    Domain { methods: crate::regions::routes::RPC_METHODS, run: |a, _, _, m, p| Box::pin(crate::regions::routes::rpc(a, m, p)) },
    Domain { methods: crate::matchmaking::routes::RPC_METHODS, run: |a, h, _, m, p| Box::pin(crate::matchmaking::routes::rpc(a, h, m, p)) },
];

/// Methods this endpoint answers: each domain's, listed beside its REST routes.
pub fn methods() -> impl Iterator<Item = &'static str> {
    DOMAINS.iter().flat_map(|d| d.methods.iter().copied())
}

pub async fn rpc_endpoint(State(app): State<AppState>, client: ClientInfo, headers: HeaderMap, body: Bytes) -> Response {
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return single_error(Value::Null, json_error(e)),
    };
    match parsed {
        Value::Array(calls) => {
            if calls.is_empty() || calls.len() > MAX_BATCH {
                let why = format!("a batch must hold 1 to {MAX_BATCH} calls");
                return single_error(Value::Null, ApiError::new(ErrorCode::INVALID_REQUEST, "Invalid request").field("batch", why));
            }
            let mut out = Vec::new();
            for call in calls {
                let (id, notification, result) = handle(&app, &headers, &client, call).await;
                if !notification {
                    out.push(to_response(id, result));
                }
            }
            if out.is_empty() {
                StatusCode::NO_CONTENT.into_response()
            } else {
                Json(out).into_response()
            }
        }
        call => {
            let (id, notification, result) = handle(&app, &headers, &client, call).await;
            match result {
                Ok(_) if notification => StatusCode::NO_CONTENT.into_response(),
                Ok(data) => Json(RpcResponse::success(id, data)).into_response(),
                Err(e) => single_error(id, e),
            }
        }
    }
}

fn to_response(id: Value, result: Result<Value, ApiError>) -> RpcResponse<Value> {
    match result {
        Ok(data) => RpcResponse::success(id, data),
        Err(e) => RpcResponse::failure(id, *e.error),
    }
}

fn single_error(id: Value, e: ApiError) -> Response {
    let status = e.http_status();
    let retry = e.retry_after;
    let mut resp = (status, Json(ErrorEnvelope::new(id, *e.error))).into_response();
    if let Some(secs) = retry {
        if let Ok(v) = secs.to_string().parse() {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
    }
    resp
}

/// Validates the envelope and runs the call. Returns (id, is notification, result).
async fn handle(app: &AppState, headers: &HeaderMap, client: &ClientInfo, call: Value) -> (Value, bool, Result<Value, ApiError>) {
    let Value::Object(mut obj) = call else {
        return (Value::Null, false, Err(invalid_request("a call must be a JSON object")));
    };
    let notification = !obj.contains_key("id");
    let id = obj.remove("id").unwrap_or(Value::Null);
    if !matches!(id, Value::Null | Value::String(_) | Value::Number(_)) {
        return (Value::Null, false, Err(invalid_request("id must be a string, a number or null")));
    }
    if obj.get("jsonrpc").and_then(Value::as_str) != Some(JSONRPC_VERSION) {
        return (id, false, Err(invalid_request("jsonrpc must be \"2.0\"")));
    }
    let Some(method) = obj.get("method").and_then(Value::as_str).map(str::to_string) else {
        return (id, false, Err(invalid_request("method must be a string")));
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return (id, notification, Err(ApiError::invalid_params("params", "params must be an object (named parameters)"))),
    };
    let result = dispatch(app, headers, client, &method, params).await;
    (id, notification, result)
}

fn invalid_request(reason: &str) -> ApiError {
    ApiError::new(ErrorCode::INVALID_REQUEST, "Invalid request").reason(reason)
}

async fn dispatch(app: &AppState, headers: &HeaderMap, client: &ClientInfo, method: &str, p: Map<String, Value>) -> Result<Value, ApiError> {
    match DOMAINS.iter().find(|d| d.methods.contains(&method)) {
        Some(d) => (d.run)(app, headers, client, method, p).await,
        None if crate::logic::routes::is_custom(method) => crate::logic::routes::rpc(app, headers, method, p).await,
        None => Err(crate::http::jsonrpc::method_not_found(method)),
    }
}

#[cfg(test)]
mod tests {
    /// No method is listed by two domains (the first would always win).
    #[test]
    fn methods_are_unique() {
        let all: Vec<&str> = super::methods().collect();
        let unique: std::collections::BTreeSet<&str> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "a method is listed twice: {all:?}");
        assert!(all.len() > 20, "{all:?}");
    }
}
