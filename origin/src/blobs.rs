//! The content-addressed blob store: DLC chunks, keyed `chunks/<game>/<id[0..2]>/<id>`.
//! A local folder by default (`<data_dir>/blobs`); S3-compatible object storage when
//! configured. Blobs are immutable: a key is written once (a second write of the same
//! content-addressed key is a no-op) and read many times.

use std::path::{Path, PathBuf};
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{ObjectStoreExt, RetryConfig};

use crate::config::{BlobBackend, StorageConfig};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob store io: {0}")]
    Io(#[from] std::io::Error),
    #[error("object store: {0}")]
    Remote(String),
    #[error("bad blob key {0:?}")]
    BadKey(String),
    #[error("blob store settings: {0}")]
    Config(String),
}

pub type BlobResult<T> = Result<T, BlobError>;

/// Where blobs live.
pub enum Blobs {
    Local(LocalBlobs),
    S3(S3Blobs),
}

impl Blobs {
    /// The store `[storage]` configures: `<data_dir>/blobs`, or an S3-compatible bucket
    /// (checked here by writing a probe object, so a wrong bucket, endpoint or key stops
    /// start-up instead of failing the first upload).
    pub async fn open(storage: &StorageConfig) -> BlobResult<Self> {
        match storage.blobs {
            BlobBackend::Local => Ok(Blobs::Local(LocalBlobs::new(&storage.data_dir.join("blobs"))?)),
            BlobBackend::S3 => {
                let s3 = S3Blobs::new(storage)?;
                s3.probe().await?;
                Ok(Blobs::S3(s3))
            }
        }
    }

    /// Writes a blob. Keys are content-addressed, so writing a key again is harmless.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> BlobResult<()> {
        match self {
            Blobs::Local(l) => l.put(key, bytes).await,
            Blobs::S3(s) => s.put(key, bytes).await,
        }
    }

    /// The whole blob, or `None`.
    pub async fn get(&self, key: &str) -> BlobResult<Option<Vec<u8>>> {
        match self {
            Blobs::Local(l) => l.get(key).await,
            Blobs::S3(s) => s.get(key).await,
        }
    }

    /// Removes a blob; removing an absent one is not an error.
    pub async fn delete(&self, key: &str) -> BlobResult<()> {
        match self {
            Blobs::Local(l) => l.delete(key).await,
            Blobs::S3(s) => s.delete(key).await,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Blobs::Local(l) => format!("folder {}", l.root.display()),
            Blobs::S3(s) => s.describe(),
        }
    }
}

/// The blob key of a chunk.
pub fn chunk_key(game_id: &str, chunk_id: &str) -> String {
    format!("chunks/{game_id}/{}/{chunk_id}", &chunk_id[..2.min(chunk_id.len())])
}

/// Keys are `/`-separated segments of `[a-z0-9_-]` (what [`chunk_key`] makes); anything
/// else is refused so a key can never leave the store's folder.
fn check_key(key: &str) -> BlobResult<()> {
    let ok = !key.is_empty()
        && key.split('/').all(|seg| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
    if ok {
        Ok(())
    } else {
        Err(BlobError::BadKey(key.to_string()))
    }
}

/// Blobs as files under a folder; writes go to a temporary file that is fsynced and
/// renamed into place, so a blob is either absent or whole.
pub struct LocalBlobs {
    root: PathBuf,
    /// Bounds the file reads and writes in flight. Each runs on tokio's blocking pool;
    /// unbounded, hundreds of concurrent chunk reads grew that pool (and the allocator's
    /// per-thread caches) to over a gigabyte of resident memory.
    io: tokio::sync::Semaphore,
}

impl LocalBlobs {
    pub fn new(root: &Path) -> BlobResult<Self> {
        std::fs::create_dir_all(root)?;
        let permits = std::thread::available_parallelism().map(|n| n.get() * 4).unwrap_or(8);
        Ok(Self { root: root.to_path_buf(), io: tokio::sync::Semaphore::new(permits) })
    }

    fn path(&self, key: &str) -> BlobResult<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> BlobResult<()> {
        let path = self.path(key)?;
        let _permit = self.io.acquire().await.map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            // Always (re)written: a blob left by a write whose row never landed may hold
            // another encoding of the same chunk; the rename replaces it atomically.
            let dir = path.parent().expect("blob keys have a folder");
            std::fs::create_dir_all(dir)?;
            let tmp = dir.join(format!(".{}.{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("blob"), uuid::Uuid::new_v4().simple()));
            {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(dir)?.sync_all()
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
        Ok(())
    }

    async fn get(&self, key: &str) -> BlobResult<Option<Vec<u8>>> {
        let path = self.path(key)?;
        let _permit = self.io.acquire().await.map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, key: &str) -> BlobResult<()> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Blobs as objects of an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO), under an
/// optional key prefix. Path-style requests when an endpoint is set (what MinIO and R2 expect).
pub struct S3Blobs {
    store: AmazonS3,
    bucket: String,
    endpoint: String,
    region: String,
    /// `""` or `a/b` (no leading or trailing `/`).
    prefix: String,
}

impl S3Blobs {
    /// The key written by the start-up probe (outside `chunks/`, so nothing collects it).
    const PROBE_KEY: &'static str = "probe/origin-start-up";

    pub fn new(c: &StorageConfig) -> BlobResult<Self> {
        c.check_blobs().map_err(BlobError::Config)?;
        let prefix = c.s3_prefix.trim_matches('/').to_string();
        if !prefix.is_empty() {
            object_store::path::Path::parse(&prefix).map_err(|e| BlobError::Config(format!("storage.s3_prefix {:?}: {e}", c.s3_prefix)))?;
        }
        // Explicit keys use nothing from the environment; without them the standard AWS
        // chain applies (AWS_* variables, a web identity token, the container's or
        // instance's role).
        let mut b = if c.s3_access_key_id.is_empty() {
            AmazonS3Builder::from_env()
        } else {
            AmazonS3Builder::new().with_access_key_id(&c.s3_access_key_id).with_secret_access_key(c.s3_secret_access_key.expose())
        };
        b = b
            .with_bucket_name(c.s3_bucket.trim())
            .with_region(&c.s3_region)
            .with_allow_http(c.s3_allow_http)
            // A chunk request should fail within a client's patience, not after the
            // default three minutes of retries.
            .with_retry(RetryConfig { max_retries: 3, retry_timeout: Duration::from_secs(30), ..Default::default() });
        if !c.s3_endpoint.is_empty() {
            b = b.with_endpoint(c.s3_endpoint.trim_end_matches('/'));
        }
        let store = b.build().map_err(|e| BlobError::Config(e.to_string()))?;
        Ok(Self {
            store,
            bucket: c.s3_bucket.trim().to_string(),
            endpoint: c.s3_endpoint.trim_end_matches('/').to_string(),
            region: c.s3_region.clone(),
            prefix,
        })
    }

    fn path(&self, key: &str) -> BlobResult<object_store::path::Path> {
        check_key(key)?;
        let full = if self.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", self.prefix) };
        object_store::path::Path::parse(&full).map_err(|_| BlobError::BadKey(key.to_string()))
    }

    /// Writes a small object: proves the bucket exists and the credentials may write.
    async fn probe(&self) -> BlobResult<()> {
        let path = self.path(Self::PROBE_KEY)?;
        self.store
            .put(&path, b"aethex origin checks the bucket at start-up".to_vec().into())
            .await
            .map_err(|e| BlobError::Remote(format!("cannot write to {}: {e}", self.describe())))?;
        Ok(())
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> BlobResult<()> {
        // A plain PUT: S3 writes are atomic (an object is absent or whole) and the key is
        // content-addressed, so a repeated write stores the same object again.
        let path = self.path(key)?;
        self.store.put(&path, bytes.into()).await.map_err(remote)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> BlobResult<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match self.store.get(&path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(remote)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(remote(e)),
        }
    }

    async fn delete(&self, key: &str) -> BlobResult<()> {
        let path = self.path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(remote(e)),
        }
    }

    fn describe(&self) -> String {
        let at = if self.endpoint.is_empty() { format!("AWS S3 ({})", self.region) } else { self.endpoint.clone() };
        let prefix = if self.prefix.is_empty() { String::new() } else { format!(", prefix {}/", self.prefix) };
        format!("S3 bucket {} at {at}{prefix}", self.bucket)
    }
}

fn remote(e: object_store::Error) -> BlobError {
    BlobError::Remote(e.to_string())
}

#[cfg(test)]
mod tests {
    // figment's `Jail::expect_with` takes closures returning its own (large) error type.
    #![allow(clippy::result_large_err)]

    use super::*;

    #[tokio::test]
    async fn local_blobs_round_trip_and_refuse_odd_keys() {
        let dir = tempfile::tempdir().unwrap();
        let b = Blobs::Local(LocalBlobs::new(dir.path()).unwrap());
        let key = chunk_key("my-game", &"ab".repeat(32));
        assert_eq!(b.get(&key).await.unwrap(), None);
        b.put(&key, b"hello".to_vec()).await.unwrap();
        assert_eq!(b.get(&key).await.unwrap().as_deref(), Some(&b"hello"[..]));
        // A second write replaces the blob whole (another encoding of the same chunk).
        b.put(&key, b"hello, again".to_vec()).await.unwrap();
        assert_eq!(b.get(&key).await.unwrap().as_deref(), Some(&b"hello, again"[..]));
        b.delete(&key).await.unwrap();
        assert_eq!(b.get(&key).await.unwrap(), None);
        for bad in ["../x", "chunks/../../etc/passwd", "/abs", "a//b", "A/B", ""] {
            assert!(b.put(bad, vec![1]).await.is_err(), "{bad}");
        }
    }

    fn s3_config() -> StorageConfig {
        StorageConfig {
            blobs: BlobBackend::S3,
            s3_bucket: "dlc".into(),
            s3_endpoint: "http://127.0.0.1:9/".into(),
            s3_allow_http: true,
            s3_access_key_id: "id".into(),
            s3_secret_access_key: crate::config::Secret::new("secret"),
            s3_prefix: "/aethex/prod/".into(),
            ..Default::default()
        }
    }

    #[test]
    fn s3_settings_are_checked() {
        assert!(StorageConfig::default().check_blobs().is_ok(), "local needs nothing");
        assert!(s3_config().check_blobs().is_ok());
        let no_bucket = StorageConfig { s3_bucket: " ".into(), ..s3_config() };
        assert!(no_bucket.check_blobs().unwrap_err().contains("s3_bucket is required"));
        let half_key = StorageConfig { s3_secret_access_key: Default::default(), ..s3_config() };
        assert!(half_key.check_blobs().is_err());
        let plain_http = StorageConfig { s3_allow_http: false, ..s3_config() };
        assert!(plain_http.check_blobs().unwrap_err().contains("s3_allow_http"));
        assert!(S3Blobs::new(&StorageConfig { s3_prefix: "a//b".into(), ..s3_config() }).is_err(), "a prefix with an empty segment");
    }

    #[test]
    fn s3_backend_is_chosen_by_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("AETHEX_STORAGE__BLOBS", "s3");
            jail.set_env("AETHEX_STORAGE__S3_BUCKET", "dlc");
            jail.set_env("AETHEX_STORAGE__S3_SECRET_ACCESS_KEY", "s3-secret-123");
            let c = crate::config::Config::load(None).expect("loads");
            assert_eq!((c.storage.blobs, c.storage.s3_bucket.as_str(), c.storage.s3_region.as_str()), (BlobBackend::S3, "dlc", "us-east-1"));
            assert!(!format!("{c:?}").contains("s3-secret-123"), "the secret never prints");
            jail.set_env("AETHEX_STORAGE__BLOBS", "gcs");
            assert!(crate::config::Config::load(None).is_err(), "an unknown backend is an error");
            Ok(())
        });
    }

    #[tokio::test]
    async fn s3_keys_are_prefixed_and_checked_before_any_request() {
        let s = S3Blobs::new(&s3_config()).unwrap();
        let key = chunk_key("my-game", &"cd".repeat(32));
        assert_eq!(s.path(&key).unwrap().as_ref(), format!("aethex/prod/{key}"));
        assert_eq!(s.describe(), "S3 bucket dlc at http://127.0.0.1:9, prefix aethex/prod/");
        let b = Blobs::S3(s);
        // Nothing listens on port 9: these fail on the key, before the network.
        for bad in ["../x", "a//b", "A/B", ""] {
            assert!(matches!(b.put(bad, vec![1]).await, Err(BlobError::BadKey(_))), "{bad}");
            assert!(matches!(b.get(bad).await, Err(BlobError::BadKey(_))), "{bad}");
        }
    }
}
