//! SLSA provenance v1 for models a pipeline's training command built: an
//! in-toto Statement v1 whose subject is the model file, signed with the
//! pipeline key as a DSSE envelope and kept in the package
//! ([`warden_artifact::package::PROVENANCE_FILE`]), so the package's own
//! signature covers it too.
//!
//! Specifications: in-toto Statement v1
//! (<https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>),
//! SLSA Provenance v1 (<https://slsa.dev/spec/v1.0/provenance>), DSSE v1
//! (<https://github.com/secure-systems-lab/dsse/blob/master/envelope.md>).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_artifact::keys::{PublicKey, SigningKey};
use warden_core::{Digest, canonical_json};

use crate::Error;
use crate::trust::dsse::Envelope;

/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// SLSA provenance v1.
pub const SLSA_PREDICATE: &str = "https://slsa.dev/provenance/v1";
/// The DSSE payload type of an in-toto statement.
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// What kind of build this is: a pipeline's sandboxed training command.
pub const BUILD_TYPE: &str = "urn:warden:pipeline:external-train:v1";
/// Who ran it.
pub const BUILDER_ID: &str = "urn:warden:pipeline";

/// The statement before its subject is known (the import adds it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildStatement {
    /// The SLSA provenance the statement will carry.
    pub predicate: SlsaProvenance,
}

/// A full in-toto statement with SLSA provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// `_type`: [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What the statement is about: the model file, by name and SHA-256.
    pub subject: Vec<ResourceDescriptor>,
    /// `predicateType`: [`SLSA_PREDICATE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The provenance.
    pub predicate: SlsaProvenance,
}

/// SLSA provenance v1's predicate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlsaProvenance {
    /// What was built, and from what.
    pub build_definition: BuildDefinition,
    /// Who built it, and when.
    pub run_details: RunDetails,
}

/// SLSA's `buildDefinition`: the build's type, parameters and inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildDefinition {
    /// [`BUILD_TYPE`].
    pub build_type: String,
    /// What the pipeline file asked for.
    pub external_parameters: ExternalParameters,
    /// How Warden ran the command.
    pub internal_parameters: InternalParameters,
    /// The inputs: the code directory (`code`, with its git commit and tree
    /// when it is a repository, a `dirty` flag and the file count), the lock
    /// file (`lockfile:NAME`) when given, and the dataset version
    /// (`dataset:NAME@V`).
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// What the pipeline file asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalParameters {
    /// The pipeline's name.
    pub pipeline: String,
    /// `sha256:` digest of the pipeline file.
    pub pipeline_file: String,
    /// The train stage's name.
    pub stage: String,
    /// The training command (argv).
    pub command: Vec<String>,
    /// Environment variables passed through (names only).
    pub env: Vec<String>,
}

/// How Warden ran it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InternalParameters {
    /// `bubblewrap <version>`, or `none` (`--allow-unsandboxed`).
    pub sandbox: String,
    /// Whether the command ran without network access.
    pub network_isolated: bool,
    /// CPU time limit, in seconds.
    pub cpu_seconds: u64,
    /// Address-space limit, in MiB.
    pub memory_mb: u64,
    /// Wall-clock limit, in seconds.
    pub timeout_seconds: u64,
    /// Whether the CPU and memory limits were applied.
    pub rlimits_applied: bool,
}

/// SLSA's `runDetails`: who ran the build, when, and what else it wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunDetails {
    /// The builder: Warden's pipeline runner.
    pub builder: Builder,
    /// The invocation and its times.
    pub metadata: BuildMetadata,
    /// The command's standard output and error, by SHA-256 (both kept as
    /// blobs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

/// SLSA's `builder`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    /// [`BUILDER_ID`].
    pub id: String,
    /// Component versions: `warden` to the Warden version that ran it.
    #[serde(default)]
    pub version: BTreeMap<String, String>,
}

/// SLSA's build `metadata`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildMetadata {
    /// `PIPELINE:STAGE:STARTED`.
    pub invocation_id: String,
    /// When the command started (RFC 3339).
    pub started_on: String,
    /// When the command finished (RFC 3339).
    pub finished_on: String,
}

/// An in-toto ResourceDescriptor (the fields Warden writes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDescriptor {
    /// The resource's name (`code`, `dataset:NAME@V`, the model file's name, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where it is (`file://` for the code directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Algorithm to hex digest (`sha256`; `gitCommit`, `gitTree` for code in a
    /// git repository).
    pub digest: BTreeMap<String, String>,
    /// Extra facts (`files` and `dirty` for code, `table` for a dataset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, Value>>,
}

/// The statement about `subject` (a file name and its digest).
pub fn statement(build: &BuildStatement, subject: &str, digest: &Digest) -> Statement {
    Statement {
        statement_type: STATEMENT_TYPE.to_string(),
        subject: vec![ResourceDescriptor {
            name: Some(subject.to_string()),
            uri: None,
            digest: BTreeMap::from([("sha256".to_string(), digest.hex())]),
            annotations: None,
        }],
        predicate_type: SLSA_PREDICATE.to_string(),
        predicate: build.predicate.clone(),
    }
}

/// Signs a statement as a DSSE envelope; returns its bytes and the
/// statement's digest.
pub fn sign(
    statement: &Statement,
    key: &SigningKey,
    key_id: &str,
) -> Result<(Vec<u8>, Digest), Error> {
    let payload = canonical_json(statement)?;
    let envelope = Envelope::sign(INTOTO_PAYLOAD_TYPE, &payload, key, key_id);
    Ok((canonical_json(&envelope)?, Digest::of(&payload)))
}

/// Verifies an envelope with `key`, and that its statement is SLSA
/// provenance about `subject` with `digest`. The error is a reason to show.
pub fn verify(
    envelope: &[u8],
    key: &PublicKey,
    subject: &str,
    digest: &Digest,
) -> Result<Statement, String> {
    let env: Envelope =
        serde_json::from_slice(envelope).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    if env.payload_type != INTOTO_PAYLOAD_TYPE {
        return Err(format!(
            "payload type {:?} is not an in-toto statement",
            env.payload_type
        ));
    }
    let payload = env.payload_bytes()?;
    let verified = env
        .signatures
        .iter()
        .any(|s| env.verifies(s, &payload, key));
    if !verified {
        return Err(
            "no signature on the provenance verifies with the package's signing key".into(),
        );
    }
    let st: Statement = serde_json::from_slice(&payload)
        .map_err(|e| format!("the statement is not SLSA provenance v1 as Warden writes it: {e}"))?;
    if st.statement_type != STATEMENT_TYPE || st.predicate_type != SLSA_PREDICATE {
        return Err(format!(
            "statement type {} with predicate {}: want {STATEMENT_TYPE} with {SLSA_PREDICATE}",
            st.statement_type, st.predicate_type
        ));
    }
    let names_it = st.subject.iter().any(|s| {
        s.name.as_deref() == Some(subject) && s.digest.get("sha256") == Some(&digest.hex())
    });
    if !names_it {
        return Err(format!(
            "the provenance is not about this {subject} (sha256 {})",
            digest.hex()
        ));
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_artifact::keys::Algorithm;

    fn build() -> BuildStatement {
        BuildStatement {
            predicate: SlsaProvenance {
                build_definition: BuildDefinition {
                    build_type: BUILD_TYPE.into(),
                    external_parameters: ExternalParameters {
                        pipeline: "p".into(),
                        pipeline_file: "sha256:00".into(),
                        stage: "train".into(),
                        command: vec!["python3".into(), "train.py".into()],
                        env: vec![],
                    },
                    internal_parameters: InternalParameters {
                        sandbox: "bubblewrap 0.8.0".into(),
                        network_isolated: true,
                        cpu_seconds: 1,
                        memory_mb: 1,
                        timeout_seconds: 1,
                        rlimits_applied: true,
                    },
                    resolved_dependencies: vec![],
                },
                run_details: RunDetails {
                    builder: Builder {
                        id: BUILDER_ID.into(),
                        version: BTreeMap::new(),
                    },
                    metadata: BuildMetadata {
                        invocation_id: "1".into(),
                        started_on: "a".into(),
                        finished_on: "b".into(),
                    },
                    byproducts: vec![],
                },
            },
        }
    }

    #[test]
    fn signed_provenance_verifies_only_for_its_subject_and_key() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let other = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let d = Digest::of(b"model");
        let st = statement(&build(), "model.onnx", &d);
        let (env, _) = sign(&st, &key, "k").unwrap();
        assert_eq!(
            verify(&env, &key.public_key(), "model.onnx", &d).unwrap(),
            st
        );
        assert!(
            verify(&env, &other.public_key(), "model.onnx", &d)
                .unwrap_err()
                .contains("no signature")
        );
        assert!(
            verify(&env, &key.public_key(), "model.onnx", &Digest::of(b"x"))
                .unwrap_err()
                .contains("not about")
        );
        // A changed payload no longer verifies.
        let mut v: Value = serde_json::from_slice(&env).unwrap();
        let mut st2 = st.clone();
        st2.predicate.build_definition.external_parameters.command = vec!["evil".into()];
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        v["payload"] = Value::String(b64.encode(canonical_json(&st2).unwrap()));
        let tampered = serde_json::to_vec(&v).unwrap();
        assert!(verify(&tampered, &key.public_key(), "model.onnx", &d).is_err());
        assert!(verify(b"{}", &key.public_key(), "model.onnx", &d).is_err());
    }
}
