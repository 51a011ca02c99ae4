//! Measures the build pipeline against its steps run alone, one core each: read, chunk
//! (FastCDC cut), hash (chunk ids and whole-file blake3) and compress (zstd, distinct
//! chunks only, as the pipeline does). With `c` cores, a perfect pipeline takes
//! `sum of steps / c`; `efficiency` is that over the measured pipeline time.
//! `aethex-cdn bench <dir>` prints it; the README records the numbers.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::build::{run_pipeline, BuildOptions};
use crate::chunker::Chunker;
use crate::error::{IoContext, Result};
use crate::store::ChunkStore;
use crate::tree;

#[derive(Debug, Clone, Serialize)]
pub struct PipelineBench {
    pub files: u64,
    pub bytes: u64,
    pub chunks: u64,
    pub cores: usize,
    pub zstd_level: i32,
    pub read_s: f64,
    pub chunk_s: f64,
    pub hash_s: f64,
    pub compress_s: f64,
    /// read + chunk + hash + compress, each alone on one core.
    pub steps_sum_s: f64,
    /// The pipeline (no chunk writes).
    pub pipeline_s: f64,
    /// (steps_sum_s / cores) / pipeline_s.
    pub efficiency: f64,
    /// CPU time (user + system, all threads) the fastest pipeline run used (Linux only).
    /// Compared with `steps_sum_s` it separates pipeline overhead from CPU the machine
    /// did not give (other processes): `cpu / pipeline_s` is the cores actually used.
    pub pipeline_cpu_s: Option<f64>,
    pub pipeline_mib_s: f64,
    pub serial_mib_s: f64,
}

/// Runs the steps alone, then the pipeline, over the files of `dir` (best of `runs`).
pub fn pipeline(dir: &Path, opts: &BuildOptions, runs: usize) -> Result<PipelineBench> {
    let files = tree::walk(dir)?;
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    let chunker = Chunker::new(opts.chunking);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let (mut read_s, mut chunk_s, mut hash_s, mut compress_s, mut pipeline_s) = (f64::MAX, f64::MAX, f64::MAX, f64::MAX, f64::MAX);
    let mut chunks = 0u64;
    let mut pipeline_cpu_s = None;
    let mut z = zstd::bulk::Compressor::new(opts.zstd_level).map_err(|e| crate::Error::Invalid(format!("zstd: {e}")))?;
    for _ in 0..runs.max(1) {
        // Read alone, as the pipeline reads (4 MiB at a time); also warms the page cache.
        let t = Instant::now();
        let mut buf = vec![0u8; chunker.buffer_size()];
        for f in &files {
            let mut file = std::fs::File::open(&f.abs).at(&f.abs)?;
            while file.read(&mut buf).at(&f.abs)? > 0 {}
        }
        read_s = read_s.min(t.elapsed().as_secs_f64());

        let (mut c_s, mut h_s, mut z_s) = (0.0, 0.0, 0.0);
        let mut seen = HashSet::new();
        let mut zbuf = Vec::new();
        chunks = 0;
        for f in &files {
            let data = std::fs::read(&f.abs).at(&f.abs)?;
            let t = Instant::now();
            let cuts = chunker.chunks_of(&data);
            c_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let ids: Vec<[u8; 32]> = cuts.iter().map(|&(o, n)| *blake3::hash(&data[o..o + n]).as_bytes()).collect();
            std::hint::black_box(blake3::hash(&data));
            h_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            for (&(o, n), id) in cuts.iter().zip(&ids) {
                if seen.insert(*id) {
                    std::hint::black_box(crate::store::encode_into(&mut z, &data[o..o + n], &mut zbuf)?);
                }
            }
            z_s += t.elapsed().as_secs_f64();
            chunks += cuts.len() as u64;
        }
        chunk_s = chunk_s.min(c_s);
        hash_s = hash_s.min(h_s);
        compress_s = compress_s.min(z_s);

        let o = BuildOptions { write: false, progress: None, ..opts.clone() };
        let (t, cpu) = (Instant::now(), process_cpu_s());
        run_pipeline(&files, &ChunkStore::at(std::env::temp_dir()), &o)?;
        let wall = t.elapsed().as_secs_f64();
        if wall < pipeline_s {
            pipeline_s = wall;
            pipeline_cpu_s = cpu.zip(process_cpu_s()).map(|(a, b)| b - a);
        }
    }
    let sum = read_s + chunk_s + hash_s + compress_s;
    let mib = bytes as f64 / (1024.0 * 1024.0);
    Ok(PipelineBench {
        files: files.len() as u64,
        bytes,
        chunks,
        cores,
        zstd_level: opts.zstd_level,
        read_s,
        chunk_s,
        hash_s,
        compress_s,
        steps_sum_s: sum,
        pipeline_s,
        efficiency: (sum / cores as f64) / pipeline_s,
        pipeline_cpu_s,
        pipeline_mib_s: mib / pipeline_s,
        serial_mib_s: mib / sum,
    })
}

/// This process's user + system CPU seconds, from /proc/self/stat (clock ticks, 100 Hz).
fn process_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    Some((utime + stime) / 100.0)
}
