//! Machine learning for Warden. Today: the privacy accountant that DP-SGD
//! training and budget planning use ([`privacy`]).
//!
//! ```
//! use warden_ml::privacy::{epsilon, OPACUS_ORDERS};
//! let (eps, order) = epsilon(0.01, 1.1, 1000, 1e-5, &OPACUS_ORDERS).unwrap();
//! assert!((eps - 1.7117700912).abs() < 1e-6 && order == 9.6);
//! ```
#![forbid(unsafe_code)]

pub mod privacy;
