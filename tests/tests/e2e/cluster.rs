//! Origin on a libSQL server (sqld) instead of a local file: the remote-primary mode a
//! cluster of origins runs in.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use aethex_tests::sqld::Sqld;
use aethex_tests::Origin;

/// Concurrent device logins and saves, a fifth of them abandoned by their client half way
/// (a short timeout), never leave origin answering 500: before, one shared Hrana stream
/// took every read, and a cancelled request left it holding a used baton, so every later
/// request failed until a restart. After the storm, every request succeeds again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_do_not_wedge_origin_on_sqld() {
    let sqld = Arc::new(Sqld::start());
    let origin = Origin::start_on(&sqld, &[("AETHEX_AUTH__RATE_LIMIT_PER_IP_PER_MINUTE", "1000000")]);
    let game = origin.game("sqld-game").await;
    let url = format!("{}/api/v1/auth/device", origin.url);
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (http, url, key) = (http.clone(), url.clone(), game.client_key.clone());
        tasks.push(tokio::spawn(async move {
            let mut server_errors = 0;
            for i in 0..30 {
                let mut req =
                    http.post(&url).header("x-aethex-client-key", &key).json(&json!({"device_id": format!("storm-device-{w:04}-{:08}", i % 5)}));
                if i % 5 == 4 {
                    // Abandoned by the client while origin is still talking to sqld.
                    req = req.timeout(Duration::from_micros(1500 + (i * 97 % 2000) as u64));
                }
                if let Ok(r) = req.send().await {
                    if r.status().is_server_error() {
                        server_errors += 1;
                    }
                }
            }
            server_errors
        }));
    }
    let mut server_errors = 0;
    for t in tasks {
        server_errors += t.await.unwrap();
    }
    assert_eq!(server_errors, 0, "origin answered 5xx during the storm");
    // Afterwards every kind of request works: reads, writes, a save and its load.
    let player = game.player().await;
    for i in 0..20 {
        player.saves().save(&format!("slot{i}"), json!({"i": i})).await.expect("save after the storm");
        assert_eq!(player.saves().load(&format!("slot{i}")).await.expect("load after the storm").data.unwrap()["i"], i);
    }
    // The read model (leaderboard pages) too: reads abandoned half way, then all answered.
    let created = http
        .post(format!("{}/api/v1/games/sqld-game/leaderboards", origin.url))
        .bearer_auth(game.developer.token().unwrap())
        .json(&json!({"leaderboard_id": "top", "name": "Top"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let board = format!("{}/api/v1/leaderboards/top", origin.url);
    let token = player.token().unwrap();
    http.post(format!("{board}/scores")).bearer_auth(&token).json(&json!({"score": 42})).send().await.unwrap();
    let mut reads = Vec::new();
    for i in 0..400u64 {
        let (http, board, token) = (http.clone(), board.clone(), token.clone());
        reads.push(tokio::spawn(async move {
            let mut req = http.get(&board).bearer_auth(&token);
            if i % 3 == 0 {
                req = req.timeout(Duration::from_micros(500 + i * 97 % 8000));
            }
            req.send().await.map(|r| r.status().is_server_error()).unwrap_or(false)
        }));
    }
    for r in reads {
        assert!(!r.await.unwrap(), "a leaderboard read answered 5xx");
    }
    for _ in 0..20 {
        let page: serde_json::Value = http.get(&board).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(page["entries"][0]["score"], 42, "{page}");
    }
    let ready = reqwest::get(format!("{}/readyz", origin.url)).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["database"], "remote");
}

/// Three origins started together on one fresh sqld apply the migrations once between
/// them; a player signs up through one, signs in through another and reaches the same
/// data through the third; 90 saves written through all three at once all land (the
/// group commits of three writers take turns at the server's write lock, and 30 writes to
/// one slot through all three give versions 1 to 30, none lost); analytics sent
/// through two origins is counted together by the third.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_origins_on_one_sqld_share_one_database() {
    let sqld = Arc::new(Sqld::start());
    let origins = Origin::start_cluster(&sqld, 3, &[]);
    let (a, b, c) = (&origins[0], &origins[1], &origins[2]);

    // Every migration is recorded once.
    let db = a.database().await.connect().unwrap();
    let mut rows = db.query("SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations", ()).await.unwrap();
    let row = rows.next().await.unwrap().unwrap();
    let (n, distinct) = (row.get::<i64>(0).unwrap(), row.get::<i64>(1).unwrap());
    assert_eq!(n, distinct, "a migration was applied twice");
    assert!(n >= 19, "{n} migrations");
    drop(rows);

    let game = a.game("cluster-game").await;
    let on = |o: &Origin| aethex_tests::aethex_sdk::AeThexCloud::new(&o.url).with_client_key(&game.client_key);
    let (player, email, password) = game.email_player().await;
    let user = player.user_id().unwrap();
    let via_b = on(b);
    via_b.auth().login_email(&email, &password).await.expect("sign in through another origin");
    assert_eq!(via_b.user_id().unwrap(), user);
    let via_c = on(c);
    via_c.auth().login_email(&email, &password).await.expect("sign in through a third origin");
    via_c.saves().save("from-c", json!({"hello": "c"})).await.expect("save through a third origin");
    assert_eq!(player.saves().load("from-c").await.unwrap().data.unwrap()["hello"], "c");
    // A token made by one origin is taken by the others (one set of signing keys).
    for o in [b, c] {
        let r = reqwest::Client::new().get(format!("{}/api/v1/saves/me", o.url)).bearer_auth(player.token().unwrap()).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", o.url);
    }

    // Writes through all three at once.
    let mut tasks = Vec::new();
    for (k, o) in origins.iter().enumerate() {
        let client = on(o);
        client.auth().login_email(&email, &password).await.expect("sign in");
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            for i in 0..30 {
                let slot = format!("o{k}-{i}");
                client.saves().save(&slot, json!({"k": k, "i": i})).await.unwrap_or_else(|e| panic!("{slot}: {e}"));
                done.push(slot);
                if i % 3 == 0 {
                    // Unconditional (no base_version): every write makes a new version.
                    let r = reqwest::Client::new()
                        .post(format!("{}/api/v1/saves/me", client.base_url()))
                        .bearer_auth(client.token().unwrap())
                        .json(&json!({"slot_name": "shared", "data": {"k": k, "i": i}}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "shared: {}", r.text().await.unwrap_or_default());
                }
            }
            done
        }));
    }
    let mut written = Vec::new();
    for t in tasks {
        written.extend(t.await.unwrap());
    }
    assert_eq!(written.len(), 90);
    assert_eq!(player.saves().load("shared").await.unwrap().metadata.version, 30, "a write to the shared slot was lost");
    let listed = via_b.saves().list().await.unwrap();
    for slot in &written {
        assert!(listed.iter().any(|s| &s.metadata.slot_name == slot), "{slot} is missing");
    }

    // Analytics through two origins, counted by the third.
    for client in [&player, &via_b] {
        client.analytics().set_consent(true).await.unwrap();
        client.analytics().track_event("cluster_event", json!({}));
        assert_eq!(client.analytics().flush().await.unwrap().accepted, 1);
    }
    let url = format!("{}/api/v1/games/cluster-game/analytics/events?event_type=cluster_event", c.url);
    let counts = aethex_tests::get_json(&url, &game.developer.token().unwrap()).await;
    let total: u64 = counts["buckets"].as_array().expect("buckets").iter().map(|b| b["count"].as_u64().unwrap_or(0)).sum();
    assert_eq!(total, 2, "{counts}");
}

/// With `[cluster] redis_url`, the auth limit per IP holds for the cluster, not per
/// origin: 10 a minute through two origins lets 10 through and refuses the rest with 429
/// and `Retry-After`. Without Redis each origin would let its own 10 through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rate_limits_hold_across_origins() {
    let sqld = Arc::new(Sqld::start());
    let redis = aethex_tests::redis::Redis::start();
    let env = [("AETHEX_CLUSTER__REDIS_URL", redis.url.as_str()), ("AETHEX_AUTH__RATE_LIMIT_PER_IP_PER_MINUTE", "10")];
    let origins = Origin::start_cluster(&sqld, 2, &env);
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..16 {
        let o = &origins[i % 2];
        let r = http
            .post(format!("{}/api/v1/auth/login", o.url))
            .json(&json!({"email": format!("nobody{i}@example.com"), "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&wait), "{wait}");
        }
        statuses.push(r.status().as_u16());
    }
    let allowed = statuses.iter().filter(|s| **s != 429).count();
    assert_eq!(allowed, 10, "{statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");

    // Redis gone: each origin counts on its own again (logins are not refused for it).
    drop(redis);
    let r = http
        .post(format!("{}/api/v1/auth/login", origins[0].url))
        .header("x-forwarded-for", "198.51.100.7")
        .json(&json!({"email": "someone@example.com", "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 500);
}

/// A board's minimum interval between a player's submits holds across origins: it is kept
/// in the database, inside the score's own transaction, on the database's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_submit_interval_holds_across_origins() {
    let sqld = Arc::new(Sqld::start());
    let origins = Origin::start_cluster(&sqld, 2, &[]);
    let game = origins[0].game("interval-game").await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/api/v1/games/interval-game/leaderboards", origins[0].url))
        .bearer_auth(game.developer.token().unwrap())
        .json(&json!({"leaderboard_id": "daily", "name": "Daily", "min_submit_interval_ms": 60000}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap_or_default());
    let player = game.player().await;
    let submit = |o: &Origin, score: i64| {
        let (url, token) = (format!("{}/api/v1/leaderboards/daily/scores", o.url), player.token().unwrap());
        let http = http.clone();
        async move { http.post(url).bearer_auth(token).json(&json!({"score": score})).send().await.unwrap() }
    };
    assert_eq!(submit(&origins[0], 10).await.status(), 200);
    let again = submit(&origins[1], 20).await;
    assert_eq!(again.status(), 429, "the other origin took a submit inside the interval");
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["error"]["data"]["field"], "leaderboard_id", "{body}");
}

/// With `[cluster] redis_url`, origins tell each other what they changed: an edge's
/// long-poll on one origin wakes as soon as another origin commits a replicated write
/// (without Redis only the 10-second safety re-check would find it), and a client key
/// rotated through one origin is refused at once by another that had it cached (without
/// Redis, for up to 30 seconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_tell_each_other_of_commits_and_rotated_keys() {
    let sqld = Arc::new(Sqld::start());
    let redis = aethex_tests::redis::Redis::start();
    let origins = Origin::start_cluster(&sqld, 2, &[("AETHEX_CLUSTER__REDIS_URL", redis.url.as_str())]);
    let (a, b) = (&origins[0], &origins[1]);
    let game = a.game("bus-game").await;
    let http = reqwest::Client::new();
    let edge_key = a.edge_key();

    // An edge waits on b from the head; a leaderboard is made through a.
    let changes = |after: i64, wait_ms: u64| {
        let (http, url, key) = (http.clone(), format!("{}/api/v1/replication/changes?after={after}&wait_ms={wait_ms}", b.url), edge_key.clone());
        async move {
            let r = http.get(url).header("x-aethex-edge-key", key).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let head = changes(0, 0).await["head"].as_i64().unwrap();
    let poll = tokio::spawn(changes(head, 25_000));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let written = std::time::Instant::now();
    let created = http
        .post(format!("{}/api/v1/games/bus-game/leaderboards", a.url))
        .bearer_auth(game.developer.token().unwrap())
        .json(&json!({"leaderboard_id": "bus", "name": "Bus"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let answer = poll.await.unwrap();
    let woke_after = written.elapsed();
    assert!(!answer["changes"].as_array().unwrap().is_empty(), "{answer}");
    assert!(woke_after < Duration::from_secs(5), "the long-poll on b woke {woke_after:?} after a's commit (not told)");

    // b resolves (and caches) the client key; a rotates it; b refuses the old key at once.
    let login = |o: &Origin, key: String, device: &'static str| {
        let (http, url) = (http.clone(), format!("{}/api/v1/auth/device", o.url));
        async move { http.post(url).header("x-aethex-client-key", key).json(&json!({"device_id": device})).send().await.unwrap().status() }
    };
    assert_eq!(login(b, game.client_key.clone(), "bus-device-000000001").await, 200);
    let rotated =
        http.post(format!("{}/api/v1/games/bus-game/client-key/rotate", a.url)).bearer_auth(game.developer.token().unwrap()).send().await.unwrap();
    assert_eq!(rotated.status(), 200);
    let new_key = rotated.json::<serde_json::Value>().await.unwrap()["client_key"].as_str().unwrap().to_string();
    let old = login(b, game.client_key.clone(), "bus-device-000000002").await;
    assert!(old.is_client_error(), "b still took the rotated key: {old}");
    assert_eq!(login(b, new_key, "bus-device-000000003").await, 200);
}

/// With `[cluster] redis_url`, one origin runs the matchmaking queue and the others pass
/// it their requests: tickets made through one origin and polled through another are
/// matched, a player has one active ticket in the whole cluster, and when the origin that
/// runs the queue is killed (SIGKILL), another takes over with every queued ticket: they
/// match with a newcomer, and nobody lands in two matches. The internal route refuses
/// callers without the cluster key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matchmaking_is_one_queue_and_survives_the_loss_of_its_origin() {
    use aethex_tests::relays::Relay;
    let sqld = Arc::new(Sqld::start());
    let redis = aethex_tests::redis::Redis::start();
    let env = [("AETHEX_CLUSTER__REDIS_URL", redis.url.as_str()), ("AETHEX_MATCHMAKING__INTERVAL_MS", "50")];
    let mut origins = Origin::start_cluster(&sqld, 3, &env);
    let http = reqwest::Client::new();

    // Which origin runs the queue (the lease names its URL).
    let leader_of = |redis: &aethex_tests::redis::Redis, origins: &[Origin]| -> Option<usize> {
        let value = redis.get("aethex:mm:leader")?;
        let url = value.split_once(' ')?.1.to_string();
        origins.iter().position(|o| o.url == url)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let leader = loop {
        if let Some(i) = leader_of(&redis, &origins) {
            break i;
        }
        assert!(std::time::Instant::now() < deadline, "no origin took the matchmaking lease");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (f1, f2) = ((leader + 1) % 3, (leader + 2) % 3);

    let game = origins[f1].game("mm-cluster").await;
    let relay = Relay::start(&origins[f1], "eu", &[]);
    relay.wait_registered(&origins[f1]).await;
    let dev = game.developer.token().unwrap();
    for (mode, size) in [("duel", 2), ("trio", 3)] {
        let r = http
            .put(format!("{}/api/v1/games/mm-cluster/matchmaking/modes/{mode}", origins[f2].url))
            .bearer_auth(&dev)
            .json(&json!({"match_size": size, "max_wait_secs": 120}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    let queue = |o: &Origin, token: String, mode: &'static str| {
        let (http, url) = (http.clone(), format!("{}/api/v1/matchmaking/tickets", o.url));
        async move {
            let r = http.post(url).bearer_auth(token).json(&json!({"mode": mode, "regions": [{"region": "eu", "rtt_ms": 20}]})).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    // Long-polls a ticket through `o` until it leaves the queue.
    let until_matched = |o: &Origin, token: String, id: String| {
        let (http, url) = (http.clone(), format!("{}/api/v1/matchmaking/tickets/{id}?wait_ms=3000", o.url));
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                let r = http.get(&url).bearer_auth(&token).send().await.unwrap();
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap();
                if status == 200 && body["status"] != "queued" {
                    return body;
                }
                // 503 while the queue fails over: poll again.
                assert!(status == 200 || status == 503, "{status}: {body}");
                assert!(std::time::Instant::now() < deadline, "still queued after 30 s: {body}");
            }
        }
    };
    let token = |p: &aethex_tests::aethex_sdk::AeThexCloud| p.token().unwrap();

    // Two players queue through the two other origins and poll through the opposite ones.
    let (p1, p2) = (game.player().await, game.player().await);
    let (s1, t1) = queue(&origins[f1], token(&p1), "duel").await;
    assert_eq!(s1, 201, "{t1}");
    let (again, dup) = queue(&origins[f2], token(&p1), "duel").await;
    assert_eq!(again, 409, "a second ticket through another origin: {dup}");
    let (s2, t2) = queue(&origins[f2], token(&p2), "duel").await;
    assert_eq!(s2, 201, "{t2}");
    let m1 = until_matched(&origins[f2], token(&p1), t1["ticket_id"].as_str().unwrap().into()).await;
    let m2 = until_matched(&origins[leader], token(&p2), t2["ticket_id"].as_str().unwrap().into()).await;
    assert_eq!(m1["status"], "matched", "{m1}");
    assert_eq!(m1["match_found"]["match_id"], m2["match_found"]["match_id"]);
    assert_ne!(m1["match_found"]["room_ticket"], m2["match_found"]["room_ticket"]);

    // Two players wait for a trio; the queue's origin is killed; a third player comes.
    let (p3, p4, p5) = (game.player().await, game.player().await, game.player().await);
    let (_, t3) = queue(&origins[f1], token(&p3), "trio").await;
    let (_, t4) = queue(&origins[f2], token(&p4), "trio").await;
    origins[leader].kill();
    let killed_at = std::time::Instant::now();
    let (s5, t5) = queue(&origins[f1], token(&p5), "trio").await;
    assert_eq!(s5, 201, "a ticket while the queue fails over: {t5}");
    let took_over = leader_of(&redis, &origins).expect("another origin runs the queue");
    assert_ne!(took_over, leader);
    eprintln!("matchmaking failed over in {:?}", killed_at.elapsed());
    let mut found = Vec::new();
    for (o, p, t) in [(f2, &p3, &t3), (f1, &p4, &t4), (f2, &p5, &t5)] {
        found.push(until_matched(&origins[o], token(p), t["ticket_id"].as_str().unwrap().into()).await);
    }
    for m in &found {
        assert_eq!(m["status"], "matched", "{m}");
        assert_eq!(m["match_found"]["match_id"], found[0]["match_found"]["match_id"], "one match for the trio");
        assert_eq!(m["match_found"]["players"].as_array().unwrap().len(), 3);
    }
    // Nobody is in two matches: each player holds one ticket, in one match.
    for p in [&p1, &p2, &p3, &p4, &p5] {
        let mine: serde_json::Value =
            http.get(format!("{}/api/v1/matchmaking/tickets", origins[f1].url)).bearer_auth(token(p)).send().await.unwrap().json().await.unwrap();
        let matched: Vec<_> = mine["tickets"].as_array().unwrap().iter().filter(|t| t["status"] == "matched").collect();
        assert_eq!(matched.len(), 1, "{mine}");
    }

    // The internal route: no key, a forged key.
    for key in [None, Some("0".repeat(64))] {
        let mut req =
            http.post(format!("{}/internal/v1/matchmaking", origins[f1].url)).json(&json!({"op": "tickets_of", "user": "x", "game": "mm-cluster"}));
        if let Some(k) = key {
            req = req.header("x-aethex-cluster-key", k);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    drop(relay);
}

/// What one load worker saw.
#[derive(Default)]
struct Seen {
    /// (token, data.i) of each acknowledged save (slot `s`, one per player).
    saves: Vec<(String, u64)>,
    /// (user id, score) of each acknowledged score.
    scores: Vec<(String, i64)>,
    /// (token, ticket id) of each acknowledged matchmaking ticket.
    tickets: Vec<(String, String)>,
    ok: u64,
    /// Failed requests: status (0: no answer) and what was asked.
    failed: Vec<(u16, &'static str)>,
    /// Slowest acknowledged request after the kill.
    slowest_after_kill: Duration,
}

/// The cluster under load with nodes killed: sqld, Redis, three origins behind HAProxy
/// (health-checked on `/readyz`), two relays in one region and a native edge pulling
/// through the balancer. Eight workers log in by device, save, submit a score and queue
/// for matches for 20 s while another makes private rooms on one relay and joins them by
/// code through the other; a third of the way in, the origin running the matchmaking
/// queue is killed (SIGKILL), two thirds of the way in, a relay. Afterwards: every
/// acknowledged save and score is there, every ticket is matched once (through whichever
/// origin), the dead relay's match rooms moved to the live one, the account rate limit
/// holds through the balancer, the edge reaches origin's head with the same rows, and the
/// failures are the requests that were in flight on the killed nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_keeps_its_promises_when_an_origin_is_killed_under_load() {
    use aethex_tests::edges::{origin_head, wait_for_position, NativeEdge};
    use aethex_tests::haproxy::HaProxy;
    use aethex_tests::relays::Relay;
    const WORKERS: usize = 8;
    const LOAD: Duration = Duration::from_secs(20);

    let sqld = Arc::new(Sqld::start());
    let redis = aethex_tests::redis::Redis::start();
    let env = [
        ("AETHEX_CLUSTER__REDIS_URL", redis.url.as_str()),
        ("AETHEX_MATCHMAKING__INTERVAL_MS", "50"),
        ("AETHEX_AUTH__RATE_LIMIT_PER_IP_PER_MINUTE", "1000000"),
        ("AETHEX_AUTH__RATE_LIMIT_PER_ACCOUNT_PER_MINUTE", "5"),
        // Relays beat every second, but no write (a heartbeat neither) commits while sqld
        // still holds the killed origin's open transaction (seconds, see the note on the
        // slowest request): a shorter TTL makes the region look dead meanwhile, refusing
        // tickets and moving the rooms of relays that are alive.
        ("AETHEX_EDGE__REGION_TTL_SECS", "10"),
    ];
    let mut origins = Origin::start_cluster(&sqld, 3, &env);
    let lb = HaProxy::start(&origins.iter().map(|o| o.url.clone()).collect::<Vec<_>>());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    let game = origins[0].game("kill-game").await;
    let dev = game.developer.token().unwrap();
    let r = http
        .post(format!("{}/api/v1/games/kill-game/leaderboards", lb.url))
        .bearer_auth(&dev)
        .json(&json!({"leaderboard_id": "load", "name": "Load"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .put(format!("{}/api/v1/games/kill-game/matchmaking/modes/duel", lb.url))
        .bearer_auth(&dev)
        .json(&json!({"match_size": 2, "max_wait_secs": 300}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let relay_env = [
        ("AETHEX_RELAY__ORIGIN_URL", lb.url.as_str()),
        ("AETHEX_RELAY__REGION_URL", "ws://127.0.0.1:9"),
        ("AETHEX_RELAY__REDIS_URL", redis.url.as_str()),
    ];
    let mut relays = vec![Relay::start(&origins[0], "eu", &relay_env), Relay::start(&origins[0], "eu", &relay_env)];
    for r in &relays {
        r.wait_registered(&origins[1]).await;
    }
    let relay_ws: Vec<String> = relays.iter().map(|r| r.url.replacen("http://", "ws://", 1)).collect();
    let relay_dead = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let edge = NativeEdge::start(&lb.url, &origins[0].edge_key(), &[]);
    let (host, guest) = (game.player().await, game.player().await);
    // Made now: `game` talks to the first origin, which may be the one killed below.
    let (_, email, _) = game.email_player().await;

    let started = std::time::Instant::now();
    let kill_at = LOAD / 3;
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (http, lb, key) = (http.clone(), lb.url.clone(), game.client_key.clone());
        workers.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let pad = "x".repeat(1000);
            let mut i = 0u64;
            while started.elapsed() < LOAD {
                i += 1;
                // Sends one request; Some(body) when acknowledged (2xx).
                macro_rules! call {
                    ($what:expr, $req:expr) => {{
                        let sent = std::time::Instant::now();
                        match $req.send().await {
                            Ok(r) if r.status().is_success() => {
                                if started.elapsed() > kill_at {
                                    seen.slowest_after_kill = seen.slowest_after_kill.max(sent.elapsed());
                                }
                                seen.ok += 1;
                                Some(r.json::<serde_json::Value>().await.unwrap_or_default())
                            }
                            Ok(r) => {
                                let status = r.status().as_u16();
                                eprintln!("{} {status}: {}", $what, r.text().await.unwrap_or_default());
                                seen.failed.push((status, $what));
                                None
                            }
                            Err(_) => {
                                seen.failed.push((0, $what));
                                None
                            }
                        }
                    }};
                }
                let login = call!(
                    "login",
                    http.post(format!("{lb}/api/v1/auth/device"))
                        .header("x-aethex-client-key", &key)
                        .json(&json!({"device_id": format!("kill-load-{w:02}-{i:08}")}))
                );
                let Some(login) = login else { continue };
                let (token, user) = (login["token"].as_str().unwrap().to_string(), login["user_id"].as_str().unwrap().to_string());
                let saved = call!(
                    "save",
                    http.post(format!("{lb}/api/v1/saves/me")).bearer_auth(&token).json(&json!({"slot_name": "s", "data": {"i": i, "pad": pad}}))
                );
                if saved.is_some() {
                    seen.saves.push((token.clone(), i));
                }
                let score = (w as i64) * 1_000_000 + i as i64;
                let scored =
                    call!("score", http.post(format!("{lb}/api/v1/leaderboards/load/scores")).bearer_auth(&token).json(&json!({"score": score})));
                if scored.is_some() {
                    seen.scores.push((user.clone(), score));
                }
                if i.is_multiple_of(3) {
                    let queued = call!(
                        "ticket",
                        http.post(format!("{lb}/api/v1/matchmaking/tickets"))
                            .bearer_auth(&token)
                            .json(&json!({"mode": "duel", "regions": [{"region": "eu", "rtt_ms": 10}]}))
                    );
                    if let Some(t) = queued {
                        seen.tickets.push((token.clone(), t["ticket_id"].as_str().unwrap().to_string()));
                    }
                }
            }
            seen
        }));
    }

    // Private rooms: made on one relay, joined by code through the other (while both live).
    let rooms = {
        let (relay_ws, relay_dead) = (relay_ws.clone(), relay_dead.clone());
        tokio::spawn(async move {
            use aethex_protocol::multiplayer::{Encoding, RoomOptions, ServerMessage};
            let (mut ok, mut failed) = (0u32, Vec::new());
            let mut i = 0usize;
            while started.elapsed() < LOAD {
                i += 1;
                // Relay 0 dies two thirds of the way in; then both ends use relay 1.
                let (on, via) = if relay_dead.load(std::sync::atomic::Ordering::Relaxed) { (1, 1) } else { (i % 2, (i + 1) % 2) };
                let attempt = async {
                    let mut a = host.multiplayer().connect(&relay_ws[on], Encoding::Json).await?;
                    let made = a.create_room(RoomOptions { max_players: 2, password: None, properties: Default::default() }, json!({})).await?;
                    let ServerMessage::RoomJoined { code: Some(code), room_id, .. } = made else {
                        return Ok::<bool, aethex_tests::aethex_sdk::SdkError>(false);
                    };
                    let mut b = guest.multiplayer().connect(&relay_ws[via], Encoding::Json).await?;
                    let joined = b.join_room(&code, None, json!({})).await?;
                    let same = matches!(joined, ServerMessage::RoomJoined { room_id: ref r, .. } if *r == room_id);
                    // Left for good (not a dropped seat held for the grace period), so the
                    // room closes and the host may make the next one.
                    for s in [&mut b, &mut a] {
                        s.leave_room().await?;
                        s.wait_for(Duration::from_secs(5), |m| matches!(m, ServerMessage::RoomLeft { .. }).then_some(())).await?;
                    }
                    Ok(same)
                };
                match attempt.await {
                    Ok(true) => ok += 1,
                    Ok(false) => failed.push("joined another room".to_string()),
                    Err(e) => failed.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            (ok, failed)
        })
    };

    // A third of the way in, the origin that runs the matchmaking queue dies.
    tokio::time::sleep(kill_at).await;
    let leader = redis.get("aethex:mm:leader").and_then(|v| v.split_once(' ').map(|(_, u)| u.to_string())).expect("a matchmaking leader");
    let victim = origins.iter().position(|o| o.url == leader).expect("the leader is one of the origins");
    origins[victim].kill();
    let alive: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
    // Two thirds of the way in, a relay dies.
    tokio::time::sleep(LOAD / 3).await;
    relay_dead.store(true, std::sync::atomic::Ordering::Relaxed);
    relays[0].kill();
    let relay_killed_at = std::time::Instant::now();
    let dead_relay = relay_ws[0].clone();

    let mut all = Seen::default();
    for wk in workers {
        let s = wk.await.unwrap();
        all.saves.extend(s.saves);
        all.scores.extend(s.scores);
        all.tickets.extend(s.tickets);
        all.ok += s.ok;
        all.failed.extend(s.failed);
        all.slowest_after_kill = all.slowest_after_kill.max(s.slowest_after_kill);
    }
    eprintln!(
        "load: {} acknowledged requests, {} failed {:?}; {} saves, {} scores, {} tickets; slowest acknowledged request after the kill {:?}",
        all.ok,
        all.failed.len(),
        all.failed,
        all.saves.len(),
        all.scores.len(),
        all.tickets.len(),
        all.slowest_after_kill
    );
    let (rooms_ok, rooms_failed) = rooms.await.unwrap();
    eprintln!(
        "private rooms: {rooms_ok} made and joined through the other relay, {} failed {:?}",
        rooms_failed.len(),
        rooms_failed.iter().take(3).collect::<Vec<_>>()
    );
    assert!(rooms_ok >= 5, "{rooms_ok} private rooms");
    // At most the attempt in flight when the relay died.
    assert!(rooms_failed.len() <= 1, "{rooms_failed:?}");
    assert!(all.saves.len() > 50, "the load was too small to show anything: {} saves", all.saves.len());
    // Failures: only requests in flight on the killed origin (at most one per worker),
    // answered 502 by the balancer or cut; never a 500 or a refusal.
    assert!(all.failed.len() <= WORKERS, "{} failures: {:?}", all.failed.len(), all.failed);
    assert!(all.failed.iter().all(|(s, _)| matches!(s, 0 | 502 | 503)), "{:?}", all.failed);

    // No acknowledged write is lost.
    for (token, i) in &all.saves {
        let r = http.get(format!("{}/api/v1/saves/me/s", lb.url)).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["data"]["i"].as_u64(), Some(*i), "an acknowledged save is missing or older");
    }
    let db = origins[alive[0]].database().await.connect().unwrap();
    let mut stored = std::collections::HashMap::new();
    let mut rows =
        db.query("SELECT user_id, score FROM leaderboard_entries WHERE game_id = 'kill-game' AND leaderboard_id = 'load'", ()).await.unwrap();
    while let Some(r) = rows.next().await.unwrap() {
        stored.insert(r.get::<String>(0).unwrap(), r.get::<i64>(1).unwrap());
    }
    drop(rows);
    for (user, score) in &all.scores {
        assert_eq!(stored.get(user), Some(score), "an acknowledged score is missing");
    }

    // Every ticket (made through any origin) is matched, once, with one other player; at
    // most one is left waiting for a partner.
    let mut matches: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut waiting = 0;
    for (k, (token, id)) in all.tickets.iter().enumerate() {
        let via = &origins[alive[k % alive.len()]].url;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let t = loop {
            let r = http.get(format!("{via}/api/v1/matchmaking/tickets/{id}?wait_ms=2000")).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            let t: serde_json::Value = r.json().await.unwrap();
            assert!(status == 200 || status == 503, "{status} {t}");
            if status == 200 && (t["status"] != "queued" || std::time::Instant::now() >= deadline) {
                break t;
            }
        };
        match t["status"].as_str() {
            Some("matched") => {
                matches.entry(t["match_found"]["match_id"].as_str().unwrap().to_string()).or_default().push(t["owner"].as_str().unwrap().to_string())
            }
            Some("queued") => waiting += 1,
            other => panic!("ticket {id}: {other:?} {t}"),
        }
    }
    assert!(waiting <= 1, "{waiting} tickets never matched");
    // The dead relay's match rooms moved to the live one: no ticket points at it any more.
    let port = |url: &str| url.split_once("://").map_or(url, |(_, rest)| rest).split(['/', ':']).nth(1).unwrap_or_default().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut on_dead = 0;
        for (k, (token, id)) in all.tickets.iter().enumerate() {
            let via = &origins[alive[k % alive.len()]].url;
            let r = http.get(format!("{via}/api/v1/matchmaking/tickets/{id}")).bearer_auth(token).send().await.unwrap();
            if r.status() != 200 {
                on_dead += 1; // failing over: ask again
                continue;
            }
            let t: serde_json::Value = r.json().await.unwrap();
            if t["match_found"]["relay_url"].as_str().is_some_and(|u| port(u) == port(&dead_relay)) {
                on_dead += 1;
            }
        }
        if on_dead == 0 {
            eprintln!("no ticket points at the dead relay any more (checked {:?} after it was killed)", relay_killed_at.elapsed());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{on_dead} tickets still point at the dead relay");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut players = std::collections::HashSet::new();
    for (m, members) in &matches {
        assert_eq!(members.len(), 2, "match {m}: {members:?}");
        for p in members {
            assert!(players.insert(p.clone()), "{p} is in two matches");
        }
    }

    // The account rate limit holds through the balancer (5 a minute, whichever origin).
    let mut allowed = 0;
    for _ in 0..12 {
        let r =
            http.post(format!("{}/api/v1/auth/login", lb.url)).json(&json!({"email": email, "password": "wrong-password-1"})).send().await.unwrap();
        if r.status() != 429 {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5, "wrong passwords let through for one account");

    // The edge caught up through the balancer, in order, with origin's rows (the relays
    // stop first: their heartbeats write replicated rows).
    drop(relays);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let key = origins[alive[0]].edge_key();
    let head = origin_head(&lb.url, &key).await;
    wait_for_position(&edge.url, head, Duration::from_secs(30)).await;
    let (path, _keep) = edge.stop_keep_data();
    let ((position, _), got) = crate::edge::replica_tables(&path).await;
    let (snapshot_at, expected) = crate::edge::origin_tables(&origins[alive[0]], &key).await;
    assert_eq!((position, snapshot_at), (head, head), "writes after the load");
    assert_eq!(got, expected, "the edge's rows differ from origin's");
}

/// Two relays serve one region (behind one region URL). Origin opens match rooms on the
/// less loaded one, so matches spread over both; when one relay is killed (SIGKILL),
/// origin moves each of its match rooms to the other relay and hands the players new room
/// tickets, and the SDK gets back into the match by itself (`rejoin_match`), sending its
/// last state again, which the other player sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_relays_match_rooms_move_to_another_relay_of_the_region() {
    use aethex_protocol::matchmaking::{RegionRtt, TicketRequest};
    use aethex_protocol::multiplayer::Encoding;
    use aethex_tests::relays::Relay;
    let origin = Origin::start(&[("AETHEX_MATCHMAKING__INTERVAL_MS", "50"), ("AETHEX_EDGE__REGION_TTL_SECS", "2")]);
    let game = origin.game("relay-move").await;
    let region_url = [("AETHEX_RELAY__REGION_URL", "ws://127.0.0.1:9")];
    let mut relays = vec![Relay::start(&origin, "eu", &region_url), Relay::start(&origin, "eu", &region_url)];
    for r in &relays {
        r.wait_registered(&origin).await;
    }
    let r = reqwest::Client::new()
        .put(format!("{}/api/v1/games/relay-move/matchmaking/modes/duel", origin.url))
        .bearer_auth(game.developer.token().unwrap())
        .json(&json!({"match_size": 2, "max_wait_secs": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The region lists one URL (the balancer's), with both relays' capacity.
    let regions: serde_json::Value = reqwest::get(format!("{}/api/v1/regions", origin.url)).await.unwrap().json().await.unwrap();
    assert_eq!(regions["regions"][0]["url"], "ws://127.0.0.1:9", "{regions}");

    // Four duels, queued one pair at a time.
    let request = TicketRequest { mode: "duel".into(), regions: vec![RegionRtt { region: "eu".into(), rtt_ms: 10 }], ..Default::default() };
    let mut duels = Vec::new();
    for _ in 0..4 {
        let (a, b) = (game.player().await, game.player().await);
        let ta = a.multiplayer().matchmaking().join_queue(&request).await.unwrap();
        let tb = b.multiplayer().matchmaking().join_queue(&request).await.unwrap();
        let fa = a.multiplayer().matchmaking().wait_for_match(&ta.ticket_id, Duration::from_secs(20)).await.unwrap();
        let fb = b.multiplayer().matchmaking().wait_for_match(&tb.ticket_id, Duration::from_secs(20)).await.unwrap();
        assert_eq!(fa.room_id, fb.room_id);
        duels.push(((a, ta.ticket_id, fa), (b, tb.ticket_id, fb)));
    }
    let port = |url: &str| url.split_once("://").map_or(url, |(_, rest)| rest).split(['/', ':']).nth(1).unwrap_or_default().to_string();
    let used: std::collections::HashSet<String> = duels.iter().map(|(a, _)| port(&a.2.relay_url)).collect();
    assert_eq!(used.len(), 2, "rooms were not spread over both relays: {used:?}");
    // The console lists the rooms of every relay of the region (the region once).
    let live = aethex_tests::get_json(&format!("{}/api/v1/games/relay-move/rooms", origin.url), &game.developer.token().unwrap()).await;
    assert_eq!(live["rooms"].as_array().map(Vec::len), Some(4), "{live}");
    assert_eq!(live["regions"].as_array().map(Vec::len), Some(1), "{live}");

    // The first duel's players are in their room; one sends its state.
    let ((a, ta, fa), (b, tb, fb)) = &duels[0];
    let mut sa = a.multiplayer().connect(&fa.relay_url, Encoding::Json).await.unwrap();
    let mut sb = b.multiplayer().connect(&fb.relay_url, Encoding::Json).await.unwrap();
    sa.join_match(fa, json!({})).await.unwrap();
    sb.join_match(fb, json!({})).await.unwrap();
    let mut state = serde_json::Map::new();
    state.insert("x".into(), json!(41));
    sa.send_state(state).await.unwrap();
    let a_id = a.user_id().unwrap();
    assert_eq!(state_of(&mut sb, &a_id).await.unwrap(), json!(41));

    // Its relay dies.
    let victim = relays.iter().position(|r| port(&r.url) == port(&fa.relay_url)).expect("the room's relay");
    let killed_at = std::time::Instant::now();
    relays[victim].kill();
    let (ma, mb) = (a.multiplayer(), b.multiplayer());
    let (mma, mmb) = (ma.matchmaking(), mb.matchmaking());
    let (ja, jb) = tokio::join!(sa.rejoin_match(&mma, ta, Duration::from_secs(30)), sb.rejoin_match(&mmb, tb, Duration::from_secs(30)));
    ja.expect("player a back in the match");
    jb.expect("player b back in the match");
    eprintln!("both players back in the match {:?} after their relay was killed", killed_at.elapsed());
    let moved = a.multiplayer().matchmaking().ticket(ta, Duration::ZERO).await.unwrap().match_found.unwrap();
    assert_ne!(port(&moved.relay_url), port(&fa.relay_url), "the room moved to the other relay");
    assert_eq!(moved.match_id, fa.match_id);
    assert_eq!(sa.room_id(), Some(moved.room_id.as_str()));
    // a's last state reached b in the new room.
    assert_eq!(state_of(&mut sb, &a_id).await.unwrap(), json!(41));
}

/// The `x` of `who`'s state as `s` sees it next (in a state batch or a join's snapshot).
async fn state_of(
    s: &mut aethex_tests::aethex_sdk::multiplayer::RoomSession,
    who: &str,
) -> Result<serde_json::Value, aethex_tests::aethex_sdk::SdkError> {
    use aethex_protocol::multiplayer::ServerMessage;
    s.wait_for(Duration::from_secs(10), |m| match m {
        ServerMessage::StateBatch { states, .. } => states.iter().find(|p| p.player_id == who).map(|p| p.data["x"].clone()),
        ServerMessage::RoomJoined { snapshot, .. } => snapshot.iter().find(|p| p.player_id == who).map(|p| p.data["x"].clone()),
        _ => None,
    })
    .await
}

/// With `relay.redis_url`, a private room's code works on any relay of the region: the
/// relay that does not hold it answers `redirect` to the one that does, and the SDK
/// follows. A code that no relay holds (or whose room closed) is not found anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_room_codes_work_on_every_relay_of_the_region() {
    use aethex_protocol::multiplayer::{Encoding, RoomOptions, ServerMessage};
    use aethex_tests::relays::Relay;
    let origin = Origin::start(&[]);
    let redis = aethex_tests::redis::Redis::start();
    let game = origin.game("codes-game").await;
    let env = [("AETHEX_RELAY__REGION_URL", "ws://127.0.0.1:9"), ("AETHEX_RELAY__REDIS_URL", redis.url.as_str())];
    let (r1, r2) = (Relay::start(&origin, "eu", &env), Relay::start(&origin, "eu", &env));
    let ws = |r: &Relay| r.url.replacen("http://", "ws://", 1);
    let (a, b, c) = (game.player().await, game.player().await, game.player().await);
    let mut sa = a.multiplayer().connect(&ws(&r1), Encoding::Json).await.unwrap();
    let made = sa.create_room(RoomOptions { max_players: 4, password: Some("pw".into()), properties: Default::default() }, json!({})).await.unwrap();
    let ServerMessage::RoomJoined { room_id, code: Some(code), .. } = made else { panic!("{made:?}") };

    // b asks the other relay for the code, and lands in the room on the first.
    let mut sb = b.multiplayer().connect(&ws(&r2), Encoding::Json).await.unwrap();
    let joined = sb.join_room(&code, Some("pw"), json!({})).await.expect("join through the other relay");
    let ServerMessage::RoomJoined { room_id: joined_id, .. } = joined else { panic!("{joined:?}") };
    assert_eq!(joined_id, room_id);
    sb.chat("hello from b", None).await.unwrap();
    let heard = sa.wait_for(Duration::from_secs(10), |m| matches!(m, ServerMessage::Chat { text, .. } if text == "hello from b").then_some(())).await;
    assert!(heard.is_ok(), "a did not hear b: {heard:?}");
    let metrics = reqwest::get(format!("{}/metrics", r2.metrics_url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("aethex_relay_redirects_total 1"), "{metrics}");

    // A code nobody holds: not found on either relay.
    let mut sc = c.multiplayer().connect(&ws(&r2), Encoding::Json).await.unwrap();
    let missing = sc.join_room("ZZZZ-0000", None, json!({})).await;
    assert!(missing.is_err_and(|e| e.to_string().contains("no such room")));

    // The room closes when both leave; its code is gone from the directory.
    sa.leave_room().await.unwrap();
    sb.leave_room().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut sd = c.multiplayer().connect(&ws(&r2), Encoding::Json).await.unwrap();
        match sd.join_room(&code, Some("pw"), json!({})).await {
            Err(e) if e.to_string().contains("no such room") => break,
            other => assert!(std::time::Instant::now() < deadline, "the closed room's code still resolves: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Rotating the shared keys of a cluster (`aethex rotate-key`, the new files given to every
/// origin, each restarted): tokens and saves made before still work on every origin, new
/// tokens are signed with the new key and taken by the other origin, new saves are sealed
/// with the new key and opened by the other origin, and both publish both keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_rotates_its_shared_keys() {
    let sqld = Arc::new(Sqld::start());
    let mut origins = Origin::start_cluster(&sqld, 2, &[]);
    let game = origins[0].game("rotate-game").await;
    let (player, email, password) = game.email_player().await;
    player.saves().save("before", json!({"sealed": "with the first key"})).await.unwrap();
    let old_token = player.token().unwrap();
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let old_kid = kid(&old_token);

    // The operator rotates on one origin's folder and copies the files to the other.
    for kind in ["jwt", "saves"] {
        let out = std::process::Command::new(aethex_tests::aethex_bin())
            .args(["rotate-key", kind])
            .env("AETHEX_STORAGE__DATA_DIR", &origins[0].data_dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "rotate-key {kind}: {}", String::from_utf8_lossy(&out.stderr));
    }
    aethex_tests::copy_dir(&origins[0].data_dir.join("keys"), &origins[1].data_dir.join("keys"));
    let restarted: Vec<Origin> = origins.drain(..).map(Origin::restart_after_kill).collect();
    let (a, b) = (&restarted[0], &restarted[1]);

    let http = reqwest::Client::new();
    for o in [a, b] {
        let r = http.get(format!("{}/api/v1/saves/me/before", o.url)).bearer_auth(&old_token).send().await.unwrap();
        assert_eq!(r.status(), 200, "the old token or the old save on {}", o.url);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["data"]["sealed"], "with the first key");
        let jwks: serde_json::Value = http.get(format!("{}/.well-known/jwks.json", o.url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2), "{jwks}");
    }
    let via_b = aethex_tests::aethex_sdk::AeThexCloud::new(&b.url).with_client_key(&game.client_key);
    via_b.auth().login_email(&email, &password).await.unwrap();
    let new_token = via_b.token().unwrap();
    assert_ne!(kid(&new_token), old_kid, "new tokens are signed with the new key");
    via_b.saves().save("after", json!({"sealed": "with the second key"})).await.unwrap();
    let r = http.get(format!("{}/api/v1/saves/me/after", a.url)).bearer_auth(&new_token).send().await.unwrap();
    assert_eq!(r.status(), 200, "a's answer to b's token and b's save");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["data"]["sealed"], "with the second key");
}

/// A game's logic deployed or rolled back through one origin runs on every origin at once
/// (the cluster's Redis tells them): the origins' own re-check is set to a minute here, so
/// only being told explains a change seen within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn game_logic_deployed_through_one_origin_runs_on_all_at_once() {
    let sqld = Arc::new(Sqld::start());
    let redis = aethex_tests::redis::Redis::start();
    let env = [("AETHEX_CLUSTER__REDIS_URL", redis.url.as_str()), ("AETHEX_LOGIC__REFRESH_MS", "60000")];
    let origins = Origin::start_cluster(&sqld, 2, &env);
    let (a, b) = (&origins[0], &origins[1]);
    let game = a.game("swap-game").await;
    let http = reqwest::Client::new();
    let dev = game.developer.token().unwrap();
    let created = http
        .post(format!("{}/api/v1/games/swap-game/leaderboards", a.url))
        .bearer_auth(&dev)
        .json(&json!({"leaderboard_id": "b", "name": "B", "operator": "latest"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let deploy = |name: &'static str| {
        let (http, url, dev) = (http.clone(), format!("{}/api/v1/games/swap-game/logic", a.url), dev.clone());
        async move {
            let r =
                http.post(url).bearer_auth(dev).header("content-type", "application/wasm").body(aethex_tests::logic::component(name)).send().await;
            assert_eq!(r.unwrap().status(), 201, "deploy {name}");
        }
    };
    let player = game.player().await;
    let token = player.token().unwrap();
    let stored_on_b = |score: i64| {
        let (http, url, token) = (http.clone(), format!("{}/api/v1/leaderboards/b/scores", b.url), token.clone());
        async move {
            let r = http.post(url).bearer_auth(token).json(&json!({"score": score})).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()["entry"]["score"].as_i64().unwrap()
        }
    };
    deploy("noop").await;
    assert_eq!(stored_on_b(2_000_000).await, 2_000_000, "b runs the noop (and now holds it for a minute)");
    deploy("example").await;
    let started = std::time::Instant::now();
    while stored_on_b(2_000_000).await != 1_000_000 {
        assert!(started.elapsed() < Duration::from_secs(10), "b still runs the old version after {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // a holds version 2 too; a rollback through b reaches it.
    let on_a = |score: i64| {
        let (http, url, token) = (http.clone(), format!("{}/api/v1/leaderboards/b/scores", a.url), token.clone());
        async move {
            let r = http.post(url).bearer_auth(token).json(&json!({"score": score})).send().await.unwrap();
            r.json::<serde_json::Value>().await.unwrap()["entry"]["score"].as_i64().unwrap()
        }
    };
    assert_eq!(on_a(2_000_000).await, 1_000_000, "a runs version 2");
    let rolled =
        http.post(format!("{}/api/v1/games/swap-game/logic/activate", b.url)).bearer_auth(&dev).json(&json!({"version": 1})).send().await.unwrap();
    assert_eq!(rolled.status(), 200);
    let started = std::time::Instant::now();
    while on_a(3_000_000).await != 3_000_000 {
        assert!(started.elapsed() < Duration::from_secs(10), "a still runs version 2 after {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
