//! DLC rules: who may publish, what a valid upload and release are, channels, entitlements
//! and garbage collection. Player reads use the edge read model's queries, like edges.

use std::collections::HashSet;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use aethex_edge::readmodel::{self, ReleaseRow};
use aethex_protocol::dlc::{
    is_blake3_hex, parse_channel, parse_entitlement, parse_version, Compression, CreateReleaseRequest, Entitlement, EntitlementList, Manifest,
    ManifestKey, ManifestKeyList, MissingChunksRequest, MissingChunksResponse, PromoteRequest, RegisterKeyRequest, Release, ReleaseList,
    ReleaseManifest, RollbackRequest, SignedManifest, UpdateCheck, MAX_CHUNK_BYTES, MAX_MANIFEST_BYTES, MAX_MISSING_QUERY,
};
use aethex_protocol::teams::Role;
use aethex_protocol::validate::{DisplayName, Invalid};

use super::store::{self, ReleaseRecord};
use super::DlcError;
use crate::auth::caller::Caller;
use crate::blobs::chunk_key;
use crate::db::{self, DbError};
use crate::replication::rows;
use crate::state::AppState;

pub type DlcResult<T> = Result<T, DlcError>;

/// Publishing needs the game's server key or the developer role in its organization.
pub async fn require_publisher(app: &AppState, caller: &Caller, game: &str) -> DlcResult<()> {
    Ok(crate::teams::service::require_game_caller(app, caller, game, Role::Developer).await?)
}

/// Uploading chunks and creating releases take the game's server key (a build machine or
/// `aethex-cdn publish`), never a person's token.
fn require_server_key(caller: &Caller, game: &str) -> DlcResult<()> {
    match caller {
        Caller::Server(s) if s.game_id == game => Ok(()),
        Caller::Server(_) => Err(DlcError::Forbidden("this server key is for another game".into())),
        Caller::Player(_) => Err(DlcError::Forbidden("publishing takes the game's server key (aethex_sk_...)".into())),
    }
}

/// The id of a manifest signing key: the first 16 hex digits of the blake3 of its 32
/// public key bytes (cdn-tools computes the same).
pub fn key_id_of(public_key: &[u8]) -> String {
    blake3::hash(public_key).to_hex()[..16].to_string()
}

fn verifying_key(b64: &str) -> Result<ed25519_dalek::VerifyingKey, Invalid> {
    let bytes = URL_SAFE_NO_PAD.decode(b64.trim()).map_err(|_| Invalid::new("public_key", "public_key must be base64url (no padding)"))?;
    let arr: [u8; 32] = bytes.try_into().map_err(|_| Invalid::new("public_key", "an Ed25519 public key is 32 bytes"))?;
    ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(|_| Invalid::new("public_key", "not a valid Ed25519 public key"))
}

pub async fn register_key(app: &AppState, caller: &Caller, game: &str, req: RegisterKeyRequest) -> DlcResult<ManifestKey> {
    require_publisher(app, caller, game).await?;
    let vk = verifying_key(&req.public_key)?;
    let key = ManifestKey {
        key_id: key_id_of(vk.as_bytes()),
        game_id: game.to_string(),
        name: DisplayName::parse(&req.name, "name")?.into_inner(),
        public_key: URL_SAFE_NO_PAD.encode(vk.as_bytes()),
        created_at: crate::clock::now(),
    };
    let k = key.clone();
    app.db
        .write_replicated(move |c, out| async move {
            if let Err(e) = store::insert_key(&c, &k).await {
                return Err(if db::is_unique_violation(&e) { DlcError::Conflict("this key is registered already".into()) } else { e.into() });
            }
            out.upsert(&c, rows::table("manifest_keys"), rows::manifest_key(&k)).await?;
            Ok(())
        })
        .await?;
    Ok(key)
}

/// Withdraws a signing key: no new release can be signed with it (releases made with it
/// stay). Clients that pinned it keep trusting it until they are given new keys.
pub async fn delete_key(app: &AppState, caller: &Caller, game: &str, key_id: &str) -> DlcResult<()> {
    require_publisher(app, caller, game).await?;
    let (g, k) = (game.to_string(), key_id.to_string());
    let n = app
        .db
        .write_replicated(move |c, out| async move {
            let n = store::delete_key(&c, &g, &k).await?;
            if n > 0 {
                out.delete(&c, rows::table("manifest_keys"), rows::manifest_key_id(&g, &k)).await?;
            }
            Ok::<u64, DlcError>(n)
        })
        .await?;
    if n == 0 {
        return Err(DlcError::NotFound(format!("no key {key_id} for this game")));
    }
    Ok(())
}

/// A game's manifest signing keys (public: clients verify manifests with them).
pub async fn keys(app: &AppState, game: &str) -> DlcResult<ManifestKeyList> {
    Ok(readmodel::manifest_keys(&app.read_model, game).await?)
}

fn check_chunk_id(id: &str) -> DlcResult<()> {
    if is_blake3_hex(id) {
        Ok(())
    } else {
        Err(Invalid::new("chunk_id", "a chunk id is 64 lower-case hex digits (blake3 of the plain bytes)").into())
    }
}

pub async fn missing_chunks(app: &AppState, caller: &Caller, game: &str, req: MissingChunksRequest) -> DlcResult<MissingChunksResponse> {
    require_server_key(caller, game)?;
    if req.ids.len() > MAX_MISSING_QUERY {
        return Err(Invalid::new("ids", format!("at most {MAX_MISSING_QUERY} ids per call")).into());
    }
    for id in &req.ids {
        check_chunk_id(id)?;
    }
    let have = store::existing_chunks(&*app.db.reader().await, game, &req.ids).await?;
    let mut seen = HashSet::new();
    let missing = req.ids.into_iter().filter(|id| !have.contains(id) && seen.insert(id.clone())).collect();
    Ok(MissingChunksResponse { missing })
}

/// Stores an uploaded chunk after checking that its plain bytes hash to its id. Answers
/// whether it was new.
pub async fn upload_chunk(app: &AppState, caller: &Caller, game: &str, id: &str, encoding: Option<&str>, body: Vec<u8>) -> DlcResult<bool> {
    require_server_key(caller, game)?;
    check_chunk_id(id)?;
    let compression = Compression::parse(encoding.unwrap_or("identity"))
        .ok_or_else(|| Invalid::new(aethex_protocol::dlc::CHUNK_ENCODING_HEADER, "must be zstd or identity"))?;
    let stored_size = body.len() as u64;
    let expected = id.to_string();
    // Decompression is bounded by the largest chunk, so a small zstd bomb cannot blow up.
    let (size, body) = tokio::task::spawn_blocking(move || -> DlcResult<(u64, Vec<u8>)> {
        let size = match compression {
            Compression::Identity => {
                if body.len() as u64 > MAX_CHUNK_BYTES {
                    return Err(DlcError::TooLarge);
                }
                check_plain(&body, &expected)?
            }
            Compression::Zstd => {
                let plain = zstd::bulk::decompress(&body, MAX_CHUNK_BYTES as usize)
                    .map_err(|e| Invalid::new("body", format!("not a zstd frame of at most {MAX_CHUNK_BYTES} bytes: {e}")))?;
                check_plain(&plain, &expected)?
            }
        };
        Ok((size, body))
    })
    .await
    .map_err(|e| DlcError::from(DbError::Corrupt(format!("verification task: {e}"))))??;
    if store::existing_chunks(&*app.db.reader().await, game, &[id.to_string()]).await?.contains(id) {
        return Ok(false);
    }
    // Uploads and garbage collection exclude each other (a sweep could otherwise delete
    // the blob of a chunk that is being uploaded again). The blob is written before the
    // row that announces it.
    let _guard = app.chunk_gc.read().await?;
    app.blobs.put(&chunk_key(game, id), body).await?;
    let (g, i) = (game.to_string(), id.to_string());
    app.db.write(move |c| async move { store::insert_chunk(&c, &g, &i, size, stored_size, compression).await.map_err(DlcError::from) }).await?;
    metrics::counter!("aethex_dlc_chunks_uploaded_total").increment(1);
    metrics::counter!("aethex_dlc_chunk_bytes_uploaded_total").increment(stored_size);
    Ok(true)
}

/// The plain size, if the bytes hash to `expected`.
fn check_plain(plain: &[u8], expected: &str) -> DlcResult<u64> {
    if plain.is_empty() {
        return Err(Invalid::new("body", "a chunk is not empty").into());
    }
    if blake3::hash(plain).to_hex().as_str() != expected {
        return Err(Invalid::new("body", "the chunk's blake3 does not match its id").into());
    }
    Ok(plain.len() as u64)
}

/// Verifies a signed manifest with the game's registered key and checks it.
async fn verify_manifest(app: &AppState, game: &str, signed: &SignedManifest) -> DlcResult<Manifest> {
    if signed.manifest.len() > MAX_MANIFEST_BYTES {
        return Err(Invalid::new("manifest", format!("a manifest is at most {MAX_MANIFEST_BYTES} bytes")).into());
    }
    let public = store::public_key(&*app.db.reader().await, game, &signed.key_id)
        .await?
        .ok_or_else(|| Invalid::new("key_id", "no manifest key with this id is registered for the game"))?;
    let vk = verifying_key(&public)?;
    let sig = URL_SAFE_NO_PAD.decode(signed.signature.trim()).map_err(|_| Invalid::new("signature", "signature must be base64url"))?;
    let sig: [u8; 64] = sig.try_into().map_err(|_| Invalid::new("signature", "an Ed25519 signature is 64 bytes"))?;
    vk.verify_strict(signed.manifest.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| Invalid::new("signature", "the signature does not match the manifest and key"))?;
    let manifest: Manifest = serde_json::from_str(&signed.manifest).map_err(|e| DlcError::BadManifest(e.to_string()))?;
    manifest.validate().map_err(|e| DlcError::BadManifest(e.0))?;
    if manifest.game_id != game {
        return Err(DlcError::BadManifest(format!("the manifest is for game {:?}", manifest.game_id)));
    }
    parse_channel(&manifest.channel)?;
    parse_version(&manifest.version)?;
    Ok(manifest)
}

pub async fn create_release(app: &AppState, caller: &Caller, game: &str, req: CreateReleaseRequest) -> DlcResult<Release> {
    require_server_key(caller, game)?;
    let entitlement = req.entitlement.as_deref().map(parse_entitlement).transpose()?;
    let manifest = verify_manifest(app, game, &req.signed).await?;
    let ids: Vec<String> = manifest.chunks.iter().map(|c| c.id.clone()).collect();
    let have = store::chunk_rows(&*app.db.reader().await, game, &ids).await?;
    let missing = ids.iter().filter(|id| !have.contains_key(*id)).count();
    if missing > 0 {
        return Err(DlcError::Conflict(format!("{missing} chunks of this manifest have not been uploaded")));
    }
    // What players download must be what the manifest says (sizes feed update checks,
    // the encoding tells clients how to open the bytes).
    for c in &manifest.chunks {
        if have.get(&c.id) != Some(&(c.size, c.stored_size, c.compression)) {
            return Err(DlcError::BadManifest(format!("chunk {} was uploaded with another size or encoding than the manifest lists", c.id)));
        }
    }
    let record = ReleaseRecord {
        game_id: game.to_string(),
        channel: manifest.channel.clone(),
        version: manifest.version.clone(),
        manifest: req.signed.manifest,
        signature: req.signed.signature,
        key_id: req.signed.key_id,
        entitlement,
        download_bytes: manifest.totals.stored_bytes as i64,
        created_at: crate::clock::now(),
    };
    let release = Release {
        game_id: record.game_id.clone(),
        channel: record.channel.clone(),
        version: record.version.clone(),
        key_id: record.key_id.clone(),
        entitlement: record.entitlement.clone(),
        created_at: record.created_at.clone(),
        totals: manifest.totals,
        current: true,
    };
    add_release(app, record, ids).await?;
    metrics::counter!("aethex_dlc_releases_total").increment(1);
    Ok(release)
}

/// Inserts a release with its chunk list and points its channel at it, in one
/// transaction (refused if a chunk vanished meanwhile).
async fn add_release(app: &AppState, record: ReleaseRecord, chunk_ids: Vec<String>) -> DlcResult<()> {
    let _guard = app.chunk_gc.read().await?;
    app.db
        .write_replicated(move |c, out| async move {
            let r = &record;
            if store::release_exists(&c, &r.game_id, &r.channel, &r.version).await? {
                return Err(DlcError::Conflict(format!("version {} is already released on channel {}", r.version, r.channel)));
            }
            store::insert_release(&c, r, &chunk_ids).await?;
            if store::release_chunks_missing(&c, &r.game_id, &r.channel, &r.version).await? > 0 {
                return Err(DlcError::Conflict("chunks of this manifest were removed meanwhile; publish again".into()));
            }
            store::set_channel(&c, &r.game_id, &r.channel, &r.version, &r.created_at).await?;
            out.upsert(&c, rows::table("releases"), rows::release(r)).await?;
            out.upsert(&c, rows::table("channels"), rows::channel(&r.game_id, &r.channel, &r.version, &r.created_at)).await?;
            Ok(())
        })
        .await
}

pub async fn list_releases(app: &AppState, caller: &Caller, game: &str, channel: Option<&str>) -> DlcResult<ReleaseList> {
    require_publisher(app, caller, game).await?;
    let channel = channel.map(parse_channel).transpose()?;
    Ok(ReleaseList { releases: store::releases(&*app.db.reader().await, game, channel.as_deref()).await? })
}

async fn release_of(app: &AppState, game: &str, channel: &str, version: &str) -> DlcResult<Release> {
    store::releases(&*app.db.reader().await, game, Some(channel))
        .await?
        .into_iter()
        .find(|r| r.version == version)
        .ok_or_else(|| DlcError::NotFound(format!("no version {version} on channel {channel}")))
}

/// The same signed build on another channel (which then serves it).
pub async fn promote(app: &AppState, caller: &Caller, game: &str, version: &str, req: PromoteRequest) -> DlcResult<Release> {
    require_publisher(app, caller, game).await?;
    let version = parse_version(version)?;
    let (from, to) = (parse_channel(&req.from_channel)?, parse_channel(&req.to_channel)?);
    let src = store::release_record(&*app.db.reader().await, game, &from, &version)
        .await?
        .ok_or_else(|| DlcError::NotFound(format!("no version {version} on channel {from}")))?;
    let ids = store::chunk_ids_of(&*app.db.reader().await, game, &from, &version).await?;
    let record = ReleaseRecord { channel: to.clone(), created_at: crate::clock::now(), ..src };
    add_release(app, record, ids).await?;
    release_of(app, game, &to, &version).await
}

/// Points a channel back at an earlier release (the one before the current one, or a
/// given version of the channel).
pub async fn rollback(app: &AppState, caller: &Caller, game: &str, channel: &str, req: RollbackRequest) -> DlcResult<Release> {
    require_publisher(app, caller, game).await?;
    let channel = parse_channel(channel)?;
    let current = store::channel_version(&*app.db.reader().await, game, &channel)
        .await?
        .ok_or_else(|| DlcError::NotFound(format!("channel {channel} has no release")))?;
    let target = match req.to_version {
        Some(v) => parse_version(&v)?,
        None => store::release_before(&*app.db.reader().await, game, &channel, &current)
            .await?
            .ok_or_else(|| DlcError::NotFound(format!("channel {channel} has no release before {current}")))?,
    };
    if !store::release_exists(&*app.db.reader().await, game, &channel, &target).await? {
        return Err(DlcError::NotFound(format!("no version {target} on channel {channel}")));
    }
    let (g, ch, v, at) = (game.to_string(), channel.clone(), target.clone(), crate::clock::now());
    app.db
        .write_replicated(move |c, out| async move {
            store::set_channel(&c, &g, &ch, &v, &at).await?;
            out.upsert(&c, rows::table("channels"), rows::channel(&g, &ch, &v, &at)).await?;
            Ok::<(), DlcError>(())
        })
        .await?;
    release_of(app, game, &channel, &target).await
}

/// Deletes a release that no channel serves (its chunks are collected later).
pub async fn delete_release(app: &AppState, caller: &Caller, game: &str, channel: &str, version: &str) -> DlcResult<()> {
    require_publisher(app, caller, game).await?;
    let (channel, version) = (parse_channel(channel)?, parse_version(version)?);
    if store::channel_version(&*app.db.reader().await, game, &channel).await?.as_deref() == Some(version.as_str()) {
        return Err(DlcError::Conflict(format!("channel {channel} serves {version}; roll back or release another version first")));
    }
    let (g, ch, v) = (game.to_string(), channel.clone(), version.clone());
    let n = app
        .db
        .write_replicated(move |c, out| async move {
            let n = store::delete_release(&c, &g, &ch, &v).await?;
            if n > 0 {
                out.delete(&c, rows::table("releases"), rows::release_key(&g, &ch, &v)).await?;
            }
            Ok::<u64, DlcError>(n)
        })
        .await?;
    if n == 0 {
        return Err(DlcError::NotFound(format!("no version {version} on channel {channel}")));
    }
    Ok(())
}

/// Grants a player an entitlement of the game.
pub async fn grant(app: &AppState, caller: &Caller, game: &str, user: &str, entitlement: &str) -> DlcResult<Entitlement> {
    require_publisher(app, caller, game).await?;
    let entitlement = parse_entitlement(entitlement)?;
    if uuid::Uuid::parse_str(user).is_err() || !crate::saves::store::user_exists(&*app.db.reader().await, user).await? {
        return Err(Invalid::new("user_id", "no such player").into());
    }
    let asked = Entitlement { game_id: game.to_string(), user_id: user.to_string(), entitlement, granted_at: crate::clock::now() };
    // Granting again keeps the first grant (and its time): the answer and edges see that.
    app.db
        .write_replicated(move |c, out| async move {
            store::grant(&c, &asked).await?;
            let stored = store::entitlements_of(&c, &asked.game_id, &asked.user_id)
                .await?
                .into_iter()
                .find(|e| e.entitlement == asked.entitlement)
                .ok_or_else(|| DbError::Corrupt("granted entitlement vanished".into()))?;
            out.upsert(&c, rows::table("entitlements"), rows::entitlement(&stored)).await?;
            Ok::<Entitlement, DlcError>(stored)
        })
        .await
}

pub async fn revoke(app: &AppState, caller: &Caller, game: &str, user: &str, entitlement: &str) -> DlcResult<()> {
    require_publisher(app, caller, game).await?;
    let entitlement = parse_entitlement(entitlement)?;
    let (g, u) = (game.to_string(), user.to_string());
    let n = app
        .db
        .write_replicated(move |c, out| async move {
            let n = store::revoke(&c, &g, &u, &entitlement).await?;
            if n > 0 {
                out.delete(&c, rows::table("entitlements"), rows::entitlement_key(&g, &u, &entitlement)).await?;
            }
            Ok::<u64, DlcError>(n)
        })
        .await?;
    if n == 0 {
        return Err(DlcError::NotFound("the player does not hold this entitlement".into()));
    }
    Ok(())
}

/// The player's own entitlements in the game of their token.
pub async fn my_entitlements(app: &AppState, caller: &Caller, game: &str) -> DlcResult<EntitlementList> {
    let user = player_of(caller, game)?;
    Ok(EntitlementList { entitlements: store::entitlements_of(&*app.db.reader().await, game, user).await? })
}

/// The player a token is for, when it is for this game.
fn player_of<'c>(caller: &'c Caller, game: &str) -> DlcResult<&'c str> {
    match caller {
        Caller::Player(p) if p.game_id.as_deref() == Some(game) => Ok(&p.user_id),
        Caller::Player(_) => Err(DlcError::Forbidden("the access token is for another game".into())),
        Caller::Server(_) => Err(DlcError::Forbidden("this route needs a player's access token".into())),
    }
}

/// The release a caller may download: a player of the game holding its entitlement, or
/// the game's server key.
async fn allowed_release(app: &AppState, caller: &Caller, game: &str, channel: &str, version: Option<&str>) -> DlcResult<ReleaseRow> {
    let channel = parse_channel(channel)?;
    let version = version.map(parse_version).transpose()?;
    let user = match caller {
        Caller::Server(s) if s.game_id == game => None,
        other => Some(player_of(other, game)?),
    };
    let (release, allowed) = readmodel::release(&app.read_model, game, &channel, version.as_deref(), user)
        .await?
        .ok_or_else(|| DlcError::NotFound(format!("channel {channel} has no such release")))?;
    if !allowed && user.is_some() {
        let e = release.entitlement.clone().unwrap_or_default();
        return Err(DlcError::Forbidden(format!("this release needs the entitlement {e:?}")));
    }
    Ok(release)
}

pub async fn manifest(app: &AppState, caller: &Caller, game: &str, channel: &str, version: Option<&str>) -> DlcResult<ReleaseManifest> {
    Ok(allowed_release(app, caller, game, channel, version).await?.into_manifest())
}

pub async fn update_check(app: &AppState, caller: &Caller, game: &str, channel: &str, current: Option<&str>) -> DlcResult<UpdateCheck> {
    let current = current.map(parse_version).transpose()?;
    Ok(allowed_release(app, caller, game, channel, None).await?.update_check(current))
}

/// A chunk's stored bytes and encoding (public: ids are content hashes).
pub async fn chunk(app: &AppState, game: &str, id: &str) -> DlcResult<(Vec<u8>, Compression)> {
    check_chunk_id(id)?;
    let compression = store::chunk_compression(&*app.db.reader().await, game, id).await?.ok_or_else(|| DlcError::NotFound("no such chunk".into()))?;
    let bytes = app.blobs.get(&chunk_key(game, id)).await?.ok_or_else(|| {
        tracing::error!(game, chunk = id, "a chunk's blob is missing from the store");
        DlcError::NotFound("no such chunk".into())
    })?;
    metrics::counter!("aethex_dlc_chunk_bytes_served_total").increment(bytes.len() as u64);
    Ok((bytes, compression))
}

/// The plain bytes `[start, end)` of one file of a release, and the file's size.
pub async fn file_bytes(
    app: &AppState,
    caller: &Caller,
    game: &str,
    channel: &str,
    path: &str,
    range: Option<&str>,
) -> DlcResult<(Vec<u8>, u64, u64, u64, String)> {
    let r = allowed_release(app, caller, game, channel, None).await?;
    let manifest: Manifest = serde_json::from_str(&r.manifest).map_err(|e| DlcError::BadManifest(e.to_string()))?;
    let file =
        manifest.files.iter().find(|f| f.path == path).ok_or_else(|| DlcError::NotFound(format!("no file {path:?} in release {}", r.version)))?;
    let max = aethex_edge::delivery::MAX_STREAM_BYTES;
    let (start, end) = match aethex_edge::http::parse_range(range, file.size) {
        Ok(Some(r)) => r,
        Ok(None) if file.size <= max => (0, file.size),
        Ok(None) => return Err(Invalid::new("range", format!("files over {max} bytes are read with Range")).into()),
        Err(aethex_edge::http::Unsatisfiable) => return Err(DlcError::Unsatisfiable(file.size)),
    };
    if end - start > max {
        return Err(Invalid::new("range", format!("at most {max} bytes per request")).into());
    }
    let mut body = Vec::with_capacity((end - start) as usize);
    for (index, offset, len) in manifest.file_range(file, start, end) {
        let info = &manifest.chunks[index as usize];
        let (stored, compression) = chunk(app, game, &info.id).await?;
        let plain = aethex_edge::delivery::open_chunk(&stored, compression, &info.id, info.size)
            .ok_or_else(|| DlcError::from(DbError::Corrupt(format!("chunk {} failed verification", info.id))))?;
        body.extend_from_slice(&plain[offset as usize..(offset + len) as usize]);
    }
    Ok((body, start, end, file.size, file.blake3.clone()))
}

/// Deletes chunks no release uses that are older than `grace`. Returns how many.
pub async fn collect_garbage(app: &AppState, grace: Duration) -> DlcResult<u64> {
    let cutoff = crate::clock::ts(chrono::Utc::now() - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::days(1)));
    // One collector at a time in the cluster: if another origin's runs, this one skips.
    let _guard = match app.chunk_gc.write().await {
        Ok(g) => g,
        Err(crate::cluster::LockError::HeldElsewhere(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut total = 0u64;
    loop {
        let batch = store::unreferenced_chunks(&*app.db.reader().await, &cutoff, 500).await?;
        if batch.is_empty() {
            return Ok(total);
        }
        let rows_gone = batch.clone();
        app.db
            .write(move |c| async move {
                for (g, id) in &rows_gone {
                    store::delete_chunk_row(&c, g, id).await?;
                }
                Ok::<(), DlcError>(())
            })
            .await?;
        for (g, id) in &batch {
            app.blobs.delete(&chunk_key(g, id)).await?;
        }
        total += batch.len() as u64;
        metrics::counter!("aethex_dlc_chunks_collected_total").increment(batch.len() as u64);
    }
}

/// Collects garbage every `every` while the app lives.
pub fn spawn_collector(app: std::sync::Weak<crate::state::App>, every: Duration, grace: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade().map(AppState) else { return };
            match collect_garbage(&app, grace).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(chunks = n, "collected unreferenced DLC chunks"),
                Err(e) => tracing::warn!(error = %e, "DLC garbage collection failed"),
            }
        }
    });
}
