//! Health, readiness, metrics, JWKS, request ids, CORS, and no secrets in logs.

use aethex_tests::Origin;
use serde_json::Value;

#[tokio::test]
async fn health_ready_metrics_and_jwks() {
    let origin = Origin::start(&[]);
    let get = |p: &str| reqwest::get(format!("{}{}", origin.url, p));
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let ready: Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let game = origin.game("ops-game").await;
    let c = game.player().await;
    // Metrics only on their own listener (server.metrics_listen), never on the public port.
    assert_eq!(get("/metrics").await.unwrap().status(), 404);
    let metrics = reqwest::get(format!("{}/metrics", origin.metrics_url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("aethex_http_requests_total{route=\"/api/v1/auth/device\""), "{metrics}");
    assert!(metrics.contains("aethex_http_request_duration_seconds"));

    // The JWKS verifies the access token without any secret.
    let jwks: Value = get("/.well-known/jwks.json").await.unwrap().json().await.unwrap();
    let k = &jwks["keys"][0];
    assert_eq!((k["kty"].as_str(), k["crv"].as_str(), k["alg"].as_str()), (Some("OKP"), Some("Ed25519"), Some("EdDSA")));
    let token = c.token().unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), k["kid"].as_str());
    let key = jsonwebtoken::DecodingKey::from_ed_components(k["x"].as_str().unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_audience(&["aethex"]);
    let data = jsonwebtoken::decode::<Value>(&token, &key, &v).unwrap();
    let claims = data.claims;
    assert_eq!(claims["sub"], c.user_id().unwrap().as_str());
    assert_eq!(claims["game"], "ops-game");
    assert_eq!(claims["roles"], serde_json::json!(["player", "guest"]));
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 900);

    // Request ids are echoed (the client's own, or a new one).
    let resp = reqwest::Client::new().get(format!("{}/healthz", origin.url)).header("x-request-id", "trace-abc-123").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-abc-123");
    let resp = get("/healthz").await.unwrap();
    assert_eq!(resp.headers()["x-request-id"].len(), 36);
    // CORS for web builds.
    let resp = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/api/v1/auth/login", origin.url))
        .header("origin", "https://game.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-aethex-client-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn logs_carry_request_ids_but_no_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let log_path = tmp.path().join("server.log");
    // Run the binary with JSON logs at debug level into a file.
    let log = std::fs::File::create(&log_path).unwrap();
    let data = tmp.path().join("data");
    let mut child = std::process::Command::new(aethex_tests::aethex_bin())
        .arg("serve")
        .env("AETHEX_SERVER__LISTEN", "127.0.0.1:0")
        .env("AETHEX_STORAGE__DATA_DIR", &data)
        .env("AETHEX_LOG__FORMAT", "json")
        .env("AETHEX_LOG__LEVEL", "debug")
        .env_remove("RUST_LOG")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut url = None;
    for _ in 0..300 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(l) = text.lines().find_map(|l| l.split("listening on ").nth(1)) {
            url = l.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    let url = url.expect("server URL");
    let c = aethex_sdk::AeThexCloud::new(&url);
    let password = "hunter2-super-secret";
    let r = c.auth().register("logged@example.com", password, "logged").await.unwrap();
    c.auth().refresh().await.unwrap();
    c.auth().request_password_reset("logged@example.com").await.unwrap();
    let _ = c.auth().login_email("logged@example.com", "wrong-password-zzz").await;
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("\"request_id\""), "logs have request ids");
    assert!(text.contains("email written to outbox"));
    for secret in [password, "wrong-password-zzz", r.token.as_str(), r.refresh_token.as_str(), c.refresh_token().unwrap().as_str()] {
        assert!(!text.contains(secret), "a secret leaked into the log");
    }
    // The emailed tokens are in the outbox, not in the log.
    for entry in std::fs::read_dir(data.join("outbox")).unwrap() {
        let mail = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let token = mail.lines().find_map(|l| l.strip_prefix("Token: ")).unwrap().trim().to_string();
        assert!(!text.contains(&token), "an emailed token leaked into the log");
    }
}

#[tokio::test]
async fn openapi_document_covers_the_routes() {
    let origin = Origin::start(&[]);
    let doc: Value = reqwest::get(format!("{}/api/v1/openapi.json", origin.url)).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/profile",
        "/api/v1/saves/{user_id}",
        "/api/v1/saves/{user_id}/{save_id}",
        "/api/v1/saves/{user_id}/history",
        "/api/v1/orgs/{org_id}/games",
        "/api/v1/games/{game_id}/server-keys",
        "/api/v1/games/{game_id}/players",
        "/api/v1/games/{game_id}/players/{user_id}/ban",
        "/api/v1/games/{game_id}/audit",
        "/api/v1/share",
        "/api/v1/games/{game_id}/analytics/metrics",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the OpenAPI document");
    }
    // Every templated segment is declared as a path parameter.
    for (path, item) in paths {
        let names: Vec<&str> = path.split('{').skip(1).filter_map(|s| s.split('}').next()).collect();
        for (_method, op) in item.as_object().unwrap() {
            for n in &names {
                let declared = op["parameters"].as_array().map(|ps| ps.iter().any(|p| p["name"] == *n && p["in"] == "path")).unwrap_or(false);
                assert!(declared, "{path}: parameter {n} not declared");
            }
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in ["SaveMetadata", "SaveRequest", "LoginResponse", "ErrorEnvelope", "RpcError"] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
}

#[tokio::test]
async fn a_lost_save_key_file_stops_start_up_instead_of_breaking_saves() {
    let origin = Origin::start(&[]);
    let game = origin.game("keys-game").await;
    game.player().await.saves().save("slot1", serde_json::json!({"x": 1})).await.unwrap();
    let dir = origin.data_dir.clone();
    let mut origin = origin;
    origin.kill();
    std::fs::remove_file(dir.join("keys/save-encryption.json")).unwrap();
    let out = std::process::Command::new(aethex_tests::aethex_bin())
        .arg("serve")
        .env_clear()
        .env("AETHEX_SERVER__LISTEN", "127.0.0.1:0")
        .env("AETHEX_STORAGE__DATA_DIR", &dir)
        .env("AETHEX_EDGE__EMBEDDED", "false")
        .output()
        .unwrap();
    assert!(!out.status.success(), "start-up must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("save-encryption.json is missing") && err.contains("1 saves"), "{err}");
    assert!(!dir.join("keys/save-encryption.json").exists(), "no new key was made");
}
