//! Region registry rules.

use aethex_protocol::regions::{parse_region_name, parse_relay_url, Region, RegionList, RegisterRegionRequest};
use aethex_protocol::validate::Invalid;

use super::store;
use crate::db::DbError;
use crate::error::ApiError;
use crate::replication::rows;
use crate::state::AppState;
pub use store::RelayInstance;

/// Most players one relay may announce.
pub const MAX_CAPACITY: u32 = 1_000_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Whether origin may call a relay at `url`: its host is one of `multiplayer.relay_hosts`
/// (`*.example.com` matches the names under example.com).
fn host_allowed(app: &AppState, url: &str) -> bool {
    let Some(host) = url::Url::parse(url).ok().and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())) else {
        return false;
    };
    app.config.multiplayer.relay_hosts.iter().any(|allowed| {
        let allowed = allowed.trim().to_ascii_lowercase();
        match allowed.strip_prefix("*.") {
            Some(domain) => host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}")),
            None => host == allowed,
        }
    })
}

/// Registers a relay or records its heartbeat. `key_fingerprint`: the relay key it
/// presented, which origin presents back when it calls this region.
pub async fn register(app: &AppState, name: &str, req: RegisterRegionRequest, key_fingerprint: &str) -> Result<Region, ApiError> {
    let name = parse_region_name(name)?;
    let url = parse_relay_url("url", &req.url)?;
    let ping_url = match &req.ping_url {
        Some(p) => parse_relay_url("ping_url", p)?,
        None => format!("{}/v1/ping", url.replacen("ws://", "http://", 1).replacen("wss://", "https://", 1)),
    };
    for (field, u) in [("url", &url), ("ping_url", &ping_url)] {
        if !host_allowed(app, u) {
            return Err(Invalid::new(field, "the relay's host is not in multiplayer.relay_hosts").into());
        }
    }
    if req.capacity == 0 || req.capacity > MAX_CAPACITY {
        return Err(Invalid::new("capacity", format!("capacity must be 1 to {MAX_CAPACITY}")).into());
    }
    if req.load > req.capacity {
        return Err(Invalid::new("load", "load cannot exceed capacity").into());
    }
    let relay_url = match &req.relay_url {
        Some(u) => {
            let u = parse_relay_url("relay_url", u)?;
            if !host_allowed(app, &u) {
                return Err(Invalid::new("relay_url", "the relay's host is not in multiplayer.relay_hosts").into());
            }
            u
        }
        None => url.clone(),
    };
    let now = now_ms();
    let relay =
        RelayInstance { url: relay_url, capacity: req.capacity, load: req.load, last_seen_ms: now, key_fingerprint: key_fingerprint.to_string() };
    let live_since = now - ttl_ms(app);
    let (name2, url2) = (name.clone(), url.clone());
    let region = app
        .db
        .write_replicated(move |c, out| async move {
            store::upsert_relay(&c, &name2, &relay, now - FORGET_RELAYS_AFTER_MS).await?;
            // The region as players see it: its public URL, with the live relays' sums.
            let (capacity, load) = store::region_totals(&c, &name2, live_since).await?;
            let r = Region { name: name2, url: url2, ping_url, capacity, load, last_seen_ms: now };
            store::upsert(&c, &r, &relay.key_fingerprint).await?;
            out.upsert(&c, rows::table("regions"), rows::region(&r.name, &r.url, &r.ping_url, r.capacity, r.load, r.last_seen_ms)).await?;
            Ok::<Region, DbError>(r)
        })
        .await?;
    Ok(region)
}

/// Relays not heard from for a day are forgotten.
const FORGET_RELAYS_AFTER_MS: i64 = 86_400_000;

fn ttl_ms(app: &AppState) -> i64 {
    i64::try_from(app.config.edge.region_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// The relays of `region` heard from within `edge.region_ttl_secs`.
pub async fn live_relays(app: &AppState, region: &str) -> Result<Vec<RelayInstance>, DbError> {
    store::live_relays(&*app.db.reader().await, region, now_ms() - ttl_ms(app)).await
}

/// Regions heard from within `edge.region_ttl_secs`.
pub async fn list(app: &AppState) -> Result<RegionList, ApiError> {
    aethex_edge::readmodel::regions(&app.read_model, now_ms() as u64, app.config.edge.region_ttl_secs * 1000).await.map_err(ApiError::internal)
}

/// How long a relay may take to answer origin's questions (presence, live rooms).
pub const RELAY_ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);

/// Asks every live relay of every live region at once (POST with `body`, else GET), each
/// with the relay key it registered with: one entry per relay, with its region and its
/// JSON answer, or `None` when it could not be reached within [`RELAY_ASK_TIMEOUT`],
/// refused, or answered something unreadable.
pub async fn ask_relays<T: serde::de::DeserializeOwned>(
    app: &AppState,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<Vec<(Region, Option<T>)>, ApiError> {
    let mut targets = Vec::new();
    for r in list(app).await?.regions {
        for relay in live_relays(app, &r.name).await? {
            targets.push((r.clone(), relay));
        }
    }
    let asks = targets.into_iter().map(|(r, relay)| async move {
        let key = app.peers.relay_key_by_fingerprint(&relay.key_fingerprint).map(str::to_string);
        let (Some(base), Some(key)) = (aethex_protocol::regions::http_base(&relay.url), key) else { return (r, None) };
        let req = match body {
            Some(b) => app.http.post(format!("{base}{path}")).json(b),
            None => app.http.get(format!("{base}{path}")),
        };
        let answer = match req.header(aethex_protocol::multiplayer::RELAY_KEY_HEADER, key.as_str()).timeout(RELAY_ASK_TIMEOUT).send().await {
            Ok(resp) if resp.status().is_success() => resp.json::<T>().await.ok(),
            Ok(resp) => {
                tracing::warn!(region = %r.name, path, status = %resp.status(), "a relay refused origin's question");
                None
            }
            Err(_) => None,
        };
        (r, answer)
    });
    Ok(futures::future::join_all(asks).await)
}
