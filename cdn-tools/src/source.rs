//! Where the patching client gets releases and chunks from: [`HttpSource`] (an edge or
//! origin, the real thing) or [`DirSource`] (a build output / mirror folder: installing
//! from local media, a LAN share, or a build machine's output without a server).

use std::future::Future;
use std::path::{Path, PathBuf};

use aethex_protocol::dlc::{ChunkInfo, Compression, ManifestKey, ManifestKeyList, ReleaseManifest, CHUNK_ENCODING_HEADER, MAX_MANIFEST_BYTES};
use aethex_protocol::validate::GameSlug;
use reqwest::{Client, Method};

use crate::error::{Error, IoContext, Result};
use crate::store::ChunkStore;
use crate::{http, parse_json};

/// A chunk as fetched: its stored bytes and their encoding.
#[derive(Debug, Clone)]
pub struct FetchedChunk {
    pub bytes: Vec<u8>,
    pub encoding: Compression,
}

/// What the patching client needs from a server (or a folder). Implementations only
/// fetch: the client verifies signatures, sizes and hashes of everything they return.
pub trait ChunkSource: Send + Sync {
    /// The channel's current release.
    fn release(&self) -> impl Future<Output = Result<ReleaseManifest>> + Send;
    /// The game's manifest keys (used for trust on first use only).
    fn keys(&self) -> impl Future<Output = Result<Vec<ManifestKey>>> + Send;
    /// A chunk's stored bytes.
    fn chunk(&self, info: &ChunkInfo) -> impl Future<Output = Result<FetchedChunk>> + Send;
    /// Where this source is, for messages and the trust pin.
    fn describe(&self) -> String;
}

/// An edge or origin: `GET {base}/api/v1/dlc/{game}/{channel}/manifest`,
/// `GET {base}/api/v1/dlc/{game}/keys`, `GET {base}/api/v1/dlc/{game}/chunks/{id}`, each
/// with `Authorization: Bearer <player token>` when a token is given.
#[derive(Debug, Clone)]
pub struct HttpSource {
    client: Client,
    base: String,
    game: String,
    channel: String,
    token: Option<String>,
}

impl HttpSource {
    pub fn new(base: &str, game: &str, channel: &str, token: Option<String>) -> Result<Self> {
        let game = GameSlug::parse(game).map_err(|e| Error::Invalid(e.to_string()))?.into_inner();
        let channel = aethex_protocol::dlc::parse_channel(channel).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(HttpSource { client: http::client()?, base: http::base_url(base)?, game, channel, token: token.filter(|t| !t.is_empty()) })
    }

    /// Uses an existing client (connection pool shared with the SDK).
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = client;
        self
    }

    /// A request with the player's token (the manifest: it is checked for the game and
    /// the release's entitlement).
    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let r = self.client.get(url);
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// A request without it: keys and chunks are public, and a long download must not fail
    /// when the token (15 minutes) expires half way.
    fn get_public(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.get(url)
    }
}

impl ChunkSource for HttpSource {
    async fn release(&self) -> Result<ReleaseManifest> {
        let url = format!("{}/api/v1/dlc/{}/{}/manifest", self.base, self.game, self.channel);
        http::send_json(self.get(&url), &Method::GET, &url, MAX_MANIFEST_BYTES + 64 * 1024).await
    }

    async fn keys(&self) -> Result<Vec<ManifestKey>> {
        let url = format!("{}/api/v1/dlc/{}/keys", self.base, self.game);
        let list: ManifestKeyList = http::send_json(self.get_public(&url), &Method::GET, &url, 1 << 20).await?;
        Ok(list.keys)
    }

    async fn chunk(&self, info: &ChunkInfo) -> Result<FetchedChunk> {
        let url = format!("{}/api/v1/dlc/{}/chunks/{}", self.base, self.game, info.id);
        let resp = http::send(self.get_public(&url), &Method::GET, &url).await?;
        let encoding = match resp.headers().get(CHUNK_ENCODING_HEADER).and_then(|v| v.to_str().ok()) {
            Some(v) => {
                Compression::parse(v.trim()).ok_or_else(|| Error::BadChunk { id: info.id.clone(), reason: format!("unknown encoding {v:?}") })?
            }
            None => info.compression,
        };
        // Stored bytes are never larger than plain ones (identity is kept otherwise).
        let cap = info.stored_size.max(info.size) as usize;
        let bytes = http::read_capped(resp, cap, &url, false).await.map_err(|e| match e {
            Error::Invalid(reason) => Error::BadChunk { id: info.id.clone(), reason },
            e => e,
        })?;
        Ok(FetchedChunk { bytes, encoding })
    }

    fn describe(&self) -> String {
        format!("{}/api/v1/dlc/{}/{}", self.base, self.game, self.channel)
    }
}

/// File names of a mirror folder.
pub const RELEASE_FILE: &str = "release.json";
pub const KEYS_FILE: &str = "keys.json";

/// A build output / mirror folder: `release.json` (a [`ReleaseManifest`], written by
/// `aethex-cdn sign` or `build --key`), `keys.json` (a [`ManifestKeyList`], optional), and
/// `chunks/<id[0..2]>/<id>` (stored bytes, encoding as in the chunk table).
#[derive(Debug, Clone)]
pub struct DirSource {
    dir: PathBuf,
    store: ChunkStore,
}

impl DirSource {
    pub fn new(dir: &Path) -> Self {
        DirSource { dir: dir.to_path_buf(), store: ChunkStore::in_output(dir) }
    }
}

impl ChunkSource for DirSource {
    async fn release(&self) -> Result<ReleaseManifest> {
        let p = self.dir.join(RELEASE_FILE);
        let bytes = tokio::fs::read(&p).await.at(&p)?;
        parse_json(&bytes, &p)
    }

    async fn keys(&self) -> Result<Vec<ManifestKey>> {
        let p = self.dir.join(KEYS_FILE);
        let bytes = tokio::fs::read(&p).await.at(&p)?;
        Ok(parse_json::<ManifestKeyList>(&bytes, &p)?.keys)
    }

    async fn chunk(&self, info: &ChunkInfo) -> Result<FetchedChunk> {
        let p = self.store.path(&info.id)?;
        let bytes = tokio::fs::read(&p).await.at(&p)?;
        Ok(FetchedChunk { bytes, encoding: info.compression })
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}
