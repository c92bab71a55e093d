//! The poisoning and integrity screen.
//!
//! Facts only; whether the suspect fraction is acceptable is a policy
//! decision (the gate). The screen reports:
//!
//! - exact and near-duplicate rows, and duplicates whose labels conflict;
//! - label-noise suspects by confident learning: out-of-fold predicted
//!   probabilities from a cross-validated softmax (multinomial logistic)
//!   regression, warden-ml's, fitted by seeded minibatch Adam
//!   ([`warden_ml::train::fit_adam`]); per-class
//!   thresholds (the mean self-confidence of each given class), the
//!   confident joint calibrated to the class counts, the estimated noise
//!   matrix, and the examples pruned by noise rate (the largest margins
//!   `p[true] - p[given]` within each off-diagonal cell), as cleanlab's
//!   `find_label_issues` does by default;
//! - k-nearest-neighbour label disagreement on standardised features (on a
//!   sample for large tables);
//! - extreme outliers by robust z-score;
//! - class balance and per-feature shift against the previous version.
//!
//! When labels are intrinsically noisy (out-of-fold AUC below
//! [`ScreenOptions::min_separability`]), label-noise suspects are not
//! reported: the model cannot tell noise from signal, and flagging natural
//! noise as poison would bury real findings.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher as _};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use warden_ml::Matrix;
use warden_ml::metrics::roc_auc;
use warden_ml::model::{Architecture, Model, Scratch};
use warden_ml::train::{AdamOptions, fit_adam};

use crate::DataError;
use crate::table::{ColumnData, ColumnType, Table};

/// Settings of the screen; the default is 5 folds, seed 17, a minimum AUC
/// of 0.9, outliers beyond z = 6, 10 neighbours on up to 5000 rows, and up
/// to 1000 rows listed per finding.
#[derive(Clone, Debug, Serialize)]
pub struct ScreenOptions {
    /// Cross-validation folds for the out-of-fold probabilities; the
    /// label-noise check needs at least ten labelled rows per fold.
    pub folds: usize,
    /// Seed of the fold assignment and of the model's training: the same
    /// seed gives the same report.
    pub seed: u64,
    /// Below this out-of-fold AUC, labels are called intrinsically noisy.
    pub min_separability: f64,
    /// Robust z-score beyond which a value is an extreme outlier.
    pub outlier_z: f64,
    /// Neighbours for the kNN check.
    pub knn_k: usize,
    /// Most labelled rows the kNN check runs on; past it, an evenly spaced
    /// sample of this many.
    pub knn_sample: usize,
    /// Most suspect row numbers listed per finding.
    pub max_listed: usize,
}

impl Default for ScreenOptions {
    fn default() -> Self {
        ScreenOptions {
            folds: 5,
            seed: 17,
            min_separability: 0.9,
            outlier_z: 6.0,
            knn_k: 10,
            knn_sample: 5000,
            max_listed: 1000,
        }
    }
}

/// Row numbers are 1-based data rows, as in the source file.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RowList {
    /// How many rows there are, listed or not.
    pub count: usize,
    /// The first of them (at most `max_listed`), sorted.
    pub rows: Vec<usize>,
}

impl RowList {
    pub(crate) fn from(mut rows: Vec<usize>, max: usize) -> Self {
        rows.sort_unstable();
        let count = rows.len();
        rows.truncate(max);
        RowList {
            count,
            rows: rows.into_iter().map(|r| r + 1).collect(),
        }
    }
}

/// The label-noise check by confident learning.
#[derive(Clone, Debug, Serialize)]
pub struct LabelNoise {
    /// The method in words, with the number of folds and whether the
    /// sensitive attributes were used.
    pub method: String,
    /// The label's classes, sorted; the thresholds and matrices follow this
    /// order.
    pub classes: Vec<String>,
    /// Out-of-fold ROC AUC of the model: binary, or the mean of the
    /// one-vs-rest AUCs; NaN when a binary AUC is undefined.
    pub out_of_fold_auc: f64,
    /// Whether that AUC is below [`ScreenOptions::min_separability`] (or
    /// NaN); then no suspects are listed.
    pub low_separability: bool,
    /// Off-diagonal mass of the calibrated confident joint over all rows:
    /// the estimated fraction of wrong labels (reported even when
    /// separability is low, where it mixes natural noise and poison).
    pub estimated_noise_rate: f64,
    /// Wilson 95% interval of that fraction over the labelled rows. It
    /// treats the estimate as a count of wrong labels among them, so it
    /// covers sampling error, not the error of the screen's own model.
    pub noise_interval: [f64; 2],
    /// Per-class thresholds: the mean out-of-fold probability of each class
    /// over the rows labelled with it, in [0, 1].
    pub thresholds: Vec<f64>,
    /// Calibrated confident joint, rows = given label, columns = true label.
    pub confident_joint: Vec<Vec<f64>>,
    /// Estimated P(given label | true label), rows = given, columns = true.
    pub noise_matrix: Vec<Vec<f64>>,
    /// Rows pruned by noise rate: likely wrong labels. Empty when
    /// separability is low.
    pub suspects: RowList,
}

/// A feature whose distribution moved since the previous version.
#[derive(Clone, Debug, Serialize)]
pub struct FeatureShift {
    /// The feature's name.
    pub feature: String,
    /// Kolmogorov–Smirnov D for numeric features, total variation distance for categorical ones.
    pub statistic: String,
    /// The statistic, in [0, 1]; a feature is listed only above 0.1.
    pub value: f64,
}

/// What the screen found.
#[derive(Clone, Debug, Serialize)]
pub struct ScreenReport {
    /// Rows screened.
    pub rows: usize,
    /// Rows identical to an earlier row in the features, the extra
    /// attributes and the label (the first occurrence is not listed).
    pub exact_duplicates: RowList,
    /// Rows that are not exact duplicates but equal an earlier row once
    /// floats are rounded to three significant digits and text is trimmed
    /// and lower-cased.
    pub near_duplicates: RowList,
    /// Rows whose features and extra attributes equal those of another row
    /// with a different label, that row included.
    pub conflicting_labels: RowList,
    /// The label-noise check; `None` when it was skipped (see `notes`).
    pub label_noise: Option<LabelNoise>,
    /// Rows whose id is in the previous version with another label: label
    /// changes against an earlier version, suspects whatever the model
    /// thinks (empty without an id column or a previous version).
    pub relabelled: RowList,
    /// Sampled rows whose label differs from that of at least 80% of their
    /// `knn_k` nearest neighbours in the sample (standardised features);
    /// checked only when the label-noise model separates the classes.
    pub knn_disagreement: RowList,
    /// Size of the kNN sample, even when the check was skipped.
    pub knn_rows_checked: usize,
    /// Rows with a numeric feature or extra attribute whose robust z-score
    /// (distance from the median over 1.4826 MAD) exceeds `outlier_z`.
    pub outliers: RowList,
    /// Each class's share of the labelled rows, in [0, 1].
    pub class_balance: BTreeMap<String, f64>,
    /// The same shares in the previous version (for this version's classes);
    /// `None` without a previous version holding the target.
    pub previous_class_balance: Option<BTreeMap<String, f64>>,
    /// Features that shifted against the previous version (statistic above
    /// 0.1); empty without a previous version.
    pub shifted_features: Vec<FeatureShift>,
    /// Distinct rows in any of: conflicting labels, label-noise suspects,
    /// rows relabelled since the previous version.
    pub suspect_rows: usize,
    /// `suspect_rows` over `rows`, in [0, 1].
    pub suspect_fraction: f64,
    /// Checks skipped or held back and why, and relabelled rows, in words.
    pub notes: Vec<String>,
    /// Every suspect row (0-based), sorted: what `--drop-suspects` leaves
    /// out. Not in the report (the lists above show the first of each).
    #[serde(skip)]
    pub all_suspects: Vec<usize>,
}

/// The Wilson score interval (95%) of a proportion `p` observed over `n`
/// trials (Wilson 1927); `[0, 0]` for no trials.
fn wilson_95(p: f64, n: usize) -> [f64; 2] {
    if n == 0 || !p.is_finite() {
        return [0.0, 0.0];
    }
    let z = 1.959_963_984_540_054_f64;
    let n = n as f64;
    let p = p.clamp(0.0, 1.0);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// Rows of `table` whose `id` appears in `previous` with a different
/// `target` value. Ids that repeat within a version are ambiguous and
/// skipped.
fn relabelled_rows(table: &Table, previous: &Table, id: &str, target: &str) -> Vec<usize> {
    let (Some(pid), Some(ptarget), Some(cid), Some(ctarget)) = (
        previous.column(id),
        previous.column(target),
        table.column(id),
        table.column(target),
    ) else {
        return Vec::new();
    };
    let mut before: HashMap<String, Option<String>> = HashMap::with_capacity(previous.rows);
    let mut repeated: std::collections::HashSet<String> = std::collections::HashSet::new();
    for r in 0..previous.rows {
        let Some(k) = pid.data.text(r) else { continue };
        if before.insert(k.clone(), ptarget.data.text(r)).is_some() {
            repeated.insert(k);
        }
    }
    (0..table.rows)
        .filter(|&r| {
            let Some(k) = cid.data.text(r) else {
                return false;
            };
            if repeated.contains(&k) {
                return false;
            }
            match (before.get(&k), ctarget.data.text(r)) {
                (Some(Some(old)), Some(new)) => *old != new,
                _ => false,
            }
        })
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Encodes `features` of `table`: numeric (imputed with the median,
/// standardised), categorical and boolean one-hot (the 30 most frequent
/// levels; the rest share one column), as a row-major matrix. Text
/// columns, and categorical columns whose levels are sentences, are not
/// used.
pub(crate) fn encode(table: &Table, features: &[String]) -> Matrix {
    let n = table.rows;
    let mut cols: Vec<Vec<f64>> = Vec::new();
    for name in features {
        let Some(c) = table.column(name) else {
            continue;
        };
        match &c.data {
            // Free text that repeats (notes, comments) reads as categorical;
            // as one-hot features it only adds noise to the screen's model.
            ColumnData::Categorical { levels, .. } if looks_like_prose(levels) => {}
            ColumnData::Categorical { codes, levels } => {
                let mut counts = vec![0usize; levels.len()];
                for c in codes.iter().filter(|c| **c != crate::table::MISSING_CODE) {
                    counts[*c as usize] += 1;
                }
                let mut order: Vec<usize> = (0..levels.len()).collect();
                order.sort_by_key(|&i| (std::cmp::Reverse(counts[i]), i));
                let top: Vec<usize> = order.into_iter().take(30).collect();
                for &lvl in &top {
                    cols.push(
                        codes
                            .iter()
                            .map(|c| f64::from(u8::from(*c == lvl as u32)))
                            .collect(),
                    );
                }
            }
            ColumnData::Text(_) => {}
            d => {
                let mut present: Vec<f64> = (0..n).filter_map(|r| d.number(r)).collect();
                let med = median(&mut present);
                let v: Vec<f64> = (0..n).map(|r| d.number(r).unwrap_or(med)).collect();
                cols.push(v);
            }
        }
    }
    // Standardise every column.
    for col in &mut cols {
        let mean = col.iter().sum::<f64>() / n.max(1) as f64;
        let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n.max(1) as f64;
        let sd = if var > 1e-12 { var.sqrt() } else { 1.0 };
        for x in col.iter_mut() {
            *x = (*x - mean) / sd;
        }
    }
    let mut x = Matrix::zeros(n, cols.len());
    for (j, col) in cols.iter().enumerate() {
        for (i, v) in col.iter().enumerate() {
            x.row_mut(i)[j] = *v;
        }
    }
    x
}

/// Levels that average three or more words are sentences, not categories.
fn looks_like_prose(levels: &[String]) -> bool {
    let words: usize = levels.iter().map(|l| l.split_whitespace().count()).sum();
    !levels.is_empty() && words >= 3 * levels.len()
}

fn row_hash(table: &Table, cols: &[usize], r: usize, round: bool) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    for &c in cols {
        let d = &table.columns[c].data;
        match (round, d.column_type()) {
            (true, ColumnType::Float) => d.number(r).map(|x| format!("{x:.2e}")).hash(&mut h),
            (true, ColumnType::Text | ColumnType::Categorical) => {
                d.text(r).map(|s| s.trim().to_lowercase()).hash(&mut h)
            }
            _ => d.text(r).hash(&mut h),
        }
    }
    h.finish()
}

fn class_balance(labels: &[Option<usize>], classes: &[String]) -> BTreeMap<String, f64> {
    let mut counts = vec![0usize; classes.len()];
    for l in labels.iter().flatten() {
        counts[*l] += 1;
    }
    let n: usize = counts.iter().sum();
    classes
        .iter()
        .cloned()
        .zip(counts.iter().map(|c| *c as f64 / n.max(1) as f64))
        .collect()
}

fn ks_statistic(a: &mut [f64], b: &mut [f64]) -> f64 {
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// L2 strength per training row: a fixed, light penalty on the mean loss
/// whatever the number of rows.
const L2_PER_ROW: f64 = 1e-5;

/// Adam's learning rate on each softmax output.
const LEARNING_RATE: f64 = 0.05;

/// Softmax regression on the rows `rows` of `m`: minibatch Adam (batches of
/// 128) for 3 to 60 epochs, fewer the more rows there are; deterministic
/// for a seed.
///
/// With two classes the model has one logit, the difference of the two
/// softmax outputs. Adam moves the two outputs by equal and opposite steps,
/// so the same fit takes twice the step and half the penalty on the one
/// logit.
fn fit_softmax(
    m: &Matrix,
    y: &[u32],
    rows: &[usize],
    k: usize,
    seed: u64,
) -> Result<Model, warden_ml::MlError> {
    let mut model = Model::zeros(Architecture::Logreg {
        inputs: m.cols,
        classes: k,
    })?;
    let (learning_rate, l2) = if k == 2 {
        (2.0 * LEARNING_RATE, L2_PER_ROW / 2.0)
    } else {
        (LEARNING_RATE, L2_PER_ROW)
    };
    let opts = AdamOptions {
        epochs: (200_000 / rows.len().max(1)).clamp(3, 60),
        batch_size: 128,
        learning_rate,
        l2: l2 * rows.len() as f64,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    fit_adam(&mut model, m, y, rows, &opts, &mut rng, &mut |_, _| {})?;
    Ok(model)
}

/// Out-of-fold class probabilities (`n * k`, row-major) of a `folds`-fold
/// cross-validated softmax regression, and their AUC (binary, or the macro
/// one-vs-rest mean).
fn oof_probabilities(
    m: &Matrix,
    y: &[usize],
    labelled: &[usize],
    k: usize,
    opts: &ScreenOptions,
) -> Result<(Vec<f64>, f64), DataError> {
    let n = y.len();
    let y32: Vec<u32> = y.iter().map(|&c| c as u32).collect();
    let mut probs = vec![0.0; n * k];
    let fold_of = |r: usize| {
        let mut h = std::hash::DefaultHasher::new();
        (opts.seed, r).hash(&mut h);
        (h.finish() % opts.folds as u64) as usize
    };
    let mut scratch = Scratch::default();
    for f in 0..opts.folds {
        let train: Vec<usize> = labelled
            .iter()
            .copied()
            .filter(|&r| fold_of(r) != f)
            .collect();
        let model = fit_softmax(m, &y32, &train, k, opts.seed.wrapping_add(f as u64))
            .map_err(|e| DataError::Internal(format!("the label-noise model: {e}")))?;
        for &r in labelled.iter().filter(|&&r| fold_of(r) == f) {
            model.predict_row(m.row(r), &mut probs[r * k..(r + 1) * k], &mut scratch);
        }
    }
    let auc = if k == 2 {
        let s: Vec<f64> = labelled.iter().map(|&r| probs[r * k + 1]).collect();
        let p: Vec<bool> = labelled.iter().map(|&r| y[r] == 1).collect();
        roc_auc(&s, &p).unwrap_or(f64::NAN)
    } else {
        let (mut sum, mut cnt) = (0.0f64, 0.0f64);
        for c in 0..k {
            let s: Vec<f64> = labelled.iter().map(|&r| probs[r * k + c]).collect();
            let p: Vec<bool> = labelled.iter().map(|&r| y[r] == c).collect();
            if let Some(a) = roc_auc(&s, &p) {
                sum += a;
                cnt += 1.0;
            }
        }
        sum / cnt.max(1.0)
    };
    Ok((probs, auc))
}

/// Runs the screen over `table` with label column `target`. `extra`
/// attributes (the sensitive ones) join the features in the duplicate and
/// outlier checks, and in the label-noise model when they improve it.
pub fn screen(
    table: &Table,
    target: &str,
    features: &[String],
    extra: &[String],
    previous: Option<&Table>,
    id: Option<&str>,
    opts: &ScreenOptions,
) -> Result<ScreenReport, DataError> {
    let n = table.rows;
    let tcol = table
        .column(target)
        .ok_or_else(|| DataError::Columns(format!("target column {target} is not in the table")))?;
    let texts: Vec<Option<String>> = (0..n).map(|r| tcol.data.text(r)).collect();
    let mut classes: Vec<String> = texts.iter().flatten().cloned().collect();
    classes.sort();
    classes.dedup();
    if classes.len() < 2 {
        return Err(DataError::Columns(format!(
            "the target column {target} has {} distinct value(s); a label needs at least two",
            classes.len()
        )));
    }
    let index: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let labels: Vec<Option<usize>> = texts
        .iter()
        .map(|t| t.as_deref().and_then(|t| index.get(t).copied()))
        .collect();
    let mut notes = Vec::new();
    let feature_idx: Vec<usize> = features
        .iter()
        .chain(extra)
        .filter_map(|f| table.column_index(f))
        .collect();
    let target_idx = table.column_index(target).unwrap_or(0);

    // Duplicates.
    let mut exact = Vec::new();
    let mut near = Vec::new();
    let mut conflicting = Vec::new();
    let mut all_cols = feature_idx.clone();
    all_cols.push(target_idx);
    let mut seen_exact: HashMap<u64, usize> = HashMap::new();
    let mut seen_near: HashMap<u64, usize> = HashMap::new();
    let mut by_features: HashMap<u64, (usize, Option<usize>)> = HashMap::new();
    for (r, label) in labels.iter().enumerate() {
        if seen_exact
            .insert(row_hash(table, &all_cols, r, false), r)
            .is_some()
        {
            exact.push(r);
        } else if seen_near
            .insert(row_hash(table, &all_cols, r, true), r)
            .is_some()
        {
            near.push(r);
        } else {
            // seen_near was just inserted: nothing.
        }
        let fh = row_hash(table, &feature_idx, r, false);
        match by_features.get(&fh) {
            Some((first, l)) if *l != *label => {
                conflicting.push(r);
                if !conflicting.contains(first) {
                    conflicting.push(*first);
                }
            }
            Some(_) => {}
            None => {
                by_features.insert(fh, (r, *label));
            }
        }
    }

    // Outliers by robust z-score.
    let mut outliers = Vec::new();
    for &c in &feature_idx {
        let d = &table.columns[c].data;
        if !matches!(d.column_type(), ColumnType::Integer | ColumnType::Float) {
            continue;
        }
        let mut xs: Vec<f64> = (0..n).filter_map(|r| d.number(r)).collect();
        let med = median(&mut xs);
        let mut dev: Vec<f64> = xs.iter().map(|x| (x - med).abs()).collect();
        let mad = median(&mut dev) * 1.4826;
        if mad <= 0.0 {
            continue;
        }
        for r in 0..n {
            if d.number(r)
                .is_some_and(|x| ((x - med) / mad).abs() > opts.outlier_z)
            {
                outliers.push(r);
            }
        }
    }
    outliers.sort_unstable();
    outliers.dedup();

    // Label noise by confident learning.
    let m = encode(table, features);
    let labelled: Vec<usize> = (0..n).filter(|&r| labels[r].is_some()).collect();
    let y: Vec<usize> = labels.iter().map(|l| l.unwrap_or(0)).collect();
    let k = classes.len();
    let mut label_noise = None;
    let mut suspects: Vec<usize> = Vec::new();
    if m.cols == 0 {
        notes.push("no usable numeric or categorical features: label-noise checks skipped".into());
    } else if k > 50 {
        notes.push(format!(
            "the target has {k} classes: label-noise checks skipped"
        ));
    } else if labelled.len() < opts.folds * 10 {
        notes.push("too few labelled rows for cross-validation: label-noise checks skipped".into());
    } else {
        // Out-of-fold probabilities from the features, and from the features
        // plus the extra (sensitive) attributes; the set the model predicts
        // better from (higher out-of-fold AUC) is used.
        let (mut probs, mut auc) = oof_probabilities(&m, &y, &labelled, k, opts)?;
        let mut with_extra = false;
        if !extra.is_empty() {
            let all: Vec<String> = features.iter().chain(extra).cloned().collect();
            let m2 = encode(table, &all);
            if m2.cols > m.cols {
                let (p2, a2) = oof_probabilities(&m2, &y, &labelled, k, opts)?;
                if a2 > auc {
                    (probs, auc, with_extra) = (p2, a2, true);
                }
            }
        }
        // NaN (a class never present) counts as low separability.
        let low = auc.is_nan() || auc < opts.min_separability;
        // Per-class thresholds: mean self-confidence of each given class.
        let mut thr = vec![0.0; k];
        let mut cnt = vec![0usize; k];
        for &r in &labelled {
            thr[y[r]] += probs[r * k + y[r]];
            cnt[y[r]] += 1;
        }
        for c in 0..k {
            thr[c] /= cnt[c].max(1) as f64;
        }
        // Confident joint: for each example, the most likely class among those above threshold.
        let mut joint = vec![vec![0.0f64; k]; k];
        let mut confident_true: Vec<Option<usize>> = vec![None; n];
        for &r in &labelled {
            let p = &probs[r * k..(r + 1) * k];
            let best = (0..k)
                .filter(|&c| p[c] >= thr[c])
                .max_by(|&a, &b| p[a].total_cmp(&p[b]));
            if let Some(j) = best {
                joint[y[r]][j] += 1.0;
                confident_true[r] = Some(j);
            }
        }
        // Calibrate each row of the joint to the count of its given label.
        for (row, &given) in joint.iter_mut().zip(&cnt) {
            let s: f64 = row.iter().sum();
            if s > 0.0 {
                row.iter_mut().for_each(|v| *v *= given as f64 / s);
            }
        }
        let total: f64 = joint.iter().flatten().sum();
        let mut noise = vec![vec![0.0; k]; k];
        for j in 0..k {
            let col: f64 = (0..k).map(|i| joint[i][j]).sum();
            for i in 0..k {
                noise[i][j] = if col > 0.0 {
                    joint[i][j] / col
                } else {
                    f64::from(u8::from(i == j))
                };
            }
        }
        let off_diagonal: f64 = (0..k)
            .flat_map(|i| (0..k).map(move |j| (i, j)))
            .filter(|(i, j)| i != j)
            .map(|(i, j)| joint[i][j])
            .sum();
        let estimated_noise_rate = if total > 0.0 {
            off_diagonal / total
        } else {
            0.0
        };
        if !low {
            // Prune by noise rate: in each off-diagonal cell (given i, true j),
            // the round(joint[i][j]) examples with given label i and the
            // largest margin p[j] - p[i].
            for i in 0..k {
                for j in 0..k {
                    if i == j {
                        continue;
                    }
                    let take = joint[i][j].round() as usize;
                    if take == 0 {
                        continue;
                    }
                    let mut cands: Vec<(f64, usize)> = labelled
                        .iter()
                        .filter(|&&r| y[r] == i)
                        .map(|&r| (probs[r * k + j] - probs[r * k + i], r))
                        .collect();
                    cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                    suspects.extend(
                        cands
                            .into_iter()
                            .take(take)
                            .filter(|(m, _)| *m > 0.0)
                            .map(|(_, r)| r),
                    );
                }
            }
            suspects.sort_unstable();
            suspects.dedup();
        } else {
            notes.push(format!(
                "labels look intrinsically noisy (out-of-fold AUC {auc:.3} < {}): label-noise suspects are not reported; the estimated share of wrong labels is {:.1}%, natural noise and any poisoning together",
                opts.min_separability,
                estimated_noise_rate * 100.0
            ));
        }
        label_noise = Some(LabelNoise {
            method: format!(
                "confident learning (prune by noise rate), {}-fold softmax regression{}",
                opts.folds,
                if with_extra {
                    ", sensitive attributes included"
                } else {
                    ""
                }
            ),
            classes: classes.clone(),
            out_of_fold_auc: auc,
            low_separability: low,
            estimated_noise_rate,
            noise_interval: wilson_95(estimated_noise_rate, labelled.len()),
            thresholds: thr,
            confident_joint: joint,
            noise_matrix: noise,
            suspects: RowList::from(suspects.clone(), opts.max_listed),
        });
    }

    // kNN disagreement on a deterministic sample.
    let mut knn = Vec::new();
    let sample: Vec<usize> = if labelled.len() <= opts.knn_sample {
        labelled.clone()
    } else {
        let step = labelled.len() as f64 / opts.knn_sample as f64;
        (0..opts.knn_sample)
            .map(|i| labelled[(i as f64 * step) as usize])
            .collect()
    };
    if m.cols > 0
        && sample.len() > opts.knn_k * 2
        && label_noise.as_ref().is_some_and(|l| !l.low_separability)
    {
        let mut dist: Vec<(f64, usize)> = Vec::with_capacity(sample.len());
        for &a in &sample {
            dist.clear();
            let xa = m.row(a);
            for &b in &sample {
                if a != b {
                    let xb = m.row(b);
                    let s: f64 = xa.iter().zip(xb).map(|(p, q)| (p - q) * (p - q)).sum();
                    dist.push((s, b));
                }
            }
            let kk = opts.knn_k.min(dist.len());
            dist.select_nth_unstable_by(kk - 1, |p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
            let disagree = dist[..kk].iter().filter(|(_, b)| y[*b] != y[a]).count();
            if disagree as f64 >= 0.8 * kk as f64 {
                knn.push(a);
            }
        }
    }

    // Class balance and shift against the previous version.
    let balance = class_balance(&labels, &classes);
    let mut previous_balance = None;
    let mut shifted = Vec::new();
    if let Some(prev) = previous {
        if let Some(pt) = prev.column(target) {
            let plabels: Vec<Option<usize>> = (0..prev.rows)
                .map(|r| pt.data.text(r).and_then(|t| index.get(t.as_str()).copied()))
                .collect();
            previous_balance = Some(class_balance(&plabels, &classes));
        }
        for f in features {
            let (Some(a), Some(b)) = (table.column(f), prev.column(f)) else {
                continue;
            };
            if a.data.column_type().is_numeric() && b.data.column_type().is_numeric() {
                let mut xa: Vec<f64> = (0..table.rows).filter_map(|r| a.data.number(r)).collect();
                let mut xb: Vec<f64> = (0..prev.rows).filter_map(|r| b.data.number(r)).collect();
                if !xa.is_empty() && !xb.is_empty() {
                    let dks = ks_statistic(&mut xa, &mut xb);
                    if dks > 0.1 {
                        shifted.push(FeatureShift {
                            feature: f.clone(),
                            statistic: "ks".into(),
                            value: dks,
                        });
                    }
                }
            } else {
                let freq = |t: &Table, c: &crate::table::Column| {
                    let mut m: BTreeMap<String, f64> = BTreeMap::new();
                    let mut total = 0.0;
                    for r in 0..t.rows {
                        if let Some(v) = c.data.text(r) {
                            *m.entry(v).or_default() += 1.0;
                            total += 1.0;
                        }
                    }
                    m.values_mut().for_each(|v| *v /= f64::max(total, 1.0));
                    m
                };
                let (fa, fb) = (freq(table, a), freq(prev, b));
                let keys: std::collections::BTreeSet<&String> =
                    fa.keys().chain(fb.keys()).collect();
                let tv = keys
                    .iter()
                    .map(|k| (fa.get(*k).unwrap_or(&0.0) - fb.get(*k).unwrap_or(&0.0)).abs())
                    .sum::<f64>()
                    / 2.0;
                if tv > 0.1 {
                    shifted.push(FeatureShift {
                        feature: f.clone(),
                        statistic: "total_variation".into(),
                        value: tv,
                    });
                }
            }
        }
    }

    let relabelled = match (previous, id) {
        (Some(prev), Some(id)) => relabelled_rows(table, prev, id, target),
        _ => Vec::new(),
    };
    if !relabelled.is_empty() {
        notes.push(format!(
            "{} row(s) carry another label than the same id in the previous version",
            relabelled.len()
        ));
    }
    let mut suspect_set: Vec<usize> = suspects
        .iter()
        .chain(&conflicting)
        .chain(&relabelled)
        .copied()
        .collect();
    suspect_set.sort_unstable();
    suspect_set.dedup();
    let max = opts.max_listed;
    Ok(ScreenReport {
        rows: n,
        exact_duplicates: RowList::from(exact, max),
        near_duplicates: RowList::from(near, max),
        conflicting_labels: RowList::from(conflicting, max),
        label_noise,
        relabelled: RowList::from(relabelled, max),
        knn_disagreement: RowList::from(knn, max),
        knn_rows_checked: sample.len(),
        outliers: RowList::from(outliers, max),
        class_balance: balance,
        previous_class_balance: previous_balance,
        shifted_features: shifted,
        suspect_rows: suspect_set.len(),
        suspect_fraction: suspect_set.len() as f64 / n.max(1) as f64,
        notes,
        all_suspects: suspect_set,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(csv: &str) -> Table {
        let mut input = csv.as_bytes();
        crate::read::read_csv(&mut input, &crate::read::CsvOptions::default())
            .unwrap()
            .0
    }

    #[test]
    fn wilson_interval_matches_the_formula_at_known_points() {
        // p = 0.1 over 100 trials: SciPy's
        // binomtest(10, 100).proportion_ci(method="wilson") gives
        // (0.05522913706067508, 0.17436566150491345).
        let [lo, hi] = wilson_95(0.1, 100);
        assert!((lo - 0.055_229_137_060_675_08).abs() < 1e-12, "{lo}");
        assert!((hi - 0.174_365_661_504_913_45).abs() < 1e-12, "{hi}");
        assert_eq!(wilson_95(0.0, 0), [0.0, 0.0]);
        // None wrong in 50: SciPy gives (0, 0.07134759913335872).
        let [lo, hi] = wilson_95(0.0, 50);
        assert!(lo.abs() < 1e-15, "{lo}");
        assert!((hi - 0.071_347_599_133_358_72).abs() < 1e-12, "{hi}");
    }

    #[test]
    fn labels_changed_since_the_previous_version_are_found_by_id() {
        let before = table("id,y,x\na,1,5\nb,0,6\nc,1,7\nd,0,8\nd,1,9\n");
        let now = table("id,y,x\nb,1,6\na,1,5\nc,0,7\ne,1,1\nd,1,8\n");
        // b and c changed label; e is new; d repeats in the previous
        // version, so it cannot be judged.
        assert_eq!(relabelled_rows(&now, &before, "id", "y"), vec![0, 2]);
        assert!(relabelled_rows(&now, &before, "nope", "y").is_empty());
    }

    #[test]
    fn sentences_are_not_categories() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(looks_like_prose(&s(&[
            "paid on time",
            "asked about the fees"
        ])));
        assert!(!looks_like_prose(&s(&[
            "self-employed",
            "Married-civ-spouse",
            "rent"
        ])));
        assert!(!looks_like_prose(&[]));
    }

    #[test]
    fn ks_of_identical_and_disjoint_samples() {
        assert_eq!(
            ks_statistic(&mut [1.0, 2.0, 3.0], &mut [1.0, 2.0, 3.0]),
            0.0
        );
        assert_eq!(ks_statistic(&mut [1.0, 2.0], &mut [5.0, 6.0]), 1.0);
    }
}
