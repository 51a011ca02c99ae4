-- 0005: replication to edges, leaderboards and regions.
--
-- replication_outbox is the transactional outbox: every write that changes an
-- edge-visible row appends the change here in the same transaction. position is the
-- replication position edges pull after and that write responses report.
CREATE TABLE replication_outbox (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    row TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- epoch: random id of this database (positions of another database mean nothing here);
-- pruned_upto: outbox entries at or below it are gone (older edges re-bootstrap);
-- games_quota: the quota settings the replicated games rows were computed with.
CREATE TABLE replication_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO replication_meta (key, value) VALUES ('epoch', lower(hex(randomblob(16))));
INSERT INTO replication_meta (key, value) VALUES ('pruned_upto', '0');

-- Leaderboards. The entries' columns are the edge read model's (protocol::replica), so
-- origin and edges answer reads with the same queries. rank_score is the score in
-- ascending rank order (-score on 'desc' boards): one index serves every board.
CREATE TABLE leaderboards (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    leaderboard_id TEXT NOT NULL,
    name TEXT NOT NULL,
    sort_order TEXT NOT NULL CHECK (sort_order IN ('desc', 'asc')),
    operator TEXT NOT NULL CHECK (operator IN ('best', 'latest', 'sum', 'increment')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (game_id, leaderboard_id)
);

CREATE TABLE leaderboard_entries (
    game_id TEXT NOT NULL,
    leaderboard_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    username TEXT NOT NULL,
    score INTEGER NOT NULL,
    rank_score INTEGER NOT NULL,
    metadata TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, leaderboard_id, user_id),
    FOREIGN KEY (game_id, leaderboard_id) REFERENCES leaderboards(game_id, leaderboard_id) ON DELETE CASCADE
);
CREATE INDEX leaderboard_rank ON leaderboard_entries(game_id, leaderboard_id, rank_score, updated_at, user_id);

-- Relay regions, kept alive by heartbeats.
CREATE TABLE regions (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    ping_url TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    load INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
