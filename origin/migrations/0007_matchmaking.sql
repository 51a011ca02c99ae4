-- 0007: matchmaking modes per game (ModeConfig). Tickets and matches live in origin's
-- memory (see origin/src/matchmaking/mod.rs); only the modes are stored.
CREATE TABLE matchmaking_modes (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    mode TEXT NOT NULL,
    match_size INTEGER NOT NULL,
    max_wait_secs INTEGER NOT NULL,
    skill_widen_per_sec REAL NOT NULL,
    skill_window REAL NOT NULL,
    max_rtt_ms INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, mode)
);
