//! The model package loader: arbitrary manifest and safetensors bytes. The
//! first byte picks how the input is split between the files.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use warden_artifact::package::{self, MANIFEST_FILE, PROFILE_FILE, WEIGHTS_FILE};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let cut = (split as usize * rest.len()) / 256;
    let (manifest, weights) = rest.split_at(cut);
    // Weights alone, against a fixed declaration.
    let declared = serde_json::from_str(r#"{"coef": {"dtype": "F64", "shape": [1, 3]}, "intercept": {"dtype": "F64", "shape": [1]}}"#)
        .unwrap_or_default();
    let _ = package::decode_weights(weights, &declared);
    // The whole package, with a fuzzed manifest.
    let files = BTreeMap::from([
        (MANIFEST_FILE.to_string(), manifest.to_vec()),
        (WEIGHTS_FILE.to_string(), weights.to_vec()),
        (PROFILE_FILE.to_string(), b"{}".to_vec()),
    ]);
    if let Ok(p) = package::parse(&files) {
        // Whatever parses, the engine's model builder must refuse or accept without panicking.
        let _ = warden::predictor_from_package(&p);
    }
});
