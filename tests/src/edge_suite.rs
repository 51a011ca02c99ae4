//! The end-to-end suite every edge target passes (native, Cloudflare under workerd,
//! Fastly under Viceroy, Spin under a wasi-http host): login at origin, save through the
//! edge, save metadata served from the replica, read-your-writes, leaderboards, regions,
//! forged tokens refused at the edge, writes forwarded.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::edges::wait_for_position;
use crate::{assert_error_shape, Origin};

/// An answer with the headers the suite checks.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub served_by: Option<String>,
    pub position: Option<i64>,
    pub cache: Option<String>,
}

/// Sends a request with an optional token, JSON body and `x-aethex-position`.
pub async fn call(method: Method, url: &str, token: Option<&str>, body: Option<&Value>, position: Option<i64>) -> Answer {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    if let Some(p) = position {
        req = req.header("x-aethex-position", p.to_string());
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let h = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (served_by, position, cache) = (h("x-aethex-served-by"), h("x-aethex-position").and_then(|p| p.parse().ok()), h("x-aethex-cache"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)), served_by, position, cache }
}

async fn device_login(origin: &Origin, client_key: &str, device: &str) -> (String, String) {
    let v: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/device", origin.url))
        .header("x-aethex-client-key", client_key)
        .json(&json!({"device_id": device}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (v["token"].as_str().expect("token").to_string(), v["user_id"].as_str().expect("user_id").to_string())
}

/// Runs the suite against the edge at `edge_url`, in front of `origin`. `label` names the
/// target (it becomes part of the game id, so several runs can share an origin).
pub async fn run(origin: &Origin, edge_url: &str, label: &str) {
    let edge_key = origin.edge_key();
    let game = origin.game(&format!("suite-{label}")).await;
    let dev = game.developer.token().unwrap();
    let board = call(
        Method::POST,
        &format!("{}/api/v1/games/{}/leaderboards", origin.url, game.game_id),
        Some(&dev),
        Some(&json!({"leaderboard_id": "high_scores", "name": "High scores"})),
        None,
    )
    .await;
    assert_eq!(board.status, 201, "{label}: create leaderboard: {}", board.body);

    // Login at origin; the token works at the edge.
    let (token, uid) = device_login(origin, &game.client_key, &format!("{label}-device-0000001")).await;
    let t = Some(token.as_str());

    // A write through the edge is forwarded and reports its replication position.
    let save = call(
        Method::POST,
        &format!("{edge_url}/api/v1/saves/me"),
        t,
        Some(&json!({"slot_name": "slot1", "data": {"level": 5, "inventory": ["sword", "shield"]}})),
        None,
    )
    .await;
    assert_eq!(save.status, 200, "{label}: save through the edge: {}", save.body);
    assert_eq!(save.served_by.as_deref(), Some("origin"), "{label}: writes go to origin");
    let p1 = save.position.unwrap_or_else(|| panic!("{label}: a write answers x-aethex-position"));

    // Read-your-writes: right after the write, with its position, the slot is there
    // (from the replica if it caught up, else from origin).
    let list = call(Method::GET, &format!("{edge_url}/api/v1/saves/me"), t, None, Some(p1)).await;
    assert_eq!(list.status, 200, "{label}: {}", list.body);
    assert_eq!(list.body["saves"][0]["name"], "slot1", "{label}: read-your-writes: {}", list.body);
    // A position the replica cannot have reached yet: origin answers.
    let ahead = call(Method::GET, &format!("{edge_url}/api/v1/saves/me"), t, None, Some(p1 + 1_000_000)).await;
    assert_eq!(ahead.status, 200, "{label}: {}", ahead.body);
    assert_eq!(ahead.served_by.as_deref(), Some("origin"), "{label}: a replica behind the client's position must not answer");
    assert_eq!(ahead.body["saves"][0]["name"], "slot1");

    // Once the replica has the write, the edge answers from it, exactly as origin does.
    wait_for_position(edge_url, p1, Duration::from_secs(20)).await;
    let at_origin = call(Method::GET, &format!("{}/api/v1/saves/me", origin.url), t, None, None).await;
    for (path, what) in [("", "list"), ("/history", "history"), ("/history?slot_name=slot1", "slot history"), ("/slot1", "load")] {
        let e = call(Method::GET, &format!("{edge_url}/api/v1/saves/me{path}"), t, None, Some(p1)).await;
        let o = call(Method::GET, &format!("{}/api/v1/saves/me{path}", origin.url), t, None, None).await;
        assert_eq!(e.status, 200, "{label}: {what}: {}", e.body);
        assert_eq!(e.served_by.as_deref(), Some("edge"), "{label}: {what} is served from the replica");
        assert_eq!(e.body, o.body, "{label}: {what} at the edge equals origin's");
    }
    assert_eq!(at_origin.body["saves"][0]["metadata"]["size_bytes"], list.body["saves"][0]["metadata"]["size_bytes"]);
    let by_id = at_origin.body["saves"][0]["save_id"].as_str().unwrap().to_string();
    let e = call(Method::GET, &format!("{edge_url}/api/v1/saves/{uid}/{by_id}"), t, None, None).await;
    assert_eq!((e.status, e.served_by.as_deref()), (200, Some("edge")), "{label}: load by save id: {}", e.body);
    assert_eq!(e.body["data"], json!({"level": 5, "inventory": ["sword", "shield"]}));

    // Another player's saves: refused at the edge.
    let (other_token, other_uid) = device_login(origin, &game.client_key, &format!("{label}-device-0000002")).await;
    let theirs = call(Method::GET, &format!("{edge_url}/api/v1/saves/{uid}"), Some(&other_token), None, None).await;
    assert_eq!(theirs.status, 403, "{label}: {}", theirs.body);
    assert_error_shape(&theirs.body);
    let theirs = call(Method::GET, &format!("{edge_url}/api/v1/saves/{uid}/slot1"), Some(&other_token), None, None).await;
    assert_eq!(theirs.status, 403, "{label}: {}", theirs.body);

    // Leaderboard: scores go to origin, reads come from the replica.
    let mut last = p1;
    for (tok, score) in [(&token, 300), (&other_token, 500)] {
        let s =
            call(Method::POST, &format!("{edge_url}/api/v1/leaderboards/high_scores/scores"), Some(tok), Some(&json!({"score": score})), None).await;
        assert_eq!(s.status, 200, "{label}: submit: {}", s.body);
        last = last.max(s.position.expect("submit answers a position"));
    }
    let (third, _) = device_login(origin, &game.client_key, &format!("{label}-device-0000003")).await;
    let s = call(Method::POST, &format!("{edge_url}/api/v1/leaderboards/high_scores/scores"), Some(&third), Some(&json!({"score": 100})), None).await;
    last = last.max(s.position.unwrap());
    wait_for_position(edge_url, last, Duration::from_secs(20)).await;
    let top = call(Method::GET, &format!("{edge_url}/api/v1/leaderboards/high_scores?limit=10"), t, None, Some(last)).await;
    assert_eq!((top.status, top.served_by.as_deref()), (200, Some("edge")), "{label}: top: {}", top.body);
    let scores: Vec<i64> = top.body["entries"].as_array().unwrap().iter().map(|e| e["score"].as_i64().unwrap()).collect();
    assert_eq!(scores, vec![500, 300, 100], "{label}: {}", top.body);
    assert_eq!(top.body["entries"][0]["user_id"], other_uid);
    let o = call(Method::GET, &format!("{}/api/v1/leaderboards/high_scores?limit=10", origin.url), t, None, None).await;
    assert_eq!(top.body, o.body, "{label}: top at the edge equals origin's");
    let page = call(Method::GET, &format!("{edge_url}/api/v1/leaderboards/high_scores?limit=2"), t, None, None).await;
    let cursor = page.body["next_cursor"].as_str().expect("a next page").to_string();
    let next = call(Method::GET, &format!("{edge_url}/api/v1/leaderboards/high_scores?limit=2&cursor={cursor}"), t, None, None).await;
    assert_eq!(next.body["entries"][0]["rank"], 3, "{label}: {}", next.body);
    let around = call(Method::GET, &format!("{edge_url}/api/v1/leaderboards/high_scores/around-me?limit=3"), t, None, Some(last)).await;
    assert_eq!((around.status, around.served_by.as_deref()), (200, Some("edge")), "{label}: around-me: {}", around.body);
    let o = call(Method::GET, &format!("{}/api/v1/leaderboards/high_scores/around-me?limit=3", origin.url), t, None, None).await;
    assert_eq!(around.body, o.body);
    assert_eq!(around.body["entries"][1]["user_id"], uid, "{label}: the player is in the middle: {}", around.body);
    let missing = call(Method::GET, &format!("{edge_url}/api/v1/leaderboards/no_such_board"), t, None, None).await;
    assert_eq!(missing.status, 404, "{label}: unknown board: {}", missing.body);
    let bad = call(Method::GET, &format!("{edge_url}/api/v1/leaderboards/high_scores?limit=1000"), t, None, None).await;
    assert_eq!(bad.status, 400, "{label}: limit out of range: {}", bad.body);
    assert_ne!(bad.served_by.as_deref(), Some("origin"), "{label}: bad input is refused at the edge");

    // Regions: a relay registers at origin; the edge lists it.
    let r = reqwest::Client::new()
        .put(format!("{}/api/v1/regions/{label}-west", origin.url))
        .header("x-aethex-relay-key", origin.relay_key())
        .json(&json!({"url": "ws://127.0.0.1:9", "capacity": 100, "load": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pos: i64 = r.headers()["x-aethex-position"].to_str().unwrap().parse().unwrap();
    wait_for_position(edge_url, pos, Duration::from_secs(20)).await;
    let regions = call(Method::GET, &format!("{edge_url}/api/v1/regions"), None, None, Some(pos)).await;
    assert_eq!((regions.status, regions.served_by.as_deref()), (200, Some("edge")), "{label}: {}", regions.body);
    assert!(regions.body["regions"].as_array().unwrap().iter().any(|r| r["name"] == format!("{label}-west")), "{label}: {}", regions.body);

    // Keys: the edge publishes origin's.
    let jwks = call(Method::GET, &format!("{edge_url}/.well-known/jwks.json"), None, None, None).await;
    let origin_jwks = call(Method::GET, &format!("{}/.well-known/jwks.json", origin.url), None, None, None).await;
    assert_eq!(jwks.body, origin_jwks.body, "{label}: JWKS");

    // Forged and expired tokens are refused at the edge, on reads and forwarded routes.
    let forged = crate::tokens::forge(origin, &token).await;
    let ok = call(Method::GET, &format!("{edge_url}/api/v1/auth/profile"), Some(&forged.fresh), None, None).await;
    assert_eq!(ok.status, 200, "{label}: control token: {}", ok.body);
    for (what, bad) in &forged.forgeries {
        for (m, path) in [(Method::GET, "/api/v1/saves/me"), (Method::GET, "/api/v1/leaderboards/high_scores"), (Method::GET, "/api/v1/auth/profile")]
        {
            let a = call(m.clone(), &format!("{edge_url}{path}"), Some(bad), None, None).await;
            assert_eq!(a.status, 401, "{label}: {what} on {m} {path}: {}", a.body);
            let err = assert_error_shape(&a.body);
            assert_eq!(err["code"], -32001);
            assert_ne!(a.served_by.as_deref(), Some("origin"), "{label}: {what} reached origin");
        }
    }
    let a = call(Method::POST, &format!("{edge_url}/api/v1/saves/me"), Some("not-a-token"), Some(&json!({"slot_name": "x", "data": 1})), None).await;
    assert_eq!(a.status, 401, "{label}: forged write");
    // A client cannot pose as an edge: made-up verified claims without the edge key.
    let mut claims_req = reqwest::Client::new().get(format!("{}/api/v1/auth/profile", origin.url)).bearer_auth("not-a-token");
    claims_req = claims_req.header("x-aethex-verified-claims", "eyJzdWIiOiJ4In0").header("x-aethex-edge-key", "guess");
    assert_eq!(claims_req.send().await.unwrap().status().as_u16(), 401, "{label}: verified claims need the edge key");

    // Routes for edges themselves are out of reach through an edge, whatever the client
    // sends: the edge forwards player requests without its edge key.
    for (m, path, body) in [
        (Method::GET, "/api/v1/replication/snapshot".to_string(), None),
        (Method::GET, "/api/v1/replication/changes?after=0".to_string(), None),
        (Method::GET, format!("/api/v1/replication/save-blobs/{by_id}"), None),
        (Method::PUT, format!("/api/v1/regions/{label}-evil"), Some(json!({"url": "ws://evil.example", "capacity": 1}))),
    ] {
        for guess in [None, Some(edge_key.as_str())] {
            let mut req = reqwest::Client::new().request(m.clone(), format!("{edge_url}{path}"));
            if let Some(k) = guess {
                req = req.header("x-aethex-edge-key", k).header("x-aethex-forwarded-by-edge", k);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            assert_eq!(status, 401, "{label}: {m} {path} through the edge (client sent a key: {}): {text}", guess.is_some());
        }
    }
    for path in ["/metrics", "/readyz"] {
        let a = call(Method::GET, &format!("{edge_url}{path}"), None, None, None).await;
        assert_ne!(a.served_by.as_deref(), Some("origin"), "{label}: {path} is not forwarded");
    }
    // Browser games can read the edge's own answers.
    let cors = reqwest::Client::new().get(format!("{edge_url}/api/v1/regions")).header("origin", "https://game.example").send().await.unwrap();
    assert_eq!(cors.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some("*"), "{label}: CORS");

    // Writes are forwarded: delete through the edge, gone at origin.
    let del = call(Method::DELETE, &format!("{edge_url}/api/v1/saves/me/slot1"), t, None, None).await;
    assert_eq!((del.status, del.served_by.as_deref()), (200, Some("origin")), "{label}: delete: {}", del.body);
    let gone = call(Method::GET, &format!("{}/api/v1/saves/me/slot1", origin.url), t, None, None).await;
    assert_eq!(gone.status, 404);
    let p = del.position.expect("delete answers a position");
    let after = call(Method::GET, &format!("{edge_url}/api/v1/saves/me"), t, None, Some(p)).await;
    assert_eq!(after.body["saves"], json!([]), "{label}: read-your-writes after a delete: {}", after.body);
    dlc(origin, edge_url, label, &game, &edge_key).await;

    // The edge's own health.
    let h = call(Method::GET, &format!("{edge_url}/edge/healthz"), None, None, None).await;
    assert_eq!(h.status, 200, "{label}: {}", h.body);

    body_limit(edge_url, label, &token).await;
}

/// The edge core's body limit, the same on every target: one byte over it is refused by
/// the edge itself (`413`, its reason names the limit), whether the length is declared or
/// the body is chunked; a body of exactly the limit is read and forwarded (origin, whose
/// own limits are smaller, answers it).
async fn body_limit(edge_url: &str, label: &str, token: &str) {
    let limit = aethex_edge::body::MAX_BODY_BYTES;
    let edge_reason = format!("limited to {limit} bytes");
    for chunked in [false, true] {
        let (status, body) = raw_put(edge_url, "/api/v1/saves/me/slot1", token, limit + 1, chunked).await;
        assert_eq!(status, 413, "{label}: {} bytes over the limit (chunked: {chunked}): {body}", limit + 1);
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{label}: not JSON: {body}"));
        assert_eq!(assert_error_shape(&v)["code"], -32013, "{label}: {body}");
        assert!(body.contains(&edge_reason), "{label}: the edge refused it: {body}");
    }
    let (status, body) = raw_put(edge_url, "/api/v1/saves/me/slot1", token, limit, false).await;
    assert!(!body.contains(&edge_reason), "{label}: a body of exactly the limit passes the edge ({status}): {body}");
}

/// A `PUT` of `len` bytes over a plain socket, written on one thread while another reads
/// the answer, so that an answer sent before the body is all read is still seen (a blocked
/// reader takes it before the server's reset of the unread rest): (status, body).
async fn raw_put(base: &str, path: &str, token: &str, len: usize, chunked: bool) -> (u16, String) {
    let (base, path, token) = (base.to_string(), path.to_string(), token.to_string());
    tokio::task::spawn_blocking(move || raw_put_blocking(&base, &path, &token, len, chunked)).await.unwrap()
}

fn raw_put_blocking(base: &str, path: &str, token: &str, len: usize, chunked: bool) -> (u16, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut rd = std::net::TcpStream::connect(host).unwrap_or_else(|e| panic!("{host}: {e}"));
    rd.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut wr = rd.try_clone().unwrap();
    let framing = if chunked { "transfer-encoding: chunked".to_string() } else { format!("content-length: {len}") };
    let head = format!(
        "PUT {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\n{framing}\r\nconnection: close\r\n\r\n"
    );
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        wr.write_all(head.as_bytes())?;
        let block = vec![b'a'; 256 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(block.len());
            if chunked {
                wr.write_all(format!("{n:x}\r\n").as_bytes())?;
            }
            wr.write_all(&block[..n])?;
            if chunked {
                wr.write_all(b"\r\n")?;
            }
            left -= n;
        }
        if chunked {
            wr.write_all(b"0\r\n\r\n")?;
        }
        wr.flush()
    });
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match rd.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // A reset after the answer (the server closed with the body unread) ends it.
            Err(e) if !answer.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{base}{path}: reading the answer: {e}"),
        }
    }
    let _ = rd.shutdown(std::net::Shutdown::Both);
    let _ = writer.join(); // it fails with a broken pipe when the server answered early
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{base}{path}: not HTTP: {text:.200}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // A chunked answer: join its chunks.
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { unchunk(body) } else { body.to_string() };
    (status, body)
}

fn unchunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// DLC through the edge: manifests, update checks and entitlements from the replica,
/// chunks (immutable, cached, ranged) and streamed file ranges, and a pull.
async fn dlc(origin: &Origin, edge_url: &str, label: &str, game: &crate::GameFixture, edge_key: &str) {
    let publisher = crate::dlc::Publisher::new(game).await;
    let src = tempfile::tempdir().unwrap();
    crate::dlc::write_tree(src.path(), 11);
    publisher.publish(src.path(), "1.0.0", "stable", None).await;
    publisher.publish(src.path(), "1.0.0", "dlc", Some("pack")).await;
    let g = &game.game_id;
    let (token, uid) = device_login(origin, &game.client_key, &format!("{label}-dlc-player-01")).await;
    let t = Some(token.as_str());
    let head = crate::edges::origin_head(&origin.url, edge_key).await;
    wait_for_position(edge_url, head, Duration::from_secs(20)).await;

    let m = call(Method::GET, &format!("{edge_url}/api/v1/dlc/{g}/stable/manifest"), t, None, None).await;
    assert_eq!((m.status, m.served_by.as_deref()), (200, Some("edge")), "{label}: manifest: {}", m.body);
    let o = call(Method::GET, &format!("{}/api/v1/dlc/{g}/stable/manifest", origin.url), t, None, None).await;
    assert_eq!(m.body, o.body, "{label}: the manifest at the edge equals origin's");
    let u = call(Method::GET, &format!("{edge_url}/api/v1/dlc/{g}/stable/update?current=0.9"), t, None, None).await;
    assert_eq!((u.status, u.served_by.as_deref(), &u.body["update_available"]), (200, Some("edge"), &json!(true)), "{label}: {}", u.body);
    let keys = call(Method::GET, &format!("{edge_url}/api/v1/dlc/{g}/keys"), None, None, None).await;
    assert_eq!(keys.body["keys"][0]["public_key"], json!(publisher.key.public_key()), "{label}: keys");

    // Chunks: immutable, cached at the edge after the first read, ranged.
    let manifest: aethex_cdn::Manifest = serde_json::from_str(m.body["manifest"].as_str().unwrap()).unwrap();
    let id = &manifest.chunks[0].id;
    let url = format!("{edge_url}/api/v1/dlc/{g}/chunks/{id}");
    let first = reqwest::get(&url).await.unwrap();
    assert_eq!(first.status().as_u16(), 200, "{label}: chunk");
    assert_eq!(first.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(first.headers()["etag"], format!("\"{id}\""));
    let full = first.bytes().await.unwrap();
    let at_origin = reqwest::get(format!("{}/api/v1/dlc/{g}/chunks/{id}", origin.url)).await.unwrap().bytes().await.unwrap();
    assert_eq!(full, at_origin, "{label}: chunk bytes");
    let again = call(Method::GET, &url, None, None, None).await;
    assert_eq!(again.cache.as_deref(), Some("hit"), "{label}: the second read comes from the edge cache");
    let part = reqwest::Client::new().get(&url).header("range", "bytes=5-14").send().await.unwrap();
    assert_eq!(part.status().as_u16(), 206, "{label}: chunk range");
    assert_eq!(part.bytes().await.unwrap(), full[5..15]);
    let nope = call(Method::GET, &format!("{edge_url}/api/v1/dlc/{g}/chunks/{}", "0".repeat(64)), None, None, None).await;
    assert_eq!(nope.status, 404, "{label}: unknown chunk");

    // Asset streaming: a range of one file, decompressed and checked at the edge.
    let want = std::fs::read(src.path().join("data/level1.pak")).unwrap();
    let r = reqwest::Client::new()
        .get(format!("{edge_url}/api/v1/dlc/{g}/stable/files/data/level1.pak"))
        .bearer_auth(&token)
        .header("range", "bytes=100000-230000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 206, "{label}: file range");
    assert_eq!(r.headers()["x-aethex-served-by"], "edge");
    assert_eq!(r.bytes().await.unwrap(), want[100_000..230_001], "{label}: streamed bytes");

    // Entitlements: without one the edge asks origin (a grant may be on its way), which
    // refuses; once granted, the edge answers.
    let gated = call(Method::GET, &format!("{edge_url}/api/v1/dlc/{g}/dlc/manifest"), t, None, None).await;
    assert_eq!(gated.status, 403, "{label}: gated: {}", gated.body);
    assert_error_shape(&gated.body);
    let grant = reqwest::Client::new()
        .put(format!("{}/api/v1/games/{g}/entitlements/{uid}/pack", origin.url))
        .bearer_auth(&publisher.server_key)
        .send()
        .await
        .unwrap();
    let pos: i64 = grant.headers()["x-aethex-position"].to_str().unwrap().parse().unwrap();
    let ok = call(Method::GET, &format!("{edge_url}/api/v1/dlc/{g}/dlc/manifest"), t, None, None).await;
    assert_eq!(ok.status, 200, "{label}: granted, right away: {}", ok.body);
    wait_for_position(edge_url, pos, Duration::from_secs(20)).await;
    let ok = call(Method::GET, &format!("{edge_url}/api/v1/dlc/{g}/dlc/manifest"), t, None, Some(pos)).await;
    assert_eq!((ok.status, ok.served_by.as_deref()), (200, Some("edge")), "{label}: granted: {}", ok.body);

    // A full install through the edge.
    let install = tempfile::tempdir().unwrap();
    let p = crate::dlc::pull(edge_url, g, "stable", &token, publisher.trusted(), install.path()).await;
    assert_eq!(p.version, "1.0.0");
    let (_, installed) = aethex_cdn::pull::installed(install.path()).unwrap().unwrap();
    assert!(aethex_cdn::verify_dir(install.path(), &installed).unwrap().ok(), "{label}: installed through the edge");
}
