//! Matchmaking: modes, tickets, the matcher (skill, queries, parties, regions), long-poll,
//! cancel, expiry, backfill, server-side tickets, JSON-RPC, and relay failures.
//!
//! The relay (`aethex-relay`) is not part of this workspace yet, so [`StandInRelay`] answers
//! the one relay route origin calls, `POST /v1/rooms`: a test fixture standing in for an
//! external service, to be replaced by the real binary once it lands.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use reqwest::Method;
use serde_json::{json, Value};

use aethex_protocol::multiplayer::{OpenRoomRequest, OpenRoomResponse};
use aethex_tests::{assert_error_shape, GameFixture, Origin};

// ---------------------------------------------------------------------------------------
// Stand-in relay (test fixture)

struct RelayState {
    relay_key: String,
    ws_url: String,
    fail: AtomicBool,
    wrong_key_calls: AtomicU32,
    failed_calls: AtomicU32,
    opened: Mutex<Vec<OpenRoomRequest>>,
}

/// Answers `POST /v1/rooms` like a relay: checks `x-aethex-relay-key`, records the request,
/// and opens `room-<n>` at `ws://<addr>/v1/multiplayer` (or answers 503 while failing).
struct StandInRelay {
    /// The relay's public URL as registered with origin (`ws://127.0.0.1:<port>`).
    ws_url: String,
    state: Arc<RelayState>,
}

async fn stand_in_open_room(State(s): State<Arc<RelayState>>, headers: HeaderMap, Json(req): Json<OpenRoomRequest>) -> Response {
    if headers.get("x-aethex-relay-key").and_then(|v| v.to_str().ok()) != Some(s.relay_key.as_str()) {
        s.wrong_key_calls.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if s.fail.load(Ordering::SeqCst) {
        s.failed_calls.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let mut opened = s.opened.lock().unwrap();
    opened.push(req);
    let room_id = format!("room-{}", opened.len());
    Json(OpenRoomResponse { room_id, url: format!("{}/v1/multiplayer", s.ws_url) }).into_response()
}

impl StandInRelay {
    async fn start(relay_key: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_url = format!("ws://{}", listener.local_addr().unwrap());
        let state = Arc::new(RelayState {
            relay_key: relay_key.to_string(),
            ws_url: ws_url.clone(),
            fail: AtomicBool::new(false),
            wrong_key_calls: AtomicU32::new(0),
            failed_calls: AtomicU32::new(0),
            opened: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new().route("/v1/rooms", axum::routing::post(stand_in_open_room)).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { ws_url, state }
    }

    fn opened(&self) -> Vec<OpenRoomRequest> {
        self.state.opened.lock().unwrap().clone()
    }

    fn set_failing(&self, fail: bool) {
        self.state.fail.store(fail, Ordering::SeqCst);
    }

    fn failed_calls(&self) -> u32 {
        self.state.failed_calls.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

/// Fast matcher rounds and a short relay back-off keep the tests quick.
const ENV: &[(&str, &str)] = &[("AETHEX_MATCHMAKING__INTERVAL_MS", "50"), ("AETHEX_MATCHMAKING__RELAY_BACKOFF_MS", "300")];

struct Setup {
    origin: Origin,
    game: GameFixture,
    relay_key: String,
}

impl Setup {
    async fn new(game_id: &str) -> Self {
        let origin = Origin::start(ENV);
        let game = origin.game(game_id).await;
        let relay_key = origin.relay_key();
        Self { origin, game, relay_key }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin.url)
    }

    async fn call(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = reqwest::Client::new().request(method, self.url(path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn relay_call(&self, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = reqwest::Client::new().post(self.url(path)).json(&body);
        if let Some(k) = key {
            req = req.header("x-aethex-relay-key", k);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }

    /// Starts a stand-in relay and registers it as `region`.
    async fn relay(&self, region: &str) -> StandInRelay {
        let relay = StandInRelay::start(&self.relay_key).await;
        let (s, body) = self.relay_put_region(region, &relay.ws_url).await;
        assert_eq!(s, 200, "{body}");
        relay
    }

    async fn relay_put_region(&self, region: &str, url: &str) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .put(self.url(&format!("/api/v1/regions/{region}")))
            .header("x-aethex-relay-key", &self.relay_key)
            .json(&json!({"url": url, "capacity": 100}))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    /// Defines a mode as the game's developer.
    async fn mode(&self, mode: &str, config: Value) {
        let token = self.game.developer.token().unwrap();
        let (s, body) =
            self.call(Method::PUT, &format!("/api/v1/games/{}/matchmaking/modes/{mode}", self.game.game_id), Some(&token), Some(config)).await;
        assert_eq!(s, 200, "{body}");
    }

    /// A new player of the game: (token, user id).
    async fn player(&self) -> (String, String) {
        let p = self.game.player().await;
        (p.token().unwrap(), p.user_id().unwrap())
    }

    async fn queue(&self, token: &str, ticket: Value) -> Value {
        let (s, body) = self.call(Method::POST, "/api/v1/matchmaking/tickets", Some(token), Some(ticket)).await;
        assert_eq!(s, 201, "{body}");
        assert_eq!(body["status"], "queued");
        body
    }

    async fn ticket(&self, token: &str, id: &Value, wait_ms: u64) -> (u16, Value) {
        self.call(Method::GET, &format!("/api/v1/matchmaking/tickets/{}?wait_ms={wait_ms}", id.as_str().unwrap()), Some(token), None).await
    }

    /// Long-polls until the ticket leaves the queue (at most `within`).
    async fn until_done(&self, token: &str, id: &Value, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (s, t) = self.ticket(token, id, 5000).await;
            assert_eq!(s, 200, "{t}");
            if t["status"] != "queued" {
                return t;
            }
            assert!(Instant::now() < deadline, "ticket still queued after {within:?}: {t}");
        }
    }

    async fn server_key(&self, game: &GameFixture) -> String {
        let token = game.developer.token().unwrap();
        let (s, key) =
            self.call(Method::POST, &format!("/api/v1/games/{}/server-keys", game.game_id), Some(&token), Some(json!({"name": "mm"}))).await;
        assert_eq!(s, 201, "{key}");
        key["key"].as_str().unwrap().to_string()
    }

    /// Verifies a room ticket with origin's JWKS (EdDSA, `aud` = `aethex-relay`); its claims.
    async fn verify_room_ticket(&self, token: &str) -> Value {
        let jwks: Value = reqwest::get(self.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        let kid = header.kid.expect("room tickets name their key");
        let k = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).expect("kid in the JWKS");
        let key = jsonwebtoken::DecodingKey::from_ed_components(k["x"].as_str().unwrap()).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        v.set_audience(&["aethex-relay"]);
        v.set_issuer(&["aethex"]);
        v.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
        let claims = jsonwebtoken::decode::<Value>(token, &key, &v).expect("room ticket verifies").claims;
        let mut access = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        access.set_audience(&["aethex"]);
        assert!(jsonwebtoken::decode::<Value>(token, &key, &access).is_err(), "a room ticket is not an access token");
        claims
    }
}

fn regions(list: &[(&str, u32)]) -> Value {
    Value::Array(list.iter().map(|(r, rtt)| json!({"region": r, "rtt_ms": rtt})).collect())
}

fn field(body: &Value) -> &str {
    assert_error_shape(body)["data"]["field"].as_str().unwrap_or("")
}

// ---------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn modes_are_set_by_developers_and_server_keys() {
    let t = Setup::new("mm-modes").await;
    let other = t.origin.game("mm-other").await;
    let dev = t.game.developer.token().unwrap();
    let path = "/api/v1/games/mm-modes/matchmaking/modes";
    let (s, body) = t.call(Method::PUT, &format!("{path}/deathmatch"), Some(&dev), Some(json!({"match_size": 4}))).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        (
            &body["game_id"],
            &body["mode"],
            &body["match_size"],
            &body["max_wait_secs"],
            &body["skill_widen_per_sec"],
            &body["skill_window"],
            &body["max_rtt_ms"]
        ),
        (&json!("mm-modes"), &json!("deathmatch"), &json!(4), &json!(120), &json!(10.0), &json!(100.0), &json!(0))
    );
    let (s, body) = t.call(Method::GET, &format!("{path}/deathmatch"), Some(&dev), None).await;
    assert_eq!((s, &body["match_size"]), (200, &json!(4)));

    // The game's server key may set modes too; another game's may not.
    let key = t.server_key(&t.game).await;
    let other_key = t.server_key(&other).await;
    let ranked = json!({"match_size": 2, "max_wait_secs": 30, "skill_widen_per_sec": 5, "skill_window": 50, "max_rtt_ms": 150});
    let (s, body) = t.call(Method::PUT, &format!("{path}/ranked"), Some(&key), Some(ranked.clone())).await;
    assert_eq!((s, &body["max_rtt_ms"]), (200, &json!(150)));
    let (s, body) = t.call(Method::PUT, &format!("{path}/ranked"), Some(&other_key), Some(ranked.clone())).await;
    assert_eq!(s, 403, "{body}");
    assert_error_shape(&body);
    let (s, body) = t.call(Method::GET, path, Some(&key), None).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = body["modes"].as_array().unwrap().iter().map(|m| m["mode"].as_str().unwrap()).collect();
    assert_eq!(names, ["deathmatch", "ranked"]);

    // Players are not members of the studio; nobody without a credential gets in.
    let (player, _) = t.player().await;
    let (s, body) = t.call(Method::PUT, &format!("{path}/ranked"), Some(&player), Some(ranked.clone())).await;
    assert_eq!(s, 404, "{body}");
    assert_error_shape(&body);
    let (s, body) = t.call(Method::GET, path, None, None).await;
    assert_eq!(s, 401);
    assert_eq!(field(&body), "authorization");

    // Invalid configurations and names.
    for (bad, f) in [
        (json!({"match_size": 1}), "match_size"),
        (json!({"match_size": 65}), "match_size"),
        (json!({"match_size": 2, "max_wait_secs": 0}), "max_wait_secs"),
        (json!({"match_size": 2, "skill_widen_per_sec": -1}), "skill_widen_per_sec"),
        (json!({"match_size": 2, "skill_window": -5}), "skill_window"),
        (json!({"match_size": 2, "max_rtt_ms": 20000}), "max_rtt_ms"),
        (json!({"match_size": 2, "extra": true}), "extra"),
        (json!({}), "match_size"),
    ] {
        let (s, body) = t.call(Method::PUT, &format!("{path}/ranked"), Some(&dev), Some(bad.clone())).await;
        assert_eq!((s, field(&body)), (400, f), "{bad}: {body}");
    }
    let (s, body) = t.call(Method::PUT, &format!("{path}/Bad%20Mode"), Some(&dev), Some(ranked)).await;
    assert_eq!((s, field(&body)), (400, "mode"), "{body}");
    let (s, body) = t.call(Method::GET, &format!("{path}/nope"), Some(&dev), None).await;
    assert_eq!((s, field(&body)), (404, "mode"), "{body}");

    // The routes and their bodies are in the OpenAPI document.
    let doc: Value = reqwest::get(t.url("/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
    for p in [
        "/api/v1/games/{game_id}/matchmaking/modes",
        "/api/v1/games/{game_id}/matchmaking/modes/{mode}",
        "/api/v1/matchmaking/tickets",
        "/api/v1/matchmaking/tickets/{ticket_id}",
        "/api/v1/matchmaking/tickets/{ticket_id}/accept",
        "/api/v1/matchmaking/backfill",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from the OpenAPI document");
    }
    for s in ["ModeConfig", "ModeEntry", "ModeList", "TicketRequest", "Ticket", "MatchFound", "BackfillRequest", "BackfillResponse"] {
        assert!(doc["components"]["schemas"].get(s).is_some(), "schema {s} missing");
    }
}

#[tokio::test]
async fn tickets_are_validated() {
    let t = Setup::new("mm-valid").await;
    let _relay = t.relay("eu-west").await;
    t.mode("duel", json!({"match_size": 2})).await;
    let (a, a_id) = t.player().await;
    let outsider = t.origin.game("mm-valid-other").await.player().await;
    let dev_id = t.game.developer.user_id().unwrap();
    let eu = regions(&[("eu-west", 30)]);
    let many: serde_json::Map<String, Value> = (0..17).map(|i| (format!("p{i}"), json!(i))).collect();
    let cases = [
        (json!({"mode": "nope", "regions": eu}), 400, "mode"),
        (json!({"mode": "Bad Mode", "regions": eu}), 400, "mode"),
        (json!({"mode": "duel"}), 400, "regions"),
        (json!({"mode": "duel", "region": "us-east"}), 400, "regions"),
        (json!({"mode": "duel", "regions": regions(&[("eu-west", 30), ("eu-west", 40)])}), 400, "regions"),
        (json!({"mode": "duel", "regions": regions(&[("eu-west", 60_000)])}), 400, "regions"),
        (json!({"mode": "duel", "regions": [{"region": "eu-west"}]}), 400, "rtt_ms"),
        (json!({"mode": "duel", "regions": eu, "skill": 1e12}), 400, "skill"),
        (json!({"mode": "duel", "regions": eu, "skill": "high"}), 400, ""),
        (json!({"mode": "duel", "regions": eu, "skill_range": [1500, 1000]}), 400, "skill_range"),
        (json!({"mode": "duel", "regions": eu, "party": [dev_id, uuid::Uuid::new_v4().to_string()]}), 400, "party"),
        (json!({"mode": "duel", "regions": eu, "party": [uuid::Uuid::new_v4().to_string()]}), 400, "party"),
        (json!({"mode": "duel", "regions": eu, "party": [dev_id]}), 400, "party"),
        (json!({"mode": "duel", "regions": eu, "party": [outsider.user_id().unwrap()]}), 400, "party"),
        (json!({"mode": "duel", "regions": eu, "party": [a_id]}), 400, "party"),
        (json!({"mode": "duel", "regions": eu, "properties": {"map": {"name": "dust"}}}), 400, "properties"),
        (json!({"mode": "duel", "regions": eu, "properties": {"map": [1]}}), 400, "properties"),
        (json!({"mode": "duel", "regions": eu, "properties": {"map": "x".repeat(300)}}), 400, "properties"),
        (json!({"mode": "duel", "regions": eu, "properties": many}), 400, "properties"),
        (json!({"mode": "duel", "regions": eu, "query": [{"property": "map", "op": "like", "value": "d%"}]}), 400, "query"),
        (json!({"mode": "duel", "regions": eu, "query": [{"property": "map", "op": "eq", "value": null}]}), 400, "query"),
        (json!({"mode": "duel", "regions": eu, "user_id": dev_id}), 403, ""),
        (json!({"mode": "duel", "regions": eu, "surprise": 1}), 400, "surprise"),
    ];
    for (body, status, f) in cases {
        let (s, err) = t.call(Method::POST, "/api/v1/matchmaking/tickets", Some(&a), Some(body.clone())).await;
        assert_eq!(s, status, "{body}: {err}");
        assert_error_shape(&err);
        if !f.is_empty() {
            assert_eq!(field(&err), f, "{body}: {err}");
        }
    }
    // A developer's token is for no game; no token at all is 401.
    let dev = t.game.developer.token().unwrap();
    let (s, err) = t.call(Method::POST, "/api/v1/matchmaking/tickets", Some(&dev), Some(json!({"mode": "duel", "regions": eu}))).await;
    assert_eq!((s, field(&err)), (400, "x-aethex-client-key"));
    let (s, _) = t.call(Method::POST, "/api/v1/matchmaking/tickets", None, Some(json!({"mode": "duel", "regions": eu}))).await;
    assert_eq!(s, 401);

    // One active ticket per player: the second is refused and names the first.
    let first = t.queue(&a, json!({"mode": "duel", "region": "eu-west", "skill": 1000, "properties": {"map": "dust", "level": 3}})).await;
    assert_eq!(first["mode"], "duel");
    assert!(first["created_at"].is_string() && first.get("match_found").is_none(), "{first}");
    let (s, err) = t.call(Method::POST, "/api/v1/matchmaking/tickets", Some(&a), Some(json!({"mode": "duel", "regions": eu}))).await;
    assert_eq!((s, field(&err)), (409, "user_id"), "{err}");
    assert_eq!(err["error"]["data"]["ticket_id"], first["ticket_id"]);
    // Someone else's party naming them waits for them; accepting it while they wait in
    // their own ticket is refused, and names their own ticket to them.
    let (b, _) = t.player().await;
    let (s, invite) =
        t.call(Method::POST, "/api/v1/matchmaking/tickets", Some(&b), Some(json!({"mode": "duel", "regions": eu, "party": [a_id]}))).await;
    assert_eq!((s, invite["status"].as_str()), (201, Some("pending")), "{invite}");
    let accept = format!("/api/v1/matchmaking/tickets/{}/accept", invite["ticket_id"].as_str().unwrap());
    let (s, err) = t.call(Method::POST, &accept, Some(&a), None).await;
    assert_eq!((s, field(&err)), (409, "user_id"), "{err}");
    assert_eq!(err["error"]["data"]["ticket_id"], first["ticket_id"]);
    // Long-polls are bounded.
    let (s, err) = t.ticket(&a, &first["ticket_id"], 30_001).await;
    assert_eq!((s, field(&err)), (400, "wait_ms"));
}

#[tokio::test]
async fn two_players_match_and_long_polls_wake_at_once() {
    let t = Setup::new("mm-duel").await;
    let relay = t.relay("eu-west").await;
    t.mode("duel", json!({"match_size": 2})).await;
    let (a, a_id) = t.player().await;
    let (b, b_id) = t.player().await;
    let (c, _) = t.player().await;
    let ta = t.queue(&a, json!({"mode": "duel", "regions": regions(&[("eu-west", 35)]), "skill": 1200})).await;
    // Only the ticket's player may read it.
    let (s, err) = t.ticket(&c, &ta["ticket_id"], 0).await;
    assert_eq!(s, 404, "{err}");
    assert_error_shape(&err);
    let (s, _) = t.call(Method::DELETE, &format!("/api/v1/matchmaking/tickets/{}", ta["ticket_id"].as_str().unwrap()), Some(&c), None).await;
    assert_eq!(s, 404);
    let (s, still) = t.ticket(&a, &ta["ticket_id"], 300).await;
    assert_eq!((s, still["status"].as_str()), (200, Some("queued")));

    // A waits (up to 20 s); B's ticket completes the match and A's answer comes at once.
    let poll = {
        let url = t.url(&format!("/api/v1/matchmaking/tickets/{}?wait_ms=20000", ta["ticket_id"].as_str().unwrap()));
        let a = a.clone();
        tokio::spawn(async move {
            let resp = reqwest::Client::new().get(url).bearer_auth(a).send().await.unwrap();
            let body: Value = resp.json().await.unwrap();
            (Instant::now(), body)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let queued_at = Instant::now();
    let tb = t.queue(&b, json!({"mode": "duel", "region": "eu-west", "skill": 1250})).await;
    let (answered_at, got_a) = poll.await.unwrap();
    let latency = answered_at - queued_at;
    assert!(latency < Duration::from_secs(3), "the long-poll answered {latency:?} after the match was possible");
    assert_eq!(got_a["status"], "matched", "{got_a}");
    let got_b = t.until_done(&b, &tb["ticket_id"], Duration::from_secs(5)).await;

    let (fa, fb) = (&got_a["match_found"], &got_b["match_found"]);
    for key in ["match_id", "room_id", "region", "relay_url", "players", "max_rtt_ms"] {
        assert_eq!(fa[key], fb[key], "{key}");
    }
    assert_eq!(fa["region"], "eu-west");
    assert_eq!(fa["relay_url"], format!("{}/v1/multiplayer", relay.ws_url));
    assert_eq!(fa["players"], json!([a_id, b_id]));
    assert_eq!(fa["max_rtt_ms"], 35);
    assert_ne!(fa["room_ticket"], fb["room_ticket"]);
    let opened = relay.opened();
    assert_eq!(opened.len(), 1);
    assert_eq!(fa["room_id"], "room-1");
    assert_eq!(opened[0].game_id, "mm-duel");
    assert_eq!(opened[0].mode, "duel");
    assert_eq!(opened[0].max_players, 2);
    assert_eq!(opened[0].players, vec![a_id.clone(), b_id.clone()]);
    assert_eq!(json!(opened[0].match_id), fa["match_id"]);
    assert_eq!(relay.state.wrong_key_calls.load(Ordering::SeqCst), 0);

    // Each room ticket is an EdDSA JWT of origin for the relay, naming its player.
    for (who, found) in [(&a_id, fa), (&b_id, fb)] {
        let claims = t.verify_room_ticket(found["room_ticket"].as_str().unwrap()).await;
        assert_eq!(claims["sub"], who.as_str());
        assert_eq!(
            (&claims["game"], &claims["room"], &claims["region"], &claims["match"]),
            (&json!("mm-duel"), &fa["room_id"], &fa["region"], &fa["match_id"])
        );
        assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 60);
    }
    // Matched tickets cannot be cancelled; their players may queue again.
    let (s, err) = t.call(Method::DELETE, &format!("/api/v1/matchmaking/tickets/{}", ta["ticket_id"].as_str().unwrap()), Some(&a), None).await;
    assert_eq!(s, 409, "{err}");
    assert_error_shape(&err);
    t.queue(&a, json!({"mode": "duel", "region": "eu-west"})).await;

    let metrics = reqwest::get(format!("{}/metrics", t.origin.metrics_url)).await.unwrap().text().await.unwrap();
    for m in ["aethex_matchmaking_queued_tickets", "aethex_matchmaking_matches_total", "aethex_matchmaking_time_to_match_seconds"] {
        assert!(metrics.contains(m), "{m} missing");
    }
}

#[tokio::test]
async fn four_players_and_parties_land_together() {
    let t = Setup::new("mm-squad").await;
    let relay = t.relay("us-east").await;
    t.mode("squad", json!({"match_size": 4})).await;
    let mut players = Vec::new();
    for _ in 0..5 {
        players.push(t.player().await);
    }
    let us = |rtt: u32| regions(&[("us-east", rtt)]);
    // Four solo players.
    let mut tickets = Vec::new();
    for (i, (tok, _)) in players[..4].iter().enumerate() {
        tickets.push(t.queue(tok, json!({"mode": "squad", "regions": us(10 + i as u32)})).await);
    }
    let mut found = Vec::new();
    for ((tok, _), ticket) in players[..4].iter().zip(&tickets) {
        found.push(t.until_done(tok, &ticket["ticket_id"], Duration::from_secs(10)).await["match_found"].clone());
    }
    let ids: Vec<String> = players[..4].iter().map(|p| p.1.clone()).collect();
    assert_eq!(found[0]["players"], json!(ids));
    assert_eq!(found[0]["max_rtt_ms"], 13);
    assert!(found.iter().all(|f| f["match_id"] == found[0]["match_id"]));

    // A party of three (its leader's ticket) and one more player fill the next match; every
    // member reads the leader's ticket and gets a room ticket of their own.
    let (leader, leader_id) = &players[0];
    let party: Vec<String> = players[1..3].iter().map(|p| p.1.clone()).collect();
    let (s, err) = t
        .call(
            Method::POST,
            "/api/v1/matchmaking/tickets",
            Some(leader),
            Some(json!({"mode": "squad", "regions": us(20), "party": [party[0], party[1], players[3].1, players[4].1]})),
        )
        .await;
    assert_eq!((s, field(&err)), (400, "party"), "a party of 5 does not fit a match of 4: {err}");
    let (s, pt) =
        t.call(Method::POST, "/api/v1/matchmaking/tickets", Some(leader), Some(json!({"mode": "squad", "regions": us(20), "party": party}))).await;
    assert_eq!((s, pt["status"].as_str()), (201, Some("pending")), "{pt}");
    for (tok, _) in &players[1..3] {
        let (s, got) =
            t.call(Method::POST, &format!("/api/v1/matchmaking/tickets/{}/accept", pt["ticket_id"].as_str().unwrap()), Some(tok), None).await;
        assert_eq!(s, 200, "{got}");
    }
    let solo = t.queue(&players[4].0, json!({"mode": "squad", "regions": us(70)})).await;
    let mut room_tickets = Vec::new();
    for (tok, id) in &players[..3] {
        let got = t.until_done(tok, &pt["ticket_id"], Duration::from_secs(10)).await;
        assert_eq!(got["status"], "matched");
        let f = &got["match_found"];
        assert_eq!(f["players"], json!([leader_id, party[0], party[1], players[4].1]));
        assert_eq!(f["max_rtt_ms"], 70);
        let claims = t.verify_room_ticket(f["room_ticket"].as_str().unwrap()).await;
        assert_eq!(claims["sub"], id.as_str());
        room_tickets.push(f["room_ticket"].clone());
    }
    let got = t.until_done(&players[4].0, &solo["ticket_id"], Duration::from_secs(5)).await;
    assert_eq!(got["match_found"]["room_id"], "room-2");
    assert_eq!(relay.opened().len(), 2);
    assert_eq!(relay.opened()[1].players.len(), 4);
    let distinct: std::collections::HashSet<String> = room_tickets.iter().map(|t| t.to_string()).collect();
    assert_eq!(distinct.len(), 3);
    // The fifth player is not in the party: the party's ticket is not theirs to read.
    let (s, _) = t.ticket(&players[4].0, &pt["ticket_id"], 0).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn skill_ranges_widen_and_queries_keep_players_apart() {
    let t = Setup::new("mm-skill").await;
    let _relay = t.relay("eu-west").await;
    t.mode("ranked", json!({"match_size": 2, "skill_window": 10, "skill_widen_per_sec": 100})).await;
    let (a, _) = t.player().await;
    let (b, _) = t.player().await;
    // 300 apart: each side accepts ±(10 + 100/s × waited), so about 3 s of waiting.
    let started = Instant::now();
    let ta = t.queue(&a, json!({"mode": "ranked", "region": "eu-west", "skill": 1000})).await;
    let tb = t.queue(&b, json!({"mode": "ranked", "region": "eu-west", "skill_range": [1250, 1350]})).await;
    let (_, early) = t.ticket(&a, &ta["ticket_id"], 1500).await;
    assert_eq!(early["status"], "queued", "matched before the ranges widened enough: {early}");
    let got = t.until_done(&a, &ta["ticket_id"], Duration::from_secs(15)).await;
    assert_eq!(got["status"], "matched");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(2500), "matched after {waited:?}");
    assert_eq!(t.until_done(&b, &tb["ticket_id"], Duration::from_secs(5)).await["status"], "matched");

    // Queries: C wants map dust; D plays nuke and is never matched with C; E plays dust.
    t.mode("casual", json!({"match_size": 2})).await;
    let (c, _) = t.player().await;
    let (d, _) = t.player().await;
    let (e, e_id) = t.player().await;
    let dust = json!({"property": "map", "op": "eq", "value": "dust"});
    let tc = t.queue(&c, json!({"mode": "casual", "region": "eu-west", "properties": {"map": "dust", "level": 12}, "query": [dust]})).await;
    let td = t.queue(&d, json!({"mode": "casual", "region": "eu-west", "properties": {"map": "nuke"}})).await;
    let (_, still) = t.ticket(&c, &tc["ticket_id"], 1000).await;
    assert_eq!(still["status"], "queued", "{still}");
    let te = t
        .queue(
            &e,
            json!({"mode": "casual", "region": "eu-west", "properties": {"map": "dust"}, "query": [{"property": "level", "op": "gte", "value": 10}]}),
        )
        .await;
    let got = t.until_done(&c, &tc["ticket_id"], Duration::from_secs(5)).await;
    assert_eq!(got["match_found"]["players"][1], e_id.as_str());
    assert_eq!(t.until_done(&e, &te["ticket_id"], Duration::from_secs(5)).await["status"], "matched");
    let (_, still) = t.ticket(&d, &td["ticket_id"], 0).await;
    assert_eq!(still["status"], "queued");

    // Cancel: D leaves the queue (twice is fine), and may queue again.
    let path = format!("/api/v1/matchmaking/tickets/{}", td["ticket_id"].as_str().unwrap());
    let (s, cancelled) = t.call(Method::DELETE, &path, Some(&d), None).await;
    assert_eq!((s, cancelled["status"].as_str()), (200, Some("cancelled")));
    let (s, again) = t.call(Method::DELETE, &path, Some(&d), None).await;
    assert_eq!((s, again["status"].as_str()), (200, Some("cancelled")));
    let (_, read) = t.ticket(&d, &td["ticket_id"], 2000).await;
    assert_eq!(read["status"], "cancelled", "a finished ticket answers at once");
    t.queue(&d, json!({"mode": "casual", "region": "eu-west"})).await;
}

#[tokio::test]
async fn the_region_with_the_best_worst_case_rtt_is_chosen() {
    let t = Setup::new("mm-regions").await;
    let eu = t.relay("eu-west").await;
    let us = t.relay("us-east").await;
    let _ap = t.relay("ap-south").await;
    t.mode("duel", json!({"match_size": 2})).await;
    t.mode("lowlat", json!({"match_size": 2, "max_rtt_ms": 100})).await;
    let (a, _) = t.player().await;
    let (b, _) = t.player().await;
    // eu-west: worst 120; us-east: worst 60 (A alone is closer to eu-west); ap-south: B only.
    let ta = t.queue(&a, json!({"mode": "duel", "regions": regions(&[("eu-west", 20), ("us-east", 50)])})).await;
    t.queue(&b, json!({"mode": "duel", "regions": regions(&[("eu-west", 120), ("us-east", 60), ("ap-south", 5)])})).await;
    let got = t.until_done(&a, &ta["ticket_id"], Duration::from_secs(5)).await;
    assert_eq!((&got["match_found"]["region"], &got["match_found"]["max_rtt_ms"]), (&json!("us-east"), &json!(60)));
    assert_eq!(got["match_found"]["relay_url"], format!("{}/v1/multiplayer", us.ws_url));
    assert_eq!((eu.opened().len(), us.opened().len()), (0, 1));

    // A mode's max_rtt_ms rules out regions too far for someone.
    let (c, _) = t.player().await;
    let (d, _) = t.player().await;
    let tc = t.queue(&c, json!({"mode": "lowlat", "regions": regions(&[("eu-west", 150), ("us-east", 20)])})).await;
    let td = t.queue(&d, json!({"mode": "lowlat", "regions": regions(&[("eu-west", 30), ("us-east", 180)])})).await;
    let (_, still) = t.ticket(&c, &tc["ticket_id"], 1000).await;
    assert_eq!(still["status"], "queued", "no region within 100 ms for both: {still}");
    let (_, still) = t.ticket(&d, &td["ticket_id"], 0).await;
    assert_eq!(still["status"], "queued");
}

#[tokio::test]
async fn relay_failures_put_tickets_back_in_the_queue() {
    let t = Setup::new("mm-failover").await;
    let near = t.relay("eu-west").await;
    let far = t.relay("eu-north").await;
    near.set_failing(true);
    t.mode("duel", json!({"match_size": 2})).await;
    let (a, _) = t.player().await;
    let (b, _) = t.player().await;
    // eu-west is best for both, but its relay fails: the next round tries eu-north.
    let ta = t.queue(&a, json!({"mode": "duel", "regions": regions(&[("eu-west", 10), ("eu-north", 40)])})).await;
    t.queue(&b, json!({"mode": "duel", "regions": regions(&[("eu-west", 10), ("eu-north", 40)])})).await;
    let got = t.until_done(&a, &ta["ticket_id"], Duration::from_secs(10)).await;
    assert_eq!(got["match_found"]["region"], "eu-north");
    assert!(near.failed_calls() >= 1);
    assert_eq!(far.opened().len(), 1);

    // One region only: tickets wait while its relay fails, and match once it recovers.
    far.set_failing(true);
    let (c, _) = t.player().await;
    let (d, _) = t.player().await;
    let tc = t.queue(&c, json!({"mode": "duel", "region": "eu-north"})).await;
    let td = t.queue(&d, json!({"mode": "duel", "region": "eu-north"})).await;
    let (_, still) = t.ticket(&c, &tc["ticket_id"], 1000).await;
    assert_eq!(still["status"], "queued", "{still}");
    assert!(far.failed_calls() >= 2, "retried after the back-off: {}", far.failed_calls());
    far.set_failing(false);
    let got = t.until_done(&c, &tc["ticket_id"], Duration::from_secs(10)).await;
    assert_eq!((&got["status"], &got["match_found"]["region"]), (&json!("matched"), &json!("eu-north")));
    assert_eq!(t.until_done(&d, &td["ticket_id"], Duration::from_secs(5)).await["status"], "matched");
}

#[tokio::test]
async fn tickets_expire_after_the_modes_wait() {
    let t = Setup::new("mm-expiry").await;
    let _relay = t.relay("eu-west").await;
    t.mode("slow", json!({"match_size": 2, "max_wait_secs": 1})).await;
    let (a, _) = t.player().await;
    let started = Instant::now();
    let ta = t.queue(&a, json!({"mode": "slow", "region": "eu-west"})).await;
    let (s, got) = t.ticket(&a, &ta["ticket_id"], 10_000).await;
    assert_eq!((s, got["status"].as_str()), (200, Some("expired")), "{got}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1) && waited < Duration::from_secs(4), "expired after {waited:?}");
    let (s, err) = t.call(Method::DELETE, &format!("/api/v1/matchmaking/tickets/{}", ta["ticket_id"].as_str().unwrap()), Some(&a), None).await;
    assert_eq!(s, 409, "{err}");
    t.queue(&a, json!({"mode": "slow", "region": "eu-west"})).await;
}

#[tokio::test]
async fn backfill_fills_a_room_that_lost_players() {
    let t = Setup::new("mm-backfill").await;
    let relay = t.relay("eu-west").await;
    t.mode("duel", json!({"match_size": 2})).await;
    let (a, a_id) = t.player().await;
    let (b, b_id) = t.player().await;
    let (c, c_id) = t.player().await;
    let (d, d_id) = t.player().await;
    let ta = t.queue(&a, json!({"mode": "duel", "region": "eu-west"})).await;
    t.queue(&b, json!({"mode": "duel", "region": "eu-west"})).await;
    let m = t.until_done(&a, &ta["ticket_id"], Duration::from_secs(5)).await["match_found"].clone();
    let tc = t.queue(&c, json!({"mode": "duel", "regions": regions(&[("eu-west", 45)])})).await;
    let req = json!({"game_id": "mm-backfill", "match_id": m["match_id"], "room_id": m["room_id"], "region": "eu-west", "open_seats": 1});

    // Relays only (edge key); a match origin does not know is 404.
    let (s, err) = t.relay_call("/api/v1/matchmaking/backfill", None, req.clone()).await;
    assert_eq!(s, 401, "{err}");
    assert_error_shape(&err);
    let (s, _) = t.relay_call("/api/v1/matchmaking/backfill", Some("wrong-key"), req.clone()).await;
    assert_eq!(s, 401);
    let mut unknown = req.clone();
    unknown["match_id"] = json!(uuid::Uuid::new_v4().to_string());
    let (s, err) = t.relay_call("/api/v1/matchmaking/backfill", Some(&t.relay_key), unknown).await;
    assert_eq!((s, field(&err)), (404, "match_id"), "{err}");
    let mut other_room = req.clone();
    other_room["room_id"] = json!("room-99");
    let (s, err) = t.relay_call("/api/v1/matchmaking/backfill", Some(&t.relay_key), other_room).await;
    assert_eq!(s, 409, "{err}");

    let (s, r) = t.relay_call("/api/v1/matchmaking/backfill", Some(&t.relay_key), req.clone()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!((&r["filled"], &r["open_seats"], &r["room_id"]), (&json!([c_id]), &json!(0), &m["room_id"]));
    let got = t.until_done(&c, &tc["ticket_id"], Duration::from_secs(2)).await;
    let f = &got["match_found"];
    assert_eq!((&f["match_id"], &f["room_id"], &f["region"], &f["relay_url"]), (&m["match_id"], &m["room_id"], &m["region"], &m["relay_url"]));
    assert_eq!(f["players"], json!([a_id, b_id, c_id]));
    assert_eq!(f["max_rtt_ms"], 45);
    let claims = t.verify_room_ticket(f["room_ticket"].as_str().unwrap()).await;
    assert_eq!((&claims["sub"], &claims["room"], &claims["match"]), (&json!(c_id), &m["room_id"], &m["match_id"]));

    // Seats opened with nobody queued are filled by the matcher as players arrive.
    let (s, r) = t.relay_call("/api/v1/matchmaking/backfill", Some(&t.relay_key), req).await;
    assert_eq!((s, &r["filled"], &r["open_seats"]), (200, &json!([]), &json!(1)));
    let td = t.queue(&d, json!({"mode": "duel", "region": "eu-west"})).await;
    let got = t.until_done(&d, &td["ticket_id"], Duration::from_secs(5)).await;
    assert_eq!(got["match_found"]["room_id"], m["room_id"]);
    assert_eq!(got["match_found"]["players"], json!([a_id, b_id, c_id, d_id]));
    assert_eq!(relay.opened().len(), 1, "backfill opens no new room");
}

#[tokio::test]
async fn server_keys_queue_players_of_their_game() {
    let t = Setup::new("mm-server").await;
    let _relay = t.relay("eu-west").await;
    t.mode("duel", json!({"match_size": 2})).await;
    let other = t.origin.game("mm-server-other").await;
    let key = t.server_key(&t.game).await;
    let other_key = t.server_key(&other).await;
    let (a, a_id) = t.player().await;
    let (b, b_id) = t.player().await;
    let (c, _) = t.player().await;
    let dev_id = t.game.developer.user_id().unwrap();

    let (s, err) = t.call(Method::POST, "/api/v1/matchmaking/tickets", Some(&key), Some(json!({"mode": "duel", "region": "eu-west"}))).await;
    assert_eq!((s, field(&err)), (400, "user_id"), "a server key names the player");
    let (s, err) = t
        .call(Method::POST, "/api/v1/matchmaking/tickets", Some(&key), Some(json!({"mode": "duel", "region": "eu-west", "user_id": "not-a-user"})))
        .await;
    assert_eq!((s, field(&err)), (400, "user_id"));
    // Another game's key sees other modes: this one does not exist there.
    let (s, err) = t
        .call(Method::POST, "/api/v1/matchmaking/tickets", Some(&other_key), Some(json!({"mode": "duel", "region": "eu-west", "user_id": a_id})))
        .await;
    assert_eq!((s, field(&err)), (400, "mode"));

    // A's ticket, with a party of one (any existing account: the server vouches for it).
    let (s, ta) = t
        .call(
            Method::POST,
            "/api/v1/matchmaking/tickets",
            Some(&key),
            Some(json!({"mode": "duel", "region": "eu-west", "user_id": a_id, "party": [dev_id]})),
        )
        .await;
    assert_eq!(s, 201, "{ta}");
    let got = t.until_done(&key, &ta["ticket_id"], Duration::from_secs(5)).await;
    let f = &got["match_found"];
    assert_eq!(f["players"], json!([a_id, dev_id]));
    assert_eq!(t.verify_room_ticket(f["room_ticket"].as_str().unwrap()).await["sub"], a_id.as_str(), "the owner's by default");
    let (s, as_dev) =
        t.call(Method::GET, &format!("/api/v1/matchmaking/tickets/{}?user_id={dev_id}", ta["ticket_id"].as_str().unwrap()), Some(&key), None).await;
    assert_eq!(s, 200);
    assert_eq!(t.verify_room_ticket(as_dev["match_found"]["room_ticket"].as_str().unwrap()).await["sub"], dev_id.as_str());
    let (s, err) =
        t.call(Method::GET, &format!("/api/v1/matchmaking/tickets/{}?user_id={b_id}", ta["ticket_id"].as_str().unwrap()), Some(&key), None).await;
    assert_eq!((s, field(&err)), (400, "user_id"));
    // The player reads their own ticket; other players and other games' keys do not.
    let (s, mine) = t.ticket(&a, &ta["ticket_id"], 0).await;
    assert_eq!((s, &mine["match_found"]["room_ticket"]), (200, &f["room_ticket"]));
    let (s, _) = t.ticket(&b, &ta["ticket_id"], 0).await;
    assert_eq!(s, 404);
    let (s, _) = t.ticket(&other_key, &ta["ticket_id"], 0).await;
    assert_eq!(s, 404);
    let (s, _) = t.ticket(&c, &ta["ticket_id"], 0).await;
    assert_eq!(s, 404);

    // The server may cancel its players' tickets; a second ticket for B while one is active: 409.
    let (s, tb) = t
        .call(
            Method::POST,
            "/api/v1/matchmaking/tickets",
            Some(&key),
            Some(json!({"mode": "duel", "region": "eu-west", "user_id": b_id, "skill": 5})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, err) = t.call(Method::POST, "/api/v1/matchmaking/tickets", Some(&b), Some(json!({"mode": "duel", "region": "eu-west"}))).await;
    assert_eq!((s, &err["error"]["data"]["ticket_id"]), (409, &tb["ticket_id"]));
    let (s, cancelled) =
        t.call(Method::DELETE, &format!("/api/v1/matchmaking/tickets/{}", tb["ticket_id"].as_str().unwrap()), Some(&key), None).await;
    assert_eq!((s, cancelled["status"].as_str()), (200, Some("cancelled")));
}

#[tokio::test]
async fn matchmaking_over_json_rpc() {
    let t = Setup::new("mm-rpc").await;
    let _relay = t.relay("eu-west").await;
    t.mode("duel", json!({"match_size": 2})).await;
    let a = t.game.player().await;
    let b = t.game.player().await;
    let ta: Value = a.rpc("matchmaking.join_queue", json!({"mode": "duel", "regions": [{"region": "eu-west", "rtt_ms": 12}]})).await.unwrap();
    assert_eq!(ta["status"], "queued");
    let err = a.rpc::<Value>("matchmaking.join_queue", json!({"mode": "duel", "region": "eu-west"})).await.unwrap_err();
    assert_eq!(err.status(), Some(409));
    let err = a.rpc::<Value>("matchmaking.get_ticket", json!({"ticket_id": ta["ticket_id"], "wait_ms": 40_000})).await.unwrap_err();
    assert_eq!(err.api().unwrap().field(), Some("wait_ms"));
    let err = b.rpc::<Value>("matchmaking.cancel", json!({"ticket_id": ta["ticket_id"]})).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    let tb: Value = b.rpc("matchmaking.join_queue", json!({"mode": "duel", "region": "eu-west"})).await.unwrap();
    let got: Value = a.rpc("matchmaking.get_ticket", json!({"ticket_id": ta["ticket_id"], "wait_ms": 10_000})).await.unwrap();
    assert_eq!(got["status"], "matched", "{got}");
    assert_eq!(got["match_found"]["players"], json!([a.user_id().unwrap(), b.user_id().unwrap()]));
    let c = t.game.player().await;
    let tc: Value = c.rpc("matchmaking.join_queue", json!({"mode": "duel", "region": "eu-west"})).await.unwrap();
    let cancelled: Value = c.rpc("matchmaking.cancel", json!({"ticket_id": tc["ticket_id"]})).await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let got: Value = b.rpc("matchmaking.get_ticket", json!({"ticket_id": tb["ticket_id"]})).await.unwrap();
    assert_eq!(got["status"], "matched");
}

/// Issue 12, hole 4: a player could name any players of the game as party members without
/// their consent; they were then refused their own tickets (409) and could not find or
/// cancel the one holding them. A player's party ticket now waits (`pending`) until each
/// member accepts it with their own token; it holds nobody but its owner until then; each
/// member sees it in their list and may decline it.
#[tokio::test]
async fn a_party_needs_its_members_consent_and_they_can_always_leave() {
    let t = Setup::new("mm-consent").await;
    let _relay = t.relay("eu-west").await;
    t.mode("duo", json!({"match_size": 2})).await;
    t.mode("trio", json!({"match_size": 3})).await;
    let eu = regions(&[("eu-west", 30)]);
    let (griefer, griefer_id) = t.player().await;
    let (victim, victim_id) = t.player().await;
    let (friend, friend_id) = t.player().await;

    // The griefer names the victim in a party: the ticket waits for the victim.
    let (s, grief) = t
        .call(
            Method::POST,
            "/api/v1/matchmaking/tickets",
            Some(&griefer),
            Some(json!({"mode": "trio", "regions": eu, "party": [victim_id, friend_id]})),
        )
        .await;
    assert_eq!((s, grief["status"].as_str()), (201, Some("pending")), "{grief}");
    assert_eq!(grief["waiting_for"], json!([victim_id, friend_id]));
    // The victim is not held: they queue on their own at once.
    let own = t.queue(&victim, json!({"mode": "duo", "regions": eu})).await;
    // They see the invitation (and their own ticket), and decline it.
    let (s, list) = t.call(Method::GET, "/api/v1/matchmaking/tickets", Some(&victim), None).await;
    assert_eq!(s, 200, "{list}");
    let ids: Vec<&Value> = list["tickets"].as_array().unwrap().iter().map(|t| &t["ticket_id"]).collect();
    assert_eq!(ids, [&own["ticket_id"], &grief["ticket_id"]], "{list}");
    assert_eq!(list["tickets"][1]["owner"], griefer_id.as_str());
    let grief_path = format!("/api/v1/matchmaking/tickets/{}", grief["ticket_id"].as_str().unwrap());
    let (s, declined) = t.call(Method::DELETE, &grief_path, Some(&victim), None).await;
    assert_eq!((s, declined["status"].as_str()), (200, Some("cancelled")), "{declined}");
    // The cancelled ticket held nobody else: the friend queues too, and the two match.
    let theirs = t.queue(&friend, json!({"mode": "duo", "regions": eu})).await;
    assert_eq!(t.until_done(&victim, &own["ticket_id"], Duration::from_secs(10)).await["status"], "matched");
    assert_eq!(t.until_done(&friend, &theirs["ticket_id"], Duration::from_secs(10)).await["status"], "matched");

    // A party whose members accept is queued and matched together; a stranger can neither
    // read, accept nor cancel it, and the owner cannot accept for a member.
    let (a, _) = t.player().await;
    let (b, b_id) = t.player().await;
    let (c, c_id) = t.player().await;
    let (stranger, _) = t.player().await;
    let (s, party) =
        t.call(Method::POST, "/api/v1/matchmaking/tickets", Some(&a), Some(json!({"mode": "trio", "regions": eu, "party": [b_id, c_id]}))).await;
    assert_eq!(s, 201, "{party}");
    let id = party["ticket_id"].as_str().unwrap().to_string();
    let accept = format!("/api/v1/matchmaking/tickets/{id}/accept");
    for tok in [&stranger] {
        assert_eq!(t.call(Method::POST, &accept, Some(tok), None).await.0, 404);
        assert_eq!(t.call(Method::DELETE, &format!("/api/v1/matchmaking/tickets/{id}"), Some(tok), None).await.0, 404);
        assert_eq!(t.call(Method::GET, &format!("/api/v1/matchmaking/tickets/{id}"), Some(tok), None).await.0, 404);
    }
    let (s, same) = t.call(Method::POST, &accept, Some(&a), None).await;
    assert_eq!((s, same["status"].as_str()), (200, Some("pending")), "the owner's accept changes nothing: {same}");
    let (s, half) = t.call(Method::POST, &accept, Some(&b), None).await;
    assert_eq!((s, half["status"].as_str(), &half["waiting_for"]), (200, Some("pending"), &json!([c_id])), "{half}");
    // A member who accepted is held by it (one active ticket), and can still leave it.
    let (s, err) = t.call(Method::POST, "/api/v1/matchmaking/tickets", Some(&b), Some(json!({"mode": "duo", "regions": eu}))).await;
    assert_eq!((s, err["error"]["data"]["ticket_id"].as_str()), (409, Some(id.as_str())), "{err}");
    let (s, done) = t.call(Method::POST, &accept, Some(&c), None).await;
    assert_eq!((s, done["status"].as_str()), (200, Some("queued")), "{done}");
    let got = t.until_done(&c, &party["ticket_id"], Duration::from_secs(10)).await;
    assert_eq!(got["status"], "matched", "{got}");
    // Server keys may not accept for players.
    let key = t.server_key(&t.game).await;
    assert_eq!(t.call(Method::POST, &accept, Some(&key), None).await.0, 403);
}
