//! `--compat evidently`: the column tests and verdicts Evidently's
//! DataDriftPreset picks by default, reproduced so a user moving from
//! Evidently can compare figures one for one.
//!
//! The choice depends on the column type, the reference's row count and
//! the number of distinct non-missing values over reference and current:
//!
//! | reference values | column | distinct values | test (drift when) |
//! | --- | --- | --- | --- |
//! | ≤ 1000 | numeric | > 5 | KS p-value (p ≤ 0.05) |
//! | ≤ 1000 | numeric or categorical | 3 – 5 (any for categorical) | chi-square goodness of fit p-value (p < 0.05) |
//! | ≤ 1000 | numeric or categorical | ≤ 2 | two-proportion z-test p-value (p < 0.05) |
//! | > 1000 | numeric | > 5 | Wasserstein / max(std_ref, 0.001) (≥ 0.1) |
//! | > 1000 | numeric ≤ 5, or categorical | | Jensen–Shannon distance (≥ 0.1) |
//!
//! Missing values (and infinities) are dropped before anything else: the
//! "reference values" that pick the test are the column's non-missing
//! ones. The chi-square is a goodness-of-fit test of the current counts
//! against the reference's scaled to the current size, over the levels
//! seen on either side. Jensen–Shannon (natural logarithm) compares shares
//! per value, with no smoothing of empty levels (Evidently bins only
//! numeric columns with more than 20 distinct reference values, which its
//! default choice sends to Wasserstein instead). The dataset drifts when
//! at least half the columns drift. The fixtures under
//! `tests/fixtures/evidently/` hold Evidently's own figures for each branch.

use std::collections::BTreeMap;

use crate::drift::{
    DriftReport, FeatureDrift, Kind, Mode, TestValue, Thresholds, Verdict, par_map, summarise,
};
use crate::stats;

/// Reference row count up to which p-value tests are used.
pub const SMALL_REFERENCE_ROWS: usize = 1000;
/// Distinct values at or below which a numeric column is tested as discrete.
pub const FEW_VALUES: usize = 5;
/// Significance level of the p-value tests: KS says drift at or below it,
/// chi-square and the z-test below it, as in Evidently.
pub const P_THRESHOLD: f64 = 0.05;
/// Distance (normalised Wasserstein, Jensen–Shannon) at or above which a
/// distance test says drift.
pub const DISTANCE_THRESHOLD: f64 = 0.1;
/// Share of drifted columns at or above which the dataset drifts.
pub const DRIFT_SHARE: f64 = 0.5;

/// One column's non-missing values (NaN and infinities already removed
/// for numeric columns).
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// A numeric column's finite values.
    Numeric(Vec<f64>),
    /// A categorical column's values as text.
    Categorical(Vec<String>),
}

/// One column of both samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// The column's name, reported as [`FeatureDrift::feature`].
    pub name: String,
    /// The reference's non-missing values; their count, not `reference_rows`,
    /// picks the test.
    pub reference: Values,
    /// The current sample's non-missing values.
    pub current: Values,
    /// Rows of the reference table, missing values included. Not read by
    /// [`compare`]: the test choice and the reported reference rows count
    /// the column's non-missing values.
    pub reference_rows: usize,
    /// Missing values dropped from the current column (reported only).
    pub current_missing: u64,
}

/// Thresholds as Evidently reports them alongside the native ones.
pub fn thresholds() -> Thresholds {
    Thresholds {
        effect: DISTANCE_THRESHOLD,
        alpha: P_THRESHOLD,
        correction: stats::Correction::None,
        drift_share: DRIFT_SHARE,
        ..Thresholds::default()
    }
}

/// Evidently's default drift tests on every column.
pub fn compare(columns: &[Column], threads: usize) -> DriftReport {
    let features = par_map(columns, threads, column);
    summarise(Mode::Evidently, &thresholds(), features, None)
}

/// Values as keys that count equal floats once (−0.0 is 0.0).
fn num_key(x: f64) -> u64 {
    if x == 0.0 {
        0.0f64.to_bits()
    } else {
        x.to_bits()
    }
}

fn column(c: &Column) -> FeatureDrift {
    let (test, value, p) = match (&c.reference, &c.current) {
        (Values::Numeric(r), Values::Numeric(cur)) => numeric(r, cur, r.len()),
        (Values::Categorical(r), Values::Categorical(cur)) => {
            let distinct = distinct(r.iter().chain(cur));
            if r.len() <= SMALL_REFERENCE_ROWS {
                if distinct > 2 {
                    let p = chi_square(r.iter(), cur.iter());
                    ("chisquare", p, true)
                } else {
                    ("z", z_test(r.iter(), cur.iter()), true)
                }
            } else {
                ("jensenshannon", js_by_value(r.iter(), cur.iter()), false)
            }
        }
        // One side numeric, the other not: compare as text, as a frame
        // holding both would.
        (r, cur) => {
            let (r, cur) = (as_text(r), as_text(cur));
            if r.len() <= SMALL_REFERENCE_ROWS {
                ("chisquare", chi_square(r.iter(), cur.iter()), true)
            } else {
                ("jensenshannon", js_by_value(r.iter(), cur.iter()), false)
            }
        }
    };
    let (threshold, drift) = if p {
        // Evidently's K-S counts a p-value equal to the threshold as drift;
        // its chi-square and z-test do not.
        (
            P_THRESHOLD,
            if test == "ks" {
                value <= P_THRESHOLD
            } else {
                value < P_THRESHOLD
            },
        )
    } else {
        (DISTANCE_THRESHOLD, value >= DISTANCE_THRESHOLD)
    };
    let len = |v: &Values| match v {
        Values::Numeric(x) => x.len(),
        Values::Categorical(x) => x.len(),
    };
    FeatureDrift {
        feature: c.name.clone(),
        kind: match c.reference {
            Values::Numeric(_) => Kind::Numeric,
            Values::Categorical(_) => Kind::Categorical,
        },
        reference_rows: len(&c.reference) as u64,
        current_rows: len(&c.current) as u64,
        current_missing: c.current_missing,
        tests: vec![TestValue {
            test: test.into(),
            value,
            p_value: p.then_some(value),
            p_adjusted: None,
            threshold,
            drift,
        }],
        verdict: if drift {
            Verdict::Drift
        } else {
            Verdict::Stable
        },
    }
}

fn as_text(v: &Values) -> Vec<String> {
    match v {
        Values::Numeric(x) => x.iter().map(|f| f.to_string()).collect(),
        Values::Categorical(x) => x.clone(),
    }
}

/// Distinct values, counted up to `FEW_VALUES + 1`: the test choice only
/// asks whether there are at most 2 or at most 5, and a column of a
/// million distinct numbers should not be sorted to learn it has many.
fn distinct<K: PartialEq>(it: impl Iterator<Item = K>) -> usize {
    let mut seen: Vec<K> = Vec::with_capacity(FEW_VALUES + 1);
    for k in it {
        if !seen.contains(&k) {
            seen.push(k);
            if seen.len() > FEW_VALUES {
                break;
            }
        }
    }
    seen.len()
}

/// `(test, value, value is a p-value)` for a numeric column.
fn numeric(r: &[f64], cur: &[f64], reference_rows: usize) -> (&'static str, f64, bool) {
    let distinct_all = distinct(r.iter().chain(cur).map(|&x| num_key(x)));
    let keys = |v: &[f64]| v.iter().map(|&x| num_key(x)).collect::<Vec<u64>>();
    if reference_rows <= SMALL_REFERENCE_ROWS {
        if distinct_all <= FEW_VALUES {
            let (rk, ck) = (keys(r), keys(cur));
            if distinct_all > 2 {
                ("chisquare", chi_square(rk.iter(), ck.iter()), true)
            } else {
                ("z", z_test(rk.iter(), ck.iter()), true)
            }
        } else {
            let (mut a, mut b) = (r.to_vec(), cur.to_vec());
            stats::sort_floats(&mut a);
            stats::sort_floats(&mut b);
            ("ks", stats::ks_test(&a, &b).1, true)
        }
    } else if distinct_all <= FEW_VALUES {
        let (rk, ck) = (keys(r), keys(cur));
        ("jensenshannon", js_by_value(rk.iter(), ck.iter()), false)
    } else {
        let (mut a, mut b) = (r.to_vec(), cur.to_vec());
        stats::sort_floats(&mut a);
        stats::sort_floats(&mut b);
        let n = a.len().max(1) as f64;
        let mean = a.iter().sum::<f64>() / n;
        let std = (a.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
        let w = stats::wasserstein(&a, &b) / std.max(0.001);
        ("wasserstein", w, false)
    }
}

fn counts<K: Ord + Clone>(it: impl Iterator<Item = K>) -> BTreeMap<K, f64> {
    let mut m = BTreeMap::new();
    for k in it {
        *m.entry(k).or_insert(0.0) += 1.0;
    }
    m
}

/// Aligned counts over the union of levels.
fn aligned<K: Ord + Clone>(
    r: impl Iterator<Item = K>,
    c: impl Iterator<Item = K>,
) -> (Vec<f64>, Vec<f64>) {
    let (rc, cc) = (counts(r), counts(c));
    let mut keys: Vec<&K> = rc.keys().chain(cc.keys()).collect();
    keys.sort();
    keys.dedup();
    (
        keys.iter()
            .map(|k| rc.get(*k).copied().unwrap_or(0.0))
            .collect(),
        keys.iter()
            .map(|k| cc.get(*k).copied().unwrap_or(0.0))
            .collect(),
    )
}

fn chi_square<K: Ord + Clone>(r: impl Iterator<Item = K>, c: impl Iterator<Item = K>) -> f64 {
    let (a, b) = aligned(r, c);
    let (na, nb) = (a.iter().sum::<f64>(), b.iter().sum::<f64>());
    if na <= 0.0 {
        return f64::NAN;
    }
    let k = nb / na;
    let expected: Vec<f64> = a.iter().map(|x| x * k).collect();
    stats::chi2_goodness_of_fit(&b, &expected).1
}

fn z_test<K: Ord + Clone>(r: impl Iterator<Item = K>, c: impl Iterator<Item = K>) -> f64 {
    let (rc, cc) = (counts(r), counts(c));
    let mut keys: Vec<&K> = rc.keys().chain(cc.keys()).collect();
    keys.sort();
    keys.dedup();
    // One value, the same on both sides: no difference at all.
    if rc.len() == 1 && cc.len() == 1 && rc.keys().next() == cc.keys().next() {
        return 1.0;
    }
    let Some(first) = keys.first() else {
        return f64::NAN;
    };
    let (nr, nc) = (rc.values().sum::<f64>(), cc.values().sum::<f64>());
    let (xr, xc) = (
        rc.get(*first).copied().unwrap_or(0.0),
        cc.get(*first).copied().unwrap_or(0.0),
    );
    stats::proportions_z_test(xr, nr, xc, nc)
}

fn js_shares(a: Vec<f64>, b: Vec<f64>) -> f64 {
    stats::jensen_shannon(&a, &b)
}

fn js_by_value<K: Ord + Clone>(r: impl Iterator<Item = K>, c: impl Iterator<Item = K>) -> f64 {
    let (a, b) = aligned(r, c);
    js_shares(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_choice_follows_reference_size_and_distinct_values() {
        let col = |r: Vec<f64>, c: Vec<f64>| Column {
            name: "x".into(),
            reference_rows: r.len(),
            reference: Values::Numeric(r),
            current: Values::Numeric(c),
            current_missing: 0,
        };
        let many: Vec<f64> = (0..500).map(|i| i as f64).collect();
        let rep = compare(&[col(many.clone(), many.clone())], 1);
        assert_eq!(rep.features[0].tests[0].test, "ks");
        let three: Vec<f64> = (0..500).map(|i| (i % 3) as f64).collect();
        assert_eq!(
            compare(&[col(three.clone(), three)], 1).features[0].tests[0].test,
            "chisquare"
        );
        let two: Vec<f64> = (0..500).map(|i| (i % 2) as f64).collect();
        let rep = compare(&[col(two.clone(), two)], 1);
        assert_eq!(rep.features[0].tests[0].test, "z");
        assert_eq!(rep.features[0].tests[0].value, 1.0);
        let big: Vec<f64> = (0..2000).map(|i| i as f64).collect();
        assert_eq!(
            compare(&[col(big.clone(), big)], 1).features[0].tests[0].test,
            "wasserstein"
        );
        let big_few: Vec<f64> = (0..2000).map(|i| (i % 4) as f64).collect();
        let rep = compare(&[col(big_few.clone(), big_few)], 1);
        assert_eq!(rep.features[0].tests[0].test, "jensenshannon");
        assert!(!rep.dataset_drift);
    }
}
