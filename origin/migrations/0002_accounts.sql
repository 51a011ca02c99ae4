-- 0002: what accounts, sessions and tokens need beyond the seed.

ALTER TABLE users ADD COLUMN preferences TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN is_guest INTEGER NOT NULL DEFAULT 0;
-- blake3 of the device id of a guest account (the device id is its credential).
ALTER TABLE users ADD COLUMN device_hash TEXT;
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TEXT;
CREATE UNIQUE INDEX idx_users_device ON users(device_hash) WHERE device_hash IS NOT NULL;

-- A session is one sign-in: a family of refresh tokens, each used once.
ALTER TABLE sessions ADD COLUMN game_id TEXT;
ALTER TABLE sessions ADD COLUMN last_used_at TEXT;
ALTER TABLE sessions ADD COLUMN revoked_at TEXT;
-- why: 'logout', 'logout_all', 'reuse', 'password_reset', ...
ALTER TABLE sessions ADD COLUMN revoked_reason TEXT;
CREATE INDEX idx_sessions_user ON sessions(user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,           -- blake3 hex of the opaque token
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT                           -- set when rotated; a second use is reuse
);
CREATE INDEX idx_refresh_session ON refresh_tokens(session_id);

-- One-time tokens sent by email: 'verify_email' or 'password_reset'.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX idx_email_tokens_user ON email_tokens(user_id, kind);

-- OAuth logins in flight: PKCE verifier kept server-side until the callback.
CREATE TABLE oauth_states (
    state TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    poll_token_hash TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    redirect_uri TEXT,
    link_user_id TEXT,
    game_id TEXT,
    ip_address TEXT,
    user_agent TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    -- set by the callback: the signed-in user, or an error reason
    result_user_id TEXT,
    result_error TEXT,
    completed_at TEXT
);
