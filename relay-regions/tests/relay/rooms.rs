//! Private rooms (code, password, max players), match rooms (tickets), host migration.

use aethex_protocol::multiplayer::{ClientMessage, Encoding, ServerMessage};
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn private_rooms_join_by_code_or_id_with_password_up_to_max_players() {
    let w = World::start(&[]).await;
    let mut a = w.client().await;
    let options = aethex_protocol::multiplayer::RoomOptions {
        max_players: 3,
        password: Some("secret pw".into()),
        properties: json!({"map": "dust"}).as_object().cloned().unwrap(),
    };
    a.send(&ClientMessage::CreateRoom { options, player_data: json!({"name": "alice"}) }).await;
    let joined = a.joined().await;
    let ServerMessage::RoomJoined { room_id, code, host, max_players, players, snapshot, tick: _, resume_token, properties } = joined else {
        unreachable!()
    };
    let code = code.expect("a private room has a code");
    assert!(aethex_protocol::multiplayer::is_room_code(&code), "{code}");
    assert_eq!(host, a.player_id, "the creator hosts");
    assert_eq!(max_players, 3);
    assert_eq!(players.len(), 1);
    assert_eq!(players[0].player_data, json!({"name": "alice"}));
    assert!(players[0].connected);
    assert_eq!(snapshot.len(), 1);
    assert!(resume_token.len() >= 32);
    assert_eq!(properties["map"], "dust");

    // Wrong or missing password.
    let mut b = w.client().await;
    b.send(&join(&code, Some("nope"))).await;
    assert_eq!(b.expect_error().await, (-32003, "wrong password".to_string()));
    b.send(&join(&code, None)).await;
    assert_eq!(b.expect_error().await.0, -32003);
    // Unknown code and unknown id.
    b.send(&join("ZZZZ-0000", Some("secret pw"))).await;
    assert_eq!(b.expect_error().await.0, -32004);
    b.send(&join("no-such-room", Some("secret pw"))).await;
    assert_eq!(b.expect_error().await.0, -32004);
    // Right password: joined; the host hears of it.
    let j = b.join_code(&code, Some("secret pw")).await;
    assert_eq!(room_of(&j), room_id);
    let bid = b.player_id.clone();
    let info = a.expect("player_joined", |m| if let ServerMessage::PlayerJoined { player } = m { Some(player.clone()) } else { None }).await;
    assert_eq!(info.player_id, bid);
    assert_eq!(info.player_data, json!({"lvl": 1}));
    // Joining twice from the same connection is a conflict.
    b.send(&join(&code, Some("secret pw"))).await;
    assert_eq!(b.expect_error().await.0, -32009);

    // By room id works too.
    let mut c = w.client().await;
    let j = c.join_code(&room_id, Some("secret pw")).await;
    let ServerMessage::RoomJoined { players, host, .. } = j else { unreachable!() };
    assert_eq!(players.len(), 3);
    assert_eq!(host, a.player_id);

    // Full.
    let mut d = w.client().await;
    d.send(&join(&code, Some("secret pw"))).await;
    let (code_, reason) = d.expect_error().await;
    assert_eq!(code_, -32009, "{reason}");
    assert!(reason.contains("full"), "{reason}");

    // Someone leaves: a seat frees up.
    c.send(&ClientMessage::LeaveRoom).await;
    c.expect("room_left", |m| matches!(m, ServerMessage::RoomLeft { reason, .. } if reason == "left").then_some(())).await;
    let cid = c.player_id.clone();
    a.expect("player_left", |m| matches!(m, ServerMessage::PlayerLeft { player_id, reason } if *player_id == cid && reason == "left").then_some(()))
        .await;
    d.join_code(&code, Some("secret pw")).await;

    // Bad options.
    for (max, pw) in [(1, None), (65, None), (4, Some(""))] {
        let options =
            aethex_protocol::multiplayer::RoomOptions { max_players: max, password: pw.map(str::to_string), properties: Default::default() };
        c.send(&ClientMessage::CreateRoom { options, player_data: Value::Null }).await;
        assert_eq!(c.expect_error().await.0, -32602, "max {max} password {pw:?}");
    }
}

#[tokio::test]
async fn the_host_moves_to_the_longest_present_connected_player() {
    let w = World::start(&[]).await;
    let mut a = w.client().await;
    let code = code_of(&a.create_room(8, None).await);
    let mut b = w.client().await;
    b.join_code(&code, None).await;
    let mut c = w.client().await;
    let ServerMessage::RoomJoined { host, .. } = c.join_code(&code, None).await else { unreachable!() };
    assert_eq!(host, a.player_id);
    let (aid, bid, cid) = (a.player_id.clone(), b.player_id.clone(), c.player_id.clone());

    // The host leaves: B (there before C) hosts.
    a.send(&ClientMessage::LeaveRoom).await;
    for x in [&mut b, &mut c] {
        x.expect("player_left", |m| matches!(m, ServerMessage::PlayerLeft { player_id, .. } if *player_id == aid).then_some(())).await;
        let h = x.expect("host_changed", |m| if let ServerMessage::HostChanged { host } = m { Some(host.clone()) } else { None }).await;
        assert_eq!(h, bid);
    }
    // The new host drops (seat held): C hosts at once, without waiting for the grace.
    b.close().await;
    c.expect("player_disconnected", |m| {
        matches!(m, ServerMessage::PlayerDisconnected { player_id, grace_secs: 30 } if *player_id == bid).then_some(())
    })
    .await;
    let h = c.expect("host_changed", |m| if let ServerMessage::HostChanged { host } = m { Some(host.clone()) } else { None }).await;
    assert_eq!(h, cid);
    // `rpc` to "host" reaches the host (here the sender itself).
    c.send(&ClientMessage::Rpc { method: "spawn".into(), target: "host".into(), args: vec![json!(1)] }).await;
    c.expect("rpc", |m| matches!(m, ServerMessage::Rpc { from, method, .. } if *from == cid && method == "spawn").then_some(())).await;
}

#[tokio::test]
async fn match_rooms_admit_room_tickets_only() {
    let w = World::start(&[]).await;
    let p1 = w.player().await;
    let p2 = w.player().await;
    let room = w.open_match_room("match-1", 2, &[&p1.id, &p2.id]).await;

    let mut c1 = Client::connect(&w.relay, &p1.token, Encoding::Json).await;
    // By id without a ticket: refused.
    c1.send(&join(&room, None)).await;
    assert_eq!(c1.expect_error().await.0, -32003);
    let ticket_join = |ticket: String, room: Option<String>| ClientMessage::JoinRoom {
        room_id: room,
        ticket: Some(ticket),
        password: None,
        player_data: json!({}),
    };

    let refused = [
        // Another player's ticket.
        (w.ticket(&w.claims(&p2.id, &room, "match-1")), -32003, "another player"),
        // Another region.
        (
            w.ticket(&{
                let mut c = w.claims(&p1.id, &room, "match-1");
                c.region = "elsewhere".into();
                c
            }),
            -32003,
            "region",
        ),
        // Expired.
        (
            w.ticket(&{
                let mut c = w.claims(&p1.id, &room, "match-1");
                c.iat -= 3600;
                c.exp = now_secs() - 600;
                c
            }),
            -32003,
            "expired",
        ),
        // Another match of the same room id.
        (w.ticket(&w.claims(&p1.id, &room, "match-2")), -32003, "another match"),
        // A room this relay does not have.
        (w.ticket(&w.claims(&p1.id, "00000000-0000-0000-0000-000000000000", "match-1")), -32004, "no such room"),
        // An access token is not a ticket (audience).
        (p1.token.clone(), -32003, "ticket refused"),
        // Signed by another key under origin's kid.
        (sign_with_seed(&[7u8; 32], &kid_of(&p1.token), &w.claims(&p1.id, &room, "match-1")), -32003, "ticket refused"),
    ];
    for (ticket, want, why) in refused {
        c1.send(&ticket_join(ticket, None)).await;
        let (code, reason) = c1.expect_error().await;
        assert_eq!(code, want, "{why}: {reason}");
        assert!(reason.contains(why), "{why}: {reason}");
    }
    // room_id, when given, must be the ticket's room.
    c1.send(&ticket_join(w.ticket(&w.claims(&p1.id, &room, "match-1")), Some("other".into()))).await;
    assert_eq!(c1.expect_error().await.0, -32602);

    // The right tickets.
    c1.send(&ticket_join(w.ticket(&w.claims(&p1.id, &room, "match-1")), Some(room.clone()))).await;
    let ServerMessage::RoomJoined { room_id, code, host, max_players, .. } = c1.joined().await else { unreachable!() };
    assert_eq!((room_id.as_str(), code, host.as_str(), max_players), (room.as_str(), None, p1.id.as_str(), 2));
    let mut c2 = Client::connect(&w.relay, &p2.token, Encoding::Json).await;
    c2.send(&ticket_join(w.ticket(&w.claims(&p2.id, &room, "match-1")), None)).await;
    c2.joined().await;
    // Full at 2.
    let p3 = w.player().await;
    let mut c3 = Client::connect(&w.relay, &p3.token, Encoding::Json).await;
    c3.send(&ticket_join(w.ticket(&w.claims(&p3.id, &room, "match-1")), None)).await;
    assert_eq!(c3.expect_error().await.0, -32009);
}

fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let v: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    v["kid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn origin_opens_rooms_with_the_cluster_key() {
    let w = World::start(&[]).await;
    let body =
        json!({"game_id": w.game.game_id, "match_id": "m-7", "mode": "duel", "max_players": 4, "players": ["a", "b"], "properties": {"map": "x"}});
    // No key, a wrong key.
    let (s, e) = w.open_room(body.clone(), None).await;
    assert_eq!(s, 401);
    assert_eq!(e["error"]["code"], -32001);
    assert_eq!(w.open_room(body.clone(), Some("aethex_ek_wrong")).await.0, 401);
    // Bad bodies.
    assert_eq!(w.open_room(json!({"game_id": "g"}), Some(&w.relay.cluster_key)).await.0, 400);
    let mut bad = body.clone();
    bad["max_players"] = json!(65);
    let (s, e) = w.open_room(bad, Some(&w.relay.cluster_key)).await;
    assert_eq!((s, e["error"]["code"].as_i64()), (400, Some(-32602)));
    // Opened; the same match again gives the same room (origin may retry).
    let (s, r1) = w.open_room(body.clone(), Some(&w.relay.cluster_key)).await;
    assert_eq!(s, 200, "{r1}");
    assert_eq!(r1["url"], w.relay.ws);
    let (_, r2) = w.open_room(body.clone(), Some(&w.relay.cluster_key)).await;
    assert_eq!(r1["room_id"], r2["room_id"]);
    // Listed with the key only.
    let rooms: Value = reqwest::Client::new()
        .get(format!("{}/v1/rooms", w.relay.http))
        .header("x-aethex-relay-key", &w.relay.cluster_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = rooms.as_array().expect("a list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["room_id"], r1["room_id"]);
    assert_eq!(list[0]["match_id"], "m-7");
    assert_eq!(list[0]["game_id"], w.game.game_id);
    assert_eq!((list[0]["players"].as_u64(), list[0]["max_players"].as_u64()), (Some(0), Some(4)));
    assert_eq!(get(&format!("{}/v1/rooms", w.relay.http)).await.0, 401);
    assert!((metric(&w.relay, "aethex_relay_rooms").await - 1.0).abs() < 0.1);
}
