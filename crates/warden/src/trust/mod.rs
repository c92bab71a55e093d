//! Who may act and what the log proves: roles, keys (workspace and personal), the signed audit log
//! and its checks against registry state, pinned policies and witnesses, the user's own directory.

pub(crate) mod audit;
pub(crate) mod keys;
pub(crate) mod ledger;
pub(crate) mod pinning;
pub(crate) mod roles;
pub(crate) mod userdir;
pub(crate) mod witness;
