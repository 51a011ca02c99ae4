//! SQL for organizations, members, games and keys.

use crate::db::Connection;
use libsql::params;

use aethex_protocol::teams::{Game, Member, Org, Role, ServerKeyInfo, Tier};

use crate::db::{opt_text, DbError, DbResult};

#[derive(Debug, Clone)]
pub struct GameRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub tier: Tier,
    /// A game for children (COPPA): analytics and social features are off.
    pub coppa: bool,
    pub client_key: String,
    pub created_at: String,
}

impl From<GameRow> for Game {
    fn from(g: GameRow) -> Self {
        Game { game_id: g.id, org_id: g.org_id, name: g.name, tier: g.tier, coppa: g.coppa, client_key: g.client_key, created_at: g.created_at }
    }
}

const GAME_COLS: &str = "id, org_id, name, tier, client_key, created_at, coppa";

fn game_from_row(row: &crate::db::Row) -> DbResult<GameRow> {
    let tier: String = row.get(3)?;
    Ok(GameRow {
        id: row.get(0)?,
        org_id: row.get(1)?,
        name: row.get(2)?,
        tier: Tier::parse(&tier).ok_or_else(|| DbError::Corrupt(format!("game tier {tier}")))?,
        client_key: row.get(4)?,
        created_at: row.get(5)?,
        coppa: row.get::<i64>(6)? != 0,
    })
}

async fn one_game(conn: &Connection, where_sql: &str, key: &str) -> DbResult<Option<GameRow>> {
    let rows = conn.query(&format!("SELECT {GAME_COLS} FROM games WHERE {where_sql}"), params![key]).await?;
    match crate::db::first_row(rows).await? {
        Some(row) => Ok(Some(game_from_row(&row)?)),
        None => Ok(None),
    }
}

pub async fn game_by_client_key(conn: &Connection, key: &str) -> DbResult<Option<GameRow>> {
    one_game(conn, "client_key = ?1", key).await
}

pub async fn game_by_id(conn: &Connection, id: &str) -> DbResult<Option<GameRow>> {
    one_game(conn, "id = ?1", id).await
}

pub async fn games_of_org(conn: &Connection, org_id: &str) -> DbResult<Vec<GameRow>> {
    let mut rows = conn.query(&format!("SELECT {GAME_COLS} FROM games WHERE org_id = ?1 ORDER BY created_at"), params![org_id]).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(game_from_row(&row)?);
    }
    Ok(out)
}

pub async fn insert_game(conn: &Connection, g: &GameRow) -> Result<(), libsql::Error> {
    conn.execute(
        "INSERT INTO games (id, org_id, name, tier, client_key, created_at, coppa) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![g.id.clone(), g.org_id.clone(), g.name.clone(), g.tier.as_str(), g.client_key.clone(), g.created_at.clone(), g.coppa as i64],
    )
    .await?;
    Ok(())
}

pub async fn update_game(conn: &Connection, id: &str, name: Option<&str>, tier: Option<Tier>, client_key: Option<&str>) -> DbResult<()> {
    if let Some(n) = name {
        conn.execute("UPDATE games SET name = ?2 WHERE id = ?1", params![id, n]).await?;
    }
    if let Some(t) = tier {
        conn.execute("UPDATE games SET tier = ?2 WHERE id = ?1", params![id, t.as_str()]).await?;
    }
    if let Some(k) = client_key {
        conn.execute("UPDATE games SET client_key = ?2 WHERE id = ?1", params![id, k]).await?;
    }
    Ok(())
}

pub async fn insert_org(conn: &Connection, id: &str, name: &str, owner: &str, now: &str) -> DbResult<()> {
    conn.execute("INSERT INTO organizations (id, name, created_by, created_at) VALUES (?1, ?2, ?3, ?4)", params![id, name, owner, now]).await?;
    set_member(conn, id, owner, Role::Owner, now).await
}

pub async fn set_member(conn: &Connection, org_id: &str, user_id: &str, role: Role, now: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO org_members (org_id, user_id, role, added_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
        params![org_id, user_id, role.as_str(), now],
    )
    .await?;
    Ok(())
}

pub async fn remove_member(conn: &Connection, org_id: &str, user_id: &str) -> DbResult<u64> {
    Ok(conn.execute("DELETE FROM org_members WHERE org_id = ?1 AND user_id = ?2", params![org_id, user_id]).await?)
}

/// The user's role in the org, if a member.
pub async fn role_in_org(conn: &Connection, org_id: &str, user_id: &str) -> DbResult<Option<Role>> {
    let rows = conn.query("SELECT role FROM org_members WHERE org_id = ?1 AND user_id = ?2", params![org_id, user_id]).await?;
    match crate::db::first_row(rows).await? {
        Some(row) => {
            let r: String = row.get(0)?;
            Ok(Some(Role::parse(&r).ok_or_else(|| DbError::Corrupt(format!("role {r}")))?))
        }
        None => Ok(None),
    }
}

/// Tables where a player's rows of one game live (`user_id`, `game_id`): a player of a
/// game is an account that signed in to it or has any of these rows (a game server may
/// have written them with its key).
const PLAYER_ROWS_OF_GAME: &[&str] = &[
    "sessions",
    "cloud_saves",
    "leaderboard_entries",
    "leaderboard_archive",
    "player_achievements",
    "player_stats",
    "entitlements",
    "analytics_consent",
    "share_links",
];

/// Whether `user` is a player of `game`. Every console and privacy route that takes a
/// player id checks this first, so a studio reaches only its own players.
pub async fn is_player_of_game(conn: &Connection, game_id: &str, user_id: &str) -> DbResult<bool> {
    let sql = PLAYER_ROWS_OF_GAME
        .iter()
        .map(|t| format!("EXISTS (SELECT 1 FROM {t} WHERE game_id = ?1 AND user_id = ?2)"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let rows = conn.query(&format!("SELECT {sql}"), params![game_id, user_id]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0) != 0)
}

pub async fn count_owners(conn: &Connection, org_id: &str) -> DbResult<i64> {
    let rows = conn.query("SELECT COUNT(*) FROM org_members WHERE org_id = ?1 AND role = 'owner'", params![org_id]).await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0))
}

pub async fn orgs_of_user(conn: &Connection, user_id: &str) -> DbResult<Vec<Org>> {
    let mut rows = conn
        .query(
            "SELECT o.id, o.name, m.role, o.created_at FROM organizations o JOIN org_members m ON m.org_id = o.id
             WHERE m.user_id = ?1 ORDER BY o.created_at",
            params![user_id],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        let role: String = row.get(2)?;
        out.push(Org {
            org_id: row.get(0)?,
            name: row.get(1)?,
            role: Role::parse(&role).ok_or_else(|| DbError::Corrupt(format!("role {role}")))?,
            created_at: row.get(3)?,
        });
    }
    Ok(out)
}

pub async fn org_by_id(conn: &Connection, org_id: &str, role: Role) -> DbResult<Option<Org>> {
    let rows = conn.query("SELECT id, name, created_at FROM organizations WHERE id = ?1", params![org_id]).await?;
    match crate::db::first_row(rows).await? {
        Some(row) => Ok(Some(Org { org_id: row.get(0)?, name: row.get(1)?, role, created_at: row.get(2)? })),
        None => Ok(None),
    }
}

pub async fn members(conn: &Connection, org_id: &str) -> DbResult<Vec<Member>> {
    let mut rows = conn
        .query(
            "SELECT m.user_id, u.username, m.role, m.added_at FROM org_members m JOIN users u ON u.id = m.user_id
             WHERE m.org_id = ?1 ORDER BY m.added_at",
            params![org_id],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        let role: String = row.get(2)?;
        out.push(Member {
            user_id: row.get(0)?,
            username: row.get(1)?,
            role: Role::parse(&role).ok_or_else(|| DbError::Corrupt(format!("role {role}")))?,
            added_at: row.get(3)?,
        });
    }
    Ok(out)
}

pub async fn insert_server_key(conn: &Connection, info: &ServerKeyInfo, secret_hash: &str, created_by: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO server_keys (id, game_id, name, secret_hash, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![info.key_id.clone(), info.game_id.clone(), info.name.clone(), secret_hash, created_by, info.created_at.clone()],
    )
    .await?;
    Ok(())
}

/// (game id, secret hash) of a live server key.
pub async fn server_key_secret(conn: &Connection, key_id: &str) -> DbResult<Option<(String, String)>> {
    let rows = conn.query("SELECT game_id, secret_hash FROM server_keys WHERE id = ?1 AND revoked_at IS NULL", params![key_id]).await?;
    match crate::db::first_row(rows).await? {
        Some(row) => Ok(Some((row.get(0)?, row.get(1)?))),
        None => Ok(None),
    }
}

/// Records a key's use, at most once a minute (so busy servers do not write per request).
pub async fn touch_server_key(conn: &Connection, key_id: &str) -> DbResult<()> {
    let now = crate::clock::now();
    let minute_ago = crate::clock::ts(chrono::Utc::now() - chrono::Duration::seconds(60));
    conn.execute(
        "UPDATE server_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?3)",
        params![key_id, now, minute_ago],
    )
    .await?;
    Ok(())
}

/// Whether a key's last use is older than a minute (or never recorded).
pub async fn server_key_use_stale(conn: &Connection, key_id: &str) -> DbResult<bool> {
    let minute_ago = crate::clock::ts(chrono::Utc::now() - chrono::Duration::seconds(60));
    let rows =
        conn.query("SELECT 1 FROM server_keys WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)", params![key_id, minute_ago]).await?;
    Ok(crate::db::first_row(rows).await?.is_some())
}

pub async fn server_keys_of_game(conn: &Connection, game_id: &str) -> DbResult<Vec<ServerKeyInfo>> {
    let mut rows = conn
        .query(
            "SELECT id, game_id, name, created_at, last_used_at FROM server_keys WHERE game_id = ?1 AND revoked_at IS NULL ORDER BY created_at",
            params![game_id],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(ServerKeyInfo {
            key_id: row.get(0)?,
            game_id: row.get(1)?,
            name: row.get(2)?,
            created_at: row.get(3)?,
            last_used_at: opt_text(&row, 4)?,
        });
    }
    Ok(out)
}

pub async fn revoke_server_key(conn: &Connection, game_id: &str, key_id: &str) -> DbResult<u64> {
    Ok(conn
        .execute(
            "UPDATE server_keys SET revoked_at = ?3 WHERE id = ?1 AND game_id = ?2 AND revoked_at IS NULL",
            params![key_id, game_id, crate::clock::now()],
        )
        .await?)
}

pub async fn set_coppa(conn: &Connection, id: &str, coppa: bool) -> DbResult<()> {
    conn.execute("UPDATE games SET coppa = ?2 WHERE id = ?1", params![id, coppa as i64]).await?;
    Ok(())
}
