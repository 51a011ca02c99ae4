//! One WebSocket connection: `auth` first, then a loop that reads the client's frames and
//! writes what rooms queued for it, in one task.
//!
//! The task `select!`s on three things: the peer's queue being woken (write every queued
//! frame, one flush; a kick arriving while a write is blocked by a client that does not
//! read ends it), the next client frame (decode, check limits, apply to the room), and a
//! keepalive timer (a WebSocket ping, queued like any frame; a client silent for two
//! periods is dropped). Handling a frame never waits on another connection: frames for
//! others go into their queues. Joins and room creation await: a ticket's key set may need
//! a fetch, a new room its game's logic, and an authoritative room's component admits a
//! player first.
//!
//! How a connection ends decides its seat: a drop (socket closed, network error, slow
//! reader, idle) holds the seat for the resume grace; a protocol violation (malformed,
//! oversize, flooding) frees it (`player_left {reason: "kicked"}`); `leave_room` frees it
//! at once.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aethex_protocol::multiplayer::{check_chat, is_room_code, ClientMessage, Encoding, RoomOptions, ServerMessage};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message};
use serde_json::Value;

use crate::codec::{decode, encode, frame_len};
use crate::error::{Kick, Refusal};
use crate::metrics::Metrics;
use crate::peer::Peer;
use crate::room::{Room, RoomKind};
use crate::state::Relay;
use crate::ws::{WsError, WsStream};

/// A player's upgraded connection.
pub type WebSocket = WsStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>;

/// How a connection ended.
enum End {
    Kick(Kick),
    /// Closed by the client or the network.
    Closed,
}

/// A token bucket: `per_sec` sustained, `burst` at once.
struct TokenBucket {
    tokens: f32,
    last: Instant,
}

impl TokenBucket {
    fn full(burst: u32) -> Self {
        Self { tokens: burst as f32, last: Instant::now() }
    }

    fn allow(&mut self, now: Instant, per_sec: u32, burst: u32) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f32();
        self.last = now;
        self.tokens = (self.tokens + dt * per_sec as f32).min(burst as f32);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A `join_room` with a ticket, waiting for the ticket's verification.
struct TicketJoin {
    room_id: Option<String>,
    ticket: String,
    player_data: Value,
}

/// A request handled after an await (the rest are handled at once).
enum Deferred {
    /// `join_room` by room id or code: an authoritative room asks its component first.
    Join { room_id: Option<String>, password: Option<String>, player_data: Value },
    /// `join_room` with a ticket: verified first.
    Ticket(TicketJoin),
    /// `join_room` with a private room code this relay does not hold: looked up in the
    /// region's directory.
    Code(String),
    /// `create_room`: the game's room logic is looked up first (and with a region
    /// directory, the code is listed before the creator gets it).
    Create(RoomOptions, Value),
}

struct Session {
    relay: Arc<Relay>,
    peer: Arc<Peer>,
    game: Option<Arc<str>>,
    room: Option<Arc<Room>>,
    frames: TokenBucket,
    chat: TokenBucket,
    nonce: Option<u128>,
}

/// What `auth` established.
struct Authed {
    player_id: Arc<str>,
    game: Option<Arc<str>>,
    encoding: Encoding,
    resume: Option<String>,
}

/// Serves one upgraded WebSocket until it ends.
///
/// Memory: this future lives as long as the connection, so it is kept small. The socket
/// is boxed (an async fn keeps its arguments apart from its locals, which would hold the
/// socket twice), and the handshake, ticket verification and goodbye, which need large
/// futures but run rarely, are boxed while they run.
pub fn serve(relay: Arc<Relay>, ws: WebSocket, preauth: crate::state::PreAuthSlot) -> impl std::future::Future<Output = ()> + Send {
    run(relay, Box::new(ws), preauth)
}

async fn run(relay: Arc<Relay>, mut ws: Box<WebSocket>, preauth: crate::state::PreAuthSlot) {
    relay.metrics.connections.fetch_add(1, Ordering::Relaxed);
    let handshake = Box::pin(handshake(&relay, &mut ws)).await;
    drop(preauth);
    match handshake {
        Ok(authed) => connected(&relay, &mut ws, authed).await,
        Err(End::Kick(kick)) => {
            relay.metrics.kick(kick.index());
            Box::pin(goodbye(&mut ws, Encoding::Json, &kick)).await;
        }
        Err(End::Closed) => Metrics::add(&relay.metrics.dropped, 1),
    }
    relay.metrics.connections.fetch_sub(1, Ordering::Relaxed);
}

/// Waits for `auth` and verifies its token.
async fn handshake(relay: &Relay, ws: &mut WebSocket) -> Result<Authed, End> {
    let deadline = tokio::time::Instant::now() + relay.auth_timeout;
    let frame = loop {
        match tokio::time::timeout_at(deadline, ws.recv()).await {
            Err(_) => return Err(End::Kick(Kick::AuthTimeout)),
            Ok(None) => return Err(End::Closed),
            Ok(Some(Err(e))) => return Err(classify(e)),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(Message::Close(_)))) => return Err(End::Closed),
            Ok(Some(Ok(m))) => break m,
        }
    };
    let len = frame_len(&frame);
    Metrics::add(&relay.metrics.messages_in, 1);
    Metrics::add(&relay.metrics.bytes_in, len as u64);
    if len > relay.limits.max_frame_bytes {
        return Err(End::Kick(Kick::Oversize));
    }
    let ClientMessage::Auth { token, encoding, resume } = decode(&frame).map_err(End::Kick)? else {
        return Err(End::Kick(Kick::NotAuthFirst));
    };
    let claims = relay.verifier.access(&token).await.map_err(End::Kick)?;
    Ok(Authed { player_id: claims.sub.into(), game: claims.game.map(Into::into), encoding, resume })
}

async fn connected(relay: &Arc<Relay>, ws: &mut WebSocket, authed: Authed) {
    let Authed { player_id, game, encoding, resume } = authed;
    let limits = &relay.limits;
    let peer = Peer::new(relay.next_conn_id(), player_id, encoding, limits.max_queued_frames);
    relay.metrics.players.fetch_add(1, Ordering::Relaxed);
    relay.arrived(&peer.player_id, game.as_ref());
    let mut s = Session {
        relay: relay.clone(),
        peer: peer.clone(),
        game,
        room: None,
        frames: TokenBucket::full(limits.message_burst),
        chat: TokenBucket::full(limits.chat_burst),
        nonce: None,
    };
    s.start(resume);

    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + relay.ping_interval, relay.ping_interval);
    let mut heard = true;
    let mut quiet_periods = 0u8;
    // The client's close frame, answered with the same code (RFC 6455 5.5.1).
    let mut echo = None;
    let end = loop {
        tokio::select! {
            // Boxed: a write that waits on a slow client needs a timer and a kick
            // listener, which would otherwise sit in every idle connection's task.
            _ = peer.woken() => match Box::pin(flush(ws, &peer, &relay.metrics, relay.ping_interval * 2)).await {
                Ok(None) => {}
                Ok(Some(k)) => break End::Kick(k),
                Err(_) => break End::Closed,
            },
            frame = ws.recv() => {
                heard = true;
                match frame {
                    None => break End::Closed,
                    Some(Ok(Message::Close(c))) => {
                        echo = Some(c);
                        break End::Closed;
                    }
                    Some(Err(e)) => break classify(e),
                    Some(Ok(m)) => match s.on_frame(m) {
                        Ok(None) => {}
                        // Verifying a ticket may fetch keys from origin: boxed, so its
                        // state is allocated only while it runs (see the module doc).
                        Ok(Some(Deferred::Ticket(ticket))) => Box::pin(s.join_by_ticket(ticket)).await,
                        Ok(Some(Deferred::Code(code))) => Box::pin(s.redirect(code)).await,
                        Ok(Some(Deferred::Create(options, player_data))) => Box::pin(s.create_listed(options, player_data)).await,
                        Ok(Some(Deferred::Join { room_id, password, player_data })) => Box::pin(s.join_by_code(room_id, password, player_data)).await,
                        Err(k) => break End::Kick(k),
                    },
                }
            }
            _ = keepalive.tick() => {
                if heard {
                    quiet_periods = 0;
                } else {
                    quiet_periods += 1;
                    if quiet_periods >= 2 {
                        break End::Kick(Kick::Idle);
                    }
                }
                heard = false;
                // Queued like any frame, so a client that does not read cannot block it.
                peer.push(Message::Ping(Bytes::new()));
            }
        }
    };
    s.finish(&end);
    match end {
        End::Kick(kick) => {
            relay.metrics.kick(kick.index());
            tracing::debug!(player = %peer.player_id, reason = %kick.reason(), "client disconnected by the relay");
            Box::pin(goodbye(ws, encoding, &kick)).await;
        }
        End::Closed => {
            Metrics::add(&relay.metrics.dropped, 1);
            if let Some(c) = echo {
                let _ = Box::pin(tokio::time::timeout(Duration::from_secs(1), ws.send(Message::Close(c)))).await;
            }
        }
    }
}

/// Writes what is queued for the client; returns a pending kick. A client that does not
/// read blocks the write: a kick arriving meanwhile (too slow, replaced) ends it, and so
/// does a write stalled for `stall` (the client is then too slow).
async fn flush(ws: &mut WebSocket, peer: &Peer, metrics: &Metrics, stall: Duration) -> std::io::Result<Option<Kick>> {
    enum Wrote {
        Done(std::io::Result<()>),
        Kicked,
        Stalled,
    }
    let (mut queued, kick) = peer.take();
    if queued.is_empty() {
        return Ok(kick);
    }
    let wrote = tokio::select! {
        biased;
        r = write_frames(ws, &mut queued, metrics) => Wrote::Done(r),
        _ = peer.kicked(), if kick.is_none() => Wrote::Kicked,
        _ = tokio::time::sleep(stall) => Wrote::Stalled,
    };
    match wrote {
        Wrote::Done(r) => {
            r?;
            // Waiting for a kick may have consumed the wake-ups of frames queued meanwhile.
            peer.rewake_if_queued();
            Ok(kick)
        }
        Wrote::Kicked => Ok(peer.take().1),
        Wrote::Stalled => Ok(Some(kick.unwrap_or(Kick::SlowConsumer))),
    }
}

/// Writes the queued frames with one flush at the end.
async fn write_frames(ws: &mut WebSocket, frames: &mut VecDeque<Message>, metrics: &Metrics) -> std::io::Result<()> {
    if frames.is_empty() {
        return Ok(());
    }
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Some(f) = frames.pop_front() {
        n += 1;
        bytes += frame_len(&f) as u64;
        ws.feed(f);
    }
    ws.flush().await?;
    Metrics::add(&metrics.messages_out, n);
    Metrics::add(&metrics.bytes_out, bytes);
    Ok(())
}

/// `disconnect {reason}`, a close frame with the reason, then a short wait for the
/// client's close (unread input would turn the close into a reset that can swallow the
/// reason).
async fn goodbye(ws: &mut WebSocket, encoding: Encoding, kick: &Kick) {
    let reason = kick.reason();
    // A client that does not read would block the sends: all of it is bounded.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        if let Some(f) = encode(&ServerMessage::Disconnect { reason: reason.clone() }, encoding) {
            ws.send(f).await?;
        }
        ws.send(Message::Close(Some(CloseFrame { code: kick.close_code(), reason: reason.into() }))).await?;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(m)) = ws.recv().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// A read error: too large a frame, a WebSocket protocol violation, or a dead socket.
fn classify(e: WsError) -> End {
    match e {
        WsError::TooLarge(_) => End::Kick(Kick::Oversize),
        WsError::Protocol(what) => End::Kick(Kick::Malformed(format!("WebSocket protocol violation: {what}"))),
        // A connection that vanished without a close frame is a drop (the seat is held), not a violation.
        WsError::Reset | WsError::Io(_) => End::Closed,
    }
}

impl Session {
    /// After `auth`: reclaims the seat of a resume token, then `auth_ok`.
    fn start(&mut self, resume: Option<String>) {
        let relay = &self.relay;
        let ok = |resumed| ServerMessage::AuthOk {
            player_id: self.peer.player_id.to_string(),
            encoding: self.peer.encoding,
            tick_hz: relay.tick_hz,
            resumed,
        };
        if let Some(token) = resume {
            if let Some(room) = relay.room_of_seat(&token) {
                let same_game = self.game.as_deref() == Some(&*room.game);
                if let Some(frame) = encode(&ok(true), self.peer.encoding).filter(|_| same_game) {
                    if room.resume(&self.peer, &token, frame) {
                        Metrics::add(&relay.metrics.resumes, 1);
                        relay.seat_changed(&self.peer.player_id, true);
                        self.room = Some(room);
                        return;
                    }
                }
            }
        }
        self.peer.send(&ok(false));
    }

    /// Leaves the room as the end demands and forgets the connection.
    fn finish(&mut self, end: &End) {
        self.settle();
        let relay = &self.relay;
        relay.went_away(&self.peer.player_id, self.room.is_some());
        if let Some(room) = self.room.take() {
            let departure = match end {
                End::Kick(k) if !k.holds_seat() && *k != Kick::Replaced => room.leave(relay, self.peer.id, "kicked"),
                _ => room.drop_conn(relay, self.peer.id),
            };
            if let Some(d) = departure {
                relay.departed(&room, d);
            }
        }
        if let Some(n) = self.nonce.take() {
            relay.forget_nonce(n);
        }
        self.peer.close();
        relay.metrics.players.fetch_sub(1, Ordering::Relaxed);
    }

    /// One client frame: limits, decoding, then the request (a refusal is answered with
    /// `error` and the connection goes on). A join by ticket is returned to be verified
    /// asynchronously; everything else is handled here, without waiting.
    fn on_frame(&mut self, frame: Message) -> Result<Option<Deferred>, Kick> {
        let relay = &self.relay;
        let len = frame_len(&frame);
        Metrics::add(&relay.metrics.messages_in, 1);
        Metrics::add(&relay.metrics.bytes_in, len as u64);
        if !self.frames.allow(Instant::now(), relay.limits.messages_per_sec, relay.limits.message_burst) {
            return Err(Kick::Flood);
        }
        match frame {
            Message::Ping(payload) => {
                self.peer.push(Message::Pong(payload));
                return Ok(None);
            }
            Message::Pong(_) => return Ok(None),
            _ => {}
        }
        if len > relay.limits.max_frame_bytes {
            return Err(Kick::Oversize);
        }
        let msg = decode(&frame)?;
        drop(frame);
        if let ClientMessage::JoinRoom { room_id, ticket: Some(ticket), player_data, .. } = msg {
            return Ok(Some(Deferred::Ticket(TicketJoin { room_id, ticket, player_data })));
        }
        let msg = match msg {
            ClientMessage::CreateRoom { options, player_data } => return Ok(Some(Deferred::Create(options, player_data))),
            other => other,
        };
        if let ClientMessage::JoinRoom { room_id, ticket: None, password, player_data } = msg {
            if let Some(code) = room_id.as_ref().filter(|c| is_room_code(c)) {
                if self.room.is_none() && relay.has_directory() && relay.find_room(code).is_none() {
                    return Ok(Some(Deferred::Code(code.clone())));
                }
            }
            return Ok(Some(Deferred::Join { room_id, password, player_data }));
        }
        if let Err(refusal) = self.handle(msg) {
            self.refuse(refusal);
        }
        Ok(None)
    }

    fn refuse(&self, refusal: Refusal) {
        Metrics::add(&self.relay.metrics.refused, 1);
        self.peer.send(&refusal.to_message());
    }

    fn room(&self) -> Result<&Arc<Room>, Refusal> {
        self.room.as_ref().ok_or_else(Refusal::not_in_room)
    }

    fn handle(&mut self, msg: ClientMessage) -> Result<(), Refusal> {
        let conn = self.peer.id;
        match msg {
            ClientMessage::Auth { .. } => Err(Refusal::invalid_request("already authenticated")),
            ClientMessage::JoinRoom { .. } | ClientMessage::CreateRoom { .. } => Err(Refusal::invalid_request("joins are handled apart")),
            ClientMessage::LeaveRoom => self.leave(),
            ClientMessage::StateUpdate { timestamp, data, ack } => {
                let room = self.room()?;
                if let Some(tick) = ack {
                    room.ack(conn, tick)?;
                }
                room.update_state(&self.relay, conn, timestamp, data)
            }
            ClientMessage::Ack { tick } => self.room()?.ack(conn, tick),
            ClientMessage::Rpc { method, target, args } => {
                if method.is_empty() || method.len() > 64 {
                    return Err(Refusal::invalid("method must be 1 to 64 bytes"));
                }
                self.room()?.rpc(conn, method, &target, args)
            }
            ClientMessage::Chat { text, to } => {
                check_chat(&text).map_err(|e| Refusal::invalid(e.reason))?;
                let max = self.relay.limits.chat_max_chars;
                if text.chars().count() > max {
                    return Err(Refusal::invalid(format!("a chat message is at most {max} characters")));
                }
                let room = self.room.clone().ok_or_else(Refusal::not_in_room)?;
                let limits = &self.relay.limits;
                if !self.chat.allow(Instant::now(), limits.chat_per_sec, limits.chat_burst) {
                    return Err(Refusal::rate_limited(format!("at most {} chat messages a second", limits.chat_per_sec)));
                }
                room.chat(conn, text, to)
            }
            ClientMessage::VoiceSignal { to, kind, payload } => {
                if kind.is_empty() || kind.len() > 32 || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                    return Err(Refusal::invalid("kind must be 1 to 32 of a-z, A-Z, 0-9, '-', '_' (offer, answer, ice)"));
                }
                self.room()?.voice_signal(conn, &to, kind, payload)
            }
            ClientMessage::VoiceEnable { enabled } => self.room()?.voice_enable(conn, enabled),
            ClientMessage::VoiceFrame { data } => {
                let max = self.relay.limits.max_voice_frame_bytes;
                if data.is_empty() || data.len() > max {
                    return Err(Refusal::invalid(format!("a voice frame is 1 to {max} base64 characters")));
                }
                if !data.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')) {
                    return Err(Refusal::invalid("a voice frame is base64"));
                }
                self.room()?.voice_frame(conn, data)
            }
            ClientMessage::VoiceMute { player_id, muted } => self.room()?.voice_mute(conn, &player_id, muted),
            ClientMessage::P2pRegister => {
                let nonce = self.relay.register_nonce(&self.peer, self.nonce);
                self.nonce = Some(nonce);
                self.peer.send(&ServerMessage::P2pNonce { nonce: format!("{nonce:032x}"), udp: self.relay.udp_public.clone() });
                Ok(())
            }
            ClientMessage::P2pIntroduce { to } => self.room()?.introduce(conn, &to),
            ClientMessage::Ping { t } => {
                self.peer.send(&ServerMessage::Pong { t });
                Ok(())
            }
        }
    }

    fn game(&self) -> Result<Arc<str>, Refusal> {
        self.game.clone().ok_or_else(|| Refusal::forbidden("the access token is not for a game (log in with the game's client key)"))
    }

    /// `join_room` with a ticket: verified, then the match room it names.
    async fn join_by_ticket(&mut self, j: TicketJoin) {
        if let Err(refusal) = self.ticket_room(j).await {
            self.refuse(refusal);
        }
    }

    async fn ticket_room(&mut self, j: TicketJoin) -> Result<(), Refusal> {
        self.settle();
        if self.room.is_some() {
            return Err(Refusal::conflict("already in a room: leave_room first"));
        }
        let game = self.game()?;
        let relay = self.relay.clone();
        let t = relay.verifier.ticket(&j.ticket).await?;
        if *t.sub != *self.peer.player_id {
            return Err(Refusal::forbidden("the room ticket is for another player"));
        }
        if *t.game != *game {
            return Err(Refusal::forbidden("the room ticket is for another game"));
        }
        if t.region != relay.region {
            return Err(Refusal::forbidden(format!("the room ticket is for region {}, this is {}", t.region, relay.region)));
        }
        if j.room_id.as_ref().is_some_and(|r| *r != t.room) {
            return Err(Refusal::invalid("room_id is not the room of the ticket"));
        }
        let room = relay.find_room(&t.room).ok_or_else(|| Refusal::not_found("no such room on this relay"))?;
        if room.match_id().map(|m| &**m) != Some(t.match_id.as_str()) || *room.game != *game {
            return Err(Refusal::forbidden("the room ticket is for another match"));
        }
        self.seat(room, j.player_data).await
    }

    /// `join_room` with a code this relay does not hold: the relay of the region that holds
    /// it, if any (`redirect`), else not found.
    async fn redirect(&mut self, code: String) {
        match self.relay.elsewhere(&code).await {
            Some(url) => {
                Metrics::add(&self.relay.metrics.redirects, 1);
                self.peer.send(&ServerMessage::Redirect { url, room_id: code });
            }
            None => self.refuse(Refusal::not_found("no such room")),
        }
    }

    /// `join_room` by room id or code (private rooms).
    async fn join_by_code(&mut self, room_id: Option<String>, password: Option<String>, player_data: Value) {
        if let Err(refusal) = self.code_room(room_id, password, player_data).await {
            self.refuse(refusal);
        }
    }

    async fn code_room(&mut self, room_id: Option<String>, password: Option<String>, player_data: Value) -> Result<(), Refusal> {
        self.settle();
        if self.room.is_some() {
            return Err(Refusal::conflict("already in a room: leave_room first"));
        }
        let game = self.game()?;
        let id = room_id.ok_or_else(|| Refusal::invalid("join_room needs a room_id (or code) or a ticket"))?;
        let room = self.relay.find_room(&id).ok_or_else(|| Refusal::not_found("no such room"))?;
        if *room.game != *game {
            return Err(Refusal::forbidden("the room belongs to another game"));
        }
        match &room.kind {
            RoomKind::Match { .. } => return Err(Refusal::forbidden("this room admits players with a room ticket")),
            RoomKind::Private { password: Some(want), .. } => {
                if !password.as_deref().is_some_and(|p| constant_time_eq(p.as_bytes(), want.as_bytes())) {
                    return Err(Refusal::forbidden("wrong password"));
                }
            }
            RoomKind::Private { password: None, .. } => {}
        }
        self.seat(room, player_data).await
    }

    /// A room this connection sat in that has since ended (its logic ended the match) is
    /// forgotten: the player may join another.
    fn settle(&mut self) {
        if self.room.as_ref().is_some_and(|r| r.is_closed()) {
            self.room = None;
            self.relay.seat_changed(&self.peer.player_id, false);
        }
    }

    async fn seat(&mut self, room: Arc<Room>, player_data: Value) -> Result<(), Refusal> {
        self.relay.check_seat_quota(&self.peer.player_id)?;
        let joined = match room.logic() {
            // An authoritative room's component admits a player taking a new seat.
            Some(logic) if !room.has_seat(&self.peer.player_id) => logic.join(&self.peer, player_data).await?,
            _ => room.join(&self.relay, &self.peer, player_data)?,
        };
        if joined.new_seat {
            self.relay.seated(joined.resume_token, &room, &self.peer.player_id);
        }
        self.relay.seat_changed(&self.peer.player_id, true);
        self.room = Some(room);
        Ok(())
    }

    async fn new_private_room(&mut self, options: RoomOptions) -> Result<Arc<Room>, Refusal> {
        self.settle();
        if self.room.is_some() {
            return Err(Refusal::conflict("already in a room: leave_room first"));
        }
        let game = self.game()?;
        self.relay.check_seat_quota(&self.peer.player_id)?;
        let logic = self.relay.logic.binding(&game).await?;
        self.relay.create_private_room(game, self.peer.player_id.clone(), options, logic)
    }

    /// `create_room`: the room (run by the game's logic when it handles rooms), its code
    /// listed in the region's directory when there is one, then the creator's seat.
    async fn create_listed(&mut self, options: RoomOptions, player_data: Value) {
        let room = match self.new_private_room(options).await {
            Ok(room) => room,
            Err(refusal) => return self.refuse(refusal),
        };
        if let Some(code) = room.code() {
            self.relay.list_code(code).await;
        }
        if let Err(refusal) = self.seat(room, player_data).await {
            self.refuse(refusal);
        }
    }

    fn leave(&mut self) -> Result<(), Refusal> {
        let room = self.room.take().ok_or_else(Refusal::not_in_room)?;
        self.relay.seat_changed(&self.peer.player_id, false);
        if let Some(d) = room.leave(&self.relay, self.peer.id, "left") {
            self.relay.departed(&room, d);
        }
        self.peer.send(&ServerMessage::RoomLeft { room_id: room.id.to_string(), reason: "left".into() });
        Ok(())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
