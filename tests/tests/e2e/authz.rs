//! The authorization matrix (issue 12): every route origin serves, called by every kind of
//! caller, each cell an expected outcome checked against the real server.
//!
//! The route list comes from the server itself (its OpenAPI document) and from the
//! routers' source (`.route(…)` in origin's files), so a route added without an entry
//! here fails the test. Callers: anonymous, an edge key, a relay key, a player of another
//! game, player B against player A's resources, player A, each organization role, and a
//! server key of either game. Outcomes:
//! - `A` (allowed): neither 401 nor 403 (the route may still refuse the input or not
//!   find a resource);
//! - `U`: exactly 401; `F`: exactly 403;
//! - `D` (denied): never 2xx: the route did nothing for this caller;
//! - and no cell may answer 5xx or drop the connection.
//!
//! Bodies are generated from each route's request schema (required fields, one value of
//! the declared type), so role checks are reached rather than stopped by a parse error.
//! Routes that destroy what later cells need (log out, delete the account, revoke keys)
//! run their allowed cells in a fresh world each.

use std::collections::{BTreeSet, HashMap};

use aethex_tests::{raw, GameFixture, Origin};
use reqwest::Method;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Who {
    Anon,
    EdgeKey,
    RelayKey,
    OtherGamePlayer,
    PlayerB,
    PlayerA,
    Viewer,
    Developer,
    Admin,
    Owner,
    ServerOther,
    ServerOwn,
}

const EVERYONE: [Who; 12] = [
    Who::Anon,
    Who::EdgeKey,
    Who::RelayKey,
    Who::OtherGamePlayer,
    Who::PlayerB,
    Who::PlayerA,
    Who::Viewer,
    Who::Developer,
    Who::Admin,
    Who::Owner,
    Who::ServerOther,
    Who::ServerOwn,
];

/// Who a route lets in; everyone else is refused.
#[derive(Debug, Clone, Copy)]
enum Policy {
    /// Anyone, without credentials (a 401 there means the credentials in the body are
    /// wrong, not that the caller may not ask).
    Public,
    /// Any signed-in player (also a developer's own account); server keys are refused.
    AnyPlayer,
    /// A player whose token names a game (acts in that game).
    GamePlayer,
    /// A game player, or a server key (acting in its own game).
    GamePlayerOrServer,
    /// Player A only (the path names A's data).
    OnlyA,
    /// Player A, or a server key (acting in its own game: another game's key sees only
    /// that game's rows).
    AOrServer,
    /// A player of game A (the path names game A).
    GameAPlayer,
    /// A player of game A, or game A's server key.
    GameAPlayerOrServerOwn,
    /// Members of game A's organization with at least this role.
    Role(u8),
    /// Such members, or game A's server key.
    RoleOrServerOwn(u8),
    /// Game A's server key only.
    ServerOwn,
    /// The edge key only.
    Edge,
    /// The relay key only.
    Relay,
    /// Not on the public port at all (the metrics listener's route): `404` for everyone.
    NotHere,
    /// No caller of the matrix (a credential none of them presents this way).
    Nobody,
}

const VIEWER: u8 = 1;
const DEVELOPER: u8 = 2;
const ADMIN: u8 = 3;
const OWNER: u8 = 4;

fn role_of(w: Who) -> u8 {
    match w {
        Who::Viewer => VIEWER,
        Who::Developer => DEVELOPER,
        Who::Admin => ADMIN,
        Who::Owner => OWNER,
        _ => 0,
    }
}

fn is_game_player(w: Who) -> bool {
    matches!(w, Who::OtherGamePlayer | Who::PlayerB | Who::PlayerA)
}

fn is_account(w: Who) -> bool {
    is_game_player(w) || role_of(w) > 0
}

impl Policy {
    fn allows(self, w: Who) -> bool {
        match self {
            Policy::Public => true,
            Policy::AnyPlayer => is_account(w),
            Policy::GamePlayer => is_game_player(w),
            Policy::GamePlayerOrServer => is_game_player(w) || matches!(w, Who::ServerOwn | Who::ServerOther),
            Policy::OnlyA => w == Who::PlayerA,
            Policy::AOrServer => matches!(w, Who::PlayerA | Who::ServerOwn | Who::ServerOther),
            Policy::GameAPlayer => matches!(w, Who::PlayerA | Who::PlayerB),
            Policy::GameAPlayerOrServerOwn => matches!(w, Who::PlayerA | Who::PlayerB | Who::ServerOwn),
            Policy::Role(min) => role_of(w) >= min,
            Policy::RoleOrServerOwn(min) => role_of(w) >= min || w == Who::ServerOwn,
            Policy::ServerOwn => w == Who::ServerOwn,
            Policy::Edge => w == Who::EdgeKey,
            Policy::Relay => w == Who::RelayKey,
            Policy::NotHere | Policy::Nobody => false,
        }
    }

    /// The exact refusal where one is certain, else any refusal.
    fn refusal(self, w: Who) -> Outcome {
        let bearer_route = !matches!(self, Policy::Public | Policy::Edge | Policy::Relay | Policy::NotHere | Policy::Nobody);
        match (self, w) {
            (Policy::NotHere, _) => Outcome::NotFound,
            // No credential a bearer route takes: 401.
            (_, Who::Anon | Who::EdgeKey | Who::RelayKey) if bearer_route => Outcome::U,
            (Policy::Edge | Policy::Relay | Policy::Nobody, _) => Outcome::U,
            // A server key where only players are let in.
            (Policy::AnyPlayer | Policy::GamePlayer | Policy::OnlyA | Policy::GameAPlayer, Who::ServerOther | Who::ServerOwn) => Outcome::F,
            // A member whose role is too low.
            (Policy::Role(_) | Policy::RoleOrServerOwn(_), w) if role_of(w) > 0 => Outcome::F,
            _ => Outcome::D,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Any answer but a 5xx.
    Any,
    A,
    U,
    F,
    D,
    NotFound,
}

impl Outcome {
    fn holds(self, status: u16) -> bool {
        match self {
            Outcome::Any => true,
            Outcome::A => status != 401 && status != 403,
            Outcome::U => status == 401,
            Outcome::F => status == 403,
            Outcome::D => !(200..300).contains(&status),
            Outcome::NotFound => status == 404,
        }
    }
}

/// Every route of origin: (method, path template, policy, destroys what later cells need).
const ROUTES: &[(&str, &str, Policy, bool)] = &[
    // Accounts.
    ("POST", "/api/v1/auth/register", Policy::Public, false),
    ("POST", "/api/v1/auth/login", Policy::Public, false),
    ("POST", "/api/v1/auth/device", Policy::Public, false),
    ("POST", "/api/v1/auth/refresh", Policy::Public, false),
    ("POST", "/api/v1/auth/logout", Policy::AnyPlayer, true),
    ("POST", "/api/v1/auth/logout-all", Policy::AnyPlayer, true),
    ("GET", "/api/v1/auth/profile", Policy::AnyPlayer, false),
    ("PUT", "/api/v1/auth/profile", Policy::AnyPlayer, false),
    ("POST", "/api/v1/auth/link", Policy::AnyPlayer, false),
    ("GET", "/api/v1/auth/sessions", Policy::AnyPlayer, false),
    ("POST", "/api/v1/auth/password", Policy::AnyPlayer, true),
    ("POST", "/api/v1/auth/verify-email/request", Policy::AnyPlayer, false),
    ("POST", "/api/v1/auth/verify-email", Policy::Public, false),
    ("GET", "/api/v1/auth/verify-email", Policy::Public, false),
    ("POST", "/api/v1/auth/verify-email/confirm", Policy::Public, false),
    ("POST", "/api/v1/auth/password-reset/request", Policy::Public, false),
    ("POST", "/api/v1/auth/password-reset", Policy::Public, false),
    ("POST", "/api/v1/auth/oauth/complete", Policy::Public, false),
    ("POST", "/api/v1/auth/oauth/confirm", Policy::Public, false),
    ("POST", "/api/v1/auth/oauth/{provider}", Policy::Public, false),
    ("GET", "/api/v1/auth/oauth/{provider}/callback", Policy::Public, false),
    ("GET", "/api/v1/auth/me/export", Policy::AnyPlayer, false),
    ("DELETE", "/api/v1/auth/me", Policy::AnyPlayer, true),
    // Organizations, games, keys.
    ("GET", "/api/v1/orgs", Policy::AnyPlayer, false),
    ("POST", "/api/v1/orgs", Policy::AnyPlayer, false),
    ("GET", "/api/v1/orgs/{org_id}", Policy::Role(VIEWER), false),
    ("GET", "/api/v1/orgs/{org_id}/games", Policy::Role(VIEWER), false),
    ("POST", "/api/v1/orgs/{org_id}/games", Policy::Role(ADMIN), false),
    ("GET", "/api/v1/orgs/{org_id}/members", Policy::Role(VIEWER), false),
    ("POST", "/api/v1/orgs/{org_id}/members", Policy::Role(ADMIN), false),
    ("PUT", "/api/v1/orgs/{org_id}/members/{user_id}", Policy::Role(ADMIN), false),
    ("DELETE", "/api/v1/orgs/{org_id}/members/{user_id}", Policy::Role(ADMIN), false),
    ("GET", "/api/v1/games/{game_id}", Policy::Role(VIEWER), false),
    ("PATCH", "/api/v1/games/{game_id}", Policy::Role(ADMIN), false),
    ("POST", "/api/v1/games/{game_id}/client-key/rotate", Policy::Role(ADMIN), true),
    ("GET", "/api/v1/games/{game_id}/server-keys", Policy::Role(VIEWER), false),
    ("POST", "/api/v1/games/{game_id}/server-keys", Policy::Role(DEVELOPER), false),
    ("DELETE", "/api/v1/games/{game_id}/server-keys/{key_id}", Policy::Role(DEVELOPER), true),
    // Saves.
    ("GET", "/api/v1/saves/{user_id}", Policy::AOrServer, false),
    ("POST", "/api/v1/saves/{user_id}", Policy::AOrServer, false),
    ("GET", "/api/v1/saves/{user_id}/history", Policy::AOrServer, false),
    ("GET", "/api/v1/saves/{user_id}/{save_id}", Policy::AOrServer, false),
    ("DELETE", "/api/v1/saves/{user_id}/{save_id}", Policy::AOrServer, true),
    ("POST", "/api/v1/saves/{user_id}/{save_id}/restore", Policy::AOrServer, false),
    // Leaderboards, achievements, statistics.
    ("GET", "/api/v1/games/{game_id}/leaderboards", Policy::Role(VIEWER), false),
    ("POST", "/api/v1/games/{game_id}/leaderboards", Policy::Role(DEVELOPER), false),
    ("GET", "/api/v1/games/{game_id}/leaderboards/{leaderboard_id}/entries", Policy::Role(VIEWER), false),
    ("GET", "/api/v1/leaderboards/{leaderboard_id}", Policy::GamePlayer, false),
    ("GET", "/api/v1/leaderboards/{leaderboard_id}/around-me", Policy::GamePlayer, false),
    ("GET", "/api/v1/leaderboards/{leaderboard_id}/periods", Policy::GamePlayer, false),
    ("GET", "/api/v1/leaderboards/{leaderboard_id}/periods/{period}", Policy::GamePlayer, false),
    ("POST", "/api/v1/leaderboards/{leaderboard_id}/scores", Policy::GamePlayer, false),
    ("GET", "/api/v1/games/{game_id}/achievements", Policy::Role(VIEWER), false),
    ("PUT", "/api/v1/games/{game_id}/achievements/{achievement_id}", Policy::Role(DEVELOPER), false),
    ("DELETE", "/api/v1/games/{game_id}/achievements/{achievement_id}", Policy::Role(DEVELOPER), true),
    ("GET", "/api/v1/achievements", Policy::GamePlayerOrServer, false),
    ("POST", "/api/v1/achievements/{achievement_id}/unlock", Policy::GamePlayerOrServer, false),
    ("POST", "/api/v1/achievements/{achievement_id}/progress", Policy::GamePlayerOrServer, false),
    ("GET", "/api/v1/stats", Policy::GamePlayerOrServer, false),
    ("POST", "/api/v1/stats", Policy::GamePlayerOrServer, false),
    ("GET", "/api/v1/games/{game_id}/stats", Policy::Role(VIEWER), false),
    // Friends and share links.
    ("GET", "/api/v1/friends", Policy::AnyPlayer, false),
    ("POST", "/api/v1/friends/requests", Policy::AnyPlayer, false),
    ("DELETE", "/api/v1/friends/{user_id}", Policy::AnyPlayer, false),
    ("POST", "/api/v1/friends/{user_id}/accept", Policy::AnyPlayer, false),
    ("POST", "/api/v1/friends/{user_id}/decline", Policy::AnyPlayer, false),
    ("POST", "/api/v1/friends/{user_id}/block", Policy::AnyPlayer, false),
    ("DELETE", "/api/v1/friends/{user_id}/block", Policy::AnyPlayer, false),
    ("POST", "/api/v1/share", Policy::GamePlayer, false),
    ("GET", "/api/v1/share/{share_id}", Policy::Public, false),
    ("DELETE", "/api/v1/share/{share_id}", Policy::OnlyA, true),
    ("GET", "/share/{share_id}", Policy::Public, false),
    // Analytics and A/B tests.
    ("GET", "/api/v1/analytics/consent", Policy::GamePlayer, false),
    ("PUT", "/api/v1/analytics/consent", Policy::GamePlayer, false),
    ("POST", "/api/v1/analytics/events", Policy::GamePlayer, false),
    ("POST", "/api/v1/analytics/crashes", Policy::GamePlayer, false),
    ("GET", "/api/v1/experiments", Policy::GamePlayer, false),
    ("GET", "/api/v1/games/{game_id}/experiments", Policy::Role(VIEWER), false),
    ("PUT", "/api/v1/games/{game_id}/experiments/{experiment_id}", Policy::Role(DEVELOPER), false),
    ("GET", "/api/v1/games/{game_id}/experiments/{experiment_id}/results", Policy::Role(VIEWER), false),
    ("GET", "/api/v1/games/{game_id}/analytics/active-users", Policy::Role(VIEWER), false),
    ("GET", "/api/v1/games/{game_id}/analytics/crashes", Policy::Role(VIEWER), false),
    ("GET", "/api/v1/games/{game_id}/analytics/events", Policy::Role(VIEWER), false),
    ("GET", "/api/v1/games/{game_id}/analytics/funnel", Policy::Role(VIEWER), false),
    ("GET", "/api/v1/games/{game_id}/analytics/metrics", Policy::Role(VIEWER), false),
    ("GET", "/api/v1/games/{game_id}/analytics/retention", Policy::Role(VIEWER), false),
    ("GET", "/api/v1/games/{game_id}/analytics/screens", Policy::Role(VIEWER), false),
    ("GET", "/api/v1/games/{game_id}/analytics/user-properties", Policy::Role(VIEWER), false),
    // Console and privacy.
    ("GET", "/api/v1/games/{game_id}/players", Policy::Role(DEVELOPER), false),
    ("POST", "/api/v1/games/{game_id}/players/{user_id}/ban", Policy::Role(ADMIN), true),
    ("DELETE", "/api/v1/games/{game_id}/players/{user_id}/ban", Policy::Role(ADMIN), false),
    ("GET", "/api/v1/games/{game_id}/players/{user_id}/saves", Policy::Role(DEVELOPER), false),
    ("GET", "/api/v1/games/{game_id}/players/{user_id}/export", Policy::Role(ADMIN), false),
    ("DELETE", "/api/v1/games/{game_id}/players/{user_id}", Policy::Role(ADMIN), true),
    ("GET", "/api/v1/games/{game_id}/rooms", Policy::Role(VIEWER), false),
    ("GET", "/api/v1/games/{game_id}/audit", Policy::Role(ADMIN), false),
    ("GET", "/console", Policy::Public, false),
    ("GET", "/console/", Policy::Public, false),
    ("GET", "/console/{file}", Policy::Public, false),
    // DLC.
    ("GET", "/api/v1/dlc/{game_id}/keys", Policy::Public, false),
    ("GET", "/api/v1/dlc/{game_id}/chunks/{chunk_id}", Policy::Public, false),
    ("GET", "/api/v1/dlc/{game_id}/entitlements", Policy::GameAPlayer, false),
    ("GET", "/api/v1/dlc/{game_id}/{channel}/manifest", Policy::GameAPlayerOrServerOwn, false),
    ("GET", "/api/v1/dlc/{game_id}/{channel}/manifest/{version}", Policy::GameAPlayerOrServerOwn, false),
    ("GET", "/api/v1/dlc/{game_id}/{channel}/update", Policy::GameAPlayerOrServerOwn, false),
    ("GET", "/api/v1/dlc/{game_id}/{channel}/files/{path}", Policy::GameAPlayerOrServerOwn, false),
    // Game logic.
    ("POST", "/api/v1/games/{game_id}/logic", Policy::RoleOrServerOwn(DEVELOPER), false),
    ("GET", "/api/v1/games/{game_id}/logic", Policy::RoleOrServerOwn(VIEWER), false),
    ("POST", "/api/v1/games/{game_id}/logic/activate", Policy::RoleOrServerOwn(DEVELOPER), false),
    ("POST", "/api/v1/games/{game_id}/rpc/{name}", Policy::GameAPlayerOrServerOwn, false),
    ("GET", "/api/v1/games/{game_id}/logic/room", Policy::Relay, false),
    ("POST", "/api/v1/games/{game_id}/logic/host", Policy::Relay, false),
    ("POST", "/api/v1/games/{game_id}/manifest-keys", Policy::RoleOrServerOwn(DEVELOPER), false),
    ("DELETE", "/api/v1/games/{game_id}/manifest-keys/{key_id}", Policy::RoleOrServerOwn(DEVELOPER), false),
    ("POST", "/api/v1/games/{game_id}/chunks/missing", Policy::ServerOwn, false),
    ("PUT", "/api/v1/games/{game_id}/chunks/{chunk_id}", Policy::ServerOwn, false),
    ("GET", "/api/v1/games/{game_id}/releases", Policy::RoleOrServerOwn(DEVELOPER), false),
    ("POST", "/api/v1/games/{game_id}/releases", Policy::ServerOwn, false),
    ("POST", "/api/v1/games/{game_id}/releases/{version}/promote", Policy::RoleOrServerOwn(DEVELOPER), false),
    ("POST", "/api/v1/games/{game_id}/channels/{channel}/rollback", Policy::RoleOrServerOwn(DEVELOPER), false),
    ("DELETE", "/api/v1/games/{game_id}/channels/{channel}/releases/{version}", Policy::RoleOrServerOwn(DEVELOPER), false),
    ("PUT", "/api/v1/games/{game_id}/entitlements/{user_id}/{entitlement}", Policy::RoleOrServerOwn(DEVELOPER), false),
    ("DELETE", "/api/v1/games/{game_id}/entitlements/{user_id}/{entitlement}", Policy::RoleOrServerOwn(DEVELOPER), false),
    // Matchmaking and regions.
    ("GET", "/api/v1/games/{game_id}/matchmaking/modes", Policy::RoleOrServerOwn(VIEWER), false),
    ("GET", "/api/v1/games/{game_id}/matchmaking/modes/{mode}", Policy::RoleOrServerOwn(VIEWER), false),
    ("PUT", "/api/v1/games/{game_id}/matchmaking/modes/{mode}", Policy::RoleOrServerOwn(DEVELOPER), false),
    ("GET", "/api/v1/matchmaking/tickets", Policy::GamePlayer, false),
    ("POST", "/api/v1/matchmaking/tickets", Policy::GamePlayerOrServer, false),
    ("GET", "/api/v1/matchmaking/tickets/{ticket_id}", Policy::AOrServer, false),
    ("DELETE", "/api/v1/matchmaking/tickets/{ticket_id}", Policy::AOrServer, true),
    ("POST", "/api/v1/matchmaking/tickets/{ticket_id}/accept", Policy::OnlyA, false),
    ("POST", "/api/v1/matchmaking/backfill", Policy::Relay, false),
    ("GET", "/api/v1/regions", Policy::Public, false),
    ("PUT", "/api/v1/regions/{name}", Policy::Relay, false),
    // Edges.
    ("GET", "/api/v1/replication/changes", Policy::Edge, false),
    ("GET", "/api/v1/replication/snapshot", Policy::Edge, false),
    ("GET", "/api/v1/replication/save-blobs/{save_id}", Policy::Edge, false),
    // Operations and the JSON-RPC endpoint (its methods check their own callers).
    ("POST", "/api/v1/rpc", Policy::Public, false),
    ("GET", "/api/v1/openapi.json", Policy::Public, false),
    ("GET", "/healthz", Policy::Public, false),
    ("GET", "/readyz", Policy::Public, false),
    ("GET", "/.well-known/jwks.json", Policy::Public, false),
    ("GET", "/metrics", Policy::NotHere, false),
];

/// The credentials of each caller.
struct World {
    origin: Origin,
    /// Where the calls go: origin, or its embedded edge.
    url: String,
    creds: HashMap<Who, Vec<(String, String)>>,
    params: HashMap<&'static str, String>,
}

async fn post(url: &str, token: &str, path: &str, body: Value) -> Value {
    let (s, v) = raw(Method::POST, &format!("{url}{path}"), Some(token), Some("application/json"), body.to_string()).await;
    assert!((200..300).contains(&s), "{path}: {s} {v}");
    v
}

async fn put(url: &str, token: &str, path: &str, body: Value) -> Value {
    let (s, v) = raw(Method::PUT, &format!("{url}{path}"), Some(token), Some("application/json"), body.to_string()).await;
    assert!((200..300).contains(&s), "{path}: {s} {v}");
    v
}

async fn member(origin: &Origin, game: &GameFixture, role: &str) -> String {
    let c = origin.sdk();
    let email = format!("{role}-{}@studio.test", uuid::Uuid::new_v4().simple());
    c.auth().register(&email, "member-password", &format!("{role}{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).await.unwrap();
    post(&origin.url, &game.developer.token().unwrap(), &format!("/api/v1/orgs/{}/members", game.org_id), json!({"email": email, "role": role}))
        .await;
    c.token().unwrap()
}

async fn server_key(origin: &Origin, game: &GameFixture) -> (String, String) {
    let k =
        post(&origin.url, &game.developer.token().unwrap(), &format!("/api/v1/games/{}/server-keys", game.game_id), json!({"name": "matrix"})).await;
    (k["key"].as_str().expect("server key secret").to_string(), k["key_id"].as_str().expect("key_id").to_string())
}

fn bearer(t: String) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer {t}"))]
}

impl World {
    async fn new() -> Self {
        Self::start(false).await
    }

    /// With `through_edge`, origin runs its embedded edge and every call goes through it.
    async fn start(through_edge: bool) -> Self {
        let limits = [("AETHEX_AUTH__RATE_LIMIT_PER_IP_PER_MINUTE", "100000"), ("AETHEX_AUTH__RATE_LIMIT_PER_ACCOUNT_PER_MINUTE", "100000")];
        let origin = if through_edge { Origin::start_with_edge(&limits) } else { Origin::start(&limits) };
        let url = origin.url.clone();
        let a = origin.game(&format!("mx-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).await;
        let b = origin.game(&format!("mx-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).await;
        let owner = a.developer.token().unwrap();
        let (player_a, _, _) = a.email_player().await;
        let player_b = a.player().await;
        let other = b.player().await;
        let (sk_own, sk_own_id) = server_key(&origin, &a).await;
        let (sk_other, _) = server_key(&origin, &b).await;
        let ta = player_a.token().unwrap();
        let a_id = player_a.user_id().unwrap();
        let g = a.game_id.clone();

        // Things for the routes to find.
        post(&url, &owner, &format!("/api/v1/games/{g}/leaderboards"), json!({"leaderboard_id": "lb", "name": "LB"})).await;
        put(&url, &owner, &format!("/api/v1/games/{g}/achievements/ach"), json!({"name": "Ach"})).await;
        put(&url, &owner, &format!("/api/v1/games/{g}/matchmaking/modes/duel"), json!({"match_size": 2})).await;
        put(
            &url,
            &owner,
            &format!("/api/v1/games/{g}/experiments/exp"),
            json!({"variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}], "conversion_event": "buy"}),
        )
        .await;
        let relay_key = origin.relay_key();
        let (s, v) = raw(
            Method::PUT,
            &format!("{url}/api/v1/regions/mx-region"),
            None,
            Some("application/json"),
            json!({"url": "ws://127.0.0.1:9", "capacity": 10}).to_string(),
        )
        .await;
        assert_eq!(s, 401, "{v}");
        let r = reqwest::Client::new()
            .put(format!("{url}/api/v1/regions/mx-region"))
            .header("x-aethex-relay-key", &relay_key)
            .json(&json!({"url": "ws://127.0.0.1:9", "capacity": 10}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        player_a.saves().save("slot1", json!({"gold": 1})).await.unwrap();
        player_a.social().leaderboards().submit_score("lb", 10).await.unwrap();
        let share = post(&url, &ta, "/api/v1/share", json!({"kind": "score", "leaderboard_id": "lb"})).await;
        let ticket = post(&url, &ta, "/api/v1/matchmaking/tickets", json!({"mode": "duel", "region": "mx-region"})).await;
        let save_id = player_a.saves().list().await.unwrap()[0].metadata.save_id.clone();

        let mut creds = HashMap::new();
        creds.insert(Who::Anon, vec![]);
        creds.insert(Who::EdgeKey, vec![("x-aethex-edge-key".to_string(), origin.edge_key())]);
        creds.insert(Who::RelayKey, vec![("x-aethex-relay-key".to_string(), relay_key)]);
        creds.insert(Who::OtherGamePlayer, bearer(other.token().unwrap()));
        creds.insert(Who::PlayerB, bearer(player_b.token().unwrap()));
        creds.insert(Who::PlayerA, bearer(ta));
        creds.insert(Who::Viewer, bearer(member(&origin, &a, "viewer").await));
        creds.insert(Who::Developer, bearer(member(&origin, &a, "developer").await));
        creds.insert(Who::Admin, bearer(member(&origin, &a, "admin").await));
        creds.insert(Who::Owner, bearer(owner));
        creds.insert(Who::ServerOther, bearer(sk_other));
        creds.insert(Who::ServerOwn, bearer(sk_own));

        let params: HashMap<&'static str, String> = [
            ("game_id", g.clone()),
            ("org_id", a.org_id.clone()),
            ("user_id", a_id),
            ("save_id", "slot1".to_string()),
            ("leaderboard_id", "lb".into()),
            ("achievement_id", "ach".into()),
            ("period", "2026-01-01T00:00:00.000Z".into()),
            ("ticket_id", ticket["ticket_id"].as_str().unwrap().to_string()),
            ("mode", "duel".into()),
            ("experiment_id", "exp".into()),
            ("share_id", share["share_id"].as_str().expect("share id").to_string()),
            ("key_id", sk_own_id),
            ("chunk_id", "0".repeat(64)),
            ("channel", "stable".into()),
            ("version", "1.0.0".into()),
            ("path", "data/file.bin".into()),
            ("entitlement", "dlc-1".into()),
            ("provider", "google".into()),
            ("name", "mx-region".into()),
            ("file", "app.js".into()),
            ("blob_save_id", save_id),
        ]
        .into_iter()
        .collect();
        let url = if through_edge { origin.edge_url.clone().expect("edge url") } else { url };
        World { origin, url, creds, params }
    }

    fn path(&self, template: &str) -> String {
        let mut out = template.to_string();
        for (k, v) in &self.params {
            let v = if template.starts_with("/api/v1/replication/save-blobs") && *k == "save_id" { &self.params["blob_save_id"] } else { v };
            out = out.replace(&format!("{{{k}}}"), v);
        }
        out
    }

    async fn call(&self, method: &str, template: &str, who: Who, body: Option<&Value>) -> u16 {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = reqwest::Client::new().request(method, format!("{}{}", self.url, self.path(template)));
        if template.ends_with("/changes") || template.ends_with("/snapshot") {
            req = req.query(&[("after", "0")]);
        }
        for (k, v) in &self.creds[&who] {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{who:?} {template}: the connection dropped: {e}"));
        resp.status().as_u16()
    }
}

/// A body with every required field of the schema, each one value of its type.
fn sample(schema: &Value, doc: &Value, depth: usize) -> Value {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap_or(&Value::Null),
        None => schema,
    };
    if depth > 6 {
        return Value::Null;
    }
    if let Some(all) = schema.get("allOf").or(schema.get("oneOf")).or(schema.get("anyOf")).and_then(Value::as_array) {
        return all.iter().find(|s| s.get("type") != Some(&json!("null"))).map(|s| sample(s, doc, depth + 1)).unwrap_or(Value::Null);
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return e.clone();
    }
    let ty = match schema.get("type") {
        Some(Value::Array(ts)) => ts.iter().find(|t| *t != "null").cloned().unwrap_or(Value::Null),
        Some(t) => t.clone(),
        None if schema.get("properties").is_some() => json!("object"),
        None => Value::Null,
    };
    match ty.as_str() {
        Some("object") => {
            let mut m = Map::new();
            let required: BTreeSet<&str> = schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, s) in props {
                    if required.contains(k.as_str()) {
                        m.insert(k.clone(), sample(s, doc, depth + 1));
                    }
                }
            }
            Value::Object(m)
        }
        Some("array") => json!([]),
        Some("string") => json!("x"),
        Some("integer") => json!(1),
        Some("number") => json!(1.0),
        Some("boolean") => json!(true),
        _ => json!({}),
    }
}

/// Routes the routers of a crate declare (its `src` folder), as `METHOD path`, with the
/// path constants they use resolved.
fn routes_in_source(crate_dir: &str, constants: &[(&str, &str)]) -> BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(crate_dir).join("src");
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for chunk in text.split(".route(").skip(1) {
            let (path, rest) = if let Some(r) = chunk.strip_prefix('"') {
                let end = r.find('"').unwrap();
                // `{*rest}` (a wildcard) is `{rest}` in the OpenAPI document.
                (r[..end].replace("{*", "{"), &r[end..])
            } else if let Some((_, path)) = {
                // The path argument: everything before the first method router.
                let head_end = ["get(", "post(", "put(", "patch(", "delete("].iter().filter_map(|m| chunk.find(m)).min().unwrap_or(0);
                constants.iter().find(|(name, _)| chunk[..head_end].contains(name))
            } {
                (path.to_string(), chunk)
            } else {
                continue;
            };
            // The handler expression up to the end of this .route(...) call.
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let handlers = &rest[..end];
            for m in ["get", "post", "put", "patch", "delete"] {
                let called = handlers
                    .match_indices(&format!("{m}("))
                    .any(|(i, _)| i == 0 || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric() && handlers.as_bytes()[i - 1] != b'_');
                if called {
                    out.insert(format!("{} {path}", m.to_ascii_uppercase()));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_every_caller_it_should() {
    let world = World::new().await;
    let doc: Value = reqwest::get(format!("{}/api/v1/openapi.json", world.url)).await.unwrap().json().await.unwrap();

    // The matrix covers exactly the routes the server has.
    let listed: BTreeSet<String> = ROUTES.iter().map(|(m, p, _, _)| format!("{m} {p}")).collect();
    assert_eq!(listed.len(), ROUTES.len(), "a route is listed twice");
    let mut served: BTreeSet<String> = routes_in_source("origin", &[("SAVE_BLOB_PATH", "/api/v1/replication/save-blobs/{save_id}")]);
    for (p, item) in doc["paths"].as_object().unwrap() {
        for m in item.as_object().unwrap().keys() {
            served.insert(format!("{} {p}", m.to_ascii_uppercase()));
        }
    }
    let missing: Vec<&String> = served.difference(&listed).collect();
    let extra: Vec<&String> = listed.difference(&served).collect();
    assert!(missing.is_empty(), "routes without a row in the authorization matrix: {missing:?}");
    assert!(extra.is_empty(), "rows for routes the server does not have: {extra:?}");

    let (cells, failures) = run_matrix(&world, &doc, ROUTES, false).await;
    println!("{cells} cells over {} routes", ROUTES.len());
    assert!(failures.is_empty(), "{} cells failed:\n{}", failures.len(), failures.join("\n"));
}

/// Calls every route as every caller; (cells, failures). `through_edge`: the calls go
/// through the edge, which never passes an edge key on (edge routes refuse everyone) and
/// answers `/metrics` itself.
async fn run_matrix(world: &World, doc: &Value, routes: &[(&str, &str, Policy, bool)], through_edge: bool) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut cells = 0;
    for &(method, template, policy, destructive) in routes {
        let policy = match policy {
            Policy::Edge if through_edge => Policy::Nobody,
            Policy::NotHere if through_edge => Policy::Public,
            p => p,
        };
        let body = request_body(doc, method, template);
        // Refusals first (they change nothing), then the allowed callers.
        let mut order: Vec<Who> = EVERYONE.iter().copied().filter(|w| !policy.allows(*w)).collect();
        order.extend(EVERYONE.iter().copied().filter(|w| policy.allows(*w)));
        for who in order {
            let allowed = policy.allows(who);
            if allowed && destructive {
                continue; // checked in a world of its own below
            }
            let expect = match (allowed, policy) {
                (true, Policy::Public) => Outcome::Any,
                (true, _) => Outcome::A,
                (false, _) => policy.refusal(who),
            };
            let status = world.call(method, template, who, body.as_ref()).await;
            cells += 1;
            if !expect.holds(status) || status >= 500 {
                failures.push(format!("{method} {template} as {who:?}: {status}, expected {expect:?}"));
            }
        }
    }
    // Destructive routes: each allowed caller in a fresh world.
    for &(method, template, policy, _) in routes.iter().filter(|r| r.3) {
        for who in EVERYONE.iter().copied().filter(|w| policy.allows(*w)) {
            let fresh = World::start(through_edge).await;
            let status = fresh.call(method, template, who, request_body(doc, method, template).as_ref()).await;
            cells += 1;
            if !Outcome::A.holds(status) || status >= 500 {
                failures.push(format!("{method} {template} as {who:?}: {status}, expected A"));
            }
        }
    }
    (cells, failures)
}

/// A body generated from the route's request schema (or `{}` for a write without one).
fn request_body(doc: &Value, method: &str, template: &str) -> Option<Value> {
    let schema = &doc["paths"][template][method.to_ascii_lowercase()]["requestBody"]["content"]["application/json"]["schema"];
    (!schema.is_null()).then(|| sample(schema, doc, 0)).or_else(|| matches!(method, "POST" | "PUT" | "PATCH").then(|| json!({})))
}

/// The edge's own routes (besides everything it answers or forwards for origin).
const EDGE_ROUTES: &[(&str, &str, Policy, bool)] = &[
    ("GET", "/v3", Policy::Public, false),
    // Hrana takes the edge key (or a Hrana key) as a bearer token: no caller here sends it so.
    ("POST", "/v3/pipeline", Policy::Nobody, false),
    ("GET", "/metrics", Policy::Public, false),
];

/// A relay's routes (its players' WebSocket authenticates in-band).
const RELAY_ROUTES: &[(&str, &str, Policy, bool)] = &[
    ("GET", "/v1/ping", Policy::Public, false),
    ("GET", "/healthz", Policy::Public, false),
    ("GET", "/v1/rooms", Policy::Relay, false),
    ("POST", "/v1/rooms", Policy::Relay, false),
    ("POST", "/v1/presence", Policy::Relay, false),
    ("GET", "/v1/multiplayer", Policy::Public, false),
    ("GET", "/metrics", Policy::NotHere, false),
];

/// The same matrix through the native edge (origin's routes and the edge's own), and a
/// relay's routes, each checked against its routers' source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_and_the_relay_refuse_the_same_callers() {
    let mut world = World::start(true).await;
    let doc: Value = reqwest::get(format!("{}/api/v1/openapi.json", world.origin.url)).await.unwrap().json().await.unwrap();
    let edge_listed: BTreeSet<String> = EDGE_ROUTES.iter().map(|(m, p, _, _)| format!("{m} {p}")).collect();
    assert_eq!(routes_in_source("edge/native", &[]), edge_listed, "the native edge's routes and the matrix differ");
    let (mut cells, mut failures) = run_matrix(&world, &doc, ROUTES, true).await;
    let (c, f) = run_matrix(&world, &doc, EDGE_ROUTES, true).await;
    cells += c;
    failures.extend(f);
    // Hrana with the edge key as its bearer token: allowed.
    let resp = reqwest::Client::new()
        .post(format!("{}/v3/pipeline", world.url))
        .bearer_auth(world.origin.edge_key())
        .json(&json!({"requests": [{"type": "execute", "stmt": {"sql": "SELECT 1"}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "Hrana with the edge key");

    let relay_listed: BTreeSet<String> = RELAY_ROUTES.iter().map(|(m, p, _, _)| format!("{m} {p}")).collect();
    let relay_source = routes_in_source("relay-regions", &[("RELAY_PING_PATH", "/v1/ping"), ("RELAY_WS_PATH", "/v1/multiplayer")]);
    assert_eq!(relay_source, relay_listed, "the relay's routes and the matrix differ");
    let relay = aethex_tests::relays::Relay::start(&world.origin, "mx-relay", &[]);
    world.url = relay.url.clone();
    let (c, f) = run_matrix(&world, &doc, RELAY_ROUTES, false).await;
    cells += c;
    failures.extend(f);
    println!("{cells} cells through the edge and at the relay");
    assert!(failures.is_empty(), "{} cells failed:\n{}", failures.len(), failures.join("\n"));
}
