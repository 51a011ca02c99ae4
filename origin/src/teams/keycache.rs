//! Client key -> game id, cached for a short while: every login resolves its client key,
//! and the answer changes only when an admin rotates the key. A rotation clears the cache
//! of this process and, through the cluster's Redis when there is one, of every other
//! origin at once; an origin that missed the message (Redis unreachable) sees the rotation
//! within [`TTL`].

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub const TTL: Duration = Duration::from_secs(30);
/// Bound on remembered keys; the map is cleared when it grows past this.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct GameKeyCache {
    map: RwLock<HashMap<String, (String, Instant)>>,
    cluster: Option<crate::cluster::Redis>,
}

impl GameKeyCache {
    /// A cache that tells the cluster's other origins of rotations (`None`: one process).
    pub fn new(cluster: Option<crate::cluster::Redis>) -> Self {
        Self { map: Default::default(), cluster }
    }

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

    /// Forgets every key (this process only).
    pub fn clear(&self) {
        self.map.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// A key was rotated: forgets every key here and tells the other origins to.
    pub async fn rotated(&self) {
        self.clear();
        if let Some(redis) = &self.cluster {
            redis.tell(crate::cluster::bus::CLIENT_KEYS, "rotated").await;
        }
    }
}
