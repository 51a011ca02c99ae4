//! The native edge's in-memory leaderboard index: every board's entries in rank order
//! (an order-statistic list of blocks), so a player's rank and neighbours are read from
//! memory instead of ranked through SQL (five statements and sixteen index ranges per
//! around-me read). Wasm edges, which keep no state between requests, use the SQL path.
//!
//! - The order is the read model's: `(rank_score, updated_at, user_id)` ascending, text
//!   compared bytewise (SQLite's BINARY collation), so ranks are origin's.
//! - [`crate::store::ReplicaStore`] mirrors every applied batch into it in the same step
//!   as the rows (after the batch's commit, under the index's write lock, with the batch's
//!   position), and builds it from the file on open and after a bootstrap. A change it
//!   cannot mirror exactly (a delete filtered on other columns, a value of another type)
//!   turns it off until it is built again from the file; meanwhile reads use SQL.
//! - A read takes the read lock and answers at the index's position, which the edge core
//!   compares with the position the player needs (read-your-writes), as for SQL reads.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use aethex_protocol::leaderboards::{LeaderboardEntry, LeaderboardPage};
use aethex_protocol::replica::{Change, Op};
use serde_json::Value;

/// Most entries in one block; a fuller one is split in two. Inserting moves at most this
/// many pointers; ranking sums one length per block before the entry's.
const MAX_BLOCK: usize = 1024;

/// One entry, its text in one allocation: `updated_at`, `user_id`, `username`, then
/// the metadata JSON if any.
struct Entry {
    rank_score: i64,
    score: i64,
    text: Box<str>,
    /// Ends of `updated_at`, `user_id` and `username` in `text`.
    ends: [u32; 3],
    has_metadata: bool,
}

impl Entry {
    fn new(rank_score: i64, score: i64, updated_at: &str, user_id: &str, username: &str, metadata: Option<&str>) -> Option<Self> {
        let mut text = String::with_capacity(updated_at.len() + user_id.len() + username.len() + metadata.map_or(0, str::len));
        let mut ends = [0u32; 3];
        for (i, part) in [updated_at, user_id, username].into_iter().enumerate() {
            text.push_str(part);
            ends[i] = u32::try_from(text.len()).ok()?;
        }
        if let Some(m) = metadata {
            text.push_str(m);
        }
        Some(Self { rank_score, score, text: text.into_boxed_str(), ends, has_metadata: metadata.is_some() })
    }

    fn updated_at(&self) -> &str {
        &self.text[..self.ends[0] as usize]
    }

    fn user_id(&self) -> &str {
        &self.text[self.ends[0] as usize..self.ends[1] as usize]
    }

    fn username(&self) -> &str {
        &self.text[self.ends[1] as usize..self.ends[2] as usize]
    }

    fn metadata(&self) -> Option<&str> {
        self.has_metadata.then(|| &self.text[self.ends[2] as usize..])
    }

    fn key(&self) -> (i64, &str, &str) {
        (self.rank_score, self.updated_at(), self.user_id())
    }

    fn ranked(&self, rank: i64) -> LeaderboardEntry {
        LeaderboardEntry {
            rank,
            user_id: self.user_id().to_string(),
            username: self.username().to_string(),
            score: self.score,
            metadata: self.metadata().and_then(|m| serde_json::from_str(m).ok()),
            updated_at: self.updated_at().to_string(),
        }
    }

    fn bytes(&self) -> usize {
        // The entry behind its Arc (two counts), its text, a block's pointer to it and
        // the user set's (at most 8/7 of a slot per entry, as hashbrown keeps them).
        std::mem::size_of::<Self>() + 16 + self.text.len() + 8 + 10
    }
}

/// An entry found by its player (the set of a board's entries by `user_id`).
struct ByUser(Arc<Entry>);

impl Hash for ByUser {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.user_id().hash(h);
    }
}

impl PartialEq for ByUser {
    fn eq(&self, other: &Self) -> bool {
        self.0.user_id() == other.0.user_id()
    }
}

impl Eq for ByUser {}

impl Borrow<str> for ByUser {
    fn borrow(&self) -> &str {
        self.0.user_id()
    }
}

#[derive(Default)]
struct Board {
    /// A `leaderboards` row exists for it (entries may outlive their board's row, as in
    /// the file).
    defined: bool,
    by_user: HashSet<ByUser>,
    /// Entries in rank order, in blocks of at most [`MAX_BLOCK`]; none is empty.
    blocks: Vec<Vec<Arc<Entry>>>,
}

impl Board {
    /// The block an entry with `key` is in or goes into.
    fn block_of(&self, key: (i64, &str, &str)) -> usize {
        self.blocks.partition_point(|b| b.last().is_some_and(|e| e.key() < key)).min(self.blocks.len().saturating_sub(1))
    }

    /// Inserts `e`, replacing the player's earlier entry (returned).
    fn insert(&mut self, e: Arc<Entry>) -> Option<Arc<Entry>> {
        let replaced = self.by_user.take(e.user_id()).map(|old| old.0);
        if let Some(old) = &replaced {
            self.remove_ranked(old);
        }
        self.by_user.insert(ByUser(e.clone()));
        if self.blocks.is_empty() {
            self.blocks.push(Vec::with_capacity(MAX_BLOCK / 2));
        }
        let b = self.block_of(e.key());
        let block = &mut self.blocks[b];
        let at = block.partition_point(|x| x.key() < e.key());
        block.insert(at, e);
        if block.len() > MAX_BLOCK {
            let tail = block.split_off(block.len() / 2);
            self.blocks.insert(b + 1, tail);
        }
        replaced
    }

    /// Removes the player's entry (returned).
    fn remove(&mut self, user: &str) -> Option<Arc<Entry>> {
        let old = self.by_user.take(user)?.0;
        self.remove_ranked(&old);
        Some(old)
    }

    fn remove_ranked(&mut self, e: &Entry) {
        let b = self.block_of(e.key());
        let Some(block) = self.blocks.get_mut(b) else { return };
        let at = block.partition_point(|x| x.key() < e.key());
        if block.get(at).is_some_and(|x| x.key() == e.key()) {
            block.remove(at);
        }
        if block.is_empty() {
            self.blocks.remove(b);
        }
    }

    /// Removes every entry (returned).
    fn clear(&mut self) -> Vec<Arc<Entry>> {
        self.by_user.clear();
        std::mem::take(&mut self.blocks).into_iter().flatten().collect()
    }

    /// 0-based position of `e` in rank order.
    fn index_of(&self, e: &Entry) -> usize {
        let b = self.block_of(e.key());
        let before: usize = self.blocks[..b].iter().map(Vec::len).sum();
        before + self.blocks[b].partition_point(|x| x.key() < e.key())
    }

    fn len(&self) -> usize {
        self.by_user.len()
    }

    /// `n` entries from 0-based position `from`.
    fn slice(&self, mut from: usize, n: usize) -> Vec<&Entry> {
        let mut out = Vec::with_capacity(n.min(self.len().saturating_sub(from)));
        for block in &self.blocks {
            if out.len() == n {
                break;
            }
            if from >= block.len() {
                from -= block.len();
                continue;
            }
            out.extend(block[from..].iter().take(n - out.len()).map(|e| &**e));
            from = 0;
        }
        out
    }
}

#[derive(Default)]
struct State {
    /// Whether it mirrors the file (`false`: being built, or a change it could not mirror).
    valid: bool,
    /// Why it stays off until the replica is opened or bootstrapped again (more entries
    /// than allowed, a value it cannot hold): reads use SQL, nothing is rebuilt.
    gave_up: Option<String>,
    /// The replica position its contents are at.
    position: i64,
    boards: HashMap<String, HashMap<String, Board>>,
    entries: usize,
    bytes: usize,
}

impl State {
    fn board(&mut self, game: &str, board: &str) -> &mut Board {
        // Looked up by reference first: the keys are copied only for a new board.
        if !self.boards.get(game).is_some_and(|m| m.contains_key(board)) {
            self.boards.entry(game.to_string()).or_default().insert(board.to_string(), Board::default());
        }
        self.boards.get_mut(game).and_then(|m| m.get_mut(board)).expect("the board was just made")
    }

    /// Drops boards with neither a row nor entries (so deleted games cost nothing).
    fn prune(&mut self, game: &str) {
        if let Some(boards) = self.boards.get_mut(game) {
            boards.retain(|_, b| b.defined || !b.blocks.is_empty());
            if boards.is_empty() {
                self.boards.remove(game);
            }
        }
    }

    /// Mirrors one applied change; `false` when it cannot do so exactly.
    fn apply(&mut self, c: &Change) -> bool {
        match (c.table.as_str(), c.op) {
            ("leaderboards", Op::Upsert) => match (text(c, "game_id"), text(c, "leaderboard_id")) {
                (Some(g), Some(b)) => {
                    self.board(g, b).defined = true;
                    true
                }
                _ => false,
            },
            ("leaderboards", Op::Delete) => {
                let Some(targets) = self.matching(c) else { return false };
                for (g, b) in &targets {
                    if let Some(board) = self.boards.get_mut(g).and_then(|m| m.get_mut(b)) {
                        board.defined = false;
                    }
                    self.prune(g);
                }
                true
            }
            ("leaderboard_entries", Op::Upsert) => {
                let (Some(g), Some(b)) = (text(c, "game_id"), text(c, "leaderboard_id")) else { return false };
                let Some(e) = entry_of(c) else { return false };
                self.bytes += e.bytes();
                match self.board(g, b).insert(Arc::new(e)) {
                    Some(old) => self.bytes -= old.bytes(),
                    None => self.entries += 1,
                }
                true
            }
            ("leaderboard_entries", Op::Delete) => {
                let Some(targets) = self.matching(c) else { return false };
                let user = c.row.get("user_id");
                for (g, b) in &targets {
                    let Some(board) = self.boards.get_mut(g).and_then(|m| m.get_mut(b)) else { continue };
                    let gone: Vec<Arc<Entry>> = match user {
                        Some(Value::String(u)) => board.remove(u).into_iter().collect(),
                        _ => board.clear(),
                    };
                    self.entries -= gone.len();
                    self.bytes -= gone.iter().map(|e| e.bytes()).sum::<usize>();
                    self.prune(g);
                }
                true
            }
            _ => true,
        }
    }

    /// The boards a delete's filter can touch, when it filters only on `game_id`,
    /// `leaderboard_id` and (entries) `user_id`, each as text; `None` otherwise.
    fn matching(&self, c: &Change) -> Option<Vec<(String, String)>> {
        let allowed: &[&str] = if c.table == "leaderboards" { &["game_id", "leaderboard_id"] } else { &["game_id", "leaderboard_id", "user_id"] };
        if c.row.iter().any(|(k, v)| !allowed.contains(&k.as_str()) || !v.is_string()) {
            return None;
        }
        let (g, b) = (text(c, "game_id"), text(c, "leaderboard_id"));
        Some(
            self.boards
                .iter()
                .filter(|(game, _)| g.is_none_or(|g| g == game.as_str()))
                .flat_map(|(game, boards)| {
                    boards.keys().filter(|board| b.is_none_or(|b| b == board.as_str())).map(move |board| (game.clone(), board.clone()))
                })
                .collect(),
        )
    }
}

fn text<'a>(c: &'a Change, col: &str) -> Option<&'a str> {
    c.row.get(col).and_then(Value::as_str)
}

/// An upserted entry as the file stores it; `None` when a value is of a type SQLite
/// would convert (a number as text, a float score...): the index cannot mirror that.
fn entry_of(c: &Change) -> Option<Entry> {
    let int = |col: &str| c.row.get(col).and_then(|v| if v.is_i64() { v.as_i64() } else { None });
    let metadata = match c.row.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.as_str()),
        Some(_) => return None,
    };
    Entry::new(int("rank_score")?, int("score")?, text(c, "updated_at")?, text(c, "user_id")?, text(c, "username")?, metadata)
}

/// The leaderboards of a replica in memory (see the module's documentation).
pub struct BoardIndex {
    state: RwLock<State>,
    /// Most entries kept (all boards together); beyond, the index gives up.
    max_entries: usize,
}

impl Default for BoardIndex {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ENTRIES)
    }
}

/// The default bound on entries in memory: about 1.4 GB at ~140 bytes each.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000_000;

/// What [`BoardIndex::stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardIndexStats {
    pub valid: bool,
    pub boards: usize,
    pub entries: usize,
    /// Bytes its entries take (estimated from their sizes; the allocator adds its own).
    pub bytes: usize,
}

impl BoardIndex {
    /// An empty index (off until [`BoardIndex::load`]) holding at most `max_entries`.
    pub fn new(max_entries: usize) -> Self {
        Self { state: RwLock::default(), max_entries }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A player's neighbourhood: `limit` entries centred on the player (shifted where the
    /// board ends), as the SQL path answers it, with the position the index is at. The
    /// outer `None`: no answer from memory (the index is off). An inner `None`: the board
    /// does not exist here.
    pub fn around(&self, game: &str, board: &str, user: &str, limit: u32) -> Option<(Option<LeaderboardPage>, i64)> {
        let s = self.read();
        if !s.valid {
            return None;
        }
        let page = |entries| LeaderboardPage { leaderboard_id: board.to_string(), entries, next_cursor: None };
        let Some(b) = s.boards.get(game).and_then(|m| m.get(board)).filter(|b| b.defined) else { return Some((None, s.position)) };
        let Some(me) = b.by_user.get(user) else { return Some((Some(page(vec![])), s.position)) };
        let mine = b.index_of(&me.0);
        let want = limit as usize;
        let start = mine.saturating_sub(want.saturating_sub(1) / 2).min(b.len().saturating_sub(want));
        let entries = b.slice(start, want).into_iter().enumerate().map(|(i, e)| e.ranked((start + i) as i64 + 1)).collect();
        Some((Some(page(entries)), s.position))
    }

    pub fn stats(&self) -> BoardIndexStats {
        let s = self.read();
        BoardIndexStats { valid: s.valid, boards: s.boards.values().map(HashMap::len).sum(), entries: s.entries, bytes: s.bytes }
    }

    /// Mirrors an applied batch now at `position`; `false` (and the index off) when a
    /// change could not be mirrored: build it again with [`BoardIndex::load`].
    pub fn apply<'a>(&self, changes: impl IntoIterator<Item = &'a Change>, position: i64) -> bool {
        let mut s = self.write();
        if s.gave_up.is_some() {
            return true;
        }
        if !s.valid {
            return false;
        }
        for c in changes {
            if !s.apply(c) {
                *s = State::default();
                return false;
            }
        }
        if s.entries > self.max_entries {
            *s = self.give_up(format!("more than {} leaderboard entries", self.max_entries));
            return true;
        }
        s.position = position;
        true
    }

    /// Why the index gave up, if it did (it stays off until the next load).
    pub fn gave_up(&self) -> Option<String> {
        self.read().gave_up.clone()
    }

    fn give_up(&self, why: String) -> State {
        tracing::warn!(reason = %why, "around-me reads rank through SQL: the leaderboards are not kept in memory");
        State { gave_up: Some(why), ..State::default() }
    }

    /// Turns the index off (reads use SQL) until the next [`BoardIndex::load`].
    pub fn invalidate(&self) {
        *self.write() = State::default();
    }

    /// Builds the index from the file at `position` (what `conn` reads must be that
    /// position's state: the applier calls it between batches). Entries come in rank
    /// order from the rank index, so the blocks are filled without searching.
    pub async fn load(&self, conn: &libsql::Connection, position: i64) -> Result<(), libsql::Error> {
        let started = std::time::Instant::now();
        self.invalidate();
        let mut s = State::default();
        let mut rows = conn.query("SELECT game_id, leaderboard_id FROM leaderboards", ()).await?;
        while let Some(r) = rows.next().await? {
            s.board(&r.get::<String>(0)?, &r.get::<String>(1)?).defined = true;
        }
        let mut rows = conn
            .query(
                "SELECT game_id, leaderboard_id, user_id, username, score, rank_score, metadata, updated_at FROM leaderboard_entries
                 ORDER BY game_id, leaderboard_id, rank_score, updated_at, user_id",
                (),
            )
            .await?;
        let mut current: Option<(String, String, Board)> = None;
        let store = |s: &mut State, done: Option<(String, String, Board)>| {
            if let Some((g, b, board)) = done {
                let slot = s.board(&g, &b);
                let defined = slot.defined;
                *slot = Board { defined, ..board };
            }
        };
        while let Some(r) = rows.next().await? {
            let (g, b): (String, String) = (r.get(0)?, r.get(1)?);
            let entry = match (r.get_value(4)?, r.get_value(5)?, r.get_value(6)?) {
                (libsql::Value::Integer(score), libsql::Value::Integer(rank_score), metadata @ (libsql::Value::Null | libsql::Value::Text(_))) => {
                    let metadata = match metadata {
                        libsql::Value::Text(t) => Some(t),
                        _ => None,
                    };
                    let (user, username, updated_at): (String, String, String) = (r.get(2)?, r.get(3)?, r.get(7)?);
                    Entry::new(rank_score, score, &updated_at, &user, &username, metadata.as_deref())
                }
                _ => None,
            };
            let Some(e) = entry else {
                // A value SQLite stored as another type than the index holds.
                *self.write() = self.give_up(format!("an entry of {g}/{b} has a value of another type"));
                return Ok(());
            };
            if s.entries >= self.max_entries {
                *self.write() = self.give_up(format!("more than {} leaderboard entries", self.max_entries));
                return Ok(());
            }
            if current.as_ref().is_none_or(|(cg, cb, _)| *cg != g || *cb != b) {
                store(&mut s, current.take());
                current = Some((g, b, Board::default()));
            }
            let Some((_, _, board)) = current.as_mut() else { continue };
            s.entries += 1;
            s.bytes += e.bytes();
            let e = Arc::new(e);
            board.by_user.insert(ByUser(e.clone()));
            match board.blocks.last_mut() {
                Some(block) if block.len() < MAX_BLOCK / 2 => block.push(e),
                _ => {
                    let mut block = Vec::with_capacity(MAX_BLOCK / 2);
                    block.push(e);
                    board.blocks.push(block);
                }
            }
        }
        store(&mut s, current.take());
        s.valid = true;
        s.position = position;
        let (entries, bytes) = (s.entries, s.bytes);
        *self.write() = s;
        tracing::info!(entries, bytes, ms = started.elapsed().as_millis() as u64, "leaderboards loaded into memory");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many entries (several blocks, split and emptied again) under random upserts and
    /// deletes: positions and windows agree with a sorted list of the same entries.
    #[test]
    fn blocks_keep_rank_order_through_splits_and_deletes() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut board = Board::default();
        let mut truth: Vec<(i64, String, String)> = Vec::new();
        for step in 0..30_000u32 {
            let r = rnd();
            let user = format!("u{}", r % 6000);
            truth.retain(|(_, _, u)| *u != user);
            if step > 20_000 && r % 3 == 0 {
                board.remove(&user);
            } else {
                let rank_score =
                    [i64::MIN, i64::MAX, 0][(r >> 20) as usize % 3].saturating_add(((r >> 24) % 50) as i64 * if (r >> 30) % 2 == 0 { 1 } else { -1 });
                let rank_score = if (r >> 40) % 4 == 0 { rank_score } else { (r >> 8) as i64 % 1000 };
                let at = format!("2026-01-01T00:00:{:02}Z", (r >> 50) % 60);
                board.insert(Arc::new(Entry::new(rank_score, 1, &at, &user, "p", None).expect("small")));
                truth.push((rank_score, at, user));
            }
            if step % 2500 == 0 || step == 29_999 {
                truth.sort();
                assert_eq!(board.len(), truth.len());
                assert!(board.blocks.iter().all(|b| !b.is_empty() && b.len() <= MAX_BLOCK));
                let listed: Vec<(i64, String, String)> =
                    board.slice(0, usize::MAX).iter().map(|e| (e.rank_score, e.updated_at().to_string(), e.user_id().to_string())).collect();
                assert_eq!(listed, truth, "step {step}");
                for (i, (_, _, u)) in truth.iter().enumerate().step_by(97) {
                    let e = board.by_user.get(u.as_str()).expect("indexed");
                    assert_eq!(board.index_of(&e.0), i, "step {step}, user {u}");
                    let window: Vec<&str> = board.slice(i, 5).iter().map(|e| e.user_id()).collect();
                    let want: Vec<&str> = truth[i..(i + 5).min(truth.len())].iter().map(|t| t.2.as_str()).collect();
                    assert_eq!(window, want);
                }
            }
        }
        assert!(board.blocks.len() > 3, "the board spans several blocks: {}", board.blocks.len());
    }
}
