//! REST transport for accounts and sessions (`/api/v1/auth/*`). Each handler extracts,
//! calls one service function, and answers JSON; errors render the seed's error object.

use crate::auth::caller::authenticate_player;
use crate::error::ApiError;
use crate::http::jsonrpc::*;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Json;
use serde_json::Map;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aethex_protocol::auth::{
    Accepted, ChangePasswordRequest, DeviceLoginRequest, LinkEmailRequest, LoginRequest, LoginResponse, LogoutRequest, LogoutResponse,
    OAuthCompleteRequest, OAuthStartRequest, OAuthStartResponse, PasswordResetConfirm, PasswordResetRequest, Profile, RefreshRequest,
    RegisterRequest, SessionInfo, UpdateProfileRequest, VerifyEmailRequest,
};

use aethex_protocol::rpc::ErrorEnvelope;

use super::{account, sessions};
use crate::auth::caller::{optional_player, ClientInfo, Player};
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(device_login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(get_profile, update_profile))
        .routes(routes!(link_email))
        .routes(routes!(list_sessions))
        .routes(routes!(change_password))
        .routes(routes!(request_email_verification))
        .routes(routes!(verify_email, verify_email_link))
        .routes(routes!(verify_email_form))
        .routes(routes!(request_password_reset))
        .routes(routes!(reset_password))
        .routes(routes!(oauth_complete))
        .routes(routes!(oauth_confirm))
        .routes(routes!(oauth_start))
        .route("/api/v1/auth/oauth/{provider}/callback", get(oauth_callback))
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", summary = "Create an email account (and sign in).", request_body = RegisterRequest, params(("x-aethex-client-key" = Option<String>, Header, description = "The game's client key")), responses((status = 201, body = LoginResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn register(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<LoginResponse>)> {
    Ok((StatusCode::CREATED, Json(account::register(&app, req, &client).await?)))
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", summary = "Sign in with email and password.", request_body = LoginRequest, params(("x-aethex-client-key" = Option<String>, Header, description = "The game's client key")), responses((status = 200, body = LoginResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn login(State(app): State<AppState>, client: ClientInfo, ApiJson(req): ApiJson<LoginRequest>) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(sessions::login(&app, req, &client).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/device", tag = "auth", summary = "Guest sign-in by a per-install device id.", request_body = DeviceLoginRequest, params(("x-aethex-client-key" = Option<String>, Header, description = "The game's client key")), responses((status = 200, body = LoginResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn device_login(State(app): State<AppState>, client: ClientInfo, ApiJson(req): ApiJson<DeviceLoginRequest>) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(sessions::device_login(&app, req, &client).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", summary = "Rotate the refresh token for a new access token.", request_body = RefreshRequest, responses((status = 200, body = LoginResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn refresh(State(app): State<AppState>, client: ClientInfo, ApiJson(req): ApiJson<RefreshRequest>) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(sessions::refresh(&app, req, &client).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", summary = "End this session (or the session of the given refresh token).", request_body = LogoutRequest, responses((status = 200, body = LogoutResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn logout(State(app): State<AppState>, player: Player, OptionalJson(req): OptionalJson<LogoutRequest>) -> ApiResult<Json<LogoutResponse>> {
    Ok(Json(sessions::logout(&app, &player, req).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth", summary = "End every session of the account.", responses((status = 200, body = LogoutResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn logout_all(State(app): State<AppState>, player: Player) -> ApiResult<Json<LogoutResponse>> {
    Ok(Json(sessions::logout_all(&app, &player).await?))
}

#[utoipa::path(get, path = "/api/v1/auth/profile", tag = "auth", summary = "The signed-in account.", responses((status = 200, body = Profile), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn get_profile(State(app): State<AppState>, player: Player) -> ApiResult<Json<Profile>> {
    Ok(Json(account::get_profile(&app, &player).await?))
}

#[utoipa::path(put, path = "/api/v1/auth/profile", tag = "auth", summary = "Change username, avatar or preferences.", request_body = UpdateProfileRequest, responses((status = 200, body = Profile), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn update_profile(State(app): State<AppState>, player: Player, ApiJson(req): ApiJson<UpdateProfileRequest>) -> ApiResult<Json<Profile>> {
    Ok(Json(account::update_profile(&app, &player, req).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/link", tag = "auth", summary = "Give a guest account an email and password.", request_body = LinkEmailRequest, responses((status = 200, body = Profile), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn link_email(State(app): State<AppState>, player: Player, ApiJson(req): ApiJson<LinkEmailRequest>) -> ApiResult<Json<Profile>> {
    Ok(Json(account::link_email(&app, &player, req).await?))
}

#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", summary = "Live sessions of the account.", responses((status = 200, description = "{\"sessions\": [SessionInfo]}", body = Object), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn list_sessions(State(app): State<AppState>, player: Player) -> ApiResult<Json<serde_json::Value>> {
    let sessions: Vec<SessionInfo> = sessions::list_sessions(&app, &player).await?;
    Ok(Json(serde_json::json!({ "sessions": sessions })))
}

#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", summary = "Change the password; ends the other sessions.", request_body = ChangePasswordRequest, responses((status = 200, body = Accepted), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn change_password(State(app): State<AppState>, player: Player, ApiJson(req): ApiJson<ChangePasswordRequest>) -> ApiResult<Json<Accepted>> {
    Ok(Json(account::change_password(&app, &player, req).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/verify-email/request", tag = "auth", summary = "Email a verification token.", responses((status = 200, body = Accepted), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security(("bearer" = [])))]
async fn request_email_verification(State(app): State<AppState>, player: Player) -> ApiResult<Json<Accepted>> {
    Ok(Json(account::request_email_verification(&app, &player).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", summary = "Verify the email address with the emailed token, signed in to the account or with its password.", request_body = VerifyEmailRequest, responses((status = 200, body = Profile), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)), security((), ("bearer" = [])))]
async fn verify_email(
    State(app): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    ApiJson(req): ApiJson<VerifyEmailRequest>,
) -> ApiResult<Json<Profile>> {
    let player = optional_player(&app, &headers).await?;
    Ok(Json(account::verify_email(&app, req, player.as_ref(), &client).await?))
}

/// The link in the verification email: a page that asks for the account's password (the
/// code alone proves the inbox, not the account) and posts both to
/// `verify-email/confirm`.
#[utoipa::path(get, path = "/api/v1/auth/verify-email", tag = "auth", summary = "The link in the verification email (`?token=`): a page asking for the account's password.", params(("token" = String, Query, description = "The emailed token")), responses((status = 200, description = "HTML page", content_type = "text/html"), (status = "4XX", body = ErrorEnvelope)))]
async fn verify_email_link(ApiQuery(req): ApiQuery<VerifyEmailLinkQuery>) -> Response {
    super::pages::verify_email_form(StatusCode::OK, &req.token, None)
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyEmailLinkQuery {
    token: String,
}

/// The form of the verification page (`application/x-www-form-urlencoded`: token,
/// password); answers a page.
#[utoipa::path(post, path = "/api/v1/auth/verify-email/confirm", tag = "auth", summary = "The verification page's form: token and password, answered with a page.", responses((status = 200, description = "HTML page", content_type = "text/html"), (status = "4XX", description = "HTML page", content_type = "text/html")))]
async fn verify_email_form(
    State(app): State<AppState>,
    client: ClientInfo,
    form: Result<axum::Form<VerifyEmailRequest>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(req)) = form else {
        return super::pages::message(StatusCode::BAD_REQUEST, "Not confirmed", "The form was malformed.");
    };
    let token = req.token.clone();
    match account::verify_email(&app, req, None, &client).await {
        Ok(_) => super::pages::message(StatusCode::OK, "Address confirmed", "Your email address is confirmed. You can close this window."),
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            let reason = e.explanation();
            super::pages::verify_email_form(e.http_status(), &token, Some(&reason))
        }
    }
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset/request", tag = "auth", summary = "Email a password reset token (answers the same for unknown addresses).", request_body = PasswordResetRequest, responses((status = 202, body = Accepted), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn request_password_reset(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<PasswordResetRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    Ok((StatusCode::ACCEPTED, Json(account::request_password_reset(&app, req, &client).await?)))
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", summary = "Set a new password with the emailed token; ends every session.", request_body = PasswordResetConfirm, responses((status = 200, body = Accepted), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn reset_password(State(app): State<AppState>, client: ClientInfo, ApiJson(req): ApiJson<PasswordResetConfirm>) -> ApiResult<Json<Accepted>> {
    Ok(Json(account::reset_password(&app, req, &client).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/oauth/{provider}", tag = "auth",
    summary = "Begin an OAuth login (google, github, discord): open authorize_url in the browser, then call oauth/complete. With a bearer token, links the provider to the signed-in account.",
    request_body = OAuthStartRequest,
    params(("provider" = String, Path, description = "google, github or discord"), ("x-aethex-client-key" = Option<String>, Header, description = "The game's client key")),
    responses((status = 200, body = OAuthStartResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn oauth_start(
    State(app): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    ApiPath(provider): ApiPath<String>,
    OptionalJson(req): OptionalJson<OAuthStartRequest>,
) -> ApiResult<Json<OAuthStartResponse>> {
    let player = optional_player(&app, &headers).await?;
    Ok(Json(super::oauth::start(&app, &provider, player.as_ref(), req, &client).await?))
}

/// Where the provider sends the browser back.
async fn oauth_callback(
    State(app): State<AppState>,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(params): ApiQuery<std::collections::HashMap<String, String>>,
) -> ApiResult<Response> {
    Ok(match super::oauth::callback(&app, &provider, params).await? {
        super::oauth::CallbackOutcome::Redirect(url) => Redirect::to(&url).into_response(),
        super::oauth::CallbackOutcome::Confirm { state, confirm_token } => {
            super::pages::oauth_confirm_form(StatusCode::OK, &state, &confirm_token, None)
        }
        super::oauth::CallbackOutcome::Page { ok: true, message } => super::pages::message(StatusCode::OK, "Signed in", &message),
        super::oauth::CallbackOutcome::Page { ok: false, message } => super::pages::message(StatusCode::BAD_REQUEST, "Sign-in failed", &message),
    })
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthConfirmForm {
    state: String,
    confirm_token: String,
    user_code: String,
}

/// The confirmation page's form (polling flow): the player types the code their game shows.
#[utoipa::path(post, path = "/api/v1/auth/oauth/confirm", tag = "auth", summary = "The OAuth confirmation page's form: state, the page's token and the user code the game shows; answered with a page.", responses((status = 200, description = "HTML page", content_type = "text/html"), (status = "4XX", description = "HTML page", content_type = "text/html")))]
async fn oauth_confirm(State(app): State<AppState>, form: Result<axum::Form<OAuthConfirmForm>, axum::extract::rejection::FormRejection>) -> Response {
    let Ok(axum::Form(f)) = form else {
        return super::pages::message(StatusCode::BAD_REQUEST, "Sign-in failed", "The form was malformed.");
    };
    match super::oauth::confirm(&app, &f.state, &f.confirm_token, &f.user_code).await {
        Ok(()) => super::pages::message(StatusCode::OK, "Signed in", "You are signed in. You can close this window and return to the game."),
        Err(e @ super::AuthError::Core(crate::error::CoreError::Invalid(_))) => {
            let e = crate::error::ApiError::from(e);
            let reason = e.explanation();
            super::pages::oauth_confirm_form(StatusCode::BAD_REQUEST, &f.state, &f.confirm_token, Some(&reason))
        }
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            let reason = e.explanation();
            super::pages::message(e.http_status(), "Sign-in failed", &reason)
        }
    }
}

#[utoipa::path(post, path = "/api/v1/auth/oauth/complete", tag = "auth",
    summary = "Collect the tokens of a finished OAuth login (409 while the browser has not finished).",
    request_body = OAuthCompleteRequest,
    responses((status = 200, body = LoginResponse), (status = "4XX", body = ErrorEnvelope), (status = "5XX", body = ErrorEnvelope)))]
async fn oauth_complete(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<OAuthCompleteRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(super::oauth::complete(&app, req, &client).await?))
}

/// This domain's JSON-RPC methods at `POST /api/v1/rpc` (the same service calls as the
/// REST routes above).
pub const RPC_METHODS: &[&str] = &[
    "auth.register",
    "auth.login",
    "auth.device_login",
    "auth.refresh",
    "auth.verify_email",
    "auth.request_password_reset",
    "auth.reset_password",
    "auth.oauth_start",
    "auth.oauth_complete",
    "auth.logout",
    "auth.logout_all",
    "auth.get_profile",
    "auth.profile",
    "auth.update_profile",
    "auth.link_email",
    "auth.list_sessions",
    "auth.change_password",
    "auth.request_email_verification",
];

/// Runs one of [`RPC_METHODS`].
pub async fn rpc(app: &AppState, headers: &HeaderMap, client: &ClientInfo, method: &str, mut p: Map<String, Value>) -> Result<Value, ApiError> {
    match method {
        "auth.register" => ok(account::register(app, params(p)?, client).await?),
        "auth.login" => ok(sessions::login(app, params(p)?, client).await?),
        "auth.device_login" => ok(sessions::device_login(app, params(p)?, client).await?),
        "auth.refresh" => ok(sessions::refresh(app, params(p)?, client).await?),
        "auth.verify_email" => {
            let player = crate::auth::caller::optional_player(app, headers).await?;
            ok(account::verify_email(app, params(p)?, player.as_ref(), client).await?)
        }
        "auth.request_password_reset" => ok(account::request_password_reset(app, params(p)?, client).await?),
        "auth.reset_password" => ok(account::reset_password(app, params(p)?, client).await?),
        "auth.oauth_start" => {
            let provider = match p.remove("provider") {
                Some(Value::String(s)) => s,
                _ => return Err(ApiError::invalid_params("provider", "provider must be google, github or discord")),
            };
            let player = crate::auth::caller::optional_player(app, headers).await?;
            ok(crate::auth::oauth::start(app, &provider, player.as_ref(), params(p)?, client).await?)
        }
        "auth.oauth_complete" => ok(crate::auth::oauth::complete(app, params(p)?, client).await?),
        "auth.logout" => {
            let player = authenticate_player(app, headers).await?;
            ok(sessions::logout(app, &player, params(p)?).await?)
        }
        "auth.logout_all" => {
            let player = authenticate_player(app, headers).await?;
            no_params(p)?;
            ok(sessions::logout_all(app, &player).await?)
        }
        "auth.get_profile" | "auth.profile" => {
            let player = authenticate_player(app, headers).await?;
            no_params(p)?;
            ok(account::get_profile(app, &player).await?)
        }
        "auth.update_profile" => {
            let player = authenticate_player(app, headers).await?;
            ok(account::update_profile(app, &player, params(p)?).await?)
        }
        "auth.link_email" => {
            let player = authenticate_player(app, headers).await?;
            ok(account::link_email(app, &player, params(p)?).await?)
        }
        "auth.list_sessions" => {
            let player = authenticate_player(app, headers).await?;
            no_params(p)?;
            ok(serde_json::json!({ "sessions": sessions::list_sessions(app, &player).await? }))
        }
        "auth.change_password" => {
            let player = authenticate_player(app, headers).await?;
            ok(account::change_password(app, &player, params(p)?).await?)
        }
        "auth.request_email_verification" => {
            let player = authenticate_player(app, headers).await?;
            no_params(p)?;
            ok(account::request_email_verification(app, &player).await?)
        }
        other => Err(method_not_found(other)),
    }
}
