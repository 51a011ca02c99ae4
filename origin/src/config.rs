//! Configuration: built-in defaults, then a TOML file, then `AETHEX_*` environment
//! variables (`AETHEX_SERVER__LISTEN=0.0.0.0:8080`: sections and keys joined by `__`).
//! With no file and no variables the server runs on 127.0.0.1:8080 with its data under
//! `./aethex-data`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A secret string that never prints.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "Secret(<empty>)" } else { "Secret(<redacted>)" })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    pub email: EmailConfig,
    pub saves: SavesConfig,
    pub edge: EdgeConfig,
    pub dlc: DlcConfig,
    pub matchmaking: MatchmakingConfig,
    pub leaderboards: LeaderboardsConfig,
    pub analytics: AnalyticsConfig,
    pub multiplayer: MultiplayerConfig,
    pub cluster: ClusterConfig,
    pub logic: LogicConfig,
    /// `[tls]`: HTTPS on origin's listeners (and the embedded edge's and relay's), and the
    /// extra CA its outbound calls trust (`aethex_runtime::tls`).
    pub tls: aethex_runtime::tls::TlsConfig,
    pub log: aethex_runtime::LogConfig,
}

/// `[cluster]`: coordination between several origins.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Redis (`redis://[:password@]host:port[/db]`) shared by every origin of a cluster:
    /// auth rate limits are counted there. Empty = one process, counts in memory.
    pub redis_url: Secret,
    /// The URL the other origins reach this one at (`http://10.0.3.7:8080`), for the
    /// matchmaking requests they pass to the origin that runs the queue. Empty: the
    /// listening address, which must then not be a wildcard (`0.0.0.0`).
    pub advertise_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// URL players and browsers reach this server at (OAuth callbacks, links in emails).
    /// Empty = `http://<listen address>`.
    pub public_url: String,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Largest request body outside the saves routes, in bytes.
    pub max_body_bytes: usize,
    /// Origins allowed by CORS (browser and web-export games). `*` allows any.
    pub cors_origins: Vec<String>,
    /// Address of the Prometheus `/metrics` listener, apart from the public port (port 0:
    /// any free port, printed at start-up; empty: no metrics listener).
    pub metrics_listen: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("static address"),
            public_url: String::new(),
            trust_forwarded_for: false,
            max_body_bytes: 64 * 1024,
            cors_origins: vec!["*".into()],
            metrics_listen: "127.0.0.1:0".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    // figment's `Jail::expect_with` takes closures returning its own (large) error type.
    #![allow(clippy::result_large_err)]

    /// `AETHEX_<SECTION>__<KEY>` variables are read only for the listed sections: every
    /// section of the config is listed (a new one was once silently left out).
    #[test]
    fn every_section_takes_environment_variables() {
        let doc = serde_json::to_value(super::Config::default()).unwrap();
        let mut sections: Vec<&str> = doc.as_object().unwrap().keys().map(String::as_str).collect();
        sections.sort_unstable();
        let mut listed = super::SECTIONS.to_vec();
        listed.sort_unstable();
        assert_eq!(sections, listed);
    }

    use super::*;

    #[test]
    fn env_overrides_sections_and_ignores_foreign_variables() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("AETHEX_SERVER__LISTEN", "127.0.0.1:9999");
            jail.set_env("AETHEX_AUTH__OAUTH__GOOGLE__CLIENT_ID", "abc");
            jail.set_env("AETHEX_SAVES__VERSIONS_KEPT", "7");
            jail.set_env("AETHEX_NPM_DIR", "/somewhere");
            jail.create_file("c.toml", "[saves]\nmax_slots = 3\nversions_kept = 5\n")?;
            let c = Config::load(Some(Path::new("c.toml"))).expect("loads");
            assert_eq!(c.server.listen.port(), 9999);
            assert_eq!(c.saves.max_slots, 3);
            assert_eq!(c.saves.versions_kept, 7, "environment wins over the file");
            assert_eq!(c.auth.oauth.google.as_ref().unwrap().client_id, "abc");
            jail.set_env("AETHEX_SAVES__VERSION_KEPT", "7");
            assert!(Config::load(None).is_err(), "a misspelt key is an error");
            Ok(())
        });
    }

    /// The Kubernetes ConfigMap's `aethex.toml` (deploy/k8s/config.yaml) is a config origin
    /// accepts, with the values the manifests rely on.
    #[test]
    fn the_kubernetes_config_file_loads() {
        let yaml = include_str!("../../deploy/k8s/config.yaml");
        let toml: String = yaml
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("aethex.toml: |"))
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with("    "))
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        assert!(toml.contains("[server]"), "no aethex.toml in the ConfigMap");
        figment::Jail::expect_with(|jail| {
            jail.create_file("k8s.toml", &toml)?;
            let c = Config::load(Some(Path::new("k8s.toml"))).expect("origin loads the ConfigMap's aethex.toml");
            assert_eq!(c.server.listen.port(), 8080, "the port the Service and probes use");
            assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/aethex"), "the mounted volume");
            assert!(!c.storage.database_url.is_empty() && !c.edge.embedded && !c.multiplayer.embedded_relay);
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_print() {
        let mut c = Config::default();
        c.storage.database_auth_token = Secret::new("tok-123");
        assert!(!format!("{c:?}").contains("tok-123"));
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Folder for the database file, keys and the email outbox.
    pub data_dir: PathBuf,
    /// A remote libSQL primary (`libsql://…` or `https://…`) used instead of the local file.
    pub database_url: String,
    pub database_auth_token: Secret,
    /// With a remote primary: the libSQL database that holds analytics events (same auth
    /// token). Empty = the main database. Ignored with the local file (analytics then has
    /// its own file, `<data_dir>/analytics.db`).
    pub analytics_database_url: String,
    /// With a remote primary: most reads one origin has in flight to it at once (more
    /// wait their turn; the server refuses requests beyond its own limit, sqld's 128).
    pub database_max_connections: usize,
    /// `FULL` (default) syncs the WAL on every commit, so an acknowledged write survives
    /// power loss; `NORMAL` survives process crashes only.
    pub synchronous: String,
    /// Where content-addressed blobs (DLC chunks) live: `local` (default, the folder
    /// `<data_dir>/blobs`) or `s3` (an S3-compatible bucket: AWS S3, Cloudflare R2, MinIO).
    pub blobs: BlobBackend,
    /// `s3`: the bucket (required). It must exist; origin does not create it.
    pub s3_bucket: String,
    /// `s3`: the endpoint URL, such as `https://<account>.r2.cloudflarestorage.com` or
    /// `http://127.0.0.1:9000` (MinIO). Empty = AWS S3 of `s3_region`.
    pub s3_endpoint: String,
    /// `s3`: the region requests are signed for (`auto` for R2).
    pub s3_region: String,
    /// `s3`: the access key. Empty (with an empty secret) = the standard `AWS_*`
    /// variables, a web identity token, or the instance's role.
    pub s3_access_key_id: String,
    /// `s3`: the secret of that access key.
    pub s3_secret_access_key: Secret,
    /// `s3`: allow a plain `http://` endpoint (a local MinIO or test server only).
    pub s3_allow_http: bool,
    /// `s3`: a key prefix (`aethex/prod`), so several deployments can share a bucket.
    /// Empty = keys at the bucket's root.
    pub s3_prefix: String,
}

/// The blob store's backend (`[storage] blobs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    #[default]
    Local,
    S3,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./aethex-data"),
            database_url: String::new(),
            database_auth_token: Secret::default(),
            analytics_database_url: String::new(),
            database_max_connections: 32,
            synchronous: "FULL".into(),
            blobs: BlobBackend::Local,
            s3_bucket: String::new(),
            s3_endpoint: String::new(),
            s3_region: "us-east-1".into(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: Secret::default(),
            s3_allow_http: false,
            s3_prefix: String::new(),
        }
    }
}

impl StorageConfig {
    /// Start-up checks of the blob store settings.
    pub fn check_blobs(&self) -> Result<(), String> {
        if self.blobs != BlobBackend::S3 {
            return Ok(());
        }
        if self.s3_bucket.trim().is_empty() {
            return Err("storage.s3_bucket is required when storage.blobs = \"s3\"".into());
        }
        if self.s3_access_key_id.is_empty() != self.s3_secret_access_key.is_empty() {
            return Err("storage.s3_access_key_id and storage.s3_secret_access_key are set together (or both left empty)".into());
        }
        if self.s3_endpoint.starts_with("http://") && !self.s3_allow_http {
            return Err(format!(
                "storage.s3_endpoint {} is plain http: set storage.s3_allow_http = true (local test servers only)",
                self.s3_endpoint
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `iss` of access tokens.
    pub issuer: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u64,
    /// Consecutive failed logins before an account is locked.
    pub max_failed_logins: u32,
    pub lockout_secs: u64,
    /// Auth requests per minute from one IP address (register, login, device, refresh, reset).
    pub rate_limit_per_ip_per_minute: u32,
    /// Login and reset attempts per minute for one account (by email).
    pub rate_limit_per_account_per_minute: u32,
    /// Refuse logins that carry no client key (no game).
    pub require_client_key: bool,
    /// Argon2id cost (OWASP: m = 19 MiB, t = 2, p = 1).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub email_verify_ttl_secs: u64,
    pub password_reset_ttl_secs: u64,
    pub captcha: CaptchaConfig,
    pub oauth: OAuthConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "aethex".into(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 30,
            max_failed_logins: 5,
            lockout_secs: 15 * 60,
            rate_limit_per_ip_per_minute: 60,
            rate_limit_per_account_per_minute: 10,
            require_client_key: false,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            email_verify_ttl_secs: 24 * 3600,
            password_reset_ttl_secs: 3600,
            captcha: CaptchaConfig::default(),
            oauth: OAuthConfig::default(),
        }
    }
}

/// CAPTCHA check on registration (Cloudflare Turnstile or hCaptcha `siteverify`).
/// Off while `siteverify_url` is empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptchaConfig {
    pub siteverify_url: String,
    pub secret: Secret,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthConfig {
    pub google: Option<OAuthProviderConfig>,
    pub github: Option<OAuthProviderConfig>,
    pub discord: Option<OAuthProviderConfig>,
    /// Redirect URLs (besides loopback URLs) the game may ask to be sent back to.
    pub allowed_redirects: Vec<String>,
}

/// One OAuth provider. Endpoints default to the provider's public ones; set them to
/// use another server (a test server, a self-hosted identity provider).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthProviderConfig {
    pub client_id: String,
    pub client_secret: Secret,
    pub authorize_url: String,
    pub token_url: String,
    pub userinfo_url: String,
    /// GitHub only: the verified-emails endpoint.
    pub emails_url: String,
    /// OIDC providers: where the ID token's signing keys are, and its expected issuer.
    pub jwks_url: String,
    pub issuer: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    pub from: String,
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://…:465` (TLS), or plain `smtp://host:25` (no TLS). Empty = write
    /// messages to `<data_dir>/outbox` instead of sending them.
    pub smtp_url: Secret,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self { from: "AeThex Cloud <no-reply@aethex.local>".into(), smtp_url: Secret::default() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SavesConfig {
    /// Largest save, plain bytes.
    pub max_save_bytes: usize,
    /// Slots per player per game.
    pub max_slots: u32,
    /// Versions kept per slot (older ones are pruned on write).
    pub versions_kept: u32,
    /// Bytes per player per game, all kept versions counted, by the game's tier.
    pub quota_free_bytes: i64,
    pub quota_pro_bytes: i64,
    pub quota_enterprise_bytes: i64,
    /// Largest client `metadata` object, serialized.
    pub max_metadata_bytes: usize,
    /// zstd level used when compression shrinks a save.
    pub zstd_level: i32,
}

impl Default for SavesConfig {
    fn default() -> Self {
        const GB: i64 = 1024 * 1024 * 1024;
        Self {
            max_save_bytes: 16 * 1024 * 1024,
            max_slots: 100,
            versions_kept: 20,
            quota_free_bytes: GB,
            quota_pro_bytes: 5 * GB,
            quota_enterprise_bytes: 50 * GB,
            max_metadata_bytes: 4096,
            zstd_level: 3,
        }
    }
}

/// Top-level sections of the configuration.
/// Edges: the keys they authenticate with, the outbox they pull, and the edge that
/// `aethex serve` runs in the same process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// Keys edges (and relays) present in `x-aethex-edge-key`. Empty: one is generated
    /// into `<data_dir>/keys/edge-key` and used by the embedded edge.
    pub keys: Vec<Secret>,
    /// Run one native edge inside `aethex serve`.
    pub embedded: bool,
    /// Where the embedded edge listens (port 0: any free port).
    pub listen: SocketAddr,
    /// How long outbox entries are kept; edges further behind bootstrap from a snapshot.
    pub outbox_retention_secs: u64,
    /// How long edges cache leaderboard pages (the seed: 1 minute).
    pub leaderboard_ttl_secs: u64,
    /// A region whose relay has not sent a heartbeat for this long is not listed.
    pub region_ttl_secs: u64,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            embedded: true,
            listen: "127.0.0.1:8081".parse().expect("static address"),
            outbox_retention_secs: 7 * 24 * 3600,
            leaderboard_ttl_secs: 60,
            region_ttl_secs: 30,
        }
    }
}

/// DLC: chunk garbage collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DlcConfig {
    /// Chunks no release uses are deleted once they are this old (an upload in progress
    /// has this long to become a release).
    pub chunk_grace_secs: u64,
    /// How often garbage collection runs.
    pub gc_interval_secs: u64,
}

impl Default for DlcConfig {
    fn default() -> Self {
        Self { chunk_grace_secs: 24 * 3600, gc_interval_secs: 3600 }
    }
}

/// Analytics ingest: events per game per UTC day, by the game's tier.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    pub daily_quota_free: u64,
    pub daily_quota_pro: u64,
    pub daily_quota_enterprise: u64,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self { daily_quota_free: 1_000_000, daily_quota_pro: 10_000_000, daily_quota_enterprise: 100_000_000 }
    }
}

/// Leaderboard resets: how often origin looks for boards whose period ended, and the
/// shortest `reset: every` period it accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaderboardsConfig {
    pub reset_check_ms: u64,
    pub min_reset_every_secs: i64,
}

impl Default for LeaderboardsConfig {
    fn default() -> Self {
        Self { reset_check_ms: 30_000, min_reset_every_secs: 3600 }
    }
}

/// The relay `aethex serve` runs in the same process, so a laptop has multiplayer with one
/// command. Production runs `aethex-relay` per region instead (`embedded_relay = false`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MultiplayerConfig {
    /// Run one relay inside `aethex serve` (registered as `relay_region`).
    pub embedded_relay: bool,
    /// WebSocket/HTTP address of the embedded relay (port 0: any free port).
    pub relay_listen: SocketAddr,
    /// UDP address of its P2P endpoint.
    pub relay_udp_listen: SocketAddr,
    /// Its Prometheus `/metrics` listener, apart from the players' port (port 0: any free
    /// port; empty: none).
    pub relay_metrics_listen: String,
    /// Region name it registers under.
    pub relay_region: String,
    /// Keys relays present (`x-aethex-relay-key`) to register, heartbeat and ask for
    /// backfill, and that origin presents back to the relay that registered with each.
    /// Empty: origin makes one in `<data_dir>/keys/relay-key` (the embedded relay's).
    pub relay_keys: Vec<Secret>,
    /// Hosts relays may register their URLs at (exact names; `*.example.com` for the
    /// names under one domain). Origin calls these URLs, so anything else is refused.
    pub relay_hosts: Vec<String>,
}

impl Default for MultiplayerConfig {
    fn default() -> Self {
        Self {
            embedded_relay: true,
            relay_listen: "127.0.0.1:8082".parse().expect("static address"),
            relay_udp_listen: "127.0.0.1:8082".parse().expect("static address"),
            relay_metrics_listen: "127.0.0.1:0".into(),
            relay_keys: Vec::new(),
            relay_hosts: vec!["127.0.0.1".into(), "localhost".into(), "::1".into()],
            relay_region: "local".into(),
        }
    }
}

/// Matchmaking: the matcher's pace, room tickets, relay calls, and how long finished
/// tickets and matches are remembered (all in memory, see `matchmaking`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchmakingConfig {
    /// How often the matcher runs (expiry, backfill, new matches).
    pub interval_ms: u64,
    /// Lifetime of a room ticket (`exp - iat`).
    pub room_ticket_ttl_secs: u64,
    /// Longest wait for a relay to open a room.
    pub relay_timeout_ms: u64,
    /// A region whose relay failed to open a room is not chosen for this long.
    pub relay_backoff_ms: u64,
    /// Matched, cancelled and expired tickets stay readable for this long.
    pub ticket_retention_secs: u64,
    /// Matches are remembered (for backfill) for this long.
    pub match_retention_secs: u64,
    /// Seats a backfill request opens stay open for this long.
    pub backfill_secs: u64,
    /// Most tickets queued at once; more are refused with 503.
    pub max_queued: usize,
}

impl Default for MatchmakingConfig {
    fn default() -> Self {
        Self {
            interval_ms: 200,
            room_ticket_ttl_secs: 60,
            relay_timeout_ms: 5000,
            relay_backoff_ms: 5000,
            ticket_retention_secs: 300,
            match_retention_secs: 3600,
            backfill_secs: 60,
            max_queued: 100_000,
        }
    }
}

/// `[logic]`: games' WebAssembly components (see `logic` and docs/logic.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogicConfig {
    /// Largest component a game may deploy.
    pub max_component_bytes: usize,
    /// Fuel (about one unit per WebAssembly instruction) a call may use.
    pub fuel_per_call: u64,
    /// Linear memory an instance may grow to, MiB.
    pub memory_mib: usize,
    /// Wall-clock bound of one call, storage calls included.
    pub call_timeout_ms: u64,
    /// Instances of one game's component alive at once on this origin.
    pub max_instances: usize,
    /// Versions kept per game (the active one always is); older ones are deleted on deploy.
    pub versions_kept: u32,
    /// How often an origin checks which version is active even without being told (a
    /// deploy on another origin tells this one at once through the cluster's Redis).
    pub refresh_ms: u64,
    /// Custom RPC calls one player may make per second in one game (twice that at once),
    /// counted per origin; server keys are not limited. 0: no limit.
    pub rpc_per_player_per_sec: u32,
}

impl Default for LogicConfig {
    fn default() -> Self {
        Self {
            max_component_bytes: 16 * 1024 * 1024,
            fuel_per_call: 50_000_000,
            memory_mib: 64,
            call_timeout_ms: 2000,
            max_instances: 32,
            versions_kept: 10,
            refresh_ms: 2000,
            rpc_per_player_per_sec: 20,
        }
    }
}

pub const SECTIONS: &[&str] = &[
    "server",
    "storage",
    "auth",
    "email",
    "saves",
    "edge",
    "dlc",
    "matchmaking",
    "multiplayer",
    "leaderboards",
    "analytics",
    "cluster",
    "logic",
    "tls",
    "log",
];

impl Config {
    /// Defaults, then `file` (if given, it must exist), then `AETHEX_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        aethex_runtime::load_config(file, SECTIONS)
    }

    /// The URL this server is reached at (`scheme`: `http` or `https`).
    pub fn public_url(&self, bound: SocketAddr, scheme: &str) -> String {
        if self.server.public_url.is_empty() {
            format!("{scheme}://{bound}")
        } else {
            self.server.public_url.trim_end_matches('/').to_string()
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.storage.data_dir.join("aethex.db")
    }
}
