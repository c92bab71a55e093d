//! XGBoost and LightGBM models read and evaluated by Warden, against the
//! margins and probabilities the frameworks themselves gave for the same
//! rows (`data/trees/reference.json`, made by `reference/make_trees.py`
//! with XGBoost 3.2.0 and LightGBM 4.7.0).
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use warden_ml::boosted::{
    BoostedFormat, BoostedKind, BoostedModel, BoostedPredictor, parse_boosted, parse_lightgbm_text,
    parse_xgboost_json, parse_xgboost_ubjson,
};
use warden_ml::{FeatureColumn, Frame, MlError, Predictor};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/trees")
}

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("reference.json")).unwrap()).unwrap()
}

fn bytes(file: &str) -> Vec<u8> {
    std::fs::read(dir().join(file)).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn load(name: &str) -> (BoostedModel, Value) {
    let r = reference();
    let m = r["models"][name].clone();
    let file = m["file"].as_str().unwrap();
    let b = bytes(file);
    let format = BoostedFormat::sniff(&b).unwrap();
    let model = parse_boosted(&b, format).unwrap();
    let rows_from = m["rows_from"].as_str().unwrap_or(name);
    let mut with_rows = r["models"][rows_from].clone();
    with_rows["file"] = m["file"].clone();
    (model, with_rows)
}

/// Worst absolute differences (margin, probability) over all rows.
fn compare(name: &str) -> (f64, f64) {
    let (model, m) = load(name);
    assert_eq!(model.feature_names(), strings(&m["feature_names"]));
    assert_eq!(model.num_classes(), m["classes"].as_array().unwrap().len());
    let rows = m["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 60);
    let x: Vec<f64> = rows.iter().flat_map(|r| floats(&r["inputs"])).collect();
    let margins = model.margins(&x, 1).unwrap();
    let probs = model.predict_proba(&x, 2).unwrap();
    let (k, c) = (model.num_margins(), model.num_classes());
    let (mut worst_m, mut worst_p) = (0f64, 0f64);
    for (i, r) in rows.iter().enumerate() {
        let src = r["source"].as_str().unwrap();
        let want_m = floats(&r["raw_margin"]);
        let want_p = floats(&r["predict_proba"]);
        let got_m = &margins[i * k..(i + 1) * k];
        let got_p = &probs[i * c..(i + 1) * c];
        for (g, w) in got_m.iter().zip(&want_m) {
            let d = (g - w).abs();
            worst_m = worst_m.max(d);
            match model.kind() {
                // f32 arithmetic reproduced: the same f32 value.
                BoostedKind::Xgboost => assert_eq!(g, w, "{name} row {i} ({src}): margin"),
                BoostedKind::Lightgbm => {
                    assert!(d <= 1e-12, "{name} row {i} ({src}): margin {g} vs {w}")
                }
            }
        }
        assert_eq!(got_m.len(), want_m.len());
        for (g, w) in got_p.iter().zip(&want_p) {
            let d = (g - w).abs();
            worst_p = worst_p.max(d);
            assert!(d <= 1e-6, "{name} row {i} ({src}): probability {g} vs {w}");
        }
        assert_eq!(got_p.len(), want_p.len());
    }
    // The same on more threads and through the predictor.
    assert_eq!(model.margins(&x, 4).unwrap(), margins);
    let p = BoostedPredictor::new(
        model.clone(),
        strings(&m["feature_names"]),
        strings(&m["classes"]),
    )
    .unwrap();
    let mut frame = Frame::default();
    let w = model.num_features();
    for (j, f) in strings(&m["feature_names"]).iter().enumerate() {
        let col: Vec<f64> = (0..rows.len()).map(|i| x[i * w + j]).collect();
        frame.push(f, FeatureColumn::Numeric(col)).unwrap();
    }
    assert_eq!(p.predict_frame(&frame, 3).unwrap().data, probs);
    let records: Vec<Map<String, Value>> = rows
        .iter()
        .map(|r| {
            strings(&m["feature_names"])
                .into_iter()
                .zip(r["inputs"].as_array().unwrap().iter().cloned())
                .collect()
        })
        .collect();
    let preds = p.predict_json(&records).unwrap();
    for (i, pr) in preds.iter().enumerate() {
        assert_eq!(pr.probabilities, probs[i * c..(i + 1) * c]);
    }
    assert_eq!(p.predict_numeric(&x[..w]).unwrap(), probs[..c]);
    println!(
        "{name}: worst margin difference {worst_m:e}, worst probability difference {worst_p:e}"
    );
    (worst_m, worst_p)
}

#[test]
fn xgboost_binary_matches_xgboost() {
    let (m, _) = compare("xgb-binary");
    assert_eq!(m, 0.0);
}

#[test]
fn xgboost_multiclass_matches_xgboost() {
    let (m, _) = compare("xgb-multi");
    assert_eq!(m, 0.0);
}

#[test]
fn lightgbm_binary_matches_lightgbm() {
    compare("lgbm-binary");
}

#[test]
fn lightgbm_multiclass_matches_lightgbm() {
    compare("lgbm-multi");
}

#[test]
fn xgboost_ubjson_is_the_json_model() {
    let b = bytes("xgb-binary.ubj");
    assert_eq!(BoostedFormat::sniff(&b), Some(BoostedFormat::XgboostUbjson));
    match parse_xgboost_ubjson(&b) {
        Ok(_) => {
            compare("xgb-binary-ubj");
        }
        Err(e) => assert!(e.to_string().contains("save the model as JSON"), "{e}"),
    }
}

#[test]
fn models_describe_themselves() {
    let (m, _) = load("xgb-binary");
    assert_eq!(m.kind().as_str(), "xgboost");
    assert_eq!(m.objective(), "binary:logistic");
    assert_eq!(
        (m.num_features(), m.num_classes(), m.num_margins()),
        (6, 2, 1)
    );
    assert_eq!(m.trees().len(), 30);
    let splits: usize = m.trees().iter().map(|t| t.splits()).sum();
    assert_eq!(splits, 389);
    let (m, _) = load("xgb-multi");
    assert_eq!(
        (m.num_classes(), m.num_margins(), m.trees().len()),
        (3, 3, 45)
    );
    assert_eq!(m.trees()[4].class(), 1);
    let (m, _) = load("lgbm-binary");
    assert_eq!(m.kind().as_str(), "lightgbm");
    let splits: usize = m.trees().iter().map(|t| t.splits()).sum();
    assert_eq!(splits, 420);
    let (m, _) = load("lgbm-multi");
    assert_eq!((m.num_classes(), m.trees().len()), (3, 45));
    let splits: usize = m.trees().iter().map(|t| t.splits()).sum();
    assert_eq!(splits, 269);
}

#[test]
fn iterations_and_early_stopping() {
    let (full, r) = load("xgb-binary");
    assert_eq!((full.iterations(), full.best_iteration()), (30, None));
    let rows = r["rows"].as_array().unwrap();
    let x: Vec<f64> = rows.iter().flat_map(|r| floats(&r["inputs"])).collect();
    let all = full.first_iterations(30).unwrap();
    assert_eq!(all.margins(&x, 1).unwrap(), full.margins(&x, 1).unwrap());
    assert!(full.first_iterations(0).is_err());
    assert!(full.first_iterations(31).is_err());
    let ten = full.first_iterations(10).unwrap();
    assert_eq!((ten.trees().len(), ten.iterations()), (10, 10));
    assert_ne!(ten.margins(&x, 1).unwrap(), full.margins(&x, 1).unwrap());

    let mut d = xgb_doc("xgb-binary.json");
    d["learner"]["attributes"] = json!({"best_iteration": "9", "best_score": "0.3"});
    let m = parse_xgboost_json(&serde_json::to_vec(&d).unwrap()).unwrap();
    assert_eq!(m.best_iteration(), Some(9));
    d["learner"]["attributes"] = json!({"best_iteration": "30"});
    assert!(xgb_error(&d).field.ends_with("best_iteration"));

    let (multi, _) = load("lgbm-multi");
    assert_eq!(multi.iterations(), 15);
    let five = multi.first_iterations(5).unwrap();
    assert_eq!(five.trees().len(), 15);
    assert!(
        five.trees()
            .iter()
            .enumerate()
            .all(|(i, t)| t.class() == i % 3)
    );
}

#[test]
fn predictor_checks_the_schema_and_records() {
    let (m, r) = load("lgbm-binary");
    let names = strings(&r["feature_names"]);
    let classes = strings(&r["classes"]);
    let mut swapped = names.clone();
    swapped.swap(0, 1);
    assert!(BoostedPredictor::new(m.clone(), swapped, classes.clone()).is_err());
    assert!(BoostedPredictor::new(m.clone(), names[..5].to_vec(), classes.clone()).is_err());
    assert!(BoostedPredictor::new(m.clone(), names.clone(), vec!["a".into()]).is_err());
    let p = BoostedPredictor::new(m, names, classes).unwrap();
    // Missing and null features are missing values.
    let rec: Map<String, Value> =
        serde_json::from_value(json!({"age": null, "fnlwgt": 1.0})).unwrap();
    assert_eq!(p.predict_json(&[rec]).unwrap().len(), 1);
    let rec: Map<String, Value> = serde_json::from_value(json!({"age": "old"})).unwrap();
    let e = p.predict_json(&[Map::new(), rec]).unwrap_err().to_string();
    assert!(e.contains("record 1") && e.contains("age"), "{e}");
    let rec: Map<String, Value> = serde_json::from_value(json!({"height": 1})).unwrap();
    assert!(p.predict_json(&[rec]).is_err());
}

// ---------------------------------------------------------------- refusals

fn xgb_doc(name: &str) -> Value {
    serde_json::from_slice(&bytes(name)).unwrap()
}

fn xgb_error(doc: &Value) -> warden_ml::boosted::FormatError {
    match parse_xgboost_json(&serde_json::to_vec(doc).unwrap()) {
        Err(MlError::Format(e)) => {
            assert_eq!(e.format, BoostedFormat::XgboostJson);
            e
        }
        Err(e) => panic!("not a format error: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

fn tree0(doc: &mut Value) -> &mut Value {
    &mut doc["learner"]["gradient_booster"]["model"]["trees"][0]
}

#[test]
fn xgboost_refusals_name_the_tree_and_field() {
    let base = xgb_doc("xgb-binary.json");
    assert!(parse_xgboost_json(&serde_json::to_vec(&base).unwrap()).is_ok());

    let mut d = base.clone();
    tree0(&mut d)["left_children"].as_array_mut().unwrap().pop();
    let e = xgb_error(&d);
    assert_eq!(
        (e.tree, e.field.as_str()),
        (Some(0), "left_children"),
        "{e}"
    );

    let mut d = base.clone();
    tree0(&mut d)["left_children"][0] = json!(999);
    let e = xgb_error(&d);
    assert_eq!(
        (e.tree, e.field.as_str()),
        (Some(0), "left_children"),
        "{e}"
    );

    // Node 1 points back at the root: a cycle.
    let mut d = base.clone();
    tree0(&mut d)["left_children"][1] = json!(0);
    let e = xgb_error(&d);
    assert!(e.message.contains("reached twice"), "{e}");

    let mut d = base.clone();
    tree0(&mut d)["split_type"][0] = json!(1);
    let e = xgb_error(&d);
    assert!(e.message.contains("categorical"), "{e}");
    let mut d = base.clone();
    tree0(&mut d)["categories"] = json!([1, 2]);
    assert!(xgb_error(&d).message.contains("categorical"));
    let mut d = base.clone();
    d["learner"]["feature_types"][2] = json!("c");
    assert!(xgb_error(&d).message.contains("categorical"));

    let mut d = base.clone();
    d["learner"]["objective"]["name"] = json!("reg:squarederror");
    let e = xgb_error(&d);
    assert_eq!(e.field, "learner.objective.name");

    let mut d = base.clone();
    d["learner"]["gradient_booster"]["name"] = json!("dart");
    assert!(xgb_error(&d).message.contains("DART"));

    let mut d = base.clone();
    tree0(&mut d)["split_indices"][0] = json!(6);
    let e = xgb_error(&d);
    assert_eq!(e.tree, Some(0));
    assert!(e.message.contains("feature 6"), "{e}");

    // A non-finite threshold cannot be written in JSON; a huge one overflows f32.
    let mut d = base.clone();
    tree0(&mut d)["split_conditions"][0] = json!(1e300);
    let e = xgb_error(&d);
    assert!(
        e.field == "threshold" || e.field.contains("split_conditions"),
        "{e}"
    );

    let mut d = base.clone();
    d["learner"]["gradient_booster"]["model"]["tree_info"][3] = json!(1);
    let e = xgb_error(&d);
    assert_eq!((e.tree, e.field.as_str()), (Some(3), "tree_info"), "{e}");

    let mut d = base.clone();
    d["learner"]["learner_model_param"]["num_class"] = json!("3");
    assert!(xgb_error(&d).field.ends_with("num_class"));

    let mut d = base.clone();
    d["learner"]["learner_model_param"]["num_target"] = json!("2");
    assert!(xgb_error(&d).field.ends_with("num_target"));

    let mut d = base.clone();
    d["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"] = json!("29");
    assert!(xgb_error(&d).field.ends_with("num_trees"));

    let mut d = base.clone();
    tree0(&mut d)["split_conditions"][2] = json!("x");
    let e = xgb_error(&d);
    assert_eq!(e.tree, Some(0));
    assert!(e.field.contains("split_conditions"), "{e}");

    let mut d = xgb_doc("xgb-multi.json");
    d["learner"]["learner_model_param"]["base_score"] = json!("[0.1,0.2]");
    assert!(xgb_error(&d).field.ends_with("base_score"));
}

fn lgbm_error(text: &str) -> warden_ml::boosted::FormatError {
    match parse_lightgbm_text(text.as_bytes()) {
        Err(MlError::Format(e)) => {
            assert_eq!(e.format, BoostedFormat::LightgbmText);
            e
        }
        Err(e) => panic!("not a format error: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

/// The binary model with one line of tree `t` (starting with `key=`) replaced.
fn lgbm_with(t: usize, key: &str, value: &str) -> String {
    let text = String::from_utf8(bytes("lgbm-binary.txt")).unwrap();
    let mut out = Vec::new();
    let mut tree = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("Tree=") {
            tree = n.parse::<usize>().ok();
        }
        if tree == Some(t) && line.starts_with(&format!("{key}=")) {
            out.push(format!("{key}={value}"));
        } else {
            out.push(line.to_string());
        }
    }
    out.join("\n")
}

#[test]
fn lightgbm_refusals_name_the_tree_and_field() {
    let text = String::from_utf8(bytes("lgbm-binary.txt")).unwrap();
    assert!(parse_lightgbm_text(text.as_bytes()).is_ok());

    let e = lgbm_error(&lgbm_with(2, "left_child", "1 3 -3"));
    assert_eq!((e.tree, e.field.as_str()), (Some(2), "left_child"), "{e}");

    let e = lgbm_error(&lgbm_with(
        0,
        "left_child",
        "1 3 -3 11 7 6 9 -4 -7 -5 -11 -1 13 -99",
    ));
    assert_eq!(e.tree, Some(0));
    assert!(e.message.contains("out of range"), "{e}");

    // Split 1's left child is the root: a cycle.
    let e = lgbm_error(&lgbm_with(
        0,
        "left_child",
        "1 0 -3 11 7 6 9 -4 -7 -5 -11 -1 13 -2",
    ));
    assert!(
        e.message.contains("reached twice") || e.message.contains("not reached"),
        "{e}"
    );

    let e = lgbm_error(&lgbm_with(
        0,
        "decision_type",
        "3 2 8 8 2 2 10 10 2 2 8 10 2 2",
    ));
    assert!(e.message.contains("categorical"), "{e}");
    let e = lgbm_error(&lgbm_with(0, "num_cat", "1"));
    assert_eq!(e.field, "num_cat");
    let e = lgbm_error(&lgbm_with(0, "is_linear", "1"));
    assert_eq!(e.field, "is_linear");

    let e = lgbm_error(&lgbm_with(
        0,
        "split_feature",
        "3 2 0 0 4 4 5 5 4 2 5 0 3 6",
    ));
    assert!(e.message.contains("feature 6"), "{e}");

    let e = lgbm_error(&lgbm_with(5, "threshold", "nan 1 1 1 1 1 1 1 1 1 1 1 1 1"));
    assert_eq!((e.tree, e.field.as_str()), (Some(5), "threshold"), "{e}");
    let e = lgbm_error(&lgbm_with(
        5,
        "leaf_value",
        "inf 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    ));
    assert_eq!(e.field, "leaf value");

    let e = lgbm_error(&text.replace("objective=binary sigmoid:1", "objective=regression"));
    assert_eq!(e.field, "objective");
    let e = lgbm_error(&text.replace("objective=binary sigmoid:1", "objective=lambdarank"));
    assert_eq!(e.field, "objective");
    let e = lgbm_error(&text.replace("num_class=1", "num_class=3"));
    assert_eq!(e.field, "num_class");
    let e = lgbm_error(&text.replace("version=v4\n", "version=v4\naverage_output\n"));
    assert_eq!(e.field, "average_output");

    let cut = text.find("end of trees").unwrap();
    let e = lgbm_error(&text[..cut]);
    assert_eq!(e.field, "end of trees");
    let e = lgbm_error(&text.replace("Tree=3\n", "Tree=4\n"));
    assert_eq!(e.tree, Some(3));

    let multi = String::from_utf8(bytes("lgbm-multi.txt")).unwrap();
    let e = lgbm_error(&multi.replace("num_class:3", "num_class:4"));
    assert_eq!(e.field, "objective");
    // 44 trees are not whole iterations of 3.
    let t44 = multi.find("Tree=44").unwrap();
    let end = multi.find("end of trees").unwrap();
    let e = lgbm_error(&format!("{}{}", &multi[..t44], &multi[end..]));
    assert_eq!(e.field, "num_tree_per_iteration");
}

#[test]
fn a_one_leaf_lightgbm_tree_is_a_constant() {
    let text = String::from_utf8(bytes("lgbm-binary.txt")).unwrap();
    let t1 = text.find("Tree=1\n").unwrap();
    let t2 = text.find("Tree=2\n").unwrap();
    let one_leaf = "Tree=1\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\nthreshold=\ndecision_type=\nleft_child=\nright_child=\nleaf_value=0.25\nleaf_weight=\nleaf_count=\ninternal_value=\ninternal_weight=\ninternal_count=\nis_linear=0\nshrinkage=1\n\n\n";
    let changed = format!("{}{}{}", &text[..t1], one_leaf, &text[t2..]);
    let a = parse_lightgbm_text(text.as_bytes()).unwrap();
    let b = parse_lightgbm_text(changed.as_bytes()).unwrap();
    assert_eq!(b.trees()[1].leaves(), 1);
    let row = [30.0, 1e5, 10.0, 0.0, 0.0, 40.0];
    let _ = a.margins(&row, 1).unwrap();
    // Tree 1 now adds 0.25 whatever the row.
    let rows = [row, [f64::NAN; 6]].concat();
    let m = b.margins(&rows, 1).unwrap();
    assert!(m.iter().all(|v| v.is_finite()));
}

#[test]
fn not_a_model_is_refused() {
    assert!(parse_xgboost_json(b"").is_err());
    assert!(parse_xgboost_json(b"{}").is_err());
    assert!(parse_xgboost_json(b"[1,2]").is_err());
    assert!(parse_lightgbm_text(b"").is_err());
    assert!(parse_lightgbm_text(b"tree\n").is_err());
    assert!(parse_lightgbm_text(b"\xff\xfe").is_err());
    assert!(parse_xgboost_ubjson(b"{").is_err());
    assert!(parse_xgboost_ubjson(b"").is_err());
    let ubj = bytes("xgb-binary.ubj");
    let e = parse_xgboost_ubjson(&ubj[..ubj.len() / 2]).unwrap_err();
    assert!(
        e.to_string().starts_with("XGBoost UBJSON: document:"),
        "{e}"
    );
    let json = bytes("xgb-binary.json");
    let e = parse_xgboost_json(&json[..json.len() - 10]).unwrap_err();
    assert!(e.to_string().starts_with("XGBoost JSON"), "{e}");
}

// ---------------------------------------------------------------- robustness

fn fixtures() -> Vec<(BoostedFormat, Vec<u8>)> {
    vec![
        (BoostedFormat::XgboostJson, bytes("xgb-binary.json")),
        (BoostedFormat::XgboostJson, bytes("xgb-multi.json")),
        (BoostedFormat::XgboostUbjson, bytes("xgb-binary.ubj")),
        (BoostedFormat::LightgbmText, bytes("lgbm-binary.txt")),
        (BoostedFormat::LightgbmText, bytes("lgbm-multi.txt")),
    ]
}

fn exercise(model: &BoostedModel) {
    let w = model.num_features();
    let mut rows = vec![0.0; w * 4];
    rows[..w].fill(f64::NAN);
    rows[w..2 * w].fill(f64::INFINITY);
    rows[2 * w..3 * w].fill(-1e300);
    let p = model.predict_proba(&rows, 1).unwrap();
    assert_eq!(p.len(), 4 * model.num_classes());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..5,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let (format, mut b) = fixtures().swap_remove(which);
        for (at, byte) in edits {
            let i = at.index(b.len());
            b[i] = byte;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len()));
        }
        if let Ok(m) = parse_boosted(&b, format) {
            exercise(&m);
        }
    }

    #[test]
    fn small_random_ensembles_evaluate(
        trees in proptest::collection::vec(
            (proptest::collection::vec((0u64..3, -5.0f64..5.0, 0u8..16), 0..6), 0u64..2),
            1..6,
        ),
        rows in proptest::collection::vec(proptest::option::of(-6.0f64..6.0), 3 * 5),
    ) {
        // LightGBM text: each tree is a chain (split i's left child is a
        // leaf, its right the next split), with arbitrary decision types.
        let mut text = String::from("tree\nversion=v4\nnum_class=3\nnum_tree_per_iteration=3\nlabel_index=0\nmax_feature_idx=2\nobjective=multiclass num_class:3\nfeature_names=a b c\n\n");
        let mut count = 0;
        for it in 0..trees.len() {
            for k in 0..3 {
                let (splits, _) = &trees[(it + k) % trees.len()];
                let n = splits.len();
                let join = |v: Vec<String>| v.join(" ");
                text += &format!("Tree={count}\nnum_leaves={}\nnum_cat=0\n", n + 1);
                text += &format!("split_feature={}\n", join(splits.iter().map(|s| s.0.to_string()).collect()));
                text += &format!("threshold={}\n", join(splits.iter().map(|s| s.1.to_string()).collect()));
                text += &format!("decision_type={}\n", join(splits.iter().map(|s| (s.2 & 0b1110).min(10).to_string()).collect()));
                text += &format!("left_child={}\n", join((0..n).map(|i| (-(i as i64) - 1).to_string()).collect()));
                text += &format!("right_child={}\n", join((0..n).map(|i| if i + 1 < n { (i + 1).to_string() } else { (-(n as i64) - 1).to_string() }).collect()));
                text += &format!("leaf_value={}\n", join((0..=n).map(|i| format!("{}", i as f64 * 0.1 - 0.2)).collect()));
                text += "is_linear=0\nshrinkage=1\n\n\n";
                count += 1;
            }
        }
        text += "end of trees\n";
        let model = parse_lightgbm_text(text.as_bytes()).unwrap();
        let x: Vec<f64> = rows.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
        let p = model.predict_proba(&x, 2).unwrap();
        prop_assert_eq!(p.len(), 5 * 3);
        for r in p.chunks(3) {
            prop_assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        let _ = model.margins(&x, 1).unwrap();
        prop_assert!(model.margins(&x[1..], 1).is_err());
    }
}

/// 100,000 rows through the XGBoost binary model: `cargo test -p warden-ml
/// --test boosted_reference -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing_xgboost_binary_100k_rows() {
    let (model, m) = load("xgb-binary");
    let rows = m["rows"].as_array().unwrap();
    let x: Vec<f64> = (0..100_000)
        .flat_map(|i| floats(&rows[i % rows.len()]["inputs"]))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for t in [1, threads] {
        let start = std::time::Instant::now();
        let p = model.predict_proba(&x, t).unwrap();
        let s = start.elapsed().as_secs_f64();
        assert_eq!(p.len(), 200_000);
        println!(
            "xgb-binary: 100000 rows on {t} thread(s) in {s:.3} s: {:.0} rows/s",
            1e5 / s
        );
    }
}
