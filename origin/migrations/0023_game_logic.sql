-- Game logic (issue 15): each game's WebAssembly components, the version that runs, and
-- the key-value storage components read and write through the host.
CREATE TABLE game_logic_versions (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    -- blake3 of the component, hex.
    hash TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    wasm BLOB NOT NULL,
    -- What the component's init answered (JSON: hooks, rpcs, rooms).
    registration TEXT NOT NULL,
    -- `server:<key id>` or `user:<user id>`.
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (game_id, version)
);

-- The version each game runs (absent, or NULL: none).
CREATE TABLE game_logic_active (
    game_id TEXT PRIMARY KEY REFERENCES games(id) ON DELETE CASCADE,
    version INTEGER,
    updated_at TEXT NOT NULL
);

CREATE TABLE game_kv (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, key)
) WITHOUT ROWID;
