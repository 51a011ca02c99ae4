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
        (name = "logic", description = "Game logic: WebAssembly components, versions, rollback, custom RPCs"),
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

/// What the server accepts for a text value, stated in the document so a client or a
/// generator knows which values are valid: the parser's own rule (`protocol`'s pattern
/// constants). `startup::tests` checks each against its parser on many strings.
pub struct Text {
    pub pattern: &'static str,
    /// In characters.
    pub min_length: usize,
    pub max_length: usize,
    /// Values the pattern admits but the parser refuses (reserved names).
    pub reserved: &'static [&'static str],
    /// The parser takes exactly what the rule states. When false, the rule is stricter
    /// than the parser (it leaves out values the parser takes after trimming, say), but
    /// everything it admits is taken.
    pub exact: bool,
}

/// What the server accepts for a body field.
pub enum Rule {
    Text(Text),
    /// A whole number from `.0` to `.1`.
    Range(i64, i64),
    /// An array of `.0` to `.1` items.
    Items(usize, usize),
}

use crate::matchmaking::service::{MAX_MATCH_SIZE, MIN_MATCH_SIZE};
use aethex_protocol::analytics::{MAX_BATCH_EVENTS, MAX_VARIANTS, MIN_VARIANTS};
use aethex_protocol::leaderboards::MAX_ABS_SCORE;
use aethex_protocol::{dlc, matchmaking as mm, validate};

const fn text(pattern: &'static str, min_length: usize, max_length: usize) -> Text {
    Text { pattern, min_length, max_length, reserved: &[], exact: true }
}

// The parser also takes the 32-digit and braced forms of a UUID.
const UUID: Text = Text { exact: false, ..text(validate::UUID_PATTERN, 36, 36) };
const GAME_ID: Text = text(validate::GameSlug::PATTERN, 3, 64);
const ID: Text = text(validate::ID_PATTERN, 1, 64);
const DISPLAY_NAME: Text = Text { exact: false, ..text(validate::DisplayName::PATTERN, 1, 100) };
const USERNAME: Text = Text { exact: false, ..text(validate::Username::PATTERN, validate::Username::MIN_LEN, validate::Username::MAX_LEN) };
const PASSWORD: Text = text(validate::Password::PATTERN, validate::Password::MIN_LEN, validate::Password::MAX_LEN);
const EMAIL: Text = Text { exact: false, ..text(validate::Email::PATTERN, 3, validate::Email::MAX_LEN) };

/// One rule per path or query parameter name, applied to every operation's string
/// parameter of that name.
pub const PARAM_RULES: &[(&str, Text)] = &[
    ("game_id", GAME_ID),
    ("user_id", UUID),
    ("leaderboard_id", ID),
    ("achievement_id", ID),
    ("save_id", Text { reserved: &["history"], ..text(validate::ID_PATTERN, 1, validate::SlotName::MAX_LEN) }),
    ("channel", Text { reserved: dlc::RESERVED_CHANNELS, ..text(dlc::CHANNEL_PATTERN, 1, 32) }),
    ("version", text(dlc::VERSION_PATTERN, 1, 64)),
    ("entitlement", text(dlc::ENTITLEMENT_PATTERN, 1, 64)),
    ("chunk_id", text(dlc::BLAKE3_HEX_PATTERN, 64, 64)),
    ("mode", text(mm::MODE_PATTERN, 1, 32)),
];

/// Rules of request body fields: (schema, property, rule).
pub const FIELD_RULES: &[(&str, &str, Rule)] = &[
    ("DeviceLoginRequest", "device_id", Rule::Text(text(validate::DeviceId::PATTERN, 16, 128))),
    ("DeviceLoginRequest", "username", Rule::Text(USERNAME)),
    ("LoginRequest", "email", Rule::Text(EMAIL)),
    ("RegisterRequest", "email", Rule::Text(EMAIL)),
    ("RegisterRequest", "password", Rule::Text(PASSWORD)),
    ("RegisterRequest", "username", Rule::Text(USERNAME)),
    ("LinkEmailRequest", "email", Rule::Text(EMAIL)),
    ("LinkEmailRequest", "password", Rule::Text(PASSWORD)),
    ("LinkEmailRequest", "username", Rule::Text(USERNAME)),
    ("PasswordResetRequest", "email", Rule::Text(EMAIL)),
    ("PasswordResetConfirm", "new_password", Rule::Text(PASSWORD)),
    ("ChangePasswordRequest", "new_password", Rule::Text(PASSWORD)),
    ("UpdateProfileRequest", "username", Rule::Text(USERNAME)),
    ("CreateOrgRequest", "name", Rule::Text(DISPLAY_NAME)),
    ("CreateGameRequest", "game_id", Rule::Text(GAME_ID)),
    ("CreateGameRequest", "name", Rule::Text(DISPLAY_NAME)),
    ("UpdateGameRequest", "name", Rule::Text(DISPLAY_NAME)),
    ("CreateServerKeyRequest", "name", Rule::Text(DISPLAY_NAME)),
    ("RegisterKeyRequest", "name", Rule::Text(DISPLAY_NAME)),
    ("CreateLeaderboardRequest", "leaderboard_id", Rule::Text(ID)),
    ("CreateLeaderboardRequest", "name", Rule::Text(DISPLAY_NAME)),
    ("DefineAchievementRequest", "name", Rule::Text(DISPLAY_NAME)),
    ("ModeConfig", "match_size", Rule::Range(MIN_MATCH_SIZE as i64, MAX_MATCH_SIZE as i64)),
    ("DefineExperimentRequest", "variants", Rule::Items(MIN_VARIANTS, MAX_VARIANTS)),
    ("TicketRequest", "mode", Rule::Text(text(mm::MODE_PATTERN, 1, 32))),
    ("SubmitScoreRequest", "score", Rule::Range(-MAX_ABS_SCORE, MAX_ABS_SCORE)),
    ("EventBatch", "events", Rule::Items(1, MAX_BATCH_EVENTS)),
    ("CrashReport", "report_id", Rule::Text(UUID)),
];

fn state_text(o: &mut utoipa::openapi::schema::Object, t: &Text) {
    o.pattern = Some(t.pattern.to_string());
    o.min_length = Some(t.min_length);
    o.max_length = Some(t.max_length);
}

/// Writes [`PARAM_RULES`] into every string parameter of that name and [`FIELD_RULES`]
/// into the request schemas.
pub fn state_rules(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Schema, Type};
    for item in api.paths.paths.values_mut() {
        let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head];
        for op in ops.into_iter().flatten() {
            for p in op.parameters.iter_mut().flatten() {
                let Some((_, rule)) = PARAM_RULES.iter().find(|(name, _)| *name == p.name) else { continue };
                let Some(RefOr::T(Schema::Object(o))) = p.schema.as_mut() else { continue };
                if o.schema_type != Type::String.into() {
                    continue;
                }
                state_text(o, rule);
                if !rule.reserved.is_empty() {
                    let note = format!("Not one of: {}.", rule.reserved.join(", "));
                    p.description = Some(match p.description.take() {
                        Some(d) => format!("{d}. {note}"),
                        None => note,
                    });
                }
            }
        }
    }
    let Some(components) = api.components.as_mut() else { return };
    open_flattened(&mut components.schemas);
    for (schema, field, rule) in FIELD_RULES {
        let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(*schema) else { continue };
        match o.properties.get_mut(*field) {
            Some(RefOr::T(Schema::Object(f))) => match rule {
                Rule::Text(t) => state_text(f, t),
                Rule::Range(min, max) => {
                    f.minimum = Some((*min).into());
                    f.maximum = Some((*max).into());
                }
                Rule::Items(..) => {}
            },
            Some(RefOr::T(Schema::Array(a))) => {
                if let Rule::Items(min, max) = rule {
                    a.min_items = Some(*min);
                    a.max_items = Some(*max);
                }
            }
            _ => {}
        }
    }
}

/// A type that flattens a `deny_unknown_fields` type (a mode's entry holds its config)
/// is documented by utoipa as `allOf` the inner type, whose `additionalProperties: false`
/// then refuses the outer type's own fields: no answer could match. Each such part is
/// replaced by a copy that allows other properties; the inner type's own schema (a
/// request body) stays strict.
fn open_flattened(schemas: &mut std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Schema>>) {
    use utoipa::openapi::schema::AdditionalProperties;
    use utoipa::openapi::{RefOr, Schema};
    let strict = |name: &str, schemas: &std::collections::BTreeMap<String, RefOr<Schema>>| match schemas.get(name) {
        Some(RefOr::T(Schema::Object(o))) if matches!(o.additional_properties.as_deref(), Some(AdditionalProperties::FreeForm(false))) => {
            let mut open = o.clone();
            open.additional_properties = None;
            Some(open)
        }
        _ => None,
    };
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in names {
        let Some(RefOr::T(Schema::AllOf(all))) = schemas.get(&name) else { continue };
        let parts: Vec<_> = all
            .items
            .iter()
            .map(|item| match item {
                RefOr::Ref(r) => r.ref_location.strip_prefix("#/components/schemas/").and_then(|n| strict(n, schemas)),
                _ => None,
            })
            .collect();
        if let Some(RefOr::T(Schema::AllOf(all))) = schemas.get_mut(&name) {
            for (item, open) in all.items.iter_mut().zip(parts) {
                if let Some(open) = open {
                    *item = RefOr::T(Schema::Object(open));
                }
            }
        }
    }
}
