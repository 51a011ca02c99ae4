//! build, verify, determinism, path refusals, diff.

mod common;

use std::fs;

use aethex_cdn::store::decode_verified;
use aethex_cdn::verify::Mismatch;
use aethex_cdn::{build, diff, verify_dir, BuildOptions, Error};
use common::testkit::{self, edit_scattered, insert_scattered, write_tree};
use common::{opts, GAME};

#[test]
fn build_then_verify_round_trips_and_chunks_reassemble_every_file() {
    let t = tempfile::tempdir().unwrap();
    let (src, out) = (t.path().join("src"), t.path().join("out"));
    write_tree(&src, 1, 8);
    let b = build(&src, &out, GAME, "1.0.0", "stable", &opts()).unwrap();
    let m = &b.manifest;
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "bin/game",
            "data/copy-of-level1.pak",
            "data/level1.pak",
            "data/level2.pak",
            "data/sub/deep/config.json",
            "empty.dat",
            "locale/en.txt",
            "locale/fr.txt",
            "readme.txt"
        ]
    );
    // The duplicate file costs nothing: the same chunks.
    assert_eq!(m.files[1].chunks, m.files[2].chunks);
    assert!(m.files[5].chunks.is_empty() && m.files[5].size == 0);
    #[cfg(unix)]
    assert_eq!((m.files[0].mode, m.files[8].mode), (0o755, 0o644));
    // Text compresses, random data is stored as is.
    assert!(m.chunks.iter().any(|c| c.compression == aethex_cdn::Compression::Zstd && c.stored_size < c.size / 2));
    assert!(m.chunks.iter().any(|c| c.compression == aethex_cdn::Compression::Identity));
    assert!(m.chunks.iter().all(|c| c.size <= 256 * 1024));
    assert_eq!(fs::read_to_string(out.join("manifest.json")).unwrap(), b.text);

    // Every file is its chunks, as stored.
    for f in &m.files {
        let mut bytes = Vec::new();
        for &ci in &f.chunks {
            let c = &m.chunks[ci as usize];
            bytes.extend(decode_verified(c, &b.store.get(&c.id).unwrap(), c.compression).unwrap());
        }
        assert_eq!(bytes, fs::read(src.join(&f.path)).unwrap(), "{}", f.path);
    }

    let r = verify_dir(&src, m).unwrap();
    assert!(r.ok() && r.files_ok == 9 && r.extra.is_empty(), "{r:?}");

    // Verify reports what is wrong.
    edit_scattered(&src.join("data/level2.pak"), &mut testkit::rng(9), 1);
    fs::remove_file(src.join("locale/fr.txt")).unwrap();
    fs::write(src.join("readme.txt"), b"hello, world\n").unwrap();
    fs::write(src.join("extra.txt"), b"mine").unwrap();
    let r = verify_dir(&src, m).unwrap();
    assert!(!r.ok());
    assert!(
        matches!(&r.mismatches[..], [Mismatch::Content { path: a, .. }, Mismatch::Missing { path: b }, Mismatch::Size { path: c, .. }]
        if a == "data/level2.pak" && b == "locale/fr.txt" && c == "readme.txt"),
        "{:?}",
        r.mismatches
    );
    assert_eq!(r.extra, ["extra.txt"]);
}

#[test]
fn the_same_tree_builds_to_the_same_manifest_and_chunks_whatever_the_thread_count() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    write_tree(&src, 2, 6);
    let one = build(&src, &t.path().join("a"), GAME, "1", "stable", &BuildOptions { workers: 1, ..opts() }).unwrap();
    let four = build(&src, &t.path().join("b"), GAME, "1", "stable", &BuildOptions { workers: 4, ..opts() }).unwrap();
    assert_eq!(one.text, four.text);
    assert_eq!(testkit::snapshot(&t.path().join("a")), testkit::snapshot(&t.path().join("b")));
    // created_at aside, a later build is the same too.
    let later = build(&src, &t.path().join("c"), GAME, "1", "stable", &BuildOptions::default()).unwrap();
    assert_eq!(later.manifest.files, one.manifest.files);
    assert_eq!(later.manifest.chunks, one.manifest.chunks);
    // Building again into the same folder writes nothing new.
    let again = build(&src, &t.path().join("a"), GAME, "1", "stable", &opts()).unwrap();
    assert_eq!((again.chunks_written, one.chunks_written > 0), (0, true));
}

#[test]
fn what_a_manifest_cannot_hold_is_refused_with_its_path() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let refused = |src: &std::path::Path| match build(src, &out, GAME, "1", "stable", &opts()) {
        Err(Error::Refused { path, reason }) => format!("{path}: {reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    };
    #[cfg(unix)]
    {
        let src = t.path().join("s1");
        testkit::write(&src, "a/real.pak", b"data");
        std::os::unix::fs::symlink("/etc/passwd", src.join("a/out-link")).unwrap();
        let e = refused(&src);
        assert!(e.starts_with("a/out-link: ") && e.contains("outside the tree"), "{e}");

        let src = t.path().join("s2");
        testkit::write(&src, "a/real.pak", b"data");
        std::os::unix::fs::symlink("real.pak", src.join("a/in-link")).unwrap();
        let e = refused(&src);
        assert!(e.starts_with("a/in-link: ") && e.contains("inside the tree"), "{e}");

        let src = t.path().join("s3");
        testkit::write(&src, "dir\\name.pak", b"x");
        assert!(refused(&src).starts_with("dir\\name.pak"));
    }
    let src = t.path().join("s4");
    testkit::write(&src, "Data/A.pak", b"x");
    testkit::write(&src, "data/a.pak", b"y");
    if fs::read_dir(&src).unwrap().count() == 2 {
        // A case-sensitive file system: the two would collide on players' disks.
        assert!(refused(&src).contains("only by case"));
    }
    // The client's state folder is not part of a build.
    let src = t.path().join("s5");
    testkit::write(&src, "game.pak", b"x");
    testkit::write(&src, ".aethex/installed.json", b"{}");
    let b = build(&src, &out, GAME, "1", "stable", &opts()).unwrap();
    assert_eq!(b.manifest.files.len(), 1);
    // Bad names for the release are refused before any work.
    assert!(matches!(build(&src, &out, "Bad Game", "1", "stable", &opts()), Err(Error::Invalid(_))));
    assert!(matches!(build(&src, &out, GAME, "1/../2", "stable", &opts()), Err(Error::Invalid(_))));
    // An output folder inside the tree is refused before it is created.
    assert!(matches!(build(&src, &src.join("out/nested"), GAME, "1", "stable", &opts()), Err(Error::Invalid(_))));
    assert!(!src.join("out").exists());
}

#[test]
fn scattered_edits_and_insertions_cost_a_small_fraction_of_a_full_download() {
    let t = tempfile::tempdir().unwrap();
    let (v1, v2, out) = (t.path().join("v1"), t.path().join("v2"), t.path().join("out"));
    write_tree(&v1, 3, 24);
    testkit::copy_dir(&v1, &v2);
    let mut r = testkit::rng(33);
    edit_scattered(&v2.join("data/level1.pak"), &mut r, 10);
    insert_scattered(&v2.join("data/level2.pak"), &mut r, 5, 1000);
    edit_scattered(&v2.join("data/sub/deep/config.json"), &mut r, 3);
    fs::remove_file(v2.join("locale/fr.txt")).unwrap();
    testkit::write(&v2, "locale/de.txt", &testkit::text_bytes(&mut r, 50_000));
    let a = build(&v1, &out, GAME, "1", "stable", &opts()).unwrap();
    let b = build(&v2, &out, GAME, "2", "stable", &opts()).unwrap();
    let d = diff(&a.manifest, &b.manifest);
    assert_eq!(d.added, ["locale/de.txt"]);
    assert_eq!(d.removed, ["locale/fr.txt"]);
    assert_eq!(d.changed, ["data/level1.pak", "data/level2.pak", "data/sub/deep/config.json"]);
    assert_eq!(d.unchanged, 5);
    // 18 edits touch at most ~2 chunks each (64 KiB average) of a ~24 MiB build.
    let frac = d.download_fraction();
    assert!(frac > 0.0 && frac < 0.15, "downloading {:.1}% of the build", frac * 100.0);
    assert!(d.download_chunks <= 2 * 18 + 2, "{} chunks", d.download_chunks);
    // Chunks of the new build that the old lacks are exactly the ones written second.
    assert_eq!(d.download_chunks, b.chunks_written);
    assert_eq!(diff(&b.manifest, &b.manifest).download_bytes, 0);
}
