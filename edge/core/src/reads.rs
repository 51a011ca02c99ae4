//! Reads answered from the replica (saves, leaderboards, achievements, A/B assignments,
//! consent, regions), the read-your-writes rule that decides whether the replica may answer,
//! and analytics dropped at the edge for players without consent.

use super::*;

/// Analytics batches up to this size are read at the edge to drop them without consent
/// (origin's own JSON body limit); larger ones go to origin, which refuses them.
pub(crate) const MAX_PARSED_BATCH_BYTES: usize = 2 * 1024 * 1024;

/// A replica that reads its applied position along with every batch.
pub(crate) struct Tracked<'a, R> {
    inner: &'a R,
    /// Lowest position seen (`i64::MAX` before the first read, -1 if unknown).
    position: AtomicI64,
}

impl<'a, R: Replica> Tracked<'a, R> {
    pub(crate) fn new(inner: &'a R) -> Self {
        Self { inner, position: AtomicI64::new(i64::MAX) }
    }

    pub(crate) fn position(&self) -> i64 {
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

    fn around(&self, game: &str, board: &str, user: &str, limit: u32) -> Option<(Option<LeaderboardPage>, i64)> {
        let (page, pos) = self.inner.around(game, board, user, limit)?;
        self.position.fetch_min(pos, Ordering::Relaxed);
        Some((page, pos))
    }
}

/// A leaderboard read's game, board, page size and query.
pub(crate) struct BoardRequest<'q> {
    game: &'q str,
    board: String,
    limit: u32,
    query: Vec<(String, String)>,
}

/// Outcome of a replica read: an answer, or a reason to ask origin instead.
pub(crate) enum Read<T> {
    Answer(T),
    Forward,
}

impl<P: Platform> Edge<P> {
    /// Bytes answered from what the replica said at `position`.
    pub(crate) fn answer_bytes(&self, body: Vec<u8>, position: i64) -> Response {
        let mut r = Response::new(200)
            .with_header(headers::POSITION, position.to_string())
            .with_header(SERVED_BY_HEADER, "edge")
            .with_header("cache-control", "private, no-store");
        r.body = body;
        r
    }

    /// A JSON answer from the replica at `position`.
    pub(crate) fn answer<T: Serialize>(&self, value: &T, position: i64, cache_control: &str) -> Response {
        Response::json(200, value)
            .with_header(headers::POSITION, position.to_string())
            .with_header(SERVED_BY_HEADER, "edge")
            .with_header("cache-control", cache_control)
    }

    /// Judges a read-model answer: kept if the replica has applied `required`; origin is
    /// asked instead when the replica is unreachable, behind, or does not know the thing.
    pub(crate) fn settle<R: Replica, T>(&self, result: Result<Option<T>, ReplicaError>, t: &Tracked<'_, R>, required: i64) -> Read<(T, i64)> {
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

    pub(crate) async fn read_regions<R: Replica>(&self, replica: &R, required: i64) -> Result<Read<Response>, RpcError> {
        let now = self.platform.now_ms();
        let ttl = self.config.region_ttl_secs * 1000;
        let t = Tracked::new(replica);
        let r = readmodel::regions(&t, now, ttl).await.map(Some);
        Ok(match self.settle(r, &t, required) {
            Read::Answer((list, pos)) => Read::Answer(self.answer(&list, pos, "no-store")),
            Read::Forward => Read::Forward,
        })
    }

    pub(crate) async fn read_saves<R: Replica>(
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
                let t = Tracked::new(replica);
                let found = readmodel::save_version(&t, me, game, r).await;
                let (meta, pos) = match self.settle(found, &t, required) {
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
    pub(crate) async fn save_blob(&self, meta: &SaveMetadata) -> Option<LoadResponse> {
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
    pub(crate) fn board_request<'q>(
        claims: &'q AccessClaims,
        board: &str,
        req: &Request,
        known: &[&str],
    ) -> Result<Option<BoardRequest<'q>>, RpcError> {
        let Some(game) = claims.game.as_deref() else { return Ok(None) };
        let board = aethex_protocol::leaderboards::parse_leaderboard_id(board).map_err(invalid)?;
        let query = req.query_pairs();
        if query.iter().any(|(k, _)| !known.contains(&k.as_str())) {
            return Ok(None);
        }
        let limit = parse_limit(query.iter().find(|(k, _)| k == "limit").map(|(_, v)| v.as_str())).map_err(invalid)?;
        Ok(Some(BoardRequest { game, board, limit, query }))
    }

    pub(crate) async fn read_top<R: Replica>(
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
        let t = Tracked::new(replica);
        let r = readmodel::leaderboard_top(&t, game, &board, limit, cursor).await;
        Ok(match self.settle(r, &t, required) {
            Read::Answer((page, pos)) => {
                let ttl = self.config.leaderboard_ttl_secs;
                let resp = self.answer(&page, pos, &format!("private, max-age={ttl}"));
                self.platform.cache_put(&key, &resp, ttl).await;
                Read::Answer(resp)
            }
            Read::Forward => Read::Forward,
        })
    }

    pub(crate) async fn read_around<R: Replica>(
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
        // From the replica's index in memory when it keeps one (the native edge), else SQL.
        let r = match t.around(game, &board, claims.sub.as_str(), limit) {
            Some((page, _)) => Ok(page),
            None => readmodel::leaderboard_around(&t, game, &board, claims.sub.as_str(), limit).await,
        };
        Ok(self.private_read(r, &t, required))
    }

    /// A player read answered from the replica (never cached), or forwarded.
    pub(crate) fn private_read<R: Replica, T: Serialize>(
        &self,
        r: Result<Option<T>, ReplicaError>,
        t: &Tracked<'_, R>,
        required: i64,
    ) -> Read<Response> {
        match self.settle(r, t, required) {
            Read::Answer((v, pos)) => Read::Answer(self.answer(&v, pos, "private, no-store")),
            Read::Forward => Read::Forward,
        }
    }

    /// The seed's `achievements.get_all` for the token's player and game.
    pub(crate) async fn read_achievements<R: Replica>(&self, replica: &R, claims: &AccessClaims, required: i64) -> Result<Read<Response>, RpcError> {
        let Some(game) = claims.game.as_deref() else { return Ok(Read::Forward) };
        let t = Tracked::new(replica);
        let r = readmodel::player_achievements(&t, game, &claims.sub).await.map(Some);
        Ok(self.private_read(r, &t, required))
    }

    /// The player's A/B variants, computed from the replicated experiments (no write).
    pub(crate) async fn read_assignments<R: Replica>(
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

    pub(crate) async fn read_consent<R: Replica>(&self, replica: &R, claims: &AccessClaims, required: i64) -> Result<Read<Response>, RpcError> {
        let Some(game) = claims.game.as_deref() else { return Ok(Read::Forward) };
        let t = Tracked::new(replica);
        let r = readmodel::analytics_consent(&t, game, &claims.sub).await.map(|c| c.map(|analytics| Consent { analytics }));
        Ok(self.private_read(r, &t, required))
    }

    /// A batch of analytics events or a crash report from a player who has not opted in (or
    /// plays a game for children) is dropped here, as origin would drop it, without reaching
    /// origin. `None`: origin decides (consent given, a request origin must judge, a replica
    /// that is behind or does not know the game).
    pub(crate) async fn drop_without_consent<R: Replica>(
        &self,
        replica: &R,
        req: &Request,
        claims: &AccessClaims,
        required: i64,
    ) -> Option<Response> {
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
}

pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36 && b.iter().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// Whether `bytes` hash to `expected` (`blake3:<hex>`).
pub(crate) fn checksum_ok(bytes: &[u8], expected: &str) -> bool {
    match expected.strip_prefix("blake3:") {
        Some(hex) => blake3::hash(bytes).to_hex().as_str().eq_ignore_ascii_case(hex),
        None => false,
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
