//! `aethex-cdn`: build, sign, publish and install AeThex Cloud DLC releases.
//! See cdn-tools/README.md for the commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aethex_cdn::keys::key_file_too_open;
use aethex_cdn::publish::check_target;
use aethex_cdn::{build, BuildOptions, ChunkParams, Control, DirSource, HttpSource, KeyPair, Origin, Phase, PublishOptions, PullOptions, TrustedKey};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

#[derive(Parser)]
#[command(name = "aethex-cdn", version, about = "Build, sign, publish and install AeThex Cloud DLC releases")]
struct Cli {
    /// Print machine-readable JSON (one object per result) and no progress bars.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Chunk a folder into <out>/chunks/ and write <out>/manifest.json.
    Build {
        dir: PathBuf,
        #[command(flatten)]
        target: Target,
        /// Output folder (may hold earlier builds: their chunks are reused).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        tuning: Tuning,
        /// Also sign it and write <out>/release.json + keys.json (a mirror `pull --mirror` installs from).
        #[arg(long)]
        key: Option<PathBuf>,
        #[arg(long)]
        entitlement: Option<String>,
    },
    /// Sign a build's manifest: writes release.json and keys.json beside it.
    Sign {
        /// The build's manifest.json.
        manifest: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        entitlement: Option<String>,
    },
    /// Manifest signing keys.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// Upload what origin lacks and create the release. <path>: a folder to build, or a build's manifest.json.
    Publish {
        path: PathBuf,
        #[arg(long)]
        origin: String,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        entitlement: Option<String>,
        /// Where to build when <path> is a folder (default: a temporary folder).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        server: ServerKey,
        #[command(flatten)]
        tuning: Tuning,
        /// Uploads in flight.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// What updating from one manifest to another downloads.
    Diff { old: PathBuf, new: PathBuf },
    /// Check a folder against a manifest (sizes and blake3).
    Verify { dir: PathBuf, manifest: PathBuf },
    /// Install or update a folder to a channel's current release.
    Pull {
        /// An edge or origin.
        #[arg(long, required_unless_present = "mirror", conflicts_with = "mirror")]
        url: Option<String>,
        /// A build output / mirror folder (release.json + chunks/) instead of a server.
        #[arg(long)]
        mirror: Option<PathBuf>,
        #[arg(long)]
        game: String,
        #[arg(long, default_value = "stable")]
        channel: String,
        /// The install folder.
        #[arg(long)]
        dir: PathBuf,
        /// Player access token.
        #[arg(long, env = "AETHEX_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Trusted manifest public key (base64url); repeatable. None: trust on first use.
        #[arg(long = "trust-key")]
        trust_keys: Vec<String>,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Download and stage only; `recover` (or the next pull) switches it into place.
        #[arg(long)]
        no_apply: bool,
    },
    /// Finish a switch-over an interrupted pull left.
    Recover {
        #[arg(long)]
        dir: PathBuf,
    },
    /// List a game's releases.
    Releases {
        #[arg(long)]
        origin: String,
        #[arg(long)]
        game: String,
        #[arg(long)]
        channel: Option<String>,
        #[command(flatten)]
        server: ServerKey,
    },
    /// Point another channel at a release.
    Promote {
        #[arg(long)]
        origin: String,
        #[arg(long)]
        game: String,
        #[arg(long)]
        version: String,
        #[arg(long = "from")]
        from_channel: String,
        #[arg(long = "to")]
        to_channel: String,
        #[command(flatten)]
        server: ServerKey,
    },
    /// Point a channel back at an earlier release.
    Rollback {
        #[arg(long)]
        origin: String,
        #[arg(long)]
        game: String,
        #[arg(long)]
        channel: String,
        /// Default: the release before the current one.
        #[arg(long)]
        to_version: Option<String>,
        #[command(flatten)]
        server: ServerKey,
    },
    /// Measure the build pipeline against its steps run alone.
    Bench {
        dir: PathBuf,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[command(flatten)]
        tuning: Tuning,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Create an Ed25519 key pair file (mode 0600).
    Generate {
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print a key file's key_id and public key (what players' builds trust).
    Show { key: PathBuf },
    /// Register a key's public half with origin for a game.
    Register {
        #[arg(long)]
        origin: String,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        game: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        server: ServerKey,
    },
}

#[derive(Args)]
struct Target {
    #[arg(long)]
    game: String,
    #[arg(long)]
    version: String,
    #[arg(long, default_value = "stable")]
    channel: String,
}

#[derive(Args)]
struct ServerKey {
    /// The game's server key (aethex_sk_...).
    #[arg(long = "server-key", env = "AETHEX_SERVER_KEY", hide_env_values = true)]
    server_key: Option<String>,
}

impl ServerKey {
    fn origin(&self, url: &str) -> Result<Origin> {
        let key = self.server_key.as_deref().context("a server key is needed: --server-key or AETHEX_SERVER_KEY")?;
        Ok(Origin::new(url, key)?)
    }
}

#[derive(Args)]
struct Tuning {
    #[arg(long, default_value_t = aethex_cdn::store::DEFAULT_ZSTD_LEVEL)]
    zstd_level: i32,
    /// Chunk sizes in bytes, min/avg/max (default 16384/65536/262144).
    #[arg(long, value_parser = parse_sizes)]
    chunk_sizes: Option<ChunkParams>,
}

impl Tuning {
    fn options(&self) -> BuildOptions {
        BuildOptions { zstd_level: self.zstd_level, chunking: self.chunk_sizes.unwrap_or_default(), ..BuildOptions::default() }
    }
}

fn parse_sizes(s: &str) -> std::result::Result<ChunkParams, String> {
    let v: Vec<u32> = s.split('/').map(|x| x.trim().parse::<u32>().map_err(|e| format!("{x:?}: {e}"))).collect::<std::result::Result<_, _>>()?;
    match v[..] {
        [a, b, c] => ChunkParams::new(a, b, c).map_err(|e| e.to_string()),
        _ => Err("expected MIN/AVG/MAX".into()),
    }
}

/// Output: human text or JSON lines.
struct Out {
    json: bool,
}

impl Out {
    fn bar(&self, len: u64, bytes: bool) -> ProgressBar {
        if self.json {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(len);
        let tpl = if bytes {
            "{spinner} {msg:12} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
        } else {
            "{spinner} {msg:12} [{bar:40}] {pos}/{len} eta {eta}"
        };
        pb.set_style(ProgressStyle::with_template(tpl).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    }

    fn emit(&self, v: serde_json::Value, text: impl FnOnce() -> String) {
        if self.json {
            println!("{v}");
        } else {
            println!("{}", text());
        }
    }
}

fn read_key(path: &Path) -> Result<KeyPair> {
    if key_file_too_open(path) {
        eprintln!("warning: {} can be read by other users; chmod 600 it", path.display());
    }
    KeyPair::read(path).with_context(|| format!("reading key file {}", path.display()))
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

fn build_with_bar(out: &Out, dir: &Path, dest: &Path, t: &Target, tuning: &Tuning) -> Result<aethex_cdn::Build> {
    let pb = out.bar(0, true);
    pb.set_message("building");
    let mut opts = tuning.options();
    let p = pb.clone();
    opts.progress = Some(Arc::new(move |done, total| {
        p.set_length(total);
        p.set_position(done);
    }));
    let b = build(dir, dest, &t.game, &t.version, &t.channel, &opts).with_context(|| format!("building {}", dir.display()))?;
    pb.finish_and_clear();
    Ok(b)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out { json: cli.json };
    match run(cli.cmd, &out).await {
        Ok(code) => code,
        Err(e) => {
            let text = error_text(&e);
            if out.json {
                println!("{}", json!({"ok": false, "error": text}));
            } else {
                eprintln!("error: {text}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, skipping causes whose text a message already includes (the
/// library's messages carry their source's text, and so do reqwest's).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if !text.contains(&c) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&c);
        }
    }
    text
}

async fn run(cmd: Cmd, out: &Out) -> Result<ExitCode> {
    match cmd {
        Cmd::Build { dir, target, out: dest, tuning, key, entitlement } => {
            let key = key.as_deref().map(read_key).transpose()?;
            let b = build_with_bar(out, &dir, &dest, &target, &tuning)?;
            if let Some(key) = &key {
                aethex_cdn::write_release(&dest, &key.sign_text(b.text.clone()), &b.manifest, key, entitlement)?;
            }
            let t = b.manifest.totals;
            out.emit(
                json!({"ok": true, "manifest": dest.join(aethex_cdn::MANIFEST_FILE), "totals": t, "chunks_written": b.chunks_written, "signed": key.is_some()}),
                || {
                    format!(
                        "built {} {} ({}): {} files, {}, {} chunks, {} stored ({} new chunks written) -> {}",
                        b.manifest.game_id,
                        b.manifest.version,
                        b.manifest.channel,
                        t.files,
                        mib(t.bytes),
                        t.chunks,
                        mib(t.stored_bytes),
                        b.chunks_written,
                        dest.join(aethex_cdn::MANIFEST_FILE).display()
                    )
                },
            );
        }
        Cmd::Sign { manifest, key, entitlement } => {
            let key = read_key(&key)?;
            let m = aethex_cdn::read_manifest_file(&manifest)?;
            let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
            let signed = key.sign(&m);
            aethex_cdn::write_release(&dir, &signed, &m, &key, entitlement)?;
            out.emit(json!({"ok": true, "key_id": signed.key_id, "release": dir.join("release.json")}), || {
                format!("signed with {} -> {}", signed.key_id, dir.join("release.json").display())
            });
        }
        Cmd::Keys { cmd: KeysCmd::Generate { out: path, force } } => {
            let k = KeyPair::generate();
            k.write(&path, force).with_context(|| format!("writing {} (use --force to replace it)", path.display()))?;
            out.emit(json!({"ok": true, "key_id": k.key_id(), "public_key": k.public_key(), "file": path}), || {
                format!("key {} written to {} (mode 0600)\npublic key: {}", k.key_id(), path.display(), k.public_key())
            });
        }
        Cmd::Keys { cmd: KeysCmd::Show { key } } => {
            let k = read_key(&key)?;
            out.emit(json!({"key_id": k.key_id(), "public_key": k.public_key()}), || {
                format!("key_id: {}\npublic key: {}", k.key_id(), k.public_key())
            });
        }
        Cmd::Keys { cmd: KeysCmd::Register { origin, key: path, game, name, server } } => {
            let origin = server.origin(&origin)?;
            let k = read_key(&path)?;
            let registered = origin.register_key(&game, &k, &name).await?;
            if !registered.key_id.is_empty() && registered.key_id != k.key_id() {
                // Origin names keys its own way: sign with its id from now on.
                k.clone().with_key_id(registered.key_id.clone()).write(&path, true)?;
                eprintln!("note: origin calls this key {}; {} updated", registered.key_id, path.display());
            }
            out.emit(json!({"ok": true, "key": registered}), || format!("registered key {} ({}) for {game}", registered.key_id, name));
        }
        Cmd::Publish { path, origin, target, key, entitlement, out: dest, server, tuning, concurrency } => {
            let origin = server.origin(&origin)?;
            let key = read_key(&key)?;
            let _tmp;
            let (manifest, store) = if path.is_file() {
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                let m = aethex_cdn::read_manifest_file(&path)?;
                (m, aethex_cdn::ChunkStore::in_output(&dir))
            } else {
                let dest = match dest {
                    Some(d) => d,
                    None => {
                        _tmp = tempfile::tempdir().context("creating a temporary build folder")?;
                        _tmp.path().to_path_buf()
                    }
                };
                let b = build_with_bar(out, &path, &dest, &target, &tuning)?;
                (b.manifest, b.store)
            };
            check_target(&manifest, &target.game, &target.channel, &target.version)?;
            let pb = out.bar(0, true);
            pb.set_message("uploading");
            let p = pb.clone();
            let opts = PublishOptions {
                entitlement,
                concurrency,
                progress: Some(Arc::new(move |_, _, done, total| {
                    p.set_length(total);
                    p.set_position(done);
                })),
                ..PublishOptions::default()
            };
            let r = aethex_cdn::publish(&origin, &manifest, &store, &key, &opts).await?;
            pb.finish_and_clear();
            out.emit(json!({"ok": true, "publish": r}), || {
                format!(
                    "published {} {} to {}: uploaded {} of {} chunks ({}), signed by {}",
                    r.game_id,
                    r.version,
                    r.channel,
                    r.chunks_uploaded,
                    r.chunks_total,
                    mib(r.bytes_uploaded),
                    r.key_id
                )
            });
        }
        Cmd::Diff { old, new } => {
            let d = aethex_cdn::diff(&aethex_cdn::read_manifest_file(&old)?, &aethex_cdn::read_manifest_file(&new)?);
            out.emit(json!(d), || {
                let mut s = format!(
                    "{} -> {}: download {} in {} chunks ({:.1}% of a full {}), reuse {} chunks\n{} added, {} removed, {} changed, {} unchanged",
                    d.old_version,
                    d.new_version,
                    mib(d.download_bytes),
                    d.download_chunks,
                    100.0 * d.download_fraction(),
                    mib(d.full_bytes),
                    d.reused_chunks,
                    d.added.len(),
                    d.removed.len(),
                    d.changed.len(),
                    d.unchanged
                );
                for (sign, list) in [("+", &d.added), ("-", &d.removed), ("~", &d.changed)] {
                    for p in list {
                        s.push_str(&format!("\n{sign} {p}"));
                    }
                }
                s
            });
        }
        Cmd::Verify { dir, manifest } => {
            let m = aethex_cdn::read_manifest_file(&manifest)?;
            let r = aethex_cdn::verify_dir(&dir, &m)?;
            let ok = r.ok();
            out.emit(json!({"ok": ok, "report": r}), || {
                let mut s = format!(
                    "{} files ok ({}), {} mismatched, {} not in the manifest",
                    r.files_ok,
                    mib(r.bytes_ok),
                    r.mismatches.len(),
                    r.extra.len()
                );
                for m in &r.mismatches {
                    s.push_str(&format!("\n  {m}"));
                }
                s
            });
            if !ok {
                return Ok(ExitCode::FAILURE);
            }
        }
        Cmd::Pull { url, mirror, game, channel, dir, token, trust_keys, concurrency, no_apply } => {
            let trusted = trust_keys.iter().map(|k| TrustedKey::from_b64(k)).collect::<aethex_cdn::Result<Vec<_>>>()?;
            let pb = out.bar(0, true);
            let p = pb.clone();
            let opts = PullOptions {
                trusted_keys: trusted,
                concurrency,
                apply: !no_apply,
                progress: Some(Arc::new(move |pr: &aethex_cdn::Progress| {
                    let (msg, done, total) = match pr.phase {
                        Phase::Checking => ("checking", pr.files_done, pr.files_total),
                        Phase::Downloading => ("downloading", pr.bytes_done, pr.bytes_total),
                        Phase::Staging => ("staging", pr.bytes_done, pr.bytes_total),
                        Phase::Applying => ("applying", pr.files_done, pr.files_total),
                    };
                    p.set_message(msg);
                    p.set_length(total);
                    p.set_position(done);
                    Control::Continue
                })),
                ..PullOptions::default()
            };
            let r = match (url, mirror) {
                (Some(url), _) => aethex_cdn::pull(&HttpSource::new(&url, &game, &channel, token)?, &game, &dir, &opts).await?,
                (None, Some(m)) => aethex_cdn::pull(&DirSource::new(&m), &game, &dir, &opts).await?,
                (None, None) => bail!("give --url or --mirror"),
            };
            pb.finish_and_clear();
            out.emit(json!({"ok": true, "pull": r}), || {
                if r.up_to_date {
                    return format!("{} {} is up to date", r.game_id, r.version);
                }
                let mut s = format!(
                    "{} {} -> {}: {} files written, {} deleted, {} unchanged; downloaded {} chunks ({}), reused {} from disk and {} from the cache",
                    r.game_id,
                    r.previous.as_deref().unwrap_or("(nothing)"),
                    r.version,
                    r.files_written,
                    r.files_deleted,
                    r.files_unchanged,
                    r.chunks_downloaded,
                    mib(r.bytes_downloaded),
                    r.chunks_from_install,
                    r.chunks_from_cache
                );
                if r.trust == Some(aethex_cdn::pull::Trust::FirstUse) {
                    s.push_str("\nnote: trusted the server's manifest keys on first use; pinned in .aethex/trusted_keys.json");
                }
                if !r.applied {
                    s.push_str("\nstaged; run `aethex-cdn recover --dir ...` (or pull again) to switch it into place");
                }
                s
            });
        }
        Cmd::Recover { dir } => {
            let v = aethex_cdn::recover(&dir)?;
            out.emit(json!({"ok": true, "recovered": v}), || match &v {
                Some(v) => format!("switched {v} into place"),
                None => "nothing to recover".into(),
            });
        }
        Cmd::Releases { origin, game, channel, server } => {
            let list = server.origin(&origin)?.releases(&game, channel.as_deref()).await?;
            out.emit(json!(list), || {
                let mut s = String::new();
                for r in &list.releases {
                    s.push_str(&format!(
                        "{}{:10} {:20} {} key {} {}{}\n",
                        if r.current { "* " } else { "  " },
                        r.channel,
                        r.version,
                        r.created_at,
                        r.key_id,
                        mib(r.totals.stored_bytes),
                        r.entitlement.as_deref().map(|e| format!(" entitlement {e}")).unwrap_or_default()
                    ));
                }
                if s.is_empty() {
                    s = "no releases".into();
                }
                s.trim_end().to_string()
            });
        }
        Cmd::Promote { origin, game, version, from_channel, to_channel, server } => {
            let v = server.origin(&origin)?.promote(&game, &version, &from_channel, &to_channel).await?;
            out.emit(json!({"ok": true, "result": v}), || format!("{to_channel} now serves {version}"));
        }
        Cmd::Rollback { origin, game, channel, to_version, server } => {
            let v = server.origin(&origin)?.rollback(&game, &channel, to_version.as_deref()).await?;
            out.emit(json!({"ok": true, "result": v}), || format!("rolled {channel} back: {v}"));
        }
        Cmd::Bench { dir, runs, tuning } => {
            let b = aethex_cdn::bench::pipeline(&dir, &tuning.options(), runs)?;
            out.emit(json!(b), || {
                format!(
                    "{} files, {}, {} chunks, zstd {}\nalone (1 core each): read {:.3}s  chunk {:.3}s  hash {:.3}s  compress {:.3}s  sum {:.3}s ({:.0} MiB/s)\npipeline ({} cores): {:.3}s ({:.0} MiB/s), efficiency {:.0}% of sum/cores{}",
                    b.files,
                    mib(b.bytes),
                    b.chunks,
                    b.zstd_level,
                    b.read_s,
                    b.chunk_s,
                    b.hash_s,
                    b.compress_s,
                    b.steps_sum_s,
                    b.serial_mib_s,
                    b.cores,
                    b.pipeline_s,
                    b.pipeline_mib_s,
                    100.0 * b.efficiency,
                    b.pipeline_cpu_s.map(|c| format!(" (used {c:.2} CPU-s = {:.2} cores)", c / b.pipeline_s)).unwrap_or_default()
                )
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
