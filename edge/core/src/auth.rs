//! Access-token checks: EdDSA (Ed25519) JWTs with a `kid`, verified against origin's
//! published keys (`/.well-known/jwks.json`). Origin verifies with the same function.
//!
//! Edges cache the key set in memory and in the platform cache, fetch it again every
//! `jwks_refresh_secs`, and once more (at most every [`UNKNOWN_KID_REFETCH_MS`]) when a
//! token names a key they do not know yet, so a key rotation needs no redeploy.

use std::sync::Mutex;

use aethex_protocol::auth::{AccessClaims, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::http::{Headers, Outbound, Response, Upstream};
use crate::platform::Platform;

/// The `aud` of every access token.
pub const AUDIENCE: &str = "aethex";
/// Clock skew allowed on `exp`.
pub const LEEWAY_SECS: u64 = 5;
/// Least time between two fetches caused by unknown key ids.
pub const UNKNOWN_KID_REFETCH_MS: u64 = 30_000;
const JWKS_CACHE_KEY: &str = "aethex:jwks";
const FETCHED_HEADER: &str = "x-aethex-fetched-ms";

/// Why a token was refused. The text is safe to show to the client.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token signature or format is invalid")]
    Invalid,
    #[error("token signed by an unknown key")]
    UnknownKey,
    #[error("token algorithm not accepted (EdDSA only)")]
    WrongAlgorithm,
}

/// Verifying keys by key id.
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: Vec<(String, DecodingKey)>,
}

impl KeyRing {
    pub fn from_jwks(set: &JwkSet) -> Self {
        let keys = set
            .keys
            .iter()
            .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
            .filter_map(|k| DecodingKey::from_ed_components(&k.x).ok().map(|d| (k.kid.clone(), d)))
            .collect();
        Self { keys }
    }

    pub fn push(&mut self, kid: impl Into<String>, key: DecodingKey) {
        self.keys.push((kid.into(), key));
    }

    pub fn knows(&self, kid: &str) -> bool {
        self.keys.iter().any(|(k, _)| k == kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies signature (EdDSA only, key by `kid`), issuer, audience and expiry
    /// against `now_secs`.
    pub fn verify(&self, token: &str, issuer: &str, now_secs: u64) -> Result<AccessClaims, TokenError> {
        self.verify_as(token, issuer, AUDIENCE, now_secs)
    }

    /// Verifies any EdDSA token of origin's keys (access tokens, room tickets) for
    /// `audience`: signature, key, issuer, audience and `exp` (against `now_secs`, with
    /// [`LEEWAY_SECS`]), then reads its claims as `T`.
    pub fn verify_as<T: serde::de::DeserializeOwned>(&self, token: &str, issuer: &str, audience: &str, now_secs: u64) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::WrongAlgorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keys.iter().find(|(k, _)| *k == kid).map(|(_, key)| key).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked below against the caller's clock (wasm platforms have no
        // system clock of their own).
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                _ => TokenError::Invalid,
            })?
            .claims;
        let exp = claims.get("exp").and_then(serde_json::Value::as_u64).ok_or(TokenError::Invalid)?;
        if exp.saturating_add(LEEWAY_SECS) < now_secs {
            return Err(TokenError::Expired);
        }
        serde_json::from_value(claims).map_err(|_| TokenError::Invalid)
    }
}

struct Cached {
    ring: KeyRing,
    /// The JWKS document as origin served it.
    body: Vec<u8>,
    fetched_ms: u64,
}

/// Most verified tokens remembered (see [`Jwks::verify`]).
pub const VERIFIED_TOKENS_MAX: usize = 10_000;

/// Origin's key set, cached, and the tokens it already verified.
#[derive(Default)]
pub struct Jwks {
    state: Mutex<Option<std::sync::Arc<Cached>>>,
    last_forced_ms: Mutex<u64>,
    /// blake3 of a token -> its claims. A player sends the same token with every request
    /// for its 15 minutes; checking its signature once is enough (expiry is checked on
    /// every use). Cleared whenever the key set changes, so a withdrawn key stops working.
    verified: Mutex<std::collections::HashMap<[u8; 32], AccessClaims>>,
}

/// The keys could not be had from origin (and none are cached).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing keys unavailable: {0}")]
pub struct KeysUnavailable(pub String);

impl Jwks {
    /// Starts with a key set given in configuration (`AETHEX_JWKS`): platforms that run
    /// a fresh instance per request and have no cache (Spin under a plain wasi-http host)
    /// then verify without a fetch. It counts as fresh until a token names another key.
    pub fn preloaded(document: &str) -> Result<Self, KeysUnavailable> {
        let me = Self::default();
        me.store(Self::parse(document.as_bytes(), u64::MAX)?);
        Ok(me)
    }

    fn current(&self) -> Option<std::sync::Arc<Cached>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn store(&self, c: Cached) -> std::sync::Arc<Cached> {
        let c = std::sync::Arc::new(c);
        let previous = self.state.lock().unwrap_or_else(|p| p.into_inner()).replace(c.clone());
        if previous.is_none_or(|p| p.body != c.body) {
            self.verified.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        c
    }

    fn remembered(&self, digest: &[u8; 32], now_secs: u64) -> Option<AccessClaims> {
        let map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        map.get(digest).filter(|c| c.exp.saturating_add(LEEWAY_SECS) >= now_secs).cloned()
    }

    fn remember(&self, digest: [u8; 32], claims: &AccessClaims) {
        let mut map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= VERIFIED_TOKENS_MAX {
            map.clear();
        }
        map.insert(digest, claims.clone());
    }

    fn parse(body: &[u8], fetched_ms: u64) -> Result<Cached, KeysUnavailable> {
        let set: JwkSet = serde_json::from_slice(body).map_err(|e| KeysUnavailable(format!("bad JWKS: {e}")))?;
        let ring = KeyRing::from_jwks(&set);
        if ring.is_empty() {
            return Err(KeysUnavailable("JWKS has no Ed25519 keys".into()));
        }
        Ok(Cached { ring, body: body.to_vec(), fetched_ms })
    }

    async fn fetch<P: Platform>(&self, p: &P, origin_url: &str, refresh_secs: u64) -> Result<std::sync::Arc<Cached>, KeysUnavailable> {
        let req = Outbound {
            method: "GET".into(),
            url: format!("{origin_url}/.well-known/jwks.json"),
            headers: Headers::new(),
            body: Vec::new(),
            upstream: Upstream::Origin,
        };
        let resp = p.fetch(req).await.map_err(|e| KeysUnavailable(e.to_string()))?;
        if resp.status != 200 {
            return Err(KeysUnavailable(format!("origin answered {}", resp.status)));
        }
        let now = p.now_ms();
        let cached = Self::parse(&resp.body, now)?;
        let mut for_cache = Response::new(200).with_header(FETCHED_HEADER, now.to_string());
        for_cache.body = resp.body;
        p.cache_put(JWKS_CACHE_KEY, &for_cache, refresh_secs).await;
        Ok(self.store(cached))
    }

    /// The key set: from memory, else the platform cache, else origin.
    async fn get<P: Platform>(&self, p: &P, origin_url: &str, refresh_secs: u64) -> Result<std::sync::Arc<Cached>, KeysUnavailable> {
        let now = p.now_ms();
        if let Some(c) = self.current() {
            if now.saturating_sub(c.fetched_ms) < refresh_secs * 1000 {
                return Ok(c);
            }
        }
        if let Some(hit) = p.cache_get(JWKS_CACHE_KEY).await {
            let fetched = hit.header(FETCHED_HEADER).and_then(|v| v.parse().ok()).unwrap_or(0);
            if now.saturating_sub(fetched) < refresh_secs * 1000 {
                if let Ok(c) = Self::parse(&hit.body, fetched) {
                    return Ok(self.store(c));
                }
            }
        }
        match self.fetch(p, origin_url, refresh_secs).await {
            Ok(c) => Ok(c),
            // Origin unreachable: keep verifying with the keys we had.
            Err(e) => self.current().ok_or(e),
        }
    }

    /// The JWKS document (for `/.well-known/jwks.json` at the edge).
    pub async fn document<P: Platform>(&self, p: &P, origin_url: &str, refresh_secs: u64) -> Result<Vec<u8>, KeysUnavailable> {
        Ok(self.get(p, origin_url, refresh_secs).await?.body.clone())
    }

    /// Verifies `token`, fetching the keys again once if it names an unknown key. A token
    /// verified before (same bytes) is answered from memory while it has not expired.
    pub async fn verify<P: Platform>(
        &self,
        p: &P,
        origin_url: &str,
        refresh_secs: u64,
        issuer: &str,
        token: &str,
    ) -> Result<Result<AccessClaims, TokenError>, KeysUnavailable> {
        let keys = self.get(p, origin_url, refresh_secs).await?;
        let now_secs = p.now_ms() / 1000;
        let digest = *blake3::hash(token.as_bytes()).as_bytes();
        if let Some(claims) = self.remembered(&digest, now_secs) {
            return Ok(Ok(claims));
        }
        let result = match keys.ring.verify(token, issuer, now_secs) {
            Err(TokenError::UnknownKey) => {
                let now = p.now_ms();
                let may_refetch = {
                    let mut last = self.last_forced_ms.lock().unwrap_or_else(|p| p.into_inner());
                    if now.saturating_sub(*last) >= UNKNOWN_KID_REFETCH_MS {
                        *last = now;
                        true
                    } else {
                        false
                    }
                };
                if !may_refetch {
                    return Ok(Err(TokenError::UnknownKey));
                }
                let keys = self.fetch(p, origin_url, refresh_secs).await?;
                keys.ring.verify(token, issuer, now_secs)
            }
            other => other,
        };
        if let Ok(claims) = &result {
            self.remember(digest, claims);
        }
        Ok(result)
    }
}

/// The bearer credential of a request: `None` without an Authorization header,
/// `Some(Err)` when the header is not `Bearer <token>`.
pub fn bearer(headers: &Headers) -> Option<Result<&str, &'static str>> {
    let value = headers.get("authorization")?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Some(Err("expected 'Bearer <token>'"));
    };
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Some(Err("expected 'Bearer <token>'"));
    }
    Some(Ok(token.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Outbound;
    use crate::platform::FetchError;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ed25519_dalek::Signer;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A platform whose clock the test sets and whose origin serves a given JWKS.
    struct TestPlatform {
        now_ms: AtomicU64,
        jwks: Mutex<String>,
        fetches: AtomicU64,
    }

    impl Platform for TestPlatform {
        async fn fetch(&self, _req: Outbound) -> Result<Response, FetchError> {
            self.fetches.fetch_add(1, Ordering::Relaxed);
            let mut r = Response::new(200);
            r.body = self.jwks.lock().unwrap().clone().into_bytes();
            Ok(r)
        }
        fn now_ms(&self) -> u64 {
            self.now_ms.load(Ordering::Relaxed)
        }
        async fn cache_get(&self, _key: &str) -> Option<Response> {
            None
        }
        async fn cache_put(&self, _key: &str, _resp: &Response, _ttl: u64) {}
    }

    fn jwks_of(key: &ed25519_dalek::SigningKey, kid: &str) -> String {
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}]}).to_string()
    }

    fn token(key: &ed25519_dalek::SigningKey, kid: &str, exp: u64) -> String {
        let h = URL_SAFE_NO_PAD.encode(serde_json::json!({"typ": "JWT", "alg": "EdDSA", "kid": kid}).to_string());
        let c = URL_SAFE_NO_PAD
            .encode(serde_json::json!({"iss": "aethex", "aud": "aethex", "sub": "u1", "roles": [], "sid": "s", "iat": 0, "exp": exp}).to_string());
        let input = format!("{h}.{c}");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).to_bytes()))
    }

    #[test]
    fn verified_tokens_are_remembered_until_they_expire_or_the_keys_change() {
        let k1 = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let k2 = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
        let p = TestPlatform { now_ms: AtomicU64::new(1_000_000), jwks: Mutex::new(jwks_of(&k1, "a")), fetches: AtomicU64::new(0) };
        let jwks = Jwks::default();
        let verify = |t: &str| futures::executor::block_on(jwks.verify(&p, "http://o", 300, "aethex", t)).unwrap();
        let t = token(&k1, "a", 2_000);
        assert!(verify(&t).is_ok());
        assert_eq!(jwks.verified.lock().unwrap().len(), 1);
        assert!(verify(&t).is_ok(), "answered from memory");
        // Expiry is checked on every use, remembered or not.
        p.now_ms.store(2_000_000 + (LEEWAY_SECS + 1) * 1000, Ordering::Relaxed);
        assert_eq!(verify(&t), Err(TokenError::Expired));
        // A new key set (key "a" withdrawn) forgets what was verified with the old one.
        p.now_ms.store(2_100_000, Ordering::Relaxed);
        let t2 = token(&k1, "a", 10_000);
        assert!(verify(&t2).is_ok());
        assert!(verify(&t2).is_ok());
        *p.jwks.lock().unwrap() = jwks_of(&k2, "b");
        p.now_ms.store(2_100_000 + 301_000, Ordering::Relaxed); // past the refresh interval
        assert_eq!(verify(&t2), Err(TokenError::UnknownKey), "a token of a withdrawn key no longer passes");
        assert!(verify(&token(&k2, "b", 10_000)).is_ok());
        // Forgeries are never remembered.
        let mut forged = token(&k2, "b", 10_000);
        forged.replace_range(forged.len() - 3.., "AAA");
        assert!(verify(&forged).is_err());
        assert!(verify(&forged).is_err());
    }
}
