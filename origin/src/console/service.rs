//! Rules of the console's developer routes.

use aethex_protocol::multiplayer::RoomSummary;
use aethex_protocol::teams::Role;
use aethex_protocol::validate::{parse_limit, Invalid};
use serde_json::{json, Value};

use super::store;
use crate::auth::caller::Player;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::teams::service::require_game_role;

/// The game's players (accounts that signed in with its client key), newest activity
/// first, optionally matching `q` (part of a username or email, or a user id).
pub async fn players(app: &AppState, admin: &Player, game: &str, q: Option<&str>, limit: Option<&str>) -> ApiResult<Value> {
    require_game_role(app, admin, game, Role::Developer).await?;
    let limit = i64::from(parse_limit(limit, 50, 200)?);
    let q = q.map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.len() > 100) {
        return Err(Invalid::new("q", "q is at most 100 characters").into());
    }
    let pattern = q.map(|q| format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
    let out = store::players(&*app.db.reader().await, game, pattern.as_deref(), q.unwrap_or(""), limit).await?;
    Ok(json!({ "players": out }))
}

async fn player_of_game(app: &AppState, game: &str, user: &str) -> ApiResult<()> {
    if !crate::teams::store::is_player_of_game(&*app.db.reader().await, game, user).await? {
        return Err(ApiError::not_found("user_id", "no such player in this game"));
    }
    Ok(())
}

/// Bans a player from the game: no new access token for it (logins and refreshes are
/// refused), and the player's sessions of the game are revoked. Admin+.
pub async fn ban(app: &AppState, admin: &Player, game: &str, user: &str, reason: &str) -> ApiResult<Value> {
    require_game_role(app, admin, game, Role::Admin).await?;
    player_of_game(app, game, user).await?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Invalid::new("reason", "reason must be 1 to 500 characters").into());
    }
    let (g, u, r, by, now) = (game.to_string(), user.to_string(), reason.to_string(), admin.user_id.clone(), crate::clock::now());
    app.db.write(move |c| async move { store::ban(&c, &g, &u, &r, &by, &now).await }).await?;
    Ok(json!({ "user_id": user, "banned": true, "reason": reason }))
}

pub async fn unban(app: &AppState, admin: &Player, game: &str, user: &str) -> ApiResult<()> {
    require_game_role(app, admin, game, Role::Admin).await?;
    player_of_game(app, game, user).await?;
    let (g, u) = (game.to_string(), user.to_string());
    let n = app.db.write(move |c| async move { store::unban(&c, &g, &u).await }).await?;
    if n == 0 {
        return Err(ApiError::not_found("user_id", "this player is not banned"));
    }
    Ok(())
}

/// A player's saves in the game (developer+): the newest version of each slot.
pub async fn player_saves(app: &AppState, admin: &Player, game: &str, user: &str) -> ApiResult<Value> {
    let g = require_game_role(app, admin, game, Role::Developer).await?;
    player_of_game(app, game, user).await?;
    let actor = crate::saves::service::SaveActor {
        user_id: user.to_string(),
        game_id: game.to_string(),
        quota_bytes: crate::replication::rows::quota_bytes(&app.config.saves, g.tier),
        by: None,
    };
    let list = crate::saves::service::list(app, &actor).await?;
    Ok(serde_json::to_value(list).unwrap_or(Value::Null))
}

/// Live rooms of the game on every live relay (viewer+). A relay that does not answer
/// is listed under `unreachable`.
pub async fn rooms(app: &AppState, admin: &Player, game: &str) -> ApiResult<Value> {
    require_game_role(app, admin, game, Role::Viewer).await?;
    let answers = crate::regions::service::ask_relays::<Vec<RoomSummary>>(app, "/v1/rooms", None).await?;
    let (mut regions, mut rooms, mut unreachable) = (Vec::new(), Vec::new(), Vec::new());
    for (region, answer) in answers {
        match answer {
            Some(list) => rooms.extend(list.into_iter().filter(|r| r.game_id == game).map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                v["region"] = json!(region.name);
                v
            })),
            None => unreachable.push(region.name.clone()),
        }
        // One entry per relay: a region with several is listed once.
        if !regions.iter().any(|r: &aethex_protocol::regions::Region| r.name == region.name) {
            regions.push(region);
        }
    }
    Ok(json!({ "regions": regions, "rooms": rooms, "unreachable": unreachable }))
}

/// The game's A/B tests (viewer+).
pub async fn experiments(app: &AppState, admin: &Player, game: &str) -> ApiResult<Value> {
    require_game_role(app, admin, game, Role::Viewer).await?;
    Ok(json!({ "experiments": store::experiments(&*app.db.reader().await, game).await? }))
}

/// The audit log of the game and its organization, newest first (admin+).
pub async fn audit(app: &AppState, admin: &Player, game: &str, limit: Option<&str>, before: Option<&str>) -> ApiResult<Value> {
    let g = require_game_role(app, admin, game, Role::Admin).await?;
    let limit = i64::from(parse_limit(limit, 100, 500)?);
    let before = before.map(|b| b.parse::<i64>().map_err(|_| Invalid::new("before", "before must be an entry id"))).transpose()?.unwrap_or(i64::MAX);
    Ok(json!({ "entries": store::audit(&*app.db.reader().await, game, &g.org_id, before, limit).await? }))
}

/// A board's entries from the top (viewer+), as players see them.
pub async fn board_entries(app: &AppState, admin: &Player, game: &str, board: &str, limit: Option<&str>, cursor: Option<&str>) -> ApiResult<Value> {
    require_game_role(app, admin, game, Role::Viewer).await?;
    let board = aethex_protocol::leaderboards::parse_leaderboard_id(board)?;
    let limit = parse_limit(limit, 50, 100)?;
    let cursor = cursor.map(aethex_edge::readmodel::Cursor::decode).transpose()?;
    let page = aethex_edge::readmodel::leaderboard_top(&app.read_model, game, &board, limit, cursor.as_ref())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("leaderboard_id", format!("no leaderboard {board:?} in this game")))?;
    Ok(serde_json::to_value(page).unwrap_or(Value::Null))
}
