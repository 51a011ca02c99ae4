//! The Godot 4 addon (`sdk/godot/addons/aethex_cloud`) on a real Godot 4.6 engine: the
//! web runtime in headless Chromium (tests/godot/run.mjs), two copies of the test
//! project against a real origin and relay on 127.0.0.1. Copy "a" registers, logs in
//! (and fails with a wrong password), has its token refreshed, saves and loads, meets a
//! save conflict and merges it, submits and reads scores, unlocks an achievement, sends
//! analytics through its offline queue; both copies queue, match, join the room and
//! exchange state and an RPC. The browser needs CORS from origin: the default allows it.

use std::process::Command;

use aethex_tests::relays::Relay;
use aethex_tests::Origin;
use serde_json::json;

#[tokio::test]
async fn the_godot_addon_passes_its_suite_on_the_web_runtime() {
    // Two relays serve the region; the test kills the one the match is on (through the
    // control route below) and both copies follow the match to the other.
    let origin = Origin::start(&[("AETHEX_EDGE__REGION_TTL_SECS", "2")]);
    let region_url = [("AETHEX_RELAY__REGION_URL", "ws://127.0.0.1:9")];
    let relays = vec![Relay::start(&origin, "local", &region_url), Relay::start(&origin, "local", &region_url)];
    for r in &relays {
        r.wait_registered(&origin).await;
    }
    let relays = std::sync::Arc::new(std::sync::Mutex::new(relays));
    let control = control_server(relays.clone()).await;
    let game = origin.game("godot-game").await;
    let dev = game.developer.token().unwrap();
    let http = reqwest::Client::new();
    let api = |p: &str| format!("{}{p}", origin.url);
    let ok = |r: reqwest::Response| async move {
        let s = r.status();
        assert!(s.is_success(), "{s}: {}", r.text().await.unwrap_or_default());
    };
    ok(http
        .post(api("/api/v1/games/godot-game/leaderboards"))
        .bearer_auth(&dev)
        .json(&json!({"leaderboard_id": "high_scores", "name": "High scores"}))
        .send()
        .await
        .unwrap())
    .await;
    ok(http
        .put(api("/api/v1/games/godot-game/matchmaking/modes/duel"))
        .bearer_auth(&dev)
        .json(&json!({"match_size": 2, "max_wait_secs": 120}))
        .send()
        .await
        .unwrap())
    .await;
    ok(http
        .put(api("/api/v1/games/godot-game/achievements/first_win"))
        .bearer_auth(&dev)
        .json(&json!({"name": "First win", "description": "Win a match"}))
        .send()
        .await
        .unwrap())
    .await;
    // The example game logic (scores above 10,000,000 refused; RPC `inventory`).
    ok(http
        .post(api("/api/v1/games/godot-game/logic"))
        .bearer_auth(&dev)
        .header("content-type", "application/wasm")
        .body(aethex_tests::logic::component("example"))
        .send()
        .await
        .unwrap())
    .await;
    let config = json!({
        "api": origin.url, "client_key": game.client_key, "game_id": "godot-game", "board": "high_scores",
        "mode": "duel", "achievement": "first_win", "run_id": uuid::Uuid::new_v4().simple().to_string(), "control": control,
    });
    let tools =
        std::env::var("AETHEX_WEB_TOOLS").unwrap_or_else(|_| format!("{}/.cache/aethex-tools/npm-web", std::env::var("HOME").unwrap_or_default()));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/godot/run.mjs");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(script).env("AETHEX_GODOT_CONFIG", config.to_string()).env("AETHEX_WEB_TOOLS", tools).output()
    })
    .await
    .unwrap()
    .expect("node runs tests/godot/run.mjs (scripts/test-all.sh installs its npm packages and Chromium)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    let summary = |role: &str| {
        stdout.lines().find_map(|l| {
            let rest = l.strip_prefix(&format!("role {role}: "))?;
            let mut it = rest.split(' ');
            Some((it.next()?.parse::<u32>().ok()?, it.nth(1)?.parse::<u32>().ok()?))
        })
    };
    let (a, b) = (summary("a"), summary("b"));
    assert!(out.status.success(), "the Godot suite failed: a {a:?}, b {b:?}");
    assert!(a.is_some_and(|(p, f)| p >= 25 && f == 0), "client a: {a:?}");
    assert!(b.is_some_and(|(p, f)| p >= 7 && f == 0), "client b: {b:?}");
    drop(relays);
}

/// `GET /kill-relay?port=P` kills (SIGKILL) the relay listening on port P: the Godot page
/// calls it to take its match's relay away. CORS open (the page is on another origin).
async fn control_server(relays: std::sync::Arc<std::sync::Mutex<Vec<Relay>>>) -> String {
    use axum::extract::{Query, State};
    type Relays = std::sync::Arc<std::sync::Mutex<Vec<Relay>>>;
    async fn kill(State(relays): State<Relays>, Query(q): Query<std::collections::HashMap<String, String>>) -> impl axum::response::IntoResponse {
        let port = q.get("port").cloned().unwrap_or_default();
        let mut relays = relays.lock().unwrap();
        let killed = relays.iter_mut().filter(|r| r.url.ends_with(&format!(":{port}"))).map(|r| r.kill()).count();
        ([("access-control-allow-origin", "*")], format!("{killed}"))
    }
    let app = axum::Router::new().route("/kill-relay", axum::routing::get(kill)).with_state(relays);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}
