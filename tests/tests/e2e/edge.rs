//! The edge: the shared suite against the native edge (embedded and standalone), and
//! replication surviving a killed edge.

use std::time::Duration;

use aethex_tests::edges::{origin_head, wait_for_position, NativeEdge};
use aethex_tests::{edge_suite, Origin};

#[tokio::test]
async fn embedded_native_edge_passes_the_suite() {
    let origin = Origin::start_with_edge(&[]);
    let edge = origin.edge_url.clone().expect("embedded edge");
    edge_suite::run(&origin, &edge, "embedded").await;
}

#[tokio::test]
async fn standalone_native_edge_passes_the_suite() {
    let origin = Origin::start(&[]);
    let edge = NativeEdge::start(&origin.url, &origin.edge_key(), &[]);
    edge_suite::run(&origin, &edge.url, "native").await;
}

/// Rows of every replicated table, as sorted JSON lines (comparable across sources).
pub(crate) type Tables = std::collections::BTreeMap<String, Vec<String>>;

fn row_line(table: &str, values: Vec<serde_json::Value>) -> String {
    let cols = aethex_protocol::replica::table(table).unwrap().columns;
    let m: serde_json::Map<String, serde_json::Value> = cols.iter().map(|c| c.to_string()).zip(values).collect();
    serde_json::Value::Object(m).to_string()
}

/// Origin's current read model, through its snapshot route.
pub(crate) async fn origin_tables(origin: &Origin, key: &str) -> (i64, Tables) {
    let text = reqwest::Client::new()
        .get(format!("{}/api/v1/replication/snapshot", origin.url))
        .header("x-aethex-edge-key", key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let mut t = Tables::new();
    for l in lines {
        if let Ok(c) = serde_json::from_str::<aethex_protocol::replica::Change>(l) {
            let cols = aethex_protocol::replica::table(&c.table).unwrap().columns;
            let values = cols.iter().map(|col| c.row.get(*col).cloned().unwrap_or(serde_json::Value::Null)).collect();
            t.entry(c.table.clone()).or_default().push(row_line(&c.table, values));
        }
    }
    t.values_mut().for_each(|v| v.sort());
    (header["position"].as_i64().unwrap(), t)
}

/// The replica file's read model and state (position, applied).
pub(crate) async fn replica_tables(path: &std::path::Path) -> ((i64, i64), Tables) {
    let db = libsql::Builder::new_local(path).build().await.unwrap();
    let c = db.connect().unwrap();
    let mut t = Tables::new();
    for table in aethex_protocol::replica::TABLES {
        let mut rows = c.query(&format!("SELECT {} FROM {}", table.columns.join(", "), table.name), ()).await.unwrap();
        while let Some(r) = rows.next().await.unwrap() {
            let values = (0..table.columns.len() as i32)
                .map(|i| match r.get_value(i).unwrap() {
                    libsql::Value::Null => serde_json::Value::Null,
                    libsql::Value::Integer(v) => v.into(),
                    libsql::Value::Real(v) => v.into(),
                    libsql::Value::Text(s) => s.into(),
                    libsql::Value::Blob(_) => serde_json::Value::Null,
                })
                .collect();
            t.entry(table.name.to_string()).or_default().push(row_line(table.name, values));
        }
    }
    t.values_mut().for_each(|v| v.sort());
    let mut rows = c.query("SELECT position, applied FROM replica_state WHERE id = 1", ()).await.unwrap();
    let r = rows.next().await.unwrap().unwrap();
    ((r.get(0).unwrap(), r.get(1).unwrap()), t)
}

#[tokio::test]
async fn a_killed_edge_resumes_and_converges_without_loss_or_duplicates() {
    let origin = Origin::start(&[]);
    let key = origin.edge_key();
    // The edge starts before any write, so every change reaches it through pulls and the
    // count of applied changes must end up equal to origin's head position.
    let slow = [("AETHEX_REPLICATION__BATCH", "7"), ("AETHEX_REPLICATION__APPLY_PAUSE_MS", "120")];
    let mut edge = NativeEdge::start(&origin.url, &key, &slow);
    wait_for_position(&edge.url, 0, Duration::from_secs(10)).await;

    let game = origin.game("repl-game").await;
    game.create_leaderboard("kills", "sum").await;
    let writer = tokio::spawn(async move {
        for i in 0..40 {
            let p = game.player().await;
            p.saves().save("slot1", serde_json::json!({"i": i})).await.unwrap();
            p.saves().save("slot1", serde_json::json!({"i": i, "again": true})).await.unwrap();
            p.leaderboards().submit_score("kills", i).await.unwrap();
            if i % 4 == 0 {
                p.saves().delete("slot1").await.unwrap();
            }
        }
    });
    // Kill the edge three times while it is applying (it is behind, inside a batch).
    let mut kills = 0;
    while kills < 3 {
        tokio::time::sleep(Duration::from_millis(400 + 170 * kills)).await;
        let head = origin_head(&origin.url, &key).await;
        let at = aethex_tests::edges::edge_position(&edge.url).await.unwrap_or(0);
        if at < head {
            edge = edge.restart_after_kill();
            kills += 1;
        }
    }
    writer.await.unwrap();
    let head = origin_head(&origin.url, &key).await;
    wait_for_position(&edge.url, head, Duration::from_secs(60)).await;
    let (path, _keep) = edge.stop_keep_data();

    let (snap_position, expected) = origin_tables(&origin, &key).await;
    let ((position, applied), got) = replica_tables(&path).await;
    assert_eq!(snap_position, head);
    assert_eq!(position, head, "the replica reached origin's head");
    assert_eq!(applied, head, "every change applied exactly once (positions run 1..=head)");
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (table, rows) in &expected {
        assert_eq!(&got[table], rows, "table {table} differs from origin");
    }
    assert!(expected["saves"].len() >= 30 && expected["leaderboard_entries"].len() == 40, "the test wrote what it meant to");
}

#[tokio::test]
async fn spin_component_under_wasmtime_passes_the_suite() {
    let origin = Origin::start(&[]);
    let key = origin.edge_key();
    // The native edge keeps the replica; the component reads it over Hrana.
    let replica = NativeEdge::start(&origin.url, &key, &[]);
    let jwks = aethex_tests::edge_spin::fetch_jwks(&origin.url);
    let spin = aethex_tests::edge_spin::start(&origin.url, &replica.url, &key, Some(&jwks));
    edge_suite::run(&origin, &spin.url, "spin").await;
}

#[tokio::test]
async fn fastly_compute_under_viceroy_passes_the_suite() {
    let origin = Origin::start(&[]);
    let key = origin.edge_key();
    let replica = NativeEdge::start(&origin.url, &key, &[]);
    let fastly = aethex_tests::edge_fastly::start(&origin.url, &replica.url, &key);
    edge_suite::run(&origin, &fastly.url, "fastly").await;
}

/// Writes a few saves through a new guest of `game`.
async fn write_some(game: &aethex_tests::GameFixture, n: usize) -> i64 {
    let p = game.player().await;
    for i in 0..n {
        p.saves().save(&format!("s{i}"), serde_json::json!({"i": i})).await.unwrap();
    }
    p.position()
}

#[tokio::test]
async fn new_edges_bootstrap_and_edges_behind_the_outbox_bootstrap_again() {
    // The outbox keeps 1 s of changes, so an edge that was away longer must bootstrap.
    let origin = Origin::start(&[("AETHEX_EDGE__OUTBOX_RETENTION_SECS", "1")]);
    let key = origin.edge_key();
    let game = origin.game("boot-game").await;
    write_some(&game, 5).await;
    // A new edge of an origin with data starts from a snapshot.
    let edge = NativeEdge::start(&origin.url, &key, &[]);
    let head = origin_head(&origin.url, &key).await;
    wait_for_position(&edge.url, head, Duration::from_secs(20)).await;
    let (path, keep) = edge.stop_keep_data();
    let ((position, applied), got) = replica_tables(&path).await;
    let (snap_position, expected) = origin_tables(&origin, &key).await;
    assert_eq!((position, snap_position), (head, head));
    assert_eq!(got, expected, "bootstrapped replica equals origin's read model");
    assert_eq!(applied as usize, expected.values().map(Vec::len).sum::<usize>(), "a snapshot counts its rows");

    // While the edge is away, the outbox moves past its position and is pruned.
    write_some(&game, 5).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let last = write_some(&game, 2).await;
    let pruned = reqwest::Client::new()
        .get(format!("{}/api/v1/replication/changes?after={position}", origin.url))
        .header("x-aethex-edge-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(pruned.status().as_u16(), 410, "origin no longer keeps position {position}");
    // The edge comes back on its old replica, is told it is too far behind, and bootstraps.
    let edge = NativeEdge::start_on(&origin.url, &key, &path, keep);
    wait_for_position(&edge.url, last, Duration::from_secs(20)).await;
    let metrics = reqwest::get(format!("{}/metrics", edge.url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("aethex_edge_replication_bootstraps_total 1"), "{metrics}");
    let (path, _keep) = edge.stop_keep_data();
    let (_, got) = replica_tables(&path).await;
    let (_, expected) = origin_tables(&origin, &key).await;
    assert_eq!(got, expected);
}

#[tokio::test]
async fn an_edge_notices_a_different_origin_database_and_bootstraps() {
    let origin = Origin::start(&[]);
    let key = origin.edge_key();
    let game = origin.game("epoch-game").await;
    write_some(&game, 3).await;
    let edge = NativeEdge::start(&origin.url, &key, &[]);
    wait_for_position(&edge.url, origin_head(&origin.url, &key).await, Duration::from_secs(20)).await;
    // Origin is replaced by a fresh database (same address, same edge key).
    let addr = origin.url.trim_start_matches("http://").to_string();
    let mut origin = origin;
    origin.kill();
    let fresh = Origin::start(&[("AETHEX_SERVER__LISTEN", addr.as_str()), ("AETHEX_EDGE__KEYS", &format!("[\"{key}\"]"))]);
    let game = fresh.game("epoch-game-2").await;
    let last = write_some(&game, 2).await;
    // Positions of the new database are lower than the edge's: waiting for them is not
    // enough, the replica must also have dropped the old database's rows.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, expected) = origin_tables(&fresh, &key).await;
        let body = reqwest::get(format!("{}/metrics", edge.url)).await.unwrap().text().await.unwrap();
        if body.contains("aethex_edge_replication_bootstraps_total 2") && aethex_tests::edges::edge_position(&edge.url).await >= Some(last) {
            let (path, _keep) = edge.stop_keep_data();
            let (_, got) = replica_tables(&path).await;
            assert_eq!(got, expected, "the replica holds exactly the new database's rows");
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the edge did not bootstrap from the new database: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn cloudflare_worker_under_workerd_passes_the_suite() {
    let origin = Origin::start(&[]);
    let key = origin.edge_key();
    let replica = NativeEdge::start(&origin.url, &key, &[]);
    let worker = aethex_tests::edge_cloudflare::start(&origin.url, &replica.url, &key);
    edge_suite::run(&origin, &worker.url, "cloudflare").await;
}

/// Origin's database put back from a backup (positions went back under the same epoch)
/// gets a new epoch when origin starts: the edge bootstraps again and ends up with the
/// restored data, not the scores the backup never had (before, it kept them and skipped
/// the positions origin handed out again).
#[tokio::test]
async fn an_edge_bootstraps_again_after_origin_is_restored_from_a_backup() {
    let origin = Origin::start(&[]);
    let key = origin.edge_key();
    let edge = NativeEdge::start(&origin.url, &key, &[]);
    let game = origin.game("restore-game").await;
    game.create_leaderboard("kills", "best").await;
    game.player().await.leaderboards().submit_score("kills", 1).await.unwrap();
    let backed_up = origin_head(&origin.url, &key).await;
    let backup = tempfile::tempdir().unwrap();
    let backup_file = backup.path().join("aethex.db");
    {
        let db = origin.database().await;
        db.connect().unwrap().execute(&format!("VACUUM INTO '{}'", backup_file.display()), ()).await.unwrap();
    }
    for i in 2..6 {
        game.player().await.leaderboards().submit_score("kills", i).await.unwrap();
    }
    let later = origin_head(&origin.url, &key).await;
    assert!(later > backed_up);
    wait_for_position(&edge.url, later, Duration::from_secs(20)).await;
    // Origin notes its newest position beside the database (within 250 ms of a commit).
    let note = origin.data_dir.join("replication-witness.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&note).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()).and_then(|v| v["head"].as_i64())
        < Some(later)
    {
        assert!(std::time::Instant::now() < deadline, "origin never noted position {later}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The edge is down while origin is restored and writes on past the edge's position
    // (an edge that asks for a position origin does not have yet is told to bootstrap;
    // one that asks after origin passed it would get only what follows).
    let (replica, keep) = edge.stop_keep_data();
    let origin = origin.restart_after_kill_with(|dir| {
        for f in ["aethex.db-wal", "aethex.db-shm"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        std::fs::copy(&backup_file, dir.join("aethex.db")).unwrap();
    });
    let mut scores = 1;
    while origin_head(&origin.url, &key).await <= later {
        game.player().await.leaderboards().submit_score("kills", 100 + scores).await.unwrap();
        scores += 1;
    }
    let edge = NativeEdge::start_on(&origin.url, &key, &replica, keep);
    let (_, expected) = origin_tables(&origin, &key).await;
    assert_eq!(expected["leaderboard_entries"].len() as i64, scores, "the backup's score and the new ones");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, got) = replica_tables(&edge.replica_path()).await;
        if got.get("leaderboard_entries") == expected.get("leaderboard_entries") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the edge kept another history: {:?} against origin's {:?}",
            got.get("leaderboard_entries"),
            expected["leaderboard_entries"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
