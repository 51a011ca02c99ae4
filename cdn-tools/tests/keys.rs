//! Key files and manifest signatures.

mod common;

use aethex_cdn::keys::KeyFile;
use aethex_cdn::{build, verify_manifest, Error, KeyPair, TrustedKey};
use common::{opts, testkit, GAME};

#[test]
fn key_files_are_private_never_overwritten_by_accident_and_read_back() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("signing.json");
    let k = KeyPair::generate();
    k.write(&p, false).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&p).unwrap();
    let f: KeyFile = serde_json::from_str(&text).unwrap();
    assert_eq!((f.key_id.len(), f.key_id.as_str()), (16, k.key_id()));
    assert_eq!(f.key_id, aethex_cdn::key_id_of(&TrustedKey::from_b64(&f.public_key).unwrap().key));
    assert!(matches!(KeyPair::generate().write(&p, false), Err(Error::Io { .. })));
    let back = KeyPair::read(&p).unwrap();
    assert_eq!((back.key_id(), back.public_key()), (k.key_id(), k.public_key()));
    // A key file whose halves do not match is refused.
    let other = KeyPair::generate().to_file();
    let bad = KeyFile { public_key: other.public_key, ..f };
    assert!(matches!(KeyPair::from_file(&bad), Err(Error::Key(_))));
}

#[test]
fn only_the_exact_text_signed_by_a_trusted_key_for_this_game_verifies() {
    let t = tempfile::tempdir().unwrap();
    testkit::write_tree(&t.path().join("src"), 5, 4);
    let b = build(&t.path().join("src"), &t.path().join("out"), GAME, "1.2.3", "beta", &opts()).unwrap();
    let key = KeyPair::generate();
    let signed = key.sign(&b.manifest);
    assert_eq!(signed.manifest, b.text);
    let trusted = [TrustedKey::from_b64(&KeyPair::generate().public_key()).unwrap(), key.trusted()];
    assert_eq!(verify_manifest(&signed, &trusted, GAME).unwrap(), b.manifest);

    // One byte changed in the text.
    let mut tampered = signed.clone();
    tampered.manifest = tampered.manifest.replacen("\"1.2.3\"", "\"1.2.4\"", 1);
    assert_ne!(tampered.manifest, signed.manifest);
    assert!(matches!(verify_manifest(&tampered, &trusted, GAME), Err(Error::Signature(_))));
    // Same meaning, different text (pretty-printed): still refused.
    let mut reformatted = signed.clone();
    reformatted.manifest = serde_json::to_string_pretty(&b.manifest).unwrap();
    assert!(matches!(verify_manifest(&reformatted, &trusted, GAME), Err(Error::Signature(_))));
    // Another key, even under the trusted key's id.
    let mut forged = KeyPair::generate().sign(&b.manifest);
    forged.key_id = key.key_id().to_string();
    assert!(matches!(verify_manifest(&forged, &trusted, GAME), Err(Error::Signature(_))));
    // No keys, a garbled signature.
    assert!(matches!(verify_manifest(&signed, &[], GAME), Err(Error::Signature(_))));
    let mut garbled = signed.clone();
    garbled.signature.truncate(10);
    assert!(matches!(verify_manifest(&garbled, &trusted, GAME), Err(Error::Signature(_))));
    // A validly signed manifest of another game.
    assert!(matches!(verify_manifest(&signed, &trusted, "other-game"), Err(Error::WrongGame { .. })));
    // Signed garbage and signed invalid manifests are refused after the signature check.
    assert!(matches!(verify_manifest(&key.sign_text("not json".into()), &trusted, GAME), Err(Error::Json { .. })));
    let mut escaping = b.manifest.clone();
    escaping.files[0].path = "../../etc/evil".into();
    assert!(matches!(verify_manifest(&key.sign(&escaping), &trusted, GAME), Err(Error::BadManifest(_))));
    escaping.files[0].path = "/etc/evil".into();
    assert!(matches!(verify_manifest(&key.sign(&escaping), &trusted, GAME), Err(Error::BadManifest(_))));
}
