//! ONNX import: arbitrary bytes as a model file, then (if it decodes) the
//! plan built for a 4-feature, 3-class schema, and, when every input is a
//! column, for one feature per input (with one record predicted).
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_ml::Predictor;
use warden_ml::onnx::{OnnxColumn, OnnxPredictor, OnnxSpec, prepare};

fuzz_target!(|data: &[u8]| {
    let Ok((bytes, info)) = prepare(data, None) else { return };
    let classes: Vec<String> = vec!["x".into(), "y".into(), "z".into()];
    let spec = OnnxSpec {
        input: "input".into(),
        probabilities: "probabilities".into(),
        features: vec!["a".into(), "b".into(), "c".into(), "d".into()],
        classes: classes.clone(),
        columns: Vec::new(),
    };
    let _ = OnnxPredictor::new(&bytes, spec);
    let Ok(columns) = info
        .input_types
        .iter()
        .map(OnnxColumn::for_input)
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    let spec = OnnxSpec {
        input: String::new(),
        probabilities: "probabilities".into(),
        features: columns.iter().map(|c| c.input.clone()).collect(),
        classes,
        columns,
    };
    if let Ok(p) = OnnxPredictor::new(&bytes, spec) {
        let record: serde_json::Map<String, serde_json::Value> = p
            .inputs()
            .into_iter()
            .map(|(name, _)| (name.to_string(), serde_json::json!(1.5)))
            .collect();
        let _ = p.predict_json(&[record]);
    }
});
