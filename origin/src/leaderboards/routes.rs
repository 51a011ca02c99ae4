//! REST transport for leaderboards.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use aethex_protocol::leaderboards::{
    parse_limit, ArchivedPeriodList, CreateLeaderboardRequest, Leaderboard, LeaderboardList, LeaderboardPage, SubmitScoreRequest, SubmitScoreResponse,
};
use aethex_protocol::rpc::ErrorEnvelope;

use super::service;
use crate::auth::caller::Player;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/games/{game_id}/leaderboards", get(list_leaderboards).post(create_leaderboard))
        .route("/api/v1/leaderboards/{leaderboard_id}", get(get_leaderboard))
        .route("/api/v1/leaderboards/{leaderboard_id}/around-me", get(get_around_me))
        .route("/api/v1/leaderboards/{leaderboard_id}/scores", post(submit_score))
        .route("/api/v1/leaderboards/{leaderboard_id}/periods", get(list_periods))
        .route("/api/v1/leaderboards/{leaderboard_id}/periods/{period}", get(get_period))
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/leaderboards", tag = "leaderboards", summary = "Define a leaderboard (developer+).", request_body = CreateLeaderboardRequest, params(("game_id" = String, Path, description = "Game id")), responses((status = 201, body = Leaderboard), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn create_leaderboard(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiJson(req): ApiJson<CreateLeaderboardRequest>,
) -> ApiResult<(StatusCode, Json<Leaderboard>)> {
    Ok((StatusCode::CREATED, Json(service::create(&app, &player, &game_id, req).await?)))
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/leaderboards", tag = "leaderboards", summary = "The game's leaderboards (viewer+).", params(("game_id" = String, Path, description = "Game id")), responses((status = 200, body = LeaderboardList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_leaderboards(State(app): State<AppState>, player: Player, ApiPath(game_id): ApiPath<String>) -> ApiResult<Json<LeaderboardList>> {
    Ok(Json(service::list(&app, &player, &game_id).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
    /// `global` (default) or `friends`.
    range: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AroundQuery {
    limit: Option<String>,
}

fn limit(raw: Option<&str>) -> Result<u32, ApiError> {
    Ok(parse_limit(raw)?)
}

#[utoipa::path(get, path = "/api/v1/leaderboards/{leaderboard_id}", tag = "leaderboards", summary = "Top entries of a board of the token's game (served by edges).", params(("leaderboard_id" = String, Path, description = "Leaderboard id"), ("limit" = Option<u32>, Query, description = "1 to 100 (default 10)"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"), ("range" = Option<String>, Query, description = "global (default) or friends")), responses((status = 200, body = LeaderboardPage), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn get_leaderboard(
    State(app): State<AppState>,
    player: Player,
    ApiPath(board): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<LeaderboardPage>> {
    let limit = limit(q.limit.as_deref())?;
    match q.range.as_deref() {
        None | Some("global") => Ok(Json(service::top(&app, &player, &board, limit, q.cursor.as_deref()).await?)),
        Some("friends") if q.cursor.is_none() => Ok(Json(service::friends_top(&app, &player, &board, limit).await?)),
        Some("friends") => Err(ApiError::invalid_params("cursor", "a friends page has no cursor (it holds at most `limit` entries)")),
        Some(_) => Err(ApiError::invalid_params("range", "range must be global or friends")),
    }
}

#[utoipa::path(get, path = "/api/v1/leaderboards/{leaderboard_id}/around-me", tag = "leaderboards", summary = "Entries around the player (served by edges).", params(("leaderboard_id" = String, Path, description = "Leaderboard id"), ("limit" = Option<u32>, Query, description = "1 to 100 (default 10)")), responses((status = 200, body = LeaderboardPage), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn get_around_me(
    State(app): State<AppState>,
    player: Player,
    ApiPath(board): ApiPath<String>,
    ApiQuery(q): ApiQuery<AroundQuery>,
) -> ApiResult<Json<LeaderboardPage>> {
    Ok(Json(service::around_me(&app, &player, &board, limit(q.limit.as_deref())?).await?))
}

#[utoipa::path(post, path = "/api/v1/leaderboards/{leaderboard_id}/scores", tag = "leaderboards", summary = "Submit a score to a board of the token's game.", request_body = SubmitScoreRequest, params(("leaderboard_id" = String, Path, description = "Leaderboard id")), responses((status = 200, body = SubmitScoreResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn submit_score(
    State(app): State<AppState>,
    player: Player,
    ApiPath(board): ApiPath<String>,
    ApiJson(req): ApiJson<SubmitScoreRequest>,
) -> ApiResult<Json<SubmitScoreResponse>> {
    Ok(Json(service::submit(&app, &player, &board, req).await?))
}

#[utoipa::path(get, path = "/api/v1/leaderboards/{leaderboard_id}/periods", tag = "leaderboards", summary = "Finished periods of a resetting board, newest first.", params(("leaderboard_id" = String, Path, description = "Leaderboard id")), responses((status = 200, body = ArchivedPeriodList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_periods(State(app): State<AppState>, player: Player, ApiPath(board): ApiPath<String>) -> ApiResult<Json<ArchivedPeriodList>> {
    Ok(Json(service::periods(&app, &player, &board).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchiveQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/leaderboards/{leaderboard_id}/periods/{period}", tag = "leaderboards", summary = "The final ranking of a finished period (by its period_start).", params(("leaderboard_id" = String, Path, description = "Leaderboard id"), ("period" = String, Path, description = "period_start as listed"), ("limit" = Option<u32>, Query, description = "1 to 100 (default 10)"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")), responses((status = 200, body = LeaderboardPage), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn get_period(
    State(app): State<AppState>,
    player: Player,
    ApiPath((board, period)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ArchiveQuery>,
) -> ApiResult<Json<LeaderboardPage>> {
    Ok(Json(service::archived_page(&app, &player, &board, &period, limit(q.limit.as_deref())?, q.cursor.as_deref()).await?))
}
