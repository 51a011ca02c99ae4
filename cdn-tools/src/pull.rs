//! The patching client: bring an install folder to a channel's current release,
//! downloading only chunks it does not already have.
//!
//! # Layout of an install folder
//!
//! ```text
//! <install>/...                        the game's files
//! <install>/.aethex/installed.json     the installed release (signed manifest text + where from)
//! <install>/.aethex/trusted_keys.json  keys pinned on first use (when none are given)
//! <install>/.aethex/chunks/ab/<id>     verified plain chunks downloaded so far (resume cache)
//! <install>/.aethex/staging/<version>/ the new and changed files, assembled and verified
//! <install>/.aethex/journal.json       the switch-over plan, present only while applying
//! ```
//!
//! # Steps
//!
//! 1. [`recover`]: finish a switch-over a crash interrupted (see below).
//! 2. Fetch the release, verify it ([`verify_manifest`]: signature over the exact text,
//!    then parse, `validate()`, game id). Paths under `.aethex/` or equal but for case are
//!    refused.
//! 3. Plan: a file is unchanged if the installed state lists it with the same blake3 and
//!    mode and its size on disk matches, or (no state, or not listed) if its size and
//!    blake3 on disk match. Chunks the changed files need come, in order of preference,
//!    from the resume cache (re-hashed), from files already on disk (ranges known from the
//!    installed manifest or the new one for unchanged files, or found by chunking a stale
//!    file with the release's chunking parameters; each range is re-hashed), else from the
//!    source.
//! 4. Download the rest, `concurrency` at a time: each chunk is decompressed (bounded by
//!    its plain size), its size and blake3 checked, then written to the cache. A failure
//!    or a corrupted chunk is retried with exponential backoff; a 4xx answer is final.
//! 5. Stage: assemble every new or changed file under `.aethex/staging/<version>/`, check
//!    its whole-file blake3, set its mode, fsync it, then fsync the staging folders.
//! 6. Journal: write `.aethex/journal.json` (renames, deletions, the new installed state)
//!    atomically and durably (temp file, fsync, rename, fsync folder).
//! 7. Apply the journal: rename each staged file over its destination, then delete the
//!    files the new release no longer has (last, and only files the old manifest listed:
//!    players' own files are never touched), write `installed.json`, remove the journal,
//!    the staging folder and the cache.
//!
//! # Crash safety
//!
//! Until the journal exists, the install folder has not been touched: a crash leaves the
//! old release whole (plus a resumable cache and a staging folder the next run discards).
//! Once the journal is durable, every staged file is durable too (fsynced before), so the
//! switch-over can always be completed: [`recover`] (run at the start of every pull, and
//! by a launcher before it starts the game) replays the journal. Each step is idempotent:
//! a rename whose staged file is gone already happened (its destination must exist), a
//! deletion of a missing file is done, rewriting `installed.json` is harmless; the
//! journal is removed last. So after any crash, once `recover` has run, the folder holds
//! exactly the old release or exactly the new one, never a mix. A launcher that must not
//! start the game mid-switch checks [`pending`] (or calls [`recover`]) first.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aethex_protocol::dlc::{check_path, ChunkInfo, FileEntry, Manifest, ReleaseManifest, SignedManifest};
use aethex_protocol::validate::GameSlug;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::chunker::{ChunkParams, Chunker};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, read_if_exists, remove_dir_all_if_exists, sync_dir, write_atomic};
use crate::http;
use crate::keys::{verify_manifest, TrustedKey};
use crate::source::ChunkSource;
use crate::store::{chunk_id, decode_verified, ChunkStore};
use crate::tree::STATE_DIR;
use crate::verify::hash_file;

/// What a progress callback answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop soon: downloads in flight finish into the cache, nothing is applied, and the
    /// pull returns [`Error::Aborted`]. The next pull resumes.
    Abort,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Comparing the install with the release (hashing files, finding reusable chunks).
    #[default]
    Checking,
    Downloading,
    /// Assembling changed files in the staging folder.
    Staging,
    /// Switching staged files into place.
    Applying,
}

/// Progress so far. `bytes_*` count stored (downloaded) bytes while downloading and plain
/// bytes otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub phase: Phase,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub chunks_done: u64,
    pub chunks_total: u64,
    pub files_done: u64,
    pub files_total: u64,
}

/// Called (serialized, from any thread) as the pull advances; keep it quick.
pub type ProgressFn = Arc<dyn Fn(&Progress) -> Control + Send + Sync>;

/// Where the keys that verified the release came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// The caller's keys ([`PullOptions::trusted_keys`]).
    Given,
    /// Keys pinned in the install folder on an earlier first use.
    Pinned,
    /// The source's key list, trusted now and pinned for later pulls.
    FirstUse,
}

#[derive(Clone)]
pub struct PullOptions {
    /// Keys that may sign the game's manifests. Empty: trust on first use (the source's
    /// key list, pinned in `.aethex/trusted_keys.json`; later pulls trust only those).
    /// Games should ship their public key and pass it here.
    pub trusted_keys: Vec<TrustedKey>,
    /// Chunk downloads in flight.
    pub concurrency: usize,
    /// Retries per chunk after the first attempt.
    pub retries: u32,
    /// First backoff; doubles per retry (capped at 10 s).
    pub retry_base: Duration,
    /// Switch staged files into place now. `false` stops after writing the journal (a
    /// launcher downloading while the game runs): [`recover`] or the next pull applies it.
    pub apply: bool,
    pub progress: Option<ProgressFn>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions { trusted_keys: Vec::new(), concurrency: 8, retries: 5, retry_base: Duration::from_millis(250), apply: true, progress: None }
    }
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions")
            .field("trusted_keys", &self.trusted_keys.len())
            .field("concurrency", &self.concurrency)
            .field("retries", &self.retries)
            .field("retry_base", &self.retry_base)
            .field("apply", &self.apply)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PullReport {
    pub game_id: String,
    pub channel: String,
    pub version: String,
    /// The version installed before (per the state file).
    pub previous: Option<String>,
    /// Nothing needed doing.
    pub up_to_date: bool,
    /// The new release is in place (false with `apply: false`: staged, journal written).
    pub applied: bool,
    pub trust: Option<Trust>,
    pub files_written: u64,
    pub files_deleted: u64,
    pub files_unchanged: u64,
    /// Distinct chunks the new and changed files are made of.
    pub chunks_needed: u64,
    pub chunks_downloaded: u64,
    /// Stored bytes downloaded.
    pub bytes_downloaded: u64,
    pub chunks_from_cache: u64,
    pub chunks_from_install: u64,
    pub retries: u64,
    /// A journal left by an interrupted pull that was completed first.
    pub recovered: Option<String>,
}

/// The installed release, as recorded in `.aethex/installed.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledState {
    pub game_id: String,
    pub channel: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
    pub installed_at: String,
    /// The signed manifest as verified (its text is the manifest).
    pub signed: SignedManifest,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Journal {
    version: String,
    /// Staged files to rename into place (paths relative to the install and the staging folder).
    renames: Vec<String>,
    /// Files to delete afterwards.
    deletes: Vec<String>,
    /// Written as `installed.json` once the files are in place.
    state: InstalledState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PinnedKey {
    key_id: String,
    public_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrustPin {
    source: String,
    pinned_at: String,
    keys: Vec<PinnedKey>,
}

/// Paths inside an install folder.
#[derive(Debug, Clone)]
struct Layout {
    install: PathBuf,
    state: PathBuf,
    cache: ChunkStore,
}

impl Layout {
    fn new(install: &Path) -> Self {
        let state = install.join(STATE_DIR);
        Layout { install: install.to_path_buf(), cache: ChunkStore::at(state.join("chunks")), state }
    }
    fn staging_root(&self) -> PathBuf {
        self.state.join("staging")
    }
    fn staging(&self, version: &str) -> PathBuf {
        self.staging_root().join(version)
    }
    fn journal(&self) -> PathBuf {
        self.state.join("journal.json")
    }
    fn state_file(&self) -> PathBuf {
        self.state.join("installed.json")
    }
    fn pin_file(&self) -> PathBuf {
        self.state.join("trusted_keys.json")
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match read_if_exists(path)? {
        None => Ok(None),
        Some(b) => crate::parse_json(&b, path).map(Some),
    }
}

/// The installed release and its manifest, if the folder has one.
pub fn installed(install: &Path) -> Result<Option<(InstalledState, Manifest)>> {
    let layout = Layout::new(install);
    let Some(state) = read_json::<InstalledState>(&layout.state_file())? else { return Ok(None) };
    let m: Manifest = serde_json::from_str(&state.signed.manifest).map_err(|e| Error::json(layout.state_file().display().to_string(), e))?;
    m.validate()?;
    Ok(Some((state, m)))
}

/// The version a crash left half-switched (a journal waits), if any.
pub fn pending(install: &Path) -> Result<Option<String>> {
    Ok(read_json::<Journal>(&Layout::new(install).journal())?.map(|j| j.version))
}

/// Completes a switch-over a crash or `apply: false` left (rolls the journal forward).
/// Returns the version it put in place. Cheap when there is nothing to do: call it before
/// starting the game.
pub fn recover(install: &Path) -> Result<Option<String>> {
    let layout = Layout::new(install);
    let Some(journal) = read_json::<Journal>(&layout.journal())? else { return Ok(None) };
    apply_journal(&layout, &journal, None)?;
    Ok(Some(journal.version))
}

/// Brings `install` to the source's current release of `game`. See the module docs.
pub async fn pull<S: ChunkSource>(source: &S, game: &str, install: &Path, opts: &PullOptions) -> Result<PullReport> {
    let game = GameSlug::parse(game).map_err(|e| Error::Invalid(e.to_string()))?.into_inner();
    let layout = Layout::new(install);
    fs::create_dir_all(&layout.state).at(&layout.state)?;
    let recovered = blocking({
        let install = install.to_path_buf();
        move || recover(&install)
    })
    .await?;

    let release: ReleaseManifest = http::retry(opts.retries, opts.retry_base, || source.release()).await?;
    if release.game_id != game {
        return Err(Error::WrongGame { expected: game, found: release.game_id });
    }
    let (trusted, trust) = trusted_keys(source, &layout, opts).await?;
    let manifest = Arc::new(verify_manifest(&release.signed, &trusted, &game)?);
    check_installable(&manifest)?;
    if trust == Trust::FirstUse {
        let pin = TrustPin {
            source: source.describe(),
            pinned_at: now(),
            keys: trusted.iter().map(|k| PinnedKey { key_id: k.key_id.clone(), public_key: k.public_key() }).collect(),
        };
        write_atomic(&layout.pin_file(), &serde_json::to_vec_pretty(&pin).unwrap_or_default(), true)?;
    }

    // A state file that does not parse is treated as absent (files are then checked by
    // hash, and nothing is deleted); I/O errors are not.
    let old = match installed(install) {
        Ok(old) => old,
        Err(Error::Json { .. } | Error::BadManifest(_)) => None,
        Err(e) => return Err(e),
    };
    if let Some((s, _)) = &old {
        if s.game_id != game {
            return Err(Error::Invalid(format!("{} holds game {:?}, not {game:?}", install.display(), s.game_id)));
        }
    }
    let mut report = PullReport {
        game_id: game.clone(),
        channel: release.channel.clone(),
        version: manifest.version.clone(),
        previous: old.as_ref().map(|(s, _)| s.version.clone()),
        trust: Some(trust),
        recovered,
        ..PullReport::default()
    };
    let same_text = old.as_ref().is_some_and(|(s, _)| s.signed.manifest == release.signed.manifest);
    let rep = Arc::new(Reporter::new(opts.progress.clone()));

    let plan = blocking({
        let (layout, manifest, rep) = (layout.clone(), manifest.clone(), rep.clone());
        let old_manifest = old.map(|(_, m)| m);
        move || plan(&layout, &manifest, old_manifest.as_ref(), &rep)
    })
    .await?;
    report.files_unchanged = plan.unchanged;
    report.chunks_needed = plan.needed;
    report.chunks_from_cache = plan.cached;
    report.chunks_from_install = plan.local.len() as u64;
    if plan.write.is_empty() && plan.delete.is_empty() && same_text {
        report.up_to_date = true;
        report.applied = true;
        return Ok(report);
    }

    download(source, &layout, &manifest, &plan.download, opts, &rep, &mut report).await?;

    let plan = Arc::new(plan);
    blocking({
        let (layout, manifest, plan, rep) = (layout.clone(), manifest.clone(), plan.clone(), rep.clone());
        move || stage(&layout, &manifest, &plan, &rep)
    })
    .await?;

    let journal = Journal {
        version: manifest.version.clone(),
        renames: plan.write.iter().map(|&i| manifest.files[i].path.clone()).collect(),
        deletes: plan.delete.clone(),
        state: InstalledState {
            game_id: game,
            channel: release.channel.clone(),
            version: manifest.version.clone(),
            entitlement: release.entitlement.clone(),
            installed_at: now(),
            signed: release.signed.clone(),
        },
    };
    write_atomic(&layout.journal(), &serde_json::to_vec(&journal).unwrap_or_default(), true)?;
    report.files_written = journal.renames.len() as u64;
    report.files_deleted = journal.deletes.len() as u64;
    if opts.apply {
        rep.emit(|p| {
            p.phase = Phase::Applying;
            (p.files_done, p.files_total) = (0, (journal.renames.len() + journal.deletes.len()) as u64);
        });
        blocking({
            let layout = layout.clone();
            move || apply_journal(&layout, &journal, None)
        })
        .await?;
        report.applied = true;
    }
    Ok(report)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Invalid(format!("worker thread failed: {e}")))?
}

async fn trusted_keys<S: ChunkSource>(source: &S, layout: &Layout, opts: &PullOptions) -> Result<(Vec<TrustedKey>, Trust)> {
    if !opts.trusted_keys.is_empty() {
        return Ok((opts.trusted_keys.clone(), Trust::Given));
    }
    if let Some(pin) = read_json::<TrustPin>(&layout.pin_file())? {
        let mut keys = Vec::new();
        for k in &pin.keys {
            let mut t = TrustedKey::from_b64(&k.public_key)?;
            t.key_id = k.key_id.clone();
            keys.push(t);
        }
        if keys.is_empty() {
            return Err(Error::Key(format!("{} pins no keys", layout.pin_file().display())));
        }
        return Ok((keys, Trust::Pinned));
    }
    let listed = http::retry(opts.retries, opts.retry_base, || source.keys()).await?;
    let keys = listed.iter().map(TrustedKey::from_manifest_key).collect::<Result<Vec<_>>>()?;
    if keys.is_empty() {
        return Err(Error::Key(format!("{} lists no manifest keys and none were given", source.describe())));
    }
    Ok((keys, Trust::FirstUse))
}

/// Refuses paths that would collide with the client's state folder or with each other on
/// case-insensitive file systems.
fn check_installable(m: &Manifest) -> Result<()> {
    let mut folded = HashSet::new();
    for f in &m.files {
        if f.path.split('/').next().is_some_and(|c| c.eq_ignore_ascii_case(STATE_DIR)) {
            return Err(Error::Integrity { path: f.path.clone(), reason: format!("is inside {STATE_DIR}/, which the patching client owns") });
        }
        if !folded.insert(f.path.to_lowercase()) {
            return Err(Error::Integrity { path: f.path.clone(), reason: "another path differs only by case".into() });
        }
    }
    Ok(())
}

/// Serializes progress callbacks and remembers an abort.
struct Reporter {
    cb: Option<ProgressFn>,
    p: Mutex<Progress>,
    aborted: AtomicBool,
    /// Stop starting work (abort or a failure elsewhere).
    stop: AtomicBool,
}

impl Reporter {
    fn new(cb: Option<ProgressFn>) -> Self {
        Reporter { cb, p: Mutex::new(Progress::default()), aborted: AtomicBool::new(false), stop: AtomicBool::new(false) }
    }

    fn emit(&self, f: impl FnOnce(&mut Progress)) {
        let mut p = self.p.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut p);
        if let Some(cb) = &self.cb {
            if cb(&p) == Control::Abort {
                self.aborted.store(true, Ordering::SeqCst);
                self.stop.store(true, Ordering::SeqCst);
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<()> {
        if self.aborted.load(Ordering::SeqCst) {
            Err(Error::Aborted)
        } else {
            Ok(())
        }
    }
}

/// What a pull will do.
#[derive(Debug, Default)]
struct Plan {
    /// Indexes of files to stage.
    write: Vec<usize>,
    delete: Vec<String>,
    unchanged: u64,
    needed: u64,
    cached: u64,
    /// Chunk index -> (install path, offset) of a verified copy already on disk.
    local: HashMap<u32, (String, u64)>,
    found_in_stale: u64,
    /// Chunk indexes to download.
    download: Vec<u32>,
}

#[cfg(unix)]
fn exec_bit(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn exec_bit(_meta: &fs::Metadata) -> bool {
    false
}

fn plan(layout: &Layout, m: &Manifest, old: Option<&Manifest>, rep: &Reporter) -> Result<Plan> {
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

/// Reads ranges of install files, keeping the last file open.
struct RangeReader<'a> {
    root: &'a Path,
    open: Option<(String, File)>,
}

impl<'a> RangeReader<'a> {
    fn new(root: &'a Path) -> Self {
        RangeReader { root, open: None }
    }

    fn read(&mut self, path: &str, off: u64, len: u64) -> Result<Vec<u8>> {
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

async fn download<S: ChunkSource>(
    source: &S,
    layout: &Layout,
    m: &Manifest,
    todo: &[u32],
    opts: &PullOptions,
    rep: &Reporter,
    report: &mut PullReport,
) -> Result<()> {
    let total: u64 = todo.iter().map(|&ci| m.chunks[ci as usize].stored_size).sum();
    rep.emit(|p| {
        *p = Progress { phase: Phase::Downloading, bytes_total: total, chunks_total: todo.len() as u64, ..Progress::default() };
    });
    if todo.is_empty() {
        return Ok(());
    }
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let (downloaded, bytes, retries) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let fetch_one = |ci: u32| {
        let (failure, downloaded, bytes, retries) = (&failure, &downloaded, &bytes, &retries);
        async move {
            let info = &m.chunks[ci as usize];
            let mut attempt = 0u32;
            loop {
                if rep.stopped() {
                    return;
                }
                match fetch_into_cache(source, &layout.cache, info).await {
                    Ok(n) => {
                        downloaded.fetch_add(1, Ordering::Relaxed);
                        bytes.fetch_add(n, Ordering::Relaxed);
                        rep.emit(|p| {
                            p.chunks_done += 1;
                            p.bytes_done += info.stored_size;
                        });
                        return;
                    }
                    Err(e) if e.is_retryable() && attempt < opts.retries => {
                        retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(crate::http::backoff(opts.retry_base, attempt)).await;
                        attempt += 1;
                    }
                    Err(e) => {
                        failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                        rep.stop.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        }
    };
    futures::stream::iter(todo.iter().copied()).map(fetch_one).buffer_unordered(opts.concurrency.max(1)).collect::<()>().await;
    report.chunks_downloaded = downloaded.load(Ordering::Relaxed);
    report.bytes_downloaded = bytes.load(Ordering::Relaxed);
    report.retries = retries.load(Ordering::Relaxed);
    if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    rep.check()
}

/// Fetches one chunk, checks it and stores its plain bytes in the cache. Returns the
/// stored bytes fetched.
async fn fetch_into_cache<S: ChunkSource>(source: &S, cache: &ChunkStore, info: &ChunkInfo) -> Result<u64> {
    let fetched = source.chunk(info).await?;
    let n = fetched.bytes.len() as u64;
    let path = cache.path(&info.id)?;
    let info = info.clone();
    blocking(move || {
        let plain = decode_verified(&info, &fetched.bytes, fetched.encoding)?;
        write_atomic(&path, &plain, false)
    })
    .await?;
    Ok(n)
}

fn stage(layout: &Layout, m: &Manifest, plan: &Plan, rep: &Reporter) -> Result<()> {
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

fn stage_file(layout: &Layout, m: &Manifest, plan: &Plan, f: &FileEntry, staging: &Path, reader: &mut RangeReader<'_>) -> Result<()> {
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

/// Rolls a journal forward. `crash_after` stops after that many steps (tests simulate a
/// crash at every point of the switch-over with it).
fn apply_journal(layout: &Layout, j: &Journal, crash_after: Option<usize>) -> Result<()> {
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
fn make_parents(root: &Path, path: &str, deletes: &HashSet<&str>) -> Result<()> {
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
fn clear_folder_in_the_way(dst: &Path, path: &str, deletes: &HashSet<&str>) -> Result<()> {
    if folder_owned(dst, path, deletes)? {
        fs::remove_dir_all(dst).at(dst)?;
    }
    Ok(())
}

/// Whether `dst` is a folder (true) holding only files the release deletes; an error if
/// it holds anything else.
fn folder_owned(dst: &Path, path: &str, deletes: &HashSet<&str>) -> Result<bool> {
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
fn prune_empty_parents(root: &Path, path: &str, dirs: &mut BTreeSet<PathBuf>) {
    let mut p = root.join(path);
    while p.pop() && p != root && p.starts_with(root) {
        if fs::remove_dir(&p).is_err() {
            dirs.insert(p);
            return;
        }
    }
    dirs.insert(p);
}

#[cfg(test)]
mod tests;
