//! REST transport for analytics.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aethex_protocol::analytics::{
    ActiveUsers, Assignments, Consent, CrashAccepted, CrashGroups, CrashReport, DefineExperimentRequest, EventBatch, EventCounts, Experiment,
    ExperimentResults, Funnel, IngestResult, MetricSeries, PropertyReport, Retention, ScreenReport,
};
use aethex_protocol::rpc::ErrorEnvelope;

use super::service;
use crate::auth::caller::Player;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest_events))
        .routes(routes!(get_consent, put_consent))
        .routes(routes!(report_crash))
        .routes(routes!(my_assignments))
        .routes(routes!(retention))
        .routes(routes!(funnel))
        .routes(routes!(define_experiment))
        .routes(routes!(experiment_results))
        .routes(routes!(crash_groups))
        .routes(routes!(event_counts))
        .routes(routes!(active_users))
        .routes(routes!(metric_series))
        .routes(routes!(screen_report))
        .routes(routes!(property_report))
}

#[utoipa::path(post, path = "/api/v1/analytics/events", tag = "analytics", summary = "Send a batch of the player's events (the seed's format; idempotent by event_id; dropped without consent).", request_body = EventBatch, responses((status = 200, body = IngestResult), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn ingest_events(State(app): State<AppState>, player: Player, ApiJson(batch): ApiJson<EventBatch>) -> ApiResult<Json<IngestResult>> {
    Ok(Json(service::ingest(&app, &player, batch).await?))
}

#[utoipa::path(get, path = "/api/v1/analytics/consent", tag = "analytics", summary = "Whether the player opted in to analytics in the token's game.", responses((status = 200, body = Consent), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn get_consent(State(app): State<AppState>, player: Player) -> ApiResult<Json<Consent>> {
    Ok(Json(service::consent(&app, &player).await?))
}

#[utoipa::path(put, path = "/api/v1/analytics/consent", tag = "analytics", summary = "Opt in to (or out of) analytics in the token's game.", request_body = Consent, responses((status = 200, body = Consent), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn put_consent(State(app): State<AppState>, player: Player, ApiJson(c): ApiJson<Consent>) -> ApiResult<Json<Consent>> {
    Ok(Json(service::set_consent(&app, &player, c).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountsQuery {
    event_type: Option<String>,
    bucket: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/analytics/events", tag = "analytics", summary = "Event counts by type per hour or day (viewer+).", params(("game_id" = String, Path, description = "Game id"), ("event_type" = Option<String>, Query, description = "Only this type"), ("bucket" = Option<String>, Query, description = "hour (default) or day", pattern = "^(hour|day)$"), ("from" = Option<String>, Query, description = "RFC 3339 (default: 24 h ago)", format = DateTime), ("to" = Option<String>, Query, description = "RFC 3339 (default: now)", format = DateTime)), responses((status = 200, body = EventCounts), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn event_counts(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<CountsQuery>,
) -> ApiResult<Json<EventCounts>> {
    Ok(Json(service::counts(&app, &player, &game_id, q.event_type.as_deref(), q.bucket.as_deref(), q.from.as_deref(), q.to.as_deref()).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricQuery {
    name: String,
    bucket: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/analytics/metrics", tag = "analytics", summary = "Samples of one track_metric name (fps, frame time, memory) per hour or day: count, avg, min, max (viewer+).", params(("game_id" = String, Path, description = "Game id"), ("name" = String, Query, description = "Metric name"), ("bucket" = Option<String>, Query, description = "hour (default) or day", pattern = "^(hour|day)$"), ("from" = Option<String>, Query, description = "RFC 3339 (default: 24 h ago)", format = DateTime), ("to" = Option<String>, Query, description = "RFC 3339 (default: now)", format = DateTime)), responses((status = 200, body = MetricSeries), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn metric_series(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<MetricQuery>,
) -> ApiResult<Json<MetricSeries>> {
    Ok(Json(service::metric(&app, &player, &game_id, &q.name, q.bucket.as_deref(), q.from.as_deref(), q.to.as_deref()).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/analytics/screens", tag = "analytics", summary = "Screens viewed (track_screen), most first, with distinct players (viewer+).", params(("game_id" = String, Path, description = "Game id"), ("from" = Option<String>, Query, description = "RFC 3339 (default: 24 h ago)", format = DateTime), ("to" = Option<String>, Query, description = "RFC 3339 (default: now)", format = DateTime)), responses((status = 200, body = ScreenReport), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn screen_report(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<ScreenReport>> {
    Ok(Json(service::screens(&app, &player, &game_id, q.from.as_deref(), q.to.as_deref()).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PropertyQuery {
    name: String,
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/analytics/user-properties", tag = "analytics", summary = "Players counted by their latest value of a user property (set_user_property) (viewer+).", params(("game_id" = String, Path, description = "Game id"), ("name" = String, Query, description = "Property name")), responses((status = 200, body = PropertyReport), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn property_report(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PropertyQuery>,
) -> ApiResult<Json<PropertyReport>> {
    Ok(Json(service::user_property(&app, &player, &game_id, &q.name).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DayQuery {
    day: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/analytics/active-users", tag = "analytics", summary = "DAU of a day and MAU of the 30 days ending with it (viewer+).", params(("game_id" = String, Path, description = "Game id"), ("day" = Option<String>, Query, description = "YYYY-MM-DD (default: today, UTC)", format = Date)), responses((status = 200, body = ActiveUsers), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn active_users(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DayQuery>,
) -> ApiResult<Json<ActiveUsers>> {
    Ok(Json(service::active_users(&app, &player, &game_id, q.day.as_deref()).await?))
}

#[utoipa::path(post, path = "/api/v1/analytics/crashes", tag = "analytics", summary = "Send a crash report (stack trace, device, game version, log tail); grouped by its top frames.", request_body = CrashReport, responses((status = 200, body = CrashAccepted), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn report_crash(State(app): State<AppState>, player: Player, ApiJson(r): ApiJson<CrashReport>) -> ApiResult<Json<CrashAccepted>> {
    Ok(Json(service::report_crash(&app, &player, r).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CrashQuery {
    signature: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/analytics/crashes", tag = "analytics", summary = "Crash groups, most reports first, with counts per game version and first/last seen (viewer+).", params(("game_id" = String, Path, description = "Game id"), ("signature" = Option<String>, Query, description = "One group"), ("limit" = Option<u32>, Query, description = "1 to 100 (default 10)", minimum = 1, maximum = 100)), responses((status = 200, body = CrashGroups), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn crash_groups(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<CrashQuery>,
) -> ApiResult<Json<CrashGroups>> {
    Ok(Json(service::crash_groups(&app, &player, &game_id, q.signature.as_deref(), q.limit.as_deref()).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExperimentQuery {
    experiment_id: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/experiments", tag = "analytics", summary = "The player's variant of each active experiment of the token's game (deterministic; nothing is written).", params(("experiment_id" = Option<String>, Query, description = "Only this experiment")), responses((status = 200, body = Assignments), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn my_assignments(State(app): State<AppState>, player: Player, ApiQuery(q): ApiQuery<ExperimentQuery>) -> ApiResult<Json<Assignments>> {
    Ok(Json(service::assignments(&app, &player, q.experiment_id.as_deref()).await?))
}

#[utoipa::path(put, path = "/api/v1/games/{game_id}/experiments/{experiment_id}", tag = "analytics", summary = "Define or change an A/B test (developer+).", request_body = DefineExperimentRequest, params(("game_id" = String, Path, description = "Game id"), ("experiment_id" = String, Path, description = "Experiment id")), responses((status = 200, body = Experiment), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn define_experiment(
    State(app): State<AppState>,
    player: Player,
    ApiPath((game_id, id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<DefineExperimentRequest>,
) -> ApiResult<Json<Experiment>> {
    Ok(Json(service::define_experiment(&app, &player, &game_id, &id, req).await?))
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/experiments/{experiment_id}/results", tag = "analytics", summary = "Exposed players and conversions per variant with a 95 % interval (viewer+).", params(("game_id" = String, Path, description = "Game id"), ("experiment_id" = String, Path, description = "Experiment id")), responses((status = 200, body = ExperimentResults), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn experiment_results(
    State(app): State<AppState>,
    player: Player,
    ApiPath((game_id, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<ExperimentResults>> {
    Ok(Json(service::experiment_results(&app, &player, &game_id, &id).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionQuery {
    cohort: String,
    days: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/analytics/retention", tag = "analytics", summary = "Day-N retention of the players first active on a day (viewer+).", params(("game_id" = String, Path, description = "Game id"), ("cohort" = String, Query, description = "YYYY-MM-DD", format = Date), ("days" = Option<String>, Query, description = "Comma-separated N (default 1,7,30)")), responses((status = 200, body = Retention), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn retention(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RetentionQuery>,
) -> ApiResult<Json<Retention>> {
    Ok(Json(service::retention(&app, &player, &game_id, &q.cohort, q.days.as_deref()).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunnelQuery {
    steps: String,
    from: Option<String>,
    to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/games/{game_id}/analytics/funnel", tag = "analytics", summary = "Players through each step of an ordered funnel of event types (viewer+).", params(("game_id" = String, Path, description = "Game id"), ("steps" = String, Query, description = "2 to 10 comma-separated event types"), ("from" = Option<String>, Query, description = "RFC 3339 (default: 30 days ago)", format = DateTime), ("to" = Option<String>, Query, description = "RFC 3339 (default: now)", format = DateTime)), responses((status = 200, body = Funnel), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn funnel(
    State(app): State<AppState>,
    player: Player,
    ApiPath(game_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<FunnelQuery>,
) -> ApiResult<Json<Funnel>> {
    Ok(Json(service::funnel(&app, &player, &game_id, &q.steps, q.from.as_deref(), q.to.as_deref()).await?))
}
