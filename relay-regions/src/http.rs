//! HTTP routes of a relay:
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `GET /v1/ping` | anyone | a tiny 200 for round-trip measurement (CORS open) |
//! | `GET /healthz` | anyone | `ok` |
//! | `POST /v1/rooms` | relay key (origin) | opens a room for a match (`OpenRoomRequest` -> `OpenRoomResponse`) |
//! | `GET /v1/rooms` | relay key (origin) | live rooms (`[RoomSummary]`) |
//! | `POST /v1/presence` | relay key (origin) | which of the asked players are connected (`PresenceQuery` -> `PresenceAnswer`) |
//! | `GET /v1/multiplayer` | players | the WebSocket ([`crate::session`]) |
//!
//! Refusals answer the seed's error envelope (`{"jsonrpc":"2.0","id":null,"error":{…}}`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use aethex_protocol::multiplayer::{
    OpenRoomRequest, OpenRoomResponse, PresenceAnswer, PresenceQuery, MAX_PRESENCE_QUERY, RELAY_KEY_HEADER, RELAY_PING_PATH, RELAY_WS_PATH,
};
use aethex_protocol::rpc::{ErrorEnvelope, RpcError};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::error::Refusal;
use crate::session;
use crate::state::Relay;
use crate::ws::WsStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

pub fn router(relay: Arc<Relay>) -> Router {
    Router::new()
        .route(RELAY_PING_PATH, get(ping))
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/rooms", get(list_rooms).post(open_room))
        .route("/v1/presence", post(presence))
        .route(RELAY_WS_PATH, get(upgrade))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(relay)
}

async fn ping() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store"), (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], "pong")
}

/// The metrics listener's routes (`relay.metrics_listen`, apart from the players' port):
/// `GET /metrics`, Prometheus text.
pub fn metrics_router(relay: Arc<Relay>) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(relay)
}

async fn metrics(State(relay): State<Arc<Relay>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], relay.metrics.render())
}

fn refuse(r: Refusal) -> Response {
    let status = StatusCode::from_u16(r.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = ErrorEnvelope::new(serde_json::Value::Null, RpcError::new(r.code, r.message).with_reason(r.reason));
    (status, Json(body)).into_response()
}

fn check_cluster_key(relay: &Relay, headers: &HeaderMap) -> Result<(), Refusal> {
    let given = headers.get(RELAY_KEY_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    let want = relay.cluster_key.as_bytes();
    let same = given.len() == want.len() && given.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same && !want.is_empty() {
        Ok(())
    } else {
        Err(Refusal::unauthorized(format!("this route needs the relay key in {RELAY_KEY_HEADER}")))
    }
}

async fn open_room(State(relay): State<Arc<Relay>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check_cluster_key(&relay, &headers) {
        return refuse(r);
    }
    let req: OpenRoomRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refuse(Refusal::invalid(format!("body is not an OpenRoomRequest: {e}"))),
    };
    let game: Arc<str> = req.game_id.as_str().into();
    let logic = match relay.logic.binding(&game).await {
        Ok(b) => b,
        Err(r) => return refuse(r),
    };
    match relay.open_match_room(req, logic) {
        Ok(room) => Json(OpenRoomResponse { room_id: room.id.to_string(), url: relay.ws_url.clone() }).into_response(),
        Err(r) => refuse(r),
    }
}

async fn list_rooms(State(relay): State<Arc<Relay>>, headers: HeaderMap) -> Response {
    if let Err(r) = check_cluster_key(&relay, &headers) {
        return refuse(r);
    }
    Json(relay.summaries()).into_response()
}

async fn presence(State(relay): State<Arc<Relay>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check_cluster_key(&relay, &headers) {
        return refuse(r);
    }
    let q: PresenceQuery = match serde_json::from_slice(&body) {
        Ok(q) => q,
        Err(e) => return refuse(Refusal::invalid(format!("body is not a PresenceQuery: {e}"))),
    };
    if q.user_ids.len() > MAX_PRESENCE_QUERY {
        return refuse(Refusal::invalid(format!("at most {MAX_PRESENCE_QUERY} user_ids per query")));
    }
    Json(PresenceAnswer { online: relay.online(&q.user_ids) }).into_response()
}

async fn upgrade(State(relay): State<Arc<Relay>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, mut req: Request) -> Response {
    let key = match websocket_key(&req) {
        Ok(k) => k,
        Err(r) => return refuse(r),
    };
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return refuse(Refusal::invalid("this connection cannot be upgraded to a WebSocket"));
    };
    if relay.metrics.connections.load(Ordering::Relaxed) >= i64::from(relay.capacity) {
        return refuse(Refusal::unavailable("this relay is full; try another region"));
    }
    // Unauthenticated sockets are capped per address, so one client cannot fill the node.
    let slot = match relay.preauth_slot(peer.ip()) {
        Ok(s) => s,
        Err(r) => return refuse(r),
    };
    // The transport's own limit sits above ours, so a frame a little too large still gets
    // a `disconnect` with the reason (ours), and a huge one is refused before it is read.
    let hard_max = relay.limits.max_frame_bytes.saturating_mul(4).max(64 * 1024);
    tokio::spawn(async move {
        // The client went away between the answer and the upgrade: nothing to serve.
        if let Ok(upgraded) = on_upgrade.await {
            let ws = WsStream::new(hyper_util::rt::TokioIo::new(upgraded), hard_max);
            session::serve(relay, ws, slot).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, derive_accept_key(key.as_bytes()))
        .body(axum::body::Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The `Sec-WebSocket-Key` of a valid RFC 6455 opening handshake (HTTP/1.1 GET with
/// `Connection: upgrade`, `Upgrade: websocket`, version 13), or why it is not one.
fn websocket_key(req: &Request) -> Result<HeaderValue, Refusal> {
    let headers = req.headers();
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if req.version() != Version::HTTP_11 {
        return Err(Refusal::invalid("a WebSocket upgrade needs HTTP/1.1"));
    }
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return Err(Refusal::invalid("this route is a WebSocket: send Connection: upgrade and Upgrade: websocket"));
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        return Err(Refusal::invalid("Sec-WebSocket-Version must be 13"));
    }
    // A 16-byte nonce in base64 is 24 characters.
    match headers.get(header::SEC_WEBSOCKET_KEY) {
        Some(k) if k.len() == 24 => Ok(k.clone()),
        _ => Err(Refusal::invalid("Sec-WebSocket-Key is missing or not 16 bytes in base64")),
    }
}
