//! Leaderboard rules: who may define boards, how a submitted score combines with the
//! stored one, and reads through the shared read-model queries.

use serde_json::Value;

use aethex_edge::readmodel::{self, Cursor};
use aethex_protocol::leaderboards::{
    check_score, parse_leaderboard_id, score_in_range, ArchivedPeriodList, CreateLeaderboardRequest, Leaderboard, LeaderboardEntry, LeaderboardList,
    LeaderboardPage, Operator, ResetSchedule, SubmitScoreRequest, SubmitScoreResponse, MAX_ABS_SCORE, MAX_ENTRY_METADATA_BYTES,
};
use aethex_protocol::saves::canonical_json;
use aethex_protocol::teams::Role;
use aethex_protocol::validate::{DisplayName, Invalid};

use super::store;
use super::LeaderboardError;
use crate::auth::caller::Player;
use crate::logic::{self, hooks::By};
use crate::replication::rows::{self, EntryRow};
use crate::state::AppState;

pub type LbResult<T> = Result<T, LeaderboardError>;

fn game_of(player: &Player) -> LbResult<&str> {
    Ok(player.game()?)
}

pub async fn create(app: &AppState, player: &Player, game_id: &str, req: CreateLeaderboardRequest) -> LbResult<Leaderboard> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Developer).await?;
    let min_score = req.min_score.map(|s| check_score(s, "min_score")).transpose()?;
    let max_score = req.max_score.map(|s| check_score(s, "max_score")).transpose()?;
    if let (Some(lo), Some(hi)) = (min_score, max_score) {
        if lo > hi {
            return Err(Invalid::new("min_score", "min_score must not be above max_score").into());
        }
    }
    let min_every = app.config.leaderboards.min_reset_every_secs.max(1);
    let reset_every_secs = match (req.reset, req.reset_every_secs) {
        (ResetSchedule::Every, Some(s)) if (min_every..=366 * 86_400).contains(&s) => Some(s),
        (ResetSchedule::Every, _) => {
            return Err(Invalid::new("reset_every_secs", format!("reset: every needs reset_every_secs from {min_every} to {}", 366 * 86_400)).into())
        }
        (_, Some(_)) => return Err(Invalid::new("reset_every_secs", "reset_every_secs goes with reset: every only").into()),
        (_, None) => None,
    };
    if req.min_submit_interval_ms > 86_400_000 {
        return Err(Invalid::new("min_submit_interval_ms", "min_submit_interval_ms must be at most 86400000 (a day)").into());
    }
    let period_start = req.reset.period_start(chrono::Utc::now().timestamp(), reset_every_secs.unwrap_or(0));
    let board = Leaderboard {
        game_id: game_id.to_string(),
        leaderboard_id: parse_leaderboard_id(&req.leaderboard_id)?,
        name: DisplayName::parse(&req.name, "name")?.into_inner(),
        sort_order: req.sort_order,
        operator: req.operator,
        reset: req.reset,
        reset_every_secs,
        min_score,
        max_score,
        min_submit_interval_ms: req.min_submit_interval_ms,
        period_start: period_start.map(store::ts_of),
    };
    let b = board.clone();
    app.db
        .write_replicated(move |c, out| async move {
            if let Err(e) = store::insert_board(&c, &b, period_start).await {
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
    Ok(LeaderboardList { leaderboards: store::boards_of_game(&*app.db.reader().await, game_id).await? })
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
            let total = s.checked_add(submitted).filter(|t| score_in_range(*t)).ok_or_else(out_of_range)?;
            Some(total)
        }
    })
}

/// The board's own score bounds.
fn check_bounds(def: &Leaderboard, score: i64) -> LbResult<()> {
    if def.min_score.is_some_and(|lo| score < lo) || def.max_score.is_some_and(|hi| score > hi) {
        let range =
            format!("{}..={}", def.min_score.map(|v| v.to_string()).unwrap_or_default(), def.max_score.map(|v| v.to_string()).unwrap_or_default());
        return Err(Invalid::new("score", format!("this board takes scores in {range}")).into());
    }
    Ok(())
}

pub async fn submit(app: &AppState, player: &Player, board_id: &str, req: SubmitScoreRequest) -> LbResult<SubmitScoreResponse> {
    let game = game_of(player)?.to_string();
    submit_for(app, &game, &player.user_id, Some(&By::Player(player.user_id.clone())), board_id, req).await
}

/// A score submitted by the game's own logic (`aethex:logic/host.submit-score`): the same
/// rules, without hooks (the logic is the server).
pub async fn submit_as_server(app: &AppState, game: &str, user: &str, board_id: &str, score: i64) -> LbResult<SubmitScoreResponse> {
    submit_for(app, game, user, None, board_id, SubmitScoreRequest { score, metadata: None }).await
}

/// Submits for `user` in `game`; `by` runs the game's score hooks (none: the server's own).
async fn submit_for(
    app: &AppState,
    game: &str,
    user: &str,
    by: Option<&By>,
    board_id: &str,
    mut req: SubmitScoreRequest,
) -> LbResult<SubmitScoreResponse> {
    let game = game.to_string();
    let board_id = parse_leaderboard_id(board_id)?;
    check_score(req.score, "score")?;
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
    let user = user.to_string();
    // Anti-abuse: the board's score bounds and minimum interval between a player's submits.
    let def = store::board(&*app.db.reader().await, &game, &board_id).await?.ok_or_else(|| LeaderboardError::NotFound(board_id.clone()))?;
    check_bounds(&def, req.score)?;
    if let Some(by) = by {
        let submit = logic::ScoreSubmit { board_id: board_id.clone(), user_id: user.clone(), score: req.score, metadata: metadata.clone() };
        if let Some(adjusted) = logic::hooks::before_score(app, &game, by, submit).await? {
            check_score(adjusted, "score")?;
            check_bounds(&def, adjusted)?;
            req.score = adjusted;
        }
    }
    let (entry, updated) = app
        .db
        .write_replicated(move |c, out| async move {
            let board = store::board(&c, &game, &board_id).await?.ok_or_else(|| LeaderboardError::NotFound(board_id.clone()))?;
            if board.min_submit_interval_ms > 0 {
                if let Some(retry_after_ms) = store::submit_gate(&c, &game, &board_id, &user, i64::from(board.min_submit_interval_ms)).await? {
                    return Err(LeaderboardError::TooOften { retry_after_ms });
                }
            }
            roll_over(&c, &out, &board).await?;
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
                updated_at: crate::clock::now(),
            };
            store::upsert_entry(&c, &e).await?;
            out.upsert(&c, rows::table("leaderboard_entries"), rows::entry(&e)).await?;
            Ok::<_, LeaderboardError>((e, true))
        })
        .await?;
    let rank = store::rank_of(&*app.db.reader().await, &entry).await?;
    metrics::counter!("aethex_leaderboard_scores_total", "updated" => updated.to_string()).increment(1);
    if let Some(by) = by {
        let event = logic::Scored { board_id: entry.leaderboard_id.clone(), user_id: entry.user_id.clone(), score: entry.score, updated };
        logic::hooks::after(app, &entry.game_id, by.clone(), logic::Event::ScoreSubmitted(event));
    }
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

/// If the board's period has ended, archives it and empties the board (its edges get one
/// change deleting the board's entries). Runs inside a write.
async fn roll_over(c: &crate::db::Connection, out: &crate::db::Outbox, def: &Leaderboard) -> LbResult<()> {
    let (game, board) = (def.game_id.as_str(), def.leaderboard_id.as_str());
    let Some(current) = def.reset.period_start(chrono::Utc::now().timestamp(), def.reset_every_secs.unwrap_or(0)) else { return Ok(()) };
    let stored = store::stored_period(c, game, board).await?.unwrap_or(current);
    if current <= stored {
        return Ok(());
    }
    let archived = store::archive_period(c, game, board, stored, current).await?;
    if archived == 0 {
        return Ok(());
    }
    let mut key = serde_json::Map::new();
    key.insert("game_id".into(), game.into());
    key.insert("leaderboard_id".into(), board.into());
    out.delete(c, rows::table("leaderboard_entries"), key).await?;
    metrics::counter!("aethex_leaderboard_resets_total").increment(1);
    tracing::info!(game, board, archived, "leaderboard period archived");
    Ok(())
}

/// Looks for boards whose period ended every `every` and archives them, so a board resets
/// on time even when nobody submits; forgets old submit times.
pub fn spawn_resetter(app: std::sync::Weak<crate::state::App>, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { return };
            let app = AppState(app);
            if let Err(e) = reset_due(&app).await {
                tracing::warn!(error = %e, "leaderboard reset check failed");
            }
            // Submit times older than the longest interval (a day) no longer matter.
            if let Err(e) = app.db.write(|c| async move { store::forget_submits(&c, 86_400_000).await }).await {
                tracing::warn!(error = %e, "forgetting old submit times failed");
            }
        }
    });
}

async fn reset_due(app: &AppState) -> LbResult<()> {
    let now = chrono::Utc::now().timestamp();
    for (game, board, schedule, every, stored) in store::resetting_boards(&*app.db.reader().await).await? {
        if schedule.period_start(now, every).is_some_and(|p| p > stored) {
            app.db
                .write_replicated(move |c, out| async move {
                    match store::board(&c, &game, &board).await? {
                        Some(def) => roll_over(&c, &out, &def).await,
                        None => Ok(()),
                    }
                })
                .await?;
        }
    }
    Ok(())
}

/// Finished periods of a board (newest first).
pub async fn periods(app: &AppState, player: &Player, board_id: &str) -> LbResult<ArchivedPeriodList> {
    let game = game_of(player)?;
    let board_id = parse_leaderboard_id(board_id)?;
    if store::board(&*app.db.reader().await, game, &board_id).await?.is_none() {
        return Err(LeaderboardError::NotFound(board_id));
    }
    let periods = store::periods(&*app.db.reader().await, game, &board_id).await?;
    Ok(ArchivedPeriodList { leaderboard_id: board_id, periods })
}

/// A page of a finished period, named by its start (RFC 3339); `cursor` is the last rank
/// of the previous page.
pub async fn archived_page(
    app: &AppState,
    player: &Player,
    board_id: &str,
    period: &str,
    limit: u32,
    cursor: Option<&str>,
) -> LbResult<LeaderboardPage> {
    let game = game_of(player)?;
    let board_id = parse_leaderboard_id(board_id)?;
    let start = chrono::DateTime::parse_from_rfc3339(period)
        .map_err(|_| Invalid::new("period", "period must be a period_start as listed (RFC 3339)"))?
        .timestamp();
    let after = match cursor {
        None => 0,
        Some(c) => c.parse::<i64>().ok().filter(|r| *r >= 0).ok_or_else(|| Invalid::new("cursor", "cursor is not one this server gave out"))?,
    };
    if !store::periods(&*app.db.reader().await, game, &board_id).await?.iter().any(|p| p.period_start == store::ts_of(start)) {
        return Err(Invalid::new("period", "no such finished period of this board").into());
    }
    let mut entries = store::archived_page(&*app.db.reader().await, game, &board_id, start, after, limit + 1).await?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let next_cursor = if more { entries.last().map(|e| e.rank.to_string()) } else { None };
    Ok(LeaderboardPage { leaderboard_id: board_id, entries, next_cursor })
}

/// The seed's `"range": "friends"`: the board among the player and their friends (ranks
/// count among them). Answered by origin (friendships are not in the edges' replica).
pub async fn friends_top(app: &AppState, player: &Player, board_id: &str, limit: u32) -> LbResult<LeaderboardPage> {
    let game = game_of(player)?;
    if crate::teams::service::is_coppa(app, game).await? {
        return Err(LeaderboardError::Coppa);
    }
    let board_id = parse_leaderboard_id(board_id)?;
    if store::board(&*app.db.reader().await, game, &board_id).await?.is_none() {
        return Err(LeaderboardError::NotFound(board_id));
    }
    let entries = store::friends_top(&*app.db.reader().await, game, &board_id, &player.user_id, limit).await?;
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
