//! `model bom`: a CycloneDX 1.6 ML-BOM of a model version — the model
//! (with its model card), its package files, and its training datasets —
//! validated in the test suite against the official 1.6 JSON schema.

use serde_json::{Value, json};
use sha2::Digest as _;
use warden_core::{Action, Timestamp, VersionRef};

use crate::{Error, Workspace};

fn hex_of(d: &str) -> String {
    d.trim_start_matches("sha256:").to_ascii_lowercase()
}

/// A name-based UUID (SHA-256 of `seed`, version and variant bits set): the
/// same model version always gets the same serial number.
fn uuid_of(seed: &str) -> String {
    let h = sha2::Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// A finite figure as text (what the JSON of the figure would show).
fn s(x: f64) -> Option<String> {
    x.is_finite().then(|| format!("{x}"))
}

/// A defined, finite figure as text.
fn fig(f: &warden_ml::metrics::Figure) -> Option<String> {
    f.value().and_then(s)
}

impl Workspace {
    /// The CycloneDX 1.6 ML-BOM of `MODEL@N`.
    pub fn model_bom(&self, r: &VersionRef) -> Result<Value, Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        let title = format!("{}@{}", m.name, m.version);
        let model_ref = format!("model:{title}");
        let man = crate::stored::model_manifest(&m)?;
        // The facts it cites are the production gate's.
        let input = self.policy_input(&m, "production")?;
        let ev = input.evaluation.as_ref();
        let mut components = Vec::new();
        let mut depends = Vec::new();
        let mut dataset_refs = Vec::new();
        for d in &input.datasets {
            let (name, version) = (&d.name, d.version);
            let bref = format!("dataset:{name}@{version}");
            let detected = &d.pii.detected;
            let mut data = json!({"type": "dataset", "name": format!("{name}@{version}"),
                "classification": if detected.is_empty() { "no PII detected".to_string() } else { format!("source held PII ({}); unmasked after ingest: {}", detected.join(", "),
                    d.pii.unmasked.len()) }});
            if !detected.is_empty() {
                data["sensitiveData"] = json!(detected);
            }
            components.push(json!({
                "type": "data", "bom-ref": bref, "name": name, "version": version.to_string(),
                "hashes": [{"alg": "SHA-256", "content": hex_of(&d.digest)}],
                "data": [data],
            }));
            dataset_refs.push(json!({"ref": bref}));
            depends.push(bref);
        }
        let files = crate::stored::model_files(&m)?;
        for (f, d) in &files {
            let bref = format!("file:{title}/{f}");
            components.push(json!({"type": "file", "bom-ref": bref, "name": f,
                "hashes": [{"alg": "SHA-256", "content": hex_of(d)}]}));
            depends.push(bref);
        }
        let mut metrics = Vec::new();
        if let Some(ev) = ev {
            let mx = &ev.metrics;
            for (value, name) in [
                (s(mx.accuracy), "accuracy"),
                (fig(&mx.roc_auc), "ROC AUC"),
                (fig(&mx.macro_f1), "macro F1"),
                (fig(&mx.log_loss), "log loss"),
            ] {
                if let Some(v) = value {
                    metrics.push(json!({"type": name, "value": v}));
                }
            }
        }
        let mut fairness = Vec::new();
        for (attr, f) in ev.iter().flat_map(|e| &e.fairness) {
            if let Some(v) = fig(&f.demographic_parity_ratio) {
                metrics
                    .push(json!({"type": "demographic parity ratio", "value": v, "slice": attr}));
                if !attr.contains('&') {
                    fairness.push(json!({
                        "groupAtRisk": format!("groups of {attr}"),
                        "harms": format!("unequal selection rates (demographic parity ratio {v})"),
                        "mitigationStrategy": "the staging gate requires a ratio of at least the configured minimum on every sensitive attribute",
                    }));
                }
            }
        }
        for (attack, list) in ev.iter().flat_map(|e| &e.robustness) {
            for x in list {
                if let (Some(e), Some(a)) = (s(x.eps), s(x.robust_accuracy)) {
                    metrics.push(json!({"type": format!("robust accuracy ({attack})"), "value": a, "slice": format!("eps {e}")}));
                }
            }
        }
        if let Some(v) = ev
            .and_then(|e| e.privacy.membership_inference_auc.as_ref())
            .and_then(fig)
        {
            metrics.push(json!({"type": "membership-inference attack AUC", "value": v}));
        }
        let dp = input.training.as_ref().and_then(|t| t.dp.as_ref());
        let mut limitations = vec![format!(
            "signed with key {}; verify before use (warden verify)",
            m.signed_by
        )];
        if let Some(dp) = dp {
            let shown = |x: Option<f64>| json!(x).to_string();
            limitations.push(format!(
                "trained with DP-SGD: epsilon {}, delta {}",
                shown(dp.epsilon),
                shown(dp.delta)
            ));
        } else {
            limitations.push("trained without differential privacy".into());
        }
        let features = man.feature_names();
        let classes = &man.labels.classes;
        let family = match m.kind.as_str() {
            "logreg" => "logistic regression",
            "mlp" => "multilayer perceptron",
            _ => "imported ONNX model",
        };
        let mut card = json!({
            "modelParameters": {
                "approach": {"type": "supervised"},
                "task": "classification",
                "architectureFamily": family,
                "modelArchitecture": serde_json::to_value(&man.model.architecture)?.to_string(),
                "inputs": [{"format": format!("tabular record: {}", features.join(", "))}],
                "outputs": [{"format": format!("class probabilities: {}", classes.join(", "))}],
            },
            "considerations": {
                "technicalLimitations": limitations,
                "ethicalConsiderations": [{"name": "fairness across sensitive attributes", "mitigationStrategy": "evaluated per group and intersection; gated by policy"}],
            },
        });
        if !dataset_refs.is_empty() {
            card["modelParameters"]["datasets"] = json!(dataset_refs);
        }
        if !metrics.is_empty() {
            card["quantitativeAnalysis"] = json!({"performanceMetrics": metrics});
        }
        if !fairness.is_empty() {
            card["considerations"]["fairnessAssessments"] = json!(fairness);
        }
        // How it was built and what other tools found, as Warden properties.
        let mut properties = Vec::new();
        let p = &input.provenance;
        if p.present {
            properties.push(json!({"name": "warden:provenance:slsa",
                "value": format!("SLSA provenance v1, {}; built in {}",
                    if p.verified { "verified with the package's key" } else { "NOT verified" },
                    p.sandbox.as_deref().unwrap_or("?"))}));
            if let Some(d) = &p.statement_digest {
                properties.push(json!({"name": "warden:provenance:statement", "value": d}));
            }
        }
        for e in &input.evidence {
            properties.push(json!({"name": format!("warden:evidence:{}", e.tool),
                "value": format!("{} report {}: {} finding(s), highest score {}",
                    e.kind, e.report, e.findings, json!(e.max_score))}));
        }
        let mut model = json!({
            "type": "machine-learning-model", "bom-ref": model_ref, "name": m.name, "version": m.version.to_string(),
            "hashes": [{"alg": "SHA-256", "content": hex_of(&m.digest)}],
            "modelCard": card,
        });
        if !properties.is_empty() {
            model["properties"] = Value::Array(properties);
        }
        let mut all = vec![model];
        all.extend(components);
        Ok(json!({
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "serialNumber": format!("urn:uuid:{}", uuid_of(&m.digest)),
            "version": 1,
            "metadata": {
                "timestamp": Timestamp::now(),
                "tools": {"components": [{"type": "application", "name": "warden", "version": env!("CARGO_PKG_VERSION")}]},
            },
            "components": all,
            "dependencies": [{"ref": model_ref, "dependsOn": depends}],
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn serial_numbers_are_stable_lowercase_uuids() {
        let u = super::uuid_of("sha256:00");
        assert_eq!(u, super::uuid_of("sha256:00"));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "5");
        assert!(
            u.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
    }
}
