//! Pipelines as code: a TOML file of stages (ingest, train, evaluate, scan,
//! evidence, gate, promote) run in dependency order, each through the same
//! engine function as its CLI command, and recorded as one audited run.
//!
//! - A run stops at the first failed stage or denied gate; the stages after
//!   it are recorded as skipped, and the run's record says which and why.
//! - A stage whose inputs are unchanged (same stage text, same input
//!   digests, same file and code digests) reuses what an earlier successful
//!   run of the same pipeline recorded, unless forced. Gates and promotions
//!   are always asked again.
//! - External training runs the user's command in a sandbox
//!   ([`sandbox`]) and imports only what it wrote to its output directory,
//!   after a scan, with signed SLSA provenance ([`provenance`]).

pub mod ci;
pub mod provenance;
pub mod sandbox;
pub mod spec;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};
use warden_core::{Action, Digest, ObjectName, Timestamp, VersionRef, actions, canonical_json};
use warden_store::{DatasetRecord, ModelRecord, PipelineRunRecord};

pub use provenance::BuildStatement;
pub use spec::{Plan, PlannedStage, StageKind, load};

use crate::events;
use crate::{Error, Workspace};

/// Directory names left out of a code directory's digest: version control,
/// virtualenvs, caches.
const CODE_SKIP: [&str; 8] = [
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    "node_modules",
    ".warden",
    ".mypy_cache",
    ".pytest_cache",
];

/// Most files hashed in a code directory.
const MAX_CODE_FILES: usize = 100_000;

/// File names a training command may not hand over: pickles and the
/// formats built on them are never loaded, so never imported.
const REFUSED_EXTENSIONS: [&str; 12] = [
    "pkl", "pickle", "joblib", "dill", "pt", "pth", "bin", "sav", "npy", "npz", "h5", "keras",
];

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Run every stage even when an earlier run's result could be reused.
    pub force: bool,
    /// Run commands without a sandbox when none is available (recorded).
    pub allow_unsandboxed: bool,
    /// Worker threads for training and evaluation (0: every core).
    pub threads: usize,
}

/// How a stage ended.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// It ran and succeeded (a gate: allowed).
    Ok,
    /// An earlier successful run's result was reused; nothing ran.
    Reused,
    /// A gate or promotion was denied; the run stops.
    Denied,
    /// It failed (see the record's `error`); the run stops.
    Failed,
    /// Not run, because an earlier stage failed or was denied.
    Skipped,
}

/// One stage of a run, as recorded.
#[derive(Clone, Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct StageRecord {
    /// The stage's name in the pipeline file.
    pub name: String,
    /// `ingest`, `train`, `evaluate`, `scan`, `evidence`, `gate` or `promote`.
    pub kind: String,
    /// How it ended.
    pub status: StageStatus,
    /// The content address its result is reused by (none for gates).
    #[serde(default)]
    pub key: Option<String>,
    /// Wall-clock seconds it took (0 when skipped).
    pub seconds: f64,
    /// What it produced; `null` when it failed or was skipped.
    #[serde(default)]
    pub result: Option<StageResult>,
    /// Why it failed (`None` unless `status` is `failed`).
    #[serde(default)]
    pub error: Option<String>,
    /// A denied gate's reasons, or an ingest stage's warnings.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// A whole run, as recorded.
#[derive(Clone, Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RunDocument {
    /// The pipeline's name.
    pub pipeline: String,
    /// The pipeline file's path, as given.
    pub file: String,
    /// `sha256:` digest of the pipeline file's bytes.
    pub file_digest: String,
    /// "succeeded", "denied" or "failed".
    pub status: String,
    /// Whether reuse was turned off (`--force`).
    pub forced: bool,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// When the run finished (RFC 3339).
    pub finished_at: String,
    /// Every stage of the plan, in run order, skipped ones included.
    pub stages: Vec<StageRecord>,
}

/// A recorded run.
#[derive(Clone, Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RunReport {
    /// The run's id (`warden pipeline show ID`).
    pub id: u64,
    /// `sha256:` digest of the run document's canonical JSON, as recorded in
    /// the `pipeline.run` event.
    pub digest: String,
    /// The actor who ran it.
    pub created_by: String,
    /// The run document (flattened into the JSON).
    #[serde(flatten)]
    pub run: RunDocument,
}

/// Told as each stage starts and ends.
pub enum StageEvent<'a> {
    /// A stage is about to run.
    Started {
        /// The stage's 0-based position in the plan.
        index: usize,
        /// How many stages the plan has.
        total: usize,
        /// The stage.
        stage: &'a PlannedStage,
    },
    /// A stage ended (run, reused, denied or failed; skipped stages are not
    /// told).
    Finished {
        /// The stage's 0-based position in the plan.
        index: usize,
        /// How many stages the plan has.
        total: usize,
        /// What is recorded for it.
        record: &'a StageRecord,
    },
}

/// What an earlier stage produced, for the stages after it.
#[derive(Clone)]
enum Produced {
    Dataset(DatasetRecord),
    Model(ModelRecord),
    Nothing,
}

/// A failed stage: its message (a gate's denial is not an error).
struct StageFailure(String);

impl From<Error> for StageFailure {
    fn from(e: Error) -> Self {
        StageFailure(e.to_string())
    }
}

impl From<warden_store::StoreError> for StageFailure {
    fn from(e: warden_store::StoreError) -> Self {
        StageFailure(Error::from(e).to_string())
    }
}

/// What a stage produced, as its run document records it. Each kind of
/// stage fills its own fields; the others are left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct StageResult {
    /// The dataset version an ingest stage registered (`NAME@V`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// The model version a train stage registered, or a gate or promote
    /// stage decided on (`NAME@V`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The registered version's digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// A gate or promote stage's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Whether the gate allowed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
    /// A promotion's recorded gate decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<u64>,
    /// The version a promotion replaced (`null` when the environment was
    /// empty).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub previous: Option<Option<u64>>,
    /// A gate stage's policy digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_digest: Option<String>,
    /// A gate stage's input digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_digest: Option<String>,
    /// An evaluate stage's evaluation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<u64>,
    /// That evaluation's accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// A scan stage's scan id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<u64>,
    /// The scan's highest severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_severity: Option<String>,
    /// Findings of the scan or the evidence report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<u64>,
    /// An evidence stage's record id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<u64>,
    /// The evidence report's highest score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_score: Option<f64>,
    /// The sandbox an external training command ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// How long that command ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// The digest of the code it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Whether the code had uncommitted changes (`null` outside git).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub dirty: Option<Option<bool>>,
    /// The digest of its standard output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// The digest of its standard error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

/// A field that may be `null` when present: present is `Some`, whatever
/// its value; absent is `None` (through `#[serde(default)]`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

struct StageDone {
    status: StageStatus,
    result: Option<StageResult>,
    reasons: Vec<String>,
    produced: Produced,
}

impl Workspace {
    /// Runs a checked pipeline and records the run (whatever its outcome)
    /// with its `pipeline.run` event. Each stage asks for its own action.
    pub fn pipeline_run(
        &self,
        plan: &Plan,
        opts: &RunOptions,
        progress: &mut dyn FnMut(StageEvent<'_>),
    ) -> Result<RunReport, Error> {
        self.authorize(Action::PipelineRun, &format!("pipeline:{}", plan.name))?;
        let started = Timestamp::now();
        let earlier = if opts.force {
            Vec::new()
        } else {
            self.store()
                .read()?
                .pipeline_runs(Some(plan.name.as_str()))?
        };
        let earlier: Vec<RunDocument> = earlier
            .iter()
            .rev()
            .filter_map(|r| serde_json::from_str(&r.document).ok())
            .collect();
        let mut produced: BTreeMap<String, Produced> = BTreeMap::new();
        let mut records: Vec<StageRecord> = Vec::new();
        let mut stopped = false;
        let total = plan.stages.len();
        for (index, stage) in plan.stages.iter().enumerate() {
            if stopped {
                records.push(StageRecord {
                    name: stage.name.clone(),
                    kind: stage.kind.name().to_string(),
                    status: StageStatus::Skipped,
                    key: None,
                    seconds: 0.0,
                    result: None,
                    error: None,
                    reasons: Vec::new(),
                });
                continue;
            }
            progress(StageEvent::Started {
                index,
                total,
                stage,
            });
            let t0 = Instant::now();
            let outcome = self.run_stage(plan, stage, opts, &produced, &earlier);
            let seconds = t0.elapsed().as_secs_f64();
            let record = match outcome {
                Ok((key, done)) => {
                    produced.insert(stage.name.clone(), done.produced);
                    if done.status == StageStatus::Denied {
                        stopped = true;
                    }
                    StageRecord {
                        name: stage.name.clone(),
                        kind: stage.kind.name().to_string(),
                        status: done.status,
                        key,
                        seconds,
                        result: done.result,
                        error: None,
                        reasons: done.reasons,
                    }
                }
                Err(StageFailure(message)) => {
                    stopped = true;
                    StageRecord {
                        name: stage.name.clone(),
                        kind: stage.kind.name().to_string(),
                        status: StageStatus::Failed,
                        key: None,
                        seconds,
                        result: None,
                        error: Some(message),
                        reasons: Vec::new(),
                    }
                }
            };
            progress(StageEvent::Finished {
                index,
                total,
                record: &record,
            });
            records.push(record);
        }
        let status = if records.iter().any(|r| r.status == StageStatus::Failed) {
            "failed"
        } else if records.iter().any(|r| r.status == StageStatus::Denied) {
            "denied"
        } else {
            "succeeded"
        };
        let finished = Timestamp::now();
        let doc = RunDocument {
            pipeline: plan.name.to_string(),
            file: plan.file.display().to_string(),
            file_digest: plan.digest.to_string(),
            status: status.to_string(),
            forced: opts.force,
            started_at: started.as_str().to_string(),
            finished_at: finished.as_str().to_string(),
            stages: records,
        };
        let text = String::from_utf8(canonical_json(&doc)?)
            .map_err(|e| Error::Invalid(format!("run document: {e}")))?;
        let digest = Digest::of(text.as_bytes());
        let mut rec = PipelineRunRecord {
            id: 0,
            pipeline: plan.name.to_string(),
            status: status.to_string(),
            document: text,
            digest: digest.to_string(),
            started_at: started,
            finished_at: finished,
            created_by: self.actor().clone(),
        };
        let mut tx = self.store().write()?;
        rec.id = tx.insert_pipeline_run(&rec)?;
        let stages = doc
            .stages
            .iter()
            .map(|s| events::StageRan {
                name: s.name.clone(),
                kind: s.kind.clone(),
                status: s.status,
                key: s.key.clone(),
                result: s.result.clone(),
            })
            .collect();
        events::append(
            &mut *tx,
            self.actor(),
            actions::PIPELINE_RUN,
            &format!("pipeline:{}", plan.name),
            &events::PipelineRan {
                run: rec.id,
                status: status.to_string(),
                document: rec.digest.clone(),
                file_digest: doc.file_digest.clone(),
                forced: opts.force,
                stages,
            },
        )?;
        self.commit(tx)?;
        Ok(RunReport {
            id: rec.id,
            digest: rec.digest,
            created_by: rec.created_by.to_string(),
            run: doc,
        })
    }

    /// Recorded runs (of one pipeline, or all), oldest first.
    pub fn pipeline_list(&self, pipeline: Option<&str>) -> Result<Vec<RunReport>, Error> {
        self.authorize(Action::ModelRead, "pipelines")?;
        let runs = self.store().read()?.pipeline_runs(pipeline)?;
        runs.iter().map(run_report).collect()
    }

    /// One recorded run.
    pub fn pipeline_show(&self, id: u64) -> Result<RunReport, Error> {
        self.authorize(Action::ModelRead, &format!("pipeline-run:{id}"))?;
        let r = self
            .store()
            .read()?
            .pipeline_run(id)?
            .ok_or_else(|| Error::NotFound(format!("pipeline run {id}")))?;
        run_report(&r)
    }

    fn run_stage(
        &self,
        plan: &Plan,
        stage: &PlannedStage,
        opts: &RunOptions,
        produced: &BTreeMap<String, Produced>,
        earlier: &[RunDocument],
    ) -> Result<(Option<String>, StageDone), StageFailure> {
        let threads = if opts.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            opts.threads
        };
        match &stage.kind {
            StageKind::Ingest(s) => {
                let path = resolve_inside(&plan.dir, &s.file, Want::File)?;
                let file_digest = file_sha256(&path)?;
                let pin = match &s.sha256 {
                    Some(want) => {
                        let want = spec::parse_sha256(want).map_err(StageFailure)?;
                        if want != file_digest {
                            return Err(StageFailure(format!(
                                "{}: its SHA-256 is {file_digest}, not the {want} the pipeline names",
                                path.display()
                            )));
                        }
                        Some(want)
                    }
                    None => None,
                };
                // The workspace's pin holds before anything is reused: a
                // pin added since the last run must not be skipped by it.
                if let Some(hex) = self.config().data.pins.get(&s.dataset) {
                    let pinned = Digest::from_hex(hex).map_err(|_| {
                        StageFailure(format!(
                            "data.pins.{} in warden.toml: not a 64-character hex SHA-256",
                            s.dataset
                        ))
                    })?;
                    if pinned != file_digest {
                        return Err(StageFailure(format!(
                            "{}: its SHA-256 is {file_digest}, but the pin data.pins.{} in warden.toml is {pinned}",
                            path.display(),
                            s.dataset
                        )));
                    }
                }
                let key = stage_key(stage, &json!({"file": file_digest.to_string()}))?;
                if let Some(done) = self.reused(&key, earlier, &|r| produced_dataset(self, r))? {
                    return Ok((Some(key), done));
                }
                let mut f = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
                let name = ObjectName::new(&s.dataset).map_err(Error::from)?;
                let mut req = crate::IngestRequest::new(name, &mut f, path.display().to_string());
                // The pipeline's own pin is a pin; the digest it read is
                // only a check that the bytes did not change since, and
                // the workspace's pin still holds.
                req.expected_sha256 = pin;
                req.source_check = Some(file_digest);
                req.target = s.target.clone();
                req.features = s.features.clone();
                req.sensitive = s.sensitive.clone();
                let out = self.data_ingest(req)?;
                let d = out.dataset.record;
                Ok((
                    Some(key),
                    StageDone {
                        status: StageStatus::Ok,
                        result: Some(StageResult {
                            dataset: Some(format!("{}@{}", d.name, d.version)),
                            digest: Some(d.digest.clone()),
                            ..StageResult::default()
                        }),
                        reasons: out.warnings,
                        produced: Produced::Dataset(d),
                    },
                ))
            }
            StageKind::Train(t) => {
                let ds = self.input_dataset(&t.dataset, produced)?;
                let model = ObjectName::new(&t.model).map_err(Error::from)?;
                match (&t.builtin, &t.command) {
                    (Some(kind), _) => {
                        let key = stage_key(stage, &json!({"dataset": ds.digest}))?;
                        if let Some(done) =
                            self.reused(&key, earlier, &|r| produced_model(self, r))?
                        {
                            return Ok((Some(key), done));
                        }
                        let kind = if kind == "mlp" {
                            crate::train::ModelKind::Mlp
                        } else {
                            crate::train::ModelKind::Logreg
                        };
                        let mut config = crate::train::TrainConfig::defaults(kind, None);
                        config.seed = t.seed.unwrap_or(0);
                        let out = self.train(
                            &crate::TrainRequest {
                                dataset: at(&ds.name, ds.version),
                                target: None,
                                features: None,
                                name: model,
                                config,
                                threads,
                            },
                            &mut |_, _| {},
                        )?;
                        let m = out.model.record;
                        Ok((
                            Some(key),
                            StageDone {
                                status: StageStatus::Ok,
                                result: Some(StageResult {
                                    model: Some(format!("{}@{}", m.name, m.version)),
                                    digest: Some(m.digest.clone()),
                                    ..StageResult::default()
                                }),
                                reasons: Vec::new(),
                                produced: Produced::Model(m),
                            },
                        ))
                    }
                    (None, Some(command)) => {
                        self.external_train(plan, stage, t, command, &ds, model, opts, earlier)
                    }
                    (None, None) => Err(StageFailure("no trainer given".into())),
                }
            }
            StageKind::Evaluate(e) => {
                let m = self.input_model(&e.model, produced)?;
                let ds = self.input_dataset(&e.dataset, produced)?;
                let key = stage_key(stage, &json!({"model": m.digest, "dataset": ds.digest}))?;
                let model_ref = at(&m.name, m.version);
                let check = |r: &StageResult| -> Result<Option<Produced>, Error> {
                    let id = r.evaluation.unwrap_or(0);
                    Ok(self
                        .store()
                        .read()?
                        .evaluations(&m.name, Some(m.version))?
                        .iter()
                        .any(|x| x.id == id)
                        .then_some(Produced::Nothing))
                };
                if let Some(done) = self.reused(&key, earlier, &check)? {
                    return Ok((Some(key), done));
                }
                let out = self.evaluate(&crate::EvalRequest {
                    progress: None,
                    model: model_ref,
                    dataset: at(&ds.name, ds.version),
                    sensitive: e.sensitive.clone(),
                    privileged: Vec::new(),
                    bootstrap: 200,
                    seed: e.seed.unwrap_or(0),
                    threads,
                    attacks: Vec::new(),
                    decision_attack: false,
                    auto_attacks: true,
                    eps: vec![0.05, 0.1, 0.3],
                    steps: 20,
                    immutable: Vec::new(),
                })?;
                Ok((
                    Some(key),
                    StageDone {
                        status: StageStatus::Ok,
                        result: Some(StageResult {
                            evaluation: Some(out.evaluation.id),
                            accuracy: Some(out.report.performance.accuracy),
                            ..StageResult::default()
                        }),
                        reasons: Vec::new(),
                        produced: Produced::Nothing,
                    },
                ))
            }
            StageKind::Scan(s) => {
                let m = self.input_model(&s.model, produced)?;
                let key = stage_key(stage, &json!({"model": m.digest}))?;
                let check = |r: &StageResult| -> Result<Option<Produced>, Error> {
                    let id = r.scan.unwrap_or(0);
                    Ok(self
                        .store()
                        .read()?
                        .scans(Some((&m.name, m.version)))?
                        .iter()
                        .any(|x| x.id == id)
                        .then_some(Produced::Nothing))
                };
                if let Some(done) = self.reused(&key, earlier, &check)? {
                    return Ok((Some(key), done));
                }
                let r = at(&m.name, m.version);
                let report =
                    self.scan_model(&r, &crate::scanner::Options::default(), &|_, _| {})?;
                let rec = self.record_scan(&report, Some(&r), &r.to_string())?;
                Ok((
                    Some(key),
                    StageDone {
                        status: StageStatus::Ok,
                        result: Some(StageResult {
                            scan: Some(rec.id),
                            max_severity: Some(rec.max_severity.clone()),
                            findings: Some(rec.findings),
                            ..StageResult::default()
                        }),
                        reasons: Vec::new(),
                        produced: Produced::Nothing,
                    },
                ))
            }
            StageKind::Evidence(e) => {
                let m = self.input_model(&e.model, produced)?;
                let kind: crate::EvidenceKind = match &e.kind {
                    Some(k) => k.parse().map_err(StageFailure)?,
                    None => crate::EvidenceKind::of_tool(&e.tool),
                };
                let r = at(&m.name, m.version);
                // A report file that has not changed, for the same model,
                // is the evidence already recorded; a command runs anew
                // (a scanner's findings change as its database does).
                let mut key = None;
                if e.command.is_none() {
                    let digest = file_sha256(&resolve_inside(&plan.dir, &e.report, Want::File)?)?;
                    let k = stage_key(
                        stage,
                        &json!({"model": m.digest, "report": digest.to_string()}),
                    )?;
                    let check = |r: &StageResult| -> Result<Option<Produced>, Error> {
                        let id = r.evidence.unwrap_or(0);
                        Ok(self
                            .store()
                            .read()?
                            .evidence(Some((&m.name, m.version)))?
                            .iter()
                            .any(|x| x.id == id)
                            .then_some(Produced::Nothing))
                    };
                    if let Some(done) = self.reused(&k, earlier, &check)? {
                        return Ok((Some(k), done));
                    }
                    key = Some(k);
                }
                let (report_path, _keep) = match &e.command {
                    None => (resolve_inside(&plan.dir, &e.report, Want::File)?, None),
                    Some(command) => {
                        let code =
                            resolve_inside(&plan.dir, e.code.as_deref().unwrap_or("."), Want::Dir)?;
                        let out = tempfile::tempdir().map_err(|x| {
                            StageFailure(format!("cannot create a scratch directory: {x}"))
                        })?;
                        let output_at = code.join(".warden-evidence");
                        ensure_mount_point(&output_at)?;
                        let read_only = read_only_paths(plan)?;
                        let inside = if sandbox::bubblewrap().is_some() {
                            output_at.clone()
                        } else {
                            out.path().to_path_buf()
                        };
                        // With the network, no variable of the caller's goes along.
                        let env =
                            sandbox_env(&plan.sandbox, !e.network, &read_only, &inside, None, &[])?;
                        let run = sandbox::run(&sandbox::SandboxRequest {
                            argv: command,
                            workdir: &code,
                            output_at: &output_at,
                            output_dir: out.path(),
                            read_only: &read_only,
                            masked: &self.sandbox_masks(),
                            env: &env,
                            limits: limits(&plan.sandbox),
                            allow_unsandboxed: opts.allow_unsandboxed,
                            network: e.network,
                        })?;
                        let path = out.path().join(&e.report);
                        // Scanners exit non-zero when they find something;
                        // the report decides. A run that wrote none (or a
                        // link in its place) failed.
                        let regular =
                            std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
                        if run.timed_out || !regular {
                            return Err(StageFailure(format!(
                                "{} wrote no report {}: {}",
                                command[0],
                                e.report,
                                run.failure()
                            )));
                        }
                        (path, Some(out))
                    }
                };
                let info = self.evidence_add(&crate::EvidenceRequest {
                    model: r,
                    tool: e.tool.clone(),
                    kind,
                    file: report_path,
                })?;
                Ok((
                    key,
                    StageDone {
                        status: StageStatus::Ok,
                        result: Some(StageResult {
                            evidence: Some(info.record.id),
                            findings: Some(info.summary.findings),
                            max_score: Some(info.summary.max_score),
                            ..StageResult::default()
                        }),
                        reasons: Vec::new(),
                        produced: Produced::Nothing,
                    },
                ))
            }
            StageKind::Gate(g) | StageKind::Promote(g) => {
                let m = self.input_model(&g.model, produced)?;
                let r = at(&m.name, m.version);
                // A promotion is a gate decision that also moves the pointer.
                let (out, moved) = match &stage.kind {
                    StageKind::Promote(_) => {
                        let p = self.promote(&r, &g.env)?;
                        (p.gate, Some((p.decision, p.previous)))
                    }
                    _ => (self.gate(&r, &g.env)?, None),
                };
                let mut result = StageResult {
                    model: Some(out.model.clone()),
                    env: Some(out.env.clone()),
                    allowed: Some(out.allowed),
                    ..StageResult::default()
                };
                match moved {
                    Some((decision, previous)) => {
                        result.decision = Some(decision);
                        result.previous = Some(previous);
                    }
                    None => {
                        result.policy_digest = Some(out.policy_digest.clone());
                        result.input_digest = Some(out.input_digest.clone());
                    }
                }
                Ok((
                    None,
                    StageDone {
                        status: if out.allowed {
                            StageStatus::Ok
                        } else {
                            StageStatus::Denied
                        },
                        result: Some(result),
                        reasons: out.reasons,
                        produced: Produced::Nothing,
                    },
                ))
            }
        }
    }

    /// The sandboxed training command, its outputs checked and imported
    /// with signed provenance.
    #[allow(clippy::too_many_arguments)]
    fn external_train(
        &self,
        plan: &Plan,
        stage: &PlannedStage,
        t: &spec::TrainStage,
        command: &[String],
        ds: &DatasetRecord,
        model: ObjectName,
        opts: &RunOptions,
        earlier: &[RunDocument],
    ) -> Result<(Option<String>, StageDone), StageFailure> {
        // Everything the import will ask is asked before the command runs
        // and sees the data.
        self.authorize(Action::ModelImport, &format!("model:{model}"))?;
        self.authorize(
            Action::DataRead,
            &format!("dataset:{}@{}", ds.name, ds.version),
        )?;
        self.check_freeze("training")?;
        let code = resolve_inside(&plan.dir, t.code.as_deref().unwrap_or("."), Want::Dir)?;
        let outputs_rel = t.outputs.clone().unwrap_or_else(|| "out".to_string());
        let output_at = code.join(&outputs_rel);
        let lock = match &t.lockfile {
            Some(l) => {
                let p = resolve_inside(&code, l, Want::File)?;
                Some((l.clone(), file_sha256(&p)?))
            }
            None => None,
        };
        let (code_digest, code_files) = code_digest(&code, &output_at)?;
        let git = git_state(&code);
        // The values passed through change what the command does, so
        // they are part of the key (as a digest, never recorded).
        let mut values = warden_core::Hasher::new();
        for name in &plan.sandbox.env {
            values.update(name.as_bytes());
            values.update(b"=");
            if let Some(v) = std::env::var_os(name) {
                values.update(v.to_string_lossy().as_bytes());
            }
            values.update(b"\n");
        }
        let key = stage_key(
            stage,
            &json!({"dataset": ds.digest, "code": code_digest.to_string(),
                    "lock": lock.as_ref().map(|(_, d)| d.to_string()),
                    "env": values.finish().to_string(),
                    "sandbox": plan.sandbox, "unsandboxed_allowed": opts.allow_unsandboxed}),
        )?;
        // What read-only paths hold (a virtualenv) is not hashed: without a
        // lock file standing for it, an earlier result is not reused.
        let reusable = lock.is_some() || plan.sandbox.read_only.is_empty();
        if reusable && let Some(done) = self.reused(&key, earlier, &|r| produced_model(self, r))? {
            return Ok((Some(key), done));
        }
        // The dataset version, materialised read-only.
        let data_dir = tempfile::tempdir()
            .map_err(|e| StageFailure(format!("cannot create a scratch directory: {e}")))?;
        let data_file = data_dir
            .path()
            .join(format!("{}-{}.csv", ds.name, ds.version));
        let digest: Digest = ds
            .output_digest
            .parse()
            .map_err(|e| StageFailure(format!("dataset {}@{}: {e}", ds.name, ds.version)))?;
        let bytes = self.blobs().get(&digest)?;
        std::fs::write(&data_file, &bytes).map_err(|e| Error::io(&data_file, e))?;
        let out = tempfile::tempdir()
            .map_err(|e| StageFailure(format!("cannot create a scratch directory: {e}")))?;
        ensure_mount_point(&output_at)?;
        let sandboxed_output = if sandbox::bubblewrap().is_some() {
            output_at.clone()
        } else {
            out.path().to_path_buf()
        };
        let mut read_only = read_only_paths(plan)?;
        let env = sandbox_env(
            &plan.sandbox,
            true,
            &read_only,
            &sandboxed_output,
            Some(&data_file),
            &[("WARDEN_SEED", t.seed.unwrap_or(0).to_string())],
        )?;
        read_only.push(data_dir.path().to_path_buf());
        let started = Timestamp::now();
        let run = sandbox::run(&sandbox::SandboxRequest {
            argv: command,
            workdir: &code,
            output_at: &output_at,
            output_dir: out.path(),
            read_only: &read_only,
            masked: &self.sandbox_masks(),
            env: &env,
            limits: limits(&plan.sandbox),
            allow_unsandboxed: opts.allow_unsandboxed,
            network: false,
        })?;
        let finished = Timestamp::now();
        let (stdout_digest, _) = self.blobs().put(&mut run.stdout.as_slice())?;
        let (stderr_digest, _) = self.blobs().put(&mut run.stderr.as_slice())?;
        if !run.succeeded() {
            return Err(StageFailure(format!(
                "the training command {}; nothing was imported (its stderr is blob {stderr_digest})",
                run.failure()
            )));
        }
        let model_file = t.model_file.clone().unwrap_or_else(|| "model.onnx".into());
        let schema_file = t.schema.clone().unwrap_or_else(|| "schema.toml".into());
        check_outputs(out.path(), &outputs_rel)?;
        let model_path = out.path().join(&model_file);
        let schema_path = out.path().join(&schema_file);
        for (what, p, name) in [
            ("model file", &model_path, &model_file),
            ("schema", &schema_path, &schema_file),
        ] {
            if !p.is_file() {
                return Err(StageFailure(format!(
                    "the training command wrote no {what} {outputs_rel}/{name}"
                )));
            }
        }
        let check_path = match &t.check {
            Some(c) => {
                let p = out.path().join(c);
                if !p.is_file() {
                    return Err(StageFailure(format!(
                        "the training command wrote no check batch {outputs_rel}/{c}"
                    )));
                }
                Some(p)
            }
            None => None,
        };
        let mut deps = vec![provenance::ResourceDescriptor {
            name: Some("code".into()),
            uri: Some(format!("file://{}", code.display())),
            digest: {
                let mut d = BTreeMap::from([("sha256".to_string(), code_digest.hex())]);
                if let Some(g) = &git {
                    d.insert("gitCommit".into(), g.commit.clone());
                    d.insert("gitTree".into(), g.tree.clone());
                }
                d
            },
            annotations: Some(BTreeMap::from([
                ("files".to_string(), json!(code_files)),
                (
                    "dirty".to_string(),
                    git.as_ref().map_or(Value::Null, |g| json!(g.dirty)),
                ),
            ])),
        }];
        if let Some((name, d)) = &lock {
            deps.push(provenance::ResourceDescriptor {
                name: Some(format!("lockfile:{name}")),
                uri: None,
                digest: BTreeMap::from([("sha256".to_string(), d.hex())]),
                annotations: None,
            });
        }
        deps.push(provenance::ResourceDescriptor {
            name: Some(format!("dataset:{}@{}", ds.name, ds.version)),
            uri: None,
            digest: BTreeMap::from([(
                "sha256".to_string(),
                ds.digest.trim_start_matches("sha256:").to_string(),
            )]),
            annotations: Some(BTreeMap::from([(
                "table".to_string(),
                json!(ds.output_digest),
            )])),
        });
        let lim = run.limits;
        let build = BuildStatement {
            predicate: provenance::SlsaProvenance {
                build_definition: provenance::BuildDefinition {
                    build_type: provenance::BUILD_TYPE.into(),
                    external_parameters: provenance::ExternalParameters {
                        pipeline: plan.name.to_string(),
                        pipeline_file: plan.digest.to_string(),
                        stage: stage.name.clone(),
                        command: command.to_vec(),
                        env: plan.sandbox.env.clone(),
                    },
                    internal_parameters: provenance::InternalParameters {
                        sandbox: run.sandbox.clone(),
                        network_isolated: run.network_isolated,
                        cpu_seconds: lim.cpu_seconds,
                        memory_mb: lim.memory_mb,
                        timeout_seconds: lim.timeout_seconds,
                        rlimits_applied: run.rlimits_applied,
                    },
                    resolved_dependencies: deps,
                },
                run_details: provenance::RunDetails {
                    builder: provenance::Builder {
                        id: provenance::BUILDER_ID.into(),
                        version: BTreeMap::from([(
                            "warden".to_string(),
                            env!("CARGO_PKG_VERSION").to_string(),
                        )]),
                    },
                    metadata: provenance::BuildMetadata {
                        invocation_id: format!("{}:{}:{}", plan.name, stage.name, started.as_str()),
                        started_on: started.as_str().to_string(),
                        finished_on: finished.as_str().to_string(),
                    },
                    byproducts: vec![
                        provenance::ResourceDescriptor {
                            name: Some("stdout".into()),
                            uri: None,
                            digest: BTreeMap::from([("sha256".to_string(), stdout_digest.hex())]),
                            annotations: None,
                        },
                        provenance::ResourceDescriptor {
                            name: Some("stderr".into()),
                            uri: None,
                            digest: BTreeMap::from([("sha256".to_string(), stderr_digest.hex())]),
                            annotations: None,
                        },
                    ],
                },
            },
        };
        let imported = self.model_import(&crate::ImportRequest {
            file: model_path,
            name: model,
            schema: schema_path,
            check: check_path,
            check_tolerance: None,
            dataset: Some(at(&ds.name, ds.version)),
            provenance: Some(build),
        })?;
        let m = imported.model.record;
        Ok((
            reusable.then_some(key),
            StageDone {
                status: StageStatus::Ok,
                result: Some(StageResult {
                    model: Some(format!("{}@{}", m.name, m.version)),
                    digest: Some(m.digest.clone()),
                    sandbox: Some(run.sandbox.clone()),
                    seconds: Some(run.seconds),
                    code: Some(code_digest.to_string()),
                    dirty: Some(git.map(|g| g.dirty)),
                    stdout: Some(stdout_digest.to_string()),
                    stderr: Some(stderr_digest.to_string()),
                    ..StageResult::default()
                }),
                reasons: Vec::new(),
                produced: Produced::Model(m),
            },
        ))
    }

    /// What a sandboxed command must never read, wherever it is mounted:
    /// this workspace's keys and database, and the user's Warden directory.
    fn sandbox_masks(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        if let Ok(ws) = self.root().join(crate::WORKSPACE_DIR).canonicalize() {
            v.push(ws);
        }
        for u in [self.user_dir(), crate::user_dir()].into_iter().flatten() {
            if let Ok(u) = u.canonicalize()
                && !v.contains(&u)
            {
                v.push(u);
            }
        }
        v
    }

    fn input_dataset(
        &self,
        input: &str,
        produced: &BTreeMap<String, Produced>,
    ) -> Result<DatasetRecord, StageFailure> {
        if let Some(p) = produced.get(input) {
            return match p {
                Produced::Dataset(d) => Ok(d.clone()),
                _ => Err(StageFailure(format!("stage {input} produced no dataset"))),
            };
        }
        if input.starts_with("sha256:") {
            let all = self
                .store()
                .read()
                .map_err(Error::from)?
                .datasets()
                .map_err(Error::from)?;
            return all.into_iter().find(|d| d.digest == input).ok_or_else(|| {
                StageFailure(format!(
                    "no recorded dataset version has the digest {input}"
                ))
            });
        }
        let r: VersionRef = input
            .parse()
            .map_err(|e: warden_core::NameError| StageFailure(e.to_string()))?;
        self.authorize(Action::DataRead, &format!("dataset:{r}"))?;
        Ok(self.find_dataset(&r)?)
    }

    fn input_model(
        &self,
        input: &str,
        produced: &BTreeMap<String, Produced>,
    ) -> Result<ModelRecord, StageFailure> {
        if let Some(p) = produced.get(input) {
            return match p {
                Produced::Model(m) => Ok(m.clone()),
                _ => Err(StageFailure(format!("stage {input} produced no model"))),
            };
        }
        let r: VersionRef = input
            .parse()
            .map_err(|e: warden_core::NameError| StageFailure(e.to_string()))?;
        Ok(self.find_model(&r)?)
    }

    /// An earlier successful stage with this key whose recorded result
    /// `load` still finds in the registry (with the recorded digest).
    fn reused(
        &self,
        key: &str,
        earlier: &[RunDocument],
        load: &dyn Fn(&StageResult) -> Result<Option<Produced>, Error>,
    ) -> Result<Option<StageDone>, StageFailure> {
        for run in earlier {
            for s in &run.stages {
                if s.key.as_deref() == Some(key)
                    && matches!(s.status, StageStatus::Ok | StageStatus::Reused)
                    && let Some(r) = &s.result
                    && let Some(p) = load(r)?
                {
                    return Ok(Some(StageDone {
                        status: StageStatus::Reused,
                        result: s.result.clone(),
                        reasons: Vec::new(),
                        produced: p,
                    }));
                }
            }
        }
        Ok(None)
    }
}

/// `NAME@V` of a recorded version.
fn at(name: &ObjectName, version: u64) -> VersionRef {
    VersionRef {
        name: name.clone(),
        version: Some(version),
    }
}

fn produced_dataset(ws: &Workspace, result: &StageResult) -> Result<Option<Produced>, Error> {
    let (Some(r), Some(digest)) = (&result.dataset, &result.digest) else {
        return Ok(None);
    };
    let Ok(r) = r.parse::<VersionRef>() else {
        return Ok(None);
    };
    let d = ws.store().read()?.dataset(&r.name, r.version)?;
    Ok(d.filter(|d| &d.digest == digest).map(Produced::Dataset))
}

fn produced_model(ws: &Workspace, result: &StageResult) -> Result<Option<Produced>, Error> {
    let (Some(r), Some(digest)) = (&result.model, &result.digest) else {
        return Ok(None);
    };
    let Ok(r) = r.parse::<VersionRef>() else {
        return Ok(None);
    };
    let m = ws.store().read()?.model(&r.name, r.version)?;
    Ok(m.filter(|m| &m.digest == digest).map(Produced::Model))
}

fn run_report(r: &PipelineRunRecord) -> Result<RunReport, Error> {
    if Digest::of(r.document.as_bytes()).to_string() != r.digest {
        return Err(Error::Verification(format!(
            "pipeline run {}: the recorded document does not match its digest",
            r.id
        )));
    }
    let run: RunDocument = serde_json::from_str(&r.document)
        .map_err(|e| Error::Invalid(format!("pipeline run {}: {e}", r.id)))?;
    Ok(RunReport {
        id: r.id,
        digest: r.digest.clone(),
        created_by: r.created_by.to_string(),
        run,
    })
}

/// The content address of a stage: its kind and text, the digests of what
/// it reads, and the Warden version.
fn stage_key(stage: &PlannedStage, inputs: &Value) -> Result<String, Error> {
    let text = match &stage.kind {
        StageKind::Ingest(x) => serde_json::to_value(x)?,
        StageKind::Train(x) => serde_json::to_value(x)?,
        StageKind::Evaluate(x) => serde_json::to_value(x)?,
        StageKind::Scan(x) => serde_json::to_value(x)?,
        StageKind::Evidence(x) => serde_json::to_value(x)?,
        StageKind::Gate(x) | StageKind::Promote(x) => serde_json::to_value(x)?,
    };
    let doc = json!({"kind": stage.kind.name(), "stage": text, "inputs": inputs,
                     "warden": env!("CARGO_PKG_VERSION")});
    Ok(Digest::of(&canonical_json(&doc)?).to_string())
}

fn file_sha256(path: &Path) -> Result<Digest, StageFailure> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = warden_core::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

/// What [`resolve_inside`] must find.
#[derive(Clone, Copy)]
enum Want {
    Dir,
    File,
}

/// `rel` under `base`, resolved (links followed), that is still inside
/// `base` and is a directory or regular file as asked: a symbolic link in a
/// checkout cannot make Warden read the caller's files.
fn resolve_inside(base: &Path, rel: &str, want: Want) -> Result<PathBuf, StageFailure> {
    let b = base.canonicalize().map_err(|e| Error::io(base, e))?;
    let p = base.join(rel);
    let c = p.canonicalize().map_err(|e| Error::io(&p, e))?;
    if !c.starts_with(&b) {
        return Err(StageFailure(format!(
            "{} resolves to {}, outside the directory {}",
            p.display(),
            c.display(),
            b.display()
        )));
    }
    let (ok, what) = match want {
        Want::Dir => (c.is_dir(), "a directory"),
        Want::File => (c.is_file(), "a regular file"),
    };
    if !ok {
        return Err(StageFailure(format!("{} is not {what}", p.display())));
    }
    Ok(c)
}

/// The mount point of the output directory inside the read-only code
/// directory: made empty on the host if missing (a file there is refused).
fn ensure_mount_point(p: &Path) -> Result<(), StageFailure> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(StageFailure(format!(
            "{} is not a directory; the output directory must be one",
            p.display()
        ))),
        Err(_) => std::fs::create_dir_all(p).map_err(|e| StageFailure(Error::io(p, e).to_string())),
    }
}

fn limits(s: &spec::SandboxSettings) -> sandbox::Limits {
    sandbox::Limits {
        cpu_seconds: s.cpu_seconds.unwrap_or(sandbox::DEFAULT_CPU_SECONDS),
        memory_mb: s.memory_mb.unwrap_or(sandbox::DEFAULT_MEMORY_MB),
        timeout_seconds: s
            .timeout_seconds
            .unwrap_or(sandbox::DEFAULT_TIMEOUT_SECONDS),
    }
}

/// The read-only paths the file names, resolved; a virtualenv brings the
/// interpreter prefix it was made from.
fn read_only_paths(plan: &Plan) -> Result<Vec<PathBuf>, StageFailure> {
    let mut out = Vec::new();
    for r in &plan.sandbox.read_only {
        let p = if let Some(rest) = r.strip_prefix("~/") {
            let home = std::env::var_os("HOME")
                .ok_or_else(|| StageFailure(format!("sandbox read_only {r:?}: HOME is not set")))?;
            PathBuf::from(home).join(rest)
        } else {
            plan.dir.join(r)
        };
        let c = p
            .canonicalize()
            .map_err(|e| StageFailure(format!("sandbox read_only {r:?}: {}: {e}", p.display())))?;
        sandbox::check_read_only(&c)
            .map_err(|e| StageFailure(format!("sandbox read_only {r:?}: {e}")))?;
        if let Some(base) = sandbox::venv_base(&c) {
            sandbox::check_read_only(&base).map_err(|e| {
                StageFailure(format!("sandbox read_only {r:?}: its interpreter: {e}"))
            })?;
            out.push(base);
        }
        out.push(c);
    }
    Ok(out)
}

/// A variable a pipeline file may pass through: a plain name that is not
/// Warden's own (`WARDEN_*`) and does not look like a credential (CI
/// identity-token requests, `*TOKEN*`, `*SECRET*`, `*PASSWORD*`,
/// `*PASSPHRASE*`, `*CREDENTIAL*`, `*_KEY`): a training command never
/// gets the caller's secrets.
pub fn check_env_name(name: &str) -> Result<(), String> {
    let plain = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !plain {
        return Err(format!(
            "sandbox env {name:?}: give the name of a variable to pass through (letters, digits, _)"
        ));
    }
    let up = name.to_ascii_uppercase();
    let secret = up.starts_with("WARDEN_")
        || up.starts_with("ACTIONS_")
        || [
            "TOKEN",
            "SECRET",
            "PASSWORD",
            "PASSPHRASE",
            "CREDENTIAL",
            "PRIVATE",
        ]
        .iter()
        .any(|w| up.contains(w))
        || up.ends_with("_KEY")
        || up == "KEY";
    if secret {
        return Err(format!(
            "sandbox env {name:?}: Warden's own variables and credentials are never passed to a command"
        ));
    }
    Ok(())
}

/// The command's whole environment: a fixed `PATH` (a read-only
/// virtualenv's `bin` first), a fresh home, the passed-through names, and
/// `WARDEN_OUTPUT` / `WARDEN_DATASET`.
fn sandbox_env(
    s: &spec::SandboxSettings,
    passthrough: bool,
    read_only: &[PathBuf],
    output: &Path,
    dataset: Option<&Path>,
    extra: &[(&str, String)],
) -> Result<Vec<(String, String)>, StageFailure> {
    let mut path = String::new();
    for r in read_only {
        if r.join("pyvenv.cfg").is_file() {
            path.push_str(&r.join("bin").display().to_string());
            path.push(':');
        }
    }
    path.push_str("/usr/local/bin:/usr/bin:/bin");
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), path),
        ("HOME".into(), "/tmp/home".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("TMPDIR".into(), "/tmp".into()),
        ("WARDEN_OUTPUT".into(), output.display().to_string()),
    ];
    if let Some(d) = dataset {
        env.push(("WARDEN_DATASET".into(), d.display().to_string()));
    }
    for (k, v) in extra {
        env.push((k.to_string(), v.clone()));
    }
    for name in &s.env {
        check_env_name(name).map_err(StageFailure)?;
        if env.iter().any(|(k, _)| k == name) {
            return Err(StageFailure(format!(
                "sandbox env {name:?}: PATH, HOME, LANG, TMPDIR and WARDEN_* are set by Warden"
            )));
        }
        if !passthrough {
            continue;
        }
        if let Some(v) = std::env::var_os(name) {
            env.push((name.clone(), v.to_string_lossy().into_owned()));
        }
    }
    Ok(env)
}

/// What a training command handed over: regular files only, no pickles
/// or formats built on them (by name and by content), nothing the scanner
/// flags at medium or above.
fn check_outputs(dir: &Path, shown: &str) -> Result<(), StageFailure> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for e in entries {
            let e = e.map_err(|x| Error::io(&d, x))?;
            let p = e.path();
            let ft = e.file_type().map_err(|x| Error::io(&p, x))?;
            let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
            if ft.is_symlink() {
                return Err(StageFailure(format!(
                    "{shown}/{rel} is a symbolic link: outputs are regular files"
                )));
            }
            if ft.is_dir() {
                stack.push(p);
                continue;
            }
            if !ft.is_file() {
                return Err(StageFailure(format!(
                    "{shown}/{rel} is not a regular file (a pipe, socket or device): outputs are regular files"
                )));
            }
            let ext = p
                .extension()
                .map(|x| x.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if REFUSED_EXTENSIONS.contains(&ext.as_str()) {
                return Err(StageFailure(format!(
                    "{shown}/{rel}: a .{ext} file is a pickle or built on one, which Warden never loads; export the model to ONNX (skl2onnx, torch.onnx) or XGBoost/LightGBM's own formats"
                )));
            }
        }
    }
    let report = crate::scanner::scan(
        &[dir.to_path_buf()],
        &crate::scanner::Options::default(),
        &|_, _| {},
    );
    let prefix = dir.display().to_string();
    for f in &report.files {
        let rel = f
            .path
            .strip_prefix(&prefix)
            .unwrap_or(&f.path)
            .trim_start_matches('/');
        let fmt = f.format.as_str();
        if [
            "pickle",
            "joblib",
            "dill",
            "torch",
            "npy",
            "npz",
            "keras",
            "hdf5",
            "savedmodel",
        ]
        .iter()
        .any(|k| fmt.contains(k))
        {
            return Err(StageFailure(format!(
                "{shown}/{rel} is a {fmt} file, which Warden never loads; export the model to ONNX or XGBoost/LightGBM's own formats"
            )));
        }
        if let Some(x) = f.findings.iter().find(|x| {
            matches!(
                x.severity,
                crate::scanner::Severity::Medium
                    | crate::scanner::Severity::High
                    | crate::scanner::Severity::Critical
            )
        }) {
            return Err(StageFailure(format!(
                "{shown}/{rel}: the scanner found {} ({:?}): {}; nothing was imported",
                x.rule, x.severity, x.message
            )));
        }
    }
    Ok(())
}

/// SHA-256 over the code directory's files (path and content digest, in
/// path order), leaving out version control, virtualenvs, caches and the
/// output directory; and how many files that was.
fn code_digest(dir: &Path, outputs: &Path) -> Result<(Digest, usize), StageFailure> {
    let mut files: Vec<(String, String)> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for e in entries {
            let e = e.map_err(|x| Error::io(&d, x))?;
            let p = e.path();
            if p == outputs || CODE_SKIP.iter().any(|s| e.file_name() == *s) {
                continue;
            }
            let ft = e.file_type().map_err(|x| Error::io(&p, x))?;
            let rel = p
                .strip_prefix(dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&p).map_err(|x| Error::io(&p, x))?;
                files.push((rel, format!("symlink:{}", target.display())));
            } else {
                files.push((rel, file_sha256(&p)?.to_string()));
            }
            if files.len() > MAX_CODE_FILES {
                return Err(StageFailure(format!(
                    "{} holds more than {MAX_CODE_FILES} files; point `code` at the training code",
                    dir.display()
                )));
            }
        }
    }
    files.sort();
    let mut text = String::new();
    for (path, digest) in &files {
        text.push_str(digest);
        text.push_str("  ");
        text.push_str(path);
        text.push('\n');
    }
    Ok((Digest::of(text.as_bytes()), files.len()))
}

/// The code directory's git state: HEAD's commit and tree, and whether its
/// files differ from them; `None` outside a git work tree or without git.
struct GitState {
    commit: String,
    tree: String,
    dirty: bool,
}

fn git_state(dir: &Path) -> Option<GitState> {
    let git = sandbox::find_program("git")?;
    // The code directory is the pipeline author's: git runs on it outside
    // the sandbox, so nothing it holds may make git run a program (an
    // embedded bare repository's config, fsmonitor, hooks), and only the
    // environment git needs is passed.
    let ask = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new(&git)
            .args([
                "-c",
                "safe.bareRepository=explicit",
                "-c",
                "core.fsmonitor=false",
                "-c",
                "core.hooksPath=/dev/null",
                "-c",
                "core.untrackedCache=false",
                "-c",
                "protocol.allow=never",
            ])
            .arg("-C")
            .arg(dir)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = ask(&["rev-parse", "HEAD"])?;
    let tree = ask(&["rev-parse", "HEAD^{tree}"])?;
    let status = ask(&["status", "--porcelain", "--", "."])?;
    Some(GitState {
        commit,
        tree,
        dirty: !status.is_empty(),
    })
}

impl Workspace {
    /// The `provenance` section of the policy input: whether the package
    /// carries SLSA provenance, and whether it verifies with the key that
    /// signed the package and names the file the package was made from.
    /// `verified` is the package's verification, done once by the caller.
    pub(crate) fn provenance_facts(
        &self,
        m: &ModelRecord,
        verified: Result<&crate::models::model::VerifiedFiles, &Error>,
    ) -> Result<crate::policy_input::ProvenanceFacts, Error> {
        let manifest = crate::stored::model_manifest(m)?;
        let absent = crate::policy_input::ProvenanceFacts {
            present: false,
            verified: false,
            sandbox: None,
            network_isolated: None,
            dirty: None,
            build_type: None,
            statement_digest: None,
            error: None,
        };
        let Some(build) = &manifest.provenance.build else {
            return Ok(absent);
        };
        let check = || -> Result<provenance::Statement, String> {
            let (files, _, key_name) = verified.map_err(|e| e.to_string())?;
            let envelope = files
                .get(&build.file)
                .ok_or_else(|| format!("the package has no {}", build.file))?;
            let source = manifest
                .provenance
                .source
                .as_ref()
                .ok_or("the manifest names no source file")?;
            let digest: Digest = source.digest.parse().map_err(|e| format!("{e}"))?;
            let keys = self
                .store()
                .read()
                .map_err(|e| e.to_string())?
                .keys()
                .map_err(|e| e.to_string())?;
            let rec = keys
                .iter()
                .find(|k| k.name.as_str() == key_name)
                .ok_or_else(|| format!("no key {key_name}"))?;
            let key = warden_artifact::keys::PublicKey::from_pem(&rec.public_pem, key_name)
                .map_err(|e| e.to_string())?;
            provenance::verify(envelope, &key, &source.file, &digest)
        };
        Ok(match check() {
            Ok(st) => {
                let p = &st.predicate.build_definition.internal_parameters;
                crate::policy_input::ProvenanceFacts {
                    present: true,
                    verified: true,
                    sandbox: Some(p.sandbox.clone()),
                    network_isolated: Some(p.network_isolated),
                    dirty: build.dirty,
                    build_type: Some(st.predicate.build_definition.build_type.clone()),
                    statement_digest: Some(build.statement_digest.clone()),
                    error: None,
                }
            }
            Err(e) => crate::policy_input::ProvenanceFacts {
                present: true,
                error: Some(e),
                ..absent
            },
        })
    }

    /// Checks the SLSA provenance in an exported package directory with the
    /// workspace key `key_name` (the one its signature verified with).
    pub fn verify_provenance_with_key(
        &self,
        dir: &Path,
        key_name: &str,
    ) -> Result<provenance::Statement, Error> {
        self.authorize(Action::ModelRead, &format!("path:{}", dir.display()))?;
        let keys = self.store().read()?.keys()?;
        let rec = keys
            .iter()
            .find(|k| k.name.as_str() == key_name)
            .ok_or_else(|| Error::NotFound(format!("key {key_name}")))?;
        Workspace::verify_provenance_dir(dir, &rec.public_pem)
    }

    /// Checks the SLSA provenance in an exported package directory against
    /// the public key `key_pem` (the one its signature verified with).
    pub fn verify_provenance_dir(
        dir: &Path,
        key_pem: &str,
    ) -> Result<provenance::Statement, Error> {
        let manifest_path = dir.join(warden_artifact::package::MANIFEST_FILE);
        let text = crate::data::read_small(&manifest_path)?;
        let manifest: crate::documents::ModelManifest = serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", manifest_path.display())))?;
        let build = manifest.provenance.build.as_ref().ok_or_else(|| {
            Error::Verification(format!(
                "{}: the package carries no SLSA provenance (only models built by a pipeline's training command do)",
                dir.display()
            ))
        })?;
        let source =
            manifest.provenance.source.as_ref().ok_or_else(|| {
                Error::Verification("the manifest names no source file".to_string())
            })?;
        let path = dir.join(&build.file);
        let envelope = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let key = warden_artifact::keys::PublicKey::from_pem(key_pem, "the verifying key")?;
        let digest: Digest = source
            .digest
            .parse()
            .map_err(|e| Error::Verification(format!("source digest: {e}")))?;
        provenance::verify(&envelope, &key, &source.file, &digest)
            .map_err(|e| Error::Verification(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of stage result a run document holds, as runs recorded
    /// them, reads as a `StageResult` and writes back unchanged; `null`
    /// fields stay present.
    #[test]
    fn recorded_stage_results_read_and_write_back_unchanged() {
        let recorded = [
            r#"{"dataset":"credit@1","digest":"sha256:aa"}"#,
            r#"{"model":"credit@2","digest":"sha256:bb"}"#,
            r#"{"evaluation":3,"accuracy":0.875}"#,
            r#"{"scan":4,"max_severity":"none","findings":0}"#,
            r#"{"evidence":5,"findings":2,"max_score":7.5}"#,
            r#"{"model":"credit@2","env":"staging","allowed":false,"policy_digest":"sha256:cc","input_digest":"sha256:dd"}"#,
            r#"{"model":"credit@2","env":"dev","allowed":true,"decision":6,"previous":null}"#,
            r#"{"model":"credit@2","env":"dev","allowed":true,"decision":7,"previous":1}"#,
            r#"{"model":"m@1","digest":"sha256:ee","sandbox":"bubblewrap 0.8.0","seconds":1.5,"code":"sha256:ff","dirty":null,"stdout":"sha256:11","stderr":"sha256:22"}"#,
            r#"{"model":"m@1","digest":"sha256:ee","sandbox":"none","seconds":0.25,"code":"sha256:ff","dirty":true,"stdout":"sha256:11","stderr":"sha256:22"}"#,
        ];
        for text in recorded {
            let want: Value = serde_json::from_str(text).unwrap();
            let typed: StageResult = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_value(&typed).unwrap(), want, "{text}");
        }
        let skipped: StageRecord = serde_json::from_str(
            r#"{"name":"s","kind":"scan","status":"skipped","key":null,"seconds":0.0,"result":null,"error":null,"reasons":[]}"#,
        )
        .unwrap();
        assert_eq!(skipped.result, None);
    }
}
