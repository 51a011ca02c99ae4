//! `edge-core-bench`: mean per-request cost of [`aethex_edge::Edge::handle`] with an
//! in-memory platform and replica, so only the core's own work is timed (token check,
//! routing, read-model decoding, JSON encoding). Builds natively and for
//! `wasm32-wasip1`; run the wasm build under wasmtime to compare the two:
//!
//! ```text
//! cargo build -p aethex-bench --release --bin edge-core-bench
//! cargo build -p aethex-bench --release --bin edge-core-bench --no-default-features --target wasm32-wasip1
//! $CARGO_TARGET_DIR/release/edge-core-bench [N]
//! wasmtime run $CARGO_TARGET_DIR/wasm32-wasip1/release/edge-core-bench.wasm [N]
//! ```
//!
//! Prints one JSON line with the mean nanoseconds per request of four scenarios:
//! `saves_list_ns` (valid token, `GET /api/v1/saves/me`, 200: the token was seen before, so
//! its signature is not checked again), `saves_list_new_token_ns` (the same with a token
//! never seen before: the Ed25519 check runs), `forged_ns` (signature flipped, 401: always
//! checked) and `regions_ns` (`GET /api/v1/regions`, no token, 200).
//! Exits non-zero if any answer has an unexpected status or the platform is asked to
//! fetch anything.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aethex_edge::sql::{Replica, ReplicaError, Rows, Stmt, Value};
use aethex_edge::{Edge, EdgeConfig, FetchError, MemoryCache, Outbound, Platform, Request, Response};
use aethex_protocol::auth::AccessClaims;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};

const DEFAULT_N: u64 = 20_000;
const KID: &str = "bench-1";
const SEED: [u8; 32] = *b"aethex-edge-bench-fixed-seed-32b";
const USER: &str = "0b7e4c1a-3f52-4d8e-9a61-2c5d7f0e9b13";
const GAME: &str = "bench-game";

/// Drives a future that never waits (every platform and replica call here completes at
/// once). A `Pending` would mean something real is awaited, which this bench must not do.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        // Not reached with the in-memory platform; spin rather than hang silently.
        std::hint::spin_loop();
    }
}

/// In-memory platform: a memory cache, a clock fixed at start, and no network.
struct BenchPlatform {
    cache: MemoryCache,
    now_ms: u64,
    fetches: AtomicU64,
}

impl Platform for BenchPlatform {
    async fn fetch(&self, req: Outbound) -> Result<Response, FetchError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        Err(FetchError(format!("bench platform has no network ({} {})", req.method, req.url)))
    }

    fn now_ms(&self) -> u64 {
        self.now_ms
    }

    async fn cache_get(&self, key: &str) -> Option<Response> {
        self.cache.get(key, self.now_ms)
    }

    async fn cache_put(&self, key: &str, resp: &Response, ttl_secs: u64) {
        self.cache.put(key, resp, ttl_secs, self.now_ms)
    }
}

/// In-memory replica answering the read model's statements by their SQL text.
struct BenchReplica {
    now_ms: i64,
    unknown: AtomicU64,
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn rows(columns: &[&str], rows: Vec<Vec<Value>>) -> Rows {
    Rows { columns: columns.iter().map(|c| c.to_string()).collect(), rows }
}

impl BenchReplica {
    fn answer(&self, stmt: &Stmt) -> Rows {
        let sql = stmt.sql.as_str();
        if sql.contains("replica_state") {
            rows(&["position"], vec![vec![Value::Integer(100)]])
        } else if sql.contains("quota_bytes FROM games") {
            rows(&["quota_bytes"], vec![vec![Value::Integer(1 << 30)]])
        } else if sql.contains("SUM(stored_bytes)") {
            rows(&["total"], vec![vec![Value::Integer(12345)]])
        } else if sql.contains("FROM saves s") {
            // The edge selects the replicated table's columns, in its order.
            let cols = aethex_protocol::replica::table("saves").expect("saves is replicated").columns;
            let list = (1..=3)
                .map(|i: i64| {
                    vec![
                        text(&format!("5a1e0000-0000-4000-8000-00000000000{i}")),
                        text(USER),
                        text(GAME),
                        text(&format!("slot{i}")),
                        Value::Integer(i),
                        text(&format!("2026-01-0{i}T12:00:00.000Z")),
                        Value::Integer(4096 * i),
                        Value::Integer(1024 * i),
                        text(&format!("blake3:{}", format!("{i:x}").repeat(64))),
                        Value::Integer(i % 2),
                        text("application/json"),
                        text(&format!(r#"{{"engine_version":"5.4","game_version":"1.0.{i}","level":{i},"playtime_secs":3600}}"#)),
                    ]
                })
                .collect();
            rows(cols, list)
        } else if sql.contains("FROM regions") {
            let cols = ["name", "url", "ping_url", "capacity", "load", "last_seen_ms"];
            let list = [("eu-west", 120), ("us-east", 40)]
                .into_iter()
                .map(|(name, load)| {
                    vec![
                        text(name),
                        text(&format!("wss://{name}.relay.example")),
                        text(&format!("https://{name}.relay.example/ping")),
                        Value::Integer(1000),
                        Value::Integer(load),
                        Value::Integer(self.now_ms),
                    ]
                })
                .collect();
            rows(&cols, list)
        } else {
            self.unknown.fetch_add(1, Ordering::Relaxed);
            Rows::default()
        }
    }
}

impl Replica for BenchReplica {
    async fn batch(&self, stmts: Vec<Stmt>) -> Result<Vec<Rows>, ReplicaError> {
        Ok(stmts.iter().map(|s| self.answer(s)).collect())
    }
}

/// The bench's signing key, its JWKS document, a valid token and a forged one.
struct Keys {
    jwks: String,
    token: String,
    forged: String,
}

fn keys(now_secs: u64) -> Keys {
    let (jwks, token, forged) = signed(now_secs, "s1");
    Keys { jwks, token, forged }
}

/// The JWKS, a token of session `sid` and its forgery.
fn signed(now_secs: u64, sid: &str) -> (String, String, String) {
    let key = SigningKey::from_bytes(&SEED);
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": KID, "alg": "EdDSA", "use": "sig"}]}).to_string();
    let header = URL_SAFE_NO_PAD.encode(serde_json::json!({"typ": "JWT", "alg": "EdDSA", "kid": KID}).to_string());
    let claims = AccessClaims {
        iss: "aethex".into(),
        aud: "aethex".into(),
        sub: USER.into(),
        game: Some(GAME.into()),
        roles: vec!["player".into()],
        sid: sid.into(),
        iat: now_secs,
        exp: 4_102_444_800,
    };
    let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialise"));
    let signing_input = format!("{header}.{claims}");
    let mut sig = key.sign(signing_input.as_bytes()).to_bytes();
    let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig));
    // Flip one bit of R: same shape and length, wrong signature.
    sig[0] ^= 0x01;
    let forged = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig));
    (jwks, token, forged)
}

fn request(path: &str, bearer: Option<&str>) -> Request {
    let mut req = Request::new("GET", path);
    if let Some(t) = bearer {
        req.headers.set("authorization", format!("Bearer {t}"));
    }
    req
}

/// Runs `n` requests built by `make`, returning mean ns per request and how many did not
/// answer `want`.
fn time<P: Platform, R: Replica>(edge: &Edge<P>, replica: &R, n: u64, want: u16, make: impl Fn() -> Request) -> (f64, u64) {
    let mut failures = 0;
    let start = Instant::now();
    for _ in 0..n {
        let resp = block_on(edge.handle(replica, black_box(make())));
        if black_box(resp).status != want {
            failures += 1;
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    (ns, failures)
}

fn fail(msg: String) -> ! {
    eprintln!("edge-core-bench: {msg}");
    std::process::exit(1);
}

fn main() {
    let n: u64 = match std::env::args().nth(1).or_else(|| std::env::var("N").ok()) {
        Some(v) => v.trim().parse().ok().filter(|n| *n > 0).unwrap_or_else(|| fail(format!("N must be a positive whole number, not {v:?}"))),
        None => DEFAULT_N,
    };
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as u64;
    let keys = keys(now_ms / 1000);
    let platform = BenchPlatform { cache: MemoryCache::new(1024, 1 << 20), now_ms, fetches: AtomicU64::new(0) };
    let config =
        EdgeConfig { origin_url: "http://origin.invalid".into(), name: "bench".into(), jwks_json: keys.jwks.clone(), ..EdgeConfig::default() };
    let edge = Edge::new(platform, config);
    let replica = BenchReplica { now_ms: now_ms as i64, unknown: AtomicU64::new(0) };

    let saves = || request("/api/v1/saves/me", Some(&keys.token));
    let forged = || request("/api/v1/saves/me", Some(&keys.forged));
    let regions = || request("/api/v1/regions", None);

    // Untimed checks: the scenarios answer what they should, with the expected bodies.
    let check = |name: &str, req: Request, want: u16| -> Response {
        let resp = block_on(edge.handle(&replica, req));
        if resp.status != want {
            fail(format!("{name}: expected {want}, got {} {}", resp.status, String::from_utf8_lossy(&resp.body)));
        }
        resp
    };
    let list = check("saves list", saves(), 200);
    let body: serde_json::Value = serde_json::from_slice(&list.body).unwrap_or_else(|e| fail(format!("saves list body: {e}")));
    if body["saves"].as_array().map(Vec::len) != Some(3) || body["quota_bytes"] != 1 << 30 || body["used_bytes"] != 12345 {
        fail(format!("saves list body not as the replica answered: {body}"));
    }
    if list.header("x-aethex-served-by") != Some("edge") {
        fail("saves list was not answered by the edge".into());
    }
    check("forged token", forged(), 401);
    let regs = check("regions", regions(), 200);
    let body: serde_json::Value = serde_json::from_slice(&regs.body).unwrap_or_else(|e| fail(format!("regions body: {e}")));
    if body["regions"].as_array().map(Vec::len) != Some(2) {
        fail(format!("regions body not as the replica answered: {body}"));
    }

    let (saves_ns, f1) = time(&edge, &replica, n, 200, saves);
    // The same request with a token the edge has not seen before: its signature is checked.
    let n_cold = (n / 4).max(1);
    let fresh: Vec<String> = (0..n_cold).map(|i| signed(now_ms / 1000, &format!("cold-{i}")).1).collect();
    let next = std::cell::Cell::new(0usize);
    let (cold_ns, f0) = time(&edge, &replica, n_cold, 200, || {
        let i = next.get();
        next.set(i + 1);
        request("/api/v1/saves/me", Some(&fresh[i % fresh.len()]))
    });
    let (forged_ns, f2) = time(&edge, &replica, n, 401, forged);
    let (regions_ns, f3) = time(&edge, &replica, n, 200, regions);

    let fetches = edge.platform.fetches.load(Ordering::Relaxed);
    let unknown = replica.unknown.load(Ordering::Relaxed);
    if f0 + f1 + f2 + f3 > 0 || fetches > 0 || unknown > 0 {
        fail(format!("failures: cold {f0}, saves {f1}, forged {f2}, regions {f3}; platform fetches {fetches}; unknown statements {unknown}"));
    }
    let target = if cfg!(target_arch = "wasm32") { "wasm32-wasip1" } else { "native" };
    println!(
        "{}",
        serde_json::json!({
            "target": target,
            "n": n,
            "saves_list_ns": saves_ns.round() as u64,
            "saves_list_new_token_ns": cold_ns.round() as u64,
            "forged_ns": forged_ns.round() as u64,
            "regions_ns": regions_ns.round() as u64,
        })
    );
}
