//! `aethex-bench`: measures the origin against baselines taken in the same run, and
//! prints ratios (performance is never asserted in tests; it is measured here).
//!
//! ```sh
//! cargo build --release --bin aethex --bin aethex-edge --bin aethex-bench
//! ~/.cache/aethex-target/release/aethex-bench            # all benchmarks, ~3 minutes
//! ~/.cache/aethex-target/release/aethex-bench --secs 10  # longer runs
//! ~/.cache/aethex-target/release/aethex-bench --only patch,serve,pipeline   # DLC only
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
//! 8. sizes of the wasm edges;
//! 9. `rank`, `board`, `ingest` (issue 6): a player's rank on a one-million-entry replica
//!    from the rank index vs counting the board; one-million-entry board reads through a
//!    native edge (top 10, around-me) vs a bare axum route and vs Redis (Debian's
//!    redis-server, installed like nginx below) on a sorted set of the same scores; and
//!    analytics events/s in batches of 100 vs raw batched libSQL inserts.
//! 10. DLC (`patch`, `serve`, `pipeline`):
//!    - `patch`: a generated ~1 GiB game build (seeded: incompressible assets, JSON tables,
//!      level records, small scripts, 3 large packs) and the same build after scattered
//!      edits of ~1 % of its bytes (overwrites, insertions that shift the rest of the file,
//!      deletions); the bytes a client downloads to update (stored sizes of the new build's
//!      chunks the old one lacks) with our chunking (FastCDC 16/64/256 KiB, zstd 3) vs fixed
//!      1 MiB blocks (blake3 per block, same zstd rule; goal: ours <= 1/5) vs `casync make`
//!      of both trees into one store (bytes of the chunk files the new tree adds; goal:
//!      ours <= casync). Both trees get the same mtimes so casync's metadata matches.
//!      Needs ~4 GiB free in the temp folder (`--patch-mib` scales it); removed afterwards.
//!    - `serve`: ~200 chunks of a published release served from a native edge's cache
//!      (warmed first) vs nginx serving the same stored bytes as static files at the same
//!      paths (generated config, `daemon off`, 2 workers, sendfile, access log off; a child
//!      process stopped with SIGTERM), same client, concurrency and URL rotation, two
//!      alternating rounds; throughput (goal: edge >= 70 % of nginx), p50/p99, and the
//!      servers' CPU per request (the load generator shares the cores).
//!    - `pipeline`: `aethex_cdn::bench::pipeline` (the build's steps alone vs the
//!      pipeline on every core) on a generated 384 MiB mixed build (goal >= 80 %).
//!
//!    Tools: `casync` and `nginx` are Debian packages the bench installs itself when
//!    `command -v` does not find them (`apt-get install -y`, after `apt-get update` if
//!    that fails; `sudo -n` when not root), so installing is idempotent and the test
//!    command never needs them. A failed install is reported with the exact command and
//!    error, and the part measures what it can without that baseline. On a machine with
//!    systemd, Debian's nginx package enables and starts its own service on port 80 (the
//!    bench never uses it): `systemctl disable --now nginx` if that is unwanted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde_json::{json, Value};

use aethex_tests::{cpu_secs, rss_kib, Origin};

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
    /// Run only these parts: device, email, saves, compression, edge, lag, wasm, patch, serve,
    /// pipeline, rank, ingest, board (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Size of the generated build of part `patch`, MiB (two copies and a casync store are
    /// written to the temporary folder: ~4x this free space is needed).
    #[arg(long, default_value_t = 1024)]
    patch_mib: u64,
    /// Entries of the leaderboard of part `rank`.
    #[arg(long, default_value_t = 1_000_000)]
    rank_entries: u64,
    /// Size of the generated build of part `pipeline`, MiB.
    #[arg(long, default_value_t = 384)]
    pipeline_mib: u64,
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
        ("AETHEX_ANALYTICS__DAILY_QUOTA_FREE", "100000000000"),
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

    // 9. DLC: patch sizes, chunk serving, the build pipeline.
    if wants("patch") {
        let mib = args.patch_mib;
        report.insert("dlc_patch".into(), tokio::task::spawn_blocking(move || bench_patch(mib)).await??);
    }
    if wants("serve") {
        report.insert("dlc_serve".into(), bench_serve(&args, &origin, &game, &http).await?);
    }
    if wants("ingest") {
        report.insert("analytics_ingest".into(), bench_ingest(&args, &origin, &game, &http).await?);
    }

    if wants("board") {
        report.insert("leaderboard_reads".into(), bench_board(&args, &origin, &game, &http).await?);
    }

    if wants("rank") {
        report.insert("leaderboard_rank".into(), bench_rank(args.rank_entries).await?);
    }

    if wants("pipeline") {
        let mib = args.pipeline_mib;
        report.insert("dlc_pipeline".into(), tokio::task::spawn_blocking(move || bench_pipeline(mib)).await??);
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

// ---------------------------------------------------------------------------------------
// DLC: synthetic game builds, patch sizes (ours vs fixed 1 MiB blocks vs casync), chunk
// serving (native edge vs nginx), and the build pipeline.

const MIB: f64 = 1024.0 * 1024.0;

/// splitmix64: fast, seeded, the same bytes on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Log-uniform in `lo..hi` (as many small values as large ones per doubling).
    fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        ((lo as f64) * (hi as f64 / lo as f64).powf(self.unit())) as u64
    }
    fn fill(&mut self, out: &mut [u8]) {
        for c in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

/// What a generated file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Incompressible: compressed textures, audio, video.
    Random,
    /// JSON-lines game tables and scripts (zstd 3 keeps ~26 % of 64 KiB chunks).
    Text,
    /// Binary structured data: 32-byte mesh/level records (zstd 3 keeps ~56 %).
    Records,
    /// A pack file: entries of the three kinds above behind small headers.
    Pack,
}

/// Words of the generated text (JSON tables, scripts).
static WORDS: std::sync::LazyLock<Vec<&str>> = std::sync::LazyLock::new(|| {
    "iron sword shield dawn shadow fire ice storm ancient cursed blessed dragon wolf raven knight mage rogue potion \
     health mana stamina quest village castle forest cave river mountain gold silver bronze leather cloth plate \
     ring amulet scroll tome arrow bow staff dagger axe hammer the of and a to with from deals damage heals grants \
     bonus against undead beasts for seconds when equipped rare epic legendary common uncommon crafted looted \
     merchant blacksmith"
        .split_whitespace()
        .collect()
});

fn text_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    use std::io::Write as _;
    let mut out = Vec::with_capacity(len + 256);
    let w = |rng: &mut Rng| WORDS[rng.below(WORDS.len() as u64) as usize];
    while out.len() < len {
        let id = rng.below(1_000_000);
        let _ = write!(
            out,
            "{{\"id\":{id},\"name\":\"{}_{}_{}\",\"kind\":\"{}\",\"level\":{},\"weight\":{}.{:02},\"tags\":[\"{}\",\"{}\"],\"desc\":\"",
            w(rng),
            w(rng),
            w(rng),
            w(rng),
            rng.below(60),
            rng.below(40),
            rng.below(100),
            w(rng),
            w(rng)
        );
        for i in 0..4 + rng.below(12) {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(w(rng).as_bytes());
        }
        out.extend_from_slice(b"\"}\n");
    }
    out.truncate(len);
    out
}

fn record_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let (mut id, mut x, mut y, mut z) = (rng.below(1 << 20) as u32, 0i32, 0i32, 0i32);
    while out.len() < len {
        id = id.wrapping_add(1);
        x = x.wrapping_add(rng.below(512) as i32 - 256);
        y = y.wrapping_add(rng.below(128) as i32 - 64);
        z = z.wrapping_add(rng.below(512) as i32 - 256);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(rng.below(12) as u16).to_le_bytes());
        out.extend_from_slice(&(u16::from(rng.below(16) == 0)).to_le_bytes());
        for v in [x, y, z] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for _ in 0..3 {
            out.extend_from_slice(&(rng.below(2048) as i16 - 1024).to_le_bytes());
        }
        out.push(rng.below(16) as u8);
        out.extend_from_slice(&[0u8; 5]);
    }
    out.truncate(len);
    out
}

/// `len` bytes of `kind`, from `rng`.
fn content(kind: Kind, rng: &mut Rng, len: usize) -> Vec<u8> {
    match kind {
        Kind::Random => {
            let mut v = vec![0u8; len];
            rng.fill(&mut v);
            v
        }
        Kind::Text => text_bytes(rng, len),
        Kind::Records => record_bytes(rng, len),
        Kind::Pack => {
            let mut out = Vec::with_capacity(len);
            let mut entry = 0u32;
            while out.len() < len {
                let size = rng.log_uniform(64 << 10, 8 << 20) as usize;
                let mut header = [0u8; 64];
                header[..4].copy_from_slice(b"PAKE");
                header[4..8].copy_from_slice(&entry.to_le_bytes());
                header[8..16].copy_from_slice(&(size as u64).to_le_bytes());
                let name = format!("{}/{}_{entry}", WORDS[rng.below(WORDS.len() as u64) as usize], WORDS[rng.below(WORDS.len() as u64) as usize]);
                let n = name.len().min(48);
                header[16..16 + n].copy_from_slice(&name.as_bytes()[..n]);
                out.extend_from_slice(&header);
                out.extend(content(pack_entry_kind(rng), rng, size));
                entry += 1;
            }
            out.truncate(len);
            out
        }
    }
}

/// A pack entry's content: 55 % compressed assets, 30 % records, 15 % text.
fn pack_entry_kind(rng: &mut Rng) -> Kind {
    match rng.below(100) {
        0..=54 => Kind::Random,
        55..=84 => Kind::Records,
        _ => Kind::Text,
    }
}

struct GenFile {
    path: String,
    kind: Kind,
    size: usize,
    seed: u64,
}

/// A game build of about `total` bytes: ~30 % incompressible assets (128 KiB - 6 MiB),
/// ~14 % JSON tables (256 KiB - 12 MiB), ~11 % level records (512 KiB - 16 MiB), ~0.4 %
/// small scripts (1 - 48 KiB, 300 per GiB) and the rest in 3 large pack files.
fn plan_build(total: u64, seed: u64) -> Vec<GenFile> {
    let mut rng = Rng::new(seed);
    let mut files = Vec::new();
    let mut used = 0u64;
    let small = ((300 * total) >> 30).max(20);
    for n in 0..small {
        let size = rng.log_uniform(1 << 10, 48 << 10);
        files.push(GenFile {
            path: format!("scripts/{}/s{n:04}.lua", WORDS[(n % 10) as usize]),
            kind: Kind::Text,
            size: size as usize,
            seed: rng.next(),
        });
        used += size;
    }
    let mut bucket = |files: &mut Vec<GenFile>, rng: &mut Rng, budget: u64, lo: u64, hi: u64, kind: Kind, name: &dyn Fn(usize) -> String| {
        let mut sum = 0u64;
        let mut i = 0;
        while sum < budget {
            let size = rng.log_uniform(lo, hi).min(budget - sum).max(1);
            files.push(GenFile { path: name(i), kind, size: size as usize, seed: rng.next() });
            sum += size;
            i += 1;
        }
        used += sum;
    };
    let ext = ["ktx2", "ogg", "bk2"];
    bucket(&mut files, &mut rng, total * 30 / 100, 128 << 10, 6 << 20, Kind::Random, &|i| format!("assets/{}/a{i:04}.{}", ext[i % 3], ext[i % 3]));
    bucket(&mut files, &mut rng, total * 14 / 100, 256 << 10, 12 << 20, Kind::Text, &|i| format!("data/tables/t{i:03}.json"));
    bucket(&mut files, &mut rng, total * 11 / 100, 512 << 10, 16 << 20, Kind::Records, &|i| format!("data/levels/l{i:03}.bin"));
    let rest = total.saturating_sub(used);
    for i in 0..3 {
        files.push(GenFile { path: format!("packs/pak{i}.pak"), kind: Kind::Pack, size: (rest / 3) as usize, seed: rng.next() });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Overwrite,
    Insert,
    Delete,
}

#[derive(Clone, Copy)]
struct Edit {
    at: usize,
    len: usize,
    op: Op,
    seed: u64,
}

/// Scattered edits totalling `fraction` of the build's bytes: positions uniform over all
/// bytes, sizes log-uniform 16 B - 64 KiB, 45 % overwrites, 35 % insertions (shifting
/// the rest of the file), 20 % deletions. Per file, sorted by offset.
fn plan_edits(files: &[GenFile], fraction: f64, seed: u64) -> Vec<Vec<Edit>> {
    let mut rng = Rng::new(seed);
    let total: u64 = files.iter().map(|f| f.size as u64).sum();
    let mut ends = Vec::with_capacity(files.len());
    let mut acc = 0u64;
    for f in files {
        acc += f.size as u64;
        ends.push(acc);
    }
    let target = (total as f64 * fraction) as u64;
    let mut edits: Vec<Vec<Edit>> = files.iter().map(|_| Vec::new()).collect();
    let mut planned = 0u64;
    while planned < target {
        let p = rng.below(total);
        let fi = ends.partition_point(|&e| e <= p);
        let at = (p - (ends[fi] - files[fi].size as u64)) as usize;
        let op = match rng.below(100) {
            0..=44 => Op::Overwrite,
            45..=79 => Op::Insert,
            _ => Op::Delete,
        };
        let len = rng.log_uniform(16, 64 << 10) as usize;
        edits[fi].push(Edit { at, len, op, seed: rng.next() });
        planned += len as u64;
    }
    for e in &mut edits {
        e.sort_by_key(|e| e.at);
    }
    edits
}

#[derive(Default, Clone, Copy)]
struct EditTotals {
    overwrites: u64,
    inserts: u64,
    deletes: u64,
    overwritten: u64,
    inserted: u64,
    deleted: u64,
    files: u64,
}

impl EditTotals {
    fn count(&self) -> u64 {
        self.overwrites + self.inserts + self.deletes
    }
    fn bytes(&self) -> u64 {
        self.overwritten + self.inserted + self.deleted
    }
    fn add(&mut self, o: &EditTotals) {
        self.overwrites += o.overwrites;
        self.inserts += o.inserts;
        self.deletes += o.deletes;
        self.overwritten += o.overwritten;
        self.inserted += o.inserted;
        self.deleted += o.deleted;
        self.files += o.files;
    }
}

/// `data` with `edits` (sorted by offset in `data`) applied; new bytes are of `kind`.
fn apply_edits(data: &[u8], edits: &[Edit], kind: Kind, t: &mut EditTotals) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + edits.iter().map(|e| e.len).sum::<usize>());
    let mut pos = 0;
    for e in edits {
        let at = e.at.clamp(pos, data.len());
        out.extend_from_slice(&data[pos..at]);
        pos = at;
        let mut rng = Rng::new(e.seed);
        let kind = if kind == Kind::Pack { pack_entry_kind(&mut rng) } else { kind };
        match e.op {
            Op::Overwrite => {
                let n = e.len.min(data.len() - pos);
                out.extend(content(kind, &mut rng, n));
                pos += n;
                t.overwrites += 1;
                t.overwritten += n as u64;
            }
            Op::Insert => {
                out.extend(content(kind, &mut rng, e.len));
                t.inserts += 1;
                t.inserted += e.len as u64;
            }
            Op::Delete => {
                let n = e.len.min(data.len() - pos);
                pos += n;
                t.deletes += 1;
                t.deleted += n as u64;
            }
        }
    }
    out.extend_from_slice(&data[pos..]);
    t.files += u64::from(!edits.is_empty());
    out
}

/// Writes `files` under `old` (and, with `edits`, the edited build under `new`) on two
/// threads, then gives every file and folder of both trees the same mtime (so tools that
/// record metadata, like casync, see unchanged files as unchanged).
fn write_builds(files: &[GenFile], old: &std::path::Path, new: Option<(&std::path::Path, &[Vec<Edit>])>) -> anyhow::Result<EditTotals> {
    let next = AtomicU64::new(0);
    let totals = Mutex::new(EditTotals::default());
    std::thread::scope(|s| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        let Some(f) = files.get(i) else { return Ok(()) };
                        let data = content(f.kind, &mut Rng::new(f.seed), f.size);
                        write_file(&old.join(&f.path), &data)?;
                        if let Some((new, edits)) = new {
                            let mut t = EditTotals::default();
                            let edited = apply_edits(&data, &edits[i], f.kind, &mut t);
                            write_file(&new.join(&f.path), &edited)?;
                            totals.lock().unwrap().add(&t);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
        }
        Ok(())
    })?;
    let when = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    set_mtimes(old, when)?;
    if let Some((new, _)) = new {
        set_mtimes(new, when)?;
    }
    Ok(totals.into_inner().unwrap())
}

fn write_file(p: &std::path::Path, data: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(p.parent().context("parent")?)?;
    std::fs::write(p, data).with_context(|| format!("writing {}", p.display()))
}

fn set_mtimes(dir: &std::path::Path, when: std::time::SystemTime) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            set_mtimes(&e.path(), when)?;
        } else {
            std::fs::File::options().write(true).open(e.path())?.set_modified(when)?;
        }
    }
    std::fs::File::open(dir)?.set_modified(when)?;
    Ok(())
}

/// Where `cmd` is: on PATH, or in /usr/sbin or /sbin (not on a normal user's PATH).
fn find_tool(cmd: &str) -> Option<PathBuf> {
    let out = std::process::Command::new("sh").arg("-c").arg(format!("command -v {cmd}")).output().ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && !p.is_empty() {
        return Some(PathBuf::from(p));
    }
    ["/usr/sbin", "/sbin", "/usr/bin"].iter().map(|d| PathBuf::from(d).join(cmd)).find(|p| p.exists())
}

/// Finds `cmd`, installing the Debian package `package` first when it is missing
/// (`apt-get install -y`; if that fails, `apt-get update` and once more; `sudo -n` when not
/// root). Idempotent: an installed tool is just found. The error says exactly what failed.
fn ensure_tool(cmd: &str, package: &str) -> anyhow::Result<PathBuf> {
    if let Some(p) = find_tool(cmd) {
        return Ok(p);
    }
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")).map(|v| v.split_whitespace().next() == Some("0")))
        .unwrap_or(false);
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let mut c = if root {
            std::process::Command::new("apt-get")
        } else {
            let mut c = std::process::Command::new("sudo");
            c.args(["-n", "apt-get"]);
            c
        };
        let shown = format!("{}apt-get {}", if root { "" } else { "sudo -n " }, args.join(" "));
        println!("  {cmd} not found: {shown}");
        let out = c.args(args).env("DEBIAN_FRONTEND", "noninteractive").output().with_context(|| format!("running `{shown}`"))?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
        anyhow::bail!("`{shown}` failed ({}): {}", out.status, tail.join(" | "))
    };
    if let Err(first) = apt(&["install", "-y", package]) {
        println!("  {first}; trying `apt-get update` first");
        apt(&["update"])?;
        apt(&["install", "-y", package])?;
    }
    find_tool(cmd).with_context(|| format!("package {package} installed, but {cmd} is still not found"))
}

/// Bytes of `new`'s 1 MiB blocks (per file, blake3 ids) that `old` lacks, each distinct
/// block counted once at its stored size (zstd 3 if that is smaller, as ours): (bytes,
/// blocks, blocks in `new`).
fn fixed_block_download(old: &std::path::Path, new: &std::path::Path, level: i32) -> anyhow::Result<(u64, u64, u64)> {
    let mut have = std::collections::HashSet::new();
    for_each_block(old, &mut |id, _| {
        have.insert(id);
        Ok(())
    })?;
    let mut z = zstd::bulk::Compressor::new(level)?;
    let (mut bytes, mut blocks, mut all) = (0u64, 0u64, 0u64);
    let mut buf = Vec::new();
    for_each_block(new, &mut |id, b| {
        all += 1;
        if have.insert(id) {
            let c = aethex_cdn::store::encode_into(&mut z, b, &mut buf)?;
            bytes += if c == aethex_cdn::Compression::Zstd { buf.len() } else { b.len() } as u64;
            blocks += 1;
        }
        Ok(())
    })?;
    Ok((bytes, blocks, all))
}

type BlockFn<'a> = dyn FnMut([u8; 32], &[u8]) -> anyhow::Result<()> + 'a;

/// Calls `each(blake3 id, block)` for every 1 MiB block of every file under `dir` (the
/// last block of a file may be shorter).
fn for_each_block(dir: &std::path::Path, each: &mut BlockFn<'_>) -> anyhow::Result<()> {
    for f in aethex_cdn::tree::walk(dir)? {
        let data = std::fs::read(&f.abs)?;
        for b in data.chunks(1 << 20) {
            each(*blake3::hash(b).as_bytes(), b)?;
        }
    }
    Ok(())
}

/// casync's chunk files in a store: name -> size.
fn casync_chunks(store: &std::path::Path) -> anyhow::Result<std::collections::HashMap<String, u64>> {
    let mut out = std::collections::HashMap::new();
    if !store.exists() {
        return Ok(out);
    }
    for d in std::fs::read_dir(store)? {
        let d = d?;
        if !d.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(d.path())? {
            let f = f?;
            let name = f.file_name().to_string_lossy().to_string();
            if name.ends_with(".cacnk") {
                out.insert(name, f.metadata()?.len());
            }
        }
    }
    Ok(out)
}

/// `casync make --store=<store> <index> <dir>`; returns its wall time.
fn casync_make(casync: &std::path::Path, store: &std::path::Path, index: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<f64> {
    let t = Instant::now();
    let out = std::process::Command::new(casync).arg("make").arg(format!("--store={}", store.display())).arg(index).arg(dir).output()?;
    if !out.status.success() {
        anyhow::bail!(
            "`casync make --store={} {} {}` failed ({}): {}",
            store.display(),
            index.display(),
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(t.elapsed().as_secs_f64())
}

/// A .caidx header's feature flags and chunk size bounds, its chunk count and the archive
/// (catar) size it indexes.
struct CaIndex {
    feature_flags: u64,
    min: u64,
    avg: u64,
    max: u64,
    chunks: u64,
    archive_bytes: u64,
    file_bytes: u64,
}

fn read_caidx(p: &std::path::Path) -> anyhow::Result<CaIndex> {
    let b = std::fs::read(p)?;
    let le = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    anyhow::ensure!(b.len() >= 64 + 40 && le(8) == 0x9682_4d9c_7b12_9ff9, "{} is not a casync index", p.display());
    // Header (48 bytes), table header (16), items of 40 bytes (end offset + 32-byte id),
    // a 40-byte tail.
    let chunks = ((b.len() - 64 - 40) / 40) as u64;
    let archive_bytes = if chunks > 0 { le(64 + (chunks as usize - 1) * 40) } else { 0 };
    Ok(CaIndex { feature_flags: le(16), min: le(24), avg: le(32), max: le(40), chunks, archive_bytes, file_bytes: b.len() as u64 })
}

/// casync's version, the `--help` lines about chunk sizes, compression and digests, and the
/// compression its chunk files use (from their magic).
fn casync_defaults(casync: &std::path::Path, store: &std::path::Path) -> (String, Vec<String>, String) {
    let run = |arg: &str| {
        std::process::Command::new(casync)
            .arg(arg)
            .output()
            .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
            .unwrap_or_default()
    };
    let package = std::process::Command::new("dpkg-query").args(["-W", "-f", "${Version}", "casync"]).output().ok().filter(|o| o.status.success());
    let version = match package {
        Some(o) => format!("{} (Debian package {})", run("--version").trim(), String::from_utf8_lossy(&o.stdout).trim()),
        None => run("--version").trim().to_string(),
    };
    let help: Vec<String> = run("--help")
        .lines()
        .filter(|l| ["--chunk-size", "--compression", "--digest"].iter().any(|k| l.trim_start().starts_with(k)))
        .map(|l| l.trim().to_string())
        .collect();
    let magic = std::fs::read_dir(store)
        .ok()
        .and_then(|mut d| d.find_map(|e| e.ok().filter(|e| e.path().is_dir())))
        .and_then(|d| std::fs::read_dir(d.path()).ok()?.find_map(|f| f.ok()))
        .and_then(|f| std::fs::read(f.path()).ok())
        .map(|b| match b.get(..4) {
            Some([0x28, 0xb5, 0x2f, 0xfd]) => "zstd".to_string(),
            Some([0xfd, b'7', b'z', b'X']) => "xz".to_string(),
            Some([0x1f, 0x8b, ..]) => "gzip".to_string(),
            other => format!("unknown magic {other:02x?}"),
        })
        .unwrap_or_else(|| "?".into());
    (version, help, magic)
}

/// Free bytes under `dir` (`df -Pk`).
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let out = std::process::Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().nth(1)?.split_whitespace().nth(3)?.parse::<u64>().ok().map(|k| k * 1024)
}

/// Part `patch`: a ~`mib` MiB build and the same build after scattered edits (~1 % of its
/// bytes, insertions and deletions included); what a client downloads to update with our
/// chunking, with fixed 1 MiB blocks, and with casync (same chunk store for both builds).
fn bench_patch(mib: u64) -> anyhow::Result<Value> {
    let tmp = tempfile::tempdir()?;
    let need = mib * (1 << 20) * 4;
    if let Some(free) = free_bytes(tmp.path()) {
        anyhow::ensure!(free > need, "patch: needs ~{} MiB free under {}, has {} MiB", need >> 20, tmp.path().display(), free >> 20);
    }
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    let files = plan_build(mib << 20, 42);
    let edits = plan_edits(&files, 0.01, 43);
    let t = Instant::now();
    let e = write_builds(&files, &old, Some((&new, &edits)))?;
    let old_bytes: u64 = files.iter().map(|f| f.size as u64).sum();
    println!(
        "\npatch: {} files, {:.1} MiB ({:.1} s to generate both builds); edits: {} ({} overwrites, {} insertions, {} deletions) in {} files, {:.2} MiB = {:.2}% of the bytes",
        files.len(),
        old_bytes as f64 / MIB,
        t.elapsed().as_secs_f64(),
        e.count(),
        e.overwrites,
        e.inserts,
        e.deletes,
        e.files,
        e.bytes() as f64 / MIB,
        e.bytes() as f64 / old_bytes as f64 * 100.0
    );

    // (a) Ours: the manifests' chunk tables (the builds are not written).
    let opts = aethex_cdn::BuildOptions { write: false, ..Default::default() };
    let t = Instant::now();
    let b_old = aethex_cdn::build(&old, &tmp.path().join("out"), "bench-patch", "1.0.0", "stable", &opts)?;
    let b_new = aethex_cdn::build(&new, &tmp.path().join("out"), "bench-patch", "1.0.1", "stable", &opts)?;
    let ours_s = t.elapsed().as_secs_f64() / 2.0;
    let d = aethex_cdn::diff(&b_old.manifest, &b_new.manifest);
    let p = aethex_cdn::ChunkParams::DEFAULT;
    let new_stored = b_new.manifest.totals.stored_bytes;
    println!(
        "  ours (FastCDC {}/{}/{} KiB, zstd {}): {:>8.2} MiB in {} of {} chunks ({:.2}% of the new build's {:.1} MiB stored); manifest {:.2} MiB; build {:.2} s",
        p.min >> 10,
        p.avg >> 10,
        p.max >> 10,
        opts.zstd_level,
        d.download_bytes as f64 / MIB,
        d.download_chunks,
        b_new.manifest.chunks.len(),
        d.download_bytes as f64 / new_stored as f64 * 100.0,
        new_stored as f64 / MIB,
        b_new.text.len() as f64 / MIB,
        ours_s
    );

    // (b) Fixed 1 MiB blocks, the same compression rule.
    let t = Instant::now();
    let (fixed_bytes, fixed_blocks, fixed_all) = fixed_block_download(&old, &new, opts.zstd_level)?;
    let ratio_fixed = d.download_bytes as f64 / fixed_bytes as f64;
    println!(
        "  fixed 1 MiB blocks (zstd {}): {:>8.2} MiB in {} of {} blocks ({:.1} s)  -> ours = {:.1}% of fixed (goal <= 20%)",
        opts.zstd_level,
        fixed_bytes as f64 / MIB,
        fixed_blocks,
        fixed_all,
        t.elapsed().as_secs_f64(),
        ratio_fixed * 100.0
    );
    let mut report = json!({
        "files": files.len(), "build_bytes": old_bytes, "new_build_bytes": b_new.manifest.totals.bytes,
        "edits": {"count": e.count(), "overwrites": e.overwrites, "insertions": e.inserts, "deletions": e.deletes,
                  "overwritten_bytes": e.overwritten, "inserted_bytes": e.inserted, "deleted_bytes": e.deleted, "files": e.files,
                  "fraction": e.bytes() as f64 / old_bytes as f64},
        "ours": {"chunk_sizes": [p.min, p.avg, p.max], "zstd_level": opts.zstd_level, "download_bytes": d.download_bytes,
                 "download_chunks": d.download_chunks, "chunks": b_new.manifest.chunks.len(), "new_build_stored_bytes": new_stored,
                 "manifest_bytes": b_new.text.len(), "build_s": ours_s},
        "fixed_1mib": {"download_bytes": fixed_bytes, "download_blocks": fixed_blocks, "blocks": fixed_all},
        "ours_vs_fixed": ratio_fixed, "ours_vs_fixed_goal": 0.2,
    });

    // (c) casync: both builds into one store; the chunk files the second adds.
    let casync = match ensure_tool("casync", "casync") {
        Ok(p) => p,
        Err(err) => {
            println!("  casync: not available: {err:#}");
            report["casync"] = json!({"error": format!("{err:#}")});
            return Ok(report);
        }
    };
    let store = tmp.path().join("castore");
    let (idx_old, idx_new) = (tmp.path().join("old.caidx"), tmp.path().join("new.caidx"));
    let run = || -> anyhow::Result<Value> {
        let old_s = casync_make(&casync, &store, &idx_old, &old)?;
        let before = casync_chunks(&store)?;
        let new_s = casync_make(&casync, &store, &idx_new, &new)?;
        let after = casync_chunks(&store)?;
        let added: Vec<u64> = after.iter().filter(|(k, _)| !before.contains_key(*k)).map(|(_, v)| *v).collect();
        let added_bytes: u64 = added.iter().sum();
        let store_old: u64 = before.values().sum();
        let (io, inew) = (read_caidx(&idx_old)?, read_caidx(&idx_new)?);
        let (version, help, compression) = casync_defaults(&casync, &store);
        let ratio = d.download_bytes as f64 / added_bytes as f64;
        println!(
            "  {version} ({}/{}/{} KiB, {compression}, features {:#x}): {:>8.2} MiB in {} new chunk files (store after the old build: {:.1} MiB in {} chunks; {} chunks index the new one); index {:.2} MiB; make {:.1} s + {:.1} s  -> ours = {:.1}% of casync (goal <= 100%)",
            io.min >> 10,
            io.avg >> 10,
            io.max >> 10,
            io.feature_flags,
            added_bytes as f64 / MIB,
            added.len(),
            store_old as f64 / MIB,
            before.len(),
            inew.chunks,
            inew.file_bytes as f64 / MIB,
            old_s,
            new_s,
            ratio * 100.0
        );
        for l in &help {
            println!("    casync --help: {l}");
        }
        let with_index = (d.download_bytes + b_new.text.len() as u64) as f64 / (added_bytes + inew.file_bytes) as f64;
        println!("  with the index each client also fetches (our manifest, casync's .caidx): ours = {:.1}% of casync", with_index * 100.0);
        Ok(json!({"version": version, "chunk_sizes": [io.min, io.avg, io.max], "compression": compression, "feature_flags": io.feature_flags,
                  "help": help, "download_bytes": added_bytes, "download_chunks": added.len(), "store_bytes_old": store_old,
                  "chunks_old": io.chunks, "chunks_new": inew.chunks, "archive_bytes_new": inew.archive_bytes, "index_bytes": inew.file_bytes,
                  "make_old_s": old_s, "make_new_s": new_s, "ours_vs_casync": ratio, "ours_vs_casync_goal": 1.0,
                  "ours_vs_casync_with_index": with_index}))
    };
    report["casync"] = match run() {
        Ok(v) => v,
        Err(err) => {
            println!("  casync: {err:#}");
            json!({"error": format!("{err:#}")})
        }
    };
    Ok(report)
}

/// Part `pipeline`: `aethex_cdn::bench::pipeline` (the build's steps alone on one core each
/// vs the pipeline on every core) over a generated ~`mib` MiB mixed build.
fn bench_pipeline(mib: u64) -> anyhow::Result<Value> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("build");
    write_builds(&plan_build(mib << 20, 11), &dir, None)?;
    let b = aethex_cdn::bench::pipeline(&dir, &aethex_cdn::BuildOptions::default(), 3)?;
    println!(
        "\npipeline: {} files, {:.1} MiB, {} chunks, zstd {}; alone (1 core each): read {:.3} s  chunk {:.3} s  hash {:.3} s  compress {:.3} s  sum {:.3} s ({:.0} MiB/s)",
        b.files,
        b.bytes as f64 / MIB,
        b.chunks,
        b.zstd_level,
        b.read_s,
        b.chunk_s,
        b.hash_s,
        b.compress_s,
        b.steps_sum_s,
        b.serial_mib_s
    );
    println!(
        "pipeline ({} cores): {:.3} s ({:.0} MiB/s){}  = {:.1}% of sum/cores (goal >= 80%)",
        b.cores,
        b.pipeline_s,
        b.pipeline_mib_s,
        b.pipeline_cpu_s.map(|c| format!(", used {c:.2} CPU-s = {:.2} cores", c / b.pipeline_s)).unwrap_or_default(),
        b.efficiency * 100.0
    );
    let mut v = serde_json::to_value(&b)?;
    v["goal"] = json!(0.8);
    Ok(v)
}

/// `pid` and its direct children (nginx's master and workers).
fn with_children(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let ppid = std::fs::read_to_string(format!("/proc/{p}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1).and_then(|v| v.parse::<u32>().ok())));
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// nginx serving a folder as static files on 127.0.0.1: a child process (`daemon off`,
/// master + `workers` workers) with a generated config, logs and pid file in its own
/// temporary folder. Dropping it sends SIGTERM (the master stops its workers) and waits.
struct Nginx {
    child: Option<std::process::Child>,
    url: String,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(nginx: &std::path::Path, root: &std::path::Path, workers: usize) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let d = dir.path().display();
        // keepalive_requests: nginx closes a connection after 1000 requests by default; the
        // edge (hyper) does not, so the same connections are reused for both.
        let conf = format!(
            "daemon off;\nworker_processes {workers};\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000000;\n  default_type application/octet-stream;\n\
             \x20 client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             \x20 server {{\n    listen 127.0.0.1:{port};\n    root {};\n    location / {{ }}\n  }}\n}}\n",
            root.display()
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let child = std::process::Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", nginx.display()))?;
        let mut n = Nginx { child: Some(child), url: format!("http://127.0.0.1:{port}"), dir };
        let start = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(n);
            }
            if let Some(status) = n.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                n.child = None;
                let log = std::fs::read_to_string(n.dir.path().join("error.log")).unwrap_or_default();
                anyhow::bail!("nginx exited ({status}): {}", log.trim());
            }
            anyhow::ensure!(start.elapsed() < Duration::from_secs(10), "nginx did not listen on 127.0.0.1:{port} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let Some(mut c) = self.child.take() else { return };
        let _ = std::process::Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A closed-loop run (see [`load`]) with the CPU seconds the server processes (`pids`) and
/// this process (the load generator) used meanwhile.
async fn load_cpu<F>(pids: &[u32], secs: u64, concurrency: usize, make: F) -> (Load, f64, f64)
where
    F: Fn(usize, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let total = |pids: &[u32]| pids.iter().filter_map(|p| cpu_secs(*p)).sum::<f64>();
    let me = std::process::id();
    let (s0, c0) = (total(pids), cpu_secs(me).unwrap_or(0.0));
    let l = load(secs, concurrency, make).await;
    let (s1, c1) = (total(pids), cpu_secs(me).unwrap_or(0.0));
    (l, s1 - s0, c1 - c0)
}

/// Part `serve`: a published release's chunks (~200 of them, evenly spread over its chunk
/// table) from a native edge's cache vs nginx serving the same stored bytes as static
/// files at the same paths; same client, concurrency and URL rotation, alternating runs.
async fn bench_serve(args: &Args, origin: &Origin, game: &aethex_tests::GameFixture, http: &reqwest::Client) -> anyhow::Result<Value> {
    use std::os::unix::fs::PermissionsExt as _;
    let nginx_bin = tokio::task::spawn_blocking(|| ensure_tool("nginx", "nginx")).await?;
    let publisher = aethex_tests::dlc::Publisher::new(game).await;
    let tmp = tempfile::tempdir()?;
    // nginx's workers may run as another user (nobody): the served folder must be readable.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    let (src, out, www) = (tmp.path().join("build"), tmp.path().join("out"), tmp.path().join("www"));
    write_builds(&plan_build(24 << 20, 7), &src, None)?;
    let b = aethex_cdn::build(&src, &out, &publisher.game, "1.0.0", "stable", &aethex_cdn::BuildOptions::default())?;
    aethex_cdn::publish(&publisher.origin, &b.manifest, &b.store, &publisher.key, &aethex_cdn::PublishOptions::default()).await?;
    println!("\nserve: published {} chunks; origin RSS after the publish: {} KiB", b.manifest.chunks.len(), rss_kib(origin.pid()).unwrap_or(0));
    let all = &b.manifest.chunks;
    let n = all.len().min(200);
    let picked: Vec<&aethex_cdn::ChunkInfo> = (0..n).map(|k| &all[k * all.len() / n]).collect();
    let path_of = |id: &str| format!("/api/v1/dlc/{}/chunks/{id}", publisher.game);
    let mut stored: Vec<Vec<u8>> = Vec::new();
    for c in &picked {
        let bytes = b.store.get(&c.id)?;
        write_file(&www.join(path_of(&c.id).trim_start_matches('/')), &bytes)?;
        stored.push(bytes);
    }
    let mean = stored.iter().map(|s| s.len()).sum::<usize>() as f64 / n as f64;
    let zstd = picked.iter().filter(|c| c.compression == aethex_cdn::Compression::Zstd).count();
    println!(
        "serve: {n} chunks of the release ({} in it), stored {:.1} KiB on average ({zstd} zstd, {} identity), plain {:.1} KiB",
        all.len(),
        mean / 1024.0,
        n - zstd,
        picked.iter().map(|c| c.size).sum::<u64>() as f64 / n as f64 / 1024.0
    );

    // The edge: fetch every chunk once (origin -> cache), then check it answers from cache.
    let edge = aethex_tests::edges::NativeEdge::start(&origin.url, &origin.edge_key(), &[("AETHEX_LOG__LEVEL", "warn")]);
    let mut hits = 0;
    for (c, bytes) in picked.iter().zip(&stored) {
        for pass in 0..2 {
            let r = http.get(format!("{}{}", edge.url, path_of(&c.id))).send().await?;
            anyhow::ensure!(r.status().is_success(), "edge answered {} for chunk {}", r.status(), c.id);
            hits += usize::from(pass == 1 && r.headers().get("x-aethex-cache").is_some_and(|v| v == "hit"));
            anyhow::ensure!(r.bytes().await?.as_ref() == bytes.as_slice(), "edge sent other bytes for chunk {}", c.id);
        }
    }
    println!(
        "edge warmed: {hits}/{n} chunks answered from its cache on the second fetch; origin RSS after the edge's first fetches: {} KiB",
        rss_kib(origin.pid()).unwrap_or(0)
    );
    let edge_urls: Arc<Vec<String>> = Arc::new(picked.iter().map(|c| format!("{}{}", edge.url, path_of(&c.id))).collect());

    let (nginx, nginx_error) = match nginx_bin.and_then(|bin| Nginx::start(&bin, &www, 2)) {
        Ok(n) => (Some(n), None),
        Err(err) => {
            println!("nginx: not available: {err:#}");
            (None, Some(format!("{err:#}")))
        }
    };
    let nginx_urls: Arc<Vec<String>> =
        Arc::new(nginx.iter().flat_map(|ng| picked.iter().map(move |c| format!("{}{}", ng.url, path_of(&c.id)))).collect());
    if nginx.is_some() {
        for (u, bytes) in nginx_urls.iter().zip(&stored) {
            let r = http.get(u).send().await?;
            anyhow::ensure!(r.status().is_success(), "nginx answered {} for {u}", r.status());
            anyhow::ensure!(r.bytes().await?.as_ref() == bytes.as_slice(), "nginx sent other bytes for {u}");
        }
    }

    let rotate = |urls: Arc<Vec<String>>, h: reqwest::Client| move |w: usize, i: u64| h.get(&urls[(w * 7919 + i as usize) % urls.len()]);
    let line = |name: &str, l: &Load, server_cpu: f64, client_cpu: f64| {
        println!(
            "  {name:<6} {:>8.0} req/s {:>7.1} MiB/s  p50 {:.2} ms  p99 {:.2} ms  errors {}  server CPU {:.1} us/req ({:.2} cores), load generator {:.2} cores",
            l.rps(),
            l.rps() * mean / MIB,
            l.pct(0.5),
            l.pct(0.99),
            l.errors,
            server_cpu / l.requests.max(1) as f64 * 1e6,
            server_cpu / l.secs,
            client_cpu / l.secs
        );
        json!({"rps": l.rps(), "mib_s": l.rps() * mean / MIB, "p50_ms": l.pct(0.5), "p99_ms": l.pct(0.99), "errors": l.errors,
               "server_cpu_us_per_req": server_cpu / l.requests.max(1) as f64 * 1e6, "server_cores": server_cpu / l.secs, "client_cores": client_cpu / l.secs})
    };
    let (mut runs, mut edge_all, mut nginx_all) = (Vec::new(), Vec::new(), Vec::new());
    let (mut edge_cpu, mut nginx_cpu) = (0.0, 0.0);
    for round in 1..=2 {
        println!("round {round} ({} s each, {} connections, {n} URLs in rotation):", args.secs, args.concurrency);
        let mut r = serde_json::Map::new();
        if let Some(ng) = &nginx {
            let pids = with_children(ng.pid());
            let (l, s, c) = load_cpu(&pids, args.secs, args.concurrency, rotate(nginx_urls.clone(), http.clone())).await;
            r.insert("nginx".into(), line("nginx", &l, s, c));
            nginx_cpu += s;
            nginx_all.push(l);
        }
        let (l, s, c) = load_cpu(&[edge.pid()], args.secs, args.concurrency, rotate(edge_urls.clone(), http.clone())).await;
        r.insert("edge".into(), line("edge", &l, s, c));
        edge_cpu += s;
        edge_all.push(l);
        runs.push(Value::Object(r));
    }
    let merged = |v: Vec<Load>| Load {
        requests: v.iter().map(|l| l.requests).sum(),
        errors: v.iter().map(|l| l.errors).sum(),
        secs: v.iter().map(|l| l.secs).sum(),
        latencies_us: v.into_iter().flat_map(|l| l.latencies_us).collect(),
    };
    let e = merged(edge_all);
    let probe = http.get(&edge_urls[0]).send().await?;
    let cache = probe.headers().get("x-aethex-cache").and_then(|v| v.to_str().ok()).unwrap_or("miss").to_string();
    let mut report = json!({"chunks": n, "mean_stored_bytes": mean, "zstd_chunks": zstd, "edge_rps": e.rps(), "edge_p50_ms": e.pct(0.5),
                            "edge_p99_ms": e.pct(0.99), "edge_cache_after": cache, "runs": runs, "goal": 0.7});
    if nginx.is_some() {
        let g = merged(nginx_all);
        let ratio = e.rps() / g.rps();
        println!(
            "edge chunks from cache: {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms vs nginx {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  = {:.1}% of nginx (goal >= 70%)",
            e.rps(),
            e.pct(0.5),
            e.pct(0.99),
            g.rps(),
            g.pct(0.5),
            g.pct(0.99),
            ratio * 100.0
        );
        // Both servers share the 2 cores with the load generator, so throughput ratios
        // understate differences; CPU per request does not depend on who got the cores.
        let (e_us, g_us) = (edge_cpu / e.requests.max(1) as f64 * 1e6, nginx_cpu / g.requests.max(1) as f64 * 1e6);
        println!("server CPU per chunk: edge {e_us:.1} us, nginx {g_us:.1} us = nginx needs {:.1}% of the edge's CPU per chunk", g_us / e_us * 100.0);
        report["edge_cpu_us_per_req"] = json!(e_us);
        report["nginx_cpu_us_per_req"] = json!(g_us);
        report["nginx_rps"] = json!(g.rps());
        report["nginx_p50_ms"] = json!(g.pct(0.5));
        report["nginx_p99_ms"] = json!(g.pct(0.99));
        report["ratio"] = json!(ratio);
    } else {
        println!("edge chunks from cache: {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms (no nginx baseline)", e.rps(), e.pct(0.5), e.pct(0.99));
        report["nginx_error"] = json!(nginx_error);
    }
    drop(nginx);
    Ok(report)
}

/// Part `rank`: a replica (the native edge's store, schema and triggers) with one board of
/// `n` entries loaded through a snapshot bootstrap; then a player's rank from the rank
/// index vs counting the entries ahead (what the edge did before the index), for players
/// spread over the board, and the whole around-me read (5 statements) the edge answers.
async fn bench_rank(n: u64) -> anyhow::Result<Value> {
    use aethex_protocol::replica::{entries_ahead_sql, table, Change, SnapshotHeader, SCHEMA_VERSION};
    println!("\n== leaderboard rank on {n} entries ==");
    let dir = tempfile::tempdir()?;
    let store = aethex_edge_native::store::ReplicaStore::open(&dir.path().join("replica.db")).await?;
    let mut rng = Rng::new(42);
    let t = Instant::now();
    let mut boot = store.begin_bootstrap().await?;
    let entries = table("leaderboard_entries").context("table")?;
    let boards = table("leaderboards").context("table")?;
    let board_row = json!({"game_id": "g", "leaderboard_id": "global", "name": "Global", "sort_order": "desc", "operator": "best"});
    boot.add(&Change::upsert(boards, board_row.as_object().cloned().unwrap_or_default())).await?;
    for i in 0..n {
        // Scores 0..10M (desc board: rank_score = -score), ~10 % of them tied with another.
        let score = (rng.next() % 10_000_000) as i64;
        let row = json!({"game_id": "g", "leaderboard_id": "global", "user_id": format!("u{i:08}"), "username": format!("player{i}"),
            "score": score, "rank_score": -score, "metadata": null, "updated_at": format!("2026-11-25T00:{:02}:{:02}.000Z", (i / 60) % 60, i % 60)});
        boot.add(&Change::upsert(entries, row.as_object().cloned().unwrap_or_default())).await?;
    }
    boot.finish(&SnapshotHeader { epoch: "bench".into(), position: 1, schema_version: SCHEMA_VERSION }).await?;
    let load_s = t.elapsed().as_secs_f64();
    println!("snapshot bootstrap of {n} entries (rank index filled in one pass at the end): {load_s:.1} s ({:.0} entries/s)", n as f64 / load_s);
    let conn = store.readers().remove(0);
    // Players at 1 %, 25 %, 50 %, 75 %, 99 % of the board (by their rank).
    let mut rows = conn.query("SELECT user_id, rank_score, updated_at FROM leaderboard_entries WHERE game_id = 'g' AND leaderboard_id = 'global' ORDER BY rank_score, updated_at, user_id", ()).await?;
    let mut all = Vec::with_capacity(n as usize);
    while let Some(r) = rows.next().await? {
        all.push((r.get::<String>(0)?, r.get::<i64>(1)?, r.get::<String>(2)?));
    }
    drop(rows);
    let indexed_sql = format!("SELECT {}", entries_ahead_sql("?3", "?4", "?5"));
    let counted_sql =
        "SELECT COUNT(*) FROM leaderboard_entries WHERE game_id = ?1 AND leaderboard_id = ?2 AND (rank_score, updated_at, user_id) < (?3, ?4, ?5)";
    let mut out = Vec::new();
    for pct in [1u64, 25, 50, 75, 99] {
        let idx = ((all.len() as u64 - 1) * pct / 100) as usize;
        let (user, k, u) = all[idx].clone();
        let time = |sql: &str, reps: u32| {
            let (conn, sql, user, u) = (conn.clone(), sql.to_string(), user.clone(), u.clone());
            async move {
                let mut got = 0;
                let t = Instant::now();
                for _ in 0..reps {
                    let mut r = conn.query(&sql, libsql::params!["g", "global", k, u.clone(), user.clone()]).await?;
                    got = r.next().await?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(-1);
                }
                Ok::<_, anyhow::Error>((got, t.elapsed().as_secs_f64() * 1e6 / f64::from(reps)))
            }
        };
        let (by_index, index_us) = time(&indexed_sql, 2000).await?;
        let (by_count, count_us) = time(counted_sql, if pct <= 1 { 200 } else { 10 }).await?;
        anyhow::ensure!(
            by_index == idx as i64 && by_count == idx as i64,
            "rank mismatch at {pct} %: index {by_index}, count {by_count}, expected {idx}"
        );
        println!(
            "rank {:>8} ({pct:>2} % down): rank index {index_us:>8.1} µs   counting the board {count_us:>9.1} µs   ({:.0}x)",
            idx + 1,
            count_us / index_us
        );
        out.push(json!({"percentile": pct, "rank": idx + 1, "index_us": index_us, "count_us": count_us}));
    }
    // The edge's whole around-me read (board check, my entry, my rank, 5 above, 5 below).
    let replica = aethex_edge_native::LibsqlReplica::new(store.readers());
    let mut lat = Vec::new();
    let t = Instant::now();
    for i in 0..2000u64 {
        let user = &all[(rng.next() % all.len() as u64) as usize].0;
        let s = Instant::now();
        let page = aethex_edge::readmodel::leaderboard_around(&replica, "g", "global", user, 11).await?.context("board")?;
        lat.push(s.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(page.entries.len() >= 6, "around-me page of {} entries at call {i}", page.entries.len());
    }
    let per_s = 2000.0 / t.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99) = (lat[lat.len() / 2], lat[lat.len() * 99 / 100]);
    println!("around-me read (5 statements, one connection): {per_s:.0}/s, p50 {p50:.0} µs, p99 {p99:.0} µs");
    Ok(json!({"entries": n, "bootstrap_s": load_s, "ranks": out, "around_me": {"per_s": per_s, "p50_us": p50, "p99_us": p99}}))
}

/// One analytics event of the seed's shape (~330 bytes of JSON).
fn seed_event(id: &str, i: u64) -> Value {
    json!({"event_id": id, "event_type": "level_completed", "timestamp": "2026-11-25T12:00:00Z", "session_id": "bench-session",
        "properties": {"level": i % 50, "time_seconds": 120.5, "deaths": 3, "score": 1000 + i, "difficulty": "hard"},
        "device": {"os": "Windows", "os_version": "10.0.19041", "engine_version": "4.3.0", "game_version": "1.2.3"}})
}

/// Part `ingest`: analytics events/s in batches of 100 through origin's route (16 players
/// with consent, `--concurrency` connections) vs raw batched libSQL inserts of the same
/// rows into a file with the analytics database's schema and pragmas (one transaction of
/// 100 inserts at a time, one connection), each for `--secs`.
async fn bench_ingest(args: &Args, origin: &Origin, game: &aethex_tests::GameFixture, http: &reqwest::Client) -> anyhow::Result<Value> {
    println!("\n== analytics ingest, batches of 100 ==");
    let mut tokens = Vec::new();
    for _ in 0..16 {
        let p = game.player().await;
        p.analytics().set_consent(true).await?;
        tokens.push(p.token().context("token")?);
    }
    let tokens = Arc::new(tokens);
    let (h, u) = (http.clone(), format!("{}/api/v1/analytics/events", origin.url));
    let ours = load(args.secs, args.concurrency, move |w, i| {
        let events: Vec<Value> = (0..100).map(|k| seed_event(&uuid::Uuid::new_v4().to_string(), i * 100 + k)).collect();
        h.post(&u).bearer_auth(&tokens[w % tokens.len()]).json(&json!({ "events": events }))
    })
    .await;
    let ours_eps = ours.rps() * 100.0;
    println!(
        "through origin:        {ours_eps:>9.0} events/s  ({:.0} batches/s, p50 {:.2} ms, p99 {:.2} ms)",
        ours.rps(),
        ours.pct(0.5),
        ours.pct(0.99)
    );

    let dir = tempfile::tempdir()?;
    let db = libsql::Builder::new_local(dir.path().join("raw-analytics.db")).build().await?;
    let conn = db.connect()?;
    conn.query("PRAGMA journal_mode=WAL", ()).await?;
    conn.execute_batch(
        "PRAGMA synchronous=NORMAL;
         CREATE TABLE events (event_id TEXT PRIMARY KEY, game_id TEXT NOT NULL, user_id TEXT NOT NULL, session_id TEXT, event_type TEXT NOT NULL,
           kind TEXT NOT NULL, client_ts TEXT, received_ms INTEGER NOT NULL, properties TEXT, device TEXT);
         CREATE INDEX events_by_time ON events(game_id, received_ms);
         CREATE INDEX events_by_type ON events(game_id, event_type, received_ms);",
    )
    .await?;
    // The rows' JSON is made before the clock starts: the baseline pays for inserts only.
    let texts: Vec<(String, String)> = (0..100u64)
        .map(|k| {
            let e = seed_event("x", k);
            (e["properties"].to_string(), e["device"].to_string())
        })
        .collect();
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(args.secs) {
        let tx = conn.transaction().await?;
        {
            let stmt = tx.prepare("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)").await?;
            for (props, device) in &texts {
                stmt.execute(libsql::params![
                    uuid::Uuid::new_v4().to_string(),
                    "bench-game",
                    "user",
                    "bench-session",
                    "level_completed",
                    "event",
                    "2026-11-25T12:00:00Z",
                    chrono::Utc::now().timestamp_millis(),
                    props.clone(),
                    device.clone()
                ])
                .await?;
                stmt.reset();
            }
        }
        tx.commit().await?;
        n += 100;
    }
    let raw_eps = n as f64 / started.elapsed().as_secs_f64();
    println!("raw libSQL, 100/tx:    {raw_eps:>9.0} events/s");
    println!("ratio: {:.1} % (goal >= 50 %)", ours_eps / raw_eps * 100.0);
    Ok(json!({"events_per_s": ours_eps, "raw_events_per_s": raw_eps, "ratio": ours_eps / raw_eps, "p50_ms": ours.pct(0.5), "p99_ms": ours.pct(0.99)}))
}

/// A minimal RESP client for the Redis baseline: one command, one reply (parsed only as
/// far as needed to find its end).
struct Resp {
    r: tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Resp {
    async fn connect(addr: &str) -> anyhow::Result<Self> {
        let s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(Self { r: tokio::io::BufReader::new(r), w })
    }

    fn encode(out: &mut Vec<u8>, args: &[&str]) {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.w.write_all(bytes).await?;
        Ok(())
    }

    /// Reads one reply; returns its first line (type byte included).
    fn read_reply(&mut self) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<String>> + Send + '_>> {
        Box::pin(async move {
            use tokio::io::{AsyncBufReadExt, AsyncReadExt};
            let mut line = String::new();
            self.r.read_line(&mut line).await?;
            let head = line.trim_end().to_string();
            match head.as_bytes().first() {
                Some(b'$') => {
                    let n: i64 = head[1..].parse()?;
                    if n >= 0 {
                        let mut buf = vec![0u8; n as usize + 2];
                        self.r.read_exact(&mut buf).await?;
                    }
                }
                Some(b'*') => {
                    let n: i64 = head[1..].parse()?;
                    for _ in 0..n.max(0) {
                        self.read_reply().await?;
                    }
                }
                Some(b'-') => anyhow::bail!("redis: {head}"),
                _ => {}
            }
            Ok(head)
        })
    }

    async fn call(&mut self, args: &[&str]) -> anyhow::Result<String> {
        let mut out = Vec::new();
        Self::encode(&mut out, args);
        self.send(&out).await?;
        self.read_reply().await
    }
}

/// Runs `concurrency` Redis connections doing `op` for `secs`; ops/s and latencies.
async fn redis_load(addr: &str, secs: u64, concurrency: usize, op: fn(u64) -> Vec<Vec<String>>) -> anyhow::Result<Load> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (stop, addr) = (stop.clone(), addr.to_string());
        tasks.push(tokio::spawn(async move {
            let mut c = Resp::connect(&addr).await?;
            let (mut n, mut lat) = (0u64, Vec::new());
            let mut i = w as u64 * 7919;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                for cmd in op(i) {
                    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
                    c.call(&args).await?;
                }
                lat.push(t.elapsed().as_micros() as u64);
                n += 1;
                i += 1;
            }
            Ok::<_, anyhow::Error>((n, lat))
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut requests, mut latencies_us) = (0, Vec::new());
    for t in tasks {
        let (n, lat) = t.await??;
        requests += n;
        latencies_us.extend(lat);
    }
    Ok(Load { requests, errors: 0, secs: started.elapsed().as_secs_f64(), latencies_us })
}

/// Part `board`: a one-million-entry leaderboard read through a native edge (top 10, a
/// cached page as the edge serves it; and around-me, which ranks the player through the
/// rank index on every request) vs a bare axum route, p99 of around-me at half its top
/// rate, and Redis (Debian's redis-server) answering the same reads from a sorted set of
/// the same scores: ZREVRANGE 0 9 WITHSCORES, and ZREVRANK + ZREVRANGE around the rank.
async fn bench_board(args: &Args, origin: &Origin, game: &aethex_tests::GameFixture, http: &reqwest::Client) -> anyhow::Result<Value> {
    use aethex_protocol::replica::{RANK_INDEX_FILL, RANK_INDEX_SCHEMA, RANK_INDEX_SUSPEND};
    const N: u64 = 1_000_000;
    println!("\n== leaderboard reads on {N} entries: native edge vs axum vs Redis ==");
    let dev = game.developer.token().context("developer token")?;
    let made = http
        .post(format!("{}/api/v1/games/{}/leaderboards", origin.url, game.game_id))
        .bearer_auth(&dev)
        .json(&json!({"leaderboard_id": "global", "name": "Global"}))
        .send()
        .await?;
    anyhow::ensure!(made.status().is_success(), "creating the board: {}", made.text().await?);
    // Bulk load straight into origin's database (one transaction; the rank index filled
    // in one pass); a native edge started afterwards takes it all from its snapshot.
    let t = Instant::now();
    let mut rng = Rng::new(7);
    let scores: Vec<i64> = (0..N).map(|_| (rng.next() % 10_000_000) as i64).collect();
    {
        let db = libsql::Builder::new_local(origin.data_dir.join("aethex.db")).build().await?;
        let conn = db.connect()?;
        conn.busy_timeout(Duration::from_secs(30))?;
        // The synthetic players have entries but no accounts.
        conn.execute_batch("PRAGMA foreign_keys=OFF;").await?;
        let tx = conn.transaction_with_behavior(libsql::TransactionBehavior::Immediate).await?;
        tx.execute_batch(RANK_INDEX_SUSPEND).await?;
        {
            let stmt = tx
                .prepare(
                    "INSERT INTO leaderboard_entries (game_id, leaderboard_id, user_id, username, score, rank_score, metadata, updated_at)
                     VALUES (?1, 'global', ?2, ?3, ?4, ?5, NULL, '2026-11-25T00:00:00.000Z')",
                )
                .await?;
            for (i, s) in scores.iter().enumerate() {
                stmt.execute(libsql::params![game.game_id.clone(), format!("u{i:08}"), format!("player{i}"), *s, -*s]).await?;
                stmt.reset();
            }
        }
        tx.execute_batch(RANK_INDEX_FILL).await?;
        tx.execute_batch(RANK_INDEX_SCHEMA).await?;
        tx.commit().await?;
    }
    println!("bulk load at origin: {:.1} s", t.elapsed().as_secs_f64());
    let p = game.player().await;
    p.social().leaderboards().submit_score("global", 5_000_000).await?;
    let token = p.token().context("token")?;
    let t = Instant::now();
    let key = origin.edge_key();
    let edge = aethex_tests::edges::NativeEdge::start(&origin.url, &key, &[("AETHEX_LOG__LEVEL", "warn")]);
    aethex_tests::edges::wait_for_position(&edge.url, p.position(), Duration::from_secs(600)).await;
    println!("native edge bootstrapped from a snapshot in {:.1} s", t.elapsed().as_secs_f64());

    let (mut hello, hello_url) = start_hello()?;
    let (h, u) = (http.clone(), format!("{hello_url}/hello"));
    let base = load(args.secs, args.concurrency, move |_, _| h.get(&u)).await;
    let (h, u, tk) = (http.clone(), format!("{}/api/v1/leaderboards/global?limit=10", edge.url), token.clone());
    let top = load(args.secs, args.concurrency, move |_, _| h.get(&u).bearer_auth(&tk)).await;
    let (h, u, tk) = (http.clone(), format!("{}/api/v1/leaderboards/global/around-me?limit=10", edge.url), token.clone());
    let around = load(args.secs, args.concurrency, move |_, _| h.get(&u).bearer_auth(&tk)).await;
    let probe: Value =
        http.get(format!("{}/api/v1/leaderboards/global/around-me?limit=3", edge.url)).bearer_auth(&token).send().await?.json().await?;
    let half_rate = around.rps() / 2.0;
    let (h, u, tk) = (http.clone(), format!("{}/api/v1/leaderboards/global/around-me?limit=10", edge.url), token.clone());
    let half = paced(half_rate, args.secs, args.concurrency, move |_, _| h.get(&u).bearer_auth(&tk)).await;
    let (h, u) = (http.clone(), format!("{hello_url}/hello"));
    let hello_half = paced(half_rate, args.secs, args.concurrency, move |_, _| h.get(&u)).await;
    let _ = hello.kill();
    println!("hello world GET (axum):        {:>8.0} req/s  p99 {:.2} ms", base.rps(), base.pct(0.99));
    println!(
        "edge top 10 (cached page):     {:>8.0} req/s  p99 {:.2} ms  = {:.1} % of hello (goal >= 50 %)",
        top.rps(),
        top.pct(0.99),
        top.rps() / base.rps() * 100.0
    );
    println!(
        "edge around-me (ranked):       {:>8.0} req/s  p99 {:.2} ms  = {:.1} % of hello (goal >= 50 %)  errors {}",
        around.rps(),
        around.pct(0.99),
        around.rps() / base.rps() * 100.0,
        around.errors
    );
    println!(
        "  my rank: {}",
        probe["entries"]
            .as_array()
            .and_then(|e| e.iter().find(|x| x["user_id"] == p.user_id().unwrap_or_default().as_str()))
            .map(|x| x["rank"].to_string())
            .unwrap_or("?".into())
    );
    println!(
        "around-me at half load ({half_rate:.0}/s): p50 {:.2} ms  p99 {:.2} ms (goal <= 2 ms); hello at that rate p99 {:.2} ms",
        half.pct(0.5),
        half.pct(0.99),
        hello_half.pct(0.99)
    );

    // Redis: the same scores in a sorted set.
    let mut redis_out = Value::Null;
    match ensure_tool("redis-server", "redis-server") {
        Err(e) => println!("redis baseline skipped: {e:#}"),
        Ok(bin) => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let mut child = std::process::Command::new(bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"])
                .stdout(std::process::Stdio::null())
                .spawn()?;
            let addr = format!("127.0.0.1:{port}");
            let mut c = loop {
                if let Ok(c) = Resp::connect(&addr).await {
                    break c;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let t = Instant::now();
            for chunk in scores.chunks(1000).enumerate() {
                let (ci, part) = chunk;
                let mut args = vec!["ZADD".to_string(), "board".to_string()];
                for (k, s) in part.iter().enumerate() {
                    args.push(s.to_string());
                    args.push(format!("u{:08}", ci * 1000 + k));
                }
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                c.call(&refs).await?;
            }
            c.call(&["ZADD", "board", "5000000", "me"]).await?;
            println!("redis ZADD of {N} members: {:.1} s", t.elapsed().as_secs_f64());
            let rtop = redis_load(&addr, args.secs, args.concurrency, |_| {
                vec![vec!["ZREVRANGE".into(), "board".into(), "0".into(), "9".into(), "WITHSCORES".into()]]
            })
            .await?;
            let raround = redis_load(&addr, args.secs, args.concurrency, |_| {
                vec![
                    vec!["ZREVRANK".into(), "board".into(), "me".into()],
                    vec!["ZREVRANGE".into(), "board".into(), "500000".into(), "500010".into(), "WITHSCORES".into()],
                ]
            })
            .await?;
            let _ = child.kill();
            let _ = child.wait();
            println!("redis ZREVRANGE top 10:        {:>8.0} ops/s  p99 {:.2} ms", rtop.rps(), rtop.pct(0.99));
            println!("redis ZREVRANK + ZREVRANGE:    {:>8.0} ops/s  p99 {:.2} ms", raround.rps(), raround.pct(0.99));
            println!("edge / redis: top {:.1} %, around-me {:.1} %", top.rps() / rtop.rps() * 100.0, around.rps() / raround.rps() * 100.0);
            redis_out = json!({"top_ops": rtop.rps(), "top_p99_ms": rtop.pct(0.99), "around_ops": raround.rps(), "around_p99_ms": raround.pct(0.99)});
        }
    }
    Ok(json!({"entries": N, "hello_rps": base.rps(), "edge_top_rps": top.rps(), "edge_top_p99_ms": top.pct(0.99), "edge_around_rps": around.rps(),
        "edge_around_p99_ms": around.pct(0.99), "half_rate": half_rate, "half_p50_ms": half.pct(0.5), "half_p99_ms": half.pct(0.99),
        "hello_half_p99_ms": hello_half.pct(0.99), "redis": redis_out}))
}
