//! Batch prediction over a CSV with a registered, verified model
//! (`warden model predict`): the package is verified before it is loaded,
//! each row is scored, and the label column, when the file has the model's
//! target, is compared with the predictions.

use std::io::Read;

use serde::Serialize;
use warden_core::VersionRef;
use warden_data::read::{CsvOptions, read_csv};

use crate::{Error, Workspace, frame_for_model};

/// One scored row.
#[derive(Debug, Clone, Serialize)]
pub struct PredictedRow {
    /// 1-based row number in the input.
    pub row: usize,
    /// The most probable class (the first of equals).
    pub label: String,
    /// One probability per class, in the order of [`Predictions::classes`].
    pub probabilities: Vec<f64>,
}

/// The result of [`Workspace::predict_csv`].
#[derive(Debug, Clone, Serialize)]
pub struct Predictions {
    /// `NAME@N` of the model that scored the rows.
    pub model: String,
    /// Digest of the verified package.
    pub digest: String,
    /// The trusted key whose signature verified the package.
    pub verified_by: String,
    /// The model's classes.
    pub classes: Vec<String>,
    /// Accuracy against the model's target column, when the input has it
    /// and its values are the model's classes.
    pub accuracy: Option<f64>,
    /// The target column compared with, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What the caller should know (e.g. labels that are not the model's
    /// classes, so no accuracy is given).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// One scored row per input row, in input order.
    pub predictions: Vec<PredictedRow>,
}

/// The number of worker threads for a request: `None` is every core;
/// zero is refused; at most 256.
pub fn threads(requested: Option<usize>) -> Result<usize, Error> {
    match requested {
        Some(0) => Err(Error::Usage("--threads must be at least 1".into())),
        Some(n) => Ok(n.min(256)),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

impl Workspace {
    /// Scores every row of a CSV with model `r` (verified before loading).
    /// `origin` names the input in errors (a path, or `-`).
    pub fn predict_csv(
        &self,
        r: &VersionRef,
        input: &mut (dyn Read + Send),
        csv: &CsvOptions,
        origin: &str,
        threads: usize,
    ) -> Result<Predictions, Error> {
        let loaded = self.load_model(r)?;
        let at = |e: &dyn std::fmt::Display| Error::Invalid(format!("{origin}: {e}"));
        let (table, _) = read_csv(input, csv).map_err(|e| at(&e))?;
        let p = &loaded.predictor;
        let frame = frame_for_model(p.as_ref(), &table).map_err(|e| at(&e))?;
        let probs = p.predict_frame(&frame, threads).map_err(|e| at(&e))?;
        let classes = p.classes().to_vec();
        if probs.cols != classes.len() {
            return Err(Error::Invalid(format!(
                "{}: the model gave {} probabilities per row for {} classes",
                loaded.info.reference(),
                probs.cols,
                classes.len()
            )));
        }
        let predictions: Vec<PredictedRow> = (0..probs.rows)
            .map(|i| {
                let row = probs.row(i);
                let best = (0..row.len()).fold(0, |b, c| if row[c] > row[b] { c } else { b });
                PredictedRow {
                    row: i + 1,
                    label: classes.get(best).cloned().unwrap_or_default(),
                    probabilities: row.to_vec(),
                }
            })
            .collect();
        let target = loaded.info.target().map(str::to_string);
        let mut warnings = Vec::new();
        let accuracy = match target.as_deref().and_then(|t| table.column(t)) {
            None => None,
            Some(col) => {
                let truth: Vec<Option<String>> =
                    (0..table.rows).map(|r| col.data.text(r)).collect();
                let foreign: std::collections::BTreeSet<&str> = truth
                    .iter()
                    .flatten()
                    .map(String::as_str)
                    .filter(|v| !classes.iter().any(|c| c == v))
                    .collect();
                if !foreign.is_empty() {
                    let shown: Vec<&str> = foreign.iter().take(5).copied().collect();
                    warnings.push(format!(
                        "column {:?} holds values that are not the model's classes ({}; classes: {}): no accuracy is given",
                        target.as_deref().unwrap_or(""),
                        shown.join(", "),
                        classes.join(", ")
                    ));
                    None
                } else {
                    let hits = truth
                        .iter()
                        .zip(&predictions)
                        .filter(|(t, p)| t.as_deref() == Some(p.label.as_str()))
                        .count();
                    Some(hits as f64 / table.rows.max(1) as f64)
                }
            }
        };
        Ok(Predictions {
            model: loaded.info.reference(),
            digest: loaded.info.record.digest.to_string(),
            verified_by: loaded.verified_by,
            classes,
            accuracy,
            target: target.filter(|t| table.column(t).is_some()),
            warnings,
            predictions,
        })
    }
}
