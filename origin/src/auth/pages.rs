//! The few HTML pages a player's browser sees during sign-in: the email verification
//! form, the OAuth landing and confirmation pages. No script; every value escaped; a CSP
//! that allows only inline style and forms posting back to origin.

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::html::escape_html;

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

/// A page with a title and an already escaped body.
fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let title = escape_html(title);
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;text-align:center;margin-top:4em\"><h1>{title}</h1>{body_html}</body></html>"
    );
    (status, [(header::CONTENT_SECURITY_POLICY, CSP), (header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// A page with a title and a line of text.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    page(status, title, &format!("<p>{}</p>", escape_html(text)))
}

/// The verification link's page: the account's password confirms the address.
pub fn verify_email_form(status: StatusCode, token: &str, error: Option<&str>) -> Response {
    let error = error.map(|e| format!("<p style=\"color:#b00\">{}</p>", escape_html(e))).unwrap_or_default();
    page(
        status,
        "Confirm your email address",
        &format!(
            "{error}<p>Enter the password of your account to confirm this address.</p>\
             <form method=\"post\" action=\"/api/v1/auth/verify-email/confirm\">\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required autofocus> \
             <button type=\"submit\">Confirm</button></form>",
            token = escape_html(token),
        ),
    )
}

/// The page after the provider, without a redirect: the player types the code their game
/// shows, which binds this browser's sign-in to that game.
pub fn oauth_confirm_form(status: StatusCode, state: &str, confirm_token: &str, error: Option<&str>) -> Response {
    let error = error.map(|e| format!("<p style=\"color:#b00\">{}</p>", escape_html(e))).unwrap_or_default();
    page(
        status,
        "Enter the code from your game",
        &format!(
            "{error}<p>Your game shows a code like <b>BCDF-GHJK</b>. Type it here to finish signing in.<br>\
             If no game of yours is asking you to sign in, close this page.</p>\
             <form method=\"post\" action=\"/api/v1/auth/oauth/confirm\">\
             <input type=\"hidden\" name=\"state\" value=\"{state}\">\
             <input type=\"hidden\" name=\"confirm_token\" value=\"{token}\">\
             <input name=\"user_code\" autocomplete=\"off\" autocapitalize=\"characters\" required autofocus> \
             <button type=\"submit\">Continue</button></form>",
            state = escape_html(state),
            token = escape_html(confirm_token),
        ),
    )
}
