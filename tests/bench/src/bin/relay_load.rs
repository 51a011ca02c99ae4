//! `aethex-relay-load`: the multiplayer load tool. Opens N WebSocket clients in rooms of
//! 10; every client sends its state at 20 Hz and reads the room's batches; reports, per
//! step of N, the clients held, messages/s, end-to-end latency (a player's send to the
//! arrival of its state at every other member: one clock, one machine) and the server's
//! resident memory and CPU. The same generator drives aethex-relay and, as the baseline
//! in the same run, Colyseus with an equivalent relay room (`relay-regions/bench/colyseus`).
//!
//! ```sh
//! cargo build --release --bin aethex --bin aethex-relay --bin aethex-relay-load
//! ~/.cache/aethex-target/release/aethex-relay-load                       # both, default steps
//! ~/.cache/aethex-target/release/aethex-relay-load --steps 500,1000,2000 --only colyseus
//! ```
//!
//! - Equivalence: both servers merge each player's fields and send the changed ones on a
//!   20 Hz tick; clients send `{pos, rot, t}` once, then `{pos, t}` (what changed). aethex
//!   clients acknowledge batches as the SDK does while streaming (the newest batch's tick
//!   rides on the next `state_update`); both use MessagePack. Colyseus encodes one batch per room
//!   (broadcast), aethex-relay one per recipient (each gets what it has not acknowledged).
//! - "Held" at a step: clients still connected at its end that received states in its
//!   measuring window; the CCU a server holds at the bound is the largest step with every
//!   client held, p99 within `--bound-ms` (default 100 ms: a 20 Hz tick alone makes
//!   ~50 ms of waiting a floor for both) and at least `--min-delivery` (95 %) of the
//!   states 20 Hz promises delivered (a server that falls behind its tick merges updates
//!   and sends fewer batches: low latency, fewer updates).
//! - Idle memory: `--idle` clients seated in rooms of 10 that send nothing; the server's
//!   RSS growth divided by their number.
//! - Colyseus is installed (pinned) under `~/.cache/aethex-tools/colyseus-0.18.17` with npm
//!   on first use.
//! - Fair on two or more cores: the server under test runs pinned to one core (CPU 1) and
//!   this load generator (with origin, idle during the steps) to another (CPU 0), for both
//!   servers (`--no-pin` shares the cores instead). Per step it reports the server's CPU
//!   microseconds per delivered state update (CPU seconds in the window / states received
//!   by clients), and the generator's own CPU share, so a step the generator could not
//!   drive shows as such. After the stepping, one step (`--single-thread-step`, default
//!   1,000 clients) runs against a relay with a single tokio worker thread.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aethex_protocol::multiplayer::{ClientMessage, Encoding, RoomOptions, ServerMessage};
use anyhow::{anyhow, bail, Context};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const COLYSEUS_DIR: &str = "colyseus-0.18.17";
const ROOM: usize = 10;
/// Rooms opened at once.
const OPEN_PARALLEL: usize = 5;

#[derive(Parser, Clone)]
#[command(about = "Rooms of 10 at 20 Hz against aethex-relay and Colyseus: CCU held, messages/s, p50/p99, RSS per connection")]
struct Args {
    /// Client counts to step through (multiples of 10).
    #[arg(long, default_value = "500,1000,2000,3000,4000,5000")]
    steps: String,
    /// Seconds measured at each step (after `--warmup`).
    #[arg(long, default_value_t = 8)]
    secs: u64,
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// p99 bound (ms) for "held".
    #[arg(long, default_value_t = 100.0)]
    bound_ms: f64,
    /// Idle seated clients for the memory figure (0: skip).
    #[arg(long, default_value_t = 4000)]
    idle: usize,
    /// `aethex` or `colyseus` (default: both).
    #[arg(long)]
    only: Option<String>,
    /// Least share of the expected states (9 others x 20 Hz) that must arrive for a step
    /// to count as held: a server that cannot keep its 20 Hz tick merges updates and sends
    /// fewer batches, which keeps p99 low while the game gets fewer updates.
    #[arg(long, default_value_t = 0.95)]
    min_delivery: f64,
    /// Worker threads of the relay's runtime (`TOKIO_WORKER_THREADS`; default: one per core).
    #[arg(long)]
    relay_threads: Option<usize>,
    /// Go on stepping a server after a step it did not hold (default: stop there).
    #[arg(long)]
    keep_going: bool,
    /// Do not pin the server under test and the load generator to different cores.
    #[arg(long)]
    no_pin: bool,
    /// Clients of the extra step against a relay on a single worker thread (0: skip).
    #[arg(long, default_value_t = 1000)]
    single_thread_step: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The servers under test are this binary's siblings (`target/release/`).
    if std::env::var("AETHEX_BIN").is_err() {
        let exe = std::env::current_exe()?;
        std::env::set_var("AETHEX_BIN", exe.with_file_name("aethex"));
    }
    // Two worker threads, pinned or not (one on its core measured no cheaper).
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(run(args))
}

/// How clients reach a server.
#[derive(Clone)]
enum Target {
    Aethex { ws_url: String, tokens: Arc<Vec<String>> },
    Colyseus { http: String, ws: String },
}

#[derive(Default, Clone)]
struct StepResult {
    clients: usize,
    connect_secs: f64,
    held: usize,
    sent_per_sec: f64,
    recv_per_sec: f64,
    states_per_sec: f64,
    /// States received / states expected (9 others x 20 Hz).
    delivery: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    rss_kib: u64,
    cpu_share: f64,
    /// Server CPU microseconds per state update delivered to a client.
    cpu_us_per_state: f64,
    /// The load generator's CPU share (of one core) in the window.
    generator_share: f64,
}

/// The cores of the generator and of the server under test, when they are kept apart.
/// Decided once, before anything is pinned (a pinned process sees only its own cores).
fn split(args: &Args) -> Option<(String, String)> {
    static SPLIT: std::sync::OnceLock<Option<(String, String)>> = std::sync::OnceLock::new();
    let split =
        SPLIT.get_or_init(|| aethex_tests::cpu_split().map(|(generator, servers)| (generator, servers.split('-').next().unwrap_or("1").to_string())));
    if args.no_pin {
        None
    } else {
        split.clone()
    }
}

/// Pins the server under test to its core and this process (and `others`) to the generator's.
fn pin_apart(args: &Args, server: u32, others: &[u32]) -> anyhow::Result<()> {
    if let Some((generator, server_cpu)) = split(args) {
        aethex_tests::pin(server, &server_cpu)?;
        for p in others.iter().copied().chain([std::process::id()]) {
            aethex_tests::pin(p, &generator)?;
        }
        println!("pinned: server (pid {server}) on CPU {server_cpu}, load generator on CPU {generator}");
    }
    Ok(())
}

async fn start_relay(origin: &aethex_tests::Origin, threads: Option<usize>, game: &str) -> anyhow::Result<(aethex_tests::relays::Relay, Target)> {
    let threads = threads.map(|n| n.to_string());
    // Every simulated client connects from 127.0.0.1: lift the per-address pre-auth cap.
    let mut env = vec![
        ("AETHEX_RELAY__CAPACITY", "1000000"),
        ("AETHEX_LIMITS__MAX_ROOMS", "1000000"),
        ("AETHEX_LIMITS__MAX_ROOMS_PER_PLAYER", "1000000"),
        ("AETHEX_LIMITS__MAX_SEATS_PER_PLAYER", "1000000"),
        ("AETHEX_LIMITS__MAX_PREAUTH_PER_ADDRESS", "1000000"),
        ("AETHEX_RELAY__HEARTBEAT_SECS", "5"),
    ];
    if let Some(n) = &threads {
        env.push(("TOKIO_WORKER_THREADS", n.as_str()));
    }
    let relay = aethex_tests::relays::Relay::start(origin, "load", &env);
    let game = origin.game(game).await;
    let mut tokens = Vec::new();
    for _ in 0..ROOM {
        tokens.push(game.player().await.token().context("player token")?);
    }
    let ws_url = format!("{}{}", relay.url.replacen("http://", "ws://", 1), aethex_protocol::multiplayer::RELAY_WS_PATH);
    Ok((relay, Target::Aethex { ws_url, tokens: Arc::new(tokens) }))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let steps: Vec<usize> = args.steps.split(',').map(|s| s.trim().parse::<usize>().map(|n| n.div_ceil(ROOM) * ROOM)).collect::<Result<_, _>>()?;
    let want = |name: &str| args.only.as_deref().is_none_or(|o| o == name);
    let mut report = Map::new();
    split(&args);
    if want("aethex") {
        let origin = aethex_tests::Origin::start(&[]);
        let (relay, target) = start_relay(&origin, args.relay_threads, "load-game").await?;
        pin_apart(&args, relay.pid(), &[origin.pid()])?;
        report.insert("aethex".into(), measure("aethex-relay", &target, relay.pid(), &steps, &args).await?);
        drop(relay);
        if args.single_thread_step > 0 {
            let (relay, target) = start_relay(&origin, Some(1), "load-game-one-thread").await?;
            pin_apart(&args, relay.pid(), &[])?;
            let one = Args { idle: 0, keep_going: true, ..args.clone() };
            let n = args.single_thread_step.div_ceil(ROOM) * ROOM;
            report.insert("aethex_single_thread".into(), measure("aethex-relay, one worker thread", &target, relay.pid(), &[n], &one).await?);
        }
    }
    if want("colyseus") {
        let (child, port) = start_colyseus()?;
        let _guard = KillOnDrop(child);
        pin_apart(&args, _guard.0.id(), &[])?;
        let target = Target::Colyseus { http: format!("http://127.0.0.1:{port}"), ws: format!("ws://127.0.0.1:{port}") };
        report.insert("colyseus".into(), measure("colyseus", &target, _guard.0.id(), &steps, &args).await?);
    }
    if let (Some(a), Some(c)) = (report.get("aethex"), report.get("colyseus")) {
        let (a, c) = (a["ccu_at_bound"].as_u64().unwrap_or(0), c["ccu_at_bound"].as_u64().unwrap_or(0));
        let ratio = if c > 0 { a as f64 / c as f64 } else { f64::NAN };
        println!("\nCCU at p99 <= {} ms: aethex-relay {a}, Colyseus {c}: {ratio:.2}x (goal >= 5x)", args.bound_ms);
        report.insert("ccu_ratio".into(), json!(ratio));
    }
    if let (Some(a), Some(c)) = (report.get("aethex"), report.get("colyseus")) {
        // Server CPU per delivered state at the steps both ran.
        let per = |r: &Value, n: u64| {
            r["steps"]
                .as_array()
                .and_then(|s| s.iter().find(|x| x["clients"].as_u64() == Some(n)))
                .and_then(|x| x["server_cpu_us_per_state"].as_f64())
        };
        let mut cpu = Vec::new();
        for &n in &steps {
            if let (Some(ours), Some(theirs)) = (per(a, n as u64), per(c, n as u64)) {
                println!(
                    "server CPU per delivered state at {n} clients: aethex-relay {ours:.2} us, Colyseus {theirs:.2} us: {:.2}x cheaper (goal >= 5x)",
                    theirs / ours
                );
                cpu.push(json!({"clients": n, "aethex_us": ours, "colyseus_us": theirs, "ratio": theirs / ours}));
            }
        }
        report.insert("cpu_per_state".into(), json!(cpu));
    }
    println!("\n{}", serde_json::to_string_pretty(&Value::Object(report))?);
    Ok(())
}

async fn measure(name: &str, target: &Target, pid: u32, steps: &[usize], args: &Args) -> anyhow::Result<Value> {
    println!("\n== {name} (pid {pid}) ==");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_start = rss_kib(pid);
    let mut idle = Value::Null;
    if args.idle > 0 {
        // Warm up first (allocator pages, runtime structures), as the relay's own memory
        // test does, so the figure is what each further seated client adds.
        let warm = open_clients(target, 200.min(args.idle)).await?;
        drop(warm);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = rss_kib(pid);
        let clients = open_clients(target, args.idle).await?;
        // Everyone has had its join answered; let the server settle.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = rss_kib(pid);
        let per = (after.saturating_sub(before) * 1024) as f64 / args.idle as f64;
        println!("idle: {} seated clients, RSS {before} -> {after} KiB: {per:.0} bytes per connection", args.idle);
        idle = json!({"clients": args.idle, "rss_before_kib": before, "rss_after_kib": after, "bytes_per_connection": per.round()});
        drop(clients);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let mut rows = Vec::new();
    let mut ccu = 0;
    for &n in steps {
        let r = step(target, pid, n, args).await;
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                println!("{n:>6} clients: failed: {e:#}");
                rows.push(json!({"clients": n, "error": format!("{e:#}")}));
                if !args.keep_going {
                    break;
                }
                continue;
            }
        };
        let ok = r.held == n && r.p99_ms <= args.bound_ms && r.delivery >= args.min_delivery;
        println!(
            "{n:>6} clients: held {:>6}  sent {:>8.0}/s  frames in {:>8.0}/s  states {:>8.0}/s ({:>5.1} %)  p50 {:>6.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  RSS {:>7} KiB  server CPU {:>4.0} % = {:>5.2} us/state  generator CPU {:>4.0} %  connect {:.1} s{}",
            r.held,
            r.sent_per_sec,
            r.recv_per_sec,
            r.states_per_sec,
            r.delivery * 100.0,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.rss_kib,
            r.cpu_share * 100.0,
            r.cpu_us_per_state,
            r.generator_share * 100.0,
            r.connect_secs,
            if ok { "" } else { "  <- not held" }
        );
        rows.push(json!({
            "clients": n, "held": r.held, "sent_per_sec": r.sent_per_sec.round(), "frames_in_per_sec": r.recv_per_sec.round(),
            "states_per_sec": r.states_per_sec.round(), "delivery": r.delivery, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "max_ms": r.max_ms,
            "rss_kib": r.rss_kib, "rss_per_client_bytes": ((r.rss_kib.saturating_sub(rss_start)) * 1024) as f64 / n as f64,
            "server_cpu_share": r.cpu_share, "server_cpu_us_per_state": r.cpu_us_per_state, "generator_cpu_share": r.generator_share, "connect_secs": r.connect_secs,
        }));
        if ok {
            ccu = ccu.max(n);
        } else if !args.keep_going {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(json!({"idle": idle, "steps": rows, "ccu_at_bound": ccu}))
}

/// One step: `n` clients in rooms of 10, warm-up, measured window, close.
async fn step(target: &Target, pid: u32, n: usize, args: &Args) -> anyhow::Result<StepResult> {
    let t0 = Instant::now();
    let clients = open_clients(target, n).await?;
    let connect_secs = t0.elapsed().as_secs_f64();
    let clock = Instant::now();
    let measuring = Arc::new(AtomicBool::new(false));
    let window_start = Arc::new(AtomicU64::new(u64::MAX));
    let stop_at = clock + Duration::from_secs(args.warmup + args.secs);
    let mut tasks = Vec::with_capacity(n);
    for c in clients {
        tasks.push(tokio::spawn(drive(c, clock, stop_at, measuring.clone(), window_start.clone())));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let cpu0 = cpu_secs(pid);
    let me0 = cpu_secs(std::process::id());
    let w0 = Instant::now();
    window_start.store(clock.elapsed().as_micros() as u64, Ordering::Relaxed);
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    measuring.store(false, Ordering::Relaxed);
    let window = w0.elapsed().as_secs_f64();
    let cpu = cpu_secs(pid) - cpu0;
    let me = cpu_secs(std::process::id()) - me0;
    let rss = rss_kib(pid);
    let mut samples: Vec<u32> = Vec::new();
    let mut r = StepResult { clients: n, connect_secs, rss_kib: rss, cpu_share: cpu / window, ..Default::default() };
    let (mut sent, mut recv) = (0u64, 0u64);
    for t in tasks {
        let out = t.await?;
        sent += out.sent;
        recv += out.frames;
        if out.alive && !out.samples.is_empty() {
            r.held += 1;
        }
        samples.extend(out.samples);
    }
    r.sent_per_sec = sent as f64 / window;
    r.recv_per_sec = recv as f64 / window;
    r.states_per_sec = samples.len() as f64 / window;
    r.cpu_us_per_state = if samples.is_empty() { f64::NAN } else { cpu * 1e6 / samples.len() as f64 };
    r.generator_share = me / window;
    r.delivery = samples.len() as f64 / (n as f64 * (ROOM - 1) as f64 * 20.0 * window);
    samples.sort_unstable();
    let pct =
        |p: f64| samples.get(((samples.len() as f64 * p) as usize).min(samples.len().saturating_sub(1))).map_or(f64::NAN, |&v| v as f64 / 1000.0);
    r.p50_ms = pct(0.50);
    r.p99_ms = pct(0.99);
    r.max_ms = samples.last().map_or(f64::NAN, |&v| v as f64 / 1000.0);
    let _ = r.clients;
    Ok(r)
}

struct Client {
    ws: Ws,
    colyseus: bool,
    /// Colyseus: this client's session id (its own entry in a batch is skipped).
    session: String,
    /// aethex: newest batch tick seen and acknowledged.
    newest: u64,
    acked: u64,
}

struct DriveOut {
    sent: u64,
    frames: u64,
    samples: Vec<u32>,
    alive: bool,
}

/// Sends at 20 Hz (random phase) until `stop_at`, reads batches, records latencies (µs)
/// while `measuring`.
async fn drive(mut c: Client, clock: Instant, stop_at: Instant, measuring: Arc<AtomicBool>, window_start: Arc<AtomicU64>) -> DriveOut {
    let mut out = DriveOut { sent: 0, frames: 0, samples: Vec::with_capacity(4096), alive: true };
    let phase = Duration::from_micros(rand::random::<u64>() % 50_000);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + phase, Duration::from_millis(50));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = tokio::time::Instant::from_std(stop_at);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(stop) => break,
            _ = every.tick() => {
                n += 1;
                let t = clock.elapsed().as_micros() as u64;
                let mut data = Map::new();
                data.insert("pos".into(), json!({"x": n, "y": 2.5, "z": -1}));
                if n == 1 {
                    data.insert("rot".into(), json!(45));
                }
                data.insert("t".into(), json!(t));
                let counted = measuring.load(Ordering::Relaxed);
                let frames = if c.colyseus { vec![colyseus_frame(&data)] } else {
                    // Acknowledged on the update, as the SDK does while streaming.
                    let ack = (c.newest > c.acked).then_some(c.newest);
                    c.acked = c.newest;
                    vec![msgpack(&ClientMessage::StateUpdate { ack, timestamp: t / 1000, data })]
                };
                for f in frames {
                    if c.ws.feed(Message::Binary(f.into())).await.is_err() { out.alive = false; break; }
                    if counted { out.sent += 1; }
                }
                if !out.alive || c.ws.flush().await.is_err() { out.alive = false; break; }
            }
            frame = c.ws.next() => {
                let Some(Ok(frame)) = frame else { out.alive = false; break };
                let now = clock.elapsed().as_micros() as u64;
                let counted = measuring.load(Ordering::Relaxed);
                if counted { out.frames += 1; }
                let Message::Binary(b) = frame else { continue };
                let from = window_start.load(Ordering::Relaxed);
                let mut record = |t: u64| {
                    if counted && t >= from {
                        out.samples.push(now.saturating_sub(t).min(u32::MAX as u64) as u32);
                    }
                };
                if c.colyseus {
                    if let Some(batch) = colyseus_batch(&b) {
                        // The room's batch holds the receiver's own state too: skipped.
                        for (_, fields) in batch.iter().filter(|(sid, _)| *sid != c.session) {
                            if let Some(t) = fields.t { record(t); }
                        }
                    }
                } else if let Ok(batch) = rmp_serde::from_slice::<LightBatch>(&b) {
                    if batch.kind == "state_batch" {
                        c.newest = c.newest.max(batch.tick);
                        for s in batch.states {
                            if let Some(t) = s.data.t { record(t); }
                        }
                    }
                }
            }
        }
    }
    if !c.colyseus && out.alive {
        let _ = c.ws.send(Message::Binary(msgpack(&ClientMessage::LeaveRoom).into())).await;
    }
    let _ = c.ws.close(None).await;
    out
}

fn msgpack(m: &ClientMessage) -> Vec<u8> {
    rmp_serde::to_vec_named(m).expect("client message encodes")
}

/// Colyseus ROOM_DATA (13), type "s" (a MessagePack fixstr, as Colyseus writes strings),
/// then the MessagePack payload.
fn colyseus_frame(data: &Map<String, Value>) -> Vec<u8> {
    let mut f = vec![13u8, 0xa1, b's'];
    rmp_serde::encode::write_named(&mut f, data).expect("payload encodes");
    f
}

// What the generator reads of a batch: the send time of each state (other fields are
// skipped unparsed, alike for both servers, so the generator spends little per state).
#[derive(serde::Deserialize)]
struct LightFields {
    t: Option<u64>,
}

#[derive(serde::Deserialize)]
struct LightState {
    data: LightFields,
}

#[derive(serde::Deserialize)]
struct LightBatch {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    tick: u64,
    #[serde(default)]
    states: Vec<LightState>,
}

/// The payload of a Colyseus ROOM_DATA "b" frame: `{sessionId: fields}`.
fn colyseus_batch(b: &[u8]) -> Option<Vec<(String, LightFields)>> {
    if b.len() < 3 || b[0] != 13 || b[1] != 0xa1 || b[2] != b'b' {
        return None;
    }
    let m: std::collections::HashMap<String, LightFields> = rmp_serde::from_slice(&b[3..]).ok()?;
    Some(m.into_iter().collect())
}

/// Opens `n` clients seated in rooms of 10, 20 rooms at a time.
async fn open_clients(target: &Target, n: usize) -> anyhow::Result<Vec<Client>> {
    let rooms = n.div_ceil(ROOM);
    let mut out = Vec::with_capacity(n);
    let mut r = 0;
    while r < rooms {
        let batch = (r..rooms.min(r + OPEN_PARALLEL)).map(|_| open_room(target));
        for room in futures::future::join_all(batch).await {
            out.extend(room?);
        }
        r += OPEN_PARALLEL;
    }
    Ok(out)
}

async fn open_room(target: &Target) -> anyhow::Result<Vec<Client>> {
    match target {
        Target::Aethex { ws_url, tokens } => {
            let mut host = aethex_connect(ws_url, &tokens[0]).await?;
            let options = RoomOptions { max_players: ROOM as u32, password: None, properties: Map::new() };
            send(&mut host.ws, &ClientMessage::CreateRoom { options, player_data: json!({}) }).await?;
            let code = match aethex_joined(&mut host).await? {
                ServerMessage::RoomJoined { code: Some(code), .. } => code,
                other => bail!("create_room answered {other:?}"),
            };
            let mut members = vec![host];
            for token in &tokens[1..] {
                let mut c = aethex_connect(ws_url, token).await?;
                send(&mut c.ws, &ClientMessage::JoinRoom { room_id: Some(code.clone()), ticket: None, password: None, player_data: json!({}) })
                    .await?;
                aethex_joined(&mut c).await?;
                members.push(c);
            }
            Ok(members)
        }
        Target::Colyseus { http, ws } => {
            let client = reqwest::Client::new();
            let mut members = Vec::with_capacity(ROOM);
            let mut room_id = String::new();
            for i in 0..ROOM {
                let url = if i == 0 { format!("{http}/matchmake/create/relay") } else { format!("{http}/matchmake/joinById/{room_id}") };
                let resv: Value = client.post(&url).json(&json!({})).send().await?.error_for_status()?.json().await?;
                let sid = resv["sessionId"].as_str().ok_or_else(|| anyhow!("no sessionId in {resv}"))?;
                let rid = resv["roomId"].as_str().ok_or_else(|| anyhow!("no roomId in {resv}"))?.to_string();
                let pid = resv["processId"].as_str().ok_or_else(|| anyhow!("no processId in {resv}"))?;
                let (mut socket, _) = connect(&format!("{ws}/{pid}/{rid}?sessionId={sid}")).await?;
                // JOIN_ROOM from the server, confirmed with JOIN_ROOM.
                loop {
                    let f = tokio::time::timeout(Duration::from_secs(10), socket.next()).await?.ok_or_else(|| anyhow!("colyseus closed"))??;
                    if let Message::Binary(b) = f {
                        if b.first() == Some(&10) {
                            break;
                        }
                        if b.first() == Some(&11) {
                            bail!("colyseus refused the join: {b:?}");
                        }
                    }
                }
                socket.send(Message::Binary(vec![10u8].into())).await?;
                room_id = rid;
                members.push(Client { ws: socket, colyseus: true, session: sid.to_string(), newest: 0, acked: 0 });
            }
            Ok(members)
        }
    }
}

/// A client connection with a small read buffer: tungstenite's default (128 KiB) is
/// zeroed on reads, which took a third of the generator's CPU.
async fn connect(url: &str) -> Result<(Ws, tokio_tungstenite::tungstenite::handshake::client::Response), tokio_tungstenite::tungstenite::Error> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    tokio_tungstenite::connect_async_with_config(url, Some(config), false).await
}

async fn send(ws: &mut Ws, m: &ClientMessage) -> anyhow::Result<()> {
    ws.send(Message::Binary(msgpack(m).into())).await?;
    Ok(())
}

async fn aethex_read(c: &mut Client) -> anyhow::Result<ServerMessage> {
    loop {
        let f =
            tokio::time::timeout(Duration::from_secs(10), c.ws.next()).await.context("relay answer")?.ok_or_else(|| anyhow!("relay closed"))??;
        match f {
            Message::Binary(b) => return Ok(rmp_serde::from_slice(&b)?),
            Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
            Message::Close(c) => bail!("relay closed: {c:?}"),
            _ => continue,
        }
    }
}

async fn aethex_connect(url: &str, token: &str) -> anyhow::Result<Client> {
    let (ws, _) = connect(url).await?;
    let mut c = Client { ws, colyseus: false, session: String::new(), newest: 0, acked: 0 };
    let auth = ClientMessage::Auth { token: token.to_string(), encoding: Encoding::Msgpack, resume: None };
    c.ws.send(Message::Text(serde_json::to_string(&auth)?.into())).await?;
    match aethex_read(&mut c).await? {
        ServerMessage::AuthOk { .. } => Ok(c),
        other => bail!("auth answered {other:?}"),
    }
}

async fn aethex_joined(c: &mut Client) -> anyhow::Result<ServerMessage> {
    loop {
        let m = aethex_read(c).await?;
        match m {
            ServerMessage::RoomJoined { tick, .. } => {
                c.newest = tick;
                c.acked = tick;
                send(&mut c.ws, &ClientMessage::Ack { tick }).await?;
                return Ok(m);
            }
            ServerMessage::Error { .. } | ServerMessage::Disconnect { .. } => bail!("join refused: {m:?}"),
            _ => continue,
        }
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Installs the pinned Colyseus (once) and starts the baseline room server.
fn start_colyseus() -> anyhow::Result<(Child, u16)> {
    let home = std::env::var("HOME").context("HOME")?;
    let dir = PathBuf::from(home).join(".cache/aethex-tools").join(COLYSEUS_DIR);
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../relay-regions/bench/colyseus");
    std::fs::create_dir_all(&dir)?;
    for f in ["package.json", "server.mjs"] {
        std::fs::copy(src.join(f), dir.join(f)).with_context(|| format!("copy {f} from {}", src.display()))?;
    }
    let installed = std::fs::read_to_string(dir.join("node_modules/@colyseus/core/package.json")).unwrap_or_default();
    if !installed.contains("\"version\": \"0.18.17\"") {
        println!("installing Colyseus 0.18.17 into {} ...", dir.display());
        let st = Command::new("npm").args(["install", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&dir).status()?;
        if !st.success() {
            bail!("npm install in {} failed: {st}", dir.display());
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut child = Command::new("node").arg("server.mjs").current_dir(&dir).env("PORT", port.to_string()).stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
    if !line.contains("listening") {
        bail!("colyseus did not start: {line}");
    }
    Ok((child, port))
}

fn rss_kib(pid: u32) -> u64 {
    aethex_tests::rss_kib(pid).unwrap_or(0)
}

fn cpu_secs(pid: u32) -> f64 {
    aethex_tests::cpu_secs(pid).unwrap_or(0.0)
}
