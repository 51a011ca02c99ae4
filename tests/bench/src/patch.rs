//! Part `patch`: the bytes a client downloads to update a build, with our chunking against fixed 1 MiB blocks and against casync.

use crate::prelude::*;

/// Bytes of `new`'s 1 MiB blocks (per file, blake3 ids) that `old` lacks, each distinct
/// block counted once at its stored size (zstd 3 if that is smaller, as ours): (bytes,
/// blocks, blocks in `new`).
pub(crate) fn fixed_block_download(old: &std::path::Path, new: &std::path::Path, level: i32) -> anyhow::Result<(u64, u64, u64)> {
    let mut have = std::collections::HashSet::new();
    for_each_block(old, &mut |id, _| {
        have.insert(id);
        Ok(())
    })?;
    let mut z = zstd::bulk::Compressor::new(level)?;
    let (mut bytes, mut blocks, mut all) = (0u64, 0u64, 0u64);
    let mut buf = Vec::new();
    for_each_block(new, &mut |id, b| {
        all += 1;
        if have.insert(id) {
            let c = aethex_cdn::store::encode_into(&mut z, b, &mut buf)?;
            bytes += if c == aethex_cdn::Compression::Zstd { buf.len() } else { b.len() } as u64;
            blocks += 1;
        }
        Ok(())
    })?;
    Ok((bytes, blocks, all))
}

pub(crate) type BlockFn<'a> = dyn FnMut([u8; 32], &[u8]) -> anyhow::Result<()> + 'a;

/// Calls `each(blake3 id, block)` for every 1 MiB block of every file under `dir` (the
/// last block of a file may be shorter).
pub(crate) fn for_each_block(dir: &std::path::Path, each: &mut BlockFn<'_>) -> anyhow::Result<()> {
    for f in aethex_cdn::tree::walk(dir)? {
        let data = std::fs::read(&f.abs)?;
        for b in data.chunks(1 << 20) {
            each(*blake3::hash(b).as_bytes(), b)?;
        }
    }
    Ok(())
}

/// casync's chunk files in a store: name -> size.
pub(crate) fn casync_chunks(store: &std::path::Path) -> anyhow::Result<std::collections::HashMap<String, u64>> {
    let mut out = std::collections::HashMap::new();
    if !store.exists() {
        return Ok(out);
    }
    for d in std::fs::read_dir(store)? {
        let d = d?;
        if !d.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(d.path())? {
            let f = f?;
            let name = f.file_name().to_string_lossy().to_string();
            if name.ends_with(".cacnk") {
                out.insert(name, f.metadata()?.len());
            }
        }
    }
    Ok(out)
}

/// `casync make --store=<store> <index> <dir>`; returns its wall time.
pub(crate) fn casync_make(casync: &std::path::Path, store: &std::path::Path, index: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<f64> {
    let t = Instant::now();
    let out = std::process::Command::new(casync).arg("make").arg(format!("--store={}", store.display())).arg(index).arg(dir).output()?;
    if !out.status.success() {
        anyhow::bail!(
            "`casync make --store={} {} {}` failed ({}): {}",
            store.display(),
            index.display(),
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(t.elapsed().as_secs_f64())
}

/// A .caidx header's feature flags and chunk size bounds, its chunk count and the archive
/// (catar) size it indexes.
pub(crate) struct CaIndex {
    pub(crate) feature_flags: u64,
    pub(crate) min: u64,
    pub(crate) avg: u64,
    pub(crate) max: u64,
    pub(crate) chunks: u64,
    pub(crate) archive_bytes: u64,
    pub(crate) file_bytes: u64,
}

pub(crate) fn read_caidx(p: &std::path::Path) -> anyhow::Result<CaIndex> {
    let b = std::fs::read(p)?;
    let le = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    anyhow::ensure!(b.len() >= 64 + 40 && le(8) == 0x9682_4d9c_7b12_9ff9, "{} is not a casync index", p.display());
    // Header (48 bytes), table header (16), items of 40 bytes (end offset + 32-byte id),
    // a 40-byte tail.
    let chunks = ((b.len() - 64 - 40) / 40) as u64;
    let archive_bytes = if chunks > 0 { le(64 + (chunks as usize - 1) * 40) } else { 0 };
    Ok(CaIndex { feature_flags: le(16), min: le(24), avg: le(32), max: le(40), chunks, archive_bytes, file_bytes: b.len() as u64 })
}

/// casync's version, the `--help` lines about chunk sizes, compression and digests, and the
/// compression its chunk files use (from their magic).
pub(crate) fn casync_defaults(casync: &std::path::Path, store: &std::path::Path) -> (String, Vec<String>, String) {
    let run = |arg: &str| {
        std::process::Command::new(casync)
            .arg(arg)
            .output()
            .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
            .unwrap_or_default()
    };
    let package = std::process::Command::new("dpkg-query").args(["-W", "-f", "${Version}", "casync"]).output().ok().filter(|o| o.status.success());
    let version = match package {
        Some(o) => format!("{} (Debian package {})", run("--version").trim(), String::from_utf8_lossy(&o.stdout).trim()),
        None => run("--version").trim().to_string(),
    };
    let help: Vec<String> = run("--help")
        .lines()
        .filter(|l| ["--chunk-size", "--compression", "--digest"].iter().any(|k| l.trim_start().starts_with(k)))
        .map(|l| l.trim().to_string())
        .collect();
    let magic = std::fs::read_dir(store)
        .ok()
        .and_then(|mut d| d.find_map(|e| e.ok().filter(|e| e.path().is_dir())))
        .and_then(|d| std::fs::read_dir(d.path()).ok()?.find_map(|f| f.ok()))
        .and_then(|f| std::fs::read(f.path()).ok())
        .map(|b| match b.get(..4) {
            Some([0x28, 0xb5, 0x2f, 0xfd]) => "zstd".to_string(),
            Some([0xfd, b'7', b'z', b'X']) => "xz".to_string(),
            Some([0x1f, 0x8b, ..]) => "gzip".to_string(),
            other => format!("unknown magic {other:02x?}"),
        })
        .unwrap_or_else(|| "?".into());
    (version, help, magic)
}

/// Part `patch`: a ~`mib` MiB build and the same build after scattered edits (~1 % of its
/// bytes, insertions and deletions included); what a client downloads to update with our
/// chunking, with fixed 1 MiB blocks, and with casync (same chunk store for both builds).
pub(crate) fn bench_patch(mib: u64) -> anyhow::Result<Value> {
    let tmp = tempfile::tempdir()?;
    let need = mib * (1 << 20) * 4;
    if let Some(free) = free_bytes(tmp.path()) {
        anyhow::ensure!(free > need, "patch: needs ~{} MiB free under {}, has {} MiB", need >> 20, tmp.path().display(), free >> 20);
    }
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    let files = plan_build(mib << 20, 42);
    let edits = plan_edits(&files, 0.01, 43);
    let t = Instant::now();
    let e = write_builds(&files, &old, Some((&new, &edits)))?;
    let old_bytes: u64 = files.iter().map(|f| f.size as u64).sum();
    println!(
        "\npatch: {} files, {:.1} MiB ({:.1} s to generate both builds); edits: {} ({} overwrites, {} insertions, {} deletions) in {} files, {:.2} MiB = {:.2}% of the bytes",
        files.len(),
        old_bytes as f64 / MIB,
        t.elapsed().as_secs_f64(),
        e.count(),
        e.overwrites,
        e.inserts,
        e.deletes,
        e.files,
        e.bytes() as f64 / MIB,
        e.bytes() as f64 / old_bytes as f64 * 100.0
    );

    // (a) Ours: the manifests' chunk tables (the builds are not written).
    let opts = aethex_cdn::BuildOptions { write: false, ..Default::default() };
    let t = Instant::now();
    let b_old = aethex_cdn::build(&old, &tmp.path().join("out"), "bench-patch", "1.0.0", "stable", &opts)?;
    let b_new = aethex_cdn::build(&new, &tmp.path().join("out"), "bench-patch", "1.0.1", "stable", &opts)?;
    let ours_s = t.elapsed().as_secs_f64() / 2.0;
    let d = aethex_cdn::diff(&b_old.manifest, &b_new.manifest);
    let p = aethex_cdn::ChunkParams::DEFAULT;
    let new_stored = b_new.manifest.totals.stored_bytes;
    println!(
        "  ours (FastCDC {}/{}/{} KiB, zstd {}): {:>8.2} MiB in {} of {} chunks ({:.2}% of the new build's {:.1} MiB stored); manifest {:.2} MiB; build {:.2} s",
        p.min >> 10,
        p.avg >> 10,
        p.max >> 10,
        opts.zstd_level,
        d.download_bytes as f64 / MIB,
        d.download_chunks,
        b_new.manifest.chunks.len(),
        d.download_bytes as f64 / new_stored as f64 * 100.0,
        new_stored as f64 / MIB,
        b_new.text.len() as f64 / MIB,
        ours_s
    );

    // (b) Fixed 1 MiB blocks, the same compression rule.
    let t = Instant::now();
    let (fixed_bytes, fixed_blocks, fixed_all) = fixed_block_download(&old, &new, opts.zstd_level)?;
    let ratio_fixed = d.download_bytes as f64 / fixed_bytes as f64;
    println!(
        "  fixed 1 MiB blocks (zstd {}): {:>8.2} MiB in {} of {} blocks ({:.1} s)  -> ours = {:.1}% of fixed (goal <= 20%)",
        opts.zstd_level,
        fixed_bytes as f64 / MIB,
        fixed_blocks,
        fixed_all,
        t.elapsed().as_secs_f64(),
        ratio_fixed * 100.0
    );
    let mut report = json!({
        "files": files.len(), "build_bytes": old_bytes, "new_build_bytes": b_new.manifest.totals.bytes,
        "edits": {"count": e.count(), "overwrites": e.overwrites, "insertions": e.inserts, "deletions": e.deletes,
                  "overwritten_bytes": e.overwritten, "inserted_bytes": e.inserted, "deleted_bytes": e.deleted, "files": e.files,
                  "fraction": e.bytes() as f64 / old_bytes as f64},
        "ours": {"chunk_sizes": [p.min, p.avg, p.max], "zstd_level": opts.zstd_level, "download_bytes": d.download_bytes,
                 "download_chunks": d.download_chunks, "chunks": b_new.manifest.chunks.len(), "new_build_stored_bytes": new_stored,
                 "manifest_bytes": b_new.text.len(), "build_s": ours_s},
        "fixed_1mib": {"download_bytes": fixed_bytes, "download_blocks": fixed_blocks, "blocks": fixed_all},
        "ours_vs_fixed": ratio_fixed, "ours_vs_fixed_goal": 0.2,
    });

    // (c) casync: both builds into one store; the chunk files the second adds.
    let casync = match ensure_tool("casync", "casync") {
        Ok(p) => p,
        Err(err) => {
            println!("  casync: not available: {err:#}");
            report["casync"] = json!({"error": format!("{err:#}")});
            return Ok(report);
        }
    };
    let store = tmp.path().join("castore");
    let (idx_old, idx_new) = (tmp.path().join("old.caidx"), tmp.path().join("new.caidx"));
    let run = || -> anyhow::Result<Value> {
        let old_s = casync_make(&casync, &store, &idx_old, &old)?;
        let before = casync_chunks(&store)?;
        let new_s = casync_make(&casync, &store, &idx_new, &new)?;
        let after = casync_chunks(&store)?;
        let added: Vec<u64> = after.iter().filter(|(k, _)| !before.contains_key(*k)).map(|(_, v)| *v).collect();
        let added_bytes: u64 = added.iter().sum();
        let store_old: u64 = before.values().sum();
        let (io, inew) = (read_caidx(&idx_old)?, read_caidx(&idx_new)?);
        let (version, help, compression) = casync_defaults(&casync, &store);
        let ratio = d.download_bytes as f64 / added_bytes as f64;
        println!(
            "  {version} ({}/{}/{} KiB, {compression}, features {:#x}): {:>8.2} MiB in {} new chunk files (store after the old build: {:.1} MiB in {} chunks; {} chunks index the new one); index {:.2} MiB; make {:.1} s + {:.1} s  -> ours = {:.1}% of casync (goal <= 100%)",
            io.min >> 10,
            io.avg >> 10,
            io.max >> 10,
            io.feature_flags,
            added_bytes as f64 / MIB,
            added.len(),
            store_old as f64 / MIB,
            before.len(),
            inew.chunks,
            inew.file_bytes as f64 / MIB,
            old_s,
            new_s,
            ratio * 100.0
        );
        for l in &help {
            println!("    casync --help: {l}");
        }
        let with_index = (d.download_bytes + b_new.text.len() as u64) as f64 / (added_bytes + inew.file_bytes) as f64;
        println!("  with the index each client also fetches (our manifest, casync's .caidx): ours = {:.1}% of casync", with_index * 100.0);
        Ok(json!({"version": version, "chunk_sizes": [io.min, io.avg, io.max], "compression": compression, "feature_flags": io.feature_flags,
                  "help": help, "download_bytes": added_bytes, "download_chunks": added.len(), "store_bytes_old": store_old,
                  "chunks_old": io.chunks, "chunks_new": inew.chunks, "archive_bytes_new": inew.archive_bytes, "index_bytes": inew.file_bytes,
                  "make_old_s": old_s, "make_new_s": new_s, "ours_vs_casync": ratio, "ours_vs_casync_goal": 1.0,
                  "ours_vs_casync_with_index": with_index}))
    };
    report["casync"] = match run() {
        Ok(v) => v,
        Err(err) => {
            println!("  casync: {err:#}");
            json!({"error": format!("{err:#}")})
        }
    };
    Ok(report)
}
