//! `model card`: a Hugging Face model card (Markdown with YAML front
//! matter: license, datasets, tags, metrics and a model-index) filled from
//! the package and its latest evaluation. The sections only a person can
//! write carry a marker; an attached card is complete when no marker is
//! left and the license is set. The production gate reads that count.

use serde::Serialize;
use serde_json::Value;
use warden_core::{Action, Timestamp, VersionRef, canonical_json};
use warden_store::ModelRecord;

use crate::events;
use crate::{Error, Workspace};

/// The marker of a section a person must write.
pub const TO_WRITE: &str = "<!-- warden: write this section -->";

/// Sections only a person can write.
pub const HUMAN_SECTIONS: [&str; 4] = [
    "Intended use",
    "Out-of-scope use",
    "Limitations and risks",
    "Ethical considerations",
];

/// Largest card accepted.
const MAX_CARD: u64 = 1 << 20;

/// The result of attaching a card.
#[derive(Debug, Serialize)]
pub struct CardAttached {
    /// `NAME@V` of the model.
    pub model: String,
    /// `sha256:` digest of the card as stored (a blob).
    pub digest: String,
    /// What the card still lacks: `front matter`, `license`, or a section
    /// name from [`HUMAN_SECTIONS`]; empty when complete.
    pub missing: Vec<String>,
}

fn yaml_str(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    Value::String(s.to_string()).to_string()
}

/// The sections still to write in a card's text.
pub fn missing_sections(text: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let front = text
        .strip_prefix("---\n")
        .and_then(|t| t.split_once("\n---"))
        .map(|(f, _)| f);
    match front {
        None => missing.push("front matter".to_string()),
        Some(f) => {
            let license = f
                .lines()
                .find_map(|l| l.strip_prefix("license:"))
                .map(|v| v.trim().trim_matches('"').to_string());
            if license
                .as_deref()
                .is_none_or(|l| l.is_empty() || l == "unknown")
            {
                missing.push("license".to_string());
            }
        }
    }
    let mut current = String::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            current = h.trim().to_string();
        } else if line.contains(TO_WRITE) && !missing.contains(&current) {
            missing.push(current.clone());
        }
    }
    for h in HUMAN_SECTIONS {
        if !text
            .lines()
            .any(|l| l.strip_prefix("## ").is_some_and(|x| x.trim() == h))
            && !missing.iter().any(|m| m == h)
        {
            missing.push(h.to_string());
        }
    }
    missing
}

impl Workspace {
    /// The generated card of `MODEL@N`.
    pub fn model_card(&self, r: &VersionRef) -> Result<String, Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        self.generate_card(&m)
    }

    fn generate_card(&self, m: &ModelRecord) -> Result<String, Error> {
        let man = crate::stored::model_manifest(m)?;
        // The same evaluation the gate reads, checked against the log.
        let report = self.checked_latest_evaluation(m)?.map(|(_, r)| r);
        let dataset_ref = report
            .as_ref()
            .and_then(|r| r.dataset.as_ref())
            .map(|d| d.reference.clone())
            .unwrap_or_default();
        let title = format!("{}@{}", m.name, m.version);
        let datasets = man.dataset_refs();
        let mut y = String::from("---\nlicense: unknown\n");
        y += "library_name: warden\n";
        y += &format!("tags:\n  - tabular-classification\n  - {}\n", m.kind);
        if !datasets.is_empty() {
            y += "datasets:\n";
            for d in &datasets {
                y += &format!("  - {}\n", yaml_str(d));
            }
        }
        let metrics: Vec<(&str, f64)> = report
            .as_ref()
            .map(|r| {
                let p = &r.performance;
                [
                    ("accuracy", Some(p.accuracy)),
                    ("roc_auc", p.roc_auc.value()),
                    ("f1", p.macro_f1.value()),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.filter(|x| x.is_finite()).map(|x| (k, x)))
                .collect()
            })
            .unwrap_or_default();
        if !metrics.is_empty() {
            y += "metrics:\n";
            for (k, _) in &metrics {
                y += &format!("  - {k}\n");
            }
            y += &format!(
                "model-index:\n  - name: {}\n    results:\n      - task:\n          type: tabular-classification\n        dataset:\n          name: {}\n          type: {}\n        metrics:\n",
                yaml_str(&title),
                yaml_str(&dataset_ref),
                yaml_str(m.name.as_str())
            );
            for (k, v) in &metrics {
                y += &format!("          - type: {k}\n            value: {v}\n");
            }
        }
        y += "---\n\n";
        let mut s = y;
        s += &format!("# Model card: {title}\n\n");
        s += "## Model details\n\n";
        s += &format!(
            "- kind: {}\n- digest: `{}` (OpenSSF model signing, key `{}`)\n- created by {} at {}\n- target `{}`, classes {}\n\n",
            m.kind,
            m.digest,
            m.signed_by,
            m.created_by,
            m.created_at,
            man.labels.target.as_deref().unwrap_or("?"),
            man.labels.classes.join(", ")
        );
        for h in ["Intended use", "Out-of-scope use"] {
            s += &format!("## {h}\n\n{TO_WRITE}\n\n");
        }
        s += "## Training data\n\n";
        if datasets.is_empty() {
            s += "Imported model: trained elsewhere.\n\n";
        } else {
            for d in &datasets {
                s += &format!("- `{d}` (see `warden data show {d}`)\n");
            }
            s += &format!("- features: {}\n\n", man.feature_names().join(", "));
        }
        s += "## Evaluation\n\n";
        match &report {
            Some(r) => {
                for (k, v) in &metrics {
                    s += &format!("- {k}: {v:.4}\n");
                }
                s += &format!("- on `{dataset_ref}`, {} rows\n", r.rows);
                for f in &r.fairness {
                    if let Some(v) = f.demographic_parity_ratio.value().filter(|v| v.is_finite()) {
                        s += &format!("- demographic parity ratio ({}): {v:.3}\n", f.attribute);
                    }
                }
                // The worse of the two attacks, as the gate reads it.
                if let Some(a) = r
                    .privacy
                    .as_ref()
                    .map(crate::release::gate::worst_membership_auc)
                    .and_then(|v| v.value())
                    .filter(|a| a.is_finite())
                {
                    s += &format!("- membership-inference AUC (worse attack): {a:.3}\n");
                }
                s += "\n";
            }
            None => s += "No evaluation is recorded yet (`warden eval`).\n\n",
        }
        s += "## Privacy\n\n";
        s += &if let Some(dp) = man.dp_guarantee() {
            // As JSON shows a figure: a number, `null` when absent.
            let shown = |x: Option<f64>| serde_json::json!(x).to_string();
            format!(
                "Trained with DP-SGD: ε = {}, δ = {} ({}).\n\n",
                shown(dp.epsilon),
                shown(dp.delta),
                dp.accountant.as_deref().unwrap_or("")
            )
        } else {
            "Trained without differential privacy.\n\n".to_string()
        };
        for h in ["Limitations and risks", "Ethical considerations"] {
            s += &format!("## {h}\n\n{TO_WRITE}\n\n");
        }
        Ok(s)
    }

    /// The sections of `m`'s card still to write (all of them without a card).
    pub(crate) fn card_missing(&self, m: &ModelRecord) -> Result<Vec<String>, Error> {
        Ok(match self.store().read()?.model_card(&m.name, m.version)? {
            Some((_, missing)) => {
                serde_json::from_str(&missing).map_err(|e| Error::Data(e.to_string()))?
            }
            None => {
                let mut all = vec!["license".to_string()];
                all.extend(HUMAN_SECTIONS.iter().map(|s| s.to_string()));
                all
            }
        })
    }

    /// Attaches a written card to `MODEL@N`; reports what is still missing.
    pub fn attach_card(
        &self,
        r: &VersionRef,
        file: &std::path::Path,
    ) -> Result<CardAttached, Error> {
        self.authorize(Action::ModelCard, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        let meta = std::fs::metadata(file).map_err(|e| Error::io(file, e))?;
        if meta.len() > MAX_CARD {
            return Err(Error::Invalid(format!(
                "{}: larger than {MAX_CARD} bytes",
                file.display()
            )));
        }
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
        let missing = missing_sections(&text);
        let (digest, _) = self.blobs().put(&mut text.as_bytes())?;
        let now = Timestamp::now();
        let mut tx = self.store().write()?;
        tx.set_model_card(
            &m.name,
            m.version,
            &digest.to_string(),
            &String::from_utf8_lossy(&canonical_json(&missing)?),
            self.actor(),
            &now,
        )?;
        events::append(
            &mut *tx,
            self.actor(),
            "model.card",
            &format!("model:{}@{}", m.name, m.version),
            &events::CardWritten {
                model: format!("{}@{}", m.name, m.version),
                card: digest.to_string(),
                missing: missing.clone(),
            },
        )?;
        self.commit(tx)?;
        Ok(CardAttached {
            model: format!("{}@{}", m.name, m.version),
            digest: digest.to_string(),
            missing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_license_and_absent_sections_count_as_missing() {
        let full = "---\nlicense: apache-2.0\n---\n\n## Intended use\n\nx\n## Out-of-scope use\n\ny\n## Limitations and risks\n\nz\n## Ethical considerations\n\nw\n";
        assert!(missing_sections(full).is_empty());
        let marked = full.replace("\n\nz\n", &format!("\n\n{TO_WRITE}\n"));
        assert_eq!(missing_sections(&marked), ["Limitations and risks"]);
        assert_eq!(
            missing_sections(&full.replace("apache-2.0", "unknown")),
            ["license"]
        );
        assert_eq!(missing_sections("# no front matter\n")[0], "front matter");
        assert!(
            missing_sections(&full.replace("## Ethical considerations", "## Ethics"))
                .contains(&"Ethical considerations".to_string())
        );
    }
}
