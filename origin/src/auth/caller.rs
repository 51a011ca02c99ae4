//! Who a request is from: the identity types every domain takes, and how a credential is
//! verified (a player's access token of a live session, or a game's server key). The
//! transport only extracts them (`crate::http::extract`).

use std::net::{IpAddr, SocketAddr};

use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::HeaderMap;

use aethex_protocol::headers::CLIENT_KEY;
use aethex_protocol::teams::SERVER_KEY_PREFIX;

use crate::error::ApiError;
use crate::state::AppState;

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
        let forwarded = if app.config.server.trust_forwarded_for || app.peers.forwarded_by_edge(headers) {
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
        let key = crate::teams::server_key::verify(&app.db, token).await?;
        return Ok(Caller::Server(ServerCaller { key_id: key.key_id, game_id: key.game_id }));
    }
    // Always verified here, also when an edge forwarded the request: claims an edge (or
    // anyone with its key) asserts are never taken on trust.
    let claims = app.tokens.verify(token).map_err(|e| ApiError::unauthorized(e.to_string()))?;
    if !crate::auth::store::session_is_live(&app.db, &claims.sid, &claims.sub).await? {
        return Err(ApiError::unauthorized("session has ended"));
    }
    crate::console::actor::note(&claims.sub);
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

impl Player {
    /// The game the token was issued for (logins with a client key); routes that act in
    /// the token's game refuse a token without one.
    pub fn game(&self) -> Result<&str, super::NoGame> {
        self.game_id.as_deref().ok_or(super::NoGame)
    }
}
