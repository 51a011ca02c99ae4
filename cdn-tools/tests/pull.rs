//! The patching client over a local mirror folder (the real `DirSource`, wrapped to count
//! fetches and corrupt first attempts).

mod common;

use std::collections::HashSet;
use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aethex_cdn::pull::{pending, Trust};
use aethex_cdn::{pull, recover, verify_dir, Control, Error, KeyPair, Phase, PullOptions};
use common::testkit::{self, edit_scattered, insert_scattered, snapshot, write_tree};
use common::{release, Counting, GAME};

fn fast() -> PullOptions {
    PullOptions { retry_base: Duration::from_millis(1), ..PullOptions::default() }
}

struct Setup {
    _t: tempfile::TempDir,
    v1: std::path::PathBuf,
    v2: std::path::PathBuf,
    mirror: std::path::PathBuf,
    install: std::path::PathBuf,
    key: KeyPair,
}

/// v1 and an edited v2 of a ~`mib` MiB game; the mirror holds v1's release.
fn setup(mib: usize) -> Setup {
    let t = tempfile::tempdir().unwrap();
    let (v1, v2, mirror, install) = (t.path().join("v1"), t.path().join("v2"), t.path().join("mirror"), t.path().join("install"));
    write_tree(&v1, 7, mib);
    testkit::copy_dir(&v1, &v2);
    let mut r = testkit::rng(77);
    edit_scattered(&v2.join("data/level1.pak"), &mut r, 6);
    insert_scattered(&v2.join("data/level2.pak"), &mut r, 3, 500);
    fs::remove_file(v2.join("locale/fr.txt")).unwrap();
    fs::remove_file(v2.join("readme.txt")).unwrap();
    testkit::write(&v2, "readme.txt/inside", b"readme became a folder\n");
    testkit::write(&v2, "locale/de.txt", &testkit::text_bytes(&mut r, 40_000));
    let key = KeyPair::generate();
    release(&v1, &mirror, "1.0.0", &key);
    Setup { _t: t, v1, v2, mirror, install, key }
}

#[tokio::test]
async fn a_fresh_install_from_a_mirror_then_an_update_fetches_only_missing_chunks() {
    let s = setup(8);
    let src = Counting::new(&s.mirror);
    let r = pull(&src, GAME, &s.install, &fast()).await.unwrap();
    let (_, m1) = aethex_cdn::pull::installed(&s.install).unwrap().unwrap();
    assert!(r.applied && !r.up_to_date && r.trust == Some(Trust::FirstUse), "{r:?}");
    assert_eq!((r.version.as_str(), r.previous.as_deref()), ("1.0.0", None));
    assert_eq!(snapshot(&s.install), snapshot(&s.v1));
    assert!(verify_dir(&s.install, &m1).unwrap().ok());
    // Every chunk once (the duplicate file shares its chunks).
    let fetched = src.take();
    assert_eq!(fetched.len() as u64, m1.totals.chunks);
    assert!(fetched.values().all(|&n| n == 1));
    assert_eq!(r.bytes_downloaded, m1.totals.stored_bytes);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(s.install.join("bin/game")).unwrap().permissions().mode() & 0o777, 0o755);
    }
    // Keys pinned on first use; state and scratch folders as documented.
    let aethex = s.install.join(".aethex");
    assert!(aethex.join("trusted_keys.json").is_file() && aethex.join("installed.json").is_file());
    assert!(!aethex.join("journal.json").exists() && !aethex.join("staging").exists() && !aethex.join("chunks").exists());

    // A damaged state file: the files are checked by hash instead, nothing is fetched.
    let state = s.install.join(".aethex/installed.json");
    let saved = fs::read(&state).unwrap();
    fs::write(&state, b"{not json").unwrap();
    let r = pull(&src, GAME, &s.install, &fast()).await.unwrap();
    assert_eq!((r.files_unchanged, r.files_written, src.total()), (m1.totals.files, 0, 0), "{r:?}");
    // The state is written again (same release; only installed_at may differ).
    let (again, _) = aethex_cdn::pull::installed(&s.install).unwrap().unwrap();
    let before: aethex_cdn::pull::InstalledState = serde_json::from_slice(&saved).unwrap();
    assert_eq!(again.signed, before.signed);

    // Nothing new: nothing fetched, nothing written.
    let r = pull(&src, GAME, &s.install, &fast()).await.unwrap();
    assert!(r.up_to_date && r.trust == Some(Trust::Pinned), "{r:?}");
    assert_eq!(src.total(), 0);

    // A player's own file is left alone by updates.
    testkit::write(&s.install, "saves/slot1.sav", b"mine");
    let b2 = release(&s.v2, &s.mirror, "1.1.0", &s.key);
    let r = pull(&src, GAME, &s.install, &fast()).await.unwrap();
    let mut want = snapshot(&s.v2);
    want.insert("saves/slot1.sav".into(), blake3::hash(b"mine").to_hex().to_string());
    assert_eq!(snapshot(&s.install), want);
    assert!(verify_dir(&s.install, &b2.manifest).unwrap().ok());
    assert!(!s.install.join("locale/fr.txt").exists());
    assert_eq!((r.previous.as_deref(), r.version.as_str()), (Some("1.0.0"), "1.1.0"));
    assert_eq!((r.files_written, r.files_deleted), (4, 2), "{r:?}");
    // Exactly the chunks v1 did not have.
    let old: HashSet<&str> = m1.chunks.iter().map(|c| c.id.as_str()).collect();
    let expected: HashSet<String> = b2.manifest.chunks.iter().filter(|c| !old.contains(c.id.as_str())).map(|c| c.id.clone()).collect();
    let fetched = src.take();
    assert_eq!(fetched.keys().cloned().collect::<HashSet<_>>(), expected);
    assert!(fetched.values().all(|&n| n == 1));
    assert!(r.chunks_from_install > 0 && (expected.len() as u64) < b2.manifest.totals.chunks / 4, "{r:?}");
}

#[tokio::test]
async fn a_corrupted_chunk_is_rejected_and_fetched_again() {
    let s = setup(4);
    let mut src = Counting::new(&s.mirror);
    src.corrupt_first = 1;
    let r = pull(&src, GAME, &s.install, &fast()).await.unwrap();
    assert_eq!(snapshot(&s.install), snapshot(&s.v1));
    let fetched = src.take();
    assert!(fetched.values().all(|&n| n == 2), "every chunk fetched twice: {fetched:?}");
    assert_eq!(r.retries, fetched.len() as u64);

    // A source that never sends good bytes fails after its retries, leaving the install as it was.
    let before = snapshot(&s.install);
    release(&s.v2, &s.mirror, "1.1.0", &s.key);
    let mut bad = Counting::new(&s.mirror);
    bad.corrupt_first = usize::MAX;
    let e = pull(&bad, GAME, &s.install, &PullOptions { retries: 2, ..fast() }).await.unwrap_err();
    assert!(matches!(e, Error::BadChunk { .. }), "{e}");
    // The failing chunk was tried 1 + 2 times; others in flight stopped once it failed.
    let tries = bad.take();
    assert_eq!(tries.values().max(), Some(&3), "{tries:?}");
    assert_eq!(snapshot(&s.install), before);
}

#[tokio::test]
async fn an_interrupted_pull_resumes_without_downloading_anything_twice() {
    let s = setup(8);
    let src = Counting::new(&s.mirror);
    let seen = Arc::new(AtomicU64::new(0));
    let stop_after = 20;
    let abort = PullOptions {
        concurrency: 4,
        progress: Some(Arc::new({
            let seen = seen.clone();
            move |p: &aethex_cdn::Progress| {
                if p.phase == Phase::Downloading {
                    seen.store(p.chunks_done, Ordering::SeqCst);
                    if p.chunks_done >= stop_after {
                        return Control::Abort;
                    }
                }
                Control::Continue
            }
        })),
        ..fast()
    };
    assert!(matches!(pull(&src, GAME, &s.install, &abort).await, Err(Error::Aborted)));
    let first = src.take();
    assert!(first.len() as u64 >= stop_after && first.len() < 60, "{} fetched before stopping", first.len());
    // Nothing of the game was written.
    assert!(snapshot(&s.install).is_empty());

    let r = pull(&src, GAME, &s.install, &fast()).await.unwrap();
    let second = src.take();
    assert_eq!(r.chunks_from_cache, first.len() as u64);
    assert!(first.keys().all(|id| !second.contains_key(id)), "a chunk was fetched twice");
    let (_, m) = aethex_cdn::pull::installed(&s.install).unwrap().unwrap();
    assert_eq!((first.len() + second.len()) as u64, m.totals.chunks);
    assert_eq!(snapshot(&s.install), snapshot(&s.v1));
}

#[tokio::test]
async fn a_staged_update_waits_in_its_journal_and_recover_rolls_it_forward() {
    let s = setup(4);
    let src = Counting::new(&s.mirror);
    pull(&src, GAME, &s.install, &fast()).await.unwrap();
    let b2 = release(&s.v2, &s.mirror, "1.1.0", &s.key);
    let r = pull(&src, GAME, &s.install, &PullOptions { apply: false, ..fast() }).await.unwrap();
    assert!(!r.applied);
    // Journal written, nothing switched yet: the old release, whole.
    assert_eq!(pending(&s.install).unwrap().as_deref(), Some("1.1.0"));
    assert_eq!(snapshot(&s.install), snapshot(&s.v1));
    assert_eq!(aethex_cdn::pull::installed(&s.install).unwrap().unwrap().0.version, "1.0.0");
    // A crash here; at the next start:
    assert_eq!(recover(&s.install).unwrap().as_deref(), Some("1.1.0"));
    assert_eq!(snapshot(&s.install), snapshot(&s.v2));
    assert!(verify_dir(&s.install, &b2.manifest).unwrap().ok());
    assert_eq!(pending(&s.install).unwrap(), None);
    assert_eq!(recover(&s.install).unwrap(), None);
    // And the next pull has nothing to do.
    src.take();
    assert!(pull(&src, GAME, &s.install, &fast()).await.unwrap().up_to_date);
    assert_eq!(src.total(), 0);
}

#[tokio::test]
async fn without_a_state_file_files_on_disk_are_checked_and_their_chunks_reused() {
    let s = setup(8);
    // An install copied by hand (no .aethex): v1's files.
    testkit::copy_dir(&s.v1, &s.install);
    let b2 = release(&s.v2, &s.mirror, "1.1.0", &s.key);
    let src = Counting::new(&s.mirror);
    // v2 turns readme.txt into a folder; with no state the client cannot know the file is
    // the game's, so it refuses before downloading or journaling anything.
    let e = pull(&src, GAME, &s.install, &fast()).await.unwrap_err();
    assert!(matches!(&e, Error::Integrity { path, .. } if path == "readme.txt"), "{e}");
    assert_eq!((src.total(), pending(&s.install).unwrap()), (0, None));
    assert_eq!(snapshot(&s.install), snapshot(&s.v1));

    fs::remove_file(s.install.join("readme.txt")).unwrap();
    let r = pull(&src, GAME, &s.install, &fast()).await.unwrap();
    assert!(verify_dir(&s.install, &b2.manifest).unwrap().ok());
    // Unchanged files were recognized by hash, changed ones were chunked to find reusable chunks.
    assert_eq!(r.files_unchanged, 5, "{r:?}");
    assert!(r.chunks_from_install > 0, "{r:?}");
    assert!(src.total() as u64 <= b2.manifest.totals.chunks / 4, "fetched {} of {}", src.total(), b2.manifest.totals.chunks);
    // Files v2 no longer lists are not known to be the game's: kept.
    assert!(s.install.join("locale/fr.txt").exists());
}

#[tokio::test]
async fn wrong_game_untrusted_keys_and_paths_under_the_state_folder_are_refused() {
    let s = setup(4);
    let src = Counting::new(&s.mirror);
    let e = pull(&src, "other-game", &s.install, &fast()).await.unwrap_err();
    assert!(matches!(e, Error::WrongGame { .. }), "{e}");
    let stranger = KeyPair::generate().trusted();
    let e = pull(&src, GAME, &s.install, &PullOptions { trusted_keys: vec![stranger], ..fast() }).await.unwrap_err();
    assert!(matches!(e, Error::Signature(_)), "{e}");
    assert_eq!(src.total(), 0);
    // A release signed by another key than the one pinned on first use is refused.
    pull(&src, GAME, &s.install, &fast()).await.unwrap();
    release(&s.v2, &s.mirror, "1.1.0", &KeyPair::generate());
    let e = pull(&src, GAME, &s.install, &fast()).await.unwrap_err();
    assert!(matches!(e, Error::Signature(_)), "{e}");
    // Given keys win over the pin.
    let t = tempfile::tempdir().unwrap();
    testkit::write(t.path(), ".aethex/evil", b"x");
    let b = aethex_cdn::build(t.path(), &s.mirror, GAME, "6", "stable", &common::opts()).unwrap();
    assert!(b.manifest.files.is_empty(), "the builder skips .aethex/");
    let mut m = b.manifest.clone();
    m.files.push(aethex_cdn::FileEntry {
        path: ".aethex/installed.json".into(),
        size: 0,
        mode: 0o644,
        blake3: blake3::hash(b"").to_hex().to_string(),
        chunks: vec![],
    });
    m.totals.files = 1;
    aethex_cdn::write_release(&s.mirror, &s.key.sign(&m), &m, &s.key, None).unwrap();
    let e = pull(&src, GAME, &s.install, &PullOptions { trusted_keys: vec![s.key.trusted()], ..fast() }).await.unwrap_err();
    assert!(matches!(&e, Error::Integrity { path, .. } if path == ".aethex/installed.json"), "{e}");
}

#[test]
fn pull_futures_can_be_spawned() {
    fn is_send<T: Send>(_: &T) {}
    let src = aethex_cdn::HttpSource::new("http://127.0.0.1:1", GAME, "stable", None).unwrap();
    let opts = PullOptions::default();
    let f = pull(&src, GAME, std::path::Path::new("/nonexistent"), &opts);
    is_send(&f);
}

/// Issue 12, hole 6: a manifest's `version` was joined into the staging path before it
/// was checked (an absolute path or `../` wrote outside the install folder), and file
/// modes up to 0o7777 (setuid) were applied as given. Now a validly signed manifest with
/// either is refused at verification, before anything is written.
#[tokio::test]
async fn a_signed_manifest_cannot_write_outside_the_install_or_set_special_mode_bits() {
    let s = setup(1);
    let outside = s._t.path().join("outside");
    let b = aethex_cdn::build(&s.v1, &s.mirror, GAME, "2.0.0", "stable", &common::opts()).unwrap();
    let bad_versions = ["../../outside/x".to_string(), format!("{}/abs", outside.display()), "..".into(), ".".into(), "a/b".into()];
    let bad_modes = [0o4755, 0o2755, 0o1777, 0o7777, 0o100644];
    for (i, bad) in bad_versions.iter().map(|v| (Some(v.clone()), None)).chain(bad_modes.iter().map(|m| (None, Some(*m)))).enumerate() {
        let mut m = b.manifest.clone();
        if let Some(v) = bad.0.clone() {
            m.version = v;
        }
        if let Some(mode) = bad.1 {
            m.files[0].mode = mode;
        }
        aethex_cdn::write_release(&s.mirror, &s.key.sign(&m), &m, &s.key, None).unwrap();
        let install = s._t.path().join(format!("install-{i}"));
        let e = pull(&Counting::new(&s.mirror), GAME, &install, &PullOptions { trusted_keys: vec![s.key.trusted()], ..fast() }).await.unwrap_err();
        assert!(matches!(e, Error::BadManifest(_)), "{bad:?}: {e}");
        assert!(!outside.exists(), "{bad:?} wrote outside the install folder");
        let staged = install.join(".aethex/staging");
        assert!(!staged.exists() || fs::read_dir(&staged).unwrap().next().is_none(), "{bad:?} staged something");
        assert!(!install.join(&b.manifest.files[0].path).exists(), "{bad:?} installed a file");
    }
    // Ordinary permission bits still install as given.
    release(&s.v1, &s.mirror, "3.0.0", &s.key);
    pull(&Counting::new(&s.mirror), GAME, &s.install, &PullOptions { trusted_keys: vec![s.key.trusted()], ..fast() }).await.unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(s.install.join("bin/game")).unwrap().permissions().mode() & 0o7777, 0o755);
}
