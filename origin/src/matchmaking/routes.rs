//! REST transport for matchmaking.

use crate::auth::caller::authenticate;
use crate::error::ApiError;
use crate::http::jsonrpc::*;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Map;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aethex_protocol::matchmaking::{BackfillRequest, ModeConfig, Ticket, TicketList, TicketRequest};
use aethex_protocol::rpc::ErrorEnvelope;

use super::{service, BackfillResponse, ModeEntry, ModeList};
use crate::auth::caller::Caller;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::regions::routes::RelayCaller;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_modes))
        .routes(routes!(get_mode, put_mode))
        .routes(routes!(create_ticket, my_tickets))
        .routes(routes!(get_ticket, cancel_ticket))
        .routes(routes!(accept_ticket))
        .routes(routes!(backfill))
        .route(super::cluster::INTERNAL_PATH, axum::routing::post(internal))
}

async fn internal(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> ApiResult<Json<super::cluster::Answer>> {
    if app.matchmaking_cluster.is_none() {
        return Err(ApiError::not_found("path", "this origin is not part of a cluster"));
    }
    let key = headers.get(super::cluster::CLUSTER_KEY_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !app.tokens.is_cluster_key(key) {
        return Err(ApiError::unauthorized("a cluster key is required"));
    }
    let op: super::cluster::Op =
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid_params("body", format!("not a queue operation: {e}")))?;
    Ok(Json(service::answer_passed_on(&app, op).await))
}

#[utoipa::path(put, path = "/api/v1/games/{game_id}/matchmaking/modes/{mode}", tag = "matchmaking", summary = "Create or replace a matchmaking mode (developer+ or the game's server key).", request_body = ModeConfig, params(("game_id" = String, Path, description = "Game id"), ("mode" = String, Path, description = "Mode name: 1 to 32 of a-z 0-9 - _")), responses((status = 200, body = ModeEntry), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn put_mode(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((game_id, mode)): ApiPath<(String, String)>,
    ApiJson(config): ApiJson<ModeConfig>,
) -> ApiResult<Json<ModeEntry>> {
    Ok(Json(service::put_mode(&app, &caller, &game_id, &mode, config).await?))
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/matchmaking/modes/{mode}", tag = "matchmaking", summary = "One matchmaking mode (viewer+ or the game's server key).", params(("game_id" = String, Path, description = "Game id"), ("mode" = String, Path, description = "Mode name")), responses((status = 200, body = ModeEntry), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn get_mode(State(app): State<AppState>, caller: Caller, ApiPath((game_id, mode)): ApiPath<(String, String)>) -> ApiResult<Json<ModeEntry>> {
    Ok(Json(service::get_mode(&app, &caller, &game_id, &mode).await?))
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/matchmaking/modes", tag = "matchmaking", summary = "The game's matchmaking modes (viewer+ or the game's server key).", params(("game_id" = String, Path, description = "Game id")), responses((status = 200, body = ModeList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_modes(State(app): State<AppState>, caller: Caller, ApiPath(game_id): ApiPath<String>) -> ApiResult<Json<ModeList>> {
    Ok(Json(service::list_modes(&app, &caller, &game_id).await?))
}

#[utoipa::path(post, path = "/api/v1/matchmaking/tickets", tag = "matchmaking", summary = "Queue a ticket: for the token's player, or for `user_id` with the game's server key.", request_body = TicketRequest, responses((status = 201, body = Ticket), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn create_ticket(State(app): State<AppState>, caller: Caller, ApiJson(req): ApiJson<TicketRequest>) -> ApiResult<(StatusCode, Json<Ticket>)> {
    Ok((StatusCode::CREATED, Json(service::create_ticket(&app, &caller, req).await?)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketQuery {
    wait_ms: Option<u64>,
    user_id: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/matchmaking/tickets/{ticket_id}", tag = "matchmaking", summary = "A ticket (its players or the game's server key); with `wait_ms`, answers when it leaves the queue or after that long.", params(("ticket_id" = String, Path, description = "Ticket id"), ("wait_ms" = Option<u64>, Query, description = "Long-poll: 0 to 30000 (default 0)", minimum = 0, maximum = 30000), ("user_id" = Option<String>, Query, description = "Server keys: whose room ticket (a party member's; default the owner's)")), responses((status = 200, body = Ticket), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn get_ticket(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(ticket_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<TicketQuery>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(service::get_ticket(&app, &caller, &ticket_id, q.wait_ms.unwrap_or(0), q.user_id.as_deref()).await?))
}

#[utoipa::path(get, path = "/api/v1/matchmaking/tickets", tag = "matchmaking", summary = "The player's tickets in the token's game, newest first: owned, or naming them in a party (pending invitations included).", responses((status = 200, body = TicketList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn my_tickets(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<TicketList>> {
    Ok(Json(service::my_tickets(&app, &caller).await?))
}

#[utoipa::path(post, path = "/api/v1/matchmaking/tickets/{ticket_id}/accept", tag = "matchmaking", summary = "Accept a party ticket that names you: it is queued once every member accepted.", params(("ticket_id" = String, Path, description = "Ticket id")), responses((status = 200, body = Ticket), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn accept_ticket(State(app): State<AppState>, caller: Caller, ApiPath(ticket_id): ApiPath<String>) -> ApiResult<Json<Ticket>> {
    Ok(Json(service::accept_ticket(&app, &caller, &ticket_id).await?))
}

#[utoipa::path(delete, path = "/api/v1/matchmaking/tickets/{ticket_id}", tag = "matchmaking", summary = "Cancel (or, as a party member, decline) a pending or queued ticket (its players or the game's server key).", params(("ticket_id" = String, Path, description = "Ticket id")), responses((status = 200, body = Ticket), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn cancel_ticket(State(app): State<AppState>, caller: Caller, ApiPath(ticket_id): ApiPath<String>) -> ApiResult<Json<Ticket>> {
    Ok(Json(service::cancel_ticket(&app, &caller, &ticket_id).await?))
}

#[utoipa::path(post, path = "/api/v1/matchmaking/backfill", tag = "matchmaking", summary = "A relay reports open seats in a matched room; queued tickets fill them (relay key in x-aethex-relay-key).", request_body = BackfillRequest, responses((status = 200, body = BackfillResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn backfill(State(app): State<AppState>, _relay: RelayCaller, ApiJson(req): ApiJson<BackfillRequest>) -> ApiResult<Json<BackfillResponse>> {
    Ok(Json(service::backfill(&app, req).await?))
}

/// This domain's JSON-RPC methods at `POST /api/v1/rpc` (the same service calls as the
/// REST routes above).
pub const RPC_METHODS: &[&str] =
    &["matchmaking.join_queue", "matchmaking.get_ticket", "matchmaking.cancel", "matchmaking.accept", "matchmaking.my_tickets"];

/// Runs one of [`RPC_METHODS`].
pub async fn rpc(app: &AppState, headers: &HeaderMap, method: &str, p: Map<String, Value>) -> Result<Value, ApiError> {
    match method {
        "matchmaking.join_queue" => {
            let caller = authenticate(app, headers).await?;
            ok(crate::matchmaking::service::create_ticket(app, &caller, params(p)?).await?)
        }
        "matchmaking.get_ticket" => {
            let caller = authenticate(app, headers).await?;
            let q: TicketParams = params(p)?;
            ok(crate::matchmaking::service::get_ticket(app, &caller, &q.ticket_id, q.wait_ms.unwrap_or(0), q.user_id.as_deref()).await?)
        }
        "matchmaking.cancel" => {
            let caller = authenticate(app, headers).await?;
            let q: CancelParams = params(p)?;
            ok(crate::matchmaking::service::cancel_ticket(app, &caller, &q.ticket_id).await?)
        }
        "matchmaking.accept" => {
            let caller = authenticate(app, headers).await?;
            let q: CancelParams = params(p)?;
            ok(crate::matchmaking::service::accept_ticket(app, &caller, &q.ticket_id).await?)
        }
        "matchmaking.my_tickets" => {
            let caller = authenticate(app, headers).await?;
            no_params(p)?;
            ok(crate::matchmaking::service::my_tickets(app, &caller).await?)
        }
        other => Err(method_not_found(other)),
    }
}

/// `matchmaking.get_ticket` params.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketParams {
    ticket_id: String,
    #[serde(default)]
    wait_ms: Option<u64>,
    /// Server keys: whose room ticket (a party member's).
    #[serde(default)]
    user_id: Option<String>,
}

/// `matchmaking.cancel` params.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelParams {
    ticket_id: String,
}
