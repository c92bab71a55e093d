//! Every action the authorisation policy decides, as one closed enum.
//!
//! An [`Action`] is what a principal asks to do (`model.promote`,
//! `serve.predict`, ...). Its dotted name is what the Rego policy sees as
//! `input.action` and what the audit log records for the actions that are
//! themselves events. The bundled policy lists the same set as
//! `data.warden.authz.actions`; a test in `warden-policy` checks the two
//! agree in both directions, so an action cannot be added on one side only.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// An action decided by the authorisation policy.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $($(#[$doc])* $variant,)*
        }

        impl Action {
            /// Every action, in declaration order.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The dotted name the policy and the log use.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }

        impl FromStr for Action {
            type Err = UnknownAction;
            fn from_str(s: &str) -> Result<Self, UnknownAction> {
                match s {
                    $($name => Ok(Action::$variant),)*
                    _ => Err(UnknownAction(s.to_string())),
                }
            }
        }
    };
}

actions! {
    /// Create an inference API key (the policy also sees its role).
    ApikeyCreate => "apikey.create",
    /// Hold an API key (the monitor's response to abuse).
    ApikeyHold => "apikey.hold",
    /// List API keys (never their secrets).
    ApikeyList => "apikey.list",
    /// Revoke an API key.
    ApikeyRevoke => "apikey.revoke",
    /// Lift a hold on an API key.
    ApikeyUnblock => "apikey.unblock",
    /// Produce inclusion or consistency proofs and checkpoints.
    AuditProof => "audit.proof",
    /// Read the audit log, incidents and the threat model.
    AuditRead => "audit.read",
    /// Verify the audit log.
    AuditVerify => "audit.verify",
    /// Ingest a dataset version.
    DataIngest => "data.ingest",
    /// Read datasets and their manifests.
    DataRead => "data.read",
    /// Bind another tool's report (SARIF, pip-audit) to a model version.
    EvidenceAdd => "evidence.add",
    /// Close an incident.
    IncidentClose => "incident.close",
    /// Open an incident.
    IncidentOpen => "incident.open",
    /// Acknowledge another principal's enrolled approval key.
    KeysAcknowledge => "keys.acknowledge",
    /// Enrol one's own approval key.
    KeysEnrol => "keys.enrol",
    /// Export a public key.
    KeysExport => "keys.export",
    /// Generate a workspace key.
    KeysGenerate => "keys.generate",
    /// List keys.
    KeysList => "keys.list",
    /// Revoke a key.
    KeysRevoke => "keys.revoke",
    /// Trust an external public key.
    KeysTrust => "keys.trust",
    /// Sign an approval of a model version.
    ModelApprove => "model.approve",
    /// Write a model card.
    ModelCard => "model.card",
    /// Record an evaluation of a model version.
    ModelEvaluate => "model.evaluate",
    /// Import a model trained elsewhere.
    ModelImport => "model.import",
    /// Move an environment's pointer to a model version.
    ModelPromote => "model.promote",
    /// Quarantine a model version.
    ModelQuarantine => "model.quarantine",
    /// Read models, evaluations, gates and reports.
    ModelRead => "model.read",
    /// Release a model version from quarantine.
    ModelRelease => "model.release",
    /// Roll an environment back to an earlier version.
    ModelRollback => "model.rollback",
    /// Sign a model directory.
    ModelSign => "model.sign",
    /// Train a model version.
    ModelTrain => "model.train",
    /// Pause a model's monitor.
    MonitorPause => "monitor.pause",
    /// Record a monitoring window or its decision.
    MonitorRecord => "monitor.record",
    /// Resume a model's monitor.
    MonitorResume => "monitor.resume",
    /// Run a pipeline file (each stage also asks for its own action).
    PipelineRun => "pipeline.run",
    /// Propose or register a policy digest.
    PolicyRegister => "policy.register",
    /// Show which policies are registered and in force.
    PolicyStatus => "policy.status",
    /// Grant a role (the policy also sees the role).
    RolesGrant => "roles.grant",
    /// List role grants.
    RolesList => "roles.list",
    /// Revoke a role.
    RolesRevoke => "roles.revoke",
    /// Record a scan report as evidence.
    ScanRecord => "scan.record",
    /// Read the inference server's metrics.
    ServeMetrics => "serve.metrics",
    /// Call a served model.
    ServePredict => "serve.predict",
    /// Run the inference server for an environment, or the hub.
    ServeRun => "serve.run",
    /// Create a personal access token for oneself (the hub).
    TokenCreate => "token.create",
    /// List one's own personal access tokens.
    TokenList => "token.list",
    /// Revoke one of one's own personal access tokens.
    TokenRevoke => "token.revoke",
    /// Move the workspace's metadata into another store.
    WorkspaceMigrate => "workspace.migrate",
}

impl Action {
    /// Whether a policy pattern matches this action: `*` matches every
    /// action, `x.*` every action under `x`, anything else only itself.
    /// This is the bundled policy's `action_matches`, so tests and the
    /// explanation of a denial agree with it.
    pub fn matched_by(self, pattern: &str) -> bool {
        let name = self.as_str();
        match pattern.strip_suffix(".*") {
            _ if pattern == "*" => true,
            Some(prefix) => name
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.')),
            None => pattern == name,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A string that names no [`Action`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action {0:?}")]
pub struct UnknownAction(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            assert!(seen.insert(a.as_str()), "{a} twice");
            assert_eq!(a.as_str().parse::<Action>(), Ok(*a));
            let (area, verb) = a.as_str().split_once('.').unwrap();
            assert!(!area.is_empty() && !verb.is_empty() && !verb.contains('.'));
        }
        assert!("model.fly".parse::<Action>().is_err());
    }

    #[test]
    fn patterns_match_like_the_policy() {
        assert!(Action::ModelRead.matched_by("*"));
        assert!(Action::ModelRead.matched_by("model.*"));
        assert!(Action::ModelRead.matched_by("model.read"));
        assert!(!Action::ModelRead.matched_by("model.train"));
        assert!(!Action::ModelRead.matched_by("mod.*"));
        assert!(!Action::ModelRead.matched_by("model"));
        assert!(!Action::MonitorPause.matched_by("model.*"));
    }

    #[test]
    fn serde_uses_the_dotted_name() {
        let j = serde_json::to_string(&Action::ServePredict).unwrap();
        assert_eq!(j, "\"serve.predict\"");
        let back: Action = serde_json::from_str(&j).unwrap();
        assert_eq!(back, Action::ServePredict);
        assert!(serde_json::from_str::<Action>("\"serve.fly\"").is_err());
    }
}
