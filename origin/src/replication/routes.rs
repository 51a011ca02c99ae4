//! Routes edges pull from (edge key in `x-aethex-edge-key`): changes after a position,
//! a snapshot to bootstrap from, and the plain bytes of a save version.

use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde::Deserialize;

use aethex_protocol::replica::ChangesResponse;
use aethex_protocol::rpc::ErrorCode;

use super::service::{self, ReplicationError};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/v1/replication/changes", get(pull_changes))
        .route("/api/v1/replication/snapshot", get(pull_snapshot))
        .route(&format!("{}/{{save_id}}", aethex_edge::SAVE_BLOB_PATH), get(save_blob))
}

/// A request authenticated by an edge key.
pub struct EdgeCaller;

impl FromRequestParts<AppState> for EdgeCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        if app.peers.from_edge(&parts.headers) {
            Ok(EdgeCaller)
        } else {
            Err(ApiError::unauthorized(format!("this route needs a valid edge key in {}", aethex_protocol::replica::EDGE_KEY_HEADER))
                .field(aethex_protocol::replica::EDGE_KEY_HEADER, "missing or not an edge key"))
        }
    }
}

impl From<ReplicationError> for ApiError {
    fn from(e: ReplicationError) -> Self {
        match e {
            ReplicationError::Gone { .. } => ApiError::new(ErrorCode(-32010), "Gone").field("after", e.to_string()),
            ReplicationError::Core(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangesQuery {
    after: i64,
    limit: Option<u32>,
    wait_ms: Option<u64>,
}

async fn pull_changes(State(app): State<AppState>, _edge: EdgeCaller, ApiQuery(q): ApiQuery<ChangesQuery>) -> ApiResult<Json<ChangesResponse>> {
    if q.after < 0 {
        return Err(ApiError::invalid_params("after", "after must be 0 or more"));
    }
    let limit = q.limit.unwrap_or(500);
    if !(1..=service::MAX_BATCH).contains(&limit) {
        return Err(ApiError::invalid_params("limit", format!("limit must be 1 to {}", service::MAX_BATCH)));
    }
    let wait = Duration::from_millis(q.wait_ms.unwrap_or(0)).min(service::MAX_WAIT);
    let resp = service::changes(&app, q.after, limit, wait).await?;
    metrics::gauge!("aethex_replication_head").set(resp.head as f64);
    Ok(Json(resp))
}

async fn pull_snapshot(State(app): State<AppState>, _edge: EdgeCaller) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let app2 = app.clone();
    tokio::spawn(async move {
        if let Err(e) = service::snapshot(&app2, tx).await {
            tracing::error!(error = %e, "snapshot failed");
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    ([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(stream)).into_response()
}

async fn save_blob(State(app): State<AppState>, _edge: EdgeCaller, ApiPath(save_id): ApiPath<String>) -> ApiResult<Response> {
    let (row, bytes) = crate::saves::service::plain_by_id(&app, &save_id).await?;
    let content_type = if row.content_type == "json" { "application/json" } else { "application/octet-stream" };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type.to_string()), (header::HeaderName::from_static(aethex_edge::CHECKSUM_HEADER), row.checksum)],
        bytes,
    )
        .into_response())
}
