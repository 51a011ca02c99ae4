//! Keys and primitives: access-token signing (Ed25519 JWT + JWKS), password hashing
//! (argon2id), the save cipher (XChaCha20-Poly1305 with key ids), random tokens.
//!
//! Keys live in `<data_dir>/keys/` as JSON files created on first start (mode 0600).
//! Each file holds a list of keys; the last one is active, older ones stay usable for
//! verification/decryption so keys can rotate (`aethex rotate-key jwt|saves`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use jsonwebtoken::DecodingKey;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use aethex_protocol::auth::{AccessClaims, Jwk, JwkSet};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key file {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// `n` random bytes, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Short random id of lower-case hex (for key ids).
pub fn random_hex(n_bytes: usize) -> String {
    let mut buf = vec![0u8; n_bytes];
    OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hash of a high-entropy secret (refresh tokens, email tokens, keys) as stored. A fast
/// hash is right here: the inputs are 256-bit random values, not passwords.
pub fn hash_secret(secret: &str) -> String {
    blake3::hash(secret.as_bytes()).to_hex().to_string()
}

/// Constant-time equality for secrets compared as strings.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    created_at: String,
    /// 32 secret bytes, base64 (an Ed25519 seed or an XChaCha20 key).
    secret: String,
}

fn read_or_create_keys(path: &Path) -> Result<Vec<(String, [u8; 32])>, KeyError> {
    let io = |source| KeyError::Io { path: path.to_path_buf(), source };
    let invalid = |reason: String| KeyError::Invalid { path: path.to_path_buf(), reason };
    if !path.exists() {
        add_key(path)?;
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if file.keys.is_empty() {
        return Err(invalid("no keys".into()));
    }
    file.keys
        .into_iter()
        .map(|k| {
            let raw = STANDARD.decode(&k.secret).map_err(|e| invalid(format!("key {}: {e}", k.kid)))?;
            let arr: [u8; 32] = raw.try_into().map_err(|_| invalid(format!("key {}: not 32 bytes", k.kid)))?;
            Ok((k.kid, arr))
        })
        .collect()
}

/// Appends a fresh key to a key file (creating it), which makes it the active key.
/// Returns the new key id.
pub fn add_key(path: &Path) -> Result<String, KeyError> {
    let io = |source| KeyError::Io { path: path.to_path_buf(), source };
    let mut file = if path.exists() {
        let text = std::fs::read_to_string(path).map_err(io)?;
        serde_json::from_str::<KeyFile>(&text).map_err(|e| KeyError::Invalid { path: path.to_path_buf(), reason: e.to_string() })?
    } else {
        KeyFile { keys: vec![] }
    };
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let kid = format!("{}-{}", chrono::Utc::now().format("%Y%m%d"), random_hex(4));
    file.keys.push(StoredKey { kid: kid.clone(), created_at: crate::clock::now(), secret: STANDARD.encode(secret) });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let body = serde_json::to_vec_pretty(&file).expect("key file serializes");
    write_private(&tmp, &body).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(kid)
}

pub(crate) fn write_private(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(body)?;
    f.sync_all()
}

pub use aethex_edge::auth::TokenError;

/// Equality that takes the same time wherever the strings differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (blake3::hash(a.as_bytes()), blake3::hash(b.as_bytes()));
    a == b // blake3::Hash's equality is constant-time
}

/// Signs and verifies access tokens.
///
/// Signing composes the JWS compact form directly with a cached Ed25519 key (the JWT
/// library re-parses its key and re-derives the public point on every signature, which
/// doubled the cost of a login); verification goes through `jsonwebtoken`.
pub struct TokenKeys {
    active_kid: String,
    signing: ed25519_dalek::SigningKey,
    /// base64url of the active key's JOSE header.
    header_b64: String,
    verifying: aethex_edge::auth::KeyRing,
    jwks: JwkSet,
    issuer: String,
    ttl_secs: u64,
    /// Keys origins of one cluster present to each other (derived from each signing key;
    /// the active key's last).
    cluster_keys: Vec<String>,
}

pub use aethex_edge::auth::AUDIENCE;

impl TokenKeys {
    pub fn load(path: &Path, issuer: &str, ttl_secs: u64) -> Result<Self, KeyError> {
        let keys = read_or_create_keys(path)?;
        let mut verifying = aethex_edge::auth::KeyRing::default();
        let mut jwks = Vec::new();
        let mut signing = None;
        let mut cluster_keys = Vec::new();
        for (kid, seed) in &keys {
            cluster_keys.push(blake3::Hash::from(blake3::derive_key("aethex-cloud origin cluster requests v1", seed)).to_hex().to_string());
            let sk = ed25519_dalek::SigningKey::from_bytes(seed);
            let public = sk.verifying_key().to_bytes();
            let x = URL_SAFE_NO_PAD.encode(public);
            signing = Some((kid.clone(), sk));
            verifying.push(
                kid.clone(),
                DecodingKey::from_ed_components(&x).map_err(|e| KeyError::Invalid { path: path.to_path_buf(), reason: e.to_string() })?,
            );
            jwks.push(Jwk { kty: "OKP".into(), crv: "Ed25519".into(), x, kid: kid.clone(), alg: "EdDSA".into(), use_: "sig".into() });
        }
        let (active_kid, signing) = signing.expect("at least one key");
        let header = serde_json::json!({"typ": "JWT", "alg": "EdDSA", "kid": active_kid});
        let header_b64 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header serializes"));
        Ok(Self { active_kid, signing, header_b64, verifying, jwks: JwkSet { keys: jwks }, issuer: issuer.into(), ttl_secs, cluster_keys })
    }

    /// The key this origin presents to the other origins of its cluster.
    pub fn cluster_key(&self) -> &str {
        self.cluster_keys.last().map(String::as_str).unwrap_or_default()
    }

    /// Whether another origin presented a key derived from one of our signing keys.
    pub fn is_cluster_key(&self, presented: &str) -> bool {
        !presented.is_empty() && self.cluster_keys.iter().any(|k| same_secret(k, presented))
    }

    /// Key id of the key new tokens are signed with.
    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    pub fn sign(&self, sub: &str, game: Option<&str>, roles: Vec<String>, sid: &str) -> String {
        let iat = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.into(),
            sub: sub.into(),
            game: game.map(str::to_string),
            roles,
            sid: sid.into(),
            iat,
            exp: iat + self.ttl_secs,
        };
        self.sign_claims(&claims)
    }

    /// `base64url(header) . base64url(claims) . base64url(Ed25519 signature)` (RFC 7515/8037).
    pub fn sign_claims(&self, claims: &AccessClaims) -> String {
        self.sign_json(claims)
    }

    /// Signs any claims with the active key (room tickets use it too).
    pub fn sign_json<T: Serialize>(&self, claims: &T) -> String {
        use ed25519_dalek::Signer;
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let signing_input = format!("{}.{payload}", self.header_b64);
        let signature = self.signing.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// Issuer of the tokens this origin signs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Verifies signature (EdDSA only, key by `kid`), expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.verifying.verify(token, &self.issuer, now)
    }
}

/// Argon2id password hashing on the blocking pool, at most one per core at a time.
///
/// Each hash needs `memory_kib` of working memory. Instead of allocating (and page-faulting)
/// 19 MiB per hash, the hashers reuse a fixed set of buffers, one per permit: this keeps
/// the CPU on the hash itself and bounds the process's hashing memory to cores x 19 MiB.
#[derive(Clone)]
pub struct Passwords {
    params: argon2::Params,
    permits: Arc<Semaphore>,
    buffers: Arc<std::sync::Mutex<Vec<Vec<argon2::Block>>>>,
    /// A hash of a random password, verified when an account does not exist so that
    /// "no such user" takes as long as "wrong password".
    dummy_hash: Arc<String>,
}

impl Passwords {
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, argon2::Error> {
        let params = argon2::Params::new(memory_kib, iterations, parallelism, None)?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let mut me = Self {
            params,
            permits: Arc::new(Semaphore::new(cores)),
            buffers: Arc::new(std::sync::Mutex::new(Vec::new())),
            dummy_hash: Arc::new(String::new()),
        };
        me.dummy_hash = Arc::new(me.hash_blocking(&random_token(24)).map_err(|_| argon2::Error::AlgorithmInvalid)?);
        Ok(me)
    }

    /// Runs `f` with a reusable block buffer of `blocks` blocks.
    fn with_buffer<R>(&self, blocks: usize, f: impl FnOnce(&mut [argon2::Block]) -> R) -> R {
        let pooled = self.buffers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut buf = match pooled {
            Some(b) if b.len() == blocks => b,
            _ => vec![argon2::Block::default(); blocks],
        };
        let r = f(&mut buf);
        // Only buffers of the configured size are kept (hashes made with older
        // parameters get a temporary one).
        if blocks == self.params.block_count() {
            self.buffers.lock().unwrap_or_else(|p| p.into_inner()).push(buf);
        }
        r
    }

    pub fn hash_blocking(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        use argon2::password_hash::{Output, SaltString};
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_raw = salt.decode_b64(&mut salt_bytes)?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, self.params.clone());
        let mut out = [0u8; 32];
        self.with_buffer(self.params.block_count(), |mem| argon.hash_password_into_with_memory(password.as_bytes(), salt_raw, &mut out, mem))?;
        let p = &self.params;
        Ok(format!("$argon2id$v=19$m={},t={},p={}${}${}", p.m_cost(), p.t_cost(), p.p_cost(), salt.as_str(), Output::new(&out)?))
    }

    fn verify_blocking(&self, password: &str, hash: &str) -> bool {
        use argon2::password_hash::{Output, PasswordHash};
        let Ok(parsed) = PasswordHash::new(hash) else { return false };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
        let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm) else { return false };
        let Ok(params) = argon2::Params::try_from(&parsed) else { return false };
        let version = parsed.version.and_then(|v| argon2::Version::try_from(v).ok()).unwrap_or(argon2::Version::V0x13);
        let mut salt_bytes = [0u8; 64];
        let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else { return false };
        let argon = argon2::Argon2::new(algorithm, version, params.clone());
        let mut out = vec![0u8; expected.len()];
        let ok = self.with_buffer(params.block_count(), |mem| argon.hash_password_into_with_memory(password.as_bytes(), salt_raw, &mut out, mem));
        // Output's equality is constant-time.
        ok.is_ok() && Output::new(&out).map(|o| o == expected).unwrap_or(false)
    }

    pub async fn hash(&self, password: String) -> Result<String, String> {
        let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.hash_blocking(&password).map_err(|e| e.to_string())).await.map_err(|e| e.to_string())?
    }

    /// Verifies `password` against `hash`, or against a dummy hash when `hash` is None
    /// (always false then, after the same work).
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else { return false };
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| (*self.dummy_hash).clone());
        let me = self.clone();
        let ok = tokio::task::spawn_blocking(move || me.verify_blocking(&password, &hash)).await.unwrap_or(false);
        ok && real
    }
}

/// Seals save data at rest: XChaCha20-Poly1305, random 24-byte nonce stored in front of
/// the ciphertext, associated data binding the blob to its row.
pub struct SaveCipher {
    active: String,
    keys: Vec<(String, XChaCha20Poly1305)>,
}

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("unknown key id {0}")]
    UnknownKey(String),
    #[error("stored blob failed authentication")]
    Tampered,
}

const NONCE_LEN: usize = 24;

impl SaveCipher {
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let keys = read_or_create_keys(path)?;
        let active = keys.last().expect("at least one key").0.clone();
        let keys = keys.into_iter().map(|(id, k)| (id, XChaCha20Poly1305::new(&k.into()))).collect();
        Ok(Self { active, keys })
    }

    /// Returns (key id, nonce || ciphertext).
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> (String, Vec<u8>) {
        let cipher = &self.keys.iter().find(|(id, _)| *id == self.active).expect("active key present").1;
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory sizes");
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        (self.active.clone(), out)
    }

    pub fn open(&self, key_id: &str, blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, CipherError> {
        let cipher = &self.keys.iter().find(|(id, _)| id == key_id).ok_or_else(|| CipherError::UnknownKey(key_id.to_string()))?.1;
        if blob.len() < NONCE_LEN {
            return Err(CipherError::Tampered);
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad }).map_err(|_| CipherError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};

    #[test]
    fn tokens_round_trip_and_refuse_forgeries() {
        let dir = tempfile::tempdir().unwrap();
        let keys = TokenKeys::load(&dir.path().join("jwt.json"), "aethex", 900).unwrap();
        let t = keys.sign("u1", Some("g1"), vec!["player".into()], "s1");
        let c = keys.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.game.as_deref(), c.sid.as_str()), ("u1", Some("g1"), "s1"));

        // Tampered payload.
        let parts: Vec<&str> = t.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&serde_json::json!({"iss":"aethex","aud":"aethex","sub":"admin","roles":[],"sid":"s1","iat":0,"exp":u64::MAX/2}))
                .unwrap(),
        );
        assert_eq!(keys.verify(&format!("{}.{}.{}", parts[0], forged_payload, parts[2])), Err(TokenError::Invalid));

        // alg: none.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(keys.verify(&format!("{none_header}.{}.", parts[1])).is_err());

        // HS256 signed with the public key as the secret.
        let x = &keys.jwks().keys[0].x;
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(keys.jwks().keys[0].kid.clone());
        let hs = jsonwebtoken::encode(&h, &c, &EncodingKey::from_secret(x.as_bytes())).unwrap();
        assert_eq!(keys.verify(&hs), Err(TokenError::WrongAlgorithm));

        // A different key with the same kid.
        let other_dir = tempfile::tempdir().unwrap();
        let other = TokenKeys::load(&other_dir.path().join("jwt.json"), "aethex", 900).unwrap();
        let foreign = other.sign("u1", None, vec![], "s1");
        assert!(keys.verify(&foreign).is_err());

        // Expired.
        let mut claims = c.clone();
        claims.exp = claims.iat.saturating_sub(60);
        assert_eq!(keys.verify(&keys.sign_claims(&claims)), Err(TokenError::Expired));
        // Wrong issuer or audience.
        let mut claims = c.clone();
        claims.iss = "someone".into();
        assert_eq!(keys.verify(&keys.sign_claims(&claims)), Err(TokenError::Invalid));
        let mut claims = c.clone();
        claims.aud = "someone".into();
        assert_eq!(keys.verify(&keys.sign_claims(&claims)), Err(TokenError::Invalid));
        // Our hand-composed tokens are standard JWS: the library verifies them too.
        let x = &keys.jwks().keys[0].x;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&["aethex"]);
        assert!(jsonwebtoken::decode::<AccessClaims>(&t, &DecodingKey::from_ed_components(x).unwrap(), &v).is_ok());
    }

    #[test]
    fn rotated_keys_still_verify_old_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.json");
        let old = TokenKeys::load(&path, "aethex", 900).unwrap();
        let t = old.sign("u1", None, vec![], "s1");
        add_key(&path).unwrap();
        let new = TokenKeys::load(&path, "aethex", 900).unwrap();
        assert_eq!(new.jwks().keys.len(), 2);
        assert_ne!(new.active_kid, old.active_kid);
        assert!(new.verify(&t).is_ok());
    }

    #[test]
    fn cipher_round_trip_rotation_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("saves.json");
        let c1 = SaveCipher::load(&path).unwrap();
        let (kid, blob) = c1.seal(b"hello", b"row-1");
        assert_eq!(c1.open(&kid, &blob, b"row-1").unwrap(), b"hello");
        assert!(matches!(c1.open(&kid, &blob, b"row-2"), Err(CipherError::Tampered)));
        let mut bad = blob.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(c1.open(&kid, &bad, b"row-1"), Err(CipherError::Tampered)));
        add_key(&path).unwrap();
        let c2 = SaveCipher::load(&path).unwrap();
        assert_eq!(c2.open(&kid, &blob, b"row-1").unwrap(), b"hello");
        let (kid2, _) = c2.seal(b"x", b"r");
        assert_ne!(kid, kid2);
    }

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let p = Passwords::new(1024, 1, 1).unwrap();
        let h = p.hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(p.verify("correct horse".into(), Some(h.clone())).await);
        assert!(!p.verify("wrong horse".into(), Some(h.clone())).await);
        assert!(!p.verify("correct horse".into(), None).await);
        // The PHC string is the standard one: the argon2 crate's own verifier accepts it...
        use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(argon2::Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        // ...and hashes made elsewhere, with other parameters, verify here.
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let other = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon2::Params::new(2048, 3, 1, None).unwrap())
            .hash_password(b"other pw", &salt)
            .unwrap()
            .to_string();
        assert!(p.verify("other pw".into(), Some(other.clone())).await);
        assert!(!p.verify("other pX".into(), Some(other)).await);
        assert!(!p.verify("x".into(), Some("not a hash".into())).await);
    }
}
