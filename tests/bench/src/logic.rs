//! Part `logic`: what a game's WebAssembly hooks cost. Three measurements in one run:
//! - per call, in process: the noop and example components' `before-score` and
//!   `before-save` through the engine origin uses (instance pool, fuel, time bound), against
//!   the same loop without a hook;
//! - end to end: score submits and 1 KB saves over HTTP on a game without logic, with the
//!   noop component and with the example, one after the other on the same origin;
//! - an authoritative room's tick in the example component, per player, in process;
//! - rooms at a real relay, every player moving each tick: the relay's CPU per player
//!   update in a room of a game without logic, with the noop component and with the
//!   example, one after the other on the same relay.

use aethex_logic_host::{Caller, Context as CallContext, Field, Limits, LogicEngine, NoHost, PlayerFields, Pool, SaveWrite, ScoreSubmit};

use crate::prelude::*;

const CALLS: usize = 20_000;

fn stats(mut us: Vec<f64>) -> (f64, f64, f64) {
    us.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| us[((us.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99), us.iter().sum::<f64>() / us.len() as f64)
}

/// `CALLS` calls of `f`, one at a time, each timed (µs).
async fn timed<F, Fut>(mut f: F) -> anyhow::Result<Vec<f64>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for _ in 0..500 {
        f().await?;
    }
    let mut out = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        f().await?;
        out.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    Ok(out)
}

fn save_check(gold: i64) -> i64 {
    gold.wrapping_mul(7919).wrapping_add(17).rem_euclid(1_000_003)
}

/// A JSON save of about 1 KB that passes the example's checksum rule.
fn save_doc() -> Value {
    json!({"gold": 120, "check": save_check(120), "pad": "x".repeat(900)})
}

pub(crate) async fn bench_logic(b: &Bench<'_>) -> anyhow::Result<Value> {
    let mut out = Map::new();
    println!("\ngame logic: per call, in process ({CALLS} calls each, one at a time)");
    let engine = LogicEngine::new(Limits::default())?;
    let ctx = CallContext { game_id: "bench".into(), caller: Caller::Player("p".into()) };
    let score = ScoreSubmit { board_id: "b".into(), user_id: "p".into(), score: 500, metadata: None };
    let doc = serde_json::to_vec(&save_doc())?;
    let save = SaveWrite { user_id: "p".into(), slot_name: "s".into(), content_type: "json".into(), data: doc.clone(), metadata: None };
    let baseline = stats(timed(|| async { Ok(()) }).await?);
    println!("  baseline (the same loop, no hook):  p50 {:.2} µs  p99 {:.2} µs", baseline.0, baseline.1);
    out.insert("baseline_us".into(), json!({"p50": baseline.0, "p99": baseline.1}));
    for name in ["noop", "example"] {
        let started = Instant::now();
        let program = engine.load(aethex_tests::logic::component(name)).await?;
        let load_ms = started.elapsed().as_secs_f64() * 1000.0;
        let pool = Pool::new(program, Arc::new(NoHost));
        let s = stats(timed(|| async { pool.before_score(&ctx, &score).await.map(|_| ()).map_err(Into::into) }).await?);
        let v = stats(timed(|| async { pool.before_save(&ctx, &save).await.map(|_| ()).map_err(Into::into) }).await?);
        println!(
            "  {name:<8} before-score p50 {:.2} µs  p99 {:.2} µs  mean {:.2} µs | before-save (1 KB JSON) p50 {:.2} µs  p99 {:.2} µs  mean {:.2} µs | loaded in {load_ms:.0} ms",
            s.0, s.1, s.2, v.0, v.1, v.2
        );
        out.insert(
            format!("{name}_us"),
            json!({"before_score": {"p50": s.0, "p99": s.1, "mean": s.2}, "before_save": {"p50": v.0, "p99": v.1, "mean": v.2}, "load_ms": load_ms}),
        );
    }

    // End to end on the running origin.
    let Bench { args, origin, game, http } = *b;
    let key: Value =
        game.developer.request(reqwest::Method::POST, "/api/v1/games/bench-game/server-keys", Some(&json!({"name": "logic-bench"})), true).await?;
    let key = key["key"].as_str().context("server key")?.to_string();
    let _: Value = game
        .developer
        .request(reqwest::Method::POST, "/api/v1/games/bench-game/leaderboards", Some(&json!({"leaderboard_id": "logic-bench", "name": "L"})), true)
        .await?;
    let mut players = Vec::new();
    for _ in 0..args.concurrency {
        players.push(game.player().await.token().context("token")?);
    }
    let players = Arc::new(players);
    let save_body = Arc::new(serde_json::to_vec(&json!({"slot_name": "logic", "data": save_doc()}))?);
    println!("game logic: end to end over HTTP, {} connections, two rounds (the order's drift shows between them)", args.concurrency);
    let mut e2e = Map::new();
    for (round, setup) in ["none", "noop", "example"].iter().cycle().take(6).enumerate() {
        let setup = *setup;
        match setup {
            "none" => {
                let r = http
                    .post(format!("{}/api/v1/games/bench-game/logic/activate", origin.url))
                    .bearer_auth(&key)
                    .json(&json!({"version": null}))
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "logic off: {}", r.text().await?);
            }
            name => {
                let r = http
                    .post(format!("{}/api/v1/games/bench-game/logic", origin.url))
                    .bearer_auth(&key)
                    .header("content-type", "application/wasm")
                    .body(aethex_tests::logic::component(name))
                    .send()
                    .await?;
                anyhow::ensure!(r.status().as_u16() == 201, "deploy {name}: {}", r.text().await?);
            }
        }
        let (h, u, ps) = (http.clone(), format!("{}/api/v1/leaderboards/logic-bench/scores", origin.url), players.clone());
        let scores = load(args.secs, args.concurrency, move |w, i| {
            h.post(&u).bearer_auth(&ps[w % ps.len()]).header("content-type", "application/json").body(format!("{{\"score\":{}}}", 1 + i % 1000))
        })
        .await;
        let (h, u, ps, body) = (http.clone(), format!("{}/api/v1/saves/me", origin.url), players.clone(), save_body.clone());
        let saves = load(args.secs, args.concurrency, move |w, _| {
            h.post(&u).bearer_auth(&ps[w % ps.len()]).header("content-type", "application/json").body((*body).clone())
        })
        .await;
        println!(
            "  {setup:<8} scores {:>7.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {} | 1 KB saves {:>7.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}",
            scores.rps(),
            scores.pct(0.5),
            scores.pct(0.99),
            scores.errors,
            saves.rps(),
            saves.pct(0.5),
            saves.pct(0.99),
            saves.errors
        );
        e2e.insert(
            format!("{setup}_round{}", round / 3 + 1),
            json!({"score_rps": scores.rps(), "score_p50_ms": scores.pct(0.5), "score_p99_ms": scores.pct(0.99), "score_errors": scores.errors,
                   "save_rps": saves.rps(), "save_p50_ms": saves.pct(0.5), "save_p99_ms": saves.pct(0.99), "save_errors": saves.errors}),
        );
    }
    out.insert("end_to_end".into(), Value::Object(e2e));

    // An authoritative room's tick: every player moves one step each tick.
    println!("game logic: authoritative room tick (example component), every player moving");
    let program = engine.load(aethex_tests::logic::component("example")).await?;
    let mut rooms = Map::new();
    for players in [10usize, 50, 100] {
        let mut room = program.instantiate(Arc::new(NoHost)).await?;
        room.open("bench-room", None, "{}").await?;
        for p in 0..players {
            room.join(&format!("p{p}"), "{}").await?.map_err(anyhow::Error::msg)?;
        }
        room.tick(0, &[]).await?;
        let mut times = Vec::new();
        for tick in 1..=400u64 {
            let x = (tick % 2) as f64;
            let inputs: Vec<PlayerFields> = (0..players)
                .map(|p| PlayerFields {
                    player_id: format!("p{p}"),
                    fields: vec![Field { name: "x".into(), value: x.to_string() }, Field { name: "hp".into(), value: "100".into() }],
                })
                .collect();
            let t = Instant::now();
            let output = room.tick(tick, &inputs).await?;
            times.push(t.elapsed().as_nanos() as f64 / 1000.0);
            anyhow::ensure!(output.state.len() == players, "every player's move came back");
        }
        let (p50, p99, mean) = stats(times.split_off(50));
        println!(
            "  {players:>3} players: tick p50 {p50:.1} µs  p99 {p99:.1} µs  mean {mean:.1} µs = {:.2} µs per player (mean)",
            mean / players as f64
        );
        rooms.insert(players.to_string(), json!({"p50_us": p50, "p99_us": p99, "mean_us": mean, "per_player_us": mean / players as f64}));
    }
    out.insert("room_tick".into(), Value::Object(rooms));

    let (relay_rooms, _relay) = rooms_at_a_relay(origin, args.secs).await?;
    out.insert("relay_rooms".into(), relay_rooms);
    Ok(Value::Object(out))
}

/// Players in each relay room of the benchmark.
const RELAY_PLAYERS: usize = 32;

/// One room per setup at a relay started for it: [`RELAY_PLAYERS`] players each sending a
/// one-step move every 50 ms (one tick) and reading what comes back, for `secs` seconds.
/// The relay's CPU time (user + system, from /proc) over the window, per move sent.
async fn rooms_at_a_relay(origin: &Origin, secs: u64) -> anyhow::Result<(Value, aethex_tests::relays::Relay)> {
    use aethex_protocol::multiplayer::{Encoding, RoomOptions, ServerMessage};
    println!("game logic: rooms at a relay, {RELAY_PLAYERS} players each moving every 50 ms for {secs} s; the relay's CPU per move");
    let relay = aethex_tests::relays::Relay::start(origin, "bench-logic", &[]);
    let ws = relay.url.replacen("http://", "ws://", 1);
    let mut out = Map::new();
    for setup in ["none", "noop", "example"] {
        let game = origin.game(&format!("bench-rooms-{setup}")).await;
        if setup != "none" {
            let dev = game.developer.token().context("developer token")?;
            let r = reqwest::Client::new()
                .post(format!("{}/api/v1/games/{}/logic", origin.url, game.game_id))
                .bearer_auth(dev)
                .header("content-type", "application/wasm")
                .body(aethex_tests::logic::component(setup))
                .send()
                .await?;
            anyhow::ensure!(r.status().as_u16() == 201, "deploy {setup}: {}", r.text().await?);
        }
        let mut sessions = Vec::new();
        let mut code = String::new();
        for i in 0..RELAY_PLAYERS {
            let p = game.player().await;
            let mut s = p.multiplayer().connect(&ws, Encoding::Json).await?;
            if i == 0 {
                let options = RoomOptions { max_players: RELAY_PLAYERS as u32, password: None, properties: Default::default() };
                match s.create_room(options, json!({})).await? {
                    ServerMessage::RoomJoined { code: Some(c), .. } => code = c,
                    other => anyhow::bail!("expected room_joined, got {other:?}"),
                }
            } else {
                s.join_room(&code, None, json!({})).await?;
            }
            sessions.push(s);
        }
        let cpu0 = cpu_secs(relay.pid()).context("relay cpu")?;
        let stop = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for mut s in sessions {
            tasks.push(tokio::spawn(async move {
                let (mut x, mut moves, mut batches) = (0.0f64, 0u64, 0u64);
                while Instant::now() < stop {
                    x += 1.0;
                    let data = json!({"x": x, "y": 0.0}).as_object().cloned().unwrap_or_default();
                    s.send_state(data).await?;
                    moves += 1;
                    let next = tokio::time::Instant::now() + Duration::from_millis(50);
                    while let Ok(event) = tokio::time::timeout_at(next, s.next_event()).await {
                        if matches!(event?, ServerMessage::StateBatch { .. }) {
                            batches += 1;
                        }
                    }
                }
                Ok::<_, anyhow::Error>((moves, batches, s))
            }));
        }
        let (mut moves, mut batches, mut keep) = (0u64, 0u64, Vec::new());
        for t in tasks {
            let (m, b, s) = t.await??;
            moves += m;
            batches += b;
            keep.push(s);
        }
        let cpu = cpu_secs(relay.pid()).context("relay cpu")? - cpu0;
        let per_move_us = cpu * 1e6 / moves.max(1) as f64;
        println!("  {setup:<8} {moves} moves, {batches} state batches received: relay CPU {:.0} ms = {per_move_us:.1} µs per move", cpu * 1000.0);
        out.insert(setup.into(), json!({"moves": moves, "batches_received": batches, "relay_cpu_ms": cpu * 1000.0, "cpu_us_per_move": per_move_us}));
        drop(keep);
    }
    Ok((Value::Object(out), relay))
}
