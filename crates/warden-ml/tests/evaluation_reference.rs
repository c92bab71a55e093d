//! Performance and fairness figures against scikit-learn 1.9.1, fairlearn
//! 0.15.0 and AIF360 0.6.1 on a fixed prediction set.
//!
//! `tests/data/fairness/predictions.csv` (400 rows: label, prediction, score,
//! sex, age_band, region) and `reference.json` were made by
//! `tests/reference/make_fairness_reference.py`, which says how to run it.
//! `region` has two degenerate groups on purpose: `east` has no positive
//! labels (no TPR) and `west` is never predicted positive. There fairlearn
//! reports 0 and AIF360 NaN or infinity; Warden reports the figure as
//! undefined, or leaves the group out of the spread and says so.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::Value;
use warden_ml::Matrix;
use warden_ml::fairness::{
    attribute_fairness, coefficient_of_variation, generalized_entropy_index, theil_index,
};
use warden_ml::metrics::{Figure, Outcomes, performance};

struct Rows {
    label: Vec<bool>,
    prediction: Vec<bool>,
    score: Vec<f64>,
    cols: std::collections::BTreeMap<String, Vec<String>>,
}

fn rows() -> Rows {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fairness");
    let text = std::fs::read_to_string(dir.join("predictions.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut r = Rows {
        label: vec![],
        prediction: vec![],
        score: vec![],
        cols: Default::default(),
    };
    for line in lines {
        for (h, v) in header.iter().zip(line.split(',')) {
            match *h {
                "label" => r.label.push(v == "1"),
                "prediction" => r.prediction.push(v == "1"),
                "score" => r.score.push(v.parse().unwrap()),
                other => r
                    .cols
                    .entry(other.to_string())
                    .or_default()
                    .push(v.to_string()),
            }
        }
    }
    r
}

fn reference() -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fairness");
    serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap()
}

fn close(ours: &Figure, theirs: &Value, what: &str) {
    let t = theirs
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: reference {theirs}"));
    let o = ours
        .value()
        .unwrap_or_else(|| panic!("{what}: undefined ({ours:?}), reference {t}"));
    assert!((o - t).abs() < 1e-9, "{what}: warden {o}, reference {t}");
}

#[test]
fn performance_matches_scikit_learn() {
    let r = rows();
    let sk = &reference()["sklearn"];
    let classes = ["0".to_string(), "1".to_string()];
    let truth: Vec<u32> = r.label.iter().map(|&b| u32::from(b)).collect();
    let predicted: Vec<u32> = r.prediction.iter().map(|&b| u32::from(b)).collect();
    let probs = Matrix {
        rows: r.score.len(),
        cols: 2,
        data: r.score.iter().flat_map(|&s| [1.0 - s, s]).collect(),
    };
    let p = performance(
        &Outcomes {
            classes: &classes,
            truth: &truth,
            predicted: &predicted,
            probabilities: Some(&probs),
        },
        200,
        7,
    );
    close(&Figure::Defined(p.accuracy), &sk["accuracy"], "accuracy");
    close(
        &p.balanced_accuracy,
        &sk["balanced_accuracy"],
        "balanced accuracy",
    );
    for c in &p.per_class {
        let want = &sk["per_class"][&c.class];
        close(&c.precision, &want["precision"], "precision");
        close(&c.recall, &want["recall"], "recall");
        close(&c.f1, &want["f1"], "f1");
        assert_eq!(c.support, want["support"].as_u64().unwrap());
    }
    close(&p.macro_f1, &sk["macro"]["f1"], "macro f1");
    close(
        &p.macro_precision,
        &sk["macro"]["precision"],
        "macro precision",
    );
    close(&p.roc_auc, &sk["roc_auc"], "roc auc");
    close(&p.pr_auc, &sk["average_precision"], "average precision");
    close(&p.log_loss, &sk["log_loss"], "log loss");
    close(&p.brier, &sk["brier_score_loss"], "brier");
    let cm: Vec<Vec<u64>> =
        serde_json::from_value(sk["confusion_matrix"]["matrix"].clone()).unwrap();
    assert_eq!(p.confusion, cm);
    // The bootstrap is seeded and brackets the point estimate.
    let ci = &p.ci95["accuracy"];
    assert!(ci.low < p.accuracy && p.accuracy < ci.high, "{ci:?}");
    let again = performance(
        &Outcomes {
            classes: &classes,
            truth: &truth,
            predicted: &predicted,
            probabilities: Some(&probs),
        },
        200,
        7,
    );
    assert_eq!(again.ci95["roc_auc"].low, p.ci95["roc_auc"].low);
    // Without scores, score-based figures are undefined, not 0.
    let bare = performance(
        &Outcomes {
            classes: &classes,
            truth: &truth,
            predicted: &predicted,
            probabilities: None,
        },
        0,
        7,
    );
    assert!(bare.roc_auc.value().is_none() && bare.log_loss.value().is_none());
}

#[test]
fn fairness_matches_fairlearn_and_aif360() {
    let r = rows();
    let refj = reference();
    let fl = &refj["fairlearn"];
    let inter: Vec<String> = r.cols["sex"]
        .iter()
        .zip(&r.cols["age_band"])
        .map(|(a, b)| format!("{a}|{b}"))
        .collect();
    for (name, groups) in [
        ("sex", r.cols["sex"].clone()),
        ("age_band", r.cols["age_band"].clone()),
        ("sex&age_band", inter),
    ] {
        let f = attribute_fairness(name, &r.label, &r.prediction, &groups, None);
        let want = &fl[name];
        close(
            &f.demographic_parity_difference,
            &want["demographic_parity_difference"],
            &format!("{name} dp diff"),
        );
        close(
            &f.demographic_parity_ratio,
            &want["demographic_parity_ratio"],
            &format!("{name} dp ratio"),
        );
        close(
            &f.equalized_odds_difference,
            &want["equalized_odds_difference"],
            &format!("{name} eo diff"),
        );
        close(
            &f.equalized_odds_ratio,
            &want["equalized_odds_ratio"],
            &format!("{name} eo ratio"),
        );
        close(
            &f.equal_opportunity_difference,
            &want["equal_opportunity_difference"],
            &format!("{name} eop diff"),
        );
        close(
            &f.equal_opportunity_ratio,
            &want["equal_opportunity_ratio"],
            &format!("{name} eop ratio"),
        );
        for g in &f.groups {
            let w = &want["by_group"][&g.group];
            assert_eq!(
                g.count,
                w["count"].as_f64().unwrap() as u64,
                "{name} {}",
                g.group
            );
            close(
                &g.selection_rate,
                &w["selection_rate"],
                &format!("{name} {} selection", g.group),
            );
            close(
                &g.tpr,
                &w["true_positive_rate"],
                &format!("{name} {} tpr", g.group),
            );
            close(
                &g.fpr,
                &w["false_positive_rate"],
                &format!("{name} {} fpr", g.group),
            );
            close(
                &g.accuracy,
                &w["accuracy_score"],
                &format!("{name} {} accuracy", g.group),
            );
        }
    }
    let ai = &refj["aif360"];
    for (name, privileged) in [("sex", "male"), ("age_band", "26-40")] {
        let f = attribute_fairness(
            name,
            &r.label,
            &r.prediction,
            &r.cols[name],
            Some(privileged),
        );
        let p = f.privileged.unwrap();
        let want = &ai[name];
        close(
            &p.disparate_impact,
            &want["disparate_impact"],
            &format!("{name} DI"),
        );
        close(
            &p.statistical_parity_difference,
            &want["statistical_parity_difference"],
            &format!("{name} SPD"),
        );
        close(
            &p.average_odds_difference,
            &want["average_odds_difference"],
            &format!("{name} AOD"),
        );
        close(
            &p.equal_opportunity_difference,
            &want["equal_opportunity_difference"],
            &format!("{name} EOD"),
        );
        close(
            &p.average_abs_odds_difference,
            &want["average_abs_odds_difference"],
            &format!("{name} AAOD"),
        );
        close(
            &theil_index(&r.label, &r.prediction),
            &want["theil_index"],
            "theil",
        );
        close(
            &generalized_entropy_index(&r.label, &r.prediction, 2.0),
            &want["generalized_entropy_index"],
            "GE(2)",
        );
        close(
            &coefficient_of_variation(&r.label, &r.prediction),
            &want["coefficient_of_variation"],
            "coefficient of variation",
        );
        // Between the privileged and the unprivileged side.
        close(
            &p.between_group_theil_index,
            &want["between_group_theil_index"],
            &format!("{name} between-group Theil"),
        );
        close(
            &p.between_group_coefficient_of_variation,
            &want["between_group_coefficient_of_variation"],
            &format!("{name} between-group CV"),
        );
    }
}

#[test]
fn empty_denominators_are_undefined_with_reasons_not_zero_or_infinity() {
    let r = rows();
    let f = attribute_fairness("region", &r.label, &r.prediction, &r.cols["region"], None);
    let east = f.groups.iter().find(|g| g.group == "east").unwrap();
    // fairlearn: TPR 0.0; AIF360: NaN.
    match &east.tpr {
        Figure::Undefined { undefined } => assert!(undefined.contains("no positive labels")),
        other => panic!("east TPR {other:?}"),
    }
    assert!(
        f.notes
            .iter()
            .any(|n| n.contains("east") && n.contains("true positive rate")),
        "{:?}",
        f.notes
    );
    // The TPR spread is over the groups that have positives (here west's
    // genuine 0 sets the minimum, so it equals fairlearn's figure, which
    // counts east's missing TPR as 0).
    let tprs: Vec<f64> = f.groups.iter().filter_map(|g| g.tpr.value()).collect();
    assert_eq!(tprs.len(), 3);
    let spread = tprs.iter().cloned().fold(f64::MIN, f64::max)
        - tprs.iter().cloned().fold(f64::MAX, f64::min);
    assert_eq!(f.equal_opportunity_difference.value(), Some(spread));
    // Without west, the missing TPR of east would have been a false minimum.
    let keep: Vec<usize> = (0..r.label.len())
        .filter(|&i| r.cols["region"][i] != "west")
        .collect();
    let pick = |v: &Vec<bool>| keep.iter().map(|&i| v[i]).collect::<Vec<bool>>();
    let regions: Vec<String> = keep.iter().map(|&i| r.cols["region"][i].clone()).collect();
    let g = attribute_fairness(
        "region",
        &pick(&r.label),
        &pick(&r.prediction),
        &regions,
        None,
    );
    let tprs: Vec<f64> = g.groups.iter().filter_map(|g| g.tpr.value()).collect();
    assert_eq!(tprs.len(), 2, "north and south only");
    assert!(
        g.equal_opportunity_difference.value().unwrap() < 0.5,
        "{:?}",
        g.equal_opportunity_difference
    );
    // west is never predicted positive: the DP ratio is a genuine 0 …
    assert_eq!(f.demographic_parity_ratio.value(), Some(0.0));
    // … and with west as the privileged group, AIF360's infinite disparate
    // impact is undefined here.
    let w = attribute_fairness(
        "region",
        &r.label,
        &r.prediction,
        &r.cols["region"],
        Some("west"),
    );
    match &w.privileged.unwrap().disparate_impact {
        Figure::Undefined { undefined } => {
            // The message names the group, not its selection rate.
            assert!(
                undefined.contains("the privileged group \"west\" has no positive predictions"),
                "{undefined}"
            )
        }
        other => panic!("DI {other:?}"),
    }
    // With east (no positives) as the privileged side, the unprivileged
    // side's rates are named in plain grammar.
    let e = attribute_fairness(
        "region",
        &r.label,
        &r.prediction,
        &r.cols["region"],
        Some("east"),
    );
    match &e.privileged.unwrap().equal_opportunity_difference {
        Figure::Undefined { undefined } => {
            assert_eq!(undefined, "no positive labels in the privileged group")
        }
        other => panic!("EOD {other:?}"),
    }
    // Only one group defines the FPR: the equalized odds figures are the
    // TPR spread and ratio alone, with a note (fairlearn would count the
    // missing FPR as 0).
    let two: Vec<usize> = (0..r.label.len())
        .filter(|&i| ["east", "north"].contains(&r.cols["region"][i].as_str()))
        .collect();
    let all_negative: Vec<bool> = two
        .iter()
        .map(|&i| r.cols["region"][i] == "north")
        .collect();
    let pred: Vec<bool> = two.iter().map(|&i| r.prediction[i]).collect();
    let grp: Vec<String> = two.iter().map(|&i| r.cols["region"][i].clone()).collect();
    // north: every label positive (no FPR); east: every label negative (no TPR).
    let one = attribute_fairness("region", &all_negative, &pred, &grp, None);
    assert!(one.equalized_odds_difference.value().is_none());
    let mixed: Vec<bool> = two
        .iter()
        .enumerate()
        .map(|(k, &i)| r.cols["region"][i] == "north" && k % 2 == 0)
        .collect();
    let m = attribute_fairness("region", &mixed, &pred, &grp, None);
    // east has no positives, so fewer than two groups define the TPR; both
    // define the FPR.
    assert!(m.equal_opportunity_difference.value().is_none());
    let fprs: Vec<f64> = m.groups.iter().filter_map(|g| g.fpr.value()).collect();
    assert_eq!(fprs.len(), 2);
    assert_eq!(
        m.equalized_odds_difference.value(),
        Some((fprs[0] - fprs[1]).abs())
    );
    assert!(
        m.notes
            .iter()
            .any(|n| n.starts_with("equalized odds: from the false positive rate spread alone")),
        "{:?}",
        m.notes
    );
    // A single-row group is reported, not a crash.
    let groups: Vec<String> = (0..r.label.len())
        .map(|i| {
            if i == 0 {
                "solo".into()
            } else {
                "crowd".into()
            }
        })
        .collect();
    let s = attribute_fairness("g", &r.label, &r.prediction, &groups, None);
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("solo") && n.contains("single row"))
    );
}
