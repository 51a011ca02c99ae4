-- 0024: refresh tokens kept by their session.
--
-- A refresh token is now `<session id>.<secret>` (sessions have time-ordered ids), and its
-- hash is kept under (session_id, token_hash) in a table without rowid: a new session's
-- token lands at the end of one index, where before it went into a table, an index by
-- hash (a random page per login) and an index by session. Fewer pages are written per
-- group commit. Tokens issued before stay in `refresh_tokens` and are found there by hash
-- until they expire or rotate (their successors are issued in the new form).
CREATE TABLE refresh_tokens_by_session (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,              -- blake3 hex of the whole token
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,                          -- set when rotated; a second use is reuse
    PRIMARY KEY (session_id, token_hash)
) WITHOUT ROWID;

DROP TRIGGER device_logins_insert;
CREATE TRIGGER device_logins_insert INSTEAD OF INSERT ON device_logins BEGIN
    UPDATE users SET failed_logins = 0, locked_until = NULL, last_login = NEW.now
     WHERE device_hash = NEW.device_hash AND is_active = 1
       AND NOT EXISTS (SELECT 1 FROM game_bans b WHERE b.game_id = NEW.game_id AND b.user_id = users.id);
    INSERT INTO sessions (id, user_id, expires_at, created_at, ip_address, user_agent, game_id, last_used_at)
        SELECT NEW.session_id, id, NEW.expires_at, NEW.now, NEW.ip_address, NEW.user_agent, NEW.game_id, NEW.now
          FROM users WHERE device_hash = NEW.device_hash AND changes() = 1;
    INSERT INTO refresh_tokens_by_session (session_id, token_hash, issued_at, expires_at)
        SELECT NEW.session_id, NEW.token_hash, NEW.now, NEW.expires_at WHERE changes() = 1;
END;
