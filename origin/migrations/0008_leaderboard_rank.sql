-- The leaderboard rank index (aethex_protocol::replica::RANK_INDEX_SCHEMA, applied just
-- before this file by the migration runner) filled for the entries that exist already.
INSERT INTO leaderboard_rank_counts (game_id, leaderboard_id, level, node, count)
SELECT e.game_id, e.leaderboard_id, l.level, e.rank_score >> l.shift, COUNT(*)
FROM leaderboard_entries e CROSS JOIN leaderboard_rank_levels l
GROUP BY e.game_id, e.leaderboard_id, l.level, e.rank_score >> l.shift;
