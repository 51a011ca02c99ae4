//! Leaderboards: definitions per game, score submission, and reads (top N with a cursor,
//! and the entries around the player). Reads are served by edges from their replica.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::validate::Invalid;

/// Which scores rank first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Highest first (default).
    #[default]
    Desc,
    /// Lowest first (race times).
    Asc,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Desc => "desc",
            SortOrder::Asc => "asc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "desc" => Some(SortOrder::Desc),
            "asc" => Some(SortOrder::Asc),
            _ => None,
        }
    }

    /// The stored ordering key: entries are kept in ascending `rank_score` order
    /// whatever the board's direction, so one index serves every board.
    /// Scores are within ±[`MAX_ABS_SCORE`] ([`check_score`]), so the negation is exact;
    /// it saturates rather than wraps should an unchecked value ever reach it.
    pub fn rank_score(self, score: i64) -> i64 {
        match self {
            SortOrder::Asc => score,
            SortOrder::Desc => score.saturating_neg(),
        }
    }
}

/// How a submitted score combines with the player's entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Keep the better of the two (default).
    #[default]
    Best,
    /// Keep the newest.
    Latest,
    /// Add to the stored score.
    Sum,
    /// Add to the stored score; the submitted value must be positive.
    Increment,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Best => "best",
            Operator::Latest => "latest",
            Operator::Sum => "sum",
            Operator::Increment => "increment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "best" => Some(Operator::Best),
            "latest" => Some(Operator::Latest),
            "sum" => Some(Operator::Sum),
            "increment" => Some(Operator::Increment),
            _ => None,
        }
    }
}

/// When a board starts over. The finished period's entries are archived (ranked) and the
/// board is emptied. Periods are UTC: days start at 00:00, weeks on Monday, months on the
/// 1st; `every` counts `reset_every_secs` from the Unix epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ResetSchedule {
    #[default]
    Never,
    Daily,
    Weekly,
    Monthly,
    /// Every `reset_every_secs` seconds (at least 3600 unless the server allows less).
    Every,
}

impl ResetSchedule {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetSchedule::Never => "never",
            ResetSchedule::Daily => "daily",
            ResetSchedule::Weekly => "weekly",
            ResetSchedule::Monthly => "monthly",
            ResetSchedule::Every => "every",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "never" => ResetSchedule::Never,
            "daily" => ResetSchedule::Daily,
            "weekly" => ResetSchedule::Weekly,
            "monthly" => ResetSchedule::Monthly,
            "every" => ResetSchedule::Every,
            _ => return None,
        })
    }

    /// Start of the period holding `unix_secs` (`None` for `never`).
    pub fn period_start(self, unix_secs: i64, every_secs: i64) -> Option<i64> {
        const DAY: i64 = 86_400;
        let day = unix_secs.div_euclid(DAY);
        Some(match self {
            ResetSchedule::Never => return None,
            ResetSchedule::Daily => day * DAY,
            // 1970-01-01 was a Thursday: day 4 after a Monday.
            ResetSchedule::Weekly => (day - (day + 3).rem_euclid(7)) * DAY,
            ResetSchedule::Monthly => {
                let (y, m, _) = civil_from_days(day);
                days_from_civil(y, m, 1) * DAY
            }
            ResetSchedule::Every => unix_secs.div_euclid(every_secs.max(1)) * every_secs.max(1),
        })
    }
}

// Howard Hinnant's civil-date algorithms (proleptic Gregorian, UTC days since 1970-01-01).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Scores are integers within +-2^53 (exact in every JSON client).
pub const MAX_ABS_SCORE: i64 = 1 << 53;

/// Whether `score` is in the one accepted range, ±[`MAX_ABS_SCORE`]. Written as a range
/// test: `i64::MIN` has no absolute value, and `abs()` on it wraps (or panics).
pub fn score_in_range(score: i64) -> bool {
    (-MAX_ABS_SCORE..=MAX_ABS_SCORE).contains(&score)
}

/// Every path that takes a score, a score bound or a combined total checks it here.
pub fn check_score(score: i64, field: &'static str) -> Result<i64, Invalid> {
    if score_in_range(score) {
        Ok(score)
    } else {
        Err(Invalid::new(field, format!("{field} must be within ±{MAX_ABS_SCORE}")))
    }
}
/// Most entries one read returns.
pub const MAX_PAGE: u32 = 100;
pub const DEFAULT_PAGE: u32 = 10;
/// Largest entry metadata, serialized.
pub const MAX_ENTRY_METADATA_BYTES: usize = 1024;

/// A leaderboard id: 1 to 64 characters of letters, digits, `_`, `-`, `.`.
pub fn parse_leaderboard_id(raw: &str) -> Result<String, Invalid> {
    crate::validate::parse_id(raw, "leaderboard_id")
}

/// `limit` of a read: 1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`].
pub fn parse_limit(raw: Option<&str>) -> Result<u32, Invalid> {
    crate::validate::parse_limit(raw, DEFAULT_PAGE, MAX_PAGE)
}

/// `POST /api/v1/games/{game_id}/leaderboards` (developer role).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateLeaderboardRequest {
    pub leaderboard_id: String,
    pub name: String,
    #[serde(default)]
    pub sort_order: SortOrder,
    #[serde(default)]
    pub operator: Operator,
    #[serde(default)]
    pub reset: ResetSchedule,
    /// With `reset: every`: the period length in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_every_secs: Option<i64>,
    /// Submitted scores below are refused (anti-abuse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<i64>,
    /// Submitted scores above are refused (anti-abuse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_score: Option<i64>,
    /// A player's submits to this board must be at least this far apart (0: no limit).
    #[serde(default)]
    pub min_submit_interval_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Leaderboard {
    pub game_id: String,
    pub leaderboard_id: String,
    pub name: String,
    pub sort_order: SortOrder,
    pub operator: Operator,
    #[serde(default)]
    pub reset: ResetSchedule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_every_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_score: Option<i64>,
    #[serde(default)]
    pub min_submit_interval_ms: u32,
    /// Start of the current period (RFC 3339; absent when the board never resets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_start: Option<String>,
}

/// A finished period of a resetting board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchivedPeriod {
    pub period_start: String,
    pub period_end: String,
    pub entries: u64,
}

/// `GET /api/v1/leaderboards/{id}/periods`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchivedPeriodList {
    pub leaderboard_id: String,
    pub periods: Vec<ArchivedPeriod>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaderboardList {
    pub leaderboards: Vec<Leaderboard>,
}

/// `POST /api/v1/leaderboards/{leaderboard_id}/scores` (`leaderboards.submit_score`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SubmitScoreRequest {
    pub score: i64,
    /// A small JSON object stored with the entry (at most 1 KiB serialized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// One ranked entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaderboardEntry {
    /// 1-based; ties rank by who got there first.
    pub rank: i64,
    pub user_id: String,
    pub username: String,
    pub score: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub updated_at: String,
}

/// Answer of a submit: the player's entry after it (which may be unchanged when the
/// operator is `best` and the score was not better).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitScoreResponse {
    pub entry: LeaderboardEntry,
    /// Whether the stored entry changed.
    pub updated: bool,
}

/// A page of a leaderboard (`GET /api/v1/leaderboards/{id}`, `.../around-me`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaderboardPage {
    pub leaderboard_id: String,
    pub entries: Vec<LeaderboardEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod score_tests {
    use super::*;

    #[test]
    fn one_score_range_and_an_order_preserving_rank_key() {
        for ok in [0, 1, -1, MAX_ABS_SCORE, -MAX_ABS_SCORE] {
            assert_eq!(check_score(ok, "score"), Ok(ok));
        }
        for bad in [i64::MIN, i64::MIN + 1, i64::MAX, MAX_ABS_SCORE + 1, -MAX_ABS_SCORE - 1] {
            assert!(check_score(bad, "score").is_err(), "{bad}");
        }
        // Over the accepted range, and at the integer's edges too, the key orders as the board does.
        let mut values = vec![i64::MIN, i64::MIN + 1, -MAX_ABS_SCORE, -1, 0, 1, MAX_ABS_SCORE, i64::MAX - 1, i64::MAX];
        values.sort();
        for w in values.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            assert!(SortOrder::Asc.rank_score(lo) < SortOrder::Asc.rank_score(hi));
            // Descending: the higher score ranks first (a smaller key); saturation may tie
            // only i64::MIN with i64::MIN + 1, which no board accepts.
            if lo != i64::MIN {
                assert!(SortOrder::Desc.rank_score(hi) < SortOrder::Desc.rank_score(lo), "{lo} {hi}");
            }
        }
    }
}

#[cfg(test)]
mod period_tests {
    use super::ResetSchedule;

    fn at(y: i64, m: u32, d: u32, h: i64) -> i64 {
        super::days_from_civil(y, m, d) * 86_400 + h * 3600
    }

    #[test]
    fn periods_start_where_the_calendar_says() {
        // Wednesday 2026-11-25 17:00 UTC.
        let t = at(2026, 11, 25, 17);
        assert_eq!(ResetSchedule::Daily.period_start(t, 0), Some(at(2026, 11, 25, 0)));
        assert_eq!(ResetSchedule::Weekly.period_start(t, 0), Some(at(2026, 11, 23, 0)), "Monday");
        assert_eq!(ResetSchedule::Monthly.period_start(t, 0), Some(at(2026, 11, 1, 0)));
        assert_eq!(ResetSchedule::Monthly.period_start(at(2024, 3, 1, 0), 0), Some(at(2024, 3, 1, 0)));
        assert_eq!(ResetSchedule::Monthly.period_start(at(2024, 2, 29, 23), 0), Some(at(2024, 2, 1, 0)), "leap year");
        assert_eq!(ResetSchedule::Weekly.period_start(at(2026, 11, 23, 0), 0), Some(at(2026, 11, 23, 0)));
        assert_eq!(ResetSchedule::Weekly.period_start(at(2026, 11, 22, 23), 0), Some(at(2026, 11, 16, 0)), "Sunday belongs to the week before");
        assert_eq!(ResetSchedule::Every.period_start(t + 5, 3600), Some(at(2026, 11, 25, 17)));
        assert_eq!(ResetSchedule::Never.period_start(t, 0), None);
        assert_eq!(super::civil_from_days(super::days_from_civil(2000, 2, 29)), (2000, 2, 29));
    }
}
