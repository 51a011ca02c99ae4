//! What every domain's JSON-RPC methods use to read their named params and answer (the
//! envelope, batches and the dispatch by method prefix are `crate::rpc`'s).

use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use aethex_protocol::rpc::ErrorCode;

use crate::error::ApiError;
use crate::http::extract::json_error;

/// The answer to a method no domain has.
pub fn method_not_found(method: &str) -> ApiError {
    ApiError::new(ErrorCode::METHOD_NOT_FOUND, "Method not found").field("method", format!("unknown method {method:?}")).status(StatusCode::NOT_FOUND)
}

pub fn params<T: DeserializeOwned>(p: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(p)).map_err(json_error)
}

pub fn ok<T: Serialize>(v: T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(ApiError::internal)
}

/// Removes an optional `user_id` (string) from params: the player a server key acts for.
pub fn take_user_id(p: &mut Map<String, Value>) -> Result<Option<String>, ApiError> {
    match p.remove("user_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid_params("user_id", "user_id must be a string")),
    }
}

/// Removes a required string field from the params.
pub fn take_string(p: &mut Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match p.remove(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::invalid_params(field, format!("{field} must be a string"))),
        None => Err(ApiError::invalid_params(field, format!("{field} is required"))),
    }
}

pub fn no_params(p: Map<String, Value>) -> Result<(), ApiError> {
    match p.keys().next() {
        Some(k) => Err(ApiError::invalid_params(k.clone(), format!("unknown field `{k}`; this method takes no params"))),
        None => Ok(()),
    }
}
