//! `AeThexCloud.auth`: the seed's `login_email`, `login_oauth`, `get_current_user`,
//! `logout`, plus registration, guest (device) login and account management.

use reqwest::Method;
use serde_json::{json, Value};

use aethex_protocol::auth::{
    Accepted, DeviceLoginRequest, LinkEmailRequest, LoginRequest, LoginResponse, LogoutRequest, LogoutResponse, OAuthCompleteRequest,
    OAuthStartRequest, OAuthStartResponse, PasswordResetConfirm, PasswordResetRequest, Profile, RefreshRequest, RegisterRequest, SessionInfo,
    UpdateProfileRequest, VerifyEmailRequest,
};

use crate::{AeThexCloud, SdkResult};

pub struct Auth<'a> {
    pub(crate) cloud: &'a AeThexCloud,
}

const NONE: Option<&Value> = None;

impl Auth<'_> {
    fn signed_in(&self, r: LoginResponse) -> LoginResponse {
        self.cloud.set_session(&r);
        r
    }

    pub async fn register(&self, email: &str, password: &str, username: &str) -> SdkResult<LoginResponse> {
        self.register_with(RegisterRequest { email: email.into(), password: password.into(), username: username.into(), captcha_token: None }).await
    }

    pub async fn register_with(&self, req: RegisterRequest) -> SdkResult<LoginResponse> {
        let r = self.cloud.request(Method::POST, "/api/v1/auth/register", Some(&req), false).await?;
        Ok(self.signed_in(r))
    }

    pub async fn login_email(&self, email: &str, password: &str) -> SdkResult<LoginResponse> {
        let req = LoginRequest { email: email.into(), password: password.into() };
        let r = self.cloud.request(Method::POST, "/api/v1/auth/login", Some(&req), false).await?;
        Ok(self.signed_in(r))
    }

    /// Guest login: the same `device_id` always reaches the same account.
    pub async fn login_device(&self, device_id: &str) -> SdkResult<LoginResponse> {
        let req = DeviceLoginRequest { device_id: device_id.into(), username: None };
        let r = self.cloud.request(Method::POST, "/api/v1/auth/device", Some(&req), false).await?;
        Ok(self.signed_in(r))
    }

    /// Starts an OAuth login (`google`, `github`, `discord`): open `authorize_url` in the
    /// player's browser. Without `redirect_uri`, show the player `user_code` (they type it
    /// on the page the browser lands on), then call [`Auth::complete_oauth`] until it
    /// stops answering "pending". With a loopback or custom-scheme `redirect_uri`, the
    /// browser comes back there with `code`: call [`Auth::complete_oauth_with_code`].
    pub async fn login_oauth(&self, provider: &str, redirect_uri: Option<&str>) -> SdkResult<OAuthStartResponse> {
        let req = OAuthStartRequest { redirect_uri: redirect_uri.map(str::to_string) };
        let authed = self.cloud.token().is_some();
        self.cloud.request(Method::POST, &format!("/api/v1/auth/oauth/{provider}"), Some(&req), authed).await
    }

    /// Collects a polling-flow login once the player typed the user code (409 until then).
    pub async fn complete_oauth(&self, start: &OAuthStartResponse) -> SdkResult<LoginResponse> {
        self.finish_oauth(start, None).await
    }

    /// Collects a redirect-flow login with the `code` the redirect brought.
    pub async fn complete_oauth_with_code(&self, start: &OAuthStartResponse, code: &str) -> SdkResult<LoginResponse> {
        self.finish_oauth(start, Some(code)).await
    }

    async fn finish_oauth(&self, start: &OAuthStartResponse, code: Option<&str>) -> SdkResult<LoginResponse> {
        let req = OAuthCompleteRequest { state: start.state.clone(), poll_token: start.poll_token.clone(), code: code.map(str::to_string) };
        let r = self.cloud.request(Method::POST, "/api/v1/auth/oauth/complete", Some(&req), false).await?;
        Ok(self.signed_in(r))
    }

    /// Rotates the refresh token for a new access token.
    pub async fn refresh(&self) -> SdkResult<LoginResponse> {
        let refresh_token = self.cloud.refresh_token().ok_or(crate::SdkError::NotLoggedIn)?;
        let req = RefreshRequest { refresh_token };
        let r = self.cloud.request(Method::POST, "/api/v1/auth/refresh", Some(&req), false).await?;
        Ok(self.signed_in(r))
    }

    /// The profile from the last login or profile call (no request).
    pub fn get_current_user(&self) -> Option<Profile> {
        self.cloud.current_user()
    }

    pub async fn get_profile(&self) -> SdkResult<Profile> {
        let p: Profile = self.cloud.request(Method::GET, "/api/v1/auth/profile", NONE, true).await?;
        self.cloud.set_user(&p);
        Ok(p)
    }

    pub async fn update_profile(&self, req: &UpdateProfileRequest) -> SdkResult<Profile> {
        let p: Profile = self.cloud.request(Method::PUT, "/api/v1/auth/profile", Some(req), true).await?;
        self.cloud.set_user(&p);
        Ok(p)
    }

    /// Gives a guest account an email and password.
    pub async fn link_email(&self, email: &str, password: &str) -> SdkResult<Profile> {
        let req = LinkEmailRequest { email: email.into(), password: password.into(), username: None };
        let p: Profile = self.cloud.request(Method::POST, "/api/v1/auth/link", Some(&req), true).await?;
        self.cloud.set_user(&p);
        Ok(p)
    }

    pub async fn request_email_verification(&self) -> SdkResult<Accepted> {
        self.cloud.request(Method::POST, "/api/v1/auth/verify-email/request", Some(&json!({})), true).await
    }

    /// Confirms the address with the emailed code, from a session signed in to the
    /// account (the code alone proves the inbox, the session proves the account).
    pub async fn verify_email(&self, token: &str) -> SdkResult<Profile> {
        let req = VerifyEmailRequest { token: token.into(), password: None };
        self.cloud.request(Method::POST, "/api/v1/auth/verify-email", Some(&req), self.cloud.token().is_some()).await
    }

    /// Confirms the address with the emailed code and the account's password, without
    /// signing in.
    pub async fn verify_email_with_password(&self, token: &str, password: &str) -> SdkResult<Profile> {
        let req = VerifyEmailRequest { token: token.into(), password: Some(password.into()) };
        self.cloud.request(Method::POST, "/api/v1/auth/verify-email", Some(&req), false).await
    }

    pub async fn request_password_reset(&self, email: &str) -> SdkResult<Accepted> {
        let req = PasswordResetRequest { email: email.into() };
        self.cloud.request(Method::POST, "/api/v1/auth/password-reset/request", Some(&req), false).await
    }

    pub async fn reset_password(&self, token: &str, new_password: &str) -> SdkResult<Accepted> {
        let req = PasswordResetConfirm { token: token.into(), new_password: new_password.into() };
        self.cloud.request(Method::POST, "/api/v1/auth/password-reset", Some(&req), false).await
    }

    pub async fn sessions(&self) -> SdkResult<Vec<SessionInfo>> {
        let v: Value = self.cloud.request(Method::GET, "/api/v1/auth/sessions", NONE, true).await?;
        serde_json::from_value(v["sessions"].clone()).map_err(|e| crate::SdkError::Decode(e.to_string()))
    }

    /// Ends this session (server-side too) and forgets it locally.
    pub async fn logout(&self) -> SdkResult<LogoutResponse> {
        let r = self.cloud.request(Method::POST, "/api/v1/auth/logout", Some(&LogoutRequest::default()), true).await;
        self.cloud.clear_session();
        r
    }

    /// Ends every session of the account, on every device.
    pub async fn logout_all(&self) -> SdkResult<LogoutResponse> {
        let r = self.cloud.request(Method::POST, "/api/v1/auth/logout-all", Some(&json!({})), true).await;
        self.cloud.clear_session();
        r
    }
}
