-- COPPA: a game for children turns analytics and social features off for its players.
ALTER TABLE games ADD COLUMN coppa INTEGER NOT NULL DEFAULT 0;
