//! `auth`: the first message, verified with origin's public keys.

use std::time::{Duration, Instant};

use aethex_protocol::multiplayer::{ClientMessage, Encoding, ServerMessage};
use futures::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[tokio::test]
async fn a_good_token_is_accepted_and_forgeries_are_disconnected() {
    let w = World::start(&[]).await;
    let p = w.player().await;
    let c = Client::connect(&w.relay, &p.token, Encoding::Json).await;
    assert_eq!(c.player_id, p.id, "auth_ok names the token's player");

    let forged = aethex_tests::tokens::forge(&w.origin, &p.token).await;
    // The same key with fresh claims passes (so each forgery below fails for its own flaw).
    Client::connect(&w.relay, &forged.fresh, Encoding::Json).await;
    for (name, token) in forged.forgeries {
        let mut ws = dial(&w.relay).await;
        ws.send(encode(&ClientMessage::Auth { token, encoding: Encoding::Json, resume: None }, Encoding::Json)).await.unwrap();
        let (reason, close) = expect_disconnect(&mut ws, Encoding::Json).await;
        assert!(reason.starts_with("unauthorized"), "{name}: {reason}");
        if name == "expired" {
            assert!(reason.contains("expired"), "{reason}");
        }
        let close = close.expect("close frame");
        assert_eq!(u16::from(close.code), 1008, "{name}");
        assert_eq!(close.reason.as_str(), reason, "{name}: the close frame carries the reason");
    }
    assert!(metric(&w.relay, "aethex_relay_kicked_total{reason=\"unauthorized\"}").await >= 9.0);
}

#[tokio::test]
async fn the_first_message_must_be_auth_and_come_in_time() {
    let w = World::start(&[("AETHEX_RELAY__AUTH_TIMEOUT_MS", "700")]).await;

    // Something else first.
    let mut ws = dial(&w.relay).await;
    ws.send(encode(&ClientMessage::Ping { t: 1 }, Encoding::Json)).await.unwrap();
    let (reason, close) = expect_disconnect(&mut ws, Encoding::Json).await;
    assert_eq!(reason, "the first message must be auth");
    assert_eq!(close.unwrap().reason.as_str(), reason);

    // Not even a message.
    let mut ws = dial(&w.relay).await;
    ws.send(Message::Text("hello".into())).await.unwrap();
    let (reason, _) = expect_disconnect(&mut ws, Encoding::Json).await;
    assert!(reason.starts_with("malformed message"), "{reason}");

    // Nothing at all: disconnected after the timeout.
    let started = Instant::now();
    let mut ws = dial(&w.relay).await;
    let (reason, _) = expect_disconnect(&mut ws, Encoding::Json).await;
    assert_eq!(reason, "no auth message in time");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(600) && took < Duration::from_secs(3), "{took:?}");

    // A second auth on an authenticated connection is refused, the connection stays.
    let p = w.player().await;
    let mut c = Client::connect(&w.relay, &p.token, Encoding::Json).await;
    c.send(&ClientMessage::Auth { token: p.token.clone(), encoding: Encoding::Json, resume: None }).await;
    assert_eq!(c.expect_error().await.0, -32600);
    c.send(&ClientMessage::Ping { t: 42 }).await;
    assert!(matches!(c.next().await, ServerMessage::Pong { t: 42 }));
}

#[tokio::test]
async fn players_need_a_token_of_the_rooms_game() {
    let w = World::start(&[]).await;
    let mut a = w.client().await;
    let code = code_of(&a.create_room(4, None).await);
    // A player of another game authenticates but cannot join.
    let other = w.origin.game(&unique_game()).await;
    let p = player_of(&other).await;
    let mut b = Client::connect(&w.relay, &p.token, Encoding::Json).await;
    b.send(&join(&code, None)).await;
    let (code_, reason) = b.expect_error().await;
    assert_eq!(code_, -32003, "{reason}");
    assert!(reason.contains("another game"), "{reason}");
    // A developer token (no game) cannot create rooms.
    let dev = w.game.developer.token().unwrap();
    let mut d = Client::connect(&w.relay, &dev, Encoding::Json).await;
    d.send(&ClientMessage::CreateRoom { options: Default::default(), player_data: Default::default() }).await;
    assert_eq!(d.expect_error().await.0, -32003);
}
