//! Achievement and statistics rules: who may define, unlock and read; progress only goes
//! up and unlocks at its target; statistics change atomically within their limits.

use aethex_protocol::achievements::{
    parse_achievement_id, Achievement, AchievementList, AchievementUpdate, DefineAchievementRequest, PlayerAchievement, PlayerAchievements,
    PlayerStats, StatsSummary, UpdateStatsRequest, MAX_ABS_STAT, MAX_ACHIEVEMENTS_PER_GAME, MAX_STATS_PER_PLAYER,
};
use aethex_protocol::teams::Role;
use aethex_protocol::validate::Invalid;

use super::store;
use super::AchievementError;
use crate::auth::caller::{Caller, Player};
use crate::logic::{self, hooks::By};
use crate::replication::rows;
use crate::state::AppState;

pub type AchResult<T> = Result<T, AchievementError>;

/// The player an achievement or statistics call is about, in its game: the signed-in
/// player, or for a server key the `user_id` it names.
pub struct Subject {
    pub game_id: String,
    pub user_id: String,
    /// Who asks, for the game's hooks (none: the game's own logic, which runs no hooks).
    pub by: Option<By>,
}

pub async fn subject(app: &AppState, caller: &Caller, requested: Option<&str>) -> AchResult<Subject> {
    match caller {
        Caller::Player(p) => {
            if requested.is_some_and(|u| u != p.user_id && u != "me") {
                return Err(AchievementError::Forbidden("players reach only their own achievements and statistics"));
            }
            Ok(Subject { game_id: p.game()?.to_string(), user_id: p.user_id.clone(), by: Some(By::of(caller)) })
        }
        Caller::Server(s) => {
            let u = requested.filter(|u| *u != "me").ok_or(Invalid::new("user_id", "a server key must name the player (user_id)"))?;
            if uuid::Uuid::parse_str(u).is_err() || !crate::saves::store::user_exists(&*app.db.reader().await, u).await? {
                return Err(Invalid::new("user_id", "no such player").into());
            }
            Ok(Subject { game_id: s.game_id.clone(), user_id: u.to_string(), by: Some(By::of(caller)) })
        }
    }
}

pub async fn define(app: &AppState, player: &Player, game_id: &str, id: &str, req: DefineAchievementRequest) -> AchResult<Achievement> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Developer).await?;
    let id = parse_achievement_id(id)?;
    req.validate()?;
    let now = crate::clock::now();
    let def = Achievement {
        game_id: game_id.to_string(),
        achievement_id: id,
        name: req.name.clone(),
        description: req.description.clone(),
        hidden: req.hidden,
        progress_target: req.progress_target,
        icon_url: req.icon_url.clone(),
        updated_at: now,
    };
    let d = def.clone();
    let stored = app
        .db
        .write_replicated(move |c, out| async move {
            let stored = store::upsert(&c, &d.game_id, &d.achievement_id, &req, &d.updated_at, MAX_ACHIEVEMENTS_PER_GAME).await?;
            if stored {
                out.upsert(&c, rows::table("achievements"), rows::achievement(&d)).await?;
            }
            Ok::<bool, AchievementError>(stored)
        })
        .await?;
    if !stored {
        return Err(AchievementError::Limit(format!("a game may define at most {MAX_ACHIEVEMENTS_PER_GAME} achievements")));
    }
    Ok(def)
}

pub async fn remove(app: &AppState, player: &Player, game_id: &str, id: &str) -> AchResult<()> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Developer).await?;
    let (g, i) = (game_id.to_string(), id.to_string());
    let gone = app
        .db
        .write_replicated(move |c, out| async move {
            let gone = store::delete(&c, &g, &i).await?;
            if gone {
                let key = rows::filter(&[("game_id", &g), ("achievement_id", &i)]);
                out.delete(&c, rows::table("player_achievements"), key.clone()).await?;
                out.delete(&c, rows::table("achievements"), key).await?;
            }
            Ok::<bool, AchievementError>(gone)
        })
        .await?;
    if gone {
        Ok(())
    } else {
        Err(AchievementError::NotFound(id.to_string()))
    }
}

pub async fn definitions(app: &AppState, player: &Player, game_id: &str) -> AchResult<AchievementList> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Viewer).await?;
    Ok(AchievementList { achievements: store::definitions(&*app.db.reader().await, game_id).await? })
}

fn view(r: store::Row) -> PlayerAchievement {
    PlayerAchievement::of(r.def, r.progress, r.unlocked_at)
}

/// The seed's `get_all`: every achievement of the game with the player's progress.
pub async fn get_all(app: &AppState, who: &Subject) -> AchResult<PlayerAchievements> {
    Ok(aethex_edge::readmodel::player_achievements(&app.read_model, &who.game_id, &who.user_id).await?)
}

/// `unlock` is progress to the target; `set_progress` keeps the higher of the stored and
/// the given progress and unlocks at the target. One write, read-modify-write on the
/// writer connection, so concurrent calls cannot lose progress.
pub async fn advance(app: &AppState, who: &Subject, id: &str, mut progress: Option<u64>) -> AchResult<AchievementUpdate> {
    let id = parse_achievement_id(id)?;
    let max = aethex_protocol::achievements::MAX_PROGRESS_TARGET;
    if progress.is_some_and(|p| p > max) {
        return Err(Invalid::new("progress", format!("progress must be 0 to {max}")).into());
    }
    if let Some(by) = &who.by {
        let asked = logic::AchievementProgress { achievement_id: id.clone(), user_id: who.user_id.clone(), progress };
        if let Some(adjusted) = logic::hooks::before_achievement(app, &who.game_id, by, asked).await? {
            if adjusted > max {
                return Err(Invalid::new("progress", format!("the game's logic set progress {adjusted}, above {max}")).into());
            }
            progress = Some(adjusted);
        }
    }
    let update = write_progress(app, who, &id, progress).await?;
    if let Some(by) = &who.by {
        let a = &update.achievement;
        let event =
            logic::Advanced { achievement_id: id.clone(), user_id: who.user_id.clone(), progress: a.progress, newly_unlocked: update.newly_unlocked };
        logic::hooks::after(app, &who.game_id, by.clone(), logic::Event::AchievementAdvanced(event));
    }
    Ok(update)
}

async fn write_progress(app: &AppState, who: &Subject, id: &str, progress: Option<u64>) -> AchResult<AchievementUpdate> {
    let id = id.to_string();
    let (g, u, i) = (who.game_id.clone(), who.user_id.clone(), id.clone());
    app.db
        .write_replicated(move |c, out| async move {
            let mut row = store::of_player(&c, &g, &u, Some(&i)).await?.pop().ok_or_else(|| AchievementError::NotFound(i.clone()))?;
            let target = row.def.progress_target;
            let wanted = progress.unwrap_or(target).min(target);
            let was_unlocked = row.unlocked_at.is_some();
            let next = row.progress.max(wanted);
            let newly_unlocked = !was_unlocked && next >= target;
            let now = crate::clock::now();
            if next != row.progress || newly_unlocked {
                let unlocked_at = newly_unlocked.then(|| now.clone());
                store::set_progress(&c, &g, &i, &u, next, unlocked_at.as_deref(), &now).await?;
                row.progress = next;
                if newly_unlocked {
                    row.unlocked_at = unlocked_at;
                }
                let replica_row = rows::player_achievement(&g, &u, &i, next, row.unlocked_at.as_deref());
                out.upsert(&c, rows::table("player_achievements"), replica_row).await?;
            }
            if newly_unlocked {
                metrics::counter!("aethex_achievements_unlocked_total").increment(1);
            }
            Ok(AchievementUpdate { achievement: view(row), newly_unlocked })
        })
        .await
}

pub async fn stats(app: &AppState, who: &Subject) -> AchResult<PlayerStats> {
    Ok(PlayerStats { user_id: who.user_id.clone(), stats: store::stats(&*app.db.reader().await, &who.game_id, &who.user_id).await? })
}

/// Adds `increments` and writes `set`, all or nothing: a result past ±[`MAX_ABS_STAT`], or
/// more than [`MAX_STATS_PER_PLAYER`] statistics, refuses the whole update.
pub async fn update_stats(app: &AppState, who: &Subject, req: UpdateStatsRequest) -> AchResult<PlayerStats> {
    req.validate()?;
    let (g, u) = (who.game_id.clone(), who.user_id.clone());
    app.db
        .write(move |c| async move {
            let mut current = store::stats(&c, &g, &u).await?;
            let mut changed = Vec::new();
            for (k, add) in &req.increments {
                let v = current.get(k).copied().unwrap_or(0).checked_add(*add).filter(|v| v.unsigned_abs() <= MAX_ABS_STAT as u64);
                let v = v.ok_or_else(|| Invalid::new("stats", format!("{k} would leave ±{MAX_ABS_STAT}")))?;
                current.insert(k.clone(), v);
                changed.push((k.clone(), v));
            }
            for (k, v) in &req.set {
                current.insert(k.clone(), *v);
                changed.push((k.clone(), *v));
            }
            if current.len() > MAX_STATS_PER_PLAYER as usize {
                return Err(AchievementError::Limit(format!("a player may hold at most {MAX_STATS_PER_PLAYER} statistics per game")));
            }
            let now = crate::clock::now();
            for (k, v) in changed {
                store::write_stat(&c, &g, &u, &k, v, &now).await?;
            }
            Ok(PlayerStats { user_id: u, stats: current })
        })
        .await
}

pub async fn summary(app: &AppState, player: &Player, game_id: &str) -> AchResult<StatsSummary> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Viewer).await?;
    Ok(StatsSummary { stats: store::summary(&*app.db.reader().await, game_id).await? })
}
