//! The store boundary for documents kept as text in registry rows:
//! manifests, file lists, evaluation reports, a gate decision's reasons and
//! monitoring windows. Each is parsed here, once per read, and a document
//! that does not parse is [`Error::Corrupt`] naming the row it came from;
//! nothing downstream ever sees a default in its place.

use std::collections::BTreeMap;

use serde_json::Value;
use warden_store::{
    DatasetRecord, EvaluationRecord, GateDecisionRecord, ModelRecord, MonitorWindowRecord,
};

use crate::documents::{DatasetManifest, ModelManifest};
use crate::error::{Error, parse_stored};

fn model_title(m: &ModelRecord) -> String {
    format!("model {}@{}", m.name, m.version)
}

/// A model version's manifest.
pub(crate) fn model_manifest(m: &ModelRecord) -> Result<ModelManifest, Error> {
    parse_stored(&m.manifest, model_title(m), "manifest")
}

/// A model version's package files: file name to digest.
pub(crate) fn model_files(m: &ModelRecord) -> Result<BTreeMap<String, String>, Error> {
    parse_stored(&m.files, model_title(m), "file list")
}

/// A dataset version's manifest.
pub(crate) fn dataset_manifest(d: &DatasetRecord) -> Result<DatasetManifest, Error> {
    parse_stored(
        &d.manifest,
        format!("dataset {}@{}", d.name, d.version),
        "manifest",
    )
}

/// A recorded evaluation's report.
pub(crate) fn evaluation_report(e: &EvaluationRecord) -> Result<crate::EvalReport, Error> {
    parse_stored(
        &e.report,
        format!("evaluation {} of {}@{}", e.id, e.model, e.model_version),
        "report",
    )
}

/// A gate decision's reasons (empty when it allowed).
pub(crate) fn decision_reasons(d: &GateDecisionRecord) -> Result<Vec<String>, Error> {
    parse_stored(
        &d.reasons,
        format!("gate decision on {}@{} for {}", d.model, d.version, d.env),
        "reasons",
    )
}

/// A closed monitoring window's report.
pub(crate) fn window_report(w: &MonitorWindowRecord) -> Result<Value, Error> {
    let title = || format!("monitoring window {} of {}", w.id, w.model);
    object(parse_stored(&w.report, title(), "report")?, title)
}

/// Every document above is a JSON object; `null`, a number or a list in
/// its place is as corrupt as text that does not parse.
fn object(v: Value, title: impl FnOnce() -> String) -> Result<Value, Error> {
    if v.is_object() {
        Ok(v)
    } else {
        Err(Error::Corrupt {
            object: title(),
            document: "document",
            detail: format!("expected a JSON object, found {}", kind(&v)),
        })
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
