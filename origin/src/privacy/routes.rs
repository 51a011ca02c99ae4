//! REST transport for privacy requests.

use axum::extract::State;
use axum::http::header::CONTENT_DISPOSITION;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aethex_protocol::rpc::ErrorEnvelope;

use super::service;
use crate::auth::caller::Player;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export_me)).routes(routes!(delete_me)).routes(routes!(export_player)).routes(routes!(delete_player))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// Your username, to confirm.
    pub confirm: String,
}

#[utoipa::path(get, path = "/api/v1/auth/me/export", tag = "privacy", summary = "All of the signed-in player's data as one JSON document (GDPR).", responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn export_me(State(app): State<AppState>, player: Player) -> ApiResult<impl IntoResponse> {
    let doc = service::export_me(&app, &player).await?;
    Ok(([(CONTENT_DISPOSITION, "attachment; filename=\"aethex-export.json\"")], Json(doc)))
}

#[utoipa::path(delete, path = "/api/v1/auth/me", tag = "privacy", summary = "Delete the account and everything linked to it (GDPR); answers the receipt.", request_body = DeleteAccountRequest, responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn delete_me(State(app): State<AppState>, player: Player, ApiJson(req): ApiJson<DeleteAccountRequest>) -> ApiResult<Json<Value>> {
    Ok(Json(service::delete_me(&app, &player, &req.confirm).await?))
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/players/{user_id}/export", tag = "privacy", summary = "A player's data in this game as one JSON document (admin+).", params(("game_id" = String, Path, description = "Game id"), ("user_id" = String, Path, description = "The player")), responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn export_player(State(app): State<AppState>, admin: Player, ApiPath((game_id, user)): ApiPath<(String, String)>) -> ApiResult<Json<Value>> {
    Ok(Json(service::export_in_game(&app, &admin, &game_id, &user).await?))
}

#[utoipa::path(delete, path = "/api/v1/games/{game_id}/players/{user_id}", tag = "privacy", summary = "Erase a player's data in this game (admin+); answers the receipt.", params(("game_id" = String, Path, description = "Game id"), ("user_id" = String, Path, description = "The player")), responses((status = 200, body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn delete_player(State(app): State<AppState>, admin: Player, ApiPath((game_id, user)): ApiPath<(String, String)>) -> ApiResult<Json<Value>> {
    Ok(Json(service::delete_in_game(&app, &admin, &game_id, &user).await?))
}
