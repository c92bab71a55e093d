//! Models: training and importing into signed packages, loading only what verifies, batch
//! prediction, signing model directories, and the documents about a model (card, passport, ML-BOM,
//! lineage graph).

pub(crate) mod bom;
pub(crate) mod card;
pub(crate) mod lineage;
pub(crate) mod model;
pub(crate) mod passport;
pub(crate) mod predict;
pub(crate) mod signing;
