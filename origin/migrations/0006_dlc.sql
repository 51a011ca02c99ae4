-- 0006: DLC and asset delivery. Chunks live in the blob store (keyed by game and
-- blake3 id); these tables say what exists and what references it. The release,
-- channel, entitlement and key tables have the edge read model's columns
-- (protocol::replica), so origin and edges answer with the same queries.

-- Ed25519 keys that sign a game's release manifests.
CREATE TABLE manifest_keys (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    key_id TEXT NOT NULL,
    name TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (game_id, key_id)
);

-- Uploaded chunks (verified by blake3 on upload). compression: identity | zstd.
CREATE TABLE chunks (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    size INTEGER NOT NULL,
    stored_size INTEGER NOT NULL,
    compression TEXT NOT NULL CHECK (compression IN ('identity', 'zstd')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (game_id, id)
);
CREATE INDEX chunks_by_age ON chunks(game_id, created_at);

-- A release: the signed manifest text as signed, per (game, channel, version).
CREATE TABLE releases (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
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

-- Which chunks each release uses (garbage collection keeps these).
CREATE TABLE release_chunks (
    game_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    PRIMARY KEY (game_id, channel, version, chunk_id),
    FOREIGN KEY (game_id, channel, version) REFERENCES releases(game_id, channel, version) ON DELETE CASCADE
);
CREATE INDEX release_chunks_by_chunk ON release_chunks(game_id, chunk_id);

-- The release each channel serves now.
CREATE TABLE channels (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, channel)
);

-- What a player may download beyond free releases.
CREATE TABLE entitlements (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    entitlement TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (game_id, user_id, entitlement)
);
