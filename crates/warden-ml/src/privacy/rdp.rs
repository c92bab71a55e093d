//! The Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism
//! (DP-SGD), with the same order grid and RDP-to-(ε, δ) conversion as
//! Opacus's `RDPAccountant` (Mironov, Talwar and Zhang 2019, section 3.3, for
//! log A_α at integer and fractional orders; the conversion of Balle et al.
//! 2020). Written here because no Rust crate implements it; it is checked
//! against figures produced by Opacus itself (see the tests).
//!
//! At fractional orders log A_α is an integral, computed here by the
//! trapezoidal rule rather than Opacus's binomial series: the series' terms
//! fall off only polynomially when the sample rate is near 0.5 (hundreds of
//! thousands of terms, seconds per ε), while the integrand is analytic in a
//! strip of half-width πσ² and decays like a Gaussian, so the trapezoidal
//! rule with a step of a fraction of σ converges to double precision in a
//! few hundred points (error below e^-35 relative; see `log_a_frac`).

use serde::Serialize;

pub use super::PrivacyError;
use super::check;

/// The accountant's name, as reports should state it.
pub const ACCOUNTANT: &str =
    "RDP accountant (Poisson-subsampled Gaussian; Opacus order grid and conversion)";

/// Opacus's default orders: 1.1, 1.2, …, 10.9, then 12, 13, …, 63.
pub const OPACUS_ORDERS: [f64; 151] = {
    let mut o = [0.0; 151];
    let mut i = 0;
    while i < 99 {
        o[i] = 1.0 + (i as f64 + 1.0) / 10.0;
        i += 1;
    }
    while i < 151 {
        o[i] = (i - 99 + 12) as f64;
        i += 1;
    }
    o
};

pub(crate) fn log_add(x: f64, y: f64) -> f64 {
    let (a, b) = if x < y { (x, y) } else { (y, x) };
    if a == f64::NEG_INFINITY {
        return b;
    }
    (a - b).exp().ln_1p() + b
}

/// ln(erfc(x)), accurate where erfc underflows (asymptotic series).
pub(crate) fn log_erfc(x: f64) -> f64 {
    if x < 14.0 {
        libm::erfc(x).ln()
    } else {
        log_erfc_asymptotic(x)
    }
}

fn log_erfc_asymptotic(x: f64) -> f64 {
    // erfc(x) = exp(-x²)/(x√π) · (1 - 1/(2x²) + 3/(2x²)² - 15/(2x²)³ + …)
    let t = 1.0 / (2.0 * x * x);
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for k in 1..12 {
        term *= -((2 * k - 1) as f64) * t;
        sum += term;
    }
    -x * x - (x * std::f64::consts::PI.sqrt()).ln() + sum.ln()
}

/// ln|C(α, i)| and its sign, for real α and integer i >= 0.
fn log_binom(alpha: f64, i: u64) -> (f64, bool) {
    let (mut log, mut positive) = (0.0f64, true);
    for k in 0..i {
        let num = alpha - k as f64;
        if num < 0.0 {
            positive = !positive;
        }
        log += num.abs().ln() - ((k + 1) as f64).ln();
    }
    (log, positive)
}

fn log_a_int(q: f64, sigma: f64, alpha: u64) -> f64 {
    let mut log_a = f64::NEG_INFINITY;
    for i in 0..=alpha {
        let (lc, _) = log_binom(alpha as f64, i);
        let s = lc
            + i as f64 * q.ln()
            + (alpha - i) as f64 * (1.0 - q).ln()
            + (i * i) as f64 / (2.0 * sigma * sigma)
            - i as f64 / (2.0 * sigma * sigma);
        log_a = log_add(log_a, s);
    }
    log_a
}

/// ln(1 − q + q·e^u), the privacy loss of the remove direction at
/// u = (2x − 1)/(2σ²), without overflow or cancellation.
pub(crate) fn log_mix(q: f64, u: f64) -> f64 {
    if u > 0.0 {
        u + (q + (1.0 - q) * (-u).exp()).ln()
    } else {
        (q * u.exp_m1()).ln_1p()
    }
}

/// log A_α = log E_{x~N(0,σ²)}[(1 − q + q·e^((2x−1)/(2σ²)))^α] by the
/// trapezoidal rule. The integrand is a Gaussian bump near x = 0 (weight
/// (1−q)^α) plus one near x = α (weight q^α·e^(α(α−1)/(2σ²))), with Gaussian
/// tails of width σ, so [−14σ, α + 14σ] holds all but e^-98 of it. It is
/// analytic in the strip |Im x| < πσ² (the zeros of 1 − q + q·e^u), and on
/// the line Im x = y the Gaussian factor grows by e^(y²/2σ²); with a step
/// of σ/k the error is then below e^(y²/2σ² − 2πky/σ), which at
/// y = min(πσ², 2πkσ) is under e^-35 for the k chosen here.
/// Where A_α − 1 is small the integral of (…)^α − 1 is taken instead, so
/// log A_α keeps its relative precision when α·q²/σ² is tiny.
fn log_a_frac(q: f64, sigma: f64, alpha: f64) -> f64 {
    let s2 = sigma * sigma;
    let k = if sigma >= 6.0 {
        3.0
    } else {
        6.0f64.max(4.0 / sigma)
    };
    let step = sigma / k;
    let (lo, hi) = (-14.0 * sigma, alpha + 14.0 * sigma);
    let n = ((hi - lo) / step).ceil() as usize;
    let step = (hi - lo) / n as f64;
    let log_norm = -(sigma * (2.0 * std::f64::consts::PI).sqrt()).ln();
    let exponent = |x: f64| alpha * log_mix(q, (2.0 * x - 1.0) / (2.0 * s2));
    // The largest value of α·loss over the range decides the form.
    let top = exponent(hi).max(exponent(lo));
    if top < 0.5 {
        // Integrate (…)^α − 1 = expm1(α·loss) against the Gaussian.
        let mut sum = 0.0;
        for i in 0..=n {
            let x = lo + i as f64 * step;
            let w = if i == 0 || i == n { 0.5 } else { 1.0 };
            sum += w * (log_norm - x * x / (2.0 * s2)).exp() * exponent(x).exp_m1();
        }
        (sum * step).ln_1p()
    } else {
        let mut log_sum = f64::NEG_INFINITY;
        for i in 0..=n {
            let x = lo + i as f64 * step;
            let w: f64 = if i == 0 || i == n { 0.5 } else { 1.0 };
            log_sum = log_add(
                log_sum,
                w.ln() + log_norm - x * x / (2.0 * s2) + exponent(x),
            );
        }
        log_sum + step.ln()
    }
}

/// RDP of one step at order `alpha`.
fn rdp_one_step(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 1.0 {
        return alpha / (2.0 * sigma * sigma);
    }
    let log_a = if alpha.fract() == 0.0 {
        log_a_int(q, sigma, alpha as u64)
    } else {
        log_a_frac(q, sigma, alpha)
    };
    log_a / (alpha - 1.0)
}

/// (ε, optimal order) after `steps` steps at sample rate `q` and noise
/// multiplier `sigma`, for `delta`.
pub fn epsilon(
    q: f64,
    sigma: f64,
    steps: u64,
    delta: f64,
    orders: &[f64],
) -> Result<(f64, f64), PrivacyError> {
    check(q, sigma, steps, delta)?;
    let mut best = (f64::INFINITY, f64::NAN);
    for &a in orders {
        let rdp = rdp_one_step(q, sigma, a) * steps as f64;
        let eps = rdp - (delta.ln() + a.ln()) / (a - 1.0) + ((a - 1.0) / a).ln();
        if eps < best.0 {
            best = (eps, a);
        }
    }
    Ok(best)
}

/// The result of a noise search.
#[derive(Debug, Clone, Serialize)]
pub struct NoisePlan {
    /// σ: the noise standard deviation as a multiple of the clipping norm.
    pub noise_multiplier: f64,
    /// ε at that noise multiplier, at most the target.
    pub epsilon: f64,
    /// The order of the grid that gave `epsilon`.
    pub order: f64,
}

/// The smallest ε the conversion allows at `delta` over `orders`, whatever
/// the noise: RDP tends to 0 as σ grows, leaving
/// min_α [−(ln δ + ln α)/(α − 1) + ln((α − 1)/α)].
pub fn epsilon_floor(delta: f64, orders: &[f64]) -> f64 {
    orders
        .iter()
        .map(|&a| -(delta.ln() + a.ln()) / (a - 1.0) + ((a - 1.0) / a).ln())
        .fold(f64::INFINITY, f64::min)
}

/// The smallest noise multiplier (to within 1e-6 relative) whose ε after
/// `steps` steps is at most `target`. A target at or below
/// [`epsilon_floor`] fails at once.
pub fn noise_for_epsilon(
    target: f64,
    q: f64,
    steps: u64,
    delta: f64,
    orders: &[f64],
) -> Result<NoisePlan, PrivacyError> {
    super::check_target(target)?;
    check(q, 1.0, steps, delta)?;
    let floor = epsilon_floor(delta, orders);
    if target <= floor {
        return Err(PrivacyError::BelowRdpFloor {
            target,
            delta,
            floor,
        });
    }
    const MAX_SIGMA: f64 = 1e7;
    let mut order = f64::NAN;
    let (sigma, eps) = super::bisect_noise(target, MAX_SIGMA, 1e-6, |s| {
        epsilon(q, s, steps, delta, orders).map(|(e, _)| e)
    })?;
    if let Ok((_, o)) = epsilon(q, sigma, steps, delta, orders) {
        order = o;
    }
    Ok(NoisePlan {
        noise_multiplier: sigma,
        epsilon: eps,
        order,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_match_opacus_grid() {
        assert_eq!(OPACUS_ORDERS[0], 1.1);
        assert!((OPACUS_ORDERS[98] - 10.9).abs() < 1e-12);
        assert_eq!(OPACUS_ORDERS[99], 12.0);
        assert_eq!(OPACUS_ORDERS[150], 63.0);
    }

    #[test]
    fn log_erfc_is_continuous_at_the_switch() {
        for x in [14.0, 20.0, 26.0] {
            let direct = libm::erfc(x).ln();
            let series = log_erfc_asymptotic(x);
            assert!(
                (direct - series).abs() < 1e-12 * direct.abs(),
                "{x}: {direct} {series}"
            );
        }
        assert!(log_erfc(40.0).is_finite());
    }

    #[test]
    fn bad_inputs_are_errors() {
        let o = &OPACUS_ORDERS;
        assert!(epsilon(0.0, 1.0, 10, 1e-5, o).is_err());
        assert!(epsilon(0.1, 0.0, 10, 1e-5, o).is_err());
        assert!(epsilon(0.1, f64::NAN, 10, 1e-5, o).is_err());
        assert!(epsilon(0.1, 1.0, 0, 1e-5, o).is_err());
        assert!(epsilon(0.1, 1.0, 10, 1.0, o).is_err());
        assert!(noise_for_epsilon(-1.0, 0.1, 10, 1e-5, o).is_err());
    }

    #[test]
    fn a_target_below_the_floor_fails_at_once() {
        let floor = epsilon_floor(1e-5, &OPACUS_ORDERS);
        assert!(floor > 0.05 && floor < 0.2, "{floor}");
        let start = std::time::Instant::now();
        let err = noise_for_epsilon(floor * 0.99, 0.01, 1000, 1e-5, &OPACUS_ORDERS).unwrap_err();
        assert!(matches!(err, PrivacyError::BelowRdpFloor { .. }));
        assert!(start.elapsed().as_millis() < 100);
        // Just above the floor a noise multiplier exists (a large one).
        let plan = noise_for_epsilon(floor * 1.2, 0.01, 1000, 1e-5, &OPACUS_ORDERS).unwrap();
        assert!(plan.epsilon <= floor * 1.2);
    }

    /// The trapezoidal log A_α against the binomial series (Mironov et al.,
    /// section 3.3), summed to convergence where it converges fast.
    #[test]
    fn quadrature_matches_the_series() {
        fn series(q: f64, sigma: f64, alpha: f64) -> f64 {
            let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
            let s2 = std::f64::consts::SQRT_2 * sigma;
            let mut total = 0.0f64;
            for i in 0..400u64 {
                let (lc, positive) = log_binom(alpha, i);
                let (fi, j) = (i as f64, alpha - i as f64);
                let t0 = lc
                    + fi * q.ln()
                    + j * (1.0 - q).ln()
                    + (fi * fi - fi) / (2.0 * sigma * sigma)
                    + (0.5 * libm::erfc((fi - z0) / s2)).ln();
                let t1 = lc
                    + j * q.ln()
                    + fi * (1.0 - q).ln()
                    + (j * j - j) / (2.0 * sigma * sigma)
                    + (0.5 * libm::erfc((z0 - j) / s2)).ln();
                let sign = if positive { 1.0 } else { -1.0 };
                total += sign * (t0.exp() + t1.exp());
            }
            total.ln()
        }
        for (q, sigma, alpha) in [
            (0.01, 1.1, 9.6),
            (0.001, 0.8, 8.9),
            (0.05, 2.0, 3.3),
            (0.1, 4.0, 1.5),
        ] {
            let (a, b) = (log_a_frac(q, sigma, alpha), series(q, sigma, alpha));
            assert!(
                (a - b).abs() <= 1e-11 * b.abs(),
                "{q} {sigma} {alpha}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn sample_rates_near_one_half_are_fast() {
        let start = std::time::Instant::now();
        for q in [0.3, 0.5, 0.7, 0.99] {
            for sigma in [0.5, 1.0, 10.0] {
                let (eps, _) = epsilon(q, sigma, 1000, 1e-5, &OPACUS_ORDERS).unwrap();
                assert!(eps.is_finite() && eps > 0.0);
            }
        }
        assert!(start.elapsed().as_secs_f64() < 2.0);
        let plan = noise_for_epsilon(1.0, 0.5, 1000, 1e-5, &OPACUS_ORDERS).unwrap();
        assert!(plan.epsilon <= 1.0 && plan.noise_multiplier > 1.0);
    }

    #[test]
    fn noise_search_finds_the_smallest_sigma() {
        let plan = noise_for_epsilon(3.0, 0.01, 1000, 1e-5, &OPACUS_ORDERS).unwrap();
        assert!(plan.epsilon <= 3.0);
        let slightly_less = plan.noise_multiplier * (1.0 - 1e-4);
        assert!(
            epsilon(0.01, slightly_less, 1000, 1e-5, &OPACUS_ORDERS)
                .unwrap()
                .0
                > 3.0
        );
    }
}
