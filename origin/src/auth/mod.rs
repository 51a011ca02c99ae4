//! Accounts and sessions: email/password, device (guest) login and linking, profile,
//! email verification, password reset, refresh-token rotation, logout, OAuth.

pub mod account;
pub mod caller;
pub mod email;
pub mod oauth;
pub mod pages;
pub mod ratelimit;
pub mod routes;
pub mod sessions;
pub mod store;

use axum::http::StatusCode;

use aethex_protocol::rpc::ErrorCode;

use crate::error::{ApiError, CoreError};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account locked")]
    Locked { retry_after: u64 },
    #[error("too many requests")]
    RateLimited { retry_after: u64 },
    #[error("email already registered")]
    EmailTaken,
    #[error("username taken")]
    UsernameTaken,
    #[error("unknown client key")]
    UnknownClientKey,
    #[error("client key required")]
    ClientKeyRequired,
    #[error("refresh token invalid: {0}")]
    InvalidRefreshToken(&'static str),
    #[error("refresh token reused")]
    RefreshReused,
    #[error("captcha failed: {0}")]
    Captcha(&'static str),
    #[error("email token invalid or expired")]
    EmailTokenInvalid,
    #[error("{0}")]
    StateConflict(&'static str),
    #[error("account disabled")]
    Disabled,
    /// Verifying an address needs the account too (a session of it or its password).
    #[error("sign in or give the password to confirm this address")]
    OwnerProofRequired,
    /// Banned from the game the login is for.
    #[error("banned from this game")]
    Banned,
    #[error("oauth: {0}")]
    OAuth(String),
    #[error("oauth login still pending")]
    OAuthPending,
    #[error("{0}")]
    NotFound(&'static str),
    /// Bad input or the database: [`CoreError`].
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("internal: {0}")]
    Internal(String),
}

crate::error::core_errors!(AuthError);

impl From<ratelimit::RetryAfter> for AuthError {
    fn from(r: ratelimit::RetryAfter) -> Self {
        AuthError::RateLimited { retry_after: r.0 }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        use AuthError::*;
        match e {
            Core(e) => e.into(),
            InvalidCredentials => ApiError::new(ErrorCode::INVALID_REQUEST, "Invalid credentials")
                .field("password", "email or password is incorrect")
                .status(StatusCode::UNAUTHORIZED),
            Locked { retry_after } => ApiError::new(ErrorCode::LOCKED, "Account locked")
                .field("email", "too many failed logins; try again later or reset the password")
                .retry_after(retry_after),
            RateLimited { retry_after } => {
                ApiError::new(ErrorCode::RATE_LIMITED, "Too many requests").reason("rate limit exceeded; slow down").retry_after(retry_after)
            }
            EmailTaken => ApiError::new(ErrorCode::CONFLICT, "Conflict").field("email", "email is already registered"),
            UsernameTaken => ApiError::new(ErrorCode::CONFLICT, "Conflict").field("username", "username is taken"),
            UnknownClientKey => {
                ApiError::new(ErrorCode::UNAUTHORIZED, "Unauthorized").field(aethex_protocol::headers::CLIENT_KEY, "unknown client key")
            }
            ClientKeyRequired => ApiError::invalid_params(aethex_protocol::headers::CLIENT_KEY, "a game client key is required"),
            InvalidRefreshToken(reason) => ApiError::new(ErrorCode::UNAUTHORIZED, "Unauthorized").field("refresh_token", reason),
            RefreshReused => ApiError::new(ErrorCode::UNAUTHORIZED, "Unauthorized")
                .field("refresh_token", "refresh token was already used; its session has been revoked"),
            Captcha(reason) => ApiError::new(ErrorCode::FORBIDDEN, "Forbidden").field("captcha_token", reason),
            EmailTokenInvalid => ApiError::invalid_params("token", "token is invalid, used or expired"),
            StateConflict(reason) => ApiError::new(ErrorCode::CONFLICT, "Conflict").reason(reason),
            Disabled => ApiError::forbidden("account is disabled"),
            OwnerProofRequired => ApiError::new(ErrorCode::UNAUTHORIZED, "Unauthorized")
                .field("password", "sign in to the account, or give its password, to confirm this address"),
            Banned => ApiError::forbidden("this account is banned from this game"),
            OAuth(reason) => ApiError::new(ErrorCode::UNAUTHORIZED, "Unauthorized").field("oauth", reason),
            OAuthPending => {
                ApiError::new(ErrorCode::CONFLICT, "Pending").field("state", "pending: the browser has not finished the provider's login yet")
            }
            NotFound(what) => ApiError::not_found(what, format!("{what} not found")),
            Internal(e) => ApiError::internal(e),
        }
    }
}

/// A player's token that names no game, where the route acts in the token's game.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the access token is not for a game")]
pub struct NoGame;

impl From<NoGame> for ApiError {
    fn from(_: NoGame) -> Self {
        ApiError::invalid_params(aethex_protocol::headers::CLIENT_KEY, "the access token is not for a game; log in with the game's client key")
    }
}

pub type AuthResult<T> = Result<T, AuthError>;

/// A sign-up or profile change that collided with another account's email or username.
pub(crate) fn unique_error(e: libsql::Error) -> AuthError {
    let msg = e.to_string();
    if crate::db::is_unique_violation(&e) && msg.contains("users.email") {
        AuthError::EmailTaken
    } else if crate::db::is_unique_violation(&e) && msg.contains("users.username") {
        AuthError::UsernameTaken
    } else {
        e.into()
    }
}
