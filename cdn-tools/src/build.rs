//! `build`: a folder to a manifest and a chunk store.
//!
//! The pipeline keeps both cores busy with four kinds of thread joined by bounded queues:
//!
//! ```text
//! reader (1): read files in path order, cut chunks ──chunk──▶ workers (N = cores):
//!      │                                                        blake3 id, claim id, zstd,
//!      └──chunk (same Arc)──▶ file hasher (1): whole-file blake3   write chunks/<id>
//!                                        │                          │
//!                                        └───────▶ collector (caller's thread) ◀┘
//! ```
//!
//! The reader and the file hasher are the only sequential stages (a file's boundaries and
//! its whole-file hash depend on every earlier byte); splitting them keeps either from
//! becoming the bottleneck, and the expensive per-chunk work (hash + compress) runs on all
//! cores. Nothing is allocated per chunk: the reader fills 4 MiB blocks taken from a small
//! pool, chunks are ranges of a shared block, a block goes back to the pool when its last
//! chunk is done, and each worker compresses into its own reused buffer. (A first version
//! copied every chunk into its own allocation: page faults and allocator work cost more
//! than the second core gained.) A chunk seen twice (within a build) is compressed and written once: the first
//! worker to claim its id does it. The chunk table is ordered by first appearance (file
//! order, then offset), so the manifest does not depend on thread timing: the same tree
//! gives the same manifest, `created_at` aside.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use aethex_protocol::dlc::{self, ChunkInfo, Compression, FileEntry, Manifest, Totals, MANIFEST_FORMAT, MAX_MANIFEST_BYTES};
use aethex_protocol::validate::GameSlug;

use crate::chunker::{ChunkParams, Chunker};
use crate::error::{Error, IoContext, Result};
use crate::store::{self, ChunkStore};
use crate::tree::{self, SourceFile};
use crate::{fsutil, manifest_text};

/// The manifest's file name in a build output folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Called with (bytes done, bytes total) as the build goes.
pub type BuildProgress = Arc<dyn Fn(u64, u64) + Send + Sync>;

#[derive(Clone)]
pub struct BuildOptions {
    pub chunking: ChunkParams,
    pub zstd_level: i32,
    /// Hash + compress workers; 0: one per core.
    pub workers: usize,
    /// `created_at` to record (RFC 3339); `None`: now. Tests pin it to compare outputs.
    pub created_at: Option<String>,
    /// Write chunks and the manifest; `false` measures the pipeline alone.
    pub write: bool,
    pub progress: Option<BuildProgress>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            chunking: ChunkParams::DEFAULT,
            zstd_level: store::DEFAULT_ZSTD_LEVEL,
            workers: 0,
            created_at: None,
            write: true,
            progress: None,
        }
    }
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("chunking", &self.chunking)
            .field("zstd_level", &self.zstd_level)
            .field("workers", &self.workers)
            .field("created_at", &self.created_at)
            .field("write", &self.write)
            .finish()
    }
}

/// The result of a build.
#[derive(Debug, Clone)]
pub struct Build {
    pub manifest: Manifest,
    /// The manifest's exact JSON text (what gets signed), as written to `manifest.json`.
    pub text: String,
    pub store: ChunkStore,
    pub out: PathBuf,
    /// Chunks written by this build (the rest were already in the output folder).
    pub chunks_written: u64,
}

/// Builds `dir` into `out`: chunks under `out/chunks/`, the manifest in
/// `out/manifest.json`. `out` may hold earlier builds: their chunks are reused (only new
/// ones are written), so one output folder can serve as a local mirror of many versions.
/// `out` must not be inside `dir`.
pub fn build(dir: &Path, out: &Path, game: &str, version: &str, channel: &str, opts: &BuildOptions) -> Result<Build> {
    let game = GameSlug::parse(game).map_err(|e| Error::Invalid(e.to_string()))?;
    let version = dlc::parse_version(version).map_err(|e| Error::Invalid(e.to_string()))?;
    let channel = dlc::parse_channel(channel).map_err(|e| Error::Invalid(e.to_string()))?;
    if opts.write {
        // Checked before creating anything: chunks written inside the tree would end up in
        // the next build of it.
        let (d, o) = (std::fs::canonicalize(dir).at(dir)?, resolve(out)?);
        if o.starts_with(&d) {
            return Err(Error::Invalid(format!("the output folder {} is inside the build folder {}", out.display(), dir.display())));
        }
        std::fs::create_dir_all(out).at(out)?;
    }
    let files = tree::walk(dir)?;
    let store = ChunkStore::in_output(out);
    let run = run_pipeline(&files, &store, opts)?;

    // Chunk table by first appearance; files point into it.
    let mut index: HashMap<[u8; 32], u32> = HashMap::new();
    let mut chunks: Vec<ChunkInfo> = Vec::new();
    let mut entries = Vec::with_capacity(files.len());
    for (f, done) in files.iter().zip(run.files) {
        let mut idx = Vec::with_capacity(done.chunks.len());
        for id in &done.chunks {
            let i = *index.entry(*id).or_insert_with(|| {
                let (size, stored_size, compression) = run.infos[id];
                chunks.push(ChunkInfo { id: hex(id), size, stored_size, compression });
                (chunks.len() - 1) as u32
            });
            idx.push(i);
        }
        entries.push(FileEntry { path: f.path.clone(), size: done.size, mode: f.mode, blake3: hex(&done.hash), chunks: idx });
    }
    let totals = Totals {
        files: entries.len() as u64,
        bytes: entries.iter().map(|f| f.size).sum(),
        chunks: chunks.len() as u64,
        chunk_bytes: chunks.iter().map(|c| c.size).sum(),
        stored_bytes: chunks.iter().map(|c| c.stored_size).sum(),
    };
    let created_at = opts.created_at.clone().unwrap_or_else(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        game_id: game.into_inner(),
        version,
        channel,
        created_at,
        chunking: opts.chunking.chunking(),
        files: entries,
        chunks,
        totals,
    };
    manifest.validate()?;
    let text = manifest_text(&manifest);
    if text.len() > MAX_MANIFEST_BYTES {
        // Clients refuse larger manifests; bigger chunks make fewer table entries (~140 bytes each).
        return Err(Error::Invalid(format!(
            "the manifest would be {} MiB, more than clients accept ({} MiB): {} chunks; build with larger chunks, e.g. --chunk-sizes 65536/262144/1048576",
            text.len() >> 20,
            MAX_MANIFEST_BYTES >> 20,
            manifest.chunks.len()
        )));
    }
    if opts.write {
        fsutil::write_atomic(&out.join(MANIFEST_FILE), text.as_bytes(), true)?;
    }
    Ok(Build { manifest, text, store, out: out.to_path_buf(), chunks_written: run.written })
}

/// `p` made absolute with symlinks resolved, for a path that may not exist yet: its
/// deepest existing ancestor resolved, the rest appended.
fn resolve(p: &Path) -> Result<PathBuf> {
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().at(p)?.join(p) };
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = std::fs::canonicalize(existing) {
            return Ok(rest.iter().rev().fold(c, |acc: PathBuf, part| acc.join(part)));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return Ok(abs),
        }
    }
}

pub(crate) fn hex(id: &[u8; 32]) -> String {
    blake3::Hash::from(*id).to_hex().to_string()
}

struct FileDone {
    size: u64,
    hash: [u8; 32],
    chunks: Vec<[u8; 32]>,
}

pub(crate) struct PipelineRun {
    files: Vec<FileDone>,
    infos: HashMap<[u8; 32], (u64, u64, Compression)>,
    written: u64,
}

/// A block of file bytes, shared by the chunks cut from it; goes back to the pool when
/// the last of them is done.
struct Block {
    data: Vec<u8>,
    pool: SyncSender<Vec<u8>>,
}

impl Drop for Block {
    fn drop(&mut self) {
        // The pool has room for every block there is; a closed pool (pipeline over) just
        // frees the memory.
        let _ = self.pool.try_send(std::mem::take(&mut self.data));
    }
}

/// Consecutive chunks of one file on their way to a worker: ranges of a block. Batches
/// (rather than one chunk per message) keep thread wake-ups well below one per chunk.
struct Job {
    file: usize,
    /// Sequence number of the first chunk in the file.
    seq: usize,
    block: Arc<Block>,
    ranges: Vec<(usize, usize)>,
}

/// Chunks per job: a 4 MiB block of 64 KiB chunks makes 4 jobs, enough to share among
/// workers.
const BATCH: usize = 16;

/// One chunk's result: id, (size, stored size, compression) if this worker compressed it
/// first, whether it was written.
type ChunkDone = ([u8; 32], Option<(u64, u64, Compression)>, bool);

enum Hashed {
    /// The next bytes of the current file.
    Bytes(Arc<Block>, usize, usize),
    /// End of file `usize` (it had this many chunks and bytes).
    End(usize, usize, u64),
}

enum Msg {
    Chunks { file: usize, seq: usize, done: Vec<ChunkDone> },
    File { file: usize, chunks: usize, size: u64, hash: [u8; 32] },
    Failed(Error),
}

/// Chunks queued between the reader and the workers: enough to ride out a slow write.
const QUEUE: usize = 32;
/// Blocks in the pool: memory is bounded by this many read buffers (4 MiB each by
/// default), whatever the queue lengths.
const BLOCKS: usize = 8;

pub(crate) fn run_pipeline(files: &[SourceFile], store: &ChunkStore, opts: &BuildOptions) -> Result<PipelineRun> {
    let workers = if opts.workers == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) } else { opts.workers };
    let chunker = Chunker::new(opts.chunking);
    let total: u64 = files.iter().map(|f| f.size).sum();
    let abort = AtomicBool::new(false);
    let claimed: Mutex<HashSet<[u8; 32]>> = Mutex::new(HashSet::new());
    let done_bytes = AtomicU64::new(0);
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(QUEUE);
    let job_rx = Mutex::new(job_rx);
    let (hash_tx, hash_rx) = mpsc::sync_channel::<Hashed>(QUEUE);
    let (msg_tx, msg_rx) = mpsc::channel::<Msg>();
    let (pool_tx, pool_rx) = mpsc::sync_channel::<Vec<u8>>(BLOCKS);
    for _ in 0..BLOCKS {
        let _ = pool_tx.try_send(Vec::new());
    }

    std::thread::scope(|s| {
        {
            let msg_tx = msg_tx.clone();
            let (abort, chunker) = (&abort, &chunker);
            s.spawn(move || read_files(files, chunker, (pool_tx, pool_rx), job_tx, hash_tx, msg_tx, abort));
        }
        {
            let msg_tx = msg_tx.clone();
            s.spawn(move || hash_files(hash_rx, msg_tx));
        }
        for _ in 0..workers {
            let msg_tx = msg_tx.clone();
            let (job_rx, claimed, abort) = (&job_rx, &claimed, &abort);
            let (done_bytes, progress) = (&done_bytes, opts.progress.clone());
            s.spawn(move || {
                let mut z = match zstd::bulk::Compressor::new(opts.zstd_level) {
                    Ok(z) => z,
                    Err(e) => {
                        abort.store(true, Ordering::Relaxed);
                        let _ = msg_tx.send(Msg::Failed(Error::Invalid(format!("zstd level {}: {e}", opts.zstd_level))));
                        drain(job_rx);
                        return;
                    }
                };
                let mut buf = Vec::new();
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    if abort.load(Ordering::Relaxed) {
                        continue;
                    }
                    let n: u64 = job.ranges.iter().map(|(a, b)| (b - a) as u64).sum();
                    match work(&job, &mut z, &mut buf, claimed, store, opts.write) {
                        Ok(msg) => {
                            drop(job);
                            let _ = msg_tx.send(msg);
                            let d = done_bytes.fetch_add(n, Ordering::Relaxed) + n;
                            if let Some(p) = &progress {
                                p(d, total);
                            }
                        }
                        Err(e) => {
                            abort.store(true, Ordering::Relaxed);
                            let _ = msg_tx.send(Msg::Failed(e));
                        }
                    }
                }
            });
        }
        drop(msg_tx);
        collect(files.len(), msg_rx, &abort)
    })
}

fn drain(job_rx: &Mutex<Receiver<Job>>) {
    while let Ok(rx) = job_rx.lock() {
        if rx.recv().is_err() {
            return;
        }
    }
}

/// Per chunk: id, claim, compress and store if first.
fn work(
    job: &Job,
    z: &mut zstd::bulk::Compressor<'_>,
    buf: &mut Vec<u8>,
    claimed: &Mutex<HashSet<[u8; 32]>>,
    store: &ChunkStore,
    write: bool,
) -> Result<Msg> {
    let mut done = Vec::with_capacity(job.ranges.len());
    for &(start, end) in &job.ranges {
        let data = &job.block.data[start..end];
        let id: [u8; 32] = *blake3::hash(data).as_bytes();
        let first = claimed.lock().map(|mut c| c.insert(id)).unwrap_or(false);
        let (mut info, mut written) = (None, false);
        if first {
            let compression = store::encode_into(z, data, buf)?;
            let stored: &[u8] = if compression == Compression::Zstd { buf } else { data };
            if write {
                written = store.put(&hex(&id), stored)?;
            }
            info = Some((data.len() as u64, stored.len() as u64, compression));
        }
        done.push((id, info, written));
    }
    Ok(Msg::Chunks { file: job.file, seq: job.seq, done })
}

/// Reads files in order into pooled blocks and cuts them into chunks. A cut is searched
/// only with `max` bytes ahead (or at the end of the file), so boundaries are the ones
/// chunking the whole file at once would give; the bytes after the last cut of a block are
/// carried to the front of the next one.
#[allow(clippy::type_complexity)]
fn read_files(
    files: &[SourceFile],
    chunker: &Chunker,
    (pool_tx, pool_rx): (SyncSender<Vec<u8>>, Receiver<Vec<u8>>),
    jobs: SyncSender<Job>,
    hashes: SyncSender<Hashed>,
    msgs: mpsc::Sender<Msg>,
    abort: &AtomicBool,
) {
    let cap = chunker.buffer_size();
    let max = chunker.params().max as usize;
    let take = || -> Result<Vec<u8>> {
        let mut v = pool_rx.recv().map_err(|_| Error::Aborted)?;
        v.resize(cap, 0);
        Ok(v)
    };
    for (i, f) in files.iter().enumerate() {
        let result = (|| -> Result<(usize, u64)> {
            let mut file = File::open(&f.abs).at(&f.abs)?;
            let (mut seq, mut total) = (0usize, 0u64);
            let mut data = take()?;
            let mut len = 0usize;
            loop {
                let mut eof = false;
                while len < cap {
                    match file.read(&mut data[len..]) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) => {
                            len += n;
                            total += n as u64;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(Error::io(&f.abs, e)),
                    }
                }
                let mut cuts = Vec::new();
                let mut at = 0;
                while at < len && (eof || len - at >= max) {
                    let n = chunker.cut(&data[at..len]);
                    cuts.push((at, at + n));
                    at += n;
                }
                let block = Arc::new(Block { data, pool: pool_tx.clone() });
                if abort.load(Ordering::Relaxed) || (at > 0 && hashes.send(Hashed::Bytes(block.clone(), 0, at)).is_err()) {
                    return Err(Error::Aborted);
                }
                for batch in cuts.chunks(BATCH) {
                    // A closed queue means a worker failed; its error is reported.
                    jobs.send(Job { file: i, seq, block: block.clone(), ranges: batch.to_vec() }).map_err(|_| Error::Aborted)?;
                    seq += batch.len();
                }
                if eof {
                    return Ok((seq, total));
                }
                data = take()?;
                data[..len - at].copy_from_slice(&block.data[at..len]);
                len -= at;
            }
        })();
        match result {
            Ok((chunks, size)) => {
                if hashes.send(Hashed::End(i, chunks, size)).is_err() {
                    return;
                }
            }
            Err(Error::Aborted) => return,
            Err(e) => {
                abort.store(true, Ordering::Relaxed);
                let _ = msgs.send(Msg::Failed(e));
                return;
            }
        }
    }
}

fn hash_files(rx: Receiver<Hashed>, msgs: mpsc::Sender<Msg>) {
    let mut hasher = blake3::Hasher::new();
    for h in rx {
        match h {
            Hashed::Bytes(block, start, end) => {
                hasher.update(&block.data[start..end]);
            }
            Hashed::End(file, chunks, size) => {
                let hash = *hasher.finalize().as_bytes();
                hasher.reset();
                let _ = msgs.send(Msg::File { file, chunks, size, hash });
            }
        }
    }
}

fn collect(n: usize, rx: Receiver<Msg>, abort: &AtomicBool) -> Result<PipelineRun> {
    let mut ids: Vec<Vec<Option<[u8; 32]>>> = (0..n).map(|_| Vec::new()).collect();
    let mut ends: Vec<Option<(usize, u64, [u8; 32])>> = vec![None; n];
    let mut infos = HashMap::new();
    let (mut written, mut failed) = (0u64, None);
    for msg in rx {
        match msg {
            Msg::Chunks { file, seq, done } => {
                let v = &mut ids[file];
                if v.len() < seq + done.len() {
                    v.resize(seq + done.len(), None);
                }
                for (k, (id, info, w)) in done.into_iter().enumerate() {
                    v[seq + k] = Some(id);
                    if let Some(i) = info {
                        infos.insert(id, i);
                    }
                    written += u64::from(w);
                }
            }
            Msg::File { file, chunks, size, hash } => ends[file] = Some((chunks, size, hash)),
            Msg::Failed(e) => {
                abort.store(true, Ordering::Relaxed);
                failed.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let mut files = Vec::with_capacity(n);
    for (i, (chunk_ids, end)) in ids.into_iter().zip(ends).enumerate() {
        let (count, size, hash) = end.ok_or_else(|| Error::Invalid(format!("file #{i} was not read to its end")))?;
        let chunks: Option<Vec<[u8; 32]>> = chunk_ids.into_iter().collect();
        match chunks {
            Some(chunks) if chunks.len() == count => files.push(FileDone { size, hash, chunks }),
            _ => return Err(Error::Invalid(format!("file #{i}: chunks went missing in the pipeline"))),
        }
    }
    Ok(PipelineRun { files, infos, written })
}
