//! Keys, signatures and (as the project grows) the model package.
//!
//! This crate owns every piece of cryptography Warden performs:
//!
//! - [`keys`]: ECDSA P-256, ECDSA P-384 and Ed25519 signing keys stored as
//!   PKCS#8 PEM files (mode 0600, optionally encrypted with a passphrase
//!   using the standard PKCS#8 PBES2 form: scrypt and AES-256-CBC), their
//!   public halves as SPKI PEM, and key ids (`sha256:` of the DER
//!   SubjectPublicKeyInfo).
//! - [`note`]: C2SP signed notes and tlog checkpoints, which sign the audit
//!   log's tree head.
//! - [`model_signing`]: signing and verifying OpenSSF model-signing
//!   signatures (Sigstore bundle, DSSE, in-toto) over a model directory.
//! - [`package`]: the model package directory, read and checked strictly,
//!   and its safetensors weights.
//!
//! ```
//! use warden_artifact::keys::{Algorithm, SigningKey};
//! let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
//! let sig = key.sign(b"hello");
//! assert!(key.public_key().verify(b"hello", &sig).is_ok());
//! assert!(key.public_key().verify(b"hellO", &sig).is_err());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod keys;
pub mod model_signing;
pub mod note;
pub mod package;
