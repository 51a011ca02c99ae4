//! Forged tokens, cross-user access and malformed input on every route.

use aethex_tests::{assert_error_shape, raw, Origin};
use reqwest::Method;
use serde_json::{json, Value};

/// Every authenticated route, with a body that would be valid.
fn authed_routes(user: &str, save_id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/auth/profile".into(), None),
        (Method::PUT, "/api/v1/auth/profile".into(), Some(json!({"username": "renamed"}))),
        (Method::POST, "/api/v1/auth/logout".into(), Some(json!({}))),
        (Method::POST, "/api/v1/auth/logout-all".into(), Some(json!({}))),
        (Method::POST, "/api/v1/auth/link".into(), Some(json!({"email": "l@example.com", "password": "long-enough-pw"}))),
        (Method::GET, "/api/v1/auth/sessions".into(), None),
        (Method::POST, "/api/v1/auth/password".into(), Some(json!({"current_password": "x", "new_password": "long-enough-pw"}))),
        (Method::POST, "/api/v1/auth/verify-email/request".into(), Some(json!({}))),
        (Method::GET, format!("/api/v1/saves/{user}"), None),
        (Method::POST, format!("/api/v1/saves/{user}"), Some(json!({"slot_name": "slot1", "data": {"x": 1}}))),
        (Method::GET, format!("/api/v1/saves/{user}/history"), None),
        (Method::GET, format!("/api/v1/saves/{user}/slot1"), None),
        (Method::GET, format!("/api/v1/saves/{user}/{save_id}"), None),
        (Method::POST, format!("/api/v1/saves/{user}/slot1/restore"), Some(json!({"version": 1}))),
        (Method::DELETE, format!("/api/v1/saves/{user}/slot1"), None),
        (Method::GET, "/api/v1/orgs".into(), None),
        (Method::POST, "/api/v1/orgs".into(), Some(json!({"name": "x"}))),
        (Method::GET, "/api/v1/games/sec-game".into(), None),
        (Method::GET, "/api/v1/games/sec-game/server-keys".into(), None),
    ]
}

async fn send(url: &str, method: &Method, path: &str, token: Option<&str>, body: &Option<Value>) -> (u16, Value) {
    let body_text = body.as_ref().map(|b| b.to_string()).unwrap_or_default();
    let ct = body.as_ref().map(|_| "application/json");
    raw(method.clone(), &format!("{url}{path}"), token, ct, body_text).await
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused_everywhere() {
    let origin = Origin::start(&[]);
    let game = origin.game("sec-game").await;
    let c = game.player().await;
    let s = c.saves().save("slot1", json!({"x": 1})).await.unwrap();
    let token = c.token().unwrap();
    let uid = c.user_id().unwrap();
    let aethex_tests::tokens::Forged { fresh, forgeries } = aethex_tests::tokens::forge(&origin, &token).await;

    let (status, _) = send(&origin.url, &Method::GET, "/api/v1/auth/profile", Some(&fresh), &None).await;
    assert_eq!(status, 200, "control token must work");

    let routes = authed_routes(&uid, &s.metadata.save_id);
    let users_before = count(&origin, "SELECT COUNT(*) FROM users").await;
    for (what, bad) in &forgeries {
        for (m, path, body) in &routes {
            let (status, resp) = send(&origin.url, m, path, Some(bad), body).await;
            assert_eq!(status, 401, "{what} on {m} {path}: {resp}");
            let err = assert_error_shape(&resp);
            assert_eq!(err["code"], -32001);
            if *what == "expired" {
                assert_eq!(err["data"]["reason"], "token expired");
            }
        }
    }
    // No token at all, and a malformed Authorization header.
    for (m, path, body) in &routes {
        let (status, resp) = send(&origin.url, m, path, None, body).await;
        assert_eq!(status, 401, "no token on {m} {path}");
        assert_error_shape(&resp);
    }
    let resp = reqwest::Client::new().get(format!("{}/api/v1/auth/profile", origin.url)).header("authorization", "Basic abc").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Nothing was written by any refused request.
    assert_eq!(count(&origin, "SELECT COUNT(*) FROM users").await, users_before);
    assert_eq!(c.saves().load("slot1").await.unwrap().metadata.version, 1);
}

async fn count(origin: &Origin, sql: &str) -> i64 {
    let db = libsql::Builder::new_local(origin.db_path()).build().await.unwrap();
    let conn = db.connect().unwrap();
    let mut rows = conn.query(sql, ()).await.unwrap();
    rows.next().await.unwrap().unwrap().get(0).unwrap()
}

#[tokio::test]
async fn players_never_reach_each_others_saves_or_sessions() {
    let origin = Origin::start(&[]);
    let game = origin.game("sec-game").await;
    let a = game.player().await;
    let b = game.player().await;
    let b_save = b.saves().save("slot1", json!({"b": "secret"})).await.unwrap();
    let a_token = a.token().unwrap();
    let b_uid = b.user_id().unwrap();
    // Every saves route with B's id in the path, as A: refused, B's data untouched.
    for (m, path, body) in authed_routes(&b_uid, &b_save.metadata.save_id).into_iter().filter(|(_, p, _)| p.starts_with("/api/v1/saves/")) {
        let (status, resp) = send(&origin.url, &m, &path, Some(&a_token), &body).await;
        assert_eq!(status, 403, "A on {m} {path}: {resp}");
        assert_error_shape(&resp);
    }
    // B's save id through A's own path: not found (A has no such save).
    let (status, _) = send(&origin.url, &Method::GET, &format!("/api/v1/saves/me/{}", b_save.metadata.save_id), Some(&a_token), &None).await;
    assert_eq!(status, 404);
    // A's list, history and slot reads show nothing of B.
    assert!(a.saves().list().await.unwrap().is_empty());
    assert!(a.saves().history("slot1").await.unwrap().versions.is_empty());
    assert_eq!(a.saves().load("slot1").await.unwrap_err().status(), Some(404));
    a.saves().save("slot1", json!({"a": 1})).await.unwrap();
    assert_eq!(b.saves().load("slot1").await.unwrap().data.unwrap(), json!({"b": "secret"}));
    assert_eq!(b.saves().history("slot1").await.unwrap().versions.len(), 1);
    // Sessions: A sees only A's, and cannot end B's with B's refresh token.
    let a_sessions = a.auth().sessions().await.unwrap();
    assert_eq!(a_sessions.len(), 1);
    let (status, _) =
        send(&origin.url, &Method::POST, "/api/v1/auth/logout", Some(&a_token), &Some(json!({"refresh_token": b.refresh_token().unwrap()}))).await;
    assert_eq!(status, 401);
    assert!(b.auth().get_profile().await.is_ok(), "B's session must survive A's attempt");
    // The same player id in another game sees nothing of this game.
    let other = origin.game("sec-other").await;
    let b_elsewhere = other.client();
    let (email_b, pw_b) = ("b-linked@example.com", "long-enough-pw");
    b.auth().link_email(email_b, pw_b).await.unwrap();
    b_elsewhere.auth().login_email(email_b, pw_b).await.unwrap();
    assert!(b_elsewhere.saves().list().await.unwrap().is_empty());
    assert_eq!(b_elsewhere.saves().load(&b_save.metadata.save_id).await.unwrap_err().status(), Some(404));
}

#[tokio::test]
async fn malformed_wrong_typed_and_oversize_bodies_are_rejected_without_writes() {
    let origin = Origin::start(&[("AETHEX_SAVES__MAX_SAVE_BYTES", "65536")]);
    let game = origin.game("sec-game").await;
    let c = game.player().await;
    let token = c.token().unwrap();
    let uid = c.user_id().unwrap();
    let users_before = count(&origin, "SELECT COUNT(*) FROM users").await;
    let saves_before = count(&origin, "SELECT COUNT(*) FROM cloud_saves").await;
    let body_routes: Vec<(Method, String, bool)> = vec![
        (Method::POST, "/api/v1/auth/register".into(), false),
        (Method::POST, "/api/v1/auth/login".into(), false),
        (Method::POST, "/api/v1/auth/device".into(), false),
        (Method::POST, "/api/v1/auth/refresh".into(), false),
        (Method::POST, "/api/v1/auth/verify-email".into(), false),
        (Method::POST, "/api/v1/auth/password-reset/request".into(), false),
        (Method::POST, "/api/v1/auth/password-reset".into(), false),
        (Method::PUT, "/api/v1/auth/profile".into(), true),
        (Method::POST, "/api/v1/auth/link".into(), true),
        (Method::POST, "/api/v1/auth/password".into(), true),
        (Method::POST, format!("/api/v1/saves/{uid}"), true),
        (Method::POST, format!("/api/v1/saves/{uid}/slot1/restore"), true),
        (Method::POST, "/api/v1/orgs".into(), true),
        (Method::POST, "/api/v1/rpc".into(), true),
    ];
    for (m, path, authed) in &body_routes {
        let t = authed.then_some(token.as_str());
        let url = format!("{}{}", origin.url, path);
        // Malformed JSON.
        let (status, body) = raw(m.clone(), &url, t, Some("application/json"), "{]").await;
        assert_eq!(status, 400, "malformed on {path}: {body}");
        assert_eq!(assert_error_shape(&body)["code"], -32700, "{path}");
        // Wrong types (every field a number, plus an unknown one).
        let (status, body) = raw(m.clone(), &url, t, Some("application/json"), r#"{"email": 5, "password": 5, "slot_name": 5, "version": "x", "name": 5, "jsonrpc": 5, "token": 5, "refresh_token": 5, "device_id": 5, "username": 5}"#).await;
        assert_eq!(status, 400, "wrong types on {path}: {body}");
        let code = assert_error_shape(&body)["code"].as_i64().unwrap();
        assert!(code == -32602 || code == -32600, "{path}: {body}");
        // Not JSON at all.
        if !path.ends_with("/rpc") {
            let (status, body) = raw(m.clone(), &url, t, Some("text/plain"), "hello").await;
            assert_eq!(status, 415, "content type on {path}: {body}");
            assert_error_shape(&body);
        }
        // Oversize.
        let huge = format!("{{\"x\":\"{}\"}}", "a".repeat(200_000));
        let (status, body) = raw(m.clone(), &url, t, Some("application/json"), huge).await;
        assert_eq!(status, 413, "oversize on {path}: {body}");
        assert_eq!(assert_error_shape(&body)["code"], -32013);
    }
    // Bad path and query parameters.
    for (path, status) in [
        (format!("/api/v1/saves/{uid}/slot1?version=abc"), 400),
        (format!("/api/v1/saves/{uid}/bad%2Fslot"), 400),
        (format!("/api/v1/saves/{uid}/history?slot_name=a/b"), 400),
        (format!("/api/v1/saves/{uid}/history?bogus=1"), 400),
        (format!("/api/v1/saves/{uid}/nosuchslot"), 404),
    ] {
        let (got, body) = raw(Method::GET, &format!("{}{}", origin.url, path), Some(&token), None, "").await;
        assert_eq!(got, status, "{path}: {body}");
        assert_error_shape(&body);
    }
    assert_eq!(count(&origin, "SELECT COUNT(*) FROM users").await, users_before);
    assert_eq!(count(&origin, "SELECT COUNT(*) FROM cloud_saves").await, saves_before);
}
