//! The documents Warden writes and keeps: typed, versioned, and described
//! by JSON Schemas (`docs/schemas/`, generated from these types and checked
//! in CI to be current). They are the contract for the hub API, the
//! console and other clients.
//!
//! Each carries `schema_version` (documents written before it existed read
//! as version 1) and its `format` name. Parts that belong to a lower
//! layer's own format (a model's architecture and preprocessing, an ONNX
//! input specification, training settings, the ingest transform's PII
//! actions) are kept as JSON here and parsed by that layer's types where
//! they are used.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The schema version written by this build.
pub const SCHEMA_VERSION: u32 = 1;

fn version_one() -> u32 {
    1
}

/// A dataset version: where it came from, what was done to it, what it
/// holds and what the checks found (`warden.dataset/v1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetManifest {
    #[serde(default = "version_one")]
    pub schema_version: u32,
    /// `warden.dataset/v1`.
    pub format: String,
    pub name: String,
    pub version: u64,
    pub source: DatasetSource,
    pub transform: DatasetTransform,
    pub output: DatasetOutput,
    pub roles: DatasetRoles,
    pub checks: DatasetChecks,
    pub report: ReportDigests,
    pub lineage: DatasetLineage,
    pub created_by: String,
    pub created_at: String,
}

/// The source file as it was read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetSource {
    /// Digest of the source bytes.
    pub digest: String,
    pub bytes: u64,
    pub rows: u64,
    /// The file name given at ingest.
    pub name: String,
    /// Whether the source matched a pinned digest.
    pub pinned: bool,
}

/// The ingest transform and its digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetTransform {
    /// Digest of the canonical JSON of `spec`.
    pub digest: String,
    pub spec: TransformSpec,
}

/// What ingest was asked to do and did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TransformSpec {
    /// CSV reading options.
    pub csv: Value,
    /// Digest of the expectations file, when one was given.
    #[serde(default)]
    pub schema_digest: Option<String>,
    /// Digest of the PII policy in force.
    #[serde(default)]
    pub pii_policy_digest: Option<String>,
    /// The PII actions taken, per column.
    #[serde(default)]
    pub pii_actions: Value,
    /// Columns dropped, and why.
    #[serde(default)]
    pub dropped: Value,
    /// Whether the poisoning screen ran.
    #[serde(default)]
    pub screen: bool,
    pub warden_version: String,
}

/// The stored table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetOutput {
    /// Digest of the canonical table.
    pub digest: String,
    /// `warden-canonical-csv/v1`.
    pub format: String,
    pub rows: u64,
    /// Column names and types.
    pub schema: Vec<Value>,
}

/// What each column is for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetRoles {
    pub target: Option<String>,
    pub id: Option<String>,
    pub sensitive: Vec<String>,
    pub features: Vec<String>,
}

/// What the data checks found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetChecks {
    pub schema_valid: bool,
    pub pii: PiiCheck,
    /// Share of the stored rows the poisoning screen suspects (`None`: not
    /// screened; 0 when the suspects were dropped).
    pub suspect_fraction: Option<f64>,
    /// Suspect rows left out of the stored table (`data ingest
    /// --drop-suspects`); absent when they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_suspects: Option<u64>,
    /// Whether the screen found the labels too hard to separate to judge.
    #[serde(default)]
    pub low_separability: Option<bool>,
    /// The estimated share of wrong labels (`None`: not screened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_noise: Option<LabelNoiseCheck>,
    /// Rows whose label changed since the previous version (same id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relabelled: Option<u64>,
}

/// The poisoning screen's estimate of wrong labels, natural noise and
/// poisoning together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LabelNoiseCheck {
    /// Estimated share of wrong labels (confident learning).
    pub estimate: f64,
    /// Wilson 95% interval of the estimate over the labelled rows.
    pub interval: [f64; 2],
    /// How well the screen's model separates the classes out of fold.
    pub out_of_fold_auc: f64,
    /// The largest share the dataset's owner accepts for this dataset
    /// (`warden data ingest --max-label-noise`); the gate's default if none.
    pub limit: Option<f64>,
}

/// Personal data found, and what of it remains unmasked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PiiCheck {
    /// Kinds of personal data detected anywhere in the source.
    pub detected: Vec<String>,
    /// `column:kind` pairs whose raw values remain in the output.
    pub unmasked: Vec<String>,
}

/// Digests of a report's JSON and Markdown forms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReportDigests {
    pub json: String,
    pub markdown: String,
}

/// Where a dataset version comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetLineage {
    pub parents: Vec<LineageParent>,
    /// `NAME@V` of the version before, if any.
    pub previous_version: Option<String>,
}

/// One input of a dataset version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LineageParent {
    /// `source`.
    pub kind: String,
    pub digest: String,
}

/// A model package's manifest (`warden.model/v1`): what the model is, what
/// it takes and predicts, how it was trained or where it was imported from.
/// It is a file of the signed package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelManifest {
    #[serde(default = "version_one")]
    pub schema_version: u32,
    /// `warden.model/v1`.
    pub format: String,
    pub name: String,
    pub model: ModelSection,
    /// Tensor names, dtypes and shapes of the weights (native models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensors: Option<Value>,
    pub input: ModelInput,
    /// The fitted preprocessing (native models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocessing: Option<Value>,
    pub labels: ModelLabels,
    /// How it was trained (models trained by Warden).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<Training>,
    pub provenance: ModelProvenance,
}

impl ModelManifest {
    /// `NAME@V` of every dataset version it was trained on.
    pub fn dataset_refs(&self) -> Vec<&str> {
        self.provenance
            .datasets
            .iter()
            .map(|d| d.reference.as_str())
            .collect()
    }

    /// The input features' names, in order.
    pub fn feature_names(&self) -> Vec<&str> {
        self.input
            .features
            .iter()
            .map(|f| f.name.as_str())
            .collect()
    }

    /// Accuracy on the holdout split, when Warden trained it.
    pub fn holdout_accuracy(&self) -> Option<f64> {
        self.training.as_ref()?.metrics["holdout"]["accuracy"].as_f64()
    }

    /// The DP-SGD record, when it was trained with differential privacy.
    pub fn dp(&self) -> Option<&Value> {
        self.training
            .as_ref()
            .and_then(|t| t.dp.as_ref())
            .filter(|d| d.is_object())
    }
}

/// The model itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelSection {
    /// `logreg`, `mlp` or `onnx`.
    pub kind: String,
    /// The network's shape (native models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<Value>,
    /// How records become the ONNX graph's input (ONNX models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ir_version: Option<i64>,
    /// Operator set imports: (domain, version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opsets: Option<Vec<(String, i64)>>,
    /// The program that wrote the ONNX file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    /// The operators the graph uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operators: Option<Vec<String>>,
}

/// The features a record must carry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelInput {
    pub features: Vec<FeatureSpec>,
}

/// One input feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FeatureSpec {
    pub name: String,
    /// `numeric` or `categorical`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The dataset column's type it came from (`integer`, `float`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// Training range (numeric features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Known categories (categorical features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    pub nullable: bool,
}

/// What the model predicts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelLabels {
    /// The label column (an imported model may not name one).
    pub target: Option<String>,
    /// The classes, in the order of the model's outputs.
    pub classes: Vec<String>,
}

/// How a model was trained by Warden.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Training {
    /// The training settings.
    pub config: Value,
    pub config_digest: String,
    pub seed: u64,
    pub optimiser: Value,
    /// DP-SGD settings and the privacy spent (`null`: trained without DP).
    pub dp: Option<Value>,
    /// Training and holdout metrics.
    pub metrics: Value,
}

/// Where a model comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelProvenance {
    /// The dataset versions it was trained on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<DatasetUse>,
    /// The file it was imported from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceFile>,
    /// The reference batch an imported model reproduced at import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_check: Option<crate::model::ImportCheck>,
    /// The signed SLSA provenance of a model built by a pipeline's
    /// training command (the DSSE envelope is a file of the package).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildProvenance>,
    pub warden_version: String,
}

/// Where a package's SLSA provenance is, and what it says in brief.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildProvenance {
    /// The package file holding the DSSE envelope.
    pub file: String,
    /// `https://slsa.dev/provenance/v1`.
    pub predicate_type: String,
    /// SHA-256 of the in-toto statement (the envelope's payload).
    pub statement_digest: String,
    /// The sandbox the command ran in (`bubblewrap 0.8.0`), or `none`.
    pub sandbox: String,
    /// Whether the code directory had uncommitted changes (unknown outside git).
    pub dirty: Option<bool>,
}

/// A dataset version a model was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetUse {
    /// `NAME@V`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The dataset version's manifest digest.
    pub digest: String,
    /// The stored table's digest.
    #[serde(default)]
    pub output_digest: Option<String>,
}

/// An imported file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SourceFile {
    pub file: String,
    pub digest: String,
}

/// Every public document, by file name under `docs/schemas/`, with its
/// JSON Schema.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![
        (
            "dataset-manifest.schema.json",
            schemars::schema_for!(DatasetManifest),
        ),
        (
            "model-manifest.schema.json",
            schemars::schema_for!(ModelManifest),
        ),
        (
            "audit-event-payloads.schema.json",
            schemars::schema_for!(crate::events::Payload),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/schemas/` is what the types say; `WARDEN_WRITE_SCHEMAS=1`
    /// rewrites it.
    #[test]
    fn published_schemas_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schemas");
        let write = std::env::var_os("WARDEN_WRITE_SCHEMAS").is_some();
        let mut stale = Vec::new();
        for (name, schema) in schemas() {
            let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            let path = dir.join(name);
            if write {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name);
            }
        }
        assert!(
            stale.is_empty(),
            "docs/schemas is stale for {stale:?}: run `WARDEN_WRITE_SCHEMAS=1 cargo test -p warden published_schemas` and commit"
        );
    }
}
