//! Origin on a libSQL server (sqld) instead of a local file: the remote-primary mode a
//! cluster of origins runs in.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use aethex_tests::sqld::Sqld;
use aethex_tests::Origin;

/// Concurrent device logins and saves, a fifth of them abandoned by their client half way
/// (a short timeout), never leave origin answering 500: before, one shared Hrana stream
/// took every read, and a cancelled request left it holding a used baton, so every later
/// request failed until a restart. After the storm, every request succeeds again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_do_not_wedge_origin_on_sqld() {
    let sqld = Arc::new(Sqld::start());
    let origin = Origin::start_on(&sqld, &[("AETHEX_AUTH__RATE_LIMIT_PER_IP_PER_MINUTE", "1000000")]);
    let game = origin.game("sqld-game").await;
    let url = format!("{}/api/v1/auth/device", origin.url);
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (http, url, key) = (http.clone(), url.clone(), game.client_key.clone());
        tasks.push(tokio::spawn(async move {
            let mut server_errors = 0;
            for i in 0..30 {
                let mut req =
                    http.post(&url).header("x-aethex-client-key", &key).json(&json!({"device_id": format!("storm-device-{w:04}-{:08}", i % 5)}));
                if i % 5 == 4 {
                    // Abandoned by the client while origin is still talking to sqld.
                    req = req.timeout(Duration::from_micros(1500 + (i * 97 % 2000) as u64));
                }
                if let Ok(r) = req.send().await {
                    if r.status().is_server_error() {
                        server_errors += 1;
                    }
                }
            }
            server_errors
        }));
    }
    let mut server_errors = 0;
    for t in tasks {
        server_errors += t.await.unwrap();
    }
    assert_eq!(server_errors, 0, "origin answered 5xx during the storm");
    // Afterwards every kind of request works: reads, writes, a save and its load.
    let player = game.player().await;
    for i in 0..20 {
        player.saves().save(&format!("slot{i}"), json!({"i": i})).await.expect("save after the storm");
        assert_eq!(player.saves().load(&format!("slot{i}")).await.expect("load after the storm").data.unwrap()["i"], i);
    }
    let ready = reqwest::get(format!("{}/readyz", origin.url)).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["database"], "remote");
}
