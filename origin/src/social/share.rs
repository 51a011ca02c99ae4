//! Share links: a player makes a public link to their score on a board or to an
//! achievement they unlocked, in the token's game. The link holds a snapshot taken then
//! (score, rank, names), readable by anyone with the link as JSON or as a small HTML page;
//! it reveals nothing else about the player. At most [`MAX_SHARES_PER_PLAYER`] per player
//! and game; the owner may delete them; GDPR export and erasure include them.

use aethex_protocol::social::{is_share_id, ShareRequest, SharedItem, MAX_SHARES_PER_PLAYER};
use libsql::params;

use super::service::{require_social, SocialResult};
use super::SocialError;
use crate::auth::caller::Player;
use crate::html::escape_html;
use crate::state::AppState;

fn missing(field: &'static str, why: impl Into<String>) -> SocialError {
    SocialError::Missing { field, why: why.into() }
}

/// The page of a share id.
pub fn share_url(app: &AppState, share_id: &str) -> String {
    format!("{}/share/{share_id}", app.public_url)
}

/// Takes the snapshot and stores the link.
pub async fn create(app: &AppState, player: &Player, req: ShareRequest) -> SocialResult<SharedItem> {
    require_social(app, player).await?;
    let game = player.game_id.clone().ok_or_else(|| aethex_protocol::validate::Invalid::new("game", "the access token is not for a game"))?;
    let reader_guard = app.db.reader().await;
    let reader = &*reader_guard;
    let game_row = crate::teams::store::game_by_id(reader, &game).await?.ok_or_else(|| missing("game", "no such game"))?;
    let user = crate::auth::store::user_by_id(reader, &player.user_id).await?.ok_or(SocialError::NoPlayer)?;
    let share_id = crate::crypto::random_token(16);
    let mut item = SharedItem {
        url: share_url(app, &share_id),
        share_id,
        kind: String::new(),
        game_id: game.clone(),
        game_name: game_row.name,
        username: user.username,
        created_at: crate::clock::now(),
        leaderboard_id: None,
        leaderboard_name: None,
        score: None,
        rank: None,
        achievement_id: None,
        achievement_name: None,
        achievement_description: None,
        icon_url: None,
        unlocked_at: None,
    };
    match req {
        ShareRequest::Score { leaderboard_id } => {
            let board = aethex_protocol::leaderboards::parse_leaderboard_id(&leaderboard_id)?;
            let page = aethex_edge::readmodel::leaderboard_around(&app.read_model, &game, &board, &player.user_id, 1)
                .await?
                .ok_or_else(|| missing("leaderboard_id", format!("no leaderboard {board:?} in this game")))?;
            let entry = page.entries.into_iter().next().ok_or_else(|| missing("leaderboard_id", "you have no score on this board"))?;
            let rows = reader
                .query("SELECT name FROM leaderboards WHERE game_id = ?1 AND leaderboard_id = ?2", params![game.clone(), board.clone()])
                .await?;
            item.leaderboard_name = crate::db::first_row(rows).await?.map(|r| r.get::<String>(0)).transpose()?;
            item.kind = "score".into();
            item.leaderboard_id = Some(board);
            item.score = Some(entry.score);
            item.rank = Some(entry.rank);
        }
        ShareRequest::Achievement { achievement_id } => {
            let id = aethex_protocol::achievements::parse_achievement_id(&achievement_id)?;
            let row = crate::achievements::store::of_player(reader, &game, &player.user_id, Some(&id))
                .await?
                .pop()
                .ok_or_else(|| missing("achievement_id", format!("no achievement {id:?} in this game")))?;
            let unlocked_at = row.unlocked_at.ok_or_else(|| missing("achievement_id", "you have not unlocked this achievement"))?;
            item.kind = "achievement".into();
            item.achievement_id = Some(id);
            item.achievement_name = Some(row.def.name);
            item.achievement_description = Some(row.def.description);
            item.icon_url = row.def.icon_url;
            item.unlocked_at = Some(unlocked_at);
        }
    }
    let text = serde_json::to_string(&item).map_err(|e| crate::db::DbError::Corrupt(e.to_string()))?;
    let (i, g, u, k, t) = (item.share_id.clone(), game, player.user_id.clone(), item.kind.clone(), item.created_at.clone());
    let stored = app
        .db
        .write(move |c| async move {
            let n = c
                .execute(
                    "INSERT INTO share_links (share_id, game_id, user_id, kind, item, created_at)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE (SELECT COUNT(*) FROM share_links WHERE game_id = ?2 AND user_id = ?3) < ?7",
                    params![i, g, u, k, text, t, i64::from(MAX_SHARES_PER_PLAYER)],
                )
                .await?;
            Ok::<bool, SocialError>(n > 0)
        })
        .await?;
    if !stored {
        return Err(SocialError::Limit(format!("at most {MAX_SHARES_PER_PLAYER} share links per player: delete old ones first")));
    }
    metrics::counter!("aethex_share_links_created_total").increment(1);
    Ok(item)
}

/// Anyone's read of a link. `None` when there is no such link (or it was deleted).
pub async fn get(app: &AppState, share_id: &str) -> SocialResult<Option<SharedItem>> {
    if !is_share_id(share_id) {
        return Ok(None);
    }
    // A game flagged COPPA since shows none of its links.
    let rows = app
        .db
        .reader()
        .await
        .query("SELECT s.item FROM share_links s JOIN games g ON g.id = s.game_id WHERE s.share_id = ?1 AND g.coppa = 0", params![share_id])
        .await?;
    let Some(r) = crate::db::first_row(rows).await? else { return Ok(None) };
    let mut item: SharedItem = serde_json::from_str(&r.get::<String>(0)?).map_err(|e| crate::db::DbError::Corrupt(e.to_string()))?;
    // The page's address as this server is reached now.
    item.url = share_url(app, share_id);
    Ok(Some(item))
}

/// The owner deletes a link.
pub async fn delete(app: &AppState, player: &Player, share_id: &str) -> SocialResult<()> {
    let (i, u) = (share_id.to_string(), player.user_id.clone());
    let gone = app
        .db
        .write(move |c| async move {
            Ok::<u64, SocialError>(c.execute("DELETE FROM share_links WHERE share_id = ?1 AND user_id = ?2", params![i, u]).await?)
        })
        .await?;
    if gone == 0 {
        return Err(missing("share_id", "no such share link of yours"));
    }
    Ok(())
}

/// The public page of a link: every value escaped, no script, no outside resource but the
/// achievement's icon (an `https` URL only).
pub fn page(item: &SharedItem) -> String {
    let (title, detail) = match item.kind.as_str() {
        "score" => (
            format!("{} scored {} on {}", item.username, item.score.unwrap_or(0), item.leaderboard_name.as_deref().unwrap_or("a leaderboard")),
            format!("Rank #{} when shared", item.rank.unwrap_or(0)),
        ),
        _ => (
            format!("{} unlocked {}", item.username, item.achievement_name.as_deref().unwrap_or("an achievement")),
            item.achievement_description.clone().unwrap_or_default(),
        ),
    };
    let icon = item
        .icon_url
        .as_deref()
        .filter(|u| u.starts_with("https://"))
        .map(|u| format!("<img src=\"{}\" alt=\"\" width=\"96\" height=\"96\">", escape_html(u)))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{t}</title><meta property=\"og:title\" content=\"{t}\"><meta property=\"og:description\" content=\"{d}\">\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}small{{color:#666}}</style></head>\
         <body>{icon}<h1>{t}</h1><p>{d}</p><p><small>{g} · {at}</small></p></body></html>\n",
        t = escape_html(&title),
        d = escape_html(&detail),
        g = escape_html(&item.game_name),
        at = escape_html(&item.created_at),
    )
}
