//! UDP address discovery for peer-to-peer connections (the first half of NAT hole
//! punching; the relay never carries the game's UDP traffic).
//!
//! 1. A client sends `p2p_register` and gets `p2p_nonce {nonce, udp}`.
//! 2. From the UDP socket it will use for the game, it sends the datagram
//!    `AETHEX1 <nonce>` (ASCII, the nonce as given: 32 hex digits) to `udp`, and repeats
//!    it now and then (UDP may drop it; NAT mappings change).
//! 3. The relay records the datagram's source address as the client's public address and
//!    answers with the datagram `AETHEX1 <ip:port>` (what it saw) and, over the WebSocket
//!    when the address is new, `p2p_candidate` with the client's own player id and it.
//! 4. `p2p_introduce {to}` sends each of the two players a `p2p_candidate` with the other's
//!    address; both then send datagrams to each other.
//!
//! Anything else arriving on the socket is ignored (no answer, so the endpoint cannot be
//! used to reflect traffic at a third party).

use std::sync::Arc;

use aethex_protocol::multiplayer::ServerMessage;
use tokio::net::UdpSocket;

use crate::state::Relay;

/// Prefix of every datagram of this exchange.
pub const DATAGRAM_PREFIX: &[u8] = b"AETHEX1 ";

/// The nonce of a registration datagram.
pub fn parse_datagram(d: &[u8]) -> Option<u128> {
    let hex = d.strip_prefix(DATAGRAM_PREFIX)?;
    let hex = hex.strip_suffix(b"\n").unwrap_or(hex);
    if hex.len() != 32 {
        return None;
    }
    u128::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

pub async fn serve(relay: Arc<Relay>, socket: UdpSocket) {
    let mut buf = [0u8; 128];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP errors of earlier answers surface here on some systems; keep serving.
            Err(e) => {
                tracing::debug!(error = %e, "p2p endpoint receive");
                continue;
            }
        };
        let Some(nonce) = parse_datagram(&buf[..n]) else { continue };
        let Some(peer) = relay.peer_of_nonce(nonce) else { continue };
        let new = peer.set_udp(from);
        let reply = format!("AETHEX1 {from}");
        if let Err(e) = socket.send_to(reply.as_bytes(), from).await {
            tracing::debug!(error = %e, %from, "p2p endpoint answer");
        }
        if new {
            peer.send(&ServerMessage::P2pCandidate { player_id: peer.player_id.to_string(), address: from.to_string() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_parse() {
        assert_eq!(parse_datagram(b"AETHEX1 0000000000000000000000000000002a"), Some(42));
        assert_eq!(parse_datagram(b"AETHEX1 0000000000000000000000000000002a\n"), Some(42));
        assert_eq!(parse_datagram(b"AETHEX1 2a"), None);
        assert_eq!(parse_datagram(b"AETHEX2 0000000000000000000000000000002a"), None);
        assert_eq!(parse_datagram(b"AETHEX1 000000000000000000000000000000zz"), None);
        assert_eq!(parse_datagram(b""), None);
    }
}
