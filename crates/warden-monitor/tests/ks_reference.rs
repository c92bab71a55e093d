//! KS p-values against SciPy 1.17.1.
//!
//! `tests/reference/ks_reference.json` is produced by `scripts/ks-reference.sh`
//! (see `tests/reference/make_ks_reference.py`): `kstwo.sf(x, n)` at sizes
//! and statistics that reach every branch of SciPy's method, and
//! `ks_2samp` (method `auto`) on deterministic samples larger than 10,000.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use warden_monitor::kstwo::kstwo_sf;
use warden_monitor::stats::{ks_test, sort_floats};

fn reference() -> serde_json::Value {
    serde_json::from_str(include_str!("reference/ks_reference.json")).unwrap()
}

#[test]
fn kstwo_sf_matches_scipy() {
    let v = reference();
    let (mut worst, mut at) = (0.0f64, String::new());
    let rows = v["kstwo"].as_array().unwrap();
    assert!(rows.len() > 500);
    for row in rows {
        let n = row[0].as_u64().unwrap();
        let x = row[1].as_f64().unwrap();
        let want = row[2].as_f64().unwrap();
        let got = kstwo_sf(n, x);
        let diff = (got - want).abs();
        if diff > worst {
            worst = diff;
            at = format!("n={n} x={x}: {got} vs SciPy {want}");
        }
        assert!(
            diff <= 1e-8,
            "n={n} x={x}: {got} vs SciPy {want} ({diff:e})"
        );
        // Small p-values agree in relative terms too.
        if want > 1e-300 && want < 1e-3 {
            assert!(diff <= 1e-6 * want, "n={n} x={x}: {got} vs SciPy {want}");
        }
    }
    eprintln!("worst |difference| from SciPy's kstwo.sf: {worst:e} ({at})");
}

fn sample(spec: &serde_json::Value) -> Vec<f64> {
    let size = spec[0].as_u64().unwrap();
    let (mult, shift) = (spec[1].as_f64().unwrap(), spec[2].as_f64().unwrap());
    let mut v: Vec<f64> = (0..size).map(|i| (i as f64 * mult) % 1.0 + shift).collect();
    sort_floats(&mut v);
    v
}

#[test]
fn two_sample_p_values_match_scipy() {
    let v = reference();
    for case in v["two_sample"].as_array().unwrap() {
        let (a, b) = (sample(&case["a"]), sample(&case["b"]));
        let (d, p) = ks_test(&a, &b);
        let (want_d, want_p) = (
            case["statistic"].as_f64().unwrap(),
            case["pvalue"].as_f64().unwrap(),
        );
        assert!((d - want_d).abs() < 1e-12, "{case}: D {d}");
        assert!((p - want_p).abs() < 1e-6, "{case}: p {p} vs SciPy {want_p}");
    }
}
