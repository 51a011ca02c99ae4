//! REST transport for organizations, members, games and keys.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};

use aethex_protocol::teams::{
    AddMemberRequest, CreateGameRequest, CreateOrgRequest, CreateServerKeyRequest, CreatedServerKey, Game, GameList,
    MemberList, Org, OrgList, ServerKeyList, UpdateGameRequest, UpdateMemberRequest,
};

use super::service;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, Player};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/orgs", post(create_org).get(list_orgs))
        .route("/api/v1/orgs/{org_id}", get(get_org))
        .route("/api/v1/orgs/{org_id}/members", get(list_members).post(add_member))
        .route("/api/v1/orgs/{org_id}/members/{user_id}", put(update_member).delete(remove_member))
        .route("/api/v1/orgs/{org_id}/games", get(list_games).post(create_game))
        .route("/api/v1/games/{game_id}", get(get_game).patch(update_game))
        .route("/api/v1/games/{game_id}/client-key/rotate", post(rotate_client_key))
        .route("/api/v1/games/{game_id}/server-keys", get(list_server_keys).post(create_server_key))
        .route("/api/v1/games/{game_id}/server-keys/{key_id}", axum::routing::delete(revoke_server_key))
}

async fn create_org(State(app): State<AppState>, player: Player, ApiJson(req): ApiJson<CreateOrgRequest>) -> ApiResult<(StatusCode, Json<Org>)> {
    Ok((StatusCode::CREATED, Json(service::create_org(&app, &player, req).await?)))
}

async fn list_orgs(State(app): State<AppState>, player: Player) -> ApiResult<Json<OrgList>> {
    Ok(Json(service::list_orgs(&app, &player).await?))
}

async fn get_org(State(app): State<AppState>, player: Player, ApiPath(org_id): ApiPath<String>) -> ApiResult<Json<Org>> {
    Ok(Json(service::get_org(&app, &player, &org_id).await?))
}

async fn list_members(State(app): State<AppState>, player: Player, ApiPath(org_id): ApiPath<String>) -> ApiResult<Json<MemberList>> {
    Ok(Json(service::list_members(&app, &player, &org_id).await?))
}

async fn add_member(
    State(app): State<AppState>,
    player: Player,
    ApiPath(org_id): ApiPath<String>,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> ApiResult<(StatusCode, Json<MemberList>)> {
    Ok((StatusCode::CREATED, Json(service::add_member(&app, &player, &org_id, req).await?)))
}

async fn update_member(
    State(app): State<AppState>,
    player: Player,
    ApiPath((org_id, user_id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<UpdateMemberRequest>,
) -> ApiResult<Json<MemberList>> {
    Ok(Json(service::update_member(&app, &player, &org_id, &user_id, req).await?))
}

async fn remove_member(
    State(app): State<AppState>,
    player: Player,
    ApiPath((org_id, user_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<MemberList>> {
    Ok(Json(service::remove_member(&app, &player, &org_id, &user_id).await?))
}

async fn list_games(State(app): State<AppState>, player: Player, ApiPath(org_id): ApiPath<String>) -> ApiResult<Json<GameList>> {
    Ok(Json(service::list_games(&app, &player, &org_id).await?))
}

async fn create_game(
    State(app): State<AppState>,
    player: Player,
    ApiPath(org_id): ApiPath<String>,
    ApiJson(req): ApiJson<CreateGameRequest>,
) -> ApiResult<(StatusCode, Json<Game>)> {
    Ok((StatusCode::CREATED, Json(service::create_game(&app, &player, &org_id, req).await?)))
}

async fn get_game(State(app): State<AppState>, player: Player, ApiPath(game_id): ApiPath<String>) -> ApiResult<Json<Game>> {
    Ok(Json(service::get_game(&app, &player, &game_id).await?))
}

async fn update_game(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateGameRequest>,
) -> ApiResult<Json<Game>> {
    Ok(Json(service::update_game(&app, &player, &game_id, req).await?))
}

async fn rotate_client_key(State(app): State<AppState>, player: Player, ApiPath(game_id): ApiPath<String>) -> ApiResult<Json<Game>> {
    Ok(Json(service::rotate_client_key(&app, &player, &game_id).await?))
}

async fn list_server_keys(State(app): State<AppState>, player: Player, ApiPath(game_id): ApiPath<String>) -> ApiResult<Json<ServerKeyList>> {
    Ok(Json(service::list_server_keys(&app, &player, &game_id).await?))
}

async fn create_server_key(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiJson(req): ApiJson<CreateServerKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedServerKey>)> {
    Ok((StatusCode::CREATED, Json(service::create_server_key(&app, &player, &game_id, req).await?)))
}

async fn revoke_server_key(
    State(app): State<AppState>,
    player: Player,
    ApiPath((game_id, key_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<ServerKeyList>> {
    Ok(Json(service::revoke_server_key(&app, &player, &game_id, &key_id).await?))
}
