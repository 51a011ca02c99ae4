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
    let ask = |body: serde_json::Value| http.post(format!("{base}/v1/presence")).header("x-aethex-edge-key", origin.edge_key()).json(&body).send();
    let r = ask(json!({"user_ids": [di.clone(), "nobody"]})).await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["online"].as_array().map(|a| a.len()), Some(1), "{v}");
    assert_eq!(v["online"][0]["user_id"].as_str(), Some(di.as_str()));
    let many: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    assert_eq!(ask(json!({"user_ids": many})).await.unwrap().status().as_u16(), 400);
    assert_eq!(ask(json!({"user_ids": "x"})).await.unwrap().status().as_u16(), 400);
}
