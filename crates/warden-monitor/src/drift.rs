//! Drift of current data against a reference, feature by feature.
//!
//! The reference is either a sample (a dataset or CSV, every value at
//! hand) or a package's reference profile (quantiles, frozen decile bins,
//! level frequencies). Per feature:
//!
//! - numeric: normalised Wasserstein distance (the effect size: distance
//!   divided by the reference's standard deviation, floored at 0.001),
//!   Kolmogorov–Smirnov (statistic and p-value), and the population
//!   stability index over the decile bins frozen from the reference (the
//!   outer bins open-ended, so values beyond the training range count);
//! - categorical: Jensen–Shannon distance (the effect size), the
//!   two-sample chi-square over the levels, and PSI over the levels; all
//!   three with the levels too rare to estimate (expected count below 5)
//!   pooled into one.
//!
//! A feature **drifts** when its p-value, adjusted for the number of
//! features tested, is below `alpha` and its effect size reaches the
//! threshold or its PSI reaches the "act" level: significance keeps small
//! windows (whose distances are large by chance) from raising alarms,
//! effect sizes keep large samples (where every difference is
//! significant) from raising them over trifles. It is **watched** when
//! the effect size or the PSI "watch" level is reached without that. The dataset drifts when
//! the share of drifted features reaches `drift_share`. Predictions (the
//! class mix) are tested the same way as a categorical feature.
//!
//! Against a profile, KS is evaluated at the frozen bin edges, where both
//! distribution functions are known exactly (so `D` is a lower bound of
//! the sample statistic, and its p-value conservative), and Wasserstein
//! integrates the difference of quantile functions, the reference's
//! interpolated through its recorded quantiles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use warden_ml::profile::{FeatureProfile, QUANTILES, quantile};

use crate::stats::{self, Correction};

/// Floor of the standard deviation the Wasserstein distance is divided by.
pub const STD_FLOOR: f64 = 0.001;

/// Decision thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Effect size (normalised Wasserstein, Jensen–Shannon distance) at
    /// which a feature can drift.
    pub effect: f64,
    /// Effect size (Jensen–Shannon distance of the class mix) at which the
    /// predictions can drift.
    pub prediction_effect: f64,
    /// PSI at which a feature is watched.
    pub psi_watch: f64,
    /// PSI at which a feature drifts.
    pub psi_act: f64,
    /// Significance level for the adjusted p-values.
    pub alpha: f64,
    /// How the features' p-values are adjusted for testing many at once before
    /// they are compared with `alpha` (the prediction's p-value is not adjusted).
    pub correction: Correction,
    /// Share of drifted features at which the dataset drifts.
    pub drift_share: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            effect: 0.1,
            prediction_effect: 0.1,
            psi_watch: 0.1,
            psi_act: 0.25,
            alpha: 0.05,
            correction: Correction::BenjaminiHochberg,
            drift_share: 0.5,
        }
    }
}

impl Thresholds {
    /// Rejects thresholds that would make every verdict meaningless.
    pub fn check(&self) -> Result<(), String> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        if !ok(self.effect)
            || !ok(self.prediction_effect)
            || !ok(self.psi_watch)
            || !ok(self.psi_act)
        {
            return Err("effect and PSI thresholds must be finite and non-negative".into());
        }
        if self.psi_watch > self.psi_act {
            return Err(format!(
                "psi_watch ({}) is above psi_act ({})",
                self.psi_watch, self.psi_act
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(format!("alpha must be in (0, 1), got {}", self.alpha));
        }
        if !(self.drift_share > 0.0 && self.drift_share <= 1.0) {
            return Err(format!(
                "drift_share must be in (0, 1], got {}",
                self.drift_share
            ));
        }
        Ok(())
    }
}

/// A numeric feature's reference.
#[derive(Clone, Debug, PartialEq)]
pub struct NumericRef {
    /// Non-missing values in the reference.
    pub count: u64,
    /// Missing values in the reference, left out of every statistic.
    pub missing: u64,
    /// Population standard deviation of the non-missing values (divided by the
    /// count, not count − 1); the Wasserstein distance is divided by it,
    /// floored at [`STD_FLOOR`].
    pub std: f64,
    /// Every finite value, sorted, when the reference is a sample.
    pub sample: Option<Vec<f64>>,
    /// `[level, value]` pairs, levels ascending from 0 to 1.
    pub quantiles: Vec<[f64; 2]>,
    /// Frozen bin edges (deciles of the reference) and the reference's
    /// counts in them, outer bins open-ended.
    pub edges: Vec<f64>,
    /// The reference's count in each bin of `edges`, one bin per pair of
    /// consecutive edges (a single bin when all the edges coincide).
    pub bin_counts: Vec<f64>,
}

impl NumericRef {
    /// From values (NaN = missing).
    pub fn from_values(values: &[f64]) -> Self {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        stats::sort_floats(&mut sorted);
        let missing = (values.len() - sorted.len()) as u64;
        Self::from_sorted(sorted, missing)
    }

    /// From finite values already sorted.
    pub fn from_sorted(sorted: Vec<f64>, missing: u64) -> Self {
        let n = sorted.len().max(1) as f64;
        let mean = sorted.iter().sum::<f64>() / n;
        let std = (sorted.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
        let mut edges: Vec<f64> = (0..=10)
            .map(|i| quantile(&sorted, i as f64 / 10.0))
            .collect();
        edges.dedup();
        let bin_counts = stats::bin_counts_open(&sorted, &edges);
        NumericRef {
            count: sorted.len() as u64,
            missing,
            std,
            quantiles: QUANTILES
                .iter()
                .map(|&p| [p, quantile(&sorted, p)])
                .collect(),
            edges,
            bin_counts,
            sample: Some(sorted),
        }
    }
}

/// One feature's reference.
#[derive(Clone, Debug, PartialEq)]
pub enum RefColumn {
    /// A numeric feature: its sorted sample or its profile's summary.
    Numeric(NumericRef),
    /// A categorical feature: the reference's count of each level.
    Categorical {
        /// Rows per level; levels the reference does not hold have no entry.
        counts: BTreeMap<String, u64>,
        /// Missing values, left out of `counts`.
        missing: u64,
    },
}

impl RefColumn {
    /// From a package's reference profile.
    pub fn from_profile(p: &FeatureProfile) -> (String, Self) {
        match p {
            FeatureProfile::Numeric {
                name,
                count,
                missing,
                std,
                quantiles,
                histogram,
                ..
            } => (
                name.clone(),
                RefColumn::Numeric(NumericRef {
                    count: *count,
                    missing: *missing,
                    std: *std,
                    sample: None,
                    quantiles: quantiles.clone(),
                    edges: histogram.edges.clone(),
                    bin_counts: histogram.counts.iter().map(|&c| c as f64).collect(),
                }),
            ),
            FeatureProfile::Categorical {
                name,
                missing,
                frequencies,
                ..
            } => (
                name.clone(),
                RefColumn::Categorical {
                    counts: frequencies.clone(),
                    missing: *missing,
                },
            ),
        }
    }

    /// Whether the reference is numeric or categorical.
    pub fn kind(&self) -> Kind {
        match self {
            RefColumn::Numeric(_) => Kind::Numeric,
            RefColumn::Categorical { .. } => Kind::Categorical,
        }
    }
}

/// One feature's current values.
#[derive(Clone, Debug, PartialEq)]
pub enum CurColumn {
    /// Finite values, sorted.
    Numeric {
        /// The finite values, ascending.
        sorted: Vec<f64>,
        /// Values left out because they were missing (NaN) or infinite.
        missing: u64,
    },
    /// A categorical feature: the current count of each level.
    Categorical {
        /// Rows per level, including levels the reference does not hold.
        counts: BTreeMap<String, u64>,
        /// Missing values, left out of `counts`.
        missing: u64,
    },
}

impl CurColumn {
    /// From values (NaN = missing).
    pub fn numeric(values: &[f64]) -> Self {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        stats::sort_floats(&mut sorted);
        CurColumn::Numeric {
            missing: (values.len() - sorted.len()) as u64,
            sorted,
        }
    }

    /// From values (`None` = missing).
    pub fn categorical<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        let mut counts = BTreeMap::new();
        let mut missing = 0;
        for v in values {
            match v {
                Some(s) => *counts.entry(s.to_string()).or_insert(0) += 1,
                None => missing += 1,
            }
        }
        CurColumn::Categorical { counts, missing }
    }

    fn rows(&self) -> (u64, u64) {
        match self {
            CurColumn::Numeric { sorted, missing } => (sorted.len() as u64, *missing),
            CurColumn::Categorical { counts, missing } => (counts.values().sum(), *missing),
        }
    }
}

/// Whether a feature is compared as numbers or as levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Numbers, compared through their distributions (in native mode:
    /// normalised Wasserstein, Kolmogorov–Smirnov, PSI over decile bins).
    Numeric,
    /// Levels (text), compared through their frequencies (in native mode:
    /// Jensen–Shannon, chi-square, PSI over the levels).
    Categorical,
}

/// What a feature's tests conclude, ordered from `Stable` to `Drift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Neither the effect size nor the PSI reaches its threshold (in Evidently
    /// mode: the column's test does not say drift).
    Stable,
    /// The effect size reaches `effect` or the PSI `psi_watch`, without the
    /// significance and size that make drift (never given in Evidently mode).
    Watch,
    /// The adjusted p-value is below `alpha` and the effect size reaches
    /// `effect` or the PSI `psi_act`; also when the column changed kind, and in
    /// Evidently mode when the column's test says drift.
    Drift,
}

impl Verdict {
    /// The verdict as serialised: `stable`, `watch` or `drift`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Stable => "stable",
            Verdict::Watch => "watch",
            Verdict::Drift => "drift",
        }
    }
}

/// One statistic of one feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestValue {
    /// `wasserstein_norm`, `ks`, `jensen_shannon`, `chi_square`, `psi`,
    /// `z_test`; in Evidently mode Evidently's names (`ks`, `chisquare`,
    /// `z`, `jensenshannon`, `wasserstein`).
    pub test: String,
    /// The statistic or distance (for p-value tests, the test statistic;
    /// in Evidently mode, the p-value itself, as Evidently reports it).
    pub value: f64,
    /// The p-value of `ks` and `chi_square` (in Evidently mode, of every
    /// p-value test, where it equals `value`); `None` for distances and PSI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// The p-value adjusted across the features by [`Thresholds::correction`]
    /// (the prediction's is its own p-value); `None` for tests without a
    /// p-value, for a feature whose p-value is NaN, and in Evidently mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_adjusted: Option<f64>,
    /// What the value (or the adjusted p-value) is compared with.
    pub threshold: f64,
    /// Whether this test on its own says "drift".
    pub drift: bool,
}

/// One feature's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// The feature's column name (`prediction` for the predicted class mix).
    pub feature: String,
    /// The reference column's kind (a current column of the other kind gives a
    /// single `type_changed` test).
    pub kind: Kind,
    /// Non-missing values in the reference column.
    pub reference_rows: u64,
    /// Non-missing values in the current column.
    pub current_rows: u64,
    /// Missing values in the current column, left out of the tests.
    pub current_missing: u64,
    /// The statistics, effect size first: `wasserstein_norm`, `ks`, `psi` for a
    /// numeric feature (`wasserstein_norm` alone, 0, when either side is
    /// empty), `jensen_shannon`, `chi_square`, `psi` for a categorical one, a
    /// lone `type_changed` when the column changed kind, and Evidently's single
    /// test in that mode.
    pub tests: Vec<TestValue>,
    /// The verdict drawn from `tests`, as the module docs describe.
    pub verdict: Verdict,
}

impl FeatureDrift {
    /// The test named `name` (see [`TestValue::test`]), if it was run.
    pub fn test(&self, name: &str) -> Option<&TestValue> {
        self.tests.iter().find(|t| t.test == name)
    }

    /// The effect size the verdict rests on (or the single compat test).
    pub fn effect(&self) -> Option<&TestValue> {
        self.tests.first()
    }
}

/// Which tests and verdict rules produced a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Warden's own: effect size, PSI and p-value adjusted across features,
    /// with a watch level ([`native`]).
    Native,
    /// Evidently's DataDriftPreset defaults, one test per column
    /// ([`crate::evidently::compare`]).
    Evidently,
}

/// The whole result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Which tests and verdict rules produced this report.
    pub mode: Mode,
    /// The thresholds the verdicts were drawn with (in Evidently mode,
    /// [`crate::evidently::thresholds`]).
    pub thresholds: Thresholds,
    /// One result per feature, in the order the features were given.
    pub features: Vec<FeatureDrift>,
    /// The predicted class mix's result; `None` when no predictions were given
    /// (always in Evidently mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<FeatureDrift>,
    /// Features whose verdict is [`Verdict::Drift`].
    pub drifted_features: usize,
    /// `drifted_features` as a share of the features tested (0 without
    /// features).
    pub share: f64,
    /// Whether `share` reaches `thresholds.drift_share` (never without
    /// features).
    pub dataset_drift: bool,
    /// Whether the predicted class mix drifted (`false` without predictions).
    pub prediction_drift: bool,
}

/// Features of a reference and a current sample, by name, in order.
pub struct Pair<'a> {
    /// The feature's name, reported as [`FeatureDrift::feature`].
    pub name: &'a str,
    /// The reference to test against.
    pub reference: &'a RefColumn,
    /// The current values to test.
    pub current: &'a CurColumn,
}

/// The predicted class mix to test: the reference's shares per class and
/// the rows they were measured on, and the current counts per class.
pub type PredictionMix<'a> = (&'a BTreeMap<String, f64>, u64, &'a BTreeMap<String, u64>);

/// Native drift of every feature pair, plus predictions when given.
pub fn native(
    pairs: &[Pair<'_>],
    prediction: Option<PredictionMix<'_>>,
    th: &Thresholds,
    threads: usize,
) -> DriftReport {
    let mut features: Vec<FeatureDrift> = par_map(pairs, threads, |p| {
        feature_tests(p.name, p.reference, p.current, th)
    });
    // Adjust the p-values across features, then decide.
    let ps: Vec<f64> = features
        .iter()
        .map(|f| p_test(f).and_then(|t| t.p_value).unwrap_or(f64::NAN))
        .collect();
    let adjusted = th.correction.adjust(&ps);
    for (f, adj) in features.iter_mut().zip(adjusted) {
        decide(f, (!adj.is_nan()).then_some(adj), th);
    }
    let prediction = prediction.map(|(shares, rows, counts)| {
        let reference: BTreeMap<String, u64> = shares
            .iter()
            .map(|(k, s)| (k.clone(), (s * rows as f64).round() as u64))
            .collect();
        let r = RefColumn::Categorical {
            counts: reference,
            missing: 0,
        };
        let c = CurColumn::Categorical {
            counts: counts.clone(),
            missing: 0,
        };
        let th = Thresholds {
            effect: th.prediction_effect,
            ..th.clone()
        };
        let mut f = feature_tests("prediction", &r, &c, &th);
        let p = p_test(&f).and_then(|t| t.p_value);
        decide(&mut f, p, &th);
        f
    });
    summarise(Mode::Native, th, features, prediction)
}

pub(crate) fn summarise(
    mode: Mode,
    th: &Thresholds,
    features: Vec<FeatureDrift>,
    prediction: Option<FeatureDrift>,
) -> DriftReport {
    let drifted = features
        .iter()
        .filter(|f| f.verdict == Verdict::Drift)
        .count();
    let share = if features.is_empty() {
        0.0
    } else {
        drifted as f64 / features.len() as f64
    };
    DriftReport {
        mode,
        thresholds: th.clone(),
        dataset_drift: !features.is_empty() && share >= th.drift_share,
        prediction_drift: prediction
            .as_ref()
            .is_some_and(|p| p.verdict == Verdict::Drift),
        features,
        prediction,
        drifted_features: drifted,
        share,
    }
}

fn p_test(f: &FeatureDrift) -> Option<&TestValue> {
    f.tests.iter().find(|t| t.p_value.is_some())
}

fn decide(f: &mut FeatureDrift, p_adjusted: Option<f64>, th: &Thresholds) {
    let effect_hit = f.tests.first().is_some_and(|t| t.value >= th.effect);
    let mut significant = false;
    for t in &mut f.tests {
        if t.p_value.is_some() {
            t.p_adjusted = p_adjusted;
            significant = p_adjusted.is_some_and(|p| p < th.alpha);
            t.drift = significant;
        }
    }
    let psi = f.test("psi").map_or(0.0, |t| t.value);
    // Significance guards both effect sizes: on a small window PSI and the
    // distances are large by chance alone.
    f.verdict = if significant && (effect_hit || psi >= th.psi_act) {
        Verdict::Drift
    } else if effect_hit || psi >= th.psi_watch {
        Verdict::Watch
    } else {
        Verdict::Stable
    };
}

fn value(test: &str, value: f64, threshold: f64) -> TestValue {
    TestValue {
        test: test.into(),
        value,
        p_value: None,
        p_adjusted: None,
        threshold,
        drift: value >= threshold,
    }
}

/// Every statistic of one feature (verdict left as stable until
/// [`decide`] runs with the adjusted p-value).
fn feature_tests(name: &str, r: &RefColumn, c: &CurColumn, th: &Thresholds) -> FeatureDrift {
    let (current_rows, current_missing) = c.rows();
    let (reference_rows, tests) = match (r, c) {
        (RefColumn::Numeric(nr), CurColumn::Numeric { sorted, .. }) => {
            (nr.count, numeric_tests(nr, sorted, th))
        }
        (RefColumn::Categorical { counts: rc, .. }, CurColumn::Categorical { counts: cc, .. }) => {
            (rc.values().sum(), categorical_tests(rc, cc, th))
        }
        // A type mismatch is itself drift: the column changed kind.
        (r, _) => (
            match r {
                RefColumn::Numeric(nr) => nr.count,
                RefColumn::Categorical { counts, .. } => counts.values().sum(),
            },
            vec![TestValue {
                test: "type_changed".into(),
                value: 1.0,
                p_value: None,
                p_adjusted: None,
                threshold: 1.0,
                drift: true,
            }],
        ),
    };
    let mut f = FeatureDrift {
        feature: name.to_string(),
        kind: r.kind(),
        reference_rows,
        current_rows,
        current_missing,
        tests,
        verdict: Verdict::Stable,
    };
    if f.tests.iter().any(|t| t.test == "type_changed") {
        f.verdict = Verdict::Drift;
    }
    f
}

fn numeric_tests(r: &NumericRef, cur: &[f64], th: &Thresholds) -> Vec<TestValue> {
    if cur.is_empty() || r.count == 0 {
        return vec![value("wasserstein_norm", 0.0, th.effect)];
    }
    let norm = r.std.max(STD_FLOOR);
    let (w, d, p) = match &r.sample {
        Some(sample) => {
            let (d, p) = stats::ks_test(sample, cur);
            (stats::wasserstein(sample, cur), d, p)
        }
        None => {
            let d = ks_at_edges(&r.edges, &r.bin_counts, cur);
            (
                stats::wasserstein_quantiles(&r.quantiles, cur),
                d,
                stats::ks_large_p(d, r.count as f64, cur.len() as f64),
            )
        }
    };
    let cur_bins = stats::bin_counts_open(cur, &r.edges);
    let psi = stats::psi(&r.bin_counts, &cur_bins);
    vec![
        value("wasserstein_norm", w / norm, th.effect),
        TestValue {
            test: "ks".into(),
            value: d,
            p_value: Some(p),
            p_adjusted: None,
            threshold: th.alpha,
            drift: false,
        },
        value("psi", psi, th.psi_act),
    ]
}

/// KS statistic of a sorted sample against a distribution known by its
/// counts in frozen bins: the largest gap between the two distribution
/// functions at the interior bin edges, where both are known exactly
/// (the share of values below each edge). With ties in the reference
/// (discrete features) this stays exact, where comparing with quantile
/// levels would not.
fn ks_at_edges(edges: &[f64], counts: &[f64], cur: &[f64]) -> f64 {
    let total: f64 = counts.iter().sum();
    if total <= 0.0 || cur.is_empty() {
        return 0.0;
    }
    let n = cur.len() as f64;
    let mut below = 0.0;
    let mut d = 0.0f64;
    for (k, c) in counts
        .iter()
        .enumerate()
        .take(counts.len().saturating_sub(1))
    {
        below += c;
        let Some(&edge) = edges.get(k + 1) else { break };
        let cur_below = cur.partition_point(|v| *v < edge) as f64 / n;
        d = d.max((below / total - cur_below).abs());
    }
    d
}

fn categorical_tests(
    r: &BTreeMap<String, u64>,
    c: &BTreeMap<String, u64>,
    th: &Thresholds,
) -> Vec<TestValue> {
    let mut levels: Vec<&String> = r.keys().chain(c.keys()).collect();
    levels.sort();
    levels.dedup();
    let a: Vec<f64> = levels
        .iter()
        .map(|l| r.get(*l).copied().unwrap_or(0) as f64)
        .collect();
    let b: Vec<f64> = levels
        .iter()
        .map(|l| c.get(*l).copied().unwrap_or(0) as f64)
        .collect();
    let (stat, p, _) = stats::chi2_two_sample(&a, &b);
    // Levels too rare to estimate are pooled for the distances too, so a
    // column of many rare values is not "different" just by sampling.
    let (a, b) = stats::merge_rare(&a, &b);
    vec![
        value("jensen_shannon", stats::jensen_shannon(&a, &b), th.effect),
        TestValue {
            test: "chi_square".into(),
            value: stat,
            p_value: Some(p),
            p_adjusted: None,
            threshold: th.alpha,
            drift: false,
        },
        value("psi", stats::psi(&a, &b), th.psi_act),
    ]
}

/// Maps `f` over `items` on up to `threads` threads, keeping the order.
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(k) else { break };
                        mine.push((k, f(item)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    out.sort_by_key(|(k, _)| *k);
    out.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn normal(seed: u64, n: usize, mean: f64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let d = Normal::new(mean, 1.0).unwrap();
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    fn run(r: &[f64], c: &[f64]) -> FeatureDrift {
        let rc = RefColumn::Numeric(NumericRef::from_values(r));
        let cc = CurColumn::numeric(c);
        let rep = native(
            &[Pair {
                name: "x",
                reference: &rc,
                current: &cc,
            }],
            None,
            &Thresholds::default(),
            1,
        );
        rep.features.into_iter().next().unwrap()
    }

    #[test]
    fn a_half_sigma_shift_drifts_and_the_same_distribution_does_not() {
        let f = run(&normal(1, 5000, 0.0), &normal(2, 2000, 0.5));
        assert_eq!(f.verdict, Verdict::Drift, "{f:?}");
        let f = run(&normal(1, 5000, 0.0), &normal(3, 2000, 0.0));
        assert_eq!(f.verdict, Verdict::Stable, "{f:?}");
    }

    #[test]
    fn profile_reference_agrees_with_sample_reference_on_a_shift() {
        let r = normal(5, 20_000, 0.0);
        let nr = NumericRef::from_values(&r);
        let profiled = NumericRef {
            sample: None,
            ..nr.clone()
        };
        let cur = CurColumn::numeric(&normal(6, 3000, 0.4));
        let th = Thresholds::default();
        for reference in [RefColumn::Numeric(nr), RefColumn::Numeric(profiled)] {
            let rep = native(
                &[Pair {
                    name: "x",
                    reference: &reference,
                    current: &cur,
                }],
                None,
                &th,
                1,
            );
            let f = &rep.features[0];
            let w = f.test("wasserstein_norm").unwrap().value;
            assert!((w - 0.4).abs() < 0.06, "{w}");
            assert_eq!(f.verdict, Verdict::Drift);
        }
    }

    #[test]
    fn categorical_shift_and_new_level() {
        let mut r = BTreeMap::new();
        r.insert("a".to_string(), 500);
        r.insert("b".to_string(), 500);
        let rc = RefColumn::Categorical {
            counts: r,
            missing: 0,
        };
        let same = CurColumn::categorical(
            std::iter::repeat_n(Some("a"), 250).chain(std::iter::repeat_n(Some("b"), 250)),
        );
        let shifted = CurColumn::categorical(
            std::iter::repeat_n(Some("a"), 100)
                .chain(std::iter::repeat_n(Some("b"), 250))
                .chain(std::iter::repeat_n(Some("z"), 150)),
        );
        let th = Thresholds::default();
        let pairs = [
            Pair {
                name: "same",
                reference: &rc,
                current: &same,
            },
            Pair {
                name: "shifted",
                reference: &rc,
                current: &shifted,
            },
        ];
        let rep = native(&pairs, None, &th, 2);
        assert_eq!(rep.features[0].verdict, Verdict::Stable);
        assert_eq!(rep.features[1].verdict, Verdict::Drift);
        assert_eq!(rep.drifted_features, 1);
        assert!(rep.dataset_drift, "half the features drifted");
    }

    #[test]
    fn values_beyond_the_training_range_move_psi() {
        let r: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let c: Vec<f64> = (0..1000).map(|i| 2000.0 + i as f64).collect();
        let f = run(&r, &c);
        assert!(f.test("psi").unwrap().value > 1.0);
        assert_eq!(f.verdict, Verdict::Drift);
    }

    #[test]
    fn prediction_mix_shift() {
        let mut shares = BTreeMap::new();
        shares.insert("0".to_string(), 0.7);
        shares.insert("1".to_string(), 0.3);
        let mut counts = BTreeMap::new();
        counts.insert("0".to_string(), 200);
        counts.insert("1".to_string(), 800);
        let rep = native(
            &[],
            Some((&shares, 10_000, &counts)),
            &Thresholds::default(),
            1,
        );
        assert!(rep.prediction_drift);
        assert!(!rep.dataset_drift);
    }

    #[test]
    fn a_discrete_feature_from_the_same_distribution_is_stable_against_a_profile() {
        // Integer counts 0..11 with ties, as num_accounts in the credit data.
        let draw = |seed: u64, n: usize| -> Vec<f64> {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            (0..n)
                .map(|_| rand::RngExt::random_range(&mut rng, 0..12) as f64)
                .collect()
        };
        let nr = NumericRef::from_values(&draw(1, 8000));
        let profiled = RefColumn::Numeric(NumericRef { sample: None, ..nr });
        let mut alarms = 0;
        for seed in 2..22 {
            let cur = CurColumn::numeric(&draw(seed, 300));
            let rep = native(
                &[Pair {
                    name: "n",
                    reference: &profiled,
                    current: &cur,
                }],
                None,
                &Thresholds::default(),
                1,
            );
            let p = rep.features[0].test("ks").unwrap().p_value.unwrap();
            if p < 0.01 {
                alarms += 1;
            }
            if rep.features[0].verdict == Verdict::Drift {
                alarms += 1;
            }
        }
        assert!(
            alarms <= 1,
            "{alarms} alarms on 20 same-distribution windows"
        );
    }

    #[test]
    fn thresholds_are_checked() {
        let mut t = Thresholds::default();
        assert!(t.check().is_ok());
        t.alpha = 0.0;
        assert!(t.check().is_err());
        t = Thresholds {
            psi_watch: 0.5,
            ..Thresholds::default()
        };
        assert!(t.check().is_err());
    }
}
