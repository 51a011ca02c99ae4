//! Token checks, all local: origin's public keys (`/.well-known/jwks.json`) are fetched
//! and cached by the edge core's [`Jwks`], which also remembers verified access tokens.
//!
//! - Access tokens (`auth.token`): [`Jwks::verify`] (EdDSA, issuer, audience `aethex`,
//!   expiry; an unknown key id fetches the keys again, at most every 30 s).
//! - Room tickets (`join_room.ticket`): [`KeyRing::verify_as`] with audience
//!   [`TICKET_AUDIENCE`], against a key ring built from the same cached document (rebuilt
//!   when the document changes, fetched again on an unknown key id at most every 30 s).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aethex_edge::auth::{Jwks, KeyRing, TokenError, UNKNOWN_KID_REFETCH_MS};
use aethex_edge::{Headers, Outbound, Platform, Upstream};
use aethex_edge_native::platform::NativePlatform;
use aethex_protocol::auth::{AccessClaims, JwkSet};
use aethex_protocol::multiplayer::{RoomTicketClaims, TICKET_AUDIENCE};

use crate::error::{Kick, Refusal};

pub struct Verifier {
    platform: NativePlatform,
    jwks: Jwks,
    origin_url: String,
    issuer: String,
    refresh_secs: u64,
    /// Key ring for tickets and the JWKS document it was built from.
    tickets: Mutex<Option<(Vec<u8>, Arc<KeyRing>)>>,
    last_ticket_refetch: Mutex<Option<Instant>>,
}

impl Verifier {
    pub fn new(origin_url: &str, issuer: &str, refresh_secs: u64) -> Self {
        Self {
            platform: NativePlatform::new(),
            jwks: Jwks::default(),
            origin_url: origin_url.trim_end_matches('/').to_string(),
            issuer: issuer.to_string(),
            refresh_secs: refresh_secs.max(1),
            tickets: Mutex::new(None),
            last_ticket_refetch: Mutex::new(None),
        }
    }

    fn now_secs(&self) -> u64 {
        self.platform.now_ms() / 1000
    }

    /// An access token's claims, or why the connection is refused.
    pub async fn access(&self, token: &str) -> Result<AccessClaims, Kick> {
        match self.jwks.verify(&self.platform, &self.origin_url, self.refresh_secs, &self.issuer, token).await {
            Ok(Ok(claims)) => Ok(claims),
            Ok(Err(e)) => Err(Kick::Unauthorized(e.to_string())),
            Err(e) => {
                tracing::warn!(error = %e, "cannot verify an access token: origin's keys are unavailable");
                Err(Kick::KeysUnavailable)
            }
        }
    }

    async fn ring(&self) -> Result<Arc<KeyRing>, Refusal> {
        let doc = self.jwks.document(&self.platform, &self.origin_url, self.refresh_secs).await.map_err(|e| {
            tracing::warn!(error = %e, "cannot verify a room ticket: origin's keys are unavailable");
            Refusal::unavailable("cannot verify tickets right now")
        })?;
        Ok(self.ring_of(doc))
    }

    fn ring_of(&self, doc: Vec<u8>) -> Arc<KeyRing> {
        let mut cached = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((d, ring)) = cached.as_ref() {
            if *d == doc {
                return ring.clone();
            }
        }
        let ring = Arc::new(serde_json::from_slice::<JwkSet>(&doc).map(|set| KeyRing::from_jwks(&set)).unwrap_or_default());
        *cached = Some((doc, ring.clone()));
        ring
    }

    /// Fetches the keys again for a ticket naming an unknown key (rate limited).
    async fn refetch_ring(&self) -> Option<Arc<KeyRing>> {
        {
            let mut last = self.last_ticket_refetch.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < Duration::from_millis(UNKNOWN_KID_REFETCH_MS)) {
                return None;
            }
            *last = Some(Instant::now());
        }
        let req = Outbound {
            method: "GET".into(),
            url: format!("{}/.well-known/jwks.json", self.origin_url),
            headers: Headers::new(),
            body: Vec::new(),
            upstream: Upstream::Origin,
        };
        let resp = self.platform.fetch(req).await.ok().filter(|r| r.status == 200)?;
        Some(self.ring_of(resp.body))
    }

    /// A room ticket's claims (signature, issuer, audience, expiry; the caller checks
    /// player, game, room and region).
    pub async fn ticket(&self, ticket: &str) -> Result<RoomTicketClaims, Refusal> {
        let ring = self.ring().await?;
        let now = self.now_secs();
        let result = match ring.verify_as::<RoomTicketClaims>(ticket, &self.issuer, TICKET_AUDIENCE, now) {
            Err(TokenError::UnknownKey) => match self.refetch_ring().await {
                Some(ring) => ring.verify_as(ticket, &self.issuer, TICKET_AUDIENCE, now),
                None => Err(TokenError::UnknownKey),
            },
            other => other,
        };
        result.map_err(|e| Refusal::forbidden(format!("room ticket refused: {e}")))
    }
}
