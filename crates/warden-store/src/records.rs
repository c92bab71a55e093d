//! Plain rows exchanged with the metadata store.

use serde::Serialize;
use warden_core::{ActorName, KeyName, ObjectName, RoleName, Timestamp};

/// `actor` holds `role`, granted by `granted_by` at `time`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoleGrant {
    pub actor: ActorName,
    pub role: RoleName,
    pub granted_by: ActorName,
    pub time: Timestamp,
}

/// A key known to the workspace: one of its own signing keys (the private
/// half is a file under `.warden/keys/`) or a trusted public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    pub name: KeyName,
    /// `own` (the workspace holds the private key) or `trusted`.
    pub origin: String,
    /// `ecdsa-p256`, `ecdsa-p384` or `ed25519`.
    pub algorithm: String,
    /// `sha256:` digest of the DER SubjectPublicKeyInfo.
    pub key_id: String,
    pub public_pem: String,
    pub added_by: ActorName,
    pub added_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub revoked_by: Option<ActorName>,
    /// The principal whose key this is (`None`: recorded before keys had
    /// owners; such a key is never an approval key).
    pub owner: Option<ActorName>,
    /// What the key may sign: `approval`, `pipeline`, `log`, `release`.
    pub purpose: Option<String>,
    /// The admin who acknowledged an enrolled key.
    pub acknowledged_by: Option<ActorName>,
    pub acknowledged_at: Option<Timestamp>,
}

/// An audit event row exactly as stored, before any checking. `verify`
/// compares every field with the canonical `event` text and its leaf hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// Canonical JSON of the payload.
    pub payload: String,
    /// Canonical JSON of the event (the leaf data).
    pub event: String,
    /// Lowercase hex of the leaf hash.
    pub leaf_hash: String,
}

/// Which events `audit log` shows.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub since: Option<u64>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub limit: Option<u64>,
}

/// A signed checkpoint (C2SP tlog-checkpoint note) of the log at `size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    /// Lowercase hex of the root hash.
    pub root_hash: String,
    /// The whole signed note text.
    pub note: String,
    pub time: Timestamp,
}

/// A recorded dataset version (`NAME@V`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatasetRecord {
    pub name: ObjectName,
    pub version: u64,
    /// Digest of the manifest (the DatasetVersion object).
    pub digest: String,
    pub source_digest: String,
    pub output_digest: String,
    pub rows: u64,
    pub report_digest: String,
    pub report_md_digest: String,
    /// The manifest's canonical JSON.
    #[serde(skip)]
    pub manifest: String,
    pub created_by: ActorName,
    pub created_at: Timestamp,
}

/// A recorded model version (`NAME@V`): a package whose files are blobs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelRecord {
    pub name: ObjectName,
    pub version: u64,
    /// `sha256:` + the signature's root digest over the package files.
    pub digest: String,
    /// `logreg`, `mlp`, …
    pub kind: String,
    /// Canonical JSON: package-relative path → blob digest.
    #[serde(skip)]
    pub files: String,
    pub signature_digest: String,
    /// The key that signed the package.
    pub signed_by: String,
    /// The package manifest's bytes.
    #[serde(skip)]
    pub manifest: String,
    pub created_by: ActorName,
    pub created_at: Timestamp,
}

/// A recorded evaluation of `model@model_version` on `dataset@dataset_version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EvaluationRecord {
    pub id: u64,
    pub model: ObjectName,
    pub model_version: u64,
    pub model_digest: String,
    pub dataset: ObjectName,
    pub dataset_version: u64,
    /// Digest of the report's canonical JSON (also a blob).
    pub digest: String,
    pub markdown_digest: String,
    #[serde(skip)]
    pub report: String,
    pub created_by: ActorName,
    pub created_at: Timestamp,
}

/// Which version of a model holds an environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StagePointer {
    pub model: ObjectName,
    pub env: String,
    pub version: u64,
    pub updated_by: ActorName,
    pub updated_at: Timestamp,
}

/// A recorded gate decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GateDecisionRecord {
    pub model: ObjectName,
    pub version: u64,
    pub env: String,
    pub allowed: bool,
    pub policy_digest: String,
    pub input_digest: String,
    /// Canonical JSON array of the reasons.
    pub reasons: String,
    pub created_by: ActorName,
    pub created_at: Timestamp,
}

/// A signed approval of a model version for an environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApprovalRecord {
    pub id: u64,
    pub model: ObjectName,
    pub version: u64,
    pub model_digest: String,
    pub env: String,
    pub approver: ActorName,
    pub key_name: String,
    /// The DSSE envelope (JSON).
    #[serde(skip)]
    pub envelope: String,
    pub created_at: Timestamp,
}

/// A quarantine of a model version, and its release if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuarantineRecord {
    pub model: ObjectName,
    pub version: u64,
    pub reason: String,
    pub created_by: ActorName,
    pub created_at: Timestamp,
    pub released_by: Option<ActorName>,
    pub released_at: Option<Timestamp>,
    pub release_reason: Option<String>,
}

/// An incident on a model version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IncidentRecord {
    pub id: u64,
    pub model: ObjectName,
    pub version: u64,
    pub kind: String,
    pub summary: String,
    pub report_digest: String,
    pub markdown_digest: String,
    pub opened_by: ActorName,
    pub opened_at: Timestamp,
    pub closed_by: Option<ActorName>,
    pub closed_at: Option<Timestamp>,
    pub resolution: Option<String>,
}

/// A recorded scan of a model version's files or of paths.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScanRecord {
    pub id: u64,
    pub model: Option<ObjectName>,
    pub version: Option<u64>,
    /// What was scanned: `MODEL@N` or the paths.
    pub target: String,
    pub profile: String,
    /// "none", "low", "medium", "high" or "critical".
    pub max_severity: String,
    pub findings: u64,
    pub files: u64,
    /// Files unscanned or unreadable: the scan is incomplete when > 0.
    pub incomplete: u64,
    pub report_digest: String,
    pub created_by: ActorName,
    pub created_at: Timestamp,
}

/// An API key of the serving endpoints: only a keyed hash of the key is kept.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiKeyRecord {
    /// The key's public identifier (part of the key itself).
    pub id: String,
    pub name: String,
    pub role: String,
    #[serde(skip)]
    pub key_hash: String,
    /// Requests per second for this key (None: the role's default).
    pub rate_limit: Option<f64>,
    pub created_by: ActorName,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_by: Option<ActorName>,
    pub revoked_at: Option<Timestamp>,
}

/// A personal access token of the hub: it acts as its owner, with at most
/// its roles. Only a keyed hash of the token is kept.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccessTokenRecord {
    /// The token's public identifier (part of the token itself).
    pub id: String,
    pub name: String,
    pub owner: ActorName,
    /// The roles the token is scoped to.
    pub roles: Vec<RoleName>,
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_by: Option<ActorName>,
    pub revoked_at: Option<Timestamp>,
    /// When it last opened a call (recorded at most once a minute; not
    /// state any decision reads).
    pub last_used_at: Option<Timestamp>,
}

/// One recorded run of a pipeline file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PipelineRunRecord {
    pub id: u64,
    /// The pipeline's declared name.
    pub pipeline: String,
    /// "succeeded", "denied" (a gate said no) or "failed".
    pub status: String,
    /// The run (stages, results, durations) as canonical JSON.
    pub document: String,
    /// SHA-256 of `document`.
    pub digest: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub created_by: ActorName,
}

/// A report of another tool (SAST, SCA, a container scanner) bound to a
/// model version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EvidenceRecord {
    pub id: u64,
    pub model: ObjectName,
    pub version: u64,
    pub tool: String,
    /// "sast", "sca", "container", "dockerfile" or "other".
    pub kind: String,
    /// The report as given, as a blob.
    pub report_digest: String,
    /// The findings the gate reads, as canonical JSON.
    pub summary: String,
    pub created_by: ActorName,
    pub created_at: Timestamp,
}

/// One closed monitoring window of a served model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonitorWindowRecord {
    pub id: u64,
    pub model: ObjectName,
    pub version: u64,
    pub env: String,
    pub rows: u64,
    pub dataset_drift: bool,
    pub prediction_drift: bool,
    pub drifted_features: u64,
    /// The window's full result (JSON).
    pub report: String,
    pub opened_at: Timestamp,
    pub closed_at: Timestamp,
}

/// An operator's pause of a model's automated responses.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonitorPauseRecord {
    pub model: ObjectName,
    pub reason: String,
    pub paused_by: ActorName,
    pub paused_at: Timestamp,
}

/// A block or throttle on an API key.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyHoldRecord {
    pub key_id: String,
    /// `block` or `throttle`.
    pub kind: String,
    /// Requests per second while throttled.
    pub rate_limit: Option<f64>,
    pub reason: String,
    pub held_by: ActorName,
    pub held_at: Timestamp,
}
