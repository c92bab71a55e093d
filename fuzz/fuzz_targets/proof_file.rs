//! `warden audit check-proof` input: arbitrary JSON proof files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden::{NoteVerifier, ProofFile};

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = serde_json::from_slice::<ProofFile>(data) else { return };
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let verifier = NoteVerifier::new("fuzz", key.verifying_key());
    // A forged proof must be an error, never a panic or a success.
    assert!(warden::check_proof(&proof, &verifier).is_err());
});
