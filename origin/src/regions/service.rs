//! Region registry rules.

use aethex_protocol::regions::{parse_region_name, parse_relay_url, Region, RegionList, RegisterRegionRequest};
use aethex_protocol::validate::Invalid;
use libsql::params;

use crate::db::DbError;
use crate::error::ApiError;
use crate::replication::rows;
use crate::state::AppState;

/// Most players one relay may announce.
pub const MAX_CAPACITY: u32 = 1_000_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Registers a relay or records its heartbeat.
pub async fn register(app: &AppState, name: &str, req: RegisterRegionRequest) -> Result<Region, ApiError> {
    let name = parse_region_name(name)?;
    let url = parse_relay_url("url", &req.url)?;
    let ping_url = match &req.ping_url {
        Some(p) => parse_relay_url("ping_url", p)?,
        None => format!("{}/v1/ping", url.replacen("ws://", "http://", 1).replacen("wss://", "https://", 1)),
    };
    if req.capacity == 0 || req.capacity > MAX_CAPACITY {
        return Err(Invalid::new("capacity", format!("capacity must be 1 to {MAX_CAPACITY}")).into());
    }
    if req.load > req.capacity {
        return Err(Invalid::new("load", "load cannot exceed capacity").into());
    }
    let region = Region { name, url, ping_url, capacity: req.capacity, load: req.load, last_seen_ms: now_ms() };
    let r = region.clone();
    app.db
        .write_replicated(move |c, out| async move {
            c.execute(
                "INSERT INTO regions (name, url, ping_url, capacity, load, last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (name) DO UPDATE SET url = excluded.url, ping_url = excluded.ping_url, capacity = excluded.capacity,
                   load = excluded.load, last_seen_ms = excluded.last_seen_ms",
                params![r.name.clone(), r.url.clone(), r.ping_url.clone(), r.capacity, r.load, r.last_seen_ms],
            )
            .await?;
            out.upsert(&c, rows::table("regions"), rows::region(&r.name, &r.url, &r.ping_url, r.capacity, r.load, r.last_seen_ms)).await?;
            Ok::<(), DbError>(())
        })
        .await?;
    Ok(region)
}

/// Regions heard from within `edge.region_ttl_secs`.
pub async fn list(app: &AppState) -> Result<RegionList, ApiError> {
    aethex_edge::readmodel::regions(&app.read_model, now_ms() as u64, app.config.edge.region_ttl_secs * 1000).await.map_err(ApiError::internal)
}

/// How long a relay may take to answer origin's questions (presence, live rooms).
pub const RELAY_ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);

/// Asks the relay of every live region at once (POST with `body`, else GET), with the
/// cluster key: each region with its relay's JSON answer, or `None` when it could not be
/// reached within [`RELAY_ASK_TIMEOUT`], refused, or answered something unreadable.
pub async fn ask_relays<T: serde::de::DeserializeOwned>(
    app: &AppState,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<Vec<(Region, Option<T>)>, ApiError> {
    let regions = list(app).await?.regions;
    let key = app.edge_keys.first();
    let asks = regions.into_iter().map(|r| async move {
        let (Some(base), Some(key)) = (crate::matchmaking::service::http_base(&r.url), key) else { return (r, None) };
        let req = match body {
            Some(b) => app.http.post(format!("{base}{path}")).json(b),
            None => app.http.get(format!("{base}{path}")),
        };
        let answer = match req.header(aethex_protocol::replica::EDGE_KEY_HEADER, key.as_str()).timeout(RELAY_ASK_TIMEOUT).send().await {
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
