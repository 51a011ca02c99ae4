//! JSON-RPC 2.0 at `POST /api/v1/rpc`: the same operations as the REST routes, through
//! the same service functions. A single call answers with the HTTP status its error
//! implies (200 on success); a batch (at most 50 calls) answers 200 with one response per
//! call that had an id.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use aethex_protocol::leaderboards::parse_limit;
use aethex_protocol::rpc::{ErrorCode, ErrorEnvelope, RpcResponse, JSONRPC_VERSION};
use aethex_protocol::saves::{DeleteParams, HistoryParams, ListParams, LoadParams, RestoreParams, SaveRequest};

use crate::auth::caller::{authenticate, authenticate_player, ClientInfo};
use crate::auth::{account, sessions};
use crate::error::ApiError;
use crate::http::extract::json_error;
use crate::saves::service as saves;
use crate::state::AppState;

pub const MAX_BATCH: usize = 50;

/// Methods this endpoint answers, for discovery and docs.
pub const METHODS: &[&str] = &[
    "auth.register",
    "auth.login",
    "auth.device_login",
    "auth.refresh",
    "auth.logout",
    "auth.logout_all",
    "auth.get_profile",
    "auth.update_profile",
    "auth.link_email",
    "auth.list_sessions",
    "auth.change_password",
    "auth.request_email_verification",
    "auth.verify_email",
    "auth.request_password_reset",
    "auth.reset_password",
    "auth.oauth_start",
    "auth.oauth_complete",
    "saves.save",
    "saves.load",
    "saves.list",
    "saves.delete",
    "saves.history",
    "saves.restore",
    "leaderboards.submit_score",
    "leaderboards.get",
    "leaderboards.around_me",
    "achievements.unlock",
    "achievements.set_progress",
    "achievements.get_all",
    "stats.update",
    "stats.get",
    "regions.list",
    "matchmaking.join_queue",
    "matchmaking.get_ticket",
    "matchmaking.cancel",
    "matchmaking.accept",
    "matchmaking.my_tickets",
];

pub async fn rpc_endpoint(State(app): State<AppState>, client: ClientInfo, headers: HeaderMap, body: Bytes) -> Response {
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return single_error(Value::Null, json_error(e)),
    };
    match parsed {
        Value::Array(calls) => {
            if calls.is_empty() || calls.len() > MAX_BATCH {
                let why = format!("a batch must hold 1 to {MAX_BATCH} calls");
                return single_error(Value::Null, ApiError::new(ErrorCode::INVALID_REQUEST, "Invalid request").field("batch", why));
            }
            let mut out = Vec::new();
            for call in calls {
                let (id, notification, result) = handle(&app, &headers, &client, call).await;
                if !notification {
                    out.push(to_response(id, result));
                }
            }
            if out.is_empty() {
                StatusCode::NO_CONTENT.into_response()
            } else {
                Json(out).into_response()
            }
        }
        call => {
            let (id, notification, result) = handle(&app, &headers, &client, call).await;
            match result {
                Ok(_) if notification => StatusCode::NO_CONTENT.into_response(),
                Ok(data) => Json(RpcResponse::success(id, data)).into_response(),
                Err(e) => single_error(id, e),
            }
        }
    }
}

fn to_response(id: Value, result: Result<Value, ApiError>) -> RpcResponse<Value> {
    match result {
        Ok(data) => RpcResponse::success(id, data),
        Err(e) => RpcResponse::failure(id, *e.error),
    }
}

fn single_error(id: Value, e: ApiError) -> Response {
    let status = e.http_status();
    let retry = e.retry_after;
    let mut resp = (status, Json(ErrorEnvelope::new(id, *e.error))).into_response();
    if let Some(secs) = retry {
        if let Ok(v) = secs.to_string().parse() {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
    }
    resp
}

/// Validates the envelope and runs the call. Returns (id, is notification, result).
async fn handle(app: &AppState, headers: &HeaderMap, client: &ClientInfo, call: Value) -> (Value, bool, Result<Value, ApiError>) {
    let Value::Object(mut obj) = call else {
        return (Value::Null, false, Err(invalid_request("a call must be a JSON object")));
    };
    let notification = !obj.contains_key("id");
    let id = obj.remove("id").unwrap_or(Value::Null);
    if !matches!(id, Value::Null | Value::String(_) | Value::Number(_)) {
        return (Value::Null, false, Err(invalid_request("id must be a string, a number or null")));
    }
    if obj.get("jsonrpc").and_then(Value::as_str) != Some(JSONRPC_VERSION) {
        return (id, false, Err(invalid_request("jsonrpc must be \"2.0\"")));
    }
    let Some(method) = obj.get("method").and_then(Value::as_str).map(str::to_string) else {
        return (id, false, Err(invalid_request("method must be a string")));
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return (id, notification, Err(ApiError::invalid_params("params", "params must be an object (named parameters)"))),
    };
    let result = dispatch(app, headers, client, &method, params).await;
    (id, notification, result)
}

fn invalid_request(reason: &str) -> ApiError {
    ApiError::new(ErrorCode::INVALID_REQUEST, "Invalid request").reason(reason)
}

fn params<T: DeserializeOwned>(p: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(p)).map_err(json_error)
}

fn ok<T: Serialize>(v: T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(ApiError::internal)
}

/// Removes an optional `user_id` (string) from params: the player a server key acts for.
fn take_user_id(p: &mut Map<String, Value>) -> Result<Option<String>, ApiError> {
    match p.remove("user_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid_params("user_id", "user_id must be a string")),
    }
}

async fn dispatch(app: &AppState, headers: &HeaderMap, client: &ClientInfo, method: &str, mut p: Map<String, Value>) -> Result<Value, ApiError> {
    match method {
        "auth.register" => ok(account::register(app, params(p)?, client).await?),
        "auth.login" => ok(sessions::login(app, params(p)?, client).await?),
        "auth.device_login" => ok(sessions::device_login(app, params(p)?, client).await?),
        "auth.refresh" => ok(sessions::refresh(app, params(p)?, client).await?),
        "auth.verify_email" => {
            let player = crate::auth::caller::optional_player(app, headers).await?;
            ok(account::verify_email(app, params(p)?, player.as_ref(), client).await?)
        }
        "auth.request_password_reset" => ok(account::request_password_reset(app, params(p)?, client).await?),
        "auth.reset_password" => ok(account::reset_password(app, params(p)?, client).await?),
        "auth.oauth_start" => {
            let provider = match p.remove("provider") {
                Some(Value::String(s)) => s,
                _ => return Err(ApiError::invalid_params("provider", "provider must be google, github or discord")),
            };
            let player = crate::auth::caller::optional_player(app, headers).await?;
            ok(crate::auth::oauth::start(app, &provider, player.as_ref(), params(p)?, client).await?)
        }
        "auth.oauth_complete" => ok(crate::auth::oauth::complete(app, params(p)?, client).await?),
        "auth.logout" => {
            let player = authenticate_player(app, headers).await?;
            ok(sessions::logout(app, &player, params(p)?).await?)
        }
        "auth.logout_all" => {
            let player = authenticate_player(app, headers).await?;
            no_params(p)?;
            ok(sessions::logout_all(app, &player).await?)
        }
        "auth.get_profile" | "auth.profile" => {
            let player = authenticate_player(app, headers).await?;
            no_params(p)?;
            ok(account::get_profile(app, &player).await?)
        }
        "auth.update_profile" => {
            let player = authenticate_player(app, headers).await?;
            ok(account::update_profile(app, &player, params(p)?).await?)
        }
        "auth.link_email" => {
            let player = authenticate_player(app, headers).await?;
            ok(account::link_email(app, &player, params(p)?).await?)
        }
        "auth.list_sessions" => {
            let player = authenticate_player(app, headers).await?;
            no_params(p)?;
            ok(serde_json::json!({ "sessions": sessions::list_sessions(app, &player).await? }))
        }
        "auth.change_password" => {
            let player = authenticate_player(app, headers).await?;
            ok(account::change_password(app, &player, params(p)?).await?)
        }
        "auth.request_email_verification" => {
            let player = authenticate_player(app, headers).await?;
            no_params(p)?;
            ok(account::request_email_verification(app, &player).await?)
        }
        "saves.save" => {
            let caller = authenticate(app, headers).await?;
            let user = take_user_id(&mut p)?;
            let req: SaveRequest = params(p)?;
            let actor = saves::actor_for(app, &caller, user.as_deref()).await?;
            ok(saves::save(app, &actor, req).await?)
        }
        "saves.load" => {
            let caller = authenticate(app, headers).await?;
            let req: LoadParams = params(p)?;
            let actor = saves::actor_for(app, &caller, req.user_id.as_deref()).await?;
            ok(saves::load(app, &actor, &req.slot_name, req.version).await?)
        }
        "saves.list" => {
            let caller = authenticate(app, headers).await?;
            let req: ListParams = params(p)?;
            let actor = saves::actor_for(app, &caller, req.user_id.as_deref()).await?;
            ok(saves::list(app, &actor).await?)
        }
        "saves.delete" => {
            let caller = authenticate(app, headers).await?;
            let req: DeleteParams = params(p)?;
            let actor = saves::actor_for(app, &caller, req.user_id.as_deref()).await?;
            ok(saves::delete(app, &actor, &req.slot_name).await?)
        }
        "saves.history" => {
            let caller = authenticate(app, headers).await?;
            let req: HistoryParams = params(p)?;
            let actor = saves::actor_for(app, &caller, req.user_id.as_deref()).await?;
            ok(saves::history(app, &actor, req.slot_name.as_deref()).await?)
        }
        "saves.restore" => {
            let caller = authenticate(app, headers).await?;
            let req: RestoreParams = params(p)?;
            let actor = saves::actor_for(app, &caller, req.user_id.as_deref()).await?;
            ok(saves::restore(app, &actor, &req.slot_name, req.version).await?)
        }
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
        "regions.list" => {
            no_params(p)?;
            ok(crate::regions::service::list(app).await?)
        }
        "matchmaking.join_queue" => {
            let caller = authenticate(app, headers).await?;
            ok(crate::matchmaking::service::create_ticket(app, &caller, params(p)?).await?)
        }
        "matchmaking.get_ticket" => {
            let caller = authenticate(app, headers).await?;
            let q: TicketParams = params(p)?;
            ok(crate::matchmaking::service::get_ticket(app, &caller, &q.ticket_id, q.wait_ms.unwrap_or(0), q.user_id.as_deref()).await?)
        }
        "matchmaking.cancel" => {
            let caller = authenticate(app, headers).await?;
            let q: CancelParams = params(p)?;
            ok(crate::matchmaking::service::cancel_ticket(app, &caller, &q.ticket_id).await?)
        }
        "matchmaking.accept" => {
            let caller = authenticate(app, headers).await?;
            let q: CancelParams = params(p)?;
            ok(crate::matchmaking::service::accept_ticket(app, &caller, &q.ticket_id).await?)
        }
        "matchmaking.my_tickets" => {
            let caller = authenticate(app, headers).await?;
            no_params(p)?;
            ok(crate::matchmaking::service::my_tickets(app, &caller).await?)
        }
        other => Err(ApiError::new(ErrorCode::METHOD_NOT_FOUND, "Method not found")
            .field("method", format!("unknown method {other:?}"))
            .status(StatusCode::NOT_FOUND)),
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

/// `matchmaking.get_ticket` params.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketParams {
    ticket_id: String,
    #[serde(default)]
    wait_ms: Option<u64>,
    /// Server keys: whose room ticket (a party member's).
    #[serde(default)]
    user_id: Option<String>,
}

/// `matchmaking.cancel` params.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelParams {
    ticket_id: String,
}

/// Removes a required string field from the params.
fn take_string(p: &mut Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match p.remove(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::invalid_params(field, format!("{field} must be a string"))),
        None => Err(ApiError::invalid_params(field, format!("{field} is required"))),
    }
}

fn no_params(p: Map<String, Value>) -> Result<(), ApiError> {
    match p.keys().next() {
        Some(k) => Err(ApiError::invalid_params(k.clone(), format!("unknown field `{k}`; this method takes no params"))),
        None => Ok(()),
    }
}
