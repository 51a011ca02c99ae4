//! Part `ingest`: analytics events per second in batches of 100 against raw batched libSQL inserts.

use crate::prelude::*;

/// One analytics event of the seed's shape (~330 bytes of JSON).
pub(crate) fn seed_event(id: &str, i: u64) -> Value {
    json!({"event_id": id, "event_type": "level_completed", "timestamp": "2026-11-25T12:00:00Z", "session_id": "bench-session",
        "properties": {"level": i % 50, "time_seconds": 120.5, "deaths": 3, "score": 1000 + i, "difficulty": "hard"},
        "device": {"os": "Windows", "os_version": "10.0.19041", "engine_version": "4.3.0", "game_version": "1.2.3"}})
}

/// Part `ingest`: analytics events/s in batches of 100 through origin's route (16 players
/// with consent, `--concurrency` connections) vs raw batched libSQL inserts of the same
/// rows into a file with the analytics database's schema and pragmas (one transaction of
/// 100 inserts at a time, one connection), each for `--secs`.
pub(crate) async fn bench_ingest(args: &Args, origin: &Origin, game: &aethex_tests::GameFixture, http: &reqwest::Client) -> anyhow::Result<Value> {
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
