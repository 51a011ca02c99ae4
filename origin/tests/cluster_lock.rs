//! The cluster's readers–writer lock against a real Redis (Debian's `redis-server`,
//! installed by the test command), with two lock instances standing for two origins.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aethex_origin::cluster::{LockError, Redis, RwLock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_and_the_writer_exclude_each_other_across_origins() {
    let server = aethex_tests::redis::Redis::start();
    let origin = |_: u8| async { Arc::new(RwLock::new("test-gc", Some(Redis::connect(&server.url).await.unwrap()))) };
    let (a, b) = (origin(1).await, origin(2).await);

    // A reader on B keeps A's writer out until it leaves.
    let read_b = b.read().await.unwrap();
    let a2 = a.clone();
    let writer = tokio::spawn(async move {
        let _held = a2.write().await.unwrap();
        let got = Instant::now();
        tokio::time::sleep(Duration::from_millis(400)).await;
        got
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!writer.is_finished(), "the writer entered while another origin's reader was in");
    let released = Instant::now();
    drop(read_b);
    tokio::time::sleep(Duration::from_millis(100)).await;

    // While A's writer holds it: B's writer is refused at once, B's reader waits.
    match b.write().await {
        Err(LockError::HeldElsewhere(_)) => {}
        Err(e) => panic!("expected HeldElsewhere, got {e}"),
        Ok(_) => panic!("two origins' writers held the lock at once"),
    }
    let asked = Instant::now();
    let read_again = b.read().await.unwrap();
    let got_read = Instant::now();
    let wrote = writer.await.unwrap();
    assert!(wrote >= released, "the writer entered before the reader left");
    assert!(got_read >= wrote + Duration::from_millis(300), "a reader entered while the writer held the lock");
    assert!(got_read.duration_since(asked) < Duration::from_secs(3));
    drop(read_again);

    // Without Redis the lock still holds within the process.
    drop(server);
    let local = a.read().await.expect("a lost Redis leaves the process's own lock");
    drop(local);
}
