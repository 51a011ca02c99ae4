//! Authoritative rooms: the rooms of a game whose logic handles rooms (its WebAssembly
//! component registers `rooms: true`, `docs/logic.md`) run that component here, one
//! instance per room, so the component may keep the room's state in its own memory.
//!
//! - Which component: [`RoomLogic::binding`] asks origin
//!   (`GET /api/v1/games/{game}/logic/room`, relay key) and keeps the compiled program per
//!   game. A new room takes what is known; every `logic.refresh_secs` the next new room
//!   of the game checks origin again in the background (`If-None-Match`: only a new
//!   version's bytes travel), so a deploy or a rollback reaches new rooms without a restart.
//!   Rooms already open keep the version they opened with: their state lives in it. Only
//!   the first room of a game on this relay waits for origin.
//! - Each room's task ([`RoomRunner`], driven by the room's tick loop in [`crate::state`])
//!   owns the instance and calls it in order: `open`, then `join` (a player is seated only
//!   when it accepts, and in the same step), `leave` (a seat freed for any reason), and
//!   `tick` with every player's `state_update` fields since the previous tick; the answer
//!   is applied as the players' state and sent out in the same tick.
//! - Host calls other than room messages and logs (key-value storage, profiles, statistics,
//!   scores, achievements) go to origin (`POST /api/v1/games/{game}/logic/host`), which runs
//!   them for the game exactly as for its own hooks.
//! - A trap, a CPU budget or memory limit hit, or a call over its time bound ends that room
//!   only (`room_left` with the reason to every member); the relay and other rooms go on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use aethex_logic_host::{HostApi, HostFuture, HostResult, Limits, LogLevel, LogicEngine, Profile, Program, RoomInstance, Stat};
use aethex_protocol::logic::{RoomHostAnswer, RoomHostCall, LOGIC_VERSION_HEADER};
use aethex_protocol::multiplayer::RELAY_KEY_HEADER;
use base64::Engine;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::config::LogicSettings;
use crate::error::Refusal;
use crate::metrics::Metrics;
use crate::peer::Peer;
use crate::room::{Joined, Room};
use crate::state::Relay;

/// Largest component a relay accepts from origin (origin's own upload limit).
const MAX_COMPONENT_BYTES: usize = 64 * 1024 * 1024;
/// Longest reason a component's refusal or ending carries to players.
const MAX_REASON_CHARS: usize = 300;

/// What this relay knows of one game's room logic.
#[derive(Clone)]
struct Known {
    /// The active version origin answered (none: the game's rooms relay as usual). Sent
    /// back in `If-None-Match`, so a version that does not load here is fetched and
    /// compiled once, not on every check.
    version: Option<i64>,
    /// What new rooms run: that version, or, when it does not load here, the one before it.
    /// None with a version: nothing loads, and rooms of the game are refused.
    program: Option<(i64, Arc<Program>)>,
    checked: Instant,
}

impl Known {
    fn answer(&self) -> Result<Option<(i64, Arc<Program>)>, Refusal> {
        match (&self.program, self.version) {
            (None, Some(_)) => Err(Refusal::unavailable("the game's logic could not be loaded on this relay")),
            (program, _) => Ok(program.clone()),
        }
    }
}

/// The components of the games whose rooms run here, and the way to origin.
pub struct RoomLogic {
    settings: LogicSettings,
    engine: LogicEngine,
    http: reqwest::Client,
    origin_url: String,
    key: String,
    games: Mutex<HashMap<Arc<str>, Known>>,
    /// One check at a time per game.
    checking: Mutex<HashMap<Arc<str>, Arc<tokio::sync::Mutex<()>>>>,
    /// Authoritative rooms open now (`logic.max_rooms`).
    live: Arc<AtomicUsize>,
}

/// The program a new room of a game runs, and its place among `logic.max_rooms`.
pub struct Binding {
    pub version: i64,
    program: Arc<Program>,
    _live: LiveRoom,
}

/// One of the authoritative rooms open on this node; counted until dropped.
struct LiveRoom(Arc<AtomicUsize>);

impl Drop for LiveRoom {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

enum Fetched {
    None,
    Current,
    New(i64, Vec<u8>),
}

impl RoomLogic {
    /// `live` counts the authoritative rooms open (the relay's `aethex_relay_logic_rooms`).
    pub fn new(settings: &LogicSettings, origin_url: &str, key: &str, live: Arc<AtomicUsize>) -> Result<Self, String> {
        let limits = Limits {
            fuel_per_call: settings.fuel_per_call.max(1),
            memory_bytes: settings.memory_mib.max(1).saturating_mul(1 << 20),
            call_timeout: Duration::from_millis(settings.call_timeout_ms.max(1)),
            ..Limits::default()
        };
        let engine = LogicEngine::new(limits).map_err(|e| e.to_string())?;
        let http = aethex_runtime::tls::http_client()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            settings: settings.clone(),
            engine,
            http,
            origin_url: origin_url.trim().trim_end_matches('/').to_string(),
            key: key.to_string(),
            games: Mutex::default(),
            checking: Mutex::default(),
            live,
        })
    }

    /// Authoritative rooms open on this node.
    pub fn live_rooms(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    fn known(&self, game: &str) -> Option<Known> {
        self.games.lock().unwrap_or_else(|p| p.into_inner()).get(game).cloned()
    }

    fn fresh(&self, k: &Known) -> bool {
        k.checked.elapsed() < Duration::from_secs(self.settings.refresh_secs)
    }

    /// What a new room of `game` runs: its component when the game's logic handles rooms,
    /// else `None` (the room relays as usual).
    pub async fn binding(self: &Arc<Self>, game: &Arc<str>) -> Result<Option<Binding>, Refusal> {
        if !self.settings.enabled {
            return Ok(None);
        }
        let program = match self.known(game) {
            Some(k) => {
                if !self.fresh(&k) {
                    self.check_later(game);
                }
                k.answer()?
            }
            None => self.check(game).await?,
        };
        let Some((version, program)) = program else { return Ok(None) };
        let max = self.settings.max_rooms;
        if self.live.fetch_add(1, Ordering::Relaxed) >= max {
            self.live.fetch_sub(1, Ordering::Relaxed);
            return Err(Refusal::unavailable(format!("this relay runs {max} rooms with game logic already; try again shortly")));
        }
        Ok(Some(Binding { version, program, _live: LiveRoom(self.live.clone()) }))
    }

    fn check_later(self: &Arc<Self>, game: &Arc<str>) {
        if self.lock_of(game).try_lock().is_err() {
            return;
        }
        let (this, game) = (self.clone(), game.clone());
        tokio::spawn(async move {
            if let Err(r) = this.check(&game).await {
                tracing::warn!(game = %game, why = %r.message, "could not check the game's room logic");
            }
        });
    }

    fn lock_of(&self, game: &Arc<str>) -> Arc<tokio::sync::Mutex<()>> {
        self.checking.lock().unwrap_or_else(|p| p.into_inner()).entry(game.clone()).or_default().clone()
    }

    /// Asks origin which component runs the game's rooms, compiling a new one. When origin
    /// cannot answer, what was known stays (and is answered); with nothing known the room
    /// is refused rather than opened without the game's rules.
    async fn check(&self, game: &Arc<str>) -> Result<Option<(i64, Arc<Program>)>, Refusal> {
        let lock = self.lock_of(game);
        let _one = lock.lock().await;
        let known = self.known(game);
        if let Some(k) = known.as_ref().filter(|k| self.fresh(k)) {
            return k.answer();
        }
        let have = known.as_ref().and_then(|k| k.version);
        let fetched = self.fetch(game, have).await;
        let (version, program) = match fetched {
            Ok(Fetched::None) => (None, None),
            Ok(Fetched::Current) => known.map(|k| (k.version, k.program)).unwrap_or_default(),
            Ok(Fetched::New(version, wasm)) => {
                let started = Instant::now();
                match self.engine.load(wasm).await {
                    Ok(p) => {
                        tracing::info!(game = %game, version, ms = started.elapsed().as_millis() as u64, "loaded the game's room logic");
                        (Some(version), Some((version, p)))
                    }
                    Err(e) => {
                        tracing::error!(game = %game, version, error = %e, "the game's room logic does not load here");
                        (Some(version), known.and_then(|k| k.program))
                    }
                }
            }
            Err(why) => {
                tracing::warn!(game = %game, error = %why, "could not ask origin for the game's room logic");
                match known {
                    Some(k) => (k.version, k.program),
                    None => return Err(Refusal::unavailable("this relay cannot reach origin for the game's logic; try again shortly")),
                }
            }
        };
        let entry = Known { version, program, checked: Instant::now() };
        let answer = entry.answer();
        self.games.lock().unwrap_or_else(|p| p.into_inner()).insert(game.clone(), entry);
        answer
    }

    fn game_url(&self, game: &str, tail: &str) -> Result<url::Url, String> {
        let mut url = url::Url::parse(&self.origin_url).map_err(|e| format!("origin_url: {e}"))?;
        url.path_segments_mut()
            .map_err(|_| "origin_url cannot take a path".to_string())?
            .pop_if_empty()
            .extend(["api", "v1", "games", game, "logic", tail]);
        Ok(url)
    }

    async fn fetch(&self, game: &str, have: Option<i64>) -> Result<Fetched, String> {
        let mut req = self.http.get(self.game_url(game, "room")?).header(RELAY_KEY_HEADER, &self.key);
        if let Some(v) = have {
            req = req.header(reqwest::header::IF_NONE_MATCH, format!("\"{v}\""));
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        match resp.status().as_u16() {
            // No logic, or a game id origin does not take (so it runs no logic either).
            204 | 400 | 404 => Ok(Fetched::None),
            304 => Ok(Fetched::Current),
            200 => {
                let version = resp
                    .headers()
                    .get(LOGIC_VERSION_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .ok_or_else(|| format!("origin's answer has no {LOGIC_VERSION_HEADER}"))?;
                if resp.content_length().is_some_and(|n| n > MAX_COMPONENT_BYTES as u64) {
                    return Err("origin's component is too large".into());
                }
                let wasm = resp.bytes().await.map_err(|e| e.to_string())?;
                if wasm.len() > MAX_COMPONENT_BYTES {
                    return Err("origin's component is too large".into());
                }
                Ok(Fetched::New(version, wasm.to_vec()))
            }
            status => Err(format!("origin answered {status}: {}", resp.text().await.unwrap_or_default().chars().take(300).collect::<String>())),
        }
    }

    async fn host_call(&self, game: &str, call: &RoomHostCall) -> HostResult<Value> {
        let url = self.game_url(game, "host")?;
        let resp = self.http.post(url).header(RELAY_KEY_HEADER, &self.key).json(call).send().await.map_err(|e| {
            tracing::warn!(game, error = %e, "a room's host call to origin failed");
            "origin could not be reached; try again".to_string()
        })?;
        if !resp.status().is_success() {
            let status = resp.status();
            tracing::warn!(game, %status, "origin refused a room's host call");
            return Err(format!("origin refused the call ({status})"));
        }
        match resp.json::<RoomHostAnswer>().await {
            Ok(RoomHostAnswer::Ok(v)) => Ok(v),
            Ok(RoomHostAnswer::Err(reason)) => Err(reason),
            Err(e) => Err(format!("origin's answer is malformed: {e}")),
        }
    }
}

/// What a room holds of its component: the way to its task.
pub struct LogicLink {
    pub version: i64,
    tx: mpsc::UnboundedSender<Call>,
}

impl LogicLink {
    /// Asks the component to admit `peer`'s player and seats them in the same step. Waits
    /// for the calls queued before it (each bounded by `logic.call_timeout_ms`).
    pub async fn join(&self, peer: &Arc<Peer>, player_data: Value) -> Result<Joined, Refusal> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Call(CallKind::Join { peer: peer.clone(), player_data, reply })).map_err(|_| Refusal::not_found("the room has closed"))?;
        answer.await.unwrap_or_else(|_| Err(Refusal::not_found("the room has closed")))
    }

    /// Tells the component a player's seat is gone (in order with joins and ticks).
    pub fn leave(&self, player: Arc<str>) {
        let _ = self.tx.send(Call(CallKind::Leave(player)));
    }
}

/// A new authoritative room's link, and what its task starts its runner from.
pub fn bind(binding: Binding) -> (LogicLink, PendingRunner) {
    let (tx, rx) = mpsc::unbounded_channel();
    (LogicLink { version: binding.version, tx }, PendingRunner { binding, rx })
}

/// A runner not started yet (the room's task instantiates it).
pub struct PendingRunner {
    binding: Binding,
    rx: mpsc::UnboundedReceiver<Call>,
}

/// A room's component, owned by the room's task.
pub struct RoomRunner {
    instance: RoomInstance,
    host: Arc<RoomHost>,
    rx: mpsc::UnboundedReceiver<Call>,
    _binding: Binding,
}

/// Why a room's logic ended it: `reason` goes to every member as `room_left.reason`.
#[derive(Debug)]
pub struct Ended {
    pub reason: String,
    /// The component failed (rather than ending the match).
    pub failed: bool,
}

fn failed(game: &str, room: &str, e: &aethex_logic_host::LogicError) -> Ended {
    tracing::warn!(game, room, error = %e, "game logic failed in a room; the room ends");
    Ended { reason: format!("the game's logic failed: {e}").chars().take(MAX_REASON_CHARS).collect(), failed: true }
}

impl PendingRunner {
    /// One instance of the room's component, opened for `room`.
    pub async fn start(self, relay: &Arc<Relay>, room: &Arc<Room>) -> Result<RoomRunner, Ended> {
        let logic = relay.logic.clone();
        let host = Arc::new(RoomHost { logic, game: room.game.clone(), room: Arc::downgrade(room), sent: AtomicUsize::new(0) });
        let mut instance = self.binding.program.instantiate(host.clone()).await.map_err(|e| failed(&room.game, &room.id, &e))?;
        let properties = Value::Object(room.properties().clone()).to_string();
        instance.open(&room.id, room.mode(), &properties).await.map_err(|e| failed(&room.game, &room.id, &e))?;
        Ok(RoomRunner { instance, host, rx: self.rx, _binding: self.binding })
    }
}

impl RoomRunner {
    /// Waits for the next call to the room's component (it is run by [`RoomRunner::handle`]:
    /// this only receives, so a tick winning a `select!` against it never cuts a call short).
    pub async fn next_call(runner: &mut Option<RoomRunner>) -> Call {
        if let Some(r) = runner {
            if let Some(c) = r.rx.recv().await {
                return c;
            }
        }
        std::future::pending().await
    }

    /// Runs one call: a join (seating the player when the component admits them) or a leave.
    pub async fn handle(&mut self, relay: &Relay, room: &Room, call: Call) -> Result<(), Ended> {
        self.host.sent.store(0, Ordering::Relaxed);
        match call.0 {
            CallKind::Leave(player) => self.instance.leave(&player).await.map_err(|e| failed(&room.game, &room.id, &e)),
            CallKind::Join { peer, player_data, reply } => {
                let data = player_data.to_string();
                let admitted = match self.instance.join(&peer.player_id, &data).await {
                    Ok(a) => a,
                    Err(e) => {
                        let _ = reply.send(Err(Refusal::unavailable("the game's logic failed; the room ends")));
                        return Err(failed(&room.game, &room.id, &e));
                    }
                };
                let answer = match admitted {
                    Err(reason) => Err(Refusal::forbidden(reason.chars().take(MAX_REASON_CHARS).collect::<String>())),
                    Ok(()) => {
                        let seated = room.join(relay, &peer, player_data);
                        if seated.is_err() {
                            // Admitted by the component but not seated (the room filled or closed).
                            self.instance.leave(&peer.player_id).await.map_err(|e| failed(&room.game, &room.id, &e))?;
                        }
                        seated
                    }
                };
                let _ = reply.send(answer);
                Ok(())
            }
        }
    }

    /// One tick of the component: the calls queued before it first, then every player's
    /// fields since the previous tick; what it answers becomes the state of this tick.
    /// `Err` ends the room (the component ended the match, or failed).
    pub async fn tick(&mut self, relay: &Relay, room: &Room) -> Result<(), Ended> {
        while let Ok(call) = self.rx.try_recv() {
            self.handle(relay, room, call).await?;
        }
        let Some((tick, inputs)) = room.take_inputs() else { return Ok(()) };
        self.host.sent.store(0, Ordering::Relaxed);
        let started = Instant::now();
        let out = self.instance.tick(tick, &inputs).await;
        Metrics::add(&relay.metrics.logic_ticks, 1);
        Metrics::add(&relay.metrics.logic_tick_micros, started.elapsed().as_micros() as u64);
        let out = out.map_err(|e| failed(&room.game, &room.id, &e))?;
        room.apply_logic(relay, out.state);
        match out.end {
            Some(reason) => Err(Ended { reason: format!("the match ended: {reason}").chars().take(MAX_REASON_CHARS).collect(), failed: false }),
            None => Ok(()),
        }
    }
}

/// A call to a room's component made outside its tick.
pub struct Call(CallKind);

enum CallKind {
    /// Seat `peer` when the component accepts them.
    Join {
        peer: Arc<Peer>,
        player_data: Value,
        reply: oneshot::Sender<Result<Joined, Refusal>>,
    },
    Leave(Arc<str>),
}

/// What an authoritative room's component may call on this relay: room messages and logs
/// here, everything else at origin for the room's game.
struct RoomHost {
    logic: Arc<RoomLogic>,
    game: Arc<str>,
    room: Weak<Room>,
    /// Room messages sent in the current call ([`MAX_ROOM_MESSAGES_PER_CALL`]).
    sent: AtomicUsize,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(v: &Value) -> HostResult<Option<Vec<u8>>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => base64::engine::general_purpose::STANDARD.decode(s).map(Some).map_err(|_| "origin's answer is malformed".into()),
        _ => Err("origin's answer is malformed".into()),
    }
}

fn malformed<T>() -> HostResult<T> {
    Err("origin's answer is malformed".into())
}

impl RoomHost {
    async fn call(&self, call: RoomHostCall) -> HostResult<Value> {
        self.logic.host_call(&self.game, &call).await
    }
}

impl HostApi for RoomHost {
    fn kv_get(&self, key: String) -> HostFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move { unb64(&self.call(RoomHostCall::KvGet { key }).await?) })
    }

    fn kv_set(&self, key: String, value: Vec<u8>) -> HostFuture<'_, ()> {
        Box::pin(async move { self.call(RoomHostCall::KvSet { key, value: b64(&value) }).await.map(|_| ()) })
    }

    fn kv_delete(&self, key: String) -> HostFuture<'_, bool> {
        Box::pin(async move { self.call(RoomHostCall::KvDelete { key }).await?.as_bool().map_or_else(malformed, Ok) })
    }

    fn kv_compare_and_set(&self, key: String, expected: Option<Vec<u8>>, new: Option<Vec<u8>>) -> HostFuture<'_, bool> {
        Box::pin(async move {
            let call = RoomHostCall::KvCompareAndSet { key, expected: expected.as_deref().map(b64), new: new.as_deref().map(b64) };
            self.call(call).await?.as_bool().map_or_else(malformed, Ok)
        })
    }

    fn player_profile(&self, user_id: String) -> HostFuture<'_, Option<Profile>> {
        Box::pin(async move {
            let v = self.call(RoomHostCall::PlayerProfile { user_id }).await?;
            if v.is_null() {
                return Ok(None);
            }
            let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            match (text("user_id"), text("username"), text("created_at")) {
                (Some(user_id), Some(username), Some(created_at)) => {
                    Ok(Some(Profile { user_id, username, avatar_url: text("avatar_url"), created_at }))
                }
                _ => malformed(),
            }
        })
    }

    fn player_stats(&self, user_id: String) -> HostFuture<'_, Vec<Stat>> {
        Box::pin(async move {
            let v = self.call(RoomHostCall::PlayerStats { user_id }).await?;
            let Some(list) = v.as_array() else { return malformed() };
            list.iter()
                .map(|s| match (s.get("name").and_then(Value::as_str), s.get("value").and_then(Value::as_f64)) {
                    (Some(name), Some(value)) => Ok(Stat { name: name.to_string(), value }),
                    _ => malformed(),
                })
                .collect()
        })
    }

    fn submit_score(&self, board_id: String, user_id: String, score: i64) -> HostFuture<'_, i64> {
        Box::pin(async move { self.call(RoomHostCall::SubmitScore { board_id, user_id, score }).await?.as_i64().map_or_else(malformed, Ok) })
    }

    fn unlock_achievement(&self, achievement_id: String, user_id: String) -> HostFuture<'_, bool> {
        Box::pin(async move { self.call(RoomHostCall::UnlockAchievement { achievement_id, user_id }).await?.as_bool().map_or_else(malformed, Ok) })
    }

    fn send_room_message(&self, to: Option<String>, method: String, args_json: String) -> HostResult<()> {
        if method.is_empty() || method.len() > 64 {
            return Err("method is 1 to 64 bytes".into());
        }
        if self.sent.fetch_add(1, Ordering::Relaxed) >= MAX_ROOM_MESSAGES_PER_CALL {
            return Err(format!("at most {MAX_ROOM_MESSAGES_PER_CALL} room messages per call"));
        }
        if args_json.len() > MAX_ROOM_MESSAGE_BYTES {
            return Err(format!("args-json is at most {MAX_ROOM_MESSAGE_BYTES} bytes"));
        }
        let Ok(Value::Array(args)) = serde_json::from_str::<Value>(&args_json) else {
            return Err("args-json must be a JSON array".into());
        };
        let room = self.room.upgrade().ok_or_else(|| "the room has closed".to_string())?;
        room.server_message(to.as_deref(), method, args).map_err(|r| r.reason)
    }

    fn log(&self, level: LogLevel, message: &str) {
        aethex_logic_host::log_line(level, &self.game, message);
    }
}

/// Largest arguments of one room message from a component (JSON text).
pub const MAX_ROOM_MESSAGE_BYTES: usize = 16 * 1024;
/// Room messages one call of a component may send (a tick, a join, a leave): a member's
/// queue holds `limits.max_queued_frames`, and a component must not fill it.
pub const MAX_ROOM_MESSAGES_PER_CALL: usize = 64;
