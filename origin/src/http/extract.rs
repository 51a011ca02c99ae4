//! Extractors. Each rejects with [`ApiError`], so every malformed request gets the
//! seed's error object: malformed JSON -32700, wrong types -32602, oversize 413,
//! missing or bad credentials 401.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use aethex_protocol::headers::CLIENT_KEY;
use aethex_protocol::rpc::ErrorCode;
use aethex_protocol::teams::SERVER_KEY_PREFIX;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body. `Content-Type` must be JSON; the body must parse into `T`.
pub struct ApiJson<T>(pub T);

/// Parses a JSON body, classifying the failure as the seed's error object.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(json_error)
}

pub fn json_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::new(ErrorCode::PARSE_ERROR, "Parse error").field("body", format!("malformed JSON: {e}"))
        }
        Category::Data => {
            let msg = e.to_string();
            // serde names the field in messages like "missing field `email`" or "unknown field `x`".
            let field = msg.split('`').nth(1).filter(|f| !f.contains(' ')).unwrap_or("body").to_string();
            ApiError::invalid_params(field, msg)
        }
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let ct = ct.to_ascii_lowercase();
                ct.starts_with("application/json") || (ct.starts_with("application/") && ct.contains("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(ErrorCode::INVALID_REQUEST, "Invalid request")
                .field("content-type", "expected application/json")
                .status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = body_bytes(req, state).await?;
        Ok(ApiJson(parse_json(&bytes)?))
    }
}

/// Reads the body within the route's size limit.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PAYLOAD_TOO_LARGE, "Payload too large").field("body", "request body is too large")
        } else {
            ApiError::new(ErrorCode::INVALID_REQUEST, "Invalid request").field("body", rej.body_text())
        }
    })
}

/// Who the request is from, as far as the transport can tell.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The raw client key header, resolved to a game by the service.
    pub client_key: Option<String>,
}

impl ClientInfo {
    pub fn from_parts(app: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>) -> Self {
        // The last X-Forwarded-For entry is the one our proxy (or edge) appended; earlier
        // ones come from the client and could be anything.
        let forwarded = if app.config.server.trust_forwarded_for || app.forwarded_by_edge(headers) {
            headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
        } else {
            None
        };
        let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(256).collect::<String>());
        let client_key = headers.get(CLIENT_KEY).and_then(|v| v.to_str().ok()).map(str::to_string);
        Self { ip: forwarded.or(peer.map(|p| p.ip())), user_agent, client_key }
    }

    pub fn ip_string(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(ClientInfo::from_parts(state, &parts.headers, peer))
    }
}

/// A verified caller: a player (access token of a live session) or a game server (key).
#[derive(Debug, Clone)]
pub enum Caller {
    Player(Player),
    Server(ServerCaller),
}

/// A player signed in with a valid access token whose session is not revoked.
#[derive(Debug, Clone)]
pub struct Player {
    pub user_id: String,
    pub game_id: Option<String>,
    pub session_id: String,
    pub roles: Vec<String>,
}

/// A game's server key.
#[derive(Debug, Clone)]
pub struct ServerCaller {
    pub key_id: String,
    pub game_id: String,
}

/// The bearer credential of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| ApiError::unauthorized("authorization header is not ASCII"))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| ApiError::unauthorized("expected 'Bearer <token>'"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized("expected 'Bearer <token>'"));
    }
    Ok(Some(token.trim()))
}

/// Verifies the request's credential.
pub async fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = bearer(headers)?.ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
    if token.starts_with(SERVER_KEY_PREFIX) {
        let key = crate::teams::service::verify_server_key(app, token).await?;
        return Ok(Caller::Server(key));
    }
    // Always verified here, also when an edge forwarded the request: claims an edge (or
    // anyone with its key) asserts are never taken on trust.
    let claims = app.tokens.verify(token).map_err(|e| ApiError::unauthorized(e.to_string()))?;
    if !crate::auth::store::session_is_live(&app.db, &claims.sid, &claims.sub).await? {
        return Err(ApiError::unauthorized("session has ended"));
    }
    crate::console::audit::note_actor(&claims.sub);
    Ok(Caller::Player(Player { user_id: claims.sub, game_id: claims.game, session_id: claims.sid, roles: claims.roles }))
}

/// Verifies a player's access token (server keys are refused).
pub async fn authenticate_player(app: &AppState, headers: &HeaderMap) -> Result<Player, ApiError> {
    match authenticate(app, headers).await? {
        Caller::Player(p) => Ok(p),
        Caller::Server(_) => Err(ApiError::forbidden("this route needs a player's access token, not a server key")),
    }
}

/// The signed-in player when the request carries a bearer token (which must then be
/// valid), `None` when it carries none: for routes that anyone may call and that do more
/// for a signed-in player.
pub async fn optional_player(app: &AppState, headers: &HeaderMap) -> Result<Option<Player>, ApiError> {
    match bearer(headers)? {
        Some(_) => Ok(Some(authenticate_player(app, headers).await?)),
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.headers).await
    }
}

impl FromRequestParts<AppState> for Player {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate_player(state, &parts.headers).await
    }
}

/// Path parameters with the error shape of the API.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::invalid_params("path", e.body_text()))
    }
}

/// Query parameters with the error shape of the API.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::invalid_params("query", e.body_text()))
    }
}

/// A JSON body that may be absent (empty body = `T::default()`).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(OptionalJson(T::default()));
        }
        Ok(OptionalJson(parse_json(&bytes)?))
    }
}
