//! The documents of the hub's JSON API that are not already an engine
//! result: who the caller is, a model with its versions and pointers, a
//! token at its creation, and the error body. The server writes them and
//! the CLI's hub client reads them, so both sides compile against one
//! definition; every other answer is an engine type ([`crate::ModelInfo`],
//! [`crate::EventOut`], [`crate::RolesReport`], …), also read back whole.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_store::{AccessTokenRecord, ApiKeyRecord, QuarantineRecord, StagePointer};

use crate::ModelInfo;

/// `GET /api/v1/whoami`: the authenticated principal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Whoami {
    /// The principal (`ISSUER.subject`, or a token's owner).
    pub principal: Option<String>,
    /// The groups its identity token placed it in.
    pub groups: Vec<String>,
    /// The roles the registry grants it and its groups.
    pub roles: Vec<String>,
    /// The team the registry paths are under (`default`).
    pub team: String,
}

/// `GET …/models/{name}`: a model's versions and its stage pointers.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ModelOverview {
    /// The model's name.
    pub name: String,
    /// Every version, oldest first.
    pub versions: Vec<ModelInfo>,
    /// The environments' pointers to it.
    pub stages: Vec<StagePointer>,
}

/// `POST …/tokens`: the token, shown this once, and its record.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct TokenIssued {
    /// The secret token (`wdp_…`).
    pub token: String,
    /// What is kept of it: never the token, only its keyed hash.
    pub record: AccessTokenRecord,
    /// A reminder that it is not shown again.
    pub note: String,
}

/// `POST …/apikeys`: an inference API key, shown this once, and its
/// record.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyIssued {
    /// The secret key (`wdn_…`).
    pub key: String,
    /// What is kept of it: never the key, only its keyed hash.
    pub record: ApiKeyRecord,
    /// A reminder that it is not shown again.
    pub note: String,
}

/// `POST …/environments/{env}/serving/events`: a replica's load or skip,
/// recorded.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ServingRecorded {
    /// The action recorded (`serve.load` or `serve.skip`).
    pub recorded: String,
}

/// The body of every refusal: what went wrong, in words. A gate's denial
/// (409) carries the gate's outcome beside it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// The message.
    pub error: String,
}

impl ErrorBody {
    /// The message of a refusal's body, if it is one.
    pub fn message_of(body: serde_json::Value) -> Option<String> {
        serde_json::from_value::<ErrorBody>(body)
            .ok()
            .map(|b| b.error)
    }
}

/// The `request` part of a CSV uploaded as a dataset version
/// (`POST …/datasets/{name}/versions`, a `multipart/form-data` body): what
/// `warden data ingest` takes as flags. The parts come in this order:
/// `request`, then `schema` and `pii_policy` when their digests are given
/// here, then `data`, the CSV, last; the CSV is ingested as it arrives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetUpload {
    /// SHA-256 of the `data` part, 64 hex characters: nothing is recorded
    /// unless the bytes received hash to it.
    pub sha256: String,
    /// Record `sha256` as the version's pin, as `data ingest --sha256` does.
    #[serde(default)]
    pub pin: bool,
    /// The file's name on the uploader's machine, for the record.
    #[serde(default)]
    pub source: Option<String>,
    /// SHA-256 of the `schema` part (TOML column types and expectations),
    /// which must then follow.
    #[serde(default)]
    pub schema_sha256: Option<String>,
    /// SHA-256 of the `pii_policy` part (TOML PII actions), which must then
    /// follow.
    #[serde(default)]
    pub pii_policy_sha256: Option<String>,
    /// The label column.
    #[serde(default)]
    pub target: Option<String>,
    /// The declared feature columns (default: every column that is not the
    /// target, the id, sensitive or PII).
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Sensitive attributes: kept for fairness checks, never features.
    #[serde(default)]
    pub sensitive: Vec<String>,
    /// The row id column (pseudonymised unless the PII policy says otherwise).
    #[serde(default)]
    pub id: Option<String>,
    /// Skip the poisoning screen.
    #[serde(default)]
    pub no_screen: bool,
    /// The largest share of wrong labels the dataset may have (0 to 1).
    #[serde(default)]
    pub max_label_noise: Option<f64>,
    /// Leave the screen's suspect rows out of the stored table.
    #[serde(default)]
    pub drop_suspects: bool,
    /// The field delimiter: one ASCII character or `tab` (default `,`).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Trim spaces and tabs around every field.
    #[serde(default)]
    pub trim: bool,
    /// The values read as missing (default: empty, NA, N/A, NaN, nan, null,
    /// NULL, None, ?).
    #[serde(default)]
    pub missing: Option<Vec<String>>,
    /// The longest field accepted, in bytes (default 1 MiB).
    #[serde(default)]
    pub max_field_bytes: Option<u64>,
}

/// The `request` part of a model file uploaded as a model version
/// (`POST …/models/{name}/versions`, a `multipart/form-data` body): what
/// `warden model import` takes as flags. The parts come in this order:
/// `request`, `schema`, `check` when its digest is given here, then
/// `model`, the ONNX, XGBoost or LightGBM file, last.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelUpload {
    /// SHA-256 of the `model` part, 64 hex characters: nothing is recorded
    /// unless the bytes received hash to it.
    pub sha256: String,
    /// SHA-256 of the `schema` part (the TOML input schema).
    pub schema_sha256: String,
    /// SHA-256 of the `check` part (the framework's own predictions on a
    /// reference batch), which must then follow.
    #[serde(default)]
    pub check_sha256: Option<String>,
    /// Largest absolute difference accepted per probability against the
    /// check batch.
    #[serde(default)]
    pub check_tolerance: Option<f64>,
    /// The dataset version the model was trained on (or a held-out one),
    /// `NAME@V`: its reference profile and training ranges.
    #[serde(default)]
    pub dataset: Option<String>,
}

/// `POST …/models/{name}/versions/{version}/quarantine`: the quarantine
/// recorded and the environments whose pointer to the version was removed.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Quarantined {
    /// The quarantine's record.
    pub quarantine: QuarantineRecord,
    /// The environments that pointed at the version.
    pub removed_from: Vec<String>,
}

/// `POST …/roles/revoke`: the grant that was revoked.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RoleRevoked {
    /// The principal or group.
    pub principal: String,
    /// The role it no longer holds.
    pub role: String,
    /// Always `true`: a revocation that did not happen is an error instead.
    pub revoked: bool,
}
