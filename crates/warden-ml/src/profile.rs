//! The reference profile: what the training data looked like, kept in the
//! package so drift and out-of-distribution checks can compare served
//! traffic with it later. Numeric features get quantiles and a histogram
//! whose bins are the training deciles (frozen here, so windows compared
//! later use the same bins); categorical features get level frequencies;
//! the standardised numeric features get their mean and covariance (for
//! Mahalanobis distances); predictions get the class mix.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::frame::{FeatureColumn, Frame, MISSING, Matrix, par_blocks, par_map};
use crate::preprocess::{Preprocessor, Transform};

/// The profile format.
pub const PROFILE_FORMAT: &str = "warden.reference-profile/v1";

/// Quantile levels recorded for numeric features.
pub const QUANTILES: [f64; 11] = [0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0];

/// A numeric feature's histogram over the training deciles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Histogram {
    /// Bin edges (ascending, distinct); the last bin is closed.
    pub edges: Vec<f64>,
    /// Values per bin: one fewer than `edges`.
    pub counts: Vec<u64>,
}

/// One feature's distribution in the training data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FeatureProfile {
    /// A numeric feature, over its non-missing values.
    Numeric {
        /// The feature's name.
        name: String,
        /// Non-missing values.
        count: u64,
        /// Missing (NaN) values.
        missing: u64,
        /// Mean of the non-missing values (0 if there are none).
        mean: f64,
        /// Population standard deviation of the non-missing values.
        std: f64,
        /// Smallest non-missing value (0 if there are none).
        min: f64,
        /// Largest non-missing value (0 if there are none).
        max: f64,
        /// `[level, value]` pairs at [`QUANTILES`].
        quantiles: Vec<[f64; 2]>,
        /// Counts over the deciles (equal deciles merged into one edge).
        histogram: Histogram,
    },
    /// A categorical feature.
    Categorical {
        /// The feature's name.
        name: String,
        /// Non-missing values.
        count: u64,
        /// Missing values.
        missing: u64,
        /// Rows per level, for the levels that occur.
        frequencies: BTreeMap<String, u64>,
    },
}

/// Mean and covariance of the numeric model inputs, for Mahalanobis
/// distances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Covariance {
    /// The numeric features, standardised and imputed as the model sees them.
    pub features: Vec<String>,
    /// Each feature's mean, in `features` order.
    pub mean: Vec<f64>,
    /// Row-major, `features.len()` squared (population covariance).
    pub matrix: Vec<Vec<f64>>,
}

/// What the training data looked like, as the package stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceProfile {
    /// [`PROFILE_FORMAT`].
    pub format: String,
    /// Rows profiled.
    pub rows: u64,
    /// Each input feature's profile, in input order.
    pub features: Vec<FeatureProfile>,
    /// Mean and covariance of the standardised numeric features.
    pub covariance: Covariance,
    /// Share of training rows predicted as each class.
    pub predictions: BTreeMap<String, f64>,
}

/// Linear-interpolation quantile of sorted values (NumPy's default).
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Histogram of sorted values over `edges` (bins `[e_i, e_{i+1})`, the last closed).
pub fn histogram(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let bins = edges.len().saturating_sub(1);
    let mut counts = vec![0u64; bins];
    if bins == 0 {
        return counts;
    }
    for &v in sorted {
        let b = edges
            .partition_point(|e| *e <= v)
            .saturating_sub(1)
            .min(bins - 1);
        if v >= edges[0] && v <= edges[bins] {
            counts[b] += 1;
        }
    }
    counts
}

fn feature_profile(name: &str, col: &FeatureColumn, rows: &[usize]) -> FeatureProfile {
    match col {
        FeatureColumn::Numeric(v) => {
            let mut vals: Vec<f64> = rows.iter().map(|&r| v[r]).filter(|x| !x.is_nan()).collect();
            vals.sort_unstable_by(f64::total_cmp);
            let missing = (rows.len() - vals.len()) as u64;
            let n = vals.len().max(1) as f64;
            let mean = vals.iter().sum::<f64>() / n;
            let std = (vals.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
            let mut edges: Vec<f64> = (0..=10).map(|i| quantile(&vals, i as f64 / 10.0)).collect();
            edges.dedup();
            if edges.len() == 1 {
                edges.push(edges[0]);
            }
            FeatureProfile::Numeric {
                name: name.to_string(),
                count: vals.len() as u64,
                missing,
                mean,
                std,
                min: vals.first().copied().unwrap_or(0.0),
                max: vals.last().copied().unwrap_or(0.0),
                quantiles: QUANTILES.iter().map(|&p| [p, quantile(&vals, p)]).collect(),
                histogram: Histogram {
                    counts: histogram(&vals, &edges),
                    edges,
                },
            }
        }
        FeatureColumn::Categorical { codes, levels } => {
            let mut counts = vec![0u64; levels.len()];
            let mut missing = 0;
            for &r in rows {
                match codes[r] {
                    MISSING => missing += 1,
                    c => {
                        if let Some(n) = counts.get_mut(c as usize) {
                            *n += 1;
                        }
                    }
                }
            }
            FeatureProfile::Categorical {
                name: name.to_string(),
                count: rows.len() as u64 - missing,
                missing,
                frequencies: levels
                    .iter()
                    .zip(counts)
                    .filter(|(_, c)| *c > 0)
                    .map(|(l, c)| (l.clone(), c))
                    .collect(),
            }
        }
    }
}

// The covariance is a symmetric matrix filled by index.
#[allow(clippy::needless_range_loop)]
pub(crate) fn reference_profile(
    frame: &Frame,
    rows: &[usize],
    pre: &Preprocessor,
    x: &Matrix,
    probs: &Matrix,
    classes: &[String],
    threads: usize,
) -> ReferenceProfile {
    let mut num_cols = Vec::new();
    let mut jobs = Vec::new();
    let mut at = 0;
    for f in &pre.features {
        if let Some(col) = frame.column(&f.name) {
            if let (FeatureColumn::Numeric(_), Transform::Standardise { .. }) = (col, &f.transform)
            {
                num_cols.push((f.name.clone(), at));
            }
            jobs.push((f.name.as_str(), col));
        }
        at += f.transform.width();
    }
    let features = par_map(&jobs, threads, |(name, col)| {
        feature_profile(name, col, rows)
    });
    // Covariance of the standardised numeric model columns, summed per
    // block and combined in block order.
    let d = num_cols.len();
    let n = x.rows.max(1) as f64;
    let sums = par_blocks(x.rows, threads, |range| {
        let mut s = vec![0.0; d];
        for i in range {
            let r = x.row(i);
            for (j, (_, c)) in num_cols.iter().enumerate() {
                s[j] += r[*c];
            }
        }
        s
    });
    let mut mean = vec![0.0; d];
    for s in sums {
        mean.iter_mut().zip(s).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let parts = par_blocks(x.rows, threads, |range| {
        let mut cov = vec![0.0; d * d];
        let mut dev = vec![0.0; d];
        for i in range {
            let r = x.row(i);
            for a in 0..d {
                dev[a] = r[num_cols[a].1] - mean[a];
            }
            for a in 0..d {
                for b in a..d {
                    cov[a * d + b] += dev[a] * dev[b];
                }
            }
        }
        cov
    });
    let mut flat = vec![0.0; d * d];
    for p in parts {
        flat.iter_mut().zip(p).for_each(|(c, v)| *c += v);
    }
    let mut cov = vec![vec![0.0; d]; d];
    for a in 0..d {
        for b in a..d {
            let v = flat[a * d + b] / n;
            cov[a][b] = v;
            cov[b][a] = v;
        }
    }
    let mut mix = vec![0u64; classes.len()];
    for i in 0..probs.rows {
        let p = probs.row(i);
        let best = (0..p.len()).fold(0, |b, c| if p[c] > p[b] { c } else { b });
        mix[best] += 1;
    }
    ReferenceProfile {
        format: PROFILE_FORMAT.into(),
        rows: rows.len() as u64,
        features,
        covariance: Covariance {
            features: num_cols.into_iter().map(|(n, _)| n).collect(),
            mean,
            matrix: cov,
        },
        predictions: classes
            .iter()
            .zip(mix)
            .map(|(c, m)| (c.clone(), m as f64 / probs.rows.max(1) as f64))
            .collect(),
    }
}

/// The reference profile of a model imported from elsewhere, measured on
/// the dataset it was trained on (or a held-out version): every feature's
/// profile over all rows, the covariance of the numeric features
/// standardised by their own mean and deviation (the imported model's own
/// scaling is not known), and the class mix the model predicts (`probs`,
/// rows × classes).
// The covariance is a symmetric matrix filled by index.
#[allow(clippy::needless_range_loop)]
pub fn imported_profile(
    frame: &Frame,
    probs: &Matrix,
    classes: &[String],
    threads: usize,
) -> ReferenceProfile {
    let rows: Vec<usize> = (0..frame.rows).collect();
    let jobs: Vec<(&str, &FeatureColumn)> = frame
        .names
        .iter()
        .map(String::as_str)
        .zip(frame.columns.iter())
        .collect();
    let features = par_map(&jobs, threads, |(name, col)| {
        feature_profile(name, col, &rows)
    });
    // Standardised numeric columns (missing values at the mean, i.e. 0).
    let numeric: Vec<(String, Vec<f64>)> = features
        .iter()
        .zip(&jobs)
        .filter_map(|(p, (name, col))| match (p, col) {
            (FeatureProfile::Numeric { mean, std, .. }, FeatureColumn::Numeric(v)) => {
                let s = if *std > 0.0 { *std } else { 1.0 };
                Some((
                    name.to_string(),
                    v.iter()
                        .map(|x| if x.is_nan() { 0.0 } else { (x - mean) / s })
                        .collect(),
                ))
            }
            _ => None,
        })
        .collect();
    let d = numeric.len();
    let n = frame.rows.max(1) as f64;
    let mean: Vec<f64> = numeric
        .iter()
        .map(|(_, v)| v.iter().sum::<f64>() / n)
        .collect();
    let mut cov = vec![vec![0.0; d]; d];
    for a in 0..d {
        for b in a..d {
            let c = numeric[a]
                .1
                .iter()
                .zip(&numeric[b].1)
                .map(|(x, y)| (x - mean[a]) * (y - mean[b]))
                .sum::<f64>()
                / n;
            cov[a][b] = c;
            cov[b][a] = c;
        }
    }
    let mut mix = vec![0u64; classes.len()];
    for i in 0..probs.rows {
        let p = probs.row(i);
        let best = (0..p.len()).fold(0, |b, c| if p[c] > p[b] { c } else { b });
        if let Some(m) = mix.get_mut(best) {
            *m += 1;
        }
    }
    ReferenceProfile {
        format: PROFILE_FORMAT.into(),
        rows: frame.rows as u64,
        features,
        covariance: Covariance {
            features: numeric.into_iter().map(|(n, _)| n).collect(),
            mean,
            matrix: cov,
        },
        predictions: classes
            .iter()
            .zip(mix)
            .map(|(c, m)| (c.clone(), m as f64 / probs.rows.max(1) as f64))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert!((quantile(&v, 0.1) - 1.3).abs() < 1e-12);
    }

    #[test]
    fn histogram_counts_every_value_once() {
        let v = [0.0, 1.0, 1.0, 2.0, 3.0];
        assert_eq!(histogram(&v, &[0.0, 1.0, 2.0, 3.0]), [1, 2, 2]);
    }
}
