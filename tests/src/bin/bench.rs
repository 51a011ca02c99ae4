//! `aethex-bench`: measures the origin against baselines taken in the same run, and
//! prints ratios (performance is never asserted in tests; it is measured here).
//!
//! ```sh
//! cargo build --release --bin aethex --bin aethex-bench
//! ~/.cache/aethex-target/release/aethex-bench            # all benchmarks, ~1 minute
//! ~/.cache/aethex-target/release/aethex-bench --secs 10  # longer runs
//! ```
//!
//! 1. device login vs a bare axum hello-world route (another process, same load generator);
//! 2. email login vs the argon2id bound (cores / time of one hash with the server's parameters);
//! 3. 100 KB JSON saves (throughput, p50/p99) vs raw libSQL inserts of the same bytes into
//!    a file with the server's pragmas;
//! 4. zstd ratio of the seed's save example scaled up;
//! 5. the server's resident memory when idle;
//! 6. the native edge: token check + save list from the replica vs hello world, and p99 at
//!    half of its top rate;
//! 7. replication lag (write answered at origin -> edge applied) under 100 writes/s;
//! 8. sizes of the wasm edges.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde_json::{json, Value};

use aethex_tests::Origin;

#[derive(Parser)]
struct Args {
    /// Seconds per measured run.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Concurrent connections for HTTP runs.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Internal: serve the hello-world baseline on this address and print its URL.
    #[arg(long, hide = true)]
    hello: bool,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run only these parts: device, email, saves, compression, edge, lag, wasm (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if args.hello {
        return rt.block_on(hello_server());
    }
    rt.block_on(run(args))
}

/// The baseline server: axum, tokio multi-thread, one route answering a constant.
async fn hello_server() -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/hello",
        axum::routing::post(|| async { axum::Json(json!({"hello": "world"})) }).get(|| async { axum::Json(json!({"hello": "world"})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

struct Load {
    requests: u64,
    errors: u64,
    secs: f64,
    latencies_us: Vec<u64>,
}

impl Load {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i] as f64 / 1000.0
    }
}

/// Runs `concurrency` loops of `make(worker, i)` requests for `secs`, counting 2xx answers.
async fn load<F>(secs: u64, concurrency: usize, make: F) -> Load
where
    F: Fn(usize, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (make, stop, ok, bad, lat) = (make.clone(), stop.clone(), ok.clone(), bad.clone(), lat.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match make(w, i).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                        mine.push(t.elapsed().as_micros() as u64);
                    }
                    Ok(r) => {
                        if bad.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("  first error: HTTP {} {}", r.status(), r.text().await.unwrap_or_default());
                        }
                    }
                    Err(e) => {
                        if bad.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("  first error: {e}");
                        }
                    }
                }
                i += 1;
            }
            lat.lock().unwrap().extend(mine);
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let latencies_us = std::mem::take(&mut *lat.lock().unwrap());
    Load { requests: ok.load(Ordering::Relaxed), errors: bad.load(Ordering::Relaxed), secs, latencies_us }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(1024).build().expect("client")
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn release_bin(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let p = exe.parent().context("exe dir")?.join(name);
    anyhow::ensure!(p.exists(), "{} not found; build it: cargo build --release --bin {name}", p.display());
    Ok(p)
}

/// The seed's save example with the inventory and quest log scaled up to about `target` bytes.
fn seed_save_scaled(target: usize) -> Value {
    let mut v = json!({
        "player": {"name": "Hero", "level": 15, "xp": 4500, "position": {"x": 100.5, "y": 0, "z": 200.3}, "rotation": {"x": 0, "y": 180, "z": 0}},
        "inventory": [],
        "quests": {"completed": [], "active": ["quest_3"], "progress": {"quest_3": 2}},
        "settings": {"volume": 0.8, "difficulty": "hard"}
    });
    let mut i = 0u64;
    while serde_json::to_vec(&v).unwrap().len() < target {
        let item = if i % 2 == 0 {
            json!({"id": format!("sword_legendary_{i}"), "quantity": 1 + i % 3, "durability": 85 - (i % 40) as i64})
        } else {
            json!({"id": format!("potion_health_{i}"), "quantity": 5 + i % 7})
        };
        v["inventory"].as_array_mut().unwrap().push(item);
        v["quests"]["completed"].as_array_mut().unwrap().push(json!(format!("quest_{i}")));
        i += 1;
    }
    v
}

async fn run(args: Args) -> anyhow::Result<()> {
    if std::env::var("AETHEX_BIN").is_err() {
        std::env::set_var("AETHEX_BIN", release_bin("aethex")?);
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut report = serde_json::Map::new();
    report.insert("cores".into(), json!(cores));
    println!("aethex-bench: {cores} cores, {} s per run, {} connections\n", args.secs, args.concurrency);

    let origin = Origin::start(&[
        ("AETHEX_AUTH__RATE_LIMIT_PER_IP_PER_MINUTE", "100000000"),
        ("AETHEX_AUTH__RATE_LIMIT_PER_ACCOUNT_PER_MINUTE", "100000000"),
        ("AETHEX_LOG__LEVEL", "warn"),
    ]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = rss_kib(origin.pid());
    println!("idle RSS after start: {} KiB", idle_rss.map(|v| v.to_string()).unwrap_or("?".into()));
    report.insert("idle_rss_kib_start".into(), json!(idle_rss));
    let game = origin.game("bench-game").await;
    let http = client();
    let wants = |part: &str| args.only.is_empty() || args.only.iter().any(|o| o == part);
    println!("origin pid {}", origin.pid());

    // 1. Device login vs hello world.
    if wants("device") {
        let (mut hello, hello_url) = start_hello()?;
        let h = http.clone();
        let u = format!("{hello_url}/hello");
        let base = load(args.secs, args.concurrency, move |_, _| h.post(&u).json(&json!({"device_id": "x"}))).await;
        let _ = hello.kill();
        println!("hello world (axum baseline):   {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms", base.rps(), base.pct(0.5), base.pct(0.99));

        // A pool of existing guests so each request is a login, not a sign-up.
        let devices: Arc<Vec<String>> = Arc::new((0..512).map(|i| format!("bench-device-{i:08}-xxxxxxxx")).collect());
        for d in devices.iter() {
            game.client().auth().login_device(d).await?;
        }
        let (h, u, ck, dv) = (http.clone(), format!("{}/api/v1/auth/device", origin.url), game.client_key.clone(), devices.clone());
        let dev = load(args.secs, args.concurrency, move |w, i| {
            let d = &dv[(w * 7919 + i as usize) % dv.len()];
            h.post(&u).header("x-aethex-client-key", &ck).json(&json!({"device_id": d}))
        })
        .await;
        let ratio1 = dev.rps() / base.rps();
        println!(
            "device login (existing guest): {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}  = {:.1}% of hello world (goal >= 25%)",
            dev.rps(),
            dev.pct(0.5),
            dev.pct(0.99),
            dev.errors,
            ratio1 * 100.0
        );
        let (h, u, ck) = (http.clone(), format!("{}/api/v1/auth/device", origin.url), game.client_key.clone());
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let signup = load(args.secs, args.concurrency, move |w, i| {
            h.post(&u).header("x-aethex-client-key", &ck).json(&json!({"device_id": format!("new-{run_id}-{w}-{i}")}))
        })
        .await;
        println!(
            "device sign-up (new guest):    {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  = {:.1}% of hello world",
            signup.rps(),
            signup.pct(0.5),
            signup.pct(0.99),
            signup.rps() / base.rps() * 100.0
        );
        report.insert(
        "device_login".into(),
        json!({"hello_rps": base.rps(), "device_login_rps": dev.rps(), "ratio": ratio1, "p99_ms": dev.pct(0.99), "signup_rps": signup.rps(), "errors": dev.errors}),
    );
    }

    // 2. Email login vs the argon2id bound.
    if wants("email") {
        let params = argon2::Params::new(19 * 1024, 2, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = [0u8; 32];
        argon.hash_password_into(b"warm-up", b"saltsaltsaltsalt", &mut out).map_err(|e| anyhow::anyhow!("{e}"))?;
        let n = 20;
        let t = Instant::now();
        for i in 0..n {
            argon.hash_password_into(format!("password-{i}").as_bytes(), b"saltsaltsaltsalt", &mut out).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let one_hash = t.elapsed().as_secs_f64() / n as f64;
        let bound = cores as f64 / one_hash;
        let mut users = Vec::new();
        for i in 0..64 {
            let email = format!("bench-{i}-{}@example.com", uuid::Uuid::new_v4().simple());
            game.client().auth().register(&email, "bench-password-1", &format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..12])).await?;
            users.push(email);
        }
        let users = Arc::new(users);
        let (h, u, ck, us) = (http.clone(), format!("{}/api/v1/auth/login", origin.url), game.client_key.clone(), users.clone());
        let conc = (cores * 4).max(8);
        let login = load(args.secs.max(5), conc, move |w, i| {
            h.post(&u)
                .header("x-aethex-client-key", &ck)
                .json(&json!({"email": us[(w + i as usize * conc) % us.len()], "password": "bench-password-1"}))
        })
        .await;
        let ratio2 = login.rps() / bound;
        println!("\nargon2id one hash (m=19 MiB, t=2, p=1): {:.1} ms -> bound {cores} cores / hash = {:.1} logins/s", one_hash * 1000.0, bound);
        println!(
            "email login:                   {:>9.1} req/s  p50 {:.1} ms  p99 {:.1} ms  errors {}  = {:.1}% of the argon2id bound (goal >= 90%)",
            login.rps(),
            login.pct(0.5),
            login.pct(0.99),
            login.errors,
            ratio2 * 100.0
        );
        report.insert(
            "email_login".into(),
            json!({"hash_ms": one_hash * 1000.0, "bound_rps": bound, "login_rps": login.rps(), "ratio": ratio2, "p99_ms": login.pct(0.99)}),
        );
    }

    // 3. 100 KB JSON saves vs raw libSQL inserts of the same bytes.
    if wants("saves") {
        let doc = seed_save_scaled(100 * 1024);
        let bytes = serde_json::to_vec(&doc)?;
        let raw = raw_libsql_inserts(&bytes, args.secs).await?;
        println!(
            "\nraw libSQL insert of {} bytes (WAL, synchronous=FULL, one transaction each): {:.0} rows/s  p50 {:.2} ms  p99 {:.2} ms",
            bytes.len(),
            raw.rps(),
            raw.pct(0.5),
            raw.pct(0.99)
        );
        let mut players = Vec::new();
        for _ in 0..args.concurrency {
            players.push(game.player().await.token().context("token")?);
        }
        let players = Arc::new(players);
        let body = Arc::new(serde_json::to_vec(&json!({"slot_name": "slot1", "data": doc}))?);
        let (h, u, ps, b) = (http.clone(), format!("{}/api/v1/saves/me", origin.url), players.clone(), body.clone());
        let saves = load(args.secs, args.concurrency, move |w, _| {
            h.post(&u).bearer_auth(&ps[w % ps.len()]).header("content-type", "application/json").body((*b).clone())
        })
        .await;
        let ratio3 = saves.rps() / raw.rps();
        println!(
            "100 KB JSON save over HTTP:    {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}  = {:.1}% of raw inserts (goal >= 50%)",
            saves.rps(),
            saves.pct(0.5),
            saves.pct(0.99),
            saves.errors,
            ratio3 * 100.0
        );
        report.insert("save_100kb".into(), json!({"raw_rps": raw.rps(), "raw_p99_ms": raw.pct(0.99), "save_rps": saves.rps(), "save_p50_ms": saves.pct(0.5), "save_p99_ms": saves.pct(0.99), "ratio": ratio3}));
    }

    // 5. The native edge: auth check + save metadata read from the replica, vs hello world.
    if wants("edge") {
        let key = origin.edge_key();
        let edge = aethex_tests::edges::NativeEdge::start(&origin.url, &key, &[("AETHEX_LOG__LEVEL", "warn")]);
        let p = game.player().await;
        for i in 0..5 {
            p.saves().save(&format!("slot{i}"), json!({"level": i, "inventory": ["sword", "shield"]})).await?;
        }
        aethex_tests::edges::wait_for_position(&edge.url, p.position(), Duration::from_secs(30)).await;
        let token = p.token().context("token")?;
        let (mut hello, hello_url) = start_hello()?;
        let (h, u) = (http.clone(), format!("{hello_url}/hello"));
        let base = load(args.secs, args.concurrency, move |_, _| h.get(&u)).await;
        let (h, u, t) = (http.clone(), format!("{}/api/v1/saves/me", edge.url), token.clone());
        let full = load(args.secs, args.concurrency, move |_, _| h.get(&u).bearer_auth(&t)).await;
        // Confirm the answers came from the replica, not origin.
        let probe = http.get(format!("{}/api/v1/saves/me", edge.url)).bearer_auth(&token).send().await?;
        let served_by = probe.headers().get("x-aethex-served-by").and_then(|v| v.to_str().ok()).unwrap_or("?").to_string();
        let ratio = full.rps() / base.rps();
        println!("\nhello world GET (axum baseline): {:>7.0} req/s  p50 {:.2} ms  p99 {:.2} ms", base.rps(), base.pct(0.5), base.pct(0.99));
        println!(
            "edge: token check + save list:  {:>7.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}  served by {served_by}  = {:.1}% of hello world (goal >= 50%)",
            full.rps(),
            full.pct(0.5),
            full.pct(0.99),
            full.errors,
            ratio * 100.0
        );
        let half_rate = full.rps() / 2.0;
        let (h, u, t) = (http.clone(), format!("{}/api/v1/saves/me", edge.url), token.clone());
        let half = paced(half_rate, args.secs, args.concurrency, move |_, _| h.get(&u).bearer_auth(&t)).await;
        println!(
            "edge at half load ({:.0} req/s paced): p50 {:.2} ms  p99 {:.2} ms  errors {} (goal p99 <= 2 ms)",
            half_rate,
            half.pct(0.5),
            half.pct(0.99),
            half.errors
        );
        let (h, u) = (http.clone(), format!("{hello_url}/hello"));
        let hello_half = paced(half_rate, args.secs, args.concurrency, move |_, _| h.get(&u)).await;
        println!("hello world at the same rate:      p50 {:.2} ms  p99 {:.2} ms", hello_half.pct(0.5), hello_half.pct(0.99));
        let _ = hello.kill();
        report.insert(
            "edge_read".into(),
            json!({"hello_rps": base.rps(), "edge_rps": full.rps(), "ratio": ratio, "p99_ms_full": full.pct(0.99), "served_by": served_by,
                   "half_rate": half_rate, "half_p50_ms": half.pct(0.5), "half_p99_ms": half.pct(0.99), "hello_half_p99_ms": hello_half.pct(0.99)}),
        );
    }

    // 6. Replication lag under a steady write load: time from a write's answer (with its
    // position) until the edge reports that position applied.
    if wants("lag") {
        let key = origin.edge_key();
        let edge = aethex_tests::edges::NativeEdge::start(&origin.url, &key, &[("AETHEX_LOG__LEVEL", "warn")]);
        let mut players = Vec::new();
        for _ in 0..8 {
            players.push(game.player().await);
        }
        aethex_tests::edges::wait_for_position(&edge.url, players.iter().map(|p| p.position()).max().unwrap_or(0), Duration::from_secs(30)).await;
        let rate = 100.0;
        // Observer: polls the edge's applied position and notes when each value appeared.
        let seen: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let observer = {
            let (seen, stop, url) = (seen.clone(), stop.clone(), edge.url.clone());
            tokio::spawn(async move {
                let mut last = -1;
                while !stop.load(Ordering::Relaxed) {
                    if let Some(p) = aethex_tests::edges::edge_position(&url).await {
                        if p > last {
                            seen.lock().unwrap().push((p, Instant::now()));
                            last = p;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        let writes: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
        let interval = Duration::from_secs_f64(players.len() as f64 / rate);
        let mut tasks = Vec::new();
        let end = Instant::now() + Duration::from_secs(args.secs.max(5));
        for (w, p) in players.into_iter().enumerate() {
            let writes = writes.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(interval.mul_f64(w as f64 / 8.0)).await;
                let mut i = 0;
                while Instant::now() < end {
                    let t = Instant::now();
                    if p.saves().overwrite("lag", json!({"i": i})).await.is_ok() {
                        writes.lock().unwrap().push((p.position(), Instant::now()));
                    }
                    i += 1;
                    tokio::time::sleep(interval.saturating_sub(t.elapsed())).await;
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        let _ = observer.await;
        let seen = seen.lock().unwrap().clone();
        let mut lags: Vec<u64> = writes
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(pos, at)| seen.iter().find(|(p, _)| p >= pos).map(|(_, t)| t.saturating_duration_since(*at).as_micros() as u64))
            .collect();
        lags.sort_unstable();
        let l = Load { requests: lags.len() as u64, errors: 0, secs: 1.0, latencies_us: lags };
        println!(
            "\nreplication lag at {rate:.0} writes/s ({} writes): p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms (write answered -> edge applied; 1 ms polling)",
            l.requests,
            l.pct(0.5),
            l.pct(0.99),
            l.pct(1.0)
        );
        report.insert(
            "replication_lag".into(),
            json!({"writes_per_sec": rate, "samples": l.requests, "p50_ms": l.pct(0.5), "p99_ms": l.pct(0.99), "max_ms": l.pct(1.0)}),
        );
    }

    // 7. Sizes of the wasm edges as built by scripts/build-edge-*.sh.
    if wants("wasm") {
        let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| {
            std::env::current_exe().ok().and_then(|e| e.parent().and_then(|p| p.parent()).map(|p| p.to_path_buf())).unwrap_or_default()
        });
        println!();
        let mut sizes_report = serde_json::Map::new();
        for (name, rel) in [
            ("cloudflare", "edge-cloudflare/index_bg.wasm"),
            ("fastly", "wasm32-wasip1/release/aethex-edge-fastly.wasm"),
            ("spin", "wasm32-wasip2/release/aethex_edge_spin.wasm"),
        ] {
            match sizes(&target.join(rel)) {
                Some((raw, gz)) => {
                    println!("wasm {name:<10} {:>9} bytes, {:>8} gzipped ({:.2} MiB; goal <= 1 MiB gzipped)", raw, gz, gz as f64 / 1048576.0);
                    sizes_report.insert(name.into(), json!({"bytes": raw, "gzip_bytes": gz}));
                }
                None => println!("wasm {name:<10} not built ({})", target.join(rel).display()),
            }
        }
        report.insert("wasm_sizes".into(), Value::Object(sizes_report));
    }

    // 4. Compression of the seed's example, scaled.
    if wants("compression") {
        println!();
        let c = game.player().await;
        let mut ratios = Vec::new();
        for size in [1024usize, 10 * 1024, 100 * 1024, 1024 * 1024] {
            let v = if size == 1024 { seed_save_scaled(0) } else { seed_save_scaled(size) };
            let r = c.saves().overwrite("ratio", v).await?;
            let ratio = r.metadata.size_bytes as f64 / r.metadata.stored_bytes as f64;
            println!(
                "seed save scaled to {:>8} bytes: stored {:>7} bytes, compressed={}, ratio {:.2}x",
                r.metadata.size_bytes, r.metadata.stored_bytes, r.metadata.compressed, ratio
            );
            ratios.push(json!({"size": r.metadata.size_bytes, "stored": r.metadata.stored_bytes, "ratio": ratio}));
        }
        report.insert("compression".into(), json!(ratios));
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(origin.pid());
    println!("\nRSS after the runs, idle: {} KiB", after.map(|v| v.to_string()).unwrap_or("?".into()));
    report.insert("idle_rss_kib_after".into(), json!(after));
    if let Some(p) = args.json {
        std::fs::write(&p, serde_json::to_vec_pretty(&Value::Object(report))?)?;
        println!("results written to {}", p.display());
    }
    Ok(())
}

/// Starts the hello-world baseline in another process; returns it and its URL.
fn start_hello() -> anyhow::Result<(std::process::Child, String)> {
    use std::io::BufRead;
    let mut hello = std::process::Command::new(std::env::current_exe()?).arg("--hello").stdout(std::process::Stdio::piped()).spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(hello.stdout.take().context("stdout")?).read_line(&mut line)?;
    Ok((hello, line.trim().trim_start_matches("listening on ").to_string()))
}

/// Sends requests at a fixed total `rate` for `secs` from `concurrency` paced workers.
/// Latency counts from each request's scheduled start, so a slow answer that delays the
/// next request is charged to it (no coordinated omission).
async fn paced<F>(rate: f64, secs: u64, concurrency: usize, make: F) -> Load
where
    F: Fn(usize, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let interval = Duration::from_secs_f64(concurrency as f64 / rate);
    let started = tokio::time::Instant::now();
    let end = started + Duration::from_secs(secs);
    let (ok, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (make, ok, bad, lat) = (make.clone(), ok.clone(), bad.clone(), lat.clone());
        let first = started + interval.mul_f64(w as f64 / concurrency as f64);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut i = 0u64;
            let mut at = first;
            while at < end {
                tokio::time::sleep_until(at).await;
                match make(w, i).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                        mine.push(at.elapsed().as_micros() as u64);
                    }
                    _ => {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
                at += interval;
            }
            lat.lock().unwrap().extend(mine);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let latencies_us = std::mem::take(&mut *lat.lock().unwrap());
    Load { requests: ok.load(Ordering::Relaxed), errors: bad.load(Ordering::Relaxed), secs: started.elapsed().as_secs_f64(), latencies_us }
}

/// Raw and gzip -9 sizes of a file.
fn sizes(path: &std::path::Path) -> Option<(u64, u64)> {
    let raw = std::fs::metadata(path).ok()?.len();
    let out = std::process::Command::new("sh").arg("-c").arg(format!("gzip -9 -c '{}' | wc -c", path.display())).output().ok()?;
    Some((raw, String::from_utf8_lossy(&out.stdout).trim().parse().ok()?))
}

/// The baseline for saves: the same bytes inserted into a libSQL file with the server's
/// pragmas, one row per transaction, from one connection (SQLite has one writer).
async fn raw_libsql_inserts(bytes: &[u8], secs: u64) -> anyhow::Result<Load> {
    let dir = tempfile::tempdir()?;
    let db = libsql::Builder::new_local(dir.path().join("raw.db")).build().await?;
    let conn = db.connect()?;
    conn.query("PRAGMA journal_mode=WAL", ()).await?;
    conn.execute_batch("PRAGMA synchronous=FULL; CREATE TABLE t (id TEXT PRIMARY KEY, data BLOB NOT NULL);").await?;
    let started = Instant::now();
    let mut lat = Vec::new();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        let t = Instant::now();
        conn.execute("INSERT INTO t (id, data) VALUES (?1, ?2)", libsql::params![uuid::Uuid::new_v4().to_string(), bytes.to_vec()]).await?;
        lat.push(t.elapsed().as_micros() as u64);
        n += 1;
    }
    let _ = SocketAddr::from(([127, 0, 0, 1], 0));
    Ok(Load { requests: n, errors: 0, secs: started.elapsed().as_secs_f64(), latencies_us: lat })
}
