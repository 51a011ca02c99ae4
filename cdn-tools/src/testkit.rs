//! Test data: game-like trees (incompressible "assets", compressible text and tables,
//! duplicates, an empty file, an executable), scattered edits and insertions. Shared by
//! the unit tests (`crate::testkit`) and the integration tests (`tests/common`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn random_bytes(rng: &mut StdRng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill(&mut v[..]);
    v
}

/// Text-like bytes (words from a small vocabulary, numbers): compresses 3-5x like game
/// scripts, configs and localization tables.
pub fn text_bytes(rng: &mut StdRng, n: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "player",
        "health",
        "damage",
        "spawn",
        "level",
        "quest",
        "item",
        "sword",
        "shield",
        "potion",
        "enemy",
        "boss",
        "door",
        "key",
        "gold",
        "\"name\":",
        "\"id\":",
        "{",
        "}",
        "[",
        "]",
        ",",
        "\n",
        "texture",
        "mesh",
        "anim",
        "sound",
        "the",
        "of",
        "and",
    ];
    let mut v = Vec::with_capacity(n + 16);
    while v.len() < n {
        if rng.gen_ratio(1, 6) {
            v.extend_from_slice(rng.gen_range(0..100_000u32).to_string().as_bytes());
        } else {
            v.extend_from_slice(WORDS[rng.gen_range(0..WORDS.len())].as_bytes());
        }
        v.push(b' ');
    }
    v.truncate(n);
    v
}

/// Half random, half text, in 32 KiB stripes (a pak file of mixed assets).
pub fn mixed_bytes(rng: &mut StdRng, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    let mut flip = false;
    while v.len() < n {
        let k = (n - v.len()).min(32 * 1024);
        v.extend(if flip { text_bytes(rng, k) } else { random_bytes(rng, k) });
        flip = !flip;
    }
    v
}

pub fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, bytes).unwrap();
}

/// A small game: ~`mib` MiB over nested folders.
pub fn write_tree(root: &Path, seed: u64, mib: usize) {
    let mut r = rng(seed);
    let m = mib.max(4) << 20;
    let level1 = random_bytes(&mut r, m * 4 / 10);
    write(root, "data/level1.pak", &level1);
    write(root, "data/level2.pak", &mixed_bytes(&mut r, m * 3 / 10));
    write(root, "data/copy-of-level1.pak", &level1);
    write(root, "data/sub/deep/config.json", &text_bytes(&mut r, m / 20));
    write(root, "locale/en.txt", &text_bytes(&mut r, 100_000));
    write(root, "locale/fr.txt", &text_bytes(&mut r, 90_000));
    write(root, "readme.txt", b"hello\n");
    write(root, "empty.dat", b"");
    write(root, "bin/game", &random_bytes(&mut r, m / 10));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(root.join("bin/game"), fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Overwrites `count` spans of 1..64 bytes at random offsets.
pub fn edit_scattered(path: &Path, r: &mut StdRng, count: usize) {
    let mut b = fs::read(path).unwrap();
    for _ in 0..count {
        let n = r.gen_range(1..64).min(b.len());
        let at = r.gen_range(0..=b.len() - n);
        r.fill(&mut b[at..at + n]);
    }
    fs::write(path, b).unwrap();
}

/// Inserts `count` runs of `len` random bytes at random offsets (shifts the rest).
pub fn insert_scattered(path: &Path, r: &mut StdRng, count: usize, len: usize) {
    let mut b = fs::read(path).unwrap();
    for _ in 0..count {
        let at = r.gen_range(0..=b.len());
        let ins = random_bytes(r, len);
        b.splice(at..at, ins);
    }
    fs::write(path, b).unwrap();
}

pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// path -> blake3 of every file under `root` except `.aethex/`.
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if rel.is_empty() && name == ".aethex" {
                continue;
            }
            let r = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &r, out);
            } else {
                out.insert(r, blake3::hash(&fs::read(e.path()).unwrap()).to_hex().to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, "", &mut out);
    }
    out
}
