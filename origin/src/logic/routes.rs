//! REST transport for game logic: deploy, versions and rollback under
//! `/api/v1/games/{game_id}/logic`, and custom RPCs at `/api/v1/games/{game_id}/rpc/{name}`
//! (JSON-RPC: `custom.{name}`, see `crate::rpc`).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use aethex_protocol::logic::{
    ActivateLogicRequest, LogicVersion, LogicVersionList, RoomHostAnswer, RoomHostCall, CUSTOM_RPC_PREFIX, LOGIC_VERSION_HEADER,
    MAX_ROOM_HOST_CALL_BYTES, WASM_CONTENT_TYPE,
};
use aethex_protocol::rpc::ErrorEnvelope;

use super::rooms::{self, RoomComponent};
use super::service;
use crate::auth::caller::{authenticate, Caller};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{parse_json, ApiJson, ApiPath};
use crate::regions::routes::RelayCaller;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_logic, deploy_logic).layer(DefaultBodyLimit::max(super::MAX_COMPONENT_BODY)))
        .routes(routes!(activate_logic))
        .routes(routes!(custom_rpc).layer(DefaultBodyLimit::max(service::MAX_RPC_PAYLOAD_BYTES + 1024)))
        .routes(routes!(room_component))
        .routes(routes!(room_host_call).layer(DefaultBodyLimit::max(MAX_ROOM_HOST_CALL_BYTES)))
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/logic", tag = "logic", summary = "Deploy a WebAssembly component (aethex:logic WIT) as the game's next logic version and run it (server key or developer+). The body is the component's bytes.", request_body(content = Vec<u8>, content_type = "application/octet-stream"), params(("game_id" = String, Path, description = "Game id")), responses((status = 201, body = LogicVersion), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn deploy_logic(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(game): ApiPath<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<LogicVersion>)> {
    Ok((StatusCode::CREATED, Json(service::deploy(&app, &caller, &game, body.to_vec()).await?)))
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/logic", tag = "logic", summary = "The game's kept logic versions, newest first, and the one that runs (server key or viewer+).", params(("game_id" = String, Path, description = "Game id")), responses((status = 200, body = LogicVersionList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_logic(State(app): State<AppState>, caller: Caller, ApiPath(game): ApiPath<String>) -> ApiResult<Json<LogicVersionList>> {
    Ok(Json(service::list(&app, &caller, &game).await?))
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/logic/activate", tag = "logic", summary = "Run a kept version (rollback), or none (server key or developer+).", request_body = ActivateLogicRequest, params(("game_id" = String, Path, description = "Game id")), responses((status = 200, body = LogicVersionList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn activate_logic(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(game): ApiPath<String>,
    ApiJson(req): ApiJson<ActivateLogicRequest>,
) -> ApiResult<Json<LogicVersionList>> {
    Ok(Json(service::activate(&app, &caller, &game, req.version).await?))
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/rpc/{name}", tag = "logic", summary = "Call the game's custom RPC (a player of the game, or its server key). The body is the payload (any JSON; empty is null); the answer is the component's JSON.", request_body = Object, params(("game_id" = String, Path, description = "Game id"), ("name" = String, Path, description = "RPC name: 1 to 64 of a-z 0-9 _ -")), responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn custom_rpc(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((game, name)): ApiPath<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let payload: Value = if body.iter().all(u8::is_ascii_whitespace) { Value::Null } else { parse_json(&body)? };
    Ok(Json(service::call_rpc(&app, &caller, &game, &name, &payload).await?))
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/logic/room", tag = "logic", summary = "For relays (relay key in x-aethex-relay-key): the component that runs the game's authoritative rooms, its version in x-aethex-logic-version; 304 when If-None-Match names that version, 204 when the game's logic does not handle rooms.", params(("game_id" = String, Path, description = "Game id")), responses((status = 200, content_type = "application/wasm", body = Vec<u8>), (status = 204), (status = 304), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn room_component(State(app): State<AppState>, _relay: RelayCaller, ApiPath(game): ApiPath<String>, headers: HeaderMap) -> ApiResult<Response> {
    let have = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().trim_start_matches("W/").trim_matches('"').parse::<i64>().ok());
    let version_header = |v: i64| (HeaderName::from_static(LOGIC_VERSION_HEADER), HeaderValue::from(v));
    Ok(match rooms::room_component(&app, &game, have).await? {
        RoomComponent::None => StatusCode::NO_CONTENT.into_response(),
        RoomComponent::Current(v) => (StatusCode::NOT_MODIFIED, [version_header(v)]).into_response(),
        RoomComponent::Component(v, wasm) => {
            (StatusCode::OK, [version_header(v), (header::CONTENT_TYPE, HeaderValue::from_static(WASM_CONTENT_TYPE))], wasm).into_response()
        }
    })
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/logic/host", tag = "logic", summary = "For relays (relay key in x-aethex-relay-key): a host call of an authoritative room's component (key-value storage, profiles, statistics, scores, achievements), run for the game. Answers {\"ok\": value} or {\"err\": reason}.", request_body = Object, params(("game_id" = String, Path, description = "Game id")), responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn room_host_call(
    State(app): State<AppState>,
    _relay: RelayCaller,
    ApiPath(game): ApiPath<String>,
    ApiJson(call): ApiJson<RoomHostCall>,
) -> ApiResult<Json<RoomHostAnswer>> {
    Ok(Json(rooms::host_call(&app, &game, call).await?))
}

/// Whether a JSON-RPC method is a custom RPC (`custom.{name}`).
pub fn is_custom(method: &str) -> bool {
    method.starts_with(CUSTOM_RPC_PREFIX)
}

/// JSON-RPC `custom.{name}`: `params` is the payload; the game is the caller's (the
/// player's token or the server key).
pub async fn rpc(app: &AppState, headers: &HeaderMap, method: &str, params: Map<String, Value>) -> Result<Value, ApiError> {
    let name = method.strip_prefix(CUSTOM_RPC_PREFIX).unwrap_or(method);
    let caller = authenticate(app, headers).await?;
    let game = match &caller {
        Caller::Player(p) => p.game()?.to_string(),
        Caller::Server(s) => s.game_id.clone(),
    };
    Ok(service::call_rpc(app, &caller, &game, name, &Value::Object(params)).await?)
}
