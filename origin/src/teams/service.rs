//! Team rules: who may manage which organization and game.

use aethex_protocol::teams::{
    AddMemberRequest, CreateGameRequest, CreateOrgRequest, CreateServerKeyRequest, CreatedServerKey, Game, GameList, MemberList, Org, OrgList, Role,
    ServerKeyInfo, ServerKeyList, UpdateGameRequest, UpdateMemberRequest, CLIENT_KEY_PREFIX, SERVER_KEY_PREFIX,
};
use aethex_protocol::validate::{DisplayName, Email, GameSlug, Invalid};

use super::store::{self, GameRow};
use super::TeamError;
use crate::auth::caller::Player;
use crate::crypto::{hash_secret, random_hex, random_token};
use crate::db::is_unique_violation;
use crate::replication::rows;
use crate::state::AppState;

pub type TeamResult<T> = Result<T, TeamError>;

/// The caller's role in `org_id`; non-members get "not found" so they learn nothing.
async fn require_org_role(app: &AppState, player: &Player, org_id: &str, needed: Role) -> TeamResult<Role> {
    let role = store::role_in_org(&*app.db.reader().await, org_id, &player.user_id).await?.ok_or(TeamError::NotFound("organization"))?;
    if !role.allows(needed) {
        return Err(TeamError::Forbidden { needed });
    }
    Ok(role)
}

/// Whether the game is for children (COPPA): analytics and social features are off.
pub async fn is_coppa(app: &AppState, game_id: &str) -> crate::db::DbResult<bool> {
    Ok(store::game_by_id(&*app.db.reader().await, game_id).await?.is_some_and(|g| g.coppa))
}

/// The game and the caller's role in its organization.
/// The game's server key, or a member of its organization with at least `needed`: who may
/// manage a game's matchmaking modes, DLC and logic.
pub(crate) async fn require_game_caller(app: &AppState, caller: &crate::auth::caller::Caller, game_id: &str, needed: Role) -> TeamResult<()> {
    match caller {
        crate::auth::caller::Caller::Server(s) if s.game_id == game_id => Ok(()),
        crate::auth::caller::Caller::Server(_) => Err(TeamError::OtherGameKey),
        crate::auth::caller::Caller::Player(p) => require_game_role(app, p, game_id, needed).await.map(|_| ()),
    }
}

pub(crate) async fn require_game_role(app: &AppState, player: &Player, game_id: &str, needed: Role) -> TeamResult<GameRow> {
    let game = store::game_by_id(&*app.db.reader().await, game_id).await?.ok_or(TeamError::NotFound("game"))?;
    let role = store::role_in_org(&*app.db.reader().await, &game.org_id, &player.user_id).await?.ok_or(TeamError::NotFound("game"))?;
    if !role.allows(needed) {
        return Err(TeamError::Forbidden { needed });
    }
    Ok(game)
}

pub async fn create_org(app: &AppState, player: &Player, req: CreateOrgRequest) -> TeamResult<Org> {
    if player.roles.iter().any(|r| r == "guest") {
        return Err(TeamError::Conflict("guest accounts cannot create organizations; link an email first"));
    }
    let name = DisplayName::parse(&req.name, "name")?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = crate::clock::now();
    let (i, n, u, t) = (id.clone(), name.as_str().to_string(), player.user_id.clone(), now.clone());
    app.db.write(move |c| async move { store::insert_org(&c, &i, &n, &u, &t).await.map_err(TeamError::from) }).await?;
    Ok(Org { org_id: id, name: name.into_inner(), role: Role::Owner, created_at: now })
}

pub async fn list_orgs(app: &AppState, player: &Player) -> TeamResult<OrgList> {
    Ok(OrgList { orgs: store::orgs_of_user(&*app.db.reader().await, &player.user_id).await? })
}

pub async fn get_org(app: &AppState, player: &Player, org_id: &str) -> TeamResult<Org> {
    let role = require_org_role(app, player, org_id, Role::Viewer).await?;
    store::org_by_id(&*app.db.reader().await, org_id, role).await?.ok_or(TeamError::NotFound("organization"))
}

pub async fn list_members(app: &AppState, player: &Player, org_id: &str) -> TeamResult<MemberList> {
    require_org_role(app, player, org_id, Role::Viewer).await?;
    Ok(MemberList { members: store::members(&*app.db.reader().await, org_id).await? })
}

/// Only owners hand out or take away the owner role.
fn check_grant(mine: Role, target_old: Option<Role>, target_new: Option<Role>) -> TeamResult<()> {
    let touches_owner = target_old == Some(Role::Owner) || target_new == Some(Role::Owner);
    if touches_owner && mine != Role::Owner {
        return Err(TeamError::Forbidden { needed: Role::Owner });
    }
    Ok(())
}

pub async fn add_member(app: &AppState, player: &Player, org_id: &str, req: AddMemberRequest) -> TeamResult<MemberList> {
    let mine = require_org_role(app, player, org_id, Role::Admin).await?;
    let user = match (&req.email, &req.user_id) {
        (Some(e), None) => {
            let email = Email::parse(e)?;
            crate::auth::store::user_by_email(&*app.db.reader().await, email.as_str()).await?
        }
        (None, Some(id)) => crate::auth::store::user_by_id(&*app.db.reader().await, id).await?,
        _ => return Err(Invalid::new("email", "give exactly one of email and user_id").into()),
    }
    .ok_or(TeamError::NotFound("user"))?;
    if user.is_guest {
        return Err(TeamError::Conflict("guest accounts cannot join organizations"));
    }
    check_grant(mine, None, Some(req.role))?;
    let (org, uid, role) = (org_id.to_string(), user.id.clone(), req.role);
    app.db
        .write(move |tx| async move {
            if store::role_in_org(&tx, &org, &uid).await?.is_some() {
                return Err(TeamError::Conflict("user is already a member; change the role instead"));
            }
            store::set_member(&tx, &org, &uid, role, &crate::clock::now()).await?;
            Ok(())
        })
        .await?;
    list_members(app, player, org_id).await
}

pub async fn update_member(app: &AppState, player: &Player, org_id: &str, user_id: &str, req: UpdateMemberRequest) -> TeamResult<MemberList> {
    let mine = require_org_role(app, player, org_id, Role::Admin).await?;
    let (org, uid, role) = (org_id.to_string(), user_id.to_string(), req.role);
    app.db
        .write(move |tx| async move {
            let old = store::role_in_org(&tx, &org, &uid).await?.ok_or(TeamError::NotFound("member"))?;
            check_grant(mine, Some(old), Some(role))?;
            if old == Role::Owner && role != Role::Owner && store::count_owners(&tx, &org).await? <= 1 {
                return Err(TeamError::Conflict("an organization needs at least one owner"));
            }
            store::set_member(&tx, &org, &uid, role, &crate::clock::now()).await?;
            Ok(())
        })
        .await?;
    list_members(app, player, org_id).await
}

pub async fn remove_member(app: &AppState, player: &Player, org_id: &str, user_id: &str) -> TeamResult<MemberList> {
    // Anyone may leave; removing others needs admin.
    let needed = if user_id == player.user_id { Role::Viewer } else { Role::Admin };
    let mine = require_org_role(app, player, org_id, needed).await?;
    let (org, uid, leaving) = (org_id.to_string(), user_id.to_string(), user_id == player.user_id);
    app.db
        .write(move |tx| async move {
            let old = store::role_in_org(&tx, &org, &uid).await?.ok_or(TeamError::NotFound("member"))?;
            if !leaving {
                check_grant(mine, Some(old), None)?;
            }
            if old == Role::Owner && store::count_owners(&tx, &org).await? <= 1 {
                return Err(TeamError::Conflict("an organization needs at least one owner"));
            }
            store::remove_member(&tx, &org, &uid).await?;
            Ok(())
        })
        .await?;
    if user_id == player.user_id {
        return Ok(MemberList { members: vec![] });
    }
    list_members(app, player, org_id).await
}

fn new_client_key() -> String {
    format!("{CLIENT_KEY_PREFIX}{}", random_token(18))
}

pub async fn create_game(app: &AppState, player: &Player, org_id: &str, req: CreateGameRequest) -> TeamResult<Game> {
    require_org_role(app, player, org_id, Role::Admin).await?;
    let slug = GameSlug::parse(&req.game_id)?;
    let name = DisplayName::parse(&req.name, "name")?;
    let row = GameRow {
        id: slug.into_inner(),
        org_id: org_id.to_string(),
        name: name.into_inner(),
        tier: req.tier.unwrap_or_default(),
        coppa: req.coppa.unwrap_or(false),
        client_key: new_client_key(),
        created_at: crate::clock::now(),
    };
    let (r, quotas) = (row.clone(), app.config.saves.clone());
    app.db
        .write_replicated(move |c, out| async move {
            store::insert_game(&c, &r).await.map_err(|e| if is_unique_violation(&e) { TeamError::Conflict("game_id is taken") } else { e.into() })?;
            out.upsert(&c, rows::table("games"), rows::game(&quotas, &r.id, r.tier, r.coppa)).await?;
            Ok::<(), TeamError>(())
        })
        .await?;
    Ok(row.into())
}

pub async fn list_games(app: &AppState, player: &Player, org_id: &str) -> TeamResult<GameList> {
    require_org_role(app, player, org_id, Role::Viewer).await?;
    let games = store::games_of_org(&*app.db.reader().await, org_id).await?;
    Ok(GameList { games: games.into_iter().map(Game::from).collect() })
}

pub async fn get_game(app: &AppState, player: &Player, game_id: &str) -> TeamResult<Game> {
    Ok(require_game_role(app, player, game_id, Role::Viewer).await?.into())
}

pub async fn update_game(app: &AppState, player: &Player, game_id: &str, req: UpdateGameRequest) -> TeamResult<Game> {
    require_game_role(app, player, game_id, Role::Admin).await?;
    let name = req.name.as_deref().map(|n| DisplayName::parse(n, "name")).transpose()?;
    let (g, tier, quotas, coppa) = (game_id.to_string(), req.tier, app.config.saves.clone(), req.coppa);
    app.db
        .write_replicated(move |c, out| async move {
            store::update_game(&c, &g, name.as_ref().map(|n| n.as_str()), tier, None).await?;
            if let Some(coppa) = coppa {
                store::set_coppa(&c, &g, coppa).await?;
            }
            if tier.is_some() || coppa.is_some() {
                let now = store::game_by_id(&c, &g).await?.ok_or(TeamError::NotFound("game"))?;
                out.upsert(&c, rows::table("games"), rows::game(&quotas, &g, now.tier, now.coppa)).await?;
            }
            Ok::<(), TeamError>(())
        })
        .await?;
    get_game(app, player, game_id).await
}

/// Issues a new client key; builds carrying the old one stop working.
pub async fn rotate_client_key(app: &AppState, player: &Player, game_id: &str) -> TeamResult<Game> {
    require_game_role(app, player, game_id, Role::Admin).await?;
    let (g, key) = (game_id.to_string(), new_client_key());
    app.db.write(move |c| async move { store::update_game(&c, &g, None, None, Some(&key)).await.map_err(TeamError::from) }).await?;
    app.game_keys.rotated().await;
    get_game(app, player, game_id).await
}

pub async fn create_server_key(app: &AppState, player: &Player, game_id: &str, req: CreateServerKeyRequest) -> TeamResult<CreatedServerKey> {
    require_game_role(app, player, game_id, Role::Developer).await?;
    let name = DisplayName::parse(&req.name, "name")?;
    let key_id = random_hex(8);
    let secret = random_token(32);
    let info = ServerKeyInfo {
        key_id: key_id.clone(),
        game_id: game_id.to_string(),
        name: name.into_inner(),
        created_at: crate::clock::now(),
        last_used_at: None,
    };
    let (i, h, u) = (info.clone(), hash_secret(&secret), player.user_id.clone());
    app.db.write(move |c| async move { store::insert_server_key(&c, &i, &h, &u).await.map_err(TeamError::from) }).await?;
    Ok(CreatedServerKey { info, key: format!("{SERVER_KEY_PREFIX}{key_id}_{secret}") })
}

pub async fn list_server_keys(app: &AppState, player: &Player, game_id: &str) -> TeamResult<ServerKeyList> {
    require_game_role(app, player, game_id, Role::Viewer).await?;
    Ok(ServerKeyList { keys: store::server_keys_of_game(&*app.db.reader().await, game_id).await? })
}

pub async fn revoke_server_key(app: &AppState, player: &Player, game_id: &str, key_id: &str) -> TeamResult<ServerKeyList> {
    require_game_role(app, player, game_id, Role::Developer).await?;
    let (g, k) = (game_id.to_string(), key_id.to_string());
    let n = app.db.write(move |c| async move { store::revoke_server_key(&c, &g, &k).await.map_err(TeamError::from) }).await?;
    if n == 0 {
        return Err(TeamError::NotFound("server key"));
    }
    list_server_keys(app, player, game_id).await
}
