//! A load balancer in front of several origins: Debian's `haproxy` (installed by the test
//! command), started per test on 127.0.0.1 with a port of its own, round robin, each
//! backend health-checked on `GET /readyz` every 300 ms (down after two failures), and a
//! request whose connection is refused sent to another backend (a request that reached a
//! backend is never sent again: it may have been done).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::Proc;

/// A running HAProxy, killed on drop.
pub struct HaProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Proc,
    _dir: tempfile::TempDir,
}

impl HaProxy {
    /// Balances over `backends` (`http://127.0.0.1:PORT` each).
    pub fn start(backends: &[String]) -> Self {
        let bin = std::env::var("AETHEX_HAPROXY_BIN").unwrap_or_else(|_| "haproxy".into());
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let addr = b.trim_start_matches("http://").trim_end_matches('/');
                format!("  server o{i} {addr} check inter 300ms fall 2 rise 2\n")
            })
            .collect();
        let (child, port, dir) = crate::start_on_free_port(
            "haproxy",
            Duration::from_secs(10),
            |port, dir| {
                let config = format!(
                    "global\n  maxconn 4096\n\
                     defaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n  timeout server 60s\n  \
                     option redispatch\n  retries 2\n  retry-on conn-failure\n\
                     frontend fe\n  bind 127.0.0.1:{port}\n  default_backend origins\n\
                     backend origins\n  balance roundrobin\n  option httpchk GET /readyz\n  http-check expect status 200\n{servers}"
                );
                let path = dir.join("haproxy.cfg");
                std::fs::write(&path, config).expect("write haproxy.cfg");
                Command::new(&bin)
                    .arg("-db")
                    .arg("-f")
                    .arg(&path)
                    .stdout(Stdio::null())
                    .stderr(if std::env::var("TEST_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() })
                    .spawn()
                    .unwrap_or_else(|e| panic!("start {bin} (the test command installs Debian's haproxy): {e}"))
            },
            ready,
        );
        Self { url: format!("http://127.0.0.1:{port}"), child, _dir: dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }
}

/// Whether `GET /readyz` through the balancer answers 200 (a backend is up behind it).
fn ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /readyz HTTP/1.0\r\nHost: lb\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}
