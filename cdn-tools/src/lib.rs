//! AeThex Cloud DLC delivery tools.
//!
//! - [`build()`]: a folder to a [`Manifest`] and a chunk store (FastCDC 2020 chunks, blake3
//!   ids, zstd when it helps), on every core.
//! - [`keys`]: Ed25519 manifest signing keys; [`verify_manifest`] checks a signed manifest
//!   the way every client does (signature over the exact text, then parse, validate, game).
//! - [`diff()`]: what an update costs; [`verify_dir`]: a folder against a manifest.
//! - [`pull()`]: the patching client (resumable, verified, crash-safe switch-over) over a
//!   [`ChunkSource`] ([`HttpSource`] for an edge or origin, [`DirSource`] for a mirror).
//! - [`publish`]: the developer's side of origin (upload missing chunks, create releases,
//!   promote, roll back, register keys).
//!
//! The library has no CLI dependencies (`default-features = false` drops clap, indicatif
//! and anyhow); the `aethex-cdn` binary is behind the default `cli` feature. See README.md
//! for the commands and the measurements behind the defaults.

pub mod bench;
pub mod build;
pub mod chunker;
pub mod diff;
pub mod error;
pub mod fsutil;
mod http;
pub use http::{trusting_client, EXTRA_CA_ENV};
pub mod keys;
pub mod publish;
pub mod pull;
pub mod source;
pub mod store;
pub mod tree;
pub mod verify;

#[cfg(test)]
pub(crate) mod testkit;

use std::path::Path;

pub use aethex_protocol::dlc::{ChunkInfo, Chunking, Compression, FileEntry, Manifest, ReleaseManifest, SignedManifest, Totals};
pub use build::{build, Build, BuildOptions, MANIFEST_FILE};
pub use chunker::{ChunkParams, Chunker};
pub use diff::{diff, Diff};
pub use error::{Error, Result};
pub use keys::{key_id_of, manifest_text, verify_manifest, KeyPair, TrustedKey};
pub use publish::{publish, Origin, PublishOptions, PublishReport};
pub use pull::{pull, recover, Control, Phase, Progress, PullOptions, PullReport};
pub use source::{ChunkSource, DirSource, FetchedChunk, HttpSource};
pub use store::ChunkStore;
pub use verify::{verify_dir, VerifyReport};

/// Parses JSON read from a file, naming the file in the error.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &Path) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::json(path.display().to_string(), e))
}

/// Reads a manifest file: a plain [`Manifest`] (`manifest.json` of a build), a signed one
/// ([`SignedManifest`] / [`ReleaseManifest`] JSON, e.g. a mirror's `release.json`) or an
/// install's `.aethex/installed.json` (their `manifest` text is parsed; the signature is
/// *not* checked). Validated either way.
pub fn read_manifest_file(path: &Path) -> Result<Manifest> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let v: serde_json::Value = parse_json(&bytes, path)?;
    let text = v.get("manifest").or_else(|| v.get("signed").and_then(|s| s.get("manifest")));
    let m: Manifest = match text.and_then(|m| m.as_str()) {
        Some(text) => serde_json::from_str(text).map_err(|e| Error::json(path.display().to_string(), e))?,
        None => serde_json::from_value(v).map_err(|e| Error::json(path.display().to_string(), e))?,
    };
    m.validate()?;
    Ok(m)
}

/// Writes a mirror folder's `release.json` (and `keys.json` with the signer's public key),
/// so [`DirSource`] can install from a build output folder.
pub fn write_release(out: &Path, signed: &SignedManifest, manifest: &Manifest, key: &KeyPair, entitlement: Option<String>) -> Result<()> {
    let release = ReleaseManifest {
        game_id: manifest.game_id.clone(),
        channel: manifest.channel.clone(),
        version: manifest.version.clone(),
        entitlement,
        signed: signed.clone(),
    };
    let keys = aethex_protocol::dlc::ManifestKeyList {
        keys: vec![aethex_protocol::dlc::ManifestKey {
            key_id: key.key_id().to_string(),
            game_id: manifest.game_id.clone(),
            name: "release signer".into(),
            public_key: key.public_key(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }],
    };
    fsutil::write_atomic(&out.join(source::RELEASE_FILE), &serde_json::to_vec_pretty(&release).unwrap_or_default(), true)?;
    fsutil::write_atomic(&out.join(source::KEYS_FILE), &serde_json::to_vec_pretty(&keys).unwrap_or_default(), true)
}
