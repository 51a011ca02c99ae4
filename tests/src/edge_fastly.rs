//! The Fastly Compute edge (`edge/fastly`) under Viceroy, Fastly's local runtime.
//!
//! [`start`] writes a copy of the committed `edge/fastly/fastly.toml` whose backends,
//! config store and secret store point at the given origin, replica and edge key, runs
//! `viceroy serve` on a free 127.0.0.1 port and waits until the edge answers HTTP.
//!
//! Found at run time:
//! - Viceroy: `$VICEROY_BIN`, else `$AETHEX_TOOLS_DIR/cargo/bin/viceroy`, else
//!   `~/.cache/aethex-tools/cargo/bin/viceroy` (`scripts/install-tools.sh` puts it there);
//! - the module: `$AETHEX_FASTLY_WASM`, else
//!   `<target dir>/wasm32-wasip1/release/aethex-edge-fastly.wasm`, where the target dir is
//!   the one this test executable was built in (or `$CARGO_TARGET_DIR`). Build it with
//!   `scripts/build-edge-fastly.sh`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long Viceroy may take to compile the module and start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running Viceroy serving the Fastly edge. Killed on drop.
pub struct FastlyEdge {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    child: Child,
    _dir: TempDir,
}

impl FastlyEdge {
    /// Viceroy's output so far (its log and the module's stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("viceroy.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for FastlyEdge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the edge with backends `origin` and `replica` at these URLs and
/// `AETHEX_EDGE_KEY` = `edge_key` (in the `aethex_secrets` secret store).
/// An empty `replica_url` leaves the edge without a replica.
pub fn start(origin_url: &str, replica_url: &str, edge_key: &str) -> FastlyEdge {
    start_with(origin_url, replica_url, edge_key, &[])
}

/// As [`start`], with more config store entries (`AETHEX_*` names, for example
/// `("AETHEX_LEADERBOARD_TTL_SECS", "1")`); they win over the defaults
/// (`AETHEX_EDGE_NAME` = `fastly`, the rest from the committed fastly.toml).
pub fn start_with(origin_url: &str, replica_url: &str, edge_key: &str, config: &[(&str, &str)]) -> FastlyEdge {
    let viceroy = viceroy_bin();
    assert!(viceroy.exists(), "{} not found: run scripts/install-tools.sh or set VICEROY_BIN", viceroy.display());
    let wasm = wasm_path();
    assert!(wasm.exists(), "{} not found: run scripts/build-edge-fastly.sh or set AETHEX_FASTLY_WASM", wasm.display());
    let committed = manifest_dir().join("../edge/fastly/fastly.toml");
    let template = std::fs::read_to_string(&committed).unwrap_or_else(|e| panic!("reading {}: {e}", committed.display()));
    let origin_url = origin_url.trim_end_matches('/');
    let replica_url = replica_url.trim_end_matches('/');
    let mut entries: Vec<(&str, &str)> = vec![("AETHEX_ORIGIN_URL", origin_url), ("AETHEX_REPLICA_URL", replica_url), ("AETHEX_EDGE_NAME", "fastly")];
    for (k, v) in config {
        entries.retain(|(name, _)| name != k);
        entries.push((k, v));
    }
    // A backend needs some address; nothing listens on port 1.
    let replica_backend = if replica_url.is_empty() { "http://127.0.0.1:1" } else { replica_url };
    let toml = local_manifest(&template, origin_url, replica_backend, edge_key, &entries);

    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("fastly.toml");
    std::fs::write(&config_path, toml).expect("writing fastly.toml");
    let log_path = dir.path().join("viceroy.log");

    // The port is chosen by binding and releasing it, so another process may take it
    // first: then Viceroy exits and the next port is tried.
    let mut last_log = String::new();
    for _ in 0..3 {
        let port = free_port();
        let log = std::fs::File::create(&log_path).expect("viceroy log");
        let mut child = Command::new(&viceroy)
            .arg("serve")
            .arg("-C")
            .arg(&config_path)
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg(&wasm)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "viceroy=warn".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", viceroy.display()));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if answers_http(port) {
                return FastlyEdge { url: format!("http://127.0.0.1:{port}"), child, _dir: dir };
            }
            if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("viceroy did not serve the Fastly edge; its output:\n{last_log}");
}

/// The committed manifest with the `[local_server]` values of this run.
fn local_manifest(template: &str, origin: &str, replica: &str, edge_key: &str, entries: &[(&str, &str)]) -> String {
    const CONTENTS: &str = "[local_server.config_stores.aethex.contents]";
    let mut out = Vec::new();
    let mut section = "";
    let mut seen = Vec::new();
    for line in template.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed;
        }
        let key = trimmed.split_once('=').map(|(k, _)| k.trim()).unwrap_or("");
        match (section, key) {
            ("[local_server.backends.origin]", "url") => {
                out.push(format!("url = {}", toml_str(origin)));
                seen.push("origin backend");
            }
            ("[local_server.backends.replica]", "url") => {
                out.push(format!("url = {}", toml_str(replica)));
                seen.push("replica backend");
            }
            ("[[local_server.secret_stores.aethex_secrets]]", "data") => {
                out.push(format!("data = {}", toml_str(edge_key)));
                seen.push("edge key secret");
            }
            // Replaced by this run's entries, written right after the section header.
            (CONTENTS, k) if entries.iter().any(|(name, _)| *name == k) => {}
            _ => {
                out.push(line.to_string());
                if trimmed == CONTENTS {
                    out.extend(entries.iter().map(|(name, value)| format!("{name} = {}", toml_str(value))));
                    seen.push("config store");
                }
            }
        }
    }
    for what in ["origin backend", "replica backend", "edge key secret", "config store"] {
        assert!(seen.contains(&what), "edge/fastly/fastly.toml has no {what} in [local_server]: the harness needs one to rewrite");
    }
    out.join("\n") + "\n"
}

/// A TOML basic string (JSON's escapes are all valid TOML escapes).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

/// Whether an HTTP server on `port` answers. The probe carries a malformed
/// Authorization header, which the edge refuses before touching any backend.
fn answers_http(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /__harness_probe HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: probe\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    let mut n = 0;
    while n < head.len() {
        match s.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    head[..n].starts_with(b"HTTP/1.1 ")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of the `viceroy` binary.
pub fn viceroy_bin() -> PathBuf {
    if let Ok(p) = std::env::var("VICEROY_BIN") {
        return PathBuf::from(p);
    }
    let tools = std::env::var("AETHEX_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/aethex-tools"));
    tools.join("cargo/bin/viceroy")
}

/// Path of the edge's release module.
pub fn wasm_path() -> PathBuf {
    if let Ok(p) = std::env::var("AETHEX_FASTLY_WASM") {
        return PathBuf::from(p);
    }
    let rel = Path::new("wasm32-wasip1/release/aethex-edge-fastly.wasm");
    // target/<profile>/deps/<test> -> target/
    let from_exe = std::env::current_exe().ok().and_then(|e| e.parent()?.parent()?.parent().map(|t| t.join(rel)));
    if let Some(p) = from_exe.filter(|p| p.exists()) {
        return p;
    }
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| manifest_dir().join("../target"));
    target.join(rel)
}
