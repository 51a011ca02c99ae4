//! Test harness: starts the real `aethex` binary on 127.0.0.1 with an OS-chosen port
//! and its own data folder, and hands out SDK clients and fixtures.
//!
//! The binary is found next to the test executable (`target/<profile>/aethex`) or at
//! `$AETHEX_BIN`; `scripts/test-all.sh` builds it before the tests run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use aethex_sdk::AeThexCloud;

pub use aethex_sdk;

pub mod dlc;
pub mod edge_cloudflare;
pub mod edge_fastly;
pub mod edge_spin;
pub mod edge_suite;
pub mod edges;
pub mod haproxy;
pub mod logic;
pub mod netdelay;
pub mod redis;
pub mod relays;
pub mod sqld;
pub mod tls;
pub mod tokens;

/// Copies the files of folder `from` into `to` (created), keeping their permissions.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for e in std::fs::read_dir(from).expect("read folder").flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy file");
    }
}

/// Path of the `aethex` binary under test.
pub fn aethex_bin() -> PathBuf {
    if let Ok(p) = std::env::var("AETHEX_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> -> target/<profile>/aethex
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("aethex");
    assert!(bin.exists(), "{} not found: build it first (cargo build --bin aethex) or set AETHEX_BIN", bin.display());
    bin
}

/// A child process of a test, killed (SIGKILL) on drop.
pub struct Proc(Option<Child>);

impl Proc {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Whether the process has ended (or was never started).
    pub fn exited(&mut self) -> bool {
        self.0.as_mut().is_none_or(|c| !matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns `cmd` with its standard output read by a thread that reports every
/// `… listening on <url> …` line as (the line, the URL).
pub fn spawn_listening(cmd: &mut Command, what: &str) -> (Proc, std::sync::mpsc::Receiver<(String, String)>) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let url = rest.split_whitespace().next().unwrap_or_default().to_string();
                let _ = tx.send((line.clone(), url));
            }
        }
    });
    (Proc(Some(child)), rx)
}

/// The metrics listener's URL from a start-up line (`… metrics on http://… )`), if on.
pub fn metrics_url_in(line: &str) -> Option<String> {
    let url = line.split("metrics on ").nth(1)?.split([')', ',', ' ']).next()?;
    (url.starts_with("http://") || url.starts_with("https://")).then(|| url.to_string())
}

/// An SDK client for `url`, trusting `ca_pem` (a test CA) when given.
pub fn sdk_for(url: &str, ca_pem: Option<&[u8]>) -> AeThexCloud {
    let c = AeThexCloud::new(url);
    match ca_pem {
        Some(pem) => c.with_extra_ca_pem(pem).expect("test CA PEM"),
        None => c,
    }
}

/// A running origin process. Killed on drop.
pub struct Origin {
    pub url: String,
    /// The embedded edge's URL, when started with one ([`Origin::start_with_edge`]).
    pub edge_url: Option<String>,
    /// Its Prometheus listener (`server.metrics_listen`, never the public port).
    pub metrics_url: String,
    pub data_dir: PathBuf,
    child: Proc,
    _tmp: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
    /// The libSQL server it runs on, when the tests asked for one (`AETHEX_TEST_DB=sqld`).
    pub sqld: Option<std::sync::Arc<sqld::Sqld>>,
    _stderr: tempfile::NamedTempFile,
    /// The CA its certificate is signed by, when it serves HTTPS (`AETHEX_TLS__EXTRA_CA_FILE`
    /// of its settings): every client of the tests trusts it.
    pub ca_pem: Option<Vec<u8>>,
}

impl Origin {
    /// Starts with a fresh data folder and the given `AETHEX_*` settings; with
    /// `AETHEX_TEST_DB=sqld`, on a fresh libSQL server unless `env` names a database.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let sqld =
            (sqld::requested() && !env.iter().any(|(k, _)| *k == "AETHEX_STORAGE__DATABASE_URL")).then(|| std::sync::Arc::new(sqld::Sqld::start()));
        let mut all = env.to_vec();
        if let Some(s) = &sqld {
            all.push(("AETHEX_STORAGE__DATABASE_URL", &s.url));
        }
        let mut o = Self::start_in(&dir, &all);
        o._tmp = Some(tmp);
        o.sqld = sqld;
        o
    }

    /// Starts `n` origins on one `sqld` at the same moment (so their start-ups race, as a
    /// cluster's do), sharing one set of keys as a cluster's Secret would give them.
    pub fn start_cluster(sqld: &std::sync::Arc<sqld::Sqld>, n: usize, env: &[(&str, &str)]) -> Vec<Self> {
        // The keys: made by a throwaway origin on a local file, then copied to each.
        let keys = tempfile::tempdir().expect("tempdir");
        drop(Self::start_in(keys.path(), &[]));
        let mut all = env.to_vec();
        all.push(("AETHEX_STORAGE__DATABASE_URL", &sqld.url));
        let dirs: Vec<tempfile::TempDir> = (0..n)
            .map(|_| {
                let d = tempfile::tempdir().expect("tempdir");
                copy_dir(&keys.path().join("keys"), &d.path().join("keys"));
                d
            })
            .collect();
        let mut origins: Vec<Self> = std::thread::scope(|s| {
            let handles: Vec<_> = dirs.iter().map(|d| s.spawn(|| Self::start_in(d.path(), &all))).collect();
            handles.into_iter().map(|h| h.join().expect("an origin of the cluster did not start")).collect()
        });
        for (o, d) in origins.iter_mut().zip(dirs) {
            o._tmp = Some(d);
            o.sqld = Some(sqld.clone());
        }
        origins
    }

    /// Starts on `sqld` (shared with other origins of a test).
    pub fn start_on(sqld: &std::sync::Arc<sqld::Sqld>, env: &[(&str, &str)]) -> Self {
        let mut all = env.to_vec();
        all.push(("AETHEX_STORAGE__DATABASE_URL", &sqld.url));
        let mut o = Self::start(&all);
        o.sqld = Some(sqld.clone());
        o
    }

    /// Starts with the embedded native edge (on a free port) beside origin.
    pub fn start_with_edge(env: &[(&str, &str)]) -> Self {
        let mut all = env.to_vec();
        all.push(("AETHEX_EDGE__EMBEDDED", "true"));
        Self::start(&all)
    }

    /// The edge key origin made for its embedded edge (`<data>/keys/edge-key`).
    pub fn edge_key(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("keys/edge-key")).expect("edge key file").trim().to_string()
    }

    /// The relay key origin made for its relays (`<data>/keys/relay-key`).
    pub fn relay_key(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("keys/relay-key")).expect("relay key file").trim().to_string()
    }

    /// Starts on an existing data folder (restarts after a crash).
    pub fn start_in(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut cmd = Command::new(aethex_bin());
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AETHEX_SERVER__LISTEN", "127.0.0.1:0")
            .env("AETHEX_STORAGE__DATA_DIR", data_dir)
            .env("AETHEX_EDGE__EMBEDDED", "false")
            .env("AETHEX_EDGE__LISTEN", "127.0.0.1:0")
            .env("AETHEX_MULTIPLAYER__EMBEDDED_RELAY", "false")
            .env("AETHEX_MULTIPLAYER__RELAY_LISTEN", "127.0.0.1:0")
            .env("AETHEX_MULTIPLAYER__RELAY_UDP_LISTEN", "127.0.0.1:0")
            .env("AETHEX_LOG__LEVEL", if std::env::var("TEST_LOG").is_ok() { "debug" } else { "warn" })
            .envs(std::env::var("RUST_LOG").ok().filter(|_| std::env::var("TEST_LOG").is_ok()).map(|v| ("RUST_LOG", v)))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped());
        // Its log (warnings and errors) goes to a file of the test's, shown if it fails to start.
        let stderr = tempfile::NamedTempFile::new().expect("temp file");
        if std::env::var("TEST_LOG").is_ok() {
            cmd.stderr(Stdio::inherit());
        } else {
            cmd.stderr(stderr.reopen().expect("reopen temp file"));
        }
        let (child, rx) = spawn_listening(&mut cmd, "aethex");
        let (line, url) = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|e| {
            let log = std::fs::read_to_string(stderr.path()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
            panic!("aethex did not print its URL within 30 s ({e}); its last log lines:\n{}", tail.join("\n"))
        });
        let metrics_url = metrics_url_in(&line).expect("aethex did not print its metrics URL");
        let embedded = env.iter().any(|(k, v)| k == "AETHEX_EDGE__EMBEDDED" && v == "true");
        let edge_url = embedded.then(|| rx.recv_timeout(Duration::from_secs(30)).expect("aethex did not print its edge URL within 30 s").1);
        let ca_pem = env.iter().find(|(k, _)| k == "AETHEX_TLS__EXTRA_CA_FILE").map(|(_, v)| std::fs::read(v).expect("extra CA file"));
        Self { url, edge_url, metrics_url, data_dir: data_dir.to_path_buf(), child, _tmp: None, env, sqld: None, _stderr: stderr, ca_pem }
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        self.child.kill()
    }

    /// Kills the process and starts a new one on the same data folder, settings and port.
    pub fn restart_after_kill(self) -> Self {
        self.restart_after_kill_with(|_| {})
    }

    /// As [`Self::restart_after_kill`], running `between` on the data folder while no
    /// process holds it (to put a backup in place, say).
    pub fn restart_after_kill_with(mut self, between: impl FnOnce(&Path)) -> Self {
        self.kill();
        between(&self.data_dir);
        let addr = self.url.trim_start_matches("http://").to_string();
        let mut env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.push(("AETHEX_SERVER__LISTEN", &addr));
        let mut new = Origin::start_in(&self.data_dir, &env);
        new._tmp = self._tmp.take();
        new.sqld = self.sqld.take();
        new
    }

    pub fn sdk(&self) -> AeThexCloud {
        sdk_for(&self.url, self.ca_pem.as_deref())
    }

    /// An HTTP client trusting the origin's CA, if it has one.
    pub fn http(&self) -> reqwest::Client {
        http_trusting(self.ca_pem.as_deref())
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("aethex.db")
    }

    /// Its analytics database, opened beside it: `<data_dir>/analytics.db`, or on a libSQL
    /// server the main database (which then holds the analytics tables).
    pub async fn analytics_database(&self) -> libsql::Database {
        match &self.sqld {
            Some(_) => self.database().await,
            None => libsql::Builder::new_local(self.data_dir.join("analytics.db")).build().await.expect("open the analytics file"),
        }
    }

    /// Its main database, opened beside it: the local file, or the libSQL server it runs on.
    pub async fn database(&self) -> libsql::Database {
        match &self.sqld {
            Some(s) => libsql::Builder::new_remote(s.url.clone(), String::new()).build().await.expect("open sqld"),
            None => libsql::Builder::new_local(self.db_path()).build().await.expect("open the database file"),
        }
    }

    /// Messages written to the email outbox, oldest first.
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.data_dir.join("outbox");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => return vec![],
        };
        files.sort();
        files.into_iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
    }

    /// The token of the newest outbox message to `to` whose subject contains `subject`.
    /// Some messages are written after the request answered (password resets): waits up
    /// to 5 s for one.
    pub fn token_from_outbox(&self, to: &str, subject: &str) -> Option<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let found = self
                .outbox()
                .into_iter()
                .rev()
                .find(|m| m.contains(&format!("To: {to}")) && m.contains(subject))
                .and_then(|m| m.lines().find_map(|l| l.trim().strip_prefix("Token: ").map(|t| t.trim().to_string())));
            if found.is_some() || std::time::Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Registers a developer, an organization and a game; returns the fixture.
    pub async fn game(&self, game_id: &str) -> GameFixture {
        let dev = self.sdk();
        let email = format!("dev-{}@studio.test", uuid::Uuid::new_v4().simple());
        let username = format!("dev{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        dev.auth().register(&email, "developer-password", &username).await.expect("register developer");
        let token = dev.token().expect("token");
        let c = self.http();
        let org: Value = c
            .post(format!("{}/api/v1/orgs", self.url))
            .bearer_auth(&token)
            .json(&json!({"name": "Test Studio"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let org_id = org["org_id"].as_str().expect("org_id").to_string();
        let game: Value = c
            .post(format!("{}/api/v1/orgs/{org_id}/games", self.url))
            .bearer_auth(&token)
            .json(&json!({"game_id": game_id, "name": "Test Game"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let client_key = game["client_key"].as_str().expect("client_key").to_string();
        GameFixture {
            url: self.url.clone(),
            ca_pem: self.ca_pem.clone(),
            org_id,
            game_id: game_id.to_string(),
            client_key,
            developer: dev,
            developer_email: email,
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct GameFixture {
    pub url: String,
    /// The CA origin's certificate is signed by, when it serves HTTPS.
    pub ca_pem: Option<Vec<u8>>,
    pub org_id: String,
    pub game_id: String,
    pub client_key: String,
    /// Signed-in owner of the organization.
    pub developer: AeThexCloud,
    pub developer_email: String,
}

impl GameFixture {
    /// A client for this game (not signed in).
    pub fn client(&self) -> AeThexCloud {
        sdk_for(&self.url, self.ca_pem.as_deref()).with_client_key(&self.client_key)
    }

    /// Creates leaderboard `id` of the game (`operator`: best, latest, sum, ...) as its
    /// developer.
    pub async fn create_leaderboard(&self, id: &str, operator: &str) {
        let answer = http_trusting(self.ca_pem.as_deref())
            .post(format!("{}/api/v1/games/{}/leaderboards", self.url, self.game_id))
            .bearer_auth(self.developer.token().expect("the developer is signed in"))
            .json(&serde_json::json!({"leaderboard_id": id, "name": id, "operator": operator}))
            .send()
            .await
            .expect("create leaderboard");
        assert!(answer.status().is_success(), "creating leaderboard {id}: {}", answer.text().await.unwrap_or_default());
    }

    /// A new guest player of this game, signed in.
    pub async fn player(&self) -> AeThexCloud {
        let c = self.client();
        c.auth().login_device(&format!("device-{}", uuid::Uuid::new_v4().simple())).await.expect("device login");
        c
    }

    /// A guest of this game (its own device id) that linked `email` with a password of its
    /// own, without owning the address: what an account pre-hijacker does. Returns (the
    /// device id, the signed-in client).
    pub async fn guest_claiming(&self, email: &str, password: &str) -> (String, AeThexCloud) {
        let device = format!("claimant-device-{}", uuid::Uuid::new_v4().simple());
        let c = self.client();
        c.auth().login_device(&device).await.expect("device login");
        c.auth().link_email(email, password).await.expect("link email");
        (device, c)
    }

    /// A new email player of this game, signed in. Returns (client, email, password).
    pub async fn email_player(&self) -> (AeThexCloud, String, String) {
        let c = self.client();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let email = format!("player-{id}@example.com");
        let password = "player-password-1".to_string();
        c.auth().register(&email, &password, &format!("p{}", &id[..12])).await.expect("register player");
        (c, email, password)
    }
}

/// An HTTP client that also trusts the CAs of `ca_pem` (a test's own CA).
pub fn http_trusting(ca_pem: Option<&[u8]>) -> reqwest::Client {
    let mut b = reqwest::Client::builder();
    for c in ca_pem.map(|p| reqwest::Certificate::from_pem_bundle(p).expect("CA PEM")).unwrap_or_default() {
        b = b.add_root_certificate(c);
    }
    b.build().expect("HTTP client")
}

/// Starts a server that takes a port number (not a listener) on a free port of 127.0.0.1,
/// with a temporary folder of its own. `spawn(port, folder)` starts it; `ready(port)` says
/// whether it answers as itself. Another process may take the port between the OS handing
/// it out and the server binding it, so a start that does not become ready within
/// `within` is killed and tried again on a new port (10 tries).
pub fn start_on_free_port(
    what: &str,
    within: Duration,
    mut spawn: impl FnMut(u16, &Path) -> std::process::Child,
    ready: impl Fn(u16) -> bool,
) -> (Proc, u16, tempfile::TempDir) {
    for _ in 0..10 {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let mut child = Proc(Some(spawn(port, dir.path())));
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline && !child.exited() {
            if ready(port) {
                return (child, port, dir);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill();
    }
    panic!("{what} did not start on a free port in 10 tries");
}

/// `GET url` with a bearer token: the answer's JSON (a test's read of what it checks).
pub async fn get_json(url: &str, token: &str) -> Value {
    let resp = reqwest::Client::new().get(url).bearer_auth(token).send().await.expect("request");
    resp.json().await.expect("a JSON answer")
}

/// A POST with a JSON body built by hand (for malformed-input tests).
pub async fn raw(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Asserts the seed's error shape: `{"jsonrpc":"2.0","error":{"code":int,"message":str,"data":{...}}}`.
pub fn assert_error_shape(body: &Value) -> &Value {
    assert_eq!(body["jsonrpc"], "2.0", "not an error envelope: {body}");
    let err = &body["error"];
    assert!(err["code"].is_i64(), "error.code missing: {body}");
    assert!(err["message"].is_string(), "error.message missing: {body}");
    assert!(err["data"].is_object(), "error.data missing: {body}");
    assert!(err["data"]["reason"].is_string(), "error.data.reason missing: {body}");
    err
}

/// A real OAuth 2.0 / OIDC server (npm `oauth2-mock-server`) on 127.0.0.1, configured by
/// `tests/oauth/mock-oauth.mjs`. Killed on drop.
pub struct OAuthServer {
    pub issuer: String,
    child: Child,
}

impl OAuthServer {
    pub fn start() -> Self {
        let npm_dir =
            std::env::var("AETHEX_NPM_DIR").unwrap_or_else(|_| format!("{}/.cache/aethex-tools/npm", std::env::var("HOME").unwrap_or_default()));
        assert!(
            Path::new(&npm_dir).join("node_modules/oauth2-mock-server").exists(),
            "oauth2-mock-server is not installed in {npm_dir}; run scripts/test-all.sh (it installs it)"
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("oauth/mock-oauth.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("AETHEX_NPM_DIR", &npm_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read issuer");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("mock OAuth server said {line:?}: {e}"));
        Self { issuer: v["issuer"].as_str().expect("issuer").to_string(), child }
    }

    /// `AETHEX_*` settings that point a provider of the origin at this server.
    pub fn provider_env(&self, provider: &str) -> Vec<(String, String)> {
        let p = provider.to_ascii_uppercase();
        let k = |s: &str| format!("AETHEX_AUTH__OAUTH__{p}__{s}");
        vec![
            (k("CLIENT_ID"), format!("{provider}-client")),
            (k("CLIENT_SECRET"), format!("{provider}-secret")),
            (k("AUTHORIZE_URL"), format!("{}/authorize", self.issuer)),
            (k("TOKEN_URL"), format!("{}/token", self.issuer)),
            (k("USERINFO_URL"), format!("{}/userinfo", self.issuer)),
            (k("JWKS_URL"), format!("{}/jwks", self.issuer)),
            (k("ISSUER"), self.issuer.clone()),
        ]
    }
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS` of /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User + system CPU seconds of process `pid` (/proc/<pid>/stat, 100 Hz ticks).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
}

/// CPUs for the load generator and for the servers under test when they can be kept apart
/// (two or more cores): the generator on CPU 0, the servers on the rest, so that the
/// instrument does not take the servers' CPU. `None` on one core.
pub fn cpu_split() -> Option<(String, String)> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cores >= 2).then(|| ("0".to_string(), if cores == 2 { "1".to_string() } else { format!("1-{}", cores - 1) }))
}

/// Pins every thread of process `pid` to `cpus` (taskset's list form, e.g. "1-3"); threads
/// it starts later inherit that. Says why when it could not.
pub fn pin(pid: u32, cpus: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .output()
        .map_err(|e| anyhow::anyhow!("run taskset: {e}"))?;
    anyhow::ensure!(out.status.success(), "taskset {cpus} {pid}: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}
