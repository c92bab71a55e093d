//! ONNX models exported by skl2onnx, run through Warden (tract, or the
//! compiled tree ensemble for the forest), against the probabilities
//! onnxruntime gave for the same rows.
//!
//! The models and `reference.json` are made by `reference/make_onnx.py`
//! (scikit-learn 1.9.1, skl2onnx 1.20.0, onnx 1.23.2, onnxruntime 1.32.0) on
//! the Palmer penguins data: a multinomial logistic regression
//! (LinearClassifier + Normalizer), a random forest (TreeEnsembleClassifier),
//! a binary logistic regression, a binary gradient boosting model
//! (TreeEnsembleClassifier with one base value and LOGISTIC, which tract
//! cannot load), and a logistic regression from standard operators whose
//! weights are external data.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::Value;
use warden_ml::onnx::{OnnxPredictor, OnnxSpec, prepare};
use warden_ml::{FeatureColumn, Frame, Predictor};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx")
}

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("reference.json")).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// A model's feature names (the external-data model uses the dataset's).
fn r_features(m: &Value) -> Value {
    if m["feature_names"].is_array() {
        m["feature_names"].clone()
    } else {
        reference()["feature_names"].clone()
    }
}

fn load(model: &str) -> (OnnxPredictor, Value) {
    let r = reference();
    let m = r["models"][model].clone();
    let file = dir().join(m["file"].as_str().unwrap());
    let (bytes, info) = prepare(&std::fs::read(&file).unwrap(), file.parent()).unwrap();
    assert_eq!(info.inputs, ["input"]);
    let spec = OnnxSpec {
        input: "input".into(),
        probabilities: "probabilities".into(),
        features: strings(&r_features(&m)),
        classes: strings(&m["classes"]),
        columns: Vec::new(),
    };
    (OnnxPredictor::new(&bytes, spec).unwrap(), m)
}

#[test]
fn warden_agrees_with_onnxruntime_on_every_reference_row() {
    for model in ["linear", "forest", "binary", "gboost", "external_ok"] {
        let (p, m) = load(model);
        // The tree ensembles go through the compiled evaluator, the rest
        // through tract, in batches (the graphs treat rows independently).
        let engine = if model == "forest" || model == "gboost" {
            "compiled-trees"
        } else {
            "tract-batched"
        };
        assert_eq!(p.engine(), engine, "{model}");
        // Enough rows for full batches and a remainder: each row's answer
        // is the one it gets alone, and onnxruntime's.
        let features = strings(&r_features(&m));
        let mut all: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
        for set in ["rows", "rows_spread"] {
            let rows = &m[set];
            for (x, w) in rows["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .zip(rows["onnxruntime_probabilities"].as_array().unwrap())
            {
                let x = x
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                let w = w
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                all.push((x, w));
            }
        }
        let many: Vec<&(Vec<f64>, Vec<f64>)> = all.iter().cycle().take(600).collect();
        let mut frame = Frame::default();
        for (j, f) in features.iter().enumerate() {
            frame
                .push(
                    f.clone(),
                    FeatureColumn::Numeric(many.iter().map(|(x, _)| x[j]).collect()),
                )
                .unwrap();
        }
        let probs = p.predict_frame(&frame, 2).unwrap();
        for (i, (x, w)) in many.iter().enumerate() {
            let alone = p.predict_numeric(x).unwrap();
            for k in 0..w.len() {
                assert!(
                    (probs.row(i)[k] - alone[k]).abs() <= 1e-6,
                    "{model} row {i}"
                );
                assert!((probs.row(i)[k] - w[k]).abs() < 1e-5, "{model} row {i}");
            }
        }
        let mut worst: f64 = 0.0;
        for set in ["rows", "rows_spread"] {
            let rows = &m[set];
            let inputs = rows["inputs"].as_array().unwrap();
            let features = strings(&r_features(&m));
            let mut frame = Frame::default();
            for (j, f) in features.iter().enumerate() {
                let col = inputs.iter().map(|r| r[j].as_f64().unwrap()).collect();
                frame.push(f.clone(), FeatureColumn::Numeric(col)).unwrap();
            }
            let probs = p.predict_frame(&frame, 1).unwrap();
            let want = rows["onnxruntime_probabilities"].as_array().unwrap();
            for (i, w) in want.iter().enumerate() {
                for (k, wk) in w.as_array().unwrap().iter().enumerate() {
                    worst = worst.max((probs.row(i)[k] - wk.as_f64().unwrap()).abs());
                }
            }
            // The records path gives the same answer as the frame path.
            let records: Vec<serde_json::Map<String, Value>> = inputs
                .iter()
                .map(|r| {
                    features
                        .iter()
                        .enumerate()
                        .map(|(j, f)| (f.clone(), r[j].clone()))
                        .collect()
                })
                .collect();
            let preds = p.predict_json(&records).unwrap();
            for (i, pr) in preds.iter().enumerate() {
                assert_eq!(pr.probabilities, probs.row(i), "{model} row {i}");
            }
        }
        eprintln!("{model}: worst |warden - onnxruntime| = {worst:.2e}");
        assert!(worst < 1e-5, "{model}: {worst}");
    }
}

#[test]
fn bad_models_and_bad_inputs_are_refused_with_reasons() {
    let err = |r: Result<(Vec<u8>, warden_ml::onnx::OnnxInfo), warden_ml::MlError>| {
        r.err().unwrap().to_string()
    };
    let not = std::fs::read(dir().join("not-onnx.onnx")).unwrap();
    assert!(err(prepare(&not, Some(&dir()))).contains("not an ONNX model"));
    assert!(err(prepare(b"", Some(&dir()))).contains("not an ONNX model"));
    let escape = std::fs::read(dir().join("external.onnx")).unwrap();
    let e = err(prepare(&escape, Some(&dir())));
    assert!(e.contains("escapes the model directory"), "{e}");
    let ok = std::fs::read(dir().join("external-ok.onnx")).unwrap();
    assert!(err(prepare(&ok, None)).contains("no model directory"));
    // Inlined: the result no longer needs the .bin file.
    let (bytes, info) = prepare(&ok, Some(&dir())).unwrap();
    assert_eq!(info.inlined_external, 2);
    let tmp = std::env::temp_dir();
    let (again, info) = prepare(&bytes, Some(&tmp)).unwrap();
    assert_eq!(info.inlined_external, 0);
    assert_eq!(again, bytes);

    let (p, _) = load("linear");
    let spec = p.spec().clone();
    let linear = prepare(&std::fs::read(dir().join("linear.onnx")).unwrap(), None)
        .unwrap()
        .0;
    let with = |f: &dyn Fn(&mut OnnxSpec)| {
        let mut s = spec.clone();
        f(&mut s);
        match OnnxPredictor::new(&linear, s.clone()) {
            Ok(_) => panic!("accepted {s:?}"),
            Err(e) => e.to_string(),
        }
    };
    assert!(with(&|s| s.classes.truncate(2)).contains("3 values per row"));
    assert!(with(&|s| s.input = "x".into()).contains("no input named"));
    assert!(with(&|s| s.probabilities = "scores".into()).contains("scores"));
    assert!(with(&|s| s.features.push("extra".into())).contains("schema declares 5 features"));
    assert!(
        with(&|s| {
            s.features.pop();
        })
        .contains("schema declares 3 features")
    );

    let rec = |v: Value| -> serde_json::Map<String, Value> { serde_json::from_value(v).unwrap() };
    let good = serde_json::json!({"bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181, "body_mass_g": 3750});
    assert_eq!(
        p.predict_json(&[rec(good.clone())]).unwrap()[0].label,
        "Adelie"
    );
    for (patch, want) in [
        (serde_json::json!({"body_mass_g": null}), "missing"),
        (
            serde_json::json!({"body_mass_g": "heavy"}),
            "expected a number",
        ),
        (serde_json::json!({"wings": 2}), "unknown feature"),
    ] {
        let mut r = rec(good.clone());
        for (k, v) in rec(patch) {
            r.insert(k, v);
        }
        let e = p.predict_json(&[r]).err().unwrap().to_string();
        assert!(e.contains(want), "{want}: {e}");
    }
    let mut frame = Frame::default();
    for f in &spec.features {
        frame
            .push(f.clone(), FeatureColumn::Numeric(vec![f64::NAN]))
            .unwrap();
    }
    assert!(
        p.predict_frame(&frame, 1)
            .err()
            .unwrap()
            .to_string()
            .contains("no imputation")
    );
}

#[test]
fn graphs_tract_would_panic_on_are_refused() {
    // Found by the `onnx` fuzz target: a graph output no node produces made
    // tract panic while building the model.
    let crash = std::fs::read(dir().join("fuzz-output-not-produced.bin")).unwrap();
    let spec = OnnxSpec {
        input: "input".into(),
        probabilities: "probabilities".into(),
        features: vec!["a".into(), "b".into(), "c".into(), "d".into()],
        classes: vec!["x".into(), "y".into(), "z".into()],
        columns: Vec::new(),
    };
    let (bytes, _) = prepare(&crash, None).unwrap();
    let err = OnnxPredictor::new(&bytes, spec.clone())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("produced by no node") || err.contains("no operator type"),
        "{err}"
    );
    // And a node whose (empty) output name is the graph's output.
    let crash = std::fs::read(dir().join("fuzz-empty-output-name.bin")).unwrap();
    let err = match prepare(&crash, None) {
        Ok((bytes, _)) => OnnxPredictor::new(&bytes, spec).err().unwrap().to_string(),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("no operator type")
            || err.contains("produced by no node")
            || err.contains("no nodes"),
        "{err}"
    );
}

#[test]
fn the_boosted_model_needs_the_compiled_ensemble() {
    // tract refuses the single base value of a two-class gradient boosting
    // model; the compiled ensemble alone serves it.
    use prost::Message;
    use tract_onnx::prelude::*;
    let bytes = std::fs::read(dir().join("gboost.onnx")).unwrap();
    let proto = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
    let tract = tract_onnx::onnx()
        .model_for_proto_model(&proto)
        .and_then(|m| m.into_optimized());
    assert!(tract.is_err());
    let (p, _) = load("gboost");
    assert_eq!(p.engine(), "compiled-trees");
}
