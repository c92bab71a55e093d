//! `warden verify --provenance` input: arbitrary bytes as a DSSE envelope
//! of SLSA provenance. Without the signing key nothing may verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_artifact::keys::{Algorithm, SigningKey};

fuzz_target!(|data: &[u8]| {
    let Ok(key) = SigningKey::generate(Algorithm::EcdsaP256) else { return };
    let digest = warden_core::Digest::of(b"model");
    assert!(
        warden::pipeline::provenance::verify(data, &key.public_key(), "model.onnx", &digest)
            .is_err()
    );
});
