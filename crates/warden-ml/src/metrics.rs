//! Classification performance, as evidence: the figures a gate decides on,
//! with the definitions scikit-learn uses, and seeded bootstrap confidence
//! intervals. A figure whose denominator is empty is [`Figure::Undefined`]
//! with the reason, never 0 or infinity.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::frame::Matrix;

/// A figure, or why there is none.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Figure {
    /// The figure's value.
    Defined(f64),
    /// No figure: a denominator was empty or an input was missing.
    Undefined {
        /// Why there is no figure.
        undefined: String,
    },
}

/// Reads a figure as written: a number, `{"undefined": why}`, or `null`,
/// which is how a non-finite value was written by reports before figures
/// refused them (read as undefined, saying so).
impl<'de> Deserialize<'de> for Figure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Defined(f64),
            Undefined { undefined: String },
        }
        Ok(match Option::<Written>::deserialize(d)? {
            Some(Written::Defined(v)) => Figure::Defined(v),
            Some(Written::Undefined { undefined }) => Figure::Undefined { undefined },
            None => Figure::undefined("not a finite number"),
        })
    }
}

/// Read where a stored report predates the figure: reports keep their
/// format name when figures are added, so an older one simply lacks them.
impl Default for Figure {
    fn default() -> Self {
        Figure::undefined("not recorded by the version that wrote this report")
    }
}

impl Figure {
    /// An undefined figure with the reason `why`.
    pub fn undefined(why: impl Into<String>) -> Self {
        Figure::Undefined {
            undefined: why.into(),
        }
    }

    /// The value, or `None` when the figure is undefined.
    pub fn value(&self) -> Option<f64> {
        match self {
            Figure::Defined(v) => Some(*v),
            Figure::Undefined { .. } => None,
        }
    }

    /// `num / den`, undefined (with `why`) when `den` is 0.
    pub fn ratio(num: f64, den: f64, why: impl Into<String>) -> Self {
        if den == 0.0 {
            Figure::undefined(why)
        } else {
            Figure::Defined(num / den)
        }
    }
}

/// Precision, recall and F1 of one class (one-vs-rest).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClassFigures {
    /// The class label.
    pub class: String,
    /// Rows whose true label is the class.
    pub support: u64,
    /// The fraction of rows predicted as the class that belong to it; undefined
    /// when the class is never predicted.
    pub precision: Figure,
    /// The fraction of the class's rows predicted as it; undefined when the
    /// class never occurs.
    pub recall: Figure,
    /// The harmonic mean of precision and recall (0 when both are 0);
    /// undefined when either is.
    pub f1: Figure,
}

/// A 95% interval from the bootstrap.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Interval {
    /// The 2.5th percentile of the resampled figure.
    pub low: f64,
    /// The 97.5th percentile of the resampled figure.
    pub high: f64,
}

/// Everything `performance` reports.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Performance {
    /// Rows scored.
    pub rows: u64,
    /// Class labels, in class-index order.
    pub classes: Vec<String>,
    /// The fraction of rows predicted correctly (0 with no rows).
    pub accuracy: f64,
    /// Mean recall over the classes present in the truth, as scikit-learn's
    /// `balanced_accuracy_score`; undefined with no rows.
    pub balanced_accuracy: Figure,
    /// Each class's precision, recall and F1, in class-index order.
    pub per_class: Vec<ClassFigures>,
    /// The unweighted mean of the classes' precisions; undefined when any is.
    pub macro_precision: Figure,
    /// The unweighted mean of the classes' recalls; undefined when any is.
    pub macro_recall: Figure,
    /// The unweighted mean of the classes' F1 scores; undefined when any is.
    pub macro_f1: Figure,
    /// Binary: of the positive class's score; more classes: macro one-vs-rest.
    pub roc_auc: Figure,
    /// Average precision (scikit-learn's step definition); binary only.
    pub pr_auc: Figure,
    /// Mean negative natural log of the true class's probability, clipped to
    /// [1e-15, 1 - 1e-15] as scikit-learn does; undefined without probabilities.
    pub log_loss: Figure,
    /// Mean squared error of the probabilities against the one-hot truth: for
    /// two classes of the positive class's probability alone (scikit-learn's
    /// `brier_score_loss`), else summed over classes; undefined without probabilities.
    pub brier: Figure,
    /// Expected calibration error over 10 equal-width confidence bins.
    pub ece: Figure,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    /// Seeded bootstrap (percentile) intervals of the headline figures.
    pub ci95: std::collections::BTreeMap<String, Interval>,
    /// How the `ci95` intervals were drawn.
    pub bootstrap: BootstrapInfo,
    /// Points for charts: the ROC curve (binary; at most 201 points of
    /// `[FPR, TPR]`) and the calibration bins (`[mean confidence, accuracy,
    /// rows]` of the 10 ECE bins that hold rows).
    #[serde(default)]
    pub curves: Curves,
}

/// Points for charts; each list is empty where it does not apply.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Curves {
    /// The binary ROC curve as `[FPR, TPR]` points from `[0, 0]` down the
    /// score thresholds, thinned to at most 201; empty for more than two
    /// classes or when a class is absent.
    pub roc: Vec<[f64; 2]>,
    /// `[mean confidence, accuracy, rows]` of each of the 10 equal-width
    /// confidence bins that holds rows, lowest bin first.
    pub calibration: Vec<[f64; 3]>,
}

/// How the bootstrap intervals were drawn.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BootstrapInfo {
    /// Resamples drawn, each of as many rows as the data, with replacement.
    pub resamples: usize,
    /// The seed of the resamples' ChaCha20 stream.
    pub seed: u64,
}

/// Labels and predictions as class indices, and optional probabilities.
pub struct Outcomes<'a> {
    /// Class labels, indexed by the class indices.
    pub classes: &'a [String],
    /// Each row's true class index.
    pub truth: &'a [u32],
    /// Each row's predicted class index (as many as `truth`).
    pub predicted: &'a [u32],
    /// Rows × classes, each row summing to 1.
    pub probabilities: Option<&'a Matrix>,
}

/// Weighted confusion matrix.
fn confusion(o: &Outcomes<'_>, w: &[f64]) -> Vec<Vec<f64>> {
    let k = o.classes.len();
    let mut c = vec![vec![0.0; k]; k];
    for i in 0..o.truth.len() {
        c[o.truth[i] as usize][o.predicted[i] as usize] += w[i];
    }
    c
}

fn accuracy_of(c: &[Vec<f64>]) -> f64 {
    let total: f64 = c.iter().flatten().sum();
    let right: f64 = (0..c.len()).map(|i| c[i][i]).sum();
    if total == 0.0 { 0.0 } else { right / total }
}

fn per_class(c: &[Vec<f64>], classes: &[String]) -> Vec<ClassFigures> {
    let k = c.len();
    (0..k)
        .map(|j| {
            let tp = c[j][j];
            let support: f64 = c[j].iter().sum();
            let predicted: f64 = (0..k).map(|i| c[i][j]).sum();
            let precision = Figure::ratio(
                tp,
                predicted,
                format!("class {} is never predicted", classes[j]),
            );
            let recall = Figure::ratio(tp, support, format!("class {} never occurs", classes[j]));
            let f1 = match (precision.value(), recall.value()) {
                (Some(p), Some(r)) if p + r > 0.0 => Figure::Defined(2.0 * p * r / (p + r)),
                (Some(_), Some(_)) => Figure::Defined(0.0),
                _ => Figure::undefined(format!(
                    "precision or recall of class {} is undefined",
                    classes[j]
                )),
            };
            ClassFigures {
                class: classes[j].clone(),
                support: support as u64,
                precision,
                recall,
                f1,
            }
        })
        .collect()
}

fn macro_of(figs: &[Figure], what: &str) -> Figure {
    let vals: Vec<f64> = figs.iter().filter_map(Figure::value).collect();
    if vals.len() < figs.len() {
        return Figure::undefined(format!(
            "{what} is undefined for {} class(es)",
            figs.len() - vals.len()
        ));
    }
    Figure::Defined(vals.iter().sum::<f64>() / vals.len() as f64)
}

/// Weighted ROC AUC of `score` for `positive` rows (ties count half), over
/// rows visited in `order` (indices sorted by ascending score).
fn auc(order: &[usize], score: &[f64], positive: &[bool], w: &[f64]) -> Option<f64> {
    let (mut neg_below, mut acc, mut pos_total, mut neg_total) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let s = score[order[i]];
        let (mut p, mut n) = (0.0, 0.0);
        let mut j = i;
        while j < order.len() && score[order[j]] == s {
            let r = order[j];
            if positive[r] {
                p += w[r]
            } else {
                n += w[r]
            }
            j += 1;
        }
        acc += p * (neg_below + 0.5 * n);
        neg_below += n;
        pos_total += p;
        neg_total += n;
        i = j;
    }
    (pos_total > 0.0 && neg_total > 0.0).then(|| acc / (pos_total * neg_total))
}

/// ROC AUC of `score` for the `positive` rows (ties count half), or `None`
/// when the two slices differ in length or either class is absent.
pub fn roc_auc(score: &[f64], positive: &[bool]) -> Option<f64> {
    if score.len() != positive.len() {
        return None;
    }
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    auc(&order, score, positive, &vec![1.0; score.len()])
}

/// Average precision: Σ (R_k − R_{k−1}) P_k over descending score thresholds.
fn average_precision(order: &[usize], score: &[f64], positive: &[bool], w: &[f64]) -> Option<f64> {
    let total_pos: f64 = order.iter().filter(|&&r| positive[r]).map(|&r| w[r]).sum();
    if total_pos == 0.0 {
        return None;
    }
    let (mut tp, mut fp, mut ap, mut last_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = order.len();
    while i > 0 {
        let s = score[order[i - 1]];
        while i > 0 && score[order[i - 1]] == s {
            let r = order[i - 1];
            if positive[r] {
                tp += w[r]
            } else {
                fp += w[r]
            }
            i -= 1;
        }
        if tp + fp > 0.0 {
            let recall = tp / total_pos;
            ap += (recall - last_recall) * (tp / (tp + fp));
            last_recall = recall;
        }
    }
    Some(ap)
}

struct Scored {
    /// Per class: rows sorted by that class's probability, and the probabilities.
    orders: Vec<(Vec<usize>, Vec<f64>)>,
}

fn scored(o: &Outcomes<'_>) -> Option<Scored> {
    let p = o.probabilities?;
    let k = o.classes.len();
    let orders = (0..k)
        .map(|c| {
            let s: Vec<f64> = (0..p.rows).map(|i| p.row(i)[c]).collect();
            let mut idx: Vec<usize> = (0..p.rows).collect();
            idx.sort_by(|&a, &b| s[a].total_cmp(&s[b]));
            (idx, s)
        })
        .collect();
    Some(Scored { orders })
}

fn roc_auc_of(o: &Outcomes<'_>, sc: &Scored, w: &[f64]) -> Figure {
    let k = o.classes.len();
    let classes: Vec<usize> = if k == 2 { vec![1] } else { (0..k).collect() };
    let mut sum = 0.0;
    for &c in &classes {
        let positive: Vec<bool> = o.truth.iter().map(|&t| t as usize == c).collect();
        let (order, s) = &sc.orders[c];
        match auc(order, s, &positive, w) {
            Some(a) => sum += a,
            None => {
                return Figure::undefined(format!(
                    "class {} is absent or is the only class present",
                    o.classes[c]
                ));
            }
        }
    }
    Figure::Defined(sum / classes.len() as f64)
}

/// Computes every figure, with `resamples` bootstrap resamples seeded by `seed`.
pub fn performance(o: &Outcomes<'_>, resamples: usize, seed: u64) -> Performance {
    let n = o.truth.len();
    let k = o.classes.len();
    let ones = vec![1.0; n];
    let c = confusion(o, &ones);
    let pc = per_class(&c, o.classes);
    let recalls: Vec<Figure> = pc.iter().map(|f| f.recall.clone()).collect();
    let present: Vec<f64> = pc.iter().filter_map(|f| f.recall.value()).collect();
    let balanced = if present.is_empty() {
        Figure::undefined("no rows")
    } else {
        // scikit-learn averages recall over the classes present in the truth.
        Figure::Defined(present.iter().sum::<f64>() / present.len() as f64)
    };
    let _ = recalls;
    let macro_precision = macro_of(
        &pc.iter().map(|f| f.precision.clone()).collect::<Vec<_>>(),
        "precision",
    );
    let macro_recall = macro_of(
        &pc.iter().map(|f| f.recall.clone()).collect::<Vec<_>>(),
        "recall",
    );
    let macro_f1 = macro_of(&pc.iter().map(|f| f.f1.clone()).collect::<Vec<_>>(), "F1");
    let no_scores = || Figure::undefined("no probabilities or scores were given");
    let mut curves = Curves::default();
    let sc = scored(o);
    let (roc_auc, pr_auc, log_loss, brier, ece) = match (&sc, o.probabilities) {
        (Some(sc), Some(p)) => {
            let roc = roc_auc_of(o, sc, &ones);
            let pr = if k == 2 {
                let positive: Vec<bool> = o.truth.iter().map(|&t| t == 1).collect();
                let (order, s) = &sc.orders[1];
                average_precision(order, s, &positive, &ones).map_or_else(
                    || Figure::undefined(format!("class {} never occurs", o.classes[1])),
                    Figure::Defined,
                )
            } else {
                Figure::undefined("PR AUC is reported for two classes")
            };
            let mut ll = 0.0;
            let mut br = 0.0;
            for i in 0..n {
                let row = p.row(i);
                let t = o.truth[i] as usize;
                ll -= row[t].clamp(1e-15, 1.0 - 1e-15).ln();
                br += if k == 2 {
                    let y = if t == 1 { 1.0 } else { 0.0 };
                    (row[1] - y).powi(2)
                } else {
                    (0..k)
                        .map(|j| (row[j] - if j == t { 1.0 } else { 0.0 }).powi(2))
                        .sum::<f64>()
                };
            }
            let mut bins = [(0.0f64, 0.0f64, 0usize); 10];
            for i in 0..n {
                let row = p.row(i);
                let (best, conf) = row
                    .iter()
                    .enumerate()
                    .fold((0, f64::MIN), |b, (j, &v)| if v > b.1 { (j, v) } else { b });
                let b = ((conf * 10.0).ceil() as usize).clamp(1, 10) - 1;
                bins[b].0 += conf;
                bins[b].1 += if best == o.truth[i] as usize {
                    1.0
                } else {
                    0.0
                };
                bins[b].2 += 1;
            }
            let ece: f64 = bins
                .iter()
                .filter(|b| b.2 > 0)
                .map(|b| (b.1 / b.2 as f64 - b.0 / b.2 as f64).abs() * b.2 as f64 / n.max(1) as f64)
                .sum();
            curves.calibration = bins
                .iter()
                .filter(|b| b.2 > 0)
                .map(|b| [b.0 / b.2 as f64, b.1 / b.2 as f64, b.2 as f64])
                .collect();
            if k == 2 {
                let (order, sc1) = &sc.orders[1];
                let pos: f64 = o.truth.iter().filter(|&&t| t == 1).count() as f64;
                let neg = n as f64 - pos;
                if pos > 0.0 && neg > 0.0 {
                    let mut pts = vec![[0.0, 0.0]];
                    let (mut tp, mut fp) = (0.0, 0.0);
                    let mut i = order.len();
                    while i > 0 {
                        let s = sc1[order[i - 1]];
                        while i > 0 && sc1[order[i - 1]] == s {
                            if o.truth[order[i - 1]] == 1 {
                                tp += 1.0
                            } else {
                                fp += 1.0
                            }
                            i -= 1;
                        }
                        pts.push([fp / neg, tp / pos]);
                    }
                    let step = pts.len().div_ceil(200).max(1);
                    let last = pts.len() - 1;
                    curves.roc = pts
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| j % step == 0 || *j == last)
                        .map(|(_, p)| *p)
                        .collect();
                }
            }
            let nn = n.max(1) as f64;
            (
                roc,
                pr,
                Figure::Defined(ll / nn),
                Figure::Defined(br / nn),
                Figure::Defined(ece),
            )
        }
        _ => (
            no_scores(),
            no_scores(),
            no_scores(),
            no_scores(),
            no_scores(),
        ),
    };
    // Bootstrap: multiplicity weights of n draws with replacement.
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut samples: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    let mut w = vec![0.0; n];
    for _ in 0..resamples {
        if n == 0 {
            break;
        }
        w.iter_mut().for_each(|x| *x = 0.0);
        for _ in 0..n {
            w[rng.random_range(0..n)] += 1.0;
        }
        let c = confusion(o, &w);
        samples.entry("accuracy").or_default().push(accuracy_of(&c));
        let pc = per_class(&c, o.classes);
        let rec: Vec<f64> = pc.iter().filter_map(|f| f.recall.value()).collect();
        if !rec.is_empty() {
            samples
                .entry("balanced_accuracy")
                .or_default()
                .push(rec.iter().sum::<f64>() / rec.len() as f64);
        }
        if let Some(v) =
            macro_of(&pc.iter().map(|f| f.f1.clone()).collect::<Vec<_>>(), "F1").value()
        {
            samples.entry("macro_f1").or_default().push(v);
        }
        if let Some(sc) = &sc
            && let Some(v) = roc_auc_of(o, sc, &w).value()
        {
            samples.entry("roc_auc").or_default().push(v);
        }
    }
    let ci95 = samples
        .into_iter()
        .filter(|(_, v)| v.len() * 10 >= resamples.max(1) * 9)
        .map(|(name, mut v)| {
            v.sort_by(f64::total_cmp);
            let q = |p: f64| crate::profile::quantile(&v, p);
            (
                name.to_string(),
                Interval {
                    low: q(0.025),
                    high: q(0.975),
                },
            )
        })
        .collect();
    Performance {
        rows: n as u64,
        classes: o.classes.to_vec(),
        accuracy: accuracy_of(&c),
        balanced_accuracy: balanced,
        per_class: pc,
        macro_precision,
        macro_recall,
        macro_f1,
        roc_auc,
        pr_auc,
        log_loss,
        brier,
        ece,
        confusion: c
            .iter()
            .map(|r| r.iter().map(|&v| v as u64).collect())
            .collect(),
        ci95,
        bootstrap: BootstrapInfo { resamples, seed },
        curves,
    }
}

/// One membership-inference attack's success.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttackFigures {
    /// The attack's name.
    pub attack: String,
    /// Member (training) rows scored.
    pub members: u64,
    /// Non-member (held-out) rows scored.
    pub non_members: u64,
    /// ROC AUC of telling members from non-members (0.5 = chance).
    pub auc: Figure,
    /// max (TPR − FPR) over thresholds.
    pub advantage: Figure,
    /// The highest TPR at a threshold whose FPR is at most 1%; undefined with
    /// fewer than 100 non-members.
    pub tpr_at_1pct_fpr: Figure,
    /// The highest TPR at a threshold whose FPR is at most 0.1%; undefined with
    /// fewer than 1000 non-members.
    pub tpr_at_0_1pct_fpr: Figure,
}

/// Scores an attack whose `member` and `non_member` scores are higher for
/// rows it believes were in the training set.
pub fn membership_attack(attack: &str, member: &[f64], non_member: &[f64]) -> AttackFigures {
    let (m, n) = (member.len(), non_member.len());
    let why = || {
        Figure::undefined("the attack needs both training (member) and held-out (non-member) rows")
    };
    if m == 0 || n == 0 {
        return AttackFigures {
            attack: attack.into(),
            members: m as u64,
            non_members: n as u64,
            auc: why(),
            advantage: why(),
            tpr_at_1pct_fpr: why(),
            tpr_at_0_1pct_fpr: why(),
        };
    }
    let scores: Vec<f64> = member.iter().chain(non_member).cloned().collect();
    let positive: Vec<bool> = (0..m + n).map(|i| i < m).collect();
    let mut order: Vec<usize> = (0..m + n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let ones = vec![1.0; m + n];
    let auc_v = auc(&order, &scores, &positive, &ones);
    // ROC points from the highest threshold down.
    let (mut tp, mut fp) = (0.0, 0.0);
    let (mut adv, mut at1, mut at01) = (0.0f64, 0.0f64, 0.0f64);
    let mut i = order.len();
    while i > 0 {
        let s = scores[order[i - 1]];
        while i > 0 && scores[order[i - 1]] == s {
            if positive[order[i - 1]] {
                tp += 1.0
            } else {
                fp += 1.0
            }
            i -= 1;
        }
        let (tpr, fpr) = (tp / m as f64, fp / n as f64);
        adv = adv.max(tpr - fpr);
        if fpr <= 0.01 {
            at1 = at1.max(tpr);
        }
        if fpr <= 0.001 {
            at01 = at01.max(tpr);
        }
    }
    let small = |limit: f64| {
        if (n as f64) * limit < 1.0 {
            Figure::undefined(format!(
                "{n} non-members cannot resolve a {}% false-positive rate",
                limit * 100.0
            ))
        } else {
            Figure::Defined(if limit == 0.01 { at1 } else { at01 })
        }
    };
    AttackFigures {
        attack: attack.into(),
        members: m as u64,
        non_members: n as u64,
        auc: auc_v.map_or_else(why, Figure::Defined),
        advantage: Figure::Defined(adv),
        tpr_at_1pct_fpr: small(0.01),
        tpr_at_0_1pct_fpr: small(0.001),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A figure reads back as written, and `null` (how a non-finite value
    /// was written by earlier reports) reads as undefined.
    #[test]
    fn figures_read_back_and_null_is_undefined() {
        for (text, want) in [
            ("0.25", Figure::Defined(0.25)),
            ("0", Figure::Defined(0.0)),
            (r#"{"undefined":"no rows"}"#, Figure::undefined("no rows")),
            ("null", Figure::undefined("not a finite number")),
        ] {
            let got: Figure = serde_json::from_str(text).unwrap();
            assert_eq!(got, want, "{text}");
        }
        assert!(serde_json::from_str::<Figure>(r#""high""#).is_err());
        assert!(serde_json::from_str::<Figure>(r#"{"value": 1}"#).is_err());
    }

    #[test]
    fn auc_of_perfect_reversed_and_tied_scores() {
        let pos = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &pos), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &pos), Some(0.0));
        assert_eq!(
            roc_auc(&[0.5, 0.5, 0.5, 0.5], &[false, true, false, true]),
            Some(0.5)
        );
        // One tie across the classes: three of four pairs right, one half.
        assert_eq!(roc_auc(&[0.1, 0.5, 0.5, 0.9], &pos), Some(0.875));
        assert_eq!(roc_auc(&[0.5], &[true]), None);
        assert_eq!(roc_auc(&[0.5, 0.6], &[true]), None);
    }
}
