//! AeThex Cloud regional relay (`aethex-relay`): one node per region holding the rooms of
//! realtime games. Players connect over WebSocket (`/v1/multiplayer`, protocol in
//! `aethex_protocol::multiplayer`), authenticate with origin's access tokens verified
//! locally, and join rooms by room ticket (matchmaker) or by code (private rooms).
//!
//! - [`config`]: settings (TOML + `AETHEX_*`).
//! - [`state`]: the node's shared state and room registry; [`room`]: a room, its state
//!   sync and tick; [`peer`]: a connection's outbound queue; [`session`]: a connection's
//!   task.
//! - [`auth`]: access tokens and room tickets; [`codec`]: JSON and MessagePack frames.
//! - [`http`]: routes; [`p2p`]: UDP address discovery; [`register`]: heartbeats to
//!   origin; [`metrics`]: counters.
//! - [`logic`]: authoritative rooms, run by their game's WebAssembly component.
//! - [`error`]: which error type goes where.
//!
//! The design and its numbers are in `relay-regions/README.md`.

pub mod auth;
pub mod codec;
pub mod config;
pub mod directory;
pub mod error;
pub mod http;
pub mod logic;
pub mod metrics;
pub mod p2p;
pub mod peer;
pub mod register;
pub mod room;
pub mod session;
pub mod state;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aethex_protocol::regions::parse_region_name;
use tokio::net::{TcpListener, UdpSocket};

pub use config::RelayConfig;
pub use error::RelayError;
pub use state::Relay;

/// A relay node, bound and ready to run.
pub struct RelayNode {
    listener: TcpListener,
    tls: Option<Arc<aethex_runtime::tls::ServerTls>>,
    /// Prometheus `/metrics`, never on the players' port.
    metrics_listener: Option<TcpListener>,
    udp: UdpSocket,
    relay: Arc<Relay>,
    origin_url: String,
    heartbeat: Duration,
    local: SocketAddr,
    udp_local: SocketAddr,
}

impl RelayNode {
    /// Checks the settings and binds both sockets (nothing runs yet).
    pub async fn build(cfg: &RelayConfig) -> Result<Self, RelayError> {
        let s = &cfg.relay;
        let region = parse_region_name(&s.region).map_err(|e| RelayError::Region(e.reason))?;
        if s.origin_url.trim().is_empty() {
            return Err(RelayError::NoOrigin);
        }
        if s.cluster_key.trim().is_empty() {
            return Err(RelayError::NoClusterKey);
        }
        let tls = aethex_runtime::tls::ServerTls::from_config(&cfg.tls)?;
        aethex_runtime::tls::trust_extra_roots(&cfg.tls)?;
        let listener = TcpListener::bind(s.listen).await.map_err(|source| RelayError::Bind { addr: s.listen, source })?;
        let local = listener.local_addr().map_err(|source| RelayError::Bind { addr: s.listen, source })?;
        let udp = UdpSocket::bind(s.udp_listen).await.map_err(|source| RelayError::Bind { addr: s.udp_listen, source })?;
        let udp_local = udp.local_addr().map_err(|source| RelayError::Bind { addr: s.udp_listen, source })?;
        let metrics_listener = match s.metrics_listen.trim() {
            "" => None,
            addr => {
                let addr: SocketAddr = addr.parse().map_err(|_| RelayError::MetricsListen(addr.to_string()))?;
                Some(TcpListener::bind(addr).await.map_err(|source| RelayError::Bind { addr, source })?)
            }
        };
        let public_url = if s.public_url.trim().is_empty() {
            let ip = if local.ip().is_unspecified() { "127.0.0.1".to_string() } else { local.ip().to_string() };
            let host = if ip.contains(':') { format!("[{ip}]") } else { ip };
            let scheme = if tls.is_some() { "wss" } else { "ws" };
            format!("{scheme}://{host}:{}", local.port())
        } else {
            s.public_url.trim().trim_end_matches('/').to_string()
        };
        let parsed = url::Url::parse(&public_url).map_err(|_| RelayError::PublicUrl(public_url.clone()))?;
        if !matches!(parsed.scheme(), "ws" | "wss") || parsed.host_str().is_none() {
            return Err(RelayError::PublicUrl(public_url));
        }
        let udp_public = if s.udp_public.trim().is_empty() {
            format!("{}:{}", parsed.host_str().unwrap_or("127.0.0.1"), udp_local.port())
        } else {
            s.udp_public.trim().to_string()
        };
        let verifier = auth::Verifier::new(&s.origin_url, &s.issuer, s.jwks_refresh_secs);
        let metrics = metrics::Metrics::default();
        let logic = logic::RoomLogic::new(&cfg.logic, &s.origin_url, s.cluster_key.trim(), metrics.logic_rooms.clone()).map_err(RelayError::Logic)?;
        let relay = Arc::new(Relay::new(
            state::RelayParams {
                region,
                public_url,
                region_url: s.region_url.clone(),
                udp_public,
                cluster_key: s.cluster_key.trim().to_string(),
                capacity: s.capacity,
                tick_hz: s.tick_hz,
                grace: Duration::from_secs(u64::from(s.resume_grace_secs)),
                auth_timeout: Duration::from_millis(s.auth_timeout_ms.max(100)),
                ping_interval: Duration::from_secs(s.ping_interval_secs),
                verifier,
                logic: Arc::new(logic),
                metrics,
            },
            cfg.limits.clone(),
        ));
        if !s.redis_url.trim().is_empty() {
            // Entries last three heartbeats: a dead relay's codes drop out soon after it.
            let ttl = Duration::from_secs(s.heartbeat_secs.max(1) * 3);
            let errors = relay.metrics.directory_errors.clone();
            let dir = directory::Directory::connect(s.redis_url.trim(), &relay.region, &relay.ws_url, ttl, errors)
                .await
                .map_err(|e| RelayError::Redis(e.to_string()))?;
            relay.set_directory(dir);
            tracing::info!("private room codes shared with the region's other relays through Redis");
        }
        Ok(Self {
            listener,
            tls,
            metrics_listener,
            udp,
            relay,
            origin_url: s.origin_url.trim().trim_end_matches('/').to_string(),
            heartbeat: Duration::from_secs(s.heartbeat_secs),
            local,
            udp_local,
        })
    }

    /// `http(s)://` + the bound address.
    pub fn url(&self) -> String {
        format!("{}://{}", aethex_runtime::tls::scheme(self.tls.as_ref()), self.local)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// `http://` + the metrics listener's address, when there is one.
    pub fn metrics_url(&self) -> Option<String> {
        let scheme = aethex_runtime::tls::scheme(self.tls.as_ref());
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| format!("{scheme}://{a}"))
    }

    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_local
    }

    pub fn relay(&self) -> &Arc<Relay> {
        &self.relay
    }

    /// Serves until `shutdown` resolves; then tells every seated player and stops.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let relay = self.relay;
        let backfills = tokio::spawn(register::backfills(relay.clone(), self.origin_url.clone()));
        let heartbeat = tokio::spawn(register::heartbeat(relay.clone(), self.origin_url, self.heartbeat));
        let udp = tokio::spawn(p2p::serve(relay.clone(), self.udp));
        let router = http::router(relay.clone());
        let metrics = self.metrics_listener.map(|l| {
            let router = http::metrics_router(relay.clone());
            let tls = self.tls.clone();
            tokio::spawn(async move { aethex_runtime::tls::serve(l, router, tls, std::future::pending()).await })
        });
        let stopping = relay.clone();
        let result = aethex_runtime::tls::serve(self.listener, router, self.tls, async move {
            shutdown.await;
            stopping.kick_everyone();
            // Lets the connection tasks write their `disconnect`.
            tokio::time::sleep(Duration::from_millis(300)).await;
        })
        .await;
        heartbeat.abort();
        backfills.abort();
        if let Some(m) = metrics {
            m.abort();
        }
        udp.abort();
        result
    }
}
