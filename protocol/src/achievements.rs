//! Achievements (definitions per game; unlock and monotonic progress per player) and
//! player statistics (named integer counters per player, aggregated per game).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::validate::{parse_http_url, parse_id, Invalid};

/// Most achievements a game may define.
pub const MAX_ACHIEVEMENTS_PER_GAME: u32 = 500;
/// Largest `progress_target`.
pub const MAX_PROGRESS_TARGET: u64 = 1_000_000_000;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Most statistics one player may hold in a game.
pub const MAX_STATS_PER_PLAYER: u32 = 200;
/// Most statistics one update may touch.
pub const MAX_STATS_PER_UPDATE: usize = 32;
/// Largest absolute value of a statistic (and of one increment).
pub const MAX_ABS_STAT: i64 = 1_000_000_000_000_000;

/// `PUT /api/v1/games/{game_id}/achievements/{achievement_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DefineAchievementRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Hidden achievements show no name, description or icon to players until unlocked.
    #[serde(default)]
    pub hidden: bool,
    /// Progress at which it unlocks (1: unlocked by `unlock` or any progress).
    #[serde(default = "one")]
    pub progress_target: u64,
    #[serde(default)]
    pub icon_url: Option<String>,
}

fn one() -> u64 {
    1
}

/// A definition, as developers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Achievement {
    pub game_id: String,
    pub achievement_id: String,
    pub name: String,
    pub description: String,
    pub hidden: bool,
    pub progress_target: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AchievementList {
    pub achievements: Vec<Achievement>,
}

/// One achievement as a player sees it (the seed's `ach.name, ach.unlocked, ach.progress`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlayerAchievement {
    pub achievement_id: String,
    /// `null` while a hidden achievement is locked.
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    pub hidden: bool,
    pub unlocked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlocked_at: Option<String>,
    pub progress: u64,
    pub progress_target: u64,
}

impl PlayerAchievement {
    /// A definition as a player with this progress sees it: a locked hidden achievement
    /// shows neither its name, description nor icon.
    pub fn of(def: Achievement, progress: u64, unlocked_at: Option<String>) -> Self {
        let unlocked = unlocked_at.is_some();
        let shown = unlocked || !def.hidden;
        Self {
            achievement_id: def.achievement_id,
            name: shown.then_some(def.name),
            description: shown.then_some(def.description),
            icon_url: if shown { def.icon_url } else { None },
            hidden: def.hidden,
            unlocked,
            unlocked_at,
            progress: progress.min(def.progress_target),
            progress_target: def.progress_target,
        }
    }
}

impl PlayerAchievements {
    pub fn of(user_id: String, achievements: Vec<PlayerAchievement>) -> Self {
        let unlocked = achievements.iter().filter(|a| a.unlocked).count() as u32;
        Self { user_id, total: achievements.len() as u32, unlocked, achievements }
    }
}

/// `GET /api/v1/achievements` (the seed's `get_all`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlayerAchievements {
    pub user_id: String,
    pub achievements: Vec<PlayerAchievement>,
    pub unlocked: u32,
    pub total: u32,
}

/// `POST /api/v1/achievements/{id}/unlock`. Server keys name the player.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// `POST /api/v1/achievements/{id}/progress`: progress only goes up (a lower value leaves
/// it as it is); reaching `progress_target` unlocks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetProgressRequest {
    pub progress: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Answer of unlock and set_progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AchievementUpdate {
    pub achievement: PlayerAchievement,
    /// This call unlocked it (false when it was unlocked before, or is still locked).
    pub newly_unlocked: bool,
}

/// `POST /api/v1/stats`: counters added to, and values set, in one atomic update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateStatsRequest {
    #[serde(default)]
    pub increments: BTreeMap<String, i64>,
    #[serde(default)]
    pub set: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// A player's statistics in the token's game.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlayerStats {
    pub user_id: String,
    pub stats: BTreeMap<String, i64>,
}

/// One statistic over every player of a game.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatSummary {
    pub stat: String,
    pub players: u64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
    pub avg: f64,
}

/// `GET /api/v1/games/{game_id}/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsSummary {
    pub stats: Vec<StatSummary>,
}

pub fn parse_achievement_id(raw: &str) -> Result<String, Invalid> {
    parse_id(raw, "achievement_id")
}

/// A statistic's name: 1 to 64 of `a-z 0-9 _ - .`.
pub fn parse_stat_name(raw: &str) -> Result<String, Invalid> {
    let ok = (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(Invalid::new("stats", format!("statistic names are 1 to 64 of a-z, 0-9, '_', '-', '.' ({raw:?} is not)")))
    }
}

impl DefineAchievementRequest {
    /// Checks every field; the icon URL must be http(s).
    pub fn validate(&self) -> Result<(), Invalid> {
        crate::validate::DisplayName::parse(&self.name, "name")?;
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS || self.description.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Invalid::new(
                "description",
                format!("description must be at most {MAX_DESCRIPTION_CHARS} characters, no control characters"),
            ));
        }
        if !(1..=MAX_PROGRESS_TARGET).contains(&self.progress_target) {
            return Err(Invalid::new("progress_target", format!("progress_target must be 1 to {MAX_PROGRESS_TARGET}")));
        }
        if let Some(u) = &self.icon_url {
            parse_http_url(u, "icon_url")?;
        }
        Ok(())
    }
}

impl UpdateStatsRequest {
    /// Names, values and sizes; a statistic may not be both incremented and set.
    pub fn validate(&self) -> Result<(), Invalid> {
        let n = self.increments.len() + self.set.len();
        if n == 0 || n > MAX_STATS_PER_UPDATE {
            return Err(Invalid::new("stats", format!("an update touches 1 to {MAX_STATS_PER_UPDATE} statistics")));
        }
        for (k, v) in self.increments.iter().chain(self.set.iter()) {
            parse_stat_name(k)?;
            if v.unsigned_abs() > MAX_ABS_STAT as u64 {
                return Err(Invalid::new("stats", format!("{k}: values must stay within ±{MAX_ABS_STAT}")));
            }
        }
        if let Some(k) = self.increments.keys().find(|k| self.set.contains_key(*k)) {
            return Err(Invalid::new("stats", format!("{k} is both incremented and set")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_and_updates_are_checked() {
        let ok =
            DefineAchievementRequest { name: "First kill".into(), description: String::new(), hidden: false, progress_target: 1, icon_url: None };
        assert!(ok.validate().is_ok());
        assert!(DefineAchievementRequest { progress_target: 0, ..ok.clone() }.validate().is_err());
        assert!(DefineAchievementRequest { icon_url: Some("ftp://x".into()), ..ok.clone() }.validate().is_err());
        assert!(DefineAchievementRequest { description: "x".repeat(501), ..ok.clone() }.validate().is_err());
        assert!(parse_achievement_id("kill_100.enemies-v2").is_ok());
        assert!(parse_achievement_id("../x").is_err());
        let mut up = UpdateStatsRequest::default();
        assert!(up.validate().is_err(), "empty");
        up.increments.insert("kills".into(), 3);
        assert!(up.validate().is_ok());
        up.set.insert("kills".into(), 1);
        assert!(up.validate().is_err(), "both");
        up.set.clear();
        up.increments.insert("Bad Name".into(), 1);
        assert!(up.validate().is_err());
        let big = UpdateStatsRequest { increments: [("x".to_string(), MAX_ABS_STAT + 1)].into(), ..Default::default() };
        assert!(big.validate().is_err());
    }
}
