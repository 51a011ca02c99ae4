//! Pulls origin's outbox into the replica file: long-polls for changes after the applied
//! position, applies each batch in one transaction, and bootstraps from a snapshot when
//! the replica is new, of another epoch, or behind what origin's outbox still keeps.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aethex_protocol::replica::{Change, ChangesResponse, SnapshotHeader, SnapshotTrailer, EDGE_KEY_HEADER};

use crate::store::{ReplicaStore, StoreError};

/// How the replicator pulls.
#[derive(Debug, Clone)]
pub struct PullSettings {
    /// Longest origin holds a pull open when there is nothing new.
    pub wait: Duration,
    /// Most changes per pull (and per applied transaction).
    pub batch: u32,
    /// Holds each apply transaction open this long before committing (fault injection
    /// for crash tests; zero in production).
    pub apply_pause: Duration,
}

impl Default for PullSettings {
    fn default() -> Self {
        Self { wait: Duration::from_secs(20), batch: 500, apply_pause: Duration::ZERO }
    }
}

/// Live numbers of the replicator, for metrics and health.
#[derive(Debug, Default)]
pub struct ReplicationStatus {
    pub position: AtomicI64,
    pub head: AtomicI64,
    pub applied_total: AtomicU64,
    pub bootstraps: AtomicU64,
    pub errors: AtomicU64,
    /// Unix ms of the last pull that reached origin.
    pub last_contact_ms: AtomicU64,
    pub connected: AtomicBool,
}

impl ReplicationStatus {
    pub fn lag(&self) -> i64 {
        (self.head.load(Ordering::Relaxed) - self.position.load(Ordering::Relaxed)).max(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("origin unreachable: {0}")]
    Http(#[from] reqwest::Error),
    #[error("origin answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("snapshot: {0}")]
    Snapshot(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Replicator {
    store: Arc<ReplicaStore>,
    http: reqwest::Client,
    origin_url: String,
    edge_key: String,
    settings: PullSettings,
    pub status: Arc<ReplicationStatus>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Replicator {
    pub fn new(store: Arc<ReplicaStore>, origin_url: &str, edge_key: &str, settings: PullSettings) -> Self {
        let http = aethex_runtime::tls::http_client()
            .user_agent(concat!("aethex-edge/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client");
        Self {
            store,
            http,
            origin_url: origin_url.trim_end_matches('/').to_string(),
            edge_key: edge_key.to_string(),
            settings,
            status: Arc::new(ReplicationStatus::default()),
        }
    }

    /// Pulls forever, backing off (up to 5 s) while origin is unreachable.
    pub async fn run(self) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.step().await {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(e) => {
                    self.status.errors.fetch_add(1, Ordering::Relaxed);
                    self.status.connected.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "replication pull failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// One pull (or bootstrap) and its apply.
    pub async fn step(&self) -> Result<(), PullError> {
        let Some(state) = self.store.state().await? else { return self.bootstrap().await };
        self.status.position.store(state.position, Ordering::Relaxed);
        let url = format!(
            "{}/api/v1/replication/changes?after={}&limit={}&wait_ms={}",
            self.origin_url,
            state.position,
            self.settings.batch,
            self.settings.wait.as_millis()
        );
        let resp = self.http.get(&url).header(EDGE_KEY_HEADER, &self.edge_key).timeout(self.settings.wait + Duration::from_secs(15)).send().await?;
        let status = resp.status().as_u16();
        if status == 410 {
            tracing::info!(position = state.position, "origin no longer keeps our position; bootstrapping");
            return self.bootstrap().await;
        }
        if status != 200 {
            return Err(PullError::Status { status, body: resp.text().await.unwrap_or_default().chars().take(300).collect() });
        }
        let batch: ChangesResponse = resp.json().await?;
        self.status.last_contact_ms.store(now_ms(), Ordering::Relaxed);
        self.status.connected.store(true, Ordering::Relaxed);
        self.status.head.store(batch.head, Ordering::Relaxed);
        if batch.epoch != state.epoch {
            tracing::info!(ours = %state.epoch, origin = %batch.epoch, "origin has another database; bootstrapping");
            return self.bootstrap().await;
        }
        if !batch.changes.is_empty() {
            let n = self.store.apply(&batch.epoch, &batch.changes, self.settings.apply_pause).await?;
            self.status.applied_total.fetch_add(n as u64, Ordering::Relaxed);
            self.status.position.store(batch.position.max(state.position), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Replaces the replica with origin's snapshot.
    pub async fn bootstrap(&self) -> Result<(), PullError> {
        let url = format!("{}/api/v1/replication/snapshot", self.origin_url);
        let mut resp = self.http.get(&url).header(EDGE_KEY_HEADER, &self.edge_key).send().await?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(PullError::Status { status, body: resp.text().await.unwrap_or_default().chars().take(300).collect() });
        }
        let mut buf: Vec<u8> = Vec::new();
        let mut header: Option<SnapshotHeader> = None;
        let mut trailer: Option<SnapshotTrailer> = None;
        let mut boot = self.store.begin_bootstrap().await?;
        while let Some(chunk) = resp.chunk().await? {
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = &line[..line.len() - 1];
                if line.is_empty() {
                    continue;
                }
                if header.is_none() {
                    header = Some(serde_json::from_slice(line).map_err(|e| PullError::Snapshot(format!("bad header: {e}")))?);
                } else if let Ok(change) = serde_json::from_slice::<Change>(line) {
                    if trailer.is_some() {
                        return Err(PullError::Snapshot("rows after the trailer".into()));
                    }
                    boot.add(&change).await?;
                } else {
                    trailer = Some(serde_json::from_slice(line).map_err(|e| PullError::Snapshot(format!("bad line: {e}")))?);
                }
            }
        }
        let header = header.ok_or_else(|| PullError::Snapshot("empty snapshot".into()))?;
        if header.schema_version != aethex_protocol::replica::SCHEMA_VERSION {
            return Err(PullError::Snapshot(format!(
                "origin sends read-model schema {}, this edge knows {}; run the same release on both",
                header.schema_version,
                aethex_protocol::replica::SCHEMA_VERSION
            )));
        }
        match trailer {
            Some(t) if t.end && t.rows == boot.rows() => {}
            Some(t) if t.end => return Err(PullError::Snapshot(format!("snapshot announced {} rows, {} arrived", t.rows, boot.rows()))),
            _ => return Err(PullError::Snapshot("snapshot was cut short".into())),
        }
        boot.finish(&header).await?;
        self.status.bootstraps.fetch_add(1, Ordering::Relaxed);
        self.status.position.store(header.position, Ordering::Relaxed);
        self.status.head.fetch_max(header.position, Ordering::Relaxed);
        self.status.last_contact_ms.store(now_ms(), Ordering::Relaxed);
        self.status.connected.store(true, Ordering::Relaxed);
        tracing::info!(position = header.position, epoch = %header.epoch, "replica bootstrapped from a snapshot");
        Ok(())
    }
}
