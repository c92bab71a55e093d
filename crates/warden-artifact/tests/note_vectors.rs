//! The C2SP signed-note reference vector (Go's `note` package example) and a
//! checkpoint signed with the same key, from `rfc6962-vectors.json`.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use warden_artifact::note::{Checkpoint, NoteSigner, NoteVerifier};

fn vectors() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../warden-store/tests/data/rfc6962-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn signer_seed(skey: &str) -> [u8; 32] {
    // PRIVATE+KEY+<name>+<id>+base64(0x01 || seed)
    let b64 = skey.splitn(5, '+').nth(4).unwrap();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(blob[0], 1);
    blob[1..].try_into().unwrap()
}

#[test]
fn reproduces_the_go_note_example() {
    let v = vectors();
    let n = &v["signed_note_ed25519"];
    let verifier = NoteVerifier::from_vkey(n["verifier_key"].as_str().unwrap()).unwrap();
    let note = n["note"].as_str().unwrap();
    assert_eq!(verifier.open(note).unwrap(), n["text"].as_str().unwrap());
    let tampered = note.replacen(
        n["text"].as_str().unwrap(),
        n["tampered_text_must_fail"].as_str().unwrap(),
        1,
    );
    assert!(verifier.open(&tampered).is_err());

    let key =
        ed25519_dalek::SigningKey::from_bytes(&signer_seed(n["signer_key"].as_str().unwrap()));
    let signer = NoteSigner::new("PeterNeumann", &key).unwrap();
    assert_eq!(
        signer.verifier().vkey(),
        n["verifier_key"].as_str().unwrap()
    );
    assert_eq!(signer.sign(n["text"].as_str().unwrap()).unwrap(), note);
}

#[test]
fn reproduces_the_derived_checkpoint() {
    let v = vectors();
    let c = &v["checkpoint_example_derived"];
    let key = ed25519_dalek::SigningKey::from_bytes(&signer_seed(
        v["signed_note_ed25519"]["signer_key"].as_str().unwrap(),
    ));
    let signer = NoteSigner::new("PeterNeumann", &key).unwrap();
    let root: [u8; 32] = hex::decode(v["roots_by_tree_size"]["8"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let cp = Checkpoint {
        origin: c["origin"].as_str().unwrap().into(),
        size: 8,
        root,
        extensions: vec![],
    };
    let note = signer.sign(&cp.to_text()).unwrap();
    assert_eq!(note, c["note"].as_str().unwrap());
    let text = signer.verifier().open(&note).unwrap();
    assert_eq!(Checkpoint::parse(text).unwrap(), cp);
}
