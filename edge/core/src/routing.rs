//! Routing: which requests the edge answers from its replica, which it drops, and which it
//! forwards; plus its own health and key-set routes.

use super::*;
use crate::reads::{Read, Tracked};

pub(crate) fn decode_segment(s: &str) -> String {
    http::percent_decode(&s.replace('+', "%2B"))
}

impl<P: Platform> Edge<P> {
    pub(crate) async fn route<R: Replica>(&self, replica: &R, req: &Request, rid: &str) -> Response {
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

    pub(crate) async fn health<R: Replica>(&self, replica: &R) -> Response {
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

    pub(crate) async fn jwks_document(&self, rid: &str) -> Response {
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
}
