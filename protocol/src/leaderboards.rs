//! Leaderboards: definitions per game, score submission, and reads (top N with a cursor,
//! and the entries around the player). Reads are served by edges from their replica.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::validate::Invalid;

/// Which scores rank first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Highest first (default).
    #[default]
    Desc,
    /// Lowest first (race times).
    Asc,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Desc => "desc",
            SortOrder::Asc => "asc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "desc" => Some(SortOrder::Desc),
            "asc" => Some(SortOrder::Asc),
            _ => None,
        }
    }

    /// The stored ordering key: entries are kept in ascending `rank_score` order
    /// whatever the board's direction, so one index serves every board.
    pub fn rank_score(self, score: i64) -> i64 {
        match self {
            SortOrder::Asc => score,
            SortOrder::Desc => -score,
        }
    }
}

/// How a submitted score combines with the player's entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Keep the better of the two (default).
    #[default]
    Best,
    /// Keep the newest.
    Latest,
    /// Add to the stored score.
    Sum,
    /// Add to the stored score; the submitted value must be positive.
    Increment,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Best => "best",
            Operator::Latest => "latest",
            Operator::Sum => "sum",
            Operator::Increment => "increment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "best" => Some(Operator::Best),
            "latest" => Some(Operator::Latest),
            "sum" => Some(Operator::Sum),
            "increment" => Some(Operator::Increment),
            _ => None,
        }
    }
}

/// Scores are integers within +-2^53 (exact in every JSON client).
pub const MAX_ABS_SCORE: i64 = 1 << 53;
/// Most entries one read returns.
pub const MAX_PAGE: u32 = 100;
pub const DEFAULT_PAGE: u32 = 10;
/// Largest entry metadata, serialized.
pub const MAX_ENTRY_METADATA_BYTES: usize = 1024;

/// A leaderboard id: 1 to 64 characters of letters, digits, `_`, `-`, `.`.
pub fn parse_leaderboard_id(raw: &str) -> Result<String, Invalid> {
    crate::validate::parse_id(raw, "leaderboard_id")
}

/// `limit` of a read: 1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`].
pub fn parse_limit(raw: Option<&str>) -> Result<u32, Invalid> {
    match raw {
        None => Ok(DEFAULT_PAGE),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(Invalid::new("limit", format!("limit must be a whole number from 1 to {MAX_PAGE}"))),
        },
    }
}

/// `POST /api/v1/games/{game_id}/leaderboards` (developer role).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateLeaderboardRequest {
    pub leaderboard_id: String,
    pub name: String,
    #[serde(default)]
    pub sort_order: SortOrder,
    #[serde(default)]
    pub operator: Operator,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Leaderboard {
    pub game_id: String,
    pub leaderboard_id: String,
    pub name: String,
    pub sort_order: SortOrder,
    pub operator: Operator,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaderboardList {
    pub leaderboards: Vec<Leaderboard>,
}

/// `POST /api/v1/leaderboards/{leaderboard_id}/scores` (`leaderboards.submit_score`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SubmitScoreRequest {
    pub score: i64,
    /// A small JSON object stored with the entry (at most 1 KiB serialized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// One ranked entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaderboardEntry {
    /// 1-based; ties rank by who got there first.
    pub rank: i64,
    pub user_id: String,
    pub username: String,
    pub score: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub updated_at: String,
}

/// Answer of a submit: the player's entry after it (which may be unchanged when the
/// operator is `best` and the score was not better).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitScoreResponse {
    pub entry: LeaderboardEntry,
    /// Whether the stored entry changed.
    pub updated: bool,
}

/// A page of a leaderboard (`GET /api/v1/leaderboards/{id}`, `.../around-me`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaderboardPage {
    pub leaderboard_id: String,
    pub entries: Vec<LeaderboardEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
