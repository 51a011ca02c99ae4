//! The database layer on a real libSQL server (sqld, installed by the test command):
//! group commits sent as batches, a failing job rolled back alone, reads on kept streams.

use std::sync::Arc;

use aethex_origin::config::StorageConfig;
use aethex_origin::db::{Db, DbError};
use libsql::params;

async fn open(sqld: &aethex_tests::sqld::Sqld) -> Arc<Db> {
    let cfg = StorageConfig { database_url: sqld.url.clone(), ..StorageConfig::default() };
    let dir = tempfile::tempdir().unwrap();
    Arc::new(Db::open(&cfg, &dir.path().join("unused.db")).await.unwrap())
}

async fn count(db: &Db, sql: &str) -> i64 {
    let rows = db.reader().await.query(sql, ()).await.unwrap();
    aethex_origin::db::first_row(rows).await.unwrap().unwrap().get::<i64>(0).unwrap()
}

/// A server and a database on it with a table `k` of unique values and a table `side`.
async fn with_tables() -> (aethex_tests::sqld::Sqld, Arc<Db>) {
    let sqld = aethex_tests::sqld::Sqld::start();
    let db = open(&sqld).await;
    db.write(|c| async move { c.execute_batch("CREATE TABLE k (v INTEGER UNIQUE); CREATE TABLE side (v INTEGER);").await.map_err(DbError::from) })
        .await
        .unwrap();
    (sqld, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_rolled_back_alone_in_a_batched_group_commit() {
    let (_sqld, db) = with_tables().await;
    db.write(|c| async move { c.execute("INSERT INTO k VALUES (-1)", ()).await.map_err(DbError::from) }).await.unwrap();

    // 300 jobs at once, so that many share a commit. Each writes `side` then `k`, deferred.
    // Every 10th writes a `k` that exists (the server refuses it: the job fails, and its
    // `side` row goes too); every 7th returns an error itself after deferring its writes;
    // every 11th reads its own deferred row back before going on (a mixed job).
    let mut tasks = Vec::new();
    for i in 0..300i64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let r = db
                .write(move |c| async move {
                    c.defer("INSERT INTO side VALUES (?1)", params![i]).await?;
                    let v = if i % 10 == 0 { -1 } else { i };
                    c.defer("INSERT INTO k VALUES (?1)", params![v]).await?;
                    if i % 11 == 0 && i % 10 != 0 {
                        let rows = c.query("SELECT COUNT(*) FROM side WHERE v = ?1", params![i]).await?;
                        let seen = aethex_origin::db::first_row(rows).await?.map(|r| r.get::<i64>(0)).transpose()?;
                        assert_eq!(seen, Some(1), "a job reads its own deferred write");
                    }
                    if i % 7 == 0 {
                        return Err(DbError::Corrupt("refused by the job".into()));
                    }
                    Ok(i)
                })
                .await;
            (i, r)
        }));
    }
    let mut kept = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        let should = i % 10 != 0 && i % 7 != 0;
        assert_eq!(r.is_ok(), should, "job {i}: {r:?}");
        if should {
            kept.push(i);
        }
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM side").await, kept.len() as i64, "failed jobs left nothing behind");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM k").await, kept.len() as i64 + 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM side WHERE v % 10 = 0 OR v % 7 = 0").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_read_does_not_spoil_the_kept_streams() {
    let sqld = aethex_tests::sqld::Sqld::start();
    let db = open(&sqld).await;
    db.write(|c| async move { c.execute("CREATE TABLE t (v INTEGER)", ()).await.map_err(DbError::from) }).await.unwrap();
    for i in 0..20i64 {
        db.write(move |c| async move { c.defer("INSERT INTO t VALUES (?1)", params![i]).await.map_err(DbError::from) }).await.unwrap();
        assert_eq!(count(&db, "SELECT COUNT(*) FROM t").await, i + 1);
    }
    // A read cancelled half way does not spoil the next ones.
    for _ in 0..20 {
        let r = tokio::time::timeout(std::time::Duration::from_micros(50), async {
            let rows = db.reader().await.query("SELECT COUNT(*) FROM t", ()).await.unwrap();
            aethex_origin::db::first_row(rows).await.unwrap();
        })
        .await;
        let _ = r;
        assert_eq!(count(&db, "SELECT COUNT(*) FROM t").await, 20);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_writes_only_with_a_failure_keeps_the_others() {
    let (_sqld, db) = with_tables().await;
    // Jobs that only defer writes (sent at once, without savepoints, first): a failure on
    // the server undoes that try, and the group is sent again with savepoints.
    let tasks: Vec<_> = (0..200i64)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |c| async move {
                    c.defer("INSERT INTO side VALUES (?1)", params![i]).await?;
                    c.defer("INSERT INTO k VALUES (?1)", params![if i % 13 == 0 { 0 } else { i }]).await?;
                    Ok::<_, DbError>(i)
                })
                .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    // Exactly one of the jobs writing k = 0 gets in; the other 15 fail alone.
    assert_eq!(ok, 200 - 15);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM side").await, 185);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM k").await, 185);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_asked_for_later_come_with_the_commit() {
    let (_sqld, db) = with_tables().await;
    // Each job's `RETURNING` rows are read after its write returned; they are there
    // whether the group went in one try or again with savepoints (every 13th job writes a
    // `k` of 1000: the first one that runs keeps it, the other 15 fail on the server).
    for round in 0..2i64 {
        let tasks: Vec<_> = (0..200i64)
            .map(|i| {
                let db = db.clone();
                let v = round * 1000 + i;
                tokio::spawn(async move {
                    let r = db
                        .write(move |c| async move {
                            let later = c.query_later("INSERT INTO side VALUES (?1) RETURNING v * 2, 'x'", params![v]).await?;
                            let k = if round == 1 && i % 13 == 0 { 1000 } else { v };
                            c.defer("INSERT INTO k VALUES (?1)", params![k]).await?;
                            Ok::<_, DbError>(later)
                        })
                        .await;
                    (v, r)
                })
            })
            .collect();
        let mut failed = 0;
        for t in tasks {
            let (v, r) = t.await.unwrap();
            match r {
                Ok(later) => {
                    let rows = later.rows().expect("the statement ran");
                    assert_eq!(rows.len(), 1);
                    assert_eq!((rows[0].get::<i64>(0).unwrap(), rows[0].get::<String>(1).unwrap()), (v * 2, "x".to_string()));
                }
                Err(_) => failed += 1,
            }
        }
        assert_eq!(failed, if round == 0 { 0 } else { 15 }, "round {round}");
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM side").await, 400 - 15);
}
