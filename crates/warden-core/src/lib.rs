//! The vocabulary every other Warden crate speaks, and nothing else.
//!
//! This crate holds the small types that cross crate boundaries: content
//! digests ([`Digest`]), RFC 8785 canonical JSON ([`canonical_json`]),
//! validated names for actors, roles and keys ([`ActorName`], [`RoleName`],
//! [`KeyName`]), timestamps ([`Timestamp`]) and the audit event
//! ([`AuditEvent`]) that is a leaf of the tamper-evident log. It does no I/O.
//!
//! ```
//! use warden_core::{canonical_json, Digest};
//! let bytes = canonical_json(&serde_json::json!({"b": 1, "a": [true, null]})).unwrap();
//! assert_eq!(bytes, br#"{"a":[true,null],"b":1}"#);
//! assert_eq!(Digest::of(b"").to_string(),
//!     "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod action;
mod audit;
mod canonical;
mod digest;
mod name;
mod timestamp;

pub use action::{Action, UnknownAction};
pub use audit::{AuditEvent, actions};
pub use canonical::{CanonicalError, canonical_json};
pub use digest::{Digest, DigestError, Hasher};
pub use name::{ActorName, KeyName, NameError, ObjectName, RoleName, VersionRef};
pub use timestamp::Timestamp;
