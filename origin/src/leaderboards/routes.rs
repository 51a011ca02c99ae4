//! REST transport for leaderboards.

use crate::auth::caller::authenticate_player;
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

use aethex_protocol::leaderboards::{
    parse_limit, ArchivedPeriodList, CreateLeaderboardRequest, Leaderboard, LeaderboardList, LeaderboardPage, SubmitScoreRequest, SubmitScoreResponse,
};
use aethex_protocol::rpc::ErrorEnvelope;

use super::service;
use crate::auth::caller::Player;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_leaderboards, create_leaderboard))
        .routes(routes!(get_leaderboard))
        .routes(routes!(get_around_me))
        .routes(routes!(submit_score))
        .routes(routes!(list_periods))
        .routes(routes!(get_period))
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

#[utoipa::path(get, path = "/api/v1/leaderboards/{leaderboard_id}", tag = "leaderboards", summary = "Top entries of a board of the token's game (served by edges).", params(("leaderboard_id" = String, Path, description = "Leaderboard id"), ("limit" = Option<u32>, Query, description = "1 to 100 (default 10)", minimum = 1, maximum = 100), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"), ("range" = Option<String>, Query, description = "global (default) or friends", pattern = "^(global|friends)$")), responses((status = 200, body = LeaderboardPage), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
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

#[utoipa::path(get, path = "/api/v1/leaderboards/{leaderboard_id}/around-me", tag = "leaderboards", summary = "Entries around the player (served by edges).", params(("leaderboard_id" = String, Path, description = "Leaderboard id"), ("limit" = Option<u32>, Query, description = "1 to 100 (default 10)", minimum = 1, maximum = 100)), responses((status = 200, body = LeaderboardPage), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
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

#[utoipa::path(get, path = "/api/v1/leaderboards/{leaderboard_id}/periods/{period}", tag = "leaderboards", summary = "The final ranking of a finished period (by its period_start).", params(("leaderboard_id" = String, Path, description = "Leaderboard id"), ("period" = String, Path, description = "period_start as listed"), ("limit" = Option<u32>, Query, description = "1 to 100 (default 10)", minimum = 1, maximum = 100), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")), responses((status = 200, body = LeaderboardPage), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn get_period(
    State(app): State<AppState>,
    player: Player,
    ApiPath((board, period)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ArchiveQuery>,
) -> ApiResult<Json<LeaderboardPage>> {
    Ok(Json(service::archived_page(&app, &player, &board, &period, limit(q.limit.as_deref())?, q.cursor.as_deref()).await?))
}

/// This domain's JSON-RPC methods at `POST /api/v1/rpc` (the same service calls as the
/// REST routes above).
pub const RPC_METHODS: &[&str] = &["leaderboards.submit_score", "leaderboards.get", "leaderboards.around_me"];

/// Runs one of [`RPC_METHODS`].
pub async fn rpc(app: &AppState, headers: &HeaderMap, method: &str, mut p: Map<String, Value>) -> Result<Value, ApiError> {
    match method {
        "leaderboards.submit_score" => {
            let player = authenticate_player(app, headers).await?;
            let board = take_string(&mut p, "leaderboard_id")?;
            ok(crate::leaderboards::service::submit(app, &player, &board, params(p)?).await?)
        }
        "leaderboards.get" => {
            let player = authenticate_player(app, headers).await?;
            let q: LeaderboardParams = params(p)?;
            let limit = parse_limit(q.limit.map(|l| l.to_string()).as_deref())?;
            match (q.range.as_deref(), q.cursor.as_deref()) {
                (None | Some("global"), cursor) => ok(crate::leaderboards::service::top(app, &player, &q.leaderboard_id, limit, cursor).await?),
                (Some("friends"), None) => ok(crate::leaderboards::service::friends_top(app, &player, &q.leaderboard_id, limit).await?),
                (Some("friends"), Some(_)) => Err(ApiError::invalid_params("cursor", "a friends page has no cursor")),
                (Some(_), _) => Err(ApiError::invalid_params("range", "range must be global or friends")),
            }
        }
        "leaderboards.around_me" => {
            let player = authenticate_player(app, headers).await?;
            let q: LeaderboardParams = params(p)?;
            if q.cursor.is_some() || q.range.is_some() {
                return Err(ApiError::invalid_params("cursor", "around_me takes no cursor or range"));
            }
            let limit = parse_limit(q.limit.map(|l| l.to_string()).as_deref())?;
            ok(crate::leaderboards::service::around_me(app, &player, &q.leaderboard_id, limit).await?)
        }
        other => Err(method_not_found(other)),
    }
}

/// `leaderboards.get` / `leaderboards.around_me` params.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaderboardParams {
    leaderboard_id: String,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
    /// `leaderboards.get`: `global` (default) or `friends`.
    #[serde(default)]
    range: Option<String>,
}
