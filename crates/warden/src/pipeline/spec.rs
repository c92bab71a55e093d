//! The pipeline file: a typed TOML document of stages, checked whole before
//! anything runs, and its plan (the stages in dependency order).
//!
//! ```toml
//! name = "titanic"
//!
//! [[stage]]
//! name = "data"
//! ingest = { file = "titanic.csv", dataset = "titanic", target = "survived" }
//!
//! [[stage]]
//! name = "train"
//! train = { dataset = "data", model = "titanic", command = ["python3", "train.py"],
//!           outputs = "out", model_file = "model.onnx", schema = "schema.toml" }
//!
//! [[stage]]
//! name = "gate"
//! gate = { model = "train", env = "staging" }
//! ```
//!
//! A stage's inputs name another stage (a bare name: that stage's output) or
//! a recorded version (`NAME@V`, or `sha256:…` for a dataset version's
//! digest); a bare name that is no stage is an error, so every input is
//! pinned. The order is topological over those references and `after`,
//! ties broken by file order; a cycle is refused and named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use warden_core::{Digest, ObjectName, VersionRef};

use crate::Error;

/// Largest pipeline file read.
pub const MAX_PIPELINE_BYTES: u64 = 1 << 20;

/// The whole file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// The pipeline's name (runs are listed by it).
    pub name: String,
    /// Settings shared by the sandboxed commands.
    #[serde(default)]
    pub sandbox: SandboxSettings,
    /// The stages, in any order their references allow.
    #[serde(rename = "stage", default)]
    pub stages: Vec<Stage>,
}

/// How sandboxed commands (external training, evidence tools) run.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// Environment variables passed through from the caller (everything
    /// else is dropped; `PATH`, `HOME`, `LANG` and `WARDEN_*` are set).
    #[serde(default)]
    pub env: Vec<String>,
    /// Extra paths the command may read (a Python virtualenv, a toolchain),
    /// relative to the pipeline file or absolute. A virtualenv brings the
    /// interpreter it was made from.
    #[serde(default)]
    pub read_only: Vec<String>,
    /// CPU seconds (default 3600).
    #[serde(default)]
    pub cpu_seconds: Option<u64>,
    /// Address-space limit in MiB (default 8192).
    #[serde(default)]
    pub memory_mb: Option<u64>,
    /// Wall-clock limit in seconds (default 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// One stage: a name, what it waits for, and exactly one kind.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// The stage's name: unique in the file, and what other stages' inputs
    /// and `after` name.
    pub name: String,
    /// Stages that must finish first besides the ones its inputs name.
    #[serde(default)]
    pub after: Vec<String>,
    /// Ingest a CSV file.
    #[serde(default)]
    pub ingest: Option<IngestStage>,
    /// Train or import a model.
    #[serde(default)]
    pub train: Option<TrainStage>,
    /// Evaluate a model on a dataset version.
    #[serde(default)]
    pub evaluate: Option<EvaluateStage>,
    /// Scan a model's files and record the scan.
    #[serde(default)]
    pub scan: Option<ScanStage>,
    /// Bind another tool's report to a model.
    #[serde(default)]
    pub evidence: Option<EvidenceStage>,
    /// Ask an environment's gate, without promoting.
    #[serde(default)]
    pub gate: Option<GateStage>,
    /// Promote a model to an environment through its gate.
    #[serde(default)]
    pub promote: Option<GateStage>,
}

/// `ingest = { file, dataset, … }`: a CSV file recorded as a dataset version.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IngestStage {
    /// The CSV file, relative to the pipeline file.
    pub file: String,
    /// The dataset name to record it under.
    pub dataset: String,
    /// The file's expected SHA-256 (`sha256:…` or hex): a different file is refused.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The label column (`data ingest --target`).
    #[serde(default)]
    pub target: Option<String>,
    /// The feature columns (`data ingest --features`; default: every column
    /// that is not the target, the id, sensitive or PII).
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Sensitive attributes, kept for fairness checks and never features
    /// (`data ingest --sensitive`).
    #[serde(default)]
    pub sensitive: Vec<String>,
}

/// `train = { dataset, model, … }`: Warden's own trainer (`builtin`), or a
/// command run in a sandbox whose outputs are imported.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainStage {
    /// An ingest stage, `NAME@V` or a dataset version's `sha256:…` digest.
    pub dataset: String,
    /// The registry name of the model.
    pub model: String,
    /// `logreg` or `mlp`: Warden trains it.
    #[serde(default)]
    pub builtin: Option<String>,
    /// The random seed (default 0): the builtin trainer's, or `WARDEN_SEED`
    /// for a command.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The training command (argv), run in the code directory.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// The code directory (default: the pipeline file's).
    #[serde(default)]
    pub code: Option<String>,
    /// The lock file whose digest the provenance records (relative to `code`).
    #[serde(default)]
    pub lockfile: Option<String>,
    /// The one writable directory (relative to `code`; default `out`).
    #[serde(default)]
    pub outputs: Option<String>,
    /// The model file the command writes, in `outputs` (default `model.onnx`).
    #[serde(default)]
    pub model_file: Option<String>,
    /// Its input schema, in `outputs` (default `schema.toml`).
    #[serde(default)]
    pub schema: Option<String>,
    /// A reference batch the command writes, in `outputs` (`model import --check`).
    #[serde(default)]
    pub check: Option<String>,
}

/// `evaluate = { model, dataset, … }`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvaluateStage {
    /// A train stage, or `NAME@V`.
    pub model: String,
    /// An ingest stage, `NAME@V` or a dataset version's `sha256:…` digest.
    pub dataset: String,
    /// The sensitive attributes to measure fairness over (default: the
    /// dataset's).
    #[serde(default)]
    pub sensitive: Option<Vec<String>>,
    /// The seed of the bootstrap and attacks (default 0).
    #[serde(default)]
    pub seed: Option<u64>,
}

/// `scan = { model }`: the model's files, recorded.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScanStage {
    /// A train stage, or `NAME@V`.
    pub model: String,
}

/// `evidence = { model, tool, kind, report | command }`: another tool's
/// report bound to the model; a command runs in the sandbox and writes
/// `report` in its output directory.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvidenceStage {
    /// A train stage, or `NAME@V`.
    pub model: String,
    /// The tool that wrote the report (`semgrep`, `pip-audit`, `trivy`, …);
    /// it picks the default `kind`.
    pub tool: String,
    /// `sast`, `sca`, `container`, `dockerfile` or `other` (default: by tool).
    #[serde(default)]
    pub kind: Option<String>,
    /// The report file (relative to the pipeline file, or to the command's
    /// output directory when `command` is given).
    pub report: String,
    /// The command (argv) that writes the report, run in the sandbox in
    /// `code`; without it, `report` is an existing file.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// The directory the command reads (default: the pipeline file's).
    #[serde(default)]
    pub code: Option<String>,
    /// Let the command reach the network (a dependency auditor that
    /// fetches its vulnerability database); recorded with the evidence.
    #[serde(default)]
    pub network: bool,
}

/// `gate = { model, env }` or `promote = { model, env }`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GateStage {
    /// A train stage, or `NAME@V`.
    pub model: String,
    /// The environment, one of `[gates] environments`.
    pub env: String,
}

/// What a stage does.
#[derive(Clone, Debug, PartialEq)]
pub enum StageKind {
    /// `ingest = { … }`.
    Ingest(IngestStage),
    /// `train = { … }`.
    Train(TrainStage),
    /// `evaluate = { … }`.
    Evaluate(EvaluateStage),
    /// `scan = { … }`.
    Scan(ScanStage),
    /// `evidence = { … }`.
    Evidence(EvidenceStage),
    /// `gate = { … }`: the gate's decision only.
    Gate(GateStage),
    /// `promote = { … }`: the gate's decision and, when allowed, the move.
    Promote(GateStage),
}

impl StageKind {
    /// The kind's key in the file: `ingest`, `train`, `evaluate`, `scan`,
    /// `evidence`, `gate` or `promote`.
    pub fn name(&self) -> &'static str {
        match self {
            StageKind::Ingest(_) => "ingest",
            StageKind::Train(_) => "train",
            StageKind::Evaluate(_) => "evaluate",
            StageKind::Scan(_) => "scan",
            StageKind::Evidence(_) => "evidence",
            StageKind::Gate(_) => "gate",
            StageKind::Promote(_) => "promote",
        }
    }
}

/// An input as the file names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum Input {
    /// Another stage's output.
    Stage(String),
    /// A recorded version, `NAME@V`.
    Version(String),
    /// A dataset version by its manifest digest.
    Digest(String),
}

/// One planned stage.
#[derive(Clone, Debug)]
pub struct PlannedStage {
    /// The stage's name.
    pub name: String,
    /// What it does.
    pub kind: StageKind,
    /// The stages it waits for.
    pub needs: Vec<String>,
}

/// A checked pipeline: its file, directory and stages in run order.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The pipeline's name.
    pub name: ObjectName,
    /// The pipeline file, as given.
    pub file: PathBuf,
    /// The directory relative paths are resolved against.
    pub dir: PathBuf,
    /// SHA-256 of the file's bytes.
    pub digest: Digest,
    /// The file's `[sandbox]` settings.
    pub sandbox: SandboxSettings,
    /// The stages in run order: dependencies first, ties in file order.
    pub stages: Vec<PlannedStage>,
}

fn invalid(file: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{}: {msg}", file.display()))
}

/// Reads and checks a pipeline file; nothing runs.
pub fn load(file: &Path) -> Result<Plan, Error> {
    let meta = std::fs::metadata(file).map_err(|e| Error::io(file, e))?;
    if meta.len() > MAX_PIPELINE_BYTES {
        return Err(invalid(
            file,
            format!(
                "{} bytes; a pipeline file has at most {MAX_PIPELINE_BYTES}",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    parse(&bytes, file, &dir)
}

/// Parses and checks a pipeline file's bytes (`file` names it in errors,
/// `dir` is where its relative paths point).
pub fn parse(bytes: &[u8], file: &Path, dir: &Path) -> Result<Plan, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| invalid(file, "not UTF-8 text"))?;
    let parsed: PipelineFile =
        toml::from_str(text).map_err(|e| invalid(file, e.to_string().trim_end()))?;
    plan(parsed, file, dir, Digest::of(bytes))
}

/// Checks a parsed file and orders its stages.
pub fn plan(parsed: PipelineFile, file: &Path, dir: &Path, digest: Digest) -> Result<Plan, Error> {
    let name =
        ObjectName::new(&parsed.name).map_err(|e| invalid(file, format!("pipeline name: {e}")))?;
    if parsed.stages.is_empty() {
        return Err(invalid(file, "no [[stage]] declared"));
    }
    for name in &parsed.sandbox.env {
        crate::pipeline::check_env_name(name).map_err(|e| invalid(file, e))?;
    }
    let mut kinds = Vec::new();
    let mut names = BTreeSet::new();
    for (i, s) in parsed.stages.iter().enumerate() {
        ObjectName::new(&s.name)
            .map_err(|e| invalid(file, format!("stage {}: name: {e}", i + 1)))?;
        if !names.insert(s.name.as_str()) {
            return Err(invalid(file, format!("two stages are named {}", s.name)));
        }
        let mut found: Vec<StageKind> = Vec::new();
        if let Some(x) = &s.ingest {
            found.push(StageKind::Ingest(x.clone()));
        }
        if let Some(x) = &s.train {
            found.push(StageKind::Train(x.clone()));
        }
        if let Some(x) = &s.evaluate {
            found.push(StageKind::Evaluate(x.clone()));
        }
        if let Some(x) = &s.scan {
            found.push(StageKind::Scan(x.clone()));
        }
        if let Some(x) = &s.evidence {
            found.push(StageKind::Evidence(x.clone()));
        }
        if let Some(x) = &s.gate {
            found.push(StageKind::Gate(x.clone()));
        }
        if let Some(x) = &s.promote {
            found.push(StageKind::Promote(x.clone()));
        }
        let kind = match found.len() {
            1 => found.remove(0),
            0 => {
                return Err(invalid(
                    file,
                    format!(
                        "stage {} has no kind: give one of ingest, train, evaluate, scan, evidence, gate, promote",
                        s.name
                    ),
                ));
            }
            _ => {
                return Err(invalid(
                    file,
                    format!(
                        "stage {} has {} kinds ({}): give exactly one",
                        s.name,
                        found.len(),
                        found
                            .iter()
                            .map(StageKind::name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        };
        check_stage(file, &s.name, &kind)?;
        kinds.push(kind);
    }
    // Resolve every input; collect the edges.
    let kind_of: BTreeMap<&str, &StageKind> = parsed
        .stages
        .iter()
        .zip(&kinds)
        .map(|(s, k)| (s.name.as_str(), k))
        .collect();
    let mut needs: Vec<Vec<String>> = Vec::new();
    for (s, k) in parsed.stages.iter().zip(&kinds) {
        let mut n: Vec<String> = Vec::new();
        for (field, want, value) in inputs_of(k) {
            if let Input::Stage(target) = parse_input(file, &s.name, field, value, &kind_of)? {
                let Some(tk) = kind_of.get(target.as_str()) else {
                    return Err(invalid(
                        file,
                        format!("stage {}: {field} = {target:?}: no such stage", s.name),
                    ));
                };
                if tk.name() != want {
                    return Err(invalid(
                        file,
                        format!(
                            "stage {}: {field} = {target:?} names a {} stage; it needs a {want} stage's output",
                            s.name,
                            tk.name()
                        ),
                    ));
                }
                n.push(target);
            }
        }
        for a in &s.after {
            if !kind_of.contains_key(a.as_str()) {
                return Err(invalid(
                    file,
                    format!("stage {}: after {a:?}: no such stage", s.name),
                ));
            }
            n.push(a.clone());
        }
        if n.iter().any(|x| x == &s.name) {
            return Err(invalid(file, format!("stage {} depends on itself", s.name)));
        }
        n.sort();
        n.dedup();
        needs.push(n);
    }
    let order = topological(&parsed.stages, &needs).map_err(|cycle| {
        invalid(
            file,
            format!("the stages form a cycle: {}", cycle.join(" -> ")),
        )
    })?;
    let stages = order
        .into_iter()
        .map(|i| PlannedStage {
            name: parsed.stages[i].name.clone(),
            kind: kinds[i].clone(),
            needs: needs[i].clone(),
        })
        .collect();
    Ok(Plan {
        name,
        file: file.to_path_buf(),
        dir: dir.to_path_buf(),
        digest,
        sandbox: parsed.sandbox,
        stages,
    })
}

/// The inputs of a stage: (field, the stage kind it must name, value).
pub fn inputs_of(k: &StageKind) -> Vec<(&'static str, &'static str, &str)> {
    match k {
        StageKind::Ingest(_) => vec![],
        StageKind::Train(t) => vec![("dataset", "ingest", t.dataset.as_str())],
        StageKind::Evaluate(e) => vec![
            ("model", "train", e.model.as_str()),
            ("dataset", "ingest", e.dataset.as_str()),
        ],
        StageKind::Scan(s) => vec![("model", "train", s.model.as_str())],
        StageKind::Evidence(e) => vec![("model", "train", e.model.as_str())],
        StageKind::Gate(g) | StageKind::Promote(g) => vec![("model", "train", g.model.as_str())],
    }
}

/// Parses an input reference: a stage name, `NAME@V`, or `sha256:HEX`.
fn parse_input(
    file: &Path,
    stage: &str,
    field: &str,
    value: &str,
    stages: &BTreeMap<&str, &StageKind>,
) -> Result<Input, Error> {
    if let Some(hex) = value.strip_prefix("sha256:") {
        if field != "dataset" {
            return Err(invalid(
                file,
                format!(
                    "stage {stage}: {field} = {value:?}: only a dataset may be named by digest"
                ),
            ));
        }
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(invalid(
                file,
                format!(
                    "stage {stage}: {field} = {value:?}: a digest is sha256: and 64 lowercase hex digits"
                ),
            ));
        }
        return Ok(Input::Digest(value.to_string()));
    }
    if value.contains('@') {
        let r: VersionRef = value
            .parse()
            .map_err(|e| invalid(file, format!("stage {stage}: {field} = {value:?}: {e}")))?;
        if r.version.is_none() {
            return Err(invalid(
                file,
                format!("stage {stage}: {field} = {value:?}: name a version"),
            ));
        }
        return Ok(Input::Version(value.to_string()));
    }
    if stages.contains_key(value) {
        return Ok(Input::Stage(value.to_string()));
    }
    Err(invalid(
        file,
        format!(
            "stage {stage}: {field} = {value:?} is no stage of this pipeline; name a recorded version as NAME@V (or a dataset by sha256:…)"
        ),
    ))
}

/// Per-kind checks that need no workspace.
fn check_stage(file: &Path, name: &str, k: &StageKind) -> Result<(), Error> {
    let bad = |m: String| invalid(file, format!("stage {name}: {m}"));
    match k {
        StageKind::Ingest(i) => {
            ObjectName::new(&i.dataset).map_err(|e| bad(format!("dataset: {e}")))?;
            if let Some(d) = &i.sha256 {
                parse_sha256(d).map_err(bad)?;
            }
            relative_inside(&i.file).map_err(|e| bad(format!("file: {e}")))?;
        }
        StageKind::Train(t) => {
            ObjectName::new(&t.model).map_err(|e| bad(format!("model: {e}")))?;
            match (&t.builtin, &t.command) {
                (Some(_), Some(_)) => {
                    return Err(bad("give builtin or command, not both".into()));
                }
                (None, None) => {
                    return Err(bad(
                        "give builtin = \"logreg\" or \"mlp\", or command = [...] for your own trainer"
                            .into(),
                    ));
                }
                (Some(b), None) => {
                    if b != "logreg" && b != "mlp" {
                        return Err(bad(format!("builtin {b:?}: logreg or mlp")));
                    }
                    for (field, set) in [
                        ("code", t.code.is_some()),
                        ("lockfile", t.lockfile.is_some()),
                        ("outputs", t.outputs.is_some()),
                        ("model_file", t.model_file.is_some()),
                        ("schema", t.schema.is_some()),
                        ("check", t.check.is_some()),
                    ] {
                        if set {
                            return Err(bad(format!(
                                "{field} is for a command, not a builtin trainer"
                            )));
                        }
                    }
                }
                (None, Some(c)) => {
                    if c.is_empty() || c[0].is_empty() {
                        return Err(bad("command is empty".into()));
                    }
                    for (field, v) in [
                        ("outputs", t.outputs.as_deref()),
                        ("code", t.code.as_deref()),
                        ("lockfile", t.lockfile.as_deref()),
                    ] {
                        if let Some(v) = v {
                            relative_inside(v).map_err(|e| bad(format!("{field}: {e}")))?;
                        }
                    }
                    for (field, v) in [
                        ("model_file", t.model_file.as_deref()),
                        ("schema", t.schema.as_deref()),
                        ("check", t.check.as_deref()),
                    ] {
                        if let Some(v) = v {
                            relative_inside(v).map_err(|e| bad(format!("{field}: {e}")))?;
                        }
                    }
                }
            }
        }
        StageKind::Evaluate(_) | StageKind::Scan(_) => {}
        StageKind::Evidence(e) => {
            if let Some(k) = &e.kind {
                k.parse::<crate::EvidenceKind>()
                    .map_err(|m| bad(format!("kind: {m}")))?;
            }
            relative_inside(&e.report).map_err(|m| bad(format!("report: {m}")))?;
            if let Some(c) = &e.command
                && (c.is_empty() || c[0].is_empty())
            {
                return Err(bad("command is empty".into()));
            }
            if let Some(code) = &e.code {
                relative_inside(code).map_err(|m| bad(format!("code: {m}")))?;
            }
            if e.network && e.command.is_none() {
                return Err(bad("network is for a command".into()));
            }
        }
        StageKind::Gate(g) | StageKind::Promote(g) => {
            if g.env.is_empty() {
                return Err(bad("env is empty".into()));
            }
        }
    }
    Ok(())
}

/// `sha256:HEX` or `HEX` as a digest.
pub fn parse_sha256(s: &str) -> Result<Digest, String> {
    let with = if s.starts_with("sha256:") {
        s.to_string()
    } else {
        format!("sha256:{s}")
    };
    with.parse::<Digest>()
        .map_err(|e| format!("sha256 {s:?}: {e}"))
}

/// A relative path that stays inside its base: no absolute path, no `..`.
pub fn relative_inside(p: &str) -> Result<(), String> {
    let path = Path::new(p);
    if p.is_empty() {
        return Err("empty path".into());
    }
    if path.is_absolute() {
        return Err(format!(
            "{p:?} is absolute; give a path relative to the pipeline file"
        ));
    }
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!("{p:?} leaves the pipeline's directory"));
    }
    Ok(())
}

/// Kahn's algorithm over `needs` (names), ties broken by file order. On a
/// cycle, returns one cycle's stage names, first repeated at the end.
fn topological(stages: &[Stage], needs: &[Vec<String>]) -> Result<Vec<usize>, Vec<String>> {
    let index: BTreeMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let deps: Vec<Vec<usize>> = needs
        .iter()
        .map(|n| {
            n.iter()
                .filter_map(|x| index.get(x.as_str()).copied())
                .collect()
        })
        .collect();
    let mut done = vec![false; stages.len()];
    let mut order = Vec::with_capacity(stages.len());
    while order.len() < stages.len() {
        let next = (0..stages.len()).find(|&i| !done[i] && deps[i].iter().all(|&d| done[d]));
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                // Walk unmet dependencies from any stage left until one repeats.
                let Some(start) = (0..stages.len()).find(|&i| !done[i]) else {
                    break;
                };
                let mut path = vec![start];
                let mut at = start;
                while let Some(&d) = deps[at].iter().find(|&&d| !done[d]) {
                    if let Some(pos) = path.iter().position(|&p| p == d) {
                        let mut cycle: Vec<String> = path[pos..]
                            .iter()
                            .map(|&i| stages[i].name.clone())
                            .collect();
                        cycle.push(stages[d].name.clone());
                        return Err(cycle);
                    }
                    path.push(d);
                    at = d;
                }
                return Err(vec![stages[start].name.clone()]);
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plan_of(text: &str) -> Result<Plan, Error> {
        let parsed: PipelineFile =
            toml::from_str(text).map_err(|e| Error::Invalid(e.to_string()))?;
        plan(
            parsed,
            Path::new("p.toml"),
            Path::new("."),
            Digest::of(text.as_bytes()),
        )
    }

    const GOOD: &str = r#"
name = "titanic"
[[stage]]
name = "gate"
gate = { model = "train", env = "staging" }
[[stage]]
name = "train"
train = { dataset = "data", model = "titanic", builtin = "logreg" }
[[stage]]
name = "data"
ingest = { file = "titanic.csv", dataset = "titanic", target = "survived" }
[[stage]]
name = "eval"
evaluate = { model = "train", dataset = "titanic@1" }
"#;

    #[test]
    fn stages_run_after_what_they_name() {
        let p = plan_of(GOOD).unwrap();
        let order: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(order, ["data", "train", "gate", "eval"]);
        assert_eq!(p.stages[2].needs, ["train"]);
    }

    fn err(text: &str) -> String {
        plan_of(text).unwrap_err().to_string()
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        assert!(
            err("name = \"x\"\n[[stage]]\nname = \"a\"\ndeploy = {}\n")
                .contains("unknown field `deploy`")
        );
        assert!(err("name = \"x\"\nextra = 1\n").contains("unknown field `extra`"));
        assert!(err("name = \"x\"\n").contains("no [[stage]]"));
        assert!(err("name = \"x\"\n[[stage]]\nname = \"a\"\n").contains("has no kind"));
        let two = "name = \"x\"\n[[stage]]\nname = \"a\"\nscan = { model = \"m@1\" }\ngate = { model = \"m@1\", env = \"dev\" }\n";
        assert!(err(two).contains("2 kinds (scan, gate)"));
        let missing = "name = \"x\"\n[[stage]]\nname = \"a\"\nscan = { model = \"train\" }\n";
        assert!(err(missing).contains("is no stage of this pipeline"));
        let wrong_kind = "name = \"x\"\n[[stage]]\nname = \"s\"\nscan = { model = \"m@1\" }\n[[stage]]\nname = \"g\"\ngate = { model = \"s\", env = \"dev\" }\n";
        assert!(err(wrong_kind).contains("names a scan stage; it needs a train stage"));
        let dup = "name = \"x\"\n[[stage]]\nname = \"a\"\nscan = { model = \"m@1\" }\n[[stage]]\nname = \"a\"\nscan = { model = \"m@1\" }\n";
        assert!(err(dup).contains("two stages are named a"));
        let escape = "name = \"x\"\n[[stage]]\nname = \"d\"\ningest = { file = \"../etc/passwd\", dataset = \"d\" }\n";
        assert!(err(escape).contains("leaves the pipeline's directory"));
        let abs = "name = \"x\"\n[[stage]]\nname = \"t\"\ntrain = { dataset = \"d@1\", model = \"m\", command = [\"true\"], outputs = \"/tmp\" }\n";
        assert!(err(abs).contains("is absolute"));
        let both = "name = \"x\"\n[[stage]]\nname = \"t\"\ntrain = { dataset = \"d@1\", model = \"m\", builtin = \"logreg\", command = [\"true\"] }\n";
        assert!(err(both).contains("not both"));
        let digest = "name = \"x\"\n[[stage]]\nname = \"t\"\ntrain = { dataset = \"sha256:abc\", model = \"m\", builtin = \"logreg\" }\n";
        assert!(err(digest).contains("64 lowercase hex"));
        let unpinned = "name = \"x\"\n[[stage]]\nname = \"t\"\ntrain = { dataset = \"d@0\", model = \"m\", builtin = \"logreg\" }\n";
        assert!(err(unpinned).contains("version"));
    }

    #[test]
    fn cycles_are_named() {
        let text = "name = \"x\"\n\
            [[stage]]\nname = \"a\"\nscan = { model = \"m@1\" }\nafter = [\"c\"]\n\
            [[stage]]\nname = \"b\"\nscan = { model = \"m@1\" }\nafter = [\"a\"]\n\
            [[stage]]\nname = \"c\"\nscan = { model = \"m@1\" }\nafter = [\"b\"]\n";
        let e = err(text);
        assert!(e.contains("cycle: a -> c -> b -> a"), "{e}");
        let own =
            "name = \"x\"\n[[stage]]\nname = \"a\"\nscan = { model = \"m@1\" }\nafter = [\"a\"]\n";
        assert!(err(own).contains("depends on itself"));
    }

    proptest! {
        // Any dependency graph: a plan exists exactly when the graph has no
        // cycle, and then every stage comes after what it needs.
        #[test]
        fn plans_respect_every_edge(edges in proptest::collection::vec((0usize..6, 0usize..6), 0..12)) {
            let n = 6;
            let mut after: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
            for (a, b) in &edges {
                if a != b {
                    after[*a].insert(*b);
                }
            }
            let mut text = String::from("name = \"x\"\n");
            for (i, deps) in after.iter().enumerate() {
                let list: Vec<String> = deps.iter().map(|d| format!("\"s{d}\"")).collect();
                text.push_str(&format!("[[stage]]\nname = \"s{i}\"\nscan = {{ model = \"m@1\" }}\nafter = [{}]\n", list.join(", ")));
            }
            // Reference: a cycle exists iff repeated relaxation cannot order it.
            let mut placed = vec![false; n];
            let mut progress = true;
            while progress {
                progress = false;
                for i in 0..n {
                    if !placed[i] && after[i].iter().all(|&d| placed[d]) {
                        placed[i] = true;
                        progress = true;
                    }
                }
            }
            let acyclic = placed.iter().all(|&p| p);
            match plan_of(&text) {
                Ok(p) => {
                    prop_assert!(acyclic);
                    let pos: BTreeMap<String, usize> = p.stages.iter().enumerate().map(|(i, s)| (s.name.clone(), i)).collect();
                    for (i, deps) in after.iter().enumerate() {
                        for d in deps {
                            let (before, after_) = (pos[&format!("s{d}")], pos[&format!("s{i}")]);
                            prop_assert!(before < after_);
                        }
                    }
                }
                Err(e) => {
                    prop_assert!(!acyclic);
                    prop_assert!(e.to_string().contains("cycle"));
                }
            }
        }

        // The parser of untrusted text never panics.
        #[test]
        fn any_text_parses_or_fails_cleanly(text in "\\PC{0,300}") {
            let _ = plan_of(&text);
        }
    }
}
