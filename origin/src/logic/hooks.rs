//! The hooks other domains call around their writes. A game without logic, or whose
//! component does not register a hook, costs one lookup in memory. A rejection becomes
//! [`LogicError::Rejected`] (403 with the hook's reason); a component that fails (trap, CPU
//! budget, memory, time) fails the write with [`LogicError::Failed`]: a broken rule never
//! lets a write through unchecked.

use std::sync::Arc;
use std::time::Instant;

use aethex_logic_host::{
    AchievementProgress, Caller as LogicCaller, Context, Event, Hook, Pool, ProgressVerdict, SaveVerdict, SaveWrite, ScoreSubmit, ScoreVerdict,
    Ticket, TicketVerdict,
};

use super::{LogicError, LogicResult, RunError};
use crate::auth::caller::Caller;
use crate::state::AppState;

/// Longest rejection reason passed on to the client.
pub const MAX_REASON_CHARS: usize = 500;

/// Who a write is by, as a component sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum By {
    Player(String),
    /// A server key (its id).
    Server(String),
    /// The platform (the console, account deletion, the component itself).
    System,
}

impl By {
    pub fn of(caller: &Caller) -> Self {
        match caller {
            Caller::Player(p) => By::Player(p.user_id.clone()),
            Caller::Server(s) => By::Server(s.key_id.clone()),
        }
    }
}

pub fn context(game: &str, by: &By) -> Context {
    let caller = match by {
        By::Player(id) => LogicCaller::Player(id.clone()),
        By::Server(key) => LogicCaller::Server(key.clone()),
        By::System => LogicCaller::System,
    };
    Context { game_id: game.to_string(), caller }
}

/// The game's pool if its component registered `hook`.
async fn pool_for(app: &AppState, game: &str, hook: Hook) -> LogicResult<Option<Arc<Pool>>> {
    Ok(super::loader::pool(app, game).await?.filter(|p| p.program().handles(hook)))
}

/// Records a call's time and turns its failure into [`LogicError::Failed`].
pub(super) fn finish<T>(game: &str, export: &'static str, started: Instant, r: Result<T, RunError>) -> LogicResult<T> {
    metrics::histogram!("aethex_logic_call_seconds", "export" => export).record(started.elapsed().as_secs_f64());
    r.map_err(|e| {
        metrics::counter!("aethex_logic_failures_total", "export" => export).increment(1);
        tracing::warn!(game, export, error = %e, "game logic failed");
        LogicError::Failed(e)
    })
}

fn rejected(hook: &'static str, reason: String) -> LogicError {
    metrics::counter!("aethex_logic_rejections_total", "hook" => hook).increment(1);
    LogicError::Rejected { hook, reason: reason.chars().take(MAX_REASON_CHARS).collect() }
}

/// Before a save: `Some(data)` is what to write instead.
pub async fn before_save(app: &AppState, game: &str, by: &By, save: SaveWrite) -> LogicResult<Option<Vec<u8>>> {
    let Some(pool) = pool_for(app, game, Hook::BeforeSave).await? else { return Ok(None) };
    let started = Instant::now();
    match finish(game, "before_save", started, pool.before_save(&context(game, by), &save).await)? {
        SaveVerdict::Accept => Ok(None),
        SaveVerdict::Reject(reason) => Err(rejected("before_save", reason)),
        SaveVerdict::Rewrite(data) => Ok(Some(data)),
    }
}

/// Before a score: `Some(score)` is the score to submit instead.
pub async fn before_score(app: &AppState, game: &str, by: &By, score: ScoreSubmit) -> LogicResult<Option<i64>> {
    let Some(pool) = pool_for(app, game, Hook::BeforeScore).await? else { return Ok(None) };
    let started = Instant::now();
    match finish(game, "before_score", started, pool.before_score(&context(game, by), &score).await)? {
        ScoreVerdict::Accept => Ok(None),
        ScoreVerdict::Reject(reason) => Err(rejected("before_score", reason)),
        ScoreVerdict::Adjust(s) => Ok(Some(s)),
    }
}

/// Before an unlock or progress update: `Some(progress)` is the progress to set instead.
pub async fn before_achievement(app: &AppState, game: &str, by: &By, p: AchievementProgress) -> LogicResult<Option<u64>> {
    let Some(pool) = pool_for(app, game, Hook::BeforeAchievement).await? else { return Ok(None) };
    let started = Instant::now();
    match finish(game, "before_achievement", started, pool.before_achievement(&context(game, by), &p).await)? {
        ProgressVerdict::Accept => Ok(None),
        ProgressVerdict::Reject(reason) => Err(rejected("before_achievement", reason)),
        ProgressVerdict::Adjust(v) => Ok(Some(v)),
    }
}

/// Before a ticket is queued: `Some(json)` is the properties object to queue instead.
pub async fn before_ticket(app: &AppState, game: &str, by: &By, t: Ticket) -> LogicResult<Option<String>> {
    let Some(pool) = pool_for(app, game, Hook::BeforeTicket).await? else { return Ok(None) };
    let started = Instant::now();
    match finish(game, "before_ticket", started, pool.before_ticket(&context(game, by), &t).await)? {
        TicketVerdict::Accept => Ok(None),
        TicketVerdict::Reject(reason) => Err(rejected("before_ticket", reason)),
        TicketVerdict::RewriteProperties(p) => Ok(Some(p)),
    }
}

/// After a write: hands the event to the component in a task of its own (the write does not
/// wait, and a failure is only logged and counted).
pub fn after(app: &AppState, game: &str, by: By, event: Event) {
    // Known in memory not to want it: no task at all.
    if app.logic.cached(game).is_some_and(|pool| !pool.is_some_and(|p| p.program().handles(Hook::AfterEvents))) {
        return;
    }
    let (app, game) = (app.clone(), game.to_string());
    tokio::spawn(async move {
        let pool = match pool_for(&app, &game, Hook::AfterEvents).await {
            Ok(Some(pool)) => pool,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(game, error = %e, "after-event not delivered");
                return;
            }
        };
        let started = Instant::now();
        let _ = finish(&game, "after_event", started, pool.after_event(&context(&game, &by), &event).await);
    });
}
