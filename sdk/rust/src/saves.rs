//! `AeThexCloud.saves`: the seed's `save`, `load`, `list`, plus delete, history, restore
//! and conflict handling.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::Method;
use serde_json::Value;

use aethex_protocol::saves::{
    canonical_json, DeleteResponse, LoadResponse, RestoreRequest, SaveHistory, SaveList, SaveListEntry, SaveRequest, SaveResponse, CHECKSUM_PREFIX,
};

use crate::{AeThexCloud, SdkError, SdkResult};

pub struct Saves<'a> {
    pub(crate) cloud: &'a AeThexCloud,
}

const NONE: Option<&Value> = None;

/// `blake3:<hex>` of bytes, the checksum format of saves.
pub fn checksum(bytes: &[u8]) -> String {
    format!("{CHECKSUM_PREFIX}{}", blake3::hash(bytes).to_hex())
}

/// Decoded data of a binary save.
pub fn binary_data(loaded: &LoadResponse) -> SdkResult<Vec<u8>> {
    let b64 = loaded.data_base64.as_deref().ok_or_else(|| SdkError::Decode("not a binary save".into()))?;
    STANDARD.decode(b64).map_err(|e| SdkError::Decode(e.to_string()))
}

/// Checks a loaded save against its metadata checksum.
pub fn verify(loaded: &LoadResponse) -> bool {
    let bytes = match (&loaded.data, &loaded.data_base64) {
        (Some(v), _) => canonical_json(v),
        (None, Some(_)) => match binary_data(loaded) {
            Ok(b) => b,
            Err(_) => return false,
        },
        (None, None) => return false,
    };
    checksum(&bytes) == loaded.metadata.checksum
}

impl Saves<'_> {
    fn me(&self) -> String {
        "/api/v1/saves/me".to_string()
    }

    /// Saves JSON data to a slot, based on the last version this client saw of it.
    pub async fn save(&self, slot: &str, data: Value) -> SdkResult<SaveResponse> {
        let checksum = Some(checksum(&canonical_json(&data)));
        self.save_with(SaveRequest { slot_name: slot.into(), data: Some(data), checksum, ..Default::default() }).await
    }

    /// Saves binary data to a slot.
    pub async fn save_binary(&self, slot: &str, bytes: &[u8]) -> SdkResult<SaveResponse> {
        self.save_with(SaveRequest {
            slot_name: slot.into(),
            data_base64: Some(STANDARD.encode(bytes)),
            checksum: Some(checksum(bytes)),
            ..Default::default()
        })
        .await
    }

    /// Full control: `base_version` (filled from the last seen version when absent),
    /// metadata, conflict policy.
    pub async fn save_with(&self, mut req: SaveRequest) -> SdkResult<SaveResponse> {
        if req.base_version.is_none() {
            req.base_version = Some(self.cloud.slot_version(&req.slot_name).unwrap_or(0));
        }
        let r: SaveResponse = self.cloud.request(Method::POST, &self.me(), Some(&req), true).await?;
        if r.metadata.slot_name == req.slot_name {
            self.cloud.remember_version(&req.slot_name, r.metadata.version);
        }
        Ok(r)
    }

    /// Saves without a base version: last writer wins.
    pub async fn overwrite(&self, slot: &str, data: Value) -> SdkResult<SaveResponse> {
        let req = SaveRequest { slot_name: slot.into(), data: Some(data), ..Default::default() };
        let r: SaveResponse = self.cloud.request(Method::POST, &self.me(), Some(&req), true).await?;
        self.cloud.remember_version(slot, r.metadata.version);
        Ok(r)
    }

    pub async fn load(&self, slot: &str) -> SdkResult<LoadResponse> {
        let r: LoadResponse = self.cloud.request(Method::GET, &format!("{}/{slot}", self.me()), NONE, true).await?;
        self.cloud.remember_version(slot, r.metadata.version);
        Ok(r)
    }

    pub async fn load_version(&self, slot: &str, version: i64) -> SdkResult<LoadResponse> {
        self.cloud.request(Method::GET, &format!("{}/{slot}?version={version}", self.me()), NONE, true).await
    }

    pub async fn list(&self) -> SdkResult<Vec<SaveListEntry>> {
        Ok(self.list_all().await?.saves)
    }

    /// The list with the player's used and allowed bytes.
    pub async fn list_all(&self) -> SdkResult<SaveList> {
        self.cloud.request(Method::GET, &self.me(), NONE, true).await
    }

    /// Deletes a slot and all its versions; `slot_or_id` is the slot's name or the save id
    /// of any of its versions.
    pub async fn delete(&self, slot_or_id: &str) -> SdkResult<DeleteResponse> {
        let r: DeleteResponse = self.cloud.request(Method::DELETE, &format!("{}/{slot_or_id}", self.me()), NONE, true).await?;
        self.cloud.forget_slot(&r.slot_name);
        Ok(r)
    }

    pub async fn history(&self, slot: &str) -> SdkResult<SaveHistory> {
        self.cloud.request(Method::GET, &format!("{}/history?slot_name={slot}", self.me()), NONE, true).await
    }

    pub async fn restore(&self, slot: &str, version: i64) -> SdkResult<SaveResponse> {
        let r: SaveResponse =
            self.cloud.request(Method::POST, &format!("{}/{slot}/restore", self.me()), Some(&RestoreRequest { version }), true).await?;
        self.cloud.remember_version(slot, r.metadata.version);
        Ok(r)
    }
}
