//! Attacks from the security review (issue 12), each replayed against the real server:
//! every test here performed the attack successfully before its fix and now shows it fail.

use aethex_tests::{assert_error_shape, raw, Origin};
use reqwest::Method;
use serde_json::{json, Value};

/// Hole 1: a studio reads or changes only its own players. Any registered user can make
/// an organization and a game; with another game's player id (leaked by a leaderboard or
/// a friend request) the console and privacy routes of their own game answered that
/// player's account row (email, last login, preferences).
#[tokio::test]
async fn a_studio_cannot_reach_players_of_other_games() {
    let origin = Origin::start(&[]);
    let game = origin.game("victim-game").await;
    let evil = origin.game("evil-game").await;
    let url = |p: &str| format!("{}{p}", origin.url);
    let (victim, victim_email, _) = game.email_player().await;
    let uid = victim.user_id().unwrap();
    victim.saves().save("slot1", json!({"gold": 1})).await.unwrap();
    let attacker = evil.developer.token().unwrap();

    // Every route of the attacker's own game that names a player: nothing about the victim.
    let bodies: [(Method, String, Option<Value>); 6] = [
        (Method::GET, format!("/api/v1/games/evil-game/players/{uid}/export"), None),
        (Method::DELETE, format!("/api/v1/games/evil-game/players/{uid}"), None),
        (Method::POST, format!("/api/v1/games/evil-game/players/{uid}/ban"), Some(json!({"reason": "x"}))),
        (Method::DELETE, format!("/api/v1/games/evil-game/players/{uid}/ban"), None),
        (Method::GET, format!("/api/v1/games/evil-game/players/{uid}/saves"), None),
        (Method::GET, format!("/api/v1/games/evil-game/players?q={uid}"), None),
    ];
    for (method, path, body) in bodies {
        let (ct, text) = match &body {
            Some(b) => (Some("application/json"), b.to_string()),
            None => (None, String::new()),
        };
        let (s, e) = raw(method.clone(), &url(&path), Some(&attacker), ct, text).await;
        let answer = e.to_string();
        assert!(!answer.contains(&victim_email), "{method} {path} leaked the email: {answer}");
        if path.ends_with("players?q=") || path.contains("players?q") {
            assert_eq!((s, e["players"].as_array().map(Vec::len)), (200, Some(0)), "{answer}");
        } else {
            assert_eq!(s, 404, "{method} {path}: {answer}");
            assert_error_shape(&e);
        }
    }
    // The victim's data is untouched.
    assert_eq!(victim.saves().load("slot1").await.unwrap().data.unwrap()["gold"], 1);

    // The victim's own studio exports its player's data in the game, but not account-wide
    // fields: the id and username only.
    let owner = game.developer.token().unwrap();
    let (s, doc) = raw(Method::GET, &url(&format!("/api/v1/games/victim-game/players/{uid}/export")), Some(&owner), None, "").await;
    assert_eq!(s, 200, "{doc}");
    let keys: Vec<&str> = doc["account"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "username"], "{doc}");
    assert!(!doc.to_string().contains(&victim_email), "{doc}");
    assert_eq!(doc["save_contents"][0]["save"]["data"]["gold"], 1);
}

/// An attacker's guest account claims the victim's address before the victim does.
async fn pre_hijacked(game: &aethex_tests::GameFixture, victim_email: &str) -> (String, String, aethex_tests::aethex_sdk::AeThexCloud) {
    let device = format!("attacker-device-{}", uuid::Uuid::new_v4().simple());
    let attacker = game.client();
    attacker.auth().login_device(&device).await.unwrap();
    attacker.auth().link_email(victim_email, "attacker-password").await.unwrap();
    (device, attacker.user_id().unwrap(), attacker)
}

/// Hole 2, password reset: a guest links an address it does not own; its owner resets
/// the password. The attacker's device id used to open the account still.
#[tokio::test]
async fn a_password_reset_takes_the_account_back_from_whoever_claimed_the_address() {
    let origin = Origin::start(&[]);
    let game = origin.game("prehijack-game").await;
    let victim_email = "victim.reset@example.com";
    let (device, account, attacker) = pre_hijacked(&game, victim_email).await;
    let attacker_refresh = attacker.refresh_token().unwrap();

    let victim = game.client();
    victim.auth().request_password_reset(victim_email).await.unwrap();
    let code = origin.token_from_outbox(victim_email, "Reset your password").unwrap();
    victim.auth().reset_password(&code, "victims-own-password").await.unwrap();
    let r = victim.auth().login_email(victim_email, "victims-own-password").await.unwrap();
    assert_eq!(r.user_id, account);
    assert!(r.user.is_verified);

    // Nothing the attacker set still opens it: not the device id (it makes a new guest),
    // not the password, not the old refresh token.
    let again = game.client();
    let r = again.auth().login_device(&device).await.unwrap();
    assert_ne!(r.user_id, account, "the attacker's device id still opens the victim's account");
    let err = game.client().auth().login_email(victim_email, "attacker-password").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let (s, _) = raw(
        Method::POST,
        &format!("{}/api/v1/auth/refresh", origin.url),
        None,
        Some("application/json"),
        json!({"refresh_token": attacker_refresh}).to_string(),
    )
    .await;
    assert_eq!(s, 401);
}

/// Hole 2, email verification: the emailed code alone proved nothing about who set the
/// account's password, so an owner who clicked an unexpected verification email made the
/// attacker's account verified (and then linkable by the owner's OAuth login). The code
/// now confirms the address only together with the account: a session of it or its
/// password.
#[tokio::test]
async fn verifying_an_address_needs_the_account_as_well_as_the_code() {
    let origin = Origin::start(&[]);
    let game = origin.game("verify-game").await;
    let url = |p: &str| format!("{}{p}", origin.url);
    let victim_email = "victim.verify@example.com";
    let (_device, account, attacker) = pre_hijacked(&game, victim_email).await;
    let code = origin.token_from_outbox(victim_email, "Confirm your email").unwrap();

    // The owner of the inbox follows the link: a page asking for the account's password,
    // and the code alone (JSON or the page's form) verifies nothing.
    let page = reqwest::get(url(&format!("/api/v1/auth/verify-email?token={code}"))).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"password\"") && html.contains(&code), "{html}");
    let (s, e) = raw(Method::POST, &url("/api/v1/auth/verify-email"), None, Some("application/json"), json!({"token": code}).to_string()).await;
    assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (401, Some("password")));
    let form = reqwest::Client::new()
        .post(url("/api/v1/auth/verify-email/confirm"))
        .form(&[("token", code.as_str()), ("password", "a-guess-of-the-owner")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 401);
    // Signed in to another account does not count either.
    let (other, _, _) = game.email_player().await;
    let (s, _) =
        raw(Method::POST, &url("/api/v1/auth/verify-email"), other.token().as_deref(), Some("application/json"), json!({"token": code}).to_string())
            .await;
    assert_eq!(s, 401);
    let profile = attacker.auth().get_profile().await.unwrap();
    assert!(!profile.is_verified, "the attacker's account must stay unverified");
    assert_eq!(profile.user_id, account);

    // The real owner of an account confirms it either way: signed in, or with the password
    // on the link's page.
    let (owner, owner_email, _) = game.email_player().await;
    let code = origin.token_from_outbox(&owner_email, "Confirm your email").unwrap();
    assert!(owner.auth().verify_email(&code).await.unwrap().is_verified);
    let (_, second_email, second_password) = game.email_player().await;
    let code = origin.token_from_outbox(&second_email, "Confirm your email").unwrap();
    let form = reqwest::Client::new()
        .post(url("/api/v1/auth/verify-email/confirm"))
        .form(&[("token", code.as_str()), ("password", second_password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let r = game.client().auth().login_email(&second_email, &second_password).await.unwrap();
    assert!(r.user.is_verified);
}
