//! Extractors. Each rejects with [`ApiError`], so every malformed request gets the
//! seed's error object: malformed JSON -32700, wrong types -32602, oversize 413,
//! missing or bad credentials 401. Who a caller is (and how that is verified) lives in
//! [`crate::auth::caller`]; here are only the extractors that call it.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use aethex_protocol::rpc::ErrorCode;

use crate::auth::caller::{authenticate, authenticate_player, Caller, ClientInfo, Player};
use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body. `Content-Type` must be JSON; the body must parse into `T`.
pub struct ApiJson<T>(pub T);

/// Parses a JSON body, classifying the failure as the seed's error object.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(json_error)
}

pub fn json_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::new(ErrorCode::PARSE_ERROR, "Parse error").field("body", format!("malformed JSON: {e}"))
        }
        Category::Data => {
            let msg = e.to_string();
            // serde names the field in messages like "missing field `email`" or "unknown field `x`".
            let field = msg.split('`').nth(1).filter(|f| !f.contains(' ')).unwrap_or("body").to_string();
            ApiError::invalid_params(field, msg)
        }
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let ct = ct.to_ascii_lowercase();
                ct.starts_with("application/json") || (ct.starts_with("application/") && ct.contains("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(ErrorCode::INVALID_REQUEST, "Invalid request")
                .field("content-type", "expected application/json")
                .status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = body_bytes(req, state).await?;
        Ok(ApiJson(parse_json(&bytes)?))
    }
}

/// Reads the body within the route's size limit.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PAYLOAD_TOO_LARGE, "Payload too large").field("body", "request body is too large")
        } else {
            ApiError::new(ErrorCode::INVALID_REQUEST, "Invalid request").field("body", rej.body_text())
        }
    })
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(ClientInfo::from_parts(state, &parts.headers, peer))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.headers).await
    }
}

impl FromRequestParts<AppState> for Player {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate_player(state, &parts.headers).await
    }
}

/// Path parameters with the error shape of the API.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::invalid_params("path", e.body_text()))
    }
}

/// Query parameters with the error shape of the API.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::invalid_params("query", e.body_text()))
    }
}

/// A JSON body that may be absent (empty body = `T::default()`).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(OptionalJson(T::default()));
        }
        Ok(OptionalJson(parse_json(&bytes)?))
    }
}
