//! `threat-model`: a STRIDE-LM analysis generated from the workspace's
//! facts — which datasets held PII and whether any is left unmasked,
//! whether sources are pinned and screened, how many models are trained
//! with DP or verify now, what the gates require, whether private keys are
//! encrypted, whether the audit log verifies. Each threat is a row of a
//! risk register: likelihood and impact (1–3), their product, and the
//! control that mitigates it with its evidence, or "open".

use crate::documents::DatasetManifest;
use serde::Serialize;

use warden_core::Action;

use crate::{Error, Workspace};

/// One row of the risk register.
#[derive(Debug, Clone, Serialize)]
pub struct Risk {
    /// The threat's id: its STRIDE-LM letter and a number (`S1`, `T3`, `I1`, …).
    pub id: String,
    /// Spoofing, Tampering, Repudiation, Information disclosure, Denial of
    /// service, Elevation of privilege, Lateral movement.
    pub category: String,
    /// What could happen.
    pub threat: String,
    /// The part of the system it targets (`datasets`, `audit log`, …).
    pub component: String,
    /// 1 (mitigated), 2 (partial) or 3 (open), from `status`.
    pub likelihood: u8,
    /// How bad it would be, 1 to 3.
    pub impact: u8,
    /// Likelihood × impact, 1 to 9.
    pub score: u8,
    /// `mitigated`, `partial` or `open`.
    pub status: String,
    /// What mitigates it.
    pub control: String,
    /// What the workspace shows of the control now (counts, verification
    /// results).
    pub evidence: String,
}

#[allow(clippy::too_many_arguments)]
fn risk(
    id: &str,
    category: &str,
    threat: &str,
    component: &str,
    impact: u8,
    status: &str,
    control: &str,
    evidence: String,
) -> Risk {
    // A mitigated threat is unlikely; a partly mitigated one possible; an open one likely.
    let likelihood = match status {
        "mitigated" => 1,
        "partial" => 2,
        _ => 3,
    };
    Risk {
        id: id.into(),
        category: category.into(),
        threat: threat.into(),
        component: component.into(),
        likelihood,
        impact,
        score: likelihood * impact,
        status: status.into(),
        control: if status == "open" {
            "open".into()
        } else {
            control.into()
        },
        evidence,
    }
}

impl Workspace {
    /// The risk register of this workspace, highest score first.
    pub fn threat_model(&self) -> Result<Vec<Risk>, Error> {
        self.authorize(Action::AuditRead, "threat-model")?;
        let store = self.store();
        let datasets = store.read()?.datasets()?;
        let models = store.read()?.models()?;
        let keys = store.read()?.keys()?;
        let manifests: Vec<DatasetManifest> = datasets
            .iter()
            .map(crate::stored::dataset_manifest)
            .collect::<Result<_, _>>()?;
        let with_pii = manifests
            .iter()
            .filter(|m| !m.checks.pii.detected.is_empty())
            .count();
        let unmasked: usize = manifests.iter().map(|m| m.checks.pii.unmasked.len()).sum();
        let pinned = manifests.iter().filter(|m| m.source.pinned).count();
        let screened = manifests
            .iter()
            .filter(|m| m.checks.suspect_fraction.is_some())
            .count();
        let verifying = models
            .iter()
            .filter(|m| self.verified_files(m).is_ok())
            .count();
        let mut dp_models = 0;
        for m in &models {
            if crate::stored::model_manifest(m)?.dp().is_some() {
                dp_models += 1;
            }
        }
        let own_keys: Vec<_> = keys
            .iter()
            .filter(|k| k.origin == "own" && k.revoked_at.is_none())
            .collect();
        let encrypted = own_keys
            .iter()
            .filter(|k| {
                std::fs::read_to_string(self.private_key_path(&k.name))
                    .is_ok_and(|t| t.contains("ENCRYPTED PRIVATE KEY"))
            })
            .count();
        let audit_ok = self.audit_verify(None).map(|r| r.ok).unwrap_or(false);
        // Imported models, and those carrying verified SLSA provenance of a
        // sandboxed, network-less build; training commands run, and sandboxed.
        let mut imported = 0;
        let mut built = 0;
        for m in &models {
            if crate::stored::model_manifest(m)?.training.is_none() {
                imported += 1;
                let p = self.provenance_facts(m, self.verified_files(m).as_ref())?;
                if p.verified && p.network_isolated == Some(true) {
                    built += 1;
                }
            }
        }
        let runs = store.read()?.pipeline_runs(None)?;
        let (mut commands, mut sandboxed) = (0, 0);
        for r in &runs {
            let Ok(doc) = serde_json::from_str::<crate::pipeline::RunDocument>(&r.document) else {
                continue;
            };
            for st in doc.stages.iter().filter(|st| st.kind == "train") {
                if let Some(sb) = st.result.as_ref().and_then(|r| r.sandbox.as_deref()) {
                    commands += 1;
                    if sb != "none" {
                        sandboxed += 1;
                    }
                }
            }
        }
        let with_evidence = {
            let ev = store.read()?.evidence(None)?;
            models
                .iter()
                .filter(|m| {
                    ev.iter()
                        .any(|e| e.model == m.name && e.version == m.version)
                })
                .count()
        };
        let min_approvals = crate::gate_config(self)?.min_approvals.unwrap_or(0);
        let n = |x: usize, total: usize| format!("{x} of {total}");
        let status = |x: usize, total: usize| {
            if total == 0 || x == total {
                "mitigated"
            } else if x > 0 {
                "partial"
            } else {
                "open"
            }
        };
        let mut r = vec![
            risk(
                "S1",
                "Spoofing",
                "a command run under another actor's name",
                "CLI",
                2,
                "partial",
                "actor names are asserted (SECURITY.md); approvals and signatures need private keys; every action is logged",
                "CLI identity is not authenticated".into(),
            ),
            risk(
                "S2",
                "Spoofing",
                "a forged model package presented as one of ours",
                "registry, serving",
                3,
                status(verifying, models.len()),
                "OpenSSF signature verified against the trust store before every load",
                format!("{} models verify now", n(verifying, models.len())),
            ),
            risk(
                "T1",
                "Tampering",
                "poisoned training labels",
                "datasets, training",
                3,
                status(screened, datasets.len()),
                "poisoning screen at ingest; the staging gate bounds the suspect fraction",
                format!("{} dataset versions screened", n(screened, datasets.len())),
            ),
            risk(
                "T2",
                "Tampering",
                "a source file swapped before ingest",
                "datasets",
                3,
                status(pinned, datasets.len()),
                "SHA-256 pins in warden.toml [data.pins] or --sha256",
                format!("{} dataset versions pinned", n(pinned, datasets.len())),
            ),
            risk(
                "T3",
                "Tampering",
                "the audit log edited after the fact",
                "audit log",
                3,
                if audit_ok { "mitigated" } else { "open" },
                "RFC 6962 Merkle log with signed checkpoints (warden audit verify)",
                format!("audit verify: {}", if audit_ok { "ok" } else { "FAILED" }),
            ),
            risk(
                "T4",
                "Tampering",
                "model weights altered in storage",
                "blob store",
                3,
                status(verifying, models.len()),
                "content-addressed blobs re-hashed on read, and the package signature",
                format!("{} models verify now", n(verifying, models.len())),
            ),
            risk(
                "R1",
                "Repudiation",
                "an approver denies having approved a release",
                "gates",
                2,
                "mitigated",
                "approvals are DSSE envelopes signed with the approver's key, recorded in the audit log",
                "approvals are signed".into(),
            ),
            risk(
                "I1",
                "Information disclosure",
                "personal data in training sets leaks through models or stored tables",
                "datasets",
                3,
                if with_pii == 0 || unmasked == 0 {
                    "mitigated"
                } else {
                    "open"
                },
                "PII detection and actions (drop, mask, pseudonymise, redact) at ingest",
                format!("{with_pii} dataset versions held PII; {unmasked} column(s) left unmasked"),
            ),
            risk(
                "I2",
                "Information disclosure",
                "membership inference against a model",
                "models",
                2,
                if models.is_empty() {
                    "mitigated"
                } else if dp_models > 0 {
                    "partial"
                } else {
                    "open"
                },
                "membership-inference measured at evaluation; DP-SGD; the production gate bounds the attack AUC",
                format!("{} models trained with DP", n(dp_models, models.len())),
            ),
            risk(
                "I3",
                "Information disclosure",
                "private keys read from disk",
                "keys",
                3,
                if own_keys.is_empty() || encrypted == own_keys.len() {
                    "mitigated"
                } else {
                    "partial"
                },
                "key files 0600 in a 0700 directory; PKCS#8 encryption with WARDEN_KEY_PASSPHRASE",
                format!(
                    "{} own keys encrypted at rest",
                    n(encrypted, own_keys.len())
                ),
            ),
            risk(
                "D1",
                "Denial of service",
                "hostile or oversized inputs exhaust the pipeline",
                "parsers",
                2,
                "partial",
                "every parser bounds sizes before allocating and is fuzzed; warden serve limits body size, rows per request, concurrency, per-key rate, connections (total and per address) and header-read, idle and TLS handshake time",
                "bounded parsers; serving limits and connection caps (docs/serve.md)".into(),
            ),
            risk(
                "E1",
                "Elevation of privilege",
                "a user grants themselves a stronger role",
                "authorisation",
                3,
                "mitigated",
                "roles decided by the Rego policy; denials recorded",
                "warden.authz policy".into(),
            ),
            risk(
                "E2",
                "Elevation of privilege",
                "a model reaches production without independent review",
                "gates",
                3,
                if min_approvals >= 2 {
                    "mitigated"
                } else if min_approvals == 1 {
                    "partial"
                } else {
                    "open"
                },
                "the production gate requires approvals from distinct approvers other than the author",
                format!("{min_approvals} approval(s) required"),
            ),
            risk(
                "L1",
                "Lateral movement",
                "a leaked pipeline key signs models for every environment",
                "keys",
                3,
                "partial",
                "key revocation voids signatures and approvals; the credential-leak incident runbook",
                format!("{} own keys", own_keys.len()),
            ),
            risk(
                "L2",
                "Lateral movement",
                "a pickled model from elsewhere runs code on a build host",
                "model import",
                3,
                "partial",
                "only safetensors and ONNX are loaded; pickle is never deserialised; warden scan interprets pickles symbolically (every container) and the gate reads the recorded scan",
                "no pickle loader exists; scans recorded per model version".into(),
            ),
            risk(
                "L3",
                "Lateral movement",
                "hostile training code (a compromised dependency) reaches the network, the host or the workspace's keys",
                "pipeline",
                3,
                status(sandboxed, commands),
                "training commands run in bubblewrap: no network, read-only code and data, one output directory, keys and credentials hidden, limits (warden pipeline run)",
                format!("{} of {} training commands sandboxed", sandboxed, commands),
            ),
            risk(
                "T5",
                "Tampering",
                "a model imported with no record of how, from what and where it was built",
                "model import",
                2,
                status(built, imported),
                "SLSA provenance signed into the package by pipeline runs; require_provenance in the gate data",
                format!(
                    "{} of {} imported models carry verified provenance of a sandboxed build",
                    built, imported
                ),
            ),
            risk(
                "E3",
                "Elevation of privilege",
                "insecure training code or a vulnerable dependency ships inside a model's pipeline",
                "pipeline",
                2,
                status(with_evidence, models.len()),
                "SAST and dependency reports bound as evidence (warden evidence add); the gate denies high-scoring findings and stale evidence",
                format!(
                    "{} of {} model versions have evidence",
                    with_evidence,
                    models.len()
                ),
            ),
        ];
        r.sort_by(|a, b| b.score.cmp(&a.score).then(a.id.cmp(&b.id)));
        Ok(r)
    }
}

/// The register as CSV.
pub fn risks_csv(risks: &[Risk]) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut s = String::from(
        "id,category,threat,component,likelihood,impact,score,status,control,evidence\n",
    );
    for r in risks {
        s += &format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            r.id,
            q(&r.category),
            q(&r.threat),
            q(&r.component),
            r.likelihood,
            r.impact,
            r.score,
            r.status,
            q(&r.control),
            q(&r.evidence)
        );
    }
    s
}

/// The register as Markdown.
pub fn risks_markdown(risks: &[Risk]) -> String {
    let mut s = String::from(
        "# Threat model (STRIDE-LM)\n\nLikelihood and impact from 1 to 3; score = likelihood × impact.\n\n| id | category | threat | component | L | I | score | status | control | evidence |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in risks {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.id,
            r.category,
            r.threat,
            r.component,
            r.likelihood,
            r.impact,
            r.score,
            r.status,
            r.control,
            r.evidence
        );
    }
    s
}
