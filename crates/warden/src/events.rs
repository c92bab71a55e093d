//! Audit event payloads, typed. Every action the engine records has one
//! payload type here, and the engine writes its events from it. Those a
//! decision reads back (role grants, keys, policy pins, promotions,
//! quarantines, approvals, API keys, access tokens, recorded scans,
//! evidence and evaluations) are replayed through the same type, so a
//! writer and a reader cannot disagree on a field's name or type, and an
//! event that does not parse as its action's payload is refused by name,
//! never read as a default.
//!
//! The JSON Schemas in `docs/schemas/audit-event-payloads.schema.json` are
//! generated from these types ([`crate::documents::schemas`]).
//!
//! In the payloads a decision replays, the replayed fields are required and
//! fields added later are `Option` with `#[serde(default)]`: the engine
//! always writes them, and an event from a workspace older than a field
//! still parses, `None` meaning "not recorded by the version that wrote
//! the event". Payloads nothing replays are typed as written today.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_core::{ActorName, AuditEvent};
use warden_store::{StoredEvent, WriteTx};

use crate::Error;

/// Appends an event whose payload is `payload` (see [`WriteTx::append_event`]).
pub(crate) fn append<P: Serialize>(
    tx: &mut (dyn WriteTx + '_),
    actor: &ActorName,
    action: &str,
    subject: &str,
    payload: &P,
) -> Result<AuditEvent, Error> {
    Ok(tx.append_event(actor, action, subject, &serde_json::to_value(payload)?)?)
}

/// Reads an event's payload as `P`, or refuses the event naming it and its
/// action.
pub(crate) fn read<'a, P: Deserialize<'a>>(e: &'a StoredEvent) -> Result<P, Error> {
    serde_json::from_str(&e.payload).map_err(|err| {
        Error::Verification(format!(
            "event {} ({}): its payload is not what that action records: {err}",
            e.seq, e.action
        ))
    })
}

/// `roles.grant` and `roles.revoke`: an actor given or refused a role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoleChange {
    /// The actor whose roles changed.
    pub actor: String,
    /// The role granted or revoked.
    pub role: String,
    /// Why, when the engine itself granted it (`workspace creator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `keys.generate`, `keys.enrol`, `keys.trust`, `keys.acknowledge` and
/// `keys.revoke`: a signing key's life. Every action names the key and
/// its id; the other fields are those the action records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyChange {
    /// The key's name in the workspace.
    pub name: String,
    /// The key's id: the `sha256:` digest of its DER public key.
    pub key_id: String,
    /// `ecdsa-p256`, `ecdsa-p384` or `ed25519` (generate, enrol, trust).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// The person the key belongs to (generate, enrol, acknowledge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// What the key may sign: `approval`, `pipeline`, `log`, `release`
    /// (generate, enrol, trust).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Whether the private key is stored encrypted (generate, enrol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// The public key file a trusted key was read from (trust).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// `model.promote` and `gate.denied`: a gate decision on a version for an
/// environment, and the pointer it moved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GateDecided {
    /// `NAME@V`.
    pub model: String,
    /// The version's `sha256:` digest.
    #[serde(default)]
    pub digest: Option<String>,
    /// The environment.
    pub env: String,
    /// The recorded decision's id.
    #[serde(default)]
    pub decision: Option<u64>,
    /// Whether the gate allowed it.
    #[serde(default)]
    pub allowed: Option<bool>,
    /// The policy's reasons.
    #[serde(default)]
    pub reasons: Option<Vec<String>>,
    /// Digest of the policy bundle that decided.
    #[serde(default)]
    pub policy_digest: Option<String>,
    /// Digest of the canonical policy input.
    #[serde(default)]
    pub input_digest: Option<String>,
    /// The version the environment pointed at before (`None`: none).
    #[serde(default)]
    pub previous: Option<u64>,
}

/// `model.rollback`: an environment's pointer moved back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RolledBack {
    /// The model's name.
    pub model: String,
    /// The environment.
    pub env: String,
    /// The version it pointed at (`None`: none).
    #[serde(default)]
    pub from: Option<u64>,
    /// The version it points at now.
    pub to: u64,
}

/// `model.quarantine`: a version taken out of service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Quarantined {
    /// `NAME@V`.
    pub model: String,
    /// The version's `sha256:` digest.
    #[serde(default)]
    pub digest: Option<String>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// The environments whose pointer was removed.
    #[serde(default)]
    pub removed_from: Vec<String>,
}

/// `model.release`: a quarantine lifted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Released {
    /// `NAME@V`.
    pub model: String,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `model.approve`: a person's signed approval of a version for an
/// environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Approved {
    /// The approval's id.
    pub approval: u64,
    /// `NAME@V`.
    pub model: String,
    /// The version's `sha256:` digest the approval signs.
    #[serde(default)]
    pub digest: Option<String>,
    /// The environment.
    pub env: String,
    /// The approver's key name.
    pub key: String,
    /// The approver's key id.
    pub key_id: String,
    /// The approver's comment.
    #[serde(default)]
    pub comment: Option<String>,
}

/// `apikey.create`: an inference API key made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyCreated {
    /// The key's name.
    pub name: String,
    /// The key's public id.
    pub id: String,
    /// The role it carries.
    pub role: String,
    /// When it expires (`None`: never).
    pub expires_at: Option<String>,
    /// Requests per second it may make (`None`: the server's default).
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// Digest of the stored key hash, so an edited hash row is caught.
    #[serde(default)]
    pub key_hash_digest: Option<String>,
}

/// `apikey.revoke` and `apikey.unblock`: a key by its id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyNamed {
    /// The key's public id.
    pub id: String,
    /// The key's name (revoke).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `apikey.block` and `apikey.throttle`: a hold placed on a key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyHeld {
    /// The key's public id.
    pub id: String,
    /// A throttle's requests per second (`None` for a block).
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `token.create`: a person's access token for the hub.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenCreated {
    /// The token's public id.
    pub id: String,
    /// The token's name.
    pub name: String,
    /// Its owner (the event's actor).
    pub owner: String,
    /// The roles it may use (a subset of the owner's).
    pub roles: Vec<String>,
    /// When it expires (RFC 3339).
    pub expires_at: String,
    /// Digest of the stored token hash.
    pub token_hash_digest: String,
}

/// `token.revoke`: an access token revoked by its owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenRevoked {
    /// The token's public id.
    pub id: String,
    /// The token's name.
    pub name: String,
    /// Its owner.
    pub owner: String,
}

/// `evidence.add`: a report from another tool bound to a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceAdded {
    /// The evidence row's id.
    pub evidence: u64,
    /// The tool that wrote the report.
    pub tool: String,
    /// `sast`, `sca`, `secrets`, `eval`, `pentest` or `other`.
    pub kind: String,
    /// The report's `sha256:` digest.
    pub report: String,
    /// Digest of the findings summary as stored.
    pub summary_digest: String,
    /// Findings in the report.
    #[serde(default)]
    pub findings: Option<u64>,
    /// The highest finding score (0 when none is scored).
    #[serde(default)]
    pub max_score: Option<f64>,
    /// The version's `sha256:` digest.
    #[serde(default)]
    pub model_digest: Option<String>,
}

/// `scan.record`: a model scan recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScanRecorded {
    /// The scan row's id.
    pub scan: u64,
    /// What was scanned (a path or `NAME@V`).
    #[serde(default)]
    pub target: Option<String>,
    /// The scan profile.
    pub profile: String,
    /// The highest severity found.
    pub max_severity: String,
    /// Findings.
    pub findings: u64,
    /// Files scanned.
    pub files: u64,
    /// Files that could not be scanned completely.
    pub incomplete: u64,
    /// The report's `sha256:` digest.
    pub report: String,
    /// `NAME@V` when a model version was scanned (`None` in events
    /// written before scans named their version, and for paths).
    #[serde(default)]
    pub model: Option<String>,
    /// That version's digest.
    #[serde(default)]
    pub model_digest: Option<String>,
}

/// `policy.propose` and `policy.register`: a policy bundle's digest
/// proposed or registered for a scope (an environment, or `authz`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyPinned {
    /// The environment, or `authz`.
    pub scope: String,
    /// The bundle's `sha256:` digest.
    pub digest: String,
    /// Where the bundle came from (`bundled`, or the file `warden.toml`
    /// names).
    pub origin: String,
    /// The digest in force before.
    #[serde(default)]
    pub previous: Option<String>,
    /// For a production registration, the admin who proposed it.
    #[serde(default)]
    pub proposed_by: Option<String>,
}

/// `integrity.disagreement`: a row refused because it disagrees with the
/// log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Disagreed {
    /// The row.
    pub row: String,
    /// How it disagrees.
    pub detail: String,
}

/// `incident.open`: an incident opened on a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentOpened {
    /// The incident's id.
    pub incident: u64,
    /// `NAME@V`.
    pub model: String,
    /// What kind of incident (`integrity`, `abuse`, …).
    pub kind: String,
    /// One line saying what happened.
    #[serde(default)]
    pub summary: Option<String>,
    /// The incident report's `sha256:` digest.
    #[serde(default)]
    pub report: Option<String>,
}

/// `incident.close`: an incident closed by a person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentClosed {
    /// The incident's id.
    pub incident: u64,
    /// How it was resolved.
    pub resolution: String,
}

/// `workspace.init`: the workspace made, with its log's identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceCreated {
    /// The workspace's random id (hex).
    pub workspace_id: String,
    /// The log's origin line (`warden.local/<id>`).
    pub log_origin: String,
    /// The log's verifier key (signed-note format).
    pub log_vkey: String,
    /// Where the pseudonym secret was made.
    pub pseudonym_secret: String,
}

/// `workspace.migrate`: the metadata and/or the blobs moved into other
/// stores, verbatim; the first event the new metadata store records after
/// the copied ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceMigrated {
    /// The metadata's move, when it moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MetadataMoved>,
    /// The blobs' move, when they moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobs: Option<BlobsMoved>,
}

/// The metadata of a `workspace.migrate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetadataMoved {
    /// The store the metadata came from (`sqlite:.warden/warden.db`).
    pub from: String,
    /// The store it moved to (`postgres:USER@HOST:PORT/DB`, no password).
    pub to: String,
    /// Events copied: the log's size before this event.
    pub copied_events: u64,
    /// The copied log's root (hex), equal in both stores.
    pub copied_root: String,
    /// Rows copied, by table (every table compared after the copy).
    pub rows: std::collections::BTreeMap<String, u64>,
}

/// The blobs of a `workspace.migrate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BlobsMoved {
    /// Where they were (`.warden/blobs`).
    pub from: String,
    /// Where they are (`s3://BUCKET/PREFIX at ENDPOINT`).
    pub to: String,
    /// Blobs copied, each read back from the new store and its digest checked.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// `authz.denied`: an action the caller's roles do not allow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Denied {
    /// The action refused (`model.promote`, …).
    pub action: String,
    /// The caller's roles.
    pub roles: Vec<String>,
    /// The roles that would have allowed it.
    pub allowing_roles: Vec<String>,
    /// The facts the authorisation policy was given beyond the roles
    /// (absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `data.ingest`: a dataset version recorded, with what its checks found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetIngested {
    /// `NAME@V`.
    pub dataset: String,
    /// The manifest's `sha256:` digest.
    pub digest: String,
    /// The source file's digest.
    pub source_digest: String,
    /// The stored table's digest.
    pub output_digest: String,
    /// Rows stored.
    pub rows: u64,
    /// PII kinds detected (`email`, `date_of_birth`, …).
    pub pii_detected: Vec<String>,
    /// Columns kept with PII left in them.
    pub pii_unmasked: Vec<String>,
    /// Columns dropped.
    pub dropped: Vec<String>,
    /// The poisoning screen's suspect fraction (`None`: not screened).
    pub suspect_fraction: Option<f64>,
    /// Suspect rows dropped (`None`: none were).
    pub dropped_suspects: Option<u64>,
    /// Whether this ingest made the workspace's pseudonym secret.
    pub pseudonym_secret_created: bool,
}

/// `model.card`: a model card written for a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CardWritten {
    /// `NAME@V`.
    pub model: String,
    /// The card's `sha256:` digest.
    pub card: String,
    /// Sections the card still lacks.
    pub missing: Vec<String>,
}

/// `pipeline.run`: a pipeline run and how each stage ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PipelineRan {
    /// The run's id.
    pub run: u64,
    /// `succeeded`, `failed` or `denied`.
    pub status: String,
    /// The run document's `sha256:` digest.
    pub document: String,
    /// The pipeline file's digest.
    pub file_digest: String,
    /// Whether `--force` re-ran unchanged stages.
    pub forced: bool,
    /// Each stage, in order.
    pub stages: Vec<StageRan>,
}

/// One stage of a [`PipelineRan`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageRan {
    /// The stage's name.
    pub name: String,
    /// `ingest`, `train`, `evaluate`, `gate`, …
    pub kind: String,
    /// How the stage ended.
    pub status: crate::pipeline::StageStatus,
    /// The stage's cache key (`None` when it did not run).
    pub key: Option<String>,
    /// What it made; `null` when it failed or was skipped.
    pub result: Option<crate::pipeline::StageResult>,
}

/// `monitor.window`: a closed monitoring window of served traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WindowClosed {
    /// The window's id.
    pub window: u64,
    /// The environment served.
    pub env: String,
    /// Requests' rows in the window.
    pub rows: u64,
    /// Whether the dataset drifted.
    pub dataset_drift: bool,
    /// Whether the predicted class mix drifted.
    pub prediction_drift: bool,
    /// Features that drifted.
    pub drifted_features: u64,
}

/// `monitor.signal`: an abuse signal past its threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignalRaised {
    /// The environment served.
    pub env: String,
    /// The signal as the monitor reported it.
    pub signal: serde_json::Value,
}

/// `monitor.pause`: automated responses paused for a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonitorPaused {
    /// Why.
    pub reason: String,
}

/// `monitor.resume`: automated responses resumed (no fields).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonitorResumed {}

/// `serve.load`, `serve.skip` and the other serving events: what the
/// serving process did with a version for an environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Served {
    /// The environment.
    pub env: String,
    /// What happened, as the server reports it.
    pub details: serde_json::Value,
}

/// `model.sign`: a model directory signed in place (OpenSSF model
/// signing bundle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DirectorySigned {
    /// The directory signed.
    pub path: String,
    /// Where the signature bundle was written.
    pub signature: String,
    /// The signing key's name.
    pub key: String,
    /// The signing key's id.
    pub key_id: String,
    /// The digest over the directory's files (hex).
    pub root_digest: String,
    /// Files signed.
    pub files: u64,
    /// When (RFC 3339).
    pub time: String,
}

/// What every `model.train` and `model.import` event records of the
/// version it registered: read back to check the model row, whose author
/// approvals must differ from.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ModelRegistered {
    /// `NAME@V`.
    pub model: String,
    /// The package's `sha256:` digest.
    pub digest: String,
}

/// The version a `model.train` or `model.import` event registered, and
/// the signature over its package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Registered {
    /// `NAME@V`.
    pub model: String,
    /// The package's `sha256:` digest (the signature's root digest).
    pub digest: String,
    /// The OpenSSF model-signing bundle.
    pub signature: PackageSignature,
}

/// Who signed a package, and the bundle's blob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PackageSignature {
    /// The workspace key's name.
    pub key: String,
    /// Its key id (`sha256:` of the DER public key).
    pub key_id: String,
    /// `sha256:` digest of the bundle (a blob).
    pub digest: String,
}

/// `model.train`: a model trained here and registered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelTrained {
    /// The version and its signature.
    #[serde(flatten)]
    pub registered: Registered,
    /// `logreg` or `mlp`.
    pub kind: String,
    /// The dataset versions trained on.
    pub datasets: Vec<DatasetUsed>,
    /// Digest of the training settings with the dataset, target and features.
    pub config_digest: String,
    /// The training seed.
    pub seed: u64,
    /// The differential-privacy guarantee (`None`: trained without DP).
    pub dp: Option<DpSpent>,
}

/// A dataset version a model was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetUsed {
    /// `NAME@V`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The dataset manifest's `sha256:` digest.
    pub digest: String,
}

/// The (ε, δ) a DP-SGD run spent, and the accountant that gave ε.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DpSpent {
    /// ε.
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
    /// `pld` or `rdp`.
    pub accountant: String,
}

/// `model.import`: a model brought from elsewhere, checked and registered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelImported {
    /// The version and its signature.
    #[serde(flatten)]
    pub registered: Registered,
    /// `onnx`, `xgboost-json`, `xgboost-ubjson` or `lightgbm-text`.
    pub kind: String,
    /// The file imported.
    pub source: ImportedFile,
    /// The ONNX graph's operators (ONNX models).
    pub operators: Option<Vec<String>>,
    /// The program that wrote the file.
    pub producer: Option<String>,
    /// The reference batch the model reproduced (`None`: none given).
    pub check: Option<crate::model::ImportCheck>,
    /// Whether it came with SLSA provenance from a pipeline.
    pub provenance: bool,
    /// The dataset version its reference profile was computed on.
    pub dataset: Option<String>,
}

/// The file a model was imported from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImportedFile {
    /// Its name as given.
    pub file: String,
    /// `sha256:` digest of its bytes.
    pub digest: String,
}

/// Every typed payload, by the actions recorded with it: the published
/// schema's shape.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", content = "payload")]
pub enum Payload {
    /// `roles.grant`.
    #[serde(rename = "roles.grant")]
    RolesGrant(RoleChange),
    /// `roles.revoke`.
    #[serde(rename = "roles.revoke")]
    RolesRevoke(RoleChange),
    /// `keys.generate`.
    #[serde(rename = "keys.generate")]
    KeysGenerate(KeyChange),
    /// `keys.enrol`.
    #[serde(rename = "keys.enrol")]
    KeysEnrol(KeyChange),
    /// `keys.trust`.
    #[serde(rename = "keys.trust")]
    KeysTrust(KeyChange),
    /// `keys.acknowledge`.
    #[serde(rename = "keys.acknowledge")]
    KeysAcknowledge(KeyChange),
    /// `keys.revoke`.
    #[serde(rename = "keys.revoke")]
    KeysRevoke(KeyChange),
    /// `model.promote`.
    #[serde(rename = "model.promote")]
    ModelPromote(GateDecided),
    /// `gate.denied`.
    #[serde(rename = "gate.denied")]
    GateDenied(GateDecided),
    /// `model.rollback`.
    #[serde(rename = "model.rollback")]
    ModelRollback(RolledBack),
    /// `model.quarantine`.
    #[serde(rename = "model.quarantine")]
    ModelQuarantine(Quarantined),
    /// `model.release`.
    #[serde(rename = "model.release")]
    ModelRelease(Released),
    /// `model.approve`.
    #[serde(rename = "model.approve")]
    ModelApprove(Approved),
    /// `model.train`.
    #[serde(rename = "model.train")]
    ModelTrain(ModelTrained),
    /// `model.import`.
    #[serde(rename = "model.import")]
    ModelImport(ModelImported),
    /// `model.evaluate`.
    #[serde(rename = "model.evaluate")]
    ModelEvaluate(Evaluated),
    /// `apikey.create`.
    #[serde(rename = "apikey.create")]
    ApikeyCreate(ApiKeyCreated),
    /// `apikey.revoke`.
    #[serde(rename = "apikey.revoke")]
    ApikeyRevoke(ApiKeyNamed),
    /// `apikey.unblock`.
    #[serde(rename = "apikey.unblock")]
    ApikeyUnblock(ApiKeyNamed),
    /// `apikey.block`.
    #[serde(rename = "apikey.block")]
    ApikeyBlock(ApiKeyHeld),
    /// `apikey.throttle`.
    #[serde(rename = "apikey.throttle")]
    ApikeyThrottle(ApiKeyHeld),
    /// `token.create`.
    #[serde(rename = "token.create")]
    TokenCreate(TokenCreated),
    /// `token.revoke`.
    #[serde(rename = "token.revoke")]
    TokenRevoke(TokenRevoked),
    /// `evidence.add`.
    #[serde(rename = "evidence.add")]
    EvidenceAdd(EvidenceAdded),
    /// `scan.record`.
    #[serde(rename = "scan.record")]
    ScanRecord(ScanRecorded),
    /// `policy.propose`.
    #[serde(rename = "policy.propose")]
    PolicyPropose(PolicyPinned),
    /// `policy.register`.
    #[serde(rename = "policy.register")]
    PolicyRegister(PolicyPinned),
    /// `integrity.disagreement`.
    #[serde(rename = "integrity.disagreement")]
    IntegrityDisagreement(Disagreed),
    /// `incident.open`.
    #[serde(rename = "incident.open")]
    IncidentOpen(IncidentOpened),
    /// `incident.close`.
    #[serde(rename = "incident.close")]
    IncidentClose(IncidentClosed),
    /// `workspace.init`.
    #[serde(rename = "workspace.init")]
    WorkspaceInit(WorkspaceCreated),
    /// `workspace.migrate`.
    #[serde(rename = "workspace.migrate")]
    WorkspaceMigrate(WorkspaceMigrated),
    /// `authz.denied`.
    #[serde(rename = "authz.denied")]
    AuthzDenied(Denied),
    /// `data.ingest`.
    #[serde(rename = "data.ingest")]
    DataIngest(DatasetIngested),
    /// `model.card`.
    #[serde(rename = "model.card")]
    ModelCard(CardWritten),
    /// `pipeline.run`.
    #[serde(rename = "pipeline.run")]
    PipelineRun(PipelineRan),
    /// `monitor.window`.
    #[serde(rename = "monitor.window")]
    MonitorWindow(WindowClosed),
    /// `monitor.signal`.
    #[serde(rename = "monitor.signal")]
    MonitorSignal(SignalRaised),
    /// `monitor.pause`.
    #[serde(rename = "monitor.pause")]
    MonitorPause(MonitorPaused),
    /// `monitor.resume`.
    #[serde(rename = "monitor.resume")]
    MonitorResume(MonitorResumed),
    /// `model.sign`.
    #[serde(rename = "model.sign")]
    ModelSign(DirectorySigned),
    /// `serve.load`.
    #[serde(rename = "serve.load")]
    ServeLoad(Served),
    /// `serve.skip`.
    #[serde(rename = "serve.skip")]
    ServeSkip(Served),
}

/// `model.evaluate`: an evaluation recorded, with its headline figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evaluated {
    /// The evaluation row's id.
    pub evaluation: u64,
    /// `NAME@V`.
    #[serde(default)]
    pub model: Option<String>,
    /// The version's `sha256:` digest.
    pub model_digest: String,
    /// The dataset evaluated on, `NAME@V`.
    pub dataset: String,
    /// The report's `sha256:` digest.
    pub report_digest: String,
    /// Accuracy on the evaluation rows.
    #[serde(default)]
    pub accuracy: Option<f64>,
    /// ROC AUC (`None` when undefined).
    #[serde(default)]
    pub roc_auc: Option<f64>,
    /// Demographic parity ratio per sensitive attribute (`None` when
    /// undefined).
    #[serde(default)]
    pub demographic_parity_ratio: Option<std::collections::BTreeMap<String, Option<f64>>>,
    /// The membership inference AUC of the stronger attack (the larger of
    /// the loss-threshold and confidence attacks' AUCs), when measured.
    #[serde(default)]
    pub membership_inference_auc: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(action: &str, payload: &str) -> StoredEvent {
        StoredEvent {
            seq: 7,
            time: String::new(),
            actor: "ana".into(),
            action: action.into(),
            subject: "model:m@1".into(),
            payload: payload.into(),
            event: String::new(),
            leaf_hash: String::new(),
        }
    }

    #[test]
    fn a_payload_reads_back_as_written() {
        let q = Quarantined {
            model: "m@1".into(),
            digest: Some("sha256:00".into()),
            reason: Some("leak".into()),
            removed_from: vec!["production".into()],
        };
        let text = serde_json::to_string(&q).unwrap();
        let back: Quarantined = read(&stored("model.quarantine", &text)).unwrap();
        assert_eq!(back, q);
        // A field absent for some writers is left out, not written as null.
        let r = RoleChange {
            actor: "omar".into(),
            role: "operator".into(),
            reason: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"actor":"omar","role":"operator"}"#
        );
    }

    #[test]
    fn a_payload_without_a_replayed_field_is_refused_by_name() {
        // `env` is what a promotion moves; an event without it is not read
        // as some default environment.
        let e = stored("model.promote", r#"{"model": "m@1"}"#);
        let err = read::<GateDecided>(&e).unwrap_err().to_string();
        assert!(
            err.contains("event 7 (model.promote)") && err.contains("env"),
            "{err}"
        );
        // A field of the wrong type is refused the same way.
        let e = stored(
            "model.rollback",
            r#"{"model": "m", "env": "prod", "to": "2"}"#,
        );
        assert!(read::<RolledBack>(&e).is_err());
    }

    #[test]
    fn older_events_without_later_fields_still_parse() {
        let e = stored(
            "model.promote",
            r#"{"model": "m@1", "env": "staging", "allowed": true}"#,
        );
        let p: GateDecided = read(&e).unwrap();
        assert_eq!((p.model.as_str(), p.env.as_str()), ("m@1", "staging"));
        assert_eq!((p.decision, p.previous), (None, None));
    }
}
