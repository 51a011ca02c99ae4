//! Operational routes: health, readiness, Prometheus metrics, JWKS.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers.
pub async fn readyz(State(app): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    app.db.ping().await.map_err(|e| ApiError::internal(e).status(axum::http::StatusCode::SERVICE_UNAVAILABLE))?;
    Ok(Json(json!({"status": "ready", "database": if app.db.is_remote() { "remote" } else { "local" }})))
}

pub async fn metrics(State(app): State<AppState>) -> Response {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}

/// Public keys that verify access tokens, for edges and relays.
pub async fn jwks(State(app): State<AppState>) -> Response {
    ([(CACHE_CONTROL, "public, max-age=300")], Json(app.tokens.jwks().clone())).into_response()
}
