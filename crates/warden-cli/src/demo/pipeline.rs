//! The demo's pipeline step: a pipeline file run twice (the second time
//! every stage but the gates is reused), with a SAST report as evidence
//! that the staging gate reads.

use std::path::Path;

use serde_json::json;
use warden::pipeline::{self, RunOptions, StageStatus};
use warden::{OpenOptions, Workspace};
use warden_core::{ActorName, VersionRef};

use crate::exit;
use crate::output::Failure;

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::new(exit::ERROR, e.to_string())
}

/// Runs the step in `project` (a new directory) as sam, the ML engineer;
/// returns the lines to print.
pub fn run(
    dir: &Path,
    project: &Path,
    opts: &OpenOptions,
    dataset: &VersionRef,
    threads: usize,
) -> Result<Vec<String>, Failure> {
    std::fs::create_dir_all(project).map_err(|e| fail(format!("{}: {e}", project.display())))?;
    // What Bandit reports on a training script that shells out.
    let sarif = json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": {"name": "Bandit", "version": "1.9.4", "rules": [
            {"id": "B602", "name": "subprocess_popen_with_shell_equals_true",
             "properties": {"security-severity": "7.5"}}]}},
          "results": [{"ruleId": "B602", "level": "error",
            "message": {"text": "subprocess call with shell=True identified, security issue."},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": "train.py"},
                                                 "region": {"startLine": 12}}}]}]}]
    });
    let write = |name: &str, bytes: &[u8]| {
        let p = project.join(name);
        std::fs::write(&p, bytes).map_err(|e| fail(format!("{}: {e}", p.display())))
    };
    write(
        "bandit.sarif",
        &serde_json::to_vec_pretty(&sarif).map_err(fail)?,
    )?;
    let file = project.join("pipeline.toml");
    write(
        "pipeline.toml",
        format!(
            "name = \"credit-weekly\"\n\n\
             [[stage]]\nname = \"train\"\ntrain = {{ dataset = \"{dataset}\", model = \"credit-weekly\", builtin = \"logreg\" }}\n\n\
             [[stage]]\nname = \"scan\"\nscan = {{ model = \"train\" }}\n\n\
             [[stage]]\nname = \"sast\"\nevidence = {{ model = \"train\", tool = \"bandit\", kind = \"sast\", report = \"bandit.sarif\" }}\n\n\
             [[stage]]\nname = \"dev\"\ngate = {{ model = \"train\", env = \"dev\" }}\nafter = [\"scan\"]\n\n\
             [[stage]]\nname = \"staging\"\ngate = {{ model = \"train\", env = \"staging\" }}\nafter = [\"sast\", \"dev\"]\n"
        )
        .as_bytes(),
    )?;
    let sam = Workspace::open(dir, ActorName::new("sam").map_err(fail)?, opts)?;
    let plan = pipeline::load(&file)?;
    let order: Vec<&str> = plan.stages.iter().map(|s| s.name.as_str()).collect();
    let mut lines = vec![format!(
        "pipeline    {} ({} stages in order: {})",
        file.display(),
        plan.stages.len(),
        order.join(" -> ")
    )];
    let opts_run = RunOptions {
        force: false,
        allow_unsandboxed: false,
        threads,
    };
    let first = sam.pipeline_run(&plan, &opts_run, &mut |_| {})?;
    for s in &first.run.stages {
        let what = match s.status {
            StageStatus::Denied => format!(
                "DENIED ({} reasons; among them: {})",
                s.reasons.len(),
                s.reasons
                    .iter()
                    .find(|r| r.contains("bandit"))
                    .cloned()
                    .unwrap_or_default()
            ),
            _ => {
                let r = s.result.as_ref();
                let made = match (
                    r.and_then(|r| r.env.as_deref()),
                    r.and_then(|r| r.model.as_deref()),
                ) {
                    (Some(env), Some(m)) if s.kind == "promote" => format!(" {m} is in {env}"),
                    (Some(env), Some(m)) => format!(" {m} may go to {env}"),
                    (None, Some(m)) => format!(" {m}"),
                    _ => String::new(),
                };
                format!("{:?}{made}", s.status).to_lowercase()
            }
        };
        lines.push(format!("  {:<9} {what}", s.name));
    }
    if first.run.status != "denied" {
        return Err(fail(format!(
            "the demo pipeline should be denied at staging by the SAST finding; it {}",
            first.run.status
        )));
    }
    let second = sam.pipeline_run(&plan, &opts_run, &mut |_| {})?;
    let reused: Vec<&str> = second
        .run
        .stages
        .iter()
        .filter(|s| s.status == StageStatus::Reused)
        .map(|s| s.name.as_str())
        .collect();
    lines.push(format!(
        "run {}       again: reused {} (nothing retrained); gates asked again",
        second.id,
        reused.join(", ")
    ));
    lines.push(
        "yours      a training command of your own runs in a bubblewrap sandbox, with signed SLSA provenance: examples/titanic"
            .to_string(),
    );
    Ok(lines)
}
