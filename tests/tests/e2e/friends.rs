//! Friends end to end through the SDK: requests by id and username, mutual requests,
//! accept, decline, remove, block (silent to the blocked), limits of identity, and the
//! seed's friends-only leaderboard (`range: friends`) at origin and through an edge.

use aethex_protocol::social::FriendState;
use aethex_tests::{assert_error_shape, raw, Origin};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn players_befriend_block_and_compare_scores_with_friends() {
    let origin = Origin::start_with_edge(&[]);
    let game = origin.game("social-game").await;
    let (a, b, c, d) = (game.player().await, game.player().await, game.player().await, game.player().await);
    let id = |p: &aethex_tests::aethex_sdk::AeThexCloud| p.user_id().unwrap();
    let (ai, bi, ci, di) = (id(&a), id(&b), id(&c), id(&d));

    // A asks B by id; B sees it incoming and accepts.
    let sent = a.social().friends().request(&bi).await.unwrap();
    assert_eq!(sent.state, FriendState::Outgoing);
    let bl = b.social().friends().list().await.unwrap();
    assert_eq!((bl.incoming.len(), bl.incoming[0].user_id.as_str()), (1, ai.as_str()));
    let f = b.social().friends().accept(&ai).await.unwrap();
    assert_eq!(f.state, FriendState::Friends);
    assert_eq!(a.social().friends().list().await.unwrap().friends.iter().map(|f| f.user_id.clone()).collect::<Vec<_>>(), vec![bi.clone()]);
    // Asking again changes nothing; accepting what is not a request: 404.
    assert_eq!(a.social().friends().request(&bi).await.unwrap().state, FriendState::Friends);
    assert_eq!(b.social().friends().accept(&ai).await.unwrap_err().status(), Some(404));

    // Mutual requests make friends at once (C asks A by username, A asks C).
    let a_name = a.auth().get_current_user().unwrap().username;
    assert_eq!(c.social().friends().request_by_username(&a_name.to_uppercase()).await.unwrap().state, FriendState::Outgoing);
    assert_eq!(a.social().friends().request(&ci).await.unwrap().state, FriendState::Friends);

    // D asks A; A declines; D's request is gone.
    d.social().friends().request(&ai).await.unwrap();
    a.social().friends().decline(&di).await.unwrap();
    assert!(d.social().friends().list().await.unwrap().outgoing.is_empty());

    // Bad requests.
    let url = |p: &str| format!("{}{}", origin.url, p);
    let token = a.token().unwrap();
    for (body, status, field) in [
        (json!({"user_id": ai}), 400, "user_id"),
        (json!({}), 400, "user_id"),
        (json!({"user_id": bi, "username": "x"}), 400, "user_id"),
        (json!({"user_id": "00000000-0000-4000-8000-000000000000"}), 404, "user_id"),
        (json!({"username": "nobody-here"}), 404, "user_id"),
    ] {
        let (s, e) = raw(Method::POST, &url("/api/v1/friends/requests"), Some(&token), Some("application/json"), body.to_string()).await;
        assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (status, Some(field)), "{body}: {e}");
    }

    // Scores; friends-only board ranks among A and A's friends (B, C), not D.
    let dev = game.developer.token().unwrap();
    let (s, _) = raw(
        Method::POST,
        &url("/api/v1/games/social-game/leaderboards"),
        Some(&dev),
        Some("application/json"),
        r#"{"leaderboard_id":"hs","name":"High"}"#,
    )
    .await;
    assert_eq!(s, 201);
    for (p, score) in [(&a, 50), (&b, 70), (&c, 10), (&d, 999)] {
        p.social().leaderboards().submit_score("hs", score).await.unwrap();
    }
    let page = a.social().leaderboards().get_friends("hs", 10).await.unwrap();
    let got: Vec<(i64, String, i64)> = page.entries.iter().map(|e| (e.rank, e.user_id.clone(), e.score)).collect();
    assert_eq!(got, vec![(1, bi.clone(), 70), (2, ai.clone(), 50), (3, ci.clone(), 10)]);
    // Through the edge too (it forwards friends pages to origin).
    let edge = origin.edge_url.clone().unwrap();
    let (s, via_edge) = raw(Method::GET, &format!("{edge}/api/v1/leaderboards/hs?range=friends&limit=2"), Some(&token), None, "").await;
    assert_eq!((s, via_edge["entries"].as_array().map(Vec::len)), (200, Some(2)), "{via_edge}");
    assert_eq!(via_edge["entries"][0]["user_id"].as_str(), Some(bi.as_str()));
    let global = a.social().leaderboards().get("hs", 10).await.unwrap();
    assert_eq!(global.entries[0].user_id, di, "the global board still has everyone");
    let (s, e) = raw(Method::GET, &url("/api/v1/leaderboards/hs?range=world"), Some(&token), None, "").await;
    assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some("range")));

    // Remove: both sides lose the friendship.
    a.social().friends().remove(&ci).await.unwrap();
    assert!(c.social().friends().list().await.unwrap().friends.is_empty());
    assert_eq!(a.social().friends().remove(&ci).await.unwrap_err().status(), Some(404));

    // Block: B blocks A; the friendship ends, A cannot ask again and is told only "no such player".
    let blocked = b.social().friends().block(&ai).await.unwrap();
    assert_eq!(blocked.state, FriendState::Blocked);
    assert!(a.social().friends().list().await.unwrap().friends.is_empty());
    assert_eq!(a.social().friends().request(&bi).await.unwrap_err().status(), Some(404));
    assert_eq!(b.social().friends().request(&ai).await.unwrap_err().status(), Some(409), "unblock first");
    b.social().friends().unblock(&ai).await.unwrap();
    assert_eq!(a.social().friends().request(&bi).await.unwrap().state, FriendState::Outgoing);
}

/// Presence in the friend list comes from the live relays: offline, then online in the
/// region the friend connected to (in a room or not), offline again
/// once the friend's socket closes or the relay dies. Requests that are not friendships
/// carry no presence, and the relay's presence route needs the cluster key.
#[tokio::test]
async fn friends_see_each_other_online_through_the_relays() {
    use aethex_protocol::multiplayer::{Encoding, RoomOptions};
    use aethex_tests::relays::Relay;
    use std::time::Duration;
    let origin = Origin::start(&[]);
    let eu = Relay::start(&origin, "eu-west", &[]);
    let mut us = Relay::start(&origin, "us-east", &[]);
    eu.wait_registered(&origin).await;
    us.wait_registered(&origin).await;
    let game = origin.game("presence-game").await;
    let (a, b, c, d) = (game.player().await, game.player().await, game.player().await, game.player().await);
    let id = |p: &aethex_tests::aethex_sdk::AeThexCloud| p.user_id().unwrap();
    let (bi, ci, di) = (id(&b), id(&c), id(&d));
    for (p, pi) in [(&b, &bi), (&c, &ci)] {
        a.social().friends().request(pi).await.unwrap();
        p.social().friends().accept(&id(&a)).await.unwrap();
    }
    a.social().friends().request(&di).await.unwrap();
    let presence_of = |who: String| {
        let a = &a;
        async move {
            let list = a.social().friends().list().await.unwrap();
            assert!(list.outgoing.iter().all(|f| f.presence.is_none()), "only friends carry presence");
            list.friends.into_iter().find(|f| f.user_id == who).and_then(|f| f.presence).expect("a friend has presence")
        }
    };
    let p = presence_of(bi.clone()).await;
    assert!(!p.online && p.region.is_none(), "{p:?}");

    // B connects to eu-west (no room); C to us-east in a room; D (not a friend yet) too.
    let ws = |r: &Relay| r.url.replacen("http://", "ws://", 1);
    let sb = b.multiplayer().connect(&ws(&eu), Encoding::Json).await.unwrap();
    let mut sc = c.multiplayer().connect(&ws(&us), Encoding::Msgpack).await.unwrap();
    sc.create_room(RoomOptions { max_players: 4, password: None, properties: Default::default() }, json!({})).await.unwrap();
    let _sd = d.multiplayer().connect(&ws(&eu), Encoding::Json).await.unwrap();
    let pb = presence_of(bi.clone()).await;
    assert_eq!((pb.online, pb.region.as_deref(), pb.same_game, pb.in_room), (true, Some("eu-west"), true, false), "{pb:?}");
    let pc = presence_of(ci.clone()).await;
    assert_eq!((pc.online, pc.region.as_deref(), pc.in_room), (true, Some("us-east"), true), "{pc:?}");
    sc.leave_room().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while presence_of(ci.clone()).await.in_room {
        assert!(std::time::Instant::now() < deadline, "leaving the room shows");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // B closes the socket: offline.
    drop(sb);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while presence_of(bi.clone()).await.online {
        assert!(std::time::Instant::now() < deadline, "a closed socket goes offline");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A dead relay's players are offline (the region is still listed for a while).
    us.kill();
    let pc = presence_of(ci.clone()).await;
    assert!(!pc.online, "{pc:?}");

    // The relay's route itself: the cluster key, and a bounded query.
    let http = reqwest::Client::new();
    let base = eu.url.clone();
    let r = http.post(format!("{base}/v1/presence")).json(&json!({"user_ids": [di]})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let ask = |body: serde_json::Value| http.post(format!("{base}/v1/presence")).header("x-aethex-relay-key", origin.relay_key()).json(&body).send();
    let r = ask(json!({"user_ids": [di.clone(), "nobody"]})).await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["online"].as_array().map(|a| a.len()), Some(1), "{v}");
    assert_eq!(v["online"][0]["user_id"].as_str(), Some(di.as_str()));
    let many: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    assert_eq!(ask(json!({"user_ids": many})).await.unwrap().status().as_u16(), 400);
    assert_eq!(ask(json!({"user_ids": "x"})).await.unwrap().status().as_u16(), 400);
}

/// Share links: a snapshot of a score (with rank) or an unlocked achievement, public as an
/// escaped HTML page or JSON (also through an edge, which forwards it); only the owner
/// deletes one; at most 200 per player; gone with the account, and hidden in a game
/// flagged COPPA.
#[tokio::test]
async fn players_share_scores_and_achievements_as_public_links() {
    use aethex_protocol::social::MAX_SHARES_PER_PLAYER;
    let origin = Origin::start_with_edge(&[]);
    let (base, edge) = (origin.url.clone(), origin.edge_url.clone().unwrap());
    let game = origin.game("share-game").await;
    let dev = game.developer.token().unwrap();
    let post = |path: &str, token: &str, body: serde_json::Value| {
        let (u, t) = (format!("{base}{path}"), token.to_string());
        async move { raw(Method::POST, &u, Some(&t), Some("application/json"), body.to_string()).await }
    };
    let board = json!({"leaderboard_id": "hs", "name": "<b>Best & \"Fast\"</b>"});
    assert_eq!(post("/api/v1/games/share-game/leaderboards", &dev, board).await.0, 201);
    for (id, icon) in [("first", "https://cdn.example.com/first.png"), ("never", "javascript:alert(1)")] {
        let def = json!({"name": format!("{id} <i>name</i>"), "description": "Win once", "icon_url": icon});
        let (s, e) =
            raw(Method::PUT, &format!("{base}/api/v1/games/share-game/achievements/{id}"), Some(&dev), Some("application/json"), def.to_string())
                .await;
        assert!(s == 200 || s == 400, "{e}");
    }
    let (a, b) = (game.player().await, game.player().await);
    a.social().leaderboards().submit_score("hs", 500).await.unwrap();
    b.social().leaderboards().submit_score("hs", 900).await.unwrap();
    let shared = a.social().share_score("hs").await.unwrap();
    assert_eq!((shared.kind.as_str(), shared.score, shared.rank), ("score", Some(500), Some(2)));
    assert!(shared.url.ends_with(&format!("/share/{}", shared.share_id)) && shared.share_id.len() == 22, "{}", shared.url);

    // The public page: no token, every value escaped, a strict CSP.
    let http = reqwest::Client::new();
    let resp = http.get(format!("{base}/share/{}", shared.share_id)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(resp.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("scored 500 on &lt;b&gt;Best &amp; &quot;Fast&quot;&lt;/b&gt;") && html.contains("Rank #2"), "{html}");
    assert!(!html.contains("<b>Best"), "raw markup from a name never reaches the page");
    // JSON by Accept, by the API route, and through the edge.
    let json_of = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).header("accept", "application/json").send().await.unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let expected = serde_json::to_value(&shared).unwrap();
    for url in [format!("{base}/share/{}", shared.share_id), format!("{base}/api/v1/share/{}", shared.share_id)] {
        assert_eq!(json_of(url).await, (200, expected.clone()));
    }
    let (s, via_edge) = json_of(format!("{edge}/share/{}", shared.share_id)).await;
    assert_eq!((s, via_edge["score"].as_i64()), (200, Some(500)));
    // The snapshot stays as it was when shared.
    a.social().leaderboards().submit_score("hs", 1000).await.unwrap();
    assert_eq!(json_of(format!("{base}/api/v1/share/{}", shared.share_id)).await.1["rank"].as_i64(), Some(2));

    // Achievements: only unlocked ones; an icon only if https.
    let err = a.social().share_achievement("first").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    a.social().achievements().unlock("first").await.unwrap();
    let ach = a.social().share_achievement("first").await.unwrap();
    assert_eq!((ach.kind.as_str(), ach.achievement_name.as_deref()), ("achievement", Some("first <i>name</i>")));
    let html = http.get(&ach.url).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("<img src=\"https://cdn.example.com/first.png\"") && html.contains("first &lt;i&gt;name&lt;/i&gt;"), "{html}");

    // Bad requests.
    let ta = a.token().unwrap();
    for (body, status, field) in [
        (json!({"kind": "score", "leaderboard_id": "nope"}), 404, "leaderboard_id"),
        (json!({"kind": "achievement", "achievement_id": "nope"}), 404, "achievement_id"),
        (json!({"kind": "score", "leaderboard_id": "bad id!"}), 400, "leaderboard_id"),
    ] {
        let (s, e) = post("/api/v1/share", &ta, body.clone()).await;
        assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (status, Some(field)), "{body}: {e}");
    }
    for body in [json!({"kind": "selfie"}), json!({"kind": "score", "leaderboard_id": "hs", "extra": 1}), json!({})] {
        assert_eq!(post("/api/v1/share", &ta, body.clone()).await.0, 400, "{body}");
    }
    let (s, _) =
        raw(Method::POST, &format!("{base}/api/v1/share"), None, Some("application/json"), r#"{"kind":"score","leaderboard_id":"hs"}"#).await;
    assert_eq!(s, 401);
    let c = game.player().await;
    assert_eq!(c.social().share_score("hs").await.unwrap_err().status(), Some(404), "no score on the board");
    for id in ["nope", "../../etc/passwd", "AAAAAAAAAAAAAAAAAAAAAA"] {
        assert_eq!(json_of(format!("{base}/api/v1/share/{id}")).await.0, 404, "{id}");
    }

    // Only the owner deletes.
    assert_eq!(b.social().delete_share(&shared.share_id).await.unwrap_err().status(), Some(404));
    a.social().delete_share(&shared.share_id).await.unwrap();
    assert_eq!(json_of(format!("{base}/api/v1/share/{}", shared.share_id)).await.0, 404);

    // The limit per player.
    let mut made = 0;
    let refusal = loop {
        match b.social().share_score("hs").await {
            Ok(_) => made += 1,
            Err(e) => break e,
        }
        assert!(made <= MAX_SHARES_PER_PLAYER, "no limit");
    };
    assert_eq!((made, refusal.status()), (MAX_SHARES_PER_PLAYER, Some(409)), "{refusal}");

    // COPPA hides existing links and refuses new ones.
    let (s, _) =
        raw(Method::PATCH, &format!("{base}/api/v1/games/share-game"), Some(&dev), Some("application/json"), json!({"coppa": true}).to_string())
            .await;
    assert_eq!(s, 200);
    assert_eq!(json_of(format!("{base}/api/v1/share/{}", ach.share_id)).await.0, 404);
    assert_eq!(a.social().share_score("hs").await.unwrap_err().status(), Some(403));
    raw(Method::PATCH, &format!("{base}/api/v1/games/share-game"), Some(&dev), Some("application/json"), json!({"coppa": false}).to_string()).await;
    assert_eq!(json_of(format!("{base}/api/v1/share/{}", ach.share_id)).await.0, 200);

    // GDPR: the export lists the links; erasing the account removes them.
    let (s, doc) = raw(Method::GET, &format!("{base}/api/v1/auth/me/export"), Some(&ta), None, "").await;
    assert_eq!(s, 200);
    assert!(doc.to_string().contains(&ach.share_id), "the export lists the player's share links");
    let name = a.auth().get_current_user().unwrap().username;
    let resp = http.delete(format!("{base}/api/v1/auth/me")).bearer_auth(&ta).json(&json!({"confirm": name})).send().await.unwrap();
    assert!(resp.status().is_success());
    assert_eq!(json_of(format!("{base}/api/v1/share/{}", ach.share_id)).await.0, 404);
}
