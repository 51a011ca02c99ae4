use aethex_sdk::protocol::saves::{ConflictPolicy, MergePrefer, SaveRequest};
use aethex_sdk::saves::{binary_data, verify};
use aethex_tests::{assert_error_shape, raw, Origin};
use reqwest::Method;
use serde_json::{json, Value};

/// The seed's save example.
pub fn seed_save() -> Value {
    json!({
        "player": {"name": "Hero", "level": 15, "xp": 4500, "position": {"x": 100.5, "y": 0, "z": 200.3}, "rotation": {"x": 0, "y": 180, "z": 0}},
        "inventory": [{"id": "sword_legendary", "quantity": 1, "durability": 85}, {"id": "potion_health", "quantity": 5}],
        "quests": {"completed": ["quest_1", "quest_2"], "active": ["quest_3"], "progress": {"quest_3": 2}},
        "settings": {"volume": 0.8, "difficulty": "hard"}
    })
}

#[tokio::test]
async fn save_load_list_history_restore_delete() {
    let origin = Origin::start(&[]);
    let game = origin.game("my-awesome-game").await;
    let c = game.player().await;
    let s = c
        .saves()
        .save_with(SaveRequest {
            slot_name: "slot1".into(),
            data: Some(seed_save()),
            metadata: Some(json!({"engine_version": "4.3.0", "game_version": "1.2.3"})),
            ..Default::default()
        })
        .await
        .unwrap();
    let m = &s.metadata;
    assert_eq!((m.version, m.slot_name.as_str(), m.game_id.as_str()), (1, "slot1", "my-awesome-game"));
    assert_eq!((m.engine_version.as_deref(), m.game_version.as_deref()), (Some("4.3.0"), Some("1.2.3")));
    assert!(m.checksum.starts_with("blake3:"));
    assert_eq!(m.user_id, c.user_id().unwrap());
    uuid::Uuid::parse_str(&m.save_id).unwrap();
    chrono::DateTime::parse_from_rfc3339(&m.timestamp).unwrap();

    let loaded = c.saves().load("slot1").await.unwrap();
    assert_eq!(loaded.data.as_ref().unwrap(), &seed_save());
    assert!(verify(&loaded));
    assert_eq!(loaded.metadata, s.metadata);

    let mut data = seed_save();
    data["player"]["level"] = json!(16);
    let s2 = c.saves().save("slot1", data.clone()).await.unwrap();
    assert_eq!(s2.metadata.version, 2);
    c.saves().save("slot2", json!({"other": true})).await.unwrap();

    let list = c.saves().list_all().await.unwrap();
    let names: Vec<&str> = list.saves.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["slot1", "slot2"]);
    assert_eq!(list.saves[0].metadata.version, 2);
    assert_eq!(list.saves[0].size, s2.metadata.size_bytes);
    assert_eq!(list.saves[0].timestamp(), s2.metadata.timestamp);
    assert_eq!(list.quota_bytes, 1 << 30);
    assert!(list.used_bytes > 0);

    let h = c.saves().history("slot1").await.unwrap();
    assert_eq!(h.versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1]);
    // A version by its save id.
    let v1 = c.saves().load(&s.metadata.save_id).await.unwrap();
    assert_eq!(v1.metadata.version, 1);
    assert_eq!(c.saves().load_version("slot1", 1).await.unwrap().data.unwrap()["player"]["level"], 15);

    let r = c.saves().restore("slot1", 1).await.unwrap();
    assert_eq!(r.metadata.version, 3);
    assert_eq!(r.metadata.checksum, s.metadata.checksum);
    assert_eq!(c.saves().load("slot1").await.unwrap().data.unwrap()["player"]["level"], 15);

    assert_eq!(c.saves().delete("slot1").await.unwrap().versions_deleted, 3);
    let err = c.saves().load("slot1").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_error_shape(
        &serde_json::to_value(aethex_sdk::protocol::rpc::RpcResponse::<Value>::failure(Value::Null, err.api().unwrap().clone())).unwrap(),
    );
    assert_eq!(c.saves().delete("slot1").await.unwrap_err().status(), Some(404));
    assert_eq!(c.saves().list().await.unwrap().len(), 1);
}

/// The seed's `DELETE /api/v1/saves/:user_id/:save_id`: a save id (of any version) deletes
/// its slot; another player's save id, or one that does not exist, is not found and
/// deletes nothing.
#[tokio::test]
async fn a_save_is_deleted_by_its_save_id() {
    let origin = Origin::start(&[]);
    let game = origin.game("saves-by-id").await;
    let (a, b) = (game.player().await, game.player().await);
    let first = a.saves().save("slot1", json!({"n": 1})).await.unwrap();
    a.saves().save("slot1", json!({"n": 2})).await.unwrap();
    let other = b.saves().save("slot1", json!({"n": 3})).await.unwrap();
    // Not a's: 404, and b's save is still there.
    assert_eq!(a.saves().delete(&other.metadata.save_id).await.unwrap_err().status(), Some(404));
    assert_eq!(a.saves().delete(&uuid::Uuid::new_v4().to_string()).await.unwrap_err().status(), Some(404));
    assert_eq!(b.saves().load("slot1").await.unwrap().data.unwrap()["n"], 3);
    // The first version's id deletes the whole slot.
    let gone = a.saves().delete(&first.metadata.save_id).await.unwrap();
    assert_eq!((gone.slot_name.as_str(), gone.versions_deleted), ("slot1", 2));
    assert_eq!(a.saves().load("slot1").await.unwrap_err().status(), Some(404));
    assert_eq!(a.saves().delete(&first.metadata.save_id).await.unwrap_err().status(), Some(404));
    // Over the plain route too, the way the seed writes it.
    let again = a.saves().save("slot2", json!({"n": 4})).await.unwrap();
    let url = format!("{}/api/v1/saves/{}/{}", origin.url, a.user_id().unwrap(), again.metadata.save_id);
    let resp = reqwest::Client::new().delete(&url).bearer_auth(a.token().unwrap()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(b.saves().list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn binary_saves_round_trip() {
    let origin = Origin::start(&[]);
    let game = origin.game("binary-game").await;
    let c = game.player().await;
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    let s = c.saves().save_binary("blob", &bytes).await.unwrap();
    assert_eq!((s.metadata.content_type.as_str(), s.metadata.size_bytes), ("binary", 5000));
    let loaded = c.saves().load("blob").await.unwrap();
    assert_eq!(binary_data(&loaded).unwrap(), bytes);
    assert!(verify(&loaded));
    let bad = json!({"slot_name": "blob2", "data_base64": "%%%not base64"});
    let err = c.request::<_, Value>(Method::POST, "/api/v1/saves/me", Some(&bad), true).await.unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(400), Some("data_base64")));
    let both = json!({"slot_name": "blob2", "data_base64": "AAAA", "data": 1});
    assert_eq!(c.request::<_, Value>(Method::POST, "/api/v1/saves/me", Some(&both), true).await.unwrap_err().status(), Some(400));
}

#[tokio::test]
async fn conflicts_reject_overwrite_keep_both_and_merge() {
    let origin = Origin::start(&[]);
    let game = origin.game("conflict-game").await;
    let (phone, email, password) = game.email_player().await;
    let pc = game.client();
    pc.auth().login_email(&email, &password).await.unwrap();

    let base = json!({"player": {"level": 5, "xp": 100}, "settings": {"volume": 0.8}});
    phone.saves().save("slot1", base.clone()).await.unwrap();
    pc.saves().load("slot1").await.unwrap();
    // The phone moves on to version 2.
    phone.saves().save("slot1", json!({"player": {"level": 5, "xp": 100}, "settings": {"volume": 0.3}})).await.unwrap();

    // The PC writes from version 1: rejected with the server's copy.
    let pc_data = json!({"player": {"level": 6, "xp": 100}, "settings": {"volume": 0.8}});
    let err = pc.saves().save("slot1", pc_data.clone()).await.unwrap_err();
    assert_eq!(err.status(), Some(409));
    let current = err.api().unwrap().detail("current").unwrap();
    assert_eq!(current["metadata"]["version"], 2);
    assert_eq!(current["data"]["settings"]["volume"], 0.3);
    assert_eq!(err.api().unwrap().field(), Some("base_version"));

    // Merge: disjoint changes combine.
    let req = |data: Value, policy, prefer| SaveRequest {
        slot_name: "slot1".into(),
        data: Some(data),
        base_version: Some(1),
        on_conflict: Some(policy),
        merge_prefer: prefer,
        ..Default::default()
    };
    let merged = pc.saves().save_with(req(pc_data.clone(), ConflictPolicy::Merge, None)).await.unwrap();
    assert!(merged.merged && merged.conflicts.is_empty());
    assert_eq!(merged.metadata.version, 3);
    let now = pc.saves().load("slot1").await.unwrap().data.unwrap();
    assert_eq!(now, json!({"player": {"level": 6, "xp": 100}, "settings": {"volume": 0.3}}));

    // Both change the same path: 409 with the conflict list and a proposal; nothing written.
    phone
        .saves()
        .save_with(SaveRequest {
            slot_name: "slot1".into(),
            data: Some(json!({"player": {"level": 9, "xp": 100}, "settings": {"volume": 0.3}})),
            base_version: Some(3),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = pc
        .saves()
        .save_with(req(json!({"player": {"level": 7, "xp": 100}, "settings": {"volume": 0.3}}), ConflictPolicy::Merge, None).clone_with_base(3))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409));
    let conflicts = err.api().unwrap().detail("conflicts").unwrap().as_array().unwrap().clone();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0]["path"], "/player/level");
    assert_eq!(pc.saves().history("slot1").await.unwrap().versions.len(), 4);
    // With a preference the merge is written and the conflicts reported.
    let won = pc
        .saves()
        .save_with(
            req(json!({"player": {"level": 7, "xp": 100}, "settings": {"volume": 0.3}}), ConflictPolicy::Merge, Some(MergePrefer::Server))
                .clone_with_base(3),
        )
        .await
        .unwrap();
    assert_eq!(won.conflicts.len(), 1);
    assert_eq!(pc.saves().load("slot1").await.unwrap().data.unwrap()["player"]["level"], 9);

    // Keep both: the slot keeps the server copy, ours lands beside it.
    let kept = pc.saves().save_with(req(json!({"mine": true}), ConflictPolicy::KeepBoth, None)).await.unwrap();
    assert_eq!(kept.metadata.slot_name, "slot1.conflict-1");
    assert_eq!(pc.saves().load("slot1").await.unwrap().metadata.version, 5);
    // Overwrite.
    let over = pc.saves().save_with(req(json!({"forced": 1}), ConflictPolicy::Overwrite, None)).await.unwrap();
    assert_eq!(over.metadata.version, 6);
    assert_eq!(phone.saves().load("slot1").await.unwrap().data.unwrap(), json!({"forced": 1}));
}

/// Incompressible bytes.
fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    blake3::Hasher::new().update(uuid::Uuid::new_v4().as_bytes()).finalize_xof().fill(&mut out);
    out
}

trait WithBase {
    fn clone_with_base(self, v: i64) -> Self;
}
impl WithBase for SaveRequest {
    fn clone_with_base(mut self, v: i64) -> Self {
        self.base_version = Some(v);
        self
    }
}

#[tokio::test]
async fn old_versions_are_pruned() {
    let origin = Origin::start(&[("AETHEX_SAVES__VERSIONS_KEPT", "3")]);
    let game = origin.game("prune-game").await;
    let c = game.player().await;
    for i in 1..=5 {
        c.saves().save("slot1", json!({"i": i})).await.unwrap();
    }
    let h = c.saves().history("slot1").await.unwrap();
    assert_eq!(h.versions.iter().map(|v| v.version).collect::<Vec<_>>(), [5, 4, 3]);
    assert_eq!(c.saves().load_version("slot1", 1).await.unwrap_err().status(), Some(404));
    // Merging from a pruned base is refused clearly.
    let err = c
        .saves()
        .save_with(SaveRequest {
            slot_name: "slot1".into(),
            data: Some(json!({})),
            base_version: Some(1),
            on_conflict: Some(ConflictPolicy::Merge),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(409), Some("base_version")));
}

#[tokio::test]
async fn size_slot_quota_and_metadata_limits() {
    let origin = Origin::start(&[
        ("AETHEX_SAVES__MAX_SAVE_BYTES", "2048"),
        ("AETHEX_SAVES__MAX_SLOTS", "2"),
        ("AETHEX_SAVES__QUOTA_FREE_BYTES", "6000"),
        ("AETHEX_SAVES__VERSIONS_KEPT", "100"),
    ]);
    let game = origin.game("limits-game").await;
    let c = game.player().await;
    // Size: at the limit passes, over is 413 and nothing is written.
    c.saves().save_binary("s1", &random_bytes(2000)).await.unwrap();
    let err = c.saves().save_binary("s1", &random_bytes(2049)).await.unwrap_err();
    assert_eq!((err.status(), err.code().map(|c| c.0), err.api().unwrap().field()), (Some(413), Some(-32013), Some("data")));
    assert_eq!(c.saves().history("s1").await.unwrap().versions.len(), 1);
    let err = c.saves().save("s1", json!("x".repeat(2100))).await.unwrap_err();
    assert_eq!(err.status(), Some(413));
    // Slots: a third slot is refused.
    c.saves().save("s2", json!(1)).await.unwrap();
    let err = c.saves().save("s3", json!(1)).await.unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(403), Some("slot_name")));
    // Quota: 6000 stored bytes across versions (random bytes do not compress).
    c.saves().save_binary("s1", &random_bytes(2000)).await.unwrap();
    let err = c.saves().save_binary("s1", &random_bytes(2000)).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(err.api().unwrap().reason().unwrap().contains("quota"));
    let list = c.saves().list_all().await.unwrap();
    assert!(list.used_bytes <= 6000 && list.quota_bytes == 6000);
    // Metadata must be a small object.
    for meta in [json!([1]), json!({"engine_version": 4}), json!({"x": "y".repeat(5000)})] {
        let err = c
            .saves()
            .save_with(SaveRequest { slot_name: "s2".into(), data: Some(json!(1)), metadata: Some(meta), ..Default::default() })
            .await
            .unwrap_err();
        assert_eq!((err.status(), err.api().unwrap().field()), (Some(400), Some("metadata")));
    }
    // Bad slot names.
    for slot in ["", "a/b", "..", &"s".repeat(51)] {
        let err = c.saves().save(slot, json!(1)).await.unwrap_err();
        assert_eq!(err.status(), Some(400), "{slot:?}");
    }
}

#[tokio::test]
async fn compression_checksum_and_encryption_at_rest() {
    let origin = Origin::start(&[]);
    let game = origin.game("crypto-game").await;
    let c = game.player().await;
    let marker = "PLAINTEXT-MARKER-7c1e";
    let big = json!({"log": vec![marker; 400]});
    let s = c.saves().save("big", big.clone()).await.unwrap();
    assert!(s.metadata.compressed && s.metadata.stored_bytes * 5 < s.metadata.size_bytes, "{:?}", s.metadata);
    let noise = random_bytes(4096);
    let r = c.saves().save_binary("noise", &noise).await.unwrap();
    assert!(!r.metadata.compressed);
    let small = c.saves().save("tiny", json!({"secret": marker})).await.unwrap();
    assert!(!small.metadata.compressed);

    // A wrong checksum is refused and nothing is written.
    let bad = SaveRequest {
        slot_name: "big".into(),
        data: Some(json!({"x": 1})),
        checksum: Some(format!("blake3:{}", "0".repeat(64))),
        ..Default::default()
    };
    let err = c.saves().save_with(bad).await.unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(400), Some("checksum")));
    assert_eq!(c.saves().load("big").await.unwrap().metadata.version, 1);

    // At rest, no save is readable: the marker is in no stored blob, every row has a key id.
    let db = origin.database().await;
    let conn = db.connect().unwrap();
    let mut rows = conn.query("SELECT data, key_id FROM cloud_saves", ()).await.unwrap();
    let mut n = 0;
    while let Some(row) = rows.next().await.unwrap() {
        let blob: Vec<u8> = row.get(0).unwrap();
        let key_id: String = row.get(1).unwrap();
        assert!(!key_id.is_empty());
        assert!(!blob.windows(marker.len()).any(|w| w == marker.as_bytes()), "plaintext found at rest");
        n += 1;
    }
    assert_eq!(n, 3);
    assert_eq!(c.saves().load("tiny").await.unwrap().data.unwrap()["secret"], marker);
}

#[tokio::test]
async fn saves_need_a_game_token() {
    let origin = Origin::start(&[]);
    let c = origin.sdk();
    c.auth().register("nogame@example.com", "long-enough-pw", "nogame").await.unwrap();
    let err = c.saves().save("slot1", json!(1)).await.unwrap_err();
    assert_eq!((err.status(), err.api().unwrap().field()), (Some(400), Some("x-aethex-client-key")));
}

#[tokio::test]
async fn server_keys_reach_players_saves_of_their_game_only() {
    let origin = Origin::start(&[]);
    let game = origin.game("server-game").await;
    let other = origin.game("other-game").await;
    let player = game.player().await;
    player.saves().save("slot1", json!({"gold": 10})).await.unwrap();
    let uid = player.user_id().unwrap();
    let key: Value = game
        .developer
        .request(Method::POST, "/api/v1/games/server-game/server-keys", Some(&json!({"name": "dedicated servers"})), true)
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("aethex_sk_"));
    let url = |p: &str| format!("{}{}", origin.url, p);
    let (status, body) = raw(Method::GET, &url(&format!("/api/v1/saves/{uid}/slot1")), Some(&key), None, "").await;
    assert_eq!((status, body["data"]["gold"].as_i64()), (200, Some(10)));
    let (status, _) = raw(
        Method::POST,
        &url(&format!("/api/v1/saves/{uid}")),
        Some(&key),
        Some("application/json"),
        json!({"slot_name": "slot1", "data": {"gold": 20}}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(player.saves().load("slot1").await.unwrap().data.unwrap()["gold"], 20);
    // `me` means nothing for a server key.
    let (status, body) = raw(Method::GET, &url("/api/v1/saves/me"), Some(&key), None, "").await;
    assert_eq!(status, 400);
    assert_error_shape(&body);
    // The same player seen from another game's key has no saves there.
    let other_key: Value =
        other.developer.request(Method::POST, "/api/v1/games/other-game/server-keys", Some(&json!({"name": "k"})), true).await.unwrap();
    let (status, _) = raw(Method::GET, &url(&format!("/api/v1/saves/{uid}/slot1")), other_key["key"].as_str(), None, "").await;
    assert_eq!(status, 404);
    // A key with a wrong secret, or a revoked key, is refused.
    let forged = format!("{}x", &key[..key.len() - 1]);
    let (status, body) = raw(Method::GET, &url(&format!("/api/v1/saves/{uid}")), Some(&forged), None, "").await;
    assert_eq!(status, 401);
    assert_error_shape(&body);
    let key_id = key.trim_start_matches("aethex_sk_").split('_').next().unwrap().to_string();
    game.developer.request::<Value, Value>(Method::DELETE, &format!("/api/v1/games/server-game/server-keys/{key_id}"), None, true).await.unwrap();
    let (status, _) = raw(Method::GET, &url(&format!("/api/v1/saves/{uid}")), Some(&key), None, "").await;
    assert_eq!(status, 401);
    // Server keys cannot act as players.
    let (status, _) = raw(Method::GET, &url("/api/v1/auth/profile"), other_key["key"].as_str(), None, "").await;
    assert_eq!(status, 403);
}
