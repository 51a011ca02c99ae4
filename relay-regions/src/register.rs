//! Registration with origin: `PUT {origin}/api/v1/regions/{region}` (cluster key in
//! `x-aethex-edge-key`) at start and then every `heartbeat_secs`, carrying the load
//! (authenticated connections). Origin lists a region while its heartbeats are fresh.
//! When origin is unreachable or refuses, the node keeps serving and retries with
//! exponential backoff (1 s doubling, at most the heartbeat period).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aethex_protocol::matchmaking::{BackfillRequest, BackfillResponse};
use aethex_protocol::multiplayer::RELAY_KEY_HEADER;
use aethex_protocol::regions::RegisterRegionRequest;

use crate::metrics::Metrics;
use crate::state::Relay;

fn client() -> Option<reqwest::Client> {
    match aethex_runtime::tls::http_client().timeout(Duration::from_secs(5)).connect_timeout(Duration::from_secs(3)).build() {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for origin");
            None
        }
    }
}

pub async fn heartbeat(relay: Arc<Relay>, origin_url: String, every: Duration) {
    let Some(http) = client() else { return };
    let url = format!("{}/api/v1/regions/{}", origin_url.trim_end_matches('/'), relay.region);
    let every = every.max(Duration::from_secs(1));
    let mut backoff = Duration::from_secs(1);
    let mut healthy: Option<bool> = None;
    loop {
        let load = relay.metrics.players.load(Ordering::Relaxed).clamp(0, i64::from(relay.capacity)) as u32;
        let body = RegisterRegionRequest {
            url: relay.region_url.clone(),
            ping_url: Some(relay.ping_url.clone()),
            capacity: relay.capacity,
            load,
            relay_url: Some(relay.public_url.clone()),
        };
        let result = http.put(&url).header(RELAY_KEY_HEADER, &relay.cluster_key).json(&body).send().await;
        let failure = match result {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => {
                let status = r.status();
                Some(format!("origin answered {status}: {}", r.text().await.unwrap_or_default().chars().take(300).collect::<String>()))
            }
            Err(e) => Some(e.to_string()),
        };
        relay.relist_codes().await;
        let wait = match failure {
            None => {
                Metrics::add(&relay.metrics.heartbeats_ok, 1);
                if healthy != Some(true) {
                    tracing::info!(region = %relay.region, url = %relay.public_url, "registered with origin");
                }
                healthy = Some(true);
                backoff = Duration::from_secs(1);
                every
            }
            Some(why) => {
                Metrics::add(&relay.metrics.heartbeats_failed, 1);
                if healthy != Some(false) {
                    tracing::warn!(region = %relay.region, error = %why, "heartbeat to origin failed; retrying with backoff");
                }
                healthy = Some(false);
                let wait = backoff;
                backoff = (backoff * 2).min(every);
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Reports open seats of match rooms to origin (`POST /api/v1/matchmaking/backfill`), so
/// queued players fill a room that lost someone, and a closed room's (none). Requests for
/// the same room that queue up meanwhile are merged, and the count is taken when a request
/// is sent. A refusal (`4xx`: the match was forgotten, or is in another room) is logged and
/// dropped; a request origin did not answer, or answered with `5xx`, is sent again after
/// 1 s, doubling, [`BACKFILL_TRIES`] times in all.
pub async fn backfills(relay: Arc<Relay>, origin_url: String) {
    let Some(mut rx) = relay.take_backfills() else { return };
    let Some(http) = client() else { return };
    let url = format!("{}/api/v1/matchmaking/backfill", origin_url.trim_end_matches('/'));
    // Requests to send again: when, and how many tries they had.
    let mut again: Vec<(tokio::time::Instant, u32, BackfillRequest)> = Vec::new();
    loop {
        let next_retry = again.iter().map(|(at, _, _)| *at).min();
        let first = tokio::select! {
            got = rx.recv() => match got {
                Some(req) => Some(req),
                None => return,
            },
            _ = sleep_until_some(next_retry) => None,
        };
        let now = tokio::time::Instant::now();
        let mut batch: Vec<(u32, BackfillRequest)> = Vec::new();
        let (due, later): (Vec<_>, Vec<_>) = again.drain(..).partition(|(at, _, _)| *at <= now);
        again = later;
        for (_, tries, req) in due {
            merge(&mut batch, tries, req);
        }
        for req in first.into_iter().chain(std::iter::from_fn(|| rx.try_recv().ok())) {
            merge(&mut batch, 0, req);
        }
        again.retain(|(_, _, r)| !batch.iter().any(|(_, b)| b.room_id == r.room_id));
        for (tries, req) in batch {
            let req = relay.backfill_now(req);
            if !send_backfill(&relay, &http, &url, &req).await && tries + 1 < BACKFILL_TRIES {
                again.push((tokio::time::Instant::now() + Duration::from_secs(1 << tries), tries + 1, req));
            }
        }
    }
}

/// Adds `req` (sent `tries` times before) to `batch`, replacing a request for the same
/// room (the fewer tries of the two are kept: a new request starts them over).
fn merge(batch: &mut Vec<(u32, BackfillRequest)>, tries: u32, req: BackfillRequest) {
    match batch.iter_mut().find(|(_, b)| b.room_id == req.room_id) {
        Some(b) => *b = (tries.min(b.0), req),
        None => batch.push((tries, req)),
    }
}

/// How many times a backfill request origin does not answer is sent in all.
pub const BACKFILL_TRIES: u32 = 6;

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends one backfill request; whether it is done with (answered, or refused for good).
async fn send_backfill(relay: &Relay, http: &reqwest::Client, url: &str, req: &BackfillRequest) -> bool {
    let sent = http.post(url).header(RELAY_KEY_HEADER, &relay.cluster_key).json(req).send().await;
    match sent {
        Ok(r) if r.status().is_success() => {
            Metrics::add(&relay.metrics.backfills_ok, 1);
            if let Ok(answer) = r.json::<BackfillResponse>().await {
                relay.backfilled(&req.room_id, &answer.filled);
                tracing::debug!(room = %req.room_id, filled = answer.filled.len(), open = answer.open_seats, "backfill asked");
            }
            true
        }
        Ok(r) => {
            Metrics::add(&relay.metrics.backfills_failed, 1);
            let status = r.status();
            let answer: String = r.text().await.unwrap_or_default().chars().take(300).collect();
            tracing::info!(room = %req.room_id, %status, %answer, "origin refused a backfill");
            !status.is_server_error()
        }
        Err(e) => {
            Metrics::add(&relay.metrics.backfills_failed, 1);
            tracing::warn!(room = %req.room_id, error = %e, "backfill request to origin failed");
            false
        }
    }
}
