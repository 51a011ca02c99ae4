//! P2P: UDP address discovery and introductions, over real UDP sockets.

use std::time::Duration;

use aethex_protocol::multiplayer::{ClientMessage, ServerMessage};
use tokio::net::UdpSocket;

use crate::helpers::*;

/// Registers `c` from a fresh UDP socket; the socket and the address the relay saw.
async fn register(c: &mut Client) -> (UdpSocket, String) {
    c.send(&ClientMessage::P2pRegister).await;
    let (nonce, udp) =
        c.expect("p2p_nonce", |m| if let ServerMessage::P2pNonce { nonce, udp } = m { Some((nonce.clone(), udp.clone())) } else { None }).await;
    assert_eq!(nonce.len(), 32);
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 128];
    // UDP may drop datagrams: send until answered.
    let reply = loop {
        sock.send_to(format!("AETHEX1 {nonce}").as_bytes(), &udp).await.unwrap();
        if let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await {
            break String::from_utf8(buf[..n].to_vec()).unwrap();
        }
    };
    let me = sock.local_addr().unwrap().to_string();
    assert_eq!(reply, format!("AETHEX1 {me}"), "the relay answers with the address it saw");
    let pid = c.player_id.clone();
    let seen = c
        .expect("own p2p_candidate", |m| match m {
            ServerMessage::P2pCandidate { player_id, address } if *player_id == pid => Some(address.clone()),
            _ => None,
        })
        .await;
    assert_eq!(seen, me);
    (sock, me)
}

#[tokio::test]
async fn players_learn_each_others_public_udp_address() {
    let w = World::start(&[]).await;
    let (mut a, mut b, _) = pair(&w).await;
    let (aid, bid) = (a.player_id.clone(), b.player_id.clone());

    // Introductions need both addresses.
    a.send(&ClientMessage::P2pIntroduce { to: bid.clone() }).await;
    assert_eq!(a.expect_error().await.0, -32009);
    let (sa, a_addr) = register(&mut a).await;
    a.send(&ClientMessage::P2pIntroduce { to: bid.clone() }).await;
    let (code, reason) = a.expect_error().await;
    assert_eq!(code, -32009, "{reason}");
    let (sb, b_addr) = register(&mut b).await;
    a.send(&ClientMessage::P2pIntroduce { to: "nobody".into() }).await;
    assert_eq!(a.expect_error().await.0, -32004);
    a.send(&ClientMessage::P2pIntroduce { to: aid.clone() }).await;
    assert_eq!(a.expect_error().await.0, -32602);

    a.send(&ClientMessage::P2pIntroduce { to: bid.clone() }).await;
    let cand = |m: &ServerMessage| {
        if let ServerMessage::P2pCandidate { player_id, address } = m {
            Some((player_id.clone(), address.clone()))
        } else {
            None
        }
    };
    assert_eq!(a.expect("p2p_candidate", cand).await, (bid.clone(), b_addr.clone()));
    assert_eq!(b.expect("p2p_candidate", cand).await, (aid.clone(), a_addr.clone()));
    // And the addresses work: A and B talk directly.
    sa.send_to(b"hello b", &b_addr).await.unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = tokio::time::timeout(Duration::from_secs(2), sb.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!((&buf[..n], from.to_string()), (&b"hello b"[..], a_addr));

    // Junk datagrams get no answer.
    let junk = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    junk.send_to(b"AETHEX1 00000000000000000000000000000001", &w.relay.udp).await.unwrap();
    junk.send_to(b"GET / HTTP/1.1", &w.relay.udp).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(300), junk.recv_from(&mut buf)).await.is_err());
}
