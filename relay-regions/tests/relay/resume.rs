//! Reconnect with resume, grace expiry, and a second connection taking the seat.

use std::time::{Duration, Instant};

use aethex_protocol::multiplayer::{ClientMessage, Encoding, ServerMessage};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_dropped_player_resumes_its_seat_within_the_grace() {
    let w = World::start(&[]).await;
    let pa = w.player().await;
    let pb = w.player().await;
    let mut a = Client::connect(&w.relay, &pa.token, Encoding::Json).await;
    let code = code_of(&a.create_room(4, None).await);
    let mut b = Client::connect(&w.relay, &pb.token, Encoding::Json).await;
    let ServerMessage::RoomJoined { room_id, resume_token, .. } = b.join_code(&code, None).await else { unreachable!() };
    a.send(&ClientMessage::StateUpdate { ack: None, timestamp: 1, data: json!({"hp": 5}).as_object().cloned().unwrap() }).await;
    b.send(&ClientMessage::StateUpdate { ack: None, timestamp: 2, data: json!({"ammo": 7}).as_object().cloned().unwrap() }).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // B's connection dies (no leave_room).
    drop(b);
    let bid = pb.id.clone();
    let grace = a
        .expect("player_disconnected", |m| match m {
            ServerMessage::PlayerDisconnected { player_id, grace_secs } if *player_id == bid => Some(*grace_secs),
            _ => None,
        })
        .await;
    assert_eq!(grace, 30);
    // Another user cannot use B's resume token.
    let pc = w.player().await;
    let (_, resumed) = Client::connect_resume(&w.relay, &pc.token, Encoding::Json, Some(resume_token.clone())).await;
    assert!(!resumed);
    // B comes back: same seat, full snapshot (its own state included), others told.
    let (mut b2, resumed) = Client::connect_resume(&w.relay, &pb.token, Encoding::Json, Some(resume_token.clone())).await;
    assert!(resumed);
    let ServerMessage::RoomJoined { room_id: r2, resume_token: t2, snapshot, players, .. } = b2.next().await else {
        panic!("room_joined must follow")
    };
    assert_eq!((r2, t2), (room_id, resume_token));
    let of = |id: &str| snapshot.iter().find(|s| s.player_id == id).map(|s| serde_json::Value::Object(s.data.clone()));
    assert_eq!(of(&pa.id), Some(json!({"hp": 5})));
    assert_eq!(of(&pb.id), Some(json!({"ammo": 7})));
    assert_eq!(players.len(), 2);
    assert!(players.iter().all(|p| p.connected));
    a.expect("player_reconnected", |m| matches!(m, ServerMessage::PlayerReconnected { player_id } if *player_id == bid).then_some(())).await;
    // And it works as before.
    a.send(&ClientMessage::Rpc { method: "hi".into(), target: bid.clone(), args: vec![] }).await;
    b2.expect("rpc", |m| matches!(m, ServerMessage::Rpc { method, .. } if method == "hi").then_some(())).await;
    assert!(metric(&w.relay, "aethex_relay_resumes_total").await >= 1.0);
}

#[tokio::test]
async fn a_seat_frees_after_the_grace_and_the_empty_room_closes() {
    let w = World::start(&[("AETHEX_RELAY__RESUME_GRACE_SECS", "1")]).await;
    let pb = w.player().await;
    let mut a = w.client().await;
    let code = code_of(&a.create_room(4, None).await);
    let mut b = Client::connect(&w.relay, &pb.token, Encoding::Json).await;
    let ServerMessage::RoomJoined { resume_token, .. } = b.join_code(&code, None).await else { unreachable!() };
    b.close().await;
    let bid = pb.id.clone();
    let dropped_at = Instant::now();
    a.expect("player_disconnected", |m| {
        matches!(m, ServerMessage::PlayerDisconnected { player_id, grace_secs: 1 } if *player_id == bid).then_some(())
    })
    .await;
    let reason = a
        .expect("player_left", |m| match m {
            ServerMessage::PlayerLeft { player_id, reason } if *player_id == bid => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert_eq!(reason, "timeout");
    assert!(dropped_at.elapsed() >= Duration::from_millis(900), "{:?}", dropped_at.elapsed());
    let (_, resumed) = Client::connect_resume(&w.relay, &pb.token, Encoding::Json, Some(resume_token)).await;
    assert!(!resumed, "too late");

    // The last player drops too: after the grace the room is gone.
    a.close().await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let mut c = w.client().await;
    c.send(&join(&code, None)).await;
    assert_eq!(c.expect_error().await.0, -32004);
    assert_eq!(metric(&w.relay, "aethex_relay_rooms").await, 0.0);
    assert_eq!(metric(&w.relay, "aethex_relay_seats").await, 0.0);
}

#[tokio::test]
async fn a_second_connection_of_the_same_player_replaces_the_first() {
    let w = World::start(&[]).await;
    let pb = w.player().await;
    let mut a = w.client().await;
    let code = code_of(&a.create_room(4, None).await);
    let mut b1 = Client::connect(&w.relay, &pb.token, Encoding::Json).await;
    let ServerMessage::RoomJoined { resume_token, .. } = b1.join_code(&code, None).await else { unreachable!() };
    let mut b2 = Client::connect(&w.relay, &pb.token, Encoding::Json).await;
    let ServerMessage::RoomJoined { resume_token: t2, players, .. } = b2.join_code(&code, None).await else { unreachable!() };
    assert_eq!(t2, resume_token, "the same seat");
    assert_eq!(players.len(), 2, "no duplicate seat");
    let (reason, close) = b1.expect_disconnect().await;
    assert_eq!(reason, "replaced by a newer connection");
    assert_eq!(close.unwrap().reason.as_str(), reason);
    // A saw B join once and never leave; messages reach the new connection.
    let seen = a.collect(Duration::from_millis(300)).await;
    assert_eq!(seen.iter().filter(|m| matches!(m, ServerMessage::PlayerJoined { .. })).count(), 1, "{seen:?}");
    assert!(!seen.iter().any(|m| matches!(m, ServerMessage::PlayerLeft { .. } | ServerMessage::PlayerDisconnected { .. })), "{seen:?}");
    a.send(&ClientMessage::Rpc { method: "ping".into(), target: pb.id.clone(), args: vec![] }).await;
    b2.expect("rpc", |m| matches!(m, ServerMessage::Rpc { method, .. } if method == "ping").then_some(())).await;
    // A resume with the token while B2 is live also takes the seat over.
    let (mut b3, resumed) = Client::connect_resume(&w.relay, &pb.token, Encoding::Json, Some(resume_token)).await;
    assert!(resumed);
    b3.joined().await;
    assert_eq!(b2.expect_disconnect().await.0, "replaced by a newer connection");
}
