//! What a game's component may call on origin (`aethex:logic/host`), always inside its own
//! game: key-value storage, players of the game and their statistics, scores and
//! achievements as the server. Every size is bounded; every refusal is a reason the
//! component sees as an error.

use std::sync::Weak;

use aethex_logic_host::{HostApi, HostFuture, HostResult, LogLevel, Profile, Stat};

use super::store;
use crate::state::{App, AppState};

/// Longest key.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Most keys one game holds.
pub const MAX_KEYS_PER_GAME: i64 = 100_000;

pub struct OriginHost {
    app: Weak<App>,
    game: String,
}

impl OriginHost {
    pub fn new(app: Weak<App>, game: &str) -> Self {
        Self { app, game: game.to_string() }
    }

    fn app(&self) -> HostResult<AppState> {
        self.app.upgrade().map(AppState).ok_or_else(|| "the server is shutting down".to_string())
    }
}

fn check_key(key: &str) -> HostResult<()> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!("keys are 1 to {MAX_KEY_BYTES} bytes"));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> HostResult<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!("values are at most {MAX_VALUE_BYTES} bytes"));
    }
    Ok(())
}

/// A database failure, logged here and told to the component without its details.
fn failed(e: impl std::fmt::Display) -> String {
    tracing::warn!(error = %e, "a game logic host call failed");
    "the server could not do this now; try again".to_string()
}

/// A domain's refusal as the component sees it: the error object's message, field and reason.
fn refusal(e: impl Into<crate::error::ApiError>) -> String {
    let e: crate::error::ApiError = e.into();
    let mut text = e.error.message.clone();
    if let Some(d) = &e.error.data {
        for part in [&d.field, &d.reason].into_iter().flatten() {
            text.push_str(": ");
            text.push_str(part);
        }
    }
    text
}

/// Refuses users who never played this game (ids of other games' players stay unknown).
async fn check_player(app: &AppState, game: &str, user: &str) -> HostResult<()> {
    if uuid::Uuid::parse_str(user).is_err() || !store::plays(&*app.db.reader().await, game, user).await.map_err(failed)? {
        return Err(format!("{user:?} is not a player of this game"));
    }
    Ok(())
}

impl HostApi for OriginHost {
    fn kv_get(&self, key: String) -> HostFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move {
            check_key(&key)?;
            let app = self.app()?;
            let value = store::kv_get(&*app.db.reader().await, &self.game, &key).await.map_err(failed)?;
            Ok(value)
        })
    }

    fn kv_set(&self, key: String, value: Vec<u8>) -> HostFuture<'_, ()> {
        Box::pin(async move {
            check_key(&key)?;
            check_value(&value)?;
            let app = self.app()?;
            let game = self.game.clone();
            let stored = app
                .db
                .write(move |c| async move { store::kv_set(&c, &game, &key, value, MAX_KEYS_PER_GAME, &crate::clock::now()).await })
                .await
                .map_err(failed)?;
            if !stored {
                return Err(format!("the game holds {MAX_KEYS_PER_GAME} keys already"));
            }
            Ok(())
        })
    }

    fn kv_delete(&self, key: String) -> HostFuture<'_, bool> {
        Box::pin(async move {
            check_key(&key)?;
            let app = self.app()?;
            let game = self.game.clone();
            app.db.write(move |c| async move { store::kv_delete(&c, &game, &key).await }).await.map_err(failed)
        })
    }

    fn kv_compare_and_set(&self, key: String, expected: Option<Vec<u8>>, new: Option<Vec<u8>>) -> HostFuture<'_, bool> {
        Box::pin(async move {
            check_key(&key)?;
            if let Some(v) = &new {
                check_value(v)?;
            }
            let app = self.app()?;
            let game = self.game.clone();
            // Read, compare and write in one write job: the writer runs them one at a time.
            let outcome = app
                .db
                .write(move |c| async move {
                    if store::kv_get(&c, &game, &key).await? != expected {
                        return Ok::<_, crate::db::DbError>(Some(false));
                    }
                    match new {
                        None => {
                            store::kv_delete(&c, &game, &key).await?;
                            Ok(Some(true))
                        }
                        Some(v) => Ok(store::kv_set(&c, &game, &key, v, MAX_KEYS_PER_GAME, &crate::clock::now()).await?.then_some(true)),
                    }
                })
                .await
                .map_err(failed)?;
            outcome.ok_or_else(|| format!("the game holds {MAX_KEYS_PER_GAME} keys already"))
        })
    }

    fn player_profile(&self, user_id: String) -> HostFuture<'_, Option<Profile>> {
        Box::pin(async move {
            let app = self.app()?;
            if check_player(&app, &self.game, &user_id).await.is_err() {
                return Ok(None);
            }
            let user = crate::auth::store::user_by_id(&*app.db.reader().await, &user_id).await.map_err(failed)?;
            Ok(user.filter(|u| u.is_active).map(|u| Profile {
                user_id: u.id,
                username: u.username,
                avatar_url: u.avatar_url,
                created_at: u.created_at,
            }))
        })
    }

    fn player_stats(&self, user_id: String) -> HostFuture<'_, Vec<Stat>> {
        Box::pin(async move {
            let app = self.app()?;
            check_player(&app, &self.game, &user_id).await?;
            let stats = crate::achievements::store::stats(&*app.db.reader().await, &self.game, &user_id).await.map_err(failed)?;
            Ok(stats.into_iter().map(|(name, value)| Stat { name, value: value as f64 }).collect())
        })
    }

    fn submit_score(&self, board_id: String, user_id: String, score: i64) -> HostFuture<'_, i64> {
        Box::pin(async move {
            let app = self.app()?;
            check_player(&app, &self.game, &user_id).await?;
            let answer = crate::leaderboards::service::submit_as_server(&app, &self.game, &user_id, &board_id, score).await.map_err(refusal)?;
            Ok(answer.entry.score)
        })
    }

    fn unlock_achievement(&self, achievement_id: String, user_id: String) -> HostFuture<'_, bool> {
        Box::pin(async move {
            let app = self.app()?;
            check_player(&app, &self.game, &user_id).await?;
            let who = crate::achievements::service::Subject { game_id: self.game.clone(), user_id, by: None };
            let update = crate::achievements::service::advance(&app, &who, &achievement_id, None).await.map_err(refusal)?;
            Ok(update.newly_unlocked)
        })
    }

    fn send_room_message(&self, _to: Option<String>, _method: String, _args_json: String) -> HostResult<()> {
        Err("room messages are sent from a room (at a relay), not from hooks or RPCs".into())
    }

    fn log(&self, level: LogLevel, message: &str) {
        aethex_logic_host::log_line(level, &self.game, message);
    }
}
