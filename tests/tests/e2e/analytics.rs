//! Analytics end to end: opt-in consent, the SDK's queue sent in batches (kept while
//! origin is down, sent after), idempotency by event_id, per-event validation, batch and
//! quota limits, and the query API (counts per hour, DAU/MAU).

use aethex_tests::{assert_error_shape, raw, Origin};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn events_need_consent_are_stored_once_and_queried() {
    let origin = Origin::start(&[]);
    let game = origin.game("an-game").await;
    let a = game.player().await;
    let base = origin.url.clone();
    let url = |p: &str| format!("{base}{p}");

    // Without consent everything is dropped (and the queue is emptied: origin answered).
    a.analytics().track_event("level_completed", json!({"level": 1}));
    let r = a.analytics().flush().await.unwrap();
    assert_eq!((r.accepted, r.dropped_no_consent), (0, 1));
    assert_eq!(a.analytics().queued(), 0);

    assert!(a.analytics().set_consent(true).await.unwrap().analytics);
    for level in [5, 6, 7] {
        a.analytics().track_event("level_completed", json!({"level": level, "time": 120.5, "deaths": 3}));
    }
    a.analytics().track_metric("fps", 59.9);
    a.analytics().track_screen("main_menu");
    a.analytics().set_user_property("vip_status", json!(true));
    let r = a.analytics().flush().await.unwrap();
    assert_eq!((r.accepted, r.duplicates, r.rejected.len()), (6, 0, 0), "{r:?}");

    // Idempotent by event_id; per-event checks.
    let token = a.token().unwrap();
    let uid = a.user_id().unwrap();
    let id = "7f1d8c4e-0000-4000-8000-00000000000a";
    let batch = json!({"events": [
        {"event_id": id, "event_type": "shop_open", "timestamp": "2026-01-01T12:00:00Z", "session_id": "s1",
         "properties": {"tab": "skins"}, "device": {"os": "Windows", "os_version": "10.0.19041", "engine_version": "4.3.0", "game_version": "1.2.3"},
         "user_id": uid, "game_id": "an-game"},
        {"event_id": "not-a-uuid", "event_type": "x"},
        {"event_id": "7f1d8c4e-0000-4000-8000-00000000000b", "event_type": "bad type!"},
        {"event_id": "7f1d8c4e-0000-4000-8000-00000000000c", "event_type": "x", "user_id": "someone-else"},
        {"event_id": "7f1d8c4e-0000-4000-8000-00000000000d", "event_type": "x", "properties": {"blob": "y".repeat(9000)}},
        {"event_id": "7f1d8c4e-0000-4000-8000-00000000000e", "event_type": "x", "timestamp": "yesterday"}
    ]});
    let send = |body: Value| {
        let (u, t) = (url("/api/v1/analytics/events"), token.clone());
        async move { raw(Method::POST, &u, Some(&t), Some("application/json"), body.to_string()).await }
    };
    let (s, r) = send(batch.clone()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!((r["accepted"].as_u64(), r["duplicates"].as_u64()), (Some(1), Some(0)));
    let rejected: Vec<u64> = r["rejected"].as_array().unwrap().iter().map(|x| x["index"].as_u64().unwrap()).collect();
    assert_eq!(rejected, vec![1, 2, 3, 4, 5], "{r}");
    let (_, again) = send(batch).await;
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(1)));
    // Batch limits and shape.
    let (s, e) = send(json!({"events": []})).await;
    assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some("events")));
    let many: Vec<Value> = (0..501).map(|i| json!({"event_id": format!("7f1d8c4e-0000-4000-8000-{i:012}"), "event_type": "x"})).collect();
    assert_eq!(send(json!({"events": many})).await.0, 400);
    assert_eq!(send(json!({"events": [{"event_id": id, "event_type": "x", "surprise": 1}]})).await.0, 400);

    // The SDK keeps its queue while origin is down and sends it after.
    a.analytics().track_event("offline_win", json!({}));
    a.analytics().track_event("offline_win", json!({}));
    let mut origin = origin;
    origin.kill();
    assert!(a.analytics().flush().await.is_err(), "origin is down");
    assert_eq!(a.analytics().queued(), 2, "kept");
    let _origin = origin.restart_after_kill();
    let r = a.analytics().flush().await.unwrap();
    assert_eq!((r.accepted, a.analytics().queued()), (2, 0));

    // Queries (developer, viewer role or more).
    let dev = game.developer.token().unwrap();
    let (s, counts) =
        raw(Method::GET, &url("/api/v1/games/an-game/analytics/events?event_type=level_completed&bucket=hour"), Some(&dev), None, "").await;
    assert_eq!(s, 200, "{counts}");
    let total: u64 = counts["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 3);
    let (s, _) = raw(Method::GET, &url("/api/v1/games/an-game/analytics/events"), Some(&token), None, "").await;
    assert!(s == 403 || s == 404, "players cannot query: {s}");
    let (s, e) = raw(Method::GET, &url("/api/v1/games/an-game/analytics/events?bucket=week"), Some(&dev), None, "").await;
    assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some("bucket")));
    let b = game.player().await;
    b.analytics().set_consent(true).await.unwrap();
    b.analytics().track_screen("shop");
    b.analytics().flush().await.unwrap();
    let (s, active) = raw(Method::GET, &url("/api/v1/games/an-game/analytics/active-users"), Some(&dev), None, "").await;
    assert_eq!((s, active["dau"].as_u64(), active["mau"].as_u64()), (200, Some(2), Some(2)), "{active}");
}

#[tokio::test]
async fn the_daily_quota_cuts_batches_short_then_refuses() {
    let origin = Origin::start(&[("AETHEX_ANALYTICS__DAILY_QUOTA_FREE", "5")]);
    let game = origin.game("quota-game").await;
    let p = game.player().await;
    p.analytics().set_consent(true).await.unwrap();
    for i in 0..4 {
        p.analytics().track_event("e", json!({"i": i}));
    }
    assert_eq!(p.analytics().flush().await.unwrap().accepted, 4);
    for i in 0..3 {
        p.analytics().track_event("e", json!({"i": i}));
    }
    let r = p.analytics().flush().await.unwrap();
    assert_eq!((r.accepted, r.rejected.len()), (1, 2), "{r:?}");
    assert!(r.rejected.iter().all(|x| x.reason.contains("quota")));
    p.analytics().track_event("e", json!({}));
    let err = p.analytics().flush().await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(p.analytics().queued(), 1, "kept for tomorrow");
}

/// Crash reports group by their top frames (across line numbers and addresses), count per
/// game version, keep first and last seen, are stored once per report_id, and need consent.
#[tokio::test]
async fn crash_reports_group_by_their_top_frames() {
    let origin = Origin::start(&[]);
    let game = origin.game("crash-game").await;
    let p = game.player().await;
    let trace = |line: u32| {
        format!("at Player::take_damage (player.gd:{line})\nat Enemy::attack 0x7ff3{line:x} (enemy.gd:45)\nat Main::_process (main.gd:9)")
    };
    let no = p.analytics().report_crash("1.0.0", &trace(10), Some("null instance"), None).await.unwrap();
    assert!(!no.stored, "no consent, not stored");
    p.analytics().set_consent(true).await.unwrap();
    let a = p.analytics().report_crash("1.0.0", &trace(10), Some("null instance"), Some("[log] entering combat")).await.unwrap();
    let b = p.analytics().report_crash("1.0.1", &trace(12), None, None).await.unwrap();
    let c = p.analytics().report_crash("1.0.1", &trace(13), None, None).await.unwrap();
    let other = p.analytics().report_crash("1.0.1", "at Inventory::drop (inventory.gd:3)\nat Main::_input", None, None).await.unwrap();
    assert!(a.stored && b.stored && c.stored && other.stored);
    assert_eq!((a.signature.as_str(), b.signature.as_str()), (c.signature.as_str(), c.signature.as_str()), "same frames, same group");
    assert_ne!(a.signature, other.signature);

    let base = origin.url.clone();
    let token = p.token().unwrap();
    // The same report twice is stored once.
    let report = json!({"report_id": "6a0b1c2d-0000-4000-8000-000000000001", "game_version": "1.0.1", "stack_trace": trace(14)});
    for expected in [true, false] {
        let (s, r) = raw(Method::POST, &format!("{base}/api/v1/analytics/crashes"), Some(&token), Some("application/json"), report.to_string()).await;
        assert_eq!((s, r["stored"].as_bool()), (200, Some(expected)), "{r}");
    }
    for (body, field) in [
        (json!({"report_id": "x", "game_version": "1", "stack_trace": "at a"}), "report_id"),
        (json!({"report_id": "6a0b1c2d-0000-4000-8000-000000000002", "game_version": "", "stack_trace": "at a"}), "game_version"),
        (json!({"report_id": "6a0b1c2d-0000-4000-8000-000000000003", "game_version": "1", "stack_trace": " \n "}), "stack_trace"),
        (json!({"report_id": "6a0b1c2d-0000-4000-8000-000000000004", "game_version": "1", "stack_trace": "x".repeat(40_000)}), "stack_trace"),
    ] {
        let (s, e) = raw(Method::POST, &format!("{base}/api/v1/analytics/crashes"), Some(&token), Some("application/json"), body.to_string()).await;
        assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some(field)), "{e}");
    }

    let dev = game.developer.token().unwrap();
    let (s, groups) = raw(Method::GET, &format!("{base}/api/v1/games/crash-game/analytics/crashes"), Some(&dev), None, "").await;
    assert_eq!(s, 200, "{groups}");
    let top = &groups["groups"][0];
    assert_eq!((top["signature"].as_str(), top["count"].as_u64()), (Some(a.signature.as_str()), Some(4)));
    assert_eq!(top["title"], "at Player::take_damage (player.gd:10)");
    assert_eq!(top["versions"], json!([{"game_version": "1.0.1", "count": 3}, {"game_version": "1.0.0", "count": 1}]));
    assert!(top["first_seen"].as_str() <= top["last_seen"].as_str());
    assert_eq!(groups["groups"][1]["count"], 1);
    let (s, one) =
        raw(Method::GET, &format!("{base}/api/v1/games/crash-game/analytics/crashes?signature={}", other.signature), Some(&dev), None, "").await;
    assert_eq!((s, one["groups"].as_array().map(Vec::len)), (200, Some(1)));
    let (s, _) = raw(Method::GET, &format!("{base}/api/v1/games/crash-game/analytics/crashes"), Some(&token), None, "").await;
    assert!(s == 403 || s == 404);
}

/// A/B tests: deterministic assignment (the same as the protocol's function, without a
/// write), exposures recorded by the SDK, conversions counted only after exposure, results
/// per variant with a 95 % interval.
#[tokio::test]
async fn experiments_assign_players_and_measure_conversions() {
    use aethex_protocol::analytics::{assign_variant, Variant};
    let origin = Origin::start(&[]);
    let game = origin.game("ab-game").await;
    let base = origin.url.clone();
    let dev = game.developer.token().unwrap();
    let body = json!({"variants": [{"name": "control", "weight": 1}, {"name": "big_button", "weight": 1}], "conversion_event": "purchase"});
    let (s, e) =
        raw(Method::PUT, &format!("{base}/api/v1/games/ab-game/experiments/shop-button"), Some(&dev), Some("application/json"), body.to_string())
            .await;
    assert_eq!(s, 200, "{e}");
    for (bad, field) in [
        (json!({"variants": [{"name": "only", "weight": 1}], "conversion_event": "purchase"}), "variants"),
        (json!({"variants": [{"name": "a", "weight": 0}, {"name": "b", "weight": 1}], "conversion_event": "purchase"}), "variants"),
        (json!({"variants": [{"name": "a", "weight": 1}, {"name": "a", "weight": 1}], "conversion_event": "purchase"}), "variants"),
        (json!({"variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}], "conversion_event": "bad event!"}), "conversion_event"),
    ] {
        let (s, e) =
            raw(Method::PUT, &format!("{base}/api/v1/games/ab-game/experiments/x"), Some(&dev), Some("application/json"), bad.to_string()).await;
        assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some(field)), "{bad}");
    }
    let variants = vec![Variant { name: "control".into(), weight: 1 }, Variant { name: "big_button".into(), weight: 1 }];
    let (mut exposed, mut converted) = (std::collections::HashMap::<String, u64>::new(), std::collections::HashMap::<String, u64>::new());
    for i in 0..12 {
        let p = game.player().await;
        p.analytics().set_consent(true).await.unwrap();
        if i == 0 {
            // A purchase before the exposure does not count.
            p.analytics().track_event("purchase", json!({}));
            p.analytics().flush().await.unwrap();
        }
        let v = p.analytics().experiment_variant("shop-button").await.unwrap().unwrap();
        assert_eq!(Some(v.as_str()), assign_variant("shop-button", &p.user_id().unwrap(), &variants).map(|v| v.name.as_str()), "deterministic");
        assert_eq!(p.analytics().experiment_variant("shop-button").await.unwrap(), Some(v.clone()), "the same every time");
        *exposed.entry(v.clone()).or_default() += 1;
        // Everyone with the big button buys; every other control player does.
        if i > 0 && (v == "big_button" || i % 2 == 0) {
            p.analytics().track_event("purchase", json!({"sku": "gems"}));
            *converted.entry(v.clone()).or_default() += 1;
        }
        p.analytics().flush().await.unwrap();
    }
    let (s, r) = raw(Method::GET, &format!("{base}/api/v1/games/ab-game/experiments/shop-button/results"), Some(&dev), None, "").await;
    assert_eq!(s, 200, "{r}");
    for v in r["variants"].as_array().unwrap() {
        let name = v["variant"].as_str().unwrap().to_string();
        let (x, c) = (exposed.get(&name).copied().unwrap_or(0), converted.get(&name).copied().unwrap_or(0));
        assert_eq!((v["exposed"].as_u64(), v["converted"].as_u64()), (Some(x), Some(c)), "{name}: {r}");
        let (rate, lo, hi) = (v["rate"].as_f64().unwrap(), v["ci_low"].as_f64().unwrap(), v["ci_high"].as_f64().unwrap());
        assert!(lo <= rate && rate <= hi && (0.0..=1.0).contains(&lo) && hi <= 1.0, "{v}");
    }
    // Inactive experiments assign nobody.
    let off =
        json!({"variants": [{"name": "control", "weight": 1}, {"name": "big_button", "weight": 1}], "conversion_event": "purchase", "active": false});
    raw(Method::PUT, &format!("{base}/api/v1/games/ab-game/experiments/shop-button"), Some(&dev), Some("application/json"), off.to_string()).await;
    let p = game.player().await;
    assert_eq!(p.analytics().experiment_variant("shop-button").await.unwrap(), None);
}

/// Funnels count players through ordered steps (a step counts only after the one before);
/// retention counts a day's new players active again N days later.
#[tokio::test]
async fn funnels_follow_the_order_of_steps_and_retention_follows_cohorts() {
    let origin = Origin::start(&[]);
    let game = origin.game("funnel-game").await;
    let base = origin.url.clone();
    let dev = game.developer.token().unwrap();
    let sequences: [&[&str]; 4] = [&["tutorial", "shop", "purchase"], &["tutorial", "purchase"], &["shop", "tutorial"], &["purchase"]];
    for seq in sequences {
        let p = game.player().await;
        p.analytics().set_consent(true).await.unwrap();
        for step in seq {
            p.analytics().track_event(step, json!({}));
            p.analytics().flush().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let (s, f) =
        raw(Method::GET, &format!("{base}/api/v1/games/funnel-game/analytics/funnel?steps=tutorial,shop,purchase"), Some(&dev), None, "").await;
    assert_eq!(s, 200, "{f}");
    let players: Vec<u64> = f["steps"].as_array().unwrap().iter().map(|s| s["players"].as_u64().unwrap()).collect();
    assert_eq!(players, vec![3, 1, 1], "{f}");
    let (s, e) = raw(Method::GET, &format!("{base}/api/v1/games/funnel-game/analytics/funnel?steps=tutorial"), Some(&dev), None, "").await;
    assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some("steps")));

    // Retention over past days: activity rows written into the analytics database as
    // earlier days' ingest would have.
    let db = origin.analytics_database().await;
    let conn = db.connect().unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    let d =
        chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days();
    for (user, day) in [("u1", d), ("u2", d), ("u3", d), ("u1", d + 1), ("u1", d + 7), ("u2", d + 1), ("u4", d - 1), ("u4", d + 1)] {
        conn.execute("INSERT INTO active_users (game_id, day, user_id) VALUES ('funnel-game', ?1, ?2)", libsql::params![day, user]).await.unwrap();
    }
    let (s, r) =
        raw(Method::GET, &format!("{base}/api/v1/games/funnel-game/analytics/retention?cohort=2026-11-01&days=1,7,30"), Some(&dev), None, "").await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["cohort_size"], 3);
    let retained: Vec<u64> = r["days"].as_array().unwrap().iter().map(|d| d["retained"].as_u64().unwrap()).collect();
    assert_eq!(retained, vec![2, 1, 0], "{r}");
    let (s, _) =
        raw(Method::GET, &format!("{base}/api/v1/games/funnel-game/analytics/retention?cohort=2026-11-01&days=0"), Some(&dev), None, "").await;
    assert_eq!(s, 400);
}

/// A game flagged for children (COPPA): analytics and social features are off for its
/// players, whatever consent was given before.
#[tokio::test]
async fn a_coppa_game_has_no_analytics_and_no_social_features() {
    let origin = Origin::start(&[]);
    let game = origin.game("kids-game").await;
    let base = origin.url.clone();
    let p = game.player().await;
    let q = game.player().await;
    // Consent given before the flag does not survive it.
    p.analytics().set_consent(true).await.unwrap();
    let dev = game.developer.token().unwrap();
    let (s, g) =
        raw(Method::PATCH, &format!("{base}/api/v1/games/kids-game"), Some(&dev), Some("application/json"), json!({"coppa": true}).to_string()).await;
    assert_eq!((s, g["coppa"].as_bool()), (200, Some(true)), "{g}");
    assert!(!p.analytics().set_consent(false).await.unwrap().analytics);
    let err = p.analytics().set_consent(true).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    let (s, c) = raw(Method::GET, &format!("{base}/api/v1/analytics/consent"), Some(&q.token().unwrap()), None, "").await;
    assert_eq!((s, c["analytics"].as_bool()), (200, Some(false)));
    p.analytics().track_event("level_completed", json!({}));
    let r = p.analytics().flush().await.unwrap();
    assert_eq!((r.accepted, r.dropped_no_consent), (0, 1));
    // Social features.
    assert_eq!(p.social().friends().request(&q.user_id().unwrap()).await.unwrap_err().status(), Some(403));
    assert_eq!(p.social().friends().list().await.unwrap_err().status(), Some(403));
    let (s, _) = raw(
        Method::POST,
        &format!("{base}/api/v1/games/kids-game/leaderboards"),
        Some(&dev),
        Some("application/json"),
        r#"{"leaderboard_id":"hs","name":"HS"}"#,
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(p.social().leaderboards().get_friends("hs", 10).await.unwrap_err().status(), Some(403));
    // The flag comes off: consent can be given again.
    raw(Method::PATCH, &format!("{base}/api/v1/games/kids-game"), Some(&dev), Some("application/json"), json!({"coppa": false}).to_string()).await;
    assert!(p.analytics().set_consent(true).await.unwrap().analytics);
}

/// A call that returns the status, the `x-aethex-served-by` and `x-aethex-position`
/// headers and the JSON body; `position` is sent back as read-your-writes.
async fn call(method: Method, url: &str, token: &str, body: Option<Value>, position: i64) -> (u16, String, i64, Value) {
    let mut req = reqwest::Client::new().request(method, url).bearer_auth(token).header("x-aethex-position", position.to_string());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (served, pos) = (header("x-aethex-served-by"), header("x-aethex-position").parse().unwrap_or(0));
    let text = resp.text().await.unwrap_or_default();
    (status, served, pos, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Through a native edge: events of a player without consent (or in a COPPA game) are
/// dropped at the edge and never reach origin; consented ones go to origin. The edge
/// answers achievements (`get_all`), A/B variants and consent from its replica, the same
/// as origin does, and follows definitions, unlocks, deletions and the COPPA flag.
#[tokio::test]
async fn the_edge_drops_events_without_consent_and_answers_player_reads() {
    use aethex_protocol::analytics::{assign_variant, Variant};
    let origin = Origin::start_with_edge(&[]);
    let (base, edge) = (origin.url.clone(), origin.edge_url.clone().unwrap());
    let game = origin.game("edge-an").await;
    let dev = game.developer.token().unwrap();
    let mut pos = 0;
    let put = |path: String, body: Value| {
        let (b, d) = (base.clone(), dev.clone());
        async move { call(Method::PUT, &format!("{b}{path}"), &d, Some(body), 0).await }
    };
    let ab = json!({"variants": [{"name": "red", "weight": 3}, {"name": "blue", "weight": 1}], "conversion_event": "purchase"});
    let (s, _, _, e) = put("/api/v1/games/edge-an/experiments/color".into(), ab).await;
    assert_eq!(s, 200, "{e}");
    for (id, hidden, target) in [("first-win", false, 1), ("secret", true, 1), ("collector", false, 10), ("doomed", false, 1)] {
        let body = json!({"name": format!("{id} name"), "description": "d", "hidden": hidden, "progress_target": target});
        let (s, _, p, e) = put(format!("/api/v1/games/edge-an/achievements/{id}"), body).await;
        assert_eq!(s, 200, "{e}");
        pos = pos.max(p);
    }
    let a = game.player().await;
    let b = game.player().await;
    let (ta, tb) = (a.token().unwrap(), b.token().unwrap());
    b.analytics().set_consent(true).await.unwrap();
    for (path, body) in [("/api/v1/achievements/secret/unlock", json!({})), ("/api/v1/achievements/collector/progress", json!({"progress": 4}))] {
        let (s, _, p, e) = call(Method::POST, &format!("{base}{path}"), &tb, Some(body), 0).await;
        assert_eq!(s, 200, "{e}");
        pos = pos.max(p);
    }
    let (_, _, p, _) = call(Method::PUT, &format!("{base}/api/v1/analytics/consent"), &tb, Some(json!({"analytics": true})), 0).await;
    pos = pos.max(p);
    assert!(pos > 0, "writes report their replication position");
    // Reads with a position the edge has not applied go to origin (read-your-writes): wait.
    aethex_tests::edges::wait_for_position(&edge, pos, std::time::Duration::from_secs(20)).await;

    let batch = |n: usize| json!({"events": (0..n).map(|_| json!({"event_id": uuid::Uuid::new_v4().to_string(), "event_type": "level_completed"})).collect::<Vec<_>>()});
    let events = format!("{edge}/api/v1/analytics/events");
    let (s, served, _, r) = call(Method::POST, &events, &ta, Some(batch(3)), pos).await;
    assert_eq!((s, served.as_str(), r["dropped_no_consent"].as_u64(), r["accepted"].as_u64()), (200, "edge", Some(3), Some(0)), "{r}");
    let (s, served, _, r) = call(Method::POST, &events, &tb, Some(batch(2)), pos).await;
    assert_eq!((s, served.as_str(), r["accepted"].as_u64()), (200, "origin", Some(2)), "{r}");
    // A batch the edge cannot judge goes to origin, which explains.
    let (s, served, _, e) = call(Method::POST, &events, &ta, Some(json!({"events": []})), pos).await;
    assert_eq!((s, served.as_str(), assert_error_shape(&e)["data"]["field"].as_str()), (400, "origin", Some("events")));
    // Crash reports too: dropped at the edge without consent, stored by origin with it.
    let crash =
        || json!({"report_id": uuid::Uuid::new_v4().to_string(), "game_version": "1.0.0", "stack_trace": "at Player.gd:7 in _ready\nat Main.gd:3"});
    let crashes = format!("{edge}/api/v1/analytics/crashes");
    let (s, served, _, r) = call(Method::POST, &crashes, &ta, Some(crash()), pos).await;
    assert_eq!((s, served.as_str(), r["stored"].as_bool()), (200, "edge", Some(false)), "{r}");
    let (_, _, _, at_origin) = call(Method::POST, &format!("{base}/api/v1/analytics/crashes"), &ta, Some(crash()), 0).await;
    assert_eq!(r["signature"], at_origin["signature"], "the edge groups as origin does");
    let (s, served, _, r) = call(Method::POST, &crashes, &tb, Some(crash()), pos).await;
    assert_eq!((s, served.as_str(), r["stored"].as_bool()), (200, "origin", Some(true)), "{r}");
    let bad = json!({"report_id": "x", "game_version": "1", "stack_trace": "a"});
    let (s, served, _, e) = call(Method::POST, &crashes, &ta, Some(bad), pos).await;
    assert_eq!(
        (s, served.as_str(), assert_error_shape(&e)["data"]["field"].as_str()),
        (400, "origin", Some("report_id")),
        "origin refuses a bad report"
    );
    let (s, counts) =
        raw(Method::GET, &format!("{base}/api/v1/games/edge-an/analytics/events?event_type=level_completed"), Some(&dev), None, "").await;
    let stored: u64 = counts["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!((s, stored), (200, 2), "only the consented player's events were stored: {counts}");

    // Player reads at the edge equal origin's.
    for (token, user) in [(&ta, a.user_id().unwrap()), (&tb, b.user_id().unwrap())] {
        for path in ["/api/v1/achievements", "/api/v1/experiments", "/api/v1/experiments?experiment_id=color", "/api/v1/analytics/consent"] {
            let (s1, at_edge, _, e) = call(Method::GET, &format!("{edge}{path}"), token, None, pos).await;
            let (s2, _, _, o) = call(Method::GET, &format!("{base}{path}"), token, None, 0).await;
            assert_eq!((s1, s2, at_edge.as_str()), (200, 200, "edge"), "{path}: {e} {o}");
            assert_eq!(e, o, "{path}");
        }
        let (_, _, _, x) = call(Method::GET, &format!("{edge}/api/v1/experiments"), token, None, pos).await;
        let variants = vec![Variant { name: "red".into(), weight: 3 }, Variant { name: "blue".into(), weight: 1 }];
        assert_eq!(x["assignments"][0]["variant"].as_str(), assign_variant("color", &user, &variants).map(|v| v.name.as_str()));
    }
    let (_, _, _, mine) = call(Method::GET, &format!("{edge}/api/v1/achievements"), &tb, None, pos).await;
    let by_id = |v: &Value, id: &str| v["achievements"].as_array().unwrap().iter().find(|a| a["achievement_id"] == id).cloned().unwrap();
    assert_eq!((mine["unlocked"].as_u64(), mine["total"].as_u64()), (Some(1), Some(4)), "{mine}");
    assert_eq!((by_id(&mine, "secret")["name"].as_str(), by_id(&mine, "collector")["progress"].as_u64()), (Some("secret name"), Some(4)));
    let (_, _, _, theirs) = call(Method::GET, &format!("{edge}/api/v1/achievements"), &ta, None, pos).await;
    assert!(by_id(&theirs, "secret")["name"].is_null(), "a locked hidden achievement keeps its secret at the edge: {theirs}");
    let (_, _, _, c) = call(Method::GET, &format!("{edge}/api/v1/analytics/consent"), &tb, None, pos).await;
    assert_eq!(c["analytics"].as_bool(), Some(true));

    // A deleted definition and the COPPA flag reach the edge.
    let (s, _, p1, _) = call(Method::DELETE, &format!("{base}/api/v1/games/edge-an/achievements/doomed"), &dev, None, 0).await;
    assert!(s == 200 || s == 204, "{s}");
    let (s, _, p2, g) = call(Method::PATCH, &format!("{base}/api/v1/games/edge-an"), &dev, Some(json!({"coppa": true})), 0).await;
    assert_eq!(s, 200, "{g}");
    let pos = p1.max(p2);
    assert!(pos > 0);
    aethex_tests::edges::wait_for_position(&edge, pos, std::time::Duration::from_secs(20)).await;
    let (_, served, _, mine) = call(Method::GET, &format!("{edge}/api/v1/achievements"), &tb, None, pos).await;
    assert_eq!((served.as_str(), mine["total"].as_u64()), ("edge", Some(3)), "{mine}");
    let (_, served, _, c) = call(Method::GET, &format!("{edge}/api/v1/analytics/consent"), &tb, None, pos).await;
    assert_eq!((served.as_str(), c["analytics"].as_bool()), ("edge", Some(false)));
    let (s, served, _, r) = call(Method::POST, &events, &tb, Some(batch(4)), pos).await;
    assert_eq!((s, served.as_str(), r["dropped_no_consent"].as_u64()), (200, "edge", Some(4)), "{r}");
}

/// The seed's `track_metric`, `track_screen` and `set_user_property` have their own
/// queries: metric samples per bucket (count, avg, min, max), screens by views and
/// players, and players by their latest value of a property.
#[tokio::test]
async fn metrics_screens_and_user_properties_are_queried() {
    let origin = Origin::start(&[]);
    let game = origin.game("mx-game").await;
    let base = origin.url.clone();
    let dev = game.developer.token().unwrap();
    let (a, b, c) = (game.player().await, game.player().await, game.player().await);
    for p in [&a, &b, &c] {
        p.analytics().set_consent(true).await.unwrap();
    }
    a.analytics().track_metric("fps", 60.0);
    a.analytics().track_metric("fps", 30.0);
    a.analytics().track_metric("frame_time_ms", 16.6);
    a.analytics().track_screen("main_menu");
    a.analytics().track_screen("main_menu");
    a.analytics().track_screen("shop");
    a.analytics().set_user_property("vip_status", json!(true));
    a.analytics().set_user_property("vip_status", json!(false));
    b.analytics().track_metric("fps", 45.0);
    b.analytics().track_screen("main_menu");
    b.analytics().set_user_property("vip_status", json!(true));
    c.analytics().set_user_property("vip_status", json!("gold"));
    for p in [&a, &b, &c] {
        p.analytics().flush().await.unwrap();
    }
    let get = |path: &str| {
        let (u, d) = (format!("{base}/api/v1/games/mx-game/analytics/{path}"), dev.clone());
        async move { raw(Method::GET, &u, Some(&d), None, "").await }
    };
    let (s, m) = get("metrics?name=fps").await;
    assert_eq!(s, 200, "{m}");
    let buckets = m["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 1, "{m}");
    let bk = &buckets[0];
    assert_eq!((bk["count"].as_u64(), bk["avg"].as_f64(), bk["min"].as_f64(), bk["max"].as_f64()), (Some(3), Some(45.0), Some(30.0), Some(60.0)));
    let (_, ft) = get("metrics?name=frame_time_ms&bucket=day").await;
    assert_eq!((ft["bucket"].as_str(), ft["buckets"][0]["count"].as_u64()), (Some("day"), Some(1)), "{ft}");

    let (s, sc) = get("screens").await;
    assert_eq!(s, 200);
    assert_eq!(sc["screens"], json!([{"screen": "main_menu", "views": 3, "players": 2}, {"screen": "shop", "views": 1, "players": 1}]));

    let (s, up) = get("user-properties?name=vip_status").await;
    assert_eq!(s, 200, "{up}");
    let mut values: Vec<(String, u64)> =
        up["values"].as_array().unwrap().iter().map(|v| (v["value"].to_string(), v["players"].as_u64().unwrap())).collect();
    values.sort();
    assert_eq!(values, vec![("\"gold\"".to_string(), 1), ("false".to_string(), 1), ("true".to_string(), 1)], "a's latest value counts");

    for (path, field) in [
        ("metrics", None),
        ("metrics?name=bad%20name!", Some("name")),
        ("metrics?name=fps&bucket=week", Some("bucket")),
        ("user-properties", None),
        ("screens?from=yesterday", Some("from")),
    ] {
        let (s, e) = get(path).await;
        assert_eq!(s, 400, "{path}: {e}");
        if let Some(f) = field {
            assert_eq!(assert_error_shape(&e)["data"]["field"].as_str(), Some(f), "{path}");
        }
    }
    let (s, _) = raw(Method::GET, &format!("{base}/api/v1/games/mx-game/analytics/screens"), Some(&a.token().unwrap()), None, "").await;
    assert!(s == 403 || s == 404, "players cannot query: {s}");
}
