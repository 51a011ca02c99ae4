//! JSON-RPC 2.0 envelope and the error object (the seed's "REST API Standards").
//!
//! Request:  `{"jsonrpc":"2.0","id":"…","method":"auth.login","params":{…}}`
//! Success:  `{"jsonrpc":"2.0","id":"…","result":{"success":true,"data":{…}}}`
//! Error:    `{"jsonrpc":"2.0","id":"…","error":{"code":-32600,"message":"…","data":{"field":"…","reason":"…"}}}`
//!
//! REST routes answer errors with the same envelope (the `id` is the request id) and
//! a fitting HTTP status; successful REST answers are the bare `data` object.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const JSONRPC_VERSION: &str = "2.0";

/// Error codes. The standard JSON-RPC codes, plus application codes in the
/// implementation-defined range `-32000..=-32099`. For 4xx statuses the application code is
/// `-32000 - (status - 400)`, so it says which HTTP status REST uses (`-32001` = 401,
/// `-32009` = 409, ...); `-32050` is "temporarily unavailable" (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorCode(pub i32);

impl ErrorCode {
    /// Malformed JSON.
    pub const PARSE_ERROR: Self = Self(-32700);
    /// Not a valid request; the seed also uses it for "Invalid credentials".
    pub const INVALID_REQUEST: Self = Self(-32600);
    pub const METHOD_NOT_FOUND: Self = Self(-32601);
    /// Wrong types, missing or invalid fields.
    pub const INVALID_PARAMS: Self = Self(-32602);
    pub const INTERNAL: Self = Self(-32603);
    /// Missing, expired, forged or revoked token or key.
    pub const UNAUTHORIZED: Self = Self(-32001);
    pub const FORBIDDEN: Self = Self(-32003);
    pub const NOT_FOUND: Self = Self(-32004);
    pub const CONFLICT: Self = Self(-32009);
    pub const PAYLOAD_TOO_LARGE: Self = Self(-32013);
    pub const LOCKED: Self = Self(-32023);
    pub const RATE_LIMITED: Self = Self(-32029);
    pub const UNAVAILABLE: Self = Self(-32050);

    /// The HTTP status REST answers this code with.
    pub fn http_status(self) -> u16 {
        match self.0 {
            -32700 | -32602 => 400,
            -32600 => 400,
            -32601 => 404,
            -32603 => 500,
            -32050 => 503,
            c if (-32099..=-32001).contains(&c) => (400 - (c + 32000)) as u16,
            _ => 500,
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(self.0)
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i32::deserialize(d).map(ErrorCode)
    }
}

/// `error.data`: which field was wrong and why, plus optional details
/// (for a save conflict: the server's current copy).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RpcErrorData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Extra machine-readable details, flattened next to `field` and `reason`.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Map<String, Value>,
}

/// The seed's error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<RpcErrorData>,
}

impl RpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }

    pub fn with_field(mut self, field: impl Into<String>, reason: impl Into<String>) -> Self {
        let data = self.data.get_or_insert_with(Default::default);
        data.field = Some(field.into());
        data.reason = Some(reason.into());
        self
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.data.get_or_insert_with(Default::default).reason = Some(reason.into());
        self
    }

    pub fn with_detail(mut self, key: impl Into<String>, value: Value) -> Self {
        self.data.get_or_insert_with(Default::default).details.insert(key.into(), value);
        self
    }

    pub fn reason(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.reason.as_deref())
    }

    pub fn field(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.field.as_deref())
    }

    pub fn detail(&self, key: &str) -> Option<&Value> {
        self.data.as_ref().and_then(|d| d.details.get(key))
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.0)?;
        if let Some(d) = &self.data {
            if let Some(field) = &d.field {
                write!(f, " field={field}")?;
            }
            if let Some(reason) = &d.reason {
                write!(f, " reason={reason}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}

/// A request id: JSON-RPC allows a string, a number or null.
pub type RequestId = Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RpcRequest {
    pub jsonrpc: String,
    #[serde(default)]
    pub id: RequestId,
    pub method: String,
    #[serde(default)]
    pub params: Value,
}

impl RpcRequest {
    pub fn new(id: impl Into<RequestId>, method: impl Into<String>, params: Value) -> Self {
        Self { jsonrpc: JSONRPC_VERSION.into(), id: id.into(), method: method.into(), params }
    }
}

/// `result` of a successful call: `{"success": true, "data": …}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RpcResult<T = Value> {
    pub success: bool,
    pub data: T,
}

/// A response: exactly one of `result` and `error` is present.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RpcResponse<T = Value> {
    pub jsonrpc: String,
    pub id: RequestId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<RpcResult<T>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

impl<T> RpcResponse<T> {
    pub fn success(id: RequestId, data: T) -> Self {
        Self { jsonrpc: JSONRPC_VERSION.into(), id, result: Some(RpcResult { success: true, data }), error: None }
    }

    pub fn failure(id: RequestId, error: RpcError) -> Self {
        Self { jsonrpc: JSONRPC_VERSION.into(), id, result: None, error: Some(error) }
    }

    pub fn into_result(self) -> Result<T, RpcError> {
        match (self.result, self.error) {
            (_, Some(e)) => Err(e),
            (Some(r), None) => Ok(r.data),
            (None, None) => Err(RpcError::new(ErrorCode::INTERNAL, "response has neither result nor error")),
        }
    }
}

/// Body of every error answer on REST (and of a failed JSON-RPC call): the envelope with
/// `error` and no `result`. `id` is the JSON-RPC id, or on REST the request id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorEnvelope {
    pub jsonrpc: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub id: RequestId,
    pub error: RpcError,
}

impl ErrorEnvelope {
    pub fn new(id: RequestId, error: RpcError) -> Self {
        Self { jsonrpc: JSONRPC_VERSION.into(), id, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_http_statuses() {
        assert_eq!(ErrorCode::UNAUTHORIZED.http_status(), 401);
        assert_eq!(ErrorCode::FORBIDDEN.http_status(), 403);
        assert_eq!(ErrorCode::NOT_FOUND.http_status(), 404);
        assert_eq!(ErrorCode::CONFLICT.http_status(), 409);
        assert_eq!(ErrorCode::PAYLOAD_TOO_LARGE.http_status(), 413);
        assert_eq!(ErrorCode::RATE_LIMITED.http_status(), 429);
        assert_eq!(ErrorCode::UNAVAILABLE.http_status(), 503);
        assert_eq!(ErrorCode::PARSE_ERROR.http_status(), 400);
        assert_eq!(ErrorCode::INTERNAL.http_status(), 500);
    }

    #[test]
    fn error_object_has_seed_shape() {
        let e = RpcError::new(ErrorCode::INVALID_REQUEST, "Invalid credentials").with_field("password", "Password incorrect");
        let v = serde_json::to_value(RpcResponse::<Value>::failure("r1".into(), e)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"jsonrpc":"2.0","id":"r1","error":{"code":-32600,"message":"Invalid credentials","data":{"field":"password","reason":"Password incorrect"}}})
        );
    }
}
