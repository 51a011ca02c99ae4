//! Which error type goes where:
//!
//! - [`Refusal`]: a client request the relay declines (not in a room, room full, chat too
//!   fast, ...). The client gets `error {code, message, reason}` and the connection goes on.
//! - [`Kick`]: the relay ends a connection (malformed frame, flooding, failed auth, a
//!   newer connection took the seat, ...). The client gets `disconnect {reason}` and a close
//!   frame with the same reason; the room goes on without it.
//! - [`RelayError`]: the node cannot start (bad settings, a port taken). `main` reports it.

use aethex_protocol::multiplayer::ServerMessage;
use aethex_protocol::rpc::ErrorCode;

/// A refused request: answered with `error`, the connection stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: &'static str,
    pub reason: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: &'static str, reason: impl Into<String>) -> Self {
        Self { code, message, reason: reason.into() }
    }
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, "Invalid params", reason)
    }
    pub fn invalid_request(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_REQUEST, "Invalid request", reason)
    }
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::UNAUTHORIZED, "Unauthorized", reason)
    }
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::FORBIDDEN, "Forbidden", reason)
    }
    pub fn not_found(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::NOT_FOUND, "Not found", reason)
    }
    pub fn conflict(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::CONFLICT, "Conflict", reason)
    }
    pub fn rate_limited(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::RATE_LIMITED, "Rate limited", reason)
    }
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::UNAVAILABLE, "Unavailable", reason)
    }
    pub fn not_in_room() -> Self {
        Self::conflict("not in a room: join_room or create_room first")
    }

    pub fn to_message(&self) -> ServerMessage {
        ServerMessage::Error { code: self.code.0, message: self.message.to_string(), reason: Some(self.reason.clone()) }
    }
}

/// Why the relay ends a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kick {
    /// A frame that is not a client message (bad JSON/MessagePack, unknown `type`, ...).
    Malformed(String),
    /// A frame over `limits.max_frame_bytes`.
    Oversize,
    /// More frames than `limits.messages_per_sec` allows.
    Flood,
    /// No `auth` within `relay.auth_timeout_ms`.
    AuthTimeout,
    /// The first message was something else than `auth`.
    NotAuthFirst,
    /// The access token was refused.
    Unauthorized(String),
    /// Origin's signing keys could not be had.
    KeysUnavailable,
    /// The client reads slower than the room writes (`limits.max_queued_frames`).
    SlowConsumer,
    /// Nothing heard from the client, not even a pong.
    Idle,
    /// The same player opened another connection to the same seat.
    Replaced,
    /// The node is stopping.
    Shutdown,
}

/// Number of [`Kick`] kinds (metrics index them).
pub const KICK_KINDS: usize = 11;

impl Kick {
    /// Text of `disconnect.reason` and of the close frame (kept under 123 bytes).
    pub fn reason(&self) -> String {
        let r = match self {
            Kick::Malformed(detail) => format!("malformed message: {detail}"),
            Kick::Oversize => "frame too large".into(),
            Kick::Flood => "too many messages".into(),
            Kick::AuthTimeout => "no auth message in time".into(),
            Kick::NotAuthFirst => "the first message must be auth".into(),
            Kick::Unauthorized(detail) => format!("unauthorized: {detail}"),
            Kick::KeysUnavailable => "cannot verify tokens right now".into(),
            Kick::SlowConsumer => "client too slow".into(),
            Kick::Idle => "connection idle".into(),
            Kick::Replaced => "replaced by a newer connection".into(),
            Kick::Shutdown => "relay shutting down".into(),
        };
        truncate(r, 120)
    }

    /// Short label for metrics.
    pub fn label(&self) -> &'static str {
        KICK_LABELS[self.index()]
    }

    pub fn index(&self) -> usize {
        match self {
            Kick::Malformed(_) => 0,
            Kick::Oversize => 1,
            Kick::Flood => 2,
            Kick::AuthTimeout => 3,
            Kick::NotAuthFirst => 4,
            Kick::Unauthorized(_) => 5,
            Kick::KeysUnavailable => 6,
            Kick::SlowConsumer => 7,
            Kick::Idle => 8,
            Kick::Replaced => 9,
            Kick::Shutdown => 10,
        }
    }

    /// WebSocket close code.
    pub fn close_code(&self) -> u16 {
        match self {
            Kick::Oversize => 1009,
            Kick::KeysUnavailable => 1011,
            Kick::SlowConsumer => 1013,
            Kick::Shutdown => 1001,
            Kick::Replaced | Kick::Idle => 1000,
            _ => 1008,
        }
    }

    /// Whether the player's seat is held for a resume (a connection problem) rather than
    /// freed (abuse of the protocol; the seat goes with `player_left`).
    pub fn holds_seat(&self) -> bool {
        matches!(self, Kick::SlowConsumer | Kick::Idle | Kick::Shutdown | Kick::KeysUnavailable)
    }
}

pub const KICK_LABELS: [&str; KICK_KINDS] =
    ["malformed", "oversize", "flood", "auth_timeout", "not_auth_first", "unauthorized", "keys_unavailable", "slow", "idle", "replaced", "shutdown"];

/// `s` cut to at most `max` bytes on a character boundary.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The node cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("relay.region: {0}")]
    Region(String),
    #[error("relay.origin_url is required (origin's base URL)")]
    NoOrigin,
    #[error("relay.cluster_key is required (one of origin's relay keys, multiplayer.relay_keys)")]
    NoClusterKey,
    #[error("relay.public_url must be a ws:// or wss:// URL, got {0:?}")]
    PublicUrl(String),
    #[error("relay.metrics_listen must be host:port or empty, got {0:?}")]
    MetricsListen(String),
    #[error("binding {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("relay.redis_url: {0}")]
    Redis(String),
    #[error("game logic: {0}")]
    Logic(String),
    #[error(transparent)]
    Tls(#[from] aethex_runtime::tls::TlsError),
}
