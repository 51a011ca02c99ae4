//! Export and erasure. The export reads every table that holds a player's rows (secrets
//! such as password hashes and token hashes left out), decrypts their saves, and adds
//! their analytics events. Erasure deletes in one write: the replicated rows are deleted
//! through the outbox too (edges drop them), the account row last (its foreign keys
//! cascade), then the analytics database; a receipt with counts is kept.

use serde_json::{json, Map, Value};

use aethex_protocol::teams::Role;

use super::{store, PrivacyError};
use crate::auth::caller::Player;
use crate::state::AppState;

pub type PrivacyResult<T> = Result<T, PrivacyError>;

/// The account exists and, for a game's export or erasure, is a player of that game:
/// a studio reaches only its own players, and learns nothing of other accounts.
async fn check_subject(app: &AppState, user: &str, game: Option<&str>) -> PrivacyResult<()> {
    let known = match game {
        Some(g) => crate::teams::store::is_player_of_game(&*app.db.reader().await, g, user).await?,
        None => crate::saves::store::user_exists(&*app.db.reader().await, user).await?,
    };
    if known {
        Ok(())
    } else {
        Err(PrivacyError::NoPlayer)
    }
}

/// Every row of the player's (in `game` only, when given), with save contents and
/// analytics events, as one document. A game's export holds only that game's rows and
/// the player's id and username: account-wide fields (email, last login, preferences)
/// belong to the player, not to any one studio.
pub async fn export(app: &AppState, user: &str, game: Option<&str>) -> PrivacyResult<Value> {
    check_subject(app, user, game).await?;
    let conn_guard = app.db.reader().await;
    let conn = &*conn_guard;
    let mut doc = Map::new();
    doc.insert("exported_at".into(), json!(crate::clock::now()));
    doc.insert("user_id".into(), json!(user));
    let account_sql = if game.is_some() { "SELECT id, username FROM users WHERE id = ?1" } else { "SELECT * FROM users WHERE id = ?1" };
    let account = store::rows_json(conn, account_sql, vec![user.into()]).await?;
    doc.insert("account".into(), account.into_iter().next().unwrap_or(Value::Null));
    for (table, col, game_col) in store::PLAYER_TABLES {
        if game.is_some() && game_col.is_none() {
            continue;
        }
        let (sql, args) = match (game, game_col) {
            (Some(g), Some(gc)) => (format!("SELECT * FROM {table} WHERE {col} = ?1 AND {gc} = ?2"), vec![user.into(), g.into()]),
            _ => (format!("SELECT * FROM {table} WHERE {col} = ?1"), vec![user.into()]),
        };
        doc.insert((*table).to_string(), Value::Array(store::rows_json(conn, &sql, args).await?));
    }
    // Save contents, every stored version, decrypted.
    let versions = store::rows_json(
        conn,
        "SELECT game_id, slot_name, version FROM cloud_saves WHERE user_id = ?1 AND (?2 IS NULL OR game_id = ?2) ORDER BY game_id, slot_name, version",
        vec![user.into(), game.map(|g| libsql::Value::from(g.to_string())).unwrap_or(libsql::Value::Null)],
    )
    .await?;
    let mut contents = Vec::new();
    for v in versions {
        let (Some(g), Some(slot), Some(version)) = (v["game_id"].as_str(), v["slot_name"].as_str(), v["version"].as_i64()) else { continue };
        let actor = crate::saves::service::SaveActor { user_id: user.to_string(), game_id: g.to_string(), quota_bytes: 0, by: None };
        let loaded = crate::saves::service::load(app, &actor, slot, Some(version)).await.map_err(|e| PrivacyError::Saves(e.to_string()))?;
        contents.push(json!({"game_id": g, "slot_name": slot, "version": version, "save": loaded}));
    }
    doc.insert("save_contents".into(), Value::Array(contents));
    doc.insert("analytics_events".into(), Value::Array(app.analytics.events_of(user, game).await?));
    doc.insert("crash_reports".into(), Value::Array(app.analytics.crashes_of(user, game).await?));
    Ok(Value::Object(doc))
}

/// The player's own export.
pub async fn export_me(app: &AppState, player: &Player) -> PrivacyResult<Value> {
    export(app, &player.user_id, None).await
}

/// An admin's export of a player's data in their game.
pub async fn export_in_game(app: &AppState, admin: &Player, game_id: &str, user: &str) -> PrivacyResult<Value> {
    crate::teams::service::require_game_role(app, admin, game_id, Role::Admin).await?;
    export(app, user, Some(game_id)).await
}

/// Erases the player's data (in `game` only, when given: the account stays) or the whole
/// account. Returns the receipt.
async fn erase(app: &AppState, user: &str, game: Option<&str>, requested_by: &str) -> PrivacyResult<Value> {
    check_subject(app, user, game).await?;
    if game.is_none() && store::owned_orgs(&*app.db.reader().await, user).await? > 0 {
        return Err(PrivacyError::Conflict("the account owns organizations: transfer or delete them first".into()));
    }
    let (u, g) = (user.to_string(), game.map(str::to_string));
    let counts =
        app.db.write_replicated(move |c, out| async move { Ok::<_, PrivacyError>(store::erase_rows(&c, &out, &u, g.as_deref()).await?) }).await?;
    let events = app.analytics.erase(user, game).await?;
    let mut counts = counts;
    counts.insert("analytics_events".into(), json!(events));
    let receipt_id = uuid::Uuid::new_v4().to_string();
    let receipt = json!({
        "receipt_id": receipt_id,
        "subject": blake3::hash(user.as_bytes()).to_hex().to_string(),
        "scope": game.map(|g| format!("game:{g}")).unwrap_or_else(|| "account".into()),
        "requested_by": requested_by,
        "deleted_at": crate::clock::now(),
        "deleted": Value::Object(counts),
    });
    let r = receipt.clone();
    app.db.write(move |c| async move { store::insert_receipt(&c, &r).await.map_err(PrivacyError::from) }).await?;
    tracing::info!(receipt = %receipt_id, scope = %receipt["scope"], "player data erased");
    Ok(receipt)
}

/// The player deletes their own account; `confirm` must be their username.
pub async fn delete_me(app: &AppState, player: &Player, confirm: &str) -> PrivacyResult<Value> {
    let name = store::username(&*app.db.reader().await, &player.user_id).await?.ok_or(PrivacyError::NoPlayer)?;
    if !name.eq_ignore_ascii_case(confirm) {
        return Err(aethex_protocol::validate::Invalid::new("confirm", "confirm must be your username").into());
    }
    erase(app, &player.user_id, None, "self").await
}

/// An admin erases a player's data in their game (the account, shared by other games,
/// stays).
pub async fn delete_in_game(app: &AppState, admin: &Player, game_id: &str, user: &str) -> PrivacyResult<Value> {
    crate::teams::service::require_game_role(app, admin, game_id, Role::Admin).await?;
    erase(app, user, Some(game_id), &format!("admin:{}", admin.user_id)).await
}
