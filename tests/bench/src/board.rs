//! Parts `rank` and `board`: a player's rank from the rank index against counting the board, and board reads through a native edge against a bare route and Redis.

use crate::prelude::*;

/// Part `rank`: a replica (the native edge's store, schema and triggers) with one board of
/// `n` entries loaded through a snapshot bootstrap; then a player's rank from the rank
/// index vs counting the entries ahead (what the edge did before the index), for players
/// spread over the board, and the whole around-me read (5 statements) the edge answers.
pub(crate) async fn bench_rank(n: u64) -> anyhow::Result<Value> {
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

/// Part `board`: a one-million-entry leaderboard read through a native edge (top 10, a
/// cached page as the edge serves it; and around-me, which ranks the player through the
/// rank index on every request) vs a bare axum route, p99 of around-me at half its top
/// rate, and Redis (Debian's redis-server) answering the same reads from a sorted set of
/// the same scores: ZREVRANGE 0 9 WITHSCORES, and ZREVRANK + ZREVRANGE around the rank.
pub(crate) async fn bench_board(args: &Args, origin: &Origin, game: &aethex_tests::GameFixture, http: &reqwest::Client) -> anyhow::Result<Value> {
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
    // First an edge that ranks through SQL (the wasm edges' path, and the native edge's
    // before it kept the leaderboards in memory): the baseline of the same run.
    let edge =
        aethex_tests::edges::NativeEdge::start(&origin.url, &key, &[("AETHEX_LOG__LEVEL", "warn"), ("AETHEX_REPLICATION__BOARD_INDEX", "false")]);
    aethex_tests::edges::wait_for_position(&edge.url, p.position(), Duration::from_secs(600)).await;
    println!("native edge bootstrapped from a snapshot in {:.1} s", t.elapsed().as_secs_f64());
    let rss_sql = rss_kib(edge.pid()).unwrap_or(0);
    let (h, u, tk) = (http.clone(), format!("{}/api/v1/leaderboards/global/around-me?limit=10", edge.url), token.clone());
    let around_sql = load(args.secs, args.concurrency, move |_, _| h.get(&u).bearer_auth(&tk)).await;
    let sql_page: Value =
        http.get(format!("{}/api/v1/leaderboards/global/around-me?limit=10", edge.url)).bearer_auth(&token).send().await?.json().await?;
    // The same replica file opened by an edge that keeps the leaderboards in memory: the
    // time to listen includes building them from the file.
    let (replica, keep) = edge.stop_keep_data();
    let t = Instant::now();
    let edge = aethex_tests::edges::NativeEdge::start_on(&origin.url, &key, &replica, keep);
    let index_load_s = t.elapsed().as_secs_f64();
    aethex_tests::edges::wait_for_position(&edge.url, p.position(), Duration::from_secs(600)).await;
    let metrics = http.get(format!("{}/metrics", edge.url)).send().await?.text().await?;
    let metric = |name: &str| metrics.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok())).unwrap_or(f64::NAN);
    let (index_entries, index_bytes) = (metric("aethex_edge_board_index_entries "), metric("aethex_edge_board_index_bytes "));
    let rss_index = rss_kib(edge.pid()).unwrap_or(0);
    println!(
        "leaderboards in memory: {index_entries} entries loaded at start in {index_load_s:.1} s (process start included); {:.0} bytes per entry (estimated), edge RSS {} MiB against {} MiB ranking through SQL = {:.0} bytes per entry",
        index_bytes / index_entries,
        rss_index / 1024,
        rss_sql / 1024,
        (rss_index.saturating_sub(rss_sql) * 1024) as f64 / index_entries
    );

    let (mut hello, hello_url) = start_hello()?;
    let (h, u) = (http.clone(), format!("{hello_url}/hello"));
    let base = load(args.secs, args.concurrency, move |_, _| h.get(&u)).await;
    let (h, u, tk) = (http.clone(), format!("{}/api/v1/leaderboards/global?limit=10", edge.url), token.clone());
    let top = load(args.secs, args.concurrency, move |_, _| h.get(&u).bearer_auth(&tk)).await;
    let (h, u, tk) = (http.clone(), format!("{}/api/v1/leaderboards/global/around-me?limit=10", edge.url), token.clone());
    let around = load(args.secs, args.concurrency, move |_, _| h.get(&u).bearer_auth(&tk)).await;
    let mem_page: Value =
        http.get(format!("{}/api/v1/leaderboards/global/around-me?limit=10", edge.url)).bearer_auth(&token).send().await?.json().await?;
    anyhow::ensure!(mem_page == sql_page, "around-me from memory differs from SQL:\n{mem_page}\n{sql_page}");
    let probe: Value =
        http.get(format!("{}/api/v1/leaderboards/global/around-me?limit=3", edge.url)).bearer_auth(&token).send().await?.json().await?;
    // Latency at half of around-me's top rate, and at half of the SQL path's (the load the
    // figure before the index was taken at), each beside a bare route at the same rate.
    // (Pinning the servers to one core and this generator to the other was tried: one core
    // of reqwest cannot pace 25k requests/s evenly, so its tail was the generator's.)
    let half_rate = around.rps() / 2.0;
    let mut halves = Vec::new();
    for rate in [half_rate, around_sql.rps() / 2.0] {
        let (h, u, tk) = (http.clone(), format!("{}/api/v1/leaderboards/global/around-me?limit=10", edge.url), token.clone());
        let (half, half_sent) = paced_both(rate, args.secs, args.concurrency, move |_, _| h.get(&u).bearer_auth(&tk)).await;
        let (h, u) = (http.clone(), format!("{hello_url}/hello"));
        let (hello_half, hello_sent) = paced_both(rate, args.secs, args.concurrency, move |_, _| h.get(&u)).await;
        halves.push((rate, half, hello_half, half_sent, hello_sent));
    }
    let _ = hello.kill();
    println!("hello world GET (axum):        {:>8.0} req/s  p99 {:.2} ms", base.rps(), base.pct(0.99));
    println!(
        "edge top 10 (cached page):     {:>8.0} req/s  p99 {:.2} ms  = {:.1} % of hello (goal >= 50 %)",
        top.rps(),
        top.pct(0.99),
        top.rps() / base.rps() * 100.0
    );
    println!(
        "edge around-me (SQL ranking):  {:>8.0} req/s  p99 {:.2} ms  = {:.1} % of hello  errors {}",
        around_sql.rps(),
        around_sql.pct(0.99),
        around_sql.rps() / base.rps() * 100.0,
        around_sql.errors
    );
    println!(
        "edge around-me (in memory):    {:>8.0} req/s  p99 {:.2} ms  = {:.1} % of hello (goal >= 50 %)  = {:.1}x SQL ranking  errors {}",
        around.rps(),
        around.pct(0.99),
        around.rps() / base.rps() * 100.0,
        around.rps() / around_sql.rps(),
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
    for (rate, half, hello_half, half_sent, hello_sent) in &halves {
        println!(
            "around-me paced at {rate:.0}/s: p50 {:.2} ms  p99 {:.2} ms from the intended send, p99 {:.2} ms from the send (goal <= 2 ms at half load); hello at that rate p99 {:.2} / {:.2} ms",
            half.pct(0.5),
            half.pct(0.99),
            half_sent.pct(0.99),
            hello_half.pct(0.99),
            hello_sent.pct(0.99)
        );
    }

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
        "edge_around_sql_rps": around_sql.rps(), "edge_around_sql_p99_ms": around_sql.pct(0.99), "index_entries": index_entries,
        "index_bytes": index_bytes, "index_load_s": index_load_s, "edge_rss_kib": rss_index, "edge_rss_sql_kib": rss_sql,
        "edge_around_p99_ms": around.pct(0.99), "half_rate": half_rate, "half_p50_ms": halves[0].1.pct(0.5), "half_p99_ms": halves[0].1.pct(0.99), "half_p99_from_send_ms": halves[0].3.pct(0.99), "hello_half_p99_from_send_ms": halves[0].4.pct(0.99),
        "sql_half_rate": halves[1].0, "sql_half_p99_ms": halves[1].1.pct(0.99), "sql_half_p99_from_send_ms": halves[1].3.pct(0.99), "hello_sql_half_p99_ms": halves[1].2.pct(0.99),
        "hello_half_p99_ms": halves[0].2.pct(0.99), "redis": redis_out}))
}
