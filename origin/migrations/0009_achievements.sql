-- Achievements: definitions per game, and each player's progress and unlock time.
CREATE TABLE achievements (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    achievement_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    hidden INTEGER NOT NULL,
    progress_target INTEGER NOT NULL,
    icon_url TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, achievement_id)
);

CREATE TABLE player_achievements (
    game_id TEXT NOT NULL,
    achievement_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    progress INTEGER NOT NULL,
    unlocked_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, user_id, achievement_id),
    FOREIGN KEY (game_id, achievement_id) REFERENCES achievements(game_id, achievement_id) ON DELETE CASCADE
);
CREATE INDEX player_achievements_by_achievement ON player_achievements(game_id, achievement_id);

-- Player statistics: named integer counters per player and game.
CREATE TABLE player_stats (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    stat TEXT NOT NULL,
    value INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, user_id, stat)
);
CREATE INDEX player_stats_by_stat ON player_stats(game_id, stat, value);
