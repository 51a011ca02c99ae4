//! RPC, chat and voice.

use std::time::Duration;

use aethex_protocol::multiplayer::{ClientMessage, ServerMessage};
use serde_json::json;

use crate::helpers::*;

/// Three players in one room: (a = host, b, c).
async fn trio(w: &World) -> (Client, Client, Client) {
    let (mut a, mut b, code) = pair(w).await;
    let mut c = w.client().await;
    c.join_code(&code, None).await;
    let cid = c.player_id.clone();
    for x in [&mut a, &mut b] {
        x.expect("player_joined", |m| matches!(m, ServerMessage::PlayerJoined { player } if player.player_id == cid).then_some(())).await;
    }
    (a, b, c)
}

fn rpcs(msgs: &[ServerMessage]) -> Vec<(String, String)> {
    msgs.iter().filter_map(|m| if let ServerMessage::Rpc { from, method, .. } = m { Some((from.clone(), method.clone())) } else { None }).collect()
}

#[tokio::test]
async fn rpc_goes_to_one_player_all_others_or_the_host() {
    let w = World::start(&[]).await;
    let (mut a, mut b, mut c) = trio(&w).await;
    let (aid, bid, cid) = (a.player_id.clone(), b.player_id.clone(), c.player_id.clone());
    let rpc = |method: &str, target: &str| ClientMessage::Rpc { method: method.into(), target: target.into(), args: vec![json!(25), json!("fire")] };

    b.send(&rpc("take_damage", &cid)).await;
    let got = c
        .expect("rpc", |m| if let ServerMessage::Rpc { from, method, args } = m { Some((from.clone(), method.clone(), args.clone())) } else { None })
        .await;
    assert_eq!(got, (bid.clone(), "take_damage".to_string(), vec![json!(25), json!("fire")]));

    b.send(&rpc("to_all", "all")).await;
    b.send(&rpc("to_host", "host")).await;
    let for_a = rpcs(&a.collect(Duration::from_millis(300)).await);
    let for_b = rpcs(&b.collect(Duration::from_millis(10)).await);
    let for_c = rpcs(&c.collect(Duration::from_millis(10)).await);
    assert_eq!(for_a, vec![(bid.clone(), "to_all".into()), (bid.clone(), "to_host".into())]);
    assert!(for_b.is_empty(), "the sender is not among \"all\": {for_b:?}");
    assert_eq!(for_c, vec![(bid.clone(), "to_all".into())]);

    // Refusals: unknown player, bad method name; the connection goes on.
    b.send(&rpc("x", "nobody")).await;
    assert_eq!(b.expect_error().await.0, -32004);
    b.send(&rpc("", "all")).await;
    assert_eq!(b.expect_error().await.0, -32602);
    b.send(&rpc("again", &aid)).await;
    a.expect("rpc", |m| matches!(m, ServerMessage::Rpc { method, .. } if method == "again").then_some(())).await;
}

#[tokio::test]
async fn chat_to_the_room_or_one_player_within_limits() {
    let w = World::start(&[]).await;
    let (mut a, mut b, mut c) = trio(&w).await;
    let (aid, cid) = (a.player_id.clone(), c.player_id.clone());

    a.send(&ClientMessage::Chat { text: "gg\nwp".into(), to: None }).await;
    for x in [&mut b, &mut c] {
        let got = x
            .expect("chat", |m| if let ServerMessage::Chat { from, text, to } = m { Some((from.clone(), text.clone(), to.clone())) } else { None })
            .await;
        assert_eq!(got, (aid.clone(), "gg\nwp".to_string(), None));
    }
    a.send(&ClientMessage::Chat { text: "psst".into(), to: Some(cid.clone()) }).await;
    let got = c.expect("chat", |m| if let ServerMessage::Chat { text, to, .. } = m { Some((text.clone(), to.clone())) } else { None }).await;
    assert_eq!(got, ("psst".to_string(), Some(cid.clone())));
    let b_chats: Vec<_> = b.collect(Duration::from_millis(200)).await.into_iter().filter(|m| matches!(m, ServerMessage::Chat { .. })).collect();
    assert!(b_chats.is_empty(), "a whisper reaches its player only: {b_chats:?}");
    let a_chats: Vec<_> = a.collect(Duration::from_millis(10)).await.into_iter().filter(|m| matches!(m, ServerMessage::Chat { .. })).collect();
    assert!(a_chats.is_empty(), "no echo to the sender: {a_chats:?}");

    for bad in ["", "bell\u{7}", &"x".repeat(501)] {
        a.send(&ClientMessage::Chat { text: bad.to_string(), to: None }).await;
        assert_eq!(a.expect_error().await.0, -32602, "{bad:?}");
    }
    a.send(&ClientMessage::Chat { text: "hi".into(), to: Some("nobody".into()) }).await;
    assert_eq!(a.expect_error().await.0, -32004);

    // 5 a second, 10 at once: a burst of 20 has some refused.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for i in 0..20 {
        b.send(&ClientMessage::Chat { text: format!("spam {i}"), to: None }).await;
    }
    let got = b.collect(Duration::from_millis(400)).await;
    let limited = got.iter().filter(|m| matches!(m, ServerMessage::Error { code: -32029, .. })).count();
    assert!((8..=11).contains(&limited), "{limited} refused of 20");
    let delivered = c.collect(Duration::from_millis(100)).await.into_iter().filter(|m| matches!(m, ServerMessage::Chat { .. })).count();
    assert_eq!(delivered, 20 - limited);
    // The chatty player is still connected.
    b.send(&ClientMessage::Ping { t: 9 }).await;
    b.expect("pong", |m| matches!(m, ServerMessage::Pong { t: 9 }).then_some(())).await;
}

#[tokio::test]
async fn voice_signals_and_frames_respect_enable_and_mute() {
    let w = World::start(&[("AETHEX_LIMITS__MAX_VOICE_FRAME_BYTES", "64")]).await;
    let (mut a, mut b, mut c) = trio(&w).await;
    let (aid, bid) = (a.player_id.clone(), b.player_id.clone());

    // Signalling to one member.
    a.send(&ClientMessage::VoiceSignal { to: bid.clone(), kind: "offer".into(), payload: json!({"sdp": "v=0"}) }).await;
    let got = b
        .expect("voice_signal", |m| {
            if let ServerMessage::VoiceSignal { from, kind, payload } = m {
                Some((from.clone(), kind.clone(), payload.clone()))
            } else {
                None
            }
        })
        .await;
    assert_eq!(got, (aid.clone(), "offer".to_string(), json!({"sdp": "v=0"})));
    a.send(&ClientMessage::VoiceSignal { to: "nobody".into(), kind: "ice".into(), payload: json!({}) }).await;
    assert_eq!(a.expect_error().await.0, -32004);
    a.send(&ClientMessage::VoiceSignal { to: bid.clone(), kind: "bad kind!".into(), payload: json!({}) }).await;
    assert_eq!(a.expect_error().await.0, -32602);

    // Frames need voice enabled by the sender, and reach members who enabled it.
    a.send(&ClientMessage::VoiceFrame { data: "AAAA".into() }).await;
    assert_eq!(a.expect_error().await.0, -32003);
    for x in [&mut a, &mut b, &mut c] {
        x.send(&ClientMessage::VoiceEnable { enabled: true }).await;
    }
    c.send(&ClientMessage::VoiceMute { player_id: aid.clone(), muted: true }).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.send(&ClientMessage::VoiceFrame { data: "T3B1cw==".into() }).await;
    let got =
        b.expect("voice_frame", |m| if let ServerMessage::VoiceFrame { from, data } = m { Some((from.clone(), data.clone())) } else { None }).await;
    assert_eq!(got, (aid.clone(), "T3B1cw==".to_string()));
    let c_frames = c.collect(Duration::from_millis(300)).await.into_iter().filter(|m| matches!(m, ServerMessage::VoiceFrame { .. })).count();
    assert_eq!(c_frames, 0, "C muted A");
    // C unmutes A; B turns voice off.
    c.send(&ClientMessage::VoiceMute { player_id: aid.clone(), muted: false }).await;
    b.send(&ClientMessage::VoiceEnable { enabled: false }).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.send(&ClientMessage::VoiceFrame { data: "AQID".into() }).await;
    c.expect("voice_frame", |m| matches!(m, ServerMessage::VoiceFrame { data, .. } if data == "AQID").then_some(())).await;
    let b_frames = b.collect(Duration::from_millis(300)).await.into_iter().filter(|m| matches!(m, ServerMessage::VoiceFrame { .. })).count();
    assert_eq!(b_frames, 0, "B turned voice off");
    // Too large, not base64, muting a stranger.
    a.send(&ClientMessage::VoiceFrame { data: "A".repeat(65) }).await;
    assert_eq!(a.expect_error().await.0, -32602);
    a.send(&ClientMessage::VoiceFrame { data: "not base64!".into() }).await;
    assert_eq!(a.expect_error().await.0, -32602);
    a.send(&ClientMessage::VoiceMute { player_id: "nobody".into(), muted: true }).await;
    assert_eq!(a.expect_error().await.0, -32004);
}
