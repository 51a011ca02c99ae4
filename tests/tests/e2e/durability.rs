//! Acknowledged saves survive SIGKILL.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aethex_sdk::saves::verify;
use aethex_tests::Origin;
use serde_json::json;

#[tokio::test]
async fn acknowledged_saves_survive_sigkill() {
    let origin = Origin::start(&[("AETHEX_SAVES__VERSIONS_KEPT", "1000")]);
    let game = origin.game("durable-game").await;
    let mut players = Vec::new();
    for _ in 0..4 {
        players.push(game.player().await);
    }
    /// (player index, slot, version, checksum) of an acknowledged write.
    type Acked = (usize, String, i64, String);
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let mut tasks = Vec::new();
    for (pi, p) in players.iter().enumerate() {
        for slot_i in 0..2 {
            let p = p.clone();
            let acked = acked.clone();
            tasks.push(tokio::spawn(async move {
                let slot = format!("slot{slot_i}");
                for i in 0..100_000u64 {
                    let data = json!({"writer": pi, "slot": slot_i, "i": i, "pad": "x".repeat(512 + (i as usize % 512))});
                    match p.saves().save(&slot, data).await {
                        Ok(r) => acked.lock().unwrap().push((pi, slot.clone(), r.metadata.version, r.metadata.checksum)),
                        Err(_) => return, // the server died mid-request: not acknowledged
                    }
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut origin = origin;
    origin.kill();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 20, "too few writes before the kill: {}", acked.len());

    let _origin = origin.restart_after_kill();
    let mut checked = 0;
    for (pi, p) in players.iter().enumerate() {
        // Access tokens stay valid across the restart (keys are on disk).
        for slot_i in 0..2 {
            let slot = format!("slot{slot_i}");
            let mine: Vec<_> = acked.iter().filter(|a| a.0 == pi && a.1 == slot).collect();
            let history = p.saves().history(&slot).await.unwrap();
            for (_, _, version, checksum) in &mine {
                let v = history
                    .versions
                    .iter()
                    .find(|v| v.version == *version)
                    .unwrap_or_else(|| panic!("acknowledged version {version} of {slot} lost"));
                assert_eq!(&v.checksum, checksum);
                let loaded = p.saves().load_version(&slot, *version).await.unwrap();
                assert!(verify(&loaded), "version {version} does not verify");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, acked.len());
    eprintln!("durability: {checked} acknowledged saves all present after SIGKILL");
}
