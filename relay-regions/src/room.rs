//! A room: its seats, each player's state with field-level change ticks, and the tick
//! that sends every member the state that changed since its last acknowledgement.
//!
//! Concurrency: one `std::sync::Mutex` per room. A connection's task locks it for the few
//! microseconds a message takes (merge a state update, relay an RPC); the room's own tick
//! task locks it 20 times a second to build the batches. Frames for other members go into
//! their queues ([`Peer::push`]) while the lock is held, which keeps every member's view in
//! one order; the writing to sockets happens in each connection's task, outside any lock.
//! Lock order: the node's registry, then a room, then a peer's queue; never backwards.
//!
//! Ticks and deltas: the room counts ticks (`tick`, 0 when it opens). A field changed
//! between tick `t-1` and tick `t` is stamped `t`. Each seat remembers `acked`, the last
//! tick its client acknowledged (`ack {tick}`), which starts at the tick of its
//! `room_joined` (whose snapshot holds everything up to then). At tick `t` a client gets
//! one `state_batch {tick: t}` holding, for every other player, the fields stamped after
//! its `acked` (a removed field as `null`); nothing when nothing changed. A client that
//! never acknowledges therefore gets, every tick, everything changed since it joined.
//! Removed fields are kept as `null` until every connected member has acknowledged them.
//! A client never gets its own state in batches; `room_joined.snapshot` holds everyone's,
//! its own included (what a resumed client restores from).
//!
//! Authoritative rooms ([`crate::logic`]): a player's `state_update` is not shown to anyone.
//! It waits in the seat's `pending` fields until the tick, which hands every player's
//! pending fields to the game's component; what the component answers is applied as the
//! players' state (stamped like any change) and sent out in the same tick, to every member,
//! the player's own state included (the component may have corrected it).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aethex_protocol::multiplayer::{Encoding, PlayerInfo, PlayerState, RoomSummary, ServerMessage};
use axum::extract::ws::Message;
use serde_json::{Map, Value};

use crate::codec::{approx_size, json_batch, msgpack_batch, Field, FieldsSince, Fragment, Outgoing, PlayerStateView};
use crate::error::{Kick, Refusal};
use crate::logic::LogicLink;
use crate::peer::Peer;
use crate::state::Relay;

/// Where a room came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomKind {
    /// `create_room`: joined by id or code, maybe with a password.
    Private { code: Arc<str>, password: Option<String>, creator: Arc<str> },
    /// `POST /v1/rooms` for a match: joined with a room ticket.
    Match { match_id: Arc<str>, mode: String },
}

pub struct Room {
    pub id: Arc<str>,
    pub game: Arc<str>,
    pub kind: RoomKind,
    pub max_players: u32,
    properties: Map<String, Value>,
    opened: Instant,
    /// The game's component that decides this room's state (authoritative rooms).
    logic: Option<LogicLink>,
    inner: Mutex<RoomState>,
}

#[derive(Default)]
struct RoomState {
    tick: u64,
    seats: Vec<Seat>,
    host: Option<Arc<str>>,
    next_seq: u64,
    closed: bool,
    ever_joined: bool,
    /// Seats whose player dropped (held for the resume grace).
    held: usize,
    /// Removed fields still kept as `null`.
    tombstones: usize,
    /// Match rooms: players the match (or a backfill) placed here who have not taken their
    /// seat yet, each with the time until which their seat is kept out of the open count.
    awaiting: Vec<(Arc<str>, Instant)>,
}

struct Seat {
    player_id: Arc<str>,
    /// Order of arrival (host migration picks the lowest connected).
    seq: u64,
    player_data: Value,
    resume_token: Arc<str>,
    peer: Option<Arc<Peer>>,
    /// `peer`'s id, 0 when dropped.
    conn: u64,
    dropped_at: Option<Instant>,
    acked: u64,
    fields: Vec<Field>,
    state_bytes: usize,
    /// Authoritative rooms: fields sent since the last tick, for the component.
    pending: Map<String, Value>,
    pending_bytes: usize,
    timestamp: u64,
    /// Highest change tick of `fields` (0: none).
    last_changed: u64,
    voice: bool,
    /// Players whose voice this one does not want.
    muted: Vec<Arc<str>>,
}

/// A seat that went away; the caller updates the registry (outside the room lock).
#[must_use]
pub struct Departure {
    pub resume_token: Arc<str>,
    /// The room has no seats left.
    pub empty: bool,
}

/// What a tick left for the caller to do in the registry.
#[derive(Default)]
#[must_use]
pub struct TickOutcome {
    pub closed: bool,
    pub expired: Vec<Arc<str>>,
}

/// A successful join.
#[must_use]
pub struct Joined {
    pub resume_token: Arc<str>,
    /// A new seat (not the player's existing one).
    pub new_seat: bool,
}

fn broadcast(seats: &[Seat], out: &mut Outgoing, except_conn: u64) {
    for s in seats {
        if let Some(p) = &s.peer {
            if s.conn != except_conn {
                if let Some(frame) = out.frame(p.encoding) {
                    p.push(frame);
                }
            }
        }
    }
}

fn random_token() -> Arc<str> {
    use base64::Engine;
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes).into()
}

/// `from + wait`, or as far as the clock goes (a configured wait of `u64::MAX` seconds
/// means "always").
fn later(from: Instant, wait: Duration) -> Instant {
    from.checked_add(wait).or_else(|| from.checked_add(Duration::from_secs(u64::from(u32::MAX)))).unwrap_or(from)
}

impl Room {
    pub fn new(id: Arc<str>, game: Arc<str>, kind: RoomKind, max_players: u32, properties: Map<String, Value>, logic: Option<LogicLink>) -> Self {
        Self { id, game, kind, max_players, properties, opened: Instant::now(), logic, inner: Mutex::new(RoomState::default()) }
    }

    /// The component deciding this room's state, for authoritative rooms.
    pub fn logic(&self) -> Option<&LogicLink> {
        self.logic.as_ref()
    }

    pub fn properties(&self) -> &Map<String, Value> {
        &self.properties
    }

    pub fn mode(&self) -> Option<&str> {
        match &self.kind {
            RoomKind::Match { mode, .. } => Some(mode),
            RoomKind::Private { .. } => None,
        }
    }

    /// Whether `player` holds a seat here (live or held).
    pub fn has_seat(&self, player: &str) -> bool {
        self.lock().seats.iter().any(|s| &*s.player_id == player)
    }

    fn lock(&self) -> MutexGuard<'_, RoomState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn code(&self) -> Option<&Arc<str>> {
        match &self.kind {
            RoomKind::Private { code, .. } => Some(code),
            RoomKind::Match { .. } => None,
        }
    }

    pub fn match_id(&self) -> Option<&Arc<str>> {
        match &self.kind {
            RoomKind::Match { match_id, .. } => Some(match_id),
            RoomKind::Private { .. } => None,
        }
    }

    /// Match rooms: the players the match placed here (seats kept for them for `wait`
    /// after the room opened).
    pub fn expect_players(&self, players: &[String], wait: Duration) {
        let until = later(self.opened, wait);
        self.lock().awaiting = players.iter().map(|p| (Arc::from(p.as_str()), until)).collect();
    }

    /// Match rooms: players origin placed here by backfill (seats kept for them for `wait`
    /// from now). A player already seated, or more than the room holds, is not added.
    pub fn expect_backfilled(&self, players: &[String], wait: Duration) {
        let now = Instant::now();
        let until = later(now, wait);
        let mut st = self.lock();
        st.awaiting.retain(|(_, u)| *u > now);
        for p in players {
            if st.seats.iter().any(|s| *s.player_id == **p) {
                continue;
            }
            let room_left = st.awaiting.len() < self.max_players as usize;
            match st.awaiting.iter_mut().find(|(a, _)| **a == **p) {
                Some(entry) => entry.1 = until,
                None if room_left => st.awaiting.push((Arc::from(p.as_str()), until)),
                None => {}
            }
        }
    }

    /// Seats nobody holds: not a held seat of a dropped player, nor the seat of a player
    /// the match or a backfill placed here who is still on the way (for
    /// `limits.unjoined_room_secs`). `None` once closed.
    pub fn open_seats(&self) -> Option<u32> {
        let st = self.lock();
        let now = Instant::now();
        let on_the_way = st.awaiting.iter().filter(|(_, until)| *until > now).count();
        (!st.closed).then(|| self.max_players.saturating_sub((st.seats.len() + on_the_way) as u32))
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub fn summary(&self) -> RoomSummary {
        let st = self.lock();
        RoomSummary {
            room_id: self.id.to_string(),
            game_id: self.game.to_string(),
            code: self.code().map(|c| c.to_string()),
            match_id: self.match_id().map(|m| m.to_string()),
            players: st.seats.len() as u32,
            max_players: self.max_players,
        }
    }

    /// Seats `peer`'s player: a new seat, or the player's existing one (a second
    /// connection replaces the first, which is kicked; a held seat is taken back).
    /// Queues `room_joined` for the player and `player_joined` for the others.
    pub fn join(&self, relay: &Relay, peer: &Arc<Peer>, player_data: Value) -> Result<Joined, Refusal> {
        let mut st = self.lock();
        if st.closed {
            return Err(Refusal::not_found("the room has closed"));
        }
        if let Some(i) = st.seats.iter().position(|s| s.player_id == peer.player_id) {
            self.attach(&mut st, i, peer, None);
            return Ok(Joined { resume_token: st.seats[i].resume_token.clone(), new_seat: false });
        }
        if st.seats.len() >= self.max_players as usize {
            return Err(Refusal::conflict(format!("the room is full ({} players)", self.max_players)));
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        let resume_token = random_token();
        let tick = st.tick;
        // Seats grow one at a time (at most 64 moves of a few hundred bytes, per join):
        // doubling would leave a room of 10 holding 16 seats for as long as it lives.
        st.seats.reserve_exact(1);
        st.seats.push(Seat {
            player_id: peer.player_id.clone(),
            seq,
            player_data: player_data.clone(),
            resume_token: resume_token.clone(),
            peer: Some(peer.clone()),
            conn: peer.id,
            dropped_at: None,
            acked: tick,
            fields: Vec::new(),
            state_bytes: 0,
            pending: Map::new(),
            pending_bytes: 0,
            timestamp: 0,
            last_changed: 0,
            voice: false,
            muted: Vec::new(),
        });
        st.ever_joined = true;
        st.awaiting.retain(|(p, _)| *p != peer.player_id);
        relay.metrics.seats.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if st.host.is_none() {
            st.host = Some(peer.player_id.clone());
        }
        let mut joined =
            Outgoing::new(ServerMessage::PlayerJoined { player: PlayerInfo { player_id: peer.player_id.to_string(), player_data, connected: true } });
        broadcast(&st.seats, &mut joined, peer.id);
        let i = st.seats.len() - 1;
        peer.send(&self.room_joined(&st, i));
        Ok(Joined { resume_token, new_seat: true })
    }

    /// Gives the seat holding `resume_token` back to `peer` (same player only). `before`
    /// is queued first (the `auth_ok {resumed: true}`), then `room_joined`.
    pub fn resume(&self, peer: &Arc<Peer>, resume_token: &str, before: Message) -> bool {
        let mut st = self.lock();
        if st.closed {
            return false;
        }
        let Some(i) = st.seats.iter().position(|s| &*s.resume_token == resume_token && s.player_id == peer.player_id) else {
            return false;
        };
        self.attach(&mut st, i, peer, Some(before));
        true
    }

    fn attach(&self, st: &mut RoomState, i: usize, peer: &Arc<Peer>, before: Option<Message>) {
        let tick = st.tick;
        let seat = &mut st.seats[i];
        if let Some(old) = seat.peer.take() {
            if old.id != peer.id {
                old.kick(Kick::Replaced);
            }
        }
        let was_held = seat.dropped_at.take().is_some();
        seat.peer = Some(peer.clone());
        seat.conn = peer.id;
        seat.acked = tick;
        if was_held {
            st.held -= 1;
            let mut back = Outgoing::new(ServerMessage::PlayerReconnected { player_id: peer.player_id.to_string() });
            broadcast(&st.seats, &mut back, peer.id);
        }
        if let Some(b) = before {
            peer.push(b);
        }
        // The host may have been a dropped player with nobody else connected.
        Self::fix_host(st);
        peer.send(&self.room_joined(st, i));
    }

    fn room_joined(&self, st: &RoomState, i: usize) -> ServerMessage {
        let players = st
            .seats
            .iter()
            .map(|s| PlayerInfo { player_id: s.player_id.to_string(), player_data: s.player_data.clone(), connected: s.peer.is_some() })
            .collect();
        let snapshot = st
            .seats
            .iter()
            .map(|s| PlayerState {
                player_id: s.player_id.to_string(),
                timestamp: s.timestamp,
                data: s.fields.iter().filter(|f| !f.value.is_null()).map(|f| (f.key.clone(), f.value.clone())).collect(),
            })
            .collect();
        ServerMessage::RoomJoined {
            room_id: self.id.to_string(),
            code: self.code().map(|c| c.to_string()),
            host: st.host.as_deref().unwrap_or_default().to_string(),
            max_players: self.max_players,
            players,
            snapshot,
            tick: st.tick,
            resume_token: st.seats[i].resume_token.to_string(),
            properties: self.properties.clone(),
        }
    }

    /// Makes the host a connected player when there is one: keeps a connected host,
    /// else picks the connected player present longest; with nobody connected keeps a
    /// held host, or the longest-present held seat. Tells everyone when it changes.
    fn fix_host(st: &mut RoomState) {
        let connected = |id: &Arc<str>| st.seats.iter().any(|s| &s.player_id == id && s.peer.is_some());
        if st.host.as_ref().is_some_and(connected) {
            return;
        }
        let seated = |id: &Arc<str>| st.seats.iter().any(|s| &s.player_id == id);
        let best_connected = st.seats.iter().filter(|s| s.peer.is_some()).min_by_key(|s| s.seq).map(|s| s.player_id.clone());
        let new = match best_connected {
            Some(p) => Some(p),
            None if st.host.as_ref().is_some_and(seated) => st.host.clone(),
            None => st.seats.iter().min_by_key(|s| s.seq).map(|s| s.player_id.clone()),
        };
        if new != st.host {
            st.host = new;
            if let Some(h) = &st.host {
                let mut msg = Outgoing::new(ServerMessage::HostChanged { host: h.to_string() });
                broadcast(&st.seats, &mut msg, 0);
            }
        }
    }

    fn remove_seat(&self, relay: &Relay, st: &mut RoomState, i: usize, reason: &str) -> Departure {
        let seat = st.seats.remove(i);
        if seat.dropped_at.is_some() {
            st.held -= 1;
        }
        st.tombstones -= seat.fields.iter().filter(|f| f.value.is_null()).count();
        relay.metrics.seats.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        for s in st.seats.iter_mut() {
            s.muted.retain(|m| *m != seat.player_id);
        }
        if let Some(logic) = &self.logic {
            logic.leave(seat.player_id.clone());
        }
        let mut left = Outgoing::new(ServerMessage::PlayerLeft { player_id: seat.player_id.to_string(), reason: reason.to_string() });
        broadcast(&st.seats, &mut left, 0);
        if st.host.as_ref() == Some(&seat.player_id) {
            st.host = None;
        }
        Self::fix_host(st);
        if st.seats.is_empty() {
            st.closed = true;
        }
        Departure { resume_token: seat.resume_token, empty: st.seats.is_empty() }
    }

    /// The player of connection `conn` leaves (`leave_room`, or kicked for abuse): the seat
    /// is freed and the others get `player_left`.
    pub fn leave(&self, relay: &Relay, conn: u64, reason: &str) -> Option<Departure> {
        let mut st = self.lock();
        let i = st.seats.iter().position(|s| s.conn == conn)?;
        Some(self.remove_seat(relay, &mut st, i, reason))
    }

    /// Connection `conn` dropped: its seat is held for the grace period (others get
    /// `player_disconnected`), or freed at once with no grace. Nothing happens when the
    /// seat has moved to another connection meanwhile.
    pub fn drop_conn(&self, relay: &Relay, conn: u64) -> Option<Departure> {
        let mut st = self.lock();
        let i = st.seats.iter().position(|s| s.conn == conn)?;
        if relay.grace.is_zero() {
            return Some(self.remove_seat(relay, &mut st, i, "disconnected"));
        }
        let seat = &mut st.seats[i];
        seat.peer = None;
        seat.conn = 0;
        seat.voice = false;
        seat.dropped_at = Some(Instant::now());
        let player_id = seat.player_id.to_string();
        st.held += 1;
        let mut msg = Outgoing::new(ServerMessage::PlayerDisconnected { player_id, grace_secs: relay.grace.as_secs() as u32 });
        broadcast(&st.seats, &mut msg, 0);
        Self::fix_host(&mut st);
        None
    }

    fn seat_of(st: &RoomState, conn: u64) -> Result<usize, Refusal> {
        st.seats.iter().position(|s| s.conn == conn).ok_or_else(Refusal::not_in_room)
    }

    /// Merges a `state_update`: top-level keys are fields, `null` removes one. In an
    /// authoritative room the fields wait for the component's tick instead.
    pub fn update_state(&self, relay: &Relay, conn: u64, timestamp: u64, data: Map<String, Value>) -> Result<(), Refusal> {
        let mut st = self.lock();
        let i = Self::seat_of(&st, conn)?;
        if self.logic.is_some() {
            return Self::queue_input(&mut st.seats[i], &relay.limits, timestamp, data);
        }
        let stamp = st.tick + 1;
        Self::merge(&mut st, i, &relay.limits, data, stamp)?;
        st.seats[i].timestamp = timestamp;
        Ok(())
    }

    /// An authoritative room's input: merged into the seat's pending fields (the latest
    /// value of each), within the same limits as a player's state.
    fn queue_input(seat: &mut Seat, limits: &crate::config::Limits, timestamp: u64, data: Map<String, Value>) -> Result<(), Refusal> {
        let mut bytes = seat.pending_bytes;
        let mut fields = seat.pending.len();
        for (k, v) in &data {
            match seat.pending.get(k) {
                Some(old) => bytes = bytes.saturating_sub(k.len() + approx_size(old)),
                None => fields += 1,
            }
            bytes += k.len() + approx_size(v);
        }
        if fields > limits.max_state_fields {
            return Err(Refusal::invalid(format!("at most {} fields between two ticks", limits.max_state_fields)));
        }
        if bytes > limits.max_state_bytes {
            return Err(Refusal::invalid(format!("at most {} bytes of fields between two ticks", limits.max_state_bytes)));
        }
        seat.pending.extend(data);
        seat.pending_bytes = bytes;
        seat.timestamp = timestamp;
        Ok(())
    }

    /// Applies field changes to seat `i`'s state, stamped `stamp`: whole, or not at all
    /// when the state would break a limit.
    fn merge(st: &mut RoomState, i: usize, limits: &crate::config::Limits, data: Map<String, Value>, stamp: u64) -> Result<(), Refusal> {
        let seat = &st.seats[i];
        // Check the limits before changing anything, so an update applies whole or not at
        // all. Removed fields (`null`) count for neither.
        let mut live = seat.fields.iter().filter(|f| !f.value.is_null()).count() as isize;
        let mut bytes = seat.state_bytes as isize;
        for (k, v) in &data {
            let was = seat.fields.iter().find(|f| f.key == *k).filter(|f| !f.value.is_null());
            if let Some(f) = was {
                bytes -= f.size as isize;
                live -= 1;
            }
            if !v.is_null() {
                bytes += (k.len() + approx_size(v)) as isize;
                live += 1;
            }
        }
        if live > limits.max_state_fields as isize {
            return Err(Refusal::invalid(format!("a player's state holds at most {} fields", limits.max_state_fields)));
        }
        if bytes > limits.max_state_bytes as isize {
            return Err(Refusal::invalid(format!("a player's state holds at most {} bytes", limits.max_state_bytes)));
        }
        let mut tombstones = st.tombstones;
        let seat = &mut st.seats[i];
        let mut changed = false;
        for (k, v) in data {
            let size = (k.len() + approx_size(&v)) as u32;
            match seat.fields.iter_mut().find(|f| f.key == k) {
                Some(f) => {
                    if f.value == v {
                        continue;
                    }
                    match (f.value.is_null(), v.is_null()) {
                        (false, true) => tombstones += 1,
                        (true, false) => tombstones -= 1,
                        _ => {}
                    }
                    f.value = v;
                    f.size = size;
                    f.changed = stamp;
                }
                None if v.is_null() => continue,
                None => seat.fields.push(Field { key: k, value: v, changed: stamp, size }),
            }
            changed = true;
        }
        if changed {
            seat.last_changed = stamp;
        }
        // Removed fields are kept until acknowledged; a peer that never acknowledges must
        // not let them pile up: past the cap the oldest go (that peer keeps a stale field).
        let cap = limits.max_state_fields.max(1) * 2;
        while seat.fields.len() > cap {
            let oldest = seat.fields.iter().enumerate().filter(|(_, f)| f.value.is_null()).min_by_key(|(_, f)| f.changed).map(|(i, _)| i);
            let Some(i) = oldest else { break };
            seat.fields.remove(i);
            tombstones -= 1;
        }
        seat.state_bytes = seat.fields.iter().filter(|f| !f.value.is_null()).map(|f| f.size as usize).sum();
        st.tombstones = tombstones;
        Ok(())
    }

    pub fn ack(&self, conn: u64, tick: u64) -> Result<(), Refusal> {
        let mut st = self.lock();
        let i = Self::seat_of(&st, conn)?;
        let now = st.tick;
        let seat = &mut st.seats[i];
        seat.acked = seat.acked.max(tick.min(now));
        Ok(())
    }

    fn target(st: &RoomState, player_id: &str) -> Result<usize, Refusal> {
        let i = st.seats.iter().position(|s| &*s.player_id == player_id).ok_or_else(|| Refusal::not_found("no such player in the room"))?;
        if st.seats[i].peer.is_none() {
            return Err(Refusal::unavailable("that player is disconnected"));
        }
        Ok(i)
    }

    /// `rpc` to one player, `"all"` (the others) or `"host"` (the host, who may be the
    /// sender).
    pub fn rpc(&self, conn: u64, method: String, target: &str, args: Vec<Value>) -> Result<(), Refusal> {
        let st = self.lock();
        let me = Self::seat_of(&st, conn)?;
        let from = st.seats[me].player_id.to_string();
        let mut msg = Outgoing::new(ServerMessage::Rpc { from, method, args });
        match target {
            "all" => broadcast(&st.seats, &mut msg, conn),
            "host" => {
                let host = st.host.clone().ok_or_else(|| Refusal::unavailable("the room has no host"))?;
                let i = Self::target(&st, &host)?;
                Self::send_to(&st.seats[i], &mut msg);
            }
            player => {
                let i = Self::target(&st, player)?;
                Self::send_to(&st.seats[i], &mut msg);
            }
        }
        Ok(())
    }

    fn send_to(seat: &Seat, msg: &mut Outgoing) {
        if let Some(p) = &seat.peer {
            if let Some(frame) = msg.frame(p.encoding) {
                p.push(frame);
            }
        }
    }

    /// Chat to the room (everyone else) or one player.
    pub fn chat(&self, conn: u64, text: String, to: Option<String>) -> Result<(), Refusal> {
        let st = self.lock();
        let me = Self::seat_of(&st, conn)?;
        let from = st.seats[me].player_id.to_string();
        match to {
            None => broadcast(&st.seats, &mut Outgoing::new(ServerMessage::Chat { from, text, to: None }), conn),
            Some(to) => {
                let i = Self::target(&st, &to)?;
                Self::send_to(&st.seats[i], &mut Outgoing::new(ServerMessage::Chat { from, text, to: Some(to) }));
            }
        }
        Ok(())
    }

    pub fn voice_signal(&self, conn: u64, to: &str, kind: String, payload: Value) -> Result<(), Refusal> {
        let st = self.lock();
        let me = Self::seat_of(&st, conn)?;
        let i = Self::target(&st, to)?;
        let from = st.seats[me].player_id.to_string();
        Self::send_to(&st.seats[i], &mut Outgoing::new(ServerMessage::VoiceSignal { from, kind, payload }));
        Ok(())
    }

    pub fn voice_enable(&self, conn: u64, enabled: bool) -> Result<(), Refusal> {
        let mut st = self.lock();
        let me = Self::seat_of(&st, conn)?;
        st.seats[me].voice = enabled;
        Ok(())
    }

    pub fn voice_mute(&self, conn: u64, player_id: &str, muted: bool) -> Result<(), Refusal> {
        let mut st = self.lock();
        let me = Self::seat_of(&st, conn)?;
        let other = st.seats.iter().find(|s| &*s.player_id == player_id).map(|s| s.player_id.clone());
        let Some(other) = other else { return Err(Refusal::not_found("no such player in the room")) };
        let list = &mut st.seats[me].muted;
        list.retain(|m| *m != other);
        if muted {
            list.push(other);
        }
        Ok(())
    }

    /// A voice frame to every other member who enabled voice and has not muted the sender.
    pub fn voice_frame(&self, conn: u64, data: String) -> Result<(), Refusal> {
        let st = self.lock();
        let me = Self::seat_of(&st, conn)?;
        let sender = &st.seats[me];
        if !sender.voice {
            return Err(Refusal::forbidden("enable voice first (voice_enable)"));
        }
        let mut msg = Outgoing::new(ServerMessage::VoiceFrame { from: sender.player_id.to_string(), data });
        for s in &st.seats {
            if s.conn != conn && s.voice && !s.muted.contains(&sender.player_id) {
                Self::send_to(s, &mut msg);
            }
        }
        Ok(())
    }

    /// Sends both players the other's public UDP address.
    pub fn introduce(&self, conn: u64, to: &str) -> Result<(), Refusal> {
        let st = self.lock();
        let me = Self::seat_of(&st, conn)?;
        let i = Self::target(&st, to)?;
        if i == me {
            return Err(Refusal::invalid("introduce yourself to another player"));
        }
        let (Some(mine), Some(theirs)) = (st.seats[me].peer.as_ref(), st.seats[i].peer.as_ref()) else {
            return Err(Refusal::unavailable("that player is disconnected"));
        };
        let my_addr = mine.udp().ok_or_else(|| Refusal::conflict("register your UDP address first (p2p_register, then a datagram)"))?;
        let their_addr = theirs.udp().ok_or_else(|| Refusal::conflict("that player has not registered a UDP address"))?;
        mine.send(&ServerMessage::P2pCandidate { player_id: theirs.player_id.to_string(), address: their_addr.to_string() });
        theirs.send(&ServerMessage::P2pCandidate { player_id: mine.player_id.to_string(), address: my_addr.to_string() });
        Ok(())
    }

    /// Authoritative rooms: the tick about to run and every player's pending fields (each
    /// value as JSON text), taken; `None` while nobody is seated, and once closed.
    pub fn take_inputs(&self) -> Option<(u64, Vec<aethex_logic_host::PlayerFields>)> {
        let mut st = self.lock();
        if st.closed || st.seats.is_empty() {
            return None;
        }
        let next = st.tick + 1;
        let inputs = st
            .seats
            .iter_mut()
            .filter(|s| !s.pending.is_empty())
            .map(|s| {
                s.pending_bytes = 0;
                let fields = std::mem::take(&mut s.pending)
                    .into_iter()
                    .map(|(name, value)| aethex_logic_host::Field { name, value: value.to_string() })
                    .collect();
                aethex_logic_host::PlayerFields { player_id: s.player_id.to_string(), fields }
            })
            .collect();
        Some((next, inputs))
    }

    /// Applies what an authoritative room's component decided, as the state of the tick
    /// about to run. Changes for players without a seat, values that are not JSON and
    /// states over the limits are left out (and logged): the rest still applies.
    pub fn apply_logic(&self, relay: &Relay, state: Vec<aethex_logic_host::PlayerFields>) {
        let mut st = self.lock();
        let stamp = st.tick + 1;
        for p in state {
            let Some(i) = st.seats.iter().position(|s| *s.player_id == *p.player_id) else {
                tracing::debug!(room = %self.id, player = %p.player_id, "game logic set the state of a player not in the room");
                continue;
            };
            let mut data = Map::new();
            for f in p.fields {
                match serde_json::from_str::<Value>(&f.value) {
                    Ok(v) => {
                        data.insert(f.name, v);
                    }
                    Err(_) => tracing::warn!(room = %self.id, game = %self.game, field = %f.name, "game logic answered a field that is not JSON"),
                }
            }
            if let Err(r) = Self::merge(&mut st, i, &relay.limits, data, stamp) {
                tracing::warn!(room = %self.id, game = %self.game, player = %p.player_id, why = %r.reason, "game logic answered a state over the limits");
            }
        }
    }

    /// A message from the room's logic (`rpc` from `server`) to one member or all.
    pub fn server_message(&self, to: Option<&str>, method: String, args: Vec<Value>) -> Result<(), Refusal> {
        let st = self.lock();
        if st.closed {
            return Err(Refusal::not_found("the room has closed"));
        }
        let mut msg = Outgoing::new(ServerMessage::Rpc { from: "server".into(), method, args });
        match to {
            None => broadcast(&st.seats, &mut msg, 0),
            Some(player) => {
                let i = Self::target(&st, player)?;
                Self::send_to(&st.seats[i], &mut msg);
            }
        }
        Ok(())
    }

    /// Ends the room (its logic ended the match, or failed): every member gets `room_left`
    /// with `reason` and loses the seat. Returns the seats' resume tokens, for the registry.
    pub fn end(&self, relay: &Relay, reason: &str) -> Vec<Arc<str>> {
        let mut st = self.lock();
        if st.closed {
            return Vec::new();
        }
        st.closed = true;
        let seats = std::mem::take(&mut st.seats);
        relay.metrics.seats.fetch_sub(seats.len() as i64, std::sync::atomic::Ordering::Relaxed);
        let left = ServerMessage::RoomLeft { room_id: self.id.to_string(), reason: reason.to_string() };
        seats
            .into_iter()
            .map(|s| {
                if let Some(p) = &s.peer {
                    p.send(&left);
                }
                s.resume_token
            })
            .collect()
    }

    /// Kicks every connected member (node shutdown).
    pub fn kick_all(&self, kick: Kick) {
        let st = self.lock();
        for s in &st.seats {
            if let Some(p) = &s.peer {
                p.kick(kick.clone());
            }
        }
    }

    /// One tick: frees seats whose grace ran out, closes an empty room, sends the state
    /// batches.
    pub fn tick(&self, relay: &Relay) -> TickOutcome {
        let mut out = TickOutcome::default();
        let mut st = self.lock();
        if st.closed {
            out.closed = true;
            return out;
        }
        st.tick += 1;
        let tick = st.tick;
        if st.held > 0 {
            let now = Instant::now();
            while let Some(i) = st.seats.iter().position(|s| s.dropped_at.is_some_and(|t| now.duration_since(t) >= relay.grace)) {
                let d = self.remove_seat(relay, &mut st, i, "timeout");
                out.expired.push(d.resume_token);
            }
        }
        let unjoined = !st.ever_joined && self.opened.elapsed() >= Duration::from_secs(relay.limits.unjoined_room_secs);
        if st.seats.is_empty() && (st.ever_joined || unjoined) {
            st.closed = true;
            out.closed = true;
            return out;
        }
        let batches = Self::send_batches(&st, tick, self.logic.is_some());
        if batches > 0 {
            relay.metrics.state_batches.fetch_add(batches, std::sync::atomic::Ordering::Relaxed);
        }
        if st.tombstones > 0 {
            Self::purge_tombstones(&mut st);
        }
        out
    }

    /// `own`: members get their own state too (authoritative rooms, where it may differ
    /// from what they sent).
    fn send_batches(st: &RoomState, tick: u64, own: bool) -> u64 {
        // Fragments of this tick: (seat seq, since, encoding) -> serialized player_state.
        let mut cache: Vec<(u64, u64, Encoding, Fragment)> = Vec::new();
        let mut picked: Vec<usize> = Vec::new();
        let mut sent = 0;
        for (i, seat) in st.seats.iter().enumerate() {
            let Some(peer) = &seat.peer else { continue };
            let since = seat.acked;
            let enc = peer.encoding;
            picked.clear();
            for (j, other) in st.seats.iter().enumerate() {
                if (j == i && !own) || other.last_changed <= since {
                    continue;
                }
                let k = match cache.iter().position(|c| c.0 == other.seq && c.1 == since && c.2 == enc) {
                    Some(k) => k,
                    None => {
                        let view = PlayerStateView {
                            player_id: &other.player_id,
                            timestamp: other.timestamp,
                            data: FieldsSince { fields: &other.fields, since, live_only: false },
                        };
                        let Some(f) = Fragment::of(&view, enc) else { continue };
                        cache.push((other.seq, since, enc, f));
                        cache.len() - 1
                    }
                };
                picked.push(k);
            }
            if picked.is_empty() {
                continue;
            }
            let frame = match enc {
                Encoding::Json => {
                    let frags = picked.iter().filter_map(|&k| match &cache[k].3 {
                        Fragment::Json(s) => Some(s.as_str()),
                        Fragment::Msgpack(_) => None,
                    });
                    let len = picked.iter().map(|&k| if let Fragment::Json(s) = &cache[k].3 { s.len() + 1 } else { 0 }).sum();
                    json_batch(tick, frags, len)
                }
                Encoding::Msgpack => {
                    let frags: Vec<&[u8]> = picked
                        .iter()
                        .filter_map(|&k| match &cache[k].3 {
                            Fragment::Msgpack(b) => Some(b.as_slice()),
                            Fragment::Json(_) => None,
                        })
                        .collect();
                    let len = frags.iter().map(|f| f.len()).sum();
                    msgpack_batch(tick, frags.into_iter(), len)
                }
            };
            peer.push(frame);
            sent += 1;
        }
        sent
    }

    /// Drops `null` fields every connected member has acknowledged (held seats get a full
    /// snapshot on resume and need none).
    fn purge_tombstones(st: &mut RoomState) {
        let min_acked = st.seats.iter().filter(|s| s.peer.is_some()).map(|s| s.acked).min().unwrap_or(u64::MAX);
        let mut removed = 0;
        for s in st.seats.iter_mut() {
            let before = s.fields.len();
            s.fields.retain(|f| !(f.value.is_null() && f.changed <= min_acked));
            removed += before - s.fields.len();
        }
        st.tombstones -= removed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn match_room(max_players: u32) -> Room {
        let kind = RoomKind::Match { match_id: "m1".into(), mode: "trio".into() };
        Room::new("r1".into(), "g1".into(), kind, max_players, Map::new(), None)
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn seats_of_players_on_the_way_are_not_open_until_their_wait_ends() {
        let room = match_room(4);
        room.expect_players(&names(&["a", "b"]), Duration::from_secs(60));
        assert_eq!(room.open_seats(), Some(2));
        room.expect_backfilled(&names(&["c"]), Duration::from_secs(60));
        assert_eq!(room.open_seats(), Some(1), "a backfilled player on the way keeps a seat");
        room.expect_backfilled(&names(&["c"]), Duration::from_secs(60));
        assert_eq!(room.open_seats(), Some(1), "the same player twice keeps one seat");
        room.expect_backfilled(&names(&["d"]), Duration::ZERO);
        assert_eq!(room.open_seats(), Some(1), "a wait that has ended keeps nothing");
        room.expect_backfilled(&names(&["e", "f", "g", "h", "i"]), Duration::from_secs(60));
        assert_eq!(room.open_seats(), Some(0), "never fewer than none");
        assert!(room.lock().awaiting.len() <= 4, "no more players kept than the room holds");
    }

    #[test]
    fn the_longest_configured_wait_does_not_overflow_the_clock() {
        let room = match_room(2);
        room.expect_players(&names(&["a"]), Duration::from_secs(u64::MAX));
        room.expect_backfilled(&names(&["b"]), Duration::MAX);
        assert_eq!(room.open_seats(), Some(0));
    }
}
