//! An example of game logic for AeThex Cloud (see `docs/logic.md`). It:
//!
//! - caps scores at [`SCORE_CAP`] and refuses impossible ones (below zero or above
//!   [`IMPOSSIBLE_SCORE`]);
//! - refuses JSON saves that hold `gold` without the matching `check` ([`save_check`]);
//! - answers the custom RPC `inventory`, kept in the game's key-value storage and updated
//!   with compare-and-set so concurrent calls lose nothing, `note` (set, read, delete a
//!   key), `profile` (a player's profile and statistics), `reward` (a server submits a
//!   score and unlocks an achievement for a player, through the host) and `whoami`;
//! - counts what was written (after-events) in key-value storage, read by the RPC `events`;
//! - runs authoritative rooms where a player moves at most [`MAX_STEP`] per tick: a
//!   teleport is refused and the player is put back where they were (and told so with a
//!   room message); a player whose `player_data` says `"cheats": true` is not admitted;
//!   a player who sends `"surrender": true` ends the match; rooms opened are counted in
//!   key-value storage (`events` reads it as `room`).
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p aethex-logic-example`.

use std::cell::RefCell;
use std::collections::BTreeMap;

use aethex_logic::*;
use serde_json::{json, Map, Value};

pub struct Example;

/// Higher scores are lowered to this.
pub const SCORE_CAP: i64 = 1_000_000;
/// Higher scores cannot be earned in this game: refused.
pub const IMPOSSIBLE_SCORE: i64 = 10_000_000;
/// How far a player may move in one tick.
pub const MAX_STEP: f64 = 10.0;
/// Most of one item a player may hold.
pub const MAX_ITEM_COUNT: i64 = 1000;

/// The game's save rule: a JSON save holding `gold` must hold `check` equal to this.
pub fn save_check(gold: i64) -> i64 {
    gold.wrapping_mul(7919).wrapping_add(17).rem_euclid(1_000_003)
}

impl Logic for Example {
    fn registration() -> Registration {
        Registration {
            hooks: vec![Hook::BeforeSave, Hook::BeforeScore, Hook::AfterEvents],
            rpcs: ["inventory", "whoami", "events", "note", "profile", "reward"].map(String::from).to_vec(),
            rooms: true,
        }
    }

    fn before_score(_ctx: Context, s: ScoreSubmit) -> ScoreVerdict {
        if s.score < 0 || s.score > IMPOSSIBLE_SCORE {
            ScoreVerdict::Reject(format!("impossible score {}", s.score))
        } else if s.score > SCORE_CAP {
            ScoreVerdict::Adjust(SCORE_CAP)
        } else {
            ScoreVerdict::Accept
        }
    }

    fn before_save(_ctx: Context, save: SaveWrite) -> SaveVerdict {
        if save.content_type != "json" {
            return SaveVerdict::Accept;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&save.data) else {
            return SaveVerdict::Reject("the save is not JSON".into());
        };
        let Some(gold) = v.get("gold") else { return SaveVerdict::Accept };
        match (gold.as_i64(), v.get("check").and_then(Value::as_i64)) {
            (Some(g), Some(c)) if c == save_check(g) => SaveVerdict::Accept,
            _ => SaveVerdict::Reject("the save failed the game's checksum rule".into()),
        }
    }

    fn after_event(_ctx: Context, event: Event) {
        let kind = match event {
            Event::SaveWritten(_) => "save",
            Event::ScoreSubmitted(_) => "score",
            Event::AchievementAdvanced(_) => "achievement",
            Event::TicketQueued(_) => "ticket",
        };
        let key = format!("events:{kind}");
        if let Err(e) = update(&key, |n: Option<i64>| Ok(n.unwrap_or(0) + 1)) {
            log(LogLevel::Warn, &format!("could not count a {kind} event: {e}"));
        }
    }

    fn rpc(ctx: Context, name: String, payload: String) -> Result<String, String> {
        let payload: Value = serde_json::from_str(&payload).map_err(|e| format!("payload is not JSON: {e}"))?;
        match name.as_str() {
            "whoami" => Ok(json!({ "game_id": ctx.game_id, "caller": caller_json(&ctx.caller) }).to_string()),
            "inventory" => inventory(&ctx, &payload),
            "note" => note(&ctx, &payload),
            "profile" => {
                let user = subject(&ctx, &payload)?;
                let stats: Map<String, Value> = player_stats(&user)?.into_iter().map(|s| (s.name, json!(s.value))).collect();
                let profile = player_profile(&user)?.map(|p| json!({"user_id": p.user_id, "username": p.username, "created_at": p.created_at}));
                Ok(json!({ "profile": profile, "stats": stats }).to_string())
            }
            "reward" => reward(&ctx, &payload),
            "events" => {
                let mut out = Map::new();
                for kind in ["save", "score", "achievement", "ticket", "room"] {
                    out.insert(kind.into(), json!(read::<i64>(&format!("events:{kind}"))?.unwrap_or(0)));
                }
                Ok(Value::Object(out).to_string())
            }
            other => Err(format!("no RPC named {other}")),
        }
    }

    fn room_open(room_id: String, _mode: Option<String>, _properties: String) {
        if let Err(e) = update("events:room", |n: Option<i64>| Ok(n.unwrap_or(0) + 1)) {
            log(LogLevel::Warn, &format!("could not count a room: {e}"));
        }
        ROOM.with(|r| r.borrow_mut().id = room_id);
    }

    fn room_join(player_id: String, player_data: String) -> Result<(), String> {
        let data: Value = serde_json::from_str(&player_data).unwrap_or(Value::Null);
        if data.get("cheats") == Some(&Value::Bool(true)) {
            return Err("this room does not admit cheats".into());
        }
        ROOM.with(|r| {
            let mut r = r.borrow_mut();
            r.positions.insert(player_id.clone(), (0.0, 0.0));
            r.spawned.push(player_id);
        });
        Ok(())
    }

    fn room_leave(player_id: String) {
        ROOM.with(|r| {
            r.borrow_mut().positions.remove(&player_id);
        });
    }

    fn room_tick(_tick: u64, inputs: Vec<PlayerFields>) -> TickOutput {
        ROOM.with(|r| r.borrow_mut().tick(inputs))
    }
}

aethex_logic::export!(Example);

fn caller_json(c: &Caller) -> Value {
    match c {
        Caller::Player(id) => json!({ "player": id }),
        Caller::Server(key) => json!({ "server": key }),
        Caller::System => json!("system"),
    }
}

/// Whose data a call is about: the calling player, or `user_id` for a server key.
fn subject(ctx: &Context, payload: &Value) -> Result<String, String> {
    match &ctx.caller {
        Caller::Player(id) => Ok(id.clone()),
        _ => Ok(payload.get("user_id").and_then(Value::as_str).ok_or("a server call must name user_id")?.to_string()),
    }
}

/// `note`: a text per player, `{"set": "...", "times": n}` (the text n times, 1 to 100;
/// default 1), `{"delete": true}` or `{}` to read.
fn note(ctx: &Context, payload: &Value) -> Result<String, String> {
    let key = format!("note:{}", subject(ctx, payload)?);
    if payload.get("delete") == Some(&Value::Bool(true)) {
        return Ok(json!({ "deleted": kv_delete(&key)? }).to_string());
    }
    if let Some(text) = payload.get("set") {
        let text = text.as_str().ok_or("set takes a string")?;
        let times = payload.get("times").map_or(Some(1), Value::as_u64).filter(|n| (1..=100).contains(n)).ok_or("times is 1 to 100")?;
        kv_set(&key, text.repeat(times as usize).as_bytes())?;
    }
    let text = kv_get(&key)?.map(|b| String::from_utf8_lossy(&b).into_owned());
    Ok(json!({ "note": text }).to_string())
}

/// `reward` (server key only): submits a score and unlocks an achievement for a player, as
/// the server: `{"user_id", "board", "score", "achievement"}`.
fn reward(ctx: &Context, payload: &Value) -> Result<String, String> {
    if !matches!(ctx.caller, Caller::Server(_)) {
        return Err("only the game's servers reward players".into());
    }
    let user = subject(ctx, payload)?;
    let field = |name: &str| payload.get(name).and_then(Value::as_str).ok_or(format!("{name} is required"));
    let score = payload.get("score").and_then(Value::as_i64).ok_or("score is required")?;
    let stored = submit_score(field("board")?, &user, score)?;
    let newly_unlocked = unlock_achievement(field("achievement")?, &user)?;
    Ok(json!({ "score": stored, "newly_unlocked": newly_unlocked }).to_string())
}

/// `inventory`: `{"add": {"sword": 1}}` adds (counts 1 to 1000 at a time), `{}` reads. A
/// server key names the player with `user_id`.
fn inventory(ctx: &Context, payload: &Value) -> Result<String, String> {
    let user = subject(ctx, payload)?;
    let key = format!("inventory:{user}");
    let items = match payload.get("add") {
        None => read::<BTreeMap<String, i64>>(&key)?.unwrap_or_default(),
        Some(add) => {
            let add = add.as_object().ok_or("add must be an object of item counts")?;
            let mut wanted = Vec::new();
            for (item, n) in add {
                let n = n.as_i64().filter(|n| (1..=MAX_ITEM_COUNT).contains(n)).ok_or(format!("{item}: add 1 to {MAX_ITEM_COUNT}"))?;
                if item.is_empty() || item.len() > 64 {
                    return Err("item names are 1 to 64 bytes".into());
                }
                wanted.push((item.clone(), n));
            }
            update(&key, |held: Option<BTreeMap<String, i64>>| {
                let mut held = held.unwrap_or_default();
                for (item, n) in &wanted {
                    let total = held.get(item).copied().unwrap_or(0) + n;
                    if total > MAX_ITEM_COUNT {
                        return Err(format!("{item}: at most {MAX_ITEM_COUNT}"));
                    }
                    held.insert(item.clone(), total);
                }
                Ok(held)
            })?
        }
    };
    Ok(json!({ "user_id": user, "items": items }).to_string())
}

fn read<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, String> {
    match kv_get(key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{key}: {e}")),
    }
}

/// Read-modify-write of one key with compare-and-set, tried again when another call won.
fn update<T: serde::Serialize + serde::de::DeserializeOwned>(key: &str, f: impl Fn(Option<T>) -> Result<T, String>) -> Result<T, String> {
    for _ in 0..16 {
        let old = kv_get(key)?;
        let value = match &old {
            None => None,
            Some(b) => Some(serde_json::from_slice(b).map_err(|e| format!("{key}: {e}"))?),
        };
        let next = f(value)?;
        let bytes = serde_json::to_vec(&next).map_err(|e| e.to_string())?;
        if kv_compare_and_set(key, old.as_deref(), Some(&bytes))? {
            return Ok(next);
        }
    }
    Err(format!("{key} is too busy: try again"))
}

/// One room's state: this instance serves one room only.
#[derive(Default)]
struct Room {
    id: String,
    positions: BTreeMap<String, (f64, f64)>,
    /// Joined since the last tick: their spawn point goes out with it.
    spawned: Vec<String>,
}

thread_local! {
    static ROOM: RefCell<Room> = RefCell::new(Room::default());
}

fn number(fields: &[Field], name: &str) -> Option<Option<f64>> {
    let f = fields.iter().find(|f| f.name == name)?;
    Some(serde_json::from_str::<Value>(&f.value).ok().and_then(|v| v.as_f64()).filter(|v| v.is_finite()))
}

impl Room {
    fn tick(&mut self, inputs: Vec<PlayerFields>) -> TickOutput {
        let mut state = Vec::new();
        let mut end = None;
        for p in std::mem::take(&mut self.spawned) {
            if let Some((x, y)) = self.positions.get(&p) {
                state.push(PlayerFields { player_id: p.clone(), fields: position(*x, *y) });
                tell(&p, "welcome", json!([{ "max_step": MAX_STEP }]));
            }
        }
        for input in inputs {
            let Some(&(x0, y0)) = self.positions.get(&input.player_id) else { continue };
            let mut out: Vec<Field> = input.fields.iter().filter(|f| f.name != "x" && f.name != "y").cloned().collect();
            let (nx, ny) = (number(&input.fields, "x"), number(&input.fields, "y"));
            if nx.is_some() || ny.is_some() {
                let x = nx.unwrap_or(Some(x0));
                let y = ny.unwrap_or(Some(y0));
                match (x, y) {
                    (Some(x), Some(y)) if ((x - x0).powi(2) + (y - y0).powi(2)).sqrt() <= MAX_STEP => {
                        self.positions.insert(input.player_id.clone(), (x, y));
                        out.extend(position(x, y));
                    }
                    // A teleport (or not a number): back to where they were.
                    _ => {
                        log(LogLevel::Info, &format!("room {}: refused a teleport of {}", self.id, input.player_id));
                        tell(&input.player_id, "refused", json!(["teleport"]));
                        out.extend(position(x0, y0));
                        out.push(Field { name: "refused".into(), value: "\"teleport\"".into() });
                    }
                }
            }
            if out.iter().any(|f| f.name == "surrender" && f.value == "true") {
                end = Some(format!("{} surrendered", input.player_id));
            }
            state.push(PlayerFields { player_id: input.player_id, fields: out });
        }
        TickOutput { state, end }
    }
}

/// A room message to one player (`rpc` from `server`).
fn tell(player: &str, method: &str, args: Value) {
    if let Err(e) = send_room_message(Some(player), method, &args.to_string()) {
        log(LogLevel::Warn, &format!("could not tell {player}: {e}"));
    }
}

fn position(x: f64, y: f64) -> Vec<Field> {
    vec![Field { name: "x".into(), value: json!(x).to_string() }, Field { name: "y".into(), value: json!(y).to_string() }]
}
