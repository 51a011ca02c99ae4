//! REST transport for achievements and statistics.

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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_definitions))
        .routes(routes!(define_achievement, delete_achievement))
        .routes(routes!(stats_summary))
        .routes(routes!(get_achievements))
        .routes(routes!(unlock))
        .routes(routes!(set_progress))
        .routes(routes!(get_stats, update_stats))
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

/// This domain's JSON-RPC methods at `POST /api/v1/rpc` (the same service calls as the
/// REST routes above).
pub const RPC_METHODS: &[&str] = &["achievements.unlock", "achievements.set_progress", "achievements.get_all", "stats.update", "stats.get"];

/// Runs one of [`RPC_METHODS`].
pub async fn rpc(app: &AppState, headers: &HeaderMap, method: &str, mut p: Map<String, Value>) -> Result<Value, ApiError> {
    match method {
        "achievements.unlock" => {
            let caller = authenticate(app, headers).await?;
            let id = take_string(&mut p, "achievement_id")?;
            let req: aethex_protocol::achievements::UnlockRequest = params(p)?;
            let who = crate::achievements::service::subject(app, &caller, req.user_id.as_deref()).await?;
            ok(crate::achievements::service::advance(app, &who, &id, None).await?)
        }
        "achievements.set_progress" => {
            let caller = authenticate(app, headers).await?;
            let id = take_string(&mut p, "achievement_id")?;
            let req: aethex_protocol::achievements::SetProgressRequest = params(p)?;
            let who = crate::achievements::service::subject(app, &caller, req.user_id.as_deref()).await?;
            ok(crate::achievements::service::advance(app, &who, &id, Some(req.progress)).await?)
        }
        "achievements.get_all" => {
            let caller = authenticate(app, headers).await?;
            let req: aethex_protocol::achievements::UnlockRequest = params(p)?;
            let who = crate::achievements::service::subject(app, &caller, req.user_id.as_deref()).await?;
            ok(crate::achievements::service::get_all(app, &who).await?)
        }
        "stats.update" => {
            let caller = authenticate(app, headers).await?;
            let req: aethex_protocol::achievements::UpdateStatsRequest = params(p)?;
            let who = crate::achievements::service::subject(app, &caller, req.user_id.as_deref()).await?;
            ok(crate::achievements::service::update_stats(app, &who, req).await?)
        }
        "stats.get" => {
            let caller = authenticate(app, headers).await?;
            let req: aethex_protocol::achievements::UnlockRequest = params(p)?;
            let who = crate::achievements::service::subject(app, &caller, req.user_id.as_deref()).await?;
            ok(crate::achievements::service::stats(app, &who).await?)
        }
        other => Err(method_not_found(other)),
    }
}
