//! The S3 blob store end to end: a real S3-compatible server (moto, from PyPI, installed by
//! `scripts/install-tools.sh`) on 127.0.0.1, the real `aethex` binary started with
//! `[storage] blobs = "s3"`, chunks uploaded and read through origin's DLC routes and
//! looked at in the bucket with plain S3 requests.
//!
//! moto is found at `$AETHEX_MOTO_DIR`, else `$AETHEX_TOOLS_DIR/moto-<version>`, else
//! `~/.cache/aethex-tools/moto-<version>`, and run by the machine's `python3`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aethex_tests::{aethex_bin, assert_error_shape, GameFixture, Origin};
use reqwest::Method;
use serde_json::{json, Value};

/// Must equal `MOTO_VERSION` in scripts/install-tools.sh.
const MOTO_VERSION: &str = "5.2.5";
const BUCKET: &str = "aethex-dlc";
const PREFIX: &str = "e2e/prod";

/// A moto server on 127.0.0.1 (a port it picks). Killed on drop.
struct Moto {
    url: String,
    child: Child,
}

impl Moto {
    fn start() -> Self {
        let dir = std::env::var_os("AETHEX_MOTO_DIR").map(PathBuf::from).unwrap_or_else(|| {
            let tools = std::env::var_os("AETHEX_TOOLS_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/aethex-tools"));
            tools.join(format!("moto-{MOTO_VERSION}"))
        });
        assert!(dir.join("moto").is_dir(), "moto is not installed in {}: run scripts/install-tools.sh or set AETHEX_MOTO_DIR", dir.display());
        let mut child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
            .env("PYTHONPATH", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python3 -m moto.server");
        // Werkzeug names the port it bound on stderr (` * Running on http://127.0.0.1:PORT`),
        // then logs every request there: keep reading so the pipe never fills.
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("Running on ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("[moto] {line}");
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(60)).expect("moto did not say where it listens within 60 s");
        Self { url, child }
    }

    fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    /// A request as the access key origin uses. moto checks no signatures (its IAM auth is
    /// off), but it answers unsigned requests for private objects 403, so this carries a
    /// well-formed SigV4 `Authorization` header with a dummy signature.
    fn signed(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let auth = "AWS4-HMAC-SHA256 Credential=aethex-test/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";
        self.http().request(method, format!("{}/{path}", self.url)).header("authorization", auth)
    }

    /// Creates a bucket (moto takes unsigned requests).
    async fn create_bucket(&self, bucket: &str) {
        let r = self.http().put(format!("{}/{bucket}", self.url)).send().await.expect("PUT bucket");
        assert!(r.status().is_success(), "creating the bucket: {}", r.status());
    }

    /// Every key in the bucket (ListObjectsV2, one page: the tests store a handful).
    async fn keys(&self, bucket: &str) -> Vec<String> {
        let r = self.http().get(format!("{}/{bucket}?list-type=2", self.url)).send().await.expect("list bucket");
        assert!(r.status().is_success(), "listing the bucket: {}", r.status());
        let xml = r.text().await.unwrap();
        assert!(xml.contains("<IsTruncated>false</IsTruncated>"), "{xml}");
        xml.split("<Key>").skip(1).filter_map(|s| s.split("</Key>").next()).map(str::to_string).collect()
    }

    async fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let r = self.signed(Method::GET, &format!("{bucket}/{key}")).send().await.expect("GET object");
        match r.status().as_u16() {
            200 => Some(r.bytes().await.unwrap().to_vec()),
            404 => None,
            s => panic!("GET {key}: {s}"),
        }
    }

    async fn delete_object(&self, bucket: &str, key: &str) {
        let r = self.signed(Method::DELETE, &format!("{bucket}/{key}")).send().await.expect("DELETE object");
        assert!(r.status().is_success(), "deleting {key}: {}", r.status());
    }

    /// The `AETHEX_*` settings that point origin's blob store at `bucket` here.
    fn origin_env<'a>(&'a self, bucket: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("AETHEX_STORAGE__BLOBS", "s3"),
            ("AETHEX_STORAGE__S3_BUCKET", bucket),
            ("AETHEX_STORAGE__S3_ENDPOINT", &self.url),
            ("AETHEX_STORAGE__S3_REGION", "us-east-1"),
            ("AETHEX_STORAGE__S3_ACCESS_KEY_ID", "aethex-test"),
            ("AETHEX_STORAGE__S3_SECRET_ACCESS_KEY", "aethex-test-secret"),
            ("AETHEX_STORAGE__S3_ALLOW_HTTP", "true"),
            ("AETHEX_STORAGE__S3_PREFIX", PREFIX),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chunk_key(game: &str, id: &str) -> String {
    format!("{PREFIX}/chunks/{game}/{}/{id}", &id[..2])
}

/// A server key of the fixture's game (publishing routes take it as a bearer token).
async fn server_key(game: &GameFixture) -> String {
    let path = format!("/api/v1/games/{}/server-keys", game.game_id);
    let key: Value = game.developer.request(Method::POST, &path, Some(&json!({"name": "publisher"})), true).await.unwrap();
    key["key"].as_str().expect("server key").to_string()
}

async fn upload(origin: &Origin, key: &str, game: &str, id: &str, encoding: &str, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .put(format!("{}/api/v1/games/{game}/chunks/{id}", origin.url))
        .bearer_auth(key)
        .header("x-aethex-chunk-encoding", encoding)
        .body(body)
        .send()
        .await
        .expect("upload chunk");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// (status, body, x-aethex-chunk-encoding)
async fn download(origin: &Origin, game: &str, id: &str) -> (u16, Vec<u8>, String) {
    let r = reqwest::Client::new().get(format!("{}/api/v1/dlc/{game}/chunks/{id}", origin.url)).send().await.expect("download chunk");
    let status = r.status().as_u16();
    let encoding = r.headers().get("x-aethex-chunk-encoding").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (status, r.bytes().await.unwrap().to_vec(), encoding)
}

fn bytes_of(seed: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed).to_le_bytes()[1]).collect()
}

#[tokio::test]
async fn chunks_go_to_and_come_from_an_s3_bucket() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET).await;
    let origin = Origin::start(&moto.origin_env(BUCKET));
    let game = origin.game("s3-game").await;
    let key = server_key(&game).await;

    // Start-up wrote its probe under the prefix, and nothing else.
    assert_eq!(moto.keys(BUCKET).await, vec![format!("{PREFIX}/probe/origin-start-up")]);

    // An identity chunk: stored as sent, served as stored.
    let plain = bytes_of(1, 300 * 1024);
    let id = blake3::hash(&plain).to_hex().to_string();
    let (status, body) = upload(&origin, &key, "s3-game", &id, "identity", plain.clone()).await;
    assert_eq!((status, &body["chunk_id"]), (201, &json!(id)), "{body}");
    assert_eq!(moto.object(BUCKET, &chunk_key("s3-game", &id)).await.as_deref(), Some(&plain[..]), "the object holds the chunk");
    let (status, got, encoding) = download(&origin, "s3-game", &id).await;
    assert_eq!((status, encoding.as_str()), (200, "identity"));
    assert!(got == plain, "downloaded bytes differ ({} vs {} bytes)", got.len(), plain.len());
    // Uploading it again is answered "already held".
    assert_eq!(upload(&origin, &key, "s3-game", &id, "identity", plain.clone()).await.0, 200);

    // A zstd chunk: the bucket holds the compressed frame, served with its encoding.
    let plain2 = b"level data ".repeat(20_000);
    let id2 = blake3::hash(&plain2).to_hex().to_string();
    let frame = zstd::encode_all(&plain2[..], 3).unwrap();
    assert_eq!(upload(&origin, &key, "s3-game", &id2, "zstd", frame.clone()).await.0, 201);
    assert_eq!(moto.object(BUCKET, &chunk_key("s3-game", &id2)).await.as_deref(), Some(&frame[..]));
    let (status, got, encoding) = download(&origin, "s3-game", &id2).await;
    assert_eq!((status, encoding.as_str()), (200, "zstd"));
    assert_eq!(zstd::decode_all(&got[..]).unwrap(), plain2);

    let mut expected = vec![chunk_key("s3-game", &id), chunk_key("s3-game", &id2), format!("{PREFIX}/probe/origin-start-up")];
    expected.sort();
    let mut keys = moto.keys(BUCKET).await;
    keys.sort();
    assert_eq!(keys, expected);

    // Bytes that do not hash to the id are refused and nothing is stored.
    let claimed = blake3::hash(b"what the id promises").to_hex().to_string();
    let (status, body) = upload(&origin, &key, "s3-game", &claimed, "identity", b"something else".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert_error_shape(&body);
    assert_eq!(download(&origin, "s3-game", &claimed).await.0, 404);
    let mut keys = moto.keys(BUCKET).await;
    keys.sort();
    assert_eq!(keys, expected, "a refused upload leaves the bucket as it was");

    // A blob that vanished from the bucket is a 404 (the store's get says None), not a 500.
    moto.delete_object(BUCKET, &chunk_key("s3-game", &id2)).await;
    assert_eq!(download(&origin, "s3-game", &id2).await.0, 404);
    assert_eq!(download(&origin, "s3-game", &id).await.0, 200, "the other chunk is still there");
}

#[tokio::test]
async fn garbage_collection_deletes_unused_chunks_from_the_bucket() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET).await;
    let mut env = moto.origin_env(BUCKET);
    env.extend([("AETHEX_DLC__CHUNK_GRACE_SECS", "0"), ("AETHEX_DLC__GC_INTERVAL_SECS", "1")]);
    let origin = Origin::start(&env);
    let game = origin.game("gc-game").await;
    let key = server_key(&game).await;
    let plain = bytes_of(7, 64 * 1024);
    let id = blake3::hash(&plain).to_hex().to_string();
    assert_eq!(upload(&origin, &key, "gc-game", &id, "identity", plain).await.0, 201);
    // No release uses it and its grace is 0 s: the next sweep deletes row and object.
    let object = chunk_key("gc-game", &id);
    let deadline = Instant::now() + Duration::from_secs(20);
    while moto.object(BUCKET, &object).await.is_some() {
        assert!(Instant::now() < deadline, "the chunk's object was not collected within 20 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(download(&origin, "gc-game", &id).await.0, 404);
    assert_eq!(moto.keys(BUCKET).await, vec![format!("{PREFIX}/probe/origin-start-up")], "only the probe is left");
}

/// Runs `aethex serve` until it exits (it should refuse to start); returns its exit
/// success and what it wrote to stderr.
fn serve_until_exit(env: &[(&str, &str)]) -> (bool, String) {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(aethex_bin())
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AETHEX_SERVER__LISTEN", "127.0.0.1:0")
        .env("AETHEX_STORAGE__DATA_DIR", tmp.path())
        .env("AETHEX_EDGE__EMBEDDED", "false")
        .env("AETHEX_LOG__LEVEL", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn aethex");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("aethex was expected to refuse to start but still runs after 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.success(), stderr)
}

#[tokio::test]
async fn a_missing_or_unset_bucket_stops_start_up() {
    let moto = Moto::start();
    // The bucket was never created: the start-up probe fails and names it.
    let (ok, stderr) = serve_until_exit(&moto.origin_env("no-such-bucket"));
    assert!(!ok && stderr.contains("no-such-bucket"), "{stderr}");
    // `s3` without a bucket.
    let (ok, stderr) = serve_until_exit(&[("AETHEX_STORAGE__BLOBS", "s3")]);
    assert!(!ok && stderr.contains("s3_bucket is required"), "{stderr}");
}
