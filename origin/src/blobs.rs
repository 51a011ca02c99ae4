//! The content-addressed blob store: DLC chunks, keyed `chunks/<game>/<id[0..2]>/<id>`.
//! A local folder by default (`<data_dir>/blobs`); S3-compatible object storage when
//! configured. Blobs are immutable: a key is written once (a second write of the same
//! content-addressed key is a no-op) and read many times.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob store io: {0}")]
    Io(#[from] std::io::Error),
    #[error("object store: {0}")]
    Remote(String),
    #[error("bad blob key {0:?}")]
    BadKey(String),
}

pub type BlobResult<T> = Result<T, BlobError>;

/// Where blobs live.
pub enum Blobs {
    Local(LocalBlobs),
}

impl Blobs {
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> BlobResult<()> {
        match self {
            Blobs::Local(l) => l.put(key, bytes).await,
        }
    }

    /// The whole blob, or `None`.
    pub async fn get(&self, key: &str) -> BlobResult<Option<Vec<u8>>> {
        match self {
            Blobs::Local(l) => l.get(key).await,
        }
    }

    pub async fn delete(&self, key: &str) -> BlobResult<()> {
        match self {
            Blobs::Local(l) => l.delete(key).await,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Blobs::Local(l) => format!("folder {}", l.root.display()),
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
}

impl LocalBlobs {
    pub fn new(root: &Path) -> BlobResult<Self> {
        std::fs::create_dir_all(root)?;
        Ok(Self { root: root.to_path_buf() })
    }

    fn path(&self, key: &str) -> BlobResult<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> BlobResult<()> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if path.exists() {
                return Ok(());
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_blobs_round_trip_and_refuse_odd_keys() {
        let dir = tempfile::tempdir().unwrap();
        let b = Blobs::Local(LocalBlobs::new(dir.path()).unwrap());
        let key = chunk_key("my-game", &"ab".repeat(32));
        assert_eq!(b.get(&key).await.unwrap(), None);
        b.put(&key, b"hello".to_vec()).await.unwrap();
        b.put(&key, b"ignored: content-addressed".to_vec()).await.unwrap();
        assert_eq!(b.get(&key).await.unwrap().as_deref(), Some(&b"hello"[..]));
        b.delete(&key).await.unwrap();
        assert_eq!(b.get(&key).await.unwrap(), None);
        for bad in ["../x", "chunks/../../etc/passwd", "/abs", "a//b", "A/B", ""] {
            assert!(b.put(bad, vec![1]).await.is_err(), "{bad}");
        }
    }
}
