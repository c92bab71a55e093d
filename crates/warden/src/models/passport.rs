//! `model passport`: the security passport of a model version — every
//! digest along its lineage, its signature checked now, evaluations, gate
//! decisions, approvals, quarantines and incidents — and the controls in
//! place, each mapped to the NIST AI RMF functions, the OWASP Machine
//! Learning Security Top 10 (2023) and MITRE ATLAS techniques.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use warden_core::{Action, ActorName, Timestamp, VersionRef};
use warden_store::QuarantineRecord;

use crate::documents::ModelProvenance;
use crate::policy_input::{
    ApprovalFact, DatasetFacts, EvaluationFacts, EvidenceFact, ProvenanceFacts, ScanFacts,
    SignatureFact, TrainingFacts,
};
use crate::{Error, Workspace};

/// The passport's format name.
pub const PASSPORT_FORMAT: &str = "warden.passport/v1";

/// A model version's security passport (`warden.passport/v1`).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Passport {
    /// [`PASSPORT_FORMAT`].
    pub format: String,
    /// The version, its files, signature and where it is held.
    pub model: PassportModel,
    /// The datasets and build it comes from.
    pub lineage: PassportLineage,
    /// The training facts the gate reads (`None`: imported).
    pub training: Option<TrainingFacts>,
    /// The latest evaluation, as the gate reads it.
    pub evaluation: Option<EvaluationFacts>,
    /// The scan of its package files.
    pub scans: ScanFacts,
    /// Its build provenance, verified now.
    pub build_provenance: ProvenanceFacts,
    /// Attached external evidence.
    pub evidence: Vec<EvidenceFact>,
    /// Every gate decision on this version.
    pub gate_decisions: Vec<PassportDecision>,
    /// Its approvals for each environment, verified now.
    pub approvals: Vec<PassportApproval>,
    /// Its quarantine, if any.
    pub quarantine: Option<QuarantineRecord>,
    /// The incidents opened on it.
    pub incidents: Vec<PassportIncident>,
    /// The controls in place, mapped to the frameworks.
    pub controls: Vec<Control>,
}

/// The version itself.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PassportModel {
    /// `NAME@V`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The package's `sha256:` digest.
    pub digest: String,
    /// The model's kind.
    pub kind: String,
    /// Who registered it.
    pub author: ActorName,
    /// When.
    pub created_at: Timestamp,
    /// Package file name to digest.
    pub files: BTreeMap<String, String>,
    /// Its signature, verified now (`None`: none recorded).
    pub signature: Option<SignatureFact>,
    /// The environments whose pointer is on it.
    pub held_environments: Vec<String>,
}

/// Where the version comes from.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PassportLineage {
    /// The dataset versions it was trained on, as the gate sees them.
    pub datasets: Vec<DatasetFacts>,
    /// The manifest's provenance section.
    pub provenance: ModelProvenance,
}

/// A gate decision on the version.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PassportDecision {
    /// The environment.
    pub env: String,
    /// Whether the policy allowed it.
    pub allowed: bool,
    /// Why it denied (empty when it allowed).
    pub reasons: Vec<String>,
    /// Digest of the policy that decided.
    pub policy_digest: String,
    /// Digest of the input it decided on.
    pub input_digest: String,
    /// Who asked.
    pub by: ActorName,
    /// When.
    pub at: Timestamp,
}

/// An approval for one environment.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PassportApproval {
    /// The environment.
    pub env: String,
    /// The approval, verified now.
    pub approval: ApprovalFact,
}

/// An incident on the version.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PassportIncident {
    /// The incident's id.
    pub id: u64,
    /// Its kind.
    pub kind: String,
    /// When it was opened.
    pub opened_at: Timestamp,
    /// When it was closed (`None`: open).
    pub closed_at: Option<Timestamp>,
    /// What was found and done (`None`: open).
    pub resolution: Option<String>,
}

/// One control: what it is, whether it is in place for this model, and
/// what it answers in the three frameworks.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Control {
    /// The control's name.
    pub control: String,
    /// `in place`, `missing`, `partial: …` or `n/a (…)`.
    pub status: String,
    /// What shows it, in words.
    pub evidence: String,
    /// NIST AI RMF functions it serves.
    pub nist_ai_rmf: Vec<String>,
    /// OWASP Machine Learning Security Top 10 (2023) risks it answers.
    pub owasp_ml_top10: Vec<String>,
    /// MITRE ATLAS techniques it answers.
    pub mitre_atlas: Vec<String>,
}

fn control(
    name: &str,
    status: &str,
    evidence: String,
    nist: &[&str],
    owasp: &[&str],
    atlas: &[&str],
) -> Control {
    let owned = |l: &[&str]| l.iter().map(|x| x.to_string()).collect();
    Control {
        control: name.to_string(),
        status: status.to_string(),
        evidence,
        nist_ai_rmf: owned(nist),
        owasp_ml_top10: owned(owasp),
        mitre_atlas: owned(atlas),
    }
}

/// A model version as the registry records it: what the console's version
/// page shows. Cheap to read (a few indexed rows): nothing is verified
/// here. The passport ([`Workspace::passport`]) is the checked account
/// (the signature checked now, the whole log re-verified), and the gate
/// ([`Workspace::gate`]) decides.
#[derive(Debug, Serialize)]
pub struct VersionOverview {
    /// The version's row with its typed manifest and files.
    pub model: crate::ModelInfo,
    /// Its recorded gate decisions, oldest first.
    pub decisions: Vec<PassportDecision>,
    /// Its recorded approvals (their signatures are checked by the gate).
    pub approvals: Vec<warden_store::ApprovalRecord>,
    /// The environments whose stage pointer is at this version.
    pub deployed: Vec<String>,
    /// Its quarantine, if any (released or not).
    pub quarantine: Option<QuarantineRecord>,
    /// Its newest recorded scan.
    pub scan: Option<warden_store::ScanRecord>,
}

/// The gate decisions recorded for one model version, oldest first.
fn recorded_decisions(
    read: &mut dyn warden_store::ReadTx,
    m: &warden_store::ModelRecord,
) -> Result<Vec<PassportDecision>, Error> {
    read.gate_decisions(&m.name)?
        .into_iter()
        .filter(|d| d.version == m.version)
        .map(|d| {
            Ok(PassportDecision {
                reasons: crate::stored::decision_reasons(&d)?,
                env: d.env,
                allowed: d.allowed,
                policy_digest: d.policy_digest,
                input_digest: d.input_digest,
                by: d.created_by,
                at: d.created_at,
            })
        })
        .collect()
}

impl Workspace {
    /// `MODEL@N` as the registry records it (see [`VersionOverview`]).
    pub fn version_overview(&self, r: &VersionRef) -> Result<VersionOverview, Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        let mut read = self.store().read()?;
        let decisions = recorded_decisions(&mut *read, &m)?;
        let approvals = read.approvals(&m.name, m.version)?;
        let deployed = read
            .stages(&m.name)?
            .into_iter()
            .filter(|p| p.version == m.version)
            .map(|p| p.env)
            .collect();
        let quarantine = read.quarantine(&m.name, m.version)?;
        let scan = read
            .scans(Some((&m.name, m.version)))?
            .into_iter()
            .max_by_key(|s| s.id);
        drop(read);
        Ok(VersionOverview {
            model: crate::ModelInfo::from_record(&m)?,
            decisions,
            approvals,
            deployed,
            quarantine,
            scan,
        })
    }

    /// The passport of `MODEL@N`, and the same as Markdown.
    pub fn passport(&self, r: &VersionRef) -> Result<(Passport, String), Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        let title = format!("{}@{}", m.name, m.version);
        let input = self.policy_input(&m, "production")?;
        let sig = input.signatures.first();
        let man = crate::stored::model_manifest(&m)?;
        let files = crate::stored::model_files(&m)?;
        let decisions = recorded_decisions(&mut *self.store().read()?, &m)?;
        let mut approvals = Vec::new();
        for env in &self.config().gates.environments {
            for a in self.approval_facts(&m, env)? {
                approvals.push(PassportApproval {
                    env: env.clone(),
                    approval: a,
                });
            }
        }
        let stages: Vec<String> = self
            .store()
            .read()?
            .stages(&m.name)?
            .into_iter()
            .filter(|p| p.version == m.version)
            .map(|p| p.env)
            .collect();
        let quarantine = self.store().read()?.quarantine(&m.name, m.version)?;
        let incidents: Vec<PassportIncident> = self
            .store()
            .read()?
            .incidents()?
            .into_iter()
            .filter(|i| i.model == m.name && i.version == m.version)
            .map(|i| PassportIncident {
                id: i.id,
                kind: i.kind,
                opened_at: i.opened_at,
                closed_at: i.closed_at,
                resolution: i.resolution,
            })
            .collect();
        let ev = input.evaluation.as_ref();
        let datasets = &input.datasets;
        let dp = input.training.as_ref().and_then(|t| t.dp.as_ref());
        // A figure as JSON shows it: a number, `null` when absent.
        let shown = |x: Option<f64>| json!(x).to_string();
        let num = |x: Option<f64>| {
            x.filter(|x| x.is_finite())
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "not measured".into())
        };
        let ok = |b: bool| if b { "in place" } else { "missing" };
        let pinned = !datasets.is_empty() && datasets.iter().all(|d| d.pinned);
        let unmasked: Vec<String> = datasets
            .iter()
            .flat_map(|d| d.pii.unmasked.iter().cloned())
            .collect();
        let screened = !datasets.is_empty() && datasets.iter().all(|d| d.screened);
        let fair: Vec<String> = ev
            .iter()
            .flat_map(|e| &e.fairness)
            .filter(|(k, _)| !k.contains('&'))
            .map(|(k, f)| format!("{k}: DP ratio {}", num(f.demographic_parity_ratio.value())))
            .collect();
        let robust = ev.is_some_and(|e| !e.robustness.is_empty());
        let mia = ev
            .and_then(|e| e.privacy.membership_inference_auc.as_ref())
            .and_then(|f| f.value())
            .filter(|x| x.is_finite());
        let valid_approvals = input
            .approvals
            .iter()
            .filter(|x| x.valid && x.distinct_from_author)
            .count();
        let sig_valid = sig.is_some_and(|s| s.valid);
        let sig_key = sig.map(|s| s.key.as_str());
        let sig_error = sig.and_then(|s| s.error.as_deref());
        let scan = &input.scan;
        let prov = &input.provenance;
        let imported = input.model.imported;
        let controls = vec![
            control(
                "Training data integrity and lineage",
                if pinned {
                    "in place"
                } else if datasets.is_empty() {
                    "n/a (imported model)"
                } else {
                    "partial: sources hashed, not pinned"
                },
                format!(
                    "{} dataset version(s) with source digests{}",
                    datasets.len(),
                    if pinned { ", pinned" } else { "" }
                ),
                &["Map", "Manage"],
                &["ML02 Data Poisoning Attack", "ML06 AI Supply Chain Attacks"],
                &[
                    "AML.T0020 Poison Training Data",
                    "AML.T0010 ML Supply Chain Compromise",
                ],
            ),
            control(
                "PII detection and minimisation",
                if datasets.is_empty() {
                    "n/a (imported model)"
                } else {
                    ok(unmasked.is_empty())
                },
                if unmasked.is_empty() {
                    "no PII left unmasked".into()
                } else {
                    format!("unmasked: {}", unmasked.join(", "))
                },
                &["Map", "Manage"],
                &[
                    "ML03 Model Inversion Attack",
                    "ML04 Membership Inference Attack",
                ],
                &["AML.T0024 Exfiltration via AI Inference API"],
            ),
            control(
                "Poisoning screen",
                if datasets.is_empty() {
                    "n/a (imported model)"
                } else {
                    ok(screened)
                },
                datasets
                    .iter()
                    .map(|d| {
                        format!(
                            "{}@{}: suspects {}",
                            d.name,
                            d.version,
                            shown(d.suspect_fraction)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                &["Measure"],
                &["ML02 Data Poisoning Attack", "ML10 Model Poisoning"],
                &["AML.T0020 Poison Training Data"],
            ),
            control(
                "Signed package, verified before every load",
                ok(sig_valid),
                format!(
                    "OpenSSF model signing by {} ({})",
                    sig_key.unwrap_or("?"),
                    if sig_valid {
                        "verifies now"
                    } else {
                        sig_error.unwrap_or("does not verify")
                    }
                ),
                &["Manage"],
                &["ML06 AI Supply Chain Attacks", "ML10 Model Poisoning"],
                &[
                    "AML.T0010 ML Supply Chain Compromise",
                    "AML.T0018 Manipulate AI Model",
                ],
            ),
            control(
                "Safe model format (no pickle)",
                "in place",
                format!(
                    "{} package: {}",
                    m.kind,
                    files.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
                &["Manage"],
                &["ML06 AI Supply Chain Attacks"],
                &["AML.T0011 User Execution"],
            ),
            control(
                "Fairness measured",
                ok(!fair.is_empty()),
                if fair.is_empty() {
                    "no evaluation with sensitive attributes".into()
                } else {
                    fair.join("; ")
                },
                &["Measure"],
                &["ML08 Model Skewing"],
                &[],
            ),
            control(
                "Adversarial robustness measured",
                ok(robust),
                if robust {
                    format!(
                        "attacks: {}",
                        ev.map(|e| e.robustness.keys().cloned().collect::<Vec<_>>().join(", "))
                            .unwrap_or_default()
                    )
                } else {
                    "not measured".into()
                },
                &["Measure"],
                &["ML01 Input Manipulation Attack"],
                &[
                    "AML.T0043 Craft Adversarial Data",
                    "AML.T0015 Evade AI Model",
                ],
            ),
            control(
                "Membership-inference risk measured; DP training",
                ok(mia.is_some()),
                format!(
                    "attack AUC {}; {}",
                    num(mia),
                    match dp {
                        Some(dp) => format!(
                            "DP-SGD ε = {}, δ = {}",
                            shown(dp.epsilon),
                            shown(dp.delta)
                        ),
                        None => "no DP".into(),
                    }
                ),
                &["Measure", "Manage"],
                &[
                    "ML04 Membership Inference Attack",
                    "ML03 Model Inversion Attack",
                ],
                &["AML.T0024.000 Infer Training Data Membership"],
            ),
            control(
                "Model-file and secret scans",
                match (scan.scanned, scan.max_severity.as_str()) {
                    (false, _) => "missing",
                    (true, "none" | "low" | "medium") => "in place",
                    (true, _) => "failing",
                },
                if scan.scanned {
                    format!(
                        "scan {} recorded {}: highest severity {}",
                        json!(scan.scan_id),
                        scan.scanned_at
                            .as_ref()
                            .map_or_else(|| "?".to_string(), |t| t.to_string()),
                        scan.max_severity
                    )
                } else {
                    "no scan recorded for this version: `warden scan MODEL@N --record`".into()
                },
                &["Measure"],
                &["ML06 AI Supply Chain Attacks"],
                &[
                    "AML.T0011 User Execution",
                    "AML.T0010 ML Supply Chain Compromise",
                ],
            ),
            control(
                "Build provenance (SLSA v1, signed)",
                match (prov.present, prov.verified) {
                    (true, true) => "in place",
                    (true, false) => "failing",
                    (false, _) if imported => "missing",
                    (false, _) => "in place",
                },
                match (prov.present, prov.verified) {
                    (true, true) => format!(
                        "built by a pipeline's training command in {}; statement {} verifies with the package's key",
                        prov.sandbox.as_deref().unwrap_or("?"),
                        prov.statement_digest.as_deref().unwrap_or("?")
                    ),
                    (true, false) => format!(
                        "the provenance does not verify: {}",
                        prov.error.as_deref().unwrap_or("?")
                    ),
                    (false, _) if imported => {
                        "imported without a record of how it was built: build it with `warden pipeline run`".into()
                    }
                    (false, _) => "trained by Warden: the manifest records dataset, configuration and seed".into(),
                },
                &["Govern", "Map"],
                &["ML06 AI Supply Chain Attacks"],
                &["AML.T0010 ML Supply Chain Compromise"],
            ),
            control(
                "Code, dependency and container evidence (SAST, SCA)",
                {
                    let list = &input.evidence;
                    if list.is_empty() {
                        "missing"
                    } else if list.iter().any(|e| e.max_score >= 7.0) {
                        "failing"
                    } else {
                        "in place"
                    }
                },
                {
                    let list = &input.evidence;
                    if list.is_empty() {
                        "no evidence recorded: `warden evidence add MODEL@N --tool NAME --kind sast --report FILE`".into()
                    } else {
                        list.iter()
                            .map(|e| {
                                format!(
                                    "{} ({}): {} finding(s), highest score {}",
                                    e.tool,
                                    e.kind,
                                    e.findings,
                                    json!(e.max_score)
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    }
                },
                &["Measure"],
                &["ML06 AI Supply Chain Attacks"],
                &["AML.T0010 ML Supply Chain Compromise"],
            ),
            control(
                "Policy gates with separation of duties",
                ok(!decisions.is_empty()),
                format!(
                    "{} gate decision(s); {} valid approval(s) for production",
                    decisions.len(),
                    valid_approvals
                ),
                &["Govern", "Manage"],
                &["ML10 Model Poisoning"],
                &["AML.T0018 Manipulate AI Model"],
            ),
            control(
                "Tamper-evident audit log",
                "in place",
                "every change is a leaf of a signed RFC 6962 Merkle log (warden audit verify)"
                    .into(),
                &["Govern"],
                &[],
                &[],
            ),
            control(
                "Incident response (quarantine, rollback, freeze)",
                "in place",
                format!(
                    "{} incident(s); quarantined: {}",
                    incidents.len(),
                    quarantine.as_ref().is_some_and(|q| q.released_at.is_none())
                ),
                &["Manage"],
                &[],
                &[],
            ),
        ];
        let mut md = format!(
            "# Security passport: {title}\n\n- digest `{}`\n- kind {}, by {} at {}\n- signature: {}\n- environments held: {}\n\n",
            m.digest,
            m.kind,
            m.created_by,
            m.created_at,
            if sig_valid {
                format!("valid, key `{}`", sig_key.unwrap_or(""))
            } else {
                format!("INVALID ({})", sig_error.unwrap_or(""))
            },
            if stages.is_empty() {
                "none".to_string()
            } else {
                stages.join(", ")
            }
        );
        md += "## Lineage\n\n";
        for d in datasets {
            md += &format!(
                "- `{}@{}` {} (pinned: {}, PII unmasked: {}, suspects: {})\n",
                d.name,
                d.version,
                d.digest,
                d.pinned,
                json!(d.pii.unmasked),
                shown(d.suspect_fraction)
            );
        }
        for (k, v) in &files {
            md += &format!("- file `{k}` {v}\n");
        }
        md += &format!(
            "\n## Evidence\n\n- accuracy {}, ROC AUC {}\n- {}\n- membership-inference AUC {}\n- DP: {}\n",
            num(ev.map(|e| e.metrics.accuracy)),
            num(ev.and_then(|e| e.metrics.roc_auc.value())),
            if fair.is_empty() {
                "fairness not measured".to_string()
            } else {
                fair.join("; ")
            },
            num(mia),
            match dp {
                Some(dp) => format!(
                    "ε = {}, δ = {} ({})",
                    shown(dp.epsilon),
                    shown(dp.delta),
                    dp.accountant.as_deref().unwrap_or("")
                ),
                None => "none".into(),
            }
        );
        md += "\n## Gate decisions\n\n";
        for d in &decisions {
            md += &format!(
                "- {} {} by {} at {} (policy {})\n",
                d.env,
                if d.allowed { "allowed" } else { "denied" },
                d.by,
                d.at,
                d.policy_digest
            );
        }
        md += "\n## Approvals\n\n";
        for a in &approvals {
            md += &format!(
                "- {}: {} ({})\n",
                a.env,
                a.approval.approver,
                if a.approval.valid { "valid" } else { "invalid" }
            );
        }
        md += "\n## Controls\n\n| control | status | evidence | NIST AI RMF | OWASP ML Top 10 | MITRE ATLAS |\n| --- | --- | --- | --- | --- | --- |\n";
        for c in &controls {
            md += &format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                c.control,
                c.status,
                c.evidence.replace('|', "/"),
                c.nist_ai_rmf.join("; "),
                c.owasp_ml_top10.join("; "),
                c.mitre_atlas.join("; ")
            );
        }
        let passport = Passport {
            format: PASSPORT_FORMAT.to_string(),
            model: PassportModel {
                reference: title,
                digest: m.digest.clone(),
                kind: m.kind.clone(),
                author: m.created_by.clone(),
                created_at: m.created_at,
                files,
                signature: sig.cloned(),
                held_environments: stages,
            },
            lineage: PassportLineage {
                datasets: input.datasets.clone(),
                provenance: man.provenance,
            },
            training: input.training.clone(),
            evaluation: input.evaluation.clone(),
            scans: input.scan.clone(),
            build_provenance: input.provenance.clone(),
            evidence: input.evidence.clone(),
            gate_decisions: decisions,
            approvals,
            quarantine,
            incidents,
            controls,
        };
        Ok((passport, md))
    }
}
