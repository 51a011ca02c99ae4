-- 0004: how a save version is stored.
-- data = nonce || XChaCha20-Poly1305(ciphertext of the (maybe zstd-compressed) bytes),
-- key_id names the key that sealed it (keys rotate; old ones stay readable).
ALTER TABLE cloud_saves ADD COLUMN content_type TEXT NOT NULL DEFAULT 'json' CHECK (content_type IN ('json', 'binary'));
ALTER TABLE cloud_saves ADD COLUMN compressed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cloud_saves ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cloud_saves ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
