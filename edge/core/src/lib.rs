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
pub mod config;
pub mod delivery;
pub mod hrana;
pub mod http;
pub mod platform;
pub mod readmodel;
pub mod sql;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use aethex_protocol::analytics::{Consent, CrashAccepted, CrashReport, EventBatch, IngestResult, MAX_BATCH_EVENTS};
use aethex_protocol::auth::AccessClaims;
use aethex_protocol::headers;
use aethex_protocol::leaderboards::parse_limit;
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

/// Analytics batches up to this size are read at the edge to drop them without consent
/// (origin's own JSON body limit); larger ones go to origin, which refuses them.
const MAX_PARSED_BATCH_BYTES: usize = 2 * 1024 * 1024;

/// Headers that describe one hop, never passed on.
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"];

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

/// A replica that reads its applied position along with every batch.
struct Tracked<'a, R> {
    inner: &'a R,
    /// Lowest position seen (`i64::MAX` before the first read, -1 if unknown).
    position: AtomicI64,
}

impl<'a, R: Replica> Tracked<'a, R> {
    fn new(inner: &'a R) -> Self {
        Self { inner, position: AtomicI64::new(i64::MAX) }
    }

    fn position(&self) -> i64 {
        self.position.load(Ordering::Relaxed)
    }
}

impl<R: Replica> Replica for Tracked<'_, R> {
    async fn batch(&self, mut stmts: Vec<Stmt>) -> Result<Vec<Rows>, ReplicaError> {
        stmts.insert(0, Stmt::new("SELECT position FROM replica_state WHERE id = 1", vec![]));
        let mut res = self.inner.batch(stmts).await?;
        let pos = match res.first().and_then(|r| r.rows.first()).and_then(|r| r.first()) {
            Some(Value::Integer(p)) => *p,
            _ => -1,
        };
        self.position.fetch_min(pos, Ordering::Relaxed);
        res.remove(0);
        Ok(res)
    }
}

/// A leaderboard read's game, board, page size and query.
struct BoardRequest<'q> {
    game: &'q str,
    board: String,
    limit: u32,
    query: Vec<(String, String)>,
}

/// Outcome of a replica read: an answer, or a reason to ask origin instead.
enum Read<T> {
    Answer(T),
    Forward,
}

fn invalid(e: Invalid) -> RpcError {
    RpcError::new(ErrorCode::INVALID_PARAMS, "Invalid params").with_field(e.field, e.reason)
}

fn unauthorized(reason: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::UNAUTHORIZED, "Unauthorized").with_field("authorization", reason)
}

fn decode_segment(s: &str) -> String {
    http::percent_decode(&s.replace('+', "%2B"))
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

    async fn route<R: Replica>(&self, replica: &R, req: &Request, rid: &str) -> Response {
        let segments: Vec<String> = req.path.trim_start_matches('/').split('/').map(decode_segment).collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        if req.method == "GET" {
            match segs.as_slice() {
                ["edge", "healthz"] => return self.health(replica).await,
                [".well-known", "jwks.json"] => return self.jwks_document(rid).await,
                _ => {}
            }
        }
        // Origin's operational routes are for operators, not the public side of an edge.
        if matches!(segs.as_slice(), ["metrics"] | ["readyz"]) {
            let e = RpcError::new(ErrorCode::METHOD_NOT_FOUND, "Not found").with_reason("not served by edges");
            return Response::error(e, Some(rid));
        }
        let caller = match self.caller(req).await {
            Ok(c) => c,
            Err(e) => return Response::error(e, Some(rid)),
        };
        let required = match req.header(headers::POSITION).map(str::trim) {
            None | Some("") => 0,
            Some(v) => match v.parse::<i64>() {
                Ok(p) if p >= 0 => p,
                _ => return Response::error(invalid(Invalid::new(headers::POSITION, "must be a replication position (a whole number)")), Some(rid)),
            },
        };
        if req.method == "POST" && matches!(segs.as_slice(), ["api", "v1", "analytics", "events" | "crashes"]) {
            if let Caller::Player(c) = &caller {
                if let Some(resp) = self.drop_without_consent(replica, req, c, required).await {
                    self.stats.served.fetch_add(1, Ordering::Relaxed);
                    return resp;
                }
            }
        }
        if req.method != "GET" {
            return self.forward(req, rid).await;
        }
        let claims = match &caller {
            Caller::Player(c) => Some(c),
            _ => None,
        };
        let outcome = match (segs.as_slice(), claims) {
            (["api", "v1", "regions"], _) => self.read_regions(replica, required).await,
            (["api", "v1", "saves", user, rest @ ..], Some(c)) if rest.len() <= 1 => {
                self.read_saves(replica, req, c, user, rest.first().copied(), required).await
            }
            (["api", "v1", "leaderboards", board], Some(c)) => self.read_top(replica, req, c, board, required).await,
            (["api", "v1", "leaderboards", board, "around-me"], Some(c)) => self.read_around(replica, req, c, board, required).await,
            (["api", "v1", "achievements"], Some(c)) if req.query.is_empty() => self.read_achievements(replica, c, required).await,
            (["api", "v1", "experiments"], Some(c)) => self.read_assignments(replica, req, c, required).await,
            (["api", "v1", "analytics", "consent"], Some(c)) if req.query.is_empty() => self.read_consent(replica, c, required).await,
            (["api", "v1", "dlc", rest @ ..], _) => self.dlc(replica, req, &caller, rest, required).await.unwrap_or(Ok(Read::Forward)),
            (["api", "v1", "saves", ..] | ["api", "v1", "leaderboards", ..], None) if matches!(caller, Caller::Anonymous) => {
                Ok(Read::Answer(Response::error(unauthorized("missing bearer token"), Some(rid))))
            }
            _ => Ok(Read::Forward),
        };
        match outcome {
            Ok(Read::Answer(resp)) => {
                self.stats.served.fetch_add(1, Ordering::Relaxed);
                resp
            }
            Ok(Read::Forward) => self.forward(req, rid).await,
            Err(e) => Response::error(e, Some(rid)),
        }
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

    async fn health<R: Replica>(&self, replica: &R) -> Response {
        let t = Tracked::new(replica);
        let (status, position) = match t.batch(vec![]).await {
            Ok(_) if t.position() >= 0 => (200, Some(t.position())),
            Ok(_) => (503, None),
            Err(_) => (503, None),
        };
        Response::json(
            status,
            &serde_json::json!({"status": if status == 200 { "ok" } else { "no replica" }, "edge": self.config.name, "position": position}),
        )
    }

    async fn jwks_document(&self, rid: &str) -> Response {
        let c = &self.config;
        match self.jwks.document(&self.platform, &c.origin_url, c.jwks_refresh_secs).await {
            Ok(body) => {
                let mut r = Response::new(200).with_header("content-type", "application/json").with_header("cache-control", "public, max-age=300");
                r.body = body;
                r
            }
            Err(e) => Response::error(RpcError::new(ErrorCode::UNAVAILABLE, "Service unavailable").with_reason(e.to_string()), Some(rid)),
        }
    }

    /// Bytes answered from what the replica said at `position`.
    fn answer_bytes(&self, body: Vec<u8>, position: i64) -> Response {
        let mut r = Response::new(200)
            .with_header(headers::POSITION, position.to_string())
            .with_header(SERVED_BY_HEADER, "edge")
            .with_header("cache-control", "private, no-store");
        r.body = body;
        r
    }

    /// A JSON answer from the replica at `position`.
    fn answer<T: Serialize>(&self, value: &T, position: i64, cache_control: &str) -> Response {
        Response::json(200, value)
            .with_header(headers::POSITION, position.to_string())
            .with_header(SERVED_BY_HEADER, "edge")
            .with_header("cache-control", cache_control)
    }

    /// Judges a read-model answer: kept if the replica has applied `required`; origin is
    /// asked instead when the replica is unreachable, behind, or does not know the thing.
    fn settle<R: Replica, T>(&self, result: Result<Option<T>, ReplicaError>, t: &Tracked<'_, R>, required: i64) -> Read<(T, i64)> {
        match result {
            Ok(Some(v)) if t.position() >= required && t.position() >= 0 => Read::Answer((v, t.position())),
            Ok(Some(_)) => {
                self.stats.behind.fetch_add(1, Ordering::Relaxed);
                Read::Forward
            }
            Ok(None) => Read::Forward,
            Err(_) => {
                self.stats.replica_errors.fetch_add(1, Ordering::Relaxed);
                Read::Forward
            }
        }
    }

    async fn read_regions<R: Replica>(&self, replica: &R, required: i64) -> Result<Read<Response>, RpcError> {
        let now = self.platform.now_ms();
        let ttl = self.config.region_ttl_secs * 1000;
        Ok(
            match {
                let t = Tracked::new(replica);
                let r = readmodel::regions(&t, now, ttl).await.map(Some);
                self.settle(r, &t, required)
            } {
                Read::Answer((list, pos)) => Read::Answer(self.answer(&list, pos, "no-store")),
                Read::Forward => Read::Forward,
            },
        )
    }

    async fn read_saves<R: Replica>(
        &self,
        replica: &R,
        req: &Request,
        claims: &AccessClaims,
        user: &str,
        rest: Option<&str>,
        required: i64,
    ) -> Result<Read<Response>, RpcError> {
        if user != "me" && user != claims.sub {
            return Err(RpcError::new(ErrorCode::FORBIDDEN, "Forbidden").with_reason("players can only reach their own saves"));
        }
        // A token without a game: origin explains.
        let Some(game) = claims.game.as_deref() else {
            return Ok(Read::Forward);
        };
        let me = claims.sub.as_str();
        let query = req.query_pairs();
        let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        match rest {
            None => {
                let t = Tracked::new(replica);
                let r = readmodel::save_list(&t, me, game).await;
                Ok(self.private_read(r, &t, required))
            }
            Some("history") => {
                if query.iter().any(|(k, _)| k != "slot_name") {
                    return Ok(Read::Forward);
                }
                let slot = param("slot_name").map(SlotName::parse).transpose().map_err(invalid)?;
                let slot = slot.as_ref().map(|s| s.as_str());
                let t = Tracked::new(replica);
                let r = readmodel::save_history(&t, me, game, slot).await;
                Ok(self.private_read(r, &t, required))
            }
            Some(which) => {
                if query.iter().any(|(k, _)| k != "version") {
                    return Ok(Read::Forward);
                }
                let version = match param("version") {
                    None => None,
                    Some(v) => Some(v.parse::<i64>().map_err(|_| invalid(Invalid::new("version", "version must be a whole number")))?),
                };
                let slot;
                let r = if is_uuid(which) {
                    SaveRef::Id(which)
                } else {
                    slot = SlotName::parse(which).map_err(invalid)?;
                    match version {
                        Some(v) => SaveRef::Version(slot.as_str(), v),
                        None => SaveRef::Latest(slot.as_str()),
                    }
                };
                let (meta, pos) = match {
                    let t = Tracked::new(replica);
                    let r = readmodel::save_version(&t, me, game, r).await;
                    self.settle(r, &t, required)
                } {
                    Read::Answer(found) => found,
                    Read::Forward => return Ok(Read::Forward),
                };
                match self.save_blob(&meta).await {
                    Some(load) => Ok(Read::Answer(self.answer(&load, pos, "private, no-store"))),
                    None => Ok(Read::Forward),
                }
            }
        }
    }

    /// The save's bytes from the cache or origin's blob route, checked against its
    /// checksum; `None` when they cannot be had (the caller asks origin instead).
    async fn save_blob(&self, meta: &SaveMetadata) -> Option<LoadResponse> {
        let key = format!("aethex:save-blob:{}", meta.save_id);
        let cached = self.platform.cache_get(&key).await;
        let bytes = match cached {
            Some(hit) if checksum_ok(&hit.body, &meta.checksum) => {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                hit.body
            }
            _ => {
                let mut h = Headers::new();
                h.set(EDGE_KEY_HEADER, self.config.edge_key.clone());
                let req = Outbound {
                    method: "GET".into(),
                    url: format!("{}{SAVE_BLOB_PATH}/{}", self.config.origin_url, http::percent_encode(&meta.save_id)),
                    headers: h,
                    body: vec![],
                    upstream: Upstream::Origin,
                };
                let resp = self.platform.fetch(req).await.ok()?;
                if resp.status != 200 || !checksum_ok(&resp.body, &meta.checksum) {
                    return None;
                }
                self.platform.cache_put(&key, &resp, self.config.save_blob_ttl_secs).await;
                resp.body
            }
        };
        let (data, data_base64) =
            if meta.content_type == "json" { (Some(serde_json::from_slice(&bytes).ok()?), None) } else { (None, Some(STANDARD.encode(&bytes))) };
        Some(LoadResponse { metadata: meta.clone(), data, data_base64 })
    }

    /// The parts of a leaderboard read: the token's game, the board id, the query. `None`
    /// when origin should answer (a token without a game, or a query parameter the edge
    /// does not know).
    fn board_request<'q>(claims: &'q AccessClaims, board: &str, req: &Request, known: &[&str]) -> Result<Option<BoardRequest<'q>>, RpcError> {
        let Some(game) = claims.game.as_deref() else { return Ok(None) };
        let board = aethex_protocol::leaderboards::parse_leaderboard_id(board).map_err(invalid)?;
        let query = req.query_pairs();
        if query.iter().any(|(k, _)| !known.contains(&k.as_str())) {
            return Ok(None);
        }
        let limit = parse_limit(query.iter().find(|(k, _)| k == "limit").map(|(_, v)| v.as_str())).map_err(invalid)?;
        Ok(Some(BoardRequest { game, board, limit, query }))
    }

    async fn read_top<R: Replica>(
        &self,
        replica: &R,
        req: &Request,
        claims: &AccessClaims,
        board: &str,
        required: i64,
    ) -> Result<Read<Response>, RpcError> {
        let Some(BoardRequest { game, board, limit, query }) = Self::board_request(claims, board, req, &["limit", "cursor", "range"])? else {
            return Ok(Read::Forward);
        };
        // Friends-only pages need the friendships, which only origin has.
        if query.iter().any(|(k, v)| k == "range" && v != "global") {
            return Ok(Read::Forward);
        }
        let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let cursor = param("cursor").map(Cursor::decode).transpose().map_err(invalid)?;
        // Pages are the same for every player of the game: cache them.
        let key = format!("aethex:lb:{game}:{board}:{limit}:{}", param("cursor").unwrap_or(""));
        if let Some(hit) = self.platform.cache_get(&key).await {
            let pos = hit.header(headers::POSITION).and_then(|p| p.parse::<i64>().ok()).unwrap_or(-1);
            if pos >= required && pos >= 0 {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Read::Answer(hit.with_header(CACHE_HEADER, "hit")));
            }
        }
        let cursor = cursor.as_ref();
        Ok(
            match {
                let t = Tracked::new(replica);
                let r = readmodel::leaderboard_top(&t, game, &board, limit, cursor).await;
                self.settle(r, &t, required)
            } {
                Read::Answer((page, pos)) => {
                    let ttl = self.config.leaderboard_ttl_secs;
                    let resp = self.answer(&page, pos, &format!("private, max-age={ttl}"));
                    self.platform.cache_put(&key, &resp, ttl).await;
                    Read::Answer(resp)
                }
                Read::Forward => Read::Forward,
            },
        )
    }

    async fn read_around<R: Replica>(
        &self,
        replica: &R,
        req: &Request,
        claims: &AccessClaims,
        board: &str,
        required: i64,
    ) -> Result<Read<Response>, RpcError> {
        let Some(BoardRequest { game, board, limit, .. }) = Self::board_request(claims, board, req, &["limit"])? else {
            return Ok(Read::Forward);
        };
        let t = Tracked::new(replica);
        let r = readmodel::leaderboard_around(&t, game, &board, claims.sub.as_str(), limit).await;
        Ok(self.private_read(r, &t, required))
    }

    /// A player read answered from the replica (never cached), or forwarded.
    fn private_read<R: Replica, T: Serialize>(&self, r: Result<Option<T>, ReplicaError>, t: &Tracked<'_, R>, required: i64) -> Read<Response> {
        match self.settle(r, t, required) {
            Read::Answer((v, pos)) => Read::Answer(self.answer(&v, pos, "private, no-store")),
            Read::Forward => Read::Forward,
        }
    }

    /// The seed's `achievements.get_all` for the token's player and game.
    async fn read_achievements<R: Replica>(&self, replica: &R, claims: &AccessClaims, required: i64) -> Result<Read<Response>, RpcError> {
        let Some(game) = claims.game.as_deref() else { return Ok(Read::Forward) };
        let t = Tracked::new(replica);
        let r = readmodel::player_achievements(&t, game, &claims.sub).await.map(Some);
        Ok(self.private_read(r, &t, required))
    }

    /// The player's A/B variants, computed from the replicated experiments (no write).
    async fn read_assignments<R: Replica>(
        &self,
        replica: &R,
        req: &Request,
        claims: &AccessClaims,
        required: i64,
    ) -> Result<Read<Response>, RpcError> {
        let Some(game) = claims.game.as_deref() else { return Ok(Read::Forward) };
        let query = req.query_pairs();
        if query.iter().any(|(k, _)| k != "experiment_id") {
            return Ok(Read::Forward);
        }
        let only = query.iter().find(|(k, _)| k == "experiment_id").map(|(_, v)| v.as_str());
        let t = Tracked::new(replica);
        let r = readmodel::assignments(&t, game, &claims.sub, only).await.map(Some);
        Ok(self.private_read(r, &t, required))
    }

    async fn read_consent<R: Replica>(&self, replica: &R, claims: &AccessClaims, required: i64) -> Result<Read<Response>, RpcError> {
        let Some(game) = claims.game.as_deref() else { return Ok(Read::Forward) };
        let t = Tracked::new(replica);
        let r = readmodel::analytics_consent(&t, game, &claims.sub).await.map(|c| c.map(|analytics| Consent { analytics }));
        Ok(self.private_read(r, &t, required))
    }

    /// A batch of analytics events or a crash report from a player who has not opted in (or
    /// plays a game for children) is dropped here, as origin would drop it, without reaching
    /// origin. `None`: origin decides (consent given, a request origin must judge, a replica
    /// that is behind or does not know the game).
    async fn drop_without_consent<R: Replica>(&self, replica: &R, req: &Request, claims: &AccessClaims, required: i64) -> Option<Response> {
        let game = claims.game.as_deref()?;
        if req.body.len() > MAX_PARSED_BATCH_BYTES {
            return None;
        }
        // What origin would answer without consent, for a request it would accept.
        let answer: serde_json::Value = if req.path.ends_with("/crashes") {
            let report: CrashReport = serde_json::from_slice(&req.body).ok()?;
            // A timestamp needs a date parser to judge: origin does it.
            if report.timestamp.is_some() {
                return None;
            }
            let signature = report.check().ok()?;
            serde_json::to_value(CrashAccepted { signature, stored: false }).ok()?
        } else {
            let batch: EventBatch = serde_json::from_slice(&req.body).ok()?;
            if batch.events.is_empty() || batch.events.len() > MAX_BATCH_EVENTS {
                return None;
            }
            serde_json::to_value(IngestResult { dropped_no_consent: batch.events.len() as u32, ..Default::default() }).ok()?
        };
        let t = Tracked::new(replica);
        let r = readmodel::analytics_consent(&t, game, &claims.sub).await;
        match self.settle(r, &t, required) {
            Read::Answer((false, pos)) => Some(self.answer(&answer, pos, "no-store")),
            _ => None,
        }
    }

    /// Sends the request to origin with the edge key and the client's address, and returns
    /// origin's answer. The player's token goes as it came: origin verifies it itself, so
    /// an edge (or whoever holds its key) cannot vouch for an identity.
    async fn forward(&self, req: &Request, rid: &str) -> Response {
        self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
        let mut h = Headers::new();
        for (k, v) in req.headers.iter() {
            let drop = HOP_BY_HOP.contains(&k)
                || k == EDGE_KEY_HEADER
                || k == FORWARDED_BY_EDGE_HEADER
                || k == VERIFIED_CLAIMS_HEADER
                || k == "accept-encoding"
                || k == "x-forwarded-for";
            if !drop {
                h.append(k, v);
            }
        }
        h.set(headers::REQUEST_ID, rid.to_string());
        // The key vouches for what the edge adds (the client address) under its own
        // header: a forwarded request never carries the edge key header, so routes meant
        // for edges themselves (replication, save bytes) stay out of clients' reach.
        h.set(FORWARDED_BY_EDGE_HEADER, self.config.edge_key.clone());
        // Origin trusts the last hop of x-forwarded-for from an edge; when the platform
        // does not tell the client's address, the client's own header is not passed on
        // (it could name any address).
        if let Some(ip) = &req.client_ip {
            let mut chain: Vec<&str> = req.header("x-forwarded-for").map(|v| v.split(',').map(str::trim).collect()).unwrap_or_default();
            chain.push(ip);
            h.set("x-forwarded-for", chain.join(", "));
        }
        let out = Outbound {
            method: req.method.clone(),
            url: format!("{}{}", self.config.origin_url, req.path_and_query()),
            headers: h,
            body: req.body.clone(),
            upstream: Upstream::Origin,
        };
        // A request that got no answer at all is sent once more when repeating it is
        // harmless (HTTP's idempotent methods): a connection origin closed while the body
        // was still on its way (an early refusal) is not an outage.
        let idempotent = matches!(req.method.as_str(), "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS");
        let first = self.platform.fetch(out.clone()).await;
        let answer = match first {
            Err(_) if idempotent => self.platform.fetch(out).await,
            other => other,
        };
        match answer {
            Ok(mut resp) => {
                for k in HOP_BY_HOP {
                    resp.headers.remove(k);
                }
                resp.headers.set(SERVED_BY_HEADER, "origin");
                resp
            }
            Err(e) => Response::error(
                RpcError::new(ErrorCode::UNAVAILABLE, "Service unavailable").with_reason(format!("origin unreachable: {}", e.0)),
                Some(rid),
            ),
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36 && b.iter().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// Whether `bytes` hash to `expected` (`blake3:<hex>`).
fn checksum_ok(bytes: &[u8], expected: &str) -> bool {
    match expected.strip_prefix("blake3:") {
        Some(hex) => blake3::hash(bytes).to_hex().as_str().eq_ignore_ascii_case(hex),
        None => false,
    }
}

impl From<TokenError> for RpcError {
    fn from(e: TokenError) -> Self {
        unauthorized(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_checksums() {
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid("slot1"));
        let sum = format!("blake3:{}", blake3::hash(b"abc").to_hex());
        assert!(checksum_ok(b"abc", &sum));
        assert!(!checksum_ok(b"abd", &sum));
        assert!(!checksum_ok(b"abc", "sha256:00"));
    }
}
