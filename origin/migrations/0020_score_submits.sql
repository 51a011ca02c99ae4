-- When each player last submitted to a board with a minimum interval between submits
-- (issue 14): kept in the database, inside the score's own transaction, so the interval
-- holds whichever origin a submit reaches. Times are the database's clock (ms).
CREATE TABLE score_submits (
    game_id TEXT NOT NULL,
    leaderboard_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    last_ms INTEGER NOT NULL,
    PRIMARY KEY (game_id, leaderboard_id, user_id)
);
CREATE INDEX score_submits_by_time ON score_submits(last_ms);
