//! OAuth 2.0 / OpenID Connect login (authorization code + PKCE S256) for Google, GitHub
//! and Discord, through the `oauth2` crate.
//!
//! 1. The game calls `POST /api/v1/auth/oauth/{provider}`: we keep the PKCE verifier and
//!    a nonce server-side under a random `state`, and answer the provider's authorize URL
//!    plus a `poll_token` only the game knows.
//! 2. The player's browser signs in at the provider, which redirects to our
//!    `/api/v1/auth/oauth/{provider}/callback`: we exchange the code (with the verifier)
//!    and read the identity (a verified OIDC ID token for Google, the user API for GitHub
//!    and Discord). The identity waits in the login: nothing is linked or created yet.
//! 3. Completion is bound to the person who finished the provider step, so that a login
//!    started by one person and finished in another's browser (a phished authorize URL)
//!    gives the starter nothing:
//!    - with a `redirect_uri` (a loopback or custom-scheme URL of the game, RFC 8252), the
//!      browser is sent there with a one-time `code` only it receives; the game presents
//!      it with `state` + `poll_token` to `POST /api/v1/auth/oauth/complete`;
//!    - without one, `start` answers a short `user_code` the game shows; the callback page
//!      asks the browser's user to type it (RFC 8628 style), bound to that page by a token
//!      only that browser got; once it matches, the game's `complete` succeeds.
//!
//!    Only then is the account found, linked or created, and the tokens handed out, once.
//!
//! Accounts are linked by email only when the provider says the email is verified.

use oauth2::basic::{BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use aethex_protocol::auth::{LoginResponse, OAuthCompleteRequest, OAuthStartRequest, OAuthStartResponse};
use aethex_protocol::validate::{Email, Username};

use super::sessions::resolve_game;
use super::store::{self, NewUser, OAuthStateRow, UserRow};
use super::AuthError;
use super::AuthResult;
use crate::auth::caller::{ClientInfo, Player};
use crate::config::OAuthProviderConfig;
use crate::crypto::{hash_secret, random_hex, random_token, secrets_equal};
use crate::db::is_unique_violation;
use crate::state::AppState;

const STATE_TTL_SECS: u64 = 600;
/// Wrong user codes a confirmation page takes before the login is dead.
const MAX_CONFIRM_ATTEMPTS: i64 = 5;
/// The user code's alphabet: no vowels (no words), no look-alikes (RFC 8628 6.1).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// A user code as the game shows it: `XXXX-XXXX` (about 34 bits).
fn new_user_code() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut code: String = (0..8).map(|_| char::from(USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())])).collect();
    code.insert(4, '-');
    code
}

/// What a person types, made comparable: letters upper-cased, separators dropped.
fn normalize_user_code(raw: &str) -> String {
    raw.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).take(16).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// OpenID Connect: identity from the signed ID token.
    Oidc,
    GitHub,
    Discord,
}

struct Provider {
    name: &'static str,
    kind: Kind,
    cfg: OAuthProviderConfig,
}

fn or_default(v: &str, d: &str) -> String {
    if v.is_empty() {
        d.to_string()
    } else {
        v.to_string()
    }
}

fn provider(app: &AppState, name: &str) -> AuthResult<Provider> {
    let o = &app.config.auth.oauth;
    let (name, kind, cfg, defaults): (&'static str, Kind, &Option<OAuthProviderConfig>, [&str; 7]) = match name {
        "google" => (
            "google",
            Kind::Oidc,
            &o.google,
            [
                "https://accounts.google.com/o/oauth2/v2/auth",
                "https://oauth2.googleapis.com/token",
                "https://openidconnect.googleapis.com/v1/userinfo",
                "",
                "https://www.googleapis.com/oauth2/v3/certs",
                "https://accounts.google.com",
                "openid email profile",
            ],
        ),
        "github" => (
            "github",
            Kind::GitHub,
            &o.github,
            [
                "https://github.com/login/oauth/authorize",
                "https://github.com/login/oauth/access_token",
                "https://api.github.com/user",
                "https://api.github.com/user/emails",
                "",
                "",
                "read:user user:email",
            ],
        ),
        "discord" => (
            "discord",
            Kind::Discord,
            &o.discord,
            [
                "https://discord.com/oauth2/authorize",
                "https://discord.com/api/oauth2/token",
                "https://discord.com/api/users/@me",
                "",
                "",
                "",
                "identify email",
            ],
        ),
        _ => return Err(AuthError::NotFound("provider")),
    };
    let c = cfg.clone().filter(|c| !c.client_id.is_empty()).ok_or(AuthError::NotFound("provider"))?;
    let cfg = OAuthProviderConfig {
        authorize_url: or_default(&c.authorize_url, defaults[0]),
        token_url: or_default(&c.token_url, defaults[1]),
        userinfo_url: or_default(&c.userinfo_url, defaults[2]),
        emails_url: or_default(&c.emails_url, defaults[3]),
        jwks_url: or_default(&c.jwks_url, defaults[4]),
        issuer: or_default(&c.issuer, defaults[5]),
        scopes: if c.scopes.is_empty() { defaults[6].split(' ').map(str::to_string).collect() } else { c.scopes.clone() },
        client_id: c.client_id,
        client_secret: c.client_secret,
    };
    Ok(Provider { name, kind, cfg })
}

/// The token response with OIDC's `id_token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}
type OidcTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OidcClient<HasAuthUrl, HasTokenUrl> = oauth2::Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    HasAuthUrl,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    HasTokenUrl,
>;

fn callback_url(app: &AppState, p: &Provider) -> String {
    format!("{}/api/v1/auth/oauth/{}/callback", app.public_url, p.name)
}

fn client(app: &AppState, p: &Provider) -> AuthResult<OidcClient<oauth2::EndpointSet, oauth2::EndpointSet>> {
    let bad = |what: &str, e: url::ParseError| AuthError::Internal(format!("oauth {} {what}: {e}", p.name));
    let mut c = OidcClient::new(ClientId::new(p.cfg.client_id.clone()))
        .set_auth_uri(AuthUrl::new(p.cfg.authorize_url.clone()).map_err(|e| bad("authorize_url", e))?)
        .set_token_uri(TokenUrl::new(p.cfg.token_url.clone()).map_err(|e| bad("token_url", e))?)
        .set_redirect_uri(RedirectUrl::new(callback_url(app, p)).map_err(|e| bad("callback", e))?)
        .set_auth_type(AuthType::RequestBody);
    if !p.cfg.client_secret.is_empty() {
        c = c.set_client_secret(ClientSecret::new(p.cfg.client_secret.expose().to_string()));
    }
    Ok(c)
}

/// Where the browser may be sent after the callback: loopback URLs (RFC 8252, desktop
/// games listening on a local port) and the configured list.
fn check_redirect(app: &AppState, uri: &str) -> AuthResult<String> {
    let invalid = || AuthError::from(aethex_protocol::validate::Invalid::new("redirect_uri", "redirect_uri is not allowed"));
    if uri.len() > 500 {
        return Err(invalid());
    }
    if app.config.auth.oauth.allowed_redirects.iter().any(|a| a == uri) {
        return Ok(uri.to_string());
    }
    let url = url::Url::parse(uri).map_err(|_| invalid())?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1") | Some("localhost") | Some("[::1]"));
    if url.scheme() == "http" && loopback && url.username().is_empty() && url.password().is_none() {
        Ok(uri.to_string())
    } else {
        Err(invalid())
    }
}

pub async fn start(
    app: &AppState,
    provider_name: &str,
    player: Option<&Player>,
    req: OAuthStartRequest,
    client_info: &ClientInfo,
) -> AuthResult<OAuthStartResponse> {
    app.limits.check_ip(client_info.ip).await?;
    let p = provider(app, provider_name)?;
    let redirect_uri = req.redirect_uri.as_deref().map(|u| check_redirect(app, u)).transpose()?;
    let game_id = match player {
        Some(pl) => pl.game_id.clone(),
        None => resolve_game(app, client_info).await?,
    };
    let state = random_token(24);
    let poll_token = random_token(32);
    let user_code = redirect_uri.is_none().then(new_user_code);
    let nonce = random_token(16);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let c = client(app, &p)?;
    let st = state.clone();
    let mut auth = c.authorize_url(move || CsrfToken::new(st)).set_pkce_challenge(challenge);
    for s in &p.cfg.scopes {
        auth = auth.add_scope(Scope::new(s.clone()));
    }
    if p.kind == Kind::Oidc {
        auth = auth.add_extra_param("nonce", nonce.clone());
    }
    let (url, _) = auth.url();
    let row = OAuthStateRow {
        state: state.clone(),
        provider: p.name.to_string(),
        poll_token_hash: hash_secret(&poll_token),
        pkce_verifier: verifier.secret().clone(),
        nonce,
        redirect_uri,
        link_user_id: player.map(|pl| pl.user_id.clone()),
        game_id,
        ip_address: client_info.ip_string(),
        user_agent: client_info.user_agent.clone(),
        expires_at: crate::clock::in_secs(STATE_TTL_SECS),
        result_user_id: None,
        result_error: None,
        completed_at: None,
        user_code_hash: user_code.as_deref().map(|c| hash_secret(&normalize_user_code(c))),
        browser_code_hash: None,
        identity: None,
        confirmed_at: None,
        failed_confirms: 0,
    };
    app.db.write(move |c| async move { store::insert_oauth_state(&c, &row).await.map_err(AuthError::from) }).await?;
    Ok(OAuthStartResponse { authorize_url: url.to_string(), state, poll_token, expires_in: STATE_TTL_SECS, user_code })
}

/// What the provider told us about the player.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Identity {
    subject: String,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    avatar_url: Option<String>,
}

/// Outcome of the browser's callback: where to send the browser next.
pub enum CallbackOutcome {
    Redirect(String),
    /// The polling flow's confirmation page: the state and the browser's token for its form.
    Confirm {
        state: String,
        confirm_token: String,
    },
    Page {
        ok: bool,
        message: String,
    },
}

pub async fn callback(app: &AppState, provider_name: &str, params: std::collections::HashMap<String, String>) -> AuthResult<CallbackOutcome> {
    let state = params.get("state").ok_or(AuthError::OAuth("state is missing".into()))?;
    if state.len() > 128 {
        return Err(AuthError::OAuth("state is not valid".into()));
    }
    let row = store::oauth_state(&*app.db.reader().await, state).await?.ok_or(AuthError::OAuth("unknown or expired state".into()))?;
    if row.provider != provider_name || row.expires_at.as_str() < crate::clock::now().as_str() {
        return Err(AuthError::OAuth("unknown or expired state".into()));
    }
    if row.completed_at.is_some() {
        return Err(AuthError::OAuth("this login was already completed".into()));
    }
    let result = finish_login(app, provider_name, &row, &params).await;
    let browser_code = random_token(24);
    let (identity, error) = match &result {
        Ok(id) => (Some(serde_json::to_string(id).map_err(|e| AuthError::Internal(e.to_string()))?), None),
        Err(e) => (None, Some(e.clone())),
    };
    let (st, code_hash) = (row.state.clone(), result.is_ok().then(|| hash_secret(&browser_code)));
    let first = app
        .db
        .write(move |c| async move {
            store::complete_oauth_state(&c, &st, identity.as_deref(), code_hash.as_deref(), error.as_deref()).await.map_err(AuthError::from)
        })
        .await?;
    if !first {
        return Err(AuthError::OAuth("this login was already completed".into()));
    }
    metrics::counter!("aethex_logins_total", "method" => "oauth", "outcome" => if result.is_ok() { "ok" } else { "error" }).increment(1);
    if let Some(r) = &row.redirect_uri {
        let mut url = url::Url::parse(r).map_err(|e| AuthError::Internal(e.to_string()))?;
        url.query_pairs_mut().append_pair("state", &row.state).append_pair("status", if result.is_ok() { "ok" } else { "error" });
        if result.is_ok() {
            url.query_pairs_mut().append_pair("code", &browser_code);
        }
        return Ok(CallbackOutcome::Redirect(url.to_string()));
    }
    Ok(match result {
        Ok(_) => CallbackOutcome::Confirm { state: row.state, confirm_token: browser_code },
        Err(e) => CallbackOutcome::Page { ok: false, message: format!("{e}. Return to the game and try again.") },
    })
}

/// The confirmation page's form (polling flow): the browser's token and the user code the
/// game shows. Answers whether the login is now confirmed; wrong codes count, and a
/// login with too many is dead.
pub async fn confirm(app: &AppState, state: &str, confirm_token: &str, user_code: &str) -> AuthResult<()> {
    let unknown = || AuthError::OAuth("this sign-in page is unknown or expired; start again from the game".into());
    if state.len() > 128 || confirm_token.len() > 128 || user_code.len() > 64 {
        return Err(unknown());
    }
    let row = store::oauth_state(&*app.db.reader().await, state).await?.ok_or_else(unknown)?;
    let (Some(code_hash), Some(browser_hash)) = (&row.user_code_hash, &row.browser_code_hash) else { return Err(unknown()) };
    if row.identity.is_none() || row.expires_at.as_str() < crate::clock::now().as_str() || !secrets_equal(browser_hash, &hash_secret(confirm_token)) {
        return Err(unknown());
    }
    if row.confirmed_at.is_some() {
        return Ok(());
    }
    if row.failed_confirms >= MAX_CONFIRM_ATTEMPTS {
        return Err(AuthError::OAuth("too many wrong codes; start again from the game".into()));
    }
    let st = row.state.clone();
    if !secrets_equal(code_hash, &hash_secret(&normalize_user_code(user_code))) {
        let n = app.db.write(move |c| async move { store::failed_oauth_confirm(&c, &st).await.map_err(AuthError::from) }).await?;
        let left = MAX_CONFIRM_ATTEMPTS.saturating_sub(n).max(0);
        return Err(AuthError::from(aethex_protocol::validate::Invalid::new(
            "user_code",
            format!("that is not the code your game shows ({left} tries left)"),
        )));
    }
    app.db.write(move |c| async move { store::confirm_oauth_state(&c, &st).await.map_err(AuthError::from) }).await?;
    Ok(())
}

/// Exchanges the code and reads the identity. Errors are strings safe to show to the
/// player.
async fn finish_login(
    app: &AppState,
    provider_name: &str,
    row: &OAuthStateRow,
    params: &std::collections::HashMap<String, String>,
) -> Result<Identity, String> {
    if let Some(err) = params.get("error") {
        return Err(format!("the provider refused: {}", err.chars().take(100).collect::<String>()));
    }
    let code = params.get("code").filter(|c| !c.is_empty() && c.len() <= 2048).ok_or("the provider sent no code")?;
    let p = provider(app, provider_name).map_err(|e| e.to_string())?;
    let c = client(app, &p).map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| e.to_string())?;
    let token = c
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(PkceCodeVerifier::new(row.pkce_verifier.clone()))
        .request_async(&http)
        .await
        .map_err(|e| {
            tracing::warn!(provider = provider_name, error = %e, "oauth code exchange failed");
            "the provider did not accept the login code".to_string()
        })?;
    let access = token.access_token().secret().clone();
    match p.kind {
        Kind::Oidc => match &token.extra_fields().id_token {
            Some(id_token) => verify_id_token(app, &p, id_token, &row.nonce).await,
            None => userinfo_identity(app, &p, &access).await,
        },
        Kind::GitHub | Kind::Discord => userinfo_identity(app, &p, &access).await,
    }
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Value>,
}

/// Verifies an OIDC ID token: signature by the provider's JWKS (RS256 or ES256), issuer,
/// audience = our client id, expiry, and the nonce we sent.
async fn verify_id_token(app: &AppState, p: &Provider, id_token: &str, nonce: &str) -> Result<Identity, String> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let header = jsonwebtoken::decode_header(id_token).map_err(|_| "the ID token is malformed")?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err("the ID token uses an algorithm we do not accept".into());
    }
    let jwks: Jwks = app
        .http
        .get(&p.cfg.jwks_url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("could not fetch the provider's keys: {e}"))?
        .json()
        .await
        .map_err(|e| format!("the provider's keys are malformed: {e}"))?;
    let jwk = jwks
        .keys
        .iter()
        .find(|k| header.kid.is_none() || k["kid"].as_str() == header.kid.as_deref())
        .ok_or("the ID token is signed by an unknown key")?;
    let key = match header.alg {
        Algorithm::RS256 => DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap_or(""), jwk["e"].as_str().unwrap_or("")),
        _ => DecodingKey::from_ec_components(jwk["x"].as_str().unwrap_or(""), jwk["y"].as_str().unwrap_or("")),
    }
    .map_err(|_| "the provider's key is malformed")?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&[&p.cfg.client_id]);
    if !p.cfg.issuer.is_empty() {
        v.set_issuer(&[&p.cfg.issuer]);
    }
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = 60;
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &v).map_err(|e| format!("the ID token did not verify: {e}"))?.claims;
    if claims["nonce"].as_str() != Some(nonce) {
        return Err("the ID token's nonce does not match".into());
    }
    Ok(identity_from_oidc(&claims))
}

fn truthy(v: &Value) -> bool {
    v.as_bool().unwrap_or(false) || v.as_str() == Some("true")
}

fn identity_from_oidc(c: &Value) -> Identity {
    Identity {
        subject: c["sub"].as_str().unwrap_or_default().to_string(),
        email: c["email"].as_str().map(str::to_string),
        email_verified: truthy(&c["email_verified"]),
        name: c["name"].as_str().or(c["preferred_username"].as_str()).map(str::to_string),
        avatar_url: c["picture"].as_str().map(str::to_string),
    }
}

async fn get_json(app: &AppState, url: &str, access: &str) -> Result<Value, String> {
    app.http
        .get(url)
        .bearer_auth(access)
        .header("accept", "application/json")
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("the provider's user API failed: {e}"))?
        .json()
        .await
        .map_err(|e| format!("the provider's user API answered malformed JSON: {e}"))
}

async fn userinfo_identity(app: &AppState, p: &Provider, access: &str) -> Result<Identity, String> {
    let u = get_json(app, &p.cfg.userinfo_url, access).await?;
    let id_of = |v: &Value| v.as_str().map(str::to_string).or_else(|| v.as_i64().map(|n| n.to_string()));
    let ident = match p.kind {
        Kind::Oidc => identity_from_oidc(&u),
        Kind::GitHub => {
            // GitHub's profile email is only what the user made public; the verified
            // addresses come from the emails endpoint.
            let mut email = None;
            let mut verified = false;
            if !p.cfg.emails_url.is_empty() {
                let emails = get_json(app, &p.cfg.emails_url, access).await?;
                if let Some(primary) = emails.as_array().into_iter().flatten().find(|e| truthy(&e["primary"]) && truthy(&e["verified"])) {
                    email = primary["email"].as_str().map(str::to_string);
                    verified = true;
                }
            }
            Identity {
                subject: id_of(&u["id"]).unwrap_or_default(),
                email: email.or_else(|| u["email"].as_str().map(str::to_string)),
                email_verified: verified,
                name: u["login"].as_str().map(str::to_string),
                avatar_url: u["avatar_url"].as_str().map(str::to_string),
            }
        }
        Kind::Discord => Identity {
            subject: id_of(&u["id"]).unwrap_or_default(),
            email: u["email"].as_str().map(str::to_string),
            email_verified: truthy(&u["verified"]),
            name: u["username"].as_str().map(str::to_string),
            avatar_url: None,
        },
    };
    if ident.subject.is_empty() {
        return Err("the provider did not say who the user is".into());
    }
    Ok(ident)
}

/// A free username derived from the provider's name for the player.
async fn free_username(conn: &crate::db::Connection, wanted: Option<&str>) -> AuthResult<String> {
    let base: String = wanted
        .unwrap_or("player")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c))
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(Username::MAX_LEN - 5)
        .collect();
    let base = if base.len() < Username::MIN_LEN { "player".to_string() } else { base };
    if !store::username_taken(conn, &base, None).await? {
        return Ok(base);
    }
    for _ in 0..10 {
        let candidate = format!("{base}-{}", random_hex(2));
        if !store::username_taken(conn, &candidate, None).await? {
            return Ok(candidate);
        }
    }
    Ok(format!("player-{}", random_hex(6)))
}

/// Finds, links or creates the account of a confirmed login, in the caller's transaction.
async fn link_or_create(tx: &crate::db::Connection, provider: &str, id: &Identity, link_user: Option<&str>) -> AuthResult<String> {
    let existing = store::user_by_oauth(tx, provider, &id.subject).await?;
    Ok(match (existing, link_user) {
        (Some(u), Some(l)) if u.id != l => {
            return Err(AuthError::OAuth(format!("this {provider} account is already linked to another player")));
        }
        (Some(u), _) => u.id,
        (None, Some(l)) => {
            store::insert_oauth_connection(tx, l, provider, &id.subject).await?;
            l.to_string()
        }
        (None, None) => {
            let email = id.email.as_deref().and_then(|e| Email::parse(e).ok()).filter(|_| id.email_verified);
            let by_email: Option<UserRow> = match &email {
                Some(e) => store::user_by_email(tx, e.as_str()).await?,
                None => None,
            };
            match by_email {
                // Linking by verified email: the provider vouches the address is theirs.
                // An account whose address was never proven may have been made by
                // someone else with that address (pre-hijacking): its password,
                // device id, providers and sessions go before the owner gets it.
                Some(u) => {
                    if !u.is_verified {
                        store::wipe_unproven_credentials(tx, &u.id, false).await?;
                        store::mark_verified(tx, &u.id).await?;
                    }
                    store::insert_oauth_connection(tx, &u.id, provider, &id.subject).await?;
                    u.id
                }
                None => {
                    let new_id = uuid::Uuid::new_v4().to_string();
                    let username = free_username(tx, id.name.as_deref()).await?;
                    let avatar = id.avatar_url.as_deref().and_then(|a| aethex_protocol::validate::parse_http_url(a, "avatar_url").ok());
                    store::insert_user(
                        tx,
                        NewUser {
                            id: &new_id,
                            email: email.as_ref().map(|e| e.as_str()),
                            username: &username,
                            password_hash: None,
                            is_guest: false,
                            is_verified: email.is_some(),
                            device_hash: None,
                            avatar_url: avatar.as_deref(),
                        },
                    )
                    .await
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            AuthError::OAuth("could not create the account; try again".into())
                        } else {
                            e.into()
                        }
                    })?;
                    store::insert_oauth_connection(tx, &new_id, provider, &id.subject).await?;
                    new_id
                }
            }
        }
    })
}

/// Hands out the tokens of a finished OAuth login, once, to the game that started it and
/// can prove the browser's user is its player: the redirect's one-time `code`, or (polling
/// flow) the browser's confirmation of the user code. The account is found, linked or
/// created only now.
pub async fn complete(app: &AppState, req: OAuthCompleteRequest, client_info: &ClientInfo) -> AuthResult<LoginResponse> {
    app.limits.check_ip(client_info.ip).await?;
    let unknown = || AuthError::OAuth("unknown login".into());
    if req.state.len() > 128 || req.poll_token.len() > 128 || req.code.as_ref().is_some_and(|c| c.len() > 128) {
        return Err(unknown());
    }
    let row = store::oauth_state(&*app.db.reader().await, &req.state).await?.ok_or_else(unknown)?;
    if !secrets_equal(&row.poll_token_hash, &hash_secret(&req.poll_token)) {
        return Err(unknown());
    }
    if row.expires_at.as_str() < crate::clock::now().as_str() {
        return Err(AuthError::OAuth("the login expired".into()));
    }
    if row.completed_at.is_none() {
        return Err(AuthError::OAuthPending);
    }
    if let Some(e) = &row.result_error {
        return Err(AuthError::OAuth(e.clone()));
    }
    let identity: Identity = row.identity.as_deref().and_then(|i| serde_json::from_str(i).ok()).ok_or_else(unknown)?;
    if row.redirect_uri.is_some() {
        // The code went to the browser's redirect only: without it, this is not its player.
        let presented = req.code.as_deref().ok_or(AuthError::OAuth("code is required: the one the redirect brought".into()))?;
        if !row.browser_code_hash.as_deref().is_some_and(|h| secrets_equal(h, &hash_secret(presented))) {
            return Err(unknown());
        }
    } else if row.confirmed_at.is_none() {
        return Err(AuthError::OAuthPending);
    }
    let (a, r) = (app.clone(), row.clone());
    let (user, sid, refresh) = app
        .db
        .write(move |tx| async move {
            if !store::delete_oauth_state(&tx, &r.state).await? {
                return Err(AuthError::OAuth("unknown login".into()));
            }
            let user_id = link_or_create(&tx, &r.provider, &identity, r.link_user_id.as_deref()).await?;
            let user = store::user_by_id(&tx, &user_id).await?.ok_or(AuthError::OAuth("the account is gone".into()))?;
            if !user.is_active {
                return Err(AuthError::Disabled);
            }
            store::record_login_success(&tx, &user.id).await?;
            let info = ClientInfo { ip: r.ip_address.as_deref().and_then(|i| i.parse().ok()), user_agent: r.user_agent.clone(), client_key: None };
            let (sid, refresh) = super::sessions::start_session(&a, &tx, &user.id, r.game_id.as_deref(), &info).await?;
            Ok((user, sid, refresh))
        })
        .await?;
    super::sessions::login_response(app, &user, row.game_id.as_deref(), &sid, refresh).await
}
