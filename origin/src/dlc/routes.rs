//! REST transport for DLC: publishing (server key or developer role), channels,
//! entitlements, and the player routes edges also serve.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::routes;

use aethex_protocol::dlc::{
    CreateReleaseRequest, Entitlement, EntitlementList, ManifestKey, ManifestKeyList, MissingChunksRequest, MissingChunksResponse, PromoteRequest,
    RegisterKeyRequest, Release, ReleaseList, ReleaseManifest, RollbackRequest, UpdateCheck, CHUNK_ENCODING_HEADER, MAX_CHUNK_BYTES,
    MAX_MANIFEST_BYTES,
};
use aethex_protocol::rpc::ErrorEnvelope;
use aethex_protocol::validate::GameSlug;

use super::service;
use crate::auth::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new()
        .routes(routes!(register_key))
        .routes(routes!(delete_key))
        .routes(routes!(missing_chunks).layer(DefaultBodyLimit::max(2 * 1024 * 1024)))
        .routes(routes!(upload_chunk).layer(DefaultBodyLimit::max(MAX_CHUNK_BYTES as usize + 64 * 1024)))
        // The manifest travels as an escaped JSON string: allow for the escaping.
        .routes(routes!(list_releases, create_release).layer(DefaultBodyLimit::max(2 * MAX_MANIFEST_BYTES + 64 * 1024)))
        .routes(routes!(promote_release))
        .routes(routes!(rollback_channel))
        .routes(routes!(delete_release))
        .routes(routes!(grant_entitlement, revoke_entitlement))
        .routes(routes!(manifest_keys))
        .routes(routes!(my_entitlements))
        .routes(routes!(get_chunk))
        .routes(routes!(current_manifest))
        .routes(routes!(version_manifest))
        .routes(routes!(check_update));
    // A wildcard has no OpenAPI form: served at `{*path}`, documented under `{path}`.
    crate::openapi::served_at(router, "/api/v1/dlc/{game_id}/{channel}/files/{*path}", routes!(stream_file))
}

fn game(raw: &str) -> Result<String, ApiError> {
    Ok(GameSlug::parse(raw)?.into_inner())
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/manifest-keys", tag = "dlc", summary = "Register an Ed25519 key that signs the game's release manifests (server key or developer+).", request_body = RegisterKeyRequest, params(("game_id" = String, Path, description = "Game id")), responses((status = 201, body = ManifestKey), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn register_key(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(g): ApiPath<String>,
    ApiJson(req): ApiJson<RegisterKeyRequest>,
) -> ApiResult<(StatusCode, Json<ManifestKey>)> {
    Ok((StatusCode::CREATED, Json(service::register_key(&app, &caller, &game(&g)?, req).await?)))
}

#[utoipa::path(delete, path = "/api/v1/games/{game_id}/manifest-keys/{key_id}", tag = "dlc", summary = "Withdraw a manifest signing key (releases it signed stay).", params(("game_id" = String, Path, description = "Game id"), ("key_id" = String, Path, description = "Key id")), responses((status = 204), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn delete_key(State(app): State<AppState>, caller: Caller, ApiPath((g, key_id)): ApiPath<(String, String)>) -> ApiResult<StatusCode> {
    service::delete_key(&app, &caller, &game(&g)?, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/chunks/missing", tag = "dlc", summary = "Which of these chunk ids origin lacks (publish uploads only those).", request_body = MissingChunksRequest, params(("game_id" = String, Path, description = "Game id")), responses((status = 200, body = MissingChunksResponse), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn missing_chunks(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(g): ApiPath<String>,
    ApiJson(req): ApiJson<MissingChunksRequest>,
) -> ApiResult<Json<MissingChunksResponse>> {
    Ok(Json(service::missing_chunks(&app, &caller, &game(&g)?, req).await?))
}

#[utoipa::path(put, path = "/api/v1/games/{game_id}/chunks/{chunk_id}", tag = "dlc", summary = "Upload a chunk's stored bytes (x-aethex-chunk-encoding: zstd|identity); checked by blake3 before it is stored.", params(("game_id" = String, Path, description = "Game id"), ("chunk_id" = String, Path, description = "blake3 of the plain bytes")), responses((status = 201, description = "stored"), (status = 200, description = "already held"), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn upload_chunk(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath((g, id)): ApiPath<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let encoding = headers.get(CHUNK_ENCODING_HEADER).and_then(|v| v.to_str().ok());
    let fresh = service::upload_chunk(&app, &caller, &game(&g)?, &id, encoding, body.to_vec()).await?;
    let status = if fresh { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(serde_json::json!({"chunk_id": id, "stored": true}))).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelQuery {
    channel: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/releases", tag = "dlc", summary = "Releases, newest first per channel (server key or developer+).", params(("game_id" = String, Path, description = "Game id"), ("channel" = Option<String>, Query, description = "Only this channel")), responses((status = 200, body = ReleaseList), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_releases(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(g): ApiPath<String>,
    ApiQuery(q): ApiQuery<ChannelQuery>,
) -> ApiResult<Json<ReleaseList>> {
    Ok(Json(service::list_releases(&app, &caller, &game(&g)?, q.channel.as_deref()).await?))
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/releases", tag = "dlc", summary = "Create a release from a signed manifest whose chunks are uploaded; its channel then serves it.", request_body = CreateReleaseRequest, params(("game_id" = String, Path, description = "Game id")), responses((status = 201, body = Release), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn create_release(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(g): ApiPath<String>,
    ApiJson(req): ApiJson<CreateReleaseRequest>,
) -> ApiResult<(StatusCode, Json<Release>)> {
    Ok((StatusCode::CREATED, Json(service::create_release(&app, &caller, &game(&g)?, req).await?)))
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/releases/{version}/promote", tag = "dlc", summary = "Release the same signed build on another channel.", request_body = PromoteRequest, params(("game_id" = String, Path, description = "Game id"), ("version" = String, Path, description = "Version")), responses((status = 200, body = Release), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn promote_release(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((g, version)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<PromoteRequest>,
) -> ApiResult<Json<Release>> {
    Ok(Json(service::promote(&app, &caller, &game(&g)?, &version, req).await?))
}

#[utoipa::path(post, path = "/api/v1/games/{game_id}/channels/{channel}/rollback", tag = "dlc", summary = "Point a channel back at an earlier release (the previous one by default).", request_body = RollbackRequest, params(("game_id" = String, Path, description = "Game id"), ("channel" = String, Path, description = "Channel")), responses((status = 200, body = Release), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn rollback_channel(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((g, channel)): ApiPath<(String, String)>,
    OptionalJson(req): OptionalJson<RollbackRequest>,
) -> ApiResult<Json<Release>> {
    Ok(Json(service::rollback(&app, &caller, &game(&g)?, &channel, req).await?))
}

#[utoipa::path(delete, path = "/api/v1/games/{game_id}/channels/{channel}/releases/{version}", tag = "dlc", summary = "Delete a release no channel serves; chunks no other release uses are collected by the next garbage collection once they are older than the grace period.", params(("game_id" = String, Path, description = "Game id"), ("channel" = String, Path, description = "Channel"), ("version" = String, Path, description = "Version")), responses((status = 204), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn delete_release(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((g, channel, version)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    service::delete_release(&app, &caller, &game(&g)?, &channel, &version).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v1/games/{game_id}/entitlements/{user_id}/{entitlement}", tag = "dlc", summary = "Grant a player an entitlement (server key or developer+).", params(("game_id" = String, Path, description = "Game id"), ("user_id" = String, Path, description = "Player"), ("entitlement" = String, Path, description = "Entitlement")), responses((status = 200, body = Entitlement), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn grant_entitlement(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((g, user, ent)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Entitlement>> {
    Ok(Json(service::grant(&app, &caller, &game(&g)?, &user, &ent).await?))
}

#[utoipa::path(delete, path = "/api/v1/games/{game_id}/entitlements/{user_id}/{entitlement}", tag = "dlc", summary = "Revoke a player's entitlement.", params(("game_id" = String, Path, description = "Game id"), ("user_id" = String, Path, description = "Player"), ("entitlement" = String, Path, description = "Entitlement")), responses((status = 204), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn revoke_entitlement(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((g, user, ent)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    service::revoke(&app, &caller, &game(&g)?, &user, &ent).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/dlc/{game_id}/keys", tag = "dlc", summary = "The game's manifest signing keys (public).", params(("game_id" = String, Path, description = "Game id")), responses((status = 200, body = ManifestKeyList), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn manifest_keys(State(app): State<AppState>, ApiPath(g): ApiPath<String>) -> ApiResult<Json<ManifestKeyList>> {
    Ok(Json(service::keys(&app, &game(&g)?).await?))
}

#[utoipa::path(get, path = "/api/v1/dlc/{game_id}/entitlements", tag = "dlc", summary = "The player's entitlements in the game.", params(("game_id" = String, Path, description = "Game id")), responses((status = 200, body = EntitlementList), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn my_entitlements(State(app): State<AppState>, caller: Caller, ApiPath(g): ApiPath<String>) -> ApiResult<Json<EntitlementList>> {
    Ok(Json(service::my_entitlements(&app, &caller, &game(&g)?).await?))
}

#[utoipa::path(get, path = "/api/v1/dlc/{game_id}/chunks/{chunk_id}", tag = "dlc", summary = "A chunk's stored bytes: public, immutable, ETag = id, Range.", params(("game_id" = String, Path, description = "Game id"), ("chunk_id" = String, Path, description = "blake3 of the plain bytes")), responses((status = 200, description = "the stored bytes"), (status = 206, description = "a range"), (status = 304), (status = "4XX", body = ErrorEnvelope)))]
async fn get_chunk(State(app): State<AppState>, headers: HeaderMap, ApiPath((g, id)): ApiPath<(String, String)>) -> ApiResult<Response> {
    let etag = format!("\"{id}\"");
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let (bytes, compression) = service::chunk(&app, &game(&g)?, &id).await?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let core_req = aethex_edge::Request { headers: range.map(|r| [("range", r)].into_iter().collect()).unwrap_or_default(), ..Default::default() };
    let resp = aethex_edge::Response::new(200)
        .with_header("content-type", "application/octet-stream")
        .with_header("cache-control", "public, max-age=31536000, immutable")
        .with_header("etag", etag)
        .with_header(CHUNK_ENCODING_HEADER, compression.as_str());
    Ok(to_axum(aethex_edge::delivery::ranged(&core_req, &bytes, resp)))
}

/// An edge-core response as an axum one.
fn to_axum(r: aethex_edge::Response) -> Response {
    let mut resp = Response::new(axum::body::Body::from(r.body));
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in r.headers.iter() {
        if let (Ok(name), Ok(value)) = (header::HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            resp.headers_mut().append(name, value);
        }
    }
    resp
}

#[utoipa::path(get, path = "/api/v1/dlc/{game_id}/{channel}/manifest", tag = "dlc", summary = "The signed manifest the channel serves (player of the game with the release's entitlement, or server key).", params(("game_id" = String, Path, description = "Game id"), ("channel" = String, Path, description = "Channel")), responses((status = 200, body = ReleaseManifest), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn current_manifest(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((g, channel)): ApiPath<(String, String)>,
) -> ApiResult<Json<ReleaseManifest>> {
    Ok(Json(service::manifest(&app, &caller, &game(&g)?, &channel, None).await?))
}

#[utoipa::path(get, path = "/api/v1/dlc/{game_id}/{channel}/manifest/{version}", tag = "dlc", summary = "The signed manifest of one version of the channel.", params(("game_id" = String, Path, description = "Game id"), ("channel" = String, Path, description = "Channel"), ("version" = String, Path, description = "Version")), responses((status = 200, body = ReleaseManifest), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn version_manifest(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((g, channel, version)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<ReleaseManifest>> {
    Ok(Json(service::manifest(&app, &caller, &game(&g)?, &channel, Some(&version)).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateQuery {
    current: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/dlc/{game_id}/{channel}/update", tag = "dlc", summary = "Is there a newer release than `current`?", params(("game_id" = String, Path, description = "Game id"), ("channel" = String, Path, description = "Channel"), ("current" = Option<String>, Query, description = "The version the client has")), responses((status = 200, body = UpdateCheck), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn check_update(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((g, channel)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<UpdateQuery>,
) -> ApiResult<Json<UpdateCheck>> {
    Ok(Json(service::update_check(&app, &caller, &game(&g)?, &channel, q.current.as_deref()).await?))
}

#[utoipa::path(get, path = "/api/v1/dlc/{game_id}/{channel}/files/{path}", tag = "dlc", summary = "Asset streaming: one file's plain bytes, or the part Range asks for.", params(("game_id" = String, Path, description = "Game id"), ("channel" = String, Path, description = "Channel"), ("path" = String, Path, description = "File path in the release")), responses((status = 200, description = "the file"), (status = 206, description = "a range"), (status = "4XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn stream_file(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath((g, channel, path)): ApiPath<(String, String, String)>,
) -> ApiResult<Response> {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (body, start, end, size, blake3) = service::file_bytes(&app, &caller, &game(&g)?, &channel, &path, range).await?;
    let mut resp = (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::ACCEPT_RANGES, "bytes".to_string()),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
            (header::HeaderName::from_static("x-aethex-file-blake3"), blake3),
        ],
        body,
    )
        .into_response();
    if (start, end) != (0, size) {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1)) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}
