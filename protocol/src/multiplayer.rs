//! Multiplayer: the relay's WebSocket protocol (the seed's `auth`, `join_room`,
//! `leave_room`, `state_update`, `player_state`, `rpc`, `room_joined`, `room_left`,
//! `player_joined`, `player_left`, plus chat, voice signalling, P2P introductions and
//! resume), room tickets, and the relay's HTTP API for origin.
//!
//! Every message is an object with a `type`. Frames are JSON text by default; a client
//! that asks for `msgpack` in its `auth` gets MessagePack binary frames (the same objects)
//! from the `auth_ok` on, and sends them too.
//!
//! State sync: clients send `state_update` (any JSON object; top-level keys are fields).
//! The relay merges each player's fields and, on a fixed tick (20 Hz by default), sends
//! each client a `state_batch` of `player_state`s holding only the fields that changed
//! since the tick that client last acknowledged (`ack`); a field set to `null` was removed.
//! `room_joined` carries the full snapshot.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::validate::Invalid;

/// WebSocket path of a relay.
pub const RELAY_WS_PATH: &str = "/v1/multiplayer";
/// Path a client pings to measure round-trip time to a relay.
pub const RELAY_PING_PATH: &str = "/v1/ping";
/// The relay key (origin's `multiplayer.relay_keys`): relays present it to origin's relay
/// routes (register, heartbeat, backfill), and origin to the relay that registered with it.
/// Edge keys are not relay keys, nor the other way round.
pub const RELAY_KEY_HEADER: &str = "x-aethex-relay-key";
/// `aud` of room tickets.
pub const TICKET_AUDIENCE: &str = "aethex-relay";

/// Frame encodings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    #[default]
    Json,
    Msgpack,
}

/// Where an `rpc` goes: one player (`"<player id>"`), `"all"` (the others) or `"host"`.
pub type RpcTarget = String;

/// Options of a room a client creates itself (a private room joined by code).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoomOptions {
    /// Players the room holds (2 to 64; the relay's limit applies).
    pub max_players: u32,
    /// Players must give it to join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Anything the game wants every member to see.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
}

/// Client -> relay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The first message: an access token (checked with origin's public keys), the frame
    /// encoding wanted, and a resume token to reclaim a seat after a drop.
    Auth {
        token: String,
        #[serde(default)]
        encoding: Encoding,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// Join by a signed room ticket (from the matchmaker) or by room id / code.
    JoinRoom {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        #[serde(default)]
        player_data: Value,
    },
    /// Creates a private room and joins it (its code is in `room_joined`).
    CreateRoom {
        #[serde(flatten)]
        options: RoomOptions,
        #[serde(default)]
        player_data: Value,
    },
    LeaveRoom,
    StateUpdate {
        #[serde(default)]
        timestamp: u64,
        data: Map<String, Value>,
        /// An `ack` riding along (a client streaming its state acknowledges batches here
        /// instead of in frames of their own).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ack: Option<u64>,
    },
    /// The client has applied everything up to this tick (deltas are computed from it).
    Ack {
        tick: u64,
    },
    Rpc {
        method: String,
        target: RpcTarget,
        #[serde(default)]
        args: Vec<Value>,
    },
    /// Text chat to the room, or to one player (`to`).
    Chat {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// WebRTC signalling relayed to one room member (`kind`: offer, answer, ice).
    VoiceSignal {
        to: String,
        kind: String,
        payload: Value,
    },
    /// Opts in to (or out of) the relay of voice frames.
    VoiceEnable {
        enabled: bool,
    },
    /// An opaque, already encrypted voice frame (base64) for the room's voice members.
    VoiceFrame {
        data: String,
    },
    /// Stops (or resumes) receiving one player's voice.
    VoiceMute {
        player_id: String,
        muted: bool,
    },
    /// Asks for a nonce to send in a UDP datagram to the relay's P2P endpoint.
    P2pRegister,
    /// Exchanges both players' public UDP addresses so they can punch through NAT.
    P2pIntroduce {
        to: String,
    },
    Ping {
        #[serde(default)]
        t: u64,
    },
}

/// A member of a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerInfo {
    pub player_id: String,
    #[serde(default)]
    pub player_data: Value,
    /// Seat held for a dropped player until the grace period ends.
    #[serde(default)]
    pub connected: bool,
}

/// One player's state in a batch: the seed's `player_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerState {
    pub player_id: String,
    pub timestamp: u64,
    pub data: Map<String, Value>,
}

/// Relay -> client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    AuthOk {
        player_id: String,
        encoding: Encoding,
        tick_hz: u32,
        /// Set when `auth` carried a resume token that reclaimed a seat (a `room_joined`
        /// with the full snapshot follows).
        #[serde(default)]
        resumed: bool,
    },
    RoomJoined {
        room_id: String,
        /// Private rooms: the code others join with (`ABCD-1234`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        host: String,
        max_players: u32,
        players: Vec<PlayerInfo>,
        /// Every player's full state.
        snapshot: Vec<PlayerState>,
        tick: u64,
        /// Reclaims this seat after a drop (`auth.resume`) within the grace period.
        resume_token: String,
        #[serde(default, skip_serializing_if = "Map::is_empty")]
        properties: Map<String, Value>,
    },
    /// The private room asked for is on another relay of this region: connect to `url`
    /// (a relay WebSocket URL) and send the same `join_room` there.
    Redirect {
        url: String,
        room_id: String,
    },
    RoomLeft {
        room_id: String,
        reason: String,
    },
    PlayerJoined {
        player: PlayerInfo,
    },
    PlayerLeft {
        player_id: String,
        reason: String,
    },
    /// A player dropped; their seat is held for `grace_secs`.
    PlayerDisconnected {
        player_id: String,
        grace_secs: u32,
    },
    PlayerReconnected {
        player_id: String,
    },
    /// The states that changed since the client's acknowledged tick.
    StateBatch {
        tick: u64,
        states: Vec<PlayerState>,
    },
    Rpc {
        from: String,
        method: String,
        #[serde(default)]
        args: Vec<Value>,
    },
    Chat {
        from: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    HostChanged {
        host: String,
    },
    VoiceSignal {
        from: String,
        kind: String,
        payload: Value,
    },
    VoiceFrame {
        from: String,
        data: String,
    },
    P2pNonce {
        nonce: String,
        /// `host:port` of the relay's UDP endpoint.
        udp: String,
    },
    /// A room member's public UDP address (as the relay saw it).
    P2pCandidate {
        player_id: String,
        address: String,
    },
    Pong {
        t: u64,
    },
    /// A request was refused (the seed's error object shape, without the envelope).
    Error {
        code: i32,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The relay closes the connection, and why.
    Disconnect {
        reason: String,
    },
}

/// Claims of a room ticket (a JWT signed by origin with its token key, EdDSA).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomTicketClaims {
    pub iss: String,
    /// [`TICKET_AUDIENCE`].
    pub aud: String,
    /// The player it admits.
    pub sub: String,
    pub game: String,
    pub room: String,
    pub region: String,
    #[serde(rename = "match")]
    pub match_id: String,
    pub iat: u64,
    pub exp: u64,
}

/// `POST /v1/rooms` on a relay (edge/cluster key): origin opens a room for a match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenRoomRequest {
    pub game_id: String,
    pub match_id: String,
    pub mode: String,
    pub max_players: u32,
    /// Players the room expects (tickets name them).
    pub players: Vec<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenRoomResponse {
    pub room_id: String,
    /// WebSocket URL players connect to.
    pub url: String,
}

/// `GET /v1/rooms` on a relay (edge/cluster key): live rooms, for operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub room_id: String,
    pub game_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_id: Option<String>,
    pub players: u32,
    pub max_players: u32,
}

/// Most players one presence query may ask about.
pub const MAX_PRESENCE_QUERY: usize = 1000;

/// `POST /v1/presence` on a relay (cluster key): which of these players are connected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceQuery {
    pub user_ids: Vec<String>,
}

/// One connected player, as a relay sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnlinePlayer {
    pub user_id: String,
    /// The game of the player's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game_id: Option<String>,
    /// Seated in a room now.
    pub in_room: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PresenceAnswer {
    /// The asked players connected to this relay (the others are not).
    pub online: Vec<OnlinePlayer>,
}

/// A room code: 4 upper-case letters, `-`, 4 digits (`ABCD-1234`).
pub fn is_room_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 9 && b[..4].iter().all(u8::is_ascii_uppercase) && b[4] == b'-' && b[5..].iter().all(u8::is_ascii_digit)
}

/// A chat line: 1 to 500 characters, no control characters but newlines.
pub fn check_chat(text: &str) -> Result<(), Invalid> {
    let n = text.chars().count();
    if !(1..=500).contains(&n) {
        return Err(Invalid::new("text", "a chat message is 1 to 500 characters"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Invalid::new("text", "a chat message cannot contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seed_messages_parse() {
        let join: ClientMessage = serde_json::from_value(json!({
            "type": "join_room", "room_id": "ABCD-1234",
            "player_data": {"username": "Player1", "character": "warrior", "level": 10}
        }))
        .unwrap();
        assert!(matches!(join, ClientMessage::JoinRoom { room_id: Some(ref r), .. } if r == "ABCD-1234"));
        let state: ClientMessage = serde_json::from_value(json!({
            "type": "state_update", "timestamp": 1234567890,
            "data": {"position": {"x": 100, "y": 200, "z": 50}, "rotation": {"x": 0, "y": 45, "z": 0}, "health": 80, "custom": {}}
        }))
        .unwrap();
        assert!(matches!(state, ClientMessage::StateUpdate { timestamp: 1234567890, .. }));
        let rpc: ClientMessage =
            serde_json::from_value(json!({"type": "rpc", "method": "take_damage", "target": "player_id_67890", "args": [25, "fire"]})).unwrap();
        assert!(matches!(rpc, ClientMessage::Rpc { ref method, .. } if method == "take_damage"));
        let auth: ClientMessage = serde_json::from_value(json!({"type": "auth", "token": "jwt"})).unwrap();
        assert_eq!(auth, ClientMessage::Auth { token: "jwt".into(), encoding: Encoding::Json, resume: None });
        let out = serde_json::to_value(ServerMessage::PlayerLeft { player_id: "p".into(), reason: "left".into() }).unwrap();
        assert_eq!(out, json!({"type": "player_left", "player_id": "p", "reason": "left"}));
        assert!(serde_json::from_value::<ClientMessage>(json!({"type": "nope"})).is_err());
    }

    #[test]
    fn codes_and_chat() {
        assert!(is_room_code("ABCD-1234") && !is_room_code("abcd-1234") && !is_room_code("ABCD1234"));
        assert!(check_chat("hi\nthere").is_ok() && check_chat("").is_err() && check_chat(&"x".repeat(501)).is_err() && check_chat("a\u{7}").is_err());
    }
}
