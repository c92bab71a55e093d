//! End-to-end: `warden monitor drift` on generated credit data and on the
//! UCI Adult fixture: verdicts, exit codes, the report, bad input.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;

mod common;
use common::{run, warden};

/// `warden monitor drift ARGS` in `dir`.
fn drift(dir: &Path, args: &[&str]) -> (i32, String, String) {
    run(warden(dir).args(["monitor", "drift"]).args(args))
}

fn example(dir: &Path, out: &str, rows: &str, seed: &str, shift: bool) {
    let mut c = warden(dir);
    c.args([
        "example", "credit", "--rows", rows, "--seed", seed, "--out", out,
    ]);
    if shift {
        c.arg("--shift");
    }
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 0, "{err}");
}

fn feature<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"] == name)
        .unwrap_or_else(|| panic!("{name} not in {r}"))
}

#[test]
fn a_known_shift_is_found_and_the_same_distribution_is_not() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    example(dir, "ref.csv", "6000", "1", false);
    example(dir, "same.csv", "3000", "2", false);
    example(dir, "shifted.csv", "3000", "3", true);
    let (code, out, err) = drift(
        dir,
        &[
            "--reference",
            "ref.csv",
            "--current",
            "same.csv",
            "--json",
            "--fail-on-drift",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["dataset_drift"], false);
    for f in ["income", "credit_score", "debt_ratio", "age"] {
        assert_eq!(
            feature(&r, f)["verdict"],
            "stable",
            "{f}: {}",
            feature(&r, f)
        );
    }
    // Free text is listed as not compared, never silently dropped.
    assert!(
        r["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["column"] == "email")
    );

    let (code, out, err) = drift(
        dir,
        &[
            "--reference",
            "ref.csv",
            "--current",
            "shifted.csv",
            "--json",
            "--fail-on-drift",
            "--report",
            "report",
        ],
    );
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    for f in ["income", "credit_score", "debt_ratio"] {
        assert_eq!(
            feature(&r, f)["verdict"],
            "drift",
            "{f}: {}",
            feature(&r, f)
        );
    }
    for f in ["age", "sex", "housing"] {
        assert_ne!(
            feature(&r, f)["verdict"],
            "drift",
            "{f}: {}",
            feature(&r, f)
        );
    }
    // income, loan_amount, credit_score, debt_ratio and the label move: not half of 14.
    assert_eq!(r["dataset_drift"], false);
    assert_eq!(code, 0);
    let html = std::fs::read_to_string(dir.join("report/report.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("income (drift)"),
        "no chart"
    );
    assert!(
        std::fs::read_to_string(dir.join("report/report.md"))
            .unwrap()
            .contains("| income |")
    );

    // A lower share threshold makes it dataset drift: exit 7.
    let (code, _, _) = drift(
        dir,
        &[
            "--reference",
            "ref.csv",
            "--current",
            "shifted.csv",
            "--drift-share",
            "0.2",
            "--fail-on-drift",
        ],
    );
    assert_eq!(code, 7);

    // The Evidently-compatible mode on the same files.
    let (code, out, _) = drift(
        dir,
        &[
            "--reference",
            "ref.csv",
            "--current",
            "shifted.csv",
            "--compat",
            "evidently",
            "--json",
        ],
    );
    assert_eq!(code, 0);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["mode"], "evidently");
    assert_eq!(feature(&r, "income")["tests"][0]["test"], "wasserstein");
    assert_eq!(feature(&r, "sex")["tests"][0]["test"], "jensenshannon");
}

#[test]
fn adult_train_against_test_with_gaps_and_leading_spaces() {
    // UCI Adult as distributed: leading spaces, `?` gaps, and a test file
    // whose labels end in a full stop.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../warden/tests/data/adult");
    let d = tempfile::tempdir().unwrap();
    let (code, out, err) = run(warden(d.path())
        .args(["monitor", "drift", "--trim", "--json", "--reference"])
        .arg(data.join("adult.data.csv"))
        .arg("--current")
        .arg(data.join("adult.test.csv")));
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    // The two files sample one population: no feature drifts…
    for f in [
        "age",
        "workclass",
        "education",
        "hours-per-week",
        "sex",
        "race",
    ] {
        assert_ne!(
            feature(&r, f)["verdict"],
            "drift",
            "{f}: {}",
            feature(&r, f)
        );
    }
    // …the `?` gaps are counted as missing…
    assert!(
        feature(&r, "workclass")["current_missing"]
            .as_u64()
            .unwrap()
            > 0
    );
    // …and the relabelled target ("<=50K." for "<=50K") is caught.
    assert_eq!(feature(&r, "Y")["verdict"], "drift", "{}", feature(&r, "Y"));
    assert!(!r["dataset_drift"].as_bool().unwrap());
}

#[test]
fn bad_input_is_named_and_exits_non_zero() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    example(dir, "ref.csv", "500", "1", false);
    let (code, _, err) = drift(dir, &["--reference", "ref.csv", "--current", "nope.csv"]);
    assert_eq!(code, 1);
    assert!(err.contains("nope.csv"), "{err}");
    let (code, _, err) = drift(
        dir,
        &[
            "--reference",
            "ref.csv",
            "--current",
            "ref.csv",
            "--compat",
            "alibi",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("evidently"), "{err}");
    let (code, _, err) = drift(
        dir,
        &[
            "--reference",
            "ref.csv",
            "--current",
            "ref.csv",
            "--alpha",
            "1.5",
        ],
    );
    assert_eq!(code, 2, "{err}");
    std::fs::write(dir.join("other.csv"), "x,y\n1,2\n3,4\n").unwrap();
    let (code, _, err) = drift(dir, &["--reference", "ref.csv", "--current", "other.csv"]);
    assert_ne!(code, 0);
    assert!(err.contains("no column in common"), "{err}");
    // A registered reference needs a workspace.
    let (code, _, err) = drift(dir, &["--reference", "credit@1", "--current", "ref.csv"]);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("workspace"), "{err}");
}

#[test]
fn a_name_that_is_both_a_model_and_a_dataset_is_chosen_with_a_prefix() {
    // The usual layout: dataset credit@1 and the model credit@1 trained on it.
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    for args in [
        vec!["init", "."],
        vec!["keys", "generate", "pipeline"],
        vec![
            "example",
            "credit",
            "--rows",
            "600",
            "--seed",
            "1",
            "--out",
            "credit.csv",
        ],
        vec![
            "data",
            "ingest",
            "credit.csv",
            "--name",
            "credit",
            "--target",
            "approved",
            "--id",
            "customer_id",
            "--sensitive",
            "sex",
        ],
        vec!["train", "--dataset", "credit@1", "--name", "credit"],
        vec!["train", "--dataset", "credit@1", "--name", "scorer"],
    ] {
        let (code, _, err) = run(warden(dir).args(&args));
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    example(dir, "today.csv", "300", "2", true);

    // A bare NAME@V is refused as a usage error, and the hint names both choices.
    let (code, out, err) = drift(
        dir,
        &[
            "--reference",
            "credit@1",
            "--current",
            "today.csv",
            "--json",
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    let e: Value = serde_json::from_str(&err).unwrap();
    assert_eq!(e["error"]["kind"], "usage", "{e}");
    assert_eq!(
        e["error"]["message"],
        "credit@1 names both a model and a dataset"
    );
    let hint = e["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("model:credit@1") && hint.contains("dataset:credit@1"),
        "{hint}"
    );
    let (code, _, err) = drift(dir, &["--reference", "credit@1", "--current", "today.csv"]);
    assert_eq!(code, 2);
    assert!(err.contains("hint: write model:credit@1"), "{err}");

    // Either prefix chooses.
    for (reference, label) in [
        ("model:credit@1", "model credit@1"),
        ("dataset:credit@1", "dataset credit@1"),
    ] {
        let (code, out, err) = drift(
            dir,
            &["--reference", reference, "--current", "today.csv", "--json"],
        );
        assert_eq!(code, 0, "{reference}: {err}");
        let r: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(r["reference"], label, "{reference}");
    }
    // A name that is only a model needs no prefix; one that is neither is named.
    let (code, out, err) = drift(
        dir,
        &[
            "--reference",
            "scorer@1",
            "--current",
            "today.csv",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["reference"], "model scorer@1");
    let (code, _, err) = drift(dir, &["--reference", "credit@2", "--current", "today.csv"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no model or dataset credit@2"), "{err}");
}
