//! Matchmaking rules: who may configure modes and read tickets, what a ticket may hold,
//! the matcher loop and the relay call. REST, JSON-RPC and the loop call these functions.

use std::collections::HashSet;
use std::sync::Weak;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use aethex_protocol::matchmaking::{
    parse_mode, BackfillRequest, MatchFound, ModeConfig, PropertyQuery, RegionRtt, Ticket, TicketList, TicketRequest, TicketStatus,
};
use aethex_protocol::multiplayer::RELAY_KEY_HEADER;
use aethex_protocol::multiplayer::{OpenRoomRequest, OpenRoomResponse, RoomTicketClaims, RELAY_WS_PATH, TICKET_AUDIENCE};
use aethex_protocol::regions::{http_base, parse_region_name, parse_relay_url, ws_base};
use aethex_protocol::teams::Role;
use aethex_protocol::validate::{GameSlug, Invalid};

use super::cluster::{Answer, Op, WireError};
use super::queue::{NewTicket, Placement, Profile, Viewer};
use super::{store, BackfillResponse, MatchmakingError, ModeEntry, ModeList};
use crate::auth::caller::Caller;
use crate::logic::{self, hooks::By};
use crate::state::{App, AppState};

pub type MmResult<T> = Result<T, MatchmakingError>;

/// Players per match.
pub const MIN_MATCH_SIZE: u32 = 2;
pub const MAX_MATCH_SIZE: u32 = 64;
/// Longest `max_wait_secs` of a mode.
pub const MAX_WAIT_SECS: u32 = 3600;
/// Largest `skill_widen_per_sec`, `skill_window` and absolute skill.
pub const MAX_WIDEN_PER_SEC: f64 = 1e6;
pub const MAX_ABS_SKILL: f64 = 1e9;
/// Largest RTT a ticket may report, and a mode's `max_rtt_ms`.
pub const MAX_RTT_MS: u32 = 10_000;
/// Regions per ticket.
pub const MAX_REGIONS: usize = 16;
/// Properties and query conditions per ticket; bytes of a property name and a string value.
pub const MAX_PROPERTIES: usize = 16;
pub const MAX_QUERY: usize = 16;
pub const MAX_PROPERTY_NAME_BYTES: usize = 64;
pub const MAX_STRING_BYTES: usize = 256;
/// Longest long-poll.
pub const MAX_WAIT_MS: u64 = 30_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn game_slug(raw: &str) -> MmResult<String> {
    Ok(GameSlug::parse(raw)?.into_inner())
}

async fn require_game_access(app: &AppState, caller: &Caller, game: &str, needed: Role) -> MmResult<()> {
    Ok(crate::teams::service::require_game_caller(app, caller, game, needed).await?)
}

pub fn check_mode_config(c: &ModeConfig) -> Result<(), Invalid> {
    if !(MIN_MATCH_SIZE..=MAX_MATCH_SIZE).contains(&c.match_size) {
        return Err(Invalid::new("match_size", format!("match_size must be {MIN_MATCH_SIZE} to {MAX_MATCH_SIZE}")));
    }
    if !(1..=MAX_WAIT_SECS).contains(&c.max_wait_secs) {
        return Err(Invalid::new("max_wait_secs", format!("max_wait_secs must be 1 to {MAX_WAIT_SECS}")));
    }
    if !(c.skill_widen_per_sec.is_finite() && (0.0..=MAX_WIDEN_PER_SEC).contains(&c.skill_widen_per_sec)) {
        return Err(Invalid::new("skill_widen_per_sec", format!("skill_widen_per_sec must be 0 to {MAX_WIDEN_PER_SEC}")));
    }
    if !(c.skill_window.is_finite() && (0.0..=MAX_ABS_SKILL).contains(&c.skill_window)) {
        return Err(Invalid::new("skill_window", format!("skill_window must be 0 to {MAX_ABS_SKILL}")));
    }
    if c.max_rtt_ms > MAX_RTT_MS {
        return Err(Invalid::new("max_rtt_ms", format!("max_rtt_ms must be 0 (no limit) to {MAX_RTT_MS}")));
    }
    Ok(())
}

/// Creates or replaces a mode (developer+ or the game's server key).
pub async fn put_mode(app: &AppState, caller: &Caller, game: &str, mode: &str, config: ModeConfig) -> MmResult<ModeEntry> {
    let game = game_slug(game)?;
    require_game_access(app, caller, &game, Role::Developer).await?;
    let mode = parse_mode(mode)?;
    check_mode_config(&config)?;
    let entry = ModeEntry { game_id: game, mode, config, updated_at: crate::clock::now() };
    let e = entry.clone();
    app.db.write(move |c| async move { store::upsert_mode(&c, &e).await.map_err(MatchmakingError::from) }).await?;
    let op = Op::SetConfig { game: entry.game_id.clone(), mode: entry.mode.clone(), config: entry.config.clone() };
    if let Err(e) = queue_op(app, op, false).await {
        // Stored: tickets queued from now on carry it; queued ones keep the old one.
        tracing::warn!(error = %e, "queued tickets keep their mode's old configuration");
    }
    Ok(entry)
}

/// One mode (viewer+ or the game's server key).
pub async fn get_mode(app: &AppState, caller: &Caller, game: &str, mode: &str) -> MmResult<ModeEntry> {
    let game = game_slug(game)?;
    require_game_access(app, caller, &game, Role::Viewer).await?;
    let mode = parse_mode(mode)?;
    store::mode(&*app.db.reader().await, &game, &mode).await?.ok_or(MatchmakingError::ModeNotFound(mode))
}

/// The game's modes (viewer+ or the game's server key).
pub async fn list_modes(app: &AppState, caller: &Caller, game: &str) -> MmResult<ModeList> {
    let game = game_slug(game)?;
    require_game_access(app, caller, &game, Role::Viewer).await?;
    Ok(ModeList { modes: store::modes_of_game(&*app.db.reader().await, &game).await? })
}

fn check_name(field: &'static str, what: &str, name: &str) -> Result<(), Invalid> {
    if name.is_empty() || name.len() > MAX_PROPERTY_NAME_BYTES || name.chars().any(char::is_control) {
        return Err(Invalid::new(field, format!("{what} names are 1 to {MAX_PROPERTY_NAME_BYTES} bytes without control characters")));
    }
    Ok(())
}

fn check_value(field: &'static str, name: &str, v: &Value) -> Result<(), Invalid> {
    match v {
        Value::String(s) if s.len() <= MAX_STRING_BYTES => Ok(()),
        Value::String(_) => Err(Invalid::new(field, format!("{name:?}: strings are at most {MAX_STRING_BYTES} bytes"))),
        Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => Ok(()),
        _ => Err(Invalid::new(field, format!("{name:?} must be a string or a number"))),
    }
}

/// Properties: at most [`MAX_PROPERTIES`], each a string (at most [`MAX_STRING_BYTES`]) or
/// a number.
pub fn check_properties(props: &Map<String, Value>) -> Result<(), Invalid> {
    if props.len() > MAX_PROPERTIES {
        return Err(Invalid::new("properties", format!("at most {MAX_PROPERTIES} properties")));
    }
    for (k, v) in props {
        check_name("properties", "property", k)?;
        check_value("properties", k, v)?;
    }
    Ok(())
}

/// Query conditions: at most [`MAX_QUERY`], each with a known op and a string or number.
pub fn check_query(query: &[PropertyQuery]) -> Result<(), Invalid> {
    if query.len() > MAX_QUERY {
        return Err(Invalid::new("query", format!("at most {MAX_QUERY} conditions")));
    }
    for q in query {
        check_name("query", "property", &q.property)?;
        q.check()?;
        check_value("query", &q.property, &q.value)?;
    }
    Ok(())
}

fn check_skill(field: &'static str, s: f64) -> Result<(), Invalid> {
    if s.is_finite() && s.abs() <= MAX_ABS_SKILL {
        Ok(())
    } else {
        Err(Invalid::new(field, format!("skills are numbers within ±{MAX_ABS_SKILL}")))
    }
}

/// The ticket's regions: `regions`, plus the seed's `region` (RTT 0) unless listed.
fn regions_of(req: &TicketRequest) -> Result<Vec<RegionRtt>, Invalid> {
    let mut regions = req.regions.clone();
    if let Some(r) = &req.region {
        if !regions.iter().any(|x| x.region == *r) {
            regions.push(RegionRtt { region: r.clone(), rtt_ms: 0 });
        }
    }
    if regions.is_empty() {
        return Err(Invalid::new("regions", "name at least one region (regions, or region)"));
    }
    if regions.len() > MAX_REGIONS {
        return Err(Invalid::new("regions", format!("at most {MAX_REGIONS} regions")));
    }
    let mut seen = HashSet::new();
    for r in &regions {
        parse_region_name(&r.region).map_err(|e| Invalid::new("regions", e.reason))?;
        if !seen.insert(r.region.as_str()) {
            return Err(Invalid::new("regions", format!("region {:?} is listed twice", r.region)));
        }
        if r.rtt_ms > MAX_RTT_MS {
            return Err(Invalid::new("regions", format!("rtt_ms must be at most {MAX_RTT_MS}")));
        }
    }
    Ok(regions)
}

/// Queues a ticket: for the token's player, or for `user_id` with the game's server key.
pub async fn create_ticket(app: &AppState, caller: &Caller, req: TicketRequest) -> MmResult<Ticket> {
    let reader_guard = app.db.reader().await;
    let reader = &*reader_guard;
    let (owner, game, server) = match caller {
        Caller::Player(p) => {
            let game = p.game()?.to_string();
            if req.user_id.as_deref().is_some_and(|u| u != "me" && u != p.user_id) {
                return Err(MatchmakingError::Forbidden("players queue only themselves; user_id is for server keys".into()));
            }
            (p.user_id.clone(), game, false)
        }
        Caller::Server(s) => {
            let user = req.user_id.as_deref().ok_or_else(|| Invalid::new("user_id", "a server key must name the player (user_id)"))?;
            if uuid::Uuid::parse_str(user).is_err() || !store::user_active(reader, user).await? {
                return Err(Invalid::new("user_id", "no such player").into());
            }
            (user.to_string(), s.game_id.clone(), true)
        }
    };
    let mode = parse_mode(&req.mode)?;
    let config = store::mode(reader, &game, &mode).await?.ok_or_else(|| Invalid::new("mode", format!("no mode {mode:?} in this game")))?.config;
    let regions = regions_of(&req)?;
    let live = store::live_regions(reader, now_ms() - (app.config.edge.region_ttl_secs * 1000) as i64).await?;
    if let Some(dead) = regions.iter().find(|r| !live.contains_key(&r.region)) {
        return Err(Invalid::new("regions", format!("region {:?} has no live relay", dead.region)).into());
    }
    if let Some(s) = req.skill {
        check_skill("skill", s)?;
    }
    if let Some([lo, hi]) = req.skill_range {
        check_skill("skill_range", lo)?;
        check_skill("skill_range", hi)?;
        if lo > hi {
            return Err(Invalid::new("skill_range", "skill_range is [min, max] with min <= max").into());
        }
    }
    if req.party.len() as u32 > config.match_size.saturating_sub(1) {
        let why = format!(
            "a party holds at most {} other players in mode {mode:?} (match_size {})",
            config.match_size.saturating_sub(1),
            config.match_size
        );
        return Err(Invalid::new("party", why).into());
    }
    let mut seen = HashSet::new();
    for member in &req.party {
        if *member == owner || !seen.insert(member.as_str()) {
            return Err(Invalid::new("party", "party lists other players, each once").into());
        }
        let known = uuid::Uuid::parse_str(member).is_ok()
            && if server { store::user_active(reader, member).await? } else { store::has_game_session(reader, member, &game).await? };
        if !known {
            let why =
                if server { format!("no such player {member}") } else { format!("player {member} does not exist or is not signed in to this game") };
            return Err(Invalid::new("party", why).into());
        }
    }
    check_properties(&req.properties)?;
    check_query(&req.query)?;
    let mut req = req;
    let by = By::of(caller);
    let asked =
        logic::Ticket { user_id: owner.clone(), mode: mode.clone(), skill: req.skill, properties: Value::Object(req.properties.clone()).to_string() };
    if let Some(props) = logic::hooks::before_ticket(app, &game, &by, asked).await? {
        let Ok(Value::Object(props)) = serde_json::from_str::<Value>(&props) else {
            let why = "it rewrote a ticket's properties into something that is not a JSON object";
            return Err(logic::LogicError::Failed(logic::RunError::Trap { export: "before-ticket", message: why.into() }).into());
        };
        check_properties(&props)?;
        req.properties = props;
    }
    let game_of_ticket = game.clone();
    let ticket = NewTicket {
        game,
        mode,
        owner,
        party: req.party,
        party_agreed: server,
        regions,
        profile: Profile { skill: req.skill, skill_range: req.skill_range, properties: req.properties, query: req.query },
    };
    let queued = ticket_of(queue_op(app, Op::Submit { ticket, config, max_queued: app.config.matchmaking.max_queued, server }, false).await?)?;
    let event = logic::Queued { ticket_id: queued.ticket_id.clone(), user_id: queued.owner.clone(), mode: queued.mode.clone() };
    logic::hooks::after(app, &game_of_ticket, by, logic::Event::TicketQueued(event));
    Ok(queued)
}

fn viewer_of(caller: &Caller) -> MmResult<Viewer> {
    Ok(match caller {
        Caller::Player(p) => Viewer::Player { user: p.user_id.clone(), game: p.game()?.to_string() },
        Caller::Server(s) => Viewer::Server { game: s.game_id.clone() },
    })
}

/// A ticket, as soon as it is no longer queued or after `wait_ms` (0: at once). `as_user`:
/// a server key reads a party member's room ticket.
pub async fn get_ticket(app: &AppState, caller: &Caller, ticket_id: &str, wait_ms: u64, as_user: Option<&str>) -> MmResult<Ticket> {
    if wait_ms > MAX_WAIT_MS {
        return Err(Invalid::new("wait_ms", format!("wait_ms must be 0 to {MAX_WAIT_MS}")).into());
    }
    let op = Op::Read { id: ticket_id.to_string(), viewer: viewer_of(caller)?, as_user: as_user.map(str::to_string), wait_ms };
    ticket_of(queue_op(app, op, false).await?)
}

/// [`get_ticket`] on the queue of this process.
async fn wait_for_ticket(app: &AppState, ticket_id: &str, viewer: Viewer, wait_ms: u64, as_user: Option<&str>) -> MmResult<Ticket> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms.min(MAX_WAIT_MS));
    loop {
        let (ticket, mut changed) = app.matchmaking.read(ticket_id, &viewer, as_user)?;
        let waiting = matches!(ticket.status, TicketStatus::Queued | TicketStatus::Pending);
        if !waiting || tokio::time::Instant::now() >= deadline {
            return Ok(ticket);
        }
        // Read and subscribed under one lock: a change after the read always wakes us.
        match tokio::time::timeout_at(deadline, changed.changed()).await {
            Err(_) => return Ok(app.matchmaking.read(ticket_id, &viewer, as_user)?.0),
            Ok(Ok(())) => {}
            // The queue was handed to another origin meanwhile.
            Ok(Err(_)) => return Err(MatchmakingError::Unavailable("the matchmaking queue moved to another origin; poll again".into())),
        }
    }
}

/// A party member accepts a player's party ticket that names them (their own token: the
/// consent the ticket needs before it is queued).
pub async fn accept_ticket(app: &AppState, caller: &Caller, ticket_id: &str) -> MmResult<Ticket> {
    match viewer_of(caller)? {
        Viewer::Player { user, game } => ticket_of(queue_op(app, Op::Accept { id: ticket_id.to_string(), user, game }, false).await?),
        Viewer::Server { .. } => {
            Err(MatchmakingError::Forbidden("players accept their own party invitations; server keys queue agreed parties".into()))
        }
    }
}

/// The player's tickets in the token's game (owned, or naming them in a party), newest
/// first: pending invitations to accept or decline, and any ticket that holds them.
pub async fn my_tickets(app: &AppState, caller: &Caller) -> MmResult<TicketList> {
    match viewer_of(caller)? {
        Viewer::Player { user, game } => match queue_op(app, Op::TicketsOf { user, game }, false).await? {
            Answer::Tickets(tickets) => Ok(TicketList { tickets }),
            other => Err(unexpected(&other)),
        },
        Viewer::Server { .. } => Err(MatchmakingError::Forbidden("this route lists a player's own tickets".into())),
    }
}

/// Cancels a queued ticket (its owner, a party member, or the game's server key).
pub async fn cancel_ticket(app: &AppState, caller: &Caller, ticket_id: &str) -> MmResult<Ticket> {
    let viewer = viewer_of(caller)?;
    ticket_of(queue_op(app, Op::Cancel { id: ticket_id.to_string(), viewer }, false).await?)
}

/// A relay reports open seats in a matched room (edge key, checked by the route).
pub async fn backfill(app: &AppState, req: BackfillRequest) -> MmResult<BackfillResponse> {
    let game = game_slug(&req.game_id)?;
    let region = parse_region_name(&req.region).map_err(|e| Invalid::new("region", e.reason))?;
    if req.open_seats > MAX_MATCH_SIZE {
        return Err(Invalid::new("open_seats", format!("open_seats must be 0 to {MAX_MATCH_SIZE}")).into());
    }
    let op = Op::Backfill { game, match_id: req.match_id, room_id: req.room_id, region, open_seats: req.open_seats };
    match queue_op(app, op, false).await? {
        Answer::Backfill(b) => Ok(b),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(a: &Answer) -> MatchmakingError {
    MatchmakingError::Unavailable(format!("the matchmaking origin answered {a:?}"))
}

fn ticket_of(a: Answer) -> MmResult<Ticket> {
    match a {
        Answer::Ticket(t) => Ok(*t),
        other => Err(unexpected(&other)),
    }
}

/// Runs a queue operation: on this process's queue (one process, or this origin runs the
/// cluster's queue: a change is stored in Redis before the answer), else on the origin
/// that runs it (waiting up to [`super::cluster::WAIT_FOR_LEADER`] for one). `passed_on`:
/// another origin sent it (it is never passed on again).
pub async fn queue_op(app: &AppState, op: Op, passed_on: bool) -> MmResult<Answer> {
    let Some(lead) = &app.matchmaking_cluster else { return run_here(app, op).await };
    let deadline = Instant::now() + super::cluster::WAIT_FOR_LEADER;
    loop {
        if lead.is_leader() {
            if !op.writes() {
                return run_here(app, op).await;
            }
            if let Some((answer, stored)) = lead.change(&app.matchmaking, run_here(app, op.clone())).await {
                stored?;
                return answer;
            }
        } else if passed_on {
            return Err(MatchmakingError::Unavailable("this origin no longer runs the matchmaking queue; try again".into()));
        } else {
            match lead.leader_url().await {
                Ok(Some(url)) => match pass_on(app, &url, &op).await {
                    Ok(Answer::Error(e)) => return Err(e.into_error()),
                    Ok(answer) => return Ok(answer),
                    Err(Some(e)) => return Err(e),
                    Err(None) => {} // the leader is gone: wait for the next
                },
                Ok(None) => {}
                Err(e) => return Err(MatchmakingError::Unavailable(format!("matchmaking cannot reach Redis: {e}"))),
            }
        }
        if Instant::now() >= deadline {
            return Err(MatchmakingError::Unavailable("no origin runs the matchmaking queue right now; try again".into()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends a queue operation to the origin that runs the queue. `Err(None)`: it could not
/// be reached (nothing was sent, or it died): try the next leader.
async fn pass_on(app: &AppState, leader: &str, op: &Op) -> Result<Answer, Option<MatchmakingError>> {
    let wait = match op {
        Op::Read { wait_ms, .. } => Duration::from_millis((*wait_ms).min(MAX_WAIT_MS)),
        _ => Duration::ZERO,
    };
    let resp = app
        .http
        .post(format!("{leader}{}", super::cluster::INTERNAL_PATH))
        .header(super::cluster::CLUSTER_KEY_HEADER, app.tokens.cluster_key())
        .header(super::cluster::PASSED_ON_HEADER, "1")
        .timeout(wait + Duration::from_secs(5))
        .json(op)
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        // Reads are safe to send again; a change only when it was never sent.
        Err(e) if e.is_connect() || !op.writes() => return Err(None),
        Err(e) => return Err(Some(MatchmakingError::Unavailable(format!("the matchmaking origin did not answer: {e}")))),
    };
    if !resp.status().is_success() {
        return Err(Some(MatchmakingError::Unavailable(format!("the matchmaking origin answered {}", resp.status()))));
    }
    resp.json::<Answer>().await.map_err(|e| Some(MatchmakingError::Unavailable(format!("the matchmaking origin's answer: {e}"))))
}

/// Runs a queue operation on this process's queue.
async fn run_here(app: &AppState, op: Op) -> MmResult<Answer> {
    let now = Instant::now();
    let sign = |user: &str, game: &str, m: &MatchFound| room_ticket(app, user, game, m);
    let mm = &app.matchmaking;
    Ok(match op {
        Op::Submit { ticket, config, max_queued, server } => Answer::Ticket(Box::new(mm.submit(ticket, config, max_queued, server, now)?)),
        Op::Read { id, viewer, as_user, wait_ms } => Answer::Ticket(Box::new(wait_for_ticket(app, &id, viewer, wait_ms, as_user.as_deref()).await?)),
        Op::Cancel { id, viewer } => Answer::Ticket(Box::new(mm.cancel(&id, &viewer, now)?)),
        Op::Accept { id, user, game } => Answer::Ticket(Box::new(mm.accept(&id, &user, &game)?)),
        Op::TicketsOf { user, game } => Answer::Tickets(mm.tickets_of(&user, &game)),
        Op::Backfill { game, match_id, room_id, region, open_seats } => {
            let open_until = now + Duration::from_secs(app.config.matchmaking.backfill_secs);
            Answer::Backfill(mm.backfill(&game, &match_id, &room_id, &region, open_seats, open_until, now, &sign)?)
        }
        Op::SetConfig { game, mode, config } => {
            mm.set_config(&game, &mode, &config);
            Answer::Done
        }
    })
}

/// The answer an internal request gets (errors travel inside it).
pub async fn answer_passed_on(app: &AppState, op: Op) -> Answer {
    queue_op(app, op, true).await.unwrap_or_else(|e| Answer::Error(WireError::from_error(e)))
}

/// Runs a change of the matcher's own (a round, a placement's outcome) and stores it
/// when this origin runs the cluster's queue. `None`: another origin runs it.
async fn matcher_step<T>(app: &AppState, step: impl FnOnce() -> T) -> Option<T> {
    let Some(lead) = &app.matchmaking_cluster else { return Some(step()) };
    if !lead.is_leader() {
        return None;
    }
    let (out, stored) = lead.change(&app.matchmaking, async { step() }).await?;
    if let Err(e) = stored {
        tracing::warn!(error = %e, "a matcher change was not stored yet");
    }
    Some(out)
}

/// Signs the room ticket that admits `user` to the match's room.
pub fn room_ticket(app: &App, user: &str, game: &str, m: &MatchFound) -> String {
    let iat = chrono::Utc::now().timestamp().max(0) as u64;
    let claims = RoomTicketClaims {
        iss: app.tokens.issuer().to_string(),
        aud: TICKET_AUDIENCE.to_string(),
        sub: user.to_string(),
        game: game.to_string(),
        room: m.room_id.clone(),
        region: m.region.clone(),
        match_id: m.match_id.clone(),
        iat,
        exp: iat + app.config.matchmaking.room_ticket_ttl_secs,
    };
    app.tokens.sign_json(&claims)
}

/// The `relay_url` players get: the relay's answered `url` when it is a WebSocket URL,
/// else the region's URL as a WebSocket URL followed by [`RELAY_WS_PATH`].
pub fn relay_url(region_url: &str, answered: &str) -> Option<String> {
    if (answered.starts_with("ws://") || answered.starts_with("wss://")) && parse_relay_url("url", answered).is_ok() {
        return Some(answered.to_string());
    }
    ws_base(region_url).map(|b| format!("{b}{RELAY_WS_PATH}"))
}

/// A room for a match on the least loaded live relay of `region` (`POST <relay>/v1/rooms`):
/// the relay's answer, the URL players connect to, and the relay's own URL.
async fn open_room(app: &AppState, region: &str, body: &OpenRoomRequest) -> Result<(OpenRoomResponse, String, String), String> {
    let relays = crate::regions::service::live_relays(app, region).await.map_err(|e| format!("reading the region's relays: {e}"))?;
    let players = u32::try_from(body.players.len()).unwrap_or(u32::MAX);
    let relay = app.matchmaking.relays.pick(&relays, players).ok_or("the region has no live relay")?;
    let base = http_base(&relay.url).ok_or_else(|| format!("relay url {:?} is not http(s) or ws(s)", relay.url))?;
    let key = app.peers.relay_key_by_fingerprint(&relay.key_fingerprint).ok_or("the relay's key is no longer configured")?.to_string();
    let resp = app
        .http
        .post(format!("{base}/v1/rooms"))
        .header(RELAY_KEY_HEADER, key.as_str())
        .timeout(Duration::from_millis(app.config.matchmaking.relay_timeout_ms.max(1)))
        .json(body)
        .send()
        .await
        .map_err(|e| format!("relay unreachable: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("relay answered {status}"));
    }
    let room: OpenRoomResponse = resp.json().await.map_err(|e| format!("relay answer: {e}"))?;
    if room.room_id.is_empty() || room.room_id.len() > 128 || room.room_id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("relay answered a malformed room id {:?}", room.room_id));
    }
    let url = relay_url(&relay.url, &room.url).ok_or_else(|| format!("relay url {:?} is not http(s) or ws(s)", relay.url))?;
    Ok((room, url, relay.url.clone()))
}

fn open_room_request(p: &Placement) -> OpenRoomRequest {
    OpenRoomRequest {
        game_id: p.game.clone(),
        match_id: p.match_id.clone(),
        mode: p.mode.clone(),
        max_players: p.match_size,
        players: p.players.clone(),
        properties: p.properties.clone(),
    }
}

/// Opens the room of a formed match and hands out the room tickets, or puts the tickets
/// back in the queue.
async fn place(app: AppState, mut p: Placement) {
    match open_room(&app, &p.region, &open_room_request(&p)).await {
        Ok((room, url, relay)) => {
            p.relay = relay;
            let sign = |user: &str, game: &str, m: &MatchFound| room_ticket(&app, user, game, m);
            match matcher_step(&app, || app.matchmaking.placed(&p, &room.room_id, &url, Instant::now(), &sign)).await {
                Some(true) => {
                    tracing::info!(match_id = %p.match_id, game = %p.game, mode = %p.mode, region = %p.region, room_id = %room.room_id, players = p.players.len(), "match made")
                }
                Some(false) => {
                    tracing::info!(match_id = %p.match_id, room_id = %room.room_id, "a ticket was cancelled while its match was placed; the others are queued again")
                }
                None => {
                    tracing::info!(match_id = %p.match_id, "another origin took over the queue while this match was placed; its tickets are queued there")
                }
            }
        }
        Err(why) => {
            tracing::warn!(match_id = %p.match_id, region = %p.region, error = %why, "relay could not open a room; tickets go back to the queue");
            metrics::counter!("aethex_matchmaking_relay_failures_total").increment(1);
            let until = Instant::now() + Duration::from_millis(app.config.matchmaking.relay_backoff_ms);
            matcher_step(&app, || app.matchmaking.place_failed(&p, until)).await;
        }
    }
}

/// One matcher round (see the module docs).
async fn round(app: &AppState) -> MmResult<()> {
    let cfg = &app.config.matchmaking;
    let now = Instant::now();
    let (tickets, matches) = (Duration::from_secs(cfg.ticket_retention_secs), Duration::from_secs(cfg.match_retention_secs));
    if matcher_step(app, || app.matchmaking.sweep(now, tickets, matches)).await.is_none() {
        return Ok(()); // another origin runs the queue
    }
    move_lost_rooms(app).await?;
    if app.matchmaking.queued() == 0 {
        metrics::gauge!("aethex_matchmaking_queued_tickets").set(0.0);
        return Ok(());
    }
    let regions = store::live_regions(&*app.db.reader().await, now_ms() - (app.config.edge.region_ttl_secs * 1000) as i64).await?;
    let sign = |user: &str, game: &str, m: &MatchFound| room_ticket(app, user, game, m);
    for p in matcher_step(app, || app.matchmaking.round(Instant::now(), &regions, &sign)).await.unwrap_or_default() {
        tokio::spawn(place(app.clone(), p));
    }
    Ok(())
}

/// Moves the rooms of relays that stopped sending heartbeats to live relays of the same
/// region: each match gets a new room, and its players new room tickets in their
/// (unchanged) matchmaking tickets, which wake their long-polls. A region without a live
/// relay keeps its matches until one comes back.
async fn move_lost_rooms(app: &AppState) -> MmResult<()> {
    let in_use = app.matchmaking.relays_in_use();
    if in_use.is_empty() {
        return Ok(());
    }
    let mut live: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (region, relay) in in_use {
        if !live.contains_key(&region) {
            let urls = crate::regions::service::live_relays(app, &region).await?.into_iter().map(|r| r.url).collect();
            live.insert(region.clone(), urls);
        }
        let urls = &live[&region];
        if urls.is_empty() || urls.contains(&relay) {
            continue;
        }
        let moves = app.matchmaking.rooms_to_move(&region, &relay);
        tracing::warn!(region = %region, relay = %relay, matches = moves.len(), "a relay stopped sending heartbeats; moving its match rooms");
        for mv in moves {
            tokio::spawn(move_room(app.clone(), mv));
        }
    }
    Ok(())
}

async fn move_room(app: AppState, mv: super::queue::Move) {
    let sign = |user: &str, game: &str, m: &MatchFound| room_ticket(&app, user, game, m);
    match open_room(&app, &mv.region, &mv.room).await {
        Ok((room, url, relay)) => {
            tracing::info!(match_id = %mv.match_id, room_id = %room.room_id, relay = %relay, "moved a match room to another relay");
            matcher_step(&app, || app.matchmaking.moved(&mv, Some((&room.room_id, &url, &relay)), &sign)).await;
        }
        Err(why) => {
            tracing::warn!(match_id = %mv.match_id, error = %why, "could not move a match room yet");
            matcher_step(&app, || app.matchmaking.moved(&mv, None, &sign)).await;
        }
    }
}

/// Keeps (or takes) the cluster's matchmaking lease while the app lives.
pub fn spawn_leadership(app: Weak<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(super::cluster::RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { return };
            if let Some(lead) = &app.matchmaking_cluster {
                lead.tick(&app.matchmaking).await;
            }
        }
    });
}

/// Runs the matcher every `matchmaking.interval_ms` while the app lives.
pub fn spawn_matcher(app: Weak<App>, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade().map(AppState) else { return };
            if let Err(e) = round(&app).await {
                tracing::warn!(error = %e, "matchmaking round failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relay_urls() {
        assert_eq!(relay_url("wss://eu.relay.example.com", "").as_deref(), Some("wss://eu.relay.example.com/v1/multiplayer"));
        assert_eq!(relay_url("https://eu.relay.example.com", "https://nope").as_deref(), Some("wss://eu.relay.example.com/v1/multiplayer"));
        assert_eq!(relay_url("wss://a.example", "wss://b.example/v1/multiplayer").as_deref(), Some("wss://b.example/v1/multiplayer"));
    }

    #[test]
    fn ticket_fields_are_checked() {
        let ok = ModeConfig { match_size: 2, max_wait_secs: 60, skill_widen_per_sec: 1.0, skill_window: 10.0, max_rtt_ms: 0 };
        assert!(check_mode_config(&ok).is_ok());
        assert_eq!(check_mode_config(&ModeConfig { match_size: 1, ..ok.clone() }).unwrap_err().field, "match_size");
        assert_eq!(check_mode_config(&ModeConfig { max_wait_secs: 0, ..ok.clone() }).unwrap_err().field, "max_wait_secs");
        assert_eq!(check_mode_config(&ModeConfig { skill_widen_per_sec: -1.0, ..ok.clone() }).unwrap_err().field, "skill_widen_per_sec");
        assert_eq!(check_mode_config(&ModeConfig { max_rtt_ms: 10_001, ..ok }).unwrap_err().field, "max_rtt_ms");
        let props = |v: Value| v.as_object().cloned().unwrap();
        assert!(check_properties(&props(json!({"map": "dust", "level": 3}))).is_ok());
        assert!(check_properties(&props(json!({"map": {"x": 1}}))).is_err());
        assert!(check_properties(&props(json!({"map": "x".repeat(257)}))).is_err());
        assert!(check_properties(&props(json!({"": 1}))).is_err());
        let many: Map<String, Value> = (0..17).map(|i| (format!("p{i}"), json!(i))).collect();
        assert!(check_properties(&many).is_err());
        let q = |op: &str, v: Value| vec![PropertyQuery { property: "level".into(), op: op.into(), value: v }];
        assert!(check_query(&q("gte", json!(3))).is_ok());
        assert!(check_query(&q("like", json!(3))).is_err());
        assert!(check_query(&q("eq", json!([1]))).is_err());
        let req = |v: Value| serde_json::from_value::<TicketRequest>(v).unwrap();
        let r = regions_of(&req(json!({"mode": "m", "region": "us-east", "regions": [{"region": "eu-west", "rtt_ms": 40}]}))).unwrap();
        assert_eq!(r.len(), 2);
        assert!(regions_of(&req(json!({"mode": "m"}))).is_err());
        assert!(regions_of(&req(json!({"mode": "m", "regions": [{"region": "eu", "rtt_ms": 1}, {"region": "eu", "rtt_ms": 2}]}))).is_err());
        assert!(regions_of(&req(json!({"mode": "m", "regions": [{"region": "eu", "rtt_ms": 10_001}]}))).is_err());
        assert!(regions_of(&req(json!({"mode": "m", "regions": [{"region": "EU", "rtt_ms": 1}]}))).is_err());
    }
}
