//! The web console end to end: real data put into a real origin (and a relay with a live
//! room), then tests/console/run.mjs signs in with headless Chromium (playwright-core),
//! clicks through every page (games and keys, players with saves, GDPR export and a ban,
//! leaderboards, achievements and statistics, DLC releases with a rollback, regions and
//! live rooms, analytics charts, funnels, crash groups, A/B results, the audit log),
//! checks the data on each and saves a screenshot of each page.

use std::process::Command;

use aethex_protocol::multiplayer::{Encoding, RoomOptions};
use aethex_tests::relays::Relay;
use aethex_tests::Origin;
use serde_json::json;

#[tokio::test]
async fn the_console_shows_real_data_on_every_page() {
    let origin = Origin::start(&[]);
    let relay = Relay::start(&origin, "eu-west", &[]);
    relay.wait_registered(&origin).await;
    let game = origin.game("console-game").await;
    let dev = game.developer.token().unwrap();
    let http = reqwest::Client::new();
    let api = |p: &str| format!("{}{p}", origin.url);
    let send = |m: reqwest::Method, p: &str, body: serde_json::Value| {
        let (req, dev) = (http.request(m, api(p)), dev.clone());
        async move {
            let r = req.bearer_auth(dev).json(&body).send().await.unwrap();
            let s = r.status();
            assert!(s.is_success(), "{s}: {}", r.text().await.unwrap_or_default());
        }
    };
    send(reqwest::Method::POST, "/api/v1/games/console-game/leaderboards", json!({"leaderboard_id": "high_scores", "name": "High scores"})).await;
    send(reqwest::Method::PUT, "/api/v1/games/console-game/achievements/first_blood", json!({"name": "First blood", "description": "Win once"}))
        .await;
    let ab = json!({"variants": [{"name": "control", "weight": 1}, {"name": "big_button", "weight": 1}], "conversion_event": "purchase"});
    send(reqwest::Method::PUT, "/api/v1/games/console-game/experiments/shop-button", ab).await;

    // Two players: scores, a save, statistics, analytics with a funnel, a crash, an exposure.
    let device = format!("console-device-{}", uuid::Uuid::new_v4().simple());
    let p1 = game.client();
    p1.auth().login_device(&device).await.unwrap();
    let p2 = game.player().await;
    p1.social().leaderboards().submit_score("high_scores", 500).await.unwrap();
    p2.social().leaderboards().submit_score("high_scores", 900).await.unwrap();
    p1.saves().save("slot1", json!({"level": 7})).await.unwrap();
    p1.social().stats().increment("kills", 3).await.unwrap();
    for p in [&p1, &p2] {
        p.analytics().set_consent(true).await.unwrap();
        for e in ["tutorial_start", "tutorial_done", "level_completed"] {
            p.analytics().track_event(e, json!({}));
        }
        p.analytics().flush().await.unwrap();
    }
    let stack = "at Player.gd:42 in _physics_process\nat Main.gd:10 in _process";
    p1.analytics().report_crash("1.2.0", stack, Some("boom"), None).await.unwrap();
    let variant = p1.analytics().experiment_variant("shop-button").await.unwrap().unwrap();
    p1.analytics().flush().await.unwrap();
    // DLC: two releases on stable.
    let publisher = aethex_tests::dlc::Publisher::new(&game).await;
    let tree = tempfile::tempdir().unwrap();
    aethex_tests::dlc::write_tree(tree.path(), 3);
    publisher.publish(tree.path(), "1.0.0", "stable", None).await;
    aethex_tests::dlc::edit_tree(tree.path());
    publisher.publish(tree.path(), "1.1.0", "stable", None).await;
    // A live private room on the relay.
    let mut session = p2.multiplayer().connect(&relay.url.replacen("http://", "ws://", 1), Encoding::Json).await.unwrap();
    let joined = session.create_room(RoomOptions { max_players: 4, password: None, properties: Default::default() }, json!({})).await.unwrap();
    let code = match joined {
        aethex_protocol::multiplayer::ServerMessage::RoomJoined { code, .. } => code.expect("a private room has a code"),
        other => panic!("{other:?}"),
    };

    let name = |p: &aethex_tests::aethex_sdk::AeThexCloud| p.auth().get_current_user().unwrap().username;
    let expect = json!({
        "url": origin.url, "email": game.developer_email, "password": "developer-password", "game": "console-game",
        "board": "high_scores", "top_username": name(&p2), "top_score": 900, "player_username": name(&p1), "slot": "slot1",
        "achievement": "First blood", "stat": "kills", "event_type": "level_completed", "active_players": 2,
        "funnel": ["tutorial_start", "tutorial_done", "level_completed"], "crash_title": "at Player.gd:42 in _physics_process",
        "variant": variant, "release": "1.1.0", "old_release": "1.0.0", "region": "eu-west", "room_code": code,
    });
    let shots = std::path::PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())).join("console-screenshots");
    let tools =
        std::env::var("AETHEX_WEB_TOOLS").unwrap_or_else(|_| format!("{}/.cache/aethex-tools/npm-web", std::env::var("HOME").unwrap_or_default()));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/console/run.mjs");
    let shots_dir = shots.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("AETHEX_CONSOLE_EXPECT", expect.to_string())
            .env("AETHEX_WEB_TOOLS", tools)
            .env("AETHEX_CONSOLE_SHOTS", &shots_dir)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs tests/console/run.mjs (scripts/test-all.sh installs playwright-core and Chromium)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}\nscreenshots: {}", String::from_utf8_lossy(&out.stderr), shots.display());
    let last = stdout.lines().rev().find(|l| l.ends_with(" failed")).unwrap_or("");
    assert!(out.status.success(), "the console suite failed: {last}");
    let passed: u32 = last.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(passed >= 25 && last.ends_with(" 0 failed"), "{last}");
    assert!(std::fs::read_dir(&shots).map(|d| d.count()).unwrap_or(0) >= 9, "a screenshot per page");

    // The erasure made in the console holds: the top player's score is gone.
    let (_, board) =
        aethex_tests::raw(reqwest::Method::GET, &api("/api/v1/games/console-game/leaderboards/high_scores/entries"), Some(&dev), None, "").await;
    assert_eq!(board["entries"].as_array().map(|e| e.len()), Some(1), "{board}");
    // The ban made in the console holds: the player gets no new token for the game.
    let again = game.client();
    let err = again.auth().login_device(&device).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    drop(session);
}

/// The console's developer routes refuse what they should: players and other games'
/// developers, bad input and limits; a ban also stops token refreshes; the audit log names
/// who did what; the console's own files are served with a strict CSP.
#[tokio::test]
async fn console_routes_check_roles_input_and_bans() {
    use aethex_tests::{assert_error_shape, raw};
    use reqwest::Method;
    let origin = Origin::start(&[]);
    let game = origin.game("guarded-game").await;
    let other = origin.game("other-game").await;
    let dev = game.developer.token().unwrap();
    let stranger = other.developer.token().unwrap();
    let base = origin.url.clone();
    let url = |p: &str| format!("{base}/api/v1/games/guarded-game{p}");
    let p = game.client();
    p.auth().login_device("guarded-device-1").await.unwrap();
    let pid = p.user_id().unwrap();
    let player = p.token().unwrap();
    for path in ["/players", "/rooms", "/experiments", "/audit", &format!("/players/{pid}/saves")] {
        for (who, token) in [("another game's developer", &stranger), ("a player", &player)] {
            let (s, e) = raw(Method::GET, &url(path), Some(token), None, "").await;
            assert!(s == 403 || s == 404, "{who} on {path}: {s} {e}");
            assert_error_shape(&e);
        }
        let (s, _) = raw(Method::GET, &url(path), None, None, "").await;
        assert_eq!(s, 401, "{path} without a token");
    }
    for (path, field) in
        [("/players?limit=0", "limit"), ("/players?limit=201", "limit"), ("/audit?before=x", "before"), ("/players?bogus=1", "query")]
    {
        let (s, e) = raw(Method::GET, &url(path), Some(&dev), None, "").await;
        assert_eq!(s, 400, "{path}: {e}");
        if field != "query" {
            assert_eq!(assert_error_shape(&e)["data"]["field"].as_str(), Some(field), "{path}");
        }
    }
    let long_q = "q".repeat(101);
    assert_eq!(raw(Method::GET, &url(&format!("/players?q={long_q}")), Some(&dev), None, "").await.0, 400);
    let (s, _) = raw(Method::GET, &url("/leaderboards/nope/entries"), Some(&dev), None, "").await;
    assert_eq!(s, 404);
    // Bans: a reason is needed, only players of the game, unban what is banned.
    let ban = |who: String, body: &'static str| {
        let u = url(&format!("/players/{who}/ban"));
        let d = dev.clone();
        async move { raw(Method::POST, &u, Some(&d), Some("application/json"), body).await }
    };
    assert_eq!(ban(pid.clone(), r#"{"reason":""}"#).await.0, 400);
    assert_eq!(ban(pid.clone(), r#"{}"#).await.0, 400);
    assert_eq!(ban(uuid::Uuid::new_v4().to_string(), r#"{"reason":"cheating"}"#).await.0, 404);
    let (s, e) = raw(Method::DELETE, &url(&format!("/players/{pid}/ban")), Some(&dev), None, "").await;
    assert_eq!(s, 404, "not banned yet: {e}");
    assert_eq!(ban(pid.clone(), r#"{"reason":"cheating"}"#).await.0, 200);
    // The banned player's refresh and new logins are refused; the session is revoked.
    let refresh = p.refresh_token().unwrap();
    let (s, _) =
        raw(Method::POST, &format!("{base}/api/v1/auth/refresh"), None, Some("application/json"), json!({"refresh_token": refresh}).to_string())
            .await;
    assert!(s == 401 || s == 403, "refresh after a ban: {s}");
    let again = game.client();
    assert_eq!(again.auth().login_device("guarded-device-1").await.unwrap_err().status(), Some(403));
    // Another game is not affected.
    let elsewhere = other.client();
    elsewhere.auth().login_device("guarded-device-1").await.unwrap();
    let (s, _) = raw(Method::DELETE, &url(&format!("/players/{pid}/ban")), Some(&dev), None, "").await;
    assert_eq!(s, 204);
    again.auth().login_device("guarded-device-1").await.unwrap();
    // The audit log names the developer and the actions, newest first.
    let (s, log) = raw(Method::GET, &url("/audit"), Some(&dev), None, "").await;
    assert_eq!(s, 200, "{log}");
    let entries = log["entries"].as_array().unwrap();
    let dev_name = game.developer.auth().get_current_user().unwrap().username;
    assert_eq!(entries[0]["method"].as_str(), Some("DELETE"), "{log}");
    assert!(
        entries.iter().any(|e| e["method"] == "POST" && e["path"].as_str().unwrap().ends_with("/ban") && e["actor_name"] == dev_name.as_str()),
        "{log}"
    );
    assert!(!entries.iter().any(|e| e["status"].as_i64().unwrap_or(0) >= 400), "refused requests are not logged: {log}");
    // The console's files.
    let resp = reqwest::get(format!("{base}/console")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    for f in ["app.js", "style.css", "vendor/preact.module.js", "vendor/hooks.module.js", "vendor/htm.module.js", "vendor/uPlot.esm.js"] {
        let r = reqwest::get(format!("{base}/console/{f}")).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{f}");
        assert!(!r.text().await.unwrap().starts_with("/* not built"), "{f} was built from npm");
    }
    assert_eq!(reqwest::get(format!("{base}/console/../Cargo.toml")).await.unwrap().status().as_u16(), 404);
    assert_eq!(reqwest::get(format!("{base}/console/nope.js")).await.unwrap().status().as_u16(), 404);
}
