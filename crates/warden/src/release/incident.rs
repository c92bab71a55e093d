//! Incidents: `incident open` quarantines the model, freezes the pipeline
//! (training and promotion refuse while any incident is open), traces the
//! model's lineage to every dataset version and source, lists the other
//! models trained on the same datasets, and writes an incident report
//! (JSON + Markdown blobs) with the runbook for its kind.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_core::{Action, ActorName, Timestamp, VersionRef, canonical_json};
use warden_store::{IncidentRecord, QuarantineRecord};

use crate::events;
use crate::{Error, Workspace};

/// The incident kinds.
pub const INCIDENT_KINDS: [&str; 6] = [
    "poisoning",
    "data-leak",
    "drift",
    "credential-leak",
    "integrity",
    "other",
];

/// What to do when a registry row disagreed with the audit log.
pub(crate) const INTEGRITY_RUNBOOK: [&str; 4] = [
    "Run `warden audit verify` to list every row that disagrees with the log and every damaged event.",
    "Find who could write .warden/warden.db since the last sound verification (file access logs, backups, service accounts); rotate the keys they could read.",
    "Restore the database from a backup that verifies, or have each change redone through Warden so that it is audited.",
    "Close the incident with what was found (`warden incident close ID --resolution TEXT`).",
];

fn runbook(kind: &str) -> Vec<&'static str> {
    match kind {
        "poisoning" => vec![
            "Keep the model quarantined; roll every environment it held back (warden rollback MODEL --env ENV).",
            "Review the poisoning screen of each dataset version in the lineage (warden data show NAME@V --markdown).",
            "Find where the suspect rows entered: compare the source digests with the pinned ones (warden.toml [data.pins]).",
            "Re-ingest clean data under a new version, retrain, re-evaluate; check every other model trained on the same datasets.",
            "Close the incident with the resolution and the new model version.",
        ],
        "data-leak" => vec![
            "Keep the model quarantined; stop serving it.",
            "List the PII detected and left unmasked in each dataset version of the lineage (warden data show NAME@V).",
            "Check membership-inference results (warden eval); retrain with DP-SGD or with the columns dropped or masked.",
            "Notify the data owners and follow the data-protection procedure; record what was exposed.",
            "Rotate the pseudonymisation secret if pseudonyms were exposed with their inputs.",
        ],
        "drift" => vec![
            "Compare recent traffic with the model's reference profile; confirm the drifted features.",
            "Roll back if an earlier version holds up better; otherwise retrain on recent, validated data.",
            "Re-evaluate fairness: drift often moves groups unevenly.",
        ],
        "credential-leak" => vec![
            "Revoke the leaked key (warden keys revoke NAME) and any API keys; generate new ones.",
            "Re-verify every model signed by the leaked key (warden verify); re-sign or retrain what cannot be trusted.",
            "Check the audit log for actions by the leaked identity since the leak (warden audit log --actor NAME).",
            "Verify the audit log itself (warden audit verify) and publish a fresh checkpoint.",
        ],
        "integrity" => INTEGRITY_RUNBOOK.to_vec(),
        _ => vec![
            "Keep the model quarantined while the cause is investigated.",
            "Trace the lineage and the audit log; record findings in the resolution.",
        ],
    }
}

/// The result of `incident open`.
#[derive(Debug, Serialize)]
pub struct IncidentOpened {
    /// The incident as recorded (its id is what `incident close` takes).
    pub incident: IncidentRecord,
    /// The incident report (`warden.incident/v1`).
    pub report: IncidentReport,
    /// The report as Markdown (stored as a blob; not serialised).
    #[serde(skip)]
    pub markdown: String,
}

/// The incident report (`warden.incident/v1`), stored as canonical JSON
/// beside its Markdown: what happened to which version, what it was built
/// from, what else is built from the same data, and what to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentReport {
    /// `warden.incident/v1`.
    pub format: String,
    /// The version the incident is about.
    pub model: IncidentModel,
    /// The kind of incident (one of [`INCIDENT_KINDS`]).
    pub kind: String,
    /// What happened, in the opener's words.
    pub summary: String,
    /// Who opened it.
    pub opened_by: ActorName,
    /// When.
    pub opened_at: Timestamp,
    /// The datasets and source files the version was built from.
    pub lineage: IncidentLineage,
    /// Other versions trained on any of the same datasets.
    pub models_on_the_same_datasets: Vec<AffectedModel>,
    /// The environments the version was taken out of.
    pub removed_from: Vec<String>,
    /// The steps to follow for this kind of incident.
    pub runbook: Vec<String>,
    /// What raised it, when Warden did rather than a person (an integrity
    /// incident raised by a row that disagrees with the log, whose report
    /// has no lineage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raised_by: Option<String>,
}

/// The version an incident is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentModel {
    /// `NAME@N`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The package's digest (absent in an integrity incident, raised on
    /// rows that may have been altered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// What a version was built from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentLineage {
    /// Dataset versions (`NAME@N`).
    pub datasets: Vec<String>,
    /// The source files behind them.
    pub sources: Vec<SourceFile>,
}

/// A source file, by name and digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SourceFile {
    /// The file's name as ingested.
    pub name: String,
    /// Its digest.
    pub digest: String,
}

/// Another version trained on some of the same datasets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AffectedModel {
    /// `NAME@N`.
    pub model: String,
    /// The datasets it shares.
    pub datasets: Vec<String>,
}

impl Workspace {
    /// The open incident freezing the pipeline, if any.
    pub(crate) fn freeze(&self) -> Result<Option<IncidentRecord>, Error> {
        Ok(self
            .store()
            .read()?
            .incidents()?
            .into_iter()
            .find(|i| i.closed_at.is_none()))
    }

    /// Refuses when an incident is open.
    pub(crate) fn check_freeze(&self, what: &str) -> Result<(), Error> {
        if let Some(i) = self.freeze()? {
            return Err(Error::Invalid(format!(
                "the pipeline is frozen by incident {} ({} on {}@{}): {what} is refused until it is closed (warden incident close {} --resolution TEXT)",
                i.id, i.kind, i.model, i.version, i.id
            )));
        }
        Ok(())
    }

    /// Opens an incident on `MODEL@N`.
    pub fn incident_open(
        &self,
        r: &VersionRef,
        kind: &str,
        summary: &str,
    ) -> Result<IncidentOpened, Error> {
        self.authorize(Action::IncidentOpen, &format!("model:{r}"))?;
        if !INCIDENT_KINDS.contains(&kind) {
            return Err(Error::Usage(format!(
                "--kind {kind}: one of {}",
                INCIDENT_KINDS.join(", ")
            )));
        }
        if summary.trim().is_empty() {
            return Err(Error::Usage("--summary must say what happened".into()));
        }
        let m = self.find_model(r)?;
        let title = format!("{}@{}", m.name, m.version);
        let lineage = self.model_lineage(r)?;
        let datasets: Vec<String> = lineage
            .nodes
            .iter()
            .filter(|n| n.kind == "dataset-version")
            .map(|n| n.label.clone())
            .collect();
        let sources: Vec<SourceFile> = lineage
            .nodes
            .iter()
            .filter(|n| n.kind == "source")
            .map(|n| SourceFile {
                name: n.label.clone(),
                digest: n.digest.clone(),
            })
            .collect();
        let mut affected = Vec::new();
        for other in self.store().read()?.models()? {
            if other.name == m.name && other.version == m.version {
                continue;
            }
            let om = crate::stored::model_manifest(&other)?;
            let uses: Vec<String> = om
                .dataset_refs()
                .into_iter()
                .map(str::to_string)
                .filter(|d| datasets.contains(d))
                .collect();
            if !uses.is_empty() {
                affected.push(AffectedModel {
                    model: format!("{}@{}", other.name, other.version),
                    datasets: uses,
                });
            }
        }
        let stages = self.store().read()?.stages(&m.name)?;
        let held: Vec<String> = stages
            .iter()
            .filter(|p| p.version == m.version)
            .map(|p| p.env.clone())
            .collect();
        let now = Timestamp::now();
        let steps = runbook(kind);
        let report = IncidentReport {
            format: "warden.incident/v1".into(),
            model: IncidentModel {
                reference: title.clone(),
                digest: Some(m.digest.clone()),
            },
            kind: kind.into(),
            summary: summary.into(),
            opened_by: self.actor().clone(),
            opened_at: now.clone(),
            lineage: IncidentLineage {
                datasets: datasets.clone(),
                sources,
            },
            models_on_the_same_datasets: affected,
            removed_from: held.clone(),
            runbook: steps.iter().map(|s| s.to_string()).collect(),
            raised_by: None,
        };
        let mut md = format!(
            "# Incident: {kind} on {title}\n\n{summary}\n\nOpened by {} at {now}. The model is quarantined{}; training and promotion are frozen until the incident is closed.\n\n## Lineage\n\n",
            self.actor(),
            if held.is_empty() {
                String::new()
            } else {
                format!(" and removed from {}", held.join(", "))
            }
        );
        for d in &datasets {
            md += &format!("- dataset `{d}`\n");
        }
        for s in &report.lineage.sources {
            md += &format!("- source `{}` {}\n", s.name, s.digest);
        }
        md += "\n## Other models trained on the same datasets\n\n";
        if report.models_on_the_same_datasets.is_empty() {
            md += "None.\n";
        }
        for a in &report.models_on_the_same_datasets {
            md += &format!("- `{}`\n", a.model);
        }
        md += "\n## Runbook\n\n";
        for (i, s) in steps.iter().enumerate() {
            md += &format!("{}. {s}\n", i + 1);
        }
        let report_bytes = canonical_json(&report)?;
        let (report_digest, _) = self.blobs().put(&mut report_bytes.as_slice())?;
        let (md_digest, _) = self.blobs().put(&mut md.as_bytes())?;
        let mut incident = IncidentRecord {
            id: 0,
            model: m.name.clone(),
            version: m.version,
            kind: kind.into(),
            summary: summary.into(),
            report_digest: report_digest.to_string(),
            markdown_digest: md_digest.to_string(),
            opened_by: self.actor().clone(),
            opened_at: now.clone(),
            closed_by: None,
            closed_at: None,
            resolution: None,
        };
        let already = self.is_quarantined(&m.name, m.version)?;
        let mut tx = self.store().write()?;
        incident.id = tx.save_incident(&incident)?;
        for env in &held {
            tx.remove_stage(&m.name, env)?;
        }
        if !already {
            tx.set_quarantine(&QuarantineRecord {
                model: m.name.clone(),
                version: m.version,
                reason: format!("incident {}: {kind}", incident.id),
                created_by: self.actor().clone(),
                created_at: now,
                released_by: None,
                released_at: None,
                release_reason: None,
            })?;
            events::append(
                &mut *tx,
                self.actor(),
                "model.quarantine",
                &format!("model:{title}"),
                &events::Quarantined {
                    model: title.clone(),
                    digest: Some(m.digest.clone()),
                    reason: Some(format!("incident {}: {kind}", incident.id)),
                    removed_from: held.clone(),
                },
            )?;
        }
        events::append(
            &mut *tx,
            self.actor(),
            "incident.open",
            &format!("incident:{}", incident.id),
            &events::IncidentOpened {
                incident: incident.id,
                model: title.clone(),
                kind: kind.to_string(),
                summary: Some(summary.to_string()),
                report: Some(report_digest.to_string()),
            },
        )?;
        self.commit(tx)?;
        Ok(IncidentOpened {
            incident,
            report,
            markdown: md,
        })
    }

    /// Every incident.
    pub fn incident_list(&self) -> Result<Vec<IncidentRecord>, Error> {
        self.authorize(Action::AuditRead, "incidents")?;
        Ok(self.store().read()?.incidents()?)
    }

    /// One incident and its Markdown report.
    pub fn incident_show(&self, id: u64) -> Result<(IncidentRecord, String), Error> {
        self.authorize(Action::AuditRead, &format!("incident:{id}"))?;
        let i = self
            .store()
            .read()?
            .incidents()?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| Error::NotFound(format!("incident {id}")))?;
        let d = i
            .markdown_digest
            .parse()
            .map_err(|e| Error::Verification(format!("{e}")))?;
        let md = String::from_utf8_lossy(&self.blobs().get(&d)?).into_owned();
        Ok((i, md))
    }

    /// Closes an incident (the model stays quarantined until released).
    pub fn incident_close(&self, id: u64, resolution: &str) -> Result<IncidentRecord, Error> {
        self.authorize(Action::IncidentClose, &format!("incident:{id}"))?;
        if resolution.trim().is_empty() {
            return Err(Error::Usage(
                "--resolution must say how it was resolved".into(),
            ));
        }
        let mut i = self
            .store()
            .read()?
            .incidents()?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| Error::NotFound(format!("incident {id}")))?;
        if i.closed_at.is_some() {
            return Err(Error::Conflict(format!("incident {id} is already closed")));
        }
        i.closed_by = Some(self.actor().clone());
        i.closed_at = Some(Timestamp::now());
        i.resolution = Some(resolution.to_string());
        let mut tx = self.store().write()?;
        tx.save_incident(&i)?;
        events::append(
            &mut *tx,
            self.actor(),
            "incident.close",
            &format!("incident:{id}"),
            &events::IncidentClosed {
                incident: id,
                resolution: resolution.to_string(),
            },
        )?;
        self.commit(tx)?;
        Ok(i)
    }
}
