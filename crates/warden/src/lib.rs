//! The Warden engine: one function per lifecycle operation.
//!
//! Every front end (the `warden` CLI, the server) calls this crate and
//! nothing below it. A [`Workspace`] is an opened `warden.toml` plus its
//! `.warden/` directory: metadata store, blob store, keys and the
//! authorisation policy. Each operation follows the same spine:
//!
//! 1. **authorise** the actor with the Rego policy (`warden.authz`); a
//!    denial is recorded in the audit log and returned as [`Error::Denied`];
//! 2. **do the work**, computing facts in Rust;
//! 3. **write** the new state and its audit event in one transaction;
//! 4. **sign a checkpoint** of the audit log;
//! 5. return a typed, serialisable result for the front end to print.
//!
//! ```no_run
//! use warden::{Workspace, OpenOptions};
//! use warden_core::ActorName;
//! let ws = Workspace::init(std::path::Path::new("proj"), ActorName::new("ana")?, &OpenOptions::default())?;
//! let report = ws.audit_verify(None)?;
//! assert!(report.ok);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// The engine by stage; each folder's `mod.rs` says what it holds. The
// modules are named at the crate root as well, so one stage's code reaches
// another's as `crate::model`, `crate::audit`, and so on.
pub mod api;
mod config;
mod datasets;
pub mod documents;
mod error;
mod evaluation;
pub mod events;
mod models;
mod operate;
pub mod pipeline;
mod release;
mod stored;
mod threat;
mod trust;
mod workspace;

use datasets::data;
use evaluation::{evaluate, report_html};
use models::{card, lineage, model, passport, predict, signing};
use operate::{apikey, monitor, monitor_html, respond, serving, watch};
use release::{approve, evidence, gate, incident};
/// What a hub client checks and keeps on its own machine.
pub use trust::dsse;
pub use trust::hubclient;
use trust::{audit, keys, ledger, pinning, roles, tokens, userdir, witness};

pub use apikey::{
    API_KEY_PREFIX, ApiKeyCreated, ApiKeyVerifier, KeyRejection, api_key_id, parse_expiry,
};
pub use approve::{
    APPROVAL_PAYLOAD_TYPE, APPROVAL_PREDICATE, ApprovalPredicate, ApprovalStatement,
    ApprovalSubject, Approved, RolledBack, approval_statement, sign_approval,
};
pub use audit::{
    ConsistencyProof, EventOut, InclusionProof, ProofCheck, ProofFile, VerifyOptions,
    VerifyProblem, VerifyReport, check_proof,
};
pub use card::{CardAttached, HUMAN_SECTIONS, TO_WRITE, missing_sections};
pub use config::{BlobsConfig, Config};
pub use data::{
    DATASET_FORMAT, DatasetInfo, IngestOutcome, IngestRequest, Lineage, LineageNode, TABLE_FORMAT,
    open_csv,
};
pub use error::{Error, ErrorKind};
pub use evaluate::{
    AttackPlan, EVALUATION_FORMAT, EvalOutcome, EvalReport, EvalRequest, EvaluatedDataset,
    EvaluatedModel, PredictionsRequest, PrivacyRisk, StageProgress, check_attack_settings,
    evaluate_predictions, parse_privileged, report_markdown,
};
pub use evidence::{
    EvidenceFinding, EvidenceInfo, EvidenceKind, EvidenceRequest, EvidenceSummary,
    MAX_EVIDENCE_BYTES, ReportSource, severity_of, summarise_report,
};
pub(crate) use gate::gate_config;
pub use gate::{GateConfig, GateOutcome, POLICY_INPUT_VERSION, PromoteOutcome};
pub use incident::{INCIDENT_KINDS, IncidentOpened, IncidentReport};
pub use keys::{KeyInfo, KeyPurpose, KeySummary};
pub use lineage::{ModelLineage, Node as LineageGraphNode};
pub use model::{
    DEFAULT_CHECK_TOLERANCE, Exported, ImportCheck, ImportFeature, ImportOutcome, ImportRequest,
    ImportSchema, LoadedModel, ModelInfo, ModelSummary, Signer, TrainOutcome, TrainRequest,
    check_column, frame_for_model, frame_from_table, predictor_from_package, verify_package,
};
pub use monitor::{
    DriftOutcome, DriftReference, DriftRequest, Histogram as DriftHistogram, Skipped,
    drift_profile, drift_tables, drift_with,
};
pub use monitor_html::{drift_html, drift_markdown, drift_tests_text};
pub use operate::migrate::MigrateOutcome;
pub use passport::{
    Control, PASSPORT_FORMAT, Passport, PassportApproval, PassportDecision, PassportIncident,
    PassportLineage, PassportModel, VersionOverview,
};
pub use pinning::{AUTHZ_SCOPE, Pin, PinStatus, Registered};
pub use predict::{PredictedRow, Predictions, threads};
pub use release::policy_input;
pub use report_html::{GateLimits, report_html};
pub use respond::{OutcomeKind, Responded, Responder, Response};
pub use roles::RolesReport;
pub use serving::{
    FeatureRule, FieldError, FollowedTarget, InputRule, InputSchema, KeyCheck, MAX_LISTED_ERRORS,
    MAX_TEXT_CHARS, PackageListing, SERVING_ACTIONS, ServedModel, ServingState, ServingTarget,
    ValidationLimits, normalize_text, truncate as truncate_text,
};
pub use signing::{Verified, default_signature_path, verify_with_key_file};
pub use threat::{Risk, risks_csv, risks_markdown};
pub use tokens::{TOKEN_PREFIX, TokenCreated, TokenVerifier};
pub use userdir::user_dir;
pub use warden_artifact::keys::{Algorithm, KeyError};
pub use warden_artifact::note::NoteVerifier;
pub use watch::{KeyHold, MONITOR_ACTOR, MONITOR_ROLE, MonitorStatus, WindowInput, WindowOut};
pub use witness::{CosignatureFact, Witnessed, witness_key_generate};
pub use workspace::{CONFIG_FILE, OpenOptions, WORKSPACE_DIR, Workspace, upload_scratch};

/// Tables as the engine reads them: CSV options, the parsed table, its
/// profile and schema, detected PII entities, and the example data the
/// demo and tests generate.
pub mod table {
    pub use warden_data::example::{CreditOptions, generate_credit};
    pub use warden_data::pii::{Entity, redact_text};
    pub use warden_data::profile::{profile, profile_csv};
    pub use warden_data::read::{CsvOptions, read_csv};
    pub use warden_data::schema::schema_of;
    pub use warden_data::table::Table;
}

/// Training settings and what training measured.
pub mod train {
    pub use warden_ml::predictor::Prediction;
    pub use warden_ml::train::{DpConfig, DpTarget, Metrics, ModelKind, TrainConfig};
}

/// Differential-privacy accounting (`warden privacy`).
pub mod privacy {
    pub use warden_ml::privacy::{Accountant, PrivacyError, Spent, epsilon, noise_for_epsilon};
}

/// The figures an evaluation reports and the attacks it can run.
pub mod figures {
    pub use warden_ml::metrics::{Figure, Interval};
    pub use warden_ml::robust::Attack;
}

/// Drift thresholds, multiple-testing corrections and the online windows
/// the server's monitor keeps.
pub mod drift {
    pub use warden_monitor::drift::{FeatureDrift, TestValue, Thresholds, Verdict};
    pub use warden_monitor::online::{
        AbuseConfig, AbuseWatch, ModelWatch, Signal, WindowConfig, WindowResult,
    };
    pub use warden_monitor::stats::Correction;
}

/// The model-file and source-tree scanner (`warden scan`).
pub mod scanner {
    pub use warden_scan::sarif::to_sarif_at;
    pub use warden_scan::{
        Allowlist, Options, Profile, Report, Severity, Status, scan, scan_bytes,
    };
}

/// Re-exported so front ends need not depend on the lower crates directly.
pub use warden_store::{
    AccessTokenRecord, ApiKeyRecord, ApprovalRecord, ChangeListener, EvaluationRecord, EventFilter,
    IncidentRecord, QuarantineRecord, RoleGrant, ScanRecord, StagePointer,
};
