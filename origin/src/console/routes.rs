//! Routes of the console: the page itself (`/console`, its assets) and the developer
//! routes only the console needed so far.

use aethex_protocol::rpc::ErrorEnvelope;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service;
use crate::auth::caller::Player;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/console", get(super::assets::index))
        .route("/console/", get(super::assets::index))
        .route("/console/{*file}", get(super::assets::file))
        .routes(routes!(list_players))
        .routes(routes!(ban_player, unban_player))
        .routes(routes!(player_saves))
        .routes(routes!(live_rooms))
        .routes(routes!(list_experiments))
        .routes(routes!(audit_log))
        .routes(routes!(board_entries))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/leaderboards/{leaderboard_id}/entries", tag = "console", summary = "A board's entries from the top (viewer+).", params(("game_id" = String, Path, description = "Game id"), ("leaderboard_id" = String, Path, description = "Board"), ("limit" = Option<u32>, Query, description = "1 to 100 (default 50)", minimum = 1, maximum = 100), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")), responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn board_entries(
    State(app): State<AppState>,
    p: Player,
    ApiPath((g, b)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(service::board_entries(&app, &p, &g, &b, q.limit.as_deref(), q.cursor.as_deref()).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlayersQuery {
    q: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/players", tag = "console", summary = "The game's players, most recently seen first (developer+).", params(("game_id" = String, Path, description = "Game id"), ("q" = Option<String>, Query, description = "Part of a username or email, or an id"), ("limit" = Option<u32>, Query, description = "1 to 200 (default 50)", minimum = 1, maximum = 200)), responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_players(
    State(app): State<AppState>,
    p: Player,
    ApiPath(g): ApiPath<String>,
    ApiQuery(q): ApiQuery<PlayersQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(service::players(&app, &p, &g, q.q.as_deref(), q.limit.as_deref()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BanRequest {
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/players/{user_id}/ban", tag = "console", summary = "Ban a player from the game: no new tokens for it, its sessions revoked (admin+).", params(("game_id" = String, Path, description = "Game id"), ("user_id" = String, Path, description = "The player")), request_body = BanRequest, responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn ban_player(
    State(app): State<AppState>,
    p: Player,
    ApiPath((g, u)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<BanRequest>,
) -> ApiResult<Json<Value>> {
    Ok(Json(service::ban(&app, &p, &g, &u, &b.reason).await?))
}

#[utoipa::path(delete, path = "/api/v1/games/{game_id}/players/{user_id}/ban", tag = "console", summary = "Lift a ban (admin+).", params(("game_id" = String, Path, description = "Game id"), ("user_id" = String, Path, description = "The player")), responses((status = 204), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn unban_player(State(app): State<AppState>, p: Player, ApiPath((g, u)): ApiPath<(String, String)>) -> ApiResult<StatusCode> {
    service::unban(&app, &p, &g, &u).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/players/{user_id}/saves", tag = "console", summary = "A player's saves in the game (developer+).", params(("game_id" = String, Path, description = "Game id"), ("user_id" = String, Path, description = "The player")), responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn player_saves(State(app): State<AppState>, p: Player, ApiPath((g, u)): ApiPath<(String, String)>) -> ApiResult<Json<Value>> {
    Ok(Json(service::player_saves(&app, &p, &g, &u).await?))
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/rooms", tag = "console", summary = "Live regions and the game's live rooms on every relay (viewer+).", params(("game_id" = String, Path, description = "Game id")), responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn live_rooms(State(app): State<AppState>, p: Player, ApiPath(g): ApiPath<String>) -> ApiResult<Json<Value>> {
    Ok(Json(service::rooms(&app, &p, &g).await?))
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/experiments", tag = "console", summary = "The game's A/B tests (viewer+).", params(("game_id" = String, Path, description = "Game id")), responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_experiments(State(app): State<AppState>, p: Player, ApiPath(g): ApiPath<String>) -> ApiResult<Json<Value>> {
    Ok(Json(service::experiments(&app, &p, &g).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<String>,
    before: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/audit", tag = "console", summary = "Successful changes to the game and its organization, newest first (admin+).", params(("game_id" = String, Path, description = "Game id"), ("limit" = Option<u32>, Query, description = "1 to 500 (default 100)", minimum = 1, maximum = 500), ("before" = Option<i64>, Query, description = "Entries older than this id")), responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn audit_log(State(app): State<AppState>, p: Player, ApiPath(g): ApiPath<String>, ApiQuery(q): ApiQuery<AuditQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(service::audit(&app, &p, &g, q.limit.as_deref(), q.before.as_deref()).await?))
}
