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
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::error::Refusal;
use crate::session;
use crate::state::Relay;

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

async fn upgrade(State(relay): State<Arc<Relay>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, ws: WebSocketUpgrade) -> Response {
    if relay.metrics.connections.load(Ordering::Relaxed) >= i64::from(relay.capacity) {
        return refuse(Refusal::unavailable("this relay is full; try another region"));
    }
    // Unauthenticated sockets are capped per address, so one client cannot fill the node.
    let slot = match relay.preauth_slot(peer.ip()) {
        Ok(s) => s,
        Err(r) => return refuse(r),
    };
    let limits = &relay.limits;
    // tungstenite's own limit sits above ours, so a frame a little too large still gets
    // a `disconnect` with the reason (ours), and a huge one is refused before it is read.
    let hard_max = limits.max_frame_bytes.saturating_mul(4).max(64 * 1024);
    ws.read_buffer_size(limits.read_buffer_bytes.max(256))
        .write_buffer_size(0)
        .max_message_size(hard_max)
        .max_frame_size(hard_max)
        .on_upgrade(move |socket| session::serve(relay, socket, slot))
}
