//! The audit log: every successful write (not GET) under `/api/v1/orgs/…` and
//! `/api/v1/games/…`, with who made it (the player the request's token names), the
//! organization or game it touched, the method, the path, the status and the request id.
//! Written after the answer, by [`record`], a middleware; handlers only name the actor
//! (the access-token check does, through [`super::actor::note`]).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use libsql::params;

use crate::state::AppState;

/// What a path is about: (organization id, game id).
fn subject(path: &str) -> Option<(Option<String>, Option<String>)> {
    let mut it = path.trim_start_matches('/').split('/');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some("api"), Some("v1"), Some("orgs"), Some(org)) if !org.is_empty() => Some((Some(org.to_string()), None)),
        (Some("api"), Some("v1"), Some("games"), Some(game)) if !game.is_empty() => Some((None, Some(game.to_string()))),
        _ => None,
    }
}

pub async fn record(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let Some((org, game)) = subject(&path).filter(|_| !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS")) else {
        return next.run(req).await;
    };
    let request_id = req.headers().get(aethex_protocol::headers::REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (resp, actor) = super::actor::track(next.run(req)).await;
    if resp.status().is_success() {
        let (status, m) = (i64::from(resp.status().as_u16()), method.to_string());
        let written = app
            .db
            .write(move |c| async move {
                let name: Option<String> = match &actor {
                    Some(a) => {
                        let r = c.query("SELECT username FROM users WHERE id = ?1", params![a.clone()]).await?;
                        crate::db::first_row(r).await?.map(|r| r.get::<String>(0)).transpose()?
                    }
                    None => None,
                };
                c.execute(
                    "INSERT INTO audit_log (at, actor_id, actor_name, org_id, game_id, method, path, status, request_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![crate::clock::now(), actor, name, org, game, m, path, status, request_id],
                )
                .await?;
                Ok::<(), crate::db::DbError>(())
            })
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "audit log write failed");
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn subjects_of_paths() {
        assert_eq!(super::subject("/api/v1/games/g1/leaderboards"), Some((None, Some("g1".into()))));
        assert_eq!(super::subject("/api/v1/orgs/o1/games"), Some((Some("o1".into()), None)));
        assert_eq!(super::subject("/api/v1/saves/me"), None);
        assert_eq!(super::subject("/api/v1/games/"), None);
    }
}
