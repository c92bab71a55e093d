//! The audit event: one leaf of the workspace's Merkle log.

use serde::{Deserialize, Serialize};

use crate::{ActorName, CanonicalError, Digest, Timestamp, canonical_json};

/// One recorded state change. Its RFC 8785 canonical JSON is the Merkle leaf
/// data: `leaf = SHA-256(0x00 || canonical_json(event))`.
///
/// The payload (the details of the change) is stored beside the event and
/// bound to it by `payload_digest`, the digest of its canonical JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// Position in the log, from 0; equal to the leaf index.
    pub seq: u64,
    /// When it was appended.
    pub time: Timestamp,
    /// Who did it.
    pub actor: ActorName,
    /// What happened, e.g. `roles.grant` (see [`actions`]).
    pub action: String,
    /// What it happened to, e.g. `actor:lee` or `key:pipeline`.
    pub subject: String,
    /// Digest of the event's payload (its details, kept beside the log).
    pub payload_digest: Digest,
}

impl AuditEvent {
    /// The canonical JSON bytes that are hashed into the log.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        canonical_json(self)
    }
}

/// The action names recorded in the audit log. Policies and auditors match
/// on these strings, so they are part of Warden's stable interface.
pub mod actions {
    /// A workspace was created (its first event).
    pub const WORKSPACE_INIT: &str = "workspace.init";
    /// The workspace's metadata moved into another store (PostgreSQL).
    pub const WORKSPACE_MIGRATE: &str = "workspace.migrate";
    /// A role was granted to an actor.
    pub const ROLES_GRANT: &str = "roles.grant";
    /// A role was revoked from an actor.
    pub const ROLES_REVOKE: &str = "roles.revoke";
    /// A workspace signing key was generated.
    pub const KEYS_GENERATE: &str = "keys.generate";
    /// An external public key was trusted.
    pub const KEYS_TRUST: &str = "keys.trust";
    /// A key was revoked.
    pub const KEYS_REVOKE: &str = "keys.revoke";
    /// A principal enrolled a personal approval key.
    pub const KEYS_ENROL: &str = "keys.enrol";
    /// An admin acknowledged an enrolled approval key.
    pub const KEYS_ACKNOWLEDGE: &str = "keys.acknowledge";
    /// An action refused by the authorisation policy. It changes no state
    /// but is itself a security-relevant fact, so it is recorded.
    pub const AUTHZ_DENIED: &str = "authz.denied";
    /// A registry row used in a decision disagreed with the log.
    pub const INTEGRITY_DISAGREEMENT: &str = "integrity.disagreement";
    /// A first admin proposed a policy digest for `production`.
    pub const POLICY_PROPOSE: &str = "policy.propose";
    /// A policy digest became the one registered for a scope.
    pub const POLICY_REGISTER: &str = "policy.register";
    /// A dataset version was recorded.
    pub const DATA_INGEST: &str = "data.ingest";
    /// A model version was trained and registered.
    pub const MODEL_TRAIN: &str = "model.train";
    /// A model directory was signed.
    pub const MODEL_SIGN: &str = "model.sign";
    /// A model trained elsewhere was imported and registered.
    pub const MODEL_IMPORT: &str = "model.import";
    /// An evaluation of a model version was recorded.
    pub const MODEL_EVALUATE: &str = "model.evaluate";
    /// Another tool's report (SARIF) was bound to a model version.
    pub const EVIDENCE_ADD: &str = "evidence.add";
    /// A pipeline file was run (its stages' own events come before it).
    pub const PIPELINE_RUN: &str = "pipeline.run";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_are_sorted_and_stable() {
        let e = AuditEvent {
            seq: 3,
            time: Timestamp::parse("2026-01-02T03:04:05Z").unwrap(),
            actor: ActorName::new("ana").unwrap(),
            action: "roles.grant".into(),
            subject: "actor:lee".into(),
            payload_digest: Digest::of(b"{}"),
        };
        let s = String::from_utf8(e.canonical_bytes().unwrap()).unwrap();
        assert_eq!(
            s,
            format!(
                "{{\"action\":\"roles.grant\",\"actor\":\"ana\",\"payload_digest\":\"{}\",\"seq\":3,\"subject\":\"actor:lee\",\"time\":\"2026-01-02T03:04:05.000000Z\"}}",
                Digest::of(b"{}")
            )
        );
        let back: AuditEvent = serde_json::from_slice(s.as_bytes()).unwrap();
        assert_eq!(back, e);
    }
}
