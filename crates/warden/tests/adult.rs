//! Logistic regression on UCI Adult against scikit-learn.
//!
//! The reference figures in `reference/sklearn_adult.out.json` come from
//! `reference/sklearn_adult.py` (scikit-learn 1.9.1: mean imputation +
//! `StandardScaler` for numerics, most-frequent imputation + `OneHotEncoder`
//! for categoricals, `LogisticRegression(C=1, lbfgs)`), trained on
//! `adult.data` and scored on `adult.test`. Warden's preprocessing and
//! objective are defined the same way, so the test accuracy must agree to
//! within 1 point and the fitted coefficients closely.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use warden::{frame_for_model, frame_from_table};
use warden_data::read::{CsvOptions, read_csv};
use warden_ml::{ModelKind, NativePredictor, Predictor, TrainConfig};

fn data(name: &str) -> warden_data::Table {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/adult")
        .join(name);
    let mut f = std::fs::File::open(&path).unwrap();
    let opts = CsvOptions {
        trim: true,
        missing: vec!["?".into(), String::new()],
        ..Default::default()
    };
    read_csv(&mut f, &opts).unwrap().0
}

#[test]
fn logistic_regression_matches_scikit_learn_on_adult() {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("reference/sklearn_adult.out.json")).unwrap();
    let train = data("adult.data.csv");
    let test = data("adult.test.csv");
    let features: Vec<String> = train
        .names()
        .iter()
        .filter(|n| **n != "Y")
        .map(|s| s.to_string())
        .collect();
    let (frame, labels) = frame_from_table(&train, &features, "Y").unwrap();
    assert_eq!(labels.classes, ["<=50K", ">50K"]);
    let mut cfg = TrainConfig::defaults(ModelKind::Logreg, None);
    cfg.holdout = 0.0;
    cfg.max_iter = 1000;
    let t = warden_ml::train::train(&frame, &labels, &cfg, 2, &mut |_, _| {}).unwrap();
    assert_eq!(t.optimiser.converged, Some(true), "{:?}", t.optimiser);
    assert_eq!(
        t.preprocessor.width(),
        105 + 8,
        "105 columns as scikit-learn, plus one unknown bucket per categorical"
    );

    let p =
        NativePredictor::new(t.preprocessor.clone(), t.model.clone(), t.classes.clone()).unwrap();
    let probs = p
        .predict_frame(&frame_for_model(&p, &test).unwrap(), 2)
        .unwrap();
    let y = test.column("Y").unwrap();
    let mut hits = 0;
    for r in 0..test.rows {
        let truth = y.data.text(r).unwrap();
        let predicted = if probs.row(r)[1] > probs.row(r)[0] {
            ">50K."
        } else {
            "<=50K."
        };
        hits += usize::from(truth == predicted);
    }
    let accuracy = hits as f64 / test.rows as f64;
    let sk = reference["test_accuracy"].as_f64().unwrap();
    eprintln!(
        "warden test accuracy {accuracy:.5}, scikit-learn {sk:.5}, train accuracy {:.5}",
        t.train.accuracy
    );
    assert_eq!(test.rows, 16281);
    assert!(
        (accuracy - sk).abs() <= 0.01,
        "warden {accuracy} vs scikit-learn {sk}"
    );

    // Same objective, same optimum: the numeric coefficients agree closely.
    let tensors = t.model.to_tensors();
    let coef = &tensors[0].2;
    let names = p.preprocessor.output_names();
    for (name, want) in reference["numeric_coef"].as_object().unwrap() {
        let i = names.iter().position(|n| n == name).unwrap();
        let want = want.as_f64().unwrap();
        assert!(
            (coef[i] - want).abs() < 0.02,
            "{name}: warden {} vs scikit-learn {want}",
            coef[i]
        );
    }
}
