//! Game logic as WebAssembly components (issue 15): deploying, versions and rollback; the
//! example component's hooks (scores capped and impossible ones refused, saves checked by the
//! game's checksum rule), custom RPCs with key-value storage, after-events; hostile
//! components stopped with clear errors while other games keep working; hot swap under load;
//! authoritative rooms at a relay.

use std::time::Duration;

use aethex_protocol::multiplayer::{Encoding, RoomOptions, ServerMessage};
use aethex_sdk::RoomSession;
use aethex_tests::logic::component;
use aethex_tests::relays::Relay;
use aethex_tests::{assert_error_shape, raw, GameFixture, Origin};
use reqwest::Method;
use serde_json::{json, Map, Value};

/// The example's save rule (sdk/logic/example: `save_check`).
fn save_check(gold: i64) -> i64 {
    gold.wrapping_mul(7919).wrapping_add(17).rem_euclid(1_000_003)
}

/// A player of a game of their own (another tenant), by id.
async fn stranger_id(origin: &Origin) -> String {
    let other = origin.game(&format!("stranger-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).await;
    other.player().await.user_id().unwrap()
}

async fn server_key(game: &GameFixture) -> String {
    let path = format!("/api/v1/games/{}/server-keys", game.game_id);
    let created: Value = game.developer.request(Method::POST, &path, Some(&json!({"name": "servers"})), true).await.expect("server key");
    created["key"].as_str().expect("key").to_string()
}

async fn deploy(origin: &Origin, game: &str, token: &str, wasm: Vec<u8>) -> (u16, Value) {
    raw(Method::POST, &format!("{}/api/v1/games/{game}/logic", origin.url), Some(token), Some("application/wasm"), wasm).await
}

async fn board(game: &GameFixture, id: &str) {
    let path = format!("/api/v1/games/{}/leaderboards", game.game_id);
    let _: Value = game.developer.request(Method::POST, &path, Some(&json!({"leaderboard_id": id, "name": id})), true).await.expect("board");
}

async fn submit(origin: &Origin, token: &str, board: &str, score: i64) -> (u16, Value) {
    let url = format!("{}/api/v1/leaderboards/{board}/scores", origin.url);
    raw(Method::POST, &url, Some(token), Some("application/json"), json!({"score": score}).to_string()).await
}

async fn save(origin: &Origin, token: &str, slot: &str, data: Value) -> (u16, Value) {
    let url = format!("{}/api/v1/saves/me", origin.url);
    raw(Method::POST, &url, Some(token), Some("application/json"), json!({"slot_name": slot, "data": data}).to_string()).await
}

async fn rpc(origin: &Origin, game: &str, token: &str, name: &str, payload: Value) -> (u16, Value) {
    let url = format!("{}/api/v1/games/{game}/rpc/{name}", origin.url);
    raw(Method::POST, &url, Some(token), Some("application/json"), payload.to_string()).await
}

#[tokio::test]
async fn the_example_component_caps_scores_checks_saves_and_keeps_an_inventory() {
    let origin = Origin::start(&[]);
    let game = origin.game("logic-game").await;
    let key = server_key(&game).await;
    board(&game, "arena").await;

    let (s, v) = deploy(&origin, "logic-game", &key, component("example")).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["version"], 1);
    assert_eq!(v["active"], true);
    assert_eq!(
        v["registration"],
        json!({"hooks": ["before_save", "before_score", "after_events"], "rpcs": ["inventory", "whoami", "events", "note", "profile", "reward"], "rooms": true})
    );

    let p = game.player().await;
    let token = p.token().unwrap();

    // Scores: accepted, capped, refused.
    let (s, v) = submit(&origin, &token, "arena", 500).await;
    assert_eq!((s, &v["entry"]["score"]), (200, &json!(500)), "{v}");
    let (s, v) = submit(&origin, &token, "arena", 2_000_000).await;
    assert_eq!((s, &v["entry"]["score"]), (200, &json!(1_000_000)), "capped: {v}");
    for impossible in [99_000_000, -5] {
        let (s, e) = submit(&origin, &token, "arena", impossible).await;
        let err = assert_error_shape(&e);
        assert_eq!((s, err["code"].as_i64()), (403, Some(-32003)), "{e}");
        assert_eq!(err["data"]["reason"], format!("impossible score {impossible}"), "{e}");
        assert_eq!(err["data"]["hook"], "before_score", "{e}");
    }
    // Through the Rust SDK, the refusal is the error object with the hook's reason.
    let refused = p.leaderboards().submit_score("arena", 50_000_000).await.expect_err("refused");
    assert_eq!(
        (refused.status(), refused.api().and_then(|e| e.data.as_ref()?.reason.clone())),
        (Some(403), Some("impossible score 50000000".into()))
    );
    let page = p.leaderboards().get("arena", 10).await.unwrap();
    assert_eq!(page.entries[0].score, 1_000_000, "refused scores left the entry alone");

    // Saves: the checksum rule.
    let (s, v) = save(&origin, &token, "main", json!({"gold": 120, "check": save_check(120)})).await;
    assert_eq!(s, 200, "{v}");
    let (s, e) = save(&origin, &token, "main", json!({"gold": 99999, "check": 1})).await;
    assert_eq!((s, assert_error_shape(&e)["data"]["reason"].as_str()), (403, Some("the save failed the game's checksum rule")), "{e}");
    let loaded = p.saves().load("main").await.unwrap();
    assert_eq!((loaded.metadata.version, &loaded.data), (1, &Some(json!({"gold": 120, "check": save_check(120)}))), "the refused save wrote nothing");
    let (s, _) = save(&origin, &token, "notes", json!({"text": "no gold here"})).await;
    assert_eq!(s, 200, "saves the rule does not cover");

    // Custom RPCs: REST, JSON-RPC and the SDK share one inventory in key-value storage.
    let (s, v) = rpc(&origin, "logic-game", &token, "inventory", json!({"add": {"sword": 2}})).await;
    assert_eq!((s, &v["items"]), (200, &json!({"sword": 2})), "{v}");
    let v = p.logic().rpc("inventory", json!({"add": {"sword": 3, "shield": 1}})).await.unwrap();
    assert_eq!(v["items"], json!({"sword": 5, "shield": 1}));
    let v = p.logic().rpc("inventory", Value::Null).await.unwrap();
    assert_eq!(v["user_id"], p.user_id().unwrap());
    let e = p.logic().rpc("inventory", json!({"add": {"sword": 5000}})).await.expect_err("too many");
    assert_eq!((e.status(), e.api().and_then(|e| e.data.as_ref()?.reason.clone())), (Some(400), Some("sword: add 1 to 1000".into())));
    // Another player has an inventory of their own.
    let q = game.player().await;
    assert_eq!(q.logic().rpc("inventory", Value::Null).await.unwrap()["items"], json!({}));
    // Concurrent adds lose nothing (compare-and-set in the component).
    let adds = (0..8).map(|_| {
        let q = q.clone();
        async move { q.logic().rpc("inventory", json!({"add": {"gem": 1}})).await }
    });
    for r in futures::future::join_all(adds).await {
        r.expect("add");
    }
    assert_eq!(q.logic().rpc("inventory", Value::Null).await.unwrap()["items"], json!({"gem": 8}));

    // The caller's identity reaches the component: a player, or the server key's id.
    let who = p.logic().rpc("whoami", Value::Null).await.unwrap();
    assert_eq!(who, json!({"game_id": "logic-game", "caller": {"player": p.user_id().unwrap()}}));
    let (s, who) = rpc(&origin, "logic-game", &key, "whoami", Value::Null).await;
    assert_eq!(s, 200);
    assert!(who["caller"]["server"].is_string(), "{who}");
    let (s, v) = rpc(&origin, "logic-game", &key, "inventory", json!({"user_id": q.user_id().unwrap()})).await;
    assert_eq!((s, &v["items"]), (200, &json!({"gem": 8})), "a server reads a player's inventory: {v}");

    // Every host function: set, read and delete a key; a profile and statistics; a score
    // and an achievement as the server.
    assert_eq!(p.logic().rpc("note", json!({"set": "hello"})).await.unwrap(), json!({"note": "hello"}));
    assert_eq!(p.logic().rpc("note", Value::Null).await.unwrap(), json!({"note": "hello"}));
    assert_eq!(q.logic().rpc("note", Value::Null).await.unwrap(), json!({"note": null}), "keys are per player in this component");
    assert_eq!(p.logic().rpc("note", json!({"delete": true})).await.unwrap(), json!({"deleted": true}));
    assert_eq!(p.logic().rpc("note", json!({"delete": true})).await.unwrap(), json!({"deleted": false}));
    assert_eq!(p.logic().rpc("note", Value::Null).await.unwrap(), json!({"note": null}));
    let e = p.logic().rpc("note", json!({"set": "x".repeat(1000), "times": 70})).await.expect_err("value too large");
    assert!(e.api().and_then(|e| e.data.as_ref()?.reason.clone()).unwrap_or_default().contains("at most 65536 bytes"), "{e}");
    let (s, v) = raw(Method::POST, &format!("{}/api/v1/stats", origin.url), Some(&token), Some("application/json"), r#"{"set":{"kills":7}}"#).await;
    assert_eq!(s, 200, "{v}");
    let me = p.logic().rpc("profile", Value::Null).await.unwrap();
    assert_eq!((&me["profile"]["user_id"], &me["stats"]), (&json!(p.user_id().unwrap()), &json!({"kills": 7.0})), "{me}");
    assert!(me["profile"]["username"].is_string(), "{me}");
    let stranger = stranger_id(&origin).await;
    let (s, e) = rpc(&origin, "logic-game", &key, "profile", json!({"user_id": stranger})).await;
    let reason = format!("\"{stranger}\" is not a player of this game");
    assert_eq!((s, assert_error_shape(&e)["data"]["reason"].as_str()), (400, Some(reason.as_str())), "another game's player is unknown here");
    let _: Value = game
        .developer
        .request(Method::PUT, "/api/v1/games/logic-game/achievements/champion", Some(&json!({"name": "Champion", "description": "Rewarded"})), true)
        .await
        .unwrap();
    let reward = json!({"user_id": q.user_id().unwrap(), "board": "arena", "score": 777, "achievement": "champion"});
    let (s, v) = rpc(&origin, "logic-game", &key, "reward", reward.clone()).await;
    assert_eq!((s, v), (200, json!({"score": 777, "newly_unlocked": true})));
    let (s, v) = rpc(&origin, "logic-game", &key, "reward", reward).await;
    assert_eq!((s, &v["newly_unlocked"]), (200, &json!(false)), "{v}");
    let page = q.leaderboards().get("arena", 10).await.unwrap();
    assert!(page.entries.iter().any(|e| e.user_id == q.user_id().unwrap() && e.score == 777), "the server's score is on the board");
    let e = q.logic().rpc("reward", json!({"user_id": q.user_id().unwrap(), "board": "arena", "score": 1, "achievement": "champion"})).await;
    assert_eq!(e.expect_err("players cannot reward").status(), Some(400));
    let bad_board = json!({"user_id": q.user_id().unwrap(), "board": "nope", "score": 1, "achievement": "champion"});
    let (s, v) = rpc(&origin, "logic-game", &key, "reward", bad_board).await;
    assert_eq!(s, 400, "a host call's refusal reaches the component, which refuses the RPC: {v}");
    assert!(assert_error_shape(&v)["data"]["reason"].as_str().unwrap_or_default().contains("no leaderboard"), "{v}");

    // Unknown RPCs, bad names, oversize payloads.
    let (s, e) = rpc(&origin, "logic-game", &token, "nope", Value::Null).await;
    assert_eq!((s, assert_error_shape(&e)["code"].as_i64()), (404, Some(-32004)), "{e}");
    let (s, e) = rpc(&origin, "logic-game", &token, "Bad.Name", Value::Null).await;
    assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some("name")), "{e}");
    let big = json!({"pad": "x".repeat(70 * 1024)});
    let (s, e) = rpc(&origin, "logic-game", &token, "inventory", big).await;
    assert!(s == 400 || s == 413, "{s} {e}");
    assert_error_shape(&e);
    let (s, e) = rpc(&origin, "logic-game", &token, "inventory", json!({"add": 5})).await;
    assert_eq!(
        (s, assert_error_shape(&e)["data"]["reason"].as_str()),
        (400, Some("add must be an object of item counts")),
        "the component's refusal: {e}"
    );

    // A player of another game cannot call this game's RPCs.
    let other = origin.game("other-game").await;
    let stranger = other.player().await;
    let (s, e) = rpc(&origin, "logic-game", &stranger.token().unwrap(), "whoami", Value::Null).await;
    assert_eq!((s, assert_error_shape(&e)["code"].as_i64()), (403, Some(-32003)), "{e}");
    // ... and through JSON-RPC a custom method runs in the caller's own game, which has no logic.
    let e = stranger.logic().rpc("whoami", Value::Null).await.expect_err("no logic in other-game");
    assert_eq!(e.status(), Some(404), "{e}");

    // After-events reached the component (fire and forget: polled).
    let mut counts = Value::Null;
    for _ in 0..100 {
        counts = p.logic().rpc("events", Value::Null).await.unwrap();
        if counts["save"] == json!(2) && counts["score"] == json!(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((&counts["save"], &counts["score"]), (&json!(2), &json!(2)), "two saves and two scores were written: {counts}");
}

#[tokio::test]
async fn deploys_are_checked_versioned_and_rolled_back() {
    let origin = Origin::start(&[("AETHEX_LOGIC__MAX_COMPONENT_BYTES", "1000000")]);
    let game = origin.game("deploy-game").await;
    let key = server_key(&game).await;
    let dev = game.developer.token().unwrap();
    board(&game, "b").await;

    // Refused: not a component, another WIT version, empty, too large.
    let (s, e) = deploy(&origin, "deploy-game", &key, b"\0asm not really".to_vec()).await;
    assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some("component")), "{e}");
    let (s, e) = deploy(&origin, "deploy-game", &key, component("other_version")).await;
    let reason = assert_error_shape(&e)["data"]["reason"].as_str().unwrap_or_default().to_string();
    assert_eq!(s, 400, "{e}");
    assert!(reason.contains("aethex:logic@0.2.0") && reason.contains("aethex:logic@0.1.0"), "{reason}");
    let (s, e) = deploy(&origin, "deploy-game", &key, Vec::new()).await;
    assert_eq!(s, 400, "{e}");
    let (s, e) = deploy(&origin, "deploy-game", &key, vec![0u8; 1_000_001]).await;
    assert_eq!((s, assert_error_shape(&e)["code"].as_i64()), (413, Some(-32013)), "{e}");
    // Refused: a player, another game's server key.
    let p = game.player().await;
    let (s, _) = deploy(&origin, "deploy-game", &p.token().unwrap(), component("noop")).await;
    assert_eq!(s, 404, "to someone outside its organization, the game does not exist");
    let other = origin.game("other-deploy").await;
    let other_key = server_key(&other).await;
    let (s, _) = deploy(&origin, "deploy-game", &other_key, component("noop")).await;
    assert_eq!(s, 403);
    let list: Value = aethex_tests::get_json(&format!("{}/api/v1/games/deploy-game/logic", origin.url), &key).await;
    assert_eq!((&list["active_version"], &list["versions"]), (&Value::Null, &json!([])), "nothing refused was kept: {list}");

    // v1 (noop) by the server key, v2 (example) by the developer through the SDK.
    assert_eq!(deploy(&origin, "deploy-game", &key, component("noop")).await.0, 201);
    let v2 = game.developer.logic().deploy("deploy-game", component("example")).await.unwrap();
    assert_eq!((v2.version, v2.active), (2, true));
    let list = game.developer.logic().versions("deploy-game").await.unwrap();
    assert_eq!(list.active_version, Some(2));
    assert_eq!(list.versions.iter().map(|v| (v.version, v.active)).collect::<Vec<_>>(), vec![(2, true), (1, false)]);
    assert_eq!(list.wit_version, "0.1.0");
    let token = p.token().unwrap();
    assert_eq!(submit(&origin, &token, "b", 2_000_000).await.1["entry"]["score"], 1_000_000, "v2 caps");

    // Rollback to v1: no cap. Then no logic at all. Then v2 again.
    let rolled = game.developer.logic().activate("deploy-game", Some(1)).await.unwrap();
    assert_eq!(rolled.active_version, Some(1));
    assert_eq!(submit(&origin, &token, "b", 3_000_000).await.1["entry"]["score"], 3_000_000, "v1 runs at once");
    assert_eq!(game.developer.logic().activate("deploy-game", None).await.unwrap().active_version, None);
    assert_eq!(submit(&origin, &token, "b", 4_000_000).await.1["entry"]["score"], 4_000_000);
    let (s, e) = raw(
        Method::POST,
        &format!("{}/api/v1/games/deploy-game/logic/activate", origin.url),
        Some(&dev),
        Some("application/json"),
        r#"{"version":99}"#,
    )
    .await;
    assert_eq!((s, assert_error_shape(&e)["code"].as_i64()), (404, Some(-32004)), "{e}");
    for bad in [r#"{"version":"1"}"#, r#"{}"#, r#"{"version":1,"x":2}"#, "[]"] {
        let url = format!("{}/api/v1/games/deploy-game/logic/activate", origin.url);
        let (s, e) = raw(Method::POST, &url, Some(&dev), Some("application/json"), bad).await;
        assert_eq!(s, 400, "{bad}: {e}");
    }
    let (s, _) = raw(
        Method::POST,
        &format!("{}/api/v1/games/deploy-game/logic/activate", origin.url),
        Some(&other_key),
        Some("application/json"),
        r#"{"version":2}"#,
    )
    .await;
    assert_eq!(s, 403, "another game's key cannot roll this game back");
    game.developer.logic().activate("deploy-game", Some(2)).await.unwrap();
    assert_eq!(submit(&origin, &token, "b", 5_000_000).await.1["entry"]["score"], 4_000_000, "v2 caps the new score below the stored best");
}

#[tokio::test]
async fn hostile_components_are_stopped_with_clear_errors_and_other_games_keep_working() {
    let origin = Origin::start(&[("AETHEX_LOGIC__MEMORY_MIB", "32")]);
    let bad = origin.game("bad-game").await;
    let good = origin.game("good-game").await;
    let (bad_key, good_key) = (server_key(&bad).await, server_key(&good).await);
    assert_eq!(deploy(&origin, "bad-game", &bad_key, component("hostile")).await.0, 201);
    assert_eq!(deploy(&origin, "good-game", &good_key, component("example")).await.0, 201);
    board(&bad, "b").await;
    let p = bad.player().await;
    let token = p.token().unwrap();
    let g = good.player().await;

    let failed = |s: u16, e: &Value, what: &str| {
        let err = assert_error_shape(e);
        assert_eq!((s, err["code"].as_i64()), (500, Some(-32603)), "{what}: {e}");
        err["data"]["reason"].as_str().unwrap_or_default().to_string()
    };
    // A trap in every hook: the write fails with the component's own last words, and nothing is written.
    let (s, e) = save(&origin, &token, "main", json!({"a": 1})).await;
    let reason = failed(s, &e, "save");
    assert!(reason.contains("before-save trapped") && reason.contains("before-save traps on purpose"), "{reason}");
    assert!(p.saves().list().await.unwrap().is_empty(), "nothing was saved");
    let (s, e) = submit(&origin, &token, "b", 5).await;
    assert!(failed(s, &e, "score").contains("before-score trapped"));
    let (s, e) = rpc(&origin, "bad-game", &token, "trap", Value::Null).await;
    assert!(failed(s, &e, "rpc trap").contains("rpc trapped"));
    let _: Value = bad
        .developer
        .request(Method::PUT, "/api/v1/games/bad-game/achievements/first", Some(&json!({"name": "First", "description": "d"})), true)
        .await
        .unwrap();
    let (s, e) = raw(Method::POST, &format!("{}/api/v1/achievements/first/unlock", origin.url), Some(&token), Some("application/json"), "{}").await;
    assert!(failed(s, &e, "unlock").contains("before-achievement trapped"), "{e}");
    let relay = aethex_tests::relays::Relay::start(&origin, "local", &[]);
    relay.wait_registered(&origin).await;
    let _: Value = bad
        .developer
        .request(Method::PUT, "/api/v1/games/bad-game/matchmaking/modes/duel", Some(&json!({"match_size": 2, "max_wait_secs": 60})), true)
        .await
        .unwrap();
    let url = format!("{}/api/v1/matchmaking/tickets", origin.url);
    let (s, e) = raw(Method::POST, &url, Some(&token), Some("application/json"), json!({"mode": "duel", "region": "local"}).to_string()).await;
    assert!(failed(s, &e, "ticket").contains("before-ticket trapped"), "{e}");
    let (s, mine) = raw(Method::GET, &url, Some(&token), None, "").await;
    assert_eq!((s, &mine["tickets"]), (200, &json!([])), "no ticket was queued: {mine}");
    // An infinite loop runs out of fuel; a memory bomb meets the memory limit.
    let started = std::time::Instant::now();
    let (s, e) = rpc(&origin, "bad-game", &token, "spin", Value::Null).await;
    assert!(failed(s, &e, "spin").contains("CPU budget"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10), "stopped in {:?}", started.elapsed());
    let (s, e) = rpc(&origin, "bad-game", &token, "bomb", Value::Null).await;
    assert!(failed(s, &e, "bomb").contains("memory past the limit of 33554432 bytes"), "{e}");

    // The game's well-behaved calls and the other game still work, during and after.
    let spins = (0..4).map(|_| rpc(&origin, "bad-game", &token, "spin", Value::Null));
    let good_logic = g.logic();
    let (spun, good_answer) = tokio::join!(futures::future::join_all(spins), good_logic.rpc("whoami", Value::Null));
    assert!(spun.iter().all(|(s, _)| *s == 500));
    assert_eq!(good_answer.unwrap()["game_id"], "good-game");
    let (s, v) = rpc(&origin, "bad-game", &token, "ok", json!({"still": "here"})).await;
    assert_eq!((s, v), (200, json!({"still": "here"})));
    let (s, _) = save(&origin, &g.token().unwrap(), "main", json!({"gold": 1, "check": save_check(1)})).await;
    assert_eq!(s, 200);
    let health = reqwest::get(format!("{}/healthz", origin.url)).await.unwrap();
    assert!(health.status().is_success());
    // Metrics count the failures by export.
    let metrics = reqwest::get(format!("{}/metrics", origin.metrics_url)).await.unwrap().text().await.unwrap_or_default();
    assert!(metrics.contains("aethex_logic_failures_total"), "metrics show logic failures");
}

#[tokio::test]
async fn a_hot_swap_under_load_loses_no_request() {
    let origin = Origin::start(&[]);
    let game = origin.game("swap-game").await;
    let key = server_key(&game).await;
    board(&game, "b").await;
    assert_eq!(deploy(&origin, "swap-game", &key, component("noop")).await.0, 201);
    let players = futures::future::join_all((0..4).map(|_| game.player())).await;
    let (noop, example) = (component("noop"), component("example"));

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = players.iter().map(|p| {
        let (p, stop, url) = (p.clone(), stop.clone(), origin.url.clone());
        async move {
            let token = p.token().unwrap();
            let (mut ok, mut failed) = (0u32, Vec::new());
            let mut i = 0i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let url = format!("{url}/api/v1/leaderboards/b/scores");
                let (s, v) = raw(Method::POST, &url, Some(&token), Some("application/json"), json!({"score": i}).to_string()).await;
                if s == 200 {
                    ok += 1;
                } else {
                    failed.push((s, v));
                }
            }
            (ok, failed)
        }
    });
    let swaps = async {
        for round in 0..6 {
            let wasm = if round % 2 == 0 { example.clone() } else { noop.clone() };
            let (s, v) = deploy(&origin, "swap-game", &key, wasm).await;
            assert_eq!(s, 201, "{v}");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    let (results, ()) = tokio::join!(futures::future::join_all(load), swaps);
    let total: u32 = results.iter().map(|(ok, _)| ok).sum();
    let failures: Vec<_> = results.iter().flat_map(|(_, f)| f.iter()).collect();
    assert!(failures.is_empty(), "{} of {} requests failed: {:?}", failures.len(), total as usize + failures.len(), failures.first());
    assert!(total > 40, "the load ran: {total} submits");
    let list: Value = aethex_tests::get_json(&format!("{}/api/v1/games/swap-game/logic", origin.url), &key).await;
    assert_eq!(list["active_version"], 7, "{list}");
    assert_eq!(list["versions"].as_array().map(Vec::len), Some(7));
}

/// The same world from JavaScript (sdk/logic/example-js, built by componentize-js): a
/// component of about 12 MB with a JavaScript engine inside, deployed and run like the Rust
/// one.
#[tokio::test]
async fn a_javascript_component_refuses_scores_and_counts_in_key_value_storage() {
    let origin = Origin::start(&[("AETHEX_LOGIC__MEMORY_MIB", "128")]);
    let game = origin.game("js-game").await;
    let key = server_key(&game).await;
    board(&game, "b").await;
    let (s, v) = deploy(&origin, "js-game", &key, component("example_js")).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["registration"], json!({"hooks": ["before_score"], "rpcs": ["counter"], "rooms": false}));
    let p = game.player().await;
    let token = p.token().unwrap();
    assert_eq!(submit(&origin, &token, "b", 500).await.1["entry"]["score"], 500);
    let refused = p.leaderboards().submit_score("b", 20_000_000).await.expect_err("refused");
    let reason = refused.api().and_then(|e| e.data.as_ref()?.reason.clone());
    assert_eq!((refused.status(), reason.as_deref()), (Some(403), Some("impossible score 20000000")));
    assert_eq!(p.logic().rpc("counter", Value::Null).await.unwrap(), json!({"counter": 1, "caller": "player"}));
    assert_eq!(p.logic().rpc("counter", json!({"by": 5})).await.unwrap(), json!({"counter": 6, "caller": "player"}));
    let (s, v) = rpc(&origin, "js-game", &key, "counter", json!({"by": 1})).await;
    assert_eq!((s, v), (200, json!({"counter": 7, "caller": "server"})));
    let e = p.logic().rpc("counter", json!({"by": 1000})).await.expect_err("refused by the component");
    assert_eq!((e.status(), e.api().and_then(|e| e.data.as_ref()?.reason.clone())), (Some(400), Some("by is 1 to 100".into())));
}

/// The state of `player` in a `state_batch`, if it holds one.
fn state_of(m: &ServerMessage, player: &str) -> Option<Map<String, Value>> {
    match m {
        ServerMessage::StateBatch { states, .. } => states.iter().find(|s| s.player_id == player).map(|s| s.data.clone()),
        _ => None,
    }
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

/// Waits for a `state_batch` with `player`'s state that `pick` accepts, failing on any
/// batch showing `player` at `never_x`.
async fn wait_state(s: &mut RoomSession, player: &str, never_x: f64, pick: impl Fn(&Map<String, Value>) -> bool) -> Map<String, Value> {
    s.wait_for(Duration::from_secs(10), |m| {
        let st = state_of(m, player)?;
        assert_ne!(st.get("x").and_then(Value::as_f64), Some(never_x), "a member saw the teleport: {st:?}");
        pick(&st).then_some(st)
    })
    .await
    .expect("the state")
}

async fn room_left(s: &mut RoomSession) -> String {
    s.wait_for(Duration::from_secs(10), |m| match m {
        ServerMessage::RoomLeft { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await
    .expect("room_left")
}

async fn server_says(s: &mut RoomSession, method: &str) -> Vec<Value> {
    s.wait_for(Duration::from_secs(10), |m| match m {
        ServerMessage::Rpc { from, method: got, args } if from == "server" && got == method => Some(args.clone()),
        _ => None,
    })
    .await
    .expect("a room message from the server")
}

fn private(max_players: u32) -> RoomOptions {
    RoomOptions { max_players, password: None, properties: Default::default() }
}

fn room_code(joined: &ServerMessage) -> String {
    match joined {
        ServerMessage::RoomJoined { code: Some(code), .. } => code.clone(),
        other => panic!("expected room_joined with a code, got {other:?}"),
    }
}

/// Authoritative rooms at a relay (a real `aethex-relay` and origin): the example component
/// admits players (not one whose player data says it cheats), decides the state every
/// member sees (a step within its limit goes through, a teleport never reaches anyone and
/// the player is put back), greets and warns players with room messages, counts rooms in
/// key-value storage through origin, and ends the match when a player surrenders. A new
/// version reaches new rooms without a restart while an open room keeps its own; a
/// component that traps ends only its own room, with the reason.
#[tokio::test]
async fn an_authoritative_room_at_the_relay_refuses_teleports() {
    let origin = Origin::start(&[]);
    let relay = Relay::start(&origin, "logic-west", &[("AETHEX_LOGIC__REFRESH_SECS", "1")]);
    let ws = relay.url.replacen("http://", "ws://", 1);
    let game = origin.game("rooms-game").await;
    let key = server_key(&game).await;
    assert_eq!(deploy(&origin, &game.game_id, &key, component("example")).await.0, 201);

    let (a, b, c) = (game.player().await, game.player().await, game.player().await);
    let mut sa = a.multiplayer().connect(&ws, Encoding::Json).await.unwrap();
    let code = room_code(&sa.create_room(private(4), json!({"name": "a"})).await.unwrap());
    let a_id = sa.player_id().to_string();
    assert_eq!(server_says(&mut sa, "welcome").await, vec![json!({"max_step": 10.0})], "the component greets the player it admitted");

    let mut sc = c.multiplayer().connect(&ws, Encoding::Msgpack).await.unwrap();
    let refused = sc.join_room(&code, None, json!({"cheats": true})).await.unwrap_err().to_string();
    assert!(refused.contains("this room does not admit cheats"), "{refused}");

    let mut sb = b.multiplayer().connect(&ws, Encoding::Msgpack).await.unwrap();
    sb.join_room(&code, None, json!({"name": "b"})).await.unwrap();
    let b_id = sb.player_id().to_string();

    // A step of 5 goes through: the others see it, and so does the player.
    sa.send_state(fields(json!({"x": 3.0, "y": 4.0, "emote": "wave"}))).await.unwrap();
    let seen = wait_state(&mut sb, &a_id, 500.0, |s| s.get("x") == Some(&json!(3.0))).await;
    assert_eq!((seen.get("y"), seen.get("emote")), (Some(&json!(4.0)), Some(&json!("wave"))), "the other fields pass: {seen:?}");
    wait_state(&mut sa, &a_id, 500.0, |s| s.get("x") == Some(&json!(3.0))).await;

    // A teleport: nobody sees it; the player is put back and told.
    sa.send_state(fields(json!({"x": 500.0}))).await.unwrap();
    // Only what changed travels: the refusal, not the position (still 3, 4).
    let back = wait_state(&mut sb, &a_id, 500.0, |s| s.contains_key("refused")).await;
    assert_eq!(back, fields(json!({"refused": "teleport"})));
    // The room message goes out in the tick, before the state.
    assert_eq!(server_says(&mut sa, "refused").await, vec![json!("teleport")]);
    let own = wait_state(&mut sa, &a_id, 500.0, |s| s.contains_key("refused")).await;
    assert_eq!(own, fields(json!({"refused": "teleport"})), "the player's own view stays where the room put it");

    // The room was counted in the game's key-value storage (the relay's host call, run by origin).
    let counts = a.logic().rpc("events", Value::Null).await.unwrap();
    assert_eq!(counts["room"], json!(1), "{counts}");

    // A new version (the noop component, which shows every input) reaches new rooms; this
    // room keeps the version it opened with.
    assert_eq!(deploy(&origin, &game.game_id, &key, component("noop")).await.0, 201);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut sc = c.multiplayer().connect(&ws, Encoding::Json).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        // The first new room after the check interval starts the check; a later one runs the new version.
        let mut probe = c.multiplayer().connect(&ws, Encoding::Json).await.unwrap();
        probe.create_room(private(2), json!({})).await.unwrap();
        let greeted =
            probe.wait_for(Duration::from_millis(700), |m| matches!(m, ServerMessage::Rpc { method, .. } if method == "welcome").then_some(())).await;
        probe.leave_room().await.unwrap();
        if greeted.is_err() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "new rooms never ran the new version");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sc.create_room(private(2), json!({"cheats": true})).await.expect("the noop component admits anyone");
    let c_id = sc.player_id().to_string();
    sc.send_state(fields(json!({"x": 900.0}))).await.unwrap();
    wait_state(&mut sc, &c_id, f64::NAN, |s| s.get("x") == Some(&json!(900.0))).await;
    sa.send_state(fields(json!({"x": 700.0}))).await.unwrap();
    assert_eq!(server_says(&mut sa, "refused").await, vec![json!("teleport")], "the open room still runs the example");

    // A trapping component ends its own room, with the reason; the example's room goes on.
    let hostile_game = origin.game("rooms-hostile").await;
    let hostile_key = server_key(&hostile_game).await;
    assert_eq!(deploy(&origin, &hostile_game.game_id, &hostile_key, component("hostile")).await.0, 201);
    let h = hostile_game.player().await;
    let mut sh = h.multiplayer().connect(&ws, Encoding::Json).await.unwrap();
    sh.create_room(private(2), json!({})).await.unwrap();
    let reason = room_left(&mut sh).await;
    assert!(reason.contains("the game's logic failed") && reason.contains("room.tick"), "{reason}");
    // One call of a component sends at most 64 room messages.
    let refused = sh.create_room(private(2), json!({"spam": true})).await.unwrap_err().to_string();
    assert!(refused.contains("sent 64: at most 64 room messages per call"), "{refused}");
    sa.send_state(fields(json!({"x": 6.0, "y": 8.0}))).await.unwrap();
    wait_state(&mut sb, &a_id, 700.0, |s| s.get("x") == Some(&json!(6.0))).await;

    // Surrender ends the match for everyone in the room.
    sb.send_state(fields(json!({"surrender": true}))).await.unwrap();
    let (ra, rb) = (room_left(&mut sa).await, room_left(&mut sb).await);
    assert_eq!(ra, format!("the match ended: {b_id} surrendered"));
    assert_eq!(ra, rb);
    let refused = sa.rpc("hello", "all", vec![]).await.and(sa.wait_for(Duration::from_secs(5), |_| None::<()>).await).unwrap_err().to_string();
    assert!(refused.contains("not in a room"), "{refused}");
    sa.create_room(private(2), json!({})).await.expect("the players may play again");

    let metrics = reqwest::get(format!("{}/metrics", relay.metrics_url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("aethex_relay_logic_failures_total 1"), "{metrics}");

    // The relays' routes at origin: the relay key only, and host calls only for a game that runs logic.
    let plain = origin.game("rooms-plain").await;
    let host_call = |game: &str, key: Option<String>, call: Value| {
        let mut req = reqwest::Client::new().post(format!("{}/api/v1/games/{game}/logic/host", origin.url)).json(&call);
        if let Some(k) = key {
            req = req.header("x-aethex-relay-key", k);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let kv = json!({"call": "kv_set", "key": "k", "value": "aGk="});
    assert_eq!(host_call(&game.game_id, None, kv.clone()).await.0, 401);
    assert_eq!(host_call(&game.game_id, Some(key.clone()), kv.clone()).await.0, 401, "a server key is not a relay key");
    let (status, body) = host_call(&plain.game_id, Some(origin.relay_key()), kv.clone()).await;
    assert_eq!(status, 404, "{body}");
    assert_error_shape(&body);
    assert_eq!(host_call(&game.game_id, Some(origin.relay_key()), kv).await, (200, json!({"ok": null})));
    let bad = json!({"call": "kv_set", "key": "k", "value": "not base64!"});
    assert_eq!(host_call(&game.game_id, Some(origin.relay_key()), bad).await.0, 400);
    let empty = json!({"call": "kv_get", "key": ""});
    assert_eq!(host_call(&game.game_id, Some(origin.relay_key()), empty).await, (200, json!({"err": "keys are 1 to 256 bytes"})));
}

/// Custom RPCs are rate limited per player and game (`logic.rpc_per_player_per_sec`, twice
/// that at once); the game's server key and other players are not held back by one
/// player's flood.
#[tokio::test]
async fn a_player_flooding_custom_rpcs_is_slowed_down_and_nobody_else_is() {
    let origin = Origin::start(&[("AETHEX_LOGIC__RPC_PER_PLAYER_PER_SEC", "2")]);
    let game = origin.game("rpc-flood").await;
    let key = server_key(&game).await;
    assert_eq!(deploy(&origin, &game.game_id, &key, component("example")).await.0, 201);
    let (flooder, other) = (game.player().await, game.player().await);
    let token = flooder.token().unwrap();
    let mut statuses = Vec::new();
    let mut limited = None;
    let http = reqwest::Client::new();
    for _ in 0..12 {
        let resp =
            http.post(format!("{}/api/v1/games/{}/rpc/whoami", origin.url, game.game_id)).bearer_auth(&token).json(&json!({})).send().await.unwrap();
        let status = resp.status().as_u16();
        let retry: Option<u64> = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let body: Value = resp.json().await.unwrap();
        if status == 429 && limited.is_none() {
            limited = Some((retry, body));
        }
        statuses.push(status);
    }
    assert_eq!(&statuses[..4], &[200; 4], "a burst of twice the rate goes through: {statuses:?}");
    let (retry, body) = limited.unwrap_or_else(|| panic!("12 calls at once were never limited: {statuses:?}"));
    assert_eq!(assert_error_shape(&body)["code"], json!(-32029), "{body}");
    assert!(retry.is_some_and(|s| s >= 1), "retry-after: {retry:?}");
    for _ in 0..12 {
        assert_eq!(rpc(&origin, &game.game_id, &key, "whoami", json!({})).await.0, 200, "the server key is not limited");
    }
    assert_eq!(rpc(&origin, &game.game_id, &other.token().unwrap(), "whoami", json!({})).await.0, 200, "another player is not held back");
}

/// A component that origin took but that does not load at a relay (here: the relay gives
/// it too little CPU for its `init`): rooms of its game are refused with the reason, every
/// time, rather than opened without the game's rules; other games' rooms open.
#[tokio::test]
async fn rooms_of_a_game_whose_logic_does_not_load_at_the_relay_are_refused() {
    let origin = Origin::start(&[]);
    let relay = Relay::start(&origin, "logic-starved", &[("AETHEX_LOGIC__FUEL_PER_CALL", "1")]);
    let ws = relay.url.replacen("http://", "ws://", 1);
    let game = origin.game("rooms-starved").await;
    let key = server_key(&game).await;
    assert_eq!(deploy(&origin, &game.game_id, &key, component("example")).await.0, 201);
    let p = game.player().await;
    let mut s = p.multiplayer().connect(&ws, Encoding::Json).await.unwrap();
    for _ in 0..2 {
        let refused = s.create_room(private(2), json!({})).await.unwrap_err().to_string();
        assert!(refused.contains("the game's logic could not be loaded on this relay"), "{refused}");
    }
    let plain = origin.game("rooms-fed").await;
    let q = plain.player().await;
    let mut t = q.multiplayer().connect(&ws, Encoding::Json).await.unwrap();
    t.create_room(private(2), json!({})).await.expect("a game without logic opens rooms");
}
