//! The node's shared state ([`Relay`]): settings, the token verifier, metrics, and the
//! registry of rooms (by id, by code, by match), of held seats (by resume token) and of
//! P2P nonces.
//!
//! Presence (who is connected, in which game, seated or not) is a map of its own, for
//! origin's friend lists (`POST /v1/presence`).
//!
//! The registry sits behind one mutex taken only to open, find and close rooms and to
//! file seats: joins and leaves, never the per-message or per-tick paths, which only lock
//! their room.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use aethex_protocol::matchmaking::{parse_mode, BackfillRequest};
use aethex_protocol::multiplayer::{is_room_code, OnlinePlayer, OpenRoomRequest, RoomOptions, RoomSummary};
use rand::Rng;

use crate::auth::Verifier;
use crate::config::Limits;
use crate::error::{Kick, Refusal};
use crate::logic::{Binding, PendingRunner, RoomLogic, RoomRunner};
use crate::metrics::Metrics;
use crate::peer::Peer;
use crate::room::{Departure, Room, RoomKind};

/// Most players a room may hold, whatever the configuration says.
pub const MAX_PLAYERS_PER_ROOM: u32 = 64;

pub struct Relay {
    pub region: String,
    /// `ws(s)://host:port` players reach this node at.
    pub public_url: String,
    /// The WebSocket URL (`public_url` + `/v1/multiplayer`).
    pub ws_url: String,
    /// The region's URL registered with origin (`public_url` unless several relays serve
    /// the region behind one address).
    pub region_url: String,
    /// `http(s)://host:port/v1/ping`.
    pub ping_url: String,
    /// `host:port` of the P2P endpoint as players reach it.
    pub udp_public: String,
    pub cluster_key: String,
    pub capacity: u32,
    pub tick_hz: u32,
    pub tick_period: Duration,
    pub grace: Duration,
    pub auth_timeout: Duration,
    pub ping_interval: Duration,
    pub limits: Limits,
    pub verifier: Verifier,
    pub metrics: Metrics,
    /// The games' components for authoritative rooms.
    pub logic: Arc<RoomLogic>,
    registry: Mutex<Registry>,
    nonces: Mutex<HashMap<u128, Weak<Peer>>>,
    presence: Mutex<HashMap<Arc<str>, Here>>,
    /// WebSockets per address that have not authenticated yet.
    preauth: Mutex<HashMap<std::net::IpAddr, u32>>,
    next_conn: AtomicU64,
    /// Open seats of match rooms, for origin's matcher to fill ([`crate::register::backfills`]).
    backfill_tx: tokio::sync::mpsc::UnboundedSender<BackfillRequest>,
    /// The region's room directory, when relays share a Redis.
    directory: std::sync::OnceLock<Arc<crate::directory::Directory>>,
    backfill_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<BackfillRequest>>>,
}

/// A connected player: open connections (a replacing one overlaps the old one for a
/// moment), how many of them hold a seat, and the game of the newest one.
struct Here {
    conns: u16,
    seated: u16,
    game: Option<Arc<str>>,
}

#[derive(Default)]
struct Registry {
    rooms: HashMap<Arc<str>, Arc<Room>>,
    codes: HashMap<Arc<str>, Arc<Room>>,
    /// (game, match id) -> room: opening a match's room twice gives the same room.
    matches: HashMap<(Arc<str>, Arc<str>), Arc<Room>>,
    /// Resume token -> room of the seat and its player.
    seats: HashMap<Arc<str>, (Arc<Room>, Arc<str>)>,
    /// Seats (live or held for a resume) per player, for `limits.max_seats_per_player`.
    seats_of: HashMap<Arc<str>, u32>,
    /// Private rooms open per creator, for `limits.max_rooms_per_player`.
    rooms_of: HashMap<Arc<str>, u32>,
}

/// One fewer of `key` in a per-key count; a count that reaches zero leaves the map, so
/// the maps hold only players and addresses that have something open.
fn count_down<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, u32>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }
}

impl Registry {
    fn remove_seat(&mut self, token: &str) {
        if let Some((_, player)) = self.seats.remove(token) {
            count_down(&mut self.seats_of, &player);
        }
    }
}

/// Settings [`Relay::new`] takes apart from the limits.
pub struct RelayParams {
    pub region: String,
    pub public_url: String,
    /// Empty: `public_url`.
    pub region_url: String,
    pub udp_public: String,
    pub cluster_key: String,
    pub capacity: u32,
    pub tick_hz: u32,
    pub grace: Duration,
    pub auth_timeout: Duration,
    pub ping_interval: Duration,
    pub verifier: Verifier,
    pub logic: Arc<RoomLogic>,
    pub metrics: Metrics,
}

impl Relay {
    pub fn new(p: RelayParams, limits: Limits) -> Self {
        let public_url = p.public_url.trim_end_matches('/').to_string();
        let ping_base = public_url.replacen("wss://", "https://", 1).replacen("ws://", "http://", 1);
        let tick_hz = p.tick_hz.clamp(1, 120);
        let (backfill_tx, backfill_rx) = tokio::sync::mpsc::unbounded_channel();
        Self {
            region: p.region,
            ws_url: format!("{public_url}{}", aethex_protocol::multiplayer::RELAY_WS_PATH),
            region_url: match p.region_url.trim().trim_end_matches('/') {
                "" => public_url.clone(),
                url => url.to_string(),
            },
            ping_url: format!("{ping_base}{}", aethex_protocol::multiplayer::RELAY_PING_PATH),
            public_url,
            udp_public: p.udp_public,
            cluster_key: p.cluster_key,
            capacity: p.capacity.max(1),
            tick_hz,
            tick_period: Duration::from_secs_f64(1.0 / f64::from(tick_hz)),
            grace: p.grace,
            auth_timeout: p.auth_timeout,
            ping_interval: p.ping_interval.max(Duration::from_secs(1)),
            limits,
            verifier: p.verifier,
            metrics: p.metrics,
            logic: p.logic,
            registry: Mutex::new(Registry::default()),
            nonces: Mutex::new(HashMap::new()),
            presence: Mutex::new(HashMap::new()),
            preauth: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            backfill_tx,
            backfill_rx: Mutex::new(Some(backfill_rx)),
            directory: std::sync::OnceLock::new(),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Uses the region's room directory from now on.
    pub fn set_directory(&self, d: crate::directory::Directory) {
        let _ = self.directory.set(Arc::new(d));
    }

    /// Whether the region's relays share a room directory.
    pub fn has_directory(&self) -> bool {
        self.directory.get().is_some()
    }

    /// The codes of this relay's private rooms.
    pub fn private_codes(&self) -> Vec<String> {
        self.registry().codes.keys().map(|c| c.to_string()).collect()
    }

    /// Lists every private room of this relay in the directory again (each heartbeat).
    pub async fn relist_codes(&self) {
        let Some(dir) = self.directory.get().cloned() else { return };
        if let Err(e) = dir.list(&self.private_codes()).await {
            dir.failed("list", &e);
        }
    }

    /// Lists a new private room's code in the directory (awaited: the creator learns the
    /// code only once every relay of the region can resolve it).
    pub async fn list_code(&self, code: &str) {
        let Some(dir) = self.directory.get().cloned() else { return };
        if let Err(e) = dir.list(&[code.to_string()]).await {
            dir.failed("list", &e);
        }
    }

    /// Lists or unlists one code in the background.
    fn directory_change(&self, code: &str, listed: bool) {
        let (Some(dir), Ok(rt)) = (self.directory.get().cloned(), tokio::runtime::Handle::try_current()) else { return };
        let code = code.to_string();
        rt.spawn(async move {
            let result = if listed { dir.list(std::slice::from_ref(&code)).await } else { dir.unlist(&code).await };
            if let Err(e) = result {
                dir.failed(if listed { "list" } else { "unlist" }, &e);
            }
        });
    }

    /// The relay WebSocket URL holding private room `code` when it is another relay of
    /// the region (looked up in the directory).
    pub async fn elsewhere(&self, code: &str) -> Option<String> {
        let dir = self.directory.get()?;
        match dir.lookup(code).await {
            Ok(url) => url,
            Err(e) => {
                dir.failed("lookup", &e);
                None
            }
        }
    }

    /// A room by id, or a private room by code.
    pub fn find_room(&self, id_or_code: &str) -> Option<Arc<Room>> {
        let reg = self.registry();
        if is_room_code(id_or_code) {
            reg.codes.get(id_or_code).cloned()
        } else {
            reg.rooms.get(id_or_code).cloned()
        }
    }

    fn presence_map(&self) -> MutexGuard<'_, HashMap<Arc<str>, Here>> {
        self.presence.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An authenticated connection of `player` opened.
    pub fn arrived(&self, player: &Arc<str>, game: Option<&Arc<str>>) {
        let mut map = self.presence_map();
        let here = map.entry(player.clone()).or_insert(Here { conns: 0, seated: 0, game: None });
        here.conns = here.conns.saturating_add(1);
        here.game = game.cloned();
    }

    /// One of `player`'s connections ended (`seated`: it still held a seat).
    pub fn went_away(&self, player: &str, seated: bool) {
        let mut map = self.presence_map();
        if let Some(here) = map.get_mut(player) {
            here.conns = here.conns.saturating_sub(1);
            if seated {
                here.seated = here.seated.saturating_sub(1);
            }
            if here.conns == 0 {
                map.remove(player);
            }
        }
    }

    /// One of `player`'s connections took (`true`) or left (`false`) a seat.
    pub fn seat_changed(&self, player: &str, seated: bool) {
        if let Some(here) = self.presence_map().get_mut(player) {
            here.seated = if seated { here.seated.saturating_add(1) } else { here.seated.saturating_sub(1) };
        }
    }

    /// Which of `ids` are connected here.
    pub fn online(&self, ids: &[String]) -> Vec<OnlinePlayer> {
        let map = self.presence_map();
        ids.iter()
            .filter_map(|id| {
                map.get(id.as_str()).map(|h| OnlinePlayer {
                    user_id: id.clone(),
                    game_id: h.game.as_deref().map(str::to_string),
                    in_room: h.seated > 0,
                })
            })
            .collect()
    }

    pub fn room_count(&self) -> usize {
        self.registry().rooms.len()
    }

    pub fn summaries(&self) -> Vec<RoomSummary> {
        let rooms: Vec<Arc<Room>> = self.registry().rooms.values().cloned().collect();
        rooms.iter().map(|r| r.summary()).collect()
    }

    fn max_players(&self) -> u32 {
        self.limits.max_players_per_room.clamp(2, MAX_PLAYERS_PER_ROOM)
    }

    /// Refuses a new seat to a player who holds `limits.max_seats_per_player` already
    /// (seats of dropped connections count until their resume grace ends).
    pub fn check_seat_quota(&self, player: &str) -> Result<(), Refusal> {
        let max = self.limits.max_seats_per_player;
        let held = self.registry().seats_of.get(player).copied().unwrap_or(0);
        if held >= max {
            return Err(Refusal::rate_limited(format!("you hold {held} seats on this relay (at most {max}): resume or leave one first")));
        }
        Ok(())
    }

    /// `create_room`: a private room of `game` (the creator joins it next), run by
    /// `logic` when the game's logic handles rooms.
    pub fn create_private_room(
        self: &Arc<Self>,
        game: Arc<str>,
        creator: Arc<str>,
        options: RoomOptions,
        logic: Option<Binding>,
    ) -> Result<Arc<Room>, Refusal> {
        let max = self.max_players();
        if !(2..=max).contains(&options.max_players) {
            return Err(Refusal::invalid(format!("max_players must be 2 to {max}")));
        }
        if let Some(p) = &options.password {
            if !(1..=128).contains(&p.chars().count()) {
                return Err(Refusal::invalid("password must be 1 to 128 characters"));
            }
        }
        let mut reg = self.registry();
        if reg.rooms.len() >= self.limits.max_rooms {
            return Err(Refusal::unavailable("this relay holds no more rooms; try another region"));
        }
        let mine = reg.rooms_of.get(&creator).copied().unwrap_or(0);
        if mine >= self.limits.max_rooms_per_player {
            let max = self.limits.max_rooms_per_player;
            return Err(Refusal::rate_limited(format!(
                "you have {mine} rooms open on this relay (at most {max}): join one or wait for one to close"
            )));
        }
        let mut rng = rand::thread_rng();
        let code: Arc<str> = loop {
            let letters: String = (0..4).map(|_| char::from(b'A' + rng.gen_range(0..26u8))).collect();
            let code = format!("{letters}-{:04}", rng.gen_range(0..10_000u32));
            if !reg.codes.contains_key(code.as_str()) {
                break code.into();
            }
        };
        let id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        let (link, runner) = logic.map(crate::logic::bind).unzip();
        let room = Arc::new(Room::new(
            id.clone(),
            game,
            RoomKind::Private { code: code.clone(), password: options.password, creator: creator.clone() },
            options.max_players,
            options.properties,
            link,
        ));
        reg.codes.insert(code.clone(), room.clone());
        *reg.rooms_of.entry(creator).or_insert(0) += 1;
        self.insert_room(&mut reg, room.clone(), runner);
        Ok(room)
    }

    /// `POST /v1/rooms`: a room for a match (the same room again for the same match), run
    /// by `logic` when the game's logic handles rooms.
    pub fn open_match_room(self: &Arc<Self>, req: OpenRoomRequest, logic: Option<Binding>) -> Result<Arc<Room>, Refusal> {
        if req.game_id.is_empty() || req.game_id.len() > 64 {
            return Err(Refusal::invalid("game_id must be 1 to 64 characters"));
        }
        if req.match_id.is_empty() || req.match_id.len() > 128 {
            return Err(Refusal::invalid("match_id must be 1 to 128 characters"));
        }
        let mode = parse_mode(&req.mode).map_err(|e| Refusal::invalid(e.to_string()))?;
        let max = self.max_players();
        if !(1..=max).contains(&req.max_players) {
            return Err(Refusal::invalid(format!("max_players must be 1 to {max}")));
        }
        if req.players.len() > req.max_players as usize {
            return Err(Refusal::invalid("more players than max_players"));
        }
        let game: Arc<str> = req.game_id.into();
        let match_id: Arc<str> = req.match_id.into();
        let mut reg = self.registry();
        if let Some(room) = reg.matches.get(&(game.clone(), match_id.clone())) {
            return Ok(room.clone());
        }
        if reg.rooms.len() >= self.limits.max_rooms {
            return Err(Refusal::unavailable("this relay holds no more rooms"));
        }
        let id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        let (link, runner) = logic.map(crate::logic::bind).unzip();
        let room = Arc::new(Room::new(id, game.clone(), RoomKind::Match { match_id: match_id.clone(), mode }, req.max_players, req.properties, link));
        room.expect_players(&req.players, Duration::from_secs(self.limits.unjoined_room_secs));
        tracing::info!(room = %room.id, game = %game, r#match = %match_id, players = req.players.len(), "match room opened");
        reg.matches.insert((game, match_id), room.clone());
        self.insert_room(&mut reg, room.clone(), runner);
        Ok(room)
    }

    fn insert_room(self: &Arc<Self>, reg: &mut Registry, room: Arc<Room>, logic: Option<PendingRunner>) {
        reg.rooms.insert(room.id.clone(), room.clone());
        self.metrics.rooms.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(run_room(self.clone(), room, logic));
    }

    /// Files a new seat's resume token.
    pub fn seated(&self, resume_token: Arc<str>, room: &Arc<Room>, player: &Arc<str>) {
        let mut reg = self.registry();
        if reg.seats.insert(resume_token, (room.clone(), player.clone())).is_none() {
            *reg.seats_of.entry(player.clone()).or_insert(0) += 1;
        }
    }

    /// The room of the seat a resume token names.
    pub fn room_of_seat(&self, resume_token: &str) -> Option<Arc<Room>> {
        self.registry().seats.get(resume_token).map(|(room, _)| room.clone())
    }

    /// Updates the registry after a seat went away (closing the room if it emptied, or
    /// asking origin to backfill a match room's open seat).
    pub fn departed(&self, room: &Room, d: Departure) {
        {
            let mut reg = self.registry();
            reg.remove_seat(&d.resume_token);
            if d.empty {
                if self.unlist(&mut reg, room) {
                    drop(reg);
                    self.directory_change(room.code().map(|c| &**c).unwrap_or_default(), false);
                }
                return;
            }
        }
        self.seats_opened(room);
    }

    /// A match room that is still open lost a seat: origin's matcher may fill it.
    fn seats_opened(&self, room: &Room) {
        if let Some(open_seats) = room.open_seats() {
            self.report_open_seats(room, open_seats);
        }
    }

    /// A backfill request about to be sent, with its room's open seats counted now rather
    /// than when it was queued (an earlier request's answer may have placed players on the
    /// way since): none once the room has closed or gone.
    pub fn backfill_now(&self, mut req: BackfillRequest) -> BackfillRequest {
        req.open_seats =
            self.find_room(&req.room_id).filter(|r| r.match_id().is_some_and(|m| **m == *req.match_id)).and_then(|r| r.open_seats()).unwrap_or(0);
        req
    }

    /// Origin placed `players` into match room `room_id` by backfill: their seats stay out
    /// of the open count while they are on the way, so a later departure does not offer
    /// them again.
    pub fn backfilled(&self, room_id: &str, players: &[String]) {
        if players.is_empty() {
            return;
        }
        if let Some(room) = self.find_room(room_id) {
            room.expect_backfilled(players, Duration::from_secs(self.limits.unjoined_room_secs));
        }
    }

    /// Tells origin's matcher how many seats of a match room it may fill (none once the
    /// room has closed, so no queued player is sent to a room that is gone).
    fn report_open_seats(&self, room: &Room, open_seats: u32) {
        let Some(match_id) = room.match_id() else { return };
        let req = BackfillRequest {
            game_id: room.game.to_string(),
            match_id: match_id.to_string(),
            room_id: room.id.to_string(),
            region: self.region.clone(),
            open_seats,
        };
        let _ = self.backfill_tx.send(req);
    }

    /// The receiving end of backfill requests (taken once, by the task that sends them).
    pub fn take_backfills(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<BackfillRequest>> {
        self.backfill_rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Takes a closed room out of the registry (once; a code or match id that has since
    /// gone to another room stays). Whether a private room's code was taken out. A match
    /// room taken out is reported to origin with no open seats.
    fn unlist(&self, reg: &mut Registry, room: &Room) -> bool {
        let mut code_freed = false;
        let is_this = |r: &Arc<Room>| std::ptr::eq(Arc::as_ptr(r), room);
        if reg.rooms.get(&room.id).is_some_and(is_this) {
            reg.rooms.remove(&room.id);
            self.metrics.rooms.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!(room = %room.id, "room closed");
        }
        if let Some(code) = room.code() {
            if reg.codes.get(code).is_some_and(is_this) {
                reg.codes.remove(code);
                code_freed = true;
                if let RoomKind::Private { creator, .. } = &room.kind {
                    count_down(&mut reg.rooms_of, creator);
                }
            }
        }
        if let Some(m) = room.match_id() {
            let key = (room.game.clone(), m.clone());
            if reg.matches.get(&key).is_some_and(is_this) {
                reg.matches.remove(&key);
                self.report_open_seats(room, 0);
            }
        }
        code_freed
    }

    /// A P2P nonce for `peer` (replacing `previous`).
    pub fn register_nonce(&self, peer: &Arc<Peer>, previous: Option<u128>) -> u128 {
        let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = previous {
            nonces.remove(&n);
        }
        loop {
            let n: u128 = rand::random();
            if n != 0 && !nonces.contains_key(&n) {
                nonces.insert(n, Arc::downgrade(peer));
                return n;
            }
        }
    }

    pub fn forget_nonce(&self, nonce: u128) {
        self.nonces.lock().unwrap_or_else(|p| p.into_inner()).remove(&nonce);
    }

    pub fn peer_of_nonce(&self, nonce: u128) -> Option<Arc<Peer>> {
        self.nonces.lock().unwrap_or_else(|p| p.into_inner()).get(&nonce).and_then(Weak::upgrade)
    }

    /// Takes one of `addr`'s pre-authentication slots (`limits.max_preauth_per_address`),
    /// given back when the returned guard drops (after `auth`, or when the socket ends).
    pub fn preauth_slot(self: &Arc<Self>, addr: std::net::IpAddr) -> Result<PreAuthSlot, Refusal> {
        let mut map = self.preauth.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(addr).or_insert(0);
        if *n >= self.limits.max_preauth_per_address {
            return Err(Refusal::rate_limited(format!(
                "{n} connections from your address have not authenticated yet (at most {}); send auth first",
                self.limits.max_preauth_per_address
            )));
        }
        *n += 1;
        Ok(PreAuthSlot { relay: self.clone(), addr })
    }

    /// Disconnects every seated player (the node is stopping).
    pub fn kick_everyone(&self) {
        let rooms: Vec<Arc<Room>> = self.registry().rooms.values().cloned().collect();
        for r in rooms {
            r.kick_all(Kick::Shutdown);
        }
    }
}

/// A connection that has not authenticated yet, counted against its address.
pub struct PreAuthSlot {
    relay: Arc<Relay>,
    addr: std::net::IpAddr,
}

impl Drop for PreAuthSlot {
    fn drop(&mut self) {
        count_down(&mut self.relay.preauth.lock().unwrap_or_else(|p| p.into_inner()), &self.addr);
    }
}

/// Ends a room its logic ended (or that failed): members get `room_left`, their seats
/// leave the registry; the room's next tick closes it.
fn end_room(relay: &Relay, room: &Room, ended: crate::logic::Ended) {
    if ended.failed {
        Metrics::add(&relay.metrics.logic_failures, 1);
    }
    let tokens = room.end(relay, &ended.reason);
    let mut reg = relay.registry();
    for t in &tokens {
        reg.remove_seat(t);
    }
}

/// A room's tick loop: runs until the room closes. An authoritative room's component runs
/// here too: between ticks the joins and leaves, in order; at each tick its `tick`, whose
/// answer is sent out in the same tick.
async fn run_room(relay: Arc<Relay>, room: Arc<Room>, logic: Option<PendingRunner>) {
    let mut every = tokio::time::interval(relay.tick_period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut runner = match logic {
        None => None,
        Some(pending) => match pending.start(&relay, &room).await {
            Ok(r) => Some(r),
            Err(ended) => {
                end_room(&relay, &room, ended);
                None
            }
        },
    };
    every.tick().await;
    loop {
        // Only receiving races the tick: a call, once received, runs to its end.
        let call = tokio::select! {
            _ = every.tick() => None,
            call = RoomRunner::next_call(&mut runner) => Some(call),
        };
        if let (Some(call), Some(r)) = (call, runner.as_mut()) {
            if let Err(ended) = r.handle(&relay, &room, call).await {
                runner = None;
                end_room(&relay, &room, ended);
            }
            continue;
        }
        let started = Instant::now();
        if let Some(r) = runner.as_mut() {
            if let Err(ended) = r.tick(&relay, &room).await {
                runner = None;
                end_room(&relay, &room, ended);
            }
        }
        let out = room.tick(&relay);
        Metrics::add(&relay.metrics.ticks, 1);
        Metrics::add(&relay.metrics.tick_micros, started.elapsed().as_micros() as u64);
        if !out.expired.is_empty() || out.closed {
            let mut reg = relay.registry();
            for t in &out.expired {
                reg.remove_seat(t);
            }
            if out.closed {
                if relay.unlist(&mut reg, &room) {
                    drop(reg);
                    relay.directory_change(room.code().map(|c| &**c).unwrap_or_default(), false);
                }
                return;
            }
            drop(reg);
            relay.seats_opened(&room);
        }
    }
}
