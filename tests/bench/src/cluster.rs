//! Part `cluster`: device logins and 100 KB saves on one origin on the local file, one
//! origin on sqld, and three origins on sqld behind HAProxy (with Redis), in one run on
//! the same machine (so this shows the overhead of the remote primary and the balancer
//! more than any speed-up); then the write stall when an origin dies mid-load; and the
//! resident memory of every process.
//!
//! The local file and sqld login runs alternate for `--rounds` rounds (the machine's
//! speed drifts between runs); the ratio reported is the median of the rounds' ratios.
//! With two or more cores the load generator runs on CPU 0 and every server process
//! (origins, sqld, Redis, HAProxy) on the others, so each setup gets the same CPUs.

use crate::prelude::*;

use aethex_tests::haproxy::HaProxy;
use aethex_tests::sqld::Sqld;

const ENV: &[(&str, &str)] = &[
    ("AETHEX_AUTH__RATE_LIMIT_PER_IP_PER_MINUTE", "100000000"),
    ("AETHEX_AUTH__RATE_LIMIT_PER_ACCOUNT_PER_MINUTE", "100000000"),
    ("AETHEX_LOG__LEVEL", "warn"),
];

/// A game of an origin or cluster with 256 returning guests, ready for the runs.
struct Target {
    url: String,
    client_key: String,
    devices: Arc<Vec<String>>,
    tokens: Arc<Vec<String>>,
    /// The server processes whose CPU a run counts.
    pids: Vec<u32>,
}

impl Target {
    async fn new(url: &str, game: &GameFixture, pids: Vec<u32>) -> anyhow::Result<Self> {
        let devices: Arc<Vec<String>> = Arc::new((0..256).map(|i| format!("cluster-bench-{i:08}-xxxxxxxx")).collect());
        let mut tokens = Vec::new();
        for d in devices.iter() {
            let c = aethex_tests::aethex_sdk::AeThexCloud::new(url).with_client_key(&game.client_key);
            c.auth().login_device(d).await?;
            tokens.push(c.token().context("token")?);
        }
        Ok(Self { url: url.to_string(), client_key: game.client_key.clone(), devices, tokens: Arc::new(tokens), pids })
    }

    /// Device logins of the returning guests: the run and the CPU (ms) per login of each
    /// server process (in the order of `pids`).
    async fn logins(&self, args: &Args, http: &reqwest::Client) -> (Load, Vec<f64>) {
        let (h, u, ck, dv) = (http.clone(), format!("{}/api/v1/auth/device", self.url), self.client_key.clone(), self.devices.clone());
        let before: Vec<f64> = self.pids.iter().map(|p| cpu_secs(*p).unwrap_or(0.0)).collect();
        let run = load(args.secs, args.concurrency, move |w, i| {
            h.post(&u).header("x-aethex-client-key", &ck).json(&json!({"device_id": dv[(w * 7919 + i as usize) % dv.len()]}))
        })
        .await;
        let n = run.requests.max(1) as f64;
        let per_login = self.pids.iter().zip(before).map(|(p, b)| (cpu_secs(*p).unwrap_or(0.0) - b) * 1000.0 / n).collect();
        (run, per_login)
    }

    /// 100 KB saves, each guest to four slots in turn.
    async fn saves(&self, args: &Args, http: &reqwest::Client) -> Load {
        let blob = Arc::new("x".repeat(100 * 1024));
        let (h, u, tk, b) = (http.clone(), format!("{}/api/v1/saves/me", self.url), self.tokens.clone(), blob.clone());
        load(args.secs, args.concurrency, move |w, i| {
            h.post(&u).bearer_auth(&tk[w % tk.len()]).json(&json!({"slot_name": format!("slot-{}", i % 4), "data": {"blob": *b}}))
        })
        .await
    }
}

fn report(label: &str, logins: &Load, login_cpu: &[f64], saves: &Load) -> Value {
    let login_cpu_ms: f64 = login_cpu.iter().sum();
    println!(
        "{label:<34} logins {:>7.0}/s p99 {:>6.1} ms errors {:<4} ({login_cpu_ms:.2} ms server CPU each)  100 KB saves {:>6.0}/s p99 {:>6.1} ms errors {}",
        logins.rps(),
        logins.pct(0.99),
        logins.errors,
        saves.rps(),
        saves.pct(0.99),
        saves.errors
    );
    json!({
        "login_rps": logins.rps(), "login_p99_ms": logins.pct(0.99), "login_errors": logins.errors, "login_server_cpu_ms": login_cpu_ms,
        "save_rps": saves.rps(), "save_p99_ms": saves.pct(0.99), "save_errors": saves.errors,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub(crate) async fn bench_cluster(b: &Bench<'_>) -> anyhow::Result<Value> {
    let Bench { args, origin, game, http } = *b;
    let mut out = Map::new();
    println!("cluster: {} connections, {} s per run, {} rounds of logins", args.concurrency, args.secs, args.rounds);
    let split = if args.no_pin { None } else { cpu_split() };
    let pin_servers = |pids: &[u32]| -> anyhow::Result<()> {
        if let Some((_, servers)) = &split {
            for p in pids {
                pin(*p, servers)?;
            }
        }
        Ok(())
    };
    if let Some((generator, servers)) = &split {
        pin(std::process::id(), generator)?;
        println!("pinned: load generator on CPU {generator}, servers on CPU {servers}");
    }
    out.insert("pinned".into(), json!(split.as_ref().map(|(g, s)| json!({"generator": g, "servers": s}))));
    pin_servers(&[origin.pid()])?;
    let local = Target::new(&origin.url, game, vec![origin.pid()]).await?;
    let sqld = Arc::new(Sqld::start());
    let one = Origin::start_on(&sqld, ENV);
    pin_servers(&[sqld.pid(), one.pid()])?;
    let one_game = one.game("cluster-bench").await;
    let remote = Target::new(&one.url, &one_game, vec![one.pid(), sqld.pid()]).await?;
    let (mut ratios, mut runs) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds.max(1) {
        let (l, lc) = local.logins(args, http).await;
        let (r, rc) = remote.logins(args, http).await;
        let ratio = r.rps() / l.rps().max(1e-9);
        println!(
            "  round {round}: device logins, local file {:>6.0}/s ({:.2} ms CPU each), sqld {:>6.0}/s ({:.2} ms origin + {:.2} ms sqld CPU each), errors {} / {}: {:.0}%",
            l.rps(),
            lc[0],
            r.rps(),
            rc[0],
            rc[1],
            l.errors,
            r.errors,
            ratio * 100.0
        );
        ratios.push(ratio);
        runs.push((l, lc, r, rc));
    }
    let m = median(ratios.clone());
    // The round with the median ratio stands for both.
    let (l, lc, r, rc) = runs.swap_remove(ratios.iter().position(|x| *x == m).unwrap_or(0));
    let ls = local.saves(args, http).await;
    let rs = remote.saves(args, http).await;
    out.insert("local_file".into(), report("1 origin, local file", &l, &lc, &ls));
    out.insert("sqld_one_origin".into(), report("1 origin, sqld", &r, &rc, &rs));
    println!("device logins on sqld / local file: median {:.0}% of {} rounds (goal >= 50%)", m * 100.0, ratios.len());
    out.insert("login_ratio_sqld_to_local".into(), json!({"median": m, "rounds": ratios}));
    let mut rss = Map::new();
    rss.insert("origin_on_sqld_kib".into(), json!(rss_kib(one.pid())));
    drop(one);

    let sqld3 = Arc::new(Sqld::start());
    let redis = aethex_tests::redis::Redis::start();
    let mut env = ENV.to_vec();
    env.push(("AETHEX_CLUSTER__REDIS_URL", redis.url.as_str()));
    let mut origins = Origin::start_cluster(&sqld3, 3, &env);
    let lb = HaProxy::start(&origins.iter().map(|o| o.url.clone()).collect::<Vec<_>>());
    let game3 = origins[0].game("cluster-bench").await;
    let mut pids: Vec<u32> = origins.iter().map(|o| o.pid()).collect();
    pids.extend([sqld3.pid(), lb.pid(), redis.pid()]);
    pin_servers(&pids)?;
    let three = Target::new(&lb.url, &game3, pids).await?;
    let (l3, c3) = three.logins(args, http).await;
    let s3 = three.saves(args, http).await;
    out.insert("sqld_three_origins_haproxy".into(), report("3 origins, sqld, HAProxy", &l3, &c3, &s3));
    for (i, o) in origins.iter().enumerate() {
        rss.insert(format!("cluster_origin_{i}_kib"), json!(rss_kib(o.pid())));
    }
    rss.insert("sqld_kib".into(), json!(rss_kib(sqld3.pid())));
    rss.insert("redis_kib".into(), json!(rss_kib(redis.pid())));
    rss.insert("haproxy_kib".into(), json!(rss_kib(lb.pid())));
    rss.insert("origin_local_file_kib".into(), json!(rss_kib(origin.pid())));

    // The write stall: saves through the balancer; one origin is killed a third of the way.
    let c = aethex_tests::aethex_sdk::AeThexCloud::new(&lb.url).with_client_key(&game3.client_key);
    c.auth().login_device("cluster-bench-stall-0001").await?;
    let token = c.token().context("token")?;
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<(f64, f64, bool)>::new()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.concurrency.min(16) {
        let (h, u, t, stop, samples) = (http.clone(), format!("{}/api/v1/saves/me", lb.url), token.clone(), stop.clone(), samples.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let at = started.elapsed().as_secs_f64();
                let sent = Instant::now();
                let ok = h
                    .post(&u)
                    .bearer_auth(&t)
                    .timeout(Duration::from_secs(30))
                    .json(&json!({"slot_name": format!("stall-{w}"), "data": {"i": i}}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                samples.lock().unwrap().push((at, sent.elapsed().as_secs_f64() * 1000.0, ok));
                i += 1;
            }
        }));
    }
    let secs = args.secs.max(6) as f64;
    tokio::time::sleep(Duration::from_secs_f64(secs / 3.0)).await;
    let killed_at = started.elapsed().as_secs_f64();
    origins[1].kill();
    tokio::time::sleep(Duration::from_secs_f64(secs * 2.0 / 3.0)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let before: Vec<f64> = samples.iter().filter(|s| s.0 + s.1 / 1000.0 < killed_at && s.2).map(|s| s.1).collect();
    let around: Vec<&(f64, f64, bool)> = samples.iter().filter(|s| s.0 <= killed_at && s.0 + s.1 / 1000.0 >= killed_at).collect();
    let after_ok = samples.iter().filter(|s| s.0 > killed_at && s.2).count();
    let failed = samples.iter().filter(|s| !s.2).count();
    let stall_ms = samples.iter().filter(|s| s.0 + s.1 / 1000.0 >= killed_at && s.2).map(|s| s.1).fold(0.0, f64::max);
    let p99_before = {
        let mut v = before.clone();
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64) * 0.99) as usize).copied().unwrap_or(0.0)
    };
    println!(
        "write stall when an origin dies: slowest acknowledged save {stall_ms:.0} ms (p99 before the kill {p99_before:.1} ms); {} in flight at the kill, {failed} failed, {after_ok} acknowledged after it",
        around.len()
    );
    out.insert(
        "origin_killed".into(),
        json!({"slowest_ack_ms": stall_ms, "p99_before_ms": p99_before, "in_flight": around.len(), "failed": failed, "ok_after": after_ok}),
    );
    if split.is_some() {
        // The parts after this one run unpinned.
        let all = format!("0-{}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) - 1);
        pin(std::process::id(), &all)?;
        pin(origin.pid(), &all)?;
    }
    println!("RSS (KiB): {}", Value::Object(rss.clone()));
    out.insert("rss_kib".into(), Value::Object(rss));
    Ok(Value::Object(out))
}
