-- Friends: one row per direction. A request is (me, them, 'outgoing') + (them, me,
-- 'incoming'); a friendship is 'friends' both ways; a block is (me, them, 'blocked') and
-- removes their row towards me.
CREATE TABLE friend_edges (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    other_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('outgoing', 'incoming', 'friends', 'blocked')),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, other_id)
);
CREATE INDEX friend_edges_by_state ON friend_edges(user_id, state);
