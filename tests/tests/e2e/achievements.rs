//! Achievements and player statistics end to end: definitions (developers), the seed's
//! `unlock` / `set_progress` / `get_all` through the SDK, hidden achievements, monotonic
//! progress under concurrency, server keys acting for a named player, statistics
//! (increments and sets, all or nothing, limits) and the game's aggregate, JSON-RPC.

use aethex_protocol::achievements::UpdateStatsRequest;
use aethex_tests::{assert_error_shape, raw, Origin};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn players_unlock_and_progress_achievements_and_keep_statistics() {
    let origin = Origin::start(&[]);
    let game = origin.game("ach-game").await;
    let url = |p: &str| format!("{}{}", origin.url, p);
    let dev = game.developer.token().unwrap();
    let define = |id: &'static str, body: Value| {
        let (dev, u) = (dev.clone(), url(&format!("/api/v1/games/ach-game/achievements/{id}")));
        async move { raw(Method::PUT, &u, Some(&dev), Some("application/json"), body.to_string()).await }
    };
    assert_eq!(define("first_kill", json!({"name": "First blood", "description": "Win a fight"})).await.0, 200);
    assert_eq!(define("kill_100_enemies", json!({"name": "Centurion", "progress_target": 100})).await.0, 200);
    let (status, secret) =
        define("secret.ending", json!({"name": "The end?", "description": "Find it", "hidden": true, "icon_url": "https://cdn.example.com/end.png"}))
            .await;
    assert_eq!((status, secret["hidden"].as_bool()), (200, Some(true)), "{secret}");
    // Bad definitions.
    for (id, body, field) in [
        ("bad id", json!({"name": "x"}), "achievement_id"),
        ("zero", json!({"name": "x", "progress_target": 0}), "progress_target"),
        ("icon", json!({"name": "x", "icon_url": "javascript:alert(1)"}), "icon_url"),
        ("noname", json!({"name": ""}), "name"),
    ] {
        let (status, body) = raw(
            Method::PUT,
            &url(&format!("/api/v1/games/ach-game/achievements/{}", id.replace(' ', "%20"))),
            Some(&dev),
            Some("application/json"),
            body.to_string(),
        )
        .await;
        assert_eq!(status, 400, "{id}: {body}");
        assert_eq!(assert_error_shape(&body)["data"]["field"], field);
    }
    let a = game.player().await;
    let b = game.player().await;
    // A player cannot define.
    let (status, _) =
        raw(Method::PUT, &url("/api/v1/games/ach-game/achievements/mine"), Some(&a.token().unwrap()), Some("application/json"), r#"{"name":"x"}"#)
            .await;
    assert!(status == 403 || status == 404, "{status}");

    // get_all: three, locked; the hidden one shows nothing.
    let all = a.social().achievements().get_all().await.unwrap();
    assert_eq!((all.total, all.unlocked), (3, 0));
    let secret = all.achievements.iter().find(|x| x.achievement_id == "secret.ending").unwrap();
    assert_eq!((secret.name.as_deref(), secret.description.as_deref(), secret.icon_url.as_deref()), (None, None, None));

    // unlock, twice.
    let first = a.social().achievements().unlock("first_kill").await.unwrap();
    assert!(first.newly_unlocked && first.achievement.unlocked && first.achievement.unlocked_at.is_some());
    let again = a.social().achievements().unlock("first_kill").await.unwrap();
    assert!(!again.newly_unlocked && again.achievement.unlocked_at == first.achievement.unlocked_at);
    // Progress only goes up, unlocks at the target, never passes it.
    let p = a.social().achievements().set_progress("kill_100_enemies", 45).await.unwrap();
    assert_eq!((p.achievement.progress, p.achievement.unlocked, p.newly_unlocked), (45, false, false));
    let p = a.social().achievements().set_progress("kill_100_enemies", 30).await.unwrap();
    assert_eq!(p.achievement.progress, 45, "lower progress is ignored");
    let p = a.social().achievements().set_progress("kill_100_enemies", 100).await.unwrap();
    assert_eq!((p.achievement.progress, p.achievement.unlocked, p.newly_unlocked), (100, true, true));
    let p = a.social().achievements().set_progress("kill_100_enemies", 150).await.unwrap();
    assert_eq!((p.achievement.progress, p.newly_unlocked), (100, false));
    // The hidden one shows itself once unlocked.
    let s = a.social().achievements().unlock("secret.ending").await.unwrap();
    assert_eq!(s.achievement.name.as_deref(), Some("The end?"));
    assert_eq!(s.achievement.icon_url.as_deref(), Some("https://cdn.example.com/end.png"));
    let all = a.social().achievements().get_all().await.unwrap();
    assert_eq!((all.total, all.unlocked), (3, 3));
    // Unknown achievement; other players' data.
    let (status, body) = raw(Method::POST, &url("/api/v1/achievements/nope/unlock"), Some(&a.token().unwrap()), None, "").await;
    assert_eq!((status, assert_error_shape(&body)["data"]["field"].as_str()), (404, Some("achievement_id")));
    let b_id = b.user_id().unwrap();
    let (status, _) = raw(Method::GET, &url(&format!("/api/v1/achievements?user_id={b_id}")), Some(&a.token().unwrap()), None, "").await;
    assert_eq!(status, 403);
    assert_eq!(b.social().achievements().get_all().await.unwrap().unlocked, 0, "B's are B's own");

    // Concurrent progress: the highest value wins, nothing is lost.
    let mut tasks = Vec::new();
    for v in [10u64, 70, 20, 55, 64, 5, 69, 1, 33, 68] {
        let b = b.clone();
        tasks.push(tokio::spawn(async move { b.social().achievements().set_progress("kill_100_enemies", v).await.unwrap() }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let p = b.social().achievements().get_all().await.unwrap();
    assert_eq!(p.achievements.iter().find(|x| x.achievement_id == "kill_100_enemies").unwrap().progress, 70);

    // A server key acts for a named player of its game.
    let key: Value =
        game.developer.request(Method::POST, "/api/v1/games/ach-game/server-keys", Some(&json!({"name": "servers"})), true).await.unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    let (status, up) =
        raw(Method::POST, &url("/api/v1/achievements/first_kill/unlock"), Some(&key), Some("application/json"), json!({"user_id": b_id}).to_string())
            .await;
    assert_eq!((status, up["newly_unlocked"].as_bool()), (200, Some(true)), "{up}");
    let (status, body) = raw(Method::POST, &url("/api/v1/achievements/first_kill/unlock"), Some(&key), None, "").await;
    assert_eq!((status, assert_error_shape(&body)["data"]["field"].as_str()), (400, Some("user_id")));
    let (status, theirs) = raw(Method::GET, &url(&format!("/api/v1/achievements?user_id={b_id}")), Some(&key), None, "").await;
    assert_eq!((status, theirs["unlocked"].as_u64()), (200, Some(1)));

    // Statistics.
    let stats = a.social().stats();
    stats.increment("kills", 3).await.unwrap();
    let req = UpdateStatsRequest { increments: [("kills".to_string(), 2)].into(), set: [("level".to_string(), 7)].into(), user_id: None };
    let s = stats.update(&req).await.unwrap();
    assert_eq!(s.stats, [("kills".to_string(), 5), ("level".to_string(), 7)].into());
    // All or nothing: one bad value refuses the whole update.
    let (status, body) = raw(
        Method::POST,
        &url("/api/v1/stats"),
        Some(&a.token().unwrap()),
        Some("application/json"),
        json!({"increments": {"kills": 1, "gold": 999_999_999_999_999_999i64}}).to_string(),
    )
    .await;
    assert_eq!((status, assert_error_shape(&body)["data"]["field"].as_str()), (400, Some("stats")));
    let (status, body) = raw(
        Method::POST,
        &url("/api/v1/stats"),
        Some(&a.token().unwrap()),
        Some("application/json"),
        json!({"increments": {"x": 1}, "set": {"x": 2}}).to_string(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(stats.get().await.unwrap().stats.get("kills"), Some(&5));
    // At most 200 statistics per player: the update that would pass it is refused whole.
    for round in 0..7 {
        let set = (0..32).map(|i| (format!("s{round}_{i}"), i)).collect();
        let r = stats.update(&UpdateStatsRequest { set, ..Default::default() }).await;
        if round < 6 {
            r.unwrap();
        } else {
            assert!(r.is_err(), "the 7th update passes 200");
        }
    }
    assert_eq!(stats.get().await.unwrap().stats.len(), 2 + 6 * 32);
    b.social().stats().increment("kills", 10).await.unwrap();
    let (status, summary) = raw(Method::GET, &url("/api/v1/games/ach-game/stats"), Some(&dev), None, "").await;
    assert_eq!(status, 200);
    let kills = summary["stats"].as_array().unwrap().iter().find(|s| s["stat"] == "kills").unwrap().clone();
    assert_eq!(
        (kills["players"].as_u64(), kills["sum"].as_i64(), kills["min"].as_i64(), kills["max"].as_i64()),
        (Some(2), Some(15), Some(5), Some(10))
    );

    // JSON-RPC.
    let (status, rpc) = raw(
        Method::POST,
        &url("/api/v1/rpc"),
        Some(&b.token().unwrap()),
        Some("application/json"),
        json!([
            {"jsonrpc": "2.0", "id": 1, "method": "achievements.set_progress", "params": {"achievement_id": "kill_100_enemies", "progress": 100}},
            {"jsonrpc": "2.0", "id": 2, "method": "achievements.get_all"},
            {"jsonrpc": "2.0", "id": 3, "method": "stats.get"}
        ])
        .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{rpc}");
    assert_eq!(rpc[0]["result"]["data"]["newly_unlocked"], true, "{rpc}");
    assert_eq!(rpc[1]["result"]["data"]["unlocked"], 2);
    assert_eq!(rpc[2]["result"]["data"]["stats"]["kills"], 10);

    // Deleting a definition takes every player's progress on it.
    let (status, _) = raw(Method::DELETE, &url("/api/v1/games/ach-game/achievements/kill_100_enemies"), Some(&dev), None, "").await;
    assert_eq!(status, 204);
    assert_eq!(a.social().achievements().get_all().await.unwrap().total, 2);
    let (status, list) = raw(Method::GET, &url("/api/v1/games/ach-game/achievements"), Some(&dev), None, "").await;
    assert_eq!((status, list["achievements"].as_array().map(Vec::len)), (200, Some(2)));
}
