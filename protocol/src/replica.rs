//! The edge read model and its replication stream.
//!
//! Origin keeps a transactional outbox: every write that changes an edge-visible row also
//! appends a [`Change`] in the same transaction. The outbox id is the *replication
//! position*: it only grows, and a change is visible to pullers only once everything
//! before it is committed (origin has one writer). Native edges pull changes after their
//! position, apply each batch in one transaction of their libSQL replica and store the new
//! position beside the data, so a crash between batches loses nothing and applies nothing
//! twice. A new edge, or one that fell behind the outbox's retention, bootstraps from a
//! snapshot.
//!
//! The replica schema is [`REPLICA_SCHEMA`]; [`TABLES`] lists, for each table, its columns
//! and key, which is all an applier needs to turn a change into SQL (and all it accepts:
//! unknown tables or columns are refused, so a change can never name arbitrary SQL).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Version of the replica schema; an edge with another version re-bootstraps.
pub const SCHEMA_VERSION: i64 = 4;

/// The leaderboard rank index, kept by triggers beside `leaderboard_entries` at origin
/// (migration 8) and in every replica (derived there too: it is never replicated).
///
/// A rank is the number of entries ahead plus one. Counting the entries ahead with an
/// index scan costs O(rank); this index answers in O(1) of the board's size: a radix tree
/// of counts over `rank_score` (a signed 64-bit integer) with 16 levels of 4 bits. Level
/// `L` counts, for every node `rank_score >> (60 - 4L)`, the entries under it (arithmetic
/// shifts keep the order of negative numbers). The entries with a smaller `rank_score`
/// than `k` are, on every level, those under the (at most 15) siblings left of `k`'s node:
/// at most 16 short ranges of one primary key ([`entries_ahead_sql`]). Entries with the
/// same `rank_score` are ordered by `updated_at`, then `user_id`; those are counted from
/// the entries' own index (O(ties)). Each entry costs 16 count rows touched per write.
pub const RANK_INDEX_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS leaderboard_rank_levels (level INTEGER PRIMARY KEY, shift INTEGER NOT NULL);
INSERT OR IGNORE INTO leaderboard_rank_levels (level, shift) VALUES (0, 60),(1, 56),(2, 52),(3, 48),(4, 44),(5, 40),(6, 36),(7, 32),(8, 28),(9, 24),(10, 20),(11, 16),(12, 12),(13, 8),(14, 4),(15, 0);
CREATE TABLE IF NOT EXISTS leaderboard_rank_counts (
    game_id TEXT NOT NULL,
    leaderboard_id TEXT NOT NULL,
    level INTEGER NOT NULL,
    node INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (game_id, leaderboard_id, level, node)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS leaderboard_rank_insert AFTER INSERT ON leaderboard_entries BEGIN
    INSERT INTO leaderboard_rank_counts (game_id, leaderboard_id, level, node, count)
    SELECT NEW.game_id, NEW.leaderboard_id, level, NEW.rank_score >> shift, 1 FROM leaderboard_rank_levels WHERE true
    ON CONFLICT (game_id, leaderboard_id, level, node) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER IF NOT EXISTS leaderboard_rank_delete AFTER DELETE ON leaderboard_entries BEGIN
    UPDATE leaderboard_rank_counts SET count = count - 1
    WHERE game_id = OLD.game_id AND leaderboard_id = OLD.leaderboard_id
    AND (level, node) IN (SELECT level, OLD.rank_score >> shift FROM leaderboard_rank_levels);
    DELETE FROM leaderboard_rank_counts
    WHERE game_id = OLD.game_id AND leaderboard_id = OLD.leaderboard_id AND count <= 0
    AND (level, node) IN (SELECT level, OLD.rank_score >> shift FROM leaderboard_rank_levels);
END;
CREATE TRIGGER IF NOT EXISTS leaderboard_rank_update AFTER UPDATE OF game_id, leaderboard_id, rank_score ON leaderboard_entries
WHEN OLD.rank_score IS NOT NEW.rank_score OR OLD.game_id IS NOT NEW.game_id OR OLD.leaderboard_id IS NOT NEW.leaderboard_id BEGIN
    UPDATE leaderboard_rank_counts SET count = count - 1
    WHERE game_id = OLD.game_id AND leaderboard_id = OLD.leaderboard_id
    AND (level, node) IN (SELECT level, OLD.rank_score >> shift FROM leaderboard_rank_levels);
    DELETE FROM leaderboard_rank_counts
    WHERE game_id = OLD.game_id AND leaderboard_id = OLD.leaderboard_id AND count <= 0
    AND (level, node) IN (SELECT level, OLD.rank_score >> shift FROM leaderboard_rank_levels);
    INSERT INTO leaderboard_rank_counts (game_id, leaderboard_id, level, node, count)
    SELECT NEW.game_id, NEW.leaderboard_id, level, NEW.rank_score >> shift, 1 FROM leaderboard_rank_levels WHERE true
    ON CONFLICT (game_id, leaderboard_id, level, node) DO UPDATE SET count = count + 1;
END;
";

/// Takes the rank index's triggers away (a bulk load: a snapshot bootstrap), emptying the
/// index; [`RANK_INDEX_REBUILD`] then fills it in one pass and puts the triggers back.
pub const RANK_INDEX_SUSPEND: &str = "
DROP TRIGGER IF EXISTS leaderboard_rank_insert;
DROP TRIGGER IF EXISTS leaderboard_rank_delete;
DROP TRIGGER IF EXISTS leaderboard_rank_update;
DELETE FROM leaderboard_rank_counts;
";

/// Fills the (empty) rank index from the entries there are, one grouped pass.
pub const RANK_INDEX_FILL: &str = "
INSERT INTO leaderboard_rank_counts (game_id, leaderboard_id, level, node, count)
SELECT e.game_id, e.leaderboard_id, l.level, e.rank_score >> l.shift, COUNT(*)
FROM leaderboard_entries e CROSS JOIN leaderboard_rank_levels l
GROUP BY e.game_id, e.leaderboard_id, l.level, e.rank_score >> l.shift;
";

/// SQL expression: how many entries of board (`?1` game, `?2` board) rank ahead of the
/// entry (`k` rank_score, `u` updated_at, `id` user_id), each an SQL expression (a
/// parameter or a column of an enclosing query), from the rank index
/// ([`RANK_INDEX_SCHEMA`]) without scanning the board.
pub fn entries_ahead_sql(k: &str, u: &str, id: &str) -> String {
    format!(
        "((SELECT COALESCE(SUM(c.count), 0) FROM leaderboard_rank_levels l CROSS JOIN leaderboard_rank_counts c
           WHERE c.game_id = ?1 AND c.leaderboard_id = ?2 AND c.level = l.level
           AND c.node >= CASE WHEN l.level = 0 THEN -9223372036854775807 - 1 ELSE (({k}) >> (l.shift + 4)) << 4 END
           AND c.node < ({k}) >> l.shift)
         + (SELECT COUNT(*) FROM leaderboard_entries t WHERE t.game_id = ?1 AND t.leaderboard_id = ?2
           AND t.rank_score = {k} AND (t.updated_at, t.user_id) < ({u}, {id})))"
    )
}

/// DDL of the edge read model (libSQL / SQLite). Idempotent.
pub const REPLICA_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS replica_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL,
    epoch TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    -- changes applied since the replica was last bootstrapped (snapshot rows included)
    applied INTEGER NOT NULL,
    applied_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS saves (
    save_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    game_id TEXT NOT NULL,
    slot_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    stored_bytes INTEGER NOT NULL,
    checksum TEXT NOT NULL,
    compressed INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    metadata TEXT
);
CREATE INDEX IF NOT EXISTS saves_by_slot ON saves(user_id, game_id, slot_name, version);
CREATE TABLE IF NOT EXISTS games (
    game_id TEXT PRIMARY KEY,
    tier TEXT NOT NULL,
    quota_bytes INTEGER NOT NULL,
    -- 1: a game for children (analytics and social features off); NULL reads as 0
    coppa INTEGER
);
-- Analytics opt-in per player and game (no row: not opted in).
CREATE TABLE IF NOT EXISTS analytics_consent (
    game_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    analytics INTEGER NOT NULL,
    PRIMARY KEY (game_id, user_id)
) WITHOUT ROWID;
-- A/B tests: enough to assign a player's variant (the conversion event stays at origin).
CREATE TABLE IF NOT EXISTS experiments (
    game_id TEXT NOT NULL,
    experiment_id TEXT NOT NULL,
    variants TEXT NOT NULL,
    active INTEGER NOT NULL,
    PRIMARY KEY (game_id, experiment_id)
);
CREATE TABLE IF NOT EXISTS achievements (
    game_id TEXT NOT NULL,
    achievement_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    hidden INTEGER NOT NULL,
    progress_target INTEGER NOT NULL,
    icon_url TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, achievement_id)
);
CREATE TABLE IF NOT EXISTS player_achievements (
    game_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    achievement_id TEXT NOT NULL,
    progress INTEGER NOT NULL,
    unlocked_at TEXT,
    PRIMARY KEY (game_id, user_id, achievement_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leaderboards (
    game_id TEXT NOT NULL,
    leaderboard_id TEXT NOT NULL,
    name TEXT NOT NULL,
    sort_order TEXT NOT NULL,
    operator TEXT NOT NULL,
    PRIMARY KEY (game_id, leaderboard_id)
);
CREATE TABLE IF NOT EXISTS leaderboard_entries (
    game_id TEXT NOT NULL,
    leaderboard_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    username TEXT NOT NULL,
    score INTEGER NOT NULL,
    rank_score INTEGER NOT NULL,
    metadata TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, leaderboard_id, user_id)
);
CREATE INDEX IF NOT EXISTS leaderboard_rank ON leaderboard_entries(game_id, leaderboard_id, rank_score, updated_at, user_id);
CREATE TABLE IF NOT EXISTS manifest_keys (
    game_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    name TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (game_id, key_id)
);
CREATE TABLE IF NOT EXISTS releases (
    game_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    manifest TEXT NOT NULL,
    signature TEXT NOT NULL,
    key_id TEXT NOT NULL,
    entitlement TEXT,
    download_bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (game_id, channel, version)
);
CREATE TABLE IF NOT EXISTS channels (
    game_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, channel)
);
CREATE TABLE IF NOT EXISTS entitlements (
    game_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    entitlement TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (game_id, user_id, entitlement)
);
CREATE TABLE IF NOT EXISTS regions (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    ping_url TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    load INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
";

/// A replicated table: its name, columns (in order) and key columns.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub key: &'static [&'static str],
}

impl Table {
    pub fn has_column(&self, c: &str) -> bool {
        self.columns.contains(&c)
    }
}

/// Every replicated table. `replica_state` is the applier's own and is not here.
pub const TABLES: &[Table] = &[
    Table {
        name: "saves",
        columns: &[
            "save_id",
            "user_id",
            "game_id",
            "slot_name",
            "version",
            "created_at",
            "size_bytes",
            "stored_bytes",
            "checksum",
            "compressed",
            "content_type",
            "metadata",
        ],
        key: &["save_id"],
    },
    Table { name: "games", columns: &["game_id", "tier", "quota_bytes", "coppa"], key: &["game_id"] },
    Table { name: "analytics_consent", columns: &["game_id", "user_id", "analytics"], key: &["game_id", "user_id"] },
    Table { name: "experiments", columns: &["game_id", "experiment_id", "variants", "active"], key: &["game_id", "experiment_id"] },
    Table {
        name: "achievements",
        columns: &["game_id", "achievement_id", "name", "description", "hidden", "progress_target", "icon_url", "updated_at"],
        key: &["game_id", "achievement_id"],
    },
    Table {
        name: "player_achievements",
        columns: &["game_id", "user_id", "achievement_id", "progress", "unlocked_at"],
        key: &["game_id", "user_id", "achievement_id"],
    },
    Table { name: "leaderboards", columns: &["game_id", "leaderboard_id", "name", "sort_order", "operator"], key: &["game_id", "leaderboard_id"] },
    Table {
        name: "leaderboard_entries",
        columns: &["game_id", "leaderboard_id", "user_id", "username", "score", "rank_score", "metadata", "updated_at"],
        key: &["game_id", "leaderboard_id", "user_id"],
    },
    Table { name: "manifest_keys", columns: &["game_id", "key_id", "name", "public_key", "created_at"], key: &["game_id", "key_id"] },
    Table {
        name: "releases",
        columns: &["game_id", "channel", "version", "manifest", "signature", "key_id", "entitlement", "download_bytes", "created_at"],
        key: &["game_id", "channel", "version"],
    },
    Table { name: "channels", columns: &["game_id", "channel", "version", "updated_at"], key: &["game_id", "channel"] },
    Table { name: "entitlements", columns: &["game_id", "user_id", "entitlement", "granted_at"], key: &["game_id", "user_id", "entitlement"] },
    Table { name: "regions", columns: &["name", "url", "ping_url", "capacity", "load", "last_seen_ms"], key: &["name"] },
];

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// What a change does to its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Insert the row, or replace the row with the same key.
    Upsert,
    /// Delete every row whose named columns equal the given values (a key, or a prefix
    /// such as all versions of one slot).
    Delete,
}

/// One change of the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Replication position (outbox id); 0 inside a snapshot.
    #[serde(default)]
    pub position: i64,
    pub table: String,
    pub op: Op,
    /// Upsert: the whole row (missing columns are NULL). Delete: the columns to match.
    pub row: Map<String, Value>,
}

/// Why a change cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadChange(pub String);

impl std::fmt::Display for BadChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad change: {}", self.0)
    }
}

impl std::error::Error for BadChange {}

/// A change turned into one SQL statement with positional (`?n`) arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeSql {
    pub sql: String,
    pub args: Vec<Value>,
}

impl Change {
    pub fn upsert(table: &Table, row: Map<String, Value>) -> Self {
        Self { position: 0, table: table.name.to_string(), op: Op::Upsert, row }
    }

    pub fn delete(table: &Table, matching: Map<String, Value>) -> Self {
        Self { position: 0, table: table.name.to_string(), op: Op::Delete, row: matching }
    }

    /// The SQL that applies this change to a replica. Refuses unknown tables and columns,
    /// upserts without their key, deletes without a filter, and non-scalar values.
    pub fn to_sql(&self) -> Result<ChangeSql, BadChange> {
        let t = table(&self.table).ok_or_else(|| BadChange(format!("unknown table {:?}", self.table)))?;
        for (c, v) in &self.row {
            if !t.has_column(c) {
                return Err(BadChange(format!("unknown column {}.{c}", t.name)));
            }
            if v.is_array() || v.is_object() {
                return Err(BadChange(format!("{}.{c} must be a scalar", t.name)));
            }
        }
        match self.op {
            Op::Upsert => {
                for k in t.key {
                    if self.row.get(*k).is_none_or(Value::is_null) {
                        return Err(BadChange(format!("upsert into {} without key column {k}", t.name)));
                    }
                }
                let cols = t.columns.join(", ");
                let marks: Vec<String> = (1..=t.columns.len()).map(|i| format!("?{i}")).collect();
                let updates: Vec<String> = t.columns.iter().filter(|c| !t.key.contains(c)).map(|c| format!("{c} = excluded.{c}")).collect();
                let sql = format!(
                    "INSERT INTO {} ({cols}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
                    t.name,
                    marks.join(", "),
                    t.key.join(", "),
                    updates.join(", ")
                );
                let args = t.columns.iter().map(|c| self.row.get(*c).cloned().unwrap_or(Value::Null)).collect();
                Ok(ChangeSql { sql, args })
            }
            Op::Delete => {
                if self.row.is_empty() {
                    return Err(BadChange(format!("delete from {} without a filter", t.name)));
                }
                // Columns in table order, so the same filter always gives the same SQL.
                let cols: Vec<&str> = t.columns.iter().copied().filter(|c| self.row.contains_key(*c)).collect();
                let conds: Vec<String> = cols.iter().enumerate().map(|(i, c)| format!("{c} = ?{}", i + 1)).collect();
                let sql = format!("DELETE FROM {} WHERE {}", t.name, conds.join(" AND "));
                let args = cols.iter().map(|c| self.row[*c].clone()).collect();
                Ok(ChangeSql { sql, args })
            }
        }
    }
}

/// `GET /api/v1/replication/changes?after=&limit=&wait_ms=` (edge key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangesResponse {
    /// Identifies origin's database: positions of another epoch mean nothing here.
    pub epoch: String,
    /// Changes after the asked position, in order.
    pub changes: Vec<Change>,
    /// Position the replica is at after applying these (the last change's, or the asked
    /// one when there are none).
    pub position: i64,
    /// Origin's newest position when this answer was made (lag = head - position).
    pub head: i64,
}

/// First line of `GET /api/v1/replication/snapshot` (NDJSON: header, changes, trailer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotHeader {
    pub epoch: String,
    /// The snapshot holds every change up to and including this position.
    pub position: i64,
    pub schema_version: i64,
}

/// Last line of a snapshot; its absence means the snapshot was cut short.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotTrailer {
    pub end: bool,
    pub rows: u64,
}

/// Header of the edge key when an edge calls origin for itself (pulling replication,
/// fetching save bytes, registering relays). Routes that need it are never reachable
/// through an edge: edges drop this header from the requests they forward.
pub const EDGE_KEY_HEADER: &str = "x-aethex-edge-key";

/// Header of the edge key on a player's request an edge forwards: it vouches for the
/// verified claims and the client address the edge adds, and for nothing else.
pub const FORWARDED_BY_EDGE_HEADER: &str = "x-aethex-forwarded-by-edge";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn upserts_name_every_column_and_update_non_keys() {
        let t = table("games").unwrap();
        let c = Change::upsert(t, obj(json!({"game_id": "g", "tier": "pro", "quota_bytes": 5, "coppa": 1})));
        let s = c.to_sql().unwrap();
        assert_eq!(
            s.sql,
            "INSERT INTO games (game_id, tier, quota_bytes, coppa) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (game_id) DO UPDATE SET tier = excluded.tier, quota_bytes = excluded.quota_bytes, coppa = excluded.coppa"
        );
        assert_eq!(s.args, vec![json!("g"), json!("pro"), json!(5), json!(1)]);
    }

    #[test]
    fn deletes_match_the_given_columns_in_table_order() {
        let t = table("saves").unwrap();
        let c = Change::delete(t, obj(json!({"slot_name": "s", "user_id": "u", "game_id": "g"})));
        let s = c.to_sql().unwrap();
        assert_eq!(s.sql, "DELETE FROM saves WHERE user_id = ?1 AND game_id = ?2 AND slot_name = ?3");
        assert_eq!(s.args, vec![json!("u"), json!("g"), json!("s")]);
    }

    #[test]
    fn refuses_what_is_not_in_the_schema() {
        let bad = |c: Change| c.to_sql().unwrap_err();
        let mk = |table: &str, op, row: Value| Change { position: 1, table: table.into(), op, row: obj(row) };
        bad(mk("users", Op::Upsert, json!({"id": 1})));
        bad(mk("games", Op::Upsert, json!({"game_id": "g", "tier": "x", "quota_bytes": 1, "evil; DROP": 1})));
        bad(mk("games", Op::Upsert, json!({"tier": "x"})));
        bad(mk("games", Op::Delete, json!({})));
        bad(mk("games", Op::Upsert, json!({"game_id": "g", "tier": ["x"]})));
    }

    #[test]
    fn every_table_is_in_the_schema() {
        for t in TABLES {
            assert!(REPLICA_SCHEMA.contains(&format!("CREATE TABLE IF NOT EXISTS {} (", t.name)), "{}", t.name);
            for k in t.key {
                assert!(t.has_column(k));
            }
        }
    }
}
