//! `AeThexCloud.logic`: the game's own server code (a WebAssembly component, see
//! `docs/logic.md`). Players call its custom RPCs; a studio's tools deploy it.

use reqwest::Method;
use serde_json::Value;

use aethex_protocol::logic::{ActivateLogicRequest, LogicVersion, LogicVersionList, CUSTOM_RPC_PREFIX, WASM_CONTENT_TYPE};

use crate::leaderboards::enc;
use crate::{AeThexCloud, SdkError, SdkResult};

pub struct Logic<'a> {
    pub(crate) cloud: &'a AeThexCloud,
}

impl Logic<'_> {
    /// Calls the game's custom RPC `name` (JSON-RPC `custom.{name}`) with a JSON object (or
    /// `null`) as its payload, in the signed-in player's game. A refusal by the game's logic
    /// is [`SdkError::Api`] with its reason.
    pub async fn rpc(&self, name: &str, payload: Value) -> SdkResult<Value> {
        let params = match payload {
            Value::Null => Value::Object(Default::default()),
            p @ Value::Object(_) => p,
            _ => return Err(SdkError::Decode("a custom RPC's payload is a JSON object (JSON-RPC named parameters)".into())),
        };
        self.cloud.rpc(&format!("{CUSTOM_RPC_PREFIX}{name}"), params).await
    }

    /// Deploys a component as `game_id`'s next logic version (a developer of the game).
    pub async fn deploy(&self, game_id: &str, component: Vec<u8>) -> SdkResult<LogicVersion> {
        let path = format!("/api/v1/games/{}/logic", enc(game_id));
        self.cloud.request_bytes(Method::POST, &path, component, WASM_CONTENT_TYPE).await
    }

    /// The game's kept versions and the one that runs.
    pub async fn versions(&self, game_id: &str) -> SdkResult<LogicVersionList> {
        self.cloud.request::<Value, _>(Method::GET, &format!("/api/v1/games/{}/logic", enc(game_id)), None, true).await
    }

    /// Runs a kept version (a rollback), or none.
    pub async fn activate(&self, game_id: &str, version: Option<i64>) -> SdkResult<LogicVersionList> {
        let body = ActivateLogicRequest { version };
        self.cloud.request(Method::POST, &format!("/api/v1/games/{}/logic/activate", enc(game_id)), Some(&body), true).await
    }
}
