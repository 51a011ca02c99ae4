//! Small file-system helpers: atomic replace (temp file + rename) and directory fsync, the
//! two primitives the crash-safety of `build` outputs and of `pull` rests on.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, Result};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name beside `path`, unique in this process (pid + counter), starting with
/// `.` so directory listings and manifests built from the folder skip it.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Writes `bytes` to `path` so that a reader (or a restart after a crash) sees either the
/// old file or the whole new one: write a temp file beside it, optionally fsync it, rename
/// over, optionally fsync the folder so the rename itself is durable.
pub fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).at(parent)?;
    }
    let tmp = tmp_path(path);
    let result = (|| {
        let mut f = File::create(&tmp).at(&tmp)?;
        f.write_all(bytes).at(&tmp)?;
        if durable {
            f.sync_all().at(&tmp)?;
        }
        drop(f);
        fs::rename(&tmp, path).at(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    if durable {
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Makes a folder's entries (creations, renames, deletions) durable. A no-op where the
/// platform cannot open folders (Windows, whose renames are journaled by NTFS).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir).at(dir)?.sync_all().at(dir)?;
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
    Ok(())
}

/// Opens a file for writing, creating it and its folders, truncating what was there.
pub(crate) fn create_file(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).at(parent)?;
    }
    OpenOptions::new().write(true).create(true).truncate(true).open(path).at(path)
}

/// Sets Unix permission bits; elsewhere permissions are left as the platform makes them.
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Permission bits only, whatever a caller passes (manifests are checked too).
        fs::set_permissions(path, fs::Permissions::from_mode(mode & aethex_protocol::dlc::MAX_FILE_MODE)).at(path)?;
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
    }
    Ok(())
}

/// Removes a folder tree if it exists.
pub(crate) fn remove_dir_all_if_exists(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(crate::Error::io(path, e)),
        _ => Ok(()),
    }
}

/// Reads a whole file if it exists.
pub(crate) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(crate::Error::io(path, e)),
    }
}
