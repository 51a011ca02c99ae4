//! The publish client's local checks (the origin round trips are covered by the
//! end-to-end suite against a real origin).

mod common;

use aethex_cdn::publish::{check_target, publish, read_build};
use aethex_cdn::{build, Error, KeyPair, Origin, PublishOptions};
use common::{opts, testkit, GAME};

#[test]
fn a_build_publishes_only_as_the_release_it_was_built_for() {
    let t = tempfile::tempdir().unwrap();
    testkit::write_tree(&t.path().join("src"), 8, 4);
    let b = build(&t.path().join("src"), &t.path().join("out"), GAME, "2.0.0", "beta", &opts()).unwrap();
    let (m, _) = read_build(&t.path().join("out")).unwrap();
    assert_eq!(m, b.manifest);
    check_target(&m, GAME, "beta", "2.0.0").unwrap();
    for (g, c, v) in [("other-game", "beta", "2.0.0"), (GAME, "stable", "2.0.0"), (GAME, "beta", "2.0.1")] {
        let e = check_target(&m, g, c, v).unwrap_err();
        assert!(e.to_string().contains("build it again"), "{e}");
    }
}

#[tokio::test]
async fn a_build_folder_missing_chunks_is_refused_before_origin_is_asked() {
    let t = tempfile::tempdir().unwrap();
    testkit::write_tree(&t.path().join("src"), 9, 4);
    let b = build(&t.path().join("src"), &t.path().join("out"), GAME, "1", "stable", &opts()).unwrap();
    std::fs::remove_file(b.store.path(&b.manifest.chunks[3].id).unwrap()).unwrap();
    // Nothing listens on port 1: a request would fail with a transport error instead.
    let origin = Origin::new("http://127.0.0.1:1", "aethex_sk_test").unwrap();
    let e = publish(&origin, &b.manifest, &b.store, &KeyPair::generate(), &PublishOptions::default()).await.unwrap_err();
    assert!(matches!(&e, Error::BadChunk { id, .. } if *id == b.manifest.chunks[3].id), "{e}");
    // With every chunk present it gets as far as origin.
    let b = build(&t.path().join("src"), &t.path().join("out"), GAME, "1", "stable", &opts()).unwrap();
    let e = publish(&origin, &b.manifest, &b.store, &KeyPair::generate(), &PublishOptions::default()).await.unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e}");
    assert!(Origin::new("http://127.0.0.1:1", " ").is_err());
}
