//! The documents Warden writes and keeps: typed, versioned, and described
//! by JSON Schemas (`docs/schemas/`, generated from these types and checked
//! in CI to be current). They are the contract for the hub API, the
//! console and other clients.
//!
//! Each carries `schema_version` (documents written before it existed read
//! as version 1) and its `format` name. Parts that belong to a lower
//! layer's own format (a model's architecture and preprocessing, an ONNX
//! input specification, training settings and reports) are that layer's
//! own types, strict about unknown fields, so a manifest is parsed whole,
//! once, where it is read. What stays JSON is what no Warden type owns: a
//! monitoring window's report as the monitor wrote it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_artifact::package::TensorSpec;
use warden_ml::model::Architecture;
use warden_ml::onnx::OnnxSpec;
use warden_ml::preprocess::Preprocessor;
use warden_ml::train::{DpReport, Metrics, OptimiserReport, TrainConfig};

/// The schema version written by this build.
pub const SCHEMA_VERSION: u32 = 1;

fn version_one() -> u32 {
    1
}

/// A dataset version: where it came from, what was done to it, what it
/// holds and what the checks found (`warden.dataset/v1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetManifest {
    /// Version of this document's schema ([`SCHEMA_VERSION`] when written by
    /// this build; 1 when absent).
    #[serde(default = "version_one")]
    pub schema_version: u32,
    /// `warden.dataset/v1`.
    pub format: String,
    /// The dataset's name.
    pub name: String,
    /// The version number, from 1; one more than the previous version's.
    pub version: u64,
    /// The source file as read.
    pub source: DatasetSource,
    /// What ingest did to the source, and its digest.
    pub transform: DatasetTransform,
    /// The stored table.
    pub output: DatasetOutput,
    /// The target, id, sensitive and feature columns.
    pub roles: DatasetRoles,
    /// What validation, PII detection and the poisoning screen found.
    pub checks: DatasetChecks,
    /// Digests of the ingest report's blobs.
    pub report: ReportDigests,
    /// The inputs and the previous version.
    pub lineage: DatasetLineage,
    /// The actor who ingested it.
    pub created_by: String,
    /// When it was ingested (RFC 3339).
    pub created_at: String,
}

/// The source file as it was read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetSource {
    /// Digest of the source bytes.
    pub digest: String,
    /// Size of the source, in bytes.
    pub bytes: u64,
    /// Data rows in the source, the header not counted.
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
    /// The transform itself.
    pub spec: TransformSpec,
}

/// What ingest was asked to do and did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TransformSpec {
    /// CSV reading options.
    pub csv: CsvOptions,
    /// Digest of the expectations file, when one was given.
    #[serde(default)]
    pub schema_digest: Option<String>,
    /// Digest of the PII policy in force.
    #[serde(default)]
    pub pii_policy_digest: Option<String>,
    /// The PII actions taken, per column.
    #[serde(default)]
    pub pii_actions: Vec<PiiAction>,
    /// Columns dropped, and why.
    #[serde(default)]
    pub dropped: Vec<DroppedColumn>,
    /// Whether the poisoning screen ran.
    #[serde(default)]
    pub screen: bool,
    /// The version of Warden that ran the ingest.
    pub warden_version: String,
}

/// How the source CSV was read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CsvOptions {
    /// The field delimiter, one character.
    pub delimiter: String,
    /// Whether fields were trimmed of surrounding spaces.
    pub trim: bool,
    /// The texts read as a missing value.
    pub missing: Vec<String>,
    /// The longest field accepted, in bytes.
    pub max_field_bytes: u64,
}

/// A PII action taken on a column at ingest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PiiAction {
    /// The column.
    pub column: String,
    /// The PII kind the whole column holds (`None`: it holds none).
    pub entity: Option<String>,
    /// PII kinds found inside the column's free text.
    #[serde(default)]
    pub embedded: Vec<String>,
    /// `drop`, `pseudonymise`, `mask`, `redact` or `keep`.
    pub action: String,
    /// `policy` when the PII policy chose it, else `default`.
    pub by: String,
}

/// A source column left out of the stored table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DroppedColumn {
    /// The column.
    pub column: String,
    /// Why, in words.
    pub reason: String,
}

/// A column of the stored table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ColumnDecl {
    /// The column's name.
    pub name: String,
    /// Its type: `integer`, `float`, `boolean`, `categorical` or `text`.
    #[serde(rename = "type")]
    pub column_type: String,
}

/// The stored table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetOutput {
    /// Digest of the canonical table.
    pub digest: String,
    /// `warden-canonical-csv/v1`.
    pub format: String,
    /// Rows in the stored table (fewer than the source's when suspects were
    /// dropped).
    pub rows: u64,
    /// Column names and types.
    pub schema: Vec<ColumnDecl>,
}

/// What each column is for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetRoles {
    /// The label column (`None`: none declared).
    pub target: Option<String>,
    /// The row id column (`None`: none declared).
    pub id: Option<String>,
    /// Sensitive attributes: kept for fairness checks, never features.
    pub sensitive: Vec<String>,
    /// The columns kept as features, in source order.
    pub features: Vec<String>,
}

/// What the data checks found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetChecks {
    /// Whether the table met the declared schema and expectations (always
    /// `true`: a failed expectation stops the ingest).
    pub schema_valid: bool,
    /// Personal data detected, and what remains unmasked.
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
    /// `sha256:` digest of the report's canonical JSON.
    pub json: String,
    /// `sha256:` digest of the report's Markdown.
    pub markdown: String,
}

/// Where a dataset version comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetLineage {
    /// The inputs it was made from (the source file).
    pub parents: Vec<LineageParent>,
    /// `NAME@V` of the version before, if any.
    pub previous_version: Option<String>,
}

/// One input of a dataset version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LineageParent {
    /// `source`.
    pub kind: String,
    /// The input's `sha256:` digest.
    pub digest: String,
}

/// A model package's manifest (`warden.model/v1`): what the model is, what
/// it takes and predicts, how it was trained or where it was imported from.
/// It is a file of the signed package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelManifest {
    /// Version of this document's schema ([`SCHEMA_VERSION`] when written by
    /// this build; 1 when absent).
    #[serde(default = "version_one")]
    pub schema_version: u32,
    /// `warden.model/v1`.
    pub format: String,
    /// The model's name.
    pub name: String,
    /// What kind of model it is and how it is built.
    pub model: ModelSection,
    /// Tensor names, dtypes and shapes of the weights (native models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensors: Option<BTreeMap<String, TensorSpec>>,
    /// The features a record must carry.
    pub input: ModelInput,
    /// The fitted preprocessing (native models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocessing: Option<Preprocessor>,
    /// The label column and the classes.
    pub labels: ModelLabels,
    /// How it was trained (models trained by Warden).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<Training>,
    /// The datasets, file and build it comes from.
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
        Some(self.training.as_ref()?.metrics.holdout.as_ref()?.accuracy)
    }

    /// The DP-SGD record, when it was trained with differential privacy.
    pub fn dp(&self) -> Option<&DpReport> {
        self.training.as_ref().and_then(|t| t.dp.as_ref())
    }

    /// The (ε, δ) guarantee of that record and the accountant that gave
    /// it.
    pub fn dp_guarantee(&self) -> Option<crate::policy_input::DpFacts> {
        self.dp().map(|dp| crate::policy_input::DpFacts {
            epsilon: Some(dp.epsilon),
            delta: Some(dp.delta),
            accountant: Some(dp.accountant.clone()),
        })
    }
}

/// The model itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelSection {
    /// `logreg` or `mlp` (trained by Warden), `onnx`, or a tree ensemble's
    /// file format: `xgboost-json`, `xgboost-ubjson`, `lightgbm-text`.
    pub kind: String,
    /// The network's shape (native models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<Architecture>,
    /// How records become the ONNX graph's input (ONNX models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<OnnxSpec>,
    /// The ONNX IR version of the file (ONNX models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ir_version: Option<i64>,
    /// Operator set imports: (domain, version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opsets: Option<Vec<(String, i64)>>,
    /// The program that wrote the ONNX file, or for a tree ensemble its
    /// library, objective, trees and iterations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    /// The operators the graph uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operators: Option<Vec<String>>,
}

/// The features a record must carry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelInput {
    /// The features, in the order the model takes them.
    pub features: Vec<FeatureSpec>,
}

/// One input feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FeatureSpec {
    /// The feature's name: the dataset column it is read from.
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
    /// Upper end of the training range (numeric features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Known categories (categorical features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Whether the value may be missing (it was missing in training; always
    /// `false` for imported models).
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
    pub config: TrainConfig,
    /// `sha256:` digest of the canonical JSON of the training settings with the
    /// dataset's manifest digest, target and features.
    pub config_digest: String,
    /// The random seed training used.
    pub seed: u64,
    /// The optimiser used (`lbfgs`, `adam`, `dp-sgd`), its iterations or
    /// steps, and whether L-BFGS converged.
    pub optimiser: OptimiserReport,
    /// DP-SGD settings and the privacy spent (`null`: trained without DP).
    pub dp: Option<DpReport>,
    /// Training and holdout metrics.
    pub metrics: TrainingMetrics,
}

/// Accuracy and log loss on the training and holdout splits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingMetrics {
    /// On the rows trained on.
    pub train: Metrics,
    /// On the rows held out (`None`: none were held out).
    pub holdout: Option<Metrics>,
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
    /// The version of Warden that built the package.
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
    /// The file's name, without its directory.
    pub file: String,
    /// `sha256:` digest of the file's bytes.
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
        (
            "evaluation-report.schema.json",
            schemars::schema_for!(crate::EvalReport),
        ),
        (
            "evaluation-record.schema.json",
            schemars::schema_for!(warden_store::EvaluationRecord),
        ),
        (
            "gate-outcome.schema.json",
            schemars::schema_for!(crate::GateOutcome),
        ),
        (
            "policy-input.schema.json",
            schemars::schema_for!(crate::policy_input::PolicyInput),
        ),
        (
            "gate-decision.schema.json",
            schemars::schema_for!(warden_store::GateDecisionRecord),
        ),
        (
            "approval.schema.json",
            schemars::schema_for!(warden_store::ApprovalRecord),
        ),
        (
            "quarantine.schema.json",
            schemars::schema_for!(warden_store::QuarantineRecord),
        ),
        (
            "incident.schema.json",
            schemars::schema_for!(warden_store::IncidentRecord),
        ),
        (
            "incident-report.schema.json",
            schemars::schema_for!(crate::incident::IncidentReport),
        ),
        (
            "scan-record.schema.json",
            schemars::schema_for!(warden_store::ScanRecord),
        ),
        (
            "evidence-record.schema.json",
            schemars::schema_for!(warden_store::EvidenceRecord),
        ),
        (
            "api-key.schema.json",
            schemars::schema_for!(warden_store::ApiKeyRecord),
        ),
        (
            "passport.schema.json",
            schemars::schema_for!(crate::Passport),
        ),
        (
            "role-grant.schema.json",
            schemars::schema_for!(warden_store::RoleGrant),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented example of the policy input is one.
    #[test]
    fn the_policy_input_example_is_a_policy_input() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/policy-input.example.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let typed: crate::policy_input::PolicyInput = serde_json::from_str(&text).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), doc);
    }

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
