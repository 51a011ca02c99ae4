//! DLC delivery at the edge: release manifests and update checks from the replica,
//! chunks from origin's blob store through the platform cache (immutable, kept forever),
//! entitlement checks, and asset streaming (a byte range of one file, resolved to chunk
//! ranges and decompressed here).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aethex_protocol::auth::AccessClaims;
use aethex_protocol::dlc::{is_blake3_hex, parse_channel, parse_version, Compression, Manifest, CHUNK_ENCODING_HEADER};
use aethex_protocol::rpc::{ErrorCode, RpcError};
use aethex_protocol::validate::{GameSlug, Invalid};

use crate::http::{parse_range, Headers, Outbound, Request, Response, Unsatisfiable, Upstream};
use crate::platform::Platform;
use crate::readmodel::{self, ReleaseRow};
use crate::reads::{Read, Tracked};
use crate::sql::Replica;
use crate::{invalid, Caller, Edge};

/// Chunks never change: cache them for a year.
pub const CHUNK_TTL_SECS: u64 = 31_536_000;
/// Largest asset-streaming answer; larger files are read with `Range`.
pub const MAX_STREAM_BYTES: u64 = 16 * 1024 * 1024;

/// Parsed manifests, a few of them (parsing a large one on every request would cost more
/// than the read it serves).
#[derive(Default)]
pub struct ManifestCache {
    parsed: Mutex<HashMap<ManifestKey, Arc<Manifest>>>,
}

/// Game, channel, version and signature (a version deleted and released again with other
/// content has another signature).
type ManifestKey = (String, String, String, String);

impl ManifestCache {
    fn get(&self, r: &ReleaseRow) -> Option<Arc<Manifest>> {
        let key = (r.game_id.clone(), r.channel.clone(), r.version.clone(), r.signature.clone());
        if let Some(m) = self.parsed.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Some(m.clone());
        }
        let m = Arc::new(serde_json::from_str::<Manifest>(&r.manifest).ok()?);
        let mut map = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= 8 {
            map.clear();
        }
        map.insert(key, m.clone());
        Some(m)
    }
}

fn forbidden(reason: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::FORBIDDEN, "Forbidden").with_reason(reason)
}

fn not_found(field: &str, reason: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::NOT_FOUND, "Not found").with_field(field, reason)
}

fn range_not_satisfiable(len: u64) -> Response {
    let e = RpcError::new(ErrorCode(-32016), "Range not satisfiable").with_field("range", format!("the body has {len} bytes"));
    Response::error(e, None).with_header("content-range", format!("bytes */{len}"))
}

/// Answers `bytes` whole, or the part `Range` asks for (206).
pub fn ranged(req: &Request, bytes: &[u8], mut resp: Response) -> Response {
    let len = bytes.len() as u64;
    resp.headers.set("accept-ranges", "bytes");
    match parse_range(req.header("range"), len) {
        Ok(None) => {
            resp.body = bytes.to_vec();
            resp
        }
        Ok(Some((a, b))) => {
            resp.status = 206;
            resp.headers.set("content-range", format!("bytes {a}-{}/{len}", b - 1));
            resp.body = bytes[a as usize..b as usize].to_vec();
            resp
        }
        Err(Unsatisfiable) => range_not_satisfiable(len),
    }
}

/// Decompresses a stored chunk (bounded by its plain size) and checks its id.
pub fn open_chunk(stored: &[u8], compression: Compression, id: &str, plain_size: u64) -> Option<Vec<u8>> {
    let plain = match compression {
        Compression::Identity => stored.to_vec(),
        Compression::Zstd => {
            use std::io::Read as _;
            let mut decoder = ruzstd::decoding::StreamingDecoder::new(stored).ok()?;
            let mut out = Vec::with_capacity(plain_size as usize);
            decoder.by_ref().take(plain_size + 1).read_to_end(&mut out).ok()?;
            out
        }
    };
    (plain.len() as u64 == plain_size && blake3::hash(&plain).to_hex().as_str() == id).then_some(plain)
}

impl<P: Platform> Edge<P> {
    /// `GET /api/v1/dlc/...`; `None` when the path is not one of these routes.
    pub(crate) async fn dlc<R: Replica>(
        &self,
        replica: &R,
        req: &Request,
        caller: &Caller,
        rest: &[&str],
        required: i64,
    ) -> Option<Result<Read<Response>, RpcError>> {
        let (game, rest) = rest.split_first()?;
        if let Err(e) = GameSlug::parse(game) {
            return Some(Err(invalid(e)));
        }
        Some(match rest {
            ["keys"] => self.dlc_keys(replica, game, required).await,
            ["chunks", id] => self.dlc_chunk(req, game, id).await,
            [channel, "manifest"] => self.dlc_manifest(replica, caller, game, channel, None, required).await,
            [channel, "manifest", version] => self.dlc_manifest(replica, caller, game, channel, Some(version), required).await,
            [channel, "update"] => self.dlc_update(replica, req, caller, game, channel, required).await,
            [channel, "files", path @ ..] if !path.is_empty() => self.dlc_file(replica, req, caller, game, channel, &path.join("/"), required).await,
            _ => return None,
        })
    }

    async fn dlc_keys<R: Replica>(&self, replica: &R, game: &str, required: i64) -> Result<Read<Response>, RpcError> {
        let t = Tracked::new(replica);
        let r = readmodel::manifest_keys(&t, game).await.map(|k| (!k.keys.is_empty()).then_some(k));
        Ok(match self.settle(r, &t, required) {
            Read::Answer((keys, pos)) => Read::Answer(self.answer(&keys, pos, "public, max-age=60")),
            Read::Forward => Read::Forward,
        })
    }

    /// The release a player asks for, once the token's game and entitlement allow it.
    async fn allowed_release<R: Replica>(
        &self,
        replica: &R,
        caller: &Caller,
        game: &str,
        channel: &str,
        version: Option<&str>,
        required: i64,
    ) -> Result<Read<(ReleaseRow, i64)>, RpcError> {
        let claims: &AccessClaims = match caller {
            Caller::Player(c) => c,
            // A server key: origin checks it.
            Caller::ServerKey => return Ok(Read::Forward),
            Caller::Anonymous => return Err(crate::unauthorized("missing bearer token")),
        };
        if claims.game.as_deref() != Some(game) {
            return Err(forbidden("the access token is for another game"));
        }
        let channel = parse_channel(channel).map_err(invalid)?;
        let version = version.map(parse_version).transpose().map_err(invalid)?;
        let t = Tracked::new(replica);
        let r = readmodel::release(&t, game, &channel, version.as_deref(), Some(&claims.sub)).await;
        match self.settle(r, &t, required) {
            // Not entitled here: origin decides (a grant may not have reached this replica
            // yet; origin refuses with the reason otherwise).
            Read::Answer(((_, false), _)) => Ok(Read::Forward),
            Read::Answer(((release, true), pos)) => Ok(Read::Answer((release, pos))),
            Read::Forward => Ok(Read::Forward),
        }
    }

    async fn dlc_manifest<R: Replica>(
        &self,
        replica: &R,
        caller: &Caller,
        game: &str,
        channel: &str,
        version: Option<&str>,
        required: i64,
    ) -> Result<Read<Response>, RpcError> {
        Ok(match self.allowed_release(replica, caller, game, channel, version, required).await? {
            Read::Answer((r, pos)) => Read::Answer(self.answer(&r.into_manifest(), pos, "private, no-store")),
            Read::Forward => Read::Forward,
        })
    }

    async fn dlc_update<R: Replica>(
        &self,
        replica: &R,
        req: &Request,
        caller: &Caller,
        game: &str,
        channel: &str,
        required: i64,
    ) -> Result<Read<Response>, RpcError> {
        let query = req.query_pairs();
        if query.iter().any(|(k, _)| k != "current") {
            return Ok(Read::Forward);
        }
        let current = query.iter().find(|(k, _)| k == "current").map(|(_, v)| parse_version(v)).transpose().map_err(invalid)?;
        Ok(match self.allowed_release(replica, caller, game, channel, None, required).await? {
            Read::Answer((r, pos)) => Read::Answer(self.answer(&r.update_check(current), pos, "private, no-store")),
            Read::Forward => Read::Forward,
        })
    }

    /// A chunk's stored bytes and encoding, from the cache or origin, and whether it came
    /// from the cache.
    async fn chunk(&self, game: &str, id: &str) -> Result<Option<(Vec<u8>, Compression, bool)>, RpcError> {
        let key = format!("aethex:chunk:{game}:{id}");
        let mut hit = true;
        let resp = match self.platform.cache_get(&key).await {
            Some(cached) => {
                self.stats.cache_hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                cached
            }
            None => {
                let out = Outbound {
                    method: "GET".into(),
                    url: format!("{}/api/v1/dlc/{game}/chunks/{id}", self.config.origin_url),
                    headers: Headers::new(),
                    body: Vec::new(),
                    upstream: Upstream::Origin,
                };
                let resp =
                    self.platform.fetch(out).await.map_err(|e| {
                        RpcError::new(ErrorCode::UNAVAILABLE, "Service unavailable").with_reason(format!("origin unreachable: {}", e.0))
                    })?;
                match resp.status {
                    200 => {}
                    404 => return Ok(None),
                    s => {
                        return Err(
                            RpcError::new(ErrorCode::UNAVAILABLE, "Service unavailable").with_reason(format!("origin answered {s} for a chunk"))
                        )
                    }
                }
                let mut keep = Response::new(200);
                keep.headers.set(CHUNK_ENCODING_HEADER, resp.header(CHUNK_ENCODING_HEADER).unwrap_or("identity").to_string());
                keep.body = resp.body;
                self.platform.cache_put(&key, &keep, CHUNK_TTL_SECS).await;
                hit = false;
                keep
            }
        };
        let compression = resp.header(CHUNK_ENCODING_HEADER).and_then(Compression::parse).unwrap_or_default();
        Ok(Some((resp.body, compression, hit)))
    }

    /// `GET /api/v1/dlc/{game}/chunks/{id}`: public (ids are content hashes listed only
    /// in manifests), immutable, with ETag and Range.
    async fn dlc_chunk(&self, req: &Request, game: &str, id: &str) -> Result<Read<Response>, RpcError> {
        if !is_blake3_hex(id) {
            return Err(invalid(Invalid::new("chunk_id", "a chunk id is 64 lower-case hex digits")));
        }
        let etag = format!("\"{id}\"");
        if req.header("if-none-match").is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
            return Ok(Read::Answer(Response::new(304).with_header("etag", etag)));
        }
        let Some((bytes, compression, hit)) = self.chunk(game, id).await? else {
            return Err(not_found("chunk_id", "no such chunk"));
        };
        let mut resp = Response::new(200)
            .with_header("content-type", "application/octet-stream")
            .with_header("cache-control", "public, max-age=31536000, immutable")
            .with_header("etag", etag)
            .with_header(CHUNK_ENCODING_HEADER, compression.as_str())
            .with_header(crate::SERVED_BY_HEADER, "edge");
        if hit {
            resp.headers.set(crate::CACHE_HEADER, "hit");
        }
        Ok(Read::Answer(ranged(req, &bytes, resp)))
    }

    /// `GET /api/v1/dlc/{game}/{channel}/files/{path}`: the plain bytes of one file of the
    /// channel's release (or the part `Range` asks for).
    #[allow(clippy::too_many_arguments)]
    async fn dlc_file<R: Replica>(
        &self,
        replica: &R,
        req: &Request,
        caller: &Caller,
        game: &str,
        channel: &str,
        path: &str,
        required: i64,
    ) -> Result<Read<Response>, RpcError> {
        let (release, pos) = match self.allowed_release(replica, caller, game, channel, None, required).await? {
            Read::Answer(r) => r,
            Read::Forward => return Ok(Read::Forward),
        };
        let Some(manifest) = self.manifests.get(&release) else { return Ok(Read::Forward) };
        let Some(file) = manifest.files.iter().find(|f| f.path == path) else {
            return Err(not_found("path", format!("no file {path:?} in release {}", release.version)));
        };
        let (start, end) = match parse_range(req.header("range"), file.size) {
            Ok(Some(r)) => r,
            Ok(None) if file.size <= MAX_STREAM_BYTES => (0, file.size),
            Ok(None) => return Err(invalid(Invalid::new("range", format!("files over {MAX_STREAM_BYTES} bytes are read with Range")))),
            Err(Unsatisfiable) => return Ok(Read::Answer(range_not_satisfiable(file.size))),
        };
        if end - start > MAX_STREAM_BYTES {
            return Err(invalid(Invalid::new("range", format!("at most {MAX_STREAM_BYTES} bytes per request"))));
        }
        let mut body = Vec::with_capacity((end - start) as usize);
        for (index, offset, len) in manifest.file_range(file, start, end) {
            let info = &manifest.chunks[index as usize];
            let Some((stored, compression, _)) = self.chunk(game, &info.id).await? else {
                return Err(RpcError::new(ErrorCode::UNAVAILABLE, "Service unavailable").with_reason("a chunk of this release is missing"));
            };
            let plain = open_chunk(&stored, compression, &info.id, info.size)
                .ok_or_else(|| RpcError::new(ErrorCode::INTERNAL, "Internal error").with_reason("a chunk failed verification"))?;
            body.extend_from_slice(&plain[offset as usize..(offset + len) as usize]);
        }
        let mut resp = self
            .answer_bytes(body, pos)
            .with_header("content-type", "application/octet-stream")
            .with_header("accept-ranges", "bytes")
            .with_header("x-aethex-file-blake3", file.blake3.clone());
        if (start, end) != (0, file.size) {
            resp.status = 206;
            resp.headers.set("content-range", format!("bytes {start}-{}/{}", end - 1, file.size));
        }
        Ok(Read::Answer(resp))
    }
}
