//! What an update from one release to another costs.

use std::collections::{HashMap, HashSet};

use aethex_protocol::dlc::Manifest;
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub old_version: String,
    pub new_version: String,
    /// Stored bytes of the new release's chunks the old one does not have: what a player
    /// on the old release downloads (at most; chunks in unchanged files are not needed).
    pub download_bytes: u64,
    pub download_chunks: u64,
    /// New chunks' plain bytes.
    pub download_plain_bytes: u64,
    /// Chunks of the new release the old one already has.
    pub reused_chunks: u64,
    pub reused_bytes: u64,
    /// Stored bytes of a full download of the new release.
    pub full_bytes: u64,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Same path, different content or mode.
    pub changed: Vec<String>,
    pub unchanged: u64,
}

impl Diff {
    /// Share of a full download an update costs (0 when nothing is new).
    pub fn download_fraction(&self) -> f64 {
        if self.full_bytes == 0 {
            0.0
        } else {
            self.download_bytes as f64 / self.full_bytes as f64
        }
    }
}

pub fn diff(old: &Manifest, new: &Manifest) -> Diff {
    let have: HashSet<&str> = old.chunks.iter().map(|c| c.id.as_str()).collect();
    let mut d = Diff { old_version: old.version.clone(), new_version: new.version.clone(), ..Diff::default() };
    for c in &new.chunks {
        d.full_bytes += c.stored_size;
        if have.contains(c.id.as_str()) {
            d.reused_chunks += 1;
            d.reused_bytes += c.size;
        } else {
            d.download_chunks += 1;
            d.download_bytes += c.stored_size;
            d.download_plain_bytes += c.size;
        }
    }
    let old_files: HashMap<&str, _> = old.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let new_paths: HashSet<&str> = new.files.iter().map(|f| f.path.as_str()).collect();
    for f in &new.files {
        match old_files.get(f.path.as_str()) {
            None => d.added.push(f.path.clone()),
            Some(o) if o.blake3 != f.blake3 || o.mode != f.mode => d.changed.push(f.path.clone()),
            Some(_) => d.unchanged += 1,
        }
    }
    d.removed = old.files.iter().filter(|f| !new_paths.contains(f.path.as_str())).map(|f| f.path.clone()).collect();
    d
}
