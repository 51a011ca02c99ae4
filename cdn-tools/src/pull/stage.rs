//! Step 5: every new or changed file assembled under `.aethex/staging/<version>/`, its whole-file blake3 checked, its mode set, fsynced.

use super::*;

/// Reads ranges of install files, keeping the last file open.
pub(super) struct RangeReader<'a> {
    pub(super) root: &'a Path,
    pub(super) open: Option<(String, File)>,
}

impl<'a> RangeReader<'a> {
    pub(super) fn new(root: &'a Path) -> Self {
        RangeReader { root, open: None }
    }

    pub(super) fn read(&mut self, path: &str, off: u64, len: u64) -> Result<Vec<u8>> {
        let p = self.root.join(path);
        if self.open.as_ref().is_none_or(|(o, _)| o != path) {
            self.open = Some((path.to_string(), File::open(&p).at(&p)?));
        }
        let Some((_, f)) = self.open.as_mut() else { unreachable!("opened above") };
        f.seek(SeekFrom::Start(off)).at(&p)?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact(&mut buf).at(&p)?;
        Ok(buf)
    }
}

pub(super) fn stage(layout: &Layout, m: &Manifest, plan: &Plan, rep: &Reporter) -> Result<()> {
    let staging_root = layout.staging_root();
    remove_dir_all_if_exists(&staging_root)?;
    let staging = layout.staging(&m.version);
    fs::create_dir_all(&staging).at(&staging)?;
    let total: u64 = plan.write.iter().map(|&i| m.files[i].size).sum();
    rep.emit(|p| *p = Progress { phase: Phase::Staging, bytes_total: total, files_total: plan.write.len() as u64, ..Progress::default() });

    let next = std::sync::atomic::AtomicUsize::new(0);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(plan.write.len()).max(1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut reader = RangeReader::new(&layout.install);
                loop {
                    if rep.stopped() {
                        return;
                    }
                    let Some(&i) = plan.write.get(next.fetch_add(1, Ordering::Relaxed)) else { return };
                    let f = &m.files[i];
                    if let Err(e) = stage_file(layout, m, plan, f, &staging, &mut reader) {
                        failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                        rep.stop.store(true, Ordering::SeqCst);
                        return;
                    }
                    rep.emit(|p| {
                        p.files_done += 1;
                        p.bytes_done += f.size;
                    });
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    rep.check()?;
    // Make every staged file's directory entry durable before the journal points at it.
    let mut dirs = BTreeSet::new();
    for &i in &plan.write {
        let mut d = staging.join(&m.files[i].path);
        while d.pop() && d.starts_with(&staging) {
            dirs.insert(d.clone());
        }
    }
    for d in dirs.iter().rev() {
        sync_dir(d)?;
    }
    sync_dir(&staging_root)?;
    sync_dir(&layout.state)
}

pub(super) fn stage_file(layout: &Layout, m: &Manifest, plan: &Plan, f: &FileEntry, staging: &Path, reader: &mut RangeReader<'_>) -> Result<()> {
    let dst = staging.join(&f.path);
    let mut out = fsutil::create_file(&dst)?;
    let mut hasher = blake3::Hasher::new();
    for &ci in &f.chunks {
        let c = &m.chunks[ci as usize];
        let bytes = match plan.local.get(&ci) {
            Some((path, off)) => reader.read(path, *off, c.size)?,
            None => {
                let p = layout.cache.path(&c.id)?;
                fs::read(&p).at(&p)?
            }
        };
        if bytes.len() as u64 != c.size {
            return Err(Error::BadChunk { id: c.id.clone(), reason: "changed on disk during the pull".into() });
        }
        hasher.update(&bytes);
        out.write_all(&bytes).at(&dst)?;
    }
    let got = hasher.finalize().to_hex().to_string();
    if got != f.blake3 {
        // Something changed under us (a cache file or an install file edited meanwhile):
        // forget the cached chunks of this file so the next pull fetches them again.
        for &ci in &f.chunks {
            if let Ok(p) = layout.cache.path(&m.chunks[ci as usize].id) {
                let _ = fs::remove_file(p);
            }
        }
        return Err(Error::Integrity {
            path: f.path.clone(),
            reason: format!("assembled file hashes to {got}, not {}; run the pull again", f.blake3),
        });
    }
    fsutil::set_mode(&dst, f.mode)?;
    out.sync_all().at(&dst)
}
