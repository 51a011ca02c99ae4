//! SQL for leaderboard definitions and entries (the entries' columns are the read model's).

use libsql::{params, Connection};

use aethex_protocol::leaderboards::{Leaderboard, Operator, SortOrder};

use crate::db::{opt_text, DbError, DbResult};
use crate::replication::rows::EntryRow;

fn board_from_row(r: &libsql::Row) -> DbResult<Leaderboard> {
    let sort: String = r.get(3)?;
    let op: String = r.get(4)?;
    Ok(Leaderboard {
        game_id: r.get(0)?,
        leaderboard_id: r.get(1)?,
        name: r.get(2)?,
        sort_order: SortOrder::parse(&sort).ok_or_else(|| DbError::Corrupt(format!("sort order {sort}")))?,
        operator: Operator::parse(&op).ok_or_else(|| DbError::Corrupt(format!("operator {op}")))?,
    })
}

pub async fn insert_board(conn: &Connection, b: &Leaderboard) -> Result<(), libsql::Error> {
    conn.execute(
        "INSERT INTO leaderboards (game_id, leaderboard_id, name, sort_order, operator, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![b.game_id.clone(), b.leaderboard_id.clone(), b.name.clone(), b.sort_order.as_str(), b.operator.as_str(), crate::db::now()],
    )
    .await?;
    Ok(())
}

pub async fn board(conn: &Connection, game: &str, id: &str) -> DbResult<Option<Leaderboard>> {
    let mut rows = conn
        .query(
            "SELECT game_id, leaderboard_id, name, sort_order, operator FROM leaderboards WHERE game_id = ?1 AND leaderboard_id = ?2",
            params![game, id],
        )
        .await?;
    rows.next().await?.map(|r| board_from_row(&r)).transpose()
}

pub async fn boards_of_game(conn: &Connection, game: &str) -> DbResult<Vec<Leaderboard>> {
    let mut rows = conn
        .query(
            "SELECT game_id, leaderboard_id, name, sort_order, operator FROM leaderboards WHERE game_id = ?1 ORDER BY leaderboard_id",
            params![game],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(board_from_row(&r)?);
    }
    Ok(out)
}

pub async fn entry(conn: &Connection, game: &str, board: &str, user: &str) -> DbResult<Option<EntryRow>> {
    let mut rows = conn
        .query(
            "SELECT game_id, leaderboard_id, user_id, username, score, rank_score, metadata, updated_at FROM leaderboard_entries
             WHERE game_id = ?1 AND leaderboard_id = ?2 AND user_id = ?3",
            params![game, board, user],
        )
        .await?;
    let Some(r) = rows.next().await? else { return Ok(None) };
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
    let mut rows = conn.query("SELECT username FROM users WHERE id = ?1", params![user]).await?;
    Ok(rows.next().await?.map(|r| r.get::<String>(0)).transpose()?)
}

/// 1-based rank of an entry (entries ahead of it, plus one).
pub async fn rank_of(conn: &Connection, e: &EntryRow) -> DbResult<i64> {
    let mut rows = conn
        .query(
            &format!("SELECT {}", aethex_protocol::replica::entries_ahead_sql("?3", "?4", "?5")),
            params![e.game_id.clone(), e.leaderboard_id.clone(), e.rank_score, e.updated_at.clone(), e.user_id.clone()],
        )
        .await?;
    Ok(rows.next().await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0) + 1)
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
        out.push(aethex_protocol::leaderboards::LeaderboardEntry {
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
