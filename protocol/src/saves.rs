//! Cloud saves: per (user, game, slot), versioned, with optimistic concurrency.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What to do when `base_version` is behind the slot's current version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Answer 409 with the server's current copy (default).
    #[default]
    Reject,
    /// Write anyway, as the next version.
    Overwrite,
    /// Keep the server's copy in the slot and write this one to a new slot
    /// `<slot>.conflict-<n>`.
    KeepBoth,
    /// Three-way JSON merge (base = `base_version`, ours = this write, theirs = current);
    /// clean merges are written, conflicting ones answer 409 with the conflicts unless
    /// `merge_prefer` says which side wins.
    Merge,
}

/// Which side wins a conflicting path in a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MergePrefer {
    Client,
    Server,
}

/// `POST /api/v1/saves/{user_id}` (`saves.save`). Exactly one of `data` (any JSON value)
/// and `data_base64` (a binary save) is given.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SaveRequest {
    pub slot_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
    /// The version this write was based on. Absent = write unconditionally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_version: Option<i64>,
    /// Client metadata: `engine_version`, `game_version` and any small custom fields
    /// (a JSON object, at most 4 KiB serialized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// `blake3:<hex>` of the save's bytes (the JSON text as sent in `data`, serialized
    /// compactly, or the decoded binary). When present the server checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_conflict: Option<ConflictPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_prefer: Option<MergePrefer>,
}

/// The seed's save metadata, with `version` the slot's revision counter and the game's
/// build version in `game_version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SaveMetadata {
    pub save_id: String,
    pub user_id: String,
    pub game_id: String,
    pub slot_name: String,
    /// Revision of the slot: 1 for the first write, +1 for every write after.
    pub version: i64,
    /// RFC 3339 time of this version's write.
    pub timestamp: String,
    /// Size of the save's plain bytes.
    pub size_bytes: i64,
    /// Size as stored (after compression, before encryption overhead).
    pub stored_bytes: i64,
    /// `blake3:<hex>` of the plain bytes.
    pub checksum: String,
    pub compressed: bool,
    /// `json` or `binary`.
    pub content_type: String,
    #[serde(default)]
    pub engine_version: Option<String>,
    #[serde(default)]
    pub game_version: Option<String>,
    /// The client's metadata object as sent.
    #[serde(default)]
    pub metadata: Value,
}

impl SaveMetadata {
    /// Fills `metadata`, `engine_version` and `game_version` from the client metadata
    /// as stored (JSON text; absent or unreadable = an empty object).
    pub fn with_client_metadata(mut self, stored: Option<&str>) -> Self {
        let meta: Value = stored.and_then(|m| serde_json::from_str(m).ok()).unwrap_or(Value::Null);
        let text = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_string);
        self.engine_version = text("engine_version");
        self.game_version = text("game_version");
        self.metadata = if meta.is_null() { Value::Object(Default::default()) } else { meta };
        self
    }
}

/// Answer of a save: the stored version's metadata plus what happened on a conflict.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SaveResponse {
    #[serde(flatten)]
    pub metadata: SaveMetadata,
    /// True when the stored data is the result of a server-side merge.
    #[serde(default)]
    pub merged: bool,
    /// Paths where both sides changed, with the side that won (`merge_prefer`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<MergeConflict>,
}

/// A path (JSON Pointer) changed differently by both sides of a merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MergeConflict {
    pub path: String,
    #[serde(default)]
    pub base: Option<Value>,
    #[serde(default)]
    pub client: Option<Value>,
    #[serde(default)]
    pub server: Option<Value>,
}

/// `GET /api/v1/saves/{user_id}/{slot_or_save_id}` (`saves.load`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoadResponse {
    pub metadata: SaveMetadata,
    /// The save, for JSON saves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The save, base64, for binary saves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
}

/// One entry of `GET /api/v1/saves/{user_id}` (`saves.list`): the seed's `name`,
/// `timestamp` (from the metadata), `size` and the full metadata, in one flat object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SaveListEntry {
    pub name: String,
    pub size: i64,
    #[serde(flatten)]
    pub metadata: SaveMetadata,
}

impl SaveListEntry {
    /// When the slot's newest version was written (RFC 3339).
    pub fn timestamp(&self) -> &str {
        &self.metadata.timestamp
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SaveList {
    pub saves: Vec<SaveListEntry>,
    /// Bytes stored for this user and game, all kept versions counted.
    pub used_bytes: i64,
    pub quota_bytes: i64,
}

/// `GET /api/v1/saves/{user_id}/history` (`saves.history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SaveHistory {
    pub versions: Vec<SaveMetadata>,
}

/// `saves.load` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoadParams {
    pub slot_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Act for this user (server keys only; players act for themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// `saves.delete` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    pub slot_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// `saves.history` params and the query of the history route.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// `saves.list` params.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// `POST /api/v1/saves/{user_id}/{slot}/restore` (`saves.restore`): write an old
/// version's data as the slot's next version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    pub version: i64,
}

/// `saves.restore` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RestoreParams {
    pub slot_name: String,
    pub version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Answer of a delete.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteResponse {
    pub slot_name: String,
    pub versions_deleted: u64,
}

/// `blake3:<hex>` of some bytes is the checksum format.
pub const CHECKSUM_PREFIX: &str = "blake3:";

/// The bytes a JSON save is stored (and checksummed) as: compact JSON with object keys
/// sorted, so any client can reproduce the checksum from the value it holds.
pub fn canonical_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            out.push(b'{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(serde_json::to_string(k).expect("string serializes").as_bytes());
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(serde_json::to_string(scalar).expect("scalar serializes").as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_is_compact() {
        let v: Value = serde_json::from_str(r#"{ "b": [1, {"z": null, "a": "x"}], "a": 1.5 }"#).unwrap();
        assert_eq!(String::from_utf8(canonical_json(&v)).unwrap(), r#"{"a":1.5,"b":[1,{"a":"x","z":null}]}"#);
    }
}
