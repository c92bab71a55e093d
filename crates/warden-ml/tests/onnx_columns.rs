//! scikit-learn pipelines exported with one ONNX input per column (a
//! `ColumnTransformer`: float inputs for numbers, string inputs for
//! categories) run through Warden against onnxruntime's probabilities for
//! the same records, missing numbers and unseen categories included.
//!
//! The models and `reference.json` are made by
//! `reference/make_onnx_columns.py` (the pinned versions of
//! `reference/make_onnx.py`) on the Palmer penguins data; between them they
//! use every ONNX-ML operator Warden rewrites into standard ones except
//! `ArrayFeatureExtractor` (tested in the crate's unit tests).
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::{Map, Value};
use warden_ml::onnx::{OnnxColumn, OnnxPredictor, OnnxSpec, prepare};
use warden_ml::{FeatureColumn, Frame, Predictor};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx-columns")
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

fn load(model: &str) -> (OnnxPredictor, warden_ml::onnx::OnnxInfo, Value) {
    let m = reference()[model].clone();
    let bytes = std::fs::read(dir().join(format!("{model}.onnx"))).unwrap();
    let (bytes, info) = prepare(&bytes, None).unwrap();
    let columns: Vec<OnnxColumn> = info
        .input_types
        .iter()
        .map(|i| OnnxColumn::for_input(i).unwrap())
        .collect();
    let spec = OnnxSpec {
        input: String::new(),
        probabilities: m["probabilities"].as_str().unwrap().into(),
        features: columns.iter().map(|c| c.input.clone()).collect(),
        classes: strings(&m["classes"]),
        columns,
    };
    (OnnxPredictor::new(&bytes, spec).unwrap(), info, m)
}

fn records(m: &Value) -> Vec<Map<String, Value>> {
    m["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect()
}

/// The records as a frame: numbers (NaN for null) and categories.
fn frame(p: &OnnxPredictor, records: &[Map<String, Value>]) -> Frame {
    let mut f = Frame::default();
    for (name, kind) in p.inputs() {
        let col = match kind {
            warden_ml::InputKind::Numeric => FeatureColumn::Numeric(
                records
                    .iter()
                    .map(|r| r[name].as_f64().unwrap_or(f64::NAN))
                    .collect(),
            ),
            warden_ml::InputKind::Categorical => {
                let mut levels: Vec<String> = Vec::new();
                let codes = records
                    .iter()
                    .map(|r| {
                        let v = r[name].as_str().unwrap().to_string();
                        match levels.iter().position(|l| *l == v) {
                            Some(c) => c as u32,
                            None => {
                                levels.push(v);
                                (levels.len() - 1) as u32
                            }
                        }
                    })
                    .collect();
                FeatureColumn::Categorical { codes, levels }
            }
        };
        f.push(name, col).unwrap();
    }
    f
}

#[test]
fn column_pipelines_agree_with_onnxruntime_on_every_record() {
    for model in ["lr", "forest", "strict"] {
        let (p, info, m) = load(model);
        // The forest's preprocessing runs in tract, its trees compiled.
        let engine = if model == "forest" {
            "compiled-trees"
        } else {
            "tract-batched"
        };
        assert_eq!(p.engine(), engine, "{model}");
        // Every ONNX-ML preprocessing operator was rewritten away.
        assert!(
            info.rewritten.contains_key("OneHotEncoder") && info.rewritten.contains_key("Imputer"),
            "{model}: {:?}",
            info.rewritten
        );
        let inputs: Vec<(String, warden_ml::InputKind)> = p
            .inputs()
            .into_iter()
            .map(|(n, k)| (n.to_string(), k))
            .collect();
        assert_eq!(
            inputs.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            strings(&m["inputs"])
        );
        assert_eq!(inputs[4].1, warden_ml::InputKind::Categorical, "{model}");
        assert_eq!(inputs[0].1, warden_ml::InputKind::Numeric, "{model}");
        let recs = records(&m);
        let expected: Vec<Vec<f64>> = serde_json::from_value(m["onnxruntime"].clone()).unwrap();
        assert_eq!(recs.len(), expected.len());
        // One request with every record, and each record alone.
        let together = p.predict_json(&recs).unwrap();
        for (i, (r, want)) in recs.iter().zip(&expected).enumerate() {
            let alone = p.predict_json(std::slice::from_ref(r)).unwrap();
            for (c, w) in want.iter().enumerate() {
                for got in [&together[i], &alone[0]] {
                    assert!(
                        (got.probabilities[c] - w).abs() <= 1e-5,
                        "{model} record {i} class {c}: warden {} onnxruntime {w}",
                        got.probabilities[c]
                    );
                }
            }
        }
        // Records repeated past a full batch of the batch plan, through the
        // frame path: the same answers.
        let many: Vec<Map<String, Value>> = recs.iter().cycle().take(600).cloned().collect();
        let probs = p.predict_frame(&frame(&p, &many), 2).unwrap();
        for r in 0..many.len() {
            let want = &expected[r % expected.len()];
            for (c, w) in want.iter().enumerate() {
                assert!(
                    (probs.row(r)[c] - w).abs() <= 1e-5,
                    "{model} frame row {r} class {c}"
                );
            }
        }
    }
}

#[test]
fn an_encoder_refusing_unknown_categories_is_enforced_before_the_model_runs() {
    let (p, info, m) = load("strict");
    assert_eq!(m["unknown_refused"], Value::Bool(true));
    let island = info
        .input_types
        .iter()
        .find(|i| i.name == "island")
        .unwrap();
    assert!(island.strict);
    let rec = m["unknown_record"].as_object().unwrap().clone();
    let err = p
        .predict_json(std::slice::from_ref(&rec))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"Atlantis\"") && err.contains("island"),
        "{err}"
    );
    // The same through a frame (codes into levels), naming the data row.
    let mut rows = records(&m)[..3].to_vec();
    rows.push(rec);
    let err = p
        .predict_frame(&frame(&p, &rows), 1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data row 4") && err.contains("\"Atlantis\""),
        "{err}"
    );
    // The lenient model gives the unseen island zeros, as onnxruntime did
    // (its last reference record).
    let (lenient, info, _) = load("lr");
    assert!(!info.input_types.iter().any(|i| i.strict));
    let mut rec = m["unknown_record"].as_object().unwrap().clone();
    rec.insert("island".into(), Value::String("Atlantis".into()));
    assert!(lenient.predict_json(&[rec]).is_ok());
}

#[test]
fn wrong_types_and_missing_strings_are_named() {
    let (p, _, m) = load("lr");
    let base = records(&m)[0].clone();
    let with = |k: &str, v: Value| {
        let mut r = base.clone();
        r.insert(k.into(), v);
        p.predict_json(&[r]).unwrap_err().to_string()
    };
    let e = with("island", Value::Null);
    assert!(
        e.contains("record 0") && e.contains("island") && e.contains("missing"),
        "{e}"
    );
    let e = with("island", serde_json::json!(true));
    assert!(e.contains("island") && e.contains("string"), "{e}");
    // A number for a text input is its text: an unknown category here.
    assert!(
        p.predict_json(&[{
            let mut r = base.clone();
            r.insert("island".into(), serde_json::json!(3));
            r
        }])
        .is_ok()
    );
    assert_eq!(
        p.known_levels("island").unwrap(),
        ["Biscoe", "Dream", "Torgersen"]
    );
    let e = with("bill_length_mm", serde_json::json!("long"));
    assert!(e.contains("bill_length_mm") && e.contains("number"), "{e}");
    let e = with("bill_length_mm", serde_json::json!([1]));
    assert!(e.contains("bill_length_mm"), "{e}");
    let mut r = base.clone();
    r.insert("colour".into(), Value::String("blue".into()));
    let e = p.predict_json(&[r]).unwrap_err().to_string();
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn an_operator_nothing_runs_is_named_with_its_node() {
    use prost::Message;
    let bytes = std::fs::read(dir().join("lr.onnx")).unwrap();
    let mut proto = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let node = graph
        .node
        .iter_mut()
        .find(|n| n.op_type == "LinearClassifier")
        .unwrap();
    node.op_type = "SVMClassifier".into();
    let name = node.name.clone();
    let err = prepare(&proto.encode_to_vec(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("node {name:?}"))
            && err.contains("ai.onnx.ml.SVMClassifier is not supported"),
        "{err}"
    );
}

#[test]
fn the_zipmap_names_the_classes() {
    let (_, info, m) = load("forest");
    assert_eq!(
        info.zipmap_labels.as_deref(),
        Some(&strings(&m["classes"])[..])
    );
    assert_eq!(info.rewritten.get("ZipMap"), Some(&1));
}

/// Every attribute value a hostile file could set on the rewritten
/// operators (and the rest): an attribute of a random node replaced by
/// random integers, floats or strings. Import and prediction give a result
/// or an error, never a panic.
mod mutated {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;
    use tract_onnx::pb;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn mutated_column_pipelines_never_panic(
            model in 0usize..3,
            node in any::<prop::sample::Index>(),
            attr in any::<prop::sample::Index>(),
            ints in proptest::collection::vec(-3i64..40, 0..6),
            floats in proptest::collection::vec(prop_oneof![Just(f32::NAN), Just(f32::INFINITY), -50f32..50.0], 0..6),
            strings in proptest::collection::vec(prop_oneof![Just("Biscoe".to_string()), Just(String::new()), "[a-z]{0,3}"], 0..4),
            drop_input in any::<bool>(),
        ) {
            let name = ["lr", "forest", "strict"][model];
            let bytes = std::fs::read(dir().join(format!("{name}.onnx"))).unwrap();
            let mut proto = pb::ModelProto::decode(bytes.as_slice()).unwrap();
            let graph = proto.graph.as_mut().unwrap();
            let n = node.index(graph.node.len());
            let target = &mut graph.node[n];
            if drop_input && !target.input.is_empty() {
                target.input.pop();
            } else if !target.attribute.is_empty() {
                let a = attr.index(target.attribute.len());
                let at = &mut target.attribute[a];
                at.ints = ints;
                at.floats = floats;
                at.strings = strings.iter().map(|s| s.as_bytes().to_vec()).collect();
                at.i = at.ints.first().copied().unwrap_or(0);
                at.f = at.floats.first().copied().unwrap_or(0.0);
            }
            let m = reference()[name].clone();
            let Ok((bytes, info)) = prepare(&proto.encode_to_vec(), None) else {
                return Ok(());
            };
            let Ok(columns) = info
                .input_types
                .iter()
                .map(OnnxColumn::for_input)
                .collect::<Result<Vec<_>, _>>()
            else {
                return Ok(());
            };
            let spec = OnnxSpec {
                input: String::new(),
                probabilities: m["probabilities"].as_str().unwrap().into(),
                features: columns.iter().map(|c| c.input.clone()).collect(),
                classes: strings_of(&m["classes"]),
                columns,
            };
            if let Ok(p) = OnnxPredictor::new(&bytes, spec) {
                let recs = records(&m);
                let _ = p.predict_json(&recs[..4]);
                let _ = p.predict_frame(&frame(&p, &recs[..4]), 1);
            }
        }
    }

    fn strings_of(v: &Value) -> Vec<String> {
        strings(v)
    }
}
