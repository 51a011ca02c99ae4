//! REST transport for achievements and statistics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use aethex_protocol::achievements::{
    Achievement, AchievementList, AchievementUpdate, DefineAchievementRequest, PlayerAchievements, PlayerStats, SetProgressRequest, StatsSummary,
    UnlockRequest, UpdateStatsRequest,
};
use aethex_protocol::rpc::ErrorEnvelope;

use super::service;
use crate::auth::caller::{Caller, Player};
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/games/{game_id}/achievements", get(list_definitions))
        .route("/api/v1/games/{game_id}/achievements/{achievement_id}", put(define_achievement).delete(delete_achievement))
        .route("/api/v1/games/{game_id}/stats", get(stats_summary))
        .route("/api/v1/achievements", get(get_achievements))
        .route("/api/v1/achievements/{achievement_id}/unlock", post(unlock))
        .route("/api/v1/achievements/{achievement_id}/progress", post(set_progress))
        .route("/api/v1/stats", get(get_stats).post(update_stats))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserQuery {
    user_id: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/games/{game_id}/achievements/{achievement_id}", tag = "achievements", summary = "Define or change an achievement (developer+).", request_body = DefineAchievementRequest, params(("game_id" = String, Path, description = "Game id"), ("achievement_id" = String, Path, description = "Achievement id")), responses((status = 200, body = Achievement), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn define_achievement(
    State(app): State<AppState>,
    player: Player,
    ApiPath((game_id, id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<DefineAchievementRequest>,
) -> ApiResult<Json<Achievement>> {
    Ok(Json(service::define(&app, &player, &game_id, &id, req).await?))
}

#[utoipa::path(delete, path = "/api/v1/games/{game_id}/achievements/{achievement_id}", tag = "achievements", summary = "Delete an achievement and every player's progress on it (developer+).", params(("game_id" = String, Path, description = "Game id"), ("achievement_id" = String, Path, description = "Achievement id")), responses((status = 204), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn delete_achievement(State(app): State<AppState>, player: Player, ApiPath((game_id, id)): ApiPath<(String, String)>) -> ApiResult<StatusCode> {
    service::remove(&app, &player, &game_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/achievements", tag = "achievements", summary = "The game's achievement definitions, hidden ones included (viewer+).", params(("game_id" = String, Path, description = "Game id")), responses((status = 200, body = AchievementList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_definitions(State(app): State<AppState>, player: Player, ApiPath(game_id): ApiPath<String>) -> ApiResult<Json<AchievementList>> {
    Ok(Json(service::definitions(&app, &player, &game_id).await?))
}

#[utoipa::path(get, path = "/api/v1/achievements", tag = "achievements", summary = "The player's achievements with progress (the seed's get_all); server keys name the player.", params(("user_id" = Option<String>, Query, description = "Server keys: the player")), responses((status = 200, body = PlayerAchievements), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn get_achievements(State(app): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<UserQuery>) -> ApiResult<Json<PlayerAchievements>> {
    let who = service::subject(&app, &caller, q.user_id.as_deref()).await?;
    Ok(Json(service::get_all(&app, &who).await?))
}

#[utoipa::path(post, path = "/api/v1/achievements/{achievement_id}/unlock", tag = "achievements", summary = "Unlock an achievement (the seed's unlock).", request_body = UnlockRequest, params(("achievement_id" = String, Path, description = "Achievement id")), responses((status = 200, body = AchievementUpdate), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn unlock(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<AchievementUpdate>> {
    // The body is optional (players send none); a server key sends `{"user_id": …}`.
    let req: UnlockRequest = if body.iter().all(u8::is_ascii_whitespace) {
        UnlockRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| crate::error::ApiError::invalid_params("body", format!("not an unlock request: {e}")))?
    };
    let who = service::subject(&app, &caller, req.user_id.as_deref()).await?;
    Ok(Json(service::advance(&app, &who, &id, None).await?))
}

#[utoipa::path(post, path = "/api/v1/achievements/{achievement_id}/progress", tag = "achievements", summary = "Raise an achievement's progress (the seed's set_progress; never lowers it; unlocks at the target).", request_body = SetProgressRequest, params(("achievement_id" = String, Path, description = "Achievement id")), responses((status = 200, body = AchievementUpdate), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn set_progress(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<SetProgressRequest>,
) -> ApiResult<Json<AchievementUpdate>> {
    let who = service::subject(&app, &caller, req.user_id.as_deref()).await?;
    Ok(Json(service::advance(&app, &who, &id, Some(req.progress)).await?))
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "achievements", summary = "The player's statistics in the token's game; server keys name the player.", params(("user_id" = Option<String>, Query, description = "Server keys: the player")), responses((status = 200, body = PlayerStats), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn get_stats(State(app): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<UserQuery>) -> ApiResult<Json<PlayerStats>> {
    let who = service::subject(&app, &caller, q.user_id.as_deref()).await?;
    Ok(Json(service::stats(&app, &who).await?))
}

#[utoipa::path(post, path = "/api/v1/stats", tag = "achievements", summary = "Add to and set statistics, all or nothing.", request_body = UpdateStatsRequest, responses((status = 200, body = PlayerStats), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn update_stats(State(app): State<AppState>, caller: Caller, ApiJson(req): ApiJson<UpdateStatsRequest>) -> ApiResult<Json<PlayerStats>> {
    let who = service::subject(&app, &caller, req.user_id.as_deref()).await?;
    Ok(Json(service::update_stats(&app, &who, req).await?))
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/stats", tag = "achievements", summary = "Each statistic over the game's players: players, sum, min, max, average (viewer+).", params(("game_id" = String, Path, description = "Game id")), responses((status = 200, body = StatsSummary), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn stats_summary(State(app): State<AppState>, player: Player, ApiPath(game_id): ApiPath<String>) -> ApiResult<Json<StatsSummary>> {
    Ok(Json(service::summary(&app, &player, &game_id).await?))
}
