//! The in-memory queue ([`Matchmaker`]) and the matching rules. No I/O: the service reads
//! the clock, the live regions and the relay, and hands them in. One `std` mutex guards
//! everything; it is never held across an `.await`.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::watch;

use aethex_protocol::matchmaking::{MatchFound, ModeConfig, PropertyQuery, RegionRtt, Ticket, TicketStatus};

use super::{BackfillResponse, MatchmakingError};
use crate::regions::store::RelayInstance;
use aethex_protocol::multiplayer::OpenRoomRequest;

/// Signs a room ticket for (user, game, match).
pub type Signer<'a> = &'a dyn Fn(&str, &str, &MatchFound) -> String;

/// What compatibility is tested on: a ticket's skill and properties, and what it accepts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub skill: Option<f64>,
    pub skill_range: Option<[f64; 2]>,
    pub properties: Map<String, Value>,
    pub query: Vec<PropertyQuery>,
}

impl Profile {
    /// The skill others test: `skill`, else the middle of `skill_range`.
    pub fn skill_point(&self) -> Option<f64> {
        self.skill.or(self.skill_range.map(|[lo, hi]| lo + (hi - lo) / 2.0))
    }

    /// The skills accepted after waiting `waited` seconds (`None`: any).
    pub fn accepted(&self, cfg: &ModeConfig, waited: f64) -> Option<(f64, f64)> {
        let widen = cfg.skill_widen_per_sec * waited.max(0.0);
        let (lo, hi) = match (self.skill_range, self.skill) {
            (Some([lo, hi]), _) => (lo, hi),
            (None, Some(s)) => (s - cfg.skill_window, s + cfg.skill_window),
            (None, None) => return None,
        };
        Some((lo - widen, hi + widen))
    }

    /// Whether this ticket (having waited `waited` seconds) accepts `other`.
    fn accepts(&self, cfg: &ModeConfig, waited: f64, other: &Profile) -> bool {
        if let (Some((lo, hi)), Some(s)) = (self.accepted(cfg, waited), other.skill_point()) {
            if s < lo || s > hi {
                return false;
            }
        }
        self.query.iter().all(|q| q.matches(&other.properties))
    }
}

/// Whether two tickets accept each other.
pub fn compatible(cfg: &ModeConfig, a: &Profile, waited_a: f64, b: &Profile, waited_b: f64) -> bool {
    a.accepts(cfg, waited_a, b) && b.accepts(cfg, waited_b, a)
}

/// Who reads or cancels a ticket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Viewer {
    /// A player's token of `game`.
    Player { user: String, game: String },
    /// A server key of `game`.
    Server { game: String },
}

/// A validated ticket request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewTicket {
    pub game: String,
    pub mode: String,
    pub owner: String,
    pub party: Vec<String>,
    /// Whether the party members agreed already (a server key speaks for them); if not,
    /// the ticket is `pending` until each accepts.
    pub party_agreed: bool,
    pub regions: Vec<RegionRtt>,
    pub profile: Profile,
}

/// A ticket in memory.
struct Entry {
    id: String,
    game: String,
    mode: String,
    owner: String,
    party: Vec<String>,
    /// Party members who have not accepted yet; they hold no active slot until they do.
    waiting_for: Vec<String>,
    regions: Vec<RegionRtt>,
    profile: Profile,
    created: Instant,
    created_at: String,
    status: TicketStatus,
    /// Held by a placement in flight (still `queued` to readers).
    placing: bool,
    found: Option<Found>,
    finished: Option<Instant>,
    /// Its mode's configuration when it was queued (kept with it when stored).
    config: ModeConfig,
    /// Bumped on every change readers can see (long-polls wait on it).
    changed: watch::Sender<u64>,
}

/// A match as one ticket sees it: the shared part and each member's own room ticket.
struct Found {
    base: MatchFound,
    room_tickets: HashMap<String, String>,
}

impl Entry {
    fn size(&self) -> u32 {
        1 + self.party.len() as u32
    }

    fn members(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.owner).chain(self.party.iter())
    }

    fn is_member(&self, user: &str) -> bool {
        self.members().any(|m| m == user)
    }

    /// Members who hold this ticket as their active one (all but those still invited).
    fn holders(&self) -> impl Iterator<Item = &String> {
        self.members().filter(|m| !self.waiting_for.contains(m))
    }

    fn rtt(&self, region: &str) -> Option<u32> {
        self.regions.iter().find(|r| r.region == region).map(|r| r.rtt_ms)
    }

    fn waited(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.created).as_secs_f64()
    }

    fn free(&self) -> bool {
        self.status == TicketStatus::Queued && !self.placing
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn view(&self, as_user: &str) -> Ticket {
        Ticket {
            ticket_id: self.id.clone(),
            status: self.status,
            mode: self.mode.clone(),
            created_at: self.created_at.clone(),
            owner: self.owner.clone(),
            party: self.party.clone(),
            waiting_for: self.waiting_for.clone(),
            match_found: self
                .found
                .as_ref()
                .map(|f| MatchFound { room_ticket: f.room_tickets.get(as_user).cloned().unwrap_or_default(), ..f.base.clone() }),
        }
    }
}

/// Queued tickets of one (game, mode), oldest first, and the mode's configuration.
struct Pool {
    config: ModeConfig,
    queued: Vec<String>,
    /// Where the last round ran out of checks: the anchor to resume with (its creation).
    resume_at: Option<Instant>,
}

/// A match that was placed on a relay, remembered for backfill.
struct MatchRecord {
    game: String,
    mode: String,
    region: String,
    room_id: String,
    relay_url: String,
    /// The relay the room is on (its own URL; empty if unknown).
    relay: String,
    /// A room is being opened on another relay for it (its relay died).
    moving: bool,
    match_size: u32,
    max_rtt_ms: u32,
    players: Vec<String>,
    /// Properties every ticket had with the same value (the room's).
    properties: Map<String, Value>,
    /// Every matched ticket's profile and how long it had waited when matched.
    members: Vec<(Profile, f64)>,
    made: Instant,
    open_seats: u32,
    open_until: Option<Instant>,
}

/// A formed match whose room is being opened on a relay.
#[derive(Debug, Clone)]
pub struct Placement {
    pub match_id: String,
    pub game: String,
    pub mode: String,
    pub region: String,
    pub match_size: u32,
    pub max_rtt_ms: u32,
    pub tickets: Vec<String>,
    pub players: Vec<String>,
    /// Properties every ticket has with the same value (for the room).
    pub properties: Map<String, Value>,
    /// The relay chosen for the room (its own URL), set when it is being opened.
    pub relay: String,
}

#[derive(Default)]
struct Queue {
    tickets: HashMap<String, Entry>,
    /// The active (queued) ticket of each player, by (game, user).
    active: HashMap<(String, String), String>,
    pools: HashMap<(String, String), Pool>,
    matches: HashMap<String, MatchRecord>,
    /// Regions whose relay failed, and until when they are not chosen.
    backoff: HashMap<String, Instant>,
    /// Tickets and matches changed (or dropped) since [`Matchmaker::take_changes`].
    dirty_tickets: HashSet<String>,
    dirty_matches: HashSet<String>,
}

/// The queue of one origin process (see the module docs of `matchmaking`).
#[derive(Default)]
pub struct Matchmaker {
    inner: Mutex<Queue>,
    /// Which relay of a region gets the next room.
    pub relays: RelayPicker,
}

/// Turns a ticket finished (`matched`, `cancelled`, `expired`): it leaves its pool and its
/// players' active slots, and its readers wake.
fn finish(
    tickets: &mut HashMap<String, Entry>,
    active: &mut HashMap<(String, String), String>,
    pools: &mut HashMap<(String, String), Pool>,
    dirty: &mut HashSet<String>,
    id: &str,
    status: TicketStatus,
    now: Instant,
) {
    let Some(e) = tickets.get_mut(id) else { return };
    dirty.insert(id.to_string());
    e.status = status;
    e.placing = false;
    e.finished = Some(now);
    for m in std::iter::once(&e.owner).chain(e.party.iter()) {
        let key = (e.game.clone(), m.clone());
        if active.get(&key).is_some_and(|t| t == id) {
            active.remove(&key);
        }
    }
    if let Some(pool) = pools.get_mut(&(e.game.clone(), e.mode.clone())) {
        pool.queued.retain(|t| t != id);
    }
    metrics::counter!("aethex_matchmaking_tickets_finished_total", "outcome" => status.as_str()).increment(1);
    e.bump();
}

/// The usable region with the lowest worst-case RTT for all of `group`, and that RTT.
fn best_region(cfg: &ModeConfig, group: &[&Entry], usable: &dyn Fn(&str) -> bool) -> Option<(String, u32)> {
    let first = group.first()?;
    let mut best: Option<(String, u32)> = None;
    for r in &first.regions {
        if !usable(&r.region) {
            continue;
        }
        let worst = group.iter().try_fold(0u32, |w, e| e.rtt(&r.region).map(|x| w.max(x)));
        let Some(worst) = worst else { continue };
        if cfg.max_rtt_ms > 0 && worst > cfg.max_rtt_ms {
            continue;
        }
        let better = match &best {
            None => true,
            Some((name, w)) => worst < *w || (worst == *w && r.region < *name),
        };
        if better {
            best = Some((r.region.clone(), worst));
        }
    }
    best
}

/// Most pairwise compatibility checks one round spends on one (game, mode); the mutex is
/// held meanwhile. When they run out, the next round resumes with the next anchor.
pub const MAX_CHECKS_PER_ROUND: usize = 200_000;

/// Greedy by age (see the module docs): groups of `free` (oldest first) that make a match,
/// as indices into `free`, with the chosen region and its worst RTT. Anchors are taken
/// from `start` on (wrapping); returns where the check budget ran out, if it did.
#[allow(clippy::type_complexity)]
fn plan(
    cfg: &ModeConfig,
    free: &[&Entry],
    now: Instant,
    usable: &dyn Fn(&str) -> bool,
    start: usize,
    budget: usize,
) -> (Vec<(Vec<usize>, String, u32)>, Option<usize>) {
    let waited: Vec<f64> = free.iter().map(|e| e.waited(now)).collect();
    let mut used = vec![false; free.len()];
    let mut out = Vec::new();
    let mut checks = 0usize;
    let start = start.min(free.len());
    for a in (start..free.len()).chain(0..start) {
        if checks >= budget {
            return (out, Some(a));
        }
        if used[a] || free[a].size() > cfg.match_size || best_region(cfg, &[free[a]], usable).is_none() {
            continue;
        }
        let mut group = vec![a];
        let mut count = free[a].size();
        for b in 0..free.len() {
            if count == cfg.match_size {
                break;
            }
            if b == a || used[b] || count + free[b].size() > cfg.match_size {
                continue;
            }
            checks += group.len();
            if !group.iter().all(|&g| compatible(cfg, &free[g].profile, waited[g], &free[b].profile, waited[b])) {
                continue;
            }
            let mut with: Vec<&Entry> = group.iter().map(|&g| free[g]).collect();
            with.push(free[b]);
            if best_region(cfg, &with, usable).is_none() {
                continue;
            }
            group.push(b);
            count += free[b].size();
        }
        if count != cfg.match_size {
            continue;
        }
        group.sort_unstable();
        let members: Vec<&Entry> = group.iter().map(|&g| free[g]).collect();
        if let Some((region, rtt)) = best_region(cfg, &members, usable) {
            for &g in &group {
                used[g] = true;
            }
            out.push((group, region, rtt));
        }
    }
    (out, None)
}

/// Properties every entry has with the same value.
fn common_properties(entries: &[&Entry]) -> Map<String, Value> {
    let Some(first) = entries.first() else { return Map::new() };
    first
        .profile
        .properties
        .iter()
        .filter(|(k, v)| entries.iter().all(|e| e.profile.properties.get(*k) == Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Places queued tickets of the record's game and mode into its open seats. Returns the
/// players placed.
#[allow(clippy::too_many_arguments)]
fn fill(
    tickets: &mut HashMap<String, Entry>,
    active: &mut HashMap<(String, String), String>,
    pools: &mut HashMap<(String, String), Pool>,
    dirty_tickets: &mut HashSet<String>,
    match_id: &str,
    record: &mut MatchRecord,
    now: Instant,
    sign: Signer<'_>,
) -> Vec<String> {
    if record.open_seats == 0 || record.open_until.is_none_or(|t| t <= now) {
        return Vec::new();
    }
    let Some(pool) = pools.get(&(record.game.clone(), record.mode.clone())) else { return Vec::new() };
    let cfg = pool.config.clone();
    let mut chosen = Vec::new();
    for id in &pool.queued {
        if record.open_seats == 0 {
            break;
        }
        let Some(e) = tickets.get(id) else { continue };
        if !e.free() || e.size() > record.open_seats {
            continue;
        }
        let Some(rtt) = e.rtt(&record.region) else { continue };
        if cfg.max_rtt_ms > 0 && rtt > cfg.max_rtt_ms {
            continue;
        }
        let waited = e.waited(now);
        if !record.members.iter().all(|(p, w)| compatible(&cfg, &e.profile, waited, p, *w)) {
            continue;
        }
        record.members.push((e.profile.clone(), waited));
        record.players.extend(e.members().cloned());
        record.max_rtt_ms = record.max_rtt_ms.max(rtt);
        record.open_seats -= e.size();
        chosen.push(id.clone());
    }
    let mut filled = Vec::new();
    for id in &chosen {
        let Some(e) = tickets.get_mut(id) else { continue };
        let base = MatchFound {
            match_id: match_id.to_string(),
            room_id: record.room_id.clone(),
            region: record.region.clone(),
            relay_url: record.relay_url.clone(),
            room_ticket: String::new(),
            players: record.players.clone(),
            max_rtt_ms: record.max_rtt_ms,
        };
        let room_tickets = e.members().map(|m| (m.clone(), sign(m, &e.game, &base))).collect();
        filled.extend(e.members().cloned());
        metrics::histogram!("aethex_matchmaking_time_to_match_seconds").record(e.waited(now));
        e.found = Some(Found { base, room_tickets });
        finish(tickets, active, pools, dirty_tickets, id, TicketStatus::Matched, now);
    }
    if !chosen.is_empty() {
        metrics::counter!("aethex_matchmaking_backfilled_tickets_total").increment(chosen.len() as u64);
    }
    filled
}

/// Why a reader may not see a ticket: it does not exist for them.
fn readable<'a>(q: &'a Queue, id: &str, viewer: &Viewer) -> Result<&'a Entry, MatchmakingError> {
    let e = q.tickets.get(id).ok_or(MatchmakingError::TicketNotFound)?;
    let ok = match viewer {
        Viewer::Player { user, game } => *game == e.game && e.is_member(user),
        Viewer::Server { game } => *game == e.game,
    };
    if ok {
        Ok(e)
    } else {
        Err(MatchmakingError::TicketNotFound)
    }
}

/// Whose room ticket a reader gets: a player their own; a server key the owner's, or the
/// member it names.
fn reader_user(e: &Entry, viewer: &Viewer, as_user: Option<&str>) -> Result<String, MatchmakingError> {
    match viewer {
        Viewer::Player { user, .. } => match as_user {
            None | Some("me") => Ok(user.clone()),
            Some(u) if u == user => Ok(user.clone()),
            Some(_) => Err(MatchmakingError::Forbidden("players read tickets as themselves; user_id is for server keys".into())),
        },
        Viewer::Server { .. } => match as_user {
            None => Ok(e.owner.clone()),
            Some(u) if e.is_member(u) => Ok(u.to_string()),
            Some(_) => Err(aethex_protocol::validate::Invalid::new("user_id", "user_id is not a player of this ticket").into()),
        },
    }
}

impl Matchmaker {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tickets waiting now.
    pub fn queued(&self) -> usize {
        self.lock().pools.values().map(|p| p.queued.len()).sum()
    }

    /// A mode's configuration changed: queued tickets of it follow the new one.
    pub fn set_config(&self, game: &str, mode: &str, config: &ModeConfig) {
        let mut q = self.lock();
        let Queue { pools, dirty_tickets, .. } = &mut *q;
        if let Some(pool) = pools.get_mut(&(game.to_string(), mode.to_string())) {
            pool.config = config.clone();
            // Stored tickets carry their pool's configuration.
            dirty_tickets.extend(pool.queued.iter().cloned());
        }
    }

    /// Queues a ticket. `server`: the caller is a server key (it may learn any conflicting
    /// ticket's id; a player only their own).
    pub fn submit(&self, t: NewTicket, config: ModeConfig, max_queued: usize, server: bool, now: Instant) -> Result<Ticket, MatchmakingError> {
        let mut q = self.lock();
        let queued: usize = q.pools.values().map(|p| p.queued.len()).sum();
        if queued >= max_queued {
            return Err(MatchmakingError::QueueFull);
        }
        // Invited members are not held by a pending ticket: only its owner (and a party a
        // server key queued) may not already be waiting elsewhere.
        let holders = std::iter::once(&t.owner).chain(t.party.iter().filter(|_| t.party_agreed));
        for user in holders {
            if let Some(existing) = q.active.get(&(t.game.clone(), user.clone())) {
                let visible = server || *user == t.owner;
                return Err(MatchmakingError::ActiveTicket { user: user.clone(), ticket_id: visible.then(|| existing.clone()) });
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        let (changed, _) = watch::channel(0u64);
        let entry = Entry {
            id: id.clone(),
            game: t.game.clone(),
            mode: t.mode.clone(),
            owner: t.owner,
            waiting_for: if t.party_agreed { Vec::new() } else { t.party.clone() },
            status: if t.party_agreed || t.party.is_empty() { TicketStatus::Queued } else { TicketStatus::Pending },
            party: t.party,
            regions: t.regions,
            profile: t.profile,
            created: now,
            created_at: crate::clock::now(),
            placing: false,
            found: None,
            finished: None,
            config: config.clone(),
            changed,
        };
        for m in entry.holders() {
            q.active.insert((t.game.clone(), m.clone()), id.clone());
        }
        let view = entry.view(&entry.owner);
        q.tickets.insert(id.clone(), entry);
        q.dirty_tickets.insert(id.clone());
        let pool = q.pools.entry((t.game, t.mode)).or_insert_with(|| Pool { config: config.clone(), queued: Vec::new(), resume_at: None });
        pool.config = config;
        pool.queued.push(id);
        metrics::counter!("aethex_matchmaking_tickets_total").increment(1);
        Ok(view)
    }

    /// The ticket as `viewer` sees it, and a receiver that wakes on its next change.
    pub fn read(&self, id: &str, viewer: &Viewer, as_user: Option<&str>) -> Result<(Ticket, watch::Receiver<u64>), MatchmakingError> {
        let q = self.lock();
        let e = readable(&q, id, viewer)?;
        let user = reader_user(e, viewer, as_user)?;
        Ok((e.view(&user), e.changed.subscribe()))
    }

    /// Cancels a queued ticket (again: no change). A matched or expired one: conflict.
    pub fn cancel(&self, id: &str, viewer: &Viewer, now: Instant) -> Result<Ticket, MatchmakingError> {
        let mut q = self.lock();
        let e = readable(&q, id, viewer)?;
        let user = reader_user(e, viewer, None)?;
        match e.status {
            TicketStatus::Queued | TicketStatus::Pending => {}
            TicketStatus::Cancelled => return Ok(e.view(&user)),
            TicketStatus::Matched => return Err(MatchmakingError::Conflict("the ticket is already matched".into())),
            TicketStatus::Expired => return Err(MatchmakingError::Conflict("the ticket has expired".into())),
        }
        let Queue { tickets, active, pools, dirty_tickets, .. } = &mut *q;
        finish(tickets, active, pools, dirty_tickets, id, TicketStatus::Cancelled, now);
        tickets.get(id).map(|e| e.view(&user)).ok_or(MatchmakingError::TicketNotFound)
    }

    /// A party member accepts a pending ticket that names them: it becomes their active
    /// ticket (refused while they wait in another), and once every member accepted it is
    /// queued. Accepting again changes nothing.
    pub fn accept(&self, id: &str, user: &str, game: &str) -> Result<Ticket, MatchmakingError> {
        let mut q = self.lock();
        let viewer = Viewer::Player { user: user.to_string(), game: game.to_string() };
        let e = readable(&q, id, &viewer)?;
        if !e.waiting_for.iter().any(|w| w == user) {
            return Ok(e.view(user));
        }
        if e.status != TicketStatus::Pending {
            return Err(MatchmakingError::Conflict(format!("the ticket is {}", e.status.as_str())));
        }
        let key = (game.to_string(), user.to_string());
        if let Some(existing) = q.active.get(&key) {
            return Err(MatchmakingError::ActiveTicket { user: user.to_string(), ticket_id: Some(existing.clone()) });
        }
        q.active.insert(key, id.to_string());
        q.dirty_tickets.insert(id.to_string());
        let e = q.tickets.get_mut(id).ok_or(MatchmakingError::TicketNotFound)?;
        e.waiting_for.retain(|w| w != user);
        if e.waiting_for.is_empty() {
            e.status = TicketStatus::Queued;
        }
        e.bump();
        Ok(e.view(user))
    }

    /// Every ticket of `game` that names `user` (as its owner or in its party), newest
    /// first: a player can always find, accept or cancel what holds them.
    pub fn tickets_of(&self, user: &str, game: &str) -> Vec<Ticket> {
        let q = self.lock();
        let mut mine: Vec<&Entry> = q.tickets.values().filter(|e| e.game == game && e.is_member(user)).collect();
        mine.sort_by_key(|e| std::cmp::Reverse(e.created));
        mine.into_iter().map(|e| e.view(user)).collect()
    }

    /// One matcher round: expiry, backfill, new matches. `regions`: live regions (name ->
    /// relay URL). Returns the matches to place on their relays.
    pub fn round(&self, now: Instant, regions: &HashMap<String, String>, sign: Signer<'_>) -> Vec<Placement> {
        let mut q = self.lock();
        let Queue { tickets, active, pools, matches, backoff, dirty_tickets, dirty_matches } = &mut *q;
        backoff.retain(|_, until| *until > now);

        // 1. Expiry.
        let mut expired = Vec::new();
        for pool in pools.values() {
            let max_wait = Duration::from_secs(u64::from(pool.config.max_wait_secs));
            for id in &pool.queued {
                let waiting = |e: &Entry| e.free() || e.status == TicketStatus::Pending;
                if tickets.get(id).is_some_and(|e| waiting(e) && now.saturating_duration_since(e.created) > max_wait) {
                    expired.push(id.clone());
                }
            }
        }
        for id in &expired {
            finish(tickets, active, pools, dirty_tickets, id, TicketStatus::Expired, now);
        }

        // 2. Backfill, oldest matches first.
        let mut open: Vec<(Instant, String)> =
            matches.iter().filter(|(_, m)| m.open_seats > 0 && m.open_until.is_some_and(|t| t > now)).map(|(id, m)| (m.made, id.clone())).collect();
        open.sort();
        for (_, match_id) in open {
            if let Some(record) = matches.get_mut(&match_id) {
                if !fill(tickets, active, pools, dirty_tickets, &match_id, record, now, sign).is_empty() {
                    dirty_matches.insert(match_id.clone());
                }
            }
        }

        // 3. New matches.
        let usable = |r: &str| regions.contains_key(r) && !backoff.contains_key(r);
        let mut out = Vec::new();
        for ((game, mode), pool) in pools.iter_mut() {
            let free: Vec<&Entry> = pool.queued.iter().filter_map(|id| tickets.get(id)).filter(|e| e.free()).collect();
            if free.len() < 2 && free.first().is_none_or(|e| e.size() < pool.config.match_size) {
                continue;
            }
            let start = pool.resume_at.map(|at| free.iter().position(|e| e.created >= at).unwrap_or(0)).unwrap_or(0);
            let (plans, stopped) = plan(&pool.config, &free, now, &usable, start, MAX_CHECKS_PER_ROUND);
            pool.resume_at = stopped.map(|i| free[i].created);
            for (group, region, max_rtt_ms) in plans {
                let members: Vec<&Entry> = group.iter().map(|&g| free[g]).collect();
                out.push(Placement {
                    match_id: uuid::Uuid::new_v4().to_string(),
                    game: game.clone(),
                    mode: mode.clone(),
                    region,
                    match_size: pool.config.match_size,
                    max_rtt_ms,
                    tickets: members.iter().map(|e| e.id.clone()).collect(),
                    players: members.iter().flat_map(|e| e.members().cloned()).collect(),
                    properties: common_properties(&members),
                    relay: String::new(),
                });
            }
        }
        for p in &out {
            for id in &p.tickets {
                if let Some(e) = tickets.get_mut(id) {
                    e.placing = true;
                }
            }
        }
        metrics::gauge!("aethex_matchmaking_queued_tickets").set(pools.values().map(|p| p.queued.len()).sum::<usize>() as f64);
        out
    }

    /// The relay opened the room: every ticket of the placement is matched. If one was
    /// cancelled meanwhile, the others go back to the queue instead (returns false).
    pub fn placed(&self, p: &Placement, room_id: &str, relay_url: &str, now: Instant, sign: Signer<'_>) -> bool {
        let mut q = self.lock();
        let Queue { tickets, active, pools, matches, dirty_tickets, dirty_matches, .. } = &mut *q;
        if !p.tickets.iter().all(|id| tickets.get(id).is_some_and(|e| e.status == TicketStatus::Queued)) {
            for id in &p.tickets {
                if let Some(e) = tickets.get_mut(id) {
                    e.placing = false;
                }
            }
            return false;
        }
        let base = MatchFound {
            match_id: p.match_id.clone(),
            room_id: room_id.to_string(),
            region: p.region.clone(),
            relay_url: relay_url.to_string(),
            room_ticket: String::new(),
            players: p.players.clone(),
            max_rtt_ms: p.max_rtt_ms,
        };
        let mut members = Vec::new();
        for id in &p.tickets {
            let Some(e) = tickets.get_mut(id) else { continue };
            let room_tickets = e.members().map(|m| (m.clone(), sign(m, &e.game, &base))).collect();
            let waited = e.waited(now);
            metrics::histogram!("aethex_matchmaking_time_to_match_seconds").record(waited);
            members.push((e.profile.clone(), waited));
            e.found = Some(Found { base: base.clone(), room_tickets });
            finish(tickets, active, pools, dirty_tickets, id, TicketStatus::Matched, now);
        }
        dirty_matches.insert(p.match_id.clone());
        matches.insert(
            p.match_id.clone(),
            MatchRecord {
                game: p.game.clone(),
                mode: p.mode.clone(),
                region: p.region.clone(),
                room_id: room_id.to_string(),
                relay_url: relay_url.to_string(),
                relay: p.relay.clone(),
                moving: false,
                match_size: p.match_size,
                max_rtt_ms: p.max_rtt_ms,
                players: p.players.clone(),
                properties: p.properties.clone(),
                members,
                made: now,
                open_seats: 0,
                open_until: None,
            },
        );
        metrics::counter!("aethex_matchmaking_matches_total").increment(1);
        true
    }

    /// The relay refused or failed: the tickets go back to the queue and the region is not
    /// chosen until `backoff_until`.
    pub fn place_failed(&self, p: &Placement, backoff_until: Instant) {
        let mut q = self.lock();
        for id in &p.tickets {
            if let Some(e) = q.tickets.get_mut(id) {
                e.placing = false;
            }
        }
        q.backoff.insert(p.region.clone(), backoff_until);
    }

    /// A room of a match lost players: `open_seats` seats are open (replacing an earlier
    /// count) until `open_until`; fills what the queue can now.
    #[allow(clippy::too_many_arguments)]
    pub fn backfill(
        &self,
        game: &str,
        match_id: &str,
        room_id: &str,
        region: &str,
        open_seats: u32,
        open_until: Instant,
        now: Instant,
        sign: Signer<'_>,
    ) -> Result<BackfillResponse, MatchmakingError> {
        let mut q = self.lock();
        let Queue { tickets, active, pools, matches, dirty_tickets, dirty_matches, .. } = &mut *q;
        let record = matches.get_mut(match_id).filter(|m| m.game == game).ok_or(MatchmakingError::MatchNotFound)?;
        if record.room_id != room_id || record.region != region {
            return Err(MatchmakingError::Conflict(format!("match {match_id} is in room {} of region {}", record.room_id, record.region)));
        }
        if open_seats > record.match_size {
            let why = format!("open_seats must be 0 to {} (the match's size)", record.match_size);
            return Err(aethex_protocol::validate::Invalid::new("open_seats", why).into());
        }
        record.open_seats = open_seats;
        record.open_until = Some(open_until);
        dirty_matches.insert(match_id.to_string());
        let filled = fill(tickets, active, pools, dirty_tickets, match_id, record, now, sign);
        Ok(BackfillResponse { match_id: match_id.to_string(), room_id: record.room_id.clone(), filled, open_seats: record.open_seats })
    }

    /// Forgets finished tickets after `ticket_retention`, matches after `match_retention`,
    /// and pools with nothing queued.
    pub fn sweep(&self, now: Instant, ticket_retention: Duration, match_retention: Duration) {
        let mut q = self.lock();
        let Queue { tickets, matches, pools, dirty_tickets, dirty_matches, .. } = &mut *q;
        tickets.retain(|id, e| {
            let keep = e.finished.is_none_or(|f| now.saturating_duration_since(f) < ticket_retention);
            if !keep {
                dirty_tickets.insert(id.clone());
            }
            keep
        });
        matches.retain(|id, m| {
            let keep = now.saturating_duration_since(m.made) < match_retention;
            if !keep {
                dirty_matches.insert(id.clone());
            }
            keep
        });
        pools.retain(|_, p| !p.queued.is_empty());
    }

    /// Players with an active ticket in `game`, for tests and diagnostics.
    pub fn active_players(&self, game: &str) -> HashSet<String> {
        self.lock().active.keys().filter(|(g, _)| g == game).map(|(_, u)| u.clone()).collect()
    }
}

/// A ticket as kept outside the process (the cluster's Redis), with its pool's
/// configuration; times are Unix milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTicket {
    id: String,
    game: String,
    mode: String,
    owner: String,
    party: Vec<String>,
    waiting_for: Vec<String>,
    regions: Vec<RegionRtt>,
    profile: Profile,
    created_ms: i64,
    created_at: String,
    status: TicketStatus,
    found: Option<(MatchFound, HashMap<String, String>)>,
    finished_ms: Option<i64>,
    config: ModeConfig,
}

/// A match record as kept outside the process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredMatch {
    game: String,
    mode: String,
    region: String,
    room_id: String,
    relay_url: String,
    #[serde(default)]
    relay: String,
    match_size: u32,
    max_rtt_ms: u32,
    players: Vec<String>,
    #[serde(default)]
    properties: Map<String, Value>,
    members: Vec<(Profile, f64)>,
    made_ms: i64,
    open_seats: u32,
    open_until_ms: Option<i64>,
}

impl StoredTicket {
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// What changed since the last [`Matchmaker::take_changes`]: each id with its state now,
/// or `None` when it was dropped.
#[derive(Debug, Default)]
pub struct Changes {
    pub tickets: Vec<(String, Option<StoredTicket>)>,
    pub matches: Vec<(String, Option<StoredMatch>)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty() && self.matches.is_empty()
    }
}

/// Converts between this process's monotonic clock and Unix milliseconds, around one
/// reading of both.
struct Clock {
    now: Instant,
    wall_ms: i64,
}

impl Clock {
    fn new(now: Instant) -> Self {
        Self { now, wall_ms: chrono::Utc::now().timestamp_millis() }
    }

    fn to_ms(&self, t: Instant) -> i64 {
        let ago = i64::try_from(self.now.saturating_duration_since(t).as_millis()).unwrap_or(i64::MAX);
        let ahead = i64::try_from(t.saturating_duration_since(self.now).as_millis()).unwrap_or(i64::MAX);
        self.wall_ms.saturating_sub(ago).saturating_add(ahead)
    }

    fn to_instant(&self, ms: i64) -> Instant {
        let delta = self.wall_ms.saturating_sub(ms);
        let d = Duration::from_millis(delta.unsigned_abs());
        if delta >= 0 {
            self.now.checked_sub(d).unwrap_or(self.now)
        } else {
            self.now.checked_add(d).unwrap_or(self.now)
        }
    }
}

impl Matchmaker {
    /// Takes what changed since the last call (for the cluster's copy).
    pub fn take_changes(&self, now: Instant) -> Changes {
        let clock = Clock::new(now);
        let mut q = self.lock();
        let Queue { tickets, pools, matches, dirty_tickets, dirty_matches, .. } = &mut *q;
        let mut out = Changes::default();
        for id in dirty_tickets.drain() {
            let stored = tickets.get(&id).map(|e| StoredTicket {
                id: e.id.clone(),
                game: e.game.clone(),
                mode: e.mode.clone(),
                owner: e.owner.clone(),
                party: e.party.clone(),
                waiting_for: e.waiting_for.clone(),
                regions: e.regions.clone(),
                profile: e.profile.clone(),
                created_ms: clock.to_ms(e.created),
                created_at: e.created_at.clone(),
                status: e.status,
                found: e.found.as_ref().map(|f| (f.base.clone(), f.room_tickets.clone())),
                finished_ms: e.finished.map(|f| clock.to_ms(f)),
                config: pools.get(&(e.game.clone(), e.mode.clone())).map(|p| p.config.clone()).unwrap_or_else(|| e.config.clone()),
            });
            out.tickets.push((id, stored));
        }
        for id in dirty_matches.drain() {
            let stored = matches.get(&id).map(|m| StoredMatch {
                game: m.game.clone(),
                mode: m.mode.clone(),
                region: m.region.clone(),
                room_id: m.room_id.clone(),
                relay_url: m.relay_url.clone(),
                relay: m.relay.clone(),
                properties: m.properties.clone(),
                match_size: m.match_size,
                max_rtt_ms: m.max_rtt_ms,
                players: m.players.clone(),
                members: m.members.clone(),
                made_ms: clock.to_ms(m.made),
                open_seats: m.open_seats,
                open_until_ms: m.open_until.map(|t| clock.to_ms(t)),
            });
            out.matches.push((id, stored));
        }
        out
    }

    /// Marks changes again after they could not be stored (the next store retries them).
    pub fn mark_changed(&self, changes: &Changes) {
        let mut q = self.lock();
        q.dirty_tickets.extend(changes.tickets.iter().map(|(id, _)| id.clone()));
        q.dirty_matches.extend(changes.matches.iter().map(|(id, _)| id.clone()));
    }

    /// Forgets everything (this process no longer runs the cluster's queue).
    pub fn clear(&self) {
        *self.lock() = Queue::default();
    }

    /// Replaces the queue with a stored one (this process now runs the cluster's queue).
    /// Tickets that were being placed are queued again.
    pub fn restore(&self, tickets: Vec<StoredTicket>, matches: Vec<(String, StoredMatch)>, now: Instant) {
        let clock = Clock::new(now);
        let mut q = Queue::default();
        let mut tickets = tickets;
        tickets.sort_by_key(|t| t.created_ms);
        for t in tickets {
            let (changed, _) = watch::channel(0u64);
            let e = Entry {
                id: t.id.clone(),
                game: t.game,
                mode: t.mode,
                owner: t.owner,
                party: t.party,
                waiting_for: t.waiting_for,
                regions: t.regions,
                profile: t.profile,
                created: clock.to_instant(t.created_ms),
                created_at: t.created_at,
                status: t.status,
                placing: false,
                found: t.found.map(|(base, room_tickets)| Found { base, room_tickets }),
                finished: t.finished_ms.map(|f| clock.to_instant(f)),
                config: t.config.clone(),
                changed,
            };
            let key = (e.game.clone(), e.mode.clone());
            if matches!(e.status, TicketStatus::Queued | TicketStatus::Pending) {
                for m in e.holders() {
                    q.active.insert((e.game.clone(), m.clone()), e.id.clone());
                }
                let pool = q.pools.entry(key).or_insert_with(|| Pool { config: t.config.clone(), queued: Vec::new(), resume_at: None });
                pool.config = t.config;
                pool.queued.push(e.id.clone());
            }
            q.tickets.insert(e.id.clone(), e);
        }
        for (id, m) in matches {
            q.matches.insert(
                id,
                MatchRecord {
                    game: m.game,
                    mode: m.mode,
                    region: m.region,
                    room_id: m.room_id,
                    relay_url: m.relay_url,
                    relay: m.relay,
                    moving: false,
                    properties: m.properties,
                    match_size: m.match_size,
                    max_rtt_ms: m.max_rtt_ms,
                    players: m.players,
                    members: m.members,
                    made: clock.to_instant(m.made_ms),
                    open_seats: m.open_seats,
                    open_until: m.open_until_ms.map(|t| clock.to_instant(t)),
                },
            );
        }
        *self.lock() = q;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(size: u32) -> ModeConfig {
        ModeConfig { match_size: size, max_wait_secs: 60, skill_widen_per_sec: 10.0, skill_window: 100.0, max_rtt_ms: 0 }
    }

    fn ticket(owner: &str, regions: &[(&str, u32)], skill: Option<f64>) -> NewTicket {
        NewTicket {
            game: "g".into(),
            mode: "m".into(),
            owner: owner.into(),
            party: vec![],
            party_agreed: true,
            regions: regions.iter().map(|(r, rtt)| RegionRtt { region: r.to_string(), rtt_ms: *rtt }).collect(),
            profile: Profile { skill, ..Default::default() },
        }
    }

    fn live(names: &[&str]) -> HashMap<String, String> {
        names.iter().map(|n| (n.to_string(), format!("ws://{n}.example"))).collect()
    }

    fn no_sign(user: &str, _: &str, m: &MatchFound) -> String {
        format!("{user}@{}", m.room_id)
    }

    #[test]
    fn skill_ranges_widen_with_waiting() {
        let c = cfg(2);
        let a = Profile { skill: Some(1000.0), ..Default::default() };
        let b = Profile { skill: Some(1250.0), ..Default::default() };
        assert!(!compatible(&c, &a, 0.0, &b, 0.0));
        assert!(!compatible(&c, &a, 20.0, &b, 0.0), "both sides must accept");
        assert!(compatible(&c, &a, 15.0, &b, 15.0));
        let seed = Profile { skill_range: Some([1000.0, 1500.0]), ..Default::default() };
        assert_eq!(seed.skill_point(), Some(1250.0));
        assert!(compatible(&c, &seed, 0.0, &b, 0.0));
        let anyone = Profile::default();
        assert!(compatible(&c, &anyone, 0.0, &a, 0.0));
    }

    #[test]
    fn queries_must_hold_both_ways() {
        let c = cfg(2);
        let q = |v: &str| vec![PropertyQuery { property: "map".into(), op: "eq".into(), value: json!(v) }];
        let props = |v: &str| json!({ "map": v }).as_object().cloned().unwrap();
        let a = Profile { properties: props("dust"), query: q("dust"), ..Default::default() };
        let b = Profile { properties: props("nuke"), ..Default::default() };
        let c2 = Profile { properties: props("dust"), ..Default::default() };
        assert!(!compatible(&c, &a, 0.0, &b, 0.0));
        assert!(compatible(&c, &a, 0.0, &c2, 0.0));
    }

    #[test]
    fn region_with_best_worst_case_rtt() {
        let mm = Matchmaker::default();
        let now = Instant::now();
        mm.submit(ticket("a", &[("r1", 20), ("r2", 50)], None), cfg(2), 100, false, now).unwrap();
        mm.submit(ticket("b", &[("r1", 120), ("r2", 60), ("r3", 1)], None), cfg(2), 100, false, now).unwrap();
        let p = mm.round(now, &live(&["r1", "r2", "r3"]), &no_sign);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].region.as_str(), p[0].max_rtt_ms), ("r2", 60));
        assert_eq!(p[0].players, vec!["a", "b"]);
        // Held while placing: the next round forms nothing.
        assert!(mm.round(now, &live(&["r1", "r2"]), &no_sign).is_empty());
        mm.place_failed(&p[0], now + Duration::from_secs(5));
        let p = mm.round(now, &live(&["r1", "r2"]), &no_sign);
        assert_eq!(p[0].region, "r1", "r2 backs off after its relay failed");
        assert!(mm.placed(&p[0], "room-1", "ws://r1.example/v1/multiplayer", now, &no_sign));
        let (t, _) = mm.read(&p[0].tickets[1], &Viewer::Player { user: "b".into(), game: "g".into() }, None).unwrap();
        let found = t.match_found.unwrap();
        assert_eq!((t.status, found.room_ticket.as_str(), found.max_rtt_ms), (TicketStatus::Matched, "b@room-1", 120));
    }

    #[test]
    fn max_rtt_and_dead_regions_prevent_matches() {
        let mm = Matchmaker::default();
        let now = Instant::now();
        let mut c = cfg(2);
        c.max_rtt_ms = 100;
        mm.submit(ticket("a", &[("r1", 20)], None), c.clone(), 100, false, now).unwrap();
        mm.submit(ticket("b", &[("r1", 150)], None), c.clone(), 100, false, now).unwrap();
        assert!(mm.round(now, &live(&["r1"]), &no_sign).is_empty());
        mm.set_config("g", "m", &cfg(2));
        assert!(mm.round(now, &live(&[]), &no_sign).is_empty(), "no live relay");
        assert_eq!(mm.round(now, &live(&["r1"]), &no_sign).len(), 1);
    }

    #[test]
    fn parties_count_and_oldest_go_first() {
        let mm = Matchmaker::default();
        let now = Instant::now();
        let mut party = ticket("p", &[("r1", 10)], None);
        party.party = vec!["q".into(), "r".into()];
        mm.submit(ticket("old", &[("r1", 10)], None), cfg(4), 100, false, now).unwrap();
        mm.submit(party, cfg(4), 100, false, now + Duration::from_millis(1)).unwrap();
        mm.submit(ticket("young", &[("r1", 10)], None), cfg(4), 100, false, now + Duration::from_millis(2)).unwrap();
        let p = mm.round(now + Duration::from_millis(3), &live(&["r1"]), &no_sign);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].players, vec!["old", "p", "q", "r"]);
        // One active ticket per player, party members included.
        let err = mm.submit(ticket("q", &[("r1", 10)], None), cfg(4), 100, false, now).unwrap_err();
        assert!(matches!(err, MatchmakingError::ActiveTicket { ref user, ticket_id: Some(_) } if user == "q"));
        assert!(mm.active_players("g").contains("young"));
    }

    #[test]
    fn a_spent_budget_resumes_with_the_next_anchor() {
        let now = Instant::now();
        let entry = |owner: &str, skill: f64, age_ms: u64| Entry {
            id: owner.into(),
            game: "g".into(),
            mode: "m".into(),
            owner: owner.into(),
            party: vec![],
            waiting_for: vec![],
            regions: vec![RegionRtt { region: "r1".into(), rtt_ms: 10 }],
            profile: Profile { skill: Some(skill), ..Default::default() },
            created: now - Duration::from_millis(age_ms),
            created_at: String::new(),
            status: TicketStatus::Queued,
            placing: false,
            found: None,
            finished: None,
            config: cfg(2),
            changed: watch::channel(0).0,
        };
        let mut c = cfg(2);
        c.skill_widen_per_sec = 0.0;
        // Three lone skills, then a compatible pair.
        let all = [entry("x", 0.0, 50), entry("y", 5000.0, 40), entry("z", 10000.0, 30), entry("a", 20000.0, 20), entry("b", 20050.0, 10)];
        let free: Vec<&Entry> = all.iter().collect();
        let usable = |_: &str| true;
        let (plans, stopped) = plan(&c, &free, now, &usable, 0, usize::MAX);
        assert_eq!((plans.len(), stopped), (1, None));
        assert_eq!(plans[0].0, vec![3, 4]);
        // With 4 checks per round, the first round stops at the second anchor...
        let (plans, stopped) = plan(&c, &free, now, &usable, 0, 4);
        assert_eq!((plans.len(), stopped), (0, Some(1)));
        // ...and rounds resuming from there reach the pair.
        let mut start = 1;
        let mut found = Vec::new();
        for _ in 0..5 {
            let (plans, stopped) = plan(&c, &free, now, &usable, start, 4);
            found.extend(plans);
            start = stopped.unwrap_or(0);
        }
        assert_eq!(found[0].0, vec![3, 4]);
    }

    #[test]
    fn expiry_cancel_and_backfill() {
        let mm = Matchmaker::default();
        let now = Instant::now();
        let mut c = cfg(2);
        c.max_wait_secs = 1;
        let t = mm.submit(ticket("a", &[("r1", 10)], None), c.clone(), 100, false, now).unwrap();
        assert!(mm.round(now + Duration::from_millis(1500), &live(&["r1"]), &no_sign).is_empty());
        let viewer = Viewer::Player { user: "a".into(), game: "g".into() };
        assert_eq!(mm.read(&t.ticket_id, &viewer, None).unwrap().0.status, TicketStatus::Expired);
        assert!(matches!(mm.cancel(&t.ticket_id, &viewer, now), Err(MatchmakingError::Conflict(_))));
        let other = Viewer::Player { user: "z".into(), game: "g".into() };
        assert!(matches!(mm.read(&t.ticket_id, &other, None), Err(MatchmakingError::TicketNotFound)));

        mm.submit(ticket("b", &[("r1", 10)], None), cfg(2), 100, false, now).unwrap();
        mm.submit(ticket("c", &[("r1", 10)], None), cfg(2), 100, false, now).unwrap();
        let p = mm.round(now, &live(&["r1"]), &no_sign).remove(0);
        assert!(mm.placed(&p, "room-9", "ws://r1.example/v1/multiplayer", now, &no_sign));
        let d = mm.submit(ticket("d", &[("r1", 10)], None), cfg(2), 100, false, now).unwrap();
        let far = mm.submit(ticket("e", &[("r2", 10)], None), cfg(2), 100, false, now).unwrap();
        let r = mm.backfill("g", &p.match_id, "room-9", "r1", 2, now + Duration::from_secs(60), now, &no_sign).unwrap();
        assert_eq!((r.filled, r.open_seats), (vec!["d".to_string()], 1));
        let (seen, _) = mm.read(&d.ticket_id, &Viewer::Server { game: "g".into() }, None).unwrap();
        assert_eq!(seen.match_found.unwrap().players, vec!["b", "c", "d"]);
        let (seen, _) = mm.read(&far.ticket_id, &Viewer::Server { game: "g".into() }, None).unwrap();
        assert_eq!(seen.status, TicketStatus::Queued);
        assert!(matches!(mm.backfill("other", &p.match_id, "room-9", "r1", 1, now, now, &no_sign), Err(MatchmakingError::MatchNotFound)));
        mm.sweep(now + Duration::from_secs(3600), Duration::from_secs(300), Duration::from_secs(60));
        assert!(matches!(mm.read(&d.ticket_id, &Viewer::Server { game: "g".into() }, None), Err(MatchmakingError::TicketNotFound)));
    }
    /// Rooms go to the relay with the lowest share of its capacity in use, counting the
    /// players sent since its last heartbeat; a new heartbeat replaces that count.
    #[test]
    fn rooms_spread_over_a_regions_relays() {
        let picker = RelayPicker::default();
        let relay =
            |url: &str, capacity, load, last_seen_ms| RelayInstance { url: url.into(), capacity, load, last_seen_ms, key_fingerprint: String::new() };
        let relays = vec![relay("ws://a", 100, 10, 1), relay("ws://b", 100, 0, 1), relay("ws://c", 10, 0, 1)];
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(picker.pick(&relays, 4).unwrap().url.clone());
        }
        // Shares: a 10 %, b 0 %, c 0 % (ties by URL). b 0 → 4 %, c 0 → 40 %, b 4 → 8 %,
        // b 8 → 12 %, a 10 → 14 %, b 12 → 16 %.
        assert_eq!(got, ["ws://b", "ws://c", "ws://b", "ws://b", "ws://a", "ws://b"]);
        // b's next heartbeat reports its load; what was sent before it no longer counts.
        let relays = vec![relay("ws://a", 100, 18, 2), relay("ws://b", 100, 12, 2), relay("ws://c", 10, 4, 2)];
        assert_eq!(picker.pick(&relays, 2).unwrap().url, "ws://b");
        assert!(picker.pick(&[], 2).is_none());
    }

    /// What one origin stored is what the next one serves: queued tickets (with their age,
    /// party and active slots), finished tickets with their room tickets, and matches with
    /// open seats; dropped ones are deleted.
    #[test]
    fn a_stored_queue_is_restored_whole() {
        let now = Instant::now();
        let a = Matchmaker::default();
        let mut party = ticket("p", &[("r1", 10)], Some(100.0));
        party.party = vec!["q".into()];
        party.party_agreed = false;
        let pending = a.submit(party, cfg(4), 100, false, now).unwrap();
        let t1 = a.submit(ticket("a", &[("r1", 10)], None), cfg(2), 100, false, now).unwrap();
        let t2 = a.submit(ticket("b", &[("r1", 30)], None), cfg(2), 100, false, now).unwrap();
        let p = a.round(now, &live(&["r1"]), &no_sign);
        assert!(a.placed(&p[0], "room-1", "ws://r1.example/v1/multiplayer", now, &no_sign));
        a.backfill("g", &p[0].match_id, "room-1", "r1", 1, now + Duration::from_secs(30), now, &no_sign).unwrap();
        let lone = a.submit(ticket("c", &[("r2", 5)], None), cfg(2), 100, false, now).unwrap();
        // Stored as Redis would hold it: the latest state of each id.
        let mut tickets: HashMap<String, StoredTicket> = HashMap::new();
        let mut matches: HashMap<String, StoredMatch> = HashMap::new();
        let mut apply = |c: Changes| {
            for (id, t) in c.tickets {
                match t {
                    Some(t) => tickets.insert(id, serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap()),
                    None => tickets.remove(&id),
                };
            }
            for (id, m) in c.matches {
                match m {
                    Some(m) => matches.insert(id, m),
                    None => matches.remove(&id),
                };
            }
        };
        apply(a.take_changes(now));
        assert!(a.take_changes(now).is_empty(), "changes are taken once");
        let b = Matchmaker::default();
        b.restore(tickets.values().cloned().collect(), matches.iter().map(|(k, v)| (k.clone(), v.clone())).collect(), now);
        let as_player = |u: &str| Viewer::Player { user: u.into(), game: "g".into() };
        for (id, user) in [(&t1.ticket_id, "a"), (&t2.ticket_id, "b"), (&pending.ticket_id, "p"), (&lone.ticket_id, "c")] {
            assert_eq!(b.read(id, &as_player(user), None).unwrap().0, a.read(id, &as_player(user), None).unwrap().0, "{user}");
        }
        // Active slots came back: c cannot queue twice, q can still accept the invitation.
        assert!(matches!(b.submit(ticket("c", &[("r2", 5)], None), cfg(2), 100, false, now), Err(MatchmakingError::ActiveTicket { .. })));
        assert_eq!(b.accept(&pending.ticket_id, "q", "g").unwrap().status, TicketStatus::Queued);
        // The match's open seat is still open: a newcomer of r1 is backfilled into room-1.
        let d = b.submit(ticket("d", &[("r1", 20)], None), cfg(2), 100, false, now).unwrap();
        b.round(now, &live(&["r1"]), &no_sign);
        let seen = b.read(&d.ticket_id, &as_player("d"), None).unwrap().0;
        assert_eq!(seen.status, TicketStatus::Matched, "backfilled after the restore");
        assert_eq!(seen.match_found.unwrap().room_ticket, "d@room-1");
        // A swept ticket is deleted from the store.
        b.take_changes(now);
        b.cancel(&lone.ticket_id, &as_player("c"), now).unwrap();
        b.sweep(now + Duration::from_secs(10), Duration::from_secs(1), Duration::from_secs(3600));
        let gone = b.take_changes(now);
        assert!(gone.tickets.iter().any(|(id, t)| *id == lone.ticket_id && t.is_none()), "{gone:?}");
    }
}

/// A match whose room must move: its relay stopped sending heartbeats.
#[derive(Debug, Clone)]
pub struct Move {
    pub match_id: String,
    pub region: String,
    /// The room to open for it on another relay.
    pub room: OpenRoomRequest,
}

impl Matchmaker {
    /// The relays match rooms are on, with their regions (to check which are alive).
    pub fn relays_in_use(&self) -> HashSet<(String, String)> {
        self.lock().matches.values().filter(|m| !m.relay.is_empty() && !m.moving).map(|m| (m.region.clone(), m.relay.clone())).collect()
    }

    /// Matches whose room is on `relay` (of `region`), now marked as moving.
    pub fn rooms_to_move(&self, region: &str, relay: &str) -> Vec<Move> {
        let mut q = self.lock();
        let mut out = Vec::new();
        for (id, m) in q.matches.iter_mut().filter(|(_, m)| m.region == region && m.relay == relay && !m.moving) {
            m.moving = true;
            out.push(Move {
                match_id: id.clone(),
                region: m.region.clone(),
                room: OpenRoomRequest {
                    game_id: m.game.clone(),
                    match_id: id.clone(),
                    mode: m.mode.clone(),
                    max_players: m.match_size,
                    players: m.players.clone(),
                    properties: m.properties.clone(),
                },
            });
        }
        out
    }

    /// A moved match's new room: its tickets carry the new room and new room tickets (and
    /// wake their readers). `None` for `room`: the move failed, try again later.
    pub fn moved(&self, mv: &Move, room: Option<(&str, &str, &str)>, sign: Signer<'_>) {
        let mut q = self.lock();
        let Queue { tickets, matches, dirty_tickets, dirty_matches, .. } = &mut *q;
        let Some(record) = matches.get_mut(&mv.match_id) else { return };
        record.moving = false;
        let Some((room_id, relay_url, relay)) = room else { return };
        record.room_id = room_id.to_string();
        record.relay_url = relay_url.to_string();
        record.relay = relay.to_string();
        dirty_matches.insert(mv.match_id.clone());
        for (id, e) in tickets.iter_mut() {
            let Some(found) = e.found.as_mut().filter(|f| f.base.match_id == mv.match_id) else { continue };
            found.base.room_id = room_id.to_string();
            found.base.relay_url = relay_url.to_string();
            let base = found.base.clone();
            found.room_tickets = std::iter::once(&e.owner).chain(e.party.iter()).map(|m| (m.clone(), sign(m, &e.game, &base))).collect();
            dirty_tickets.insert(id.clone());
            e.bump();
        }
        metrics::counter!("aethex_matchmaking_rooms_moved_total").increment(1);
    }
}

/// Spreads rooms over a region's relays: the one with the lowest share of its capacity in
/// use, counting the players this process sent to it since its last heartbeat (which its
/// reported load does not show yet).
#[derive(Default)]
pub struct RelayPicker {
    sent: Mutex<HashMap<String, (i64, u32)>>,
}

impl RelayPicker {
    /// Picks one of a region's live relays and counts `players` on it.
    pub fn pick<'a>(&self, relays: &'a [RelayInstance], players: u32) -> Option<&'a RelayInstance> {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let pending = |r: &RelayInstance| sent.get(&r.url).filter(|(at, _)| *at == r.last_seen_ms).map_or(0, |(_, n)| *n);
        let share = |r: &RelayInstance| f64::from(r.load.saturating_add(pending(r))) / f64::from(r.capacity.max(1));
        let best = relays.iter().min_by(|a, b| share(a).total_cmp(&share(b)).then_with(|| a.url.cmp(&b.url)))?;
        let entry = sent.entry(best.url.clone()).or_insert((best.last_seen_ms, 0));
        if entry.0 != best.last_seen_ms {
            *entry = (best.last_seen_ms, 0);
        }
        entry.1 = entry.1.saturating_add(players);
        if sent.len() > 10_000 {
            sent.clear();
        }
        Some(best)
    }
}
