//! REST transport for accounts and sessions (`/api/v1/auth/*`). Each handler extracts,
//! calls one service function, and answers JSON; errors render the seed's error object.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use aethex_protocol::auth::{
    Accepted, ChangePasswordRequest, DeviceLoginRequest, LinkEmailRequest, LoginRequest, LoginResponse, LogoutRequest,
    LogoutResponse, PasswordResetConfirm, PasswordResetRequest, Profile, RefreshRequest, RegisterRequest, SessionInfo,
    UpdateProfileRequest, VerifyEmailRequest,
};

use super::service;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiQuery, ClientInfo, OptionalJson, Player};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/device", post(device_login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/logout-all", post(logout_all))
        .route("/api/v1/auth/profile", get(get_profile).put(update_profile))
        .route("/api/v1/auth/link", post(link_email))
        .route("/api/v1/auth/sessions", get(list_sessions))
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/auth/verify-email/request", post(request_email_verification))
        .route("/api/v1/auth/verify-email", post(verify_email).get(verify_email_link))
        .route("/api/v1/auth/password-reset/request", post(request_password_reset))
        .route("/api/v1/auth/password-reset", post(reset_password))
}

async fn register(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<LoginResponse>)> {
    Ok((StatusCode::CREATED, Json(service::register(&app, req, &client).await?)))
}

async fn login(State(app): State<AppState>, client: ClientInfo, ApiJson(req): ApiJson<LoginRequest>) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(service::login(&app, req, &client).await?))
}

async fn device_login(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<DeviceLoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(service::device_login(&app, req, &client).await?))
}

async fn refresh(State(app): State<AppState>, client: ClientInfo, ApiJson(req): ApiJson<RefreshRequest>) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(service::refresh(&app, req, &client).await?))
}

async fn logout(State(app): State<AppState>, player: Player, OptionalJson(req): OptionalJson<LogoutRequest>) -> ApiResult<Json<LogoutResponse>> {
    Ok(Json(service::logout(&app, &player, req).await?))
}

async fn logout_all(State(app): State<AppState>, player: Player) -> ApiResult<Json<LogoutResponse>> {
    Ok(Json(service::logout_all(&app, &player).await?))
}

async fn get_profile(State(app): State<AppState>, player: Player) -> ApiResult<Json<Profile>> {
    Ok(Json(service::get_profile(&app, &player).await?))
}

async fn update_profile(State(app): State<AppState>, player: Player, ApiJson(req): ApiJson<UpdateProfileRequest>) -> ApiResult<Json<Profile>> {
    Ok(Json(service::update_profile(&app, &player, req).await?))
}

async fn link_email(State(app): State<AppState>, player: Player, ApiJson(req): ApiJson<LinkEmailRequest>) -> ApiResult<Json<Profile>> {
    Ok(Json(service::link_email(&app, &player, req).await?))
}

async fn list_sessions(State(app): State<AppState>, player: Player) -> ApiResult<Json<serde_json::Value>> {
    let sessions: Vec<SessionInfo> = service::list_sessions(&app, &player).await?;
    Ok(Json(serde_json::json!({ "sessions": sessions })))
}

async fn change_password(State(app): State<AppState>, player: Player, ApiJson(req): ApiJson<ChangePasswordRequest>) -> ApiResult<Json<Accepted>> {
    Ok(Json(service::change_password(&app, &player, req).await?))
}

async fn request_email_verification(State(app): State<AppState>, player: Player) -> ApiResult<Json<Accepted>> {
    Ok(Json(service::request_email_verification(&app, &player).await?))
}

async fn verify_email(State(app): State<AppState>, ApiJson(req): ApiJson<VerifyEmailRequest>) -> ApiResult<Json<Profile>> {
    Ok(Json(service::verify_email(&app, req).await?))
}

/// The link in the verification email.
async fn verify_email_link(State(app): State<AppState>, ApiQuery(req): ApiQuery<VerifyEmailRequest>) -> ApiResult<Json<Profile>> {
    Ok(Json(service::verify_email(&app, req).await?))
}

async fn request_password_reset(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<PasswordResetRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    Ok((StatusCode::ACCEPTED, Json(service::request_password_reset(&app, req, &client).await?)))
}

async fn reset_password(
    State(app): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<PasswordResetConfirm>,
) -> ApiResult<Json<Accepted>> {
    Ok(Json(service::reset_password(&app, req, &client).await?))
}
