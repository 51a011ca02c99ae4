//! REST transport for regions.

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};

use aethex_protocol::regions::{Region, RegionList, RegisterRegionRequest};
use aethex_protocol::rpc::ErrorEnvelope;

use super::service;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath};
use crate::replication::routes::EdgeCaller;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/regions", get(list_regions)).route("/api/v1/regions/{name}", put(register_region))
}

#[utoipa::path(get, path = "/api/v1/regions", tag = "regions", summary = "Regions with a live relay (served by edges).", responses((status = 200, body = RegionList), (status = "5XX", body = ErrorEnvelope)))]
async fn list_regions(State(app): State<AppState>) -> ApiResult<Json<RegionList>> {
    Ok(Json(service::list(&app).await?))
}

#[utoipa::path(put, path = "/api/v1/regions/{name}", tag = "regions", summary = "Register a relay or send its heartbeat (edge key in x-aethex-edge-key).", request_body = RegisterRegionRequest, params(("name" = String, Path, description = "Region name, e.g. us-east")), responses((status = 200, body = Region), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn register_region(
    State(app): State<AppState>,
    _edge: EdgeCaller,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<RegisterRegionRequest>,
) -> ApiResult<Json<Region>> {
    Ok(Json(service::register(&app, &name, req).await?))
}
