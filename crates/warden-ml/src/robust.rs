//! Adversarial robustness of the differentiable native models, in the
//! standardised feature space the model sees, under tabular constraints:
//! immutable features and every one-hot column stay as they are (so
//! categories stay valid), numeric features stay within the range seen in
//! training, and integer features move by whole units.
//!
//! - FGSM and PGD (L∞ and L2, random start, step 2.5·ε / steps) for
//!   logistic regression and the MLP;
//! - for binary logistic regression, the exact answer in closed form: under
//!   an L∞ ball of radius ε each free feature can move the logit by
//!   |w_j|·min(ε, room_j), so a row is robust iff that total is below its
//!   margin, and the minimal adversarial L∞ distance is the smallest ε at
//!   which it is not (infinite if the constraints never allow it).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use crate::frame::{Matrix, par_blocks};
use crate::model::{Architecture, Model, Scratch};
use crate::preprocess::{Preprocessor, Transform};

/// How one model column may move.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnLimit {
    /// Whether an attack may change the column (false for immutable
    /// features and every one-hot column).
    pub mutable: bool,
    /// Bounds in the model's (standardised) units.
    pub lo: f64,
    /// Upper bound, in the same units as `lo`.
    pub hi: f64,
    /// For an integer feature: the standardised size of one unit.
    pub unit: Option<f64>,
}

/// A feature's raw (min, max, is-integer), if known.
pub type RawBounds<'a> = &'a dyn Fn(&str) -> Option<(f64, f64, bool)>;

/// Exact robustness: per radius, whether each row stays correct; per row,
/// its minimal distance.
pub type ExactRobustness = (Vec<Vec<bool>>, Vec<Option<f64>>);

/// The constraints of every model column.
pub fn limits(
    pre: &Preprocessor,
    raw_bounds: RawBounds<'_>,
    immutable: &[String],
) -> Vec<ColumnLimit> {
    let mut out = Vec::with_capacity(pre.width());
    for f in &pre.features {
        match &f.transform {
            Transform::Standardise { mean, scale, .. } => {
                let (lo, hi, integer) =
                    raw_bounds(&f.name).unwrap_or((f64::NEG_INFINITY, f64::INFINITY, false));
                out.push(ColumnLimit {
                    mutable: !immutable.contains(&f.name),
                    lo: (lo - mean) / scale,
                    hi: (hi - mean) / scale,
                    unit: integer.then_some(1.0 / scale),
                });
            }
            Transform::OneHot { .. } => {
                for _ in 0..f.transform.width() {
                    out.push(ColumnLimit {
                        mutable: false,
                        lo: 0.0,
                        hi: 1.0,
                        unit: None,
                    });
                }
            }
        }
    }
    out
}

/// The attacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attack {
    /// The fast gradient sign method: one step of size ε along the sign of
    /// the loss gradient.
    Fgsm,
    /// Projected gradient descent in the L∞ ball of radius ε, from a random
    /// start.
    PgdLinf,
    /// Projected gradient descent in the L2 ball of radius ε, from a random
    /// start.
    PgdL2,
}

impl Attack {
    /// `fgsm`, `pgd_linf` or `pgd_l2`.
    pub fn name(self) -> &'static str {
        match self {
            Attack::Fgsm => "fgsm",
            Attack::PgdLinf => "pgd_linf",
            Attack::PgdL2 => "pgd_l2",
        }
    }
}

/// Moves `delta` (a perturbation of a column from `x`) inside the column's
/// limits: frozen columns do not move, bounds hold.
fn bound(x: f64, delta: f64, lim: &ColumnLimit) -> f64 {
    if !lim.mutable {
        return 0.0;
    }
    (x + delta).clamp(lim.lo.min(x), lim.hi.max(x)) - x
}

/// The perturbation actually applied: bounded, and for an integer column
/// whole units toward zero. (The attack iterates on the bounded continuous
/// perturbation, so small steps can add up to a unit.)
fn constrain(x: f64, delta: f64, lim: &ColumnLimit) -> f64 {
    let d = bound(x, delta, lim);
    match lim.unit {
        Some(u) => (d / u).trunc() * u,
        None => d,
    }
}

fn predict(model: &Model, x: &[f64], s: &mut Scratch) -> usize {
    let mut p = vec![0.0; model.classes()];
    model.predict_row(x, &mut p, s);
    (0..p.len()).fold(0, |b, c| if p[c] > p[b] { c } else { b })
}

/// Whether each row is still classified correctly after the attack at `eps`.
#[allow(clippy::too_many_arguments)]
pub fn attack(
    model: &Model,
    x: &Matrix,
    y: &[u32],
    limits: &[ColumnLimit],
    kind: Attack,
    eps: f64,
    steps: usize,
    seed: u64,
    threads: usize,
) -> Vec<bool> {
    let d = x.cols;
    let parts = par_blocks(x.rows, threads, |range| {
        let mut s = Scratch::default();
        let mut g = vec![0.0; d];
        let mut delta = vec![0.0; d];
        let mut adv = vec![0.0; d];
        let mut out = Vec::with_capacity(range.len());
        for i in range {
            let xi = x.row(i);
            let yi = y[i] as usize;
            if predict(model, xi, &mut s) != yi {
                out.push(false);
                continue;
            }
            // One seeded stream per row: the same on any thread count.
            let mut rng =
                ChaCha20Rng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let (n, alpha) = match kind {
                Attack::Fgsm => (1, eps),
                _ => (steps.max(1), 2.5 * eps / steps.max(1) as f64),
            };
            for j in 0..d {
                delta[j] = if kind == Attack::Fgsm || !limits[j].mutable {
                    0.0
                } else {
                    rng.random_range(-1.0..1.0) * eps
                        / if kind == Attack::PgdL2 {
                            (d as f64).sqrt()
                        } else {
                            1.0
                        }
                };
            }
            // One forward pass per step: the gradient's forward pass also
            // says whether the current point already fools the model.
            let mut fooled = false;
            for step in 0..=n {
                for j in 0..d {
                    adv[j] = xi[j] + constrain(xi[j], delta[j], &limits[j]);
                }
                model.input_grad(&adv, yi, &mut g, &mut s);
                if model.predicted(&s) != yi {
                    fooled = true;
                    break;
                }
                if step == n {
                    break;
                }
                for (j, gj) in g.iter_mut().enumerate() {
                    if !limits[j].mutable {
                        *gj = 0.0;
                    }
                }
                match kind {
                    Attack::Fgsm | Attack::PgdLinf => {
                        for j in 0..d {
                            delta[j] = (delta[j]
                                + alpha * g[j].signum() * f64::from(u8::from(g[j] != 0.0)))
                            .clamp(-eps, eps);
                        }
                    }
                    Attack::PgdL2 => {
                        let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
                        if norm > 0.0 {
                            for j in 0..d {
                                delta[j] += alpha * g[j] / norm;
                            }
                        }
                        let dn = delta.iter().map(|v| v * v).sum::<f64>().sqrt();
                        if dn > eps {
                            delta.iter_mut().for_each(|v| *v *= eps / dn);
                        }
                    }
                }
                for j in 0..d {
                    delta[j] = bound(xi[j], delta[j], &limits[j]);
                }
            }
            out.push(!fooled);
        }
        out
    });
    parts.concat()
}

/// An upper bound on each row's minimal adversarial perturbation: the
/// smallest radius (bisection over `[0, max]`, 8 halvings) at which the
/// attack flips the row; `None` for a misclassified row, infinity if it
/// never flips within `max`.
#[allow(clippy::too_many_arguments)]
pub fn min_perturbation(
    model: &Model,
    x: &Matrix,
    y: &[u32],
    limits: &[ColumnLimit],
    kind: Attack,
    max: f64,
    steps: usize,
    seed: u64,
    threads: usize,
) -> Vec<Option<f64>> {
    let one = |i: usize, e: f64| -> bool {
        let row = Matrix {
            rows: 1,
            cols: x.cols,
            data: x.row(i).to_vec(),
        };
        attack(
            model,
            &row,
            &y[i..=i],
            limits,
            kind,
            e,
            steps,
            seed ^ i as u64,
            1,
        )[0]
    };
    let parts = par_blocks(x.rows, threads, |range| {
        range
            .map(|i| {
                if !one(i, 0.0) {
                    return None;
                }
                if one(i, max) {
                    return Some(f64::INFINITY);
                }
                let (mut lo, mut hi) = (0.0, max);
                for _ in 0..8 {
                    let mid = 0.5 * (lo + hi);
                    if one(i, mid) { lo = mid } else { hi = mid }
                }
                Some(hi)
            })
            .collect::<Vec<_>>()
    });
    parts.concat()
}

/// Exact L∞ robustness of a binary logistic regression: per row, whether it
/// is correct and stays so within radius `eps`, and its minimal adversarial
/// distance (`None` for a misclassified row, infinity if unreachable).
pub fn linear_linf(
    model: &Model,
    x: &Matrix,
    y: &[u32],
    limits: &[ColumnLimit],
    eps: &[f64],
) -> Option<ExactRobustness> {
    let Architecture::Logreg { inputs, classes: 2 } = model.arch else {
        return None;
    };
    let w = &model.params[..inputs];
    let b = model.params[inputs];
    let mut robust = vec![Vec::with_capacity(x.rows); eps.len()];
    let mut distance = Vec::with_capacity(x.rows);
    for (i, &yi) in y.iter().enumerate().take(x.rows) {
        let xi = x.row(i);
        let z = b + crate::model::dot(w, xi);
        let positive = yi == 1;
        let correct = if positive { z > 0.0 } else { z <= 0.0 };
        // The adversary pushes z toward the other side: each free column
        // moves against sign(w_j) (toward the wrong class) by at most its room.
        let toward_down = positive;
        let mut moves: Vec<(f64, f64, Option<f64>)> = Vec::new(); // (|w|, room, unit)
        for j in 0..inputs {
            let lim = &limits[j];
            if !lim.mutable || w[j] == 0.0 {
                continue;
            }
            let down_x = (w[j] > 0.0) == toward_down;
            let room = if down_x {
                xi[j] - lim.lo.min(xi[j])
            } else {
                lim.hi.max(xi[j]) - xi[j]
            };
            moves.push((w[j].abs(), room, lim.unit));
        }
        let shift = |r: f64| -> f64 {
            moves
                .iter()
                .map(|&(aw, room, unit)| {
                    let mut m = r.min(room);
                    if let Some(u) = unit {
                        m = (m / u).floor() * u;
                    }
                    aw * m
                })
                .sum()
        };
        // The class flips once the shift reaches the margin: z − shift ≤ 0
        // for a positive row, z + shift > 0 for a negative one.
        let flips = |r: f64| {
            if positive {
                z - shift(r) <= 0.0
            } else {
                z + shift(r) > 0.0
            }
        };
        for (k, &e) in eps.iter().enumerate() {
            robust[k].push(correct && !flips(e));
        }
        distance.push(if !correct {
            None
        } else {
            let max_room = moves.iter().map(|m| m.1).fold(0.0, f64::max);
            if !flips(max_room) {
                Some(f64::INFINITY)
            } else {
                // Bisection on the monotone shift (exact to 1e-9 in the radius).
                let (mut lo, mut hi) = (0.0, max_room);
                for _ in 0..100 {
                    let mid = 0.5 * (lo + hi);
                    if flips(mid) {
                        hi = mid
                    } else {
                        lo = mid
                    }
                    if hi - lo < 1e-12 {
                        break;
                    }
                }
                Some(hi)
            }
        });
    }
    Some((robust, distance))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FeatureColumn, Frame, Labels};
    use crate::train::{ModelKind, TrainConfig, train};

    fn data(n: usize) -> (Frame, Labels) {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut cols = vec![Vec::new(); 3];
        let mut count = Vec::new();
        let mut cat = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let v: Vec<f64> = (0..3).map(|_| StandardNormal.sample(&mut rng)).collect();
            let k = rng.random_range(0..6u32);
            let c = rng.random_range(0..3u32);
            let z = 1.2 * v[0] - 0.8 * v[1] + 0.3 * v[2] + 0.25 * f64::from(k) - 0.6
                + 0.5 * f64::from(c == 2);
            let noise: f64 = StandardNormal.sample(&mut rng);
            y.push(u32::from(z + 0.5 * noise > 0.0));
            for j in 0..3 {
                cols[j].push(v[j]);
            }
            count.push(f64::from(k));
            cat.push(c);
        }
        let mut f = Frame::default();
        for (j, c) in cols.into_iter().enumerate() {
            f.push(format!("x{j}"), FeatureColumn::Numeric(c)).unwrap();
        }
        f.push("count", FeatureColumn::Numeric(count)).unwrap();
        f.push(
            "kind",
            FeatureColumn::Categorical {
                codes: cat,
                levels: vec!["a".into(), "b".into(), "c".into()],
            },
        )
        .unwrap();
        (
            f,
            Labels {
                classes: vec!["0".into(), "1".into()],
                y,
            },
        )
    }

    fn bounds(f: &Frame) -> impl Fn(&str) -> Option<(f64, f64, bool)> + '_ {
        move |name| match f.column(name) {
            Some(FeatureColumn::Numeric(v)) => {
                let lo = v.iter().cloned().fold(f64::MAX, f64::min);
                let hi = v.iter().cloned().fold(f64::MIN, f64::max);
                Some((lo, hi, name == "count"))
            }
            _ => None,
        }
    }

    #[test]
    fn pgd_reaches_the_closed_form_optimum_of_a_logistic_regression() {
        let (f, l) = data(1500);
        let mut cfg = TrainConfig::defaults(ModelKind::Logreg, None);
        cfg.holdout = 0.0;
        let t = train(&f, &l, &cfg, 2, &mut |_, _| {}).unwrap();
        let rows: Vec<usize> = (0..f.rows).collect();
        let x = t.preprocessor.transform(&f, &rows, 2).unwrap();
        let lim = limits(&t.preprocessor, &bounds(&f), &["x2".to_string()]);
        assert!(!lim[2].mutable, "x2 is immutable");
        assert!(
            lim[4..].iter().all(|c| !c.mutable),
            "one-hot columns never move"
        );
        assert!(lim[3].unit.is_some(), "count moves by whole units");
        let eps = [0.0, 0.05, 0.1, 0.3, 1.0];
        let (exact, dist) = linear_linf(&t.model, &x, &l.y, &lim, &eps).unwrap();
        let clean: usize = exact[0].iter().filter(|b| **b).count();
        assert!(clean as f64 / f.rows as f64 > 0.8);
        for (k, &e) in eps.iter().enumerate() {
            let pgd = attack(&t.model, &x, &l.y, &lim, Attack::PgdLinf, e, 20, 9, 2);
            let (a, b) = (
                exact[k].iter().filter(|v| **v).count(),
                pgd.iter().filter(|v| **v).count(),
            );
            assert_eq!(
                pgd, exact[k],
                "eps {e}: closed form {a} robust rows, PGD {b}"
            );
            // FGSM is one step of the same: never stronger than PGD.
            let fgsm = attack(&t.model, &x, &l.y, &lim, Attack::Fgsm, e, 1, 9, 1);
            assert!(fgsm.iter().filter(|v| **v).count() >= b);
        }
        // Robust accuracy falls as eps grows; minimal distances order the same way.
        let robust: Vec<usize> = exact
            .iter()
            .map(|r| r.iter().filter(|v| **v).count())
            .collect();
        assert!(robust.windows(2).all(|w| w[0] >= w[1]), "{robust:?}");
        for (i, d) in dist.iter().enumerate() {
            if let Some(d) = d {
                assert_eq!(exact[2][i], *d > 0.1, "row {i}: distance {d}");
            }
        }
        // Same answer on any thread count.
        assert_eq!(
            attack(&t.model, &x, &l.y, &lim, Attack::PgdL2, 0.3, 20, 9, 1),
            attack(&t.model, &x, &l.y, &lim, Attack::PgdL2, 0.3, 20, 9, 3)
        );
    }

    #[test]
    fn cube_never_beats_the_exact_optimum_and_finds_what_lies_inside_the_box() {
        let (f, l) = data(600);
        let mut cfg = TrainConfig::defaults(ModelKind::Logreg, None);
        cfg.holdout = 0.0;
        let t = train(&f, &l, &cfg, 1, &mut |_, _| {}).unwrap();
        let rows: Vec<usize> = (0..200).collect();
        let x = t.preprocessor.transform(&f, &rows, 1).unwrap();
        let y = &l.y[..200];
        let lim = limits(&t.preprocessor, &bounds(&f), &["x2".to_string()]);
        let (_, exact) = linear_linf(&t.model, &x, y, &lim, &[0.1]).unwrap();
        let model = &t.model;
        let score = |v: &[f64]| {
            let mut p = vec![0.0; model.classes()];
            model.predict_row(v, &mut p, &mut Scratch::default());
            Some(p)
        };
        let eps = [0.05, 0.1, 0.2, 0.4];
        let found = cube(&x, y, &lim, &score, &eps, 100, 4, 2);
        let (mut inside, mut caught) = (0, 0);
        for (e, c) in exact.iter().zip(&found) {
            assert_eq!(e.is_none(), c.is_none(), "the same misclassified rows");
            if let (Some(e), Some(c)) = (e, c) {
                // Monotone: broken at one radius, broken at every larger one.
                assert!(c.windows(2).all(|w| w[1] || !w[0]), "{c:?}");
                for (k, &r) in eps.iter().enumerate() {
                    // Sound: nothing found below the smallest perturbation.
                    assert!(!c[k] || *e <= r + 1e-9, "found at {r}, optimum {e}");
                    // A linear model's optimum is a corner of the box: the
                    // search should land on one when it is comfortably inside.
                    if *e * 1.2 < r {
                        inside += 1;
                        caught += usize::from(c[k]);
                    }
                }
            }
        }
        assert!(inside > 20, "{inside}");
        assert!(caught * 10 >= inside * 9, "{caught} of {inside}");
    }

    #[test]
    fn cube_crosses_a_tree_boundary_only_through_the_columns_it_may_move() {
        // A stump pair: class 1 only where x0 > 0.3 and x1 < -0.3.
        let score = |v: &[f64]| {
            let one = v[0] > 0.3 && v[1] < -0.3;
            Some(if one { vec![0.2, 0.8] } else { vec![0.9, 0.1] })
        };
        let x = Matrix {
            rows: 2,
            cols: 3,
            data: vec![0.0, 0.0, 0.0, 1.0, -1.0, 0.0],
        };
        let y = [0u32, 0];
        let free = |mutable: bool| ColumnLimit {
            mutable,
            lo: -10.0,
            hi: 10.0,
            unit: None,
        };
        let lim = [free(true), free(true), free(true)];
        let found = cube(&x, &y, &lim, &score, &[0.2, 0.5], 50, 1, 1);
        assert_eq!(found[0], Some(vec![false, true]));
        assert_eq!(found[1], None, "wrong already");
        let frozen = [free(true), free(false), free(true)];
        let found = cube(&x, &y, &frozen, &score, &[0.2, 0.5], 50, 1, 1);
        assert_eq!(found[0], Some(vec![false, false]));
    }

    #[test]
    fn hopskipjump_finds_boundaries_no_closer_than_the_exact_optimum() {
        let (f, l) = data(600);
        let mut cfg = TrainConfig::defaults(ModelKind::Logreg, None);
        cfg.holdout = 0.0;
        let t = train(&f, &l, &cfg, 1, &mut |_, _| {}).unwrap();
        let rows: Vec<usize> = (0..200).collect();
        let x = t.preprocessor.transform(&f, &rows, 1).unwrap();
        let y = &l.y[..200];
        let lim = limits(&t.preprocessor, &bounds(&f), &["x2".to_string()]);
        let (_, exact) = linear_linf(&t.model, &x, y, &lim, &[0.1]).unwrap();
        let model = &t.model;
        let decide = |v: &[f64]| predict(model, v, &mut Scratch::default());
        let found = hopskipjump(&x, y, &lim, &decide, 10, 30, 4, 2);
        let (mut reached, mut finite, mut ratios) = (0, 0, Vec::new());
        for (e, h) in exact.iter().zip(&found) {
            assert_eq!(
                e.is_none(),
                h.is_none(),
                "both see the same misclassified rows"
            );
            if let (Some(e), Some(h)) = (e, h) {
                assert!(
                    h.linf >= e - 1e-9,
                    "a decision-based attack cannot beat the exact optimum: {} < {e}",
                    h.linf
                );
                if e.is_finite() {
                    finite += 1;
                    if h.linf.is_finite() {
                        reached += 1;
                        ratios.push(h.linf / e);
                    }
                }
            }
        }
        assert!(
            reached * 10 >= finite * 9,
            "found an adversarial for {reached} of {finite} attackable rows"
        );
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        eprintln!(
            "HopSkipJump: {reached} of {finite} attackable rows; median found/exact L∞ {median:.3}"
        );
        assert!(median < 1.6, "median found/exact L∞ ratio {median}");
        // Deterministic on any thread count.
        assert_eq!(found, hopskipjump(&x, y, &lim, &decide, 10, 30, 4, 1));
    }

    #[test]
    fn attacks_respect_the_constraints_on_an_mlp() {
        let (f, l) = data(800);
        let mut cfg = TrainConfig::defaults(ModelKind::Mlp, None);
        cfg.epochs = 5;
        cfg.holdout = 0.0;
        let t = train(&f, &l, &cfg, 1, &mut |_, _| {}).unwrap();
        let rows: Vec<usize> = (0..f.rows).collect();
        let x = t.preprocessor.transform(&f, &rows, 1).unwrap();
        let lim = limits(&t.preprocessor, &bounds(&f), &[]);
        let clean = attack(&t.model, &x, &l.y, &lim, Attack::PgdLinf, 0.0, 20, 1, 2);
        let strong = attack(&t.model, &x, &l.y, &lim, Attack::PgdLinf, 0.5, 20, 1, 2);
        let weak = attack(&t.model, &x, &l.y, &lim, Attack::PgdLinf, 0.05, 20, 1, 2);
        let count = |v: &[bool]| v.iter().filter(|b| **b).count();
        assert!(count(&clean) >= count(&weak) && count(&weak) >= count(&strong));
        assert!(
            count(&strong) < count(&clean),
            "an eps of 0.5 sd must flip some rows"
        );
        // Every constraint holds for the perturbations a constrained step makes.
        for (j, c) in lim.iter().enumerate() {
            let d = constrain(0.0, 0.37, c);
            if !c.mutable {
                assert_eq!(d, 0.0, "column {j}");
            }
            if let Some(u) = c.unit {
                assert!(((d / u) - (d / u).round()).abs() < 1e-9);
            }
        }
    }
}

/// The decision-based attack's findings for one row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Found {
    /// L∞ size, in the model's standardised units, of the smallest
    /// adversarial perturbation found (infinity when none was found inside
    /// the bounds).
    pub linf: f64,
    /// L2 size of the same perturbation (infinity when none was found).
    pub l2: f64,
}

/// A score-based random search on the faces of the L∞ box (the "cube"
/// attack of Andriushchenko and Hein 2019, written for tree ensembles,
/// whose piecewise-constant output gives gradient estimates nothing to
/// follow): from a random corner `x ± eps` of each row's box it redraws the
/// signs of a shrinking random share of the free columns, keeping a change
/// when the true class's margin over the best other class does not rise
/// (plateaus are crossed, not stopped at), until the
/// prediction changes or `queries` are spent. Perturbations respect
/// `limits` at every query. Per row: `None` if the model is wrong on it
/// already, else for each of `eps` whether an adversarial point was found
/// (an upper bound on robust accuracy, as every attack gives).
#[allow(clippy::too_many_arguments)]
pub fn cube(
    x: &Matrix,
    y: &[u32],
    limits: &[ColumnLimit],
    score: &(dyn Fn(&[f64]) -> Option<Vec<f64>> + Sync),
    eps: &[f64],
    queries: usize,
    seed: u64,
    threads: usize,
) -> Vec<Option<Vec<bool>>> {
    let d = x.cols;
    let free: Vec<usize> = (0..d).filter(|&j| limits[j].mutable).collect();
    let rows: Vec<usize> = (0..x.rows).collect();
    // The true class's margin, and whether the prediction differs from it
    // (the first of tied classes is predicted, as everywhere).
    let judge = |p: &[f64], yi: usize| -> (f64, bool) {
        let other = (0..p.len())
            .filter(|&k| k != yi)
            .fold(f64::NEG_INFINITY, |m, k| m.max(p[k]));
        let predicted = (0..p.len()).fold(0, |b, k| if p[k] > p[b] { k } else { b });
        (
            p.get(yi).copied().unwrap_or(f64::NAN) - other,
            predicted != yi,
        )
    };
    let parts = crate::frame::par_map(&rows, threads, |&i| {
        [i].into_iter()
            .map(|i| {
                let xi = x.row(i);
                let yi = y[i] as usize;
                let first = score(xi)?;
                if judge(&first, yi).1 {
                    return None;
                }
                let mut rng = ChaCha20Rng::seed_from_u64(
                    seed ^ 0xC0BE ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let mut point = Vec::with_capacity(d);
                let mut query = |signs: &[f64], e: f64| -> (f64, bool) {
                    point.clear();
                    point
                        .extend((0..d).map(|j| xi[j] + constrain(xi[j], signs[j] * e, &limits[j])));
                    score(&point).map_or((f64::INFINITY, false), |p| judge(&p, yi))
                };
                let found: Vec<bool> = eps
                    .iter()
                    .map(|&e| {
                        if free.is_empty() || e.is_nan() || e <= 0.0 {
                            return false;
                        }
                        let mut signs = vec![0.0; d];
                        for &j in &free {
                            signs[j] = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                        }
                        let (mut best, found) = query(&signs, e);
                        if found {
                            return true;
                        }
                        for t in 0..queries {
                            let share = 0.3 * (1.0 - t as f64 / queries as f64) + 0.02;
                            let k = ((share * free.len() as f64).round() as usize).max(1);
                            let mut trial = signs.clone();
                            for _ in 0..k {
                                let j = free[rng.random_range(0..free.len())];
                                trial[j] = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                            }
                            let (m, found) = query(&trial, e);
                            if found {
                                return true;
                            }
                            // Ties are taken too: a tree's output is
                            // flat between thresholds, and the walk
                            // must cross plateaus to reach one.
                            if m <= best {
                                best = m;
                                signs = trial;
                            }
                        }
                        false
                    })
                    .collect();
                // What was found inside a smaller box lies inside every
                // larger one.
                Some(
                    eps.iter()
                        .map(|&e| eps.iter().zip(&found).any(|(&s, &f)| f && s <= e))
                        .collect(),
                )
            })
            .collect::<Vec<_>>()
    });
    parts.concat()
}

/// HopSkipJump (Chen, Jordan and Wainwright 2020; the L2 variant,
/// untargeted), a decision-based attack: it needs only the predicted class
/// of `decide`, so it runs against any model, ONNX included. From a random
/// adversarial point inside the bounds it walks the decision boundary
/// toward each row: a binary search to the boundary, a Monte Carlo estimate
/// of the boundary's normal from `queries`·√t decisions, a geometric step
/// along it, and a binary search back; `iterations` times. Perturbations
/// respect `limits` (frozen columns, bounds, integer units) at every query.
/// Per row: `None` if the model is wrong on it already.
#[allow(clippy::too_many_arguments)]
pub fn hopskipjump(
    x: &Matrix,
    y: &[u32],
    limits: &[ColumnLimit],
    decide: &(dyn Fn(&[f64]) -> usize + Sync),
    iterations: usize,
    queries: usize,
    seed: u64,
    threads: usize,
) -> Vec<Option<Found>> {
    let d = x.cols;
    let free: Vec<usize> = (0..d).filter(|&j| limits[j].mutable).collect();
    // Rows are few and costly here: spread them one by one over the threads.
    let rows: Vec<usize> = (0..x.rows).collect();
    let parts = crate::frame::par_map(&rows, threads, |&i| {
        [i].into_iter()
            .map(|i| {
                let xi = x.row(i);
                let yi = y[i] as usize;
                if decide(xi) != yi {
                    return None;
                }
                let mut rng = ChaCha20Rng::seed_from_u64(
                    seed ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
                );
                // The point actually queried for a perturbation `delta`.
                let apply = |delta: &[f64], out: &mut Vec<f64>| {
                    out.clear();
                    out.extend((0..d).map(|j| xi[j] + constrain(xi[j], delta[j], &limits[j])));
                };
                let mut buf = Vec::with_capacity(d);
                let mut adversarial = |delta: &[f64]| -> bool {
                    apply(delta, &mut buf);
                    decide(&buf) != yi
                };
                let none = Some(Found {
                    linf: f64::INFINITY,
                    l2: f64::INFINITY,
                });
                if free.is_empty() {
                    return none;
                }
                // 1. A random adversarial point inside the bounds.
                let mut start = None;
                for _ in 0..100 {
                    let delta: Vec<f64> = (0..d)
                        .map(|j| {
                            let l = &limits[j];
                            if !l.mutable {
                                return 0.0;
                            }
                            let (lo, hi) = (
                                l.lo.max(xi[j] - 4.0).min(xi[j]),
                                l.hi.min(xi[j] + 4.0).max(xi[j]),
                            );
                            rng.random_range(0.0..=1.0) * (hi - lo) + lo - xi[j]
                        })
                        .collect();
                    if adversarial(&delta) {
                        start = Some(delta);
                        break;
                    }
                }
                let Some(mut adv) = start else { return none };
                // Binary search on the segment from the row to `adv`.
                let to_boundary =
                    |adv: &[f64], adversarial: &mut dyn FnMut(&[f64]) -> bool| -> Vec<f64> {
                        let (mut lo, mut hi) = (0.0, 1.0);
                        for _ in 0..25 {
                            let mid = 0.5 * (lo + hi);
                            let p: Vec<f64> = adv.iter().map(|v| v * mid).collect();
                            if adversarial(&p) { hi = mid } else { lo = mid }
                        }
                        adv.iter().map(|v| v * hi).collect()
                    };
                adv = to_boundary(&adv, &mut adversarial);
                let l2 = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
                for t in 1..=iterations {
                    let dist = l2(&adv);
                    if dist == 0.0 {
                        break;
                    }
                    // 2. The boundary's normal at `adv`, by sampling.
                    let radius = dist / d as f64;
                    let b = ((queries as f64) * (t as f64).sqrt()) as usize;
                    let mut samples: Vec<(Vec<f64>, f64)> = Vec::with_capacity(b);
                    for _ in 0..b.max(2) {
                        let mut u = vec![0.0; d];
                        for &j in &free {
                            u[j] = StandardNormal.sample(&mut rng);
                        }
                        let n = l2(&u).max(1e-12);
                        u.iter_mut().for_each(|v| *v /= n);
                        let probe: Vec<f64> =
                            adv.iter().zip(&u).map(|(a, b)| a + radius * b).collect();
                        let s = if adversarial(&probe) { 1.0 } else { -1.0 };
                        samples.push((u, s));
                    }
                    let mean = samples.iter().map(|s| s.1).sum::<f64>() / samples.len() as f64;
                    let mut grad = vec![0.0; d];
                    for (u, s) in &samples {
                        let w = if mean.abs() == 1.0 { *s } else { s - mean };
                        grad.iter_mut().zip(u).for_each(|(g, v)| *g += w * v);
                    }
                    let gn = l2(&grad);
                    if gn == 0.0 {
                        break;
                    }
                    grad.iter_mut().for_each(|g| *g /= gn);
                    // 3. A geometric step along it, then back to the boundary.
                    let mut step = dist / (t as f64).sqrt();
                    let mut moved = None;
                    for _ in 0..12 {
                        let cand: Vec<f64> =
                            adv.iter().zip(&grad).map(|(a, g)| a + step * g).collect();
                        if adversarial(&cand) {
                            moved = Some(cand);
                            break;
                        }
                        step /= 2.0;
                    }
                    let Some(cand) = moved else { break };
                    let next = to_boundary(&cand, &mut adversarial);
                    if l2(&next) < dist {
                        adv = next;
                    }
                }
                // The perturbation as queried (bounded, whole integer units).
                let applied: Vec<f64> = (0..d)
                    .map(|j| constrain(xi[j], adv[j], &limits[j]))
                    .collect();
                Some(Found {
                    linf: applied.iter().fold(0.0, |m, v| m.max(v.abs())),
                    l2: l2(&applied),
                })
            })
            .collect::<Vec<_>>()
    });
    parts.concat()
}
