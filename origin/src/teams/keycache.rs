//! Client key -> game id, cached for a short while: every login resolves its client key,
//! and the answer changes only when an admin rotates the key (which clears the cache of
//! this process; other origin processes see a rotation within [`TTL`]).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub const TTL: Duration = Duration::from_secs(30);
/// Bound on remembered keys; the map is cleared when it grows past this.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct GameKeyCache {
    map: RwLock<HashMap<String, (String, Instant)>>,
}

impl GameKeyCache {
    /// The game of a known client key, if cached and fresh.
    pub fn get(&self, client_key: &str) -> Option<String> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(client_key).filter(|(_, at)| at.elapsed() < TTL).map(|(g, _)| g.clone())
    }

    /// Remembers a key that resolved to a game (unknown keys are never cached, so
    /// guessing keys cannot fill the cache).
    pub fn put(&self, client_key: &str, game_id: &str) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(client_key.to_string(), (game_id.to_string(), Instant::now()));
    }

    pub fn clear(&self) {
        self.map.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
