//! Parts `saves` and `compression`: 100 KB JSON saves against raw libSQL inserts of the same bytes, and the zstd ratio of the seed's save example.

use crate::prelude::*;

/// The seed's save example with the inventory and quest log scaled up to about `target` bytes.
pub(crate) fn seed_save_scaled(target: usize) -> Value {
    let mut v = json!({
        "player": {"name": "Hero", "level": 15, "xp": 4500, "position": {"x": 100.5, "y": 0, "z": 200.3}, "rotation": {"x": 0, "y": 180, "z": 0}},
        "inventory": [],
        "quests": {"completed": [], "active": ["quest_3"], "progress": {"quest_3": 2}},
        "settings": {"volume": 0.8, "difficulty": "hard"}
    });
    let mut i = 0u64;
    while serde_json::to_vec(&v).unwrap().len() < target {
        let item = if i.is_multiple_of(2) {
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

/// The baseline for saves: the same bytes inserted into a libSQL file with the server's
/// pragmas, one row per transaction, from one connection (SQLite has one writer).
pub(crate) async fn raw_libsql_inserts(bytes: &[u8], secs: u64) -> anyhow::Result<Load> {
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

/// 3. 100 KB JSON saves vs raw libSQL inserts of the same bytes.
pub(crate) async fn saves(b: &Bench<'_>, report: &mut Map<String, Value>) -> anyhow::Result<()> {
    let Bench { args, origin, game, http } = *b;
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
    Ok(())
}

/// 4. Compression of the seed's example, scaled.
pub(crate) async fn compression(game: &GameFixture, report: &mut Map<String, Value>) -> anyhow::Result<()> {
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
    Ok(())
}
