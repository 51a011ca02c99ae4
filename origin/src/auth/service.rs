//! Account and session rules. Called by REST routes and by JSON-RPC alike; knows
//! nothing of HTTP.

use aethex_protocol::auth::{
    Accepted, ChangePasswordRequest, DeviceLoginRequest, LinkEmailRequest, LoginRequest, LoginResponse, LogoutRequest, LogoutResponse,
    PasswordResetConfirm, PasswordResetRequest, Profile, RefreshRequest, RegisterRequest, SessionInfo, UpdateProfileRequest, VerifyEmailRequest,
};
use aethex_protocol::validate::{parse_http_url, DeviceId, Email, Invalid, Password, Username};

use super::email::OutgoingEmail;
use super::store::{self, NewUser, UserRow};
use super::AuthError;
use crate::auth::caller::{ClientInfo, Player};
use crate::crypto::{hash_secret, random_token};
use crate::db::is_unique_violation;
use crate::state::AppState;

pub type AuthResult<T> = Result<T, AuthError>;

const KIND_VERIFY: &str = "verify_email";
const KIND_RESET: &str = "password_reset";
const MAX_PREFERENCES_BYTES: usize = 16 * 1024;

/// The game a login is for, from the client key header.
pub async fn resolve_game(app: &AppState, client: &ClientInfo) -> AuthResult<Option<String>> {
    match client.client_key.as_deref() {
        Some(key) => {
            if let Some(game) = app.game_keys.get(key) {
                return Ok(Some(game));
            }
            match crate::teams::store::game_by_client_key(app.db.reader(), key).await? {
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

async fn load_user(app: &AppState, user_id: &str) -> AuthResult<UserRow> {
    store::user_by_id(app.db.reader(), user_id).await?.ok_or(AuthError::NotFound("user"))
}

/// Starts a session for `user` and answers with its tokens. `conn` is the writer (or a
/// transaction on it) so the session lands with whatever the caller wrote.
pub(super) async fn start_session(
    app: &AppState,
    conn: &libsql::Connection,
    user: &UserRow,
    game_id: Option<&str>,
    client: &ClientInfo,
) -> AuthResult<(String, String)> {
    let session_id = uuid::Uuid::new_v4().to_string();
    let refresh = random_token(32);
    let expires = crate::clock::in_secs(app.config.auth.refresh_token_ttl_days * 86_400);
    store::insert_session(
        conn,
        &session_id,
        &user.id,
        game_id,
        &hash_secret(&refresh),
        &expires,
        client.ip_string().as_deref(),
        client.user_agent.as_deref(),
    )
    .await?;
    Ok((session_id, refresh))
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
        if crate::console::service::is_banned(app, g, &user.id).await? {
            return Err(AuthError::Banned);
        }
    }
    let token = app.tokens.sign(&user.id, game_id, roles_of(user), session_id);
    Ok(LoginResponse {
        user_id: user.id.clone(),
        token,
        refresh_token,
        token_type: "Bearer".into(),
        expires_in: app.tokens.ttl_secs(),
        user: profile_of(user),
    })
}

async fn verify_captcha(app: &AppState, token: Option<&str>, client: &ClientInfo) -> AuthResult<()> {
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

fn unique_error(e: libsql::Error) -> AuthError {
    let msg = e.to_string();
    if is_unique_violation(&e) && msg.contains("users.email") {
        AuthError::EmailTaken
    } else if is_unique_violation(&e) && msg.contains("users.username") {
        AuthError::UsernameTaken
    } else {
        e.into()
    }
}

async fn hash_password(app: &AppState, password: &Password) -> AuthResult<String> {
    app.passwords.hash(password.expose().to_string()).await.map_err(AuthError::Internal)
}

pub async fn register(app: &AppState, req: RegisterRequest, client: &ClientInfo) -> AuthResult<LoginResponse> {
    app.limits.check_ip(client.ip)?;
    let email = Email::parse(&req.email)?;
    let username = Username::parse(&req.username)?;
    let password = Password::parse(&req.password)?;
    let game = resolve_game(app, client).await?;
    verify_captcha(app, req.captcha_token.as_deref(), client).await?;
    // Cheap checks first, so a taken name costs no password hash.
    if store::user_by_email(app.db.reader(), email.as_str()).await?.is_some() {
        return Err(AuthError::EmailTaken);
    }
    if store::username_taken(app.db.reader(), username.as_str(), None).await? {
        return Err(AuthError::UsernameTaken);
    }
    let hash = hash_password(app, &password).await?;
    let user_id = uuid::Uuid::new_v4().to_string();
    let (a, cl, g) = (app.clone(), client.clone(), game.clone());
    let (user, session_id, refresh) = app
        .db
        .write(move |c| async move {
            store::insert_user(
                &c,
                NewUser {
                    id: &user_id,
                    email: Some(email.as_str()),
                    username: username.as_str(),
                    password_hash: Some(&hash),
                    is_guest: false,
                    is_verified: false,
                    device_hash: None,
                    avatar_url: None,
                },
            )
            .await
            .map_err(unique_error)?;
            let user = store::user_by_id(&c, &user_id).await?.ok_or(AuthError::Internal("inserted user vanished".into()))?;
            let (sid, refresh) = start_session(&a, &c, &user, g.as_deref(), &cl).await?;
            Ok::<_, AuthError>((user, sid, refresh))
        })
        .await?;
    metrics::counter!("aethex_registrations_total").increment(1);
    send_verification(app, &user).await;
    login_response(app, &user, game.as_deref(), &session_id, refresh).await
}

pub async fn login(app: &AppState, req: LoginRequest, client: &ClientInfo) -> AuthResult<LoginResponse> {
    app.limits.check_ip(client.ip)?;
    let email = Email::parse(&req.email).map_err(|_| AuthError::InvalidCredentials)?;
    app.limits.check_account(email.as_str())?;
    if req.password.len() > 4 * Password::MAX_LEN {
        return Err(AuthError::InvalidCredentials);
    }
    let game = resolve_game(app, client).await?;
    let user = store::user_by_email(app.db.reader(), email.as_str()).await?;
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
            start_session(&a, &c, &u, g.as_deref(), &cl).await
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
    app.limits.check_ip(client.ip)?;
    let device = DeviceId::parse(&req.device_id)?;
    let wanted_name = req.username.as_deref().map(Username::parse).transpose()?;
    let game = resolve_game(app, client).await?;
    let dh = device_hash(&device);
    // A returning device (the common case) is found on a reader, off the writer thread.
    let known = store::user_by_device(app.db.reader(), &dh).await?;
    let (a, cl, g) = (app.clone(), client.clone(), game.clone());
    let (user, sid, refresh) = app
        .db
        .write(move |tx| async move {
            let found = match known {
                Some(u) => Some(u),
                None => store::user_by_device(&tx, &dh).await?,
            };
            let user = match found {
                Some(u) => u,
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
                    store::user_by_id(&tx, &id).await?.ok_or(AuthError::Internal("inserted user vanished".into()))?
                }
            };
            if !user.is_active {
                return Err(AuthError::Disabled);
            }
            store::record_login_success(&tx, &user.id).await?;
            let (sid, refresh) = start_session(&a, &tx, &user, g.as_deref(), &cl).await?;
            Ok::<_, AuthError>((user, sid, refresh))
        })
        .await?;
    metrics::counter!("aethex_logins_total", "method" => "device").increment(1);
    login_response(app, &user, game.as_deref(), &sid, refresh).await
}

/// Rotates a refresh token: the presented one is spent, a new one is issued in the same
/// session. Presenting a spent token again revokes the whole session (token theft).
pub async fn refresh(app: &AppState, req: RefreshRequest, client: &ClientInfo) -> AuthResult<LoginResponse> {
    app.limits.check_ip(client.ip)?;
    if req.refresh_token.is_empty() || req.refresh_token.len() > 256 {
        return Err(AuthError::InvalidRefreshToken("refresh token is not valid"));
    }
    let h = hash_secret(&req.refresh_token);
    let new_refresh = random_token(32);
    let expires = crate::clock::in_secs(app.config.auth.refresh_token_ttl_days * 86_400);
    let nr = new_refresh.clone();
    // The revocation on reuse must stick, so the job reports it as an outcome (Ok) and the
    // error is raised after the commit.
    let outcome = app
        .db
        .write(move |c| async move {
            let Some(row) = store::refresh_by_hash(&c, &h).await? else {
                return Ok(Refreshed::Refused(AuthError::InvalidRefreshToken("refresh token is not valid")));
            };
            if row.session_revoked {
                return Ok(Refreshed::Refused(AuthError::InvalidRefreshToken("session has ended")));
            }
            if row.used_at.is_some() || !store::mark_refresh_used(&c, &h).await? {
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
            store::insert_refresh(&c, &hash_secret(&nr), &row.session_id, &expires).await?;
            Ok(Refreshed::Rotated { user, game_id: row.game_id, session_id: row.session_id })
        })
        .await?;
    match outcome {
        Refreshed::Rotated { user, game_id, session_id } => login_response(app, &user, game_id.as_deref(), &session_id, new_refresh).await,
        Refreshed::Refused(e) => Err(e),
    }
}

enum Refreshed {
    Rotated { user: UserRow, game_id: Option<String>, session_id: String },
    Refused(AuthError),
}

pub async fn logout(app: &AppState, player: &Player, req: LogoutRequest) -> AuthResult<LogoutResponse> {
    let (user_id, current) = (player.user_id.clone(), player.session_id.clone());
    app.db
        .write(move |c| async move {
            let session_id = match req.refresh_token.as_deref() {
                Some(t) => {
                    let row = store::refresh_by_hash(&c, &hash_secret(t))
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
    let rows = store::live_sessions(app.db.reader(), &player.user_id).await?;
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

pub async fn get_profile(app: &AppState, player: &Player) -> AuthResult<Profile> {
    let user = load_user(app, &player.user_id).await?;
    Ok(profile_of(&user))
}

pub async fn update_profile(app: &AppState, player: &Player, req: UpdateProfileRequest) -> AuthResult<Profile> {
    let username = req.username.as_deref().map(Username::parse).transpose()?;
    let avatar = match &req.avatar_url {
        Some(Some(url)) => Some(Some(parse_http_url(url, "avatar_url")?)),
        Some(None) => Some(None),
        None => None,
    };
    let prefs = match &req.preferences {
        Some(v) if !v.is_object() => return Err(Invalid::new("preferences", "preferences must be a JSON object").into()),
        Some(v) => {
            let s = serde_json::to_string(v).map_err(|e| AuthError::Internal(e.to_string()))?;
            if s.len() > MAX_PREFERENCES_BYTES {
                return Err(Invalid::new("preferences", format!("preferences must be at most {MAX_PREFERENCES_BYTES} bytes")).into());
            }
            Some(s)
        }
        None => None,
    };
    let user_id = player.user_id.clone();
    app.db
        .write(move |c| async move {
            if let Some(u) = &username {
                if store::username_taken(&c, u.as_str(), Some(&user_id)).await? {
                    return Err(AuthError::UsernameTaken);
                }
            }
            store::update_profile(&c, &user_id, username.as_ref().map(|u| u.as_str()), avatar.as_ref().map(|a| a.as_deref()), prefs.as_deref())
                .await
                .map_err(unique_error)
        })
        .await?;
    get_profile(app, player).await
}

/// Upgrades a guest (device) account to an email account, keeping its saves.
pub async fn link_email(app: &AppState, player: &Player, req: LinkEmailRequest) -> AuthResult<Profile> {
    let email = Email::parse(&req.email)?;
    let password = Password::parse(&req.password)?;
    let username = req.username.as_deref().map(Username::parse).transpose()?;
    let user = load_user(app, &player.user_id).await?;
    if user.email.is_some() {
        return Err(AuthError::StateConflict("account already has an email"));
    }
    if store::user_by_email(app.db.reader(), email.as_str()).await?.is_some() {
        return Err(AuthError::EmailTaken);
    }
    let hash = hash_password(app, &password).await?;
    let uid = user.id.clone();
    app.db
        .write(move |tx| async move {
            store::link_email(&tx, &uid, email.as_str(), &hash).await.map_err(unique_error)?;
            if let Some(u) = &username {
                if store::username_taken(&tx, u.as_str(), Some(&uid)).await? {
                    return Err(AuthError::UsernameTaken);
                }
                store::update_profile(&tx, &uid, Some(u.as_str()), None, None).await.map_err(unique_error)?;
            }
            Ok(())
        })
        .await?;
    let user = load_user(app, &player.user_id).await?;
    send_verification(app, &user).await;
    Ok(profile_of(&user))
}

/// Emails a verification link after the answer; failures are logged, not returned
/// (registration must neither fail nor wait because mail is down or slow; the player can
/// ask again).
async fn send_verification(app: &AppState, user: &UserRow) {
    let (app, user) = (app.clone(), user.clone());
    tokio::spawn(async move {
        if let Err(e) = try_send_verification(&app, &user).await {
            tracing::error!(user_id = %user.id, error = %e, "could not send verification email");
        }
    });
}

async fn try_send_verification(app: &AppState, user: &UserRow) -> AuthResult<()> {
    let Some(email) = &user.email else { return Err(AuthError::StateConflict("account has no email")) };
    let token = random_token(32);
    let (th, uid, em, ttl) = (hash_secret(&token), user.id.clone(), email.clone(), app.config.auth.email_verify_ttl_secs);
    app.db.write(move |c| async move { store::insert_email_token(&c, &th, &uid, KIND_VERIFY, &em, ttl).await.map_err(AuthError::from) }).await?;
    let body = format!(
        "Hello {name},\n\nconfirm your email address for AeThex Cloud with this code:\n\nToken: {token}\n\nor open this link:\n{url}/api/v1/auth/verify-email?token={token}\n\nThe code expires in {hours} hours. If you did not sign up, ignore this message.\n",
        name = user.username,
        url = app.public_url,
        hours = app.config.auth.email_verify_ttl_secs / 3600,
    );
    app.mailer.send(OutgoingEmail { to: email.clone(), subject: "Confirm your email".into(), body }).await.map_err(AuthError::Internal)
}

pub async fn request_email_verification(app: &AppState, player: &Player) -> AuthResult<Accepted> {
    app.limits.check_account(&player.user_id)?;
    let user = load_user(app, &player.user_id).await?;
    if user.email.is_none() {
        return Err(AuthError::StateConflict("account has no email"));
    }
    if user.is_verified {
        return Err(AuthError::StateConflict("email is already verified"));
    }
    try_send_verification(app, &user).await?;
    Ok(Accepted { accepted: true })
}

/// Marks the address verified. The emailed code proves the inbox; the same request must
/// also prove the account: a signed-in session of it, or its password. Otherwise whoever
/// registered or linked an address that is not theirs (account pre-hijacking) could have
/// its owner verify it by clicking an unexpected email, and keep the password and device
/// id they set. With both proofs, every credential of the account is the prover's.
pub async fn verify_email(app: &AppState, req: VerifyEmailRequest, signed_in: Option<&Player>, client: &ClientInfo) -> AuthResult<Profile> {
    app.limits.check_ip(client.ip)?;
    if req.token.is_empty() || req.token.len() > 256 {
        return Err(AuthError::EmailTokenInvalid);
    }
    let th = hash_secret(&req.token);
    let (user_id, _) = store::peek_email_token(app.db.reader(), &th, KIND_VERIFY).await?.ok_or(AuthError::EmailTokenInvalid)?;
    if signed_in.is_none_or(|p| p.user_id != user_id) {
        let password = req.password.filter(|p| !p.is_empty()).ok_or(AuthError::OwnerProofRequired)?;
        let user = load_user(app, &user_id).await?;
        if password.len() > 4 * Password::MAX_LEN || !app.passwords.verify(password, user.password_hash.clone()).await {
            return Err(AuthError::InvalidCredentials);
        }
    }
    let user_id = app
        .db
        .write(move |tx| async move {
            let (user_id, email) = store::consume_email_token(&tx, &th, KIND_VERIFY).await?.ok_or(AuthError::EmailTokenInvalid)?;
            let user = store::user_by_id(&tx, &user_id).await?.ok_or(AuthError::EmailTokenInvalid)?;
            // The address must still be the account's: a token for an old address verifies nothing.
            if user.email.as_deref() != Some(email.as_str()) {
                return Err(AuthError::EmailTokenInvalid);
            }
            store::mark_verified(&tx, &user_id).await?;
            Ok(user_id)
        })
        .await?;
    let user = load_user(app, &user_id).await?;
    Ok(profile_of(&user))
}

/// Always answers `accepted` (whether or not the address has an account), and at once:
/// the look-up, the code and the email happen after the answer, so neither the answer
/// nor its timing tells anybody which addresses are registered.
pub async fn request_password_reset(app: &AppState, req: PasswordResetRequest, client: &ClientInfo) -> AuthResult<Accepted> {
    app.limits.check_ip(client.ip)?;
    let email = Email::parse(&req.email)?;
    app.limits.check_account(email.as_str())?;
    let a = app.clone();
    tokio::spawn(async move {
        if let Err(e) = send_password_reset(&a, &email).await {
            tracing::error!(error = %e, "could not make a password reset code");
        }
    });
    Ok(Accepted { accepted: true })
}

async fn send_password_reset(app: &AppState, email: &Email) -> AuthResult<()> {
    if let Some(user) = store::user_by_email(app.db.reader(), email.as_str()).await? {
        let token = random_token(32);
        let (th, uid, em, ttl) = (hash_secret(&token), user.id.clone(), email.as_str().to_string(), app.config.auth.password_reset_ttl_secs);
        app.db.write(move |c| async move { store::insert_email_token(&c, &th, &uid, KIND_RESET, &em, ttl).await.map_err(AuthError::from) }).await?;
        let body = format!(
            "Hello {name},\n\nsomeone asked to reset the password of your AeThex Cloud account.\nUse this code to choose a new one:\n\nToken: {token}\n\nThe code expires in {mins} minutes. If it was not you, ignore this message;\nyour password stays as it is.\n",
            name = user.username,
            mins = app.config.auth.password_reset_ttl_secs / 60,
        );
        if let Err(e) = app.mailer.send(OutgoingEmail { to: email.as_str().to_string(), subject: "Reset your password".into(), body }).await {
            tracing::error!(user_id = %user.id, error = %e, "could not send password reset email");
        }
    }
    Ok(())
}

/// Sets a new password from an emailed token and ends every session of the account.
pub async fn reset_password(app: &AppState, req: PasswordResetConfirm, client: &ClientInfo) -> AuthResult<Accepted> {
    app.limits.check_ip(client.ip)?;
    let password = Password::parse_field(&req.new_password, "new_password")?;
    if req.token.is_empty() || req.token.len() > 256 {
        return Err(AuthError::EmailTokenInvalid);
    }
    let hash = hash_password(app, &password).await?;
    let th = hash_secret(&req.token);
    app.db
        .write(move |tx| async move {
            let (user_id, email) = store::consume_email_token(&tx, &th, KIND_RESET).await?.ok_or(AuthError::EmailTokenInvalid)?;
            let user = store::user_by_id(&tx, &user_id).await?.ok_or(AuthError::EmailTokenInvalid)?;
            if user.email.as_deref() != Some(email.as_str()) {
                return Err(AuthError::EmailTokenInvalid);
            }
            store::set_password(&tx, &user_id, &hash).await?;
            // Receiving the code proves the address, and nothing else: on an account whose
            // address was never proven, the device id and providers may be whoever
            // registered the address first (pre-hijacking), so they go with the sessions.
            if !user.is_verified {
                store::wipe_unproven_credentials(&tx, &user_id, true).await?;
            }
            store::mark_verified(&tx, &user_id).await?;
            store::revoke_all_sessions(&tx, &user_id, "password_reset").await?;
            Ok(())
        })
        .await?;
    Ok(Accepted { accepted: true })
}

/// Changes the password (knowing the current one) and ends the account's other sessions.
pub async fn change_password(app: &AppState, player: &Player, req: ChangePasswordRequest) -> AuthResult<Accepted> {
    app.limits.check_account(&player.user_id)?;
    let new = Password::parse_field(&req.new_password, "new_password")?;
    let user = load_user(app, &player.user_id).await?;
    let Some(current_hash) = user.password_hash.clone() else {
        return Err(AuthError::StateConflict("account has no password; link an email first"));
    };
    if req.current_password.len() > 4 * Password::MAX_LEN || !app.passwords.verify(req.current_password, Some(current_hash)).await {
        return Err(AuthError::InvalidCredentials);
    }
    let hash = hash_password(app, &new).await?;
    let (uid, keep) = (user.id.clone(), player.session_id.clone());
    app.db
        .write(move |tx| async move {
            store::set_password(&tx, &uid, &hash).await?;
            store::revoke_other_sessions(&tx, &uid, &keep, "password_change").await?;
            Ok::<_, AuthError>(())
        })
        .await?;
    Ok(Accepted { accepted: true })
}
