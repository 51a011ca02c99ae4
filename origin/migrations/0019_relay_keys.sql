-- Relays have keys of their own (issue 12): the fingerprint of the key a region's relay
-- registered with, so origin calls that relay with that same key and never hands a key
-- to a URL registered by someone who did not hold it.
ALTER TABLE regions ADD COLUMN key_fingerprint TEXT;
