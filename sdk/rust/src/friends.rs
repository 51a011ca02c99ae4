//! `AeThexCloud.social.friends`: requests, accept, decline, remove, block, the list.

use reqwest::Method;
use serde_json::{json, Value};

use aethex_protocol::social::{Friend, FriendList};

use crate::leaderboards::enc;
use crate::{AeThexCloud, SdkResult};

pub struct Friends<'a> {
    pub(crate) cloud: &'a AeThexCloud,
}

impl Friends<'_> {
    /// Asks a player (by id) to be friends; if they asked first you are friends at once.
    pub async fn request(&self, user_id: &str) -> SdkResult<Friend> {
        self.cloud.request(Method::POST, "/api/v1/friends/requests", Some(&json!({ "user_id": user_id })), true).await
    }

    pub async fn request_by_username(&self, username: &str) -> SdkResult<Friend> {
        self.cloud.request(Method::POST, "/api/v1/friends/requests", Some(&json!({ "username": username })), true).await
    }

    pub async fn accept(&self, user_id: &str) -> SdkResult<Friend> {
        self.cloud.request(Method::POST, &format!("/api/v1/friends/{}/accept", enc(user_id)), Some(&json!({})), true).await
    }

    pub async fn decline(&self, user_id: &str) -> SdkResult<()> {
        self.cloud
            .request::<_, Option<Value>>(Method::POST, &format!("/api/v1/friends/{}/decline", enc(user_id)), Some(&json!({})), true)
            .await
            .map(drop)
    }

    /// Ends a friendship or withdraws a request.
    pub async fn remove(&self, user_id: &str) -> SdkResult<()> {
        self.cloud.request::<Value, Option<Value>>(Method::DELETE, &format!("/api/v1/friends/{}", enc(user_id)), None, true).await.map(drop)
    }

    pub async fn block(&self, user_id: &str) -> SdkResult<Friend> {
        self.cloud.request(Method::POST, &format!("/api/v1/friends/{}/block", enc(user_id)), Some(&json!({})), true).await
    }

    pub async fn unblock(&self, user_id: &str) -> SdkResult<()> {
        self.cloud.request::<Value, Option<Value>>(Method::DELETE, &format!("/api/v1/friends/{}/block", enc(user_id)), None, true).await.map(drop)
    }

    pub async fn list(&self) -> SdkResult<FriendList> {
        self.cloud.request::<Value, _>(Method::GET, "/api/v1/friends", None, true).await
    }
}
