//! Which error type goes where:
//! - stores return [`crate::db::DbError`];
//! - services return their domain's `thiserror` enum (`AuthError`, `SaveError`, `TeamError`),
//!   which says what went wrong in the domain's words and never mentions HTTP;
//! - routes and the JSON-RPC dispatcher convert those into [`ApiError`], the one type that
//!   renders the seed's error object. REST answers it with its HTTP status, JSON-RPC inside
//!   a 200 envelope.
//!
//! Unexpected failures become [`ApiError::internal`]: the detail goes to the log with the
//! request id, the client gets a fixed message.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use aethex_protocol::rpc::{ErrorCode, ErrorEnvelope, RpcError};
use aethex_protocol::validate::Invalid;

tokio::task_local! {
    /// The current request's id, set by the request-id middleware, so that error bodies
    /// and logs can carry it without threading it through every call.
    pub static REQUEST_ID: String;
}

pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

#[derive(Debug, Clone)]
pub struct ApiError {
    /// Boxed so that results carrying an `ApiError` stay small on the success path.
    pub error: Box<RpcError>,
    /// HTTP status on REST; defaults to the one the code implies.
    pub status: Option<StatusCode>,
    /// Seconds for a `Retry-After` header (rate limits, lockouts).
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { error: Box::new(RpcError::new(code, message)), status: None, retry_after: None }
    }

    pub fn field(mut self, field: impl Into<String>, reason: impl Into<String>) -> Self {
        *self.error = self.error.with_field(field, reason);
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        *self.error = self.error.with_reason(reason);
        self
    }

    pub fn detail(mut self, key: impl Into<String>, value: Value) -> Self {
        *self.error = self.error.with_detail(key, value);
        self
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// What went wrong, for a person: the reason in `data`, else the message (HTML pages
    /// show it where JSON clients read the error object).
    pub fn explanation(&self) -> String {
        self.error.data.as_ref().and_then(|d| d.reason.clone()).unwrap_or_else(|| self.error.message.clone())
    }

    pub fn http_status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| StatusCode::from_u16(self.error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
    }

    pub fn invalid_params(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, "Invalid params").field(field, reason)
    }

    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::UNAUTHORIZED, "Unauthorized").field("authorization", reason)
    }

    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::FORBIDDEN, "Forbidden").reason(reason)
    }

    pub fn not_found(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::NOT_FOUND, "Not found").field(field, reason)
    }

    /// Logs the detail and answers a fixed message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(request_id = current_request_id().as_deref().unwrap_or("-"), error = %detail, "internal error");
        Self::new(ErrorCode::INTERNAL, "Internal error")
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::invalid_params(e.field, e.reason)
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        ApiError::internal(e)
    }
}

impl From<libsql::Error> for ApiError {
    fn from(e: libsql::Error) -> Self {
        crate::db::DbError::Sql(e).into()
    }
}

/// What every domain's error shares: input that fails validation (a `400` naming the
/// field) and a database failure (an internal error). Each domain's enum holds it as a
/// `Core` variant and gets its conversions from [`core_errors!`].
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<libsql::Error> for CoreError {
    fn from(e: libsql::Error) -> Self {
        CoreError::Db(crate::db::DbError::Sql(e))
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(i) => i.into(),
            CoreError::Db(e) => ApiError::internal(e),
        }
    }
}

/// `From<Invalid>`, `From<DbError>` and `From<libsql::Error>` for a domain error enum with
/// a `Core(CoreError)` variant, so `?` works on all three in its services and stores.
macro_rules! core_errors {
    ($t:ty) => {
        impl From<aethex_protocol::validate::Invalid> for $t {
            fn from(e: aethex_protocol::validate::Invalid) -> Self {
                Self::Core(e.into())
            }
        }
        impl From<$crate::db::DbError> for $t {
            fn from(e: $crate::db::DbError) -> Self {
                Self::Core(e.into())
            }
        }
        impl From<libsql::Error> for $t {
            fn from(e: libsql::Error) -> Self {
                Self::Core(e.into())
            }
        }
    };
}
pub(crate) use core_errors;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.http_status();
        let id = current_request_id().map(Value::String).unwrap_or(Value::Null);
        let body = ErrorEnvelope::new(id, *self.error);
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
