//! MessagePack frames (`auth.encoding = msgpack`) beside JSON ones in the same room.

use std::time::Duration;

use aethex_protocol::multiplayer::{ClientMessage, Encoding, ServerMessage};
use futures::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[tokio::test]
async fn msgpack_clients_get_binary_frames_with_the_same_messages() {
    let w = World::start(&[]).await;
    // `auth` as JSON text (what the SDK sends); every frame after it is MessagePack.
    let pm = w.player().await;
    let mut m = Client::connect(&w.relay, &pm.token, Encoding::Msgpack).await;
    let code = code_of(&m.create_room(4, None).await);
    let mut j = w.client().await;
    j.join_code(&code, None).await;
    let jid = j.player_id.clone();
    m.expect("player_joined", |x| matches!(x, ServerMessage::PlayerJoined { player } if player.player_id == jid).then_some(())).await;

    // State both ways: each gets the other's state in its own encoding.
    m.send(&ClientMessage::StateUpdate {
        ack: None,
        timestamp: 7,
        data: json!({"pos": [1.5, -2], "name": "mp", "big": 1u64 << 40}).as_object().cloned().unwrap(),
    })
    .await;
    j.send(&ClientMessage::StateUpdate { ack: None, timestamp: 8, data: json!({"hp": 3}).as_object().cloned().unwrap() }).await;
    let (tick, states) =
        j.expect("state_batch", |x| if let ServerMessage::StateBatch { tick, states } = x { Some((*tick, states.clone())) } else { None }).await;
    assert!(tick > 0);
    assert_eq!(serde_json::Value::Object(states[0].data.clone()), json!({"pos": [1.5, -2], "name": "mp", "big": 1u64 << 40}));
    assert_eq!(states[0].timestamp, 7);
    let states = m.expect("state_batch", |x| if let ServerMessage::StateBatch { states, .. } = x { Some(states.clone()) } else { None }).await;
    assert_eq!(serde_json::Value::Object(states[0].data.clone()), json!({"hp": 3}));

    // Broadcasts (serialized once per encoding) reach both kinds of client.
    let mut k = w.client().await;
    k.join_code(&code, None).await;
    k.send(&ClientMessage::Chat { text: "hello both".into(), to: None }).await;
    for c in [&mut m, &mut j] {
        c.expect("chat", |x| matches!(x, ServerMessage::Chat { text, .. } if text == "hello both").then_some(())).await;
    }
    // `read` panics on a frame in the wrong encoding, so every frame so far was right;
    // errors and pongs too.
    m.send(&ClientMessage::Rpc { method: "x".into(), target: "nobody".into(), args: vec![] }).await;
    assert_eq!(m.expect_error().await.0, -32004);
    m.send(&ClientMessage::Ping { t: 5 }).await;
    m.expect("pong", |x| matches!(x, ServerMessage::Pong { t: 5 }).then_some(())).await;
    // A JSON client may still send text frames after choosing msgpack? It may: the relay
    // reads both, and answers in the chosen encoding.
    m.ws.send(Message::Text(r#"{"type":"ping","t":6}"#.into())).await.unwrap();
    m.expect("pong", |x| matches!(x, ServerMessage::Pong { t: 6 }).then_some(())).await;
}

#[tokio::test]
async fn auth_may_itself_be_msgpack() {
    let w = World::start(&[]).await;
    let p = w.player().await;
    let mut ws = dial(&w.relay).await;
    ws.send(encode(&ClientMessage::Auth { token: p.token.clone(), encoding: Encoding::Msgpack, resume: None }, Encoding::Msgpack)).await.unwrap();
    match read(&mut ws, Encoding::Msgpack, WAIT).await {
        Got::Msg(ServerMessage::AuthOk { player_id, encoding: Encoding::Msgpack, .. }) => assert_eq!(player_id, p.id),
        other => panic!("{other:?}"),
    }
    // A malformed MessagePack frame is a malformed message like any other.
    ws.send(Message::Binary(vec![0x81, 0xa4, b't', b'y', b'p', b'e', 0xc0].into())).await.unwrap();
    let (reason, _) = expect_disconnect(&mut ws, Encoding::Msgpack).await;
    assert!(reason.starts_with("malformed message"), "{reason}");
    tokio::time::sleep(Duration::from_millis(10)).await;
}
