//! `AeThexCloud.social`: the seed's `social.leaderboards`, `social.achievements`
//! (`unlock`, `set_progress`, `get_all`), player statistics and share links.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};

use aethex_protocol::achievements::{AchievementUpdate, PlayerAchievements, PlayerStats, UpdateStatsRequest};
use aethex_protocol::social::{ShareRequest, SharedItem};

use crate::leaderboards::{enc, Leaderboards};
use crate::{AeThexCloud, SdkResult};

pub struct Social<'a> {
    pub(crate) cloud: &'a AeThexCloud,
}

impl<'a> Social<'a> {
    pub fn leaderboards(&self) -> Leaderboards<'a> {
        Leaderboards { cloud: self.cloud }
    }

    pub fn achievements(&self) -> Achievements<'a> {
        Achievements { cloud: self.cloud }
    }

    pub fn friends(&self) -> crate::friends::Friends<'a> {
        crate::friends::Friends { cloud: self.cloud }
    }

    pub fn stats(&self) -> Stats<'a> {
        Stats { cloud: self.cloud }
    }

    /// A public link to the player's score on `leaderboard_id` (score and rank now).
    pub async fn share_score(&self, leaderboard_id: &str) -> SdkResult<SharedItem> {
        let req = ShareRequest::Score { leaderboard_id: leaderboard_id.to_string() };
        self.cloud.request(Method::POST, "/api/v1/share", Some(&req), true).await
    }

    /// A public link to an achievement the player has unlocked.
    pub async fn share_achievement(&self, achievement_id: &str) -> SdkResult<SharedItem> {
        let req = ShareRequest::Achievement { achievement_id: achievement_id.to_string() };
        self.cloud.request(Method::POST, "/api/v1/share", Some(&req), true).await
    }

    /// Deletes one of the player's share links.
    pub async fn delete_share(&self, share_id: &str) -> SdkResult<()> {
        self.cloud.request::<Value, Option<Value>>(Method::DELETE, &format!("/api/v1/share/{}", enc(share_id)), None, true).await.map(drop)
    }
}

pub struct Achievements<'a> {
    cloud: &'a AeThexCloud,
}

impl Achievements<'_> {
    /// Unlocks an achievement (`newly_unlocked` tells whether this call did).
    pub async fn unlock(&self, achievement_id: &str) -> SdkResult<AchievementUpdate> {
        self.cloud.request(Method::POST, &format!("/api/v1/achievements/{}/unlock", enc(achievement_id)), Some(&json!({})), true).await
    }

    /// Raises the progress (a lower value than stored changes nothing); unlocks at the target.
    pub async fn set_progress(&self, achievement_id: &str, progress: u64) -> SdkResult<AchievementUpdate> {
        let body = json!({ "progress": progress });
        self.cloud.request(Method::POST, &format!("/api/v1/achievements/{}/progress", enc(achievement_id)), Some(&body), true).await
    }

    /// Every achievement of the game with the player's progress (hidden locked ones without
    /// name or description).
    pub async fn get_all(&self) -> SdkResult<PlayerAchievements> {
        self.cloud.request::<Value, _>(Method::GET, "/api/v1/achievements", None, true).await
    }
}

pub struct Stats<'a> {
    cloud: &'a AeThexCloud,
}

impl Stats<'_> {
    /// Adds `by` to a counter (created at 0).
    pub async fn increment(&self, stat: &str, by: i64) -> SdkResult<PlayerStats> {
        self.update(&UpdateStatsRequest { increments: BTreeMap::from([(stat.to_string(), by)]), ..Default::default() }).await
    }

    /// Increments and sets in one all-or-nothing update.
    pub async fn update(&self, req: &UpdateStatsRequest) -> SdkResult<PlayerStats> {
        self.cloud.request(Method::POST, "/api/v1/stats", Some(req), true).await
    }

    pub async fn get(&self) -> SdkResult<PlayerStats> {
        self.cloud.request::<Value, _>(Method::GET, "/api/v1/stats", None, true).await
    }
}
