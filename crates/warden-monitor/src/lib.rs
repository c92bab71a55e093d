//! Watching a served model: whether what it sees still looks like what it
//! was trained on, and whether someone is probing it.
//!
//! - [`stats`]: the two-sample statistics (Kolmogorov–Smirnov with SciPy's
//!   p-values, Wasserstein, Jensen–Shannon, chi-square, z-test, PSI) and
//!   multiple-testing corrections.
//! - [`kstwo`]: the exact distribution of the one-sample KS statistic
//!   (SciPy's `kstwo`), which large two-sample tests use.
//! - [`drift`]: per-feature drift against a reference sample or a
//!   package's reference profile, verdicts on effect sizes, dataset and
//!   prediction drift.
//! - [`evidently`]: the tests and verdicts of Evidently's DataDriftPreset,
//!   for users comparing figures.
//! - [`online`]: live windows of served traffic, the out-of-distribution
//!   score (Mahalanobis) and per-key abuse signals.
//!
//! Everything here computes facts; what to do about them is decided by
//! Rego policy in the engine.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod drift;
pub mod evidently;
pub mod kstwo;
pub mod online;
pub mod stats;
