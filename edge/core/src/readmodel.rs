//! Queries of the edge read model: save metadata, leaderboard pages, regions, DLC
//! releases, achievements, A/B assignments and analytics consent.
//!
//! The same functions answer at the edge (over its replica) and at origin (over its own
//! libSQL tables, which have the same names and columns), so an answer does not depend
//! on who gives it. `Ok(None)` means "not in this database": an edge then asks origin,
//! origin answers 404.

use aethex_protocol::achievements::{Achievement, PlayerAchievement, PlayerAchievements};
use aethex_protocol::analytics::{assign_variant, Assignment, Assignments, Variant};
use aethex_protocol::leaderboards::{LeaderboardEntry, LeaderboardPage, SortOrder};
use aethex_protocol::regions::{Region, RegionList};
use aethex_protocol::saves::{SaveHistory, SaveList, SaveListEntry, SaveMetadata};
use aethex_protocol::validate::Invalid;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::sql::{Replica, ReplicaError, Row, Rows, Stmt, Value};

const SAVE_COLS: &str =
    "save_id, user_id, game_id, slot_name, version, created_at, size_bytes, stored_bytes, checksum, compressed, content_type, metadata";

fn save_meta(r: Row<'_>) -> Result<SaveMetadata, ReplicaError> {
    Ok(SaveMetadata {
        save_id: r.text(0)?,
        user_id: r.text(1)?,
        game_id: r.text(2)?,
        slot_name: r.text(3)?,
        version: r.i64(4)?,
        timestamp: r.text(5)?,
        size_bytes: r.i64(6)?,
        stored_bytes: r.i64(7)?,
        checksum: r.text(8)?,
        compressed: r.bool(9)?,
        content_type: r.text(10)?,
        engine_version: None,
        game_version: None,
        metadata: serde_json::Value::Null,
    }
    .with_client_metadata(r.opt_text(11)?.as_deref()))
}

fn metas(rows: &Rows) -> Result<Vec<SaveMetadata>, ReplicaError> {
    rows.rows.iter().map(|r| save_meta(Row(r))).collect()
}

fn first_i64(rows: &Rows) -> Result<Option<i64>, ReplicaError> {
    rows.rows.first().map(|r| Row(r).i64(0)).transpose()
}

/// The newest version of each slot of a player in a game, with bytes used and allowed.
/// `None` when the game is not known here.
pub async fn save_list<R: Replica>(r: &R, user: &str, game: &str) -> Result<Option<SaveList>, ReplicaError> {
    let res = r
        .batch(vec![
            Stmt::new("SELECT quota_bytes FROM games WHERE game_id = ?1", vec![game.into()]),
            Stmt::new(
                format!(
                    "SELECT {SAVE_COLS} FROM saves s WHERE user_id = ?1 AND game_id = ?2
                     AND version = (SELECT MAX(version) FROM saves m
                                    WHERE m.user_id = s.user_id AND m.game_id = s.game_id AND m.slot_name = s.slot_name)
                     ORDER BY slot_name"
                ),
                vec![user.into(), game.into()],
            ),
            Stmt::new("SELECT COALESCE(SUM(stored_bytes), 0) FROM saves WHERE user_id = ?1 AND game_id = ?2", vec![user.into(), game.into()]),
        ])
        .await?;
    let Some(quota_bytes) = first_i64(&res[0])? else {
        return Ok(None);
    };
    let saves = metas(&res[1])?.into_iter().map(|m| SaveListEntry { name: m.slot_name.clone(), size: m.size_bytes, metadata: m }).collect();
    Ok(Some(SaveList { saves, used_bytes: first_i64(&res[2])?.unwrap_or(0), quota_bytes }))
}

/// Kept versions, newest first (one slot, or all by slot). `None` when the game is not
/// known here.
pub async fn save_history<R: Replica>(r: &R, user: &str, game: &str, slot: Option<&str>) -> Result<Option<SaveHistory>, ReplicaError> {
    let query = match slot {
        Some(s) => Stmt::new(
            format!("SELECT {SAVE_COLS} FROM saves WHERE user_id = ?1 AND game_id = ?2 AND slot_name = ?3 ORDER BY version DESC LIMIT 1000"),
            vec![user.into(), game.into(), s.into()],
        ),
        None => Stmt::new(
            format!("SELECT {SAVE_COLS} FROM saves WHERE user_id = ?1 AND game_id = ?2 ORDER BY slot_name, version DESC LIMIT 1000"),
            vec![user.into(), game.into()],
        ),
    };
    let res = r.batch(vec![Stmt::new("SELECT 1 FROM games WHERE game_id = ?1", vec![game.into()]), query]).await?;
    if res[0].rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(SaveHistory { versions: metas(&res[1])? }))
}

/// Which version of a save a load asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveRef<'a> {
    /// The newest version of a slot.
    Latest(&'a str),
    /// A kept version of a slot.
    Version(&'a str, i64),
    /// A version by its save id.
    Id(&'a str),
}

/// Metadata of one version of a player's save.
pub async fn save_version<R: Replica>(r: &R, user: &str, game: &str, which: SaveRef<'_>) -> Result<Option<SaveMetadata>, ReplicaError> {
    let stmt = match which {
        SaveRef::Latest(slot) => Stmt::new(
            format!("SELECT {SAVE_COLS} FROM saves WHERE user_id = ?1 AND game_id = ?2 AND slot_name = ?3 ORDER BY version DESC LIMIT 1"),
            vec![user.into(), game.into(), slot.into()],
        ),
        SaveRef::Version(slot, v) => Stmt::new(
            format!("SELECT {SAVE_COLS} FROM saves WHERE user_id = ?1 AND game_id = ?2 AND slot_name = ?3 AND version = ?4"),
            vec![user.into(), game.into(), slot.into(), v.into()],
        ),
        SaveRef::Id(id) => Stmt::new(
            format!("SELECT {SAVE_COLS} FROM saves WHERE save_id = ?1 AND user_id = ?2 AND game_id = ?3"),
            vec![id.into(), user.into(), game.into()],
        ),
    };
    let res = r.batch(vec![stmt]).await?;
    Ok(metas(&res[0])?.pop())
}

/// Where a page of a leaderboard starts: after the entry it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Rank of the last entry of the previous page.
    pub rank: i64,
    pub rank_score: i64,
    pub updated_at: String,
    pub user_id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}\n{}\n{}\n{}", self.rank, self.rank_score, self.updated_at, self.user_id))
    }

    pub fn decode(s: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new("cursor", "cursor is not one this server gave out");
        if s.len() > 512 {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.splitn(4, '\n');
        // A board holds far fewer than 2^53 entries; a bound keeps `rank + n` exact.
        let rank = parts.next().and_then(|p| p.parse().ok()).filter(|r: &i64| (1..=1 << 53).contains(r)).ok_or_else(bad)?;
        let rank_score = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let updated_at = parts.next().ok_or_else(bad)?.to_string();
        let user_id = parts.next().ok_or_else(bad)?.to_string();
        Ok(Self { rank, rank_score, updated_at, user_id })
    }
}

// Page sizes are bound as `LIMIT (?n + 0)`, not `LIMIT ?n`: with a bare parameter as its
// LIMIT, SQLite as libsql builds it prepares the statement again on every bind, even when
// it is kept prepared (measured on a 100k-entry replica: 33 µs per run against 12 µs).
const ENTRY_COLS: &str = "e.user_id, e.username, e.score, e.rank_score, e.metadata, e.updated_at";

struct RawEntry {
    user_id: String,
    username: String,
    score: i64,
    rank_score: i64,
    metadata: Option<String>,
    updated_at: String,
}

fn raw_entries(rows: &Rows) -> Result<Vec<RawEntry>, ReplicaError> {
    rows.rows
        .iter()
        .map(|r| {
            let r = Row(r);
            Ok(RawEntry {
                user_id: r.text(0)?,
                username: r.text(1)?,
                score: r.i64(2)?,
                rank_score: r.i64(3)?,
                metadata: r.opt_text(4)?,
                updated_at: r.text(5)?,
            })
        })
        .collect()
}

impl RawEntry {
    fn ranked(self, rank: i64) -> LeaderboardEntry {
        LeaderboardEntry {
            rank,
            user_id: self.user_id,
            username: self.username,
            score: self.score,
            metadata: self.metadata.and_then(|m| serde_json::from_str(&m).ok()),
            updated_at: self.updated_at,
        }
    }

    fn cursor(&self, rank: i64) -> Cursor {
        Cursor { rank, rank_score: self.rank_score, updated_at: self.updated_at.clone(), user_id: self.user_id.clone() }
    }
}

fn board_stmt(game: &str, board: &str) -> Stmt {
    Stmt::new("SELECT sort_order FROM leaderboards WHERE game_id = ?1 AND leaderboard_id = ?2", vec![game.into(), board.into()])
}

/// The board's sort order, or `None` if it does not exist here.
fn board_order(rows: &Rows) -> Result<Option<SortOrder>, ReplicaError> {
    match rows.rows.first() {
        None => Ok(None),
        Some(r) => {
            let s = Row(r).text(0)?;
            SortOrder::parse(&s).map(Some).ok_or(ReplicaError::Type { column: 0, found: s })
        }
    }
}

/// Entries from the top (or after `cursor`), `limit` of them.
pub async fn leaderboard_top<R: Replica>(
    r: &R,
    game: &str,
    board: &str,
    limit: u32,
    cursor: Option<&Cursor>,
) -> Result<Option<LeaderboardPage>, ReplicaError> {
    let fetch = i64::from(limit) + 1;
    let page = match cursor {
        None => Stmt::new(
            format!(
                "SELECT {ENTRY_COLS} FROM leaderboard_entries e WHERE e.game_id = ?1 AND e.leaderboard_id = ?2
                 ORDER BY e.rank_score, e.updated_at, e.user_id LIMIT (?3 + 0)"
            ),
            vec![game.into(), board.into(), fetch.into()],
        ),
        Some(c) => Stmt::new(
            format!(
                "SELECT {ENTRY_COLS} FROM leaderboard_entries e WHERE e.game_id = ?1 AND e.leaderboard_id = ?2
                 AND (e.rank_score, e.updated_at, e.user_id) > (?3, ?4, ?5)
                 ORDER BY e.rank_score, e.updated_at, e.user_id LIMIT (?6 + 0)"
            ),
            vec![game.into(), board.into(), c.rank_score.into(), c.updated_at.clone().into(), c.user_id.clone().into(), fetch.into()],
        ),
    };
    let res = r.batch(vec![board_stmt(game, board), page]).await?;
    if board_order(&res[0])?.is_none() {
        return Ok(None);
    }
    let mut raw = raw_entries(&res[1])?;
    let more = raw.len() > limit as usize;
    raw.truncate(limit as usize);
    let first_rank = cursor.map(|c| c.rank + 1).unwrap_or(1);
    let next_cursor = if more { raw.last().map(|e| e.cursor(first_rank + raw.len() as i64 - 1).encode()) } else { None };
    let entries = raw.into_iter().enumerate().map(|(i, e)| e.ranked(first_rank + i as i64)).collect();
    Ok(Some(LeaderboardPage { leaderboard_id: board.to_string(), entries, next_cursor }))
}

/// `limit` entries centred on the player (fewer near the ends of the board); empty when
/// the player has no entry.
pub async fn leaderboard_around<R: Replica>(r: &R, game: &str, board: &str, user: &str, limit: u32) -> Result<Option<LeaderboardPage>, ReplicaError> {
    let me = "(SELECT rank_score AS r, updated_at AS u FROM leaderboard_entries WHERE game_id = ?1 AND leaderboard_id = ?2 AND user_id = ?3) me";
    let n = i64::from(limit);
    let args = || vec![Value::from(game), Value::from(board), Value::from(user), Value::Integer(n)];
    let res = r
        .batch(vec![
            board_stmt(game, board),
            Stmt::new(
                format!("SELECT {ENTRY_COLS} FROM leaderboard_entries e WHERE e.game_id = ?1 AND e.leaderboard_id = ?2 AND e.user_id = ?3"),
                vec![game.into(), board.into(), user.into()],
            ),
            Stmt::new(
                format!("SELECT {} FROM {me}", aethex_protocol::replica::entries_ahead_sql("me.r", "me.u", "?3")),
                vec![game.into(), board.into(), user.into()],
            ),
            Stmt::new(
                format!(
                    "SELECT {ENTRY_COLS} FROM leaderboard_entries e, {me} WHERE e.game_id = ?1 AND e.leaderboard_id = ?2
                     AND (e.rank_score, e.updated_at, e.user_id) < (me.r, me.u, ?3)
                     ORDER BY e.rank_score DESC, e.updated_at DESC, e.user_id DESC LIMIT (?4 + 0)"
                ),
                args(),
            ),
            Stmt::new(
                format!(
                    "SELECT {ENTRY_COLS} FROM leaderboard_entries e, {me} WHERE e.game_id = ?1 AND e.leaderboard_id = ?2
                     AND (e.rank_score, e.updated_at, e.user_id) > (me.r, me.u, ?3)
                     ORDER BY e.rank_score, e.updated_at, e.user_id LIMIT (?4 + 0)"
                ),
                args(),
            ),
        ])
        .await?;
    if board_order(&res[0])?.is_none() {
        return Ok(None);
    }
    let Some(mine) = raw_entries(&res[1])?.pop() else {
        return Ok(Some(LeaderboardPage { leaderboard_id: board.to_string(), entries: vec![], next_cursor: None }));
    };
    let my_rank = first_i64(&res[2])?.unwrap_or(0) + 1;
    let mut before = raw_entries(&res[3])?;
    before.reverse();
    let after = raw_entries(&res[4])?;
    // Centre the window on the player, shifting it when one side runs out.
    let my_index = before.len();
    let all: Vec<RawEntry> = before.into_iter().chain(std::iter::once(mine)).chain(after).collect();
    let want = limit as usize;
    let start = my_index.saturating_sub((want - 1) / 2).min(all.len().saturating_sub(want));
    let first_rank = my_rank - (my_index - start) as i64;
    let entries = all.into_iter().skip(start).take(want).enumerate().map(|(i, e)| e.ranked(first_rank + i as i64)).collect();
    Ok(Some(LeaderboardPage { leaderboard_id: board.to_string(), entries, next_cursor: None }))
}

/// Every achievement of the game as the player sees it, with the player's progress
/// (hidden ones without their text while locked).
pub async fn player_achievements<R: Replica>(r: &R, game: &str, user: &str) -> Result<PlayerAchievements, ReplicaError> {
    let res = r
        .batch(vec![Stmt::new(
            "SELECT a.achievement_id, a.name, a.description, a.hidden, a.progress_target, a.icon_url, a.updated_at,
                    COALESCE(p.progress, 0), p.unlocked_at
             FROM achievements a
             LEFT JOIN player_achievements p ON p.game_id = a.game_id AND p.achievement_id = a.achievement_id AND p.user_id = ?2
             WHERE a.game_id = ?1 ORDER BY a.achievement_id",
            vec![game.into(), user.into()],
        )])
        .await?;
    let mut list = Vec::with_capacity(res[0].rows.len());
    for row in &res[0].rows {
        let r = Row(row);
        let def = Achievement {
            game_id: game.to_string(),
            achievement_id: r.text(0)?,
            name: r.text(1)?,
            description: r.text(2)?,
            hidden: r.bool(3)?,
            progress_target: r.i64(4)?.max(0) as u64,
            icon_url: r.opt_text(5)?,
            updated_at: r.text(6)?,
        };
        list.push(PlayerAchievement::of(def, r.i64(7)?.max(0) as u64, r.opt_text(8)?));
    }
    Ok(PlayerAchievements::of(user.to_string(), list))
}

/// The player's variant of each active experiment of the game (or of the one named):
/// computed from the definitions, nothing written.
pub async fn assignments<R: Replica>(r: &R, game: &str, user: &str, only: Option<&str>) -> Result<Assignments, ReplicaError> {
    let only = only.map_or(Value::Null, Value::from);
    let res = r
        .batch(vec![Stmt::new(
            "SELECT experiment_id, variants FROM experiments WHERE game_id = ?1 AND active != 0 AND (?2 IS NULL OR experiment_id = ?2)
             ORDER BY experiment_id",
            vec![game.into(), only],
        )])
        .await?;
    let mut assignments = Vec::new();
    for row in &res[0].rows {
        let r = Row(row);
        let id = r.text(0)?;
        let text = r.text(1)?;
        let variants: Vec<Variant> = serde_json::from_str(&text).map_err(|e| ReplicaError::Type { column: 1, found: format!("variants: {e}") })?;
        if let Some(v) = assign_variant(&id, user, &variants) {
            assignments.push(Assignment { experiment_id: id, variant: v.name.clone() });
        }
    }
    Ok(Assignments { assignments })
}

/// Whether the player's analytics events are kept: opted in, in a game not for children.
/// `None` when the game is not known here (replica tables; origin has its own query).
pub async fn analytics_consent<R: Replica>(r: &R, game: &str, user: &str) -> Result<Option<bool>, ReplicaError> {
    let res = r
        .batch(vec![Stmt::new(
            "SELECT COALESCE(g.coppa, 0), COALESCE((SELECT c.analytics FROM analytics_consent c WHERE c.game_id = ?1 AND c.user_id = ?2), 0)
             FROM games g WHERE g.game_id = ?1",
            vec![game.into(), user.into()],
        )])
        .await?;
    res[0].rows.first().map(|row| Ok(!Row(row).bool(0)? && Row(row).bool(1)?)).transpose()
}

/// Regions heard from within `ttl_ms` of `now_ms`.
pub async fn regions<R: Replica>(r: &R, now_ms: u64, ttl_ms: u64) -> Result<RegionList, ReplicaError> {
    let since = now_ms.saturating_sub(ttl_ms) as i64;
    let res = r
        .batch(vec![Stmt::new(
            "SELECT name, url, ping_url, capacity, load, last_seen_ms FROM regions WHERE last_seen_ms >= ?1 ORDER BY name",
            vec![since.into()],
        )])
        .await?;
    let regions = res[0]
        .rows
        .iter()
        .map(|r| {
            let r = Row(r);
            Ok(Region {
                name: r.text(0)?,
                url: r.text(1)?,
                ping_url: r.text(2)?,
                capacity: r.i64(3)?.clamp(0, u32::MAX as i64) as u32,
                load: r.i64(4)?.clamp(0, u32::MAX as i64) as u32,
                last_seen_ms: r.i64(5)?,
            })
        })
        .collect::<Result<_, ReplicaError>>()?;
    Ok(RegionList { regions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = Cursor { rank: 10, rank_score: -500, updated_at: "2026-01-01T00:00:00.000Z".into(), user_id: "u-1".into() };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for junk in ["", "!!", "AAAA", &URL_SAFE_NO_PAD.encode("0\n1\nx\ny"), &URL_SAFE_NO_PAD.encode("1\nx\nx\ny"), &"A".repeat(600)] {
            assert!(Cursor::decode(junk).is_err(), "{junk}");
        }
        // A forged rank at the integer's edge would overflow the next page's ranks.
        for rank in [i64::MAX, i64::MIN, (1 << 53) + 1] {
            let junk = URL_SAFE_NO_PAD.encode(format!("{rank}\n1\nx\ny"));
            assert!(Cursor::decode(&junk).is_err(), "{junk}");
        }
    }
}

/// A release as the read model has it (the manifest is the signed text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRow {
    pub game_id: String,
    pub channel: String,
    pub version: String,
    pub manifest: String,
    pub signature: String,
    pub key_id: String,
    pub entitlement: Option<String>,
    pub download_bytes: i64,
    pub created_at: String,
}

impl ReleaseRow {
    /// The release as players download it: the signed manifest.
    pub fn into_manifest(self) -> aethex_protocol::dlc::ReleaseManifest {
        aethex_protocol::dlc::ReleaseManifest {
            game_id: self.game_id,
            channel: self.channel,
            version: self.version,
            entitlement: self.entitlement,
            signed: aethex_protocol::dlc::SignedManifest { manifest: self.manifest, signature: self.signature, key_id: self.key_id },
        }
    }

    /// Whether a client at `current` should update to this release.
    pub fn update_check(self, current: Option<String>) -> aethex_protocol::dlc::UpdateCheck {
        aethex_protocol::dlc::UpdateCheck {
            update_available: current.as_deref() != Some(self.version.as_str()),
            manifest_url: format!("/api/v1/dlc/{}/{}/manifest/{}", self.game_id, self.channel, self.version),
            channel: self.channel,
            current,
            latest: self.version,
            download_bytes: self.download_bytes.max(0) as u64,
        }
    }
}

const RELEASE_COLS: &str = "r.game_id, r.channel, r.version, r.manifest, r.signature, r.key_id, r.entitlement, r.download_bytes, r.created_at";

fn release_rows(rows: &Rows) -> Result<Vec<ReleaseRow>, ReplicaError> {
    rows.rows
        .iter()
        .map(|r| {
            let r = Row(r);
            Ok(ReleaseRow {
                game_id: r.text(0)?,
                channel: r.text(1)?,
                version: r.text(2)?,
                manifest: r.text(3)?,
                signature: r.text(4)?,
                key_id: r.text(5)?,
                entitlement: r.opt_text(6)?,
                download_bytes: r.i64(7)?,
                created_at: r.text(8)?,
            })
        })
        .collect()
}

/// The release a channel serves now, and whether `user` holds its entitlement (true when
/// it needs none). `version`: a given version of the channel instead of the current one.
pub async fn release<R: Replica>(
    r: &R,
    game: &str,
    channel: &str,
    version: Option<&str>,
    user: Option<&str>,
) -> Result<Option<(ReleaseRow, bool)>, ReplicaError> {
    let pick = match version {
        None => Stmt::new(
            format!(
                "SELECT {RELEASE_COLS} FROM channels c JOIN releases r
                 ON r.game_id = c.game_id AND r.channel = c.channel AND r.version = c.version
                 WHERE c.game_id = ?1 AND c.channel = ?2"
            ),
            vec![game.into(), channel.into()],
        ),
        Some(v) => Stmt::new(
            format!("SELECT {RELEASE_COLS} FROM releases r WHERE r.game_id = ?1 AND r.channel = ?2 AND r.version = ?3"),
            vec![game.into(), channel.into(), v.into()],
        ),
    };
    let res = r.batch(vec![pick]).await?;
    let Some(release) = release_rows(&res[0])?.pop() else { return Ok(None) };
    let allowed = match (&release.entitlement, user) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(e), Some(u)) => {
            let res = r
                .batch(vec![Stmt::new(
                    "SELECT 1 FROM entitlements WHERE game_id = ?1 AND user_id = ?2 AND entitlement = ?3",
                    vec![game.into(), u.into(), e.clone().into()],
                )])
                .await?;
            !res[0].rows.is_empty()
        }
    };
    Ok(Some((release, allowed)))
}

/// A game's manifest signing keys (public).
pub async fn manifest_keys<R: Replica>(r: &R, game: &str) -> Result<aethex_protocol::dlc::ManifestKeyList, ReplicaError> {
    let res = r
        .batch(vec![Stmt::new(
            "SELECT key_id, game_id, name, public_key, created_at FROM manifest_keys WHERE game_id = ?1 ORDER BY created_at, key_id",
            vec![game.into()],
        )])
        .await?;
    let keys = res[0]
        .rows
        .iter()
        .map(|r| {
            let r = Row(r);
            Ok(aethex_protocol::dlc::ManifestKey {
                key_id: r.text(0)?,
                game_id: r.text(1)?,
                name: r.text(2)?,
                public_key: r.text(3)?,
                created_at: r.text(4)?,
            })
        })
        .collect::<Result<_, ReplicaError>>()?;
    Ok(aethex_protocol::dlc::ManifestKeyList { keys })
}
