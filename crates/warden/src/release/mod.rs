//! Release: the gates that decide promotion, approvals, quarantine and rollback, incidents, and
//! recorded scans and evidence from other tools.

pub(crate) mod approve;
pub(crate) mod evidence;
pub(crate) mod gate;
pub(crate) mod incident;
pub mod policy_input;
pub(crate) mod scan;
