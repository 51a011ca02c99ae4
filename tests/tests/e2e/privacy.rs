//! GDPR end to end: a player exports everything of theirs as one JSON document (saves
//! decrypted, scores, achievements, statistics, friends, analytics events; no secrets),
//! deletes the account with a receipt (edges drop the replicated rows, the token stops
//! working), and a game's admin exports and erases a player's data in their game only.

use aethex_tests::{assert_error_shape, raw, Origin};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn players_export_and_erase_their_data_and_admins_theirs_in_a_game() {
    let origin = Origin::start_with_edge(&[]);
    let game = origin.game("gdpr-game").await;
    let other = origin.game("gdpr-other").await;
    let base = origin.url.clone();
    let url = |p: &str| format!("{base}{p}");
    let dev = game.developer.token().unwrap();
    let (s, _) = raw(
        Method::POST,
        &url("/api/v1/games/gdpr-game/leaderboards"),
        Some(&dev),
        Some("application/json"),
        r#"{"leaderboard_id":"hs","name":"HS"}"#,
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) =
        raw(Method::PUT, &url("/api/v1/games/gdpr-game/achievements/first"), Some(&dev), Some("application/json"), r#"{"name":"First"}"#).await;
    assert_eq!(s, 200);

    let p = game.player().await;
    let friend = game.player().await;
    let uid = p.user_id().unwrap();
    p.saves().save("slot1", json!({"level": 5, "gold": 77})).await.unwrap();
    p.saves().save("slot1", json!({"level": 6, "gold": 80})).await.unwrap();
    p.social().leaderboards().submit_score("hs", 1234).await.unwrap();
    p.social().achievements().unlock("first").await.unwrap();
    p.social().stats().increment("kills", 9).await.unwrap();
    p.social().friends().request(&friend.user_id().unwrap()).await.unwrap();
    p.analytics().set_consent(true).await.unwrap();
    p.analytics().track_event("level_completed", json!({"level": 6}));
    p.analytics().flush().await.unwrap();

    // The export: one document, every kind of data, no secrets.
    let token = p.token().unwrap();
    let (s, doc) = raw(Method::GET, &url("/api/v1/auth/me/export"), Some(&token), None, "").await;
    assert_eq!(s, 200, "{doc}");
    assert_eq!(doc["user_id"], uid.as_str());
    assert_eq!(doc["account"]["id"], uid.as_str());
    assert!(doc["account"].get("password").is_none() && doc["account"].get("device_hash").is_none(), "{}", doc["account"]);
    assert_eq!(doc["save_contents"].as_array().unwrap().len(), 2, "both versions");
    assert_eq!(doc["save_contents"][1]["save"]["data"]["gold"], 80);
    assert_eq!(doc["leaderboard_entries"][0]["score"], 1234);
    assert_eq!(doc["player_achievements"][0]["achievement_id"], "first");
    assert_eq!(doc["player_stats"][0]["value"], 9);
    assert_eq!(doc["friend_edges"][0]["state"], "outgoing");
    assert_eq!(doc["analytics_events"][0]["event_type"], "level_completed");
    assert!(doc["sessions"].as_array().is_some_and(|s| !s.is_empty()));
    let text = doc.to_string();
    assert!(!text.contains("$argon2") && !text.contains("refresh_token"), "no secrets in the export");

    // An admin of another game cannot export this player from their game... nor a player.
    let other_dev = other.developer.token().unwrap();
    let (s, _) = raw(Method::GET, &url(&format!("/api/v1/games/gdpr-game/players/{uid}/export")), Some(&other_dev), None, "").await;
    assert!(s == 403 || s == 404, "{s}");
    let (s, _) = raw(Method::GET, &url(&format!("/api/v1/games/gdpr-game/players/{uid}/export")), Some(&token), None, "").await;
    assert!(s == 403 || s == 404, "{s}");
    // The game's owner can, for this game.
    let (s, in_game) = raw(Method::GET, &url(&format!("/api/v1/games/gdpr-game/players/{uid}/export")), Some(&dev), None, "").await;
    assert_eq!(s, 200, "{in_game}");
    assert!(in_game.get("sessions").is_none(), "account-wide tables are not in a game's export");
    assert_eq!(in_game["leaderboard_entries"][0]["score"], 1234);

    // The player deletes the account: confirm with the username.
    let name = p.auth().get_current_user().unwrap().username;
    let (s, e) = raw(Method::DELETE, &url("/api/v1/auth/me"), Some(&token), Some("application/json"), json!({"confirm": "nope"}).to_string()).await;
    assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some("confirm")));
    let resp = reqwest::Client::new().delete(url("/api/v1/auth/me")).bearer_auth(&token).json(&json!({"confirm": name})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // The erasure's replication position: an edge asked with it answers only once it has it.
    let position =
        resp.headers().get("x-aethex-position").and_then(|v| v.to_str().ok()).map(str::to_string).expect("a replicated write answers its position");
    let receipt: Value = resp.json().await.unwrap();
    assert_eq!(receipt["scope"], "account");
    assert_eq!(receipt["deleted"]["cloud_saves"], 2);
    assert_eq!(receipt["deleted"]["analytics_events"], 1);
    assert_eq!(receipt["subject"].as_str().map(str::len), Some(64));
    assert!(!receipt.to_string().contains(&uid), "the receipt keeps a hash, not the id");
    // Gone everywhere: the token no longer works, the board and the edge drop the entry.
    let (s, _) = raw(Method::GET, &url("/api/v1/auth/me/export"), Some(&token), None, "").await;
    assert_eq!(s, 401);
    let f = friend.social().friends().list().await.unwrap();
    assert!(f.incoming.is_empty(), "the friend request went with the account");
    let board = friend.social().leaderboards().get("hs", 10).await.unwrap();
    assert!(board.entries.is_empty());
    let edge = origin.edge_url.clone().unwrap();
    let ft = friend.token().unwrap();
    let top: Value = reqwest::Client::new()
        .get(format!("{edge}/api/v1/leaderboards/hs"))
        .bearer_auth(&ft)
        .header("x-aethex-position", &position)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(top["entries"].as_array().map(Vec::len), Some(0), "the edge dropped the deleted player's entry: {top}");

    // An admin erases a player's data in their game only; the account stays.
    let q = game.player().await;
    let qid = q.user_id().unwrap();
    q.social().leaderboards().submit_score("hs", 5).await.unwrap();
    q.social().stats().increment("kills", 1).await.unwrap();
    let (s, r): (u16, Value) = raw(Method::DELETE, &url(&format!("/api/v1/games/gdpr-game/players/{qid}")), Some(&dev), None, "").await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (r["scope"].as_str(), r["deleted"]["leaderboard_entries"].as_i64(), r["deleted"]["player_stats"].as_i64()),
        (Some("game:gdpr-game"), Some(1), Some(1))
    );
    assert!(q.social().stats().get().await.unwrap().stats.is_empty());
    assert!(q.auth().get_current_user().is_some());
    let (s, _) = raw(Method::GET, &url("/api/v1/auth/me/export"), Some(&q.token().unwrap()), None, "").await;
    assert_eq!(s, 200, "the account itself stays");
}
