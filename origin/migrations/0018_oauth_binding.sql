-- OAuth completion bound to the person who finished the provider step (issue 12): the
-- provider's verified identity waits in the login until the game proves it is the same
-- person, with the one-time code of the loopback redirect (RFC 8252), or, for the polling
-- flow, with the user code the game shows, typed into the browser's confirmation page
-- (RFC 8628 style). Accounts are found, linked or created only then.
ALTER TABLE oauth_states ADD COLUMN user_code_hash TEXT;
ALTER TABLE oauth_states ADD COLUMN browser_code_hash TEXT;
ALTER TABLE oauth_states ADD COLUMN identity TEXT;
ALTER TABLE oauth_states ADD COLUMN confirmed_at TEXT;
ALTER TABLE oauth_states ADD COLUMN failed_confirms INTEGER NOT NULL DEFAULT 0;
