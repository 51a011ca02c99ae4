//! Relay processes (`aethex-relay`) for the tests, one per region, registered with an
//! origin through its relay key.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::edges::sibling_bin;
use crate::{spawn_listening, Origin, Proc};

/// A running relay. Killed on drop.
pub struct Relay {
    pub region: String,
    /// HTTP base (`http://127.0.0.1:port`).
    pub url: String,
    /// Its Prometheus listener.
    pub metrics_url: String,
    proc: Proc,
}

impl Relay {
    /// Starts a relay for `region`, registered with `origin`; `extra` are more
    /// `AETHEX_RELAY__*` / `AETHEX_LIMITS__*` settings.
    pub fn start(origin: &Origin, region: &str, extra: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(sibling_bin("aethex-relay"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AETHEX_RELAY__REGION", region)
            .env("AETHEX_RELAY__LISTEN", "127.0.0.1:0")
            .env("AETHEX_RELAY__UDP_LISTEN", "127.0.0.1:0")
            .env("AETHEX_RELAY__ORIGIN_URL", &origin.url)
            .env("AETHEX_RELAY__CLUSTER_KEY", origin.relay_key())
            .env("AETHEX_RELAY__HEARTBEAT_SECS", "1")
            .env("AETHEX_LOG__LEVEL", if std::env::var("TEST_LOG").is_ok() { "debug" } else { "warn" })
            .envs(extra.iter().copied())
            .stderr(if std::env::var("TEST_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() });
        let (proc, rx) = spawn_listening(&mut cmd, "aethex-relay");
        let (line, url) = rx.recv_timeout(Duration::from_secs(30)).expect("aethex-relay did not print its URL within 30 s");
        let metrics_url = crate::metrics_url_in(&line).expect("aethex-relay did not print its metrics URL");
        Self { region: region.to_string(), url, metrics_url, proc }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.proc.kill()
    }

    /// The value of counter or gauge `name` on the relay's metrics listener (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.metrics_url)).await.expect("relay metrics").text().await.expect("relay metrics text");
        text.lines().filter_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok()).next().unwrap_or(0.0)
    }

    /// Waits up to `within` until the relay's metric `name` satisfies `ok`; whether it did.
    pub async fn metric_becomes(&self, name: &str, within: Duration, ok: impl Fn(f64) -> bool) -> bool {
        let deadline = std::time::Instant::now() + within;
        loop {
            if ok(self.metric(name).await) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until origin lists this region as live.
    pub async fn wait_registered(&self, origin: &Origin) {
        let region = self.region.as_str();
        regions_when(origin, &format!("region {region} never registered"), |list| {
            list["regions"].as_array().is_some_and(|r| r.iter().any(|r| r["name"] == region))
        })
        .await;
    }
}

/// Polls origin's `GET /api/v1/regions` (with the origin's own HTTP client, which trusts
/// its test CA) until `ready` accepts the list, for up to 20 s; the list it accepted.
/// Panics with `what` and the last list otherwise.
pub async fn regions_when(origin: &Origin, what: &str, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let list: serde_json::Value = origin.http().get(format!("{}/api/v1/regions", origin.url)).send().await.unwrap().json().await.unwrap();
        if ready(&list) {
            return list;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
