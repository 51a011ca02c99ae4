//! DLC and asset delivery: content-addressed chunks, signed release manifests, channels.
//!
//! A build is split into chunks by content-defined chunking; a chunk's id is the blake3 of
//! its plain bytes (64 lower-case hex). A [`Manifest`] lists the files (path, size, mode,
//! blake3, chunk indexes) and the chunk table (id, plain size, stored size, compression).
//! The developer signs the manifest's exact JSON text with an Ed25519 key registered at
//! origin ([`SignedManifest`]); clients verify that text before they parse it, so what
//! they trust is byte for byte what was signed.
//!
//! Chunks are stored and served as stored (zstd when that shrank them): `GET` a chunk
//! answers its stored bytes with `x-aethex-chunk-encoding: zstd|identity`, so a download
//! can be resumed with `Range`; clients decompress and check the blake3 id.

use serde::{Deserialize, Serialize};

use crate::validate::Invalid;

/// Version of the manifest format this code writes and reads.
pub const MANIFEST_FORMAT: u32 = 1;
/// Header naming a chunk's stored encoding (`zstd` or `identity`).
pub const CHUNK_ENCODING_HEADER: &str = "x-aethex-chunk-encoding";
/// Largest plain chunk any manifest may list (the chunker's maximum is below it).
pub const MAX_CHUNK_BYTES: u64 = 4 * 1024 * 1024;
/// Most chunk ids one `chunks/missing` call may ask about.
pub const MAX_MISSING_QUERY: usize = 10_000;
/// Largest signed manifest accepted (files and chunks of a multi-GiB build fit).
pub const MAX_MANIFEST_BYTES: usize = 32 * 1024 * 1024;
/// Longest path in a manifest, and most components.
pub const MAX_PATH_BYTES: usize = 1024;
pub const MAX_PATH_DEPTH: usize = 64;

/// How a chunk is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Stored as is (zstd did not make it smaller).
    #[default]
    Identity,
    Zstd,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Identity => "identity",
            Compression::Zstd => "zstd",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "identity" => Some(Compression::Identity),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// The chunker's parameters, recorded so a later build can chunk the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Chunking {
    /// `fastcdc-2020`.
    pub algorithm: String,
    pub min_size: u32,
    pub avg_size: u32,
    pub max_size: u32,
}

/// One chunk of the chunk table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChunkInfo {
    /// blake3 of the plain bytes, 64 lower-case hex.
    pub id: String,
    /// Plain size.
    pub size: u64,
    /// Size as stored and served.
    pub stored_size: u64,
    pub compression: Compression,
}

/// One file of the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileEntry {
    /// Relative, `/`-separated, normalized path ([`check_path`]).
    pub path: String,
    pub size: u64,
    /// Unix permission bits (`0o644`, `0o755`).
    pub mode: u32,
    /// blake3 of the whole file, 64 hex.
    pub blake3: String,
    /// Indexes into [`Manifest::chunks`], in file order.
    pub chunks: Vec<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Totals {
    pub files: u64,
    /// Sum of file sizes.
    pub bytes: u64,
    /// Distinct chunks.
    pub chunks: u64,
    /// Sum of the distinct chunks' plain sizes.
    pub chunk_bytes: u64,
    /// Sum of the distinct chunks' stored sizes.
    pub stored_bytes: u64,
}

/// What a release contains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Manifest {
    pub format: u32,
    pub game_id: String,
    pub version: String,
    pub channel: String,
    pub created_at: String,
    pub chunking: Chunking,
    pub files: Vec<FileEntry>,
    pub chunks: Vec<ChunkInfo>,
    pub totals: Totals,
}

/// A manifest as signed: the exact JSON text, its Ed25519 signature (base64url, no
/// padding) and the id of the key that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedManifest {
    pub manifest: String,
    pub signature: String,
    pub key_id: String,
}

/// The largest file mode a manifest may carry: permission bits, nothing above them.
pub const MAX_FILE_MODE: u32 = 0o777;

/// Why a manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadManifest(pub String);

impl std::fmt::Display for BadManifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad manifest: {}", self.0)
    }
}

impl std::error::Error for BadManifest {}

/// [`is_blake3_hex`] as a regular expression, as the OpenAPI document states it.
pub const BLAKE3_HEX_PATTERN: &str = "^[0-9a-f]{64}$";

/// Whether `s` is a chunk or file id: 64 lower-case hex digits.
pub fn is_blake3_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a manifest path: relative, `/`-separated, no empty, `.` or `..` components, no
/// backslashes, control characters or NUL, at most [`MAX_PATH_BYTES`] bytes and
/// [`MAX_PATH_DEPTH`] components. Installing such a path can never leave the install folder.
pub fn check_path(path: &str) -> Result<(), BadManifest> {
    let bad = |why: &str| Err(BadManifest(format!("path {path:?}: {why}")));
    if path.is_empty() || path.len() > MAX_PATH_BYTES {
        return bad("must be 1 to 1024 bytes");
    }
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return bad("must be relative and use '/' (no drive letters or backslashes)");
    }
    if path.chars().any(|c| c.is_control()) {
        return bad("contains a control character");
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() > MAX_PATH_DEPTH {
        return bad("is nested too deeply");
    }
    if parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
        return bad("has an empty, '.' or '..' component");
    }
    Ok(())
}

impl Manifest {
    /// Checks that the manifest is internally consistent: format, ids, paths (unique,
    /// normalized, no file that is also a folder), chunk indexes in range, sizes adding up,
    /// totals right. It does not check signatures or that chunks exist.
    pub fn validate(&self) -> Result<(), BadManifest> {
        let bad = |why: String| Err(BadManifest(why));
        if self.format != MANIFEST_FORMAT {
            return bad(format!("format {} is not {MANIFEST_FORMAT}", self.format));
        }
        // Clients name folders after these (`.aethex/staging/<version>/`): checked here,
        // with the signature, before anything touches the disk.
        crate::validate::GameSlug::parse(&self.game_id).map_err(|e| BadManifest(format!("game_id: {e}")))?;
        parse_version(&self.version).map_err(|e| BadManifest(format!("version: {e}")))?;
        parse_channel(&self.channel).map_err(|e| BadManifest(format!("channel: {e}")))?;
        let mut seen_ids = std::collections::HashSet::new();
        let (mut chunk_bytes, mut stored_bytes) = (0u64, 0u64);
        for c in &self.chunks {
            if !is_blake3_hex(&c.id) {
                return bad(format!("chunk id {:?} is not 64 hex", c.id));
            }
            if !seen_ids.insert(c.id.as_str()) {
                return bad(format!("chunk {} is listed twice", c.id));
            }
            if c.size == 0 || c.size > MAX_CHUNK_BYTES {
                return bad(format!("chunk {} has size {}", c.id, c.size));
            }
            if c.compression == Compression::Identity && c.stored_size != c.size {
                return bad(format!("chunk {} is stored as is but stored_size differs", c.id));
            }
            chunk_bytes += c.size;
            stored_bytes += c.stored_size;
        }
        let mut paths = std::collections::HashSet::new();
        let mut bytes = 0u64;
        for f in &self.files {
            check_path(&f.path)?;
            if !paths.insert(f.path.as_str()) {
                return bad(format!("path {} is listed twice", f.path));
            }
            if !is_blake3_hex(&f.blake3) {
                return bad(format!("file {} has a bad blake3", f.path));
            }
            // Permission bits only: never setuid, setgid or sticky from a download.
            if f.mode > MAX_FILE_MODE {
                return bad(format!("file {} has mode {:o}; modes are permission bits (at most {MAX_FILE_MODE:o})", f.path, f.mode));
            }
            let mut sum = 0u64;
            for &i in &f.chunks {
                let c = self.chunks.get(i as usize).ok_or_else(|| BadManifest(format!("file {} names chunk #{i}, out of range", f.path)))?;
                sum += c.size;
            }
            if sum != f.size {
                return bad(format!("file {}: chunks add up to {sum} bytes, size is {}", f.path, f.size));
            }
            bytes += f.size;
        }
        // A path may not also be a folder of another path ("a" and "a/b").
        for p in &paths {
            let mut prefix = String::new();
            for part in p.split('/').take(p.split('/').count() - 1) {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                if paths.contains(prefix.as_str()) {
                    return bad(format!("{prefix} is both a file and a folder"));
                }
            }
        }
        let t = Totals { files: self.files.len() as u64, bytes, chunks: self.chunks.len() as u64, chunk_bytes, stored_bytes };
        if t != self.totals {
            return bad(format!("totals are {:?}, the lists add up to {t:?}", self.totals));
        }
        Ok(())
    }

    /// The plain byte range `[start, end)` of a file as chunk pieces: (chunk index, offset
    /// in the chunk, length). For asset streaming: a game reads part of one file.
    pub fn file_range(&self, file: &FileEntry, start: u64, end: u64) -> Vec<(u32, u64, u64)> {
        let end = end.min(file.size);
        let mut out = Vec::new();
        let mut at = 0u64;
        for &i in &file.chunks {
            let Some(c) = self.chunks.get(i as usize) else { break };
            let (c_start, c_end) = (at, at + c.size);
            if c_end > start && c_start < end {
                let from = start.max(c_start) - c_start;
                let to = end.min(c_end) - c_start;
                out.push((i, from, to - from));
            }
            at = c_end;
            if at >= end {
                break;
            }
        }
        out
    }
}

/// Names that are routes under `/api/v1/dlc/{game}/`, so no channel may have them.
pub const RESERVED_CHANNELS: &[&str] = &["chunks", "keys", "entitlements"];

/// [`parse_channel`]'s rule as a regular expression (lengths 1 to 32).
pub const CHANNEL_PATTERN: &str = "^[a-z0-9][a-z0-9._-]*$";

/// A channel name (`stable`, `beta`, `dlc-winter`): 1 to 32 of `a-z 0-9 - _ .`, starting
/// with a letter or digit, not one of [`RESERVED_CHANNELS`]. [`CHANNEL_PATTERN`] states
/// the same rule (with lengths 1 to 32), reserved names apart.
pub fn parse_channel(raw: &str) -> Result<String, Invalid> {
    let ok = (1..=32).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && raw.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        return Err(Invalid::new("channel", "channel must be 1 to 32 of a-z, 0-9, '-', '_', '.', starting with a letter or digit"));
    }
    if RESERVED_CHANNELS.contains(&raw) {
        return Err(Invalid::new("channel", format!("{raw:?} is reserved")));
    }
    Ok(raw.to_string())
}

/// [`parse_version`]'s rule as a regular expression (lengths 1 to 64).
pub const VERSION_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._+-]*$";

/// A release version (`1.2.3`, `2026.11.25-hotfix`): 1 to 64 of `A-Z a-z 0-9 . - _ +`,
/// starting with a letter or digit (so never `.` or `..`: clients name folders after it).
pub fn parse_version(raw: &str) -> Result<String, Invalid> {
    let ok = (1..=64).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_+".contains(&b))
        && raw.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(raw.to_string())
    } else {
        Err(Invalid::new("version", "version must be 1 to 64 of letters, digits, '.', '-', '_', '+', starting with a letter or digit"))
    }
}

/// [`parse_entitlement`]'s rule as a regular expression (lengths 1 to 64).
pub const ENTITLEMENT_PATTERN: &str = "^[a-z0-9._-]+$";

/// An entitlement name (`dlc-winter`): 1 to 64 of `a-z 0-9 - _ .`.
pub fn parse_entitlement(raw: &str) -> Result<String, Invalid> {
    let ok = (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(Invalid::new("entitlement", "entitlement must be 1 to 64 of a-z, 0-9, '-', '_', '.'"))
    }
}

/// `POST /api/v1/games/{game_id}/manifest-keys`: register a manifest signing key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterKeyRequest {
    /// Ed25519 public key, base64url without padding (32 bytes).
    pub public_key: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManifestKey {
    pub key_id: String,
    pub game_id: String,
    pub name: String,
    pub public_key: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManifestKeyList {
    pub keys: Vec<ManifestKey>,
}

/// `POST /api/v1/games/{game_id}/chunks/missing`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MissingChunksRequest {
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MissingChunksResponse {
    /// The asked ids origin does not hold, in the order asked.
    pub missing: Vec<String>,
}

/// `POST /api/v1/games/{game_id}/releases`: create a release and point its channel at it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateReleaseRequest {
    #[serde(flatten)]
    pub signed: SignedManifest,
    /// Players need this entitlement to download it (absent: everyone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
}

/// A release (without its manifest text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Release {
    pub game_id: String,
    pub channel: String,
    pub version: String,
    pub key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
    pub created_at: String,
    pub totals: Totals,
    /// Whether the channel points at this release now.
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseList {
    pub releases: Vec<Release>,
}

/// `POST /api/v1/games/{game_id}/releases/{version}/promote`: the same signed build to
/// another channel (the manifest keeps the channel it was built for).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// The channel the version is in now.
    pub from_channel: String,
    pub to_channel: String,
}

/// `POST /api/v1/games/{game_id}/channels/{channel}/rollback`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to point the channel at; absent: the one before the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_version: Option<String>,
}

/// `GET /api/v1/dlc/{game_id}/{channel}/manifest`: the channel's current release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseManifest {
    pub game_id: String,
    pub channel: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
    #[serde(flatten)]
    pub signed: SignedManifest,
}

/// `GET /api/v1/dlc/{game_id}/{channel}/update?current=V`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateCheck {
    pub channel: String,
    /// The version the client has.
    pub current: Option<String>,
    /// The channel's version now.
    pub latest: String,
    pub update_available: bool,
    /// Where the latest manifest is (path on this server).
    pub manifest_url: String,
    /// Bytes a full download of the latest release takes (stored sizes).
    pub download_bytes: u64,
}

/// `PUT /api/v1/games/{game_id}/entitlements/{user_id}/{entitlement}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entitlement {
    pub game_id: String,
    pub user_id: String,
    pub entitlement: String,
    pub granted_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntitlementList {
    pub entitlements: Vec<Entitlement>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let id = |c: char| c.to_string().repeat(64);
        Manifest {
            format: MANIFEST_FORMAT,
            game_id: "test-game".into(),
            version: "1".into(),
            channel: "stable".into(),
            created_at: "t".into(),
            chunking: Chunking { algorithm: "fastcdc-2020".into(), min_size: 1, avg_size: 2, max_size: 3 },
            files: vec![
                FileEntry { path: "a/b.pak".into(), size: 30, mode: 0o644, blake3: id('e'), chunks: vec![0, 1] },
                FileEntry { path: "c".into(), size: 10, mode: 0o755, blake3: id('f'), chunks: vec![0] },
            ],
            chunks: vec![
                ChunkInfo { id: id('a'), size: 10, stored_size: 4, compression: Compression::Zstd },
                ChunkInfo { id: id('b'), size: 20, stored_size: 20, compression: Compression::Identity },
            ],
            totals: Totals { files: 2, bytes: 40, chunks: 2, chunk_bytes: 30, stored_bytes: 24 },
        }
    }

    #[test]
    fn a_good_manifest_validates_and_ranges_resolve() {
        let m = manifest();
        m.validate().unwrap();
        let f = &m.files[0];
        assert_eq!(m.file_range(f, 0, 30), vec![(0, 0, 10), (1, 0, 20)]);
        assert_eq!(m.file_range(f, 5, 12), vec![(0, 5, 5), (1, 0, 2)]);
        assert_eq!(m.file_range(f, 12, 100), vec![(1, 2, 18)]);
        assert!(m.file_range(f, 30, 40).is_empty());
    }

    #[test]
    fn names_of_channels_and_versions() {
        for bad in ["chunks", "keys", "entitlements", ".", "-x", "", "Stable"] {
            assert!(parse_channel(bad).is_err(), "{bad}");
        }
        for bad in [".", "..", ".hidden", "", "a/b"] {
            assert!(parse_version(bad).is_err(), "{bad}");
        }
        assert!(parse_channel("dlc-winter").is_ok() && parse_version("1.2.3+build.7").is_ok());
    }

    #[test]
    fn bad_manifests_and_paths_are_refused() {
        for p in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\b", "C:/x", "a/\u{0}", "a/."] {
            assert!(check_path(p).is_err(), "{p:?}");
        }
        for p in ["a", "a/b.c", "dir/sub/file-1_2.pak", "ünïcode/名前"] {
            check_path(p).unwrap();
        }
        type Breaker = Box<dyn Fn(&mut Manifest)>;
        let breakers: Vec<Breaker> = vec![
            Box::new(|m| m.files[0].path = "../escape".into()),
            Box::new(|m| m.files[1].path = "a/b.pak".into()),
            Box::new(|m| m.files[1].path = "a".into()),
            Box::new(|m| m.files[0].chunks.push(9)),
            Box::new(|m| m.files[0].size = 31),
            Box::new(|m| m.chunks[0].id = "XYZ".into()),
            Box::new(|m| m.chunks[1].stored_size = 5),
            Box::new(|m| m.totals.bytes = 1),
            Box::new(|m| m.format = 2),
            Box::new(|m| m.chunks[1].id = m.chunks[0].id.clone()),
        ];
        for (i, b) in breakers.iter().enumerate() {
            let mut m = manifest();
            b(&mut m);
            assert!(m.validate().is_err(), "breaker {i}");
        }
    }
}
