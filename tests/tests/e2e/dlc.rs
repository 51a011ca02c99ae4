//! DLC end to end at origin: publish with aethex-cdn (only missing chunks), pull with the
//! patching client, update checks, channels (promote, roll back), entitlement gating,
//! asset streaming, refusals, and garbage collection.

use std::time::Duration;

use aethex_tests::dlc::{edit_tree, pull, write_tree, Publisher};
use aethex_tests::{assert_error_shape, Origin};
use reqwest::Method;
use serde_json::{json, Value};

async fn get(url: &str, token: Option<&str>, range: Option<&str>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut r = reqwest::Client::new().get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(range) = range {
        r = r.header("range", range);
    }
    let resp = r.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn publish_pull_update_channels_and_streaming() {
    let origin = Origin::start(&[]);
    let game = origin.game("dlc-game").await;
    let publisher = Publisher::new(&game).await;
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), 1);

    // A publish that stopped after three uploads resumes with the rest: origin is asked
    // which chunks it lacks, so what arrived is not sent again.
    let out = tempfile::tempdir().unwrap();
    let partial = aethex_cdn::build(src.path(), out.path(), "dlc-game", "1.0.0", "stable", &Default::default()).unwrap();
    for c in partial.manifest.chunks.iter().take(3) {
        let stored = std::fs::read(partial.store.path(&c.id).unwrap()).unwrap();
        let resp = reqwest::Client::new()
            .put(format!("{}/api/v1/games/dlc-game/chunks/{}", origin.url, c.id))
            .bearer_auth(&publisher.server_key)
            .header("x-aethex-chunk-encoding", c.compression.as_str())
            .body(stored)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
    }
    // First publish uploads every other chunk; the same build again uploads nothing.
    let r1 = publisher.publish(src.path(), "1.0.0", "stable", None).await;
    assert_eq!(r1.chunks_uploaded, r1.chunks_total - 3, "{r1:?}");
    assert!(r1.chunks_total > 5, "{r1:?}");
    let again = publisher.publish(src.path(), "1.0.1", "stable", None).await;
    assert_eq!((again.chunks_uploaded, again.bytes_uploaded), (0, 0), "an unchanged build uploads nothing");

    // A player installs it.
    let player = game.player().await;
    let token = player.token().unwrap();
    let install = tempfile::tempdir().unwrap();
    let p1 = pull(&origin.url, "dlc-game", "stable", &token, publisher.trusted(), install.path()).await;
    assert_eq!(p1.version, "1.0.1");
    let installed = aethex_cdn::read_manifest_file(&install.path().join(".aethex/installed.json")).ok();
    let (_, m1) = aethex_cdn::pull::installed(install.path()).unwrap().expect("installed state");
    assert!(installed.is_none() || installed.as_ref() == Some(&m1));
    assert!(aethex_cdn::verify_dir(install.path(), &m1).unwrap().ok(), "the install matches the manifest");

    // An update with small edits: few chunks go up, few come down.
    let (status, _, body) = get(&format!("{}/api/v1/dlc/dlc-game/stable/update?current=1.0.1", origin.url), Some(&token), None).await;
    let check: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, &check["update_available"]), (200, &json!(false)));
    let via_sdk = player.cdn().check_for_updates("dlc-game", "stable", Some("1.0.1")).await.unwrap();
    assert!(!via_sdk.update_available && via_sdk.latest == "1.0.1");
    edit_tree(src.path());
    let r2 = publisher.publish(src.path(), "2.0.0", "stable", None).await;
    assert!(r2.chunks_uploaded * 4 < r2.chunks_total, "an edit uploads a few chunks: {r2:?}");
    let (_, _, body) = get(&format!("{}/api/v1/dlc/dlc-game/stable/update?current=1.0.1", origin.url), Some(&token), None).await;
    let check: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((&check["update_available"], &check["latest"]), (&json!(true), &json!("2.0.0")));
    let p2 = pull(&origin.url, "dlc-game", "stable", &token, publisher.trusted(), install.path()).await;
    assert_eq!((p2.version.as_str(), p2.previous.as_deref()), ("2.0.0", Some("1.0.1")));
    let total: u64 = r2.chunks_total;
    assert!(p2.chunks_downloaded * 4 < total, "the patch downloads a few chunks: {p2:?}");
    let (_, m2) = aethex_cdn::pull::installed(install.path()).unwrap().unwrap();
    assert!(aethex_cdn::verify_dir(install.path(), &m2).unwrap().ok());
    assert!(!install.path().join("data/level2.pak").exists(), "removed files are removed");
    assert_eq!(std::fs::read(install.path().join("game.pck")).unwrap(), std::fs::read(src.path().join("game.pck")).unwrap());

    // Asset streaming: a byte range of one file, and the whole of a small one.
    let want = std::fs::read(src.path().join("game.pck")).unwrap();
    let (status, headers, part) =
        get(&format!("{}/api/v1/dlc/dlc-game/stable/files/game.pck", origin.url), Some(&token), Some("bytes=699000-710999")).await;
    assert_eq!(status, 206);
    assert_eq!(part, want[699_000..711_000]);
    assert_eq!(headers["content-range"], format!("bytes 699000-710999/{}", want.len()));
    let (status, _, whole) = get(&format!("{}/api/v1/dlc/dlc-game/stable/files/data/text/en.json", origin.url), Some(&token), None).await;
    assert_eq!((status, whole), (200, std::fs::read(src.path().join("data/text/en.json")).unwrap()));
    let (status, _, _) = get(&format!("{}/api/v1/dlc/dlc-game/stable/files/game.pck", origin.url), Some(&token), Some("bytes=99999999-")).await;
    assert_eq!(status, 416, "an unsatisfiable range");
    let (status, _, _) = get(&format!("{}/api/v1/dlc/dlc-game/stable/files/nope.bin", origin.url), Some(&token), None).await;
    assert_eq!(status, 404);

    // Chunks: public, immutable, ETag, Range.
    let id = &m2.chunks[0].id;
    let url = format!("{}/api/v1/dlc/dlc-game/chunks/{id}", origin.url);
    let (status, headers, full) = get(&url, None, None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(headers["etag"], format!("\"{id}\""));
    let (status, _, part) = get(&url, None, Some("bytes=0-9")).await;
    assert_eq!((status, part.as_slice()), (206, &full[..10]));
    let resp = reqwest::Client::new().get(&url).header("if-none-match", format!("\"{id}\"")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 304);

    // Channels: promote to beta, roll stable back.
    let promoted = publisher.origin.promote("dlc-game", "2.0.0", "stable", "beta").await.unwrap();
    assert_eq!(promoted["channel"], "beta");
    let (_, _, body) = get(&format!("{}/api/v1/dlc/dlc-game/beta/manifest", origin.url), Some(&token), None).await;
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["version"], "2.0.0");
    let back = publisher.origin.rollback("dlc-game", "stable", None).await.unwrap();
    assert_eq!((&back["version"], &back["current"]), (&json!("1.0.1"), &json!(true)));
    let p3 = pull(&origin.url, "dlc-game", "stable", &token, publisher.trusted(), install.path()).await;
    assert_eq!(p3.version, "1.0.1");
    assert!(p3.chunks_from_install > 0 && p3.chunks_downloaded < p3.chunks_needed, "rolling back reuses what is installed: {p3:?}");
    let (_, m3) = aethex_cdn::pull::installed(install.path()).unwrap().unwrap();
    assert!(aethex_cdn::verify_dir(install.path(), &m3).unwrap().ok());
    let releases = publisher.origin.releases("dlc-game", Some("stable")).await.unwrap();
    assert_eq!(releases.releases.len(), 3);
}

#[tokio::test]
async fn gated_releases_need_the_entitlement() {
    let origin = Origin::start(&[]);
    let game = origin.game("gated-game").await;
    let publisher = Publisher::new(&game).await;
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), 5);
    publisher.publish(src.path(), "1.0.0", "dlc-winter", Some("winter-pack")).await;
    let player = game.player().await;
    let (token, uid) = (player.token().unwrap(), player.user_id().unwrap());
    let url = format!("{}/api/v1/dlc/gated-game/dlc-winter/manifest", origin.url);
    let (status, _, body) = get(&url, Some(&token), None).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("winter-pack"));
    let (status, _, _) = get(&format!("{}/api/v1/dlc/gated-game/dlc-winter/files/README.txt", origin.url), Some(&token), None).await;
    assert_eq!(status, 403);
    // Players cannot grant themselves anything (the game is not theirs to manage: 404).
    let (status, body) =
        aethex_tests::raw(Method::PUT, &format!("{}/api/v1/games/gated-game/entitlements/{uid}/winter-pack", origin.url), Some(&token), None, "")
            .await;
    assert_eq!(status, 404, "{body}");
    assert_error_shape(&body);
    let (status, _) = aethex_tests::raw(
        Method::PUT,
        &format!("{}/api/v1/games/gated-game/entitlements/{uid}/winter-pack", origin.url),
        Some(&publisher.server_key),
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = get(&url, Some(&token), None).await;
    assert_eq!(status, 200);
    let install = tempfile::tempdir().unwrap();
    let opts = aethex_tests::aethex_sdk::cdn::PullOptions { trusted_keys: publisher.trusted(), ..Default::default() };
    let p = player.cdn().download("gated-game", "dlc-winter", install.path(), &opts).await.unwrap();
    assert_eq!(p.version, "1.0.0");
    let (_, body) = aethex_tests::raw(Method::GET, &format!("{}/api/v1/dlc/gated-game/entitlements", origin.url), Some(&token), None, "").await;
    assert_eq!(body["entitlements"][0]["entitlement"], "winter-pack");
    // Revoked: refused again.
    let (status, _) = aethex_tests::raw(
        Method::DELETE,
        &format!("{}/api/v1/games/gated-game/entitlements/{uid}/winter-pack", origin.url),
        Some(&publisher.server_key),
        None,
        "",
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(get(&url, Some(&token), None).await.0, 403);
    // A player of another game cannot read this game's releases.
    let other = origin.game("other-game").await.player().await;
    assert_eq!(get(&url, Some(&other.token().unwrap()), None).await.0, 403);
}

#[tokio::test]
async fn bad_uploads_and_releases_are_refused_without_storing_anything() {
    let origin = Origin::start(&[]);
    let game = origin.game("strict-game").await;
    let publisher = Publisher::new(&game).await;
    let key = publisher.server_key.clone();
    let base = format!("{}/api/v1/games/strict-game", origin.url);
    let data = b"some chunk bytes".to_vec();
    let id = blake3::hash(&data).to_hex().to_string();
    let put = |id: String, body: Vec<u8>, enc: &'static str, token: String| {
        let url = format!("{base}/chunks/{id}");
        async move { reqwest::Client::new().put(url).bearer_auth(token).header("x-aethex-chunk-encoding", enc).body(body).send().await.unwrap() }
    };
    // Wrong hash, bad id, bad encoding, a zstd bomb beyond the chunk limit, a player token.
    let wrong = put(id.clone(), b"other bytes".to_vec(), "identity", key.clone()).await;
    assert_eq!(wrong.status().as_u16(), 400);
    assert_error_shape(&wrong.json::<Value>().await.unwrap());
    assert_eq!(put("not-hex".into(), data.clone(), "identity", key.clone()).await.status().as_u16(), 400);
    assert_eq!(put(id.clone(), data.clone(), "gzip", key.clone()).await.status().as_u16(), 400);
    let bomb = zstd::bulk::compress(&vec![0u8; 6 * 1024 * 1024], 19).unwrap();
    assert_eq!(put(blake3::hash(&vec![0u8; 6 * 1024 * 1024]).to_hex().to_string(), bomb, "zstd", key.clone()).await.status().as_u16(), 400);
    let player = game.player().await.token().unwrap();
    assert_eq!(put(id.clone(), data.clone(), "identity", player.clone()).await.status().as_u16(), 403, "players cannot upload");
    let developer = game.developer.token().unwrap();
    assert_eq!(put(id.clone(), data.clone(), "identity", developer).await.status().as_u16(), 403, "uploads take the server key");
    assert_eq!(put(id.clone(), data.clone(), "identity", "not-a-token".into()).await.status().as_u16(), 401);
    let oversize = vec![7u8; 5 * 1024 * 1024];
    assert_eq!(put(blake3::hash(&oversize).to_hex().to_string(), oversize, "identity", key.clone()).await.status().as_u16(), 413);
    // Nothing of that was stored.
    let missing: Value = reqwest::Client::new()
        .post(format!("{base}/chunks/missing"))
        .bearer_auth(&key)
        .json(&json!({"ids": [id]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(missing["missing"], json!([id]));
    // The right bytes are stored (zstd-compressed ones too).
    assert_eq!(put(id.clone(), data.clone(), "identity", key.clone()).await.status().as_u16(), 201);
    assert_eq!(put(id.clone(), data.clone(), "identity", key.clone()).await.status().as_u16(), 200);

    // Releases: a manifest whose chunks are not uploaded, a bad signature, an unknown key,
    // another game's manifest, and a player trying to publish.
    let src = tempfile::tempdir().unwrap();
    aethex_tests::dlc::write_tree(src.path(), 9);
    let out = tempfile::tempdir().unwrap();
    let b = aethex_cdn::build(src.path(), out.path(), "strict-game", "1.0.0", "stable", &Default::default()).unwrap();
    let signed = publisher.key.sign_text(b.text.clone());
    let release = |body: Value, token: String| {
        let url = format!("{base}/releases");
        async move { reqwest::Client::new().post(url).bearer_auth(token).json(&body).send().await.unwrap() }
    };
    let body = serde_json::to_value(&signed).unwrap();
    let r = release(body.clone(), key.clone()).await;
    assert_eq!(r.status().as_u16(), 409, "chunks not uploaded");
    let mut forged = body.clone();
    forged["manifest"] = json!(b.text.replace("strict-game", "strict-gamf"));
    assert_eq!(release(forged, key.clone()).await.status().as_u16(), 400, "signature over other text");
    let mut unknown = body.clone();
    unknown["key_id"] = json!("0000000000000000");
    assert_eq!(release(unknown, key.clone()).await.status().as_u16(), 400, "unknown key");
    assert_eq!(release(body.clone(), player).await.status().as_u16(), 403, "players cannot publish");
    let b2 = aethex_cdn::build(src.path(), out.path(), "other-game", "1.0.0", "stable", &Default::default()).unwrap();
    let other = serde_json::to_value(publisher.key.sign_text(b2.text.clone())).unwrap();
    assert_eq!(release(other, key.clone()).await.status().as_u16(), 400, "a manifest for another game");
    // Chunks uploaded in another encoding than the manifest lists: refused at release time.
    for c in &b.manifest.chunks {
        let stored = std::fs::read(b.store.path(&c.id).unwrap()).unwrap();
        let plain = aethex_cdn::store::decode_verified(c, &stored, c.compression).unwrap();
        let resp = put(c.id.clone(), plain, "identity", key.clone()).await;
        assert!(resp.status().is_success());
    }
    assert!(b.manifest.chunks.iter().any(|c| c.compression == aethex_cdn::Compression::Zstd), "the build has compressed chunks");
    let r = release(body.clone(), key.clone()).await;
    assert_eq!(r.status().as_u16(), 400, "encodings differ from the manifest");
    let releases = publisher.origin.releases("strict-game", None).await.unwrap();
    assert!(releases.releases.is_empty(), "nothing was released");
    // A withdrawn key signs nothing more.
    let kid = publisher.key.key_id().to_string();
    let (status, _) = aethex_tests::raw(Method::DELETE, &format!("{base}/manifest-keys/{kid}"), Some(&key), None, "").await;
    assert_eq!(status, 204);
    let keys: Value = reqwest::get(format!("{}/api/v1/dlc/strict-game/keys", origin.url)).await.unwrap().json().await.unwrap();
    assert_eq!(keys["keys"], json!([]));
    assert_eq!(release(body, key.clone()).await.status().as_u16(), 400, "signed by a withdrawn key");
}

#[tokio::test]
async fn unreferenced_chunks_are_collected_after_the_grace_period() {
    let origin = Origin::start(&[("AETHEX_DLC__CHUNK_GRACE_SECS", "1"), ("AETHEX_DLC__GC_INTERVAL_SECS", "1")]);
    let game = origin.game("gc-game").await;
    let publisher = Publisher::new(&game).await;
    let src = tempfile::tempdir().unwrap();
    aethex_tests::dlc::write_tree(src.path(), 3);
    let r = publisher.publish(src.path(), "1.0.0", "stable", None).await;
    let orphan = b"uploaded, never released".to_vec();
    let orphan_id = blake3::hash(&orphan).to_hex().to_string();
    let resp = reqwest::Client::new()
        .put(format!("{}/api/v1/games/gc-game/chunks/{orphan_id}", origin.url))
        .bearer_auth(&publisher.server_key)
        .body(orphan)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let blob = origin.data_dir.join(format!("blobs/chunks/gc-game/{}/{orphan_id}", &orphan_id[..2]));
    assert!(blob.exists());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while blob.exists() {
        assert!(std::time::Instant::now() < deadline, "the orphan chunk was not collected");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Released chunks stay, and the release still installs.
    let player = game.player().await;
    let install = tempfile::tempdir().unwrap();
    let p = pull(&origin.url, "gc-game", "stable", &player.token().unwrap(), publisher.trusted(), install.path()).await;
    assert_eq!(p.chunks_downloaded, r.chunks_total);
}

/// Runs the `aethex-cdn` binary with `--json` and returns its JSON lines.
fn cdn(args: &[&str], env: &[(&str, &str)]) -> Vec<Value> {
    let out = std::process::Command::new(aethex_tests::edges::sibling_bin("aethex-cdn"))
        .arg("--json")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run aethex-cdn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "aethex-cdn {args:?} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[tokio::test]
async fn the_cli_publishes_and_installs() {
    let origin = Origin::start(&[]);
    let game = origin.game("cli-game").await;
    let key: Value = game.developer.request(Method::POST, "/api/v1/games/cli-game/server-keys", Some(&json!({"name": "ci"})), true).await.unwrap();
    let server_key = key["key"].as_str().unwrap().to_string();
    let work = tempfile::tempdir().unwrap();
    let (src, keyfile, install) = (work.path().join("src"), work.path().join("signing.json"), work.path().join("install"));
    write_tree(&src, 21);
    let env = [("AETHEX_SERVER_KEY", server_key.as_str())];
    cdn(&["keys", "generate", "--out", keyfile.to_str().unwrap()], &[]);
    cdn(&["keys", "register", "--origin", &origin.url, "--key", keyfile.to_str().unwrap(), "--game", "cli-game", "--name", "ci"], &env);
    let publish = |version: &'static str| {
        let (src, keyfile, url) = (src.clone(), keyfile.clone(), origin.url.clone());
        move || {
            cdn(
                &["publish", src.to_str().unwrap(), "--origin", &url, "--game", "cli-game", "--version", version, "--key", keyfile.to_str().unwrap()],
                &env,
            )
        }
    };
    let first = publish("1.0.0")();
    let report = &first.last().expect("a publish report")["publish"];
    assert!(report["chunks_uploaded"].as_u64().unwrap() > 0, "{report}");
    let again = publish("1.0.1")();
    assert_eq!(again.last().unwrap()["publish"]["chunks_uploaded"], 0, "an unchanged build uploads nothing");

    let player = game.player().await;
    let token = player.token().unwrap();
    let pull = |dir: &std::path::Path| {
        cdn(&["pull", "--url", &origin.url, "--game", "cli-game", "--dir", dir.to_str().unwrap()], &[("AETHEX_TOKEN", token.as_str())])
    };
    let got = pull(&install);
    assert_eq!(got.last().unwrap()["pull"]["version"], "1.0.1", "{got:?}");
    let manifest = install.join(".aethex/installed.json");
    assert!(manifest.exists());
    let (_, m) = aethex_cdn::pull::installed(&install).unwrap().unwrap();
    assert!(aethex_cdn::verify_dir(&install, &m).unwrap().ok());
    // A second pull finds nothing to do.
    assert_eq!(pull(&install).last().unwrap()["pull"]["up_to_date"], true);
}
