//! Load generation and the baselines every part shares: a closed-loop load (`load`), a paced one at a fixed rate (`paced`), one with the CPU of the servers under test (`load_cpu`), and the hello-world axum server.

use crate::prelude::*;

/// What the parts that measure against a running origin are given.
#[derive(Clone, Copy)]
pub(crate) struct Bench<'a> {
    pub(crate) args: &'a Args,
    pub(crate) origin: &'a Origin,
    pub(crate) game: &'a GameFixture,
    pub(crate) http: &'a reqwest::Client,
}

/// The baseline server: axum, tokio multi-thread, one route answering a constant.
pub(crate) async fn hello_server() -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/hello",
        axum::routing::post(|| async { axum::Json(json!({"hello": "world"})) }).get(|| async { axum::Json(json!({"hello": "world"})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

pub(crate) struct Load {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) secs: f64,
    pub(crate) latencies_us: Vec<u64>,
}

impl Load {
    pub(crate) fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }
    pub(crate) fn pct(&self, p: f64) -> f64 {
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
pub(crate) async fn load<F>(secs: u64, concurrency: usize, make: F) -> Load
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

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(1024).build().expect("client")
}

pub(crate) fn release_bin(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let p = exe.parent().context("exe dir")?.join(name);
    anyhow::ensure!(p.exists(), "{} not found; build it: cargo build --release --bin {name}", p.display());
    Ok(p)
}

/// Starts the hello-world baseline in another process; returns it and its URL.
pub(crate) fn start_hello() -> anyhow::Result<(std::process::Child, String)> {
    use std::io::BufRead;
    let mut hello = std::process::Command::new(std::env::current_exe()?).arg("--hello").stdout(std::process::Stdio::piped()).spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(hello.stdout.take().context("stdout")?).read_line(&mut line)?;
    Ok((hello, line.trim().trim_start_matches("listening on ").to_string()))
}

/// Sends requests at a fixed total `rate` for `secs` from `concurrency` paced workers.
/// Latency counts from each request's scheduled start, so a slow answer that delays the
/// next request is charged to it (no coordinated omission).
pub(crate) async fn paced<F>(rate: f64, secs: u64, concurrency: usize, make: F) -> Load
where
    F: Fn(usize, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    paced_both(rate, secs, concurrency, make).await.0
}

/// [`paced`], and beside it the latencies measured from each request's actual send (the
/// first from its intended send time includes how late tokio's timer, of 1 ms
/// granularity, woke the sender: a floor of about 1 ms under any server).
pub(crate) async fn paced_both<F>(rate: f64, secs: u64, concurrency: usize, make: F) -> (Load, Load)
where
    F: Fn(usize, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let sent_lat = Arc::new(Mutex::new(Vec::new()));
    let interval = Duration::from_secs_f64(concurrency as f64 / rate);
    let started = tokio::time::Instant::now();
    let end = started + Duration::from_secs(secs);
    let (ok, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (make, ok, bad, lat, sent_lat) = (make.clone(), ok.clone(), bad.clone(), lat.clone(), sent_lat.clone());
        let first = started + interval.mul_f64(w as f64 / concurrency as f64);
        tasks.push(tokio::spawn(async move {
            let (mut mine, mut mine_sent) = (Vec::new(), Vec::new());
            let mut i = 0u64;
            let mut at = first;
            while at < end {
                tokio::time::sleep_until(at).await;
                let sent = Instant::now();
                match make(w, i).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                        mine.push(at.elapsed().as_micros() as u64);
                        mine_sent.push(sent.elapsed().as_micros() as u64);
                    }
                    _ => {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
                at += interval;
            }
            lat.lock().unwrap().extend(mine);
            sent_lat.lock().unwrap().extend(mine_sent);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let (requests, errors, secs) = (ok.load(Ordering::Relaxed), bad.load(Ordering::Relaxed), started.elapsed().as_secs_f64());
    let latencies_us = std::mem::take(&mut *lat.lock().unwrap());
    let sent_us = std::mem::take(&mut *sent_lat.lock().unwrap());
    (Load { requests, errors, secs, latencies_us }, Load { requests, errors, secs, latencies_us: sent_us })
}

/// `pid` and its direct children (nginx's master and workers).
pub(crate) fn with_children(pid: u32) -> Vec<u32> {
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

/// A closed-loop run (see [`load`]) with the CPU seconds the server processes (`pids`) and
/// this process (the load generator) used meanwhile.
pub(crate) async fn load_cpu<F>(pids: &[u32], secs: u64, concurrency: usize, make: F) -> (Load, f64, f64)
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
