//! The OpenAPI document, generated from the route handlers' annotations and the wire
//! types' schemas, served at `GET /api/v1/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{achievements, analytics, auth, console, dlc, leaderboards, matchmaking, privacy, regions, saves, social, teams};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AeThex Cloud",
        description = "Accounts, sessions, teams and cloud saves. Errors are the seed's JSON-RPC error object \
                       (`{jsonrpc, id, error: {code, message, data: {field, reason}}}`); the same operations are \
                       available as JSON-RPC 2.0 methods at `POST /api/v1/rpc`."
    ),
    paths(
        auth::routes::register, auth::routes::login, auth::routes::device_login, auth::routes::refresh,
        auth::routes::logout, auth::routes::logout_all, auth::routes::get_profile, auth::routes::update_profile,
        auth::routes::link_email, auth::routes::list_sessions, auth::routes::change_password,
        auth::routes::request_email_verification, auth::routes::verify_email, auth::routes::verify_email_link, auth::routes::verify_email_form, auth::routes::oauth_confirm,
        auth::routes::request_password_reset, auth::routes::reset_password, auth::routes::oauth_start,
        auth::routes::oauth_complete,
        teams::routes::create_org, teams::routes::list_orgs, teams::routes::get_org, teams::routes::list_members,
        teams::routes::add_member, teams::routes::update_member, teams::routes::remove_member,
        teams::routes::list_games, teams::routes::create_game, teams::routes::get_game, teams::routes::update_game,
        teams::routes::rotate_client_key, teams::routes::list_server_keys, teams::routes::create_server_key,
        teams::routes::revoke_server_key,
        saves::routes::list_saves, saves::routes::save_game, saves::routes::save_history, saves::routes::load_save,
        saves::routes::delete_save, saves::routes::restore_save,
        leaderboards::routes::create_leaderboard, leaderboards::routes::list_leaderboards,
        leaderboards::routes::get_leaderboard, leaderboards::routes::get_around_me, leaderboards::routes::submit_score,
        leaderboards::routes::list_periods, leaderboards::routes::get_period,
        achievements::routes::define_achievement, achievements::routes::delete_achievement, achievements::routes::list_definitions,
        achievements::routes::get_achievements, achievements::routes::unlock, achievements::routes::set_progress,
        achievements::routes::get_stats, achievements::routes::update_stats, achievements::routes::stats_summary,
        social::routes::list_friends, social::routes::send_request, social::routes::accept_request, social::routes::decline_request,
        social::routes::remove_friend, social::routes::block_player, social::routes::unblock_player,
        social::routes::create_share, social::routes::get_share, social::routes::delete_share,
        analytics::routes::ingest_events, analytics::routes::get_consent, analytics::routes::put_consent, analytics::routes::event_counts,
        analytics::routes::active_users, analytics::routes::report_crash, analytics::routes::crash_groups,
        analytics::routes::my_assignments, analytics::routes::define_experiment, analytics::routes::experiment_results,
        analytics::routes::retention, analytics::routes::funnel, analytics::routes::metric_series, analytics::routes::screen_report,
        analytics::routes::property_report,
        privacy::routes::export_me, privacy::routes::delete_me, privacy::routes::export_player, privacy::routes::delete_player,
        regions::routes::list_regions, regions::routes::register_region,
        dlc::routes::register_key, dlc::routes::delete_key, dlc::routes::missing_chunks, dlc::routes::upload_chunk, dlc::routes::list_releases,
        dlc::routes::create_release, dlc::routes::promote_release, dlc::routes::rollback_channel, dlc::routes::delete_release,
        dlc::routes::grant_entitlement, dlc::routes::revoke_entitlement, dlc::routes::manifest_keys, dlc::routes::my_entitlements,
        dlc::routes::get_chunk, dlc::routes::current_manifest, dlc::routes::version_manifest, dlc::routes::check_update,
        dlc::routes::stream_file,
        matchmaking::routes::put_mode, matchmaking::routes::get_mode, matchmaking::routes::list_modes,
        matchmaking::routes::create_ticket, matchmaking::routes::get_ticket, matchmaking::routes::cancel_ticket,
        matchmaking::routes::my_tickets, matchmaking::routes::accept_ticket,
        matchmaking::routes::backfill,
        console::routes::list_players, console::routes::ban_player, console::routes::unban_player, console::routes::player_saves,
        console::routes::live_rooms, console::routes::list_experiments, console::routes::audit_log, console::routes::board_entries,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "teams", description = "Organizations, members, games and keys"),
        (name = "saves", description = "Cloud saves per player, game and slot"),
        (name = "leaderboards", description = "Leaderboards per game"),
        (name = "achievements", description = "Achievements and player statistics"),
        (name = "social", description = "Friends, presence and share links"),
        (name = "analytics", description = "Analytics: events, consent, queries"),
        (name = "privacy", description = "GDPR export and erasure"),
        (name = "regions", description = "Relay regions"),
        (name = "dlc", description = "DLC: manifest keys, chunks, releases, channels, entitlements, delivery"),
        (name = "matchmaking", description = "Matchmaking: modes, tickets (long-poll), backfill"),
        (name = "console", description = "Developer routes of the web console: players, bans, rooms, audit log"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT (players) or aethex_sk_… (game server keys)").build(),
            ),
        );
    }
}

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
