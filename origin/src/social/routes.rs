//! REST transport for friends.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use aethex_protocol::rpc::ErrorEnvelope;
use aethex_protocol::social::{Friend, FriendList, FriendRequest};

use super::service;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, Player};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/friends", get(list_friends))
        .route("/api/v1/friends/requests", post(send_request))
        .route("/api/v1/friends/{user_id}", delete(remove_friend))
        .route("/api/v1/friends/{user_id}/accept", post(accept_request))
        .route("/api/v1/friends/{user_id}/decline", post(decline_request))
        .route("/api/v1/friends/{user_id}/block", post(block_player).delete(unblock_player))
}

#[utoipa::path(get, path = "/api/v1/friends", tag = "social", summary = "Friends, incoming and outgoing requests, blocked players.", responses((status = 200, body = FriendList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_friends(State(app): State<AppState>, player: Player) -> ApiResult<Json<FriendList>> {
    Ok(Json(service::list(&app, &player).await?))
}

#[utoipa::path(post, path = "/api/v1/friends/requests", tag = "social", summary = "Ask a player (by user_id or username) to be friends; mutual requests make friends at once.", request_body = FriendRequest, responses((status = 201, body = Friend), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn send_request(State(app): State<AppState>, player: Player, ApiJson(req): ApiJson<FriendRequest>) -> ApiResult<(StatusCode, Json<Friend>)> {
    Ok((StatusCode::CREATED, Json(service::request(&app, &player, req).await?)))
}

#[utoipa::path(post, path = "/api/v1/friends/{user_id}/accept", tag = "social", summary = "Accept a player's request.", params(("user_id" = String, Path, description = "The asking player")), responses((status = 200, body = Friend), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn accept_request(State(app): State<AppState>, player: Player, ApiPath(other): ApiPath<String>) -> ApiResult<Json<Friend>> {
    Ok(Json(service::accept(&app, &player, &other).await?))
}

#[utoipa::path(post, path = "/api/v1/friends/{user_id}/decline", tag = "social", summary = "Decline a player's request.", params(("user_id" = String, Path, description = "The asking player")), responses((status = 204), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn decline_request(State(app): State<AppState>, player: Player, ApiPath(other): ApiPath<String>) -> ApiResult<StatusCode> {
    service::decline(&app, &player, &other).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/friends/{user_id}", tag = "social", summary = "End a friendship or withdraw a request.", params(("user_id" = String, Path, description = "The other player")), responses((status = 204), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn remove_friend(State(app): State<AppState>, player: Player, ApiPath(other): ApiPath<String>) -> ApiResult<StatusCode> {
    service::remove(&app, &player, &other).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/friends/{user_id}/block", tag = "social", summary = "Block a player (ends any friendship or request; they cannot ask again).", params(("user_id" = String, Path, description = "The other player")), responses((status = 200, body = Friend), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn block_player(State(app): State<AppState>, player: Player, ApiPath(other): ApiPath<String>) -> ApiResult<Json<Friend>> {
    Ok(Json(service::block(&app, &player, &other).await?))
}

#[utoipa::path(delete, path = "/api/v1/friends/{user_id}/block", tag = "social", summary = "Unblock a player.", params(("user_id" = String, Path, description = "The other player")), responses((status = 204), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn unblock_player(State(app): State<AppState>, player: Player, ApiPath(other): ApiPath<String>) -> ApiResult<StatusCode> {
    service::unblock(&app, &player, &other).await?;
    Ok(StatusCode::NO_CONTENT)
}
