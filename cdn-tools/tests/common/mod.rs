//! Shared by the integration tests: test data and a chunk source wrapper that counts
//! fetches and can corrupt first attempts (over the real local-folder source).
#![allow(dead_code)]

#[path = "../../src/testkit.rs"]
pub mod testkit;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use aethex_cdn::{build, BuildOptions, ChunkInfo, ChunkSource, DirSource, FetchedChunk, KeyPair, Result};
use aethex_protocol::dlc::{ManifestKey, ReleaseManifest};

pub const GAME: &str = "my-awesome-game";

pub fn opts() -> BuildOptions {
    BuildOptions { created_at: Some("2026-01-01T00:00:00Z".into()), ..BuildOptions::default() }
}

/// Builds `dir` as `version` into the mirror folder `out` and signs it there.
pub fn release(dir: &Path, out: &Path, version: &str, key: &KeyPair) -> aethex_cdn::Build {
    let b = build(dir, out, GAME, version, "stable", &opts()).unwrap();
    aethex_cdn::write_release(out, &key.sign_text(b.text.clone()), &b.manifest, key, None).unwrap();
    b
}

/// A [`DirSource`] that counts fetches per chunk and can corrupt each chunk's first
/// `corrupt_first` fetches.
pub struct Counting {
    pub inner: DirSource,
    pub corrupt_first: usize,
    pub fetches: Mutex<HashMap<String, usize>>,
}

impl Counting {
    pub fn new(dir: &Path) -> Self {
        Counting { inner: DirSource::new(dir), corrupt_first: 0, fetches: Mutex::new(HashMap::new()) }
    }

    pub fn total(&self) -> usize {
        self.fetches.lock().unwrap().values().sum()
    }

    pub fn take(&self) -> HashMap<String, usize> {
        std::mem::take(&mut *self.fetches.lock().unwrap())
    }
}

impl ChunkSource for Counting {
    async fn release(&self) -> Result<ReleaseManifest> {
        self.inner.release().await
    }

    async fn keys(&self) -> Result<Vec<ManifestKey>> {
        self.inner.keys().await
    }

    async fn chunk(&self, info: &ChunkInfo) -> Result<FetchedChunk> {
        let n = {
            let mut f = self.fetches.lock().unwrap();
            let n = f.entry(info.id.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let mut c = self.inner.chunk(info).await?;
        if n <= self.corrupt_first {
            let mid = c.bytes.len() / 2;
            c.bytes[mid] ^= 0x40;
        }
        Ok(c)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}
