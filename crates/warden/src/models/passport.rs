//! `model passport`: the security passport of a model version — every
//! digest along its lineage, its signature checked now, evaluations, gate
//! decisions, approvals, quarantines and incidents — and the controls in
//! place, each mapped to the NIST AI RMF functions, the OWASP Machine
//! Learning Security Top 10 (2023) and MITRE ATLAS techniques.

use serde_json::{Value, json};
use warden_core::{Action, VersionRef};

use crate::{Error, Workspace};

/// One control: what it is, whether it is in place for this model, and
/// what it answers in the three frameworks.
fn control(
    name: &str,
    status: &str,
    evidence: String,
    nist: &[&str],
    owasp: &[&str],
    atlas: &[&str],
) -> Value {
    json!({"control": name, "status": status, "evidence": evidence, "nist_ai_rmf": nist, "owasp_ml_top10": owasp, "mitre_atlas": atlas})
}

impl Workspace {
    /// The passport of `MODEL@N`: (JSON, Markdown).
    pub fn passport(&self, r: &VersionRef) -> Result<(Value, String), Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        let title = format!("{}@{}", m.name, m.version);
        let input = self.policy_input(&m, "production")?;
        let sig = input.signatures.first();
        let man = crate::stored::model_manifest(&m)?;
        let files = crate::stored::model_files(&m)?;
        let decisions: Vec<Value> = self
            .store()
            .read()?
            .gate_decisions(&m.name)?
            .into_iter()
            .filter(|d| d.version == m.version)
            .map(|d| Ok(json!({"env": d.env, "allowed": d.allowed, "reasons": crate::stored::decision_reasons(&d)?,
                            "policy_digest": d.policy_digest, "input_digest": d.input_digest, "by": d.created_by, "at": d.created_at})))
            .collect::<Result<_, Error>>()?;
        let mut approvals = Vec::new();
        for env in &self.config().gates.environments {
            for a in self.approval_facts(&m, env)? {
                approvals.push(json!({"env": env, "approval": a}));
            }
        }
        let stages: Vec<Value> = self
            .store()
            .read()?
            .stages(&m.name)?
            .into_iter()
            .filter(|p| p.version == m.version)
            .map(|p| json!(p.env))
            .collect();
        let quarantine = self.store().read()?.quarantine(&m.name, m.version)?;
        let incidents: Vec<Value> = self
            .store()
            .read()?
            .incidents()?
            .into_iter()
            .filter(|i| i.model == m.name && i.version == m.version)
            .map(|i| json!({"id": i.id, "kind": i.kind, "opened_at": i.opened_at, "closed_at": i.closed_at, "resolution": i.resolution}))
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
        let passport = json!({
            "format": "warden.passport/v1",
            "model": {"ref": title, "digest": m.digest, "kind": m.kind, "author": m.created_by, "created_at": m.created_at,
                      "files": files, "signature": sig, "held_environments": stages},
            "lineage": {"datasets": datasets, "provenance": man.provenance},
            "training": input.training,
            "evaluation": ev,
            "scans": input.scan,
            "build_provenance": input.provenance,
            "evidence": input.evidence,
            "gate_decisions": decisions,
            "approvals": approvals,
            "quarantine": quarantine,
            "incidents": incidents,
            "controls": controls,
        });
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
                stages
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
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
                d["env"].as_str().unwrap_or(""),
                if d["allowed"] == true {
                    "allowed"
                } else {
                    "denied"
                },
                d["by"].as_str().unwrap_or(""),
                d["at"].as_str().unwrap_or(""),
                d["policy_digest"].as_str().unwrap_or("")
            );
        }
        md += "\n## Approvals\n\n";
        for a in &approvals {
            md += &format!(
                "- {}: {} ({})\n",
                a["env"].as_str().unwrap_or(""),
                a["approval"]["approver"].as_str().unwrap_or(""),
                if a["approval"]["valid"] == true {
                    "valid"
                } else {
                    "invalid"
                }
            );
        }
        md += "\n## Controls\n\n| control | status | evidence | NIST AI RMF | OWASP ML Top 10 | MITRE ATLAS |\n| --- | --- | --- | --- | --- | --- |\n";
        for c in &passport["controls"].as_array().cloned().unwrap_or_default() {
            let list = |k: &str| {
                c[k].as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default()
            };
            md += &format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                c["control"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
                c["evidence"].as_str().unwrap_or("").replace('|', "/"),
                list("nist_ai_rmf"),
                list("owasp_ml_top10"),
                list("mitre_atlas")
            );
        }
        Ok((passport, md))
    }
}
