use aethex_sdk::protocol::auth::UpdateProfileRequest;
use aethex_tests::{assert_error_shape, raw, Origin};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn register_login_profile_and_logout() {
    let origin = Origin::start(&[]);
    let game = origin.game("auth-game").await;
    let c = game.client();
    let reg = c.auth().register("Hero@Example.com", "correct horse battery", "Hero_1").await.unwrap();
    assert_eq!(reg.user.email.as_deref(), Some("hero@example.com"));
    assert!(!reg.user.is_verified && !reg.user.is_guest);
    assert_eq!(reg.token_type, "Bearer");
    assert_eq!(reg.expires_in, 900);

    // Wrong password: the seed's error object, 401.
    let err = c.auth().login_email("hero@example.com", "wrong password!").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let e = err.api().unwrap();
    assert_eq!((e.code.0, e.message.as_str(), e.field()), (-32600, "Invalid credentials", Some("password")));
    // Unknown account answers exactly the same.
    let err2 = c.auth().login_email("nobody@example.com", "wrong password!").await.unwrap_err();
    assert_eq!(err2.api().unwrap(), e);

    let login = c.auth().login_email("HERO@example.com", "correct horse battery").await.unwrap();
    assert_eq!(login.user_id, reg.user_id);
    assert_eq!(c.auth().get_current_user().unwrap().username, "Hero_1");

    let p = c
        .auth()
        .update_profile(&UpdateProfileRequest {
            username: Some("Hero_2".into()),
            avatar_url: Some(Some("https://cdn.example.com/a.png".into())),
            preferences: Some(json!({"language": "fr", "volume": 0.5})),
        })
        .await
        .unwrap();
    assert_eq!((p.username.as_str(), p.avatar_url.as_deref()), ("Hero_2", Some("https://cdn.example.com/a.png")));
    assert_eq!(c.auth().get_profile().await.unwrap().preferences["language"], "fr");
    // Clearing the avatar with null.
    let p = c.auth().update_profile(&UpdateProfileRequest { avatar_url: Some(None), ..Default::default() }).await.unwrap();
    assert_eq!(p.avatar_url, None);

    for (body, field) in [
        (json!({"avatar_url": "javascript:alert(1)"}), "avatar_url"),
        (json!({"preferences": [1, 2]}), "preferences"),
        (json!({"username": "x"}), "username"),
        (json!({"preferences": {"blob": "x".repeat(17 * 1024)}}), "preferences"),
    ] {
        let err = c.request::<_, serde_json::Value>(Method::PUT, "/api/v1/auth/profile", Some(&body), true).await.unwrap_err();
        assert_eq!((err.status(), err.api().unwrap().field()), (Some(400), Some(field)), "{body}");
    }

    let token = c.token().unwrap();
    let refresh = c.refresh_token().unwrap();
    assert_eq!(c.auth().logout().await.unwrap().sessions_revoked, 1);
    let (status, body) = raw(Method::GET, &format!("{}/api/v1/auth/profile", origin.url), Some(&token), None, "").await;
    assert_eq!(status, 401);
    assert_eq!(assert_error_shape(&body)["data"]["reason"], "session has ended");
    let (status, _) = raw(
        Method::POST,
        &format!("{}/api/v1/auth/refresh", origin.url),
        None,
        Some("application/json"),
        json!({ "refresh_token": refresh }).to_string(),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let origin = Origin::start(&[]);
    let game = origin.game("refresh-game").await;
    let (c, _, _) = game.email_player().await;
    let first_refresh = c.refresh_token().unwrap();
    let rotated = c.auth().refresh().await.unwrap();
    assert_ne!(rotated.refresh_token, first_refresh);
    let claims_game = c.auth().get_profile().await;
    assert!(claims_game.is_ok());
    let live_token = c.token().unwrap();

    // Replaying the spent token: refused and the whole session is revoked.
    let url = format!("{}/api/v1/auth/refresh", origin.url);
    let (status, body) = raw(Method::POST, &url, None, Some("application/json"), json!({"refresh_token": first_refresh}).to_string()).await;
    assert_eq!(status, 401);
    assert!(assert_error_shape(&body)["data"]["reason"].as_str().unwrap().contains("already used"));
    let (status, _) = raw(Method::POST, &url, None, Some("application/json"), json!({"refresh_token": rotated.refresh_token}).to_string()).await;
    assert_eq!(status, 401, "the newest token of a revoked session must fail too");
    let (status, _) = raw(Method::GET, &format!("{}/api/v1/auth/profile", origin.url), Some(&live_token), None, "").await;
    assert_eq!(status, 401, "access tokens of a revoked session are refused at origin");
}

/// Refresh tokens name their session (`<session id>.<secret>`, kept by session since
/// migration 24); one issued before, kept by its hash alone, still rotates once (into the
/// new form) and its reuse still revokes the session.
#[tokio::test]
async fn refresh_tokens_name_their_session_and_older_ones_still_rotate() {
    let origin = Origin::start(&[]);
    let game = origin.game("refresh-forms").await;
    let c = game.player().await;
    let refresh = c.refresh_token().unwrap();
    let (session, secret) = refresh.split_once('.').expect("<session id>.<secret>");
    assert_eq!(session.len(), 36, "{refresh}");
    assert!(secret.len() >= 43, "32 random bytes: {refresh}");
    // A token in the older form for the same session, as migration 24 found them.
    let legacy = "older-form-refresh-token-0123456789abcdefghijk";
    // The origin's own database: its file, or the libSQL server it runs on.
    let db = origin.database().await;
    let conn = db.connect().unwrap();
    let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
    conn.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES (?1, ?2, '2026-01-01T00:00:00.000Z', '2999-01-01T00:00:00.000Z')",
        libsql::params![blake3::hash(legacy.as_bytes()).to_hex().to_string(), session],
    )
    .await
    .unwrap();
    let url = format!("{}/api/v1/auth/refresh", origin.url);
    let (status, body) = raw(Method::POST, &url, None, Some("application/json"), json!({"refresh_token": legacy}).to_string()).await;
    assert_eq!(status, 200, "{body}");
    let next = body["refresh_token"].as_str().unwrap().to_string();
    assert!(next.starts_with(&format!("{session}.")), "rotated into the new form: {next}");
    // A forged token naming the session with a wrong secret is refused and changes nothing.
    let forged = format!("{session}.{}", "A".repeat(43));
    let (status, _) = raw(Method::POST, &url, None, Some("application/json"), json!({"refresh_token": forged}).to_string()).await;
    assert_eq!(status, 401);
    let (status, body) = raw(Method::POST, &url, None, Some("application/json"), json!({"refresh_token": next}).to_string()).await;
    assert_eq!(status, 200, "the forgery did not spend or revoke anything: {body}");
    let newest = body["refresh_token"].as_str().unwrap().to_string();
    // The older token again: reuse, and the session ends with its newest token.
    let (status, body) = raw(Method::POST, &url, None, Some("application/json"), json!({"refresh_token": legacy}).to_string()).await;
    assert_eq!(status, 401);
    assert!(assert_error_shape(&body)["data"]["reason"].as_str().unwrap().contains("already used"));
    let (status, _) = raw(Method::POST, &url, None, Some("application/json"), json!({"refresh_token": newest}).to_string()).await;
    assert_eq!(status, 401, "the session was revoked");
}

#[tokio::test]
async fn refresh_keeps_the_game_and_concurrent_reuse_is_caught() {
    let origin = Origin::start(&[]);
    let game = origin.game("race-game").await;
    let c = game.player().await;
    let refresh = c.refresh_token().unwrap();
    let url = format!("{}/api/v1/auth/refresh", origin.url);
    let body = json!({ "refresh_token": refresh }).to_string();
    let (a, b) = tokio::join!(
        raw(Method::POST, &url, None, Some("application/json"), body.clone()),
        raw(Method::POST, &url, None, Some("application/json"), body.clone())
    );
    let statuses = [a.0, b.0];
    assert!(statuses.contains(&200) && statuses.contains(&401), "exactly one refresh may win: {statuses:?}");
    let winner = if a.0 == 200 { a.1 } else { b.1 };
    // The winner's new token belongs to a revoked session (reuse was detected).
    let (status, _) = raw(Method::POST, &url, None, Some("application/json"), json!({"refresh_token": winner["refresh_token"]}).to_string()).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn device_login_is_stable_and_links_to_an_email_account() {
    let origin = Origin::start(&[]);
    let game = origin.game("guest-game").await;
    let c = game.client();
    let device = "device-4f1c2a9b8e7d6c5b";
    let first = c.auth().login_device(device).await.unwrap();
    assert!(first.user.is_guest && first.user.email.is_none());
    let again = game.client().auth().login_device(device).await.unwrap();
    assert_eq!(again.user_id, first.user_id);
    c.saves().save("slot1", json!({"level": 3})).await.unwrap();

    let p = c.auth().link_email("linked@example.com", "linked-password").await.unwrap();
    assert!(!p.is_guest);
    assert_eq!(p.email.as_deref(), Some("linked@example.com"));
    let err = c.auth().link_email("other@example.com", "linked-password").await.unwrap_err();
    assert_eq!(err.status(), Some(409));

    let by_email = game.client();
    let r = by_email.auth().login_email("linked@example.com", "linked-password").await.unwrap();
    assert_eq!(r.user_id, first.user_id);
    assert_eq!(by_email.saves().load("slot1").await.unwrap().data.unwrap()["level"], 3);

    // Bad device ids.
    for bad in ["short", "has spaces in it 123456"] {
        let err = game.client().auth().login_device(bad).await.unwrap_err();
        assert_eq!((err.status(), err.api().unwrap().field()), (Some(400), Some("device_id")));
    }
}

/// A returning device's login is one write that finds its user and starts the session:
/// the session is its own user's (its refresh token works), and a player banned from the
/// game gets none, while another game still logs the device in.
#[tokio::test]
async fn device_login_starts_a_session_for_its_own_user_only() {
    let origin = Origin::start(&[]);
    let game = origin.game("device-game").await;
    let other = origin.game("device-other").await;
    let (a, b) = (game.client(), game.client());
    let first = a.auth().login_device("device-one-4f1c2a9b").await.unwrap();
    b.auth().login_device("device-two-7d6c5b4a").await.unwrap();
    let again = game.client();
    let r = again.auth().login_device("device-one-4f1c2a9b").await.unwrap();
    assert_eq!(r.user_id, first.user_id);
    assert_eq!(r.user.username, first.user.username);
    assert_eq!(a.auth().sessions().await.unwrap().len(), 2, "the returning login's session is the device's user's");
    assert_eq!(b.auth().sessions().await.unwrap().len(), 1, "and no one else's");
    again.auth().refresh().await.unwrap();
    assert_eq!(again.user_id().as_deref(), Some(first.user_id.as_str()));

    // Banned from the game: refused, and no session is started.
    let dev = game.developer.token().unwrap();
    let url = format!("{}/api/v1/games/device-game/players/{}/ban", origin.url, first.user_id);
    let (s, e) = raw(Method::POST, &url, Some(&dev), Some("application/json"), r#"{"reason":"cheating"}"#).await;
    assert_eq!(s, 200, "{e}");
    let elsewhere = other.client();
    elsewhere.auth().login_device("device-one-4f1c2a9b").await.unwrap();
    let live = elsewhere.auth().sessions().await.unwrap().len();
    for _ in 0..2 {
        let err = game.client().auth().login_device("device-one-4f1c2a9b").await.unwrap_err();
        assert_eq!(err.status(), Some(403), "{err}");
    }
    assert_eq!(elsewhere.auth().sessions().await.unwrap().len(), live, "a refused login starts no session");
}

#[tokio::test]
async fn logout_all_ends_every_session() {
    let origin = Origin::start(&[]);
    let game = origin.game("logout-game").await;
    let (a, email, password) = game.email_player().await;
    let b = game.client();
    b.auth().login_email(&email, &password).await.unwrap();
    assert_eq!(a.auth().sessions().await.unwrap().len(), 2);
    let b_token = b.token().unwrap();
    assert_eq!(a.auth().logout_all().await.unwrap().sessions_revoked, 2);
    let (status, _) = raw(Method::GET, &format!("{}/api/v1/auth/profile", origin.url), Some(&b_token), None, "").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn email_verification_by_outbox_token() {
    let origin = Origin::start(&[]);
    let c = origin.sdk();
    let r = c.auth().register("verify@example.com", "verify-password", "verifier").await.unwrap();
    assert!(!r.user.is_verified);
    let token = origin.token_from_outbox("verify@example.com", "Confirm your email").expect("verification mail in outbox");
    let p = c.auth().verify_email(&token).await.unwrap();
    assert!(p.is_verified);
    let err = c.auth().verify_email(&token).await.unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(400), Some("token")));
    let err = c.auth().request_email_verification().await.unwrap_err();
    assert_eq!(err.status(), Some(409));
    // The log-free outbox holds the token; the server log never does (checked in ops).
}

#[tokio::test]
async fn password_reset_by_email_ends_old_sessions() {
    let origin = Origin::start(&[]);
    let game = origin.game("reset-game").await;
    let (c, email, password) = game.email_player().await;
    let old_token = c.token().unwrap();
    origin.token_from_outbox(&email, "Confirm your email").expect("verification mail");
    // Unknown address: same answer, no mail.
    c.auth().request_password_reset("nobody@example.com").await.unwrap();
    assert!(c.auth().request_password_reset(&email).await.unwrap().accepted);
    let token = origin.token_from_outbox(&email, "Reset your password").expect("reset mail");
    assert!(!origin.outbox().iter().any(|m| m.contains("To: nobody@example.com")), "no mail to an unknown address");
    let err = c.auth().reset_password(&token, "short").await.unwrap_err();
    assert_eq!(err.api().unwrap().field(), Some("new_password"));
    c.auth().reset_password(&token, "brand-new-password").await.unwrap();
    assert_eq!(c.auth().reset_password(&token, "another-password").await.unwrap_err().status(), Some(400));
    assert_eq!(game.client().auth().login_email(&email, &password).await.unwrap_err().status(), Some(401));
    game.client().auth().login_email(&email, "brand-new-password").await.unwrap();
    let (status, _) = raw(Method::GET, &format!("{}/api/v1/auth/profile", origin.url), Some(&old_token), None, "").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn change_password_keeps_this_session_only() {
    let origin = Origin::start(&[]);
    let game = origin.game("chpw-game").await;
    let (a, email, password) = game.email_player().await;
    let b = game.client();
    b.auth().login_email(&email, &password).await.unwrap();
    let body = json!({"current_password": "not-it-at-all", "new_password": "changed-password"});
    let err = a.request::<_, serde_json::Value>(Method::POST, "/api/v1/auth/password", Some(&body), true).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let body = json!({"current_password": password, "new_password": "changed-password"});
    a.request::<_, serde_json::Value>(Method::POST, "/api/v1/auth/password", Some(&body), true).await.unwrap();
    assert!(a.auth().get_profile().await.is_ok());
    assert_eq!(b.auth().get_profile().await.unwrap_err().status(), Some(401));
    game.client().auth().login_email(&email, "changed-password").await.unwrap();
}

#[tokio::test]
async fn repeated_failures_lock_the_account() {
    let origin = Origin::start(&[("AETHEX_AUTH__MAX_FAILED_LOGINS", "3"), ("AETHEX_AUTH__LOCKOUT_SECS", "600")]);
    let game = origin.game("lock-game").await;
    let (_, email, password) = game.email_player().await;
    let c = game.client();
    for _ in 0..2 {
        assert_eq!(c.auth().login_email(&email, "bad-password-x").await.unwrap_err().status(), Some(401));
    }
    let err = c.auth().login_email(&email, "bad-password-x").await.unwrap_err();
    assert_eq!((err.status(), err.code().map(|c| c.0)), (Some(423), Some(-32023)));
    // Even the right password is refused while locked, with Retry-After.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", origin.url))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 423);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 500 && retry <= 600);
}

#[tokio::test]
async fn an_expired_lock_gives_a_fresh_count() {
    let origin = Origin::start(&[("AETHEX_AUTH__MAX_FAILED_LOGINS", "2"), ("AETHEX_AUTH__LOCKOUT_SECS", "1")]);
    let game = origin.game("relock-game").await;
    let (_, email, password) = game.email_player().await;
    let c = game.client();
    assert_eq!(c.auth().login_email(&email, "bad-password-x").await.unwrap_err().status(), Some(401));
    assert_eq!(c.auth().login_email(&email, "bad-password-x").await.unwrap_err().status(), Some(423));
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    // One mistake after the lock expired is one mistake, not a new lock...
    assert_eq!(c.auth().login_email(&email, "bad-password-x").await.unwrap_err().status(), Some(401));
    // ...and the right password still works.
    c.auth().login_email(&email, &password).await.expect("login after the lock expired");
}

#[tokio::test]
async fn auth_routes_are_rate_limited_per_ip_and_per_account() {
    let origin = Origin::start(&[("AETHEX_AUTH__RATE_LIMIT_PER_IP_PER_MINUTE", "8"), ("AETHEX_AUTH__RATE_LIMIT_PER_ACCOUNT_PER_MINUTE", "3")]);
    let c = origin.sdk();
    // Per account: the 4th attempt on one email is limited.
    for _ in 0..3 {
        assert_eq!(c.auth().login_email("target@example.com", "guess-guess").await.unwrap_err().status(), Some(401));
    }
    let err = c.auth().login_email("target@example.com", "guess-guess").await.unwrap_err();
    assert_eq!((err.status(), err.code().map(|c| c.0)), (Some(429), Some(-32029)));
    // Per IP: other accounts from the same address run out too.
    let mut limited = false;
    for i in 0..8 {
        let e = c.auth().login_email(&format!("other{i}@example.com"), "guess-guess").await.unwrap_err();
        if e.status() == Some(429) {
            limited = true;
            break;
        }
    }
    assert!(limited, "per-IP limit never hit");
}

#[tokio::test]
async fn registration_validates_and_rejects_duplicates() {
    let origin = Origin::start(&[]);
    let c = origin.sdk();
    for (email, pw, user, field) in [
        ("not-an-email", "long-enough-pw", "valid_name", "email"),
        ("a@b", "long-enough-pw", "valid_name", "email"),
        ("ok@example.com", "short", "valid_name", "password"),
        ("ok@example.com", "long-enough-pw", "x", "username"),
        ("ok@example.com", "long-enough-pw", "bad name!", "username"),
    ] {
        let err = c.auth().register(email, pw, user).await.unwrap_err();
        assert_eq!((err.status(), err.code().map(|c| c.0), err.api().unwrap().field()), (Some(400), Some(-32602), Some(field)));
    }
    c.auth().register("dup@example.com", "long-enough-pw", "Taken").await.unwrap();
    let err = origin.sdk().auth().register("DUP@example.com", "long-enough-pw", "Other").await.unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(409), Some("email")));
    let err = origin.sdk().auth().register("new@example.com", "long-enough-pw", "taken").await.unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(409), Some("username")));
}

#[tokio::test]
async fn client_keys_pick_the_game() {
    let origin = Origin::start(&[]);
    let err = origin.sdk().with_client_key("aethex_ck_unknown").auth().login_device("device-aaaaaaaaaaaaaaaa").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let strict = Origin::start(&[("AETHEX_AUTH__REQUIRE_CLIENT_KEY", "true")]);
    let err = strict.sdk().auth().login_device("device-aaaaaaaaaaaaaaaa").await.unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(400), Some("x-aethex-client-key")));
}

/// Stands in for Turnstile/hCaptcha's `siteverify` (a third-party service): success only
/// for the response "pass-token".
async fn siteverify_stub() -> String {
    use axum::routing::post;
    async fn verify(axum::Form(f): axum::Form<std::collections::HashMap<String, String>>) -> axum::Json<serde_json::Value> {
        let ok = f.get("secret").map(String::as_str) == Some("captcha-secret") && f.get("response").map(String::as_str) == Some("pass-token");
        axum::Json(json!({ "success": ok }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/siteverify", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/siteverify", post(verify))).await });
    url
}

#[tokio::test]
async fn captcha_hook_guards_registration() {
    let url = siteverify_stub().await;
    let origin = Origin::start(&[("AETHEX_AUTH__CAPTCHA__SITEVERIFY_URL", &url), ("AETHEX_AUTH__CAPTCHA__SECRET", "captcha-secret")]);
    use aethex_sdk::protocol::auth::RegisterRequest;
    let req = |token: Option<&str>| RegisterRequest {
        email: "human@example.com".into(),
        password: "long-enough-pw".into(),
        username: "human".into(),
        captcha_token: token.map(str::to_string),
    };
    let err = origin.sdk().auth().register_with(req(None)).await.unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(403), Some("captcha_token")));
    let err = origin.sdk().auth().register_with(req(Some("bot-token"))).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    origin.sdk().auth().register_with(req(Some("pass-token"))).await.unwrap();
}
