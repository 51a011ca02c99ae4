//! SQL for accounts, sessions, refresh tokens and email tokens.

use crate::db::Connection;
use libsql::params;

use crate::db::{flag, nullable, opt_text, Db, DbResult};

/// An account as stored.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub email: Option<String>,
    pub username: String,
    pub password_hash: Option<String>,
    pub avatar_url: Option<String>,
    pub preferences: String,
    pub created_at: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub is_guest: bool,
    pub failed_logins: i64,
    pub locked_until: Option<String>,
    /// OAuth providers linked to the account, sorted.
    pub linked_providers: Vec<String>,
}

/// The columns of [`UserRow`], in order; the linked providers come along in the same query.
const USER_COLS: &str =
    "id, email, username, password, avatar_url, preferences, created_at, is_active, is_verified, is_guest, failed_logins, locked_until, \
     (SELECT group_concat(provider, ',') FROM (SELECT provider FROM oauth_connections o WHERE o.user_id = users.id ORDER BY provider))";

/// How many columns [`USER_COLS`] selects (a column after them is at this index).
const USER_COL_COUNT: i32 = 13;

fn user_from_row(row: &crate::db::Row) -> DbResult<UserRow> {
    Ok(UserRow {
        id: row.get(0)?,
        email: opt_text(row, 1)?,
        username: row.get(2)?,
        password_hash: opt_text(row, 3)?,
        avatar_url: opt_text(row, 4)?,
        preferences: row.get(5)?,
        created_at: row.get(6)?,
        is_active: flag(row, 7)?,
        is_verified: flag(row, 8)?,
        is_guest: flag(row, 9)?,
        failed_logins: row.get(10)?,
        locked_until: opt_text(row, 11)?,
        linked_providers: opt_text(row, 12)?.map(|p| p.split(',').map(str::to_string).collect()).unwrap_or_default(),
    })
}

async fn one_user(conn: &Connection, where_sql: &str, key: &str) -> DbResult<Option<UserRow>> {
    let rows = conn.query(&format!("SELECT {USER_COLS} FROM users WHERE {where_sql}"), params![key]).await?;
    match crate::db::first_row(rows).await? {
        Some(row) => Ok(Some(user_from_row(&row)?)),
        None => Ok(None),
    }
}

pub async fn user_by_id(conn: &Connection, id: &str) -> DbResult<Option<UserRow>> {
    one_user(conn, "id = ?1", id).await
}

pub async fn user_by_email(conn: &Connection, email: &str) -> DbResult<Option<UserRow>> {
    one_user(conn, "email = ?1", email).await
}

pub async fn user_by_device(conn: &Connection, device_hash: &str) -> DbResult<Option<UserRow>> {
    one_user(conn, "device_hash = ?1", device_hash).await
}

/// The user of a device and, in the same read, whether the user is banned from `game`.
pub async fn user_by_device_in_game(conn: &Connection, device_hash: &str, game: Option<&str>) -> DbResult<Option<(UserRow, bool)>> {
    let rows = conn
        .query(
            &format!(
                "SELECT {USER_COLS}, EXISTS (SELECT 1 FROM game_bans b WHERE b.game_id = ?2 AND b.user_id = users.id) FROM users WHERE device_hash = ?1"
            ),
            params![device_hash, crate::db::nullable(game)],
        )
        .await?;
    match crate::db::first_row(rows).await? {
        Some(row) => Ok(Some((user_from_row(&row)?, flag(&row, USER_COL_COUNT)?))),
        None => Ok(None),
    }
}

/// A returning device's login in one statement (the `device_logins` view, migration 0022):
/// touches the user of `device_hash` (as [`record_login_success`]) and starts session
/// `s` for it, unless the account is disabled or banned from the session's game. Answers
/// that user once the write ran (see [`later_user`]); no user, nothing written.
pub async fn device_login(conn: &Connection, device_hash: &str, s: &NewSession<'_>) -> DbResult<crate::db::Later> {
    let NewSession { session_id, game_id, token_hash, expires_at, ip, user_agent } = *s;
    conn.defer(
        "INSERT INTO device_logins (device_hash, game_id, now, session_id, token_hash, expires_at, ip_address, user_agent) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![device_hash, nullable(game_id), crate::clock::now(), session_id, token_hash, expires_at, nullable(ip), nullable(user_agent)],
    )
    .await?;
    Ok(conn
        .query_later(
            &format!("SELECT {USER_COLS} FROM users WHERE device_hash = ?1 AND EXISTS (SELECT 1 FROM sessions WHERE id = ?2)"),
            params![device_hash, session_id],
        )
        .await?)
}

/// The user [`device_login`] logged in, if any.
pub fn later_user(later: &crate::db::Later) -> DbResult<Option<UserRow>> {
    later.rows().unwrap_or_default().first().map(user_from_row).transpose()
}

pub async fn username_taken(conn: &Connection, username: &str, except_user: Option<&str>) -> DbResult<bool> {
    let rows = conn.query("SELECT id FROM users WHERE username = ?1 COLLATE NOCASE", params![username]).await?;
    Ok(match crate::db::first_row(rows).await? {
        Some(row) => Some(row.get::<String>(0)?.as_str()) != except_user,
        None => false,
    })
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: Option<&'a str>,
    pub username: &'a str,
    pub password_hash: Option<&'a str>,
    pub is_guest: bool,
    pub is_verified: bool,
    pub device_hash: Option<&'a str>,
    pub avatar_url: Option<&'a str>,
}

pub async fn insert_user(conn: &Connection, u: NewUser<'_>) -> Result<(), libsql::Error> {
    let now = crate::clock::now();
    conn.execute(
        "INSERT INTO users (id, email, username, password, avatar_url, created_at, updated_at, is_verified, is_guest, device_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9)",
        params![
            u.id,
            nullable(u.email),
            u.username,
            nullable(u.password_hash),
            nullable(u.avatar_url),
            now,
            u.is_verified as i64,
            u.is_guest as i64,
            nullable(u.device_hash)
        ],
    )
    .await?;
    Ok(())
}

/// Counts a failed login; locks the account when the count reaches `max`. Returns the
/// lock expiry when this failure locked it. After a lock has expired the count starts
/// again from this failure (otherwise every later mistake would lock at once).
pub async fn record_login_failure(conn: &Connection, id: &str, max: u32, lockout_secs: u64) -> DbResult<Option<String>> {
    let until = crate::clock::in_secs(lockout_secs);
    let rows = conn
        .query(
            "UPDATE users SET
                 failed_logins = CASE WHEN locked_until IS NOT NULL AND locked_until <= ?4 THEN 1 ELSE failed_logins + 1 END,
                 locked_until = CASE
                     WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= ?4 THEN 1 ELSE failed_logins + 1 END) >= ?2 THEN ?3
                     WHEN locked_until IS NOT NULL AND locked_until <= ?4 THEN NULL
                     ELSE locked_until END
             WHERE id = ?1 RETURNING failed_logins, locked_until",
            params![id, max as i64, until, crate::clock::now()],
        )
        .await?;
    Ok(match crate::db::first_row(rows).await? {
        Some(row) if row.get::<i64>(0)? >= max as i64 => opt_text(&row, 1)?,
        _ => None,
    })
}

pub async fn record_login_success(conn: &Connection, id: &str) -> DbResult<()> {
    conn.defer("UPDATE users SET failed_logins = 0, locked_until = NULL, last_login = ?2 WHERE id = ?1", params![id, crate::clock::now()]).await?;
    Ok(())
}

/// A session to create, with its first refresh token (stored hashed).
pub struct NewSession<'a> {
    pub session_id: &'a str,
    pub game_id: Option<&'a str>,
    pub token_hash: &'a str,
    pub expires_at: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Creates session `s` of `user_id` and its first refresh token.
pub async fn insert_session(conn: &Connection, user_id: &str, s: &NewSession<'_>) -> DbResult<()> {
    let NewSession { session_id, game_id, token_hash, expires_at, ip, user_agent } = *s;
    let now = crate::clock::now();
    conn.defer(
        "INSERT INTO sessions (id, user_id, expires_at, created_at, ip_address, user_agent, game_id, last_used_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?4)",
        params![session_id, user_id, expires_at, now.clone(), nullable(ip), nullable(user_agent), nullable(game_id)],
    )
    .await?;
    conn.defer(
        "INSERT INTO refresh_tokens_by_session (session_id, token_hash, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![session_id, token_hash, now, expires_at],
    )
    .await?;
    Ok(())
}

/// Where a presented refresh token is kept: `Some(session)` for the current form
/// (`<session id>.<secret>`, kept by session, migration 24), `None` for one issued before
/// (kept by hash alone).
pub fn refresh_session(token: &str) -> Option<&str> {
    let (session, _) = token.split_once('.')?;
    (session.len() == 36 && session.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')).then_some(session)
}

/// A refresh token as found by its hash, with its session.
#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub session_id: String,
    pub user_id: String,
    pub game_id: Option<String>,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub session_revoked: bool,
}

/// The refresh token with this hash: under `session` when the token names one (see
/// [`refresh_session`]), else among the tokens kept by hash alone.
pub async fn refresh_by_hash(conn: &Connection, session: Option<&str>, token_hash: &str) -> DbResult<Option<RefreshRow>> {
    let rows = match session {
        Some(session) => {
            conn.query(
                "SELECT s.id, s.user_id, s.game_id, r.expires_at, r.used_at, s.revoked_at IS NOT NULL
                 FROM refresh_tokens_by_session r JOIN sessions s ON s.id = r.session_id WHERE r.session_id = ?1 AND r.token_hash = ?2",
                params![session, token_hash],
            )
            .await?
        }
        None => {
            conn.query(
                "SELECT s.id, s.user_id, s.game_id, r.expires_at, r.used_at, s.revoked_at IS NOT NULL
                 FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = ?1",
                params![token_hash],
            )
            .await?
        }
    };
    match crate::db::first_row(rows).await? {
        Some(row) => Ok(Some(RefreshRow {
            session_id: row.get(0)?,
            user_id: row.get(1)?,
            game_id: opt_text(&row, 2)?,
            expires_at: row.get(3)?,
            used_at: opt_text(&row, 4)?,
            session_revoked: flag(&row, 5)?,
        })),
        None => Ok(None),
    }
}

/// Marks a refresh token used, only if it was unused. False = it was already used
/// (a concurrent or replayed refresh).
pub async fn mark_refresh_used(conn: &Connection, session: Option<&str>, token_hash: &str) -> DbResult<bool> {
    let now = crate::clock::now();
    let n = match session {
        Some(session) => {
            conn.execute(
                "UPDATE refresh_tokens_by_session SET used_at = ?3 WHERE session_id = ?1 AND token_hash = ?2 AND used_at IS NULL",
                params![session, token_hash, now],
            )
            .await?
        }
        None => conn.execute("UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL", params![token_hash, now]).await?,
    };
    Ok(n == 1)
}

/// Stores the next refresh token of `session_id` (in the current form) and extends the session.
pub async fn insert_refresh(conn: &Connection, token_hash: &str, session_id: &str, expires_at: &str) -> DbResult<()> {
    let now = crate::clock::now();
    conn.execute(
        "INSERT INTO refresh_tokens_by_session (session_id, token_hash, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![session_id, token_hash, now.clone(), expires_at],
    )
    .await?;
    conn.execute("UPDATE sessions SET last_used_at = ?2, expires_at = ?3 WHERE id = ?1", params![session_id, now, expires_at]).await?;
    Ok(())
}

/// Ends one session of a user. Returns how many were ended (0 or 1).
pub async fn revoke_session(conn: &Connection, session_id: &str, user_id: &str, reason: &str) -> DbResult<u64> {
    Ok(conn
        .execute(
            "UPDATE sessions SET revoked_at = ?3, revoked_reason = ?4 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
            params![session_id, user_id, crate::clock::now(), reason],
        )
        .await?)
}

/// Ends every live session of a user.
pub async fn revoke_all_sessions(conn: &Connection, user_id: &str, reason: &str) -> DbResult<u64> {
    Ok(conn
        .execute(
            "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3 WHERE user_id = ?1 AND revoked_at IS NULL",
            params![user_id, crate::clock::now(), reason],
        )
        .await?)
}

/// Ends every live session of a user except `keep`.
pub async fn revoke_other_sessions(conn: &Connection, user_id: &str, keep: &str, reason: &str) -> DbResult<u64> {
    Ok(conn
        .execute(
            "UPDATE sessions SET revoked_at = ?3, revoked_reason = ?4 WHERE user_id = ?1 AND id != ?2 AND revoked_at IS NULL",
            params![user_id, keep, crate::clock::now(), reason],
        )
        .await?)
}

/// True while the session exists, belongs to the user, is not revoked or expired, and the
/// account is active. Checked by origin on every authenticated request, so logout takes
/// effect at once here (edges, which only check signatures, within the token's 15 minutes).
pub async fn session_is_live(db: &Db, session_id: &str, user_id: &str) -> DbResult<bool> {
    let rows = db
        .reader()
        .await
        .query(
            "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = ?1 AND s.user_id = ?2 AND s.revoked_at IS NULL AND s.expires_at > ?3 AND u.is_active = 1",
            params![session_id, user_id, crate::clock::now()],
        )
        .await?;
    Ok(crate::db::first_row(rows).await?.is_some())
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    pub game_id: Option<String>,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
}

pub async fn live_sessions(conn: &Connection, user_id: &str) -> DbResult<Vec<SessionRow>> {
    let mut rows = conn
        .query(
            "SELECT id, created_at, COALESCE(last_used_at, created_at), expires_at, game_id, user_agent, ip_address
             FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 ORDER BY created_at DESC LIMIT 100",
            params![user_id, crate::clock::now()],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(SessionRow {
            id: row.get(0)?,
            created_at: row.get(1)?,
            last_used_at: row.get(2)?,
            expires_at: row.get(3)?,
            game_id: opt_text(&row, 4)?,
            user_agent: opt_text(&row, 5)?,
            ip_address: opt_text(&row, 6)?,
        });
    }
    Ok(out)
}

pub async fn update_profile(
    conn: &Connection,
    id: &str,
    username: Option<&str>,
    avatar_url: Option<Option<&str>>,
    preferences: Option<&str>,
) -> Result<(), libsql::Error> {
    let now = crate::clock::now();
    if let Some(u) = username {
        conn.execute("UPDATE users SET username = ?2, updated_at = ?3 WHERE id = ?1", params![id, u, now.clone()]).await?;
    }
    if let Some(a) = avatar_url {
        conn.execute("UPDATE users SET avatar_url = ?2, updated_at = ?3 WHERE id = ?1", params![id, nullable(a), now.clone()]).await?;
    }
    if let Some(p) = preferences {
        conn.execute("UPDATE users SET preferences = ?2, updated_at = ?3 WHERE id = ?1", params![id, p, now]).await?;
    }
    Ok(())
}

/// Gives a guest account an email and password (it stops being a guest).
pub async fn link_email(conn: &Connection, id: &str, email: &str, password_hash: &str) -> Result<(), libsql::Error> {
    conn.execute(
        "UPDATE users SET email = ?2, password = ?3, is_guest = 0, is_verified = 0, updated_at = ?4 WHERE id = ?1",
        params![id, email, password_hash, crate::clock::now()],
    )
    .await?;
    Ok(())
}

pub async fn set_password(conn: &Connection, id: &str, password_hash: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE users SET password = ?2, failed_logins = 0, locked_until = NULL, updated_at = ?3 WHERE id = ?1",
        params![id, password_hash, crate::clock::now()],
    )
    .await?;
    Ok(())
}

pub async fn mark_verified(conn: &Connection, id: &str) -> DbResult<()> {
    conn.execute("UPDATE users SET is_verified = 1, updated_at = ?2 WHERE id = ?1", params![id, crate::clock::now()]).await?;
    Ok(())
}

pub async fn insert_email_token(conn: &Connection, token_hash: &str, user_id: &str, kind: &str, email: &str, ttl_secs: u64) -> DbResult<()> {
    // One outstanding token per kind: a new request supersedes older ones.
    conn.execute(
        "UPDATE email_tokens SET used_at = ?3 WHERE user_id = ?1 AND kind = ?2 AND used_at IS NULL",
        params![user_id, kind, crate::clock::now()],
    )
    .await?;
    conn.execute(
        "INSERT INTO email_tokens (token_hash, user_id, kind, email, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![token_hash, user_id, kind, email, crate::clock::now(), crate::clock::in_secs(ttl_secs)],
    )
    .await?;
    Ok(())
}

/// The user and address of an email token that is still good, without using it.
pub async fn peek_email_token(conn: &Connection, token_hash: &str, kind: &str) -> DbResult<Option<(String, String)>> {
    let rows = conn
        .query(
            "SELECT user_id, email FROM email_tokens WHERE token_hash = ?1 AND kind = ?2 AND used_at IS NULL AND expires_at > ?3",
            params![token_hash, kind, crate::clock::now()],
        )
        .await?;
    match crate::db::first_row(rows).await? {
        Some(row) => Ok(Some((row.get(0)?, row.get(1)?))),
        None => Ok(None),
    }
}

/// The account's address was just proven by someone who proved nothing else (a reset
/// code, a provider's verified email) while it was never verified before: every
/// credential set in the meantime may be an attacker's (account pre-hijacking), so the
/// device id, the linked providers and provider links in flight, the password (unless
/// `keep_password`: the prover just chose it) and every session go.
pub async fn wipe_unproven_credentials(conn: &Connection, user_id: &str, keep_password: bool) -> DbResult<()> {
    let password = if keep_password { "" } else { ", password = NULL" };
    conn.execute(&format!("UPDATE users SET device_hash = NULL{password}, updated_at = ?2 WHERE id = ?1"), params![user_id, crate::clock::now()])
        .await?;
    conn.execute("DELETE FROM oauth_connections WHERE user_id = ?1", params![user_id]).await?;
    conn.execute("DELETE FROM oauth_states WHERE link_user_id = ?1", params![user_id]).await?;
    revoke_all_sessions(conn, user_id, "credentials_reset").await?;
    Ok(())
}

/// Uses an email token once. Returns (user id, email it was sent to) if it was valid.
pub async fn consume_email_token(conn: &Connection, token_hash: &str, kind: &str) -> DbResult<Option<(String, String)>> {
    let rows = conn
        .query(
            "UPDATE email_tokens SET used_at = ?3
             WHERE token_hash = ?1 AND kind = ?2 AND used_at IS NULL AND expires_at > ?3
             RETURNING user_id, email",
            params![token_hash, kind, crate::clock::now()],
        )
        .await?;
    match crate::db::first_row(rows).await? {
        Some(row) => Ok(Some((row.get(0)?, row.get(1)?))),
        None => Ok(None),
    }
}

/// An OAuth login in flight.
#[derive(Debug, Clone)]
pub struct OAuthStateRow {
    pub state: String,
    pub provider: String,
    pub poll_token_hash: String,
    pub pkce_verifier: String,
    pub nonce: String,
    pub redirect_uri: Option<String>,
    pub link_user_id: Option<String>,
    pub game_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub expires_at: String,
    pub result_user_id: Option<String>,
    pub result_error: Option<String>,
    /// The provider step ended (with `identity` or `result_error`).
    pub completed_at: Option<String>,
    /// Polling flow: hash of the code the game shows, typed into the browser.
    pub user_code_hash: Option<String>,
    /// Hash of the one-time code only the browser got (the redirect's `code`, or the
    /// confirmation page's token).
    pub browser_code_hash: Option<String>,
    /// The provider's verified identity (JSON), waiting for the game's proof.
    pub identity: Option<String>,
    /// Polling flow: when the browser's user typed the right user code.
    pub confirmed_at: Option<String>,
    pub failed_confirms: i64,
}

pub async fn insert_oauth_state(conn: &Connection, s: &OAuthStateRow) -> DbResult<()> {
    // Expired logins are dropped whenever a new one starts.
    conn.execute("DELETE FROM oauth_states WHERE expires_at < ?1", params![crate::clock::now()]).await?;
    conn.execute(
        "INSERT INTO oauth_states (state, provider, poll_token_hash, pkce_verifier, nonce, redirect_uri, link_user_id, game_id,
                                   ip_address, user_agent, created_at, expires_at, user_code_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            s.state.clone(),
            s.provider.clone(),
            s.poll_token_hash.clone(),
            s.pkce_verifier.clone(),
            s.nonce.clone(),
            nullable(s.redirect_uri.as_deref()),
            nullable(s.link_user_id.as_deref()),
            nullable(s.game_id.as_deref()),
            nullable(s.ip_address.as_deref()),
            nullable(s.user_agent.as_deref()),
            crate::clock::now(),
            s.expires_at.clone(),
            nullable(s.user_code_hash.as_deref())
        ],
    )
    .await?;
    Ok(())
}

pub async fn oauth_state(conn: &Connection, state: &str) -> DbResult<Option<OAuthStateRow>> {
    let rows = conn
        .query(
            "SELECT state, provider, poll_token_hash, pkce_verifier, nonce, redirect_uri, link_user_id, game_id, ip_address,
                    user_agent, expires_at, result_user_id, result_error, completed_at, user_code_hash, browser_code_hash,
                    identity, confirmed_at, failed_confirms
             FROM oauth_states WHERE state = ?1",
            params![state],
        )
        .await?;
    let Some(row) = crate::db::first_row(rows).await? else { return Ok(None) };
    Ok(Some(OAuthStateRow {
        state: row.get(0)?,
        provider: row.get(1)?,
        poll_token_hash: row.get(2)?,
        pkce_verifier: row.get(3)?,
        nonce: row.get(4)?,
        redirect_uri: opt_text(&row, 5)?,
        link_user_id: opt_text(&row, 6)?,
        game_id: opt_text(&row, 7)?,
        ip_address: opt_text(&row, 8)?,
        user_agent: opt_text(&row, 9)?,
        expires_at: row.get(10)?,
        result_user_id: opt_text(&row, 11)?,
        result_error: opt_text(&row, 12)?,
        completed_at: opt_text(&row, 13)?,
        user_code_hash: opt_text(&row, 14)?,
        browser_code_hash: opt_text(&row, 15)?,
        identity: opt_text(&row, 16)?,
        confirmed_at: opt_text(&row, 17)?,
        failed_confirms: row.get(18)?,
    }))
}

/// Records the provider step's outcome, once: the verified identity and the hash of the
/// browser's one-time code, or an error. False if the state was already completed.
pub async fn complete_oauth_state(
    conn: &Connection,
    state: &str,
    identity: Option<&str>,
    browser_code_hash: Option<&str>,
    error: Option<&str>,
) -> DbResult<bool> {
    let n = conn
        .execute(
            "UPDATE oauth_states SET identity = ?2, browser_code_hash = ?3, result_error = ?4, completed_at = ?5
             WHERE state = ?1 AND completed_at IS NULL",
            params![state, nullable(identity), nullable(browser_code_hash), nullable(error), crate::clock::now()],
        )
        .await?;
    Ok(n == 1)
}

/// The browser's user typed the right user code (polling flow), once.
pub async fn confirm_oauth_state(conn: &Connection, state: &str) -> DbResult<bool> {
    let n = conn
        .execute("UPDATE oauth_states SET confirmed_at = ?2 WHERE state = ?1 AND confirmed_at IS NULL", params![state, crate::clock::now()])
        .await?;
    Ok(n == 1)
}

/// A wrong user code on the confirmation page; the new count.
pub async fn failed_oauth_confirm(conn: &Connection, state: &str) -> DbResult<i64> {
    let rows = conn
        .query("UPDATE oauth_states SET failed_confirms = failed_confirms + 1 WHERE state = ?1 RETURNING failed_confirms", params![state])
        .await?;
    Ok(crate::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(i64::MAX))
}

/// Consumes a completed login so its tokens are handed out once.
pub async fn delete_oauth_state(conn: &Connection, state: &str) -> DbResult<bool> {
    Ok(conn.execute("DELETE FROM oauth_states WHERE state = ?1", params![state]).await? == 1)
}

pub async fn user_by_oauth(conn: &Connection, provider: &str, provider_user_id: &str) -> DbResult<Option<UserRow>> {
    let rows = conn
        .query(
            &format!(
                "SELECT {} FROM users WHERE id = (SELECT user_id FROM oauth_connections WHERE provider = ?1 AND provider_user_id = ?2)",
                USER_COLS
            ),
            params![provider, provider_user_id],
        )
        .await?;
    match crate::db::first_row(rows).await? {
        Some(row) => Ok(Some(user_from_row(&row)?)),
        None => Ok(None),
    }
}

pub async fn insert_oauth_connection(conn: &Connection, user_id: &str, provider: &str, provider_user_id: &str) -> Result<(), libsql::Error> {
    conn.execute(
        "INSERT INTO oauth_connections (id, user_id, provider, provider_user_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![uuid::Uuid::new_v4().to_string(), user_id, provider, provider_user_id, crate::clock::now()],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn user_col_count_counts_user_cols() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&crate::config::StorageConfig::default(), &dir.path().join("t.db")).await.unwrap();
        let rows = db.reader().await.query(&format!("SELECT {USER_COLS} FROM users"), ()).await.unwrap();
        assert_eq!(rows.column_count(), USER_COL_COUNT);
    }
}
