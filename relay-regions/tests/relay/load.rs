//! A load run (ignored by default; run it against a release build):
//!
//! ```sh
//! cargo build --release -p aethex-relay
//! AETHEX_RELAY_BIN=$CARGO_TARGET_DIR/release/aethex-relay LOAD_ROOMS=100 LOAD_SECS=20 \
//!   cargo test --release -p aethex-relay --test relay load -- --ignored --nocapture
//! ```
//!
//! Rooms of 10 players; every player sends a `state_update` at 20 Hz carrying its send
//! time (and, before it, an `ack` of the newest batch it read, as the SDK acknowledges),
//! and records for every other player's state it receives the time from that player's
//! send to the batch's arrival (one clock: same machine). Prints p50/p99/max latency, the
//! relay's CPU time and resident memory. The generator shares the machine's cores with
//! the relay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aethex_protocol::multiplayer::{ClientMessage, Encoding, ServerMessage};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks: f64 =
        fields.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) + fields.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load run: see the module doc"]
async fn load_rooms_of_ten_at_20_hz() {
    let rooms = env_num("LOAD_ROOMS", 50) as usize;
    let secs = env_num("LOAD_SECS", 15);
    let encoding = if std::env::var("LOAD_MSGPACK").is_ok() { Encoding::Msgpack } else { Encoding::Json };
    let w = World::start(&[("AETHEX_RELAY__CAPACITY", "100000"), ("AETHEX_LIMITS__MAX_ROOMS", "100000")]).await;
    let pid = w.relay.proc.pid();
    // Ten players; player k takes seat k of every room.
    let mut players = Vec::new();
    for _ in 0..10 {
        players.push(w.player().await);
    }
    let start = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::<u32>::with_capacity(1 << 20)));
    let mut tasks = Vec::new();
    let mut clients = Vec::new();
    for r in 0..rooms {
        let mut host = Client::connect(&w.relay, &players[0].token, encoding).await;
        let code = code_of(&host.create_room(10, None).await);
        clients.push(host);
        for p in &players[1..] {
            let mut c = Client::connect(&w.relay, &p.token, encoding).await;
            c.join_code(&code, None).await;
            clients.push(c);
        }
        if r % 20 == 19 {
            println!("{} rooms open", r + 1);
        }
    }
    let rss_loaded_idle = rss_kib(pid);
    let cpu0 = cpu_secs(pid);
    let run_until = Instant::now() + Duration::from_secs(secs);
    let measure_from = Instant::now() + Duration::from_secs(2);
    for c in clients {
        let samples = samples.clone();
        let (mut tx, mut rx) = c.ws.split();
        let enc = c.encoding;
        let newest = Arc::new(AtomicU64::new(0));
        let newest_w = newest.clone();
        // Writer: 20 Hz updates with the send time (µs since start), spread over the period.
        let offset = Duration::from_micros(rand_offset());
        let writer = tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut every = tokio::time::interval(Duration::from_millis(50));
            let mut n = 0u64;
            let mut acked = 0;
            while Instant::now() < run_until {
                every.tick().await;
                n += 1;
                let tick = newest_w.load(Ordering::Relaxed);
                if tick > acked {
                    acked = tick;
                    if tx.send(encode(&ClientMessage::Ack { tick }, enc)).await.is_err() {
                        break;
                    }
                }
                let t = start.elapsed().as_micros() as u64;
                let m = ClientMessage::StateUpdate {
                    timestamp: t,
                    data: json!({"pos": {"x": n, "y": 2, "z": 3}, "rot": 45, "t": t}).as_object().cloned().unwrap(),
                };
                if tx.send(encode(&m, enc)).await.is_err() {
                    break;
                }
            }
            tx
        });
        let reader = tokio::spawn(async move {
            let mut local = Vec::with_capacity(4096);
            while Instant::now() < run_until {
                let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(1), rx.next()).await else { continue };
                let now = start.elapsed().as_micros() as u64;
                let msg: ServerMessage = match frame {
                    Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
                    Message::Binary(b) => rmp_serde::from_slice(&b).unwrap(),
                    _ => continue,
                };
                if let ServerMessage::StateBatch { tick, states } = msg {
                    newest.store(tick, Ordering::Relaxed);
                    if Instant::now() >= measure_from {
                        for s in states {
                            if let Some(t) = s.data.get("t").and_then(|v| v.as_u64()) {
                                local.push(((now.saturating_sub(t)) / 100) as u32);
                            }
                        }
                    }
                }
            }
            samples.lock().unwrap().extend(local);
        });
        tasks.push((writer, reader));
    }
    let mut lat = Vec::new();
    for (w_, r_) in tasks {
        let _ = w_.await;
        let _ = r_.await;
    }
    lat.extend(samples.lock().unwrap().iter().copied());
    let cpu = cpu_secs(pid) - cpu0;
    lat.sort_unstable();
    let pct = |p: f64| lat.get(((lat.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0) as f64 / 10.0;
    println!(
        "{} players in {rooms} rooms, {secs} s: {} samples, latency ms p50 {:.1} p99 {:.1} max {:.1}; relay CPU {:.2} s ({:.0}% of one core); RSS {} KiB loaded idle, {} KiB at the end",
        rooms * 10,
        lat.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        cpu,
        cpu / secs as f64 * 100.0,
        rss_loaded_idle,
        rss_kib(pid)
    );
}

fn rand_offset() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(1);
    h.finish() % 50_000
}
