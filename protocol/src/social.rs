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
