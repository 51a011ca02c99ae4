//! Step 3, the plan: which files are unchanged, and where each chunk the others need comes from (the resume cache, files already on disk, or the source).

use super::*;

/// What a pull will do.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Indexes of files to stage.
    pub(super) write: Vec<usize>,
    pub(super) delete: Vec<String>,
    pub(super) unchanged: u64,
    pub(super) needed: u64,
    pub(super) cached: u64,
    /// Chunk index -> (install path, offset) of a verified copy already on disk.
    pub(super) local: HashMap<u32, (String, u64)>,
    pub(super) found_in_stale: u64,
    /// Chunk indexes to download.
    pub(super) download: Vec<u32>,
}

#[cfg(unix)]
pub(super) fn exec_bit(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub(super) fn exec_bit(_meta: &fs::Metadata) -> bool {
    false
}

pub(super) fn plan(layout: &Layout, m: &Manifest, old: Option<&Manifest>, rep: &Reporter) -> Result<Plan> {
    let mut plan = Plan::default();
    let old_files: HashMap<&str, &FileEntry> = old.map(|o| o.files.iter().map(|f| (f.path.as_str(), f)).collect()).unwrap_or_default();
    rep.emit(|p| {
        p.phase = Phase::Checking;
        p.files_total = m.files.len() as u64;
    });
    // Candidate on-disk copies of the new release's chunks: chunk index -> (path, offset),
    // re-hashed before use.
    let index: HashMap<&str, u32> = m.chunks.iter().enumerate().map(|(i, c)| (c.id.as_str(), i as u32)).collect();
    let mut candidates: HashMap<u32, (String, u64)> = HashMap::new();
    let add_ranges = |candidates: &mut HashMap<u32, (String, u64)>, man: &Manifest, f: &FileEntry| {
        let mut at = 0u64;
        for &ci in &f.chunks {
            let c = &man.chunks[ci as usize];
            if let Some(&i) = index.get(c.id.as_str()) {
                candidates.entry(i).or_insert_with(|| (f.path.clone(), at));
            }
            at += c.size;
        }
    };
    let mut stale = Vec::new();
    for (i, f) in m.files.iter().enumerate() {
        let p = layout.install.join(&f.path);
        let meta = fs::symlink_metadata(&p).ok().filter(|m| m.is_file());
        let size = meta.as_ref().map(|x| x.len());
        let unchanged = match old_files.get(f.path.as_str()) {
            // The state says what this file holds: trust it (its size is checked).
            Some(of) if size == Some(of.size) => of.blake3 == f.blake3 && of.mode == f.mode,
            // Unknown content: hash it if it could be the one wanted.
            _ if size == Some(f.size) && meta.as_ref().is_some_and(|x| exec_bit(x) == (f.mode & 0o111 != 0)) => {
                hash_file(&p)?.1.to_hex().as_str() == f.blake3
            }
            _ => false,
        };
        if unchanged {
            plan.unchanged += 1;
            add_ranges(&mut candidates, m, f);
        } else {
            plan.write.push(i);
            if size.is_some() && old_files.get(f.path.as_str()).is_none_or(|of| size != Some(of.size)) {
                stale.push(i);
            }
        }
        rep.emit(|p| p.files_done += 1);
        rep.check()?;
    }
    if let Some(old) = old {
        let new_paths: HashSet<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
        for of in &old.files {
            let on_disk = fs::symlink_metadata(layout.install.join(&of.path)).ok().filter(|x| x.is_file());
            if on_disk.as_ref().is_some_and(|x| x.len() == of.size) {
                add_ranges(&mut candidates, old, of);
            }
            if !new_paths.contains(of.path.as_str()) && on_disk.is_some() {
                plan.delete.push(of.path.clone());
            }
        }
    }

    // Refuse now, before anything is downloaded or journaled, what the switch-over could
    // not do: a file in the way of a new folder, or a folder in the way of a new file,
    // that the release does not own (a journal must always be completable).
    let deletes: HashSet<&str> = plan.delete.iter().map(String::as_str).collect();
    for &i in &plan.write {
        let path = m.files[i].path.as_str();
        let parts: Vec<&str> = path.split('/').collect();
        for n in 1..parts.len() {
            let rel = parts[..n].join("/");
            if fs::metadata(layout.install.join(&rel)).is_ok_and(|x| !x.is_dir()) && !deletes.contains(rel.as_str()) {
                return Err(Error::Integrity {
                    path: rel,
                    reason: format!("is a file this release does not own, in the way of {path}; move it away"),
                });
            }
        }
        folder_owned(&layout.install.join(path), path, &deletes)?;
    }

    // The distinct chunks the files to write are made of.
    let mut wanted: Vec<u32> = Vec::new();
    let mut seen = HashSet::new();
    for &i in &plan.write {
        for &ci in &m.files[i].chunks {
            if seen.insert(ci) {
                wanted.push(ci);
            }
        }
    }
    plan.needed = wanted.len() as u64;

    // 1. The resume cache (re-hashed: cache files are not fsynced).
    let mut missing = Vec::new();
    for ci in wanted {
        let c = &m.chunks[ci as usize];
        let path = layout.cache.path(&c.id)?;
        match read_if_exists(&path)? {
            Some(b) if b.len() as u64 == c.size && chunk_id(&b) == c.id => plan.cached += 1,
            Some(_) => {
                let _ = fs::remove_file(&path);
                missing.push(ci);
            }
            None => missing.push(ci),
        }
    }

    // 2. Stale files on disk (no usable state): chunk them the way the release was built.
    let mut found: HashMap<String, (String, u64)> = HashMap::new();
    if !missing.is_empty() && !stale.is_empty() {
        if let Ok(params) = ChunkParams::from_chunking(&m.chunking) {
            let want: HashSet<&str> = missing.iter().map(|&ci| m.chunks[ci as usize].id.as_str()).collect();
            let chunker = Chunker::new(params);
            let mut buf = Vec::new();
            for &i in &stale {
                let f = &m.files[i];
                let p = layout.install.join(&f.path);
                let Ok(file) = File::open(&p) else { continue };
                let mut at = 0u64;
                chunker
                    .stream(file, &mut buf, |c: &[u8]| -> Result<()> {
                        let id = chunk_id(c);
                        if want.contains(id.as_str()) {
                            found.entry(id).or_insert_with(|| (f.path.clone(), at));
                        }
                        at += c.len() as u64;
                        Ok(())
                    })
                    .map_err(|e| match e {
                        Error::Io { source, .. } => Error::io(&p, source),
                        e => e,
                    })?;
                rep.check()?;
            }
        }
    }

    // 3. Ranges of files on disk, re-hashed before they are trusted.
    let mut reader = RangeReader::new(&layout.install);
    for ci in missing {
        let c = &m.chunks[ci as usize];
        if let Some(loc) = found.get(&c.id) {
            plan.local.insert(ci, loc.clone());
            plan.found_in_stale += 1;
            continue;
        }
        if let Some((path, off)) = candidates.get(&ci) {
            if let Ok(b) = reader.read(path, *off, c.size) {
                if chunk_id(&b) == c.id {
                    plan.local.insert(ci, (path.clone(), *off));
                    continue;
                }
            }
        }
        plan.download.push(ci);
    }
    Ok(plan)
}
