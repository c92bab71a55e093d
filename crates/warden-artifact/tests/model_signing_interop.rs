//! Signatures made by the OpenSSF `model_signing` CLI (and an independent
//! re-implementation), from `tests/data/model-signing-interop` (a copy of the
//! project's shared fixture; see its README for how it was made).
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use warden_artifact::model_signing::{ModelKey, ModelSigningError, verify};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/model-signing-interop")
}

fn key(name: &str) -> ModelKey {
    ModelKey::from_pem(&std::fs::read_to_string(fixture().join(name)).unwrap()).unwrap()
}

fn sig(name: &str) -> Vec<u8> {
    std::fs::read(fixture().join(name)).unwrap()
}

/// A writable copy of the fixture's model directory.
fn copy_model() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dest = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &dest);
            } else {
                std::fs::write(&dest, std::fs::read(e.path()).unwrap()).unwrap();
            }
        }
    }
    let t = tempfile::tempdir().unwrap();
    copy(&fixture().join("model"), &t.path().join("model"));
    t
}

const ROOT: &str = "ec521b36a02a6e8e1f1d293e508c4eb71f7362232ae1660efd4ac7fee4096b2b";

#[test]
fn verifies_what_model_signing_made() {
    let model = fixture().join("model");
    for (s, k, root) in [
        ("model.p256.sig", "ec_p256_public.pem", Some(ROOT)),
        ("model.p384.sig", "ec_p384_public.pem", Some(ROOT)),
        ("model.p256.independent.sig", "ec_p256_public.pem", None),
    ] {
        let v = verify(&model, &sig(s), &key(k), None).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(v.files.len(), 7, "{s}");
        assert!(
            v.files.contains_key("a/b.txt")
                && v.files.contains_key("empty.bin")
                && v.files.contains_key(".hidden")
        );
        if let Some(r) = root {
            assert_eq!(v.root_digest, r, "{s}");
        }
    }
    assert_eq!(
        key("ec_p256_public.pem").hint().unwrap(),
        "96124776ae8da2d8dd6b224f5a885b59c56c1781b432313e2ff0a0b9be821868"
    );
}

#[test]
fn rejects_changed_added_and_removed_files() {
    let t = copy_model();
    let m = t.path().join("model");
    let (s, k) = (sig("model.p256.sig"), key("ec_p256_public.pem"));
    assert!(verify(&m, &s, &k, None).is_ok());

    let mut a = std::fs::read(m.join("a.txt")).unwrap();
    a[0] ^= 1;
    std::fs::write(m.join("a.txt"), &a).unwrap();
    assert!(
        matches!(verify(&m, &s, &k, None), Err(ModelSigningError::FileMismatch(f)) if f == "a.txt")
    );
    a[0] ^= 1;
    std::fs::write(m.join("a.txt"), &a).unwrap();

    std::fs::write(m.join("tokenizer/extra.txt"), b"x").unwrap();
    assert!(
        matches!(verify(&m, &s, &k, None), Err(ModelSigningError::ExtraFile(f)) if f == "tokenizer/extra.txt")
    );
    std::fs::remove_file(m.join("tokenizer/extra.txt")).unwrap();

    std::fs::remove_file(m.join("empty.bin")).unwrap();
    assert!(
        matches!(verify(&m, &s, &k, None), Err(ModelSigningError::MissingFile(f)) if f == "empty.bin")
    );
    std::fs::write(m.join("empty.bin"), b"").unwrap();
    assert!(verify(&m, &s, &k, None).is_ok());

    // Warden's own ignore policy: a .git directory is not part of the model,
    // and neither is the signature file placed inside it.
    std::fs::create_dir(m.join(".git")).unwrap();
    std::fs::write(m.join(".git/HEAD"), b"ref").unwrap();
    std::fs::write(m.join("model.sig"), &s).unwrap();
    assert!(verify(&m, &s, &k, Some(&m.join("model.sig"))).is_ok());
}

#[test]
fn rejects_wrong_keys_and_forged_signatures() {
    let model = fixture().join("model");
    let s = sig("model.p256.sig");
    assert!(matches!(
        verify(&model, &s, &key("ec_p384_public.pem"), None),
        Err(ModelSigningError::KeyMismatch { .. })
    ));
    // Drop the hint: the signature itself must then fail under the wrong key.
    let mut b: serde_json::Value = serde_json::from_slice(&s).unwrap();
    b["verificationMaterial"]["publicKey"]["hint"] = serde_json::Value::Null;
    let unhinted = serde_json::to_vec(&b).unwrap();
    assert!(matches!(
        verify(&model, &unhinted, &key("ec_p384_public.pem"), None),
        Err(ModelSigningError::BadSignature)
    ));
    // A payload swapped for another signature's is refused.
    let other: serde_json::Value =
        serde_json::from_slice(&sig("model.p256.independent.sig")).unwrap();
    b["dsseEnvelope"]["payload"] = other["dsseEnvelope"]["payload"].clone();
    b["verificationMaterial"]["publicKey"]["hint"] =
        serde_json::json!("96124776ae8da2d8dd6b224f5a885b59c56c1781b432313e2ff0a0b9be821868");
    assert!(matches!(
        verify(
            &model,
            &serde_json::to_vec(&b).unwrap(),
            &key("ec_p256_public.pem"),
            None
        ),
        Err(ModelSigningError::BadSignature)
    ));
    assert!(matches!(
        verify(&model, b"not json", &key("ec_p256_public.pem"), None),
        Err(ModelSigningError::Malformed(_))
    ));
}

#[test]
fn signs_what_our_verifier_and_the_fixture_key_accept() {
    use p256::pkcs8::DecodePrivateKey;
    let t = copy_model();
    let m = t.path().join("model");
    // The fixture's private key is SEC1 PEM; convert through the secret key.
    let pem = std::fs::read_to_string(fixture().join("test_only_ec_p256_private.pem")).unwrap();
    let sk = p256::SecretKey::from_sec1_pem(&pem)
        .map(p256::ecdsa::SigningKey::from)
        .or_else(|_| p256::ecdsa::SigningKey::from_pkcs8_pem(&pem))
        .unwrap();
    let sk = warden_artifact::keys::SigningKey::EcdsaP256(sk);
    let (bundle, signed) = warden_artifact::model_signing::sign(&m, &sk, None).unwrap();
    assert_eq!(signed.root_digest, ROOT);
    let v = verify(&m, &bundle, &key("ec_p256_public.pem"), None).unwrap();
    // Same files, same order rule, same root as model_signing's own signature.
    assert_eq!(v.root_digest, ROOT);
    std::fs::write(m.join("a.txt"), b"changed").unwrap();
    assert!(verify(&m, &bundle, &key("ec_p256_public.pem"), None).is_err());
}

#[test]
fn signs_with_p384_and_refuses_ed25519() {
    use warden_artifact::keys::{Algorithm, SigningKey};
    use warden_artifact::model_signing::{ModelKey, sign};
    let t = copy_model();
    let m = t.path().join("model");
    let sk = SigningKey::generate(Algorithm::EcdsaP384).unwrap();
    let (bundle, signed) = sign(&m, &sk, None).unwrap();
    assert_eq!(signed.root_digest, ROOT);
    let public = ModelKey::from_pem(&sk.public_key().to_pem().unwrap()).unwrap();
    assert_eq!(
        verify(&m, &bundle, &public, None).unwrap().root_digest,
        ROOT
    );
    // A P-256 key does not verify a P-384 signature.
    assert!(verify(&m, &bundle, &key("ec_p256_public.pem"), None).is_err());
    let ed = SigningKey::generate(Algorithm::Ed25519).unwrap();
    assert!(sign(&m, &ed, None).is_err());
}

#[test]
fn shard_signatures_cover_every_byte_range() {
    use warden_artifact::keys::{Algorithm, SigningKey};
    use warden_artifact::model_signing::{ModelKey, sign_progress};
    let t = copy_model();
    let m = t.path().join("model");
    let sk = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
    let public = ModelKey::from_pem(&sk.public_key().to_pem().unwrap()).unwrap();
    let (bundle, signed) = sign_progress(&m, &sk, None, Some(5), None).unwrap();
    assert_eq!(signed.shard_size, Some(5));
    assert!(
        signed.files.keys().all(|k| k.matches(':').count() >= 2),
        "{:?}",
        signed.files.keys()
    );
    let v = verify(&m, &bundle, &public, None).unwrap();
    assert_eq!(v.root_digest, signed.root_digest);
    // A one-byte change lands in one shard, which is named.
    let a = std::fs::read(m.join("a.txt")).unwrap();
    let mut b = a.clone();
    let last = b.len() - 1;
    b[last] ^= 1;
    std::fs::write(m.join("a.txt"), &b).unwrap();
    let err = verify(&m, &bundle, &public, None).unwrap_err().to_string();
    assert!(err.contains("a.txt:"), "{err}");
    // Appending a byte adds a shard or changes the last one: refused too.
    std::fs::write(m.join("a.txt"), [a.as_slice(), b"x"].concat()).unwrap();
    assert!(verify(&m, &bundle, &public, None).is_err());
    assert!(sign_progress(&m, &sk, None, Some(0), None).is_err());
}
