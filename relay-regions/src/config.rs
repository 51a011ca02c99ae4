//! Settings of a relay node: built-in defaults, a TOML file, then `AETHEX_*` environment
//! variables (`AETHEX_RELAY__REGION`: section and key joined by `__`).
//!
//! ```toml
//! [relay]
//! region = "eu-west"
//! listen = "0.0.0.0:7350"
//! public_url = "wss://eu-west.relay.example.com"
//! udp_listen = "0.0.0.0:7351"
//! origin_url = "https://api.example.com"
//! cluster_key = "aethex_rk_…"      # one of origin's relay keys (multiplayer.relay_keys)
//!
//! [limits]
//! max_frame_bytes = 16384
//!
//! [logic]
//! max_rooms = 1000                  # authoritative rooms (a game's component) at once
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    pub relay: RelaySettings,
    pub limits: Limits,
    pub logic: LogicSettings,
    /// `[tls]`: HTTPS/WSS on the relay's listeners, and the extra CA its calls to origin trust.
    pub tls: aethex_runtime::tls::TlsConfig,
    pub log: aethex_runtime::LogConfig,
}

/// Authoritative rooms: the rooms of a game whose logic (its WebAssembly component,
/// `docs/logic.md`) handles rooms run that component here, one instance per room.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogicSettings {
    /// Off: every room relays as usual, whatever the game's logic says.
    pub enabled: bool,
    /// Fuel (about one WebAssembly instruction each) one call of a room's component may use
    /// (a tick, a join, a leave).
    pub fuel_per_call: u64,
    /// Linear memory a room's instance may grow to, MiB.
    pub memory_mib: usize,
    /// Wall-clock bound of one call, host calls to origin included.
    pub call_timeout_ms: u64,
    /// Authoritative rooms open on this node at once; more are refused.
    pub max_rooms: usize,
    /// How often the relay asks origin which version of a game's logic is active (new rooms
    /// run the new version; rooms already open keep theirs: their state lives in it).
    pub refresh_secs: u64,
}

impl Default for LogicSettings {
    fn default() -> Self {
        Self { enabled: true, fuel_per_call: 20_000_000, memory_mib: 32, call_timeout_ms: 1000, max_rooms: 1000, refresh_secs: 5 }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySettings {
    /// Region this node serves (`eu-west`): the name it registers under at origin.
    pub region: String,
    /// HTTP + WebSocket address (port 0: any free port).
    pub listen: SocketAddr,
    /// URL players reach this node at (`ws://…` or `wss://…`). Empty: `ws://` + the bound
    /// address (127.0.0.1 when bound to all interfaces), which suits local runs only.
    pub public_url: String,
    /// The region's URL when several relays serve it behind one address (a load balancer:
    /// `wss://eu-west.relay.example.com`): registered as the region's URL, for private
    /// rooms and pings, while `public_url` stays this node's own (match rooms are opened on
    /// it). Empty: `public_url` (this node alone serves the region).
    pub region_url: String,
    /// A Redis the region's relays share (`redis://[:password@]host:port[/db]`): the
    /// directory of private room codes, so a code works on any relay of the region. Empty:
    /// a code works on the relay that made the room.
    pub redis_url: String,
    /// UDP address of the P2P address-discovery endpoint (port 0: any free port).
    pub udp_listen: SocketAddr,
    /// Address of the Prometheus `/metrics` listener, apart from the players' port (port
    /// 0: any free port, printed at start-up; empty: none).
    pub metrics_listen: String,
    /// `host:port` players send their P2P datagrams to. Empty: the host of `public_url`
    /// and the bound UDP port.
    pub udp_public: String,
    /// Players this node accepts (announced to origin; more WebSockets are refused).
    pub capacity: u32,
    /// Origin's base URL (signing keys, region registration).
    pub origin_url: String,
    /// Key this node presents to origin and expects from it (`x-aethex-relay-key`): one of
    /// origin's relay keys (`multiplayer.relay_keys`; `<data_dir>/keys/relay-key` by
    /// default). It opens only the relay routes, never an edge's.
    pub cluster_key: String,
    /// Expected `iss` of access tokens and room tickets (origin's `auth.issuer`).
    pub issuer: String,
    /// State batches per second.
    pub tick_hz: u32,
    /// How long a dropped player's seat is held for a resume.
    pub resume_grace_secs: u32,
    /// Heartbeat period towards origin (origin hides regions silent for its `region_ttl_secs`).
    pub heartbeat_secs: u64,
    /// How often origin's signing keys are fetched again.
    pub jwks_refresh_secs: u64,
    /// Time a new connection has to send `auth`.
    pub auth_timeout_ms: u64,
    /// A WebSocket ping goes to a quiet client this often; a client silent for two periods
    /// (not even a pong) is dropped.
    pub ping_interval_secs: u64,
}

impl std::fmt::Debug for RelaySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelaySettings")
            .field("region", &self.region)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("udp_listen", &self.udp_listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("origin_url", &self.origin_url)
            .field("cluster_key", &"<redacted>")
            .field("tick_hz", &self.tick_hz)
            .finish_non_exhaustive()
    }
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            region: String::new(),
            listen: "0.0.0.0:7350".parse().expect("static address"),
            public_url: String::new(),
            region_url: String::new(),
            redis_url: String::new(),
            udp_listen: "0.0.0.0:7351".parse().expect("static address"),
            metrics_listen: "127.0.0.1:0".into(),
            udp_public: String::new(),
            capacity: 10_000,
            origin_url: String::new(),
            cluster_key: String::new(),
            issuer: "aethex".into(),
            tick_hz: 20,
            resume_grace_secs: 30,
            heartbeat_secs: 5,
            jwks_refresh_secs: 300,
            auth_timeout_ms: 5_000,
            ping_interval_secs: 15,
        }
    }
}

impl RelaySettings {
    pub fn tick_period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.tick_hz.clamp(1, 120)))
    }
}

/// What one client may do. A client over a limit is refused (`error`) or, for abuse of the
/// connection itself, disconnected; the room goes on either way.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest frame a client may send.
    pub max_frame_bytes: usize,
    /// Sustained frames per second per client (token bucket), and the burst above it.
    pub messages_per_sec: u32,
    pub message_burst: u32,
    /// Rooms open on this node.
    pub max_rooms: usize,
    /// Private rooms one player may have open on this node (`create_room`).
    pub max_rooms_per_player: u32,
    /// Seats one player may hold on this node, live or held for a resume after a drop.
    pub max_seats_per_player: u32,
    /// WebSockets from one address that have not sent `auth` yet.
    pub max_preauth_per_address: u32,
    /// Seats per room (at most 64).
    pub max_players_per_room: u32,
    /// Characters of a chat line (at most 500).
    pub chat_max_chars: usize,
    /// Chat lines per second per client, and the burst above it.
    pub chat_per_sec: u32,
    pub chat_burst: u32,
    /// Base64 characters of one voice frame.
    pub max_voice_frame_bytes: usize,
    /// Fields of one player's state.
    pub max_state_fields: usize,
    /// Approximate bytes of one player's state (strings, numbers, keys).
    pub max_state_bytes: usize,
    /// Frames waiting to be written to one client; a client that falls this far behind is
    /// disconnected (its seat is held for the resume grace).
    pub max_queued_frames: usize,
    /// A room opened by origin (`POST /v1/rooms`) that nobody joins closes after this.
    pub unjoined_room_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 16 * 1024,
            messages_per_sec: 200,
            message_burst: 400,
            max_rooms: 20_000,
            max_rooms_per_player: 2,
            max_seats_per_player: 3,
            max_preauth_per_address: 32,
            max_players_per_room: 64,
            chat_max_chars: 500,
            chat_per_sec: 5,
            chat_burst: 10,
            max_voice_frame_bytes: 4096,
            max_state_fields: 64,
            max_state_bytes: 16 * 1024,
            max_queued_frames: 512,
            unjoined_room_secs: 120,
        }
    }
}

const SECTIONS: &[&str] = &["relay", "limits", "logic", "tls", "log"];

impl RelayConfig {
    /// Defaults, then `file` (if given, it must exist), then `AETHEX_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        aethex_runtime::load_config(file, SECTIONS)
    }
}
