//! Accounts, sessions and tokens.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /api/v1/auth/register` (`auth.register`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    pub username: String,
    /// Answer of the CAPTCHA widget, when the server has CAPTCHA verification on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captcha_token: Option<String>,
}

/// `POST /api/v1/auth/login` (`auth.login`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// `POST /api/v1/auth/device` (`auth.device_login`): guest login by a per-install device id.
/// The first call creates a guest account; later calls with the same id log into it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceLoginRequest {
    pub device_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// `POST /api/v1/auth/refresh` (`auth.refresh`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Answer of every login-like call: the seed's `{user_id, token, refresh_token}` plus
/// the token lifetime and the profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub user_id: String,
    pub token: String,
    pub refresh_token: String,
    pub token_type: String,
    /// Seconds until `token` expires.
    pub expires_in: u64,
    pub user: Profile,
}

/// `GET /api/v1/auth/profile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Profile {
    pub user_id: String,
    #[serde(default)]
    pub email: Option<String>,
    pub username: String,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub preferences: Value,
    pub is_verified: bool,
    pub is_guest: bool,
    pub created_at: String,
    #[serde(default)]
    pub linked_providers: Vec<String>,
}

/// `PUT /api/v1/auth/profile` (`auth.update_profile`). Absent fields stay as they are;
/// `avatar_url: null` clears the avatar.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub avatar_url: Option<Option<String>>,
    /// A JSON object (at most 16 KiB serialized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferences: Option<Value>,
}

/// `POST /api/v1/auth/link` (`auth.link_email`): give a guest account an email and password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkEmailRequest {
    pub email: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// `POST /api/v1/auth/verify-email` and `POST /api/v1/auth/password-reset`: a token
/// received by email.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    pub token: String,
    /// The account's password, when the request is not signed in to the account: the
    /// code proves the inbox, the password (or a session) proves the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// `POST /api/v1/auth/password-reset/request`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

/// `POST /api/v1/auth/password-reset`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    pub token: String,
    pub new_password: String,
}

/// `POST /api/v1/auth/password` (signed in): change the password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /api/v1/auth/logout`: ends the session of the presented access token; with a
/// `refresh_token`, ends that token's session instead.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Answer of logout calls.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogoutResponse {
    /// Number of sessions ended.
    pub sessions_revoked: u64,
}

/// Answer of calls that only acknowledge (`accepted: true`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accepted {
    pub accepted: bool,
}

/// One signed-in session (`GET /api/v1/auth/sessions`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub session_id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    #[serde(default)]
    pub game_id: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    pub current: bool,
}

/// `POST /api/v1/auth/oauth/{provider}`: begin an OAuth login (authorization code + PKCE).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OAuthStartRequest {
    /// Where the browser goes after the provider's callback (a loopback URL of the game,
    /// or one of the server's allowed redirect URLs). Without it a "return to the game"
    /// page is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthStartResponse {
    /// Open this in the player's browser.
    pub authorize_url: String,
    pub state: String,
    /// Secret the game keeps and presents to `oauth/complete`; only the starter knows it.
    pub poll_token: String,
    pub expires_in: u64,
    /// Without a `redirect_uri`: the code the game shows its player, who types it on the
    /// page the browser lands on after the provider (`XXXX-XXXX`). The login completes
    /// only once it matches, so a login finished in someone else's browser gives nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_code: Option<String>,
}

/// `POST /api/v1/auth/oauth/complete`: collect the tokens once the browser has finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OAuthCompleteRequest {
    pub state: String,
    pub poll_token: String,
    /// With a `redirect_uri`: the one-time `code` the browser's redirect brought to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Claims of an access token (JWT, EdDSA, `kid` in the header).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessClaims {
    /// Issuer (the origin's configured issuer name).
    pub iss: String,
    /// Audience: `aethex`.
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Game the token was issued for (from the client key), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game: Option<String>,
    /// Account roles (`player`; `guest` for device accounts).
    pub roles: Vec<String>,
    /// Session (refresh-token family) id; revoked sessions are refused at origin.
    pub sid: String,
    pub iat: u64,
    pub exp: u64,
}

/// One public key of `/.well-known/jwks.json` (RFC 8037 OKP key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// Base64url (no padding) public key.
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// Distinguishes an absent field from an explicit `null`.
pub mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}
