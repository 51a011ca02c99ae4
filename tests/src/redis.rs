//! A Redis server (Debian's `redis-server`, installed by the test command) started per test
//! on 127.0.0.1 with a port of its own, no persistence and a temporary folder.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Proc;

/// A running Redis, killed on drop.
pub struct Redis {
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
    child: Proc,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Self {
        let bin = std::env::var("AETHEX_REDIS_BIN").unwrap_or_else(|_| "redis-server".into());
        // Redis takes a port, not a listener: a start that lost its port to another
        // process is tried again on a new one.
        for _ in 0..10 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
            let child = Command::new(&bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir"])
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start {bin} (the test command installs Debian's redis-server): {e}"));
            let mut child = Proc(Some(child));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !child.exited() {
                if answers_pong(port) {
                    return Self { url: format!("redis://127.0.0.1:{port}"), child, _dir: dir };
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            child.kill();
        }
        panic!("redis-server did not start on a free port in 10 tries");
    }

    pub fn kill(&mut self) {
        self.child.kill();
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// `GET key` (a string value, or `None`), over a plain connection.
    pub fn get(&self, key: &str) -> Option<String> {
        use std::io::{BufRead, BufReader, Read, Write};
        let port: u16 = self.url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in the URL");
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to redis");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let mut head = String::new();
        r.read_line(&mut head).unwrap();
        let len: i64 = head.trim_end().strip_prefix('$').unwrap_or_else(|| panic!("redis answered {head:?}")).parse().unwrap();
        if len < 0 {
            return None;
        }
        let mut buf = vec![0u8; len as usize + 2];
        r.read_exact(&mut buf).unwrap();
        buf.truncate(len as usize);
        Some(String::from_utf8(buf).unwrap())
    }
}

fn answers_pong(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}
