//! `eval`: a model version measured on a dataset version, recorded as
//! evidence (an evaluation report blob, an `evaluations` row and a
//! `model.evaluate` event in one transaction); and the same figures for
//! predictions made elsewhere.

use std::collections::BTreeMap;

use rand::SeedableRng;
use serde::Serialize;

use warden_core::{Action, Digest, Timestamp, VersionRef, actions, canonical_json};
use warden_data::table::Table;
use warden_ml::Matrix;
use warden_ml::fairness::{
    AttributeFairness, attribute_fairness, coefficient_of_variation, generalized_entropy_index,
    theil_index,
};
use warden_ml::metrics::{
    AttackFigures, Figure, Outcomes, Performance, membership_attack, performance,
};
use warden_ml::robust::{self, Attack};
use warden_store::EvaluationRecord;

use crate::events;
use crate::{Error, Workspace, frame_for_model};

/// Rows the decision-based attack runs on (it costs thousands of queries a row).
pub const HSJ_ROWS: usize = 100;

/// Queries per row and radius of the cube attack on imported models.
pub const CUBE_QUERIES: usize = 200;

/// The evaluation report format.
pub const EVALUATION_FORMAT: &str = "warden.evaluation/v1";

/// A stage's name and how many seconds it took.
pub type StageCallback = dyn Fn(&str, f64) + Send + Sync;

/// Told when each stage of an evaluation ends.
#[derive(Clone)]
pub struct StageProgress(pub std::sync::Arc<StageCallback>);

impl std::fmt::Debug for StageProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StageProgress")
    }
}

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct EvalRequest {
    /// Called as each stage ends (load, predict, performance, fairness,
    /// privacy, robustness, record), for progress output.
    pub progress: Option<StageProgress>,
    /// The model version to evaluate (`NAME@V`, or `NAME` for the latest).
    pub model: VersionRef,
    /// The dataset version to evaluate on; it must hold the model's features
    /// and target.
    pub dataset: VersionRef,
    /// Sensitive attributes; the dataset's declared ones if `None`.
    pub sensitive: Option<Vec<String>>,
    /// `(attribute, privileged value)` for the AIF360 forms.
    pub privileged: Vec<(String, String)>,
    /// Bootstrap resamples for the 95% intervals (`--bootstrap`, default 200).
    pub bootstrap: usize,
    /// Random seed of the bootstrap and the attacks.
    pub seed: u64,
    /// Worker threads for prediction and the attacks.
    pub threads: usize,
    /// Gradient attacks to run (native models only).
    pub attacks: Vec<Attack>,
    /// Also run the decision-based attack (HopSkipJump; any model).
    pub decision_attack: bool,
    /// Choose the attacks by model: FGSM and PGD for a native model,
    /// HopSkipJump and the cube attack for an imported one (ONNX or a tree
    /// ensemble); the two fields above are then ignored.
    pub auto_attacks: bool,
    /// Radii in standardised units (one standard deviation = 1).
    pub eps: Vec<f64>,
    /// Iterations of the PGD attacks, 1 to 10,000.
    pub steps: usize,
    /// Features the attacks must not change (besides the sensitive ones).
    pub immutable: Vec<String>,
}

/// Which attacks an evaluation runs, from their names on the command line
/// or in a request: `auto`, `fgsm`, `pgd` (`pgd_linf`), `pgd_l2`, `hsj`
/// (`hopskipjump`), `none`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttackPlan {
    /// Gradient attacks (native models only).
    pub gradient: Vec<Attack>,
    /// The decision-based attack (any model).
    pub decision: bool,
    /// Choose by model.
    pub auto: bool,
}

impl AttackPlan {
    /// Parses attack names; an unknown name, or `auto` beside named
    /// attacks, is a usage error.
    pub fn parse(names: &[String]) -> Result<Self, Error> {
        let mut plan = AttackPlan::default();
        for a in names {
            match a.trim() {
                "auto" => plan.auto = true,
                "fgsm" => plan.gradient.push(Attack::Fgsm),
                "pgd" | "pgd_linf" => plan.gradient.push(Attack::PgdLinf),
                "pgd_l2" => plan.gradient.push(Attack::PgdL2),
                "hsj" | "hopskipjump" => plan.decision = true,
                "none" => {}
                other => {
                    return Err(Error::Usage(format!(
                        "--attack {other}: unknown; available: auto, fgsm, pgd, pgd_l2, hsj, none"
                    )));
                }
            }
        }
        if plan.auto && (plan.decision || !plan.gradient.is_empty()) {
            return Err(Error::Usage(
                "--attack auto chooses the attacks by model; name attacks or auto, not both".into(),
            ));
        }
        plan.gradient.dedup();
        Ok(plan)
    }
}

/// Parses `COL=VALUE` privileged groups for the AIF360 forms.
pub fn parse_privileged(list: &[String]) -> Result<Vec<(String, String)>, Error> {
    list.iter()
        .map(|p| {
            p.split_once('=')
                .filter(|(a, v)| !a.is_empty() && !v.is_empty())
                .map(|(a, v)| (a.to_string(), v.to_string()))
                .ok_or_else(|| Error::Usage(format!("--privileged {p:?}: expected COL=VALUE")))
        })
        .collect()
}

/// Checks attack radii (0 to 1000 standard deviations, finite) and the
/// number of attack steps (1 to 10,000).
pub fn check_attack_settings(eps: &[f64], steps: usize) -> Result<(), Error> {
    if let Some(e) = eps
        .iter()
        .find(|e| !(e.is_finite() && **e >= 0.0 && **e <= 1000.0))
    {
        return Err(Error::Usage(format!(
            "--eps {e}: radii must be between 0 and 1000 (standard deviations)"
        )));
    }
    if !(1..=10_000).contains(&steps) {
        return Err(Error::Usage(format!("--steps {steps}: must be 1–10000")));
    }
    Ok(())
}

/// Robust accuracy at one radius.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct AtRadius {
    pub eps: f64,
    pub robust_accuracy: f64,
}

/// Adversarial robustness.
#[derive(Clone, Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Robustness {
    pub space: String,
    pub immutable: Vec<String>,
    pub integers: Vec<String>,
    pub steps: usize,
    /// Robust accuracy per attack and radius (`fgsm`, `pgd_linf`, `pgd_l2`, and
    /// `exact_linf` for a binary logistic regression).
    pub attacks: BTreeMap<String, Vec<AtRadius>>,
    /// Median minimal L∞ perturbation over correctly classified rows: exact for
    /// a binary logistic regression, else an upper bound found by PGD (first
    /// 500 rows).
    pub median_min_linf: Figure,
    pub median_min_linf_method: String,
}

/// Membership-inference risk.
#[derive(Clone, Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct PrivacyRisk {
    /// How members were told from non-members.
    pub split: String,
    /// The loss-threshold attack: members have lower loss.
    pub loss_threshold: AttackFigures,
    /// The confidence attack: members get more confident answers.
    pub confidence: AttackFigures,
}

/// Every row's probabilities with its true class.
fn labelled_rows<'a>(p: &'a Matrix, truth: &[u32]) -> Vec<(&'a [f64], u32)> {
    (0..p.rows).map(|r| (p.row(r), truth[r])).collect()
}

/// Membership inference from each row's probabilities and true class:
/// the loss-threshold attack (members have lower loss) and the confidence
/// attack (members get more confident answers).
fn membership_risk(
    split: String,
    members: &[(&[f64], u32)],
    others: &[(&[f64], u32)],
) -> PrivacyRisk {
    let neg_loss = |set: &[(&[f64], u32)]| -> Vec<f64> {
        set.iter()
            .map(|(p, y)| p[*y as usize].clamp(1e-15, 1.0).ln())
            .collect()
    };
    let conf = |set: &[(&[f64], u32)]| -> Vec<f64> {
        set.iter()
            .map(|(p, _)| p.iter().copied().fold(0.0, f64::max))
            .collect()
    };
    PrivacyRisk {
        split,
        loss_threshold: membership_attack("loss threshold", &neg_loss(members), &neg_loss(others)),
        confidence: membership_attack("confidence", &conf(members), &conf(others)),
    }
}

/// The class index of every row's label; a missing label or one that is
/// not a class of the model is an error naming the row.
fn class_indices(
    tcol: &warden_data::Column,
    target: &str,
    classes: &[String],
) -> Result<Vec<u32>, Error> {
    let mut truth = Vec::with_capacity(tcol.data.len());
    for r in 0..tcol.data.len() {
        let v = tcol.data.text(r).ok_or_else(|| {
            Error::Invalid(format!("target {target}: data row {} has no value", r + 1))
        })?;
        let c = classes.iter().position(|c| *c == v).ok_or_else(|| {
            Error::Invalid(format!(
                "target {target}: data row {} holds {v:?}, not one of the model's classes ({})",
                r + 1,
                classes.join(", ")
            ))
        })?;
        truth.push(c as u32);
    }
    Ok(truth)
}

/// Theil index, GE(2) and coefficient of variation over all rows.
fn inequality(truth: &[bool], predicted: &[bool]) -> (Figure, Figure, Figure) {
    (
        theil_index(truth, predicted),
        generalized_entropy_index(truth, predicted, 2.0),
        coefficient_of_variation(truth, predicted),
    )
}

/// The model an evaluation ran.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct EvaluatedModel {
    /// `NAME@V`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The package's `sha256:` digest.
    pub digest: String,
    /// The model's kind (`logreg`, `mlp`, `onnx`, …).
    pub kind: String,
}

/// The dataset version an evaluation ran on.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct EvaluatedDataset {
    /// `NAME@V`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The dataset manifest's `sha256:` digest.
    pub digest: String,
}

/// The whole report.
#[derive(Clone, Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct EvalReport {
    /// [`EVALUATION_FORMAT`].
    pub format: String,
    /// The model evaluated (`None` for predictions made elsewhere).
    pub model: Option<EvaluatedModel>,
    /// The dataset version (`None` for predictions made elsewhere).
    pub dataset: Option<EvaluatedDataset>,
    /// Rows evaluated.
    pub rows: u64,
    /// The class fairness counts as the favourable decision.
    pub positive_class: Option<String>,
    /// Accuracy, per-class and macro figures, AUCs, calibration, confusion
    /// matrix, with bootstrap intervals.
    pub performance: Performance,
    /// Group fairness per sensitive attribute (two classes only; empty
    /// otherwise or with no sensitive attributes).
    pub fairness: Vec<AttributeFairness>,
    /// AIF360's Theil index over all rows (`None`: more than two classes).
    pub theil_index: Option<Figure>,
    /// AIF360's generalised entropy index with α = 2 over all rows.
    pub generalized_entropy_index: Option<Figure>,
    /// AIF360's coefficient of variation over all rows, 2·√GE(2).
    pub coefficient_of_variation: Option<Figure>,
    /// Membership-inference risk (`None` when which rows were members is not
    /// known; a note says why).
    pub privacy: Option<PrivacyRisk>,
    /// Adversarial robustness (`None` when no attack ran).
    pub robustness: Option<Robustness>,
    /// Sections skipped or figures qualified, and why.
    pub notes: Vec<String>,
}

/// The result of `eval` on a model.
#[derive(Debug, Serialize)]
pub struct EvalOutcome {
    /// The evaluation as recorded (its id is what gates and evidence cite).
    pub evaluation: EvaluationRecord,
    /// The report (stored as canonical JSON).
    pub report: EvalReport,
    /// The report as Markdown (stored as a blob; not serialised).
    #[serde(skip)]
    pub markdown: String,
    /// Wall-clock seconds per phase (not part of the recorded report).
    pub seconds: BTreeMap<&'static str, f64>,
}

/// Group labels of a column (text; `<missing>` for a missing value).
fn group_labels(table: &Table, col: &str) -> Result<Vec<String>, Error> {
    let c = table.column(col).ok_or_else(|| {
        Error::Invalid(format!(
            "sensitive attribute {col:?} is not a column of the data (it has: {})",
            table.names().join(", ")
        ))
    })?;
    Ok((0..table.rows)
        .map(|r| c.data.text(r).unwrap_or_else(|| "<missing>".into()))
        .collect())
}

/// Fairness of every attribute and of every pair of attributes.
fn fairness_sections(
    truth: &[bool],
    predicted: &[bool],
    columns: &[(String, Vec<String>)],
    privileged: &[(String, String)],
) -> Result<Vec<AttributeFairness>, Error> {
    for (a, v) in privileged {
        if let Some((_, groups)) = columns.iter().find(|(n, _)| n == a)
            && !groups.contains(v)
        {
            let values: std::collections::BTreeSet<&str> =
                groups.iter().map(String::as_str).collect();
            let shown: Vec<&str> = values.iter().take(12).copied().collect();
            return Err(Error::Usage(format!(
                "--privileged {a}={v}: no row has {a} = {v:?} (values: {}{})",
                shown.join(", "),
                if values.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            )));
        }
    }
    let mut out = Vec::new();
    for (name, groups) in columns {
        let p = privileged
            .iter()
            .find(|(a, _)| a == name)
            .map(|(_, v)| v.as_str());
        out.push(attribute_fairness(name, truth, predicted, groups, p));
    }
    for i in 0..columns.len() {
        for j in i + 1..columns.len() {
            let groups: Vec<String> = columns[i]
                .1
                .iter()
                .zip(&columns[j].1)
                .map(|(a, b)| format!("{a}|{b}"))
                .collect();
            out.push(attribute_fairness(
                &format!("{}&{}", columns[i].0, columns[j].0),
                truth,
                predicted,
                &groups,
                None,
            ));
        }
    }
    Ok(out)
}

fn check_privileged(privileged: &[(String, String)], sensitive: &[String]) -> Result<(), Error> {
    for (a, _) in privileged {
        if !sensitive.contains(a) {
            return Err(Error::Usage(format!(
                "--privileged {a}=…: {a} is not one of the sensitive attributes ({})",
                sensitive.join(", ")
            )));
        }
    }
    Ok(())
}

fn argmax(p: &[f64]) -> u32 {
    (0..p.len()).fold(0, |b, c| if p[c] > p[b] { c } else { b }) as u32
}

fn fmt(f: &Figure) -> String {
    match f {
        Figure::Defined(v) => format!("{v:.4}"),
        Figure::Undefined { undefined } => format!("undefined ({undefined})"),
    }
}

/// The Markdown form of a report.
pub fn report_markdown(r: &EvalReport, title: &str) -> String {
    let p = &r.performance;
    let mut s = format!("# Evaluation: {title}\n\n{} rows", r.rows);
    if let Some(c) = &r.positive_class {
        s += &format!("; favourable class `{c}`");
    }
    s += "\n\n## Performance\n\n| figure | value | 95% interval |\n| --- | --- | --- |\n";
    let ci = |k: &str| {
        p.ci95
            .get(k)
            .map(|i| format!("{:.4} – {:.4}", i.low, i.high))
            .unwrap_or_default()
    };
    s += &format!("| accuracy | {:.4} | {} |\n", p.accuracy, ci("accuracy"));
    for (k, f) in [
        ("balanced accuracy", &p.balanced_accuracy),
        ("macro F1", &p.macro_f1),
        ("ROC AUC", &p.roc_auc),
        ("PR AUC", &p.pr_auc),
        ("log loss", &p.log_loss),
        ("Brier score", &p.brier),
        ("expected calibration error", &p.ece),
    ] {
        let key = match k {
            "balanced accuracy" => "balanced_accuracy",
            "macro F1" => "macro_f1",
            "ROC AUC" => "roc_auc",
            _ => "",
        };
        s += &format!("| {k} | {} | {} |\n", fmt(f), ci(key));
    }
    s += "\n| class | support | precision | recall | F1 |\n| --- | --- | --- | --- | --- |\n";
    for c in &p.per_class {
        s += &format!(
            "| {} | {} | {} | {} | {} |\n",
            c.class,
            c.support,
            fmt(&c.precision),
            fmt(&c.recall),
            fmt(&c.f1)
        );
    }
    s += &format!(
        "\nConfusion matrix (rows: truth, columns: predicted; classes {}): {:?}\n",
        p.classes.join(", "),
        p.confusion
    );
    if !r.fairness.is_empty() {
        s += "\n## Fairness\n";
        for f in &r.fairness {
            s += &format!(
                "\n### {}\n\n| group | rows | selection rate | TPR | FPR | accuracy |\n| --- | --- | --- | --- | --- | --- |\n",
                f.attribute
            );
            for g in &f.groups {
                s += &format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    g.group,
                    g.count,
                    fmt(&g.selection_rate),
                    fmt(&g.tpr),
                    fmt(&g.fpr),
                    fmt(&g.accuracy)
                );
            }
            s += &format!(
                "\n- demographic parity difference {}, ratio {}\n- equalized odds difference {}, ratio {}\n- equal opportunity difference {}, ratio {}\n- disparate impact {}, average odds difference {}\n",
                fmt(&f.demographic_parity_difference),
                fmt(&f.demographic_parity_ratio),
                fmt(&f.equalized_odds_difference),
                fmt(&f.equalized_odds_ratio),
                fmt(&f.equal_opportunity_difference),
                fmt(&f.equal_opportunity_ratio),
                fmt(&f.disparate_impact),
                fmt(&f.average_odds_difference)
            );
            if let Some(pv) = &f.privileged {
                s += &format!(
                    "- privileged `{}` (AIF360): statistical parity difference {}, disparate impact {}, average odds difference {}, average absolute odds difference {}, equal opportunity difference {}, between-group Theil index {}, between-group coefficient of variation {}\n",
                    pv.privileged,
                    fmt(&pv.statistical_parity_difference),
                    fmt(&pv.disparate_impact),
                    fmt(&pv.average_odds_difference),
                    fmt(&pv.average_abs_odds_difference),
                    fmt(&pv.equal_opportunity_difference),
                    fmt(&pv.between_group_theil_index),
                    fmt(&pv.between_group_coefficient_of_variation)
                );
            }
            for n in &f.notes {
                s += &format!("- note: {n}\n");
            }
        }
        if let Some(t) = &r.theil_index {
            s += &format!("\nTheil index (all rows): {}\n", fmt(t));
        }
        if let (Some(ge), Some(cv)) = (&r.generalized_entropy_index, &r.coefficient_of_variation) {
            s += &format!(
                "Generalised entropy index, α = 2 (all rows): {}; coefficient of variation: {}\n",
                fmt(ge),
                fmt(cv)
            );
        }
    }
    if let Some(pr) = &r.privacy {
        s += &format!(
            "\n## Privacy risk (membership inference)\n\nMembers and non-members: {}\n\n| attack | AUC | advantage | TPR at 1% FPR | TPR at 0.1% FPR |\n| --- | --- | --- | --- | --- |\n",
            pr.split
        );
        for a in [&pr.loss_threshold, &pr.confidence] {
            s += &format!(
                "| {} | {} | {} | {} | {} |\n",
                a.attack,
                fmt(&a.auc),
                fmt(&a.advantage),
                fmt(&a.tpr_at_1pct_fpr),
                fmt(&a.tpr_at_0_1pct_fpr)
            );
        }
    }
    if let Some(rb) = &r.robustness {
        s += &format!(
            "\n## Adversarial robustness\n\nIn {}. Immutable: {}. Steps: {}.\n\n| attack | eps | robust accuracy |\n| --- | --- | --- |\n",
            rb.space,
            if rb.immutable.is_empty() {
                "none".to_string()
            } else {
                rb.immutable.join(", ")
            },
            rb.steps
        );
        for (a, results) in &rb.attacks {
            for x in results {
                s += &format!("| {a} | {} | {:.4} |\n", x.eps, x.robust_accuracy);
            }
        }
        s += &format!(
            "\nMedian minimal L∞ perturbation: {} ({})\n",
            fmt(&rb.median_min_linf),
            rb.median_min_linf_method
        );
    }
    if !r.notes.is_empty() {
        s += "\n## Notes\n\n";
        for n in &r.notes {
            s += &format!("- {n}\n");
        }
    }
    s
}

/// Predictions made elsewhere: labels, decisions, optional scores.
pub struct PredictionsRequest<'a> {
    /// The CSV, read.
    pub table: &'a Table,
    /// The column of true labels.
    pub label: String,
    /// The column of predicted labels.
    pub prediction: String,
    /// A column of probabilities of the second class in sorted order (two
    /// classes only; ignored with a note otherwise).
    pub score: Option<String>,
    /// Sensitive attributes to measure fairness over.
    pub sensitive: Vec<String>,
    /// `(attribute, privileged value)` for the AIF360 forms.
    pub privileged: Vec<(String, String)>,
    /// Bootstrap resamples for the 95% intervals.
    pub bootstrap: usize,
    /// Random seed of the bootstrap.
    pub seed: u64,
}

/// Metrics and fairness of a CSV of labels and predictions (no model: the
/// robustness and privacy sections are skipped with a note).
pub fn evaluate_predictions(req: &PredictionsRequest<'_>) -> Result<EvalReport, Error> {
    let t = req.table;
    let col = |name: &str| {
        t.column(name).ok_or_else(|| {
            Error::Invalid(format!(
                "the file has no column {name:?} (it has: {})",
                t.names().join(", ")
            ))
        })
    };
    let (lc, pc) = (col(&req.label)?, col(&req.prediction)?);
    let mut classes = std::collections::BTreeSet::new();
    for r in 0..t.rows {
        for (c, name) in [(lc, &req.label), (pc, &req.prediction)] {
            match c.data.text(r) {
                Some(v) => {
                    classes.insert(v);
                }
                None => {
                    return Err(Error::Invalid(format!(
                        "column {name}: data row {} has no value",
                        r + 1
                    )));
                }
            }
        }
    }
    let classes: Vec<String> = classes.into_iter().collect();
    if classes.len() < 2 {
        return Err(Error::Invalid(
            "labels and predictions hold a single class: nothing to measure".into(),
        ));
    }
    let idx = |v: String| classes.iter().position(|c| *c == v).unwrap_or(0) as u32;
    let truth: Vec<u32> = (0..t.rows)
        .map(|r| idx(lc.data.text(r).unwrap_or_default()))
        .collect();
    let predicted: Vec<u32> = (0..t.rows)
        .map(|r| idx(pc.data.text(r).unwrap_or_default()))
        .collect();
    let mut notes = vec!["robustness and privacy sections need a model: skipped".to_string()];
    let probs = match &req.score {
        Some(s) if classes.len() == 2 => {
            let sc = col(s)?;
            let mut m = Matrix::zeros(t.rows, 2);
            for r in 0..t.rows {
                let v = sc
                    .data
                    .number(r)
                    .filter(|v| (0.0..=1.0).contains(v))
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "column {s}: data row {} is not a probability in [0, 1] (got {:?})",
                            r + 1,
                            sc.data.text(r)
                        ))
                    })?;
                m.row_mut(r).copy_from_slice(&[1.0 - v, v]);
            }
            Some(m)
        }
        Some(_) => {
            notes.push("--score is read as the probability of the second class; with more than two classes it is ignored".into());
            None
        }
        None => None,
    };
    let perf = performance(
        &Outcomes {
            classes: &classes,
            truth: &truth,
            predicted: &predicted,
            probabilities: probs.as_ref(),
        },
        req.bootstrap,
        req.seed,
    );
    check_privileged(&req.privileged, &req.sensitive)?;
    let (fairness, theil, positive) = if classes.len() == 2 {
        let tb: Vec<bool> = truth.iter().map(|&c| c == 1).collect();
        let pb: Vec<bool> = predicted.iter().map(|&c| c == 1).collect();
        let cols = req
            .sensitive
            .iter()
            .map(|s| Ok((s.clone(), group_labels(t, s)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        (
            fairness_sections(&tb, &pb, &cols, &req.privileged)?,
            Some(inequality(&tb, &pb)),
            Some(classes[1].clone()),
        )
    } else {
        notes.push("fairness is measured for two classes".into());
        (Vec::new(), None, None)
    };
    Ok(EvalReport {
        format: EVALUATION_FORMAT.into(),
        model: None,
        dataset: None,
        rows: t.rows as u64,
        positive_class: positive,
        performance: perf,
        fairness,
        theil_index: theil.as_ref().map(|t| t.0.clone()),
        generalized_entropy_index: theil.as_ref().map(|t| t.1.clone()),
        coefficient_of_variation: theil.map(|t| t.2),
        privacy: None,
        robustness: None,
        notes,
    })
}

impl Workspace {
    /// Evaluates `MODEL@N` on `NAME@V` and records the evaluation.
    pub fn evaluate(&self, req: &EvalRequest) -> Result<EvalOutcome, Error> {
        self.authorize(Action::ModelEvaluate, &format!("model:{}", req.model))?;
        check_attack_settings(&req.eps, req.steps)?;
        let mut seconds = BTreeMap::new();
        let mut last = std::time::Instant::now();
        let mut lap = |name: &'static str, seconds: &mut BTreeMap<&'static str, f64>| {
            let now = std::time::Instant::now();
            let took = (now - last).as_secs_f64();
            *seconds.entry(name).or_insert(0.0) += took;
            last = now;
            if let Some(p) = &req.progress {
                (p.0)(name, took);
            }
        };
        let loaded = self.load_model(&req.model)?;
        let m = &loaded.info.manifest;
        let ds = self
            .store()
            .read()?
            .dataset(&req.dataset.name, req.dataset.version)?
            .ok_or_else(|| Error::NotFound(format!("dataset {}", req.dataset)))?;
        if Digest::of(ds.manifest.as_bytes()).to_string() != ds.digest {
            return Err(Error::Verification(format!(
                "dataset {}@{}: the recorded manifest does not match its digest",
                ds.name, ds.version
            )));
        }
        let ds_manifest = crate::stored::dataset_manifest(&ds)?;
        let table = self.dataset_table(&ds)?;
        let predictor = loaded.predictor.as_ref();
        let missing: Vec<&str> = predictor
            .inputs()
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| table.column(n).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(Error::Invalid(format!(
                "dataset {}@{} does not match the model's input: missing column(s) {}",
                ds.name,
                ds.version,
                missing.join(", ")
            )));
        }
        let classes = predictor.classes().to_vec();
        let target = m.labels.target.as_deref().ok_or_else(|| {
            Error::Invalid(format!(
                "model {}: the package names no target column to evaluate against",
                req.model
            ))
        })?;
        let tcol = table.column(target).ok_or_else(|| {
            Error::Invalid(format!(
                "dataset {}@{} has no target column {target:?}",
                ds.name, ds.version
            ))
        })?;
        let truth = class_indices(tcol, target, &classes)?;
        let frame = frame_for_model(predictor, &table)?;
        lap("load", &mut seconds);
        let probs = predictor.predict_frame(&frame, req.threads)?;
        let predicted: Vec<u32> = (0..probs.rows).map(|i| argmax(probs.row(i))).collect();
        lap("predict", &mut seconds);
        let perf = performance(
            &Outcomes {
                classes: &classes,
                truth: &truth,
                predicted: &predicted,
                probabilities: Some(&probs),
            },
            req.bootstrap,
            req.seed,
        );
        lap("performance", &mut seconds);
        let sensitive: Vec<String> = match &req.sensitive {
            Some(s) => s.clone(),
            None => ds_manifest.roles.sensitive.clone(),
        };
        check_privileged(&req.privileged, &sensitive)?;
        let mut notes = Vec::new();
        let (fairness, theil, positive) = if classes.len() == 2 {
            let tb: Vec<bool> = truth.iter().map(|&c| c == 1).collect();
            let pb: Vec<bool> = predicted.iter().map(|&c| c == 1).collect();
            let cols = sensitive
                .iter()
                .map(|s| Ok((s.clone(), group_labels(&table, s)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            if cols.is_empty() {
                notes.push(
                    "no sensitive attributes: pass --sensitive COL, or declare them at ingest"
                        .into(),
                );
            }
            (
                fairness_sections(&tb, &pb, &cols, &req.privileged)?,
                Some(inequality(&tb, &pb)),
                Some(classes[1].clone()),
            )
        } else {
            notes.push("fairness is measured for two classes".into());
            (Vec::new(), None, None)
        };
        lap("fairness", &mut seconds);
        // Membership inference: the training split is known exactly when the
        // model was trained here on this dataset version (seed + holdout).
        let ds_ref = format!("{}@{}", ds.name, ds.version);
        let trained_on = m.provenance.datasets.first();
        let privacy = if let Some(t) = trained_on
            && t.reference == ds_ref
            && t.digest == ds.digest
            && let Some(training) = &m.training
        {
            let holdout = training.config.holdout;
            let seed = training.seed;
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
            let (members, others) = warden_ml::train::split(table.rows, holdout, &mut rng);
            let rows = |set: &[usize]| -> Vec<(&[f64], u32)> {
                set.iter().map(|&r| (probs.row(r), truth[r])).collect()
            };
            Some(membership_risk(
                format!(
                    "the training split of {ds_ref} (seed {seed}, holdout {holdout}): {} members, {} held out",
                    members.len(),
                    others.len()
                ),
                &rows(&members),
                &rows(&others),
            ))
        } else if let Some(t) = trained_on
            && m.training.is_none()
            && t.digest != ds.digest
        {
            // An imported model: every row of the training version it was
            // imported with is a member; the evaluated version's rows are
            // not (they must be other data, which the digest shows).
            let train_ref: VersionRef =
                t.reference
                    .parse()
                    .map_err(|e: warden_core::NameError| Error::Corrupt {
                        object: format!("model {}", req.model),
                        document: "model manifest",
                        detail: format!("provenance dataset {:?}: {e}", t.reference),
                    })?;
            let tds = self.find_dataset(&train_ref)?;
            let ttable = self.dataset_table(&tds)?;
            let tcol = ttable.column(target).ok_or_else(|| {
                Error::Invalid(format!(
                    "training dataset {}: no target column {target:?}",
                    t.reference
                ))
            })?;
            let ttruth = class_indices(tcol, target, &classes)?;
            let tframe = frame_for_model(predictor, &ttable)?;
            let tprobs = predictor.predict_frame(&tframe, req.threads)?;
            Some(membership_risk(
                format!(
                    "members: the {} rows of {} (the imported model's training data); non-members: the {} rows of {ds_ref}",
                    tprobs.rows, t.reference, probs.rows
                ),
                &labelled_rows(&tprobs, &ttruth),
                &labelled_rows(&probs, &truth),
            ))
        } else {
            notes.push(match trained_on {
                Some(t) if m.training.is_none() => format!(
                    "privacy risk compares the training data ({}) with other rows: evaluate on a held-out dataset version to measure it",
                    t.reference
                ),
                Some(t) => format!(
                    "privacy risk needs the model's own training dataset ({}), to know which rows were members: skipped",
                    t.reference
                ),
                None => "privacy risk needs the training data: import the model with --dataset NAME@V (the version it was trained on), then evaluate on a held-out version".to_string(),
            });
            None
        };
        lap("privacy", &mut seconds);
        let (gradient_attacks, decision_attack) = match (req.auto_attacks, predictor.native()) {
            (true, Some(_)) => (vec![Attack::Fgsm, Attack::PgdLinf], false),
            (true, None) => (Vec::new(), true),
            (false, _) => (req.attacks.clone(), req.decision_attack),
        };
        let share = |v: &[bool]| v.iter().filter(|b| **b).count() as f64 / v.len().max(1) as f64;
        let median = |mut d: Vec<f64>| -> Figure {
            if d.is_empty() {
                return Figure::undefined("no correctly classified rows");
            }
            d.sort_by(f64::total_cmp);
            let m = d[d.len() / 2];
            if m.is_finite() {
                Figure::Defined(m)
            } else {
                // A row the search never flipped counts as infinitely far.
                Figure::undefined(
                    "over half of the correctly classified rows were not flipped within the radii searched",
                )
            }
        };
        // HopSkipJump on the first rows, in a given attack space.
        let hsj = |x: &Matrix,
                   limits: &[robust::ColumnLimit],
                   decide: &(dyn Fn(&[f64]) -> usize + Sync)| {
            let n = x.rows.min(HSJ_ROWS);
            let head = Matrix {
                rows: n,
                cols: x.cols,
                data: x.data[..n * x.cols].to_vec(),
            };
            let found = robust::hopskipjump(
                &head,
                &truth[..n],
                limits,
                decide,
                10,
                30,
                req.seed,
                req.threads,
            );
            let at: Vec<AtRadius> = req
                .eps
                .iter()
                .map(|&e| AtRadius {
                    eps: e,
                    robust_accuracy: share(
                        &found
                            .iter()
                            .map(|f| f.is_some_and(|f| f.linf > e))
                            .collect::<Vec<_>>(),
                    ),
                })
                .collect();
            (
                at,
                found.iter().flatten().map(|f| f.linf).collect::<Vec<f64>>(),
                n,
            )
        };
        for f in &req.immutable {
            if !predictor.inputs().iter().any(|(n, _)| n == f) {
                return Err(Error::Usage(format!(
                    "--immutable {f}: not an input feature of the model"
                )));
            }
        }
        let robustness = match predictor.native() {
            Some(native) if !gradient_attacks.is_empty() || decision_attack => {
                let mut frozen: Vec<String> = sensitive.clone();
                frozen.extend(req.immutable.iter().cloned());
                for f in &req.immutable {
                    if !predictor.inputs().iter().any(|(n, _)| n == f) {
                        return Err(Error::Usage(format!(
                            "--immutable {f}: not an input feature of the model"
                        )));
                    }
                }
                let inputs = &m.input.features;
                let bounds = |name: &str| {
                    inputs.iter().find(|f| f.name == name).and_then(|f| {
                        Some((f.min?, f.max?, f.source_type.as_deref() == Some("integer")))
                    })
                };
                let integers: Vec<String> = inputs
                    .iter()
                    .filter(|f| f.source_type.as_deref() == Some("integer"))
                    .map(|f| f.name.clone())
                    .collect();
                let limits = robust::limits(&native.preprocessor, &bounds, &frozen);
                let rows: Vec<usize> = (0..frame.rows).collect();
                let x = native.preprocessor.transform(&frame, &rows, req.threads)?;
                let mut attacks = BTreeMap::new();
                for &a in &gradient_attacks {
                    let results = req
                        .eps
                        .iter()
                        .map(|&e| AtRadius {
                            eps: e,
                            robust_accuracy: share(&robust::attack(
                                &native.model,
                                &x,
                                &truth,
                                &limits,
                                a,
                                e,
                                req.steps,
                                req.seed,
                                req.threads,
                            )),
                        })
                        .collect();
                    attacks.insert(a.name().to_string(), results);
                }
                let mut hsj_median = None;
                if decision_attack {
                    let model = &native.model;
                    let decide = |v: &[f64]| {
                        let mut p = vec![0.0; model.classes()];
                        model.predict_row(v, &mut p, &mut warden_ml::model::Scratch::default());
                        argmax(&p) as usize
                    };
                    let (at, dist, n) = hsj(&x, &limits, &decide);
                    attacks.insert("hsj".into(), at);
                    hsj_median = Some((median(dist), format!("HopSkipJump on the first {n} rows")));
                }
                let (median_min_linf, method) =
                    match robust::linear_linf(&native.model, &x, &truth, &limits, &req.eps) {
                        Some((exact, dist)) => {
                            attacks.insert(
                                "exact_linf".into(),
                                req.eps
                                    .iter()
                                    .zip(&exact)
                                    .map(|(&e, r)| AtRadius {
                                        eps: e,
                                        robust_accuracy: share(r),
                                    })
                                    .collect(),
                            );
                            (
                                median(dist.into_iter().flatten().collect()),
                                "exact (closed form, binary logistic regression)".to_string(),
                            )
                        }
                        None if gradient_attacks.is_empty() => hsj_median
                            .unwrap_or_else(|| (Figure::undefined("no attack ran"), String::new())),
                        None => {
                            let n = x.rows.min(500);
                            let head = Matrix {
                                rows: n,
                                cols: x.cols,
                                data: x.data[..n * x.cols].to_vec(),
                            };
                            let max = req.eps.iter().cloned().fold(0.0, f64::max).max(0.1) * 4.0;
                            let d = robust::min_perturbation(
                                &native.model,
                                &head,
                                &truth[..n],
                                &limits,
                                Attack::PgdLinf,
                                max,
                                req.steps,
                                req.seed,
                                req.threads,
                            );
                            (
                                median(d.into_iter().flatten().collect()),
                                format!("upper bound by PGD L∞ bisection on the first {n} rows"),
                            )
                        }
                    };
                Some(Robustness {
                    space: "standardised features (eps 1 = one training standard deviation); one-hot columns fixed; training ranges; integers by whole units".into(),
                    immutable: frozen,
                    integers,
                    steps: req.steps,
                    attacks,
                    median_min_linf,
                    median_min_linf_method: method,
                })
            }
            Some(_) => None,
            None => {
                if !gradient_attacks.is_empty() {
                    let names: Vec<&str> = gradient_attacks.iter().map(|a| a.name()).collect();
                    return Err(Error::Usage(format!(
                        "--attack {}: needs a differentiable native model (logreg, mlp); for this {} model the attack that applies is hsj",
                        names.join(","),
                        loaded.info.record.kind
                    )));
                }
                if decision_attack {
                    // The attack space: the raw numeric inputs standardised by
                    // the evaluated data's mean and standard deviation.
                    let names: Vec<String> = predictor
                        .inputs()
                        .iter()
                        .map(|(n, _)| n.to_string())
                        .collect();
                    let inputs = &m.input.features;
                    let mut stats = Vec::with_capacity(names.len());
                    let mut limits = Vec::with_capacity(names.len());
                    // Categories (inputs of a model with one input per
                    // column) stay as they are: their codes ride along as
                    // fixed columns.
                    let mut levels: Vec<Option<&Vec<String>>> = Vec::with_capacity(names.len());
                    for name in &names {
                        let v = match frame.column(name) {
                            Some(warden_ml::FeatureColumn::Numeric(v)) => v,
                            Some(warden_ml::FeatureColumn::Categorical { levels: l, .. }) => {
                                levels.push(Some(l));
                                stats.push((0.0, 1.0));
                                limits.push(robust::ColumnLimit {
                                    mutable: false,
                                    lo: 0.0,
                                    hi: l.len().saturating_sub(1) as f64,
                                    unit: None,
                                });
                                continue;
                            }
                            None => {
                                return Err(Error::Invalid(format!(
                                    "feature {name} is not in the evaluated data"
                                )));
                            }
                        };
                        levels.push(None);
                        let ok: Vec<f64> = v.iter().cloned().filter(|x| x.is_finite()).collect();
                        let n = ok.len().max(1) as f64;
                        let mean = ok.iter().sum::<f64>() / n;
                        let sd =
                            (ok.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
                        let sd = if sd > 0.0 { sd } else { 1.0 };
                        let decl = inputs.iter().find(|f| f.name == *name);
                        let lo = decl
                            .and_then(|f| f.min)
                            .unwrap_or_else(|| ok.iter().cloned().fold(f64::INFINITY, f64::min));
                        let hi = decl.and_then(|f| f.max).unwrap_or_else(|| {
                            ok.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                        });
                        stats.push((mean, sd));
                        limits.push(robust::ColumnLimit {
                            mutable: !sensitive.contains(name) && !req.immutable.contains(name),
                            lo: (lo - mean) / sd,
                            hi: (hi - mean) / sd,
                            unit: None,
                        });
                    }
                    let mut x = Matrix::zeros(frame.rows, names.len());
                    for (j, name) in names.iter().enumerate() {
                        match frame.column(name) {
                            Some(warden_ml::FeatureColumn::Numeric(v)) => {
                                for (r, vr) in v.iter().enumerate().take(frame.rows) {
                                    x.row_mut(r)[j] = (vr - stats[j].0) / stats[j].1;
                                }
                            }
                            Some(warden_ml::FeatureColumn::Categorical { codes, .. }) => {
                                for (r, c) in codes.iter().enumerate().take(frame.rows) {
                                    // A missing category becomes a code
                                    // past the levels: the model refuses
                                    // that row, which the attack skips.
                                    x.row_mut(r)[j] = f64::from(*c);
                                }
                            }
                            None => {}
                        }
                    }
                    let mixed = levels.iter().any(Option::is_some);
                    let score = |v: &[f64]| -> Option<Vec<f64>> {
                        let raw: Vec<f64> = v
                            .iter()
                            .zip(&stats)
                            .map(|(x, (mean, sd))| x * sd + mean)
                            .collect();
                        let probs = if mixed {
                            let mut one = warden_ml::Frame::default();
                            let built = names.iter().zip(&raw).zip(&levels).try_for_each(
                                |((name, x), l)| {
                                    let col = match l {
                                        Some(l) => warden_ml::FeatureColumn::Categorical {
                                            codes: vec![x.round() as u32],
                                            levels: (*l).clone(),
                                        },
                                        None => warden_ml::FeatureColumn::Numeric(vec![*x]),
                                    };
                                    one.push(name.as_str(), col)
                                },
                            );
                            built
                                .and_then(|()| predictor.predict_frame(&one, 1))
                                .map(|m| m.row(0).to_vec())
                        } else {
                            predictor.predict_numeric(&raw)
                        };
                        probs.ok()
                    };
                    let decide = |v: &[f64]| -> usize {
                        score(v).map_or(usize::MAX, |p| argmax(&p) as usize)
                    };
                    let (at, dist, n) = hsj(&x, &limits, &decide);
                    // The cube attack on the same rows: a random search on
                    // the box's corners, which tree ensembles (flat between
                    // thresholds) do not hide from as they do from
                    // HopSkipJump's boundary estimates.
                    let head = Matrix {
                        rows: n,
                        cols: x.cols,
                        data: x.data[..n * x.cols].to_vec(),
                    };
                    let found = robust::cube(
                        &head,
                        &truth[..n],
                        &limits,
                        &score,
                        &req.eps,
                        CUBE_QUERIES,
                        req.seed,
                        req.threads,
                    );
                    let cube_at: Vec<AtRadius> = req
                        .eps
                        .iter()
                        .enumerate()
                        .map(|(k, &e)| AtRadius {
                            eps: e,
                            robust_accuracy: share(
                                &found
                                    .iter()
                                    .map(|f| f.as_ref().is_some_and(|f| !f[k]))
                                    .collect::<Vec<_>>(),
                            ),
                        })
                        .collect();
                    let frozen: Vec<String> = names
                        .iter()
                        .zip(&limits)
                        .filter(|(_, l)| !l.mutable)
                        .map(|(n, _)| n.clone())
                        .collect();
                    Some(Robustness {
                        space: if mixed {
                            "the numeric inputs standardised by the evaluated data (eps 1 = one standard deviation); declared or observed ranges; categorical inputs held fixed".into()
                        } else {
                            "the numeric inputs standardised by the evaluated data (eps 1 = one standard deviation); declared or observed ranges".into()
                        },
                        immutable: frozen,
                        integers: Vec::new(),
                        steps: 10,
                        attacks: BTreeMap::from([
                            ("hsj".to_string(), at),
                            ("cube".to_string(), cube_at),
                        ]),
                        median_min_linf: median(dist),
                        median_min_linf_method: format!("HopSkipJump on the first {n} rows"),
                    })
                } else {
                    None
                }
            }
        };
        lap("robustness", &mut seconds);
        let title = format!(
            "{}@{} on {ds_ref}",
            loaded.info.record.name, loaded.info.record.version
        );
        let report = EvalReport {
            format: EVALUATION_FORMAT.into(),
            model: Some(EvaluatedModel {
                reference: loaded.info.reference(),
                digest: loaded.info.record.digest.clone(),
                kind: loaded.info.record.kind.clone(),
            }),
            dataset: Some(EvaluatedDataset {
                reference: ds_ref.clone(),
                digest: ds.digest.clone(),
            }),
            rows: table.rows as u64,
            positive_class: positive,
            performance: perf,
            fairness,
            theil_index: theil.as_ref().map(|t| t.0.clone()),
            generalized_entropy_index: theil.as_ref().map(|t| t.1.clone()),
            coefficient_of_variation: theil.map(|t| t.2),
            privacy,
            robustness,
            notes,
        };
        let markdown = report_markdown(&report, &title);
        let report_json = canonical_json(&report)?;
        let (digest, _) = self.blobs().put(&mut report_json.as_slice())?;
        let (md_digest, _) = self.blobs().put(&mut markdown.as_bytes())?;
        let mut record = EvaluationRecord {
            id: 0,
            model: loaded.info.record.name.clone(),
            model_version: loaded.info.record.version,
            model_digest: loaded.info.record.digest.clone(),
            dataset: ds.name.clone(),
            dataset_version: ds.version,
            digest: digest.to_string(),
            markdown_digest: md_digest.to_string(),
            report: String::from_utf8_lossy(&report_json).into_owned(),
            created_by: self.actor().clone(),
            created_at: Timestamp::now(),
        };
        let headline = |f: &Figure| f.value();
        let mut tx = self.store().write()?;
        record.id = tx.insert_evaluation(&record)?;
        events::append(
            &mut *tx,
            self.actor(),
            actions::MODEL_EVALUATE,
            &format!("model:{}", loaded.info.reference()),
            &events::Evaluated {
                evaluation: record.id,
                model: Some(loaded.info.reference()),
                model_digest: record.model_digest.clone(),
                dataset: ds_ref,
                report_digest: record.digest.clone(),
                accuracy: Some(report.performance.accuracy),
                roc_auc: headline(&report.performance.roc_auc),
                demographic_parity_ratio: Some(
                    report
                        .fairness
                        .iter()
                        .map(|f| (f.attribute.clone(), headline(&f.demographic_parity_ratio)))
                        .collect(),
                ),
                // The worse of the two attacks, as the gate and the card read it.
                membership_inference_auc: report
                    .privacy
                    .as_ref()
                    .and_then(|p| crate::gate::worst_membership_auc(p).value()),
            },
        )?;
        self.commit(tx)?;
        lap("record", &mut seconds);
        Ok(EvalOutcome {
            evaluation: record,
            report,
            markdown,
            seconds,
        })
    }

    /// Recorded evaluations of a model (every version, or one).
    pub fn evaluations(&self, model: &VersionRef) -> Result<Vec<EvaluationRecord>, Error> {
        self.authorize(Action::ModelRead, &format!("model:{model}"))?;
        Ok(self
            .store()
            .read()?
            .evaluations(&model.name, model.version)?)
    }
}
