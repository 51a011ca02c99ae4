//! Attacks from the security review (issue 12), each replayed against the real server:
//! every test here performed the attack successfully before its fix and now shows it fail.

use aethex_tests::{assert_error_shape, raw, Origin};
use reqwest::Method;
use serde_json::{json, Value};

/// Hole 1: a studio reads or changes only its own players. Any registered user can make
/// an organization and a game; with another game's player id (leaked by a leaderboard or
/// a friend request) the console and privacy routes of their own game answered that
/// player's account row (email, last login, preferences).
#[tokio::test]
async fn a_studio_cannot_reach_players_of_other_games() {
    let origin = Origin::start(&[]);
    let game = origin.game("victim-game").await;
    let evil = origin.game("evil-game").await;
    let url = |p: &str| format!("{}{p}", origin.url);
    let (victim, victim_email, _) = game.email_player().await;
    let uid = victim.user_id().unwrap();
    victim.saves().save("slot1", json!({"gold": 1})).await.unwrap();
    let attacker = evil.developer.token().unwrap();

    // Every route of the attacker's own game that names a player: nothing about the victim.
    let bodies: [(Method, String, Option<Value>); 6] = [
        (Method::GET, format!("/api/v1/games/evil-game/players/{uid}/export"), None),
        (Method::DELETE, format!("/api/v1/games/evil-game/players/{uid}"), None),
        (Method::POST, format!("/api/v1/games/evil-game/players/{uid}/ban"), Some(json!({"reason": "x"}))),
        (Method::DELETE, format!("/api/v1/games/evil-game/players/{uid}/ban"), None),
        (Method::GET, format!("/api/v1/games/evil-game/players/{uid}/saves"), None),
        (Method::GET, format!("/api/v1/games/evil-game/players?q={uid}"), None),
    ];
    for (method, path, body) in bodies {
        let (ct, text) = match &body {
            Some(b) => (Some("application/json"), b.to_string()),
            None => (None, String::new()),
        };
        let (s, e) = raw(method.clone(), &url(&path), Some(&attacker), ct, text).await;
        let answer = e.to_string();
        assert!(!answer.contains(&victim_email), "{method} {path} leaked the email: {answer}");
        if path.ends_with("players?q=") || path.contains("players?q") {
            assert_eq!((s, e["players"].as_array().map(Vec::len)), (200, Some(0)), "{answer}");
        } else {
            assert_eq!(s, 404, "{method} {path}: {answer}");
            assert_error_shape(&e);
        }
    }
    // The victim's data is untouched.
    assert_eq!(victim.saves().load("slot1").await.unwrap().data.unwrap()["gold"], 1);

    // The victim's own studio exports its player's data in the game, but not account-wide
    // fields: the id and username only.
    let owner = game.developer.token().unwrap();
    let (s, doc) = raw(Method::GET, &url(&format!("/api/v1/games/victim-game/players/{uid}/export")), Some(&owner), None, "").await;
    assert_eq!(s, 200, "{doc}");
    let keys: Vec<&str> = doc["account"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "username"], "{doc}");
    assert!(!doc.to_string().contains(&victim_email), "{doc}");
    assert_eq!(doc["save_contents"][0]["save"]["data"]["gold"], 1);
}

/// An attacker's guest account claims the victim's address before the victim does.
async fn pre_hijacked(game: &aethex_tests::GameFixture, victim_email: &str) -> (String, String, aethex_tests::aethex_sdk::AeThexCloud) {
    let (device, attacker) = game.guest_claiming(victim_email, "attacker-password").await;
    let account = attacker.user_id().unwrap();
    (device, account, attacker)
}

/// Hole 2, password reset: a guest links an address it does not own; its owner resets
/// the password. The attacker's device id used to open the account still.
#[tokio::test]
async fn a_password_reset_takes_the_account_back_from_whoever_claimed_the_address() {
    let origin = Origin::start(&[]);
    let game = origin.game("prehijack-game").await;
    let victim_email = "victim.reset@example.com";
    let (device, account, attacker) = pre_hijacked(&game, victim_email).await;
    let attacker_refresh = attacker.refresh_token().unwrap();

    let victim = game.client();
    victim.auth().request_password_reset(victim_email).await.unwrap();
    let code = origin.token_from_outbox(victim_email, "Reset your password").unwrap();
    victim.auth().reset_password(&code, "victims-own-password").await.unwrap();
    let r = victim.auth().login_email(victim_email, "victims-own-password").await.unwrap();
    assert_eq!(r.user_id, account);
    assert!(r.user.is_verified);

    // Nothing the attacker set still opens it: not the device id (it makes a new guest),
    // not the password, not the old refresh token.
    let again = game.client();
    let r = again.auth().login_device(&device).await.unwrap();
    assert_ne!(r.user_id, account, "the attacker's device id still opens the victim's account");
    let err = game.client().auth().login_email(victim_email, "attacker-password").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let (s, _) = raw(
        Method::POST,
        &format!("{}/api/v1/auth/refresh", origin.url),
        None,
        Some("application/json"),
        json!({"refresh_token": attacker_refresh}).to_string(),
    )
    .await;
    assert_eq!(s, 401);
}

/// Hole 2, email verification: the emailed code alone proved nothing about who set the
/// account's password, so an owner who clicked an unexpected verification email made the
/// attacker's account verified (and then linkable by the owner's OAuth login). The code
/// now confirms the address only together with the account: a session of it or its
/// password.
#[tokio::test]
async fn verifying_an_address_needs_the_account_as_well_as_the_code() {
    let origin = Origin::start(&[]);
    let game = origin.game("verify-game").await;
    let url = |p: &str| format!("{}{p}", origin.url);
    let victim_email = "victim.verify@example.com";
    let (_device, account, attacker) = pre_hijacked(&game, victim_email).await;
    let code = origin.token_from_outbox(victim_email, "Confirm your email").unwrap();

    // The owner of the inbox follows the link: a page asking for the account's password,
    // and the code alone (JSON or the page's form) verifies nothing.
    let page = reqwest::get(url(&format!("/api/v1/auth/verify-email?token={code}"))).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"password\"") && html.contains(&code), "{html}");
    let (s, e) = raw(Method::POST, &url("/api/v1/auth/verify-email"), None, Some("application/json"), json!({"token": code}).to_string()).await;
    assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (401, Some("password")));
    let form = reqwest::Client::new()
        .post(url("/api/v1/auth/verify-email/confirm"))
        .form(&[("token", code.as_str()), ("password", "a-guess-of-the-owner")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 401);
    // Signed in to another account does not count either.
    let (other, _, _) = game.email_player().await;
    let (s, _) =
        raw(Method::POST, &url("/api/v1/auth/verify-email"), other.token().as_deref(), Some("application/json"), json!({"token": code}).to_string())
            .await;
    assert_eq!(s, 401);
    let profile = attacker.auth().get_profile().await.unwrap();
    assert!(!profile.is_verified, "the attacker's account must stay unverified");
    assert_eq!(profile.user_id, account);

    // The real owner of an account confirms it either way: signed in, or with the password
    // on the link's page.
    let (owner, owner_email, _) = game.email_player().await;
    let code = origin.token_from_outbox(&owner_email, "Confirm your email").unwrap();
    assert!(owner.auth().verify_email(&code).await.unwrap().is_verified);
    let (_, second_email, second_password) = game.email_player().await;
    let code = origin.token_from_outbox(&second_email, "Confirm your email").unwrap();
    let form = reqwest::Client::new()
        .post(url("/api/v1/auth/verify-email/confirm"))
        .form(&[("token", code.as_str()), ("password", second_password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let r = game.client().auth().login_email(&second_email, &second_password).await.unwrap();
    assert!(r.user.is_verified);
}

/// Hole 8: on a descending board, `i64::MIN` was stored and ranked first (its negation
/// wrapped in a release build; a debug build panicked and dropped the connection). A
/// property test: random players submit random scores drawn heavily from the edges of
/// the range, on both sort orders; every out-of-range value is refused with a 400 on every
/// path (REST, JSON-RPC, through the edge); the board equals a sorted reference.
#[tokio::test]
async fn scores_at_the_integer_edges_are_refused_and_boards_order_like_a_sorted_reference() {
    use aethex_tests::aethex_sdk::protocol::leaderboards::MAX_ABS_SCORE;
    use rand::{Rng, SeedableRng};
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let origin = Origin::start_with_edge(&[]);
    let game = origin.game("score-game").await;
    let dev = game.developer.token().unwrap();
    let url = |p: &str| format!("{}{p}", origin.url);
    let edge = origin.edge_url.clone().unwrap();
    let refused = [i64::MIN, i64::MIN + 1, i64::MAX, MAX_ABS_SCORE + 1, -MAX_ABS_SCORE - 1];
    let edges = [MAX_ABS_SCORE, MAX_ABS_SCORE - 1, -MAX_ABS_SCORE, -MAX_ABS_SCORE + 1, 0, 1, -1];

    // Board bounds take the same range.
    for (field, v) in [("min_score", i64::MIN), ("max_score", i64::MAX), ("min_score", -MAX_ABS_SCORE - 1)] {
        let body = json!({"leaderboard_id": "bad", "name": "Bad", field: v});
        let (s, e) = raw(Method::POST, &url("/api/v1/games/score-game/leaderboards"), Some(&dev), Some("application/json"), body.to_string()).await;
        assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some(field)), "{body}");
    }
    for (id, order, op) in [("desc", "desc", "best"), ("asc", "asc", "best"), ("sum", "desc", "sum")] {
        let body = json!({"leaderboard_id": id, "name": id, "sort_order": order, "operator": op});
        let (s, e) = raw(Method::POST, &url("/api/v1/games/score-game/leaderboards"), Some(&dev), Some("application/json"), body.to_string()).await;
        assert_eq!(s, 201, "{e}");
    }

    let mut players = Vec::new();
    for _ in 0..24 {
        players.push(game.player().await);
    }
    for (board, desc) in [("desc", true), ("asc", false)] {
        let mut best: std::collections::HashMap<String, i64> = Default::default();
        for p in &players {
            let uid = p.user_id().unwrap();
            for _ in 0..2 {
                let score = if rng.gen_bool(0.6) { edges[rng.gen_range(0..edges.len())] } else { rng.gen_range(-MAX_ABS_SCORE..=MAX_ABS_SCORE) };
                p.social().leaderboards().submit_score(board, score).await.unwrap();
                let e = best.entry(uid.clone()).or_insert(score);
                if (desc && score > *e) || (!desc && score < *e) {
                    *e = score;
                }
            }
            let bad = refused[rng.gen_range(0..refused.len())];
            let err = p.social().leaderboards().submit_score(board, bad).await.unwrap_err();
            assert_eq!((err.status(), err.api().unwrap().field()), (Some(400), Some("score")), "{bad}");
        }
        let mut reference: Vec<i64> = best.values().copied().collect();
        reference.sort_unstable_by(|a, b| if desc { b.cmp(a) } else { a.cmp(b) });
        let page = players[0].social().leaderboards().get(board, 100).await.unwrap();
        let got: Vec<i64> = page.entries.iter().map(|e| e.score).collect();
        assert_eq!(got, reference, "seed {seed}, board {board}");
        assert!(page.entries.iter().enumerate().all(|(i, e)| e.rank == i as i64 + 1));
        for p in players.iter().take(6) {
            let uid = p.user_id().unwrap();
            let around = p.social().leaderboards().around_me(board, 5).await.unwrap();
            let me = around.entries.iter().find(|e| e.user_id == uid).expect("the player is in their own window");
            let top = page.entries.iter().find(|e| e.user_id == uid).unwrap();
            assert_eq!((me.rank, me.score), (top.rank, top.score), "seed {seed}, board {board}");
        }
    }

    // The same refusals over JSON-RPC and through the edge (forwarded to origin), and
    // nothing stored: the attacker's entry stays where it was.
    let p = &players[0];
    let token = p.token().unwrap();
    let before = p.social().leaderboards().get("desc", 1).await.unwrap().entries[0].clone();
    for base in [origin.url.as_str(), edge.as_str()] {
        let (s, e) = raw(
            Method::POST,
            &format!("{base}/api/v1/leaderboards/desc/scores"),
            Some(&token),
            Some("application/json"),
            format!("{{\"score\": {}}}", i64::MIN),
        )
        .await;
        assert_eq!((s, assert_error_shape(&e)["data"]["field"].as_str()), (400, Some("score")), "{base}");
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "leaderboards.submit_score", "params": {"leaderboard_id": "desc", "score": i64::MIN}});
        let (s, e) = raw(Method::POST, &format!("{base}/api/v1/rpc"), Some(&token), Some("application/json"), call.to_string()).await;
        assert_eq!((s, e["error"]["data"]["field"].as_str()), (400, Some("score")), "{base} {e}");
    }
    assert_eq!(p.social().leaderboards().get("desc", 1).await.unwrap().entries[0], before);

    // A sum board refuses a total that would leave the range, and keeps the old one.
    p.social().leaderboards().submit_score("sum", MAX_ABS_SCORE).await.unwrap();
    let err = p.social().leaderboards().submit_score("sum", 1).await.unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(400), Some("score")));
    let err = p.social().leaderboards().submit_score("sum", i64::MIN).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(p.social().leaderboards().get("sum", 1).await.unwrap().entries[0].score, MAX_ABS_SCORE);
}

/// Hole 9: emails in the outbox hold reset and verification codes; they were written with
/// the process umask (world-readable). Now 0600, like the key files.
#[tokio::test]
async fn outbox_emails_are_readable_by_the_server_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let origin = Origin::start(&[]);
    let (c, email, _) = origin.game("outbox-game").await.email_player().await;
    c.auth().request_password_reset(&email).await.unwrap();
    origin.token_from_outbox(&email, "Reset your password").expect("reset mail");
    let files: Vec<_> = std::fs::read_dir(origin.data_dir.join("outbox")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.len() >= 2);
    for f in files {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", f.display());
    }
}

/// Hole 9: a reset request for a registered address waited for the code to be written and
/// the email sent; for an unknown one it answered at once: the timing told which addresses
/// have accounts. With an SMTP server that never answers, both now answer at once (the
/// mail goes out after the answer).
#[tokio::test]
async fn a_password_reset_request_answers_alike_for_known_and_unknown_addresses() {
    // An SMTP server that accepts connections and never says a word.
    let stall = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let smtp = format!("smtp://{}", stall.local_addr().unwrap());
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = held.clone();
    std::thread::spawn(move || {
        for s in stall.incoming().flatten() {
            h.lock().unwrap().push(s);
        }
    });
    let origin = Origin::start(&[("AETHEX_EMAIL__SMTP_URL", &smtp)]);
    let game = origin.game("timing-game").await;
    let (_, email, _) = game.email_player().await;
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().unwrap();
    for address in [email.as_str(), "nobody-here@example.com"] {
        let resp = http
            .post(format!("{}/api/v1/auth/password-reset/request", origin.url))
            .json(&json!({"email": address}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{address}: the answer waited for the mail server: {e}"));
        assert_eq!(resp.status(), 202, "{address}");
    }
    // The known address's mail was attempted: the stalled server got a connection.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while held.lock().unwrap().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(held.lock().unwrap().len() >= 2, "registration's and the reset's mail both go to SMTP");
}

/// Hole 9: behind a load balancer every player reached a native edge from the balancer's
/// address, so all shared one rate-limit bucket at origin. With `node.client_ip_header`
/// set, the edge takes the client's address from the balancer's header.
#[tokio::test]
async fn a_native_edge_behind_a_proxy_keeps_players_apart_by_their_own_address() {
    let origin = Origin::start(&[("AETHEX_AUTH__RATE_LIMIT_PER_IP_PER_MINUTE", "3")]);
    let game = origin.game("proxy-game").await;
    let key = origin.edge_key();
    let login = |edge: String, ip: &'static str| {
        let ck = game.client_key.clone();
        async move {
            let resp = reqwest::Client::new()
                .post(format!("{edge}/api/v1/auth/device"))
                .header("x-aethex-client-key", ck)
                .header("x-forwarded-for", format!("203.0.113.250, {ip}"))
                .json(&json!({"device_id": format!("device-{}", uuid::Uuid::new_v4().simple())}))
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }
    };
    let behind = aethex_tests::edges::NativeEdge::start(&origin.url, &key, &[("AETHEX_NODE__CLIENT_IP_HEADER", "x-forwarded-for")]);
    for _ in 0..3 {
        assert_eq!(login(behind.url.clone(), "198.51.100.1").await, 200);
    }
    assert_eq!(login(behind.url.clone(), "198.51.100.1").await, 429, "the same player is limited");
    assert_eq!(login(behind.url.clone(), "198.51.100.2").await, 200, "another player behind the same balancer is not");
    // Without the setting the edge uses the peer address (the client's header is only a claim).
    let direct = aethex_tests::edges::NativeEdge::start(&origin.url, &key, &[]);
    let mut statuses = Vec::new();
    for ip in ["198.51.100.3", "198.51.100.4", "198.51.100.5", "198.51.100.6"] {
        statuses.push(login(direct.url.clone(), ip).await);
    }
    assert_eq!(statuses.last(), Some(&429), "forged headers do not buy new buckets: {statuses:?}");
}

/// Hole 5: one edge key did everything and every relay held one. With it anyone could
/// forge identities (`x-aethex-verified-claims` with any claims), read any save blob
/// through the replication routes, and register a region URL at any host, after which
/// origin sent its first edge key there. Now relays hold relay keys that open the relay
/// routes only, origin verifies every player token itself, relay URLs must be on hosts
/// the operator allows, and origin calls a relay only with the key that relay presented.
#[tokio::test]
async fn relay_keys_open_relay_routes_only_and_no_key_vouches_for_a_player() {
    // A listener on an allowed host that records the keys origin sends it.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let s = s.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 8192];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                for line in req.lines().filter(|l| l.starts_with("x-aethex-")) {
                    s.lock().unwrap().push(line.to_string());
                }
                let _ =
                    sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]").await;
            });
        }
    });
    let (k1, k2) = ("aethex_rk_first-relay-key-0123456789abcdef", "aethex_rk_second-relay-key-0123456789abcdef");
    let keys = format!("[\"{k1}\",\"{k2}\"]");
    let origin = Origin::start(&[("AETHEX_MULTIPLAYER__RELAY_KEYS", keys.as_str())]);
    let url = |p: &str| format!("{}{p}", origin.url);
    let edge_key = origin.edge_key();
    let game = origin.game("keys-game").await;
    let victim = game.player().await;
    let victim_id = victim.user_id().unwrap();
    victim.saves().save("slot1", json!({"secret": "victim's"})).await.unwrap();
    let save_id = victim.saves().list().await.unwrap()[0].metadata.save_id.clone();

    // No key vouches for an identity: claims an "edge" asserts are ignored, with a relay
    // key or even with an edge key; only a real token signs a player in.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let forged = json!({"iss": "aethex", "aud": "aethex", "sub": victim_id, "game": "keys-game", "sid": "x", "roles": ["player"], "iat": now, "exp": now + 3600});
    let claims = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string())
    };
    for key in [k1, edge_key.as_str()] {
        let resp = reqwest::Client::new()
            .get(url("/api/v1/saves/me/slot1"))
            .bearer_auth("forged.token.here")
            .header("x-aethex-forwarded-by-edge", key)
            .header("x-aethex-edge-key", key)
            .header("x-aethex-verified-claims", &claims)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "claims vouched by {key} were trusted");
    }
    // A relay key reads no replication stream and no save blob; an edge key still does.
    for path in ["/api/v1/replication/changes?after=0".to_string(), format!("/api/v1/replication/save-blobs/{save_id}")] {
        let as_relay = reqwest::Client::new().get(url(&path)).header("x-aethex-edge-key", k1).header("x-aethex-relay-key", k1).send().await.unwrap();
        assert_eq!(as_relay.status(), 401, "{path} with a relay key");
        let as_edge = reqwest::Client::new().get(url(&path)).header("x-aethex-edge-key", &edge_key).send().await.unwrap();
        assert_eq!(as_edge.status(), 200, "{path} with the edge key");
    }
    // An edge key is not a relay key: no region registration, no backfill.
    let put = |key_header: &'static str, key: String, body: Value| {
        let u = url("/api/v1/regions/eu-west");
        async move { reqwest::Client::new().put(u).header(key_header, key).json(&body).send().await.unwrap().status().as_u16() }
    };
    let here = json!({"url": format!("ws://127.0.0.1:{port}"), "capacity": 10});
    assert_eq!(put("x-aethex-edge-key", edge_key.clone(), here.clone()).await, 401);
    assert_eq!(put("x-aethex-relay-key", edge_key.clone(), here.clone()).await, 401);
    // A relay key cannot point origin at a host the operator did not allow (SSRF).
    for evil in ["ws://evil.example:80", "ws://169.254.169.254", "ws://10.0.0.1:7350", "wss://127.0.0.1.evil.example"] {
        let (s, e) =
            raw(Method::PUT, &url("/api/v1/regions/eu-west"), None, Some("application/json"), json!({"url": evil, "capacity": 10}).to_string()).await;
        assert_eq!(s, 401, "{e}");
        let status = put("x-aethex-relay-key", k2.to_string(), json!({"url": evil, "capacity": 10})).await;
        assert_eq!(status, 400, "{evil} was accepted");
    }
    // Registered with the second key on an allowed host, the relay is called with that key
    // only: never the edge key, never another relay's key.
    assert_eq!(put("x-aethex-relay-key", k2.to_string(), here).await, 200);
    let dev = game.developer.token().unwrap();
    let (s, rooms) = raw(Method::GET, &url("/api/v1/games/keys-game/rooms"), Some(&dev), None, "").await;
    assert_eq!(s, 200, "{rooms}");
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "origin asked the relay");
    let all = seen.join("\n");
    assert!(all.contains(&format!("x-aethex-relay-key: {k2}")), "{all}");
    assert!(!all.contains(k1) && !all.contains(&edge_key.to_ascii_lowercase()), "origin sent another key: {all}");
}
