-- Players banned from a game (no new tokens for that game), and the audit log of changes
-- made through the developer API (every successful write under /api/v1/orgs and
-- /api/v1/games, and player erasures).
CREATE TABLE game_bans (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    banned_by TEXT NOT NULL,
    banned_at TEXT NOT NULL,
    PRIMARY KEY (game_id, user_id)
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT,
    org_id TEXT,
    game_id TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    request_id TEXT
);
CREATE INDEX audit_log_by_game ON audit_log(game_id, id);
CREATE INDEX audit_log_by_org ON audit_log(org_id, id);
