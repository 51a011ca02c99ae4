-- Leaderboard definitions: reset schedule, anti-abuse limits; finished periods archived.
ALTER TABLE leaderboards ADD COLUMN reset TEXT NOT NULL DEFAULT 'never';
ALTER TABLE leaderboards ADD COLUMN reset_every_secs INTEGER;
ALTER TABLE leaderboards ADD COLUMN min_score INTEGER;
ALTER TABLE leaderboards ADD COLUMN max_score INTEGER;
ALTER TABLE leaderboards ADD COLUMN min_submit_interval_ms INTEGER NOT NULL DEFAULT 0;
-- Start of the current period, Unix seconds (NULL: never resets).
ALTER TABLE leaderboards ADD COLUMN period_start INTEGER;

CREATE TABLE leaderboard_periods (
    game_id TEXT NOT NULL,
    leaderboard_id TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    period_end INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    archived_at TEXT NOT NULL,
    PRIMARY KEY (game_id, leaderboard_id, period_start),
    FOREIGN KEY (game_id, leaderboard_id) REFERENCES leaderboards(game_id, leaderboard_id) ON DELETE CASCADE
);

CREATE TABLE leaderboard_archive (
    game_id TEXT NOT NULL,
    leaderboard_id TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    username TEXT NOT NULL,
    score INTEGER NOT NULL,
    metadata TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, leaderboard_id, period_start, rank),
    FOREIGN KEY (game_id, leaderboard_id, period_start) REFERENCES leaderboard_periods(game_id, leaderboard_id, period_start) ON DELETE CASCADE
);
