-- Each relay of a region (several may serve one region behind its public URL): where
-- origin opens match rooms, and which relays are alive (their own heartbeats).
CREATE TABLE region_relays (
    region TEXT NOT NULL,
    url TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    load INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    key_fingerprint TEXT,
    PRIMARY KEY (region, url)
);
CREATE INDEX region_relays_seen ON region_relays(last_seen_ms);
