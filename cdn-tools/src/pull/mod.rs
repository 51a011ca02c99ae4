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

use self::download::download;
use self::journal::{apply_journal, folder_owned, Journal};
use self::plan::{plan, Plan};
use self::stage::{stage, RangeReader};
use self::trust::{trusted_keys, PinnedKey, TrustPin};

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

mod download;
mod journal;
mod plan;
mod stage;
mod trust;

#[cfg(test)]
mod tests;
