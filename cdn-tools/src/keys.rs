//! Manifest signing keys.
//!
//! A key file is JSON `{key_id, public_key, secret}`: Ed25519, both keys base64url without
//! padding (the secret is the 32-byte seed), written with mode 0600 and never overwritten
//! by accident. `key_id` is the first 16 hex digits of blake3(raw 32-byte public key): a
//! short, stable name computed the same way by anyone who has the public key.
//!
//! Signing: the manifest is serialized with serde_json (compact, field order as declared)
//! and that exact text is signed; the signature is base64url without padding.
//!
//! Verifying ([`verify_manifest`]): the signature is checked over the text *before* the
//! text is parsed (nothing untrusted reaches the JSON parser of a trusting client beyond
//! the size check), then the manifest is parsed, `validate()`d, and its `game_id` must be
//! the game asked for (a validly signed manifest of another game of the same studio is
//! refused). The `key_id` of a signed manifest only picks which trusted key to try first:
//! a manifest verifies if any trusted key verifies it, so ids computed differently by
//! someone else cannot lock a client out, and cannot make it trust anything more.

use std::path::Path;

use aethex_protocol::dlc::{Manifest, ManifestKey, SignedManifest, MAX_MANIFEST_BYTES};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// The exact text that is signed: the manifest as compact serde_json.
pub fn manifest_text(m: &Manifest) -> String {
    // Serializing a struct of strings and integers cannot fail.
    serde_json::to_string(m).unwrap_or_default()
}

/// `key_id` of a public key: the first 16 hex digits of blake3 of its 32 bytes.
pub fn key_id_of(public: &VerifyingKey) -> String {
    blake3::hash(public.as_bytes()).to_hex()[..16].to_string()
}

/// What a key file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyFile {
    pub key_id: String,
    pub public_key: String,
    pub secret: String,
}

/// An Ed25519 key pair that signs manifests.
#[derive(Clone)]
pub struct KeyPair {
    key_id: String,
    signing: SigningKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("key_id", &self.key_id).field("public_key", &self.public_key()).finish_non_exhaustive()
    }
}

impl KeyPair {
    pub fn generate() -> Self {
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let key_id = key_id_of(&signing.verifying_key());
        KeyPair { key_id, signing }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The id origin gave the key when it differs from ours (see `keys register`).
    pub fn with_key_id(mut self, key_id: String) -> Self {
        self.key_id = key_id;
        self
    }

    /// Public key, base64url without padding.
    pub fn public_key(&self) -> String {
        B64.encode(self.signing.verifying_key().as_bytes())
    }

    pub fn trusted(&self) -> TrustedKey {
        TrustedKey { key_id: self.key_id.clone(), key: self.signing.verifying_key() }
    }

    pub fn to_file(&self) -> KeyFile {
        KeyFile { key_id: self.key_id.clone(), public_key: self.public_key(), secret: B64.encode(self.signing.to_bytes()) }
    }

    pub fn from_file(k: &KeyFile) -> Result<Self> {
        let seed: [u8; 32] = B64
            .decode(k.secret.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::Key("secret is not 32 bytes of base64url".into()))?;
        let signing = SigningKey::from_bytes(&seed);
        let public = B64.encode(signing.verifying_key().as_bytes());
        if public != k.public_key.trim() {
            return Err(Error::Key("public_key does not belong to secret".into()));
        }
        let key_id = if k.key_id.is_empty() { key_id_of(&signing.verifying_key()) } else { k.key_id.clone() };
        Ok(KeyPair { key_id, signing })
    }

    /// Writes the key file with mode 0600; refuses to replace an existing file unless
    /// `overwrite` (losing a signing key means registering a new one).
    pub fn write(&self, path: &Path, overwrite: bool) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.to_file()).unwrap_or_default() + "\n";
        let mut o = std::fs::OpenOptions::new();
        o.write(true);
        if overwrite {
            o.create(true).truncate(true);
        } else {
            o.create_new(true);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(path).at(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600)).at(path)?;
        }
        use std::io::Write;
        f.write_all(text.as_bytes()).at(path)?;
        f.sync_all().at(path)
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).at(path)?;
        let k: KeyFile = serde_json::from_str(&text).map_err(|e| Error::json(format!("key file {}", path.display()), e))?;
        Self::from_file(&k)
    }

    /// Signs a manifest: its compact JSON text is what is signed and shipped.
    pub fn sign(&self, m: &Manifest) -> SignedManifest {
        self.sign_text(manifest_text(m))
    }

    pub fn sign_text(&self, text: String) -> SignedManifest {
        let sig = self.signing.sign(text.as_bytes());
        SignedManifest { manifest: text, signature: B64.encode(sig.to_bytes()), key_id: self.key_id.clone() }
    }
}

/// Whether a key file can be read by others (the CLI warns).
pub fn key_file_too_open(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).map(|m| m.permissions().mode() & 0o077 != 0).unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// A public key a client trusts to sign its game's manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub key_id: String,
    pub key: VerifyingKey,
}

impl TrustedKey {
    /// From a base64url (or standard base64) 32-byte public key.
    pub fn from_b64(s: &str) -> Result<Self> {
        let s = s.trim();
        let bytes = B64
            .decode(s.trim_end_matches('='))
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(s))
            .map_err(|_| Error::Key(format!("{s:?} is not base64")))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| Error::Key(format!("{s:?} is not a 32-byte Ed25519 public key")))?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|e| Error::Key(format!("{s:?}: {e}")))?;
        Ok(TrustedKey { key_id: key_id_of(&key), key })
    }

    /// From origin's key list, keeping origin's `key_id` (signatures name keys by it).
    pub fn from_manifest_key(k: &ManifestKey) -> Result<Self> {
        let mut t = Self::from_b64(&k.public_key)?;
        if !k.key_id.is_empty() {
            t.key_id = k.key_id.clone();
        }
        Ok(t)
    }

    pub fn public_key(&self) -> String {
        B64.encode(self.key.as_bytes())
    }
}

/// Checks a signed manifest and returns it parsed: size, signature by one of `trusted`
/// over the exact text, then parse, `validate()`, and `game_id == game`.
pub fn verify_manifest(signed: &SignedManifest, trusted: &[TrustedKey], game: &str) -> Result<Manifest> {
    if signed.manifest.len() > MAX_MANIFEST_BYTES {
        return Err(Error::Signature(format!("manifest is {} bytes, more than {MAX_MANIFEST_BYTES}", signed.manifest.len())));
    }
    if trusted.is_empty() {
        return Err(Error::Signature("no trusted keys to check it with".into()));
    }
    let sig: [u8; 64] = B64
        .decode(signed.signature.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::Signature("signature is not 64 bytes of base64url".into()))?;
    let sig = Signature::from_bytes(&sig);
    let named = trusted.iter().filter(|k| k.key_id == signed.key_id);
    let others = trusted.iter().filter(|k| k.key_id != signed.key_id);
    if !named.chain(others).any(|k| k.key.verify_strict(signed.manifest.as_bytes(), &sig).is_ok()) {
        return Err(Error::Signature(format!(
            "not signed by a trusted key (signed by key_id {:?}; trusted: {})",
            signed.key_id,
            trusted.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    let m: Manifest = serde_json::from_str(&signed.manifest).map_err(|e| Error::json("signed manifest", e))?;
    m.validate()?;
    if m.game_id != game {
        return Err(Error::WrongGame { expected: game.to_string(), found: m.game_id });
    }
    Ok(m)
}
