//! Steps 6 and 7: the switch-over journal and its replay, idempotent at every step so a crash leaves exactly the old release or exactly the new one once [`super::recover`] ran.

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Journal {
    pub(super) version: String,
    /// Staged files to rename into place (paths relative to the install and the staging folder).
    pub(super) renames: Vec<String>,
    /// Files to delete afterwards.
    pub(super) deletes: Vec<String>,
    /// Written as `installed.json` once the files are in place.
    pub(super) state: InstalledState,
}

/// Rolls a journal forward. `crash_after` stops after that many steps (tests simulate a
/// crash at every point of the switch-over with it).
pub(super) fn apply_journal(layout: &Layout, j: &Journal, crash_after: Option<usize>) -> Result<()> {
    for p in j.renames.iter().chain(&j.deletes) {
        check_path(p)?;
    }
    aethex_protocol::dlc::parse_version(&j.version).map_err(|e| Error::Invalid(e.to_string()))?;
    let staging = layout.staging(&j.version);
    let deletes: HashSet<&str> = j.deletes.iter().map(String::as_str).collect();
    let mut steps = 0usize;
    let mut step = || -> Result<()> {
        steps += 1;
        if crash_after == Some(steps) {
            return Err(Error::Invalid(format!("simulated crash after step {steps}")));
        }
        Ok(())
    };
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for path in &j.renames {
        let (src, dst) = (staging.join(path), layout.install.join(path));
        match fs::symlink_metadata(&src) {
            Ok(meta) if meta.is_file() => {
                make_parents(&layout.install, path, &deletes)?;
                clear_folder_in_the_way(&dst, path, &deletes)?;
                fs::rename(&src, &dst).at(&dst)?;
            }
            Ok(_) => return Err(Error::Integrity { path: path.clone(), reason: "staged copy is not a file".into() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Renamed by an earlier, interrupted run.
                if !fs::symlink_metadata(&dst).is_ok_and(|m| m.is_file()) {
                    return Err(Error::Integrity {
                        path: path.clone(),
                        reason: "neither staged nor installed; the journal cannot be completed".into(),
                    });
                }
            }
            Err(e) => return Err(Error::io(&src, e)),
        }
        if let Some(parent) = dst.parent() {
            dirs.insert(parent.to_path_buf());
        }
        step()?;
    }
    for d in &dirs {
        sync_dir(d)?;
    }
    dirs.clear();
    for path in &j.deletes {
        let p = layout.install.join(path);
        match fs::symlink_metadata(&p) {
            Ok(m) if !m.is_dir() => fs::remove_file(&p).at(&p)?,
            _ => {}
        }
        prune_empty_parents(&layout.install, path, &mut dirs);
        step()?;
    }
    for d in &dirs {
        if d.exists() {
            sync_dir(d)?;
        }
    }
    write_atomic(&layout.state_file(), &serde_json::to_vec_pretty(&j.state).unwrap_or_default(), true)?;
    step()?;
    fs::remove_file(layout.journal()).at(layout.journal())?;
    sync_dir(&layout.state)?;
    remove_dir_all_if_exists(&layout.staging_root())?;
    remove_dir_all_if_exists(layout.cache.root())
}

/// Creates the folders above `path`; a file in the way is removed only if the new release
/// deletes it (old `a` becoming a folder `a/`), anything else is an error.
pub(super) fn make_parents(root: &Path, path: &str, deletes: &HashSet<&str>) -> Result<()> {
    let parts: Vec<&str> = path.split('/').collect();
    let mut dir = root.to_path_buf();
    for n in 1..parts.len() {
        dir.push(parts[n - 1]);
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => {
                let rel = parts[..n].join("/");
                if !deletes.contains(rel.as_str()) {
                    return Err(Error::Integrity { path: rel, reason: format!("is a file, but {path} needs it to be a folder") });
                }
                fs::remove_file(&dir).at(&dir)?;
                fs::create_dir(&dir).at(&dir)?;
            }
            Err(_) => fs::create_dir(&dir).or_else(|e| if dir.is_dir() { Ok(()) } else { Err(e) }).at(&dir)?,
        }
    }
    Ok(())
}

/// A folder where a new file goes (old `a/b` becoming a file `a`) is removed if every
/// file in it is one the new release deletes.
pub(super) fn clear_folder_in_the_way(dst: &Path, path: &str, deletes: &HashSet<&str>) -> Result<()> {
    if folder_owned(dst, path, deletes)? {
        fs::remove_dir_all(dst).at(dst)?;
    }
    Ok(())
}

/// Whether `dst` is a folder (true) holding only files the release deletes; an error if
/// it holds anything else.
pub(super) fn folder_owned(dst: &Path, path: &str, deletes: &HashSet<&str>) -> Result<bool> {
    if !fs::symlink_metadata(dst).is_ok_and(|m| m.is_dir()) {
        return Ok(false);
    }
    let mut stack = vec![(dst.to_path_buf(), path.to_string())];
    while let Some((d, rel)) = stack.pop() {
        for e in fs::read_dir(&d).at(&d)? {
            let e = e.at(&d)?;
            let r = format!("{rel}/{}", e.file_name().to_string_lossy());
            if e.file_type().at(e.path())?.is_dir() {
                stack.push((e.path(), r));
            } else if !deletes.contains(r.as_str()) {
                return Err(Error::Integrity {
                    path: path.to_string(),
                    reason: format!("is a folder holding {r}, which this release does not own; move it away"),
                });
            }
        }
    }
    Ok(true)
}

/// Removes the folders above a deleted file that are now empty (never the install root).
pub(super) fn prune_empty_parents(root: &Path, path: &str, dirs: &mut BTreeSet<PathBuf>) {
    let mut p = root.join(path);
    while p.pop() && p != root && p.starts_with(root) {
        if fs::remove_dir(&p).is_err() {
            dirs.insert(p);
            return;
        }
    }
    dirs.insert(p);
}
