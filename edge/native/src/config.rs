//! Settings of a native edge node: built-in defaults, a TOML file, then `AETHEX_*`
//! environment variables (`AETHEX_NODE__ORIGIN_URL`: section and key joined by `__`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// `[node]`: named apart from origin's `[edge]` so both can share one environment.
    pub node: NodeSettings,
    pub replication: ReplicationSettings,
    /// `[tls]`: HTTPS on the edge's listener, and the extra CA its calls to origin trust.
    pub tls: aethex_runtime::tls::TlsConfig,
    pub log: aethex_runtime::LogConfig,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSettings {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Origin's base URL.
    pub origin_url: String,
    /// Key this edge presents to origin (one of origin's `edge.keys`); also accepted
    /// from wasm edges reading this node's Hrana endpoint.
    pub edge_key: String,
    /// More keys accepted at the Hrana endpoint.
    pub hrana_keys: Vec<String>,
    /// Name reported in `x-aethex-edge`.
    pub name: String,
    /// Folder of the replica file (`replica.db`).
    pub data_dir: PathBuf,
    /// Expected `iss` of access tokens (origin's `auth.issuer`).
    pub issuer: String,
    pub leaderboard_ttl_secs: u64,
    pub jwks_refresh_secs: u64,
    pub save_blob_ttl_secs: u64,
    pub region_ttl_secs: u64,
    /// Largest request body the edge forwards.
    pub max_body_bytes: usize,
    /// Origins whose browser pages may read what the edge answers itself (`*`: any).
    pub cors_origins: Vec<String>,
    /// Behind a load balancer or proxy: the request header it puts the client's address in
    /// (`x-forwarded-for`: its last entry; `x-real-ip`, `cf-connecting-ip`: the value).
    /// Empty: the connection's peer address. Set it only when every request comes through
    /// that proxy: a client reaching the edge directly could name any address in it.
    pub client_ip_header: String,
}

impl std::fmt::Debug for NodeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSettings")
            .field("listen", &self.listen)
            .field("origin_url", &self.origin_url)
            .field("edge_key", &"<redacted>")
            .field("name", &self.name)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Default for NodeSettings {
    fn default() -> Self {
        let core = aethex_edge::EdgeConfig::default();
        Self {
            listen: "127.0.0.1:8081".parse().expect("static address"),
            origin_url: core.origin_url,
            edge_key: String::new(),
            hrana_keys: Vec::new(),
            name: core.name,
            data_dir: PathBuf::from("./aethex-edge-data"),
            issuer: core.issuer,
            leaderboard_ttl_secs: core.leaderboard_ttl_secs,
            jwks_refresh_secs: core.jwks_refresh_secs,
            save_blob_ttl_secs: core.save_blob_ttl_secs,
            region_ttl_secs: core.region_ttl_secs,
            max_body_bytes: aethex_edge::body::MAX_BODY_BYTES,
            cors_origins: core.cors_origins,
            client_ip_header: String::new(),
        }
    }
}

impl NodeSettings {
    /// The core's settings (a native edge reads its own replica file: no replica URL).
    pub fn core(&self) -> aethex_edge::EdgeConfig {
        aethex_edge::EdgeConfig {
            origin_url: self.origin_url.trim_end_matches('/').to_string(),
            replica_url: String::new(),
            edge_key: self.edge_key.clone(),
            replica_token: String::new(),
            cors_origins: self.cors_origins.clone(),
            issuer: self.issuer.clone(),
            leaderboard_ttl_secs: self.leaderboard_ttl_secs,
            jwks_refresh_secs: self.jwks_refresh_secs,
            save_blob_ttl_secs: self.save_blob_ttl_secs,
            region_ttl_secs: self.region_ttl_secs,
            name: self.name.clone(),
            jwks_json: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationSettings {
    /// Longest a pull waits at origin for new changes.
    pub wait_ms: u64,
    /// Most changes per pull and per applied transaction.
    pub batch: u32,
    /// Testing aid: hold each apply transaction open this long (0 in production).
    pub apply_pause_ms: u64,
    /// Keep every leaderboard in rank order in memory (around-me reads without SQL
    /// ranking; about 150 bytes per entry). Off: around-me ranks through SQL.
    pub board_index: bool,
    /// Most entries (all boards together) kept in memory; beyond, around-me ranks through
    /// SQL until the edge restarts or bootstraps again.
    pub board_index_max_entries: usize,
}

impl Default for ReplicationSettings {
    fn default() -> Self {
        Self { wait_ms: 20_000, batch: 500, apply_pause_ms: 0, board_index: true, board_index_max_entries: crate::boards::DEFAULT_MAX_ENTRIES }
    }
}

impl ReplicationSettings {
    pub fn pull(&self) -> crate::replicator::PullSettings {
        crate::replicator::PullSettings {
            wait: Duration::from_millis(self.wait_ms),
            batch: self.batch.clamp(1, 1000),
            apply_pause: Duration::from_millis(self.apply_pause_ms),
        }
    }
}

const SECTIONS: &[&str] = &["node", "replication", "tls", "log"];

impl NodeConfig {
    /// Defaults, then `file` (if given, it must exist), then `AETHEX_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        aethex_runtime::load_config(file, SECTIONS)
    }
}
