//! The same operations through JSON-RPC 2.0.

use aethex_tests::{assert_error_shape, raw, Origin};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn auth_and_saves_over_json_rpc() {
    let origin = Origin::start(&[]);
    let game = origin.game("rpc-game").await;
    let c = game.client();
    let reg: Value = c.rpc("auth.register", json!({"email": "rpc@example.com", "password": "long-enough-pw", "username": "rpcuser"})).await.unwrap();
    assert!(reg["token"].is_string());
    // The seed's exact login envelope.
    let resp: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/rpc", origin.url))
        .header("x-aethex-client-key", &game.client_key)
        .json(&json!({"jsonrpc": "2.0", "id": "unique-request-id", "method": "auth.login", "params": {"email": "rpc@example.com", "password": "long-enough-pw"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["jsonrpc"], "2.0");
    assert_eq!(resp["id"], "unique-request-id");
    assert_eq!(resp["result"]["success"], true);
    let token = resp["result"]["data"]["token"].as_str().unwrap().to_string();
    assert!(resp["result"]["data"]["user_id"].is_string() && resp["result"]["data"]["refresh_token"].is_string());

    let call = |method: &str, params: Value| json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let url = format!("{}/api/v1/rpc", origin.url);
    let post = |body: Value| {
        let url = url.clone();
        let token = token.clone();
        async move { raw(Method::POST, &url, Some(&token), Some("application/json"), body.to_string()).await }
    };
    let (s, r) = post(call("saves.save", json!({"slot_name": "slot1", "data": {"level": 5}}))).await;
    assert_eq!((s, r["result"]["data"]["version"].as_i64()), (200, Some(1)));
    let (_, r) = post(call("saves.load", json!({"slot_name": "slot1"}))).await;
    assert_eq!(r["result"]["data"]["data"]["level"], 5);
    let (_, r) = post(call("saves.list", json!({}))).await;
    assert_eq!(r["result"]["data"]["saves"][0]["name"], "slot1");
    let (_, r) = post(call("saves.save", json!({"slot_name": "slot1", "data": {"level": 6}, "base_version": 1}))).await;
    assert_eq!(r["result"]["data"]["version"], 2);
    let (_, r) = post(call("saves.history", json!({"slot_name": "slot1"}))).await;
    assert_eq!(r["result"]["data"]["versions"].as_array().unwrap().len(), 2);
    let (_, r) = post(call("saves.restore", json!({"slot_name": "slot1", "version": 1}))).await;
    assert_eq!(r["result"]["data"]["version"], 3);
    let (s, r) = post(call("saves.save", json!({"slot_name": "slot1", "data": {}, "base_version": 1}))).await;
    assert_eq!(s, 409);
    assert_eq!(r["id"], 7);
    assert_eq!(assert_error_shape(&r)["data"]["current"]["metadata"]["version"], 3);
    let (_, r) = post(call("auth.get_profile", json!({}))).await;
    assert_eq!(r["result"]["data"]["username"], "rpcuser");
    let (_, r) = post(call("saves.delete", json!({"slot_name": "slot1"}))).await;
    assert_eq!(r["result"]["data"]["versions_deleted"], 3);

    // Batch with a notification: one answer per call with an id.
    let batch = json!([call("saves.list", json!({})), {"jsonrpc": "2.0", "method": "saves.list"}, call("nope.nope", json!({}))]);
    let (s, r) = post(batch).await;
    assert_eq!(s, 200);
    let arr = r.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[1]["error"]["code"], -32601);
}

#[tokio::test]
async fn json_rpc_envelope_errors() {
    let origin = Origin::start(&[]);
    let url = format!("{}/api/v1/rpc", origin.url);
    for (body, status, code) in [
        ("{nope", 400, -32700),
        (r#"{"jsonrpc": "1.0", "id": 1, "method": "auth.login"}"#, 400, -32600),
        (r#"{"jsonrpc": "2.0", "id": 1}"#, 400, -32600),
        (r#"{"jsonrpc": "2.0", "id": {"x": 1}, "method": "auth.login"}"#, 400, -32600),
        (r#"[]"#, 400, -32600),
        (r#"{"jsonrpc": "2.0", "id": 1, "method": "no.such"}"#, 404, -32601),
        (r#"{"jsonrpc": "2.0", "id": 1, "method": "auth.login", "params": [1, 2]}"#, 400, -32602),
        (r#"{"jsonrpc": "2.0", "id": 1, "method": "auth.login", "params": {"email": "a@b.co"}}"#, 400, -32602),
        (r#"{"jsonrpc": "2.0", "id": 1, "method": "saves.list"}"#, 401, -32001),
        (r#"{"jsonrpc": "2.0", "id": 1, "method": "auth.login", "params": {"email": "a@b.co", "password": "wrongwrong"}}"#, 401, -32600),
    ] {
        let (s, r) = raw(Method::POST, &url, None, Some("application/json"), body).await;
        assert_eq!(s, status, "{body}: {r}");
        assert_eq!(assert_error_shape(&r)["code"], code, "{body}");
    }
    let too_many: Vec<Value> = (0..51).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "saves.list"})).collect();
    let (s, _) = raw(Method::POST, &url, None, Some("application/json"), Value::Array(too_many).to_string()).await;
    assert_eq!(s, 400);
}
