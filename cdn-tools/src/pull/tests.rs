//! Crash points of the switch-over: after a crash at any step, `recover` leaves exactly
//! the new release; before the journal, the old release is untouched.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::testkit::{self, copy_dir, snapshot};
use crate::{build, BuildOptions, DirSource, KeyPair};

const GAME: &str = "crash-test";

fn release(dir: &Path, mirror: &Path, version: &str, key: &KeyPair) -> Manifest {
    let b = build(dir, mirror, GAME, version, "stable", &BuildOptions::default()).unwrap();
    crate::write_release(mirror, &key.sign_text(b.text.clone()), &b.manifest, key, None).unwrap();
    b.manifest
}

fn opts() -> PullOptions {
    PullOptions { retry_base: Duration::from_millis(1), ..PullOptions::default() }
}

#[tokio::test]
async fn a_crash_at_any_step_of_the_switch_over_rolls_forward_to_the_whole_new_release() {
    let t = tempfile::tempdir().unwrap();
    let (v1, v2, mirror, template) = (t.path().join("v1"), t.path().join("v2"), t.path().join("mirror"), t.path().join("template"));
    testkit::write_tree(&v1, 11, 4);
    copy_dir(&v1, &v2);
    let mut r = testkit::rng(12);
    testkit::edit_scattered(&v2.join("data/level1.pak"), &mut r, 3);
    testkit::write(&v2, "data/new/added.bin", &testkit::random_bytes(&mut r, 100_000));
    std::fs::remove_file(v2.join("locale/fr.txt")).unwrap();
    std::fs::remove_file(v2.join("data/sub/deep/config.json")).unwrap();
    std::fs::remove_file(v2.join("empty.dat")).unwrap();
    testkit::write(&v2, "empty.dat/now-a-folder.txt", b"x");
    let key = KeyPair::generate();
    let src = DirSource::new(&mirror);
    release(&v1, &mirror, "1", &key);
    pull(&src, GAME, &template, &opts()).await.unwrap();
    let m2 = release(&v2, &mirror, "2", &key);
    let staged = pull(&src, GAME, &template, &PullOptions { apply: false, ..opts() }).await.unwrap();
    assert!(!staged.applied);
    let (old, new) = (snapshot(&v1), snapshot(&v2));
    assert_eq!(snapshot(&template), old);

    let journal: Journal = read_json(&Layout::new(&template).journal()).unwrap().unwrap();
    assert_eq!((journal.renames.len(), journal.deletes.len()), (3, 3), "{journal:?}");
    let mut crashed_at = 0;
    for k in 1.. {
        let dir = t.path().join(format!("crash-{k}"));
        copy_dir(&template, &dir);
        let layout = Layout::new(&dir);
        match apply_journal(&layout, &journal, Some(k)) {
            Ok(()) => break,
            Err(e) => assert!(e.to_string().contains("simulated crash"), "{e}"),
        }
        crashed_at = k;
        // A launcher sees the switch is unfinished...
        assert_eq!(pending(&dir).unwrap().as_deref(), Some("2"));
        // ...and a crash during recovery is no worse.
        assert!(apply_journal(&layout, &journal, Some(1)).is_err());
        assert_eq!(recover(&dir).unwrap().as_deref(), Some("2"), "step {k}");
        assert_eq!(snapshot(&dir), new, "after a crash at step {k}");
        assert!(crate::verify_dir(&dir, &m2).unwrap().ok());
        assert_eq!(installed(&dir).unwrap().unwrap().0.version, "2");
        assert!(!dir.join(".aethex/journal.json").exists() && !dir.join(".aethex/staging").exists());
    }
    // Every rename, every deletion and the state file were crash points.
    assert_eq!(crashed_at, 3 + 3 + 1);
}

#[tokio::test]
async fn a_crash_before_the_journal_leaves_the_old_release_untouched() {
    let t = tempfile::tempdir().unwrap();
    let (v1, v2, mirror, install) = (t.path().join("v1"), t.path().join("v2"), t.path().join("mirror"), t.path().join("install"));
    testkit::write_tree(&v1, 21, 4);
    copy_dir(&v1, &v2);
    testkit::edit_scattered(&v2.join("data/level2.pak"), &mut testkit::rng(22), 5);
    std::fs::remove_file(v2.join("readme.txt")).unwrap();
    let key = KeyPair::generate();
    let src = DirSource::new(&mirror);
    release(&v1, &mirror, "1", &key);
    pull(&src, GAME, &install, &opts()).await.unwrap();
    release(&v2, &mirror, "2", &key);
    // Stop in the middle of staging (as a crash would: nothing after it runs).
    let stop_staging: ProgressFn =
        Arc::new(|p: &Progress| if p.phase == Phase::Staging && p.files_done >= 1 { Control::Abort } else { Control::Continue });
    let e = pull(&src, GAME, &install, &PullOptions { progress: Some(stop_staging), ..opts() }).await.unwrap_err();
    assert!(matches!(e, Error::Aborted), "{e}");
    assert_eq!(snapshot(&install), snapshot(&v1));
    assert_eq!(pending(&install).unwrap(), None);
    assert_eq!(installed(&install).unwrap().unwrap().0.version, "1");
    // The next pull discards the partial staging and finishes from the cache.
    let r = pull(&src, GAME, &install, &opts()).await.unwrap();
    assert_eq!((r.chunks_downloaded, r.chunks_from_cache > 0), (0, true), "{r:?}");
    assert_eq!(snapshot(&install), snapshot(&v2));
}
