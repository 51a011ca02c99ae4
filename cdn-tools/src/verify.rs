//! Checking a folder against a manifest: every listed file present with its size and
//! blake3. Files the manifest does not list are reported apart (they are not errors: an
//! install folder also holds players' own files).

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use aethex_protocol::dlc::{FileEntry, Manifest};
use serde::Serialize;

use crate::error::{IoContext, Result};
use crate::tree::STATE_DIR;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Mismatch {
    Missing { path: String },
    NotAFile { path: String },
    Size { path: String, expected: u64, found: u64 },
    Content { path: String, expected: String, found: String },
}

impl Mismatch {
    pub fn path(&self) -> &str {
        match self {
            Mismatch::Missing { path } | Mismatch::NotAFile { path } | Mismatch::Size { path, .. } | Mismatch::Content { path, .. } => path,
        }
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Missing { path } => write!(f, "{path}: missing"),
            Mismatch::NotAFile { path } => write!(f, "{path}: not a regular file"),
            Mismatch::Size { path, expected, found } => write!(f, "{path}: {found} bytes, expected {expected}"),
            Mismatch::Content { path, expected, found } => write!(f, "{path}: blake3 {found}, expected {expected}"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub files_ok: u64,
    pub bytes_ok: u64,
    pub mismatches: Vec<Mismatch>,
    /// Files present in the folder but not in the manifest (not counted as failures).
    pub extra: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// blake3 of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(u64, blake3::Hash)> {
    let mut f = File::open(path).at(path)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf).at(path)?;
        if r == 0 {
            return Ok((n, h.finalize()));
        }
        h.update(&buf[..r]);
        n += r as u64;
    }
}

/// Checks one file: `None` when it matches.
pub fn check_file(dir: &Path, f: &FileEntry) -> Result<Option<Mismatch>> {
    let p = dir.join(&f.path);
    let meta = match std::fs::symlink_metadata(&p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(Mismatch::Missing { path: f.path.clone() })),
        Err(e) => return Err(crate::Error::io(&p, e)),
    };
    if !meta.is_file() {
        return Ok(Some(Mismatch::NotAFile { path: f.path.clone() }));
    }
    if meta.len() != f.size {
        return Ok(Some(Mismatch::Size { path: f.path.clone(), expected: f.size, found: meta.len() }));
    }
    let (_, h) = hash_file(&p)?;
    let found = h.to_hex().to_string();
    Ok(if found == f.blake3 { None } else { Some(Mismatch::Content { path: f.path.clone(), expected: f.blake3.clone(), found }) })
}

/// Verifies `dir` against `manifest`, hashing files on every core.
pub fn verify_dir(dir: &Path, manifest: &Manifest) -> Result<VerifyReport> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Option<Mismatch>)>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<crate::Error>> = Mutex::new(None);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(manifest.files.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(f) = manifest.files.get(i) else { return };
                match check_file(dir, f) {
                    Ok(r) => results.lock().unwrap_or_else(|e| e.into_inner()).push((i, r)),
                    Err(e) => {
                        failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    let mut report = VerifyReport::default();
    for (i, r) in results {
        match r {
            None => {
                report.files_ok += 1;
                report.bytes_ok += manifest.files[i].size;
            }
            Some(m) => report.mismatches.push(m),
        }
    }
    let listed: HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    report.extra = list_files(dir)?.into_iter().filter(|p| !listed.contains(p.as_str())).collect();
    Ok(report)
}

/// Every file path under `dir` (relative, `/`-separated), skipping `.aethex/` and
/// anything that is not a regular file or folder.
fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = stack.pop() {
        for e in std::fs::read_dir(&d).at(&d)? {
            let e = e.at(&d)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if rel.is_empty() && name == STATE_DIR {
                continue;
            }
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let ft = e.file_type().at(e.path())?;
            if ft.is_dir() {
                stack.push((e.path(), path));
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
