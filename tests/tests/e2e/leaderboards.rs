//! Leaderboard definitions beyond sort order and operator: score bounds and a minimum
//! interval between a player's submits (anti-abuse), and reset schedules whose finished
//! periods are archived with their final ranking, at origin and as seen through an edge.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aethex_tests::{assert_error_shape, raw, Origin};
use reqwest::Method;
use serde_json::{json, Value};

async fn define(origin: &Origin, dev: &str, body: Value) -> (u16, Value) {
    raw(Method::POST, &format!("{}/api/v1/games/lb-game/leaderboards", origin.url), Some(dev), Some("application/json"), body.to_string()).await
}

#[tokio::test]
async fn boards_bound_scores_limit_submits_and_reset_into_archived_periods() {
    let origin = Origin::start_with_edge(&[("AETHEX_LEADERBOARDS__MIN_RESET_EVERY_SECS", "1"), ("AETHEX_LEADERBOARDS__RESET_CHECK_MS", "100")]);
    let game = origin.game("lb-game").await;
    let dev = game.developer.token().unwrap();

    // Definitions are checked.
    for (body, field) in [
        (json!({"leaderboard_id": "a", "name": "A", "min_score": 10, "max_score": 5}), "min_score"),
        (json!({"leaderboard_id": "a", "name": "A", "reset": "every"}), "reset_every_secs"),
        (json!({"leaderboard_id": "a", "name": "A", "reset": "every", "reset_every_secs": 0}), "reset_every_secs"),
        (json!({"leaderboard_id": "a", "name": "A", "reset": "daily", "reset_every_secs": 60}), "reset_every_secs"),
        (json!({"leaderboard_id": "a", "name": "A", "min_submit_interval_ms": 100_000_000}), "min_submit_interval_ms"),
    ] {
        let (s, e) = define(&origin, &dev, body.clone()).await;
        assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some(field)), "{body}");
    }
    let (s, daily) = define(&origin, &dev, json!({"leaderboard_id": "daily", "name": "Today", "reset": "daily"})).await;
    assert_eq!(s, 201, "{daily}");
    let today = chrono::Utc::now().format("%Y-%m-%dT00:00:00.000Z").to_string();
    assert_eq!(daily["period_start"].as_str(), Some(today.as_str()));

    // Bounds and the submit interval.
    let (s, _) =
        define(&origin, &dev, json!({"leaderboard_id": "bounded", "name": "B", "min_score": 0, "max_score": 1000, "min_submit_interval_ms": 400}))
            .await;
    assert_eq!(s, 201);
    let p = game.player().await;
    let token = p.token().unwrap();
    let submit = |board: &'static str, score: i64, token: String| {
        let u = format!("{}/api/v1/leaderboards/{board}/scores", origin.url);
        async move { raw(Method::POST, &u, Some(&token), Some("application/json"), json!({"score": score}).to_string()).await }
    };
    for bad in [1001, -1] {
        let (s, e) = submit("bounded", bad, token.clone()).await;
        assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some("score")), "{bad}");
    }
    assert_eq!(submit("bounded", 500, token.clone()).await.0, 200);
    let (s, e) = submit("bounded", 600, token.clone()).await;
    assert_eq!((s, assert_error_shape(&e)["code"].as_i64()), (429, Some(-32029)), "{e}");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(submit("bounded", 600, token.clone()).await.0, 200, "after the interval");

    // A board that resets every 3 s: scores go in right after a boundary.
    let (s, _) = define(&origin, &dev, json!({"leaderboard_id": "sprint", "name": "Sprint", "reset": "every", "reset_every_secs": 3})).await;
    assert_eq!(s, 201);
    let players = [game.player().await, game.player().await, game.player().await];
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let to_boundary = Duration::from_secs(3 - now.as_secs() % 3) - Duration::from_nanos(u64::from(now.subsec_nanos())) + Duration::from_millis(150);
    tokio::time::sleep(to_boundary).await;
    for (pl, score) in players.iter().zip([30, 90, 60]) {
        assert_eq!(submit("sprint", score, pl.token().unwrap()).await.0, 200);
    }
    let live = players[0].social().leaderboards().get("sprint", 10).await.unwrap();
    assert_eq!(live.entries.len(), 3);
    // After the period ends the board is archived and emptied, without another submit.
    let url = |p: &str| format!("{}{}", origin.url, p);
    let t0 = std::time::Instant::now();
    let periods = loop {
        let (s, list) = raw(Method::GET, &url("/api/v1/leaderboards/sprint/periods"), Some(&players[0].token().unwrap()), None, "").await;
        assert_eq!(s, 200, "{list}");
        if list["periods"].as_array().is_some_and(|p| !p.is_empty()) {
            break list;
        }
        assert!(t0.elapsed() < Duration::from_secs(8), "no period archived: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let period = periods["periods"][0].clone();
    assert_eq!(period["entries"], 3, "{periods}");
    let start = period["period_start"].as_str().unwrap().to_string();
    let t = players[0].token().unwrap();
    let (s, page) = raw(Method::GET, &url(&format!("/api/v1/leaderboards/sprint/periods/{start}?limit=2")), Some(&t), None, "").await;
    assert_eq!(s, 200, "{page}");
    let ranks: Vec<(i64, i64)> =
        page["entries"].as_array().unwrap().iter().map(|e| (e["rank"].as_i64().unwrap(), e["score"].as_i64().unwrap())).collect();
    assert_eq!(ranks, vec![(1, 90), (2, 60)]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = raw(Method::GET, &url(&format!("/api/v1/leaderboards/sprint/periods/{start}?limit=2&cursor={cursor}")), Some(&t), None, "").await;
    assert_eq!((rest["entries"][0]["rank"].as_i64(), rest["entries"][0]["score"].as_i64(), rest.get("next_cursor")), (Some(3), Some(30), None));
    let (s, e) = raw(Method::GET, &url("/api/v1/leaderboards/sprint/periods/2001-01-01T00:00:00Z"), Some(&t), None, "").await;
    assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some("period")));
    // The live board is empty, at origin and (once it has caught up) at the edge.
    assert!(players[0].social().leaderboards().get("sprint", 10).await.unwrap().entries.is_empty());
    let edge = origin.edge_url.clone().unwrap();
    let t1 = std::time::Instant::now();
    loop {
        let (s, top) = raw(Method::GET, &format!("{edge}/api/v1/leaderboards/sprint"), Some(&t), None, "").await;
        assert_eq!(s, 200);
        if top["entries"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(t1.elapsed() < Duration::from_secs(10), "the edge still shows the old period: {top}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
