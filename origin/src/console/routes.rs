//! Routes of the console: the page itself (`/console`, its assets) and the developer
//! routes only the console needed so far.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::service;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Player};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(super::assets::index))
        .route("/console/", get(super::assets::index))
        .route("/console/{*file}", get(super::assets::file))
        .route("/api/v1/games/{game_id}/players", get(list_players))
        .route("/api/v1/games/{game_id}/players/{user_id}/ban", post(ban_player).delete(unban_player))
        .route("/api/v1/games/{game_id}/players/{user_id}/saves", get(player_saves))
        .route("/api/v1/games/{game_id}/rooms", get(live_rooms))
        .route("/api/v1/games/{game_id}/experiments", get(list_experiments))
        .route("/api/v1/games/{game_id}/audit", get(audit_log))
        .route("/api/v1/games/{game_id}/leaderboards/{leaderboard_id}/entries", get(board_entries))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

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

async fn list_players(
    State(app): State<AppState>,
    p: Player,
    ApiPath(g): ApiPath<String>,
    ApiQuery(q): ApiQuery<PlayersQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(service::players(&app, &p, &g, q.q.as_deref(), q.limit.as_deref()).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BanRequest {
    reason: String,
}

async fn ban_player(
    State(app): State<AppState>,
    p: Player,
    ApiPath((g, u)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<BanRequest>,
) -> ApiResult<Json<Value>> {
    Ok(Json(service::ban(&app, &p, &g, &u, &b.reason).await?))
}

async fn unban_player(State(app): State<AppState>, p: Player, ApiPath((g, u)): ApiPath<(String, String)>) -> ApiResult<StatusCode> {
    service::unban(&app, &p, &g, &u).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn player_saves(State(app): State<AppState>, p: Player, ApiPath((g, u)): ApiPath<(String, String)>) -> ApiResult<Json<Value>> {
    Ok(Json(service::player_saves(&app, &p, &g, &u).await?))
}

async fn live_rooms(State(app): State<AppState>, p: Player, ApiPath(g): ApiPath<String>) -> ApiResult<Json<Value>> {
    Ok(Json(service::rooms(&app, &p, &g).await?))
}

async fn list_experiments(State(app): State<AppState>, p: Player, ApiPath(g): ApiPath<String>) -> ApiResult<Json<Value>> {
    Ok(Json(service::experiments(&app, &p, &g).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<String>,
    before: Option<String>,
}

async fn audit_log(State(app): State<AppState>, p: Player, ApiPath(g): ApiPath<String>, ApiQuery(q): ApiQuery<AuditQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(service::audit(&app, &p, &g, q.limit.as_deref(), q.before.as_deref()).await?))
}
