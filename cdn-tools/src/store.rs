//! Chunks as stored and served: zstd when that made them smaller, the plain bytes
//! otherwise, named by the blake3 of the plain bytes, under `chunks/<id[0..2]>/<id>` (the
//! two-hex fan-out keeps folders at a few thousand entries for multi-GiB builds).

use std::fs;
use std::path::{Path, PathBuf};

use aethex_protocol::dlc::{is_blake3_hex, ChunkInfo, Compression};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;

/// zstd level for chunks. Level 3 measured best (README, "Compression level"): higher
/// levels cost 2-5x the CPU for a few percent smaller chunks.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// The blake3 id (64 lower-case hex) of plain bytes.
pub fn chunk_id(plain: &[u8]) -> String {
    blake3::hash(plain).to_hex().to_string()
}

/// Compresses a chunk and keeps the compressed form only if it is smaller.
pub fn encode(compressor: &mut zstd::bulk::Compressor<'_>, plain: &[u8]) -> Result<(Vec<u8>, Compression)> {
    let mut buf = Vec::new();
    Ok(match encode_into(compressor, plain, &mut buf)? {
        Compression::Zstd => (buf, Compression::Zstd),
        Compression::Identity => (plain.to_vec(), Compression::Identity),
    })
}

/// [`encode`] without allocating: compresses into `buf` (reused between chunks) and says
/// which form to store: `Zstd` (the bytes in `buf`) or `Identity` (the plain bytes).
pub fn encode_into(compressor: &mut zstd::bulk::Compressor<'_>, plain: &[u8], buf: &mut Vec<u8>) -> Result<Compression> {
    buf.clear();
    buf.reserve(zstd::zstd_safe::compress_bound(plain.len()));
    compressor.compress_to_buffer(plain, buf).map_err(|e| Error::io("<zstd>", e))?;
    Ok(if buf.len() < plain.len() { Compression::Zstd } else { Compression::Identity })
}

/// Turns stored bytes back into the plain chunk and checks its size and blake3 against
/// the chunk table. Decompression is bounded by the expected size, so a hostile server
/// cannot make a client inflate a zstd bomb.
pub fn decode_verified(info: &ChunkInfo, stored: &[u8], encoding: Compression) -> Result<Vec<u8>> {
    let bad = |reason: String| Error::BadChunk { id: info.id.clone(), reason };
    let plain = match encoding {
        Compression::Identity => stored.to_vec(),
        Compression::Zstd => zstd::bulk::decompress(stored, info.size as usize).map_err(|e| bad(format!("zstd: {e}")))?,
    };
    if plain.len() as u64 != info.size {
        return Err(bad(format!("{} bytes, the manifest says {}", plain.len(), info.size)));
    }
    let id = chunk_id(&plain);
    if id != info.id {
        return Err(bad(format!("content hashes to {id}")));
    }
    Ok(plain)
}

/// A folder of stored chunks (`<out>/chunks` of a build, or a mirror).
#[derive(Debug, Clone)]
pub struct ChunkStore {
    root: PathBuf,
}

impl ChunkStore {
    /// The store of a build output folder: `<out>/chunks`.
    pub fn in_output(out: &Path) -> Self {
        ChunkStore { root: out.join("chunks") }
    }

    pub fn at(root: PathBuf) -> Self {
        ChunkStore { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where chunk `id` lives. Refuses anything but 64 hex so an id can never name a path
    /// outside the store.
    pub fn path(&self, id: &str) -> Result<PathBuf> {
        if !is_blake3_hex(id) {
            return Err(Error::Invalid(format!("{id:?} is not a chunk id")));
        }
        Ok(self.root.join(&id[..2]).join(id))
    }

    /// Stores a chunk unless a file of the same length is already there (ids are content
    /// hashes and the encoding is deterministic). Written to a temp name and renamed, so
    /// a present file is always whole. Not fsynced: a build is re-run after a crash, and
    /// publish re-verifies every chunk before upload.
    pub fn put(&self, id: &str, stored: &[u8]) -> Result<bool> {
        let path = self.path(id)?;
        if fs::metadata(&path).map(|m| m.len() == stored.len() as u64).unwrap_or(false) {
            return Ok(false);
        }
        fsutil::write_atomic(&path, stored, false)?;
        Ok(true)
    }

    /// Stored bytes of a chunk.
    pub fn get(&self, id: &str) -> Result<Vec<u8>> {
        let path = self.path(id)?;
        fs::read(&path).at(&path)
    }

    /// Whether chunk `info` is present with its stored size.
    pub fn has(&self, info: &ChunkInfo) -> bool {
        self.path(&info.id).ok().and_then(|p| fs::metadata(p).ok()).is_some_and(|m| m.len() == info.stored_size)
    }
}
