//! The OpenAPI document, served at `GET /api/v1/openapi.json`. Its paths come from the
//! routers themselves: each domain's `routes.rs` registers its handlers with
//! `utoipa_axum::routes!`, which reads each handler's `#[utoipa::path]` (and the wire
//! types' schemas) as it adds the route, so a route cannot be served undocumented by
//! mistake nor documented without being served. This file holds the document's title,
//! tags and security scheme.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AeThex Cloud",
        description = "Accounts, sessions, teams and cloud saves. Errors are the seed's JSON-RPC error object \
                       (`{jsonrpc, id, error: {code, message, data: {field, reason}}}`); the same operations are \
                       available as JSON-RPC 2.0 methods at `POST /api/v1/rpc`."
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

/// Adds `method_router` to `router` at `axum_path`, documented under the path its
/// `#[utoipa::path]` names: for a wildcard (`{*path}`), which OpenAPI cannot express.
pub fn served_at<S: Clone + Send + Sync + 'static>(
    router: OpenApiRouter<S>,
    axum_path: &str,
    (schemas, paths, method_router): UtoipaMethodRouter<S>,
) -> OpenApiRouter<S> {
    let mut router = router.route(axum_path, method_router);
    let api = router.get_openapi_mut();
    api.paths.paths.extend(paths.paths);
    api.components.get_or_insert_with(Default::default).schemas.extend(schemas);
    router
}

/// The handler of `GET /api/v1/openapi.json`: the document built once, with the router,
/// from every domain's routes.
pub fn serve(
    api: utoipa::openapi::OpenApi,
) -> impl Fn() -> std::future::Ready<([(axum::http::HeaderName, &'static str); 1], axum::body::Bytes)> + Clone + Send + Sync + 'static {
    let body = axum::body::Bytes::from(serde_json::to_vec(&api).unwrap_or_default());
    move || std::future::ready(([(axum::http::header::CONTENT_TYPE, "application/json")], body.clone()))
}
