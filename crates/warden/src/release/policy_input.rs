//! The gate's policy input, typed: the facts Rust computes about one model
//! version for one environment, on which the Rego gate decides.
//!
//! Serialised, a [`PolicyInput`] is the JSON document the policies read as
//! `input` (`docs/policy-input.md` describes it field by field, and
//! `docs/schemas/policy-input.schema.json` is generated from these types).
//! A field that only some cases have is left out, not written as `null`,
//! where the policies tell the two apart (`input.provenance.error` exists
//! only when provenance failed to verify). The passport and the ML-BOM read
//! the same facts through these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::evaluation::evaluate::AtRadius;
use crate::release::evidence::EvidenceFinding;
use warden_core::Timestamp;
use warden_ml::metrics::Figure;

/// Everything the gate decides on, for one version and one environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyInput {
    /// The document's version ([`crate::POLICY_INPUT_VERSION`]).
    pub version: u64,
    /// The environment the version is gated for.
    pub env: String,
    /// The version itself.
    pub model: ModelFacts,
    /// Whether the version is under quarantine now.
    pub quarantined: bool,
    /// The package's signature, as verified now (one entry).
    pub signatures: Vec<SignatureFact>,
    /// The latest recorded scan of the package.
    pub scan: ScanFacts,
    /// The latest report of each outside tool recorded for the version.
    pub evidence: Vec<EvidenceFact>,
    /// The package's build provenance, as verified now.
    pub provenance: ProvenanceFacts,
    /// The datasets the version was trained or imported with.
    pub datasets: Vec<DatasetFacts>,
    /// How the version was trained; `null` for an imported model.
    pub training: Option<TrainingFacts>,
    /// The version's latest evaluation; `null` when it has none.
    pub evaluation: Option<EvaluationFacts>,
    /// The environment's current holder when it is another version.
    pub baseline: Option<BaselineFacts>,
    /// The signed approvals recorded for this version and environment.
    pub approvals: Vec<ApprovalFact>,
    /// The model card's completeness.
    pub model_card: CardFacts,
    /// The audit log, verified for this decision.
    pub log: LogFacts,
}

/// The version being gated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelFacts {
    /// The model's name.
    pub name: String,
    /// The version number.
    pub version: u64,
    /// The package's digest.
    pub digest: String,
    /// Who registered the version.
    pub author: String,
    /// The model's kind (`logistic_regression`, `onnx`, …).
    pub kind: String,
    /// Imported rather than trained here (no gradients, no known split).
    pub imported: bool,
}

/// The package's signature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignatureFact {
    /// The key that signed it (or that the package names, when it failed).
    pub key: String,
    /// The signing key's id, when the signature verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The signature verifies over the package's files.
    pub valid: bool,
    /// The key is one of the workspace's.
    pub trusted: bool,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The latest scan of the package. Without a scan only `scanned`,
/// `max_severity` (`none`) and `findings` (empty) are present.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScanFacts {
    /// Whether a scan is recorded.
    pub scanned: bool,
    /// The scan's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_id: Option<u64>,
    /// The allow-list profile it ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// When it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_at: Option<Timestamp>,
    /// The most severe finding (`none`, `low`, `medium`, `high`, `critical`).
    pub max_severity: String,
    /// Findings by severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<SeverityCounts>,
    /// Files scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    /// Files that could not be scanned in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<u64>,
    /// The first findings (at most the gate's limit).
    pub findings: Vec<ScanFinding>,
    /// The digest of the full report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

/// Findings by severity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SeverityCounts {
    /// Critical findings.
    pub critical: u64,
    /// High findings.
    pub high: u64,
    /// Medium findings.
    pub medium: u64,
    /// Low findings.
    pub low: u64,
}

/// One finding of the scan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScanFinding {
    /// The package file it is in.
    pub file: String,
    /// The rule that matched.
    pub rule: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// What was found.
    pub message: String,
    /// The archive member, when the file is an archive.
    pub member: Option<String>,
}

/// The latest report of one outside tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceFact {
    /// The evidence record's id.
    pub id: u64,
    /// The tool's name.
    pub tool: String,
    /// What kind of tool it is.
    pub kind: String,
    /// When it was recorded.
    pub recorded_at: Timestamp,
    /// Seconds since then.
    pub age_seconds: i64,
    /// How many findings it reports.
    pub findings: u64,
    /// Findings by severity.
    pub counts: BTreeMap<String, u64>,
    /// The highest score of a finding (0 to 10).
    pub max_score: f64,
    /// The most severe findings.
    pub top: Vec<EvidenceFinding>,
    /// The digest of the stored report.
    pub report: String,
}

/// The package's build provenance. Without one only `present` and
/// `verified` (both `false`) are present; when it fails, `error` says why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProvenanceFacts {
    /// The package carries a provenance statement.
    pub present: bool,
    /// It verifies with the package's key and names the package's source.
    pub verified: bool,
    /// The sandbox the training command ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// The sandbox had no network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_isolated: Option<bool>,
    /// The source tree had uncommitted changes (absent when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
    /// The statement's build type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_type: Option<String>,
    /// The digest of the statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_digest: Option<String>,
    /// Why it failed to verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A dataset the version was trained or imported with, and its checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetFacts {
    /// The dataset's name.
    pub name: String,
    /// Its version.
    pub version: u64,
    /// Its manifest's digest.
    pub digest: String,
    /// Its source file's digest was pinned by someone.
    pub pinned: bool,
    /// It met its schema.
    pub schema_valid: bool,
    /// Personal data found and left unmasked.
    pub pii: crate::documents::PiiCheck,
    /// The poisoning screen ran.
    pub screened: bool,
    /// The share of rows the screen suspects.
    pub suspect_fraction: Option<f64>,
    /// The screen's estimate of wrong labels.
    pub label_noise: Option<crate::documents::LabelNoiseCheck>,
    /// Rows whose labels were corrected.
    pub relabelled: Option<u64>,
}

/// How the version was trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrainingFacts {
    /// The training seed.
    pub seed: u64,
    /// The differential-privacy guarantee, when trained with DP-SGD.
    pub dp: Option<DpFacts>,
}

/// A differential-privacy guarantee.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DpFacts {
    /// ε.
    pub epsilon: Option<f64>,
    /// δ.
    pub delta: Option<f64>,
    /// The accountant that computed ε.
    pub accountant: Option<String>,
}

/// The figures of an evaluation that the policies read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvaluationFacts {
    /// The evaluation's id.
    pub id: u64,
    /// The dataset it ran on (`NAME@N`), when it ran on a stored one.
    pub dataset: Option<String>,
    /// Performance.
    pub metrics: MetricFacts,
    /// Fairness, by sensitive attribute (or intersection).
    pub fairness: BTreeMap<String, FairnessFacts>,
    /// Robust accuracy by attack, at each radius.
    pub robustness: BTreeMap<String, Vec<AtRadius>>,
    /// Privacy risk.
    pub privacy: PrivacyFacts,
}

/// Performance figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricFacts {
    /// Accuracy.
    pub accuracy: f64,
    /// Balanced accuracy.
    pub balanced_accuracy: Figure,
    /// Macro-averaged F1.
    pub macro_f1: Figure,
    /// ROC AUC.
    pub roc_auc: Figure,
    /// Precision-recall AUC.
    pub pr_auc: Figure,
    /// Log loss.
    pub log_loss: Figure,
    /// Brier score.
    pub brier: Figure,
    /// Expected calibration error.
    pub ece: Figure,
}

/// Fairness figures for one attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FairnessFacts {
    /// Demographic parity difference.
    pub demographic_parity_difference: Figure,
    /// Demographic parity ratio.
    pub demographic_parity_ratio: Figure,
    /// Equalized odds difference.
    pub equalized_odds_difference: Figure,
    /// Equalized odds ratio.
    pub equalized_odds_ratio: Figure,
    /// Equal opportunity difference.
    pub equal_opportunity_difference: Figure,
    /// Disparate impact.
    pub disparate_impact: Figure,
}

/// Privacy risk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PrivacyFacts {
    /// The membership inference AUC of the stronger attack; `null` when
    /// not measured.
    pub membership_inference_auc: Option<Figure>,
}

/// The environment's current holder, when it is another version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BaselineFacts {
    /// Its version number.
    pub version: u64,
    /// Its latest evaluation.
    pub evaluation: Option<EvaluationFacts>,
}

/// One signed approval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalFact {
    /// Who approved.
    pub approver: String,
    /// The key's name as recorded.
    pub key: String,
    /// The id of the key that signed the envelope.
    pub key_id: Option<String>,
    /// That key's owner.
    pub key_owner: Option<String>,
    /// The envelope verifies, for this version and environment, with an
    /// acknowledged approval key of the approver's.
    pub valid: bool,
    /// Why it does not, when it does not.
    pub error: Option<String>,
    /// The approver is not the version's author.
    pub distinct_from_author: bool,
    /// The approver is not the one promoting.
    pub distinct_from_promoter: bool,
    /// When it was recorded.
    pub time: Timestamp,
}

/// The model card's completeness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CardFacts {
    /// Sections only a person can write that are still empty.
    pub missing: Vec<String>,
}

/// The audit log, verified for the decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogFacts {
    /// Events in the log.
    pub size: u64,
    /// Every check of `audit verify` passed.
    pub verified: bool,
    /// The first problems found, at most three.
    pub problems: Vec<String>,
    /// Cosignatures by the witnesses the gate data names.
    pub cosignatures: Vec<crate::witness::CosignatureFact>,
}
