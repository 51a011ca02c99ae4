//! Signing in and sessions: the game a login is for, password and device logins, refresh
//! (rotation, reuse revokes the family), logout and the session list. Every access token
//! is made in [`login_response`]. Called by REST routes and by JSON-RPC alike; knows
//! nothing of HTTP.

use aethex_protocol::auth::{DeviceLoginRequest, LoginRequest, LoginResponse, LogoutRequest, LogoutResponse, Profile, RefreshRequest, SessionInfo};
use aethex_protocol::validate::{DeviceId, Email, Password, Username};

use super::store::{self, NewUser, UserRow};
use super::{unique_error, AuthError, AuthResult};
use crate::auth::caller::{ClientInfo, Player};
use crate::crypto::{hash_secret, random_token};
use crate::state::AppState;

/// The game a login is for, from the client key header.
pub async fn resolve_game(app: &AppState, client: &ClientInfo) -> AuthResult<Option<String>> {
    match client.client_key.as_deref() {
        Some(key) => {
            if let Some(game) = app.game_keys.get(key) {
                return Ok(Some(game));
            }
            match crate::teams::store::game_by_client_key(&*app.db.reader().await, key).await? {
                Some(game) => {
                    app.game_keys.put(key, &game.id);
                    Ok(Some(game.id))
                }
                None => Err(AuthError::UnknownClientKey),
            }
        }
        None if app.config.auth.require_client_key => Err(AuthError::ClientKeyRequired),
        None => Ok(None),
    }
}

fn roles_of(user: &UserRow) -> Vec<String> {
    let mut roles = vec!["player".to_string()];
    if user.is_guest {
        roles.push("guest".into());
    }
    roles
}

pub fn profile_of(user: &UserRow) -> Profile {
    Profile {
        user_id: user.id.clone(),
        email: user.email.clone(),
        username: user.username.clone(),
        avatar_url: user.avatar_url.clone(),
        preferences: serde_json::from_str(&user.preferences).unwrap_or_else(|_| serde_json::json!({})),
        is_verified: user.is_verified,
        is_guest: user.is_guest,
        created_at: user.created_at.clone(),
        linked_providers: user.linked_providers.clone(),
    }
}

/// Starts a session for `user` and answers with its tokens. `conn` is the writer (or a
/// transaction on it) so the session lands with whatever the caller wrote.
pub(super) async fn start_session(
    app: &AppState,
    conn: &crate::db::Connection,
    user_id: &str,
    game_id: Option<&str>,
    client: &ClientInfo,
) -> AuthResult<(String, String)> {
    let (session_id, refresh, expires) = new_session(app);
    let (ip, token_hash) = (client.ip_string(), hash_secret(&refresh));
    let session = session_row(&session_id, &token_hash, &expires, game_id, ip.as_deref(), client);
    store::insert_session(conn, user_id, &session).await?;
    Ok((session_id, refresh))
}

/// A new session's id, refresh token and the token's expiry. The id is time-ordered, so a
/// new session's key lands at the end of its indexes (its own and its refresh tokens')
/// instead of on a random page: fewer pages written per commit.
fn new_session(app: &AppState) -> (String, String, String) {
    let expires = crate::clock::in_secs(app.config.auth.refresh_token_ttl_days * 86_400);
    let session_id = uuid::Uuid::now_v7().to_string();
    let refresh = refresh_token(&session_id);
    (session_id, refresh, expires)
}

/// A new refresh token of a session: `<session id>.<32 random bytes, base64url>`. The id
/// says where the token is kept (see `store::refresh_session`); it is no secret (access
/// tokens carry it as `sid`).
fn refresh_token(session_id: &str) -> String {
    format!("{session_id}.{}", random_token(32))
}

fn session_row<'a>(
    session_id: &'a str,
    token_hash: &'a str,
    expires: &'a str,
    game_id: Option<&'a str>,
    ip: Option<&'a str>,
    client: &'a ClientInfo,
) -> store::NewSession<'a> {
    store::NewSession { session_id, token_hash, expires_at: expires, game_id, ip, user_agent: client.user_agent.as_deref() }
}

pub(super) async fn login_response(
    app: &AppState,
    user: &UserRow,
    game_id: Option<&str>,
    session_id: &str,
    refresh_token: String,
) -> AuthResult<LoginResponse> {
    // Every access token is made here (login, register, device, OAuth, refresh): a player
    // banned from the game gets none for it.
    if let Some(g) = game_id {
        if crate::console::store::is_banned(&*app.db.reader().await, g, &user.id).await? {
            return Err(AuthError::Banned);
        }
    }
    Ok(issue_tokens(app, user, game_id, session_id, refresh_token))
}

/// The login answer for a user already checked for a ban from the game (see [`login_response`]).
fn issue_tokens(app: &AppState, user: &UserRow, game_id: Option<&str>, session_id: &str, refresh_token: String) -> LoginResponse {
    let token = app.tokens.sign(&user.id, game_id, roles_of(user), session_id);
    LoginResponse {
        user_id: user.id.clone(),
        token,
        refresh_token,
        token_type: "Bearer".into(),
        expires_in: app.tokens.ttl_secs(),
        user: profile_of(user),
    }
}

pub(super) async fn verify_captcha(app: &AppState, token: Option<&str>, client: &ClientInfo) -> AuthResult<()> {
    let cfg = &app.config.auth.captcha;
    if cfg.siteverify_url.is_empty() {
        return Ok(());
    }
    let token = token.filter(|t| !t.is_empty() && t.len() <= 4096).ok_or(AuthError::Captcha("captcha_token is required"))?;
    let mut form = vec![("secret", cfg.secret.expose().to_string()), ("response", token.to_string())];
    if let Some(ip) = client.ip_string() {
        form.push(("remoteip", ip));
    }
    let resp = app
        .http
        .post(&cfg.siteverify_url)
        .form(&form)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| AuthError::Internal(format!("captcha siteverify: {e}")))?;
    let body: serde_json::Value = resp.json().await.map_err(|e| AuthError::Internal(format!("captcha siteverify answer: {e}")))?;
    if body.get("success").and_then(|v| v.as_bool()) == Some(true) {
        Ok(())
    } else {
        Err(AuthError::Captcha("captcha verification failed"))
    }
}

pub async fn login(app: &AppState, req: LoginRequest, client: &ClientInfo) -> AuthResult<LoginResponse> {
    app.limits.check_ip(client.ip).await?;
    let email = Email::parse(&req.email).map_err(|_| AuthError::InvalidCredentials)?;
    app.limits.check_account(email.as_str()).await?;
    if req.password.len() > 4 * Password::MAX_LEN {
        return Err(AuthError::InvalidCredentials);
    }
    let game = resolve_game(app, client).await?;
    let user = store::user_by_email(&*app.db.reader().await, email.as_str()).await?;
    if let Some(u) = &user {
        check_not_locked(u)?;
    }
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = app.passwords.verify(req.password, hash).await;
    let Some(user) = user else { return Err(AuthError::InvalidCredentials) };
    if !ok {
        let cfg = &app.config.auth;
        let (uid, max, secs) = (user.id.clone(), cfg.max_failed_logins, cfg.lockout_secs);
        let locked = app.db.write(move |c| async move { store::record_login_failure(&c, &uid, max, secs).await.map_err(AuthError::from) }).await?;
        metrics::counter!("aethex_login_failures_total").increment(1);
        if locked.is_some() {
            tracing::warn!(user_id = %user.id, "account locked after repeated failed logins");
            return Err(AuthError::Locked { retry_after: cfg.lockout_secs });
        }
        return Err(AuthError::InvalidCredentials);
    }
    if !user.is_active {
        return Err(AuthError::Disabled);
    }
    let (a, cl, g, u) = (app.clone(), client.clone(), game.clone(), user.clone());
    let (sid, refresh) = app
        .db
        .write(move |c| async move {
            store::record_login_success(&c, &u.id).await?;
            start_session(&a, &c, &u.id, g.as_deref(), &cl).await
        })
        .await?;
    metrics::counter!("aethex_logins_total", "method" => "email").increment(1);
    login_response(app, &user, game.as_deref(), &sid, refresh).await
}

fn check_not_locked(user: &UserRow) -> AuthResult<()> {
    if let Some(until) = &user.locked_until {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(until) {
            let left = (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
            if left > 0 {
                return Err(AuthError::Locked { retry_after: left as u64 });
            }
        }
    }
    Ok(())
}

fn device_hash(device: &DeviceId) -> String {
    hash_secret(&format!("device:{}", device.expose()))
}

pub async fn device_login(app: &AppState, req: DeviceLoginRequest, client: &ClientInfo) -> AuthResult<LoginResponse> {
    app.limits.check_ip(client.ip).await?;
    let device = DeviceId::parse(&req.device_id)?;
    let wanted_name = req.username.as_deref().map(Username::parse).transpose()?;
    let game = resolve_game(app, client).await?;
    let dh = device_hash(&device);
    // A returning device of an active account not banned from the game (the common case):
    // one statement finds and touches the user and starts the session, with no read before
    // it (on a remote primary it goes with the group commit's request).
    let (session_id, refresh, expires) = new_session(app);
    let (cl, g, d, sid, rt) = (client.clone(), game.clone(), dh.clone(), session_id.clone(), refresh.clone());
    let touched = app
        .db
        .write(move |tx| async move {
            let (ip, token_hash) = (cl.ip_string(), hash_secret(&rt));
            store::device_login(&tx, &d, &session_row(&sid, &token_hash, &expires, g.as_deref(), ip.as_deref(), &cl)).await
        })
        .await?;
    if let Some(user) = store::later_user(&touched)? {
        metrics::counter!("aethex_logins_total", "method" => "device").increment(1);
        return Ok(issue_tokens(app, &user, game.as_deref(), &session_id, refresh));
    }
    // Otherwise a new device, or a disabled or banned account: found on a reader with its
    // ban from the game in the same read, so a banned player gets no session.
    let known = match store::user_by_device_in_game(&*app.db.reader().await, &dh, game.as_deref()).await? {
        Some((_, true)) => return Err(AuthError::Banned),
        Some((u, false)) => Some(u),
        None => None,
    };
    // A user found here was checked for a ban, and one made by this login cannot be banned;
    // only one another request made meanwhile is checked after the write.
    let checked = known.is_some();
    let (a, cl, g) = (app.clone(), client.clone(), game.clone());
    let (user, sid, refresh, made) = app
        .db
        .write(move |tx| async move {
            let found = match known {
                Some(u) => Some(u),
                None => store::user_by_device(&tx, &dh).await?,
            };
            let (user, made) = match found {
                Some(u) => (u, false),
                None => {
                    let id = uuid::Uuid::new_v4().to_string();
                    let username = match &wanted_name {
                        Some(n) => n.as_str().to_string(),
                        None => format!("guest-{}", &id.replace('-', "")[..12]),
                    };
                    store::insert_user(
                        &tx,
                        NewUser {
                            id: &id,
                            email: None,
                            username: &username,
                            password_hash: None,
                            is_guest: true,
                            is_verified: false,
                            device_hash: Some(&dh),
                            avatar_url: None,
                        },
                    )
                    .await
                    .map_err(unique_error)?;
                    (store::user_by_id(&tx, &id).await?.ok_or(AuthError::Internal("inserted user vanished".into()))?, true)
                }
            };
            if !user.is_active {
                return Err(AuthError::Disabled);
            }
            store::record_login_success(&tx, &user.id).await?;
            let (sid, refresh) = start_session(&a, &tx, &user.id, g.as_deref(), &cl).await?;
            Ok::<_, AuthError>((user, sid, refresh, made))
        })
        .await?;
    metrics::counter!("aethex_logins_total", "method" => "device").increment(1);
    if checked || made {
        Ok(issue_tokens(app, &user, game.as_deref(), &sid, refresh))
    } else {
        login_response(app, &user, game.as_deref(), &sid, refresh).await
    }
}

/// Rotates a refresh token: the presented one is spent, a new one is issued in the same
/// session. Presenting a spent token again revokes the whole session (token theft).
pub async fn refresh(app: &AppState, req: RefreshRequest, client: &ClientInfo) -> AuthResult<LoginResponse> {
    app.limits.check_ip(client.ip).await?;
    if req.refresh_token.is_empty() || req.refresh_token.len() > 256 {
        return Err(AuthError::InvalidRefreshToken("refresh token is not valid"));
    }
    let h = hash_secret(&req.refresh_token);
    let presented = store::refresh_session(&req.refresh_token).map(str::to_string);
    let expires = crate::clock::in_secs(app.config.auth.refresh_token_ttl_days * 86_400);
    // The revocation on reuse must stick, so the job reports it as an outcome (Ok) and the
    // error is raised after the commit.
    let outcome = app
        .db
        .write(move |c| async move {
            let Some(row) = store::refresh_by_hash(&c, presented.as_deref(), &h).await? else {
                return Ok(Refreshed::Refused(AuthError::InvalidRefreshToken("refresh token is not valid")));
            };
            if row.session_revoked {
                return Ok(Refreshed::Refused(AuthError::InvalidRefreshToken("session has ended")));
            }
            if row.used_at.is_some() || !store::mark_refresh_used(&c, presented.as_deref(), &h).await? {
                store::revoke_session(&c, &row.session_id, &row.user_id, "refresh_reuse").await?;
                tracing::warn!(session_id = %row.session_id, "refresh token reuse: session revoked");
                metrics::counter!("aethex_refresh_reuse_total").increment(1);
                return Ok(Refreshed::Refused(AuthError::RefreshReused));
            }
            if row.expires_at.as_str() <= crate::clock::now().as_str() {
                return Err(AuthError::InvalidRefreshToken("refresh token has expired"));
            }
            let user = store::user_by_id(&c, &row.user_id).await?.ok_or(AuthError::InvalidRefreshToken("account is gone"))?;
            if !user.is_active {
                return Err(AuthError::Disabled);
            }
            // The successor is issued in the current form, whichever form was presented.
            let refresh = refresh_token(&row.session_id);
            store::insert_refresh(&c, &hash_secret(&refresh), &row.session_id, &expires).await?;
            Ok(Refreshed::Rotated { user: Box::new(user), game_id: row.game_id, session_id: row.session_id, refresh })
        })
        .await?;
    match outcome {
        Refreshed::Rotated { user, game_id, session_id, refresh } => login_response(app, &user, game_id.as_deref(), &session_id, refresh).await,
        Refreshed::Refused(e) => Err(e),
    }
}

enum Refreshed {
    Rotated { user: Box<UserRow>, game_id: Option<String>, session_id: String, refresh: String },
    Refused(AuthError),
}

pub async fn logout(app: &AppState, player: &Player, req: LogoutRequest) -> AuthResult<LogoutResponse> {
    let (user_id, current) = (player.user_id.clone(), player.session_id.clone());
    app.db
        .write(move |c| async move {
            let session_id = match req.refresh_token.as_deref() {
                Some(t) => {
                    let row = store::refresh_by_hash(&c, store::refresh_session(t), &hash_secret(t))
                        .await?
                        .filter(|r| r.user_id == user_id)
                        .ok_or(AuthError::InvalidRefreshToken("refresh token is not valid"))?;
                    row.session_id
                }
                None => current,
            };
            let n = store::revoke_session(&c, &session_id, &user_id, "logout").await?;
            Ok(LogoutResponse { sessions_revoked: n })
        })
        .await
}

pub async fn logout_all(app: &AppState, player: &Player) -> AuthResult<LogoutResponse> {
    let user_id = player.user_id.clone();
    app.db
        .write(move |c| async move {
            let n = store::revoke_all_sessions(&c, &user_id, "logout_all").await?;
            Ok(LogoutResponse { sessions_revoked: n })
        })
        .await
}

pub async fn list_sessions(app: &AppState, player: &Player) -> AuthResult<Vec<SessionInfo>> {
    let rows = store::live_sessions(&*app.db.reader().await, &player.user_id).await?;
    Ok(rows
        .into_iter()
        .map(|s| SessionInfo {
            current: s.id == player.session_id,
            session_id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            game_id: s.game_id,
            user_agent: s.user_agent,
            ip_address: s.ip_address,
        })
        .collect())
}
