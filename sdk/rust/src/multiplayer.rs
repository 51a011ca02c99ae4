//! `AeThexCloud.multiplayer`: the seed's matchmaking (`join_queue`, `match_found`), rooms
//! (`join_room`, `send_state`, `player_state_received`), RPCs, chat and voice, over the
//! relay's WebSocket protocol (`aethex_protocol::multiplayer`).
//!
//! - [`Multiplayer::ping_regions`] measures the round-trip time to every live region's
//!   relay; [`Matchmaking::join_queue`] sends them with the ticket, so the matcher can pick
//!   the region with the best worst-case RTT.
//! - [`Matchmaking::wait_for_match`] long-polls until `match_found`.
//! - [`Multiplayer::connect`] opens a [`RoomSession`] to a relay: `join_room` by ticket or
//!   code, then events arrive from [`RoomSession::next_event`]. State batches are
//!   acknowledged automatically (so the relay sends deltas), and a dropped connection is
//!   resumed with [`RoomSession::reconnect`] (same seat, fresh snapshot) within the
//!   relay's grace period.
//! - [`RoomSession::rejoin_match`] also survives the loss of the relay: it follows the
//!   match to the room origin opened for it on another relay of the region.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Map, Value};
use tokio_tungstenite::tungstenite::Message;

use aethex_protocol::matchmaking::{MatchFound, RegionRtt, Ticket, TicketList, TicketRequest, TicketStatus};
use aethex_protocol::multiplayer::{ClientMessage, Encoding, RoomOptions, ServerMessage, RELAY_WS_PATH};
use aethex_protocol::regions::RegionList;

use crate::{AeThexCloud, SdkError, SdkResult};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Multiplayer<'a> {
    pub(crate) cloud: &'a AeThexCloud,
}

pub struct Matchmaking<'a> {
    pub(crate) cloud: &'a AeThexCloud,
}

fn protocol_error(what: impl Into<String>) -> SdkError {
    SdkError::Decode(what.into())
}

impl<'a> Multiplayer<'a> {
    pub fn matchmaking(&self) -> Matchmaking<'a> {
        Matchmaking { cloud: self.cloud }
    }

    /// Live regions and the best of three round trips to each relay's ping URL. Regions
    /// that do not answer are left out.
    pub async fn ping_regions(&self) -> SdkResult<Vec<RegionRtt>> {
        let list: RegionList = self.cloud.request::<Value, _>(Method::GET, "/api/v1/regions", None, false).await?;
        let http = self.cloud.cdn_client()?;
        // All regions at once (a slow region does not delay the others' measurements);
        // the best of three answers on one kept-alive connection per region.
        let pings = list.regions.into_iter().map(|r| {
            let http = http.clone();
            async move {
                let mut best: Option<Duration> = None;
                for _ in 0..3 {
                    let t = Instant::now();
                    let answered = tokio::time::timeout(Duration::from_secs(3), async {
                        let resp = http.get(&r.ping_url).send().await.ok()?;
                        (resp.status().is_success() && resp.bytes().await.is_ok()).then_some(())
                    });
                    if let Ok(Some(())) = answered.await {
                        let d = t.elapsed();
                        best = Some(best.map_or(d, |b| b.min(d)));
                    }
                }
                best.map(|d| RegionRtt { region: r.name, rtt_ms: d.as_millis().min(u32::MAX as u128) as u32 })
            }
        });
        let mut out: Vec<RegionRtt> = futures::future::join_all(pings).await.into_iter().flatten().collect();
        out.sort_by_key(|r| r.rtt_ms);
        Ok(out)
    }

    /// Opens a session to a relay (`ws://…` or `wss://…`, with or without its
    /// `/v1/multiplayer` path) and authenticates with the signed-in player's token.
    pub async fn connect(&self, relay_url: &str, encoding: Encoding) -> SdkResult<RoomSession> {
        let url =
            if relay_url.ends_with(RELAY_WS_PATH) { relay_url.to_string() } else { format!("{}{RELAY_WS_PATH}", relay_url.trim_end_matches('/')) };
        let mut s = RoomSession {
            socket: None,
            tls: self.cloud.ws_connector(),
            host: String::new(),
            members: Vec::new(),
            voice: None,
            e2e_voice: false,
            url,
            encoding,
            token: String::new(),
            player_id: String::new(),
            resume_token: None,
            room_id: None,
            pending: Vec::new(),
            unacked: None,
            last_state_sent: None,
            last_state: None,
        };
        let token = self.cloud.bearer().await?;
        s.open(token, None).await?;
        Ok(s)
    }
}

impl Matchmaking<'_> {
    /// Queues the signed-in player (the seed's `join_queue`).
    pub async fn join_queue(&self, ticket: &TicketRequest) -> SdkResult<Ticket> {
        self.cloud.request(Method::POST, "/api/v1/matchmaking/tickets", Some(ticket), true).await
    }

    /// The ticket now, or once it changes within `wait` (long-poll, at most 30 s a call).
    pub async fn ticket(&self, ticket_id: &str, wait: Duration) -> SdkResult<Ticket> {
        let ms = wait.as_millis().min(30_000);
        self.cloud.request::<Value, _>(Method::GET, &format!("/api/v1/matchmaking/tickets/{ticket_id}?wait_ms={ms}"), None, true).await
    }

    /// Waits (up to `timeout`) for the match of a matched ticket to be in another room than
    /// `room_id`: origin moves a match's room when its relay dies, and hands its players
    /// new room tickets in their tickets.
    pub async fn wait_for_new_room(&self, ticket_id: &str, room_id: &str, timeout: Duration) -> SdkResult<MatchFound> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.ticket(ticket_id, Duration::ZERO).await {
                Ok(t) => {
                    if let Some(m) = t.match_found.filter(|m| m.room_id != room_id) {
                        return Ok(m);
                    }
                }
                // Origin failing over: ask again.
                Err(SdkError::Api { status: 503, .. }) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Err(protocol_error(format!("the match of ticket {ticket_id} got no new room within {timeout:?}")));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits for `match_found` (or the ticket's end) up to `timeout`.
    pub async fn wait_for_match(&self, ticket_id: &str, timeout: Duration) -> SdkResult<MatchFound> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let t = self.ticket(ticket_id, left.min(Duration::from_secs(25))).await?;
            match (t.status, t.match_found) {
                (TicketStatus::Matched, Some(m)) => return Ok(m),
                (TicketStatus::Queued | TicketStatus::Pending, _) if !left.is_zero() => continue,
                (status, _) => return Err(protocol_error(format!("ticket {ticket_id} ended {status:?} without a match"))),
            }
        }
    }

    /// Cancels a ticket; a party member who was invited declines it this way.
    pub async fn cancel(&self, ticket_id: &str) -> SdkResult<Value> {
        self.cloud.request::<Value, _>(Method::DELETE, &format!("/api/v1/matchmaking/tickets/{ticket_id}"), None, true).await
    }

    /// Every ticket that names this player in its game (owned or as a party member),
    /// newest first: pending party invitations among them.
    pub async fn my_tickets(&self) -> SdkResult<Vec<Ticket>> {
        let list: TicketList = self.cloud.request::<Value, _>(Method::GET, "/api/v1/matchmaking/tickets", None, true).await?;
        Ok(list.tickets)
    }

    /// Accepts a party ticket that names this player (the party is queued once every
    /// member accepted).
    pub async fn accept(&self, ticket_id: &str) -> SdkResult<Ticket> {
        self.cloud.request::<Value, _>(Method::POST, &format!("/api/v1/matchmaking/tickets/{ticket_id}/accept"), None, true).await
    }
}

/// A client that sent its state within this window is streaming: its acknowledgements
/// ride on its next update instead of taking frames of their own.
const STREAMING_WINDOW: Duration = Duration::from_millis(100);

/// A connection to a relay.
pub struct RoomSession {
    socket: Option<Socket>,
    /// TLS for `wss://` (the client's extra CAs), else tokio-tungstenite's default.
    tls: Option<tokio_tungstenite::Connector>,
    /// The room's host and its other members, as the relay last said.
    host: String,
    members: Vec<String>,
    /// End-to-end voice keys of the current room (`voice_e2e_enable`).
    voice: Option<crate::voice::VoiceCrypto>,
    /// End-to-end voice was asked for: started again in every room this session joins.
    e2e_voice: bool,
    url: String,
    encoding: Encoding,
    token: String,
    player_id: String,
    resume_token: Option<String>,
    room_id: Option<String>,
    /// Events read while waiting for a specific answer, handed out first.
    pending: Vec<ServerMessage>,
    /// Newest batch handed out and not yet acknowledged (rides on the next `state_update`).
    unacked: Option<u64>,
    /// When this client last sent its state: a client streaming its state acknowledges
    /// batches on its updates, one that is not acknowledges each batch with a frame.
    last_state_sent: Option<std::time::Instant>,
    /// The last state this client sent (sent again when it moves to another relay).
    last_state: Option<Map<String, Value>>,
}

impl RoomSession {
    pub fn player_id(&self) -> &str {
        &self.player_id
    }

    pub fn room_id(&self) -> Option<&str> {
        self.room_id.as_deref()
    }

    /// Dials, sends `auth`, and waits for `auth_ok`.
    async fn open(&mut self, token: String, resume: Option<String>) -> SdkResult<bool> {
        let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(&self.url, None, false, self.tls.clone())
            .await
            .map_err(|e| protocol_error(format!("relay {}: {e}", self.url)))?;
        self.socket = Some(socket);
        self.token = token.clone();
        // `auth` is always JSON; the encoding switches with the relay's answer.
        let auth = ClientMessage::Auth { token, encoding: self.encoding, resume };
        let text = serde_json::to_string(&auth).map_err(|e| protocol_error(e.to_string()))?;
        self.socket_mut()?.send(Message::Text(text.into())).await.map_err(|e| protocol_error(e.to_string()))?;
        loop {
            match self.read().await? {
                ServerMessage::AuthOk { player_id, resumed, .. } => {
                    self.player_id = player_id;
                    return Ok(resumed);
                }
                ServerMessage::Disconnect { reason } => return Err(protocol_error(format!("relay refused: {reason}"))),
                ServerMessage::Error { message, reason, .. } => {
                    return Err(protocol_error(format!("relay refused: {message} {}", reason.unwrap_or_default())))
                }
                other => self.pending.push(other),
            }
        }
    }

    fn socket_mut(&mut self) -> SdkResult<&mut Socket> {
        self.socket.as_mut().ok_or_else(|| protocol_error("not connected"))
    }

    /// Sends one message in the session's encoding.
    pub async fn send(&mut self, msg: &ClientMessage) -> SdkResult<()> {
        let frame = match self.encoding {
            Encoding::Json => Message::Text(serde_json::to_string(msg).map_err(|e| protocol_error(e.to_string()))?.into()),
            Encoding::Msgpack => Message::Binary(rmp_serde::to_vec_named(msg).map_err(|e| protocol_error(e.to_string()))?.into()),
        };
        self.socket_mut()?.send(frame).await.map_err(|e| protocol_error(format!("relay connection: {e}")))
    }

    /// The next message from the relay (without acknowledging state batches).
    async fn read(&mut self) -> SdkResult<ServerMessage> {
        loop {
            let frame = self.socket_mut()?.next().await.ok_or_else(|| protocol_error("the relay closed the connection"))?;
            let frame = frame.map_err(|e| protocol_error(format!("relay connection: {e}")))?;
            let msg = match frame {
                Message::Text(t) => serde_json::from_str(t.as_str()).map_err(|e| protocol_error(format!("relay sent {e}")))?,
                Message::Binary(b) => rmp_serde::from_slice(&b).map_err(|e| protocol_error(format!("relay sent {e}")))?,
                Message::Close(c) => {
                    return Err(protocol_error(format!("the relay closed the connection: {}", c.map(|c| c.reason.to_string()).unwrap_or_default())))
                }
                _ => continue,
            };
            return Ok(msg);
        }
    }

    /// The next event. State batches are acknowledged as they are handed out, so the
    /// relay sends only what changed after them.
    ///
    /// With end-to-end voice on, its key signals are handled here and not handed out, and
    /// `voice_frame` events carry the decrypted audio (base64); frames that do not decrypt
    /// are dropped (`voice_dropped`).
    pub async fn next_event(&mut self) -> SdkResult<ServerMessage> {
        loop {
            let msg = if self.pending.is_empty() { self.read().await? } else { self.pending.remove(0) };
            if let Some(msg) = self.on_event(msg).await? {
                return Ok(msg);
            }
        }
    }

    /// Bookkeeping for one event; `None` when it was for the SDK only.
    async fn on_event(&mut self, msg: ServerMessage) -> SdkResult<Option<ServerMessage>> {
        // Voice key signals this member must send because of the event.
        let mut out = Vec::new();
        match &msg {
            ServerMessage::StateBatch { tick, .. } => {
                let streaming = self.last_state_sent.is_some_and(|t| t.elapsed() < STREAMING_WINDOW);
                if streaming {
                    self.unacked = Some(self.unacked.unwrap_or(0).max(*tick));
                } else {
                    self.unacked = None;
                    self.send(&ClientMessage::Ack { tick: *tick }).await?
                }
            }
            ServerMessage::RoomJoined { room_id, resume_token, tick, host, players, .. } => {
                self.room_id = Some(room_id.clone());
                self.resume_token = Some(resume_token.clone());
                self.unacked = None;
                self.host = host.clone();
                self.members = players.iter().map(|p| p.player_id.clone()).filter(|p| *p != self.player_id).collect();
                self.voice = None;
                self.send(&ClientMessage::Ack { tick: *tick }).await?;
                if self.e2e_voice {
                    self.start_voice().await?;
                }
            }
            ServerMessage::RoomLeft { .. } => {
                self.room_id = None;
                self.resume_token = None;
                self.members.clear();
                self.voice = None;
            }
            ServerMessage::PlayerJoined { player } => {
                if player.player_id != self.player_id && !self.members.contains(&player.player_id) {
                    self.members.push(player.player_id.clone());
                }
                out = self.voice.as_mut().map(|v| v.player_joined(&player.player_id)).unwrap_or_default();
            }
            ServerMessage::PlayerLeft { player_id, .. } => {
                self.members.retain(|m| m != player_id);
                out = self.voice.as_mut().map(|v| v.player_left(player_id)).unwrap_or_default();
            }
            ServerMessage::HostChanged { host } => {
                self.host = host.clone();
                out = self.voice.as_mut().map(|v| v.host_changed(host)).unwrap_or_default();
            }
            ServerMessage::VoiceSignal { from, kind, payload } => {
                if let Some(signals) = self.voice.as_mut().and_then(|v| v.signal(from, kind, payload)) {
                    self.send_signals(signals).await?;
                    return Ok(None);
                }
            }
            ServerMessage::VoiceFrame { from, data } => {
                if let Some(v) = self.voice.as_mut() {
                    use base64::Engine;
                    return Ok(v.open(from, data).map(|audio| ServerMessage::VoiceFrame {
                        from: from.clone(),
                        data: base64::engine::general_purpose::STANDARD.encode(audio),
                    }));
                }
            }
            _ => {}
        }
        self.send_signals(out).await?;
        Ok(Some(msg))
    }

    async fn send_signals(&mut self, signals: Vec<crate::voice::Signal>) -> SdkResult<()> {
        for s in signals {
            self.send(&ClientMessage::VoiceSignal { to: s.to, kind: s.kind.to_string(), payload: s.payload }).await?;
        }
        Ok(())
    }

    async fn start_voice(&mut self) -> SdkResult<String> {
        let room = self.room_id.clone().ok_or_else(|| protocol_error("join a room before turning voice on"))?;
        let (v, signals) = crate::voice::VoiceCrypto::new(&room, &self.player_id, &self.host, self.members.clone());
        let fingerprint = v.fingerprint();
        self.voice = Some(v);
        self.send(&ClientMessage::VoiceEnable { enabled: true }).await?;
        self.send_signals(signals).await?;
        Ok(fingerprint)
    }

    /// Turns on relayed voice, end-to-end encrypted (see [`crate::voice`]): members agree on
    /// a room key through the relay's signalling, which the relay cannot read; it is
    /// renewed whenever someone joins or leaves, and in every room this session joins
    /// later. Returns this member's key fingerprint, to compare out of band.
    pub async fn voice_e2e_enable(&mut self) -> SdkResult<String> {
        self.e2e_voice = true;
        self.start_voice().await
    }

    /// Sends one frame of audio, encrypted for the room's members; `false` (nothing sent)
    /// while the room key has not arrived yet, or after a departure until the next one.
    pub async fn send_voice(&mut self, audio: &[u8]) -> SdkResult<bool> {
        let v = self.voice.as_mut().ok_or_else(|| protocol_error("end-to-end voice is off (voice_e2e_enable)"))?;
        match v.seal(audio) {
            Some(data) => self.send(&ClientMessage::VoiceFrame { data }).await.map(|_| true),
            None => Ok(false),
        }
    }

    /// The room key's epoch this member sends under (`None`: end-to-end voice off, the key
    /// not here yet, or paused after a departure).
    pub fn voice_epoch(&self) -> Option<u32> {
        self.voice.as_ref().and_then(|v| v.sending_epoch())
    }

    /// Voice frames dropped because they did not decrypt (tampered, replayed, from
    /// outside the room key, or sent under a key this member does not hold).
    pub fn voice_dropped(&self) -> u64 {
        self.voice.as_ref().map_or(0, |v| v.dropped())
    }

    /// The first event `pick` accepts, waiting at most `timeout` (other events are
    /// dropped; a refusal ends the wait with an error).
    pub async fn wait_for<T>(&mut self, timeout: Duration, mut pick: impl FnMut(&ServerMessage) -> Option<T>) -> SdkResult<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.next_event()).await.map_err(|_| protocol_error("timed out waiting for the relay"))??;
            if let ServerMessage::Error { message, reason, .. } = &msg {
                return Err(protocol_error(format!("relay refused: {message} {}", reason.clone().unwrap_or_default())));
            }
            if let Some(v) = pick(&msg) {
                return Ok(v);
            }
        }
    }

    /// Joins the room a match ticket names (the seed's `join_room(match_info.room_id)`).
    pub async fn join_match(&mut self, found: &MatchFound, player_data: Value) -> SdkResult<ServerMessage> {
        self.send(&ClientMessage::JoinRoom {
            room_id: Some(found.room_id.clone()),
            ticket: Some(found.room_ticket.clone()),
            password: None,
            player_data,
        })
        .await?;
        self.wait_joined().await
    }

    /// Joins a private room by code (and password), on whichever relay of the region holds
    /// it: a relay that does not answers `redirect`, and the session follows it (once).
    pub async fn join_room(&mut self, code: &str, password: Option<&str>, player_data: Value) -> SdkResult<ServerMessage> {
        for _ in 0..2 {
            let join = ClientMessage::JoinRoom {
                room_id: Some(code.to_string()),
                ticket: None,
                password: password.map(str::to_string),
                player_data: player_data.clone(),
            };
            self.send(&join).await?;
            let answer = self
                .wait_for(Duration::from_secs(10), |m| {
                    matches!(m, ServerMessage::RoomJoined { .. } | ServerMessage::Redirect { .. }).then(|| m.clone())
                })
                .await?;
            match answer {
                ServerMessage::Redirect { url, .. } => {
                    let token = self.token.clone();
                    self.redial(&url, token).await?;
                }
                joined => return Ok(joined),
            }
        }
        Err(protocol_error(format!("room {code}: redirected more than once")))
    }

    /// Connects to another relay (a WebSocket URL, with or without its path) as a new
    /// session of the same player: no room, no seat to resume.
    async fn redial(&mut self, url: &str, token: String) -> SdkResult<()> {
        self.url = if url.ends_with(RELAY_WS_PATH) { url.to_string() } else { format!("{}{RELAY_WS_PATH}", url.trim_end_matches('/')) };
        self.socket = None;
        self.pending.clear();
        self.resume_token = None;
        self.room_id = None;
        self.unacked = None;
        self.open(token, None).await.map(|_| ())
    }

    /// Creates a private room and joins it; `room_joined.code` is what others join with.
    pub async fn create_room(&mut self, options: RoomOptions, player_data: Value) -> SdkResult<ServerMessage> {
        self.send(&ClientMessage::CreateRoom { options, player_data }).await?;
        self.wait_joined().await
    }

    async fn wait_joined(&mut self) -> SdkResult<ServerMessage> {
        self.wait_for(Duration::from_secs(10), |m| matches!(m, ServerMessage::RoomJoined { .. }).then(|| m.clone())).await
    }

    pub async fn leave_room(&mut self) -> SdkResult<()> {
        self.send(&ClientMessage::LeaveRoom).await
    }

    /// The seed's `send_state`.
    pub async fn send_state(&mut self, data: Map<String, Value>) -> SdkResult<()> {
        let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let ack = self.unacked.take();
        self.last_state_sent = Some(std::time::Instant::now());
        self.last_state = Some(data.clone());
        self.send(&ClientMessage::StateUpdate { timestamp, data, ack }).await
    }

    /// The seed's `rpc`: to a player id, `"all"` or `"host"`.
    pub async fn rpc(&mut self, method: &str, target: &str, args: Vec<Value>) -> SdkResult<()> {
        self.send(&ClientMessage::Rpc { method: method.to_string(), target: target.to_string(), args }).await
    }

    pub async fn chat(&mut self, text: &str, to: Option<&str>) -> SdkResult<()> {
        self.send(&ClientMessage::Chat { text: text.to_string(), to: to.map(str::to_string) }).await
    }

    /// The seed's `voice.enable`.
    pub async fn voice_enable(&mut self, enabled: bool) -> SdkResult<()> {
        self.send(&ClientMessage::VoiceEnable { enabled }).await
    }

    /// The seed's `voice.mute_player`.
    pub async fn voice_mute(&mut self, player_id: &str, muted: bool) -> SdkResult<()> {
        self.send(&ClientMessage::VoiceMute { player_id: player_id.to_string(), muted }).await
    }

    /// Drops the connection without leaving (tests; a crash).
    pub fn drop_connection(&mut self) {
        self.socket = None;
    }

    /// Gets back into the match after the connection to its relay was lost: first the
    /// same seat on the same relay (resume), else, when that relay is gone, the room origin
    /// opened for the match on another relay of the region (found through the matchmaking
    /// ticket, up to `timeout`). In the new room this client sends its last state again,
    /// so the others see it where it was. Returns `room_joined`.
    pub async fn rejoin_match(&mut self, matchmaking: &Matchmaking<'_>, ticket_id: &str, timeout: Duration) -> SdkResult<ServerMessage> {
        if self.resume_token.is_some() {
            if let Ok(Ok(joined)) = tokio::time::timeout(Duration::from_secs(3), self.reconnect()).await {
                return Ok(joined);
            }
        }
        let old_room = self.room_id.clone().unwrap_or_default();
        let found = matchmaking.wait_for_new_room(ticket_id, &old_room, timeout).await?;
        let token = matchmaking.cloud.bearer().await?;
        self.redial(&found.relay_url, token).await?;
        let joined = self.join_match(&found, Value::Null).await?;
        if let Some(state) = self.last_state.clone() {
            self.send_state(state).await?;
        }
        Ok(joined)
    }

    /// Dials again and reclaims the seat with the resume token (within the relay's grace
    /// period): `room_joined` with the full snapshot follows.
    pub async fn reconnect(&mut self) -> SdkResult<ServerMessage> {
        let resume = self.resume_token.clone().ok_or_else(|| protocol_error("no seat to resume"))?;
        self.socket = None;
        self.pending.clear();
        let token = self.token.clone();
        let resumed = self.open(token, Some(resume)).await?;
        if !resumed {
            return Err(protocol_error("the relay did not give the seat back (grace period over?)"));
        }
        self.wait_joined().await
    }
}
