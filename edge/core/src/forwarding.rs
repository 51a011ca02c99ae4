//! Forwarding to origin: everything the edge does not answer itself goes on unchanged but
//! for per-hop headers, with the edge key, the client's address and the request id.

use super::*;

/// Headers that describe one hop, never passed on.
pub(crate) const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"];

impl<P: Platform> Edge<P> {
    /// Sends the request to origin with the edge key and the client's address, and returns
    /// origin's answer. The player's token goes as it came: origin verifies it itself, so
    /// an edge (or whoever holds its key) cannot vouch for an identity.
    pub(crate) async fn forward(&self, req: &Request, rid: &str) -> Response {
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
