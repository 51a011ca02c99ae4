//! Edge processes for the tests: the standalone native edge (`aethex-edge`), and helpers
//! to wait for an edge's replica to reach a replication position.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Path of a binary built next to `aethex` (`aethex-edge`, ...).
pub fn sibling_bin(name: &str) -> PathBuf {
    let aethex = crate::aethex_bin();
    let p = aethex.parent().expect("bin dir").join(name);
    assert!(p.exists(), "{} not found: build it first (cargo build --bins)", p.display());
    p
}

/// A running `aethex-edge` process with its own replica folder. Killed on drop.
pub struct NativeEdge {
    pub url: String,
    pub data_dir: PathBuf,
    child: crate::Proc,
    _tmp: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
}

impl NativeEdge {
    /// Starts an edge of `origin_url` with a fresh replica folder.
    pub fn start(origin_url: &str, edge_key: &str, extra: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut env: Vec<(String, String)> = vec![
            ("AETHEX_NODE__ORIGIN_URL".into(), origin_url.into()),
            ("AETHEX_NODE__EDGE_KEY".into(), edge_key.into()),
            ("AETHEX_NODE__LISTEN".into(), "127.0.0.1:0".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut e = Self::start_in(tmp.path(), env);
        e._tmp = Some(tmp);
        e
    }

    /// Starts an edge on an existing replica file (kept by `keep`).
    pub fn start_on(origin_url: &str, edge_key: &str, replica: &Path, keep: Option<tempfile::TempDir>) -> Self {
        let env = vec![
            ("AETHEX_NODE__ORIGIN_URL".into(), origin_url.into()),
            ("AETHEX_NODE__EDGE_KEY".into(), edge_key.into()),
            ("AETHEX_NODE__LISTEN".into(), "127.0.0.1:0".into()),
        ];
        let mut e = Self::start_in(replica.parent().expect("replica folder"), env);
        e._tmp = keep;
        e
    }

    fn start_in(data_dir: &Path, env: Vec<(String, String)>) -> Self {
        let mut cmd = Command::new(sibling_bin("aethex-edge"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AETHEX_NODE__DATA_DIR", data_dir)
            .env("AETHEX_LOG__LEVEL", if std::env::var("TEST_LOG").is_ok() { "debug" } else { "warn" })
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stderr(if std::env::var("TEST_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() });
        let (child, rx) = crate::spawn_listening(&mut cmd, "aethex-edge");
        let (_, url) = rx.recv_timeout(Duration::from_secs(30)).expect("aethex-edge did not print its URL within 30 s");
        Self { url, data_dir: data_dir.to_path_buf(), child, _tmp: None, env }
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.child.kill()
    }

    /// Kills the process and starts a new one on the same replica folder and port.
    pub fn restart_after_kill(mut self) -> Self {
        self.kill();
        let addr = self.url.trim_start_matches("http://").to_string();
        let mut env = self.env.clone();
        env.retain(|(k, _)| k != "AETHEX_NODE__LISTEN");
        env.push(("AETHEX_NODE__LISTEN".into(), addr));
        let mut new = Self::start_in(&self.data_dir, env);
        new._tmp = self._tmp.take();
        new
    }

    /// Stops the edge and hands over its replica folder (kept until the guard drops).
    pub fn stop_keep_data(mut self) -> (PathBuf, Option<tempfile::TempDir>) {
        self.kill();
        (self.replica_path(), self._tmp.take())
    }

    pub fn replica_path(&self) -> PathBuf {
        self.data_dir.join("replica.db")
    }
}

impl Drop for NativeEdge {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The replica position an edge reports at `/edge/healthz` (None: no replica yet).
pub async fn edge_position(edge_url: &str) -> Option<i64> {
    let resp = reqwest::get(format!("{edge_url}/edge/healthz")).await.ok()?;
    let v: Value = resp.json().await.ok()?;
    v["position"].as_i64()
}

/// Waits until the edge's replica has applied `position`.
pub async fn wait_for_position(edge_url: &str, position: i64, timeout: Duration) {
    let start = Instant::now();
    loop {
        if edge_position(edge_url).await.is_some_and(|p| p >= position) {
            return;
        }
        assert!(start.elapsed() < timeout, "edge {edge_url} did not reach position {position} within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Origin's newest replication position (as an edge sees it).
pub async fn origin_head(origin_url: &str, edge_key: &str) -> i64 {
    let v: Value = reqwest::Client::new()
        .get(format!("{origin_url}/api/v1/replication/changes?after=0&limit=1"))
        .header("x-aethex-edge-key", edge_key)
        .send()
        .await
        .expect("changes")
        .json()
        .await
        .expect("json");
    v["head"].as_i64().expect("head")
}
