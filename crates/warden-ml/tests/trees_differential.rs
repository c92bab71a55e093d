//! The compiled tree ensemble against tract, on random ensembles written as
//! ONNX models: random shapes, features, thresholds, modes, missing-value
//! flags, weights, 2 to 4 classes and the NONE, SOFTMAX and LOGISTIC
//! post-transforms, evaluated on random rows (NaN included).
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use prost::Message;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use warden_ml::onnx::{OnnxPredictor, OnnxSpec};
use warden_ml::trees::TreeEnsemble;
use warden_ml::{FeatureColumn, Frame, Predictor};

fn ints(name: &str, v: Vec<i64>) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        ints: v,
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ..Default::default()
    }
}

fn floats(name: &str, v: Vec<f32>) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        floats: v,
        r#type: pb::attribute_proto::AttributeType::Floats as i32,
        ..Default::default()
    }
}

fn strings(name: &str, v: Vec<String>) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        strings: v.into_iter().map(String::into_bytes).collect(),
        r#type: pb::attribute_proto::AttributeType::Strings as i32,
        ..Default::default()
    }
}

fn string(name: &str, v: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        s: v.as_bytes().to_vec(),
        r#type: pb::attribute_proto::AttributeType::String as i32,
        ..Default::default()
    }
}

fn tensor_type(elem: pb::tensor_proto::DataType, dims: &[Option<i64>]) -> pb::TypeProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    pb::TypeProto {
        value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
            elem_type: elem as i32,
            shape: Some(pb::TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|d| Dimension {
                        value: Some(match d {
                            Some(v) => Value::DimValue(*v),
                            None => Value::DimParam("N".into()),
                        }),
                        ..Default::default()
                    })
                    .collect(),
            }),
        })),
        ..Default::default()
    }
}

/// A one-node model: `input` [N, features] -> TreeEnsembleClassifier ->
/// `label`, `probabilities` [N, classes].
fn model(node: pb::NodeProto, features: usize, classes: usize) -> Vec<u8> {
    use pb::tensor_proto::DataType;
    let graph = pb::GraphProto {
        name: "trees".into(),
        node: vec![node],
        input: vec![pb::ValueInfoProto {
            name: "input".into(),
            r#type: Some(tensor_type(DataType::Float, &[None, Some(features as i64)])),
            ..Default::default()
        }],
        output: vec![
            pb::ValueInfoProto {
                name: "label".into(),
                r#type: Some(tensor_type(DataType::Int64, &[None])),
                ..Default::default()
            },
            pb::ValueInfoProto {
                name: "probabilities".into(),
                r#type: Some(tensor_type(DataType::Float, &[None, Some(classes as i64)])),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![
            pb::OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            },
            pb::OperatorSetIdProto {
                domain: "ai.onnx.ml".into(),
                version: 1,
            },
        ],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

const MODES: [&str; 5] = [
    "BRANCH_LEQ",
    "BRANCH_LT",
    "BRANCH_GT",
    "BRANCH_EQ",
    "BRANCH_NEQ",
];

/// A value on a coarse grid, so that rows often sit exactly on thresholds.
fn grid(rng: &mut ChaCha8Rng) -> f32 {
    rng.random_range(-8i32..=8) as f32 * 0.25
}

struct Random {
    node: pb::NodeProto,
    features: usize,
    classes: usize,
}

/// A random ensemble. Two-class ensembles either vote for both classes at
/// every leaf, or (as scikit-learn's boosting) for class 0 only, in the two
/// forms where tract and onnxruntime agree: NONE with non-negative weights
/// and LOGISTIC with mixed signs.
fn random(seed: u64, modes: &[&str]) -> Random {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let features = rng.random_range(1..=5usize);
    let classes = rng.random_range(2..=4usize);
    let post = ["NONE", "SOFTMAX", "LOGISTIC"][rng.random_range(0..3usize)];
    let single = classes == 2 && post != "SOFTMAX" && rng.random_bool(0.5);
    let trees = rng.random_range(1..=6i64);
    let max_depth = rng.random_range(0..=6u32);
    let (mut t_ids, mut n_ids, mut f_ids, mut values, mut modes_v) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut yes, mut no, mut missing) = (vec![], vec![], vec![]);
    let (mut c_t, mut c_n, mut c_ids, mut c_w) = (vec![], vec![], vec![], vec![]);
    for t in 0..trees {
        // Preorder ids: a node's id is assigned when it is visited.
        let mut next = 0i64;
        let mut stack = vec![(0u32, None::<(usize, bool)>)];
        let mut rows_of_tree: Vec<usize> = vec![];
        while let Some((depth, parent)) = stack.pop() {
            let id = next;
            next += 1;
            let at = t_ids.len();
            if let Some((p, is_yes)) = parent {
                if is_yes {
                    yes[p] = id;
                } else {
                    no[p] = id;
                }
            }
            t_ids.push(t);
            n_ids.push(id);
            rows_of_tree.push(at);
            let branch = depth < max_depth && rng.random_bool(0.75);
            if branch {
                f_ids.push(rng.random_range(0..features as i64));
                values.push(grid(&mut rng));
                modes_v.push(modes[rng.random_range(0..modes.len())].to_string());
                yes.push(0);
                no.push(0);
                missing.push(i64::from(rng.random_bool(0.5)));
                stack.push((depth + 1, Some((at, false))));
                stack.push((depth + 1, Some((at, true))));
            } else {
                f_ids.push(0);
                values.push(0.0);
                modes_v.push("LEAF".into());
                yes.push(0);
                no.push(0);
                missing.push(0);
                let negative_ok = !(single && post == "NONE");
                let w = |rng: &mut ChaCha8Rng| {
                    let w = rng.random_range(-1.0f32..1.0);
                    if negative_ok { w } else { w.abs() }
                };
                let voters: Vec<i64> = if single {
                    vec![0]
                } else if classes == 2 {
                    vec![0, 1]
                } else {
                    let v: Vec<i64> = (0..classes as i64)
                        .filter(|_| rng.random_bool(0.6))
                        .collect();
                    if v.is_empty() { vec![0] } else { v }
                };
                for c in voters {
                    c_t.push(t);
                    c_n.push(id);
                    c_ids.push(c);
                    c_w.push(w(&mut rng));
                }
            }
        }
    }
    if single && post == "LOGISTIC" && c_w.iter().all(|&w| w >= 0.0) {
        c_w[0] = -0.5;
    }
    let mut attribute = vec![
        ints("nodes_treeids", t_ids),
        ints("nodes_nodeids", n_ids),
        ints("nodes_featureids", f_ids),
        floats("nodes_values", values),
        strings("nodes_modes", modes_v),
        ints("nodes_truenodeids", yes),
        ints("nodes_falsenodeids", no),
        ints("nodes_missing_value_tracks_true", missing),
        ints("class_treeids", c_t),
        ints("class_nodeids", c_n),
        ints("class_ids", c_ids),
        floats("class_weights", c_w),
        ints("classlabels_int64s", (0..classes as i64).collect()),
        string("post_transform", post),
    ];
    if classes > 2 && rng.random_bool(0.5) {
        attribute.push(floats(
            "base_values",
            (0..classes).map(|_| grid(&mut rng)).collect(),
        ));
    }
    Random {
        node: pb::NodeProto {
            name: "trees".into(),
            op_type: "TreeEnsembleClassifier".into(),
            domain: "ai.onnx.ml".into(),
            input: vec!["input".into()],
            output: vec!["label".into(), "probabilities".into()],
            attribute,
            ..Default::default()
        },
        features,
        classes,
    }
}

fn tract_plan(bytes: &[u8], features: usize) -> Arc<TypedRunnableModel> {
    let proto = pb::ModelProto::decode(bytes).unwrap();
    let mut m = tract_onnx::onnx().model_for_proto_model(&proto).unwrap();
    m.select_outputs_by_name(["probabilities"]).unwrap();
    m.with_input_fact(
        0,
        InferenceFact::dt_shape(f32::datum_type(), tvec!(1usize, features)),
    )
    .unwrap()
    .into_optimized()
    .unwrap()
    .into_runnable()
    .unwrap()
}

fn tract_row(plan: &Arc<TypedRunnableModel>, row: &[f32]) -> Vec<f64> {
    let t = tract_ndarray::Array2::from_shape_vec((1, row.len()), row.to_vec()).unwrap();
    let out = plan.run(tvec!(Tensor::from(t).into())).unwrap();
    let v = out[0].cast_to::<f32>().unwrap();
    v.to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .map(|&p| f64::from(p))
        .collect()
}

fn rows(seed: u64, features: usize, n: usize, nan: bool) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    (0..n * features)
        .map(|_| {
            if nan && rng.random_bool(0.1) {
                f32::NAN
            } else if rng.random_bool(0.7) {
                grid(&mut rng)
            } else {
                rng.random_range(-2.5f32..2.5)
            }
        })
        .collect()
}

fn check(seed: u64, modes: &[&str]) -> Result<(), String> {
    let r = random(seed, modes);
    let bytes = model(r.node.clone(), r.features, r.classes);
    let compiled = TreeEnsemble::from_node(&r.node, r.features).map_err(|e| e.to_string())?;
    let plan = tract_plan(&bytes, r.features);
    let x = rows(seed, r.features, 40, true);
    let ours = compiled.predict(&x, 2).map_err(|e| e.to_string())?;
    let k = r.classes;
    for (i, row) in x.chunks_exact(r.features).enumerate() {
        let theirs = tract_row(&plan, row);
        let mine = &ours[i * k..(i + 1) * k];
        for c in 0..k {
            if (mine[c] - theirs[c]).abs() > 1e-5 {
                return Err(format!(
                    "seed {seed}: row {row:?} class {c}: compiled {mine:?}, tract {theirs:?}"
                ));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn compiled_ensembles_agree_with_tract(seed in any::<u64>()) {
        if let Err(e) = check(seed, &MODES) {
            prop_assert!(false, "{}", e);
        }
    }

    /// Through `OnnxPredictor`: the compiled engine is chosen, passes the
    /// probe check against tract, and the frame path (threaded) and the
    /// records path agree with tract row by row.
    #[test]
    fn the_predictor_uses_the_compiled_ensemble(seed in any::<u64>()) {
        let r = random(seed, &MODES);
        let bytes = model(r.node.clone(), r.features, r.classes);
        let features: Vec<String> = (0..r.features).map(|j| format!("f{j}")).collect();
        let spec = OnnxSpec {
            input: "input".into(),
            probabilities: "probabilities".into(),
            features: features.clone(),
            classes: (0..r.classes).map(|c| c.to_string()).collect(),
            columns: Vec::new(),
        };
        let p = OnnxPredictor::new(&bytes, spec).unwrap();
        prop_assert_eq!(p.engine(), "compiled-trees");
        let n = 600;
        let x = rows(seed, r.features, n, false);
        let mut frame = Frame::default();
        for (j, f) in features.iter().enumerate() {
            let col = (0..n).map(|i| f64::from(x[i * r.features + j])).collect();
            frame.push(f.clone(), FeatureColumn::Numeric(col)).unwrap();
        }
        let probs = p.predict_frame(&frame, 3).unwrap();
        let plan = tract_plan(&bytes, r.features);
        for (i, row) in x.chunks_exact(r.features).enumerate().step_by(7) {
            let theirs = tract_row(&plan, row);
            for (c, t) in theirs.iter().enumerate() {
                prop_assert!((probs.row(i)[c] - t).abs() <= 1e-5, "row {} class {}", i, c);
            }
            let num: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
            prop_assert_eq!(p.predict_numeric(&num).unwrap(), probs.row(i).to_vec());
        }
    }
}

/// tract reads BRANCH_GTE nodes as leaves; the predictor then relies on the
/// compiled ensemble alone (whose GTE semantics the unit tests pin down).
#[test]
fn gte_ensembles_are_served_by_the_compiled_ensemble() {
    for seed in 0..40 {
        let r = random(seed, &["BRANCH_GTE"]);
        let bytes = model(r.node.clone(), r.features, r.classes);
        let spec = OnnxSpec {
            input: "input".into(),
            probabilities: "probabilities".into(),
            features: (0..r.features).map(|j| format!("f{j}")).collect(),
            classes: (0..r.classes).map(|c| c.to_string()).collect(),
            columns: Vec::new(),
        };
        let p = OnnxPredictor::new(&bytes, spec).unwrap();
        assert_eq!(p.engine(), "compiled-trees");
        // Each GTE tree equals the LT tree with the branches swapped.
        let mut flipped = r.node.clone();
        for a in &mut flipped.attribute {
            if a.name == "nodes_modes" {
                for m in &mut a.strings {
                    if m == b"BRANCH_GTE" {
                        *m = b"BRANCH_LT".to_vec();
                    }
                }
            }
        }
        let (yes, no) = {
            let get = |n: &str| {
                flipped
                    .attribute
                    .iter()
                    .find(|a| a.name == n)
                    .unwrap()
                    .ints
                    .clone()
            };
            (get("nodes_truenodeids"), get("nodes_falsenodeids"))
        };
        let missing: Vec<i64> = flipped
            .attribute
            .iter()
            .find(|a| a.name == "nodes_missing_value_tracks_true")
            .unwrap()
            .ints
            .iter()
            .map(|m| 1 - m)
            .collect();
        for a in &mut flipped.attribute {
            match a.name.as_str() {
                "nodes_truenodeids" => a.ints = no.clone(),
                "nodes_falsenodeids" => a.ints = yes.clone(),
                "nodes_missing_value_tracks_true" => a.ints = missing.clone(),
                _ => {}
            }
        }
        let lt = TreeEnsemble::from_node(&flipped, r.features).unwrap();
        let x = rows(seed, r.features, 50, true);
        let gte = TreeEnsemble::from_node(&r.node, r.features).unwrap();
        assert_eq!(gte.predict(&x, 1).unwrap(), lt.predict(&x, 1).unwrap());
        let lt_plan = tract_plan(&model(flipped, r.features, r.classes), r.features);
        let ours = gte.predict(&x, 1).unwrap();
        for (i, row) in x.chunks_exact(r.features).enumerate() {
            let theirs = tract_row(&lt_plan, row);
            for (c, t) in theirs.iter().enumerate() {
                assert!((ours[i * r.classes + c] - t).abs() <= 1e-5);
            }
        }
    }
}

/// A random-forest-like ensemble: `trees` trees of BRANCH_LEQ nodes down to
/// `depth`, every leaf voting for every class (weights summing to 1/trees).
fn forest(seed: u64, trees: i64, depth: u32, features: usize, classes: usize) -> pb::NodeProto {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut t_ids, mut n_ids, mut f_ids, mut values, mut modes) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut yes, mut no) = (vec![], vec![]);
    let (mut c_t, mut c_n, mut c_ids, mut c_w) = (vec![], vec![], vec![], vec![]);
    for t in 0..trees {
        let mut next = 0i64;
        let mut stack = vec![(0u32, None::<(usize, bool)>)];
        while let Some((d, parent)) = stack.pop() {
            let id = next;
            next += 1;
            let at = t_ids.len();
            if let Some((p, is_yes)) = parent {
                if is_yes {
                    yes[p] = id;
                } else {
                    no[p] = id;
                }
            }
            t_ids.push(t);
            n_ids.push(id);
            yes.push(0);
            no.push(0);
            if d < depth && (d < 3 || rng.random_bool(0.9)) {
                f_ids.push(rng.random_range(0..features as i64));
                values.push(rng.random_range(-3.0f32..3.0));
                modes.push("BRANCH_LEQ".to_string());
                stack.push((d + 1, Some((at, false))));
                stack.push((d + 1, Some((at, true))));
            } else {
                f_ids.push(0);
                values.push(0.0);
                modes.push("LEAF".to_string());
                let w: Vec<f32> = (0..classes)
                    .map(|_| rng.random_range(0.0f32..1.0))
                    .collect();
                let s: f32 = w.iter().sum();
                for (c, w) in w.iter().enumerate() {
                    c_t.push(t);
                    c_n.push(id);
                    c_ids.push(c as i64);
                    c_w.push(w / s / trees as f32);
                }
            }
        }
    }
    pb::NodeProto {
        name: "forest".into(),
        op_type: "TreeEnsembleClassifier".into(),
        domain: "ai.onnx.ml".into(),
        input: vec!["input".into()],
        output: vec!["label".into(), "probabilities".into()],
        attribute: vec![
            ints("nodes_treeids", t_ids),
            ints("nodes_nodeids", n_ids),
            ints("nodes_featureids", f_ids),
            floats("nodes_values", values),
            strings("nodes_modes", modes),
            ints("nodes_truenodeids", yes),
            ints("nodes_falsenodeids", no),
            ints("class_treeids", c_t),
            ints("class_nodeids", c_n),
            ints("class_ids", c_ids),
            floats("class_weights", c_w),
            ints("classlabels_int64s", (0..classes as i64).collect()),
            string("post_transform", "NONE"),
        ],
        ..Default::default()
    }
}

/// Timing: a 100-tree, depth-10 forest on 500 and 50 000 rows, tract row by
/// row against the compiled ensemble on 1 and 2 threads. Run with
/// `cargo test -p warden-ml --release --test trees_differential -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing_forest_100_trees_depth_10() {
    let (features, classes) = (10, 3);
    let node = forest(7, 100, 10, features, classes);
    let bytes = model(node.clone(), features, classes);
    let spec = OnnxSpec {
        input: "input".into(),
        probabilities: "probabilities".into(),
        features: (0..features).map(|j| format!("f{j}")).collect(),
        classes: (0..classes).map(|c| c.to_string()).collect(),
        columns: Vec::new(),
    };
    let t0 = std::time::Instant::now();
    let p = OnnxPredictor::new(&bytes, spec.clone()).unwrap();
    eprintln!(
        "OnnxPredictor::new (tract plan, compile, probe check): {:.3} s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(p.engine(), "compiled-trees");
    let compiled = TreeEnsemble::from_node(&node, features).unwrap();
    let plan = tract_plan(&bytes, features);
    for n in [500usize, 50_000] {
        let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
        let x: Vec<f32> = (0..n * features)
            .map(|_| rng.random_range(-3.0f32..3.0))
            .collect();
        let t0 = std::time::Instant::now();
        let mut theirs = Vec::with_capacity(n * classes);
        if n <= 500 {
            for row in x.chunks_exact(features) {
                theirs.extend(tract_row(&plan, row));
            }
        }
        let tract_s = t0.elapsed().as_secs_f64();
        let mut best = [f64::MAX; 2];
        let mut ours = vec![];
        for _ in 0..5 {
            for (i, threads) in [1usize, 2].into_iter().enumerate() {
                let t0 = std::time::Instant::now();
                ours = compiled.predict(&x, threads).unwrap();
                best[i] = best[i].min(t0.elapsed().as_secs_f64());
            }
        }
        let mut frame = Frame::default();
        for j in 0..features {
            let col = (0..n).map(|i| f64::from(x[i * features + j])).collect();
            frame
                .push(format!("f{j}"), FeatureColumn::Numeric(col))
                .unwrap();
        }
        let t0 = std::time::Instant::now();
        let probs = p.predict_frame(&frame, 2).unwrap();
        let frame_s = t0.elapsed().as_secs_f64();
        assert_eq!(probs.data, ours);
        if !theirs.is_empty() {
            let worst = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(worst <= 1e-5, "{worst}");
            eprintln!(
                "{n} rows: tract row by row {tract_s:.4} s; compiled 1 thread {:.5} s, 2 threads {:.5} s (x{:.0} over tract); predict_frame 2 threads {frame_s:.5} s; worst |diff| {worst:.1e}",
                best[0],
                best[1],
                tract_s / best[0]
            );
        } else {
            eprintln!(
                "{n} rows: compiled 1 thread {:.4} s, 2 threads {:.4} s; predict_frame 2 threads {frame_s:.4} s",
                best[0], best[1]
            );
        }
    }
}

/// A two-class ensemble voting for class 0 only with non-negative weights
/// and LOGISTIC: onnxruntime writes `[1 - s, s]` from the raw score, tract
/// `[1 - logistic(s), logistic(s)]`. The probe rows catch the disagreement
/// and the model is refused rather than served with an unclear meaning.
#[test]
fn a_disagreement_with_tract_refuses_the_model() {
    let node = pb::NodeProto {
        name: "stump".into(),
        op_type: "TreeEnsembleClassifier".into(),
        domain: "ai.onnx.ml".into(),
        input: vec!["input".into()],
        output: vec!["label".into(), "probabilities".into()],
        attribute: vec![
            ints("nodes_treeids", vec![0, 0, 0]),
            ints("nodes_nodeids", vec![0, 1, 2]),
            ints("nodes_featureids", vec![0, 0, 0]),
            floats("nodes_values", vec![0.5, 0.0, 0.0]),
            strings(
                "nodes_modes",
                vec!["BRANCH_LEQ".into(), "LEAF".into(), "LEAF".into()],
            ),
            ints("nodes_truenodeids", vec![1, 0, 0]),
            ints("nodes_falsenodeids", vec![2, 0, 0]),
            ints("class_treeids", vec![0, 0]),
            ints("class_nodeids", vec![1, 2]),
            ints("class_ids", vec![0, 0]),
            floats("class_weights", vec![0.25, 0.75]),
            ints("classlabels_int64s", vec![0, 1]),
            string("post_transform", "LOGISTIC"),
        ],
        ..Default::default()
    };
    let compiled = TreeEnsemble::from_node(&node, 1).unwrap();
    assert_eq!(compiled.predict(&[0.0], 1).unwrap(), [0.75, 0.25]);
    let spec = OnnxSpec {
        input: "input".into(),
        probabilities: "probabilities".into(),
        features: vec!["x".into()],
        classes: vec!["0".into(), "1".into()],
        columns: Vec::new(),
    };
    let e = OnnxPredictor::new(&model(node.clone(), 1, 2), spec.clone())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("disagree on probe row"), "{e}");
    // With mixed signs the two agree, and the model is served.
    let mut mixed = node;
    for a in &mut mixed.attribute {
        if a.name == "class_weights" {
            a.floats = vec![0.25, -0.75];
        }
    }
    let p = OnnxPredictor::new(&model(mixed, 1, 2), spec).unwrap();
    assert_eq!(p.engine(), "compiled-trees");
}
