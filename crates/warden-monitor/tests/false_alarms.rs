//! Drift verdicts on data drawn from the reference's own distribution
//! (false alarms) and on a known shift (detections), over many seeds.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal};
use warden_monitor::drift::{self, CurColumn, NumericRef, Pair, RefColumn, Thresholds, Verdict};

const NUMERIC: usize = 6;
const CATEGORICAL: [usize; 4] = [3, 5, 10, 30];

/// One table: six numeric columns of different shapes, four categorical
/// ones with skewed level frequencies. `shift` moves every numeric
/// column by that many of its standard deviations.
fn table(seed: u64, rows: usize, shift: f64) -> (Vec<Vec<f64>>, Vec<Vec<String>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(50.0, 10.0).unwrap();
    let lognormal = LogNormal::new(10.0, 0.5).unwrap();
    let exp = Exp::new(0.2).unwrap();
    let mut num: Vec<Vec<f64>> = (0..NUMERIC).map(|_| Vec::with_capacity(rows)).collect();
    let mut cat: Vec<Vec<String>> = (0..CATEGORICAL.len())
        .map(|_| Vec::with_capacity(rows))
        .collect();
    for _ in 0..rows {
        let v = [
            normal.sample(&mut rng) + shift * 10.0,
            lognormal.sample(&mut rng) * (1.0 + shift * 0.5),
            rng.random_range(0.0..1.0) + shift * 0.29,
            (rng.random_range(0..12) as f64 + shift * 3.5).round(),
            exp.sample(&mut rng) + shift * 5.0,
            if rng.random_bool(0.5) { -3.0 } else { 3.0 }
                + normal.sample(&mut rng) / 10.0
                + shift * 3.2,
        ];
        for (c, x) in num.iter_mut().zip(v) {
            c.push(x);
        }
        for (c, &k) in cat.iter_mut().zip(&CATEGORICAL) {
            // Level i with weight 1/(i+1).
            let total: f64 = (0..k).map(|i| 1.0 / (i + 1) as f64).sum();
            let mut u = rng.random_range(0.0..total);
            let mut level = k - 1;
            for i in 0..k {
                u -= 1.0 / (i + 1) as f64;
                if u <= 0.0 {
                    level = i;
                    break;
                }
            }
            c.push(format!("l{level}"));
        }
    }
    (num, cat)
}

fn counts(v: &[String]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for s in v {
        *m.entry(s.clone()).or_insert(0) += 1;
    }
    m
}

/// Columns flagged as drifted, against a sample and against a profile.
fn flagged(seed: u64, shift: f64) -> (usize, usize, usize) {
    let (rn, rc) = table(seed, 5000, 0.0);
    let (cn, cc) = table(seed + 10_000, 500, shift);
    let mut sample_refs = Vec::new();
    let mut profile_refs = Vec::new();
    for c in &rn {
        let nr = NumericRef::from_values(c);
        profile_refs.push(RefColumn::Numeric(NumericRef {
            sample: None,
            ..nr.clone()
        }));
        sample_refs.push(RefColumn::Numeric(nr));
    }
    for c in &rc {
        let r = RefColumn::Categorical {
            counts: counts(c),
            missing: 0,
        };
        sample_refs.push(r.clone());
        profile_refs.push(r);
    }
    let currents: Vec<CurColumn> = cn
        .iter()
        .map(|c| CurColumn::numeric(c))
        .chain(
            cc.iter()
                .map(|c| CurColumn::categorical(c.iter().map(|s| Some(s.as_str())))),
        )
        .collect();
    let names: Vec<String> = (0..currents.len()).map(|i| format!("c{i}")).collect();
    let run = |refs: &[RefColumn]| {
        let pairs: Vec<Pair<'_>> = refs
            .iter()
            .zip(&currents)
            .zip(&names)
            .map(|((r, c), n)| Pair {
                name: n,
                reference: r,
                current: c,
            })
            .collect();
        drift::native(&pairs, None, &Thresholds::default(), 2)
    };
    let a = run(&sample_refs);
    let b = run(&profile_refs);
    let numeric_drift = |r: &drift::DriftReport| {
        r.features[..NUMERIC]
            .iter()
            .filter(|f| f.verdict == Verdict::Drift)
            .count()
    };
    let all_drift = |r: &drift::DriftReport| {
        r.features
            .iter()
            .filter(|f| f.verdict == Verdict::Drift)
            .count()
    };
    (
        all_drift(&a) + all_drift(&b),
        numeric_drift(&a) + numeric_drift(&b),
        2 * currents.len(),
    )
}

#[test]
fn same_distribution_flags_under_five_percent_of_columns() {
    let (mut alarms, mut columns) = (0, 0);
    for seed in 0..25 {
        let (a, _, n) = flagged(seed, 0.0);
        alarms += a;
        columns += n;
    }
    let rate = alarms as f64 / columns as f64;
    println!(
        "false alarms: {alarms} of {columns} columns ({:.2}%)",
        rate * 100.0
    );
    assert!(
        rate < 0.05,
        "false-alarm rate {rate:.3} ({alarms} of {columns} columns)"
    );
}

#[test]
fn a_half_sigma_shift_is_found_in_nearly_every_numeric_column() {
    let (mut found, mut columns) = (0, 0);
    for seed in 0..25 {
        let (_, numeric, _) = flagged(seed, 0.5);
        found += numeric;
        columns += 2 * NUMERIC;
    }
    let rate = found as f64 / columns as f64;
    println!(
        "detected: {found} of {columns} shifted numeric columns ({:.1}%)",
        rate * 100.0
    );
    assert!(
        rate > 0.95,
        "detection rate {rate:.3} ({found} of {columns} numeric columns)"
    );
}
