-- Public share links: a snapshot of a player's score or unlocked achievement, readable by
-- anyone with the link (GET /share/{share_id}).
CREATE TABLE share_links (
    share_id TEXT PRIMARY KEY,
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    item TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX share_links_by_player ON share_links(game_id, user_id, created_at);
