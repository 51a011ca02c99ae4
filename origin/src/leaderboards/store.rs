//! SQL for leaderboard definitions and entries (the entries' columns are the read model's).

use crate::db::Connection;
use libsql::params;

use aethex_protocol::leaderboards::{ArchivedPeriod, Leaderboard, LeaderboardEntry, Operator, ResetSchedule, SortOrder};

use crate::db::{opt_text, DbError, DbResult};
use crate::replication::rows::EntryRow;

const BOARD_COLS: &str =
    "game_id, leaderboard_id, name, sort_order, operator, reset, reset_every_secs, min_score, max_score, min_submit_interval_ms, period_start";

/// RFC 3339 of Unix seconds.
pub fn ts_of(secs: i64) -> String {
    crate::clock::ts_ms(secs.saturating_mul(1000))
}

fn board_from_row(r: &crate::db::Row) -> DbResult<Leaderboard> {
    let sort: String = r.get(3)?;
    let op: String = r.get(4)?;
    let reset: String = r.get(5)?;
    Ok(Leaderboard {
        game_id: r.get(0)?,
        leaderboard_id: r.get(1)?,
        name: r.get(2)?,
        sort_order: SortOrder::parse(&sort).ok_or_else(|| DbError::Corrupt(format!("sort order {sort}")))?,
        operator: Operator::parse(&op).ok_or_else(|| DbError::Corrupt(format!("operator {op}")))?,
        reset: ResetSchedule::parse(&reset).ok_or_else(|| DbError::Corrupt(format!("reset {reset}")))?,
        reset_every_secs: r.get(6)?,
        min_score: r.get(7)?,
        max_score: r.get(8)?,
        min_submit_interval_ms: r.get::<i64>(9)?.clamp(0, i64::from(u32::MAX)) as u32,
        period_start: r.get::<Option<i64>>(10)?.map(ts_of),
    })
}

/// The current period's start of a stored board (Unix seconds), as stored.
pub async fn stored_period(conn: &Connection, game: &str, id: &str) -> DbResult<Option<i64>> {
    let rows = conn.query("SELECT period_start FROM leaderboards WHERE game_id = ?1 AND leaderboard_id = ?2", params![game, id]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<Option<i64>>(0)).transpose()?.flatten())
}

pub async fn insert_board(conn: &Connection, b: &Leaderboard, period_start: Option<i64>) -> Result<(), libsql::Error> {
    conn.execute(
        "INSERT INTO leaderboards (game_id, leaderboard_id, name, sort_order, operator, created_at, reset, reset_every_secs, min_score, max_score,
           min_submit_interval_ms, period_start) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            b.game_id.clone(),
            b.leaderboard_id.clone(),
            b.name.clone(),
            b.sort_order.as_str(),
            b.operator.as_str(),
            crate::clock::now(),
            b.reset.as_str(),
            b.reset_every_secs,
            b.min_score,
            b.max_score,
            i64::from(b.min_submit_interval_ms),
            period_start
        ],
    )
    .await?;
    Ok(())
}

/// Boards that reset: (game, board, schedule, every, stored period start).
pub async fn resetting_boards(conn: &Connection) -> DbResult<Vec<(String, String, ResetSchedule, i64, i64)>> {
    let mut rows = conn
        .query("SELECT game_id, leaderboard_id, reset, COALESCE(reset_every_secs, 0), period_start FROM leaderboards WHERE reset != 'never'", ())
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        let reset: String = r.get(2)?;
        let Some(schedule) = ResetSchedule::parse(&reset) else { continue };
        out.push((r.get(0)?, r.get(1)?, schedule, r.get(3)?, r.get::<Option<i64>>(4)?.unwrap_or(0)));
    }
    Ok(out)
}

/// Archives the board's entries as the period `[start, end)` (ranked), empties the board
/// and moves it to the period starting at `end`. Returns the entries archived. A period
/// without entries is not recorded.
pub async fn archive_period(conn: &Connection, game: &str, board: &str, start: i64, end: i64) -> DbResult<u64> {
    let rows =
        conn.query("SELECT EXISTS (SELECT 1 FROM leaderboard_entries WHERE game_id = ?1 AND leaderboard_id = ?2)", params![game, board]).await?;
    let any = crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0) != 0;
    if !any {
        conn.execute("UPDATE leaderboards SET period_start = ?3 WHERE game_id = ?1 AND leaderboard_id = ?2", params![game, board, end]).await?;
        return Ok(0);
    }
    conn.execute(
        "INSERT INTO leaderboard_periods (game_id, leaderboard_id, period_start, period_end, entries, archived_at)
         SELECT ?1, ?2, ?3, ?4, COUNT(*), ?5 FROM leaderboard_entries WHERE game_id = ?1 AND leaderboard_id = ?2
         ON CONFLICT (game_id, leaderboard_id, period_start) DO NOTHING",
        params![game, board, start, end, crate::clock::now()],
    )
    .await?;
    let n = conn
        .execute(
            "INSERT OR IGNORE INTO leaderboard_archive (game_id, leaderboard_id, period_start, rank, user_id, username, score, metadata, updated_at)
             SELECT game_id, leaderboard_id, ?3, ROW_NUMBER() OVER (ORDER BY rank_score, updated_at, user_id), user_id, username, score, metadata, updated_at
             FROM leaderboard_entries WHERE game_id = ?1 AND leaderboard_id = ?2",
            params![game, board, start],
        )
        .await?;
    conn.execute("DELETE FROM leaderboard_entries WHERE game_id = ?1 AND leaderboard_id = ?2", params![game, board]).await?;
    conn.execute("UPDATE leaderboards SET period_start = ?3 WHERE game_id = ?1 AND leaderboard_id = ?2", params![game, board, end]).await?;
    Ok(n)
}

pub async fn periods(conn: &Connection, game: &str, board: &str) -> DbResult<Vec<ArchivedPeriod>> {
    let mut rows = conn
        .query(
            "SELECT period_start, period_end, entries FROM leaderboard_periods WHERE game_id = ?1 AND leaderboard_id = ?2 ORDER BY period_start DESC",
            params![game, board],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(ArchivedPeriod { period_start: ts_of(r.get(0)?), period_end: ts_of(r.get(1)?), entries: r.get::<i64>(2)? as u64 });
    }
    Ok(out)
}

/// A page of an archived period: ranks `after + 1 ..= after + limit`.
pub async fn archived_page(conn: &Connection, game: &str, board: &str, start: i64, after: i64, limit: u32) -> DbResult<Vec<LeaderboardEntry>> {
    let mut rows = conn
        .query(
            "SELECT rank, user_id, username, score, metadata, updated_at FROM leaderboard_archive
             WHERE game_id = ?1 AND leaderboard_id = ?2 AND period_start = ?3 AND rank > ?4 ORDER BY rank LIMIT ?5",
            params![game, board, start, after, i64::from(limit)],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(LeaderboardEntry {
            rank: r.get(0)?,
            user_id: r.get(1)?,
            username: r.get(2)?,
            score: r.get(3)?,
            metadata: r.get::<Option<String>>(4)?.and_then(|m| serde_json::from_str(&m).ok()),
            updated_at: r.get(5)?,
        });
    }
    Ok(out)
}

pub async fn board(conn: &Connection, game: &str, id: &str) -> DbResult<Option<Leaderboard>> {
    let rows = conn.query(&format!("SELECT {BOARD_COLS} FROM leaderboards WHERE game_id = ?1 AND leaderboard_id = ?2"), params![game, id]).await?;
    crate::db::first_row(rows).await?.map(|r| board_from_row(&r)).transpose()
}

pub async fn boards_of_game(conn: &Connection, game: &str) -> DbResult<Vec<Leaderboard>> {
    let mut rows = conn.query(&format!("SELECT {BOARD_COLS} FROM leaderboards WHERE game_id = ?1 ORDER BY leaderboard_id"), params![game]).await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(board_from_row(&r)?);
    }
    Ok(out)
}

pub async fn entry(conn: &Connection, game: &str, board: &str, user: &str) -> DbResult<Option<EntryRow>> {
    let rows = conn
        .query(
            "SELECT game_id, leaderboard_id, user_id, username, score, rank_score, metadata, updated_at FROM leaderboard_entries
             WHERE game_id = ?1 AND leaderboard_id = ?2 AND user_id = ?3",
            params![game, board, user],
        )
        .await?;
    let Some(r) = crate::db::first_row(rows).await? else { return Ok(None) };
    Ok(Some(EntryRow {
        game_id: r.get(0)?,
        leaderboard_id: r.get(1)?,
        user_id: r.get(2)?,
        username: r.get(3)?,
        score: r.get(4)?,
        rank_score: r.get(5)?,
        metadata: opt_text(&r, 6)?,
        updated_at: r.get(7)?,
    }))
}

pub async fn upsert_entry(conn: &Connection, e: &EntryRow) -> DbResult<()> {
    conn.execute(
        "INSERT INTO leaderboard_entries (game_id, leaderboard_id, user_id, username, score, rank_score, metadata, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (game_id, leaderboard_id, user_id) DO UPDATE SET username = excluded.username, score = excluded.score,
           rank_score = excluded.rank_score, metadata = excluded.metadata, updated_at = excluded.updated_at",
        params![
            e.game_id.clone(),
            e.leaderboard_id.clone(),
            e.user_id.clone(),
            e.username.clone(),
            e.score,
            e.rank_score,
            crate::db::nullable(e.metadata.as_deref()),
            e.updated_at.clone()
        ],
    )
    .await?;
    Ok(())
}

pub async fn username(conn: &Connection, user: &str) -> DbResult<Option<String>> {
    let rows = conn.query("SELECT username FROM users WHERE id = ?1", params![user]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<String>(0)).transpose()?)
}

/// 1-based rank of an entry (entries ahead of it, plus one).
pub async fn rank_of(conn: &Connection, e: &EntryRow) -> DbResult<i64> {
    let rows = conn
        .query(
            &format!("SELECT {}", aethex_protocol::replica::entries_ahead_sql("?3", "?4", "?5")),
            params![e.game_id.clone(), e.leaderboard_id.clone(), e.rank_score, e.updated_at.clone(), e.user_id.clone()],
        )
        .await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0) + 1)
}

/// The top `limit` entries of the board among `me` and my friends, ranked among them.
pub async fn friends_top(
    conn: &Connection,
    game: &str,
    board: &str,
    me: &str,
    limit: u32,
) -> DbResult<Vec<aethex_protocol::leaderboards::LeaderboardEntry>> {
    let mut rows = conn
        .query(
            "SELECT e.user_id, e.username, e.score, e.metadata, e.updated_at FROM leaderboard_entries e
             WHERE e.game_id = ?1 AND e.leaderboard_id = ?2
             AND (e.user_id = ?3 OR e.user_id IN (SELECT other_id FROM friend_edges WHERE user_id = ?3 AND state = 'friends'))
             ORDER BY e.rank_score, e.updated_at, e.user_id LIMIT ?4",
            params![game, board, me, i64::from(limit)],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(LeaderboardEntry {
            rank: out.len() as i64 + 1,
            user_id: r.get(0)?,
            username: r.get(1)?,
            score: r.get(2)?,
            metadata: r.get::<Option<String>>(3)?.and_then(|m| serde_json::from_str(&m).ok()),
            updated_at: r.get(4)?,
        });
    }
    Ok(out)
}

/// The minimum interval between a player's submits to a board, on the database's clock:
/// `Some(ms to wait)` when the last submit was less than `every_ms` ago, else records this
/// one and answers `None`. Runs inside the score's write, so the interval holds whichever
/// origin a submit reaches.
pub async fn submit_gate(c: &Connection, game: &str, board: &str, user: &str, every_ms: i64) -> DbResult<Option<u64>> {
    let rows = c
        .query(
            "SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER),
                    (SELECT last_ms FROM score_submits WHERE game_id = ?1 AND leaderboard_id = ?2 AND user_id = ?3)",
            params![game, board, user],
        )
        .await?;
    let Some(row) = crate::db::first_row(rows).await? else { return Err(DbError::Corrupt("no row".into())) };
    let now: i64 = row.get(0)?;
    let last: Option<i64> = row.get(1)?;
    if let Some(since) = last.map(|l| now.saturating_sub(l)) {
        if (0..every_ms).contains(&since) {
            return Ok(Some((every_ms - since) as u64));
        }
    }
    c.execute(
        "INSERT INTO score_submits (game_id, leaderboard_id, user_id, last_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (game_id, leaderboard_id, user_id) DO UPDATE SET last_ms = excluded.last_ms",
        params![game, board, user, now],
    )
    .await?;
    Ok(None)
}

/// Forgets submit times older than `older_than_ms` (no board waits longer than a day).
pub async fn forget_submits(c: &Connection, older_than_ms: i64) -> DbResult<u64> {
    Ok(c.execute("DELETE FROM score_submits WHERE last_ms < CAST(unixepoch('subsec') * 1000 AS INTEGER) - ?1", params![older_than_ms]).await?)
}
