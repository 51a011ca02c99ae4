-- Analytics consent per player and game (opt-in: no row means no consent). The events
-- themselves live in <data_dir>/analytics.db.
CREATE TABLE analytics_consent (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    analytics INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, user_id)
);
