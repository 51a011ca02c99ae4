//! AeThex Cloud edge core.
//!
//! Takes a plain [`Request`] and returns a plain [`Response`]; what differs per platform
//! (outbound HTTP, cache, clock) sits behind [`Platform`], and replica reads behind
//! [`Replica`]. The native edge (axum), Cloudflare Workers, Fastly Compute and Spin are
//! thin adapters over [`Edge::handle`].
//!
//! What the edge answers itself, from its replica of the read model:
//! - `GET /api/v1/saves/{me|user_id}`, `.../history`, `.../{slot|save_id}` for the token's
//!   own player (save bytes come from origin's blob route and are cached briefly);
//! - `GET /api/v1/leaderboards/{id}` (cached for `leaderboard_ttl_secs`) and
//!   `.../around-me`;
//! - `GET /api/v1/achievements` (the seed's `get_all`), `GET /api/v1/experiments` (A/B
//!   variants, computed), `GET /api/v1/analytics/consent`;
//! - `POST /api/v1/analytics/events` and `POST /api/v1/analytics/crashes` from a player
//!   without analytics consent (or in a COPPA game): dropped here (counted in
//!   `dropped_no_consent`; a crash answers `stored: false`), never sent to origin;
//! - `GET /api/v1/regions`, `GET /.well-known/jwks.json`, `GET /edge/healthz`.
//!
//! Everything else, and every other write, goes to origin unchanged except for the edge key,
//! the verified claims and `x-forwarded-for`. Tokens are checked first either way: a
//! forged or expired token never reaches origin.
//!
//! Read-your-writes: a request carrying `x-aethex-position: N` is answered from the
//! replica only if the replica has applied position N; otherwise origin answers it.

pub mod auth;
pub mod body;
pub mod config;
pub mod delivery;
pub mod hrana;
pub mod http;
pub mod platform;
pub mod readmodel;
pub mod sql;

mod forwarding;
mod reads;
mod routing;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use aethex_protocol::analytics::{Consent, CrashAccepted, CrashReport, EventBatch, IngestResult, MAX_BATCH_EVENTS};
use aethex_protocol::auth::AccessClaims;
use aethex_protocol::headers;
use aethex_protocol::leaderboards::{parse_limit, LeaderboardPage};
use aethex_protocol::replica::{EDGE_KEY_HEADER, FORWARDED_BY_EDGE_HEADER};
use aethex_protocol::rpc::{ErrorCode, RpcError};
use aethex_protocol::saves::{LoadResponse, SaveMetadata};
use aethex_protocol::teams::SERVER_KEY_PREFIX;
use aethex_protocol::validate::{Invalid, SlotName};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;

pub use config::EdgeConfig;
pub use http::{Headers, Outbound, Request, Response, Upstream};
pub use platform::{FetchError, MemoryCache, Platform};
pub use sql::{Replica, ReplicaError, Rows, Stmt, Value};

use crate::auth::{Jwks, TokenError};
use crate::readmodel::{Cursor, SaveRef};

/// Header carrying the claims an edge verified (base64url JSON), trusted by origin only
/// together with a valid edge key.
/// A header older edges set with the claims they verified; origin never trusts it (it
/// verifies the player's token itself) and edges drop it from what clients send.
pub const VERIFIED_CLAIMS_HEADER: &str = "x-aethex-verified-claims";
/// `edge` when the edge answered from its replica, `origin` when it forwarded.
pub const SERVED_BY_HEADER: &str = "x-aethex-served-by";
/// `hit` when a cached answer was served.
pub const CACHE_HEADER: &str = "x-aethex-cache";
/// Origin route with a save version's plain bytes (edge key only).
pub const SAVE_BLOB_PATH: &str = "/api/v1/replication/save-blobs";
/// Header with the `blake3:<hex>` checksum of a save blob.
pub const CHECKSUM_HEADER: &str = "x-aethex-checksum";

/// Counters of what the edge did, for metrics.
#[derive(Debug, Default)]
pub struct Stats {
    pub served: AtomicU64,
    pub forwarded: AtomicU64,
    pub cache_hits: AtomicU64,
    pub behind: AtomicU64,
    pub rejected_tokens: AtomicU64,
    pub replica_errors: AtomicU64,
}

/// One edge: its platform, settings and cached signing keys.
pub struct Edge<P> {
    pub platform: P,
    pub config: EdgeConfig,
    pub stats: Stats,
    jwks: Jwks,
    seq: AtomicU64,
    manifests: delivery::ManifestCache,
}

/// Who is calling, as far as the edge can tell.
enum Caller {
    Anonymous,
    /// A game server key: only origin can check it.
    ServerKey,
    Player(AccessClaims),
}

fn invalid(e: Invalid) -> RpcError {
    RpcError::new(ErrorCode::INVALID_PARAMS, "Invalid params").with_field(e.field, e.reason)
}

fn unauthorized(reason: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::UNAUTHORIZED, "Unauthorized").with_field("authorization", reason)
}

impl<P: Platform> Edge<P> {
    /// A new edge. A preloaded key set (`jwks_json`) that does not parse is ignored: the
    /// keys are then fetched from origin.
    pub fn new(platform: P, config: EdgeConfig) -> Self {
        let jwks = if config.jwks_json.is_empty() { Jwks::default() } else { Jwks::preloaded(&config.jwks_json).unwrap_or_default() };
        Self { platform, config, stats: Stats::default(), jwks, seq: AtomicU64::new(0), manifests: Default::default() }
    }

    /// Answers a request, reading the replica over Hrana at `config.replica_url` (the
    /// wasm platforms' way).
    pub async fn handle_over_hrana(&self, req: Request) -> Response {
        let token = if self.config.replica_token.is_empty() { &self.config.edge_key } else { &self.config.replica_token };
        let replica = hrana::HranaReplica::new(&self.platform, &self.config.replica_url, token);
        self.handle(&replica, req).await
    }

    /// Answers a request.
    pub async fn handle<R: Replica>(&self, replica: &R, req: Request) -> Response {
        let request_id = match req.header(headers::REQUEST_ID) {
            // The same rule as origin's, so both log the id the client sees.
            Some(id) if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => id.to_string(),
            _ => format!("e{:x}-{:x}", self.platform.now_ms(), self.seq.fetch_add(1, Ordering::Relaxed)),
        };
        let mut resp = self.route(replica, &req, &request_id).await;
        resp.headers.set(headers::REQUEST_ID, request_id);
        resp.headers.set("x-aethex-edge", self.config.name.clone());
        self.cors(&req, &mut resp);
        resp
    }

    /// CORS for browser games on what the edge answers itself (forwarded answers carry
    /// origin's own headers; preflights are forwarded).
    fn cors(&self, req: &Request, resp: &mut Response) {
        let Some(from) = req.header("origin") else { return };
        if resp.header("access-control-allow-origin").is_some() {
            return;
        }
        let allowed = &self.config.cors_origins;
        let allow = if allowed.iter().any(|o| o == "*") {
            "*".to_string()
        } else if allowed.iter().any(|o| o.eq_ignore_ascii_case(from)) {
            resp.headers.append("vary", "origin");
            from.to_string()
        } else {
            return;
        };
        resp.headers.set("access-control-allow-origin", allow);
        resp.headers.set(
            "access-control-expose-headers",
            "x-request-id, x-aethex-position, x-aethex-served-by, retry-after, content-range, etag, accept-ranges, x-aethex-chunk-encoding, x-aethex-file-blake3",
        );
    }

    /// Checks the request's credential. Forged, expired and malformed tokens are refused
    /// here, whatever the route.
    async fn caller(&self, req: &Request) -> Result<Caller, RpcError> {
        let token = match auth::bearer(&req.headers) {
            None => return Ok(Caller::Anonymous),
            Some(Err(reason)) => {
                self.stats.rejected_tokens.fetch_add(1, Ordering::Relaxed);
                return Err(unauthorized(reason));
            }
            Some(Ok(t)) => t,
        };
        if token.starts_with(SERVER_KEY_PREFIX) {
            return Ok(Caller::ServerKey);
        }
        let c = &self.config;
        match self.jwks.verify(&self.platform, &c.origin_url, c.jwks_refresh_secs, &c.issuer, token).await {
            Ok(Ok(claims)) => Ok(Caller::Player(claims)),
            Ok(Err(e)) => {
                self.stats.rejected_tokens.fetch_add(1, Ordering::Relaxed);
                Err(unauthorized(e.to_string()))
            }
            Err(e) => Err(RpcError::new(ErrorCode::UNAVAILABLE, "Service unavailable").with_reason(e.to_string())),
        }
    }
}

impl From<TokenError> for RpcError {
    fn from(e: TokenError) -> Self {
        unauthorized(e.to_string())
    }
}
