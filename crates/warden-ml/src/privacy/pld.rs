//! The privacy-loss-distribution (PLD) accountant for the Poisson-subsampled
//! Gaussian mechanism under add-or-remove-one adjacency: the method of
//! Google's `dp_accounting` (Koskela et al. 2020; Doroshenko et al. 2022,
//! "Connect the Dots"), written here because no Rust crate implements it.
//!
//! Each direction of the adjacency (remove: P = (1−q)N(0,σ²) + qN(1,σ²)
//! against Q = N(0,σ²); add: the reverse) has a privacy loss L = ln(P/Q)
//! under P, and ε is the smallest value with
//! δ(ε) = E_P[(1 − e^(ε−L))₊] <= δ, taken over both directions.
//!
//! Every approximation here moves the bound up (a *dominating* PLD), so ε is
//! an upper bound up to floating-point rounding:
//! - discretisation by connect-the-dots: the mass of each grid interval is
//!   split between its two ends so that total mass and E[e^−L] are kept;
//!   δ(ε) is then the chord of the true (convex in e^ε) curve, never below
//!   it. The loss's mean moves up by at most h²/8 per step for a grid step h.
//! - tails: the mass above the grid goes to +∞ (counted whole in δ), the
//!   mass below it moves up to the lowest point. Each truncation is
//!   budgeted so that together they add at most δ/1000 to δ(ε).
//! - composition: T-fold self-composition by repeated squaring with FFT
//!   convolution, regridding (again by connect-the-dots) to a coarser step
//!   as the distribution widens, so the work is bounded by about
//!   2·log₂T FFTs of at most 2¹⁶ points whatever q, σ and T.
//!
//! The grid steps are chosen so that the summed mean shift of all
//! regriddings stays under 0.1% of ε (found by a coarse first pass), or,
//! where that would need more points than the cap, as fine as the cap
//! allows. With q = 1 the mechanism is a plain Gaussian one, and ε comes
//! from its exact hockey-stick formula (Balle and Wang 2018).

use std::f64::consts::SQRT_2;
use std::sync::{LazyLock, Mutex};

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

use super::rdp::{log_erfc, log_mix};
use super::{PrivacyError, check, check_target};

/// The accountant's name, as reports should state it.
pub const ACCOUNTANT: &str = "PLD accountant (Poisson-subsampled Gaussian, add or remove one; \
     connect-the-dots discretisation, FFT composition; as Google's dp_accounting)";

/// Most points of a composed distribution (FFTs of 2¹⁶).
const MAX_POINTS: usize = 1 << 14;
/// Most points of the one-step distribution.
const MAX_BASE_POINTS: usize = 1 << 15;
/// Share of δ that truncating tails may add to δ(ε).
const TAIL_SHARE: f64 = 1e-3;
/// The variance that all discretisations together may add to the composed
/// loss, as a share of its true variance (connect-the-dots adds at most
/// h²/4 per point regridded, and moves the mean up by at most h²/8).
const VARIANCE_SHARE: f64 = 1e-3;
/// How much looser the first, coarse bound of each direction is.
const COARSE_FACTOR: f64 = 50.0;

/// ε after `steps` steps at sample rate `q` and noise multiplier `sigma`.
pub fn epsilon(q: f64, sigma: f64, steps: u64, delta: f64) -> Result<f64, PrivacyError> {
    check(q, sigma, steps, delta)?;
    if q == 1.0 {
        return Ok(gaussian_epsilon((steps as f64).sqrt() / sigma, delta));
    }
    epsilon_with(q, sigma, steps, delta, VARIANCE_SHARE)
}

/// The smallest noise multiplier (to within 1e-5 relative) whose ε is at
/// most `target`, and that ε.
pub fn noise_for_epsilon(
    target: f64,
    q: f64,
    steps: u64,
    delta: f64,
) -> Result<(f64, f64), PrivacyError> {
    check_target(target)?;
    check(q, 1.0, steps, delta)?;
    // ε tends to 0 as σ grows, so every target is reachable in principle;
    // the cap keeps the search finite.
    super::bisect_noise(target, 1e8, 1e-5, |s| epsilon(q, s, steps, delta))
}

/// ε over both directions, with `var_share` the share of the composed
/// loss's variance that discretisation may add. Both directions are first
/// bounded coarsely (a cheap upper bound); the one with the larger bound
/// is computed finely, and the other only if its coarse bound exceeds that.
fn epsilon_with(
    q: f64,
    sigma: f64,
    steps: u64,
    delta: f64,
    var_share: f64,
) -> Result<f64, PrivacyError> {
    // ε of one direction, and whether a finer budget could tighten it.
    let one = |dir: Direction, share: f64| -> Result<(f64, bool), PrivacyError> {
        let var = loss_variance(q, sigma, dir);
        let budget = Budget::new(steps, delta, share * var);
        let mut fft = Convolver::new();
        let eps = compose(&mut fft, q, sigma, dir, steps, &budget)?.epsilon(delta);
        Ok((eps, budget.budget_bound.get()))
    };
    // The two directions are independent: one thread each.
    let coarse_share = (COARSE_FACTOR * var_share).min(1.0);
    let (remove, add) = std::thread::scope(|scope| {
        let add = scope.spawn(|| one(Direction::Add, coarse_share));
        let remove = one(Direction::Remove, coarse_share);
        let add = add
            .join()
            .map_err(|_| PrivacyError::Numeric("a worker thread panicked".into()));
        (remove, add)
    });
    let (remove, add) = (remove?, add??);
    // Where the point caps, not the budget, chose every grid step, the fine
    // pass would repeat the coarse one.
    let refine = |dir: Direction, coarse: (f64, bool)| -> Result<f64, PrivacyError> {
        if coarse.1 {
            Ok(one(dir, var_share)?.0.min(coarse.0))
        } else {
            Ok(coarse.0)
        }
    };
    let (first, other, first_coarse, other_coarse) = if remove.0 >= add.0 {
        (Direction::Remove, Direction::Add, remove, add)
    } else {
        (Direction::Add, Direction::Remove, add, remove)
    };
    let fine = refine(first, first_coarse)?;
    if other_coarse.0 <= fine {
        return Ok(fine);
    }
    Ok(fine.max(refine(other, other_coarse)?))
}

/// The variance of one step's privacy loss under P, by the trapezoidal
/// rule in x (a smooth integrand with Gaussian tails; two passes, so the
/// mean does not cancel the variance away).
fn loss_variance(q: f64, sigma: f64, dir: Direction) -> f64 {
    let s2 = sigma * sigma;
    let (lo, hi) = (-14.0 * sigma, 1.0 + 14.0 * sigma);
    let n = 4096usize;
    let step = (hi - lo) / n as f64;
    let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
    let point = |i: usize| {
        let x = lo + i as f64 * step;
        let phi0 = norm * (-x * x / (2.0 * s2)).exp();
        let (density, loss) = match dir {
            Direction::Remove => {
                let phi1 = norm * (-(x - 1.0) * (x - 1.0) / (2.0 * s2)).exp();
                ((1.0 - q) * phi0 + q * phi1, loss_remove(q, s2, x))
            }
            Direction::Add => (phi0, -loss_remove(q, s2, x)),
        };
        let w = if i == 0 || i == n { 0.5 } else { 1.0 };
        (w * density * step, loss)
    };
    let mean: f64 = (0..=n)
        .map(|i| {
            let (w, l) = point(i);
            w * l
        })
        .sum();
    (0..=n)
        .map(|i| {
            let (w, l) = point(i);
            w * (l - mean) * (l - mean)
        })
        .sum::<f64>()
        .max(0.0)
}

/// Exact ε of the Gaussian mechanism with μ = sensitivity·√T/σ:
/// δ(ε) = Φ(−ε/μ + μ/2) − e^ε·Φ(−ε/μ − μ/2), solved by bisection and
/// rounded up.
pub fn gaussian_epsilon(mu: f64, delta: f64) -> f64 {
    let delta_at = |eps: f64| {
        let a = -eps / mu + mu / 2.0;
        let b = -eps / mu - mu / 2.0;
        let first = 0.5 * libm::erfc(-a / SQRT_2);
        let second = (eps + 0.5f64.ln() + log_erfc(-b / SQRT_2)).exp();
        first - second
    };
    if delta_at(0.0) <= delta {
        return 0.0;
    }
    let (mut low, mut high) = (0.0f64, 1.0f64);
    while delta_at(high) > delta {
        low = high;
        high *= 2.0;
        if high > 1e300 {
            return f64::INFINITY;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if mid <= low || mid >= high {
            break;
        }
        if delta_at(mid) > delta {
            low = mid;
        } else {
            high = mid;
        }
    }
    high
}

/// Standard normal upper tail.
fn norm_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / SQRT_2)
}

/// A z with P(Z > z) <= eta (from P(Z > z) <= e^(−z²/2)/2).
fn tail_z(eta: f64) -> f64 {
    (2.0 * (0.5 / eta).ln()).max(0.0).sqrt()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Direction {
    /// P = (1−q)N(0,σ²) + qN(1,σ²), Q = N(0,σ²); L increases with x.
    Remove,
    /// P = N(0,σ²), Q = the mixture; L decreases with x.
    Add,
}

/// How much slack each operation may use.
struct Budget {
    /// Set when some grid step was chosen by the variance budget rather
    /// than by the point caps (a finer budget would change the result).
    budget_bound: std::cell::Cell<bool>,
    steps: u64,
    /// Tail mass each operation may move, before dividing by its copies.
    tail_per_op: f64,
    /// Variance each operation may add over all the copies of its result
    /// in the composition, per step of those copies.
    var_per_op: f64,
}

impl Budget {
    /// `var_share_of_step` is the variance one step's loss may gain.
    fn new(steps: u64, delta: f64, var_share_of_step: f64) -> Self {
        let levels = (64 - steps.leading_zeros()) as f64;
        // The base, then at most two shrinks per level.
        let ops = 2.0 * levels + 1.0;
        Budget {
            budget_bound: std::cell::Cell::new(false),
            steps,
            tail_per_op: TAIL_SHARE * delta / ops,
            var_per_op: var_share_of_step / ops,
        }
    }

    /// Grid step for a distribution of `span` steps used `copies` times:
    /// copies·h²/4 <= var_per_op·steps, the composed variance's share,
    /// so h grows with the square root of the steps it stands for.
    fn step_for(&self, copies: u64) -> f64 {
        (4.0 * self.var_per_op * self.steps as f64 / copies.max(1) as f64).sqrt()
    }

    fn tail_for(&self, copies: u64) -> f64 {
        self.tail_per_op / copies.max(1) as f64
    }
}

/// A discrete PLD: `mass[i]` at loss `origin + i·h`, and `inf` at +∞.
#[derive(Clone, Debug)]
struct Pld {
    origin: f64,
    h: f64,
    mass: Vec<f64>,
    inf: f64,
}

impl Pld {
    fn loss(&self, i: usize) -> f64 {
        self.origin + i as f64 * self.h
    }

    fn top(&self) -> f64 {
        self.loss(self.mass.len().saturating_sub(1))
    }

    /// The smallest ε >= 0 with δ(ε) <= delta, where
    /// δ(ε) = inf + Σ_{ℓᵢ > ε} pᵢ(1 − e^(ε−ℓᵢ)). Walks down from the top
    /// keeping A = Σ_{j>i} pⱼ and S = Σ_{j>i} pⱼe^(ℓᵢ−ℓⱼ), so nothing
    /// overflows whatever the losses; inside the crossing interval δ(ε) is
    /// inf + A − e^(ε−ℓᵢ)S, solved exactly.
    fn epsilon(&self, delta: f64) -> f64 {
        if self.inf >= delta {
            return f64::INFINITY;
        }
        let n = self.mass.len();
        if n == 0 {
            return 0.0;
        }
        let decay = (-self.h).exp();
        let (mut above, mut scaled) = (0.0f64, 0.0f64);
        for i in (0..n - 1).rev() {
            let p = self.mass[i + 1];
            above += p;
            scaled = decay * (scaled + p);
            if self.inf + above - scaled > delta {
                let eps = self.loss(i) + ((self.inf + above - delta) / scaled).ln();
                return eps.max(0.0);
            }
        }
        // Below the lowest point every mass counts.
        let p = self.mass[0];
        let all = above + p;
        let scaled0 = scaled + p;
        if self.inf + all <= delta || scaled0 <= 0.0 {
            return 0.0;
        }
        let eps = self.loss(0) + ((self.inf + all - delta) / scaled0).ln();
        eps.max(0.0)
    }

    /// Moves at most `tail` of mass from each end: the top to +∞, the
    /// bottom up to the lowest point kept.
    fn truncate(&mut self, tail: f64) {
        let n = self.mass.len();
        if n < 3 || tail <= 0.0 {
            return;
        }
        let (mut hi, mut cut) = (n, 0.0f64);
        while hi > 2 && cut + self.mass[hi - 1] <= tail {
            cut += self.mass[hi - 1];
            hi -= 1;
        }
        self.inf += cut;
        self.mass.truncate(hi);
        let (mut lo, mut moved) = (0usize, 0.0f64);
        while lo + 2 < self.mass.len() && moved + self.mass[lo] <= tail {
            moved += self.mass[lo];
            lo += 1;
        }
        if lo > 0 {
            self.mass.drain(..lo);
            self.mass[0] += moved;
            self.origin += lo as f64 * self.h;
        }
    }

    /// Connect-the-dots onto the grid origin + k·h2 (h2 >= h): a mass at
    /// loss x between grid points a < b goes to b in the share
    /// (1 − e^−(x−a))/(1 − e^−h2) and to a otherwise, which keeps the mass
    /// and E[e^−L] and never lowers δ(ε).
    fn regrid(&self, h2: f64) -> Pld {
        let span = self.top() - self.origin;
        let n2 = ((span / h2).ceil() as usize + 1).max(2);
        let mut mass = vec![0.0; n2];
        let denom = -(-h2).exp_m1();
        for (i, &p) in self.mass.iter().enumerate() {
            if p == 0.0 {
                continue;
            }
            let x = i as f64 * self.h;
            let k = ((x / h2).floor() as usize).min(n2 - 2);
            let frac = x - k as f64 * h2;
            // Round-off can leave tiny negative masses: split the share,
            // not the mass, within [0, 1].
            let share = (-(-frac).exp_m1() / denom).clamp(0.0, 1.0);
            let up = p * share;
            mass[k] += p - up;
            mass[k + 1] += up;
        }
        Pld {
            origin: self.origin,
            h: h2,
            mass,
            inf: self.inf,
        }
    }

    /// [`Pld::regrid`] to m·h: every old point sits at one of m offsets
    /// from a new one, so the m splits are computed once.
    fn coarsen(&self, m: usize) -> Pld {
        let n = self.mass.len();
        let n2 = (n - 1).div_ceil(m) + 1;
        let h2 = m as f64 * self.h;
        let denom = -(-h2).exp_m1();
        let shares: Vec<f64> = (0..m)
            .map(|r| (-(-(r as f64 * self.h)).exp_m1() / denom).clamp(0.0, 1.0))
            .collect();
        let mut mass = vec![0.0; n2];
        for (i, &p) in self.mass.iter().enumerate() {
            let (k, r) = (i / m, i % m);
            if r == 0 {
                mass[k] += p;
            } else {
                let up = p * shares[r];
                mass[k] += p - up;
                mass[k + 1] += up;
            }
        }
        Pld {
            origin: self.origin,
            h: h2,
            mass,
            inf: self.inf,
        }
    }

    /// Truncates the tails and coarsens the grid (to a whole multiple of
    /// its step) where the budget for `copies` copies allows it, or where
    /// the point cap requires it.
    fn shrink(mut self, budget: &Budget, copies: u64) -> Pld {
        self.truncate(budget.tail_for(copies));
        let n = self.mass.len();
        let by_budget = budget.step_for(copies) / self.h;
        let by_cap = (n.saturating_sub(1)).div_ceil(MAX_POINTS - 1);
        if by_budget > by_cap as f64 {
            budget.budget_bound.set(true);
        }
        let m = if by_budget > 1.5 {
            (by_budget.round() as usize).max(by_cap)
        } else {
            by_cap
        };
        if m >= 2 { self.coarsen(m) } else { self }
    }
}

/// The loss of the remove direction at x: ln(1 − q + q·e^((2x−1)/(2σ²))).
fn loss_remove(q: f64, s2: f64, x: f64) -> f64 {
    log_mix(q, (2.0 * x - 1.0) / (2.0 * s2))
}

/// The x at which the remove direction's loss equals `l` (−∞ below its
/// least value ln(1 − q)).
fn x_of_loss(q: f64, s2: f64, l: f64) -> f64 {
    let u = if l > 1.0 {
        l - q.ln() + (-(1.0 - q) * (-l).exp()).ln_1p()
    } else {
        let v = l.exp_m1() + q;
        if v <= 0.0 {
            return f64::NEG_INFINITY;
        }
        v.ln() - q.ln()
    };
    s2 * u + 0.5
}

/// Tails of N(c, σ²) at a threshold: (z, P(Z > |z|)) with z = (t − c)/σ.
#[derive(Clone, Copy)]
struct Tail {
    z: f64,
    small: f64,
}

impl Tail {
    fn new(t: f64, c: f64, sigma: f64) -> Self {
        let z = (t - c) / sigma;
        Tail {
            z,
            small: if z.is_finite() { norm_sf(z.abs()) } else { 0.0 },
        }
    }

    /// P(Z > z).
    fn upper(self) -> f64 {
        if self.z >= 0.0 {
            self.small
        } else {
            1.0 - self.small
        }
    }

    /// P(Z < z).
    fn lower(self) -> f64 {
        if self.z <= 0.0 {
            self.small
        } else {
            1.0 - self.small
        }
    }

    /// P(a < Z < b) for a <= b, from whichever tails keep precision.
    fn between(a: Tail, b: Tail) -> f64 {
        let m = if a.z >= 0.0 {
            a.small - b.small
        } else if b.z <= 0.0 {
            b.small - a.small
        } else {
            1.0 - a.small - b.small
        };
        m.max(0.0)
    }
}

/// The one-step PLD of `dir` on a grid of step `h` (or coarser, if the
/// range needs more than the cap), with tails past `tail` mass moved
/// pessimistically.
fn base(q: f64, sigma: f64, dir: Direction, h: f64, tail: f64) -> Pld {
    let s2 = sigma * sigma;
    // x-range holding all but `tail` of P's mass: under the remove
    // direction's mixture the N(1, σ²) part carries weight q only, so its
    // bound may sit lower.
    let z = tail_z(tail / 2.0);
    let (lo, hi) = match dir {
        Direction::Remove => {
            let top = (sigma * z).max(1.0 + sigma * tail_z(tail / (2.0 * q)));
            (loss_remove(q, s2, -sigma * z), loss_remove(q, s2, top))
        }
        Direction::Add => (
            -loss_remove(q, s2, sigma * z),
            -loss_remove(q, s2, -sigma * z),
        ),
    };
    let h = h.max((hi - lo) / (MAX_BASE_POINTS - 2) as f64);
    let i_lo = (lo / h).floor();
    let n = (((hi / h).ceil() - i_lo) as usize + 1).max(2);
    let origin = i_lo * h;
    // Thresholds in x of every grid loss, and both components' tails there.
    let thresholds: Vec<(Tail, Tail)> = (0..n)
        .map(|i| {
            let l = origin + i as f64 * h;
            let t = match dir {
                Direction::Remove => x_of_loss(q, s2, l),
                Direction::Add => x_of_loss(q, s2, -l),
            };
            (Tail::new(t, 0.0, sigma), Tail::new(t, 1.0, sigma))
        })
        .collect();
    let mut mass = vec![0.0; n];
    let denom = -(-h).exp_m1();
    for i in 0..n - 1 {
        let (a, b) = match dir {
            Direction::Remove => (thresholds[i], thresholds[i + 1]),
            Direction::Add => (thresholds[i + 1], thresholds[i]),
        };
        let m0 = Tail::between(a.0, b.0);
        let m1 = Tail::between(a.1, b.1);
        let mix = (1.0 - q) * m0 + q * m1;
        let (p, qm) = match dir {
            Direction::Remove => (mix, m0),
            Direction::Add => (m0, mix),
        };
        if p <= 0.0 {
            continue;
        }
        let a_loss = origin + i as f64 * h;
        let up = if a_loss > 700.0 {
            p
        } else {
            ((p - a_loss.exp() * qm) / denom).clamp(0.0, p)
        };
        mass[i] += p - up;
        mass[i + 1] += up;
    }
    let (first, last) = (thresholds[0], thresholds[n - 1]);
    let (below, above) = match dir {
        Direction::Remove => (
            (1.0 - q) * first.0.lower() + q * first.1.lower(),
            (1.0 - q) * last.0.upper() + q * last.1.upper(),
        ),
        Direction::Add => (first.0.upper(), last.0.lower()),
    };
    mass[0] += below;
    Pld {
        origin,
        h,
        mass,
        inf: above,
    }
}

/// The `steps`-fold composition of the one-step PLD of `dir`, by binary
/// powers: level j holds the composition of 2^j steps, which enters the
/// result when bit j of `steps` is set and is squared for level j + 1.
fn compose(
    fft: &mut Convolver,
    q: f64,
    sigma: f64,
    dir: Direction,
    steps: u64,
    budget: &Budget,
) -> Result<Pld, PrivacyError> {
    let h0 = budget.step_for(steps);
    let mut d = base(q, sigma, dir, h0, budget.tail_for(steps));
    if d.h <= h0 {
        budget.budget_bound.set(true);
    }
    let mut acc: Option<Pld> = None;
    let mut rem = steps;
    let mut level = 0u32;
    loop {
        let take = rem & 1 == 1;
        rem >>= 1;
        let more = rem != 0;
        let mut squared = None;
        if take {
            acc = Some(match acc.take() {
                None => d.clone(),
                Some(a) if a.h <= d.h => {
                    // One transform of d serves the product and the square.
                    let a = if a.h < d.h { a.regrid(d.h) } else { a };
                    let (sq, prod) = fft.level(&d, more, Some(&a))?;
                    squared = sq;
                    prod.unwrap_or(a).shrink(budget, 1)
                }
                Some(a) => {
                    // The result is on a coarser grid than d: bring a copy
                    // of d to it.
                    let dd = d.regrid(a.h);
                    let (_, prod) = fft.level(&dd, false, Some(&a))?;
                    prod.unwrap_or(a).shrink(budget, 1)
                }
            });
        }
        if !more {
            break;
        }
        level += 1;
        let sq = match squared {
            Some(sq) => sq,
            None => fft.level(&d, true, None)?.0.unwrap_or(d),
        };
        // d now stands for 2^level steps, used steps >> level times.
        d = sq.shrink(budget, budget.steps >> level);
    }
    Ok(acc.unwrap_or(d))
}

/// FFT plans, shared by every computation in the process (planning costs
/// more than a transform of the sizes used here).
static PLANNER: LazyLock<Mutex<RealFftPlanner<f64>>> =
    LazyLock::new(|| Mutex::new(RealFftPlanner::new()));

fn planner() -> Result<std::sync::MutexGuard<'static, RealFftPlanner<f64>>, PrivacyError> {
    PLANNER
        .lock()
        .map_err(|_| PrivacyError::Numeric("the FFT plan cache was poisoned".into()))
}

/// Linear convolution by real-input FFTs (`realfft`), with buffers kept
/// from one call to the next (fresh pages for every transform cost more
/// than the transform).
struct Convolver {
    real: Vec<f64>,
    dspec: Vec<Complex<f64>>,
    spec: Vec<Complex<f64>>,
    work: Vec<Complex<f64>>,
}

impl Convolver {
    fn new() -> Self {
        Convolver {
            real: Vec::new(),
            dspec: Vec::new(),
            spec: Vec::new(),
            work: Vec::new(),
        }
    }

    /// The spectrum of `x` zero-padded to `n` points, into `out`.
    fn spectrum(
        real: &mut Vec<f64>,
        x: &[f64],
        n: usize,
        out: &mut Vec<Complex<f64>>,
    ) -> Result<(), PrivacyError> {
        let plan = planner()?.plan_fft_forward(n);
        real.clear();
        real.extend_from_slice(x);
        real.resize(n, 0.0);
        out.clear();
        out.resize(n / 2 + 1, Complex::new(0.0, 0.0));
        plan.process(real, out)
            .map_err(|e| PrivacyError::Numeric(e.to_string()))
    }

    /// The first `len` points of the inverse transform of `spec`, scaled.
    /// FFT round-off leaves tiny values of either sign where the true
    /// masses are 0; they are kept as they are, since cutting the negative
    /// ones to 0 would add a bias that every later squaring doubles.
    fn inverse(
        real: &mut Vec<f64>,
        spec: &mut [Complex<f64>],
        n: usize,
        len: usize,
    ) -> Result<Vec<f64>, PrivacyError> {
        let plan = planner()?.plan_fft_inverse(n);
        // The product of two real sequences' spectra is real at 0 and n/2;
        // clear the round-off there, which the inverse would refuse.
        if let Some(first) = spec.first_mut() {
            first.im = 0.0;
        }
        if let Some(last) = spec.last_mut() {
            last.im = 0.0;
        }
        real.clear();
        real.resize(n, 0.0);
        plan.process(spec, real)
            .map_err(|e| PrivacyError::Numeric(e.to_string()))?;
        let scale = 1.0 / n as f64;
        Ok(real[..len].iter().map(|v| v * scale).collect())
    }

    /// The compositions `d∘d` (when `square`) and `a∘d` (when `a` is given,
    /// on d's grid step), sharing d's transform.
    fn level(
        &mut self,
        d: &Pld,
        square: bool,
        a: Option<&Pld>,
    ) -> Result<(Option<Pld>, Option<Pld>), PrivacyError> {
        let nd = d.mass.len();
        let sq_len = 2 * nd - 1;
        let prod_len = a.map_or(0, |a| a.mass.len() + nd - 1);
        let n = (if square { sq_len } else { 0 })
            .max(prod_len)
            .next_power_of_two()
            .max(2);
        Self::spectrum(&mut self.real, &d.mass, n, &mut self.dspec)?;
        let prod = match a {
            Some(a) => {
                Self::spectrum(&mut self.real, &a.mass, n, &mut self.spec)?;
                for (x, y) in self.spec.iter_mut().zip(&self.dspec) {
                    *x *= y;
                }
                Some(Pld {
                    origin: a.origin + d.origin,
                    h: d.h,
                    mass: Self::inverse(&mut self.real, &mut self.spec, n, prod_len)?,
                    inf: 1.0 - (1.0 - a.inf) * (1.0 - d.inf),
                })
            }
            None => None,
        };
        let sq = if square {
            self.work.clear();
            self.work.extend(self.dspec.iter().map(|x| x * x));
            Some(Pld {
                origin: 2.0 * d.origin,
                h: d.h,
                mass: Self::inverse(&mut self.real, &mut self.work, n, sq_len)?,
                inf: 1.0 - (1.0 - d.inf) * (1.0 - d.inf),
            })
        } else {
            None
        };
        Ok((sq, prod))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_errors() {
        assert!(epsilon(0.0, 1.0, 10, 1e-5).is_err());
        assert!(epsilon(0.1, 0.0, 10, 1e-5).is_err());
        assert!(epsilon(0.1, 1.0, 0, 1e-5).is_err());
        assert!(epsilon(0.1, 1.0, 10, 0.0).is_err());
        assert!(noise_for_epsilon(0.0, 0.1, 10, 1e-5).is_err());
    }

    #[test]
    fn one_step_pld_keeps_mass_and_the_moment() {
        for dir in [Direction::Remove, Direction::Add] {
            let p = base(0.01, 1.0, dir, 1e-3, 1e-15);
            let total: f64 = p.mass.iter().sum::<f64>() + p.inf;
            assert!((total - 1.0).abs() < 1e-12, "{dir:?}: {total}");
            // E_P[e^-L] = Q(P > 0) = 1 (a little less for the mass at ∞).
            let moment: f64 = (0..p.mass.len())
                .map(|i| p.mass[i] * (-p.loss(i)).exp())
                .sum();
            assert!(
                moment <= 1.0 + 1e-9 && moment > 1.0 - 1e-9,
                "{dir:?}: {moment}"
            );
        }
    }

    #[test]
    fn gaussian_closed_form_matches_the_numeric_path() {
        // q = 1 through the discretised path must sit just above the exact
        // Gaussian ε.
        for (sigma, steps) in [(1.0, 1u64), (2.0, 100), (5.0, 1000)] {
            let exact = gaussian_epsilon((steps as f64).sqrt() / sigma, 1e-5);
            let numeric = epsilon_with(1.0, sigma, steps, 1e-5, VARIANCE_SHARE).unwrap();
            assert!(
                numeric >= exact * (1.0 - 1e-9),
                "{sigma} {steps}: {numeric} < {exact}"
            );
            assert!(
                numeric <= exact * 1.003,
                "{sigma} {steps}: {numeric} vs {exact}"
            );
        }
    }

    #[test]
    fn more_noise_or_fewer_steps_spend_less() {
        let a = epsilon(0.01, 1.0, 1000, 1e-5).unwrap();
        let b = epsilon(0.01, 1.5, 1000, 1e-5).unwrap();
        let c = epsilon(0.01, 1.0, 100, 1e-5).unwrap();
        assert!(b < a && c < a, "{a} {b} {c}");
    }

    #[test]
    fn noise_search_meets_the_target() {
        let (sigma, eps) = noise_for_epsilon(1.0, 0.01, 1000, 1e-5).unwrap();
        assert!(eps <= 1.0);
        assert!(epsilon(0.01, sigma * (1.0 - 1e-3), 1000, 1e-5).unwrap() > 1.0);
    }
}
