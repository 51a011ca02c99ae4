//! Friends: requests, accept, decline, remove, block. Friendships are between accounts
//! (across games); a blocked player cannot send requests and does not learn of the block.

use serde::{Deserialize, Serialize};

/// Most friends plus outgoing requests one player may have.
pub const MAX_FRIENDS: u32 = 500;

/// `POST /api/v1/friends/requests`: the player by id or by username.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FriendRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// Where a player stands with another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FriendState {
    /// I asked; they have not answered.
    Outgoing,
    /// They asked me.
    Incoming,
    Friends,
    /// I blocked them.
    Blocked,
}

impl FriendState {
    pub fn as_str(self) -> &'static str {
        match self {
            FriendState::Outgoing => "outgoing",
            FriendState::Incoming => "incoming",
            FriendState::Friends => "friends",
            FriendState::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "outgoing" => FriendState::Outgoing,
            "incoming" => FriendState::Incoming,
            "friends" => FriendState::Friends,
            "blocked" => FriendState::Blocked,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Friend {
    pub user_id: String,
    pub username: String,
    pub state: FriendState,
    /// When the current state began.
    pub since: String,
    /// Friends only: connected to a relay now (in `friends`; absent elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<Presence>,
}

/// Where a friend is, as the live relays tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Presence {
    pub online: bool,
    /// The region of the relay the friend is connected to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Playing this game (the token's game of the asking player) on that connection.
    #[serde(default)]
    pub same_game: bool,
    /// Seated in a room.
    #[serde(default)]
    pub in_room: bool,
}

/// `GET /api/v1/friends`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendList {
    pub friends: Vec<Friend>,
    pub incoming: Vec<Friend>,
    pub outgoing: Vec<Friend>,
    pub blocked: Vec<Friend>,
}

/// `POST /api/v1/share`: a public link to one of the player's scores or unlocked
/// achievements in the token's game.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ShareRequest {
    /// The player's entry on a board (score and rank as they are now).
    Score { leaderboard_id: String },
    /// An achievement the player has unlocked.
    Achievement { achievement_id: String },
}

/// What a share link shows: a snapshot taken when it was made. Anyone with the link may
/// read it (`GET /share/{share_id}`, JSON or an HTML page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SharedItem {
    pub share_id: String,
    /// The public page.
    pub url: String,
    /// `score` or `achievement`.
    pub kind: String,
    pub game_id: String,
    pub game_name: String,
    pub username: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaderboard_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaderboard_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub achievement_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub achievement_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub achievement_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlocked_at: Option<String>,
}

/// Most share links one player keeps per game (delete old ones to make more).
pub const MAX_SHARES_PER_PLAYER: u32 = 200;

/// A share id: 22 characters of `A-Z a-z 0-9 _ -`.
pub fn is_share_id(s: &str) -> bool {
    s.len() == 22 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
