//! Group fairness of binary decisions, per sensitive attribute (or the
//! intersection of two, groups named `a|b`).
//!
//! Multi-valued definitions are fairlearn's: demographic parity difference
//! and ratio are max − min and min / max of the groups' selection rates;
//! equalized odds difference is the larger of the TPR and FPR spreads
//! (max − min) and its ratio the smaller of their min / max; equal
//! opportunity difference and ratio are the TPR spread and min / max.
//! Disparate impact (AIF360's name) is the selection-rate min / max, and
//! the average odds difference the mean of the FPR and TPR spreads. With a
//! declared privileged group the AIF360 forms are given too: unprivileged
//! (every other value) minus, or over, privileged, the average absolute
//! odds difference, and the between-group Theil index and coefficient of
//! variation over those two sides.
//!
//! Where a rate's denominator is empty — a group with no positive labels has
//! no TPR, one with no negatives no FPR, a ratio whose largest rate is 0 —
//! the figure is undefined with the reason, and spreads are taken over the
//! groups that define the rate, naming the groups left out. fairlearn
//! counts such a rate as 0 and AIF360 returns NaN or infinity; Warden does
//! neither. When fewer than two groups define the FPR (or the TPR), that
//! spread is undefined and the equalized odds figures are those of the other
//! rate alone, with a note saying so: the disparity that can be measured
//! stays visible. fairlearn instead takes the max over both spreads with the
//! missing rate counted as 0, which can be larger.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::Figure;

/// One group's rates.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GroupRates {
    /// The group's value of the attribute (`a|b` for an intersection).
    pub group: String,
    /// Rows in the group.
    pub count: u64,
    /// Rows whose true label is positive.
    pub positives: u64,
    /// Rows predicted positive.
    pub predicted_positive: u64,
    /// The fraction of the group's rows predicted positive.
    pub selection_rate: Figure,
    /// True positive rate: the fraction of positive rows predicted positive;
    /// undefined when the group has no positive labels.
    pub tpr: Figure,
    /// False positive rate: the fraction of negative rows predicted positive;
    /// undefined when the group has no negative labels.
    pub fpr: Figure,
    /// The fraction of the group's rows whose prediction matches the label.
    pub accuracy: Figure,
}

/// AIF360-style comparison against a declared privileged group.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Privileged {
    /// The privileged group's value; every other value is the unprivileged side.
    pub privileged: String,
    /// Selection rate of the unprivileged side minus that of the privileged;
    /// undefined when either side has no rows.
    pub statistical_parity_difference: Figure,
    /// Selection rate of the unprivileged side over that of the privileged;
    /// undefined when either side has no rows or the privileged side has no
    /// positive predictions.
    pub disparate_impact: Figure,
    /// ½((FPR_u − FPR_p) + (TPR_u − TPR_p)).
    pub average_odds_difference: Figure,
    /// ½(|FPR_u − FPR_p| + |TPR_u − TPR_p|).
    #[serde(default)]
    pub average_abs_odds_difference: Figure,
    /// TPR_u − TPR_p.
    pub equal_opportunity_difference: Figure,
    /// AIF360's between-group generalised entropy index with α = 1: the
    /// Theil index of the benefits b = 1 + ŷ − y with each row's benefit
    /// replaced by the mean of its side (privileged or unprivileged).
    #[serde(default)]
    pub between_group_theil_index: Figure,
    /// AIF360's between-group coefficient of variation, √(2·GE(2)) of the
    /// same side-mean benefits.
    #[serde(default)]
    pub between_group_coefficient_of_variation: Figure,
}

/// The fairness section of one attribute.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttributeFairness {
    /// The sensitive attribute's name.
    pub attribute: String,
    /// Each group's rates, in sorted order of group name.
    pub groups: Vec<GroupRates>,
    /// max − min of the groups' selection rates (fairlearn).
    pub demographic_parity_difference: Figure,
    /// min / max of the groups' selection rates (fairlearn); undefined when
    /// every rate is 0.
    pub demographic_parity_ratio: Figure,
    /// The larger of the TPR and FPR spreads (max − min), or the only one
    /// defined (see the module docs for how this differs from fairlearn).
    pub equalized_odds_difference: Figure,
    /// The smaller of the TPR and FPR min / max ratios, or the only one defined.
    pub equalized_odds_ratio: Figure,
    /// max − min of the groups' true positive rates (fairlearn).
    pub equal_opportunity_difference: Figure,
    /// min / max of the groups' true positive rates (fairlearn).
    #[serde(default)]
    pub equal_opportunity_ratio: Figure,
    /// min / max of the groups' selection rates: AIF360's name for
    /// `demographic_parity_ratio`.
    pub disparate_impact: Figure,
    /// The mean of the TPR and FPR spreads (max − min).
    pub average_odds_difference: Figure,
    /// Groups left out of a spread, and groups too small to read much into.
    pub notes: Vec<String>,
    /// The AIF360 forms against the declared privileged group; `None` when no
    /// privileged group was declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<Privileged>,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    n: f64,
    pos: f64,
    neg: f64,
    tp: f64,
    fp: f64,
    pred: f64,
    right: f64,
}

impl Counts {
    fn add(&mut self, y: bool, p: bool) {
        self.n += 1.0;
        if y {
            self.pos += 1.0
        } else {
            self.neg += 1.0
        }
        if p {
            self.pred += 1.0
        }
        if y && p {
            self.tp += 1.0
        }
        if !y && p {
            self.fp += 1.0
        }
        if y == p {
            self.right += 1.0
        }
    }
    fn selection(&self) -> Figure {
        Figure::ratio(self.pred, self.n, "no rows")
    }
    fn tpr(&self, name: &str) -> Figure {
        Figure::ratio(self.tp, self.pos, format!("no positive labels in {name}"))
    }
    fn fpr(&self, name: &str) -> Figure {
        Figure::ratio(self.fp, self.neg, format!("no negative labels in {name}"))
    }
}

/// max − min and min / max of a rate over the groups defining it.
fn spread(rates: &[(String, Figure)], what: &str, notes: &mut Vec<String>) -> (Figure, Figure) {
    let defined: Vec<f64> = rates.iter().filter_map(|(_, f)| f.value()).collect();
    for (g, f) in rates {
        if let Figure::Undefined { undefined } = f {
            notes.push(format!("{what}: group {g} left out ({undefined})"));
        }
    }
    if defined.len() < 2 {
        let why = format!("fewer than two groups define the {what}");
        return (Figure::undefined(why.clone()), Figure::undefined(why));
    }
    let max = defined.iter().cloned().fold(f64::MIN, f64::max);
    let min = defined.iter().cloned().fold(f64::MAX, f64::min);
    (
        Figure::Defined(max - min),
        Figure::ratio(min, max, format!("every group's {what} is 0")),
    )
}

/// `f` of both figures where both are defined; the defined one where only
/// one is (noting which was left out); undefined where neither is.
fn combine_defined(
    a: (&Figure, &str),
    b: (&Figure, &str),
    what: &str,
    f: fn(f64, f64) -> f64,
    notes: &mut Vec<String>,
) -> Figure {
    match (a.0, b.0) {
        (Figure::Defined(_), Figure::Defined(_))
        | (Figure::Undefined { .. }, Figure::Undefined { .. }) => combine(a.0, b.0, f),
        (Figure::Defined(x), Figure::Undefined { .. }) => {
            notes.push(format!(
                "{what}: from the {} alone (the {} is undefined)",
                a.1, b.1
            ));
            Figure::Defined(*x)
        }
        (Figure::Undefined { .. }, Figure::Defined(y)) => {
            notes.push(format!(
                "{what}: from the {} alone (the {} is undefined)",
                b.1, a.1
            ));
            Figure::Defined(*y)
        }
    }
}

fn combine(a: &Figure, b: &Figure, f: fn(f64, f64) -> f64) -> Figure {
    match (a, b) {
        (Figure::Defined(x), Figure::Defined(y)) => Figure::Defined(f(*x, *y)),
        (Figure::Undefined { undefined }, _) | (_, Figure::Undefined { undefined }) => {
            Figure::undefined(undefined.clone())
        }
    }
}

/// Fairness of `predicted` against `truth` (positive = true) across the
/// groups named by `group` (one per row). `privileged` names the
/// privileged group for the AIF360 forms.
pub fn attribute_fairness(
    attribute: &str,
    truth: &[bool],
    predicted: &[bool],
    group: &[String],
    privileged: Option<&str>,
) -> AttributeFairness {
    let mut by: BTreeMap<&str, Counts> = BTreeMap::new();
    for i in 0..truth.len() {
        by.entry(group[i].as_str())
            .or_default()
            .add(truth[i], predicted[i]);
    }
    let mut notes = Vec::new();
    let groups: Vec<GroupRates> = by
        .iter()
        .map(|(g, c)| {
            if c.n < 2.0 {
                notes.push(format!(
                    "group {g} has a single row: its rates are anecdotes"
                ));
            }
            GroupRates {
                group: g.to_string(),
                count: c.n as u64,
                positives: c.pos as u64,
                predicted_positive: c.pred as u64,
                selection_rate: c.selection(),
                tpr: c.tpr(&format!("group {g}")),
                fpr: c.fpr(&format!("group {g}")),
                accuracy: Figure::ratio(c.right, c.n, "no rows"),
            }
        })
        .collect();
    let take = |f: fn(&GroupRates) -> Figure| -> Vec<(String, Figure)> {
        groups.iter().map(|g| (g.group.clone(), f(g))).collect()
    };
    let (dp_diff, dp_ratio) = spread(
        &take(|g| g.selection_rate.clone()),
        "selection rate",
        &mut notes,
    );
    let (tpr_diff, tpr_ratio) = spread(&take(|g| g.tpr.clone()), "true positive rate", &mut notes);
    let (fpr_diff, fpr_ratio) = spread(&take(|g| g.fpr.clone()), "false positive rate", &mut notes);
    let privileged = privileged.map(|p| {
        let (mut priv_c, mut unpriv_c) = (Counts::default(), Counts::default());
        for (g, c) in &by {
            let side = if *g == p { &mut priv_c } else { &mut unpriv_c };
            side.n += c.n;
            side.pos += c.pos;
            side.neg += c.neg;
            side.tp += c.tp;
            side.fp += c.fp;
            side.pred += c.pred;
            side.right += c.right;
        }
        let (sp, su) = (priv_c.selection(), unpriv_c.selection());
        let (tp, tu) = (
            priv_c.tpr("the privileged group"),
            unpriv_c.tpr("the unprivileged groups"),
        );
        let (fp, fu) = (
            priv_c.fpr("the privileged group"),
            unpriv_c.fpr("the unprivileged groups"),
        );
        let empty = |side: &str| Figure::undefined(format!("the {side} side has no rows"));
        let spd = if priv_c.n == 0.0 {
            empty("privileged")
        } else if unpriv_c.n == 0.0 {
            empty("unprivileged")
        } else {
            combine(&su, &sp, |u, p| u - p)
        };
        let name = p;
        let di = match (su.value(), sp.value()) {
            (Some(u), Some(rate)) => Figure::ratio(
                u,
                rate,
                format!("the privileged group {name:?} has no positive predictions"),
            ),
            _ => spd.clone(),
        };
        let eod = combine(&tu, &tp, |u, p| u - p);
        let fpd = combine(&fu, &fp, |u, p| u - p);
        // Between-group indices: every row's benefit is its side's mean.
        let side_benefit: Vec<(f64, f64)> = [priv_c, unpriv_c]
            .iter()
            .filter(|c| c.n > 0.0)
            .map(|c| (c.n, (c.n + c.pred - c.pos) / c.n))
            .collect();
        Privileged {
            between_group_theil_index: entropy_of(&side_benefit, 1.0),
            between_group_coefficient_of_variation: cv_of(entropy_of(&side_benefit, 2.0)),
            privileged: p.to_string(),
            statistical_parity_difference: spd,
            disparate_impact: di,
            average_odds_difference: combine(&fpd, &eod, |a, b| 0.5 * (a + b)),
            average_abs_odds_difference: combine(&fpd, &eod, |a, b| 0.5 * (a.abs() + b.abs())),
            equal_opportunity_difference: eod,
        }
    });
    if let Some(p) = privileged.as_ref()
        && !by.contains_key(p.privileged.as_str())
    {
        notes.push(format!(
            "the privileged group {} does not occur",
            p.privileged
        ));
    }
    let eo_diff = combine_defined(
        (&tpr_diff, "true positive rate spread"),
        (&fpr_diff, "false positive rate spread"),
        "equalized odds",
        f64::max,
        &mut notes,
    );
    let eo_ratio = combine_defined(
        (&tpr_ratio, "true positive rate ratio"),
        (&fpr_ratio, "false positive rate ratio"),
        "equalized odds ratio",
        f64::min,
        &mut notes,
    );
    notes.sort();
    notes.dedup();
    AttributeFairness {
        attribute: attribute.to_string(),
        demographic_parity_difference: dp_diff,
        demographic_parity_ratio: dp_ratio.clone(),
        equalized_odds_difference: eo_diff,
        equalized_odds_ratio: eo_ratio,
        equal_opportunity_difference: tpr_diff.clone(),
        equal_opportunity_ratio: tpr_ratio.clone(),
        disparate_impact: dp_ratio,
        average_odds_difference: combine(&tpr_diff, &fpr_diff, |a, b| 0.5 * (a + b)),
        groups,
        notes,
        privileged,
    }
}

/// AIF360's generalised entropy index of benefits given as (rows, value)
/// pairs: GE(α) = mean((b/μ)^α − 1)/(α(α − 1)), with the limits
/// GE(1) = mean((b/μ) ln(b/μ)) (0·ln 0 = 0) and GE(0) = −mean(ln(b/μ)).
fn entropy_of(benefits: &[(f64, f64)], alpha: f64) -> Figure {
    let n: f64 = benefits.iter().map(|&(w, _)| w).sum();
    if n == 0.0 {
        return Figure::undefined("no rows");
    }
    let mu = benefits.iter().map(|&(w, b)| w * b).sum::<f64>() / n;
    if mu == 0.0 {
        return Figure::undefined("every benefit is 0");
    }
    let term = |b: f64| {
        let r = b / mu;
        if alpha == 1.0 {
            if r > 0.0 { r * r.ln() } else { 0.0 }
        } else if alpha == 0.0 {
            -r.ln()
        } else {
            (r.powf(alpha) - 1.0) / (alpha * (alpha - 1.0))
        }
    };
    Figure::Defined(benefits.iter().map(|&(w, b)| w * term(b)).sum::<f64>() / n)
}

/// Per-row benefits b = 1 + ŷ − y, counted by value (0, 1 or 2).
fn benefits(truth: &[bool], predicted: &[bool]) -> [(f64, f64); 3] {
    let mut counts = [0.0f64; 3];
    for (&y, &p) in truth.iter().zip(predicted) {
        counts[(1 + u8::from(p) - u8::from(y)) as usize] += 1.0;
    }
    [(counts[0], 0.0), (counts[1], 1.0), (counts[2], 2.0)]
}

/// AIF360's Theil index (generalised entropy, α = 1) over all rows:
/// b = 1 + ŷ − y, T = mean((b/μ) ln(b/μ)), 0·ln 0 = 0.
pub fn theil_index(truth: &[bool], predicted: &[bool]) -> Figure {
    entropy_of(&benefits(truth, predicted), 1.0)
}

/// AIF360's generalised entropy index over all rows (α = 2 is its default).
pub fn generalized_entropy_index(truth: &[bool], predicted: &[bool], alpha: f64) -> Figure {
    entropy_of(&benefits(truth, predicted), alpha)
}

/// AIF360's coefficient of variation over all rows: √(2·GE(2)).
pub fn coefficient_of_variation(truth: &[bool], predicted: &[bool]) -> Figure {
    cv_of(generalized_entropy_index(truth, predicted, 2.0))
}

fn cv_of(ge2: Figure) -> Figure {
    match ge2 {
        Figure::Defined(v) => Figure::Defined((2.0 * v).sqrt()),
        other => other,
    }
}

#[cfg(test)]
mod stored_report_tests {
    use super::*;

    /// A report stored before the later figures existed still reads: they
    /// come back undefined, saying why, instead of the report being
    /// refused as corrupt.
    #[test]
    fn a_report_without_the_later_figures_still_reads() {
        let truth = [true, false, true, false, true, true];
        let predicted = [true, false, false, false, true, true];
        let group: Vec<String> = ["a", "a", "b", "b", "a", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let f = attribute_fairness("g", &truth, &predicted, &group, Some("a"));
        let mut v = serde_json::to_value(&f).unwrap();
        v.as_object_mut().unwrap().remove("equal_opportunity_ratio");
        let p = v["privileged"].as_object_mut().unwrap();
        for k in [
            "average_abs_odds_difference",
            "between_group_theil_index",
            "between_group_coefficient_of_variation",
        ] {
            assert!(p.remove(k).is_some(), "{k}");
        }
        let back: AttributeFairness = serde_json::from_value(v).unwrap();
        assert_eq!(back.equal_opportunity_ratio.value(), None);
        let privileged = back.privileged.unwrap();
        assert_eq!(privileged.between_group_theil_index.value(), None);
        assert_eq!(
            serde_json::to_value(&privileged.average_abs_odds_difference).unwrap(),
            serde_json::json!({"undefined": "not recorded by the version that wrote this report"})
        );
        // The rest reads back as written.
        assert_eq!(
            back.demographic_parity_ratio.value(),
            f.demographic_parity_ratio.value()
        );
    }
}
