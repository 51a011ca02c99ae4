//! The developer side: publishing builds to origin and managing releases, with a game's
//! server key (`Authorization: Bearer aethex_sk_...`).
//!
//! Publishing is resumable and idempotent: origin is asked which chunks it lacks
//! (`POST /api/v1/games/{game}/chunks/missing`, at most 10 000 ids per call), only those are
//! uploaded (`PUT /api/v1/games/{game}/chunks/{id}`, stored bytes, `x-aethex-chunk-encoding`),
//! and a failed round asks again, so an interrupted publish resumes with what origin still
//! lacks and publishing an unchanged build uploads nothing. The release
//! (`POST /api/v1/games/{game}/releases`) is created only once every chunk is there.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use aethex_protocol::dlc::{
    self, ChunkInfo, CreateReleaseRequest, Manifest, ManifestKey, MissingChunksRequest, MissingChunksResponse, PromoteRequest, RegisterKeyRequest,
    ReleaseList, RollbackRequest, CHUNK_ENCODING_HEADER, MAX_MISSING_QUERY,
};
use aethex_protocol::validate::GameSlug;
use futures::StreamExt;
use reqwest::{Client, Method};
use serde::Serialize;
use serde_json::Value;

use crate::build::MANIFEST_FILE;
use crate::error::{Error, IoContext, Result};
use crate::http;
use crate::keys::KeyPair;
use crate::store::{decode_verified, ChunkStore};

/// Largest JSON answer expected from origin's management routes.
const MAX_ANSWER: usize = 8 << 20;

fn game_id(raw: &str) -> Result<String> {
    Ok(GameSlug::parse(raw).map_err(|e| Error::Invalid(e.to_string()))?.into_inner())
}

fn invalid(e: aethex_protocol::validate::Invalid) -> Error {
    Error::Invalid(e.to_string())
}

/// Origin's management API for one server key.
#[derive(Debug, Clone)]
pub struct Origin {
    client: Client,
    base: String,
    server_key: String,
}

impl Origin {
    pub fn new(base: &str, server_key: &str) -> Result<Self> {
        let server_key = server_key.trim();
        if server_key.is_empty() {
            return Err(Error::Invalid("a server key is needed (--server-key or AETHEX_SERVER_KEY)".into()));
        }
        Ok(Origin { client: http::client()?, base: http::base_url(base)?, server_key: server_key.to_string() })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn req(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.client.request(method, url).bearer_auth(&self.server_key)
    }

    async fn json<B: Serialize, T: serde::de::DeserializeOwned>(&self, method: Method, path: &str, body: Option<&B>) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let mut r = self.req(method.clone(), &url);
        if let Some(b) = body {
            r = r.json(b);
        }
        http::send_json(r, &method, &url, MAX_ANSWER).await
    }

    /// The ids origin does not hold, in the order asked (batches of at most 10 000).
    pub async fn missing_chunks(&self, game: &str, ids: &[String]) -> Result<Vec<String>> {
        let game = game_id(game)?;
        let mut missing = Vec::new();
        for batch in ids.chunks(MAX_MISSING_QUERY) {
            let body = MissingChunksRequest { ids: batch.to_vec() };
            let r: MissingChunksResponse = self.json(Method::POST, &format!("/api/v1/games/{game}/chunks/missing"), Some(&body)).await?;
            missing.extend(r.missing);
        }
        Ok(missing)
    }

    /// Uploads one chunk's stored bytes.
    pub async fn put_chunk(&self, game: &str, info: &ChunkInfo, stored: Vec<u8>) -> Result<()> {
        let game = game_id(game)?;
        let url = format!("{}/api/v1/games/{game}/chunks/{}", self.base, info.id);
        let r = self
            .req(Method::PUT, &url)
            .header(CHUNK_ENCODING_HEADER, info.compression.as_str())
            .header("content-type", "application/octet-stream")
            .body(stored);
        http::send(r, &Method::PUT, &url).await.map(drop)
    }

    /// Creates a release (and points its channel at it). Answers origin's JSON as is.
    pub async fn create_release(&self, game: &str, req: &CreateReleaseRequest) -> Result<Value> {
        let game = game_id(game)?;
        self.json(Method::POST, &format!("/api/v1/games/{game}/releases"), Some(req)).await
    }

    pub async fn releases(&self, game: &str, channel: Option<&str>) -> Result<ReleaseList> {
        let game = game_id(game)?;
        let q = match channel {
            Some(c) => format!("?channel={}", dlc::parse_channel(c).map_err(invalid)?),
            None => String::new(),
        };
        self.json::<(), _>(Method::GET, &format!("/api/v1/games/{game}/releases{q}"), None).await
    }

    pub async fn promote(&self, game: &str, version: &str, from_channel: &str, to_channel: &str) -> Result<Value> {
        let game = game_id(game)?;
        let version = dlc::parse_version(version).map_err(invalid)?;
        let body = PromoteRequest {
            from_channel: dlc::parse_channel(from_channel).map_err(invalid)?,
            to_channel: dlc::parse_channel(to_channel).map_err(invalid)?,
        };
        self.json(Method::POST, &format!("/api/v1/games/{game}/releases/{version}/promote"), Some(&body)).await
    }

    pub async fn rollback(&self, game: &str, channel: &str, to_version: Option<&str>) -> Result<Value> {
        let game = game_id(game)?;
        let channel = dlc::parse_channel(channel).map_err(invalid)?;
        let body = RollbackRequest { to_version: to_version.map(dlc::parse_version).transpose().map_err(invalid)? };
        self.json(Method::POST, &format!("/api/v1/games/{game}/channels/{channel}/rollback"), Some(&body)).await
    }

    /// Registers a manifest signing key; origin answers the key with the id it gave it.
    pub async fn register_key(&self, game: &str, key: &KeyPair, name: &str) -> Result<ManifestKey> {
        let game = game_id(game)?;
        let body = RegisterKeyRequest { public_key: key.public_key(), name: name.to_string() };
        self.json(Method::POST, &format!("/api/v1/games/{game}/manifest-keys"), Some(&body)).await
    }
}

/// Called with (chunks uploaded, chunks to upload, bytes uploaded, bytes to upload).
pub type PublishProgress = std::sync::Arc<dyn Fn(u64, u64, u64, u64) + Send + Sync>;

#[derive(Clone)]
pub struct PublishOptions {
    pub entitlement: Option<String>,
    /// Uploads in flight.
    pub concurrency: usize,
    /// Rounds of "ask what is missing, upload it" before giving up.
    pub rounds: u32,
    /// Retries per chunk within a round.
    pub retries: u32,
    pub retry_base: Duration,
    pub progress: Option<PublishProgress>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions { entitlement: None, concurrency: 8, rounds: 3, retries: 3, retry_base: Duration::from_millis(500), progress: None }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    pub game_id: String,
    pub channel: String,
    pub version: String,
    pub key_id: String,
    pub chunks_total: u64,
    /// Chunks origin lacked and that were uploaded.
    pub chunks_uploaded: u64,
    pub bytes_uploaded: u64,
    /// Origin's answer to the release creation.
    pub release: Value,
}

/// Reads a build output folder's manifest (`<out>/manifest.json`) and checks it.
pub fn read_build(out: &Path) -> Result<(Manifest, ChunkStore)> {
    let p = out.join(MANIFEST_FILE);
    let bytes = std::fs::read(&p).at(&p)?;
    let m: Manifest = crate::parse_json(&bytes, &p)?;
    m.validate()?;
    Ok((m, ChunkStore::in_output(out)))
}

/// Checks that a build is the release asked for (game, channel and version are part of the
/// signed manifest, so they cannot be changed at publish time).
pub fn check_target(m: &Manifest, game: &str, channel: &str, version: &str) -> Result<()> {
    let want = [("game", game, &m.game_id), ("channel", channel, &m.channel), ("version", version, &m.version)];
    for (what, asked, built) in want {
        if asked != built {
            return Err(Error::Invalid(format!("the build is for {what} {built:?}, not {asked:?}: build it again with --{what} {asked}")));
        }
    }
    Ok(())
}

/// Publishes a built release (see the module docs). The manifest's game, channel and
/// version must be the ones asked for: they are part of what gets signed.
pub async fn publish(origin: &Origin, manifest: &Manifest, store: &ChunkStore, key: &KeyPair, opts: &PublishOptions) -> Result<PublishReport> {
    manifest.validate()?;
    if let Some(e) = &opts.entitlement {
        dlc::parse_entitlement(e).map_err(invalid)?;
    }
    let game = manifest.game_id.clone();
    for c in &manifest.chunks {
        if !store.has(c) {
            return Err(Error::BadChunk {
                id: c.id.clone(),
                reason: format!("not in {} with {} bytes; build again", store.root().display(), c.stored_size),
            });
        }
    }
    let signed = key.sign(manifest);
    let ids: Vec<String> = manifest.chunks.iter().map(|c| c.id.clone()).collect();
    let by_id: std::collections::HashMap<&str, &ChunkInfo> = manifest.chunks.iter().map(|c| (c.id.as_str(), c)).collect();
    let (uploaded, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let req = CreateReleaseRequest { signed: signed.clone(), entitlement: opts.entitlement.clone() };
    let mut round = 0;
    let release = loop {
        round += 1;
        let missing = http::retry(opts.retries, opts.retry_base, || origin.missing_chunks(&game, &ids)).await?;
        if !missing.is_empty() {
            let todo: Vec<&ChunkInfo> = missing.iter().filter_map(|id| by_id.get(id.as_str()).copied()).collect();
            if todo.len() != missing.len() {
                return Err(Error::Invalid("origin reported chunks missing that the manifest does not list".into()));
            }
            match upload_all(origin, &game, store, &todo, opts, &uploaded, &bytes).await {
                Ok(()) => {}
                // A transient failure: the next round asks origin again what it still lacks.
                Err(e) if e.is_retryable() && round < opts.rounds.max(1) => continue,
                Err(e) => return Err(e),
            }
        }
        match origin.create_release(&game, &req).await {
            Ok(r) => break r,
            // Chunks collected or lost between the upload and the release: upload again.
            Err(e) if e.status() == Some(409) && round < opts.rounds.max(1) && !origin.missing_chunks(&game, &ids).await?.is_empty() => continue,
            Err(e) => return Err(e),
        }
    };
    Ok(PublishReport {
        game_id: game,
        channel: manifest.channel.clone(),
        version: manifest.version.clone(),
        key_id: signed.key_id,
        chunks_total: ids.len() as u64,
        chunks_uploaded: uploaded.load(Ordering::Relaxed),
        bytes_uploaded: bytes.load(Ordering::Relaxed),
        release,
    })
}

/// Uploads `todo`, `opts.concurrency` at a time; the first error once all are done.
async fn upload_all(
    origin: &Origin,
    game: &str,
    store: &ChunkStore,
    todo: &[&ChunkInfo],
    opts: &PublishOptions,
    uploaded: &AtomicU64,
    bytes: &AtomicU64,
) -> Result<()> {
    let total_bytes: u64 = todo.iter().map(|c| c.stored_size).sum();
    let n = todo.len() as u64;
    let (done, done_bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    futures::stream::iter(todo.iter().copied())
        .map(|c| {
            let (failure, done, done_bytes) = (&failure, &done, &done_bytes);
            async move {
                match upload_one(origin, game, store, c, opts).await {
                    Ok(()) => {
                        uploaded.fetch_add(1, Ordering::Relaxed);
                        bytes.fetch_add(c.stored_size, Ordering::Relaxed);
                        let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                        let db = done_bytes.fetch_add(c.stored_size, Ordering::Relaxed) + c.stored_size;
                        if let Some(p) = &opts.progress {
                            p(d, n, db, total_bytes);
                        }
                    }
                    Err(e) => {
                        // A final error (bad key, refused chunk) outranks a transient one.
                        let mut f = failure.lock().unwrap_or_else(|e| e.into_inner());
                        if f.as_ref().is_none_or(|old| old.is_retryable() && !e.is_retryable()) {
                            *f = Some(e);
                        }
                    }
                }
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect::<()>()
        .await;
    match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Reads a chunk from the store, checks it (a corrupted local store is caught here, not by
/// origin), and uploads it with retries.
async fn upload_one(origin: &Origin, game: &str, store: &ChunkStore, c: &ChunkInfo, opts: &PublishOptions) -> Result<()> {
    let path = store.path(&c.id)?;
    let stored = tokio::fs::read(&path).await.at(&path)?;
    let stored = {
        let c = c.clone();
        tokio::task::spawn_blocking(move || decode_verified(&c, &stored, c.compression).map(|_| stored))
            .await
            .map_err(|e| Error::Invalid(format!("worker thread failed: {e}")))?
            .map_err(|e| Error::Integrity { path: path.display().to_string(), reason: format!("{e}; build again") })?
    };
    let mut attempt = 0;
    loop {
        match origin.put_chunk(game, c, stored.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && attempt < opts.retries => {
                tokio::time::sleep(http::backoff(opts.retry_base, attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
