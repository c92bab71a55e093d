//! `--compat evidently` against Evidently's own figures.
//!
//! `crates/warden-monitor/tests/fixtures/evidently/` holds reference and
//! current CSVs and `expected.json`, written by `scripts/evidently-fixtures.sh`
//! (Evidently 0.7.23, scipy 1.17.1, pandas 2.3.3 from PyPI, DataDriftPreset
//! with default options and the column types declared). This test reads
//! the same CSVs the way `warden monitor drift` does and checks every
//! column's test, value and verdict, and each case's dataset verdict.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use warden_data::read::{CsvOptions, read_csv};
use warden_monitor::drift::Thresholds;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../warden-monitor/tests/fixtures/evidently")
}

fn table(p: &Path) -> warden_data::Table {
    let bytes = std::fs::read(p).unwrap();
    read_csv(&mut bytes.as_slice(), &CsvOptions::default())
        .unwrap()
        .0
}

#[test]
fn every_default_case_matches_evidently() {
    let dir = fixtures();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let mut checked = 0;
    for case in expected["cases"].as_array().unwrap() {
        // The non-default case exercises an option Warden does not offer.
        if case["default_options"] != true {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let r = table(&dir.join(case["reference_csv"].as_str().unwrap()));
        let c = table(&dir.join(case["current_csv"].as_str().unwrap()));
        let (report, skipped, _) =
            warden::drift_tables(&r, &c, true, &Thresholds::default(), false).unwrap();
        assert!(skipped.is_empty(), "{name}: {skipped:?}");
        for col in case["columns"].as_array().unwrap() {
            let cname = col["name"].as_str().unwrap();
            let f = report
                .features
                .iter()
                .find(|f| f.feature == cname)
                .unwrap_or_else(|| panic!("{name}/{cname} not compared"));
            let t = &f.tests[0];
            assert_eq!(
                t.test,
                col["test"].as_str().unwrap(),
                "{name}/{cname}: test"
            );
            let want = col["value"].as_f64().unwrap();
            let tol = 1e-9 * want.abs() + 1e-12;
            assert!(
                (t.value - want).abs() <= tol,
                "{name}/{cname}: {} {} vs Evidently {want}",
                t.test,
                t.value
            );
            assert_eq!(
                t.drift,
                col["drift"].as_bool().unwrap(),
                "{name}/{cname}: verdict"
            );
            assert_eq!(
                t.threshold,
                col["threshold"].as_f64().unwrap(),
                "{name}/{cname}"
            );
            checked += 1;
        }
        assert_eq!(
            report.drifted_features as u64,
            case["drifted_columns"].as_u64().unwrap(),
            "{name}: drifted columns"
        );
        assert_eq!(
            report.features.len() as u64,
            case["number_of_columns"].as_u64().unwrap()
        );
        assert_eq!(
            report.dataset_drift,
            case["dataset_drift"].as_bool().unwrap(),
            "{name}"
        );
    }
    assert!(checked >= 30, "only {checked} columns checked");
}
