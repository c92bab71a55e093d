//! Signed notes, checkpoints and verifier keys from arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_artifact::note::{Checkpoint, NoteSigner, NoteVerifier};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = NoteVerifier::from_vkey(text);
    let _ = Checkpoint::parse(text);
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let signer = NoteSigner::new("fuzz", &key).expect("valid name");
    let verifier = signer.verifier();
    if let Ok(opened) = verifier.open(text) {
        // Only a note this key signed can open; its text must round-trip.
        assert!(text.starts_with(opened));
    }
    if let Ok(note) = signer.sign(text) {
        assert_eq!(verifier.open(&note).expect("own signature"), text);
    }
});
