//! Friendship rules. Each operation is one write on origin's single writer, so both rows
//! of a pair always change together.

use aethex_protocol::social::{Friend, FriendList, FriendRequest, FriendState, MAX_FRIENDS};
use aethex_protocol::validate::Invalid;

use super::store;
use super::SocialError;
use crate::auth::caller::Player;
use crate::state::AppState;

pub type SocialResult<T> = Result<T, SocialError>;

/// Players signed in to a game for children (COPPA) have no social features.
pub async fn require_social(app: &AppState, player: &Player) -> SocialResult<()> {
    if let Some(g) = &player.game_id {
        if crate::teams::service::is_coppa(app, g).await? {
            return Err(SocialError::Coppa);
        }
    }
    Ok(())
}

async fn friend_view(conn: &crate::db::Connection, me: &str, other: &str) -> SocialResult<Friend> {
    store::list(conn, me).await?.into_iter().find(|f| f.user_id == other).ok_or(SocialError::NotFound("no friendship with this player"))
}

/// Sends a request; when the other player had asked already, you are friends at once.
pub async fn request(app: &AppState, player: &Player, req: FriendRequest) -> SocialResult<Friend> {
    require_social(app, player).await?;
    if req.user_id.is_some() == req.username.is_some() {
        return Err(Invalid::new("user_id", "name the player by user_id or by username (one of them)").into());
    }
    let me = player.user_id.clone();
    app.db
        .write(move |c| async move {
            let other = store::find_user(&c, req.user_id.as_deref(), req.username.as_deref()).await?.ok_or(SocialError::NoPlayer)?;
            if other == me {
                return Err(Invalid::new("user_id", "you cannot befriend yourself").into());
            }
            if store::edge(&c, &other, &me).await? == Some(FriendState::Blocked) {
                return Err(SocialError::NoPlayer);
            }
            let now = crate::clock::now();
            match store::edge(&c, &me, &other).await? {
                Some(FriendState::Blocked) => return Err(SocialError::Conflict("you blocked this player; unblock first".into())),
                Some(FriendState::Friends) | Some(FriendState::Outgoing) => {}
                Some(FriendState::Incoming) => {
                    store::set(&c, &me, &other, FriendState::Friends, &now).await?;
                    store::set(&c, &other, &me, FriendState::Friends, &now).await?;
                }
                None => {
                    if store::count_open(&c, &me).await? >= MAX_FRIENDS {
                        return Err(SocialError::Conflict(format!("at most {MAX_FRIENDS} friends and outgoing requests")));
                    }
                    store::set(&c, &me, &other, FriendState::Outgoing, &now).await?;
                    store::set(&c, &other, &me, FriendState::Incoming, &now).await?;
                }
            }
            friend_view(&c, &me, &other).await
        })
        .await
}

fn parse_user(id: &str) -> SocialResult<String> {
    uuid::Uuid::parse_str(id).map(|u| u.to_string()).map_err(|_| SocialError::from(Invalid::new("user_id", "user_id is not a player id")))
}

/// Runs `job(conn, me, other)` as one write between the signed-in player and `other`.
async fn on_pair<T, F, Fut>(app: &AppState, player: &Player, other: &str, job: F) -> SocialResult<T>
where
    F: FnOnce(crate::db::Connection, String, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = SocialResult<T>> + Send + 'static,
    T: Send + 'static,
{
    require_social(app, player).await?;
    let (me, other) = (player.user_id.clone(), parse_user(other)?);
    app.db.write(move |c| job(c, me, other)).await
}

/// My edge towards `other` must be `state`; `404` with `why` otherwise.
async fn expect_edge(c: &crate::db::Connection, me: &str, other: &str, state: FriendState, why: &'static str) -> SocialResult<()> {
    if store::edge(c, me, other).await? == Some(state) {
        Ok(())
    } else {
        Err(SocialError::NotFound(why))
    }
}

/// Accepts an incoming request.
pub async fn accept(app: &AppState, player: &Player, other: &str) -> SocialResult<Friend> {
    on_pair(app, player, other, |c, me, other| async move {
        expect_edge(&c, &me, &other, FriendState::Incoming, "no request from this player").await?;
        if store::count_open(&c, &me).await? >= MAX_FRIENDS {
            return Err(SocialError::Conflict(format!("at most {MAX_FRIENDS} friends and outgoing requests")));
        }
        let now = crate::clock::now();
        store::set(&c, &me, &other, FriendState::Friends, &now).await?;
        store::set(&c, &other, &me, FriendState::Friends, &now).await?;
        friend_view(&c, &me, &other).await
    })
    .await
}

/// Declines an incoming request (the asker is not told; their request just disappears).
pub async fn decline(app: &AppState, player: &Player, other: &str) -> SocialResult<()> {
    on_pair(app, player, other, |c, me, other| async move {
        expect_edge(&c, &me, &other, FriendState::Incoming, "no request from this player").await?;
        store::remove(&c, &me, &other).await?;
        store::remove(&c, &other, &me).await?;
        Ok(())
    })
    .await
}

/// Ends a friendship or withdraws an outgoing request.
pub async fn remove(app: &AppState, player: &Player, other: &str) -> SocialResult<()> {
    on_pair(app, player, other, |c, me, other| async move {
        match store::edge(&c, &me, &other).await? {
            Some(FriendState::Friends) | Some(FriendState::Outgoing) => {
                store::remove(&c, &me, &other).await?;
                if store::edge(&c, &other, &me).await? != Some(FriendState::Blocked) {
                    store::remove(&c, &other, &me).await?;
                }
                Ok(())
            }
            _ => Err(SocialError::NotFound("no friendship or request with this player")),
        }
    })
    .await
}

/// Blocks a player: any friendship or request between you ends, and they cannot ask again.
pub async fn block(app: &AppState, player: &Player, other: &str) -> SocialResult<Friend> {
    on_pair(app, player, other, |c, me, other| async move {
        if me == other {
            return Err(Invalid::new("user_id", "you cannot block yourself").into());
        }
        if store::find_user(&c, Some(&other), None).await?.is_none() {
            return Err(SocialError::NoPlayer);
        }
        if store::edge(&c, &other, &me).await? != Some(FriendState::Blocked) {
            store::remove(&c, &other, &me).await?;
        }
        store::set(&c, &me, &other, FriendState::Blocked, &crate::clock::now()).await?;
        friend_view(&c, &me, &other).await
    })
    .await
}

pub async fn unblock(app: &AppState, player: &Player, other: &str) -> SocialResult<()> {
    on_pair(app, player, other, |c, me, other| async move {
        expect_edge(&c, &me, &other, FriendState::Blocked, "this player is not blocked").await?;
        store::remove(&c, &me, &other).await?;
        Ok(())
    })
    .await
}

pub async fn list(app: &AppState, player: &Player) -> SocialResult<FriendList> {
    require_social(app, player).await?;
    let mut out = FriendList::default();
    for f in store::list(&*app.db.reader().await, &player.user_id).await? {
        match f.state {
            FriendState::Friends => out.friends.push(f),
            FriendState::Incoming => out.incoming.push(f),
            FriendState::Outgoing => out.outgoing.push(f),
            FriendState::Blocked => out.blocked.push(f),
        }
    }
    super::presence::fill(app, player.game_id.as_deref(), &mut out.friends).await;
    Ok(out)
}
