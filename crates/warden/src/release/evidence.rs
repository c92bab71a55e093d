//! Evidence from other tools: SAST, dependency (SCA), Dockerfile and
//! container scanners' reports bound to a model version, read by the gate.
//!
//! Two report formats are understood:
//! - **SARIF 2.1.0** (OASIS): Bandit, Semgrep, Trivy, Grype, Hadolint and
//!   most code-scanning tools write it. Only the fields the gate needs are
//!   parsed (the tool's name and version, each result's rule, level,
//!   message, first location and `security-severity`); everything else is
//!   kept in the stored report as given.
//! - **pip-audit JSON** (`pip-audit -f json`): each known vulnerability of a
//!   dependency is a finding.
//!
//! Each finding gets a severity score on the CVSS scale the way GitHub code
//! scanning reads SARIF: the `security-severity` property of the result, else
//! of its rule; a result without one scores by its level (`error` 7.0,
//! `warning` 4.0, `note` 1.0, `none` 0). A pip-audit vulnerability carries
//! no score, so it counts as high (7.0): an unknown severity is not taken
//! for a harmless one. The score maps to critical (≥ 9), high (≥ 7),
//! medium (≥ 4), low (> 0) or none.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_core::{Action, Digest, Timestamp, VersionRef, actions, canonical_json};
use warden_store::{EvidenceRecord, ModelRecord};

use crate::events;
use crate::{Error, Workspace};

/// Largest report accepted.
pub const MAX_EVIDENCE_BYTES: u64 = 64 << 20;

/// Findings carried into the summary the gate reads (the highest scores
/// first; the whole report is in its blob).
const SUMMARY_FINDINGS: usize = 50;

/// What a report is evidence of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceKind {
    /// Static analysis of the training code (Bandit, Semgrep).
    Sast,
    /// Known vulnerabilities of dependencies (pip-audit, OSV-Scanner).
    Sca,
    /// A container image scan (Trivy, Grype).
    Container,
    /// A Dockerfile linter (Hadolint).
    Dockerfile,
    /// Anything else.
    Other,
}

impl EvidenceKind {
    /// The kind's name: `sast`, `sca`, `container`, `dockerfile` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Sast => "sast",
            EvidenceKind::Sca => "sca",
            EvidenceKind::Container => "container",
            EvidenceKind::Dockerfile => "dockerfile",
            EvidenceKind::Other => "other",
        }
    }
}

impl EvidenceKind {
    /// The kind a well-known tool's report is: Bandit, Semgrep, CodeQL and
    /// Ruff are SAST, pip-audit, OSV-Scanner, Safety and Dependency-Check
    /// SCA, Trivy and Grype container scanners, Hadolint a Dockerfile
    /// linter; anything else `other`. Names are matched case-insensitively.
    pub fn of_tool(tool: &str) -> Self {
        match tool.to_ascii_lowercase().as_str() {
            "bandit" | "semgrep" | "codeql" | "ruff" => EvidenceKind::Sast,
            "pip-audit" | "osv-scanner" | "safety" | "dependency-check" => EvidenceKind::Sca,
            "trivy" | "grype" => EvidenceKind::Container,
            "hadolint" => EvidenceKind::Dockerfile,
            _ => EvidenceKind::Other,
        }
    }
}

impl std::str::FromStr for EvidenceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "sast" => EvidenceKind::Sast,
            "sca" => EvidenceKind::Sca,
            "container" => EvidenceKind::Container,
            "dockerfile" => EvidenceKind::Dockerfile,
            "other" => EvidenceKind::Other,
            _ => {
                return Err(format!(
                    "unknown evidence kind {s:?}: one of sast, sca, container, dockerfile, other"
                ));
            }
        })
    }
}

/// One finding as the gate reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceFinding {
    /// The rule or vulnerability id (`B602`, `PYSEC-2024-1`).
    pub rule: String,
    /// critical, high, medium, low or none.
    pub severity: String,
    /// On the CVSS scale, 0 to 10.
    pub score: f64,
    /// The finding's message, as the report gives it.
    pub message: String,
    /// `file:line` or `package==version`, when the report names one.
    pub location: Option<String>,
}

/// What the gate reads of one report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceSummary {
    /// `sarif` or `pip-audit`.
    pub format: String,
    /// The tool as the report names itself, and its version.
    pub reported_tool: String,
    /// The tool's version, when the report gives it.
    pub tool_version: Option<String>,
    /// Findings counted (every one, not only those in `top`).
    pub findings: u64,
    /// Findings by severity (critical, high, medium, low, none).
    pub counts: BTreeMap<String, u64>,
    /// The highest finding's score (0 with no findings).
    pub max_score: f64,
    /// The highest-scoring findings, at most 50.
    pub top: Vec<EvidenceFinding>,
    /// SARIF results not counted as findings: passes and other non-failures
    /// (`kind`), suppressed ones, and ones no longer present (`baselineState:
    /// absent`).
    #[serde(default)]
    pub not_counted: u64,
}

/// What to record.
#[derive(Clone, Debug)]
pub struct EvidenceRequest {
    /// The model version the report is bound to.
    pub model: VersionRef,
    /// A short name for the tool (`bandit`, `pip-audit`, `trivy`).
    pub tool: String,
    /// What the report is evidence of (see [`EvidenceKind::of_tool`] for the
    /// usual kind of a tool).
    pub kind: EvidenceKind,
    /// The report: SARIF 2.1.0 or pip-audit JSON, at most
    /// [`MAX_EVIDENCE_BYTES`].
    pub file: PathBuf,
}

/// Where a report's bytes came from: a malformed file is a bad input file
/// (`Invalid`), a malformed request body the caller's mistake (`Usage`).
#[derive(Clone, Copy, Debug)]
pub enum ReportSource<'a> {
    /// A file at this path.
    File(&'a std::path::Path),
    /// A request's body (the hub's evidence route).
    Request,
}

impl ReportSource<'_> {
    fn refuse(self, what: String) -> Error {
        match self {
            ReportSource::File(p) => Error::Invalid(format!("{}: {what}", p.display())),
            ReportSource::Request => Error::Usage(format!("the report: {what}")),
        }
    }
}

/// A recorded report.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceInfo {
    /// The record (flattened into the JSON).
    #[serde(flatten)]
    pub record: EvidenceRecord,
    /// What the gate reads of the report.
    pub summary: EvidenceSummary,
}

/// Severity name of a CVSS-scale score, as GitHub code scanning buckets it.
pub fn severity_of(score: f64) -> &'static str {
    if score >= 9.0 {
        "critical"
    } else if score >= 7.0 {
        "high"
    } else if score >= 4.0 {
        "medium"
    } else if score > 0.0 {
        "low"
    } else {
        "none"
    }
}

/// Parses a report (SARIF 2.1.0 or pip-audit JSON, told apart by content)
/// into what the gate reads. The error names what is wrong and where.
pub fn summarise_report(bytes: &[u8]) -> Result<EvidenceSummary, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let mut findings = if value.get("runs").is_some() || value.get("$schema").is_some() {
        parse_sarif(value)?
    } else if value.get("dependencies").is_some() {
        parse_pip_audit(value)?
    } else {
        return Err(
            "neither SARIF 2.1.0 (no `runs`) nor pip-audit JSON (no `dependencies`)".to_string(),
        );
    };
    findings.1.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.rule.cmp(&b.rule))
    });
    let (format, tool, version, not_counted) = findings.0;
    let mut counts: BTreeMap<String, u64> = ["critical", "high", "medium", "low", "none"]
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    for f in &findings.1 {
        *counts.entry(f.severity.clone()).or_default() += 1;
    }
    Ok(EvidenceSummary {
        format,
        reported_tool: tool,
        tool_version: version,
        findings: findings.1.len() as u64,
        counts,
        max_score: findings.1.first().map_or(0.0, |f| f.score),
        top: findings.1.into_iter().take(SUMMARY_FINDINGS).collect(),
        not_counted,
    })
}

type Parsed = ((String, String, Option<String>, u64), Vec<EvidenceFinding>);

// ---- SARIF 2.1.0 -----------------------------------------------------------
// The subset of the OASIS SARIF 2.1.0 schema the gate reads; unknown
// properties are allowed, as the standard's extensibility requires.

#[derive(Deserialize)]
struct Sarif {
    version: String,
    runs: Vec<SarifRun>,
}

#[derive(Deserialize)]
struct SarifRun {
    tool: SarifTool,
    /// Absent means the tool did not run to completion (SARIF §3.14.23);
    /// an empty list means it ran and found nothing.
    #[serde(default)]
    results: Option<Vec<SarifResult>>,
    #[serde(default)]
    invocations: Vec<SarifInvocation>,
}

#[derive(Deserialize)]
struct SarifInvocation {
    #[serde(default, rename = "executionSuccessful")]
    execution_successful: Option<bool>,
}

#[derive(Deserialize)]
struct SarifTool {
    driver: SarifDriver,
    /// Tool components beside the driver (CodeQL keeps its query packs'
    /// rules here).
    #[serde(default)]
    extensions: Vec<SarifDriver>,
}

#[derive(Deserialize)]
struct SarifDriver {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default, rename = "semanticVersion")]
    semantic_version: Option<String>,
    #[serde(default)]
    rules: Vec<SarifRule>,
}

#[derive(Deserialize)]
struct SarifRule {
    id: String,
    #[serde(default)]
    properties: Option<BTreeMap<String, Value>>,
    #[serde(default, rename = "defaultConfiguration")]
    default_configuration: Option<SarifConfiguration>,
}

#[derive(Deserialize)]
struct SarifConfiguration {
    #[serde(default)]
    level: Option<String>,
}

#[derive(Deserialize)]
struct SarifResult {
    #[serde(default, rename = "ruleId")]
    rule_id: Option<String>,
    /// -1 is SARIF's "not given".
    #[serde(default, rename = "ruleIndex")]
    rule_index: Option<i64>,
    #[serde(default)]
    rule: Option<SarifRuleReference>,
    /// `fail` (the default), or a non-failure: `pass`, `open`,
    /// `informational`, `notApplicable`, `review`.
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    suppressions: Vec<serde_json::Value>,
    #[serde(default, rename = "baselineState")]
    baseline_state: Option<String>,
    #[serde(default)]
    level: Option<String>,
    message: SarifMessage,
    #[serde(default)]
    locations: Vec<SarifLocation>,
    #[serde(default)]
    properties: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize)]
struct SarifRuleReference {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    index: Option<i64>,
    #[serde(default, rename = "toolComponent")]
    tool_component: Option<SarifComponentReference>,
}

#[derive(Deserialize)]
struct SarifComponentReference {
    #[serde(default)]
    index: Option<i64>,
}

#[derive(Deserialize)]
struct SarifMessage {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct SarifLocation {
    #[serde(default, rename = "physicalLocation")]
    physical: Option<SarifPhysical>,
}

#[derive(Deserialize)]
struct SarifPhysical {
    #[serde(default, rename = "artifactLocation")]
    artifact: Option<SarifArtifact>,
    #[serde(default)]
    region: Option<SarifRegion>,
}

#[derive(Deserialize)]
struct SarifArtifact {
    #[serde(default)]
    uri: Option<String>,
}

#[derive(Deserialize)]
struct SarifRegion {
    #[serde(default, rename = "startLine")]
    start_line: Option<u64>,
}

/// `security-severity` from a property bag: a number written as a string
/// (as GitHub documents it) or a number; out of 0..=10 is an error.
fn security_severity(
    props: Option<&BTreeMap<String, Value>>,
    where_: &str,
) -> Result<Option<f64>, String> {
    let Some(v) = props.and_then(|p| p.get("security-severity")) else {
        return Ok(None);
    };
    let x = match v {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    match x {
        Some(x) if x.is_finite() && (0.0..=10.0).contains(&x) => Ok(Some(x)),
        _ => Err(format!(
            "{where_}: security-severity {v} is not a number from 0 to 10"
        )),
    }
}

fn level_score(level: &str, where_: &str) -> Result<f64, String> {
    Ok(match level {
        "error" => 7.0,
        "warning" => 4.0,
        "note" => 1.0,
        "none" => 0.0,
        _ => {
            return Err(format!(
                "{where_}: level {level:?} is not one of none, note, warning, error"
            ));
        }
    })
}

fn parse_sarif(value: Value) -> Result<Parsed, String> {
    let sarif: Sarif =
        serde_json::from_value(value).map_err(|e| format!("not a SARIF 2.1.0 log: {e}"))?;
    if sarif.version != "2.1.0" {
        return Err(format!(
            "SARIF version {:?}: only 2.1.0 is read",
            sarif.version
        ));
    }
    let Some(first) = sarif.runs.first() else {
        return Err("SARIF log with no runs".to_string());
    };
    let tool = first.tool.driver.name.clone();
    let version = first
        .tool
        .driver
        .semantic_version
        .clone()
        .or_else(|| first.tool.driver.version.clone());
    let mut out = Vec::new();
    let mut not_counted = 0u64;
    for (ri, run) in sarif.runs.iter().enumerate() {
        if run
            .invocations
            .iter()
            .any(|i| i.execution_successful == Some(false))
        {
            return Err(format!(
                "runs[{ri}]: the tool reports that it did not run successfully (invocations[].executionSuccessful is false)"
            ));
        }
        let Some(results) = &run.results else {
            return Err(format!(
                "runs[{ri}] has no results: the tool did not run to completion (a clean run has \"results\": [])"
            ));
        };
        for (i, r) in results.iter().enumerate() {
            let where_ = format!("runs[{ri}].results[{i}]");
            let counted = r.kind.as_deref().unwrap_or("fail") == "fail"
                && r.suppressions.is_empty()
                && r.baseline_state.as_deref() != Some("absent");
            if !counted {
                not_counted += 1;
                continue;
            }
            // The rule: by index into the driver or the extension the
            // reference names, else by id.
            let index = r
                .rule_index
                .or_else(|| r.rule.as_ref().and_then(|x| x.index))
                .filter(|&ix| ix != -1);
            let component = r
                .rule
                .as_ref()
                .and_then(|x| x.tool_component.as_ref())
                .and_then(|c| c.index)
                .filter(|&c| c != -1);
            let rules: &[SarifRule] = match component {
                None => &run.tool.driver.rules,
                Some(c) => {
                    let ext = usize::try_from(c)
                        .ok()
                        .and_then(|c| run.tool.extensions.get(c))
                        .ok_or_else(|| {
                            format!(
                                "{where_}: rule.toolComponent.index {c} but the tool has {} extensions",
                                run.tool.extensions.len()
                            )
                        })?;
                    &ext.rules
                }
            };
            let id = r
                .rule_id
                .clone()
                .or_else(|| r.rule.as_ref().and_then(|x| x.id.clone()));
            let rule = match (index, &id) {
                (Some(ix), _) => Some(
                    usize::try_from(ix)
                        .ok()
                        .and_then(|ix| rules.get(ix))
                        .ok_or_else(|| {
                            format!(
                                "{where_}: ruleIndex {ix} but the tool component has {} rules",
                                rules.len()
                            )
                        })?,
                ),
                (None, Some(id)) => rules.iter().find(|x| &x.id == id),
                (None, None) => None,
            };
            let rule_id = id
                .or_else(|| rule.map(|x| x.id.clone()))
                .unwrap_or_else(|| "(no rule)".to_string());
            let level = r
                .level
                .clone()
                .or_else(|| {
                    rule.and_then(|x| x.default_configuration.as_ref())
                        .and_then(|c| c.level.clone())
                })
                .unwrap_or_else(|| "warning".to_string());
            let by_level = level_score(&level, &where_)?;
            let score = match security_severity(r.properties.as_ref(), &where_)? {
                Some(s) => s,
                None => security_severity(
                    rule.and_then(|x| x.properties.as_ref()),
                    &format!("runs[{ri}] rule {rule_id}"),
                )?
                .unwrap_or(by_level),
            };
            let location = r
                .locations
                .first()
                .and_then(|l| l.physical.as_ref())
                .and_then(|p| {
                    let uri = p.artifact.as_ref().and_then(|a| a.uri.clone())?;
                    Some(match p.region.as_ref().and_then(|r| r.start_line) {
                        Some(line) => format!("{uri}:{line}"),
                        None => uri,
                    })
                });
            out.push(EvidenceFinding {
                rule: rule_id,
                severity: severity_of(score).to_string(),
                score,
                message: r.message.text.clone().unwrap_or_default(),
                location,
            });
        }
    }
    Ok((("sarif".to_string(), tool, version, not_counted), out))
}

// ---- pip-audit JSON ----------------------------------------------------------

#[derive(Deserialize)]
struct PipAudit {
    dependencies: Vec<PipAuditDependency>,
}

#[derive(Deserialize)]
struct PipAuditDependency {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    vulns: Vec<PipAuditVuln>,
}

#[derive(Deserialize)]
struct PipAuditVuln {
    id: String,
    #[serde(default)]
    fix_versions: Vec<String>,
    #[serde(default)]
    description: Option<String>,
}

fn parse_pip_audit(value: Value) -> Result<Parsed, String> {
    let report: PipAudit =
        serde_json::from_value(value).map_err(|e| format!("not pip-audit JSON: {e}"))?;
    let mut out = Vec::new();
    for d in &report.dependencies {
        for v in &d.vulns {
            let fix = if v.fix_versions.is_empty() {
                "no fixed version".to_string()
            } else {
                format!("fixed in {}", v.fix_versions.join(", "))
            };
            out.push(EvidenceFinding {
                rule: v.id.clone(),
                severity: "high".to_string(),
                score: 7.0,
                message: match &v.description {
                    Some(text) => format!("{} ({fix})", text.lines().next().unwrap_or("")),
                    None => fix,
                },
                location: Some(match &d.version {
                    Some(ver) => format!("{}=={ver}", d.name),
                    None => d.name.clone(),
                }),
            });
        }
    }
    Ok((
        ("pip-audit".to_string(), "pip-audit".to_string(), None, 0),
        out,
    ))
}

/// A tool name: 1 to 64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
fn check_tool(tool: &str) -> Result<(), Error> {
    let ok = !tool.is_empty()
        && tool.len() <= 64
        && tool
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && tool
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "tool name {tool:?}: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )))
    }
}

impl Workspace {
    /// Binds another tool's report to a model version: the report as a
    /// blob, its summary, the record and the `evidence.add` event in one
    /// transaction. A malformed report records nothing.
    pub fn evidence_add(&self, req: &EvidenceRequest) -> Result<EvidenceInfo, Error> {
        self.authorize(Action::EvidenceAdd, &format!("model:{}", req.model))?;
        let meta = std::fs::metadata(&req.file).map_err(|e| Error::io(&req.file, e))?;
        if meta.len() > MAX_EVIDENCE_BYTES {
            return Err(Error::Invalid(format!(
                "{}: {} bytes, more than the {MAX_EVIDENCE_BYTES} a report may have",
                req.file.display(),
                meta.len()
            )));
        }
        let bytes = std::fs::read(&req.file).map_err(|e| Error::io(&req.file, e))?;
        self.record_report(
            &req.model,
            &req.tool,
            req.kind,
            &bytes,
            ReportSource::File(&req.file),
        )
    }

    /// [`Workspace::evidence_add`] of a report's bytes; `source` says where
    /// they came from, for errors.
    pub fn evidence_add_report(
        &self,
        model: &VersionRef,
        tool: &str,
        kind: EvidenceKind,
        bytes: &[u8],
        source: ReportSource<'_>,
    ) -> Result<EvidenceInfo, Error> {
        self.authorize(Action::EvidenceAdd, &format!("model:{model}"))?;
        self.record_report(model, tool, kind, bytes, source)
    }

    /// The work of both: the caller has been authorised.
    fn record_report(
        &self,
        model: &VersionRef,
        tool: &str,
        kind: EvidenceKind,
        bytes: &[u8],
        source: ReportSource<'_>,
    ) -> Result<EvidenceInfo, Error> {
        check_tool(tool)?;
        let m = self.find_model(model)?;
        if bytes.len() as u64 > MAX_EVIDENCE_BYTES {
            return Err(source.refuse(format!(
                "{} bytes, more than the {MAX_EVIDENCE_BYTES} a report may have",
                bytes.len()
            )));
        }
        let summary = summarise_report(bytes).map_err(|e| source.refuse(e))?;
        let (digest, _) = self.blobs().put(&mut &bytes[..])?;
        let summary_json = String::from_utf8(canonical_json(&summary)?)
            .map_err(|e| Error::Invalid(format!("evidence summary: {e}")))?;
        let mut rec = EvidenceRecord {
            id: 0,
            model: m.name.clone(),
            version: m.version,
            tool: tool.to_string(),
            kind: kind.as_str().to_string(),
            report_digest: digest.to_string(),
            summary: summary_json,
            created_by: self.actor().clone(),
            created_at: Timestamp::now(),
        };
        let mut tx = self.store().write()?;
        rec.id = tx.insert_evidence(&rec)?;
        events::append(
            &mut *tx,
            self.actor(),
            actions::EVIDENCE_ADD,
            &format!("model:{}@{}", m.name, m.version),
            &events::EvidenceAdded {
                evidence: rec.id,
                tool: rec.tool.clone(),
                kind: rec.kind.clone(),
                report: rec.report_digest.clone(),
                summary_digest: Digest::of(rec.summary.as_bytes()).to_string(),
                findings: Some(summary.findings),
                max_score: Some(summary.max_score),
                model_digest: Some(m.digest.clone()),
            },
        )?;
        self.commit(tx)?;
        Ok(EvidenceInfo {
            record: rec,
            summary,
        })
    }

    /// Evidence recorded for a model version (or all), oldest first.
    pub fn evidence_list(&self, model: Option<&VersionRef>) -> Result<Vec<EvidenceInfo>, Error> {
        self.authorize(Action::ModelRead, "evidence:*")?;
        let m = match model {
            Some(r) => Some(self.find_model(r)?),
            None => None,
        };
        let records = self
            .store()
            .read()?
            .evidence(m.as_ref().map(|m| (&m.name, m.version)))?;
        records.into_iter().map(evidence_info).collect()
    }

    /// The `evidence` section of the policy input: the latest report of
    /// each tool bound to this version, with its age.
    pub(crate) fn evidence_facts(
        &self,
        m: &ModelRecord,
    ) -> Result<Vec<crate::policy_input::EvidenceFact>, Error> {
        // The rows the gate reads must be the ones the log recorded: a
        // deleted or edited report (a finding taken out) is refused.
        let records = {
            let mut tx = self.store().read()?;
            let records = tx.evidence(Some((&m.name, m.version)))?;
            let version = format!("{}@{}", m.name, m.version);
            // The version's own events, by subject (indexed).
            let events = tx.events_about(&format!("model:{version}"), &[actions::EVIDENCE_ADD])?;
            if let Some(d) = crate::ledger::evidence_disagreement(&events, &version, &records)? {
                drop(tx);
                return Err(self.refuse_disagreement_on(d, Some((&m.name, m.version))));
            }
            records
        };
        let mut latest: BTreeMap<String, EvidenceRecord> = BTreeMap::new();
        for r in records {
            latest.insert(r.tool.clone(), r);
        }
        let now = Timestamp::now().unix_seconds().unwrap_or(0);
        let mut out = Vec::new();
        for r in latest.into_values() {
            let age = r
                .created_at
                .unix_seconds()
                .map_or(0, |t| now.saturating_sub(t).max(0));
            let info = evidence_info(r)?;
            let s = &info.summary;
            out.push(crate::policy_input::EvidenceFact {
                id: info.record.id,
                tool: info.record.tool.clone(),
                kind: info.record.kind.clone(),
                recorded_at: info.record.created_at.clone(),
                age_seconds: age,
                findings: s.findings,
                counts: s.counts.clone(),
                max_score: s.max_score,
                top: s.top.clone(),
                report: info.record.report_digest.clone(),
            });
        }
        Ok(out)
    }
}

fn evidence_info(r: EvidenceRecord) -> Result<EvidenceInfo, Error> {
    let summary: EvidenceSummary = serde_json::from_str(&r.summary)
        .map_err(|e| Error::Invalid(format!("evidence {}: stored summary: {e}", r.id)))?;
    Ok(EvidenceInfo { record: r, summary })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn sarif(results: Value, rules: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "version": "2.1.0",
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "runs": [{"tool": {"driver": {"name": "Bandit", "version": "1.8.0", "rules": rules}},
                      "results": results}],
        }))
        .unwrap()
    }

    #[test]
    fn sarif_scores_by_property_then_rule_then_level() {
        let bytes = sarif(
            json!([
                {"ruleId": "B602", "level": "error", "message": {"text": "shell=True"},
                 "locations": [{"physicalLocation": {"artifactLocation": {"uri": "train.py"}, "region": {"startLine": 12}}}],
                 "properties": {"security-severity": "9.8"}},
                {"ruleId": "B301", "level": "warning", "message": {"text": "pickle"}},
                {"ruleIndex": 0, "message": {"text": "assert"}},
                {"ruleId": "B999", "level": "note", "message": {"text": "minor"}},
            ]),
            json!([{"id": "B101", "properties": {"security-severity": 2.5},
                    "defaultConfiguration": {"level": "note"}},
                   {"id": "B301", "properties": {"security-severity": "7.1"}}]),
        );
        let s = summarise_report(&bytes).unwrap();
        assert_eq!(s.format, "sarif");
        assert_eq!(s.reported_tool, "Bandit");
        assert_eq!(s.findings, 4);
        assert_eq!(s.max_score, 9.8);
        let by_rule: BTreeMap<_, _> = s.top.iter().map(|f| (f.rule.as_str(), f)).collect();
        assert_eq!(by_rule["B602"].severity, "critical");
        assert_eq!(by_rule["B602"].location.as_deref(), Some("train.py:12"));
        assert_eq!(by_rule["B301"].score, 7.1);
        assert_eq!(by_rule["B101"].score, 2.5);
        assert_eq!(by_rule["B999"].score, 1.0);
        assert_eq!(s.counts["critical"], 1);
        assert_eq!(s.counts["high"], 1);
        assert_eq!(s.counts["low"], 2);
        // Highest first.
        assert_eq!(s.top[0].rule, "B602");
    }

    #[test]
    fn malformed_reports_name_what_is_wrong() {
        let bad_level = sarif(
            json!([{"ruleId": "X", "level": "fatal", "message": {"text": ""}}]),
            json!([]),
        );
        assert!(
            summarise_report(&bad_level)
                .unwrap_err()
                .contains("runs[0].results[0]: level \"fatal\"")
        );
        let bad_sev = sarif(
            json!([{"ruleId": "X", "message": {"text": ""}, "properties": {"security-severity": "11"}}]),
            json!([]),
        );
        assert!(
            summarise_report(&bad_sev)
                .unwrap_err()
                .contains("security-severity")
        );
        let bad_index = sarif(
            json!([{"ruleIndex": 3, "message": {"text": ""}}]),
            json!([]),
        );
        assert!(
            summarise_report(&bad_index)
                .unwrap_err()
                .contains("ruleIndex 3")
        );
        let v1 = br#"{"version": "1.0.0", "runs": []}"#;
        assert!(summarise_report(v1).unwrap_err().contains("only 2.1.0"));
        assert!(
            summarise_report(b"not json")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            summarise_report(b"{}")
                .unwrap_err()
                .contains("neither SARIF")
        );
        let no_runs = br#"{"version": "2.1.0", "runs": []}"#;
        assert!(summarise_report(no_runs).unwrap_err().contains("no runs"));
    }

    #[test]
    fn non_failures_are_not_findings_and_rules_resolve_through_extensions() {
        // CodeQL's layout: rules in an extension, named by toolComponent.
        let bytes = serde_json::to_vec(&json!({
            "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "CodeQL"},
                               "extensions": [{"name": "codeql/python-queries", "rules": [
                                   {"id": "py/command-line-injection", "properties": {"security-severity": "9.8"}}]}]},
                      "results": [
                        {"ruleId": "py/command-line-injection", "ruleIndex": 0,
                         "rule": {"id": "py/command-line-injection", "index": 0, "toolComponent": {"index": 0}},
                         "message": {"text": "injection"}},
                        {"ruleId": "x", "ruleIndex": -1, "kind": "pass", "message": {"text": "ok"}},
                        {"ruleId": "y", "ruleIndex": -1, "level": "error", "message": {"text": "waived"},
                         "suppressions": [{"kind": "inSource"}]},
                        {"ruleId": "z", "level": "error", "baselineState": "absent", "message": {"text": "fixed"}},
                        {"ruleId": "w", "ruleIndex": -1, "level": "note", "message": {"text": "counted"}}]}]
        }))
        .unwrap();
        let s = summarise_report(&bytes).unwrap();
        assert_eq!(s.findings, 2);
        assert_eq!(s.not_counted, 3);
        assert_eq!(s.top[0].rule, "py/command-line-injection");
        assert_eq!(s.top[0].score, 9.8);
        assert_eq!(s.top[1].score, 1.0);
    }

    #[test]
    fn pip_audit_vulnerabilities_count_as_high() {
        let bytes = br#"{"dependencies": [
            {"name": "requests", "version": "2.19.0", "vulns": [
                {"id": "PYSEC-2018-28", "fix_versions": ["2.20.0"], "description": "leaks credentials"}]},
            {"name": "numpy", "version": "2.4.6", "vulns": []}], "fixes": []}"#;
        let s = summarise_report(bytes).unwrap();
        assert_eq!(s.format, "pip-audit");
        assert_eq!(s.findings, 1);
        assert_eq!(s.top[0].severity, "high");
        assert_eq!(s.top[0].location.as_deref(), Some("requests==2.19.0"));
        assert!(s.top[0].message.contains("fixed in 2.20.0"));
    }

    #[test]
    fn tool_names_are_checked() {
        assert!(check_tool("bandit").is_ok());
        assert!(check_tool("pip-audit_2.7").is_ok());
        for bad in ["", "-x", "a b", "a/b", &"x".repeat(65)] {
            assert!(check_tool(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        // The summariser is a parser of untrusted bytes: any input gives a
        // summary or an error, never a panic, and a summary is consistent.
        #[test]
        fn any_bytes_summarise_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(s) = summarise_report(&bytes) {
                prop_assert_eq!(s.counts.values().sum::<u64>(), s.findings);
            }
        }

        #[test]
        fn severity_buckets_are_monotone(a in 0.0f64..=10.0, b in 0.0f64..=10.0) {
            let rank = |s: &str| ["none", "low", "medium", "high", "critical"].iter().position(|x| *x == s).unwrap();
            if a <= b {
                prop_assert!(rank(severity_of(a)) <= rank(severity_of(b)));
            }
        }
    }
}
