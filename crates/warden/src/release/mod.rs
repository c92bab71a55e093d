//! Release: the gates that decide promotion, approvals, quarantine and rollback, incidents, and
//! recorded scans.

pub(crate) mod approve;
pub(crate) mod gate;
pub(crate) mod incident;
pub(crate) mod scan;
