//! `AeThexCloud.social.leaderboards`: the seed's `submit_score` and `get`, plus the
//! entries around the player. Reads are answered by the nearest edge.

use reqwest::Method;
use serde_json::{json, Value};

use aethex_protocol::leaderboards::{LeaderboardPage, SubmitScoreResponse};

use crate::{AeThexCloud, SdkResult};

pub struct Leaderboards<'a> {
    pub(crate) cloud: &'a AeThexCloud,
}

pub(crate) fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

impl Leaderboards<'_> {
    /// Submits a score (how it combines with the stored one is the board's operator).
    pub async fn submit_score(&self, leaderboard_id: &str, score: i64) -> SdkResult<SubmitScoreResponse> {
        self.submit_score_with(leaderboard_id, score, None).await
    }

    /// Submits a score with a small metadata object stored on the entry.
    pub async fn submit_score_with(&self, leaderboard_id: &str, score: i64, metadata: Option<Value>) -> SdkResult<SubmitScoreResponse> {
        let mut body = json!({ "score": score });
        if let Some(m) = metadata {
            body["metadata"] = m;
        }
        self.cloud.request(Method::POST, &format!("/api/v1/leaderboards/{}/scores", enc(leaderboard_id)), Some(&body), true).await
    }

    /// The top `limit` entries (1 to 100).
    pub async fn get(&self, leaderboard_id: &str, limit: u32) -> SdkResult<LeaderboardPage> {
        self.page(leaderboard_id, limit, None).await
    }

    /// A page after `cursor` (the previous page's `next_cursor`).
    pub async fn page(&self, leaderboard_id: &str, limit: u32, cursor: Option<&str>) -> SdkResult<LeaderboardPage> {
        let mut path = format!("/api/v1/leaderboards/{}?limit={limit}", enc(leaderboard_id));
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={}", enc(c)));
        }
        self.cloud.request::<Value, _>(Method::GET, &path, None, true).await
    }

    /// The seed's `"range": "friends"`: the board among the player and their friends.
    pub async fn get_friends(&self, leaderboard_id: &str, limit: u32) -> SdkResult<LeaderboardPage> {
        self.cloud
            .request::<Value, _>(Method::GET, &format!("/api/v1/leaderboards/{}?limit={limit}&range=friends", enc(leaderboard_id)), None, true)
            .await
    }

    /// `limit` entries centred on the signed-in player.
    pub async fn around_me(&self, leaderboard_id: &str, limit: u32) -> SdkResult<LeaderboardPage> {
        self.cloud
            .request::<Value, _>(Method::GET, &format!("/api/v1/leaderboards/{}/around-me?limit={limit}", enc(leaderboard_id)), None, true)
            .await
    }
}
