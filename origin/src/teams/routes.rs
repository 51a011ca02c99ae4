//! REST transport for organizations, members, games and keys.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aethex_protocol::teams::{
    AddMemberRequest, CreateGameRequest, CreateOrgRequest, CreateServerKeyRequest, CreatedServerKey, Game, GameList, MemberList, Org, OrgList,
    ServerKeyList, UpdateGameRequest, UpdateMemberRequest,
};

use aethex_protocol::rpc::ErrorEnvelope;

use super::service;
use crate::auth::caller::Player;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_org, list_orgs))
        .routes(routes!(get_org))
        .routes(routes!(list_members, add_member))
        .routes(routes!(update_member, remove_member))
        .routes(routes!(list_games, create_game))
        .routes(routes!(get_game, update_game))
        .routes(routes!(rotate_client_key))
        .routes(routes!(list_server_keys, create_server_key))
        .routes(routes!(revoke_server_key))
}

#[utoipa::path(post, path = "/api/v1/orgs", tag = "teams", summary = "Create an organization (you become its owner).", request_body = CreateOrgRequest, responses((status = 201, body = Org), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn create_org(State(app): State<AppState>, player: Player, ApiJson(req): ApiJson<CreateOrgRequest>) -> ApiResult<(StatusCode, Json<Org>)> {
    Ok((StatusCode::CREATED, Json(service::create_org(&app, &player, req).await?)))
}

#[utoipa::path(get, path = "/api/v1/orgs", tag = "teams", summary = "Your organizations and your role in each.", responses((status = 200, body = OrgList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_orgs(State(app): State<AppState>, player: Player) -> ApiResult<Json<OrgList>> {
    Ok(Json(service::list_orgs(&app, &player).await?))
}

#[utoipa::path(get, path = "/api/v1/orgs/{org_id}", tag = "teams", summary = "One organization (viewer+).", params(("org_id" = String, Path, description = "Organization id")), responses((status = 200, body = Org), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn get_org(State(app): State<AppState>, player: Player, ApiPath(org_id): ApiPath<String>) -> ApiResult<Json<Org>> {
    Ok(Json(service::get_org(&app, &player, &org_id).await?))
}

#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/members", tag = "teams", summary = "Members and roles (viewer+).", params(("org_id" = String, Path, description = "Organization id")), responses((status = 200, body = MemberList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_members(State(app): State<AppState>, player: Player, ApiPath(org_id): ApiPath<String>) -> ApiResult<Json<MemberList>> {
    Ok(Json(service::list_members(&app, &player, &org_id).await?))
}

#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/members", tag = "teams", summary = "Add an account by email or user id (admin+; owner role needs owner).", request_body = AddMemberRequest, params(("org_id" = String, Path, description = "Organization id")), responses((status = 201, body = MemberList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn add_member(
    State(app): State<AppState>,
    player: Player,
    ApiPath(org_id): ApiPath<String>,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> ApiResult<(StatusCode, Json<MemberList>)> {
    Ok((StatusCode::CREATED, Json(service::add_member(&app, &player, &org_id, req).await?)))
}

#[utoipa::path(put, path = "/api/v1/orgs/{org_id}/members/{user_id}", tag = "teams", summary = "Change a role (admin+; owner role needs owner).", request_body = UpdateMemberRequest, params(("org_id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "The player's user id, or `me`")), responses((status = 200, body = MemberList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn update_member(
    State(app): State<AppState>,
    player: Player,
    ApiPath((org_id, user_id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<UpdateMemberRequest>,
) -> ApiResult<Json<MemberList>> {
    Ok(Json(service::update_member(&app, &player, &org_id, &user_id, req).await?))
}

#[utoipa::path(delete, path = "/api/v1/orgs/{org_id}/members/{user_id}", tag = "teams", summary = "Remove a member (admin+), or leave.", params(("org_id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "The player's user id, or `me`")), responses((status = 200, body = MemberList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn remove_member(
    State(app): State<AppState>,
    player: Player,
    ApiPath((org_id, user_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<MemberList>> {
    Ok(Json(service::remove_member(&app, &player, &org_id, &user_id).await?))
}

#[utoipa::path(get, path = "/api/v1/orgs/{org_id}/games", tag = "teams", summary = "Games of the organization (viewer+).", params(("org_id" = String, Path, description = "Organization id")), responses((status = 200, body = GameList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_games(State(app): State<AppState>, player: Player, ApiPath(org_id): ApiPath<String>) -> ApiResult<Json<GameList>> {
    Ok(Json(service::list_games(&app, &player, &org_id).await?))
}

#[utoipa::path(post, path = "/api/v1/orgs/{org_id}/games", tag = "teams", summary = "Create a game (admin+); answers its client key.", request_body = CreateGameRequest, params(("org_id" = String, Path, description = "Organization id")), responses((status = 201, body = Game), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn create_game(
    State(app): State<AppState>,
    player: Player,
    ApiPath(org_id): ApiPath<String>,
    ApiJson(req): ApiJson<CreateGameRequest>,
) -> ApiResult<(StatusCode, Json<Game>)> {
    Ok((StatusCode::CREATED, Json(service::create_game(&app, &player, &org_id, req).await?)))
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}", tag = "teams", summary = "One game (viewer+).", params(("game_id" = String, Path, description = "Game id (slug)")), responses((status = 200, body = Game), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn get_game(State(app): State<AppState>, player: Player, ApiPath(game_id): ApiPath<String>) -> ApiResult<Json<Game>> {
    Ok(Json(service::get_game(&app, &player, &game_id).await?))
}

#[utoipa::path(patch, path = "/api/v1/games/{game_id}", tag = "teams", summary = "Rename or change tier (admin+).", request_body = UpdateGameRequest, params(("game_id" = String, Path, description = "Game id (slug)")), responses((status = 200, body = Game), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn update_game(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateGameRequest>,
) -> ApiResult<Json<Game>> {
    Ok(Json(service::update_game(&app, &player, &game_id, req).await?))
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/client-key/rotate", tag = "teams", summary = "Issue a new client key (admin+).", params(("game_id" = String, Path, description = "Game id (slug)")), responses((status = 200, body = Game), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn rotate_client_key(State(app): State<AppState>, player: Player, ApiPath(game_id): ApiPath<String>) -> ApiResult<Json<Game>> {
    Ok(Json(service::rotate_client_key(&app, &player, &game_id).await?))
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/server-keys", tag = "teams", summary = "Server keys, without secrets (viewer+).", params(("game_id" = String, Path, description = "Game id (slug)")), responses((status = 200, body = ServerKeyList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_server_keys(State(app): State<AppState>, player: Player, ApiPath(game_id): ApiPath<String>) -> ApiResult<Json<ServerKeyList>> {
    Ok(Json(service::list_server_keys(&app, &player, &game_id).await?))
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/server-keys", tag = "teams", summary = "Create a server key (developer+); the secret is shown once.", request_body = CreateServerKeyRequest, params(("game_id" = String, Path, description = "Game id (slug)")), responses((status = 201, body = CreatedServerKey), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn create_server_key(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiJson(req): ApiJson<CreateServerKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedServerKey>)> {
    Ok((StatusCode::CREATED, Json(service::create_server_key(&app, &player, &game_id, req).await?)))
}

#[utoipa::path(delete, path = "/api/v1/games/{game_id}/server-keys/{key_id}", tag = "teams", summary = "Revoke a server key (developer+).", params(("game_id" = String, Path, description = "Game id (slug)"), ("key_id" = String, Path, description = "Server key id")), responses((status = 200, body = ServerKeyList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn revoke_server_key(
    State(app): State<AppState>,
    player: Player,
    ApiPath((game_id, key_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<ServerKeyList>> {
    Ok(Json(service::revoke_server_key(&app, &player, &game_id, &key_id).await?))
}
