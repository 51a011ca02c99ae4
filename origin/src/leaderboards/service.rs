//! Leaderboard rules: who may define boards, how a submitted score combines with the
//! stored one, and reads through the shared read-model queries.

use serde_json::Value;

use aethex_edge::readmodel::{self, Cursor};
use aethex_protocol::leaderboards::{
    parse_leaderboard_id, CreateLeaderboardRequest, Leaderboard, LeaderboardEntry, LeaderboardList, LeaderboardPage, Operator, SubmitScoreRequest,
    SubmitScoreResponse, MAX_ABS_SCORE, MAX_ENTRY_METADATA_BYTES,
};
use aethex_protocol::saves::canonical_json;
use aethex_protocol::teams::Role;
use aethex_protocol::validate::{DisplayName, Invalid};

use super::store;
use super::LeaderboardError;
use crate::http::extract::Player;
use crate::replication::rows::{self, EntryRow};
use crate::state::AppState;

pub type LbResult<T> = Result<T, LeaderboardError>;

fn game_of(player: &Player) -> LbResult<&str> {
    player.game_id.as_deref().ok_or(LeaderboardError::NoGame)
}

pub async fn create(app: &AppState, player: &Player, game_id: &str, req: CreateLeaderboardRequest) -> LbResult<Leaderboard> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Developer).await?;
    let board = Leaderboard {
        game_id: game_id.to_string(),
        leaderboard_id: parse_leaderboard_id(&req.leaderboard_id)?,
        name: DisplayName::parse(&req.name, "name")?.into_inner(),
        sort_order: req.sort_order,
        operator: req.operator,
    };
    let b = board.clone();
    app.db
        .write_replicated(move |c, out| async move {
            if let Err(e) = store::insert_board(&c, &b).await {
                return Err(if crate::db::is_unique_violation(&e) { LeaderboardError::Exists(b.leaderboard_id.clone()) } else { e.into() });
            }
            let row = rows::leaderboard(&b.game_id, &b.leaderboard_id, &b.name, b.sort_order.as_str(), b.operator.as_str());
            out.upsert(&c, rows::table("leaderboards"), row).await?;
            Ok(())
        })
        .await?;
    Ok(board)
}

pub async fn list(app: &AppState, player: &Player, game_id: &str) -> LbResult<LeaderboardList> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Viewer).await?;
    Ok(LeaderboardList { leaderboards: store::boards_of_game(app.db.reader(), game_id).await? })
}

/// The score after combining `submitted` with what is stored; `None` when the stored
/// entry stays as it is.
fn combine(op: Operator, better: impl Fn(i64, i64) -> bool, stored: Option<i64>, submitted: i64) -> LbResult<Option<i64>> {
    let out_of_range = || Invalid::new("score", format!("the resulting score must stay within ±{MAX_ABS_SCORE}"));
    Ok(match (op, stored) {
        (Operator::Increment, _) if submitted <= 0 => return Err(Invalid::new("score", "an increment board takes positive scores").into()),
        (_, None) => Some(submitted),
        (Operator::Best, Some(s)) => better(submitted, s).then_some(submitted),
        (Operator::Latest, Some(_)) => Some(submitted),
        (Operator::Sum | Operator::Increment, Some(s)) => {
            let total = s.checked_add(submitted).filter(|t| t.abs() <= MAX_ABS_SCORE).ok_or_else(out_of_range)?;
            Some(total)
        }
    })
}

pub async fn submit(app: &AppState, player: &Player, board_id: &str, req: SubmitScoreRequest) -> LbResult<SubmitScoreResponse> {
    let game = game_of(player)?.to_string();
    let board_id = parse_leaderboard_id(board_id)?;
    if req.score.abs() > MAX_ABS_SCORE {
        return Err(Invalid::new("score", format!("score must be within ±{MAX_ABS_SCORE}")).into());
    }
    let metadata = match &req.metadata {
        None | Some(Value::Null) => None,
        Some(m @ Value::Object(_)) => {
            let text = String::from_utf8(canonical_json(m)).unwrap_or_default();
            if text.len() > MAX_ENTRY_METADATA_BYTES {
                return Err(Invalid::new("metadata", format!("metadata must be at most {MAX_ENTRY_METADATA_BYTES} bytes")).into());
            }
            Some(text)
        }
        Some(_) => return Err(Invalid::new("metadata", "metadata must be a JSON object").into()),
    };
    let user = player.user_id.clone();
    let (entry, updated) = app
        .db
        .write_replicated(move |c, out| async move {
            let board = store::board(&c, &game, &board_id).await?.ok_or_else(|| LeaderboardError::NotFound(board_id.clone()))?;
            let stored = store::entry(&c, &game, &board_id, &user).await?;
            let order = board.sort_order;
            let better = move |a: i64, b: i64| order.rank_score(a) < order.rank_score(b);
            let Some(score) = combine(board.operator, better, stored.as_ref().map(|e| e.score), req.score)? else {
                let e = stored.ok_or_else(|| LeaderboardError::NotFound(board_id.clone()))?;
                return Ok((e, false));
            };
            let username = store::username(&c, &user).await?.unwrap_or_default();
            let e = EntryRow {
                game_id: game.clone(),
                leaderboard_id: board_id.clone(),
                user_id: user.clone(),
                username,
                score,
                rank_score: order.rank_score(score),
                metadata,
                updated_at: crate::db::now(),
            };
            store::upsert_entry(&c, &e).await?;
            out.upsert(&c, rows::table("leaderboard_entries"), rows::entry(&e)).await?;
            Ok::<_, LeaderboardError>((e, true))
        })
        .await?;
    let rank = store::rank_of(app.db.reader(), &entry).await?;
    metrics::counter!("aethex_leaderboard_scores_total", "updated" => updated.to_string()).increment(1);
    Ok(SubmitScoreResponse {
        entry: LeaderboardEntry {
            rank,
            user_id: entry.user_id,
            username: entry.username,
            score: entry.score,
            metadata: entry.metadata.and_then(|m| serde_json::from_str(&m).ok()),
            updated_at: entry.updated_at,
        },
        updated,
    })
}

pub async fn top(app: &AppState, player: &Player, board_id: &str, limit: u32, cursor: Option<&str>) -> LbResult<LeaderboardPage> {
    let game = game_of(player)?;
    let board_id = parse_leaderboard_id(board_id)?;
    let cursor = cursor.map(Cursor::decode).transpose()?;
    readmodel::leaderboard_top(&app.read_model, game, &board_id, limit, cursor.as_ref()).await?.ok_or(LeaderboardError::NotFound(board_id))
}

/// The seed's `"range": "friends"`: the board among the player and their friends (ranks
/// count among them). Answered by origin (friendships are not in the edges' replica).
pub async fn friends_top(app: &AppState, player: &Player, board_id: &str, limit: u32) -> LbResult<LeaderboardPage> {
    let game = game_of(player)?;
    let board_id = parse_leaderboard_id(board_id)?;
    if store::board(app.db.reader(), game, &board_id).await?.is_none() {
        return Err(LeaderboardError::NotFound(board_id));
    }
    let entries = store::friends_top(app.db.reader(), game, &board_id, &player.user_id, limit).await?;
    Ok(LeaderboardPage { leaderboard_id: board_id, entries, next_cursor: None })
}

pub async fn around_me(app: &AppState, player: &Player, board_id: &str, limit: u32) -> LbResult<LeaderboardPage> {
    let game = game_of(player)?;
    let board_id = parse_leaderboard_id(board_id)?;
    readmodel::leaderboard_around(&app.read_model, game, &board_id, &player.user_id, limit).await?.ok_or(LeaderboardError::NotFound(board_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_combine_scores() {
        let higher = |a: i64, b: i64| a > b;
        assert_eq!(combine(Operator::Best, higher, Some(10), 5).unwrap(), None);
        assert_eq!(combine(Operator::Best, higher, Some(10), 15).unwrap(), Some(15));
        assert_eq!(combine(Operator::Best, |a, b| a < b, Some(10), 5).unwrap(), Some(5));
        assert_eq!(combine(Operator::Latest, higher, Some(10), 5).unwrap(), Some(5));
        assert_eq!(combine(Operator::Sum, higher, Some(10), -15).unwrap(), Some(-5));
        assert_eq!(combine(Operator::Increment, higher, None, 3).unwrap(), Some(3));
        assert!(combine(Operator::Increment, higher, Some(1), 0).is_err());
        assert!(combine(Operator::Sum, higher, Some(MAX_ABS_SCORE), 1).is_err());
    }
}
