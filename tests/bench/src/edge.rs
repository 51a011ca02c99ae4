//! Parts `edge`, `lag` and `wasm`: the native edge against hello world, replication lag under a steady write load, and the sizes of the wasm edges.

use crate::prelude::*;

/// Raw and gzip -9 sizes of a file.
pub(crate) fn sizes(path: &std::path::Path) -> Option<(u64, u64)> {
    let raw = std::fs::metadata(path).ok()?.len();
    let out = std::process::Command::new("sh").arg("-c").arg(format!("gzip -9 -c '{}' | wc -c", path.display())).output().ok()?;
    Some((raw, String::from_utf8_lossy(&out.stdout).trim().parse().ok()?))
}

/// 5. The native edge: auth check + save metadata read from the replica, vs hello world.
pub(crate) async fn edge(b: &Bench<'_>, report: &mut Map<String, Value>) -> anyhow::Result<()> {
    let Bench { args, origin, game, http } = *b;
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
    Ok(())
}

/// 6. Replication lag under a steady write load: time from a write's answer (with its
///    position) until the edge reports that position applied.
pub(crate) async fn lag(args: &Args, origin: &Origin, game: &GameFixture, report: &mut Map<String, Value>) -> anyhow::Result<()> {
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
    Ok(())
}

/// 7. Sizes of the wasm edges as built by scripts/build-edge-*.sh.
pub(crate) async fn wasm(report: &mut Map<String, Value>) -> anyhow::Result<()> {
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
    Ok(())
}
