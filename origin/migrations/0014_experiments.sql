-- A/B tests per game. Assignment is computed (aethex_protocol::analytics::assign_variant),
-- never stored; exposures and conversions are analytics events.
CREATE TABLE experiments (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    experiment_id TEXT NOT NULL,
    variants TEXT NOT NULL,
    conversion_event TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (game_id, experiment_id)
);
