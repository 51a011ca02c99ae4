//! Organization roles are enforced on every management route.

use aethex_sdk::AeThexCloud;
use aethex_tests::{assert_error_shape, Origin};
use reqwest::Method;
use serde_json::{json, Value};

async fn member(origin: &Origin, name: &str) -> (AeThexCloud, String) {
    let c = origin.sdk();
    let email = format!("{name}@studio.test");
    c.auth().register(&email, "member-password", name).await.unwrap();
    (c, email)
}

async fn call(c: &AeThexCloud, m: Method, path: &str, body: Option<Value>) -> Result<Value, u16> {
    c.request::<Value, Value>(m, path, body.as_ref(), true).await.map_err(|e| {
        let status = e.status().unwrap_or(0);
        let env = json!({"jsonrpc": "2.0", "id": null, "error": e.api().cloned()});
        assert_error_shape(&env);
        status
    })
}

#[tokio::test]
async fn roles_gate_management_routes() {
    let origin = Origin::start(&[]);
    let game = origin.game("team-game").await;
    let owner = &game.developer;
    let org = game.org_id.clone();
    let (admin, admin_email) = member(&origin, "admin1").await;
    let (dev, dev_email) = member(&origin, "dev1").await;
    let (viewer, viewer_email) = member(&origin, "viewer1").await;
    let (outsider, _) = member(&origin, "outsider").await;
    let members = format!("/api/v1/orgs/{org}/members");
    for (email, role) in [(&admin_email, "admin"), (&dev_email, "developer"), (&viewer_email, "viewer")] {
        call(owner, Method::POST, &members, Some(json!({"email": email, "role": role}))).await.unwrap();
    }
    let list = call(&viewer, Method::GET, &members, None).await.unwrap();
    assert_eq!(list["members"].as_array().unwrap().len(), 4);

    // Outsiders learn nothing.
    assert_eq!(call(&outsider, Method::GET, &format!("/api/v1/orgs/{org}"), None).await.unwrap_err(), 404);
    assert_eq!(call(&outsider, Method::GET, "/api/v1/games/team-game", None).await.unwrap_err(), 404);
    assert_eq!(call(&outsider, Method::GET, "/api/v1/games/team-game/server-keys", None).await.unwrap_err(), 404);

    // Viewer: reads only.
    call(&viewer, Method::GET, "/api/v1/games/team-game", None).await.unwrap();
    assert_eq!(call(&viewer, Method::POST, "/api/v1/games/team-game/server-keys", Some(json!({"name": "k"}))).await.unwrap_err(), 403);
    assert_eq!(
        call(&viewer, Method::POST, &format!("/api/v1/orgs/{org}/games"), Some(json!({"game_id": "v-game", "name": "V"}))).await.unwrap_err(),
        403
    );
    // Developer: server keys yes; games and members no.
    let key = call(&dev, Method::POST, "/api/v1/games/team-game/server-keys", Some(json!({"name": "ci"}))).await.unwrap();
    assert!(key["key"].as_str().unwrap().starts_with("aethex_sk_"));
    let keys = call(&viewer, Method::GET, "/api/v1/games/team-game/server-keys", None).await.unwrap();
    assert!(keys["keys"][0].get("key").is_none(), "secrets are never listed");
    assert_eq!(call(&dev, Method::PATCH, "/api/v1/games/team-game", Some(json!({"name": "Renamed"}))).await.unwrap_err(), 403);
    assert_eq!(call(&dev, Method::POST, &members, Some(json!({"email": "x@y.io", "role": "viewer"}))).await.unwrap_err(), 403);
    // Admin: games, tiers, client keys, members; not owners.
    let g = call(&admin, Method::PATCH, "/api/v1/games/team-game", Some(json!({"tier": "pro"}))).await.unwrap();
    assert_eq!(g["tier"], "pro");
    let rotated = call(&admin, Method::POST, "/api/v1/games/team-game/client-key/rotate", None).await.unwrap();
    assert_ne!(rotated["client_key"], game.client_key.as_str());
    let err = game.client().auth().login_device("device-bbbbbbbbbbbbbbbb").await.unwrap_err();
    assert_eq!(err.status(), Some(401), "the old client key stops working");
    call(&admin, Method::POST, &format!("/api/v1/orgs/{org}/games"), Some(json!({"game_id": "admin-game", "name": "A"}))).await.unwrap();
    let viewer_id = viewer.user_id().unwrap();
    call(&admin, Method::PUT, &format!("{members}/{viewer_id}"), Some(json!({"role": "developer"}))).await.unwrap();
    assert_eq!(call(&admin, Method::PUT, &format!("{members}/{viewer_id}"), Some(json!({"role": "owner"}))).await.unwrap_err(), 403);
    let owner_id = owner.user_id().unwrap();
    assert_eq!(call(&admin, Method::DELETE, &format!("{members}/{owner_id}"), None).await.unwrap_err(), 403);
    // Owner: the last owner cannot leave or step down.
    assert_eq!(call(owner, Method::DELETE, &format!("{members}/{owner_id}"), None).await.unwrap_err(), 409);
    assert_eq!(call(owner, Method::PUT, &format!("{members}/{owner_id}"), Some(json!({"role": "admin"}))).await.unwrap_err(), 409);
    // Duplicate game id, bad slug, bad role.
    assert_eq!(
        call(owner, Method::POST, &format!("/api/v1/orgs/{org}/games"), Some(json!({"game_id": "team-game", "name": "dup"}))).await.unwrap_err(),
        409
    );
    assert_eq!(
        call(owner, Method::POST, &format!("/api/v1/orgs/{org}/games"), Some(json!({"game_id": "Bad Slug", "name": "x"}))).await.unwrap_err(),
        400
    );
    assert_eq!(call(owner, Method::POST, &members, Some(json!({"email": "a@b.io", "role": "god"}))).await.unwrap_err(), 400);
    // Members can leave on their own.
    let dev_id = dev.user_id().unwrap();
    call(&dev, Method::DELETE, &format!("{members}/{dev_id}"), None).await.unwrap();
    assert_eq!(call(&dev, Method::GET, &members, None).await.unwrap_err(), 404);
    // Guests cannot create organizations.
    let g2 = AeThexCloud::new(&origin.url);
    g2.auth().login_device("device-cccccccccccccccc").await.unwrap();
    assert_eq!(call(&g2, Method::POST, "/api/v1/orgs", Some(json!({"name": "nope"}))).await.unwrap_err(), 409);
    let orgs = call(owner, Method::GET, "/api/v1/orgs", None).await.unwrap();
    assert_eq!(orgs["orgs"][0]["role"], "owner");
}
