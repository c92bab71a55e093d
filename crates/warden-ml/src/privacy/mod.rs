//! Privacy accounting for DP-SGD: the (ε, δ) spent by `steps` steps of the
//! Poisson-subsampled Gaussian mechanism, and the noise multiplier that
//! keeps ε under a target.
//!
//! Two accountants, both giving upper bounds on ε:
//! - [`pld`] (the default): privacy-loss distributions discretised with
//!   connect-the-dots and composed by FFT, as Google's `dp_accounting` does;
//!   tight to within a fraction of a percent.
//! - [`rdp`]: Rényi DP with Opacus's order grid and conversion; looser (1.06×
//!   to 11× on common settings) and kept for comparison with Opacus reports.
//!
//! [`epsilon`] and [`noise_for_epsilon`] dispatch on [`Accountant`].

pub mod pld;
pub mod rdp;

use serde::Serialize;

pub use rdp::OPACUS_ORDERS;

/// Inputs outside the mechanism's domain, or a target no noise reaches.
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
    #[error(
        "the RDP accountant cannot certify epsilon {target} at delta {delta:e} with any noise: \
         with Opacus's orders its epsilon never falls below {floor:.6} (the PLD accountant can)"
    )]
    BelowRdpFloor { target: f64, delta: f64, floor: f64 },
}

/// Which accountant computes ε.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Accountant {
    /// Privacy-loss distributions (the default).
    #[default]
    Pld,
    /// Rényi DP with Opacus's orders.
    Rdp,
}

impl Accountant {
    /// The accountant's description, as reports state it.
    pub fn description(self) -> &'static str {
        match self {
            Accountant::Pld => pld::ACCOUNTANT,
            Accountant::Rdp => rdp::ACCOUNTANT,
        }
    }

    /// `pld` or `rdp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Accountant::Pld => "pld",
            Accountant::Rdp => "rdp",
        }
    }

    /// Parses `pld` or `rdp`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pld" => Some(Accountant::Pld),
            "rdp" => Some(Accountant::Rdp),
            _ => None,
        }
    }
}

/// ε spent, as one accountant computes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spent {
    pub accountant: Accountant,
    pub epsilon: f64,
    /// The RDP order that gave ε (RDP only).
    pub order: Option<f64>,
}

/// The result of a noise search.
#[derive(Debug, Clone, Serialize)]
pub struct NoisePlan {
    pub accountant: Accountant,
    pub noise_multiplier: f64,
    pub epsilon: f64,
    /// The RDP order that gave ε (RDP only).
    pub order: Option<f64>,
}

pub(crate) fn check(q: f64, sigma: f64, steps: u64, delta: f64) -> Result<(), PrivacyError> {
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

pub(crate) fn check_target(target: f64) -> Result<(), PrivacyError> {
    if !(target > 0.0 && target.is_finite()) {
        return Err(PrivacyError::Target(target));
    }
    Ok(())
}

/// ε after `steps` steps at sample rate `q` and noise multiplier `sigma`.
pub fn epsilon(
    accountant: Accountant,
    q: f64,
    sigma: f64,
    steps: u64,
    delta: f64,
) -> Result<Spent, PrivacyError> {
    match accountant {
        Accountant::Pld => Ok(Spent {
            accountant,
            epsilon: pld::epsilon(q, sigma, steps, delta)?,
            order: None,
        }),
        Accountant::Rdp => {
            let (epsilon, order) = rdp::epsilon(q, sigma, steps, delta, &OPACUS_ORDERS)?;
            Ok(Spent {
                accountant,
                epsilon,
                order: Some(order),
            })
        }
    }
}

/// The smallest noise multiplier (to within 1e-6 relative) whose ε is at
/// most `target`.
pub fn noise_for_epsilon(
    accountant: Accountant,
    target: f64,
    q: f64,
    steps: u64,
    delta: f64,
) -> Result<NoisePlan, PrivacyError> {
    match accountant {
        Accountant::Pld => {
            let (noise_multiplier, epsilon) = pld::noise_for_epsilon(target, q, steps, delta)?;
            Ok(NoisePlan {
                accountant,
                noise_multiplier,
                epsilon,
                order: None,
            })
        }
        Accountant::Rdp => {
            let p = rdp::noise_for_epsilon(target, q, steps, delta, &OPACUS_ORDERS)?;
            Ok(NoisePlan {
                accountant,
                noise_multiplier: p.noise_multiplier,
                epsilon: p.epsilon,
                order: Some(p.order),
            })
        }
    }
}

/// Bisection on a decreasing ε(σ) for the smallest σ with ε(σ) <= target,
/// to within `rel` relative. Starts from σ = 1 and doubles (or halves) to
/// bracket; gives up past `max_sigma`.
pub(crate) fn bisect_noise(
    target: f64,
    max_sigma: f64,
    rel: f64,
    mut eps: impl FnMut(f64) -> Result<f64, PrivacyError>,
) -> Result<(f64, f64), PrivacyError> {
    let (mut low, mut high) = (0.5f64, 1.0f64);
    let mut at_high = eps(high)?;
    if at_high <= target {
        // Shrink until the lower end is above the target (or tiny).
        loop {
            let at_low = eps(low)?;
            if at_low > target {
                break;
            }
            high = low;
            at_high = at_low;
            low *= 0.5;
            if low < 1e-6 {
                return Ok((high, at_high));
            }
        }
    } else {
        while at_high > target {
            low = high;
            high *= 2.0;
            if high > max_sigma {
                return Err(PrivacyError::Unreachable(max_sigma, target));
            }
            at_high = eps(high)?;
        }
    }
    while high - low > rel * high {
        let mid = 0.5 * (low + high);
        let at_mid = eps(mid)?;
        if at_mid <= target {
            high = mid;
            at_high = at_mid;
        } else {
            low = mid;
        }
    }
    Ok((high, at_high))
}
