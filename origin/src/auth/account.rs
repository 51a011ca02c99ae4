//! The account: registration, profile, email linking and verification, password reset
//! and change. Called by REST routes and by JSON-RPC alike; knows nothing of HTTP.

use aethex_protocol::auth::{
    Accepted, ChangePasswordRequest, LinkEmailRequest, LoginResponse, PasswordResetConfirm, PasswordResetRequest, Profile, RegisterRequest,
    UpdateProfileRequest, VerifyEmailRequest,
};
use aethex_protocol::validate::{parse_http_url, Email, Invalid, Password, Username};

use super::email::OutgoingEmail;
use super::sessions::{login_response, profile_of, resolve_game, start_session, verify_captcha};
use super::store::{self, NewUser, UserRow};
use super::{unique_error, AuthError, AuthResult};
use crate::auth::caller::{ClientInfo, Player};
use crate::crypto::{hash_secret, random_token};
use crate::state::AppState;

const KIND_VERIFY: &str = "verify_email";

const KIND_RESET: &str = "password_reset";

const MAX_PREFERENCES_BYTES: usize = 16 * 1024;

async fn load_user(app: &AppState, user_id: &str) -> AuthResult<UserRow> {
    store::user_by_id(&*app.db.reader().await, user_id).await?.ok_or(AuthError::NotFound("user"))
}

async fn hash_password(app: &AppState, password: &Password) -> AuthResult<String> {
    app.passwords.hash(password.expose().to_string()).await.map_err(AuthError::Internal)
}

pub async fn register(app: &AppState, req: RegisterRequest, client: &ClientInfo) -> AuthResult<LoginResponse> {
    app.limits.check_ip(client.ip).await?;
    let email = Email::parse(&req.email)?;
    let username = Username::parse(&req.username)?;
    let password = Password::parse(&req.password)?;
    let game = resolve_game(app, client).await?;
    verify_captcha(app, req.captcha_token.as_deref(), client).await?;
    // Cheap checks first, so a taken name costs no password hash.
    if store::user_by_email(&*app.db.reader().await, email.as_str()).await?.is_some() {
        return Err(AuthError::EmailTaken);
    }
    if store::username_taken(&*app.db.reader().await, username.as_str(), None).await? {
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
            let (sid, refresh) = start_session(&a, &c, &user.id, g.as_deref(), &cl).await?;
            Ok::<_, AuthError>((user, sid, refresh))
        })
        .await?;
    metrics::counter!("aethex_registrations_total").increment(1);
    send_verification(app, &user).await;
    login_response(app, &user, game.as_deref(), &session_id, refresh).await
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
    if store::user_by_email(&*app.db.reader().await, email.as_str()).await?.is_some() {
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
    app.limits.check_account(&player.user_id).await?;
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
    app.limits.check_ip(client.ip).await?;
    if req.token.is_empty() || req.token.len() > 256 {
        return Err(AuthError::EmailTokenInvalid);
    }
    let th = hash_secret(&req.token);
    let (user_id, _) = store::peek_email_token(&*app.db.reader().await, &th, KIND_VERIFY).await?.ok_or(AuthError::EmailTokenInvalid)?;
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
    app.limits.check_ip(client.ip).await?;
    let email = Email::parse(&req.email)?;
    app.limits.check_account(email.as_str()).await?;
    let a = app.clone();
    tokio::spawn(async move {
        if let Err(e) = send_password_reset(&a, &email).await {
            tracing::error!(error = %e, "could not make a password reset code");
        }
    });
    Ok(Accepted { accepted: true })
}

async fn send_password_reset(app: &AppState, email: &Email) -> AuthResult<()> {
    if let Some(user) = store::user_by_email(&*app.db.reader().await, email.as_str()).await? {
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
    app.limits.check_ip(client.ip).await?;
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
    app.limits.check_account(&player.user_id).await?;
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
