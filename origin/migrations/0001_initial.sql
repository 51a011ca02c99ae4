-- 0001: the seed's schema (services/database/schema.sql), adapted to libSQL/SQLite.
-- UUIDs are TEXT, JSONB is TEXT holding JSON, TIMESTAMP is TEXT in RFC 3339 UTC
-- (sorts correctly as text). Deviations from the seed, for its own security rules:
--  * sessions keep no tokens: access tokens are never stored, refresh tokens only
--    hashed in refresh_tokens (0002);
--  * oauth_connections keep no provider tokens (we only need the identity);
--  * email is NULL for guest (device) accounts; password is NULL for accounts that
--    sign in only by device or OAuth;
--  * cloud_saves.data holds the stored bytes (compressed, encrypted), not JSONB.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT UNIQUE,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password TEXT,
    avatar_url TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_login TEXT,
    is_active INTEGER NOT NULL DEFAULT 1,
    is_verified INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_username ON users(username);

CREATE TABLE oauth_connections (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    provider_user_id TEXT NOT NULL,
    access_token TEXT,
    refresh_token TEXT,
    expires_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE(provider, provider_user_id)
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    ip_address TEXT,
    user_agent TEXT
);

CREATE TABLE cloud_saves (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    game_id TEXT NOT NULL,
    slot_name TEXT NOT NULL,
    data BLOB NOT NULL,
    metadata TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    checksum TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE(user_id, game_id, slot_name, version)
);
CREATE INDEX idx_saves_user_game ON cloud_saves(user_id, game_id);

CREATE TABLE analytics_events (
    id TEXT PRIMARY KEY,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    game_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    properties TEXT,
    session_id TEXT,
    timestamp TEXT NOT NULL,
    device_info TEXT
);
CREATE INDEX idx_analytics_game ON analytics_events(game_id);
CREATE INDEX idx_analytics_event ON analytics_events(event_type);
