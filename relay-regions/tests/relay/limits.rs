//! Bad clients are disconnected; the room goes on.

use std::time::Duration;

use aethex_protocol::multiplayer::{ClientMessage, Encoding, RoomOptions, ServerMessage};
use aethex_protocol::rpc::ErrorCode;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

/// A, B and the troublemaker X in one room; returns (a, b, x).
async fn room_with_troublemaker(w: &World) -> (Client, Client, Client) {
    let (mut a, mut b, code) = pair(w).await;
    let mut x = w.client().await;
    x.join_code(&code, None).await;
    let xid = x.player_id.clone();
    for c in [&mut a, &mut b] {
        c.expect("player_joined", |m| matches!(m, ServerMessage::PlayerJoined { player } if player.player_id == xid).then_some(())).await;
    }
    (a, b, x)
}

/// X is gone with `player_left {reason: kicked}` and A and B still talk.
async fn room_goes_on(a: &mut Client, b: &mut Client, xid: &str) {
    a.expect("player_left", |m| matches!(m, ServerMessage::PlayerLeft { player_id, reason } if player_id == xid && reason == "kicked").then_some(()))
        .await;
    let bid = b.player_id.clone();
    a.send(&ClientMessage::Rpc { method: "still_here".into(), target: bid, args: vec![] }).await;
    b.expect("rpc", |m| matches!(m, ServerMessage::Rpc { method, .. } if method == "still_here").then_some(())).await;
    a.send(&ClientMessage::StateUpdate { ack: None, timestamp: 0, data: json!({"alive": true}).as_object().cloned().unwrap() }).await;
    b.expect("state_batch", |m| {
        matches!(m, ServerMessage::StateBatch { states, .. } if states.iter().any(|s| s.data.contains_key("alive"))).then_some(())
    })
    .await;
}

#[tokio::test]
async fn malformed_and_unknown_messages_disconnect_the_sender_only() {
    let w = World::start(&[]).await;
    let (mut a, mut b, mut x) = room_with_troublemaker(&w).await;
    let xid = x.player_id.clone();
    x.ws.send(Message::Text("{\"type\": \"state_update\", \"data\": [1,2".into())).await.unwrap();
    let (reason, close) = x.expect_disconnect().await;
    assert!(reason.starts_with("malformed message"), "{reason}");
    assert_eq!(u16::from(close.unwrap().code), 1008);
    room_goes_on(&mut a, &mut b, &xid).await;

    let mut y = w.client().await;
    y.send_json(json!({"type": "teleport_everyone", "to": "lava"})).await;
    let (reason, _) = y.expect_disconnect().await;
    assert!(reason.contains("unknown variant"), "{reason}");
    let mut z = w.client().await;
    z.ws.send(Message::Binary(vec![0xc1, 0x00, 0xff].into())).await.unwrap();
    assert!(z.expect_disconnect().await.0.starts_with("malformed message"));
    assert!(metric(&w.relay, "aethex_relay_kicked_total{reason=\"malformed\"}").await >= 3.0);
}

#[tokio::test]
async fn oversize_frames_disconnect_the_sender_only() {
    let w = World::start(&[]).await;
    let (mut a, mut b, mut x) = room_with_troublemaker(&w).await;
    let xid = x.player_id.clone();
    // Just over 16 KiB: a reasoned disconnect.
    x.send(&ClientMessage::Chat { text: "x".repeat(17 * 1024), to: None }).await;
    let (reason, close) = x.expect_disconnect().await;
    assert_eq!(reason, "frame too large");
    assert_eq!(u16::from(close.unwrap().code), 1009);
    room_goes_on(&mut a, &mut b, &xid).await;

    // Far over: refused from the frame header, before it is read.
    let mut y = w.client().await;
    let _ = y.ws.send(Message::Binary(vec![0u8; 4 * 1024 * 1024].into())).await;
    let mut closed = false;
    for _ in 0..50 {
        match read(&mut y.ws, y.encoding, Duration::from_millis(200)).await {
            Got::Closed(_) => {
                closed = true;
                break;
            }
            Got::Msg(ServerMessage::Disconnect { .. }) | Got::Timeout => continue,
            other => panic!("{other:?}"),
        }
    }
    assert!(closed, "the relay closed the connection");
    assert!(metric(&w.relay, "aethex_relay_kicked_total{reason=\"oversize\"}").await >= 1.0);
}

#[tokio::test]
async fn flooding_clients_are_disconnected() {
    let w = World::start(&[("AETHEX_LIMITS__MESSAGES_PER_SEC", "50"), ("AETHEX_LIMITS__MESSAGE_BURST", "100")]).await;
    let (mut a, mut b, mut x) = room_with_troublemaker(&w).await;
    let xid = x.player_id.clone();
    // A steady 40/s is fine...
    for i in 0..40 {
        x.send(&ClientMessage::StateUpdate { ack: None, timestamp: i, data: json!({"i": i}).as_object().cloned().unwrap() }).await;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    x.send(&ClientMessage::Ping { t: 1 }).await;
    x.expect("pong", |m| matches!(m, ServerMessage::Pong { t: 1 }).then_some(())).await;
    // ...a flood is not.
    for i in 0..1000u64 {
        if x.ws.send(encode(&ClientMessage::Ping { t: i }, x.encoding)).await.is_err() {
            break;
        }
    }
    let (reason, close) = x.expect_disconnect().await;
    assert_eq!(reason, "too many messages");
    assert_eq!(close.unwrap().reason.as_str(), reason);
    room_goes_on(&mut a, &mut b, &xid).await;
    assert!(metric(&w.relay, "aethex_relay_kicked_total{reason=\"flood\"}").await >= 1.0);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_its_seat_held() {
    let w = World::start(&[
        ("AETHEX_LIMITS__MAX_QUEUED_FRAMES", "16"),
        ("AETHEX_LIMITS__MESSAGES_PER_SEC", "100000"),
        ("AETHEX_LIMITS__MESSAGE_BURST", "100000"),
    ])
    .await;
    let (mut a, mut b, mut x) = room_with_troublemaker(&w).await;
    let xid = x.player_id.clone();
    // X stops reading; A sends it large RPCs until the socket buffers and then X's queue
    // fill up. X reads again as soon as the relay has kicked it: what was buffered, then the
    // reason. (The relay waits for a slow client's goodbye for 2 s only, so X must not wait
    // for the rest of the test: on a loaded machine A's sends alone can take longer.)
    let blob = serde_json::Value::String("z".repeat(12 * 1024));
    let kicked = std::cell::Cell::new(false);
    let flood = async {
        // Stops once X is kicked: more would only load the machine while X drains.
        for _ in 0..2000 {
            if kicked.get() {
                break;
            }
            a.send(&ClientMessage::Rpc { method: "blob".into(), target: xid.clone(), args: vec![blob.clone()] }).await;
        }
    };
    let x_reads_after_the_kick = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while metric(&w.relay, "aethex_relay_kicked_total{reason=\"slow\"}").await < 1.0 {
            assert!(std::time::Instant::now() < deadline, "the slow reader was never kicked");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        kicked.set(true);
        let mut reason = None;
        for _ in 0..5000 {
            match read(&mut x.ws, x.encoding, WAIT).await {
                Got::Msg(ServerMessage::Disconnect { reason: r }) => {
                    reason = Some(r);
                    break;
                }
                Got::Msg(_) => continue,
                Got::Closed(_) => break,
                other => panic!("{other:?}"),
            }
        }
        reason
    };
    let ((), reason) = tokio::join!(flood, x_reads_after_the_kick);
    assert_eq!(reason.as_deref(), Some("client too slow"));
    let grace = a
        .expect("player_disconnected", |m| match m {
            ServerMessage::PlayerDisconnected { player_id, grace_secs } if *player_id == xid => Some(*grace_secs),
            _ => None,
        })
        .await;
    assert_eq!(grace, 30, "a slow reader keeps its seat for a resume");
    // The others go on.
    let bid = b.player_id.clone();
    a.send(&ClientMessage::Rpc { method: "still_here".into(), target: bid, args: vec![] }).await;
    b.expect("rpc", |m| matches!(m, ServerMessage::Rpc { method, .. } if method == "still_here").then_some(())).await;
}

#[tokio::test]
async fn silent_clients_are_dropped_after_two_ping_periods() {
    let w = World::start(&[("AETHEX_RELAY__PING_INTERVAL_SECS", "1")]).await;
    let (mut a, x, _) = pair(&w).await;
    let xid = x.player_id.clone();
    // X's socket is open but nobody reads it, so no pong goes back.
    let started = std::time::Instant::now();
    a.expect("player_disconnected", |m| matches!(m, ServerMessage::PlayerDisconnected { player_id, .. } if *player_id == xid).then_some(())).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1500) && took < Duration::from_secs(4), "{took:?}");
    // A, which reads (and so answers pings), is still there after the same time.
    a.send(&ClientMessage::Ping { t: 3 }).await;
    a.expect("pong", |m| matches!(m, ServerMessage::Pong { t: 3 }).then_some(())).await;
    assert!(metric(&w.relay, "aethex_relay_kicked_total{reason=\"idle\"}").await >= 1.0);
    drop(x);
}

#[tokio::test]
async fn a_stopping_relay_says_goodbye_and_a_killed_one_just_closes() {
    let mut w = World::start(&[]).await;
    let (mut a, mut b, _) = pair(&w).await;
    let status = std::process::Command::new("kill").args(["-TERM", &w.relay.proc.pid().to_string()]).status().unwrap();
    assert!(status.success());
    for c in [&mut a, &mut b] {
        let (reason, close) = c.expect_disconnect().await;
        assert_eq!(reason, "relay shutting down");
        assert_eq!(u16::from(close.unwrap().code), 1001);
    }
    // A killed relay: the socket simply closes.
    w.relay = RelayProc::start(&w.origin, REGION, &[]);
    let (mut a, _b, _) = pair(&w).await;
    w.relay.proc.kill();
    assert!(matches!(read(&mut a.ws, a.encoding, WAIT).await, Got::Closed(_)));
}

/// Fuzz-style: hundreds of frames made by mutating valid messages (bytes flipped,
/// inserted, dropped, truncated; JSON and MessagePack) from troublemakers seated in a
/// room. Every frame is either handled or ends its sender with a reasoned disconnect;
/// the relay stays up and the two well-behaved players keep playing.
#[tokio::test]
async fn mutated_frames_never_take_the_room_or_the_relay_down() {
    use aethex_protocol::multiplayer::Encoding;
    let w = World::start(&[("AETHEX_LIMITS__MESSAGES_PER_SEC", "1000"), ("AETHEX_LIMITS__MESSAGE_BURST", "1000")]).await;
    let (mut a, mut b, code) = pair(&w).await;
    let bid = b.player_id.clone();
    let valid = [
        ClientMessage::StateUpdate {
            ack: Some(3),
            timestamp: 7,
            data: json!({"pos": {"x": 1.5, "y": -2}, "hp": 90, "tag": "abc"}).as_object().cloned().unwrap(),
        },
        ClientMessage::Rpc { method: "hit".into(), target: bid.clone(), args: vec![json!(25), json!("fire")] },
        ClientMessage::Chat { text: "hello there".into(), to: None },
        ClientMessage::Ack { tick: 12 },
        ClientMessage::VoiceSignal { to: bid.clone(), kind: "offer".into(), payload: json!({"sdp": "v=0"}) },
        ClientMessage::Ping { t: 99 },
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let (mut handled, mut kicked, mut sent) = (0, 0, 0);
    let mut x: Option<Client> = None;
    // A few troublemaking players take turns (logins are rate limited).
    let mut troublemakers = Vec::new();
    for _ in 0..3 {
        troublemakers.push(w.player().await);
    }
    while sent < 400 {
        if x.is_none() {
            let encoding = if rnd(2) == 0 { Encoding::Json } else { Encoding::Msgpack };
            let p = &troublemakers[rnd(troublemakers.len())];
            let mut c = Client::connect(&w.relay, &p.token, encoding).await;
            c.join_code(&code, None).await;
            x = Some(c);
        }
        let c = x.as_mut().unwrap();
        let m = &valid[rnd(valid.len())];
        let mut bytes = match c.encoding {
            Encoding::Json => serde_json::to_vec(m).unwrap(),
            Encoding::Msgpack => rmp_serde::to_vec_named(m).unwrap(),
        };
        for _ in 0..1 + rnd(3) {
            if bytes.is_empty() {
                break;
            }
            let i = rnd(bytes.len());
            match rnd(4) {
                0 => bytes[i] ^= 1 << rnd(8),
                1 => bytes.insert(i, rnd(256) as u8),
                2 => {
                    bytes.remove(i);
                }
                _ => bytes.truncate(i),
            }
        }
        let frame = match (c.encoding, String::from_utf8(bytes.clone())) {
            (Encoding::Json, Ok(text)) => Message::Text(text.into()),
            _ => Message::Binary(bytes.into()),
        };
        sent += 1;
        if c.ws.send(frame).await.is_err() {
            kicked += 1;
            x = None;
            continue;
        }
        // A kick arrives at once; otherwise the frame was handled (maybe with an `error`).
        let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
        let ended = loop {
            match read(&mut c.ws, c.encoding, deadline.saturating_duration_since(tokio::time::Instant::now())).await {
                Got::Timeout => break false,
                Got::Msg(ServerMessage::Disconnect { .. }) | Got::Closed(_) => break true,
                Got::Msg(_) => continue,
                other => panic!("the relay answered a mutated frame with {other:?}"),
            }
        };
        if ended {
            kicked += 1;
            x = None;
        } else {
            handled += 1;
        }
    }
    println!("{sent} mutated frames: {handled} handled, {kicked} disconnects");
    assert!(kicked > 20 && handled > 20, "the mutations should produce both outcomes: {handled} handled, {kicked} kicked");
    let (status, _) = get(&format!("{}/healthz", w.relay.http)).await;
    assert_eq!(status, 200);
    // A and B are still in their room and still talk.
    let _ = a.collect(Duration::from_millis(100)).await;
    a.send(&ClientMessage::Rpc { method: "still_here".into(), target: bid, args: vec![] }).await;
    b.expect("rpc", |m| matches!(m, ServerMessage::Rpc { method, .. } if method == "still_here").then_some(())).await;
    a.send(&ClientMessage::StateUpdate { ack: None, timestamp: 0, data: json!({"alive": true}).as_object().cloned().unwrap() }).await;
    b.expect("state_batch", |m| {
        matches!(m, ServerMessage::StateBatch { states, .. } if states.iter().any(|s| s.data.contains_key("alive"))).then_some(())
    })
    .await;
}

/// Issue 12, hole 7: one player could exhaust a relay by `create_room` then dropping the
/// socket, again and again (each held seat kept its room alive for the resume grace, and
/// the room limit is the node's), and unauthenticated sockets had no per-address cap. Now
/// rooms created and seats held are capped per player, pre-auth sockets per address, each
/// with a clear refusal, and another player is not affected.
#[tokio::test]
async fn one_player_cannot_exhaust_rooms_seats_or_sockets() {
    let w = World::start(&[
        ("AETHEX_LIMITS__MAX_ROOMS_PER_PLAYER", "2"),
        ("AETHEX_LIMITS__MAX_SEATS_PER_PLAYER", "3"),
        ("AETHEX_LIMITS__MAX_PREAUTH_PER_ADDRESS", "4"),
        ("AETHEX_RELAY__RESUME_GRACE_SECS", "60"),
    ])
    .await;
    let griefer = w.player().await;
    // create_room, then drop the socket: the seat is held, the room stays.
    for _ in 0..2 {
        let mut c = Client::connect(&w.relay, &griefer.token, Encoding::Json).await;
        c.create_room(4, None).await;
        drop(c);
    }
    let mut c = Client::connect(&w.relay, &griefer.token, Encoding::Json).await;
    c.send(&ClientMessage::CreateRoom {
        options: RoomOptions { max_players: 4, password: None, properties: Default::default() },
        player_data: json!({}),
    })
    .await;
    let (code, reason) = c.expect_error().await;
    assert_eq!(code, ErrorCode::RATE_LIMITED.0, "{reason}");
    assert!(reason.contains("rooms open"), "{reason}");
    // Another player's room: the griefer joins it (a third seat), then no more seats.
    let mut host = w.client().await;
    let room = code_of(&host.create_room(8, None).await);
    c.join_code(&room, None).await;
    drop(c);
    let mut other_host = w.client().await;
    let other_room = code_of(&other_host.create_room(8, None).await);
    let mut c = Client::connect(&w.relay, &griefer.token, Encoding::Json).await;
    c.send(&join(&other_room, None)).await;
    let (code, reason) = c.expect_error().await;
    assert_eq!(code, ErrorCode::RATE_LIMITED.0, "{reason}");
    assert!(reason.contains("seats"), "{reason}");
    // Other players are not affected.
    let mut bystander = w.client().await;
    bystander.join_code(&other_room, None).await;

    // Sockets that never authenticate: at most 4 per address wait at once; the fifth is
    // refused before the upgrade (429), and a slot frees when one of them authenticates.
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(dial(&w.relay).await);
    }
    let err = tokio_tungstenite::connect_async(&w.relay.ws).await.expect_err("a fifth pre-auth socket");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status().as_u16(), 429),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
    let first = silent.remove(0);
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    Client::connect(&w.relay, &w.player().await.token, Encoding::Json).await;
    assert!(metric(&w.relay, "aethex_relay_rooms").await >= 4.0);
}

/// The relay answers the opening handshake itself (`ws.rs`): anything that is not an RFC
/// 6455 upgrade gets a 400 in the error envelope; a client's ping gets a pong; raw frames
/// breaking the protocol end the connection with `malformed`, and the relay goes on.
#[tokio::test]
async fn handshakes_pings_and_raw_protocol_violations() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = World::start(&[]).await;
    let url = w.relay.ws.replacen("ws://", "http://", 1);
    let http = reqwest::Client::new();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let upgrade = [("connection", "Upgrade"), ("upgrade", "websocket"), ("sec-websocket-version", "13"), ("sec-websocket-key", key)];
    for (what, skip, replace) in [
        ("plain GET", Some(usize::MAX), None),
        ("no Upgrade header", Some(1), None),
        ("no Connection header", Some(0), None),
        ("version 8", None, Some((2, "8"))),
        ("no key", Some(3), None),
        ("a key of the wrong length", None, Some((3, "c2hvcnQ="))),
    ] {
        let mut req = http.get(&url);
        if skip != Some(usize::MAX) {
            for (i, (name, value)) in upgrade.iter().enumerate() {
                if Some(i) == skip {
                    continue;
                }
                let value = match replace {
                    Some((j, v)) if j == i => v,
                    _ => *value,
                };
                req = req.header(*name, value);
            }
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 400, "{what}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["jsonrpc"], "2.0", "{what}: {body}");
        assert_eq!(body["error"]["code"], ErrorCode::INVALID_PARAMS.0, "{what}: {body}");
    }

    // A ping before and after auth is answered with its payload.
    let p = w.player().await;
    let mut c = Client::connect(&w.relay, &p.token, Encoding::Json).await;
    c.ws.send(Message::Ping(b"are you there".to_vec().into())).await.unwrap();
    let pong = tokio::time::timeout(WAIT, async {
        loop {
            match c.ws.next().await {
                Some(Ok(Message::Pong(p))) => break p,
                Some(Ok(_)) => continue,
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("a pong");
    assert_eq!(&pong[..], b"are you there");

    // Raw bytes after a valid handshake: the accept key of RFC 6455's own example, then an
    // unmasked frame (clients must mask): `disconnect` with `malformed` and a close.
    let addr = w.relay.http.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "GET /v1/multiplayer HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        tcp.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
    tcp.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut rest)).await.expect("the relay closes the connection");
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains("malformed message: WebSocket protocol violation: client frames must be masked"), "{text}");
    assert!(rest.windows(2).any(|w| w[0] == 0x88), "a close frame follows");

    // The relay goes on.
    let mut d = Client::connect(&w.relay, &p.token, Encoding::Json).await;
    d.send(&ClientMessage::Ping { t: 7 }).await;
    d.expect("pong", |m| matches!(m, ServerMessage::Pong { t: 7 }).then_some(())).await;
}
