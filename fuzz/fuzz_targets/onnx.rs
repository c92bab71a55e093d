//! ONNX import: arbitrary bytes as a model file, then (if it decodes) the
//! plan built for a 4-feature, 3-class schema.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_ml::onnx::{OnnxPredictor, OnnxSpec, prepare};

fuzz_target!(|data: &[u8]| {
    let Ok((bytes, _)) = prepare(data, None) else { return };
    let spec = OnnxSpec {
        input: "input".into(),
        probabilities: "probabilities".into(),
        features: vec!["a".into(), "b".into(), "c".into(), "d".into()],
        classes: vec!["x".into(), "y".into(), "z".into()],
        columns: Vec::new(),
    };
    let _ = OnnxPredictor::new(&bytes, spec);
});
