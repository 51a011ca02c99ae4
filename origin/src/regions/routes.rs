//! REST transport for regions.

use crate::http::jsonrpc::*;
use axum::extract::State;
use axum::Json;
use serde_json::Map;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aethex_protocol::regions::{Region, RegionList, RegisterRegionRequest};
use aethex_protocol::rpc::ErrorEnvelope;

use super::service;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// A relay: a valid relay key in `x-aethex-relay-key` (edge keys are not relay keys). Holds
/// the key's fingerprint, so origin calls back with the key the relay itself presented.
pub struct RelayCaller {
    pub fingerprint: String,
}

impl axum::extract::FromRequestParts<AppState> for RelayCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, app: &AppState) -> Result<Self, ApiError> {
        use aethex_protocol::multiplayer::RELAY_KEY_HEADER;
        match app.peers.relay_key_in(&parts.headers) {
            Some(k) => Ok(RelayCaller { fingerprint: crate::peer_keys::key_fingerprint(k) }),
            None => Err(ApiError::unauthorized(format!("this route needs a valid relay key in {RELAY_KEY_HEADER}"))
                .field(RELAY_KEY_HEADER, "missing or not a relay key")),
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_regions)).routes(routes!(register_region))
}

#[utoipa::path(get, path = "/api/v1/regions", tag = "regions", summary = "Regions with a live relay (served by edges).", responses((status = 200, body = RegionList), (status = "5XX", body = ErrorEnvelope)))]
async fn list_regions(State(app): State<AppState>) -> ApiResult<Json<RegionList>> {
    Ok(Json(service::list(&app).await?))
}

#[utoipa::path(put, path = "/api/v1/regions/{name}", tag = "regions", summary = "Register a relay or send its heartbeat (relay key in x-aethex-relay-key; its URL's host must be in multiplayer.relay_hosts).", request_body = RegisterRegionRequest, params(("name" = String, Path, description = "Region name, e.g. us-east")), responses((status = 200, body = Region), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn register_region(
    State(app): State<AppState>,
    relay: RelayCaller,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<RegisterRegionRequest>,
) -> ApiResult<Json<Region>> {
    Ok(Json(service::register(&app, &name, req, &relay.fingerprint).await?))
}

/// This domain's JSON-RPC methods at `POST /api/v1/rpc` (the same service calls as the
/// REST routes above).
pub const RPC_METHODS: &[&str] = &["regions.list"];

/// Runs one of [`RPC_METHODS`].
pub async fn rpc(app: &AppState, method: &str, p: Map<String, Value>) -> Result<Value, ApiError> {
    match method {
        "regions.list" => {
            no_params(p)?;
            ok(crate::regions::service::list(app).await?)
        }
        other => Err(method_not_found(other)),
    }
}
