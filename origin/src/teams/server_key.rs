//! Checking a game's server key (`aethex_sk_<key id>_<secret>`): below the request
//! identity that uses it ([`crate::auth::caller::authenticate`]).

use aethex_protocol::teams::SERVER_KEY_PREFIX;

use super::store;
use super::TeamError;
use crate::crypto::{hash_secret, secrets_equal};
use crate::db::Db;

/// A valid server key: its id and its game.
pub struct VerifiedKey {
    pub key_id: String,
    pub game_id: String,
}

/// Checks a presented server key, and notes when it was last used.
pub async fn verify(db: &Db, presented: &str) -> Result<VerifiedKey, TeamError> {
    let rest = presented.strip_prefix(SERVER_KEY_PREFIX).ok_or(TeamError::BadServerKey)?;
    let (key_id, secret) = rest.split_once('_').ok_or(TeamError::BadServerKey)?;
    if key_id.len() != 16 || secret.is_empty() || secret.len() > 128 {
        return Err(TeamError::BadServerKey);
    }
    let (game_id, stored) = store::server_key_secret(&*db.reader().await, key_id).await?.ok_or(TeamError::BadServerKey)?;
    if !secrets_equal(&stored, &hash_secret(secret)) {
        return Err(TeamError::BadServerKey);
    }
    if store::server_key_use_stale(&*db.reader().await, key_id).await? {
        let k = key_id.to_string();
        db.write(move |c| async move { store::touch_server_key(&c, &k).await.map_err(TeamError::from) }).await?;
    }
    Ok(VerifiedKey { key_id: key_id.to_string(), game_id })
}
