//! Frames: client messages in (JSON text or MessagePack binary), server messages out in
//! the connection's encoding.
//!
//! A message for many recipients ([`Outgoing`]) is serialized at most once per encoding
//! and the frame (a reference-counted buffer) is shared by every queue it goes to. State
//! batches differ per recipient (each leaves out the recipient's own state and starts at
//! its last acknowledged tick), so they are assembled from per-player fragments that are
//! serialized once per tick ([`json_batch`], [`msgpack_batch`]).
//!
//! MessagePack frames are maps with field names (`rmp_serde::to_vec_named`): the
//! protocol's enums are internally tagged (`{"type": …}`), which needs named fields to
//! read back, and it keeps JSON and MessagePack the same objects.

use aethex_protocol::multiplayer::{ClientMessage, Encoding, ServerMessage};
use axum::body::Bytes;
use axum::extract::ws::{Message, Utf8Bytes};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use crate::error::{truncate, Kick};

/// Reads a data frame. Text is JSON, binary is MessagePack, whatever the encoding chosen
/// at `auth` (which only decides what the relay sends).
pub fn decode(frame: &Message) -> Result<ClientMessage, Kick> {
    match frame {
        Message::Text(t) => serde_json::from_str(t.as_str()).map_err(|e| Kick::Malformed(truncate(e.to_string(), 90))),
        Message::Binary(b) => rmp_serde::from_slice(b).map_err(|e| Kick::Malformed(truncate(e.to_string(), 90))),
        _ => Err(Kick::Malformed("not a data frame".into())),
    }
}

/// One message in one encoding. Serializing these types cannot fail (string keys, no
/// non-finite floats survive JSON parsing); a failure is logged and yields `None`.
pub fn encode(msg: &impl Serialize, encoding: Encoding) -> Option<Message> {
    match encoding {
        Encoding::Json => match serde_json::to_string(msg) {
            Ok(s) => Some(Message::Text(Utf8Bytes::from(s))),
            Err(e) => {
                tracing::error!(error = %e, "serializing a JSON frame");
                None
            }
        },
        Encoding::Msgpack => match rmp_serde::to_vec_named(msg) {
            Ok(b) => Some(Message::Binary(Bytes::from(b))),
            Err(e) => {
                tracing::error!(error = %e, "serializing a MessagePack frame");
                None
            }
        },
    }
}

/// A message for several recipients, serialized lazily once per encoding.
pub struct Outgoing {
    msg: ServerMessage,
    json: Option<Message>,
    msgpack: Option<Message>,
}

impl Outgoing {
    pub fn new(msg: ServerMessage) -> Self {
        Self { msg, json: None, msgpack: None }
    }

    pub fn frame(&mut self, encoding: Encoding) -> Option<Message> {
        let slot = match encoding {
            Encoding::Json => &mut self.json,
            Encoding::Msgpack => &mut self.msgpack,
        };
        if slot.is_none() {
            *slot = encode(&self.msg, encoding);
        }
        slot.clone()
    }
}

/// One field of a player's state: its value and the tick it last changed at. A removed
/// field stays as `null` (a tombstone) until every connected member has acknowledged it.
#[derive(Debug, Clone)]
pub struct Field {
    pub key: String,
    pub value: Value,
    pub changed: u64,
    /// Approximate size (see [`approx_size`]).
    pub size: u32,
}

/// The fields of one player as a map: those changed after `since` (removals as `null`),
/// or, with `since == 0` and `live_only`, the full state.
pub struct FieldsSince<'a> {
    pub fields: &'a [Field],
    pub since: u64,
    pub live_only: bool,
}

impl FieldsSince<'_> {
    fn includes(&self, f: &Field) -> bool {
        f.changed > self.since && !(self.live_only && f.value.is_null())
    }
}

impl Serialize for FieldsSince<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.fields.iter().filter(|f| self.includes(f)).count();
        let mut m = s.serialize_map(Some(n))?;
        for f in self.fields.iter().filter(|f| self.includes(f)) {
            m.serialize_entry(&f.key, &f.value)?;
        }
        m.end()
    }
}

/// A `player_state` written straight from the field store (no copy of the values).
#[derive(Serialize)]
pub struct PlayerStateView<'a> {
    pub player_id: &'a str,
    pub timestamp: u64,
    pub data: FieldsSince<'a>,
}

/// A serialized `player_state`, for one tick's batches.
pub enum Fragment {
    Json(String),
    Msgpack(Vec<u8>),
}

impl Fragment {
    pub fn of(view: &PlayerStateView<'_>, encoding: Encoding) -> Option<Self> {
        match encoding {
            Encoding::Json => serde_json::to_string(view).ok().map(Fragment::Json),
            Encoding::Msgpack => rmp_serde::to_vec_named(view).ok().map(Fragment::Msgpack),
        }
    }
}

/// `{"type":"state_batch","tick":…,"states":[…]}` from JSON fragments.
pub fn json_batch<'a>(tick: u64, fragments: impl Iterator<Item = &'a str>, len_hint: usize) -> Message {
    let mut s = String::with_capacity(len_hint + 64);
    s.push_str(r#"{"type":"state_batch","tick":"#);
    s.push_str(&tick.to_string());
    s.push_str(r#","states":["#);
    for (i, f) in fragments.enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(f);
    }
    s.push_str("]}");
    Message::Text(Utf8Bytes::from(s))
}

/// The same batch in MessagePack: a 3-entry map whose `states` array holds the fragments.
pub fn msgpack_batch<'a>(tick: u64, fragments: impl ExactSizeIterator<Item = &'a [u8]>, len_hint: usize) -> Message {
    let mut b = Vec::with_capacity(len_hint + 48);
    // Writing into a Vec cannot fail.
    let _ = rmp::encode::write_map_len(&mut b, 3);
    let _ = rmp::encode::write_str(&mut b, "type");
    let _ = rmp::encode::write_str(&mut b, "state_batch");
    let _ = rmp::encode::write_str(&mut b, "tick");
    let _ = rmp::encode::write_uint(&mut b, tick);
    let _ = rmp::encode::write_str(&mut b, "states");
    let _ = rmp::encode::write_array_len(&mut b, fragments.len() as u32);
    for f in fragments {
        b.extend_from_slice(f);
    }
    Message::Binary(Bytes::from(b))
}

/// A cheap estimate of a value's size in bytes (what a player's state costs the room):
/// string and key lengths, 8 per number, 1 per literal, plus a little per container.
pub fn approx_size(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 1,
        Value::Number(_) => 8,
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(approx_size).sum::<usize>(),
        Value::Object(o) => 2 + o.iter().map(|(k, v)| k.len() + 3 + approx_size(v)).sum::<usize>(),
    }
}

/// Payload length of a frame (for the byte counters and the size limit).
pub fn frame_len(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
        Message::Close(_) => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aethex_protocol::multiplayer::{PlayerInfo, PlayerState, RoomOptions};
    use serde_json::{json, Map};

    fn fields() -> Vec<Field> {
        vec![
            Field { key: "pos".into(), value: json!({"x": 1.5, "y": -2}), changed: 3, size: 10 },
            Field { key: "hp".into(), value: json!(80), changed: 5, size: 8 },
            Field { key: "gone".into(), value: Value::Null, changed: 6, size: 1 },
        ]
    }

    fn decode_server(m: &Message) -> ServerMessage {
        match m {
            Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            Message::Binary(b) => rmp_serde::from_slice(b).unwrap(),
            _ => panic!("not data"),
        }
    }

    #[test]
    fn assembled_batches_read_back_as_state_batch_in_both_encodings() {
        let f = fields();
        let views = [
            PlayerStateView { player_id: "a", timestamp: 7, data: FieldsSince { fields: &f, since: 4, live_only: false } },
            PlayerStateView { player_id: "b", timestamp: 9, data: FieldsSince { fields: &f, since: 0, live_only: true } },
        ];
        let want = ServerMessage::StateBatch {
            tick: 300,
            states: vec![
                PlayerState { player_id: "a".into(), timestamp: 7, data: json!({"hp": 80, "gone": null}).as_object().cloned().unwrap() },
                PlayerState {
                    player_id: "b".into(),
                    timestamp: 9,
                    data: json!({"pos": {"x": 1.5, "y": -2}, "hp": 80}).as_object().cloned().unwrap(),
                },
            ],
        };
        let json: Vec<String> = views
            .iter()
            .map(|v| match Fragment::of(v, Encoding::Json).unwrap() {
                Fragment::Json(s) => s,
                Fragment::Msgpack(_) => unreachable!(),
            })
            .collect();
        assert_eq!(decode_server(&json_batch(300, json.iter().map(String::as_str), 0)), want);
        let mp: Vec<Vec<u8>> = views
            .iter()
            .map(|v| match Fragment::of(v, Encoding::Msgpack).unwrap() {
                Fragment::Msgpack(b) => b,
                Fragment::Json(_) => unreachable!(),
            })
            .collect();
        assert_eq!(decode_server(&msgpack_batch(300, mp.iter().map(Vec::as_slice), 0)), want);
        let empty: Vec<&[u8]> = vec![];
        assert_eq!(decode_server(&msgpack_batch(1, empty.into_iter(), 0)), ServerMessage::StateBatch { tick: 1, states: vec![] });
    }

    #[test]
    fn every_message_round_trips_through_msgpack() {
        let props: Map<String, Value> = json!({"map": "dust", "n": 3}).as_object().cloned().unwrap();
        let server = vec![
            ServerMessage::AuthOk { player_id: "p".into(), encoding: Encoding::Msgpack, tick_hz: 20, resumed: true },
            ServerMessage::RoomJoined {
                room_id: "r".into(),
                code: Some("ABCD-1234".into()),
                host: "p".into(),
                max_players: 4,
                players: vec![PlayerInfo { player_id: "p".into(), player_data: json!({"name": "x", "lvl": 3}), connected: true }],
                snapshot: vec![PlayerState { player_id: "p".into(), timestamp: u64::MAX, data: props.clone() }],
                tick: 12,
                resume_token: "t".into(),
                properties: props.clone(),
            },
            ServerMessage::RoomJoined {
                room_id: "r".into(),
                code: None,
                host: "p".into(),
                max_players: 4,
                players: vec![],
                snapshot: vec![],
                tick: 0,
                resume_token: "t".into(),
                properties: Map::new(),
            },
            ServerMessage::PlayerLeft { player_id: "p".into(), reason: "left".into() },
            ServerMessage::Redirect { url: "ws://127.0.0.1:7350/v1/multiplayer".into(), room_id: "ABCD-1234".into() },
            ServerMessage::Rpc { from: "p".into(), method: "m".into(), args: vec![json!(1), json!("x"), json!(null), json!([1.25])] },
            ServerMessage::Chat { from: "p".into(), text: "hi".into(), to: None },
            ServerMessage::Error { code: -32003, message: "Forbidden".into(), reason: Some("no".into()) },
            ServerMessage::Error { code: -32003, message: "Forbidden".into(), reason: None },
            ServerMessage::P2pNonce { nonce: "n".into(), udp: "127.0.0.1:1".into() },
            ServerMessage::Pong { t: 1 << 40 },
        ];
        for m in server {
            let b = rmp_serde::to_vec_named(&m).unwrap();
            assert_eq!(rmp_serde::from_slice::<ServerMessage>(&b).unwrap(), m);
        }
        let client = vec![
            ClientMessage::Auth { token: "t".into(), encoding: Encoding::Msgpack, resume: Some("r".into()) },
            ClientMessage::JoinRoom { room_id: Some("ABCD-1234".into()), ticket: None, password: Some("pw".into()), player_data: json!({"a": 1}) },
            ClientMessage::CreateRoom {
                options: RoomOptions { max_players: 4, password: None, properties: props.clone() },
                player_data: Value::Null,
            },
            ClientMessage::LeaveRoom,
            ClientMessage::StateUpdate { ack: None, timestamp: 5, data: props.clone() },
            ClientMessage::Ack { tick: 3 },
            ClientMessage::VoiceMute { player_id: "p".into(), muted: true },
            ClientMessage::P2pRegister,
        ];
        for m in client {
            let b = rmp_serde::to_vec_named(&m).unwrap();
            assert_eq!(rmp_serde::from_slice::<ClientMessage>(&b).unwrap(), m, "{m:?}");
            // And the JSON text the same message makes decodes as well.
            assert_eq!(decode(&Message::Text(serde_json::to_string(&m).unwrap().into())).unwrap(), m);
        }
    }

    #[test]
    fn bad_frames_are_malformed_not_panics() {
        for bad in [
            Message::Text("{".into()),
            Message::Text(r#"{"type":"nope"}"#.into()),
            Message::Text(r#"{"type":"ack","tick":-1}"#.into()),
            Message::Text("[]".into()),
            Message::Binary(Bytes::from_static(&[0xc1, 0xff, 0x00])),
            Message::Binary(Bytes::new()),
        ] {
            assert!(matches!(decode(&bad), Err(Kick::Malformed(_))), "{bad:?}");
        }
    }
}
