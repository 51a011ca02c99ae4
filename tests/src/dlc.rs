//! DLC fixtures: a game with a server key and a registered manifest signing key, build
//! folders made of deterministic pseudo-random files, and publishing through `aethex-cdn`
//! (the same library the CLI uses).

use std::path::{Path, PathBuf};

use aethex_cdn::{BuildOptions, KeyPair, PublishOptions, PublishReport};
use serde_json::{json, Value};

use crate::GameFixture;

/// Deterministic pseudo-random bytes (xorshift), so builds are reproducible.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Writes a small game build: a few binary files (some compressible) in nested folders.
pub fn write_tree(dir: &Path, seed: u64) {
    let files: [(&str, usize); 5] =
        [("game.pck", 900_000), ("data/level1.pak", 400_000), ("data/level2.pak", 250_000), ("data/text/en.json", 20_000), ("README.txt", 3_000)];
    for (i, (path, len)) in files.iter().enumerate() {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let bytes = if path.ends_with(".json") || path.ends_with(".txt") {
            b"{\"line\": \"the quick brown fox jumps over the lazy dog\"}\n".iter().copied().cycle().take(*len).collect()
        } else {
            noise(seed + i as u64, *len)
        };
        std::fs::write(p, bytes).unwrap();
    }
}

/// Changes a build a little: overwrites a few bytes, inserts some (shifting the rest),
/// adds a file and removes one.
pub fn edit_tree(dir: &Path) {
    let p = dir.join("game.pck");
    let mut b = std::fs::read(&p).unwrap();
    for at in [10_000usize, 500_000] {
        b[at..at + 64].copy_from_slice(&[0xAB; 64]);
    }
    b.splice(700_000..700_000, noise(99, 5_000));
    std::fs::write(&p, b).unwrap();
    std::fs::write(dir.join("data/level3.pak"), noise(77, 60_000)).unwrap();
    std::fs::remove_file(dir.join("data/level2.pak")).unwrap();
}

/// A game ready to publish DLC: its server key and a registered signing key.
pub struct Publisher {
    pub game: String,
    pub server_key: String,
    pub key: KeyPair,
    pub origin: aethex_cdn::Origin,
    _tmp: tempfile::TempDir,
    out: PathBuf,
}

impl Publisher {
    pub async fn new(game: &GameFixture) -> Self {
        let resp: Value = game
            .developer
            .request(reqwest::Method::POST, &format!("/api/v1/games/{}/server-keys", game.game_id), Some(&json!({"name": "publisher"})), true)
            .await
            .expect("server key");
        let server_key = resp["key"].as_str().expect("key").to_string();
        let origin = aethex_cdn::Origin::new(&game.url, &server_key).expect("origin client");
        let key = KeyPair::generate();
        origin.register_key(&game.game_id, &key, "release signer").await.expect("register key");
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        Self { game: game.game_id.clone(), server_key, key, origin, _tmp: tmp, out }
    }

    /// Builds `dir` as `version` on `channel` and publishes it.
    pub async fn publish(&self, dir: &Path, version: &str, channel: &str, entitlement: Option<&str>) -> PublishReport {
        let b = aethex_cdn::build(dir, &self.out, &self.game, version, channel, &BuildOptions::default()).expect("build");
        let opts = PublishOptions { entitlement: entitlement.map(str::to_string), ..Default::default() };
        aethex_cdn::publish(&self.origin, &b.manifest, &b.store, &self.key, &opts).await.expect("publish")
    }

    /// The key players trust.
    pub fn trusted(&self) -> Vec<aethex_cdn::TrustedKey> {
        vec![aethex_cdn::TrustedKey::from_b64(&self.key.public_key()).expect("trusted key")]
    }
}

/// Pulls the channel's release from `base` (origin or an edge) into `install`.
pub async fn pull(
    base: &str,
    game: &str,
    channel: &str,
    token: &str,
    trusted: Vec<aethex_cdn::TrustedKey>,
    install: &Path,
) -> aethex_cdn::PullReport {
    let src = aethex_cdn::HttpSource::new(base, game, channel, Some(token.to_string())).expect("source");
    let opts = aethex_cdn::PullOptions { trusted_keys: trusted, ..Default::default() };
    aethex_cdn::pull(&src, game, install, &opts).await.expect("pull")
}
