//! The data stage: ingesting a CSV as a versioned dataset (PII actions, the poisoning screen, the
//! manifest) and its lineage.

pub(crate) mod data;
