//! SQL of friendships.

use crate::db::Connection;
use libsql::params;

use aethex_protocol::social::{Friend, FriendState};

use crate::db::DbResult;

/// My edge towards `other`.
pub async fn edge(conn: &Connection, me: &str, other: &str) -> DbResult<Option<FriendState>> {
    let rows = conn.query("SELECT state FROM friend_edges WHERE user_id = ?1 AND other_id = ?2", params![me, other]).await?;
    Ok(match crate::db::first_row(rows).await? {
        Some(r) => FriendState::parse(&r.get::<String>(0)?),
        None => None,
    })
}

pub async fn set(conn: &Connection, me: &str, other: &str, state: FriendState, now: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO friend_edges (user_id, other_id, state, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, other_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        params![me, other, state.as_str(), now],
    )
    .await?;
    Ok(())
}

pub async fn remove(conn: &Connection, me: &str, other: &str) -> DbResult<()> {
    conn.execute("DELETE FROM friend_edges WHERE user_id = ?1 AND other_id = ?2", params![me, other]).await?;
    Ok(())
}

/// Friends plus outgoing requests (what [`aethex_protocol::social::MAX_FRIENDS`] bounds).
pub async fn count_open(conn: &Connection, me: &str) -> DbResult<u32> {
    let rows = conn.query("SELECT COUNT(*) FROM friend_edges WHERE user_id = ?1 AND state IN ('friends', 'outgoing')", params![me]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0) as u32)
}

pub async fn list(conn: &Connection, me: &str) -> DbResult<Vec<Friend>> {
    let mut rows = conn
        .query(
            "SELECT f.other_id, u.username, f.state, f.updated_at FROM friend_edges f JOIN users u ON u.id = f.other_id
             WHERE f.user_id = ?1 ORDER BY u.username COLLATE NOCASE, f.other_id",
            params![me],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        let Some(state) = FriendState::parse(&r.get::<String>(2)?) else { continue };
        out.push(Friend { user_id: r.get(0)?, username: r.get(1)?, state, since: r.get(3)?, presence: None });
    }
    Ok(out)
}

/// The user id of a username (case-insensitive), or of an id that exists.
pub async fn find_user(conn: &Connection, user_id: Option<&str>, username: Option<&str>) -> DbResult<Option<String>> {
    let rows = match (user_id, username) {
        (Some(id), _) => conn.query("SELECT id FROM users WHERE id = ?1", params![id]).await?,
        (None, Some(name)) => conn.query("SELECT id FROM users WHERE username = ?1 COLLATE NOCASE", params![name]).await?,
        (None, None) => return Ok(None),
    };
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<String>(0)).transpose()?)
}
