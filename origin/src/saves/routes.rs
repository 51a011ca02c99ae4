//! REST transport for cloud saves: the seed's `/api/v1/saves/:user_id[/:save_id]` routes.
//! `:user_id` is the caller's own id (or `me`); a server key may name any player of its
//! game. `:save_id` is a slot name, or the UUID `save_id` of one version.

use crate::auth::caller::authenticate;
use crate::error::ApiError;
use crate::http::jsonrpc::*;
use aethex_protocol::saves::DeleteParams;
use aethex_protocol::saves::HistoryParams;
use aethex_protocol::saves::ListParams;
use aethex_protocol::saves::LoadParams;
use aethex_protocol::saves::RestoreParams;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::Map;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::routes;

use aethex_protocol::saves::{DeleteResponse, LoadResponse, RestoreRequest, SaveHistory, SaveList, SaveRequest, SaveResponse};

use aethex_protocol::rpc::ErrorEnvelope;

use super::service::{self, actor_for};
use crate::auth::caller::Caller;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

/// Body limit of the save route: the largest save, base64-encoded, plus room for the
/// JSON around it.
pub fn save_body_limit(max_save_bytes: usize) -> usize {
    max_save_bytes / 3 * 4 + 64 * 1024
}

pub fn router(max_save_bytes: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_saves, save_game).layer(DefaultBodyLimit::max(save_body_limit(max_save_bytes))))
        .routes(routes!(save_history))
        .routes(routes!(load_save, delete_save))
        .routes(routes!(restore_save))
}

#[utoipa::path(get, path = "/api/v1/saves/{user_id}", tag = "saves", summary = "List slots (newest version of each) with used and allowed bytes.", params(("user_id" = String, Path, description = "The player's user id, or `me`")), responses((status = 200, body = SaveList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_saves(State(app): State<AppState>, caller: Caller, ApiPath(user_id): ApiPath<String>) -> ApiResult<Json<SaveList>> {
    let actor = actor_for(&app, &caller, Some(&user_id)).await?;
    Ok(Json(service::list(&app, &actor).await?))
}

#[utoipa::path(post, path = "/api/v1/saves/{user_id}", tag = "saves", summary = "Write the next version of a slot.", request_body = SaveRequest, params(("user_id" = String, Path, description = "The player's user id, or `me`")), responses((status = 200, body = SaveResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn save_game(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(req): ApiJson<SaveRequest>,
) -> ApiResult<Json<SaveResponse>> {
    let actor = actor_for(&app, &caller, Some(&user_id)).await?;
    Ok(Json(service::save(&app, &actor, req).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    slot_name: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/saves/{user_id}/history", tag = "saves", summary = "Kept versions, newest first (`?slot_name=` for one slot).", params(("user_id" = String, Path, description = "The player's user id, or `me`"), ("slot_name" = Option<String>, Query, description = "Only this slot")), responses((status = 200, body = SaveHistory), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn save_history(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<SaveHistory>> {
    let actor = actor_for(&app, &caller, Some(&user_id)).await?;
    Ok(Json(service::history(&app, &actor, q.slot_name.as_deref()).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadQuery {
    version: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/saves/{user_id}/{save_id}", tag = "saves", summary = "Load a slot (newest, or `?version=`), or one version by save id.", params(("user_id" = String, Path, description = "The player's user id, or `me`"), ("save_id" = String, Path, description = "A slot name, or the UUID save id of one version"), ("version" = Option<i64>, Query, description = "A kept version of the slot", minimum = 1)), responses((status = 200, body = LoadResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn load_save(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((user_id, save_id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<LoadQuery>,
) -> ApiResult<Json<LoadResponse>> {
    let actor = actor_for(&app, &caller, Some(&user_id)).await?;
    Ok(Json(service::load(&app, &actor, &save_id, q.version).await?))
}

#[utoipa::path(delete, path = "/api/v1/saves/{user_id}/{save_id}", tag = "saves", summary = "Delete a slot and all its versions.", params(("user_id" = String, Path, description = "The player's user id, or `me`"), ("save_id" = String, Path, description = "A slot name, or the save id of any of its versions")), responses((status = 200, body = DeleteResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn delete_save(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((user_id, save_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<DeleteResponse>> {
    let actor = actor_for(&app, &caller, Some(&user_id)).await?;
    Ok(Json(service::delete(&app, &actor, &save_id).await?))
}

#[utoipa::path(post, path = "/api/v1/saves/{user_id}/{save_id}/restore", tag = "saves", summary = "Write a kept version as the slot's next version.", request_body = RestoreRequest, params(("user_id" = String, Path, description = "The player's user id, or `me`"), ("save_id" = String, Path, description = "A slot name")), responses((status = 200, body = SaveResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn restore_save(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((user_id, save_id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<RestoreRequest>,
) -> ApiResult<Json<SaveResponse>> {
    let actor = actor_for(&app, &caller, Some(&user_id)).await?;
    Ok(Json(service::restore(&app, &actor, &save_id, req.version).await?))
}

/// This domain's JSON-RPC methods at `POST /api/v1/rpc` (the same service calls as the
/// REST routes above).
pub const RPC_METHODS: &[&str] = &["saves.save", "saves.load", "saves.list", "saves.delete", "saves.history", "saves.restore"];

/// Runs one of [`RPC_METHODS`].
pub async fn rpc(app: &AppState, headers: &HeaderMap, method: &str, mut p: Map<String, Value>) -> Result<Value, ApiError> {
    match method {
        "saves.save" => {
            let caller = authenticate(app, headers).await?;
            let user = take_user_id(&mut p)?;
            let req: SaveRequest = params(p)?;
            let actor = service::actor_for(app, &caller, user.as_deref()).await?;
            ok(service::save(app, &actor, req).await?)
        }
        "saves.load" => {
            let caller = authenticate(app, headers).await?;
            let req: LoadParams = params(p)?;
            let actor = service::actor_for(app, &caller, req.user_id.as_deref()).await?;
            ok(service::load(app, &actor, &req.slot_name, req.version).await?)
        }
        "saves.list" => {
            let caller = authenticate(app, headers).await?;
            let req: ListParams = params(p)?;
            let actor = service::actor_for(app, &caller, req.user_id.as_deref()).await?;
            ok(service::list(app, &actor).await?)
        }
        "saves.delete" => {
            let caller = authenticate(app, headers).await?;
            let req: DeleteParams = params(p)?;
            let actor = service::actor_for(app, &caller, req.user_id.as_deref()).await?;
            ok(service::delete(app, &actor, &req.slot_name).await?)
        }
        "saves.history" => {
            let caller = authenticate(app, headers).await?;
            let req: HistoryParams = params(p)?;
            let actor = service::actor_for(app, &caller, req.user_id.as_deref()).await?;
            ok(service::history(app, &actor, req.slot_name.as_deref()).await?)
        }
        "saves.restore" => {
            let caller = authenticate(app, headers).await?;
            let req: RestoreParams = params(p)?;
            let actor = service::actor_for(app, &caller, req.user_id.as_deref()).await?;
            ok(service::restore(app, &actor, &req.slot_name, req.version).await?)
        }
        other => Err(method_not_found(other)),
    }
}
