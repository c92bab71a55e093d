//! Training: a seeded holdout split, preprocessing fitted on the training
//! split, then one of
//!
//! - logistic regression by full-batch L-BFGS (the scikit-learn objective:
//!   mean log loss + `l2 / (2 n)`·‖W‖², biases unpenalised, so `l2 = 1`
//!   is scikit-learn's `C = 1`);
//! - an MLP by minibatch Adam ([`fit_adam`], which also fits any model on
//!   a subset of a matrix's rows, as the data screen's folds do);
//! - either model by DP-SGD: Poisson sampling at rate `q = batch / n`,
//!   per-example gradients clipped to `max_grad_norm` (flat L2 over the
//!   whole gradient), Gaussian noise of std `σ·C` added to the sum, divided
//!   by the expected batch size `q·n`, then an Adam step; the PLD
//!   accountant ([`crate::privacy`]) gives ε for the steps taken, or σ for a
//!   target ε, and the RDP accountant's ε is recorded beside it.
//!
//! Everything random comes from one ChaCha stream seeded by `seed`, and the
//! only parallel work is combined in a fixed block order, so the result is
//! bit-identical on any thread count.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::MlError;
use crate::frame::{Frame, Labels, Matrix, par_blocks};
use crate::lbfgs;
use crate::model::{Architecture, Model, Scratch};
use crate::preprocess::Preprocessor;
use crate::privacy::{self, Accountant};
use crate::profile::{ReferenceProfile, reference_profile};

/// Which model to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Logistic regression: L-BFGS, or DP-SGD with DP.
    Logreg,
    /// A multilayer perceptron: minibatch Adam, or DP-SGD with DP.
    Mlp,
}

/// How much noise DP-SGD adds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DpTarget {
    /// Search the smallest noise multiplier meeting this ε.
    Epsilon(f64),
    /// This noise multiplier; ε is what it gives.
    NoiseMultiplier(f64),
}

/// DP-SGD settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DpConfig {
    /// A target ε or a fixed noise multiplier.
    pub target: DpTarget,
    /// δ of the (ε, δ) guarantee, in (0, 1).
    pub delta: f64,
    /// C: the L2 norm (over the whole flat gradient) each per-example gradient
    /// is clipped to; positive.
    pub max_grad_norm: f64,
}

/// Everything that decides the trained model (its digest is recorded).
/// The thread count is deliberately not part of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Which model to train.
    pub model: ModelKind,
    /// Hidden layer sizes (MLP only).
    pub hidden: Vec<usize>,
    /// Seeds the one ChaCha20 stream behind the split, the MLP's initial
    /// weights, the shuffles and the DP noise.
    pub seed: u64,
    /// Fraction of rows held out for the holdout metrics.
    pub holdout: f64,
    /// L2 strength on the summed loss (scikit-learn's `1 / C`).
    pub l2: f64,
    /// Passes over the data (Adam and DP-SGD).
    pub epochs: usize,
    /// Minibatch size (the expected batch size under DP-SGD).
    pub batch_size: usize,
    /// Adam's step size (MLP and DP-SGD; unused by L-BFGS).
    pub learning_rate: f64,
    /// L-BFGS iteration limit (logistic regression without DP).
    pub max_iter: usize,
    /// DP-SGD settings; `None` trains without differential privacy.
    pub dp: Option<DpConfig>,
}

impl TrainConfig {
    /// The defaults for a model kind, with or without DP.
    pub fn defaults(model: ModelKind, dp: Option<DpConfig>) -> Self {
        let dp_on = dp.is_some();
        TrainConfig {
            model,
            hidden: if model == ModelKind::Mlp {
                vec![32]
            } else {
                Vec::new()
            },
            seed: 0,
            holdout: 0.2,
            l2: 1.0,
            epochs: match (model, dp_on) {
                (_, true) => 10,
                (ModelKind::Mlp, false) => 20,
                (ModelKind::Logreg, false) => 0,
            },
            batch_size: if dp_on { 256 } else { 128 },
            learning_rate: match (model, dp_on) {
                (ModelKind::Logreg, _) => 0.05,
                (ModelKind::Mlp, true) => 0.005,
                (ModelKind::Mlp, false) => 0.001,
            },
            max_iter: 200,
            dp,
        }
    }

    fn validate(&self) -> Result<(), MlError> {
        let bad = |m: String| Err(MlError::Config(m));
        if !(0.0..=0.9).contains(&self.holdout) {
            return bad(format!("holdout {} is outside 0–0.9", self.holdout));
        }
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return bad(format!("l2 {} must be a finite number ≥ 0", self.l2));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(format!(
                "learning rate {} must be positive",
                self.learning_rate
            ));
        }
        if self.batch_size == 0 {
            return bad("batch size must be at least 1".into());
        }
        let iterative = self.model == ModelKind::Mlp || self.dp.is_some();
        if iterative && !(1..=100_000).contains(&self.epochs) {
            return bad(format!("epochs {} must be 1–100000", self.epochs));
        }
        if !iterative && !(1..=100_000).contains(&self.max_iter) {
            return bad(format!("max_iter {} must be 1–100000", self.max_iter));
        }
        if self.model == ModelKind::Logreg && !self.hidden.is_empty() {
            return bad("hidden layers are for --model mlp".into());
        }
        if let Some(dp) = &self.dp {
            if !(dp.max_grad_norm > 0.0 && dp.max_grad_norm.is_finite()) {
                return bad(format!(
                    "max grad norm {} must be positive",
                    dp.max_grad_norm
                ));
            }
            if !(dp.delta > 0.0 && dp.delta < 1.0) {
                return bad(format!("delta {} must be in (0, 1)", dp.delta));
            }
            match dp.target {
                DpTarget::Epsilon(e) if !(e > 0.0 && e.is_finite()) => {
                    return bad(format!("target epsilon {e} must be positive"));
                }
                DpTarget::NoiseMultiplier(s) if !(s > 0.0 && s.is_finite()) => {
                    return bad(format!("noise multiplier {s} must be positive"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Accuracy and mean log loss on a set of rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// The number of rows scored.
    pub rows: usize,
    /// The fraction (0–1) of rows whose most probable class is their label.
    pub accuracy: f64,
    /// Mean negative natural log of the label's probability, clipped to
    /// [1e-15, 1 - 1e-15] as scikit-learn's `log_loss` does.
    pub log_loss: f64,
}

/// What the optimiser did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptimiserReport {
    /// `lbfgs`, `adam` or `dp-sgd` (with Adam updates).
    pub algorithm: String,
    /// L-BFGS iterations or gradient steps.
    pub iterations: usize,
    /// Whether L-BFGS met its tolerance (not reported for Adam / DP-SGD).
    pub converged: Option<bool>,
}

/// The privacy guarantee of a DP-SGD run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DpReport {
    /// The accountant that gave `epsilon` (and σ, for a target ε).
    pub accountant: String,
    /// ε of the guarantee, from `accountant`.
    pub epsilon: f64,
    /// δ of the (ε, δ) guarantee.
    pub delta: f64,
    /// The RDP order that gave `epsilon_rdp` (or `epsilon`, in reports
    /// written before the PLD accountant, where RDP was the only one).
    pub optimal_order: f64,
    /// The RDP accountant's ε for the same run, for comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_rdp: Option<f64>,
    /// σ: the noise standard deviation as a multiple of `max_grad_norm`.
    pub noise_multiplier: f64,
    /// C: the L2 norm each per-example gradient was clipped to.
    pub max_grad_norm: f64,
    /// q: the probability each training row joins a step's Poisson sample,
    /// `batch_size / n` for n training rows, capped at 1.
    pub sample_rate: f64,
    /// Noisy gradient steps taken: `epochs` × round(n / `batch_size`) for n
    /// training rows, at least one step per epoch.
    pub steps: u64,
    /// q·n: the expected rows per step, which the noisy gradient sum is divided by.
    pub expected_batch_size: f64,
}

/// A trained model and everything the package records about it.
#[derive(Clone, Debug)]
pub struct Trained {
    /// The preprocessing, fitted on the training split.
    pub preprocessor: Preprocessor,
    /// The trained model.
    pub model: Model,
    /// Class labels in probability order (the [`Labels`] classes).
    pub classes: Vec<String>,
    /// Metrics on the training split.
    pub train: Metrics,
    /// Metrics on the holdout split; `None` when the holdout is empty.
    pub holdout: Option<Metrics>,
    /// What the optimiser did.
    pub optimiser: OptimiserReport,
    /// The privacy guarantee; `None` when trained without DP.
    pub dp: Option<DpReport>,
    /// The training split's reference profile.
    pub profile: ReferenceProfile,
    /// Wall-clock seconds per phase (not part of any package).
    pub seconds: PhaseSeconds,
}

/// Where a training run's time went.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PhaseSeconds {
    /// Split, preprocessing fit and design matrix.
    pub preprocess: f64,
    /// L-BFGS, Adam or DP-SGD (including the noise search).
    pub optimise: f64,
    /// Train and holdout metrics.
    pub metrics: f64,
    /// The reference profile.
    pub profile: f64,
}

/// Progress: `(done, total)` epochs or iterations.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// A seeded split of `0..n` into (train, holdout) row indices, each sorted.
pub fn split(n: usize, holdout: f64, rng: &mut ChaCha20Rng) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        idx.swap(i, j);
    }
    let h = ((n as f64) * holdout).round() as usize;
    let (mut test, mut train) = (idx[..h].to_vec(), idx[h..].to_vec());
    test.sort_unstable();
    train.sort_unstable();
    (train, test)
}

/// Class probabilities of every row of `x`.
pub fn predict_proba(model: &Model, x: &Matrix, threads: usize) -> Matrix {
    let k = model.classes();
    let parts = par_blocks(x.rows, threads, |r| {
        let mut s = Scratch::default();
        let mut out = vec![0.0; r.len() * k];
        for (j, i) in r.enumerate() {
            model.predict_row(x.row(i), &mut out[j * k..(j + 1) * k], &mut s);
        }
        out
    });
    Matrix {
        rows: x.rows,
        cols: k,
        data: parts.concat(),
    }
}

/// Accuracy and log loss (probabilities clipped to [1e-15, 1 - 1e-15] as
/// scikit-learn does).
pub fn metrics(probs: &Matrix, y: &[u32]) -> Metrics {
    let (mut correct, mut loss) = (0usize, 0.0);
    for (i, &yi) in y.iter().enumerate() {
        let p = probs.row(i);
        let mut best = 0;
        for (c, v) in p.iter().enumerate() {
            if *v > p[best] {
                best = c;
            }
        }
        correct += usize::from(best == yi as usize);
        loss -= p[yi as usize].clamp(1e-15, 1.0 - 1e-15).ln();
    }
    let n = y.len().max(1) as f64;
    Metrics {
        rows: y.len(),
        accuracy: correct as f64 / n,
        log_loss: loss / n,
    }
}

/// Trains on `frame` and `labels` (same row count).
pub fn train(
    frame: &Frame,
    labels: &Labels,
    cfg: &TrainConfig,
    threads: usize,
    progress: Progress<'_>,
) -> Result<Trained, MlError> {
    cfg.validate()?;
    if labels.y.len() != frame.rows {
        return Err(MlError::Input(format!(
            "{} labels for {} rows",
            labels.y.len(),
            frame.rows
        )));
    }
    if frame.names.is_empty() {
        return Err(MlError::Input("no feature columns to train on".into()));
    }
    let k = labels.classes.len();
    if k < 2 {
        return Err(MlError::Input(format!(
            "the target has {} class{}: a classifier needs at least two",
            k,
            if k == 1 { "" } else { "es" }
        )));
    }
    let clock = std::time::Instant::now();
    let mut seconds = PhaseSeconds::default();
    let mut lap = {
        let mut last = clock;
        move || {
            let now = std::time::Instant::now();
            let d = (now - last).as_secs_f64();
            last = now;
            d
        }
    };
    let mut rng = ChaCha20Rng::seed_from_u64(cfg.seed);
    let (train_rows, holdout_rows) = split(frame.rows, cfg.holdout, &mut rng);
    let y_train: Vec<u32> = train_rows.iter().map(|&r| labels.y[r]).collect();
    let mut present = vec![false; k];
    y_train.iter().for_each(|&c| present[c as usize] = true);
    if present.iter().filter(|p| **p).count() < 2 {
        return Err(MlError::Input(
            "the training split holds a single class: the target is constant".into(),
        ));
    }
    let pre = Preprocessor::fit(frame, &train_rows)?;
    let x = pre.transform(frame, &train_rows, threads)?;
    let arch = match cfg.model {
        ModelKind::Logreg => Architecture::Logreg {
            inputs: x.cols,
            classes: k,
        },
        ModelKind::Mlp => Architecture::Mlp {
            inputs: x.cols,
            hidden: cfg.hidden.clone(),
            classes: k,
        },
    };
    let mut model = match cfg.model {
        ModelKind::Logreg => Model::zeros(arch)?,
        ModelKind::Mlp => Model::init(arch, &mut rng)?,
    };
    seconds.preprocess = lap();
    let (optimiser, dp) = match &cfg.dp {
        None if cfg.model == ModelKind::Logreg => {
            let out = fit_lbfgs(&mut model, &x, &y_train, cfg, threads, progress);
            (out, None)
        }
        None => {
            let opts = AdamOptions {
                epochs: cfg.epochs,
                batch_size: cfg.batch_size,
                learning_rate: cfg.learning_rate,
                l2: cfg.l2,
            };
            let all: Vec<usize> = (0..x.rows).collect();
            let out = adam_steps(&mut model, &x, &y_train, &all, &opts, &mut rng, progress);
            (out, None)
        }
        Some(dp) => {
            let (o, r) = fit_dp(&mut model, &x, &y_train, cfg, dp, &mut rng, progress)?;
            (o, Some(r))
        }
    };
    if model.params.iter().any(|p| !p.is_finite()) {
        return Err(MlError::Diverged(format!(
            "training diverged after {} {}; lower the learning rate",
            optimiser.iterations,
            if optimiser.algorithm == "lbfgs" {
                "iterations"
            } else {
                "steps"
            }
        )));
    }
    seconds.optimise = lap();
    let train_probs = predict_proba(&model, &x, threads);
    let train_metrics = metrics(&train_probs, &y_train);
    let holdout = if holdout_rows.is_empty() {
        None
    } else {
        let xh = pre.transform(frame, &holdout_rows, threads)?;
        let yh: Vec<u32> = holdout_rows.iter().map(|&r| labels.y[r]).collect();
        Some(metrics(&predict_proba(&model, &xh, threads), &yh))
    };
    seconds.metrics = lap();
    let profile = reference_profile(
        frame,
        &train_rows,
        &pre,
        &x,
        &train_probs,
        &labels.classes,
        threads,
    );
    Ok(Trained {
        preprocessor: pre,
        model,
        classes: labels.classes.clone(),
        train: train_metrics,
        holdout,
        optimiser,
        dp,
        profile,
        seconds: PhaseSeconds {
            profile: lap(),
            ..seconds
        },
    })
}

/// Full-batch L-BFGS on mean log loss + l2/(2n)·‖W‖².
fn fit_lbfgs(
    model: &mut Model,
    x: &Matrix,
    y: &[u32],
    cfg: &TrainConfig,
    threads: usize,
    progress: Progress<'_>,
) -> OptimiserReport {
    let mask = model.penalty_mask();
    let n = x.rows as f64;
    let np = model.params.len();
    let objective = |p: &[f64], g: &mut [f64]| -> f64 {
        let m = model.with_params(p);
        let parts = par_blocks(x.rows, threads, |r| {
            let mut s = Scratch::default();
            let mut grad = vec![0.0; np];
            let mut loss = 0.0;
            for i in r {
                loss += m.example_grad(x.row(i), y[i] as usize, &mut grad, &mut s);
            }
            (loss, grad)
        });
        g.iter_mut().for_each(|v| *v = 0.0);
        let mut loss = 0.0;
        for (l, pg) in parts {
            loss += l;
            g.iter_mut().zip(&pg).for_each(|(a, b)| *a += b);
        }
        let mut pen = 0.0;
        for ((gi, pi), on) in g.iter_mut().zip(p).zip(&mask) {
            *gi /= n;
            if *on {
                *gi += cfg.l2 * pi / n;
                pen += pi * pi;
            }
        }
        loss / n + 0.5 * cfg.l2 * pen / n
    };
    let mut params = model.params.clone();
    let total = cfg.max_iter;
    let out = lbfgs::minimize(
        &mut params,
        objective,
        lbfgs::Options {
            max_iter: cfg.max_iter,
            ..Default::default()
        },
        |k| progress(k, total),
    );
    model.params = params;
    progress(total, total);
    OptimiserReport {
        algorithm: "lbfgs".into(),
        iterations: out.iterations,
        converged: Some(out.converged),
    }
}

/// Adam's moment estimates.
struct Adam {
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
    lr: f64,
}

impl Adam {
    fn new(n: usize, lr: f64) -> Self {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
            lr,
        }
    }

    fn step(&mut self, params: &mut [f64], g: &[f64]) {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        self.t += 1;
        let c1 = 1.0 - B1.powi(self.t);
        let c2 = 1.0 - B2.powi(self.t);
        for i in 0..params.len() {
            self.m[i] = B1 * self.m[i] + (1.0 - B1) * g[i];
            self.v[i] = B2 * self.v[i] + (1.0 - B2) * g[i] * g[i];
            params[i] -= self.lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
        }
    }
}

/// Minibatch Adam settings for [`fit_adam`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamOptions {
    /// Passes over the rows.
    pub epochs: usize,
    /// Rows per step; the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Adam's step size (β₁ 0.9, β₂ 0.999, ε 1e-8).
    pub learning_rate: f64,
    /// L2 strength on the summed loss over the rows trained on, as
    /// [`TrainConfig::l2`]; biases are not penalised.
    pub l2: f64,
}

/// Fits `model` by minibatch Adam on the rows `rows` of `x`, whose labels are
/// `y` (indexed by row of `x`): every epoch shuffles `rows` with `rng`, then
/// takes one Adam step per batch on the batch's mean log loss plus
/// `l2 / (2 |rows|)`·‖W‖². The result depends only on the inputs and the
/// state of `rng`.
pub fn fit_adam(
    model: &mut Model,
    x: &Matrix,
    y: &[u32],
    rows: &[usize],
    opts: &AdamOptions,
    rng: &mut impl rand::Rng,
    progress: Progress<'_>,
) -> Result<OptimiserReport, MlError> {
    if !(opts.learning_rate > 0.0 && opts.learning_rate.is_finite()) {
        return Err(MlError::Config(format!(
            "learning rate {} must be positive",
            opts.learning_rate
        )));
    }
    if !(opts.l2 >= 0.0 && opts.l2.is_finite()) {
        return Err(MlError::Config(format!(
            "l2 {} must be a finite number ≥ 0",
            opts.l2
        )));
    }
    if opts.batch_size == 0 {
        return Err(MlError::Config("batch size must be at least 1".into()));
    }
    if x.cols != model.arch.inputs() || y.len() != x.rows {
        return Err(MlError::Input(format!(
            "a {}×{} matrix with {} labels for a model of {} inputs",
            x.rows,
            x.cols,
            y.len(),
            model.arch.inputs()
        )));
    }
    let k = model.classes();
    if let Some(&r) = rows.iter().find(|&&r| r >= x.rows || y[r] as usize >= k) {
        return Err(MlError::Input(format!(
            "row {r} is outside the matrix or its label outside the {k} classes"
        )));
    }
    Ok(adam_steps(model, x, y, rows, opts, rng, progress))
}

fn adam_steps(
    model: &mut Model,
    x: &Matrix,
    y: &[u32],
    rows: &[usize],
    opts: &AdamOptions,
    rng: &mut impl rand::Rng,
    progress: Progress<'_>,
) -> OptimiserReport {
    let mask = model.penalty_mask();
    let n = rows.len();
    let mut adam = Adam::new(model.params.len(), opts.learning_rate);
    let mut grad = vec![0.0; model.params.len()];
    let mut s = Scratch::default();
    let mut order = rows.to_vec();
    let mut steps = 0;
    for epoch in 0..opts.epochs {
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i);
            order.swap(i, j);
        }
        for batch in order.chunks(opts.batch_size) {
            grad.iter_mut().for_each(|g| *g = 0.0);
            for &i in batch {
                model.example_grad(x.row(i), y[i] as usize, &mut grad, &mut s);
            }
            let b = batch.len() as f64;
            for ((g, p), on) in grad.iter_mut().zip(&model.params).zip(&mask) {
                *g /= b;
                if *on {
                    *g += opts.l2 * p / n as f64;
                }
            }
            adam.step(&mut model.params, &grad);
            steps += 1;
        }
        progress(epoch + 1, opts.epochs);
    }
    OptimiserReport {
        algorithm: "adam".into(),
        iterations: steps,
        converged: None,
    }
}

fn fit_dp(
    model: &mut Model,
    x: &Matrix,
    y: &[u32],
    cfg: &TrainConfig,
    dp: &DpConfig,
    rng: &mut ChaCha20Rng,
    progress: Progress<'_>,
) -> Result<(OptimiserReport, DpReport), MlError> {
    let n = x.rows;
    let q = (cfg.batch_size as f64 / n as f64).min(1.0);
    let steps_per_epoch = ((n as f64 / cfg.batch_size as f64).round() as usize).max(1);
    let steps = (steps_per_epoch * cfg.epochs) as u64;
    // σ and ε come from the PLD accountant; the RDP figure is recorded
    // beside it for comparison with Opacus reports.
    let (sigma, epsilon) = match dp.target {
        DpTarget::NoiseMultiplier(s) => {
            let spent = privacy::epsilon(Accountant::Pld, q, s, steps, dp.delta)?;
            (s, spent.epsilon)
        }
        DpTarget::Epsilon(e) => {
            let plan = privacy::noise_for_epsilon(Accountant::Pld, e, q, steps, dp.delta)?;
            (plan.noise_multiplier, plan.epsilon)
        }
    };
    let rdp = privacy::epsilon(Accountant::Rdp, q, sigma, steps, dp.delta)?;
    let c = dp.max_grad_norm;
    let mask = model.penalty_mask();
    let np = model.params.len();
    let mut adam = Adam::new(np, cfg.learning_rate);
    let (mut sum, mut one, mut grad) = (vec![0.0; np], vec![0.0; np], vec![0.0; np]);
    let mut s = Scratch::default();
    let ln_keep = (1.0 - q).ln();
    let expected = q * n as f64;
    for step in 0..steps {
        sum.iter_mut().for_each(|v| *v = 0.0);
        // Poisson sampling: each row joins with probability q, drawn as
        // geometric gaps between included rows.
        let mut i: usize = 0;
        loop {
            if q < 1.0 {
                let u: f64 = rng.random();
                let gap = ((1.0 - u).ln() / ln_keep).floor();
                if gap.is_nan() || gap >= (n - i) as f64 {
                    break;
                }
                i += gap as usize;
            }
            if i >= n {
                break;
            }
            one.iter_mut().for_each(|v| *v = 0.0);
            model.example_grad(x.row(i), y[i] as usize, &mut one, &mut s);
            let norm = one.iter().map(|v| v * v).sum::<f64>().sqrt();
            let factor = (c / (norm + 1e-6)).min(1.0);
            sum.iter_mut().zip(&one).for_each(|(a, b)| *a += factor * b);
            i += 1;
        }
        for ((g, total), (p, on)) in grad
            .iter_mut()
            .zip(&sum)
            .zip(model.params.iter().zip(&mask))
        {
            let noise: f64 = StandardNormal.sample(rng);
            *g = (total + sigma * c * noise) / expected;
            if *on {
                *g += cfg.l2 * p / n as f64;
            }
        }
        adam.step(&mut model.params, &grad);
        let done = step as usize + 1;
        if done.is_multiple_of(steps_per_epoch) {
            progress(done / steps_per_epoch, cfg.epochs);
        }
    }
    Ok((
        OptimiserReport {
            algorithm: "dp-sgd".into(),
            iterations: steps as usize,
            converged: None,
        },
        DpReport {
            accountant: Accountant::Pld.description().into(),
            epsilon,
            delta: dp.delta,
            optimal_order: rdp.order.unwrap_or(f64::NAN),
            epsilon_rdp: Some(rdp.epsilon),
            noise_multiplier: sigma,
            max_grad_norm: c,
            sample_rate: q,
            steps,
            expected_batch_size: expected,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;

    /// Three noisy clusters in two dimensions, labelled by cluster.
    fn clusters(n: usize) -> (Matrix, Vec<u32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let centres = [(-2.0, 0.0), (2.0, 0.0), (0.0, 2.5)];
        let mut x = Matrix::zeros(n, 2);
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let c = i % 3;
            let (a, b) = centres[c];
            let r = x.row_mut(i);
            r[0] = a + rng.random_range(-1.0..1.0);
            r[1] = b + rng.random_range(-1.0..1.0);
            y.push(c as u32);
        }
        (x, y)
    }

    fn logreg(classes: usize) -> Model {
        Model::zeros(Architecture::Logreg { inputs: 2, classes }).unwrap()
    }

    const OPTS: AdamOptions = AdamOptions {
        epochs: 20,
        batch_size: 16,
        learning_rate: 0.05,
        l2: 0.01,
    };

    fn fit(x: &Matrix, y: &[u32], rows: &[usize], seed: u64, k: usize) -> Model {
        let mut m = logreg(k);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        fit_adam(&mut m, x, y, rows, &OPTS, &mut rng, &mut |_, _| {}).unwrap();
        m
    }

    #[test]
    fn softmax_regression_by_adam_learns_three_classes() {
        let (x, y) = clusters(300);
        let rows: Vec<usize> = (0..300).collect();
        let m = fit(&x, &y, &rows, 1, 3);
        let p = predict_proba(&m, &x, 1);
        assert!(metrics(&p, &y).accuracy > 0.95);
    }

    #[test]
    fn adam_is_deterministic_for_a_seed() {
        let (x, y) = clusters(120);
        let rows: Vec<usize> = (0..120).collect();
        assert_eq!(fit(&x, &y, &rows, 4, 3), fit(&x, &y, &rows, 4, 3));
        assert_ne!(fit(&x, &y, &rows, 4, 3), fit(&x, &y, &rows, 5, 3));
    }

    #[test]
    fn adam_on_some_rows_is_adam_on_a_matrix_of_those_rows() {
        let (x, y) = clusters(120);
        let rows: Vec<usize> = (0..120).filter(|r| r % 5 != 2).collect();
        let mut sub = Matrix::zeros(rows.len(), 2);
        for (i, &r) in rows.iter().enumerate() {
            sub.row_mut(i).copy_from_slice(x.row(r));
        }
        let sub_y: Vec<u32> = rows.iter().map(|&r| y[r]).collect();
        let all: Vec<usize> = (0..rows.len()).collect();
        for k in [2, 3] {
            // Two classes: the first two clusters against the third.
            let lab = |v: &[u32]| -> Vec<u32> { v.iter().map(|&c| c.min(k as u32 - 1)).collect() };
            assert_eq!(
                fit(&x, &lab(&y), &rows, 7, k),
                fit(&sub, &lab(&sub_y), &all, 7, k)
            );
        }
    }

    #[test]
    fn adam_refuses_rows_labels_and_settings_out_of_range() {
        let (x, y) = clusters(30);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut m = logreg(3);
        let mut go = |rows: &[usize], y: &[u32], opts: &AdamOptions| {
            fit_adam(&mut m, &x, y, rows, opts, &mut rng, &mut |_, _| {}).is_err()
        };
        assert!(go(&[0, 30], &y, &OPTS));
        let mut bad = y.clone();
        bad[3] = 3;
        assert!(go(&[3], &bad, &OPTS));
        assert!(go(&[0], &y[..29], &OPTS));
        for opts in [
            AdamOptions {
                batch_size: 0,
                ..OPTS
            },
            AdamOptions {
                learning_rate: 0.0,
                ..OPTS
            },
            AdamOptions {
                l2: f64::NAN,
                ..OPTS
            },
        ] {
            assert!(go(&[0], &y, &opts));
        }
        assert!(!go(&[], &y, &OPTS));
    }
}
