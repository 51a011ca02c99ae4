//! Online presence of friends, asked of the live relays (`POST <relay>/v1/presence` with
//! the cluster key). Relays know who is connected; origin keeps nothing. Each live region
//! is asked at once ([`crate::regions::service::ask_relays`]), and a relay that does not
//! answer in time counts as having none of them.

use std::collections::HashMap;

use aethex_protocol::multiplayer::{PresenceAnswer, PresenceQuery};
use aethex_protocol::social::{Friend, Presence};

use crate::state::AppState;

/// Fills `presence` of each friend (offline unless a live relay has them connected;
/// `same_game` against the asking player's game).
pub async fn fill(app: &AppState, game: Option<&str>, friends: &mut [Friend]) {
    for f in friends.iter_mut() {
        f.presence = Some(Presence { online: false, region: None, same_game: false, in_room: false });
    }
    if friends.is_empty() {
        return;
    }
    let query = PresenceQuery { user_ids: friends.iter().map(|f| f.user_id.clone()).collect() };
    let body = serde_json::to_value(&query).unwrap_or_default();
    let answers = match crate::regions::service::ask_relays::<PresenceAnswer>(app, "/v1/presence", Some(&body)).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = ?e, "no region list for presence");
            return;
        }
    };
    let mut found: HashMap<String, Presence> = HashMap::new();
    for (region, answer) in answers {
        for p in answer.map(|a| a.online).unwrap_or_default() {
            let same_game = game.is_some() && p.game_id.as_deref() == game;
            let here = Presence { online: true, region: Some(region.name.clone()), same_game, in_room: p.in_room };
            // Connected in two regions: the one in this game wins.
            let keep = found.get(&p.user_id).is_some_and(|old| old.same_game && !same_game);
            if !keep {
                found.insert(p.user_id, here);
            }
        }
    }
    for f in friends.iter_mut() {
        if let Some(p) = found.remove(&f.user_id) {
            f.presence = Some(p);
        }
    }
}
