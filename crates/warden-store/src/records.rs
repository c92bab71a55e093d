//! Plain rows exchanged with the metadata store. Their JSON (without the
//! fields marked `skip`) is also how the engine and the hub report them.

use serde::{Deserialize, Serialize};
use warden_core::{ActorName, KeyName, ObjectName, RoleName, Timestamp};

/// `actor` holds `role`, granted by `granted_by` at `time`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RoleGrant {
    /// The actor who holds the role.
    pub actor: ActorName,
    /// The role held.
    pub role: RoleName,
    /// The actor who granted it.
    pub granted_by: ActorName,
    /// When it was granted.
    pub time: Timestamp,
}

/// A key known to the workspace: one of its own signing keys (the private
/// half is a file under `.warden/keys/`) or a trusted public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyRecord {
    /// The key's name in the workspace, unique among its keys.
    pub name: KeyName,
    /// `own` (a key of one of the workspace's own people or services:
    /// generated here, or an approval key enrolled by its owner, whose
    /// private half stays on the owner's machine) or `trusted` (a partner's
    /// public key, trusted for verifying only).
    pub origin: String,
    /// `ecdsa-p256`, `ecdsa-p384` or `ed25519`.
    pub algorithm: String,
    /// `sha256:` digest of the DER SubjectPublicKeyInfo.
    pub key_id: String,
    /// The public key as PEM text.
    pub public_pem: String,
    /// The actor who recorded the key.
    pub added_by: ActorName,
    /// When the key was recorded.
    pub added_at: Timestamp,
    /// When the key was revoked (`None`: it is not revoked).
    pub revoked_at: Option<Timestamp>,
    /// The actor who revoked it (`None`: not revoked).
    pub revoked_by: Option<ActorName>,
    /// The principal whose key this is (`None`: recorded before keys had
    /// owners; such a key is never an approval key).
    pub owner: Option<ActorName>,
    /// What the key may sign: `approval`, `pipeline`, `log`, `release`.
    pub purpose: Option<String>,
    /// The admin who acknowledged an enrolled key.
    pub acknowledged_by: Option<ActorName>,
    /// When it was acknowledged (`None`: not yet).
    pub acknowledged_at: Option<Timestamp>,
}

/// An audit event row exactly as stored, before any checking. `verify`
/// compares every field with the canonical `event` text and its leaf hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position in the log, from 0; the leaf index.
    pub seq: i64,
    /// When the event was appended, as RFC 3339 text.
    pub time: String,
    /// The name of the actor who did it.
    pub actor: String,
    /// What happened, e.g. `roles.grant`.
    pub action: String,
    /// What it happened to, e.g. `actor:lee` or `model:NAME@V`.
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
    /// Only events whose `seq` is at least this (`None`: from the first).
    pub since: Option<u64>,
    /// Only events by this actor, by exact name (`None`: any).
    pub actor: Option<String>,
    /// Only events with this action or an action under it: `model` matches
    /// `model` and `model.approve` (`None`: any).
    pub action: Option<String>,
    /// At most this many events, the earliest that match (`None`: all).
    pub limit: Option<u64>,
}

/// A signed checkpoint (C2SP tlog-checkpoint note) of the log at `size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size (number of events) the checkpoint commits to.
    pub size: u64,
    /// Lowercase hex of the root hash.
    pub root_hash: String,
    /// The whole signed note text.
    pub note: String,
    /// When the checkpoint was stored.
    pub time: Timestamp,
}

/// A recorded dataset version (`NAME@V`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DatasetRecord {
    /// The dataset's name.
    pub name: ObjectName,
    /// The version number, from 1.
    pub version: u64,
    /// Digest of the manifest (the DatasetVersion object).
    pub digest: String,
    /// `sha256:` digest of the source file's bytes as ingested.
    pub source_digest: String,
    /// `sha256:` digest of the ingested table in its canonical form (a blob).
    pub output_digest: String,
    /// Number of rows in the ingested table.
    pub rows: u64,
    /// `sha256:` digest of the ingest report's canonical JSON (a blob).
    pub report_digest: String,
    /// `sha256:` digest of the ingest report's Markdown (a blob).
    pub report_md_digest: String,
    /// The manifest's canonical JSON.
    /// Never part of a record's JSON (empty in one read from JSON).
    #[serde(skip)]
    pub manifest: String,
    /// The actor who recorded the version.
    pub created_by: ActorName,
    /// When the version was recorded.
    pub created_at: Timestamp,
}

/// A recorded model version (`NAME@V`): a package whose files are blobs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelRecord {
    /// The model's name.
    pub name: ObjectName,
    /// The version number, from 1.
    pub version: u64,
    /// `sha256:` + the signature's root digest over the package files.
    pub digest: String,
    /// `logreg`, `mlp`, …
    pub kind: String,
    /// Canonical JSON: package-relative path → blob digest.
    /// Never part of a record's JSON (empty in one read from JSON).
    #[serde(skip)]
    pub files: String,
    /// `sha256:` digest of the OpenSSF model-signing bundle (a blob).
    pub signature_digest: String,
    /// The key that signed the package.
    pub signed_by: String,
    /// The package manifest's bytes.
    /// Never part of a record's JSON (empty in one read from JSON).
    #[serde(skip)]
    pub manifest: String,
    /// The actor who recorded the version.
    pub created_by: ActorName,
    /// When the version was recorded.
    pub created_at: Timestamp,
}

/// A recorded evaluation of `model@model_version` on `dataset@dataset_version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvaluationRecord {
    /// The evaluation's id, from 1 (0 in a record not yet inserted).
    pub id: u64,
    /// The evaluated model.
    pub model: ObjectName,
    /// The evaluated model version.
    pub model_version: u64,
    /// The model version's `sha256:` digest when it was evaluated.
    pub model_digest: String,
    /// The dataset evaluated on.
    pub dataset: ObjectName,
    /// The dataset version evaluated on.
    pub dataset_version: u64,
    /// Digest of the report's canonical JSON (also a blob).
    pub digest: String,
    /// `sha256:` digest of the report's Markdown (a blob).
    pub markdown_digest: String,
    /// The report's canonical JSON.
    /// Never part of a record's JSON (empty in one read from JSON).
    #[serde(skip)]
    pub report: String,
    /// The actor who ran the evaluation.
    pub created_by: ActorName,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// Which version of a model holds an environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StagePointer {
    /// The model.
    pub model: ObjectName,
    /// The environment the pointer is for.
    pub env: String,
    /// The model version that holds the environment.
    pub version: u64,
    /// The actor who last set the pointer.
    pub updated_by: ActorName,
    /// When it was last set.
    pub updated_at: Timestamp,
}

/// A recorded gate decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GateDecisionRecord {
    /// The model the gate was asked about.
    pub model: ObjectName,
    /// The model version.
    pub version: u64,
    /// The environment it was to enter.
    pub env: String,
    /// Whether the gate let it in.
    pub allowed: bool,
    /// `sha256:` digest of the gate policy bundle (sources and data).
    pub policy_digest: String,
    /// `sha256:` digest of the canonical JSON input document the policy read.
    pub input_digest: String,
    /// Canonical JSON array of the reasons.
    pub reasons: String,
    /// The actor who asked.
    pub created_by: ActorName,
    /// When the decision was made.
    pub created_at: Timestamp,
}

/// A signed approval of a model version for an environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalRecord {
    /// The approval's id, from 1 (0 in a record not yet inserted).
    pub id: u64,
    /// The approved model.
    pub model: ObjectName,
    /// The approved model version.
    pub version: u64,
    /// The model version's `sha256:` digest that was approved.
    pub model_digest: String,
    /// The environment the approval is for.
    pub env: String,
    /// The actor who approved.
    pub approver: ActorName,
    /// The name of the key that signed the envelope.
    pub key_name: String,
    /// The DSSE envelope (JSON).
    /// Never part of a record's JSON (empty in one read from JSON).
    #[serde(skip)]
    pub envelope: String,
    /// When the approval was recorded.
    pub created_at: Timestamp,
}

/// A quarantine of a model version, and its release if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QuarantineRecord {
    /// The quarantined model.
    pub model: ObjectName,
    /// The quarantined model version.
    pub version: u64,
    /// Why it was quarantined.
    pub reason: String,
    /// The actor who quarantined it.
    pub created_by: ActorName,
    /// When it was quarantined.
    pub created_at: Timestamp,
    /// The actor who released it (`None`: still quarantined).
    pub released_by: Option<ActorName>,
    /// When it was released (`None`: still quarantined).
    pub released_at: Option<Timestamp>,
    /// Why it was released (`None`: still quarantined).
    pub release_reason: Option<String>,
}

/// An incident on a model version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IncidentRecord {
    /// The incident's id, from 1 (0 in a record not yet inserted).
    pub id: u64,
    /// The model concerned.
    pub model: ObjectName,
    /// The model version concerned.
    pub version: u64,
    /// What happened, e.g. `poisoning`, `data-leak`, `drift`, `credential-leak`
    /// or `integrity`.
    pub kind: String,
    /// What happened, as said when it was opened.
    pub summary: String,
    /// `sha256:` digest of the incident report's canonical JSON (a blob).
    pub report_digest: String,
    /// `sha256:` digest of the report's Markdown (a blob).
    pub markdown_digest: String,
    /// The actor who opened it.
    pub opened_by: ActorName,
    /// When it was opened.
    pub opened_at: Timestamp,
    /// The actor who closed it (`None`: still open).
    pub closed_by: Option<ActorName>,
    /// When it was closed (`None`: still open).
    pub closed_at: Option<Timestamp>,
    /// What was found and done, given when it was closed (`None`: still open).
    pub resolution: Option<String>,
}

/// A recorded scan of a model version's files or of paths.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScanRecord {
    /// The scan's id, from 1 (0 in a record not yet inserted).
    pub id: u64,
    /// The scanned model (`None`: a scan of paths).
    pub model: Option<ObjectName>,
    /// The scanned model version (`None`: a scan of paths).
    pub version: Option<u64>,
    /// What was scanned: `MODEL@N` or the paths.
    pub target: String,
    /// The scan profile: `strict`, `numpy`, `torch`, `sklearn` or `auto`.
    pub profile: String,
    /// "none", "low", "medium", "high" or "critical".
    pub max_severity: String,
    /// Number of findings, all severities.
    pub findings: u64,
    /// Number of files looked at, [`ScanRecord::incomplete`] ones included.
    pub files: u64,
    /// Files unscanned or unreadable: the scan is incomplete when > 0.
    pub incomplete: u64,
    /// `sha256:` digest of the full report's canonical JSON (a blob).
    pub report_digest: String,
    /// The actor who recorded the scan.
    pub created_by: ActorName,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// An API key of the serving endpoints: only a keyed hash of the key is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApiKeyRecord {
    /// The key's public identifier (part of the key itself).
    pub id: String,
    /// The key's name, unique among API keys and never reused.
    pub name: String,
    /// The role the key acts with.
    pub role: String,
    /// Lowercase hex HMAC-SHA256 of the whole key under the workspace's
    /// API-key secret.
    /// Never part of a record's JSON (empty in one read from JSON).
    #[serde(skip)]
    pub key_hash: String,
    /// Requests per second for this key (None: the role's default).
    pub rate_limit: Option<f64>,
    /// The actor who created the key.
    pub created_by: ActorName,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it expires (`None`: never).
    pub expires_at: Option<Timestamp>,
    /// The actor who revoked it (`None`: not revoked).
    pub revoked_by: Option<ActorName>,
    /// When it was revoked (`None`: not revoked).
    pub revoked_at: Option<Timestamp>,
}

/// A personal access token of the hub: it acts as its owner, with at most
/// its roles. Only a keyed hash of the token is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccessTokenRecord {
    /// The token's public identifier (part of the token itself).
    pub id: String,
    /// The token's name, unique among its owner's tokens.
    pub name: String,
    /// The principal the token acts as.
    pub owner: ActorName,
    /// The roles the token is scoped to.
    pub roles: Vec<RoleName>,
    /// Lowercase hex HMAC-SHA256 of the whole token under the workspace's
    /// API-key secret.
    /// Never part of a record's JSON (empty in one read from JSON).
    #[serde(skip)]
    pub token_hash: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
    /// The actor who revoked it (`None`: not revoked).
    pub revoked_by: Option<ActorName>,
    /// When it was revoked (`None`: not revoked).
    pub revoked_at: Option<Timestamp>,
    /// When it last opened a call (recorded at most once a minute; not
    /// state any decision reads).
    pub last_used_at: Option<Timestamp>,
}

/// One recorded run of a pipeline file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PipelineRunRecord {
    /// The run's id, from 1 (0 in a record not yet inserted).
    pub id: u64,
    /// The pipeline's declared name.
    pub pipeline: String,
    /// "succeeded", "denied" (a gate said no) or "failed".
    pub status: String,
    /// The run (stages, results, durations) as canonical JSON.
    pub document: String,
    /// SHA-256 of `document`.
    pub digest: String,
    /// When the run started.
    pub started_at: Timestamp,
    /// When it finished.
    pub finished_at: Timestamp,
    /// The actor who ran it.
    pub created_by: ActorName,
}

/// A report of another tool (SAST, SCA, a container scanner) bound to a
/// model version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceRecord {
    /// The evidence's id, from 1 (0 in a record not yet inserted).
    pub id: u64,
    /// The model the report is bound to.
    pub model: ObjectName,
    /// The model version it is bound to.
    pub version: u64,
    /// The name of the tool that made the report.
    pub tool: String,
    /// "sast", "sca", "container", "dockerfile" or "other".
    pub kind: String,
    /// The report as given, as a blob.
    pub report_digest: String,
    /// The findings the gate reads, as canonical JSON.
    /// Never part of a record's JSON (empty in one read from JSON).
    #[serde(skip)]
    pub summary: String,
    /// The actor who added it.
    pub created_by: ActorName,
    /// When it was added.
    pub created_at: Timestamp,
}

/// One closed monitoring window of a served model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MonitorWindowRecord {
    /// The window's id, from 1 (0 in a record not yet inserted).
    pub id: u64,
    /// The served model.
    pub model: ObjectName,
    /// The served model version.
    pub version: u64,
    /// The environment it was served in.
    pub env: String,
    /// Number of rows seen in the window.
    pub rows: u64,
    /// Whether enough of the input features drifted for the window as a whole
    /// to count as drifted.
    pub dataset_drift: bool,
    /// Whether the predicted class mix drifted.
    pub prediction_drift: bool,
    /// Number of input features that drifted.
    pub drifted_features: u64,
    /// The window's full result (JSON).
    pub report: String,
    /// When the window opened.
    pub opened_at: Timestamp,
    /// When it closed.
    pub closed_at: Timestamp,
}

/// An operator's pause of a model's automated responses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MonitorPauseRecord {
    /// The model whose automated responses are paused.
    pub model: ObjectName,
    /// Why they were paused.
    pub reason: String,
    /// The operator who paused them.
    pub paused_by: ActorName,
    /// When they were paused.
    pub paused_at: Timestamp,
}

/// A block or throttle on an API key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyHoldRecord {
    /// The held API key's id ([`ApiKeyRecord::id`]).
    pub key_id: String,
    /// `block` or `throttle`.
    pub kind: String,
    /// Requests per second while throttled.
    pub rate_limit: Option<f64>,
    /// Why the key was held.
    pub reason: String,
    /// The actor (a person or the monitor) who placed the hold.
    pub held_by: ActorName,
    /// When it was placed.
    pub held_at: Timestamp,
}
