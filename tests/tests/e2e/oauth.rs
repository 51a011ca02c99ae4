//! OAuth 2.0 / OIDC login with PKCE against a real OAuth server (npm oauth2-mock-server).

use aethex_sdk::protocol::auth::OAuthStartResponse;
use aethex_sdk::AeThexCloud;
use aethex_tests::{OAuthServer, Origin};
use reqwest::Method;
use serde_json::Value;

fn origin_with(idp: &OAuthServer, providers: &[&str], extra: &[(&str, &str)]) -> Origin {
    let mut env: Vec<(String, String)> = providers.iter().flat_map(|p| idp.provider_env(p)).collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Origin::start(&refs)
}

/// Plays the browser: visits the provider's authorize URL as `email`, follows the
/// redirect to our callback, and returns (status, Location or body) of the callback. On
/// the polling flow's confirmation page it types the game's user code, as the player
/// does, and returns the answer to that.
async fn browser(start: &OAuthStartResponse, email: &str, verified: bool) -> (u16, String) {
    let (status, body) = provider_step(start, email, verified).await;
    match (confirm_token_in(&body), &start.user_code) {
        (Some(token), Some(code)) => confirm(&start.authorize_url, &start.state, &token, code).await,
        _ => (status, body),
    }
}

/// The hidden token of a confirmation page.
fn confirm_token_in(html: &str) -> Option<String> {
    let rest = html.split("name=\"confirm_token\" value=\"").nth(1)?;
    Some(rest.split('"').next()?.to_string())
}

/// Posts the confirmation page's form to the origin the callback belongs to.
async fn confirm(origin_of: &str, state: &str, token: &str, user_code: &str) -> (u16, String) {
    let callback = url::Url::parse(origin_of).unwrap();
    let redirect = callback.query_pairs().find(|(k, _)| k == "redirect_uri").map(|(_, v)| v.to_string()).unwrap();
    let base = redirect.split("/api/v1/").next().unwrap().to_string();
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/oauth/confirm"))
        .form(&[("state", state), ("confirm_token", token), ("user_code", user_code)])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The provider step alone: (status, Location or body) of our callback.
async fn provider_step(start: &OAuthStartResponse, email: &str, verified: bool) -> (u16, String) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut url = url::Url::parse(&start.authorize_url).unwrap();
    url.query_pairs_mut().append_pair("login_hint", email);
    if !verified {
        url.query_pairs_mut().append_pair("unverified", "1");
    }
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"), "PKCE S256 must be used");
    assert!(q.get("code_challenge").map(|c| c.len() == 43).unwrap_or(false));
    assert_eq!(q.get("state"), Some(&start.state));
    let resp = http.get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let callback = resp.headers()["location"].to_str().unwrap().to_string();
    let resp = http.get(&callback).send().await.unwrap();
    let status = resp.status().as_u16();
    let loc = resp.headers().get("location").map(|l| l.to_str().unwrap().to_string());
    (status, loc.unwrap_or(resp.text().await.unwrap()))
}

async fn oauth_login(c: &AeThexCloud, provider: &str, email: &str, verified: bool) -> aethex_sdk::protocol::auth::LoginResponse {
    let start = c.auth().login_oauth(provider, None).await.unwrap();
    let (status, body) = browser(&start, email, verified).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("signed in"), "{body}");
    c.auth().complete_oauth(&start).await.unwrap()
}

#[tokio::test]
async fn google_creates_accounts_and_links_by_verified_email() {
    let idp = OAuthServer::start();
    // GitHub's verified-emails endpoint is pointed at a URL that lists no emails (the mock
    // has no such endpoint), so GitHub emails count as unverified here.
    let no_emails = format!("{}/userinfo", idp.issuer);
    let origin = origin_with(&idp, &["google", "github", "discord"], &[("AETHEX_AUTH__OAUTH__GITHUB__EMAILS_URL", &no_emails)]);
    let game = origin.game("oauth-game").await;

    // An existing email account is linked when Google vouches for the address.
    let (_, alice_email, alice_pw) = game.email_player().await;
    let alice_id = game.client().auth().login_email(&alice_email, &alice_pw).await.unwrap().user_id;
    let c = game.client();
    let r = oauth_login(&c, "google", &alice_email, true).await;
    assert_eq!(r.user_id, alice_id);
    assert_eq!(r.user.linked_providers, ["google"]);
    assert!(r.user.is_verified, "the provider's verified email verifies the account");
    // The token is for the game of the client key.
    let claims: Value = serde_json::from_slice(&base64_decode(r.token.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(claims["game"], "oauth-game");
    // Signing in again reaches the same account.
    assert_eq!(oauth_login(&game.client(), "google", &alice_email, true).await.user_id, alice_id);

    // A new person gets a new account with the verified email.
    let bob = oauth_login(&game.client(), "google", "bob.builder@example.com", true).await;
    assert_ne!(bob.user_id, alice_id);
    assert_eq!(bob.user.email.as_deref(), Some("bob.builder@example.com"));
    assert_eq!(bob.user.username, "bob.builder");
    assert!(bob.user.is_verified && !bob.user.is_guest);
    // The new account works like any other.
    let bc = game.client();
    let start = bc.auth().login_oauth("google", None).await.unwrap();
    browser(&start, "bob.builder@example.com", true).await;
    bc.auth().complete_oauth(&start).await.unwrap();
    bc.saves().save("slot1", serde_json::json!({"via": "google"})).await.unwrap();

    // An unverified email never links to the account that owns the address.
    let (_, carol_email, carol_pw) = game.email_player().await;
    let carol_id = game.client().auth().login_email(&carol_email, &carol_pw).await.unwrap().user_id;
    let stranger = oauth_login(&game.client(), "google", &carol_email, false).await;
    assert_ne!(stranger.user_id, carol_id);
    assert_eq!(stranger.user.email, None);
    // GitHub without the verified-emails endpoint treats the email as unverified too.
    let gh = oauth_login(&game.client(), "github", &carol_email, true).await;
    assert_ne!(gh.user_id, carol_id);
    // Discord's `verified` flag links.
    let dc = oauth_login(&game.client(), "discord", &carol_email, true).await;
    assert_eq!(dc.user_id, carol_id);
    assert_eq!(dc.user.linked_providers, ["discord"]);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

#[tokio::test]
async fn oauth_state_poll_token_and_redirects_are_checked() {
    let idp = OAuthServer::start();
    let origin = origin_with(&idp, &["google"], &[]);
    let game = origin.game("oauth-game").await;
    let c = game.client();
    let start = c.auth().login_oauth("google", None).await.unwrap();
    // Before the browser finished: pending.
    let err = c.auth().complete_oauth(&start).await.unwrap_err();
    assert_eq!(err.status(), Some(409));
    assert!(err.api().unwrap().reason().unwrap().starts_with("pending"));
    browser(&start, "dana@example.com", true).await;
    // A wrong poll token learns nothing.
    let mut forged = start.clone();
    forged.poll_token = "x".repeat(43);
    assert_eq!(c.auth().complete_oauth(&forged).await.unwrap_err().status(), Some(401));
    c.auth().complete_oauth(&start).await.unwrap();
    // Tokens are handed out once.
    assert_eq!(c.auth().complete_oauth(&start).await.unwrap_err().status(), Some(401));

    // Unknown or unconfigured providers.
    for p in ["myspace", "github"] {
        let err = c.auth().login_oauth(p, None).await.unwrap_err();
        assert_eq!(err.status(), Some(404), "{p}");
    }
    // Only loopback (or configured) redirect URIs.
    for bad in ["https://evil.example/cb", "http://127.0.0.1.evil.example/cb", "javascript:alert(1)"] {
        let err = c.auth().login_oauth("google", Some(bad)).await.unwrap_err();
        assert_eq!((err.status(), err.api().unwrap().field()), (Some(400), Some("redirect_uri")), "{bad}");
    }
    let start = c.auth().login_oauth("google", Some("http://127.0.0.1:7777/done")).await.unwrap();
    assert!(start.user_code.is_none(), "the redirect binds this flow");
    let (status, location) = browser(&start, "dana@example.com", true).await;
    assert_eq!(status, 303);
    assert!(location.starts_with("http://127.0.0.1:7777/done?state=") && location.contains("status=ok&code="), "{location}");
    let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
    c.auth().complete_oauth_with_code(&start, &code).await.unwrap();
    // Replaying the callback (or forging a state) fails.
    let http = reqwest::Client::new();
    let resp = http.get(format!("{}/api/v1/auth/oauth/google/callback?code=abc&state={}", origin.url, start.state)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = http.get(format!("{}/api/v1/auth/oauth/google/callback?code=abc&state=forged", origin.url)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // A provider error reaches the game as an OAuth error.
    let start = c.auth().login_oauth("google", None).await.unwrap();
    let resp = http.get(format!("{}/api/v1/auth/oauth/google/callback?error=access_denied&state={}", origin.url, start.state)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let err = c.auth().complete_oauth(&start).await.unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(401), Some("oauth")));
}

#[tokio::test]
async fn a_signed_in_guest_links_a_provider() {
    let idp = OAuthServer::start();
    let origin = origin_with(&idp, &["google"], &[]);
    let game = origin.game("oauth-game").await;
    let guest = game.player().await;
    let guest_id = guest.user_id().unwrap();
    let start = guest.auth().login_oauth("google", None).await.unwrap();
    browser(&start, "erin@example.com", true).await;
    let r = guest.auth().complete_oauth(&start).await.unwrap();
    assert_eq!(r.user_id, guest_id);
    assert_eq!(r.user.linked_providers, ["google"]);
    // Now Google alone reaches the guest's account (and its saves) from another device.
    guest.saves().save("slot1", serde_json::json!({"gold": 5})).await.unwrap();
    let other_device = game.client();
    let r2 = oauth_login(&other_device, "google", "erin@example.com", true).await;
    assert_eq!(r2.user_id, guest_id);
    assert_eq!(other_device.saves().load("slot1").await.unwrap().data.unwrap()["gold"], 5);
    // The same Google account cannot be linked to a second player.
    let other_guest = game.player().await;
    let start = other_guest.auth().login_oauth("google", None).await.unwrap();
    browser(&start, "erin@example.com", true).await;
    let err = other_guest.auth().complete_oauth(&start).await.unwrap_err();
    assert!(err.api().unwrap().reason().unwrap().contains("already linked"), "{err}");
    let _ = Method::GET;
}

/// Account pre-hijacking (issue 12, hole 2): a guest links an address it does not own;
/// its owner later signs in with a provider that vouches for the address. The owner gets
/// the account, and nothing the attacker set (device id, password, sessions) opens it.
#[tokio::test]
async fn an_oauth_login_by_verified_email_wipes_what_an_unverified_claimant_set() {
    let idp = OAuthServer::start();
    let origin = origin_with(&idp, &["google"], &[]);
    let game = origin.game("oauth-game").await;
    let victim_email = "victim.oauth@example.com";
    let (device, attacker) = game.guest_claiming(victim_email, "attacker-password").await;
    let account = attacker.user_id().unwrap();
    let attacker_token = attacker.token().unwrap();

    let r = oauth_login(&game.client(), "google", victim_email, true).await;
    assert_eq!(r.user_id, account, "the owner of the address gets the account");
    assert!(r.user.is_verified);

    let (s, _) = aethex_tests::raw(Method::GET, &format!("{}/api/v1/auth/profile", origin.url), Some(&attacker_token), None, "").await;
    assert_eq!(s, 401, "the attacker's session must end");
    assert_ne!(game.client().auth().login_device(&device).await.unwrap().user_id, account, "the attacker's device id still opens it");
    assert_eq!(game.client().auth().login_email(victim_email, "attacker-password").await.unwrap_err().status(), Some(401));
    // A verified account keeps its credentials when its owner adds a provider.
    let (_, email, password) = game.email_player().await;
    let owner = game.client();
    let id = owner.auth().login_email(&email, &password).await.unwrap().user_id;
    let code = origin.token_from_outbox(&email, "Confirm your email").unwrap();
    owner.auth().verify_email(&code).await.unwrap();
    assert_eq!(oauth_login(&game.client(), "google", &email, true).await.user_id, id);
    assert_eq!(game.client().auth().login_email(&email, &password).await.unwrap().user_id, id);
}

/// Issue 12, hole 3: whoever called `POST /auth/oauth/{provider}` could finish the flow
/// with `poll_token` after sending the authorize URL to a victim, and received the
/// victim's tokens (the link variant attached the victim's identity to the attacker's
/// account). Completion is now bound to the person who finished the provider step.
#[tokio::test]
async fn a_login_finished_in_someone_elses_browser_gives_its_starter_nothing() {
    let idp = OAuthServer::start();
    let origin = origin_with(&idp, &["google"], &[]);
    let game = origin.game("oauth-game").await;
    let victim_email = "victim.phished@example.com";
    let victim = oauth_login(&game.client(), "google", victim_email, true).await;

    // Polling flow: the attacker starts, the victim's browser finishes the provider step.
    let attacker = game.client();
    let start = attacker.auth().login_oauth("google", None).await.unwrap();
    let user_code = start.user_code.clone().expect("a user code to show");
    assert_eq!(user_code.len(), 9);
    let (status, page) = provider_step(&start, victim_email, true).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("name=\"user_code\"") && !page.contains(&user_code), "the page asks for the code, never shows it");
    let token = confirm_token_in(&page).unwrap();
    // The attacker knows state and user code but not the victim's page token.
    let (s, _) = confirm(&start.authorize_url, &start.state, "forged-token", &user_code).await;
    assert_eq!(s, 401);
    // The victim (who has the page) does not know the code the attacker's game shows.
    for guess in ["BCDF-GHJK", "ZZZZ-ZZZZ"] {
        let (s, body) = confirm(&start.authorize_url, &start.state, &token, guess).await;
        assert_eq!(s, 400, "{body}");
        assert!(body.contains("tries left"), "{body}");
    }
    let err = attacker.auth().complete_oauth(&start).await.unwrap_err();
    assert_eq!(err.status(), Some(409), "still pending: {err}");
    // Guessing stops after five wrong codes, even with the right one after.
    for _ in 0..3 {
        confirm(&start.authorize_url, &start.state, &token, "QQQQ-QQQQ").await;
    }
    let (s, body) = confirm(&start.authorize_url, &start.state, &token, &user_code).await;
    assert_eq!(s, 401, "{body}");
    assert_eq!(attacker.auth().complete_oauth(&start).await.unwrap_err().status(), Some(409));

    // Redirect flow: the code goes to the victim's loopback; without it the attacker gets
    // nothing, and a wrong one fails.
    let start = attacker.auth().login_oauth("google", Some("http://127.0.0.1:7777/cb")).await.unwrap();
    let (status, location) = provider_step(&start, victim_email, true).await;
    assert_eq!(status, 303);
    assert!(location.contains("code="), "{location}");
    let err = attacker.auth().complete_oauth(&start).await.unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(401), Some("oauth")), "{err}");
    let err = attacker.auth().complete_oauth_with_code(&start, "guessed-code").await.unwrap_err();
    assert_eq!(err.status(), Some(401));

    // Link variant: an attacker signed in as a guest starts a link; the victim finishes the
    // provider step; nothing is linked to the attacker's account.
    let guest = game.player().await;
    let start = guest.auth().login_oauth("google", None).await.unwrap();
    provider_step(&start, victim_email, true).await;
    assert_eq!(guest.auth().complete_oauth(&start).await.unwrap_err().status(), Some(409));
    assert!(guest.auth().get_profile().await.unwrap().linked_providers.is_empty(), "the victim's identity must not be linked");
    // The victim's own sign-in still reaches their own account.
    assert_eq!(oauth_login(&game.client(), "google", victim_email, true).await.user_id, victim.user_id);
}
