//! The documents of the hub's JSON API that are not already an engine
//! result: who the caller is, a model with its versions and pointers, a
//! token at its creation, and the error body. The server writes them and
//! the CLI's hub client reads them, so both sides compile against one
//! definition; every other answer is an engine type ([`crate::ModelInfo`],
//! [`crate::EventOut`], [`crate::RolesReport`], …), also read back whole.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_store::{AccessTokenRecord, StagePointer};

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
