//! REST transport for friends and share links.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aethex_protocol::rpc::ErrorEnvelope;
use aethex_protocol::social::{Friend, FriendList, FriendRequest, ShareRequest, SharedItem};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

use super::service;
use crate::auth::caller::Player;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_friends))
        .routes(routes!(send_request))
        .routes(routes!(remove_friend))
        .routes(routes!(accept_request))
        .routes(routes!(decline_request))
        .routes(routes!(block_player, unblock_player))
        .routes(routes!(create_share))
        .routes(routes!(get_share, delete_share))
        .route("/share/{share_id}", get(share_page))
}

#[utoipa::path(post, path = "/api/v1/share", tag = "social", summary = "Make a public link to your score on a board or an achievement you unlocked (a snapshot).", request_body = ShareRequest, responses((status = 201, body = SharedItem), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn create_share(State(app): State<AppState>, player: Player, ApiJson(req): ApiJson<ShareRequest>) -> ApiResult<(StatusCode, Json<SharedItem>)> {
    Ok((StatusCode::CREATED, Json(super::share::create(&app, &player, req).await?)))
}

fn no_share() -> crate::error::ApiError {
    crate::error::ApiError::not_found("share_id", "no such share link")
}

#[utoipa::path(get, path = "/api/v1/share/{share_id}", tag = "social", summary = "A share link's snapshot (no token needed).", params(("share_id" = String, Path, description = "Share id")), responses((status = 200, body = SharedItem), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn get_share(State(app): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    let item = super::share::get(&app, &id).await?.ok_or_else(no_share)?;
    Ok(([(header::CACHE_CONTROL, "public, max-age=60")], Json(item)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/share/{share_id}", tag = "social", summary = "Delete one of your share links.", params(("share_id" = String, Path, description = "Share id")), responses((status = 204), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn delete_share(State(app): State<AppState>, player: Player, ApiPath(id): ApiPath<String>) -> ApiResult<StatusCode> {
    super::share::delete(&app, &player, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public page (HTML; JSON when the client asks for `application/json`).
async fn share_page(State(app): State<AppState>, headers: HeaderMap, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    let item = super::share::get(&app, &id).await?.ok_or_else(no_share)?;
    let wants_json = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Ok(([(header::CACHE_CONTROL, "public, max-age=60")], Json(item)).into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=60"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; img-src https:; style-src 'unsafe-inline'"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        super::share::page(&item),
    )
        .into_response())
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
