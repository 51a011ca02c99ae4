//! A Redis server (Debian's `redis-server`, installed by the test command) started per test
//! on 127.0.0.1 with a port of its own, no persistence and a temporary folder.

use std::process::{Command, Stdio};
use std::time::Duration;

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
        let (child, port, dir) = crate::start_on_free_port(
            "redis-server",
            Duration::from_secs(10),
            |port, dir| {
                Command::new(&bin)
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir"])
                    .arg(dir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("start {bin} (the test command installs Debian's redis-server): {e}"))
            },
            answers_pong,
        );
        Self { url: format!("redis://127.0.0.1:{port}"), child, _dir: dir }
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
