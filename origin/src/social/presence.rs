//! Online presence of friends, asked of the live relays (`POST <relay>/v1/presence` with
//! the cluster key). Relays know who is connected; origin keeps nothing. Each live region
//! is asked at once, and a relay that does not answer within [`ASK_TIMEOUT`] counts as
//! having none of them.

use std::collections::HashMap;
use std::time::Duration;

use aethex_protocol::multiplayer::{PresenceAnswer, PresenceQuery};
use aethex_protocol::replica::EDGE_KEY_HEADER;
use aethex_protocol::social::{Friend, Presence};

use crate::state::AppState;

/// How long one relay may take to answer.
pub const ASK_TIMEOUT: Duration = Duration::from_millis(800);

async fn ask(app: &AppState, base: String, key: &str, ids: &[String]) -> Option<PresenceAnswer> {
    let resp = app
        .http
        .post(format!("{base}/v1/presence"))
        .header(EDGE_KEY_HEADER, key)
        .timeout(ASK_TIMEOUT)
        .json(&PresenceQuery { user_ids: ids.to_vec() })
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        tracing::warn!(relay = %base, status = %resp.status(), "a relay refused a presence query");
        return None;
    }
    resp.json().await.ok()
}

/// Fills `presence` of each friend (offline unless a live relay has them connected;
/// `same_game` against the asking player's game).
pub async fn fill(app: &AppState, game: Option<&str>, friends: &mut [Friend]) {
    for f in friends.iter_mut() {
        f.presence = Some(Presence { online: false, region: None, same_game: false, in_room: false });
    }
    let (Some(key), false) = (app.edge_keys.first(), friends.is_empty()) else { return };
    let ids: Vec<String> = friends.iter().map(|f| f.user_id.clone()).collect();
    let regions = match crate::regions::service::list(app).await {
        Ok(r) => r.regions,
        Err(e) => {
            tracing::warn!(error = ?e, "no region list for presence");
            return;
        }
    };
    let asks = regions.iter().filter_map(|r| {
        let base = crate::matchmaking::service::http_base(&r.url)?;
        let name = r.name.clone();
        let ids = &ids;
        Some(async move { (name, ask(app, base, key, ids).await) })
    });
    let mut found: HashMap<String, Presence> = HashMap::new();
    for (region, answer) in futures::future::join_all(asks).await {
        for p in answer.map(|a| a.online).unwrap_or_default() {
            let same_game = game.is_some() && p.game_id.as_deref() == game;
            let here = Presence { online: true, region: Some(region.clone()), same_game, in_room: p.in_room };
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
