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

    // The ban made in the console holds: the player gets no new token for the game.
    let again = game.client();
    let err = again.auth().login_device(&device).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    drop(session);
}
