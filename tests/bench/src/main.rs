//! `aethex-bench`: measures the origin against baselines taken in the same run, and
//! prints ratios (performance is never asserted in tests; it is measured here).
//!
//! ```sh
//! cargo build --release --bin aethex --bin aethex-edge --bin aethex-bench
//! ~/.cache/aethex-target/release/aethex-bench            # all benchmarks, ~3 minutes
//! ~/.cache/aethex-target/release/aethex-bench --secs 10  # longer runs
//! ~/.cache/aethex-target/release/aethex-bench --only patch,serve,pipeline   # DLC only
//! ```
//!
//! 1. device login vs a bare axum hello-world route (another process, same load generator);
//! 2. email login vs the argon2id bound (cores / time of one hash with the server's parameters);
//! 3. 100 KB JSON saves (throughput, p50/p99) vs raw libSQL inserts of the same bytes into
//!    a file with the server's pragmas;
//! 4. zstd ratio of the seed's save example scaled up;
//! 5. the server's resident memory when idle;
//! 6. the native edge: token check + save list from the replica vs hello world, and p99 at
//!    half of its top rate;
//! 7. replication lag (write answered at origin -> edge applied) under 100 writes/s;
//! 8. sizes of the wasm edges;
//! 9. `rank`, `board`, `ingest` (issue 6): a player's rank on a one-million-entry replica
//!    from the rank index vs counting the board; one-million-entry board reads through a
//!    native edge (top 10; around-me ranked through SQL and from the leaderboards in
//!    memory, with memory per entry and latency from the intended and the actual send)
//!    vs a bare axum route and vs Redis (Debian's
//!    redis-server, installed like nginx below) on a sorted set of the same scores; and
//!    analytics events/s in batches of 100 vs raw batched libSQL inserts.
//! 10. DLC (`patch`, `serve`, `pipeline`):
//!    - `patch`: a generated ~1 GiB game build (seeded: incompressible assets, JSON tables,
//!      level records, small scripts, 3 large packs) and the same build after scattered
//!      edits of ~1 % of its bytes (overwrites, insertions that shift the rest of the file,
//!      deletions); the bytes a client downloads to update (stored sizes of the new build's
//!      chunks the old one lacks) with our chunking (FastCDC 16/64/256 KiB, zstd 3) vs fixed
//!      1 MiB blocks (blake3 per block, same zstd rule; goal: ours <= 1/5) vs `casync make`
//!      of both trees into one store (bytes of the chunk files the new tree adds; goal:
//!      ours <= casync). Both trees get the same mtimes so casync's metadata matches.
//!      Needs ~4 GiB free in the temp folder (`--patch-mib` scales it); removed afterwards.
//!    - `serve`: ~200 chunks of a published release served from a native edge's cache
//!      (warmed first) vs nginx serving the same stored bytes as static files at the same
//!      paths (generated config, `daemon off`, 2 workers, sendfile, access log off; a child
//!      process stopped with SIGTERM), same client, concurrency and URL rotation, two
//!      alternating rounds; throughput (goal: edge >= 70 % of nginx), p50/p99, and the
//!      servers' CPU per request (the load generator shares the cores).
//!    - `pipeline`: `aethex_cdn::bench::pipeline` (the build's steps alone vs the
//!      pipeline on every core) on a generated 384 MiB mixed build (goal >= 80 %).
//!
//!    Tools: `casync` and `nginx` are Debian packages the bench installs itself when
//!    `command -v` does not find them (`apt-get install -y`, after `apt-get update` if
//!    that fails; `sudo -n` when not root), so installing is idempotent and the test
//!    command never needs them. A failed install is reported with the exact command and
//!    error, and the part measures what it can without that baseline. On a machine with
//!    systemd, Debian's nginx package enables and starts its own service on port 80 (the
//!    bench never uses it): `systemctl disable --now nginx` if that is unwanted.

mod auth;
mod board;
mod build;
mod cluster;
mod edge;
mod ingest;
mod load;
mod logic;
mod patch;
mod pipeline;
mod prelude;
mod redis;
mod saves;
mod serve;
mod tools;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde_json::{json, Value};

use aethex_tests::{rss_kib, Origin};
use load::{client, hello_server, release_bin, Bench};

#[derive(Parser)]
pub(crate) struct Args {
    /// Seconds per measured run.
    #[arg(long, default_value_t = 5)]
    pub(crate) secs: u64,
    /// Concurrent connections for HTTP runs.
    #[arg(long, default_value_t = 32)]
    pub(crate) concurrency: usize,
    /// Internal: serve the hello-world baseline on this address and print its URL.
    #[arg(long, hide = true)]
    pub(crate) hello: bool,
    /// Write the results as JSON here too.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Run only these parts: device, email, saves, compression, edge, lag, wasm, patch, serve,
    /// pipeline, rank, ingest, board, cluster, logic (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) only: Vec<String>,
    /// Size of the generated build of part `patch`, MiB (two copies and a casync store are
    /// written to the temporary folder: ~4x this free space is needed).
    #[arg(long, default_value_t = 1024)]
    pub(crate) patch_mib: u64,
    /// Entries of the leaderboard of part `rank`.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) rank_entries: u64,
    /// Size of the generated build of part `pipeline`, MiB.
    #[arg(long, default_value_t = 384)]
    pub(crate) pipeline_mib: u64,
    /// Rounds of alternating runs: part `device` (hello world, device logins) and part
    /// `cluster` (device logins on the local file, on sqld); the median ratio is reported.
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: usize,
    /// Part `cluster`: do not pin the load generator and the servers to different CPUs.
    #[arg(long)]
    pub(crate) no_pin: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if args.hello {
        return rt.block_on(hello_server());
    }
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if std::env::var("AETHEX_BIN").is_err() {
        std::env::set_var("AETHEX_BIN", release_bin("aethex")?);
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut report = serde_json::Map::new();
    report.insert("cores".into(), json!(cores));
    println!("aethex-bench: {cores} cores, {} s per run, {} connections\n", args.secs, args.concurrency);

    let origin = Origin::start(&[
        ("AETHEX_AUTH__RATE_LIMIT_PER_IP_PER_MINUTE", "100000000"),
        ("AETHEX_AUTH__RATE_LIMIT_PER_ACCOUNT_PER_MINUTE", "100000000"),
        ("AETHEX_ANALYTICS__DAILY_QUOTA_FREE", "100000000000"),
        ("AETHEX_LOG__LEVEL", "warn"),
    ]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = rss_kib(origin.pid());
    println!("idle RSS after start: {} KiB", idle_rss.map(|v| v.to_string()).unwrap_or("?".into()));
    report.insert("idle_rss_kib_start".into(), json!(idle_rss));
    let game = origin.game("bench-game").await;
    let http = client();
    let bench = Bench { args: &args, origin: &origin, game: &game, http: &http };
    let wants = |part: &str| args.only.is_empty() || args.only.iter().any(|o| o == part);
    println!("origin pid {}", origin.pid());

    if wants("device") {
        auth::device(&bench, &mut report).await?;
    }

    if wants("email") {
        auth::email(&bench, &mut report).await?;
    }

    if wants("saves") {
        saves::saves(&bench, &mut report).await?;
    }

    if wants("edge") {
        edge::edge(&bench, &mut report).await?;
    }

    if wants("lag") {
        edge::lag(&args, &origin, &game, &mut report).await?;
    }

    if wants("wasm") {
        edge::wasm(&mut report).await?;
    }

    if wants("compression") {
        saves::compression(&game, &mut report).await?;
    }

    // 9. DLC: patch sizes, chunk serving, the build pipeline.
    if wants("patch") {
        let mib = args.patch_mib;
        report.insert("dlc_patch".into(), tokio::task::spawn_blocking(move || patch::bench_patch(mib)).await??);
    }
    if wants("serve") {
        report.insert("dlc_serve".into(), serve::bench_serve(&args, &origin, &game, &http).await?);
    }
    if wants("ingest") {
        report.insert("analytics_ingest".into(), ingest::bench_ingest(&args, &origin, &game, &http).await?);
    }

    if wants("board") {
        report.insert("leaderboard_reads".into(), board::bench_board(&args, &origin, &game, &http).await?);
    }

    if wants("rank") {
        report.insert("leaderboard_rank".into(), board::bench_rank(args.rank_entries).await?);
    }

    if wants("logic") {
        report.insert("logic".into(), logic::bench_logic(&bench).await?);
    }

    if wants("cluster") {
        report.insert("cluster".into(), cluster::bench_cluster(&bench).await?);
    }

    if wants("pipeline") {
        let mib = args.pipeline_mib;
        report.insert("dlc_pipeline".into(), tokio::task::spawn_blocking(move || pipeline::bench_pipeline(mib)).await??);
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(origin.pid());
    println!("\nRSS after the runs, idle: {} KiB", after.map(|v| v.to_string()).unwrap_or("?".into()));
    report.insert("idle_rss_kib_after".into(), json!(after));
    if let Some(p) = args.json {
        std::fs::write(&p, serde_json::to_vec_pretty(&Value::Object(report))?)?;
        println!("results written to {}", p.display());
    }
    Ok(())
}
