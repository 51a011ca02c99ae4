//! Analytics rules: consent, validation of each event, quotas, and the queries.

use aethex_protocol::analytics::{
    parse_event_type, wilson_interval, ActiveUsers, Assignments, Consent, CountBucket, CrashAccepted, CrashGroups, CrashReport,
    DefineExperimentRequest, EventBatch, EventCounts, Experiment, ExperimentResults, Funnel, FunnelStep, IngestResult, MetricBucket, MetricSeries,
    PropertyReport, PropertyValue, RejectedEvent, Retention, RetentionDay, ScreenReport, ScreenViews, VariantResult, MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
};
use aethex_protocol::teams::{Role, Tier};
use aethex_protocol::validate::Invalid;

use super::store::{self, EventRow};
use super::AnalyticsError;
use crate::auth::caller::Player;
use crate::replication::rows;
use crate::state::AppState;

pub type AnResult<T> = Result<T, AnalyticsError>;

fn game_of(player: &Player) -> AnResult<&str> {
    Ok(player.game()?)
}

/// The player's effective consent: always off in a COPPA game.
pub async fn consent(app: &AppState, player: &Player) -> AnResult<Consent> {
    Ok(Consent { analytics: game_consent(app, player).await?.0 })
}

/// The player's effective consent (off in a COPPA game) and the game's tier, in one read.
async fn game_consent(app: &AppState, player: &Player) -> AnResult<(bool, Tier)> {
    let game = game_of(player)?;
    Ok(store::game_consent(&*app.db.reader().await, game, &player.user_id).await?)
}

/// Opt in (or out) of analytics for the token's game. Opted out is the default.
pub async fn set_consent(app: &AppState, player: &Player, c: Consent) -> AnResult<Consent> {
    let (game, user) = (game_of(player)?.to_string(), player.user_id.clone());
    if c.analytics && crate::teams::service::is_coppa(app, &game).await? {
        return Err(AnalyticsError::Coppa);
    }
    app.db
        .write_replicated(move |conn, out| async move {
            store::set_consent(&conn, &game, &user, c.analytics).await?;
            out.upsert(&conn, rows::table("analytics_consent"), rows::consent(&game, &user, c.analytics)).await?;
            Ok::<(), AnalyticsError>(())
        })
        .await?;
    Ok(c)
}

/// Unix milliseconds of an RFC 3339 query bound, or `default` when absent.
fn time_ms(v: Option<&str>, field: &'static str, default: i64) -> AnResult<i64> {
    match v {
        None => Ok(default),
        Some(t) => {
            Ok(chrono::DateTime::parse_from_rfc3339(t).map_err(|_| Invalid::new(field, format!("{field} must be RFC 3339")))?.timestamp_millis())
        }
    }
}

fn quota(app: &AppState, tier: Tier) -> u64 {
    let q = &app.config.analytics;
    match tier {
        Tier::Free => q.daily_quota_free,
        Tier::Pro => q.daily_quota_pro,
        Tier::Enterprise => q.daily_quota_enterprise,
    }
}

fn json_text(m: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    (!m.is_empty()).then(|| serde_json::Value::Object(m.clone()).to_string())
}

/// Stores a batch of the player's events. Malformed events are listed in `rejected`;
/// without consent every event is dropped (and counted); past the game's daily quota
/// the batch is refused (`429`) or cut short.
pub async fn ingest(app: &AppState, player: &Player, batch: EventBatch) -> AnResult<IngestResult> {
    let game = game_of(player)?.to_string();
    if batch.events.is_empty() || batch.events.len() > MAX_BATCH_EVENTS {
        return Err(Invalid::new("events", format!("a batch holds 1 to {MAX_BATCH_EVENTS} events")).into());
    }
    let mut out = IngestResult::default();
    let (consented, tier) = game_consent(app, player).await?;
    if !consented {
        out.dropped_no_consent = batch.events.len() as u32;
        metrics::counter!("aethex_analytics_events_total", "outcome" => "no_consent").increment(batch.events.len() as u64);
        return Ok(out);
    }
    let mut rows = Vec::with_capacity(batch.events.len());
    let mut seen = std::collections::HashSet::new();
    for (index, e) in batch.events.into_iter().enumerate() {
        let reject = |reason: String| RejectedEvent { index, reason };
        let checked = (|| {
            let id = uuid::Uuid::parse_str(&e.event_id).map_err(|_| "event_id must be a UUID".to_string())?.to_string();
            let event_type = parse_event_type(&e.event_type).map_err(|i| i.reason)?;
            if e.user_id.as_deref().is_some_and(|u| u != player.user_id) {
                return Err("user_id is not the signed-in player".to_string());
            }
            if e.game_id.as_deref().is_some_and(|g| g != game) {
                return Err("game_id is not the token's game".to_string());
            }
            if let Some(t) = &e.timestamp {
                chrono::DateTime::parse_from_rfc3339(t).map_err(|_| "timestamp must be RFC 3339".to_string())?;
            }
            if e.session_id.as_deref().is_some_and(|s| s.is_empty() || s.len() > 64) {
                return Err("session_id must be 1 to 64 characters".to_string());
            }
            let (properties, device) = (json_text(&e.properties), json_text(&e.device));
            let size = properties.as_ref().map_or(0, String::len) + device.as_ref().map_or(0, String::len);
            if size > MAX_EVENT_BYTES {
                return Err(format!("properties and device must be at most {MAX_EVENT_BYTES} bytes together"));
            }
            Ok(EventRow { event_id: id, session_id: e.session_id, event_type, kind: e.kind.as_str(), client_ts: e.timestamp, properties, device })
        })();
        match checked {
            Ok(row) if seen.insert(row.event_id.clone()) => rows.push((index, row)),
            Ok(_) => out.duplicates += 1,
            Err(reason) => out.rejected.push(reject(reason)),
        }
    }
    if !rows.is_empty() {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let left = quota(app, tier).saturating_sub(app.analytics.used(&game, now_ms.div_euclid(86_400_000)).await?);
        if left == 0 {
            return Err(AnalyticsError::Quota);
        }
        if rows.len() as u64 > left {
            for (index, _) in rows.drain(left as usize..) {
                out.rejected.push(RejectedEvent { index, reason: "the game's daily event quota is used up".into() });
            }
        }
        let rows: Vec<EventRow> = rows.into_iter().map(|(_, r)| r).collect();
        let (stored, dup) = app.analytics.ingest(&game, &player.user_id, now_ms, &rows).await?;
        out.accepted = stored;
        out.duplicates += dup;
    }
    metrics::counter!("aethex_analytics_events_total", "outcome" => "stored").increment(u64::from(out.accepted));
    Ok(out)
}

/// Event counts by type in buckets of an hour or a day, over `[from, to)` (RFC 3339;
/// default: the last 24 hours), at most 10 000 buckets.
/// A query's time window: the bucket (`hour` default, or `day`) and `[from, to)` (default:
/// the last 24 hours), at most 10 000 buckets.
fn window(bucket: Option<&str>, from: Option<&str>, to: Option<&str>) -> AnResult<(&'static str, i64, i64, i64)> {
    let (name, bucket_ms) = match bucket.unwrap_or("hour") {
        "hour" => ("hour", 3_600_000i64),
        "day" => ("day", 86_400_000),
        _ => return Err(Invalid::new("bucket", "bucket must be hour or day").into()),
    };
    let now = chrono::Utc::now().timestamp_millis();
    let (from_ms, to_ms) = (time_ms(from, "from", now - 86_400_000)?, time_ms(to, "to", now)?);
    if to_ms <= from_ms || (to_ms - from_ms) / bucket_ms > 10_000 {
        return Err(Invalid::new("from", "from must be before to, at most 10 000 buckets apart").into());
    }
    Ok((name, bucket_ms, from_ms, to_ms))
}

pub async fn counts(
    app: &AppState,
    player: &Player,
    game_id: &str,
    event_type: Option<&str>,
    bucket: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> AnResult<EventCounts> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Viewer).await?;
    let (name, bucket_ms, from_ms, to_ms) = window(bucket, from, to)?;
    if let Some(t) = event_type {
        parse_event_type(t)?;
    }
    let rows = app.analytics.counts(game_id, event_type, from_ms, to_ms, bucket_ms).await?;
    Ok(EventCounts {
        bucket: name.into(),
        buckets: rows.into_iter().map(|(b, t, n)| CountBucket { start: crate::clock::ts_ms(b), event_type: t, count: n }).collect(),
    })
}

/// The seed's `track_metric` samples of one name per bucket (viewer+).
pub async fn metric(
    app: &AppState,
    player: &Player,
    game_id: &str,
    name: &str,
    bucket: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> AnResult<MetricSeries> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Viewer).await?;
    let metric = parse_event_type(name).map_err(|_| Invalid::new("name", "name must be a metric name (as sent with track_metric)"))?;
    let (bucket, bucket_ms, from_ms, to_ms) = window(bucket, from, to)?;
    let rows = app.analytics.metric(game_id, &metric, from_ms, to_ms, bucket_ms).await?;
    Ok(MetricSeries {
        name: metric,
        bucket: bucket.into(),
        buckets: rows.into_iter().map(|(b, count, avg, min, max)| MetricBucket { start: crate::clock::ts_ms(b), count, avg, min, max }).collect(),
    })
}

/// Screens viewed in the window, most first (viewer+).
pub async fn screens(app: &AppState, player: &Player, game_id: &str, from: Option<&str>, to: Option<&str>) -> AnResult<ScreenReport> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Viewer).await?;
    let (_, _, from_ms, to_ms) = window(Some("day"), from, to)?;
    let rows = app.analytics.screens(game_id, from_ms, to_ms).await?;
    Ok(ScreenReport { screens: rows.into_iter().map(|(screen, views, players)| ScreenViews { screen, views, players }).collect() })
}

/// Players by their latest value of a user property (viewer+).
pub async fn user_property(app: &AppState, player: &Player, game_id: &str, name: &str) -> AnResult<PropertyReport> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Viewer).await?;
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(Invalid::new("name", "name must be 1 to 64 characters").into());
    }
    let rows = app.analytics.user_property(game_id, name).await?;
    let values = rows
        .into_iter()
        .map(|(v, players)| PropertyValue { value: serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v)), players })
        .collect();
    Ok(PropertyReport { name: name.to_string(), values })
}

/// DAU of `day` (YYYY-MM-DD, default today) and MAU (30 days ending with it).
pub async fn active_users(app: &AppState, player: &Player, game_id: &str, day: Option<&str>) -> AnResult<ActiveUsers> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Viewer).await?;
    let date = match day {
        None => chrono::Utc::now().date_naive(),
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| Invalid::new("day", "day must be YYYY-MM-DD"))?,
    };
    let (dau, mau) = app.analytics.active(game_id, unix_day(date)).await?;
    Ok(ActiveUsers { day: date.format("%Y-%m-%d").to_string(), dau, mau })
}

/// Stores a crash report (with consent, like every analytics data) in its group.
pub async fn report_crash(app: &AppState, player: &Player, r: CrashReport) -> AnResult<CrashAccepted> {
    let game = game_of(player)?.to_string();
    if let Some(t) = &r.timestamp {
        chrono::DateTime::parse_from_rfc3339(t).map_err(|_| Invalid::new("timestamp", "timestamp must be RFC 3339"))?;
    }
    let signature = r.check()?;
    let device = json_text(&r.device);
    if !consent(app, player).await?.analytics {
        metrics::counter!("aethex_analytics_crashes_total", "outcome" => "no_consent").increment(1);
        return Ok(CrashAccepted { signature, stored: false });
    }
    let title: String = r.stack_trace.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().chars().take(200).collect();
    let stored = app.analytics.crash(&game, &player.user_id, &signature, &title, &r, device, chrono::Utc::now().timestamp_millis()).await?;
    metrics::counter!("aethex_analytics_crashes_total", "outcome" => if stored { "stored" } else { "duplicate" }).increment(1);
    Ok(CrashAccepted { signature, stored })
}

/// The game's top crash groups (viewer+), or one group by `signature`.
pub async fn crash_groups(app: &AppState, player: &Player, game_id: &str, signature: Option<&str>, limit: Option<&str>) -> AnResult<CrashGroups> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Viewer).await?;
    let limit = aethex_protocol::leaderboards::parse_limit(limit)?;
    Ok(CrashGroups { groups: app.analytics.crash_groups(game_id, signature, limit).await? })
}

async fn experiments_of(app: &AppState, game: &str, only: Option<&str>) -> AnResult<Vec<Experiment>> {
    Ok(store::experiments(&*app.db.reader().await, game, only).await?)
}

/// Defines or changes an experiment (developer+). Changing the variants reshuffles players.
pub async fn define_experiment(app: &AppState, player: &Player, game_id: &str, id: &str, req: DefineExperimentRequest) -> AnResult<Experiment> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Developer).await?;
    let id = aethex_protocol::validate::parse_id(id, "experiment_id")?;
    req.validate()?;
    let now = crate::clock::now();
    let variants = serde_json::to_string(&req.variants).unwrap_or_default();
    let (g, i, c, t, a) = (game_id.to_string(), id.clone(), req.conversion_event.clone(), now.clone(), req.active);
    app.db
        .write_replicated(move |conn, out| async move {
            let row = rows::experiment(&g, &i, &variants, a);
            store::put_experiment(&conn, &g, &i, &variants, &c, a, &t).await?;
            out.upsert(&conn, rows::table("experiments"), row).await?;
            Ok::<(), AnalyticsError>(())
        })
        .await?;
    Ok(Experiment {
        game_id: game_id.to_string(),
        experiment_id: id,
        variants: req.variants,
        conversion_event: req.conversion_event,
        active: req.active,
        updated_at: now,
    })
}

/// The player's variants of the game's active experiments (computed, nothing written;
/// edges answer the same from their replica).
pub async fn assignments(app: &AppState, player: &Player, only: Option<&str>) -> AnResult<Assignments> {
    Ok(aethex_edge::readmodel::assignments(&app.read_model, game_of(player)?, &player.user_id, only).await?)
}

/// Exposed players and conversions per variant with a 95 % interval (viewer+).
pub async fn experiment_results(app: &AppState, player: &Player, game_id: &str, id: &str) -> AnResult<ExperimentResults> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Viewer).await?;
    let e = experiments_of(app, game_id, Some(id)).await?.pop().ok_or_else(|| Invalid::new("experiment_id", "no such experiment in this game"))?;
    let counts = app.analytics.experiment_results(game_id, &e.experiment_id, &e.conversion_event).await?;
    let variants = e
        .variants
        .iter()
        .map(|v| {
            let (exposed, converted) = counts.iter().find(|(name, _, _)| *name == v.name).map(|(_, x, c)| (*x, *c)).unwrap_or((0, 0));
            let (ci_low, ci_high) = wilson_interval(converted, exposed);
            let rate = if exposed > 0 { converted as f64 / exposed as f64 } else { 0.0 };
            VariantResult { variant: v.name.clone(), exposed, converted, rate, ci_low, ci_high }
        })
        .collect();
    Ok(ExperimentResults { experiment_id: e.experiment_id, conversion_event: e.conversion_event, variants })
}

fn unix_day(date: chrono::NaiveDate) -> i64 {
    date.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days()
}

/// Day-N retention of the players first active on `cohort` (YYYY-MM-DD), for N in `days`
/// (comma-separated, 1 to 16 values of 1 to 365; default 1,7,30).
pub async fn retention(app: &AppState, player: &Player, game_id: &str, cohort: &str, days: Option<&str>) -> AnResult<Retention> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Viewer).await?;
    let date = chrono::NaiveDate::parse_from_str(cohort, "%Y-%m-%d").map_err(|_| Invalid::new("cohort", "cohort must be YYYY-MM-DD"))?;
    let days: Vec<u32> = days
        .unwrap_or("1,7,30")
        .split(',')
        .map(|d| d.trim().parse::<u32>().ok().filter(|n| (1..=365).contains(n)))
        .collect::<Option<Vec<_>>>()
        .filter(|d| (1..=16).contains(&d.len()))
        .ok_or_else(|| Invalid::new("days", "days must be 1 to 16 comma-separated numbers from 1 to 365"))?;
    let (size, retained) = app.analytics.retention(game_id, unix_day(date), &days).await?;
    let days = days
        .iter()
        .zip(retained)
        .map(|(n, r)| RetentionDay { day: *n, retained: r, rate: if size > 0 { r as f64 / size as f64 } else { 0.0 } })
        .collect();
    Ok(Retention { cohort: date.format("%Y-%m-%d").to_string(), cohort_size: size, days })
}

/// Players through each step of an ordered funnel (`steps`: 2 to 10 comma-separated event
/// types) within `[from, to)` (default: the last 30 days).
pub async fn funnel(app: &AppState, player: &Player, game_id: &str, steps: &str, from: Option<&str>, to: Option<&str>) -> AnResult<Funnel> {
    crate::teams::service::require_game_role(app, player, game_id, Role::Viewer).await?;
    let steps: Vec<String> = steps
        .split(',')
        .map(|s| parse_event_type(s.trim()))
        .collect::<Result<_, _>>()
        .map_err(|_| Invalid::new("steps", "steps must be event types"))?;
    if !(2..=10).contains(&steps.len()) {
        return Err(Invalid::new("steps", "a funnel has 2 to 10 steps").into());
    }
    let now = chrono::Utc::now().timestamp_millis();
    let (from_ms, to_ms) = (time_ms(from, "from", now - 30 * 86_400_000)?, time_ms(to, "to", now + 1)?);
    let counts = app.analytics.funnel(game_id, &steps, from_ms, to_ms).await?;
    Ok(Funnel { steps: steps.into_iter().zip(counts).map(|(event_type, players)| FunnelStep { event_type, players }).collect() })
}
