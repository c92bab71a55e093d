//! Scans recorded in the workspace. `warden scan MODEL@N` scans the files
//! of a registered package (verified against its signature first, so the
//! bytes scanned are the bytes signed); `--record` stores the full report
//! as a blob and the scan record with its audit event in one transaction.
//! The gate's policy input carries the latest recorded scan of the model
//! version being decided.

use std::path::PathBuf;

use warden_core::{Action, Timestamp, VersionRef, canonical_json};
use warden_scan::{Options, Report};
use warden_store::{ModelRecord, ScanRecord};

use crate::events;
use crate::{Error, Workspace};

/// Findings carried into the policy input (the full list is in the report blob).
const POLICY_FINDINGS: usize = 50;

impl Workspace {
    /// Scans `MODEL@N`'s package files; paths in the report read `MODEL@N/FILE`.
    pub fn scan_model(
        &self,
        r: &VersionRef,
        opts: &Options,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Report, Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        let (files, _, _) = self.verified_files(&m)?;
        let dir = tempfile::tempdir()
            .map_err(|e| Error::Invalid(format!("cannot create a scratch directory: {e}")))?;
        for (name, bytes) in &files {
            let p = dir.path().join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            std::fs::write(&p, bytes).map_err(|e| Error::io(&p, e))?;
        }
        let mut report = warden_scan::scan(&[PathBuf::from(dir.path())], opts, progress);
        let prefix = dir.path().display().to_string();
        let title = format!("{}@{}", m.name, m.version);
        for f in &mut report.files {
            if let Some(rest) = f.path.strip_prefix(&prefix) {
                f.path = format!("{title}{rest}");
            }
        }
        Ok(report)
    }

    /// Records a scan: the report as a blob, the record and its audit event
    /// in one transaction. `model`: the version the scan covers, if any.
    pub fn record_scan(
        &self,
        report: &Report,
        model: Option<&VersionRef>,
        target: &str,
    ) -> Result<ScanRecord, Error> {
        let subject = match model {
            Some(r) => format!("model:{r}"),
            None => format!("scan:{target}"),
        };
        self.authorize(Action::ScanRecord, &subject)?;
        let m: Option<ModelRecord> = match model {
            Some(r) => Some(self.find_model(r)?),
            None => None,
        };
        let value = serde_json::to_value(report)
            .map_err(|e| Error::Invalid(format!("scan report: {e}")))?;
        let bytes = canonical_json(&value)?;
        let (digest, _) = self.blobs().put(&mut bytes.as_slice())?;
        let max = report.max_severity.map(|s| s.as_str()).unwrap_or("none");
        let mut rec = ScanRecord {
            id: 0,
            model: m.as_ref().map(|m| m.name.clone()),
            version: m.as_ref().map(|m| m.version),
            target: target.to_string(),
            profile: report.profile.as_str().to_string(),
            max_severity: max.to_string(),
            findings: report.summary.findings as u64,
            files: report.summary.files as u64,
            incomplete: (report.summary.unscanned + report.summary.errors) as u64,
            report_digest: digest.to_string(),
            created_by: self.actor().clone(),
            created_at: Timestamp::now(),
        };
        let mut tx = self.store().write()?;
        rec.id = tx.insert_scan(&rec)?;
        events::append(
            &mut *tx,
            self.actor(),
            "scan.record",
            &subject,
            &events::ScanRecorded {
                scan: rec.id,
                target: Some(target.to_string()),
                profile: rec.profile.clone(),
                max_severity: max.to_string(),
                findings: rec.findings,
                files: rec.files,
                incomplete: rec.incomplete,
                report: rec.report_digest.clone(),
                model: m.as_ref().map(|m| format!("{}@{}", m.name, m.version)),
                model_digest: m.as_ref().map(|m| m.digest.clone()),
            },
        )?;
        self.commit(tx)?;
        Ok(rec)
    }

    /// Recorded scans (of one model version, or all).
    pub fn scans(&self, model: Option<&VersionRef>) -> Result<Vec<ScanRecord>, Error> {
        self.authorize(Action::ModelRead, "scan:*")?;
        let m = match model {
            Some(r) => Some(self.find_model(r)?),
            None => None,
        };
        Ok(self
            .store()
            .read()?
            .scans(m.as_ref().map(|m| (&m.name, m.version)))?)
    }

    /// The `scan` section of the policy input: the latest recorded scan of
    /// this model version, or `scanned: false`.
    pub(crate) fn scan_facts(
        &self,
        m: &ModelRecord,
    ) -> Result<crate::policy_input::ScanFacts, Error> {
        // The rows the gate reads must be the ones the log recorded: a
        // deleted or edited scan row is refused, not gated on.
        let scans = {
            let mut tx = self.store().read()?;
            let scans = tx.scans(Some((&m.name, m.version)))?;
            let events = tx.events_with_actions(&["scan.record"])?;
            let version = format!("{}@{}", m.name, m.version);
            if let Some(d) = crate::ledger::scan_disagreement(&events, &version, &scans)? {
                drop(tx);
                return Err(self.refuse_disagreement_on(d, Some((&m.name, m.version))));
            }
            scans
        };
        let Some(s) = scans.last() else {
            return Ok(crate::policy_input::ScanFacts {
                scanned: false,
                scan_id: None,
                profile: None,
                scanned_at: None,
                max_severity: "none".into(),
                counts: None,
                files: None,
                incomplete: None,
                findings: Vec::new(),
                report: None,
            });
        };
        let digest = s
            .report_digest
            .parse()
            .map_err(|e| Error::Invalid(format!("scan {}: {e}", s.id)))?;
        let report: Report = serde_json::from_slice(&self.blobs().get(&digest)?)
            .map_err(|e| Error::Invalid(format!("scan {} report: {e}", s.id)))?;
        let mut findings = Vec::new();
        for f in &report.files {
            for x in &f.findings {
                if findings.len() < POLICY_FINDINGS {
                    findings.push(crate::policy_input::ScanFinding {
                        file: f.path.clone(),
                        rule: x.rule.clone(),
                        severity: x.severity.as_str().to_string(),
                        message: x.message.clone(),
                        member: x.member.clone(),
                    });
                }
            }
        }
        let sm = &report.summary;
        Ok(crate::policy_input::ScanFacts {
            scanned: true,
            scan_id: Some(s.id),
            profile: Some(s.profile.clone()),
            scanned_at: Some(s.created_at.clone()),
            max_severity: s.max_severity.clone(),
            counts: Some(crate::policy_input::SeverityCounts {
                critical: sm.critical as u64,
                high: sm.high as u64,
                medium: sm.medium as u64,
                low: sm.low as u64,
            }),
            files: Some(sm.files as u64),
            incomplete: Some(s.incomplete),
            findings,
            report: Some(s.report_digest.clone()),
        })
    }
}
