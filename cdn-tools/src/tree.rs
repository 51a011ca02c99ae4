//! Walking a build folder into the list of files a manifest describes.
//!
//! What goes in: regular files, named by their path relative to the folder, `/`-separated
//! and checked by [`check_path`] (so installing them can never leave the install folder).
//! What is refused, with the offending path: symlinks (pointing outside the tree *or*
//! inside it: a manifest has no link type, so a link would silently become a copy on
//! players' disks, and links can loop; replace it with a copy or remove it), sockets,
//! fifos and devices, names that are not UTF-8, names [`check_path`] refuses (backslashes,
//! `:`, control characters), and two paths that differ only by case (they would collide on
//! Windows and macOS players' disks). Skipped: empty folders (a manifest lists files only)
//! and a top-level `.aethex/` folder (the patching client's state in an install folder, so
//! an installed copy can be rebuilt).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use aethex_protocol::dlc::check_path;

use crate::error::{Error, IoContext, Result};

/// The patching client's state folder inside an install; never part of a build.
pub const STATE_DIR: &str = ".aethex";

/// One file found in a build folder.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Relative, `/`-separated path as it goes into the manifest.
    pub path: String,
    pub abs: PathBuf,
    pub size: u64,
    /// `0o755` if any execute bit is set, else `0o644`: the same on every machine whatever
    /// its umask, so two builds of the same tree give the same manifest.
    pub mode: u32,
}

/// Lists the regular files under `root`, sorted by path (byte order), refusing what a
/// manifest cannot describe (see the module docs).
pub fn walk(root: &Path) -> Result<Vec<SourceFile>> {
    let meta = fs::metadata(root).at(root)?;
    if !meta.is_dir() {
        return Err(Error::Invalid(format!("{} is not a folder", root.display())));
    }
    let canonical_root = fs::canonicalize(root).at(root)?;
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = fs::read_dir(&dir).at(&dir)?;
        for entry in entries {
            let entry = entry.at(&dir)?;
            let abs = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(Error::Refused { path: abs.display().to_string(), reason: "the name is not valid UTF-8".into() });
            };
            if rel.is_empty() && name == STATE_DIR {
                continue;
            }
            let path = if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") };
            let refuse = |reason: String| Error::Refused { path: path.clone(), reason };
            check_path(&path).map_err(|e| refuse(e.0))?;
            let ft = entry.file_type().at(&abs)?;
            if ft.is_symlink() {
                let target = fs::read_link(&abs).map(|t| t.display().to_string()).unwrap_or_default();
                let inside = fs::canonicalize(&abs).map(|t| t.starts_with(&canonical_root)).unwrap_or(false);
                return Err(refuse(if inside {
                    format!("is a symlink (to {target}, inside the tree); manifests carry files only: replace it with a copy or remove it")
                } else {
                    format!("is a symlink pointing outside the tree (to {target}); refused")
                }));
            }
            if ft.is_dir() {
                stack.push((abs, path));
            } else if ft.is_file() {
                let meta = entry.metadata().at(&abs)?;
                out.push(SourceFile { path, abs, size: meta.len(), mode: normalized_mode(&meta) });
            } else {
                return Err(refuse("is not a regular file (socket, fifo or device)".into()));
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    let mut folded: HashMap<String, &str> = HashMap::new();
    for f in &out {
        if let Some(other) = folded.insert(f.path.to_lowercase(), &f.path) {
            return Err(Error::Refused {
                path: f.path.clone(),
                reason: format!("differs from {other} only by case; the two would collide on Windows and macOS"),
            });
        }
    }
    Ok(out)
}

#[cfg(unix)]
fn normalized_mode(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

#[cfg(not(unix))]
fn normalized_mode(_meta: &fs::Metadata) -> u32 {
    0o644
}
