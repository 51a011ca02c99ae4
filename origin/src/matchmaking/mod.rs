//! Matchmaking: per-game modes (stored), tickets (in memory), a background matcher that
//! groups queued tickets into matches, opens a room on the chosen region's relay and hands
//! every player a signed room ticket, and backfill of rooms that lost players.
//!
//! # Where things live
//! - `queue.rs`: the in-memory queue ([`Matchmaker`]) and the matching rules, no I/O;
//! - `service.rs`: validation, authorization, the matcher loop and the relay call;
//! - `store.rs`: SQL (modes, live regions, party checks);
//! - `routes.rs`: REST; `crate::rpc` maps `matchmaking.*` onto the same service functions.
//!
//! # State
//! Mode configurations are rows of `matchmaking_modes`. Tickets, formed matches and open
//! backfill seats live in memory. In one process a restart forgets them (clients see
//! `404` on their ticket and queue again). In a cluster (`[cluster] redis_url`), one
//! origin runs the queue and stores every change in Redis before it answers; the others
//! pass the queue's operations to it, and another origin takes over when it dies (see
//! [`cluster`]).
//!
//! # Tickets
//! A ticket stands for its owner (the token's `sub`, or a server key's `user_id`) and its
//! `party`. A player has at most one active (queued) ticket per game, counting party
//! membership: a second one is refused with `409` whose `data.ticket_id` names the active
//! ticket (cancel it or poll it; it is never replaced silently). Finished tickets
//! (matched, cancelled, expired) stay readable for `matchmaking.ticket_retention_secs`.
//!
//! # The matcher (every `matchmaking.interval_ms`)
//! 1. Tickets queued longer than their mode's `max_wait_secs` become `expired`.
//! 2. Backfill first: each remembered match with open seats (from `POST
//!    /matchmaking/backfill`) takes the oldest queued tickets of its game and mode that fit
//!    the seats, list the match's region (within `max_rtt_ms`, if set) and are compatible
//!    with every player already matched and with each other.
//! 3. New matches, greedy by age, per (game, mode): the oldest free queued ticket anchors
//!    a group; the other free tickets are tried oldest first and join when the group stays
//!    within `match_size` players (a party ticket counts `1 + party.len()`), every pair is
//!    compatible, and the group still shares a usable region. A group that reaches exactly
//!    `match_size` is a match; otherwise the anchor waits and the next oldest free ticket
//!    anchors. No backtracking: older tickets get first pick, even when another grouping
//!    would have matched more players. One round spends at most
//!    [`queue::MAX_CHECKS_PER_ROUND`] pair checks per (game, mode) (the lock is held
//!    meanwhile); when they run out, the next round resumes with the next anchor.
//! 4. Region of a match: among the regions every ticket lists, with a live relay (heartbeat
//!    within `edge.region_ttl_secs`) and not backing off after a relay failure, the one
//!    with the lowest worst-case RTT (the highest RTT any of the tickets reported for it),
//!    skipping regions whose worst RTT is above the mode's `max_rtt_ms` (when not 0); ties
//!    go to the region name that sorts first.
//!
//! Two tickets are compatible when each accepts the other:
//! - skill: a ticket's skill is its `skill`, else the middle of its `skill_range`, else
//!   none (a ticket without skill is accepted by any range). Its accepted range is
//!   `skill_range`, else `skill ± skill_window`, else anything, widened on each side by
//!   `skill_widen_per_sec × seconds waited`. Each ticket's skill must lie in the other's
//!   range.
//! - properties: every condition of a ticket's `query` holds on the other's `properties`
//!   (a missing property fails).
//!
//! # Placing a match
//! The tickets of a formed match are held (still `queued` to their readers) while origin
//! calls `POST <relay>/v1/rooms` with its first edge key. The relay's HTTP base is the
//! region's URL with `ws://` turned into `http://` and `wss://` into `https://`. On
//! success each player gets a room ticket (EdDSA JWT signed with the access-token key:
//! `iss` = `auth.issuer`, `aud` = `aethex-relay`, `sub`, `game`, `room`, `region`, `match`,
//! `iat`, `exp` = `iat + matchmaking.room_ticket_ttl_secs`) and the tickets become
//! `matched`. `relay_url` is the `url` the relay answered when that is a `ws://` or
//! `wss://` URL, else the region's URL (as a WebSocket URL) followed by `/v1/multiplayer`.
//! On failure (refused, unreachable, timed out, malformed answer) the tickets go back to
//! the queue with their age, and the region is not chosen again for
//! `matchmaking.relay_backoff_ms`, so the next round tries another one. A ticket
//! cancelled while its match was being placed stays cancelled; the others go back to the
//! queue (the room opened for them is left empty for the relay to drop).
//!
//! # Errors
//! The service returns [`MatchmakingError`]; routes and RPC turn it into [`ApiError`].

pub mod cluster;
pub mod queue;
pub mod routes;
pub mod service;
pub mod store;

use serde::Serialize;

use aethex_protocol::matchmaking::ModeConfig;
use aethex_protocol::rpc::ErrorCode;

use crate::error::{ApiError, CoreError};
use crate::teams::TeamError;

pub use queue::Matchmaker;

#[derive(Debug, thiserror::Error)]
pub enum MatchmakingError {
    #[error("no mode {0:?} in this game")]
    ModeNotFound(String),
    #[error("no such ticket")]
    TicketNotFound,
    #[error("no such match")]
    MatchNotFound,
    #[error("player {user} already has an active ticket")]
    ActiveTicket { user: String, ticket_id: Option<String> },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    NoGame(#[from] crate::auth::NoGame),
    #[error("the matchmaking queue is full")]
    QueueFull,
    /// The cluster's queue cannot be reached now (failing over, Redis lost).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Team(#[from] TeamError),
    /// The game's logic refused the write or failed.
    #[error(transparent)]
    Logic(#[from] crate::logic::LogicError),
    /// Bad input or the database: [`CoreError`].
    #[error(transparent)]
    Core(#[from] CoreError),
}

crate::error::core_errors!(MatchmakingError);

impl From<MatchmakingError> for ApiError {
    fn from(e: MatchmakingError) -> Self {
        match e {
            MatchmakingError::Core(e) => e.into(),
            MatchmakingError::Logic(e) => e.into(),
            MatchmakingError::ModeNotFound(m) => ApiError::not_found("mode", format!("no mode {m:?} in this game")),
            MatchmakingError::TicketNotFound => ApiError::not_found("ticket_id", "no such ticket"),
            MatchmakingError::MatchNotFound => ApiError::not_found("match_id", "no such match (or origin restarted since it was made)"),
            MatchmakingError::ActiveTicket { user, ticket_id } => {
                let e = ApiError::new(ErrorCode::CONFLICT, "Conflict")
                    .field("user_id", format!("player {user} already has an active ticket in this game; cancel it first"));
                match ticket_id {
                    Some(id) => e.detail("ticket_id", serde_json::Value::String(id)),
                    None => e,
                }
            }
            MatchmakingError::Conflict(why) => ApiError::new(ErrorCode::CONFLICT, "Conflict").reason(why),
            MatchmakingError::Forbidden(why) => ApiError::forbidden(why),
            MatchmakingError::NoGame(e) => e.into(),
            MatchmakingError::QueueFull => {
                ApiError::new(ErrorCode::UNAVAILABLE, "Service unavailable").reason("the matchmaking queue is full; try again shortly").retry_after(5)
            }
            MatchmakingError::Team(t) => t.into(),
            MatchmakingError::Unavailable(why) => ApiError::new(ErrorCode::UNAVAILABLE, "Service unavailable").reason(why).retry_after(1),
        }
    }
}

/// A mode of a game: its name and configuration (`GET`/`PUT
/// /api/v1/games/{game_id}/matchmaking/modes/{mode}`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ModeEntry {
    pub game_id: String,
    pub mode: String,
    #[serde(flatten)]
    pub config: ModeConfig,
    pub updated_at: String,
}

/// `GET /api/v1/games/{game_id}/matchmaking/modes`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ModeList {
    pub modes: Vec<ModeEntry>,
}

pub use aethex_protocol::matchmaking::BackfillResponse;
