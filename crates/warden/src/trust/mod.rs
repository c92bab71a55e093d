//! Who may act and what the log proves: roles, keys (workspace and personal), the signed audit log
//! and its checks against registry state, pinned policies and witnesses, the user's own directory,
//! and what a hub client checks on its own machine.

pub(crate) mod audit;
pub mod dsse;
pub mod hubclient;
pub(crate) mod keys;
pub(crate) mod ledger;
pub(crate) mod pinning;
pub(crate) mod roles;
pub(crate) mod tokens;
pub(crate) mod userdir;
pub(crate) mod witness;
