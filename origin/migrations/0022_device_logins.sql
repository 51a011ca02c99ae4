-- 0022: a returning device's login as one statement.
--
-- On a remote primary (sqld) the server parses and prepares every statement it is sent,
-- about 0.1 ms of its CPU each, on the one path that serializes all writes. A device login
-- is the hottest write: instead of three statements (touch the user, start the session,
-- store its refresh token) it inserts one row into this view, whose INSTEAD OF trigger does
-- the three. The row is not kept anywhere.
--
-- The user is the one with the device hash, if that account is active and not banned from
-- the game (game_id NULL: no game, no ban). When no user qualifies nothing is written, and
-- the caller (origin/src/auth/sessions.rs, device_login) goes the long way: a new device,
-- or a disabled or banned account. Inside a trigger, changes() counts the trigger's own
-- previous statement.
CREATE VIEW device_logins AS SELECT
    NULL AS device_hash, NULL AS game_id, NULL AS now, NULL AS session_id, NULL AS token_hash,
    NULL AS expires_at, NULL AS ip_address, NULL AS user_agent;

CREATE TRIGGER device_logins_insert INSTEAD OF INSERT ON device_logins BEGIN
    UPDATE users SET failed_logins = 0, locked_until = NULL, last_login = NEW.now
     WHERE device_hash = NEW.device_hash AND is_active = 1
       AND NOT EXISTS (SELECT 1 FROM game_bans b WHERE b.game_id = NEW.game_id AND b.user_id = users.id);
    INSERT INTO sessions (id, user_id, expires_at, created_at, ip_address, user_agent, game_id, last_used_at)
        SELECT NEW.session_id, id, NEW.expires_at, NEW.now, NEW.ip_address, NEW.user_agent, NEW.game_id, NEW.now
          FROM users WHERE device_hash = NEW.device_hash AND changes() = 1;
    INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at)
        SELECT NEW.token_hash, NEW.session_id, NEW.now, NEW.expires_at WHERE changes() = 1;
END;
