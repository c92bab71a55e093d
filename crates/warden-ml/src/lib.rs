//! Machine learning for Warden, in pure Rust: the preprocessing that ships
//! inside a model package ([`preprocess`]), logistic regression and a small
//! MLP ([`model`]), training by L-BFGS, Adam or DP-SGD ([`train`]) with the
//! PLD and RDP accountants ([`privacy`]), the training data's reference profile
//! ([`profile`]), ONNX models run by tract ([`onnx`]) or, for tree ensembles,
//! compiled ([`trees`]), XGBoost and LightGBM tree ensembles read from their
//! own formats ([`boosted`]), and the [`Predictor`] trait every served model
//! implements.
//!
//! ```
//! use warden_ml::privacy::{epsilon, Accountant};
//! let rdp = epsilon(Accountant::Rdp, 0.01, 1.1, 1000, 1e-5).unwrap();
//! assert!((rdp.epsilon - 1.7117700912).abs() < 1e-6 && rdp.order == Some(9.6));
//! let pld = epsilon(Accountant::Pld, 0.01, 1.1, 1000, 1e-5).unwrap();
//! assert!(pld.epsilon < rdp.epsilon);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod boosted;
pub mod fairness;
pub mod frame;
pub mod lbfgs;
pub mod metrics;
pub mod model;
pub mod onnx;
pub mod predictor;
pub mod preprocess;
pub mod privacy;
pub mod profile;
pub mod robust;
pub mod train;
pub mod trees;

pub use frame::{FeatureColumn, Frame, Labels, Matrix};
pub use predictor::{InputKind, NativePredictor, Prediction, Predictor};
pub use train::{DpConfig, DpTarget, ModelKind, TrainConfig, Trained};

/// Errors from training and prediction.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    /// The data cannot be trained on or predicted from.
    #[error("{0}")]
    Input(String),
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
    /// The privacy accountant refused its inputs or failed.
    #[error("privacy accountant: {0}")]
    Privacy(#[from] privacy::PrivacyError),
    /// Training left a parameter infinite or NaN (the message suggests a
    /// lower learning rate).
    #[error("{0}")]
    Diverged(String),
    /// A model file (XGBoost, LightGBM) is malformed or not supported.
    #[error("{0}")]
    Format(#[from] boosted::FormatError),
}
