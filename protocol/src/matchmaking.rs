//! Matchmaking at origin: tickets (mode, regions with measured round-trip times, skill,
//! party, properties and a simple query), the matcher's answer (`match_found` with a
//! signed room ticket per player), cancel, timeouts and backfill.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::validate::Invalid;

/// A region the player can reach, with the round-trip time the SDK measured to its relay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegionRtt {
    pub region: String,
    pub rtt_ms: u32,
}

/// One condition on another ticket's property: `{"property": "map", "op": "eq", "value": "dust"}`.
/// `op`: `eq`, `ne` (strings or numbers), `lt`, `lte`, `gt`, `gte` (numbers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PropertyQuery {
    pub property: String,
    pub op: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub value: Value,
}

/// `POST /api/v1/matchmaking/tickets`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TicketRequest {
    /// A mode the game defined (`deathmatch`).
    pub mode: String,
    /// Regions the player accepts, with measured RTT (the seed's `region` alone is also
    /// accepted: an RTT of 0).
    #[serde(default)]
    pub regions: Vec<RegionRtt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<f64>,
    /// The seed's `skill_range: [min, max]`: the skills this player accepts at first (it
    /// widens with waiting time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill_range: Option<[f64; 2]>,
    /// Other players (user ids) who must land in the same match; the ticket stands for
    /// all of them. From a server key the party is queued as given; from a player the
    /// ticket stays `pending` until each member accepts it with their own token
    /// (`POST /api/v1/matchmaking/tickets/{id}/accept`), and any member may decline
    /// (cancel) it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub party: Vec<String>,
    /// Free string/number properties other tickets can query.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub properties: Map<String, Value>,
    /// Conditions every other ticket of the match must meet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<PropertyQuery>,
    /// Server keys: the player the ticket is for (server-authoritative games).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// A player's party ticket waiting for its members to accept (not matched yet).
    Pending,
    Queued,
    Matched,
    Cancelled,
    /// Waited longer than the mode allows.
    Expired,
}

impl TicketStatus {
    /// The wire name (`pending`, `queued`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Pending => "pending",
            TicketStatus::Queued => "queued",
            TicketStatus::Matched => "matched",
            TicketStatus::Cancelled => "cancelled",
            TicketStatus::Expired => "expired",
        }
    }
}

/// What a matched player gets: where to go and the ticket that admits them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchFound {
    pub match_id: String,
    pub room_id: String,
    pub region: String,
    /// The relay's WebSocket URL.
    pub relay_url: String,
    /// Signed room ticket for `join_room`.
    pub room_ticket: String,
    /// Everyone in the match (user ids).
    pub players: Vec<String>,
    /// Worst RTT among the players to the chosen region.
    pub max_rtt_ms: u32,
}

/// A ticket and where it stands (`GET /api/v1/matchmaking/tickets/{id}?wait_ms=`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    pub ticket_id: String,
    pub status: TicketStatus,
    pub mode: String,
    pub created_at: String,
    /// Who queued it (a party's leader).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    /// The other players it stands for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub party: Vec<String>,
    /// Party members who have not accepted yet (the ticket is `pending` until none are left).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_for: Vec<String>,
    /// Present once matched: the ticket holder's own room ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_found: Option<MatchFound>,
}

/// `GET /api/v1/matchmaking/tickets`: the player's tickets in the token's game, newest
/// first (owned, or naming them in a party).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketList {
    pub tickets: Vec<Ticket>,
}

/// `PUT /api/v1/games/{game_id}/matchmaking/modes/{mode}` (developer+).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModeConfig {
    /// Players per match (2 to 64).
    pub match_size: u32,
    /// Tickets waiting longer than this expire.
    #[serde(default = "default_max_wait")]
    pub max_wait_secs: u32,
    /// How much a ticket's skill range grows per second of waiting, on each side.
    #[serde(default = "default_widen")]
    pub skill_widen_per_sec: f64,
    /// Skill range when a ticket gives none: skill ± this.
    #[serde(default = "default_skill_window")]
    pub skill_window: f64,
    /// Regions whose worst RTT is above this are not chosen (0: no limit).
    #[serde(default)]
    pub max_rtt_ms: u32,
}

fn default_max_wait() -> u32 {
    120
}
fn default_widen() -> f64 {
    10.0
}
fn default_skill_window() -> f64 {
    100.0
}

/// `POST /api/v1/matchmaking/backfill` (edge/cluster key, from a relay): a matched room
/// lost players; the matcher fills the open seats from the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackfillRequest {
    pub game_id: String,
    pub match_id: String,
    pub room_id: String,
    pub region: String,
    pub open_seats: u32,
}

/// Answer of `POST /api/v1/matchmaking/backfill`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackfillResponse {
    pub match_id: String,
    pub room_id: String,
    /// Players placed into the room by this call (each got a room ticket on their ticket).
    pub filled: Vec<String>,
    /// Seats still open; the matcher keeps filling them for `matchmaking.backfill_secs`.
    pub open_seats: u32,
}

/// [`parse_mode`]'s rule as a regular expression (lengths 1 to 32).
pub const MODE_PATTERN: &str = "^[a-z0-9_-]+$";

/// A mode name: 1 to 32 of `a-z 0-9 - _`.
pub fn parse_mode(raw: &str) -> Result<String, Invalid> {
    let ok = (1..=32).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(Invalid::new("mode", "mode must be 1 to 32 of a-z, 0-9, '-', '_'"))
    }
}

impl PropertyQuery {
    /// Whether `props` meets this condition (a missing property never does).
    pub fn matches(&self, props: &Map<String, Value>) -> bool {
        let Some(v) = props.get(&self.property) else { return false };
        match (self.op.as_str(), v, &self.value) {
            ("eq", a, b) => a == b,
            ("ne", a, b) => a != b,
            (op, Value::Number(a), Value::Number(b)) => {
                let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else { return false };
                match op {
                    "lt" => a < b,
                    "lte" => a <= b,
                    "gt" => a > b,
                    "gte" => a >= b,
                    _ => false,
                }
            }
            _ => false,
        }
    }

    pub fn check(&self) -> Result<(), Invalid> {
        if !["eq", "ne", "lt", "lte", "gt", "gte"].contains(&self.op.as_str()) {
            return Err(Invalid::new("query", format!("unknown op {:?} (eq, ne, lt, lte, gt, gte)", self.op)));
        }
        if !(self.value.is_string() || self.value.is_number()) {
            return Err(Invalid::new("query", "a query compares with a string or a number"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queries_match_properties() {
        let props = json!({"map": "dust", "level": 12}).as_object().cloned().unwrap();
        let q = |p: &str, op: &str, v: Value| PropertyQuery { property: p.into(), op: op.into(), value: v };
        assert!(q("map", "eq", json!("dust")).matches(&props));
        assert!(!q("map", "ne", json!("dust")).matches(&props));
        assert!(q("level", "gte", json!(10)).matches(&props));
        assert!(!q("level", "lt", json!(10)).matches(&props));
        assert!(!q("rank", "eq", json!(1)).matches(&props));
        assert!(q("x", "like", json!(1)).check().is_err());
        let seed: TicketRequest = serde_json::from_value(json!({"mode": "deathmatch", "region": "us-east", "skill_range": [1000, 1500]})).unwrap();
        assert_eq!(seed.skill_range, Some([1000.0, 1500.0]));
    }
}

#[cfg(test)]
mod status_tests {
    use super::TicketStatus;

    #[test]
    fn the_status_name_is_the_wire_name() {
        for s in [TicketStatus::Pending, TicketStatus::Queued, TicketStatus::Matched, TicketStatus::Cancelled, TicketStatus::Expired] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
