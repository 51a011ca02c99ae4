//! Part `serve`: chunks served from a native edge's cache against nginx serving the same bytes.

use crate::prelude::*;

/// nginx serving a folder as static files on 127.0.0.1: a child process (`daemon off`,
/// master + `workers` workers) with a generated config, logs and pid file in its own
/// temporary folder. Dropping it sends SIGTERM (the master stops its workers) and waits.
pub(crate) struct Nginx {
    pub(crate) child: Option<std::process::Child>,
    pub(crate) url: String,
    pub(crate) dir: tempfile::TempDir,
}

impl Nginx {
    pub(crate) fn start(nginx: &std::path::Path, root: &std::path::Path, workers: usize) -> anyhow::Result<Self> {
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

    pub(crate) fn pid(&self) -> u32 {
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

/// Part `serve`: a published release's chunks (~200 of them, evenly spread over its chunk
/// table) from a native edge's cache vs nginx serving the same stored bytes as static
/// files at the same paths; same client, concurrency and URL rotation, alternating runs.
pub(crate) async fn bench_serve(args: &Args, origin: &Origin, game: &aethex_tests::GameFixture, http: &reqwest::Client) -> anyhow::Result<Value> {
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
