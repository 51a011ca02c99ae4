//! The measurements behind the default chunk sizes and zstd level (README, "Chunk sizes").
//!
//! ```sh
//! cargo run --release -p aethex-cdn --example chunk_sizes                # synthetic game, 3 kinds of patch
//! cargo run --release -p aethex-cdn --example chunk_sizes -- OLD NEW     # two real builds
//! ```
//!
//! For each candidate min/avg/max it builds both versions (no chunk writes) and prints the
//! chunk count, manifest size, and what an update downloads; then zstd levels at the
//! default sizes: stored size and build throughput.

#[path = "../src/testkit.rs"]
mod testkit;

use std::path::Path;
use std::time::Instant;

use aethex_cdn::{build, diff, BuildOptions, ChunkParams};

fn opts(p: ChunkParams, level: i32) -> BuildOptions {
    BuildOptions { chunking: p, zstd_level: level, write: false, created_at: Some("t".into()), ..BuildOptions::default() }
}

fn table(name: &str, old: &Path, new: &Path) {
    println!("\n## {name}");
    println!("| min/avg/max KiB | chunks | manifest KiB | update: chunks | update: MiB stored | % of full | + 1 KiB/request | full MiB stored |");
    println!("|---|---|---|---|---|---|---|---|");
    let sizes = [(4, 16, 64), (8, 32, 128), (16, 64, 256), (32, 128, 512), (64, 256, 1024), (256, 1024, 4096)];
    for (a, b, c) in sizes {
        let p = ChunkParams::new(a * 1024, b * 1024, c * 1024).unwrap();
        let o = build(old, Path::new("/nonexistent"), "bench-game", "1", "stable", &opts(p, 3)).unwrap();
        let n = build(new, Path::new("/nonexistent"), "bench-game", "2", "stable", &opts(p, 3)).unwrap();
        let d = diff(&o.manifest, &n.manifest);
        let mib = |x: u64| x as f64 / 1048576.0;
        println!(
            "| {a}/{b}/{c} | {} | {:.0} | {} | {:.2} | {:.2}% | {:.2} | {:.1} |",
            n.manifest.totals.chunks,
            n.text.len() as f64 / 1024.0,
            d.download_chunks,
            mib(d.download_bytes),
            100.0 * d.download_fraction(),
            mib(d.download_bytes + d.download_chunks * 1024 + n.text.len() as u64),
            mib(d.full_bytes),
        );
    }
}

fn levels(dir: &Path) {
    println!("\n## zstd level at 16/64/256 KiB ({})", dir.display());
    println!("| level | stored MiB | ratio | build s (2 cores) | MiB/s |");
    println!("|---|---|---|---|---|");
    for level in [1, 3, 6, 9, 12, 19] {
        let t = Instant::now();
        let b = build(dir, Path::new("/nonexistent"), "bench-game", "1", "stable", &opts(ChunkParams::DEFAULT, level)).unwrap();
        let s = t.elapsed().as_secs_f64();
        let tot = b.manifest.totals;
        println!(
            "| {level} | {:.1} | {:.3} | {s:.2} | {:.0} |",
            tot.stored_bytes as f64 / 1048576.0,
            tot.stored_bytes as f64 / tot.chunk_bytes as f64,
            tot.bytes as f64 / 1048576.0 / s
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [old, new] = &args[..] {
        table("given builds", Path::new(old), Path::new(new));
        levels(Path::new(new));
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let v1 = t.path().join("v1");
    testkit::write_tree(&v1, 42, 256);
    let patch = |name: &str, f: &dyn Fn(&Path, &mut rand::rngs::StdRng)| {
        let v2 = t.path().join(name);
        testkit::copy_dir(&v1, &v2);
        f(&v2, &mut testkit::rng(43));
        v2
    };
    let a = patch("edits", &|d, r| {
        for f in ["data/level1.pak", "data/level2.pak", "bin/game"] {
            testkit::edit_scattered(&d.join(f), r, 30);
        }
    });
    let b = patch("inserts", &|d, r| {
        testkit::insert_scattered(&d.join("data/level1.pak"), r, 20, 4096);
        testkit::insert_scattered(&d.join("data/level2.pak"), r, 20, 4096);
    });
    let c = patch("assets", &|d, r| {
        // Five 200 KiB assets replaced inside a pak, one new 2 MiB file, a script edited.
        let p = d.join("data/level2.pak");
        let mut bytes = std::fs::read(&p).unwrap();
        for i in 0..5 {
            let at = bytes.len() / 6 * (i + 1);
            let new = testkit::mixed_bytes(r, 200 * 1024);
            bytes.splice(at..at + 150 * 1024, new);
        }
        std::fs::write(&p, bytes).unwrap();
        testkit::write(d, "data/dlc/new.pak", &testkit::random_bytes(r, 2 << 20));
        testkit::edit_scattered(&d.join("data/sub/deep/config.json"), r, 10);
    });
    table("90 scattered 1-64 byte edits in 3 files (256 MiB game)", &v1, &a);
    table("40 insertions of 4 KiB in 2 paks", &v1, &b);
    table("5 assets replaced in a pak (+50 KiB each), a new 2 MiB file, 10 script edits", &v1, &c);
    levels(&v1);
}
