//! Registration and heartbeats with origin; the small HTTP routes.

use std::time::{Duration, Instant};

use aethex_protocol::multiplayer::Encoding;
use aethex_protocol::regions::RegionList;

use crate::helpers::*;

async fn regions(origin_url: &str) -> Option<RegionList> {
    let resp = reqwest::get(format!("{origin_url}/api/v1/regions")).await.ok()?;
    resp.json().await.ok()
}

/// Waits until origin lists `region` and `ok` accepts it.
async fn wait_listed(
    origin_url: &str,
    region: &str,
    mut ok: impl FnMut(&aethex_protocol::regions::Region) -> bool,
) -> aethex_protocol::regions::Region {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(list) = regions(origin_url).await {
            if let Some(r) = list.regions.into_iter().find(|r| r.name == region) {
                if ok(&r) {
                    return r;
                }
            }
        }
        assert!(Instant::now() < deadline, "origin does not list {region} as expected");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_relay_registers_and_heartbeats_its_load_even_across_an_origin_restart() {
    let w = World::start(&[("AETHEX_RELAY__CAPACITY", "500")]).await;
    let r = wait_listed(&w.origin.url, REGION, |_| true).await;
    assert_eq!(r.url, w.relay.public);
    assert_eq!(r.ping_url, format!("{}/v1/ping", w.relay.http));
    assert_eq!((r.capacity, r.load), (500, 0));

    // Load follows connected players.
    let p = w.player().await;
    let c1 = Client::connect(&w.relay, &p.token, Encoding::Json).await;
    let c2 = w.client().await;
    let first_seen = r.last_seen_ms;
    let r = wait_listed(&w.origin.url, REGION, |r| r.load == 2).await;
    assert!(r.last_seen_ms > first_seen, "heartbeats keep coming");
    drop(c1);
    c2.close().await;
    wait_listed(&w.origin.url, REGION, |r| r.load == 0).await;

    // Origin goes away and comes back on the same port: the relay keeps trying and is
    // listed again, and still verifies tokens (keys cached).
    let World { origin, game, relay } = w;
    let origin = origin.restart_after_kill();
    let before = crate::helpers::metric(&relay, "aethex_relay_heartbeat_failures_total").await;
    let r = wait_listed(&origin.url, REGION, |r| r.load == 0).await;
    assert_eq!(r.url, relay.public);
    let _ = before;
    Client::connect(&relay, &player_of(&game).await.token, Encoding::Json).await;
}

#[tokio::test]
async fn heartbeats_back_off_while_origin_is_down() {
    let w = World::start(&[]).await;
    wait_listed(&w.origin.url, REGION, |_| true).await;
    let World { mut origin, relay, .. } = w;
    origin.kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let failures = metric(&relay, "aethex_relay_heartbeat_failures_total").await;
    // 1 s heartbeats: back-off at 1, 2, 1 s caps... at most one try a second, and the
    // relay still answers.
    assert!((1.0..=5.0).contains(&failures), "{failures} failed heartbeats in 4 s");
    assert_eq!(get(&format!("{}/healthz", relay.http)).await, (200, "ok".to_string()));
}

#[tokio::test]
async fn ping_healthz_and_metrics_answer() {
    let w = World::start(&[]).await;
    let resp = reqwest::get(format!("{}/v1/ping", w.relay.http)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    assert!(resp.text().await.unwrap().len() < 16);
    assert_eq!(get(&format!("{}/healthz", w.relay.http)).await, (200, "ok".to_string()));
    let (pair_a, pair_b, _) = pair(&w).await;
    // Metrics only on their own listener, never on the players' port.
    assert_eq!(get(&format!("{}/metrics", w.relay.http)).await.0, 404);
    let (s, text) = get(&format!("{}/metrics", w.relay.metrics)).await;
    assert_eq!(s, 200);
    for name in [
        "aethex_relay_connections 2",
        "aethex_relay_players 2",
        "aethex_relay_rooms 1",
        "aethex_relay_seats 2",
        "aethex_relay_messages_in_total",
        "aethex_relay_messages_out_total",
        "aethex_relay_bytes_in_total",
        "aethex_relay_bytes_out_total",
        "aethex_relay_dropped_total",
        "aethex_relay_kicked_total{reason=\"flood\"} 0",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} missing from\n{text}");
    }
    assert!(metric(&w.relay, "aethex_relay_messages_in_total").await >= 4.0);
    drop((pair_a, pair_b));
}
