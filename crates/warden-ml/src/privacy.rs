//! The Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism
//! (DP-SGD), with the same order grid and RDP-to-(ε, δ) conversion as
//! Opacus's `RDPAccountant` (Mironov, Talwar and Zhang 2019, section 3.3, for
//! log A_α at integer and fractional orders; the conversion of Balle et al.
//! 2020). Written here because no Rust crate implements it; it is checked
//! against figures produced by Opacus itself (see the tests).

use serde::Serialize;

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

/// Inputs outside the mechanism's domain.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrivacyError {
    #[error("sample rate must be in (0, 1], got {0}")]
    SampleRate(f64),
    #[error("noise multiplier must be a positive finite number, got {0}")]
    Noise(f64),
    #[error("delta must be in (0, 1), got {0}")]
    Delta(f64),
    #[error("steps must be at least 1")]
    Steps,
    #[error("target epsilon must be a positive finite number, got {0}")]
    Target(f64),
    #[error("no noise multiplier up to {0} reaches epsilon {1}")]
    Unreachable(f64, f64),
}

fn log_add(x: f64, y: f64) -> f64 {
    let (a, b) = if x < y { (x, y) } else { (y, x) };
    if a == f64::NEG_INFINITY {
        return b;
    }
    (a - b).exp().ln_1p() + b
}

/// log(exp(x) - exp(y)) for x >= y (the series' later terms are smaller).
fn log_sub(x: f64, y: f64) -> f64 {
    if y == f64::NEG_INFINITY || x < y {
        return x;
    }
    if x == y {
        return f64::NEG_INFINITY;
    }
    let d = (x - y).exp_m1();
    if d.is_infinite() { x } else { d.ln() + y }
}

/// ln(erfc(x)), accurate where erfc underflows (asymptotic series).
fn log_erfc(x: f64) -> f64 {
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

fn log_a_frac(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let s2 = std::f64::consts::SQRT_2 * sigma;
    let mut i = 0u64;
    // The terms fall off super-exponentially; the bound only guards against
    // a pathological input looping for ever.
    while i < 100_000 {
        let (log_coef, positive) = log_binom(alpha, i);
        let fi = i as f64;
        let j = alpha - fi;
        let log_t0 = log_coef + fi * q.ln() + j * (1.0 - q).ln();
        let log_t1 = log_coef + j * q.ln() + fi * (1.0 - q).ln();
        let log_e0 = 0.5f64.ln() + log_erfc((fi - z0) / s2);
        let log_e1 = 0.5f64.ln() + log_erfc((z0 - j) / s2);
        let log_s0 = log_t0 + (fi * fi - fi) / (2.0 * sigma * sigma) + log_e0;
        let log_s1 = log_t1 + (j * j - j) / (2.0 * sigma * sigma) + log_e1;
        if positive {
            log_a0 = log_add(log_a0, log_s0);
            log_a1 = log_add(log_a1, log_s1);
        } else {
            log_a0 = log_sub(log_a0, log_s0);
            log_a1 = log_sub(log_a1, log_s1);
        }
        i += 1;
        if log_s0.max(log_s1) < -30.0 {
            break;
        }
    }
    log_add(log_a0, log_a1)
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

fn check(q: f64, sigma: f64, steps: u64, delta: f64) -> Result<(), PrivacyError> {
    if !(q > 0.0 && q <= 1.0) {
        return Err(PrivacyError::SampleRate(q));
    }
    if !(sigma > 0.0 && sigma.is_finite()) {
        return Err(PrivacyError::Noise(sigma));
    }
    if steps == 0 {
        return Err(PrivacyError::Steps);
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(PrivacyError::Delta(delta));
    }
    Ok(())
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
    pub noise_multiplier: f64,
    pub epsilon: f64,
    pub order: f64,
}

/// The smallest noise multiplier (to within 1e-6 relative) whose ε after
/// `steps` steps is at most `target`.
pub fn noise_for_epsilon(
    target: f64,
    q: f64,
    steps: u64,
    delta: f64,
    orders: &[f64],
) -> Result<NoisePlan, PrivacyError> {
    if !(target > 0.0 && target.is_finite()) {
        return Err(PrivacyError::Target(target));
    }
    check(q, 1.0, steps, delta)?;
    const MAX_SIGMA: f64 = 1e6;
    let (mut low, mut high) = (0.0f64, 1.0f64);
    let mut at_high = epsilon(q, high, steps, delta, orders)?;
    while at_high.0 > target {
        low = high;
        high *= 2.0;
        if high > MAX_SIGMA {
            return Err(PrivacyError::Unreachable(MAX_SIGMA, target));
        }
        at_high = epsilon(q, high, steps, delta, orders)?;
    }
    while high - low > 1e-6 * high {
        let mid = 0.5 * (low + high);
        let at_mid = epsilon(q, mid, steps, delta, orders)?;
        if at_mid.0 <= target {
            high = mid;
            at_high = at_mid;
        } else {
            low = mid;
        }
    }
    Ok(NoisePlan {
        noise_multiplier: high,
        epsilon: at_high.0,
        order: at_high.1,
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
